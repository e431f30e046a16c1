//! Transfers against the emulator on a loopback port: simple and resumable uploads that store
//! byte-identical objects, resumable uploads interrupted at several offsets, downloads resumed
//! after resets and truncations, GCS errors, and a whole job flow under 10 % injected faults.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use xcomply_client::{
    BearerToken, CancellationToken, Client, ClientConfig, RetryPolicy, WaitOptions,
};
use xcomply_core::{ComplianceJob, JobStatus, JobType, SignedUrl};
use xcomply_emulator::{Config, Emulator, FaultRates, Faults};
use xcomply_transfer::{
    Persisted, Progress, RESUMABLE_ALIGN, TransferConfig, TransferError, TransferRetry, Transfers,
};

/// Small chunks (256 KiB) so a file of a few MiB spans many chunks, and fast retries.
fn transfers() -> Transfers {
    Transfers::new(TransferConfig {
        retry: TransferRetry {
            max_retries: 10,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(50),
        },
        chunk_size: RESUMABLE_ALIGN,
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

/// The GCS flow (signed storage URLs, resumable uploads), which these tests pin; `bytepath.rs`
/// tests the live flow. A generous rate limit, so that polling in tests is not spaced by X's
/// real budget.
fn config() -> Config {
    Config::default()
        .with_flow(xcomply_emulator::Flow::Gcs)
        .with_rate_limit(100_000, Duration::from_secs(900))
}

/// Writes `n` seeded tweet IDs, one per line, and returns the path and the bytes.
fn id_file(dir: &Path, name: &str, n: usize, seed: u64) -> (PathBuf, Vec<u8>) {
    let mut text = String::with_capacity(n * 20);
    for i in 0..n as u64 {
        let id = 1_000_000_000_000_000_000
            + xcomply_core::seeded::mix64(seed ^ i) % 100_000_000_000_000_000;
        text.push_str(&id.to_string());
        text.push('\n');
    }
    let path = dir.join(name);
    std::fs::write(&path, &text).unwrap();
    (path, text.into_bytes())
}

fn stored(emulator: &Emulator, job: &ComplianceJob) -> Vec<u8> {
    std::fs::read(
        emulator
            .data_dir()
            .join(job.id.to_string())
            .join("submission"),
    )
    .unwrap()
}

fn delivery(emulator: &Emulator, job: &ComplianceJob) -> Vec<u8> {
    std::fs::read(
        emulator
            .data_dir()
            .join(job.id.to_string())
            .join("delivery.jsonl"),
    )
    .unwrap()
}

async fn wait(client: &Client, job: &ComplianceJob) -> ComplianceJob {
    let options = WaitOptions {
        min_interval: Duration::from_millis(20),
        max_interval: Duration::from_millis(100),
        timeout: Some(Duration::from_secs(30)),
    };
    client
        .wait_for_job(job.id, &options, &CancellationToken::new(), |_| {})
        .await
        .unwrap()
}

async fn download_all(t: &Transfers, url: &SignedUrl) -> Vec<u8> {
    let mut d = t.download(url, &Progress::none()).await.unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = d.next_bytes().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

#[tokio::test]
async fn simple_upload_stores_the_exact_bytes_and_reports_progress() {
    let emulator = Emulator::start(config()).await.unwrap();
    let client = client(&emulator);
    let dir = tempfile::tempdir().unwrap();
    let (path, bytes) = id_file(dir.path(), "ids.txt", 50_000, 1);
    let job = client
        .create_job(&JobType::Tweets, None, false)
        .await
        .unwrap();
    let last = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&last);
    let len = bytes.len() as u64;
    let progress = Progress::new(move |p| {
        assert_eq!(p.total, Some(len));
        assert!(p.done <= len);
        seen.store(p.done, Ordering::SeqCst);
    });
    let report = transfers()
        .upload_file(&job.upload_url, &path, &progress)
        .await
        .unwrap();
    assert_eq!(report.bytes, bytes.len() as u64);
    assert_eq!(report.retries, 0);
    assert_eq!(last.load(Ordering::SeqCst), bytes.len() as u64);
    assert_eq!(stored(&emulator, &job), bytes);
    let done = wait(&client, &job).await;
    assert_eq!(done.status, JobStatus::Complete);

    // The results, gzip-decoded, are exactly what the emulator delivered.
    let t = transfers();
    let d = t
        .download(&job.download_url, &Progress::none())
        .await
        .unwrap();
    assert!(d.is_gzip(), "the emulator serves gzip when asked");
    drop(d);
    let results = download_all(&t, &job.download_url).await;
    assert!(!results.is_empty());
    assert_eq!(results, delivery(&emulator, &job));

    // download_to_file writes the same bytes and leaves no temporary file.
    let out = dir.path().join("results.jsonl");
    let r = t
        .download_to_file(&job.download_url, &out, &Progress::none())
        .await
        .unwrap();
    assert_eq!(r.bytes, results.len() as u64);
    assert_eq!(std::fs::read(&out).unwrap(), results);
    assert!(!dir.path().join(".results.jsonl.part").exists());
}

#[tokio::test]
async fn wrong_kind_of_upload_and_early_download_explain_themselves() {
    let emulator = Emulator::start(config()).await.unwrap();
    let client = client(&emulator);
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = id_file(dir.path(), "ids.txt", 10, 2);
    let t = transfers();

    // A simple PUT to a URL signed for a resumable start: 403 SignatureDoesNotMatch, not retried.
    let resumable = client
        .create_job(&JobType::Tweets, None, true)
        .await
        .unwrap();
    let err = t
        .upload_file(&resumable.upload_url, &path, &Progress::none())
        .await
        .unwrap_err();
    assert!(err.is_forbidden() && !err.is_retryable(), "{err}");
    assert_eq!(err.gcs().unwrap().code, "SignatureDoesNotMatch");
    assert!(
        err.to_string().contains("needs a resumable upload"),
        "{err}"
    );
    assert!(
        err.to_string().contains("X-Goog-Signature=REDACTED"),
        "{err}"
    );

    // And a resumable start on a plain URL.
    let plain = client
        .create_job(&JobType::Users, None, false)
        .await
        .unwrap();
    let err = t.start_resumable(&plain.upload_url).await.unwrap_err();
    assert!(err.is_forbidden(), "{err}");
    assert!(
        err.to_string()
            .contains("create the job with resumable set"),
        "{err}"
    );

    // Results before the job is complete: 404 NoSuchKey, with what to do.
    let err = t
        .download(&plain.download_url, &Progress::none())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
    assert!(
        err.to_string().contains("wait until the job is complete"),
        "{err}"
    );

    // A missing file names its path.
    let err = t
        .upload_file(
            &plain.upload_url,
            &dir.path().join("nope.txt"),
            &Progress::none(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, TransferError::Io { .. }), "{err}");
    assert!(err.to_string().contains("nope.txt"), "{err}");
}

#[tokio::test]
async fn expired_upload_url_says_create_a_new_job() {
    // A frozen clock: only `advance` moves it.
    let emulator = Emulator::start(config().with_time_scale(0.0))
        .await
        .unwrap();
    let client = client(&emulator);
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = id_file(dir.path(), "ids.txt", 10, 3);
    let job = client
        .create_job(&JobType::Tweets, None, false)
        .await
        .unwrap();
    emulator.advance(Duration::from_secs(16 * 60));
    let err = transfers()
        .upload_file(&job.upload_url, &path, &Progress::none())
        .await
        .unwrap_err();
    assert!(err.is_expired(), "{err}");
    let msg = err.to_string();
    assert!(msg.starts_with("upload URL expired at "), "{msg}");
    assert!(msg.contains(": create a new job"), "{msg}");
    assert!(!msg.contains("an unknown time"), "GCS says when: {msg}");
    assert!(msg.contains("X-Goog-Signature=REDACTED"), "{msg}");
    assert_eq!(err.retries(), 0, "an expired URL is not retried");
}

#[tokio::test]
async fn resumable_upload_continues_from_several_interruption_offsets() {
    let emulator = Emulator::start(config()).await.unwrap();
    let client = client(&emulator);
    let dir = tempfile::tempdir().unwrap();
    // About 3.6 MiB: fourteen 256 KiB chunks and a short final one.
    let (path, bytes) = id_file(dir.path(), "ids.txt", 190_000, 4);
    let total = bytes.len() as u64;
    let t = transfers();
    let http = reqwest::Client::new();
    let align = RESUMABLE_ALIGN;
    for (round, cut) in [0, align, 3 * align, 7 * align, (total / align) * align]
        .into_iter()
        .enumerate()
    {
        let job_type = if round % 2 == 0 {
            JobType::Tweets
        } else {
            JobType::Users
        };
        let job = client.create_job(&job_type, None, true).await.unwrap();
        let session = t.start_resumable(&job.upload_url).await.unwrap();
        // The first `cut` bytes go up as one non-final chunk, then the "process" dies.
        if cut > 0 {
            let resp = http
                .put(session.url.expose())
                .header("content-range", format!("bytes 0-{}/*", cut - 1))
                .body(bytes[..cut as usize].to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 308);
        }
        // A new process asks storage what it holds and continues from there.
        let persisted = t.resumable_status(&session, total).await.unwrap();
        assert_eq!(persisted, Persisted::Bytes(cut), "round {round}");
        let report = t
            .continue_resumable(&session, &path, cut, &Progress::none())
            .await
            .unwrap();
        assert_eq!(report.bytes, total);
        assert_eq!(stored(&emulator, &job), bytes, "round {round}, cut {cut}");
        assert_eq!(
            t.resumable_status(&session, total).await.unwrap(),
            Persisted::Complete
        );
        assert_eq!(wait(&client, &job).await.status, JobStatus::Complete);
    }
}

/// A 0-byte file and a file of exactly one chunk both finish with one session: the empty final
/// request carries the total, and storage that holds it all completes the upload.
#[tokio::test]
async fn resumable_upload_of_an_empty_file_and_of_an_exact_chunk() {
    let emulator = Emulator::start(config()).await.unwrap();
    let client = client(&emulator);
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, b"").unwrap();
    let exact = dir.path().join("exact.txt");
    let line = format!("{}\n", "1".repeat(15));
    let bytes = line.repeat(RESUMABLE_ALIGN as usize / line.len());
    assert_eq!(bytes.len() as u64, RESUMABLE_ALIGN);
    std::fs::write(&exact, &bytes).unwrap();
    for (job_type, path, want) in [
        (JobType::Tweets, &empty, Vec::new()),
        (JobType::Users, &exact, bytes.into_bytes()),
    ] {
        let job = client.create_job(&job_type, None, true).await.unwrap();
        let report = tokio::time::timeout(
            Duration::from_secs(30),
            transfers().upload_resumable(&job.upload_url, path, &Progress::none()),
        )
        .await
        .expect("the upload must not spin")
        .unwrap();
        assert_eq!(report.bytes, want.len() as u64);
        assert_eq!(stored(&emulator, &job), want);
        assert_eq!(emulator.uploads_for(job.id.0).completed, 1);
    }
}

#[tokio::test]
async fn resumable_upload_survives_resets_mid_chunk() {
    let emulator = Emulator::start(config().with_seed(11)).await.unwrap();
    let client = client(&emulator);
    let dir = tempfile::tempdir().unwrap();
    let (path, bytes) = id_file(dir.path(), "ids.txt", 150_000, 5);
    emulator.set_faults(Faults {
        upload: FaultRates {
            reset: 0.2,
            server_error: 0.1,
            ..FaultRates::default()
        },
        ..Faults::default()
    });
    let job = client
        .create_job(&JobType::Tweets, None, true)
        .await
        .unwrap();
    let report = transfers()
        .upload_resumable(&job.upload_url, &path, &Progress::none())
        .await
        .unwrap();
    assert!(
        report.retries > 0,
        "faults were injected: {:?}",
        emulator.stats().faults
    );
    assert_eq!(stored(&emulator, &job), bytes);
    assert_eq!(
        emulator.uploads_for(job.id.0).sessions,
        1,
        "one session, resumed"
    );
    assert_eq!(emulator.uploads_for(job.id.0).completed, 1);
}

#[tokio::test]
async fn downloads_resume_after_resets_and_truncation() {
    let emulator = Emulator::start(config().with_seed(3)).await.unwrap();
    let client = client(&emulator);
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = id_file(dir.path(), "ids.txt", 200_000, 6);
    let job = client
        .create_job(&JobType::Tweets, None, false)
        .await
        .unwrap();
    let t = transfers();
    t.upload_file(&job.upload_url, &path, &Progress::none())
        .await
        .unwrap();
    wait(&client, &job).await;
    let expected = delivery(&emulator, &job);
    assert!(
        expected.len() > 100_000,
        "results large enough to interrupt"
    );
    emulator.set_faults(Faults {
        download: FaultRates {
            reset: 0.4,
            truncate: 0.3,
            server_error: 0.1,
            ..FaultRates::default()
        },
        ..Faults::default()
    });
    for _ in 0..15 {
        assert_eq!(download_all(&t, &job.download_url).await, expected);
    }
    let faults = emulator.stats().faults;
    assert!(
        faults.get("reset").is_some_and(|n| *n > 0)
            && faults.get("truncate").is_some_and(|n| *n > 0),
        "{faults:?}"
    );
}

#[tokio::test]
async fn whole_jobs_succeed_under_ten_percent_faults() {
    let emulator = Emulator::start(config().with_seed(5)).await.unwrap();
    emulator.set_faults(Faults::uniform(&FaultRates {
        server_error: 0.04,
        unavailable: 0.03,
        reset: 0.03,
        truncate: 0.03,
        ..FaultRates::default()
    }));
    let client = client(&emulator);
    let t = transfers();
    let dir = tempfile::tempdir().unwrap();
    for round in 0..8u64 {
        let (path, bytes) = id_file(dir.path(), &format!("ids-{round}.txt"), 30_000, round);
        let job_type = if round % 2 == 0 {
            JobType::Tweets
        } else {
            JobType::Users
        };
        let resumable = round % 4 < 2;
        let job = client
            .create_job(&job_type, Some(&format!("r{round}")), resumable)
            .await
            .unwrap();
        if resumable {
            t.upload_resumable(&job.upload_url, &path, &Progress::none())
                .await
                .unwrap();
        } else {
            t.upload_file(&job.upload_url, &path, &Progress::none())
                .await
                .unwrap();
        }
        assert_eq!(stored(&emulator, &job), bytes);
        let done = wait(&client, &job).await;
        assert_eq!(done.status, JobStatus::Complete);
        assert_eq!(
            download_all(&t, &job.download_url).await,
            delivery(&emulator, &job)
        );
    }
    let faults = emulator.stats().faults;
    assert!(faults.values().sum::<u64>() >= 5, "{faults:?}");
}
