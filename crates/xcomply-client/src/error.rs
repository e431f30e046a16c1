//! The one error type of the client, built from the API's problem-details bodies.
//!
//! Every message says what was attempted (`create tweets job`, `get job 123`), what the API said,
//! how many tries and how long it took, and what a person can do about it. No message ever holds
//! the bearer token: requests carry it in a header marked sensitive, and the token type redacts
//! itself.

use std::fmt;
use std::time::Duration;

use xcomply_core::{JobId, JobType, Problem, ProblemKind};

/// What the client was doing when it failed; names the job or job type in every message.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Operation {
    /// `POST /2/compliance/jobs`.
    CreateJob(JobType),
    /// `GET /2/compliance/jobs/:id`.
    GetJob(JobId),
    /// `GET /2/compliance/jobs?type=…`.
    ListJobs(JobType),
    /// `DELETE /2/compliance/jobs/:id`.
    CancelJob(JobId),
    /// Polling a job until it finishes.
    WaitForJob(JobId),
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::CreateJob(t) => write!(f, "create {t} job"),
            Operation::GetJob(id) => write!(f, "get job {id}"),
            Operation::ListJobs(t) => write!(f, "list {t} jobs"),
            Operation::CancelJob(id) => write!(f, "cancel job {id}"),
            Operation::WaitForJob(id) => write!(f, "wait for job {id}"),
        }
    }
}

/// The API answered with an error status (after any retries).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ApiFailure {
    /// What was attempted.
    pub operation: Operation,
    /// The HTTP status of the last answer.
    pub status: u16,
    /// The problem-details body, when the body was one.
    pub problem: Option<Problem>,
    /// The start of the body when it was not a problem object (at most 200 characters).
    pub body: Option<String>,
    /// How many times the request was repeated after the first try.
    pub retries: u32,
    /// Time from the first try to the last answer, waits included.
    pub elapsed: Duration,
}

/// Every way a client call can fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The API answered with an error status.
    #[error("{}", api_message(.0))]
    Api(Box<ApiFailure>),

    /// The request never got an answer: connection refused or reset, timeout, TLS failure.
    #[error("{operation} failed {}: {}", tries_in(*.retries, *.elapsed), chain(.cause))]
    Transport {
        /// What was attempted.
        operation: Operation,
        /// The last transport error, without its URL.
        cause: reqwest::Error,
        /// Repeats after the first try.
        retries: u32,
        /// Time from the first try to the last failure.
        elapsed: Duration,
    },

    /// The API answered 2xx with a body that is not what the API documents.
    #[error("{operation}: unexpected response body (http {status}): {detail}")]
    InvalidResponse {
        /// What was attempted.
        operation: Operation,
        /// The HTTP status.
        status: u16,
        /// What was wrong, with the start of the body.
        detail: String,
    },

    /// The client was configured wrongly (bad base URL, unreadable token file, empty token).
    #[error("{0}")]
    Config(String),

    /// The rate-limit window resets later than the caller allows to wait.
    #[error(
        "{operation}: rate limit of {endpoint} is spent until {reset_in:.0?} from now, longer than \
         the {max_wait:.0?} allowed to wait"
    )]
    RateLimitWaitTooLong {
        /// What was attempted.
        operation: Operation,
        /// The endpoint whose window is spent.
        endpoint: &'static str,
        /// Time until the window resets.
        reset_in: Duration,
        /// `RetryPolicy::max_rate_limit_wait`.
        max_wait: Duration,
    },

    /// `wait_for_job` was cancelled by its caller.
    #[error("waiting for job {job} was cancelled (last status `{last_status}`)")]
    Cancelled {
        /// The job.
        job: JobId,
        /// The last status seen, or `unknown`.
        last_status: String,
    },

    /// `wait_for_job` gave up after its deadline.
    #[error("job {job} was still `{last_status}` after waiting {waited:.0?}")]
    WaitTimedOut {
        /// The job.
        job: JobId,
        /// The last status seen.
        last_status: String,
        /// How long it waited.
        waited: Duration,
    },
}

/// An error and its causes on one line. Kept in the message rather than exposed as `source`, so
/// that callers printing the chain do not print it twice.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    xcomply_core::error_chain(err)
}

