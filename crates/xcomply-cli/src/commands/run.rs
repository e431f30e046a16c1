//! `xcomply run`: the whole pipeline, durable and resumable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use xcomply_client::{BearerToken, Client, ClientConfig};
use xcomply_core::JobType;
use xcomply_pipeline::real::{Inputs, RealStages};
use xcomply_pipeline::{
    Activity, ErrorClass, Event, Observer, PipelineError, RunConfig, RunSummary,
};
use xcomply_transfer::{TransferConfig, Transfers};

use super::common::{ApiArgs, FlowArg, TypeArg};
use crate::exit::{Code, coded};
use crate::output::Ctx;
use crate::output::{note, say};

/// The longest accepted --poll-interval, in seconds. The interval is only the first wait between
/// status polls (later waits grow to 60 s), so an hour is already far beyond any useful value; a
/// larger one would leave a run silently idle for days, and one beyond `Duration`'s range panics.
const MAX_POLL_INTERVAL_SECS: f64 = 3600.0;

/// Turn a dataset into delete manifests: shard IDs, run compliance jobs, join the results.
///
/// Extracts post IDs and author IDs from the dataset, deduplicates and shards them, runs one
/// compliance job at a time per type (tweets and users side by side), downloads and decodes the
/// results, and joins them against the dataset into delete manifests. All state is kept in
/// --out; re-running the same command resumes where it stopped (after Ctrl-C, a crash or a
/// reboot), without uploading a shard whose job is already being processed.
///
/// Output in --out: shards/ (IDs per job), results/ (one Parquet file per job),
/// manifests/manifest.parquet and manifests/summary.json, state.json (mode 0600: it holds the
/// jobs' signed URLs), run.json (the run ID and the size and modification time of every input
/// file), and with --lenient rejects-tweets.txt / rejects-users.txt. xcomply status --out DIR
/// shows progress from another terminal.
///
/// --out must be a new or empty directory, or the run directory of an earlier xcomply run (to
/// resume it); it may not be inside the dataset. A run whose input files changed (added, removed
/// or modified) since it was planned is refused: start the changed dataset in a new --out, or
/// add --restart to start the run over in the same one.
/// Ctrl-C or SIGTERM stops a run cleanly (exit code 130); the same command resumes it.
///
/// Examples:
///   X_BEARER_TOKEN=… xcomply run --dataset data/ --out run1
///   xcomply run --emulator --dataset data/ --out run1
///   xcomply run --emulator --emulator-fault-rate 0.1 --dataset data/ --out run1
///   xcomply run --ids ids.txt --type users --out run2 --no-join
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment, after_help = crate::exit::EXIT_CODES_HELP)]
pub struct Args {
    /// Parquet dataset: files, directories (searched recursively, hive partitions allowed) or globs.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub dataset: Vec<PathBuf>,

    /// Column of the dataset holding post IDs (int64, uint64 or decimal strings).
    #[arg(long, value_name = "NAME", default_value = "id")]
    pub tweet_id_column: String,

    /// Column of the dataset holding author (user) IDs.
    #[arg(long, value_name = "NAME", default_value = "author_id")]
    pub user_id_column: String,

    /// A text file of IDs, one per line, instead of (or besides) a dataset. Needs --type.
    #[arg(long, value_name = "FILE", requires = "type")]
    pub ids: Option<PathBuf>,

    /// The kind of IDs in --ids.
    #[arg(long = "type", value_enum, requires = "ids")]
    pub r#type: Option<TypeArg>,

    /// Run directory: state, shards, results and manifests. Re-run with the same directory to resume.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    #[command(flatten)]
    pub api: ApiArgs,

    /// Start an emulator in-process and run against it instead of the real API (no token needed).
    #[arg(long, conflicts_with_all = ["api_base", "token_file"])]
    pub emulator: bool,

    /// Seed of the in-process emulator's answers (with --emulator).
    #[arg(long, value_name = "N", default_value_t = 42, requires = "emulator")]
    pub emulator_seed: u64,

