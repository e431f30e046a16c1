//! A local emulator of X's batch compliance API, in both of its flows, for tests, benchmarks and
//! the demo.
//!
//! [`Flow::BytePath`] (the default) is the live API since September 2026: a job's `upload_url`
//! and `download_url` are `/2/compliance/jobs/{id}/upload?token=…` and `…/download?token=…` on
//! the emulator's own address; both need the Bearer token of the app that created the job **and**
//! the URL's token, which binds (job, operation, expiry) by HMAC (see `bytepath.rs` for the order
//! of checks and their answers: 401, 403, 404, 405 with `Allow`, 413 above
//! [`Config::max_upload_bytes`], 415); there is no resumable mode (`"resumable": true` is 400, as
//! are unknown body keys, `null` values and unknown `compliance_job.fields` on every route);
//! results use the 2026 vocabulary (`delete`, `rehydrate`/`tweet_edited`,
//! `scrub_geo`/`geo_scrubbed`, `deleted_at`, `"redacted_at": null`) and answer each invalid
//! input line with an error record instead of failing the job; errors are problem types of the
//! v2.168 specification under `https://api.x.com/2/problems/` (`problem.rs`). [`Flow::Gcs`] is
//! the flow before, kept whole, as described below.
//!
//! In the GCS flow it serves, from one address:
//! - the API: `POST /2/compliance/jobs`, `GET /2/compliance/jobs?type=…&status=…`,
//!   `GET /2/compliance/jobs/:id` and `DELETE /2/compliance/jobs/:id`, with bearer tokens,
//!   problem-details errors (`application/problem+json`), per-endpoint rate limits with the
//!   `x-rate-limit-*` headers and the job lifecycle `created` → `in_progress` → `complete` |
//!   `failed`, or `created` → `expired`;
//! - the storage: V4-signed `upload_url`/`download_url` shaped like X's
//!   (`/{bucket}/{job}/{submission|delivery}/{N}_{job}?X-Goog-…`) but pointing at the emulator,
//!   simple and resumable uploads streamed to disk, downloads with `Accept-Encoding: gzip` and
//!   `Range`, and GCS's XML errors (`SignatureDoesNotMatch`, `ExpiredToken`, `NoSuchKey`, …).
//!
//! Results are a pure function of (seed, job type, ID): [`outcome`] gives the record a job's
//! results will contain for an ID, so tests compute the expected answer independently. The clock
//! is emulated ([`Config::time_scale`], [`Emulator::advance`]) so the 15-minute and 7-day
//! windows are testable in milliseconds, and seeded faults ([`Faults`]) exercise retries.
//!
//! It deliberately shares no code with the xcomply client beyond the wire types of
//! `xcomply-core`, so that a mistake in one cannot hide the same mistake in the other. It does not
//! implement TLS, HTTP/2, or any X endpoint other than batch compliance.
//!
//! # Public API
//!
//! - [`Config`] (with [`OutcomeRates`], [`Faults`], [`FaultRates`]): everything configurable.
//! - [`app`]`(config) -> Router` for in-process use; [`run`]`(listener, config, shutdown)` to
//!   serve a bound listener.
//! - [`Emulator::start`]`(config)` binds `127.0.0.1:0` and gives [`Emulator::base_url`],
//!   [`Emulator::token`], [`Emulator::advance`], [`Emulator::now_ms`], [`Emulator::stats`]
//!   (requests per route, uploads per job, injected faults), [`Emulator::uploads_for`],
//!   [`Emulator::jobs`], [`Emulator::set_faults`] and [`Emulator::shutdown`].
//! - [`outcome`]`(seed, job_type, id, rates)` and [`process_file`] (the processing step alone,
//!   for benchmarks).
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use xcomply_emulator::{Config, Emulator};
//!
//! let emulator = Emulator::start(Config::default().with_time_scale(0.0)).await?;
//! println!("POST {}/2/compliance/jobs with Bearer {}", emulator.base_url(), emulator.token());
//! // … create a job and upload nothing; 15 emulated minutes later it is `expired`.
//! emulator.advance(Duration::from_secs(15 * 60));
//! assert_eq!(emulator.stats().completed_uploads(), 0);
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Assumptions about what X never documented
//!
//! Each numbered item answers the matching unknown of the API reference; the choice is the most
//! plausible behaviour, configurable where that was cheap.
//!
//! 1. **Size limits**: in the byte-path flow, [`Config::max_upload_bytes`] (128,000,000 by
//!    default: "128 MB" read as decimal, the smaller reading) answered with 413 before the body
//!    is stored (a chunked body is measured as it arrives); none in the GCS flow.
//! 2. **Second unfinished job of a type**: a `…/problems/conflict` problem, status 409
//!    ([`Config::conflict_status`]), title `Conflict`, detail "You cannot create a new job if one
//!    is already in progress." Both `created` and `in_progress` jobs block; `complete`, `failed`
//!    and `expired` do not. Jobs of the other type, or of another token, never conflict.
//! 3. **Unknown job ID**: 404 with the generic `about:blank` problem (`Not Found`). A malformed ID
//!    is 400 `invalid-request` with "The \`id\` query parameter value \[x\] does not match
//!    ^\[0-9\]{1,19}$".
//! 4. **Failure**: in the GCS flow, a line that is not 1–19 ASCII digits (at most `i64::MAX`, an
//!    optional trailing `\r`) fails the job with `error` = "Invalid ID on line N of the uploaded
//!    file"; in the byte-path flow it is answered by an error record echoing the line (at most
//!    256 bytes of it). Blank lines
//!    are skipped, duplicates are answered once per occurrence, an empty file completes with an
//!    empty result. The request's `Content-Type` is only checked through the signature.
//! 5. **Old jobs**: `complete` jobs stay `complete` after the 7-day download window (the URL
//!    itself answers `ExpiredToken`), and jobs stay listed for the emulator's lifetime.
//! 6. **Processing time**: [`Config::processing_delay`] plus `ids / processing_rate` in emulated
//!    time, both zero by default.
//! 7. **`compliance_job.fields`**: validated against the documented field names, then ignored
//!    (every field is always returned, which keeps responses valid against the v2.166 schema).
//! 8. **Delivery object**: `Content-Type: text/plain`; stored as JSONL and served gzip-encoded
//!    (`Content-Encoding: gzip`) only when the request accepts gzip. `Range` applies to the bytes
//!    served (compressed or not); both representations are fixed files, so ranges are stable.
//!    The gzip copy is written just after the job turns `complete` (so compression never slows
//!    processing); a gzip download arriving earlier waits for it. An all-compliant job yields a
//!    0-byte object.
//! 9. **Simple PUT without `Content-Length`** (chunked): refused with 411
//!    `MissingContentLength`; a request with neither `Content-Length` nor `Transfer-Encoding` is an
//!    empty object, as HTTP framing says; a body shorter than `Content-Length` stores nothing.
//! 10. **Resumable sessions** are authenticated by `upload_id` alone and live 7 days, even after the
//!     15-minute URL expiry; an open session keeps its job `created` (not `expired`) meanwhile.
//!     The final chunk answers 200. A non-final chunk under 256 KiB is refused with 400; a longer
//!     unaligned one keeps whole 256 KiB blocks only (308 with the shorter `Range`), as GCS may.
//!     A chunk starting beyond the persisted size is a 400; re-sent bytes are skipped.
//! 11. **API error content type**: `application/problem+json`; success is
//!     `application/json; charset=utf-8`. API responses are gzip-encoded when accepted.
//! 12. **Buckets and object names**: `twttr-tweet-compliance` (real) and `twttr-user-compliance`
//!     (a guess); `{N}` of `{N}_{job}` is a stable 19-digit number per token.
//! 13. **2026 endpoints**: `DELETE /2/compliance/jobs/:id` turns an unfinished job `failed` with
//!     `error` "Job was cancelled" and answers 200 `{"data": job}`; a finished job is returned
//!     unchanged. The byte paths are served in the byte-path flow only (404 in the GCS flow). Their
//!     download is `application/octet-stream` with gzip and `Range` as in the GCS flow, always
//!     with `Content-Length` (a truncation fault breaks the connection instead); a download
//!     before completion is 404 naming the status; an upload to a job that is no longer `created`
//!     is stored and ignored (200 with the job as it is), as in the GCS flow. Both accept
//!     `application/octet-stream` and `text/plain` uploads (415 otherwise): which types the live
//!     server takes is not documented.
//! 14. **List order**: newest first; `data` is omitted when empty and `meta.result_count` is always
//!     present.
//!
//! Also assumed: validation messages follow X's patterns ("The \`type\` query parameter value
//! \[foo\] is not one of \[tweets,users\]", "… can not be empty", "The query parameter \[x\] is
//! not one of \[…\]"); a rate-limit window starts at the first request of an endpoint and token and
//! lasts [`Config::rate_window`]; 401s carry no rate-limit headers (no app is known); injected 429
//! bursts announce a reset one emulated second ahead; GCS answers 429 `SlowDown`, 500
//! `InternalError` and 503 `ServiceUnavailable`; URLs are verified expiry first, then signature
//! (an HMAC-SHA256 in place of Google's RSA, hex-encoded to the real 512 characters); the
//! signature covers the `Host` the client sends, so a URL only works at the address it names.

mod api;
mod bytepath;
mod clock;
mod config;
mod error;
mod outcome;
mod problem;
mod process;
mod server;
mod signing;
mod state;
mod storage;

pub use config::{
    Config, DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_TOKEN, FaultRates, Faults, Flow, OutcomeRates,
    RouteClass, action_of,
};
pub use error::EmulatorError;
pub use outcome::outcome;
pub use process::{ProcessSummary, process_file};
pub use server::{Emulator, app, run};
pub use state::{Stats, UploadStats};
pub use storage::CHUNK_ALIGN;
