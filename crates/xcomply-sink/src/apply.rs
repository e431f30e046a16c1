//! Applying a manifest: a compliant copy of the dataset.
//!
//! Every dataset file is copied to the same relative path under the output directory (so hive
//! partitions stay hive partitions) with the same Arrow schema, compression and row-group
//! boundaries: rows with action `delete` are removed, for rows with action `scrub_geo` the named
//! geo columns are set to null (or, for a dataset without geo columns and
//! [`ApplyOptions::no_geo_columns`], the rows are kept as they are), and rows with action
//! `rehydrate` are kept unchanged and counted: refreshing an edited post needs the Posts lookup
//! API, which is outside this crate (the join lists their IDs in `rehydrate-ids.txt`). A manifest
//! holding any other action is refused: this version does not know what it asks. Files whose
//! manifest rows change nothing are copied byte for byte.
//!
//! Files are streamed one batch at a time, one file per thread, so memory does not grow with file
//! size. The copy is built in a hidden directory beside the output and renamed into place only
//! when every file's removed-row count equals the manifest's, so a failed apply leaves nothing
//! that looks like a compliant copy.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow_array::{ArrayRef, BooleanArray, RecordBatch};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use crate::SinkError;
use crate::dataset;
use crate::join::{self, DELETE, JoinSummary, REHYDRATE, SCRUB_GEO, SUMMARY_FILE};
use xcomply_dataset::{DatasetFile, FileStamp, canonical};

/// Rows per batch while copying: bounded memory for any row width that datasets have in practice
/// (8 Ki rows of 1 KiB posts is 8 MiB per thread).
const COPY_BATCH_ROWS: usize = 8_192;

/// Settings of an apply.
#[derive(Clone, Debug, Default)]
pub struct ApplyOptions {
    /// Columns set to null in `scrub_geo` rows. When empty, a manifest with `scrub_geo` rows is
    /// refused unless [`no_geo_columns`](Self::no_geo_columns) is set.
    pub geo_columns: Vec<String>,
    /// The dataset has no geo columns (`--geo-columns none`): `scrub_geo` rows are kept as they
    /// are, and counted. Said explicitly, so that forgetting `--geo-columns` never leaves
    /// location data in a copy that claims to be compliant.
    pub no_geo_columns: bool,
    /// Copying threads; 0 means one per core.
    pub threads: usize,
}

/// What an apply did.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct ApplySummary {
    /// Dataset files copied.
    pub files: u64,
    /// Of which rewritten (the others had no manifest rows and were copied unchanged).
    pub files_rewritten: u64,
    /// Rows read.
    pub rows_in: u64,
    /// Rows written.
    pub rows_out: u64,
    /// Rows removed (action `delete`).
    pub rows_deleted: u64,
    /// Rows whose geo columns were nulled (action `scrub_geo`).
    pub rows_scrubbed: u64,
    /// Rows kept unchanged because their post was edited (action `rehydrate`): their stored
    /// copy is stale, and the join's `rehydrate-ids.txt` lists the posts to fetch again.
    #[serde(default)]
    pub rows_to_rehydrate: u64,
    /// Rows with action `scrub_geo` kept as they are because the dataset has no geo columns
    /// (`--geo-columns none`).
    #[serde(default)]
    pub rows_scrub_geo_kept: u64,
}

/// The manifest's edits of one file: sorted row positions.
#[derive(Default, Debug)]
struct Edits {
    delete: Vec<i64>,
    scrub: Vec<i64>,
    /// Rows the manifest names but the copy keeps unchanged (`rehydrate`, and `scrub_geo`
    /// without geo columns): checked against the file like the others.
    keep: Vec<i64>,
}

