//! The emulated clock: real time times a scale, plus manual jumps.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
    pub fn new(start_ms: Option<i64>, scale: f64) -> Clock {
        let start_ms = start_ms.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64)
        });
        Clock {
            start_ms,
            started: Instant::now(),
            scale: if scale.is_finite() && scale > 0.0 {
                scale
            } else {
                0.0
            },
            offset_ms: AtomicI64::new(0),
        }
    }

    /// The emulated time in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        let real = self.started.elapsed().as_secs_f64() * 1000.0;
        self.start_ms + (real * self.scale) as i64 + self.offset_ms.load(Ordering::SeqCst)
    }

    /// Jumps forward by `by` of emulated time.
    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
}
