//! Datasets on S3-compatible object storage (`s3://bucket/prefix/`), through the Apache Arrow
//! project's `object_store`.
//!
//! Credentials and endpoint come from where users already keep them: the standard `AWS_*`
//! environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION` / `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL` for `MinIO`, R2, Ceph or a local
//! server), then the profile files (`~/.aws/credentials` and `~/.aws/config`, or
//! `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE`, profile `AWS_PROFILE` or `default`). None of
//! it is ever shown: errors name the bucket and key only.
//!
//! The readers are blocking (the `parquet` crate's `ChunkReader`), so requests run on a small
//! runtime of this crate's own and the calling thread waits for each: that works from any thread,
//! inside an async runtime's blocking pool or not. Every read is a range request; the client
//! retries network errors and 5xx answers with backoff (`object_store` defaults).

use std::collections::HashMap;
use std::future::Future;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use futures::TryStreamExt as _;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _};

use crate::{DatasetError, FileStamp};

/// Worker threads of the request runtime: requests are IO-bound, and the join's reading threads
/// (one per core) each wait for one at a time.
const WORKERS: usize = 2;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .thread_name("xcomply-object-store")
            .enable_all()
            .build()
            .expect("a runtime for object storage requests")
    })
}

/// Requests sent to object storage by this process (each list page, head, ranged get and put
/// counts once, retries aside), for `-v` output and benchmarks.
static REQUESTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Requests sent to object storage so far by this process.
pub fn object_requests() -> u64 {
    REQUESTS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Runs `fut` (one request) on the request runtime and waits for it, from any thread.
pub(crate) fn block<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T {
    REQUESTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime().spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().expect("the request task always answers")
}

/// A location on object storage: `s3://bucket/key`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ObjectUri {
    /// The bucket.
    pub bucket: String,
    /// The key (or key prefix), without a leading `/`.
    pub key: String,
}

impl ObjectUri {
    /// Parses `s3://bucket/key`; `None` for anything else. Other schemes of object storage
    /// (`gs://`, `az://`) are refused by [`check_scheme`].
    pub fn parse(text: &str) -> Option<ObjectUri> {
        let rest = text.strip_prefix("s3://")?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        (!bucket.is_empty()).then(|| ObjectUri {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }

    /// `s3://bucket/key`.
    pub fn to_uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// Refuses object storage xcomply cannot read here (Google Cloud Storage, Azure), rather than
/// taking `gs://b/k` for a relative local path.
pub fn check_scheme(input: &str) -> Result<(), DatasetError> {
    for scheme in [
        "gs://", "gcs://", "az://", "abfs://", "abfss://", "azure://", "s3a://",
    ] {
        if input.starts_with(scheme) {
            return Err(DatasetError::UnsupportedScheme {
                input: input.to_owned(),
            });
        }
    }
    Ok(())
}

/// One object of a dataset, with the client that reads it.
pub(crate) struct Remote {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) path: ObjectPath,
    pub(crate) uri: ObjectUri,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Remote({})", self.uri.to_uri())
    }
}

/// The configuration of a profile file: `[name]` or `[profile name]` sections of `key = value`.
fn read_profile(path: &std::path::Path, profile: &str) -> HashMap<String, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return HashMap::new();
    };
    let mut out = HashMap::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = section.trim();
            let name = name.strip_prefix("profile ").unwrap_or(name).trim();
            inside = name == profile;
            continue;
        }
        if inside && let Some((k, v)) = line.split_once('=') {
            out.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    out
}

