//! The vocabulary of xcomply: IDs, the X API's batch compliance wire types, timestamps and
//! snowflakes.
//!
//! Every other crate speaks in these types, so they are exact about the API (field names, open
//! enums that keep unknown values, both timestamp formats) and cheap on hot paths (ID and
//! timestamp parsing run once per line of gigabyte files).
//!
//! This crate deliberately does no IO and has no async code and no dependency but serde: it can be
//! used from the sans-IO decoders, the emulator and the client alike, and tested exhaustively.
//!
//! ```
//! use xcomply_core::{ComplianceJob, Id, JobStatus, parse_timestamp_ms};
//!
//! let id = Id::parse(b"1446017776678801409").unwrap();
//! assert_eq!(id.as_i64(), 1_446_017_776_678_801_409);
//! assert_eq!(parse_timestamp_ms(b"2013-03-26T02:46:15+00:00").unwrap(), 1_364_265_975_000);
//! assert!(JobStatus::parse("in_progress").is_unfinished());
//! assert!(!JobStatus::parse("paused").is_known());
//! ```

mod api;
mod id;
mod retry;
pub mod seeded;
mod snowflake;
mod time;
mod url;

pub use api::{
    Action, ComplianceJob, ComplianceRecord, CreateJobRequest, JobId, JobListResponse, JobResponse,
    JobStatus, JobType, ListMeta, MAX_JOB_NAME_CHARS, Problem, ProblemItem, ProblemKind, Reason,
    problem_uri,
};
pub use id::{Id, IdError, IdErrorKind, MAX_ID_DIGITS, quote};
pub use retry::{equal_jitter_backoff, error_chain, root_cause};
pub use snowflake::{TIMESTAMP_SHIFT, X_EPOCH_MS, snowflake_from_millis, snowflake_millis};
pub use time::{
    Timestamp, TimestampError, civil_from_days, days_from_civil, format_timestamp_ms,
    format_timestamp_offset, parse_timestamp_ms,
};
pub use url::{REDACTED, SignedUrl, redact_url};
