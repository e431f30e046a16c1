//! `manifest.json`: what each shard holds, and the totals of the inputs.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ShardError;

/// The file name of the manifest in a shard directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The version of the manifest layout, bumped on incompatible changes.
pub const MANIFEST_VERSION: u32 = 1;

/// `manifest.json`: one entry per job type sharded into the directory (the pipeline writes post
/// and user shards side by side; `xcomply shard` writes one type).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub types: Vec<ShardManifest>,
}

/// The shards of one job type and the totals of the inputs they came from.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ShardManifest {
    /// `tweets` or `users`: the prefix of the shard file names.
    #[serde(rename = "type")]
    pub job_type: String,
    pub max_ids_per_job: u64,
    pub max_bytes_per_job: Option<u64>,
    pub totals: Totals,
    pub shards: Vec<ShardInfo>,
}

/// Counts over every input.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Totals {
    /// Values read: non-blank text lines and non-null Parquet values.
    pub read: u64,
    /// Values that are IDs.
    pub valid: u64,
    /// Values that are not (only non-zero with `--lenient`; see `rejects.txt`).
    pub invalid: u64,
    /// Null Parquet values, skipped.
    pub nulls: u64,
    /// Valid values removed because the same ID came before.
    pub duplicates: u64,
    /// IDs written: `valid - duplicates`, the sum of the shard counts.
    pub unique: u64,
}

/// One shard file.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ShardInfo {
    /// File name within the shard directory, e.g. `tweets-00001.txt`.
    pub file: String,
    pub count: u64,
    /// The smallest and largest ID, as decimal strings like the API's IDs (JSON numbers above
    /// 2^53 lose precision in JavaScript and jq).
    #[serde(with = "decimal")]
    pub min: u64,
    #[serde(with = "decimal")]
    pub max: u64,
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
}

mod decimal {
    use serde::{Deserialize, Deserializer, Serializer};

    // serde's `with` hands fields by reference.
    #[allow(clippy::trivially_copy_pass_by_ref)]
    pub fn serialize<S: Serializer>(value: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Writes `manifest.json` in `dir` for the given types, through a temporary file and a rename so
/// that a reader never sees half a manifest.
pub fn write_manifest(dir: &Path, types: &[ShardManifest]) -> Result<PathBuf, ShardError> {
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        types: types.to_vec(),
    };
    let mut json = serde_json::to_vec_pretty(&manifest).expect("a manifest always serialises");
    json.push(b'\n');
    let path = dir.join(MANIFEST_FILE);
    let temp = dir.join(format!(".{MANIFEST_FILE}.tmp"));
    std::fs::write(&temp, json).map_err(ShardError::io("writing", &temp))?;
    std::fs::rename(&temp, &path).map_err(ShardError::io("renaming", &temp))?;
    Ok(path)
}

/// Reads a `manifest.json`.
pub fn read_manifest(path: &Path) -> Result<Manifest, ShardError> {
    let bytes = std::fs::read(path).map_err(ShardError::io("reading", path))?;
    serde_json::from_slice(&bytes).map_err(|e| ShardError::Io {
        action: "parsing",
        path: path.display().to_string(),
        source: e.into(),
    })
}
