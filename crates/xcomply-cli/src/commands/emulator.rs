//! `xcomply emulator`: the local API and storage emulator as a server.

use std::collections::hash_map::RandomState;
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use xcomply_emulator::{Config, FaultRates, Faults};

use crate::exit::{Code, coded};
use crate::output::{Ctx, note};

/// Run a local emulator of X's batch compliance API and its upload and download paths.
///
/// Prints its base URL and bearer token on start ("base_url: …" and "token: …" lines on stdout)
/// and runs until Ctrl-C, then removes its data directory. Point any xcomply command at it with
/// --api-base and the printed token in X_BEARER_TOKEN.
///
/// By default it speaks the live API (since September 2026): a job's upload_url and download_url
/// are paths on the emulator itself with a token, and need the Bearer token too; an upload is
/// one PUT of at most --max-upload-bytes; results use the delete/rehydrate/scrub_geo vocabulary,
/// with error records for invalid lines. --flow gcs speaks the flow before it: signed storage
/// URLs, resumable uploads, a job that fails on its first invalid line.
///
/// Examples:
///   xcomply emulator --addr 127.0.0.1:8080 --time-scale 60
///   xcomply emulator --addr 127.0.0.1:0 --processing-delay 30s --processing-rate 1000000
///   xcomply emulator --fault-500 0.05 --fault-reset 0.02 --fault-on upload,download
///
/// Quick start against it with curl (BASE and TOKEN as printed):
///   curl -X POST "$BASE/2/compliance/jobs" -H "Authorization: Bearer $TOKEN" \
///        -H 'Content-Type: application/json' -d '{"type": "tweets"}'
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Which flow to speak: byte-path (the live API) or gcs (signed storage URLs, before
    /// September 2026).
    #[arg(long, value_enum, value_name = "KIND", default_value_t = crate::commands::common::FlowArg::BytePath)]
    pub flow: crate::commands::common::FlowArg,

    /// Largest upload accepted in the byte-path flow, e.g. 128MB or 1MiB (none: no cap); a
    /// larger upload answers 413.
    #[arg(long, default_value = "128000000", value_name = "SIZE")]
    pub max_upload_bytes: String,

    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "HOST:PORT")]
    pub addr: SocketAddr,

    /// Seed of the deterministic answers and of fault injection.
    #[arg(long, default_value_t = 42, value_name = "N")]
    pub seed: u64,

    /// Emulated seconds per real second, from 0 to 1000000: 60 makes the 15-minute upload window
    /// last 15 seconds; 0 freezes the clock.
    #[arg(long, default_value_t = 1.0, value_name = "FACTOR")]
    pub time_scale: f64,

    /// Accepted bearer token; repeat for several apps. Without it a random token is generated
    /// and printed.
    #[arg(long = "token", value_name = "TOKEN", hide_default_value = true)]
    pub tokens: Vec<String>,

    /// Emulated time between an upload and the earliest completion (e.g. 0, 500ms, 30s, 10m), at
    /// most 7d (a job's results expire 7 days after it is created).
    #[arg(long, default_value = "0", value_parser = parse_processing_delay, value_name = "DURATION")]
    pub processing_delay: Duration,

    /// IDs processed per emulated second (0 = as fast as the machine goes).
    #[arg(long, default_value_t = 0.0, value_name = "IDS_PER_SEC")]
    pub processing_rate: f64,

    /// Requests per window per endpoint and token.
    #[arg(long, default_value_t = 150, value_name = "REQUESTS")]
    pub rate_limit: u32,

    /// Length of the rate-limit window (emulated time), at most 7d.
    #[arg(long, default_value = "15m", value_parser = parse_rate_window, value_name = "DURATION")]
    pub rate_window: Duration,

    /// HTTP status of the conflict problem (a second unfinished job of a type).
    #[arg(long, default_value_t = 409, value_name = "HTTP_STATUS")]
    pub conflict_status: u16,

    /// Directory under which the emulator creates its data directory (default: the system's
    /// temporary directory). The data directory is removed on exit unless --keep-data.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Base URL written into signed URLs, for clients that reach the emulator through another
    /// address (a container port, a proxy). Default: the Host of the request that creates the job.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,

    /// Keep the data directory (uploads and results) after exit.
    #[arg(long)]
    pub keep_data: bool,

    /// Probability of a 500 answer per request.
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub fault_500: f64,

    /// Probability of a 503 answer per request.
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub fault_503: f64,

    /// Probability that a request starts a burst of 429 answers.
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub fault_429_burst: f64,

    /// Probability of a 429 usage-capped answer (API routes only).
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub fault_usage_capped: f64,

    /// Length of a 429 burst, in requests.
    #[arg(long, default_value_t = 3, value_name = "REQUESTS")]
    pub fault_burst_length: u32,

    /// Probability of a connection reset in the middle of an upload or download body.
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub fault_reset: f64,

    /// Probability that a download ends early without an error.
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub fault_truncate: f64,

    /// Probability that an upload or download path refuses its URL token as expired (403), as the
    /// live API may when a token's undocumented lifetime ends (byte-path flow only).
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub fault_token_refused: f64,

    /// Added latency of a slowed request (real time), at most 1h.
    #[arg(long, default_value = "0", value_parser = parse_fault_latency, value_name = "DURATION")]
    pub fault_latency: Duration,

    /// Probability that a request is slowed by --fault-latency.
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub fault_latency_rate: f64,

    /// Route classes the fault options apply to, comma-separated: api, upload, download.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "api,upload,download",
        value_name = "ROUTES"
    )]
    pub fault_on: Vec<FaultClass>,
}

