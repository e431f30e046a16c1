//! What a file was when it was read: its size and modification time, and a dataset's files with
//! theirs (its fingerprint).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// A file's size and modification time (and, for an object, its `ETag`): what one command saw,
/// compared by a later one to what it finds (a run's resume, `apply` after `join`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct FileStamp {
    /// Size in bytes.
    pub bytes: u64,
    /// Modification time, nanoseconds since the Unix epoch (negative before it, 0 when the file
    /// system keeps none).
    pub mtime_ns: i64,
    /// The object's `ETag` on object storage (absent for local files): a rewrite of the same
    /// size within the same second still changes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
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
            etag: None,
        }
    }
}

/// One file of a fingerprint: its canonical location and its stamp.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct StampedFile {
    /// The file's canonical location (an absolute path with links resolved), so that two
    /// spellings of one dataset (`ds`, `./ds/`, a glob, the shell's expansion of it) give the
    /// same fingerprint.
    pub path: String,
    /// Its size and modification time.
    #[serde(flatten)]
    pub stamp: FileStamp,
}

/// The files of a dataset with their stamps, sorted by location. Nothing in it changes when the
/// files are only read, so it stays the same across any number of resumes.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Every file, sorted by path.
    pub files: Vec<StampedFile>,
}

impl Fingerprint {
    /// A fingerprint of stamped files, sorted by path.
    pub fn new(mut files: Vec<StampedFile>) -> Fingerprint {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Fingerprint { files }
    }

    /// What changed from `self` (the recorded fingerprint) to `now`, as "added: …; removed: …;
    /// changed: …" with at most a few names each, or `None` when nothing did.
    pub fn diff(&self, now: &Fingerprint) -> Option<String> {
        // A handful of names says what happened; a dataset replaced whole would list thousands.
        const SHOWN: usize = 5;
        let old: BTreeMap<&str, &FileStamp> = self
            .files
            .iter()
            .map(|f| (f.path.as_str(), &f.stamp))
            .collect();
        let new: BTreeMap<&str, &FileStamp> = now
            .files
            .iter()
            .map(|f| (f.path.as_str(), &f.stamp))
            .collect();
        let added: Vec<&str> = new
            .keys()
            .filter(|p| !old.contains_key(*p))
            .copied()
            .collect();
        let removed: Vec<&str> = old
            .keys()
            .filter(|p| !new.contains_key(*p))
            .copied()
            .collect();
        let changed: Vec<&str> = new
            .iter()
            .filter(|(p, f)| old.get(*p).is_some_and(|o| o != *f))
            .map(|(p, _)| *p)
            .collect();
        let mut parts = Vec::new();
        for (what, list) in [("added", added), ("removed", removed), ("changed", changed)] {
            if list.is_empty() {
                continue;
            }
            let mut shown: Vec<String> =
                list.iter().take(SHOWN).map(|p| format!("`{p}`")).collect();
            if list.len() > SHOWN {
                shown.push(format!("and {} more", list.len() - SHOWN));
            }
            parts.push(format!("{what} {}", shown.join(", ")));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(path: &str, bytes: u64, mtime_ns: i64) -> StampedFile {
        StampedFile {
            path: path.into(),
            stamp: FileStamp {
                bytes,
                mtime_ns,
                etag: None,
            },
        }
    }

    #[test]
    fn diff_names_added_removed_and_changed_files() {
        let old = Fingerprint::new(vec![f("/d/a", 1, 1), f("/d/b", 2, 2)]);
        assert_eq!(old.diff(&old.clone()), None);
        let now = Fingerprint::new(vec![f("/d/b", 2, 3), f("/d/c", 1, 1)]);
        assert_eq!(
            old.diff(&now).unwrap(),
            "added `/d/c`; removed `/d/a`; changed `/d/b`"
        );
        let touched = Fingerprint::new(vec![f("/d/a", 1, 2), f("/d/b", 2, 2)]);
        assert_eq!(old.diff(&touched).unwrap(), "changed `/d/a`");
        let many = Fingerprint::new((0..8).map(|i| f(&format!("n{i}"), 1, 1)).collect());
        let text = Fingerprint::default().diff(&many).unwrap();
        assert!(text.ends_with("`n4`, and 3 more"), "{text}");
    }

    #[test]
    fn the_json_shape_is_a_flat_record_per_file() {
        let json = serde_json::to_string(&f("/d/a", 1, 2)).unwrap();
        assert_eq!(json, r#"{"path":"/d/a","bytes":1,"mtime_ns":2}"#);
    }
}
