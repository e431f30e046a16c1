//! `xcomply jobs create|get|list|cancel`, `xcomply upload` and `xcomply download` end to end: the
//! built binary against an emulator started in this test process, so the test can read its
//! counters, look at the stored objects and move its clock.
//!
//! Every run is recorded, and each test ends by checking that no output of any run (trace-level
//! logs included) holds the bearer token, an `X-Goog-Signature` value or a resumable `upload_id`.
//! The one documented exception is the stdout of `--json`, which prints the API's JSON, signed
//! URLs included, for scripts.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use xcomply_core::{ComplianceJob, JobListResponse, JobResponse, JobStatus, JobType};
use xcomply_emulator::{Config, Emulator, FaultRates, Faults, Flow, OutcomeRates, outcome};

/// The emulator's seed; the expected results are computed from it with `outcome`.
const SEED: u64 = 7;

/// A token long and odd enough that finding it in an output cannot be a coincidence.
const TOKEN: &str = "test-bearer-9f3c1a7e5b2d4c6e8a0f";

/// A well-formed job ID that the emulator never hands out (its IDs are snowflakes of "now").
const UNKNOWN_JOB: &str = "1234567890123456789";

/// IDs per small upload: enough for dozens of flagged tweets (3 %) and users (1 %) in the results.
const SMALL_IDS: usize = 3_000;

/// IDs in the large resumable upload: 430 000 lines of 20 bytes are 8.6 MB, more than one 8 MiB
/// chunk (the CLI's default), so the upload takes a full chunk and then a final one.
const LARGE_IDS: usize = 430_000;

/// The most a test waits for the emulator to finish a job; processing a few thousand IDs takes
/// milliseconds, so reaching this means the job is stuck.
const JOB_DEADLINE: Duration = Duration::from_secs(30);

/// One recorded run of the binary.
#[derive(Clone)]
struct Run {
    args: Vec<String>,
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

impl Run {
    fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Whether the stdout is the API's JSON, which holds full signed URLs by design.
    fn prints_signed_urls(&self) -> bool {
        self.args.first().is_some_and(|a| a == "jobs") && self.args.iter().any(|a| a == "--json")
    }

    fn describe(&self) -> String {
        format!(
            "xcomply {}\nexit: {:?}\nstdout:\n{}\nstderr:\n{}",
            self.args.join(" "),
            self.code,
            self.stdout_text(),
            self.stderr
        )
    }
}

/// How a run gets its token.
#[derive(Clone, Copy)]
enum Token<'a> {
    /// The emulator's token in `X_BEARER_TOKEN`.
    Valid,
    /// `X_BEARER_TOKEN` unset.
    Unset,
    /// This token in `X_BEARER_TOKEN`.
    Other(&'a str),
}

struct Harness {
    // Declared before the runtime so that it is dropped (and stops) while the runtime still runs.
    emulator: Emulator,
    /// Runs the emulator's server; only held.
    _rt: tokio::runtime::Runtime,
    tmp: tempfile::TempDir,
    runs: RefCell<Vec<Run>>,
    /// Every `X-Goog-Signature` value seen in the API's JSON.
    signatures: RefCell<BTreeSet<String>>,
    /// Other tokens the tests used, which must not be echoed either.
    other_tokens: RefCell<Vec<String>>,
}

impl Harness {
    fn new(config: Config) -> Harness {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let emulator = rt
            .block_on(Emulator::start(config.with_token(TOKEN).with_seed(SEED)))
            .unwrap();
        Harness {
            emulator,
            _rt: rt,
            tmp: tempfile::tempdir().unwrap(),
            runs: RefCell::new(Vec::new()),
            signatures: RefCell::new(BTreeSet::new()),
            other_tokens: RefCell::new(Vec::new()),
        }
    }

    /// The GCS flow (signed storage URLs, resumable uploads), which most of these tests pin, with
    /// a generous rate limit, so that the status polls of a test never wait for a window; the
    /// rate-limit behaviour itself is tested in xcomply-client.
    fn config() -> Config {
        Harness::live().with_flow(Flow::Gcs)
    }

