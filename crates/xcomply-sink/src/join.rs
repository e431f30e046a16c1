//! The join: compliance results against a Parquet dataset, into a manifest of what to do.
//!
//! Post results match the dataset's post ID column and user results its author ID column. The
//! manifest has one row per affected dataset row, sorted by (`file_path`, `pos`), in the schema of
//! [`manifest_schema`], written to `manifest.parquet` with a `summary.json` and a
//! `rehydrate-ids.txt` beside it. Each row's `action` (`delete`, `rehydrate`, `scrub_geo`, or an
//! unknown action verbatim) follows the rule of [`ManifestAction`].
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
use crate::dataset::{self, IdValues};
use crate::probe::IdSet;
use xcomply_dataset::{Dataset, DatasetFile, FileStamp};

/// File name of the manifest inside the output directory.
pub const MANIFEST_FILE: &str = xcomply_dataset::MANIFEST_FILE;
/// File name of the summary inside the output directory.
pub const SUMMARY_FILE: &str = xcomply_dataset::SUMMARY_FILE;

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

/// File name of the list of post IDs to fetch again (the manifest's `rehydrate` rows), beside the
/// manifest: ascending, unique, one decimal ID per line, ready for the Posts lookup endpoint or
/// `twarc2 hydrate`. Every join writes it, empty when there is nothing to rehydrate, so that a
/// list left by an earlier join into the same directory never outlives its manifest.
pub const REHYDRATE_IDS_FILE: &str = "rehydrate-ids.txt";

/// The manifest action (and results action) that removes the row.
pub const DELETE: &str = "delete";
/// The manifest action (and results action, since September 2026) of an edited post: the stored
/// copy is stale and is fetched again; the row itself stays.
pub const REHYDRATE: &str = "rehydrate";
/// The manifest action of a post whose location data must go: the geo columns are nulled. In
/// results it is an action since September 2026 and, before, a reason of the `delete` action.
pub const SCRUB_GEO: &str = "scrub_geo";

/// What one results event, and then one manifest row, asks for. This is the one home of the
/// manifest's action rule; the scripts in `scripts/duckdb` and `scripts/spark` restate it and are
/// checked against it.
///
/// The rank is `delete` > unknown > `rehydrate` > `scrub_geo` (the variants' order, which
/// [`Ord`] follows). X sends one event per ID and, when several
/// apply, `delete` wins over `rehydrate`, which wins over `scrub_geo`; the join folds duplicate
/// events of an ID (several results files, or several jobs over the same IDs) with that
/// priority, and decides a dataset row from its post's and its author's folded events:
/// - `delete` when the post or the author has a `delete` event;
/// - otherwise the post's event: `rehydrate`, `scrub_geo`, or an unknown action.
///
/// An action this version does not know is kept verbatim in the manifest, never turned into
/// `delete` (which could remove a row X only wanted refreshed) nor dropped (which would keep a row
/// X wanted changed, without a word): `xcomply apply` refuses a manifest holding one, naming it.
/// It ranks above `rehydrate` and `scrub_geo` because it may ask for more than a refresh or a
/// geo scrub, and masking it by a milder known action would hide it; `delete` still outranks
/// it, since removing the row is the most any action can ask. The fold ranks two unknown actions
/// of one ID by name, so that it is the same whatever order the results files come in.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash)]
pub enum ManifestAction {
    /// Null the row's geo columns (results action `scrub_geo`, or before the cutover action
    /// `delete` with reason `scrub_geo`).
    ScrubGeo,
    /// Keep the row; its post is fetched again (results action `rehydrate`).
    Rehydrate,
    /// An action this version does not know: the index of its name in the join's string table.
    Unknown(u16),
    /// Remove the row (results action `delete`).
    Delete,
}

