//! Timestamps as the API sends them, parsed into UTC epoch milliseconds.
//!
//! Two shapes are known: `2021-08-11T19:42:55.000Z` (jobs and post results, always with three
//! fractional digits) and `2013-03-26T02:46:15+00:00` (user results). Both are RFC 3339, so the
//! parser accepts RFC 3339 date-times in general: any number of fractional digits (truncated to
//! milliseconds), `Z`/`z` or a `±HH:MM` offset, and `T`/`t` between date and time. The common
//! 24-byte shape takes a fast path with fixed offsets.

use std::fmt;

/// Parses an RFC 3339 date-time into milliseconds since 1970-01-01T00:00:00Z.
///
/// ```
/// use xcomply_core::parse_timestamp_ms;
/// assert_eq!(parse_timestamp_ms(b"2021-08-11T19:42:55.000Z").unwrap(), 1_628_710_975_000);
/// assert_eq!(parse_timestamp_ms(b"2013-03-26T02:46:15+00:00").unwrap(), 1_364_265_975_000);
/// ```
#[inline]
pub fn parse_timestamp_ms(bytes: &[u8]) -> Result<i64, TimestampError> {
    if bytes.len() == 24
        && bytes[19] == b'.'
        && bytes[23] == b'Z'
        && let Some(ms) = fast_path(bytes)
    {
        return Ok(ms);
    }
    general(bytes)
}

/// The `YYYY-MM-DDTHH:MM:SS.mmmZ` shape, read at fixed positions. Returns `None` for anything
/// unusual, and the general parser then produces the positioned error.
#[inline]
fn fast_path(b: &[u8]) -> Option<i64> {
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    let millis = digits(b, 20, 3)?;
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    Some(compose(year, month, day, hour, minute, second, millis, 0))
}

#[inline]
fn digits(b: &[u8], at: usize, len: usize) -> Option<i64> {
    let mut v = 0i64;
    for &c in &b[at..at + len] {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + i64::from(d);
    }
    Some(v)
}

#[allow(clippy::too_many_arguments)]
#[inline]
fn compose(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    millis: i64,
    offset_minutes: i64,
) -> i64 {
    // A leap second (:60) is folded into the next second, as most systems do.
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    secs * 1000 + millis
}

/// A small cursor that records where parsing failed.
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn fail(&self, expected: &'static str) -> TimestampError {
        TimestampError {
            found: crate::id::quote(self.b),
            offset: self.at,
            expected,
        }
    }

    fn number(&mut self, len: usize, expected: &'static str) -> Result<i64, TimestampError> {
        if self.b.len() < self.at + len {
            self.at = self.b.len();
            return Err(self.fail(expected));
        }
        let mut v = 0i64;
        for _ in 0..len {
            let d = self.b[self.at].wrapping_sub(b'0');
            if d > 9 {
                return Err(self.fail(expected));
            }
            v = v * 10 + i64::from(d);
            self.at += 1;
        }
        Ok(v)
    }

    fn byte(&mut self, allowed: &[u8], expected: &'static str) -> Result<u8, TimestampError> {
        match self.b.get(self.at) {
            Some(c) if allowed.contains(c) => {
                self.at += 1;
                Ok(*c)
            }
            _ => Err(self.fail(expected)),
        }
    }
}

