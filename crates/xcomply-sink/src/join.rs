//! The join: compliance results against a Parquet dataset, into a delete manifest.
//!
//! Post results match the dataset's post ID column and user results its author ID column. The
//! manifest has one row per affected dataset row, sorted by (`file_path`, `pos`), in the schema of
//! [`manifest_schema`], written to `manifest.parquet` with a `summary.json` beside it.
//!
//! How it stays fast and small:
//! - only the two ID columns are read (a projection), whatever else the dataset holds;
//! - a row group is skipped unread when its min/max statistics exclude every flagged post ID and
//!   every flagged user ID (post IDs are time-ordered snowflakes, so a dataset laid out by time
//!   prunes well against results that cover part of its time);
//! - each ID is looked up in an [`IdSet`] sized to the flagged set;
//! - row groups are read by a pool of threads at most [`WINDOW_PER_THREAD`] groups per thread
//!   ahead of the writer, and the writer streams the manifest in order, so memory is a few row
//!   groups of two columns plus the matches of the groups in flight, whatever the dataset size.
//!
//! The output is a pure function of the inputs (the same manifest bytes for the same dataset
//! and results, whatever the thread count), and both files are written atomically.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};

use arrow_array::builder::{Int64Builder, StringBuilder, TimestampMillisecondBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::basic::{Compression, ConvertedType, LogicalType, ZstdLevel};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::WriterProperties;
use parquet::file::statistics::Statistics;
use serde::{Deserialize, Serialize};

use crate::SinkError;
use crate::dataset::{self, DatasetFile, IdValues};
use crate::probe::IdSet;

/// File name of the manifest inside the output directory.
pub const MANIFEST_FILE: &str = "manifest.parquet";
/// File name of the summary inside the output directory.
pub const SUMMARY_FILE: &str = "summary.json";

/// Row groups each reading thread may run ahead of the writer. Four keeps both cores busy when
/// row groups differ in cost (a pruned one costs nothing) while holding at most a few groups'
/// matches in memory.
pub const WINDOW_PER_THREAD: usize = 4;

/// Rows per batch read from the dataset: 64 Ki rows of two ID columns is 1 MiB, small enough for
/// the cache-friendly probe loop and large enough to amortise per-batch overhead.
const READ_BATCH_ROWS: usize = 65_536;

/// Rows per manifest batch and row-group granularity of the manifest writer. Fixed, so that the
/// file is the same whatever the thread timing.
const MANIFEST_BATCH_ROWS: usize = 65_536;

/// The reason that, alone, means "scrub the geo data" instead of "delete".
pub const SCRUB_GEO: &str = "scrub_geo";

/// The Arrow schema of the manifest.
pub fn manifest_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("file_path", DataType::Utf8, false),
        Field::new("pos", DataType::Int64, false),
        Field::new("id", DataType::Int64, true),
        Field::new("author_id", DataType::Int64, true),
        Field::new("action", DataType::Utf8, false),
        Field::new("tweet_reason", DataType::Utf8, true),
        Field::new("user_reason", DataType::Utf8, true),
        Field::new(
            "redacted_at",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
    ]))
}

/// Settings of a join.
#[derive(Clone, Debug)]
pub struct JoinOptions {
    /// The dataset column of post IDs.
    pub tweet_id_column: String,
    /// The dataset column of author IDs.
    pub user_id_column: String,
    /// Skip unreadable dataset files (listed in the summary) instead of failing.
    pub lenient: bool,
    /// Reading threads; 0 means one per core.
    pub threads: usize,
    /// Let [`join_paths`] join a results directory that holds no results files (every row is
    /// kept). Off by default: a results directory given by mistake (the run directory instead of
    /// its `results/`, a shards directory) would otherwise yield an empty manifest that looks
    /// like "nothing to delete".
    pub allow_no_results: bool,
    /// Let [`join_paths`] write into a non-empty output directory that is not a previous
    /// manifest directory (only `manifest.parquet` and `summary.json` are replaced). Off by
    /// default so that a mistyped `--out` cannot mix a manifest into unrelated files.
    pub force: bool,
}

impl Default for JoinOptions {
    fn default() -> JoinOptions {
        JoinOptions {
            tweet_id_column: "id".into(),
            user_id_column: "author_id".into(),
            lenient: false,
            threads: 0,
            allow_no_results: false,
            force: false,
        }
    }
}

/// Why an ID is flagged.
#[derive(Clone, Copy, Debug)]
struct FlagInfo {
    reason: u16,
    redacted_at: Option<i64>,
}

/// The flagged posts and users of a set of results files, ready to probe.
#[derive(Debug)]
pub struct Flagged {
    posts: IdSet,
    post_info: Vec<FlagInfo>,
    users: IdSet,
    user_info: Vec<FlagInfo>,
    reasons: Vec<String>,
    files: Vec<String>,
    /// Subdirectories of the results directory that hold Parquet files, which are not read.
    nested: Vec<String>,
}

impl Flagged {
    /// Flagged post IDs.
    pub fn posts(&self) -> &IdSet {
        &self.posts
    }

    /// Flagged user IDs.
    pub fn users(&self) -> &IdSet {
        &self.users
    }

    /// The results files read, in order.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// Subdirectories of the results directory holding Parquet files, which were not read:
    /// results are read only directly from the directory, so these deserve a warning.
    pub fn nested_dirs(&self) -> &[String] {
        &self.nested
    }

    /// Builds the flagged set from `(id, is_user, reason, redacted_at)` records, as read from
    /// results files. When an ID is flagged more than once, a reason other than `scrub_geo`
    /// wins (the post must go, not only its geo data), then the alphabetically first reason,
    /// and the latest `redacted_at` is kept.
    pub fn from_records<'a>(
        records: impl IntoIterator<Item = (i64, bool, &'a str, Option<i64>)>,
    ) -> Flagged {
        let mut reasons: Vec<String> = Vec::new();
        let mut posts = Vec::new();
        let mut users = Vec::new();
        for (id, is_user, reason, redacted) in records {
            let r = intern(&mut reasons, reason);
            if is_user { &mut users } else { &mut posts }.push((id, r, redacted));
        }
        let (posts, post_info) = fold(posts, &reasons);
        let (users, user_info) = fold(users, &reasons);
        Flagged {
            posts,
            post_info,
            users,
            user_info,
            reasons,
            files: Vec::new(),
            nested: Vec::new(),
        }
    }
}

fn intern(reasons: &mut Vec<String>, reason: &str) -> u16 {
    if let Some(i) = reasons.iter().position(|r| r == reason) {
        return i as u16;
    }
    reasons.push(reason.to_owned());
    (reasons.len() - 1) as u16
}

fn fold(mut records: Vec<(i64, u16, Option<i64>)>, reasons: &[String]) -> (IdSet, Vec<FlagInfo>) {
    let rank = |r: u16| {
        (
            reasons[r as usize] == SCRUB_GEO,
            reasons[r as usize].as_str(),
        )
    };
    records.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| rank(a.1).cmp(&rank(b.1))));
    let mut ids = Vec::with_capacity(records.len());
    let mut info: Vec<FlagInfo> = Vec::with_capacity(records.len());
    for (id, reason, redacted) in records {
        if ids.last() == Some(&id) {
            let last = info.last_mut().expect("info parallels ids");
            last.redacted_at = last.redacted_at.max(redacted);
        } else {
            ids.push(id);
            info.push(FlagInfo {
                reason,
                redacted_at: redacted,
            });
        }
    }
    let set = IdSet::new(ids);
    debug_assert_eq!(set.len(), info.len());
    (set, info)
}

