//! The live (September 2026) flow: byte paths on the API's origin that need the app's Bearer
//! token and the URL's token, one PUT of at most the upload cap, results in the 2026 vocabulary.

use std::time::Duration;

use serde_json::{Value, json};
use xcomply_core::JobType;
use xcomply_emulator::{Flow, OutcomeRates};

use crate::util::{Api, frozen, frozen_live, lines, post_ids, s, start};

const PROBLEMS: &str = "https://api.x.com/2/problems/";

/// Asserts a problem answer: status, type slug and, when given, its `parameter`.
async fn problem(r: reqwest::Response, status: u16, slug: &str, parameter: Option<&str>) -> Value {
    assert_eq!(r.status(), status);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], format!("{PROBLEMS}{slug}"), "{body}");
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    assert_eq!(body["parameter"].as_str(), parameter, "{body}");
    body
}

impl Api<'_> {
    async fn put_bytes(&self, url: &str, bearer: Option<&str>, body: Vec<u8>) -> reqwest::Response {
        let mut req = self
            .http
            .put(url)
            .header("content-type", "application/octet-stream")
            .body(body);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        req.send().await.unwrap()
    }

    async fn get_bytes(&self, url: &str, bearer: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(url);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        req.send().await.unwrap()
    }
}

#[tokio::test]
async fn a_job_goes_through_the_byte_paths_with_bearer_and_token() {
    let emu = start(frozen_live()).await;
    let api = Api::new(&emu);
    let job = api.create_ok(json!({"type": "tweets"})).await;
    let id = s(&job["id"]);
    let (upload, download) = (s(&job["upload_url"]), s(&job["download_url"]));
    assert!(
        upload.starts_with(&format!(
            "{}/2/compliance/jobs/{id}/upload?token=",
            emu.base_url()
        )),
        "{upload}"
    );
    assert!(
        download.starts_with(&format!(
            "{}/2/compliance/jobs/{id}/download?token=",
            emu.base_url()
        )),
        "{download}"
    );
    assert_eq!(job["resumable"], false);

    // Invalid lines are answered by error records, not a failed job.
    let ids = post_ids(20_000);
    let mut text = lines(&ids);
    text.push_str("not_a_valid_id\n12a\n");
    let r = api
        .put_bytes(&upload, Some(emu.token()), text.into_bytes())
        .await;
    assert_eq!(r.status(), 200);
    let answered: Value = r.json().await.unwrap();
    assert_eq!(answered["data"]["id"], id.as_str());
    let done = api.wait_done(&id).await;
    assert_eq!(done["status"], "complete", "{done}");

    let r = api.get_bytes(&download, Some(emu.token())).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/octet-stream"
    );
    let body = r.text().await.unwrap();
    let rates = OutcomeRates::default();
    let mut want: Vec<Value> = ids
        .iter()
        .filter_map(|&i| xcomply_emulator::outcome(42, Flow::BytePath, &JobType::Tweets, i, &rates))
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    want.push(json!({"id": "not_a_valid_id", "error": "invalid_id"}));
    want.push(json!({"id": "12a", "error": "invalid_id"}));
    let got: Vec<Value> = body
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            // serde leaves a `None` out where the API writes null; compare like with like.
            if v["redacted_at"].is_null() {
                v.as_object_mut().unwrap().remove("redacted_at");
            }
            v
        })
        .collect();
    assert_eq!(got, want);
    let actions: std::collections::BTreeSet<&str> =
        got.iter().filter_map(|v| v["action"].as_str()).collect();
    assert_eq!(
        actions,
        ["delete", "rehydrate", "scrub_geo"].into_iter().collect()
    );
    assert!(body.contains("\"redacted_at\":null"));

    // A Range request and gzip, as the GCS flow served them.
    let r = api
        .http
        .get(&download)
        .bearer_auth(emu.token())
        .header("range", "bytes=10-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.text().await.unwrap(), body[10..]);
    let r = api
        .http
        .get(&download)
        .bearer_auth(emu.token())
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
}

