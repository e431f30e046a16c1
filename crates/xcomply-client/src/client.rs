//! The client: configuration, the four job endpoints, the retry loop and `wait_for_job`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use reqwest::{Method, RequestBuilder, StatusCode};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use xcomply_core::{
    ComplianceJob, CreateJobRequest, JobId, JobListResponse, JobResponse, JobStatus, JobType,
    MAX_JOB_NAME_CHARS, Problem, ProblemItem,
};

use crate::error::{
    ApiFailure, ClientError, Operation, is_retryable_status, is_retryable_transport,
};
use crate::governor::{Admission, Governor, retry_after};
use crate::{BearerToken, RetryPolicy};

/// The real API.
pub const DEFAULT_BASE_URL: &str = "https://api.x.com";

/// The most of a non-problem error body kept for the message: enough to recognise an HTML error
/// page or a proxy's text, short enough for one line.
const BODY_SNIPPET_CHARS: usize = 200;

/// How to reach the API.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Base URL without the `/2/...` path, e.g. `https://api.x.com` or the emulator's.
    pub base_url: String,
    /// The app-only bearer token.
    pub token: BearerToken,
    /// Retry bounds.
    pub retry: RetryPolicy,
    /// Time allowed to open a connection. 10 s is far above any healthy TLS handshake.
    pub connect_timeout: Duration,
    /// Time allowed for one whole request and answer. The job endpoints answer small JSON in well
    /// under a second; 60 s only cuts off a hung connection.
    pub request_timeout: Duration,
    /// The `User-Agent` header.
    pub user_agent: String,
}