/// Applies the manifest in `manifest` (a `xcomply join` output directory or its manifest file)
/// to the dataset, writing the compliant copy to `out`, which must not exist or be empty.
///
/// Dataset files are matched to the manifest's `file_path` and to the join summary's files by
/// their canonical path (symbolic links resolved, relative paths taken against the current
/// directory), so `ds`, `./ds` and `/abs/ds` are the same dataset. A manifest made from relative
/// paths must therefore be applied from the directory the join ran in.
///
/// `out` may be `s3://bucket/prefix/`: the copy is then built in a local staging directory (in
/// the system's temporary directory) and uploaded object by object, each object written whole,
/// and `_xcomply_apply.json` (the summary, hidden from Parquet readers) last, so that a reader
/// who finds it finds the whole copy. The prefix must hold no object yet.
pub fn apply_paths(
    manifest: &Path,
    dataset_inputs: &[PathBuf],
    out: &Path,
    options: &ApplyOptions,
) -> Result<ApplySummary, SinkError> {
    let Some(uri) = out.to_str().and_then(xcomply_dataset::ObjectUri::parse) else {
        return apply_local(manifest, dataset_inputs, out, options);
    };
    let inputs = dataset::input_strings(dataset_inputs)?;
    if let Some(input) =
        xcomply_dataset::input_containing(out, &out.join("part-0.parquet"), &inputs)
    {
        return Err(SinkError::Output {
            path: out.to_path_buf(),
            message: format!(
                "is inside the dataset input {input}, so readers of the dataset would see the copy beside the rows it replaces; expected an output prefix outside the dataset"
            ),
        });
    }
    let prefix = format!("{}/", uri.key.trim_end_matches('/'));
    if xcomply_dataset::has_objects(&xcomply_dataset::ObjectUri {
        bucket: uri.bucket.clone(),
        key: prefix.clone(),
    })? {
        return Err(SinkError::Output {
            path: out.to_path_buf(),
            message: "already holds objects; expected an empty prefix for the compliant copy"
                .into(),
        });
    }
    let staging = tempfile::Builder::new()
        .prefix("xcomply-apply-s3-")
        .tempdir()
        .map_err(io_err(&std::env::temp_dir()))?;
    let local = staging.path().join("copy");
    let summary = apply_local(manifest, dataset_inputs, &local, options)?;
    let mut files = Vec::new();
    collect_files(&local, &mut files)?;
    files.sort();
    for f in &files {
        let rel = f.strip_prefix(&local).expect("found under the copy");
        let key = format!("{prefix}{}", rel.to_string_lossy());
        xcomply_dataset::upload_file(
            f,
            &xcomply_dataset::ObjectUri {
                bucket: uri.bucket.clone(),
                key,
            },
        )?;
    }
    let marker = staging.path().join(APPLY_SUMMARY_OBJECT);
    std::fs::write(
        &marker,
        serde_json::to_vec_pretty(&summary).expect("the summary always serialises"),
    )
    .map_err(io_err(&marker))?;
    xcomply_dataset::upload_file(
        &marker,
        &xcomply_dataset::ObjectUri {
            bucket: uri.bucket.clone(),
            key: format!("{prefix}{APPLY_SUMMARY_OBJECT}"),
        },
    )?;
    Ok(summary)
}

/// The summary object written last beside a copy on object storage: its presence says the copy
/// is whole. Its `_` prefix hides it from Parquet readers (Spark, Hive, `DuckDB`, xcomply).
pub const APPLY_SUMMARY_OBJECT: &str = "_xcomply_apply.json";

