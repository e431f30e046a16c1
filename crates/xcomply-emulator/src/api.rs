//! The API routes: `/2/compliance/jobs` and `/2/compliance/jobs/:id`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use xcomply_core::{
    JobListResponse, JobResponse, JobStatus, JobType, ListMeta, MAX_JOB_NAME_CHARS, Problem,
    ProblemItem, problem_uri, snowflake_from_millis,
};

use crate::config::{Flow, RouteClass};
use crate::problem::{self, Live};
use crate::signing::parse_query;
use crate::state::{
    DOWNLOAD_WINDOW_SECS, Endpoint, Job, Phase, Shared, UPLOAD_WINDOW_SECS, Window,
};

/// The `api-version` header: the `OpenAPI` version whose schemas the emulator follows in each
/// flow.
fn api_version(flow: Flow) -> &'static str {
    match flow {
        Flow::BytePath => "2.168",
        Flow::Gcs => "2.166",
    }
}

/// The fields `compliance_job.fields` may name (spec ≥ 2.159).
const JOB_FIELDS: [&str; 10] = [
    "created_at",
    "download_expires_at",
    "download_url",
    "id",
    "name",
    "resumable",
    "status",
    "type",
    "upload_expires_at",
    "upload_url",
];

/// The rate-limit headers of one answer.
#[derive(Clone, Copy, Debug)]
struct RateInfo {
    limit: u32,
    remaining: u32,
    reset_secs: i64,
}

/// An authenticated, admitted API request.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) app: usize,
    rate: RateInfo,
    gzip: bool,
    flow: Flow,
}

fn wants_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|e| e.trim().starts_with("gzip")))
}

