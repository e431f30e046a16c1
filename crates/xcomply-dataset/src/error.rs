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

    /// Object storage xcomply cannot read here.
    #[error(
        "{input}: this object storage is not supported; expected a local path or s3://bucket/prefix (S3 and S3-compatible stores such as MinIO, R2 or Ceph)"
    )]
    UnsupportedScheme {
        /// The input as given.
        input: String,
    },

    /// A request to object storage failed (after the client's retries).
    #[error("{uri}: {message}{}", match .kind {
        StoreErrorKind::Credentials => "; check the AWS_* environment variables or the profile files (~/.aws/credentials, AWS_PROFILE)",
        StoreErrorKind::NotFound => "; check the bucket and prefix",
        StoreErrorKind::Other => "",
    })]
    ObjectStore {
        /// `s3://bucket/key` of the request.
        uri: String,
        /// What kind of failure.
        kind: StoreErrorKind,
        /// What the store said (never a credential).
        message: String,
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

/// What kind of object storage failure an error is, for exit codes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum StoreErrorKind {
    /// The bucket or object does not exist.
    NotFound,
    /// The credentials are missing or refused.
    Credentials,
    /// Anything else (network trouble after every retry, a server error).
    Other,
}

impl StoreErrorKind {
    pub(crate) fn of(e: &object_store::Error) -> StoreErrorKind {
        match e {
            object_store::Error::NotFound { .. } => StoreErrorKind::NotFound,
            object_store::Error::Unauthenticated { .. }
            | object_store::Error::PermissionDenied { .. } => StoreErrorKind::Credentials,
            _ => {
                // A bucket that does not exist answers `NoSuchBucket`, which object_store reports
                // as a generic error; a refused signature answers 403.
                let text = e.to_string();
                if text.contains("NoSuchBucket") || text.contains("NotFound") {
                    StoreErrorKind::NotFound
                } else if text.contains("403")
                    || text.contains("InvalidAccessKeyId")
                    || text.contains("SignatureDoesNotMatch")
                    || text.contains("AccessDenied")
                    || text.contains("credential")
                {
                    StoreErrorKind::Credentials
                } else {
                    StoreErrorKind::Other
                }
            }
        }
    }
}

impl DatasetError {
    /// Whether the credentials of object storage were missing or refused.
    pub fn is_credentials(&self) -> bool {
        matches!(
            self,
            DatasetError::ObjectStore {
                kind: StoreErrorKind::Credentials,
                ..
            }
        )
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> DatasetError {
        let path = path.into();
        move |source| DatasetError::Io { path, source }
    }
}
