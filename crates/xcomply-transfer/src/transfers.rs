//! The transfer client: configuration and the helpers shared by uploads and downloads.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use xcomply_core::SignedUrl;

use crate::error::{ApiProblem, GcsError, TransferError, TransferOp, is_retryable_status};

/// The GCS resumable protocol needs every chunk but the last to be a multiple of this.
pub const RESUMABLE_ALIGN: u64 = 256 * 1024;

/// The default resumable chunk: 8 MiB is what Google's own clients use; it keeps the per-chunk
/// round trip under a few percent of the transfer time while a failure re-sends little.
pub const DEFAULT_CHUNK_SIZE: u64 = 8 * 1024 * 1024;

/// The most of a non-XML error body kept for the message.
const BODY_SNIPPET_CHARS: usize = 200;

/// How patiently a transfer is repeated after a failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferRetry {
    /// Consecutive failed tries allowed after the first, for 5xx, 408, 429 and network errors.
    /// A try that moves data forward (a persisted chunk, received bytes) resets the count. Eight
    /// with the default backoff spans about two minutes, which outlasts a storage blip.
    pub max_retries: u32,
    /// The first backoff; each further one doubles, up to `max_backoff`.
    pub initial_backoff: Duration,
    /// The ceiling of one backoff.
    pub max_backoff: Duration,
}

impl Default for TransferRetry {
    fn default() -> TransferRetry {
        TransferRetry {
            max_retries: 8,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl TransferRetry {
    /// The wait before repeat number `retry` (0-based): exponential with equal jitter.
    pub fn backoff(&self, retry: u32) -> Duration {
        xcomply_core::equal_jitter_backoff(
            self.initial_backoff,
            self.max_backoff,
            retry,
            fastrand::f64(),
        )
    }
}

/// The app's Bearer token and the origin of the API it belongs to.
///
/// Since X's September 2026 cutover, upload and download URLs are byte paths on the API itself
/// (`https://api.x.com/2/compliance/jobs/{id}/upload?token=…`) and need the Bearer token as well
/// as their own token. The Bearer token is sent to a transfer URL **only when its scheme, host
/// and port equal the API's**: a legacy Google Cloud Storage URL, or wherever a redirect leads,
/// never sees it.
#[derive(Clone)]
pub struct ApiAccess {
    origin: url::Origin,
    token: String,
}

impl ApiAccess {
    /// The token of the app whose API is at `api_base` (`https://api.x.com`).
    pub fn new(api_base: &str, token: impl Into<String>) -> Result<ApiAccess, TransferError> {
        let base = url::Url::parse(api_base).map_err(|e| {
            TransferError::Config(format!("the API base `{api_base}` is not a URL: {e}"))
        })?;
        Ok(ApiAccess {
            origin: base.origin(),
            token: token.into(),
        })
    }

    /// Whether `url` is on the API's origin (same scheme, host and port, default ports
    /// included).
    pub fn same_origin(&self, url: &str) -> bool {
        url::Url::parse(url).is_ok_and(|u| u.origin() == self.origin)
    }
}

impl std::fmt::Debug for ApiAccess {
    // The token is a secret: only the origin is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiAccess")
            .field("origin", &self.origin.ascii_serialization())
            .field("token", &"REDACTED")
            .finish()
    }
}

/// `scheme://host[:port]` of a URL, without path or query (so without any secret), for messages.
pub fn host_of(url: &str) -> String {
    url::Url::parse(url).map_or_else(
        |_| "the URL".to_owned(),
        |u| u.origin().ascii_serialization(),
    )
}

/// Whether a URL is one of the live API's byte paths (`/2/compliance/jobs/{id}/upload` or
/// `…/download`), which take `application/octet-stream`, rather than a signed storage URL, which
/// is signed for `text/plain`.
pub fn is_byte_path(url: &str) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    let mut segments = u.path().trim_end_matches('/').rsplit('/');
    let (Some(last), Some(id), Some(jobs), Some(compliance), Some(version)) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return false;
    };
    matches!(last, "upload" | "download")
        && !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_digit())
        && jobs == "jobs"
        && compliance == "compliance"
        && version == "2"
}

/// Redirects followed by one transfer: a byte path may hand the bytes to storage elsewhere, but
/// a loop must end.
pub(crate) const MAX_REDIRECTS: u32 = 5;

/// How transfers behave.
#[derive(Clone, Debug)]
pub struct TransferConfig {
    /// Retry bounds.
    pub retry: TransferRetry,
    /// The resumable chunk size: a multiple of 256 KiB.
    pub chunk_size: u64,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed between two reads of an answer; there is no limit on a whole transfer, which
    /// may take hours. 60 s of silence means the connection is dead.
    pub read_timeout: Duration,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// The API's origin and Bearer token, for byte-path URLs on that origin; `None` sends no
    /// Bearer token anywhere (enough for signed GCS URLs).
    pub api: Option<ApiAccess>,
}

impl Default for TransferConfig {
    fn default() -> TransferConfig {
        TransferConfig {
            retry: TransferRetry::default(),
            chunk_size: DEFAULT_CHUNK_SIZE,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            user_agent: concat!("xcomply/", env!("CARGO_PKG_VERSION")).to_owned(),
            api: None,
        }
    }
}

/// Uploads to and downloads from signed URLs. Cheap to clone; clones share the connection pool.
#[derive(Clone, Debug)]
pub struct Transfers {
    pub(crate) http: reqwest::Client,
    pub(crate) config: Arc<TransferConfig>,
}