/// A JSON answer with X's headers, gzip-encoded when the client accepts it.
fn json<T: Serialize>(
    status: StatusCode,
    content_type: &str,
    body: &T,
    gzip: bool,
    flow: Flow,
) -> Response {
    let bytes = serde_json::to_vec(body).expect("API bodies always serialize");
    let mut response = if gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&bytes).expect("writing to a Vec cannot fail");
        let mut r = Response::new(Body::from(
            enc.finish().expect("writing to a Vec cannot fail"),
        ));
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        Response::new(Body::from(bytes))
    };
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).expect("static content types are valid"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, max-age=0"),
    );
    h.insert("api-version", HeaderValue::from_static(api_version(flow)));
    h.insert("x-access-level", HeaderValue::from_static("read"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn ok<T: Serialize>(body: &T, ctx: &Ctx) -> Response {
    with_rate(job_json(body, ctx.gzip, ctx.flow), ctx.rate)
}

/// A 200 JSON answer without rate-limit headers (the byte-path upload answers the job this way).
pub(crate) fn job_json<T: Serialize>(body: &T, gzip: bool, flow: Flow) -> Response {
    json(
        StatusCode::OK,
        "application/json; charset=utf-8",
        body,
        gzip,
        flow,
    )
}

fn problem_response(status: u16, p: &Problem) -> Response {
    json(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        "application/problem+json",
        p,
        false,
        Flow::Gcs,
    )
}

fn with_rate(mut r: Response, rate: RateInfo) -> Response {
    let h = r.headers_mut();
    h.insert("x-rate-limit-limit", rate.limit.into());
    h.insert("x-rate-limit-remaining", rate.remaining.into());
    h.insert("x-rate-limit-reset", rate.reset_secs.into());
    r
}

/// `{"title":…,"type":"about:blank","status":…,"detail":…}`, the body of 401, 404, 429, 500 and 503.
pub(crate) fn generic_problem(status: u16, title: &str) -> Problem {
    Problem {
        problem_type: "about:blank".to_owned(),
        title: title.to_owned(),
        detail: Some(title.to_owned()),
        status: Some(status),
        errors: None,
        period: None,
        scope: None,
    }
}

/// A plain HTTP error: `about:blank` in the GCS flow, the status's v2.168 type in the byte-path
/// flow.
pub(crate) fn generic(flow: Flow, status: u16) -> Response {
    let title = match status {
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    };
    match flow {
        Flow::Gcs => problem_response(status, &generic_problem(status, title)),
        Flow::BytePath => problem::live(
            status,
            Live {
                title,
                detail: match status {
                    401 => "A valid Bearer token is required.".to_owned(),
                    _ => title.to_owned(),
                },
                ..Live::default()
            },
        ),
    }
}

/// One `errors[]` entry of an invalid-request problem.
fn item(param: &str, values: &[&str], message: String) -> ProblemItem {
    let mut parameters = BTreeMap::new();
    parameters.insert(
        param.to_owned(),
        values.iter().map(|v| (*v).to_owned()).collect(),
    );
    ProblemItem {
        message: Some(message),
        parameters: Some(parameters),
        ..ProblemItem::default()
    }
}

pub(crate) fn invalid_request(errors: Vec<ProblemItem>, ctx: &Ctx) -> Response {
    if ctx.flow == Flow::BytePath {
        let r = problem::live(
            400,
            Live {
                title: "Invalid Request",
                detail: "One or more parameters to your request was invalid.".to_owned(),
                errors: Some(serde_json::to_value(&errors).expect("problem items serialize")),
                ..Live::default()
            },
        );
        return with_rate(r, ctx.rate);
    }
    let p = Problem {
        problem_type: problem_uri("invalid-request"),
        title: "Invalid Request".to_owned(),
        detail: Some("One or more parameters to your request was invalid.".to_owned()),
        status: None,
        errors: Some(errors),
        period: None,
        scope: None,
    };
    with_rate(problem_response(400, &p), ctx.rate)
}

/// An invalid-request problem of the byte-path flow about one parameter, for routes without rate
/// limits (the byte paths).
pub(crate) fn invalid_request_plain(param: &str, value: &str, message: String) -> Response {
    problem::live(
        400,
        Live {
            title: "Invalid Request",
            detail: "One or more parameters to your request was invalid.".to_owned(),
            errors: Some(
                serde_json::to_value(vec![item(param, &[value], message)])
                    .expect("problem items serialize"),
            ),
            ..Live::default()
        },
    )
}

fn not_one_of(param: &str, value: &str, allowed: &[&str]) -> ProblemItem {
    item(
        param,
        &[value],
        format!(
            "The `{param}` query parameter value [{value}] is not one of [{}]",
            allowed.join(",")
        ),
    )
}

fn empty_param(param: &str) -> ProblemItem {
    item(
        param,
        &[],
        format!("The `{param}` query parameter can not be empty"),
    )
}

/// The values of `compliance_job.fields` that are not field names, as problem items (the byte-path
/// flow checks them on every route that takes the parameter, as the v2.168 specification lists
/// it on all six).
pub(crate) fn check_fields(query: Option<&str>) -> Vec<ProblemItem> {
    let params = parse_query(query.unwrap_or_default()).unwrap_or_default();
    let mut errors = Vec::new();
    for (k, v) in &params {
        if k == "compliance_job.fields" {
            for f in v.split(',') {
                if !JOB_FIELDS.contains(&f) {
                    errors.push(not_one_of("compliance_job.fields", f, &JOB_FIELDS));
                }
            }
        }
    }
    errors
}

/// Authentication, injected faults and the rate limit, in that order. Every answer from here on
/// carries the `x-rate-limit-*` headers.
async fn admit(s: &Shared, endpoint: Endpoint, headers: &HeaderMap) -> Result<Ctx, Response> {
    let flow = s.config.flow;
    s.count_request(endpoint.name());
    let plan = s.plan_faults(RouteClass::Api);
    if let Some(latency) = plan.latency {
        tokio::time::sleep(latency).await;
    }
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(app) = s.app_of(authorization) else {
        return Err(generic(flow, 401));
    };
    let now = s.now_ms();
    let limit = s.config.rate_limit;
    // Saturating: a window set in code may exceed what milliseconds since 1970 can hold.
    let window_ms = i64::try_from(s.config.rate_window.as_millis()).unwrap_or(i64::MAX);
    let mut inner = s.lock();
    let w = inner.windows.entry((app, endpoint)).or_insert(Window {
        start_ms: now,
        used: 0,
    });
    if now >= w.start_ms.saturating_add(window_ms) {
        *w = Window {
            start_ms: now,
            used: 0,
        };
    }
    let reset_secs = w.start_ms.saturating_add(window_ms).div_euclid(1000);
    if let Some(status) = plan.status {
        let used = w.used;
        drop(inner);
        let rate = if status == 429 {
            // An injected burst says "try again in a second", so a client that honours the reset
            // header recovers quickly instead of waiting for the whole window.
            RateInfo {
                limit,
                remaining: 0,
                reset_secs: now.div_euclid(1000) + 1,
            }
        } else {
            RateInfo {
                limit,
                remaining: limit.saturating_sub(used),
                reset_secs,
            }
        };
        return Err(with_rate(generic(flow, status), rate));
    }
    if plan.usage_capped {
        let used = w.used;
        drop(inner);
        let p = Problem {
            problem_type: match flow {
                Flow::Gcs => problem_uri("usage-capped"),
                Flow::BytePath => format!("{}usage-capped", problem::LIVE_PREFIX),
            },
            title: "UsageCapExceeded".to_owned(),
            detail: Some("Usage cap exceeded: Monthly product cap".to_owned()),
            status: None,
            errors: None,
            period: Some("Monthly".to_owned()),
            scope: Some("Product".to_owned()),
        };
        return Err(with_rate(
            problem_response(429, &p),
            RateInfo {
                limit,
                remaining: limit.saturating_sub(used),
                reset_secs,
            },
        ));
    }
    if w.used >= limit {
        return Err(with_rate(
            generic(flow, 429),
            RateInfo {
                limit,
                remaining: 0,
                reset_secs,
            },
        ));
    }
    w.used += 1;
    let rate = RateInfo {
        limit,
        remaining: limit - w.used,
        reset_secs,
    };
    drop(inner);
    Ok(Ctx {
        app,
        rate,
        gzip: wants_gzip(headers),
        flow,
    })
}

/// `POST /2/compliance/jobs`.
pub(crate) async fn create(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let ctx = match admit(&s, Endpoint::Create, &headers).await {
        Ok(ctx) => ctx,
        Err(r) => return r,
    };
    let live = ctx.flow == Flow::BytePath;
    if live {
        let errors = check_fields(query.as_deref());
        if !errors.is_empty() {
            return invalid_request(errors, &ctx);
        }
    }
    let Ok(value @ serde_json::Value::Object(_)) = serde_json::from_slice(&body) else {
        {
            let shown = String::from_utf8_lossy(&body);
            return invalid_request(
                vec![ProblemItem {
                    message: Some(format!(
                        "Request body is not a JSON object: [{}]",
                        shown.chars().take(100).collect::<String>()
                    )),
                    ..ProblemItem::default()
                }],
                &ctx,
            );
        }
    };
    let mut errors = Vec::new();
    if live {
        // The v2.168 request schema has `additionalProperties: false` and no nullable field.
        for (key, v) in value.as_object().expect("checked above") {
            if !["type", "name", "resumable"].contains(&key.as_str()) {
                errors.push(item(
                    key,
                    &[&v.to_string()],
                    format!("The body field [{key}] is not one of [type,name,resumable]"),
                ));
            } else if v.is_null() {
                errors.push(item(
                    key,
                    &["null"],
                    format!("The `{key}` body field can not be null"),
                ));
            }
        }
    }
    let job_type = match value.get("type") {
        None | Some(serde_json::Value::Null) => {
            errors.push(empty_param("type"));
            None
        }
        Some(serde_json::Value::String(t)) if t == "tweets" || t == "users" => {
            Some(JobType::parse(t))
        }
        Some(other) => {
            let shown = other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_owned);
            errors.push(not_one_of("type", &shown, &["tweets", "users"]));
            None
        }
    };
    let name = match value.get("name") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(n)) if n.chars().count() <= MAX_JOB_NAME_CHARS => {
            Some(n.clone())
        }
        Some(other) => {
            let shown = other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_owned);
            errors.push(item(
                "name",
                &[&shown],
                format!(
                    "The `name` query parameter value [{shown}] is not a string of at most \
                     {MAX_JOB_NAME_CHARS} characters"
                ),
            ));
            None
        }
    };
    let resumable = match value.get("resumable") {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Bool(b)) => *b,
        Some(other) => {
            errors.push(not_one_of(
                "resumable",
                &other.to_string(),
                &["true", "false"],
            ));
            false
        }
    };
    if live && resumable {
        errors.push(item(
            "resumable",
            &["true"],
            "Resumable uploads are not supported: upload the file with one PUT to upload_url"
                .to_owned(),
        ));
    }
    let Some(job_type) = job_type.filter(|_| errors.is_empty()) else {
        return invalid_request(errors, &ctx);
    };

    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let base = s
        .config
        .public_base_url
        .clone()
        .unwrap_or_else(|| format!("http://{host}"));
    let now = s.now_ms();
    let mut inner = s.lock();
    let busy = inner
        .jobs
        .values()
        .any(|j| j.app == ctx.app && j.kind == job_type && j.status(now).0.is_unfinished());
    if busy {
        drop(inner);
        if live {
            let r = problem::live(
                s.config.conflict_status,
                Live {
                    title: "Conflict",
                    detail: "You cannot create a new job if one is already in progress.".to_owned(),
                    ..Live::default()
                },
            );
            return with_rate(r, ctx.rate);
        }
        let p = Problem {
            problem_type: problem_uri("conflict"),
            title: "Conflict".to_owned(),
            detail: Some("You cannot create a new job if one is already in progress.".to_owned()),
            status: Some(s.config.conflict_status),
            errors: None,
            period: None,
            scope: None,
        };
        return with_rate(problem_response(s.config.conflict_status, &p), ctx.rate);
    }
    inner.seq += 1;
    let seq = inner.seq;
    let last = inner.jobs.keys().next_back().copied().unwrap_or(0);
    // Low 22 bits: a fixed worker number and a sequence, as X's snowflakes have.
    let candidate = snowflake_from_millis(now, (0x1f << 12) | (seq & 0xfff)).unwrap_or(seq);
    let id = candidate.max(last + 1);
    // Jobs are created on whole seconds: every real timestamp reads `.000Z` and `X-Goog-Date`
    // equals `created_at`.
    let created_ms = now.div_euclid(1000) * 1000;
    let bucket = match job_type {
        JobType::Users => "twttr-user-compliance",
        _ => "twttr-tweet-compliance",
    };
    let account = account_number(s.config.seed, ctx.app);
    let object = format!("{account}_{id}");
    let upload_path = format!("/{bucket}/{id}/submission/{object}");
    let download_path = format!("/{bucket}/{id}/delivery/{object}");
    let upload_url = if live {
        s.signer.byte_path_url(
            &base,
            id,
            crate::signing::ByteOp::Upload,
            created_ms,
            UPLOAD_WINDOW_SECS,
        )
    } else if resumable {
        s.signer.url(
            &base,
            "POST",
            &upload_path,
            created_ms,
            UPLOAD_WINDOW_SECS,
            &[
                ("content-length", "0"),
                ("content-type", "text/plain"),
                ("x-goog-resumable", "start"),
            ],
        )
    } else {
        s.signer.url(
            &base,
            "PUT",
            &upload_path,
            created_ms,
            UPLOAD_WINDOW_SECS,
            &[("content-type", "text/plain")],
        )
    };
    let download_url = if live {
        s.signer.byte_path_url(
            &base,
            id,
            crate::signing::ByteOp::Download,
            created_ms,
            DOWNLOAD_WINDOW_SECS,
        )
    } else {
        s.signer.url(
            &base,
            "GET",
            &download_path,
            created_ms,
            DOWNLOAD_WINDOW_SECS,
            &[],
        )
    };
    let job = Job {
        id,
        app: ctx.app,
        kind: job_type,
        name,
        resumable,
        created_ms,
        upload_url,
        download_url,
        phase: Phase::Created,
        session_began_ms: None,
    };
    let body = JobResponse {
        data: Some(job.to_api(now)),
        errors: None,
    };
    inner.jobs.insert(id, job);
    inner.stats.jobs_created += 1;
    drop(inner);
    ok(&body, &ctx)
}

