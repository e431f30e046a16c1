//! Transfers to and from the signed storage URLs of compliance jobs: a streaming PUT with an exact
//! Content-Length, the GCS resumable upload protocol, and a resumable gzip-aware download exposed
//! as a stream of bytes.
//!
//! - Two flows. Since X's September 2026 cutover, `upload_url` and `download_url` are byte paths
//!   on the API (`…/2/compliance/jobs/{id}/upload?token=…`) that need the app's Bearer token too:
//!   [`TransferConfig::api`] holds it, and it is sent only to URLs on the API's own origin
//!   ([`ApiAccess`]), never to a signed Google Cloud Storage URL of the older flow nor wherever a
//!   redirect leads. A byte path refusing its token (401/403 naming `token`) is
//!   [`TransferError::TokenRefused`], which like an expired signed URL means "create a new job";
//!   a refused Bearer token is [`TransferError::Unauthorized`]; 413 is
//!   [`TransferError::TooLarge`].
//! - [`Transfers::upload_file`]: one `PUT` with `Content-Length` = file size and
//!   `Content-Type: application/octet-stream` to a byte path (the specification's type) or
//!   `text/plain` exactly to a signed URL (the value X signs); a 415 is retried once with the
//!   other type. The body is read from disk in 256 KiB chunks by a reader thread with a
//!   four-chunk read-ahead, so memory does not depend on the file size. Network errors and 5xx
//!   answers re-send the file until storage says the URL expired; redirects are followed (at most
//!   five), deciding the Bearer token afresh for each hop.
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
pub use error::{ApiProblem, GcsError, TransferError, TransferOp};
pub use progress::{Progress, ProgressUpdate};
pub use transfers::{
    ApiAccess, DEFAULT_CHUNK_SIZE, RESUMABLE_ALIGN, TransferConfig, TransferRetry, Transfers,
    host_of, is_byte_path,
};
pub use upload::{
    BYTE_PATH_CONTENT_TYPE, Persisted, ResumableSession, UPLOAD_CONTENT_TYPE, UploadReport,
};
pub use xcomply_core::SignedUrl;
