//! Downloads: a GET that resumes with `Range` where it broke off, decodes gzip as a stream, and
//! verifies the length.
//!
//! The resume works on the bytes as sent (compressed when storage sends gzip), which is why the
//! workspace turns reqwest's own decompression off: the raw stream is stitched together from as
//! many responses as it takes, and only then decoded. A server that answers a `Range` request
//! with the whole object (200) restarts the download from byte 0: a fresh decoder reads the new
//! response from its start and the decoded bytes already delivered are skipped, which stays
//! right even when the server compresses each response differently (a byte path may gzip on the
//! fly, so skipping compressed bytes would splice two different streams).

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use std::io::Write as _;

use bytes::{Bytes, BytesMut};
use flate2::write::MultiGzDecoder;
use futures::stream::{BoxStream, Stream, StreamExt};
use reqwest::header::{
    ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, ETAG, RANGE,
};
use reqwest::{Response, StatusCode};
use tracing::{debug, info};
use xcomply_core::SignedUrl;

use crate::error::{TransferError, TransferOp};
use crate::progress::{Progress, Tracker};
use crate::transfers::{
    MAX_REDIRECTS, Transfers, redirect_target, storage_error, transport, warn_retry,
};

/// A download in progress: a stream of decoded bytes. Errors end the stream.
pub struct Download {
    stream: BoxStream<'static, Result<Bytes, TransferError>>,
    gzip: bool,
    length: Option<u64>,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("gzip", &self.gzip)
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

impl Download {
    /// Whether storage sends the body gzip-encoded (it is decoded in the stream).
    pub fn is_gzip(&self) -> bool {
        self.gzip
    }

    /// The length of the body as sent (compressed, when gzip), when storage announced it.
    pub fn length(&self) -> Option<u64> {
        self.length
    }

    /// The next piece of decoded bytes, `None` at the end: the stream's `next` without needing
    /// `futures::StreamExt` in scope.
    pub async fn next_bytes(&mut self) -> Option<Result<Bytes, TransferError>> {
        self.stream.next().await
    }
}

impl Stream for Download {
    type Item = Result<Bytes, TransferError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.stream.as_mut().poll_next(cx)
    }
}

/// What `download_to_file` wrote.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DownloadReport {
    /// Decoded bytes written to the file.
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
}

/// The raw (possibly compressed) body, stitched from as many responses as it takes.
struct Raw {
    transfers: Transfers,
    url: SignedUrl,
    body: Option<BoxStream<'static, reqwest::Result<Bytes>>>,
    /// Raw bytes delivered downstream so far.
    received: u64,
    /// The raw length, when storage announced it.
    expected: Option<u64>,
    /// The `ETag` of the first response, to make sure every piece comes from the same object.
    etag: Option<String>,
    /// Set when a `Range` request was answered with the whole object: the bytes from here on
    /// start over at byte 0, and the decoding layer must start over with them.
    restarted: bool,
    /// Whether the current response is gzip-encoded.
    gzip: bool,
    /// Consecutive failed resumes.
    failures: u32,
    start: Instant,
    tracker: Tracker,
    done: bool,
}

