//! In-memory sorting and deduplication of ID values: an LSD radix sort, run on each core's slice.

/// Bits per radix digit. Eight keeps the 256 scatter destinations of a pass within the L1 cache
/// and the TLB; eleven-bit digits save two passes but measured no faster on the cache-sized
/// partitions that `sort_unique` hands over.
const DIGIT_BITS: u32 = 8;
const BUCKETS: usize = 1 << DIGIT_BITS;
const PASSES: usize = 64_usize.div_ceil(DIGIT_BITS as usize);

/// Below this length the standard library's sort wins: a radix pass costs a full histogram.
const SMALL: usize = 4_096;

/// Sorts `data` ascending using `scratch` (same length) as the second buffer of the passes.
pub fn radix_sort(data: &mut [u64], scratch: &mut [u64]) {
    assert_eq!(
        data.len(),
        scratch.len(),
        "radix scratch must match the data"
    );
    let n = data.len();
    if n < SMALL {
        data.sort_unstable();
        return;
    }
    // One read of the data computes the histograms of every digit.
    let mut counts = vec![[0usize; BUCKETS]; PASSES];
    for &v in data.iter() {
        for (pass, count) in counts.iter_mut().enumerate() {
            count[((v >> (pass as u32 * DIGIT_BITS)) as usize) & (BUCKETS - 1)] += 1;
        }
    }
    let mut in_data = true;
    for (pass, count) in counts.iter().enumerate() {
        // A digit that is the same in every value (the high bits of IDs from one era, or of small
        // test values) leaves the order unchanged: skip its pass.
        if count.contains(&n) {
            continue;
        }
        let mut offsets = [0usize; BUCKETS];
        let mut sum = 0;
        for (offset, &c) in offsets.iter_mut().zip(count.iter()) {
            *offset = sum;
            sum += c;
        }
        let shift = pass as u32 * DIGIT_BITS;
        let (src, dst): (&[u64], &mut [u64]) = if in_data {
            (&*data, &mut *scratch)
        } else {
            (&*scratch, &mut *data)
        };
        for &v in src {
            let bucket = ((v >> shift) as usize) & (BUCKETS - 1);
            dst[offsets[bucket]] = v;
            offsets[bucket] += 1;
        }
        in_data = !in_data;
    }
    if !in_data {
        data.copy_from_slice(scratch);
    }
}

/// Removes adjacent duplicates from a sorted slice in place and returns the unique length.
pub fn dedup_sorted(data: &mut [u64]) -> usize {
    if data.is_empty() {
        return 0;
    }
    let mut write = 1;
    for read in 1..data.len() {
        let v = data[read];
        if v != data[write - 1] {
            data[write] = v;
            write += 1;
        }
    }
    write
}

/// Bits of the first, most-significant partition: 1,024 partitions of 26 million IDs hold about
/// 25,000 each (200 KiB), so the later LSD passes run inside a core's L2 cache instead of DRAM.
/// 4,096 partitions made the scatter slower (more TLB misses) without speeding up the passes.
const MSD_BITS: u32 = 10;

/// Partitions larger than this (only with very skewed values) are sorted in place by the standard
/// library instead of with a radix scratch buffer, which would otherwise need to be as large as the
/// partition: 1 Mi values keep the per-thread scratch at 8 MiB, inside the memory overhead budget.
const MAX_RADIX_PARTITION: usize = 1 << 20;

