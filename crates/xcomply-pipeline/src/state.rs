//! The durable state of a run directory: `run.json` (who the run is), `state.json` (where every
//! shard is) and the lock file.
//!
//! `state.json` is rewritten whole after every transition: to a temporary file, fsynced, renamed
//! over the old one, and the directory fsynced, so a crash at any instant leaves either the old or
//! the new state, never a torn one. It holds signed URLs, which are bearer credentials for the
//! job's data, so it is created with mode 0600.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use xcomply_core::{ComplianceJob, JobId, JobStatus, JobType, SignedUrl, Timestamp};

use crate::error::PipelineError;

/// The file that names the run; written once, before anything else.
pub const RUN_FILE: &str = "run.json";
/// The state journal.
pub const STATE_FILE: &str = "state.json";
/// The lock that keeps a second run out of the directory.
pub const LOCK_FILE: &str = "run.lock";

/// The version of `state.json`'s layout; a newer file is refused rather than misread.
pub const STATE_VERSION: u32 = 1;

/// `run.json`: the run's identity. The run ID is derived from the run directory's absolute path
/// and the inputs, so even when `state.json` and `run.json` are both lost, re-running the same
/// command in the same directory finds the same ID again and adopts its own jobs by name.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RunInfo {
    /// 16 hex digits, part of every job name (`xcomply-<run id>-<type>-<shard>`).
    pub run_id: String,
    /// A description of the inputs (paths, columns, shard size); a re-run with different inputs is
    /// refused instead of mixing two datasets' results.
    pub inputs: String,
    /// Size and modification time of every input file when the run was planned; a later
    /// invocation that finds them changed is refused. Absent in run files of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
}

pub use xcomply_dataset::{FileStamp, Fingerprint, StampedFile};

/// What the inputs held when they were sharded.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct InputStats {
    /// Input files read (dataset files and the IDs file).
    pub files: u64,
    /// Rows of the dataset files plus lines of the IDs file.
    pub rows: u64,
    /// Invalid ID values skipped (only with lenient reading), per type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<Rejected>,
}

/// Invalid values of one type skipped by lenient reading.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Rejected {
    /// Tweets or users.
    pub job_type: JobType,
    /// How many values.
    pub count: u64,
    /// The file listing each one with its file and row, relative to the run directory.
    pub file: PathBuf,
}

/// Derives the run ID from the run directory and the inputs.
pub fn derive_run_id(run_dir: &Path, inputs: &str) -> String {
    let mut h = Sha256::new();
    h.update(run_dir.as_os_str().as_encoded_bytes());
    h.update([0]);
    h.update(inputs.as_bytes());
    hex::encode(&h.finalize()[..8])
}

/// The name of a shard's job. At most 8 + 16 + 1 + 6 + 1 + 5 = 37 characters, within the API's
/// 64, for up to 99 999 shards per type (wider indices still fit).
pub fn job_name(run_id: &str, job_type: &JobType, index: u32) -> String {
    format!("xcomply-{run_id}-{job_type}-{index:05}")
}

/// The shard index of one of this run's jobs, from its name.
pub fn parse_job_name(run_id: &str, job_type: &JobType, name: &str) -> Option<u32> {
    let prefix = format!("xcomply-{run_id}-{job_type}-");
    name.strip_prefix(&prefix)?.parse().ok()
}

/// `state.json`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RunState {
    /// [`STATE_VERSION`].
    pub version: u32,
    /// The run ID, as in `run.json`.
    pub run_id: String,
    /// Every shard of every type, tweets first, each type in index order.
    pub shards: Vec<ShardState>,
    /// Set once the manifests are written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined: Option<JoinedState>,
    /// What the inputs held when they were sharded (absent in state files of older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_stats: Option<InputStats>,
    /// The largest upload this run knows the API to refuse nothing below, learned from a 413
    /// (the limit the answer stated, or half the refused shard). Shards larger than it are split
    /// before their upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_cap: Option<u64>,
}

/// Where one shard is.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// No job yet (or the last one failed or expired and a new one is due).
    Planned,
    /// A job exists; the upload has not been confirmed.
    Created,
    /// The upload finished; the job is being processed.
    Uploaded,
    /// The job is complete; its results are not downloaded yet.
    Complete,
    /// The results file is written and its checksum recorded.
    ResultsWritten,
    /// Every retry failed; the shard is reported and skipped.
    Failed,
    /// Too large for one upload (the API answered 413): its IDs were split into the shards
    /// listed in `split_into`, which take its place. Final.
    Split,
}

impl Phase {
    /// Whether a job of this shard may be unfinished on the API (it holds the type's slot).
    pub fn holds_slot(self) -> bool {
        matches!(self, Phase::Created | Phase::Uploaded)
    }

    /// Whether the shard still stands for its IDs (not replaced by the shards it was split into).
    pub fn is_live(self) -> bool {
        self != Phase::Split
    }
}

