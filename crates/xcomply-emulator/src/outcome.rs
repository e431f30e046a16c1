//! The deterministic answer: whether an ID needs action, and its record.
//!
//! Everything here is a pure function of (seed, job type, ID, rates), so a test can compute the
//! expected result of a job without asking the emulator.

use std::fmt::Write as _;

use xcomply_core::seeded::hash3;
use xcomply_core::{
    Action, ComplianceRecord, JobType, Reason, X_EPOCH_MS, format_timestamp_ms,
    format_timestamp_offset, snowflake_millis,
};

use crate::config::{Flow, OutcomeRates, action_of};

/// Hash domains, so that the reason, the `redacted_at` draw and the fallback creation time of one
/// ID are independent.
const DOMAIN_REASON_TWEETS: u64 = 0x7477_6565_7473; // "tweets"
const DOMAIN_REASON_USERS: u64 = 0x0075_7365_7273; // "users"
const DOMAIN_REDACTED: u64 = 0x7265_6461_6374;
const DOMAIN_CREATED: u64 = 0x6372_6561_7465;

/// 2026-01-01T00:00:00Z: the latest `redacted_at` the answers use, so that they do not depend on
/// the day the tests run.
const REDACTED_HORIZON_MS: i64 = 1_767_225_600_000;

/// 2006-03-21T00:00:00Z, the day the first post was made: pre-snowflake IDs get a creation time
/// between this and the snowflake epoch.
const PRE_SNOWFLAKE_START_MS: i64 = 1_142_899_200_000;

/// One day, the shortest gap between creation and redaction in the answers.
const DAY_MS: i64 = 86_400_000;

/// The parts of a record, before formatting.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Outcome {
    pub reason: usize,
    pub created_ms: i64,
    pub redacted_ms: Option<i64>,
}

/// `OutcomeRates` turned into thresholds over 53-bit hash values, for the hot loop.
#[derive(Clone, Debug)]
pub(crate) struct Thresholds {
    tweets: bool,
    /// The 2026 vocabulary (byte-path flow): actions by reason, `deleted_at`, `"redacted_at":
    /// null`, error records.
    live: bool,
    reasons: Vec<Reason>,
    /// `actions[i]` is the action of `reasons[i]`: always `delete` in the GCS flow.
    actions: Vec<Action>,
    cumulative: Vec<u64>,
    without_redacted: u64,
    seed: u64,
    domain: u64,
}

fn to_threshold(p: f64) -> u64 {
    (p.clamp(0.0, 1.0) * (1u64 << 53) as f64) as u64
}

impl Thresholds {
    pub(crate) fn new(
        seed: u64,
        job_type: &JobType,
        rates: &OutcomeRates,
        flow: Flow,
    ) -> Thresholds {
        let live = flow == Flow::BytePath;
        let tweets = !matches!(job_type, JobType::Users);
        let (list, without) = if tweets {
            (&rates.tweets, rates.tweets_without_redacted_at)
        } else {
            (&rates.users, rates.users_without_redacted_at)
        };
        let mut sum = 0.0;
        let mut cumulative = Vec::with_capacity(list.len());
        for (_, p) in list {
            sum += p.max(0.0);
            cumulative.push(to_threshold(sum));
        }
        Thresholds {
            tweets,
            live,
            reasons: list.iter().map(|(r, _)| r.clone()).collect(),
            actions: list
                .iter()
                .map(|(r, _)| if live { action_of(r) } else { Action::Delete })
                .collect(),
            cumulative,
            without_redacted: to_threshold(without),
            seed,
            domain: if tweets {
                DOMAIN_REASON_TWEETS
            } else {
                DOMAIN_REASON_USERS
            },
        }
    }

    /// Whether answers use the 2026 vocabulary.
    pub(crate) fn live(&self) -> bool {
        self.live
    }

    /// The outcome of one ID; `None` when it is compliant. This is the hot path of processing.
    #[inline]
    pub(crate) fn outcome(&self, id: u64) -> Option<Outcome> {
        let draw = hash3(self.seed, self.domain, id) >> 11;
        if self.cumulative.last().is_none_or(|&last| draw >= last) {
            return None;
        }
        let reason = self.cumulative.iter().position(|&c| draw < c)?;
        Some(self.details(id, reason))
    }

    #[cold]
    fn details(&self, id: u64, reason: usize) -> Outcome {
        let created_ms = snowflake_millis(id).unwrap_or_else(|| {
            // Pre-snowflake IDs (before November 2010) carry no time: pick one between the first
            // post and the snowflake epoch, from the ID.
            let span = (X_EPOCH_MS - PRE_SNOWFLAKE_START_MS) as u64;
            PRE_SNOWFLAKE_START_MS + (hash3(self.seed, DOMAIN_CREATED, id) % span) as i64
        });
        let created_ms = if self.tweets {
            created_ms
        } else {
            // User records are written at second precision (`+00:00`, no milliseconds).
            created_ms.div_euclid(1000) * 1000
        };
        let draw = hash3(self.seed, DOMAIN_REDACTED, id);
        let redacted_ms = ((draw >> 11) >= self.without_redacted).then(|| {
            let latest = REDACTED_HORIZON_MS.max(created_ms + DAY_MS);
            let span = (latest - created_ms - DAY_MS).max(1) as u64;
            let ms = created_ms + DAY_MS + ((draw & 0xffff_ffff_ffff) % span) as i64;
            if self.tweets {
                ms
            } else {
                ms.div_euclid(1000) * 1000
            }
        });
        Outcome {
            reason,
            created_ms,
            redacted_ms,
        }
    }

