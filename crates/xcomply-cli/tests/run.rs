//! `xcomply run` end to end against the emulator (started in this test process, so the test can
//! read its counters, move its clock and cancel jobs): several shards per type, faults, an upload
//! URL that expired while the run was down, failed jobs, credentials, the lock and Ctrl-C.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use xcomply_core::JobType;
use xcomply_emulator::{Config, Emulator, FaultRates, Faults, Flow};
use xcomply_sink::join::read_manifest;
use xcomply_sink::synth::{self, DatasetSpec};

/// A small dataset: 6 000 posts by up to 4 000 authors, so that 2 000 IDs per job make three
/// tweets jobs and two users jobs.
fn spec() -> DatasetSpec {
    DatasetSpec {
        files: 2,
        rows_per_file: 3_000,
        row_group_rows: 1_000,
        authors: 4_000,
        ..DatasetSpec::default()
    }
}

const IDS_PER_JOB: &str = "2000";

struct Setup {
    rt: tokio::runtime::Runtime,
    emulator: Option<Emulator>,
    tmp: tempfile::TempDir,
    dataset: PathBuf,
}

impl Setup {
    fn new(config: Config) -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let dataset = tmp.path().join("data");
        synth::generate_dataset(&dataset, &spec()).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let emulator = rt.block_on(Emulator::start(config)).unwrap();
        Setup {
            rt,
            emulator: Some(emulator),
            tmp,
            dataset,
        }
    }

    fn emulator(&self) -> &Emulator {
        self.emulator.as_ref().unwrap()
    }

    fn out(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// `xcomply run` on the dataset into `out`, against the emulator.
    fn command(&self, out: &Path, extra: &[&str]) -> Command {
        self.command_on(std::slice::from_ref(&self.dataset), out, extra)
    }

    /// `xcomply run --dataset DATASET… --out OUT EXTRA…` against the emulator.
    fn command_on(&self, dataset: &[PathBuf], out: &Path, extra: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xcomply"));
        cmd.arg("run")
            .arg("--dataset")
            .args(dataset)
            .arg("--out")
            .arg(out)
            .args(["--api-base", self.emulator().base_url()])
            .args(["--max-ids-per-job", IDS_PER_JOB, "--poll-interval", "0.02"])
            .args(extra)
            .env("X_BEARER_TOKEN", self.emulator().token())
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, out: &Path, extra: &[&str]) -> Output {
        self.command(out, extra).output().unwrap()
    }

    /// The rows (file index, pos) that must be in the manifest: those whose post or author the
    /// emulator flags, computed from the generator and the emulator's outcome function alone.
    fn expected_rows(&self) -> BTreeSet<(usize, i64)> {
        let spec = spec();
        let config = self.emulator().config();
        let flagged = |t: &JobType, id: Option<i64>| {
            id.is_some_and(|id| {
                xcomply_emulator::outcome(config.seed, config.flow, t, id as u64, &config.outcomes)
                    .is_some()
            })
        };
        let mut rows = BTreeSet::new();
        for g in 0..spec.total_rows() {
            let post = synth::post_id_at(&spec, g);
            let author = synth::author_id_at(&spec, g);
            if flagged(&JobType::Tweets, post) || flagged(&JobType::Users, author) {
                let per = spec.rows_per_file as u64;
                rows.insert(((g / per) as usize, (g % per) as i64));
            }
        }
        rows
    }

    fn manifest_rows(out: &Path) -> BTreeSet<(usize, i64)> {
        let spec = spec();
        read_manifest(&out.join("manifests"))
            .unwrap()
            .into_iter()
            .map(|r| {
                let file = (0..spec.files)
                    .find(|&i| Path::new(&r.file_path).ends_with(spec.file_path(i)))
                    .unwrap_or_else(|| panic!("unknown file {}", r.file_path));
                (file, r.pos)
            })
            .collect()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Some(e) = self.emulator.take() {
            self.rt.block_on(e.shutdown());
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn manifest_bytes(out: &Path) -> Vec<u8> {
    std::fs::read(out.join("manifests/manifest.parquet")).unwrap()
}

fn state(out: &Path) -> serde_json::Value {
    loop {
        // The state is replaced atomically, so a read sees a whole file (or none yet).
        if let Ok(text) = std::fs::read_to_string(out.join("state.json")) {
            return serde_json::from_str(&text).unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn shards(state: &serde_json::Value) -> Vec<serde_json::Value> {
    state["shards"].as_array().cloned().unwrap_or_default()
}

/// Waits for a child with a deadline, killing it if it hangs.
fn wait(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            panic!("xcomply run did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn several_shards_per_type_give_the_emulators_answers() {
    let setup = Setup::new(Config::default());
    let out = setup.out("run1");
    let output = setup.run(&out, &["--json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let types = summary["types"].as_array().unwrap();
    assert_eq!(types[0]["job_type"], "tweets");
    assert_eq!(types[0]["shards"], 3);
    assert_eq!(types[1]["job_type"], "users");
    assert!(types[1]["shards"].as_u64().unwrap() >= 2, "{summary}");
    assert_eq!(summary["failed"].as_array().unwrap().len(), 0);
    let shard_count: u64 = types.iter().map(|t| t["shards"].as_u64().unwrap()).sum();
    assert_eq!(
        summary["timings"]["per_job"].as_array().unwrap().len() as u64,
        shard_count
    );

    let expected = setup.expected_rows();
    assert!(expected.len() > 50, "the dataset should have flagged rows");
    assert_eq!(Setup::manifest_rows(&out), expected);

    // Every job was uploaded exactly once; the state file is private and names the jobs by run.
    let stats = setup.emulator().stats();
    assert!(
        stats.uploads.values().all(|u| u.completed == 1),
        "{stats:?}"
    );
    let st = state(&out);
    let run_id = st["run_id"].as_str().unwrap().to_owned();
    for s in shards(&st) {
        assert_eq!(s["phase"], "results_written");
        let name = s["job"]["name"].as_str().unwrap();
        assert!(
            name.starts_with(&format!(
                "xcomply-{run_id}-{}-",
                s["job_type"].as_str().unwrap()
            )),
            "{name}"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.join("state.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // `status` shows it done without a signature; a second run changes nothing.
    let status_text = Command::new(env!("CARGO_BIN_EXE_xcomply"))
        .args(["status", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(status_text.status.success());
    let shown = text(&status_text.stdout);
    assert!(shown.contains("tweets: 3/3 shards done"), "{shown}");
    // A table row per shard: index, IDs, job ID, status, attempts, results rows.
    assert!(
        shown.contains("job ID") && shown.contains("results rows"),
        "{shown}"
    );
    for s in shards(&st) {
        let row = format!("{}  {}", s["job"]["id"].as_str().unwrap(), "done");
        assert!(shown.contains(&row), "no row `{row}`: {shown}");
        let rows = s["results"]["rows"].as_u64().unwrap().to_string();
        let line = shown
            .lines()
            .find(|l| l.contains(s["job"]["id"].as_str().unwrap()))
            .unwrap();
        assert!(line.trim_end().ends_with(&rows), "{line}");
    }
    assert!(shown.contains("manifests: "), "{shown}");
    let status_json = Command::new(env!("CARGO_BIN_EXE_xcomply"))
        .args(["status", "--json", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let shown = text(&status_json.stdout);
    // The live flow's URLs carry their secret in `token`.
    assert!(shown.contains("token=REDACTED"), "{shown}");
    let before = manifest_bytes(&out);
    let jobs_before = setup.emulator().stats().jobs_created;
    let again = setup.run(&out, &[]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(setup.emulator().stats().jobs_created, jobs_before);
    assert_eq!(manifest_bytes(&out), before);
}

#[test]
fn faults_give_byte_identical_manifests() {
    let setup = Setup::new(Config::default());
    let clean = setup.out("clean");
    let output = setup.run(&clean, &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));

    // The same dataset again, into another run directory, through 10% 5xx answers, connection
    // resets, 429 bursts and truncated downloads.
    let rates = FaultRates {
        server_error: 0.10,
        reset: 0.05,
        rate_limit_burst: 0.03,
        truncate: 0.10,
        ..FaultRates::default()
    };
    setup.emulator().set_faults(Faults::uniform(&rates));
    let before = setup.emulator().stats().faults.values().sum::<u64>();
    let faulty = setup.out("faulty");
    let child = setup
        .command(&faulty, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = wait(child, Duration::from_secs(120));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let injected = setup.emulator().stats().faults;
    assert!(
        injected.values().sum::<u64>() >= before + 3,
        "too few faults injected: {injected:?}"
    );
    assert!(
        manifest_bytes(&faulty) == manifest_bytes(&clean),
        "the manifests differ"
    );
}

#[test]
fn an_upload_url_that_expired_while_the_run_was_down_gets_a_new_job() {
    // Every upload fails with 503, so the run sits in its upload retries until it is killed.
    let down = FaultRates {
        unavailable: 1.0,
        ..FaultRates::default()
    };
    let setup = Setup::new(Config::default().with_faults(Faults {
        upload: down,
        ..Faults::default()
    }));
    let out = setup.out("run");
    let child = setup
        .command(&out, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let first_job = loop {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no job was created"
        );
        if out.join("state.json").exists() {
            let created: Vec<_> = shards(&state(&out))
                .into_iter()
                .filter(|s| s["phase"] == "created")
                .collect();
            if let Some(s) = created.first() {
                break s["job"]["id"].as_str().unwrap().parse::<u64>().unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut child = child;
    child.kill().unwrap();
    child.wait().unwrap();

    // 16 minutes later the upload URL has expired; storage is healthy again.
    setup.emulator().advance(Duration::from_secs(16 * 60));
    setup.emulator().set_faults(Faults::default());
    let output = setup.run(&out, &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(setup.emulator().uploads_for(first_job).completed, 0);
    let st = state(&out);
    let replaced = shards(&st).into_iter().find(|s| {
        s["job"]["id"].as_str().unwrap().parse::<u64>().unwrap() != first_job
            && s["attempts"].as_u64().unwrap() >= 2
    });
    assert!(replaced.is_some(), "no shard got a new job: {st}");
    assert_eq!(Setup::manifest_rows(&out), setup.expected_rows());
}

/// Cancels (turns `failed`) every job of `tweets` shard 2 that reaches `uploaded`, up to `limit`
/// jobs, while the run goes on.
fn fail_shard_two(setup: &Setup, out: &Path, mut child: Child, limit: usize) -> Output {
    let client = xcomply_client::Client::new(xcomply_client::ClientConfig::new(
        setup.emulator().base_url(),
        xcomply_client::BearerToken::new(setup.emulator().token()).unwrap(),
    ))
    .unwrap();
    let mut cancelled = BTreeSet::new();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < Duration::from_secs(60), "the run hangs");
        if cancelled.len() < limit && out.join("state.json").exists() {
            for s in shards(&state(out)) {
                if s["job_type"] == "tweets" && s["index"] == 2 && s["phase"] == "uploaded" {
                    let id: u64 = s["job"]["id"].as_str().unwrap().parse().unwrap();
                    if cancelled.insert(id) {
                        setup
                            .rt
                            .block_on(client.cancel_job(xcomply_core::JobId(id)))
                            .unwrap();
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        cancelled.len(),
        limit,
        "the run finished before every cancel"
    );
    child.wait_with_output().unwrap()
}

#[test]
fn a_failed_job_is_retried_and_reported_when_retries_run_out() {
    // Jobs take 400 ms to process: time for the test to fail one.
    let setup = Setup::new(Config::default().with_processing(Duration::from_millis(400), None));
    let out = setup.out("retried");
    let child = setup
        .command(&out, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = fail_shard_two(&setup, &out, child, 1);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let st = state(&out);
    let shard2 = shards(&st)
        .into_iter()
        .find(|s| s["job_type"] == "tweets" && s["index"] == 2)
        .unwrap();
    assert_eq!(shard2["attempts"], 2, "{shard2}");
    assert!(
        shard2["last_error"].as_str().unwrap().contains("failed"),
        "{shard2}"
    );
    assert_eq!(Setup::manifest_rows(&out), setup.expected_rows());

    let out = setup.out("reported");
    let child = setup
        .command(&out, &["--max-job-retries", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = fail_shard_two(&setup, &out, child, 2);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("tweets shard 2"), "{stderr}");
    assert!(stderr.contains("failed after every retry"), "{stderr}");
    assert!(!out.join("manifests/manifest.parquet").exists());
    // Re-running the same command gives the shard a new budget and finishes.
    let output = setup.run(&out, &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(Setup::manifest_rows(&out), setup.expected_rows());
}

#[test]
fn a_missing_or_refused_token_exits_with_code_5() {
    let setup = Setup::new(Config::default());
    let out = setup.out("run");
    let output = setup
        .command(&out, &[])
        .env_remove("X_BEARER_TOKEN")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(5));
    assert!(
        text(&output.stderr).contains("X_BEARER_TOKEN"),
        "{}",
        text(&output.stderr)
    );

    let output = setup
        .command(&out, &[])
        .env("X_BEARER_TOKEN", "wrong-secret-token")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(5), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("401"), "{stderr}");
    assert!(!stderr.contains("wrong-secret-token"), "{stderr}");
}

#[test]
fn a_second_run_on_the_same_directory_is_refused_and_ctrl_c_resumes() {
    let setup = Setup::new(Config::default().with_processing(Duration::from_millis(300), None));
    let out = setup.out("run");
    let first = setup
        .command(&out, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !out.join("state.json").exists() {
        assert!(start.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(5));
    }
    let second = setup.run(&out, &[]);
    assert_eq!(second.status.code(), Some(4), "{}", text(&second.stderr));
    assert!(text(&second.stderr).contains("another xcomply run is using this run directory"));

    // Ctrl-C: exit 130 with a line saying how to resume.
    let status = Command::new("kill")
        .args(["-INT", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = wait(first, Duration::from_secs(30));
    let stderr = text(&output.stderr);
    if output.status.code() == Some(130) {
        assert!(
            stderr.contains("re-run the same command to resume"),
            "{stderr}"
        );
    } else {
        // The run may have finished in the instant before the signal.
        assert!(output.status.success(), "{stderr}");
    }
    let output = setup.run(&out, &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(Setup::manifest_rows(&out), setup.expected_rows());
}

#[test]
fn an_ids_file_runs_through_resumable_uploads_without_a_join() {
    // Resumable uploads exist only in the GCS flow.
    let setup = Setup::new(Config::default().with_flow(Flow::Gcs));
    let ids: Vec<u64> = (0..5_000u64)
        .map(|i| 1_500_000_000_000_000_000 + i * 7_919)
        .collect();
    let file = setup.out("users.txt");
    let lines: String = ids.iter().map(|i| i.to_string() + "\n").collect();
    std::fs::write(&file, lines).unwrap();
    let out = setup.out("ids-run");
    let output = Command::new(env!("CARGO_BIN_EXE_xcomply"))
        .arg("run")
        .arg("--ids")
        .arg(&file)
        .args(["--type", "users", "--resumable", "--json", "--out"])
        .arg(&out)
        .args(["--api-base", setup.emulator().base_url()])
        .args(["--max-ids-per-job", IDS_PER_JOB, "--poll-interval", "0.02"])
        .env("X_BEARER_TOKEN", setup.emulator().token())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let types = summary["types"].as_array().unwrap();
    assert_eq!(types.len(), 1);
    assert_eq!(types[0]["job_type"], "users");
    assert_eq!(types[0]["shards"], 3);
    let config = setup.emulator().config();
    let flagged = ids
        .iter()
        .filter(|&&id| {
            xcomply_emulator::outcome(
                config.seed,
                config.flow,
                &JobType::Users,
                id,
                &config.outcomes,
            )
            .is_some()
        })
        .count();
    assert_eq!(types[0]["results_rows"], flagged as u64);
    assert!(summary["joined"].is_null());
    assert!(!out.join("manifests").exists());
    let stats = setup.emulator().stats();
    assert!(
        stats
            .uploads
            .values()
            .all(|u| u.sessions == 1 && u.completed == 1),
        "{stats:?}"
    );
}

#[test]
fn results_lost_after_the_download_window_get_a_new_job() {
    let setup = Setup::new(Config::default());
    let out = setup.out("run");
    let output = setup.run(&out, &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let reference = manifest_bytes(&out);
    let old_job = shards(&state(&out))[0]["job"]["id"].clone();

    // A week and a day later the results file of tweets shard 1 is gone: its download URL has
    // expired too, so only a new job can bring the results back.
    std::fs::remove_file(out.join("results/tweets-00001.parquet")).unwrap();
    setup.emulator().advance(Duration::from_secs(8 * 24 * 3600));
    let jobs_before = setup.emulator().stats().jobs_created;
    let output = setup.run(&out, &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(setup.emulator().stats().jobs_created, jobs_before + 1);
    let shard = &shards(&state(&out))[0];
    assert_ne!(shard["job"]["id"], old_job);
    assert_eq!(shard["phase"], "results_written");
    assert!(manifest_bytes(&out) == reference, "the manifest changed");
}

/// An `xcomply` command with the emulator's token.
fn xcomply(setup: &Setup, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xcomply"));
    cmd.args(args)
        .env("X_BEARER_TOKEN", setup.emulator().token())
        .stdin(Stdio::null());
    cmd
}

#[test]
fn a_changed_dataset_is_refused_with_the_files_that_changed() {
    let setup = Setup::new(Config::default());
    let out = setup.out("run");
    let output = setup.run(&out, &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    // An unchanged dataset resumes (here: finds everything done) however often.
    let again = setup.run(&out, &[]);
    assert!(again.status.success(), "{}", text(&again.stderr));

    // A file added to the dataset.
    let first = setup.dataset.join(spec().file_path(0));
    let added = setup.dataset.join("part-extra.parquet");
    std::fs::copy(&first, &added).unwrap();
    let jobs_before = setup.emulator().stats().jobs_created;
    let output = setup.run(&out, &[]);
    assert_eq!(output.status.code(), Some(4), "{}", text(&output.stdout));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("the inputs changed"), "{stderr}");
    assert!(
        stderr.contains("added `") && stderr.contains("part-extra.parquet"),
        "{stderr}"
    );
    assert!(stderr.contains("use a new --out"), "{stderr}");
    assert_eq!(setup.emulator().stats().jobs_created, jobs_before);

    // A file removed, and one rewritten.
    std::fs::remove_file(&added).unwrap();
    std::fs::remove_file(&first).unwrap();
    let output = setup.run(&out, &[]);
    assert_eq!(output.status.code(), Some(4));
    assert!(
        text(&output.stderr).contains("removed `"),
        "{}",
        text(&output.stderr)
    );
    std::fs::write(&first, b"not the same").unwrap();
    let output = setup.run(&out, &[]);
    assert_eq!(output.status.code(), Some(4));
    assert!(
        text(&output.stderr).contains("changed `"),
        "{}",
        text(&output.stderr)
    );

    // The same dataset in a new --out runs.
    std::fs::copy(setup.dataset.join(spec().file_path(1)), &first).unwrap();
    let output = setup.run(&setup.out("run2"), &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));

    // --restart starts the first run over on the changed dataset, under a new run ID.
    let old_id = state(&out)["run_id"].clone();
    let output = setup.run(&out, &["--restart", "--json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_ne!(summary["run_id"], old_id);
    assert_eq!(summary["joined"]["rows_scanned"], 6_000);
    let again = setup.run(&out, &[]);
    assert!(again.status.success(), "{}", text(&again.stderr));
}

#[test]
fn unusable_out_directories_are_refused_with_exit_code_4() {
    let setup = Setup::new(Config::default());
    // A copy of the dataset: not a run directory.
    let copy = setup.out("copy");
    std::fs::create_dir(&copy).unwrap();
    std::fs::copy(
        setup.dataset.join(spec().file_path(0)),
        copy.join("part.parquet"),
    )
    .unwrap();
    let output = setup.run(&copy, &[]);
    assert_eq!(output.status.code(), Some(4), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("not an xcomply run directory"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(
        std::fs::read_dir(&copy).unwrap().count(),
        1,
        "--out was written to"
    );

    // Inside the dataset.
    let inside = setup.dataset.join("run");
    let output = setup.run(&inside, &[]);
    assert_eq!(output.status.code(), Some(4), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("inside the dataset input"),
        "{}",
        text(&output.stderr)
    );
    assert!(!inside.exists());

    // A regular file.
    let file = setup.out("file");
    std::fs::write(&file, "x").unwrap();
    let output = setup.run(&file, &[]);
    assert_eq!(output.status.code(), Some(4), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("--out is a file, expected a directory"),
        "{stderr}"
    );
    assert!(!stderr.contains("os error"), "{stderr}");
}

#[test]
fn sigterm_stops_an_emulator_run_cleanly_and_removes_the_emulators_data() {
    let tmp = tempfile::tempdir().unwrap();
    let dataset = tmp.path().join("data");
    synth::generate_dataset(&dataset, &spec()).unwrap();
    // The in-process emulator keeps its data under TMPDIR: a private one shows what is left.
    let private_tmp = tmp.path().join("tmp");
    std::fs::create_dir(&private_tmp).unwrap();
    let out = tmp.path().join("run");
    let child = Command::new(env!("CARGO_BIN_EXE_xcomply"))
        .arg("run")
        .arg("--emulator")
        .arg("--dataset")
        .arg(&dataset)
        .arg("--out")
        .arg(&out)
        // 2 000 IDs per second: each job takes about a second, so the signal lands mid-run.
        .args([
            "--max-ids-per-job",
            IDS_PER_JOB,
            "--emulator-processing-rate",
            "2000",
        ])
        .env("TMPDIR", &private_tmp)
        .env_remove("X_BEARER_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !shards(&if out.join("state.json").exists() {
        state(&out)
    } else {
        serde_json::Value::Null
    })
    .iter()
    .any(|s| s["phase"] == "uploaded")
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no job was uploaded"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        std::fs::read_dir(&private_tmp).unwrap().count() > 0,
        "the emulator keeps no data under TMPDIR"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = wait(child, Duration::from_secs(30));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("re-run the same command to resume"),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(&private_tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    // The state is consistent: it still names every shard.
    assert!(!shards(&state(&out)).is_empty());
}

#[test]
fn inputs_without_ids_fail_with_exit_code_4() {
    let setup = Setup::new(Config::default());
    let empty = setup.out("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let out = setup.out("run");
    let output = xcomply(&setup, &["run", "--api-base", setup.emulator().base_url()])
        .arg("--ids")
        .arg(&empty)
        .args(["--type", "users", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("no post or user IDs found in the inputs (1 file, 0 rows)"),
        "{stderr}"
    );
    assert!(!out.join("state.json").exists());
    assert_eq!(setup.emulator().stats().jobs_created, 0);
}

#[test]
fn lenient_skips_invalid_ids_and_lists_them_with_their_line() {
    let setup = Setup::new(Config::default());
    let file = setup.out("users.txt");
    std::fs::write(&file, "12\n13\nnot-an-id\n14\n99999999999999999999\n15\n").unwrap();
    let base = [
        "run",
        "--api-base",
        setup.emulator().base_url(),
        "--poll-interval",
        "0.02",
    ];

    // Without --lenient the first bad value stops the run.
    let strict = setup.out("strict");
    let output = xcomply(&setup, &base)
        .arg("--ids")
        .arg(&file)
        .args(["--type", "users", "--out"])
        .arg(&strict)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("users.txt:3"),
        "{}",
        text(&output.stderr)
    );

    // The same command with --lenient on the same directory goes through.
    let output = xcomply(&setup, &base)
        .arg("--ids")
        .arg(&file)
        .args(["--type", "users", "--lenient", "--out"])
        .arg(&strict)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("users 1/1 shard, 4 IDs"), "{stdout}");
    assert!(stdout.contains("(1 job this run)"), "{stdout}");
    assert!(
        stdout.contains("skipped 2 invalid ID values (users)"),
        "{stdout}"
    );
    let rejects = std::fs::read_to_string(strict.join("rejects-users.txt")).unwrap();
    assert_eq!(rejects.lines().count(), 2, "{rejects}");
    assert!(rejects.contains("users.txt:3"), "{rejects}");
    assert!(rejects.contains("users.txt:5"), "{rejects}");
    assert!(!strict.join("rejects-tweets.txt").exists());
    // status shows the skipped values too; --json keeps `inputs` the description of the inputs.
    let status = xcomply(&setup, &["status", "--out"])
        .arg(&strict)
        .output()
        .unwrap();
    let shown = text(&status.stdout);
    assert!(
        shown.contains("skipped 2 invalid ID values (users)"),
        "{shown}"
    );
    let status = xcomply(&setup, &["status", "--json", "--out"])
        .arg(&strict)
        .output()
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(
        value["inputs"].as_str().unwrap().contains("users.txt"),
        "{value}"
    );
    assert_eq!(value["input_stats"]["rejected"][0]["count"], 2, "{value}");

    let help = xcomply(&setup, &["run", "--help"]).output().unwrap();
    assert!(text(&help.stdout).contains("--lenient"));
}

#[test]
fn ignored_flag_combinations_are_usage_errors() {
    let setup = Setup::new(Config::default());
    let out = setup.out("run");
    let output = xcomply(
        &setup,
        &["run", "--emulator", "--api-base", "http://127.0.0.1:9"],
    )
    .arg("--dataset")
    .arg(&setup.dataset)
    .arg("--out")
    .arg(&out)
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("--api-base") && stderr.contains("--emulator"),
        "{stderr}"
    );
    assert!(stderr.contains("cannot be used with"), "{stderr}");

    let output = xcomply(&setup, &["run", "--type", "users"])
        .arg("--dataset")
        .arg(&setup.dataset)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("--ids"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn progress_lines_say_each_thing_once() {
    // Jobs take 300 ms while the run polls every 20 ms: many polls per job.
    let setup = Setup::new(Config::default().with_processing(Duration::from_millis(300), None));
    let out = setup.out("run");
    let output = setup.run(&out, &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    let jobs = setup.emulator().stats().jobs_created as usize;
    let waiting = stderr.lines().filter(|l| l.contains(": waiting")).count();
    assert!(
        waiting <= jobs,
        "{waiting} waiting lines for {jobs} jobs:\n{stderr}"
    );
    assert!(!stderr.contains("ETA 0"), "{stderr}");
    for line in stderr.lines().filter(|l| l.contains("creating job")) {
        assert!(!line.contains("(job "), "{line}");
        assert!(!line.contains("ETA"), "{line}");
    }
    assert!(!stderr.contains("shard(s)"), "{stderr}");
}

#[test]
fn a_foreign_unfinished_job_is_exit_code_6() {
    let setup = Setup::new(Config::default());
    let client = xcomply_client::Client::new(xcomply_client::ClientConfig::new(
        setup.emulator().base_url(),
        xcomply_client::BearerToken::new(setup.emulator().token()).unwrap(),
    ))
    .unwrap();
    let foreign = setup
        .rt
        .block_on(client.create_job(&JobType::Tweets, Some("someone-else"), false))
        .unwrap();
    let output = setup.run(&setup.out("run"), &[]);
    assert_eq!(output.status.code(), Some(6), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("another unfinished tweets job {}", foreign.id)),
        "{stderr}"
    );
    let help = xcomply(&setup, &["run", "--help"]).output().unwrap();
    let help = text(&help.stdout);
    for code in ["0 ", "2 ", "3 ", "4 ", "5 ", "6 ", "130 "] {
        assert!(
            help.contains(&format!("\n  {code}")),
            "exit code {code}missing: {help}"
        );
    }
}

#[test]
fn a_poll_interval_out_of_range_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let ids = tmp.path().join("ids.txt");
    std::fs::write(&ids, "20\n").unwrap();
    // 1e20 s is beyond `Duration` (it used to panic), 1e18 s would wait forever, 3601 s is just
    // past the documented maximum; -1 and NaN were refused before and still are.
    for value in ["1e20", "1e18", "3601", "-1", "NaN"] {
        let out = tmp.path().join(format!("run-{value}"));
        let output = Command::new(env!("CARGO_BIN_EXE_xcomply"))
            .args(["run", "--emulator", "--type", "tweets", "--no-join"])
            .arg("--ids")
            .arg(&ids)
            .arg("--out")
            .arg(&out)
            // `=` so that clap takes `-1` for a value, not a flag.
            .arg(format!("--poll-interval={value}"))
            .env_remove("X_BEARER_TOKEN")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{value}: {stderr}");
        // The value is shown as parsed (1e20 in full), so only the flag is matched here.
        assert!(stderr.contains("--poll-interval `"), "{value}: {stderr}");
        assert!(stderr.contains("from 0 to 3600"), "{value}: {stderr}");
        assert!(!out.exists(), "{value}: --out was created");
    }
    // --help states the range.
    let help = Command::new(env!("CARGO_BIN_EXE_xcomply"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    assert!(text(&help.stdout).contains("from 0 to 3600"));
}

/// The rows of a manifest with their actions, by (file index, pos).
fn manifest_actions(out: &Path) -> std::collections::BTreeMap<(usize, i64), String> {
    let spec = spec();
    read_manifest(&out.join("manifests"))
        .unwrap()
        .into_iter()
        .map(|r| {
            let file = (0..spec.files)
                .find(|&i| Path::new(&r.file_path).ends_with(spec.file_path(i)))
                .unwrap();
            ((file, r.pos), r.action)
        })
        .collect()
}

/// An API whose upload cap is below the planned shards: every 413 splits a shard (durably), the
/// run never fails, and the manifest is byte for byte the one of a run whose shards were small
/// from the start.
#[test]
fn a_413_splits_shards_and_gives_the_manifest_of_a_small_cap() {
    // 2 000 post IDs of 20 bytes are 40 000 bytes per shard; the API takes 15 000.
    let setup = Setup::new(Config::default().with_max_upload_bytes(Some(15_000)));
    let split = setup.out("split");
    let output = setup.run(&split, &["--json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let st = state(&split);
    let all = shards(&st);
    let split_shards: Vec<_> = all.iter().filter(|s| s["phase"] == "split").collect();
    assert!(!split_shards.is_empty(), "{st}");
    assert!(st["upload_cap"].as_u64().unwrap() <= 15_000, "{st}");
    for s in &all {
        assert!(
            s["phase"] == "split" || s["phase"] == "results_written",
            "{s}"
        );
    }
    let stats = setup.emulator().stats();
    assert!(
        stats.uploads.values().all(|u| u.completed <= 1),
        "{stats:?}"
    );
    let note = text(&output.stderr);
    assert!(note.contains("too large (413)"), "{note}");

    let small = setup.out("small");
    let output = setup.run(&small, &["--max-bytes-per-job", "15000"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        shards(&state(&small))
            .iter()
            .all(|s| s["phase"] == "results_written"),
        "no shard of the small run was split"
    );
    assert_eq!(manifest_bytes(&split), manifest_bytes(&small));
    assert_eq!(Setup::manifest_rows(&split), setup.expected_rows());
}

/// The same seed and dataset give the same manifest rows in both flows; only the vocabulary
/// differs: the live flow's edited posts are `rehydrate` rows where the old flow reported
/// `bounced` deletions, and geo scrubs are `scrub_geo` rows in both.
#[test]
fn both_flows_give_the_same_rows() {
    let live = Setup::new(Config::default());
    let out_live = live.out("live");
    let output = live.run(&out_live, &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let gcs = Setup::new(Config::default().with_flow(Flow::Gcs));
    let out_gcs = gcs.out("gcs");
    let output = gcs.run(&out_gcs, &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let (a, b) = (manifest_actions(&out_live), manifest_actions(&out_gcs));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    let mut seen = BTreeSet::new();
    for (key, live_action) in &a {
        let pair = (live_action.as_str(), b[key].as_str());
        assert!(
            matches!(
                pair,
                ("delete" | "rehydrate", "delete") | ("scrub_geo", "scrub_geo")
            ),
            "{key:?}: {pair:?}"
        );
        seen.insert(pair);
    }
    assert_eq!(seen.len(), 3, "every pair occurs: {seen:?}");
}

/// A byte path that refuses its URL's token (as the live API may when a token's undocumented
/// lifetime ends): the job is replaced, as an expired signed URL always was, and the run ends
/// with the right manifest; no refused job ever took an upload.
#[test]
fn a_refused_byte_path_token_gets_a_new_job() {
    let refused = FaultRates {
        token_refused: 0.3,
        ..FaultRates::default()
    };
    let setup = Setup::new(Config::default().with_faults(Faults {
        upload: refused.clone(),
        download: refused,
        ..Faults::default()
    }));
    let out = setup.out("run");
    let output = setup.run(&out, &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stats = setup.emulator().stats();
    assert!(
        stats.faults.get("token").copied().unwrap_or(0) > 0,
        "{stats:?}"
    );
    assert!(
        shards(&state(&out))
            .iter()
            .any(|s| s["attempts"].as_u64().unwrap() >= 2),
        "no shard got a new job"
    );
    assert!(
        stats.uploads.values().all(|u| u.completed <= 1),
        "{stats:?}"
    );
    assert_eq!(Setup::manifest_rows(&out), setup.expected_rows());
}

/// Every Parquet file below `dir`, in path order.
fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(parquet_files(&p));
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The manifest's rows without their file names: (pos, id, author, action), in order.
fn rows_without_names(out: &Path) -> Vec<(i64, Option<i64>, Option<i64>, String)> {
    read_manifest(&out.join("manifests"))
        .unwrap()
        .into_iter()
        .map(|r| (r.pos, r.id, r.author_id, r.action))
        .collect()
}

/// A Hive-style table whose files are named `000000_0` (no `.parquet`): the run shards and joins
/// the same files (one owner finds them for both), so its manifest equals the run's on the same
/// files named `.parquet`; it was once empty while the IDs went to X.
#[test]
fn a_hive_table_without_parquet_names_gives_the_same_manifest() {
    let setup = Setup::new(Config::default());
    let hive = setup.out("hive");
    for (i, f) in parquet_files(&setup.dataset).iter().enumerate() {
        let rel = f.strip_prefix(&setup.dataset).unwrap();
        let dir = hive.join(rel.parent().unwrap());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(f, dir.join(format!("{i:06}_0"))).unwrap();
    }
    let named = setup.out("named");
    let output = setup.run(&named, &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let bare = setup.out("bare");
    let output = setup.command_on(&[hive], &bare, &[]).output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let rows = rows_without_names(&bare);
    assert_eq!(rows.len(), setup.expected_rows().len());
    assert_eq!(rows, rows_without_names(&named));
}

/// The same dataset spelled another way (`data/./`, or its files one by one as a shell expands a
/// glob) is the same run: it resumes to the same manifest without a new job.
#[test]
fn another_spelling_of_the_dataset_is_the_same_run() {
    let setup = Setup::new(Config::default());
    let out = setup.out("run");
    let output = setup.run(&out, &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let before = manifest_bytes(&out);
    let jobs = setup.emulator().stats().jobs_created;
    let dotted = PathBuf::from(format!("{}/./", setup.dataset.display()));
    for spelling in [vec![dotted], parquet_files(&setup.dataset)] {
        let output = setup.command_on(&spelling, &out, &[]).output().unwrap();
        assert!(
            output.status.success(),
            "{spelling:?}: {}",
            text(&output.stderr)
        );
        assert_eq!(setup.emulator().stats().jobs_created, jobs, "{spelling:?}");
        assert_eq!(manifest_bytes(&out), before, "{spelling:?}");
    }
}
