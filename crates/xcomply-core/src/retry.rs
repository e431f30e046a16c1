//! Pure helpers shared by everything that retries or reports errors: the backoff schedule and the
//! one-line rendering of an error with its causes.

use std::time::Duration;

/// The wait before repeat number `retry` (0-based): exponential from `initial`, capped at `max`,
/// with "equal jitter" (half fixed, half scaled by `random_unit` in `[0, 1)`), so that clients
/// that failed together do not retry together and no wait collapses to zero. The caller supplies
/// the random number, which keeps this function pure and testable.
///
/// ```
/// use std::time::Duration;
/// use xcomply_core::equal_jitter_backoff;
/// let (initial, max) = (Duration::from_millis(100), Duration::from_secs(1));
/// assert_eq!(equal_jitter_backoff(initial, max, 0, 0.0), Duration::from_millis(50));
/// assert_eq!(equal_jitter_backoff(initial, max, 2, 0.5), Duration::from_millis(300));
/// assert_eq!(equal_jitter_backoff(initial, max, 30, 0.0), Duration::from_millis(500));
/// ```
pub fn equal_jitter_backoff(
    initial: Duration,
    max: Duration,
    retry: u32,
    random_unit: f64,
) -> Duration {
    // 2^20 times any sensible initial wait is far past any sensible cap; the bound only keeps
    // the shift defined.
    let exp = initial.saturating_mul(1u32 << retry.min(20)).min(max);
    let half = exp / 2;
    half + half.mul_f64(random_unit.clamp(0.0, 1.0))
}

/// An error and its causes on one line, joined by `: `, each cause shown once: errors that repeat
/// their source in their own message (`{path}: {source}`) and also return it from `source()`
/// would otherwise print it twice.
///
/// ```
/// let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
/// assert_eq!(xcomply_core::error_chain(&io), "no such file");
/// ```
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = e.source();
    }
    out
}

/// The message of an error's innermost cause (`Connection refused (os error 111)` under an HTTP
/// client's "error sending request"), or `None` when it has no cause: the part of a transport
/// error that says what actually happened, for one-line retry warnings.
///
/// ```
/// let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
/// assert_eq!(xcomply_core::root_cause(&io), None);
/// ```
pub fn root_cause(err: &dyn std::error::Error) -> Option<String> {
    let mut last = None;
    let mut next = err.source();
    while let Some(e) = next {
        last = Some(e.to_string());
        next = e.source();
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    #[derive(Debug)]
    struct Repeats(std::io::Error);

    impl fmt::Display for Repeats {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "ids.txt: {}", self.0)
        }
    }

    impl std::error::Error for Repeats {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn causes_are_shown_once() {
        let err = Repeats(std::io::Error::other("disk full"));
        assert_eq!(error_chain(&err), "ids.txt: disk full");
    }

    #[test]
    fn backoff_grows_and_stays_within_bounds() {
        let (initial, max) = (Duration::from_millis(100), Duration::from_secs(1));
        let mut previous_floor = Duration::ZERO;
        for retry in 0..40 {
            let low = equal_jitter_backoff(initial, max, retry, 0.0);
            let high = equal_jitter_backoff(initial, max, retry, 0.999_999);
            assert!(
                low >= previous_floor && low <= high && high <= max,
                "{retry}"
            );
            assert!(low > Duration::ZERO);
            previous_floor = low;
        }
    }
}
