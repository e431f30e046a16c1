//! Post and user IDs: parsing decimal IDs from bytes.
//!
//! X IDs are unsigned 64-bit snowflakes written as decimal strings, but every ID ever issued fits in
//! a signed 64-bit integer, and Spark has no unsigned type, so xcomply accepts exactly the values
//! `0..=i64::MAX` written with 1 to 19 ASCII digits. Leading zeros are accepted (the value decides),
//! signs, spaces and anything else inside the digits are not.

use std::fmt;

/// The longest decimal ID: `i64::MAX` has 19 digits.
pub const MAX_ID_DIGITS: usize = 19;

/// A post or user ID, known to be at most `i64::MAX`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct Id(u64);

impl Id {
    /// The largest valid ID.
    pub const MAX: Id = Id(i64::MAX as u64);

    /// Wraps a value, or `None` when it is above `i64::MAX`.
    #[inline]
    pub const fn new(value: u64) -> Option<Id> {
        if value <= i64::MAX as u64 {
            Some(Id(value))
        } else {
            None
        }
    }

    /// Wraps a signed value, or `None` when it is negative.
    #[inline]
    pub const fn from_i64(value: i64) -> Option<Id> {
        if value >= 0 {
            Some(Id(value as u64))
        } else {
            None
        }
    }

    /// Parses 1 to 19 ASCII digits whose value is at most `i64::MAX`.
    ///
    /// The input must be exactly the digits: callers trim line endings and spaces first.
    ///
    /// ```
    /// use xcomply_core::Id;
    /// assert_eq!(Id::parse(b"1446017776678801409").unwrap().get(), 1_446_017_776_678_801_409);
    /// assert!(Id::parse(b"12a").is_err());
    /// ```
    #[inline]
    pub fn parse(bytes: &[u8]) -> Result<Id, IdError> {
        if bytes.is_empty() {
            return Err(IdError::new(IdErrorKind::Empty, 0, bytes));
        }
        if bytes.len() > MAX_ID_DIGITS {
            // Report a non-digit first if there is one: "12 34 56…" is a formatting problem, not
            // a length problem.
            if let Some(at) = bytes.iter().position(|b| !b.is_ascii_digit()) {
                return Err(IdError::new(IdErrorKind::NotADigit, at, bytes));
            }
            return Err(IdError::new(IdErrorKind::TooLong, MAX_ID_DIGITS, bytes));
        }
        let mut value: u64 = 0;
        for (at, &b) in bytes.iter().enumerate() {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                return Err(IdError::new(IdErrorKind::NotADigit, at, bytes));
            }
            // 19 digits never overflow u64 (its maximum has 20), so plain arithmetic is safe here.
            value = value * 10 + u64::from(digit);
        }
        Id::new(value).ok_or_else(|| IdError::new(IdErrorKind::TooLarge, 0, bytes))
    }

    /// Parses an ID with surrounding ASCII whitespace allowed (`" 123\r\n"`), as text cells and
    /// lines often carry it. Every reader of ID text (the sharder, the join) uses this one rule,
    /// so an ID that is sent to X is also matched in the dataset.
    ///
    /// ```
    /// use xcomply_core::Id;
    /// assert_eq!(Id::parse_trimmed(b" 42\r\n").unwrap().get(), 42);
    /// assert!(Id::parse_trimmed(b"4 2").is_err());
    /// ```
    #[inline]
    pub fn parse_trimmed(bytes: &[u8]) -> Result<Id, IdError> {
        Id::parse(bytes.trim_ascii())
    }

    /// Parses a string; see [`Id::parse`].
    pub fn parse_str(s: &str) -> Result<Id, IdError> {
        Id::parse(s.as_bytes())
    }

    /// The value as an unsigned integer.
    #[inline]
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The value as a signed integer; lossless because an `Id` is at most `i64::MAX`.
    #[inline]
    pub const fn as_i64(self) -> i64 {
        self.0 as i64
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::str::FromStr for Id {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Id, IdError> {
        Id::parse_str(s)
    }
}

/// Why some bytes are not an ID.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum IdErrorKind {
    /// Nothing to parse.
    Empty,
    /// A byte that is not an ASCII digit (a sign, a space, a letter, …).
    NotADigit,
    /// More than 19 digits.
    TooLong,
    /// 19 digits whose value is above `i64::MAX`.
    TooLarge,
}

/// An invalid ID, with what was found and the byte offset of the problem within the input.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IdError {
    kind: IdErrorKind,
    offset: usize,
    found: String,
}

/// How much of a bad value an error quotes: enough to recognise it, never a whole line of garbage.
const QUOTE_LIMIT: usize = 40;

impl IdError {
    fn new(kind: IdErrorKind, offset: usize, bytes: &[u8]) -> IdError {
        IdError {
            kind,
            offset,
            found: quote(bytes),
        }
    }

    /// What is wrong.
    pub fn kind(&self) -> IdErrorKind {
        self.kind
    }

    /// Byte offset of the problem within the parsed input.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The rejected value, lossily decoded and cut to a readable length.
    pub fn found(&self) -> &str {
        &self.found
    }
}

