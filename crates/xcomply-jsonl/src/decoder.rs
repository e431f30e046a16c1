//! The streaming decoder: splits byte chunks into lines, parses each line (fast path or
//! simd-json), validates the fields and appends them to the batch being built.

use arrow_array::RecordBatch;
use simd_json::prelude::*;
use simd_json::{Buffers, INPUT_PADDING, Tape};
use xcomply_core::{Id, quote, seeded::mix64};

use crate::columns::Columns;
use crate::fields::{Fields, Slot, name, parse_fast, parse_usual};
use crate::{ErrorKind, JsonlError};

/// Rows per batch by default: 64 Ki rows is about 2.5 MB of column data, large enough that
/// per-batch costs (dictionary arrays, the Parquet writer's call) vanish, small enough that a
/// batch in flight never matters for memory.
pub const DEFAULT_BATCH_SIZE: usize = 64 * 1024;

/// The longest line accepted by default. A result line is about 150 bytes; 1 MiB leaves room for
/// any extra fields the API may add while still bounding the memory an input without newlines
/// can make the decoder hold.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

/// How many rejects the decoder queues before it pauses for the caller to drain them (lenient
/// mode). Rejects are rare; the cap only bounds memory when a whole file is garbage.
const REJECT_QUEUE: usize = 256;

/// How many error records the decoder queues before it pauses for the caller to drain them. Like
/// rejects they are rare (one per invalid line of the uploaded file) and the cap only bounds
/// memory when a whole upload was garbage.
const ERROR_RECORD_QUEUE: usize = 256;

/// Slots of the duplicate-ID table: 2^16 slots of 8 bytes (512 KiB) stay in L2 cache, so the
/// check costs a few nanoseconds per record. See [`DecodeStats::duplicates`].
const SEEN_SLOTS: usize = 1 << 16;

/// The UTF-8 byte order mark, accepted (and skipped) at the very start of the input.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How the decoder behaves.
#[derive(Clone, Copy, Debug)]
pub struct DecoderOptions {
    /// Rows per emitted batch (at least 1).
    pub batch_size: usize,
    /// Queue bad lines as [`Reject`]s and go on, instead of failing at the first one.
    pub lenient: bool,
    /// The longest accepted line, in bytes, without its newline.
    pub max_line_bytes: usize,
    /// Use the hand-written parser for ordinary lines (on by default). Turning it off sends every
    /// line through simd-json; tests use that to check that both paths agree.
    pub fast_path: bool,
}

impl Default for DecoderOptions {
    fn default() -> DecoderOptions {
        DecoderOptions {
            batch_size: DEFAULT_BATCH_SIZE,
            lenient: false,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            fast_path: true,
        }
    }
}

/// Counts of what the decoder saw.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct DecodeStats {
    /// Bytes consumed.
    pub bytes: u64,
    /// Lines seen, including blank and rejected ones (a last line without newline counts).
    pub lines: u64,
    /// Records decoded into rows.
    pub records: u64,
    /// Lines with nothing but whitespace, skipped.
    pub blank_lines: u64,
    /// Records whose ID was seen shortly before. The decoder keeps the last ID of each of 2^16
    /// hash slots (512 KiB, fixed), so every counted duplicate is real, while a repeat separated
    /// from its first occurrence by many thousands of other IDs may be missed. Duplicates are
    /// kept as rows either way; exact deduplication is the join's job.
    pub duplicates: u64,
    /// Records whose `action` is not one xcomply knows (kept verbatim).
    pub unknown_actions: u64,
    /// Records whose `reason` is not one xcomply knows (kept verbatim).
    pub unknown_reasons: u64,
    /// Lines rejected in lenient mode.
    pub rejected: u64,
    /// Error records: input lines the API could not check (`{"id": "<the line>", "error":
    /// "invalid_id"}`). They are neither rows nor rejects, never fail strict mode, and are handed
    /// over by [`Decoder::drain_error_records`].
    pub error_records: u64,
}

/// A bad line, handed to the caller in lenient mode.
#[derive(Clone, Debug, PartialEq)]
pub struct Reject {
    /// What is wrong, with line number and offset.
    pub error: JsonlError,
    /// The line as received, without its newline (cut at the line limit for over-long lines).
    pub raw: Vec<u8>,
}

