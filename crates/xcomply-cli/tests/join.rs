//! `xcomply join` end to end: a generated dataset and results in, a manifest and summary out.

use std::path::Path;
use std::process::{Command, Output};

use xcomply_sink::join::{JoinSummary, read_manifest};
use xcomply_sink::synth::{self, DatasetSpec, IdColumnType};

fn xcomply(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xcomply"))
        .args(args)
        .output()
        .expect("run xcomply")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `xcomply join --dataset DATASET --results RESULTS --out OUT EXTRA...`.
fn join(dataset: &Path, results: &Path, out: &Path, extra: &[&str]) -> Output {
    let args = [
        "join",
        "--dataset",
        s(dataset),
        "--results",
        s(results),
        "--out",
        s(out),
    ];
    xcomply(&[&args[..], extra].concat())
}

fn setup(dir: &Path, spec: &DatasetSpec) -> synth::DatasetInfo {
    let info = synth::generate_dataset(&dir.join("data"), spec).unwrap();
    synth::write_results(&dir.join("results"), &synth::flag_sample(spec, 0.03, 0.02)).unwrap();
    info
}

fn spec() -> DatasetSpec {
    DatasetSpec {
        files: 3,
        rows_per_file: 2_000,
        row_group_rows: 400,
        authors: 300,
        ..DatasetSpec::default()
    }
}

#[test]
fn writes_a_sorted_manifest_and_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = DatasetSpec {
        id_type: IdColumnType::Decimal,
        ..spec()
    };
    setup(tmp.path(), &spec);
    let out = tmp.path().join("m");
    let (data, results) = (tmp.path().join("data"), tmp.path().join("results"));
    let o = join(&data, &results, &out, &["--threads", "2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("joined 3 files, 6000 rows"), "{stderr}");
    let rows = read_manifest(&out).unwrap();
    let count = |action: &str| rows.iter().filter(|r| r.action == action).count() as u64;
    let (deletes, edits, scrubs) = (count("delete"), count("rehydrate"), count("scrub_geo"));
    assert!(
        stderr.contains(&format!(
            "({deletes} delete, {edits} rehydrate, {scrubs} scrub_geo)"
        )),
        "{stderr}"
    );
    let mut ids: Vec<i64> = rows
        .iter()
        .filter(|r| r.action == "rehydrate")
        .map(|r| r.id.unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert!(!ids.is_empty());
    let text = std::fs::read_to_string(out.join("rehydrate-ids.txt")).unwrap();
    let listed: Vec<i64> = text.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(listed, ids);
    assert!(text.ends_with('\n'));
    assert!(
        stderr.contains(&format!("{} IDs of edited posts to fetch again", ids.len())),
        "{stderr}"
    );
    assert!(!rows.is_empty());
    assert!(
        rows.windows(2)
            .all(|w| (&w[0].file_path, w[0].pos) < (&w[1].file_path, w[1].pos)),
        "sorted by (file_path, pos)"
    );
    assert!(
        rows.iter()
            .all(|r| r.file_path.starts_with(s(&tmp.path().join("data"))))
    );
    let summary: JoinSummary =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary.manifest_rows, rows.len() as u64);
    assert_eq!(
        (
            summary.delete_rows,
            summary.rehydrate_rows,
            summary.scrub_geo_rows
        ),
        (deletes, edits, scrubs)
    );
    assert_eq!(summary.actions.values().sum::<u64>(), rows.len() as u64);
    assert_eq!(summary.rehydrate_ids, ids.len() as u64);
    assert_eq!(summary.rows, 6_000);
    assert_eq!(summary.files.len(), 3);
    assert!(summary.user_reasons.values().sum::<u64>() > 0);

    // The same command again gives the same bytes.
    let first = std::fs::read(out.join("manifest.parquet")).unwrap();
    let o = join(&data, &results, &out, &["--threads", "1"]);
    assert!(o.status.success());
    assert_eq!(first, std::fs::read(out.join("manifest.parquet")).unwrap());
}

#[test]
fn unreadable_file_is_an_error_or_skipped_with_lenient() {
    let tmp = tempfile::tempdir().unwrap();
    let info = setup(tmp.path(), &spec());
    let (data, results) = (tmp.path().join("data"), tmp.path().join("results"));
    std::fs::write(&info.files[2], b"PAR1 garbage").unwrap();
    let out = tmp.path().join("m");
    let o = join(&data, &results, &out, &[]);
    assert_eq!(o.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains(s(&info.files[2])), "{stderr}");
    assert!(!out.join("manifest.parquet").exists());
    let o = join(&data, &results, &out, &["--lenient"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: JoinSummary =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary.skipped_files.len(), 1);
    assert_eq!(summary.skipped_files[0].path, s(&info.files[2]));

    // The skipped file was never checked, so apply refuses to copy it into a compliant copy.
    let copy = tmp.path().join("copy");
    let o = xcomply(&[
        "apply",
        "--manifest",
        s(&out),
        "--dataset",
        s(&data),
        "--out",
        s(&copy),
        "--geo-columns",
        "geo_lat,geo_lon,place_id",
    ]);
    assert_eq!(o.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("skipped as unreadable") && stderr.contains(s(&info.files[2])),
        "{stderr}"
    );
    assert!(!copy.exists());
}

#[test]
fn glob_and_custom_columns() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path(), &spec());
    let pattern = tmp.path().join("data").join("date=*").join("*.parquet");
    let out = tmp.path().join("m");
    let results = tmp.path().join("results");
    let o = join(&pattern, &results, &out, &["--user-id-column", "user"]);
    assert_eq!(o.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("column `user` not found"), "{stderr}");
    let o = join(&pattern, &results, &out, &["--tweet-id-column", "id"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!read_manifest(&out).unwrap().is_empty());
}

#[test]
fn a_results_directory_without_results_files_fails_with_exit_code_4() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path(), &spec());
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    // The run directory instead of its results/ subdirectory.
    let run = tmp.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::rename(tmp.path().join("results"), run.join("results")).unwrap();
    for dir in [&empty, &run] {
        let out = tmp.path().join("m");
        let o = join(&tmp.path().join("data"), dir, &out, &[]);
        assert_eq!(o.status.code(), Some(4));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            stderr.contains(s(dir))
                && stderr.contains("no results files found")
                && stderr.contains("*.parquet"),
            "{stderr}"
        );
        // The run directory's results/ is named as the directory to pass.
        assert_eq!(
            stderr.contains(&format!(
                "Parquet files are in its subdirectory {}",
                run.join("results").display()
            )),
            dir == &run,
            "{stderr}"
        );
        assert!(!out.join("manifest.parquet").exists());
    }
}