    /// Processing speed of the in-process emulator in IDs per second (with --emulator); 0
    /// processes every job at once.
    #[arg(
        long,
        value_name = "IDS_PER_SEC",
        default_value_t = 0.0,
        requires = "emulator"
    )]
    pub emulator_processing_rate: f64,

    /// Probability of each injected fault (500 answers, connection resets, truncated downloads)
    /// on every request to the in-process emulator (with --emulator), to watch the retries work.
    #[arg(long, value_name = "P", default_value_t = 0.0, requires = "emulator")]
    pub emulator_fault_rate: f64,

    /// The in-process emulator's flow (with --emulator): byte-path, the live API since September
    /// 2026 (uploads and downloads on the API with the Bearer token, one PUT of at most 128 MB,
    /// results in the delete/rehydrate/scrub_geo vocabulary), or gcs, the flow before it (signed
    /// storage URLs, resumable uploads).
    #[arg(
        long,
        value_enum,
        value_name = "KIND",
        default_value_t = FlowArg::BytePath,
        requires = "emulator"
    )]
    pub emulator_flow: FlowArg,

    /// The in-process emulator's upload cap in the byte-path flow (with --emulator), e.g. 1MB;
    /// above it an upload answers 413, which the run answers by splitting the shard.
    #[arg(long, value_name = "SIZE", requires = "emulator")]
    pub emulator_max_upload_bytes: Option<String>,

    /// Use the resumable upload protocol for jobs of the older GCS flow (signed storage URLs).
    /// The live API has no resumable mode: it refuses such jobs, so they are created without it
    /// and uploaded with one PUT.
    #[arg(long)]
    pub resumable: bool,

    /// Most IDs per job.
    #[arg(long, value_name = "N", default_value_t = 10_000_000)]
    pub max_ids_per_job: u64,

    /// Most bytes per job's upload, e.g. 64MB. The default is the live API's cap of 128 MB
    /// (128000000 bytes, about 6.4 million post IDs); none lifts it. An upload refused as too
    /// large (413) is split and retried, and later shards use the smaller size.
    #[arg(long, value_name = "SIZE", default_value = "128000000")]
    pub max_bytes_per_job: String,

    /// How many times a failed or expired job is retried with a new job before it is reported.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub max_job_retries: u32,

    /// Seconds between the first status polls of a job, from 0 to 3600; polls then slow down to
    /// 60 s (or stay at this interval if it is longer). The default is 5 (0.05 with --emulator).
    /// The rate-limit governor never polls faster than the API allows.
    #[arg(long, value_name = "SECONDS")]
    pub poll_interval: Option<f64>,

    /// Stop after the results; do not join them against the dataset.
    #[arg(long)]
    pub no_join: bool,

    /// Skip invalid ID values instead of stopping at the first one: each is counted and listed
    /// with its file and row in rejects-tweets.txt or rejects-users.txt in --out, and the summary
    /// says how many were skipped.
    #[arg(long)]
    pub lenient: bool,

    /// Start over in an existing run directory (after its inputs changed): cancels the unfinished
    /// jobs of its state, removes run.json, state.json, shards/, results/, manifests/ and the
    /// rejects files (nothing else), and plans the run anew under a new run ID.
    #[arg(long)]
    pub restart: bool,

    /// Print a machine-readable summary on stdout at the end.
    #[arg(long)]
    pub json: bool,
}

/// Where the API is.
pub enum Api {
    /// The real API (or any server) at a base URL, with a token.
    Remote { base: String, token: BearerToken },
    /// An emulator started in-process.
    Emulator(Box<xcomply_emulator::Config>),
}

