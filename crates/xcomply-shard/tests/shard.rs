//! End-to-end tests of the library: inputs on disk through `shard` or the readers and a
//! `Sharder` to shard files and a manifest, checked against an independent computation.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, UInt64Array};
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use xcomply_core::JobType;
use xcomply_shard::{
    Limits, ShardError, ShardManifest, ShardOptions, Sharder, read_manifest, read_parquet_columns,
    shard, write_manifest,
};

fn options(out: &Path) -> ShardOptions {
    ShardOptions {
        job_type: JobType::Tweets,
        out_dir: out.to_owned(),
        column: None,
        limits: Limits::default(),
        lenient: false,
        force: false,
    }
}

#[derive(Clone, Copy, Debug)]
enum Codec {
    Plain,
    Gzip,
    Zstd,
}

fn write_text(path: &Path, text: &[u8], codec: Codec) {
    let bytes = match codec {
        Codec::Plain => text.to_vec(),
        Codec::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(text).unwrap();
            e.finish().unwrap()
        }
        Codec::Zstd => zstd::encode_all(text, 1).unwrap(),
    };
    std::fs::write(path, bytes).unwrap();
}

/// Reads the shards of a manifest back, checking each file against its manifest entry, and
/// returns their IDs concatenated.
fn check_shards(dir: &Path, manifest: &ShardManifest) -> Vec<u64> {
    let mut all = Vec::new();
    for (n, shard) in manifest.shards.iter().enumerate() {
        assert_eq!(
            shard.file,
            format!("{}-{:05}.txt", manifest.job_type, n + 1)
        );
        let bytes = std::fs::read(dir.join(&shard.file)).unwrap();
        assert_eq!(bytes.len() as u64, shard.bytes);
        assert_eq!(hex::encode(Sha256::digest(&bytes)), shard.sha256);
        assert!(bytes.ends_with(b"\n"));
        let ids: Vec<u64> = std::str::from_utf8(&bytes)
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        assert_eq!(ids.len() as u64, shard.count);
        assert!(shard.count <= manifest.max_ids_per_job);
        if let Some(limit) = manifest.max_bytes_per_job {
            assert!(shard.bytes <= limit);
        }
        assert_eq!(ids[0], shard.min);
        assert_eq!(*ids.last().unwrap(), shard.max);
        all.extend(ids);
    }
    // Nothing but the outputs is left: no temporary file, no spill directory.
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "left behind: {name}");
    }
    all
}

fn arb_id() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..100,
        1_000_000_000_000_000_000u64..1_000_000_000_000_100_000,
        0u64..=i64::MAX as u64,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Shards concatenated are the sorted unique valid input, whatever the memory limit (down to a
    /// few IDs per spilled run), shard size, thread count, file split and compression.
    #[test]
    fn shards_are_the_sorted_unique_input(
        ids in proptest::collection::vec(arb_id(), 0..3_000),
        repeats in proptest::collection::vec(any::<prop::sample::Index>(), 0..500),
        files in 1usize..4,
        memory_limit in prop_oneof![64u64..2_000, Just(1u64 << 30)],
        max_ids in 1u64..400,
        max_bytes in proptest::option::of(20u64..2_000),
        threads in 1usize..4,
        codec in prop_oneof![Just(Codec::Plain), Just(Codec::Gzip), Just(Codec::Zstd)],
        padded in any::<bool>(),
    ) {
        let mut lines = ids.clone();
        if !ids.is_empty() {
            lines.extend(repeats.iter().map(|r| ids[r.index(ids.len())]));
        }
        let tmp = tempfile::tempdir().unwrap();
        let mut inputs = Vec::new();
        for f in 0..files {
            let mut text = Vec::new();
            for (n, id) in lines.iter().enumerate().filter(|(n, _)| n % files == f) {
                if padded && n % 3 == 0 {
                    write!(text, "  {id}\t\r\n\n").unwrap();
                } else {
                    writeln!(text, "{id}").unwrap();
                }
            }
            let path = tmp.path().join(format!("in-{f}"));
            write_text(&path, &text, codec);
            inputs.push(path.display().to_string());
        }
        let out = tmp.path().join("out");
        let mut opts = options(&out);
        opts.limits = Limits { memory_limit, max_ids_per_job: max_ids, max_bytes_per_job: max_bytes, threads, temp_dir: None };
        let manifest = shard(&inputs, &opts).unwrap();
        let mut expected = lines.clone();
        expected.sort_unstable();
        expected.dedup();
        prop_assert_eq!(check_shards(&out, &manifest), expected.clone());
        let t = manifest.totals;
        prop_assert_eq!((t.read, t.valid, t.invalid, t.unique, t.duplicates), (lines.len() as u64, lines.len() as u64, 0, expected.len() as u64, (lines.len() - expected.len()) as u64));
        prop_assert_eq!(read_manifest(&out.join("manifest.json")).unwrap().types, vec![manifest]);
    }
}

