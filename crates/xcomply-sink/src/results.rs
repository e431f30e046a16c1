//! The results Parquet file: one per compliance job, the decoded JSON Lines plus the job's ID and
//! type.
//!
//! Columns, in order: `id` Int64, `action` and `reason` Dictionary(Int32, Utf8), `created_at`
//! and `redacted_at` Timestamp(ms, "UTC") (`redacted_at` nullable), `job_id` Int64 (null when
//! unknown), `job_type` Dictionary(Int32, Utf8) (`tweets` or `users`). zstd-compressed, with
//! dictionary encoding on the string columns.
//!
//! [`ResultsWriter`] writes to a temporary name in the destination directory and renames on
//! [`ResultsWriter::finish`], so a crash never leaves a half-written file under the final name.
//! [`open_results`] reads a results file back after checking its schema; [`decode_reader`]
//! turns a JSON Lines reader into a results file in one call, and [`decode_reader_with`] also
//! keeps the results' error records (input lines X could not check, which are not rows) in a
//! JSON Lines file of their own.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, DictionaryArray, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use sha2::{Digest, Sha256};
use tempfile::TempPath;
use xcomply_core::{ComplianceRecord, JobType};
use xcomply_jsonl::{DecodeStats, Decoder, DecoderOptions, ErrorRecord, Reject, decoded_schema};

use crate::SinkError;

/// zstd level 1: result columns are IDs and timestamps that compress about as well at level 1
/// as at 3, and writing must keep up with a decoder running at over 1 GB/s of JSON.
const ZSTD_LEVEL: i32 = 1;

/// Bytes read from the input at a time by [`decode_reader`]: 1 MiB amortises read calls and
/// decoder calls while staying far below the memory budget.
const READ_CHUNK: usize = 1 << 20;

/// The dictionary string type of `action`, `reason` and `job_type`.
fn dict_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// The schema of every results file, in column order.
pub fn results_schema() -> SchemaRef {
    let mut fields: Vec<Field> = decoded_schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("job_id", DataType::Int64, true));
    fields.push(Field::new("job_type", dict_type(), false));
    Arc::new(Schema::new(fields))
}

/// What [`ResultsWriter::finish`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultsSummary {
    /// The final path of the file.
    pub path: PathBuf,
    /// Rows written.
    pub rows: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
}

/// A file writer that hashes what it writes, so the checksum costs no second read.
struct Hashing {
    file: BufWriter<File>,
    hasher: Sha256,
    bytes: u64,
}

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Writes one results file. Drop it without [`finish`](Self::finish) and nothing is left behind.
pub struct ResultsWriter {
    path: PathBuf,
    temp: TempPath,
    writer: ArrowWriter<Hashing>,
    job_id: Option<i64>,
    job_type: Arc<StringArray>,
    /// `job_id` and `job_type` are the same on every row: one column of each, as long as the
    /// longest batch so far, is sliced (without copying) for every batch.
    constant_columns: (ArrayRef, ArrayRef),
    rows: u64,
}

