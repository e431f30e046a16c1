//! The storage routes: signed-URL uploads (simple and resumable) and downloads, answering like
//! Google Cloud Storage's XML API.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use futures::StreamExt as _;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use crate::config::RouteClass;
use crate::server::ConnKill;
use crate::signing::{
    ALGORITHM, REQUIRED_PARAMS, canonical_request, parse_goog_date, parse_query, string_to_sign,
};
use crate::state::{FaultPlan, SESSION_LIFETIME_MS, Session, Shared};

/// Non-final resumable chunks must be multiples of this (256 KiB), as GCS requires.
pub const CHUNK_ALIGN: u64 = 262_144;

/// Reads of the delivery object: large enough to keep syscalls rare, small enough that many
/// concurrent downloads stay within a few megabytes.
const READ_CHUNK: usize = 64 * 1024;

/// Buffer of upload writes: a few syscalls per megabyte while memory stays bounded per upload.
const WRITE_BUFFER: usize = 1024 * 1024;

/// Received chunks waiting for the disk writer of one upload (hyper's chunks are at most a few
/// tens of kilobytes, so this is about a megabyte at most).
const WRITE_QUEUE: usize = 32;

/// How long an injected download reset waits before breaking the connection, so that what was
/// sent before it reaches the client.
const FLUSH_PAUSE: std::time::Duration = std::time::Duration::from_millis(20);

/// How often a gzip download checks whether the compressed copy is ready.
const GZIP_POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// How long a gzip download waits for the compressed copy: level-1 gzip of even a 1 GB result
/// takes well under this on a loaded machine.
const GZIP_WAIT_LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

/// The longest a signed URL may live (7 days), as in GCS V4.
const MAX_EXPIRES_SECS: i64 = 604_800;

/// How far in the future `X-Goog-Date` may lie before a URL is "not yet valid" (an assumption
/// taken from another GCS emulator).
const CLOCK_SKEW_SECS: i64 = 900;

/// An XML error answer: `<?xml …?><Error><Code>…</Code><Message>…</Message>…</Error>`.
pub(crate) fn xml_error(status: u16, code: &str, message: &str, extra: &str) -> Response {
    let body = format!(
        "<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message>{extra}</Error>"
    );
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml; charset=UTF-8"),
    );
    r
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn details(text: &str) -> String {
    format!("<Details>{}</Details>", escape(text))
}

fn no_such_key(path: &str) -> Response {
    xml_error(
        404,
        "NoSuchKey",
        "The specified key does not exist.",
        &details(&format!("No such object: {}", path.trim_start_matches('/'))),
    )
}

fn malformed(param: &str) -> Response {
    xml_error(
        400,
        "MalformedSecurityHeader",
        "Your request has a malformed header.",
        &format!(
            "<ParameterName>{}</ParameterName>{}",
            escape(param),
            details(&format!(
                "The `{param}` query parameter is missing or malformed."
            ))
        ),
    )
}

fn injected(status: u16) -> Response {
    match status {
        429 => xml_error(429, "SlowDown", "Please reduce your request rate.", ""),
        503 => xml_error(
            503,
            "ServiceUnavailable",
            "We encountered an internal error. Please try again.",
            "",
        ),
        _ => xml_error(
            500,
            "InternalError",
            "We encountered an internal error. Please try again.",
            "",
        ),
    }
}

/// Formats Unix seconds as `2026-09-11T23:48:45+00:00`.
fn offset_time(secs: i64) -> String {
    xcomply_core::format_timestamp_offset(secs * 1000)
}

