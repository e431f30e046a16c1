//! The rate-limit governor: one per endpoint, shared by every clone of the client.
//!
//! X allows 150 requests per 15-minute window per endpoint and says where each window stands in
//! the `x-rate-limit-*` headers of every answer. The governor reserves one request from the known
//! remaining budget before each send, so concurrent tasks never send a request the window cannot
//! take; when the budget is spent it waits until the reset time (plus jitter); and after a 429 it
//! blocks the endpoint until the reset.
//!
//! Reset times are epoch seconds on the server's clock. They are turned into local monotonic
//! instants through the answer's own `Date` header when it has one, so skew between the local and
//! the server clock does not shorten or stretch the waits.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;
use tokio::time::Instant;

/// Jitter added to a wait for a window reset. The reset header has a resolution of one second and
/// every client of the app wakes at the same reset, so up to two seconds spreads them out without
/// wasting a noticeable part of a 15-minute window.
const RESET_JITTER_MAX: Duration = Duration::from_secs(2);

/// When a 429 carries no reset time, the endpoint is blocked this long before the next try: one
/// minute is a fifteenth of a window, long enough not to hammer the API and short enough to notice
/// a reset soon.
const UNKNOWN_RESET_BLOCK: Duration = Duration::from_secs(60);

/// How often a request waiting for the first answer of an endpoint checks again: short next to
/// any API round trip over the internet, long enough not to spin.
const PROBE_POLL: Duration = Duration::from_millis(20);

/// Where one endpoint's window stands, as far as this process knows.
#[derive(Debug, Default, Clone)]
struct Window {
    /// `x-rate-limit-limit`.
    limit: Option<u32>,
    /// Requests left in the window after the ones already reserved.
    remaining: Option<u32>,
    /// The reset, as epoch seconds (to recognise a new window) and as a local instant.
    reset_epoch: Option<u64>,
    reset_at: Option<Instant>,
    /// No request before this instant (after a 429 without a usable reset).
    blocked_until: Option<Instant>,
    /// While nothing is known of the window, one request goes first and the others wait for
    /// its headers, so a burst of tasks cannot overrun a window it has not seen yet.
    probing: bool,
}

/// What a caller must do before sending.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Send now; one request has been reserved.
    Go,
    /// Wait this long, then ask again.
    Wait(Duration),
}

/// The governor of one endpoint.
#[derive(Debug)]
pub(crate) struct Governor {
    /// The endpoint, for messages (`POST /2/compliance/jobs`).
    pub(crate) endpoint: &'static str,
    window: Mutex<Window>,
}

impl Governor {
    pub(crate) fn new(endpoint: &'static str) -> Governor {
        Governor {
            endpoint,
            window: Mutex::new(Window::default()),
        }
    }

    /// Reserves one request if the window allows it, else says how long to wait.
    pub(crate) fn admit(&self) -> Admission {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Admission {
        let mut w = self.window.lock().expect("governor lock poisoned");
        if let Some(until) = w.blocked_until {
            if now < until {
                return Admission::Wait(until - now);
            }
            w.blocked_until = None;
        }
        if let Some(reset_at) = w.reset_at
            && now >= reset_at
        {
            // A new window has begun; until its first answer, assume the full limit.
            w.remaining = w.limit;
            w.reset_at = None;
            w.reset_epoch = None;
        }
        match (w.remaining, w.reset_at) {
            (Some(0), Some(reset_at)) => Admission::Wait(reset_at - now + jitter()),
            (Some(r), _) => {
                w.remaining = Some(r.saturating_sub(1));
                Admission::Go
            }
            (None, _) if w.probing => Admission::Wait(PROBE_POLL),
            (None, _) => {
                w.probing = true;
                Admission::Go
            }
        }
    }

    /// Called after every answered or failed request: a probe is over even when its answer had
    /// no rate-limit headers (a 401, a connection error).
    pub(crate) fn settle(&self) {
        self.window.lock().expect("governor lock poisoned").probing = false;
    }

    /// A guard that calls [`Governor::settle`] when dropped: a request whose future is dropped
    /// mid-flight (a cancelled wait) must still end its probe, or every later request on this
    /// endpoint would wait for an answer that never comes.
    pub(crate) fn settle_on_drop(&self) -> SettleGuard<'_> {
        SettleGuard(self)
    }

    /// Learns from an answer's headers (any status, 429 included).
    pub(crate) fn observe(&self, headers: &HeaderMap) {
        self.observe_at(headers, Instant::now());
    }

    fn observe_at(&self, headers: &HeaderMap, now: Instant) {
        let Some(info) = RateInfo::from_headers(headers) else {
            return;
        };
        let mut w = self.window.lock().expect("governor lock poisoned");
        w.probing = false;
        w.limit = Some(info.limit.unwrap_or(w.limit.unwrap_or(info.remaining)));
        let new_window = w.reset_epoch != Some(info.reset_epoch);
        w.remaining = Some(match w.remaining {
            // Requests reserved but not yet answered are in neither count; the smaller one is safe.
            Some(local) if !new_window => local.min(info.remaining),
            _ => info.remaining,
        });
        w.reset_epoch = Some(info.reset_epoch);
        w.reset_at = Some(now + info.reset_in);
    }

