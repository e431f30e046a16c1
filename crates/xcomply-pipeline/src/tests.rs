//! The scheduler, the state journal and the resume rules, tested against an in-memory API that
//! enforces the one-unfinished-job-per-type rule, counts uploads, fails and expires jobs on
//! request, and "crashes" (drops the run at an arbitrary await point, before or after a
//! server-side effect) like a `kill -9`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use xcomply_core::{ComplianceJob, JobId, JobStatus, JobType, SignedUrl, Timestamp};

use crate::state::{self, Phase, StateStore};
use crate::{
    ErrorClass, JoinOutput, PipelineError, ResultsFile, RunConfig, RunSummary, ShardFile,
    ShardOutput, Silent, StageError, StageErrorKind, Stages,
};

const T0: i64 = 1_700_000_000_000;
const MINUTE: i64 = 60_000;

#[derive(Debug, Clone)]
struct FakeJob {
    job: ComplianceJob,
    polls: u32,
    uploads: u32,
    ids: Vec<u64>,
    fail: bool,
}

#[derive(Debug, Default)]
struct Server {
    jobs: BTreeMap<u64, FakeJob>,
    next_id: u64,
    /// (type, shard index) → how many of the next jobs for it fail.
    failures: BTreeMap<(String, u32), u32>,
    /// (type, shard index) → milliseconds the clock jumps right after its next job is created.
    jump_after_create: BTreeMap<(String, u32), i64>,
    /// Minutes the clock jumps when the next download starts.
    jump_before_download: Option<i64>,
    /// Uploads that reached a job that was not `created`: must never happen.
    bad_uploads: Vec<String>,
    /// Log of operations, for ordering checks.
    log: Vec<String>,
    credentials_refused: bool,
    /// Polls of an unfinished job left that answer `queued`, a status this version does not know,
    /// as a later API might.
    unknown_polls: u32,
    /// When each `queued` answer was given.
    unknown_answers: Vec<std::time::Instant>,
    /// Uploads above this many bytes are refused with 413, as the live API does above 128 MB.
    max_upload_bytes: Option<u64>,
    /// Uploads refused as too large.
    too_large: u32,
}

#[derive(Debug)]
struct Fake {
    ids: BTreeMap<String, Vec<u64>>,
    per_shard: usize,
    server: Mutex<Server>,
    clock: AtomicI64,
    /// Operations left before the simulated crash; negative when none is planned.
    crash_in: AtomicI64,
    crash: Mutex<CancellationToken>,
    download_delay: Duration,
    /// What [`Stages::fingerprint`] reports: tests change it to play a changed dataset.
    fingerprint: Mutex<crate::state::Fingerprint>,
}

impl Fake {
    fn new(tweets: u64, users: u64, per_shard: usize) -> Fake {
        let mut ids = BTreeMap::new();
        ids.insert("tweets".to_owned(), (1..=tweets).map(|i| i * 3).collect());
        ids.insert("users".to_owned(), (1..=users).map(|i| i * 5).collect());
        Fake {
            ids,
            per_shard,
            server: Mutex::new(Server {
                next_id: 1000,
                ..Server::default()
            }),
            clock: AtomicI64::new(T0),
            crash_in: AtomicI64::new(-1),
            crash: Mutex::new(CancellationToken::new()),
            download_delay: Duration::from_millis(5),
            fingerprint: Mutex::new(crate::state::Fingerprint::new(vec![stamp("data/a", 10, 1)])),
        }
    }

    /// Plans a crash at the n-th crash point from now, firing `token`.
    fn crash_after(&self, n: i64, token: CancellationToken) {
        self.crash_in.store(n, Ordering::SeqCst);
        *self.crash.lock().unwrap() = token;
    }

    async fn point(&self) {
        // Like a real request, every operation lets other tasks run.
        tokio::task::yield_now().await;
        if self.crash_in.load(Ordering::SeqCst) < 0 {
            return;
        }
        if self.crash_in.fetch_sub(1, Ordering::SeqCst) == 0 {
            self.crash.lock().unwrap().cancel();
            std::future::pending::<()>().await;
        }
    }

    fn flagged(id: u64) -> bool {
        id.is_multiple_of(7)
    }

    fn job_index(name: &str) -> u32 {
        name.rsplit('-').next().unwrap().parse().unwrap()
    }

    fn check_auth(&self) -> Result<(), StageError> {
        if self.server.lock().unwrap().credentials_refused {
            return Err(StageError::new(
                StageErrorKind::Credentials,
                "401 Unauthorized: the bearer token was refused",
            ));
        }
        Ok(())
    }

    fn uploads_per_job(&self) -> Vec<u32> {
        self.server
            .lock()
            .unwrap()
            .jobs
            .values()
            .map(|j| j.uploads)
            .collect()
    }
}