/// Checks a V4 signed request: parameters, expiry, then the HMAC over the canonical request
/// rebuilt from what the client actually sent (method, path, query, signed header values).
// Handlers return a ready HTTP answer on the error path; boxing it would only add an allocation.
#[allow(clippy::result_large_err)]
fn verify(
    s: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
) -> Result<(), Response> {
    let Some(params) = parse_query(query) else {
        return Err(malformed("X-Goog-Signature"));
    };
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if REQUIRED_PARAMS.iter().all(|p| get(p).is_none()) {
        return Err(xml_error(
            403,
            "AccessDenied",
            "Access denied.",
            &details("Anonymous caller does not have storage.objects access to the object."),
        ));
    }
    if let Some(missing) = REQUIRED_PARAMS.iter().find(|p| get(p).is_none()) {
        return Err(malformed(missing));
    }
    if get("X-Goog-Algorithm") != Some(ALGORITHM) {
        return Err(malformed("X-Goog-Algorithm"));
    }
    let date = get("X-Goog-Date").unwrap_or_default();
    let Some(date_secs) = parse_goog_date(date) else {
        return Err(malformed("X-Goog-Date"));
    };
    let Some(expires) = get("X-Goog-Expires")
        .and_then(|e| e.parse::<i64>().ok())
        .filter(|e| (1..=MAX_EXPIRES_SECS).contains(e))
    else {
        return Err(malformed("X-Goog-Expires"));
    };
    let now_secs = s.now_ms().div_euclid(1000);
    if now_secs + CLOCK_SKEW_SECS < date_secs {
        return Err(xml_error(
            400,
            "InvalidArgument",
            "Invalid argument.",
            &details("Request is not yet valid."),
        ));
    }
    if now_secs >= date_secs + expires {
        return Err(xml_error(
            400,
            "ExpiredToken",
            "Invalid argument.",
            &details(&format!(
                "The provided token has expired. Request signature expired at: {}",
                offset_time(date_secs + expires)
            )),
        ));
    }
    let mut signed: Vec<(String, String)> = get("X-Goog-SignedHeaders")
        .unwrap_or_default()
        .split(';')
        .filter(|n| !n.is_empty())
        .map(|name| {
            let name = name.to_ascii_lowercase();
            let value = headers
                .get_all(name.as_str())
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
                .collect::<Vec<_>>()
                .join(",");
            (name, value)
        })
        .collect();
    signed.sort();
    let canonical = canonical_request(method.as_str(), path, &params, &signed);
    let to_sign = string_to_sign(date, &canonical);
    if s.signer
        .verify(&to_sign, get("X-Goog-Signature").unwrap_or_default())
    {
        Ok(())
    } else {
        Err(xml_error(
            403,
            "SignatureDoesNotMatch",
            "Access denied.",
            &format!(
                "{}<StringToSign>{}</StringToSign><CanonicalRequest>{}</CanonicalRequest>",
                details(
                    "The request signature we calculated does not match the signature you \
                     provided. Check your Google secret key and signing method."
                ),
                escape(&to_sign),
                escape(&canonical)
            ),
        ))
    }
}

/// The parts of a storage path `/{bucket}/{job}/{submission|delivery}/{object}`.
struct ObjectPath<'a> {
    job_id: Option<u64>,
    kind: &'a str,
}

fn split_path(path: &str) -> Option<ObjectPath<'_>> {
    let mut it = path.strip_prefix('/')?.split('/');
    let (_bucket, job, kind, _object) = (it.next()?, it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || !matches!(kind, "submission" | "delivery") {
        return None;
    }
    Some(ObjectPath {
        job_id: job.parse().ok(),
        kind,
    })
}

/// The declared body length. A request with neither `Content-Length` nor `Transfer-Encoding` has
/// an empty body by HTTP framing; a chunked body has no length, which GCS refuses for signed PUTs.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    match headers.get(header::CONTENT_LENGTH) {
        Some(v) => v.to_str().ok()?.parse().ok(),
        None if headers.contains_key(header::TRANSFER_ENCODING) => None,
        None => Some(0),
    }
}

fn missing_length() -> Response {
    xml_error(
        411,
        "MissingContentLength",
        "You must provide the Content-Length HTTP header.",
        "",
    )
}

