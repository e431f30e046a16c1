//! `xcomply upload`: a file of IDs to a job's upload URL.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};

use xcomply_core::{Id, SignedUrl};

use super::common::{
    ApiArgs, api_client, byte_progress, client_error, human_bytes, runtime, transfer_error,
    transfers_for,
};
use super::jobs::parse_job_id;
use crate::exit::{Code, coded};
use crate::output::{Ctx, note};

/// Upload a file of IDs (one per line) to a job.
///
/// The file is checked first, before any request: every line must be one ID of 1 to 19 digits,
/// at most 9223372036854775807, with an optional \r before the \n. Blank lines and an empty file
/// are refused too: the API does not document how it treats them, and a job that fails on its
/// file is lost. The first bad line is named (file:line and the value, exit 4). --no-check skips
/// this for large files that are known to be valid (such as the output of xcomply shard).
///
/// Then the file is streamed from disk with its exact length in one PUT, retrying while the
/// upload URL is valid. With --job the URL is fetched from the API (the token is read from
/// X_BEARER_TOKEN or --token-file) and the job must be in status created; with --url it is used
/// as given.
///
/// The live API (since September 2026) uploads to a path on the API itself
/// (.../2/compliance/jobs/ID/upload?token=...) as application/octet-stream, with the Bearer token,
/// which is read for --url too and sent only to --api-base's scheme, host and port; a file above
/// 128 MB is refused (413, exit 4: split it with xcomply shard). Jobs of the older flow have signed
/// storage URLs, take text/plain and no token; a job created with --resumable there, or a URL
/// signed for x-goog-resumable, is uploaded with the resumable protocol in 8 MiB chunks.
///
/// Examples:
///   xcomply upload --job 1446017776678801409 shards/tweets-00001.txt
///   xcomply upload --url "$UPLOAD_URL" ids.txt
///   xcomply upload --job 1446017776678801409 --no-check shards/tweets-00002.txt
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
#[group(id = "target", required = true, multiple = false, args = ["job", "url"])]
pub struct Args {
    /// The file of IDs.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Upload to this job's upload URL (or give --url).
    #[arg(long, value_name = "ID")]
    pub job: Option<String>,

    /// Upload to this URL, a job's upload_url (quote it in the shell; or give --job).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// Use the resumable protocol (signed storage URLs of the older flow only: the job must have
    /// been created with --resumable); detected from the job or the URL when not given. The live
    /// API has no resumable mode: its upload path always takes one PUT.
    #[arg(long)]
    pub resumable: bool,

    /// Do not check the IDs before uploading (for large files already known to be valid).
    #[arg(long)]
    pub no_check: bool,

