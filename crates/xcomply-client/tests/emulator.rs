//! The client against the emulator on a loopback port: every endpoint, every error mapping, the
//! rate-limit governor, retries under injected faults, and `wait_for_job`.

use std::time::{Duration, Instant};

use xcomply_client::{
    BearerToken, CancellationToken, Client, ClientConfig, ClientError, RetryPolicy, WaitOptions,
};
use xcomply_core::{JobId, JobStatus, JobType};
use xcomply_emulator::{Config, Emulator, FaultRates, Faults, Flow};

/// The GCS flow, which most of these tests pin (they check its signed URLs and problem types);
/// `the_live_flow_round_trips_and_drops_resumable` checks the byte-path flow.
fn gcs() -> Config {
    Config::default().with_flow(Flow::Gcs)
}

/// A retry policy with short backoffs, so fault tests take milliseconds per retry.
fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 8,
        max_rate_limit_retries: 4,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        max_rate_limit_wait: Duration::from_secs(30),
    }
}

fn client_for(emulator: &Emulator, token: &str) -> Client {
    let mut config = ClientConfig::new(emulator.base_url(), BearerToken::new(token).unwrap());
    config.retry = fast_retry();
    Client::new(config).unwrap()
}

#[tokio::test]
async fn every_endpoint_round_trips() {
    let emulator = Emulator::start(gcs()).await.unwrap();
    let client = client_for(&emulator, emulator.token());

    assert!(
        client
            .list_jobs(&JobType::Users, None)
            .await
            .unwrap()
            .is_empty()
    );

    let job = client
        .create_job(&JobType::Tweets, Some("nightly"), true)
        .await
        .unwrap();
    assert_eq!(job.job_type, JobType::Tweets);
    assert_eq!(job.status, JobStatus::Created);
    assert_eq!(job.name.as_deref(), Some("nightly"));
    assert_eq!(job.resumable, Some(true));
    assert_eq!(
        job.upload_expires_at.millis() - job.created_at.millis(),
        15 * 60 * 1000
    );
    assert!(job.upload_url.expose().contains("X-Goog-Signature="));

    let got = client.get_job(job.id).await.unwrap();
    assert_eq!(got, job);

    let listed = client.list_jobs(&JobType::Tweets, None).await.unwrap();
    assert_eq!(listed, vec![job.clone()]);
    let created = client
        .list_jobs(&JobType::Tweets, Some(&JobStatus::Created))
        .await
        .unwrap();
    assert_eq!(created.len(), 1);
    let complete = client
        .list_jobs(&JobType::Tweets, Some(&JobStatus::Complete))
        .await
        .unwrap();
    assert!(complete.is_empty());

    // A second unfinished job of the same type is a conflict, with a hint.
    let err = client
        .create_job(&JobType::Tweets, None, false)
        .await
        .unwrap_err();
    assert!(err.is_conflict() && !err.is_retryable(), "{err}");
    assert_eq!(err.retries(), 0, "a conflict is not retried");
    assert!(
        err.to_string()
            .contains("another tweets job is still created or in progress"),
        "{err}"
    );

    // Cancelling frees the type.
    let cancelled = client.cancel_job(job.id).await.unwrap();
    assert_eq!(cancelled.id, job.id);
    assert_eq!(cancelled.status, JobStatus::Failed);
    let again = client
        .create_job(&JobType::Tweets, None, false)
        .await
        .unwrap();
    assert_ne!(again.id, job.id);
    assert_eq!(again.name, None);
    assert_eq!(again.resumable, Some(false));
}

#[tokio::test]
async fn errors_fail_fast_with_actionable_messages() {
    let emulator = Emulator::start(gcs()).await.unwrap();

    // A wrong token: 401, not retried, and the token itself is nowhere in the message.
    let wrong = client_for(&emulator, "not-the-token-s3cr3t");
    let start = Instant::now();
    let err = wrong.get_job(JobId(1)).await.unwrap_err();
    assert!(err.is_auth() && !err.is_retryable(), "{err}");
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.retries(), 0);
    assert!(start.elapsed() < Duration::from_secs(2));
    let msg = err.to_string();
    assert!(
        msg.starts_with("get job 1 failed with http 401 after 1 try"),
        "{msg}"
    );
    assert!(msg.contains("check X_BEARER_TOKEN"), "{msg}");
    assert!(!msg.contains("s3cr3t") && !format!("{err:?}").contains("s3cr3t"));

    let client = client_for(&emulator, emulator.token());
    // An unknown job: 404.
    let err = client.get_job(JobId(42)).await.unwrap_err();
    assert!(err.is_not_found() && !err.is_retryable(), "{err}");
    assert!(err.to_string().contains("no job 42 is visible"), "{err}");
    let err = client.cancel_job(JobId(42)).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");

    // An invalid type: 400 invalid-request with the parameter message.
    let err = client
        .list_jobs(&JobType::Other("foo".into()), None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(!err.is_retryable());
    assert!(
        err.to_string()
            .contains("The `type` query parameter value [foo] is not one of [tweets,users]"),
        "{err}"
    );
    let err = client
        .create_job(&JobType::Other("posts".into()), None, false)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");

    // `expired` is not an allowed filter.
    let err = client
        .list_jobs(&JobType::Tweets, Some(&JobStatus::Expired))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
}