/// Every request that is not an API route: storage objects, or a 404.
pub(crate) async fn storage(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    if path.starts_with("/2/") {
        s.count_request("unknown API route");
        return crate::api::unknown_route(s.config.flow);
    }
    let Some(object) = split_path(&path) else {
        s.count_request("unknown storage path");
        return no_such_key(&path);
    };
    let session_id = parse_query(&query).and_then(|params| {
        params
            .into_iter()
            .find(|(k, _)| k == "upload_id")
            .map(|(_, v)| v)
    });
    let (class, route) = match (object.kind, session_id.is_some(), req.method().as_str()) {
        ("submission", true, _) => (RouteClass::Upload, "PUT session".to_owned()),
        ("submission", false, m) => (RouteClass::Upload, format!("{m} upload")),
        (_, _, m) => (RouteClass::Download, format!("{m} download")),
    };
    s.count_request(&route);
    let plan = s.plan_faults(class);
    if let Some(latency) = plan.latency {
        tokio::time::sleep(latency).await;
    }
    if let Some(status) = plan.status {
        return injected(status);
    }
    if let Some(id) = session_id {
        if req.method() != Method::PUT {
            return xml_error(
                405,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
                "",
            );
        }
        return session_put(&s, &id, &path, req, plan).await;
    }
    if let Err(r) = verify(&s, req.method(), &path, &query, req.headers()) {
        return r;
    }
    let Some(job_id) = object.job_id else {
        return no_such_key(&path);
    };
    match (req.method().as_str(), object.kind) {
        ("PUT", "submission") => simple_upload(&s, job_id, req, plan).await,
        ("POST", "submission") => start_session(&s, job_id, &path, &query, &req),
        ("GET", "delivery") => download(&s, job_id, &path, req.headers(), plan).await,
        _ => no_such_key(&path),
    }
}

/// Closes the connection abruptly (the client sees a reset), or, when the router runs without
/// the emulator's server loop, answers 500.
pub(crate) async fn reset(s: &Shared, kill: Option<ConnKill>) -> Response {
    Shared::count_fault(&mut s.lock(), "reset");
    match kill {
        Some(kill) => {
            kill.fire();
            std::future::pending::<Response>().await
        }
        None => injected(500),
    }
}

/// How a body ended.
pub(crate) enum BodyEnd {
    /// All bytes arrived.
    Complete,
    /// The client went away.
    Disconnected,
    /// An injected reset fired after the given number of bytes.
    Reset,
    /// Writing to disk failed.
    Io(std::io::Error),
}

/// Streams a request body into `file`, skipping its first `skip` bytes; returns the bytes received,
/// the bytes written and how it ended. `reset_after` fires an injected reset once that
/// many bytes arrived.
///
/// Disk writes run on a blocking thread fed through a bounded channel, so receiving the next
/// chunk from the socket overlaps with writing the previous one; the bound caps the memory of one
/// upload at `WRITE_QUEUE` chunks plus the write buffer.
pub(crate) async fn stream_body(
    body: Body,
    file: tokio::fs::File,
    mut skip: u64,
    reset_after: Option<u64>,
) -> (u64, u64, BodyEnd) {
    let file = file.into_std().await;
    let (send, mut recv) = tokio::sync::mpsc::channel::<bytes::Bytes>(WRITE_QUEUE);
    let writer = tokio::task::spawn_blocking(move || {
        let mut out = std::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        let mut written = 0u64;
        let mut result = Ok(());
        while let Some(chunk) = recv.blocking_recv() {
            if let Err(e) = std::io::Write::write_all(&mut out, &chunk) {
                result = Err(e);
                break;
            }
            written += chunk.len() as u64;
        }
        (
            result.and_then(|()| std::io::Write::flush(&mut out)),
            written,
        )
    });
    let mut stream = body.into_data_stream();
    let mut received = 0u64;
    let end = loop {
        match stream.next().await {
            None => break BodyEnd::Complete,
            Some(Err(_)) => break BodyEnd::Disconnected,
            Some(Ok(mut chunk)) => {
                received += chunk.len() as u64;
                if let Some(limit) = reset_after.filter(|&l| received >= l) {
                    // Keep only the bytes before the reset point.
                    let keep = chunk.len() as u64 - (received - limit);
                    chunk.truncate(keep as usize);
                    received = limit;
                }
                let drop_n = skip.min(chunk.len() as u64);
                skip -= drop_n;
                let data = chunk.slice(drop_n as usize..);
                // A closed channel means the writer failed; its error is reported below.
                if !data.is_empty() && send.send(data).await.is_err() {
                    break BodyEnd::Complete;
                }
                if reset_after.is_some_and(|l| received >= l) {
                    break BodyEnd::Reset;
                }
            }
        }
    };
    drop(send);
    let (result, written) = writer.await.unwrap_or_else(|e| {
        (
            Err(std::io::Error::other(format!(
                "the upload writer failed: {e}"
            ))),
            0,
        )
    });
    let end = match result {
        Err(e) => BodyEnd::Io(e),
        Ok(()) => end,
    };
    (received, written, end)
}

