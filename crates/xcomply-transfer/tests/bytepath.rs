//! Transfers in the live (September 2026) flow: byte paths on the API's origin that need the
//! Bearer token, which must never reach any other origin, directly or through a redirect; the
//! media-type fallback on 415; 413 as its own error; refused tokens told apart from refused
//! credentials; and a `Range` request answered with the whole object.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{any, get};
use xcomply_client::{
    BearerToken, CancellationToken, Client, ClientConfig, RetryPolicy, WaitOptions,
};
use xcomply_core::{JobType, SignedUrl};
use xcomply_emulator::{Config, Emulator, FaultRates, Faults};
use xcomply_transfer::{ApiAccess, Progress, TransferConfig, TransferRetry, Transfers};

fn transfers(api_base: &str, token: &str) -> Transfers {
    Transfers::new(TransferConfig {
        retry: TransferRetry {
            max_retries: 10,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(50),
        },
        api: Some(ApiAccess::new(api_base, token).unwrap()),
        ..TransferConfig::default()
    })
    .unwrap()
}

fn client(emulator: &Emulator) -> Client {
    let mut config = ClientConfig::new(
        emulator.base_url(),
        BearerToken::new(emulator.token()).unwrap(),
    );
    config.retry = RetryPolicy {
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        max_retries: 10,
        ..RetryPolicy::default()
    };
    Client::new(config).unwrap()
}

fn config() -> Config {
    Config::default().with_rate_limit(100_000, Duration::from_secs(900))
}

fn id_file(dir: &std::path::Path, n: u64) -> std::path::PathBuf {
    let mut text = String::new();
    for i in 0..n {
        let _ = writeln!(text, "{}", 1_446_017_776_678_801_409 + i * 4_194_304 * 37);
    }
    let path = dir.join("ids.txt");
    std::fs::write(&path, text).unwrap();
    path
}