#[tokio::test]
async fn server_errors_are_retried_and_counted() {
    let emulator = Emulator::start(gcs()).await.unwrap();
    let client = client_for(&emulator, emulator.token());
    // Every API request fails: the error says how many tries and how long.
    emulator.set_faults(Faults {
        api: FaultRates {
            server_error: 1.0,
            ..FaultRates::default()
        },
        ..Faults::default()
    });
    let err = client.get_job(JobId(1)).await.unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert!(err.is_retryable());
    assert_eq!(err.retries(), 8);
    assert!(
        err.to_string()
            .starts_with("get job 1 failed with http 500 after 9 tries in "),
        "{err}"
    );
    assert_eq!(
        emulator.stats().requests.get("GET /2/compliance/jobs/:id"),
        Some(&9)
    );

    // A server that is not there: a transport error after every retry.
    let gone = Client::new({
        let mut c = ClientConfig::new("http://127.0.0.1:1", BearerToken::new("t").unwrap());
        c.retry = RetryPolicy {
            max_retries: 2,
            ..fast_retry()
        };
        c
    })
    .unwrap();
    let err = gone.get_job(JobId(1)).await.unwrap_err();
    assert!(matches!(err, ClientError::Transport { .. }), "{err}");
    assert_eq!(err.retries(), 2);
    assert!(
        err.to_string()
            .starts_with("get job 1 failed after 3 tries in "),
        "{err}"
    );
}

#[tokio::test]
async fn ten_percent_faults_never_fail_an_operation() {
    let emulator = Emulator::start(gcs().with_seed(7)).await.unwrap();
    emulator.set_faults(Faults::uniform(&FaultRates {
        server_error: 0.05,
        unavailable: 0.05,
        ..FaultRates::default()
    }));
    let client = client_for(&emulator, emulator.token());
    for round in 0..30 {
        let job_type = if round % 2 == 0 {
            JobType::Tweets
        } else {
            JobType::Users
        };
        let job = client
            .create_job(&job_type, Some(&format!("round-{round}")), round % 3 == 0)
            .await
            .unwrap();
        assert_eq!(client.get_job(job.id).await.unwrap().id, job.id);
        assert!(
            client
                .list_jobs(&job_type, None)
                .await
                .unwrap()
                .iter()
                .any(|j| j.id == job.id)
        );
        let cancelled = client.cancel_job(job.id).await.unwrap();
        assert_eq!(cancelled.status, JobStatus::Failed);
    }
    let faults = emulator.stats().faults;
    let injected: u64 = faults.values().sum();
    assert!(injected >= 3, "too few faults to mean anything: {faults:?}");
}

#[tokio::test]
async fn governor_spaces_requests_within_a_short_window() {
    // Three requests per two-second window: the fourth and fifth must wait for the reset, and the
    // governor must wait rather than let the server answer 429.
    let emulator = Emulator::start(gcs().with_rate_limit(3, Duration::from_secs(2)))
        .await
        .unwrap();
    let client = client_for(&emulator, emulator.token());
    let job = client
        .create_job(&JobType::Users, None, false)
        .await
        .unwrap();
    let start = Instant::now();
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.get_job(job.id).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().id, job.id);
    }
    assert!(
        start.elapsed() >= Duration::from_millis(500),
        "five requests in a window of three cannot all go at once"
    );
    let stats = emulator.stats();
    assert_eq!(stats.requests.get("GET /2/compliance/jobs/:id"), Some(&5));
}

