//! The emulator's shared state: jobs, resumable sessions, rate-limit windows, statistics and the
//! seeded fault plan.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use xcomply_core::seeded::{hash3, unit_interval};
use xcomply_core::{ComplianceJob, JobId, JobStatus, JobType, SignedUrl, Timestamp};

use crate::clock::Clock;
use crate::config::{Config, Faults, RouteClass};
use crate::signing::Signer;

/// The upload window: `upload_expires_at` is `created_at` + 15 minutes, and the upload URL's
/// `X-Goog-Expires` is 900.
pub(crate) const UPLOAD_WINDOW_SECS: u64 = 900;
/// The download window: 7 days, the V4 maximum, `X-Goog-Expires=604800`.
pub(crate) const DOWNLOAD_WINDOW_SECS: u64 = 604_800;

/// How long a resumable session accepts chunks: about a week, as GCS documents.
pub(crate) const SESSION_LIFETIME_MS: i64 = 7 * 86_400_000;

/// The API endpoints, each with its own rate-limit window.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Endpoint {
    Create,
    List,
    Get,
    Cancel,
}

impl Endpoint {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Endpoint::Create => "POST /2/compliance/jobs",
            Endpoint::List => "GET /2/compliance/jobs",
            Endpoint::Get => "GET /2/compliance/jobs/:id",
            Endpoint::Cancel => "DELETE /2/compliance/jobs/:id",
        }
    }
}

/// Where a job is, as stored; the status the API reports is computed from it and the clock.
#[derive(Clone, Debug)]
pub(crate) enum Phase {
    /// Waiting for the upload.
    Created,
    /// Uploaded; the processing thread is reading the object.
    Processing { uploaded_ms: i64 },
    /// Processed; `complete` (or `failed` with `error`) from `ready_ms` on.
    Done {
        ready_ms: i64,
        error: Option<String>,
    },
    /// Cancelled with `DELETE`.
    Cancelled,
}

/// One job.
#[derive(Clone, Debug)]
pub(crate) struct Job {
    pub id: u64,
    pub app: usize,
    pub kind: JobType,
    pub name: Option<String>,
    pub resumable: bool,
    pub created_ms: i64,
    pub upload_url: String,
    pub download_url: String,
    pub phase: Phase,
    /// When the first resumable session of the job was started: an open session keeps the job
    /// `created` past the upload window, for as long as the session lives.
    pub session_began_ms: Option<i64>,
}

/// The message of a cancelled job's `error`.
pub(crate) const CANCELLED_ERROR: &str = "Job was cancelled";

impl Job {
    pub(crate) fn upload_expires_ms(&self) -> i64 {
        self.created_ms + UPLOAD_WINDOW_SECS as i64 * 1000
    }

    pub(crate) fn download_expires_ms(&self) -> i64 {
        self.created_ms + DOWNLOAD_WINDOW_SECS as i64 * 1000
    }

    fn expired(&self, now_ms: i64) -> bool {
        match self.session_began_ms {
            Some(began) => now_ms >= began + SESSION_LIFETIME_MS,
            None => now_ms >= self.upload_expires_ms(),
        }
    }

    /// The status at `now_ms`, and the `error` of a failed job.
    pub(crate) fn status(&self, now_ms: i64) -> (JobStatus, Option<String>) {
        match &self.phase {
            Phase::Created if self.expired(now_ms) => (JobStatus::Expired, None),
            Phase::Created => (JobStatus::Created, None),
            Phase::Processing { .. } => (JobStatus::InProgress, None),
            Phase::Done { ready_ms, .. } if now_ms < *ready_ms => (JobStatus::InProgress, None),
            Phase::Done { error: None, .. } => (JobStatus::Complete, None),
            Phase::Done { error: Some(e), .. } => (JobStatus::Failed, Some(e.clone())),
            Phase::Cancelled => (JobStatus::Failed, Some(CANCELLED_ERROR.to_owned())),
        }
    }