/// One shard's progress.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ShardState {
    /// Tweets or users.
    pub job_type: JobType,
    /// 1-based position among the shards of its type.
    pub index: u32,
    /// The shard file, relative to the run directory.
    pub path: PathBuf,
    /// IDs in the shard.
    pub ids: u64,
    /// Bytes of the shard file.
    pub bytes: u64,
    /// SHA-256 of the shard file.
    pub sha256: String,
    /// Where the shard is.
    pub phase: Phase,
    /// Jobs created for this shard by the current invocation's retry budget (failed and expired
    /// jobs count; a re-run gives a shard that ran out of retries a fresh budget).
    pub attempts: u32,
    /// The current (or last) job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobRecord>,
    /// The results, once written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<ResultsRecord>,
    /// Why the last job failed or expired, for `status` and the summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The indices of the shards this one was split into (phase `split`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub split_into: Vec<u32>,
}

impl ShardState {
    /// "tweets shard 3/8", for messages.
    pub fn label(&self, of: u32) -> String {
        format!("{} shard {}/{of}", self.job_type, self.index)
    }
}

/// A job as the state keeps it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct JobRecord {
    /// The job ID.
    pub id: JobId,
    /// Its name.
    pub name: String,
    /// The last status seen.
    pub status: JobStatus,
    /// Whether the upload URL is signed for the resumable protocol.
    pub resumable: bool,
    /// Signed upload URL (secret: redacted whenever shown).
    pub upload_url: SignedUrl,
    /// When the upload URL expires.
    pub upload_expires_at: Timestamp,
    /// Signed download URL (secret).
    pub download_url: SignedUrl,
    /// When the download URL expires.
    pub download_expires_at: Timestamp,
    /// When the job was created.
    pub created_at: Timestamp,
}

impl JobRecord {
    /// The record of a job the API returned.
    pub fn from_job(job: &ComplianceJob, resumable: bool) -> JobRecord {
        JobRecord {
            id: job.id,
            name: job.name.clone().unwrap_or_default(),
            status: job.status.clone(),
            resumable: job.resumable.unwrap_or(resumable),
            upload_url: job.upload_url.clone(),
            upload_expires_at: job.upload_expires_at,
            download_url: job.download_url.clone(),
            download_expires_at: job.download_expires_at,
            created_at: job.created_at,
        }
    }
}

/// A written results file.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ResultsRecord {
    /// The Parquet file, relative to the run directory.
    pub path: PathBuf,
    /// Rows (IDs that need action).
    pub rows: u64,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Error records of the job: input lines the API could not check.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub error_records: u64,
    /// The file keeping them (`results/errors-<type>-<shard>.jsonl`), when there were any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<PathBuf>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `skip_serializing_if` passes a reference.
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The written manifests.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct JoinedState {
    /// Files and their SHA-256, relative to the run directory.
    pub files: Vec<FileRecord>,
    /// Manifest rows.
    pub rows: u64,
    /// Dataset rows scanned.
    pub rows_scanned: u64,
}

/// A file and its checksum.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct FileRecord {
    /// Relative to the run directory.
    pub path: PathBuf,
    /// SHA-256 of the file.
    pub sha256: String,
}

/// The run directory's `state.json`, kept in memory and written through on every change.
#[derive(Debug)]
pub struct StateStore {
    dir: PathBuf,
    state: RunState,
}

impl StateStore {
    /// Wraps a state for the directory and writes it.
    pub fn create(dir: &Path, state: RunState) -> Result<StateStore, PipelineError> {
        let store = StateStore {
            dir: dir.to_owned(),
            state,
        };
        store.save()?;
        Ok(store)
    }

    /// Reads `state.json` of a run directory, or `None` when there is none.
    pub fn load(dir: &Path) -> Result<Option<RunState>, PipelineError> {
        let path = dir.join(STATE_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(PipelineError::io(path, e)),
        };
        let state: RunState = serde_json::from_str(&text).map_err(|e| PipelineError::State {
            path: path.clone(),
            message: format!("not a valid state file: {e}"),
        })?;
        if state.version != STATE_VERSION {
            return Err(PipelineError::State {
                path,
                message: format!(
                    "state version {} is not supported, expected {STATE_VERSION}",
                    state.version
                ),
            });
        }
        Ok(Some(state))
    }

    /// The state.
    pub fn get(&self) -> &RunState {
        &self.state
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Changes the state and writes it durably before returning.
    pub fn update<T>(&mut self, f: impl FnOnce(&mut RunState) -> T) -> Result<T, PipelineError> {
        let out = f(&mut self.state);
        self.save()?;
        Ok(out)
    }

    /// Changes one shard and writes the state.
    pub fn update_shard<T>(
        &mut self,
        slot: usize,
        f: impl FnOnce(&mut ShardState) -> T,
    ) -> Result<T, PipelineError> {
        self.update(|s| f(&mut s.shards[slot]))
    }

    fn save(&self) -> Result<(), PipelineError> {
        let json = serde_json::to_vec_pretty(&self.state).expect("the state always serialises");
        write_atomic(&self.dir, STATE_FILE, &json)
    }
}

/// Writes `dir/name` atomically: a temporary file with mode 0600, fsync, rename, fsync of the
/// directory.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), PipelineError> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(&tmp).map_err(|e| PipelineError::io(&tmp, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| PipelineError::io(&tmp, e))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(|e| PipelineError::io(&path, e))?;
    sync_dir(dir)
}