#[test]
fn results_in_subdirectories_are_named_in_a_warning_and_the_summary() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path(), &spec());
    // Last month's results filed in a subdirectory beside this month's.
    let results = tmp.path().join("results");
    let older = results.join("2026-10");
    synth::write_results(&older, &synth::Flags::default()).unwrap();
    let out = tmp.path().join("m");
    let o = join(&tmp.path().join("data"), &results, &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains(&format!(
            "warning: not read: Parquet files in 1 subdirectory of {}: {}",
            results.display(),
            older.display()
        )),
        "{stderr}"
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        summary["ignored_results_dirs"],
        serde_json::json!([older.display().to_string()])
    );
}

#[test]
fn an_output_inside_the_dataset_or_among_other_files_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path(), &spec());
    let (data, results) = (tmp.path().join("data"), tmp.path().join("results"));
    let join = |out: &Path, extra: &[&str]| join(&data, &results, out, extra);
    // The dataset itself, and a directory inside it.
    for out in [data.clone(), data.join("m")] {
        let o = join(&out, &[]);
        assert_eq!(o.status.code(), Some(4));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains("is inside the dataset input"), "{stderr}");
        assert!(!out.join("manifest.parquet").exists());
    }
    // A directory holding other files needs --force, which keeps them.
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("report.csv"), b"keep").unwrap();
    let o = join(&other, &[]);
    assert_eq!(o.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("not a previous manifest directory")
            && stderr.contains("report.csv")
            && stderr.contains("--force"),
        "{stderr}"
    );
    let o = join(&other, &["--force"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(other.join("report.csv")).unwrap(), b"keep");
    // A previous manifest directory is replaced without --force.
    let o = join(&other.join("..").join("m"), &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = join(&tmp.path().join("m"), &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // A manifest that ended up inside the dataset (an older version allowed it) is not data.
    let stray = data.join("old-manifest");
    std::fs::create_dir(&stray).unwrap();
    for f in ["manifest.parquet", "summary.json"] {
        std::fs::copy(tmp.path().join("m").join(f), stray.join(f)).unwrap();
    }
    let o = join(&tmp.path().join("m"), &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("joined 3 files"), "{stderr}");
}

/// Copies the dataset's files into `to`, keeping their partition directories and renaming each
/// file as Hive does (`000000_0`, `000001_0`, …), without the `.parquet` extension.
fn hive_copy(files: &[std::path::PathBuf], from: &Path, to: &Path) {
    for (i, f) in files.iter().enumerate() {
        let rel = f.strip_prefix(from).unwrap();
        let dir = to.join(rel.parent().unwrap());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(f, dir.join(format!("{i:06}_0"))).unwrap();
    }
}

/// The manifest's rows without their file names: (pos, id, author, action) in order.
fn rows_without_names(out: &Path) -> Vec<(i64, Option<i64>, Option<i64>, String)> {
    read_manifest(out)
        .unwrap()
        .into_iter()
        .map(|r| (r.pos, r.id, r.author_id, r.action))
        .collect()
}

/// A Hive-style table whose files have no `.parquet` extension gives the same manifest as the
/// same files named `.parquet` (the files are found by their magic bytes).
#[test]
fn files_without_the_parquet_extension_are_found_by_their_content() {
    let tmp = tempfile::tempdir().unwrap();
    let info = setup(tmp.path(), &spec());
    let (data, results) = (tmp.path().join("data"), tmp.path().join("results"));
    let hive = tmp.path().join("hive");
    hive_copy(&info.files, &data, &hive);
    std::fs::write(hive.join("README"), b"not data").unwrap();
    let (named, bare) = (tmp.path().join("m1"), tmp.path().join("m2"));
    for (dataset, out) in [(&data, &named), (&hive, &bare)] {
        let o = join(dataset, &results, out, &[]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let rows = rows_without_names(&bare);
    assert!(!rows.is_empty());
    assert_eq!(rows, rows_without_names(&named));
    let summary: JoinSummary =
        serde_json::from_slice(&std::fs::read(bare.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary.files_scanned, info.files.len() as u64);
}

/// A dataset in which nothing is Parquet is an error naming what was looked at, never an empty
/// manifest that would call the dataset compliant.
#[test]
fn a_dataset_without_parquet_files_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let info = setup(tmp.path(), &spec());
    let results = tmp.path().join("results");
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let csv = tmp.path().join("csv");
    std::fs::create_dir(&csv).unwrap();
    std::fs::write(csv.join("posts.csv"), b"id,author_id\n1,2\n").unwrap();
    for (dataset, needle) in [(&empty, "no files at all"), (&csv, "posts.csv")] {
        let out = tmp.path().join("m");
        let o = join(dataset, &results, &out, &[]);
        assert_eq!(
            o.status.code(),
            Some(4),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            stderr.contains("no Parquet files") && stderr.contains(needle),
            "{stderr}"
        );
        assert!(!out.join("manifest.parquet").exists());
    }
    // A Delta Lake table is refused by name, pointing to --ids.
    let delta = tmp.path().join("delta");
    std::fs::create_dir_all(delta.join("_delta_log")).unwrap();
    std::fs::copy(&info.files[0], delta.join("part-0.parquet")).unwrap();
    let o = join(&delta, &results, &tmp.path().join("m"), &[]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("Delta Lake") && stderr.contains("--ids"),
        "{stderr}"
    );
}
