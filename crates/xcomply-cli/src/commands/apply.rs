//! `xcomply apply`: a compliant copy of the dataset from a manifest.

use std::path::PathBuf;

use crate::output::Ctx;

/// Write a compliant copy of the dataset: deleted rows removed, scrubbed geo columns nulled.
///
/// Keeps the schema and the file and partition layout. Checks the removed-row counts against the
/// manifest and fails on a mismatch.
///
/// Example:
///   xcomply apply --manifest run1/manifests --dataset data/ --out data-compliant/ --geo-columns geo,place_id
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The manifest directory written by `xcomply join`.
    #[arg(long, value_name = "DIR")]
    pub manifest: PathBuf,

    /// The dataset the manifest was made from.
    #[arg(long, value_name = "PATH")]
    pub dataset: PathBuf,

    /// Where to write the compliant copy.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Columns to null for rows whose only reason is scrub_geo, comma-separated.
    #[arg(long, value_name = "COLUMNS", value_delimiter = ',')]
    pub geo_columns: Vec<String>,
}

pub fn run(_args: Args, _ctx: &Ctx) -> anyhow::Result<()> {
    super::common::not_implemented("apply")
}
