//! Finding the files of a dataset: paths, directories (hive partitions included) and globs, one
//! rule for every command.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use crate::path::{input_containing, is_glob, resolve};
use crate::reader::FileReader;
use crate::remote::{self, ObjectUri, Remote};
use crate::stamp::{FileStamp, Fingerprint, StampedFile};
use crate::{DatasetError, MANIFEST_FILE, SUMMARY_FILE};

/// The first (and last) bytes of every Parquet file.
pub const PARQUET_MAGIC: &[u8; 4] = b"PAR1";

/// How many names of skipped files a "no Parquet files" error shows.
const SHOWN: usize = 5;

/// Whether a name is hidden or a marker (`.crc` files, `_SUCCESS`, `_temporary/`,
/// `_delta_log/`), which Spark, Hive and `DuckDB` all ignore.
pub fn is_hidden(name: &std::ffi::OsStr) -> bool {
    let b = name.as_encoded_bytes();
    b.first().is_some_and(|&c| c == b'.' || c == b'_')
}

/// Whether the file at `path` starts with Parquet's magic bytes. This, not the name, decides:
/// Spark, Hive and many writers name their files `part-00000` or `000000_0`.
pub fn has_parquet_magic(path: &Path) -> Result<bool, DatasetError> {
    let mut file = std::fs::File::open(path).map_err(DatasetError::io(path))?;
    let mut head = [0u8; 4];
    let mut filled = 0;
    while filled < head.len() {
        let n = file
            .read(&mut head[filled..])
            .map_err(DatasetError::io(path))?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled == head.len() && &head == PARQUET_MAGIC)
}

/// Whether a file is a manifest written by `xcomply join`: `manifest.parquet` with a
/// `summary.json` beside it. Discovery never reads one as data, so that a manifest written into
/// (or next to) the dataset cannot feed back into the next join.
pub fn is_xcomply_manifest(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == MANIFEST_FILE)
        && path.with_file_name(SUMMARY_FILE).is_file()
}

/// A file found under an input.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Found {
    /// Where to read it: the input joined with what a directory walk found.
    pub path: PathBuf,
    /// The path below the input it was found under (its name, for a file given by name).
    pub relative: PathBuf,
}

/// Expands inputs in order: an existing file is itself; a directory is every file below it,
/// recursively and in name order (hive-style `key=value/` partitions included), except hidden
/// and bookkeeping names starting with `.` or `_` (`_SUCCESS`, `.crc`, `_temporary/`); anything
/// else is a glob pattern, expanded in name order, that must match at least one path. Every
/// command that reads files (shard, run, join, apply) finds them through this.
pub fn expand(inputs: &[String]) -> Result<Vec<Found>, DatasetError> {
    let mut out = Vec::new();
    for input in inputs {
        let path = Path::new(input);
        if path.exists() {
            add(path, path, &mut out)?;
            continue;
        }
        if !is_glob(input) {
            return Err(DatasetError::NoMatch {
                input: input.clone(),
            });
        }
        // The directory part before the first pattern character is the root of relative paths.
        let cut = input.find(['*', '?', '[']).unwrap_or(input.len());
        let root = PathBuf::from(&input[..input[..cut].rfind('/').map_or(0, |i| i + 1)]);
        let paths = glob::glob(input).map_err(|e| DatasetError::BadGlob {
            input: input.clone(),
            message: e.to_string(),
        })?;
        let mut matched: Vec<PathBuf> = Vec::new();
        for p in paths {
            matched.push(p.map_err(|e| DatasetError::Io {
                path: e.path().to_path_buf(),
                source: e.into(),
            })?);
        }
        if matched.is_empty() {
            return Err(DatasetError::NoMatch {
                input: input.clone(),
            });
        }
        matched.sort();
        for p in matched {
            add(&p, &root, &mut out)?;
        }
    }
    Ok(out)
}

