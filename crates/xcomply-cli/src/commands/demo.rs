//! `xcomply demo`: the whole pipeline on generated data against an in-process emulator.

use std::path::PathBuf;
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
