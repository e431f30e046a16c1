//! The scheduler: plans the shards, drives one job at a time per type (tweets and users side by
//! side), overlaps each job's download with the next job's create and upload, joins, and writes
//! the state after every transition.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use xcomply_core::{ComplianceJob, JobId, JobStatus, JobType};

use crate::error::{PipelineError, StageError, StageErrorKind};
use crate::progress::{Activity, Event, Observer};
use crate::stages::{ResultsFile, Stages};
use crate::state::{
    self, FileRecord, JobRecord, JoinedState, Phase, ResultsRecord, RunInfo, RunLock, RunState,
    STATE_VERSION, ShardState, StateStore,
};
use crate::state::{Fingerprint, InputStats};

/// How a run behaves. The inputs themselves are the [`Stages`]' business; `inputs` only describes
/// them, so that a re-run with other inputs on the same directory is refused.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The run directory.
    pub out: PathBuf,
    /// A description of the inputs (paths, columns, shard size), part of the run ID.
    pub inputs: String,
    /// The dataset inputs as given (paths, directories, globs): the run directory may not be
    /// inside one, where its files would be read as input by a later run or by the join.
    pub dataset_inputs: Vec<String>,
    /// Use the resumable upload protocol.
    pub resumable: bool,
    /// Start over in an existing run directory: cancel the unfinished jobs its state knows,
    /// remove what the run wrote (run.json, state.json, shards, results, manifests, rejects) and
    /// plan the run anew from the inputs as they are now.
    pub restart: bool,
    /// New jobs for a shard after its first one fails or expires, before the shard is reported.
    pub max_job_retries: u32,
    /// Join the results against the dataset into manifests.
    pub join: bool,
    /// First wait between two status polls of a job.
    pub poll_initial: Duration,
    /// Longest wait between two polls; the wait grows by half each poll up to this.
    pub poll_max: Duration,
    /// An upload URL closer than this to its expiry is treated as expired: an upload that starts
    /// in the last seconds could be cut off, and a new job costs one request.
    pub upload_expiry_margin: Duration,
}

impl RunConfig {
    /// Defaults for the real API: polls start at 5 s and back off to 60 s, which keeps two types'
    /// polling well under the 150 requests per 15 minutes of `GET /2/compliance/jobs/:id`.
    pub fn new(out: impl Into<PathBuf>, inputs: impl Into<String>) -> RunConfig {
        RunConfig {
            out: out.into(),
            inputs: inputs.into(),
            dataset_inputs: Vec::new(),
            resumable: false,
            restart: false,
            max_job_retries: 3,
            join: true,
            poll_initial: Duration::from_secs(5),
            poll_max: Duration::from_secs(60),
            upload_expiry_margin: Duration::from_secs(10),
        }
    }
}

/// What a run did, for the summary line and `--json`.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    /// The run ID (part of every job name).
    pub run_id: String,
    /// The run directory.
    pub out: PathBuf,
    /// One entry per type.
    pub types: Vec<TypeSummary>,
    /// Shards that failed for good.
    pub failed: Vec<FailedShard>,
    /// The manifests, when joined.
    pub joined: Option<JoinedState>,
    /// What the inputs held: files, rows and invalid values skipped.
    pub input_stats: Option<InputStats>,
    /// Wall time per stage and per job of this invocation.
    pub timings: Timings,
}

impl RunSummary {
    /// Whether every shard has its results (and the manifests are written if asked).
    pub fn is_success(&self) -> bool {
        self.failed.is_empty()
    }
}

/// One type's totals.
#[derive(Clone, Debug, Serialize)]
pub struct TypeSummary {
    /// Tweets or users.
    pub job_type: String,
    /// Shards (jobs needed).
    pub shards: u32,
    /// Distinct IDs.
    pub ids: u64,
    /// Shards with results written.
    pub done: u32,
    /// Result rows: IDs that need action.
    pub results_rows: u64,
    /// Error records: uploaded lines the API could not check (kept in `results/errors-*.jsonl`).
    pub error_records: u64,
    /// Jobs created by this invocation.
    pub jobs_created: u32,
}

/// A shard that failed for good.
#[derive(Clone, Debug, Serialize)]
pub struct FailedShard {
    /// Tweets or users.
    pub job_type: String,
    /// 1-based shard index.
    pub index: u32,
    /// Its last job.
    pub job_id: Option<String>,
    /// Why.
    pub error: String,
}

/// Wall times of this invocation, in seconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Timings {
    /// Extracting and sharding the IDs (0 when resumed past it).
    pub shard_s: f64,
    /// From the first job to the last results file.
    pub jobs_s: f64,
    /// The join (0 when skipped).
    pub join_s: f64,
    /// The whole invocation.
    pub total_s: f64,
    /// Every job this invocation drove, in the order they finished.
    pub per_job: Vec<JobTiming>,
}

/// The client side of one job: time spent in each step. `wait_s` is the API's processing time plus
/// the polling delay; the rest is the client's overhead and the transfers.
#[derive(Clone, Debug, Default, Serialize)]
pub struct JobTiming {
    /// Tweets or users.
    pub job_type: String,
    /// 1-based shard index.
    pub index: u32,
    /// IDs in the shard.
    pub ids: u64,
    /// Bytes of the shard file (what the upload sends).
    pub bytes: u64,
    /// `POST /2/compliance/jobs`.
    pub create_s: f64,
    /// The upload.
    pub upload_s: f64,
    /// From the end of the upload until the job was seen complete.
    pub wait_s: f64,
    /// Download, decode and write of the results.
    pub download_s: f64,
}

struct Ctx<S> {
    stages: Arc<S>,
    store: Mutex<StateStore>,
    config: RunConfig,
    observer: Arc<dyn Observer>,
    timings: Mutex<BTreeMap<usize, JobTiming>>,
    jobs_created: Mutex<BTreeMap<String, u32>>,
}

impl<S: Stages> Ctx<S> {
    fn shard(&self, slot: usize) -> ShardState {
        self.store.lock().unwrap().get().shards[slot].clone()
    }

    fn update_shard<T>(
        &self,
        slot: usize,
        f: impl FnOnce(&mut ShardState) -> T,
    ) -> Result<T, PipelineError> {
        self.store.lock().unwrap().update_shard(slot, f)
    }

    fn of(&self, job_type: &JobType) -> u32 {
        let store = self.store.lock().unwrap();
        store
            .get()
            .shards
            .iter()
            .filter(|s| &s.job_type == job_type && s.phase.is_live())
            .count() as u32
    }

    fn run_id(&self) -> String {
        self.store.lock().unwrap().get().run_id.clone()
    }