impl Raw {
    /// The next raw chunk, resuming after interruptions.
    async fn next_chunk(&mut self) -> Option<Result<Bytes, TransferError>> {
        loop {
            if self.done {
                return None;
            }
            let item = match self.body.as_mut() {
                Some(body) => body.next().await,
                None => None,
            };
            let cause = match item {
                Some(Ok(chunk)) => {
                    if chunk.is_empty() {
                        continue;
                    }
                    self.received += chunk.len() as u64;
                    self.failures = 0;
                    if let Some(exp) = self.expected
                        && self.received > exp
                    {
                        self.done = true;
                        return Some(Err(
                            self.protocol(format!("received more than the announced {exp} bytes"))
                        ));
                    }
                    self.tracker.report(self.received);
                    return Some(Ok(chunk));
                }
                Some(Err(e)) => transport(
                    TransferOp::Download,
                    &self.url,
                    e,
                    self.failures,
                    self.start.elapsed(),
                ),
                None => match self.expected {
                    Some(exp) if self.received < exp => self.protocol(format!(
                        "the body ended after {} of {exp} bytes",
                        self.received
                    )),
                    _ => {
                        self.done = true;
                        return None;
                    }
                },
            };
            // Interrupted: resume from the last byte received.
            self.body = None;
            if self.failures >= self.transfers.config.retry.max_retries {
                self.done = true;
                return Some(Err(cause));
            }
            let wait = self.transfers.config.retry.backoff(self.failures);
            self.failures += 1;
            warn_retry(
                &cause,
                TransferOp::Download,
                &format!("interrupted at byte {}; resuming there", self.received),
                wait,
                self.failures - 1,
                self.transfers.config.retry.max_retries,
            );
            tokio::time::sleep(wait).await;
            match self
                .transfers
                .get(&self.url, self.received, self.start)
                .await
            {
                Ok(resp) => {
                    if let Err(e) = self.adopt(resp) {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }

    /// Takes over a resumed response after checking that it continues the same object.
    fn adopt(&mut self, resp: Response) -> Result<(), TransferError> {
        let etag = header(&resp, ETAG);
        if let (Some(a), Some(b)) = (&self.etag, &etag)
            && a != b
        {
            return Err(self.protocol(format!(
                "the object changed during the download (ETag {a} then {b})"
            )));
        }
        if resp.status() == StatusCode::PARTIAL_CONTENT {
            let range = header(&resp, CONTENT_RANGE).unwrap_or_default();
            let start = range
                .strip_prefix("bytes ")
                .and_then(|r| r.split('-').next())
                .and_then(|n| n.parse::<u64>().ok());
            if start != Some(self.received) {
                return Err(self.protocol(format!(
                    "asked for bytes from {} and got Content-Range `{range}`",
                    self.received
                )));
            }
            let total = range.rsplit('/').next().and_then(|t| t.parse::<u64>().ok());
            if let (Some(exp), Some(t)) = (self.expected, total)
                && exp != t
            {
                return Err(self.protocol(format!(
                    "the object changed size during the download ({exp} then {t} bytes)"
                )));
            }
        } else {
            // The server ignored `Range` and sends everything again, perhaps encoded
            // differently: start over at byte 0 of this response.
            debug!(
                "range ignored after {} bytes; restarting from byte 0",
                self.received
            );
            self.received = 0;
            self.expected = announced_length(&resp);
            self.gzip =
                header(&resp, CONTENT_ENCODING).is_some_and(|e| e.eq_ignore_ascii_case("gzip"));
            self.restarted = true;
            self.tracker.set_total(self.expected);
        }
        self.body = Some(resp.bytes_stream().boxed());
        Ok(())
    }

    fn protocol(&self, detail: String) -> TransferError {
        TransferError::Protocol {
            op: TransferOp::Download,
            url: self.url.redacted(),
            detail,
        }
    }
}

/// The decoded stream: raw chunks through a gzip decoder (when the response is gzip), with the
/// decoded bytes already delivered skipped after a restart from byte 0.
struct Decoded {
    raw: Raw,
    gzip: Option<MultiGzDecoder<Vec<u8>>>,
    /// Decoded bytes handed downstream so far.
    delivered: u64,
    /// Decoded bytes still to drop (the part a restarted response repeats).
    skip: u64,
    done: bool,
}

impl Decoded {
    fn new(raw: Raw) -> Decoded {
        let gzip = raw.gzip.then(|| MultiGzDecoder::new(Vec::new()));
        Decoded {
            raw,
            gzip,
            delivered: 0,
            skip: 0,
            done: false,
        }
    }

    fn decode_error(&self, cause: std::io::Error) -> TransferError {
        TransferError::Decode {
            url: self.raw.url.redacted(),
            cause,
        }
    }

    /// Drops what a restart repeats, counts the rest; `None` when nothing is left.
    fn emit(&mut self, mut out: Bytes) -> Option<Bytes> {
        if self.skip > 0 {
            let drop = self.skip.min(out.len() as u64) as usize;
            self.skip -= drop as u64;
            out = out.slice(drop..);
        }
        if out.is_empty() {
            return None;
        }
        self.delivered += out.len() as u64;
        Some(out)
    }

    async fn next(&mut self) -> Option<Result<Bytes, TransferError>> {
        loop {
            if self.done {
                return None;
            }
            match self.raw.next_chunk().await {
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Some(Ok(chunk)) => {
                    if std::mem::take(&mut self.raw.restarted) {
                        self.gzip = self.raw.gzip.then(|| MultiGzDecoder::new(Vec::new()));
                        self.skip = self.delivered;
                    }
                    let out = match &mut self.gzip {
                        None => chunk,
                        Some(decoder) => {
                            if let Err(e) = decoder.write_all(&chunk) {
                                self.done = true;
                                return Some(Err(self.decode_error(e)));
                            }
                            Bytes::from(std::mem::take(decoder.get_mut()))
                        }
                    };
                    if let Some(out) = self.emit(out) {
                        return Some(Ok(out));
                    }
                }
                None => {
                    self.done = true;
                    // The end of the gzip stream checks its trailer (CRC and length).
                    let rest = match self.gzip.take().map(MultiGzDecoder::finish) {
                        None => return None,
                        Some(Err(e)) => return Some(Err(self.decode_error(e))),
                        Some(Ok(rest)) => rest,
                    };
                    return self.emit(Bytes::from(rest)).map(Ok);
                }
            }
        }
    }
}

/// The text of a header.
fn header(resp: &Response, name: reqwest::header::HeaderName) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The raw length of a full (200) response: `Content-Length`, else GCS's
/// `x-goog-stored-content-length` when the body is sent in its stored encoding.
fn announced_length(resp: &Response) -> Option<u64> {
    if let Some(n) = header(resp, CONTENT_LENGTH).and_then(|v| v.parse().ok()) {
        return Some(n);
    }
    let sent = header(resp, CONTENT_ENCODING).unwrap_or_else(|| "identity".to_owned());
    let stored = header(resp, "x-goog-stored-content-encoding".parse().ok()?)
        .unwrap_or_else(|| "identity".to_owned());
    if sent.eq_ignore_ascii_case(&stored) {
        header(resp, "x-goog-stored-content-length".parse().ok()?).and_then(|v| v.parse().ok())
    } else {
        None
    }
}

impl Transfers {
    /// One GET from byte `from`, with retries for 5xx and network errors.
    async fn get(
        &self,
        url: &SignedUrl,
        from: u64,
        start: Instant,
    ) -> Result<Response, TransferError> {
        let op = TransferOp::Download;
        let mut retries = 0u32;
        let mut target = url.clone();
        let mut hops = 0u32;
        loop {
            let url = &target;
            let mut req = self
                .request(reqwest::Method::GET, url.expose())
                .header(ACCEPT_ENCODING, "gzip");
            if from > 0 {
                req = req.header(RANGE, format!("bytes={from}-"));
            }
            let sent = req.send().await;
            if let Ok(resp) = &sent
                && let Some(next) = redirect_target(url, resp).filter(|_| hops < MAX_REDIRECTS)
            {
                // Each hop decides the Bearer token afresh: it goes only to the API's origin.
                debug!(from = %url, to = %next, "download redirected");
                hops += 1;
                target = next;
                continue;
            }
            let err = match sent {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => storage_error(op, url, resp, retries, start.elapsed()).await,
                Err(e) => transport(op, url, e, retries, start.elapsed()),
            };
            self.back_off(err, op, "retrying", retries).await?;
            retries += 1;
        }
    }

    /// Starts a download: `GET` with `Accept-Encoding: gzip`. Errors of the first request
    /// (expired URL, results not there yet) are returned here; later interruptions are resumed
    /// with `Range` from the last byte received, and only a failure that outlasts the retry budget
    /// ends the stream with an error. The stream yields decoded bytes; gzip is decoded as it
    /// arrives, and the gzip trailer (CRC and length) is checked at the end. The raw length is
    /// checked against `Content-Length` or `x-goog-stored-content-length`.
    pub async fn download(
        &self,
        url: &SignedUrl,
        progress: &Progress,
    ) -> Result<Download, TransferError> {
        let start = Instant::now();
        let resp = self.get(url, 0, start).await?;
        let gzip = header(&resp, CONTENT_ENCODING).is_some_and(|e| e.eq_ignore_ascii_case("gzip"));
        let length = announced_length(&resp);
        let mut tracker = progress.start(length);
        tracker.set_total(length);
        debug!(url = %url, gzip, length, "download started");
        let raw = Raw {
            transfers: self.clone(),
            url: url.clone(),
            etag: header(&resp, ETAG),
            body: Some(resp.bytes_stream().boxed()),
            received: 0,
            expected: length,
            restarted: false,
            gzip,
            failures: 0,
            start,
            tracker,
            done: false,
        };
        // A stored object may be several gzip members back to back; all are one file, which is
        // why the decoder is the multi-member one.
        let stream = futures::stream::unfold(Decoded::new(raw), |mut decoded| async move {
            decoded.next().await.map(|item| (item, decoded))
        })
        .boxed();
        Ok(Download {
            stream,
            gzip,
            length,
        })
    }

    /// Downloads to a file: writes to a temporary name in the same directory, syncs, and renames,
    /// so the file at `path` is always complete or absent.
    pub async fn download_to_file(
        &self,
        url: &SignedUrl,
        path: &Path,
        progress: &Progress,
    ) -> Result<DownloadReport, TransferError> {
        let start = Instant::now();
        let mut download = self.download(url, progress).await?;
        let tmp = temp_path(path);
        let io = |action: &'static str, p: &Path| {
            let p = p.to_owned();
            move |source| TransferError::Io {
                action,
                path: p,
                cause: source,
            }
        };
        let result = async {
            let file = std::fs::File::create(&tmp).map_err(io("create", &tmp))?;
            let (tx, done) = spawn_writer(file);
            let mut pending = BytesMut::with_capacity(WRITE_CHUNK);
            let mut bytes = 0u64;
            while let Some(chunk) = download.next().await {
                let chunk = chunk?;
                bytes += chunk.len() as u64;
                pending.extend_from_slice(&chunk);
                if pending.len() >= WRITE_CHUNK {
                    let full = pending.split().freeze();
                    pending.reserve(WRITE_CHUNK);
                    if tx.send(full).await.is_err() {
                        // The writer stopped on an error, which `done` reports.
                        break;
                    }
                }
            }
            if !pending.is_empty() {
                let _ = tx.send(pending.freeze()).await;
            }
            drop(tx);
            done.await
                .unwrap_or_else(|_| Err(std::io::Error::other("the file writer thread died")))
                .map_err(io("write", &tmp))?;
            tokio::fs::rename(&tmp, path)
                .await
                .map_err(io("rename into place", path))?;
            Ok(bytes)
        }
        .await;
        match result {
            Ok(bytes) => {
                info!(url = %url, bytes, path = %path.display(), "downloaded");
                Ok(DownloadReport {
                    bytes,
                    elapsed: start.elapsed(),
                })
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(e)
            }
        }
    }
}

/// Bytes handed to the writer thread at a time: 1 MiB makes each `write` call cheap relative to
/// the data it moves, whatever size the network delivers.
const WRITE_CHUNK: usize = 1024 * 1024;

/// Chunks queued for the writer: 4 MiB of buffering absorbs disk hiccups without letting memory
/// grow with the file.
const WRITE_QUEUE: usize = 4;

/// Written bytes after which the data is flushed to disk in the background, so that the final
/// `fsync` (which makes the rename crash-safe) waits for at most this much instead of the whole
/// file.
const SYNC_EVERY: u64 = 128 * 1024 * 1024;

/// Writes chunks to `file` on a thread of its own with plain blocking writes; a second thread
/// flushes written data to disk every `SYNC_EVERY` bytes without stalling the writer. The result
/// arrives once the sender is dropped and everything is written and synced.
fn spawn_writer(
    file: std::fs::File,
) -> (
    tokio::sync::mpsc::Sender<Bytes>,
    tokio::sync::oneshot::Receiver<std::io::Result<()>>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(WRITE_QUEUE);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let result = (|| {
            let syncer_file = file.try_clone()?;
            // A queue of one: a sync request made while a sync runs is merged into the next.
            let (sync_tx, sync_rx) = std::sync::mpsc::sync_channel::<()>(1);
            let syncer = std::thread::spawn(move || {
                while sync_rx.recv().is_ok() {
                    syncer_file.sync_data()?;
                }
                Ok::<(), std::io::Error>(())
            });
            let mut file = file;
            let mut unsynced = 0u64;
            while let Some(chunk) = rx.blocking_recv() {
                std::io::Write::write_all(&mut file, &chunk)?;
                unsynced += chunk.len() as u64;
                if unsynced >= SYNC_EVERY {
                    let _ = sync_tx.try_send(());
                    unsynced = 0;
                }
            }
            drop(sync_tx);
            syncer
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the sync thread died")))?;
            file.sync_all()
        })();
        let _ = done_tx.send(result);
    });
    (tx, done_rx)
}

/// `dir/.name.part` next to `path`, so the rename stays on one file system.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "download".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.part"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_sit_next_to_the_target() {
        assert_eq!(
            temp_path(Path::new("/out/results.jsonl")),
            PathBuf::from("/out/.results.jsonl.part")
        );
        assert_eq!(temp_path(Path::new("r")), PathBuf::from(".r.part"));
    }
}
