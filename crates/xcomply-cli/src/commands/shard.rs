//! `xcomply shard`: IDs from text or Parquet into deduplicated, sorted job files.

use std::path::PathBuf;
use std::time::Instant;

use xcomply_shard::{Limits, ShardError, ShardOptions, parse_byte_cap, parse_size};

use super::common::TypeArg;
use crate::exit::{Code, coded};
use crate::output::Ctx;
use crate::output::note;

/// Extract, validate, deduplicate and split IDs into job files.
///
/// Reads IDs from text files (one per line; gzip and zstd detected by content; - for stdin) or
/// from a column of Parquet files, directories (recursive, hive partitions) and globs. Writes
/// {type}-00001.txt, … in ascending order, each with at most --max-ids-per-job unique IDs, and
/// manifest.json with each shard's count, min, max, bytes and sha256 and the totals read, valid,
/// invalid, nulls and duplicates. Every file is written under a temporary name and renamed when
/// complete. Past --memory-limit, sorted runs spill to a temporary directory inside --out
/// (removed at the end, also on error); the process stays within the limit plus about 64 MiB.
/// Output bytes do not depend on the memory limit, the input order or how the input is split.
///
/// Lines may have surrounding spaces, CRLF endings and a UTF-8 BOM; blank lines are skipped.
/// The first invalid value stops the command with its file:line, unless --lenient, which writes
/// every invalid value with its file:line to rejects.txt in the output directory.
///
/// Examples:
///   xcomply shard --type tweets --out shards ids-*.txt.gz
///   xcomply shard --type users --column author_id --out shards data/
///   cat ids.txt | xcomply shard --type tweets --out shards -
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Inputs: text files, - for stdin, or Parquet files, directories and globs (with --column).
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,

    /// The kind of IDs, used in the shard file names.
    #[arg(long = "type", value_enum)]
    pub r#type: TypeArg,

    /// Output directory; refused if it exists and is not empty, unless --force.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Column to read from Parquet inputs (int64, uint64, int32, uint32 or decimal strings; nulls
    /// are skipped and counted).
    #[arg(long, value_name = "NAME")]
    pub column: Option<String>,

    /// Most IDs per shard (one shard = one compliance job).
    #[arg(long, value_name = "N", default_value_t = 10_000_000)]
    pub max_ids_per_job: u64,

    /// Most bytes per shard file, besides --max-ids-per-job, e.g. 64MB. The default is the live
    /// API's upload cap of 128 MB (128000000 bytes, about 6.4 million post IDs); none lifts it.
    #[arg(long, value_name = "SIZE", default_value = "128000000")]
    pub max_bytes_per_job: String,

    /// Memory for deduplication before spilling to disk, e.g. 512MiB or 2GiB.
    #[arg(long, value_name = "SIZE", default_value = "1GiB")]
    pub memory_limit: String,

    /// Write invalid lines to rejects.txt and go on, instead of stopping at the first one.
    #[arg(long)]
    pub lenient: bool,

    /// Use an existing, non-empty output directory, replacing the shard files, manifest.json and
    /// rejects.txt of an earlier run (other files are left alone).
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let usage = |e: ShardError| coded(Code::Usage, e);
    let memory_limit = parse_size(&args.memory_limit).map_err(usage)?;
    let max_bytes_per_job = parse_byte_cap(&args.max_bytes_per_job).map_err(usage)?;
    let options = ShardOptions {
        job_type: args.r#type.into(),
        out_dir: args.out.clone(),
        column: args.column,
        limits: Limits {
            memory_limit,
            max_ids_per_job: args.max_ids_per_job,
            max_bytes_per_job,
            ..Limits::default()
        },
        lenient: args.lenient,
        force: args.force,
    };
    let started = Instant::now();
    let manifest = xcomply_shard::shard(&args.inputs, &options).map_err(|e| match e {
        ShardError::InvalidOption(_) | ShardError::InvalidSize { .. } => coded(Code::Usage, e),
        ShardError::Dataset(ref d) => coded(super::common::dataset_code(d), e),
        _ => coded(Code::Input, e),
    })?;
    if !ctx.quiet {
        let t = manifest.totals;
        note!(
            "wrote {} shard(s) of {} unique {} ID(s) to {} in {:.2}s: {} read, {} duplicate(s), {} invalid, {} null(s)",
            manifest.shards.len(),
            t.unique,
            manifest.job_type,
            args.out.display(),
            started.elapsed().as_secs_f64(),
            t.read,
            t.duplicates,
            t.invalid,
            t.nulls,
        );
        if t.invalid > 0 {
            note!(
                "invalid values are listed in {}",
                args.out.join(xcomply_shard::REJECTS_FILE).display()
            );
        }
    }
    Ok(())
}
