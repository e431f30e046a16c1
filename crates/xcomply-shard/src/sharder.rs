//! The bounded-memory dedupe core: IDs accumulate in one buffer; a full buffer is sorted,
//! deduplicated and spilled to a temporary run file; `finish` merges the runs with the last buffer
//! into the shard files.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use xcomply_core::{Id, JobType};

use crate::manifest::{ShardManifest, Totals};
use crate::sort::sort_unique;
use crate::write::{ShardWriter, write_all};
use crate::{IdSink, Reject, ShardError};

/// The default `--memory-limit`: 1 GiB holds about 60 million IDs before anything spills.
pub const DEFAULT_MEMORY_LIMIT: u64 = 1 << 30;

/// The default `--max-ids-per-job`. The API documents no cap on IDs; smaller jobs mean finer
/// checkpoints and uploads that finish well inside the 15-minute window of an upload URL. The
/// byte cap below binds first for snowflake IDs (about 6.4 million IDs of 20 bytes).
pub const DEFAULT_MAX_IDS_PER_JOB: u64 = 10_000_000;

/// The default `--max-bytes-per-job`: the live API (since September 2026) takes one upload of at
/// most "128 MB" and answers 413 above; read as decimal megabytes, the smaller reading, so a
/// shard fits whichever X meant.
pub const DEFAULT_MAX_BYTES_PER_JOB: u64 = 128_000_000;

/// Memory kept outside the ID buffer for the reading pipeline (a few MiB blocks in flight), the
/// writing thread's buffers and the merge readers: measured under 20 MiB, rounded up.
const OVERHEAD: u64 = 32 << 20;

/// Bytes each value takes while buffered: the value plus its radix-sort scratch twin.
const BYTES_PER_BUFFERED_ID: u64 = 16;

/// IDs per merge output batch: big enough to amortise the call into the writer, small enough to
/// stay in the L2 cache.
const BATCH: usize = 16 * 1024;

/// Upper bound for the read buffer of one run during the merge.
const MAX_RUN_READ: usize = 1 << 20;

/// How big the output may grow and how much memory the dedupe may use.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Bytes for deduplication; past it, sorted runs spill to `temp_dir`. The process stays within
    /// this plus a constant (its code, the Parquet decoder) of about 64 MiB.
    pub memory_limit: u64,
    /// Most IDs per shard file.
    pub max_ids_per_job: u64,
    /// Most bytes per shard file, if any ([`DEFAULT_MAX_BYTES_PER_JOB`] by default).
    pub max_bytes_per_job: Option<u64>,
    /// Threads for parsing and sorting (the reading pipeline also uses one reader thread).
    pub threads: usize,
    /// Where spilled runs go; the system temporary directory when `None`. The one-call
    /// [`crate::shard`] uses the output directory, which is on the disk meant for the data.
    pub temp_dir: Option<PathBuf>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            memory_limit: DEFAULT_MEMORY_LIMIT,
            max_ids_per_job: DEFAULT_MAX_IDS_PER_JOB,
            max_bytes_per_job: Some(DEFAULT_MAX_BYTES_PER_JOB),
            threads: std::thread::available_parallelism().map_or(2, usize::from),
            temp_dir: None,
        }
    }
}

impl Limits {
    /// How many IDs the buffer holds before it spills.
    pub fn buffer_ids(&self) -> usize {
        // Small limits (tests use a few hundred bytes) keep a proportional share for overhead so
        // that they still buffer a few IDs.
        let overhead = OVERHEAD.min(self.memory_limit / 4);
        ((self.memory_limit - overhead) / BYTES_PER_BUFFERED_ID).max(1) as usize
    }

    fn check(&self) -> Result<(), ShardError> {
        if self.max_ids_per_job == 0 {
            return Err(ShardError::InvalidOption(
                "expected --max-ids-per-job of at least 1, found `0`".into(),
            ));
        }
        if let Some(bytes) = self.max_bytes_per_job
            && bytes < 20
        {
            return Err(ShardError::InvalidOption(format!(
                "expected --max-bytes-per-job of at least 20 bytes (one 19-digit ID and its newline), found `{bytes}`"
            )));
        }
        Ok(())
    }
}