    fn emit_shard(&self, shard: &ShardState, activity: Activity) {
        self.observer.event(&Event::Shard {
            job_type: shard.job_type.clone(),
            index: shard.index,
            of: self.of(&shard.job_type),
            activity,
            ids: shard.ids,
            job: shard.job.as_ref().map(|j| j.id),
        });
    }

    fn note(&self, message: String) {
        tracing::info!("{message}");
        self.observer.event(&Event::Note { message });
    }

    /// "tweets shard 3/8 (job 123)", for errors.
    fn context(&self, slot: usize) -> String {
        let shard = self.shard(slot);
        let mut label = shard.label(self.of(&shard.job_type));
        if let Some(job) = &shard.job {
            label = format!("{label} (job {})", job.id);
        }
        label
    }

    fn timing(&self, slot: usize, f: impl FnOnce(&mut JobTiming)) {
        let shard = self.shard(slot);
        let mut timings = self.timings.lock().unwrap();
        let t = timings.entry(slot).or_insert_with(|| JobTiming {
            job_type: shard.job_type.to_string(),
            index: shard.index,
            ids: shard.ids,
            bytes: shard.bytes,
            ..JobTiming::default()
        });
        f(t);
    }
}

/// Runs (or resumes) a whole run in `config.out`.
///
/// Returns the summary when every shard is either done or failed for good (the caller decides the
/// exit code from [`RunSummary::failed`]); returns [`PipelineError::Interrupted`] soon after
/// `cancel` fires, with the state on disk consistent.
pub async fn run<S: Stages>(
    stages: Arc<S>,
    config: RunConfig,
    observer: Arc<dyn Observer>,
    cancel: CancellationToken,
) -> Result<RunSummary, PipelineError> {
    tokio::select! {
        // Dropping the run future at an await point is safe: every state change is written
        // synchronously and completely before the next await, and in-flight downloads live in a
        // `JoinSet`, which aborts them when dropped.
        biased;
        () = cancel.cancelled() => Err(PipelineError::Interrupted),
        result = run_inner(stages, config, observer) => result,
    }
}

async fn run_inner<S: Stages>(
    stages: Arc<S>,
    config: RunConfig,
    observer: Arc<dyn Observer>,
) -> Result<RunSummary, PipelineError> {
    let started = Instant::now();
    let out = &config.out;
    check_out_dir(out, &config.dataset_inputs)?;
    std::fs::create_dir_all(out).map_err(|e| PipelineError::io(out, e))?;
    let out = std::fs::canonicalize(out).map_err(|e| PipelineError::io(out, e))?;
    let _lock = RunLock::acquire(&out)?;
    if config.restart {
        start_over(stages.as_ref(), &out, observer.as_ref()).await?;
    }
    let stages2 = Arc::clone(&stages);
    let fingerprint = tokio::task::spawn_blocking(move || stages2.fingerprint())
        .await
        .expect("the fingerprint does not panic")
        .map_err(|e| PipelineError::stage("reading the inputs", e))?;
    let info = open_run_info(&out, &config.inputs, fingerprint)?;

    let mut timings = Timings::default();
    let store = if let Some(existing) = StateStore::load(&out)? {
        if existing.run_id != info.run_id {
            return Err(PipelineError::State {
                path: out.join(state::STATE_FILE),
                message: format!(
                    "belongs to run `{}`, but run.json names run `{}`",
                    existing.run_id, info.run_id
                ),
            });
        }
        let mut store = StateStore::create(&out, existing)?;
        normalise_for_resume(&mut store)?;
        store
    } else {
        observer.event(&Event::Step {
            activity: Activity::Sharding,
        });
        let t = Instant::now();
        let shards_dir = out.join("shards");
        std::fs::create_dir_all(&shards_dir).map_err(|e| PipelineError::io(&shards_dir, e))?;
        let stages2 = Arc::clone(&stages);
        let output = tokio::task::spawn_blocking(move || stages2.shard(&shards_dir))
            .await
            .expect("the shard stage does not panic")
            .map_err(|e| PipelineError::stage("sharding", e))?;
        timings.shard_s = t.elapsed().as_secs_f64();
        if output.files.is_empty() {
            // Nothing to send: refuse rather than "finish" with no manifest. No state is written
            // and the sharder's empty manifest is removed (it would count as planned shards), so
            // a re-run after fixing the inputs starts here again.
            let manifest = out.join("shards").join(xcomply_shard::MANIFEST_FILE);
            if let Err(e) = std::fs::remove_file(&manifest)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                return Err(PipelineError::io(&manifest, e));
            }
            return Err(PipelineError::NoIds {
                files: output.stats.files,
                rows: output.stats.rows,
            });
        }
        let mut stats = output.stats;
        for r in &mut stats.rejected {
            r.file = relative_to(&out, &r.file);
        }
        let shards = output
            .files
            .into_iter()
            .map(|f| ShardState {
                job_type: f.job_type,
                index: f.index,
                path: relative_to(&out, &f.path),
                ids: f.ids,
                bytes: f.bytes,
                sha256: f.sha256,
                phase: Phase::Planned,
                attempts: 0,
                job: None,
                results: None,
                last_error: None,
                split_into: Vec::new(),
            })
            .collect();
        StateStore::create(
            &out,
            RunState {
                version: STATE_VERSION,
                run_id: info.run_id.clone(),
                shards,
                joined: None,
                input_stats: Some(stats),
                upload_cap: None,
            },
        )?
    };

    let types: Vec<JobType> = {
        let mut types: Vec<JobType> = Vec::new();
        for s in &store.get().shards {
            if !types.contains(&s.job_type) {
                types.push(s.job_type.clone());
            }
        }
        types
    };
    for t in &types {
        let shards: Vec<&ShardState> = store
            .get()
            .shards
            .iter()
            .filter(|s| &s.job_type == t && s.phase.is_live())
            .collect();
        let done: Vec<&&ShardState> = shards
            .iter()
            .filter(|s| s.phase == Phase::ResultsWritten)
            .collect();
        observer.event(&Event::Planned {
            job_type: t.clone(),
            shards: shards.len() as u32,
            ids: shards.iter().map(|s| s.ids).sum(),
            done: done.len() as u32,
            done_ids: done.iter().map(|s| s.ids).sum(),
        });
    }

    let ctx = Arc::new(Ctx {
        stages,
        store: Mutex::new(store),
        config: config.clone(),
        observer: Arc::clone(&observer),
        timings: Mutex::new(BTreeMap::new()),
        jobs_created: Mutex::new(BTreeMap::new()),
    });

    let t = Instant::now();
    let drivers = types
        .iter()
        .map(|t| drive_type(Arc::clone(&ctx), t.clone()));
    futures::future::try_join_all(drivers).await?;
    timings.jobs_s = t.elapsed().as_secs_f64();

    let any_failed = ctx
        .store
        .lock()
        .unwrap()
        .get()
        .shards
        .iter()
        .any(|s| s.phase == Phase::Failed);
    if config.join && !any_failed && !types.is_empty() {
        let t = Instant::now();
        join(&ctx, &out).await?;
        timings.join_s = t.elapsed().as_secs_f64();
    }
    timings.per_job = ctx.timings.lock().unwrap().values().cloned().collect();
    timings.total_s = started.elapsed().as_secs_f64();

    let state = ctx.store.lock().unwrap().get().clone();
    let jobs_created = ctx.jobs_created.lock().unwrap().clone();
    Ok(summarise(&out, &state, &types, &jobs_created, timings))
}