/// Fsyncs a directory so a rename in it is durable.
pub fn sync_dir(dir: &Path) -> Result<(), PipelineError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| PipelineError::io(dir, e))?;
    Ok(())
}

/// Reads `run.json`, or `None` when there is none.
pub fn load_run_info(dir: &Path) -> Result<Option<RunInfo>, PipelineError> {
    let path = dir.join(RUN_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| PipelineError::State {
                path,
                message: format!("not a valid run file: {e}"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(PipelineError::io(path, e)),
    }
}

/// The held lock of a run directory; released when dropped (or when the process dies, so a
/// `kill -9`ed run never leaves a stale lock behind).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the run directory's lock, or fails at once if another process holds it.
    pub fn acquire(dir: &Path) -> Result<RunLock, PipelineError> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| PipelineError::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(RunLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => Err(PipelineError::Locked { path }),
            Err(fs::TryLockError::Error(e)) => Err(PipelineError::io(path, e)),
        }
    }
}

/// Lowercase hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Lowercase hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut h = Sha256::new();
    // 256 KiB reads keep the syscall count low without a noticeable buffer.
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> RunState {
        RunState {
            version: STATE_VERSION,
            run_id: "0123456789abcdef".into(),
            shards: vec![ShardState {
                job_type: JobType::Users,
                index: 1,
                path: "shards/users-00001.txt".into(),
                ids: 3,
                bytes: 12,
                sha256: "00".into(),
                phase: Phase::Created,
                attempts: 1,
                job: Some(JobRecord {
                    id: JobId(7),
                    name: job_name("0123456789abcdef", &JobType::Users, 1),
                    status: JobStatus::Created,
                    resumable: false,
                    upload_url: SignedUrl::new("http://127.0.0.1:1/u?X-Goog-Signature=secret1"),
                    upload_expires_at: Timestamp::from_millis(900_000),
                    download_url: SignedUrl::new("http://127.0.0.1:1/d?X-Goog-Signature=secret2"),
                    download_expires_at: Timestamp::from_millis(604_800_000),
                    created_at: Timestamp::from_millis(0),
                }),
                results: None,
                last_error: None,
                split_into: Vec::new(),
            }],
            joined: None,
            input_stats: None,
            upload_cap: None,
        }
    }

    #[test]
    fn state_round_trips_with_mode_0600_and_no_temp_left() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::create(dir.path(), state()).unwrap();
        store
            .update_shard(0, |s| s.phase = Phase::Uploaded)
            .unwrap();
        let loaded = StateStore::load(dir.path()).unwrap().unwrap();
        assert_eq!(&loaded, store.get());
        assert_eq!(loaded.shards[0].phase, Phase::Uploaded);
        // The URLs are stored whole (the run needs them), so the file must be private.
        let text = fs::read_to_string(dir.path().join(STATE_FILE)).unwrap();
        assert!(text.contains("secret1"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(STATE_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, [STATE_FILE]);
        // Debug output of the state never shows a signature.
        assert!(!format!("{loaded:?}").contains("secret"));
    }

    #[test]
    fn missing_and_corrupt_state() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(StateStore::load(dir.path()).unwrap(), None);
        fs::write(dir.path().join(STATE_FILE), b"{not json").unwrap();
        let err = StateStore::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("state.json: not a valid state file"), "{err}");
    }

    #[test]
    fn job_names_round_trip_and_fit_the_api_limit() {
        let id = derive_run_id(Path::new("/tmp/run1"), "dataset=/data");
        assert_eq!(id.len(), 16);
        assert_ne!(id, derive_run_id(Path::new("/tmp/run2"), "dataset=/data"));
        assert_eq!(id, derive_run_id(Path::new("/tmp/run1"), "dataset=/data"));
        let name = job_name(&id, &JobType::Tweets, 12);
        assert!(name.len() <= xcomply_core::MAX_JOB_NAME_CHARS);
        assert_eq!(parse_job_name(&id, &JobType::Tweets, &name), Some(12));
        assert_eq!(parse_job_name(&id, &JobType::Users, &name), None);
        assert_eq!(
            parse_job_name("ffffffffffffffff", &JobType::Tweets, &name),
            None
        );
    }

    #[test]
    fn second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path()).unwrap();
        let err = RunLock::acquire(dir.path()).unwrap_err();
        assert!(matches!(err, PipelineError::Locked { .. }), "{err}");
        drop(first);
        RunLock::acquire(dir.path()).unwrap();
    }
}
