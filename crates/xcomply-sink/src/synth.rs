//! Seeded generator of realistic post datasets in Parquet, for tests, benchmarks and the demo.
//!
//! A generated dataset looks like what researchers hold: several files (optionally in hive
//! partitions `date=YYYY-MM-DD/part-NNNNN.parquet`), each with several row groups, posts laid out
//! by time so that their snowflake IDs rise through the files, authors drawn from a skewed pool
//! (a few prolific accounts, a long tail), some null IDs, one post ID repeated over many rows (a
//! post collected many times), and the columns a compliant copy must care about: `text` and the
//! geo columns `geo_lat`, `geo_lon`, `place_id`.
//!
//! Everything is a pure function of the [`DatasetSpec`], so tests compute expected answers from
//! [`post_id_at`] and [`author_id_at`] without reading the files back, and [`flag_sample`] picks
//! the flagged posts and users a benchmark's results hold.
//!
//! ```
//! use xcomply_sink::synth::{DatasetSpec, generate_dataset};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let spec = DatasetSpec { files: 2, rows_per_file: 1_000, row_group_rows: 250, ..DatasetSpec::default() };
//! let info = generate_dataset(dir.path(), &spec).unwrap();
//! assert_eq!(info.files.len(), 2);
//! assert_eq!(info.rows, 2_000);
//! assert_eq!(info.row_groups, 8);
//! ```

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder, UInt64Builder};
use arrow_array::{ArrayRef, RecordBatch, TimestampMillisecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use xcomply_core::seeded::{hash3, unit_interval};
use xcomply_core::{civil_from_days, snowflake_from_millis};

use crate::SinkError;

/// How the generated ID columns are typed. Real datasets hold all three.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum IdColumnType {
    /// INT64, as Spark and most tools write IDs.
    #[default]
    Int64,
    /// UINT64, as some Rust and Go tools write them.
    UInt64,
    /// Decimal strings, as JSON-derived datasets often keep them.
    Decimal,
}

/// What to generate. Every field has a realistic default; tests shrink `files` and `rows_per_file`.
#[derive(Clone, Debug)]
pub struct DatasetSpec {
    /// Seed of every random choice: the same spec always gives byte-identical files.
    pub seed: u64,
    /// Number of Parquet files.
    pub files: usize,
    /// Rows in each file.
    pub rows_per_file: usize,
    /// Rows per row group (the last group of a file may be smaller).
    pub row_group_rows: usize,
    /// Write `date=YYYY-MM-DD/part-NNNNN.parquet` (the date of the file's first post) instead of
    /// `part-NNNNN.parquet`.
    pub hive_partitions: bool,
    /// Size of the author pool.
    pub authors: usize,
    /// Unix milliseconds of the first post.
    pub start_ms: i64,
    /// Milliseconds between the first and the last post; posts are spread evenly over it.
    pub span_ms: i64,
    /// Fraction of rows whose post ID is null, and separately whose author ID is null.
    pub null_rate: f64,
    /// Rows, in the middle of the middle file, that all hold the same post ID.
    pub repeated_id_rows: usize,
    /// Fraction of rows with geo data (`geo_lat`, `geo_lon`, `place_id`).
    pub geo_rate: f64,
    /// Type of the `id` and `author_id` columns.
    pub id_type: IdColumnType,
    /// Whether to fill `text` (about 60 bytes a row); `false` writes it all null, which makes
    /// multi-gigabyte benchmark datasets quick to generate.
    pub text: bool,
}

impl Default for DatasetSpec {
    fn default() -> DatasetSpec {
        DatasetSpec {
            seed: 42,
            files: 4,
            rows_per_file: 10_000,
            row_group_rows: 2_500,
            hive_partitions: true,
            authors: 2_000,
            // 2020-01-01T00:00:00Z, over one week: with 4 or 8 files each gets its own date.
            start_ms: 1_577_836_800_000,
            span_ms: 7 * 86_400_000,
            null_rate: 0.002,
            repeated_id_rows: 200,
            geo_rate: 0.05,
            id_type: IdColumnType::Int64,
            text: true,
        }
    }
}

