//! The fields of a result line as raw bytes, and the hand-written parsers for ordinary lines.
//!
//! Both parsers (this one and the simd-json one in `decoder.rs`) produce [`Fields`]; one function
//! then validates them, so the two paths cannot disagree on what a record means.
//!
//! The fast path accepts exactly the lines whose strings are printable ASCII without escapes and
//! whose values are strings or `null`: for those the raw bytes between the quotes *are* the
//! decoded string, and the JSON grammar is small enough to check by hand. Everything else
//! (escapes, non-ASCII, numbers, nested values, a repeated known key, invalid JSON) returns `None`
//! and goes to simd-json, which also produces every syntax error message.

/// One field's value as found in the object.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) enum Slot<'a> {
    /// The key is absent.
    #[default]
    Missing,
    /// `null`.
    Null,
    /// A string, decoded (escapes resolved), as UTF-8 bytes.
    Str(&'a [u8]),
    /// Any other JSON type, named for the error message.
    Other(&'static str),
}

/// The fields of a result object that the decoder reads; other keys are ignored.
///
/// `deleted_at` (deletion events since the 2026 cutover) and `error` (error records for input
/// lines the API could not read) do not become columns: `deleted_at` is checked against and
/// stands in for `redacted_at`, and a line with `error` is an error record, not a row.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Fields<'a> {
    pub id: Slot<'a>,
    pub action: Slot<'a>,
    pub created_at: Slot<'a>,
    pub redacted_at: Slot<'a>,
    pub reason: Slot<'a>,
    pub deleted_at: Slot<'a>,
    pub error: Slot<'a>,
}

/// The names of the fields the decoder reads, as they appear in messages.
pub(crate) mod name {
    pub(crate) const ID: &str = "id";
    pub(crate) const ACTION: &str = "action";
    pub(crate) const CREATED_AT: &str = "created_at";
    pub(crate) const REDACTED_AT: &str = "redacted_at";
    pub(crate) const REASON: &str = "reason";
    pub(crate) const DELETED_AT: &str = "deleted_at";
    pub(crate) const ERROR: &str = "error";
}

impl<'a> Fields<'a> {
    /// The slot a key fills, with the field's name, or `None` for a key the decoder ignores.
    #[inline]
    pub(crate) fn slot(&mut self, key: &[u8]) -> Option<(&mut Slot<'a>, &'static str)> {
        match key {
            b"id" => Some((&mut self.id, name::ID)),
            b"action" => Some((&mut self.action, name::ACTION)),
            b"created_at" => Some((&mut self.created_at, name::CREATED_AT)),
            b"redacted_at" => Some((&mut self.redacted_at, name::REDACTED_AT)),
            b"reason" => Some((&mut self.reason, name::REASON)),
            b"deleted_at" => Some((&mut self.deleted_at, name::DELETED_AT)),
            b"error" => Some((&mut self.error, name::ERROR)),
            _ => None,
        }
    }
}

/// JSON's four whitespace bytes.
#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

#[inline]
fn skip_ws(line: &[u8], mut i: usize) -> usize {
    while i < line.len() && is_ws(line[i]) {
        i += 1;
    }
    i
}

/// Reads a string whose opening quote is just before `start`. Returns its bytes and the index
/// after the closing quote, or `None` on an escape, a control character or a non-ASCII byte.
#[inline]
fn string(line: &[u8], start: usize) -> Option<(&[u8], usize)> {
    let rest = line.get(start..)?;
    // The closing quote is found with memchr (SIMD); the bytes before it are then checked in one
    // tight pass, which the compiler vectorises, instead of branching on every byte.
    let len = memchr::memchr(b'"', rest)?;
    let body = &rest[..len];
    if body
        .iter()
        .any(|&b| b == b'\\' || !(0x20..0x80).contains(&b))
    {
        return None;
    }
    Some((body, start + len + 1))
}

