//! `xcomply decode` end to end: plain, gzip and zstd input from a file or stdin, strict errors
//! with exit code 4, lenient rejects next to the output, the live API's results with their error
//! records kept in an errors file.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use xcomply_sink::results::{ResultRow, read_rows};

const TWEETS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/results/docs-tweets.jsonl"
);
const USERS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/results/docs-users.jsonl"
);
const LIVE_TWEETS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/results/x-2026-tweets.jsonl"
);
const MESSY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/jsonl/messy.jsonl"
);
const BAD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/jsonl/bad-id.jsonl"
);

fn xcomply(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xcomply"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run xcomply");
    let mut pipe = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        pipe.write_all(bytes).unwrap();
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn decode(input: &str, job_type: &str, out: &Path, extra: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut args = vec![
        "decode",
        input,
        "--type",
        job_type,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    xcomply(&args, stdin)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_results_file_becomes_parquet_with_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tweets.parquet");
    let run = decode(
        TWEETS,
        "tweets",
        &out,
        &["--job-id", "1446017776678801409"],
        None,
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    let stdout = text(&run.stdout);
    assert!(stdout.contains("4 rows"), "{stdout}");
    assert!(
        stdout.contains("4 records, 0 blank lines, 0 duplicate IDs"),
        "{stdout}"
    );
    let rows = read_rows(&out).unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(
        rows[3],
        ResultRow {
            id: 906_972_198_136_631_298,
            action: "delete".into(),
            reason: "deleted".into(),
            created_at: 1_505_073_997_421,
            redacted_at: Some(1_595_374_675_607),
            job_id: Some(1_446_017_776_678_801_409),
            job_type: "tweets".into(),
        }
    );
}

#[test]
fn gzip_and_zstd_on_stdin_are_detected() {
    let plain = std::fs::read(MESSY).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(plain.as_slice(), 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    for (name, bytes) in [("plain", &plain), ("gzip", &gz), ("zstd", &zst)] {
        let out = dir.path().join(format!("{name}.parquet"));
        let run = decode("-", "users", &out, &[], Some(bytes));
        assert!(run.status.success(), "{name}: {}", text(&run.stderr));
        let rows = read_rows(&out).unwrap();
        assert!(
            rows.iter()
                .all(|r| r.job_type == "users" && r.job_id.is_none())
        );
        all.push(rows);
    }
    assert_eq!(all[0].len(), 4);
    assert_eq!(all[0], all[1]);
    assert_eq!(all[0], all[2]);
    // The messy fixture has a BOM, CRLF, blank lines, an unknown reason, a duplicate ID and a last
    // line without newline.
    assert_eq!(all[0][0].id, 2_244_994_945);
    assert_eq!(all[0][2].reason, "memorialized");
}

#[test]
fn a_bad_line_fails_with_its_position_and_exit_code_4() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.parquet");
    let run = decode(BAD, "tweets", &out, &[], None);
    assert_eq!(run.status.code(), Some(4), "{}", text(&run.stderr));
    let stderr = text(&run.stderr);
    assert!(stderr.contains("bad-id.jsonl"), "{stderr}");
    assert!(stderr.contains("line 2 (byte offset 147)"), "{stderr}");
    assert!(
        stderr.contains("expected a decimal ID, found `12O4`"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("12O4").count(),
        1,
        "the cause is printed once: {stderr}"
    );
    assert!(!out.exists(), "no output after a failed decode");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn lenient_mode_writes_rejects_next_to_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.parquet");
    let run = decode(BAD, "tweets", &out, &["--lenient"], None);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let stdout = text(&run.stdout);
    let rejects = dir.path().join("r.rejects.jsonl");
    assert!(
        stdout.contains(&format!("rejected 1 line: {}", rejects.display())),
        "{stdout}"
    );
    assert_eq!(read_rows(&out).unwrap().len(), 2);
    let line: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&rejects).unwrap().trim()).unwrap();
    assert_eq!(line["line"], 2);
    assert!(line["raw"].as_str().unwrap().contains("12O4"));
}

#[test]
fn a_truncated_gzip_download_is_an_input_error() {
    let plain = std::fs::read(MESSY).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.parquet");
    let run = decode("-", "users", &out, &[], Some(&gz[..gz.len() / 2]));
    assert_eq!(run.status.code(), Some(4), "{}", text(&run.stderr));
    let stderr = text(&run.stderr);
    assert!(
        stderr.contains("decoding <stdin>: reading the results input: "),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn users_results_and_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("u.parquet");
    let run = decode(USERS, "users", &out, &[], None);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(read_rows(&out).unwrap()[0].created_at, 1_364_265_975_000);

    let run = decode(USERS, "users", &out, &["--job-id", "12x"], None);
    assert_eq!(run.status.code(), Some(2));
    assert!(text(&run.stderr).contains("--job-id: expected a decimal ID, found `12x`"));

    let run = decode("/nonexistent/results.jsonl", "users", &out, &[], None);
    assert_eq!(run.status.code(), Some(4));
    assert!(text(&run.stderr).contains("cannot open results file `/nonexistent/results.jsonl`"));
}

#[test]
fn input_that_is_not_json_lines_is_named_for_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    // A results Parquet file, given back to decode.
    let parquet = dir.path().join("r.parquet");
    let run = decode(TWEETS, "tweets", &parquet, &[], None);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let out = dir.path().join("again.parquet");
    let run = decode(parquet.to_str().unwrap(), "tweets", &out, &[], None);
    assert_eq!(run.status.code(), Some(4), "{}", text(&run.stderr));
    let stderr = text(&run.stderr);
    assert!(
        stderr.contains(&format!(
            "{} looks like a Parquet file, expected JSON Lines results",
            parquet.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("truncated"), "{stderr}");
    assert!(!out.exists());
    // The same on stdin, in lenient mode too, and an HTML error page.
    let bytes = std::fs::read(&parquet).unwrap();
    let run = decode("-", "tweets", &out, &["--lenient"], Some(&bytes));
    assert_eq!(run.status.code(), Some(4));
    assert!(
        text(&run.stderr).contains("<stdin> looks like a Parquet file"),
        "{}",
        text(&run.stderr)
    );
    let page = b"\n<!DOCTYPE html><html><body>AccessDenied</body></html>\n";
    let run = decode("-", "tweets", &out, &[], Some(page));
    assert_eq!(run.status.code(), Some(4));
    assert!(
        text(&run.stderr).contains("<stdin> looks like an HTML or XML page"),
        "{}",
        text(&run.stderr)
    );
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn an_existing_output_is_replaced_only_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("u.parquet");
    std::fs::write(&out, b"precious").unwrap();
    let run = decode(USERS, "users", &out, &[], None);
    assert_eq!(run.status.code(), Some(4), "{}", text(&run.stderr));
    let stderr = text(&run.stderr);
    assert!(
        stderr.contains(&format!("--out `{}` already exists", out.display()))
            && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    let run = decode(USERS, "users", &out, &["--force"], None);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(read_rows(&out).unwrap()[0].created_at, 1_364_265_975_000);
}

#[test]
fn an_output_that_is_the_input_is_refused_even_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(TWEETS).unwrap();

    // --out is the input, by the same name and by a hard link.
    let input = dir.path().join("a.jsonl");
    std::fs::write(&input, &original).unwrap();
    let link = dir.path().join("b.parquet");
    std::fs::hard_link(&input, &link).unwrap();
    for out in [&input, &link] {
        let run = decode(input.to_str().unwrap(), "tweets", out, &["--force"], None);
        let stderr = text(&run.stderr);
        assert_eq!(run.status.code(), Some(4), "{stderr}");
        assert!(
            stderr.contains(&format!("--out `{}` is the input file", out.display())),
            "{stderr}"
        );
        assert_eq!(std::fs::read(&input).unwrap(), original);
    }

    // The input arrives on stdin, redirected from the file named by --out.
    let run = Command::new(env!("CARGO_BIN_EXE_xcomply"))
        .args(["decode", "-", "--type", "tweets", "--force", "--out"])
        .arg(&input)
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(4), "{}", text(&run.stderr));
    assert_eq!(std::fs::read(&input).unwrap(), original);

    // The rejects file of --out is the input.
    let rejects_input = dir.path().join("r.rejects.jsonl");
    std::fs::write(&rejects_input, &original).unwrap();
    let out = dir.path().join("r.parquet");
    for extra in [&["--lenient"][..], &["--lenient", "--force"]] {
        let run = decode(rejects_input.to_str().unwrap(), "tweets", &out, extra, None);
        let stderr = text(&run.stderr);
        assert_eq!(run.status.code(), Some(4), "{extra:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "the rejects file `{}` (of --out `{}`) is the input file",
                rejects_input.display(),
                out.display()
            )),
            "{stderr}"
        );
        assert_eq!(std::fs::read(&rejects_input).unwrap(), original);
        assert!(!out.exists());
    }
}

