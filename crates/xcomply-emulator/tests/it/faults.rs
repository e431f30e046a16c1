//! Fault injection: every kind, seeded and reproducible.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use xcomply_emulator::{FaultRates, Faults};

use crate::util::{Api, frozen, lines, post_ids, s, start};

fn only(rates: FaultRates, class: &str) -> Faults {
    let mut f = Faults::default();
    match class {
        "api" => f.api = rates,
        "upload" => f.upload = rates,
        _ => f.download = rates,
    }
    f
}

#[tokio::test]
async fn api_500_and_503_bodies() {
    let emu = start(frozen()).await;
    let api = Api::new(&emu);
    for (rates, status, title) in [
        (
            FaultRates {
                server_error: 1.0,
                ..FaultRates::default()
            },
            500,
            "Internal Server Error",
        ),
        (
            FaultRates {
                unavailable: 1.0,
                ..FaultRates::default()
            },
            503,
            "Service Unavailable",
        ),
    ] {
        emu.set_faults(only(rates, "api"));
        let r = api.list("type=tweets").await;
        assert_eq!(r.status(), status);
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        assert!(r.headers().contains_key("x-rate-limit-reset"));
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"title": title, "detail": title, "type": "about:blank", "status": status})
        );
    }
    assert_eq!(emu.stats().faults["500"], 1);
    assert_eq!(emu.stats().faults["503"], 1);
}

#[tokio::test]
async fn rate_limit_bursts_last_their_length() {
    let emu = start(frozen()).await;
    let api = Api::new(&emu);
    emu.set_faults(only(
        FaultRates {
            rate_limit_burst: 1.0,
            burst_length: 3,
            ..FaultRates::default()
        },
        "api",
    ));
    let r = api.list("type=tweets").await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["x-rate-limit-remaining"], "0");
    let reset: i64 = r.headers()["x-rate-limit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(reset, emu.now_ms() / 1000 + 1);
    // The burst continues after the rate is turned off, for its remaining two requests.
    emu.set_faults(Faults::default());
    assert_eq!(api.list("type=tweets").await.status(), 429);
    assert_eq!(api.list("type=tweets").await.status(), 429);
    let r = api.list("type=tweets").await;
    assert_eq!(r.status(), 200);
    // Injected 429s did not use the real budget.
    assert_eq!(r.headers()["x-rate-limit-remaining"], "149");
}

#[tokio::test]
async fn storage_faults_answer_xml() {
    let emu = start(frozen()).await;
    let api = Api::new(&emu);
    let job = api.create_ok(json!({"type": "tweets"})).await;
    for (rates, status, code) in [
        (
            FaultRates {
                server_error: 1.0,
                ..FaultRates::default()
            },
            500,
            "InternalError",
        ),
        (
            FaultRates {
                unavailable: 1.0,
                ..FaultRates::default()
            },
            503,
            "ServiceUnavailable",
        ),
        (
            FaultRates {
                rate_limit_burst: 1.0,
                burst_length: 1,
                ..FaultRates::default()
            },
            429,
            "SlowDown",
        ),
    ] {
        emu.set_faults(only(rates, "upload"));
        let r = api.put_text(&s(&job["upload_url"]), "1\n").await;
        assert_eq!(r.status(), status);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains(&format!("<Code>{code}</Code>"))
        );
    }
    emu.set_faults(Faults::default());
    assert_eq!(api.job(&s(&job["id"])).await["status"], "created");
    assert_eq!(emu.uploads_for(s(&job["id"]).parse().unwrap()).completed, 0);
}

#[tokio::test]
async fn upload_reset_mid_body_stores_nothing() {
    let emu = start(frozen()).await;
    let api = Api::new(&emu);
    let job = api.create_ok(json!({"type": "tweets"})).await;
    let id: u64 = s(&job["id"]).parse().unwrap();
    emu.set_faults(only(
        FaultRates {
            reset: 1.0,
            ..FaultRates::default()
        },
        "upload",
    ));
    let body = lines(&post_ids(200_000));
    let result = api
        .http
        .put(s(&job["upload_url"]))
        .header("content-type", "text/plain")
        .body(body.clone())
        .send()
        .await;
    assert!(result.is_err(), "{result:?}");
    let stats = emu.uploads_for(id);
    assert_eq!((stats.attempts, stats.completed), (1, 0));
    assert!(
        stats.bytes > 0 && stats.bytes < body.len() as u64,
        "{stats:?}"
    );
    assert_eq!(api.job(&s(&job["id"])).await["status"], "created");
    // The retry goes through.
    emu.set_faults(Faults::default());
    assert_eq!(
        api.put_text(&s(&job["upload_url"]), body).await.status(),
        200
    );
    assert_eq!(emu.uploads_for(id).completed, 1);
}

#[tokio::test]
async fn download_reset_and_truncation() {
    let emu = start(frozen()).await;
    let api = Api::new(&emu);
    let job = api.create_ok(json!({"type": "tweets"})).await;
    api.put_text(&s(&job["upload_url"]), lines(&post_ids(100_000)))
        .await;
    assert_eq!(api.wait_done(&s(&job["id"])).await["status"], "complete");
    let url = s(&job["download_url"]);
    let full = api
        .http
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();

    emu.set_faults(only(
        FaultRates {
            reset: 1.0,
            ..FaultRates::default()
        },
        "download",
    ));
    let r = api.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-length"],
        full.len().to_string().as_str()
    );
    assert!(r.bytes().await.is_err(), "the body must break off");

    emu.set_faults(only(
        FaultRates {
            truncate: 1.0,
            ..FaultRates::default()
        },
        "download",
    ));
    let r = api.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(!r.headers().contains_key("content-length"));
    assert_eq!(
        r.headers()["x-goog-stored-content-length"],
        full.len().to_string().as_str()
    );
    let cut = r.bytes().await.unwrap();
    assert!(cut.len() < full.len() && full.starts_with(&cut));
    let faults = emu.stats().faults;
    assert_eq!((faults["reset"], faults["truncate"]), (1, 1));
}

#[tokio::test]
async fn latency_is_added() {
    let emu = start(frozen()).await;
    let api = Api::new(&emu);
    emu.set_faults(only(
        FaultRates {
            latency_rate: 1.0,
            latency: Duration::from_millis(200),
            ..FaultRates::default()
        },
        "api",
    ));
    let t = Instant::now();
    assert_eq!(api.list("type=tweets").await.status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(200));
    assert_eq!(emu.stats().faults["latency"], 1);
}

#[tokio::test]
async fn faults_are_reproducible_from_the_seed() {
    let rates = FaultRates {
        server_error: 0.3,
        unavailable: 0.2,
        ..FaultRates::default()
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let emu = start(frozen().with_seed(5).with_faults(Faults::uniform(&rates))).await;
        let api = Api::new(&emu);
        let mut statuses = Vec::new();
        for _ in 0..40 {
            statuses.push(api.list("type=tweets").await.status().as_u16());
        }
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(runs[0].contains(&500) && runs[0].contains(&503) && runs[0].contains(&200));
}

#[tokio::test]
async fn usage_cap_is_a_429_told_apart_by_its_type() {
    let emu = start(frozen()).await;
    let api = Api::new(&emu);
    emu.set_faults(only(
        FaultRates {
            usage_capped: 1.0,
            ..FaultRates::default()
        },
        "api",
    ));
    let r = api.list("type=tweets").await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/api/error-429-usage-capped.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), fixture);
    assert_eq!(emu.stats().faults["usage-capped"], 1);
}
