//! The X API v2 batch compliance wire types, field for field as the API sends them.
//!
//! Unknown fields are ignored (serde's default), and the enums are open: a value the API adds
//! tomorrow is kept as `Other(String)` instead of failing a run that has been going for hours.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{SignedUrl, Timestamp};

/// Defines an open string enum: known values as variants, anything else kept verbatim.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, Debug)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value this version of xcomply does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// Every known value, in declaration order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant,)*];

            /// The wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)*
                    $name::Other(s) => s,
                }
            }

            /// Parses the wire spelling; unknown values become `Other`.
            pub fn parse(s: &str) -> $name {
                match s {
                    $($text => $name::$variant,)*
                    other => $name::Other(other.to_owned()),
                }
            }

            /// Whether this is a value this version of xcomply knows.
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Other(_))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Ok($name::parse(&s))
            }
        }
    };
}

open_enum! {
    /// The kind of IDs a job holds. One job never mixes them.
    JobType {
        /// Post IDs.
        Tweets = "tweets",
        /// User IDs.
        Users = "users",
    }
}

open_enum! {
    /// Where a job is in its lifecycle:
    /// `created` → `in_progress` → `complete` | `failed`, or `created` → `expired`.
    JobStatus {
        /// Waiting for the upload.
        Created = "created",
        /// Uploaded and being processed.
        InProgress = "in_progress",
        /// Results are ready at `download_url`.
        Complete = "complete",
        /// Processing failed; `error` says why.
        Failed = "failed",
        /// The upload window closed without an upload.
        Expired = "expired",
    }
}

impl JobStatus {
    /// `created` and `in_progress` jobs block creating another job of the same type.
    pub fn is_unfinished(&self) -> bool {
        matches!(self, JobStatus::Created | JobStatus::InProgress)
    }

    /// `complete`, `failed` and `expired` never change again.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            JobStatus::Complete | JobStatus::Failed | JobStatus::Expired
        )
    }
}

open_enum! {
    /// What the holder of a flagged ID must do.
    ///
    /// Until the September 2026 cutover `delete` was the only value, and geo removal was told
    /// apart only by the reason `scrub_geo`; result files of that time keep that shape. Since the
    /// cutover a post's event is one of three actions, and when several apply to one ID the API
    /// sends the strongest: `delete` over `rehydrate` over `scrub_geo`.
    Action {
        /// Remove the post or user (in results of the old flow, also a post whose reason is
        /// `scrub_geo`: remove only its geo data).
        Delete = "delete",
        /// The post was edited: the stored copy is stale and must be fetched again (posts only).
        Rehydrate = "rehydrate",
        /// Remove the stored location data of the post; the post itself stays (posts only).
        ScrubGeo = "scrub_geo",
    }
}

open_enum! {
    /// Why an ID needs action.
    Reason {
        /// The post or user was deleted.
        Deleted = "deleted",
        /// The post or user is now protected.
        Protected = "protected",
        /// The account was suspended.
        Suspended = "suspended",
        /// The account was deactivated (users only).
        Deactivated = "deactivated",
        /// The post's geo data must be removed; the post itself stays. The legacy spelling: the
        /// action is `delete` in results of the old flow.
        ScrubGeo = "scrub_geo",
        /// The post failed a compliance check (posts only, documented since 2025, legacy).
        Bounced = "bounced",
        /// The post was edited; sent with the action `rehydrate` (since the 2026 cutover).
        TweetEdited = "tweet_edited",
        /// The post's geo data was removed; sent with the action `scrub_geo` (since the 2026
        /// cutover, which replaced the legacy reason `scrub_geo`).
        GeoScrubbed = "geo_scrubbed",
    }
}

/// A job ID: a decimal snowflake, sent as a string.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::str::FromStr for JobId {
    type Err = crate::IdError;
    fn from_str(s: &str) -> Result<JobId, crate::IdError> {
        crate::Id::parse_str(s).map(|id| JobId(id.get()))
    }
}