/// The `{N}` of object names `{N}_{job_id}`: probably X's account number; here a stable
/// 19-digit number per token.
fn account_number(seed: u64, app: usize) -> u64 {
    1_000_000_000_000_000_000
        + xcomply_core::seeded::hash3(seed, 0xACC7, app as u64) % 8_000_000_000_000_000_000
}

/// `GET /2/compliance/jobs?type=…&status=…`.
pub(crate) async fn list(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let ctx = match admit(&s, Endpoint::List, &headers).await {
        Ok(ctx) => ctx,
        Err(r) => return r,
    };
    let Some(params) = parse_query(query.as_deref().unwrap_or_default()) else {
        return invalid_request(
            vec![ProblemItem {
                message: Some("The query string is not valid percent-encoding".to_owned()),
                ..ProblemItem::default()
            }],
            &ctx,
        );
    };
    let mut errors = Vec::new();
    let mut job_type = None;
    let mut status = None;
    for (k, v) in &params {
        match k.as_str() {
            "type" if v == "tweets" || v == "users" => job_type = Some(JobType::parse(v)),
            "type" if v.is_empty() => errors.push(empty_param("type")),
            "type" => errors.push(not_one_of("type", v, &["tweets", "users"])),
            "status" => {
                const ALLOWED: [&str; 4] = ["created", "in_progress", "failed", "complete"];
                if ALLOWED.contains(&v.as_str()) {
                    status = Some(JobStatus::parse(v));
                } else {
                    errors.push(not_one_of("status", v, &ALLOWED));
                }
            }
            "compliance_job.fields" => {
                for f in v.split(',') {
                    if !JOB_FIELDS.contains(&f) {
                        errors.push(not_one_of("compliance_job.fields", f, &JOB_FIELDS));
                    }
                }
            }
            other => errors.push(item(
                other,
                &[v],
                format!(
                    "The query parameter [{other}] is not one of [type,status,compliance_job.fields]"
                ),
            )),
        }
    }
    if job_type.is_none() && !params.iter().any(|(k, _)| k == "type") {
        errors.push(empty_param("type"));
    }
    let Some(job_type) = job_type.filter(|_| errors.is_empty()) else {
        return invalid_request(errors, &ctx);
    };
    let now = s.now_ms();
    let jobs: Vec<_> = s
        .lock()
        .jobs
        .values()
        .rev()
        .filter(|j| j.app == ctx.app && j.kind == job_type)
        .map(|j| j.to_api(now))
        .filter(|j| status.as_ref().is_none_or(|st| &j.status == st))
        .collect();
    let body = JobListResponse {
        meta: Some(ListMeta {
            result_count: Some(jobs.len() as u64),
        }),
        data: (!jobs.is_empty()).then_some(jobs),
        errors: None,
    };
    ok(&body, &ctx)
}