/// Reads every results Parquet file (`*.parquet`, not hidden) in `dir`: columns `id`, `reason`,
/// `redacted_at` and `job_type` (`tweets` or `users`; when the column is absent, the file name
/// must start with `tweets` or `users`).
pub fn load_results(dir: &Path) -> Result<Flagged, SinkError> {
    let io = |source| SinkError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    let visible = |p: &Path| {
        p.file_name()
            .is_some_and(|n| !n.to_string_lossy().starts_with(['.', '_']))
    };
    let is_results_file =
        |p: &Path| p.is_file() && p.extension().is_some_and(|e| e == "parquet") && visible(p);
    // Results nested one level down (a run directory's `results/`, or results filed by month)
    // are not read, since a directory of runs would otherwise join every run's results at once;
    // they are named so that nobody mistakes an incomplete manifest for a complete one.
    let mut nested: Vec<String> = paths
        .iter()
        .filter(|p| p.is_dir() && visible(p))
        .filter(|p| {
            std::fs::read_dir(p)
                .is_ok_and(|entries| entries.flatten().any(|e| is_results_file(&e.path())))
        })
        .map(|p| p.display().to_string())
        .collect();
    nested.sort();
    paths.retain(|p| is_results_file(p));
    paths.sort();
    let mut reasons: Vec<String> = Vec::new();
    let mut posts = Vec::new();
    let mut users = Vec::new();
    for path in &paths {
        read_results_file(path, &mut reasons, &mut posts, &mut users)?;
    }
    let (post_set, post_info) = fold(posts, &reasons);
    let (user_set, user_info) = fold(users, &reasons);
    Ok(Flagged {
        posts: post_set,
        post_info,
        users: user_set,
        user_info,
        reasons,
        files: paths.iter().map(|p| p.display().to_string()).collect(),
        nested,
    })
}

type Records = Vec<(i64, u16, Option<i64>)>;

fn read_results_file(
    path: &Path,
    reasons: &mut Vec<String>,
    posts: &mut Records,
    users: &mut Records,
) -> Result<(), SinkError> {
    let pq = |source| SinkError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let schema_err = |message: String| SinkError::Schema {
        path: path.to_path_buf(),
        message,
    };
    let file = File::open(path).map_err(|source| SinkError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(pq)?;
    let schema = builder.schema().clone();
    let index = |name: &str| schema.index_of(name).ok();
    let id_col = index("id").ok_or_else(|| {
        schema_err(
            "column `id` not found; expected a results file written by `xcomply decode`".into(),
        )
    })?;
    let reason_col = index("reason").ok_or_else(|| {
        schema_err(
            "column `reason` not found; expected a results file written by `xcomply decode`".into(),
        )
    })?;
    let redacted_col = index("redacted_at");
    let type_col = index("job_type");
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let default_is_user = if name.starts_with("users") {
        Some(true)
    } else if name.starts_with("tweets") {
        Some(false)
    } else {
        None
    };
    if type_col.is_none() && default_is_user.is_none() {
        return Err(schema_err(
            "no `job_type` column and the file name does not start with `tweets` or `users`".into(),
        ));
    }
    let roots: Vec<usize> = [Some(id_col), Some(reason_col), redacted_col, type_col]
        .into_iter()
        .flatten()
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder.with_projection(mask).build().map_err(pq)?;
    let mut tmp_types: Vec<String> = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|source| SinkError::Arrow {
            path: path.to_path_buf(),
            source,
        })?;
        let ids = dataset::id_values(batch.column_by_name("id").expect("projected")).ok_or_else(
            || {
                schema_err(format!(
                    "column `id` has type {}; expected INT64",
                    schema.field(id_col).data_type()
                ))
            },
        )?;
        let reason = interned(batch.column_by_name("reason").expect("projected"), reasons)
            .ok_or_else(|| {
                schema_err(format!(
                    "column `reason` has type {}; expected a string",
                    schema.field(reason_col).data_type()
                ))
            })?;
        let redacted = match batch.column_by_name("redacted_at") {
            Some(c) => Some(
                c.as_primitive_opt::<TimestampMillisecondType>()
                    .ok_or_else(|| {
                        schema_err(format!(
                            "column `redacted_at` has type {}; expected TIMESTAMP(MILLIS, UTC)",
                            c.data_type()
                        ))
                    })?,
            ),
            None => None,
        };
        let types = match batch.column_by_name("job_type") {
            Some(c) => Some(interned(c, &mut tmp_types).ok_or_else(|| {
                schema_err(format!(
                    "column `job_type` has type {}; expected a string",
                    c.data_type()
                ))
            })?),
            None => None,
        };
        for i in 0..batch.num_rows() {
            let Some(id) = ids.get(i) else {
                return Err(schema_err(format!(
                    "row {i} of a batch has a null or invalid `id`; results IDs are never null"
                )));
            };
            let Some(r) = reason[i] else {
                return Err(schema_err(format!(
                    "row {i} of a batch has a null `reason`; expected a reason such as \"deleted\""
                )));
            };
            let is_user = match types.as_ref().and_then(|t| t[i]) {
                Some(t) => match tmp_types[t as usize].as_str() {
                    "users" => true,
                    "tweets" => false,
                    other => {
                        return Err(schema_err(format!(
                            "`job_type` is {other:?}; expected \"tweets\" or \"users\""
                        )));
                    }
                },
                None => default_is_user.ok_or_else(|| {
                    schema_err("null `job_type`; expected \"tweets\" or \"users\"".into())
                })?,
            };
            let red = redacted.and_then(|a| a.is_valid(i).then(|| a.value(i)));
            if is_user { &mut *users } else { &mut *posts }.push((id, r, red));
        }
    }
    Ok(())
}

/// The strings of a dictionary or plain string column, interned into `table`.
fn interned(array: &ArrayRef, table: &mut Vec<String>) -> Option<Vec<Option<u16>>> {
    if let Some(dict) = array.as_dictionary_opt::<Int32Type>() {
        let values = dict.values();
        let strings = values.as_string_opt::<i32>()?;
        let map: Vec<u16> = strings
            .iter()
            .map(|s| intern(table, s.unwrap_or("")))
            .collect();
        return Some(
            dict.keys()
                .iter()
                .map(|k| k.map(|k| map[k as usize]))
                .collect(),
        );
    }
    if let Some(s) = array.as_string_opt::<i32>() {
        return Some(s.iter().map(|v| v.map(|v| intern(table, v))).collect());
    }
    if let Some(s) = array.as_string_opt::<i64>() {
        return Some(s.iter().map(|v| v.map(|v| intern(table, v))).collect());
    }
    None
}

