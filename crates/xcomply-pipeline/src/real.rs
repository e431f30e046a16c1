//! The real stages: `xcomply-client` for the jobs API, `xcomply-transfer` for the signed URLs,
//! `xcomply-shard` for the IDs and `xcomply-sink` for decoding results and the join.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use futures::StreamExt;
use xcomply_client::{Client, ClientError};
use xcomply_core::{ComplianceJob, JobId, JobType, SignedUrl};
use xcomply_dataset::{Dataset, FileStamp, Fingerprint, StampedFile};
use xcomply_shard::{IdSink, Limits, ShardError, Sharder};
use xcomply_sink::SinkError;
use xcomply_sink::join::JoinOptions;
use xcomply_transfer::{Progress, TransferError, Transfers};

use crate::error::{StageError, StageErrorKind};
use crate::stages::{DownloadOutput, JoinOutput, ResultsFile, ShardFile, ShardOutput, Stages};
use crate::state::{InputStats, Rejected};

/// What a run reads: a Parquet dataset (post and author IDs), and/or a text file of IDs of one type.
#[derive(Clone, Debug)]
pub struct Inputs {
    /// Parquet files, directories or globs.
    pub dataset: Vec<PathBuf>,
    /// The dataset's post ID column.
    pub tweet_id_column: String,
    /// The dataset's author ID column.
    pub user_id_column: String,
    /// A text file of IDs and their type.
    pub ids: Option<(PathBuf, JobType)>,
    /// Most IDs per job.
    pub max_ids_per_job: u64,
    /// Most bytes per job's upload (`None`: no cap); the live API refuses more than 128 MB.
    pub max_bytes_per_job: Option<u64>,
    /// Memory the sharder may use before it spills sorted runs to disk.
    pub memory_limit: u64,
    /// Skip invalid ID values (counted, and listed with their file and row in
    /// `rejects-<type>.txt` of the run directory) instead of failing on the first.
    pub lenient: bool,
}

impl Inputs {
    /// A dataset with the default column names and shard size.
    pub fn dataset(paths: Vec<PathBuf>) -> Inputs {
        Inputs {
            dataset: paths,
            tweet_id_column: "id".into(),
            user_id_column: "author_id".into(),
            ids: None,
            max_ids_per_job: xcomply_shard::DEFAULT_MAX_IDS_PER_JOB,
            max_bytes_per_job: Some(xcomply_shard::DEFAULT_MAX_BYTES_PER_JOB),
            memory_limit: xcomply_shard::DEFAULT_MEMORY_LIMIT,
            lenient: false,
        }
    }

    /// The dataset inputs as text (how the dataset crate spells them); a path that is not
    /// UTF-8 is refused, since manifests name the files.
    pub fn dataset_inputs(&self) -> Result<Vec<String>, StageError> {
        self.dataset
            .iter()
            .map(|p| {
                p.to_str().map(str::to_owned).ok_or_else(|| {
                    StageError::new(
                        StageErrorKind::Input,
                        format!(
                            "{}: path is not valid UTF-8; expected a UTF-8 path",
                            p.display()
                        ),
                    )
                })
            })
            .collect()
    }

    /// A one-line description (columns, IDs file, shard size): part of the run ID, and what a
    /// later run on the same directory must match. The dataset's paths are not in it: which
    /// files the dataset holds is the run's fingerprint (canonical locations and stamps), so
    /// `ds`, `./ds/` and a glob, quoted or expanded by the shell, are the same run, and a
    /// changed dataset is reported file by file.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.dataset.is_empty() {
            parts.push(format!(
                "dataset columns={},{}",
                self.tweet_id_column, self.user_id_column
            ));
        }
        if let Some((path, t)) = &self.ids {
            parts.push(format!(
                "ids={} type={t}",
                xcomply_dataset::resolve(path).display()
            ));
        }
        parts.push(format!("max_ids_per_job={}", self.max_ids_per_job));
        // The byte cap is part of the plan only when it is not the default, so that runs planned
        // before it existed keep their run ID.
        if self.max_bytes_per_job != Some(xcomply_shard::DEFAULT_MAX_BYTES_PER_JOB) {
            parts.push(format!(
                "max_bytes_per_job={}",
                self.max_bytes_per_job
                    .map_or_else(|| "none".to_owned(), |b| b.to_string())
            ));
        }
        parts.join(" ")
    }

    /// Whether there is a dataset to join the results against.
    pub fn can_join(&self) -> bool {
        !self.dataset.is_empty()
    }
}

/// The API's clock, when it is not the system clock (an in-process emulator with a time scale).
pub type ClockFn = Arc<dyn Fn() -> i64 + Send + Sync>;

