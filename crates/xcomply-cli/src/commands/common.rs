//! Arguments and helpers shared by several subcommands.

use std::path::PathBuf;

use xcomply_core::JobType;

/// How to reach the X API. The bearer token is read from `X_BEARER_TOKEN` (or `--token-file`), never
/// from an argument, so it cannot end up in shell history, `ps` output or `--help`.
#[derive(Debug, Clone, clap::Args)]
pub struct ApiArgs {
    /// Base URL of the X API. Point it at `xcomply emulator` to try things locally.
    #[arg(long, value_name = "URL", default_value = "https://api.x.com")]
    pub api_base: String,

    /// Read the bearer token from this file instead of the X_BEARER_TOKEN environment variable.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// The job type, as a command-line value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TypeArg {
    /// Post (tweet) IDs.
    Tweets,
    /// User IDs.
    Users,
}

impl From<TypeArg> for JobType {
    fn from(t: TypeArg) -> JobType {
        match t {
            TypeArg::Tweets => JobType::Tweets,
            TypeArg::Users => JobType::Users,
        }
    }
}

/// The error of a subcommand that is not built yet: a clear message and a non-zero exit.
pub fn not_implemented(command: &str) -> anyhow::Result<()> {
    Err(crate::exit::coded(
        crate::exit::Code::Failure,
        anyhow::anyhow!("`xcomply {command}` is not implemented yet in this version"),
    ))
}