/// Every file below `dir`.
fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SinkError> {
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let path = entry.map_err(io_err(dir))?.path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn apply_local(
    manifest: &Path,
    dataset_inputs: &[PathBuf],
    out: &Path,
    options: &ApplyOptions,
) -> Result<ApplySummary, SinkError> {
    let manifest_file = if manifest.is_dir() {
        manifest.join(join::MANIFEST_FILE)
    } else {
        manifest.to_path_buf()
    };
    let rows = join::read_manifest(&manifest_file)?;
    let bad = |message: String| SinkError::Schema {
        path: manifest_file.clone(),
        message,
    };
    if options.no_geo_columns && !options.geo_columns.is_empty() {
        return Err(bad(format!(
            "geo columns {:?} were named and also none; expected either the geo columns or none",
            options.geo_columns
        )));
    }
    let mut edits: BTreeMap<String, Edits> = BTreeMap::new();
    let (mut rehydrate, mut scrub_kept) = (0u64, 0u64);
    let mut unknown: Option<(&join::ManifestRow, usize)> = None;
    for r in &rows {
        let e = edits.entry(r.file_path.clone()).or_default();
        match r.action.as_str() {
            DELETE => e.delete.push(r.pos),
            SCRUB_GEO if options.no_geo_columns => {
                e.keep.push(r.pos);
                scrub_kept += 1;
            }
            SCRUB_GEO => e.scrub.push(r.pos),
            REHYDRATE => {
                e.keep.push(r.pos);
                rehydrate += 1;
            }
            _ => {
                let u = unknown.get_or_insert((r, 0));
                u.1 += 1;
            }
        }
    }
    // Every unknown row is counted before refusing, so that the message says how many there are.
    if let Some((r, n)) = unknown {
        return Err(bad(format!(
            "{n} rows have an action this version does not know, the first {:?} at {} row {}; expected \"delete\", \"rehydrate\" or \"scrub_geo\" (a newer xcomply may know it; the rows are not guessed at)",
            r.action, r.file_path, r.pos
        )));
    }
    for (path, e) in &mut edits {
        for list in [&mut e.delete, &mut e.scrub, &mut e.keep] {
            list.sort_unstable();
        }
        let mut all: Vec<i64> = e
            .delete
            .iter()
            .chain(&e.scrub)
            .chain(&e.keep)
            .copied()
            .collect();
        all.sort_unstable();
        if let Some(dup) = all.windows(2).find(|w| w[0] == w[1]).map(|w| w[0]) {
            return Err(bad(format!(
                "row {dup} of {path} appears twice; expected one manifest row per dataset row"
            )));
        }
        if let Some(&p) = all.first().filter(|&&p| p < 0) {
            return Err(bad(format!(
                "negative position {p} for {path}; expected a 0-based row index"
            )));
        }
    }
    // The summary written with the manifest, when present, says how many rows go.
    let summary_path = manifest_file.with_file_name(SUMMARY_FILE);
    let mut joined: Option<JoinSummary> = None;
    if let Ok(bytes) = std::fs::read(&summary_path) {
        let s: JoinSummary = serde_json::from_slice(&bytes).map_err(|e| SinkError::Schema {
            path: summary_path.clone(),
            message: format!("not a join summary: {e}"),
        })?;
        let deletes = rows.iter().filter(|r| r.action == "delete").count() as u64;
        if s.delete_rows != deletes || s.manifest_rows != rows.len() as u64 {
            return Err(bad(format!(
                "holds {} rows ({deletes} delete) but {} says {} ({} delete); the manifest is incomplete or from another join",
                rows.len(),
                summary_path.display(),
                s.manifest_rows,
                s.delete_rows
            )));
        }
        joined = Some(s);
    }
    let scrubs: usize = edits.values().map(|e| e.scrub.len()).sum();
    if scrubs > 0 && options.geo_columns.is_empty() {
        return Err(bad(format!(
            "has {scrubs} scrub_geo rows but no geo columns were named; expected --geo-columns (e.g. geo_lat,geo_lon,place_id), or --geo-columns none for a dataset without location data (the rows are then kept as they are)"
        )));
    }

    let dataset = dataset::discover(dataset_inputs)?;
    let files = dataset.files();
    // The dataset may be spelled differently than it was for the join (`./ds`, `/abs/ds`), so
    // files are matched by their real location, not by their spelling.
    let keys: Vec<PathBuf> = files.iter().map(|f| f.canonical.clone()).collect();
    // A file the join skipped (`--lenient`) or never saw was not checked: copying it unchanged
    // would put unchecked rows into a copy that claims to be compliant.
    if let Some(s) = &joined {
        let checked: BTreeMap<PathBuf, &str> = s
            .files
            .iter()
            .map(|f| (canonical(&f.path), f.path.as_str()))
            .collect();
        let skipped: std::collections::BTreeSet<PathBuf> =
            s.skipped_files.iter().map(|k| canonical(&k.path)).collect();
        // A file rewritten since the join (rows reordered, added or removed) no longer has the
        // flagged rows at the manifest's positions: applying it would delete other rows and keep
        // the flagged ones.
        let stamps: BTreeMap<PathBuf, FileStamp> = s
            .files
            .iter()
            .filter_map(|f| Some((canonical(&f.path), f.stamp.clone()?)))
            .collect();
        for (f, key) in files.iter().zip(&keys) {
            let Some(then) = stamps.get(key) else {
                continue;
            };
            let now = f.reader()?.stamp()?;
            if now != *then {
                return Err(SinkError::Schema {
                    path: f.path.clone(),
                    message: format!(
                        "changed since the join that wrote the manifest ({} bytes modified at {} ns then, {} bytes modified at {} ns now), so the manifest's row positions may name other rows; expected the files as joined: run `xcomply join` again",
                        then.bytes, then.mtime_ns, now.bytes, now.mtime_ns
                    ),
                });
            }
        }
        if let Some((f, key)) = files
            .iter()
            .zip(&keys)
            .find(|(_, key)| !checked.contains_key(*key))
        {
            let why = if skipped.contains(key) {
                "was skipped as unreadable by the join"
            } else {
                "was not part of the join"
            };
            // When the join recorded a file of the same relative name elsewhere, the cause is
            // most likely another spelling of the dataset or another working directory.
            let hint = checked
                .iter()
                .find(|(_, p)| Path::new(p).ends_with(&f.relative))
                .map(|(real, p)| {
                    format!(
                        "; the join recorded the same file name as {p:?}, which is {} from the current directory: the dataset path or the working directory differs from the join's",
                        real.display()
                    )
                })
                .unwrap_or_default();
            return Err(SinkError::Schema {
                path: f.path.clone(),
                message: format!(
                    "{why} ({}), so its rows were never checked; expected only files the join read{hint}",
                    summary_path.display()
                ),
            });
        }
    }
    let known: BTreeMap<&Path, &DatasetFile> =
        keys.iter().map(PathBuf::as_path).zip(files).collect();
    let mut by_file: BTreeMap<String, &Edits> = BTreeMap::new();
    for (path, e) in &edits {
        let Some(f) = known.get(canonical(path).as_path()) else {
            return Err(bad(format!(
                "names dataset file {path:?}, which is not in the dataset; expected the --dataset paths given to `xcomply join`, from the directory it ran in"
            )));
        };
        by_file.insert(f.display.clone(), e);
    }
    let mut seen = BTreeMap::new();
    for f in files {
        if let Some(other) = seen.insert(f.relative.clone(), &f.display) {
            return Err(SinkError::Schema {
                path: f.path.clone(),
                message: format!(
                    "has the same relative path {} as {other}; expected distinct names in the output",
                    f.relative.display()
                ),
            });
        }
    }

    // A copy inside the dataset would sit beside the rows it replaces: every reader of the
    // dataset (a glob, a directory scan, the next join) would count both.
    if let Some(input) = dataset.containing(out, &out.join("part-0.parquet")) {
        return Err(SinkError::Output {
            path: out.to_path_buf(),
            message: format!(
                "is inside the dataset input {input}, so readers of the dataset would see the copy beside the rows it replaces; expected an output directory outside the dataset"
            ),
        });
    }
    if out.exists()
        && std::fs::read_dir(out)
            .map_err(io_err(out))?
            .next()
            .is_some()
    {
        return Err(SinkError::Io {
            path: out.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "output directory exists and is not empty; expected a new or empty directory",
            ),
        });
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".xcomply-apply-")
        .tempdir_in(parent)
        .map_err(io_err(parent))?;

    let threads = if options.threads == 0 {
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    } else {
        options.threads
    };
    let next = AtomicUsize::new(0);
    let empty = Edits::default();
    let results: Vec<Result<Vec<ApplySummary>, SinkError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.min(files.len()).max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(f) = files.get(i) else {
                            return Ok(done);
                        };
                        let target = staging.path().join(&f.relative);
                        done.push(copy_file(
                            f,
                            by_file.get(&f.display).copied().unwrap_or(&empty),
                            &target,
                            options,
                        )?);
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("copy threads do not panic"))
            .collect()
    });
    let mut summary = ApplySummary {
        rows_to_rehydrate: rehydrate,
        rows_scrub_geo_kept: scrub_kept,
        ..ApplySummary::default()
    };
    for r in results {
        for s in r? {
            summary.files += s.files;
            summary.files_rewritten += s.files_rewritten;
            summary.rows_in += s.rows_in;
            summary.rows_out += s.rows_out;
            summary.rows_deleted += s.rows_deleted;
            summary.rows_scrubbed += s.rows_scrubbed;
        }
    }
    let deletes: usize = edits.values().map(|e| e.delete.len()).sum();
    if summary.rows_deleted != deletes as u64
        || summary.rows_in - summary.rows_deleted != summary.rows_out
    {
        return Err(bad(format!(
            "says {deletes} rows go but {} were removed; nothing was written",
            summary.rows_deleted
        )));
    }
    // The copy is on disk before it appears under its name, and the name is on disk before
    // this returns: a power loss never leaves `out` with empty or torn files.
    sync_tree(staging.path())?;
    if out.exists() {
        std::fs::remove_dir(out).map_err(io_err(out))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, out).map_err(io_err(out))?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_path(parent)?;
    }
    Ok(summary)
}