fn general(b: &[u8]) -> Result<i64, TimestampError> {
    let mut c = Cursor { b, at: 0 };
    let year = c.number(4, "a four-digit year")?;
    c.byte(b"-", "`-` after the year")?;
    let month = c.number(2, "a two-digit month")?;
    if !(1..=12).contains(&month) {
        c.at -= 2;
        return Err(c.fail("a month from 01 to 12"));
    }
    c.byte(b"-", "`-` after the month")?;
    let day = c.number(2, "a two-digit day")?;
    if day == 0 || day > days_in_month(year, month) {
        c.at -= 2;
        return Err(c.fail("a day that exists in that month"));
    }
    c.byte(b"Tt ", "`T` between date and time")?;
    let hour = c.number(2, "a two-digit hour")?;
    if hour > 23 {
        c.at -= 2;
        return Err(c.fail("an hour from 00 to 23"));
    }
    c.byte(b":", "`:` after the hour")?;
    let minute = c.number(2, "two-digit minutes")?;
    if minute > 59 {
        c.at -= 2;
        return Err(c.fail("minutes from 00 to 59"));
    }
    c.byte(b":", "`:` after the minutes")?;
    let second = c.number(2, "two-digit seconds")?;
    if second > 60 {
        c.at -= 2;
        return Err(c.fail("seconds from 00 to 60"));
    }
    let mut millis = 0i64;
    if c.b.get(c.at) == Some(&b'.') {
        c.at += 1;
        let start = c.at;
        while let Some(d) = c.b.get(c.at).filter(|d| d.is_ascii_digit()) {
            // Digits past the third are truncated: results are stored at millisecond precision.
            if c.at - start < 3 {
                millis = millis * 10 + i64::from(d - b'0');
            }
            c.at += 1;
        }
        let n = c.at - start;
        if n == 0 {
            return Err(c.fail("fractional digits after `.`"));
        }
        for _ in n..3 {
            millis *= 10;
        }
    }
    let offset_minutes = match c.byte(b"Zz+-", "`Z` or a `+HH:MM`/`-HH:MM` offset")? {
        b'Z' | b'z' => 0,
        sign => {
            let oh = c.number(2, "a two-digit offset hour")?;
            c.byte(b":", "`:` in the offset")?;
            let om = c.number(2, "two-digit offset minutes")?;
            if oh > 23 || om > 59 {
                c.at -= 5;
                return Err(c.fail("an offset below 24:00"));
            }
            let m = oh * 60 + om;
            if sign == b'-' { -m } else { m }
        }
    };
    if c.at != b.len() {
        return Err(c.fail("the end of the timestamp"));
    }
    Ok(compose(
        year,
        month,
        day,
        hour,
        minute,
        second,
        millis,
        offset_minutes,
    ))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01, as (year, month, day).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn split(ms: i64) -> (i64, i64, i64, i64, i64, i64, i64) {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60, millis)
}

/// Formats epoch milliseconds the way the API writes job timestamps: `2021-08-11T19:42:55.000Z`.
pub fn format_timestamp_ms(ms: i64) -> String {
    let (y, mo, d, h, mi, s, milli) = split(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// Formats epoch milliseconds the way user results write them: `2013-03-26T02:46:15+00:00`
/// (seconds precision, milliseconds dropped).
pub fn format_timestamp_offset(ms: i64) -> String {
    let (y, mo, d, h, mi, s, _) = split(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}+00:00")
}

/// A timestamp that could not be parsed, with the byte offset where parsing stopped.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TimestampError {
    found: String,
    offset: usize,
    expected: &'static str,
}

impl TimestampError {
    /// Byte offset within the timestamp where the problem was found.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// What the parser expected at that offset.
    pub fn expected(&self) -> &'static str {
        self.expected
    }
}

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expected an RFC 3339 timestamp such as `2021-08-11T19:42:55.000Z`, found `{}`: \
             expected {} at byte {}",
            self.found, self.expected, self.offset
        )
    }
}

impl std::error::Error for TimestampError {}

/// A UTC timestamp at millisecond precision, written as the API writes job timestamps.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Timestamp(i64);

impl Timestamp {
    /// From epoch milliseconds.
    pub const fn from_millis(ms: i64) -> Timestamp {
        Timestamp(ms)
    }