pub(crate) fn internal(e: &std::io::Error) -> Response {
    tracing::warn!("emulator storage error: {e}");
    injected(500)
}

/// A simple `PUT` to `upload_url`: the whole object in one request.
async fn simple_upload(s: &Arc<Shared>, job_id: u64, req: Request, plan: FaultPlan) -> Response {
    let started = s.now_ms();
    let Some(len) = content_length(req.headers()) else {
        return missing_length();
    };
    let kill = req.extensions().get::<ConnKill>().cloned();
    let dir = s.job_dir(job_id);
    let temp = {
        let mut inner = s.lock();
        inner.seq += 1;
        inner.stats.uploads.entry(job_id).or_default().attempts += 1;
        dir.join(format!("upload-{}.part", inner.seq))
    };
    let file = match create_file(&dir, &temp).await {
        Ok(f) => f,
        Err(e) => return internal(&e),
    };
    let reset_after = plan.reset_at.map(|f| (len as f64 * f) as u64);
    let (received, _, end) = stream_body(req.into_body(), file, 0, reset_after).await;
    s.lock().stats.uploads.entry(job_id).or_default().bytes += received;
    match end {
        BodyEnd::Complete if received == len => {}
        BodyEnd::Reset => {
            let _ = tokio::fs::remove_file(&temp).await;
            return reset(s, kill).await;
        }
        BodyEnd::Io(e) => {
            let _ = tokio::fs::remove_file(&temp).await;
            return internal(&e);
        }
        BodyEnd::Complete | BodyEnd::Disconnected => {
            let _ = tokio::fs::remove_file(&temp).await;
            return xml_error(
                400,
                "IncompleteBody",
                "You did not provide the number of bytes specified by the Content-Length HTTP header.",
                "",
            );
        }
    }
    s.lock().stats.uploads.entry(job_id).or_default().completed += 1;
    crate::process::upload_finished(s, job_id, &temp, started);
    stored(len)
}

/// The 200 of a stored object.
fn stored(len: u64) -> Response {
    let mut r = Response::new(Body::empty());
    let h = r.headers_mut();
    h.insert("x-goog-stored-content-length", len.into());
    h.insert(
        "x-goog-stored-content-encoding",
        HeaderValue::from_static("identity"),
    );
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&format!("\"{len:x}\"")).expect("hex is a valid header"),
    );
    r
}

pub(crate) async fn create_file(dir: &Path, path: &PathBuf) -> std::io::Result<tokio::fs::File> {
    tokio::fs::create_dir_all(dir).await?;
    tokio::fs::File::create(path).await
}

/// `POST` to a resumable `upload_url` with `x-goog-resumable: start`: 201 and a session URI.
fn start_session(s: &Arc<Shared>, job_id: u64, path: &str, query: &str, req: &Request) -> Response {
    let now = s.now_ms();
    let dir = s.job_dir(job_id);
    let (id, file) = {
        let mut inner = s.lock();
        inner.seq += 1;
        let n = inner.seq;
        let id = s.signer.session_id(n);
        let file = dir.join(format!("session-{n}.part"));
        inner.sessions.insert(
            id.clone(),
            Session {
                job_id,
                path: path.to_owned(),
                file: file.clone(),
                persisted: 0,
                complete: false,
                started_ms: now,
                busy: false,
            },
        );
        inner.stats.uploads.entry(job_id).or_default().sessions += 1;
        if let Some(job) = inner.jobs.get_mut(&job_id) {
            job.session_began_ms.get_or_insert(now);
        }
        (id, file)
    };
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::File::create(&file)) {
        return internal(&e);
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let base = s
        .config
        .public_base_url
        .clone()
        .unwrap_or_else(|| format!("http://{host}"));
    let location = format!(
        "{}{path}?{query}&upload_id={id}",
        base.trim_end_matches('/')
    );
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::CREATED;
    let h = r.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&location).expect("the URL is ASCII"),
    );
    h.insert(
        "x-guploader-uploadid",
        HeaderValue::from_str(&id).expect("the ID is ASCII"),
    );
    r
}