    /// The live byte-path flow, with the same generous rate limit.
    fn live() -> Config {
        Config::default().with_rate_limit(100_000, Duration::from_secs(900))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// The command for `args` with `--api-base` pointing at the emulator.
    fn command(&self, args: &[&str], token: Token<'_>) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xcomply"));
        cmd.args(args)
            .args(["--api-base", self.emulator.base_url()])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        match token {
            Token::Valid => {
                cmd.env("X_BEARER_TOKEN", TOKEN);
            }
            Token::Unset => {
                cmd.env_remove("X_BEARER_TOKEN");
            }
            Token::Other(t) => {
                if !t.is_empty() {
                    self.other_tokens.borrow_mut().push(t.to_owned());
                }
                cmd.env("X_BEARER_TOKEN", t);
            }
        }
        cmd
    }

    fn record(&self, args: &[&str], output: &Output) -> Run {
        let run = Run {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            code: output.status.code(),
            stdout: output.stdout.clone(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        if run.prints_signed_urls() {
            for sig in signature_values(&run.stdout_text()) {
                self.signatures.borrow_mut().insert(sig);
            }
        }
        self.runs.borrow_mut().push(run.clone());
        run
    }

    fn run_as(&self, args: &[&str], token: Token<'_>) -> Run {
        let output = self.command(args, token).output().unwrap();
        self.record(args, &output)
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_as(args, Token::Valid)
    }

    /// Runs and asserts success.
    fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(run.code, Some(0), "{}", run.describe());
        run
    }

    /// Runs and asserts the exit code and that stderr holds every one of `needles`.
    fn fails(&self, args: &[&str], token: Token<'_>, code: i32, needles: &[&str]) -> Run {
        let run = self.run_as(args, token);
        assert_eq!(run.code, Some(code), "{}", run.describe());
        for needle in needles {
            assert!(
                run.stderr.contains(needle),
                "stderr lacks `{needle}`:\n{}",
                run.describe()
            );
        }
        run
    }

    /// `jobs create --json`, parsed.
    fn create(&self, job_type: &str, extra: &[&str]) -> ComplianceJob {
        let mut args = vec!["jobs", "create", "--type", job_type, "--json"];
        args.extend_from_slice(extra);
        job_of(&self.ok(&args))
    }

    /// `jobs get ID --json`, parsed.
    fn get(&self, id: &str) -> ComplianceJob {
        job_of(&self.ok(&["jobs", "get", id, "--json"]))
    }

    /// Polls `jobs get` until the job leaves `created`/`in_progress`.
    fn wait_finished(&self, id: &str) -> ComplianceJob {
        let start = Instant::now();
        loop {
            let job = self.get(id);
            if job.status.is_terminal() {
                return job;
            }
            assert!(
                start.elapsed() < JOB_DEADLINE,
                "job {id} still `{}` after {JOB_DEADLINE:?}",
                job.status
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Spawns `download --wait` (in `args`) and returns once it has read the job and polled it
    /// once, both times seeing it unfinished, while it still runs.
    fn spawn_waiting(&self, args: &[&str]) -> Child {
        let gets = || {
            self.emulator
                .stats()
                .requests
                .get("GET /2/compliance/jobs/:id")
                .copied()
                .unwrap_or(0)
        };
        let before = gets();
        let mut child = self
            .command(args, Token::Valid)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while gets() < before + 2 {
            assert!(
                start.elapsed() < JOB_DEADLINE,
                "download --wait never polled"
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "download --wait ended early"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // The next poll is seconds away (the CLI's shortest polling interval is 6 s).
        assert!(
            child.try_wait().unwrap().is_none(),
            "download --wait did not wait"
        );
        child
    }

    /// The object the emulator stored for a job's upload. The emulator keeps it as
    /// `{data_dir}/{job}/submission` once the upload is complete (its own tests read it there).
    fn stored(&self, job: &ComplianceJob) -> Vec<u8> {
        std::fs::read(
            self.emulator
                .data_dir()
                .join(job.id.to_string())
                .join("submission"),
        )
        .unwrap()
    }

    /// Checks every recorded run for secrets. Lists every job first, so that the signatures of
    /// jobs only ever shown as tables are known too.
    fn assert_no_secrets(&self) {
        for job_type in ["tweets", "users"] {
            self.ok(&["jobs", "list", "--type", job_type, "--json"]);
        }
        let signatures = self.signatures.borrow();
        assert!(!signatures.is_empty(), "no signed URL was seen");
        let mut tokens = vec![TOKEN.to_owned()];
        tokens.extend(self.other_tokens.borrow().iter().cloned());
        for run in self.runs.borrow().iter() {
            // stderr is a pipe here, so log lines must come without colour codes.
            assert!(
                !run.stderr.contains('\u{1b}'),
                "stderr holds ANSI escape codes although it is not a terminal:\n{}",
                run.describe()
            );
            let stdout = run.stdout_text();
            let mut outputs = vec![("stderr", run.stderr.as_str())];
            if !run.prints_signed_urls() {
                outputs.push(("stdout", stdout.as_str()));
            }
            for (name, text) in outputs {
                for token in &tokens {
                    assert!(
                        !text.contains(token.as_str()),
                        "{name} holds the token:\n{}",
                        run.describe()
                    );
                }
                for sig in signatures.iter() {
                    assert!(
                        !text.contains(sig.as_str()),
                        "{name} holds a URL signature:\n{}",
                        run.describe()
                    );
                }
                for param in ["X-Goog-Signature=", "upload_id=", "token="] {
                    for value in param_values(text, param) {
                        assert_eq!(
                            value,
                            "REDACTED",
                            "{name} holds an unredacted {param}:\n{}",
                            run.describe()
                        );
                    }
                }
            }
        }
    }
}

fn job_of(run: &Run) -> ComplianceJob {
    let resp: JobResponse = serde_json::from_slice(&run.stdout)
        .unwrap_or_else(|e| panic!("not a job response ({e}):\n{}", run.describe()));
    resp.data.expect("a job response has data")
}

fn list_of(run: &Run) -> (Vec<ComplianceJob>, u64) {
    let resp: JobListResponse = serde_json::from_slice(&run.stdout)
        .unwrap_or_else(|e| panic!("not a list response ({e}):\n{}", run.describe()));
    let count = resp
        .meta
        .and_then(|m| m.result_count)
        .expect("result_count");
    (resp.data.unwrap_or_default(), count)
}

/// The values of `param` (which ends with `=`) in any URL-like text, matched case-insensitively.
fn param_values(text: &str, param: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    let needle = param.to_ascii_lowercase();
    lower
        .match_indices(&needle)
        .map(|(at, _)| {
            let rest = &text[at + needle.len()..];
            let end = rest
                .find(|c: char| c == '&' || c == '"' || c == '\'' || c == ')' || c.is_whitespace())
                .unwrap_or(rest.len());
            rest[..end].to_owned()
        })
        .collect()
}

/// The secret values of the URLs in `text`: GCS signatures and byte-path tokens.
fn signature_values(text: &str) -> Vec<String> {
    let mut values = param_values(text, "X-Goog-Signature=");
    values.extend(param_values(text, "token="));
    values
        .into_iter()
        .filter(|v| v != "REDACTED" && !v.is_empty())
        .collect()
}

/// The `key value` lines of a one-job table.
fn table_of(run: &Run) -> BTreeMap<String, String> {
    run.stdout_text()
        .lines()
        .filter_map(|line| {
            let (k, v) = line.split_once(' ')?;
            Some((k.to_owned(), v.trim().to_owned()))
        })
        .collect()
}

/// Writes `n` seeded 19-digit IDs, one per line, and returns them.
fn write_ids(path: &Path, n: usize, salt: u64) -> Vec<u64> {
    let ids: Vec<u64> = (0..n as u64)
        .map(|i| {
            1_000_000_000_000_000_000
                + xcomply_core::seeded::mix64(salt.wrapping_mul(0x9e37_79b9) ^ i)
                    % 100_000_000_000_000_000
        })
        .collect();
    let mut text = String::with_capacity(n * 20);
    for id in &ids {
        text.push_str(&id.to_string());
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
    ids
}

/// The results a job of the GCS flow over `ids` must deliver, computed without the emulator's
/// processing code: one JSON line per flagged ID, in upload order.
fn expected_results(job_type: &JobType, ids: &[u64]) -> String {
    let rates = OutcomeRates::legacy();
    let out: String = ids
        .iter()
        .filter_map(|&id| outcome(SEED, Flow::Gcs, job_type, id, &rates))
        .map(|record| serde_json::to_string(&record).unwrap() + "\n")
        .collect();
    assert!(
        !out.is_empty(),
        "no flagged IDs: the comparison would be empty"
    );
    out
}

#[test]
fn jobs_create_get_list_cancel() {
    let h = Harness::new(Harness::config());

    // A table by default: one `field value` line per field, the signature redacted.
    let created = h.ok(&["jobs", "create", "--type", "tweets", "--name", "nightly"]);
    let table = table_of(&created);
    let id = table["id"].clone();
    assert!(
        !id.is_empty() && id.len() <= 19 && id.bytes().all(|b| b.is_ascii_digit()),
        "{}",
        created.describe()
    );
    assert_eq!(table["type"], "tweets");
    assert_eq!(table["status"], "created");
    assert_eq!(table["name"], "nightly");
    assert_eq!(table["resumable"], "false");
    for url in ["upload_url", "download_url"] {
        assert!(
            table[url].starts_with(h.emulator.base_url())
                && table[url].contains("X-Goog-Signature=REDACTED"),
            "{url}: {}",
            created.describe()
        );
    }
    assert!(table.contains_key("upload_expires_at") && table.contains_key("created_at"));

    // `get --json` is the API's JSON, full URLs included.
    let job = h.get(&id);
    assert_eq!(job.id.to_string(), id);
    assert_eq!(job.name.as_deref(), Some("nightly"));
    assert_eq!(job.status, JobStatus::Created);
    assert_eq!(job.resumable, Some(false));
    assert!(job.upload_url.query_param("X-Goog-Signature").is_some());
    let got = table_of(&h.ok(&["jobs", "get", &id]));
    assert_eq!(got, table, "the get table is the create table");

    // A second unfinished tweets job is refused by the API (a conflict, exit 6, the API's reason).
    h.fails(
        &["jobs", "create", "--type", "tweets"],
        Token::Valid,
        6,
        &["create tweets job", "409"],
    );

    // A resumable users job, as JSON; its URL is signed for the resumable protocol.
    let users = h.create("users", &["--resumable", "--name", "u1"]);
    assert_eq!(users.job_type, JobType::Users);
    assert_eq!(users.resumable, Some(true));
    assert_eq!(users.status, JobStatus::Created);
    assert!(
        users
            .upload_url
            .query_param("X-Goog-SignedHeaders")
            .is_some_and(|h| h.to_ascii_lowercase().contains("x-goog-resumable")),
        "{}",
        users.upload_url
    );

    // Lists: a table with a header and one row per job, and JSON with the count.
    let listed = h.ok(&["jobs", "list", "--type", "tweets"]);
    let lines: Vec<String> = listed.stdout_text().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{}", listed.describe());
    assert!(lines[0].starts_with("ID ") && lines[0].ends_with("NAME"));
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        (row[0], row[1], row[2], row[row.len() - 1]),
        (id.as_str(), "tweets", "created", "nightly")
    );
    let (jobs, count) = list_of(&h.ok(&["jobs", "list", "--type", "users", "--json"]));
    assert_eq!(count, 1);
    assert_eq!(jobs[0].id, users.id);
    let (jobs, _) = list_of(&h.ok(&[
        "jobs", "list", "--type", "tweets", "--status", "created", "--json",
    ]));
    assert_eq!(
        jobs.iter().map(|j| j.id.to_string()).collect::<Vec<_>>(),
        std::slice::from_ref(&id)
    );

    // Cancelling fails the job, frees the type, and moves it between status filters.
    let cancelled = table_of(&h.ok(&["jobs", "cancel", &id]));
    assert_eq!(cancelled["id"], id);
    assert_eq!(cancelled["status"], "failed");
    assert_eq!(cancelled["error"], "Job was cancelled");
    let (jobs, count) = list_of(&h.ok(&[
        "jobs", "list", "--type", "tweets", "--status", "created", "--json",
    ]));
    assert_eq!((jobs.len(), count), (0, 0));
    let empty = h.ok(&["jobs", "list", "--type", "tweets", "--status", "created"]);
    assert!(empty.stdout.is_empty(), "{}", empty.describe());
    assert!(empty.stderr.contains("no jobs"), "{}", empty.describe());
    let (jobs, _) = list_of(&h.ok(&[
        "jobs", "list", "--type", "tweets", "--status", "failed", "--json",
    ]));
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].id.to_string(), id);
    assert_eq!(jobs[0].error.as_deref(), Some("Job was cancelled"));
    let second = h.create("tweets", &[]);
    let (jobs, count) = list_of(&h.ok(&["jobs", "list", "--type", "tweets", "--json", "-vvv"]));
    assert_eq!(count, 2);
    assert_eq!(jobs[0].id, second.id, "newest first");

    // `expired` is a status but not a filter the API accepts; either way it is a usage error.
    h.fails(
        &["jobs", "list", "--type", "tweets", "--status", "expired"],
        Token::Valid,
        2,
        &["expired", "created"],
    );
    // A status the API does not know is a usage error before any request.
    h.fails(
        &["jobs", "list", "--type", "tweets", "--status", "done"],
        Token::Valid,
        2,
        &["invalid status `done`"],
    );

    h.assert_no_secrets();
}

#[test]
fn control_characters_in_job_names_are_escaped_in_tables() {
    // Names come from the API: a newline would break the table and an escape sequence would
    // drive the terminal of whoever lists the jobs.
    let h = Harness::new(Harness::config());
    let name = "a\nb\u{1b}[31mred";
    let created = h.ok(&["jobs", "create", "--type", "tweets", "--name", name]);
    let id = table_of(&created)["id"].clone();
    for run in [
        created,
        h.ok(&["jobs", "get", &id]),
        h.ok(&["jobs", "list", "--type", "tweets"]),
    ] {
        let text = run.stdout_text();
        assert!(
            text.contains("a\\nb\\u{1b}[31mred") && !text.contains('\u{1b}'),
            "{}",
            run.describe()
        );
    }
    // JSON keeps the name exactly as the API sent it.
    assert_eq!(h.get(&id).name.as_deref(), Some(name));
}

#[test]
fn simple_uploads_by_job_and_by_url_store_the_file_and_deliver_its_results() {
    let h = Harness::new(Harness::config());
    let tweets_file = h.path("tweets.txt");
    let tweet_ids = write_ids(&tweets_file, SMALL_IDS, 1);
    let users_file = h.path("users.txt");
    let user_ids = write_ids(&users_file, SMALL_IDS, 2);

    // By job: the URL comes from the API.
    let tweets = h.create("tweets", &[]);
    let tid = tweets.id.to_string();
    let up = h.ok(&["upload", "--job", &tid, tweets_file.to_str().unwrap()]);
    assert!(
        up.stderr.contains("uploaded") && !up.stderr.contains("resumably"),
        "{}",
        up.describe()
    );

    // By URL: no token needed, and trace logs on. Forcing the resumable protocol on a URL signed
    // for a simple PUT is refused first, with the reason.
    let users = h.create("users", &[]);
    let uid = users.id.to_string();
    let url = users.upload_url.expose().to_owned();
    h.fails(
        &[
            "upload",
            "--url",
            &url,
            "--resumable",
            users_file.to_str().unwrap(),
        ],
        Token::Unset,
        5,
        &["not signed for a resumable upload"],
    );
    let run = h.run_as(
        &[
            "upload",
            "--url",
            &url,
            users_file.to_str().unwrap(),
            "-vvv",
        ],
        Token::Unset,
    );
    assert_eq!(run.code, Some(0), "{}", run.describe());

    // The stored objects are the files, byte for byte, each from one simple PUT.
    for (job, file) in [(&tweets, &tweets_file), (&users, &users_file)] {
        assert_eq!(
            h.stored(job),
            std::fs::read(file).unwrap(),
            "job {}",
            job.id
        );
        let stats = h.emulator.uploads_for(job.id.0);
        assert_eq!(
            (stats.completed, stats.sessions),
            (1, 0),
            "job {}: {stats:?}",
            job.id
        );
    }

    // The results, to a file and to stdout, are what the IDs must give.
    assert_eq!(h.wait_finished(&tid).status, JobStatus::Complete);
    assert_eq!(h.wait_finished(&uid).status, JobStatus::Complete);
    let out = h.path("tweets.jsonl");
    let down = h.ok(&[
        "download",
        "--job",
        &tid,
        "--wait",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(down.stdout.is_empty(), "{}", down.describe());
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        expected_results(&JobType::Tweets, &tweet_ids)
    );
    let down = h.ok(&["download", "--job", &uid, "--wait", "--out", "-", "-vvv"]);
    let expected_users = expected_results(&JobType::Users, &user_ids);
    assert_eq!(down.stdout_text(), expected_users);

    // The signed download URL works without a token.
    let url = h.get(&uid).download_url.expose().to_owned();
    let run = h.run_as(&["download", "--url", &url, "--out", "-"], Token::Unset);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(run.stdout_text(), expected_users);

    // A job that already took its upload takes no second one: a job in the wrong state (2).
    h.fails(
        &["upload", "--job", &tid, tweets_file.to_str().unwrap()],
        Token::Valid,
        2,
        &[&format!("job {tid} is `complete`"), "create a new job"],
    );
    assert_eq!(h.emulator.uploads_for(tweets.id.0).completed, 1);

    h.assert_no_secrets();
}

#[test]
fn resumable_uploads_by_job_and_by_url_store_the_file_and_deliver_its_results() {
    let h = Harness::new(Harness::config());
    let tweets_file = h.path("tweets.txt");
    let tweet_ids = write_ids(&tweets_file, LARGE_IDS, 3);
    let users_file = h.path("users.txt");
    let user_ids = write_ids(&users_file, SMALL_IDS, 4);

    // By job: the job says it is resumable, so no flag is needed. The file spans two chunks.
    let tweets = h.create("tweets", &["--resumable"]);
    let tid = tweets.id.to_string();
    let up = h.ok(&[
        "upload",
        "--job",
        &tid,
        tweets_file.to_str().unwrap(),
        "-vvv",
    ]);
    assert!(up.stderr.contains("resumably"), "{}", up.describe());

    // By URL: the signed headers say it is resumable.
    let users = h.create("users", &["--resumable"]);
    let uid = users.id.to_string();
    let url = users.upload_url.expose().to_owned();
    let up = h.run_as(
        &[
            "upload",
            "--url",
            &url,
            users_file.to_str().unwrap(),
            "-vvv",
        ],
        Token::Unset,
    );
    assert_eq!(up.code, Some(0), "{}", up.describe());
    assert!(up.stderr.contains("resumably"), "{}", up.describe());

    for (job, file, chunks) in [(&tweets, &tweets_file, 2), (&users, &users_file, 1)] {
        assert_eq!(
            h.stored(job),
            std::fs::read(file).unwrap(),
            "job {}",
            job.id
        );
        let stats = h.emulator.uploads_for(job.id.0);
        assert_eq!(
            (stats.completed, stats.sessions, stats.attempts),
            (1, 1, chunks),
            "job {}: {stats:?}",
            job.id
        );
    }

    assert_eq!(h.wait_finished(&tid).status, JobStatus::Complete);
    assert_eq!(h.wait_finished(&uid).status, JobStatus::Complete);
    let out = h.path("tweets.jsonl");
    h.ok(&[
        "download",
        "--job",
        &tid,
        "--wait",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        expected_results(&JobType::Tweets, &tweet_ids)
    );
    let down = h.ok(&["download", "--job", &uid, "--wait", "--out", "-"]);
    assert_eq!(
        down.stdout_text(),
        expected_results(&JobType::Users, &user_ids)
    );

    h.assert_no_secrets();
}

/// `download --wait` polls until the job completes: the emulated clock is frozen and processing
/// takes an emulated hour, so the job completes only when the test moves the clock, after the
/// command has seen it `in_progress`. Ctrl-C ends the wait.
#[test]
fn download_wait_polls_until_the_job_completes() {
    let h = Harness::new(
        Harness::config()
            .with_time_scale(0.0)
            .with_processing(Duration::from_secs(3600), None),
    );
    let file = h.path("ids.txt");
    let ids = write_ids(&file, SMALL_IDS, 5);
    let job = h.create("tweets", &[]);
    let id = job.id.to_string();
    h.ok(&["upload", "--job", &id, file.to_str().unwrap()]);
    assert_eq!(h.get(&id).status, JobStatus::InProgress);

    // Without --wait an unfinished job is a usage error that names the flag.
    let out = h.path("results.jsonl");
    let out_arg = out.to_str().unwrap();
    h.fails(
        &["download", "--job", &id, "--out", out_arg],
        Token::Valid,
        2,
        &[&format!("job {id} is `in_progress`"), "--wait"],
    );
    assert!(!out.exists());

    // Ctrl-C while waiting, and SIGTERM (what `kill` and supervisors send), stop the wait with
    // exit 130 and write nothing.
    let args = ["download", "--job", &id, "--wait", "--out", out_arg];
    for signal in ["-INT", "-TERM"] {
        let child = h.spawn_waiting(&args);
        let signalled = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(signalled.success());
        let run = h.record(&args, &child.wait_with_output().unwrap());
        assert_eq!(run.code, Some(130), "{signal}: {}", run.describe());
        assert!(
            run.stderr
                .contains(&format!("waiting for job {id} was cancelled")),
            "{signal}: {}",
            run.describe()
        );
        assert!(!out.exists());
    }

    // The job completes only when the clock moves, after the command has started waiting.
    let child = h.spawn_waiting(&args);
    h.emulator.advance(Duration::from_secs(3600));
    let run = h.record(&args, &child.wait_with_output().unwrap());
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(
        run.stderr.contains(&format!("job {id} is complete")),
        "{}",
        run.describe()
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        expected_results(&JobType::Tweets, &ids)
    );

    h.assert_no_secrets();
}

#[test]
fn missing_or_refused_tokens_exit_5_and_say_how_to_fix_them() {
    let h = Harness::new(Harness::config());
    let file = h.path("ids.txt");
    write_ids(&file, 10, 6);
    let file = file.to_str().unwrap();
    let job = h.create("tweets", &[]);
    let id = job.id.to_string();
    let out = h.path("out.jsonl");
    let out = out.to_str().unwrap();

    let commands: [&[&str]; 7] = [
        &["jobs", "create", "--type", "users"],
        &["jobs", "get", &id],
        &["jobs", "list", "--type", "tweets"],
        &["jobs", "cancel", &id],
        &["upload", "--job", &id, file],
        &["download", "--job", &id, "--out", out],
        &["download", "--job", &id, "--wait", "--out", out, "-vvv"],
    ];
    for args in commands {
        h.fails(args, Token::Unset, 5, &["X_BEARER_TOKEN"]);
        h.fails(
            args,
            Token::Other("refused-token-3b8e61d2a4c7"),
            5,
            &["401", "X_BEARER_TOKEN"],
        );
    }
    // A token file stands in for the variable; an unreadable one is named, an empty variable is
    // refused before any request.
    let token_file = h.path("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let token_file = token_file.to_str().unwrap();
    let run = h.run_as(
        &["jobs", "get", &id, "--token-file", token_file],
        Token::Unset,
    );
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(table_of(&run)["id"], id, "{}", run.describe());
    let missing = h.path("no-such-token");
    let missing = missing.to_str().unwrap();
    h.fails(
        &["jobs", "get", &id, "--token-file", missing],
        Token::Unset,
        5,
        &["cannot read the token file", missing],
    );
    h.fails(
        &["jobs", "get", &id],
        Token::Other(""),
        5,
        &["bearer token is empty"],
    );

    // Nothing was changed by the refused runs.
    let job = h.get(&id);
    assert_eq!(job.status, JobStatus::Created);
    assert_eq!(h.emulator.uploads_for(job.id.0).attempts, 0);
    assert!(!Path::new(out).exists());
    let (users, _) = list_of(&h.ok(&["jobs", "list", "--type", "users", "--json"]));
    assert!(users.is_empty());

    h.assert_no_secrets();
}

#[test]
fn unknown_and_malformed_job_ids_are_named() {
    let h = Harness::new(Harness::config());
    // A job exists, so that the signature check below has URLs to look for.
    h.create("tweets", &[]);
    let file = h.path("ids.txt");
    write_ids(&file, 10, 7);
    let file = file.to_str().unwrap();
    let out = h.path("out.jsonl");
    let out = out.to_str().unwrap();

    let commands: [&[&str]; 5] = [
        &["jobs", "get", UNKNOWN_JOB],
        &["jobs", "cancel", UNKNOWN_JOB],
        &["upload", "--job", UNKNOWN_JOB, file],
        &["download", "--job", UNKNOWN_JOB, "--out", out],
        &["download", "--job", UNKNOWN_JOB, "--wait", "--out", out],
    ];
    for args in commands {
        h.fails(args, Token::Valid, 2, &[UNKNOWN_JOB, "404"]);
    }
    assert!(!Path::new(out).exists());

    for bad in ["12ab", "99999999999999999999"] {
        h.fails(
            &["jobs", "get", bad],
            Token::Valid,
            2,
            &["invalid job ID", bad],
        );
        h.fails(
            &["upload", "--job", bad, file],
            Token::Valid,
            2,
            &["invalid job ID", bad],
        );
    }

    h.assert_no_secrets();
}

#[test]
fn an_expired_upload_url_says_create_a_new_job() {
    let h = Harness::new(Harness::config());
    let file = h.path("ids.txt");
    write_ids(&file, 100, 8);
    let file = file.to_str().unwrap();
    let simple = h.create("tweets", &[]);
    let resumable = h.create("users", &["--resumable"]);

    // The upload window is 15 minutes from creation.
    h.emulator.advance(Duration::from_secs(16 * 60));

    for job in [&simple, &resumable] {
        let url = job.upload_url.expose().to_owned();
        h.fails(
            &["upload", "--url", &url, file, "-vvv"],
            Token::Unset,
            3,
            // "upload URL expired at" or "resumable upload start URL expired at".
            &["URL expired at", "create a new job"],
        );
        let id = job.id.to_string();
        h.fails(
            &["upload", "--job", &id, file],
            Token::Valid,
            3,
            &[&format!("job {id} is `expired`"), "create a new job"],
        );
        // An expired job has no results either.
        h.fails(
            &["download", "--job", &id, "--wait", "--out", "-"],
            Token::Valid,
            3,
            &[&format!("job {id} is `expired`")],
        );
        let stats = h.emulator.uploads_for(job.id.0);
        assert_eq!(
            (stats.completed, stats.bytes),
            (0, 0),
            "job {id}: {stats:?}"
        );
    }

    h.assert_no_secrets();
}

/// Runs the binary with its stdout or stderr (or both) closed before it writes anything, as in
/// `xcomply … 2>&1 | head -1` once `head` has exited. Returns the exit code.
fn run_with_closed(h: &Harness, args: &[&str], close_stdout: bool, close_stderr: bool) -> Run {
    let mut child = h
        .command(args, Token::Valid)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Dropping the read ends closes the pipes; the child's first write then fails with EPIPE.
    let out = child.stdout.take();
    let err = child.stderr.take();
    let (out, err) = match (close_stdout, close_stderr) {
        (true, true) => {
            drop((out, err));
            (None, None)
        }
        (true, false) => {
            drop(out);
            (None, err)
        }
        (false, true) => {
            drop(err);
            (out, None)
        }
        (false, false) => (out, err),
    };
    let read = |pipe: Option<&mut dyn std::io::Read>| {
        let mut buf = Vec::new();
        if let Some(p) = pipe {
            p.read_to_end(&mut buf).unwrap();
        }
        buf
    };
    let (mut out, mut err) = (out, err);
    let stdout = read(out.as_mut().map(|p| p as &mut dyn std::io::Read));
    let stderr = read(err.as_mut().map(|p| p as &mut dyn std::io::Read));
    let status = child.wait().unwrap();
    let output = Output {
        status,
        stdout,
        stderr,
    };
    h.record(args, &output)
}

#[test]
fn closed_stdout_or_stderr_never_panics() {
    let h = Harness::new(Harness::config());
    let job = h.create("tweets", &[]);
    let id = job.id.to_string();
    let file = h.path("ids.txt");
    write_ids(&file, 10, 9);
    let file = file.to_str().unwrap();

    // An error report and log lines to a closed stderr: the command's own exit code, no panic
    // (which is exit 101).
    for args in [
        &["jobs", "get", UNKNOWN_JOB, "-vvv"][..],
        &["jobs", "get", UNKNOWN_JOB],
    ] {
        let run = run_with_closed(&h, args, false, true);
        assert_eq!(run.code, Some(2), "{}", run.describe());
    }
    // Log lines, progress and the closing note of a successful upload to a closed stderr.
    let run = run_with_closed(&h, &["upload", "--job", &id, file, "-vv"], false, true);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    // Tables and JSON to a closed stdout: a broken pipe is a quiet success, like `… | head`.
    for args in [
        &["jobs", "get", &id][..],
        &["jobs", "get", &id, "--json"],
        &["jobs", "list", "--type", "tweets"],
        &["jobs", "list", "--type", "tweets", "--json", "-v"],
    ] {
        let run = run_with_closed(&h, args, true, false);
        assert_eq!(run.code, Some(0), "{}", run.describe());
        assert!(!run.stderr.contains("panicked"), "{}", run.describe());
        let run = run_with_closed(&h, args, true, true);
        assert_eq!(run.code, Some(0), "{}", run.describe());
    }
    // Results to a closed stdout.
    assert_eq!(h.wait_finished(&id).status, JobStatus::Complete);
    let run = run_with_closed(&h, &["download", "--job", &id, "--out", "-"], true, true);
    assert_eq!(run.code, Some(0), "{}", run.describe());

    h.assert_no_secrets();
}

/// Storage that answers 503 to some uploads: every retry warning (no -v) is one short line with
/// the operation, host and object path but no query string, and says what happens next.
#[test]
fn retry_warnings_are_one_short_line() {
    let faults = Faults {
        upload: FaultRates {
            unavailable: 0.5,
            ..FaultRates::default()
        },
        ..Faults::default()
    };
    let h = Harness::new(Harness::config().with_faults(faults));
    let file = h.path("ids.txt");
    write_ids(&file, 100, 10);
    let file = file.to_str().unwrap();
    let mut warnings = Vec::new();
    for job_type in ["tweets", "users"] {
        let job = h.create(job_type, &[]);
        let run = h.ok(&["upload", "--job", &job.id.to_string(), file]);
        warnings.extend(
            run.stderr
                .lines()
                .filter(|l| l.contains("WARN"))
                .map(str::to_owned),
        );
    }
    assert!(!warnings.is_empty(), "no upload was retried");
    let host = h
        .emulator
        .base_url()
        .trim_start_matches("http://")
        .to_owned();
    for w in &warnings {
        // The object path alone is about 110 characters; the old warnings were about 600.
        assert!(w.len() < 300, "{} characters: {w}", w.len());
        assert!(!w.contains('?') && !w.contains("X-Goog"), "{w}");
        assert!(w.contains(&format!("upload to {host}/")), "{w}");
        assert!(
            w.contains("http 503") && w.contains("re-sending the file in"),
            "{w}"
        );
        assert!(!w.contains("try again later"), "{w}");
    }

    h.assert_no_secrets();
}

#[test]
fn upload_checks_the_file_before_any_request() {
    let h = Harness::new(Harness::config());
    let job = h.create("tweets", &[]);
    let id = job.id.to_string();
    let gets = || {
        h.emulator
            .stats()
            .requests
            .get("GET /2/compliance/jobs/:id")
            .copied()
            .unwrap_or(0)
    };

    // A bad sixth line is named with its value, before the job is even read (exit 4).
    let bad = h.path("bad.txt");
    std::fs::write(&bad, "1\n2\r\n3\n4\n5\n12x45\n7\n").unwrap();
    let bad = bad.to_str().unwrap();
    let before = gets();
    h.fails(
        &["upload", "--job", &id, bad],
        Token::Valid,
        4,
        &[
            &format!("{bad}:6: invalid ID"),
            "found `12x45`",
            "--no-check",
        ],
    );
    h.fails(
        &["upload", "--job", &id, bad],
        Token::Valid,
        4,
        &[&format!("{bad}:6:")],
    );
    let blank = h.path("blank.txt");
    std::fs::write(&blank, "1\n\n3\n").unwrap();
    let blank = blank.to_str().unwrap();
    h.fails(
        &["upload", "--job", &id, blank],
        Token::Valid,
        4,
        &[&format!("{blank}:2: blank line")],
    );
    let big = h.path("big.txt");
    std::fs::write(&big, "9223372036854775808\n").unwrap();
    let big = big.to_str().unwrap();
    h.fails(
        &["upload", "--job", &id, big],
        Token::Valid,
        4,
        &[
            &format!("{big}:1: invalid ID"),
            "found `9223372036854775808`",
        ],
    );
    let missing = h.path("nope.txt");
    let missing = missing.to_str().unwrap();
    h.fails(
        &["upload", "--job", &id, missing],
        Token::Valid,
        4,
        &[&format!("cannot read {missing}: it does not exist")],
    );
    assert_eq!(gets(), before, "a bad file must not cost a request");
    assert_eq!(h.emulator.uploads_for(job.id.0).attempts, 0);

    // Neither --job nor --url: the message names both.
    h.fails(&["upload", bad], Token::Valid, 2, &["--job", "--url"]);

    // --no-check uploads the file as it is; the job then fails on it.
    h.ok(&["upload", "--job", &id, bad, "--no-check"]);
    assert_eq!(h.stored(&job), std::fs::read(bad).unwrap());

    h.assert_no_secrets();
}

#[test]
fn download_checks_out_first_and_explains_a_job_never_uploaded() {
    let h = Harness::new(Harness::config().with_time_scale(0.0));
    let job = h.create("tweets", &[]);
    let id = job.id.to_string();

    // A bad --out is refused before anything is asked of the API: even an unknown job gives 4.
    let nowhere = h.path("no/such/dir/x.jsonl");
    let nowhere = nowhere.to_str().unwrap();
    h.fails(
        &["download", "--job", UNKNOWN_JOB, "--wait", "--out", nowhere],
        Token::Valid,
        4,
        &[nowhere, "does not exist"],
    );
    let dir = h.tmp.path().to_str().unwrap().to_owned();
    h.fails(
        &["download", "--job", UNKNOWN_JOB, "--wait", "--out", &dir],
        Token::Valid,
        4,
        &["is a directory"],
    );

    // Waiting on a job that was never uploaded says so once, and ends when it expires.
    let out = h.path("results.jsonl");
    let args = [
        "download",
        "--job",
        &id,
        "--wait",
        "--out",
        out.to_str().unwrap(),
    ];
    let child = h.spawn_waiting(&args);
    h.emulator.advance(Duration::from_secs(16 * 60));
    let run = h.record(&args, &child.wait_with_output().unwrap());
    assert_eq!(run.code, Some(3), "{}", run.describe());
    assert_eq!(
        run.stderr.matches("has not been uploaded yet").count(),
        1,
        "{}",
        run.describe()
    );
    assert!(
        run.stderr.contains(&format!(
            "job {id} is `expired`: nothing was uploaded before"
        )),
        "{}",
        run.describe()
    );
    assert!(!out.exists());

    h.assert_no_secrets();
}

#[test]
fn cancelling_a_finished_job_says_there_is_nothing_to_cancel() {
    let h = Harness::new(Harness::config());
    let file = h.path("ids.txt");
    write_ids(&file, 10, 11);
    let job = h.create("tweets", &[]);
    let id = job.id.to_string();
    h.ok(&["upload", "--job", &id, file.to_str().unwrap()]);
    assert_eq!(h.wait_finished(&id).status, JobStatus::Complete);
    let run = h.ok(&["jobs", "cancel", &id]);
    assert!(
        run.stderr
            .contains(&format!("job {id} is already complete; nothing to cancel")),
        "{}",
        run.describe()
    );
    assert_eq!(table_of(&run)["status"], "complete");

    let users = h.create("users", &[]);
    let uid = users.id.to_string();
    let first = h.ok(&["jobs", "cancel", &uid]);
    assert!(
        !first.stderr.contains("nothing to cancel"),
        "{}",
        first.describe()
    );
    let again = h.ok(&["jobs", "cancel", &uid]);
    assert!(
        again.stderr.contains(&format!(
            "job {uid} is already failed (Job was cancelled); nothing to cancel"
        )),
        "{}",
        again.describe()
    );

    h.assert_no_secrets();
}

#[cfg(unix)]
#[test]
fn a_token_file_others_can_read_is_warned_about_once() {
    use std::os::unix::fs::PermissionsExt as _;
    let h = Harness::new(Harness::config());
    let job = h.create("tweets", &[]);
    let id = job.id.to_string();
    let token_file = h.path("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let path = token_file.to_str().unwrap();
    let run = h.run_as(&["jobs", "get", &id, "--token-file", path], Token::Unset);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(
        run.stderr
            .matches("readable by its group or other users")
            .count(),
        1,
        "{}",
        run.describe()
    );
    assert!(run.stderr.contains("chmod 600"), "{}", run.describe());
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = h.run_as(&["jobs", "get", &id, "--token-file", path], Token::Unset);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(!run.stderr.contains("readable"), "{}", run.describe());

    h.assert_no_secrets();
}

/// `xcomply emulator` refuses option values that used to panic (a processing delay beyond
/// `Duration`) or to start a server whose every request panicked (an enormous time scale), and
/// --help states the accepted ranges. Every case fails before a server starts.
#[test]
fn emulator_options_out_of_range_are_usage_errors() {
    let cases: [(&str, &str, &str); 6] = [
        (
            "--processing-delay=18446744073709551615s",
            "--processing-delay",
            "from 0 to 7d",
        ),
        (
            "--processing-delay=8d",
            "--processing-delay",
            "from 0 to 7d",
        ),
        (
            "--rate-window=999999999999999999999d",
            "--rate-window",
            "from 0 to 7d",
        ),
        ("--fault-latency=2h", "--fault-latency", "from 0 to 1h"),
        ("--time-scale=1e308", "--time-scale", "from 0 to 1000000"),
        ("--time-scale=-1", "--time-scale", "from 0 to 1000000"),
    ];
    for (arg, flag, expected) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_xcomply"))
            .args(["emulator", "--addr", "127.0.0.1:0", arg])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{arg}: {stderr}");
        assert!(stderr.contains(flag), "{arg}: {stderr}");
        assert!(stderr.contains(expected), "{arg}: {stderr}");
        assert!(!stderr.contains("panicked"), "{arg}: {stderr}");
    }
    let help = Command::new(env!("CARGO_BIN_EXE_xcomply"))
        .args(["emulator", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("from 0 to 1000000"), "{help}");
    assert!(help.contains("at most 7d"), "{help}");
}

/// `download --out` replaces what is at the path (a temporary file is renamed over it), so only a
/// new path, or an existing regular file with --force, is accepted: a FIFO or a symlink is
/// refused with a pointer to `--out -`, before the API is asked anything.
#[test]
fn download_replaces_an_existing_file_only_with_force_and_never_a_fifo_or_symlink() {
    let h = Harness::new(Harness::config());
    let file = h.path("ids.txt");
    let ids = write_ids(&file, SMALL_IDS, 12);
    let job = h.create("tweets", &[]);
    let id = job.id.to_string();
    h.ok(&["upload", "--job", &id, file.to_str().unwrap()]);
    assert_eq!(h.wait_finished(&id).status, JobStatus::Complete);
    let expected = expected_results(&JobType::Tweets, &ids);

    // An existing regular file: refused without --force, replaced with it.
    let out = h.path("results.jsonl");
    std::fs::write(&out, b"precious").unwrap();
    let out_arg = out.to_str().unwrap();
    h.fails(
        &["download", "--job", &id, "--out", out_arg],
        Token::Valid,
        4,
        &[&format!("--out `{out_arg}` already exists"), "--force"],
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    h.ok(&["download", "--job", &id, "--out", out_arg, "--force"]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), expected);

    // A FIFO stays a FIFO, even with --force; the check comes before the API (an unknown job
    // would be exit 2).
    let fifo = h.path("results.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let fifo_arg = fifo.to_str().unwrap();
    for extra in [&[][..], &["--force"]] {
        let mut args = vec!["download", "--job", UNKNOWN_JOB, "--out", fifo_arg];
        args.extend_from_slice(extra);
        h.fails(
            &args,
            Token::Valid,
            4,
            &[
                &format!("--out `{fifo_arg}` is not a regular file"),
                "`--out -`",
            ],
        );
        let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
        assert!(
            std::os::unix::fs::FileTypeExt::is_fifo(&kind),
            "the FIFO was replaced"
        );
    }

    // A symlink (to the file downloaded above) is not replaced by a file either.
    let link = h.path("link.jsonl");
    std::os::unix::fs::symlink(&out, &link).unwrap();
    let link_arg = link.to_str().unwrap();
    h.fails(
        &["download", "--job", &id, "--out", link_arg, "--force"],
        Token::Valid,
        4,
        &["is a symbolic link", "`--out -`"],
    );
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());

    // --help documents --force and the stream advice.
    let help = Command::new(env!("CARGO_BIN_EXE_xcomply"))
        .args(["download", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--force"), "{help}");
    assert!(help.contains("use --out - and redirect"), "{help}");

    h.assert_no_secrets();
}

/// The live flow: uploads and downloads go to byte paths on the API with the Bearer token, which
/// `--url` needs too; `--resumable` (at creation or upload) falls back to one PUT.
#[test]
fn byte_path_uploads_and_downloads_carry_the_bearer_token() {
    let h = Harness::new(Harness::live());
    let tweets_file = h.path("tweets.txt");
    let tweet_ids = write_ids(&tweets_file, SMALL_IDS, 11);
    let users_file = h.path("users.txt");
    write_ids(&users_file, SMALL_IDS, 12);

    let tweets = h.create("tweets", &[]);
    assert!(
        tweets
            .upload_url
            .expose()
            .starts_with(&format!("{}/2/compliance/jobs/", h.emulator.base_url())),
        "{}",
        tweets.upload_url
    );
    let tid = tweets.id.to_string();
    h.ok(&["upload", "--job", &tid, tweets_file.to_str().unwrap()]);
    assert_eq!(h.stored(&tweets), std::fs::read(&tweets_file).unwrap());
    let out = h.path("tweets.jsonl");
    h.ok(&[
        "download",
        "--job",
        &tid,
        "--wait",
        "--out",
        out.to_str().unwrap(),
    ]);
    let rates = OutcomeRates::default();
    let want: Vec<serde_json::Value> = tweet_ids
        .iter()
        .filter_map(|&id| outcome(SEED, Flow::BytePath, &JobType::Tweets, id, &rates))
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    let got: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            if v["redacted_at"].is_null() {
                v.as_object_mut().unwrap().remove("redacted_at");
            }
            v
        })
        .collect();
    assert_eq!(got, want);

    // A byte-path URL without a token is refused before any request (credentials, 5), and a
    // wrong token is refused by the API as a bearer problem (5), not as an expired URL.
    let url = h.get(&tid).download_url.expose().to_owned();
    h.fails(
        &["download", "--url", &url, "--out", "-"],
        Token::Unset,
        5,
        &["X_BEARER_TOKEN"],
    );
    h.other_tokens
        .borrow_mut()
        .push("wrong-token-7a7a7a".into());
    h.fails(
        &["download", "--url", &url, "--out", "-"],
        Token::Other("wrong-token-7a7a7a"),
        5,
        &["refused the bearer token"],
    );
    let run = h.run(&["download", "--url", &url, "--out", "-"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(run.stdout_text().lines().count(), want.len());

    // --resumable: the API refuses resumable jobs, so the job is created without it, and the
    // upload takes one PUT.
    let users = h.create("users", &["--resumable"]);
    assert_eq!(users.resumable, Some(false));
    let up = h.ok(&[
        "upload",
        "--job",
        &users.id.to_string(),
        "--resumable",
        users_file.to_str().unwrap(),
    ]);
    assert!(up.stderr.contains("no resumable mode"), "{}", up.describe());
    let stats = h.emulator.uploads_for(users.id.0);
    assert_eq!((stats.completed, stats.sessions), (1, 0), "{stats:?}");

    h.assert_no_secrets();
}