/// Validates the `:id` path segment.
// Handlers return a ready HTTP answer on the error path; boxing it would only add an allocation.
#[allow(clippy::result_large_err)]
fn parse_job_id(id: &str, ctx: &Ctx) -> Result<u64, Response> {
    job_id_of(id).ok_or_else(|| invalid_request(vec![item("id", &[id], bad_job_id(id))], ctx))
}

/// A job ID path segment: 1 to 19 ASCII digits.
pub(crate) fn job_id_of(id: &str) -> Option<u64> {
    let valid = !id.is_empty() && id.len() <= 19 && id.bytes().all(|b| b.is_ascii_digit());
    id.parse::<u64>().ok().filter(|_| valid)
}

/// The message of a malformed job ID, in X's wording.
pub(crate) fn bad_job_id(id: &str) -> String {
    format!("The `id` query parameter value [{id}] does not match ^[0-9]{{1,19}}$")
}

/// `GET /2/compliance/jobs/:id`.
pub(crate) async fn get(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let ctx = match admit(&s, Endpoint::Get, &headers).await {
        Ok(ctx) => ctx,
        Err(r) => return r,
    };
    if ctx.flow == Flow::BytePath {
        let errors = check_fields(query.as_deref());
        if !errors.is_empty() {
            return invalid_request(errors, &ctx);
        }
    }
    let id = match parse_job_id(&id, &ctx) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let now = s.now_ms();
    let job = s
        .lock()
        .jobs
        .get(&id)
        .filter(|j| j.app == ctx.app)
        .map(|j| j.to_api(now));
    match job {
        Some(job) => ok(
            &JobResponse {
                data: Some(job),
                errors: None,
            },
            &ctx,
        ),
        None => with_rate(job_not_found(ctx.flow, id), ctx.rate),
    }
}

