//! How often and how patiently a failed request is repeated.

use std::time::Duration;

/// Bounds on retries. The defaults suit a run that lasts hours: a few quick tries for a blip, then
/// waits long enough for a restarted server, and rate-limit waits up to one whole window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Repeats after the first try for 5xx, 408 and transport errors. 6 repeats with the default
    /// backoff span about a minute, which outlasts a typical load-balancer hiccup.
    pub max_retries: u32,
    /// Repeats after a rate-limit 429. Separate from `max_retries` because each one waits for a
    /// window reset, which is expected rather than a sign of trouble.
    pub max_rate_limit_retries: u32,
    /// The first backoff; each further one doubles, up to `max_backoff`.
    pub initial_backoff: Duration,
    /// The ceiling of one backoff.
    pub max_backoff: Duration,
    /// The longest the client waits for a rate-limit window to reset before failing instead. One
    /// window is 15 minutes, so 16 minutes covers any reset plus clock skew.
    pub max_rate_limit_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_retries: 6,
            max_rate_limit_retries: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_rate_limit_wait: Duration::from_secs(16 * 60),
        }
    }
}

impl RetryPolicy {
    /// No retries at all: every failure is returned at once.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_retries: 0,
            max_rate_limit_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// The wait before repeat number `retry` (0-based): exponential with "equal jitter", half
    /// fixed and half random, so that clients that failed together do not retry together, and no
    /// wait collapses to zero.
    pub fn backoff(&self, retry: u32) -> Duration {
        xcomply_core::equal_jitter_backoff(
            self.initial_backoff,
            self.max_backoff,
            retry,
            fastrand::f64(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_bounded() {
        let p = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        for _ in 0..100 {
            let b0 = p.backoff(0);
            assert!(b0 >= Duration::from_millis(50) && b0 <= Duration::from_millis(100));
            let b2 = p.backoff(2);
            assert!(b2 >= Duration::from_millis(200) && b2 <= Duration::from_millis(400));
            let b30 = p.backoff(30);
            assert!(b30 >= Duration::from_millis(500) && b30 <= Duration::from_secs(1));
        }
    }
}
