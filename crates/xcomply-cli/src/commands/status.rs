//! `xcomply status`: what a run directory has done and what is pending.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use xcomply_pipeline::state::{self, Phase, RunState, StateStore};

use crate::exit::{Code, coded};
use crate::output::Ctx;
use crate::output::say;

/// Show what a run directory has done and what is pending.
///
/// Reads state.json in the run directory (it does not contact the API) and prints, per type, a
/// totals line and a table of its shards: shard, IDs, job ID, status, attempts (jobs created for
/// it) and results rows, with the last error of a shard still being retried; then the manifests.
/// --json prints the whole state instead, signed URLs redacted.
///
/// Example:
///   xcomply status --out run1
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The run directory given to xcomply run --out.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Print the state as JSON (signed URLs redacted).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, _ctx: &Ctx) -> anyhow::Result<()> {
    let Args { out, json } = args;
    let info = state::load_run_info(&out).map_err(|e| coded(Code::Input, e))?;
    let Some(run_state) = StateStore::load(&out).map_err(|e| coded(Code::Input, e))? else {
        return Err(coded(
            Code::Input,
            anyhow::anyhow!(
                "{}: no state.json; expected the directory of an `xcomply run --out` that has planned its shards",
                out.display()
            ),
        ));
    };
    if json {
        let mut value = serde_json::to_value(&run_state).context("serialising the state")?;
        redact_urls(&mut value);
        if let Some(info) = info {
            value["inputs"] = serde_json::Value::String(info.inputs);
        }
        say!("{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        print!("{}", render(&out, &run_state));
    }
    Ok(())
}

/// Replaces the signed URLs of every job by their redacted form.
fn redact_urls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key.ends_with("_url")
                    && let serde_json::Value::String(s) = v
                {
                    *s = xcomply_core::redact_url(s);
                } else {
                    redact_urls(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_urls),
        _ => {}
    }
}

/// The human-readable status: one summary line per type, then a table of its shards (index, IDs,
/// job ID, status, jobs created, results rows, and the last error of a retried shard).
pub fn render(out: &std::path::Path, state: &RunState) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "run {} in {}", state.run_id, out.display());
    let mut types: Vec<&xcomply_core::JobType> = Vec::new();
    for s in &state.shards {
        if !types.contains(&&s.job_type) {
            types.push(&s.job_type);
        }
    }
    for t in types {
        let all: Vec<_> = state.shards.iter().filter(|s| &s.job_type == t).collect();
        // A shard split after a 413 is listed, but its pieces are what counts.
        let shards: Vec<_> = all.iter().filter(|s| s.phase.is_live()).collect();
        let count = |p: Phase| shards.iter().filter(|s| s.phase == p).count();
        let done = count(Phase::ResultsWritten);
        let failed = count(Phase::Failed);
        let ids: u64 = shards.iter().map(|s| s.ids).sum();
        let rows: u64 = shards
            .iter()
            .filter_map(|s| s.results.as_ref())
            .map(|r| r.rows)
            .sum();
        let _ = writeln!(
            text,
            "{t}: {done}/{} done, {failed} failed, {} pending; {}, {rows} need action",
            super::run::count(shards.len() as u64, "shard", "shards"),
            shards.len() - done - failed,
            super::run::count(ids, "ID", "IDs"),
        );
        let _ = writeln!(
            text,
            "  {:>5}  {:>10}  {:<19}  {:<24}  {:>8}  {:>12}",
            "shard", "IDs", "job ID", "status", "attempts", "results rows"
        );
        for s in &all {
            let job = s
                .job
                .as_ref()
                .map_or_else(|| "-".to_owned(), |j| j.id.to_string());
            // The run's phase, and the API's status of the job when it says more.
            let status = match (&s.job, s.phase) {
                (Some(j), Phase::Created | Phase::Uploaded) => {
                    format!("{} (job {})", phase_name(s.phase), j.status)
                }
                _ => phase_name(s.phase).to_owned(),
            };
            let rows = s
                .results
                .as_ref()
                .map_or_else(|| "-".to_owned(), |r| r.rows.to_string());
            let _ = write!(
                text,
                "  {:>5}  {:>10}  {job:<19}  {status:<24}  {:>8}  {rows:>12}",
                s.index, s.ids, s.attempts
            );
            if let Some(e) = s
                .last_error
                .as_ref()
                .filter(|_| s.phase != Phase::ResultsWritten)
            {
                let _ = write!(text, "  last error: {e}");
            }
            if !s.split_into.is_empty() {
                let pieces: Vec<String> = s.split_into.iter().map(|i| format!("#{i}")).collect();
                let _ = write!(text, "; split into shards {}", pieces.join(", "));
            }
            text.push('\n');
        }
    }
    if let Some(inputs) = &state.input_stats {
        for r in &inputs.rejected {
            let _ = writeln!(
                text,
                "skipped {} ({}): {}",
                super::run::count(r.count, "invalid ID value", "invalid ID values"),
                r.job_type,
                r.file.display()
            );
        }
    }
    match &state.joined {
        Some(j) => {
            let _ = writeln!(
                text,
                "manifests: {} to act on out of {} scanned, in {}",
                super::run::count(j.rows, "row", "rows"),
                j.rows_scanned,
                j.files
                    .iter()
                    .map(|f| f.path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        None => text.push_str("manifests: not written yet\n"),
    }
    text
}

fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Planned => "planned",
        Phase::Created => "created",
        Phase::Uploaded => "uploaded",
        Phase::Complete => "complete",
        Phase::ResultsWritten => "done",
        Phase::Failed => "failed",
        Phase::Split => "split (413)",
    }
}