/// Rejected lines, written to a temporary file and renamed by [`Sharder::finish`].
#[derive(Debug)]
struct RejectLog {
    temp: PathBuf,
    path: PathBuf,
    out: BufWriter<File>,
}

/// Collects the IDs of one job type with bounded memory and writes them as shards.
///
/// ```no_run
/// use xcomply_core::{Id, JobType};
/// use xcomply_shard::{Limits, Sharder, write_manifest};
///
/// let mut sharder = Sharder::new(JobType::Tweets, Limits::default())?;
/// sharder.push(Id::new(42).unwrap())?;
/// sharder.push(Id::new(7).unwrap())?;
/// sharder.push(Id::new(42).unwrap())?;
/// let dir = std::path::Path::new("shards");
/// std::fs::create_dir_all(dir).unwrap();
/// let manifest = sharder.finish(dir)?; // tweets-00001.txt holds "7\n42\n"
/// write_manifest(dir, &[manifest])?;
/// # Ok::<(), xcomply_shard::ShardError>(())
/// ```
#[derive(Debug)]
pub struct Sharder {
    job_type: JobType,
    limits: Limits,
    capacity: usize,
    buffer: Vec<u64>,
    spill: Option<tempfile::TempDir>,
    runs: Vec<PathBuf>,
    totals: Totals,
    rejects: Option<RejectLog>,
}

impl Sharder {
    pub fn new(job_type: JobType, limits: Limits) -> Result<Sharder, ShardError> {
        limits.check()?;
        Ok(Sharder {
            job_type,
            capacity: limits.buffer_ids(),
            limits,
            buffer: Vec::new(),
            spill: None,
            runs: Vec::new(),
            totals: Totals::default(),
            rejects: None,
        })
    }

    /// Writes every rejected value (lenient reading) to `path`, one `at: error` line each. The
    /// file is complete once [`Sharder::finish`] renames it into place.
    pub fn log_rejects_to(&mut self, path: &Path) -> Result<(), ShardError> {
        let name = path.file_name().map_or_else(
            || "rejects.txt".into(),
            |n| n.to_string_lossy().into_owned(),
        );
        let temp = path.with_file_name(format!(".{name}.tmp"));
        let file = File::create(&temp).map_err(ShardError::io("creating", &temp))?;
        self.rejects = Some(RejectLog {
            temp,
            path: path.to_owned(),
            out: BufWriter::new(file),
        });
        Ok(())
    }

    /// The totals so far.
    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// Reserves room for about `ids` IDs up front (never past the memory limit), which spares the
    /// copies of a growing buffer when the input size is known.
    pub fn reserve(&mut self, ids: u64) {
        let wanted = usize::try_from(ids)
            .unwrap_or(usize::MAX)
            .min(self.capacity);
        self.buffer
            .reserve_exact(wanted.saturating_sub(self.buffer.len()));
    }

    /// Adds one ID.
    pub fn push(&mut self, id: Id) -> Result<(), ShardError> {
        self.push_ids(&[id])
    }

    fn grow(&mut self, wanted: usize) {
        // Grow by doubling but never past the capacity: together with freeing the sort scratch
        // before growing, this keeps the peak within the limit.
        let target = (self.buffer.capacity() * 2)
            .max(wanted)
            .max(1024)
            .min(self.capacity);
        self.buffer
            .reserve_exact(target.saturating_sub(self.buffer.len()));
    }

