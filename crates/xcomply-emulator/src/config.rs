//! Everything that shapes the emulator's behaviour: tokens, seed, clock, limits, processing speed,
//! outcome rates and fault injection.

use std::path::PathBuf;
use std::time::Duration;

use xcomply_core::{Action, Reason};

/// Which version of X's transfer flow the emulator speaks.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Flow {
    /// The live API since September 2026: `upload_url` and `download_url` are byte paths on the
    /// API's own origin (`/2/compliance/jobs/{id}/upload?token=…`, `…/download?token=…`) that
    /// need the app's Bearer token as well as the URL's token; one PUT of at most
    /// [`Config::max_upload_bytes`]; no resumable mode; results in the 2026 vocabulary (`delete`,
    /// `rehydrate`, `scrub_geo`, error records for invalid lines); problem types from the v2.168
    /// specification under `https://api.x.com/2/problems/`.
    #[default]
    BytePath,
    /// The flow before the cutover: V4-signed Google Cloud Storage URLs, simple and resumable
    /// uploads, GCS XML errors, results whose `action` is always `delete` and a job that fails on
    /// its first invalid line.
    Gcs,
}

impl Flow {
    /// The command-line spelling: `byte-path` or `gcs`.
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::BytePath => "byte-path",
            Flow::Gcs => "gcs",
        }
    }
}

/// The live API's upload cap: "128 MB", read as decimal megabytes, the smaller reading (a client
/// that respects it fits either).
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 128_000_000;

/// The emulator's settings. `Config::default()` is a faithful, fault-free emulator with one
/// token (`emulator-token`), seed 42, a real-time clock and instant processing.
#[derive(Clone)]
pub struct Config {
    /// Bearer tokens that are accepted. Each token is its own app: jobs, the one-unfinished-job
    /// rule and rate limits are per token, as they are per app on X.
    pub tokens: Vec<String>,
    /// Seed of the answers (which IDs are flagged), of the signing key and of fault injection.
    pub seed: u64,
    /// Emulated seconds per real second: 60 makes the 15-minute upload window last 15 real seconds.
    /// 0 freezes the clock so that only [`crate::Emulator::advance`] moves it.
    pub time_scale: f64,
    /// Emulated time at start, in Unix milliseconds; `None` starts at the machine's current time.
    pub start_time_ms: Option<i64>,
    /// Requests allowed per rate-limit window, per endpoint and token (X: 150).
    pub rate_limit: u32,
    /// Length of the rate-limit window (X: 15 minutes), in emulated time.
    pub rate_window: Duration,
    /// Emulated time between the end of an upload and the earliest moment the job can be
    /// `complete`.
    pub processing_delay: Duration,
    /// IDs processed per emulated second; `None` means as fast as the machine goes. A job stays
    /// `in_progress` at least `ids / rate` emulated seconds after the delay.
    pub processing_rate: Option<f64>,
    /// HTTP status of the conflict problem when a second unfinished job of a type is created. X's
    /// status was never observed; 409 is the natural reading of the `conflict` problem type.
    pub conflict_status: u16,
    /// The directory under which the emulator creates its data directory
    /// (`xcomply-emulator-XXXXXX`, uploads and results); `None` uses the system's temporary
    /// directory. The data directory is removed when the emulator stops unless `keep_data`.
    pub data_dir: Option<PathBuf>,
    /// Keep the data directory after the emulator stops (to inspect uploads and results).
    pub keep_data: bool,
    /// Base URL written into signed URLs (`http://host:port`); `None` uses the `Host` header of
    /// the request that creates the job, so URLs point back at whatever address the client used.
    pub public_base_url: Option<String>,
    /// How many IDs get a result line, and with which reason.
    pub outcomes: OutcomeRates,
    /// Seeded fault injection per route class.
    pub faults: Faults,
    /// The transfer flow: byte paths on the API (the default, the live API) or signed GCS URLs.
    pub flow: Flow,
    /// The largest upload accepted in the byte-path flow; a larger body answers 413. `None` lifts
    /// the cap. The GCS flow never had one.
    pub max_upload_bytes: Option<u64>,
}

impl std::fmt::Debug for Config {
    // Tokens are secrets: only their number is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("tokens", &format_args!("[{} REDACTED]", self.tokens.len()))
            .field("seed", &self.seed)
            .field("time_scale", &self.time_scale)
            .field("start_time_ms", &self.start_time_ms)
            .field("rate_limit", &self.rate_limit)
            .field("rate_window", &self.rate_window)
            .field("processing_delay", &self.processing_delay)
            .field("processing_rate", &self.processing_rate)
            .field("conflict_status", &self.conflict_status)
            .field("data_dir", &self.data_dir)
            .field("keep_data", &self.keep_data)
            .field("public_base_url", &self.public_base_url)
            .field("outcomes", &self.outcomes)
            .field("faults", &self.faults)
            .field("flow", &self.flow)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .finish()
    }
}