impl ClientConfig {
    /// A configuration with the default retry policy and timeouts.
    pub fn new(base_url: impl Into<String>, token: BearerToken) -> ClientConfig {
        ClientConfig {
            base_url: base_url.into(),
            token,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            user_agent: concat!("xcomply/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// How `wait_for_job` polls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitOptions {
    /// The shortest time between two polls of one job. 6 s is the API's whole budget for the
    /// endpoint (150 requests per 15 minutes) spent on one job; the governor stretches it further
    /// when other tasks share the budget.
    pub min_interval: Duration,
    /// The longest time between two polls: jobs take minutes to hours, and a result found a
    /// minute late costs little.
    pub max_interval: Duration,
    /// Give up after this long (`None`: wait as long as it takes).
    pub timeout: Option<Duration>,
}

impl Default for WaitOptions {
    fn default() -> WaitOptions {
        WaitOptions {
            min_interval: Duration::from_secs(6),
            max_interval: Duration::from_secs(60),
            timeout: None,
        }
    }
}

/// Each poll that sees no change stretches the interval by this factor, so a long job costs a few
/// dozen requests an hour while a short one is noticed within seconds.
const POLL_GROWTH: f64 = 1.5;

/// Consecutive polls that may fail (after their own retries) before `wait_for_job` gives up: a
/// short outage of the API should not end a wait of hours.
const MAX_FAILED_POLLS: u32 = 3;

/// The four endpoints, each with its own rate-limit window.
#[derive(Clone, Copy, Debug)]
enum Endpoint {
    Create = 0,
    List = 1,
    Get = 2,
    Cancel = 3,
}

const ENDPOINT_NAMES: [&str; 4] = [
    "POST /2/compliance/jobs",
    "GET /2/compliance/jobs",
    "GET /2/compliance/jobs/:id",
    "DELETE /2/compliance/jobs/:id",
];

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    jobs_url: String,
    auth: HeaderValue,
    retry: RetryPolicy,
    governors: [Governor; 4],
}

/// The compliance jobs API. Cheap to clone; clones share the connection pool and the rate-limit
/// governors, so every task of a process draws from the same per-endpoint budget.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

impl Client {
    /// Builds a client. Installs the `ring` TLS provider if none is installed yet.
    pub fn new(config: ClientConfig) -> Result<Client, ClientError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let base = url::Url::parse(config.base_url.trim_end_matches('/')).map_err(|e| {
            ClientError::Config(format!(
                "invalid API base URL `{}`: {e}; expected e.g. {DEFAULT_BASE_URL}",
                config.base_url
            ))
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.query().is_some() {
            return Err(ClientError::Config(format!(
                "invalid API base URL `{}`: expected an http or https URL without query, e.g. \
                 {DEFAULT_BASE_URL}",
                config.base_url
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(config.user_agent)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ClientError::Config(format!("cannot build the HTTP client: {e}")))?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", config.token.expose()))
            .map_err(|_| {
                ClientError::Config("the bearer token cannot be sent in a header".to_owned())
            })?;
        // Sensitive header values are left out of hyper's and reqwest's own debug output.
        auth.set_sensitive(true);
        let jobs_url = format!("{}/2/compliance/jobs", base.as_str().trim_end_matches('/'));
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                jobs_url,
                auth,
                retry: config.retry,
                governors: ENDPOINT_NAMES.map(Governor::new),
            }),
        })
    }

    /// `POST /2/compliance/jobs`: creates a job. `name` is at most 64 characters.
    ///
    /// If a retry of the request is refused as a conflict, the first try probably created the job
    /// before its answer was lost; the client then returns the `created` job of that type with the
    /// same name and resumability instead of failing.
    ///
    /// Since X's September 2026 cutover resumable uploads no longer exist and `"resumable": true`
    /// is refused with 400: such a refusal is retried once without it, so the job comes back with
    /// `resumable` false and must be uploaded with one PUT.
    pub async fn create_job(
        &self,
        job_type: &JobType,
        name: Option<&str>,
        resumable: bool,
    ) -> Result<ComplianceJob, ClientError> {
        match self.create_once(job_type, name, resumable).await {
            Err(err) if resumable && refuses_resumable(&err) => {
                warn!(
                    "the API refused a resumable {job_type} job ({}); creating it without \
                     resumable, to be uploaded with one PUT",
                    err.problem().map_or_else(String::new, ToString::to_string)
                );
                self.create_once(job_type, name, false).await
            }
            other => other,
        }
    }

    async fn create_once(
        &self,
        job_type: &JobType,
        name: Option<&str>,
        resumable: bool,
    ) -> Result<ComplianceJob, ClientError> {
        let op = Operation::CreateJob(job_type.clone());
        if let Some(n) = name
            && n.chars().count() > MAX_JOB_NAME_CHARS
        {
            return Err(ClientError::Config(format!(
                "job name `{n}` has {} characters; expected at most {MAX_JOB_NAME_CHARS}",
                n.chars().count()
            )));
        }
        let body = CreateJobRequest {
            job_type: job_type.clone(),
            name: name.map(str::to_owned),
            resumable: resumable.then_some(true),
        };
        let url = self.inner.jobs_url.clone();
        let result = self
            .send(&op, Endpoint::Create, || {
                self.request(Method::POST, &url).json(&body)
            })
            .await;
        match result {
            Ok((status, bytes)) => {
                let job = parse_job(&op, status, &bytes)?;
                info!(job = %job.id, job_type = %job.job_type, "created job");
                Ok(job)
            }
            Err(err) if err.is_conflict() && err.retries() > 0 => {
                let jobs = self.list_jobs(job_type, Some(&JobStatus::Created)).await?;
                let found = jobs.into_iter().find(|j| {
                    j.name.as_deref() == name && j.resumable.unwrap_or(false) == resumable
                });
                match found {
                    Some(job) => {
                        warn!(job = %job.id, "a retried create met a conflict; using the job the first try created");
                        Ok(job)
                    }
                    None => Err(err),
                }
            }
            Err(err) => Err(err),
        }
    }

    /// `GET /2/compliance/jobs/:id`.
    pub async fn get_job(&self, id: JobId) -> Result<ComplianceJob, ClientError> {
        let op = Operation::GetJob(id);
        let url = format!("{}/{id}", self.inner.jobs_url);
        let (status, bytes) = self
            .send(&op, Endpoint::Get, || self.request(Method::GET, &url))
            .await?;
        parse_job(&op, status, &bytes)
    }

    /// `GET /2/compliance/jobs?type=…[&status=…]`: recent jobs of one type, in the API's order
    /// (newest first in every real recording). An empty list is `Ok(vec![])`.
    pub async fn list_jobs(
        &self,
        job_type: &JobType,
        status: Option<&JobStatus>,
    ) -> Result<Vec<ComplianceJob>, ClientError> {
        let op = Operation::ListJobs(job_type.clone());
        let mut query = vec![("type", job_type.as_str().to_owned())];
        if let Some(s) = status {
            query.push(("status", s.as_str().to_owned()));
        }
        let url = self.inner.jobs_url.clone();
        let (status, bytes) = self
            .send(&op, Endpoint::List, || {
                self.request(Method::GET, &url).query(&query)
            })
            .await?;
        let list: JobListResponse = serde_json::from_slice(&bytes)
            .map_err(|e| invalid(&op, status, &format!("{e}"), &bytes))?;
        if list.data.is_none()
            && let Some(err) = list.errors.as_deref().and_then(<[ProblemItem]>::first)
        {
            return Err(partial_error(op, status, err));
        }
        Ok(list.data.unwrap_or_default())
    }

    /// `DELETE /2/compliance/jobs/:id`: cancels an unfinished job, which then becomes `failed`
    /// and frees its type for a new job. Returns the job as it stands after the cancel.
    pub async fn cancel_job(&self, id: JobId) -> Result<ComplianceJob, ClientError> {
        let op = Operation::CancelJob(id);
        let url = format!("{}/{id}", self.inner.jobs_url);
        match self
            .send(&op, Endpoint::Cancel, || self.request(Method::DELETE, &url))
            .await
        {
            Ok((status, bytes)) => match parse_job(&op, status, &bytes) {
                Ok(job) => Ok(job),
                // The cancel answer's schema is not published; when it is not a whole job, the
                // job is read back.
                Err(ClientError::InvalidResponse { .. }) => self.get_job(id).await,
                Err(e) => Err(e),
            },
            // A retried cancel whose first try went through finds the job already finished.
            Err(err) if err.retries() > 0 && !err.is_auth() => {
                let job = self.get_job(id).await?;
                if job.status.is_terminal() {
                    Ok(job)
                } else {
                    Err(err)
                }
            }
            Err(err) => Err(err),
        }
    }

    /// Polls a job until it is `complete`, `failed` or `expired`, and returns it in that state
    /// (a failed job is `Ok`: the caller decides what a failure means).
    ///
    /// Polls start `min_interval` apart and stretch while the status stays the same, never
    /// closer than the governor's even share of what is left of the rate-limit window.
    /// `on_poll` sees the job after every poll. Cancelling `cancel` ends the wait at once with
    /// `ClientError::Cancelled`.
    pub async fn wait_for_job(
        &self,
        id: JobId,
        options: &WaitOptions,
        cancel: &CancellationToken,
        mut on_poll: impl FnMut(&ComplianceJob),
    ) -> Result<ComplianceJob, ClientError> {
        let start = Instant::now();
        let mut interval = options.min_interval;
        let mut last: Option<JobStatus> = None;
        let mut failures = 0u32;
        let shown = |last: &Option<JobStatus>| {
            last.as_ref()
                .map_or("unknown", JobStatus::as_str)
                .to_owned()
        };
        loop {
            let polled = tokio::select! {
                () = cancel.cancelled() => {
                    return Err(ClientError::Cancelled { job: id, last_status: shown(&last) });
                }
                r = self.get_job(id) => r,
            };
            match polled {
                Ok(job) => {
                    failures = 0;
                    on_poll(&job);
                    if job.status.is_terminal() {
                        return Ok(job);
                    }
                    if last.as_ref() == Some(&job.status) {
                        interval = interval.mul_f64(POLL_GROWTH).min(options.max_interval);
                    } else {
                        debug!(job = %id, status = %job.status, "job status changed");
                        interval = options.min_interval;
                    }
                    last = Some(job.status);
                }
                Err(err) if err.is_retryable() && failures + 1 < MAX_FAILED_POLLS => {
                    failures += 1;
                    warn!(job = %id, "polling failed, will poll again: {err}");
                }
                Err(err) => return Err(err),
            }
            let spacing = self.inner.governors[Endpoint::Get as usize]
                .fair_spacing()
                .unwrap_or_default();
            let mut pause = interval.max(spacing);
            if let Some(timeout) = options.timeout {
                let waited = start.elapsed();
                if waited >= timeout {
                    return Err(ClientError::WaitTimedOut {
                        job: id,
                        last_status: shown(&last),
                        waited,
                    });
                }
                pause = pause.min(timeout.saturating_sub(waited));
            }
            tokio::select! {
                () = cancel.cancelled() => {
                    return Err(ClientError::Cancelled { job: id, last_status: shown(&last) });
                }
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// A request with the bearer token and `Accept: application/json`.
    fn request(&self, method: Method, url: &str) -> RequestBuilder {
        self.inner
            .http
            .request(method, url)
            .header(AUTHORIZATION, self.inner.auth.clone())
            .header(ACCEPT, "application/json")
    }

    /// Sends a request through the endpoint's governor, repeating what is retryable, and returns
    /// the status and body of a 2xx answer.
    async fn send(
        &self,
        op: &Operation,
        endpoint: Endpoint,
        make: impl Fn() -> RequestBuilder,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let governor = &self.inner.governors[endpoint as usize];
        let policy = &self.inner.retry;
        let start = Instant::now();
        let mut retries = 0u32;
        let mut rate_limit_retries = 0u32;
        loop {
            self.admit(op, governor).await?;
            let tries = retries + rate_limit_retries;
            let sent = {
                let _probe_ends = governor.settle_on_drop();
                make().send().await
            };
            let failure = match sent {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    governor.observe(&headers);
                    match resp.bytes().await {
                        Ok(body) if status.is_success() => {
                            debug!(
                                endpoint = governor.endpoint,
                                status = status.as_u16(),
                                tries = tries + 1,
                                "answer"
                            );
                            return Ok((status, body));
                        }
                        Ok(body) => {
                            let failure = api_failure(op, status, &body, tries, start.elapsed());
                            let err = ClientError::Api(Box::new(failure));
                            debug!(
                                endpoint = governor.endpoint,
                                status = status.as_u16(),
                                "error answer"
                            );
                            if err.is_rate_limited() {
                                governor.exhausted(&headers, retry_after(&headers));
                                if rate_limit_retries < policy.max_rate_limit_retries {
                                    rate_limit_retries += 1;
                                    info!(
                                        endpoint = governor.endpoint,
                                        "rate limited; waiting for the window to reset"
                                    );
                                    continue;
                                }
                                return Err(err);
                            }
                            if !is_retryable_status(status.as_u16()) || err.is_usage_cap() {
                                return Err(err);
                            }
                            (err, retry_after(&headers))
                        }
                        Err(e) => (transport(op, e, tries, start), None),
                    }
                }
                Err(e) => (transport(op, e, tries, start), None),
            };
            let (err, after) = failure;
            if let ClientError::Transport { cause, .. } = &err
                && !is_retryable_transport(cause)
            {
                return Err(err);
            }
            if retries >= policy.max_retries {
                return Err(err);
            }
            let wait = after.unwrap_or_else(|| policy.backoff(retries));
            // One short line by default; the whole error (its URL-free chain) at debug level.
            warn!(
                "{op}: {}; retrying {} in {:.1}s (retry {} of {})",
                brief(&err),
                governor.endpoint,
                wait.as_secs_f64(),
                retries + 1,
                policy.max_retries
            );
            debug!(endpoint = governor.endpoint, "{err}");
            retries += 1;
            tokio::time::sleep(wait).await;
        }
    }

    /// Waits until the governor lets a request through, or fails if the wait is too long.
    async fn admit(&self, op: &Operation, governor: &Governor) -> Result<(), ClientError> {
        loop {
            match governor.admit() {
                Admission::Go => return Ok(()),
                Admission::Wait(d) if d > self.inner.retry.max_rate_limit_wait => {
                    return Err(ClientError::RateLimitWaitTooLong {
                        operation: op.clone(),
                        endpoint: governor.endpoint,
                        reset_in: d,
                        max_wait: self.inner.retry.max_rate_limit_wait,
                    });
                }
                Admission::Wait(d) => {
                    debug!(
                        endpoint = governor.endpoint,
                        "rate-limit budget spent; waiting {d:.1?}"
                    );
                    tokio::time::sleep(d).await;
                }
            }
        }
    }
}

/// A transport error with its URL removed (API URLs hold no secret, but one rule for every
/// error is easier to keep).
/// What went wrong, in a few words, for a one-line retry warning: `http 503 Service
/// Unavailable`, `connection failed: Connection refused (os error 111)`.
fn brief(err: &ClientError) -> String {
    match err {
        ClientError::Api(failure) => match failure.problem.as_ref().map(|p| p.title.as_str()) {
            Some(title) => format!("http {} {title}", failure.status),
            None => format!("http {}", failure.status),
        },
        ClientError::Transport { cause, .. } => {
            let what = if cause.is_timeout() {
                "timed out"
            } else if cause.is_connect() {
                "connection failed"
            } else {
                "connection broken"
            };
            xcomply_core::root_cause(cause)
                .map_or_else(|| what.to_owned(), |r| format!("{what}: {r}"))
        }
        other => other.to_string(),
    }
}

fn transport(op: &Operation, e: reqwest::Error, retries: u32, start: Instant) -> ClientError {
    ClientError::Transport {
        operation: op.clone(),
        cause: e.without_url(),
        retries,
        elapsed: start.elapsed(),
    }
}

/// Builds the failure of a non-2xx answer from its problem-details body.
fn api_failure(
    op: &Operation,
    status: StatusCode,
    body: &[u8],
    retries: u32,
    elapsed: Duration,
) -> ApiFailure {
    let problem = serde_json::from_slice::<Problem>(body).ok().or_else(|| {
        // A body of `{"errors":[…]}` without a problem at the top level.
        let resp: JobListResponse = serde_json::from_slice(body).ok()?;
        resp.errors?.first().map(item_problem)
    });
    ApiFailure {
        operation: op.clone(),
        status: status.as_u16(),
        body: problem.is_none().then(|| snippet(body)),
        problem,
        retries,
        elapsed,
    }
}

/// A partial error (`errors[]` entry) as a problem.
fn item_problem(item: &ProblemItem) -> Problem {
    Problem {
        problem_type: item
            .problem_type
            .clone()
            .unwrap_or_else(|| "about:blank".to_owned()),
        title: item.title.clone().unwrap_or_else(|| "Error".to_owned()),
        detail: item.detail.clone().or_else(|| item.message.clone()),
        status: None,
        errors: None,
        period: None,
        scope: None,
    }
}

/// A 2xx answer that carries only `errors`, as v2 does for some lookups.
fn partial_error(op: Operation, status: StatusCode, item: &ProblemItem) -> ClientError {
    let problem = item_problem(item);
    // An unknown resource is reported the way a 404 would be, so `is_not_found` holds.
    let code = if problem.kind() == xcomply_core::ProblemKind::ResourceNotFound {
        404
    } else {
        status.as_u16()
    };
    ClientError::Api(Box::new(ApiFailure {
        operation: op,
        status: code,
        problem: Some(problem),
        body: None,
        retries: 0,
        elapsed: Duration::ZERO,
    }))
}

/// Whether a create was refused with 400 because of its `resumable` field: the problem names
/// the parameter or says so in a message.
fn refuses_resumable(err: &ClientError) -> bool {
    err.status() == Some(400)
        && err.problem().is_some_and(|p| {
            p.errors.iter().flatten().any(|item| {
                item.parameters
                    .as_ref()
                    .is_some_and(|ps| ps.contains_key("resumable"))
                    || item
                        .message
                        .as_deref()
                        .is_some_and(|m| m.to_ascii_lowercase().contains("resumable"))
            }) || p
                .detail
                .as_deref()
                .is_some_and(|d| d.to_ascii_lowercase().contains("resumable"))
        })
}

/// Reads `{"data": job}`.
fn parse_job(
    op: &Operation,
    status: StatusCode,
    body: &[u8],
) -> Result<ComplianceJob, ClientError> {
    let resp: JobResponse =
        serde_json::from_slice(body).map_err(|e| invalid(op, status, &format!("{e}"), body))?;
    match (resp.data, resp.errors) {
        (Some(job), _) => Ok(job),
        (None, Some(errors)) if !errors.is_empty() => {
            Err(partial_error(op.clone(), status, &errors[0]))
        }
        (None, _) => Err(invalid(op, status, "no `data` object", body)),
    }
}

fn invalid(op: &Operation, status: StatusCode, what: &str, body: &[u8]) -> ClientError {
    ClientError::InvalidResponse {
        operation: op.clone(),
        status: status.as_u16(),
        detail: format!("{what} in `{}`", snippet(body)),
    }
}

/// The start of a body as one line of text.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut s: String = text.chars().take(BODY_SNIPPET_CHARS).collect();
    if text.chars().count() > BODY_SNIPPET_CHARS {
        s.push('…');
    }
    s.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_base_urls_are_refused() {
        let token = BearerToken::new("t").unwrap();
        for bad in ["api.x.com", "ftp://x", "https://api.x.com/?a=1"] {
            let err = Client::new(ClientConfig::new(bad, token.clone())).unwrap_err();
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
        let c = Client::new(ClientConfig::new("http://127.0.0.1:9/", token)).unwrap();
        assert_eq!(c.inner.jobs_url, "http://127.0.0.1:9/2/compliance/jobs");
        let shown = format!("{c:?}");
        assert!(!shown.contains("Bearer t"), "{shown}");
    }

    #[test]
    fn errors_only_bodies_become_problems() {
        let body = br#"{"errors":[{"value":"1","detail":"Could not find job with id: [1].","title":"Not Found Error","type":"https://api.twitter.com/2/problems/resource-not-found"}]}"#;
        let err = parse_job(&Operation::GetJob(JobId(1)), StatusCode::OK, body).unwrap_err();
        assert!(err.is_not_found(), "{err}");
        assert!(err.to_string().contains("Could not find job"), "{err}");
        let err = parse_job(&Operation::GetJob(JobId(1)), StatusCode::OK, b"<html>").unwrap_err();
        assert!(matches!(err, ClientError::InvalidResponse { .. }), "{err}");
    }

    #[test]
    fn long_names_are_refused_before_sending() {
        let c = Client::new(ClientConfig::new(
            "http://127.0.0.1:9",
            BearerToken::new("t").unwrap(),
        ))
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let name = "x".repeat(65);
        let err = rt
            .block_on(c.create_job(&JobType::Tweets, Some(&name), false))
            .unwrap_err();
        assert!(err.to_string().contains("expected at most 64"), "{err}");
    }
}