/// What a join did, written as `summary.json`.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct JoinSummary {
    /// Results files read.
    pub results_files: Vec<String>,
    /// Subdirectories of the results directory that hold Parquet files and were not read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_results_dirs: Vec<String>,
    /// Distinct flagged post IDs in the results.
    pub flagged_posts: u64,
    /// Distinct flagged user IDs in the results.
    pub flagged_users: u64,
    /// Dataset files joined (skipped files not counted).
    pub files_scanned: u64,
    /// Rows of the dataset files joined.
    pub rows: u64,
    /// Rows actually read (rows of row groups not skipped).
    pub rows_scanned: u64,
    /// Row groups of the dataset files joined.
    pub row_groups: u64,
    /// Row groups skipped because their statistics excluded every flagged ID.
    pub row_groups_skipped: u64,
    /// Rows of the manifest.
    pub manifest_rows: u64,
    /// Manifest rows with action `delete`.
    pub delete_rows: u64,
    /// Manifest rows with action `scrub_geo`.
    pub scrub_geo_rows: u64,
    /// Manifest rows per post reason.
    pub tweet_reasons: BTreeMap<String, u64>,
    /// Manifest rows per user reason.
    pub user_reasons: BTreeMap<String, u64>,
    /// Non-null dataset ID values that are not IDs (negative, too large, not digits); they never match.
    pub invalid_ids: u64,
    /// Files skipped with `--lenient`, and why.
    pub skipped_files: Vec<SkippedFile>,
    /// Per dataset file joined.
    pub files: Vec<FileSummary>,
}

/// A dataset file skipped by a lenient join.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SkippedFile {
    /// The file, as in `file_path`.
    pub path: String,
    /// Why it could not be read.
    pub error: String,
}

/// What the join found in one dataset file.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct FileSummary {
    /// The file, as in `file_path`.
    pub path: String,
    /// Rows in the file.
    pub rows: u64,
    /// Row groups in the file.
    pub row_groups: u64,
    /// Row groups skipped by statistics.
    pub row_groups_skipped: u64,
    /// Manifest rows for this file.
    pub manifest_rows: u64,
    /// Of which `delete`.
    pub delete_rows: u64,
    /// Of which `scrub_geo`.
    pub scrub_geo_rows: u64,
    /// The file as the join read it (size and modification time), so that `apply` can refuse a
    /// file rewritten since: the manifest's row positions would name other rows. Absent in
    /// summaries written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<dataset::FileStamp>,
}

/// Discovers the dataset, reads the results and joins them into `out` (see [`join`]).
///
/// A results directory without results files is an error ([`SinkError::NoResults`]) unless
/// [`JoinOptions::allow_no_results`] is set, and so is an unusable `out` (see [`check_output`]).
pub fn join_paths(
    dataset_inputs: &[PathBuf],
    results: &Path,
    out: &Path,
    options: &JoinOptions,
) -> Result<JoinSummary, SinkError> {
    check_output(out, dataset_inputs, options.force)?;
    let files = dataset::discover(dataset_inputs)?;
    let flagged = load_results(results)?;
    if flagged.files.is_empty() && !options.allow_no_results {
        return Err(SinkError::NoResults {
            dir: results.to_path_buf(),
            nested: flagged.nested,
        });
    }
    join(&files, &flagged, out, options)
}

/// Prefix of the temporary files the join writes beside its outputs before renaming them into
/// place; a leftover of an interrupted join still marks the directory as a manifest directory.
const TEMP_PREFIX: &str = ".xcomply-join-";

/// Whether `out` is a previous manifest directory: it holds only `manifest.parquet`,
/// `summary.json` and leftover temporary files of a join.
pub fn is_manifest_dir(out: &Path) -> bool {
    std::fs::read_dir(out).is_ok_and(|entries| {
        entries.flatten().all(|e| {
            let name = e.file_name();
            name == MANIFEST_FILE
                || name == SUMMARY_FILE
                || name.to_string_lossy().starts_with(TEMP_PREFIX)
        })
    })
}

/// Checks that `out` can take a manifest made from `dataset_inputs`: it must not be, or be
/// inside, a directory the dataset discovery walks (nor match a dataset glob), since the next
/// join would read it; and it must not exist, be empty or be a previous manifest directory
/// (whose two files are then replaced, each by an atomic rename), unless `force`. Paths are
/// compared after [`dataset::resolve`], so `./ds`, `ds` and `/abs/ds` are the same directory.
pub fn check_output(out: &Path, dataset_inputs: &[PathBuf], force: bool) -> Result<(), SinkError> {
    let refuse = |message: String| SinkError::Output {
        path: out.to_path_buf(),
        message,
    };
    if let Some(input) = dataset::input_containing(out, &out.join(MANIFEST_FILE), dataset_inputs) {
        return Err(refuse(format!(
            "is inside the dataset input {}, so the next join would read the manifest as data; expected an output directory outside the dataset",
            input.display()
        )));
    }
    if out.exists() && !out.is_dir() {
        return Err(refuse(
            "exists and is not a directory; expected a new or empty directory for the manifest"
                .into(),
        ));
    }
    if !force && out.is_dir() && !is_manifest_dir(out) {
        let mut foreign: Vec<String> = std::fs::read_dir(out)
            .map_err(|source| SinkError::Io {
                path: out.to_path_buf(),
                source,
            })?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != MANIFEST_FILE && n != SUMMARY_FILE && !n.starts_with(TEMP_PREFIX))
            .collect();
        foreign.sort();
        return Err(refuse(format!(
            "directory is not empty and is not a previous manifest directory (it holds {:?}{}); expected a new or empty directory, or one written by `xcomply join` (--force writes into it anyway)",
            foreign.first().map_or("", String::as_str),
            if foreign.len() > 1 {
                format!(" and {} more", foreign.len() - 1)
            } else {
                String::new()
            }
        )));
    }
    Ok(())
}

/// A dataset file ready to scan: its footer, the ID columns found in it, its row groups.
struct Prepared {
    meta: ArrowReaderMetadata,
    /// The file's size and modification time when its footer was read.
    stamp: dataset::FileStamp,
    mask: ProjectionMask,
    /// First row of each row group.
    offsets: Vec<i64>,
    /// Row groups to read (not excluded by their statistics).
    read: Vec<usize>,
}

/// One scanned row that matched.
#[derive(Clone, Copy, Debug)]
struct Match {
    pos: i64,
    id: Option<i64>,
    author: Option<i64>,
    post: Option<u32>,
    user: Option<u32>,
}

struct TaskOut {
    matches: Vec<Match>,
    rows: u64,
    invalid: u64,
}

