//! The decoder against `serde_json` on generated records: escapes, unicode, extra fields, any key
//! order and spacing, valid and invalid values. `serde_json` parses each line independently and the
//! expected row is computed from its values, so both of the decoder's parsing paths are checked
//! against an unrelated JSON implementation.

mod common;

use common::{Row, check_with};
use std::fmt::Write as _;

use proptest::prelude::*;
use serde_json::Value;
use xcomply_core::{Id, format_timestamp_ms, format_timestamp_offset, parse_timestamp_ms};
use xcomply_jsonl::DecoderOptions;

/// Encodes a string as a JSON string literal, writing each character raw or as `\uXXXX`
/// (surrogate pairs beyond the BMP) as `escape_mask` says; quotes, backslashes and control
/// characters are always escaped, some with the short forms.
fn json_string(s: &str, escape_mask: u64) -> String {
    let mut out = String::from("\"");
    for (i, c) in s.chars().enumerate() {
        let escape = escape_mask >> (i % 64) & 1 == 1;
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' if !escape => out.push_str("\\n"),
            '\t' if !escape => out.push_str("\\t"),
            '/' if escape => out.push_str("\\/"),
            c if (c as u32) < 0x20 || escape => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A field value as written.
#[derive(Clone, Debug)]
enum Gen {
    Str(String),
    Null,
    Number(i64),
    Nested,
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z_]{1,12}",
        "\\PC{0,8}",
        "[\"\\\\/\u{0}-\u{1f}é☕🦀]{1,6}",
    ]
}

fn timestamp() -> impl Strategy<Value = Gen> {
    let ms = 1_150_000_000_000i64..1_800_000_000_000;
    prop_oneof![
        6 => ms.clone().prop_map(|ms| Gen::Str(format_timestamp_ms(ms))),
        3 => ms.prop_map(|ms| Gen::Str(format_timestamp_offset(ms / 1000 * 1000))),
        1 => text().prop_map(Gen::Str),
        1 => Just(Gen::Null),
        1 => any::<i64>().prop_map(Gen::Number),
    ]
}

fn string_field(common: &'static [&'static str]) -> impl Strategy<Value = Gen> {
    prop_oneof![
        8 => prop::sample::select(common).prop_map(|s| Gen::Str(s.to_owned())),
        2 => text().prop_map(Gen::Str),
        1 => Just(Gen::Null),
        1 => Just(Gen::Nested),
    ]
}

fn id() -> impl Strategy<Value = Gen> {
    prop_oneof![
        8 => (0..=i64::MAX).prop_map(|v| Gen::Str(v.to_string())),
        1 => "[0-9]{19,21}".prop_map(Gen::Str),
        1 => text().prop_map(Gen::Str),
        1 => any::<i64>().prop_map(Gen::Number),
    ]
}

/// One generated line: fields in some order (some absent), extra fields, spacing and escapes.
#[derive(Clone, Debug)]
struct Line {
    fields: Vec<(String, Gen)>,
    spaced: bool,
    escape_mask: u64,
}

impl Line {
    fn render(&self) -> String {
        let (colon, comma) = if self.spaced {
            (": ", ", ")
        } else {
            (":", ",")
        };
        let body: Vec<String> = self
            .fields
            .iter()
            .enumerate()
            .map(|(i, (k, v))| {
                let mask = self.escape_mask.rotate_left(i as u32 * 7);
                let value = match v {
                    Gen::Str(s) => json_string(s, mask),
                    Gen::Null => "null".into(),
                    Gen::Number(n) => n.to_string(),
                    Gen::Nested => r#"{"a":[1,"b",null]}"#.into(),
                };
                format!("{}{colon}{value}", json_string(k, mask >> 32))
            })
            .collect();
        format!("{{{}}}", body.join(comma))
    }
}

