//! Processing an uploaded object into the delivery object, off the async reactor.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;

use xcomply_core::JobType;

use crate::config::{Flow, OutcomeRates};
use crate::outcome::Thresholds;
use crate::state::{Phase, Shared};

/// Read size: large enough that syscalls vanish from the profile at millions of IDs per second.
const READ_CHUNK: usize = 1 << 20;

/// Result lines are batched to this size before being written.
const WRITE_BATCH: usize = 64 * 1024;

/// The longest line accepted: 19 digits, a `\r` and generous slack. Longer lines are invalid IDs
/// anyway; the bound keeps the carry-over buffer small.
const MAX_LINE: usize = 4096;

/// Why processing failed; the message becomes the job's `error`.
#[derive(Debug)]
pub(crate) enum ProcessError {
    /// A line that is not a decimal ID (1-based line number).
    InvalidLine(u64),
    Io(std::io::Error),
}

impl ProcessError {
    /// The job's `error` string. X's wording is unknown; this one names the line.
    pub(crate) fn job_error(&self) -> String {
        match self {
            ProcessError::InvalidLine(n) => format!("Invalid ID on line {n} of the uploaded file"),
            ProcessError::Io(_) => "Internal error while processing the uploaded file".to_owned(),
        }
    }
}

impl From<std::io::Error> for ProcessError {
    fn from(e: std::io::Error) -> ProcessError {
        ProcessError::Io(e)
    }
}

/// Parses one line: 1 to 19 ASCII digits, at most `i64::MAX`, an optional trailing `\r`.
#[inline]
fn parse_id(line: &[u8]) -> Option<u64> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() || line.len() > 19 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in line {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        // 19 digits fit in u64 (max 9_999_999_999_999_999_999 < 2^64).
        v = v * 10 + u64::from(d);
    }
    i64::try_from(v).is_ok().then_some(v)
}

/// Counts of one processed object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessSummary {
    /// IDs read.
    pub ids: u64,
    /// Result lines written (events and error records).
    pub lines: u64,
    /// Error records written for invalid lines (byte-path flow only; the GCS flow fails the job).
    pub errors: u64,
}

/// The most of an invalid line echoed back in its error record: a whole ID line is at most 20
/// bytes, so anything longer is shown by its start.
const ERROR_ECHO_MAX: usize = 256;

/// Appends `{"id":"<the line>","error":"invalid_id"}` (with its `\n`), the 2026 error record of
/// an input line that is not an ID. The line is echoed as text (invalid UTF-8 replaced), escaped
/// as JSON requires.
fn write_error_record(out: &mut String, line: &[u8]) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let shown = String::from_utf8_lossy(&line[..line.len().min(ERROR_ECHO_MAX)]);
    out.push_str("{\"id\":");
    out.push_str(&serde_json::to_string(&shown).expect("strings always serialize"));
    out.push_str(",\"error\":\"invalid_id\"}\n");
}

/// Streams `input` (one ID per line; blank lines are skipped) and writes one JSON line per
/// flagged ID to `output`: what the emulator does with an uploaded object, exposed for benchmarks.
/// In the byte-path flow an invalid line becomes an error record; in the GCS flow it is an error.
pub fn process_file(
    seed: u64,
    job_type: &JobType,
    rates: &OutcomeRates,
    flow: Flow,
    input: &Path,
    output: &Path,
) -> Result<ProcessSummary, crate::EmulatorError> {
    process(seed, job_type, rates, flow, input, output).map_err(|e| match e {
        ProcessError::InvalidLine(line) => crate::EmulatorError::InvalidId {
            path: input.to_path_buf(),
            line,
        },
        ProcessError::Io(source) => crate::EmulatorError::Io {
            path: input.to_path_buf(),
            source,
        },
    })
}

fn process(
    seed: u64,
    job_type: &JobType,
    rates: &OutcomeRates,
    flow: Flow,
    input: &Path,
    output: &Path,
) -> Result<ProcessSummary, ProcessError> {
    let t = Thresholds::new(seed, job_type, rates, flow);
    let mut reader = File::open(input)?;
    let mut out = BufWriter::new(File::create(output)?);
    let summary = parse_all(&t, &mut reader, &mut out)?;
    // No fsync: the objects only need to outlive the emulator process, not a machine crash.
    out.flush()?;
    Ok(summary)
}

