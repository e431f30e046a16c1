//! Extracts post and user IDs from text and Parquet inputs, validates them, removes duplicates
//! with bounded memory, and writes sorted shard files (one per compliance job) with a manifest.
//!
//! It deliberately knows nothing of the API or the network: its output is files on disk.