#[test]
fn memory_limit_does_not_change_a_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("ids.txt");
    let mut text = String::new();
    for n in 0..200_000u64 {
        text.push_str(
            &((xcomply_core::seeded::mix64(n % 150_000) >> 1).to_string()
                + "
"),
        );
    }
    std::fs::write(&input, text).unwrap();
    let mut outputs = Vec::new();
    for memory_limit in [1 << 30, 1 << 20, 100_000, 5_000] {
        let out = tmp.path().join(format!("out-{memory_limit}"));
        let mut opts = options(&out);
        opts.limits.memory_limit = memory_limit;
        opts.limits.max_ids_per_job = 40_000;
        shard(&[input.display().to_string()], &opts).unwrap();
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        files.sort();
        outputs.push(files);
    }
    assert_eq!(outputs[0].len(), 5, "4 shards and the manifest");
    for other in &outputs[1..] {
        assert!(outputs[0] == *other);
    }
}

/// Each bad input and the exact error it gives; `{f}` is the input's path.
#[test]
fn bad_inputs_give_exact_errors() {
    let cases: &[(&[u8], Codec, &str)] = &[
        (
            b"1\n2\nabc\n",
            Codec::Plain,
            "{f}:3: expected a decimal ID, found `abc` (not a digit at byte 0)",
        ),
        (
            b"-5\n",
            Codec::Plain,
            "{f}:1: expected a decimal ID, found `-5` (not a digit at byte 0)",
        ),
        (
            b"+5\n",
            Codec::Plain,
            "{f}:1: expected a decimal ID, found `+5` (not a digit at byte 0)",
        ),
        (
            b"1 2\n",
            Codec::Plain,
            "{f}:1: expected a decimal ID, found `1 2` (not a digit at byte 1)",
        ),
        (
            b"\n\n 42x \r\n",
            Codec::Plain,
            "{f}:3: expected a decimal ID, found `42x` (not a digit at byte 2)",
        ),
        (
            b"1\n1.5",
            Codec::Plain,
            "{f}:2: expected a decimal ID, found `1.5` (not a digit at byte 1)",
        ),
        (
            b"12345678901234567890\n",
            Codec::Plain,
            "{f}:1: expected a decimal ID of at most 19 digits, found `12345678901234567890`",
        ),
        (
            b"9223372036854775808\n",
            Codec::Plain,
            "{f}:1: expected a decimal ID of at most 9223372036854775807 (i64::MAX), found `9223372036854775808`",
        ),
        (
            b"1,2\n",
            Codec::Plain,
            "{f}:1: expected a decimal ID, found `1,2` (not a digit at byte 1)",
        ),
        (
            b"7\n\"8\"\n",
            Codec::Gzip,
            "{f}:2: expected a decimal ID, found `\"8\"` (not a digit at byte 0)",
        ),
        (
            b"7\n8\n0x10\n",
            Codec::Zstd,
            "{f}:3: expected a decimal ID, found `0x10` (not a digit at byte 1)",
        ),
        (
            b"1\r\n2\r\n\xff\r\n",
            Codec::Plain,
            "{f}:3: expected a decimal ID, found `\u{fffd}` (not a digit at byte 0)",
        ),
    ];
    for (n, (input, codec, expected)) in cases.iter().enumerate() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(format!("case-{n}.txt"));
        write_text(&path, input, *codec);
        let out = tmp.path().join("out");
        let err = shard(&[path.display().to_string()], &options(&out)).unwrap_err();
        assert!(matches!(err, ShardError::InvalidId { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            expected.replace("{f}", &path.display().to_string()),
            "case {n}"
        );
        // A failed run leaves no shard, no manifest and no temporary file.
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "case {n}");
    }
}

#[test]
fn a_line_number_counts_across_blocks() {
    // Bad value far past the first 2 MiB block, so that block offsets must add up.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("big.txt");
    let mut text = String::new();
    for n in 0..300_000u64 {
        text.push_str(&((1_000_000_000 + n).to_string() + "\n"));
    }
    text.push_str("oops\n");
    std::fs::write(&path, text).unwrap();
    let err = shard(
        &[path.display().to_string()],
        &options(&tmp.path().join("out")),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:300001: expected a decimal ID, found `oops` (not a digit at byte 0)",
            path.display()
        )
    );
}

