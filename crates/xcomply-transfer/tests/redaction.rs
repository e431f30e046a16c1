//! Logs at trace level, and every error message, contain neither the bearer token nor any part of
//! a URL signature or resumable session ID, through a whole job flow with retries and failures.
//!
//! This is its own test binary because it installs a global log subscriber that captures every
//! thread.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use xcomply_client::{
    BearerToken, CancellationToken, Client, ClientConfig, RetryPolicy, WaitOptions,
};
use xcomply_core::{JobId, JobType};
use xcomply_emulator::{Config, Emulator, FaultRates, Faults, Flow};
use xcomply_transfer::{
    ApiAccess, Progress, RESUMABLE_ALIGN, TransferConfig, TransferRetry, Transfers,
};

/// A log sink shared with the test.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The secret values of a signed URL: its signature and, for a session, its upload ID.
fn secrets_of(url: &str) -> Vec<String> {
    let url = xcomply_core::SignedUrl::new(url);
    ["X-Goog-Signature", "upload_id", "token"]
        .iter()
        .filter_map(|p| url.query_param(p).map(str::to_owned))
        .filter(|v| !v.is_empty())
        .collect()
}

#[test]
fn trace_logs_and_errors_hold_no_secrets() {
    let capture = Capture::default();
    let sink = capture.clone();
    // Everything at trace level, except the emulator, whose own logs are not the client's.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "trace,xcomply_emulator=off",
        ))
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .init();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (mut secrets, mut errors) = rt.block_on(flow(Flow::Gcs));
    let (more_secrets, more_errors) = rt.block_on(flow(Flow::BytePath));
    secrets.extend(more_secrets);
    errors.extend(more_errors);

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("xcomply_client") && logs.contains("xcomply_transfer"),
        "the flow logged nothing from the crates under test:\n{logs}"
    );
    assert!(logs.contains("REDACTED"), "URLs are logged, redacted");
    assert!(secrets.len() >= 5, "{} secrets collected", secrets.len());
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret leaked into the logs"
        );
        for e in &errors {
            assert!(
                !e.contains(secret.as_str()),
                "a secret leaked into an error: {e}"
            );
        }
    }
}

/// Creates jobs, uploads simply and resumably (GCS flow) or to byte paths with the Bearer token
/// (byte-path flow) under faults, downloads, provokes errors; returns every secret that was in
/// play and every error message and Debug output produced.
async fn flow(flow: Flow) -> (Vec<String>, Vec<String>) {
    let token = "AAAAAAAAAAAAAAAAAAAAAsupersecrettoken%3Dxyz";
    let live = flow == Flow::BytePath;
    let emulator = Emulator::start(
        Config::default()
            .with_flow(flow)
            .with_token(token)
            .with_rate_limit(100_000, Duration::from_secs(900)),
    )
    .await
    .unwrap();
    emulator.set_faults(Faults::uniform(&FaultRates {
        server_error: 0.1,
        reset: 0.1,
        truncate: 0.1,
        ..FaultRates::default()
    }));
    let mut config = ClientConfig::new(emulator.base_url(), BearerToken::new(token).unwrap());
    config.retry = RetryPolicy {
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_retries: 10,
        ..RetryPolicy::default()
    };
    let client = Client::new(config.clone()).unwrap();
    let mut errors = Vec::new();
    let t = Transfers::new(TransferConfig {
        retry: TransferRetry {
            max_retries: 10,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
        },
        chunk_size: RESUMABLE_ALIGN,
        api: Some(ApiAccess::new(emulator.base_url(), token).unwrap()),
        ..TransferConfig::default()
    })
    .unwrap();
    errors.push(format!("{t:?}"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ids.txt");
    let mut ids = String::new();
    for i in 0..60_000u64 {
        ids.push_str(&(1_400_000_000_000_000_000 + i * 7919).to_string());
        ids.push('\n');
    }
    std::fs::write(&path, ids).unwrap();

    let mut secrets = vec![token.to_owned()];
    for (job_type, resumable) in [(JobType::Tweets, false), (JobType::Users, !live)] {
        let job = client.create_job(&job_type, None, resumable).await.unwrap();
        secrets.extend(secrets_of(job.upload_url.expose()));
        secrets.extend(secrets_of(job.download_url.expose()));
        errors.push(format!("{job:?}"));
        if resumable {
            let session = t.start_resumable(&job.upload_url).await.unwrap();
            secrets.extend(secrets_of(session.url.expose()));
            errors.push(format!("{session:?}"));
            t.continue_resumable(&session, &path, 0, &Progress::none())
                .await
                .unwrap();
        } else {
            t.upload_file(&job.upload_url, &path, &Progress::none())
                .await
                .unwrap();
        }
        let options = WaitOptions {
            min_interval: Duration::from_millis(20),
            max_interval: Duration::from_millis(50),
            timeout: Some(Duration::from_secs(30)),
        };
        client
            .wait_for_job(job.id, &options, &CancellationToken::new(), |_| {})
            .await
            .unwrap();
        let out = dir.path().join(format!("{job_type}.jsonl"));
        t.download_to_file(&job.download_url, &out, &Progress::none())
            .await
            .unwrap();
        // Errors: a second upload to a job no longer `created` is stored and ignored, but a
        // resumable start on a plain URL and a plain PUT on a resumable one are refused.
        let wrong = if live {
            // The download URL's token on the upload path: refused, naming the token.
            let swapped = xcomply_core::SignedUrl::new(format!(
                "{}?{}",
                job.upload_url.expose().split('?').next().unwrap(),
                job.download_url.expose().split('?').nth(1).unwrap()
            ));
            t.upload_file(&swapped, &path, &Progress::none())
                .await
                .map(|_| ())
        } else if resumable {
            t.upload_file(&job.upload_url, &path, &Progress::none())
                .await
                .map(|_| ())
        } else {
            t.start_resumable(&job.upload_url).await.map(|_| ())
        };
        let err = wrong.unwrap_err();
        errors.push(err.to_string());
        errors.push(format!("{err:?}"));
    }
    // An API error with the token in play, and a transport error.
    let err = client.get_job(JobId(12345)).await.unwrap_err();
    errors.push(err.to_string());
    errors.push(format!("{err:?}"));
    let mut gone = config;
    "http://127.0.0.1:1".clone_into(&mut gone.base_url);
    gone.retry.max_retries = 1;
    let err = Client::new(gone)
        .unwrap()
        .list_jobs(&JobType::Tweets, None)
        .await
        .unwrap_err();
    errors.push(err.to_string());
    errors.push(format!("{err:?}"));
    errors.push(format!("{client:?}"));
    (secrets, errors)
}