/// The default token, used when none is configured.
pub const DEFAULT_TOKEN: &str = "emulator-token";

impl Default for Config {
    fn default() -> Config {
        Config {
            tokens: vec![DEFAULT_TOKEN.to_owned()],
            seed: 42,
            time_scale: 1.0,
            start_time_ms: None,
            rate_limit: 150,
            rate_window: Duration::from_secs(15 * 60),
            processing_delay: Duration::ZERO,
            processing_rate: None,
            conflict_status: 409,
            data_dir: None,
            keep_data: false,
            public_base_url: None,
            outcomes: OutcomeRates::default(),
            faults: Faults::default(),
            flow: Flow::BytePath,
            max_upload_bytes: Some(DEFAULT_MAX_UPLOAD_BYTES),
        }
    }
}

impl Config {
    /// Replaces the accepted tokens with one token.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Config {
        self.tokens = vec![token.into()];
        self
    }

    /// Sets the seed.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Config {
        self.seed = seed;
        self
    }

    /// Sets the time scale (0 freezes the clock).
    #[must_use]
    pub fn with_time_scale(mut self, scale: f64) -> Config {
        self.time_scale = scale;
        self
    }

    /// Sets the emulated start time in Unix milliseconds.
    #[must_use]
    pub fn with_start_time_ms(mut self, ms: i64) -> Config {
        self.start_time_ms = Some(ms);
        self
    }

    /// Sets the rate limit per window and the window length.
    #[must_use]
    pub fn with_rate_limit(mut self, limit: u32, window: Duration) -> Config {
        self.rate_limit = limit;
        self.rate_window = window;
        self
    }

    /// Sets the processing delay and rate (IDs per emulated second, `None` for unlimited).
    #[must_use]
    pub fn with_processing(mut self, delay: Duration, rate: Option<f64>) -> Config {
        self.processing_delay = delay;
        self.processing_rate = rate;
        self
    }

    /// Sets the fault injection.
    #[must_use]
    pub fn with_faults(mut self, faults: Faults) -> Config {
        self.faults = faults;
        self
    }

    /// Sets the outcome rates.
    #[must_use]
    pub fn with_outcomes(mut self, outcomes: OutcomeRates) -> Config {
        self.outcomes = outcomes;
        self
    }

    /// Sets the flow, with the outcome mix of that flow's vocabulary ([`OutcomeRates::default`]
    /// for the byte-path flow, [`OutcomeRates::legacy`] for GCS).
    #[must_use]
    pub fn with_flow(mut self, flow: Flow) -> Config {
        self.flow = flow;
        self.outcomes = match flow {
            Flow::BytePath => OutcomeRates::default(),
            Flow::Gcs => OutcomeRates::legacy(),
        };
        self
    }

    /// Sets the byte-path upload cap (`None`: no cap).
    #[must_use]
    pub fn with_max_upload_bytes(mut self, cap: Option<u64>) -> Config {
        self.max_upload_bytes = cap;
        self
    }

    /// Sets the parent of the data directory.
    #[must_use]
    pub fn with_data_dir(mut self, dir: impl Into<PathBuf>) -> Config {
        self.data_dir = Some(dir.into());
        self
    }
}

/// Which IDs need action and why: for each job type, a list of (reason, fraction of all IDs).
/// The fractions of one type must add up to at most 1. The action of each reason is
/// [`action_of`]: `tweet_edited` is `rehydrate`, `geo_scrubbed` is `scrub_geo`, everything else
/// (the legacy `scrub_geo` reason included, as X wrote it before the cutover) is `delete`.
#[derive(Clone, Debug, PartialEq)]
pub struct OutcomeRates {
    /// Post (tweet) reasons. The defaults flag 3.3 % of posts.
    pub tweets: Vec<(Reason, f64)>,
    /// User reasons. The defaults flag 1 % of users.
    pub users: Vec<(Reason, f64)>,
    /// Fraction of flagged posts whose record has no `redacted_at` ("not all compliance events
    /// will include the `redacted_at` field"; `null` in the 2026 vocabulary).
    pub tweets_without_redacted_at: f64,
    /// Fraction of flagged users without `redacted_at`; X's only published user record has none.
    pub users_without_redacted_at: f64,
}

/// The action X pairs with a reason. The 2026 vocabulary gives edited posts `rehydrate` and
/// geo-scrubbed posts `scrub_geo`; every other reason, and the legacy `scrub_geo` reason (whose
/// action was `delete` before the cutover), is `delete`.
pub fn action_of(reason: &Reason) -> Action {
    match reason {
        Reason::TweetEdited => Action::Rehydrate,
        Reason::GeoScrubbed => Action::ScrubGeo,
        _ => Action::Delete,
    }
}