fn add(path: &Path, root: &Path, out: &mut Vec<Found>) -> Result<(), DatasetError> {
    if !path.is_dir() {
        let relative = if root.as_os_str().is_empty() || path == root {
            PathBuf::from(path.file_name().unwrap_or(path.as_os_str()))
        } else {
            path.strip_prefix(root)
                .map_or_else(|_| path.to_path_buf(), Path::to_path_buf)
        };
        out.push(Found {
            path: path.to_path_buf(),
            relative,
        });
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(DatasetError::io(path))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(DatasetError::io(path))?;
    entries.sort();
    for entry in entries {
        if entry.file_name().is_some_and(|n| !is_hidden(n)) {
            add(&entry, root, out)?;
        }
    }
    Ok(())
}

/// Refuses a directory that is the root (or inside the tree) of a table format whose live files
/// are listed in a log: reading every Parquet file under it would include removed ones.
fn check_table_format(dir: &Path) -> Result<(), DatasetError> {
    let real = resolve(dir);
    for d in real.ancestors() {
        if d.join("_delta_log").is_dir() {
            return Err(DatasetError::TableFormat {
                path: d.to_path_buf(),
                format: "Delta Lake",
                log: "_delta_log/",
            });
        }
        let metadata = d.join("metadata");
        let iceberg = std::fs::read_dir(&metadata).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".metadata.json"))
        });
        if iceberg {
            return Err(DatasetError::TableFormat {
                path: d.to_path_buf(),
                format: "Apache Iceberg",
                log: "metadata/*.metadata.json",
            });
        }
    }
    Ok(())
}

/// One Parquet file of a dataset: a local file, or an object (`s3://bucket/key`).
#[derive(Clone, Debug)]
pub struct DatasetFile {
    /// Where to read it.
    pub path: PathBuf,
    /// The path exactly as found (the input joined with what a directory walk found), as
    /// manifests record it in `file_path`.
    pub display: String,
    /// The path below the input it was found under, which `apply` recreates in its output.
    pub relative: PathBuf,
    /// Its canonical location (absolute, links resolved): two spellings of the dataset give the
    /// same one.
    pub canonical: PathBuf,
    /// Its size and modification time (and `ETag`, for an object) when it was found.
    pub stamp: FileStamp,
    /// The object and its client, for a file on object storage.
    remote: Option<Arc<Remote>>,
}

impl PartialEq for DatasetFile {
    fn eq(&self, other: &DatasetFile) -> bool {
        // The client is how the file is reached, not what it is.
        (
            &self.path,
            &self.display,
            &self.relative,
            &self.canonical,
            &self.stamp,
        ) == (
            &other.path,
            &other.display,
            &other.relative,
            &other.canonical,
            &other.stamp,
        )
    }
}

impl Eq for DatasetFile {}

impl DatasetFile {
    /// The dataset file at `path` (found under an input as `relative`), stamped now.
    pub fn at(path: &Path, relative: PathBuf) -> Result<DatasetFile, DatasetError> {
        let display = path
            .to_str()
            .ok_or_else(|| DatasetError::NotUtf8 {
                path: path.to_path_buf(),
            })?
            .to_owned();
        let stamp = FileStamp::of_path(path).map_err(DatasetError::io(path))?;
        Ok(DatasetFile {
            canonical: resolve(path),
            path: path.to_path_buf(),
            display,
            relative,
            stamp,
            remote: None,
        })
    }

    /// The object at `uri` (found under an input as `relative`), as listed with `stamp`.
    fn object(
        uri: ObjectUri,
        relative: PathBuf,
        stamp: FileStamp,
    ) -> Result<DatasetFile, DatasetError> {
        let text = uri.to_uri();
        Ok(DatasetFile {
            path: PathBuf::from(&text),
            canonical: PathBuf::from(&text),
            display: text,
            relative,
            stamp,
            remote: Some(Arc::new(Remote::new(uri)?)),
        })
    }

    /// Whether the file is an object on object storage.
    pub fn is_object(&self) -> bool {
        self.remote.is_some()
    }

    /// Opens the file for the Parquet reader. Every read of dataset bytes goes through this, so
    /// that the dataset's location (a local disk today) is decided in one place.
    pub fn reader(&self) -> Result<FileReader, DatasetError> {
        match &self.remote {
            Some(r) => Ok(FileReader::remote(Arc::clone(r), self.stamp.bytes)),
            None => FileReader::open(&self.path),
        }
    }
}

