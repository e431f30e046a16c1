//! `xcomply demo`: the whole pipeline on generated data against an in-process emulator.

use std::path::{Path, PathBuf};
use std::time::Duration;

use xcomply_pipeline::RunConfig;
use xcomply_pipeline::real::Inputs;
use xcomply_sink::synth::{DatasetSpec, generate_dataset};

use super::run::{Api, Plan, execute, finish};
use crate::exit::{Code, coded};
use crate::output::Ctx;
use crate::output::{note, say};

/// Posts in the demo dataset: 4 files of 10 000 rows, enough for four tweets jobs and two users
/// jobs at [`DEMO_IDS_PER_JOB`], small enough to run in seconds.
const DEMO_FILES: usize = 4;
const DEMO_ROWS_PER_FILE: usize = 10_000;
/// A large author pool, so that the authors also need more than one job.
const DEMO_AUTHORS: usize = 20_000;
/// IDs per job in the demo: far below the real default so that each type needs several jobs.
const DEMO_IDS_PER_JOB: u64 = 10_000;

/// Run the whole pipeline on a small generated dataset against a local emulator.
///
/// Generates a synthetic dataset of posts (several Parquet files with realistic snowflake IDs and
/// authors), starts the emulator in-process, runs xcomply run on it with shards small enough to
/// need several jobs per type, and prints the summary and a DuckDB query (as SQL, and as a
/// Python one-liner) to inspect the manifest. Needs no token and no network. Re-running it on the
/// same --out resumes (or, when finished, just prints the summary again). Ctrl-C or SIGTERM stops
/// it cleanly (exit code 130).
///
/// Examples:
///   xcomply demo
///   xcomply demo --out demo1
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment, after_help = crate::exit::EXIT_CODES_HELP)]
pub struct Args {
    /// Directory for the dataset, the run state, the results and the manifest [default:
    /// xcomply-demo in the system's temporary directory, e.g. /tmp/xcomply-demo].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Seed of the generated dataset and of the emulator's answers.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// Print a machine-readable summary on stdout at the end.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let Args { out, seed, json } = args;
    // Outside the working directory unless asked, so that a demo started in a source checkout
    // does not leave 40 000 rows of generated data in it.
    let out = out.unwrap_or_else(|| std::env::temp_dir().join("xcomply-demo"));
    let dataset = out.join("dataset");
    let run_dir = out.join("run");
    let spec = DatasetSpec {
        seed,
        files: DEMO_FILES,
        rows_per_file: DEMO_ROWS_PER_FILE,
        authors: DEMO_AUTHORS,
        ..DatasetSpec::default()
    };
    check_out(&out, &spec)?;
    // The dataset is a pure function of the spec, so an existing one (from an interrupted demo)
    // is reused as it is.
    if !dataset.exists() {
        let tmp = out.join(".dataset.tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)
            .map_err(|e| coded(Code::Input, anyhow::anyhow!("{}: {e}", tmp.display())))?;
        let info = generate_dataset(&tmp, &spec).map_err(|e| coded(Code::Input, e))?;
        std::fs::rename(&tmp, &dataset)
            .map_err(|e| coded(Code::Input, anyhow::anyhow!("{}: {e}", dataset.display())))?;
        if !json && !ctx.quiet {
            note!(
                "generated {} posts in {} Parquet files under {}",
                info.rows,
                info.files.len(),
                dataset.display()
            );
        }
    }
    let mut inputs = Inputs::dataset(vec![dataset.clone()]);
    inputs.max_ids_per_job = DEMO_IDS_PER_JOB;
    let mut config = RunConfig::new(&run_dir, inputs.describe());
    // The emulator processes jobs at once: polling fast keeps the demo to a few seconds.
    config.poll_initial = Duration::from_millis(20);
    config.poll_max = Duration::from_millis(500);
    let summary = execute(
        Plan {
            inputs,
            api: Api::Emulator(Box::new(
                xcomply_emulator::Config::default().with_seed(seed),
            )),
            config,
            json,
        },
        ctx,
    )?;
    if !json && summary.joined.is_some() {
        let manifest = run_dir.join("manifests").join("manifest.parquet");
        let manifest = std::path::absolute(&manifest).unwrap_or(manifest);
        let sql = format!(
            "SELECT action, tweet_reason, user_reason, count(*) AS rows FROM '{}' GROUP BY ALL \
             ORDER BY rows DESC",
            manifest.display().to_string().replace('\'', "''")
        );
        say!()?;
        say!("Look at the manifest with DuckDB (SQL):")?;
        say!("  {sql};")?;
        say!(
            "or from Python (pip install duckdb, or scripts/pyenv in an xcomply checkout, which \
             makes .venv):"
        )?;
        say!(
            "  python3 -c \"import duckdb, sys; duckdb.sql(sys.argv[1]).show()\" {}",
            shell_quote(&sql)
        )?;
        say!("See the run's state with:")?;
        say!("  xcomply status --out {}", run_dir.display())?;
    }
    finish(&summary)
}

/// The entries demo writes directly in --out: the finished dataset, the run directory, and the
/// dataset being generated (left behind only by an interrupted demo).
const DEMO_ENTRIES: [&str; 3] = ["dataset", "run", ".dataset.tmp"];

/// Refuses an --out that holds anything demo does not write, so that a user's directory (a real
/// dataset, say) never receives demo files. A new or empty directory, and the --out of an earlier
/// demo (finished or interrupted), are accepted; `run/` itself is checked by the run, which
/// refuses a directory that is not an xcomply run directory.
fn check_out(out: &Path, spec: &DatasetSpec) -> anyhow::Result<()> {
    let entries = match std::fs::read_dir(out) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(coded(
                Code::Input,
                anyhow::anyhow!("--out `{}`: {e}, expected a directory", out.display()),
            ));
        }
    };
    let foreign = |found: &Path| {
        coded(
            Code::Input,
            anyhow::anyhow!(
                "--out `{}` is not empty and not the directory of an earlier demo (it holds \
                 `{}`): expected a new or empty directory, or the --out of an earlier xcomply \
                 demo",
                out.display(),
                found.display()
            ),
        )
    };
    let io = |path: &Path, e: std::io::Error| {
        coded(Code::Input, anyhow::anyhow!("{}: {e}", path.display()))
    };
    // Paths relative to --out that demo writes: its three top-level directories, and in
    // `dataset` the generated files and the (hive partition) directories that hold them.
    let generated: Vec<PathBuf> = (0..spec.files)
        .map(|f| Path::new("dataset").join(spec.file_path(f)))
        .collect();
    let mut pending: Vec<(PathBuf, std::fs::ReadDir)> = vec![(PathBuf::new(), entries)];
    while let Some((relative, entries)) = pending.pop() {
        for entry in entries {
            let entry = entry.map_err(|e| io(&out.join(&relative), e))?;
            let path = relative.join(entry.file_name());
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let top_level = relative.as_os_str().is_empty();
            if top_level && DEMO_ENTRIES.iter().any(|name| path == Path::new(name)) && is_dir {
                // A `dataset` directory is reused as the demo's data, so its content is checked
                // too: a user's own `dataset` is not mistaken for the demo's.
                if path == Path::new("dataset") {
                    let inside =
                        std::fs::read_dir(entry.path()).map_err(|e| io(&entry.path(), e))?;
                    pending.push((path, inside));
                }
            } else if !top_level && is_dir && generated.iter().any(|g| g.starts_with(&path)) {
                let inside = std::fs::read_dir(entry.path()).map_err(|e| io(&entry.path(), e))?;
                pending.push((path, inside));
            } else if top_level || is_dir || !generated.contains(&path) {
                return Err(foreign(&path));
            }
        }
    }
    Ok(())
}

/// `text` as one double-quoted shell word.
fn shell_quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}