impl Stages for Fake {
    async fn create_job(
        &self,
        job_type: &JobType,
        name: &str,
        resumable: bool,
    ) -> Result<ComplianceJob, StageError> {
        self.point().await;
        self.check_auth()?;
        let job = {
            let mut s = self.server.lock().unwrap();
            if s.jobs
                .values()
                .any(|j| &j.job.job_type == job_type && j.job.status.is_unfinished())
            {
                return Err(StageError::new(StageErrorKind::Conflict, "conflict"));
            }
            let now = self.clock.load(Ordering::SeqCst);
            s.next_id += 1;
            let id = s.next_id;
            let key = (job_type.to_string(), Fake::job_index(name));
            let fail = match s.failures.get_mut(&key) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                _ => false,
            };
            let job = ComplianceJob {
                id: JobId(id),
                job_type: job_type.clone(),
                name: Some(name.to_owned()),
                status: JobStatus::Created,
                resumable: Some(resumable),
                upload_url: SignedUrl::new(format!(
                    "http://127.0.0.1:1/up/{id}?X-Goog-Signature=s"
                )),
                upload_expires_at: Timestamp::from_millis(now + 15 * MINUTE),
                download_url: SignedUrl::new(format!(
                    "http://127.0.0.1:1/down/{id}?X-Goog-Signature=s"
                )),
                download_expires_at: Timestamp::from_millis(now + 7 * 24 * 60 * MINUTE),
                created_at: Timestamp::from_millis(now),
                error: None,
            };
            s.jobs.insert(
                id,
                FakeJob {
                    job: job.clone(),
                    polls: 0,
                    uploads: 0,
                    ids: Vec::new(),
                    fail,
                },
            );
            s.log.push(format!("create {job_type} {}", key.1));
            if let Some(ms) = s.jump_after_create.remove(&key) {
                self.clock.fetch_add(ms, Ordering::SeqCst);
            }
            job
        };
        self.point().await;
        Ok(job)
    }

    async fn get_job(&self, id: JobId) -> Result<ComplianceJob, StageError> {
        self.point().await;
        self.check_auth()?;
        let now = self.clock.load(Ordering::SeqCst);
        let job = {
            let mut s = self.server.lock().unwrap();
            let Some(j) = s.jobs.get_mut(&id.0) else {
                return Err(StageError::new(StageErrorKind::NotFound, "no such job"));
            };
            match j.job.status {
                JobStatus::Created if now >= j.job.upload_expires_at.millis() => {
                    j.job.status = JobStatus::Expired;
                }
                JobStatus::InProgress => {
                    j.polls += 1;
                    if j.polls >= 2 {
                        if j.fail {
                            j.job.status = JobStatus::Failed;
                            j.job.error = Some("internal error".into());
                        } else {
                            j.job.status = JobStatus::Complete;
                        }
                    }
                }
                _ => {}
            }
            let mut job = j.job.clone();
            if s.unknown_polls > 0 && job.status.is_unfinished() {
                s.unknown_polls -= 1;
                s.unknown_answers.push(std::time::Instant::now());
                job.status = JobStatus::parse("queued");
            }
            job
        };
        self.point().await;
        Ok(job)
    }

    async fn list_jobs(&self, job_type: &JobType) -> Result<Vec<ComplianceJob>, StageError> {
        self.point().await;
        self.check_auth()?;
        let s = self.server.lock().unwrap();
        Ok(s.jobs
            .values()
            .filter(|j| &j.job.job_type == job_type)
            .map(|j| j.job.clone())
            .rev()
            .collect())
    }

    async fn cancel_job(&self, id: JobId) -> Result<(), StageError> {
        self.point().await;
        let mut s = self.server.lock().unwrap();
        if let Some(j) = s.jobs.get_mut(&id.0)
            && j.job.status.is_unfinished()
        {
            j.job.status = JobStatus::Failed;
            j.job.error = Some("cancelled".into());
        }
        Ok(())
    }

    async fn upload(
        &self,
        url: &SignedUrl,
        _resumable: bool,
        shard: &Path,
    ) -> Result<(), StageError> {
        self.point().await;
        let id: u64 = url
            .expose()
            .split('/')
            .nth(4)
            .unwrap()
            .split('?')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let text = std::fs::read_to_string(shard).unwrap();
        let now = self.clock.load(Ordering::SeqCst);
        {
            let mut s = self.server.lock().unwrap();
            let j = s.jobs.get_mut(&id).unwrap();
            if now >= j.job.upload_expires_at.millis() {
                return Err(StageError::new(
                    StageErrorKind::UrlExpired,
                    "400 ExpiredToken",
                ));
            }
            if let Some(cap) = s.max_upload_bytes.filter(|&c| text.len() as u64 > c) {
                s.too_large += 1;
                return Err(StageError::too_large(
                    format!("413: {} bytes, at most {cap}", text.len()),
                    None,
                ));
            }
            let j = s.jobs.get_mut(&id).unwrap();
            let status = j.job.status.clone();
            j.uploads += 1;
            j.ids = text.lines().map(|l| l.parse().unwrap()).collect();
            let name = j.job.name.clone().unwrap();
            if status == JobStatus::Created {
                j.job.status = JobStatus::InProgress;
            } else {
                s.bad_uploads.push(format!("{name} was {status}"));
            }
            s.log.push(format!("upload {name}"));
        }
        self.point().await;
        Ok(())
    }

    async fn download(
        &self,
        _url: &SignedUrl,
        job_id: JobId,
        job_type: &JobType,
        out: &Path,
        _errors: &Path,
    ) -> Result<crate::DownloadOutput, StageError> {
        self.point().await;
        let ids = {
            let mut s = self.server.lock().unwrap();
            if let Some(m) = s.jump_before_download.take() {
                self.clock.fetch_add(m * MINUTE, Ordering::SeqCst);
            }
            let j = &s.jobs[&job_id.0];
            if self.clock.load(Ordering::SeqCst) >= j.job.download_expires_at.millis() {
                return Err(StageError::new(
                    StageErrorKind::UrlExpired,
                    "400 ExpiredToken",
                ));
            }
            let ids = j.ids.clone();
            s.log
                .push(format!("download start {job_type} {}", job_id.0));
            ids
        };
        tokio::time::sleep(self.download_delay).await;
        let flagged: Vec<String> = ids
            .iter()
            .filter(|&&i| Fake::flagged(i))
            .map(|i| format!("{job_type} {i}\n"))
            .collect();
        std::fs::write(out, flagged.concat()).unwrap();
        self.server
            .lock()
            .unwrap()
            .log
            .push(format!("download end {job_type} {}", job_id.0));
        self.point().await;
        Ok(crate::DownloadOutput {
            rows: flagged.len() as u64,
            error_records: 0,
        })
    }

    fn now_ms(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    fn fingerprint(&self) -> Result<crate::state::Fingerprint, StageError> {
        Ok(self.fingerprint.lock().unwrap().clone())
    }

    fn shard(&self, dir: &Path) -> Result<ShardOutput, StageError> {
        let mut out = Vec::new();
        for (t, ids) in &self.ids {
            for (i, chunk) in ids.chunks(self.per_shard).enumerate() {
                let index = i as u32 + 1;
                let path = dir.join(format!("{t}-{index:05}.txt"));
                let text: String = chunk.iter().map(|id| id.to_string() + "\n").collect();
                std::fs::write(&path, &text).unwrap();
                out.push(ShardFile {
                    job_type: JobType::parse(t),
                    index,
                    sha256: state::sha256_file(&path).unwrap(),
                    path,
                    ids: chunk.len() as u64,
                    bytes: text.len() as u64,
                });
            }
        }
        // The real sharder writes its manifest whenever it succeeds, even for no IDs at all.
        std::fs::write(dir.join(xcomply_shard::MANIFEST_FILE), b"{}").unwrap();
        let rows = self.ids.values().map(|ids| ids.len() as u64).sum();
        Ok(ShardOutput {
            files: out,
            stats: crate::state::InputStats {
                files: 1,
                rows,
                rejected: Vec::new(),
            },
        })
    }

    fn join(&self, results: &[ResultsFile], dir: &Path) -> Result<JoinOutput, StageError> {
        let mut lines: Vec<String> = Vec::new();
        for r in results {
            let text = std::fs::read_to_string(&r.path).unwrap();
            lines.extend(text.lines().map(str::to_owned));
        }
        lines.sort();
        let path = dir.join("manifest.txt");
        std::fs::write(&path, lines.join("\n")).unwrap();
        Ok(JoinOutput {
            files: vec![path],
            rows: lines.len() as u64,
            rows_scanned: 0,
        })
    }
}