/// The IO error of a path.
fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SinkError {
    let path = path.to_path_buf();
    move |source| SinkError::Io { path, source }
}

/// Flushes every file and directory under `dir` (and `dir` itself) to disk.
fn sync_tree(dir: &Path) -> Result<(), SinkError> {
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let path = entry.map_err(io_err(dir))?.path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            sync_path(&path)?;
        }
    }
    sync_path(dir)
}

/// `fsync` of one file or directory (a directory is opened read-only, which Linux allows).
#[expect(
    clippy::disallowed_methods,
    reason = "opens the copy this command wrote, to sync it, never a dataset file"
)]
fn sync_path(path: &Path) -> Result<(), SinkError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io_err(path))
}

fn copy_file(
    file: &DatasetFile,
    edits: &Edits,
    target: &Path,
    options: &ApplyOptions,
) -> Result<ApplySummary, SinkError> {
    let path = &file.path;
    let pq = |source| SinkError::Parquet {
        path: path.clone(),
        source,
    };
    let arrow = |source| SinkError::Arrow {
        path: path.clone(),
        source,
    };
    let schema_err = |message: String| SinkError::Schema {
        path: path.clone(),
        message,
    };
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|source| SinkError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let input = file.reader()?;
    let meta = ArrowReaderMetadata::load(&input, ArrowReaderOptions::new()).map_err(pq)?;
    let md = meta.metadata().clone();
    let rows_in = md.file_metadata().num_rows() as u64;
    if let Some(&p) = edits
        .delete
        .last()
        .into_iter()
        .chain(edits.scrub.last())
        .chain(edits.keep.last())
        .max()
        .filter(|&&p| p as u64 >= rows_in)
    {
        return Err(schema_err(format!(
            "the manifest names row {p} but the file has {rows_in} rows; expected the dataset the manifest was made from"
        )));
    }
    if edits.delete.is_empty() && edits.scrub.is_empty() {
        // A byte-for-byte copy, read through the dataset's reader like every other read.
        let mut from = parquet::file::reader::ChunkReader::get_read(&input, 0).map_err(pq)?;
        let mut to = File::create(target).map_err(io_err(target))?;
        std::io::copy(&mut from, &mut to).map_err(io_err(target))?;
        return Ok(ApplySummary {
            files: 1,
            rows_in,
            rows_out: rows_in,
            ..ApplySummary::default()
        });
    }
    let schema = meta.schema().clone();
    let mut geo = Vec::new();
    if !edits.scrub.is_empty() {
        for name in &options.geo_columns {
            let (i, field) = schema.column_with_name(name).ok_or_else(|| {
                schema_err(format!(
                    "geo column `{name}` not found; expected one of the file's columns"
                ))
            })?;
            if !field.is_nullable() {
                return Err(schema_err(format!(
                    "geo column `{name}` is not nullable, so it cannot be scrubbed; expected a nullable column"
                )));
            }
            geo.push(i);
        }
    }
    // Keep the input's compression, so the copy is as large as the original minus its rows.
    let compression = md
        .row_groups()
        .first()
        .and_then(|rg| rg.columns().first())
        .map(parquet::file::metadata::ColumnChunkMetaData::compression);
    let mut props = WriterProperties::builder().set_max_row_group_row_count(None);
    if let Some(c) = compression {
        props = props.set_compression(c);
    }
    let out = File::create(target).map_err(|source| SinkError::Io {
        path: target.to_path_buf(),
        source,
    })?;
    let tpq = |source| SinkError::Parquet {
        path: target.to_path_buf(),
        source,
    };
    let mut writer = ArrowWriter::try_new(BufWriter::new(out), schema.clone(), Some(props.build()))
        .map_err(tpq)?;
    let (mut di, mut si) = (0usize, 0usize);
    let mut pos = 0i64;
    let mut summary = ApplySummary {
        files: 1,
        files_rewritten: 1,
        rows_in,
        ..ApplySummary::default()
    };
    for rg in 0..md.num_row_groups() {
        let input = input.try_clone()?;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(input, meta.clone())
            .with_row_groups(vec![rg])
            .with_batch_size(COPY_BATCH_ROWS)
            .build()
            .map_err(pq)?;
        for batch in reader {
            let batch = batch.map_err(arrow)?;
            let n = batch.num_rows();
            let end = pos + n as i64;
            let mut keep = vec![true; n];
            while di < edits.delete.len() && edits.delete[di] < end {
                keep[(edits.delete[di] - pos) as usize] = false;
                di += 1;
                summary.rows_deleted += 1;
            }
            let mut scrub = vec![false; n];
            let mut any_scrub = false;
            while si < edits.scrub.len() && edits.scrub[si] < end {
                scrub[(edits.scrub[si] - pos) as usize] = true;
                si += 1;
                any_scrub = true;
                summary.rows_scrubbed += 1;
            }
            let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
            if any_scrub {
                let mask = BooleanArray::from(scrub);
                for &g in &geo {
                    columns[g] = arrow_select::nullif::nullif(&columns[g], &mask).map_err(arrow)?;
                }
            }
            let batch = RecordBatch::try_new(schema.clone(), columns).map_err(arrow)?;
            let batch = if keep.iter().all(|&k| k) {
                batch
            } else {
                arrow_select::filter::filter_record_batch(&batch, &BooleanArray::from(keep))
                    .map_err(arrow)?
            };
            summary.rows_out += batch.num_rows() as u64;
            writer.write(&batch).map_err(tpq)?;
            pos = end;
        }
        // One output row group per input row group: the same layout, minus the removed rows.
        writer.flush().map_err(tpq)?;
    }
    writer.close().map_err(tpq)?;
    if di != edits.delete.len() || si != edits.scrub.len() || pos as u64 != rows_in {
        return Err(schema_err(format!(
            "removed {} of the manifest's {} rows and scrubbed {} of {}; expected all of them",
            summary.rows_deleted,
            edits.delete.len(),
            summary.rows_scrubbed,
            edits.scrub.len()
        )));
    }
    Ok(summary)
}

