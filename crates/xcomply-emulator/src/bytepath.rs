//! The live flow's byte paths: `PUT /2/compliance/jobs/{id}/upload?token=…` and
//! `GET /2/compliance/jobs/{id}/download?token=…`.
//!
//! Both need the Bearer token of the app that created the job **and** the URL's token, which
//! binds the job, the operation and an expiry (see [`crate::signing::Signer::byte_path_url`]).
//! Checks run in a fixed order, each with its own answer: injected faults, the Bearer token (401),
//! the job ID (400), `compliance_job.fields` (400), the URL's token (401 when it is not a token
//! of this job, 403 when it expired or is for the other operation; both name the `token`
//! parameter so a client can tell them from a refused Bearer token), the job's owner (401), and
//! then the operation: an upload larger than [`crate::Config::max_upload_bytes`] is 413, a body
//! type other than `application/octet-stream` or `text/plain` is 415, a stored upload answers
//! 200 with the job; a download serves the results as `application/octet-stream` once the job
//! is `complete` (404 before), with gzip and `Range` as the GCS flow did.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use xcomply_core::JobResponse;

use crate::api::{
    bad_job_id, check_fields, generic, invalid_request_plain, job_id_of, job_json, job_not_found,
};
use crate::config::{Flow, RouteClass};
use crate::problem::{self, Live};
use crate::server::ConnKill;
use crate::signing::{ByteOp, TokenCheck, parse_query};
use crate::state::{FaultPlan, Shared};
use crate::storage::{BodyEnd, Dialect, content_length, create_file, serve_delivery, stream_body};

/// Upload media types the byte path accepts: the specification's, and the plain text the guide
/// describes (the live server's list is not documented).
const ACCEPTED_TYPES: [&str; 2] = ["application/octet-stream", "text/plain"];

/// What the common checks found.
struct Admitted {
    job_id: u64,
    plan: FaultPlan,
}

