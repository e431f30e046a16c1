//! Uploads: the simple signed PUT and the GCS resumable protocol.

use std::fmt;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};
use tracing::{debug, info};
use xcomply_core::SignedUrl;

use crate::body::file_body;
use crate::error::{TransferError, TransferOp};
use crate::progress::Progress;
use crate::transfers::{
    MAX_REDIRECTS, Transfers, is_byte_path, redirect_target, storage_error, transport,
};

/// The content type X signs into every signed (GCS) upload URL. It must be sent exactly: no
/// charset.
pub const UPLOAD_CONTENT_TYPE: &str = "text/plain";

/// The content type of an upload to a live byte path, as the v2.168 specification declares it.
pub const BYTE_PATH_CONTENT_TYPE: &str = "application/octet-stream";

/// What an upload did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct UploadReport {
    /// The file size, which is what storage now holds.
    pub bytes: u64,
    /// Requests repeated after failures (whole PUTs, or chunks and status queries).
    pub retries: u32,
    /// Wall time of the whole upload.
    pub elapsed: Duration,
}

/// A started resumable upload session. Its URL carries the secret `upload_id`, so it prints
/// redacted; a caller that persists it to resume after a crash must treat it as a credential.
#[derive(Clone, PartialEq, Eq)]
pub struct ResumableSession {
    /// The session URI from the start's `Location` header.
    pub url: SignedUrl,
}

impl fmt::Debug for ResumableSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResumableSession({})", self.url)
    }
}

/// How much of a resumable upload storage holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Persisted {
    /// The first `n` bytes are stored; the upload continues at byte `n`.
    Bytes(u64),
    /// The upload is complete.
    Complete,
}

/// Opens a file and reads its size.
fn open(path: &Path) -> Result<(File, u64), TransferError> {
    let io = |action: &'static str| {
        move |source| TransferError::Io {
            action,
            path: path.to_owned(),
            cause: source,
        }
    };
    let file = File::open(path).map_err(io("open"))?;
    let len = file.metadata().map_err(io("read the size of"))?.len();
    Ok((file, len))
}

impl Transfers {
    /// Uploads a file with one `PUT`: `Content-Length` = file size, `Content-Type:
    /// application/octet-stream` to a byte path or `text/plain` to a signed URL (a 415 switches
    /// to the other type once), the Bearer token only on the API's origin, the body streamed
    /// from disk in 256 KiB chunks (memory does not grow with the file). Redirects are followed.
    /// Network errors and 5xx answers re-send the whole file, until storage reports the URL
    /// expired or the retry budget is spent.
    pub async fn upload_file(
        &self,
        url: &SignedUrl,
        path: &Path,
        progress: &Progress,
    ) -> Result<UploadReport, TransferError> {
        let op = TransferOp::Upload;
        let start = Instant::now();
        let mut retries = 0u32;
        let mut target = url.clone();
        let mut hops = 0u32;
        let mut content_type = if is_byte_path(url.expose()) {
            BYTE_PATH_CONTENT_TYPE
        } else {
            UPLOAD_CONTENT_TYPE
        };
        let mut switched_type = false;
        loop {
            let url = &target;
            let (file, len) = open(path)?;
            let tracker = progress.start(Some(len));
            let body = file_body(file, 0, len, tracker, 0, Arc::new(AtomicU64::new(0)));
            let sent = self
                .request(reqwest::Method::PUT, url.expose())
                .header(CONTENT_TYPE, content_type)
                .header(CONTENT_LENGTH, len)
                .body(body)
                .send()
                .await;
            if let Ok(resp) = &sent {
                if let Some(next) = redirect_target(url, resp).filter(|_| hops < MAX_REDIRECTS) {
                    debug!(from = %url, to = %next, "upload redirected");
                    hops += 1;
                    target = next;
                    continue;
                }
                // The live server's accepted media types are not documented: the other one is
                // tried once before giving up.
                if resp.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE && !switched_type {
                    switched_type = true;
                    content_type = if content_type == UPLOAD_CONTENT_TYPE {
                        BYTE_PATH_CONTENT_TYPE
                    } else {
                        UPLOAD_CONTENT_TYPE
                    };
                    info!(url = %url, content_type, "415 unsupported media type; retrying with the other type");
                    continue;
                }
            }
            let err = match sent {
                Ok(resp) if resp.status().is_success() => {
                    info!(url = %url, bytes = len, "uploaded");
                    return Ok(UploadReport {
                        bytes: len,
                        retries,
                        elapsed: start.elapsed(),
                    });
                }
                Ok(resp) => storage_error(op, url, resp, retries, start.elapsed()).await,
                Err(e) => transport(op, url, e, retries, start.elapsed()),
            };
            self.back_off(err, op, "re-sending the file", retries)
                .await?;
            retries += 1;
        }
    }

