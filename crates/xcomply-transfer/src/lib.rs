//! Transfers to and from the signed storage URLs of compliance jobs: a streaming PUT with an exact
//! Content-Length, the GCS resumable upload protocol, and a resumable gzip-aware download exposed
//! as a stream of bytes.
//!
//! - [`Transfers::upload_file`]: one `PUT` with `Content-Type: text/plain` exactly (the value X
//!   signs), `Content-Length` = file size, the body read from disk in 256 KiB chunks by a reader
//!   thread with a four-chunk read-ahead, so memory does not depend on the file size. Network
//!   errors and 5xx answers re-send the file until storage says the URL expired.
//! - [`Transfers::upload_resumable`]: `POST` start with the four signed headers, then chunks of
//!   [`TransferConfig::chunk_size`] (8 MiB by default, a multiple of 256 KiB) with
//!   `Content-Range: bytes a-b/*`; the final chunk carries the total. After a failed chunk it asks
//!   storage for the persisted offset (`bytes */total`) and continues from there.
//!   [`Transfers::start_resumable`], [`Transfers::resumable_status`] and
//!   [`Transfers::continue_resumable`] expose the steps for callers that persist the session.
//! - [`Transfers::download`]: `GET` with `Accept-Encoding: gzip`, returning a [`Download`] — a
//!   `Stream<Item = Result<Bytes, TransferError>>` of decoded bytes, never buffered whole. An
//!   interruption resumes with `Range` from the last raw byte received; the raw length is checked
//!   against `Content-Length` or `x-goog-stored-content-length`, and gzip's own trailer checks the
//!   decoded bytes. [`Transfers::download_to_file`] writes to a temporary name and renames.
//! - GCS XML errors become actionable [`TransferError`]s: `ExpiredToken` reads "upload URL expired
//!   at …: create a new job", `SignatureDoesNotMatch` says which kind of upload the URL wants.
//! - [`Progress`] hooks report bytes done, the total and the elapsed time.
//!
//! Signed URLs are [`SignedUrl`]s and appear in errors and logs only redacted; transport errors
//! are stripped of their URL.
//!
//! It deliberately does not parse what it moves: results go to `xcomply-jsonl` as bytes. It does
//! not talk to the jobs API either: the URLs come from `xcomply-client`.
//!
//! # Example
//!
//! ```no_run
//! use futures::StreamExt;
//! use xcomply_core::SignedUrl;
//! use xcomply_transfer::{Progress, TransferConfig, Transfers};
//!
//! # async fn demo(upload_url: SignedUrl, download_url: SignedUrl) -> Result<(), xcomply_transfer::TransferError> {
//! let transfers = Transfers::new(TransferConfig::default())?;
//! let progress = Progress::new(|p| eprintln!("{} of {:?} bytes", p.done, p.total));
//! transfers.upload_file(&upload_url, "ids.txt".as_ref(), &progress).await?;
//! let mut results = transfers.download(&download_url, &Progress::none()).await?;
//! while let Some(bytes) = results.next().await {
//!     let bytes = bytes?; // decoded JSON Lines, in pieces of up to 256 KiB
//! #   let _ = bytes;
//! }
//! # Ok(())
//! # }
//! ```

mod body;
mod download;
mod error;
mod progress;
mod transfers;
mod upload;

pub use download::{Download, DownloadReport};
pub use error::{GcsError, TransferError, TransferOp};
pub use progress::{Progress, ProgressUpdate};
pub use transfers::{
    DEFAULT_CHUNK_SIZE, RESUMABLE_ALIGN, TransferConfig, TransferRetry, Transfers,
};
pub use upload::{Persisted, ResumableSession, UPLOAD_CONTENT_TYPE, UploadReport};
pub use xcomply_core::SignedUrl;