/// The checks both byte paths share, in order; `Err` is the answer.
// Handlers return a ready HTTP answer on the error path; boxing it would only add an allocation.
#[allow(clippy::result_large_err)]
async fn admit(
    s: &Arc<Shared>,
    op: ByteOp,
    id: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Admitted, Response> {
    let (class, route) = match op {
        ByteOp::Upload => (RouteClass::Upload, "PUT upload"),
        ByteOp::Download => (RouteClass::Download, "GET download"),
    };
    s.count_request(route);
    if s.config.flow != Flow::BytePath {
        // The GCS flow has no byte paths: a client that builds them by hand gets a plain 404.
        return Err(generic(Flow::Gcs, 404));
    }
    let plan = s.plan_faults(class);
    if let Some(latency) = plan.latency {
        tokio::time::sleep(latency).await;
    }
    if let Some(status) = plan.status {
        return Err(generic(Flow::BytePath, status));
    }
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(app) = s.app_of(authorization) else {
        return Err(problem::live(
            401,
            Live {
                title: "Unauthorized",
                detail: "A valid Bearer token of the app that created the job is required."
                    .to_owned(),
                ..Live::default()
            },
        ));
    };
    let Some(job_id) = job_id_of(id) else {
        return Err(invalid_request_plain("id", id, bad_job_id(id)));
    };
    let fields = check_fields(query);
    if let Some(first) = fields.into_iter().next() {
        return Err(invalid_request_plain(
            "compliance_job.fields",
            "",
            first.message.unwrap_or_default(),
        ));
    }
    let params = parse_query(query.unwrap_or_default()).unwrap_or_default();
    let token = params
        .iter()
        .find(|(k, _)| k == "token")
        .map_or("", |(_, v)| v.as_str());
    let now_secs = s.now_ms().div_euclid(1000);
    let refused = |status: u16, detail: String| {
        problem::live(
            status,
            Live {
                title: problem::title(status),
                detail,
                parameter: Some("token"),
                resource_id: Some(job_id.to_string()),
                ..Live::default()
            },
        )
    };
    match s.signer.check_token(token, job_id, op, now_secs) {
        TokenCheck::Valid if plan.token_refused => {
            crate::state::Shared::count_fault(&mut s.lock(), "token");
            return Err(refused(
                403,
                format!("The `token` of job {job_id} has expired: create a new job."),
            ));
        }
        TokenCheck::Valid => {}
        TokenCheck::Unusable => {
            return Err(refused(
                401,
                format!(
                    "The `token` is not a valid {} token for job {job_id}.",
                    op.path()
                ),
            ));
        }
        TokenCheck::WrongOperation(other) => {
            return Err(refused(
                403,
                format!(
                    "The `token` is for the {} of job {job_id}, not its {}.",
                    other.path(),
                    op.path()
                ),
            ));
        }
        TokenCheck::Expired(at) => {
            return Err(refused(
                403,
                format!(
                    "The `token` expired at {}: create a new job.",
                    xcomply_core::format_timestamp_ms(at * 1000)
                ),
            ));
        }
    }
    let owner = s.lock().jobs.get(&job_id).map(|j| j.app);
    match owner {
        None => Err(job_not_found(Flow::BytePath, job_id)),
        Some(owner) if owner != app => Err(problem::live(
            401,
            Live {
                title: "Unauthorized",
                detail: format!("The Bearer token is not of the app that created job {job_id}."),
                resource_id: Some(job_id.to_string()),
                ..Live::default()
            },
        )),
        Some(_) => Ok(Admitted { job_id, plan }),
    }
}

/// `PUT /2/compliance/jobs/{id}/upload?token=…`: the whole ID file in one request.
pub(crate) async fn upload(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    req: Request,
) -> Response {
    let started = s.now_ms();
    let Admitted { job_id, plan } =
        match admit(&s, ByteOp::Upload, &id, query.as_deref(), req.headers()).await {
            Ok(a) => a,
            Err(r) => return r,
        };
    let media = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    if let Some(media) = media.filter(|m| !ACCEPTED_TYPES.contains(&m.as_str())) {
        return problem::live_simple(
            415,
            format!(
                "The upload's Content-Type [{media}] is not one of [{}].",
                ACCEPTED_TYPES.join(",")
            ),
        );
    }
    let cap = s.config.max_upload_bytes;
    let declared = content_length(req.headers());
    let too_large = |n: u64, cap: u64| {
        problem::live(
            413,
            Live {
                title: "Payload Too Large",
                detail: format!(
                    "The upload is {n} bytes; an upload may hold at most {cap} bytes. Split the \
                     IDs across several jobs."
                ),
                resource_id: Some(job_id.to_string()),
                ..Live::default()
            },
        )
    };
    if let (Some(n), Some(cap)) = (declared, cap)
        && n > cap
    {
        // Read and drop the body before answering, so that a client still sending it sees the
        // 413 rather than a connection closed under its feet.
        let mut stream = req.into_body().into_data_stream();
        while let Some(Ok(_)) = futures::StreamExt::next(&mut stream).await {}
        return too_large(n, cap);
    }
    let kill = req.extensions().get::<ConnKill>().cloned();
    let dir = s.job_dir(job_id);
    let temp = {
        let mut inner = s.lock();
        inner.seq += 1;
        inner.stats.uploads.entry(job_id).or_default().attempts += 1;
        dir.join(format!("upload-{}.part", inner.seq))
    };
    let file = match create_file(&dir, &temp).await {
        Ok(f) => f,
        Err(e) => return problem_io(&e),
    };
    let reset_after = plan
        .reset_at
        .zip(declared)
        .map(|(f, len)| (len as f64 * f) as u64);
    let (received, _, end) = stream_body(req.into_body(), file, 0, reset_after).await;
    s.lock().stats.uploads.entry(job_id).or_default().bytes += received;
    let complete = match end {
        BodyEnd::Complete => declared.is_none_or(|n| n == received),
        BodyEnd::Reset => {
            let _ = tokio::fs::remove_file(&temp).await;
            return crate::storage::reset(&s, kill).await;
        }
        BodyEnd::Io(e) => {
            let _ = tokio::fs::remove_file(&temp).await;
            return problem_io(&e);
        }
        BodyEnd::Disconnected => false,
    };
    if !complete {
        let _ = tokio::fs::remove_file(&temp).await;
        return problem::live_simple(
            400,
            "The request body ended before Content-Length bytes.".to_owned(),
        );
    }
    if let Some(cap) = cap.filter(|&cap| received > cap) {
        // A chunked body has no declared length: it is measured as it arrives.
        let _ = tokio::fs::remove_file(&temp).await;
        return too_large(received, cap);
    }
    s.lock().stats.uploads.entry(job_id).or_default().completed += 1;
    // As in the GCS flow, an upload to a job that is no longer `created` is stored and ignored;
    // the answer shows the job as it is.
    crate::process::upload_finished(&s, job_id, &temp, started);
    let now = s.now_ms();
    let job = s.lock().jobs.get(&job_id).map(|j| j.to_api(now));
    job_json(
        &JobResponse {
            data: job,
            errors: None,
        },
        false,
        Flow::BytePath,
    )
}

/// `GET /2/compliance/jobs/{id}/download?token=…`: the results of a complete job.
pub(crate) async fn download(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Admitted { job_id, plan } =
        match admit(&s, ByteOp::Download, &id, query.as_deref(), &headers).await {
            Ok(a) => a,
            Err(r) => return r,
        };
    let now = s.now_ms();
    let status = s.lock().jobs.get(&job_id).map(|j| j.status(now).0);
    match status {
        Some(xcomply_core::JobStatus::Complete) => {
            serve_delivery(&s, job_id, &headers, plan, Dialect::BytePath).await
        }
        Some(status) => problem::live(
            404,
            Live {
                title: "Not Found Error",
                detail: format!(
                    "The results of compliance job [{job_id}] are not available: its status is \
                     {status}."
                ),
                resource_id: Some(job_id.to_string()),
                ..Live::default()
            },
        ),
        None => job_not_found(Flow::BytePath, job_id),
    }
}

fn problem_io(e: &std::io::Error) -> Response {
    tracing::warn!("emulator storage error: {e}");
    problem::live_simple(500, "Internal error while storing the upload.")
}
