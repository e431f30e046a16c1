//! Exit codes, and how errors map to them.
//!
//! Scripts branch on these, so they are part of the interface: documented in `--help` and in the
//! README, and never renumbered.

use std::fmt;
use std::process::ExitCode;

/// What kind of failure ended the command. The meanings are the decided table in the README
/// ("Exit codes") and in [`EXIT_CODES_HELP`]; keep the three in step.
// Some variants are only constructed by some commands.
#[allow(dead_code)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Code {
    /// An unexpected failure: a bug, or an answer the API should never give.
    Failure = 1,
    /// A usage error (clap also uses 2): bad arguments, a malformed or unknown job ID, or a job in
    /// the wrong state for the command (`download` without `--wait` on an unfinished job, an
    /// upload to a job that is not `created`).
    Usage = 2,
    /// Finished, but one or more compliance jobs failed or expired for good; an upload URL that
    /// expired, or whose token the API refused (the job is lost: create a new one).
    JobsFailed = 3,
    /// Bad input data or a file-system problem: an invalid ID line, a corrupt Parquet file, a
    /// missing file, an output directory that is not empty, no results files, a file too large
    /// for one upload (413).
    Input = 4,
    /// Credentials missing or refused: no token, an unreadable token file, 401 or 403 from the
    /// API, a Bearer token refused by an upload or download path. Fix the token; retrying will
    /// not help.
    Credentials = 5,
    /// The API or storage kept failing after every retry, a usage cap is spent, or another
    /// unfinished job of the same type blocks a new one (a conflict).
    Api = 6,
    /// Interrupted by SIGINT (Ctrl-C) or SIGTERM; the same command resumes.
    Interrupted = 130,
}

/// The exit-code table shown at the end of every command's `--help`; the README states the same.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success
  1    unexpected failure (a bug, an answer the API should never give)
  2    usage error: bad arguments, a malformed or unknown job ID, a job in the wrong state for
       the command (download without --wait on a job that is not complete, upload to a job
       that is not created)
  3    finished, but some compliance jobs failed or expired for good; an upload URL that expired
       or whose token was refused
  4    bad input data or a file-system problem (bad ID line, corrupt Parquet, missing file,
       output directory not empty, no results files, a file too large for one upload)
  5    credentials missing or refused: no token, unreadable token file, 401/403, a Bearer token
       refused by an upload or download path
  6    the API or storage kept failing after every retry, a usage cap is spent, or another
       unfinished job of the same type blocks a new one (conflict)
  130  interrupted by SIGINT or SIGTERM; the same command resumes";

/// An error that carries its exit code. Its message is the wrapped error's whole chain.
pub struct Coded {
    pub code: Code,
    pub error: anyhow::Error,
}

impl fmt::Display for Coded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&message(&self.error))
    }
}

impl fmt::Debug for Coded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ({:?})", self.error, self.code)
    }
}

impl std::error::Error for Coded {}

/// Wraps an error with its exit code.
pub fn coded(code: Code, error: impl Into<anyhow::Error>) -> anyhow::Error {
    anyhow::Error::new(Coded {
        code,
        error: error.into(),
    })
}

/// The exit code of an error: the first `Coded` in its chain, else a broken pipe is success and
/// an IO error is an input problem, else `Failure`.
pub fn code_of(err: &anyhow::Error) -> Option<Code> {
    for cause in err.chain() {
        if let Some(c) = cause.downcast_ref::<Coded>() {
            return Some(c.code);
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::BrokenPipe {
                return None;
            }
            return Some(Code::Input);
        }
    }
    Some(Code::Failure)
}

/// Prints the error with its causes and returns its exit code. A broken pipe (`xcomply … | head`)
/// is not an error.
pub fn report(err: &anyhow::Error) -> ExitCode {
    match code_of(err) {
        None => ExitCode::SUCCESS,
        Some(code) => {
            // Not `eprintln!`, which panics (exit 101) when stderr is closed.
            crate::output::note!("error: {}", message(err));
            ExitCode::from(code as u8)
        }
    }
}

/// The error and its causes joined by `: `, each cause printed once. Library errors often repeat
/// their source in their own message (`{path}: {source}`) and also report it as `source()`;
/// anyhow's `{:#}` would then print it twice.
pub fn message(err: &anyhow::Error) -> String {
    xcomply_core::error_chain(err.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "ids.txt: {}", self.0)
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn causes_are_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = anyhow::Error::new(Outer(io)).context("cannot shard");
        assert_eq!(message(&err), "cannot shard: ids.txt: no such file");
        let coded = coded(Code::Input, err);
        assert_eq!(message(&coded), "cannot shard: ids.txt: no such file");
        assert_eq!(code_of(&coded), Some(Code::Input));
    }
}