#[cfg(test)]
#[expect(
    clippy::disallowed_methods,
    reason = "tests read back the files they generated or wrote"
)]
mod tests {
    use super::*;
    use crate::join::{JoinOptions, join_paths, read_manifest};
    use crate::synth::{self, DatasetSpec, GEO_COLUMNS};
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;

    fn geo() -> ApplyOptions {
        ApplyOptions {
            geo_columns: GEO_COLUMNS.iter().map(|s| (*s).to_owned()).collect(),
            threads: 2,
            ..ApplyOptions::default()
        }
    }

    /// (`id`, whether `geo_lat` is null) of every row of every file under `dir`, by relative path.
    fn read_all(dir: &Path) -> BTreeMap<PathBuf, Vec<(Option<i64>, bool)>> {
        let mut out = BTreeMap::new();
        for f in dataset::discover(&[dir.to_path_buf()]).unwrap().files() {
            let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&f.path).unwrap())
                .unwrap()
                .build()
                .unwrap();
            let mut rows = Vec::new();
            for b in reader {
                let b = b.unwrap();
                let id = b
                    .column_by_name("id")
                    .unwrap()
                    .as_primitive::<Int64Type>()
                    .clone();
                let lat = b.column_by_name("geo_lat").unwrap().clone();
                for i in 0..b.num_rows() {
                    rows.push((id.is_valid(i).then(|| id.value(i)), lat.is_null(i)));
                }
            }
            out.insert(f.relative.clone(), rows);
        }
        out
    }

    /// A seeded dataset in `<tmp>/<name>`, results flagging `post_rate` of its posts and
    /// `user_rate` of its authors, and their manifest in `<tmp>/m`: the temporary directory, the
    /// dataset and the manifest.
    fn joined(
        spec: &DatasetSpec,
        name: &str,
        post_rate: f64,
        user_rate: f64,
    ) -> (tempfile::TempDir, PathBuf, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join(name);
        synth::generate_dataset(&data, spec).unwrap();
        synth::write_results(
            &tmp.path().join("r"),
            &synth::flag_sample(spec, post_rate, user_rate),
        )
        .unwrap();
        let m = tmp.path().join("m");
        join_paths(
            std::slice::from_ref(&data),
            &tmp.path().join("r"),
            &m,
            &JoinOptions::default(),
        )
        .unwrap();
        (tmp, data, m)
    }

    #[test]
    fn another_spelling_of_the_dataset_is_the_same_dataset() {
        let spec = DatasetSpec {
            files: 2,
            rows_per_file: 1_000,
            row_group_rows: 250,
            authors: 100,
            ..DatasetSpec::default()
        };
        let (tmp, d, m) = joined(&spec, "d", 0.05, 0.0);
        let deletes = read_manifest(&m)
            .unwrap()
            .iter()
            .filter(|r| r.action == "delete")
            .count() as u64;
        std::fs::create_dir(tmp.path().join("x")).unwrap();
        let dotted = tmp.path().join(".").join("x").join("..").join("d/");
        let s = apply_paths(&m, &[dotted], &tmp.path().join("c1"), &geo()).unwrap();
        assert_eq!((s.files, s.rows_deleted), (2, deletes));

        // A copy of the dataset elsewhere was not joined: refused, with the likely cause.
        let copy = tmp.path().join("elsewhere/d");
        for f in dataset::discover(std::slice::from_ref(&d)).unwrap().files() {
            let to = copy.join(&f.relative);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&f.path, to).unwrap();
        }
        let err = apply_paths(&m, &[copy], &tmp.path().join("c2"), &geo())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("was not part of the join")
                && err.contains("the join recorded the same file name")
                && err.contains("differs from the join's"),
            "{err}"
        );
        assert!(!tmp.path().join("c2").exists());
    }

    #[test]
    fn removes_deletes_scrubs_geo_and_keeps_layout() {
        let spec = DatasetSpec {
            files: 3,
            rows_per_file: 2_000,
            row_group_rows: 300,
            authors: 200,
            geo_rate: 0.5,
            ..DatasetSpec::default()
        };
        let (tmp, data, m) = joined(&spec, "data", 0.05, 0.02);
        let manifest = read_manifest(&m).unwrap();
        let out = tmp.path().join("copy");
        let s = apply_paths(&m, std::slice::from_ref(&data), &out, &geo()).unwrap();
        let count = |action: &str| manifest.iter().filter(|r| r.action == action).count() as u64;
        assert_eq!(s.rows_deleted, count("delete"));
        assert_eq!(s.rows_scrubbed, count("scrub_geo"));
        assert_eq!(s.rows_to_rehydrate, count("rehydrate"));
        assert!(s.rows_scrubbed > 0 && s.rows_to_rehydrate > 0);
        assert_eq!(s.rows_scrub_geo_kept, 0);
        let before = read_all(&data);
        let after = read_all(&out);
        assert_eq!(
            before.keys().collect::<Vec<_>>(),
            after.keys().collect::<Vec<_>>(),
            "same partition layout"
        );
        for (rel, rows) in &before {
            let display = data.join(rel).display().to_string();
            let mut expected = Vec::new();
            for (pos, &(id, lat_null)) in rows.iter().enumerate() {
                match manifest
                    .iter()
                    .find(|r| r.file_path == display && r.pos == pos as i64)
                    .map(|r| r.action.as_str())
                {
                    Some("delete") => {}
                    Some("scrub_geo") => expected.push((id, true)),
                    // An edited post stays as it is, geo data included.
                    Some("rehydrate") | None => expected.push((id, lat_null)),
                    Some(other) => panic!("unexpected action {other:?}"),
                }
            }
            assert_eq!(after[rel], expected, "{}", rel.display());
            let md_in =
                ParquetRecordBatchReaderBuilder::try_new(File::open(data.join(rel)).unwrap())
                    .unwrap();
            let md_out =
                ParquetRecordBatchReaderBuilder::try_new(File::open(out.join(rel)).unwrap())
                    .unwrap();
            assert_eq!(md_in.schema(), md_out.schema());
            assert_eq!(
                md_in.metadata().num_row_groups(),
                md_out.metadata().num_row_groups()
            );
        }
    }

    #[test]
    fn refuses_mismatches_and_leaves_nothing() {
        let spec = DatasetSpec {
            files: 2,
            rows_per_file: 500,
            row_group_rows: 100,
            ..DatasetSpec::default()
        };
        let (tmp, data, m) = joined(&spec, "data", 0.2, 0.0);
        let out = tmp.path().join("copy");
        // scrub_geo rows need geo columns.
        let err = apply_paths(
            &m,
            std::slice::from_ref(&data),
            &out,
            &ApplyOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("--geo-columns"), "{err}");
        // A file replaced since the join by another with as many rows: every position is still
        // in range but names another row, so only the stamp the join recorded catches it.
        let replaced = data.join(spec.file_path(0));
        std::fs::copy(data.join(spec.file_path(1)), &replaced).unwrap();
        let err = apply_paths(&m, std::slice::from_ref(&data), &out, &geo())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&replaced.display().to_string())
                && err.contains("changed since the join")
                && err.contains("run `xcomply join` again"),
            "{err}"
        );
        assert!(!out.exists());
        // A summary without stamps (as older versions wrote) leaves the row counts to check.
        let sp = m.join(SUMMARY_FILE);
        let mut s: JoinSummary = serde_json::from_slice(&std::fs::read(&sp).unwrap()).unwrap();
        for f in &mut s.files {
            f.stamp = None;
        }
        std::fs::write(&sp, serde_json::to_vec(&s).unwrap()).unwrap();
        // A different, shorter dataset under the same names: positions beyond its end.
        let small = DatasetSpec {
            rows_per_file: 50,
            row_group_rows: 10,
            ..spec.clone()
        };
        std::fs::remove_dir_all(&data).unwrap();
        synth::generate_dataset(&data, &small).unwrap();
        let err = apply_paths(&m, std::slice::from_ref(&data), &out, &geo())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("rows; expected the dataset the manifest was made from"),
            "{err}"
        );
        assert!(!out.exists());
        // A summary that disagrees with the manifest.
        synth::generate_dataset(&data, &spec).unwrap();
        s.delete_rows += 1;
        std::fs::write(&sp, serde_json::to_vec(&s).unwrap()).unwrap();
        let err = apply_paths(&m, std::slice::from_ref(&data), &out, &geo())
            .unwrap_err()
            .to_string();
        assert!(err.contains("incomplete"), "{err}");
        assert!(!out.exists());
        // A file added to the dataset after the join was never checked.
        std::fs::write(
            &sp,
            serde_json::to_vec(&{
                s.delete_rows -= 1;
                s.clone()
            })
            .unwrap(),
        )
        .unwrap();
        let extra = data.join("date=2030-01-01").join("part-9.parquet");
        std::fs::create_dir_all(extra.parent().unwrap()).unwrap();
        std::fs::copy(data.join(spec.file_path(0)), &extra).unwrap();
        let err = apply_paths(&m, std::slice::from_ref(&data), &out, &geo())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("part-9.parquet") && err.contains("was not part of the join"),
            "{err}"
        );
        std::fs::remove_file(&extra).unwrap();
        apply_paths(&m, std::slice::from_ref(&data), &out, &geo()).unwrap();
        std::fs::remove_dir_all(&out).unwrap();
        let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().starts_with(".xcomply"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn rehydrate_and_scrub_geo_rows_are_never_deleted() {
        let spec = DatasetSpec {
            files: 2,
            rows_per_file: 1_500,
            row_group_rows: 300,
            authors: 300,
            geo_rate: 0.5,
            ..DatasetSpec::default()
        };
        // Posts only, so that no author deletion takes a row away from its post's event.
        let (tmp, data, m) = joined(&spec, "data", 0.2, 0.0);
        let manifest = read_manifest(&m).unwrap();
        let kept: Vec<Option<i64>> = manifest
            .iter()
            .filter(|r| r.action != "delete")
            .map(|r| r.id)
            .collect();
        assert!(kept.len() > 50, "{}", kept.len());
        for (name, options) in [
            ("c1", geo()),
            (
                "c2",
                ApplyOptions {
                    no_geo_columns: true,
                    threads: 1,
                    ..ApplyOptions::default()
                },
            ),
        ] {
            let out = tmp.path().join(name);
            let s = apply_paths(&m, std::slice::from_ref(&data), &out, &options).unwrap();
            assert_eq!(s.rows_in - s.rows_out, s.rows_deleted);
            let ids: std::collections::BTreeSet<Option<i64>> = read_all(&out)
                .into_values()
                .flatten()
                .map(|(id, _)| id)
                .collect();
            assert!(kept.iter().all(|id| ids.contains(id)), "{name}");
        }
    }

    #[test]
    fn geo_columns_none_keeps_scrub_geo_rows_as_they_are_and_says_so() {
        let spec = DatasetSpec {
            files: 1,
            rows_per_file: 2_000,
            row_group_rows: 500,
            geo_rate: 1.0,
            ..DatasetSpec::default()
        };
        let (tmp, data, m) = joined(&spec, "data", 0.2, 0.0);
        let scrubs = read_manifest(&m)
            .unwrap()
            .iter()
            .filter(|r| r.action == "scrub_geo")
            .count() as u64;
        assert!(scrubs > 0);
        let none = ApplyOptions {
            no_geo_columns: true,
            ..ApplyOptions::default()
        };
        let out = tmp.path().join("copy");
        let s = apply_paths(&m, std::slice::from_ref(&data), &out, &none).unwrap();
        assert_eq!((s.rows_scrubbed, s.rows_scrub_geo_kept), (0, scrubs));
        // Every row of the copy still has its geo data: nothing was nulled.
        assert!(
            read_all(&out)
                .values()
                .flatten()
                .all(|&(_, lat_null)| !lat_null)
        );

        // Naming geo columns and none at once is a contradiction.
        let both = ApplyOptions {
            geo_columns: vec!["geo_lat".into()],
            no_geo_columns: true,
            ..ApplyOptions::default()
        };
        let err = apply_paths(
            &m,
            std::slice::from_ref(&data),
            &tmp.path().join("c2"),
            &both,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("expected either the geo columns or none"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_action_is_refused_with_its_count_and_first_row() {
        let spec = DatasetSpec {
            files: 1,
            rows_per_file: 1_000,
            row_group_rows: 250,
            ..DatasetSpec::default()
        };
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("d");
        synth::generate_dataset(&data, &spec).unwrap();
        let mut flags = synth::flag_sample(&spec, 0.1, 0.0);
        for f in flags.posts.iter_mut().filter(|f| f.action == "scrub_geo") {
            f.action = "geo_blur";
        }
        synth::write_results(&tmp.path().join("r"), &flags).unwrap();
        let m = tmp.path().join("m");
        join_paths(
            std::slice::from_ref(&data),
            &tmp.path().join("r"),
            &m,
            &JoinOptions::default(),
        )
        .unwrap();
        let manifest = read_manifest(&m).unwrap();
        let first = manifest.iter().find(|r| r.action == "geo_blur").unwrap();
        let n = manifest.iter().filter(|r| r.action == "geo_blur").count();
        let err = apply_paths(
            &m,
            std::slice::from_ref(&data),
            &tmp.path().join("c"),
            &geo(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(&format!(
                "{n} rows have an action this version does not know, the first \"geo_blur\" at {} row {}",
                first.file_path, first.pos
            )),
            "{err}"
        );
        assert!(!tmp.path().join("c").exists());
    }
}