/// Joins `flagged` against the dataset files into `out/manifest.parquet` and `out/summary.json`
/// (the directory is created if needed; both files are replaced atomically).
pub fn join(
    files: &[DatasetFile],
    flagged: &Flagged,
    out: &Path,
    options: &JoinOptions,
) -> Result<JoinSummary, SinkError> {
    std::fs::create_dir_all(out).map_err(|source| SinkError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let mut summary = JoinSummary {
        results_files: flagged.files.clone(),
        ignored_results_dirs: flagged.nested.clone(),
        flagged_posts: flagged.posts.len() as u64,
        flagged_users: flagged.users.len() as u64,
        ..JoinSummary::default()
    };
    // Footers first, in order: a file whose footer or columns are wrong fails (or is skipped)
    // before any work starts.
    let mut prepared: Vec<Option<Prepared>> = Vec::with_capacity(files.len());
    for f in files {
        match prepare(f, flagged, options) {
            Ok(p) => prepared.push(Some(p)),
            Err(e) if options.lenient => {
                summary.skipped_files.push(SkippedFile {
                    path: f.display.clone(),
                    error: e.to_string(),
                });
                prepared.push(None);
            }
            Err(e) => return Err(e),
        }
    }
    let tasks: Vec<(usize, usize)> = prepared
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.as_ref().map(|p| (i, p)))
        .flat_map(|(i, p)| p.read.iter().map(move |&rg| (i, rg)))
        .collect();
    let threads = if options.threads == 0 {
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    } else {
        options.threads
    };
    let window = threads * WINDOW_PER_THREAD;

    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(out)
        .map_err(|source| SinkError::Io {
            path: out.to_path_buf(),
            source,
        })?;
    let manifest_path = out.join(MANIFEST_FILE);
    let mut writer = ManifestWriter::new(
        tmp.as_file().try_clone().map_err(|source| SinkError::Io {
            path: manifest_path.clone(),
            source,
        })?,
        &manifest_path,
    )?;

    // Workers take tasks in order, never more than `window` ahead of the writer.
    let gate = Mutex::new((0usize, 0usize)); // (next task to take, tasks written)
    let cv = Condvar::new();
    let abort = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, Result<TaskOut, SinkError>)>();
    let result = std::thread::scope(|s| {
        for _ in 0..threads.min(tasks.len()) {
            let tx = tx.clone();
            let (gate, cv, abort, tasks, prepared) = (&gate, &cv, &abort, &tasks, &prepared);
            s.spawn(move || {
                loop {
                    let t = {
                        let mut g = gate.lock().expect("no panics while locked");
                        while g.0 < tasks.len()
                            && g.0 >= g.1 + window
                            && !abort.load(Ordering::Relaxed)
                        {
                            g = cv.wait(g).expect("no panics while locked");
                        }
                        if g.0 >= tasks.len() || abort.load(Ordering::Relaxed) {
                            return;
                        }
                        g.0 += 1;
                        g.0 - 1
                    };
                    let (fi, rg) = tasks[t];
                    let p = prepared[fi]
                        .as_ref()
                        .expect("tasks only for prepared files");
                    let r = scan_row_group(&files[fi], p, rg, flagged, options);
                    if tx.send((t, r)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let r = collect(
            files,
            &prepared,
            &tasks,
            flagged,
            options,
            &rx,
            &gate,
            &cv,
            &mut writer,
            &mut summary,
        );
        abort.store(true, Ordering::Relaxed);
        cv.notify_all();
        r
    });
    result?;
    writer.finish()?;
    tmp.as_file_mut()
        .sync_all()
        .map_err(|source| SinkError::Io {
            path: manifest_path.clone(),
            source,
        })?;
    tmp.persist(&manifest_path).map_err(|e| SinkError::Io {
        path: manifest_path.clone(),
        source: e.error,
    })?;
    let json = serde_json::to_vec_pretty(&summary).expect("the summary serialises");
    write_atomic(&out.join(SUMMARY_FILE), &json)?;
    Ok(summary)
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SinkError> {
    let io = |source| SinkError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Receives scanned row groups in any order and writes them in task order, file by file. In
/// lenient mode a file's matches are held until its last row group is read, so that a file that
/// fails halfway contributes nothing.
#[allow(clippy::too_many_arguments)] // The scope's shared state, passed explicitly rather than bundled for one call.
fn collect(
    files: &[DatasetFile],
    prepared: &[Option<Prepared>],
    tasks: &[(usize, usize)],
    flagged: &Flagged,
    options: &JoinOptions,
    rx: &mpsc::Receiver<(usize, Result<TaskOut, SinkError>)>,
    gate: &Mutex<(usize, usize)>,
    cv: &Condvar,
    writer: &mut ManifestWriter,
    summary: &mut JoinSummary,
) -> Result<(), SinkError> {
    let mut pending: BTreeMap<usize, Result<TaskOut, SinkError>> = BTreeMap::new();
    let mut next = 0usize;
    for (fi, file) in files.iter().enumerate() {
        let Some(p) = &prepared[fi] else { continue };
        let md = p.meta.metadata();
        let mut fs = FileSummary {
            path: file.display.clone(),
            rows: md.file_metadata().num_rows() as u64,
            row_groups: md.num_row_groups() as u64,
            row_groups_skipped: (md.num_row_groups() - p.read.len()) as u64,
            stamp: Some(p.stamp),
            ..FileSummary::default()
        };
        let mut held: Vec<Match> = Vec::new();
        let mut failed: Option<SinkError> = None;
        let mut rows_scanned = 0;
        let mut invalid = 0;
        for _ in 0..p.read.len() {
            let out = loop {
                if let Some(r) = pending.remove(&next) {
                    break r;
                }
                let (t, r) = rx
                    .recv()
                    .expect("workers send every task they take before exiting");
                pending.insert(t, r);
            };
            debug_assert_eq!(tasks[next].0, fi);
            next += 1;
            {
                let mut g = gate.lock().expect("no panics while locked");
                g.1 = next;
            }
            cv.notify_all();
            match out {
                Ok(o) if failed.is_none() => {
                    rows_scanned += o.rows;
                    invalid += o.invalid;
                    if options.lenient {
                        held.extend(o.matches);
                    } else {
                        for m in &o.matches {
                            writer.push(&file.display, m, flagged, &mut fs, summary)?;
                        }
                    }
                }
                Ok(_) => {}
                Err(e) if options.lenient => failed = failed.or(Some(e)),
                Err(e) => return Err(e),
            }
        }
        if let Some(e) = failed {
            summary.skipped_files.push(SkippedFile {
                path: file.display.clone(),
                error: e.to_string(),
            });
            continue;
        }
        for m in &held {
            writer.push(&file.display, m, flagged, &mut fs, summary)?;
        }
        summary.files_scanned += 1;
        summary.rows += fs.rows;
        summary.rows_scanned += rows_scanned;
        summary.row_groups += fs.row_groups;
        summary.row_groups_skipped += fs.row_groups_skipped;
        summary.invalid_ids += invalid;
        summary.files.push(fs);
    }
    // Skipped files are listed in dataset order, whichever step found them unreadable.
    let order: BTreeMap<&str, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.display.as_str(), i))
        .collect();
    summary
        .skipped_files
        .sort_by_key(|s| order.get(s.path.as_str()).copied());
    Ok(())
}

/// Whether a column's values are stored as INT32/INT64 but mean unsigned integers, whose
/// statistics then order as unsigned.
fn is_unsigned(md: &ParquetMetaData, leaf: usize) -> bool {
    let col = md.file_metadata().schema_descr().column(leaf);
    matches!(col.logical_type_ref(), Some(LogicalType::Integer(t)) if !t.is_signed)
        || matches!(
            col.converted_type(),
            ConvertedType::UINT_64 | ConvertedType::UINT_32
        )
}

/// The `[min, max]` of an integer ID column chunk, when its statistics give one.
fn id_range(stats: Option<&Statistics>, unsigned: bool) -> Option<(i64, i64)> {
    match stats? {
        Statistics::Int64(s) => {
            let (lo, hi) = (*s.min_opt()?, *s.max_opt()?);
            if unsigned {
                // Bit patterns of u64 values; above i64::MAX they are not IDs and never match.
                let (lo, hi) = (lo as u64, hi as u64);
                if lo > i64::MAX as u64 {
                    return Some((1, 0)); // An empty range: no ID can match.
                }
                Some((lo as i64, hi.min(i64::MAX as u64) as i64))
            } else {
                Some((lo, hi))
            }
        }
        Statistics::Int32(s) => {
            let (lo, hi) = (*s.min_opt()?, *s.max_opt()?);
            if unsigned {
                Some((i64::from(lo as u32), i64::from(hi as u32)))
            } else {
                Some((i64::from(lo), i64::from(hi)))
            }
        }
        _ => None,
    }
}

fn prepare(
    file: &DatasetFile,
    flagged: &Flagged,
    options: &JoinOptions,
) -> Result<Prepared, SinkError> {
    let path = &file.path;
    let f = File::open(path).map_err(|source| SinkError::Io {
        path: path.clone(),
        source,
    })?;
    let stamp = dataset::FileStamp::of_open(&f).map_err(|source| SinkError::Io {
        path: path.clone(),
        source,
    })?;
    let meta = ArrowReaderMetadata::load(&f, ArrowReaderOptions::new()).map_err(|source| {
        SinkError::Parquet {
            path: path.clone(),
            source,
        }
    })?;
    let md = meta.metadata().clone();
    let descr = md.file_metadata().schema_descr();
    let leaf_of = |name: &str| -> Result<usize, SinkError> {
        let leaf = (0..descr.num_columns()).find(|&i| descr.column(i).path().parts() == [name]).ok_or_else(|| SinkError::Schema {
            path: path.clone(),
            message: format!("column `{name}` not found; expected a top-level ID column (see --tweet-id-column and --user-id-column)"),
        })?;
        let field = meta
            .schema()
            .field_with_name(name)
            .map_err(|source| SinkError::Arrow {
                path: path.clone(),
                source,
            })?;
        if !dataset::is_id_type(field.data_type()) {
            return Err(SinkError::Schema {
                path: path.clone(),
                message: format!(
                    "column `{name}` has type {}; expected int64, uint64 or decimal strings",
                    field.data_type()
                ),
            });
        }
        Ok(leaf)
    };
    let id_leaf = leaf_of(&options.tweet_id_column)?;
    let user_leaf = leaf_of(&options.user_id_column)?;
    let mask = ProjectionMask::leaves(descr, [id_leaf, user_leaf]);
    let (id_unsigned, user_unsigned) = (is_unsigned(&md, id_leaf), is_unsigned(&md, user_leaf));
    let mut offsets = Vec::with_capacity(md.num_row_groups());
    let mut read = Vec::new();
    let mut first = 0i64;
    for (i, rg) in md.row_groups().iter().enumerate() {
        offsets.push(first);
        first += rg.num_rows();
        let overlaps = |leaf: usize, unsigned: bool, set: &IdSet| {
            let chunk = rg.column(leaf);
            if chunk.statistics().and_then(Statistics::null_count_opt) == Some(rg.num_rows() as u64)
            {
                return false; // All null: nothing can match.
            }
            match id_range(chunk.statistics(), unsigned) {
                Some((lo, hi)) => lo <= hi && set.any_in_range(lo, hi),
                None => !set.is_empty(),
            }
        };
        if rg.num_rows() > 0
            && (overlaps(id_leaf, id_unsigned, &flagged.posts)
                || overlaps(user_leaf, user_unsigned, &flagged.users))
        {
            read.push(i);
        }
    }
    Ok(Prepared {
        meta,
        stamp,
        mask,
        offsets,
        read,
    })
}

fn scan_row_group(
    file: &DatasetFile,
    p: &Prepared,
    rg: usize,
    flagged: &Flagged,
    options: &JoinOptions,
) -> Result<TaskOut, SinkError> {
    let path = &file.path;
    let pq = |source| SinkError::Parquet {
        path: path.clone(),
        source,
    };
    let f = File::open(path).map_err(|source| SinkError::Io {
        path: path.clone(),
        source,
    })?;
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(f, p.meta.clone())
        .with_projection(p.mask.clone())
        .with_row_groups(vec![rg])
        .with_batch_size(READ_BATCH_ROWS)
        .build()
        .map_err(pq)?;
    let mut pos = p.offsets[rg];
    let mut out = TaskOut {
        matches: Vec::new(),
        rows: 0,
        invalid: 0,
    };
    let column = |batch: &RecordBatch, name: &str| -> Result<IdValues, SinkError> {
        let c = batch.column_by_name(name).expect("projected column");
        dataset::id_values(c).ok_or_else(|| SinkError::Schema {
            path: path.clone(),
            message: format!(
                "column `{name}` has type {}; expected int64, uint64 or decimal strings",
                c.data_type()
            ),
        })
    };
    for batch in reader {
        let batch = batch.map_err(|source| SinkError::Arrow {
            path: path.clone(),
            source,
        })?;
        let ids = column(&batch, &options.tweet_id_column)?;
        let authors = column(&batch, &options.user_id_column)?;
        out.invalid += ids.invalid + authors.invalid;
        probe_batch(&ids, &authors, flagged, pos, &mut out.matches);
        pos += batch.num_rows() as i64;
        out.rows += batch.num_rows() as u64;
    }
    let expected = p.meta.metadata().row_group(rg).num_rows() as u64;
    if out.rows != expected {
        return Err(SinkError::Schema {
            path: path.clone(),
            message: format!(
                "row group {rg} yielded {} rows; its metadata says {expected}",
                out.rows
            ),
        });
    }
    Ok(out)
}

/// The hot loop: the post IDs of a batch against the flagged posts (a merge when the batch is
/// sorted, as time-ordered datasets are), the author IDs against the flagged users, then the two
/// row-ordered hit lists merged into matches.
fn probe_batch(
    ids: &IdValues,
    authors: &IdValues,
    flagged: &Flagged,
    first_pos: i64,
    out: &mut Vec<Match>,
) {
    let mut post_hits: Vec<(usize, u32)> = Vec::new();
    let mut user_hits: Vec<(usize, u32)> = Vec::new();
    flagged
        .posts
        .probe_batch(&ids.values, ids.valid.as_ref(), |i, x| {
            post_hits.push((i, x as u32));
        });
    flagged
        .users
        .probe_batch(&authors.values, authors.valid.as_ref(), |i, x| {
            user_hits.push((i, x as u32));
        });
    let (mut p, mut u) = (post_hits.iter().peekable(), user_hits.iter().peekable());
    loop {
        let row = match (p.peek(), u.peek()) {
            (None, None) => break,
            (Some(a), None) => a.0,
            (None, Some(b)) => b.0,
            (Some(a), Some(b)) => a.0.min(b.0),
        };
        let post = p.next_if(|h| h.0 == row).map(|h| h.1);
        let user = u.next_if(|h| h.0 == row).map(|h| h.1);
        out.push(Match {
            pos: first_pos + row as i64,
            id: ids.get(row),
            author: authors.get(row),
            post,
            user,
        });
    }
}

/// Streams manifest rows into Parquet in fixed-size batches.
struct ManifestWriter {
    path: PathBuf,
    writer: ArrowWriter<BufWriter<File>>,
    file_path: StringBuilder,
    pos: Int64Builder,
    id: Int64Builder,
    author: Int64Builder,
    action: StringBuilder,
    tweet_reason: StringBuilder,
    user_reason: StringBuilder,
    redacted: TimestampMillisecondBuilder,
    rows: usize,
}

impl ManifestWriter {
    fn new(file: File, path: &Path) -> Result<ManifestWriter, SinkError> {
        // zstd and dictionaries: file paths, actions and reasons repeat on every row.
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_dictionary_enabled(true)
            .set_max_row_group_row_count(Some(1 << 20))
            .build();
        let writer = ArrowWriter::try_new(BufWriter::new(file), manifest_schema(), Some(props))
            .map_err(|source| SinkError::Parquet {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(ManifestWriter {
            path: path.to_path_buf(),
            writer,
            file_path: StringBuilder::new(),
            pos: Int64Builder::new(),
            id: Int64Builder::new(),
            author: Int64Builder::new(),
            action: StringBuilder::new(),
            tweet_reason: StringBuilder::new(),
            user_reason: StringBuilder::new(),
            redacted: TimestampMillisecondBuilder::new().with_timezone("UTC"),
            rows: 0,
        })
    }

    fn push(
        &mut self,
        file_path: &str,
        m: &Match,
        flagged: &Flagged,
        fs: &mut FileSummary,
        summary: &mut JoinSummary,
    ) -> Result<(), SinkError> {
        let post = m.post.map(|i| flagged.post_info[i as usize]);
        let user = m.user.map(|i| flagged.user_info[i as usize]);
        let tweet_reason = post.map(|p| flagged.reasons[p.reason as usize].as_str());
        let user_reason = user.map(|u| flagged.reasons[u.reason as usize].as_str());
        let scrub = tweet_reason == Some(SCRUB_GEO) && user_reason.is_none();
        self.file_path.append_value(file_path);
        self.pos.append_value(m.pos);
        self.id.append_option(m.id);
        self.author.append_option(m.author);
        self.action
            .append_value(if scrub { SCRUB_GEO } else { "delete" });
        self.tweet_reason.append_option(tweet_reason);
        self.user_reason.append_option(user_reason);
        self.redacted.append_option(
            post.and_then(|p| p.redacted_at)
                .or(user.and_then(|u| u.redacted_at)),
        );
        fs.manifest_rows += 1;
        summary.manifest_rows += 1;
        if scrub {
            fs.scrub_geo_rows += 1;
            summary.scrub_geo_rows += 1;
        } else {
            fs.delete_rows += 1;
            summary.delete_rows += 1;
        }
        if let Some(r) = tweet_reason {
            *summary.tweet_reasons.entry(r.to_owned()).or_default() += 1;
        }
        if let Some(r) = user_reason {
            *summary.user_reasons.entry(r.to_owned()).or_default() += 1;
        }
        self.rows += 1;
        if self.rows == MANIFEST_BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        if self.rows == 0 {
            return Ok(());
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.file_path.finish()),
            Arc::new(self.pos.finish()),
            Arc::new(self.id.finish()),
            Arc::new(self.author.finish()),
            Arc::new(self.action.finish()),
            Arc::new(self.tweet_reason.finish()),
            Arc::new(self.user_reason.finish()),
            Arc::new(self.redacted.finish()),
        ];
        let batch = RecordBatch::try_new(manifest_schema(), columns).map_err(|source| {
            SinkError::Arrow {
                path: self.path.clone(),
                source,
            }
        })?;
        self.writer
            .write(&batch)
            .map_err(|source| SinkError::Parquet {
                path: self.path.clone(),
                source,
            })?;
        self.rows = 0;
        Ok(())
    }

    fn finish(mut self) -> Result<(), SinkError> {
        self.flush()?;
        let path = self.path.clone();
        let inner = self
            .writer
            .into_inner()
            .map_err(|source| SinkError::Parquet {
                path: path.clone(),
                source,
            })?;
        inner.into_inner().map_err(|e| SinkError::Io {
            path,
            source: e.into_error(),
        })?;
        Ok(())
    }
}

/// One manifest row, as [`read_manifest`] returns it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ManifestRow {
    /// The dataset file.
    pub file_path: String,
    /// 0-based row index in that file.
    pub pos: i64,
    /// The row's post ID.
    pub id: Option<i64>,
    /// The row's author ID.
    pub author_id: Option<i64>,
    /// `delete` or `scrub_geo`.
    pub action: String,
    /// Why the post is flagged.
    pub tweet_reason: Option<String>,
    /// Why the author is flagged.
    pub user_reason: Option<String>,
    /// When it was redacted, Unix milliseconds.
    pub redacted_at: Option<i64>,
}

/// Reads `dir/manifest.parquet` (or the file itself when `dir` is a file) into rows.
pub fn read_manifest(dir: &Path) -> Result<Vec<ManifestRow>, SinkError> {
    let path = if dir.is_dir() {
        dir.join(MANIFEST_FILE)
    } else {
        dir.to_path_buf()
    };
    let pq = |source| SinkError::Parquet {
        path: path.clone(),
        source,
    };
    let f = File::open(&path).map_err(|source| SinkError::Io {
        path: path.clone(),
        source,
    })?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(pq)?
        .build()
        .map_err(pq)?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|source| SinkError::Arrow {
            path: path.clone(),
            source,
        })?;
        let col = |name: &str| {
            batch.column_by_name(name).ok_or_else(|| SinkError::Schema {
                path: path.clone(),
                message: format!(
                    "column `{name}` not found; expected a manifest written by `xcomply join`"
                ),
            })
        };
        let bad = |name: &str| SinkError::Schema {
            path: path.clone(),
            message: format!("column `{name}` has the wrong type; expected the manifest schema"),
        };
        let fp = col("file_path")?
            .as_string_opt::<i32>()
            .ok_or_else(|| bad("file_path"))?;
        let pos = col("pos")?
            .as_primitive_opt::<arrow_array::types::Int64Type>()
            .ok_or_else(|| bad("pos"))?;
        let id = col("id")?
            .as_primitive_opt::<arrow_array::types::Int64Type>()
            .ok_or_else(|| bad("id"))?;
        let au = col("author_id")?
            .as_primitive_opt::<arrow_array::types::Int64Type>()
            .ok_or_else(|| bad("author_id"))?;
        let action = col("action")?
            .as_string_opt::<i32>()
            .ok_or_else(|| bad("action"))?;
        let tr = col("tweet_reason")?
            .as_string_opt::<i32>()
            .ok_or_else(|| bad("tweet_reason"))?;
        let ur = col("user_reason")?
            .as_string_opt::<i32>()
            .ok_or_else(|| bad("user_reason"))?;
        let ra = col("redacted_at")?
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or_else(|| bad("redacted_at"))?;
        let opt_i = |a: &arrow_array::PrimitiveArray<arrow_array::types::Int64Type>, i: usize| {
            a.is_valid(i).then(|| a.value(i))
        };
        let opt_s =
            |a: &arrow_array::StringArray, i: usize| a.is_valid(i).then(|| a.value(i).to_owned());
        for i in 0..batch.num_rows() {
            rows.push(ManifestRow {
                file_path: fp.value(i).to_owned(),
                pos: pos.value(i),
                id: opt_i(id, i),
                author_id: opt_i(au, i),
                action: action.value(i).to_owned(),
                tweet_reason: opt_s(tr, i),
                user_reason: opt_s(ur, i),
                redacted_at: ra.is_valid(i).then(|| ra.value(i)),
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{self, DatasetSpec, Flag, Flags, IdColumnType};

    /// A manifest row without IDs and time: (file, pos, action, tweet reason, user reason).
    type Row<'a> = (String, i64, &'a str, Option<&'a str>, Option<&'a str>);

    fn spec() -> DatasetSpec {
        DatasetSpec {
            files: 3,
            rows_per_file: 3_000,
            row_group_rows: 500,
            authors: 300,
            repeated_id_rows: 40,
            ..DatasetSpec::default()
        }
    }

    /// The expected manifest, computed from the generator's pure functions, not from the files.
    fn expected(spec: &DatasetSpec, root: &Path, flags: &Flags) -> Vec<Row<'static>> {
        let find = |list: &[Flag], id: Option<i64>| {
            id.and_then(|id| list.iter().find(|f| f.id == id).map(|f| f.reason))
        };
        let mut rows = Vec::new();
        for f in 0..spec.files {
            let path = root.join(spec.file_path(f)).display().to_string();
            for r in 0..spec.rows_per_file {
                let g = (f * spec.rows_per_file + r) as u64;
                let tr = find(&flags.posts, synth::post_id_at(spec, g));
                let ur = find(&flags.users, synth::author_id_at(spec, g));
                if tr.is_some() || ur.is_some() {
                    let action = if tr == Some("scrub_geo") && ur.is_none() {
                        "scrub_geo"
                    } else {
                        "delete"
                    };
                    rows.push((path.clone(), r as i64, action, tr, ur));
                }
            }
        }
        rows.sort();
        rows
    }

    fn simplify(rows: &[ManifestRow]) -> Vec<Row<'_>> {
        rows.iter()
            .map(|r| {
                (
                    r.file_path.clone(),
                    r.pos,
                    r.action.as_str(),
                    r.tweet_reason.as_deref(),
                    r.user_reason.as_deref(),
                )
            })
            .collect()
    }

    #[test]
    fn manifest_matches_the_generator_for_every_id_type() {
        let spec0 = spec();
        let flags = synth::flag_sample(&spec0, 0.03, 0.02);
        let tmp = tempfile::tempdir().unwrap();
        synth::write_results(&tmp.path().join("results"), &flags).unwrap();
        let mut first: Option<Vec<u8>> = None;
        for ty in [
            IdColumnType::Int64,
            IdColumnType::UInt64,
            IdColumnType::Decimal,
        ] {
            let spec = DatasetSpec {
                id_type: ty,
                ..spec()
            };
            // The same relative name for every type, so that manifests compare byte for byte.
            let root = tmp.path().join("data");
            let _ = std::fs::remove_dir_all(&root);
            synth::generate_dataset(&root, &spec).unwrap();
            let out = tmp.path().join(format!("out-{ty:?}"));
            let summary = join_paths(
                std::slice::from_ref(&root),
                &tmp.path().join("results"),
                &out,
                &JoinOptions::default(),
            )
            .unwrap();
            let rows = read_manifest(&out).unwrap();
            let want = expected(&spec, &root, &flags);
            assert_eq!(simplify(&rows), want, "{ty:?}");
            assert!(
                want.iter().any(|r| r.3.is_some() && r.4.is_some()),
                "some rows carry both reasons"
            );
            assert!(want.iter().any(|r| r.2 == "scrub_geo"));
            assert_eq!(summary.manifest_rows, want.len() as u64);
            assert_eq!(summary.rows, 9_000);
            assert_eq!(summary.files.len(), 3);
            assert_eq!(summary.invalid_ids, 0);
            let bytes = std::fs::read(out.join(MANIFEST_FILE)).unwrap();
            if let Some(f) = &first {
                assert_eq!(f, &bytes, "{ty:?} gives the same manifest bytes as Int64");
            }
            first = Some(bytes);
        }
    }

    #[test]
    fn byte_identical_whatever_the_threads() {
        let spec = spec();
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("data");
        synth::generate_dataset(&root, &spec).unwrap();
        synth::write_results(
            &tmp.path().join("r"),
            &synth::flag_sample(&spec, 0.05, 0.05),
        )
        .unwrap();
        let mut outputs = Vec::new();
        for threads in [1, 2, 5] {
            let out = tmp.path().join(format!("out{threads}"));
            join_paths(
                std::slice::from_ref(&root),
                &tmp.path().join("r"),
                &out,
                &JoinOptions {
                    threads,
                    ..JoinOptions::default()
                },
            )
            .unwrap();
            outputs.push((
                std::fs::read(out.join(MANIFEST_FILE)).unwrap(),
                std::fs::read(out.join(SUMMARY_FILE)).unwrap(),
            ));
        }
        assert!(outputs.windows(2).all(|w| w[0] == w[1]));
    }

    #[test]
    fn row_groups_outside_the_flagged_range_are_skipped() {
        let spec = spec();
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("data");
        synth::generate_dataset(&root, &spec).unwrap();
        // Two posts of the first row group only, no users.
        let posts = [10u64, 20]
            .iter()
            .map(|&g| Flag {
                id: synth::post_id_at(&spec, g).unwrap(),
                reason: "deleted",
            })
            .collect();
        synth::write_results(
            &tmp.path().join("r"),
            &Flags {
                posts,
                users: vec![],
            },
        )
        .unwrap();
        let s = join_paths(
            std::slice::from_ref(&root),
            &tmp.path().join("r"),
            &tmp.path().join("o"),
            &JoinOptions::default(),
        )
        .unwrap();
        assert_eq!(s.row_groups, 18);
        assert_eq!(s.row_groups_skipped, 17);
        assert_eq!(s.rows_scanned, 500);
        assert_eq!(s.manifest_rows, 2);
        let rows = read_manifest(&tmp.path().join("o")).unwrap();
        assert_eq!(rows.iter().map(|r| r.pos).collect::<Vec<_>>(), [10, 20]);
    }

    #[test]
    fn corrupt_file_fails_strict_and_is_listed_lenient() {
        let spec = spec();
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("data");
        let info = synth::generate_dataset(&root, &spec).unwrap();
        let flags = synth::flag_sample(&spec, 0.03, 0.02);
        synth::write_results(&tmp.path().join("r"), &flags).unwrap();
        // Truncate the middle file: its footer is gone.
        let bad = &info.files[1];
        let bytes = std::fs::read(bad).unwrap();
        std::fs::write(bad, &bytes[..bytes.len() / 2]).unwrap();
        let out = tmp.path().join("o");
        let err = join_paths(
            std::slice::from_ref(&root),
            &tmp.path().join("r"),
            &out,
            &JoinOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains(&bad.display().to_string()), "{err}");
        assert!(
            !out.join(MANIFEST_FILE).exists(),
            "no manifest after a failed strict join"
        );
        let s = join_paths(
            std::slice::from_ref(&root),
            &tmp.path().join("r"),
            &out,
            &JoinOptions {
                lenient: true,
                ..JoinOptions::default()
            },
        )
        .unwrap();
        assert_eq!(s.skipped_files.len(), 1);
        assert_eq!(s.skipped_files[0].path, bad.display().to_string());
        assert_eq!(s.files_scanned, 2);
        let rows = read_manifest(&out).unwrap();
        assert!(
            !rows.is_empty()
                && rows
                    .iter()
                    .all(|r| r.file_path != bad.display().to_string())
        );

        // A file whose first page header is damaged but whose footer is intact fails while scanning.
        let mut bytes = std::fs::read(&info.files[0]).unwrap();
        for b in &mut bytes[4..64] {
            *b = 0xff;
        }
        std::fs::write(&info.files[0], &bytes).unwrap();
        std::fs::write(bad, b"not parquet").unwrap();
        let err = join_paths(
            std::slice::from_ref(&root),
            &tmp.path().join("r"),
            &out,
            &JoinOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("part-0000"), "{err}");
        let s = join_paths(
            std::slice::from_ref(&root),
            &tmp.path().join("r"),
            &out,
            &JoinOptions {
                lenient: true,
                ..JoinOptions::default()
            },
        )
        .unwrap();
        assert_eq!(s.skipped_files.len(), 2, "{s:?}");
        assert_eq!(s.files_scanned, 1);
    }

    #[test]
    fn a_results_directory_without_results_files_is_refused_unless_allowed() {
        let spec = spec();
        let tmp = tempfile::tempdir().unwrap();
        synth::generate_dataset(&tmp.path().join("d"), &spec).unwrap();
        // A directory with a subdirectory of results (the run directory) and other files.
        synth::write_results(&tmp.path().join("run/results"), &Flags::default()).unwrap();
        std::fs::write(tmp.path().join("run/notes.txt"), b"x").unwrap();
        let run = tmp.path().join("run");
        let out = tmp.path().join("o");
        let err =
            join_paths(&[tmp.path().join("d")], &run, &out, &JoinOptions::default()).unwrap_err();
        assert!(matches!(err, SinkError::NoResults { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains(&run.display().to_string())
                && text.contains("no results files found")
                && text.contains("*.parquet"),
            "{text}"
        );
        // The subdirectory holding the results is named; a hidden one would not be.
        let results = run.join("results").display().to_string();
        std::fs::create_dir(run.join(".cache")).unwrap();
        synth::write_results(&run.join(".cache"), &Flags::default()).unwrap();
        let err =
            join_paths(&[tmp.path().join("d")], &run, &out, &JoinOptions::default()).unwrap_err();
        assert!(
            err.to_string().ends_with(&format!(
                "; Parquet files are in its subdirectory {results} (subdirectories are not read: \
                 pass one as --results)"
            )),
            "{err}"
        );
        assert!(!out.join(MANIFEST_FILE).exists());
        let s = join_paths(
            &[tmp.path().join("d")],
            &run,
            &out,
            &JoinOptions {
                allow_no_results: true,
                ..JoinOptions::default()
            },
        )
        .unwrap();
        assert_eq!((s.manifest_rows, s.results_files.len()), (0, 0));
        assert_eq!(s.ignored_results_dirs, [results]);
    }

    #[test]
    fn outputs_inside_the_dataset_or_in_foreign_directories_are_refused() {
        let spec = spec();
        let tmp = tempfile::tempdir().unwrap();
        let (d, r) = (tmp.path().join("d"), tmp.path().join("r"));
        synth::generate_dataset(&d, &spec).unwrap();
        synth::write_results(&r, &synth::flag_sample(&spec, 0.03, 0.02)).unwrap();
        let opts = JoinOptions::default();
        let dotted = tmp.path().join("d/./sub/..");
        let pattern = tmp.path().join("d/date=*");
        for (inputs, out) in [
            (vec![d.clone()], d.clone()),
            (vec![d.clone()], d.join("m")),
            (vec![dotted], d.join("m")),
            (vec![pattern.clone()], d.join("date=2020-01-01/m")),
        ] {
            let err = join_paths(&inputs, &r, &out, &opts)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("is inside the dataset input"),
                "{out:?}: {err}"
            );
            assert!(!out.join(MANIFEST_FILE).exists());
        }
        // A glob that cannot match the manifest does not stop an output beside the partitions.
        join_paths(&[pattern], &r, &d.join("m"), &opts).unwrap();

        // A directory of other files needs force; a previous manifest directory is replaced.
        let other = tmp.path().join("other");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join("notes.txt"), b"keep").unwrap();
        let err = join_paths(std::slice::from_ref(&d), &r, &other, &opts)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not a previous manifest directory") && err.contains("notes.txt"),
            "{err}"
        );
        let forced = JoinOptions {
            force: true,
            ..JoinOptions::default()
        };
        join_paths(std::slice::from_ref(&d), &r, &other, &forced).unwrap();
        assert_eq!(std::fs::read(other.join("notes.txt")).unwrap(), b"keep");
        let out = tmp.path().join("o");
        join_paths(std::slice::from_ref(&d), &r, &out, &opts).unwrap();
        assert!(is_manifest_dir(&out));
        join_paths(std::slice::from_ref(&d), &r, &out, &opts).unwrap();
        let names: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    }

    #[test]
    fn missing_column_is_named() {
        let spec = spec();
        let tmp = tempfile::tempdir().unwrap();
        synth::generate_dataset(&tmp.path().join("d"), &spec).unwrap();
        synth::write_results(&tmp.path().join("r"), &Flags::default()).unwrap();
        let opts = JoinOptions {
            user_id_column: "user_id".into(),
            ..JoinOptions::default()
        };
        let err = join_paths(
            &[tmp.path().join("d")],
            &tmp.path().join("r"),
            &tmp.path().join("o"),
            &opts,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`user_id` not found") && err.contains("part-00000.parquet"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_flags_prefer_delete_over_scrub_geo() {
        let f = Flagged::from_records([
            (5, false, "scrub_geo", Some(3)),
            (5, false, "deleted", Some(1)),
            (6, false, "scrub_geo", None),
            (7, true, "suspended", None),
        ]);
        assert_eq!(f.posts().ids(), &[5, 6]);
        let i = f.posts().get(5).unwrap();
        assert_eq!(f.reasons[f.post_info[i].reason as usize], "deleted");
        assert_eq!(f.post_info[i].redacted_at, Some(3));
        assert_eq!(f.users().ids(), &[7]);
    }
}