/// The Parquet objects of one `s3://` input: a prefix (every object below it, as a directory
/// walk), a whole key, or a key pattern with glob characters; by the same rules as local files.
fn discover_objects(
    input: &str,
    uri: &ObjectUri,
    skipped: &mut Vec<String>,
    looked: &mut usize,
) -> Result<Vec<DatasetFile>, DatasetError> {
    let pattern = if is_glob(&uri.key) {
        Some(
            glob::Pattern::new(&uri.key).map_err(|e| DatasetError::BadGlob {
                input: input.to_owned(),
                message: e.to_string(),
            })?,
        )
    } else {
        None
    };
    // What is listed: the key itself, or for a pattern the directory before its first wildcard.
    let root = match &pattern {
        Some(_) => {
            let cut = uri.key.find(['*', '?', '[']).unwrap_or(uri.key.len());
            uri.key[..uri.key[..cut].rfind('/').map_or(0, |i| i + 1)].to_owned()
        }
        None => uri.key.clone(),
    };
    let listed = remote::list(&ObjectUri {
        bucket: uri.bucket.clone(),
        key: root.clone(),
    })?;
    let root_dir = root.trim_end_matches('/');
    let relative_of = |key: &str| -> String {
        if key == root_dir {
            key.rsplit('/').next().unwrap_or(key).to_owned()
        } else if root_dir.is_empty() {
            key.to_owned()
        } else {
            key.strip_prefix(root_dir)
                .map_or(key, |k| k.trim_start_matches('/'))
                .to_owned()
        }
    };
    let keys: std::collections::BTreeSet<&str> = listed.iter().map(|l| l.key.as_str()).collect();
    // Delta Lake and Iceberg tables keep their live files in a log.
    for l in &listed {
        let rel = relative_of(&l.key);
        let table = if rel.starts_with("_delta_log/") {
            Some(("Delta Lake", "_delta_log/"))
        } else if rel.starts_with("metadata/") && rel.ends_with(".metadata.json") {
            Some(("Apache Iceberg", "metadata/*.metadata.json"))
        } else {
            None
        };
        if let Some((format, log)) = table {
            return Err(DatasetError::TableFormat {
                path: PathBuf::from(format!("s3://{}/{root_dir}", uri.bucket)),
                format,
                log,
            });
        }
    }
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let mut out = Vec::new();
    for l in &listed {
        let rel = relative_of(&l.key);
        if rel.split('/').any(|seg| seg.starts_with(['.', '_'])) {
            continue;
        }
        if let Some(p) = &pattern {
            // The key, or a directory holding it, matches the pattern.
            let mut matched = false;
            let mut at = l.key.as_str();
            loop {
                if p.matches_with(at, options) {
                    matched = true;
                    break;
                }
                match at.rfind('/') {
                    Some(i) => at = &at[..i],
                    None => break,
                }
            }
            if !matched {
                continue;
            }
        }
        *looked += 1;
        let object = ObjectUri {
            bucket: uri.bucket.clone(),
            key: l.key.clone(),
        };
        let given = l.key == uri.key;
        if l.key.ends_with(&format!("/{MANIFEST_FILE}"))
            && keys.contains(
                format!(
                    "{}{SUMMARY_FILE}",
                    &l.key[..l.key.len() - MANIFEST_FILE.len()]
                )
                .as_str(),
            )
        {
            if given {
                return Err(DatasetError::Manifest {
                    path: PathBuf::from(object.to_uri()),
                });
            }
            continue;
        }
        let named_parquet = std::path::Path::new(&l.key)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
        let parquet = named_parquet
            || (l.stamp.bytes >= 8
                && Remote::new(object.clone())?.get_range(0..4)?.as_ref() == PARQUET_MAGIC);
        if !parquet {
            if given {
                return Err(DatasetError::NotParquet {
                    path: PathBuf::from(object.to_uri()),
                });
            }
            skipped.push(object.to_uri());
            continue;
        }
        out.push(DatasetFile::object(
            object,
            PathBuf::from(rel),
            l.stamp.clone(),
        )?);
    }
    if listed.is_empty() && pattern.is_some() {
        return Err(DatasetError::NoMatch {
            input: input.to_owned(),
        });
    }
    Ok(out)
}

/// A dataset: the inputs as given and the Parquet files they hold.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Dataset {
    inputs: Vec<String>,
    files: Vec<DatasetFile>,
}

