//! Helpers shared by the tests.

use std::time::Duration;

use serde_json::Value;
use xcomply_emulator::{Config, Emulator, Flow};

/// 2021-10-07T07:41:18Z, the creation time of the job recorded in tweepy's cassette.
pub const START_MS: i64 = 1_633_592_478_000;

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A frozen-clock config of the GCS flow starting at [`START_MS`]; most of these tests pin the
/// flow before the cutover, which the emulator keeps whole (`bytepath.rs` tests the live one).
pub fn frozen() -> Config {
    Config::default()
        .with_flow(Flow::Gcs)
        .with_time_scale(0.0)
        .with_start_time_ms(START_MS)
}

/// A frozen-clock config of the byte-path (live) flow starting at [`START_MS`].
pub fn frozen_live() -> Config {
    Config::default()
        .with_time_scale(0.0)
        .with_start_time_ms(START_MS)
}

pub async fn start(config: Config) -> Emulator {
    Emulator::start(config).await.unwrap()
}

pub struct Api<'a> {
    pub emu: &'a Emulator,
    pub http: reqwest::Client,
}

impl<'a> Api<'a> {
    pub fn new(emu: &'a Emulator) -> Api<'a> {
        Api {
            emu,
            http: client(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emu.base_url())
    }

    pub async fn create(&self, body: Value) -> reqwest::Response {
        self.http
            .post(self.url("/2/compliance/jobs"))
            .bearer_auth(self.emu.token())
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Creates a job and returns its `data`.
    pub async fn create_ok(&self, body: Value) -> Value {
        let r = self.create(body).await;
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["data"].clone()
    }

    pub async fn get(&self, id: &str) -> reqwest::Response {
        self.http
            .get(self.url(&format!("/2/compliance/jobs/{id}")))
            .bearer_auth(self.emu.token())
            .send()
            .await
            .unwrap()
    }

    pub async fn job(&self, id: &str) -> Value {
        let r = self.get(id).await;
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["data"].clone()
    }

    pub async fn list(&self, query: &str) -> reqwest::Response {
        self.http
            .get(self.url(&format!("/2/compliance/jobs?{query}")))
            .bearer_auth(self.emu.token())
            .send()
            .await
            .unwrap()
    }

    /// Polls until the job leaves `created`/`in_progress` (the emulator processes in real time
    /// even on a frozen clock).
    pub async fn wait_done(&self, id: &str) -> Value {
        for _ in 0..500 {
            let job = self.job(id).await;
            if !matches!(job["status"].as_str(), Some("created" | "in_progress")) {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("job {id} never finished");
    }

    pub async fn put_text(&self, url: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.http
            .put(url)
            .header("content-type", "text/plain")
            .body(body)
            .send()
            .await
            .unwrap()
    }
}

pub fn s(v: &Value) -> String {
    v.as_str().unwrap().to_owned()
}

/// The IDs text of `ids`, one per line.
pub fn lines(ids: &[u64]) -> String {
    ids.iter().map(|i| i.to_string() + "\n").collect()
}

/// The expected results of `ids` for the GCS flow's default rates.
pub fn expected(seed: u64, job_type: &xcomply_core::JobType, ids: &[u64]) -> String {
    let rates = xcomply_emulator::OutcomeRates::legacy();
    ids.iter()
        .filter_map(|&id| xcomply_emulator::outcome(seed, Flow::Gcs, job_type, id, &rates))
        .map(|r| serde_json::to_string(&r).unwrap() + "\n")
        .collect()
}

/// Snowflake-like post IDs created around 2021.
pub fn post_ids(n: u64) -> Vec<u64> {
    (0..n)
        .map(|i| 1_446_017_776_678_801_409 + i * 4_194_304 * 37)
        .collect()
}