/// An error record: a line of the uploaded file that the API could not check, answered by
/// `{"id": "<the line>", "error": "invalid_id"}` instead of an event (since the 2026 cutover).
///
/// It is not a row (its `id` need not be an ID) and not a reject (the results are as the API
/// meant them): the caller keeps it so that a person can see which input lines went unchecked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorRecord {
    /// 1-based line number in the results, counting blank lines too.
    pub line: u64,
    /// Byte offset of the start of the line in the results stream.
    pub offset: u64,
    /// The `id` value, decoded: the input line the API could not read, verbatim.
    pub id: String,
    /// The `error` value, decoded (`invalid_id`).
    pub error: String,
}

/// A sans-IO decoder of compliance results (JSON Lines) into Arrow record batches.
///
/// Feed it chunks of any size with [`Decoder::decode`]; take batches with
/// [`Decoder::take_full_batch`] whenever `decode` returns less than it was given; end with
/// [`Decoder::finish`]. It holds at most one partial line, one batch and a fixed-size table.
pub struct Decoder {
    options: DecoderOptions,
    columns: Columns,
    stats: DecodeStats,
    /// The start of a line whose newline has not arrived yet.
    pending: Vec<u8>,
    /// Inside an over-long line that was already reported: drop bytes until its newline.
    skipping: bool,
    /// Stream offset of the first byte of the current line.
    line_start: u64,
    /// Padded copy of a line for simd-json, which rewrites strings in place; copying keeps the
    /// caller's bytes (and a reject's raw line) intact.
    scratch: Vec<u8>,
    buffers: Buffers,
    /// simd-json's tape, kept between lines (with its lifetime erased by `Tape::reset`) so that
    /// parsing allocates nothing once the buffers have grown to the longest line.
    tape: Option<Tape<'static>>,
    seen: Box<[u64]>,
    rejects: Vec<Reject>,
    error_records: Vec<ErrorRecord>,
    failed: Option<JsonlError>,
}

impl std::fmt::Debug for Decoder {
    // simd-json's buffers have no `Debug`; what matters when debugging is the position and counts.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("options", &self.options)
            .field("stats", &self.stats)
            .field("line_start", &self.line_start)
            .field("pending_bytes", &self.pending.len())
            .field("buffered_rows", &self.columns.len())
            .field("queued_rejects", &self.rejects.len())
            .field("queued_error_records", &self.error_records.len())
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// A decoder with the given options.
    pub fn new(options: DecoderOptions) -> Decoder {
        let options = DecoderOptions {
            batch_size: options.batch_size.max(1),
            ..options
        };
        Decoder {
            columns: Columns::new(options.batch_size),
            stats: DecodeStats::default(),
            pending: Vec::new(),
            skipping: false,
            line_start: 0,
            scratch: Vec::new(),
            buffers: Buffers::new(512),
            tape: Some(Tape::null().reset()),
            seen: vec![0; SEEN_SLOTS].into_boxed_slice(),
            rejects: Vec::new(),
            error_records: Vec::new(),
            failed: None,
            options,
        }
    }

    /// What the decoder has seen so far.
    pub fn stats(&self) -> DecodeStats {
        self.stats
    }

    /// Rows in the batch being built.
    pub fn buffered_rows(&self) -> usize {
        self.columns.len()
    }

    /// Whether `decode` would stop before reading anything: a full batch, a full reject queue or
    /// a full error-record queue waits for the caller.
    fn blocked(&self) -> bool {
        self.columns.len() >= self.options.batch_size
            || self.rejects.len() >= REJECT_QUEUE
            || self.error_records.len() >= ERROR_RECORD_QUEUE
    }

