//! A minimal storage server for `scripts/bench-transfer`: the same protocol as GCS signed URLs
//! (simple PUT with Content-Length, resumable start/chunks/308, GET with optional gzip) but no
//! signature checks, no disk writes of uploads and no job processing, so the server costs as
//! little as possible and both clients (xcomply and curl) meet the same fixed overhead.
//!
//! The emulator is deliberately not used for the benchmark: it writes every upload to disk and
//! then processes it (parsing every ID and writing gzip results), which on a two-core machine
//! competes with the clients being measured.
//!
//! Usage: `bench_server FILE` serves `FILE` at `GET /plain` and `FILE.gz` at `GET /gz` (with
//! `Content-Encoding: gzip` when the client accepts gzip); uploads go to any other path. It
//! prints `http://127.0.0.1:PORT` on stdout and runs until killed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use futures::StreamExt;

#[derive(Default)]
struct Shared {
    file: PathBuf,
    sessions: Mutex<HashMap<String, u64>>,
    next_session: AtomicU64,
}

fn status(code: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = code;
    r
}

/// Reads and discards a body, returning its length.
async fn drain(body: Body) -> Result<u64, Response> {
    let mut stream = body.into_data_stream();
    let mut n = 0u64;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => n += c.len() as u64,
            Err(_) => return Err(status(StatusCode::BAD_REQUEST)),
        }
    }
    Ok(n)
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then_some(v)
    })
}

async fn handle(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let headers = req.headers().clone();
    match method {
        Method::GET => download(&s, &path, &headers).await,
        Method::POST => {
            if headers
                .get("x-goog-resumable")
                .and_then(|v| v.to_str().ok())
                != Some("start")
            {
                return status(StatusCode::FORBIDDEN);
            }
            let id = s.next_session.fetch_add(1, Ordering::SeqCst).to_string();
            s.sessions.lock().unwrap().insert(id.clone(), 0);
            let mut r = status(StatusCode::CREATED);
            let sep = if query.is_empty() { "?" } else { "&" };
            let location = format!("{path}?{query}{sep}upload_id={id}");
            r.headers_mut()
                .insert(header::LOCATION, HeaderValue::from_str(&location).unwrap());
            r
        }
        Method::PUT => match query_param(&query, "upload_id").map(str::to_owned) {
            None => {
                let Some(len) = headers
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                else {
                    return status(StatusCode::LENGTH_REQUIRED);
                };
                match drain(req.into_body()).await {
                    Ok(n) if n == len => status(StatusCode::OK),
                    Ok(_) => status(StatusCode::BAD_REQUEST),
                    Err(r) => r,
                }
            }
            Some(id) => chunk(&s, &id, &headers, req.into_body()).await,
        },
        _ => status(StatusCode::METHOD_NOT_ALLOWED),
    }
}

/// A resumable chunk or status query: `Content-Range: bytes a-b/(total|*)` or `bytes */total`.
async fn chunk(s: &Shared, id: &str, headers: &HeaderMap, body: Body) -> Response {
    let Some(range) = headers
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes "))
        .map(str::to_owned)
    else {
        return status(StatusCode::BAD_REQUEST);
    };
    let Some((span, total)) = range.split_once('/') else {
        return status(StatusCode::BAD_REQUEST);
    };
    let total: Option<u64> = total.parse().ok();
    let Ok(received) = drain(body).await else {
        return status(StatusCode::BAD_REQUEST);
    };
    let mut sessions = s.sessions.lock().unwrap();
    let Some(persisted) = sessions.get_mut(id) else {
        return status(StatusCode::NOT_FOUND);
    };
    if span != "*" {
        let Some((a, _)) = span.split_once('-') else {
            return status(StatusCode::BAD_REQUEST);
        };
        let Ok(a) = a.parse::<u64>() else {
            return status(StatusCode::BAD_REQUEST);
        };
        if a != *persisted {
            return status(StatusCode::BAD_REQUEST);
        }
        *persisted += received;
    }
    if total == Some(*persisted) {
        return status(StatusCode::OK);
    }
    let mut r = status(StatusCode::PERMANENT_REDIRECT);
    if *persisted > 0 {
        r.headers_mut().insert(
            header::RANGE,
            HeaderValue::from_str(&format!("bytes=0-{}", *persisted - 1)).unwrap(),
        );
    }
    r
}

async fn download(s: &Shared, path: &str, headers: &HeaderMap) -> Response {
    let accepts_gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("gzip"));
    let gzip = match path {
        "/plain" => false,
        "/gz" => accepts_gzip,
        _ => return status(StatusCode::NOT_FOUND),
    };
    let file = if gzip {
        let mut gz = s.file.clone().into_os_string();
        gz.push(".gz");
        PathBuf::from(gz)
    } else {
        s.file.clone()
    };
    let Ok(f) = tokio::fs::File::open(&file).await else {
        return status(StatusCode::NOT_FOUND);
    };
    let len = f.metadata().await.map(|m| m.len()).unwrap_or_default();
    // 256 KiB reads: the same chunk size the client uses, so neither side is starved.
    let stream = tokio_util::io::ReaderStream::with_capacity(f, 256 * 1024);
    let mut r = Response::new(Body::from_stream(stream));
    let h = r.headers_mut();
    h.insert(header::CONTENT_LENGTH, len.into());
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    r
}

#[tokio::main]
async fn main() {
    let file = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .expect("usage: bench_server FILE");
    let shared = Arc::new(Shared {
        file,
        ..Shared::default()
    });
    let app = Router::new().fallback(handle).with_state(shared);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("http://{}", listener.local_addr().unwrap());
    axum::serve(listener, app).await.unwrap();
}