#[tokio::test]
async fn bearer_and_token_are_both_required_and_told_apart() {
    let mut config = frozen_live();
    config.tokens = vec!["app-one".into(), "app-two".into()];
    let emu = start(config).await;
    let api = Api::new(&emu);
    let job = api.create_ok(json!({"type": "users"})).await;
    let (upload, download) = (s(&job["upload_url"]), s(&job["download_url"]));
    let body = || b"12\n".to_vec();

    // No Bearer, a wrong one, and another app's: 401 without `parameter`.
    for bearer in [None, Some("nope"), Some("app-two")] {
        let r = api.put_bytes(&upload, bearer, body()).await;
        problem(r, 401, "not-authorized-for-resource", None).await;
        let r = api.get_bytes(&download, bearer).await;
        problem(r, 401, "not-authorized-for-resource", None).await;
    }
    // A token that is not this job's: 401 naming the token.
    let forged = format!("{upload}0");
    let r = api.put_bytes(&forged, Some("app-one"), body()).await;
    problem(r, 401, "not-authorized-for-resource", Some("token")).await;
    let r = api
        .put_bytes(&upload.replace("?token=", "?x="), Some("app-one"), body())
        .await;
    problem(r, 401, "not-authorized-for-resource", Some("token")).await;
    // The download token on the upload path: 403 naming the token.
    let swapped = format!(
        "{}?{}",
        upload.split('?').next().unwrap(),
        download.split('?').nth(1).unwrap()
    );
    let r = api.put_bytes(&swapped, Some("app-one"), body()).await;
    let p = problem(r, 403, "not-authorized-for-resource", Some("token")).await;
    assert!(p["detail"].as_str().unwrap().contains("download"), "{p}");
    assert_eq!(emu.uploads_for(s(&job["id"]).parse().unwrap()).attempts, 0);

    // After the 15-minute window the upload token is expired: 403.
    emu.advance(Duration::from_secs(15 * 60));
    let r = api.put_bytes(&upload, Some("app-one"), body()).await;
    let p = problem(r, 403, "not-authorized-for-resource", Some("token")).await;
    assert!(p["detail"].as_str().unwrap().contains("expired"), "{p}");
}

#[tokio::test]
async fn uploads_above_the_cap_are_413_and_leave_the_job_waiting() {
    let emu = start(frozen_live().with_max_upload_bytes(Some(100))).await;
    let api = Api::new(&emu);
    let job = api.create_ok(json!({"type": "tweets"})).await;
    let id = s(&job["id"]);
    let big = lines(&post_ids(10)).into_bytes();
    assert!(big.len() > 100);
    let r = api
        .put_bytes(&s(&job["upload_url"]), Some(emu.token()), big)
        .await;
    let p = problem(r, 413, "invalid-request", None).await;
    assert!(
        p["detail"].as_str().unwrap().contains("at most 100 bytes"),
        "{p}"
    );
    // A chunked body has no declared length and is measured as it arrives.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(vec![b'1'; 60]), Ok(b"\n".repeat(60))];
    let r = api
        .http
        .put(s(&job["upload_url"]))
        .bearer_auth(emu.token())
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    problem(r, 413, "invalid-request", None).await;
    assert_eq!(api.job(&id).await["status"], "created");
    let small = lines(&post_ids(3)).into_bytes();
    let r = api
        .put_bytes(&s(&job["upload_url"]), Some(emu.token()), small)
        .await;
    assert_eq!(r.status(), 200);
    // Other media types are refused with 415.
    let job2 = api.create_ok(json!({"type": "users"})).await;
    let r = api
        .http
        .put(s(&job2["upload_url"]))
        .bearer_auth(emu.token())
        .header("content-type", "application/json")
        .body("1\n")
        .send()
        .await
        .unwrap();
    problem(r, 415, "invalid-request", None).await;
}

