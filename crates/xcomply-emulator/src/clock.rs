//! The emulated clock: real time times a scale, plus manual jumps.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The latest emulated time, 9999-12-31T23:59:59.999Z in Unix milliseconds. The clock stops
/// there instead of overflowing when a huge time scale or jump is configured: that is the last
/// instant an RFC 3339 timestamp (four-digit year) can show, and it leaves ample room below
/// `i64::MAX` for the expiry and processing deadlines that are added to the current time.
pub const MAX_EMULATED_MS: i64 = 253_402_300_799_999;

/// Emulated Unix milliseconds. Every expiry, rate-limit window and processing deadline is read
/// from it, and state transitions are computed lazily from it, so a jump made with
/// [`Clock::advance`] takes effect at the next request.
#[derive(Debug)]
pub struct Clock {
    start_ms: i64,
    started: Instant,
    scale: f64,
    offset_ms: AtomicI64,
}

impl Clock {
    /// A clock starting at `start_ms` (or now) that runs `scale` times faster than real time.
    /// However large the scale or the jumps, the clock never passes [`MAX_EMULATED_MS`].
    pub fn new(start_ms: Option<i64>, scale: f64) -> Clock {
        let start_ms = start_ms.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        });
        Clock {
            start_ms: start_ms.min(MAX_EMULATED_MS),
            started: Instant::now(),
            scale: if scale.is_finite() && scale > 0.0 {
                scale
            } else {
                0.0
            },
            offset_ms: AtomicI64::new(0),
        }
    }

    /// The emulated time in Unix milliseconds, at most [`MAX_EMULATED_MS`].
    pub fn now_ms(&self) -> i64 {
        let real = self.started.elapsed().as_secs_f64() * 1000.0;
        // A float-to-integer `as` saturates (and maps NaN to 0), so a huge product is i64::MAX
        // here and the additions below saturate too.
        #[allow(clippy::cast_possible_truncation)] // Saturation is the intent, see above.
        let scaled = (real * self.scale) as i64;
        self.start_ms
            .saturating_add(scaled)
            .saturating_add(self.offset_ms.load(Ordering::SeqCst))
            .min(MAX_EMULATED_MS)
    }

    /// Jumps forward by `by` of emulated time (a jump past [`MAX_EMULATED_MS`] stops there).
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        // The closure always returns Some, so the update cannot fail.
        let _ = self
            .offset_ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |offset| {
                Some(offset.saturating_add(by))
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_scale_saturates_instead_of_overflowing() {
        let clock = Clock::new(Some(1_700_000_000_000), 1e308);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(clock.now_ms(), MAX_EMULATED_MS);
        clock.advance(Duration::MAX);
        assert_eq!(clock.now_ms(), MAX_EMULATED_MS);
    }

    #[test]
    fn huge_jumps_saturate() {
        let clock = Clock::new(Some(1_700_000_000_000), 0.0);
        clock.advance(Duration::from_secs(60));
        assert_eq!(clock.now_ms(), 1_700_000_060_000);
        clock.advance(Duration::MAX);
        clock.advance(Duration::MAX);
        assert_eq!(clock.now_ms(), MAX_EMULATED_MS);
        let late = Clock::new(Some(i64::MAX), 1.0);
        assert_eq!(late.now_ms(), MAX_EMULATED_MS);
    }

    #[test]
    fn an_ordinary_scale_runs_as_before() {
        let clock = Clock::new(Some(0), 1000.0);
        std::thread::sleep(Duration::from_millis(5));
        assert!(clock.now_ms() >= 5_000);
    }
}