#[test]
fn tolerated_formatting_is_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ids.txt");
    std::fs::write(&path, b"\xEF\xBB\xBF 30 \r\n\r\n\t20\r\n\n   \n0010\n30").unwrap();
    let out = tmp.path().join("out");
    let manifest = shard(&[path.display().to_string()], &options(&out)).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("tweets-00001.txt")).unwrap(),
        "10\n20\n30\n"
    );
    assert_eq!(manifest.totals.read, 4);
    assert_eq!(manifest.totals.duplicates, 1);
}

#[test]
fn lenient_mode_logs_rejects_with_positions() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a.txt");
    let b = tmp.path().join("b.txt.gz");
    std::fs::write(&a, "1\nx\n2\n-3\n").unwrap();
    write_text(&b, b"99999999999999999999\n2\n", Codec::Gzip);
    let out = tmp.path().join("out");
    let mut opts = options(&out);
    opts.lenient = true;
    let manifest = shard(&[a.display().to_string(), b.display().to_string()], &opts).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("tweets-00001.txt")).unwrap(),
        "1\n2\n"
    );
    let rejects = std::fs::read_to_string(out.join("rejects.txt")).unwrap();
    assert_eq!(
        rejects,
        format!(
            "{a}:2: expected a decimal ID, found `x` (not a digit at byte 0)\n\
             {a}:4: expected a decimal ID, found `-3` (not a digit at byte 0)\n\
             {b}:1: expected a decimal ID of at most 19 digits, found `99999999999999999999`\n",
            a = a.display(),
            b = b.display()
        )
    );
    let t = manifest.totals;
    assert_eq!(
        (t.read, t.valid, t.invalid, t.duplicates, t.unique),
        (6, 3, 3, 1, 2)
    );
}

#[test]
fn output_directory_is_refused_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("ids.txt");
    std::fs::write(&input, "5\n6\n7\n").unwrap();
    let out = tmp.path().join("out");
    let mut opts = options(&out);
    opts.limits.max_ids_per_job = 1;
    shard(&[input.display().to_string()], &opts).unwrap();
    std::fs::write(out.join("notes.md"), "mine").unwrap();
    let err = shard(&[input.display().to_string()], &opts).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "output directory {} already exists and is not empty (use --force to replace its shards)",
            out.display()
        )
    );
    // Forced with bigger shards: the three old shards are replaced by one, other files stay.
    opts.force = true;
    opts.limits.max_ids_per_job = 10;
    shard(&[input.display().to_string()], &opts).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["manifest.json", "notes.md", "tweets-00001.txt"]);
}

#[test]
fn spill_files_are_removed_on_error() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("ids.txt");
    let mut text: String = (0..5_000u64)
        .map(|n| {
            (n * 7919 % 5_003).to_string()
                + "
"
        })
        .collect();
    text.push_str("bad\n");
    std::fs::write(&input, text).unwrap();
    let out = tmp.path().join("out");
    let mut opts = options(&out);
    opts.limits.memory_limit = 1_000;
    let err = shard(&[input.display().to_string()], &opts).unwrap_err();
    assert!(
        err.to_string()
            .ends_with(":5001: expected a decimal ID, found `bad` (not a digit at byte 0)"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
}

#[test]
fn inputs_that_match_nothing_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let pattern = tmp.path().join("*.parquet").display().to_string();
    let err = shard(
        std::slice::from_ref(&pattern),
        &options(&tmp.path().join("out")),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{pattern}: no such file or directory, and not a glob pattern matching any file")
    );
    assert!(!tmp.path().join("out").exists());
}

fn write_parquet(path: &Path, columns: Vec<(&str, ArrayRef)>) {
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    // Two row groups, so that row positions must add up across batches.
    let half = batch.num_rows() / 2;
    writer.write(&batch.slice(0, half)).unwrap();
    writer.flush().unwrap();
    writer
        .write(&batch.slice(half, batch.num_rows() - half))
        .unwrap();
    writer.close().unwrap();
}

