//! The one error type of the sink. Every variant names the file it is about.

use std::path::PathBuf;

/// An error of the Parquet sink.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A Parquet file could not be read or written.
    #[error("{}: {source}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// An Arrow operation failed on data from a file.
    #[error("{}: {source}", path.display())]
    Arrow {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// A file does not have the expected columns or types.
    #[error("{}: {message}", path.display())]
    Schema {
        /// The file.
        path: PathBuf,
        /// What is wrong, e.g. "column `author_id` not found".
        message: String,
    },
    /// A results line could not be decoded (strict mode).
    #[error("decoding results into {}: {source}", path.display())]
    Decode {
        /// The results file being written.
        path: PathBuf,
        /// The bad line, with line number and byte offset.
        #[source]
        source: xcomply_jsonl::JsonlError,
    },
}