impl ManifestAction {
    /// The action of one results event, from its interned `action` and `reason` (indices into
    /// `strings`). `action` is `None` when the results file has no `action` column (files of
    /// other writers, older than the cutover's vocabulary): such an event is a `delete`, as
    /// every event was before September 2026. A legacy `delete` whose reason is `scrub_geo`
    /// asks only for the post's geo data to go.
    ///
    /// `users` results carry only `delete` (X's §4 table); any other action on a user is an
    /// error (the message is returned), since its meaning for the user's rows cannot be guessed:
    /// dropping it would silently keep rows, applying it to the posts would invent a rule.
    fn of_event(
        strings: &[String],
        action: Option<u16>,
        reason: u16,
        is_user: bool,
    ) -> Result<ManifestAction, String> {
        let name = action.map_or(DELETE, |a| strings[a as usize].as_str());
        match name {
            DELETE if !is_user && strings[reason as usize] == SCRUB_GEO => {
                Ok(ManifestAction::ScrubGeo)
            }
            DELETE => Ok(ManifestAction::Delete),
            other if is_user => Err(format!(
                "action {other:?} on a user; expected \"delete\", the only action of `users` results"
            )),
            REHYDRATE => Ok(ManifestAction::Rehydrate),
            SCRUB_GEO => Ok(ManifestAction::ScrubGeo),
            _ => Ok(ManifestAction::Unknown(
                action.expect("a missing action is delete"),
            )),
        }
    }

    /// The action of a dataset row from its post's and its author's folded events: the stronger
    /// of the two, which makes an author's `delete` win over anything the post has. (Authors
    /// only have `delete` events, so two unknown actions are never compared here.)
    pub fn for_row(
        post: Option<ManifestAction>,
        author: Option<ManifestAction>,
    ) -> Option<ManifestAction> {
        post.max(author)
    }

    /// The name written in the manifest's `action` column; `strings` resolves unknown names.
    pub fn name(self, strings: &[String]) -> &str {
        match self {
            ManifestAction::Delete => DELETE,
            ManifestAction::Rehydrate => REHYDRATE,
            ManifestAction::ScrubGeo => SCRUB_GEO,
            ManifestAction::Unknown(i) => &strings[i as usize],
        }
    }

    /// The rank of the fold as one integer, strongest first when sorted ascending: the variant,
    /// then for unknown actions the rank of their name (`order`, the alphabetical position of
    /// each interned string).
    fn fold_key(self, order: &[u16]) -> u32 {
        let (variant, name) = match self {
            ManifestAction::Delete => (0, 0),
            ManifestAction::Unknown(i) => (1, u32::from(order[i as usize])),
            ManifestAction::Rehydrate => (2, 0),
            ManifestAction::ScrubGeo => (3, 0),
        };
        variant << 16 | name
    }
}

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

/// Why an ID is flagged: its folded event.
#[derive(Clone, Copy, Debug)]
struct FlagInfo {
    action: ManifestAction,
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
    /// Interned actions and reasons, which [`FlagInfo`] points into.
    strings: Vec<String>,
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
}

fn intern(strings: &mut Vec<String>, s: &str) -> u16 {
    if let Some(i) = strings.iter().position(|r| r == s) {
        return i as u16;
    }
    strings.push(s.to_owned());
    (strings.len() - 1) as u16
}

/// One results event, interned: (ID, action, reason, `redacted_at`).
type Event = (i64, ManifestAction, u16, Option<i64>);

/// Folds the events of each ID into one: the strongest action ([`ManifestAction`]'s rank), then
/// the alphabetically first reason among the events of that action, and the latest
/// `redacted_at` among them (an event of a weaker action says nothing of when the winning one
/// happened).
fn fold(mut events: Vec<Event>, strings: &[String]) -> (IdSet, Vec<FlagInfo>) {
    // Each string's alphabetical rank, so that the sort compares integers, not strings.
    let mut by_name: Vec<u16> = (0..strings.len() as u16).collect();
    by_name.sort_unstable_by_key(|&i| strings[i as usize].as_str());
    let mut order = vec![0u16; strings.len()];
    for (rank, &i) in by_name.iter().enumerate() {
        order[i as usize] = rank as u16;
    }
    let key = |e: &Event| {
        (
            e.0,
            u64::from(e.1.fold_key(&order)) << 16 | u64::from(order[e.2 as usize]),
        )
    };
    events.sort_unstable_by_key(key);
    let mut ids = Vec::with_capacity(events.len());
    let mut info: Vec<FlagInfo> = Vec::with_capacity(events.len());
    for (id, action, reason, redacted) in events {
        if ids.last() == Some(&id) {
            let last = info.last_mut().expect("info parallels ids");
            if last.action == action {
                last.redacted_at = last.redacted_at.max(redacted);
            }
        } else {
            ids.push(id);
            info.push(FlagInfo {
                action,
                reason,
                redacted_at: redacted,
            });
        }
    }
    let set = IdSet::new(ids);
    debug_assert_eq!(set.len(), info.len());
    (set, info)
}