    /// Marks the window spent after a rate-limit 429, so that every task waits for the reset.
    pub(crate) fn exhausted(&self, headers: &HeaderMap, retry_after: Option<Duration>) {
        self.exhausted_at(headers, retry_after, Instant::now());
    }

    fn exhausted_at(&self, headers: &HeaderMap, retry_after: Option<Duration>, now: Instant) {
        self.observe_at(headers, now);
        let mut w = self.window.lock().expect("governor lock poisoned");
        w.remaining = Some(0);
        let block = match (retry_after, w.reset_at) {
            (Some(d), _) => Some(now + d),
            (None, Some(reset_at)) if reset_at > now => None,
            // No reset ahead: a 429 without rate headers after the last known window ended
            // (from a proxy, or after an idle spell) would otherwise be retried at once.
            (None, _) => Some(now + UNKNOWN_RESET_BLOCK),
        };
        if let Some(b) = block {
            w.blocked_until = Some(w.blocked_until.map_or(b, |old| old.max(b)));
        }
    }

    /// The spacing that spreads the rest of the window evenly: time to reset over requests left.
    /// `None` while nothing is known.
    pub(crate) fn fair_spacing(&self) -> Option<Duration> {
        self.fair_spacing_at(Instant::now())
    }

    fn fair_spacing_at(&self, now: Instant) -> Option<Duration> {
        let w = self.window.lock().expect("governor lock poisoned");
        let reset_at = w.reset_at?;
        let remaining = w.remaining?;
        let left = reset_at.saturating_duration_since(now);
        Some(left / remaining.max(1))
    }
}

/// Ends a governor's probe when dropped; see [`Governor::settle_on_drop`].
#[derive(Debug)]
pub(crate) struct SettleGuard<'a>(&'a Governor);

impl Drop for SettleGuard<'_> {
    fn drop(&mut self) {
        self.0.settle();
    }
}

/// A random wait between zero and `RESET_JITTER_MAX`.
fn jitter() -> Duration {
    RESET_JITTER_MAX.mul_f64(fastrand::f64())
}

/// The three rate-limit headers of one answer, with the reset as a duration from now.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RateInfo {
    pub(crate) limit: Option<u32>,
    pub(crate) remaining: u32,
    pub(crate) reset_epoch: u64,
    pub(crate) reset_in: Duration,
}

impl RateInfo {
    /// Reads `x-rate-limit-{limit,remaining,reset}`; `None` without remaining and reset.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Option<RateInfo> {
        let num = |name: &str| -> Option<u64> {
            headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok()
        };
        let remaining = u32::try_from(num("x-rate-limit-remaining")?).unwrap_or(u32::MAX);
        let reset_epoch = num("x-rate-limit-reset")?;
        let limit = num("x-rate-limit-limit").map(|l| u32::try_from(l).unwrap_or(u32::MAX));
        let now = server_now(headers);
        let reset_in = Duration::from_secs(reset_epoch.saturating_sub(now));
        Some(RateInfo {
            limit,
            remaining,
            reset_epoch,
            reset_in,
        })
    }
}

/// The server's current time in epoch seconds: its `Date` header, else the local clock.
fn server_now(headers: &HeaderMap) -> u64 {
    headers
        .get(reqwest::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date)
        .unwrap_or_else(local_now)
}

/// The local clock in epoch seconds.
fn local_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only `Date` format HTTP/1.1
/// servers may send, into epoch seconds.
pub(crate) fn parse_http_date(s: &str) -> Option<u64> {
    let rest = s.trim().split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day: i64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let h: i64 = hms.next()?.parse().ok()?;
    let m: i64 = hms.next()?.parse().ok()?;
    let sec: i64 = hms.next()?.parse().ok()?;
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let days = xcomply_core::days_from_civil(year, month, day);
    u64::try_from(days * 86_400 + h * 3600 + m * 60 + sec).ok()
}

