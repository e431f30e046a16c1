//! Decoding seeded results JSON Lines into Arrow batches on one core, in bytes per second of
//! JSON: with the hand-written fast path (the default), with simd-json for every line, and all
//! the way to a results Parquet file (decoding and writing overlap on two threads), and the
//! Parquet writer alone.

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

fn bench(c: &mut Criterion) {
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
    let batches = {
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
    };
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
    let out = dir.path().join("results.parquet");
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

criterion_group!(benches, bench);
criterion_main!(benches);
