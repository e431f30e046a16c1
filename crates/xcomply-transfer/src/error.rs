//! The one error type of the transfer crate, and the parsing of GCS XML error bodies.
//!
//! URLs in messages are always redacted (`X-Goog-Signature=REDACTED`, `upload_id=REDACTED`), and
//! transport errors are stripped of their URL before they are kept.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Which transfer failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum TransferOp {
    /// The single PUT of a simple upload.
    Upload,
    /// The POST that starts a resumable session.
    ResumableStart,
    /// A chunk PUT or status query of a resumable session.
    ResumableChunk,
    /// The GET of the results.
    Download,
}

impl fmt::Display for TransferOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransferOp::Upload => "upload",
            TransferOp::ResumableStart => "resumable upload start",
            TransferOp::ResumableChunk => "resumable upload",
            TransferOp::Download => "download",
        })
    }
}

/// A GCS XML error body: `<Error><Code>…</Code><Message>…</Message><Details>…</Details></Error>`.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct GcsError {
    /// `ExpiredToken`, `SignatureDoesNotMatch`, `NoSuchKey`, …
    pub code: String,
    /// The short message.
    pub message: String,
    /// The details, when present (the expiry time of an `ExpiredToken`, for example).
    pub details: Option<String>,
}

impl GcsError {
    /// Parses a GCS XML error body; `None` when the body is not one. Only the three text
    /// elements are read: `StringToSign` and `CanonicalRequest` are deliberately ignored.
    pub fn parse(body: &str) -> Option<GcsError> {
        let code = element(body, "Code")?;
        Some(GcsError {
            code,
            message: element(body, "Message").unwrap_or_default(),
            details: element(body, "Details"),
        })
    }

    /// For `ExpiredToken`, the expiry time as GCS wrote it (`2026-09-11T23:48:45+00:00`).
    pub fn expired_at(&self) -> Option<&str> {
        let text = self.details.as_deref().unwrap_or(&self.message);
        let at = text.split("expired at:").nth(1)?.trim();
        Some(at.trim_end_matches('.'))
    }
}

/// A problem-details body of the live API's byte paths (`application/problem+json`): only the
/// fields a transfer acts on.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ApiProblem {
    /// The problem type URI.
    pub problem_type: String,
    /// The short summary.
    pub title: String,
    /// The explanation.
    pub detail: Option<String>,
    /// The request parameter at fault; `token` when the URL's token was refused.
    pub parameter: Option<String>,
}

impl ApiProblem {
    /// Parses a problem-details body; `None` when the body is not JSON with a `type` and a
    /// `title`.
    pub fn parse(body: &str) -> Option<ApiProblem> {
        let v: serde_json::Value = serde_json::from_str(body.trim_start()).ok()?;
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        Some(ApiProblem {
            problem_type: text("type")?,
            title: text("title")?,
            detail: text("detail"),
            parameter: text("parameter"),
        })
    }

    /// The byte limit a 413's detail states ("… at most 128000000 bytes …"), if it states one.
    /// The live API's wording is not documented, so this is only a hint.
    pub fn limit_hint(&self) -> Option<u64> {
        let detail = self.detail.as_deref()?;
        let after = detail.split("at most ").nth(1)?;
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    }
}

