//! Transfers to and from the signed storage URLs of compliance jobs: a streaming PUT with an exact
//! Content-Length, the resumable upload protocol, and a resumable gzip-aware download exposed as a
//! stream of bytes.
//!
//! It deliberately does not parse what it moves: results go to `xcomply-jsonl` as bytes.
