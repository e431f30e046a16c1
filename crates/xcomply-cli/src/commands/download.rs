//! `xcomply download`: a job's results, streamed to a file.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use xcomply_client::{CancellationToken, WaitOptions};
use xcomply_core::{ComplianceJob, JobId, JobStatus, SignedUrl};
use xcomply_transfer::Transfers;

use super::common::{
    ApiArgs, api_client, byte_progress, client_error, human_bytes, runtime, transfer_error,
    transfers_for,
};
use super::jobs::parse_job_id;
use crate::exit::{Code, coded};
use crate::output::{Ctx, note};

/// Download a job's results (JSON Lines) to a file.
///
/// Streams with gzip transfer encoding, resumes an interrupted download where it stopped, and
/// writes to a temporary name renamed at the end. With --wait it first polls the job until it is
/// complete, within the rate limits (Ctrl-C or SIGTERM stops waiting, exit 130). A job that was
/// never uploaded is reported once while waiting, and the wait ends with an error when it expires.
/// Without --wait a job that is not complete yet is a usage error (exit 2). The token is read from
/// X_BEARER_TOKEN or --token-file. --out is checked before anything is waited for or fetched: its
/// directory must exist, and an existing --out must be a regular file and is replaced only with
/// --force (for a pipe, a FIFO or a device, use --out - and redirect stdout).
///
/// With --url the results are fetched from that URL, a job's download_url. The live API's
/// download path (.../2/compliance/jobs/ID/download?token=...) needs the Bearer token too, sent
/// only to --api-base's scheme, host and port; a signed storage URL of the older flow needs none.
///
/// Examples:
///   xcomply download --job 1446017776678801409 --wait --out results.jsonl
///   xcomply download --url "$DOWNLOAD_URL" --out - | head
///   xcomply download --job 1446017776678801409 --out results.jsonl --force
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

    /// Fetch from this URL, a job's download_url, instead (quote it in the shell).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// Wait for the job to complete first.
    #[arg(long, conflicts_with = "url")]
    pub wait: bool,

    /// Where to write the results: a new file, or - for stdout (to feed a pipe, a FIFO or a
    /// device, use --out - and redirect it). An existing file is replaced only with --force;
    /// an existing path that is not a regular file (a FIFO, a device, a symlink) is refused.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,

    /// Replace an existing regular --out file (atomically, once the download has succeeded).
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub api: ApiArgs,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    if args.out != Path::new("-") {
        check_out(&args.out, args.force)?;
    }
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
        let transfers = transfers_for(&args.api, &url)?;
        let (bar, progress) = byte_progress(ctx, "download");
        let result = if args.out == Path::new("-") {
            to_stdout(&transfers, &url, &progress).await
        } else if let Err(e) = check_out(&args.out, args.force) {
            // Checked again: something may have appeared at --out while the job was waited for.
            Err(e)
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
            note!(
                "downloaded {what} ({}) to {}",
                human_bytes(bytes),
                args.out.display()
            );
        }
        Ok(())
    })
}

/// Checks that `--out` can be written before waiting and downloading, which may take hours: it
/// is not a directory, and its directory exists. Because the download is written to a temporary
/// file renamed over --out at the end, whatever is at --out is replaced, not written to: so only
/// a regular file may be there, and only with --force. A FIFO or a device would be turned into a
/// plain file, and a symlink replaced instead of its target; streams go through `--out -`.
fn check_out(out: &Path, force: bool) -> anyhow::Result<()> {
    let existing = match std::fs::symlink_metadata(out) {
        Ok(metadata) => Some(metadata.file_type()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(coded(
                Code::Input,
                anyhow::anyhow!("cannot write --out `{}`: {e}", out.display()),
            ));
        }
    };
    if existing.is_some_and(|t| t.is_dir()) {
        return Err(coded(
            Code::Input,
            anyhow::anyhow!(
                "--out {} is a directory; expected a file path such as {}",
                out.display(),
                out.join("results.jsonl").display()
            ),
        ));
    }
    if let Some(kind) = existing.filter(|t| !t.is_file()) {
        let what = if kind.is_symlink() {
            "a symbolic link"
        } else {
            "not a regular file (a FIFO, a device or a socket)"
        };
        return Err(coded(
            Code::Input,
            anyhow::anyhow!(
                "--out `{}` is {what}, which the download would replace; expected a new or \
                 regular file, or `--out -` to write to stdout (e.g. `--out - > {}`)",
                out.display(),
                out.display()
            ),
        ));
    }
    if existing.is_some() && !force {
        return Err(coded(
            Code::Input,
            anyhow::anyhow!(
                "--out `{}` already exists; expected a new file, or --force to replace it",
                out.display()
            ),
        ));
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        let what = if parent.exists() {
            "is not a directory"
        } else {
            "does not exist"
        };
        return Err(coded(
            Code::Input,
            anyhow::anyhow!(
                "cannot write --out {}: {} {what}",
                out.display(),
                parent.display()
            ),
        ));
    }
    Ok(())
}

/// A token cancelled on Ctrl-C (SIGINT) or, on Unix, SIGTERM, which is what `kill` and process
/// supervisors send: either ends a wait with exit 130.
fn cancel_on_signals() -> anyhow::Result<CancellationToken> {
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| {
            coded(
                Code::Failure,
                anyhow::anyhow!("cannot listen for SIGTERM: {e}"),
            )
        })?;
    tokio::spawn(async move {
        #[cfg(unix)]
        tokio::select! {
            r = tokio::signal::ctrl_c() => if r.is_err() { return },
            _ = term.recv() => {}
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        on_signal.cancel();
    });
    Ok(cancel)
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
    // Whether this command saw the job waiting for its upload: if it then expires, nothing was
    // uploaded in time.
    let mut seen_created = job.status == JobStatus::Created;
    if wait && !job.status.is_terminal() {
        let cancel = cancel_on_signals()?;
        let quiet = ctx.quiet;
        let mut last: Option<JobStatus> = None;
        let mut on_poll = |j: &ComplianceJob| {
            let first_created = j.status == JobStatus::Created && last.is_none();
            if j.status == JobStatus::Created {
                seen_created = true;
            }
            if quiet {
                last = Some(j.status.clone());
                return;
            }
            if first_created {
                note!(
                    "job {id} has not been uploaded yet: waiting for an upload; it expires at {} \
                     if none arrives",
                    j.upload_expires_at
                );
            } else if last.as_ref().is_some_and(|l| *l != j.status) {
                note!("job {id} is {}", j.status);
            }
            last = Some(j.status.clone());
        };
        on_poll(&job);
        job = client
            .wait_for_job(id, &WaitOptions::default(), &cancel, &mut on_poll)
            .await
            .map_err(client_error)?;
    }
    match &job.status {
        JobStatus::Complete => {}
        JobStatus::Expired if seen_created => {
            return Err(coded(
                Code::JobsFailed,
                anyhow::anyhow!(
                    "job {id} is `expired`: nothing was uploaded before {}; it has no results, \
                     create a new job",
                    job.upload_expires_at
                ),
            ));
        }
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
                Code::Usage,
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
