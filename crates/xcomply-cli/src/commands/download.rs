//! `xcomply download`: a job's results, streamed to a file.

use std::path::PathBuf;

use super::common::ApiArgs;
use crate::output::Ctx;

/// Download a job's results (JSON Lines) to a file.
///
/// Streams with gzip transfer encoding, resumes an interrupted download where it stopped, and
/// writes to a temporary name renamed at the end. With --wait it first polls the job until it is
/// complete, within the rate limits.
///
/// Example:
///   xcomply download --job 1446017776678801409 --wait --out results.jsonl
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The job whose results to fetch.
    #[arg(long, value_name = "ID")]
    pub job: String,

    /// Wait for the job to complete first.
    #[arg(long)]
    pub wait: bool,

    /// Where to write the results (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,

    #[command(flatten)]
    pub api: ApiArgs,
}

pub fn run(_args: Args, _ctx: &Ctx) -> anyhow::Result<()> {
    super::common::not_implemented("download")
}
