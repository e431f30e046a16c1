//! `xcomply decode`: results JSON Lines into the results Parquet file.

use std::path::PathBuf;

use super::common::TypeArg;
use crate::output::Ctx;

/// Decode a job's results (JSON Lines, plain, gzip or zstd) into a results Parquet file.
///
/// Examples:
///   xcomply decode results.jsonl --type tweets --out results/tweets-00001.parquet
///   curl -s "$DOWNLOAD_URL" | xcomply decode - --type users --out users.parquet
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The results file, or `-` for stdin.
    #[arg(value_name = "FILE")]
    pub input: String,

    /// The job type the results belong to.
    #[arg(long = "type", value_enum)]
    pub r#type: TypeArg,

    /// The Parquet file to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,

    /// The job ID to record in the `job_id` column.
    #[arg(long, value_name = "ID")]
    pub job_id: Option<String>,

    /// Write bad lines to a rejects file next to --out and go on, instead of stopping at the first.
    #[arg(long)]
    pub lenient: bool,
}

pub fn run(_args: Args, _ctx: &Ctx) -> anyhow::Result<()> {
    super::common::not_implemented("decode")
}