/// Clears a run directory for `--restart`: cancels the unfinished jobs of its state (best effort:
/// a job that cannot be cancelled ends by itself, and until then the conflict handling names it)
/// and removes every file the run wrote, nothing else.
async fn start_over<S: Stages>(
    stages: &S,
    out: &Path,
    observer: &dyn Observer,
) -> Result<(), PipelineError> {
    // A directory with either file is a run directory (see `check_out_dir`): a lost run.json
    // must not turn --restart into a silent resume of the old state.
    if state::load_run_info(out)?.is_none() && !out.join(state::STATE_FILE).exists() {
        return Ok(());
    }
    if let Ok(Some(old)) = StateStore::load(out) {
        let unfinished = old
            .shards
            .iter()
            .filter(|s| s.phase.holds_slot())
            .filter_map(|s| s.job.as_ref());
        for job in unfinished {
            if let Err(e) = stages.cancel_job(job.id).await {
                tracing::debug!("cancelling job {} of the old run: {e}", job.id);
            }
        }
    }
    for dir in ["shards", "results", "manifests"] {
        let path = out.join(dir);
        match std::fs::remove_dir_all(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(PipelineError::io(path, e));
            }
            _ => {}
        }
    }
    for file in [
        state::STATE_FILE,
        "rejects-tweets.txt",
        "rejects-users.txt",
        state::RUN_FILE,
    ] {
        let path = out.join(file);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(PipelineError::io(path, e));
            }
            _ => {}
        }
    }
    state::sync_dir(out)?;
    observer.event(&Event::Note {
        message: format!("{}: started over (--restart)", out.display()),
    });
    Ok(())
}

