//! What the Parquet reader reads dataset bytes from.

use std::fs::File;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use parquet::file::reader::{ChunkReader, Length};

use crate::{DatasetError, FileStamp};

/// An open dataset file, for the `parquet` crate's readers. It is the only way shard, join and
/// apply read dataset bytes, so where the bytes come from is decided here alone.
#[derive(Debug)]
pub struct FileReader {
    path: PathBuf,
    file: File,
}

impl FileReader {
    pub(crate) fn open(path: &Path) -> Result<FileReader, DatasetError> {
        // The one place dataset files are opened: see the crate's invariant.
        let file = File::open(path).map_err(DatasetError::io(path))?;
        Ok(FileReader {
            path: path.to_path_buf(),
            file,
        })
    }

    /// The file's size and modification time now.
    pub fn stamp(&self) -> Result<FileStamp, DatasetError> {
        FileStamp::of_open(&self.file).map_err(DatasetError::io(&self.path))
    }

    /// Another handle on the same open file (for readers on several threads).
    pub fn try_clone(&self) -> Result<FileReader, DatasetError> {
        Ok(FileReader {
            path: self.path.clone(),
            file: self
                .file
                .try_clone()
                .map_err(DatasetError::io(&self.path))?,
        })
    }
}

impl Length for FileReader {
    fn len(&self) -> u64 {
        self.file.len()
    }
}

impl ChunkReader for FileReader {
    type T = <File as ChunkReader>::T;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        self.file.get_read(start)
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.file.get_bytes(start, length)
    }
}