impl Serialize for JobId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for JobId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<JobId, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A compliance job as the API returns it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ComplianceJob {
    /// The job ID.
    pub id: JobId,
    /// `tweets` or `users`.
    #[serde(rename = "type")]
    pub job_type: JobType,
    /// Present only when the job was created with a name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Lifecycle state.
    pub status: JobStatus,
    /// Whether `upload_url` is signed for a resumable upload. Sent in every real response, absent
    /// from the v2.166 schema, so it is optional here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumable: Option<bool>,
    /// Signed URL for the upload, valid 15 minutes.
    pub upload_url: SignedUrl,
    /// When `upload_url` stops working (`created_at` + 15 min).
    pub upload_expires_at: Timestamp,
    /// Signed URL of the results, valid 7 days.
    pub download_url: SignedUrl,
    /// When `download_url` stops working (`created_at` + 7 days).
    pub download_expires_at: Timestamp,
    /// Creation time.
    pub created_at: Timestamp,
    /// Why the job failed; only when `status` is `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The body of `POST /2/compliance/jobs`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct CreateJobRequest {
    /// `tweets` or `users`.
    #[serde(rename = "type")]
    pub job_type: JobType,
    /// An optional name of at most 64 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Ask for an upload URL signed for the resumable protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumable: Option<bool>,
}

/// The longest job name the API accepts.
pub const MAX_JOB_NAME_CHARS: usize = 64;

/// `{"data": job}`, the response of create and get. `errors` may accompany or replace `data`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct JobResponse {
    /// The job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<ComplianceJob>,
    /// Partial errors, as v2 responses may carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ProblemItem>>,
}

/// `{"data": [jobs], "meta": {"result_count": n}}`; `data` is absent when there are no jobs and
/// `meta` was absent in 2021 recordings.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct JobListResponse {
    /// The jobs, newest first in every real recording.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Vec<ComplianceJob>>,
    /// Partial errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ProblemItem>>,
    /// The count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<ListMeta>,
}

impl JobListResponse {
    /// The jobs, empty when `data` is absent.
    pub fn jobs(&self) -> &[ComplianceJob] {
        self.data.as_deref().unwrap_or_default()
    }
}

/// The `meta` object of a list.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct ListMeta {
    /// Number of jobs in `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_count: Option<u64>,
}

/// An RFC 7807 problem-details error, as every v2 error is sent.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Problem {
    /// A URI naming the problem, or `about:blank`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short summary.
    pub title: String,
    /// The explanation for this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The HTTP status, usually present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Per-parameter errors of an `invalid-request` problem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ProblemItem>>,
    /// The period of a usage cap (`Monthly`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// The scope of a usage cap (`Product`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// One entry of a problem's `errors[]`.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct ProblemItem {
    /// What is wrong with the parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The offending parameters and their values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<BTreeMap<String, Vec<String>>>,
    /// Partial-error fields used elsewhere in v2 (`title`, `detail`, `type`, `value`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// See `title`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// See `title`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub problem_type: Option<String>,
    /// See `title`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// The problem types the compliance endpoints can return, read from `type` under either host.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum ProblemKind {
    /// `about:blank`: a plain HTTP error (401, 404, 429 rate limit, …).
    Generic,
    /// 400 with `errors[]`.
    InvalidRequest,
    /// A second unfinished job of the same type.
    Conflict,
    /// 429 because a monthly or daily usage cap is spent; waiting for the window does not help.
    UsageCapped,
    /// The token is of the wrong kind (user context instead of app-only).
    UnsupportedAuthentication,
    /// The app is not allowed to use this endpoint.
    ClientForbidden,
    /// No such resource.
    ResourceNotFound,
    /// Not authorised for this resource.
    NotAuthorizedForResource,
    /// Any other problem type.
    Other,
}

/// The two problem URI prefixes in use (`api.twitter.com` before 2024, `api.x.com` after).
const PROBLEM_PREFIXES: [&str; 2] = [
    "https://api.twitter.com/2/problems/",
    "https://api.x.com/2/problems/",
];

/// The `type` URI of a problem, under the current host.
pub fn problem_uri(slug: &str) -> String {
    format!("https://api.twitter.com/2/problems/{slug}")
}