impl DatasetSpec {
    /// Total rows over all files.
    pub fn total_rows(&self) -> u64 {
        (self.files as u64) * (self.rows_per_file as u64)
    }

    /// The first of the rows that repeat one post ID, as a global row number.
    fn repeated_start(&self) -> u64 {
        let file = (self.files / 2) as u64;
        let in_file = (self.rows_per_file.saturating_sub(self.repeated_id_rows) / 2) as u64;
        file * self.rows_per_file as u64 + in_file
    }

    /// The file's path relative to the dataset root.
    pub fn file_path(&self, file: usize) -> PathBuf {
        let name = format!("part-{file:05}.parquet");
        if self.hive_partitions {
            let g = (file as u64) * self.rows_per_file as u64;
            let days = self.time_at(g).div_euclid(86_400_000);
            let (y, m, d) = civil_from_days(days);
            PathBuf::from(format!("date={y:04}-{m:02}-{d:02}")).join(name)
        } else {
            PathBuf::from(name)
        }
    }

    /// The creation time of the post in global row `g`.
    fn time_at(&self, g: u64) -> i64 {
        let total = self.total_rows().max(1);
        self.start_ms + ((i128::from(g) * i128::from(self.span_ms)) / i128::from(total)) as i64
    }
}

/// Domain tags of the seeded hashes, so that no two random choices correlate.
mod domain {
    pub const LOW_BITS: u64 = 1;
    pub const NULL_ID: u64 = 2;
    pub const NULL_AUTHOR: u64 = 3;
    pub const AUTHOR: u64 = 4;
    pub const GEO: u64 = 5;
    pub const TEXT: u64 = 6;
    pub const LANG: u64 = 7;
    pub const RETWEETS: u64 = 8;
    pub const FLAG_POST: u64 = 9;
    pub const FLAG_USER: u64 = 10;
    pub const REASON: u64 = 11;
}

/// The post ID of global row `g` (file `g / rows_per_file`, row `g % rows_per_file`), or `None`
/// when that row's ID is null.
pub fn post_id_at(spec: &DatasetSpec, g: u64) -> Option<i64> {
    if unit_interval(hash3(spec.seed, domain::NULL_ID, g)) < spec.null_rate {
        return None;
    }
    let start = spec.repeated_start();
    let g = if spec.repeated_id_rows > 1
        && (start..start + spec.repeated_id_rows as u64).contains(&g)
    {
        start
    } else {
        g
    };
    Some(natural_post_id(spec, g))
}

/// The snowflake of row `g` before nulls and repeats: its time, a random worker, and the row
/// number as sequence so that IDs stay unique.
fn natural_post_id(spec: &DatasetSpec, g: u64) -> i64 {
    let worker = hash3(spec.seed, domain::LOW_BITS, g) & 0x3f_f000;
    let low = worker | (g & 0xfff);
    snowflake_from_millis(spec.time_at(g), low)
        .expect("generated times are after the snowflake epoch") as i64
}

/// The author ID of global row `g`, or `None` when null.
pub fn author_id_at(spec: &DatasetSpec, g: u64) -> Option<i64> {
    if unit_interval(hash3(spec.seed, domain::NULL_AUTHOR, g)) < spec.null_rate {
        return None;
    }
    let u = unit_interval(hash3(spec.seed, domain::AUTHOR, g));
    // u³ puts about half the posts on the first eighth of the pool: a few prolific accounts.
    let idx = ((u * u * u) * spec.authors.max(1) as f64) as u64;
    Some(author_id(spec, idx))
}

