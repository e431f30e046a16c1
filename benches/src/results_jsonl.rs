//! Seeded compliance results (JSON Lines) shaped like the API's: the input of the decode
//! benchmarks.
//!
//! Post lines carry `created_at` decoded from the snowflake ID in the `.000Z` shape (with real
//! milliseconds, as in X's documentation) and nearly always a `redacted_at`; user lines use the
//! `+00:00` shape of user results, include pre-snowflake sequential IDs, and often have no
//! `redacted_at`. Reasons follow a plausible mix per type. Every line depends only on the seed
//! and its number.

use std::io::{self, Write};

use xcomply_core::seeded::{hash3, unit_interval};
use xcomply_core::{format_timestamp_ms, format_timestamp_offset, snowflake_from_millis};

/// Which kind of job the results are from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Shape {
    /// Post results.
    Tweets,
    /// User results.
    Users,
    /// 85% post lines and 15% user lines: both timestamp shapes in one stream.
    Mixed,
}

impl Shape {
    /// Parses `tweets`, `users` or `mixed`.
    pub fn parse(s: &str) -> Option<Shape> {
        match s {
            "tweets" => Some(Shape::Tweets),
            "users" => Some(Shape::Users),
            "mixed" => Some(Shape::Mixed),
            _ => None,
        }
    }
}

const DOMAIN_KIND: u64 = 11;
const DOMAIN_TIME: u64 = 12;
const DOMAIN_LOW: u64 = 13;
const DOMAIN_REASON: u64 = 14;
const DOMAIN_REDACTED: u64 = 15;
const DOMAIN_DELAY: u64 = 16;
const DOMAIN_OLD: u64 = 17;

/// A day after 2010-11-04, when snowflake IDs began (the first minute after their epoch is
/// reserved for pre-snowflake IDs).
const SNOWFLAKE_START_MS: i64 = 1_288_834_974_657 + 86_400_000;
/// 2026-01-01T00:00:00Z.
const UNTIL_MS: i64 = 1_767_225_600_000;
/// 2006-03-21, the first account.
const FIRST_USER_MS: i64 = 1_142_899_200_000;

/// Post reasons with cumulative weights (percent): mostly deletions, some suspensions and
/// protections, a few geo scrubs, rare bounces.
const TWEET_REASONS: [(&str, f64); 5] = [
    ("deleted", 0.55),
    ("suspended", 0.75),
    ("protected", 0.90),
    ("scrub_geo", 0.98),
    ("bounced", 1.0),
];
/// User reasons with cumulative weights.
const USER_REASONS: [(&str, f64); 4] = [
    ("deleted", 0.35),
    ("suspended", 0.70),
    ("protected", 0.90),
    ("deactivated", 1.0),
];