impl Problem {
    /// The kind of problem, accepting both the `api.twitter.com` and `api.x.com` URIs.
    pub fn kind(&self) -> ProblemKind {
        if self.problem_type == "about:blank" {
            return ProblemKind::Generic;
        }
        let slug = PROBLEM_PREFIXES
            .iter()
            .find_map(|p| self.problem_type.strip_prefix(p))
            .unwrap_or_default();
        match slug {
            "invalid-request" => ProblemKind::InvalidRequest,
            "conflict" => ProblemKind::Conflict,
            "usage-capped" => ProblemKind::UsageCapped,
            "unsupported-authentication" => ProblemKind::UnsupportedAuthentication,
            "client-forbidden" => ProblemKind::ClientForbidden,
            "resource-not-found" => ProblemKind::ResourceNotFound,
            "not-authorized-for-resource" => ProblemKind::NotAuthorizedForResource,
            _ => ProblemKind::Other,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.title)?;
        if let Some(detail) = self.detail.as_deref().filter(|d| *d != self.title) {
            write!(f, ": {detail}")?;
        }
        for item in self.errors.iter().flatten() {
            if let Some(message) = item.message.as_deref().or(item.detail.as_deref()) {
                write!(f, "; {message}")?;
            }
        }
        Ok(())
    }
}

/// One line of a job's results: an event for an ID that needs action, or an error record for an
/// input line the API could not read.
///
/// The two shapes share one struct so that a results file reads with one type:
///
/// - an **event** has `action`, `reason` and `created_at`; deletion events since the 2026 cutover
///   also carry `deleted_at`, the same instant as `redacted_at`; `redacted_at` may be absent or
///   `null` (events older than X's timestamp tracking), and both read as `None`;
/// - an **error record** (since the 2026 cutover), `{"id": "not_a_valid_id", "error":
///   "invalid_id"}`, has `error` and none of `action`, `reason` or `created_at`; its `id` is the
///   input line as uploaded, so it need not be a valid ID.
///
/// Fields that are `None` are left out when serialised, so an event serialises in the API's key
/// order (`id`, `action`, `created_at`, `deleted_at`, `redacted_at`, `reason`) and an error
/// record as `{"id":…,"error":…}`; an explicit `"redacted_at": null` is not reproduced.
///
/// ```
/// use xcomply_core::{Action, ComplianceRecord};
///
/// let event: ComplianceRecord = serde_json::from_str(
///     r#"{"id":"1","action":"rehydrate","created_at":"2019-10-29T17:02:47.000Z","redacted_at":null,"reason":"tweet_edited"}"#,
/// ).unwrap();
/// assert_eq!(event.action, Some(Action::Rehydrate));
/// assert!(!event.is_error_record());
///
/// let error: ComplianceRecord =
///     serde_json::from_str(r#"{"id": "not_a_valid_id", "error": "invalid_id"}"#).unwrap();
/// assert!(error.is_error_record());
/// assert_eq!(error, ComplianceRecord::error_record("not_a_valid_id", "invalid_id"));
/// assert_eq!(serde_json::to_string(&error).unwrap(), r#"{"id":"not_a_valid_id","error":"invalid_id"}"#);
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ComplianceRecord {
    /// The post or user ID, as a decimal string on the wire; in an error record, the input line
    /// the API could not read.
    pub id: String,
    /// What to do; absent in error records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    /// Creation time of the post or user; absent in error records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When the post or user was deleted; on deletion events since the 2026 cutover, equal to
    /// `redacted_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    /// When the event happened; absent or `null` on events older than X's timestamp tracking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted_at: Option<String>,
    /// Why; absent in error records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// Why the input line could not be checked (`invalid_id`); present only in error records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ComplianceRecord {
    /// An error record: the API could not check the input line `id`, for the reason `error`.
    pub fn error_record(id: impl Into<String>, error: impl Into<String>) -> ComplianceRecord {
        ComplianceRecord {
            id: id.into(),
            action: None,
            created_at: None,
            deleted_at: None,
            redacted_at: None,
            reason: None,
            error: Some(error.into()),
        }
    }

    /// Whether this is an error record (an input line the API could not check) rather than an
    /// event.
    pub fn is_error_record(&self) -> bool {
        self.error.is_some()
    }
}
