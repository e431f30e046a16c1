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
    assert!(text.contains("duckdb -c"), "{text}");
    assert!(text.contains(&manifest.display().to_string()), "{text}");
    assert!(
        std::fs::read(&manifest).unwrap() == bytes,
        "the manifest changed"
    );
}
