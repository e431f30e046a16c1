//! Decoding seeded results JSON Lines into Arrow batches on one core, in bytes per second of
//! JSON: with the hand-written fast path (the default), with simd-json for every line, and the
//! Parquet writer alone on decoded batches. These single-threaded benchmarks measure the CPU time
//! of the benchmark thread (Linux `/proc/thread-self/schedstat`), so that other processes on a
//! shared machine do not count; elsewhere they fall back to wall time. `jsonl_decode_wall`
//! measures the whole JSON → Parquet conversion (decoding and writing overlap on two threads) in
//! wall time.

use std::time::Instant;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use xcomply_bench::results_jsonl::{Shape, results};
use xcomply_core::JobType;
use xcomply_jsonl::{Decoder, DecoderOptions};

/// 16 MB of input: big enough that per-run setup vanishes and the working set is not all in
/// cache, small enough to generate in a second.
const INPUT_BYTES: usize = 16 << 20;

/// Feed size, like a download or `read` would deliver.
const CHUNK: usize = 1 << 20;

fn decode_all(input: &[u8], options: DecoderOptions) -> u64 {
    let mut decoder = Decoder::new(options);
    let mut rows = 0u64;
    for chunk in input.chunks(CHUNK) {
        let mut off = 0;
        while off < chunk.len() {
            off += decoder.decode(&chunk[off..]).expect("valid input");
            if let Some(batch) = decoder.take_full_batch() {
                rows += batch.num_rows() as u64;
            }
        }
    }
    if let Some(batch) = decoder.finish().expect("valid input") {
        rows += batch.num_rows() as u64;
    }
    rows
}

/// CPU time of the calling thread in nanoseconds: the first field of
/// `/proc/thread-self/schedstat`, or `None` where that file does not exist.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Criterion measurement of the benchmark thread's CPU time (wall time where unavailable).
struct ThreadCpu {
    start: Instant,
}

static NANOSECONDS: WallTime = WallTime;

impl Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns().unwrap_or_else(|| self.start.elapsed().as_nanos() as u64)
    }
    fn end(&self, start: u64) -> u64 {
        self.start().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Values are nanoseconds, exactly what the wall-time formatter prints.
        NANOSECONDS.formatter()
    }
}

fn decoded_batches(input: &[u8]) -> Vec<arrow_array::RecordBatch> {
    let mut decoder = Decoder::new(DecoderOptions::default());
    let mut batches = Vec::new();
    for chunk in input.chunks(CHUNK) {
        let mut off = 0;
        while off < chunk.len() {
            off += decoder.decode(&chunk[off..]).expect("valid input");
            batches.extend(decoder.take_full_batch());
        }
    }
    batches.extend(decoder.finish().expect("valid input"));
    batches
}

fn bench(c: &mut Criterion<ThreadCpu>) {
    let input = results(1, Shape::Mixed, INPUT_BYTES);
    let mut group = c.benchmark_group("jsonl_decode");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.sample_size(20);
    group.bench_function("fast_path", |b| {
        b.iter(|| decode_all(&input, DecoderOptions::default()));
    });
    group.bench_function("simd_json_only", |b| {
        b.iter(|| {
            decode_all(
                &input,
                DecoderOptions {
                    fast_path: false,
                    ..DecoderOptions::default()
                },
            )
        });
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let batches = decoded_batches(&input);
    // The Parquet writer alone on decoded batches, still counted in bytes of JSON.
    group.bench_function("write_parquet", |b| {
        b.iter(|| {
            let mut writer = xcomply_sink::results::ResultsWriter::create(
                dir.path().join("written.parquet"),
                &JobType::Tweets,
                Some(1),
            )
            .expect("create");
            for batch in &batches {
                writer.write(batch).expect("write");
            }
            writer.finish().expect("finish")
        });
    });
    group.finish();
}

fn bench_wall(c: &mut Criterion) {
    let input = results(1, Shape::Mixed, INPUT_BYTES);
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("results.parquet");
    let mut group = c.benchmark_group("jsonl_decode_wall");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.sample_size(20);
    group.bench_function("to_parquet", |b| {
        b.iter(|| {
            xcomply_sink::results::decode_reader(
                input.as_slice(),
                &JobType::Tweets,
                Some(1),
                &out,
                false,
            )
            .expect("decode")
        });
    });
    group.finish();
}

criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpu { start: Instant::now() });
    targets = bench
}
criterion_group!(wall, bench_wall);
criterion_main!(cpu, wall);
