//! The crate's error type.

use std::path::PathBuf;

/// What can go wrong when starting or running the emulator. Request-level problems are HTTP
/// answers, never errors of this type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// The listening socket could not be bound.
    #[error("cannot listen on `{addr}`: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The data directory could not be created.
    #[error("cannot create the emulator data directory `{}`: {source}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The configuration is inconsistent.
    #[error("invalid emulator configuration: {0}")]
    Config(String),
    /// A line of an object is not a decimal ID.
    #[error("expected a decimal ID of 1 to 19 digits at {}:{line}", path.display())]
    InvalidId {
        /// The object.
        path: PathBuf,
        /// The 1-based line number.
        line: u64,
    },
    /// Reading or writing a file failed.
    #[error("cannot process `{}`: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("emulator server failed: {0}")]
    Server(std::io::Error),
}
