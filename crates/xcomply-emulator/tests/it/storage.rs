//! Signed URLs, resumable uploads and downloads.

use std::io::Read as _;

use serde_json::{Value, json};
use xcomply_core::JobType;
use xcomply_emulator::{CHUNK_ALIGN, FaultRates, Faults};

use crate::util::{Api, expected, frozen, lines, post_ids, s, start};

const XML: &str = "<?xml version='1.0' encoding='UTF-8'?>";

/// Replaces the value of one query parameter.
fn with_param(url: &str, name: &str, value: &str) -> String {
    let (base, query) = url.split_once('?').unwrap();
    let query: Vec<String> = query
        .split('&')
        .map(|p| {
            if p.starts_with(&format!("{name}=")) {
                format!("{name}={value}")
            } else {
                p.to_owned()
            }
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

#[tokio::test]
async fn signature_mismatches_are_403_with_the_canonical_request() {
    let emu = start(frozen()).await;
    let api = Api::new(&emu);
    let job = api.create_ok(json!({"type": "tweets"})).await;
    let url = s(&job["upload_url"]);
    let port = emu.addr().port();

    // Wrong Content-Type, missing Content-Type, wrong verb, edited query, wrong host.
    let attempts = [
        api.http
            .put(&url)
            .header("content-type", "text/plain; charset=utf-8")
            .body("1\n"),
        api.http.put(&url).body("1\n"),
        api.http
            .post(&url)
            .header("content-type", "text/plain")
            .body("1\n"),
        api.http
            .put(with_param(&url, "X-Goog-Expires", "901"))
            .header("content-type", "text/plain")
            .body("1\n"),
        api.http
            .put(url.replace("127.0.0.1", "localhost"))
            .header("content-type", "text/plain")
            .body("1\n"),
        api.http
            .put(with_param(&url, "X-Goog-Signature", &"0".repeat(512)))
            .header("content-type", "text/plain")
            .body("1\n"),
    ];
    for (i, req) in attempts.into_iter().enumerate() {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 403, "attempt {i}");
        assert_eq!(
            r.headers()["content-type"],
            "application/xml; charset=UTF-8"
        );
        let body = r.text().await.unwrap();
        assert!(
            body.starts_with(&format!("{XML}<Error><Code>SignatureDoesNotMatch</Code><Message>Access denied.</Message><Details>The request signature we calculated does not match the signature you provided. Check your Google secret key and signing method.</Details><StringToSign>GOOG4-RSA-SHA256\n20211007T074118Z\n20211007/auto/storage/goog4_request\n")),
            "attempt {i}: {body}"
        );
        assert!(body.contains("<CanonicalRequest>"), "{body}");
        assert!(
            body.ends_with("UNSIGNED-PAYLOAD</CanonicalRequest></Error>"),
            "{body}"
        );
    }
    // The canonical request shows what was received, in V4 order.
    let r = api.http.put(&url).body("1\n").send().await.unwrap();
    let body = r.text().await.unwrap();
    let id = s(&job["id"]);
    assert!(
        body.contains(&format!(
            "<CanonicalRequest>PUT\n/twttr-tweet-compliance/{id}/submission/"
        )),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "\ncontent-type:\nhost:127.0.0.1:{port}\n\ncontent-type;host\nUNSIGNED-PAYLOAD"
        )),
        "{body}"
    );
    // Nothing was stored by any of them.
    assert_eq!(emu.uploads_for(id.parse().unwrap()).attempts, 0);
    assert_eq!(api.job(&id).await["status"], "created");

    // A URL without its parameters is anonymous; one with a missing parameter is malformed.
    let bare = url.split_once('?').unwrap().0;
    let r = api.put_text(bare, "1\n").await;
    assert_eq!(r.status(), 403);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("<Code>AccessDenied</Code>")
    );
    let r = api
        .put_text(&url.replace("&X-Goog-Date=", "&X-Goog-Dat="), "1\n")
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains(
        "<Code>MalformedSecurityHeader</Code><Message>Your request has a malformed header.</Message><ParameterName>X-Goog-Date</ParameterName>"
    ));
}

#[tokio::test]
async fn simple_put_needs_a_length() {
    let emu = start(frozen()).await;
    let api = Api::new(&emu);
    let job = api.create_ok(json!({"type": "tweets"})).await;
    let stream = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from("1\n"))]);
    let r = api
        .http
        .put(s(&job["upload_url"]))
        .header("content-type", "text/plain")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 411);
    assert_eq!(
        r.text().await.unwrap(),
        format!(
            "{XML}<Error><Code>MissingContentLength</Code><Message>You must provide the Content-Length HTTP header.</Message></Error>"
        )
    );
}

#[tokio::test]
async fn missing_object_is_no_such_key() {
    let emu = start(frozen()).await;
    let api = Api::new(&emu);
    let job = api.create_ok(json!({"type": "tweets"})).await;
    let url = s(&job["download_url"]);
    let r = api.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let object = url
        .split_once('?')
        .unwrap()
        .0
        .trim_start_matches(emu.base_url())
        .trim_start_matches('/')
        .to_owned();
    assert_eq!(
        r.text().await.unwrap(),
        format!(
            "{XML}<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Details>No such object: {object}</Details></Error>"
        )
    );
}