fn stamp(path: &str, bytes: u64, mtime_ns: i64) -> crate::state::StampedFile {
    crate::state::StampedFile {
        path: path.into(),
        stamp: crate::state::FileStamp {
            bytes,
            mtime_ns,
            etag: None,
        },
    }
}

fn config(dir: &Path) -> RunConfig {
    RunConfig {
        poll_initial: Duration::from_millis(1),
        poll_max: Duration::from_millis(4),
        ..RunConfig::new(dir, "fake inputs")
    }
}

async fn run(fake: &Arc<Fake>, config: RunConfig) -> Result<RunSummary, PipelineError> {
    crate::run(
        Arc::clone(fake),
        config,
        Arc::new(Silent),
        CancellationToken::new(),
    )
    .await
}

fn expected_manifest(fake: &Fake) -> String {
    let mut lines: Vec<String> = fake
        .ids
        .iter()
        .flat_map(|(t, ids)| {
            ids.iter()
                .filter(|&&i| Fake::flagged(i))
                .map(move |i| format!("{t} {i}"))
        })
        .collect();
    lines.sort();
    lines.join("\n")
}

fn manifest(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("manifests/manifest.txt")).unwrap()
}

#[tokio::test]
async fn several_shards_per_type_one_job_at_a_time_with_overlapping_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake {
        download_delay: Duration::from_millis(30),
        ..Fake::new(100, 45, 20)
    });
    let summary = run(&fake, config(dir.path())).await.unwrap();
    assert!(summary.is_success());
    assert_eq!(summary.types.len(), 2);
    assert_eq!((summary.types[0].shards, summary.types[1].shards), (5, 3));
    assert_eq!(summary.types[0].jobs_created, 5);
    assert_eq!(manifest(dir.path()), expected_manifest(&fake));
    assert_eq!(fake.uploads_per_job(), vec![1; 8]);
    let state = StateStore::load(dir.path()).unwrap().unwrap();
    assert!(
        state
            .shards
            .iter()
            .all(|s| s.phase == Phase::ResultsWritten)
    );
    assert!(state.joined.is_some());
    // The download of one job overlaps the create or upload of the next one of the same type.
    let log = fake.server.lock().unwrap().log.clone();
    let overlapped = log.iter().enumerate().any(|(i, l)| {
        l.starts_with("download start tweets")
            && log[i..]
                .iter()
                .take_while(|m| !m.starts_with("download end tweets"))
                .any(|m| {
                    m.starts_with("create tweets")
                        || m.contains("upload xcomply-") && m.contains("-tweets-")
                })
    });
    assert!(overlapped, "{log:#?}");
    // A second invocation finds everything done and does nothing.
    let again = run(&fake, config(dir.path())).await.unwrap();
    assert_eq!(again.types[0].jobs_created + again.types[1].jobs_created, 0);
    assert_eq!(fake.uploads_per_job(), vec![1; 8]);
}

