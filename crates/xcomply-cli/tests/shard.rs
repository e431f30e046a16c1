//! `xcomply shard` end to end: the built binary on files and stdin, its output files, its errors
//! and exit codes.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn xcomply(args: &[&str], stdin: Option<&[u8]>, cwd: &std::path::Path) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xcomply"))
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the xcomply binary runs");
    let mut input = child.stdin.take().expect("piped stdin");
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn shards_files_and_stdin_into_sorted_unique_job_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("a.txt"), "\u{feff}30\r\n10\r\n\r\n 20 \n").unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"40\n10\n").unwrap();
    std::fs::write(dir.join("b.bin"), gz.finish().unwrap()).unwrap();
    let output = xcomply(
        &[
            "shard",
            "--type",
            "users",
            "--out",
            "shards",
            "--max-ids-per-job",
            "2",
            "--memory-limit",
            "1KiB",
            "a.txt",
            "b.bin",
            "-",
        ],
        Some(b"50\n20\n"),
        dir,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(dir.join("shards/users-00001.txt")).unwrap(),
        "10\n20\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("shards/users-00002.txt")).unwrap(),
        "30\n40\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("shards/users-00003.txt")).unwrap(),
        "50\n"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("shards/manifest.json")).unwrap()).unwrap();
    let users = &manifest["types"][0];
    assert_eq!(users["type"], "users");
    assert_eq!(users["totals"]["read"], 7);
    assert_eq!(users["totals"]["duplicates"], 2);
    assert_eq!(users["shards"][1]["min"], "30");
    assert_eq!(users["shards"][1]["bytes"], 6);
    assert!(
        stderr(&output).contains("wrote 3 shard(s) of 5 unique users ID(s)"),
        "{}",
        stderr(&output)
    );

    // The same directory again is refused with exit code 4; --force replaces it.
    let again = xcomply(
        &["shard", "--type", "users", "--out", "shards", "a.txt"],
        None,
        dir,
    );
    assert_eq!(again.status.code(), Some(4));
    assert_eq!(
        stderr(&again),
        "error: output directory shards already exists and is not empty (use --force to replace its shards)\n"
    );
    let forced = xcomply(
        &[
            "shard", "--type", "users", "--out", "shards", "--force", "-q", "a.txt",
        ],
        None,
        dir,
    );
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_eq!(
        std::fs::read_to_string(dir.join("shards/users-00001.txt")).unwrap(),
        "10\n20\n30\n"
    );
    assert!(!dir.join("shards/users-00002.txt").exists());
}

#[test]
fn an_invalid_line_stops_with_its_position_unless_lenient() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("ids.txt"), "1\n2\n3a\n4\n").unwrap();
    let output = xcomply(
        &["shard", "--type", "tweets", "--out", "out", "ids.txt"],
        None,
        dir,
    );
    assert_eq!(output.status.code(), Some(4));
    assert_eq!(
        stderr(&output),
        "error: ids.txt:3: expected a decimal ID, found `3a` (not a digit at byte 1)\n"
    );
    let output = xcomply(
        &[
            "shard",
            "--type",
            "tweets",
            "--out",
            "out2",
            "--lenient",
            "ids.txt",
        ],
        None,
        dir,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(dir.join("out2/tweets-00001.txt")).unwrap(),
        "1\n2\n4\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("out2/rejects.txt")).unwrap(),
        "ids.txt:3: expected a decimal ID, found `3a` (not a digit at byte 1)\n"
    );
}

#[test]
fn bad_sizes_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let output = xcomply(
        &[
            "shard",
            "--type",
            "tweets",
            "--out",
            "out",
            "--memory-limit",
            "lots",
            "-",
        ],
        None,
        tmp.path(),
    );
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "error: expected a size such as `512MiB` or `2GiB`, found `lots`\n"
    );
    let output = xcomply(
        &[
            "shard",
            "--type",
            "tweets",
            "--out",
            "out",
            "--max-ids-per-job",
            "0",
            "-",
        ],
        None,
        tmp.path(),
    );
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "error: expected --max-ids-per-job of at least 1, found `0`\n"
    );
}
