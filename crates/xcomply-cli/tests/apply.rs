//! `xcomply apply` end to end: a manifest from `xcomply join` turned into a compliant copy.

use std::path::Path;
use std::process::{Command, Output};

use xcomply_sink::apply::ApplySummary;
use xcomply_sink::join::read_manifest;
use xcomply_sink::synth::{self, DatasetSpec};

fn xcomply(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xcomply"))
        .args(args)
        .output()
        .expect("run xcomply")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn copy_without_flagged_rows_and_refuses_a_non_empty_output() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = DatasetSpec {
        files: 2,
        rows_per_file: 3_000,
        row_group_rows: 500,
        authors: 200,
        ..DatasetSpec::default()
    };
    let data = tmp.path().join("data");
    synth::generate_dataset(&data, &spec).unwrap();
    synth::write_results(
        &tmp.path().join("results"),
        &synth::flag_sample(&spec, 0.05, 0.02),
    )
    .unwrap();
    let m = tmp.path().join("m");
    let o = xcomply(&[
        "join",
        "--dataset",
        s(&data),
        "--results",
        s(&tmp.path().join("results")),
        "--out",
        s(&m),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let manifest = read_manifest(&m).unwrap();
    let count = |action: &str| manifest.iter().filter(|r| r.action == action).count() as u64;
    let (deletes, scrubs, edits) = (count("delete"), count("scrub_geo"), count("rehydrate"));
    assert!(scrubs > 0 && edits > 0);
    assert_eq!(deletes + scrubs + edits, manifest.len() as u64);

    let out = tmp.path().join("copy");
    let o = xcomply(&[
        "apply",
        "--manifest",
        s(&m),
        "--dataset",
        s(&data),
        "--out",
        s(&out),
        "--geo-columns",
        "geo_lat,geo_lon,place_id",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: ApplySummary = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        summary,
        ApplySummary {
            files: 2,
            files_rewritten: 2,
            rows_in: 6_000,
            rows_out: 6_000 - deletes,
            rows_deleted: deletes,
            rows_scrubbed: scrubs,
            rows_to_rehydrate: edits,
            rows_scrub_geo_kept: 0,
        }
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains(&format!("{edits} rows of edited posts kept unchanged"))
            && stderr.contains(s(&m.join("rehydrate-ids.txt"))),
        "{stderr}"
    );
    for rel in [spec.file_path(0), spec.file_path(1)] {
        assert!(out.join(&rel).is_file(), "{}", rel.display());
    }

    // Joining the copy against the same results finds only the scrubbed and the edited rows
    // (both stay), and no row to delete.
    let m2 = tmp.path().join("m2");
    let o = xcomply(&[
        "join",
        "--dataset",
        s(&out),
        "--results",
        s(&tmp.path().join("results")),
        "--out",
        s(&m2),
    ]);
    assert!(o.status.success());
    let again = read_manifest(&m2).unwrap();
    assert_eq!(again.len() as u64, scrubs + edits);
    assert!(again.iter().all(|r| r.action != "delete"));

    // A dataset without location data says so: its scrub_geo rows are kept as they are.
    let o = xcomply(&[
        "apply",
        "--manifest",
        s(&m),
        "--dataset",
        s(&data),
        "--out",
        s(&tmp.path().join("c-none")),
        "--geo-columns",
        "none",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: ApplySummary = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (
            summary.rows_deleted,
            summary.rows_scrubbed,
            summary.rows_scrub_geo_kept
        ),
        (deletes, 0, scrubs)
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains(&format!("{scrubs} scrub_geo rows kept"))
            && stderr.contains("--geo-columns none"),
        "{stderr}"
    );
    // `none` beside column names is a usage error.
    let o = xcomply(&[
        "apply",
        "--manifest",
        s(&m),
        "--dataset",
        s(&data),
        "--out",
        s(&tmp.path().join("c-mixed")),
        "--geo-columns",
        "geo_lat,none",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("either the geo columns or none"));
    assert!(!tmp.path().join("c-mixed").exists());

    let o = xcomply(&[
        "apply",
        "--manifest",
        s(&m),
        "--dataset",
        s(&data),
        "--out",
        s(&out),
        "--geo-columns",
        "geo_lat",
    ]);
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not empty"));
    let o = xcomply(&[
        "apply",
        "--manifest",
        s(&m),
        "--dataset",
        s(&data),
        "--out",
        s(&tmp.path().join("c2")),
    ]);
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--geo-columns"));
    // A copy inside the dataset would sit beside the rows it replaces.
    let inside = data.join("compliant");
    let o = xcomply(&[
        "apply",
        "--manifest",
        s(&m),
        "--dataset",
        s(&data),
        "--out",
        s(&inside),
        "--geo-columns",
        "geo_lat,geo_lon,place_id",
    ]);
    assert_eq!(o.status.code(), Some(4));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("inside the dataset"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!inside.exists());
}

/// `xcomply` run in `dir`.
fn xcomply_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xcomply"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run xcomply")
}

#[test]
fn the_dataset_may_be_spelled_differently_than_for_the_join() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = DatasetSpec {
        files: 2,
        rows_per_file: 1_000,
        row_group_rows: 250,
        authors: 100,
        ..DatasetSpec::default()
    };
    synth::generate_dataset(&tmp.path().join("ds"), &spec).unwrap();
    synth::write_results(
        &tmp.path().join("results"),
        &synth::flag_sample(&spec, 0.05, 0.0),
    )
    .unwrap();
    let o = xcomply_in(
        tmp.path(),
        &[
            "join",
            "--dataset",
            "ds",
            "--results",
            "results",
            "--out",
            "m",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let absolute = tmp.path().join("ds");
    for (i, spelling) in ["./ds", "ds/", s(&absolute)].into_iter().enumerate() {
        let out = format!("copy{i}");
        let o = xcomply_in(
            tmp.path(),
            &[
                "apply",
                "--manifest",
                "m",
                "--dataset",
                spelling,
                "--out",
                &out,
                "--geo-columns",
                "geo_lat,geo_lon,place_id",
            ],
        );
        assert!(
            o.status.success(),
            "{spelling}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let summary: ApplySummary = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(summary.files, 2);
        assert!(summary.rows_deleted > 0);
    }
    // From another directory the relative paths the join recorded name other files: refused,
    // saying why.
    let sub = tmp.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let o = xcomply_in(
        &sub,
        &[
            "apply",
            "--manifest",
            "../m",
            "--dataset",
            "../ds",
            "--out",
            "copy",
            "--geo-columns",
            "geo_lat",
        ],
    );
    assert_eq!(o.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("was not part of the join")
            && stderr.contains("the join recorded the same file name")
            && stderr.contains("working directory differs"),
        "{stderr}"
    );
    assert!(!sub.join("copy").exists());
}
