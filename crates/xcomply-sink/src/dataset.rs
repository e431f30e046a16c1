//! Finding a dataset's Parquet files, and reading its ID columns whatever their type.

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, UInt32Type, UInt64Type};
use arrow_array::{Array, ArrayRef};
use arrow_buffer::{NullBuffer, ScalarBuffer};
use arrow_schema::DataType;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use xcomply_core::Id;

use crate::SinkError;

/// One Parquet file of a dataset.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DatasetFile {
    /// Where to read it.
    pub path: PathBuf,
    /// The path exactly as found (the argument joined with what a directory walk found), as
    /// manifests record it in `file_path`.
    pub display: String,
    /// The path below the argument it was found under, which `apply` recreates in its output.
    pub relative: PathBuf,
}

/// A file's size and modification time: what the join saw, compared by `apply` to what it finds.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct FileStamp {
    /// Size in bytes.
    pub bytes: u64,
    /// Modification time, nanoseconds since the Unix epoch (negative before it).
    pub mtime_ns: i64,
}

impl FileStamp {
    /// The stamp of an open file.
    pub fn of_open(file: &std::fs::File) -> std::io::Result<FileStamp> {
        Ok(FileStamp::of_metadata(&file.metadata()?))
    }

    /// The stamp of the file at `path` (links followed).
    pub fn of_path(path: &Path) -> std::io::Result<FileStamp> {
        Ok(FileStamp::of_metadata(&std::fs::metadata(path)?))
    }

    fn of_metadata(m: &std::fs::Metadata) -> FileStamp {
        let mtime_ns = m
            .modified()
            .map_or(0, |t| match t.duration_since(std::time::UNIX_EPOCH) {
                Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
                Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
            });
        FileStamp {
            bytes: m.len(),
            mtime_ns,
        }
    }
}

/// Whether a name is hidden or a marker (`.crc` files, `_SUCCESS`, `_temporary/`), which
/// Spark, Hive and `DuckDB` all ignore.
fn is_hidden(name: &std::ffi::OsStr) -> bool {
    let b = name.as_encoded_bytes();
    b.first().is_some_and(|&c| c == b'.' || c == b'_')
}

fn is_parquet(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
        && path.file_name().is_some_and(|n| !is_hidden(n))
}