    /// Epoch milliseconds.
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// Parses either API format; see [`parse_timestamp_ms`].
    pub fn parse(bytes: &[u8]) -> Result<Timestamp, TimestampError> {
        parse_timestamp_ms(bytes).map(Timestamp)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_timestamp_ms(self.0))
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_timestamp_ms(self.0))
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        Timestamp::parse(s.as_bytes()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check_ok(input: &str, expected: i64) {
        assert_eq!(
            parse_timestamp_ms(input.as_bytes()),
            Ok(expected),
            "{input}"
        );
    }

    fn check_err(input: &str, offset: usize, expected: &str) {
        let err = parse_timestamp_ms(input.as_bytes()).unwrap_err();
        assert_eq!(
            (err.offset(), err.expected()),
            (offset, expected),
            "{input}"
        );
    }

    #[test]
    fn known_formats() {
        check_ok("2021-08-11T19:42:55.000Z", 1_628_710_975_000);
        check_ok("2017-09-10T20:06:37.421Z", 1_505_073_997_421);
        check_ok("2013-03-26T02:46:15+00:00", 1_364_265_975_000);
        check_ok("2013-03-26T04:46:15+02:00", 1_364_265_975_000);
        check_ok("2013-03-25T21:46:15-05:00", 1_364_265_975_000);
        check_ok("2021-08-11T19:42:55Z", 1_628_710_975_000);
        // RFC 3339 allows a space between date and time.
        check_ok("2021-08-11 19:42:55.000Z", 1_628_710_975_000);
        check_ok("2021-08-11T19:42:55.4Z", 1_628_710_975_400);
        check_ok("2021-08-11T19:42:55.123456789Z", 1_628_710_975_123);
        check_ok("1970-01-01T00:00:00.000Z", 0);
        check_ok("1969-12-31T23:59:59.999Z", -1);
        check_ok("2024-02-29T00:00:00.000Z", 1_709_164_800_000);
    }

    #[test]
    fn garbage_is_rejected_with_position() {
        check_err("", 0, "a four-digit year");
        check_err("yesterday", 0, "a four-digit year");
        check_err("2021-13-11T19:42:55.000Z", 5, "a month from 01 to 12");
        check_err(
            "2023-02-29T19:42:55.000Z",
            8,
            "a day that exists in that month",
        );
        check_err("2021-08-11_19:42:55.000Z", 10, "`T` between date and time");
        check_err("2021-08-11X19:42:55.000Z", 10, "`T` between date and time");
        check_err("2021-08-11T24:00:00.000Z", 11, "an hour from 00 to 23");
        check_err("2021-08-11T19:42:55.Z", 20, "fractional digits after `.`");
        check_err(
            "2021-08-11T19:42:55.000",
            23,
            "`Z` or a `+HH:MM`/`-HH:MM` offset",
        );
        check_err(
            "2021-08-11T19:42:55.000Zjunk",
            24,
            "the end of the timestamp",
        );
        check_err("2021-08-11T19:42:55+0000", 22, "`:` in the offset");
        check_err("2021-08-11T19:42", 16, "`:` after the minutes");
        let err = parse_timestamp_ms(b"2021-08-11T19:42:55.000").unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected an RFC 3339 timestamp such as `2021-08-11T19:42:55.000Z`, found \
             `2021-08-11T19:42:55.000`: expected `Z` or a `+HH:MM`/`-HH:MM` offset at byte 23"
        );
    }

    #[test]
    fn serde_uses_the_job_format() {
        let ts: Timestamp = serde_json::from_str("\"2013-03-26T02:46:15+00:00\"").unwrap();
        assert_eq!(
            serde_json::to_string(&ts).unwrap(),
            "\"2013-03-26T02:46:15.000Z\""
        );
    }

    proptest! {
        // Years 1000..=9999 keep the four-digit year of RFC 3339.
        #[test]
        fn both_formats_round_trip(ms in -30_610_224_000_000i64..253_402_300_799_999) {
            let z = format_timestamp_ms(ms);
            prop_assert_eq!(parse_timestamp_ms(z.as_bytes()), Ok(ms));
            let offset = format_timestamp_offset(ms);
            prop_assert_eq!(parse_timestamp_ms(offset.as_bytes()), Ok(ms.div_euclid(1000) * 1000));
        }

        #[test]
        fn fast_and_general_paths_agree(ms in -30_610_224_000_000i64..253_402_300_799_999) {
            let z = format_timestamp_ms(ms);
            prop_assert_eq!(fast_path(z.as_bytes()), general(z.as_bytes()).ok());
        }

        #[test]
        fn a_corrupted_byte_is_rejected_or_still_valid(ms in 0i64..4_102_444_800_000, at in 0usize..24, c in any::<u8>()) {
            let mut bytes = format_timestamp_ms(ms).into_bytes();
            bytes[at] = c;
            // Either it is still a valid timestamp (a digit replaced by a digit) and both paths
            // agree, or it is rejected with a position inside the input.
            match parse_timestamp_ms(&bytes) {
                Ok(v) => prop_assert_eq!(Ok(v), general(&bytes)),
                Err(e) => prop_assert!(e.offset() <= bytes.len(), "{e}"),
            }
        }
    }
}