/// Writes the gzip representation of a delivery object. It runs after the job is `complete`, so
/// compression never slows processing; a gzip download waits for it (see the storage routes).
fn gzip_file(plain: &Path, gzip: &Path) -> std::io::Result<()> {
    let temp = gzip.with_extension("part");
    let mut enc = flate2::write::GzEncoder::new(
        BufWriter::new(File::create(&temp)?),
        // Fast compression: the object is served many times but compressed once per job, and
        // level 1 already shrinks these repetitive lines about ninefold.
        flate2::Compression::fast(),
    );
    std::io::copy(&mut File::open(plain)?, &mut enc)?;
    enc.finish()?.flush()?;
    std::fs::rename(temp, gzip)
}

/// The parsing loop of [`process`]: whole lines out of 1 MiB reads, result lines in batches.
fn parse_all(
    t: &Thresholds,
    reader: &mut File,
    plain_out: &mut BufWriter<File>,
) -> Result<ProcessSummary, ProcessError> {
    let mut buf = vec![0u8; READ_CHUNK + MAX_LINE];
    let mut carry = 0usize;
    let mut line_no = 0u64;
    // In the byte-path flow a line longer than `MAX_LINE` is answered by one error record and
    // the rest of it, up to its newline, is skipped.
    let mut skipping = false;
    let mut summary = ProcessSummary::default();
    let mut out = String::with_capacity(WRITE_BATCH + 1024);
    let handle = |line: &[u8],
                  out: &mut String,
                  summary: &mut ProcessSummary,
                  line_no: u64|
     -> Result<(), ProcessError> {
        if line.is_empty() || line == b"\r" {
            return Ok(());
        }
        let Some(id) = parse_id(line) else {
            if !t.live() {
                return Err(ProcessError::InvalidLine(line_no));
            }
            write_error_record(out, line);
            summary.lines += 1;
            summary.errors += 1;
            return Ok(());
        };
        summary.ids += 1;
        if let Some(o) = t.outcome(id) {
            t.write_line(out, id, &o);
            summary.lines += 1;
        }
        Ok(())
    };
    loop {
        let n = reader.read(&mut buf[carry..])?;
        if n == 0 {
            if carry > 0 && !skipping {
                line_no += 1;
                handle(&buf[..carry], &mut out, &mut summary, line_no)?;
            }
            break;
        }
        let filled = carry + n;
        let mut pos = 0;
        while let Some(nl) = memchr::memchr(b'\n', &buf[pos..filled]) {
            line_no += 1;
            if skipping {
                skipping = false;
            } else {
                handle(&buf[pos..pos + nl], &mut out, &mut summary, line_no)?;
            }
            pos += nl + 1;
        }
        if out.len() >= WRITE_BATCH {
            plain_out.write_all(out.as_bytes())?;
            out.clear();
        }
        buf.copy_within(pos..filled, 0);
        carry = filled - pos;
        if carry > MAX_LINE {
            if !t.live() {
                return Err(ProcessError::InvalidLine(line_no + 1));
            }
            if !skipping {
                write_error_record(&mut out, &buf[..carry]);
                summary.lines += 1;
                summary.errors += 1;
                skipping = true;
            }
            carry = 0;
        }
    }
    plain_out.write_all(out.as_bytes())?;
    Ok(summary)
}

/// Called when an upload stored a whole object: a `created` job moves to `in_progress` and is
/// processed in the background. An object for a job that is no longer `created` (uploaded twice,
/// cancelled, expired) is stored and ignored, as X would ignore it.
///
/// This is deliberately not `async`. A client that disconnects (or is killed) right after the
/// last byte of its upload makes the server drop the request's handler at its next `.await`; an
/// `.await` between the move to `in_progress` and the start of processing would leave the job
/// `in_progress` for ever. Everything after the move therefore runs at once or on a detached
/// blocking task that no disconnect can cancel.
pub(crate) fn upload_finished(s: &Arc<Shared>, job_id: u64, file: &Path, started_ms: i64) {
    let now = s.now_ms();
    let submission = s.job_dir(job_id).join("submission");
    let job_type = {
        let mut inner = s.lock();
        match inner.jobs.get_mut(&job_id) {
            Some(job)
                if matches!(job.phase, Phase::Created)
                    && (started_ms < job.upload_expires_ms() || job.session_began_ms.is_some()) =>
            {
                job.phase = Phase::Processing { uploaded_ms: now };
                Some(job.kind.clone())
            }
            _ => None,
        }
    };
    // The object is in place before the caller answers 200, as storage that acknowledged an
    // upload holds it; a rename is quick enough not to need the blocking pool.
    let Some(job_type) = job_type else {
        let _ = std::fs::remove_file(file);
        return;
    };
    if let Err(e) = std::fs::rename(file, &submission) {
        finish(s, job_id, &Err(ProcessError::Io(e)));
        return;
    }
    let shared = Arc::clone(s);
    tokio::task::spawn_blocking(move || {
        let plain = shared.delivery_path(job_id, false);
        let temp = plain.with_extension("part");
        let result = process(
            shared.config.seed,
            &job_type,
            &shared.config.outcomes,
            shared.config.flow,
            &submission,
            &temp,
        )
        .and_then(|summary| {
            std::fs::rename(&temp, &plain)?;
            Ok(summary)
        });
        finish(&shared, job_id, &result);
        if result.is_ok()
            && let Err(e) = gzip_file(&plain, &shared.delivery_path(job_id, true))
        {
            tracing::warn!("emulator could not compress the results of job {job_id}: {e}");
        }
    });
}

