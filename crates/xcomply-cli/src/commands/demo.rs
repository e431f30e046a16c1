//! `xcomply demo`: the whole pipeline on generated data against an in-process emulator.

use std::path::PathBuf;

use crate::output::Ctx;

/// Run the whole pipeline on a small generated dataset against a local emulator.
///
/// Generates a synthetic dataset of posts (several Parquet files with realistic snowflake IDs and
/// authors), starts the emulator in-process, runs `xcomply run` on it with shards small enough to
/// need several jobs per type, and prints the summary and a DuckDB query to inspect the manifest.
/// Needs no token and no network.
///
/// Example:
///   xcomply demo --out /tmp/xcomply-demo
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Directory for the dataset, the run state, the results and the manifest.
    #[arg(long, value_name = "DIR", default_value = "xcomply-demo")]
    pub out: PathBuf,

    /// Seed of the generated dataset and of the emulator's answers.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

pub fn run(_args: Args, _ctx: &Ctx) -> anyhow::Result<()> {
    super::common::not_implemented("demo")
}