/// Bytes that may appear as-is inside a fast-path string: printable ASCII except `"` and `\`.
/// A table lookup is one load per byte instead of three comparisons.
static PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0x20;
    while b < 0x80 {
        table[b] = b != b'"' as usize && b != b'\\' as usize;
        b += 1;
    }
    table
};

/// The rest of a string after its opening quote: its bytes and what follows the closing quote,
/// or `None` on an escape, a control character, a non-ASCII byte or the end of the line.
///
/// Eight bytes at a time: for each word, a mask flags the bytes that are not plain (`"`, `\\`,
/// below 0x20, 0x80 and above). The classic "has a zero byte" trick can flag a byte above a true
/// hit, never below one, so the lowest flag is exact; the string ends there if it is a quote.
#[inline]
fn plain(s: &[u8]) -> Option<(&[u8], &[u8])> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(word) = s.get(i..i + 8) {
        let w = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        let quote = w ^ (ONES * u64::from(b'"'));
        let backslash = w ^ (ONES * u64::from(b'\\'));
        let special = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (w.wrapping_sub(ONES * 0x20) & !w)
            | w;
        let special = special & HIGH;
        if special != 0 {
            let at = i + (special.trailing_zeros() / 8) as usize;
            return (s[at] == b'"').then(|| (&s[..at], &s[at + 1..]));
        }
        i += 8;
    }
    loop {
        let b = *s.get(i)?;
        if b == b'"' {
            return Some((&s[..i], &s[i + 1..]));
        }
        if !PLAIN[b as usize] {
            return None;
        }
        i += 1;
    }
}

/// Parses a line in the API's own layout, `{"id":"…","action":"…","created_at":"…",
/// "deleted_at":"…","redacted_at":"…","reason":"…"}` without spaces (`deleted_at` optional,
/// `redacted_at` optional or `null`), by matching the keys as fixed byte strings, at the start of `input`, which may hold more lines. Returns the
/// fields and the length of the line without its line end (`\n` or `\r\n`), which must follow
/// the closing brace: finding the line's end this way saves a separate search for the newline.
/// Any other line returns `None` and takes [`parse_fast`].
#[inline]
pub(crate) fn parse_usual(input: &[u8]) -> Option<(Fields<'_>, usize)> {
    let rest = input.strip_prefix(b"{\"id\":\"")?;
    let (id, rest) = plain(rest)?;
    let rest = rest.strip_prefix(b",\"action\":\"")?;
    let (action, rest) = plain(rest)?;
    let rest = rest.strip_prefix(b",\"created_at\":\"")?;
    let (created_at, rest) = plain(rest)?;
    let (deleted_at, rest) = match rest.strip_prefix(b",\"deleted_at\":\"") {
        Some(rest) => {
            let (value, rest) = plain(rest)?;
            (Slot::Str(value), rest)
        }
        None => (Slot::Missing, rest),
    };
    let (redacted_at, rest) = if let Some(rest) = rest.strip_prefix(b",\"redacted_at\":\"") {
        let (value, rest) = plain(rest)?;
        (Slot::Str(value), rest)
    } else if let Some(rest) = rest.strip_prefix(b",\"redacted_at\":null") {
        (Slot::Null, rest)
    } else {
        (Slot::Missing, rest)
    };
    let rest = rest.strip_prefix(b",\"reason\":\"")?;
    let (reason, rest) = plain(rest)?;
    let end = input.len() - rest.len() + 1;
    if !matches!(rest, [b'}', b'\n', ..] | [b'}', b'\r', b'\n', ..]) {
        return None;
    }
    let fields = Fields {
        id: Slot::Str(id),
        action: Slot::Str(action),
        created_at: Slot::Str(created_at),
        redacted_at,
        reason: Slot::Str(reason),
        deleted_at,
        error: Slot::Missing,
    };
    Some((fields, end + usize::from(rest[1] == b'\r')))
}