/// The ID of the author at `idx` in the pool: even slots are pre-2010 sequential accounts, odd
/// slots snowflake accounts, both unique.
pub fn author_id(spec: &DatasetSpec, idx: u64) -> i64 {
    if idx.is_multiple_of(2) {
        12 + (idx as i64) * 7_919
    } else {
        // Accounts created from 2012-01-01 on, a minute apart.
        let created = 1_325_376_000_000 + (idx as i64) * 60_000;
        snowflake_from_millis(created, hash3(spec.seed, domain::AUTHOR, !idx))
            .expect("account times are after the snowflake epoch") as i64
    }
}

/// What was generated.
#[derive(Clone, Debug)]
pub struct DatasetInfo {
    /// The files written, in order, as `dir.join(relative path)`.
    pub files: Vec<PathBuf>,
    /// Rows over all files.
    pub rows: u64,
    /// Row groups over all files.
    pub row_groups: u64,
    /// The post ID held by `repeated_rows` rows (nulls in that range aside), if any.
    pub repeated_id: Option<i64>,
    /// How many rows hold `repeated_id`.
    pub repeated_rows: usize,
}

/// The column names of a generated dataset, in order.
pub const COLUMNS: &[&str] = &[
    "id",
    "author_id",
    "created_at",
    "lang",
    "text",
    "retweet_count",
    "geo_lat",
    "geo_lon",
    "place_id",
];

/// The geo columns of a generated dataset, for `xcomply apply --geo-columns`.
pub const GEO_COLUMNS: &[&str] = &["geo_lat", "geo_lon", "place_id"];