/// Everything a run needs, built from `xcomply run`'s arguments or by `xcomply demo`.
pub struct Plan {
    pub inputs: Inputs,
    pub api: Api,
    pub config: RunConfig,
    pub json: bool,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    if args.dataset.is_empty() && args.ids.is_none() {
        return Err(coded(
            Code::Usage,
            anyhow::anyhow!(
                "nothing to do: expected --dataset PATH… and/or --ids FILE --type tweets|users"
            ),
        ));
    }
    if args.max_ids_per_job == 0 {
        return Err(coded(
            Code::Usage,
            anyhow::anyhow!("--max-ids-per-job `0`: expected at least 1"),
        ));
    }
    // Checked before the token is read, so that a bad value is reported as a usage error
    // whatever else is wrong.
    let default_poll = if args.emulator { 0.05 } else { 5.0 };
    let poll = args.poll_interval.unwrap_or(default_poll);
    if !(poll.is_finite() && (0.0..=MAX_POLL_INTERVAL_SECS).contains(&poll)) {
        return Err(coded(
            Code::Usage,
            anyhow::anyhow!(
                "--poll-interval `{poll}`: expected a number of seconds from 0 to {MAX_POLL_INTERVAL_SECS}"
            ),
        ));
    }
    let max_bytes_per_job = xcomply_shard::parse_byte_cap(&args.max_bytes_per_job)
        .map_err(|e| coded(Code::Usage, e))?;
    let emulator_cap = args
        .emulator_max_upload_bytes
        .as_deref()
        .map(xcomply_shard::parse_byte_cap)
        .transpose()
        .map_err(|e| coded(Code::Usage, e))?;
    let inputs = Inputs {
        dataset: args.dataset,
        tweet_id_column: args.tweet_id_column,
        user_id_column: args.user_id_column,
        ids: args.ids.zip(args.r#type.map(JobType::from)),
        max_ids_per_job: args.max_ids_per_job,
        max_bytes_per_job,
        memory_limit: xcomply_shard::DEFAULT_MEMORY_LIMIT,
        lenient: args.lenient,
    };
    let api = if args.emulator {
        let (rate, fault) = (args.emulator_processing_rate, args.emulator_fault_rate);
        if !(rate.is_finite() && rate >= 0.0) {
            return Err(coded(
                Code::Usage,
                anyhow::anyhow!("--emulator-processing-rate `{rate}`: expected a number ≥ 0"),
            ));
        }
        if !(0.0..=1.0).contains(&fault) {
            return Err(coded(
                Code::Usage,
                anyhow::anyhow!(
                    "--emulator-fault-rate `{fault}`: expected a probability from 0 to 1"
                ),
            ));
        }
        let faults = xcomply_emulator::FaultRates {
            server_error: fault,
            reset: fault,
            truncate: fault,
            ..xcomply_emulator::FaultRates::default()
        };
        let mut emulator = xcomply_emulator::Config::default()
            .with_flow(args.emulator_flow.into())
            .with_seed(args.emulator_seed)
            .with_processing(Duration::ZERO, (rate > 0.0).then_some(rate))
            .with_faults(xcomply_emulator::Faults::uniform(&faults));
        if let Some(cap) = emulator_cap {
            emulator = emulator.with_max_upload_bytes(cap);
        }
        Api::Emulator(Box::new(emulator))
    } else {
        let token = super::common::load_token(&args.api)?;
        Api::Remote {
            base: args.api.api_base,
            token,
        }
    };
    let mut config = RunConfig::new(&args.out, inputs.describe());
    config.dataset_inputs = inputs
        .dataset_inputs()
        .map_err(|e| coded(Code::Input, anyhow::anyhow!("{e}")))?;
    config.resumable = args.resumable;
    config.restart = args.restart;
    config.max_job_retries = args.max_job_retries;
    config.join = !args.no_join && inputs.can_join();
    config.poll_initial = Duration::from_secs_f64(poll);
    config.poll_max = Duration::from_secs(60).max(config.poll_initial);
    if args.emulator {
        // The emulator answers at once; a short ceiling keeps a local run snappy.
        config.poll_max = Duration::from_secs(1).max(config.poll_initial);
    }
    let summary = execute(
        Plan {
            inputs,
            api,
            config,
            json: args.json,
        },
        ctx,
    )?;
    finish(&summary)
}

/// The exit status of a finished run: failed shards are exit code 3.
pub fn finish(summary: &RunSummary) -> anyhow::Result<()> {
    if summary.is_success() {
        return Ok(());
    }
    let failed = summary.failed.len() as u64;
    let list: Vec<String> = summary
        .failed
        .iter()
        .map(|f| {
            format!(
                "{} shard {} (job {}): {}",
                f.job_type,
                f.index,
                f.job_id.as_deref().unwrap_or("none"),
                f.error
            )
        })
        .collect();
    Err(coded(
        Code::JobsFailed,
        anyhow::anyhow!(
            "{} failed after every retry, so no manifest was written: {}; re-run the same \
             command to try {} again",
            count(failed, "shard", "shards"),
            list.join("; "),
            if failed == 1 { "it" } else { "them" }
        ),
    ))
}

/// "1 job", "2 jobs".
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Runs a plan to its end and prints the summary; Ctrl-C or SIGTERM ends it with exit code 130.
pub fn execute(plan: Plan, ctx: &Ctx) -> anyhow::Result<RunSummary> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let out = plan.config.out.clone();
    let json = plan.json;
    let result = runtime.block_on(execute_async(plan, ctx));
    // Blocking decode or shard threads of an interrupted run are abandoned rather than awaited:
    // everything they write goes to temporary names.
    runtime.shutdown_timeout(Duration::from_millis(500));
    match result {
        Ok(summary) => {
            // A closed stdout must not turn the run's own exit code (failed jobs, say) into the
            // success of a broken pipe, so write errors of the summary are ignored.
            let _ = if json {
                say!("{}", serde_json::to_string_pretty(&summary)?)
            } else {
                print_summary(&summary)
            };
            Ok(summary)
        }
        Err(e) => Err(map_error(e, &out)),
    }
}