    /// Appends the JSON line of an outcome (with its `\n`) in the exact shape X delivers. Before
    /// the cutover:
    /// `{"id":"…","action":"delete","created_at":"…","redacted_at":"…","reason":"…"}`, with
    /// `redacted_at` left out when unknown. In the 2026 vocabulary the action follows the reason,
    /// a deletion event carries `deleted_at` (equal to `redacted_at`) when its time is known, and
    /// an unknown time is `"redacted_at":null`.
    pub(crate) fn write_line(&self, out: &mut String, id: u64, o: &Outcome) {
        let format = if self.tweets {
            format_timestamp_ms
        } else {
            format_timestamp_offset
        };
        let action = &self.actions[o.reason];
        let _ = write!(
            out,
            "{{\"id\":\"{id}\",\"action\":\"{action}\",\"created_at\":\"{}\"",
            format(o.created_ms)
        );
        match o.redacted_ms {
            Some(r) => {
                let r = format(r);
                if self.live && *action == Action::Delete {
                    let _ = write!(out, ",\"deleted_at\":\"{r}\"");
                }
                let _ = write!(out, ",\"redacted_at\":\"{r}\"");
            }
            None if self.live => out.push_str(",\"redacted_at\":null"),
            None => {}
        }
        let _ = writeln!(out, ",\"reason\":\"{}\"}}", self.reasons[o.reason].as_str());
    }

    pub(crate) fn record(&self, id: u64, o: &Outcome) -> ComplianceRecord {
        let format = if self.tweets {
            format_timestamp_ms
        } else {
            format_timestamp_offset
        };
        let action = self.actions[o.reason].clone();
        let redacted_at = o.redacted_ms.map(format);
        ComplianceRecord {
            id: id.to_string(),
            deleted_at: redacted_at
                .clone()
                .filter(|_| self.live && action == Action::Delete),
            action: Some(action),
            created_at: Some(format(o.created_ms)),
            redacted_at,
            reason: Some(self.reasons[o.reason].clone()),
            error: None,
        }
    }
}