/// Reads every results Parquet file (`*.parquet`, not hidden) in `dir`: columns `id`, `action`
/// (when absent, every event is a `delete`: see [`ManifestAction`]), `reason`, `redacted_at` and
/// `job_type` (`tweets` or `users`; when the column is absent, the file name must start with
/// `tweets` or `users`).
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
    let mut strings: Vec<String> = Vec::new();
    let mut posts = Vec::new();
    let mut users = Vec::new();
    for path in &paths {
        read_results_file(path, &mut strings, &mut posts, &mut users)?;
    }
    let (post_set, post_info) = fold(posts, &strings);
    let (user_set, user_info) = fold(users, &strings);
    Ok(Flagged {
        posts: post_set,
        post_info,
        users: user_set,
        user_info,
        strings,
        files: paths.iter().map(|p| p.display().to_string()).collect(),
        nested,
    })
}

fn read_results_file(
    path: &Path,
    strings: &mut Vec<String>,
    posts: &mut Vec<Event>,
    users: &mut Vec<Event>,
) -> Result<(), SinkError> {
    let pq = |source| SinkError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let schema_err = |message: String| SinkError::Schema {
        path: path.to_path_buf(),
        message,
    };
    #[expect(
        clippy::disallowed_methods,
        reason = "a results file, not a dataset file"
    )]
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
    // Results of other writers may predate the `action` column; their events are all `delete`.
    let action_col = index("action");
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
    let roots: Vec<usize> = [
        Some(id_col),
        action_col,
        Some(reason_col),
        redacted_col,
        type_col,
    ]
    .into_iter()
    .flatten()
    .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder.with_projection(mask).build().map_err(pq)?;
    let mut tmp_types: Vec<String> = Vec::new();
    // Rows of the file before this batch, so that errors name the row in the file.
    let mut first_row = 0usize;
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
        let action = match batch.column_by_name("action") {
            Some(c) => Some(interned(c, strings).ok_or_else(|| {
                schema_err(format!(
                    "column `action` has type {}; expected a string",
                    c.data_type()
                ))
            })?),
            None => None,
        };
        let reason = interned(batch.column_by_name("reason").expect("projected"), strings)
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
            let row = first_row + i;
            let Some(id) = ids.get(i) else {
                return Err(schema_err(format!(
                    "row {row} has a null or invalid `id`; results IDs are never null"
                )));
            };
            let Some(r) = reason[i] else {
                return Err(schema_err(format!(
                    "row {row} has a null `reason`; expected a reason such as \"deleted\""
                )));
            };
            let a = match &action {
                Some(a) => Some(a[i].ok_or_else(|| {
                    schema_err(format!(
                        "row {row} has a null `action`; expected an action such as \"delete\""
                    ))
                })?),
                None => None,
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
            let event = ManifestAction::of_event(strings, a, r, is_user)
                .map_err(|e| schema_err(format!("row {row} (ID {id}): {e}")))?;
            let red = redacted.and_then(|a| a.is_valid(i).then(|| a.value(i)));
            if is_user { &mut *users } else { &mut *posts }.push((id, event, r, red));
        }
        first_row += batch.num_rows();
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
    /// Manifest rows with action `rehydrate` (absent, so 0, in summaries written before it).
    #[serde(default)]
    pub rehydrate_rows: u64,
    /// Manifest rows per action, every action of the manifest by name, including actions this
    /// version does not know (which `xcomply apply` refuses); the counts sum to
    /// `manifest_rows`.
    #[serde(default)]
    pub actions: BTreeMap<String, u64>,
    /// Lines of `rehydrate-ids.txt`: the distinct post IDs of the `rehydrate` rows. The file is
    /// written by every join, empty when this is 0.
    #[serde(default)]
    pub rehydrate_ids: u64,
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

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference.
fn is_zero(n: &u64) -> bool {
    *n == 0
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
    /// Of which `rehydrate`.
    #[serde(default)]
    pub rehydrate_rows: u64,
    /// Of which an action this version does not know.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub other_rows: u64,
    /// The file as the join read it (size and modification time), so that `apply` can refuse a
    /// file rewritten since: the manifest's row positions would name other rows. Absent in
    /// summaries written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<FileStamp>,
}

