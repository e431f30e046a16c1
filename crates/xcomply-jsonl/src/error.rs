//! The one error type of the decoder: what is wrong with which line, and where the line starts.

use std::fmt;

use xcomply_core::{IdError, TimestampError};

/// A line the decoder could not turn into a record, with its 1-based line number and the byte
/// offset of its first byte in the whole stream (so `tail -c +$((offset + 1))` shows it).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line} (byte offset {offset}): {kind}")]
pub struct JsonlError {
    /// 1-based line number, counting blank lines too.
    pub line: u64,
    /// Byte offset of the start of the line in the input stream (a UTF-8 BOM counts).
    pub offset: u64,
    /// What is wrong.
    pub kind: ErrorKind,
}

/// What is wrong with a line.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The line is not JSON. Holds the parser's message and a short quote of the line.
    InvalidJson {
        /// The JSON parser's explanation.
        message: String,
        /// The start of the line, quoted.
        found: String,
    },
    /// The last line has no newline and is not valid JSON: the input was cut short.
    TruncatedLastLine {
        /// The start of the line, quoted.
        found: String,
    },
    /// The line is JSON but not an object.
    NotAnObject {
        /// The JSON type found (`an array`, `a string`, …).
        found: &'static str,
    },
    /// A required field is absent.
    MissingField {
        /// The field.
        field: &'static str,
    },
    /// A field has the wrong JSON type (every field of a result is a string).
    WrongType {
        /// The field.
        field: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// A known field appears twice in one object, so which value counts would be a guess.
    DuplicateField {
        /// The field.
        field: &'static str,
    },
    /// `id` is not 1 to 19 digits up to `i64::MAX`.
    BadId(IdError),
    /// `created_at`, `deleted_at` or `redacted_at` is not an RFC 3339 timestamp.
    BadTimestamp {
        /// The field.
        field: &'static str,
        /// Why.
        source: TimestampError,
    },
    /// The line is longer than the configured limit, which bounds the decoder's memory.
    LineTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// `deleted_at` and `redacted_at` are both present but name different instants; the API
    /// documents them as equal, so which one holds would be a guess.
    DeletedAtMismatch {
        /// The `deleted_at` value, quoted.
        deleted_at: String,
        /// The `redacted_at` value, quoted.
        redacted_at: String,
    },
    /// A line with `error` (an error record) also carries one of an event's fields, so whether
    /// its ID needs action is unclear.
    ErrorRecordWithEvent {
        /// The event's field found beside `error`.
        field: &'static str,
    },
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::InvalidJson { message, found } => {
                write!(
                    f,
                    "expected a JSON object, found invalid JSON `{found}` ({message})"
                )
            }
            ErrorKind::TruncatedLastLine { found } => write!(
                f,
                "the last line `{found}` has no newline and is not valid JSON: the input looks truncated"
            ),
            ErrorKind::NotAnObject { found } => {
                write!(f, "expected a JSON object, found {found}")
            }
            ErrorKind::MissingField { field } => {
                write!(f, "required field `{field}` is missing, expected a string")
            }
            ErrorKind::WrongType { field, found } => {
                write!(f, "field `{field}`: expected a string, found {found}")
            }
            ErrorKind::DuplicateField { field } => {
                write!(f, "field `{field}` appears twice, expected it once")
            }
            ErrorKind::BadId(err) => write!(f, "field `id`: {err}"),
            ErrorKind::BadTimestamp { field, source } => write!(f, "field `{field}`: {source}"),
            ErrorKind::LineTooLong { limit } => write!(
                f,
                "the line is longer than {limit} bytes, expected one short JSON object per line"
            ),
            ErrorKind::DeletedAtMismatch {
                deleted_at,
                redacted_at,
            } => write!(
                f,
                "field `deleted_at` is `{deleted_at}` but `redacted_at` is `{redacted_at}`, expected the same instant"
            ),
            ErrorKind::ErrorRecordWithEvent { field } => write!(
                f,
                "an error record (with field `error`) also has field `{field}`, expected either an event or an error record"
            ),
        }
    }
}