/// The unescaped text of the first `<name>…</name>` element.
fn element(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = body.find(&open)? + open.len();
    let end = start + body[start..].find(&close)?;
    Some(
        body[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// Every way a transfer can fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// The signed URL has expired; only a new job brings a new one.
    #[error("{op} URL expired at {}: create a new job ({url})", .expired_at.as_deref().unwrap_or("an unknown time"))]
    Expired {
        /// Which transfer.
        op: TransferOp,
        /// The redacted URL.
        url: String,
        /// The expiry time GCS reported.
        expired_at: Option<String>,
    },

    /// The server refused the upload as too large (413). Retrying the same bytes cannot help:
    /// the IDs must be split across more jobs.
    #[error("{op} to {url} refused with http 413 (the file is too large{}){}: split the IDs across more jobs (a smaller --max-bytes-per-job)", .limit_hint.map(|n| format!("; the limit is {n} bytes")).unwrap_or_default(), .detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    TooLarge {
        /// Which transfer.
        op: TransferOp,
        /// The redacted URL.
        url: String,
        /// The limit the server stated, when it stated one.
        limit_hint: Option<u64>,
        /// The server's explanation.
        detail: Option<String>,
    },

    /// A byte path refused the URL's own token (expired, for the other operation, or not a token
    /// of this job). Only a new job brings a new URL.
    #[error("{op} to {url} refused the URL's token with http {status}: {detail}: create a new job")]
    TokenRefused {
        /// Which transfer.
        op: TransferOp,
        /// The redacted URL.
        url: String,
        /// 401 or 403.
        status: u16,
        /// The server's explanation.
        detail: String,
    },

    /// A byte path refused the Bearer token (401): the credentials are wrong or belong to
    /// another app than the job's.
    #[error(
        "{op} to {url} refused the bearer token with http 401: {detail}: check X_BEARER_TOKEN (or --token-file); it must be the token of the app that created the job"
    )]
    Unauthorized {
        /// Which transfer.
        op: TransferOp,
        /// The redacted URL.
        url: String,
        /// The server's explanation.
        detail: String,
    },

    /// Storage refused the request with an error status.
    #[error("{op} to {url} failed with http {status} {}: {}", tries_in(*.retries, *.elapsed), storage_message(*.status, .gcs.as_deref(), .body.as_deref(), *.op))]
    Storage {
        /// Which transfer.
        op: TransferOp,
        /// The redacted URL.
        url: String,
        /// The last status.
        status: u16,
        /// The parsed XML error, when the body was one (boxed to keep the error small).
        gcs: Option<Box<GcsError>>,
        /// The start of a body that was not a GCS error.
        body: Option<String>,
        /// Repeats after the first try.
        retries: u32,
        /// Time from the first try to the last answer.
        elapsed: Duration,
    },

    /// The connection failed, was reset, or timed out, on every try.
    #[error("{op} to {url} failed {}: {}", tries_in(*.retries, *.elapsed), chain(.cause))]
    Transport {
        /// Which transfer.
        op: TransferOp,
        /// The redacted URL.
        url: String,
        /// The last transport error, without its URL.
        cause: reqwest::Error,
        /// Repeats after the first try.
        retries: u32,
        /// Time from the first try to the last failure.
        elapsed: Duration,
    },

    /// The server broke the protocol: a missing `Location`, an impossible `Range`, a wrong length.
    #[error("{op} to {url}: {detail}")]
    Protocol {
        /// Which transfer.
        op: TransferOp,
        /// The redacted URL.
        url: String,
        /// What was wrong.
        detail: String,
    },

    /// A local file could not be read or written.
    #[error("cannot {action} {}: {cause}", .path.display())]
    Io {
        /// `read`, `create`, `write`, `rename`…
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },

    /// The downloaded bytes are not valid gzip.
    #[error("download from {url}: the gzip stream is corrupt: {cause}")]
    Decode {
        /// The redacted URL.
        url: String,
        /// The decoder's error.
        cause: std::io::Error,
    },

    /// The transfer was configured wrongly (chunk size, client).
    #[error("{0}")]
    Config(String),
}

/// An error and its causes on one line. Kept in the message rather than exposed as `source`, so
/// that callers printing the chain do not print it twice.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    xcomply_core::error_chain(err)
}

/// `host[:port]/path` of a URL, without scheme and query string: where a transfer went, short
/// enough for a one-line warning and free of signatures whatever the URL holds.
pub fn host_and_path(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("");
            match u.port() {
                Some(port) => format!("{host}:{port}{}", u.path()),
                None => format!("{host}{}", u.path()),
            }
        }
        // Not a URL (never the case for a signed URL): keep what precedes any query string.
        Err(_) => url.split(['?', '#']).next().unwrap_or("").to_owned(),
    }
}

/// "after 1 try in 0.2s" / "after 6 tries in 31.0s".
pub(crate) fn tries_in(retries: u32, elapsed: Duration) -> String {
    let tries = retries + 1;
    let plural = if tries == 1 { "try" } else { "tries" };
    format!("after {tries} {plural} in {:.1}s", elapsed.as_secs_f64())
}