/// Records the end of processing: `complete` (or `failed`) once the configured delay and rate
/// allow it.
fn finish(s: &Shared, job_id: u64, result: &Result<ProcessSummary, ProcessError>) {
    let now = s.now_ms();
    let mut inner = s.lock();
    let Some(job) = inner.jobs.get_mut(&job_id) else {
        return;
    };
    let Phase::Processing { uploaded_ms } = job.phase else {
        // Cancelled while processing: the cancellation stands.
        return;
    };
    let ids = result.as_ref().map_or(0, |r| r.ids);
    let pace_ms = s
        .config
        .processing_rate
        .filter(|r| *r > 0.0)
        .map_or(0, |r| (ids as f64 / r * 1000.0) as i64);
    // Saturating: a delay or a rate set in code may put the end past what milliseconds can hold
    // (the float-to-integer `as` above already saturates).
    let delay_ms = i64::try_from(s.config.processing_delay.as_millis()).unwrap_or(i64::MAX);
    let ready_ms = now.max(uploaded_ms.saturating_add(delay_ms).saturating_add(pace_ms));
    if let Err(ProcessError::Io(e)) = &result {
        tracing::warn!("emulator processing of job {job_id} failed: {e}");
    }
    job.phase = Phase::Done {
        ready_ms,
        error: result.as_ref().err().map(ProcessError::job_error),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_strictly() {
        assert_eq!(parse_id(b"1"), Some(1));
        assert_eq!(parse_id(b"9223372036854775807"), Some(i64::MAX as u64));
        assert_eq!(parse_id(b"9223372036854775808"), None);
        assert_eq!(parse_id(b"12\r"), Some(12));
        assert_eq!(parse_id(b"12a"), None);
        assert_eq!(parse_id(b" 12"), None);
        assert_eq!(parse_id(b"12345678901234567890"), None);
        assert_eq!(parse_id(b""), None);
    }

    /// Creates job 7, stores a one-ID upload for it and calls `upload_finished`, then waits until
    /// its processing has ended.
    async fn process_one_upload(config: crate::Config) -> Arc<Shared> {
        use crate::state::{Job, Phase};
        let shared = Shared::new(config).unwrap();
        let now = shared.now_ms();
        shared.lock().jobs.insert(
            7,
            Job {
                id: 7,
                app: 0,
                kind: JobType::Tweets,
                name: None,
                resumable: false,
                created_ms: now,
                upload_url: String::new(),
                download_url: String::new(),
                phase: Phase::Created,
                session_began_ms: None,
            },
        );
        let dir = shared.job_dir(7);
        std::fs::create_dir_all(&dir).unwrap();
        let upload = dir.join("upload-1.part");
        std::fs::write(&upload, "1400000000000000000\n").unwrap();
        // Not awaited, exactly as a handler dropped right after the call would leave it.
        upload_finished(&shared, 7, &upload, now);
        for _ in 0..500 {
            if matches!(shared.lock().jobs[&7].phase, Phase::Done { .. }) {
                return shared;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the upload was never processed");
    }

    /// `upload_finished` is called from request handlers that the server drops when their client
    /// disconnects. It must do its whole work without being awaited (a killed client's job was
    /// once left `in_progress` for ever, its processing never started).
    #[tokio::test]
    async fn an_upload_is_processed_without_its_caller_staying_alive() {
        let shared = process_one_upload(crate::Config::default()).await;
        let now = shared.now_ms();
        assert_eq!(
            shared.lock().jobs[&7].status(now),
            (xcomply_core::JobStatus::Complete, None)
        );
        assert!(shared.delivery_path(7, false).exists());
    }

    /// A processing delay or rate set in code beyond what milliseconds can hold keeps the job in
    /// progress instead of overflowing (which would panic the processing task and leave the job
    /// in progress by accident).
    #[tokio::test]
    async fn a_huge_processing_delay_or_tiny_rate_saturates() {
        for (delay, rate) in [
            (std::time::Duration::MAX, None),
            (std::time::Duration::ZERO, Some(1e-300)),
        ] {
            let shared =
                process_one_upload(crate::Config::default().with_processing(delay, rate)).await;
            let now = shared.now_ms();
            let job = &shared.lock().jobs[&7];
            assert!(
                matches!(
                    job.phase,
                    crate::state::Phase::Done {
                        ready_ms: i64::MAX,
                        ..
                    }
                ),
                "{:?}",
                job.phase
            );
            assert_eq!(job.status(now), (xcomply_core::JobStatus::InProgress, None));
        }
    }

    #[test]
    fn process_matches_outcome_and_reports_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        let ids: Vec<u64> = (0..50_000u64)
            .map(|i| 1_400_000_000_000_000_000 + i * 7)
            .collect();
        let text: String = ids.iter().map(|i| i.to_string() + "\n").collect();
        std::fs::write(&input, &text).unwrap();
        let (plain, gz) = (dir.path().join("out"), dir.path().join("out.gz"));
        for (flow, rates) in [
            (Flow::Gcs, OutcomeRates::legacy()),
            (Flow::BytePath, OutcomeRates::default()),
        ] {
            let summary = process(5, &JobType::Tweets, &rates, flow, &input, &plain).unwrap();
            gzip_file(&plain, &gz).unwrap();
            let expected: Vec<xcomply_core::ComplianceRecord> = ids
                .iter()
                .filter_map(|&id| crate::outcome(5, flow, &JobType::Tweets, id, &rates))
                .collect();
            let written = std::fs::read_to_string(&plain).unwrap();
            let got: Vec<xcomply_core::ComplianceRecord> = written
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert_eq!(got, expected);
            assert_eq!(summary.ids, 50_000);
            assert_eq!(summary.errors, 0);
            assert_eq!(summary.lines, expected.len() as u64);
            let mut unzipped = String::new();
            flate2::read::GzDecoder::new(File::open(&gz).unwrap())
                .read_to_string(&mut unzipped)
                .unwrap();
            assert_eq!(unzipped, written);
        }

        std::fs::write(&input, "1\n\n2\r\nabc\n3").unwrap();
        let rates = OutcomeRates::none();
        let err = process(5, &JobType::Tweets, &rates, Flow::Gcs, &input, &plain).unwrap_err();
        assert!(matches!(err, ProcessError::InvalidLine(4)), "{err:?}");
        assert_eq!(err.job_error(), "Invalid ID on line 4 of the uploaded file");
    }

    /// In the byte-path flow an invalid line never fails the job: it comes back as an error
    /// record echoing the line, an over-long line as one record, and the IDs around it are
    /// processed.
    #[test]
    fn invalid_lines_become_error_records_in_the_byte_path_flow() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        let plain = dir.path().join("out");
        let long = "9".repeat(10_000);
        std::fs::write(&input, format!("1\n\n2\r\nab\"c\n{long}\n3\n\u{e9}x")).unwrap();
        let rates = OutcomeRates::none();
        let summary = process(5, &JobType::Tweets, &rates, Flow::BytePath, &input, &plain).unwrap();
        assert_eq!((summary.ids, summary.errors, summary.lines), (3, 3, 3));
        let got: Vec<serde_json::Value> = std::fs::read_to_string(&plain)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            got[0],
            serde_json::json!({"id": "ab\"c", "error": "invalid_id"})
        );
        let echoed = got[1]["id"].as_str().unwrap();
        assert_eq!(echoed, &long[..ERROR_ECHO_MAX]);
        assert_eq!(
            got[2],
            serde_json::json!({"id": "\u{e9}x", "error": "invalid_id"})
        );
    }
}
