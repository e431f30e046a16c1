//! The curl steps of X's batch compliance quick start, pointed at the emulator, work as written
//! there (with the documented host replaced by the emulator's and the token quoted so that the
//! shell expands it).

use serde_json::Value;
use xcomply_core::JobType;

use crate::util::{expected, frozen, lines, start};

/// Runs one shell command with the quick start's variables set; returns stdout.
async fn sh(script: &str, vars: &[(&str, &str)]) -> String {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c").arg(script);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .await
        .expect("expected `sh` and `curl` on PATH (curl is part of the CI image)");
    assert!(
        out.status.success(),
        "`{script}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn quick_start_curl_steps() {
    let emu = start(frozen()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ids.txt");
    // The quick start's four example IDs, then enough snowflakes that some need action.
    let mut ids = vec![
        1_417_856_744_319_971_329,
        1_415_457_498_803_232_770,
        1_415_348_607_813_832_708,
        1_413_515_358_766_452_738,
    ];
    ids.extend(crate::util::post_ids(3_000));
    std::fs::write(&file, lines(&ids)).unwrap();
    let base = emu.base_url().to_owned();
    let token = emu.token().to_owned();

    // Step one: create a compliance job.
    let created = sh(
        r#"curl --silent --request POST "$BASE/2/compliance/jobs" \
--header "Authorization: Bearer $APP_ACCESS_TOKEN" \
--header 'Content-Type: application/json' \
--data-raw '{"type": "tweets"}'"#,
        &[("BASE", &base), ("APP_ACCESS_TOKEN", &token)],
    )
    .await;
    let job: Value = serde_json::from_str(&created).unwrap();
    let job = &job["data"];
    let (id, upload_url, download_url) = (
        job["id"].as_str().unwrap(),
        job["upload_url"].as_str().unwrap(),
        job["download_url"].as_str().unwrap(),
    );

    // Step two: upload the file with a PUT; 200 means success.
    let code = sh(
        r#"curl --silent --output /dev/null --write-out '%{http_code}' -X PUT  \
 -H "Content-Type: text/plain" \
 --data-binary @$FILE_LOCATION \
"$UPLOAD_URL""#,
        &[
            ("FILE_LOCATION", file.to_str().unwrap()),
            ("UPLOAD_URL", upload_url),
        ],
    )
    .await;
    assert_eq!(code, "200");

    // Step three: check the job status until it is complete.
    let mut status = String::new();
    for _ in 0..200 {
        let got = sh(
            r#"curl --silent --request GET "$BASE/2/compliance/jobs/$ID" \
--header "Authorization: Bearer $APP_ACCESS_TOKEN""#,
            &[("BASE", &base), ("ID", id), ("APP_ACCESS_TOKEN", &token)],
        )
        .await;
        let v: Value = serde_json::from_str(&got).unwrap();
        status = v["data"]["status"].as_str().unwrap().to_owned();
        if status == "complete" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, "complete");

    // Step four: download the results.
    let results = sh(
        r#"curl --silent --request GET \
"$DOWNLOAD_URL""#,
        &[("DOWNLOAD_URL", download_url)],
    )
    .await;
    assert_eq!(results, expected(42, &JobType::Tweets, &ids));
    assert!(!results.is_empty());
}