/// What storage said, and what to do about it.
fn storage_message(
    status: u16,
    gcs: Option<&GcsError>,
    body: Option<&str>,
    op: TransferOp,
) -> String {
    let said = match (gcs, body) {
        (Some(g), _) => match &g.details {
            Some(d) => format!("{}: {}: {d}", g.code, g.message),
            None => format!("{}: {}", g.code, g.message),
        },
        (None, Some(b)) if !b.is_empty() => format!("`{b}`"),
        _ => "no error body".to_owned(),
    };
    let code = gcs.map_or("", |g| g.code.as_str());
    let hint = match (code, op) {
        ("SignatureDoesNotMatch", TransferOp::Upload) => {
            "the URL was signed for another verb or headers; a job created with --resumable needs \
             a resumable upload, and a plain job a simple one"
        }
        ("SignatureDoesNotMatch", TransferOp::ResumableStart) => {
            "the URL is not signed for a resumable upload; create the job with resumable set"
        }
        ("SignatureDoesNotMatch", _) => "the URL or its signature was altered",
        ("NoSuchKey", TransferOp::Download) => {
            "the results do not exist yet; wait until the job is complete"
        }
        ("MalformedSecurityHeader", _) => {
            "the signed URL is malformed; use it exactly as the API gave it"
        }
        _ if status >= 500 => "storage kept failing; try again later",
        _ => "",
    };
    if hint.is_empty() {
        said
    } else {
        format!("{said}: {hint}")
    }
}

impl TransferError {
    /// What happened, in a few words, for a one-line retry warning: `http 503 (ServiceUnavailable)`,
    /// `connection failed: Connection refused (os error 111)`. Never holds the URL.
    pub fn brief(&self) -> String {
        match self {
            TransferError::Storage { status, gcs, .. } => match gcs {
                Some(g) => format!("http {status} ({})", g.code),
                None => format!("http {status}"),
            },
            TransferError::Transport { cause, .. } => {
                let what = if cause.is_timeout() {
                    "timed out"
                } else if cause.is_connect() {
                    "connection failed"
                } else {
                    "connection broken"
                };
                match xcomply_core::root_cause(cause) {
                    Some(root) => format!("{what}: {root}"),
                    None => what.to_owned(),
                }
            }
            TransferError::Expired { .. } => "the URL expired".to_owned(),
            TransferError::TooLarge { .. } => "http 413 (too large)".to_owned(),
            TransferError::TokenRefused { status, .. } => {
                format!("http {status} (the URL's token was refused)")
            }
            TransferError::Unauthorized { .. } => "http 401 (bearer token refused)".to_owned(),
            TransferError::Protocol { detail, .. } | TransferError::Config(detail) => {
                detail.clone()
            }
            TransferError::Io { action, cause, .. } => format!("cannot {action} the file: {cause}"),
            TransferError::Decode { cause, .. } => format!("corrupt gzip: {cause}"),
        }
    }

    /// The redacted URL the transfer went to, when there is one.
    pub fn url(&self) -> Option<&str> {
        match self {
            TransferError::Expired { url, .. }
            | TransferError::TooLarge { url, .. }
            | TransferError::TokenRefused { url, .. }
            | TransferError::Unauthorized { url, .. }
            | TransferError::Storage { url, .. }
            | TransferError::Transport { url, .. }
            | TransferError::Protocol { url, .. }
            | TransferError::Decode { url, .. } => Some(url),
            TransferError::Io { .. } | TransferError::Config(_) => None,
        }
    }

    /// Whether the URL can no longer be used and only a new job brings a new one: an expired
    /// signed URL, or a byte-path token refused as expired, for the other operation, or foreign.
    pub fn is_expired(&self) -> bool {
        matches!(
            self,
            TransferError::Expired { .. } | TransferError::TokenRefused { .. }
        )
    }

    /// Whether the Bearer token was refused: a credentials problem, retrying cannot help.
    pub fn is_auth(&self) -> bool {
        matches!(self, TransferError::Unauthorized { .. })
    }

    /// Whether the upload was refused as too large (413).
    pub fn is_too_large(&self) -> bool {
        matches!(self, TransferError::TooLarge { .. })
    }