impl std::fmt::Debug for ResultsWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultsWriter")
            .field("path", &self.path)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl ResultsWriter {
    /// Starts a results file at `path` for a job of `job_type`, recording `job_id` (null when
    /// `None`). The file appears under `path` only on [`finish`](Self::finish).
    pub fn create(
        path: impl Into<PathBuf>,
        job_type: &JobType,
        job_id: Option<i64>,
    ) -> Result<ResultsWriter, SinkError> {
        let path = path.into();
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .map_or_else(|| "results".into(), |n| n.to_string_lossy().into_owned());
        let io = |source| SinkError::Io {
            path: path.clone(),
            source,
        };
        let (file, temp) = temp_builder()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(io)?
            .into_parts();
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(ZSTD_LEVEL).expect("zstd level 1 is valid"),
            ))
            // IDs and timestamps are nearly unique: a dictionary would be abandoned after its
            // first page anyway, so only the string columns and job_id get one.
            .set_dictionary_enabled(false)
            .set_column_dictionary_enabled(ColumnPath::from("action"), true)
            .set_column_dictionary_enabled(ColumnPath::from("reason"), true)
            .set_column_dictionary_enabled(ColumnPath::from("job_id"), true)
            .set_column_dictionary_enabled(ColumnPath::from("job_type"), true)
            // Min/max of the string columns would compare every row's string and prunes nothing
            // useful; the ID and timestamp statistics stay (the join prunes row groups by ID).
            .set_column_statistics_enabled(ColumnPath::from("action"), EnabledStatistics::None)
            .set_column_statistics_enabled(ColumnPath::from("reason"), EnabledStatistics::None)
            .set_column_statistics_enabled(ColumnPath::from("job_type"), EnabledStatistics::None)
            .build();
        let sink = Hashing {
            file: BufWriter::new(file),
            hasher: Sha256::new(),
            bytes: 0,
        };
        let writer =
            ArrowWriter::try_new(sink, results_schema(), Some(props)).map_err(|source| {
                SinkError::Parquet {
                    path: path.clone(),
                    source,
                }
            })?;
        let job_type = Arc::new(StringArray::from(vec![job_type.as_str()]));
        Ok(ResultsWriter {
            constant_columns: constant_columns(job_id, &job_type, 0),
            job_type,
            path,
            temp,
            writer,
            job_id,
            rows: 0,
        })
    }

    /// Appends a batch with the decoder's five columns ([`decoded_schema`]); the writer adds
    /// `job_id` and `job_type`.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        if batch.schema().fields() != decoded_schema().fields() {
            return Err(SinkError::Schema {
                path: self.path.clone(),
                message: format!(
                    "expected a batch with the decoder's columns {:?}, found {:?}",
                    decoded_schema(),
                    batch.schema()
                ),
            });
        }
        let n = batch.num_rows();
        if self.constant_columns.0.len() < n {
            self.constant_columns = constant_columns(self.job_id, &self.job_type, n);
        }
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        columns.push(self.constant_columns.0.slice(0, n));
        columns.push(self.constant_columns.1.slice(0, n));
        let full =
            RecordBatch::try_new(results_schema(), columns).map_err(|source| SinkError::Arrow {
                path: self.path.clone(),
                source,
            })?;
        self.writer
            .write(&full)
            .map_err(|source| SinkError::Parquet {
                path: self.path.clone(),
                source,
            })?;
        self.rows += n as u64;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes the footer, syncs the file and renames it to its final path.
    pub fn finish(self) -> Result<ResultsSummary, SinkError> {
        let ResultsWriter {
            path,
            temp,
            writer,
            rows,
            ..
        } = self;
        let sink = writer.into_inner().map_err(|source| SinkError::Parquet {
            path: path.clone(),
            source,
        })?;
        let Hashing {
            file,
            hasher,
            bytes,
        } = sink;
        let io = |source| SinkError::Io {
            path: path.clone(),
            source,
        };
        let file = file.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        temp.persist(&path).map_err(|e| io(e.error))?;
        Ok(ResultsSummary {
            path,
            rows,
            bytes,
            sha256: hex::encode(hasher.finalize()),
        })
    }
}

/// `len` rows of `job_id` and of `job_type`.
fn constant_columns(
    job_id: Option<i64>,
    job_type: &Arc<StringArray>,
    len: usize,
) -> (ArrayRef, ArrayRef) {
    let ids: ArrayRef = Arc::new(Int64Array::from(vec![job_id; len]));
    let types =
        DictionaryArray::<Int32Type>::try_new(Int32Array::from(vec![0; len]), job_type.clone())
            .expect("key 0 indexes the one-value dictionary");
    (ids, Arc::new(types))
}

/// Temporary files get the permissions of an ordinary new file (0666 less the umask), not
/// tempfile's private 0600: results and rejects are data for other tools and users.
fn temp_builder() -> tempfile::Builder<'static, 'static> {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder
}

/// Whether a string column has a string type: the dictionary xcomply writes, or plain strings as
/// other tools may write them.
fn is_string(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, value) => is_string(value),
        _ => false,
    }
}

/// Whether a column is a UTC millisecond timestamp. Parquet files written without an Arrow schema
/// read back with the zone `+00:00`, which is the same instant.
fn is_utc_millis(t: &DataType) -> bool {
    matches!(t, DataType::Timestamp(TimeUnit::Millisecond, Some(tz)) if matches!(tz.as_ref(), "UTC" | "+00:00" | "Z"))
}

