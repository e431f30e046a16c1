//! A sans-IO, zero-copy decoder of compliance results (JSON Lines) into Arrow record batches.
//!
//! It deliberately never opens files or sockets: callers feed it byte chunks of any size.
