//! `xcomply status`: what a run directory has done and what is pending.

use std::path::PathBuf;

use crate::output::Ctx;

/// Show what a run directory has done and what is pending.
///
/// Reads `state.json` in the run directory (it does not contact the API) and prints each shard's
/// job, status and results.
///
/// Example:
///   xcomply status --out run1
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The run directory given to `xcomply run --out`.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Print the state as JSON (signed URLs redacted).
    #[arg(long)]
    pub json: bool,
}

pub fn run(_args: Args, _ctx: &Ctx) -> anyhow::Result<()> {
    super::common::not_implemented("status")
}
