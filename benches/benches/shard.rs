//! The shard core: the text ID parser and the in-memory sort and dedupe, on seeded IDs
//! (`xcomply_bench::ids`, the same generator as `scripts/bench-shard`).
//!
//! `cargo bench -p xcomply-bench --bench shard`. The end-to-end comparison against `sort`, `DuckDB`
//! and polars is `scripts/bench-shard`.

use std::hint::black_box;
use std::io::Cursor;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use xcomply_core::Id;
use xcomply_shard::{IdSink, Reject, ShardError, read_text_from, sort::sort_unique};

/// Two million IDs: big enough that the sort leaves the caches like the real runs, small enough
/// for criterion's repetitions.
const IDS: u64 = 2_000_000;

/// Counts what the parser hands over, so that the bench measures parsing alone.
#[derive(Default)]
struct Count(u64);

impl IdSink for Count {
    fn push_ids(&mut self, ids: &[Id]) -> Result<(), ShardError> {
        self.0 += ids.len() as u64;
        Ok(())
    }
    fn push_invalid(&mut self, _: &Reject) -> Result<(), ShardError> {
        Ok(())
    }
    fn push_nulls(&mut self, _: u64) {}
}

fn bench(c: &mut Criterion) {
    let ids: Vec<u64> = xcomply_bench::ids::seeded_ids(1, IDS, 0.05).collect();
    let text: Arc<[u8]> = ids
        .iter()
        .map(|id| id.to_string() + "\n")
        .collect::<String>()
        .into_bytes()
        .into();
    let threads = std::thread::available_parallelism().map_or(2, usize::from);

    let mut group = c.benchmark_group("shard");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("parse_text", |b| {
        b.iter(|| {
            let mut count = Count::default();
            let reader = Box::new(Cursor::new(Arc::clone(&text)));
            read_text_from("bench", reader, false, threads, &mut count).unwrap();
            assert_eq!(black_box(count.0), IDS);
        });
    });
    group.throughput(Throughput::Elements(IDS));
    group.bench_function("sort_unique", |b| {
        b.iter_batched_ref(
            || ids.clone(),
            |data| black_box(sort_unique(data, threads)),
            criterion::BatchSize::LargeInput,
        );
    });
    group.bench_function("std_sort_unstable_dedup", |b| {
        b.iter_batched_ref(
            || ids.clone(),
            |data| {
                data.sort_unstable();
                data.dedup();
                black_box(data.len())
            },
            criterion::BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