/// Whether a file is a manifest written by `xcomply join`: `manifest.parquet` with a
/// `summary.json` beside it. Dataset discovery never reads one as data, so that a manifest
/// written into (or next to) the dataset cannot feed back into the next join.
pub fn is_xcomply_manifest(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n == crate::join::MANIFEST_FILE)
        && path.with_file_name(crate::join::SUMMARY_FILE).is_file()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SinkError> {
    let io = |source| SinkError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let path = e.path();
        if is_hidden(&e.file_name()) {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else if is_parquet(&path) && !is_xcomply_manifest(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Finds the Parquet files of the dataset: files as given, directories walked recursively
/// (hive partitions such as `date=2020-01-01/` included; hidden and `_`-prefixed names skipped,
/// and so are `xcomply join` manifests, see [`is_xcomply_manifest`]), and glob patterns. The result is sorted by path and has no duplicates.
pub fn discover(inputs: &[PathBuf]) -> Result<Vec<DatasetFile>, SinkError> {
    let mut found: BTreeMap<String, DatasetFile> = BTreeMap::new();
    for input in inputs {
        let text = input.to_str().ok_or_else(|| SinkError::Schema {
            path: input.clone(),
            message: "path is not valid UTF-8; expected a UTF-8 path for the manifest".into(),
        })?;
        let mut add = |path: PathBuf, root: &Path| -> Result<(), SinkError> {
            let display = path
                .to_str()
                .ok_or_else(|| SinkError::Schema {
                    path: path.clone(),
                    message: "path is not valid UTF-8; expected a UTF-8 path for the manifest"
                        .into(),
                })?
                .to_owned();
            let relative = if root.as_os_str().is_empty() || path == root {
                PathBuf::from(path.file_name().unwrap_or(path.as_os_str()))
            } else {
                path.strip_prefix(root)
                    .map_or_else(|_| path.clone(), Path::to_path_buf)
            };
            found.insert(
                display.clone(),
                DatasetFile {
                    path,
                    display,
                    relative,
                },
            );
            Ok(())
        };
        if text.contains(['*', '?', '[']) {
            // The directory part before the first pattern character is the root of relative paths.
            let cut = text.find(['*', '?', '[']).unwrap_or(text.len());
            let root =
                Path::new(&text[..text[..cut].rfind('/').map_or(0, |i| i + 1)]).to_path_buf();
            let paths = glob::glob(text).map_err(|e| SinkError::Schema {
                path: input.clone(),
                message: format!("bad glob pattern: {e}"),
            })?;
            let mut matched = false;
            for p in paths {
                let p = p.map_err(|e| SinkError::Io {
                    path: e.path().to_path_buf(),
                    source: e.into(),
                })?;
                matched = true;
                if p.is_dir() {
                    let mut files = Vec::new();
                    walk(&p, &mut files)?;
                    for f in files {
                        add(f, &root)?;
                    }
                } else if is_parquet(&p) && !is_xcomply_manifest(&p) {
                    add(p, &root)?;
                }
            }
            if !matched {
                return Err(SinkError::Schema {
                    path: input.clone(),
                    message: "glob pattern matches no file; expected at least one Parquet file"
                        .into(),
                });
            }
        } else if input.is_dir() {
            let mut files = Vec::new();
            walk(input, &mut files)?;
            for f in files {
                add(f, input)?;
            }
        } else if is_xcomply_manifest(input) {
            return Err(SinkError::Schema {
                path: input.clone(),
                message: "is a manifest written by `xcomply join` (summary.json is beside it); expected a dataset Parquet file".into(),
            });
        } else if input.exists() {
            add(input.clone(), Path::new(""))?;
        } else {
            return Err(SinkError::Io {
                path: input.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "dataset path not found"),
            });
        }
    }
    Ok(found.into_values().collect())
}

/// `path` made absolute against the current directory, with `.` components dropped and `..`
/// components taken lexically (without looking at symbolic links), as a glob pattern sees it.
pub fn lexical_absolute(path: &Path) -> PathBuf {
    use std::path::Component;
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map_or_else(|_| path.to_path_buf(), |cwd| cwd.join(path))
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The real location of `path`: its longest existing ancestor canonicalised (symbolic links
/// resolved, relative paths taken against the current directory), with the part that does not
/// exist yet appended lexically. Two spellings of one file (`ds/a.parquet`, `./ds/a.parquet`,
/// `/abs/ds/a.parquet`) resolve to the same path.
pub fn resolve(path: &Path) -> PathBuf {
    let abs = lexical_absolute(path);
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return rest.iter().rev().fold(real, |acc, name| acc.join(name));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return abs,
        }
    }
}

/// An ID column of a batch as plain `i64` values with validity: what the probe loop reads.
#[derive(Debug)]
pub struct IdValues {
    /// The values; those at invalid positions are unspecified (but never flagged IDs are
    /// guaranteed only where `valid` says so).
    pub values: ScalarBuffer<i64>,
    /// Valid positions; `None` when all are valid.
    pub valid: Option<NullBuffer>,
    /// Non-null values that are not IDs (negative, above `i64::MAX`, not decimal digits).
    pub invalid: u64,
}

impl IdValues {
    /// The ID at `i`, or `None` when null or not an ID.
    #[inline]
    pub fn get(&self, i: usize) -> Option<i64> {
        match &self.valid {
            Some(v) if !v.is_valid(i) => None,
            _ => Some(self.values[i]),
        }
    }
}

/// Whether a column type can hold IDs: int64, uint64, int32, uint32 or decimal strings.
pub fn is_id_type(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int64
            | DataType::UInt64
            | DataType::Int32
            | DataType::UInt32
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
    )
}

/// Converts an ID column to [`IdValues`]. Values that are not IDs (negative numbers, unsigned
/// values above `i64::MAX`, strings that are not 1–19 decimal digits) become invalid and are
/// counted, so they never match and the summary says how many there were.
pub fn id_values(array: &ArrayRef) -> Option<IdValues> {
    let n = array.len();
    let from_iter = |iter: &mut dyn Iterator<Item = Option<i64>>| {
        let mut values = Vec::with_capacity(n);
        let mut valid = Vec::with_capacity(n);
        let mut invalid = 0;
        let nulls = array.logical_nulls();
        for (i, v) in iter.enumerate() {
            let is_null = nulls.as_ref().is_some_and(|b| b.is_null(i));
            match v {
                Some(v) if v >= 0 => {
                    values.push(v);
                    valid.push(true);
                }
                _ => {
                    invalid += u64::from(!is_null);
                    values.push(0);
                    valid.push(false);
                }
            }
        }
        IdValues {
            values: ScalarBuffer::from(values),
            valid: Some(NullBuffer::from(valid)),
            invalid,
        }
    };
    Some(match array.data_type() {
        DataType::Int64 => {
            let a = array.as_primitive::<Int64Type>();
            let values = a.values();
            // A vectorised scan first; the exact count (ignoring nulls) only when some value is negative.
            let negative = if values.iter().any(|&v| v < 0) {
                values
                    .iter()
                    .enumerate()
                    .filter(|&(i, &v)| v < 0 && a.is_valid(i))
                    .count()
            } else {
                0
            };
            if negative == 0 {
                // The common case: values and validity shared with the batch, nothing copied.
                IdValues {
                    values: values.clone(),
                    valid: a.nulls().cloned(),
                    invalid: 0,
                }
            } else {
                from_iter(&mut a.iter())
            }
        }
        DataType::UInt64 => {
            let a = array.as_primitive::<UInt64Type>();
            from_iter(&mut a.iter().map(|v| v.and_then(|v| i64::try_from(v).ok())))
        }
        DataType::Int32 => from_iter(
            &mut array
                .as_primitive::<Int32Type>()
                .iter()
                .map(|v| v.map(i64::from)),
        ),
        DataType::UInt32 => from_iter(
            &mut array
                .as_primitive::<UInt32Type>()
                .iter()
                .map(|v| v.map(i64::from)),
        ),
        DataType::Utf8 => from_iter(&mut array.as_string::<i32>().iter().map(parse_id)),
        DataType::LargeUtf8 => from_iter(&mut array.as_string::<i64>().iter().map(parse_id)),
        DataType::Utf8View => from_iter(&mut array.as_string_view().iter().map(parse_id)),
        _ => return None,
    })
}

/// The sharder's rule exactly (`Id::parse_trimmed`): a cell like `" 123"` was sent to X as 123,
/// so it must match 123 here.
fn parse_id(s: Option<&str>) -> Option<i64> {
    s.and_then(|s| Id::parse_trimmed(s.as_bytes()).ok())
        .map(Id::as_i64)
}

/// The dataset input that `out` lies inside, if any: a directory input that contains it (paths
/// compared after resolving symlinks and `./`), or a glob that matches `probe` (a file xcomply
/// will write under `out`) or one of its directories, which discovery would walk.
pub fn input_containing<'a>(
    out: &Path,
    probe: &Path,
    dataset_inputs: &'a [PathBuf],
) -> Option<&'a PathBuf> {
    let real_out = resolve(out);
    let glob_options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    for input in dataset_inputs {
        let text = input.to_string_lossy();
        let inside = if text.contains(['*', '?', '[']) {
            // A glob: inside when the probe file, or a directory holding it (which discovery
            // would walk), matches the pattern.
            let absolute = if input.is_absolute() {
                text.into_owned()
            } else {
                let cwd = std::env::current_dir().unwrap_or_default();
                format!("{}/{text}", glob::Pattern::escape(&cwd.to_string_lossy()))
            };
            glob::Pattern::new(&absolute).is_ok_and(|pattern| {
                let probe = lexical_absolute(probe);
                probe
                    .ancestors()
                    .any(|p| pattern.matches_path_with(p, glob_options))
            })
        } else {
            real_out.starts_with(resolve(input))
        };
        if inside {
            return Some(input);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow_array::{Int64Array, StringArray, UInt64Array};

    #[test]
    fn id_columns_of_every_type() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![Some(5), None, Some(-1)]));
        let v = id_values(&a).unwrap();
        assert_eq!(
            (v.get(0), v.get(1), v.get(2), v.invalid),
            (Some(5), None, None, 1)
        );
        let a: ArrayRef = Arc::new(UInt64Array::from(vec![Some(u64::MAX), Some(7), None]));
        let v = id_values(&a).unwrap();
        assert_eq!(
            (v.get(0), v.get(1), v.get(2), v.invalid),
            (None, Some(7), None, 1)
        );
        let a: ArrayRef = Arc::new(StringArray::from(vec![
            Some("1446017776678801409"),
            Some("x1"),
            None,
            Some(""),
        ]));
        let v = id_values(&a).unwrap();
        assert_eq!(
            (v.get(0), v.get(1), v.get(2), v.get(3), v.invalid),
            (Some(1_446_017_776_678_801_409), None, None, None, 2)
        );
        // Surrounding whitespace is accepted, as the sharder accepts it when it sends the ID to X.
        let a: ArrayRef = Arc::new(StringArray::from(vec![Some(" 12\r\n"), Some("1 2")]));
        let v = id_values(&a).unwrap();
        assert_eq!((v.get(0), v.get(1), v.invalid), (Some(12), None, 1));
    }

    #[test]
    fn join_manifests_are_not_dataset_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for p in [
            "part-0.parquet",
            "m/manifest.parquet",
            "m/summary.json",
            "x/manifest.parquet",
        ] {
            let p = root.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"").unwrap();
        }
        let names = |files: Vec<DatasetFile>| -> Vec<String> {
            files
                .iter()
                .map(|f| f.relative.to_str().unwrap().to_owned())
                .collect()
        };
        // A manifest with its summary is skipped; a file merely named manifest.parquet is data.
        let walked = names(discover(&[root.to_path_buf()]).unwrap());
        assert_eq!(walked, ["part-0.parquet", "x/manifest.parquet"]);
        let globbed = names(discover(&[root.join("*/*.parquet")]).unwrap());
        assert_eq!(globbed, ["x/manifest.parquet"]);
        let err = discover(&[root.join("m/manifest.parquet")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("is a manifest written by `xcomply join`"),
            "{err}"
        );
    }

    #[test]
    fn spellings_of_one_path_resolve_alike() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap();
        std::fs::create_dir(real.join("ds")).unwrap();
        let a = resolve(&real.join("ds/./sub/../new.parquet"));
        assert_eq!(a, real.join("ds/new.parquet"));
        assert_eq!(resolve(&real.join("ds/")), real.join("ds"));
        assert_eq!(
            lexical_absolute(Path::new("./a/b/../c")),
            std::env::current_dir().unwrap().join("a/c")
        );
    }

    #[test]
    fn discovers_directories_globs_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for p in [
            "date=2020-01-02/part-1.parquet",
            "date=2020-01-01/part-0.parquet",
            "date=2020-01-01/_SUCCESS",
            "_temporary/x.parquet",
            ".hidden.parquet",
            "notes.txt",
        ] {
            let p = root.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"").unwrap();
        }
        let files = discover(&[root.to_path_buf()]).unwrap();
        let rel: Vec<_> = files
            .iter()
            .map(|f| f.relative.to_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            rel,
            [
                "date=2020-01-01/part-0.parquet",
                "date=2020-01-02/part-1.parquet"
            ]
        );
        assert_eq!(
            files[0].display,
            format!("{}/date=2020-01-01/part-0.parquet", root.display())
        );
        let glob = discover(&[root.join("date=*/*.parquet")]).unwrap();
        assert_eq!(glob, files);
        let one = discover(&[files[1].path.clone(), files[1].path.clone()]).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].relative, Path::new("part-1.parquet"));
        let err = discover(&[root.join("missing")]).unwrap_err().to_string();
        assert!(
            err.contains("missing") && err.contains("not found"),
            "{err}"
        );
        assert!(discover(&[root.join("nothing-*.parquet")]).is_err());
    }
}