fn pick(table: &[(&'static str, f64)], u: f64) -> &'static str {
    table
        .iter()
        .find(|(_, cumulative)| u < *cumulative)
        .map_or(table[table.len() - 1].0, |(r, _)| r)
}

/// Appends line `n` (with its newline) to `out`.
pub fn push_line(seed: u64, shape: Shape, n: u64, out: &mut Vec<u8>) {
    let is_user = match shape {
        Shape::Tweets => false,
        Shape::Users => true,
        Shape::Mixed => unit_interval(hash3(seed, DOMAIN_KIND, n)) < 0.15,
    };
    let span = (UNTIL_MS - SNOWFLAKE_START_MS) as u64;
    let created = SNOWFLAKE_START_MS + (hash3(seed, DOMAIN_TIME, n) % span) as i64;
    let redacted_u = unit_interval(hash3(seed, DOMAIN_REDACTED, n));
    // The event comes up to about three years after creation, never in the future.
    let delay = (hash3(seed, DOMAIN_DELAY, n) % (3 * 365 * 86_400_000)) as i64;
    let redacted = (created + delay).min(UNTIL_MS);
    let reason_u = unit_interval(hash3(seed, DOMAIN_REASON, n));
    if is_user {
        // A fifth of flagged accounts predate snowflakes and have small sequential IDs.
        let (id, created) = if unit_interval(hash3(seed, DOMAIN_OLD, n)) < 0.2 {
            let old_span = (SNOWFLAKE_START_MS - FIRST_USER_MS) as u64;
            let ms = FIRST_USER_MS + (hash3(seed, DOMAIN_TIME, n) % old_span) as i64;
            (hash3(seed, DOMAIN_LOW, n) % 200_000_000 + 12, ms)
        } else {
            let low = hash3(seed, DOMAIN_LOW, n) & ((1 << 22) - 1);
            (
                snowflake_from_millis(created, low).expect("in range"),
                created,
            )
        };
        let created_at = format_timestamp_offset(created);
        let reason = pick(&USER_REASONS, reason_u);
        if redacted_u < 0.4 {
            let _ = write!(
                out,
                r#"{{"id":"{id}","action":"delete","created_at":"{created_at}","reason":"{reason}"}}"#
            );
        } else {
            let redacted_at = format_timestamp_offset(redacted.max(created));
            let _ = write!(
                out,
                r#"{{"id":"{id}","action":"delete","created_at":"{created_at}","redacted_at":"{redacted_at}","reason":"{reason}"}}"#
            );
        }
    } else {
        let low = hash3(seed, DOMAIN_LOW, n) & ((1 << 22) - 1);
        let id = snowflake_from_millis(created, low).expect("in range");
        let created_at = format_timestamp_ms(created);
        let reason = pick(&TWEET_REASONS, reason_u);
        if redacted_u < 0.05 {
            let _ = write!(
                out,
                r#"{{"id":"{id}","action":"delete","created_at":"{created_at}","reason":"{reason}"}}"#
            );
        } else {
            let redacted_at = format_timestamp_ms(redacted);
            let _ = write!(
                out,
                r#"{{"id":"{id}","action":"delete","created_at":"{created_at}","redacted_at":"{redacted_at}","reason":"{reason}"}}"#
            );
        }
    }
    out.push(b'\n');
}

/// About `bytes` of results (whole lines, at least one), in memory.
pub fn results(seed: u64, shape: Shape, bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes + 256);
    let mut n = 0;
    while out.len() < bytes.max(1) {
        push_line(seed, shape, n, &mut out);
        n += 1;
    }
    out
}

/// Writes about `bytes` of results to `out`; returns the number of lines.
pub fn write_results(out: &mut impl Write, seed: u64, shape: Shape, bytes: u64) -> io::Result<u64> {
    let mut written = 0u64;
    let mut n = 0u64;
    let mut buf = Vec::with_capacity(1 << 20);
    while written < bytes.max(1) {
        buf.clear();
        while buf.len() < (1 << 20) - 512 && written + (buf.len() as u64) < bytes.max(1) {
            push_line(seed, shape, n, &mut buf);
            n += 1;
        }
        out.write_all(&buf)?;
        written += buf.len() as u64;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_stable_and_shaped_like_the_api() {
        let a = results(7, Shape::Mixed, 200_000);
        assert_eq!(a, results(7, Shape::Mixed, 200_000));
        let text = String::from_utf8(a).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let users = lines.iter().filter(|l| l.contains("+00:00")).count();
        let without_redacted = lines.iter().filter(|l| !l.contains("redacted_at")).count();
        let geo = lines.iter().filter(|l| l.contains("scrub_geo")).count();
        let share = |k: usize| k as f64 / lines.len() as f64;
        assert!((0.12..0.18).contains(&share(users)), "{}", share(users));
        assert!((0.07..0.15).contains(&share(without_redacted)));
        assert!(share(geo) > 0.03);
        for line in lines.iter().take(2000) {
            let record: xcomply_core::ComplianceRecord = serde_json::from_str(line).unwrap();
            let ms =
                xcomply_core::parse_timestamp_ms(record.created_at.unwrap().as_bytes()).unwrap();
            if let Some(r) = record.redacted_at {
                assert!(xcomply_core::parse_timestamp_ms(r.as_bytes()).unwrap() >= ms);
            }
            xcomply_core::Id::parse_str(&record.id).unwrap();
        }
    }

    #[test]
    fn write_results_writes_about_the_requested_size() {
        let mut out = Vec::new();
        let lines = write_results(&mut out, 1, Shape::Tweets, 3_000_000).unwrap();
        assert!(
            out.len() >= 3_000_000 && out.len() < 3_000_300,
            "{}",
            out.len()
        );
        assert_eq!(
            String::from_utf8(out.clone()).unwrap().lines().count() as u64,
            lines
        );
        assert_eq!(
            &out[..100_000],
            &results(1, Shape::Tweets, 100_000)[..100_000]
        );
    }
}