/// A small hive-partitioned dataset: `lang=en/part-0.parquet`, `lang=fr/part-0.parquet`, a
/// `_SUCCESS` marker and a `.crc` file, with int64 `id`, uint64 `author_id` and string `ref`.
fn dataset(root: &Path) -> PathBuf {
    let en = root.join("data/lang=en");
    let fr = root.join("data/lang=fr");
    std::fs::create_dir_all(&en).unwrap();
    std::fs::create_dir_all(&fr).unwrap();
    write_parquet(
        &en.join("part-0.parquet"),
        vec![
            (
                "id",
                Arc::new(Int64Array::from(vec![Some(30), None, Some(10), Some(30)])) as ArrayRef,
            ),
            (
                "author_id",
                Arc::new(UInt64Array::from(vec![Some(7), Some(8), None, Some(7)])) as ArrayRef,
            ),
            (
                "ref",
                Arc::new(StringArray::from(vec![
                    Some(" 5 "),
                    None,
                    Some("0006"),
                    Some("5"),
                ])) as ArrayRef,
            ),
        ],
    );
    write_parquet(
        &fr.join("part-0.parquet"),
        vec![
            (
                "id",
                Arc::new(Int64Array::from(vec![Some(20), Some(i64::MAX)])) as ArrayRef,
            ),
            (
                "author_id",
                Arc::new(UInt64Array::from(vec![Some(9), Some(7)])) as ArrayRef,
            ),
            (
                "ref",
                Arc::new(StringArray::from(vec![Some("5"), Some("1")])) as ArrayRef,
            ),
        ],
    );
    std::fs::write(root.join("data/_SUCCESS"), "").unwrap();
    std::fs::write(root.join("data/lang=en/.part-0.parquet.crc"), "junk").unwrap();
    root.join("data")
}

#[test]
fn parquet_columns_of_every_type_with_nulls() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    for (column, expected, nulls) in [
        ("id", format!("10\n20\n30\n{}\n", i64::MAX), 1),
        ("author_id", "7\n8\n9\n".to_owned(), 1),
        ("ref", "1\n5\n6\n".to_owned(), 1),
    ] {
        let out = tmp.path().join(format!("out-{column}"));
        let mut opts = options(&out);
        opts.column = Some(column.to_owned());
        let manifest = shard(&[data.display().to_string()], &opts).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("tweets-00001.txt")).unwrap(),
            expected,
            "{column}"
        );
        assert_eq!(manifest.totals.nulls, nulls, "{column}");
        assert_eq!(manifest.totals.read, 6 - nulls, "{column}");
    }
    // A glob over the partitions gives the same as the directory.
    let out = tmp.path().join("out-glob");
    let mut opts = options(&out);
    opts.column = Some("id".into());
    let pattern = data.join("lang=*/*.parquet").display().to_string();
    let manifest = shard(&[pattern], &opts).unwrap();
    assert_eq!(manifest.totals.unique, 4);
}

#[test]
fn post_and_user_ids_in_one_pass_share_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let mut tweets = Sharder::new(JobType::Tweets, Limits::default()).unwrap();
    let mut users = Sharder::new(JobType::Users, Limits::default()).unwrap();
    let dataset = xcomply_dataset::Dataset::discover(&[data.display().to_string()]).unwrap();
    for file in dataset.files() {
        read_parquet_columns(
            file,
            &["id", "author_id"],
            false,
            &mut [&mut tweets, &mut users],
        )
        .unwrap();
    }
    let out = tmp.path().join("shards");
    xcomply_shard::prepare_out_dir(&out, false).unwrap();
    let manifests = [tweets.finish(&out).unwrap(), users.finish(&out).unwrap()];
    write_manifest(&out, &manifests).unwrap();
    assert_eq!(
        check_shards(&out, &manifests[0]),
        [10, 20, 30, i64::MAX as u64]
    );
    assert_eq!(check_shards(&out, &manifests[1]), [7, 8, 9]);
    let manifest = read_manifest(&out.join("manifest.json")).unwrap();
    assert_eq!(
        manifest
            .types
            .iter()
            .map(|t| t.job_type.as_str())
            .collect::<Vec<_>>(),
        ["tweets", "users"]
    );
}