/// Parses an ordinary line, or returns `None` when the line needs the general parser.
#[inline]
pub(crate) fn parse_fast(line: &[u8]) -> Option<Fields<'_>> {
    let mut fields = Fields::default();
    let mut i = skip_ws(line, 0);
    if *line.get(i)? != b'{' {
        return None;
    }
    i = skip_ws(line, i + 1);
    if *line.get(i)? == b'}' {
        i += 1;
    } else {
        loop {
            if *line.get(i)? != b'"' {
                return None;
            }
            let (key, next) = string(line, i + 1)?;
            i = skip_ws(line, next);
            if *line.get(i)? != b':' {
                return None;
            }
            i = skip_ws(line, i + 1);
            let value = match *line.get(i)? {
                b'"' => {
                    let (s, next) = string(line, i + 1)?;
                    i = next;
                    Slot::Str(s)
                }
                b'n' if line[i..].starts_with(b"null") => {
                    i += 4;
                    Slot::Null
                }
                _ => return None,
            };
            if let Some((slot, _)) = fields.slot(key) {
                if *slot != Slot::Missing {
                    // A repeated known key is an error; the general path reports it.
                    return None;
                }
                *slot = value;
            }
            i = skip_ws(line, i);
            match *line.get(i)? {
                b',' => i = skip_ws(line, i + 1),
                b'}' => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    if skip_ws(line, i) != line.len() {
        return None;
    }
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_lines_take_the_fast_path() {
        let f = parse_fast(br#"{"id":"1","action":"delete","created_at":"x","reason":"deleted"}"#)
            .unwrap();
        assert_eq!(f.id, Slot::Str(b"1"));
        assert_eq!(f.redacted_at, Slot::Missing);
        let f =
            parse_fast(b" { \"id\" : \"1\" , \"redacted_at\" : null , \"extra\":\"e\"}\r").unwrap();
        assert_eq!(f.redacted_at, Slot::Null);
        assert_eq!(parse_fast(b"{}").unwrap(), Fields::default());
        let f = parse_fast(br#"{"id": "not_a_valid_id", "error": "invalid_id"}"#).unwrap();
        assert_eq!(
            (f.id, f.error, f.action),
            (
                Slot::Str(b"not_a_valid_id"),
                Slot::Str(b"invalid_id"),
                Slot::Missing
            )
        );
    }

    /// The byte-at-a-time definition `plain` must match.
    fn plain_reference(s: &[u8]) -> Option<(&[u8], &[u8])> {
        let end = s.iter().position(|&b| !PLAIN[b as usize])?;
        (s[end] == b'"').then(|| (&s[..end], &s[end + 1..]))
    }

    #[test]
    fn plain_strings_match_the_byte_by_byte_definition() {
        let alphabet = [
            b'a', b'0', b'"', b'\\', 0x1f, 0x20, 0x7f, 0x80, 0xe9, b'}', 0x00, 0xff,
        ];
        let mut rng = fastrand::Rng::with_seed(5);
        for _ in 0..50_000 {
            let len = rng.usize(..40);
            let s: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.u8(..4) == 0 {
                        alphabet[rng.usize(..alphabet.len())]
                    } else {
                        b'a' + rng.u8(..26)
                    }
                })
                .collect();
            assert_eq!(plain(&s), plain_reference(&s), "{s:?}");
        }
    }

    #[test]
    fn the_api_layout_takes_the_quickest_path() {
        let line = br#"{"id":"1","action":"delete","created_at":"x","redacted_at":"y","reason":"deleted"}"#;
        let mut input = line.to_vec();
        input.extend_from_slice(b"\n{\"id\":");
        let (fields, len) = parse_usual(&input).unwrap();
        assert_eq!(len, line.len());
        assert_eq!(Some(fields), parse_fast(line));
        assert_eq!(fields.redacted_at, Slot::Str(b"y"));
        let line = b"{\"id\":\"1\",\"action\":\"delete\",\"created_at\":\"x\",\"reason\":\"d\"}";
        let mut input = line.to_vec();
        input.extend_from_slice(b"\r\n");
        let (fields, len) = parse_usual(&input).unwrap();
        assert_eq!(len, line.len() + 1, "the \\r belongs to the line");
        assert_eq!(Some(fields), parse_fast(line));
        // The 2026 shapes: `deleted_at` before `redacted_at`, and `redacted_at` null.
        let line = br#"{"id":"1","action":"delete","created_at":"x","deleted_at":"y","redacted_at":"y","reason":"deleted"}"#;
        let mut input = line.to_vec();
        input.push(b'\n');
        let (fields, len) = parse_usual(&input).unwrap();
        assert_eq!(len, line.len());
        assert_eq!(Some(fields), parse_fast(line));
        assert_eq!(
            (fields.deleted_at, fields.redacted_at),
            (Slot::Str(b"y"), Slot::Str(b"y"))
        );
        let line = br#"{"id":"1","action":"scrub_geo","created_at":"x","redacted_at":null,"reason":"geo_scrubbed"}"#;
        let mut input = line.to_vec();
        input.push(b'\n');
        let (fields, len) = parse_usual(&input).unwrap();
        assert_eq!(len, line.len());
        assert_eq!(Some(fields), parse_fast(line));
        assert_eq!(
            (fields.deleted_at, fields.redacted_at),
            (Slot::Missing, Slot::Null)
        );
        for other in [
            &b"{\"id\": \"1\",\"action\":\"delete\",\"created_at\":\"x\",\"reason\":\"d\"}\n"[..],
            b"{\"action\":\"delete\",\"id\":\"1\",\"created_at\":\"x\",\"reason\":\"d\"}\n",
            b"{\"id\":\"1\",\"action\":\"delete\",\"created_at\":\"x\",\"reason\":\"d\",\"e\":\"e\"}\n",
            b"{\"id\":\"1\",\"action\":\"delete\",\"created_at\":\"x\",\"reason\":\"d\"} \n",
            b"{\"id\":\"1\",\"action\":\"delete\",\"created_at\":\"x\",\"reason\":\"d\"}",
            b"{\"id\":\"1\",\"action\":\"delete\",\"created_at\":\"x\",\"reason\":\"d\"}\r",
            b"{\"id\":\"1\",\"action\":\"delete\",\"created_at\":\"x\",\"redacted_at\":nul,\"reason\":\"d\"}\n",
            b"{\"id\":\"1\",\"action\":\"delete\",\"created_at\":\"x\",\"deleted_at\":null,\"reason\":\"d\"}\n",
            b"{\"id\":\"1\",\"action\":\"delete\",\"created_at\":\"x\",\"redacted_at\":\"y\",\"deleted_at\":\"y\",\"reason\":\"d\"}\n",
            b"{\"id\":\"x\",\"error\":\"invalid_id\"}\n",
            b"{\"id\":\"1\\u0031\",\"action\":\"delete\",\"created_at\":\"x\",\"reason\":\"d\"}\n",
        ] {
            assert_eq!(parse_usual(other), None, "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn anything_unusual_goes_to_the_general_parser() {
        for line in [
            &br#"{"id":"1\u0032"}"#[..],
            "{\"id\":\"é\"}".as_bytes(),
            br#"{"id":1}"#,
            br#"{"id":"1","id":"2"}"#,
            br#"{"id":"1"} x"#,
            br#"{"id":"1",}"#,
            br#"{"id":"1""#,
            br#"{"a":{"b":"c"}}"#,
            br#"{"id":nul}"#,
            br#"{"id":nullx}"#,
            br#"["id"]"#,
            b"",
            b"{\"id\":\"a\tb\"}",
        ] {
            assert_eq!(parse_fast(line), None, "{}", String::from_utf8_lossy(line));
        }
    }
}