    /// The job as the API shows it.
    pub(crate) fn to_api(&self, now_ms: i64) -> ComplianceJob {
        let (status, error) = self.status(now_ms);
        ComplianceJob {
            id: JobId(self.id),
            job_type: self.kind.clone(),
            name: self.name.clone(),
            status,
            resumable: Some(self.resumable),
            upload_url: SignedUrl::new(self.upload_url.clone()),
            upload_expires_at: Timestamp::from_millis(self.upload_expires_ms()),
            download_url: SignedUrl::new(self.download_url.clone()),
            download_expires_at: Timestamp::from_millis(self.download_expires_ms()),
            created_at: Timestamp::from_millis(self.created_ms),
            error,
        }
    }
}

/// A resumable upload session.
#[derive(Debug)]
pub(crate) struct Session {
    pub job_id: u64,
    /// The object path the session writes (`/bucket/job/submission/object`).
    pub path: String,
    pub file: PathBuf,
    pub persisted: u64,
    pub complete: bool,
    pub started_ms: i64,
    /// A chunk PUT is being written; a second concurrent one is refused.
    pub busy: bool,
}

/// One rate-limit window.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    pub start_ms: i64,
    pub used: u32,
}

/// Upload counts of one job, for tests that prove a client never uploads twice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UploadStats {
    /// Upload requests carrying data that passed the signature check (simple PUTs and resumable
    /// chunk PUTs), including those that were interrupted.
    pub attempts: u64,
    /// Uploads that stored a whole object (at most one per job for a well-behaved client).
    pub completed: u64,
    /// Resumable sessions started.
    pub sessions: u64,
    /// Body bytes received for the job, over all attempts.
    pub bytes: u64,
}

/// A snapshot of what the emulator has seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests per route: the four API endpoints (`POST /2/compliance/jobs`, …), `PUT upload`,
    /// `POST upload` (resumable start), `PUT session` (resumable chunks and status queries) and
    /// `GET download`, counting every request, faulted or refused ones included.
    pub requests: BTreeMap<String, u64>,
    /// Upload counts per job ID.
    pub uploads: BTreeMap<u64, UploadStats>,
    /// Jobs created.
    pub jobs_created: u64,
    /// Faults injected, per kind (`500`, `503`, `429`, `reset`, `truncate`, `latency`).
    pub faults: BTreeMap<String, u64>,
}

impl Stats {
    /// Uploads that stored a whole object, over all jobs.
    pub fn completed_uploads(&self) -> u64 {
        self.uploads.values().map(|u| u.completed).sum()
    }
}

/// What fault (if any) a request meets.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct FaultPlan {
    /// Answer with this status instead of serving (500, 503 or 429).
    pub status: Option<u16>,
    /// Answer 429 with the usage-capped problem (API only).
    pub usage_capped: bool,
    pub latency: Option<Duration>,
    /// Reset the connection after this fraction of the body.
    pub reset_at: Option<f64>,
    /// End the download cleanly after this fraction of the body.
    pub truncate_at: Option<f64>,
    /// Refuse a byte path's token as expired (byte-path uploads and downloads).
    pub token_refused: bool,
}

/// Mutable state behind one lock; every critical section is short and never awaits.
#[derive(Default)]
pub(crate) struct Inner {
    pub jobs: BTreeMap<u64, Job>,
    pub sessions: HashMap<String, Session>,
    pub windows: HashMap<(usize, Endpoint), Window>,
    pub stats: Stats,
    pub fault_seq: [u64; 3],
    pub burst_left: [u32; 3],
    /// A counter for job-ID low bits, session IDs and temporary file names.
    pub seq: u64,
}