/// Checks that a schema is the results schema: the seven columns in order, with their types.
/// String columns may be plain strings instead of dictionaries (other writers), and nullability
/// is not checked, since other writers mark every column nullable.
pub fn check_results_schema(schema: &Schema) -> Result<(), String> {
    let expected = results_schema();
    let found: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let wanted: Vec<&str> = expected
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    if found != wanted {
        return Err(format!(
            "expected the results columns {wanted:?}, found {found:?}"
        ));
    }
    for field in schema.fields() {
        let t = field.data_type();
        let ok = match field.name().as_str() {
            "id" | "job_id" => *t == DataType::Int64,
            "action" | "reason" | "job_type" => is_string(t),
            _ => is_utc_millis(t),
        };
        if !ok {
            let want = expected
                .field_with_name(field.name())
                .map(|f| f.data_type().to_string())
                .unwrap_or_default();
            return Err(format!(
                "column `{}`: expected {want}, found {t}",
                field.name()
            ));
        }
    }
    Ok(())
}

/// Opens a results file for reading, after checking its schema.
pub fn open_results(path: &Path) -> Result<ParquetRecordBatchReader, SinkError> {
    #[expect(
        clippy::disallowed_methods,
        reason = "a results file, not a dataset file"
    )]
    let file = File::open(path).map_err(|source| SinkError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let parquet = |source| SinkError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet)?;
    check_results_schema(builder.schema()).map_err(|message| SinkError::Schema {
        path: path.to_path_buf(),
        message,
    })?;
    builder.build().map_err(parquet)
}

/// One row of a results file, as plain values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultRow {
    /// The post or user ID.
    pub id: i64,
    /// `delete`, or an unknown action verbatim.
    pub action: String,
    /// Why.
    pub reason: String,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// Event time, epoch milliseconds, when the API sent one.
    pub redacted_at: Option<i64>,
    /// The job, when known.
    pub job_id: Option<i64>,
    /// `tweets` or `users`.
    pub job_type: String,
}

/// The string at `row` of a dictionary or plain string column.
fn string_at(column: &ArrayRef, row: usize) -> String {
    use arrow_array::Array as _;
    if let Some(dict) = column.as_any().downcast_ref::<DictionaryArray<Int32Type>>() {
        let values = dict.values().as_any().downcast_ref::<StringArray>();
        let key = dict.keys().value(row) as usize;
        return values.map(|v| v.value(key).to_owned()).unwrap_or_default();
    }
    column
        .as_any()
        .downcast_ref::<StringArray>()
        .map(|v| v.value(row).to_owned())
        .unwrap_or_default()
}

/// Reads a whole results file into rows. Meant for tests and small files: it holds every row in
/// memory, which a streaming consumer should not (use [`open_results`]).
pub fn read_rows(path: &Path) -> Result<Vec<ResultRow>, SinkError> {
    use arrow_array::Array as _;
    use arrow_array::TimestampMillisecondArray;
    let mut rows = Vec::new();
    for batch in open_results(path)? {
        let batch = batch.map_err(|source| SinkError::Arrow {
            path: path.to_path_buf(),
            source,
        })?;
        let bad = |column: &str| SinkError::Schema {
            path: path.to_path_buf(),
            message: format!("column `{column}` has an unexpected physical type"),
        };
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| bad("id"))?;
        let created = batch
            .column(3)
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .ok_or_else(|| bad("created_at"))?;
        let redacted = batch
            .column(4)
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .ok_or_else(|| bad("redacted_at"))?;
        let job_ids = batch
            .column(5)
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| bad("job_id"))?;
        for r in 0..batch.num_rows() {
            rows.push(ResultRow {
                id: ids.value(r),
                action: string_at(batch.column(1), r),
                reason: string_at(batch.column(2), r),
                created_at: created.value(r),
                redacted_at: redacted.is_valid(r).then(|| redacted.value(r)),
                job_id: job_ids.is_valid(r).then(|| job_ids.value(r)),
                job_type: string_at(batch.column(6), r),
            });
        }
    }
    Ok(rows)
}