/// "after 1 try in 0.2s" / "after 6 tries in 31.0s".
fn tries_in(retries: u32, elapsed: Duration) -> String {
    let tries = retries + 1;
    let plural = if tries == 1 { "try" } else { "tries" };
    format!("after {tries} {plural} in {:.1}s", elapsed.as_secs_f64())
}

/// The message of an API failure: what was attempted, what the API said, and what to do.
fn api_message(f: &ApiFailure) -> String {
    let said = match (&f.problem, &f.body) {
        (Some(p), _) => p.to_string(),
        (None, Some(body)) if !body.is_empty() => format!("`{body}`"),
        _ => "no problem details in the body".to_owned(),
    };
    // The API's sentences end with a period; the message goes on after it.
    let said = said.trim_end_matches('.');
    let tries = tries_in(f.retries, f.elapsed);
    let hint = hint(f);
    let op = &f.operation;
    let status = f.status;
    if hint.is_empty() {
        format!("{op} failed with http {status} {tries}: {said}")
    } else {
        format!("{op} failed with http {status} {tries}: {said}: {hint}")
    }
}

/// What a person can do about a failure, or nothing when the API's words are enough.
fn hint(f: &ApiFailure) -> String {
    let kind = f.problem.as_ref().map(Problem::kind);
    match (f.status, kind) {
        (_, Some(ProblemKind::UsageCapped)) => {
            let period = f
                .problem
                .as_ref()
                .and_then(|p| p.period.as_deref())
                .unwrap_or("the current");
            format!(
                "the usage cap for {period} period is spent; waiting for the rate-limit window will \
                 not help, raise the cap or wait for the next period"
            )
        }
        (_, Some(ProblemKind::UnsupportedAuthentication)) => {
            "these endpoints need an OAuth 2.0 app-only bearer token".to_owned()
        }
        (401, _) => {
            "the bearer token was refused; check X_BEARER_TOKEN or the token file".to_owned()
        }
        (403, _) => {
            "the app is not allowed to use the compliance endpoints with this token".to_owned()
        }
        (429, _) => "the rate limit stayed exhausted through every retry; try again after the \
                     window resets"
            .to_owned(),
        (_, Some(ProblemKind::Conflict)) | (409, _) => match &f.operation {
            Operation::CreateJob(t) => format!(
                "another {t} job is still created or in progress; wait for it or cancel it \
                 (`xcomply jobs list --type {t}`)"
            ),
            _ => String::new(),
        },
        (404, _) => match &f.operation {
            Operation::GetJob(id) | Operation::CancelJob(id) | Operation::WaitForJob(id) => {
                format!("no job {id} is visible to this app")
            }
            _ => String::new(),
        },
        (s, _) if s >= 500 => "the API kept failing; try again later".to_owned(),
        _ => String::new(),
    }
}

impl ClientError {
    /// The API failure, when the API answered.
    pub fn api(&self) -> Option<&ApiFailure> {
        match self {
            ClientError::Api(f) => Some(f),
            _ => None,
        }
    }

    /// The HTTP status of the API's answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api(f) => Some(f.status),
            ClientError::InvalidResponse { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The problem-details body of the API's answer.
    pub fn problem(&self) -> Option<&Problem> {
        self.api().and_then(|f| f.problem.as_ref())
    }

    /// Repeats after the first try.
    pub fn retries(&self) -> u32 {
        match self {
            ClientError::Api(f) => f.retries,
            ClientError::Transport { retries, .. } => *retries,
            _ => 0,
        }
    }

    /// Time from the first try to the failure.
    pub fn elapsed(&self) -> Option<Duration> {
        match self {
            ClientError::Api(f) => Some(f.elapsed),
            ClientError::Transport { elapsed, .. } => Some(*elapsed),
            _ => None,
        }
    }

    /// The credentials were refused (401, or 403 for the token or app): retrying cannot help.
    pub fn is_auth(&self) -> bool {
        matches!(self.status(), Some(401 | 403))
    }

    /// A 429 whose problem type says a usage cap is spent, as opposed to a rate-limit window.
    pub fn is_usage_cap(&self) -> bool {
        self.problem()
            .is_some_and(|p| p.kind() == ProblemKind::UsageCapped)
    }

    /// A 429 for the rate-limit window (not a usage cap).
    pub fn is_rate_limited(&self) -> bool {
        self.status() == Some(429) && !self.is_usage_cap()
            || matches!(self, ClientError::RateLimitWaitTooLong { .. })
    }

    /// Another unfinished job of the same type blocks creation.
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
            || self
                .problem()
                .is_some_and(|p| p.kind() == ProblemKind::Conflict)
    }