/// [`Stages`] over the real crates.
pub struct RealStages {
    client: Client,
    transfers: Transfers,
    inputs: Inputs,
    clock: Option<ClockFn>,
    /// The dataset as discovered once by [`Stages::fingerprint`]: the shard and join stages read
    /// exactly these files, so they cannot disagree about what the dataset holds.
    dataset: std::sync::Mutex<Option<Arc<Dataset>>>,
}

impl std::fmt::Debug for RealStages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealStages")
            .field("inputs", &self.inputs)
            .finish_non_exhaustive()
    }
}

impl RealStages {
    /// Stages for `inputs` talking to the API through `client` and to storage through
    /// `transfers`.
    pub fn new(client: Client, transfers: Transfers, inputs: Inputs) -> RealStages {
        RealStages {
            client,
            transfers,
            inputs,
            clock: None,
            dataset: std::sync::Mutex::new(None),
        }
    }

    /// Uses `clock` instead of the system clock to judge URL expiry.
    #[must_use]
    pub fn with_clock(mut self, clock: ClockFn) -> RealStages {
        self.clock = Some(clock);
        self
    }
}

fn client_error(e: &ClientError) -> StageError {
    let kind = if e.is_auth() || matches!(e, ClientError::Config(_)) {
        StageErrorKind::Credentials
    } else if e.is_conflict() {
        StageErrorKind::Conflict
    } else if e.is_not_found() {
        StageErrorKind::NotFound
    } else {
        StageErrorKind::Api
    };
    StageError::new(kind, e.to_string())
}

fn transfer_error(e: &TransferError) -> StageError {
    if let TransferError::TooLarge { limit_hint, .. } = e {
        return StageError::too_large(e.to_string(), *limit_hint);
    }
    let kind = if e.is_auth() {
        StageErrorKind::Credentials
    } else if e.is_expired() {
        StageErrorKind::UrlExpired
    } else if e.status() == Some(404) {
        StageErrorKind::NotFound
    } else if matches!(e, TransferError::Io { .. }) {
        StageErrorKind::Input
    } else {
        StageErrorKind::Api
    };
    StageError::new(kind, e.to_string())
}

fn shard_error(e: &ShardError) -> StageError {
    match e {
        ShardError::Dataset(d) => dataset_error(d),
        _ => StageError::new(StageErrorKind::Input, e.to_string()),
    }
}

fn dataset_error(e: &xcomply_dataset::DatasetError) -> StageError {
    use xcomply_dataset::{DatasetError, StoreErrorKind};
    let kind = match e {
        DatasetError::ObjectStore {
            kind: StoreErrorKind::Credentials,
            ..
        } => StageErrorKind::Credentials,
        DatasetError::ObjectStore {
            kind: StoreErrorKind::Other,
            ..
        } => StageErrorKind::Api,
        _ => StageErrorKind::Input,
    };
    StageError::new(kind, e.to_string())
}

impl RealStages {
    /// The dataset, discovered on first use and the same object afterwards; `None` without
    /// dataset inputs (an IDs file alone).
    fn dataset(&self) -> Result<Option<Arc<Dataset>>, StageError> {
        if self.inputs.dataset.is_empty() {
            return Ok(None);
        }
        let mut cached = self
            .dataset
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(d) = cached.as_ref() {
            return Ok(Some(Arc::clone(d)));
        }
        let d = Arc::new(
            Dataset::discover(&self.inputs.dataset_inputs()?).map_err(|e| dataset_error(&e))?,
        );
        *cached = Some(Arc::clone(&d));
        Ok(Some(d))
    }
}

fn sink_error(e: &SinkError) -> StageError {
    match e {
        SinkError::Dataset(d) => dataset_error(d),
        _ => StageError::new(StageErrorKind::Input, e.to_string()),
    }
}

/// Decoded download bytes handed from the async download to the blocking decoder. Four chunks
/// of up to 256 KiB bound the memory between the two; the channel's capacity is the backpressure.
const DECODE_QUEUE: usize = 4;

/// A blocking reader over the chunks of an async download.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while !self.current.has_remaining() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        self.current.copy_to_slice(&mut buf[..n]);
        Ok(n)
    }
}

impl Stages for RealStages {
    async fn create_job(
        &self,
        job_type: &JobType,
        name: &str,
        resumable: bool,
    ) -> Result<ComplianceJob, StageError> {
        self.client
            .create_job(job_type, Some(name), resumable)
            .await
            .map_err(|e| client_error(&e))
    }

    async fn get_job(&self, id: JobId) -> Result<ComplianceJob, StageError> {
        self.client.get_job(id).await.map_err(|e| client_error(&e))
    }

