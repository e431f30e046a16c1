//! The one way every decoder test runs its input: whole, split in two at every byte offset, in
//! random chunkings, with tiny batches, and through both parsing paths. All runs must agree.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use arrow_array::types::Int32Type;
use arrow_array::{
    Array, DictionaryArray, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use xcomply_jsonl::{DecodeStats, Decoder, DecoderOptions, ErrorRecord, JsonlError, Reject};

/// A decoded row: `id`, `action`, `reason`, `created_at`, `redacted_at`.
pub type Row = (i64, String, String, i64, Option<i64>);

/// Everything a run produced.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    pub rows: Vec<Row>,
    pub stats: DecodeStats,
    pub rejects: Vec<Reject>,
    /// Error records (`{"id": …, "error": …}`), in order.
    pub error_records: Vec<ErrorRecord>,
    pub error: Option<JsonlError>,
}

fn dict_value(batch: &RecordBatch, col: usize, row: usize) -> String {
    let dict = batch
        .column(col)
        .as_any()
        .downcast_ref::<DictionaryArray<Int32Type>>()
        .unwrap();
    let values = dict
        .values()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    values.value(dict.keys().value(row) as usize).to_owned()
}

/// The rows of a decoded batch, checking its schema on the way.
pub fn rows_of(batch: &RecordBatch) -> Vec<Row> {
    assert_eq!(batch.schema(), xcomply_jsonl::decoded_schema());
    let ids = batch
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    let ts = |c: usize| {
        batch
            .column(c)
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .unwrap()
            .clone()
    };
    let (created, redacted) = (ts(3), ts(4));
    (0..batch.num_rows())
        .map(|r| {
            (
                ids.value(r),
                dict_value(batch, 1, r),
                dict_value(batch, 2, r),
                created.value(r),
                redacted.is_valid(r).then(|| redacted.value(r)),
            )
        })
        .collect()
}

/// Feeds `input` cut at `cuts` (ascending offsets) and collects the outcome.
pub fn run_chunks(input: &[u8], options: &DecoderOptions, cuts: &[usize]) -> Outcome {
    let mut decoder = Decoder::new(*options);
    let mut rows = Vec::new();
    let mut rejects = Vec::new();
    let mut error_records = Vec::new();
    let mut error = None;
    let mut start = 0;
    let ends = cuts.iter().copied().chain([input.len()]);
    'feed: for end in ends {
        let chunk = &input[start..end];
        let mut off = 0;
        loop {
            match decoder.decode(&chunk[off..]) {
                Ok(n) => off += n,
                Err(e) => {
                    error = Some(e);
                    break 'feed;
                }
            }
            if let Some(batch) = decoder.take_full_batch() {
                assert!(batch.num_rows() == options.batch_size.max(1));
                rows.extend(rows_of(&batch));
            }
            rejects.extend(decoder.drain_rejects());
            error_records.extend(decoder.drain_error_records());
            if off == chunk.len() {
                break;
            }
        }
        start = end;
    }
    if error.is_none() {
        match decoder.finish() {
            Ok(Some(batch)) => rows.extend(rows_of(&batch)),
            Ok(None) => {}
            Err(e) => error = Some(e),
        }
        rejects.extend(decoder.drain_rejects());
    }
    // Error records queued before a strict-mode error are delivered too, like its rows.
    error_records.extend(decoder.drain_error_records());
    if error.is_some()
        && let Some(batch) = decoder.flush()
    {
        // Rows decoded before the error, whichever batch they were waiting in.
        rows.extend(rows_of(&batch));
    }
    let mut stats = decoder.stats();
    if error.is_some() {
        // How far the decoder read before the error depends on the chunking.
        stats.bytes = 0;
    }
    Outcome {
        rows,
        stats,
        rejects,
        error_records,
        error,
    }
}

/// Runs `input` every way and asserts that every run gives the same outcome; returns it.
pub fn check_with(input: &[u8], options: &DecoderOptions, random_chunkings: u64) -> Outcome {
    let whole = run_chunks(input, options, &[]);
    let variants = [
        *options,
        DecoderOptions {
            fast_path: !options.fast_path,
            ..*options
        },
        DecoderOptions {
            batch_size: 1,
            ..*options
        },
        DecoderOptions {
            batch_size: 3,
            ..*options
        },
    ];
    for (v, opts) in variants.iter().enumerate() {
        assert_eq!(run_chunks(input, opts, &[]), whole, "variant {v}: {opts:?}");
    }
    for cut in 0..=input.len() {
        assert_eq!(
            run_chunks(input, options, &[cut]),
            whole,
            "split at byte {cut}"
        );
    }
    for seed in 0..random_chunkings {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut cuts = Vec::new();
        let mut at = 0;
        let max_chunk = 1 + rng.usize(..64);
        loop {
            at += 1 + rng.usize(..max_chunk);
            if at >= input.len() {
                break;
            }
            cuts.push(at);
        }
        let opts = &variants[(seed % 4) as usize];
        assert_eq!(
            run_chunks(input, opts, &cuts),
            whole,
            "seed {seed}: cuts {cuts:?}, {opts:?}"
        );
    }
    whole
}

/// [`check_with`] with the default options and 32 random chunkings.
pub fn check(input: &[u8]) -> Outcome {
    check_with(input, &DecoderOptions::default(), 32)
}

/// [`check`] in lenient mode.
pub fn check_lenient(input: &[u8]) -> Outcome {
    check_with(
        input,
        &DecoderOptions {
            lenient: true,
            ..DecoderOptions::default()
        },
        32,
    )
}

/// A record line in the compact layout the API writes.
pub fn line(id: &str, reason: &str, created: &str, redacted: Option<&str>) -> String {
    match redacted {
        Some(r) => format!(
            r#"{{"id":"{id}","action":"delete","created_at":"{created}","redacted_at":"{r}","reason":"{reason}"}}"#
        ),
        None => format!(
            r#"{{"id":"{id}","action":"delete","created_at":"{created}","reason":"{reason}"}}"#
        ),
    }
}
