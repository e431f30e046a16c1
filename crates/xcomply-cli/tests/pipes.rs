//! Closed pipes never make xcomply panic (exit 101): a closed stdout is a normal way to stop
//! reading (`xcomply … | head`), and a closed stderr only loses messages.

use std::process::{Command, Stdio};

/// Runs xcomply with stdout or stderr connected to a pipe whose reading end is already closed.
fn run_with_closed(stream: &str, args: &[&str]) -> std::process::ExitStatus {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xcomply"));
    cmd.args(args).stdin(Stdio::null());
    match stream {
        "stdout" => cmd.stdout(Stdio::piped()).stderr(Stdio::null()),
        _ => cmd.stderr(Stdio::piped()).stdout(Stdio::null()),
    };
    let mut child = cmd.spawn().expect("spawn xcomply");
    // Dropping our end closes the pipe before the child writes to it.
    drop(child.stdout.take());
    drop(child.stderr.take());
    child.wait().expect("wait for xcomply")
}

#[test]
fn commands_that_report_on_stderr_survive_a_closed_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let ids = dir.path().join("ids.txt");
    std::fs::write(&ids, "3\n1\n2\n1\n").unwrap();
    let out = dir.path().join("shards");
    let status = run_with_closed(
        "stderr",
        &[
            "shard",
            "--type",
            "tweets",
            "--out",
            out.to_str().unwrap(),
            ids.to_str().unwrap(),
        ],
    );
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert_eq!(
        std::fs::read_to_string(out.join("tweets-00001.txt")).unwrap(),
        "1\n2\n3\n"
    );
}

#[test]
fn commands_that_print_on_stdout_survive_a_closed_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("r.jsonl");
    std::fs::write(
        &jsonl,
        "{\"id\":\"1\",\"action\":\"delete\",\"created_at\":\"2019-10-29T17:02:47.000Z\",\"reason\":\"deleted\"}\n",
    )
    .unwrap();
    let out = dir.path().join("r.parquet");
    let status = run_with_closed(
        "stdout",
        &[
            "decode",
            jsonl.to_str().unwrap(),
            "--type",
            "tweets",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(out.exists());
}