#[tokio::test]
async fn failed_job_is_retried_then_reported() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::new(60, 10, 20));
    fake.server
        .lock()
        .unwrap()
        .failures
        .insert(("tweets".into(), 2), 1);
    let summary = run(&fake, config(dir.path())).await.unwrap();
    assert!(summary.is_success());
    assert_eq!(summary.types[0].jobs_created, 4);
    assert_eq!(manifest(dir.path()), expected_manifest(&fake));

    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::new(60, 10, 20));
    fake.server
        .lock()
        .unwrap()
        .failures
        .insert(("tweets".into(), 3), 100);
    let summary = run(
        &fake,
        RunConfig {
            max_job_retries: 2,
            ..config(dir.path())
        },
    )
    .await
    .unwrap();
    assert!(!summary.is_success());
    assert_eq!(summary.failed.len(), 1);
    assert_eq!(summary.failed[0].index, 3);
    assert!(
        summary.failed[0].error.contains("internal error"),
        "{:?}",
        summary.failed
    );
    // 1 + 2 retries for shard 3, one job each for shards 1 and 2; no manifest without all results.
    assert_eq!(summary.types[0].jobs_created, 5);
    assert!(summary.joined.is_none());
    assert!(!dir.path().join("manifests/manifest.txt").exists());
    // A re-run gives the failed shard a fresh budget.
    fake.server.lock().unwrap().failures.clear();
    let summary = run(&fake, config(dir.path())).await.unwrap();
    assert!(summary.is_success());
    assert_eq!(manifest(dir.path()), expected_manifest(&fake));
}

/// Runs 40 tweets in two shards with the clock jumping `jump_ms` right after shard 2's first job is
/// created, and returns each job's (uploads, status).
async fn run_with_jump(jump_ms: i64) -> Vec<(u32, String)> {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::new(40, 0, 20));
    fake.server
        .lock()
        .unwrap()
        .jump_after_create
        .insert(("tweets".into(), 2), jump_ms);
    let summary = run(&fake, config(dir.path())).await.unwrap();
    assert!(summary.is_success());
    assert_eq!(summary.types[0].jobs_created, 3);
    assert_eq!(manifest(dir.path()), expected_manifest(&fake));
    let s = fake.server.lock().unwrap();
    s.jobs
        .values()
        .map(|j| (j.uploads, j.job.status.to_string()))
        .collect()
}

#[tokio::test]
async fn expired_upload_url_gets_a_new_job() {
    // The API already reports the job expired.
    assert_eq!(
        run_with_jump(16 * MINUTE).await,
        [
            (1, "complete".into()),
            (0, "expired".into()),
            (1, "complete".into())
        ]
    );
    // The job is still `created` but its URL is about to expire: it is cancelled (so that it
    // frees the slot at once) and replaced, without an upload that could be cut off.
    assert_eq!(
        run_with_jump(15 * MINUTE - 5_000).await,
        [
            (1, "complete".into()),
            (0, "failed".into()),
            (1, "complete".into())
        ]
    );
}

