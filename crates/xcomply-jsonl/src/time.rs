//! Timestamps in the two shapes the API sends, read at fixed offsets with a table of month
//! starts; anything else goes to `xcomply_core::parse_timestamp_ms`, which also makes the errors.
//!
//! Two timestamps per line make date arithmetic a visible share of decoding; the table turns
//! the calendar computation into one load.

use xcomply_core::{TimestampError, parse_timestamp_ms};

/// First year of the table. Earlier dates (none exist in X data) take the general parser.
const FIRST_YEAR: usize = 1970;
/// Years covered: 1970 to 2099, which spans every X post and user and 70 years to spare.
const YEARS: usize = 130;

/// Days from 1970-01-01 to the first of each month, plus one entry past the end so that a
/// month's length is the difference of two neighbours.
static MONTH_STARTS: [i32; YEARS * 12 + 1] = month_starts();

const fn month_starts() -> [i32; YEARS * 12 + 1] {
    let mut table = [0i32; YEARS * 12 + 1];
    let mut days = 0i32;
    let mut i = 0;
    while i < YEARS * 12 {
        table[i] = days;
        let year = FIRST_YEAR + i / 12;
        let month = i % 12 + 1;
        let leap =
            (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
        days += match month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        i += 1;
    }
    table[YEARS * 12] = days;
    table
}

/// `len` ASCII digits at `at` as a number, or `None`.
#[inline]
fn digits(b: &[u8], at: usize, len: usize) -> Option<u32> {
    let mut v = 0u32;
    for &c in &b[at..at + len] {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u32::from(d);
    }
    Some(v)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` and `YYYY-MM-DDTHH:MM:SS+00:00`, or `None` for anything else
/// (including leap seconds and years outside the table, which the general parser handles).
#[inline]
fn fixed(b: &[u8]) -> Option<i64> {
    let millis = match b.len() {
        24 if b[19] == b'.' && b[23] == b'Z' => digits(b, 20, 3)?,
        25 if &b[19..] == b"+00:00" => 0,
        _ => return None,
    };
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(b, 0, 4)? as usize;
    let month = digits(b, 5, 2)? as usize;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if !(FIRST_YEAR..FIRST_YEAR + YEARS).contains(&year)
        || !(1..=12).contains(&month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let index = (year - FIRST_YEAR) * 12 + month - 1;
    let start = MONTH_STARTS[index];
    let length = (MONTH_STARTS[index + 1] - start) as u32;
    if day == 0 || day > length {
        return None;
    }
    let days = i64::from(start) + i64::from(day) - 1;
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some(seconds * 1000 + i64::from(millis))
}

/// Parses a timestamp exactly as `xcomply_core::parse_timestamp_ms` does, faster for the two
/// usual shapes.
#[inline]
pub(crate) fn parse_ms(b: &[u8]) -> Result<i64, TimestampError> {
    match fixed(b) {
        Some(ms) => Ok(ms),
        None => parse_timestamp_ms(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use xcomply_core::{format_timestamp_ms, format_timestamp_offset};

    #[test]
    fn known_values() {
        assert_eq!(fixed(b"2021-08-11T19:42:55.000Z"), Some(1_628_710_975_000));
        assert_eq!(fixed(b"2013-03-26T02:46:15+00:00"), Some(1_364_265_975_000));
        assert_eq!(fixed(b"1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(fixed(b"2024-02-29T23:59:59.999Z"), Some(1_709_251_199_999));
        assert_eq!(fixed(b"2023-02-29T00:00:00.000Z"), None);
        assert_eq!(fixed(b"2016-12-31T23:59:60.000Z"), None);
        assert_eq!(fixed(b"1969-12-31T23:59:59.000Z"), None);
        assert!(parse_ms(b"1969-12-31T23:59:59.000Z").is_ok());
    }

    proptest! {
        #[test]
        fn agrees_with_the_general_parser_on_both_shapes(
            ms in -100_000_000_000_000i64..5_000_000_000_000,
            offset in any::<bool>(),
        ) {
            let text = if offset { format_timestamp_offset(ms) } else { format_timestamp_ms(ms) };
            prop_assert_eq!(parse_ms(text.as_bytes()).ok(), parse_timestamp_ms(text.as_bytes()).ok());
        }

        #[test]
        fn agrees_with_the_general_parser_on_mangled_input(
            ms in 0i64..4_000_000_000_000,
            offset in any::<bool>(),
            at in 0usize..25,
            byte in any::<u8>(),
        ) {
            let mut text = if offset { format_timestamp_offset(ms) } else { format_timestamp_ms(ms) }
                .into_bytes();
            let at = at % text.len();
            text[at] = byte;
            prop_assert_eq!(parse_ms(&text).ok(), parse_timestamp_ms(&text).ok());
        }

        #[test]
        fn agrees_on_arbitrary_digits(
            y in 1960u32..2110, mo in 0u32..14, d in 0u32..33, h in 0u32..25, mi in 0u32..61,
            s in 0u32..62, f in 0u32..1000, offset in any::<bool>(),
        ) {
            let text = if offset {
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}+00:00")
            } else {
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{f:03}Z")
            };
            prop_assert_eq!(parse_ms(text.as_bytes()).ok(), parse_timestamp_ms(text.as_bytes()).ok(), "{}", text);
        }
    }
}
