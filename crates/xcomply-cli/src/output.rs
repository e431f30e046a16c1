//! Terminal output shared by the commands: log setup, whether to draw progress bars, and writes to
//! stdout and stderr that never panic.
//!
//! `println!` and `eprintln!` panic when the stream is closed (`xcomply … 2>&1 | head -1`), which
//! would end the process with exit 101 in the middle of its work. Messages for people therefore go
//! through [`note`], which drops what it cannot write, and data for scripts through [`stdout_text`]
//! or a locked `std::io::stdout()` with `?`, so that a closed pipe ends the command as a
//! `BrokenPipe` error, which `exit::report` turns into a quiet success, like `grep … | head`.

use std::io::{IsTerminal, Write};

/// What every command needs to know about the terminal and the user's verbosity.
#[allow(dead_code)] // `interactive` and `progress` serve the commands that draw progress bars.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// `-v` count.
    pub verbose: u8,
    /// `-q`.
    pub quiet: bool,
    /// Whether stderr is a terminal: progress bars when it is, plain log lines when it is not.
    pub interactive: bool,
}

impl Ctx {
    pub fn new(verbose: u8, quiet: bool) -> Ctx {
        Ctx {
            verbose,
            quiet,
            interactive: std::io::stderr().is_terminal() && !quiet,
        }
    }

    /// Logs go to stderr, filtered by `-v` unless `RUST_LOG` says otherwise. Libraries never log
    /// secrets, so every level is safe to turn on. Colours only when stderr is a terminal and
    /// `NO_COLOR` is unset (<https://no-color.org>), so that files and pipes get plain text.
    /// Write errors are dropped silently: a closed stderr must not end the command.
    pub fn init_logging(&self) {
        let level = match (self.quiet, self.verbose) {
            (true, _) => "error",
            (false, 0) => "warn",
            (false, 1) => "info",
            (false, 2) => "debug",
            (false, _) => "trace",
        };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(colour_stderr())
            // The default reports a failed log write with `eprintln!`, which panics when stderr
            // is closed.
            .log_internal_errors(false)
            .with_target(false)
            .try_init();
    }

    /// Whether to draw progress bars.
    #[allow(dead_code)]
    pub fn progress(&self) -> bool {
        self.interactive
    }
}

/// Whether log lines on stderr may carry ANSI colour codes: only on a terminal, and only when
/// `NO_COLOR` is unset or empty.
pub fn colour_stderr() -> bool {
    colour_allowed(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

fn colour_allowed(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(std::ffi::OsStr::is_empty)
}

/// Writes one line for people to stderr, dropping it when stderr is closed or full.
pub fn write_note(line: std::fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(line);
    let _ = err.write_all(b"\n");
}

/// `note!("…", args)`: [`write_note`] with `format_args!`, the non-panicking `eprintln!`.
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::output::write_note(format_args!($($arg)*))
    };
}
pub(crate) use note;

/// `println!` that returns the write error instead of panicking: a closed stdout becomes the
/// `BrokenPipe` error, which exits 0 (see `exit.rs`).
macro_rules! say {
    () => {
        $crate::output::stdout_text("\n")
    };
    ($($arg:tt)*) => {
        $crate::output::stdout_text(&format!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use say;

/// Writes data for scripts to stdout; a closed stdout is returned as the `BrokenPipe` error.
pub fn stdout_text(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour_allowed(true, None));
        assert!(colour_allowed(true, Some(std::ffi::OsStr::new(""))));
        assert!(!colour_allowed(true, Some(std::ffi::OsStr::new("1"))));
        assert!(!colour_allowed(false, None));
    }
}
