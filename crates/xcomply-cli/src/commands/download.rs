//! `xcomply download`: a job's results, streamed to a file.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use xcomply_client::{CancellationToken, WaitOptions};
use xcomply_core::{JobId, JobStatus, SignedUrl};
use xcomply_transfer::{TransferConfig, Transfers};

use super::common::{
    ApiArgs, api_client, byte_progress, client_error, human_bytes, runtime, transfer_error,
};
use super::jobs::parse_job_id;
use crate::exit::{Code, coded};
use crate::output::Ctx;

/// Download a job's results (JSON Lines) to a file.
///
/// Streams with gzip transfer encoding, resumes an interrupted download where it stopped, and
/// writes to a temporary name renamed at the end. With --wait it first polls the job until it is
/// complete, within the rate limits (Ctrl-C stops waiting). The token is read from X_BEARER_TOKEN
/// or --token-file.
///
/// With --url the results are fetched from that signed download URL and no token is needed.
///
/// Examples:
///   xcomply download --job 1446017776678801409 --wait --out results.jsonl
///   xcomply download --url "$DOWNLOAD_URL" --out - | head
///
/// Exit codes: 3 the job failed or expired, 4 the output cannot be written, 5 credentials
/// refused, 6 the API or storage kept failing after all retries, 130 interrupted while waiting.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The job whose results to fetch.
    #[arg(
        long,
        value_name = "ID",
        required_unless_present = "url",
        conflicts_with = "url"
    )]
    pub job: Option<String>,

    /// Fetch from this signed download URL instead (quote it in the shell).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// Wait for the job to complete first.
    #[arg(long, conflicts_with = "url")]
    pub wait: bool,

    /// Where to write the results (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,

    #[command(flatten)]
    pub api: ApiArgs,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let rt = runtime()?;
    let (url, what) = match (args.job, args.url) {
        (Some(job), _) => {
            let id = parse_job_id(&job)?;
            let url = rt.block_on(completed_job_url(id, &args.api, args.wait, ctx))?;
            (url, format!("the results of job {id}"))
        }
        (None, Some(url)) => (SignedUrl::new(url), "the results".to_owned()),
        (None, None) => unreachable!("clap requires --job or --url"),
    };
    rt.block_on(async {
        let transfers = Transfers::new(TransferConfig::default()).map_err(transfer_error)?;
        let (bar, progress) = byte_progress(ctx, "download");
        let result = if args.out == Path::new("-") {
            to_stdout(&transfers, &url, &progress).await
        } else {
            transfers
                .download_to_file(&url, &args.out, &progress)
                .await
                .map(|r| r.bytes)
                .map_err(transfer_error)
        };
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let bytes = result?;
        if !ctx.quiet {
            eprintln!(
                "downloaded {what} ({}) to {}",
                human_bytes(bytes),
                args.out.display()
            );
        }
        Ok(())
    })
}

/// The download URL of a job, after waiting for it with --wait; a job that is not complete is an
/// error.
async fn completed_job_url(
    id: JobId,
    api: &ApiArgs,
    wait: bool,
    ctx: &Ctx,
) -> anyhow::Result<SignedUrl> {
    let client = api_client(api)?;
    let mut job = client.get_job(id).await.map_err(client_error)?;
    if wait && !job.status.is_terminal() {
        let cancel = CancellationToken::new();
        let on_ctrl_c = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_ctrl_c.cancel();
            }
        });
        let quiet = ctx.quiet;
        let mut last = job.status.clone();
        job = client
            .wait_for_job(id, &WaitOptions::default(), &cancel, |j| {
                if j.status != last && !quiet {
                    eprintln!("job {id} is {}", j.status);
                }
                last = j.status.clone();
            })
            .await
            .map_err(client_error)?;
    }
    match &job.status {
        JobStatus::Complete => {}
        JobStatus::Failed | JobStatus::Expired => {
            let why = job
                .error
                .as_deref()
                .map_or_else(String::new, |e| format!(": {e}"));
            return Err(coded(
                Code::JobsFailed,
                anyhow::anyhow!("job {id} is `{}`{why}; it has no results", job.status),
            ));
        }
        other => {
            return Err(coded(
                Code::Failure,
                anyhow::anyhow!(
                    "job {id} is `{other}`, not complete yet; pass --wait to wait for it"
                ),
            ));
        }
    }
    Ok(job.download_url)
}

/// Streams the decoded results to stdout.
async fn to_stdout(
    transfers: &Transfers,
    url: &xcomply_core::SignedUrl,
    progress: &xcomply_transfer::Progress,
) -> anyhow::Result<u64> {
    let mut download = transfers
        .download(url, progress)
        .await
        .map_err(transfer_error)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut bytes = 0u64;
    while let Some(chunk) = download.next_bytes().await {
        let chunk = chunk.map_err(transfer_error)?;
        out.write_all(&chunk)?;
        bytes += chunk.len() as u64;
    }
    out.flush()?;
    Ok(bytes)
}
