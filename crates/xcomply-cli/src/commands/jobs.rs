//! `xcomply jobs create|get|list|cancel`: the compliance jobs API.

use std::fmt::Write as _;

use anyhow::Context as _;
use xcomply_core::{ComplianceJob, JobId, JobListResponse, JobResponse, JobStatus, JobType};

use super::common::{ApiArgs, TypeArg, api_client, client_error, runtime};
use crate::exit::{Code, coded};
use crate::output::{Ctx, note, stdout_text};

/// Create, inspect, list and cancel compliance jobs.
///
/// The bearer token is read from X_BEARER_TOKEN (or --token-file). Tables show upload and download
/// URLs with their secret (token or signature) redacted; --json prints the API's JSON as received, full URLs included, for
/// scripts (treat that output as a secret for 15 minutes and 7 days respectively).
///
/// Examples:
///   xcomply jobs create --type tweets --name nightly
///   xcomply jobs get 1446017776678801409
///   xcomply jobs list --type users --status in_progress --json
///   xcomply jobs cancel 1446017776678801409
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
    ///
    /// Only one unfinished job of each type may exist at a time: another one in status created or
    /// in_progress is a conflict (exit 6); finish or cancel it first.
    ///
    /// Examples:
    ///   xcomply jobs create --type tweets --name nightly
    ///   xcomply jobs create --type users --resumable --json
    #[command(verbatim_doc_comment)]
    Create {
        /// The kind of IDs the job will hold.
        #[arg(long = "type", value_enum)]
        r#type: TypeArg,
        /// A name for the job (at most 64 characters).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Ask for an upload URL of the resumable protocol (the flow before September 2026). The
        /// live API refuses it; the job is then created without it.
        #[arg(long)]
        resumable: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Show one job.
    ///
    /// Examples:
    ///   xcomply jobs get 1446017776678801409
    ///   xcomply jobs get 1446017776678801409 --json
    #[command(verbatim_doc_comment)]
    Get {
        /// The job ID.
        #[arg(value_name = "JOB_ID")]
        id: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// List recent jobs of one type, newest first.
    ///
    /// Examples:
    ///   xcomply jobs list --type tweets
    ///   xcomply jobs list --type users --status in_progress --json
    #[command(verbatim_doc_comment)]
    List {
        /// The kind of jobs.
        #[arg(long = "type", value_enum)]
        r#type: TypeArg,
        /// Only jobs in this status (created, in_progress, complete, failed).
        #[arg(long, value_name = "STATUS")]
        status: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Cancel an unfinished job, which frees its type for a new job.
    ///
    /// A job that is already complete, failed or expired is left as it is: the command says so
    /// and exits 0, since the job is not running either way.
    ///
    /// Examples:
    ///   xcomply jobs cancel 1446017776678801409
    #[command(verbatim_doc_comment)]
    Cancel {
        /// The job ID.
        #[arg(value_name = "JOB_ID")]
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
                let id = id.expect("parsed above");
                // The API answers a cancel of a finished job with the job unchanged, which would
                // read as a successful cancel; the status is read first to say what happened.
                let current = client.get_job(id).await.map_err(client_error)?;
                if current.status.is_terminal() {
                    let why = current
                        .error
                        .as_deref()
                        .map_or_else(String::new, |e| format!(" ({e})"));
                    note!(
                        "job {id} is already {}{why}; nothing to cancel",
                        current.status
                    );
                    return print_job(&current, json);
                }
                let job = client.cancel_job(id).await.map_err(client_error)?;
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

/// `text` with control characters escaped (`\n`, `\u{1b}`): names, errors and unknown types or
/// statuses come from the API, and printed raw they could break the table or drive the terminal.
fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// One job: `{"data": job}` as JSON, else one `field: value` line per field.
fn print_job(job: &ComplianceJob, json: bool) -> anyhow::Result<()> {
    if json {
        let resp = JobResponse {
            data: Some(job.clone()),
            errors: None,
        };
        return Ok(stdout_text(&(serde_json::to_string(&resp)? + "\n"))?);
    }
    let mut out = String::new();
    let mut row = |k: &str, v: &dyn std::fmt::Display| {
        let _ = writeln!(out, "{k:<20} {v}");
    };
    row("id", &job.id);
    row("type", &printable(job.job_type.as_str()));
    row("status", &printable(job.status.as_str()));
    if let Some(name) = &job.name {
        row("name", &printable(name));
    }
    row("resumable", &job.resumable.unwrap_or(false));
    row("created_at", &job.created_at);
    row("upload_expires_at", &job.upload_expires_at);
    row("download_expires_at", &job.download_expires_at);
    // SignedUrl's Display is redacted.
    row("upload_url", &job.upload_url);
    row("download_url", &job.download_url);
    if let Some(error) = &job.error {
        row("error", &printable(error));
    }
    Ok(stdout_text(&out)?)
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
        return Ok(stdout_text(&(serde_json::to_string(&resp)? + "\n"))?);
    }
    if jobs.is_empty() {
        note!("no jobs");
        return Ok(());
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<20} {:<7} {:<12} {:<25} {:<25} NAME",
        "ID", "TYPE", "STATUS", "CREATED_AT", "UPLOAD_EXPIRES_AT"
    );
    for j in &jobs {
        let _ = writeln!(
            out,
            "{:<20} {:<7} {:<12} {:<25} {:<25} {}",
            j.id.to_string(),
            printable(j.job_type.as_str()),
            printable(j.status.as_str()),
            j.created_at.to_string(),
            j.upload_expires_at.to_string(),
            printable(j.name.as_deref().unwrap_or(""))
        );
    }
    Ok(stdout_text(&out)?)
}
