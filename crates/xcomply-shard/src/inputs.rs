//! Turning the command line's inputs into a list of files: paths, directories and globs, by the
//! one rule of `xcomply-dataset`.

use std::path::PathBuf;

use crate::ShardError;

/// One input to read.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Input {
    /// Standard input (`-`), always text.
    Stdin,
    /// A file, text or Parquet: see [`Input::is_parquet`].
    File {
        /// Where to read it.
        path: PathBuf,
        /// Its path below the input it was found under.
        relative: PathBuf,
    },
    /// A Parquet object on object storage (`s3://…`), found by the dataset's rules.
    Object(xcomply_dataset::DatasetFile),
}

impl Input {
    /// Whether the file starts with Parquet's magic bytes (whatever its name: Spark and Hive name
    /// theirs `part-00000` or `000000_0`). Stdin is never Parquet: Parquet needs to seek to its
    /// footer.
    pub fn is_parquet(&self) -> Result<bool, ShardError> {
        match self {
            Input::Stdin => Ok(false),
            Input::File { path, .. } => Ok(xcomply_dataset::has_parquet_magic(path)?),
            Input::Object(_) => Ok(true),
        }
    }

    /// The name used in messages: the path as given, or `<stdin>`.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".into(),
            Input::File { path, .. } => path.display().to_string(),
            Input::Object(file) => file.display.clone(),
        }
    }
}

/// Expands inputs in order: `-` is stdin; `s3://…` the Parquet objects the dataset's rules find
/// there; everything else as [`xcomply_dataset::expand`] does it (a file is itself, a directory
/// every file below it in name order with hidden and `_`-prefixed names skipped, a glob its
/// matches).
pub fn expand_inputs(inputs: &[String]) -> Result<Vec<Input>, ShardError> {
    let mut files = Vec::new();
    for input in inputs {
        if input == "-" {
            files.push(Input::Stdin);
            continue;
        }
        xcomply_dataset::check_scheme(input)?;
        if xcomply_dataset::ObjectUri::parse(input).is_some() {
            // Objects are Parquet only (text files of IDs are read from disk or stdin).
            let dataset = xcomply_dataset::Dataset::discover(std::slice::from_ref(input))?;
            files.extend(dataset.files().iter().cloned().map(Input::Object));
            continue;
        }
        for found in xcomply_dataset::expand(std::slice::from_ref(input))? {
            files.push(Input::File {
                path: found.path,
                relative: found.relative,
            });
        }
    }
    Ok(files)
}