impl Transfers {
    /// Builds the transfer client. Installs the `ring` TLS provider if none is installed yet.
    pub fn new(config: TransferConfig) -> Result<Transfers, TransferError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        if config.chunk_size == 0 || !config.chunk_size.is_multiple_of(RESUMABLE_ALIGN) {
            return Err(TransferError::Config(format!(
                "resumable chunk size {} is not a positive multiple of 256 KiB ({RESUMABLE_ALIGN} \
                 bytes)",
                config.chunk_size
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .user_agent(config.user_agent.clone())
            // A 308 is part of the resumable protocol, never a redirect to follow, and a signed
            // URL must not be sent anywhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| TransferError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Transfers {
            http,
            config: Arc::new(config),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TransferConfig {
        &self.config
    }

    /// A request to a transfer URL, with the Bearer token when (and only when) the URL is on the
    /// API's origin.
    pub(crate) fn request(&self, method: Method, url: &str) -> RequestBuilder {
        let req = self.http.request(method, url);
        match &self.config.api {
            Some(api) if api.same_origin(url) => req.bearer_auth(&api.token),
            _ => req,
        }
    }
}

/// Where a redirect answer points, resolved against the URL that answered; `None` when the
/// answer is not a redirect to follow. (A 308 of the resumable protocol is never passed here.)
pub(crate) fn redirect_target(url: &SignedUrl, resp: &Response) -> Option<SignedUrl> {
    if !matches!(
        resp.status(),
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    ) {
        return None;
    }
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)?
        .to_str()
        .ok()?;
    let next = url::Url::parse(url.expose()).ok()?.join(location).ok()?;
    Some(SignedUrl::new(next.to_string()))
}

/// Turns a storage error answer into the error, reading its XML body.
pub(crate) async fn storage_error(
    op: TransferOp,
    url: &SignedUrl,
    resp: Response,
    retries: u32,
    elapsed: Duration,
) -> TransferError {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let problem = ApiProblem::parse(&text);
    if let Some(p) = &problem {
        match status {
            413 => {
                return TransferError::TooLarge {
                    op,
                    url: url.redacted(),
                    limit_hint: p.limit_hint(),
                    detail: p.detail.clone(),
                };
            }
            // A byte path names its `token` parameter when the URL's token is refused (forged,
            // expired, or for the other operation): the job needs a new URL, which only a new
            // job brings, exactly as with an expired signed URL.
            401 | 403 if p.parameter.as_deref() == Some("token") => {
                return TransferError::TokenRefused {
                    op,
                    url: url.redacted(),
                    status,
                    detail: p.detail.clone().unwrap_or_else(|| p.title.clone()),
                };
            }
            401 => {
                return TransferError::Unauthorized {
                    op,
                    url: url.redacted(),
                    detail: p.detail.clone().unwrap_or_else(|| p.title.clone()),
                };
            }
            _ => {}
        }
    }
    if status == 413 {
        return TransferError::TooLarge {
            op,
            url: url.redacted(),
            limit_hint: None,
            detail: None,
        };
    }
    let gcs = GcsError::parse(&text);
    if let Some(g) = &gcs
        && g.code == "ExpiredToken"
    {
        return TransferError::Expired {
            op,
            url: url.redacted(),
            expired_at: g.expired_at().map(str::to_owned),
        };
    }
    let body = gcs.is_none().then(|| {
        let mut s: String = text.chars().take(BODY_SNIPPET_CHARS).collect();
        if text.chars().count() > BODY_SNIPPET_CHARS {
            s.push('…');
        }
        s.replace(['\n', '\r'], " ")
    });
    TransferError::Storage {
        op,
        url: url.redacted(),
        status,
        gcs: gcs.map(Box::new),
        body,
        retries,
        elapsed,
    }
}

/// A transport error, stripped of its URL (which holds the signature).
pub(crate) fn transport(
    op: TransferOp,
    url: &SignedUrl,
    e: reqwest::Error,
    retries: u32,
    elapsed: Duration,
) -> TransferError {
    TransferError::Transport {
        op,
        url: url.redacted(),
        cause: e.without_url(),
        retries,
        elapsed,
    }
}

/// Whether an error is worth another try.
pub(crate) fn retryable(err: &TransferError) -> bool {
    match err {
        TransferError::Storage { status, .. } => is_retryable_status(*status),
        TransferError::Transport { cause, .. } => !cause.is_builder(),
        _ => false,
    }
}

/// Logs a failed try that will be repeated: one short line at warn level (operation, host and
/// object path, what happened, what happens next), and the whole error, with its redacted URL,
/// at debug level. `next` says what happens next ("re-sending the file").
impl Transfers {
    /// The common end of a failed try: gives `err` back when it is not retryable or retry number
    /// `retry` (0-based) would pass the limit, else logs one line saying what happens `next` and
    /// waits the backoff.
    pub(crate) async fn back_off(
        &self,
        err: TransferError,
        op: TransferOp,
        next: &str,
        retry: u32,
    ) -> Result<(), TransferError> {
        let max = self.config.retry.max_retries;
        if !retryable(&err) || retry >= max {
            return Err(err);
        }
        let wait = self.config.retry.backoff(retry);
        warn_retry(&err, op, next, wait, retry, max);
        tokio::time::sleep(wait).await;
        Ok(())
    }
}

pub(crate) fn warn_retry(
    err: &TransferError,
    op: TransferOp,
    next: &str,
    wait: Duration,
    retry: u32,
    max: u32,
) {
    let target = err
        .url()
        .map(crate::error::host_and_path)
        .unwrap_or_default();
    tracing::warn!(
        "{op} to {target}: {}; {next} in {:.1}s (retry {} of {max})",
        err.brief(),
        wait.as_secs_f64(),
        retry + 1
    );
    tracing::debug!("{op} failed, retrying: {err}");
}