    /// Starts a resumable session: `POST` with the four signed headers (`Content-Type:
    /// text/plain`, `Content-Length: 0`, `x-goog-resumable: start`, and the host) and an empty
    /// body; storage answers 201 with the session URI in `Location`.
    pub async fn start_resumable(
        &self,
        url: &SignedUrl,
    ) -> Result<ResumableSession, TransferError> {
        let op = TransferOp::ResumableStart;
        let start = Instant::now();
        let mut retries = 0u32;
        loop {
            let sent = self
                .http
                .post(url.expose())
                .header(CONTENT_TYPE, UPLOAD_CONTENT_TYPE)
                .header(CONTENT_LENGTH, 0)
                .header("x-goog-resumable", "start")
                .send()
                .await;
            let err = match sent {
                Ok(resp) if resp.status().is_success() => {
                    let location = resp
                        .headers()
                        .get(LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .ok_or_else(|| TransferError::Protocol {
                            op,
                            url: url.redacted(),
                            detail: format!(
                                "http {} without a Location header; expected the session URI",
                                resp.status().as_u16()
                            ),
                        })?;
                    let session = resolve(url, location);
                    debug!(session = %session, "resumable session started");
                    return Ok(ResumableSession { url: session });
                }
                Ok(resp) => storage_error(op, url, resp, retries, start.elapsed()).await,
                Err(e) => transport(op, url, e, retries, start.elapsed()),
            };
            self.back_off(err, op, "retrying", retries).await?;
            retries += 1;
        }
    }

    /// Asks storage how much of a session of `total` bytes it holds (`PUT` with
    /// `Content-Range: bytes */total` and no body). Retries like every other request.
    pub async fn resumable_status(
        &self,
        session: &ResumableSession,
        total: u64,
    ) -> Result<Persisted, TransferError> {
        let op = TransferOp::ResumableChunk;
        let url = &session.url;
        let start = Instant::now();
        let mut retries = 0u32;
        loop {
            let sent = self
                .http
                .put(url.expose())
                .header(CONTENT_LENGTH, 0)
                .header(CONTENT_RANGE, format!("bytes */{total}"))
                .send()
                .await;
            let err = match sent {
                Ok(resp) if resp.status().is_success() => return Ok(Persisted::Complete),
                Ok(resp) if resp.status() == StatusCode::PERMANENT_REDIRECT => {
                    return persisted_range(&resp, op, url).map(Persisted::Bytes);
                }
                Ok(resp) => storage_error(op, url, resp, retries, start.elapsed()).await,
                Err(e) => transport(op, url, e, retries, start.elapsed()),
            };
            self.back_off(err, op, "asking again what storage holds", retries)
                .await?;
            retries += 1;
        }
    }

    /// Uploads a file with the resumable protocol: starts a session, then sends chunks of
    /// `chunk_size` bytes.
    pub async fn upload_resumable(
        &self,
        url: &SignedUrl,
        path: &Path,
        progress: &Progress,
    ) -> Result<UploadReport, TransferError> {
        let session = self.start_resumable(url).await?;
        self.continue_resumable(&session, path, 0, progress).await
    }

    /// Sends a file to a started session from byte `from` (0 for a new session; after a crash,
    /// `resumable_status` says where to continue). Non-final chunks (multiples of 256 KiB) carry
    /// `Content-Range: bytes a-b/*` and are answered 308 with the persisted `Range`; the final
    /// chunk carries the total. After a failed chunk it asks storage for the persisted offset and
    /// continues from there.
    pub async fn continue_resumable(
        &self,
        session: &ResumableSession,
        path: &Path,
        from: u64,
        progress: &Progress,
    ) -> Result<UploadReport, TransferError> {
        let op = TransferOp::ResumableChunk;
        let url = &session.url;
        let start = Instant::now();
        let (_, total) = open(path)?;
        if from > total {
            return Err(TransferError::Protocol {
                op,
                url: url.redacted(),
                detail: format!("cannot continue at byte {from} of a {total}-byte file"),
            });
        }
        let tracker = progress.start(Some(total));
        let chunk = self.config.chunk_size;
        let mut offset = from;
        let mut failures = 0u32;
        let mut retries = 0u32;
        loop {
            let end = (offset + chunk).min(total);
            let last = end == total;
            let range = if offset == total {
                // Nothing left to send (an empty file, or everything persisted without the final
                // answer seen): an empty final request carrying the total finishes the upload.
                format!("bytes */{total}")
            } else if last {
                format!("bytes {offset}-{}/{total}", end - 1)
            } else {
                format!("bytes {offset}-{}/*", end - 1)
            };
            let (file, len_now) = open(path)?;
            if len_now != total {
                return Err(TransferError::Protocol {
                    op,
                    url: url.redacted(),
                    detail: format!(
                        "{} changed size during the upload ({total} then {len_now} bytes)",
                        path.display()
                    ),
                });
            }
            let body = file_body(
                file,
                offset,
                end - offset,
                tracker.clone(),
                offset,
                Arc::new(AtomicU64::new(0)),
            );
            let sent = self
                .http
                .put(url.expose())
                .header(CONTENT_LENGTH, end - offset)
                .header(CONTENT_RANGE, range)
                .body(body)
                .send()
                .await;
            let err = match sent {
                Ok(resp) if resp.status().is_success() => {
                    tracker.report(total);
                    info!(url = %url, bytes = total, "resumable upload complete");
                    return Ok(UploadReport {
                        bytes: total,
                        retries,
                        elapsed: start.elapsed(),
                    });
                }
                Ok(resp) if resp.status() == StatusCode::PERMANENT_REDIRECT => {
                    let persisted = persisted_range(&resp, op, url)?;
                    if persisted > offset {
                        failures = 0;
                    } else {
                        // Storage kept nothing of a chunk it acknowledged, or did not finish an
                        // upload whose bytes it all holds (the empty final request of a 0-byte
                        // file, or of a file whose last chunk was persisted without an answer).
                        // Count it as a failure and back off, so that a server that never
                        // advances cannot make this loop spin.
                        failures += 1;
                        if failures > self.config.retry.max_retries {
                            let detail = if offset == total {
                                format!(
                                    "storage holds all {total} bytes but did not finish the upload \
                                     after {failures} requests"
                                )
                            } else {
                                format!(
                                    "storage persisted nothing past byte {offset} after {failures} chunks"
                                )
                            };
                            return Err(TransferError::Protocol {
                                op,
                                url: url.redacted(),
                                detail,
                            });
                        }
                        tokio::time::sleep(self.config.retry.backoff(failures)).await;
                    }
                    if persisted >= total && total > 0 {
                        // Everything is stored but the final answer was not seen: ask again.
                        if self.resumable_status(session, total).await? == Persisted::Complete {
                            return Ok(UploadReport {
                                bytes: total,
                                retries,
                                elapsed: start.elapsed(),
                            });
                        }
                    }
                    offset = persisted.min(total);
                    tracker.report(offset);
                    continue;
                }
                Ok(resp) => storage_error(op, url, resp, retries, start.elapsed()).await,
                Err(e) => transport(op, url, e, retries, start.elapsed()),
            };
            self.back_off(
                err,
                op,
                &format!("the chunk at byte {offset} failed; asking storage what it holds"),
                failures,
            )
            .await?;
            failures += 1;
            retries += 1;
            match self.resumable_status(session, total).await? {
                Persisted::Complete => {
                    return Ok(UploadReport {
                        bytes: total,
                        retries,
                        elapsed: start.elapsed(),
                    });
                }
                Persisted::Bytes(n) => {
                    if n > offset {
                        failures = 0;
                    }
                    offset = n.min(total);
                    tracker.report(offset);
                }
            }
        }
    }
}

/// The bytes persisted according to a 308's `Range: bytes=0-N` (N+1), or 0 without `Range`.
fn persisted_range(
    resp: &reqwest::Response,
    op: TransferOp,
    url: &SignedUrl,
) -> Result<u64, TransferError> {
    let Some(value) = resp.headers().get(RANGE) else {
        return Ok(0);
    };
    let text = value.to_str().unwrap_or_default();
    text.strip_prefix("bytes=0-")
        .and_then(|n| n.trim().parse::<u64>().ok())
        .map(|last| last + 1)
        .ok_or_else(|| TransferError::Protocol {
            op,
            url: url.redacted(),
            detail: format!("308 with Range `{text}`; expected `bytes=0-N`"),
        })
}

/// The session URI of a `Location` header, resolved against the start URL when relative.
fn resolve(base: &SignedUrl, location: &str) -> SignedUrl {
    if location.starts_with("http://") || location.starts_with("https://") {
        return SignedUrl::new(location);
    }
    match url::Url::parse(base.expose()).and_then(|b| b.join(location)) {
        Ok(u) => SignedUrl::new(u.as_str()),
        Err(_) => SignedUrl::new(location),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_locations_resolve_and_sessions_redact() {
        let base = SignedUrl::new("http://127.0.0.1:5/b/o?X-Goog-Signature=abc");
        let s = resolve(&base, "/b/o?X-Goog-Signature=abc&upload_id=sekrit");
        assert_eq!(
            s.expose(),
            "http://127.0.0.1:5/b/o?X-Goog-Signature=abc&upload_id=sekrit"
        );
        let shown = format!("{:?}", ResumableSession { url: s });
        assert!(
            !shown.contains("sekrit") && !shown.contains("abc"),
            "{shown}"
        );
    }

    #[test]
    fn missing_files_name_their_path() {
        let err = open(Path::new("/nonexistent/ids.txt")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot open /nonexistent/ids.txt: "),
            "{err}"
        );
    }
}