async fn wait(client: &Client, id: xcomply_core::JobId) {
    let options = WaitOptions {
        min_interval: Duration::from_millis(20),
        max_interval: Duration::from_millis(100),
        timeout: Some(Duration::from_secs(30)),
    };
    let job = client
        .wait_for_job(id, &options, &CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(job.status.as_str(), "complete", "{job:?}");
}

async fn download_all(t: &Transfers, url: &SignedUrl) -> Vec<u8> {
    let mut d = t.download(url, &Progress::none()).await.unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = d.next_bytes().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

/// The same URL with `localhost` in place of `127.0.0.1`: the same server, another origin.
fn other_origin(url: &str) -> String {
    url.replacen("127.0.0.1", "localhost", 1)
}

#[tokio::test]
async fn a_job_round_trips_under_faults_with_the_bearer_token() {
    let emulator = Emulator::start(config()).await.unwrap();
    emulator.set_faults(Faults {
        upload: FaultRates {
            server_error: 0.2,
            reset: 0.2,
            ..FaultRates::default()
        },
        download: FaultRates {
            server_error: 0.2,
            reset: 0.2,
            truncate: 0.2,
            ..FaultRates::default()
        },
        ..Faults::default()
    });
    let client = client(&emulator);
    let t = transfers(emulator.base_url(), emulator.token());
    let dir = tempfile::tempdir().unwrap();
    let path = id_file(dir.path(), 50_000);
    for round in 0..4 {
        let job_type = if round % 2 == 0 {
            JobType::Tweets
        } else {
            JobType::Users
        };
        let job = client.create_job(&job_type, None, false).await.unwrap();
        t.upload_file(&job.upload_url, &path, &Progress::none())
            .await
            .unwrap();
        wait(&client, job.id).await;
        let got = download_all(&t, &job.download_url).await;
        let want = std::fs::read(
            emulator
                .data_dir()
                .join(job.id.to_string())
                .join("delivery.jsonl"),
        )
        .unwrap();
        assert_eq!(got, want, "round {round}");
        assert_eq!(emulator.uploads_for(job.id.0).completed, 1);
    }
}

#[tokio::test]
async fn the_bearer_token_never_reaches_another_origin() {
    let emulator = Emulator::start(config()).await.unwrap();
    let client = client(&emulator);
    let dir = tempfile::tempdir().unwrap();
    let path = id_file(dir.path(), 100);
    let job = client
        .create_job(&JobType::Tweets, None, false)
        .await
        .unwrap();

    // Transfers whose API is on another origin than the URL: no Bearer, so the byte path
    // refuses the upload as unauthorised (not as a bad token).
    let elsewhere = transfers(&other_origin(emulator.base_url()), emulator.token());
    let err = elsewhere
        .upload_file(&job.upload_url, &path, &Progress::none())
        .await
        .unwrap_err();
    assert!(err.is_auth(), "{err}");
    assert!(err.to_string().contains("X_BEARER_TOKEN"), "{err}");
    assert_eq!(emulator.uploads_for(job.id.0).attempts, 0);
    // The same URL on the API's origin carries it and works.
    transfers(emulator.base_url(), emulator.token())
        .upload_file(&job.upload_url, &path, &Progress::none())
        .await
        .unwrap();
}

/// What a recording server saw: (path, whether it carried `Authorization`, content type).
type Seen = Arc<Mutex<Vec<(String, bool, Option<String>)>>>;

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

fn record(seen: &Seen, path: &str, headers: &HeaderMap) {
    seen.lock().unwrap().push((
        path.to_owned(),
        headers.contains_key(header::AUTHORIZATION),
        headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned()),
    ));
}

#[tokio::test]
async fn a_redirect_to_another_origin_drops_the_bearer_token() {
    let seen: Seen = Arc::default();
    // Storage on another origin (`localhost`), recording what reaches it.
    let storage = Router::new()
        .route(
            "/object",
            any(|State(seen): State<Seen>, headers: HeaderMap| async move {
                record(&seen, "storage", &headers);
                "{\"id\":\"1\"}\n"
            }),
        )
        .with_state(seen.clone());
    let storage = serve(storage).await;
    // The API origin's byte paths redirect there.
    let target = format!("http://localhost:{}/object", storage.port());
    let api = Router::new()
        .route(
            "/2/compliance/jobs/{id}/{op}",
            any(
                move |State(seen): State<Seen>, headers: HeaderMap| async move {
                    record(&seen, "api", &headers);
                    Response::builder()
                        .status(StatusCode::TEMPORARY_REDIRECT)
                        .header(header::LOCATION, target.clone())
                        .body(Body::empty())
                        .unwrap()
                },
            ),
        )
        .with_state(seen.clone());
    let api = serve(api).await;
    let base = format!("http://127.0.0.1:{}", api.port());
    let t = transfers(&base, "sekrit");
    let dir = tempfile::tempdir().unwrap();
    let path = id_file(dir.path(), 10);
    let up = SignedUrl::new(format!("{base}/2/compliance/jobs/7/upload?token=u.1.x"));
    t.upload_file(&up, &path, &Progress::none()).await.unwrap();
    let down = SignedUrl::new(format!("{base}/2/compliance/jobs/7/download?token=d.1.x"));
    assert_eq!(download_all(&t, &down).await, b"{\"id\":\"1\"}\n");
    let seen = seen.lock().unwrap().clone();
    let octet = Some("application/octet-stream".to_owned());
    assert_eq!(
        seen,
        vec![
            ("api".to_owned(), true, octet.clone()),
            ("storage".to_owned(), false, octet),
            ("api".to_owned(), true, None),
            ("storage".to_owned(), false, None),
        ]
    );
}

#[tokio::test]
async fn a_415_is_retried_once_with_the_other_media_type() {
    let seen: Seen = Arc::default();
    let api = Router::new()
        .route(
            "/2/compliance/jobs/{id}/upload",
            any(|State(seen): State<Seen>, headers: HeaderMap| async move {
                record(&seen, "api", &headers);
                let plain = headers
                    .get(header::CONTENT_TYPE)
                    .is_some_and(|v| v == "text/plain");
                if plain {
                    StatusCode::OK
                } else {
                    StatusCode::UNSUPPORTED_MEDIA_TYPE
                }
            }),
        )
        .with_state(seen.clone());
    let api = serve(api).await;
    let base = format!("http://127.0.0.1:{}", api.port());
    let dir = tempfile::tempdir().unwrap();
    let path = id_file(dir.path(), 10);
    let up = SignedUrl::new(format!("{base}/2/compliance/jobs/7/upload?token=u.1.x"));
    transfers(&base, "t")
        .upload_file(&up, &path, &Progress::none())
        .await
        .unwrap();
    let types: Vec<Option<String>> = seen.lock().unwrap().iter().map(|s| s.2.clone()).collect();
    assert_eq!(
        types,
        vec![
            Some("application/octet-stream".to_owned()),
            Some("text/plain".to_owned())
        ]
    );
}

#[tokio::test]
async fn too_large_refused_tokens_and_refused_credentials_are_told_apart() {
    let emulator = Emulator::start(config().with_max_upload_bytes(Some(1_000)))
        .await
        .unwrap();
    let client = client(&emulator);
    let t = transfers(emulator.base_url(), emulator.token());
    let dir = tempfile::tempdir().unwrap();
    let big = id_file(dir.path(), 100);
    let job = client
        .create_job(&JobType::Tweets, None, false)
        .await
        .unwrap();
    let err = t
        .upload_file(&job.upload_url, &big, &Progress::none())
        .await
        .unwrap_err();
    assert!(err.is_too_large(), "{err}");
    assert!(!err.is_retryable() && !err.is_expired(), "{err}");
    assert!(
        matches!(
            err,
            xcomply_transfer::TransferError::TooLarge {
                limit_hint: Some(1_000),
                ..
            }
        ),
        "{err:?}"
    );

    // The download's token on the upload path, and an altered token: the URL is unusable, which
    // means a new job, like an expired signed URL.
    let swapped = SignedUrl::new(format!(
        "{}?{}",
        job.upload_url.expose().split('?').next().unwrap(),
        job.download_url.expose().split('?').nth(1).unwrap()
    ));
    let small = dir.path().join("small.txt");
    std::fs::write(&small, "20\n").unwrap();
    for url in [
        swapped,
        SignedUrl::new(format!("{}0", job.upload_url.expose())),
    ] {
        let err = t
            .upload_file(&url, &small, &Progress::none())
            .await
            .unwrap_err();
        assert!(err.is_expired() && !err.is_auth(), "{err}");
        assert!(!err.to_string().contains("token=u."), "{err}");
    }
    // A wrong Bearer token on the right URL: credentials.
    let err = transfers(emulator.base_url(), "wrong")
        .upload_file(&job.upload_url, &small, &Progress::none())
        .await
        .unwrap_err();
    assert!(err.is_auth() && !err.is_expired(), "{err}");
    // After the upload window: an expired token, a new job.
    emulator.advance(Duration::from_secs(15 * 60));
    let err = t
        .upload_file(&job.upload_url, &small, &Progress::none())
        .await
        .unwrap_err();
    assert!(err.is_expired(), "{err}");
    assert_eq!(err.status(), Some(403), "{err}");
}

/// A server that ignores `Range`, compresses each answer at another level (so the compressed
/// bytes differ between answers), and breaks the first answer off in the middle.
#[tokio::test]
async fn a_whole_answer_to_a_range_request_restarts_from_byte_zero() {
    let mut text = String::new();
    for i in 0..40_000u64 {
        let _ = writeln!(
            text,
            "{{\"id\":\"{}\",\"action\":\"delete\"}}",
            1_000_000 + i * 7
        );
    }
    let text = Arc::new(text);
    let calls = Arc::new(Mutex::new(0u32));
    let (text2, calls2) = (Arc::clone(&text), Arc::clone(&calls));
    let router = Router::new().route(
        "/2/compliance/jobs/{id}/download",
        get(move |headers: HeaderMap| {
            let (text, calls) = (Arc::clone(&text2), Arc::clone(&calls2));
            async move {
                let n = {
                    let mut c = calls.lock().unwrap();
                    *c += 1;
                    *c
                };
                if n > 1 {
                    assert!(
                        headers.contains_key(header::RANGE),
                        "a resume asks for a range"
                    );
                }
                let level = if n == 1 { 1 } else { 9 };
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
                std::io::Write::write_all(&mut enc, text.as_bytes()).unwrap();
                let gz = enc.finish().unwrap();
                let len = gz.len();
                let body = if n == 1 {
                    // Announce the whole length, send a third, then fail the stream.
                    let part = bytes::Bytes::copy_from_slice(&gz[..len / 3]);
                    // The pause lets the server flush the part before the error aborts the
                    // connection.
                    let first = futures::stream::once(async move { Ok(part) });
                    let cut = futures::stream::once(async {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionReset,
                            "cut",
                        ))
                    });
                    Body::from_stream(futures::StreamExt::chain(first, cut))
                } else {
                    Body::from(gz)
                };
                Response::builder()
                    .header(header::CONTENT_ENCODING, "gzip")
                    .header(header::CONTENT_LENGTH, len)
                    .body(body)
                    .unwrap()
            }
        }),
    );
    let addr = serve(router).await;
    let base = format!("http://127.0.0.1:{}", addr.port());
    let url = SignedUrl::new(format!("{base}/2/compliance/jobs/7/download?token=d.1.x"));
    let got = download_all(&transfers(&base, "t"), &url).await;
    assert!(*calls.lock().unwrap() >= 2);
    assert_eq!(String::from_utf8(got).unwrap(), *text);
}
