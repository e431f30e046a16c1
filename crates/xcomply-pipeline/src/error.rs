//! The one error type of the pipeline, and the error type its stages report to it.

use std::fmt;
use std::path::PathBuf;

/// What kind of failure a stage hit. The scheduler branches on it: an expired URL gets a new job,
/// a conflict is resolved by adopting the run's own job, everything else ends the run with the
/// matching exit code.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum StageErrorKind {
    /// The API refused the credentials (401, 403): retrying cannot help.
    Credentials,
    /// Another unfinished job of the same type exists (409 conflict).
    Conflict,
    /// A signed upload or download URL has expired (or the job's upload window closed), or a
    /// byte path refused the URL's token: only a new job brings a new URL.
    UrlExpired,
    /// The upload was refused as too large (413): the shard must be split.
    TooLarge,
    /// The job or object does not exist (any more).
    NotFound,
    /// The API or storage kept failing after every retry, or a usage cap is spent.
    Api,
    /// Bad input data or a file-system problem.
    Input,
    /// Anything else: an unexpected answer, a bug.
    Other,
}

/// An error of one stage (API call, transfer, shard, decode, join), already described for people.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StageError {
    /// What kind of failure it is.
    pub kind: StageErrorKind,
    /// The message, naming the file, job or (redacted) URL.
    pub message: String,
    /// For [`StageErrorKind::TooLarge`]: the upload limit the server stated, if it stated one.
    pub limit_hint: Option<u64>,
}

impl StageError {
    /// A stage error of the given kind.
    pub fn new(kind: StageErrorKind, message: impl Into<String>) -> StageError {
        StageError {
            kind,
            message: message.into(),
            limit_hint: None,
        }
    }

    /// An upload refused as too large, with the limit the server stated.
    pub fn too_large(message: impl Into<String>, limit_hint: Option<u64>) -> StageError {
        StageError {
            limit_hint,
            ..StageError::new(StageErrorKind::TooLarge, message)
        }
    }
}

impl fmt::Display for StageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StageError {}

/// An error that ended a run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// Reading or writing a file of the run directory failed. The cause is part of the message
    /// rather than a `source`, so that a cause chain printed whole does not repeat it.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        error: std::io::Error,
    },
    /// `state.json` or `run.json` cannot be used.
    #[error("{}: {message}", path.display())]
    State {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Another `xcomply run` holds the run directory's lock.
    #[error(
        "{}: another xcomply run is using this run directory; wait for it to finish or use another --out",
        path.display()
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A stage failed for good. As with `Io`, the cause is in the message, not a `source`.
    #[error("{context}: {error}")]
    Stage {
        /// Where: the job type, shard and job, e.g. "tweets shard 3/8 (job 1446017776678801409)".
        context: String,
        /// The cause.
        error: StageError,
    },
    /// The run directory cannot be used: a file, a non-empty directory that is not a run
    /// directory, or a directory inside the inputs.
    #[error("{}: {message}", path.display())]
    OutDir {
        /// The run directory as given.
        path: PathBuf,
        /// What is wrong with it and what was expected.
        message: String,
    },
    /// The input files changed since the run was planned: its shards and results no longer
    /// describe the dataset.
    #[error(
        "{}: the inputs changed since this run was planned ({changes}), so its results would not \
         match them; use a new --out for the changed inputs, or add --restart to start this run over",
        path.display()
    )]
    InputsChanged {
        /// `run.json`, which holds the recorded fingerprint.
        path: PathBuf,
        /// Which files were added, removed or changed.
        changes: String,
    },
    /// The inputs hold no ID of either type.
    #[error(
        "no post or user IDs found in the inputs ({files} file{}, {rows} row{})",
        plural(*files),
        plural(*rows)
    )]
    NoIds {
        /// Input files read.
        files: u64,
        /// Rows (and lines) read.
        rows: u64,
    },
    /// The run was interrupted (Ctrl-C or SIGTERM); the state on disk is consistent.
    #[error("interrupted")]
    Interrupted,
}

/// The broad class of a [`PipelineError`], which the command line maps to its exit code.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum ErrorClass {
    /// Credentials refused.
    Credentials,
    /// Bad input or a file-system problem.
    Input,
    /// The API or storage kept failing.
    Api,
    /// Another unfinished job of the same type, not one of this run's, holds the type's slot.
    Conflict,
    /// A signed URL expired where no new job could replace it.
    UrlExpired,
    /// Interrupted by the user.
    Interrupted,
    /// Anything else.
    Other,
}

impl PipelineError {
    /// The broad class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            PipelineError::Io { .. }
            | PipelineError::State { .. }
            | PipelineError::Locked { .. }
            | PipelineError::OutDir { .. }
            | PipelineError::InputsChanged { .. }
            | PipelineError::NoIds { .. } => ErrorClass::Input,
            PipelineError::Interrupted => ErrorClass::Interrupted,
            PipelineError::Stage { error, .. } => match error.kind {
                StageErrorKind::Credentials => ErrorClass::Credentials,
                StageErrorKind::Input => ErrorClass::Input,
                // A 413 the run could not cure by splitting (a one-ID shard) is the API refusing
                // what it was documented to take.
                StageErrorKind::Api | StageErrorKind::TooLarge => ErrorClass::Api,
                StageErrorKind::Conflict => ErrorClass::Conflict,
                StageErrorKind::UrlExpired => ErrorClass::UrlExpired,
                // The run replaces a job that vanished; a 404 anywhere else is an answer the API
                // should not give.
                StageErrorKind::NotFound | StageErrorKind::Other => ErrorClass::Other,
            },
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> PipelineError {
        PipelineError::Io {
            path: path.into(),
            error,
        }
    }

    pub(crate) fn stage(context: impl Into<String>, error: StageError) -> PipelineError {
        PipelineError::Stage {
            context: context.into(),
            error,
        }
    }
}

/// "s" unless `n` is 1, for counted nouns in messages.
pub(crate) fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
