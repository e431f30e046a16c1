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
    /// A results line could not be decoded (strict mode). The message holds the line's error,
    /// so it is not also chained as a source (which would print it twice).
    #[error("decoding results into {}: {error}", path.display())]
    Decode {
        /// The results file being written.
        path: PathBuf,
        /// The bad line, with line number and byte offset.
        error: xcomply_jsonl::JsonlError,
    },
    /// Reading the results input failed (a broken pipe, a corrupt or truncated gzip stream).
    /// The input is a reader without a name; callers add it.
    #[error("reading the results input: {error}")]
    ReadInput {
        /// The cause, kept in the message rather than chained so that it prints once.
        error: std::io::Error,
    },
    /// A results directory holds no results files, so a join would flag nothing.
    #[error(
        "{}: no results files found; expected results Parquet files (`*.parquet`, not hidden, directly in the directory) written by `xcomply decode` or `xcomply run`, such as RUN/results{}",
        dir.display(),
        nested_hint(nested)
    )]
    NoResults {
        /// The directory searched.
        dir: PathBuf,
        /// Its subdirectories that hold Parquet files, which are not read.
        nested: Vec<String>,
    },
    /// The dataset could not be found or opened (no Parquet files, a missing path, a Delta Lake
    /// table, …); the error names the path or input.
    #[error(transparent)]
    Dataset(#[from] xcomply_dataset::DatasetError),
    /// An output path cannot be used: inside the dataset, or a non-empty directory that holds
    /// something other than a previous output.
    #[error("{}: {message}", path.display())]
    Output {
        /// The output path.
        path: PathBuf,
        /// Why, and what was expected.
        message: String,
    },
}

/// The end of [`SinkError::NoResults`]'s message when subdirectories hold Parquet files.
fn nested_hint(nested: &[String]) -> String {
    if nested.is_empty() {
        return String::new();
    }
    format!(
        "; Parquet files are in its subdirector{} {} (subdirectories are not read: pass one as --results)",
        if nested.len() == 1 { "y" } else { "ies" },
        nested.join(", ")
    )
}
