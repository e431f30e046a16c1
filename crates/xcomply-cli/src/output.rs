//! Terminal output shared by the commands: log setup and whether to draw progress bars.

use std::io::IsTerminal;

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
    /// secrets, so every level is safe to turn on.
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
            .with_target(false)
            .try_init();
    }

    /// Whether to draw progress bars.
    #[allow(dead_code)]
    pub fn progress(&self) -> bool {
        self.interactive
    }
}
