//! A sans-IO, zero-copy decoder of X batch compliance results (JSON Lines) into Arrow record
//! batches.
//!
//! Each line of a job's results is one object such as
//! `{"id":"1265324480517361664","action":"delete","created_at":"2019-10-29T17:02:47.000Z","redacted_at":"2020-07-29T17:02:47.000Z","reason":"deleted"}`.
//! The decoder turns them into batches with the columns `id` (Int64), `action` and `reason`
//! (dictionary strings; unknown values are kept verbatim and counted, never an error),
//! `created_at` and `redacted_at` (Timestamp(ms, "UTC"), `redacted_at` nullable): the first five
//! columns of the results Parquet file. Both timestamp shapes the API sends (`.000Z` and
//! `+00:00`) are accepted.
//!
//! Results of the live API (since the September 2026 cutover) also carry `deleted_at` on deletion
//! events: it must equal `redacted_at` when both are present (else the line is an error) and
//! fills `redacted_at` when it is absent or `null`, so the columns stay the same. Input lines the
//! API could not read come back as error records, `{"id": "<the line>", "error": "invalid_id"}`:
//! they are not rows and not rejects, never fail strict mode, are counted in
//! [`DecodeStats::error_records`] and are handed over by [`Decoder::drain_error_records`].
//!
//! It takes byte chunks of any size (not aligned to lines), tolerates blank lines, `\r\n`, a UTF-8
//! BOM, a last line without newline and extra fields, and reports invalid JSON, missing fields,
//! bad IDs and timestamps and a truncated last line with line number and byte offset. Strict
//! mode stops at the first bad line; lenient mode hands bad lines to the caller as [`Reject`]s.
//!
//! Lines are parsed by the first of three parsers that accepts them: lines in the API's own
//! layout (fixed key order, no spaces, plain ASCII strings) are matched in place, which also
//! finds the line's end; other lines with plain ASCII strings and string or `null` values go
//! through a small hand-written JSON parser; everything else (escapes, non-ASCII, numbers,
//! nested values, invalid JSON) goes through simd-json with reused buffers, on a padded private
//! copy of the line, so `decode` takes `&[u8]` and never rewrites the caller's bytes (a reject's
//! raw line stays as received). Tests check that all paths agree. None allocates per record:
//! the only allocations are per batch (and per unknown dictionary value, reject or error record).
//!
//! It deliberately does no IO (no files, sockets or decompression), knows nothing of jobs (the
//! caller adds `job_id` and `job_type`) and does not deduplicate IDs.
//!
//! ```
//! use arrow_array::{Array, Int64Array};
//! use xcomply_jsonl::{Decoder, DecoderOptions};
//!
//! let mut decoder = Decoder::new(DecoderOptions::default());
//! let input = b"{\"id\":\"20\",\"action\":\"delete\",\"created_at\":\"2013-03-26T02:46:15+00:00\",\"reason\":\"protected\"}\n";
//! // Chunks need not end at a newline.
//! let (a, b) = input.split_at(10);
//! assert_eq!(decoder.decode(a).unwrap(), a.len());
//! assert_eq!(decoder.decode(b).unwrap(), b.len());
//! let batch = decoder.finish().unwrap().unwrap();
//! let ids = batch.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
//! assert_eq!(ids.value(0), 20);
//! assert!(batch.column(4).is_null(0)); // no redacted_at
//! assert_eq!(decoder.stats().records, 1);
//! ```

mod columns;
mod decoder;
mod error;
mod fields;
mod time;

pub use columns::{UTC, decoded_schema};
pub use decoder::{
    DEFAULT_BATCH_SIZE, DEFAULT_MAX_LINE_BYTES, DecodeStats, Decoder, DecoderOptions, ErrorRecord,
    Reject,
};
pub use error::{ErrorKind, JsonlError};