/// What [`decode_reader`] did.
#[derive(Clone, Debug)]
pub struct DecodeSummary {
    /// The results file.
    pub results: ResultsSummary,
    /// What the decoder saw.
    pub stats: DecodeStats,
    /// The rejects file (lenient mode only; written even when empty, so scripts can rely on it).
    pub rejects: Option<PathBuf>,
    /// The error records file, when one was written (see [`DecodeOptions::errors`]). The count
    /// is `stats.error_records`.
    pub errors: Option<PathBuf>,
}

/// How [`decode_reader_with`] decodes, beyond the job and the output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Queue bad lines in the rejects file [`rejects_path`]`(out)` and go on, instead of failing
    /// at the first one.
    pub lenient: bool,
    /// Where to write the error records (`{"id":"<the input line>","error":"invalid_id"}`, one
    /// per line, in the order of the results), atomically like the results file. `None` counts
    /// them (`stats.error_records`) and keeps nothing. Error records never fail a decode, strict
    /// or lenient.
    pub errors: Option<PathBuf>,
    /// Write the errors file even when there are no error records (then it is empty). Without
    /// it, a decode without error records creates nothing and leaves whatever is under the path
    /// untouched; set it to replace an older errors file, so that it cannot describe a
    /// different decode.
    pub keep_empty_errors: bool,
}

/// Where lenient mode writes the rejects of `out`: `results.parquet` → `results.rejects.jsonl`.
pub fn rejects_path(out: &Path) -> PathBuf {
    sibling(out, "rejects")
}

/// The usual home of the error records of `out`: `results.parquet` → `results.errors.jsonl`
/// (`xcomply decode`'s default for `--errors`).
pub fn errors_path(out: &Path) -> PathBuf {
    sibling(out, "errors")
}

/// `dir/stem.{kind}.jsonl` beside `out`.
fn sibling(out: &Path, kind: &str) -> PathBuf {
    let stem = out
        .file_stem()
        .map_or_else(|| "results".into(), |s| s.to_string_lossy().into_owned());
    out.with_file_name(format!("{stem}.{kind}.jsonl"))
}

/// A JSON Lines output written under a temporary name in its directory and renamed on
/// [`finish`](Self::finish); dropped unfinished, it leaves nothing behind.
struct JsonLinesFile {
    path: PathBuf,
    temp: TempPath,
    out: BufWriter<File>,
}

impl JsonLinesFile {
    fn create(path: PathBuf) -> Result<JsonLinesFile, SinkError> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
        let (file, temp) = temp_builder()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|source| SinkError::Io {
                path: path.clone(),
                source,
            })?
            .into_parts();
        Ok(JsonLinesFile {
            path,
            temp,
            out: BufWriter::new(file),
        })
    }

    /// Writes one value and its newline.
    fn write(&mut self, value: &impl serde::Serialize) -> Result<(), SinkError> {
        let io = |source| SinkError::Io {
            path: self.path.clone(),
            source,
        };
        serde_json::to_writer(&mut self.out, value).map_err(|e| io(e.into()))?;
        self.out.write_all(b"\n").map_err(io)
    }

    /// Rejected lines: `{"line":…,"offset":…,"error":"…","raw":"…"}`, with the raw line decoded
    /// lossily (a line that is not UTF-8 is itself a reason for rejection).
    fn write_reject(&mut self, reject: &Reject) -> Result<(), SinkError> {
        self.write(&serde_json::json!({
            "line": reject.error.line,
            "offset": reject.error.offset,
            "error": reject.error.kind.to_string(),
            "raw": String::from_utf8_lossy(&reject.raw),
        }))
    }

    fn finish(self) -> Result<PathBuf, SinkError> {
        let JsonLinesFile { path, temp, out } = self;
        let io = |source| SinkError::Io {
            path: path.clone(),
            source,
        };
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        temp.persist(&path).map_err(|e| io(e.error))?;
        Ok(path)
    }
}

/// Batches queued between the decoding thread and the Parquet writing thread: one being
/// encoded and one ready keep both threads busy; more would only hold memory.
const WRITE_QUEUE: usize = 2;