#[test]
fn an_existing_rejects_file_is_replaced_only_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.parquet");
    let rejects = dir.path().join("r.rejects.jsonl");
    std::fs::write(&rejects, b"precious").unwrap();
    let run = decode(BAD, "tweets", &out, &["--lenient"], None);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the rejects file `{}` (of --out `{}`) already exists",
            rejects.display(),
            out.display()
        )) && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&rejects).unwrap(), b"precious");
    assert!(!out.exists());
    // Without --lenient no rejects file is written, so an existing one is no obstacle.
    let strict = decode(TWEETS, "tweets", &out, &[], None);
    assert!(strict.status.success(), "{}", text(&strict.stderr));
    assert_eq!(std::fs::read(&rejects).unwrap(), b"precious");
    std::fs::remove_file(&out).unwrap();
    let run = decode(BAD, "tweets", &out, &["--lenient", "--force"], None);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(std::fs::read_to_string(&rejects).unwrap().contains("12O4"));
}

/// The error-record line of the human summary.
fn error_records_line(stdout: &str) -> &str {
    stdout
        .lines()
        .find(|l| l.starts_with("error records (input lines X could not check): "))
        .unwrap_or_else(|| panic!("no error records line: {stdout}"))
}

#[test]
fn live_results_decode_strictly_and_their_error_records_are_counted_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tweets.parquet");
    let run = decode(LIVE_TWEETS, "tweets", &out, &[], None);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let stdout = text(&run.stdout);
    let errors = dir.path().join("tweets.errors.jsonl");
    assert_eq!(
        error_records_line(&stdout),
        format!(
            "error records (input lines X could not check): 1, written to {}",
            errors.display()
        )
    );
    assert!(stdout.contains("8 lines, 7 records"), "{stdout}");
    assert!(
        stdout.contains("unknown values kept: 0 actions, 0 reasons"),
        "{stdout}"
    );
    let kept: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&errors).unwrap().trim()).unwrap();
    assert_eq!(
        kept,
        serde_json::json!({"id": "not_a_valid_id", "error": "invalid_id"})
    );
    let rows = read_rows(&out).unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "delete",
            "delete",
            "delete",
            "delete",
            "rehydrate",
            "scrub_geo",
            "scrub_geo"
        ]
    );
    assert_eq!(rows[4].reason, "tweet_edited");
    assert_eq!(rows[6].redacted_at, None, "`redacted_at: null`");
    assert_eq!(rows[0].redacted_at, Some(1_596_042_167_000));
}

