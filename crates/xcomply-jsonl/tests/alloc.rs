//! The decoder allocates nothing per record: a counting global allocator (global only in this
//! test binary) shows that decoding ten times more records makes no more allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use xcomply_jsonl::{Decoder, DecoderOptions};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// Counting needs a `GlobalAlloc` impl, which is an unsafe trait; it only forwards to `System`.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// `n` records in a mix of layouts: compact (fast path), spaced, escaped and with non-ASCII
/// extra fields (simd-json path), both timestamp shapes, with and without `redacted_at`, with
/// `deleted_at` and with a `null` `redacted_at` (the 2026 shapes), blank lines and `\r\n`.
/// Error records are left out: like rejects they are handed over as owned values, one per
/// invalid input line.
fn records(n: usize) -> Vec<u8> {
    let mut out = String::new();
    for i in 0..n {
        let id = 1_400_000_000_000_000_000u64 + i as u64 * 7919;
        let _ = match i % 6 {
            0 => write!(
                out,
                r#"{{"id":"{id}","action":"delete","created_at":"2019-10-29T17:02:47.000Z","redacted_at":"2020-07-29T17:02:47.000Z","reason":"deleted"}}"#
            ),
            1 => write!(
                out,
                r#"{{"id": "{id}", "action": "delete", "created_at": "2013-03-26T02:46:15+00:00", "reason": "protected"}}"#
            ),
            2 => write!(
                out,
                r#"{{"id":"{id}","action":"delete","created_at":"2019-10-29T17:02:47.000Z","reason":"sus\u0070ended","note":"caf\u00e9 ☕"}}"#
            ),
            3 => write!(
                out,
                "{{\"id\":\"{id}\",\"action\":\"delete\",\"created_at\":\"2019-10-29T17:02:47.000Z\",\"reason\":\"scrub_geo\",\"n\":[1,2,3]}}\r\n"
            ),
            4 => write!(
                out,
                r#"{{"id":"{id}","action":"scrub_geo","created_at":"2019-10-29T17:02:47.000Z","redacted_at":null,"reason":"geo_scrubbed"}}"#
            ),
            _ => write!(
                out,
                r#"{{"id":"{id}","action":"delete","created_at":"2019-10-29T17:02:47.000Z","deleted_at":"2020-07-29T17:02:47.000Z","redacted_at":"2020-07-29T17:02:47.000Z","reason":"deleted"}}"#
            ),
        };
        out.push('\n');
    }
    out.into_bytes()
}

/// Allocations made while feeding `input` in 4 KiB chunks (so lines straddle chunks), after a
/// warm-up that lets the reused buffers grow to their working size.
fn allocations_while_decoding(n: usize) -> u64 {
    let input = records(n);
    let options = DecoderOptions {
        // Large enough that no batch is taken during the measurement: only per-record costs count.
        batch_size: 1 << 20,
        ..DecoderOptions::default()
    };
    let mut decoder = Decoder::new(options);
    // The warm-up sees every layout, straddling chunk boundaries the same way as the measurement.
    let warm_up = records(1000);
    for chunk in warm_up.chunks(4096) {
        assert_eq!(decoder.decode(chunk).unwrap(), chunk.len());
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for chunk in input.chunks(4096) {
        assert_eq!(decoder.decode(chunk).unwrap(), chunk.len());
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(decoder.stats().records, 1000 + n as u64);
    after - before
}

#[test]
fn decoding_allocates_nothing_per_record() {
    let a = allocations_while_decoding(2_000);
    let b = allocations_while_decoding(20_000);
    assert_eq!(
        a, b,
        "allocations grew with the number of records: {a} for 2000, {b} for 20000"
    );
    assert_eq!(b, 0, "no allocation at all once the buffers are warm");
}
