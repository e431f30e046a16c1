//! The probe structure of the join: a set of flagged IDs sized to the flagged set, asked once per
//! dataset row.
//!
//! A join asks tens of millions of times "is this ID flagged?" and almost always hears "no" (a few
//! percent of posts are flagged). So [`IdSet`] answers in two steps: a one-bit-per-slot filter of
//! 16 bits per flagged ID (2 KiB per thousand IDs, so a million flagged IDs fit in a 2 MiB, mostly
//! cache-resident bitmap) rejects about 94% of the misses with one memory read, and an
//! open-addressing table with linear probing, half full, resolves the rest. It also keeps the IDs
//! sorted, to tell whether a row group's min/max range can hold any of them.
//!
//! `benches/benches/probe.rs` compares it with binary search on the sorted IDs and with the
//! standard library's hash set.

use arrow_buffer::NullBuffer;

/// Slot value of an empty table slot. No flagged ID is negative: results IDs are parsed by
/// `xcomply_core::Id`, which only accepts 0..=`i64::MAX`.
const EMPTY: i64 = i64::MIN;

/// Filter bits per flagged ID. With one hash function the false-positive rate is
/// 1 − e^(−1/16) ≈ 6%; more bits cost cache space for little gain.
const FILTER_BITS_PER_ID: usize = 16;

/// A set of IDs with O(1) lookups that returns each ID's index in the sorted ID list, so callers
/// keep per-ID data (reason, redaction time) in a parallel vector.
#[derive(Clone, Debug)]
pub struct IdSet {
    sorted: Vec<i64>,
    filter: Vec<u64>,
    filter_shift: u32,
    slots: Vec<i64>,
    slot_index: Vec<u32>,
    slot_shift: u32,
}

/// Fibonacci hashing: one multiply, the top bits well mixed even for IDs that differ only in
/// their high (time) bits or only in their low (sequence) bits.
#[inline]
fn fib(id: i64, multiplier: u64, shift: u32) -> usize {
    ((id as u64).wrapping_mul(multiplier) >> shift) as usize
}

const SLOT_MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;
const FILTER_MULTIPLIER: u64 = 0xc2b2_ae3d_27d4_eb4f;

impl IdSet {
    /// Builds the set; duplicates are dropped. Indices returned by [`IdSet::get`] refer to
    /// [`IdSet::ids`], the sorted unique IDs.
    ///
    /// # Panics
    /// If an ID is negative or there are more than `u32::MAX` IDs.
    pub fn new(mut ids: Vec<i64>) -> IdSet {
        ids.sort_unstable();
        ids.dedup();
        assert!(
            ids.first().is_none_or(|&f| f >= 0),
            "flagged IDs are never negative"
        );
        assert!(
            u32::try_from(ids.len()).is_ok(),
            "at most u32::MAX flagged IDs"
        );
        // Table at most half full keeps linear probes short.
        let slots_len = (ids.len() * 2).next_power_of_two().max(16);
        let slot_shift = 64 - slots_len.trailing_zeros();
        let filter_bits = (ids.len() * FILTER_BITS_PER_ID).next_power_of_two().max(64);
        let filter_shift = 64 - filter_bits.trailing_zeros();
        let mut slots = vec![EMPTY; slots_len];
        let mut slot_index = vec![0u32; slots_len];
        let mut filter = vec![0u64; filter_bits / 64];
        for (i, &id) in ids.iter().enumerate() {
            let bit = fib(id, FILTER_MULTIPLIER, filter_shift);
            filter[bit / 64] |= 1 << (bit % 64);
            let mut s = fib(id, SLOT_MULTIPLIER, slot_shift);
            while slots[s] != EMPTY {
                s = (s + 1) & (slots_len - 1);
            }
            slots[s] = id;
            slot_index[s] = i as u32;
        }
        IdSet {
            sorted: ids,
            filter,
            filter_shift,
            slots,
            slot_index,
            slot_shift,
        }
    }