impl Dataset {
    /// Finds the Parquet files of `inputs` (files, directories, globs; see [`expand`]): a file
    /// is Parquet by its magic bytes, whatever its name (and a `.parquet` file is always read,
    /// so that a damaged one is reported rather than skipped); a file named by an input that is
    /// not Parquet is an error, one met in a directory walk or a glob is skipped; `xcomply join` manifests are
    /// never data. A directory of a Delta Lake or Iceberg table is refused, and so are inputs
    /// that hold no Parquet file at all (an empty dataset would be reported compliant). Files
    /// are sorted by path, each once even when two inputs name it.
    pub fn discover<S: AsRef<str>>(inputs: &[S]) -> Result<Dataset, DatasetError> {
        let inputs: Vec<String> = inputs.iter().map(|s| s.as_ref().to_owned()).collect();
        let mut local = Vec::new();
        let mut by_display: BTreeMap<String, DatasetFile> = BTreeMap::new();
        let mut skipped: Vec<String> = Vec::new();
        let mut looked = 0usize;
        for input in &inputs {
            remote::check_scheme(input)?;
            if let Some(uri) = ObjectUri::parse(input) {
                for f in discover_objects(input, &uri, &mut skipped, &mut looked)? {
                    by_display.insert(f.display.clone(), f);
                }
                continue;
            }
            let path = Path::new(input);
            if path.is_dir() {
                check_table_format(path)?;
            }
            local.push(input.clone());
        }
        for found in expand(&local)? {
            looked += 1;
            // A file named by an input itself (not found by a walk or a glob) must be data.
            let given = inputs.iter().any(|i| Path::new(i) == found.path);
            if is_xcomply_manifest(&found.path) {
                if given {
                    return Err(DatasetError::Manifest { path: found.path });
                }
                continue;
            }
            // A file named `.parquet` stays even without the magic bytes: it is a damaged Parquet
            // file, which the reader must report (or a lenient join list), not a file to skip.
            let named_parquet = found
                .path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
            if !named_parquet && !has_parquet_magic(&found.path)? {
                if given {
                    return Err(DatasetError::NotParquet { path: found.path });
                }
                skipped.push(found.path.display().to_string());
                continue;
            }
            let file = DatasetFile::at(&found.path, found.relative)?;
            by_display.insert(file.display.clone(), file);
        }
        // Two spellings of one file (`ds/a.parquet` beside `./ds/a.parquet`) are one file.
        let mut seen = std::collections::BTreeSet::new();
        let files: Vec<DatasetFile> = by_display
            .into_values()
            .filter(|f| seen.insert(f.canonical.clone()))
            .collect();
        if files.is_empty() {
            let mut shown: Vec<String> = skipped.iter().take(SHOWN).cloned().collect();
            if skipped.len() > SHOWN {
                shown.push(format!("and {} more", skipped.len() - SHOWN));
            }
            let looked_at = match looked {
                0 => "no files at all".to_owned(),
                n if shown.is_empty() => format!("looked at {n} file(s)"),
                n => format!("looked at {n} file(s), none Parquet: {}", shown.join(", ")),
            };
            return Err(DatasetError::NoParquetFiles {
                inputs: inputs.join(", "),
                looked_at,
            });
        }
        Ok(Dataset { inputs, files })
    }

    /// The inputs as given.
    pub fn inputs(&self) -> &[String] {
        &self.inputs
    }

    /// The Parquet files, sorted by path.
    pub fn files(&self) -> &[DatasetFile] {
        &self.files
    }

