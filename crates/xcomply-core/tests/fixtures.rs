//! Every recorded API response in `fixtures/api/` decodes into the wire types and round-trips.

use std::path::PathBuf;

use xcomply_core::{
    Action, ComplianceJob, ComplianceRecord, JobListResponse, JobResponse, JobStatus, JobType,
    Problem, ProblemKind, Reason,
};

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Decodes, encodes and decodes again: the second decode must equal the first.
fn round_trip<T>(name: &str) -> T
where
    T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
{
    let first: T = serde_json::from_str(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let again: T = serde_json::from_str(&serde_json::to_string(&first).unwrap()).unwrap();
    assert_eq!(first, again, "{name}");
    first
}

#[test]
fn create_response() {
    let r: JobResponse = round_trip("api/create-job.json");
    let job = r.data.unwrap();
    assert_eq!(job.id.0, 1_446_017_776_678_801_409);
    assert_eq!(job.job_type, JobType::Tweets);
    assert_eq!(job.status, JobStatus::Created);
    assert_eq!(job.resumable, Some(false));
    assert_eq!(job.name, None);
    assert_eq!(
        job.upload_expires_at.millis() - job.created_at.millis(),
        15 * 60 * 1000
    );
    assert_eq!(
        job.download_expires_at.millis() - job.created_at.millis(),
        7 * 86_400 * 1000
    );
    assert_eq!(job.upload_url.query_param("X-Goog-Expires"), Some("900"));
    assert!(
        !format!("{job:?}").contains(&"0".repeat(512)),
        "signature leaked into Debug"
    );
}

#[test]
fn resumable_job() {
    let job: ComplianceJob = round_trip("api/job-resumable-expired.json");
    assert_eq!(job.resumable, Some(true));
    assert_eq!(job.status, JobStatus::Expired);
    assert_eq!(job.name.as_deref(), Some("test-202110240626"));
}

#[test]
fn lists() {
    let with_meta: JobListResponse = round_trip("api/list-jobs-with-meta.json");
    assert_eq!(with_meta.jobs().len(), 1);
    assert_eq!(with_meta.meta.unwrap().result_count, Some(1));
    let without: JobListResponse = round_trip("api/list-jobs-without-meta.json");
    assert_eq!(without.jobs().len(), 2);
    assert_eq!(without.meta, None);
    for empty in [
        "api/list-jobs-empty.json",
        "api/list-jobs-empty-no-meta.json",
    ] {
        let r: JobListResponse = round_trip(empty);
        assert!(r.jobs().is_empty());
    }
}

#[test]
fn problems() {
    let cases = [
        ("api/error-401.json", ProblemKind::Generic, Some(401)),
        (
            "api/error-429-rate-limit.json",
            ProblemKind::Generic,
            Some(429),
        ),
        (
            "api/error-429-usage-capped.json",
            ProblemKind::UsageCapped,
            None,
        ),
        (
            "api/error-400-invalid-request.json",
            ProblemKind::InvalidRequest,
            None,
        ),
        (
            "api/error-403-unsupported-authentication.json",
            ProblemKind::UnsupportedAuthentication,
            Some(403),
        ),
    ];
    for (name, kind, status) in cases {
        let p: Problem = round_trip(name);
        assert_eq!((p.kind(), p.status), (kind, status), "{name}");
    }
    let invalid: Problem = round_trip("api/error-400-invalid-request.json");
    assert_eq!(
        invalid.to_string(),
        "Invalid Request: One or more parameters to your request was invalid.; The `type` query \
         parameter value [foo] is not one of [tweets,users]"
    );
    let errors = invalid.errors.unwrap();
    assert_eq!(
        errors[0].parameters.as_ref().unwrap()["type"],
        vec!["foo".to_owned()]
    );
    let capped: Problem = round_trip("api/error-429-usage-capped.json");
    assert_eq!(capped.period.as_deref(), Some("Monthly"));
}

#[test]
fn x_com_problem_host_is_recognised() {
    let p: Problem = serde_json::from_str(
        r#"{"type":"https://api.x.com/2/problems/conflict","title":"Conflict"}"#,
    )
    .unwrap();
    assert_eq!(p.kind(), ProblemKind::Conflict);
}

#[test]
fn unknown_fields_and_values_are_tolerated() {
    let mut job: serde_json::Value = serde_json::from_str(&fixture("api/create-job.json")).unwrap();
    job["data"]["status"] = "paused".into();
    job["data"]["type"] = "spaces".into();
    job["data"]["estimated_completion"] = "2021-10-07T08:00:00.000Z".into();
    job["surprise"] = serde_json::json!({"nested": [1, 2]});
    let r: JobResponse = serde_json::from_value(job).unwrap();
    let data = r.data.unwrap();
    assert_eq!(data.status, JobStatus::Other("paused".into()));
    assert_eq!(data.job_type, JobType::Other("spaces".into()));
    assert_eq!(serde_json::to_value(&data).unwrap()["status"], "paused");
}

#[test]
fn documented_result_records_decode() {
    for (name, count) in [
        ("results/docs-tweets.jsonl", 4),
        ("results/docs-users.jsonl", 1),
    ] {
        let text = fixture(name);
        let records: Vec<ComplianceRecord> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(records.len(), count);
        assert!(
            records
                .iter()
                .all(|r| r.reason.as_ref().is_some_and(Reason::is_known))
        );
    }
    let unknown: ComplianceRecord = serde_json::from_str(
        r#"{"id":"1","action":"erase","created_at":"2019-10-29T17:02:47.000Z","reason":"quarantined"}"#,
    )
    .unwrap();
    assert_eq!(unknown.reason, Some(Reason::Other("quarantined".into())));
    assert!(!unknown.action.unwrap().is_known());
}

#[test]
fn the_2026_result_shapes_decode() {
    let records: Vec<ComplianceRecord> = fixture("results/x-2026-tweets.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let (errors, events): (Vec<_>, Vec<_>) = records.iter().partition(|r| r.is_error_record());
    assert_eq!((events.len(), errors.len()), (7, 1));
    assert!(events.iter().all(|r| {
        r.action.as_ref().is_some_and(Action::is_known)
            && r.reason.as_ref().is_some_and(Reason::is_known)
            && r.created_at.is_some()
    }));
    // Deletion events carry `deleted_at`, the same instant as `redacted_at`.
    for r in &events {
        if r.action == Some(Action::Delete) {
            assert!(
                r.deleted_at.is_some() && r.deleted_at == r.redacted_at,
                "{r:?}"
            );
        }
    }
    let rehydrate = events
        .iter()
        .find(|r| r.action == Some(Action::Rehydrate))
        .unwrap();
    assert_eq!(rehydrate.reason, Some(Reason::TweetEdited));
    let geo: Vec<_> = events
        .iter()
        .filter(|r| r.action == Some(Action::ScrubGeo))
        .collect();
    assert!(geo.iter().all(|r| r.reason == Some(Reason::GeoScrubbed)));
    assert!(
        geo.iter().any(|r| r.redacted_at.is_none()),
        "`redacted_at: null`"
    );
    let error = errors[0];
    assert_eq!(
        (error.id.as_str(), error.error.as_deref()),
        ("not_a_valid_id", Some("invalid_id"))
    );
    assert_eq!(
        (&error.action, &error.reason, &error.created_at),
        (&None, &None, &None)
    );
    assert_eq!(
        serde_json::to_string(error).unwrap(),
        r#"{"id":"not_a_valid_id","error":"invalid_id"}"#
    );

    let users: Vec<ComplianceRecord> = fixture("results/x-2026-users.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(users.iter().filter(|r| r.is_error_record()).count(), 1);
    assert!(
        users
            .iter()
            .filter(|r| !r.is_error_record())
            .all(|r| r.action == Some(Action::Delete))
    );
}

#[test]
fn the_new_actions_and_reasons_are_known_and_the_legacy_ones_kept() {
    for (text, action) in [
        ("delete", Action::Delete),
        ("rehydrate", Action::Rehydrate),
        ("scrub_geo", Action::ScrubGeo),
    ] {
        assert_eq!(Action::parse(text), action);
        assert_eq!(action.as_str(), text);
    }
    for (text, reason) in [
        ("tweet_edited", Reason::TweetEdited),
        ("geo_scrubbed", Reason::GeoScrubbed),
        ("scrub_geo", Reason::ScrubGeo),
        ("bounced", Reason::Bounced),
    ] {
        assert_eq!(Reason::parse(text), reason);
        assert_eq!(reason.as_str(), text);
    }
    assert_eq!(Action::parse("erase"), Action::Other("erase".into()));
}