    #[command(flatten)]
    pub api: ApiArgs,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let job = args.job.as_deref().map(parse_job_id).transpose()?;
    check_readable(&args.file)?;
    if !args.no_check {
        let ids = check_ids(&args.file)?;
        tracing::info!(file = %args.file.display(), ids, "every line is a valid ID");
    }
    let rt = runtime()?;
    rt.block_on(async {
        let (url, resumable) = match (job, args.url) {
            (Some(id), _) => {
                let client = api_client(&args.api)?;
                let job = client.get_job(id).await.map_err(client_error)?;
                if job.status != xcomply_core::JobStatus::Created {
                    // An expired job is an upload URL that expired (3); any other state is a job
                    // in the wrong state for an upload (2).
                    let code = if job.status == xcomply_core::JobStatus::Expired {
                        Code::JobsFailed
                    } else {
                        Code::Usage
                    };
                    return Err(coded(
                        code,
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
        let transfers = transfers_for(&args.api, &url)?;
        let byte_path = xcomply_transfer::is_byte_path(url.expose());
        if resumable && byte_path {
            note!(
                "the live API's upload path has no resumable mode: uploading with one PUT \
                 (--resumable applies to signed storage URLs of jobs created before September 2026)"
            );
        }
        let resumable = resumable && !byte_path;
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
            note!(
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

/// Refuses a path that is missing or not a regular file, saying which.
fn check_readable(path: &Path) -> anyhow::Result<()> {
    let problem = match std::fs::metadata(path) {
        Ok(m) if m.is_file() => return Ok(()),
        Ok(m) if m.is_dir() => "it is a directory; expected a file of IDs".to_owned(),
        Ok(_) => "it is not a regular file".to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "it does not exist".to_owned(),
        Err(e) => e.to_string(),
    };
    Err(coded(
        Code::Input,
        anyhow::anyhow!("cannot read {}: {problem}", path.display()),
    ))
}

/// Reads the file once and returns its number of IDs, or the first line that is not one ID
/// (1 to 19 digits, at most `i64::MAX`, with an optional `\r`), as `file:line: …` with the value
/// (which `IdError` cuts when it is long).
/// Blank lines are refused as well: the API documents one ID per line and nothing about blank
/// lines, so a file with them risks a job that fails after its upload.
fn check_ids(path: &Path) -> anyhow::Result<u64> {
    let input = |e: std::io::Error| {
        coded(
            Code::Input,
            anyhow::anyhow!("cannot read {}: {e}", path.display()),
        )
    };
    let file = std::fs::File::open(path).map_err(input)?;
    // A large buffer keeps the check at disk speed; memory stays at one buffer and one line.
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::with_capacity(64);
    let mut number = 0u64;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(input)? == 0 {
            break;
        }
        number += 1;
        let mut value = line.as_slice();
        value = value.strip_suffix(b"\n").unwrap_or(value);
        value = value.strip_suffix(b"\r").unwrap_or(value);
        if value.is_empty() {
            return Err(coded(
                Code::Input,
                anyhow::anyhow!(
                    "{}:{number}: blank line; expected one ID per line (remove blank lines, or \
                     pass --no-check to upload as is)",
                    path.display()
                ),
            ));
        }
        if let Err(e) = Id::parse(value) {
            // The error quotes the value (cut when long) and says what an ID must be.
            return Err(coded(
                Code::Input,
                anyhow::anyhow!(
                    "{}:{number}: invalid ID: {e}; fix the line, or pass --no-check to upload the \
                     file as is",
                    path.display()
                ),
            ));
        }
    }
    if number == 0 {
        return Err(coded(
            Code::Input,
            anyhow::anyhow!("{} is empty; expected one ID per line", path.display()),
        ));
    }
    Ok(number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::code_of;

    fn check(text: &[u8]) -> Result<u64, (Option<Code>, String)> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids.txt");
        std::fs::write(&path, text).unwrap();
        check_ids(&path).map_err(|e| (code_of(&e), crate::exit::message(&e)))
    }

    #[test]
    fn valid_files_pass_with_or_without_a_final_newline_and_crlf() {
        assert_eq!(check(b"1\n22\r\n9223372036854775807\n"), Ok(3));
        assert_eq!(check(b"1\n2"), Ok(2));
    }

    #[test]
    fn the_first_bad_line_is_named_with_its_value() {
        let (code, msg) = check(b"1\n2\n3\n4\n5\n12a4\n7\n").unwrap_err();
        assert_eq!(code, Some(Code::Input));
        assert!(msg.contains("ids.txt:6: invalid ID: "), "{msg}");
        assert!(
            msg.contains("found `12a4`") && msg.contains("--no-check"),
            "{msg}"
        );
        let (_, msg) = check(b"1\n9223372036854775808\n").unwrap_err();
        assert!(
            msg.contains(":2: invalid ID: ") && msg.contains("found `9223372036854775808`"),
            "{msg}"
        );
        let (_, msg) = check(b"1\n12345678901234567890\n").unwrap_err();
        assert!(msg.contains(":2: invalid ID"), "{msg}");
        let (_, msg) = check(b" 1\n").unwrap_err();
        assert!(
            msg.contains(":1: invalid ID: ") && msg.contains("found ` 1`"),
            "{msg}"
        );
    }

    #[test]
    fn blank_lines_and_empty_files_are_refused() {
        let (code, msg) = check(b"1\n\n2\n").unwrap_err();
        assert_eq!(code, Some(Code::Input));
        assert!(msg.contains("ids.txt:2: blank line"), "{msg}");
        let (_, msg) = check(b"1\n\r\n").unwrap_err();
        assert!(msg.contains(":2: blank line"), "{msg}");
        let (_, msg) = check(b"").unwrap_err();
        assert!(msg.contains("is empty"), "{msg}");
    }
}
