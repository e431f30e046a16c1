//! `xcomply run`: the whole pipeline, durable and resumable.

use std::path::PathBuf;

use super::common::{ApiArgs, TypeArg};
use crate::output::Ctx;

/// Turn a dataset into delete manifests: shard IDs, run compliance jobs, join the results.
///
/// Extracts post IDs and author IDs from the dataset, deduplicates and shards them, runs one
/// compliance job at a time per type (tweets and users side by side), downloads and decodes the
/// results, and joins them against the dataset into delete manifests. All state is kept in
/// `--out`; re-running the same command resumes where it stopped.
///
/// Examples:
///   X_BEARER_TOKEN=… xcomply run --dataset data/ --out run1
///   xcomply run --emulator --dataset data/ --out run1
///   xcomply run --ids ids.txt --type users --out run2 --no-join
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Parquet dataset: files, directories (searched recursively, hive partitions allowed) or globs.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub dataset: Vec<PathBuf>,

    /// Column of the dataset holding post IDs (int64, uint64 or decimal strings).
    #[arg(long, value_name = "NAME", default_value = "id")]
    pub tweet_id_column: String,

    /// Column of the dataset holding author (user) IDs.
    #[arg(long, value_name = "NAME", default_value = "author_id")]
    pub user_id_column: String,

    /// A text file of IDs, one per line, instead of (or besides) a dataset. Needs --type.
    #[arg(long, value_name = "FILE", requires = "type")]
    pub ids: Option<PathBuf>,

    /// The kind of IDs in --ids.
    #[arg(long = "type", value_enum)]
    pub r#type: Option<TypeArg>,

    /// Run directory: state, shards, results and manifests. Re-run with the same directory to resume.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    #[command(flatten)]
    pub api: ApiArgs,

    /// Start an emulator in-process and run against it instead of the real API.
    #[arg(long)]
    pub emulator: bool,

    /// Use the resumable upload protocol (for very large shards or flaky links).
    #[arg(long)]
    pub resumable: bool,

    /// Most IDs per job.
    #[arg(long, value_name = "N", default_value_t = 10_000_000)]
    pub max_ids_per_job: u64,

    /// How many times a failed or expired job is retried with a new job before it is reported.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub max_job_retries: u32,

    /// Stop after the results; do not join them against the dataset.
    #[arg(long)]
    pub no_join: bool,

    /// Print a machine-readable summary on stdout at the end.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_args: Args, _ctx: &Ctx) -> anyhow::Result<()> {
    super::common::not_implemented("run")
}
