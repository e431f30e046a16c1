//! The one error type of the dataset crate.

use std::path::PathBuf;

/// Why a dataset could not be found, stamped or opened. Every variant names the path or input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// Reading the file system failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },

    /// A dataset path that does not exist and is not a glob pattern matching anything.
    #[error("{input}: no such file or directory, and not a glob pattern matching any file")]
    NoMatch {
        /// The input as given.
        input: String,
    },

    /// A glob pattern that does not parse.
    #[error("{input}: expected a glob pattern: {message}")]
    BadGlob {
        /// The input as given.
        input: String,
        /// What is wrong with it.
        message: String,
    },

    /// A path that is not valid UTF-8, which a manifest cannot name.
    #[error("{}: path is not valid UTF-8; expected a UTF-8 path for the manifest", .path.display())]
    NotUtf8 {
        /// The path.
        path: PathBuf,
    },

    /// A file given by name (not found by a directory walk) that is not Parquet.
    #[error("{}: not a Parquet file (it does not start with PAR1); expected Parquet files in --dataset (use --ids for text files of IDs)", .path.display())]
    NotParquet {
        /// The file.
        path: PathBuf,
    },

    /// A file given by name that is a manifest written by `xcomply join`.
    #[error("{}: is a manifest written by `xcomply join` (summary.json is beside it); expected a dataset Parquet file", .path.display())]
    Manifest {
        /// The file.
        path: PathBuf,
    },

    /// The inputs hold no Parquet file at all: an empty directory, a directory of CSV files.
    #[error(
        "no Parquet files in {inputs} ({looked_at}); expected Parquet files (they start with PAR1), so nothing would be checked"
    )]
    NoParquetFiles {
        /// The inputs, as given.
        inputs: String,
        /// What was looked at: how many files, with a few names.
        looked_at: String,
    },

    /// A table format whose live files are listed in a log, not by the directory.
    #[error("{}: is a {format} table; its live files are listed in its {log}, so reading every Parquet file under it would include removed ones; export the IDs with your engine and use `xcomply run --ids`", .path.display())]
    TableFormat {
        /// The table's root directory.
        path: PathBuf,
        /// `Delta Lake` or `Apache Iceberg`.
        format: &'static str,
        /// Where its file list is kept.
        log: &'static str,
    },
}

impl DatasetError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> DatasetError {
        let path = path.into();
        move |source| DatasetError::Io { path, source }
    }
}
