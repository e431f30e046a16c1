//! `xcomply join`: results against the dataset into delete manifests.

use std::path::PathBuf;

use crate::output::Ctx;

/// Join compliance results against a Parquet dataset into a delete manifest.
///
/// Writes one manifest row per affected dataset row (file path, row position, IDs, action,
/// reasons), sorted by file and position, and `summary.json`.
///
/// Example:
///   xcomply join --dataset data/ --results run1/results --out run1/manifests
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Parquet dataset: files, directories (recursive, hive partitions allowed) or globs.
    #[arg(long, value_name = "PATH", required = true, num_args = 1..)]
    pub dataset: Vec<PathBuf>,

    /// Directory of results Parquet files written by `xcomply decode` or `xcomply run`.
    #[arg(long, value_name = "DIR")]
    pub results: PathBuf,

    /// Output directory for the manifest and summary.json.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Column of the dataset holding post IDs.
    #[arg(long, value_name = "NAME", default_value = "id")]
    pub tweet_id_column: String,

    /// Column of the dataset holding author IDs.
    #[arg(long, value_name = "NAME", default_value = "author_id")]
    pub user_id_column: String,

    /// Skip unreadable dataset files (listed in summary.json) instead of failing.
    #[arg(long)]
    pub lenient: bool,
}

pub fn run(_args: Args, _ctx: &Ctx) -> anyhow::Result<()> {
    super::common::not_implemented("join")
}
