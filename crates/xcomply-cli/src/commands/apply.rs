//! `xcomply apply`: a compliant copy of the dataset from a manifest.

use std::path::PathBuf;

use xcomply_sink::apply::{ApplyOptions, apply_paths};
use xcomply_sink::join::REHYDRATE_IDS_FILE;

use crate::exit::{Code, coded};
use crate::output::Ctx;
use crate::output::{note, say};

/// Write a compliant copy of the dataset: delete rows removed, the geo columns
/// of scrub_geo rows nulled, rehydrate rows kept unchanged.
///
/// Keeps the schema and the file and partition layout. Rehydrate rows (edited
/// posts) are counted, not changed: fetch them again with the Posts lookup API
/// from rehydrate-ids.txt beside the manifest. A manifest with an action this
/// version does not know is refused. Checks the removed-row counts against the
/// manifest and fails on a mismatch. The copy appears at --out only when
/// complete; --out must not exist or be empty. Prints a JSON summary (files, rows
/// in and out, rows deleted, scrubbed, to rehydrate, and scrub_geo rows kept).
///
/// Examples:
///   xcomply apply --manifest run1/manifests --dataset data/ --out compliant/ \
///       --geo-columns geo_lat,geo_lon,place_id
///   xcomply apply --manifest run1/manifests --dataset data/ --out compliant/ \
///       --geo-columns none
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

    /// Columns to null in scrub_geo rows, comma-separated; "none" for a dataset without
    /// location data, whose scrub_geo rows are then kept as they are. Required when the manifest
    /// has scrub_geo rows.
    #[arg(long, value_name = "COLUMNS|none", value_delimiter = ',')]
    pub geo_columns: Vec<String>,

    /// Copying threads (default: one per core).
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    pub threads: usize,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    // `none` alone says the dataset has no geo columns; beside column names it is a mistake.
    let no_geo_columns = args.geo_columns.iter().any(|c| c == "none");
    if no_geo_columns && args.geo_columns.len() > 1 {
        return Err(coded(
            Code::Usage,
            anyhow::anyhow!(
                "--geo-columns none was given with column names {:?}; expected either the geo columns or none",
                args.geo_columns
            ),
        ));
    }
    let options = ApplyOptions {
        geo_columns: if no_geo_columns {
            Vec::new()
        } else {
            args.geo_columns
        },
        no_geo_columns,
        threads: args.threads,
    };
    let summary = apply_paths(&args.manifest, &args.dataset, &args.out, &options).map_err(|e| {
        let code = super::common::sink_code(&e);
        coded(
            code,
            anyhow::Error::new(e).context("apply failed; no copy was written"),
        )
    })?;
    say!("{}", serde_json::to_string(&summary)?)?;
    if !ctx.quiet {
        note!(
            "wrote {} to {}: {} of {} kept, {} deleted, {} scrubbed, {} to rehydrate",
            super::join::count(summary.files, "file", "files"),
            args.out.display(),
            summary.rows_out,
            super::join::count(summary.rows_in, "row", "rows"),
            summary.rows_deleted,
            summary.rows_scrubbed,
            summary.rows_to_rehydrate,
        );
        if summary.rows_to_rehydrate > 0 {
            let ids = if args.manifest.is_dir() {
                args.manifest.join(REHYDRATE_IDS_FILE)
            } else {
                args.manifest.with_file_name(REHYDRATE_IDS_FILE)
            };
            note!(
                "{} of edited posts kept unchanged: their stored copy is stale; fetch the posts in {} again (Posts lookup API, or twarc2 hydrate)",
                super::join::count(summary.rows_to_rehydrate, "row", "rows"),
                ids.display()
            );
        }
        if summary.rows_scrub_geo_kept > 0 {
            note!(
                "{} kept with their data as they are (--geo-columns none: the dataset has no location columns to null)",
                super::join::count(
                    summary.rows_scrub_geo_kept,
                    "scrub_geo row",
                    "scrub_geo rows"
                ),
            );
        }
    }
    Ok(())
}