#[test]
fn the_json_summary_counts_error_records() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tweets.parquet");
    let errors = dir.path().join("unchecked.jsonl");
    let run = decode(
        LIVE_TWEETS,
        "tweets",
        &out,
        &["--json", "--errors", errors.to_str().unwrap()],
        None,
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(summary["error_records"], 1);
    assert_eq!(summary["errors"], errors.to_str().unwrap());
    assert_eq!(summary["records"], 7);
    assert_eq!(summary["rejected"], 0);
    assert_eq!(summary["rejects"], serde_json::Value::Null);
    assert_eq!(summary["results"]["rows"], 7);
    assert_eq!(summary["results"]["path"], out.to_str().unwrap());
    assert!(
        std::fs::read_to_string(&errors)
            .unwrap()
            .contains("not_a_valid_id")
    );
    assert!(!dir.path().join("tweets.errors.jsonl").exists());

    // Results without error records: zero, and no errors file.
    let out = dir.path().join("old.parquet");
    let run = decode(TWEETS, "tweets", &out, &["--json"], None);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(summary["error_records"], 0);
    assert_eq!(summary["errors"], serde_json::Value::Null);
    assert!(!dir.path().join("old.errors.jsonl").exists());
    let run = decode(TWEETS, "tweets", &dir.path().join("h.parquet"), &[], None);
    assert_eq!(
        error_records_line(&text(&run.stdout)),
        "error records (input lines X could not check): 0"
    );
}

#[test]
fn an_existing_errors_file_is_replaced_only_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.parquet");
    let errors = dir.path().join("r.errors.jsonl");
    std::fs::write(&errors, b"precious").unwrap();
    let run = decode(LIVE_TWEETS, "tweets", &out, &[], None);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the errors file `{}` already exists",
            errors.display()
        )) && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&errors).unwrap(), b"precious");
    assert!(!out.exists());
    // With --force, results without error records leave an empty file, not a stale one.
    let run = decode(TWEETS, "tweets", &out, &["--force"], None);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(std::fs::read(&errors).unwrap(), b"");
    assert!(
        error_records_line(&text(&run.stdout))
            .ends_with(&format!(": 0, written to {}", errors.display()))
    );
}

#[test]
fn an_errors_file_that_is_the_input_or_another_output_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(LIVE_TWEETS).unwrap();
    let input = dir.path().join("live.jsonl");
    std::fs::write(&input, &original).unwrap();
    let out = dir.path().join("r.parquet");
    let run = decode(
        input.to_str().unwrap(),
        "tweets",
        &out,
        &["--force", "--errors", input.to_str().unwrap()],
        None,
    );
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the errors file `{}` is the input file",
            input.display()
        )),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&input).unwrap(), original);

    let run = decode(
        input.to_str().unwrap(),
        "tweets",
        &out,
        &["--errors", out.to_str().unwrap()],
        None,
    );
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the errors file `{}` is also --out `{}`",
            out.display(),
            out.display()
        )),
        "{stderr}"
    );
    let rejects = dir.path().join("r.rejects.jsonl");
    let run = decode(
        input.to_str().unwrap(),
        "tweets",
        &out,
        &["--lenient", "--errors", rejects.to_str().unwrap()],
        None,
    );
    assert_eq!(run.status.code(), Some(2), "{}", text(&run.stderr));
    assert!(text(&run.stderr).contains("is also the rejects file"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