/// A parsed `Content-Range` of a session PUT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ContentRange {
    /// `bytes */N` or `bytes */*`: a status query.
    Query { total: Option<u64> },
    /// `bytes a-b/N` or `bytes a-b/*`.
    Chunk {
        first: u64,
        last: u64,
        total: Option<u64>,
    },
}

fn parse_content_range(v: &str) -> Option<ContentRange> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let total = match total {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    if range == "*" {
        return Some(ContentRange::Query { total });
    }
    let (a, b) = range.split_once('-')?;
    let (first, last) = (a.parse().ok()?, b.parse().ok()?);
    (first <= last && total.is_none_or(|t| last < t)).then_some(ContentRange::Chunk {
        first,
        last,
        total,
    })
}

fn incomplete(persisted: u64) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::PERMANENT_REDIRECT;
    if persisted > 0 {
        r.headers_mut().insert(
            header::RANGE,
            HeaderValue::from_str(&format!("bytes=0-{}", persisted - 1)).expect("ASCII"),
        );
    }
    r
}

fn invalid_argument(message: &str) -> Response {
    xml_error(
        400,
        "InvalidArgument",
        "Invalid argument.",
        &details(message),
    )
}

/// A `PUT` to a resumable session URI: a chunk, the whole object, or a status query.
async fn session_put(
    s: &Arc<Shared>,
    id: &str,
    path: &str,
    req: Request,
    plan: FaultPlan,
) -> Response {
    /// What to answer once the session is updated.
    enum Next {
        Stored(u64),
        Incomplete(u64),
        Reset,
        Short,
        Failed(std::io::Error),
    }
    let now = s.now_ms();
    let kill = req.extensions().get::<ConnKill>().cloned();
    let len = content_length(req.headers());
    let range = match req.headers().get(header::CONTENT_RANGE) {
        None => None,
        Some(v) => match v.to_str().ok().and_then(parse_content_range) {
            Some(r) => Some(r),
            None => return invalid_argument("The Content-Range header is malformed."),
        },
    };
    let (job_id, file, persisted) = {
        let mut inner = s.lock();
        let Some(session) = inner
            .sessions
            .get_mut(id)
            .filter(|x| x.path == path && now < x.started_ms + SESSION_LIFETIME_MS)
        else {
            return xml_error(
                404,
                "NoSuchUpload",
                "The requested upload was not found.",
                "",
            );
        };
        if session.complete {
            let len = session.persisted;
            return stored(len);
        }
        // `bytes */N` is a status query, except when storage already holds exactly N bytes: then
        // it is the empty final request that finishes an upload whose size was unknown until now
        // (or a 0-byte object), as GCS treats it.
        if let Some(ContentRange::Query { total }) = range
            && total != Some(session.persisted)
        {
            return incomplete(session.persisted);
        }
        if session.busy {
            return xml_error(
                409,
                "Conflict",
                "Another request is writing to this upload session.",
                "",
            );
        }
        // A status query carries no body, so it may come without Content-Length.
        let len = len.or(matches!(range, Some(ContentRange::Query { .. })).then_some(0));
        let Some(len) = len else {
            return missing_length();
        };
        let (first, last, total) = match range {
            Some(ContentRange::Chunk { first, last, total }) => (first, last, total),
            Some(ContentRange::Query { total: Some(t) }) => (t, t.saturating_sub(1), Some(t)),
            // No Content-Range: the whole object in one request.
            _ if len == 0 => (0, 0, Some(0)),
            _ => (0, len - 1, Some(len)),
        };
        let chunk_len = if len == 0 { 0 } else { last - first + 1 };
        if chunk_len != len {
            return invalid_argument(&format!(
                "The Content-Range covers {chunk_len} bytes but Content-Length is {len}."
            ));
        }
        if first > session.persisted {
            return invalid_argument(&format!(
                "Invalid request. According to the Content-Range header, the upload offset is \
                 {first} byte(s), which exceeds already uploaded size of {} byte(s).",
                session.persisted
            ));
        }
        let is_final = total.is_some_and(|t| last + 1 == t || t == 0);
        if !is_final && len < CHUNK_ALIGN {
            return invalid_argument(&format!(
                "Invalid request. The number of bytes uploaded is required to be equal or greater \
                 than {CHUNK_ALIGN}, except for the final request (it's recommended to be the \
                 exact multiple of {CHUNK_ALIGN}). The received request contained {len} bytes, \
                 which does not meet this requirement."
            ));
        }
        session.busy = true;
        let state = (session.job_id, session.file.clone(), session.persisted);
        inner.stats.uploads.entry(state.0).or_default().attempts += 1;
        (state.0, state.1, (state.2, first, last, total, is_final))
    };
    let (persisted, first, last, total, is_final) = persisted;
    let mut busy = BusyGuard {
        shared: s,
        session: id,
        armed: true,
    };
    let result = write_chunk(
        &file,
        (persisted, first),
        req.into_body(),
        len.unwrap_or(0),
        is_final,
        plan,
    )
    .await;
    // From here on the session's record is updated under the lock below, without awaiting.
    busy.armed = false;
    let next = {
        let mut inner = s.lock();
        match result {
            Err(e) => {
                if let Some(session) = inner.sessions.get_mut(id) {
                    session.busy = false;
                }
                Next::Failed(e)
            }
            Ok((received, end, new_persisted)) => {
                inner.stats.uploads.entry(job_id).or_default().bytes += received;
                let complete = matches!(end, BodyEnd::Complete)
                    && is_final
                    && (new_persisted == last + 1 || total == Some(0));
                if let Some(session) = inner.sessions.get_mut(id) {
                    session.busy = false;
                    if !matches!(end, BodyEnd::Io(_)) {
                        session.persisted = new_persisted;
                    }
                    session.complete = complete;
                }
                if complete {
                    inner.stats.uploads.entry(job_id).or_default().completed += 1;
                }
                match end {
                    _ if complete => Next::Stored(new_persisted),
                    // A non-final chunk keeps whole 256 KiB blocks only, as GCS may.
                    BodyEnd::Complete => Next::Incomplete(new_persisted),
                    BodyEnd::Reset => Next::Reset,
                    BodyEnd::Disconnected => Next::Short,
                    BodyEnd::Io(e) => Next::Failed(e),
                }
            }
        }
    };
    match next {
        Next::Stored(n) => {
            crate::process::upload_finished(s, job_id, &file, now);
            stored(n)
        }
        Next::Incomplete(n) => incomplete(n),
        Next::Reset => reset(s, kill).await,
        Next::Short => invalid_argument("The request body ended before Content-Length bytes."),
        Next::Failed(e) => internal(&e),
    }
}

