//! `xcomply decode`: results JSON Lines into the results Parquet file.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::PathBuf;

use anyhow::Context as _;
use xcomply_core::{Id, JobType};
use xcomply_sink::SinkError;
use xcomply_sink::results::decode_reader;

use super::common::TypeArg;
use crate::exit::{Code, coded};
use crate::output::Ctx;

/// Decode a job's results (JSON Lines, plain, gzip or zstd) into a results Parquet file.
///
/// The compression is detected from the first bytes, so a download can be piped in as it
/// arrives. Memory stays bounded whatever the size of the input. Bad lines stop the decode with
/// their line number and byte offset, unless --lenient is given.
///
/// Examples:
///   xcomply decode results.jsonl --type tweets --out results/tweets-00001.parquet
///   curl -s "$DOWNLOAD_URL" | xcomply decode - --type users --out users.parquet
///   xcomply decode results.jsonl.zst --type tweets --out r.parquet --lenient --job-id 1446017776678801409
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The results file, or `-` for stdin.
    #[arg(value_name = "FILE")]
    pub input: String,

    /// The job type the results belong to.
    #[arg(long = "type", value_enum)]
    pub r#type: TypeArg,

    /// The Parquet file to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,

    /// The job ID to record in the `job_id` column.
    #[arg(long, value_name = "ID")]
    pub job_id: Option<String>,

    /// Write bad lines to a rejects file next to --out and go on, instead of stopping at the first.
    #[arg(long)]
    pub lenient: bool,
}

/// gzip's magic bytes (RFC 1952).
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
/// zstd's frame magic number, little-endian (RFC 8878).
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// Read buffer of the input: 256 KiB keeps pipes and decompressors streaming in large pieces.
const INPUT_BUFFER: usize = 256 * 1024;

/// Wraps the input in the decompressor its first bytes call for.
fn decompressed(mut input: Box<dyn Read>, name: &str) -> anyhow::Result<Box<dyn Read>> {
    // A pipe can deliver fewer bytes per read than a magic number has, so read until there are
    // enough or the input ends, then put the bytes back in front of the rest.
    let mut head = [0u8; ZSTD_MAGIC.len()];
    let mut len = 0;
    while len < head.len() {
        match input.read(&mut head[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(anyhow::Error::new(e).context(format!("reading {name}"))),
        }
    }
    let head = &head[..len];
    let whole = BufReader::with_capacity(
        INPUT_BUFFER,
        std::io::Cursor::new(head.to_vec()).chain(input),
    );
    Ok(if head.starts_with(GZIP_MAGIC) {
        // Multi-member, as `cat a.gz b.gz` and some servers produce.
        Box::new(flate2::bufread::MultiGzDecoder::new(whole))
    } else if head.starts_with(ZSTD_MAGIC) {
        Box::new(
            zstd::stream::read::Decoder::with_buffer(whole)
                .with_context(|| format!("starting zstd decompression of {name}"))?,
        )
    } else {
        Box::new(whole)
    })
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let Args {
        input,
        r#type,
        out,
        job_id,
        lenient,
    } = args;
    let job_type = JobType::from(r#type);
    let job_id = match job_id {
        None => None,
        Some(text) => Some(
            Id::parse_str(&text)
                .map_err(|e| coded(Code::Usage, anyhow::anyhow!("--job-id: {e}")))?
                .as_i64(),
        ),
    };
    let (name, raw): (String, Box<dyn Read>) = if input == "-" {
        ("<stdin>".to_owned(), Box::new(std::io::stdin().lock()))
    } else {
        let file = File::open(&input)
            .with_context(|| format!("cannot open results file `{input}`"))
            .map_err(|e| coded(Code::Input, e))?;
        (input, Box::new(file))
    };
    let reader = decompressed(raw, &name).map_err(|e| coded(Code::Input, e))?;
    let summary = decode_reader(reader, &job_type, job_id, &out, lenient).map_err(|err| {
        let code = match &err {
            SinkError::Decode { .. } | SinkError::ReadInput { .. } | SinkError::Io { .. } => {
                Code::Input
            }
            _ => Code::Failure,
        };
        coded(
            code,
            anyhow::Error::new(err).context(format!("decoding {name}")),
        )
    })?;

    let stats = summary.stats;
    let results = &summary.results;
    if !ctx.quiet {
        println!(
            "wrote {}: {} rows, {} bytes, sha256 {}",
            results.path.display(),
            results.rows,
            results.bytes,
            results.sha256
        );
        println!(
            "read {name}: {} lines, {} records, {} blank lines, {} duplicate IDs",
            stats.lines, stats.records, stats.blank_lines, stats.duplicates
        );
        println!(
            "unknown values kept: {} actions, {} reasons",
            stats.unknown_actions, stats.unknown_reasons
        );
        if let Some(rejects) = &summary.rejects {
            println!("rejected {} lines: {}", stats.rejected, rejects.display());
        }
    }
    if stats.rejected > 0 {
        tracing::warn!(
            rejected = stats.rejected,
            "some lines were rejected; see the rejects file"
        );
    }
    Ok(())
}
