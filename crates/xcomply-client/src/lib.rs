//! The X API v2 batch compliance client: create, get, list and cancel jobs, typed problem-details
//! errors, a rate-limit governor shared by every task, retries with backoff and jitter, and
//! `wait_for_job`.
//!
//! - [`Client`] is cheap to clone. Clones share the connection pool and one rate-limit
//!   [governor](#rate-limits) per endpoint, so a pipeline can hand a clone to every task.
//! - Every failure is a [`ClientError`] carrying the HTTP status, the problem-details body, how many
//!   tries were made and how long they took, and a message a person can act on. `is_auth()`,
//!   `is_usage_cap()`, `is_rate_limited()`, `is_conflict()`, `is_not_found()` and `is_retryable()`
//!   classify it for code.
//! - The [`BearerToken`] prints as `REDACTED`; requests carry it in a header marked sensitive.
//!   Nothing this crate logs, at any level, contains the token or a URL signature.
//!
//! It deliberately does not move job data: uploads and downloads go to signed storage URLs and live
//! in `xcomply-transfer`. It does not decide what a failed job means either: `wait_for_job` returns
//! the job in its final state.
//!
//! # Rate limits
//!
//! Each endpoint (create, list, get, cancel) has its own window of 150 requests per 15 minutes.
//! The governor reads `x-rate-limit-limit`, `-remaining` and `-reset` from every answer, reserves a
//! request from the remaining budget before sending, waits for the reset (plus up to 2 s of jitter)
//! when the budget is spent, and blocks the endpoint for every task after a 429. A 429 whose
//! problem type is `usage-capped` is not a window: it fails at once.
//!
//! # Retries
//!
//! 5xx, 408, timeouts and connection errors are repeated with exponential backoff and jitter, up to
//! [`RetryPolicy::max_retries`]; 400, 401, 403, 404 and 409 fail at once. A create that is retried
//! after a lost answer and then meets a conflict adopts the job its first try created.
//!
//! # Example
//!
//! ```no_run
//! use xcomply_client::{BearerToken, Client, ClientConfig, WaitOptions};
//! use xcomply_core::{JobStatus, JobType};
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn demo() -> Result<(), xcomply_client::ClientError> {
//! let client = Client::new(ClientConfig::new("https://api.x.com", BearerToken::from_env()?))?;
//! let job = client.create_job(&JobType::Tweets, Some("nightly"), false).await?;
//! // … upload the IDs to job.upload_url with xcomply-transfer …
//! let cancel = CancellationToken::new();
//! let done = client
//!     .wait_for_job(job.id, &WaitOptions::default(), &cancel, |j| println!("{}", j.status))
//!     .await?;
//! assert!(done.status.is_terminal());
//! let unfinished = client.list_jobs(&JobType::Tweets, Some(&JobStatus::InProgress)).await?;
//! # let _ = unfinished;
//! # Ok(())
//! # }
//! ```

mod client;
mod error;
mod governor;
mod retry;
mod token;

pub use client::{Client, ClientConfig, DEFAULT_BASE_URL, WaitOptions};
pub use error::{ApiFailure, ClientError, Operation};
pub use retry::RetryPolicy;
pub use token::{BearerToken, TOKEN_ENV};
pub use tokio_util::sync::CancellationToken;