    /// The index of `id` in [`IdSet::ids`], if it is in the set.
    #[inline]
    pub fn get(&self, id: i64) -> Option<usize> {
        let bit = fib(id, FILTER_MULTIPLIER, self.filter_shift);
        if self.filter[bit / 64] & (1 << (bit % 64)) == 0 {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut s = fib(id, SLOT_MULTIPLIER, self.slot_shift);
        loop {
            let k = self.slots[s];
            // Empty first: an ID equal to the sentinel must not match an empty slot.
            if k == EMPTY {
                return None;
            }
            if k == id {
                return Some(self.slot_index[s] as usize);
            }
            s = (s + 1) & mask;
        }
    }

    /// Looks up every valid value of a batch and calls `hit(row, index)` for each one in the set,
    /// in row order. Values at rows that `valid` marks null are skipped.
    ///
    /// When the batch's valid values are non-decreasing (post IDs of a dataset laid out by time),
    /// it merges them with the sorted IDs, galloping over gaps: sequential memory access instead of
    /// one random cache line per row. Otherwise it asks [`IdSet::get`] row by row.
    pub fn probe_batch(
        &self,
        values: &[i64],
        valid: Option<&NullBuffer>,
        mut hit: impl FnMut(usize, usize),
    ) {
        let is_valid = |i: usize| valid.is_none_or(|v| v.is_valid(i));
        if self.sorted.is_empty() {
            return;
        }
        let sorted_batch = if valid.is_none() {
            values.is_sorted()
        } else {
            let mut prev = i64::MIN;
            let mut ok = true;
            for (i, &v) in values.iter().enumerate() {
                if is_valid(i) {
                    ok &= v >= prev;
                    prev = v;
                }
            }
            ok
        };
        if !sorted_batch {
            for (i, &v) in values.iter().enumerate() {
                if let Some(x) = self.get(v)
                    && is_valid(i)
                {
                    hit(i, x);
                }
            }
            return;
        }
        let s = &self.sorted[..];
        let mut c = 0usize;
        for (i, &v) in values.iter().enumerate() {
            if valid.is_some() && !is_valid(i) {
                continue;
            }
            if c < s.len() && s[c] < v {
                c = gallop(s, c, v);
            }
            if c < s.len() && s[c] == v {
                hit(i, c);
            }
        }
    }

    /// Whether any ID of the set lies in `lo..=hi`: a row group whose statistics say its IDs
    /// are all in that range can be skipped when this is false.
    pub fn any_in_range(&self, lo: i64, hi: i64) -> bool {
        let first = self.sorted.partition_point(|&x| x < lo);
        self.sorted.get(first).is_some_and(|&x| x <= hi)
    }

    /// The sorted unique IDs.
    pub fn ids(&self) -> &[i64] {
        &self.sorted
    }

    /// Number of IDs.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }
}

/// The first index at or after `from` whose value is not below `v`, given `s[from] < v`:
/// exponential steps, then a binary search in the last step.
#[inline]
fn gallop(s: &[i64], from: usize, v: i64) -> usize {
    let mut lo = from;
    let mut step = 1;
    while lo + step < s.len() && s[lo + step] < v {
        lo += step;
        step *= 2;
    }
    let hi = (lo + step + 1).min(s.len());
    lo + s[lo..hi].partition_point(|&x| x < v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn agrees_with_binary_search(ids in proptest::collection::vec(0i64..5_000, 0..300), probes in proptest::collection::vec(-10i64..5_100, 0..300)) {
            let set = IdSet::new(ids.clone());
            let mut sorted = ids;
            sorted.sort_unstable();
            sorted.dedup();
            prop_assert_eq!(set.ids(), &sorted[..]);
            for p in probes {
                prop_assert_eq!(set.get(p), sorted.binary_search(&p).ok());
                let lo = p - 20;
                prop_assert_eq!(set.any_in_range(lo, p), sorted.iter().any(|&x| (lo..=p).contains(&x)));
            }
        }
    }

    proptest! {
        #[test]
        fn batch_probe_agrees_with_get(ids in proptest::collection::vec(0i64..2_000, 0..200), mut batch in proptest::collection::vec(0i64..2_100, 0..300), sort in any::<bool>(), nulls in proptest::collection::vec(any::<bool>(), 300)) {
            let set = IdSet::new(ids);
            if sort {
                batch.sort_unstable();
            }
            let valid: Vec<bool> = nulls[..batch.len()].iter().map(|n| !n).collect();
            // Values under nulls are arbitrary: make them break the order on purpose.
            for (v, ok) in batch.iter_mut().zip(&valid) {
                if !ok {
                    *v = 0;
                }
            }
            let buffer = NullBuffer::from(valid.clone());
            for with_nulls in [false, true] {
                let mut got = Vec::new();
                set.probe_batch(&batch, with_nulls.then_some(&buffer), |i, x| got.push((i, x)));
                let want: Vec<(usize, usize)> = batch.iter().enumerate()
                    .filter(|(i, _)| !with_nulls || valid[*i])
                    .filter_map(|(i, &v)| set.get(v).map(|x| (i, x)))
                    .collect();
                prop_assert_eq!(got, want);
            }
        }
    }

    #[test]
    fn snowflake_ids_and_extremes() {
        let ids: Vec<i64> = (0..10_000i64)
            .map(|i| (1_600_000_000_000 << 22) + i * 4_194_304)
            .collect();
        let mut all = ids.clone();
        all.push(i64::MAX);
        all.push(0);
        let set = IdSet::new(all);
        for (i, id) in set.ids().iter().enumerate() {
            assert_eq!(set.get(*id), Some(i));
        }
        assert_eq!(set.get(1), None);
        assert_eq!(set.get(-1), None);
        assert_eq!(set.get(i64::MIN), None);
        assert!(!IdSet::new(vec![]).any_in_range(i64::MIN, i64::MAX));
        assert_eq!(IdSet::new(vec![]).get(0), None);
    }
}