/// Renders bytes for an error message: lossy UTF-8, control characters escaped, cut at
/// [`QUOTE_LIMIT`] characters with an ellipsis.
pub fn quote(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == QUOTE_LIMIT {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            IdErrorKind::Empty => write!(f, "expected a decimal ID, found an empty value"),
            IdErrorKind::NotADigit => write!(
                f,
                "expected a decimal ID, found `{}` (not a digit at byte {})",
                self.found, self.offset
            ),
            IdErrorKind::TooLong => write!(
                f,
                "expected a decimal ID of at most {MAX_ID_DIGITS} digits, found `{}`",
                self.found
            ),
            IdErrorKind::TooLarge => write!(
                f,
                "expected a decimal ID of at most {} (i64::MAX), found `{}`",
                i64::MAX,
                self.found
            ),
        }
    }
}

impl std::error::Error for IdError {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check_err(input: &str, kind: IdErrorKind, offset: usize, message: &str) {
        let err = Id::parse(input.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), kind, "{input:?}");
        assert_eq!(err.offset(), offset, "{input:?}");
        assert_eq!(err.to_string(), message, "{input:?}");
    }

    #[test]
    fn bad_ids_are_rejected_with_what_and_where() {
        check_err(
            "",
            IdErrorKind::Empty,
            0,
            "expected a decimal ID, found an empty value",
        );
        check_err(
            "12a",
            IdErrorKind::NotADigit,
            2,
            "expected a decimal ID, found `12a` (not a digit at byte 2)",
        );
        check_err(
            "-5",
            IdErrorKind::NotADigit,
            0,
            "expected a decimal ID, found `-5` (not a digit at byte 0)",
        );
        check_err(
            "+5",
            IdErrorKind::NotADigit,
            0,
            "expected a decimal ID, found `+5` (not a digit at byte 0)",
        );
        check_err(
            "1 2",
            IdErrorKind::NotADigit,
            1,
            "expected a decimal ID, found `1 2` (not a digit at byte 1)",
        );
        check_err(
            " 12",
            IdErrorKind::NotADigit,
            0,
            "expected a decimal ID, found ` 12` (not a digit at byte 0)",
        );
        check_err(
            "12\r",
            IdErrorKind::NotADigit,
            2,
            "expected a decimal ID, found `12\\r` (not a digit at byte 2)",
        );
        check_err(
            "12345678901234567890",
            IdErrorKind::TooLong,
            19,
            "expected a decimal ID of at most 19 digits, found `12345678901234567890`",
        );
        check_err(
            "9223372036854775808",
            IdErrorKind::TooLarge,
            0,
            "expected a decimal ID of at most 9223372036854775807 (i64::MAX), found `9223372036854775808`",
        );
        check_err(
            "9999999999999999999",
            IdErrorKind::TooLarge,
            0,
            "expected a decimal ID of at most 9223372036854775807 (i64::MAX), found `9999999999999999999`",
        );
    }

    #[test]
    fn edge_values_parse() {
        assert_eq!(Id::parse(b"0").unwrap().get(), 0);
        assert_eq!(Id::parse(b"9223372036854775807").unwrap(), Id::MAX);
        assert_eq!(Id::parse(b"0000000000000000042").unwrap().get(), 42);
        assert_eq!(Id::new(u64::MAX), None);
        assert_eq!(Id::from_i64(-1), None);
    }

    #[test]
    fn long_garbage_is_quoted_short() {
        let long = "x".repeat(200);
        let err = Id::parse(long.as_bytes()).unwrap_err();
        assert_eq!(err.found().chars().count(), QUOTE_LIMIT + 1);
        assert!(err.found().ends_with('…'));
    }

    proptest! {
        #[test]
        fn valid_ids_round_trip(value in 0..=i64::MAX) {
            let text = value.to_string();
            let id = Id::parse(text.as_bytes()).unwrap();
            prop_assert_eq!(id.as_i64(), value);
            prop_assert_eq!(id.to_string(), text);
        }

        #[test]
        fn values_above_i64_max_are_rejected(value in (i64::MAX as u64 + 1)..=u64::MAX) {
            let text = value.to_string();
            let err = Id::parse(text.as_bytes()).unwrap_err();
            let expected = if text.len() > MAX_ID_DIGITS { IdErrorKind::TooLong } else { IdErrorKind::TooLarge };
            prop_assert_eq!(err.kind(), expected);
        }

        #[test]
        fn a_non_digit_is_reported_at_its_offset(value in 0..=i64::MAX, at in 0usize..19, bad in "[^0-9]") {
            let mut text = value.to_string();
            let at = at.min(text.len());
            text.insert_str(at, &bad);
            let err = Id::parse(text.as_bytes()).unwrap_err();
            // Every byte before `at` is a digit, so the inserted character is the first problem
            // whatever the length.
            prop_assert_eq!(err.kind(), IdErrorKind::NotADigit);
            prop_assert_eq!(err.offset(), at);
        }
    }
}