async fn execute_async(plan: Plan, ctx: &Ctx) -> Result<RunSummary, PipelineError> {
    let cancel = xcomply_client::CancellationToken::new();
    spawn_signal_handler(cancel.clone())
        .map_err(|e| other("installing the SIGINT and SIGTERM handlers", &e))?;
    let observer: Arc<dyn Observer> = Arc::new(View::new(ctx));
    let (emulator, base, token) = match plan.api {
        Api::Remote { base, token } => (None, base, token),
        Api::Emulator(config) => {
            let emulator = xcomply_emulator::Emulator::start(*config)
                .await
                .map_err(|e| other("starting the emulator", &e))?;
            let token =
                BearerToken::new(emulator.token()).map_err(|e| other("emulator token", &e))?;
            let base = emulator.base_url().to_owned();
            (Some(Arc::new(emulator)), base, token)
        }
    };
    // The Bearer token goes to byte paths on the API's own origin, and nowhere else.
    let api = xcomply_transfer::ApiAccess::new(&base, token.expose())
        .map_err(|e| other("configuring the transfer client", &e))?;
    let transfers = Transfers::new(TransferConfig {
        api: Some(api),
        ..TransferConfig::default()
    })
    .map_err(|e| other("starting the transfer client", &e))?;
    let client = Client::new(ClientConfig::new(base, token)).map_err(|e| PipelineError::Stage {
        context: "configuring the API client".into(),
        error: xcomply_pipeline::StageError::new(
            xcomply_pipeline::StageErrorKind::Credentials,
            e.to_string(),
        ),
    })?;
    let mut stages = RealStages::new(client, transfers, plan.inputs);
    if let Some(emulator) = &emulator {
        let emulator = Arc::downgrade(emulator);
        // A weak reference, so that the emulator can be shut down once the run is over.
        stages = stages.with_clock(Arc::new(move || {
            emulator.upgrade().map_or(0, |e| e.now_ms())
        }));
    }
    let result = xcomply_pipeline::run(Arc::new(stages), plan.config, observer, cancel).await;
    if let Some(emulator) = emulator {
        // Stop the in-process emulator whatever the outcome (an interruption too), which removes
        // its data directory.
        match Arc::try_unwrap(emulator) {
            Ok(emulator) => emulator.shutdown().await,
            Err(emulator) => drop(emulator),
        }
    }
    result
}

/// Cancels `cancel` on the first SIGINT (Ctrl-C) or SIGTERM (`kill`, a service manager stopping
/// the run), so that both end the run cleanly with its state written.
fn spawn_signal_handler(cancel: xcomply_client::CancellationToken) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            cancel.cancel();
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            cancel.cancel();
        }
    });
    Ok(())
}

fn other(context: &str, e: &dyn std::fmt::Display) -> PipelineError {
    PipelineError::Stage {
        context: context.into(),
        error: xcomply_pipeline::StageError::new(
            xcomply_pipeline::StageErrorKind::Other,
            e.to_string(),
        ),
    }
}