fn schema(id_type: IdColumnType) -> Arc<Schema> {
    let id = match id_type {
        IdColumnType::Int64 => DataType::Int64,
        IdColumnType::UInt64 => DataType::UInt64,
        IdColumnType::Decimal => DataType::Utf8,
    };
    Arc::new(Schema::new(vec![
        Field::new("id", id.clone(), true),
        Field::new("author_id", id, true),
        Field::new(
            "created_at",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("lang", DataType::Utf8, false),
        Field::new("text", DataType::Utf8, true),
        Field::new("retweet_count", DataType::Int64, false),
        Field::new("geo_lat", DataType::Float64, true),
        Field::new("geo_lon", DataType::Float64, true),
        Field::new("place_id", DataType::Utf8, true),
    ]))
}

/// Writes the dataset under `dir` (created if missing), one thread per core over the files.
pub fn generate_dataset(dir: &Path, spec: &DatasetSpec) -> Result<DatasetInfo, SinkError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SinkError::Io { path, source }
    };
    fs::create_dir_all(dir).map_err(io(dir))?;
    let files: Vec<PathBuf> = (0..spec.files)
        .map(|f| dir.join(spec.file_path(f)))
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<u64, SinkError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.min(spec.files.max(1)))
            .map(|_| {
                s.spawn(|| {
                    let mut groups = 0;
                    loop {
                        let f = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if f >= spec.files {
                            return Ok(groups);
                        }
                        groups += write_file(&files[f], spec, f)?;
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("generator threads do not panic"))
            .collect()
    });
    let mut row_groups = 0;
    for r in results {
        row_groups += r?;
    }
    let repeated_id = (spec.repeated_id_rows > 1 && spec.files > 0)
        .then(|| natural_post_id(spec, spec.repeated_start()));
    Ok(DatasetInfo {
        files,
        rows: spec.total_rows(),
        row_groups,
        repeated_id,
        repeated_rows: if repeated_id.is_some() {
            spec.repeated_id_rows.min(spec.rows_per_file)
        } else {
            0
        },
    })
}

/// Words of the generated post texts; what they say does not matter, their size does.
const WORDS: &[&str] = &[
    "the",
    "compliance",
    "data",
    "research",
    "today",
    "new",
    "paper",
    "thread",
    "just",
    "read",
    "great",
    "results",
    "model",
    "city",
    "weather",
    "match",
    "music",
    "news",
    "why",
    "open",
];
const LANGS: &[&str] = &["en", "en", "en", "ja", "es", "pt", "ar", "und"];

/// Writes one file and returns its number of row groups.
fn write_file(path: &Path, spec: &DatasetSpec, file: usize) -> Result<u64, SinkError> {
    let pq = |source| SinkError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|source| SinkError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let out = File::create(path).map_err(|source| SinkError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let schema = schema(spec.id_type);
    // Snappy, as Spark writes by default; the statistics that pruning relies on are on by default.
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(spec.row_group_rows.max(1)))
        .build();
    let mut writer =
        ArrowWriter::try_new(BufWriter::new(out), schema.clone(), Some(props)).map_err(pq)?;
    let first = (file as u64) * spec.rows_per_file as u64;
    let mut done = 0usize;
    while done < spec.rows_per_file {
        // One batch per row group keeps memory at one row group whatever the file size.
        let n = spec.row_group_rows.max(1).min(spec.rows_per_file - done);
        let batch = make_batch(spec, &schema, first + done as u64, n).map_err(|source| {
            SinkError::Arrow {
                path: path.to_path_buf(),
                source,
            }
        })?;
        writer.write(&batch).map_err(pq)?;
        done += n;
    }
    let meta = writer.close().map_err(pq)?;
    Ok(meta.num_row_groups() as u64)
}

fn make_batch(
    spec: &DatasetSpec,
    schema: &Arc<Schema>,
    first: u64,
    n: usize,
) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let rows = first..first + n as u64;
    let ids: Vec<Option<i64>> = rows.clone().map(|g| post_id_at(spec, g)).collect();
    let authors: Vec<Option<i64>> = rows.clone().map(|g| author_id_at(spec, g)).collect();
    let id_col = id_array(spec.id_type, &ids);
    let author_col = id_array(spec.id_type, &authors);
    let created: TimestampMillisecondArray = rows
        .clone()
        .map(|g| Some(spec.time_at(g)))
        .collect::<TimestampMillisecondArray>()
        .with_timezone("UTC");
    let mut lang = StringBuilder::with_capacity(n, n * 2);
    let mut text = StringBuilder::with_capacity(n, if spec.text { n * 64 } else { 0 });
    let mut retweets = Int64Builder::with_capacity(n);
    let mut lat = Float64Builder::with_capacity(n);
    let mut lon = Float64Builder::with_capacity(n);
    let mut place = StringBuilder::with_capacity(n, n);
    let mut buf = String::new();
    for g in rows {
        let h = hash3(spec.seed, domain::LANG, g);
        lang.append_value(LANGS[(h % LANGS.len() as u64) as usize]);
        if spec.text {
            buf.clear();
            let t = hash3(spec.seed, domain::TEXT, g);
            let words = 4 + (t % 9);
            for w in 0..words {
                if w > 0 {
                    buf.push(' ');
                }
                buf.push_str(WORDS[((t >> (4 + 4 * w)) % WORDS.len() as u64) as usize]);
            }
            text.append_value(&buf);
        } else {
            text.append_null();
        }
        let r = hash3(spec.seed, domain::RETWEETS, g);
        // Mostly zero, occasionally large: the shape of real retweet counts.
        retweets.append_value(if r.is_multiple_of(4) {
            (r >> 8) as i64 % 10_000
        } else {
            0
        });
        let geo = hash3(spec.seed, domain::GEO, g);
        if unit_interval(geo) < spec.geo_rate {
            lat.append_value(-60.0 + 130.0 * unit_interval(geo.rotate_left(17)));
            lon.append_value(-180.0 + 360.0 * unit_interval(geo.rotate_left(37)));
            place.append_value(format!("{:016x}", geo.rotate_left(7)));
        } else {
            lat.append_null();
            lon.append_null();
            place.append_null();
        }
    }
    let columns: Vec<ArrayRef> = vec![
        id_col,
        author_col,
        Arc::new(created),
        Arc::new(lang.finish()),
        Arc::new(text.finish()),
        Arc::new(retweets.finish()),
        Arc::new(lat.finish()),
        Arc::new(lon.finish()),
        Arc::new(place.finish()),
    ];
    RecordBatch::try_new(schema.clone(), columns)
}