    /// The HTTP status, when storage answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            TransferError::Storage { status, .. } | TransferError::TokenRefused { status, .. } => {
                Some(*status)
            }
            TransferError::TooLarge { .. } => Some(413),
            TransferError::Unauthorized { .. } => Some(401),
            TransferError::Expired { .. } => Some(400),
            _ => None,
        }
    }

    /// The parsed GCS error, when storage sent one.
    pub fn gcs(&self) -> Option<&GcsError> {
        match self {
            TransferError::Storage { gcs, .. } => gcs.as_deref(),
            _ => None,
        }
    }

    /// Whether storage refused access (403): a signature problem, retrying cannot help.
    pub fn is_forbidden(&self) -> bool {
        self.status() == Some(403)
    }

    /// Whether the same transfer may work later (network trouble, 5xx).
    pub fn is_retryable(&self) -> bool {
        match self {
            TransferError::Storage { status, .. } => is_retryable_status(*status),
            TransferError::Transport { .. } => true,
            _ => false,
        }
    }

    /// Repeats after the first try.
    pub fn retries(&self) -> u32 {
        match self {
            TransferError::Storage { retries, .. } | TransferError::Transport { retries, .. } => {
                *retries
            }
            _ => 0,
        }
    }
}

/// Statuses worth repeating.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPIRED_2026: &str = "<?xml version='1.0' encoding='UTF-8'?><Error><Code>ExpiredToken</Code><Message>Invalid argument.</Message><Details>The provided token has expired. Request signature expired at: 2026-09-11T23:48:45+00:00</Details></Error>";
    const EXPIRED_2021: &str = "<?xml version='1.0' encoding='UTF-8'?><Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message><Details>Request signature expired at: 2021-01-15T14:01:50+00:00</Details></Error>";

    #[test]
    fn gcs_errors_parse_in_both_wordings() {
        let e = GcsError::parse(EXPIRED_2026).unwrap();
        assert_eq!(e.code, "ExpiredToken");
        assert_eq!(e.message, "Invalid argument.");
        assert_eq!(e.expired_at(), Some("2026-09-11T23:48:45+00:00"));
        let e = GcsError::parse(EXPIRED_2021).unwrap();
        assert_eq!(e.expired_at(), Some("2021-01-15T14:01:50+00:00"));
        assert_eq!(GcsError::parse("not xml"), None);
        let sig = GcsError::parse("<Error><Code>SignatureDoesNotMatch</Code><Message>Access denied.</Message><StringToSign>GOOG4 &amp;</StringToSign></Error>").unwrap();
        assert_eq!(sig.details, None);
        assert_eq!(sig.expired_at(), None);
    }

    #[test]
    fn briefs_are_short_and_hold_no_url() {
        let url = "http://127.0.0.1:4000/bucket/tweets/123?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Signature=REDACTED";
        assert_eq!(host_and_path(url), "127.0.0.1:4000/bucket/tweets/123");
        assert_eq!(
            host_and_path("https://storage.googleapis.com/b/o?upload_id=REDACTED"),
            "storage.googleapis.com/b/o"
        );
        let err = TransferError::Storage {
            op: TransferOp::Upload,
            url: url.into(),
            status: 503,
            gcs: GcsError::parse(
                "<Error><Code>ServiceUnavailable</Code><Message>busy</Message></Error>",
            )
            .map(Box::new),
            body: None,
            retries: 2,
            elapsed: Duration::from_secs(1),
        };
        assert_eq!(err.brief(), "http 503 (ServiceUnavailable)");
        assert_eq!(err.url(), Some(url));
    }

    #[test]
    fn messages_are_actionable() {
        let expired = TransferError::Expired {
            op: TransferOp::Upload,
            url: "http://h/b/o?X-Goog-Signature=REDACTED".into(),
            expired_at: Some("2026-09-11T23:48:45+00:00".into()),
        };
        assert_eq!(
            expired.to_string(),
            "upload URL expired at 2026-09-11T23:48:45+00:00: create a new job \
             (http://h/b/o?X-Goog-Signature=REDACTED)"
        );
        let sig = TransferError::Storage {
            op: TransferOp::Upload,
            url: "u".into(),
            status: 403,
            gcs: GcsError::parse(
                "<Error><Code>SignatureDoesNotMatch</Code><Message>Access denied.</Message></Error>",
            )
            .map(Box::new),
            body: None,
            retries: 0,
            elapsed: Duration::from_millis(20),
        };
        assert!(sig.is_forbidden() && !sig.is_retryable());
        assert_eq!(
            sig.to_string(),
            "upload to u failed with http 403 after 1 try in 0.0s: SignatureDoesNotMatch: Access \
             denied.: the URL was signed for another verb or headers; a job created with \
             --resumable needs a resumable upload, and a plain job a simple one"
        );
    }
}
