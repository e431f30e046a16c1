//! `xcomply jobs create|get|list|cancel`: the compliance jobs API.

use std::fmt::Write as _;

use anyhow::Context as _;
use xcomply_core::{ComplianceJob, JobId, JobListResponse, JobResponse, JobStatus, JobType};

use super::common::{ApiArgs, TypeArg, api_client, client_error, runtime};
use crate::exit::{Code, coded};
use crate::output::Ctx;

/// Create, inspect, list and cancel compliance jobs.
///
/// The bearer token is read from X_BEARER_TOKEN (or --token-file). Tables show signed URLs with
/// their signature redacted; --json prints the API's JSON as received, full URLs included, for
/// scripts (treat that output as a secret for 15 minutes and 7 days respectively).
///
/// Examples:
///   xcomply jobs create --type tweets --name nightly
///   xcomply jobs get 1446017776678801409
///   xcomply jobs list --type users --status in_progress --json
///   xcomply jobs cancel 1446017776678801409
///
/// Exit codes: 5 credentials refused, 6 API failing after all retries or usage cap spent,
/// 2 unknown job ID or a request the API refused, 1 another job of the type is unfinished.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(subcommand)]
    pub command: JobsCommand,

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
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Show one job.
    Get {
        /// The job ID.
        id: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// List recent jobs of one type, newest first.
    List {
        /// The kind of jobs.
        #[arg(long = "type", value_enum)]
        r#type: TypeArg,
        /// Only jobs in this status (created, in_progress, complete, failed).
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Cancel an unfinished job, which frees its type for a new job.
    Cancel {
        /// The job ID.
        id: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

/// Parses a job ID argument.
pub fn parse_job_id(text: &str) -> anyhow::Result<JobId> {
    text.parse::<JobId>()
        .context("invalid job ID")
        .map_err(|e| coded(Code::Usage, e))
}

pub fn run(args: Args, _ctx: &Ctx) -> anyhow::Result<()> {
    // Arguments are checked before the token is needed, so a typo is reported as such.
    let status = match &args.command {
        JobsCommand::List {
            status: Some(s), ..
        } => {
            let parsed = JobStatus::parse(s);
            // `expired` is listed in unfiltered results but is not an allowed filter value in any
            // version of the API, so it is refused here instead of spending a request on a 400.
            if !parsed.is_known() || parsed == JobStatus::Expired {
                return Err(coded(
                    Code::Usage,
                    anyhow::anyhow!(
                        "invalid status `{s}`: expected created, in_progress, complete or failed"
                    ),
                ));
            }
            Some(parsed)
        }
        _ => None,
    };
    let id = match &args.command {
        JobsCommand::Get { id, .. } | JobsCommand::Cancel { id, .. } => Some(parse_job_id(id)?),
        _ => None,
    };
    let api = match &args.command {
        JobsCommand::Create { api, .. }
        | JobsCommand::Get { api, .. }
        | JobsCommand::List { api, .. }
        | JobsCommand::Cancel { api, .. } => api,
    };
    let client = api_client(api)?;
    let rt = runtime()?;
    let json = args.json;
    rt.block_on(async move {
        match args.command {
            JobsCommand::Create {
                r#type,
                name,
                resumable,
                ..
            } => {
                let job = client
                    .create_job(&JobType::from(r#type), name.as_deref(), resumable)
                    .await
                    .map_err(client_error)?;
                print_job(&job, json)
            }
            JobsCommand::Get { .. } => {
                let job = client
                    .get_job(id.expect("parsed above"))
                    .await
                    .map_err(client_error)?;
                print_job(&job, json)
            }
            JobsCommand::Cancel { .. } => {
                let job = client
                    .cancel_job(id.expect("parsed above"))
                    .await
                    .map_err(client_error)?;
                print_job(&job, json)
            }
            JobsCommand::List { r#type, .. } => {
                let jobs = client
                    .list_jobs(&JobType::from(r#type), status.as_ref())
                    .await
                    .map_err(client_error)?;
                print_list(jobs, json)
            }
        }
    })
}

/// One job: `{"data": job}` as JSON, else one `field: value` line per field.
fn print_job(job: &ComplianceJob, json: bool) -> anyhow::Result<()> {
    if json {
        let resp = JobResponse {
            data: Some(job.clone()),
            errors: None,
        };
        println!("{}", serde_json::to_string(&resp)?);
        return Ok(());
    }
    let mut out = String::new();
    let mut row = |k: &str, v: &dyn std::fmt::Display| {
        let _ = writeln!(out, "{k:<20} {v}");
    };
    row("id", &job.id);
    row("type", &job.job_type);
    row("status", &job.status);
    if let Some(name) = &job.name {
        row("name", name);
    }
    row("resumable", &job.resumable.unwrap_or(false));
    row("created_at", &job.created_at);
    row("upload_expires_at", &job.upload_expires_at);
    row("download_expires_at", &job.download_expires_at);
    // SignedUrl's Display is redacted.
    row("upload_url", &job.upload_url);
    row("download_url", &job.download_url);
    if let Some(error) = &job.error {
        row("error", error);
    }
    print!("{out}");
    Ok(())
}

/// A list: `{"data": […], "meta": {…}}` as JSON, else a table.
fn print_list(jobs: Vec<ComplianceJob>, json: bool) -> anyhow::Result<()> {
    if json {
        let count = jobs.len() as u64;
        let resp = JobListResponse {
            data: (!jobs.is_empty()).then_some(jobs),
            errors: None,
            meta: Some(xcomply_core::ListMeta {
                result_count: Some(count),
            }),
        };
        println!("{}", serde_json::to_string(&resp)?);
        return Ok(());
    }
    if jobs.is_empty() {
        eprintln!("no jobs");
        return Ok(());
    }
    println!(
        "{:<20} {:<7} {:<12} {:<25} {:<25} NAME",
        "ID", "TYPE", "STATUS", "CREATED_AT", "UPLOAD_EXPIRES_AT"
    );
    for j in &jobs {
        println!(
            "{:<20} {:<7} {:<12} {:<25} {:<25} {}",
            j.id.to_string(),
            j.job_type.as_str(),
            j.status.as_str(),
            j.created_at.to_string(),
            j.upload_expires_at.to_string(),
            j.name.as_deref().unwrap_or("")
        );
    }
    Ok(())
}