/// Discovers the dataset, reads the results and joins them into `out` (see [`join_dataset`]).
/// A dataset without Parquet files is an error, as [`Dataset::discover`] says.
pub fn join_paths(
    dataset_inputs: &[PathBuf],
    results: &Path,
    out: &Path,
    options: &JoinOptions,
) -> Result<JoinSummary, SinkError> {
    // The output is checked before the dataset is read, so that a refused output is named even
    // when the dataset has a problem of its own.
    check_output(out, &dataset::input_strings(dataset_inputs)?, options.force)?;
    let dataset = dataset::discover(dataset_inputs)?;
    join_dataset(&dataset, results, out, options)
}

/// Reads the results and joins them against `dataset` into `out` (see [`join`]), for callers
/// that discovered the dataset already (`xcomply run` joins exactly the files it sharded).
///
/// A results directory without results files is an error ([`SinkError::NoResults`]) unless
/// [`JoinOptions::allow_no_results`] is set, and so is an unusable `out` (see [`check_output`]).
pub fn join_dataset(
    dataset: &Dataset,
    results: &Path,
    out: &Path,
    options: &JoinOptions,
) -> Result<JoinSummary, SinkError> {
    check_output(out, dataset.inputs(), options.force)?;
    let files = dataset.files();
    let flagged = load_results(results)?;
    if flagged.files.is_empty() && !options.allow_no_results {
        return Err(SinkError::NoResults {
            dir: results.to_path_buf(),
            nested: flagged.nested,
        });
    }
    join(files, &flagged, out, options)
}

/// Prefix of the temporary files the join writes beside its outputs before renaming them into
/// place; a leftover of an interrupted join still marks the directory as a manifest directory.
const TEMP_PREFIX: &str = ".xcomply-join-";

/// Whether `name` is a file a join writes in its output directory (or a leftover temporary file
/// of one).
fn is_join_output(name: &str) -> bool {
    name == MANIFEST_FILE
        || name == SUMMARY_FILE
        || name == REHYDRATE_IDS_FILE
        || name.starts_with(TEMP_PREFIX)
}

/// Whether `out` is a previous manifest directory: it holds only `manifest.parquet`,
/// `summary.json`, `rehydrate-ids.txt` and leftover temporary files of a join.
pub fn is_manifest_dir(out: &Path) -> bool {
    std::fs::read_dir(out).is_ok_and(|entries| {
        entries
            .flatten()
            .all(|e| is_join_output(&e.file_name().to_string_lossy()))
    })
}