/// `Retry-After` in seconds (the HTTP-date form is read too).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(v)?;
    Some(Duration::from_secs(at.saturating_sub(server_now(headers))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(remaining: u32, reset: u64, date: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-rate-limit-limit", HeaderValue::from_static("150"));
        h.insert("x-rate-limit-remaining", remaining.into());
        h.insert("x-rate-limit-reset", reset.into());
        if let Some(d) = date {
            h.insert("date", HeaderValue::from_str(d).unwrap());
        }
        h
    }

    #[test]
    fn http_dates_parse() {
        assert_eq!(
            parse_http_date("Thu, 07 Oct 2021 07:41:19 GMT"),
            Some(1_633_592_479)
        );
        assert_eq!(parse_http_date("Thu, 07 Oct 2021 07:41:19 UTC"), None);
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn reset_is_measured_on_the_servers_clock() {
        // The recorded answer: a request at 07:41:19 got reset 1633593378 (07:56:18).
        let h = headers(149, 1_633_593_378, Some("Thu, 07 Oct 2021 07:41:19 GMT"));
        let info = RateInfo::from_headers(&h).unwrap();
        assert_eq!(info.reset_in, Duration::from_secs(899));
        assert_eq!(info.remaining, 149);
        assert_eq!(info.limit, Some(150));
        assert_eq!(RateInfo::from_headers(&HeaderMap::new()), None);
    }

    #[test]
    fn spent_window_waits_for_reset_and_reservations_count() {
        let g = Governor::new("GET /2/compliance/jobs/:id");
        let t0 = Instant::now();
        assert_eq!(g.admit_at(t0), Admission::Go, "nothing known yet: a probe");
        assert_eq!(
            g.admit_at(t0),
            Admission::Wait(PROBE_POLL),
            "one probe at a time"
        );
        g.settle();
        assert_eq!(
            g.admit_at(t0),
            Admission::Go,
            "the probe ended without headers"
        );
        let date = "Thu, 07 Oct 2021 07:41:19 GMT";
        g.observe_at(&headers(2, 1_633_592_479 + 10, Some(date)), t0);
        assert_eq!(g.admit_at(t0), Admission::Go);
        assert_eq!(g.admit_at(t0), Admission::Go);
        // Two reserved, none left: the third waits for the reset, 10 s plus at most 2 s jitter.
        let Admission::Wait(d) = g.admit_at(t0) else {
            panic!("expected a wait")
        };
        assert!(
            d >= Duration::from_secs(10) && d <= Duration::from_secs(12),
            "{d:?}"
        );
        // A late answer from the same window saying 1 left does not raise the local count.
        g.observe_at(&headers(1, 1_633_592_479 + 10, Some(date)), t0);
        assert!(matches!(g.admit_at(t0), Admission::Wait(_)));
        let later = t0 + Duration::from_secs(11);
        assert_eq!(g.admit_at(later), Admission::Go, "the window has reset");
    }

    #[test]
    fn a_429_blocks_every_caller_until_reset() {
        let g = Governor::new("POST /2/compliance/jobs");
        let t0 = Instant::now();
        let date = "Thu, 07 Oct 2021 07:41:19 GMT";
        g.exhausted_at(&headers(5, 1_633_592_479 + 3, Some(date)), None, t0);
        let Admission::Wait(d) = g.admit_at(t0) else {
            panic!("expected a wait")
        };
        assert!(d >= Duration::from_secs(3), "{d:?}");
        // Without any reset information it blocks for a fixed time.
        let g = Governor::new("POST /2/compliance/jobs");
        g.exhausted_at(&HeaderMap::new(), None, t0);
        assert_eq!(g.admit_at(t0), Admission::Wait(UNKNOWN_RESET_BLOCK));
        // Retry-After wins when present.
        let g = Governor::new("POST /2/compliance/jobs");
        g.exhausted_at(&HeaderMap::new(), Some(Duration::from_secs(7)), t0);
        assert_eq!(g.admit_at(t0), Admission::Wait(Duration::from_secs(7)));
    }

    #[test]
    fn a_429_without_headers_after_the_window_ended_still_blocks() {
        let g = Governor::new("GET /2/compliance/jobs");
        let t0 = Instant::now();
        let date = "Thu, 07 Oct 2021 07:41:19 GMT";
        g.observe_at(&headers(100, 1_633_592_479 + 1, Some(date)), t0);
        let later = t0 + Duration::from_secs(5);
        g.exhausted_at(&HeaderMap::new(), None, later);
        assert_eq!(g.admit_at(later), Admission::Wait(UNKNOWN_RESET_BLOCK));
    }

    #[test]
    fn a_dropped_probe_does_not_block_the_endpoint() {
        let g = Governor::new("GET /2/compliance/jobs/:id");
        let t0 = Instant::now();
        assert_eq!(g.admit_at(t0), Admission::Go);
        {
            // The request future is dropped before any answer.
            let _guard = g.settle_on_drop();
        }
        assert_eq!(g.admit_at(t0), Admission::Go);
    }

    #[test]
    fn fair_spacing_spreads_the_rest_of_the_window() {
        let g = Governor::new("GET /2/compliance/jobs/:id");
        let t0 = Instant::now();
        assert_eq!(g.fair_spacing_at(t0), None);
        let date = "Thu, 07 Oct 2021 07:41:19 GMT";
        g.observe_at(&headers(150, 1_633_592_479 + 900, Some(date)), t0);
        assert_eq!(g.fair_spacing_at(t0), Some(Duration::from_secs(6)));
    }
}