/// Maps a pipeline error to its exit code; an interruption also says how to resume.
fn map_error(e: PipelineError, out: &Path) -> anyhow::Error {
    let code = match e.class() {
        ErrorClass::Credentials => Code::Credentials,
        ErrorClass::Input => Code::Input,
        // A foreign unfinished job blocking the type's slot is a conflict: 6, like the API
        // failing after every retry.
        ErrorClass::Api | ErrorClass::Conflict => Code::Api,
        ErrorClass::UrlExpired => Code::JobsFailed,
        ErrorClass::Interrupted => {
            return coded(
                Code::Interrupted,
                anyhow::anyhow!(
                    "interrupted; the state is saved in {}: re-run the same command to resume",
                    out.join(xcomply_pipeline::state::STATE_FILE).display()
                ),
            );
        }
        _ => Code::Failure,
    };
    coded(code, e)
}

fn print_summary(summary: &RunSummary) -> std::io::Result<()> {
    let mut parts = Vec::new();
    for t in &summary.types {
        parts.push(format!(
            "{} {}/{}, {}, {} need action ({} this run)",
            t.job_type,
            t.done,
            count(u64::from(t.shards), "shard", "shards"),
            count(t.ids, "ID", "IDs"),
            t.results_rows,
            count(u64::from(t.jobs_created), "job", "jobs")
        ));
    }
    say!(
        "run {} in {}: {} in {:.1} s",
        summary.run_id,
        summary.out.display(),
        parts.join("; "),
        summary.timings.total_s
    )?;
    if let Some(joined) = &summary.joined {
        let manifest = joined
            .files
            .iter()
            .find(|f| f.path.extension().is_some_and(|e| e == "parquet"))
            .map_or_else(String::new, |f| {
                summary.out.join(&f.path).display().to_string()
            });
        say!(
            "manifest: {manifest}: {} to act on out of {} scanned",
            count(joined.rows, "row", "rows"),
            joined.rows_scanned
        )?;
    }
    for t in summary.types.iter().filter(|t| t.error_records > 0) {
        say!(
            "{}: X could not check {} (error records: not valid IDs), kept in {}",
            t.job_type,
            count(t.error_records, "uploaded line", "uploaded lines"),
            summary
                .out
                .join("results")
                .join(format!("errors-{}-*.jsonl", t.job_type))
                .display()
        )?;
    }
    if let Some(inputs) = &summary.input_stats {
        for r in &inputs.rejected {
            say!(
                "skipped {} ({}): {}",
                count(r.count, "invalid ID value", "invalid ID values"),
                r.job_type,
                summary.out.join(&r.file).display()
            )?;
        }
    }
    Ok(())
}

/// Draws progress: one live line per type on a terminal, plain log lines otherwise.
struct View {
    bars: Option<(MultiProgress, Mutex<BTreeMap<String, ProgressBar>>)>,
    quiet: bool,
    started: Instant,
    totals: Mutex<BTreeMap<String, TypeProgress>>,
    /// Per type, the last plain progress line and when it was printed: the same line again within
    /// [`REPEAT_AFTER`] is not printed.
    last: Mutex<BTreeMap<String, (String, Instant)>>,
}

/// How long an unchanged progress line stays unrepeated in a log. The scheduler itself reports a
/// job that keeps waiting once a minute; this is a little shorter so that those reminders get
/// through while anything repeated faster is dropped.
const REPEAT_AFTER: Duration = Duration::from_secs(50);

#[derive(Default, Clone)]
struct TypeProgress {
    ids: u64,
    /// IDs with results at the start of this invocation.
    done_before: u64,
    /// IDs with results written by this invocation.
    done_now: u64,
}

impl View {
    fn new(ctx: &Ctx) -> View {
        View {
            bars: ctx
                .progress()
                .then(|| (MultiProgress::new(), Mutex::new(BTreeMap::new()))),
            quiet: ctx.quiet,
            started: Instant::now(),
            totals: Mutex::new(BTreeMap::new()),
            last: Mutex::new(BTreeMap::new()),
        }
    }

