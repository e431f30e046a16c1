//! `xcomply shard`: IDs from text or Parquet into deduplicated, sorted job files.

use std::path::PathBuf;

use super::common::TypeArg;
use crate::output::Ctx;

/// Extract, validate, deduplicate and split IDs into job files.
///
/// Reads IDs from text files (one per line; gzip and zstd detected by content; `-` for stdin) or
/// from a column of Parquet files, directories and globs. Writes `{type}-00001.txt`, … in ascending
/// order, each with at most --max-ids-per-job unique IDs, and `manifest.json` with counts and
/// sha256 sums. Memory stays under --memory-limit: past it, IDs spill to temporary files.
///
/// Examples:
///   xcomply shard --type tweets --out shards ids-*.txt.gz
///   xcomply shard --type users --column author_id --out shards data/
///   cat ids.txt | xcomply shard --type tweets --out shards -
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Inputs: text files, `-` for stdin, or Parquet files, directories and globs (with --column).
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,

    /// The kind of IDs, used in the shard file names.
    #[arg(long = "type", value_enum)]
    pub r#type: TypeArg,

    /// Output directory; refused if it exists, unless --force.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Column to read from Parquet inputs (int64, uint64 or decimal strings; nulls are skipped).
    #[arg(long, value_name = "NAME")]
    pub column: Option<String>,

    /// Most IDs per shard (one shard = one compliance job).
    #[arg(long, value_name = "N", default_value_t = 10_000_000)]
    pub max_ids_per_job: u64,

    /// Most bytes per shard file, besides --max-ids-per-job.
    #[arg(long, value_name = "SIZE")]
    pub max_bytes_per_job: Option<String>,

    /// Memory for deduplication before spilling to disk, e.g. 512MiB or 2GiB.
    #[arg(long, value_name = "SIZE", default_value = "1GiB")]
    pub memory_limit: String,

    /// Write invalid lines to rejects.txt and go on, instead of stopping at the first one.
    #[arg(long)]
    pub lenient: bool,

    /// Replace an existing output directory.
    #[arg(long)]
    pub force: bool,
}

pub fn run(_args: Args, _ctx: &Ctx) -> anyhow::Result<()> {
    super::common::not_implemented("shard")
}
