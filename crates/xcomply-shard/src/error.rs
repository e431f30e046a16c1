//! The one error type of the crate.

use std::io;
use std::path::Path;

use xcomply_core::IdError;

/// Everything that can go wrong while reading, deduplicating and writing IDs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShardError {
    /// An input line or value is not an ID (strict mode). `at` is `file:line` for text and
    /// `file: row N of column c` for Parquet.
    #[error("{at}: {error}")]
    InvalidId { at: String, error: IdError },

    /// Reading or writing a file failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },

    /// A Parquet file could not be read.
    #[error("reading Parquet file {path}: {message}")]
    Parquet { path: String, message: String },

    /// The requested column is not in a Parquet file.
    #[error("column `{column}` not found in {path} (expected one of: {available})")]
    ColumnNotFound {
        path: String,
        column: String,
        available: String,
    },

    /// The column has a type that does not hold IDs.
    #[error(
        "column `{column}` of {path} has type {data_type}, expected int64, uint64, int32, uint32 or decimal strings"
    )]
    UnsupportedColumnType {
        path: String,
        column: String,
        data_type: String,
    },

    /// A Parquet input was given without saying which column holds the IDs.
    #[error("{path} is a Parquet file: say which column holds the IDs (`--column NAME`)")]
    ColumnRequired { path: String },

    /// Finding or opening an input failed (a path that does not exist, a glob matching nothing,
    /// an unreadable file); the error names it.
    #[error(transparent)]
    Dataset(#[from] xcomply_dataset::DatasetError),

    /// The output directory exists and holds files.
    #[error(
        "output directory {path} already exists and is not empty (use --force to replace its shards)"
    )]
    OutputExists { path: String },

    /// A size such as `--memory-limit` could not be parsed.
    #[error("expected a size such as `512MiB` or `2GiB`, found `{found}`")]
    InvalidSize { found: String },

    /// An option is out of range.
    #[error("{0}")]
    InvalidOption(String),
}

impl ShardError {
    /// Wraps an IO error with what was being done and to which path.
    pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ShardError {
        let path = path.display().to_string();
        move |source| ShardError::Io {
            action,
            path,
            source,
        }
    }
}
