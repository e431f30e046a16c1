//! The dataset: the only code that finds, stamps and opens the files of a user's dataset.
//!
//! Every command that reads a dataset (`shard`, `run`, `join`, `apply`) asks this crate, so they
//! cannot disagree about which files it holds: [`Dataset::discover`] expands paths, directories
//! (hive partitions included) and globs with one rule (Parquet by its magic bytes, whatever the
//! file's name; hidden and `_`-prefixed names skipped, as Spark and Hive do; `xcomply join`
//! manifests never read as data), refuses inputs that hold no Parquet file and tables whose live
//! files are listed in a log (Delta Lake, Iceberg), and records each file's canonical location
//! and stamp. [`Dataset::fingerprint`] is what a run compares on resume, so `ds`, `./ds/` and a
//! glob are the same dataset. [`DatasetFile::reader`] is the only way to the bytes.
//!
//! A dataset may live on S3-compatible object storage (`s3://bucket/prefix/`, mixed with local
//! paths): the same rules apply to its objects, read with range requests; see `remote.rs` for
//! the credentials it reads. Manifests name objects by their full URI.
//!
//! **Invariant:** no other crate opens a dataset file (`clippy.toml` disallows `File::open` in
//! the crates that read datasets; the few opens of their own outputs say why).
//!
//! It deliberately does not decode Parquet (the `parquet` crate does, from [`FileReader`]) nor
//! know ID columns.
//!
//! ```no_run
//! use xcomply_dataset::Dataset;
//!
//! let dataset = Dataset::discover(&["data/"])?;
//! for file in dataset.files() {
//!     let reader = file.reader()?; // a parquet ChunkReader
//! #   let _ = reader;
//! }
//! # Ok::<(), xcomply_dataset::DatasetError>(())
//! ```

mod discover;
mod error;
mod path;
mod reader;
mod remote;
mod stamp;

pub use discover::{
    Dataset, DatasetFile, Found, PARQUET_MAGIC, expand, has_parquet_magic, is_hidden,
    is_xcomply_manifest,
};
pub use error::{DatasetError, StoreErrorKind};
pub use path::{canonical, input_containing, is_glob, lexical_absolute, resolve};
pub use reader::FileReader;
pub use remote::{ObjectUri, check_scheme, has_objects, object_requests, upload_file};
pub use stamp::{FileStamp, Fingerprint, StampedFile};

/// File name of a manifest inside a join's output directory.
pub const MANIFEST_FILE: &str = "manifest.parquet";
/// File name of the summary beside a manifest.
pub const SUMMARY_FILE: &str = "summary.json";
