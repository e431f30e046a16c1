//! `gen-dataset`: writes a seeded post dataset (`xcomply_sink::synth`) and, optionally, results
//! files flagging a share of its posts and authors, for `scripts/bench-join` and manual trials.
//!
//! ```text
//! gen-dataset --out DIR [--files 8] [--rows-per-file 3125000] [--row-group-rows 250000]
//!             [--authors 1000000] [--seed 42] [--id-type int64|uint64|decimal] [--no-hive]
//!             [--text] [--results DIR --post-rate 0.03 --user-rate 0.01 [--flag-first-files K]]
//!             [--results-only]
//! ```
//!
//! `--flag-first-files K` keeps only the flagged posts of the first K files (the results of a job
//! over part of the time range), to measure row-group pruning. `--results-only` writes the results
//! for a dataset generated earlier with the same settings, without rewriting the dataset.

use std::path::PathBuf;
use std::process::ExitCode;

use xcomply_sink::synth::{self, DatasetSpec, IdColumnType};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut spec = DatasetSpec {
        files: 8,
        rows_per_file: 3_125_000,
        row_group_rows: 250_000,
        authors: 1_000_000,
        text: false,
        // A month of posts, so that 8 files land in 8 daily-or-later partitions.
        span_ms: 30 * 86_400_000,
        ..DatasetSpec::default()
    };
    let mut out: Option<PathBuf> = None;
    let mut results: Option<PathBuf> = None;
    let (mut post_rate, mut user_rate) = (0.03, 0.01);
    let mut flag_first_files: Option<usize> = None;
    let mut results_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String| {
            v.parse::<f64>()
                .map_err(|e| format!("{flag} {v:?}: {e}; expected a number"))
        };
        match flag.as_str() {
            "--out" => out = Some(value()?.into()),
            "--results" => results = Some(value()?.into()),
            "--files" => spec.files = num(value()?)? as usize,
            "--rows-per-file" => spec.rows_per_file = num(value()?)? as usize,
            "--row-group-rows" => spec.row_group_rows = num(value()?)? as usize,
            "--authors" => spec.authors = num(value()?)? as usize,
            "--seed" => spec.seed = num(value()?)? as u64,
            "--post-rate" => post_rate = num(value()?)?,
            "--user-rate" => user_rate = num(value()?)?,
            "--flag-first-files" => flag_first_files = Some(num(value()?)? as usize),
            "--no-hive" => spec.hive_partitions = false,
            "--text" => spec.text = true,
            "--results-only" => results_only = true,
            "--id-type" => {
                spec.id_type = match value()?.as_str() {
                    "int64" => IdColumnType::Int64,
                    "uint64" => IdColumnType::UInt64,
                    "decimal" => IdColumnType::Decimal,
                    other => {
                        return Err(format!(
                            "--id-type {other:?}; expected int64, uint64 or decimal"
                        ));
                    }
                }
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?}; see the usage in benches/src/bin/gen-dataset.rs"
                ));
            }
        }
    }
    let out = out.ok_or("--out DIR is required")?;
    if !results_only {
        let info = synth::generate_dataset(&out, &spec).map_err(|e| e.to_string())?;
        eprintln!(
            "wrote {} rows in {} files ({} row groups) under {}",
            info.rows,
            info.files.len(),
            info.row_groups,
            out.display()
        );
    }
    if let Some(dir) = results {
        let mut flags = synth::flag_sample(&spec, post_rate, user_rate);
        if let Some(k) = flag_first_files {
            // Post IDs rise through the files, so the first K files end at the ID of their last row.
            let last_row = (k * spec.rows_per_file) as u64;
            let max = (0..last_row)
                .rev()
                .find_map(|g| synth::post_id_at(&spec, g))
                .unwrap_or(-1);
            flags.posts.retain(|f| f.id <= max);
        }
        synth::write_results(&dir, &flags).map_err(|e| e.to_string())?;
        eprintln!(
            "flagged {} posts and {} users in {}",
            flags.posts.len(),
            flags.users.len(),
            dir.display()
        );
    }
    Ok(())
}
