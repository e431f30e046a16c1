//! What the Parquet reader reads dataset bytes from.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Buf as _, Bytes};
use parquet::file::reader::{ChunkReader, Length};

use crate::remote::Remote;
use crate::{DatasetError, FileStamp};

/// Bytes fetched per request by a sequential read of an object ([`ChunkReader::get_read`], used
/// for copies): large enough that the request's round trip is a few percent of its transfer,
/// small enough to keep memory bounded.
const OBJECT_READ_BLOCK: u64 = 8 << 20;

/// An open dataset file, for the `parquet` crate's readers: a local file or an object. It is the
/// only way shard, join and apply read dataset bytes, so where the bytes come from is decided
/// here alone.
#[derive(Debug)]
pub struct FileReader {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Local { path: PathBuf, file: File },
    Remote { remote: Arc<Remote>, len: u64 },
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
            inner: Inner::Remote { remote, len },
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
            Inner::Remote { remote, len } => Inner::Remote {
                remote: Arc::clone(remote),
                len: *len,
            },
        };
        Ok(FileReader { inner })
    }
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
            Inner::Remote { remote, len } => Ok(Box::new(ObjectRead {
                remote: Arc::clone(remote),
                pos: start,
                end: *len,
                buf: Bytes::new(),
            })),
        }
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        match &self.inner {
            Inner::Local { file, .. } => file.get_bytes(start, length),
            Inner::Remote { remote, .. } => remote
                .get_range(start..start + length as u64)
                .map_err(|e| parquet::errors::ParquetError::External(Box::new(e))),
        }
    }
}
