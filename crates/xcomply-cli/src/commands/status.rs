//! `xcomply status`: what a run directory has done and what is pending.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use xcomply_pipeline::state::{self, Phase, RunState, StateStore};

use crate::exit::{Code, coded};
use crate::output::Ctx;

/// Show what a run directory has done and what is pending.
///
/// Reads state.json in the run directory (it does not contact the API) and prints each shard's
/// job, status and results.
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
        println!("{}", serde_json::to_string_pretty(&value)?);
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

/// The human-readable status: one summary line per type, then a line per shard that is not done.
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
        let shards: Vec<_> = state.shards.iter().filter(|s| &s.job_type == t).collect();
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
            "{t}: {done}/{} shards done, {failed} failed, {} pending; {ids} IDs, {rows} need action",
            shards.len(),
            shards.len() - done - failed
        );
        for s in shards.iter().filter(|s| s.phase != Phase::ResultsWritten) {
            let job = s.job.as_ref().map_or_else(
                || "no job yet".to_owned(),
                |j| format!("job {} ({})", j.id, j.status),
            );
            let _ = write!(
                text,
                "  shard {:>5}  {:>10} IDs  {:<8}  {job}",
                s.index,
                s.ids,
                phase_name(s.phase)
            );
            if let Some(e) = &s.last_error {
                let _ = write!(text, "  last error: {e}");
            }
            text.push('\n');
        }
    }
    match &state.joined {
        Some(j) => {
            let _ = writeln!(
                text,
                "manifests: {} rows to act on out of {} scanned, in {}",
                j.rows,
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
    }
}
