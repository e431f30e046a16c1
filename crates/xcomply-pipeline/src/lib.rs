//! The end-to-end run: shards both ID types, drives one job at a time per type through create,
//! upload, wait and download, decodes and joins, and journals every transition durably so that a
//! crashed run resumes.
//!
//! It deliberately does not start an emulator: callers pass the API base URL.