    /// Decodes as much of `input` as it can and returns how many bytes it consumed.
    ///
    /// It consumes everything unless a batch fills up (take it with
    /// [`take_full_batch`](Self::take_full_batch)), the error-record queue fills up (drain it
    /// with [`drain_error_records`](Self::drain_error_records)) or, in lenient mode, the reject
    /// queue fills up (drain it with [`drain_rejects`](Self::drain_rejects)); then call again
    /// with the rest.
    /// A line cut by the end of `input` is kept internally until its newline arrives. In strict
    /// mode the first bad line is an error, and the decoder refuses further input.
    pub fn decode(&mut self, input: &[u8]) -> Result<usize, JsonlError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let base = self.stats.bytes;
        let mut pos = 0;
        while pos < input.len() {
            if self.blocked() {
                break;
            }
            let rest = &input[pos..];
            // The API's own layout is parsed in place, and its parser finds the line's end.
            if self.options.fast_path
                && self.pending.is_empty()
                && !self.skipping
                && let Some((fields, len)) = parse_usual(rest)
                && len <= self.options.max_line_bytes
            {
                self.stats.lines += 1;
                if let Err(kind) = self.accept(&fields) {
                    self.fail(kind, &rest[..len])?;
                }
                pos += len + 1;
                self.next_line(base + pos as u64);
                continue;
            }
            let Some(nl) = memchr::memchr(b'\n', rest) else {
                self.hold(rest)?;
                pos = input.len();
                break;
            };
            let end_offset = base + (pos + nl) as u64 + 1;
            if self.skipping {
                self.skipping = false;
                self.next_line(end_offset);
            } else if self.pending.len() + nl > self.options.max_line_bytes {
                // Reports the line (cut at the limit); its newline is right here.
                self.hold(&rest[..nl])?;
                self.skipping = false;
                self.next_line(end_offset);
            } else if self.pending.is_empty() {
                self.line(&rest[..nl], false)?;
                self.next_line(end_offset);
            } else {
                let mut line = std::mem::take(&mut self.pending);
                line.extend_from_slice(&rest[..nl]);
                let result = self.line(&line, false);
                line.clear();
                self.pending = line;
                result?;
                self.next_line(end_offset);
            }
            pos += nl + 1;
        }
        self.stats.bytes += pos as u64;
        Ok(pos)
    }

    /// Keeps the start of an unfinished line, or reports it once it exceeds the line limit.
    fn hold(&mut self, bytes: &[u8]) -> Result<(), JsonlError> {
        if self.skipping {
            return Ok(());
        }
        let limit = self.options.max_line_bytes;
        if self.pending.len() + bytes.len() <= limit {
            self.pending.extend_from_slice(bytes);
            return Ok(());
        }
        let room = limit - self.pending.len();
        self.pending.extend_from_slice(&bytes[..room]);
        let raw = std::mem::take(&mut self.pending);
        self.skipping = true;
        self.stats.lines += 1;
        self.fail(ErrorKind::LineTooLong { limit }, &raw)
    }

    /// Moves to the line after a newline ending at `end_offset`.
    #[inline]
    fn next_line(&mut self, end_offset: u64) {
        self.line_start = end_offset;
    }

    /// Records an error: an `Err` in strict mode, a queued reject in lenient mode.
    #[cold]
    fn fail(&mut self, kind: ErrorKind, raw: &[u8]) -> Result<(), JsonlError> {
        let error = JsonlError {
            line: self.stats.lines,
            offset: self.line_start,
            kind,
        };
        if self.options.lenient {
            self.stats.rejected += 1;
            self.rejects.push(Reject {
                error,
                raw: raw.to_vec(),
            });
            Ok(())
        } else {
            self.failed = Some(error.clone());
            Err(error)
        }
    }

    /// Decodes one line (without its newline).
    #[inline]
    fn line(&mut self, raw: &[u8], last: bool) -> Result<(), JsonlError> {
        self.stats.lines += 1;
        let mut line = raw;
        if self.line_start == 0 && line.starts_with(BOM) {
            line = &line[BOM.len()..];
        }
        if self.options.fast_path
            && let Some(fields) = parse_fast(line)
        {
            return match self.accept(&fields) {
                Ok(()) => Ok(()),
                Err(kind) => self.fail(kind, raw),
            };
        }
        if line
            .iter()
            .all(|&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        {
            self.stats.blank_lines += 1;
            return Ok(());
        }
        match self.slow(line) {
            Ok(()) => Ok(()),
            Err(ErrorKind::InvalidJson { found, .. }) if last => {
                self.fail(ErrorKind::TruncatedLastLine { found }, raw)
            }
            Err(kind) => self.fail(kind, raw),
        }
    }

    /// The general path: simd-json on a padded copy of the line.
    #[cold]
    fn slow(&mut self, line: &[u8]) -> Result<(), ErrorKind> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(line);
        scratch.resize(line.len() + INPUT_PADDING, 0);
        let mut tape: Tape<'_> = self.tape.take().unwrap_or_else(Tape::null).reset();
        let result = match simd_json::fill_tape_padded(
            &mut scratch,
            line.len(),
            &mut self.buffers,
            &mut tape,
        ) {
            Err(err) => Err(ErrorKind::InvalidJson {
                message: err.to_string(),
                found: quote(line),
            }),
            Ok(()) => fields_from_tape(&tape).and_then(|fields| self.accept(&fields)),
        };
        self.tape = Some(tape.reset());
        self.scratch = scratch;
        result
    }

    /// Validates the fields and appends the row, or queues an error record. Nothing is appended
    /// unless every field is valid.
    #[inline]
    fn accept(&mut self, f: &Fields<'_>) -> Result<(), ErrorKind> {
        if !matches!(f.error, Slot::Missing | Slot::Null) {
            return self.error_record(f);
        }
        let id = Id::parse(required(f.id, name::ID)?).map_err(ErrorKind::BadId)?;
        let action = required(f.action, name::ACTION)?;
        let created_at = timestamp(required(f.created_at, name::CREATED_AT)?, name::CREATED_AT)?;
        let redacted_at = optional_timestamp(f.redacted_at, name::REDACTED_AT)?;
        let deleted_at = optional_timestamp(f.deleted_at, name::DELETED_AT)?;
        // Deletion events carry `deleted_at` as the same instant as `redacted_at`. Two different
        // instants would make either column a guess, so that is an error; `deleted_at` alone
        // (or beside a `null` `redacted_at`) is the event's time and fills the column.
        let redacted_at = match (redacted_at, deleted_at) {
            (Some(r), Some(d)) if r != d => {
                return Err(ErrorKind::DeletedAtMismatch {
                    deleted_at: quote(slot_bytes(f.deleted_at)),
                    redacted_at: quote(slot_bytes(f.redacted_at)),
                });
            }
            (r, d) => r.or(d),
        };
        let reason = required(f.reason, name::REASON)?;

        let action_key = if let Some(k) = self.columns.action_dict.known_key(action) {
            k
        } else {
            self.stats.unknown_actions += 1;
            self.columns.action_dict.unknown_key(utf8(action))
        };
        let reason_key = if let Some(k) = self.columns.reason_dict.known_key(reason) {
            k
        } else {
            self.stats.unknown_reasons += 1;
            self.columns.reason_dict.unknown_key(utf8(reason))
        };
        let id = id.as_i64();
        // `id + 1` so that an empty slot (0) never matches; IDs are at most i64::MAX.
        let tag = id as u64 + 1;
        let slot = (mix64(tag) >> (64 - SEEN_SLOTS.trailing_zeros())) as usize;
        if self.seen[slot] == tag {
            self.stats.duplicates += 1;
        } else {
            self.seen[slot] = tag;
        }
        self.columns
            .push(id, action_key, reason_key, created_at, redacted_at);
        self.stats.records += 1;
        Ok(())
    }

    /// Queues an error record: a line with `error`, a string `id` (any string: it is the input
    /// line the API could not read) and none of the event's fields.
    #[cold]
    fn error_record(&mut self, f: &Fields<'_>) -> Result<(), ErrorKind> {
        let error = required(f.error, name::ERROR)?;
        let id = required(f.id, name::ID)?;
        // An event's fields beside `error` would leave it unclear whether the ID needs action;
        // `null` values are how some serialisers write absent fields, so they are allowed.
        for (slot, field) in [
            (f.action, name::ACTION),
            (f.reason, name::REASON),
            (f.created_at, name::CREATED_AT),
        ] {
            if !matches!(slot, Slot::Missing | Slot::Null) {
                return Err(ErrorKind::ErrorRecordWithEvent { field });
            }
        }
        self.stats.error_records += 1;
        self.error_records.push(ErrorRecord {
            line: self.stats.lines,
            offset: self.line_start,
            id: utf8(id).to_owned(),
            error: utf8(error).to_owned(),
        });
        Ok(())
    }

    /// The batch being built, once it has `batch_size` rows.
    pub fn take_full_batch(&mut self) -> Option<RecordBatch> {
        (self.columns.len() >= self.options.batch_size).then(|| self.columns.take())
    }

    /// The batch being built, whatever its size, or `None` when it is empty.
    pub fn flush(&mut self) -> Option<RecordBatch> {
        (self.columns.len() > 0).then(|| self.columns.take())
    }

    /// The queued rejects (lenient mode), oldest first.
    pub fn drain_rejects(&mut self) -> std::vec::Drain<'_, Reject> {
        self.rejects.drain(..)
    }

    /// The queued error records, oldest first. Drain them whenever `decode` returns less than
    /// it was given and after [`finish`](Self::finish), in strict and lenient mode alike.
    pub fn drain_error_records(&mut self) -> std::vec::Drain<'_, ErrorRecord> {
        self.error_records.drain(..)
    }

    /// Ends the input: decodes a last line that had no newline (reporting it as truncated when it
    /// is not valid JSON) and returns the remaining rows.
    ///
    /// Take full batches first: if the caller left one, the last batch can hold one row more than
    /// `batch_size`.
    pub fn finish(&mut self) -> Result<Option<RecordBatch>, JsonlError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if self.skipping {
            self.skipping = false;
        } else if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.line(&line, true)?;
        }
        Ok(self.flush())
    }
}