/// The emulator's answer for one ID: the record its results would contain, or `None` when the ID
/// is compliant (absent from the results).
///
/// Posts get `created_at` from the snowflake ID at millisecond precision (`.000Z` format); users
/// get it at second precision in the `+00:00` format X uses for users. IDs older than snowflakes
/// get a seeded time between 2006-03-21 and 2010-11-04. `redacted_at` is absent on a seeded
/// fraction of records and otherwise lies between a day after creation and 2026-01-01. In the
/// byte-path flow the action follows the reason ([`crate::action_of`]) and deletion events carry
/// `deleted_at`; in the GCS flow every action is `delete`.
///
/// ```
/// use xcomply_core::JobType;
/// use xcomply_emulator::{Flow, OutcomeRates, outcome};
///
/// let rates = OutcomeRates::default();
/// let flagged = (1_000_000_000_000_000_000u64..1_000_000_000_000_010_000)
///     .filter(|&id| outcome(42, Flow::BytePath, &JobType::Tweets, id, &rates).is_some())
///     .count();
/// assert!((200..450).contains(&flagged), "about 3.3 % of posts: {flagged}");
/// ```
pub fn outcome(
    seed: u64,
    flow: Flow,
    job_type: &JobType,
    id: u64,
    rates: &OutcomeRates,
) -> Option<ComplianceRecord> {
    let t = Thresholds::new(seed, job_type, rates, flow);
    t.outcome(id).map(|o| t.record(id, &o))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_match_serde_of_the_record() {
        for (flow, rates) in [
            (Flow::Gcs, OutcomeRates::legacy()),
            (Flow::BytePath, OutcomeRates::default()),
        ] {
            for job_type in [JobType::Tweets, JobType::Users] {
                let t = Thresholds::new(7, &job_type, &rates, flow);
                let mut seen = 0;
                // Small IDs exercise the pre-snowflake fallback, large ones the snowflake decoding.
                for id in (1..20_000u64).chain(1_446_017_776_678_801_409..1_446_017_776_678_901_409)
                {
                    if let Some(o) = t.outcome(id) {
                        let mut line = String::new();
                        t.write_line(&mut line, id, &o);
                        let record = outcome(7, flow, &job_type, id, &rates).unwrap();
                        if flow == Flow::Gcs || record.redacted_at.is_some() {
                            assert_eq!(line, serde_json::to_string(&record).unwrap() + "\n");
                        } else {
                            // serde leaves `None` out; the live API writes an explicit null.
                            assert!(line.contains(",\"redacted_at\":null,"), "{line}");
                            let parsed: ComplianceRecord = serde_json::from_str(&line).unwrap();
                            assert_eq!(parsed, record);
                        }
                        let created = xcomply_core::parse_timestamp_ms(
                            record.created_at.as_ref().unwrap().as_bytes(),
                        )
                        .unwrap();
                        if let Some(r) = &record.redacted_at {
                            assert!(
                                xcomply_core::parse_timestamp_ms(r.as_bytes()).unwrap() > created
                            );
                        }
                        seen += 1;
                    }
                }
                assert!(seen > 100, "{job_type}: {seen}");
            }
        }
    }

    #[test]
    fn rates_are_respected() {
        let rates = OutcomeRates::legacy();
        let n = 200_000u64;
        let base = 1_500_000_000_000_000_000u64;
        let mut counts = std::collections::HashMap::new();
        let mut missing_redacted = 0;
        for id in base..base + n {
            if let Some(r) = outcome(1, Flow::Gcs, &JobType::Tweets, id, &rates) {
                assert_eq!(r.action, Some(Action::Delete));
                *counts
                    .entry(r.reason.as_ref().unwrap().to_string())
                    .or_insert(0u32) += 1;
                missing_redacted += u32::from(r.redacted_at.is_none());
                assert_eq!(
                    xcomply_core::parse_timestamp_ms(r.created_at.unwrap().as_bytes()).ok(),
                    snowflake_millis(id)
                );
            }
        }
        let total: u32 = counts.values().sum();
        assert!((6_200..7_000).contains(&total), "{counts:?}");
        assert!((2_700..3_300).contains(&counts["deleted"]), "{counts:?}");
        assert!(counts["bounced"] > 100, "{counts:?}");
        assert!(
            (900..1_500).contains(&missing_redacted),
            "{missing_redacted}"
        );
        assert!(outcome(1, Flow::Gcs, &JobType::Tweets, base, &OutcomeRates::none()).is_none());
    }

    /// Both flows flag the same IDs for the same seed, each in its own vocabulary.
    #[test]
    fn both_flows_flag_the_same_ids() {
        let base = 1_500_000_000_000_000_000u64;
        for job_type in [JobType::Tweets, JobType::Users] {
            for id in base..base + 50_000 {
                let live = outcome(4, Flow::BytePath, &job_type, id, &OutcomeRates::default());
                let old = outcome(4, Flow::Gcs, &job_type, id, &OutcomeRates::legacy());
                assert_eq!(live.is_some(), old.is_some(), "{id}");
                if let (Some(live), Some(old)) = (live, old) {
                    assert_eq!(old.action, Some(Action::Delete));
                    assert_eq!(
                        live.reason == Some(Reason::GeoScrubbed),
                        old.reason == Some(Reason::ScrubGeo)
                    );
                }
            }
        }
    }

    /// The 2026 vocabulary: every action appears with its reasons, deletion events carry
    /// `deleted_at` equal to `redacted_at`, other events never do, and users are only deleted.
    #[test]
    fn live_answers_use_the_2026_vocabulary() {
        let rates = OutcomeRates::default();
        let base = 1_500_000_000_000_000_000u64;
        let mut actions = std::collections::BTreeMap::new();
        for id in base..base + 100_000 {
            let Some(r) = outcome(1, Flow::BytePath, &JobType::Tweets, id, &rates) else {
                continue;
            };
            let action = r.action.clone().unwrap();
            let reason = r.reason.clone().unwrap();
            assert_eq!(action, action_of(&reason), "{r:?}");
            if action == Action::Delete {
                assert_eq!(r.deleted_at, r.redacted_at, "{r:?}");
            } else {
                assert_eq!(r.deleted_at, None, "{r:?}");
            }
            *actions.entry(action.to_string()).or_insert(0u32) += 1;
        }
        assert!(actions["rehydrate"] > 150, "{actions:?}");
        assert!(actions["scrub_geo"] > 200, "{actions:?}");
        assert!(actions["delete"] > 2_000, "{actions:?}");
        for id in base..base + 50_000 {
            if let Some(r) = outcome(1, Flow::BytePath, &JobType::Users, id, &rates) {
                assert_eq!(r.action, Some(Action::Delete), "{r:?}");
            }
        }
    }

    #[test]
    fn users_use_the_offset_format() {
        let rates = OutcomeRates::default();
        let r = (1u64..)
            .find_map(|id| outcome(3, Flow::BytePath, &JobType::Users, id, &rates))
            .unwrap();
        assert!(r.created_at.as_ref().unwrap().ends_with("+00:00"), "{r:?}");
        assert!(
            Reason::KNOWN[..5].contains(r.reason.as_ref().unwrap()),
            "{r:?}"
        );
        assert_ne!(r.reason, Some(Reason::ScrubGeo));
    }
}