impl Default for OutcomeRates {
    /// The live (2026) vocabulary: deletions dominate, edits and geo scrubs are rarer. X publishes
    /// no distribution; this is a plausible guess that exercises every action.
    fn default() -> OutcomeRates {
        OutcomeRates {
            tweets: vec![
                (Reason::Deleted, 0.015),
                (Reason::Protected, 0.005),
                (Reason::Suspended, 0.004),
                (Reason::Deactivated, 0.002),
                (Reason::TweetEdited, 0.003),
                (Reason::GeoScrubbed, 0.004),
            ],
            users: vec![
                (Reason::Deleted, 0.004),
                (Reason::Suspended, 0.003),
                (Reason::Protected, 0.002),
                (Reason::Deactivated, 0.001),
            ],
            tweets_without_redacted_at: 0.2,
            users_without_redacted_at: 0.5,
        }
    }
}

impl OutcomeRates {
    /// The vocabulary before the cutover: geo removal as reason `scrub_geo` (action `delete`),
    /// and `bounced` (documented in 2025) where the live mix has edited posts, which the old API
    /// did not report. Each reason takes the place of its live counterpart with the same rate,
    /// so the same seed flags the same IDs in both flows: only the vocabulary differs.
    pub fn legacy() -> OutcomeRates {
        OutcomeRates {
            tweets: vec![
                (Reason::Deleted, 0.015),
                (Reason::Protected, 0.005),
                (Reason::Suspended, 0.004),
                (Reason::Deactivated, 0.002),
                (Reason::Bounced, 0.003),
                (Reason::ScrubGeo, 0.004),
            ],
            ..OutcomeRates::default()
        }
    }

    /// No ID is ever flagged: every job completes with an empty result.
    pub fn none() -> OutcomeRates {
        OutcomeRates {
            tweets: Vec::new(),
            users: Vec::new(),
            ..OutcomeRates::default()
        }
    }
}

/// The three kinds of route, each with its own fault rates and fault counter.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum RouteClass {
    /// `/2/compliance/jobs…`.
    Api,
    /// Requests to `upload_url` and resumable sessions.
    Upload,
    /// Requests to `download_url`.
    Download,
}

impl RouteClass {
    pub(crate) fn index(self) -> usize {
        match self {
            RouteClass::Api => 0,
            RouteClass::Upload => 1,
            RouteClass::Download => 2,
        }
    }
}

/// Fault injection per route class. Every decision is a hash of (seed, class, request number),
/// so the same sequence of requests meets the same faults on every run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    /// Faults of the API routes.
    pub api: FaultRates,
    /// Faults of uploads (simple PUT, resumable start and chunks).
    pub upload: FaultRates,
    /// Faults of downloads.
    pub download: FaultRates,
}

impl Faults {
    /// The rates of one route class.
    pub fn class(&self, class: RouteClass) -> &FaultRates {
        match class {
            RouteClass::Api => &self.api,
            RouteClass::Upload => &self.upload,
            RouteClass::Download => &self.download,
        }
    }

    /// The same rates for every class.
    pub fn uniform(rates: &FaultRates) -> Faults {
        Faults {
            api: rates.clone(),
            upload: rates.clone(),
            download: rates.clone(),
        }
    }
}

/// Probabilities (0 to 1) of each fault, per request.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultRates {
    /// Answer 500 Internal Server Error.
    pub server_error: f64,
    /// Answer 503 Service Unavailable.
    pub unavailable: f64,
    /// Start a burst of `burst_length` consecutive 429 answers.
    pub rate_limit_burst: f64,
    /// Answer 429 with the `usage-capped` problem (a spent monthly cap, which waiting for the
    /// rate-limit reset does not cure). API routes only.
    pub usage_capped: f64,
    /// Length of a 429 burst, in requests.
    pub burst_length: u32,
    /// Reset the connection in the middle of the request body (uploads) or response body
    /// (downloads). Not applied to API routes, whose bodies are tiny.
    pub reset: f64,
    /// End a download early but cleanly (chunked encoding, no error at the HTTP level), so only a
    /// client that checks the length (`x-goog-stored-content-length`) notices. Downloads only.
    pub truncate: f64,
    /// Refuse a byte path's URL token as expired (403 naming `token`) although its expiry has not
    /// come: the live API's token lifetime is not documented, and a client must replace the job
    /// whenever it happens. Byte-path uploads and downloads only.
    pub token_refused: f64,
    /// Delay the answer by `latency`.
    pub latency_rate: f64,
    /// The added latency, in real time.
    pub latency: Duration,
}

impl Default for FaultRates {
    fn default() -> FaultRates {
        FaultRates {
            server_error: 0.0,
            unavailable: 0.0,
            rate_limit_burst: 0.0,
            usage_capped: 0.0,
            // Three is enough to exhaust a naive "retry twice" loop without stalling tests.
            burst_length: 3,
            reset: 0.0,
            truncate: 0.0,
            token_refused: 0.0,
            latency_rate: 0.0,
            latency: Duration::ZERO,
        }
    }
}
