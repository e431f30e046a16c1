//! Turning the command line's inputs into a list of files: paths, directories and globs.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::ShardError;
use crate::parquet::PARQUET_MAGIC;

/// One input to read.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Input {
    /// Standard input (`-`), always text.
    Stdin,
    /// A file, text or Parquet: see [`Input::is_parquet`].
    File(PathBuf),
}

impl Input {
    /// Whether the file starts with Parquet's magic bytes. Stdin is never Parquet: Parquet needs
    /// to seek to its footer.
    pub fn is_parquet(&self) -> Result<bool, ShardError> {
        match self {
            Input::Stdin => Ok(false),
            Input::File(path) => {
                let mut head = [0u8; 4];
                let mut file =
                    std::fs::File::open(path).map_err(ShardError::io("opening", path))?;
                let mut filled = 0;
                while filled < head.len() {
                    let n = file
                        .read(&mut head[filled..])
                        .map_err(ShardError::io("reading", path))?;
                    if n == 0 {
                        break;
                    }
                    filled += n;
                }
                Ok(filled == 4 && &head == PARQUET_MAGIC)
            }
        }
    }

    /// The name used in messages: the path as given, or `<stdin>`.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".into(),
            Input::File(path) => path.display().to_string(),
        }
    }
}

/// Expands inputs in order: `-` is stdin; an existing file is itself; a directory is every file
/// below it, recursively and in name order (hive-style `key=value/` partitions included), except
/// hidden and bookkeeping files whose names start with `.` or `_` (`_SUCCESS`, `.crc`); anything
/// else is a glob pattern, expanded in name order, that must match at least one file.
pub fn expand_inputs(inputs: &[String]) -> Result<Vec<Input>, ShardError> {
    let mut files = Vec::new();
    for input in inputs {
        if input == "-" {
            files.push(Input::Stdin);
            continue;
        }
        let path = Path::new(input);
        if path.exists() {
            add_path(path, &mut files)?;
            continue;
        }
        let before = files.len();
        if input.contains(['*', '?', '[']) {
            let paths = glob::glob(input).map_err(|e| {
                ShardError::InvalidOption(format!("expected a glob pattern, found `{input}`: {e}"))
            })?;
            let mut matched: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
            matched.sort();
            for path in matched {
                add_path(&path, &mut files)?;
            }
        }
        if files.len() == before {
            return Err(ShardError::NoMatch {
                input: input.clone(),
            });
        }
    }
    Ok(files)
}

fn add_path(path: &Path, files: &mut Vec<Input>) -> Result<(), ShardError> {
    if !path.is_dir() {
        files.push(Input::File(path.to_owned()));
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(ShardError::io("listing", path))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(ShardError::io("listing", path))?;
    entries.sort();
    for entry in entries {
        let hidden = entry
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.') || n.starts_with('_'));
        if !hidden {
            add_path(&entry, files)?;
        }
    }
    Ok(())
}