/// The bytes of a field that must be a string.
#[inline]
fn required<'a>(slot: Slot<'a>, field: &'static str) -> Result<&'a [u8], ErrorKind> {
    match slot {
        Slot::Str(s) => Ok(s),
        Slot::Missing => Err(ErrorKind::MissingField { field }),
        Slot::Null => Err(ErrorKind::WrongType {
            field,
            found: "null",
        }),
        Slot::Other(found) => Err(ErrorKind::WrongType { field, found }),
    }
}

#[inline]
fn timestamp(bytes: &[u8], field: &'static str) -> Result<i64, ErrorKind> {
    crate::time::parse_ms(bytes).map_err(|source| ErrorKind::BadTimestamp { field, source })
}

/// A timestamp field that may be absent or `null`.
#[inline]
fn optional_timestamp(slot: Slot<'_>, field: &'static str) -> Result<Option<i64>, ErrorKind> {
    match slot {
        Slot::Missing | Slot::Null => Ok(None),
        slot => timestamp(required(slot, field)?, field).map(Some),
    }
}

/// The bytes of a string field, for messages (empty for any other slot).
fn slot_bytes(slot: Slot<'_>) -> &[u8] {
    match slot {
        Slot::Str(s) => s,
        _ => b"",
    }
}

/// Field values come from a JSON parser that validated UTF-8 (simd-json) or from the fast path,
/// which only accepts ASCII, so this never replaces anything.
fn utf8(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or("\u{FFFD}")
}

/// The JSON type of a tape value, for messages.
fn type_name(value: simd_json::tape::Value<'_, '_>) -> &'static str {
    match value.value_type() {
        ValueType::Null => "null",
        ValueType::Bool => "a boolean",
        ValueType::Array => "an array",
        ValueType::Object => "an object",
        ValueType::String => "a string",
        _ => "a number",
    }
}

/// Reads the fields from a parsed line.
fn fields_from_tape<'i>(tape: &Tape<'i>) -> Result<Fields<'i>, ErrorKind> {
    let value = tape.as_value();
    let Some(object) = value.as_object() else {
        return Err(ErrorKind::NotAnObject {
            found: type_name(value),
        });
    };
    let mut fields = Fields::default();
    for (key, value) in &object {
        let Some((slot, field)) = fields.slot(key.as_bytes()) else {
            continue;
        };
        if *slot != Slot::Missing {
            return Err(ErrorKind::DuplicateField { field });
        }
        *slot = if value.is_null() {
            Slot::Null
        } else if let Some(s) = value.into_string() {
            Slot::Str(s.as_bytes())
        } else {
            Slot::Other(type_name(value))
        };
    }
    Ok(fields)
}