/// A route class for --fault-on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FaultClass {
    /// The /2/compliance/jobs routes.
    Api,
    /// Uploads to upload_url.
    Upload,
    /// Downloads of download_url.
    Download,
}

/// The largest --time-scale. A million emulated seconds per real second already runs the 7-day
/// expiry of a job in under a second; far larger factors overflow the emulated millisecond clock.
const MAX_TIME_SCALE: f64 = 1e6;

/// The longest --processing-delay and --rate-window: 7 days, the lifetime of a job's results on
/// X, so a longer delay could never let a job complete before its results expire, and a longer
/// window is nothing X ever had (it uses 15 minutes).
const MAX_EMULATED_DURATION: Duration = Duration::from_secs(7 * 86_400);

/// The longest --fault-latency: an hour of real time per slowed request is already far beyond
/// any client timeout worth testing, and bigger values only hang the emulator.
const MAX_FAULT_LATENCY: Duration = Duration::from_secs(3600);

fn parse_processing_delay(s: &str) -> Result<Duration, String> {
    parse_bounded_duration(s, MAX_EMULATED_DURATION, "7d")
}

fn parse_rate_window(s: &str) -> Result<Duration, String> {
    parse_bounded_duration(s, MAX_EMULATED_DURATION, "7d")
}

fn parse_fault_latency(s: &str) -> Result<Duration, String> {
    parse_bounded_duration(s, MAX_FAULT_LATENCY, "1h")
}

/// Parses a duration (see [`parse_duration`]) of at most `max`, named `max_text` in the error.
fn parse_bounded_duration(s: &str, max: Duration, max_text: &str) -> Result<Duration, String> {
    let secs = parse_seconds(s)?;
    if secs > max.as_secs_f64() {
        return Err(format!(
            "expected a duration from 0 to {max_text}, found `{}`",
            s.trim()
        ));
    }
    parse_duration(s)
}

/// Parses `0`, `250ms`, `30s`, `10m`, `2h` (a bare number is seconds). A duration beyond what
/// `Duration` holds is an error, not a panic.
fn parse_duration(s: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(parse_seconds(s)?)
        .map_err(|_| format!("expected a shorter duration, found `{}`", s.trim()))
}

/// The number of seconds in a duration such as `250ms` or `10m`.
fn parse_seconds(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("expected a duration such as `30s` or `10m`, found `{s}`"))?;
    match unit {
        "" | "s" => Ok(value),
        "ms" => Ok(value / 1000.0),
        "m" | "min" => Ok(value * 60.0),
        "h" => Ok(value * 3600.0),
        "d" => Ok(value * 86_400.0),
        _ => Err(format!(
            "expected a duration unit ms, s, m, h or d, found `{unit}` in `{s}`"
        )),
    }
}

fn probability(name: &str, p: f64) -> anyhow::Result<f64> {
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(coded(
            Code::Usage,
            anyhow::anyhow!("expected --{name} between 0 and 1, found `{p}`"),
        ))
    }
}

/// A random token from the process's randomly seeded hasher keys; it only guards a local test
/// server, so std's randomness is enough.
fn random_token() -> String {
    let mut out = String::from("emu-");
    for i in 0..2u64 {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.write_u32(std::process::id());
        let _ = write!(out, "{:016x}", h.finish());
    }
    out
}