#[tokio::test]
async fn requests_the_specification_refuses_are_400() {
    let emu = start(frozen_live()).await;
    let api = Api::new(&emu);
    for body in [
        json!({"type": "tweets", "resumable": true}),
        json!({"type": "tweets", "resumable": null}),
        json!({"type": "tweets", "name": null}),
        json!({"type": "tweets", "color": "red"}),
        json!({"type": "tweets", "resumable": "yes"}),
    ] {
        let r = api.create(body.clone()).await;
        let p = problem(r, 400, "invalid-request", None).await;
        assert!(p["errors"].is_array(), "{body}: {p}");
    }
    assert!(
        api.create_ok(json!({"type": "tweets", "resumable": false}))
            .await["id"]
            .is_string()
    );
    let job = api.create_ok(json!({"type": "users", "name": "n"})).await;
    let id = s(&job["id"]);
    let bad = "compliance_job.fields=id,nope";
    let r = api.get(&format!("{id}?{bad}")).await;
    problem(r, 400, "invalid-request", None).await;
    let r = api
        .http
        .post(api.url(&format!("/2/compliance/jobs?{bad}")))
        .bearer_auth(emu.token())
        .json(&json!({"type": "users"}))
        .send()
        .await
        .unwrap();
    problem(r, 400, "invalid-request", None).await;
    let r = api
        .http
        .delete(api.url(&format!("/2/compliance/jobs/{id}?{bad}")))
        .bearer_auth(emu.token())
        .send()
        .await
        .unwrap();
    problem(r, 400, "invalid-request", None).await;
    for url in [s(&job["upload_url"]), s(&job["download_url"])] {
        let url = format!("{url}&{bad}");
        let r = if url.contains("/upload?") {
            api.put_bytes(&url, Some(emu.token()), b"1\n".to_vec())
                .await
        } else {
            api.get_bytes(&url, Some(emu.token())).await
        };
        problem(r, 400, "invalid-request", None).await;
    }
    let r = api
        .get(&format!("{id}?compliance_job.fields=id,status"))
        .await;
    assert_eq!(r.status(), 200);
    // A second active job of a type: 409.
    let r = api.create(json!({"type": "users"})).await;
    problem(r, 409, "resource-unavailable", None).await;
    // A download before completion: 404 naming the status.
    let r = api
        .get_bytes(&s(&job["download_url"]), Some(emu.token()))
        .await;
    let p = problem(r, 404, "resource-not-found", None).await;
    assert!(p["detail"].as_str().unwrap().contains("created"), "{p}");
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow() {
    let emu = start(frozen_live()).await;
    let api = Api::new(&emu);
    let job = api.create_ok(json!({"type": "tweets"})).await;
    for (method, url, allow) in [
        (reqwest::Method::POST, s(&job["upload_url"]), "PUT"),
        (reqwest::Method::PUT, s(&job["download_url"]), "GET,HEAD"),
        (
            reqwest::Method::PUT,
            api.url("/2/compliance/jobs"),
            "GET,HEAD,POST",
        ),
    ] {
        let r = api
            .http
            .request(method, &url)
            .bearer_auth(emu.token())
            .send()
            .await
            .unwrap();
        let got = r
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(got.as_deref(), Some(allow), "{url}");
        problem(r, 405, "invalid-request", None).await;
    }
}

#[tokio::test]
async fn the_gcs_flow_has_no_byte_paths() {
    let emu = start(frozen()).await;
    let api = Api::new(&emu);
    let job = api.create_ok(json!({"type": "tweets"})).await;
    assert!(s(&job["upload_url"]).contains("X-Goog-Signature="));
    let id = s(&job["id"]);
    let r = api
        .put_bytes(
            &api.url(&format!("/2/compliance/jobs/{id}/upload?token=x")),
            Some(emu.token()),
            b"1\n".to_vec(),
        )
        .await;
    assert_eq!(r.status(), 404);
}