fn id_array(ty: IdColumnType, values: &[Option<i64>]) -> ArrayRef {
    match ty {
        IdColumnType::Int64 => {
            let mut b = Int64Builder::with_capacity(values.len());
            b.extend(values.iter().copied());
            Arc::new(b.finish())
        }
        IdColumnType::UInt64 => {
            let mut b = UInt64Builder::with_capacity(values.len());
            b.extend(values.iter().map(|v| v.map(|v| v as u64)));
            Arc::new(b.finish())
        }
        IdColumnType::Decimal => {
            let mut b = StringBuilder::with_capacity(values.len(), values.len() * 19);
            for v in values {
                match v {
                    Some(v) => b.append_value(v.to_string()),
                    None => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
    }
}

/// A flagged ID, what to do and why, as the compliance results say.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Flag {
    /// The post or user ID.
    pub id: i64,
    /// `delete`, `rehydrate` or `scrub_geo` (posts only), or anything else to test unknown
    /// actions.
    pub action: &'static str,
    /// `deleted`, `protected`, `suspended`, `deactivated`, `tweet_edited` (with `rehydrate`),
    /// `geo_scrubbed` (with `scrub_geo`), or `scrub_geo` (with `delete`, before the cutover) …
    pub reason: &'static str,
}

impl Flag {
    /// A `delete` event with `reason`.
    pub fn delete(id: i64, reason: &'static str) -> Flag {
        Flag {
            id,
            action: "delete",
            reason,
        }
    }
}

/// Flagged posts and users, ascending by ID (an ID may repeat, as when results of several jobs
/// are joined together).
#[derive(Clone, Debug, Default)]
pub struct Flags {
    /// Flagged post IDs.
    pub posts: Vec<Flag>,
    /// Flagged user IDs.
    pub users: Vec<Flag>,
}

/// Picks a seeded sample of the dataset's posts (`post_rate` of the rows) and of its author pool
/// (`user_rate` of the authors) with realistic events in the live vocabulary (September 2026
/// on: `delete`, `rehydrate`/`tweet_edited`, `scrub_geo`/`geo_scrubbed`), as a compliance job
/// would flag them. The repeated post ID is always flagged, so tests see one ID matching many
/// rows. [`Flags::legacy`] gives the same sample in the vocabulary of older results.
pub fn flag_sample(spec: &DatasetSpec, post_rate: f64, user_rate: f64) -> Flags {
    // Posts: deletions dominate, then edits and geo scrubs.
    const POST_EVENTS: &[(&str, &str, f64)] = &[
        ("delete", "deleted", 0.50),
        ("rehydrate", "tweet_edited", 0.65),
        ("scrub_geo", "geo_scrubbed", 0.80),
        ("delete", "protected", 0.88),
        ("delete", "suspended", 0.97),
        ("delete", "deactivated", 1.0),
    ];
    const USER_EVENTS: &[(&str, &str, f64)] = &[
        ("delete", "deleted", 0.40),
        ("delete", "suspended", 0.65),
        ("delete", "protected", 0.85),
        ("delete", "deactivated", 1.0),
    ];
    let pick = |table: &[(&'static str, &'static str, f64)], id: i64, h: u64| {
        let u = unit_interval(h);
        let &(action, reason, _) = table
            .iter()
            .find(|(_, _, cum)| u < *cum)
            .unwrap_or(&table[table.len() - 1]);
        Flag { id, action, reason }
    };
    let mut posts = Vec::new();
    for g in 0..spec.total_rows() {
        if unit_interval(hash3(spec.seed, domain::FLAG_POST, g)) < post_rate
            && let Some(id) = post_id_at(spec, g)
        {
            posts.push(pick(POST_EVENTS, id, hash3(spec.seed, domain::REASON, g)));
        }
    }
    if spec.repeated_id_rows > 1 && spec.files > 0 {
        posts.push(Flag::delete(
            natural_post_id(spec, spec.repeated_start()),
            "deleted",
        ));
    }
    posts.sort_by_key(|f| f.id);
    posts.dedup_by_key(|f| f.id);
    let mut users: Vec<Flag> = (0..spec.authors as u64)
        .filter(|&i| unit_interval(hash3(spec.seed, domain::FLAG_USER, i)) < user_rate)
        .map(|i| {
            pick(
                USER_EVENTS,
                author_id(spec, i),
                hash3(spec.seed, domain::REASON, !i),
            )
        })
        .collect();
    users.sort_by_key(|f| f.id);
    Flags { posts, users }
}

impl Flags {
    /// The same events as results downloaded before the September 2026 cutover would hold them:
    /// every action `delete`, a geo scrub as reason `scrub_geo`, and no edits (the old flow had
    /// no `rehydrate`, so those events are left out).
    #[must_use]
    pub fn legacy(&self) -> Flags {
        let convert = |list: &[Flag]| {
            list.iter()
                .filter(|f| f.action != "rehydrate")
                .map(|f| match f.action {
                    "scrub_geo" => Flag::delete(f.id, "scrub_geo"),
                    _ => f.clone(),
                })
                .collect()
        };
        Flags {
            posts: convert(&self.posts),
            users: convert(&self.users),
        }
    }
}

/// Writes `flags` as results files (`tweets-00001.parquet` and `users-00001.parquet` in `dir`)
/// with [`crate::results::ResultsWriter`], as `xcomply decode` would after a job flagged them:
/// test and benchmark input for the join. `created_at` of a post is its snowflake time;
/// `redacted_at` is set for most records, null for some.
pub fn write_results(dir: &Path, flags: &Flags) -> Result<Vec<PathBuf>, SinkError> {
    use arrow_array::builder::StringDictionaryBuilder;
    use arrow_array::types::Int32Type;
    use xcomply_core::JobType;
    fs::create_dir_all(dir).map_err(|source| SinkError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    for (job_type, list, job_id) in [
        (JobType::Tweets, &flags.posts, 1_446_017_776_678_801_409_i64),
        (JobType::Users, &flags.users, 1_446_017_776_678_801_410),
    ] {
        let path = dir.join(format!("{job_type}-00001.parquet"));
        let mut action = StringDictionaryBuilder::<Int32Type>::new();
        let mut reason = StringDictionaryBuilder::<Int32Type>::new();
        let mut created = Vec::with_capacity(list.len());
        let mut redacted = Vec::with_capacity(list.len());
        for f in list {
            action.append_value(f.action);
            reason.append_value(f.reason);
            created.push(xcomply_core::snowflake_millis(f.id as u64).unwrap_or(1_609_459_200_000));
            let h = hash3(0, domain::REASON, f.id as u64);
            // One record in eight has no redaction time, as the API sometimes sends.
            redacted.push(
                (!h.is_multiple_of(8)).then_some(1_640_995_200_000 + (h % 86_400_000) as i64),
            );
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(arrow_array::Int64Array::from_iter_values(
                list.iter().map(|f| f.id),
            )),
            Arc::new(action.finish()),
            Arc::new(reason.finish()),
            Arc::new(TimestampMillisecondArray::from(created).with_timezone("UTC")),
            Arc::new(TimestampMillisecondArray::from(redacted).with_timezone("UTC")),
        ];
        let batch =
            RecordBatch::try_new(xcomply_jsonl::decoded_schema(), columns).map_err(|source| {
                SinkError::Arrow {
                    path: path.clone(),
                    source,
                }
            })?;
        let mut w = crate::results::ResultsWriter::create(&path, &job_type, Some(job_id))?;
        w.write(&batch)?;
        w.finish()?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
#[expect(
    clippy::disallowed_methods,
    reason = "tests read back the files they generated or wrote"
)]
mod tests {
    use super::*;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    fn small() -> DatasetSpec {
        DatasetSpec {
            files: 3,
            rows_per_file: 900,
            row_group_rows: 200,
            repeated_id_rows: 50,
            ..DatasetSpec::default()
        }
    }

    #[test]
    fn layout_row_groups_and_partitions() {
        let dir = tempfile::tempdir().unwrap();
        let spec = small();
        let info = generate_dataset(dir.path(), &spec).unwrap();
        assert_eq!(info.rows, 2_700);
        // 900 rows in groups of 200: 4 full groups and one of 100, per file.
        assert_eq!(info.row_groups, 15);
        for (f, path) in info.files.iter().enumerate() {
            let rel = path.strip_prefix(dir.path()).unwrap().to_str().unwrap();
            assert!(rel.starts_with("date=2020-01-0"), "{rel}");
            assert!(rel.ends_with(&format!("part-{f:05}.parquet")), "{rel}");
            let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
            assert_eq!(reader.metadata().num_row_groups(), 5);
            assert_eq!(reader.metadata().file_metadata().num_rows(), 900);
        }
    }

    #[test]
    fn ids_rise_with_time_and_repeat_once() {
        let spec = small();
        let ids: Vec<i64> = (0..spec.total_rows())
            .filter_map(|g| post_id_at(&spec, g))
            .collect();
        assert!(
            ids.windows(2).all(|w| w[0] <= w[1]),
            "post IDs are laid out by time"
        );
        let start = spec.repeated_start();
        let rep = natural_post_id(&spec, start);
        let count = ids.iter().filter(|&&i| i == rep).count();
        assert!(count > 40 && count <= 50, "{count}");
        let nulls = (0..spec.total_rows())
            .filter(|&g| post_id_at(&spec, g).is_none())
            .count();
        assert!(nulls > 0 && nulls < 30, "{nulls}");
    }

    #[test]
    fn authors_are_skewed() {
        let spec = DatasetSpec {
            authors: 1_000,
            ..small()
        };
        let mut counts = std::collections::HashMap::new();
        for g in 0..spec.total_rows() {
            if let Some(a) = author_id_at(&spec, g) {
                *counts.entry(a).or_insert(0u32) += 1;
            }
        }
        let max = *counts.values().max().unwrap();
        // Uniform would give about 2.7 posts per author; the head of the pool gets far more.
        assert!(max > 50, "{max}");
    }

    #[test]
    fn same_spec_same_bytes() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let spec = DatasetSpec {
            id_type: IdColumnType::Decimal,
            hive_partitions: false,
            ..small()
        };
        let ia = generate_dataset(a.path(), &spec).unwrap();
        let ib = generate_dataset(b.path(), &spec).unwrap();
        for (x, y) in ia.files.iter().zip(&ib.files) {
            assert_eq!(fs::read(x).unwrap(), fs::read(y).unwrap());
        }
    }

    #[test]
    fn flag_sample_hits_rates_and_the_repeated_id() {
        let spec = small();
        let flags = flag_sample(&spec, 0.03, 0.01);
        let rep = natural_post_id(&spec, spec.repeated_start());
        assert!(flags.posts.iter().any(|f| f.id == rep));
        assert!(
            (50..120).contains(&flags.posts.len()),
            "{}",
            flags.posts.len()
        );
        assert!(flags.posts.windows(2).all(|w| w[0].id < w[1].id));
        for action in ["delete", "rehydrate", "scrub_geo"] {
            assert!(flags.posts.iter().any(|f| f.action == action), "{action}");
        }
        assert!(flags.users.iter().all(|f| f.action == "delete"));
        assert!(!flags.users.is_empty());
        let legacy = flags.legacy();
        assert!(legacy.posts.iter().all(|f| f.action == "delete"));
        assert!(legacy.posts.iter().any(|f| f.reason == "scrub_geo"));
        assert!(
            legacy.posts.len() < flags.posts.len(),
            "no edits before the cutover"
        );
    }
}
