//! In-memory sorting and deduplication of ID values: an LSD radix sort, run on each core's slice.

/// Bits per radix digit. Eight keeps the 256 scatter destinations of a pass within the L1 cache
/// and the TLB; eleven-bit digits save two passes but measured slower on 2-core cloud machines
/// because their 2,048 destinations thrash the TLB.
const DIGIT_BITS: u32 = 8;
const BUCKETS: usize = 1 << DIGIT_BITS;
const PASSES: usize = 64 / DIGIT_BITS as usize;

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

/// Sorts and deduplicates `data` using up to `threads` threads: the data is cut into one slice
/// per thread, each radix-sorted and deduplicated on its own. Returns the unique length of each
/// slice, in order: `data[..]` holds the slices at their original starts, each followed by
/// leftover values past its unique length. Callers merge the slices (see [`crate::merge`]).
pub fn sort_chunks(data: &mut [u64], threads: usize) -> Vec<(usize, usize)> {
    let n = data.len();
    let threads = if n < SMALL * 4 { 1 } else { threads.max(1) };
    let chunk = n.div_ceil(threads).max(1);
    let mut scratch = vec![0u64; n];
    let mut ranges = Vec::with_capacity(threads);
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        let mut start = 0;
        for (part, tmp) in data.chunks_mut(chunk).zip(scratch.chunks_mut(chunk)) {
            let len = part.len();
            handles.push((
                start,
                scope.spawn(move || {
                    radix_sort(part, tmp);
                    dedup_sorted(part)
                }),
            ));
            start += len;
        }
        for (start, handle) in handles {
            let unique = handle.join().expect("sort thread panicked");
            ranges.push((start, start + unique));
        }
    });
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
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
        fn sort_chunks_gives_sorted_unique_slices(values in proptest::collection::vec(0u64..50_000, 0..40_000), threads in 1usize..4) {
            let mut data = values.clone();
            let ranges = sort_chunks(&mut data, threads);
            let mut merged: Vec<u64> = ranges.iter().flat_map(|&(a, b)| data[a..b].to_vec()).collect();
            for &(a, b) in &ranges {
                prop_assert!(data[a..b].windows(2).all(|w| w[0] < w[1]));
            }
            merged.sort_unstable();
            merged.dedup();
            let mut expected = values;
            expected.sort_unstable();
            expected.dedup();
            prop_assert_eq!(merged, expected);
        }
    }
}