impl std::fmt::Debug for Inner {
    // Jobs hold signed URLs and sessions are keyed by their secret `upload_id`: only counts are
    // shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("jobs", &self.jobs.len())
            .field("sessions", &self.sessions.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: Config,
    pub faults: RwLock<Faults>,
    pub clock: Clock,
    pub signer: Signer,
    pub data_dir: PathBuf,
    pub inner: Mutex<Inner>,
    /// Keeps the temporary data directory alive; removing it is its `Drop`.
    pub _temp: Option<tempfile::TempDir>,
}

impl Shared {
    pub(crate) fn new(config: Config) -> Result<Arc<Shared>, crate::EmulatorError> {
        if config.tokens.is_empty() {
            return Err(crate::EmulatorError::Config(
                "expected at least one bearer token, found none".to_owned(),
            ));
        }
        let parent = config.data_dir.clone().unwrap_or_else(std::env::temp_dir);
        let dir_err = |source| crate::EmulatorError::DataDir {
            path: parent.clone(),
            source,
        };
        std::fs::create_dir_all(&parent).map_err(dir_err)?;
        let temp = tempfile::Builder::new()
            .prefix("xcomply-emulator-")
            .tempdir_in(&parent)
            .map_err(dir_err)?;
        let data_dir = temp.path().to_path_buf();
        let temp = if config.keep_data {
            let _ = temp.keep();
            None
        } else {
            Some(temp)
        };
        Ok(Arc::new(Shared {
            faults: RwLock::new(config.faults.clone()),
            clock: Clock::new(config.start_time_ms, config.time_scale),
            signer: Signer::new(config.seed),
            data_dir,
            inner: Mutex::new(Inner::default()),
            _temp: temp,
            config,
        }))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every update is a single
        // assignment), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub(crate) fn count_request(&self, route: &str) {
        *self
            .lock()
            .stats
            .requests
            .entry(route.to_owned())
            .or_default() += 1;
    }

    pub(crate) fn count_fault(inner: &mut Inner, kind: &str) {
        *inner.stats.faults.entry(kind.to_owned()).or_default() += 1;
    }

    /// The faults the next request of `class` meets; seeded by the request's number in its class.
    pub(crate) fn plan_faults(&self, class: RouteClass) -> FaultPlan {
        let rates = self
            .faults
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .class(class)
            .clone();
        let mut inner = self.lock();
        let c = class.index();
        let n = inner.fault_seq[c];
        inner.fault_seq[c] += 1;
        let seed = self.config.seed;
        let draw = |k: u64| unit_interval(hash3(seed, 0xFA17_0000 + c as u64 * 16 + k, n));
        let mut plan = FaultPlan::default();
        if rates.latency_rate > 0.0 && draw(0) < rates.latency_rate {
            plan.latency = Some(rates.latency);
            Shared::count_fault(&mut inner, "latency");
        }
        if inner.burst_left[c] > 0 {
            inner.burst_left[c] -= 1;
            plan.status = Some(429);
        } else if draw(1) < rates.server_error {
            plan.status = Some(500);
        } else if draw(2) < rates.unavailable {
            plan.status = Some(503);
        } else if draw(3) < rates.rate_limit_burst {
            inner.burst_left[c] = rates.burst_length.saturating_sub(1);
            plan.status = Some(429);
        } else if draw(4) < rates.reset {
            // Somewhere in the middle, never at the very start or end.
            plan.reset_at = Some(0.1 + 0.8 * draw(5));
        } else if draw(6) < rates.truncate {
            plan.truncate_at = Some(0.1 + 0.8 * draw(7));
        } else if class == RouteClass::Api && draw(8) < rates.usage_capped {
            plan.usage_capped = true;
            Shared::count_fault(&mut inner, "usage-capped");
        } else if class != RouteClass::Api
            && rates.token_refused > 0.0
            && draw(9) < rates.token_refused
        {
            plan.token_refused = true;
        }
        if let Some(s) = plan.status {
            Shared::count_fault(&mut inner, &s.to_string());
        }
        plan
    }

    /// The app (token index) of an `Authorization` header.
    pub(crate) fn app_of(&self, authorization: Option<&str>) -> Option<usize> {
        let token = authorization?.strip_prefix("Bearer ")?.trim();
        self.config.tokens.iter().position(|t| t == token)
    }

    /// Directory of one job's objects.
    pub(crate) fn job_dir(&self, job_id: u64) -> PathBuf {
        self.data_dir.join(job_id.to_string())
    }

    pub(crate) fn delivery_path(&self, job_id: u64, gzip: bool) -> PathBuf {
        self.job_dir(job_id).join(if gzip {
            "delivery.jsonl.gz"
        } else {
            "delivery.jsonl"
        })
    }
}