    fn spill(&mut self) -> Result<(), ShardError> {
        if self.spill.is_none() {
            let dir = match &self.limits.temp_dir {
                Some(dir) => tempfile::Builder::new()
                    .prefix(".xcomply-spill-")
                    .tempdir_in(dir),
                None => tempfile::Builder::new().prefix("xcomply-spill-").tempdir(),
            }
            .map_err(ShardError::io(
                "creating a spill directory in",
                self.limits
                    .temp_dir
                    .as_deref()
                    .unwrap_or(&std::env::temp_dir()),
            ))?;
            self.spill = Some(dir);
        }
        let dir = self.spill.as_ref().expect("spill directory").path();
        let path = dir.join(format!("run-{:06}.u64", self.runs.len()));
        let file = File::create(&path).map_err(ShardError::io("creating", &path))?;
        let mut out = BufWriter::with_capacity(MAX_RUN_READ, file);
        let unique = sort_unique(&mut self.buffer, self.limits.threads);
        let mut bytes = Vec::with_capacity(BATCH * 8);
        for batch in self.buffer[..unique].chunks(BATCH) {
            bytes.clear();
            for v in batch {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
            out.write_all(&bytes)
                .map_err(ShardError::io("writing", &path))?;
        }
        out.flush().map_err(ShardError::io("writing", &path))?;
        self.runs.push(path);
        self.buffer.clear();
        Ok(())
    }

    /// Sorts and deduplicates everything pushed, writes `{type}-00001.txt`, … into `dir` (which
    /// must exist) and the rejects file if one was asked for, and returns their description. The
    /// caller writes `manifest.json` with [`crate::write_manifest`], possibly together with the
    /// shards of the other job type in the same directory. Spilled runs are removed, also when
    /// this fails.
    pub fn finish(mut self, dir: &Path) -> Result<ShardManifest, ShardError> {
        let unique = sort_unique(&mut self.buffer, self.limits.threads);
        let prefix = self.job_type.as_str().to_owned();
        let shards = if self.runs.is_empty() {
            write_all(
                dir,
                &prefix,
                &self.buffer[..unique],
                self.limits.max_ids_per_job,
                self.limits.max_bytes_per_job,
                self.limits.threads,
            )?
        } else {
            let mut writer = ShardWriter::new(
                dir,
                &prefix,
                self.limits.max_ids_per_job,
                self.limits.max_bytes_per_job,
            );
            let read_size = MAX_RUN_READ
                .min(((self.limits.memory_limit / 4) as usize / self.runs.len()).max(64))
                / 8
                * 8;
            let mut sources = vec![Source::Memory(&self.buffer[..unique])];
            for path in &self.runs {
                sources.push(Source::Run(RunReader::open(path, read_size)?));
            }
            merge(sources, &mut |batch| writer.write(batch))?;
            writer.finish()?
        };
        if let Some(mut log) = self.rejects.take() {
            log.out
                .flush()
                .map_err(ShardError::io("writing", &log.temp))?;
            drop(log.out);
            std::fs::rename(&log.temp, &log.path).map_err(ShardError::io("renaming", &log.temp))?;
        }
        let mut totals = self.totals;
        totals.unique = shards.iter().map(|s| s.count).sum();
        totals.duplicates = totals.valid - totals.unique;
        Ok(ShardManifest {
            job_type: prefix,
            max_ids_per_job: self.limits.max_ids_per_job,
            max_bytes_per_job: self.limits.max_bytes_per_job,
            totals,
            shards,
        })
    }
}

impl Drop for Sharder {
    fn drop(&mut self) {
        // An unfinished rejects file is not left behind; the spill directory removes itself.
        if let Some(log) = self.rejects.take() {
            drop(log.out);
            let _ = std::fs::remove_file(&log.temp);
        }
    }
}

impl IdSink for Sharder {
    fn push_ids(&mut self, mut ids: &[Id]) -> Result<(), ShardError> {
        self.totals.read += ids.len() as u64;
        self.totals.valid += ids.len() as u64;
        while !ids.is_empty() {
            if self.buffer.len() == self.capacity {
                self.spill()?;
            }
            let room = self.capacity - self.buffer.len();
            let take = room.min(ids.len());
            if self.buffer.len() + take > self.buffer.capacity() {
                self.grow(self.buffer.len() + take);
            }
            self.buffer.extend(ids[..take].iter().map(|id| id.get()));
            ids = &ids[take..];
        }
        Ok(())
    }