/// Checks that `out` can take a manifest made from `dataset_inputs`: it must not be, or be
/// inside, a directory the dataset discovery walks (nor match a dataset glob), since the next
/// join would read it; and it must not exist, be empty or be a previous manifest directory
/// (whose two files are then replaced, each by an atomic rename), unless `force`. Paths are
/// compared after [`xcomply_dataset::resolve`], so `./ds`, `ds` and `/abs/ds` are the same
/// directory.
pub fn check_output(out: &Path, dataset_inputs: &[String], force: bool) -> Result<(), SinkError> {
    let refuse = |message: String| SinkError::Output {
        path: out.to_path_buf(),
        message,
    };
    if let Some(input) =
        xcomply_dataset::input_containing(out, &out.join(MANIFEST_FILE), dataset_inputs)
    {
        return Err(refuse(format!(
            "is inside the dataset input {input}, so the next join would read the manifest as data; expected an output directory outside the dataset"
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
            .filter(|n| !is_join_output(n))
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
    stamp: FileStamp,
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
/// and `out/rehydrate-ids.txt` (the directory is created if needed; the three files are replaced
/// atomically, the summary last).
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
        flagged.strings.len(),
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
    let tallies = writer.finish()?;
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
    let mut ids = tallies.rehydrate;
    ids.sort_unstable();
    ids.dedup();
    // 20 bytes a line: 19 digits at most and the newline.
    let mut text = Vec::with_capacity(ids.len() * 20);
    for id in &ids {
        writeln!(text, "{id}").expect("writing to a Vec cannot fail");
    }
    write_atomic(&out.join(REHYDRATE_IDS_FILE), &text)?;
    summary.rehydrate_ids = ids.len() as u64;
    for (i, counts) in tallies.reasons.iter().enumerate() {
        let name = &flagged.strings[i];
        for (n, map) in [
            (counts[0], &mut summary.tweet_reasons),
            (counts[1], &mut summary.user_reasons),
        ] {
            if n > 0 {
                map.insert(name.clone(), n);
            }
        }
    }
    for (name, n) in [
        (DELETE, summary.delete_rows),
        (REHYDRATE, summary.rehydrate_rows),
        (SCRUB_GEO, summary.scrub_geo_rows),
    ] {
        if n > 0 {
            summary.actions.insert(name.to_owned(), n);
        }
    }
    for (i, &n) in tallies.unknown.iter().enumerate() {
        if n > 0 {
            summary.actions.insert(flagged.strings[i].clone(), n);
        }
    }
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
            stamp: Some(p.stamp.clone()),
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
    let f = file.reader()?;
    let stamp = f.stamp()?;
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
    let f = file.reader()?;
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
    tallies: Tallies,
}

/// What the manifest writer counts besides rows, kept by string index so that counting a row
/// allocates nothing.
#[derive(Default)]
struct Tallies {
    /// Manifest rows per reason (index into the join's strings): [as post reason, as user
    /// reason].
    reasons: Vec<[u64; 2]>,
    /// Manifest rows per unknown action (index into the join's strings).
    unknown: Vec<u64>,
    /// Post IDs of the `rehydrate` rows, in manifest order, with repeats.
    rehydrate: Vec<i64>,
}

impl ManifestWriter {
    fn new(file: File, path: &Path, strings: usize) -> Result<ManifestWriter, SinkError> {
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
            tallies: Tallies {
                reasons: vec![[0; 2]; strings],
                unknown: vec![0; strings],
                rehydrate: Vec::new(),
            },
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
        let action = ManifestAction::for_row(post.map(|p| p.action), user.map(|u| u.action))
            .expect("a match has a flagged post or user");
        let strings = &flagged.strings;
        self.file_path.append_value(file_path);
        self.pos.append_value(m.pos);
        self.id.append_option(m.id);
        self.author.append_option(m.author);
        self.action.append_value(action.name(strings));
        self.tweet_reason
            .append_option(post.map(|p| strings[p.reason as usize].as_str()));
        self.user_reason
            .append_option(user.map(|u| strings[u.reason as usize].as_str()));
        // The time of the event that decided the row first: an author's deletion, not the
        // edit of the post it removes.
        let (post_red, user_red) = (
            post.and_then(|p| p.redacted_at),
            user.and_then(|u| u.redacted_at),
        );
        self.redacted
            .append_option(if post.is_some_and(|p| p.action == action) {
                post_red.or(user_red)
            } else {
                user_red.or(post_red)
            });
        fs.manifest_rows += 1;
        summary.manifest_rows += 1;
        match action {
            ManifestAction::Delete => {
                fs.delete_rows += 1;
                summary.delete_rows += 1;
            }
            ManifestAction::Rehydrate => {
                fs.rehydrate_rows += 1;
                summary.rehydrate_rows += 1;
                // A rehydrate row has a post ID: only a post's event can be `rehydrate`.
                self.tallies.rehydrate.extend(m.id);
            }
            ManifestAction::ScrubGeo => {
                fs.scrub_geo_rows += 1;
                summary.scrub_geo_rows += 1;
            }
            ManifestAction::Unknown(i) => {
                fs.other_rows += 1;
                self.tallies.unknown[i as usize] += 1;
            }
        }
        if let Some(p) = post {
            self.tallies.reasons[p.reason as usize][0] += 1;
        }
        if let Some(u) = user {
            self.tallies.reasons[u.reason as usize][1] += 1;
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

    fn finish(mut self) -> Result<Tallies, SinkError> {
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
        Ok(self.tallies)
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
    /// `delete`, `rehydrate`, `scrub_geo`, or an action unknown to the join, verbatim.
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
    #[expect(clippy::disallowed_methods, reason = "a manifest, not a dataset file")]
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

    /// The expected manifest, computed from the generator's pure functions, not from the files,
    /// with the action rule spelled out as the issue states it (one event per ID in `flags`).
    fn expected<'a>(spec: &DatasetSpec, root: &Path, flags: &'a Flags) -> Vec<Row<'a>> {
        let find =
            |list: &'a [Flag], id: Option<i64>| id.and_then(|id| list.iter().find(|f| f.id == id));
        let mut rows = Vec::new();
        for f in 0..spec.files {
            let path = root.join(spec.file_path(f)).display().to_string();
            for r in 0..spec.rows_per_file {
                let g = (f * spec.rows_per_file + r) as u64;
                let post = find(&flags.posts, synth::post_id_at(spec, g));
                let user = find(&flags.users, synth::author_id_at(spec, g));
                let action = match (post, user) {
                    (None, None) => continue,
                    (_, Some(_)) => "delete",
                    (Some(p), None) if p.action == "delete" && p.reason == "scrub_geo" => {
                        "scrub_geo"
                    }
                    (Some(p), None) => p.action,
                };
                rows.push((
                    path.clone(),
                    r as i64,
                    action,
                    post.map(|p| p.reason),
                    user.map(|u| u.reason),
                ));
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
            for action in ["delete", "rehydrate", "scrub_geo"] {
                assert!(want.iter().any(|r| r.2 == action), "{action}");
            }
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
            .map(|&g| Flag::delete(synth::post_id_at(&spec, g).unwrap(), "deleted"))
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
        assert_eq!(names.len(), 3, "no temporary file left: {names:?}");
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
    fn legacy_results_give_the_same_manifest_in_the_old_vocabulary() {
        // Results downloaded before the cutover: every action `delete`, geo as a reason.
        let spec = spec();
        let flags = synth::flag_sample(&spec, 0.03, 0.02).legacy();
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("data");
        synth::generate_dataset(&root, &spec).unwrap();
        synth::write_results(&tmp.path().join("r"), &flags).unwrap();
        let out = tmp.path().join("o");
        let summary = join_paths(
            std::slice::from_ref(&root),
            &tmp.path().join("r"),
            &out,
            &JoinOptions::default(),
        )
        .unwrap();
        let rows = read_manifest(&out).unwrap();
        let want = expected(&spec, &root, &flags);
        assert_eq!(simplify(&rows), want);
        assert!(
            want.iter()
                .any(|r| r.2 == "scrub_geo" && r.3 == Some("scrub_geo"))
        );
        assert_eq!(summary.rehydrate_rows, 0);
        assert_eq!(
            summary.scrub_geo_rows,
            want.iter().filter(|r| r.2 == "scrub_geo").count() as u64
        );
    }

    /// A one-file dataset and the global row whose post and author the cases flag: a row with
    /// both IDs, whose author writes no other row of the file, so that the row's action is
    /// decided by the case's events alone.
    fn tiny() -> (DatasetSpec, u64) {
        let spec = DatasetSpec {
            files: 1,
            rows_per_file: 400,
            row_group_rows: 100,
            authors: 5_000,
            repeated_id_rows: 0,
            ..DatasetSpec::default()
        };
        let author = |g: u64| synth::author_id_at(&spec, g);
        let g = (0..400u64)
            .find(|&g| {
                synth::post_id_at(&spec, g).is_some()
                    && author(g).is_some()
                    && (0..400u64).filter(|&h| author(h) == author(g)).count() == 1
            })
            .expect("a row with a one-post author");
        (spec, g)
    }

    /// Joins events for the post and the author of [`tiny`]'s row, and checks that row's
    /// manifest action and post reason.
    #[track_caller]
    fn check(
        post: &[(&'static str, &'static str)],
        user: &[(&'static str, &'static str)],
        action: &str,
        reason: Option<&str>,
    ) {
        let (spec, g) = tiny();
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("d");
        synth::generate_dataset(&root, &spec).unwrap();
        let flag =
            |id: i64, &(action, reason): &(&'static str, &'static str)| Flag { id, action, reason };
        let (pid, uid) = (
            synth::post_id_at(&spec, g).unwrap(),
            synth::author_id_at(&spec, g).unwrap(),
        );
        let flags = Flags {
            posts: post.iter().map(|e| flag(pid, e)).collect(),
            users: user.iter().map(|e| flag(uid, e)).collect(),
        };
        synth::write_results(&tmp.path().join("r"), &flags).unwrap();
        join_paths(
            &[root],
            &tmp.path().join("r"),
            &tmp.path().join("o"),
            &JoinOptions::default(),
        )
        .unwrap();
        let rows = read_manifest(&tmp.path().join("o")).unwrap();
        let row = rows
            .iter()
            .find(|r| r.pos == g as i64)
            .expect("the row is in the manifest");
        assert_eq!(
            (row.action.as_str(), row.tweet_reason.as_deref()),
            (action, reason),
            "post {post:?}, user {user:?}"
        );
    }

    const DELETED: (&str, &str) = ("delete", "deleted");
    const EDITED: (&str, &str) = ("rehydrate", "tweet_edited");
    const GEO: (&str, &str) = ("scrub_geo", "geo_scrubbed");
    const LEGACY_GEO: (&str, &str) = ("delete", "scrub_geo");
    const SUSPENDED: (&str, &str) = ("delete", "suspended");

    #[test]
    fn one_event_decides_the_row() {
        check(&[EDITED], &[], "rehydrate", Some("tweet_edited"));
        check(&[GEO], &[], "scrub_geo", Some("geo_scrubbed"));
        check(&[DELETED], &[], "delete", Some("deleted"));
        check(&[], &[SUSPENDED], "delete", None);
    }

    #[test]
    fn rehydrate_outranks_scrub_geo_and_delete_outranks_both() {
        check(&[GEO, EDITED], &[], "rehydrate", Some("tweet_edited"));
        check(&[EDITED, GEO], &[], "rehydrate", Some("tweet_edited"));
        check(&[EDITED, DELETED], &[], "delete", Some("deleted"));
        check(&[GEO, DELETED, EDITED], &[], "delete", Some("deleted"));
        check(
            &[LEGACY_GEO, EDITED],
            &[],
            "rehydrate",
            Some("tweet_edited"),
        );
    }

    #[test]
    fn an_author_deletion_outranks_the_post_event() {
        check(&[EDITED], &[SUSPENDED], "delete", Some("tweet_edited"));
        check(&[GEO], &[SUSPENDED], "delete", Some("geo_scrubbed"));
        check(&[LEGACY_GEO], &[SUSPENDED], "delete", Some("scrub_geo"));
        check(&[("geo_blur", "new")], &[SUSPENDED], "delete", Some("new"));
    }

    #[test]
    fn legacy_scrub_geo_reason_is_a_geo_scrub() {
        check(&[LEGACY_GEO], &[], "scrub_geo", Some("scrub_geo"));
        check(&[LEGACY_GEO, DELETED], &[], "delete", Some("deleted"));
        check(&[LEGACY_GEO, GEO], &[], "scrub_geo", Some("geo_scrubbed"));
    }

    #[test]
    fn unknown_actions_are_kept_verbatim_below_delete() {
        check(&[("geo_blur", "new")], &[], "geo_blur", Some("new"));
        check(&[EDITED, ("geo_blur", "new")], &[], "geo_blur", Some("new"));
        check(
            &[("geo_blur", "new"), DELETED],
            &[],
            "delete",
            Some("deleted"),
        );
        check(&[("zz", "b"), ("aa", "a")], &[], "aa", Some("a"));
        check(&[("aa", "b"), ("aa", "a")], &[], "aa", Some("a"));
    }

    #[test]
    fn a_user_event_other_than_delete_is_refused_with_its_row() {
        let (spec, g) = tiny();
        let tmp = tempfile::tempdir().unwrap();
        synth::generate_dataset(&tmp.path().join("d"), &spec).unwrap();
        let uid = synth::author_id_at(&spec, g).unwrap();
        let flags = Flags {
            posts: vec![],
            users: vec![
                Flag::delete(uid - 1, "deleted"),
                Flag {
                    id: uid,
                    action: "rehydrate",
                    reason: "profile_edited",
                },
            ],
        };
        synth::write_results(&tmp.path().join("r"), &flags).unwrap();
        let err = join_paths(
            &[tmp.path().join("d")],
            &tmp.path().join("r"),
            &tmp.path().join("o"),
            &JoinOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("users-00001.parquet")
                && err.contains(&format!("row 1 (ID {uid}): action \"rehydrate\" on a user")),
            "{err}"
        );
        assert!(!tmp.path().join("o").join(MANIFEST_FILE).exists());
    }

    #[test]
    fn results_without_an_action_column_are_deletions() {
        // Results from another writer, older than the `action` column: every event is a
        // `delete`, and the legacy `scrub_geo` reason still only scrubs.
        let (spec, g) = tiny();
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("d");
        synth::generate_dataset(&root, &spec).unwrap();
        let ids = [g, g + 1, g + 2].map(|g| synth::post_id_at(&spec, g).unwrap());
        let batch = RecordBatch::try_from_iter([
            (
                "id",
                Arc::new(arrow_array::Int64Array::from(ids.to_vec())) as ArrayRef,
            ),
            (
                "reason",
                Arc::new(arrow_array::StringArray::from(vec![
                    "scrub_geo",
                    "deleted",
                    "tweet_edited",
                ])),
            ),
        ])
        .unwrap();
        std::fs::create_dir(tmp.path().join("r")).unwrap();
        let file = File::create(tmp.path().join("r/tweets-old.parquet")).unwrap();
        let mut w = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let s = join_paths(
            &[root],
            &tmp.path().join("r"),
            &tmp.path().join("o"),
            &JoinOptions::default(),
        )
        .unwrap();
        let rows = read_manifest(&tmp.path().join("o")).unwrap();
        let action = |g: u64| {
            rows.iter()
                .find(|r| r.pos == g as i64)
                .map(|r| r.action.as_str())
        };
        assert_eq!(
            [action(g), action(g + 1), action(g + 2)],
            [Some("scrub_geo"), Some("delete"), Some("delete")]
        );
        assert_eq!((s.rehydrate_rows, s.rehydrate_ids), (0, 0));
    }

    #[test]
    fn rehydrate_ids_are_the_posts_of_rehydrate_rows_once_each_and_summary_counts_each_action() {
        let spec = spec();
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("data");
        let info = synth::generate_dataset(&root, &spec).unwrap();
        let mut flags = synth::flag_sample(&spec, 0.03, 0.02);
        // The post collected many times was edited: one line for its many rows. Its author, of
        // one row only, is not flagged: `spec()` gives it no flagged author in these rows.
        let repeated = info.repeated_id.unwrap();
        for f in &mut flags.posts {
            if f.id == repeated {
                *f = Flag {
                    id: repeated,
                    action: "rehydrate",
                    reason: "tweet_edited",
                };
            }
        }
        // An action this version does not know, on one post.
        let unknown = flags
            .posts
            .iter_mut()
            .find(|f| f.action == "delete" && f.id != repeated)
            .unwrap();
        unknown.action = "geo_blur";
        synth::write_results(&tmp.path().join("r"), &flags).unwrap();
        let out = tmp.path().join("o");
        let s = join_paths(
            std::slice::from_ref(&root),
            &tmp.path().join("r"),
            &out,
            &JoinOptions::default(),
        )
        .unwrap();
        let rows = read_manifest(&out).unwrap();
        let mut want: Vec<i64> = rows
            .iter()
            .filter(|r| r.action == "rehydrate")
            .map(|r| r.id.unwrap())
            .collect();
        let rehydrate_rows = want.len() as u64;
        want.sort_unstable();
        want.dedup();
        assert!(
            rows.iter()
                .filter(|r| r.action == "rehydrate" && r.id == Some(repeated))
                .count()
                > 10
        );
        let text = std::fs::read_to_string(out.join(REHYDRATE_IDS_FILE)).unwrap();
        let listed: Vec<i64> = text.lines().map(|l| l.parse().unwrap()).collect();
        assert_eq!(listed, want);
        assert!(text.ends_with('\n'));
        assert_eq!(s.rehydrate_ids, want.len() as u64);

        // Counts per action, in the summary and in each file's entry.
        let mut actions: BTreeMap<String, u64> = BTreeMap::new();
        for r in &rows {
            *actions.entry(r.action.clone()).or_default() += 1;
        }
        assert_eq!(actions.len(), 4, "{actions:?}");
        assert_eq!(s.actions, actions);
        assert_eq!(
            (s.delete_rows, s.rehydrate_rows, s.scrub_geo_rows),
            (actions["delete"], rehydrate_rows, actions["scrub_geo"])
        );
        let per_file: u64 = s
            .files
            .iter()
            .map(|f| f.delete_rows + f.rehydrate_rows + f.scrub_geo_rows + f.other_rows)
            .sum();
        assert_eq!(per_file, s.manifest_rows);
        assert_eq!(
            s.files.iter().map(|f| f.rehydrate_rows).sum::<u64>(),
            rehydrate_rows
        );
        let written: JoinSummary =
            serde_json::from_slice(&std::fs::read(out.join(SUMMARY_FILE)).unwrap()).unwrap();
        assert_eq!(written, s);

        // A join with nothing to rehydrate replaces the list with an empty one.
        synth::write_results(&tmp.path().join("r"), &flags.legacy()).unwrap();
        let s = join_paths(
            std::slice::from_ref(&root),
            &tmp.path().join("r"),
            &out,
            &JoinOptions::default(),
        )
        .unwrap();
        assert_eq!((s.rehydrate_rows, s.rehydrate_ids), (0, 0));
        assert!(!s.actions.contains_key("rehydrate"));
        assert_eq!(std::fs::read(out.join(REHYDRATE_IDS_FILE)).unwrap(), b"");
    }
}