    /// The job does not exist (or is not visible to this app).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
            || self
                .problem()
                .is_some_and(|p| p.kind() == ProblemKind::ResourceNotFound)
    }

    /// Whether the same request may succeed later: 5xx, 408, rate-limit 429 and transport errors.
    /// Credentials, usage caps, bad requests and conflicts are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Api(f) => is_retryable_status(f.status) && !self.is_usage_cap(),
            ClientError::Transport { cause, .. } => is_retryable_transport(cause),
            ClientError::RateLimitWaitTooLong { .. } => true,
            _ => false,
        }
    }
}

/// Statuses worth repeating: timeouts, rate limits and server errors.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// Transport errors worth repeating: everything but a request that could not be built.
pub(crate) fn is_retryable_transport(err: &reqwest::Error) -> bool {
    !err.is_builder() && !err.is_redirect() && !err.is_decode()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(status: u16, problem: &str, op: Operation) -> ClientError {
        ClientError::Api(Box::new(ApiFailure {
            operation: op,
            status,
            problem: serde_json::from_str(problem).ok(),
            body: None,
            retries: 2,
            elapsed: Duration::from_millis(1500),
        }))
    }

    #[test]
    fn problems_are_classified_and_explained() {
        let tweets = || Operation::CreateJob(JobType::Tweets);
        let cap = failure(
            429,
            r#"{"title":"UsageCapExceeded","detail":"Usage cap exceeded: Monthly product cap","type":"https://api.twitter.com/2/problems/usage-capped","period":"Monthly","scope":"Product"}"#,
            tweets(),
        );
        assert!(cap.is_usage_cap() && !cap.is_rate_limited() && !cap.is_retryable());
        let msg = cap.to_string();
        assert!(msg.starts_with("create tweets job failed with http 429 after 3 tries in 1.5s: UsageCapExceeded: Usage cap exceeded"), "{msg}");
        assert!(msg.contains("Monthly period is spent"), "{msg}");

        let rate = failure(
            429,
            r#"{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}"#,
            tweets(),
        );
        assert!(rate.is_rate_limited() && !rate.is_usage_cap() && rate.is_retryable());

        let auth = failure(
            401,
            r#"{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}"#,
            Operation::GetJob(JobId(7)),
        );
        assert!(auth.is_auth() && !auth.is_retryable());
        assert_eq!(
            auth.to_string(),
            "get job 7 failed with http 401 after 3 tries in 1.5s: Unauthorized: the bearer token \
             was refused; check X_BEARER_TOKEN or the token file"
        );

        let conflict = failure(
            409,
            r#"{"title":"Conflict","type":"https://api.x.com/2/problems/conflict","detail":"You cannot create a new job if one is already in progress."}"#,
            tweets(),
        );
        assert!(conflict.is_conflict() && !conflict.is_retryable());
        assert!(
            conflict
                .to_string()
                .contains("another tweets job is still created or in progress")
        );

        let bad = failure(
            400,
            r#"{"errors":[{"parameters":{"type":["foo"]},"message":"The `type` query parameter value [foo] is not one of [tweets,users]"}],"title":"Invalid Request","detail":"One or more parameters to your request was invalid.","type":"https://api.twitter.com/2/problems/invalid-request"}"#,
            Operation::ListJobs(JobType::Other("foo".into())),
        );
        assert!(!bad.is_retryable() && !bad.is_auth());
        assert!(
            bad.to_string()
                .contains("[foo] is not one of [tweets,users]"),
            "{bad}"
        );

        let missing = failure(404, "not json", Operation::GetJob(JobId(9)));
        assert!(missing.is_not_found());
        assert!(
            missing.to_string().contains("no job 9 is visible"),
            "{missing}"
        );

        let server = failure(503, "{}", Operation::CancelJob(JobId(1)));
        assert!(server.is_retryable());
        assert_eq!(server.retries(), 2);
    }

    #[test]
    fn one_try_is_singular() {
        assert_eq!(
            tries_in(0, Duration::from_millis(250)),
            "after 1 try in 0.2s"
        );
        assert_eq!(
            tries_in(5, Duration::from_secs(31)),
            "after 6 tries in 31.0s"
        );
    }
}
