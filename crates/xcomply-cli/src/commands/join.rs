//! `xcomply join`: results against the dataset into delete manifests.

use std::path::PathBuf;

use xcomply_sink::join::{
    DELETE, JoinOptions, JoinSummary, MANIFEST_FILE, REHYDRATE, REHYDRATE_IDS_FILE, SCRUB_GEO,
    SUMMARY_FILE, join_paths,
};

use crate::exit::coded;
use crate::output::Ctx;
use crate::output::note;

/// Join compliance results against a Parquet dataset into a manifest.
///
/// Writes one manifest row per affected dataset row (file path, row position,
/// IDs, action, reasons), sorted by file and position, summary.json (rows per
/// action) and rehydrate-ids.txt (the post IDs of rehydrate rows, ascending, one
/// per line; empty when none). A row is `delete` when its post or its author has
/// a delete event; otherwise `rehydrate` when its post was edited; otherwise
/// `scrub_geo` when its post's geo data must go (in results from before
/// September 2026, a delete with reason scrub_geo). Several events of one ID:
/// delete > rehydrate > scrub_geo. An action xcomply does not know is kept
/// verbatim (ranked below delete, above the others) and refused by `apply`.
/// Only the two ID columns are read, and row groups whose ID statistics exclude
/// every flagged ID are skipped. Manifests (manifest.parquet beside a
/// summary.json) found in the dataset are not read as data.
///
/// Examples:
///   xcomply join --dataset data/ --results run1/results --out run1/manifests
///   xcomply join --dataset 'data/date=2020-*/*.parquet' --results run1/results \
///       --out m --lenient
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Parquet dataset: files, directories (recursive, hive partitions allowed) or globs.
    #[arg(long, value_name = "PATH", required = true, num_args = 1..)]
    pub dataset: Vec<PathBuf>,

    /// Directory of results Parquet files written by `xcomply decode` or `xcomply run`
    /// (for a run, RUN/results). It must hold at least one: an empty directory is an error.
    /// Only files directly in DIR are read; subdirectories holding Parquet files are named in a
    /// warning.
    #[arg(long, value_name = "DIR")]
    pub results: PathBuf,

    /// Output directory for the manifest and summary.json: new, empty, or a previous manifest
    /// directory (its two files are replaced). Never inside the dataset.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Write into a non-empty --out that holds other files (only manifest.parquet and
    /// summary.json are replaced).
    #[arg(long)]
    pub force: bool,

    /// Column of the dataset holding post IDs.
    #[arg(long, value_name = "NAME", default_value = "id")]
    pub tweet_id_column: String,

    /// Column of the dataset holding author IDs.
    #[arg(long, value_name = "NAME", default_value = "author_id")]
    pub user_id_column: String,

    /// Skip unreadable dataset files (listed in summary.json) instead of failing.
    #[arg(long)]
    pub lenient: bool,

    /// Reading threads (default: one per core).
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    pub threads: usize,
}

/// `n` followed by the singular or plural noun, as `n` calls for ("1 file", "2 files").
pub(super) fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The counts of actions xcomply does not know, as ", 3 geo_blur (unknown: apply refuses it)",
/// or nothing.
fn unknown_actions(summary: &JoinSummary) -> String {
    let unknown: Vec<String> = summary
        .actions
        .iter()
        .filter(|(a, _)| ![DELETE, REHYDRATE, SCRUB_GEO].contains(&a.as_str()))
        .map(|(a, n)| format!("{n} {a:?}"))
        .collect();
    if unknown.is_empty() {
        String::new()
    } else {
        format!(
            ", {} (unknown to this version: apply refuses them)",
            unknown.join(", ")
        )
    }
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let options = JoinOptions {
        tweet_id_column: args.tweet_id_column,
        user_id_column: args.user_id_column,
        lenient: args.lenient,
        threads: args.threads,
        allow_no_results: false,
        force: args.force,
    };
    let summary = join_paths(&args.dataset, &args.results, &args.out, &options).map_err(|e| {
        let code = super::common::sink_code(&e);
        coded(
            code,
            anyhow::Error::new(e).context("join failed; no manifest was written"),
        )
    })?;
    if xcomply_dataset::object_requests() > 0 {
        tracing::info!(
            "object storage: {} requests (listing, footers, column chunks)",
            xcomply_dataset::object_requests()
        );
    }
    if !ctx.quiet {
        note!(
            "joined {}, {} ({} of {} skipped): {} ({} delete, {} rehydrate, {} scrub_geo{}) in {}",
            count(summary.files_scanned, "file", "files"),
            count(summary.rows, "row", "rows"),
            summary.row_groups_skipped,
            count(summary.row_groups, "row group", "row groups"),
            count(summary.manifest_rows, "manifest row", "manifest rows"),
            summary.delete_rows,
            summary.rehydrate_rows,
            summary.scrub_geo_rows,
            unknown_actions(&summary),
            args.out.join(MANIFEST_FILE).display(),
        );
        if summary.rehydrate_ids > 0 {
            note!(
                "{} of edited posts to fetch again in {}",
                count(summary.rehydrate_ids, "ID", "IDs"),
                args.out.join(REHYDRATE_IDS_FILE).display()
            );
        }
        for s in &summary.skipped_files {
            note!("skipped unreadable file (--lenient): {}", s.error);
        }
        if !summary.ignored_results_dirs.is_empty() {
            note!(
                "warning: not read: Parquet files in {} of {}: {} (only files directly in --results \
                 are read; put every results file of this join in that one directory)",
                count(
                    summary.ignored_results_dirs.len() as u64,
                    "subdirectory",
                    "subdirectories"
                ),
                args.results.display(),
                summary.ignored_results_dirs.join(", ")
            );
        }
        if summary.invalid_ids > 0 {
            let (values, were) = if summary.invalid_ids == 1 {
                ("ID value was not an ID", "matches")
            } else {
                ("ID values were not IDs", "match")
            };
            note!(
                "warning: {} {values} (negative, too large or not digits) and never {were}; see {}",
                summary.invalid_ids,
                args.out.join(SUMMARY_FILE).display()
            );
        }
    }
    Ok(())
}