#[tokio::test]
async fn expired_download_url_gets_a_new_job() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::new(20, 0, 20));
    fake.server.lock().unwrap().jump_before_download = Some(8 * 24 * 60);
    let summary = run(&fake, config(dir.path())).await.unwrap();
    assert!(summary.is_success());
    assert_eq!(summary.types[0].jobs_created, 2);
    assert_eq!(manifest(dir.path()), expected_manifest(&fake));
}

#[tokio::test]
async fn a_lost_state_never_adopts_a_complete_job_whose_download_expired() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::new(20, 0, 20));
    assert!(run(&fake, config(dir.path())).await.unwrap().is_success());
    // Eight days later the state and the results are gone; the run's only job is still listed
    // as complete, but storage no longer serves its results.
    std::fs::remove_file(dir.path().join(state::STATE_FILE)).unwrap();
    std::fs::remove_dir_all(dir.path().join("results")).unwrap();
    fake.clock.fetch_add(8 * 24 * 60 * MINUTE, Ordering::SeqCst);
    let summary = run(&fake, config(dir.path())).await.unwrap();
    assert!(summary.is_success());
    assert_eq!(summary.types[0].jobs_created, 1);
    assert_eq!(manifest(dir.path()), expected_manifest(&fake));
    // The new job was the shard's first attempt: the expired one was not adopted on the way.
    let state = StateStore::load(dir.path()).unwrap().unwrap();
    assert_eq!(state.shards[0].attempts, 1, "{:?}", state.shards[0]);
}

#[tokio::test]
async fn refused_credentials_end_the_run_with_their_class() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::new(20, 0, 20));
    fake.server.lock().unwrap().credentials_refused = true;
    let err = run(&fake, config(dir.path())).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Credentials, "{err}");
    assert!(
        err.to_string().contains("bearer token was refused"),
        "{err}"
    );
}

#[tokio::test]
async fn other_inputs_on_the_same_directory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::new(20, 0, 20));
    run(&fake, config(dir.path())).await.unwrap();
    let err = run(
        &fake,
        RunConfig {
            inputs: "other inputs".into(),
            ..config(dir.path())
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Input);
    assert!(
        err.to_string().contains("started with other inputs"),
        "{err}"
    );
}

#[tokio::test]
async fn changed_results_are_downloaded_again() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::new(40, 0, 20));
    run(&fake, config(dir.path())).await.unwrap();
    std::fs::write(dir.path().join("results/tweets-00002.parquet"), b"garbage").unwrap();
    let summary = run(&fake, config(dir.path())).await.unwrap();
    assert_eq!(summary.types[0].jobs_created, 0);
    assert_eq!(manifest(dir.path()), expected_manifest(&fake));
}

/// Simulated `kill -9` at every crash point of a run in turn, optionally losing `state.json` too;
/// each resumed run must end with the same manifest, and no upload may reach a job that is not
/// `created`.
async fn crash_trials(lose_state: bool, cap: Option<u64>) {
    let reference = {
        let dir = tempfile::tempdir().unwrap();
        let fake = Arc::new(Fake::new(50, 30, 20));
        run(&fake, config(dir.path())).await.unwrap();
        manifest(dir.path())
    };
    let mut crashed = 0;
    let trials = if cap.is_some() { 100 } else { 80 };
    for n in 0..trials {
        let dir = tempfile::tempdir().unwrap();
        let fake = Arc::new(Fake::new(50, 30, 20));
        fake.server.lock().unwrap().max_upload_bytes = cap;
        let token = CancellationToken::new();
        fake.crash_after(n, token.clone());
        let first = crate::run(
            Arc::clone(&fake),
            config(dir.path()),
            Arc::new(Silent),
            token,
        )
        .await;
        fake.crash_in.store(-1, Ordering::SeqCst);
        match first {
            Err(PipelineError::Interrupted) => crashed += 1,
            Ok(_) => break,
            Err(e) => panic!("trial {n}: {e}"),
        }
        if lose_state {
            let _ = std::fs::remove_file(dir.path().join(state::STATE_FILE));
        }
        run(&fake, config(dir.path()))
            .await
            .unwrap_or_else(|e| panic!("trial {n}: {e}"));
        assert_eq!(manifest(dir.path()), reference, "trial {n}");
        let s = fake.server.lock().unwrap();
        assert!(s.bad_uploads.is_empty(), "trial {n}: {:?}", s.bad_uploads);
        assert!(s.jobs.values().all(|j| j.uploads <= 1), "trial {n}");
    }
    assert!(crashed >= 30, "only {crashed} crash points");
}

#[tokio::test]
async fn every_crash_point_resumes_to_the_same_manifest() {
    crash_trials(false, None).await;
}

