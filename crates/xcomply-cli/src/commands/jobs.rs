//! `xcomply jobs create|get|list|cancel`: the compliance jobs API.

use super::common::{ApiArgs, TypeArg};
use crate::output::Ctx;

/// Create, inspect, list and cancel compliance jobs.
///
/// Examples:
///   xcomply jobs create --type tweets --name nightly
///   xcomply jobs get 1446017776678801409
///   xcomply jobs list --type users --status in_progress --json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(subcommand)]
    pub command: JobsCommand,

    #[command(flatten)]
    pub api: ApiArgs,

    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum JobsCommand {
    /// Create a job; prints its ID, status and expiry times.
    Create {
        /// The kind of IDs the job will hold.
        #[arg(long = "type", value_enum)]
        r#type: TypeArg,
        /// A name for the job (at most 64 characters).
        #[arg(long)]
        name: Option<String>,
        /// Sign the upload URL for the resumable upload protocol.
        #[arg(long)]
        resumable: bool,
    },
    /// Show one job.
    Get {
        /// The job ID.
        id: String,
    },
    /// List recent jobs of one type, newest first.
    List {
        /// The kind of jobs.
        #[arg(long = "type", value_enum)]
        r#type: TypeArg,
        /// Only jobs in this status (created, in_progress, complete, failed).
        #[arg(long)]
        status: Option<String>,
    },
    /// Cancel an unfinished job, which frees its type for a new job.
    Cancel {
        /// The job ID.
        id: String,
    },
}

pub fn run(_args: Args, _ctx: &Ctx) -> anyhow::Result<()> {
    super::common::not_implemented("jobs")
}