/// Sorts and deduplicates `data` in place using up to `threads` threads and returns the unique
/// length: `data[..returned]` is then sorted and unique.
///
/// One most-significant pass partitions the values by their top bits within the actual range
/// (from the minimum to the maximum), each thread scattering its own slice. Then each partition is
/// gathered, LSD radix-sorted while it fits the caches and deduplicated, the partitions shared
/// between the threads. Partitions are disjoint ranges of values, so their concatenation is sorted
/// and no merge is needed. Uses one scratch buffer as large as `data`.
pub fn sort_unique(data: &mut [u64], threads: usize) -> usize {
    let n = data.len();
    if n < SMALL * 4 {
        data.sort_unstable();
        return dedup_sorted(data);
    }
    let threads = threads.max(1);
    let slice_len = n.div_ceil(threads);
    let (min, max) = std::thread::scope(|scope| {
        let handles: Vec<_> = data
            .chunks(slice_len)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .fold((u64::MAX, 0), |(lo, hi), &v| (lo.min(v), hi.max(v)))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("sort thread panicked"))
            .fold((u64::MAX, 0), |(lo, hi), (a, b)| (lo.min(a), hi.max(b)))
    });
    let span_bits = 64 - (max - min).leading_zeros();
    let shift = span_bits.saturating_sub(MSD_BITS);
    let partitions = 1usize << span_bits.min(MSD_BITS);
    let partition_of = move |v: u64| ((v - min) >> shift) as usize;

    // Each thread partitions its slice of `data` into the same span of `scratch`; `local[t][p]`
    // is where partition `p` starts within thread `t`'s span, `local[t][partitions]` its end.
    let mut scratch = vec![0u64; n];
    let local: Vec<Vec<usize>> = std::thread::scope(|scope| {
        let handles: Vec<_> = data
            .chunks(slice_len)
            .zip(scratch.chunks_mut(slice_len))
            .map(|(part, out)| {
                scope.spawn(move || {
                    let mut starts = vec![0usize; partitions + 1];
                    for &v in part {
                        starts[partition_of(v) + 1] += 1;
                    }
                    for p in 0..partitions {
                        starts[p + 1] += starts[p];
                    }
                    let mut next = starts.clone();
                    for &v in part {
                        let p = partition_of(v);
                        out[next[p]] = v;
                        next[p] += 1;
                    }
                    starts
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("sort thread panicked"))
            .collect()
    });
    // Where each partition starts once gathered, over all threads.
    let mut starts = Vec::with_capacity(partitions + 1);
    let mut sum = 0;
    for p in 0..partitions {
        starts.push(sum);
        sum += local.iter().map(|l| l[p + 1] - l[p]).sum::<usize>();
    }
    starts.push(n);
    // Cut the partitions into one contiguous group per thread with about as many values each.
    let mut cuts = vec![0usize];
    for t in 1..threads {
        let p = starts
            .partition_point(|&s| s < n * t / threads)
            .min(partitions);
        if p > *cuts.last().expect("non-empty") {
            cuts.push(p);
        }
    }
    cuts.push(partitions);
    let scratch = &scratch;
    let local = &local;
    let starts_ref = &starts;
    let uniques: Vec<(usize, usize)> = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        let mut rest: &mut [u64] = data;
        for group in cuts.windows(2) {
            let (from, to) = (starts[group[0]], starts[group[1]]);
            let (part, tail) = std::mem::take(&mut rest).split_at_mut(to - from);
            rest = tail;
            let range = group[0]..group[1];
            handles.push((
                from,
                scope.spawn(move || {
                    sort_partitions(part, scratch, slice_len, local, starts_ref, range)
                }),
            ));
        }
        handles
            .into_iter()
            .map(|(from, h)| (from, h.join().expect("sort thread panicked")))
            .collect()
    });
    let mut write = 0;
    for (from, unique) in uniques {
        data.copy_within(from..from + unique, write);
        write += unique;
    }
    write
}

/// Gathers, sorts and deduplicates the partitions in `range` into `out` (which starts where the
/// first of them starts) and returns how many unique values `out` begins with.
fn sort_partitions(
    out: &mut [u64],
    scratch: &[u64],
    slice_len: usize,
    local: &[Vec<usize>],
    starts: &[usize],
    range: std::ops::Range<usize>,
) -> usize {
    let base = starts[range.start];
    let mut tmp: Vec<u64> = Vec::new();
    let mut write = 0;
    let mut last: Option<u64> = None;
    for p in range {
        let (a, b) = (starts[p] - base, starts[p + 1] - base);
        if a == b {
            continue;
        }
        let mut at = a;
        for (t, l) in local.iter().enumerate() {
            let piece = &scratch[t * slice_len + l[p]..t * slice_len + l[p + 1]];
            out[at..at + piece.len()].copy_from_slice(piece);
            at += piece.len();
        }
        let part = &mut out[a..b];
        if part.len() > MAX_RADIX_PARTITION {
            part.sort_unstable();
        } else {
            tmp.resize(part.len(), 0);
            radix_sort(part, &mut tmp);
        }
        // `write <= a`: packing never overwrites a partition not yet sorted.
        for i in a..b {
            let v = out[i];
            if last != Some(v) {
                out[write] = v;
                write += 1;
                last = Some(v);
            }
        }
    }
    write
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // Each case sorts tens of thousands of values in a debug build; 32 cases cover the digit
        // skipping and partition cuts without slowing the test suite.
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn radix_sort_matches_std(mut values in proptest::collection::vec(any::<u64>(), 0..20_000), small in any::<bool>()) {
            if small {
                for v in &mut values { *v %= 1000; }
            }
            let mut expected = values.clone();
            expected.sort_unstable();
            let mut scratch = vec![0; values.len()];
            radix_sort(&mut values, &mut scratch);
            prop_assert_eq!(values, expected);
        }

        #[test]
        fn sort_unique_matches_std(values in proptest::collection::vec(any::<u64>(), 0..60_000), modulo in prop_oneof![Just(u64::MAX), 1u64..100, 1u64..100_000], base in any::<u32>(), threads in 1usize..4) {
            let values: Vec<u64> = values.into_iter().map(|v| u64::from(base).wrapping_add(v % modulo)).collect();
            let mut data = values.clone();
            let unique = sort_unique(&mut data, threads);
            let mut expected = values;
            expected.sort_unstable();
            expected.dedup();
            prop_assert_eq!(&data[..unique], &expected[..]);
        }
    }
}