fn line() -> impl Strategy<Value = Line> {
    let known = (
        prop::option::weighted(0.97, id()),
        prop::option::weighted(0.97, string_field(&["delete"])),
        prop::option::weighted(0.97, timestamp()),
        prop::option::weighted(0.7, timestamp()),
        prop::option::weighted(
            0.97,
            string_field(&[
                "deleted",
                "protected",
                "suspended",
                "deactivated",
                "scrub_geo",
                "tweet_edited",
                "geo_scrubbed",
            ]),
        ),
    );
    // The 2026 fields: `deleted_at` (often a copy of `redacted_at`, as the API sends it) and
    // `error`, whose lines are error records when they carry none of an event's fields.
    let new = (
        prop::option::weighted(0.3, (any::<bool>(), timestamp())),
        prop::option::weighted(0.15, string_field(&["invalid_id"])),
        any::<bool>(),
    );
    let extra = prop::collection::vec(("x[a-z]{0,4}|\\PC{1,4}", string_field(&["v"])), 0..3);
    (known, new, extra, any::<bool>(), any::<u64>(), any::<u64>()).prop_map(
        |(
            (id, mut action, mut created, redacted, mut reason),
            (deleted, error, bare),
            extra,
            spaced,
            escape_mask,
            order,
        )| {
            let deleted = deleted.map(|(copy, own)| match (&redacted, copy) {
                (Some(r @ Gen::Str(_)), true) => r.clone(),
                _ => own,
            });
            if error.is_some() && bare {
                (action, created, reason) = (None, None, None);
            }
            let mut fields: Vec<(String, Gen)> = [
                ("id", id),
                ("action", action),
                ("created_at", created),
                ("deleted_at", deleted),
                ("redacted_at", redacted),
                ("reason", reason),
                ("error", error),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
            .collect();
            // A third of the lines keep the API's key order without extra fields (the decoder's
            // quickest path when compact); the rest get extra fields and a seeded key order.
            if order % 3 != 0 {
                for (k, v) in extra {
                    if !fields.iter().any(|(f, _)| *f == k) {
                        fields.push((k, v));
                    }
                }
                let mut rng = fastrand::Rng::with_seed(order);
                rng.shuffle(&mut fields);
            }
            // Escaping only when the mask's top bit says so, so that most lines are plain and
            // both parsing paths get exercised.
            let escape_mask = if escape_mask >> 63 == 1 {
                escape_mask
            } else {
                0
            };
            Line {
                fields,
                spaced,
                escape_mask,
            }
        },
    )
}

/// What a line decodes to.
#[derive(Debug)]
enum Expected {
    Row(Row),
    /// An error record's `id` and `error`.
    ErrorRecord(String, String),
    Reject,
}

/// What the line should decode to, computed from `serde_json`'s reading of it.
fn expected(rendered: &str) -> Expected {
    let value: Value = serde_json::from_str(rendered).expect("generated lines are valid JSON");
    let Some(object) = value.as_object() else {
        return Expected::Reject;
    };
    let absent = |k: &str| matches!(object.get(k), None | Some(Value::Null));
    let string = |k: &str| object.get(k).and_then(Value::as_str);
    if !absent("error") {
        return match (string("id"), string("error")) {
            (Some(id), Some(error))
                if absent("action") && absent("reason") && absent("created_at") =>
            {
                Expected::ErrorRecord(id.to_owned(), error.to_owned())
            }
            _ => Expected::Reject,
        };
    }
    event(object).map_or(Expected::Reject, Expected::Row)
}

/// The row of an event line, or `None` when the line must be rejected.
fn event(object: &serde_json::Map<String, Value>) -> Option<Row> {
    let string = |k: &str| object.get(k).and_then(Value::as_str);
    let id = Id::parse(string("id")?.as_bytes()).ok()?.as_i64();
    let action = string("action")?.to_owned();
    let reason = string("reason")?.to_owned();
    let created = parse_timestamp_ms(string("created_at")?.as_bytes()).ok()?;
    let optional = |k: &str| match object.get(k) {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) => parse_timestamp_ms(s.as_bytes()).ok().map(Some),
        Some(_) => None,
    };
    let redacted = optional("redacted_at")?;
    let deleted = optional("deleted_at")?;
    if redacted.is_some() && deleted.is_some() && redacted != deleted {
        return None;
    }
    Some((id, action, reason, created, redacted.or(deleted)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn decoder_agrees_with_serde_json(lines in prop::collection::vec(line(), 1..6), crlf: bool) {
        let rendered: Vec<String> = lines.iter().map(Line::render).collect();
        let newline = if crlf { "\r\n" } else { "\n" };
        let input = rendered.join(newline);
        let options = DecoderOptions { lenient: true, ..DecoderOptions::default() };
        let out = check_with(input.as_bytes(), &options, 4);

        let mut rows = Vec::new();
        let mut error_records = Vec::new();
        let mut rejected_lines = Vec::new();
        for (n, line) in rendered.iter().enumerate() {
            match expected(line) {
                Expected::Row(row) => rows.push(row),
                Expected::ErrorRecord(id, error) => error_records.push((n as u64 + 1, id, error)),
                Expected::Reject => rejected_lines.push(n as u64 + 1),
            }
        }
        prop_assert_eq!(&out.rows, &rows, "input: {}", input);
        let got: Vec<u64> = out.rejects.iter().map(|r| r.error.line).collect();
        prop_assert_eq!(got, rejected_lines, "input: {}", input);
        let got: Vec<(u64, String, String)> = out
            .error_records
            .iter()
            .map(|e| (e.line, e.id.clone(), e.error.clone()))
            .collect();
        prop_assert_eq!(got, error_records, "input: {}", input);
        prop_assert_eq!(out.stats.records, rows.len() as u64);
    }
}