/// Clears a session's `busy` flag if the chunk `PUT` holding it is dropped before it finishes:
/// a client that disconnects mid-chunk makes the server drop the request's handler at an
/// `.await`, and a flag left set would refuse every later chunk of the session with 409, which
/// GCS never does.
struct BusyGuard<'a> {
    shared: &'a Shared,
    session: &'a str,
    armed: bool,
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        if self.armed
            && let Some(session) = self.shared.lock().sessions.get_mut(self.session)
        {
            session.busy = false;
        }
    }
}

/// Writes one chunk at the session's persisted offset (skipping bytes the client re-sent) and
/// truncates to what GCS would keep: everything for a final chunk, whole 256 KiB blocks otherwise.
/// Returns the bytes received, how the body ended and the new persisted length.
async fn write_chunk(
    file: &Path,
    (persisted, first): (u64, u64),
    body: Body,
    len: u64,
    is_final: bool,
    plan: FaultPlan,
) -> std::io::Result<(u64, BodyEnd, u64)> {
    let mut f = tokio::fs::OpenOptions::new().write(true).open(file).await?;
    f.seek(SeekFrom::Start(persisted)).await?;
    let skip = persisted - first;
    let reset_after = plan.reset_at.map(|x| (len as f64 * x) as u64);
    let (received, written, end) = stream_body(body, f, skip, reset_after).await;
    let end_offset = persisted + written;
    let keep = if is_final && matches!(end, BodyEnd::Complete) && received == len {
        end_offset
    } else {
        end_offset - end_offset % CHUNK_ALIGN
    };
    let end = if matches!(end, BodyEnd::Complete) && received != len {
        BodyEnd::Disconnected
    } else {
        end
    };
    tokio::fs::OpenOptions::new()
        .write(true)
        .open(file)
        .await?
        .set_len(keep)
        .await?;
    Ok((received, end, keep))
}