#[tokio::test]
async fn a_lost_state_file_adopts_the_runs_own_jobs() {
    crash_trials(true, None).await;
}

/// Shards of about 60 bytes against a 30-byte upload cap: every first upload is refused with 413
/// and split; a crash at any point of that resumes to the same manifest without a second upload
/// to any job.
#[tokio::test]
async fn every_crash_point_of_a_run_that_splits_resumes_to_the_same_manifest() {
    crash_trials(false, Some(30)).await;
}

#[tokio::test]
async fn a_lost_state_file_of_a_run_that_splits_adopts_its_own_jobs() {
    crash_trials(true, Some(30)).await;
}

#[tokio::test]
async fn a_413_splits_the_shard_and_the_next_shards_use_the_learned_cap() {
    let small_from_the_start = {
        let dir = tempfile::tempdir().unwrap();
        let fake = Arc::new(Fake::new(100, 45, 5));
        run(&fake, config(dir.path())).await.unwrap();
        manifest(dir.path())
    };
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::new(100, 45, 20));
    fake.server.lock().unwrap().max_upload_bytes = Some(40);
    let summary = run(&fake, config(dir.path())).await.unwrap();
    assert!(summary.is_success(), "{summary:?}");
    assert_eq!(manifest(dir.path()), small_from_the_start);
    assert_eq!(manifest(dir.path()), expected_manifest(&fake));
    let state = StateStore::load(dir.path()).unwrap().unwrap();
    let split: Vec<_> = state
        .shards
        .iter()
        .filter(|s| s.phase == Phase::Split)
        .collect();
    assert!(!split.is_empty());
    assert!(split.iter().all(|s| s.split_into.len() >= 2), "{split:?}");
    // Every live shard fits the cap and was uploaded once; the IDs of each type are all there.
    let cap = state.upload_cap.unwrap();
    assert!(cap <= 40 + 20, "{cap}");
    for t in ["tweets", "users"] {
        let live: u64 = state
            .shards
            .iter()
            .filter(|s| s.job_type.as_str() == t && s.phase.is_live())
            .map(|s| s.ids)
            .sum();
        assert_eq!(live, fake.ids[t].len() as u64, "{t}");
    }
    assert!(
        state
            .shards
            .iter()
            .filter(|s| s.phase.is_live())
            .all(|s| s.bytes <= 40 && s.phase == Phase::ResultsWritten)
    );
    let s = fake.server.lock().unwrap();
    assert!(s.bad_uploads.is_empty(), "{:?}", s.bad_uploads);
    assert!(s.jobs.values().all(|j| j.uploads <= 1));
    // The learned cap spares later shards their own 413: far fewer refusals than shards.
    let shards = state.shards.iter().filter(|s| !s.phase.is_live()).count() as u32;
    assert!(
        s.too_large <= shards,
        "{} refusals for {shards} splits",
        s.too_large
    );
    assert_eq!(summary.types[0].ids, 100);
}

#[tokio::test]
async fn status_of_the_state_file_never_shows_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::new(20, 0, 20));
    run(&fake, config(dir.path())).await.unwrap();
    let state = StateStore::load(dir.path()).unwrap().unwrap();
    let shown = format!("{state:?}");
    assert!(!shown.contains("Signature=s"), "{shown}");
}

#[tokio::test]
async fn a_foreign_unfinished_job_is_reported_not_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::new(20, 0, 20));
    let foreign = fake
        .create_job(&JobType::Tweets, "someone-else-00001", false)
        .await
        .unwrap();
    let err = run(&fake, config(dir.path())).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Conflict, "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("another unfinished tweets job {}", foreign.id)),
        "{message}"
    );
    assert!(message.contains("xcomply jobs cancel"), "{message}");
    let s = fake.server.lock().unwrap();
    assert_eq!(s.jobs[&foreign.id.0].job.status, JobStatus::Created);
}

#[tokio::test]
async fn changed_inputs_are_refused_with_what_changed_and_unchanged_ones_resume() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::new(40, 0, 20));
    run(&fake, config(dir.path())).await.unwrap();
    // The same inputs again: nothing to do, no error.
    let again = run(&fake, config(dir.path())).await.unwrap();
    assert_eq!(again.types[0].jobs_created, 0);
    *fake.fingerprint.lock().unwrap() =
        crate::state::Fingerprint::new(vec![stamp("data/a", 10, 1), stamp("data/b", 5, 2)]);
    let err = run(&fake, config(dir.path())).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Input, "{err}");
    let message = err.to_string();
    assert!(message.contains("the inputs changed"), "{message}");
    assert!(message.contains("added `data/b`"), "{message}");
    assert!(message.contains("use a new --out"), "{message}");
    *fake.fingerprint.lock().unwrap() =
        crate::state::Fingerprint::new(vec![stamp("data/a", 10, 9)]);
    let message = run(&fake, config(dir.path()))
        .await
        .unwrap_err()
        .to_string();
    assert!(message.contains("changed `data/a`"), "{message}");
}

