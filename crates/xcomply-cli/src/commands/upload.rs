//! `xcomply upload`: a file of IDs to a job's signed upload URL.

use std::path::PathBuf;

use super::common::ApiArgs;
use crate::output::Ctx;

/// Upload a file of IDs (one per line) to a job.
///
/// Streams the file from disk with its exact length, retrying while the upload URL is valid. With
/// --job the URL is fetched from the API; with --url it is used as given.
///
/// Examples:
///   xcomply upload --job 1446017776678801409 shards/tweets-00001.txt
///   xcomply upload --url "$UPLOAD_URL" ids.txt
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The file of IDs.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Upload to this job's upload URL.
    #[arg(
        long,
        value_name = "ID",
        required_unless_present = "url",
        conflicts_with = "url"
    )]
    pub job: Option<String>,

    /// Upload to this signed URL (quote it in the shell).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// Use the resumable protocol (the job must have been created with --resumable).
    #[arg(long)]
    pub resumable: bool,

    #[command(flatten)]
    pub api: ApiArgs,
}

pub fn run(_args: Args, _ctx: &Ctx) -> anyhow::Result<()> {
    super::common::not_implemented("upload")
}
