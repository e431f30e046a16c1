//! `xcomply demo`: generates a dataset, runs the whole pipeline against an in-process emulator
//! with several jobs per type, and prints a summary and how to look at the manifest; a second
//! run finds everything done.

use std::process::Command;

fn demo(out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xcomply"))
        .arg("demo")
        .arg("--out")
        .arg(out)
        .args(extra)
        .env_remove("X_BEARER_TOKEN")
        .output()
        .expect("run xcomply demo")
}

#[test]
fn demo_runs_several_jobs_per_type_and_resumes_to_the_same_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("demo");
    let first = demo(&out, &["--json"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let types = summary["types"].as_array().unwrap();
    assert_eq!(types.len(), 2);
    for t in types {
        assert!(t["shards"].as_u64().unwrap() >= 2, "{t}");
        assert_eq!(t["done"], t["shards"]);
        assert_eq!(t["jobs_created"], t["shards"]);
        assert!(t["results_rows"].as_u64().unwrap() > 0, "{t}");
    }
    assert!(summary["joined"]["rows"].as_u64().unwrap() > 0, "{summary}");
    assert_eq!(summary["joined"]["rows_scanned"], 40_000);
    let manifest = out.join("run/manifests/manifest.parquet");
    let bytes = std::fs::read(&manifest).unwrap();

    let second = demo(&out, &[]);
    assert!(second.status.success());
    let text = String::from_utf8(second.stdout).unwrap();
    assert!(text.contains("(0 jobs this run)"), "{text}");
    // No duckdb command-line tool is assumed: the query is printed as SQL and as Python.
    assert!(!text.contains("duckdb -c"), "{text}");
    assert!(text.contains("pip install duckdb"), "{text}");
    assert!(text.contains(&manifest.display().to_string()), "{text}");
    assert!(
        std::fs::read(&manifest).unwrap() == bytes,
        "the manifest changed"
    );
    let python = text
        .lines()
        .find(|l| l.trim_start().starts_with("python3 -c \"import duckdb"))
        .unwrap_or_else(|| panic!("no Python line: {text}"));
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("SELECT action") && l.ends_with(';')),
        "{text}"
    );
    // Where the project's Python environment exists (scripts/pyenv), the printed line runs.
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    if venv.exists() {
        let line = python
            .trim_start()
            .replacen("python3", &venv.display().to_string(), 1);
        let run = Command::new("sh").arg("-c").arg(&line).output().unwrap();
        let shown = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(shown.contains("delete"), "{shown}");
    }
}

#[test]
fn the_default_demo_directory_is_in_the_temporary_directory_not_the_working_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (cwd, private_tmp) = (tmp.path().join("checkout"), tmp.path().join("tmp"));
    std::fs::create_dir(&cwd).unwrap();
    std::fs::create_dir(&private_tmp).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_xcomply"))
        .args(["demo", "--json"])
        .current_dir(&cwd)
        .env("TMPDIR", &private_tmp)
        .env_remove("X_BEARER_TOKEN")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        std::fs::read_dir(&cwd).unwrap().count(),
        0,
        "the demo wrote into the working directory"
    );
    assert!(
        private_tmp
            .join("xcomply-demo/run/manifests/manifest.parquet")
            .exists()
    );
    // Only the demo's own directory is left: the in-process emulator removed its data.
    let left: Vec<_> = std::fs::read_dir(&private_tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["xcomply-demo"]);
    let help = Command::new(env!("CARGO_BIN_EXE_xcomply"))
        .args(["demo", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("Exit codes:") && help.contains("130"),
        "{help}"
    );
}

#[test]
fn a_directory_that_is_not_an_earlier_demo_is_refused_and_left_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let listing = |dir: &std::path::Path| {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    // A user's directory with their own data.
    let mine = tmp.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("posts.parquet"), b"my data").unwrap();
    let output = demo(&mine, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains(&format!("--out `{}` is not empty", mine.display())),
        "{stderr}"
    );
    assert!(stderr.contains("posts.parquet"), "{stderr}");
    assert_eq!(listing(&mine), ["posts.parquet"]);

    // A `dataset` directory that demo did not generate is not taken for the demo's data.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(other.join("dataset")).unwrap();
    std::fs::write(other.join("dataset/2024.parquet"), b"my data").unwrap();
    let output = demo(&other, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("dataset/2024.parquet"), "{stderr}");
    assert_eq!(listing(&other), ["dataset"]);
    assert_eq!(listing(&other.join("dataset")), ["2024.parquet"]);

    // An empty directory is fine.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let output = demo(&empty, &["--json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(listing(&empty), ["dataset", "run"]);
}