#[tokio::test]
async fn unusable_run_directories_are_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::new(20, 0, 20));

    // A regular file.
    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let err = run(&fake, config(&file)).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Input);
    assert!(
        err.to_string()
            .contains("--out is a file, expected a directory"),
        "{err}"
    );

    // A non-empty directory that is not a run directory (a dataset copy).
    let copy = tmp.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    std::fs::write(copy.join("part-0.parquet"), "x").unwrap();
    let err = run(&fake, config(&copy)).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Input);
    assert!(
        err.to_string().contains("not an xcomply run directory"),
        "{err}"
    );
    assert!(err.to_string().contains("part-0.parquet"), "{err}");
    let names: Vec<_> = std::fs::read_dir(&copy).unwrap().collect();
    assert_eq!(names.len(), 1, "the directory was written to");

    // Inside an input directory, even when it does not exist yet.
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let inside = data.join("run");
    let err = run(
        &fake,
        RunConfig {
            dataset_inputs: vec![data.to_str().unwrap().to_owned()],
            ..config(&inside)
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Input);
    assert!(
        err.to_string().contains("inside the dataset input"),
        "{err}"
    );
    assert!(!inside.exists());

    // What a run killed before it wrote run.json leaves behind is accepted.
    let early = tmp.path().join("early");
    std::fs::create_dir(&early).unwrap();
    std::fs::write(early.join(state::LOCK_FILE), "").unwrap();
    let summary = run(&fake, config(&early)).await.unwrap();
    assert!(summary.is_success());
    // And so is an existing run directory, even one that lost its run.json: the same inputs
    // give the same run ID.
    let first = run(&fake, config(&early)).await.unwrap();
    std::fs::remove_file(early.join(state::RUN_FILE)).unwrap();
    let again = run(&fake, config(&early)).await.unwrap();
    assert_eq!(again.run_id, first.run_id);
    assert_eq!(again.types[0].jobs_created, 0);
}

#[tokio::test]
async fn inputs_without_ids_are_refused_without_a_state() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::new(0, 0, 20));
    let err = run(&fake, config(dir.path())).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Input);
    assert_eq!(
        err.to_string(),
        "no post or user IDs found in the inputs (1 file, 0 rows)"
    );
    assert!(!dir.path().join(state::STATE_FILE).exists());
    // Nothing was planned from those inputs, so changed inputs are simply read again.
    *fake.fingerprint.lock().unwrap() = crate::state::Fingerprint::new(vec![stamp("ids", 3, 2)]);
    let err = run(&fake, config(dir.path())).await.unwrap_err();
    assert!(matches!(err, PipelineError::NoIds { .. }), "{err}");
    let info = state::load_run_info(dir.path()).unwrap().unwrap();
    assert_eq!(info.fingerprint.unwrap().files[0].path, "ids");
}

#[tokio::test]
async fn users_alone_run_and_join() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::new(0, 30, 20));
    let summary = run(&fake, config(dir.path())).await.unwrap();
    assert_eq!(summary.types.len(), 1);
    assert_eq!(summary.types[0].job_type, "users");
    assert!(summary.joined.is_some());
    assert_eq!(manifest(dir.path()), expected_manifest(&fake));
}

/// Records every shard event.
#[derive(Default)]
struct Recorder(Mutex<Vec<crate::Event>>);

impl crate::Observer for Recorder {
    fn event(&self, event: &crate::Event) {
        self.0.lock().unwrap().push(event.clone());
    }
}

#[tokio::test]
async fn waiting_is_reported_once_per_job_and_creating_never_names_the_old_job() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::new(40, 0, 20));
    // Shard 2's first job fails, so its second creation follows a dead job.
    fake.server
        .lock()
        .unwrap()
        .failures
        .insert(("tweets".into(), 2), 1);
    let recorder = Arc::new(Recorder::default());
    crate::run(
        Arc::clone(&fake),
        config(dir.path()),
        Arc::clone(&recorder) as Arc<dyn crate::Observer>,
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let events = recorder.0.lock().unwrap().clone();
    let mut waiting: BTreeMap<u64, u32> = BTreeMap::new();
    let mut creating = 0;
    for e in &events {
        if let crate::Event::Shard { activity, job, .. } = e {
            match activity {
                crate::Activity::Waiting => {
                    *waiting.entry(job.unwrap().0).or_default() += 1;
                }
                crate::Activity::Creating => {
                    creating += 1;
                    assert_eq!(*job, None, "{e:?}");
                }
                _ => {}
            }
        }
    }
    assert_eq!(creating, 3);
    // Each job is polled twice before it settles, but reported waiting once: its status stays
    // `in_progress` until then.
    assert_eq!(waiting.len(), 3, "{events:#?}");
    assert!(waiting.values().all(|&n| n == 1), "{waiting:?}");
}

