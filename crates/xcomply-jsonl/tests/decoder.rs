//! Decoder behaviour on the inputs the API sends and the ways they go wrong. Every input runs
//! through `common::check`, which re-feeds it split at every byte offset, in random chunkings,
//! with tiny batches and through both parsing paths.

mod common;

use common::{Outcome, Row, check, check_lenient, check_with, line};
use xcomply_jsonl::{DecoderOptions, ErrorKind, ErrorRecord, JsonlError};

const T1: &str = "2019-10-29T17:02:47.000Z";
const T1_MS: i64 = 1_572_368_567_000;
const T2: &str = "2020-07-29T17:02:47.000Z";
const T2_MS: i64 = 1_596_042_167_000;
const U1: &str = "2013-03-26T02:46:15+00:00";
const U1_MS: i64 = 1_364_265_975_000;

fn row(id: i64, reason: &str, created: i64, redacted: Option<i64>) -> Row {
    (id, "delete".into(), reason.into(), created, redacted)
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../fixtures/results/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_documented_post_results_decode() {
    let out = check(&fixture("docs-tweets.jsonl"));
    assert_eq!(out.error, None);
    assert_eq!(
        out.rows,
        vec![
            row(1_265_324_480_517_361_664, "deleted", T1_MS, Some(T2_MS)),
            row(1_263_926_741_774_581_761, "protected", T1_MS, Some(T2_MS)),
            row(1_265_324_480_517_361_669, "suspended", T1_MS, Some(T2_MS)),
            row(
                906_972_198_136_631_298,
                "deleted",
                1_505_073_997_421,
                Some(1_595_374_675_607)
            ),
        ]
    );
    assert_eq!(out.stats.records, 4);
    assert_eq!(out.stats.lines, 4);
    assert_eq!(out.stats.duplicates, 0);
}

#[test]
fn the_documented_user_result_decodes_without_redacted_at() {
    let out = check(&fixture("docs-users.jsonl"));
    assert_eq!(out.error, None);
    assert_eq!(out.rows, vec![row(1_234_567, "protected", U1_MS, None)]);
}

#[test]
fn blank_lines_crlf_bom_extra_fields_and_a_last_line_without_newline_work() {
    let input = format!(
        "\u{FEFF}{}\r\n\r\n   \n{}\n\t\n{}",
        line("1", "deleted", T1, Some(T2)),
        r#"{"extra":{"nested":[1,2,{"x":null}]},"id":"2","n":3.5,"action":"delete","b":true,"created_at":"2013-03-26T02:46:15+00:00","reason":"suspended","redacted_at":null}"#,
        line("3", "scrub_geo", U1, None),
    );
    let out = check(input.as_bytes());
    assert_eq!(out.error, None);
    assert_eq!(
        out.rows,
        vec![
            row(1, "deleted", T1_MS, Some(T2_MS)),
            row(2, "suspended", U1_MS, None),
            row(3, "scrub_geo", U1_MS, None),
        ]
    );
    assert_eq!(out.stats.lines, 6);
    assert_eq!(out.stats.blank_lines, 3);
    assert_eq!(out.stats.bytes, input.len() as u64);
}

#[test]
fn escapes_and_unicode_are_decoded() {
    // `\u0064eleted` is `deleted`; the key `re\u0061son` is `reason`; non-ASCII in an extra field.
    let input = concat!(
        r#"{"id":"\u0031\u0032","action":"del\u0065te","created_at":"2019-10-29T17:02:47.000Z","re\u0061son":"\u0064eleted","note":"café ☕ \"q\" \\ \n"}"#,
        "\n",
        r#"{"id":"13","action":"delete","created_at":"2019-10-29T17:02:47.000Z","reason":"d\u00e9j\u00e0 vu 🦀"}"#,
        "\n"
    );
    let out = check(input.as_bytes());
    assert_eq!(out.error, None);
    assert_eq!(
        out.rows,
        vec![
            row(12, "deleted", T1_MS, None),
            row(13, "déjà vu 🦀", T1_MS, None)
        ]
    );
    assert_eq!(out.stats.unknown_reasons, 1);
}

#[test]
fn unknown_actions_and_reasons_are_kept_verbatim_and_counted() {
    let input = format!(
        "{}\n{}\n{}\n",
        r#"{"id":"1","action":"erase","created_at":"2019-10-29T17:02:47.000Z","reason":"geo"}"#,
        r#"{"id":"2","action":"delete","created_at":"2019-10-29T17:02:47.000Z","reason":"bounced"}"#,
        r#"{"id":"3","action":"delete","created_at":"2019-10-29T17:02:47.000Z","reason":"geo"}"#,
    );
    let out = check(input.as_bytes());
    assert_eq!(out.error, None);
    assert_eq!(
        out.rows,
        vec![
            (1, "erase".into(), "geo".into(), T1_MS, None),
            row(2, "bounced", T1_MS, None),
            row(3, "geo", T1_MS, None),
        ]
    );
    assert_eq!(out.stats.unknown_actions, 1);
    assert_eq!(out.stats.unknown_reasons, 2);
}

#[test]
fn duplicate_ids_are_kept_and_counted() {
    let input = [
        line("5", "deleted", T1, None),
        line("6", "deleted", T1, None),
        line("5", "protected", T1, None),
        line("5", "deleted", T1, None),
        line("9223372036854775807", "deleted", T1, None),
        line("0", "deleted", T1, None),
        line("0", "deleted", T1, None),
    ]
    .join("\n");
    let out = check(input.as_bytes());
    assert_eq!(out.rows.len(), 7);
    assert_eq!(out.stats.duplicates, 3);
}

/// Decodes `bad` after two good lines and returns the error, which must be on line 3.
fn error_of(bad: impl AsRef<[u8]>) -> JsonlError {
    let good = format!("{}\r\n\n", line("1", "deleted", T1, None));
    let mut input = good.clone().into_bytes();
    input.extend_from_slice(bad.as_ref());
    input.extend_from_slice(format!("\n{}\n", line("2", "deleted", T1, None)).as_bytes());
    let out = check(&input);
    let err = out.error.expect("an error");
    assert_eq!(err.line, 3, "{err}");
    assert_eq!(err.offset, good.len() as u64, "{err}");
    assert_eq!(out.rows.len(), 1, "rows before the error are delivered");
    err
}

#[test]
fn bad_lines_are_errors_with_line_and_offset() {
    let err = error_of(r#"{"id":"7","action":"delete","#);
    assert!(matches!(err.kind, ErrorKind::InvalidJson { .. }), "{err}");
    let text = err.to_string();
    assert!(text.starts_with("line 3 (byte offset "), "{text}");
    assert!(
        text.contains(r#"found invalid JSON `{"id":"7","action":"delete",`"#),
        "{text}"
    );

    let err = error_of(r#"{"id":"7","action":"delete","reason":"deleted"}"#);
    assert_eq!(
        err.kind,
        ErrorKind::MissingField {
            field: "created_at"
        }
    );
    assert_eq!(
        err.to_string(),
        "line 3 (byte offset 90): required field `created_at` is missing, expected a string"
    );

    let err = error_of(line("12a", "deleted", T1, None));
    assert!(matches!(err.kind, ErrorKind::BadId(_)), "{err}");
    assert!(
        err.to_string()
            .contains("field `id`: expected a decimal ID, found `12a`")
    );

    let err = error_of(line("-1", "deleted", T1, None));
    assert!(matches!(err.kind, ErrorKind::BadId(_)), "{err}");
    let err = error_of(line("9223372036854775808", "deleted", T1, None));
    assert!(matches!(err.kind, ErrorKind::BadId(_)), "{err}");

    let err = error_of(line("7", "deleted", "2019-13-29T17:02:47.000Z", None));
    assert!(
        matches!(
            err.kind,
            ErrorKind::BadTimestamp {
                field: "created_at",
                ..
            }
        ),
        "{err}"
    );
    let err = error_of(line("7", "deleted", T1, Some("yesterday")));
    assert!(
        err.to_string()
            .contains("field `redacted_at`: expected an RFC 3339 timestamp")
    );

    let err = error_of(
        r#"{"id":7,"action":"delete","created_at":"2019-10-29T17:02:47.000Z","reason":"deleted"}"#,
    );
    assert_eq!(
        err.kind,
        ErrorKind::WrongType {
            field: "id",
            found: "a number"
        }
    );
    let err = error_of(
        r#"{"id":"7","action":null,"created_at":"2019-10-29T17:02:47.000Z","reason":"deleted"}"#,
    );
    assert_eq!(
        err.kind,
        ErrorKind::WrongType {
            field: "action",
            found: "null"
        }
    );
    let err = error_of(
        r#"{"id":"7","id":"8","action":"delete","created_at":"2019-10-29T17:02:47.000Z","reason":"deleted"}"#,
    );
    assert_eq!(err.kind, ErrorKind::DuplicateField { field: "id" });
    let err = error_of(r#"["7","delete"]"#);
    assert_eq!(err.kind, ErrorKind::NotAnObject { found: "an array" });
    let err = error_of(format!("{} {{}}", line("7", "deleted", T1, None)));
    assert!(matches!(err.kind, ErrorKind::InvalidJson { .. }), "{err}");
    let err = error_of(b"{\"id\":\"7\xff\"}");
    assert!(matches!(err.kind, ErrorKind::InvalidJson { .. }), "{err}");
}

#[test]
fn a_truncated_last_line_is_reported() {
    let first = format!("{}\n", line("1", "deleted", T1, None));
    let input = format!("{first}{{\"id\":\"2\",\"action\":\"del");
    let out = check(input.as_bytes());
    let err = out.error.expect("an error");
    assert_eq!((err.line, err.offset), (2, first.len() as u64));
    assert!(
        matches!(err.kind, ErrorKind::TruncatedLastLine { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("the input looks truncated"),
        "{err}"
    );
    assert_eq!(out.rows.len(), 1);
}

#[test]
fn over_long_lines_are_reported_and_bounded() {
    let options = DecoderOptions {
        max_line_bytes: 100,
        ..DecoderOptions::default()
    };
    let long = format!(r#"{{"id":"1","pad":"{}"}}"#, "x".repeat(150));
    let short = line("2", "deleted", T1, None);
    assert!(short.len() <= 100);
    let input = format!("{short}\n{long}\n{short}\n");
    let out = check_with(input.as_bytes(), &options, 16);
    let err = out.error.expect("an error");
    assert_eq!(err.kind, ErrorKind::LineTooLong { limit: 100 });
    assert_eq!((err.line, err.offset), (2, short.len() as u64 + 1));

    let lenient = DecoderOptions {
        lenient: true,
        ..options
    };
    let out = check_with(input.as_bytes(), &lenient, 16);
    assert_eq!(out.error, None);
    assert_eq!(out.rows.len(), 2);
    assert_eq!(out.stats.rejected, 1);
    assert_eq!(out.stats.lines, 3);
    assert_eq!(out.rejects[0].raw, &long.as_bytes()[..100]);

    // Without any newline the limit still holds and the rest is skipped.
    let out = check_with(long.as_bytes(), &lenient, 16);
    assert_eq!(out.stats.rejected, 1);
    assert_eq!(out.stats.lines, 1);
}

#[test]
fn lenient_mode_hands_rejects_over_and_goes_on() {
    let bad1 = r#"{"id":"x","action":"delete","created_at":"2019-10-29T17:02:47.000Z","reason":"deleted"}"#;
    let bad2 = "not json";
    let bad3 = "{\"id\":\"9\",\"action\":\"del";
    let input = format!(
        "{}\n{bad1}\r\n{}\n{bad2}\n{bad3}",
        line("1", "deleted", T1, None),
        line("2", "deleted", T1, None),
    );
    let out = check_lenient(input.as_bytes());
    assert_eq!(out.error, None);
    assert_eq!(
        out.rows,
        vec![
            row(1, "deleted", T1_MS, None),
            row(2, "deleted", T1_MS, None)
        ]
    );
    assert_eq!(out.stats.rejected, 3);
    assert_eq!(out.stats.records, 2);
    let lines: Vec<u64> = out.rejects.iter().map(|r| r.error.line).collect();
    assert_eq!(lines, [2, 4, 5]);
    assert_eq!(out.rejects[0].raw, format!("{bad1}\r").as_bytes());
    assert_eq!(out.rejects[1].raw, bad2.as_bytes());
    assert!(matches!(
        out.rejects[2].error.kind,
        ErrorKind::TruncatedLastLine { .. }
    ));
    let offset = input.find(bad2).unwrap() as u64;
    assert_eq!(out.rejects[1].error.offset, offset);
}

#[test]
fn many_rejects_pause_the_decoder_until_drained() {
    // More rejects than the decoder queues at once, so `decode` must return early.
    let input = "[]\n".repeat(1000);
    let out = check_with(
        input.as_bytes(),
        &DecoderOptions {
            lenient: true,
            ..DecoderOptions::default()
        },
        4,
    );
    assert_eq!(out.stats.rejected, 1000);
    assert_eq!(out.rejects.len(), 1000);
}

#[test]
fn empty_and_blank_inputs_give_no_rows() {
    for input in ["", "\n", "\r\n\r\n", "\u{FEFF}", "  "] {
        let out = check(input.as_bytes());
        assert_eq!(out.error, None, "{input:?}");
        assert!(out.rows.is_empty());
        assert_eq!(out.stats.records, 0);
    }
}

/// A row with any action.
fn event(id: i64, action: &str, reason: &str, created: i64, redacted: Option<i64>) -> Row {
    (id, action.into(), reason.into(), created, redacted)
}

fn error_record(line: u64, offset: usize, id: &str, error: &str) -> ErrorRecord {
    ErrorRecord {
        line,
        offset: offset as u64,
        id: id.into(),
        error: error.into(),
    }
}

/// The byte offset of the start of line `n` (1-based) of `input`.
fn line_offset(input: &str, n: usize) -> usize {
    input.split_inclusive('\n').take(n - 1).map(str::len).sum()
}

#[test]
fn the_2026_post_results_decode() {
    let input = fixture("x-2026-tweets.jsonl");
    let out = check(&input);
    assert_eq!(out.error, None);
    assert_eq!(
        out.rows,
        vec![
            row(1_265_324_480_517_361_664, "deleted", T1_MS, Some(T2_MS)),
            row(1_263_926_741_774_581_761, "protected", T1_MS, Some(T2_MS)),
            row(1_265_324_480_517_361_669, "suspended", T1_MS, Some(T2_MS)),
            row(1_265_324_480_517_361_670, "deactivated", T1_MS, Some(T2_MS)),
            event(
                906_972_198_136_631_298,
                "rehydrate",
                "tweet_edited",
                1_505_073_997_421,
                Some(1_595_374_675_607)
            ),
            event(
                1_265_324_480_517_361_671,
                "scrub_geo",
                "geo_scrubbed",
                T1_MS,
                Some(T2_MS)
            ),
            event(
                1_265_324_480_517_361_672,
                "scrub_geo",
                "geo_scrubbed",
                T1_MS,
                None
            ),
        ]
    );
    let text = String::from_utf8(input).unwrap();
    assert_eq!(
        out.error_records,
        [error_record(
            8,
            line_offset(&text, 8),
            "not_a_valid_id",
            "invalid_id"
        )]
    );
    assert_eq!(out.stats.records, 7);
    assert_eq!(out.stats.error_records, 1);
    assert_eq!(out.stats.lines, 8);
    assert_eq!(
        (
            out.stats.rejected,
            out.stats.unknown_actions,
            out.stats.unknown_reasons
        ),
        (0, 0, 0),
        "the 2026 vocabulary is known"
    );
}

#[test]
fn the_2026_user_results_decode() {
    let out = check(&fixture("x-2026-users.jsonl"));
    assert_eq!(out.error, None);
    assert_eq!(
        out.rows,
        vec![
            row(1_234_567, "deactivated", U1_MS, Some(T2_MS)),
            row(1_234_568, "protected", U1_MS, None),
        ]
    );
    assert_eq!(out.stats.error_records, 1);
    assert_eq!(out.error_records[0].id, "not_a_valid_id");
}

#[test]
fn deleted_at_fills_a_missing_or_null_redacted_at_and_must_equal_a_present_one() {
    let input = [
        // `deleted_at` alone fills `redacted_at`, in both timestamp shapes.
        format!(
            r#"{{"id":"1","action":"delete","created_at":"{T1}","deleted_at":"{T2}","reason":"deleted"}}"#
        ),
        format!(
            r#"{{"id":"2","action":"delete","created_at":"{U1}","deleted_at":"2020-07-29T17:02:47+00:00","reason":"deactivated"}}"#
        ),
        // Beside a `null` `redacted_at` too, and in any key order or spacing.
        format!(
            r#"{{"reason": "deleted", "redacted_at": null, "deleted_at": "{T2}", "id": "3", "created_at": "{T1}", "action": "delete"}}"#
        ),
        // Equal instants written in the two shapes agree.
        format!(
            r#"{{"id":"4","action":"delete","created_at":"{T1}","deleted_at":"2020-07-29T17:02:47+00:00","redacted_at":"{T2}","reason":"deleted"}}"#
        ),
        // A `null` `deleted_at` is as good as none.
        format!(
            r#"{{"id":"5","action":"delete","created_at":"{T1}","deleted_at":null,"redacted_at":null,"reason":"deleted"}}"#
        ),
        // A `redacted_at` of `null` alone keeps the row, without a time.
        format!(
            r#"{{"id":"6","action":"rehydrate","created_at":"{T1}","redacted_at":null,"reason":"tweet_edited"}}"#
        ),
    ]
    .join("\n");
    let out = check(input.as_bytes());
    assert_eq!(out.error, None);
    assert_eq!(
        out.rows,
        vec![
            row(1, "deleted", T1_MS, Some(T2_MS)),
            row(2, "deactivated", U1_MS, Some(T2_MS)),
            row(3, "deleted", T1_MS, Some(T2_MS)),
            row(4, "deleted", T1_MS, Some(T2_MS)),
            row(5, "deleted", T1_MS, None),
            event(6, "rehydrate", "tweet_edited", T1_MS, None),
        ]
    );
}

#[test]
fn a_deleted_at_unlike_redacted_at_is_an_error() {
    let err = error_of(format!(
        r#"{{"id":"7","action":"delete","created_at":"{T1}","deleted_at":"{T1}","redacted_at":"{T2}","reason":"deleted"}}"#
    ));
    assert_eq!(
        err.kind,
        ErrorKind::DeletedAtMismatch {
            deleted_at: T1.into(),
            redacted_at: T2.into()
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "line 3 (byte offset 90): field `deleted_at` is `{T1}` but `redacted_at` is `{T2}`, expected the same instant"
        )
    );
    let err = error_of(format!(
        r#"{{"id":"7","action":"delete","created_at":"{T1}","deleted_at":"soon","reason":"deleted"}}"#
    ));
    assert!(
        matches!(
            err.kind,
            ErrorKind::BadTimestamp {
                field: "deleted_at",
                ..
            }
        ),
        "{err}"
    );
    let err = error_of(format!(
        r#"{{"id":"7","action":"delete","created_at":"{T1}","deleted_at":12,"reason":"deleted"}}"#
    ));
    assert_eq!(
        err.kind,
        ErrorKind::WrongType {
            field: "deleted_at",
            found: "a number"
        }
    );
}

/// Rows and error records mixed, with error records in every layout the parsers meet.
fn mixed_error_records() -> (String, Vec<ErrorRecord>) {
    let lines = [
        line("1", "deleted", T1, Some(T2)),
        // The reference's own example, spaces and all.
        r#"{"id": "not_a_valid_id", "error": "invalid_id"}"#.to_owned(),
        r#"{"id":"12a","error":"invalid_id"}"#.to_owned(),
        // Some serialisers write absent fields as `null`.
        r#"{"id":"","action":null,"reason":null,"created_at":null,"redacted_at":null,"error":"invalid_id"}"#
            .to_owned(),
        // The input line verbatim: escapes, non-ASCII, a key order of its own, an extra field.
        r#"{"error":"invalid_id","note":{"x":1},"id":"  \"12\"\t caf\u00e9 ☕"}"#.to_owned(),
        line("2", "protected", T1, None),
        r#"{"id":"99999999999999999999","error":"id_too_large"}"#.to_owned(),
        // `"error": null` is no error: this is an ordinary event.
        format!(
            r#"{{"id":"3","action":"delete","created_at":"{T1}","reason":"suspended","error":null}}"#
        ),
    ];
    let input = lines.join("\n") + "\n";
    let at = |n| line_offset(&input, n);
    let expected = vec![
        error_record(2, at(2), "not_a_valid_id", "invalid_id"),
        error_record(3, at(3), "12a", "invalid_id"),
        error_record(4, at(4), "", "invalid_id"),
        error_record(5, at(5), "  \"12\"\t café ☕", "invalid_id"),
        error_record(7, at(7), "99999999999999999999", "id_too_large"),
    ];
    (input, expected)
}

#[test]
fn error_records_are_neither_rows_nor_rejects_and_never_fail_strict_mode() {
    let (input, expected) = mixed_error_records();
    let strict = check(input.as_bytes());
    assert_eq!(strict.error, None);
    assert_eq!(
        strict.rows,
        vec![
            row(1, "deleted", T1_MS, Some(T2_MS)),
            row(2, "protected", T1_MS, None),
            row(3, "suspended", T1_MS, None),
        ]
    );
    assert_eq!(strict.error_records, expected);
    assert_eq!(strict.stats.error_records, 5);
    assert_eq!(strict.stats.records, 3);
    assert_eq!(strict.stats.lines, 8);
    assert_eq!(strict.stats.rejected, 0);
    let lenient = check_lenient(input.as_bytes());
    assert_eq!(
        lenient,
        Outcome {
            rejects: Vec::new(),
            ..strict
        }
    );
}

#[test]
fn error_records_before_a_strict_error_are_delivered() {
    let input = format!(
        "{}\n{}\n{}\n",
        r#"{"id":"x","error":"invalid_id"}"#,
        line("1", "deleted", T1, None),
        "not json",
    );
    let out = check(input.as_bytes());
    assert_eq!(out.error.map(|e| e.line), Some(3));
    assert_eq!(out.error_records.len(), 1);
    assert_eq!(out.rows.len(), 1);
}

#[test]
fn malformed_error_records_are_errors() {
    let err = error_of(r#"{"id":"7","error":"invalid_id","action":"delete"}"#);
    assert_eq!(
        err.kind,
        ErrorKind::ErrorRecordWithEvent { field: "action" }
    );
    assert_eq!(
        err.to_string(),
        "line 3 (byte offset 90): an error record (with field `error`) also has field `action`, expected either an event or an error record"
    );
    let err = error_of(format!(
        r#"{{"id":"7","action":"delete","created_at":"{T1}","reason":"deleted","error":"invalid_id"}}"#
    ));
    assert_eq!(
        err.kind,
        ErrorKind::ErrorRecordWithEvent { field: "action" }
    );
    let err = error_of(format!(
        r#"{{"id":"7","created_at":"{T1}","error":"invalid_id"}}"#
    ));
    assert_eq!(
        err.kind,
        ErrorKind::ErrorRecordWithEvent {
            field: "created_at"
        }
    );
    let err = error_of(r#"{"error":"invalid_id"}"#);
    assert_eq!(err.kind, ErrorKind::MissingField { field: "id" });
    let err = error_of(r#"{"id":7,"error":"invalid_id"}"#);
    assert_eq!(
        err.kind,
        ErrorKind::WrongType {
            field: "id",
            found: "a number"
        }
    );
    let err = error_of(r#"{"id":"7","error":{"code":"invalid_id"}}"#);
    assert_eq!(
        err.kind,
        ErrorKind::WrongType {
            field: "error",
            found: "an object"
        }
    );
    let err = error_of(r#"{"id":"7","error":"a","error":"b"}"#);
    assert_eq!(err.kind, ErrorKind::DuplicateField { field: "error" });
}

#[test]
fn many_error_records_pause_the_decoder_until_drained() {
    // More error records than the decoder queues at once, so `decode` must return early.
    let input = format!(
        "{}{}\n",
        r#"{"id":"x","error":"invalid_id"}
"#
        .repeat(300),
        line("1", "deleted", T1, None)
    );
    let out = check_with(input.as_bytes(), &DecoderOptions::default(), 4);
    assert_eq!(out.error, None);
    assert_eq!(out.stats.error_records, 300);
    assert_eq!(out.error_records.len(), 300);
    assert_eq!(out.error_records[299].line, 300);
    assert_eq!(out.rows.len(), 1);
}
