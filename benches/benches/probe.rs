//! The join's probe: "is this dataset ID flagged?" asked for every row, answered "no" about 97%
//! of the time. `IdSet` (a bitmap filter in front of an open-addressing table) against binary
//! search on the sorted flagged IDs, against its batch merge for sorted batches, and against the standard library's `HashMap`, in lookups per
//! second, for a flagged set the size of the 25-million-row benchmark's (750 000 posts) and a
//! small one (10 000 users).

use std::collections::HashMap;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use xcomply_core::seeded::{hash3, unit_interval};
use xcomply_core::snowflake_from_millis;
use xcomply_sink::probe::IdSet;

/// Probes per iteration: one 64 Ki-row read batch, times 16, so one iteration is about a
/// millisecond and per-iteration overhead vanishes.
const PROBES: usize = 1 << 20;

/// Share of probes that hit, as in the benchmark dataset (3% of posts flagged).
const HIT_RATE: f64 = 0.03;

/// Time-ordered snowflakes, as a dataset laid out by time holds them.
fn dataset_ids(n: usize) -> Vec<i64> {
    (0..n as u64)
        .map(|g| {
            snowflake_from_millis(1_577_836_800_000 + g as i64 * 100, hash3(1, 1, g)).unwrap()
                as i64
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    for flagged in [750_000usize, 10_000] {
        // The flagged IDs are a sample of a larger ID space, and the probes run through it in order.
        let space = (flagged as f64 / HIT_RATE) as usize;
        let all = dataset_ids(space);
        let flagged_ids: Vec<i64> = all
            .iter()
            .enumerate()
            .filter(|(g, _)| unit_interval(hash3(2, 2, *g as u64)) < HIT_RATE)
            .map(|(_, &id)| id)
            .collect();
        let probes: Vec<i64> = all.iter().cycle().take(PROBES).copied().collect();
        let set = IdSet::new(flagged_ids.clone());
        let mut sorted = flagged_ids.clone();
        sorted.sort_unstable();
        let map: HashMap<i64, u32> = flagged_ids
            .iter()
            .enumerate()
            .map(|(i, &id)| (id, i as u32))
            .collect();
        let expected = probes.iter().filter(|p| set.get(**p).is_some()).count();

        let mut group = c.benchmark_group(format!("probe/{flagged}_flagged"));
        group.throughput(Throughput::Elements(PROBES as u64));
        group.sample_size(20);
        group.bench_function("idset", |b| {
            b.iter(|| {
                let hits = probes.iter().filter(|p| set.get(**p).is_some()).count();
                assert_eq!(hits, expected);
            });
        });
        group.bench_function("idset_batch_merge", |b| {
            // The join's path for a time-ordered batch: a merge with the sorted flagged IDs, one
            // 64 Ki-row batch at a time (the probes cycle through the ID space, so each batch is sorted
            // except where the cycle restarts, which that batch answers by hashing).
            b.iter(|| {
                let mut hits = 0;
                for batch in probes.chunks(1 << 16) {
                    set.probe_batch(batch, None, |_, _| hits += 1);
                }
                assert_eq!(hits, expected);
            });
        });
        group.bench_function("sorted_binary_search", |b| {
            b.iter(|| {
                let hits = probes
                    .iter()
                    .filter(|p| sorted.binary_search(p).is_ok())
                    .count();
                assert_eq!(hits, expected);
            });
        });
        group.bench_function("std_hashmap", |b| {
            b.iter(|| {
                let hits = probes.iter().filter(|p| map.contains_key(p)).count();
                assert_eq!(hits, expected);
            });
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
