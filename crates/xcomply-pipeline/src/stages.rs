//! What the scheduler needs from the stages, as one trait: the jobs API, the two transfers, and
//! the local shard and join steps.
//!
//! The scheduler, the durable state and the resume rules are written against this trait alone, so
//! they are tested with an in-memory fake that can fail, expire and "crash" at any step, and the
//! real implementation ([`crate::real`]) is a thin adapter over the stage crates.

use std::future::Future;
use std::path::{Path, PathBuf};

use xcomply_core::{ComplianceJob, JobId, JobType, SignedUrl};

use crate::error::StageError;
use crate::state::{Fingerprint, InputStats};

/// One shard file: the IDs of one job.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ShardFile {
    /// Tweets or users.
    pub job_type: JobType,
    /// 1-based position among the shards of its type.
    pub index: u32,
    /// The file, one ID per line.
    pub path: PathBuf,
    /// How many IDs it holds.
    pub ids: u64,
    /// Its size in bytes.
    pub bytes: u64,
    /// Lowercase hex SHA-256 of its content.
    pub sha256: String,
}

/// What the shard stage wrote and read.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ShardOutput {
    /// The shard files of every type.
    pub files: Vec<ShardFile>,
    /// What the inputs held: files, rows, invalid values skipped.
    pub stats: InputStats,
}

/// A results file of one job, as the join reads it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ResultsFile {
    /// Tweets or users.
    pub job_type: JobType,
    /// The Parquet file (results schema).
    pub path: PathBuf,
}

/// What a download wrote.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct DownloadOutput {
    /// Rows of the results file: IDs that need action.
    pub rows: u64,
    /// Error records: input lines the API could not check (`{"id": …, "error": "invalid_id"}`),
    /// kept in the errors file when there are any.
    pub error_records: u64,
}

/// What the join wrote.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct JoinOutput {
    /// Every file it wrote (manifest Parquet files and `summary.json`), relative to the run
    /// directory or absolute.
    pub files: Vec<PathBuf>,
    /// Rows of the manifest: dataset rows that need action.
    pub rows: u64,
    /// Dataset rows scanned.
    pub rows_scanned: u64,
}

/// The stages of a run. Async methods move bytes over the network; the blocking ones (`shard`,
/// `join`) are called from a blocking thread.
pub trait Stages: Send + Sync + 'static {
    /// Creates a job (`POST /2/compliance/jobs`).
    fn create_job(
        &self,
        job_type: &JobType,
        name: &str,
        resumable: bool,
    ) -> impl Future<Output = Result<ComplianceJob, StageError>> + Send;

    /// Reads a job (`GET /2/compliance/jobs/:id`).
    fn get_job(&self, id: JobId) -> impl Future<Output = Result<ComplianceJob, StageError>> + Send;

    /// Lists the recent jobs of one type (`GET /2/compliance/jobs?type=`).
    fn list_jobs(
        &self,
        job_type: &JobType,
    ) -> impl Future<Output = Result<Vec<ComplianceJob>, StageError>> + Send;

    /// Cancels an unfinished job so that its type's slot is free. Best effort: the scheduler
    /// ignores a failure and lets the conflict handling sort it out.
    fn cancel_job(&self, id: JobId) -> impl Future<Output = Result<(), StageError>> + Send;

    /// Uploads a shard file to a job's signed upload URL.
    fn upload(
        &self,
        url: &SignedUrl,
        resumable: bool,
        shard: &Path,
    ) -> impl Future<Output = Result<(), StageError>> + Send;

    /// Downloads a complete job's results and decodes them into a results Parquet file at `out`
    /// (the scheduler passes a temporary name and renames it once this returns), and the error
    /// records, if there are any, into `errors` (JSON Lines, written whole or not at all).
    fn download(
        &self,
        url: &SignedUrl,
        job_id: JobId,
        job_type: &JobType,
        out: &Path,
        errors: &Path,
    ) -> impl Future<Output = Result<DownloadOutput, StageError>> + Send;

    /// Milliseconds since the epoch on the API's clock, to judge URL expiry before trying. The real
    /// API's clock is the system clock; an emulator with an accelerated clock reports its own.
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }

    /// Size and modification time of every input file, taken before sharding and compared on
    /// every later invocation, so that a run whose dataset changed is refused instead of reporting
    /// the old results. Blocking. The default (no files) suits stages without files on disk.
    fn fingerprint(&self) -> Result<Fingerprint, StageError> {
        Ok(Fingerprint::default())
    }

    /// Extracts, deduplicates and shards the IDs of the run's inputs into `dir`, for every type
    /// the run covers. Blocking.
    fn shard(&self, dir: &Path) -> Result<ShardOutput, StageError>;

    /// Joins the results against the dataset into delete manifests in `dir`. Blocking.
    fn join(&self, results: &[ResultsFile], dir: &Path) -> Result<JoinOutput, StageError>;
}