#[test]
fn bad_parquet_values_name_file_row_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.parquet");
    write_parquet(
        &path,
        vec![
            (
                "id",
                Arc::new(Int64Array::from(vec![Some(1), None, Some(3), Some(-4)])) as ArrayRef,
            ),
            (
                "author_id",
                Arc::new(UInt64Array::from(vec![1, u64::MAX, 3, 4])) as ArrayRef,
            ),
            (
                "ref",
                Arc::new(StringArray::from(vec![
                    Some("1"),
                    Some("2"),
                    Some("3x"),
                    None,
                ])) as ArrayRef,
            ),
            (
                "text",
                Arc::new(arrow_array::Float64Array::from(vec![1.0, 2.0, 3.0, 4.0])) as ArrayRef,
            ),
        ],
    );
    let p = path.display().to_string();
    for (column, expected) in [
        (
            "id",
            format!(
                "{p}: row 3 of column `id`: expected a decimal ID, found `-4` (not a digit at byte 0)"
            ),
        ),
        (
            "author_id",
            format!(
                "{p}: row 1 of column `author_id`: expected a decimal ID of at most 19 digits, found `18446744073709551615`"
            ),
        ),
        (
            "ref",
            format!(
                "{p}: row 2 of column `ref`: expected a decimal ID, found `3x` (not a digit at byte 1)"
            ),
        ),
        (
            "text",
            format!(
                "column `text` of {p} has type Float64, expected int64, uint64, int32, uint32 or decimal strings"
            ),
        ),
        (
            "nope",
            format!("column `nope` not found in {p} (expected one of: id, author_id, ref, text)"),
        ),
    ] {
        let mut opts = options(&tmp.path().join(format!("out-{column}")));
        opts.column = Some(column.to_owned());
        let err = shard(std::slice::from_ref(&p), &opts).unwrap_err();
        assert_eq!(err.to_string(), expected);
    }
    // Lenient: the bad row is logged, the rest is sharded.
    let out = tmp.path().join("out-lenient");
    let mut opts = options(&out);
    opts.column = Some("id".into());
    opts.lenient = true;
    let manifest = shard(std::slice::from_ref(&p), &opts).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("tweets-00001.txt")).unwrap(),
        "1\n3\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("rejects.txt")).unwrap(),
        format!(
            "{p}: row 3 of column `id`: expected a decimal ID, found `-4` (not a digit at byte 0)\n"
        )
    );
    assert_eq!((manifest.totals.invalid, manifest.totals.nulls), (1, 1));
    // Without --column, a Parquet input is refused before anything is created.
    let out = tmp.path().join("out-nocolumn");
    let err = shard(std::slice::from_ref(&p), &options(&out)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{p} is a Parquet file: say which column holds the IDs (`--column NAME`)")
    );
    assert!(!out.exists());
}

#[test]
fn a_corrupt_compressed_input_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ids.txt.zst");
    let text: String = (0..100_000u64).map(|n| n.to_string() + "\n").collect();
    let compressed = zstd::encode_all(text.as_bytes(), 1).unwrap();
    std::fs::write(&path, &compressed[..compressed.len() / 2]).unwrap();
    let out = tmp.path().join("out");
    let err = shard(&[path.display().to_string()], &options(&out)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("reading {}: ", path.display())),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
}

/// A reader that hands out a few bytes at a time, like a pipe.
struct Trickle {
    data: Vec<u8>,
    at: usize,
    step: usize,
}

impl std::io::Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.step = self.step % 7_919 + 1_013;
        let n = buf.len().min(self.step).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[derive(Default)]
struct Collect(Vec<u64>, u64);

impl xcomply_shard::IdSink for Collect {
    fn push_ids(&mut self, ids: &[xcomply_core::Id]) -> Result<(), ShardError> {
        self.0.extend(ids.iter().map(|id| id.get()));
        Ok(())
    }
    fn push_invalid(&mut self, _: &xcomply_shard::Reject) -> Result<(), ShardError> {
        self.1 += 1;
        Ok(())
    }
    fn push_nulls(&mut self, _: u64) {}
}

#[test]
fn blocks_join_lines_split_anywhere_in_order() {
    // Several 2 MiB blocks of mixed line shapes, read a few bytes at a time: every ID arrives
    // once, in input order, and the bad lines are counted.
    let mut text = Vec::new();
    let mut expected = Vec::new();
    for n in 0..400_000u64 {
        let id = xcomply_core::seeded::mix64(n) >> (n % 64).max(1);
        match n % 5 {
            0 => write!(text, "{id}\r\n").unwrap(),
            1 => write!(text, "  {id} \n\n").unwrap(),
            2 => writeln!(text, "{id:019}").unwrap(),
            3 => writeln!(text, "x{id}").unwrap(),
            _ => writeln!(text, "{id}").unwrap(),
        }
        if n % 5 != 3 {
            expected.push(id);
        }
    }
    let reader = Box::new(Trickle {
        data: text,
        at: 0,
        step: 1,
    });
    let mut sink = Collect::default();
    xcomply_shard::read_text_from("pipe", reader, true, 2, &mut sink).unwrap();
    assert_eq!(sink.0, expected);
    assert_eq!(sink.1, 80_000);
}
