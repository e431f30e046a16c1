//! Seeded post IDs with a share of repeats: the shard benchmarks' input.

use xcomply_core::seeded::{hash3, unit_interval};
use xcomply_core::snowflake_from_millis;

/// 2019-01-01T00:00:00Z: from then on every snowflake has 19 digits.
const FROM_MS: i64 = 1_546_300_800_000;
/// 2026-01-01T00:00:00Z.
const UNTIL_MS: i64 = 1_767_225_600_000;

/// Hash domains, so that the choices of one line are independent.
const DOMAIN_REPEAT: u64 = 1;
const DOMAIN_PICK: u64 = 2;
const DOMAIN_TIME: u64 = 3;
const DOMAIN_LOW: u64 = 4;

/// `lines` IDs in a random order, about `duplicates` of them repeats of an earlier line. The
/// values depend only on the arguments, on every platform and version.
pub fn seeded_ids(seed: u64, lines: u64, duplicates: f64) -> impl Iterator<Item = u64> {
    (0..lines).map(move |line| {
        // A repeat takes the ID of an earlier line, itself chosen by hash; following the chain
        // back ends at a line that is not a repeat.
        let mut n = line;
        while n > 0 && unit_interval(hash3(seed, DOMAIN_REPEAT, n)) < duplicates {
            n = hash3(seed, DOMAIN_PICK, n) % n;
        }
        fresh(seed, n)
    })
}

fn fresh(seed: u64, line: u64) -> u64 {
    let span = (UNTIL_MS - FROM_MS) as u64;
    let ms = FROM_MS + (hash3(seed, DOMAIN_TIME, line) % span) as i64;
    let low = hash3(seed, DOMAIN_LOW, line) & ((1 << 22) - 1);
    snowflake_from_millis(ms, low).expect("2019-2025 snowflakes fit")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_19_digits_with_the_asked_share_of_repeats() {
        let ids: Vec<u64> = seeded_ids(7, 100_000, 0.05).collect();
        assert!(ids.iter().all(|id| id.to_string().len() == 19));
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        let share = 1.0 - unique.len() as f64 / ids.len() as f64;
        assert!((share - 0.05).abs() < 0.005, "{share}");
        assert_eq!(ids, seeded_ids(7, 100_000, 0.05).collect::<Vec<_>>());
    }
}