/// The client of one bucket, built once per bucket and process.
pub(crate) fn store(bucket: &str) -> Result<Arc<dyn ObjectStore>, DatasetError> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();
    let stores = STORES.get_or_init(|| Mutex::new(HashMap::new()));
    let mut stores = stores
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(s) = stores.get(bucket) {
        return Ok(Arc::clone(s));
    }
    // reqwest is built without a default TLS provider; the process uses `ring` everywhere.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let home = env("HOME").map(PathBuf::from);
    let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".to_owned());
    let credentials_file = env("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".aws/credentials")));
    let config_file = env("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".aws/config")));
    let mut from_files = HashMap::new();
    if let Some(p) = &config_file {
        from_files.extend(read_profile(p, &profile));
    }
    if let Some(p) = &credentials_file {
        from_files.extend(read_profile(p, &profile));
    }
    let mut builder = AmazonS3Builder::new().with_bucket_name(bucket);
    // Profile files first, so that the environment, applied next, wins.
    let file_value = |k: &str| from_files.get(k).cloned();
    if let (Some(id), Some(secret)) = (
        file_value("aws_access_key_id"),
        file_value("aws_secret_access_key"),
    ) {
        builder = builder
            .with_access_key_id(id)
            .with_secret_access_key(secret);
        if let Some(token) = file_value("aws_session_token") {
            builder = builder.with_token(token);
        }
    }
    if let Some(region) = file_value("region") {
        builder = builder.with_region(region);
    }
    if let Some(endpoint) = file_value("endpoint_url") {
        builder = builder.with_endpoint(endpoint);
    }
    for (key, value) in std::env::vars() {
        if key.starts_with("AWS_")
            && !value.is_empty()
            && let Ok(config_key) = key.to_ascii_lowercase().parse()
        {
            builder = builder.with_config(config_key, value);
        }
    }
    let endpoint = env("AWS_ENDPOINT_URL")
        .or_else(|| env("AWS_ENDPOINT"))
        .or_else(|| file_value("endpoint_url"));
    if endpoint
        .as_deref()
        .is_some_and(|e| e.starts_with("http://"))
    {
        // A local S3-compatible server (MinIO, a test server) speaks plain HTTP.
        builder = builder.with_allow_http(true);
    }
    let store: Arc<dyn ObjectStore> =
        Arc::new(builder.build().map_err(|e| DatasetError::ObjectStore {
            uri: format!("s3://{bucket}/"),
            kind: crate::error::StoreErrorKind::of(&e),
            message: clean(&e),
        })?);
    stores.insert(bucket.to_owned(), Arc::clone(&store));
    Ok(store)
}

/// An object store error as one line, without anything secret: `object_store` messages name the
/// bucket, key and HTTP status, never credentials or signatures.
pub(crate) fn clean(e: &object_store::Error) -> String {
    xcomply_core::error_chain(e)
}

pub(crate) fn store_error(uri: &ObjectUri, e: &object_store::Error) -> DatasetError {
    DatasetError::ObjectStore {
        uri: uri.to_uri(),
        kind: crate::error::StoreErrorKind::of(e),
        message: clean(e),
    }
}

/// An object as listed: its key, size and stamp.
#[derive(Clone, Debug)]
pub(crate) struct Listed {
    pub(crate) key: String,
    pub(crate) stamp: FileStamp,
}

fn stamp_of(meta: &object_store::ObjectMeta) -> FileStamp {
    FileStamp {
        bytes: meta.size,
        mtime_ns: meta.last_modified.timestamp_nanos_opt().unwrap_or(i64::MAX),
        etag: meta.e_tag.clone(),
    }
}

/// Every object under `prefix` (a whole-key match included), sorted by key.
pub(crate) fn list(uri: &ObjectUri) -> Result<Vec<Listed>, DatasetError> {
    let store = store(&uri.bucket)?;
    let prefix = ObjectPath::from(uri.key.trim_end_matches('/'));
    let uri2 = uri.clone();
    let listed: Vec<object_store::ObjectMeta> = block(async move {
        let prefix = (!prefix.as_ref().is_empty()).then_some(prefix);
        store.list(prefix.as_ref()).try_collect().await
    })
    .map_err(|e| store_error(&uri2, &e))?;
    let mut out: Vec<Listed> = listed
        .iter()
        .map(|m| Listed {
            key: m.location.to_string(),
            stamp: stamp_of(m),
        })
        .collect();
    // A key given whole (`s3://b/data/part-0`) lists nothing below it: ask for the object.
    if out.is_empty() && !uri.key.is_empty() && !uri.key.ends_with('/') {
        let store = self::store(&uri.bucket)?;
        let path = ObjectPath::from(uri.key.as_str());
        match block(async move { store.head(&path).await }) {
            Ok(m) => out.push(Listed {
                key: m.location.to_string(),
                stamp: stamp_of(&m),
            }),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(store_error(uri, &e)),
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

impl Remote {
    pub(crate) fn new(uri: ObjectUri) -> Result<Remote, DatasetError> {
        Ok(Remote {
            store: store(&uri.bucket)?,
            path: ObjectPath::from(uri.key.as_str()),
            uri,
        })
    }

    /// Bytes `range` of the object.
    pub(crate) fn get_range(&self, range: Range<u64>) -> Result<Bytes, DatasetError> {
        let (store, path) = (Arc::clone(&self.store), self.path.clone());
        block(async move { store.get_range(&path, range).await })
            .map_err(|e| store_error(&self.uri, &e))
    }

    /// The object's size, modification time and `ETag` now.
    pub(crate) fn stamp(&self) -> Result<FileStamp, DatasetError> {
        let (store, path) = (Arc::clone(&self.store), self.path.clone());
        let meta = block(async move { store.head(&path).await })
            .map_err(|e| store_error(&self.uri, &e))?;
        Ok(stamp_of(&meta))
    }
}

/// Whether any object lies under the prefix `uri` (its key ending with `/`).
pub fn has_objects(uri: &ObjectUri) -> Result<bool, DatasetError> {
    let store = store(&uri.bucket)?;
    let prefix = ObjectPath::from(uri.key.trim_end_matches('/'));
    let uri2 = uri.clone();
    let first = block(async move {
        let mut stream = store.list(Some(&prefix));
        futures::StreamExt::next(&mut stream).await.transpose()
    })
    .map_err(|e| store_error(&uri2, &e))?;
    Ok(first.is_some())
}

/// Writes the local file `from` to `to` as one object (a multipart upload streamed from disk in
/// parts, so memory does not grow with the file); the object appears whole or not at all.
pub fn upload_file(from: &std::path::Path, to: &ObjectUri) -> Result<(), DatasetError> {
    use std::io::Read as _;
    /// Parts of 16 MiB: S3 wants at least 5 MiB per part but the last, and at most 10 000 parts.
    const PART: usize = 16 << 20;
    let store = store(&to.bucket)?;
    let path = ObjectPath::from(to.key.as_str());
    let mut file = std::fs::File::open(from).map_err(DatasetError::io(from))?;
    let len = file.metadata().map_err(DatasetError::io(from))?.len();
    if len <= PART as u64 {
        let mut bytes = Vec::with_capacity(len as usize);
        file.read_to_end(&mut bytes)
            .map_err(DatasetError::io(from))?;
        return block(async move { store.put(&path, Bytes::from(bytes).into()).await })
            .map(|_| ())
            .map_err(|e| store_error(to, &e));
    }
    let store2 = Arc::clone(&store);
    let path2 = path.clone();
    let mut upload = block(async move { store2.put_multipart(&path2).await })
        .map_err(|e| store_error(to, &e))?;
    let result = (|| {
        loop {
            let mut part = Vec::with_capacity(PART);
            (&mut file)
                .take(PART as u64)
                .read_to_end(&mut part)
                .map_err(DatasetError::io(from))?;
            if part.is_empty() {
                break;
            }
            let fut = upload.put_part(Bytes::from(part).into());
            block(fut).map_err(|e| store_error(to, &e))?;
        }
        Ok::<(), DatasetError>(())
    })();
    match result {
        Ok(()) => block(async move { upload.complete().await })
            .map(|_| ())
            .map_err(|e| store_error(to, &e)),
        Err(e) => {
            let _ = block(async move { upload.abort().await });
            Err(e)
        }
    }
}
