//! `xcomply upload`: a file of IDs to a job's signed upload URL.

use std::path::PathBuf;

use xcomply_core::SignedUrl;
use xcomply_transfer::{TransferConfig, Transfers};

use super::common::{
    ApiArgs, api_client, byte_progress, client_error, human_bytes, runtime, transfer_error,
};
use super::jobs::parse_job_id;
use crate::exit::{Code, coded};
use crate::output::Ctx;

/// Upload a file of IDs (one per line) to a job.
///
/// Streams the file from disk with its exact length (Content-Type: text/plain), retrying while the
/// upload URL is valid. With --job the URL is fetched from the API (the token is read from
/// X_BEARER_TOKEN or --token-file); with --url it is used as given and no token is needed. A job
/// created with --resumable, or a URL signed for x-goog-resumable, is uploaded with the resumable
/// protocol in 8 MiB chunks.
///
/// Examples:
///   xcomply upload --job 1446017776678801409 shards/tweets-00001.txt
///   xcomply upload --url "$UPLOAD_URL" ids.txt
///
/// Exit codes: 3 the upload URL expired (create a new job), 4 the file cannot be read,
/// 5 credentials or URL signature refused, 6 storage kept failing after all retries.
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

    /// Use the resumable protocol (the job must have been created with --resumable); detected
    /// from the job or the URL when not given.
    #[arg(long)]
    pub resumable: bool,

    #[command(flatten)]
    pub api: ApiArgs,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let job = args.job.as_deref().map(parse_job_id).transpose()?;
    if !args.file.is_file() {
        return Err(coded(
            Code::Input,
            anyhow::anyhow!("cannot read {}: not a file", args.file.display()),
        ));
    }
    let rt = runtime()?;
    rt.block_on(async {
        let (url, resumable) = match (job, args.url) {
            (Some(id), _) => {
                let client = api_client(&args.api)?;
                let job = client.get_job(id).await.map_err(client_error)?;
                if job.status != xcomply_core::JobStatus::Created {
                    return Err(coded(
                        Code::JobsFailed,
                        anyhow::anyhow!(
                            "job {id} is `{}`, not `created`: it takes no upload; create a new job",
                            job.status
                        ),
                    ));
                }
                let resumable = args.resumable || job.resumable == Some(true);
                (job.upload_url, resumable)
            }
            (None, Some(url)) => {
                let url = SignedUrl::new(url);
                let signed_for_resumable = url
                    .query_param("X-Goog-SignedHeaders")
                    .is_some_and(|h| h.to_ascii_lowercase().contains("x-goog-resumable"));
                (url, args.resumable || signed_for_resumable)
            }
            (None, None) => unreachable!("clap requires --job or --url"),
        };
        let transfers = Transfers::new(TransferConfig::default()).map_err(transfer_error)?;
        let (bar, progress) = byte_progress(ctx, "upload");
        let result = if resumable {
            transfers
                .upload_resumable(&url, &args.file, &progress)
                .await
        } else {
            transfers.upload_file(&url, &args.file, &progress).await
        };
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let report = result.map_err(transfer_error)?;
        if !ctx.quiet {
            let secs = report.elapsed.as_secs_f64().max(1e-3);
            eprintln!(
                "uploaded {} ({}) {}in {:.1}s ({}/s){}",
                args.file.display(),
                human_bytes(report.bytes),
                if resumable { "resumably " } else { "" },
                secs,
                human_bytes((report.bytes as f64 / secs) as u64),
                match report.retries {
                    0 => String::new(),
                    n => format!(", {n} retries"),
                }
            );
        }
        Ok(())
    })
}
