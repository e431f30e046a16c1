//! Request bodies streamed from a file region, in constant memory.
//!
//! A blocking thread reads the file sequentially with plain `read` calls and hands fixed-size
//! chunks to the request through a small bounded channel; the channel's capacity is the whole
//! read-ahead, so memory does not depend on the file size, and the reader never waits on tokio's
//! blocking pool for each chunk.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};

use crate::progress::Tracker;

/// Bytes read per chunk. 256 KiB is large enough that per-chunk overhead (a channel hop, a write
/// call) is negligible at loopback speeds, and small enough that the read-ahead stays around a
/// megabyte.
pub(crate) const READ_CHUNK: usize = 256 * 1024;

/// Chunks read ahead of the network. Four keeps the socket busy while the disk reads the next
/// chunk; more only adds memory.
const READ_AHEAD: usize = 4;

/// A body of `len` bytes of `file` from `offset`. Progress reports `base + bytes handed over`,
/// and `sent` counts them for the caller.
pub(crate) fn file_body(
    mut file: File,
    offset: u64,
    len: u64,
    tracker: Tracker,
    base: u64,
    sent: Arc<AtomicU64>,
) -> reqwest::Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(READ_AHEAD);
    std::thread::spawn(move || {
        if let Err(e) = file.seek(SeekFrom::Start(offset)) {
            let _ = tx.blocking_send(Err(e));
            return;
        }
        let mut left = len;
        while left > 0 {
            let want = left.min(READ_CHUNK as u64) as usize;
            let mut buf = BytesMut::zeroed(want);
            let mut filled = 0;
            while filled < want {
                match file.read(&mut buf[filled..]) {
                    Ok(0) => {
                        let _ = tx.blocking_send(Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            format!("the file ended {left} bytes early; was it changed during the upload?"),
                        )));
                        return;
                    }
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
            left -= want as u64;
            // A closed channel means the request was dropped (failed or cancelled): stop reading.
            if tx.blocking_send(Ok(buf.freeze())).is_err() {
                return;
            }
        }
    });
    let stream = futures::stream::unfold(rx, move |mut rx| {
        let tracker = tracker.clone();
        let sent = sent.clone();
        async move {
            let item = rx.recv().await?;
            if let Ok(chunk) = &item {
                let done =
                    sent.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
                tracker.report(base + done);
            }
            Some((item, rx))
        }
    });
    reqwest::Body::wrap_stream(stream)
}