    fn line(&self, text: &str) {
        match &self.bars {
            Some((multi, _)) => {
                let _ = multi.println(text);
            }
            None if !self.quiet => note!("{text}"),
            None => {}
        }
    }

    /// "1.2M IDs/s  ETA 3m 10s" from this invocation's finished shards; no ETA once nothing is
    /// left, and nothing before a shard finished.
    fn rate(&self, t: &str) -> String {
        let totals = self.totals.lock().unwrap();
        let Some(p) = totals.get(t) else {
            return String::new();
        };
        let secs = self.started.elapsed().as_secs_f64();
        if p.done_now == 0 || secs <= 0.0 {
            return String::new();
        }
        let rate = p.done_now as f64 / secs;
        let left = p.ids.saturating_sub(p.done_before + p.done_now);
        if left == 0 {
            return format!("  {} IDs/s", human(rate));
        }
        format!(
            "  {} IDs/s  ETA {}",
            human(rate),
            // Rounded up: work is left, so "0 seconds" would be wrong.
            indicatif::HumanDuration(Duration::from_secs((left as f64 / rate).ceil() as u64))
        )
    }
}

fn human(n: f64) -> String {
    if n >= 1e6 {
        format!("{:.1}M", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1}k", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}

impl Observer for View {
    fn event(&self, event: &Event) {
        match event {
            Event::Planned {
                job_type,
                shards,
                ids,
                done,
                done_ids,
            } => {
                self.totals.lock().unwrap().insert(
                    job_type.to_string(),
                    TypeProgress {
                        ids: *ids,
                        done_before: *done_ids,
                        done_now: 0,
                    },
                );
                let text = format!(
                    "{job_type}: {} in {}, {done} already done",
                    count(*ids, "ID", "IDs"),
                    count(u64::from(*shards), "shard", "shards")
                );
                if let Some((multi, bars)) = &self.bars {
                    let bar = multi.add(ProgressBar::new(u64::from(*shards)));
                    bar.set_style(
                        ProgressStyle::with_template("{prefix:>7} [{bar:20}] {pos}/{len} {msg}")
                            .expect("the template is valid")
                            .progress_chars("=> "),
                    );
                    bar.set_prefix(job_type.to_string());
                    bar.set_position(u64::from(*done));
                    bar.enable_steady_tick(Duration::from_millis(200));
                    bars.lock().unwrap().insert(job_type.to_string(), bar);
                }
                self.line(&text);
            }
            Event::Shard {
                job_type,
                index,
                of,
                activity,
                ids,
                job,
            } => {
                let t = job_type.to_string();
                if *activity == Activity::Done
                    && let Some(p) = self.totals.lock().unwrap().get_mut(&t)
                {
                    p.done_now += ids;
                }
                let job = job.map(|j| format!(" (job {j})")).unwrap_or_default();
                if let Some((_, bars)) = &self.bars {
                    if let Some(bar) = bars.lock().unwrap().get(&t) {
                        if *activity == Activity::Done {
                            bar.inc(1);
                        }
                        // A live line is redrawn in place: the rate can stay on it.
                        let rate = self.rate(&t);
                        bar.set_message(format!("shard {index}/{of} {activity}{job}{rate}"));
                    }
                } else {
                    // Only a finished shard changes the rate; other log lines would repeat it.
                    let rate = if *activity == Activity::Done {
                        self.rate(&t)
                    } else {
                        String::new()
                    };
                    let text = format!("{t} shard {index}/{of}: {activity}{job}");
                    let mut last = self.last.lock().unwrap();
                    let repeated = last
                        .get(&t)
                        .is_some_and(|(l, at)| *l == text && at.elapsed() < REPEAT_AFTER);
                    if !repeated {
                        self.line(&format!("{text}{rate}"));
                        last.insert(t, (text, Instant::now()));
                    }
                }
            }
            Event::Step { activity } => self.line(&format!("{activity}…")),
            Event::Note { message } => self.line(message),
            _ => {}
        }
    }
}

impl Drop for View {
    fn drop(&mut self) {
        if let Some((_, bars)) = &self.bars {
            for bar in bars.lock().unwrap().values() {
                bar.finish();
            }
        }
    }
}