/// Decodes results JSON Lines from `reader` (already decompressed) into the results file `out`.
///
/// Strict unless `lenient`, in which case bad lines go to [`rejects_path`]`(out)` and are counted.
/// Error records are counted (`stats.error_records`) and not kept; [`decode_reader_with`] keeps
/// them. Decoding runs on the calling thread and Parquet encoding on a second one, so the two
/// halves overlap. Memory stays bounded whatever the input size: one read chunk, a few batches,
/// one row group. On error nothing is left under `out` (or the rejects path).
pub fn decode_reader(
    reader: impl Read,
    job_type: &JobType,
    job_id: Option<i64>,
    out: &Path,
    lenient: bool,
) -> Result<DecodeSummary, SinkError> {
    let options = DecodeOptions {
        lenient,
        ..DecodeOptions::default()
    };
    decode_reader_with(reader, job_type, job_id, out, &options)
}

/// [`decode_reader`] with [`DecodeOptions`]: also writes the error records to
/// `options.errors`.
///
/// The errors file appears, by rename, only once the results file is in place, and only when
/// there is at least one error record or `keep_empty_errors` is set. On error nothing is left
/// under `out`, the rejects path or the errors path (an older file there stays as it was).
///
/// ```
/// use xcomply_core::JobType;
/// use xcomply_sink::results::{DecodeOptions, decode_reader_with, errors_path};
///
/// let dir = tempfile::tempdir()?;
/// let out = dir.path().join("tweets-00001.parquet");
/// let input = concat!(
///     r#"{"id":"20","action":"rehydrate","created_at":"2019-10-29T17:02:47.000Z","redacted_at":null,"reason":"tweet_edited"}"#,
///     "\n",
///     r#"{"id": "not_a_valid_id", "error": "invalid_id"}"#,
///     "\n",
/// );
/// let options = DecodeOptions { errors: Some(errors_path(&out)), ..DecodeOptions::default() };
/// let summary = decode_reader_with(input.as_bytes(), &JobType::Tweets, None, &out, &options)?;
/// assert_eq!((summary.results.rows, summary.stats.error_records), (1, 1));
/// let errors = std::fs::read_to_string(summary.errors.unwrap())?;
/// assert_eq!(errors, "{\"id\":\"not_a_valid_id\",\"error\":\"invalid_id\"}\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn decode_reader_with(
    reader: impl Read,
    job_type: &JobType,
    job_id: Option<i64>,
    out: &Path,
    options: &DecodeOptions,
) -> Result<DecodeSummary, SinkError> {
    let lenient = options.lenient;
    let mut writer = ResultsWriter::create(out, job_type, job_id)?;
    let mut rejects = if lenient {
        Some(JsonLinesFile::create(rejects_path(out))?)
    } else {
        None
    };
    let mut errors = ErrorRecordsOut {
        path: options.errors.as_deref(),
        file: None,
    };
    if options.keep_empty_errors {
        errors.open()?;
    }
    let (stats, writer) = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<RecordBatch>(WRITE_QUEUE);
        let encoder = scope.spawn(move || -> Result<ResultsWriter, SinkError> {
            for batch in rx {
                writer.write(&batch)?;
            }
            Ok(writer)
        });
        let decoded = decode_into(reader, out, lenient, &tx, rejects.as_mut(), &mut errors);
        drop(tx);
        let writer = encoder
            .join()
            .expect("the Parquet writer thread does not panic");
        // A writer error stops decoding early (the channel closes), so it is the cause to report.
        let writer = writer?;
        Ok::<_, SinkError>((decoded?, writer))
    })?;
    let results = writer.finish()?;
    let rejects = rejects.map(JsonLinesFile::finish).transpose()?;
    let errors = errors.file.map(JsonLinesFile::finish).transpose()?;
    Ok(DecodeSummary {
        results,
        stats,
        rejects,
        errors,
    })
}

/// Where the error records go: nowhere without a path, and into a file created on the first
/// record (or up front when an empty file is wanted).
struct ErrorRecordsOut<'a> {
    path: Option<&'a Path>,
    file: Option<JsonLinesFile>,
}