async fn start_session(api: &Api<'_>, url: &str) -> String {
    let r = api
        .http
        .post(url)
        .header("content-type", "text/plain")
        .header("content-length", "0")
        .header("x-goog-resumable", "start")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(url), "{location}");
    assert!(location.contains("&upload_id="), "{location}");
    assert!(r.headers().contains_key("x-guploader-uploadid"));
    location
}

async fn status(api: &Api<'_>, session: &str, total: &str) -> (u16, Option<String>) {
    let r = api
        .http
        .put(session)
        .header("content-range", format!("bytes */{total}"))
        .send()
        .await
        .unwrap();
    let range = r
        .headers()
        .get("range")
        .map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), range)
}

async fn put_chunk(
    api: &Api<'_>,
    session: &str,
    data: &[u8],
    first: usize,
    total: Option<usize>,
) -> reqwest::Result<reqwest::Response> {
    let last = first + data.len() - 1;
    let total = total.map_or("*".to_owned(), |t| t.to_string());
    api.http
        .put(session)
        .header("content-range", format!("bytes {first}-{last}/{total}"))
        .body(data.to_vec())
        .send()
        .await
}

#[tokio::test]
async fn resumable_upload_in_chunks() {
    let emu = start(frozen()).await;
    let api = Api::new(&emu);
    let job = api
        .create_ok(json!({"type": "tweets", "resumable": true}))
        .await;
    assert_eq!(job["resumable"], true);
    let url = s(&job["upload_url"]);
    assert!(
        url.contains(
            "X-Goog-SignedHeaders=content-length%3Bcontent-type%3Bhost%3Bx-goog-resumable&"
        )
    );
    // A simple PUT to a resumable URL does not match the signature.
    assert_eq!(api.put_text(&url, "1\n").await.status(), 403);
    // Neither does a start without the resumable header.
    let r = api
        .http
        .post(&url)
        .header("content-type", "text/plain")
        .header("content-length", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    let session = start_session(&api, &url).await;
    let ids = post_ids(60_000);
    let data = lines(&ids).into_bytes();
    let chunk = CHUNK_ALIGN as usize;
    assert!(data.len() > 3 * chunk);

    assert_eq!(status(&api, &session, "*").await, (308, None));
    // A non-final chunk below 256 KiB is refused.
    let r = put_chunk(&api, &session, &data[..1000], 0, None)
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("equal or greater than 262144")
    );
    // Two aligned chunks.
    let r = put_chunk(&api, &session, &data[..chunk], 0, None)
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["range"], format!("bytes=0-{}", chunk - 1));
    // An unaligned non-final chunk keeps whole blocks only.
    let r = put_chunk(&api, &session, &data[chunk..2 * chunk + 1000], chunk, None)
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["range"], format!("bytes=0-{}", 2 * chunk - 1));
    let total = data.len().to_string();
    assert_eq!(
        status(&api, &session, &total).await,
        (308, Some(format!("bytes=0-{}", 2 * chunk - 1)))
    );
    // A chunk beyond the persisted size is refused.
    let r = put_chunk(
        &api,
        &session,
        &data[3 * chunk..],
        3 * chunk,
        Some(data.len()),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    // Re-sending bytes already stored is harmless; the final chunk completes.
    let r = put_chunk(&api, &session, &data[chunk..], chunk, Some(data.len()))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(status(&api, &session, &total).await.0, 200);
    let done = api.wait_done(&s(&job["id"])).await;
    assert_eq!(done["status"], "complete");
    let body = api
        .http
        .get(s(&job["download_url"]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, expected(42, &JobType::Tweets, &ids));
    let stats = emu.uploads_for(s(&job["id"]).parse().unwrap());
    assert_eq!((stats.sessions, stats.completed), (1, 1));
}

/// An upload whose chunks were all sent with an unknown total (`*`) is finished by the empty
/// request `bytes */N` once storage holds N bytes, and a 0-byte object by `bytes */0`; any
/// other `bytes */N` stays a status query.
#[tokio::test]
async fn an_empty_final_request_finishes_a_complete_upload() {
    let emu = start(frozen()).await;
    let api = Api::new(&emu);
    let ids = post_ids(100_000);
    let mut data = lines(&ids).into_bytes();
    let chunk = CHUNK_ALIGN as usize;
    data.truncate(chunk);
    // The truncated file must still be whole lines, so end it at the last newline and pad with
    // one more ID line of the right length.
    let cut = data.iter().rposition(|&b| b == b'\n').unwrap() + 1;
    data.truncate(cut);
    let pad = chunk - data.len();
    data.extend(std::iter::repeat_n(b'1', pad - 1));
    data.push(b'\n');
    assert_eq!(data.len(), chunk);

    let job = api
        .create_ok(json!({"type": "tweets", "resumable": true}))
        .await;
    let session = start_session(&api, &s(&job["upload_url"])).await;
    let r = put_chunk(&api, &session, &data, 0, None).await.unwrap();
    assert_eq!(r.status(), 308);
    // A query with a different total does not finish anything.
    assert_eq!(
        status(&api, &session, &(chunk + 1).to_string()).await,
        (308, Some(format!("bytes=0-{}", chunk - 1)))
    );
    assert_eq!(status(&api, &session, &chunk.to_string()).await.0, 200);
    assert_eq!(api.wait_done(&s(&job["id"])).await["status"], "complete");
    let stats = emu.uploads_for(s(&job["id"]).parse().unwrap());
    assert_eq!(stats.completed, 1);

    // A 0-byte object.
    let job = api
        .create_ok(json!({"type": "users", "resumable": true}))
        .await;
    let session = start_session(&api, &s(&job["upload_url"])).await;
    assert_eq!(status(&api, &session, "*").await, (308, None));
    assert_eq!(status(&api, &session, "0").await.0, 200);
    let stats = emu.uploads_for(s(&job["id"]).parse().unwrap());
    assert_eq!(stats.completed, 1);
}

#[tokio::test]
async fn resumable_upload_survives_resets_at_several_offsets() {
    let emu = start(frozen().with_seed(9)).await;
    let api = Api::new(&emu);
    let ids = post_ids(200_000);
    let data = lines(&ids).into_bytes();
    let always_reset = Faults {
        upload: FaultRates {
            reset: 1.0,
            ..FaultRates::default()
        },
        ..Faults::default()
    };
    let mut offsets = Vec::new();
    let job = api
        .create_ok(json!({"type": "tweets", "resumable": true}))
        .await;
    let session = start_session(&api, &s(&job["upload_url"])).await;
    let total = data.len();
    let mut persisted = 0usize;
    // Every PUT of the remainder is cut somewhere in the middle until three resets happened.
    for round in 0.. {
        emu.set_faults(if round < 3 {
            always_reset.clone()
        } else {
            Faults::default()
        });
        let result = put_chunk(&api, &session, &data[persisted..], persisted, Some(total)).await;
        if round < 3 {
            assert!(result.is_err(), "round {round}: {result:?}");
            emu.set_faults(Faults::default());
            let (code, range) = status(&api, &session, &total.to_string()).await;
            assert_eq!(code, 308);
            let now = range.map_or(0, |r| {
                r.trim_start_matches("bytes=0-").parse::<usize>().unwrap() + 1
            });
            assert_eq!(now % CHUNK_ALIGN as usize, 0, "whole blocks only");
            assert!(now >= persisted);
            offsets.push(now);
            persisted = now;
        } else {
            assert_eq!(result.unwrap().status(), 200);
            break;
        }
    }
    assert!(offsets.windows(2).any(|w| w[0] != w[1]), "{offsets:?}");
    assert_eq!(api.wait_done(&s(&job["id"])).await["status"], "complete");
    let body = api
        .http
        .get(s(&job["download_url"]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, expected(9, &JobType::Tweets, &ids));
    let stats = emu.uploads_for(s(&job["id"]).parse().unwrap());
    assert_eq!((stats.attempts, stats.completed), (4, 1));
    assert_eq!(emu.stats().faults["reset"], 3);
}

async fn completed_job(api: &Api<'_>, ids: &[u64]) -> Value {
    let job = api.create_ok(json!({"type": "tweets"})).await;
    assert_eq!(
        api.put_text(&s(&job["upload_url"]), lines(ids))
            .await
            .status(),
        200
    );
    assert_eq!(api.wait_done(&s(&job["id"])).await["status"], "complete");
    job
}

#[tokio::test]
async fn downloads_honour_gzip_and_range() {
    let emu = start(frozen()).await;
    let api = Api::new(&emu);
    let ids = post_ids(30_000);
    let job = completed_job(&api, &ids).await;
    let url = s(&job["download_url"]);
    let want = expected(42, &JobType::Tweets, &ids);

    let r = api
        .http
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let gz = r.bytes().await.unwrap();
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut plain)
        .unwrap();
    assert_eq!(plain, want);

    // Ranges over the compressed bytes are stable, so an interrupted download can resume.
    let r = api
        .http
        .get(&url)
        .header("accept-encoding", "gzip")
        .header("range", "bytes=100-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 100-{}/{}", gz.len() - 1, gz.len())
    );
    assert_eq!(r.bytes().await.unwrap(), gz[100..]);

    let r = api
        .http
        .get(&url)
        .header("range", "bytes=10-99")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-length"], "90");
    assert!(!r.headers().contains_key("content-encoding"));
    assert_eq!(r.text().await.unwrap(), want[10..100]);

    let r = api
        .http
        .get(&url)
        .header("range", format!("bytes={}-", want.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes */{}", want.len())
    );
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("<Code>InvalidRange</Code>")
    );
}
