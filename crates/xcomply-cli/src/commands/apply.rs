//! `xcomply apply`: a compliant copy of the dataset from a manifest.

use std::path::PathBuf;

use anyhow::Context;
use xcomply_sink::apply::{ApplyOptions, apply_paths};

use crate::exit::{Code, coded};
use crate::output::Ctx;
use crate::output::{note, say};

/// Write a compliant copy of the dataset: deleted rows removed, scrubbed geo
/// columns nulled.
///
/// Keeps the schema and the file and partition layout. Checks the removed-row
/// counts against the manifest and fails on a mismatch. The copy appears at --out
/// only when complete; --out must not exist or be empty. Prints a JSON summary
/// (files, rows in and out, rows deleted and scrubbed).
///
/// Example:
///   xcomply apply --manifest run1/manifests --dataset data/ --out compliant/ \
///       --geo-columns geo_lat,geo_lon,place_id
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The manifest directory written by `xcomply join`.
    #[arg(long, value_name = "DIR")]
    pub manifest: PathBuf,

    /// The dataset the manifest was made from. Files are matched to the manifest by their real
    /// path, so ./data, data and /abs/data are alike; if `xcomply join` was given relative
    /// paths, run apply from the same directory.
    #[arg(long, value_name = "PATH", required = true, num_args = 1..)]
    pub dataset: Vec<PathBuf>,

    /// Where to write the compliant copy.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Columns to null for rows whose only reason is scrub_geo, comma-separated.
    #[arg(long, value_name = "COLUMNS", value_delimiter = ',')]
    pub geo_columns: Vec<String>,

    /// Copying threads (default: one per core).
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    pub threads: usize,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let options = ApplyOptions {
        geo_columns: args.geo_columns,
        threads: args.threads,
    };
    let summary = apply_paths(&args.manifest, &args.dataset, &args.out, &options)
        .context("apply failed; no copy was written")
        .map_err(|e| coded(Code::Input, e))?;
    say!("{}", serde_json::to_string(&summary)?)?;
    if !ctx.quiet {
        note!(
            "wrote {} to {}: {} of {} kept, {} deleted, {} scrubbed",
            super::join::count(summary.files, "file", "files"),
            args.out.display(),
            summary.rows_out,
            super::join::count(summary.rows_in, "row", "rows"),
            summary.rows_deleted,
            summary.rows_scrubbed,
        );
    }
    Ok(())
}