    async fn list_jobs(&self, job_type: &JobType) -> Result<Vec<ComplianceJob>, StageError> {
        self.client
            .list_jobs(job_type, None)
            .await
            .map_err(|e| client_error(&e))
    }

    async fn cancel_job(&self, id: JobId) -> Result<(), StageError> {
        self.client
            .cancel_job(id)
            .await
            .map(|_| ())
            .map_err(|e| client_error(&e))
    }

    async fn upload(
        &self,
        url: &SignedUrl,
        resumable: bool,
        shard: &Path,
    ) -> Result<(), StageError> {
        // A byte path of the live API has no resumable mode: whatever the job says, it takes one
        // PUT.
        let result = if resumable && !xcomply_transfer::is_byte_path(url.expose()) {
            self.transfers
                .upload_resumable(url, shard, &Progress::none())
                .await
        } else {
            self.transfers
                .upload_file(url, shard, &Progress::none())
                .await
        };
        result.map(|_| ()).map_err(|e| transfer_error(&e))
    }

    async fn download(
        &self,
        url: &SignedUrl,
        job_id: JobId,
        job_type: &JobType,
        out: &Path,
        errors: &Path,
    ) -> Result<DownloadOutput, StageError> {
        let mut stream = self
            .transfers
            .download(url, &Progress::none())
            .await
            .map_err(|e| transfer_error(&e))?;
        let (tx, rx) = tokio::sync::mpsc::channel(DECODE_QUEUE);
        let (job_type2, out2) = (job_type.clone(), out.to_owned());
        // An errors file of an earlier download of this shard (another job's) must not outlive
        // it: the new one is written only when the new results hold error records.
        match std::fs::remove_file(errors) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StageError::new(
                    StageErrorKind::Input,
                    format!("cannot remove {}: {e}", errors.display()),
                ));
            }
        }
        let options = xcomply_sink::results::DecodeOptions {
            errors: Some(errors.to_owned()),
            ..Default::default()
        };
        let decoder = tokio::task::spawn_blocking(move || {
            let reader = ChannelReader {
                rx,
                current: Bytes::new(),
            };
            xcomply_sink::results::decode_reader_with(
                reader,
                &job_type2,
                Some(job_id.0 as i64),
                &out2,
                &options,
            )
        });
        let mut failure = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(bytes) => {
                    if tx.send(Ok(bytes)).await.is_err() {
                        // The decoder stopped early; its own error says why.
                        break;
                    }
                }
                Err(e) => {
                    let stage = transfer_error(&e);
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    failure = Some(stage);
                    break;
                }
            }
        }
        drop(tx);
        let outcome = decoder.await.expect("the decoder does not panic");
        if let Some(stage) = failure {
            return Err(stage);
        }
        let summary = outcome.map_err(|e| {
            StageError::new(
                StageErrorKind::Api,
                format!("results of job {job_id} could not be decoded: {e}"),
            )
        })?;
        Ok(DownloadOutput {
            rows: summary.results.rows,
            error_records: summary.stats.error_records,
        })
    }

    fn now_ms(&self) -> i64 {
        match &self.clock {
            Some(clock) => clock(),
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
        }
    }

    fn fingerprint(&self) -> Result<Fingerprint, StageError> {
        let mut files = match self.dataset()? {
            Some(d) => d.fingerprint().files,
            None => Vec::new(),
        };
        if let Some((path, _)) = &self.inputs.ids {
            let stamp = FileStamp::of_path(path).map_err(|e| {
                StageError::new(StageErrorKind::Input, format!("{}: {e}", path.display()))
            })?;
            files.push(StampedFile {
                path: xcomply_dataset::resolve(path).display().to_string(),
                stamp,
            });
        }
        Ok(Fingerprint::new(files))
    }

    fn shard(&self, dir: &Path) -> Result<ShardOutput, StageError> {
        let inputs = &self.inputs;
        let mut stats = InputStats::default();
        // A crash during an earlier sharding may have left files behind; they are replaced.
        xcomply_shard::prepare_out_dir(dir, true).map_err(|e| shard_error(&e))?;
        let limits = Limits {
            // Two sharders run at once (posts and authors); each gets half the budget.
            memory_limit: inputs.memory_limit / 2,
            max_ids_per_job: inputs.max_ids_per_job,
            max_bytes_per_job: inputs.max_bytes_per_job,
            temp_dir: Some(dir.to_owned()),
            ..Limits::default()
        };
        let threads = limits.threads;
        let mut tweets =
            Sharder::new(JobType::Tweets, limits.clone()).map_err(|e| shard_error(&e))?;
        let mut users = Sharder::new(JobType::Users, limits).map_err(|e| shard_error(&e))?;
        // Rejected values go next to state.json, where the summary points.
        let run_dir = dir.parent().unwrap_or(dir);
        let rejects = |t: &JobType| run_dir.join(format!("rejects-{t}.txt"));
        if inputs.lenient {
            for (sharder, t) in [(&mut tweets, JobType::Tweets), (&mut users, JobType::Users)] {
                sharder
                    .log_rejects_to(&rejects(&t))
                    .map_err(|e| shard_error(&e))?;
            }
        }
        if let Some(dataset) = self.dataset()? {
            for file in dataset.files() {
                let columns = [
                    inputs.tweet_id_column.as_str(),
                    inputs.user_id_column.as_str(),
                ];
                let mut sinks: [&mut dyn IdSink; 2] = [&mut tweets, &mut users];
                stats.rows +=
                    xcomply_shard::read_parquet_columns(file, &columns, inputs.lenient, &mut sinks)
                        .map_err(|e| shard_error(&e))?;
                stats.files += 1;
            }
        }
        if let Some((path, t)) = &inputs.ids {
            let sink: &mut Sharder = if *t == JobType::Users {
                &mut users
            } else {
                &mut tweets
            };
            stats.rows +=
                xcomply_shard::read_text(&path.to_string_lossy(), inputs.lenient, threads, sink)
                    .map_err(|e| shard_error(&e))?;
            stats.files += 1;
        }
        let mut manifests = Vec::new();
        let mut files = Vec::new();
        for (sharder, t) in [(tweets, JobType::Tweets), (users, JobType::Users)] {
            let manifest = sharder.finish(dir).map_err(|e| shard_error(&e))?;
            if inputs.lenient {
                let count = manifest.totals.invalid;
                if count > 0 {
                    stats.rejected.push(Rejected {
                        job_type: t.clone(),
                        count,
                        file: rejects(&t),
                    });
                } else {
                    // An empty list of nothing is clutter in the run directory.
                    let _ = std::fs::remove_file(rejects(&t));
                }
            }
            for (i, s) in manifest.shards.iter().enumerate() {
                files.push(ShardFile {
                    job_type: t.clone(),
                    index: i as u32 + 1,
                    path: dir.join(&s.file),
                    ids: s.count,
                    bytes: s.bytes,
                    sha256: s.sha256.clone(),
                });
            }
            manifests.push(manifest);
        }
        xcomply_shard::write_manifest(dir, &manifests).map_err(|e| shard_error(&e))?;
        Ok(ShardOutput { files, stats })
    }

    fn join(&self, results: &[ResultsFile], dir: &Path) -> Result<JoinOutput, StageError> {
        let results_dir = results
            .first()
            .and_then(|r| r.path.parent())
            .map_or_else(|| dir.with_file_name("results"), Path::to_owned);
        std::fs::create_dir_all(&results_dir).map_err(|e| {
            StageError::new(
                StageErrorKind::Input,
                format!("{}: {e}", results_dir.display()),
            )
        })?;
        let options = JoinOptions {
            tweet_id_column: self.inputs.tweet_id_column.clone(),
            user_id_column: self.inputs.user_id_column.clone(),
            ..JoinOptions::default()
        };
        let Some(dataset) = self.dataset()? else {
            return Err(StageError::new(
                StageErrorKind::Input,
                "no dataset to join the results against (--ids runs take --no-join)",
            ));
        };
        // The join reads the very files the shard stage read; one that changed in between
        // would pair results for its old IDs with its new rows.
        for f in dataset.files() {
            let now = f
                .reader()
                .and_then(|r| r.stamp())
                .map_err(|e| dataset_error(&e))?;
            if now != f.stamp {
                return Err(StageError::new(
                    StageErrorKind::Input,
                    format!(
                        "{}: changed since its IDs were sharded in this run ({} bytes then, {} \
                         now), so the results no longer describe it; run again with --restart",
                        f.display, f.stamp.bytes, now.bytes
                    ),
                ));
            }
        }
        let summary = xcomply_sink::join::join_dataset(&dataset, &results_dir, dir, &options)
            .map_err(|e| sink_error(&e))?;
        Ok(JoinOutput {
            files: vec![
                dir.join(xcomply_sink::join::MANIFEST_FILE),
                dir.join(xcomply_sink::join::SUMMARY_FILE),
                dir.join(xcomply_sink::join::REHYDRATE_IDS_FILE),
            ],
            rows: summary.manifest_rows,
            rows_scanned: summary.rows_scanned,
        })
    }
}