/// A run interrupted with shard 1's job holding the tweets slot: its directory, the fake API and
/// the state it left.
async fn interrupted_holding_a_slot() -> (tempfile::TempDir, Arc<Fake>, crate::state::RunState) {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::new(40, 0, 20));
    let token = CancellationToken::new();
    fake.crash_after(3, token.clone());
    let first = crate::run(
        Arc::clone(&fake),
        config(dir.path()),
        Arc::new(Silent),
        token,
    )
    .await;
    fake.crash_in.store(-1, Ordering::SeqCst);
    assert!(
        matches!(first, Err(PipelineError::Interrupted)),
        "{first:?}"
    );
    let old = StateStore::load(dir.path()).unwrap().unwrap();
    assert!(old.shards.iter().any(|s| s.phase.holds_slot()), "{old:?}");
    (dir, fake, old)
}

#[tokio::test]
async fn restart_starts_a_changed_run_over_under_a_new_run_id_and_frees_the_slot() {
    let (dir, fake, old) = interrupted_holding_a_slot().await;
    std::fs::write(dir.path().join("results-note.txt"), "mine").unwrap();

    *fake.fingerprint.lock().unwrap() = crate::state::Fingerprint::new(vec![stamp("data/b", 1, 1)]);
    let err = run(&fake, config(dir.path())).await.unwrap_err();
    assert!(err.to_string().contains("--restart"), "{err}");
    let summary = run(
        &fake,
        RunConfig {
            restart: true,
            ..config(dir.path())
        },
    )
    .await
    .unwrap();
    assert!(summary.is_success());
    assert_ne!(summary.run_id, old.run_id);
    assert_eq!(summary.types[0].jobs_created, 2);
    assert_eq!(manifest(dir.path()), expected_manifest(&fake));
    // Files the run did not write are left alone.
    assert!(dir.path().join("results-note.txt").exists());
}

#[tokio::test]
async fn restart_without_run_json_still_starts_over() {
    let (dir, fake, old) = interrupted_holding_a_slot().await;
    let holding: Vec<u64> = old
        .shards
        .iter()
        .filter(|s| s.phase.holds_slot())
        .filter_map(|s| s.job.as_ref().map(|j| j.id.0))
        .collect();
    std::fs::remove_file(dir.path().join(crate::state::RUN_FILE)).unwrap();

    let summary = run(
        &fake,
        RunConfig {
            restart: true,
            ..config(dir.path())
        },
    )
    .await
    .unwrap();
    assert!(summary.is_success());
    // The old run's unfinished job was cancelled rather than resumed.
    let server = fake.server.lock().unwrap();
    for id in holding {
        assert_eq!(server.jobs[&id].job.status, JobStatus::Failed, "job {id}");
    }
    drop(server);
    assert_eq!(manifest(dir.path()), expected_manifest(&fake));
}

#[tokio::test]
async fn an_unknown_job_status_is_waited_on_never_uploaded_to_and_backed_off() {
    // The first job answers `queued` right after its creation: the run must neither upload on a
    // status it does not know nor fail, and must wait longer after each such answer instead of
    // asking again at once (both types share the GET budget).
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::new(40, 0, 20));
    fake.server.lock().unwrap().unknown_polls = 5;
    let poll = Duration::from_millis(20);
    let summary = tokio::time::timeout(
        Duration::from_secs(30),
        run(
            &fake,
            RunConfig {
                poll_initial: poll,
                poll_max: Duration::from_secs(1),
                ..config(dir.path())
            },
        ),
    )
    .await
    .unwrap_or_else(|_| panic!("the run hangs: {:#?}", fake.server.lock().unwrap().log))
    .unwrap();
    assert!(summary.is_success());
    assert_eq!(manifest(dir.path()), expected_manifest(&fake));
    assert_eq!(fake.uploads_per_job(), vec![1, 1]);
    let server = fake.server.lock().unwrap();
    assert!(server.bad_uploads.is_empty(), "{:?}", server.bad_uploads);
    assert_eq!(server.unknown_polls, 0);
    // The waits after consecutive unknown answers grow from the first poll delay by half each
    // time: 20, 30, 45, 67 ms at least (sleeps are never shorter than asked).
    let gaps: Vec<Duration> = server
        .unknown_answers
        .windows(2)
        .map(|w| w[1] - w[0])
        .collect();
    let mut expected = poll;
    for (i, gap) in gaps.iter().enumerate() {
        assert!(
            *gap >= expected,
            "gap {i} was {gap:?}, expected {expected:?} at least: {gaps:?}"
        );
        expected = expected.mul_f64(1.5);
    }
}
