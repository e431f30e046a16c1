//! The crash harness: `xcomply run` is `kill -9`ed at seeded random moments (up to three times per
//! trial), then re-run to the end. Every trial must end with a manifest byte-identical to an
//! uninterrupted run's, and the emulator must never have stored a second upload for any job (a
//! job's upload is what starts its processing, so a second one would be a duplicate upload of a
//! shard whose job was in progress). In one trial in four, `state.json` is also deleted after the
//! last kill, so the resumed run must find its own jobs by listing them and adopt them. `run.json`
//! (the run ID and the inputs' fingerprint) must stay byte-identical across every resume: a
//! fingerprint that changed when nothing but a kill happened would refuse the resume.
//!
//! `XCOMPLY_KILL_TRIALS` sets the number of trials (10 by default, what CI runs) and
//! `XCOMPLY_KILL_SEED` the seed of the kill moments (7 by default); `scripts/kill-test` runs
//! hundreds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use xcomply_core::seeded::{hash3, unit_interval};
use xcomply_emulator::{Config, Emulator};
use xcomply_sink::synth::{self, DatasetSpec};

/// Trials when `XCOMPLY_KILL_TRIALS` is not set: the minimum for CI.
const DEFAULT_TRIALS: u64 = 10;
/// Kills per trial at most; each is followed by a re-run.
const MAX_KILLS: u64 = 3;
/// Hash domain of the choice to delete `state.json` after the kills.
const LOSE_STATE: u64 = 1_000;
/// A resumed run of this small dataset takes about a second; a minute means it hangs.
const RESUME_LIMIT: Duration = Duration::from_secs(60);

fn spec() -> DatasetSpec {
    DatasetSpec {
        files: 2,
        rows_per_file: 3_000,
        row_group_rows: 1_000,
        authors: 4_000,
        ..DatasetSpec::default()
    }
}

fn command(emulator: &Emulator, dataset: &Path, out: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xcomply"));
    cmd.arg("run")
        .arg("--dataset")
        .arg(dataset)
        .arg("--out")
        .arg(out)
        .args(["--api-base", emulator.base_url()])
        .args(["--max-ids-per-job", "2000", "--poll-interval", "0.02"])
        .env("X_BEARER_TOKEN", emulator.token())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// What the state said right after a kill, for the phase histogram.
fn phases(out: &Path) -> String {
    let Ok(text) = std::fs::read_to_string(out.join("state.json")) else {
        return "no state".into();
    };
    let state: serde_json::Value = serde_json::from_str(&text).expect("state.json is never torn");
    let mut phases: Vec<String> = state["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["phase"].as_str().unwrap().to_owned())
        .filter(|p| p != "results_written" && p != "planned")
        .collect();
    phases.dedup();
    if state["joined"].is_object() {
        "joined".into()
    } else if phases.is_empty() {
        "between jobs".into()
    } else {
        phases.join("+")
    }
}

#[test]
fn kill_9_at_random_moments_then_resume_gives_identical_manifests() {
    let trials: u64 = std::env::var("XCOMPLY_KILL_TRIALS")
        .ok()
        .map_or(DEFAULT_TRIALS, |v| {
            v.parse().expect("XCOMPLY_KILL_TRIALS is a number")
        });
    let seed: u64 = std::env::var("XCOMPLY_KILL_SEED")
        .ok()
        .map_or(7, |v| v.parse().expect("XCOMPLY_KILL_SEED is a number"));
    let tmp = tempfile::tempdir().unwrap();
    let dataset = tmp.path().join("data");
    synth::generate_dataset(&dataset, &spec()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // 150 ms of processing per job keeps jobs `in_progress` long enough for kills to land there.
    let emulator = rt
        .block_on(Emulator::start(
            Config::default()
                .with_processing(Duration::from_millis(150), None)
                // Hundreds of trials share this emulator; the harness tests crash safety, not
                // the rate-limit waits (the client's tests cover those).
                .with_rate_limit(1_000_000, Duration::from_secs(900)),
        ))
        .unwrap();

    let reference_dir = tmp.path().join("reference");
    let start = Instant::now();
    let output = command(&emulator, &dataset, &reference_dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let run_time = start.elapsed();
    let reference = std::fs::read(reference_dir.join("manifests/manifest.parquet")).unwrap();

    let mut histogram: BTreeMap<String, u64> = BTreeMap::new();
    for trial in 0..trials {
        let out: PathBuf = tmp.path().join(format!("trial-{trial}"));
        let kills = 1 + hash3(seed, trial, 0) % MAX_KILLS;
        // run.json as the first invocation that got to write it left it: the run ID and the
        // inputs' fingerprint, which no resume of the unchanged dataset may alter.
        let mut run_file: Option<Vec<u8>> = None;
        for k in 0..kills {
            let mut child = command(&emulator, &dataset, &out).spawn().unwrap();
            // Anywhere from the start to near the end of a whole run (resumed runs are shorter).
            let at = run_time.mul_f64(0.9 * unit_interval(hash3(seed, trial, k + 1)));
            std::thread::sleep(at);
            child.kill().unwrap();
            let status = child.wait().unwrap();
            let phase = if status.success() {
                "finished before the kill".to_owned()
            } else {
                phases(&out)
            };
            *histogram.entry(phase).or_default() += 1;
            if run_file.is_none() {
                run_file = std::fs::read(out.join("run.json")).ok();
            }
        }
        if hash3(seed, trial, LOSE_STATE).is_multiple_of(4) {
            let _ = std::fs::remove_file(out.join("state.json"));
            *histogram.entry("state.json lost".into()).or_default() += 1;
        }
        let mut child = command(&emulator, &dataset, &out)
            .arg("-v")
            .spawn()
            .unwrap();
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > RESUME_LIMIT {
                child.kill().unwrap();
                let output = child.wait_with_output().unwrap();
                panic!(
                    "trial {trial}: the resumed run hangs; state: {}\nlog: {}",
                    std::fs::read_to_string(out.join("state.json")).unwrap_or_default(),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "trial {trial}: the resumed run failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let manifest = std::fs::read(out.join("manifests/manifest.parquet")).unwrap();
        assert!(manifest == reference, "trial {trial}: the manifest differs");
        if let Some(first) = &run_file {
            let last = std::fs::read(out.join("run.json")).unwrap();
            assert!(
                *first == last,
                "trial {trial}: run.json changed across resumes:\n{}\n{}",
                String::from_utf8_lossy(first),
                String::from_utf8_lossy(&last)
            );
        }
        let stats = emulator.stats();
        let twice: Vec<_> = stats
            .uploads
            .iter()
            .filter(|(_, u)| u.completed > 1)
            .collect();
        assert!(
            twice.is_empty(),
            "trial {trial}: jobs uploaded twice: {twice:?}"
        );
    }
    eprintln!("{trials} trials (seed {seed}); where the kills landed: {histogram:#?}");
    rt.block_on(emulator.shutdown());
}