fn config(args: Args) -> anyhow::Result<(Config, bool)> {
    let rates = FaultRates {
        server_error: probability("fault-500", args.fault_500)?,
        unavailable: probability("fault-503", args.fault_503)?,
        rate_limit_burst: probability("fault-429-burst", args.fault_429_burst)?,
        usage_capped: probability("fault-usage-capped", args.fault_usage_capped)?,
        burst_length: args.fault_burst_length,
        reset: probability("fault-reset", args.fault_reset)?,
        truncate: probability("fault-truncate", args.fault_truncate)?,
        token_refused: probability("fault-token-refused", args.fault_token_refused)?,
        latency_rate: probability("fault-latency-rate", args.fault_latency_rate)?,
        latency: args.fault_latency,
    };
    let pick = |class| {
        if args.fault_on.contains(&class) {
            rates.clone()
        } else {
            FaultRates::default()
        }
    };
    let faults = Faults {
        api: pick(FaultClass::Api),
        upload: pick(FaultClass::Upload),
        download: pick(FaultClass::Download),
    };
    if !(args.time_scale.is_finite() && (0.0..=MAX_TIME_SCALE).contains(&args.time_scale)) {
        return Err(coded(
            Code::Usage,
            anyhow::anyhow!(
                "expected --time-scale from 0 to {MAX_TIME_SCALE}, found `{}`",
                args.time_scale
            ),
        ));
    }
    let generated = args.tokens.is_empty();
    let max_upload = xcomply_shard::parse_byte_cap(&args.max_upload_bytes)
        .map_err(|e| coded(Code::Usage, anyhow::anyhow!("--max-upload-bytes: {e}")))?;
    let mut config = Config::default()
        .with_flow(args.flow.into())
        .with_max_upload_bytes(max_upload)
        .with_seed(args.seed)
        .with_time_scale(args.time_scale)
        .with_rate_limit(args.rate_limit, args.rate_window)
        .with_processing(
            args.processing_delay,
            (args.processing_rate > 0.0).then_some(args.processing_rate),
        )
        .with_faults(faults);
    config.tokens = if generated {
        vec![random_token()]
    } else {
        args.tokens
    };
    config.conflict_status = args.conflict_status;
    config.data_dir = args.data_dir;
    config.keep_data = args.keep_data;
    config.public_base_url = args.public_url;
    Ok((config, generated))
}

pub fn run(args: Args, _ctx: &Ctx) -> anyhow::Result<()> {
    let addr = args.addr;
    let (config, generated) = config(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let emulator = xcomply_emulator::Emulator::start_on(addr, config)
            .await
            .map_err(|e| coded(Code::Input, anyhow::Error::new(e)))?;
        let token = if generated {
            // The emulator's own throwaway token, printed so that clients can use it.
            emulator.token().to_owned()
        } else {
            "(as given with --token)".to_owned()
        };
        let mut out = std::io::stdout().lock();
        std::io::Write::write_all(
            &mut out,
            format!(
                "base_url: {}\ntoken: {token}\ndata_dir: {}\n",
                emulator.base_url(),
                emulator.data_dir().display()
            )
            .as_bytes(),
        )?;
        std::io::Write::flush(&mut out)?;
        drop(out);
        note!(
            "emulator running ({} flow); press Ctrl-C to stop",
            emulator.config().flow.as_str()
        );
        wait_for_stop_signal().await?;
        emulator.shutdown().await;
        note!("emulator stopped");
        Ok(())
    })
}

/// Waits for Ctrl-C, or SIGTERM on Unix (what `kill` and process supervisors send), so that the
/// data directory is removed either way.
async fn wait_for_stop_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot listen for SIGTERM")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("cannot wait for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5y").unwrap_err().contains("`y`"));
        // Beyond `Duration`'s range: an error, not a panic.
        assert!(parse_duration("18446744073709551615s").is_err());
        assert!(parse_duration("999999999999999999999d").is_err());
    }

    #[test]
    fn bounded_durations() {
        assert_eq!(
            parse_processing_delay("7d"),
            Ok(Duration::from_secs(7 * 86_400))
        );
        let err = parse_processing_delay("8d").unwrap_err();
        assert!(
            err.contains("from 0 to 7d") && err.contains("`8d`"),
            "{err}"
        );
        assert!(parse_rate_window("169h").is_err());
        assert_eq!(parse_fault_latency("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_fault_latency("61m").is_err());
    }

    #[test]
    fn tokens_are_random() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
    }
}