impl ErrorRecordsOut<'_> {
    fn open(&mut self) -> Result<Option<&mut JsonLinesFile>, SinkError> {
        let Some(path) = self.path else {
            return Ok(None);
        };
        if self.file.is_none() {
            self.file = Some(JsonLinesFile::create(path.to_path_buf())?);
        }
        Ok(self.file.as_mut())
    }

    /// Writes the records in the API's own shape (`ComplianceRecord::error_record`), so the file
    /// reads back with the same type as the results.
    fn write(&mut self, records: impl Iterator<Item = ErrorRecord>) -> Result<(), SinkError> {
        let mut records = records.peekable();
        if records.peek().is_none() {
            return Ok(());
        }
        let Some(file) = self.open()? else {
            return Ok(());
        };
        for record in records {
            file.write(&ComplianceRecord::error_record(record.id, record.error))?;
        }
        Ok(())
    }
}

/// The decoding half of [`decode_reader`]: reads, decodes, queues batches for the writer thread
/// and writes rejects. Returns early without error if the writer thread has stopped; the caller
/// then reports the writer's error.
fn decode_into(
    mut reader: impl Read,
    out: &Path,
    lenient: bool,
    tx: &std::sync::mpsc::SyncSender<RecordBatch>,
    mut rejects: Option<&mut JsonLinesFile>,
    errors: &mut ErrorRecordsOut<'_>,
) -> Result<DecodeStats, SinkError> {
    let mut decoder = Decoder::new(DecoderOptions {
        lenient,
        ..DecoderOptions::default()
    });
    let decode_err = |error| SinkError::Decode {
        path: out.to_path_buf(),
        error,
    };
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(SinkError::ReadInput { error }),
        };
        let mut off = 0;
        while off < n {
            off += decoder.decode(&buf[off..n]).map_err(decode_err)?;
            if let Some(batch) = decoder.take_full_batch()
                && tx.send(batch).is_err()
            {
                return Ok(decoder.stats());
            }
            if let Some(file) = rejects.as_deref_mut() {
                for reject in decoder.drain_rejects() {
                    file.write_reject(&reject)?;
                }
            }
            // Drained whether kept or not: a full queue pauses the decoder.
            errors.write(decoder.drain_error_records())?;
        }
    }
    if let Some(batch) = decoder.finish().map_err(decode_err)? {
        // If the writer has stopped, its error is reported by the caller.
        let _ = tx.send(batch);
    }
    if let Some(file) = rejects {
        for reject in decoder.drain_rejects() {
            file.write_reject(&reject)?;
        }
    }
    errors.write(decoder.drain_error_records())?;
    Ok(decoder.stats())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, TimestampMillisecondArray};
    use std::fmt::Write as _;

    const LINES: &str = concat!(
        r#"{"id":"1265324480517361664","action":"delete","created_at":"2019-10-29T17:02:47.000Z","redacted_at":"2020-07-29T17:02:47.000Z","reason":"deleted"}"#,
        "\n",
        r#"{"id": "1234567", "action": "delete", "created_at": "2013-03-26T02:46:15+00:00", "reason": "protected"}"#,
        "\n"
    );

    fn all_batches(path: &Path) -> Vec<RecordBatch> {
        open_results(path).unwrap().map(Result::unwrap).collect()
    }

    #[test]
    fn a_results_file_round_trips_with_the_contract_schema() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("tweets-00001.parquet");
        let summary = decode_reader(
            LINES.as_bytes(),
            &JobType::Tweets,
            Some(1_446_017_776_678_801_409),
            &out,
            false,
        )
        .unwrap();
        assert_eq!(summary.results.rows, 2);
        assert_eq!(summary.stats.records, 2);
        assert!(summary.rejects.is_none());
        assert!(summary.errors.is_none());
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(summary.results.bytes, bytes.len() as u64);
        assert_eq!(summary.results.sha256, hex::encode(Sha256::digest(&bytes)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&out).unwrap().permissions().mode();
            assert_ne!(
                mode & 0o044,
                0,
                "readable by others than the owner: {mode:o}"
            );
        }
        // Only the final file is left: no temporary names.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);

        let batches = all_batches(&out);
        let batch = &batches[0];
        assert_eq!(batch.schema().fields(), results_schema().fields());
        let job_ids = batch
            .column(5)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(job_ids.value(1), 1_446_017_776_678_801_409);
        let job_type = batch
            .column(6)
            .as_any()
            .downcast_ref::<DictionaryArray<Int32Type>>()
            .unwrap();
        let values = job_type
            .values()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(values.value(job_type.keys().value(0) as usize), "tweets");
        let redacted = batch
            .column(4)
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .unwrap();
        assert_eq!(redacted.value(0), 1_596_042_167_000);
        assert!(redacted.is_null(1));
    }

    #[test]
    fn a_missing_job_id_is_null() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("users.parquet");
        decode_reader(LINES.as_bytes(), &JobType::Users, None, &out, false).unwrap();
        let batch = &all_batches(&out)[0];
        assert_eq!(batch.column(5).null_count(), 2);
        let rows = read_rows(&out).unwrap();
        assert_eq!(
            rows[1],
            ResultRow {
                id: 1_234_567,
                action: "delete".into(),
                reason: "protected".into(),
                created_at: 1_364_265_975_000,
                redacted_at: None,
                job_id: None,
                job_type: "users".into(),
            }
        );
    }

    #[test]
    fn a_failed_decode_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("r.parquet");
        let input = format!("{LINES}{{\"id\":\"x\"}}\n");
        let err = decode_reader(input.as_bytes(), &JobType::Tweets, None, &out, false).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "decoding results into {}: line 3 (byte offset {}): ",
                out.display(),
                LINES.len()
            )),
            "{err}"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn lenient_decoding_writes_rejects_next_to_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("r.parquet");
        let input = format!("not json\n{LINES}{{\"id\":\"x\"}}");
        let summary = decode_reader(input.as_bytes(), &JobType::Tweets, None, &out, true).unwrap();
        assert_eq!(summary.results.rows, 2);
        assert_eq!(summary.stats.rejected, 2);
        let rejects_file = summary.rejects.unwrap();
        assert_eq!(rejects_file, dir.path().join("r.rejects.jsonl"));
        let text = std::fs::read_to_string(&rejects_file).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["line"], 1);
        assert_eq!(lines[0]["raw"], "not json");
        assert_eq!(lines[1]["line"], 4);
        assert_eq!(lines[1]["offset"], 9 + LINES.len());
    }

    /// Post results of the live API: events in the 2026 vocabulary around error records, in
    /// more of them than the decoder queues at once.
    fn results_with_error_records(errors: usize) -> String {
        let mut input = String::from(concat!(
            r#"{"id":"1","action":"delete","created_at":"2019-10-29T17:02:47.000Z","deleted_at":"2020-07-29T17:02:47.000Z","reason":"deleted"}"#,
            "\n"
        ));
        for i in 0..errors {
            writeln!(input, r#"{{"id": "bad \"{i}\" é", "error": "invalid_id"}}"#).unwrap();
        }
        input.push_str(concat!(
            r#"{"id":"2","action":"scrub_geo","created_at":"2019-10-29T17:02:47.000Z","redacted_at":null,"reason":"geo_scrubbed"}"#,
            "\n"
        ));
        input
    }

    fn keeping_errors(path: &Path) -> DecodeOptions {
        DecodeOptions {
            errors: Some(path.to_path_buf()),
            ..DecodeOptions::default()
        }
    }

    #[test]
    fn error_records_are_counted_and_kept_in_their_own_file_without_failing_a_strict_decode() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("tweets-00001.parquet");
        let errors = errors_path(&out);
        assert_eq!(errors, dir.path().join("tweets-00001.errors.jsonl"));
        let input = results_with_error_records(1000);
        let summary = decode_reader_with(
            input.as_bytes(),
            &JobType::Tweets,
            Some(7),
            &out,
            &keeping_errors(&errors),
        )
        .unwrap();
        assert_eq!(summary.results.rows, 2);
        assert_eq!(summary.stats.error_records, 1000);
        assert_eq!((summary.stats.records, summary.stats.rejected), (2, 0));
        assert_eq!(summary.errors.as_deref(), Some(errors.as_path()));
        let lines: Vec<ComplianceRecord> = std::fs::read_to_string(&errors)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 1000);
        assert_eq!(
            lines[999],
            ComplianceRecord::error_record("bad \"999\" é", "invalid_id")
        );
        // The rows are the events only, `deleted_at` standing in for a missing `redacted_at`.
        let rows = read_rows(&out).unwrap();
        assert_eq!(
            rows.iter()
                .map(|r| (r.id, r.action.as_str(), r.redacted_at))
                .collect::<Vec<_>>(),
            [
                (1, "delete", Some(1_596_042_167_000)),
                (2, "scrub_geo", None)
            ]
        );
        // No temporary names are left.
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["tweets-00001.errors.jsonl", "tweets-00001.parquet"]);

        // Without a path they are counted, and nothing else is written.
        let other = dir.path().join("other.parquet");
        let summary =
            decode_reader(input.as_bytes(), &JobType::Tweets, None, &other, false).unwrap();
        assert_eq!((summary.stats.error_records, summary.errors), (1000, None));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    }

    #[test]
    fn an_errors_file_is_written_without_error_records_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("r.parquet");
        let errors = errors_path(&out);
        std::fs::write(&errors, "older\n").unwrap();
        let summary = decode_reader_with(
            LINES.as_bytes(),
            &JobType::Tweets,
            None,
            &out,
            &keeping_errors(&errors),
        )
        .unwrap();
        assert_eq!((summary.stats.error_records, summary.errors), (0, None));
        assert_eq!(
            std::fs::read_to_string(&errors).unwrap(),
            "older\n",
            "untouched"
        );
        let options = DecodeOptions {
            keep_empty_errors: true,
            ..keeping_errors(&errors)
        };
        let summary =
            decode_reader_with(LINES.as_bytes(), &JobType::Tweets, None, &out, &options).unwrap();
        assert_eq!(summary.errors.as_deref(), Some(errors.as_path()));
        assert_eq!(
            std::fs::read_to_string(&errors).unwrap(),
            "",
            "replaced by an empty file"
        );
    }

    #[test]
    fn a_failed_decode_keeps_no_error_records() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("r.parquet");
        let errors = errors_path(&out);
        std::fs::write(&errors, "older\n").unwrap();
        let input = results_with_error_records(3) + "not json\n";
        let err = decode_reader_with(
            input.as_bytes(),
            &JobType::Tweets,
            None,
            &out,
            &keeping_errors(&errors),
        )
        .unwrap_err();
        assert!(err.to_string().contains("line 6 (byte offset"), "{err}");
        assert!(!out.exists());
        assert_eq!(std::fs::read_to_string(&errors).unwrap(), "older\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn files_with_another_schema_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.parquet");
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(vec!["1"])) as ArrayRef],
        )
        .unwrap();
        let mut w = ArrowWriter::try_new(File::create(&path).unwrap(), schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let err = open_results(&path).unwrap_err();
        assert!(
            err.to_string().contains("expected the results columns"),
            "{err}"
        );

        let mut fields: Vec<Field> = results_schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields[3] = Field::new("created_at", DataType::Int64, false);
        let err = check_results_schema(&Schema::new(fields)).unwrap_err();
        assert_eq!(
            err,
            "column `created_at`: expected Timestamp(ms, \"UTC\"), found Int64"
        );
    }

    #[test]
    fn many_batches_and_unknown_reasons_survive_the_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("big.parquet");
        let mut input = String::new();
        let n = 150_000u64;
        for i in 0..n {
            let reason = if i % 1000 == 7 {
                "geo_blocked"
            } else {
                "deleted"
            };
            writeln!(
                input,
                "{{\"id\":\"{i}\",\"action\":\"delete\",\"created_at\":\"2019-10-29T17:02:47.000Z\",\"reason\":\"{reason}\"}}"
            )
            .unwrap();
        }
        let summary = decode_reader(input.as_bytes(), &JobType::Tweets, None, &out, false).unwrap();
        assert_eq!(summary.results.rows, n);
        assert_eq!(summary.stats.unknown_reasons, 150);
        let mut seen = 0u64;
        let mut unknown = 0;
        for batch in all_batches(&out) {
            let ids = batch
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            let reasons = batch
                .column(2)
                .as_any()
                .downcast_ref::<DictionaryArray<Int32Type>>()
                .unwrap();
            let values = reasons
                .values()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap();
            for r in 0..batch.num_rows() {
                assert_eq!(ids.value(r) as u64, seen);
                if values.value(reasons.keys().value(r) as usize) == "geo_blocked" {
                    unknown += 1;
                }
                seen += 1;
            }
        }
        assert_eq!((seen, unknown), (n, 150));
    }
}