/// Refuses a run directory that is a file, a non-empty directory that is not a run directory
/// (a dataset copy would be filled with shards and results), or one inside an input directory.
fn check_out_dir(out: &Path, dataset_inputs: &[String]) -> Result<(), PipelineError> {
    let refuse = |message: String| PipelineError::OutDir {
        path: out.to_owned(),
        message,
    };
    match std::fs::metadata(out) {
        Ok(m) if !m.is_dir() => {
            return Err(refuse(
                "--out is a file, expected a directory (a new or empty one, or the run directory \
                 of an earlier xcomply run)"
                    .into(),
            ));
        }
        Ok(_) => {
            let entries = std::fs::read_dir(out).map_err(|e| PipelineError::io(out, e))?;
            let mut own = false;
            let mut foreign = None;
            for entry in entries {
                let name = entry
                    .map_err(|e| PipelineError::io(out, e))?
                    .file_name()
                    .to_string_lossy()
                    .into_owned();
                match name.as_str() {
                    // state.json alone: a run directory whose run.json was lost; the same
                    // command finds the same run ID again.
                    state::RUN_FILE | state::STATE_FILE => own = true,
                    // What a run killed before it wrote run.json leaves behind.
                    state::LOCK_FILE => {}
                    n if n == format!(".{}.tmp", state::RUN_FILE) => {}
                    _ => foreign = foreign.or(Some(name)),
                }
            }
            if let (false, Some(name)) = (own, foreign) {
                return Err(refuse(format!(
                    "--out is a non-empty directory that is not an xcomply run directory (it holds \
                     `{name}` and no {}); expected a new or empty directory, or the --out of an \
                     earlier xcomply run to resume",
                    state::RUN_FILE
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(PipelineError::io(out, e)),
    }
    // The same rule as the join's and apply's: a directory input that holds `out`, or a glob
    // that would match what the run writes there.
    let probe = out
        .join("manifests")
        .join(xcomply_sink::join::MANIFEST_FILE);
    if let Some(input) = xcomply_dataset::input_containing(out, &probe, dataset_inputs) {
        return Err(refuse(format!(
            "--out is inside the dataset input `{input}`, where its files would be read as \
             input; expected a directory outside the inputs"
        )));
    }
    Ok(())
}

/// Reads `run.json` and checks that the inputs are the ones it was planned with, or writes it
/// first thing on a new run.
fn open_run_info(
    out: &Path,
    inputs: &str,
    fingerprint: Fingerprint,
) -> Result<RunInfo, PipelineError> {
    if let Some(mut info) = state::load_run_info(out)? {
        // Run files of versions that put the dataset's paths in the description; the paths are
        // now judged by the fingerprint alone.
        if legacy_description(&info.inputs).as_deref() == Some(inputs) {
            inputs.clone_into(&mut info.inputs);
        }
        // Recorded locations canonicalised, as the fingerprint now records them (older run
        // files hold absolute but unresolved paths).
        if let Some(f) = &mut info.fingerprint {
            for file in &mut f.files {
                let path = std::path::Path::new(&file.path);
                if path.is_absolute() {
                    file.path = xcomply_dataset::resolve(path).display().to_string();
                }
            }
            f.files.sort_by(|a, b| a.path.cmp(&b.path));
        }
        if info.inputs != inputs {
            return Err(PipelineError::State {
                path: out.join(state::RUN_FILE),
                message: format!(
                    "this run directory was started with other inputs (`{}`), not `{inputs}`; \
                     re-run the original command or use another --out",
                    info.inputs
                ),
            });
        }
        // Shards exist once the sharder wrote its manifest; until then nothing depends on the
        // inputs as they were (an earlier invocation failed on a bad ID, say, and the user fixed
        // the file), so the fingerprint is simply taken again.
        let planned = out.join(state::STATE_FILE).exists()
            || out
                .join("shards")
                .join(xcomply_shard::MANIFEST_FILE)
                .exists();
        let changes = info.fingerprint.as_ref().map(|f| f.diff(&fingerprint));
        if let (true, Some(Some(changes))) = (planned, &changes) {
            return Err(PipelineError::InputsChanged {
                path: out.join(state::RUN_FILE),
                changes: changes.clone(),
            });
        }
        if !matches!(changes, Some(None)) {
            // Not planned yet, or a run file of an older version: record the inputs as they are
            // now.
            info.fingerprint = Some(fingerprint);
            let json = serde_json::to_vec_pretty(&info).expect("the run info always serialises");
            state::write_atomic(out, state::RUN_FILE, &json)?;
        }
        return Ok(info);
    }
    // The fingerprint is part of the run ID, so that a run started over on changed inputs names
    // its jobs differently and never adopts a job of the old inputs by name.
    let json = serde_json::to_vec(&fingerprint).expect("the fingerprint always serialises");
    let info = RunInfo {
        run_id: state::derive_run_id(out, &format!("{inputs}\0{}", state::sha256_hex(&json))),
        inputs: inputs.to_owned(),
        fingerprint: Some(fingerprint),
    };
    let json = serde_json::to_vec_pretty(&info).expect("the run info always serialises");
    state::write_atomic(out, state::RUN_FILE, &json)?;
    Ok(info)
}

/// The description an older version wrote (`dataset=<paths> columns=…`) in today's words
/// (`dataset columns=…`), or `None` when it is not one.
fn legacy_description(recorded: &str) -> Option<String> {
    let rest = recorded.strip_prefix("dataset=")?;
    let at = rest.find(" columns=")?;
    Some(format!("dataset{}", &rest[at..]))
}

/// Applies the resume rules that need no network: a shard that ran out of retries gets a fresh
/// budget, and results (or manifests) that are missing or whose checksum no longer matches are
/// downloaded (or joined) again.
fn normalise_for_resume(store: &mut StateStore) -> Result<(), PipelineError> {
    let dir = store.dir().to_owned();
    store.update(|state| {
        for shard in &mut state.shards {
            match shard.phase {
                Phase::Failed => {
                    shard.phase = Phase::Planned;
                    shard.attempts = 0;
                }
                Phase::ResultsWritten => {
                    let ok = shard.results.as_ref().is_some_and(|r| {
                        state::sha256_file(&dir.join(&r.path)).is_ok_and(|sha| sha == r.sha256)
                    });
                    if !ok {
                        tracing::warn!(
                            "{} shard {}: results file missing or changed, downloading again",
                            shard.job_type,
                            shard.index
                        );
                        shard.results = None;
                        shard.phase = if shard.job.is_some() {
                            Phase::Complete
                        } else {
                            Phase::Planned
                        };
                        state.joined = None;
                    }
                }
                _ => {}
            }
        }
        if let Some(joined) = &state.joined {
            let ok = joined
                .files
                .iter()
                .all(|f| state::sha256_file(&dir.join(&f.path)).is_ok_and(|sha| sha == f.sha256));
            if !ok {
                state.joined = None;
            }
        }
    })
}

fn relative_to(base: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(base).unwrap_or(path).to_owned()
}

/// Drives every shard of one type: one job at a time, each download overlapping the next job.
async fn drive_type<S: Stages>(ctx: Arc<Ctx<S>>, job_type: JobType) -> Result<(), PipelineError> {
    // The slots are read afresh on every turn: a shard split after a 413 adds slots.
    let slots_of = || -> Vec<usize> {
        let store = ctx.store.lock().unwrap();
        store
            .get()
            .shards
            .iter()
            .enumerate()
            .filter(|(_, s)| s.job_type == job_type && s.phase.is_live())
            .map(|(i, _)| i)
            .collect()
    };
    adopt(&ctx, &job_type, &slots_of()).await?;

    let mut downloads: JoinSet<Result<(), PipelineError>> = JoinSet::new();
    let mut downloading: Option<usize> = None;
    loop {
        let slots = slots_of();
        let phases: Vec<(usize, Phase)> = slots.iter().map(|&s| (s, ctx.shard(s).phase)).collect();
        let complete = phases
            .iter()
            .find(|(s, p)| *p == Phase::Complete && Some(*s) != downloading)
            .map(|(s, _)| *s);
        // A shard whose job may hold the type's slot goes first: creating another job would
        // only meet a conflict (after a lost state, an adopted job can belong to a later shard).
        let next_job = phases
            .iter()
            .find(|(_, p)| p.holds_slot())
            .or_else(|| phases.iter().find(|(_, p)| *p == Phase::Planned))
            .map(|(s, _)| *s);
        if let Some(slot) = complete {
            if downloading.is_some() {
                finish_download(&mut downloads, &mut downloading).await?;
                continue;
            }
            let ctx2 = Arc::clone(&ctx);
            downloads.spawn(async move { download(&ctx2, slot).await });
            downloading = Some(slot);
            continue;
        }
        if let Some(slot) = next_job {
            advance_job(&ctx, slot).await?;
            continue;
        }
        if downloading.is_some() {
            finish_download(&mut downloads, &mut downloading).await?;
            continue;
        }
        return Ok(());
    }
}

async fn finish_download(
    downloads: &mut JoinSet<Result<(), PipelineError>>,
    downloading: &mut Option<usize>,
) -> Result<(), PipelineError> {
    let result = downloads
        .join_next()
        .await
        .expect("a download is in flight");
    *downloading = None;
    match result {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// After a lost state file (or a crash between a job's creation and the state write), the API may
/// hold jobs of this run that the state does not know. A job named for a planned shard that is
/// not failed or expired is adopted instead of creating a second one (which the API would refuse
/// while the first is unfinished, and which would upload the shard twice).
async fn adopt<S: Stages>(
    ctx: &Ctx<S>,
    job_type: &JobType,
    slots: &[usize],
) -> Result<(), PipelineError> {
    if !slots.iter().any(|&s| ctx.shard(s).phase == Phase::Planned) {
        return Ok(());
    }
    let jobs = ctx
        .stages
        .list_jobs(job_type)
        .await
        .map_err(|e| PipelineError::stage(format!("listing {job_type} jobs"), e))?;
    for &slot in slots {
        adopt_for(ctx, slot, &jobs)?;
    }
    Ok(())
}

/// Adopts the best job of `jobs` for a planned shard: complete over in progress over created, then
/// the newest. Returns whether one was adopted.
fn adopt_for<S: Stages>(
    ctx: &Ctx<S>,
    slot: usize,
    jobs: &[ComplianceJob],
) -> Result<bool, PipelineError> {
    let shard = ctx.shard(slot);
    if shard.phase != Phase::Planned {
        return Ok(false);
    }
    let run_id = ctx.run_id();
    let now = ctx.stages.now_ms();
    let rank = |s: &JobStatus| match s {
        JobStatus::Complete => 3,
        JobStatus::InProgress => 2,
        JobStatus::Created => 1,
        _ => 0,
    };
    let best = jobs
        .iter()
        .filter(|j| j.job_type == shard.job_type && rank(&j.status) > 0)
        .filter(|j| {
            j.name
                .as_deref()
                .and_then(|n| state::parse_job_name(&run_id, &shard.job_type, n))
                == Some(shard.index)
        })
        // A job the state already recorded as failed or expired is never taken back.
        .filter(|j| shard.job.as_ref().is_none_or(|old| old.id != j.id))
        // Nor is a complete job whose results storage no longer serves: adopting it would only
        // spend an attempt on a download refused as expired.
        .filter(|j| j.status != JobStatus::Complete || now < j.download_expires_at.millis())
        .max_by_key(|j| (rank(&j.status), j.created_at));
    let Some(job) = best else {
        return Ok(false);
    };
    ctx.note(format!(
        "{}: adopting this run's job {} found by listing ({})",
        shard.label(ctx.of(&shard.job_type)),
        job.id,
        job.status
    ));
    let resumable = ctx.config.resumable;
    ctx.update_shard(slot, |s| {
        s.job = Some(JobRecord::from_job(job, resumable));
        s.phase = Phase::Created;
        s.attempts += 1;
    })?;
    Ok(true)
}

/// How often a job whose status does not change is reported waiting again: a real job takes
/// minutes to hours, and a line a minute shows the run is alive without flooding a log.
const WAITING_REPEAT: Duration = Duration::from_secs(60);

/// Drives one shard's job until it is complete, or the shard failed for good.
async fn advance_job<S: Stages>(ctx: &Ctx<S>, slot: usize) -> Result<(), PipelineError> {
    let mut poll_delay = ctx.config.poll_initial;
    let mut upload_done: Option<Instant> = None;
    // The job and status last reported as waiting, and when: a poll that changes neither reports
    // nothing, unless a minute has passed since.
    let mut waiting: Option<(JobId, JobStatus)> = None;
    let mut waiting_since = Instant::now();
    loop {
        let shard = ctx.shard(slot);
        match shard.phase {
            Phase::Complete | Phase::ResultsWritten | Phase::Failed | Phase::Split => {
                return Ok(());
            }
            Phase::Planned => {
                if shard.attempts > ctx.config.max_job_retries {
                    let error = shard
                        .last_error
                        .clone()
                        .unwrap_or_else(|| "no job succeeded".to_owned());
                    tracing::warn!(
                        "{}: giving up after {} job{}: {error}",
                        ctx.context(slot),
                        shard.attempts,
                        crate::error::plural(u64::from(shard.attempts))
                    );
                    ctx.update_shard(slot, |s| s.phase = Phase::Failed)?;
                    ctx.emit_shard(&ctx.shard(slot), Activity::Failed);
                    return Ok(());
                }
                create(ctx, slot, &shard).await?;
            }
            Phase::Created => {
                let job = get_job(ctx, slot, &shard).await?;
                let Some(job) = job else { continue };
                match job.status {
                    JobStatus::Created => upload(ctx, slot, &shard).await?,
                    JobStatus::InProgress => {
                        // Uploaded before a crash, or by an earlier attempt: never upload again.
                        ctx.update_shard(slot, |s| s.phase = Phase::Uploaded)?;
                    }
                    JobStatus::Other(_) => {
                        // A status this version does not know: wait as for a job in progress
                        // instead of asking again at once, which would spend the GET budget that
                        // both job types share.
                        tokio::time::sleep(poll_delay).await;
                        poll_delay = (poll_delay.mul_f64(1.5)).min(ctx.config.poll_max);
                        continue;
                    }
                    _ => settle(ctx, slot, &job)?,
                }
                upload_done = Some(Instant::now());
                poll_delay = ctx.config.poll_initial;
            }
            Phase::Uploaded => {
                let seen = shard.job.as_ref().map(|j| (j.id, j.status.clone()));
                if seen != waiting || waiting_since.elapsed() >= WAITING_REPEAT {
                    ctx.emit_shard(&shard, Activity::Waiting);
                    waiting = seen;
                    waiting_since = Instant::now();
                }
                tokio::time::sleep(poll_delay).await;
                poll_delay = (poll_delay.mul_f64(1.5)).min(ctx.config.poll_max);
                let Some(job) = get_job(ctx, slot, &shard).await? else {
                    continue;
                };
                if job.status.is_terminal() {
                    if let Some(t) = upload_done {
                        ctx.timing(slot, |timing| timing.wait_s = t.elapsed().as_secs_f64());
                    }
                    settle(ctx, slot, &job)?;
                }
            }
        }
    }
}

/// Creates a shard's job, or adopts this run's own job when the API says one already holds the
/// type's slot.
async fn create<S: Stages>(
    ctx: &Ctx<S>,
    slot: usize,
    shard: &ShardState,
) -> Result<(), PipelineError> {
    // The shard's old job (failed, expired or replaced) is not the one being created.
    ctx.emit_shard(
        &ShardState {
            job: None,
            ..shard.clone()
        },
        Activity::Creating,
    );
    let name = state::job_name(&ctx.run_id(), &shard.job_type, shard.index);
    let t = Instant::now();
    match ctx
        .stages
        .create_job(&shard.job_type, &name, ctx.config.resumable)
        .await
    {
        Ok(job) => {
            let resumable = ctx.config.resumable;
            ctx.update_shard(slot, |s| {
                s.job = Some(JobRecord::from_job(&job, resumable));
                s.phase = Phase::Created;
                s.attempts += 1;
            })?;
            *ctx.jobs_created
                .lock()
                .unwrap()
                .entry(shard.job_type.to_string())
                .or_default() += 1;
            ctx.timing(slot, |timing| timing.create_s = t.elapsed().as_secs_f64());
            Ok(())
        }
        Err(e) if e.kind == StageErrorKind::Conflict => {
            let jobs = ctx
                .stages
                .list_jobs(&shard.job_type)
                .await
                .map_err(|e| PipelineError::stage(ctx.context(slot), e))?;
            if adopt_for(ctx, slot, &jobs)? {
                return Ok(());
            }
            let holder = jobs
                .iter()
                .find(|j| j.job_type == shard.job_type && j.status.is_unfinished());
            let run_id = ctx.run_id();
            // A job of this run whose shard is not another live shard of the state is stale
            // too: a shard split after a 413 keeps no job (a cancel that failed, or a crash
            // between the cancel and the split), and after a lost state the pieces of a split
            // are unknown until the shard is split again.
            let others: Vec<u32> = {
                let store = ctx.store.lock().unwrap();
                store
                    .get()
                    .shards
                    .iter()
                    .filter(|s| {
                        s.job_type == shard.job_type && s.phase.is_live() && s.index != shard.index
                    })
                    .map(|s| s.index)
                    .collect()
            };
            if let Some(own) = holder.filter(|j| {
                j.name
                    .as_deref()
                    .and_then(|n| state::parse_job_name(&run_id, &shard.job_type, n))
                    .is_some_and(|i| !others.contains(&i))
            }) {
                // This shard's replaced job (an expired upload window the API has not closed
                // yet; `adopt_for` took any other job of the shard) still holds the slot: cancel
                // it again and retry after a pause. The API closes such a job by itself 15
                // minutes after its creation at the latest.
                if let Err(e) = ctx.stages.cancel_job(own.id).await {
                    tracing::debug!("cancelling job {}: {e}", own.id);
                }
                tokio::time::sleep(ctx.config.poll_initial).await;
                return Ok(());
            }
            let message = match holder {
                Some(j) => format!(
                    "another unfinished {} job {}{} holds the type's only slot; wait for it to \
                     finish or cancel it with `xcomply jobs cancel {}`, then re-run",
                    shard.job_type,
                    j.id,
                    j.name
                        .as_deref()
                        .map_or_else(String::new, |name| format!(" (name `{name}`)")),
                    j.id
                ),
                None => e.message.clone(),
            };
            Err(PipelineError::stage(
                ctx.context(slot),
                StageError::new(StageErrorKind::Conflict, message),
            ))
        }
        Err(e) => Err(PipelineError::stage(ctx.context(slot), e)),
    }
}

/// Reads a shard's job and records its status; `None` when the job vanished and the shard was
/// planned again.
async fn get_job<S: Stages>(
    ctx: &Ctx<S>,
    slot: usize,
    shard: &ShardState,
) -> Result<Option<ComplianceJob>, PipelineError> {
    let id = shard.job.as_ref().expect("a job exists past planning").id;
    match ctx.stages.get_job(id).await {
        Ok(job) => {
            let status = job.status.clone();
            ctx.update_shard(slot, |s| {
                if let Some(j) = &mut s.job {
                    j.status = status;
                }
            })?;
            Ok(Some(job))
        }
        Err(e) if e.kind == StageErrorKind::NotFound => {
            replan(ctx, slot, format!("job {id} no longer exists"))?;
            Ok(None)
        }
        Err(e) => Err(PipelineError::stage(ctx.context(slot), e)),
    }
}

/// Uploads a shard to its `created` job, or replaces the job when its upload URL has expired.
async fn upload<S: Stages>(
    ctx: &Ctx<S>,
    slot: usize,
    shard: &ShardState,
) -> Result<(), PipelineError> {
    let job = shard.job.as_ref().expect("a job exists past planning");
    let cap = ctx.store.lock().unwrap().get().upload_cap;
    if let Some(cap) = cap.filter(|&cap| shard.bytes > cap) {
        // An earlier shard of this run learned that uploads this large are refused: split this
        // one before spending an upload on it.
        if let Err(e) = ctx.stages.cancel_job(job.id).await {
            tracing::debug!("cancelling job {} before splitting its shard: {e}", job.id);
        }
        return split(
            ctx,
            slot,
            cap,
            format!("larger than the {cap}-byte upload limit learned earlier in this run"),
        )
        .await;
    }
    let margin = ctx.config.upload_expiry_margin.as_millis() as i64;
    if ctx.stages.now_ms() + margin >= job.upload_expires_at.millis() {
        return expire_upload(ctx, slot, job.id).await;
    }
    let path = ctx.store.lock().unwrap().dir().join(&shard.path);
    match std::fs::metadata(&path) {
        Ok(m) if m.len() == shard.bytes => {}
        Ok(m) => {
            return Err(PipelineError::State {
                path,
                message: format!(
                    "shard file changed since it was planned: {} bytes, expected {}; start a new run directory",
                    m.len(),
                    shard.bytes
                ),
            });
        }
        Err(e) => return Err(PipelineError::io(path, e)),
    }
    ctx.emit_shard(shard, Activity::Uploading);
    let t = Instant::now();
    match ctx
        .stages
        .upload(&job.upload_url, job.resumable, &path)
        .await
    {
        Ok(()) => {
            ctx.update_shard(slot, |s| {
                s.phase = Phase::Uploaded;
                if let Some(j) = &mut s.job {
                    j.status = JobStatus::InProgress;
                }
            })?;
            ctx.timing(slot, |timing| timing.upload_s = t.elapsed().as_secs_f64());
            Ok(())
        }
        Err(e) if e.kind == StageErrorKind::UrlExpired => expire_upload(ctx, slot, job.id).await,
        Err(e) if e.kind == StageErrorKind::TooLarge && shard.ids > 1 => {
            // Cancelled first, so that a crash before the split is recorded leaves a failed job
            // (a new one follows) rather than one holding the type's slot.
            if let Err(e) = ctx.stages.cancel_job(job.id).await {
                tracing::debug!("cancelling job {} refused as too large: {e}", job.id);
            }
            // A stated limit is trusted; otherwise half the refused size (plus one line, so that
            // the halves fit) is the next guess, and a half refused again splits again.
            let half = shard.bytes.div_ceil(2) + MAX_LINE_BYTES;
            let target = e
                .limit_hint
                .unwrap_or(half)
                .min(half)
                .min(shard.bytes - 1)
                .max(MAX_LINE_BYTES);
            split(
                ctx,
                slot,
                target,
                format!(
                    "job {} refused the {}-byte upload as too large (413)",
                    job.id, shard.bytes
                ),
            )
            .await
        }
        Err(e) => Err(PipelineError::stage(ctx.context(slot), e)),
    }
}

/// The longest line of a shard file: 19 digits and a newline.
const MAX_LINE_BYTES: u64 = 20;

/// Splits a shard into pieces of at most `target` bytes (at line boundaries), in place of the
/// shard: the pieces are written and synced under new shard numbers first, then one state write
/// marks the shard `split` and plans the pieces, and remembers `target` as the run's upload
/// limit. A crash before that write leaves the shard as it was (its cancelled job is replaced
/// and refused again); rewriting the same pieces is harmless, since their names and content
/// follow from the state.
async fn split<S: Stages>(
    ctx: &Ctx<S>,
    slot: usize,
    target: u64,
    reason: String,
) -> Result<(), PipelineError> {
    let shard = ctx.shard(slot);
    let (dir, first_index) = {
        let store = ctx.store.lock().unwrap();
        let first = store
            .get()
            .shards
            .iter()
            .filter(|s| s.job_type == shard.job_type)
            .map(|s| s.index)
            .max()
            .unwrap_or(0)
            + 1;
        (store.dir().to_owned(), first)
    };
    let (src, job_type) = (dir.join(&shard.path), shard.job_type.clone());
    let dir2 = dir.clone();
    let pieces = tokio::task::spawn_blocking(move || {
        write_pieces(&dir2, &src, &job_type, first_index, target)
    })
    .await
    .expect("splitting does not panic")?;
    if pieces.len() < 2 {
        return Err(PipelineError::stage(
            ctx.context(slot),
            StageError::new(
                StageErrorKind::TooLarge,
                format!(
                    "{reason}, and a shard of {} ID(s) cannot be split further",
                    shard.ids
                ),
            ),
        ));
    }
    let indices: Vec<u32> = pieces.iter().map(|p| p.index).collect();
    ctx.note(format!(
        "{}: {reason}; split into {} shards of at most {target} bytes ({})",
        ctx.context(slot),
        pieces.len(),
        indices
            .iter()
            .map(|i| format!("#{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    ctx.store.lock().unwrap().update(|state| {
        state.upload_cap = Some(state.upload_cap.map_or(target, |c| c.min(target)));
        let original = &mut state.shards[slot];
        original.phase = Phase::Split;
        original.split_into.clone_from(&indices);
        original.last_error = Some(reason.clone());
        let job_type = original.job_type.clone();
        // Appended, never inserted: running tasks (the other type's driver, a download in
        // flight) hold slot numbers, which must keep naming the same shards.
        let new: Vec<ShardState> = pieces
            .into_iter()
            .map(|p| ShardState {
                job_type: job_type.clone(),
                index: p.index,
                path: p.path,
                ids: p.ids,
                bytes: p.bytes,
                sha256: p.sha256,
                phase: Phase::Planned,
                attempts: 0,
                job: None,
                results: None,
                last_error: None,
                split_into: Vec::new(),
            })
            .collect();
        state.shards.extend(new);
    })?;
    Ok(())
}

/// One piece of a split shard.
struct Piece {
    index: u32,
    /// Relative to the run directory.
    path: PathBuf,
    ids: u64,
    bytes: u64,
    sha256: String,
}

/// Writes `src`'s lines into `shards/{type}-{index:05}.txt` files of at most `target` bytes each
/// (a line is never cut), numbered from `first_index`; each is written under a temporary name,
/// synced and renamed, and the directory synced.
fn write_pieces(
    dir: &Path,
    src: &Path,
    job_type: &JobType,
    first_index: u32,
    target: u64,
) -> Result<Vec<Piece>, PipelineError> {
    use sha2::Digest as _;
    use std::io::{BufRead as _, Write as _};

    struct Open {
        index: u32,
        temp: PathBuf,
        out: std::io::BufWriter<std::fs::File>,
        hash: sha2::Sha256,
        ids: u64,
        bytes: u64,
    }
    let shards = dir.join("shards");
    let name = |index: u32| format!("{job_type}-{index:05}.txt");
    let finish = |open: Open| -> Result<Piece, PipelineError> {
        let file = shards.join(name(open.index));
        let out = open
            .out
            .into_inner()
            .map_err(|e| PipelineError::io(&open.temp, e.into_error()))?;
        out.sync_all()
            .map_err(|e| PipelineError::io(&open.temp, e))?;
        std::fs::rename(&open.temp, &file).map_err(|e| PipelineError::io(&file, e))?;
        Ok(Piece {
            index: open.index,
            path: relative_to(dir, &file),
            ids: open.ids,
            bytes: open.bytes,
            sha256: hex::encode(open.hash.finalize()),
        })
    };
    let start = |index: u32| -> Result<Open, PipelineError> {
        let temp = shards.join(format!(".{}.tmp", name(index)));
        let file = std::fs::File::create(&temp).map_err(|e| PipelineError::io(&temp, e))?;
        Ok(Open {
            index,
            temp,
            out: std::io::BufWriter::with_capacity(1 << 20, file),
            hash: sha2::Sha256::new(),
            ids: 0,
            bytes: 0,
        })
    };
    let input = std::fs::File::open(src).map_err(|e| PipelineError::io(src, e))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, input);
    let mut pieces = Vec::new();
    let mut current = start(first_index)?;
    let mut line = Vec::with_capacity(32);
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| PipelineError::io(src, e))?;
        if n == 0 {
            break;
        }
        if current.bytes > 0 && current.bytes + n as u64 > target {
            let next = current.index + 1;
            pieces.push(finish(std::mem::replace(&mut current, start(next)?))?);
        }
        current
            .out
            .write_all(&line)
            .map_err(|e| PipelineError::io(&current.temp, e))?;
        current.hash.update(&line);
        current.bytes += n as u64;
        current.ids += 1;
    }
    if current.bytes > 0 || pieces.is_empty() {
        pieces.push(finish(current)?);
    } else {
        let _ = std::fs::remove_file(&current.temp);
    }
    state::sync_dir(&shards)?;
    Ok(pieces)
}

/// The upload window of a shard's job closed: cancel the job (so it frees the type's slot at once
/// rather than when the API expires it) and plan a new one.
async fn expire_upload<S: Stages>(
    ctx: &Ctx<S>,
    slot: usize,
    id: JobId,
) -> Result<(), PipelineError> {
    if let Err(e) = ctx.stages.cancel_job(id).await {
        tracing::debug!("cancelling expired job {id}: {e}");
    }
    replan(
        ctx,
        slot,
        format!("upload URL of job {id} expired before the upload"),
    )
}

/// Records a terminal status: complete → download next; failed or expired → a new job.
fn settle<S: Stages>(ctx: &Ctx<S>, slot: usize, job: &ComplianceJob) -> Result<(), PipelineError> {
    match &job.status {
        JobStatus::Complete => {
            ctx.update_shard(slot, |s| s.phase = Phase::Complete)?;
            Ok(())
        }
        JobStatus::Failed => replan(
            ctx,
            slot,
            format!(
                "job {} failed: {}",
                job.id,
                job.error.as_deref().unwrap_or("no reason given")
            ),
        ),
        JobStatus::Expired => replan(ctx, slot, format!("job {} expired", job.id)),
        // Created, in progress or a status this version does not know: keep polling.
        _ => Ok(()),
    }
}

/// Plans a new job for a shard, remembering why the last one did not do.
fn replan<S: Stages>(ctx: &Ctx<S>, slot: usize, reason: String) -> Result<(), PipelineError> {
    ctx.note(format!(
        "{}: {reason}; a new job follows",
        ctx.context(slot)
    ));
    ctx.update_shard(slot, |s| {
        s.phase = Phase::Planned;
        s.results = None;
        s.last_error = Some(reason);
    })
}

/// Downloads and decodes a complete job's results into `results/<type>-<shard>.parquet`.
async fn download<S: Stages>(ctx: &Ctx<S>, slot: usize) -> Result<(), PipelineError> {
    let shard = ctx.shard(slot);
    let job = shard.job.clone().expect("a complete shard has a job");
    if ctx.stages.now_ms() >= job.download_expires_at.millis() {
        return replan(ctx, slot, format!("download URL of job {} expired", job.id));
    }
    ctx.emit_shard(&shard, Activity::Downloading);
    let dir = ctx.store.lock().unwrap().dir().to_owned();
    let rel =
        PathBuf::from("results").join(format!("{}-{:05}.parquet", shard.job_type, shard.index));
    let path = dir.join(&rel);
    let results_dir = dir.join("results");
    std::fs::create_dir_all(&results_dir).map_err(|e| PipelineError::io(&results_dir, e))?;
    let tmp = results_dir.join(format!(
        ".{}-{:05}.parquet.tmp",
        shard.job_type, shard.index
    ));
    let errors_rel = PathBuf::from("results").join(format!(
        "errors-{}-{:05}.jsonl",
        shard.job_type, shard.index
    ));
    let t = Instant::now();
    let output = match ctx
        .stages
        .download(
            &job.download_url,
            job.id,
            &shard.job_type,
            &tmp,
            &dir.join(&errors_rel),
        )
        .await
    {
        Ok(output) => output,
        Err(e)
            if matches!(
                e.kind,
                StageErrorKind::UrlExpired | StageErrorKind::NotFound
            ) =>
        {
            let _ = std::fs::remove_file(&tmp);
            return replan(
                ctx,
                slot,
                format!("results of job {} are gone: {e}", job.id),
            );
        }
        Err(e) => return Err(PipelineError::stage(ctx.context(slot), e)),
    };
    let (tmp2, path2, dir2) = (tmp.clone(), path.clone(), results_dir.clone());
    let sha256 = tokio::task::spawn_blocking(move || -> Result<String, PipelineError> {
        // The results must be on disk before the state says so.
        std::fs::File::open(&tmp2)
            .and_then(|f| f.sync_all())
            .map_err(|e| PipelineError::io(&tmp2, e))?;
        std::fs::rename(&tmp2, &path2).map_err(|e| PipelineError::io(&path2, e))?;
        state::sync_dir(&dir2)?;
        state::sha256_file(&path2).map_err(|e| PipelineError::io(&path2, e))
    })
    .await
    .expect("hashing does not panic")?;
    ctx.update_shard(slot, |s| {
        s.phase = Phase::ResultsWritten;
        s.results = Some(ResultsRecord {
            path: rel,
            rows: output.rows,
            sha256,
            error_records: output.error_records,
            errors: (output.error_records > 0).then_some(errors_rel),
        });
    })?;
    ctx.timing(slot, |timing| timing.download_s = t.elapsed().as_secs_f64());
    ctx.emit_shard(&ctx.shard(slot), Activity::Done);
    Ok(())
}

/// Joins every results file against the dataset, unless verified manifests already exist.
async fn join<S: Stages>(ctx: &Arc<Ctx<S>>, out: &Path) -> Result<(), PipelineError> {
    let (results, joined) = {
        let store = ctx.store.lock().unwrap();
        let state = store.get();
        let results: Vec<ResultsFile> = state
            .shards
            .iter()
            .filter_map(|s| {
                s.results.as_ref().map(|r| ResultsFile {
                    job_type: s.job_type.clone(),
                    path: out.join(&r.path),
                })
            })
            .collect();
        (results, state.joined.is_some())
    };
    if joined {
        return Ok(());
    }
    ctx.observer.event(&Event::Step {
        activity: Activity::Joining,
    });
    let stages = Arc::clone(&ctx.stages);
    let dir = out.join("manifests");
    let out2 = out.to_owned();
    let (output, files) = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir).map_err(|e| PipelineError::io(&dir, e))?;
        let output = stages
            .join(&results, &dir)
            .map_err(|e| PipelineError::stage("joining", e))?;
        let mut files = Vec::new();
        for f in &output.files {
            let abs = out2.join(f);
            let sha256 = state::sha256_file(&abs).map_err(|e| PipelineError::io(&abs, e))?;
            files.push(FileRecord {
                path: relative_to(&out2, &abs),
                sha256,
            });
        }
        Ok::<_, PipelineError>((output, files))
    })
    .await
    .expect("the join does not panic")?;
    ctx.store.lock().unwrap().update(|s| {
        s.joined = Some(JoinedState {
            files,
            rows: output.rows,
            rows_scanned: output.rows_scanned,
        });
    })?;
    Ok(())
}

fn summarise(
    out: &Path,
    state: &RunState,
    types: &[JobType],
    jobs_created: &BTreeMap<String, u32>,
    timings: Timings,
) -> RunSummary {
    let types = types
        .iter()
        .map(|t| {
            let shards: Vec<&ShardState> = state
                .shards
                .iter()
                .filter(|s| &s.job_type == t && s.phase.is_live())
                .collect();
            TypeSummary {
                job_type: t.to_string(),
                shards: shards.len() as u32,
                ids: shards.iter().map(|s| s.ids).sum(),
                done: shards
                    .iter()
                    .filter(|s| s.phase == Phase::ResultsWritten)
                    .count() as u32,
                results_rows: shards
                    .iter()
                    .filter_map(|s| s.results.as_ref().map(|r| r.rows))
                    .sum(),
                error_records: shards
                    .iter()
                    .filter_map(|s| s.results.as_ref().map(|r| r.error_records))
                    .sum(),
                jobs_created: jobs_created.get(t.as_str()).copied().unwrap_or(0),
            }
        })
        .collect();
    let failed = state
        .shards
        .iter()
        .filter(|s| s.phase == Phase::Failed)
        .map(|s| FailedShard {
            job_type: s.job_type.to_string(),
            index: s.index,
            job_id: s.job.as_ref().map(|j| j.id.to_string()),
            error: s.last_error.clone().unwrap_or_default(),
        })
        .collect();
    RunSummary {
        run_id: state.run_id.clone(),
        out: out.to_owned(),
        types,
        failed,
        joined: state.joined.clone(),
        input_stats: state.input_stats.clone(),
        timings,
    }
}