    fn push_invalid(&mut self, reject: &Reject) -> Result<(), ShardError> {
        self.totals.read += 1;
        self.totals.invalid += 1;
        if let Some(log) = &mut self.rejects {
            writeln!(log.out, "{reject}").map_err(ShardError::io("writing", &log.temp))?;
        }
        Ok(())
    }

    fn push_nulls(&mut self, count: u64) {
        self.totals.nulls += count;
    }
}

/// A sorted run read back in blocks.
struct RunReader {
    path: PathBuf,
    file: File,
    bytes: Vec<u8>,
    values: Vec<u64>,
}

impl RunReader {
    fn open(path: &Path, read_size: usize) -> Result<RunReader, ShardError> {
        #[expect(
            clippy::disallowed_methods,
            reason = "a spilled run of this sharder, not a dataset file"
        )]
        let file = File::open(path).map_err(ShardError::io("opening", path))?;
        let mut run = RunReader {
            path: path.to_owned(),
            file,
            bytes: vec![0; read_size.max(8)],
            values: Vec::with_capacity(read_size / 8),
        };
        run.refill()?;
        Ok(run)
    }

    /// Reads the next block; leaves `values` empty at the end of the run.
    fn refill(&mut self) -> Result<(), ShardError> {
        let mut filled = 0;
        while filled < self.bytes.len() {
            let n = self
                .file
                .read(&mut self.bytes[filled..])
                .map_err(ShardError::io("reading", &self.path))?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        self.values.clear();
        self.values.extend(
            self.bytes[..filled - filled % 8]
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("eight bytes"))),
        );
        self.values.reverse();
        Ok(())
    }
}

/// One sorted, unique input of a merge.
enum Source<'a> {
    Memory(&'a [u64]),
    Run(RunReader),
}

/// Merges sorted unique sources into one sorted unique stream, handed to `out` in batches.
fn merge(
    mut sources: Vec<Source<'_>>,
    out: &mut dyn FnMut(&[u64]) -> Result<(), ShardError>,
) -> Result<(), ShardError> {
    sources.retain(|s| match s {
        Source::Memory(m) => !m.is_empty(),
        Source::Run(r) => !r.values.is_empty(),
    });
    if let [Source::Memory(only)] = sources.as_slice() {
        // Nothing spilled: the buffer is the whole answer.
        for chunk in only.chunks(BATCH) {
            out(chunk)?;
        }
        return Ok(());
    }
    merge_heap(sources, out)
}

/// Any number of sources, memory or spilled, through a binary heap of their heads.
fn merge_heap(
    mut sources: Vec<Source<'_>>,
    out: &mut dyn FnMut(&[u64]) -> Result<(), ShardError>,
) -> Result<(), ShardError> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    fn head(source: &Source<'_>) -> Option<u64> {
        match source {
            Source::Memory(m) => m.first().copied(),
            Source::Run(r) => r.values.last().copied(),
        }
    }

    let mut heap: BinaryHeap<Reverse<(u64, usize)>> = sources
        .iter()
        .enumerate()
        .filter_map(|(n, s)| head(s).map(|v| Reverse((v, n))))
        .collect();
    let mut batch = Vec::with_capacity(BATCH);
    let mut last: Option<u64> = None;
    // The smallest head is replaced in place (one sift-down) rather than popped and pushed.
    while let Some(mut top) = heap.peek_mut() {
        let Reverse((value, n)) = *top;
        if last != Some(value) {
            batch.push(value);
            last = Some(value);
            if batch.len() == BATCH {
                out(&batch)?;
                batch.clear();
            }
        }
        let source = &mut sources[n];
        match source {
            Source::Memory(m) => *m = &m[1..],
            Source::Run(r) => {
                r.values.pop();
                if r.values.is_empty() {
                    r.refill()?;
                }
            }
        }
        match head(source) {
            Some(next) => *top = Reverse((next, n)),
            None => {
                std::collections::binary_heap::PeekMut::pop(top);
            }
        }
    }
    out(&batch)
}