/// `GET download_url`: the JSONL results, gzip-encoded when accepted, with `Range` support.
async fn download(
    s: &Arc<Shared>,
    job_id: u64,
    path: &str,
    headers: &HeaderMap,
    plan: FaultPlan,
) -> Response {
    let now = s.now_ms();
    let ready = s
        .lock()
        .jobs
        .get(&job_id)
        .is_some_and(|j| j.status(now).0 == xcomply_core::JobStatus::Complete);
    if !ready {
        return no_such_key(path);
    }
    serve_delivery(s, job_id, headers, plan, Dialect::Gcs).await
}

/// How the delivery object is served: as a GCS object (`text/plain`, `x-goog-*` headers, XML
/// errors) or from the live API's byte path (`application/octet-stream`, problem details).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Dialect {
    Gcs,
    BytePath,
}

/// Streams a complete job's delivery object: gzip-encoded when accepted, one byte range when
/// asked, with the injected reset or truncation of `plan`.
pub(crate) async fn serve_delivery(
    s: &Arc<Shared>,
    job_id: u64,
    headers: &HeaderMap,
    plan: FaultPlan,
    dialect: Dialect,
) -> Response {
    let internal = |e: &std::io::Error| match dialect {
        Dialect::Gcs => internal(e),
        Dialect::BytePath => {
            tracing::warn!("emulator storage error: {e}");
            crate::problem::live_simple(500, "Internal error while reading the results.")
        }
    };
    let gzip = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let file_path = s.delivery_path(job_id, gzip);
    if gzip {
        // The gzip copy is written right after the job completes; wait for it rather than
        // serving a different representation.
        let mut waited = std::time::Duration::ZERO;
        while !tokio::fs::try_exists(&file_path).await.unwrap_or(false) {
            if waited >= GZIP_WAIT_LIMIT {
                return internal(&std::io::Error::other("the gzip copy was never written"));
            }
            tokio::time::sleep(GZIP_POLL).await;
            waited += GZIP_POLL;
        }
    }
    let mut file = match tokio::fs::File::open(&file_path).await {
        Ok(f) => f,
        Err(e) => return internal(&e),
    };
    let total = match file.metadata().await {
        Ok(m) => m.len(),
        Err(e) => return internal(&e),
    };
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(v) => match parse_range(v, total) {
            RangeSpec::Ignore => None,
            RangeSpec::Satisfiable(a, b) => Some((a, b)),
            RangeSpec::Unsatisfiable => {
                let asked = format!("bytes={}", v.trim_start_matches("bytes="));
                let mut r = match dialect {
                    Dialect::Gcs => xml_error(
                        416,
                        "InvalidRange",
                        "The requested range cannot be satisfied.",
                        &details(&asked),
                    ),
                    Dialect::BytePath => crate::problem::live_simple(
                        416,
                        format!("The requested range {asked} cannot be satisfied."),
                    ),
                };
                r.headers_mut().insert(
                    header::CONTENT_RANGE,
                    HeaderValue::from_str(&format!("bytes */{total}")).expect("ASCII"),
                );
                return r;
            }
        },
    };
    let (start, end) = range.unwrap_or((0, total.saturating_sub(1)));
    let len = if total == 0 { 0 } else { end - start + 1 };
    if start > 0
        && let Err(e) = file.seek(SeekFrom::Start(start)).await
    {
        return internal(&e);
    }
    let cut = plan
        .reset_at
        .or(plan.truncate_at)
        .map(|f| (len as f64 * f) as u64);
    let fail_at_cut = plan.reset_at.is_some();
    let stream = futures::stream::unfold(
        (file, 0u64, false),
        move |(mut file, sent, done)| async move {
            if done {
                return None;
            }
            let limit = cut.unwrap_or(len);
            if sent >= limit {
                if fail_at_cut && sent < len {
                    // Pausing first lets the server flush the headers and the bytes so far (it
                    // flushes whenever the body is pending); the error then aborts the
                    // connection in the middle of the body rather than before the headers.
                    tokio::time::sleep(FLUSH_PAUSE).await;
                    let e = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected");
                    return Some((Err(e), (file, sent, true)));
                }
                return None;
            }
            let want = (limit - sent).min(READ_CHUNK as u64) as usize;
            let mut buf = vec![0u8; want];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(bytes::Bytes::from(buf)), (file, sent + n as u64, false)))
                }
                Err(e) => Some((Err(e), (file, sent, true))),
            }
        },
    );
    let mut r = Response::new(Body::from_stream(stream));
    if range.is_some() {
        *r.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    let h = r.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    match dialect {
        Dialect::Gcs => {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            h.insert("x-goog-stored-content-length", total.into());
            h.insert(
                "x-goog-stored-content-encoding",
                HeaderValue::from_static(if gzip { "gzip" } else { "identity" }),
            );
        }
        Dialect::BytePath => {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
        }
    }
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    // A truncated GCS answer drops its length (chunked encoding), so only a client that checks
    // `x-goog-stored-content-length` notices; a byte path has no such header and always
    // declares its length, so a truncation there breaks the connection mid-body instead.
    if plan.truncate_at.is_none() || dialect == Dialect::BytePath {
        h.insert(header::CONTENT_LENGTH, len.into());
    }
    if let Some((a, b)) = range {
        h.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&format!("bytes {a}-{b}/{total}")).expect("ASCII"),
        );
    }
    if plan.reset_at.is_some() {
        Shared::count_fault(&mut s.lock(), "reset");
    }
    if plan.truncate_at.is_some() {
        Shared::count_fault(&mut s.lock(), "truncate");
    }
    r
}

