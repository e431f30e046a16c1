//! Deterministic mixing for seeded data: the emulator's outcomes, generators and jitter.
//!
//! Tests compute the emulator's answer for an ID independently, so the function that decides it
//! must be pure, stable across versions and platforms, and cheap (the emulator processes millions of
//! IDs per second). `SplitMix64`'s finaliser has all three properties.

/// `SplitMix64`'s finaliser: a bijective 64-bit mix with good avalanche.
#[inline]
pub const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Mixes a seed, a domain tag and a value into one well-distributed 64-bit hash.
#[inline]
pub const fn hash3(seed: u64, domain: u64, value: u64) -> u64 {
    mix64(mix64(seed ^ mix64(domain)) ^ value)
}

/// A uniform fraction in `[0, 1)` from a hash, for comparing against configured rates.
#[inline]
pub fn unit_interval(hash: u64) -> f64 {
    // The top 53 bits fill an f64 mantissa exactly.
    (hash >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_stable() {
        // Pinned: changing these silently changes every emulator outcome that tests rely on.
        assert_eq!(mix64(0), 0);
        assert_eq!(mix64(1), 0x5692_161d_100b_05e5);
        assert_eq!(hash3(7, 1, 42), hash3(7, 1, 42));
        assert_ne!(hash3(7, 1, 42), hash3(7, 2, 42));
    }

    #[test]
    fn unit_interval_is_in_range() {
        assert!(unit_interval(u64::MAX) < 1.0);
        assert!(unit_interval(0) >= 0.0);
        let mean: f64 = (0..10_000u64).map(|i| unit_interval(mix64(i))).sum::<f64>() / 10_000.0;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
    }
}
