//! What the Parquet reader reads dataset bytes from.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Buf as _, Bytes};
use parquet::file::reader::{ChunkReader, Length};

use crate::remote::Remote;
use crate::{DatasetError, FileStamp};

/// Bytes fetched per request by a sequential read of an object past its first block (copies of
/// unchanged files): large enough that the request's round trip is a few percent of its
/// transfer, small enough to keep memory bounded.
const OBJECT_READ_BLOCK: u64 = 8 << 20;

/// The least an object request fetches. The Parquet reader asks for a page's header (a few
/// hundred bytes, through `get_read`) and then for the page (`get_bytes`) right after it; one
/// fetch of at least this much answers both, and usually the next pages of the column chunk too,
/// from the reader's one-block cache, without reading far past what is needed.
const OBJECT_MIN_FETCH: u64 = 1 << 20;

/// An open dataset file, for the `parquet` crate's readers: a local file or an object. It is the
/// only way shard, join and apply read dataset bytes, so where the bytes come from is decided
/// here alone.
#[derive(Debug)]
pub struct FileReader {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Local {
        path: PathBuf,
        file: File,
    },
    Remote {
        remote: Arc<Remote>,
        len: u64,
        /// The last blocks fetched, `(offset, bytes)`, newest last: requests inside one cost
        /// nothing. Several, because a reader of two columns alternates between their chunks.
        cache: std::sync::Mutex<Vec<(u64, Bytes)>>,
    },
}

impl FileReader {
    pub(crate) fn open(path: &Path) -> Result<FileReader, DatasetError> {
        // The one place local dataset files are opened: see the crate's invariant.
        let file = File::open(path).map_err(DatasetError::io(path))?;
        Ok(FileReader {
            inner: Inner::Local {
                path: path.to_path_buf(),
                file,
            },
        })
    }

    pub(crate) fn remote(remote: Arc<Remote>, len: u64) -> FileReader {
        FileReader {
            inner: Inner::Remote {
                remote,
                len,
                cache: std::sync::Mutex::new(Vec::new()),
            },
        }
    }

    /// The file's size and modification time (and `ETag`, for an object) now.
    pub fn stamp(&self) -> Result<FileStamp, DatasetError> {
        match &self.inner {
            Inner::Local { path, file } => FileStamp::of_open(file).map_err(DatasetError::io(path)),
            Inner::Remote { remote, .. } => remote.stamp(),
        }
    }

    /// Another handle on the same file (for readers on several threads).
    pub fn try_clone(&self) -> Result<FileReader, DatasetError> {
        let inner = match &self.inner {
            Inner::Local { path, file } => Inner::Local {
                path: path.clone(),
                file: file.try_clone().map_err(DatasetError::io(path))?,
            },
            Inner::Remote { remote, len, .. } => Inner::Remote {
                remote: Arc::clone(remote),
                len: *len,
                cache: std::sync::Mutex::new(Vec::new()),
            },
        };
        Ok(FileReader { inner })
    }
}

/// Blocks kept per reader: one per column read at once (the join reads two), with room to spare;
/// at [`OBJECT_MIN_FETCH`] each this bounds a reader's cache at 4 MiB.
const CACHED_BLOCKS: usize = 4;

/// Bytes `start..start + want` of an object, from the cache when it holds them, else fetched
/// with at least [`OBJECT_MIN_FETCH`] bytes (up to the object's end) and cached.
fn fetch(
    remote: &Remote,
    len: u64,
    cache: &std::sync::Mutex<Vec<(u64, Bytes)>>,
    start: u64,
    want: u64,
) -> Result<Bytes, DatasetError> {
    let end = (start + want).min(len);
    let mut cached = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((at, bytes)) = cached
        .iter()
        .rev()
        .find(|(at, bytes)| *at <= start && end <= at + bytes.len() as u64)
    {
        return Ok(bytes.slice((start - at) as usize..(end - at) as usize));
    }
    let to = (start + want.max(OBJECT_MIN_FETCH)).min(len);
    let bytes = remote.get_range(start..to)?;
    let out = bytes.slice(..(end - start) as usize);
    if cached.len() == CACHED_BLOCKS {
        cached.remove(0);
    }
    cached.push((start, bytes));
    Ok(out)
}

/// A sequential read's first bytes at `start`: the rest of a cached block that holds `start` with
/// at least a page header's worth after it, else a fresh block from `start`.
fn fetch_from(
    remote: &Remote,
    len: u64,
    cache: &std::sync::Mutex<Vec<(u64, Bytes)>>,
    start: u64,
) -> Result<Bytes, DatasetError> {
    /// Enough for any page header (thrift, tens of bytes to a few KiB with statistics).
    const HEADER: u64 = 16 << 10;
    {
        let cached = cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let block_end = |at: u64, b: &Bytes| at + b.len() as u64;
        if let Some((at, bytes)) = cached.iter().rev().find(|(at, b)| {
            *at <= start && (start + HEADER <= block_end(*at, b) || block_end(*at, b) == len)
        }) {
            return Ok(bytes.slice((start - at) as usize..));
        }
    }
    fetch(remote, len, cache, start, OBJECT_MIN_FETCH)
}

impl Length for FileReader {
    fn len(&self) -> u64 {
        match &self.inner {
            Inner::Local { file, .. } => file.len(),
            Inner::Remote { len, .. } => *len,
        }
    }
}

/// A sequential read of an object from `pos`, one ranged request per block.
struct ObjectRead {
    remote: Arc<Remote>,
    pos: u64,
    end: u64,
    buf: Bytes,
}

impl Read for ObjectRead {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.buf.is_empty() {
            if self.pos >= self.end {
                return Ok(0);
            }
            let to = (self.pos + OBJECT_READ_BLOCK).min(self.end);
            self.buf = self
                .remote
                .get_range(self.pos..to)
                .map_err(std::io::Error::other)?;
            self.pos = to;
        }
        let n = out.len().min(self.buf.len());
        self.buf.copy_to_slice(&mut out[..n]);
        Ok(n)
    }
}

impl ChunkReader for FileReader {
    type T = Box<dyn Read + Send>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        match &self.inner {
            Inner::Local { file, .. } => Ok(Box::new(file.get_read(start)?)),
            Inner::Remote { remote, len, cache } => {
                // The first block through the cache (a page header is read this way, and its
                // page right after), the rest in large blocks.
                let first = fetch_from(remote, *len, cache, start)
                    .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))?;
                Ok(Box::new(ObjectRead {
                    remote: Arc::clone(remote),
                    pos: start + first.len() as u64,
                    end: *len,
                    buf: first,
                }))
            }
        }
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        match &self.inner {
            Inner::Local { file, .. } => file.get_bytes(start, length),
            Inner::Remote { remote, len, cache } => {
                fetch(remote, *len, cache, start, length as u64)
                    .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
            }
        }
    }
}