#[tokio::test]
async fn a_429_waits_for_the_reset_and_succeeds() {
    let emulator = Emulator::start(gcs().with_rate_limit(2, Duration::from_secs(2)))
        .await
        .unwrap();
    // Two clients do not share a governor: the second learns of the spent window from a 429.
    let first = client_for(&emulator, emulator.token());
    let second = client_for(&emulator, emulator.token());
    first.list_jobs(&JobType::Tweets, None).await.unwrap();
    first.list_jobs(&JobType::Tweets, None).await.unwrap();
    let start = Instant::now();
    second.list_jobs(&JobType::Tweets, None).await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert_eq!(
        emulator.stats().requests.get("GET /2/compliance/jobs"),
        Some(&4)
    );

    // Injected 429 bursts (each announcing a reset one second ahead) are waited out too.
    let emulator = Emulator::start(gcs()).await.unwrap();
    let second = client_for(&emulator, emulator.token());
    emulator.set_faults(Faults {
        api: FaultRates {
            rate_limit_burst: 0.25,
            burst_length: 2,
            ..FaultRates::default()
        },
        ..Faults::default()
    });
    for _ in 0..4 {
        second.list_jobs(&JobType::Users, None).await.unwrap();
    }
    assert!(
        emulator.stats().faults.get("429").is_some_and(|n| *n >= 1),
        "no burst was injected: {:?}",
        emulator.stats().faults
    );

    // With no patience for waiting, a spent window is reported as such.
    let impatient = Client::new({
        let mut c = ClientConfig::new(
            emulator.base_url(),
            BearerToken::new(emulator.token()).unwrap(),
        );
        c.retry = RetryPolicy {
            max_rate_limit_retries: 0,
            ..fast_retry()
        };
        c
    })
    .unwrap();
    emulator.set_faults(Faults {
        api: FaultRates {
            rate_limit_burst: 1.0,
            burst_length: 1,
            ..FaultRates::default()
        },
        ..Faults::default()
    });
    let err = impatient
        .list_jobs(&JobType::Users, None)
        .await
        .unwrap_err();
    assert!(err.is_rate_limited() && !err.is_usage_cap(), "{err}");
    assert!(err.to_string().contains("http 429"), "{err}");
}

#[tokio::test]
async fn wait_for_job_follows_the_lifecycle_and_can_be_cancelled() {
    // A generous rate limit: with X's 150 per 15 minutes the governor would rightly space polls
    // 6 s apart.
    let emulator = Emulator::start(
        gcs()
            .with_processing(Duration::from_millis(600), None)
            .with_rate_limit(100_000, Duration::from_secs(900)),
    )
    .await
    .unwrap();
    let client = client_for(&emulator, emulator.token());
    let job = client
        .create_job(&JobType::Tweets, None, false)
        .await
        .unwrap();
    let options = WaitOptions {
        min_interval: Duration::from_millis(50),
        max_interval: Duration::from_millis(200),
        timeout: Some(Duration::from_secs(20)),
    };

    // Nothing uploaded: cancelling the wait ends it with the last status.
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        trigger.cancel();
    });
    let err = client
        .wait_for_job(job.id, &options, &cancel, |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Cancelled { last_status, .. } if last_status == "created"),
        "{err}"
    );

    // A timeout is reported as such.
    let short = WaitOptions {
        timeout: Some(Duration::from_millis(120)),
        ..options.clone()
    };
    let err = client
        .wait_for_job(job.id, &short, &CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::WaitTimedOut { .. }), "{err}");

    // Upload with a plain PUT, then wait: created/in_progress, then complete.
    let http = reqwest::Client::new();
    let resp = http
        .put(job.upload_url.expose())
        .header("content-type", "text/plain")
        .body("1446017776678801409\n1446017776678801410\n")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let mut seen = Vec::new();
    let done = client
        .wait_for_job(job.id, &options, &CancellationToken::new(), |j| {
            if seen.last() != Some(&j.status) {
                seen.push(j.status.clone());
            }
        })
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Complete);
    assert_eq!(seen.first(), Some(&JobStatus::InProgress), "{seen:?}");
    assert_eq!(seen.last(), Some(&JobStatus::Complete), "{seen:?}");
}

/// In the live flow a resumable create is refused with 400; the client creates the job again
/// without it, and every endpoint still round-trips with the v2.168 problem types.
#[tokio::test]
async fn the_live_flow_round_trips_and_drops_resumable() {
    let emulator = Emulator::start(Config::default()).await.unwrap();
    let client = client_for(&emulator, emulator.token());
    let job = client
        .create_job(&JobType::Tweets, Some("nightly"), true)
        .await
        .unwrap();
    assert_eq!(job.resumable, Some(false));
    assert_eq!(job.name.as_deref(), Some("nightly"));
    assert!(
        job.upload_url.expose().starts_with(&format!(
            "{}/2/compliance/jobs/{}/upload?token=",
            emulator.base_url(),
            job.id
        )),
        "{}",
        job.upload_url
    );
    assert_eq!(emulator.stats().jobs_created, 1);
    let err = client
        .create_job(&JobType::Tweets, None, false)
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    let err = client.get_job(JobId(12_345)).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let cancelled = client.cancel_job(job.id).await.unwrap();
    assert_eq!(cancelled.status, JobStatus::Failed);
    let err = client_for(&emulator, "wrong")
        .list_jobs(&JobType::Tweets, None)
        .await
        .unwrap_err();
    assert!(err.is_auth(), "{err}");
}
