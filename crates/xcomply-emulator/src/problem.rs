//! Problem-details answers in the vocabulary of each flow.
//!
//! The GCS flow answers as the API did before the September 2026 cutover (and as the v2.166
//! specification describes): `about:blank` for plain HTTP errors, `conflict` and `usage-capped`
//! problem types under `api.twitter.com`. The byte-path flow answers with the problem types the
//! v2.168 specification lists, under `https://api.x.com/2/problems/`, so that every error body
//! validates against it: the specification has no `about:blank`, no `conflict` and no
//! `unauthorized` type, so each status is mapped to the closest listed type (see [`live_type`]).
//! The one exception is the usage cap, whose `usage-capped` type X documents for every v2
//! endpoint and which clients must tell apart from a rate limit; it is kept.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

/// The URI prefix of problem types since the cutover.
pub(crate) const LIVE_PREFIX: &str = "https://api.x.com/2/problems/";

/// The v2.168 problem type of a status, and the `resource_type` that type requires (if any).
///
/// - 400, 405, 413, 415 and 416: `invalid-request` (the request itself is wrong);
/// - 401 and 403: `not-authorized-for-resource` (the Bearer token or the URL's token does not
///   give access to the job);
/// - 404: `resource-not-found`;
/// - 409 and 429: `resource-unavailable` (the job slot or the rate budget is taken for now);
/// - anything else: `internal-error`.
pub(crate) fn live_type(status: u16) -> (&'static str, Option<&'static str>) {
    match status {
        400 | 405 | 411 | 413 | 415 | 416 => ("invalid-request", None),
        401 | 403 => ("not-authorized-for-resource", Some("compliance_job")),
        404 => ("resource-not-found", Some("compliance_job")),
        409 | 429 => ("resource-unavailable", Some("compliance_job")),
        _ => ("internal-error", None),
    }
}

/// Details of one live problem beyond its status.
#[derive(Debug, Default)]
pub(crate) struct Live<'a> {
    /// The short summary (`Unauthorized`, `Payload Too Large`).
    pub title: &'a str,
    /// The explanation for this occurrence.
    pub detail: String,
    /// The request parameter at fault (`token`), which is how a client tells a refused URL token
    /// from a refused Bearer token: both are 401.
    pub parameter: Option<&'a str>,
    /// The job the problem is about.
    pub resource_id: Option<String>,
    /// Per-parameter errors of an invalid request, as the JSON endpoints list them.
    pub errors: Option<serde_json::Value>,
}

/// A problem answer of the byte-path flow.
pub(crate) fn live(status: u16, p: Live<'_>) -> Response {
    let (slug, resource_type) = live_type(status);
    let mut body = serde_json::json!({
        "type": format!("{LIVE_PREFIX}{slug}"),
        "title": p.title,
        "detail": p.detail,
        "status": status,
    });
    let obj = body.as_object_mut().expect("a JSON object");
    if let Some(r) = resource_type {
        obj.insert("resource_type".into(), r.into());
    }
    if let Some(id) = p.resource_id {
        obj.insert("resource_id".into(), id.into());
    }
    if let Some(param) = p.parameter {
        obj.insert("parameter".into(), param.into());
    }
    if let Some(errors) = p.errors {
        obj.insert("errors".into(), errors);
    }
    problem_json(status, &body)
}

/// Serialises a problem body with the problem media type and X's usual headers.
pub(crate) fn problem_json(status: u16, body: &serde_json::Value) -> Response {
    let mut r = Response::new(Body::from(
        serde_json::to_vec(body).expect("JSON values always serialize"),
    ));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, max-age=0"),
    );
    r
}

/// The usual title of a status.
pub(crate) fn title(status: u16) -> &'static str {
    match status {
        400 => "Invalid Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// A live problem with the status's usual title and `detail`.
pub(crate) fn live_simple(status: u16, detail: impl Into<String>) -> Response {
    live(
        status,
        Live {
            title: title(status),
            detail: detail.into(),
            ..Live::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_maps_to_a_type_of_the_specification() {
        const LISTED: [&str; 9] = [
            "resource-not-found",
            "invalid-request",
            "not-authorized-for-resource",
            "not-authorized-for-field",
            "field-unauthorized",
            "field-hydration-failure",
            "resource-unavailable",
            "disallowed-resource",
            "internal-error",
        ];
        for status in [
            400, 401, 403, 404, 405, 409, 411, 413, 415, 416, 429, 500, 503,
        ] {
            let (slug, resource_type) = live_type(status);
            assert!(LISTED.contains(&slug), "{status}: {slug}");
            // These three types require `resource_type`.
            let needs = matches!(
                slug,
                "resource-not-found" | "not-authorized-for-resource" | "resource-unavailable"
            );
            assert_eq!(resource_type.is_some(), needs, "{status}");
        }
    }
}
