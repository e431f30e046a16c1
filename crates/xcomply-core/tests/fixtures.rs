//! Every recorded API response in `fixtures/api/` decodes into the wire types and round-trips.

use std::path::PathBuf;

use xcomply_core::{
    ComplianceJob, ComplianceRecord, JobListResponse, JobResponse, JobStatus, JobType, Problem,
    ProblemKind, Reason,
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
        assert!(records.iter().all(|r| r.reason.is_known()));
    }
    let unknown: ComplianceRecord = serde_json::from_str(
        r#"{"id":"1","action":"erase","created_at":"2019-10-29T17:02:47.000Z","reason":"quarantined"}"#,
    )
    .unwrap();
    assert_eq!(unknown.reason, Reason::Other("quarantined".into()));
    assert!(!unknown.action.is_known());
}
