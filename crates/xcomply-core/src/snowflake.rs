//! Snowflake IDs: the creation time that X encodes in every post ID issued since November 2010.
//!
//! A snowflake is `(milliseconds since the X epoch) << 22 | worker << 12 | sequence`. Post IDs
//! issued before the switch were sequential and small; they decode to a time within seconds of
//! the epoch, which is how [`snowflake_millis`] tells them apart.

/// The X epoch, 2010-11-04T01:42:54.657Z, in Unix milliseconds.
pub const X_EPOCH_MS: i64 = 1_288_834_974_657;

/// Bits below the timestamp: 10 worker bits and 12 sequence bits.
pub const TIMESTAMP_SHIFT: u32 = 22;

/// IDs whose timestamp part is below one minute after the epoch are pre-snowflake sequential IDs
/// (the last of those was about 29.7 billion, which decodes to 7 s after the epoch).
const MIN_SNOWFLAKE_OFFSET_MS: u64 = 60_000;

/// The creation time (Unix milliseconds) encoded in a snowflake ID, or `None` for an ID issued
/// before snowflakes existed.
///
/// ```
/// use xcomply_core::snowflake_millis;
/// // 1446017776678801409 (a job ID) was created at 2021-10-07T07:41:18.328Z, as its `created_at` says.
/// assert_eq!(snowflake_millis(1_446_017_776_678_801_409), Some(1_633_592_478_328));
/// assert_eq!(snowflake_millis(20), None);
/// ```
pub const fn snowflake_millis(id: u64) -> Option<i64> {
    let offset = id >> TIMESTAMP_SHIFT;
    if offset < MIN_SNOWFLAKE_OFFSET_MS {
        None
    } else {
        Some(offset as i64 + X_EPOCH_MS)
    }
}

/// A snowflake ID for a Unix-millisecond time and the low 22 bits (worker and sequence).
///
/// Returns `None` for times before the snowflake epoch or too far in the future for `i64`.
pub const fn snowflake_from_millis(unix_ms: i64, low_bits: u64) -> Option<u64> {
    let offset = unix_ms - X_EPOCH_MS;
    if offset < MIN_SNOWFLAKE_OFFSET_MS as i64 || offset >= (1 << (63 - TIMESTAMP_SHIFT)) {
        return None;
    }
    Some(((offset as u64) << TIMESTAMP_SHIFT) | (low_bits & ((1 << TIMESTAMP_SHIFT) - 1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn time_round_trips(ms in (X_EPOCH_MS + 60_000)..(X_EPOCH_MS + (1 << 41)), low in 0u64..(1 << 22)) {
            let id = snowflake_from_millis(ms, low).unwrap();
            prop_assert!(i64::try_from(id).is_ok());
            prop_assert_eq!(snowflake_millis(id), Some(ms));
            prop_assert_eq!(id & ((1 << 22) - 1), low);
        }
    }

    #[test]
    fn pre_snowflake_ids_have_no_time() {
        assert_eq!(snowflake_millis(29_700_859_247), None);
        assert_eq!(snowflake_from_millis(X_EPOCH_MS - 1, 0), None);
    }
}