/// A `Range` header, resolved against the object length.
#[derive(Debug, PartialEq, Eq)]
enum RangeSpec {
    /// Not a single byte range: serve the whole object, as GCS does with multi-range requests.
    Ignore,
    Satisfiable(u64, u64),
    Unsatisfiable,
}

fn parse_range(v: &str, total: u64) -> RangeSpec {
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return RangeSpec::Ignore;
    };
    if spec.contains(',') {
        return RangeSpec::Ignore;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return RangeSpec::Ignore;
    };
    let (a, b) = (a.trim(), b.trim());
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(a), _) if a >= total => RangeSpec::Unsatisfiable,
        (Ok(a), Ok(b)) if a <= b => RangeSpec::Satisfiable(a, b.min(total - 1)),
        (Ok(a), Err(_)) if b.is_empty() => RangeSpec::Satisfiable(a, total - 1),
        (Err(_), Ok(n)) if a.is_empty() => {
            if n == 0 || total == 0 {
                RangeSpec::Unsatisfiable
            } else {
                RangeSpec::Satisfiable(total - n.min(total), total - 1)
            }
        }
        _ => RangeSpec::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), RangeSpec::Satisfiable(0, 9));
        assert_eq!(
            parse_range("bytes=90-200", 100),
            RangeSpec::Satisfiable(90, 99)
        );
        assert_eq!(
            parse_range("bytes=10-", 100),
            RangeSpec::Satisfiable(10, 99)
        );
        assert_eq!(
            parse_range("bytes=-10", 100),
            RangeSpec::Satisfiable(90, 99)
        );
        assert_eq!(
            parse_range("bytes=-500", 100),
            RangeSpec::Satisfiable(0, 99)
        );
        assert_eq!(parse_range("bytes=100-", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeSpec::Ignore);
        assert_eq!(parse_range("items=0-1", 100), RangeSpec::Ignore);
        assert_eq!(parse_range("bytes=5-2", 100), RangeSpec::Ignore);
    }

    #[test]
    fn content_ranges() {
        assert_eq!(
            parse_content_range("bytes */*"),
            Some(ContentRange::Query { total: None })
        );
        assert_eq!(
            parse_content_range("bytes */10"),
            Some(ContentRange::Query { total: Some(10) })
        );
        assert_eq!(
            parse_content_range("bytes 0-262143/*"),
            Some(ContentRange::Chunk {
                first: 0,
                last: 262_143,
                total: None
            })
        );
        assert_eq!(parse_content_range("bytes 5-3/*"), None);
        assert_eq!(parse_content_range("bytes 0-10/10"), None);
    }
}