    /// The files' canonical locations and stamps: the same for any spelling of the dataset.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::new(
            self.files
                .iter()
                .map(|f| StampedFile {
                    path: f.canonical.display().to_string(),
                    stamp: f.stamp.clone(),
                })
                .collect(),
        )
    }

    /// The input that `out` lies inside, if any (see [`input_containing`]); `probe` is a file
    /// that will be written under `out`.
    pub fn containing(&self, out: &Path, probe: &Path) -> Option<&str> {
        input_containing(out, probe, &self.inputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARQUET: &[u8] = b"PAR1 a Parquet file starts and ends with PAR1";

    fn tree(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (p, bytes) in files {
            let p = dir.path().join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
        dir
    }

    fn rel(d: &Dataset) -> Vec<String> {
        d.files()
            .iter()
            .map(|f| f.relative.to_str().unwrap().to_owned())
            .collect()
    }

    fn s(p: &Path) -> String {
        p.to_str().unwrap().to_owned()
    }

    #[test]
    fn parquet_files_are_found_by_their_magic_bytes_not_their_names() {
        let dir = tree(&[
            ("dt=1/000000_0", PARQUET),
            ("dt=1/part-00001", PARQUET),
            ("dt=2/part-0.parquet", PARQUET),
            ("dt=1/_SUCCESS", b""),
            ("dt=1/.part-00001.crc", b"crc"),
            ("_temporary/x.parquet", PARQUET),
            ("notes.txt", b"hello"),
        ]);
        let d = Dataset::discover(&[s(dir.path())]).unwrap();
        assert_eq!(
            rel(&d),
            ["dt=1/000000_0", "dt=1/part-00001", "dt=2/part-0.parquet"]
        );
        assert_eq!(
            d.files()[0].display,
            format!("{}/dt=1/000000_0", dir.path().display())
        );
        // The same files by glob, and one file twice in two spellings.
        let glob = Dataset::discover(&[format!("{}/dt=*/*", dir.path().display())]).unwrap();
        assert_eq!(glob.fingerprint(), d.fingerprint());
        let f = s(&dir.path().join("dt=2/part-0.parquet"));
        let twice = Dataset::discover(&[
            f.clone(),
            format!("{}/./dt=2/part-0.parquet", dir.path().display()),
        ])
        .unwrap();
        assert_eq!(twice.files().len(), 1);
        assert_eq!(twice.files()[0].relative, Path::new("part-0.parquet"));
    }

    #[test]
    fn spellings_of_a_dataset_share_a_fingerprint() {
        let dir = tree(&[("a/x", PARQUET), ("a/y", PARQUET)]);
        let a = Dataset::discover(&[s(&dir.path().join("a"))]).unwrap();
        let b = Dataset::discover(&[format!("{}/a/./", dir.path().display())]).unwrap();
        let c =
            Dataset::discover(&[s(&dir.path().join("a/x")), s(&dir.path().join("a/y"))]).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), c.fingerprint());
    }

    #[test]
    fn nothing_to_read_is_an_error_naming_what_was_looked_at() {
        let empty = tempfile::tempdir().unwrap();
        let err = Dataset::discover(&[s(empty.path())])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no Parquet files") && err.contains("no files at all"),
            "{err}"
        );
        let csv = tree(&[("a.csv", b"id\n1\n"), ("b.csv", b"id\n2\n")]);
        let err = Dataset::discover(&[s(csv.path())]).unwrap_err().to_string();
        assert!(
            err.contains("a.csv") && err.contains("looked at 2 file(s)"),
            "{err}"
        );
        let err = Dataset::discover(&[s(&csv.path().join("a.csv"))])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a Parquet file"), "{err}");
        let err = Dataset::discover(&[s(&csv.path().join("nope"))])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no such file"), "{err}");
    }

    #[test]
    fn join_manifests_are_not_dataset_files() {
        let dir = tree(&[
            ("part-0", PARQUET),
            ("m/manifest.parquet", PARQUET),
            ("m/summary.json", b"{}"),
            ("x/manifest.parquet", PARQUET),
        ]);
        let d = Dataset::discover(&[s(dir.path())]).unwrap();
        assert_eq!(rel(&d), ["part-0", "x/manifest.parquet"]);
        let err = Dataset::discover(&[s(&dir.path().join("m/manifest.parquet"))])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("is a manifest written by `xcomply join`"),
            "{err}"
        );
    }

    #[test]
    fn delta_and_iceberg_tables_are_refused_by_name() {
        let delta = tree(&[
            ("t/_delta_log/0.json", b"{}"),
            ("t/dt=1/p.parquet", PARQUET),
        ]);
        for input in [delta.path().join("t"), delta.path().join("t/dt=1")] {
            let err = Dataset::discover(&[s(&input)]).unwrap_err().to_string();
            assert!(err.contains("Delta Lake") && err.contains("--ids"), "{err}");
        }
        let iceberg = tree(&[
            ("t/metadata/v1.metadata.json", b"{}"),
            ("t/data/p.parquet", PARQUET),
        ]);
        let err = Dataset::discover(&[s(&iceberg.path().join("t/data"))])
            .unwrap_err()
            .to_string();
        assert!(err.contains("Apache Iceberg"), "{err}");
    }
}