/// `DELETE /2/compliance/jobs/:id` (documented in 2026): an unfinished job becomes `failed` and
/// frees its type; a finished one is returned unchanged.
pub(crate) async fn cancel(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let ctx = match admit(&s, Endpoint::Cancel, &headers).await {
        Ok(ctx) => ctx,
        Err(r) => return r,
    };
    if ctx.flow == Flow::BytePath {
        let errors = check_fields(query.as_deref());
        if !errors.is_empty() {
            return invalid_request(errors, &ctx);
        }
    }
    let id = match parse_job_id(&id, &ctx) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let now = s.now_ms();
    let mut inner = s.lock();
    let Some(job) = inner.jobs.get_mut(&id).filter(|j| j.app == ctx.app) else {
        drop(inner);
        return with_rate(job_not_found(ctx.flow, id), ctx.rate);
    };
    if job.status(now).0.is_unfinished() {
        job.phase = Phase::Cancelled;
    }
    let body = JobResponse {
        data: Some(job.to_api(now)),
        errors: None,
    };
    drop(inner);
    ok(&body, &ctx)
}

/// No job of this ID for this app: the generic 404 in the GCS flow, `resource-not-found` naming
/// the job in the byte-path flow.
pub(crate) fn job_not_found(flow: Flow, id: u64) -> Response {
    match flow {
        Flow::Gcs => generic(flow, 404),
        Flow::BytePath => problem::live(
            404,
            Live {
                title: "Not Found Error",
                detail: format!("Could not find compliance job with id: [{id}]."),
                parameter: Some("id"),
                resource_id: Some(id.to_string()),
                ..Live::default()
            },
        ),
    }
}

/// A known API path with another method: 405 as a problem, like every other API error. The
/// router adds the `Allow` header naming the route's methods.
pub(crate) async fn method_not_allowed(State(s): State<Arc<Shared>>) -> Response {
    s.count_request("method not allowed");
    generic(s.config.flow, 405)
}

/// Any other path under `/2/`.
pub(crate) fn unknown_route(flow: Flow) -> Response {
    generic(flow, 404).into_response()
}
