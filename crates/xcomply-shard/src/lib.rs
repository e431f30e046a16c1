//! Extracts post and user IDs from text and Parquet inputs, validates them, removes duplicates
//! with bounded memory, and writes sorted shard files (one per compliance job) with a manifest.
//!
//! The pieces, usable alone or through the one-call [`shard`]:
//!
//! - readers push IDs into an [`IdSink`]: [`read_text`] (one ID per line; plain, gzip or zstd told
//!   by magic bytes; `-` for stdin; BOM, `\r\n`, surrounding spaces and blank lines tolerated) and
//!   [`read_parquet_columns`] (several columns of one file in one pass, e.g. `id` and
//!   `author_id`, each to its own sink); [`expand_inputs`] turns paths, directories (recursive,
//!   hive partitions) and globs into files;
//! - a [`Sharder`] is the sink of one job type: it buffers IDs up to [`Limits::memory_limit`],
//!   spills sorted runs to temporary files past it, and [`Sharder::finish`] merges everything into
//!   `{type}-00001.txt`, … (ascending, unique, `\n`-terminated, at most
//!   [`Limits::max_ids_per_job`] IDs and optionally [`Limits::max_bytes_per_job`] bytes each);
//! - [`write_manifest`] writes `manifest.json`, which describes one or several job types: the
//!   pipeline puts `tweets-*.txt` and `users-*.txt` side by side in one directory under one
//!   manifest, `xcomply shard` writes one type.
//!
//! The output depends only on the set of valid IDs: any input order, file split, memory limit or
//! thread count gives byte-identical shards. Every file is written under a hidden temporary name
//! and renamed when complete; the manifest is renamed last, so a directory with a manifest is a
//! complete one. Spilled runs live in a temporary directory removed on success and on error.
//!
//! Strict by default: the first invalid value fails with its `file:line` (Parquet: file, row and
//! column) and the value quoted. In lenient mode invalid values go to
//! [`IdSink::push_invalid`], which a [`Sharder`] counts and can log ([`Sharder::log_rejects_to`]).
//!
//! It deliberately knows nothing of the API or the network: its output is files on disk. It does
//! not fsync (a crash of the machine, unlike one of the process, may lose recent shards; the
//! manifest's sha256 sums detect that), and it does not read hive partition values as columns.
//!
//! ```no_run
//! use xcomply_core::JobType;
//! use xcomply_shard::{IdSink, Limits, Sharder, read_parquet_columns, write_manifest};
//!
//! // Post and author IDs of a dataset in one pass, into one shard directory.
//! let limits = Limits { memory_limit: 512 << 20, ..Limits::default() };
//! let mut tweets = Sharder::new(JobType::Tweets, limits.clone())?;
//! let mut users = Sharder::new(JobType::Users, limits)?;
//! for file in xcomply_dataset::Dataset::discover(&["dataset/"])?.files() {
//!     read_parquet_columns(file, &["id", "author_id"], false, &mut [&mut tweets, &mut users])?;
//! }
//! let dir = std::path::Path::new("shards");
//! xcomply_shard::prepare_out_dir(dir, false)?;
//! let manifests = [tweets.finish(dir)?, users.finish(dir)?];
//! write_manifest(dir, &manifests)?;
//! # Ok::<(), xcomply_shard::ShardError>(())
//! ```

mod error;
mod inputs;
mod manifest;
mod parquet;
mod sharder;
mod size;
pub mod sort;
mod text;
mod write;

use std::fmt;
use std::path::{Path, PathBuf};

use xcomply_core::{Id, IdError, JobType};

pub use error::ShardError;
pub use inputs::{Input, expand_inputs};
pub use manifest::{
    MANIFEST_FILE, MANIFEST_VERSION, Manifest, ShardInfo, ShardManifest, Totals, read_manifest,
    write_manifest,
};
pub use parquet::read_parquet_columns;
pub use sharder::{
    DEFAULT_MAX_BYTES_PER_JOB, DEFAULT_MAX_IDS_PER_JOB, DEFAULT_MEMORY_LIMIT, Limits, Sharder,
};
pub use size::{parse_byte_cap, parse_size};
pub use text::{Compression, open_text, read_text, read_text_from};
pub use write::{push_decimal_line, shard_file_name};

/// The name of the rejects file that [`shard`] writes in lenient mode.
pub const REJECTS_FILE: &str = "rejects.txt";

/// Where readers put what they read.
pub trait IdSink {
    /// Valid IDs, in input order.
    fn push_ids(&mut self, ids: &[Id]) -> Result<(), ShardError>;
    /// An invalid value, in lenient mode (strict readers fail instead).
    fn push_invalid(&mut self, reject: &Reject) -> Result<(), ShardError>;
    /// Null values skipped (Parquet).
    fn push_nulls(&mut self, count: u64);
}

/// An invalid value and where it was.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Reject {
    /// `file:line`, or `file: row N of column c` for Parquet.
    pub at: String,
    pub error: IdError,
}

impl fmt::Display for Reject {
    /// The rejects file's line: the same text as the strict error.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.error)
    }
}

/// Everything [`shard`] needs besides the inputs.
#[derive(Clone, Debug)]
pub struct ShardOptions {
    pub job_type: JobType,
    pub out_dir: PathBuf,
    /// The column of Parquet inputs; required when an input is Parquet.
    pub column: Option<String>,
    pub limits: Limits,
    /// Log invalid values to `rejects.txt` in the output directory instead of failing.
    pub lenient: bool,
    /// Replace the shards of an existing, non-empty output directory.
    pub force: bool,
}

/// Makes `dir` ready for shards: creates it, or accepts it when empty. A non-empty directory is
/// refused unless `force`, which removes the files a previous run wrote there (shard files,
/// `manifest.json`, `rejects.txt`, temporary files and spill directories) and nothing else.
pub fn prepare_out_dir(dir: &Path, force: bool) -> Result<(), ShardError> {
    if !dir.exists() {
        return std::fs::create_dir_all(dir).map_err(ShardError::io("creating", dir));
    }
    let entries: Vec<std::fs::DirEntry> = std::fs::read_dir(dir)
        .map_err(ShardError::io("listing", dir))?
        .collect::<Result<_, _>>()
        .map_err(ShardError::io("listing", dir))?;
    if entries.is_empty() {
        return Ok(());
    }
    if !force {
        return Err(ShardError::OutputExists {
            path: dir.display().to_string(),
        });
    }
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name.starts_with(".xcomply-spill-") {
            std::fs::remove_dir_all(&path).map_err(ShardError::io("removing", &path))?;
        } else if is_output_name(&name) {
            std::fs::remove_file(&path).map_err(ShardError::io("removing", &path))?;
        }
    }
    Ok(())
}

/// Whether a file name is one this crate writes: `tweets-00001.txt`, `manifest.json`,
/// `rejects.txt` or a hidden `.….tmp` of one of them.
fn is_output_name(name: &str) -> bool {
    let name = name
        .strip_prefix('.')
        .and_then(|n| n.strip_suffix(".tmp"))
        .unwrap_or(name);
    if name == MANIFEST_FILE || name == REJECTS_FILE {
        return true;
    }
    let Some(stem) = name.strip_suffix(".txt") else {
        return false;
    };
    let Some((prefix, number)) = stem.rsplit_once('-') else {
        return false;
    };
    !prefix.is_empty()
        && !prefix.contains('-')
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// Reads every input into one job type's shards in `options.out_dir` with a `manifest.json`:
/// what `xcomply shard` does.
pub fn shard(inputs: &[String], options: &ShardOptions) -> Result<ShardManifest, ShardError> {
    let files = expand_inputs(inputs)?;
    // Classify before creating anything, so that a missing --column fails without side effects.
    let mut kinds = Vec::with_capacity(files.len());
    for file in &files {
        let parquet = file.is_parquet()?;
        if parquet && options.column.is_none() {
            return Err(ShardError::ColumnRequired { path: file.name() });
        }
        kinds.push(parquet);
    }
    let mut limits = options.limits.clone();
    if limits.temp_dir.is_none() {
        limits.temp_dir = Some(options.out_dir.clone());
    }
    let threads = limits.threads;
    let mut sharder = Sharder::new(options.job_type.clone(), limits)?;
    prepare_out_dir(&options.out_dir, options.force)?;
    // A text line holds at most 20 bytes (19 digits and a newline), so the plain text bytes over
    // 20 are a floor for the number of IDs; compressed files only make it lower.
    let mut text_bytes = 0;
    for (file, parquet) in files.iter().zip(&kinds) {
        if let (Input::File { path, .. }, false) = (file, parquet) {
            text_bytes += std::fs::metadata(path).map_or(0, |m| m.len());
        }
    }
    sharder.reserve(text_bytes / 20);
    if options.lenient {
        sharder.log_rejects_to(&options.out_dir.join(REJECTS_FILE))?;
    }
    for (file, parquet) in files.iter().zip(kinds) {
        match file {
            Input::File { path, relative } if parquet => {
                let column = options.column.as_deref().expect("checked above");
                let file = xcomply_dataset::DatasetFile::at(path, relative.clone())?;
                read_parquet_columns(&file, &[column], options.lenient, &mut [&mut sharder])?;
            }
            Input::File { path, .. } => {
                let name = path.display().to_string();
                let reader = open_text(&path.to_string_lossy())?;
                read_text_from(&name, reader, options.lenient, threads, &mut sharder)?;
            }
            Input::Stdin => {
                read_text("-", options.lenient, threads, &mut sharder)?;
            }
            Input::Object(file) => {
                let column = options.column.as_deref().expect("checked above");
                read_parquet_columns(file, &[column], options.lenient, &mut [&mut sharder])?;
            }
        }
    }
    let manifest = sharder.finish(&options.out_dir)?;
    write_manifest(&options.out_dir, std::slice::from_ref(&manifest))?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::is_output_name;

    #[test]
    fn output_names_are_recognised() {
        for name in [
            "tweets-00001.txt",
            "users-123456.txt",
            "manifest.json",
            "rejects.txt",
            ".tweets-00002.txt.tmp",
            ".manifest.json.tmp",
        ] {
            assert!(is_output_name(name), "{name}");
        }
        for name in [
            "notes.txt",
            "tweets.txt",
            "my-ids-1.txt",
            "-1.txt",
            "tweets-1a.txt",
        ] {
            assert!(!is_output_name(name), "{name}");
        }
    }
}
