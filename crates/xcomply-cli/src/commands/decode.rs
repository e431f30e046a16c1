//! `xcomply decode`: results JSON Lines into the results Parquet file.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use xcomply_core::{Id, JobType};
use xcomply_sink::SinkError;
use xcomply_sink::results::{DecodeOptions, decode_reader_with, errors_path, rejects_path};

use super::common::TypeArg;
use super::join::count;
use crate::exit::{Code, coded};
use crate::output::Ctx;
use crate::output::say;

/// Decode a job's results (JSON Lines, plain, gzip or zstd) into a results
/// Parquet file.
///
/// The compression is detected from the first bytes, so a download can be piped
/// in as it arrives. Memory stays bounded whatever the size of the input. Bad
/// lines stop the decode with their line number and byte offset, unless --lenient
/// is given. Input that is plainly not JSON Lines (a Parquet file, an HTML page,
/// an archive) is refused at once. An existing --out (or rejects or errors file)
/// is replaced only with --force, and none may be the input file itself.
///
/// Both vocabularies are read: the live API's (actions delete, rehydrate and
/// scrub_geo, deleted_at, a null redacted_at) and the one of results downloaded
/// before September 2026 (action delete, reason scrub_geo). Error records, the
/// API's answer to an uploaded line that is not an ID ({"id": "<the line>",
/// "error": "invalid_id"}), are not rows and never fail a decode: they are
/// counted ("error records" in the summary) and written to --errors.
///
/// Examples:
///   xcomply decode results.jsonl --type tweets --out results/tweets-1.parquet
///   curl -s "$DOWNLOAD_URL" | xcomply decode - --type users --out users.parquet
///   xcomply decode results.jsonl.zst --type tweets --out r.parquet --lenient \
///       --job-id 1446017776678801409
///   xcomply decode results.jsonl --type tweets --out r.parquet --json \
///       --errors unchecked-ids.jsonl
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The results file, or `-` for stdin.
    #[arg(value_name = "FILE")]
    pub input: String,

    /// The job type the results belong to.
    #[arg(long = "type", value_enum)]
    pub r#type: TypeArg,

    /// The Parquet file to write. It must not exist, unless --force is given.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,

    /// Replace an existing --out, errors file and, with --lenient, rejects file (atomically, once
    /// the decode has succeeded). None may be the input file itself, even with --force.
    #[arg(long)]
    pub force: bool,

    /// Where to write the error records, one {"id":"<the line>","error":"<why>"} per line
    /// [default: beside --out, X.parquet → X.errors.jsonl]. Written only when the results
    /// hold error records, or with --force over an existing file (then it is replaced, by an
    /// empty file when there are none, so it never describes another decode).
    #[arg(long, value_name = "FILE")]
    pub errors: Option<PathBuf>,

    /// Print the summary as one JSON object on stdout (paths and counts, error_records among
    /// them) instead of lines for people.
    #[arg(long)]
    pub json: bool,

    /// The job ID to record in the `job_id` column.
    #[arg(long, value_name = "ID")]
    pub job_id: Option<String>,

    /// Write bad lines to a rejects file next to --out (`X.parquet` → `X.rejects.jsonl`) and go
    /// on, instead of stopping at the first. An existing rejects file is replaced only with --force.
    #[arg(long)]
    pub lenient: bool,
}

/// gzip's magic bytes (RFC 1952).
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
/// zstd's frame magic number, little-endian (RFC 8878).
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// Leading bytes examined to recognise the input's format: enough for every magic number below
/// and for a few leading blanks before an HTML page's `<`.
const HEAD_BYTES: usize = 16;

/// Formats that are plainly not (compressed) JSON Lines, by their leading bytes: what a user may
/// hand to decode by mistake, and what to do instead.
const NOT_JSONL: &[(&[u8], &str, &str)] = &[
    // Parquet's magic number (the Parquet format specification).
    (
        b"PAR1",
        "a Parquet file",
        "; results Parquet files are already decoded and go to `xcomply join --results` as they are",
    ),
    // ZIP local file header (APPNOTE.TXT 4.3.7).
    (b"PK\x03\x04", "a ZIP archive", "; unpack it first"),
    // bzip2 and xz stream headers.
    (
        b"BZh",
        "a bzip2 file",
        "; decompress it first (gzip and zstd are read directly)",
    ),
    (
        b"\xfd7zXZ\x00",
        "an xz file",
        "; decompress it first (gzip and zstd are read directly)",
    ),
];

/// What the input looks like, and a hint, when its first bytes say it is not JSON Lines.
fn not_jsonl(head: &[u8]) -> Option<(&'static str, &'static str)> {
    if let Some((_, what, hint)) = NOT_JSONL.iter().find(|(magic, ..)| head.starts_with(magic)) {
        return Some((what, hint));
    }
    if head.trim_ascii_start().starts_with(b"<") {
        return Some((
            "an HTML or XML page",
            "; perhaps an error page was saved instead of the results",
        ));
    }
    // JSON Lines is text: a NUL byte in the first bytes means a binary file.
    if head.contains(&0) && !head.starts_with(GZIP_MAGIC) && !head.starts_with(ZSTD_MAGIC) {
        return Some(("a binary file", ""));
    }
    None
}

/// Read buffer of the input: 256 KiB keeps pipes and decompressors streaming in large pieces.
const INPUT_BUFFER: usize = 256 * 1024;

/// Wraps the input in the decompressor its first bytes call for.
fn decompressed(mut input: Box<dyn Read>, name: &str) -> anyhow::Result<Box<dyn Read>> {
    // A pipe can deliver fewer bytes per read than a magic number has, so read until there are
    // enough or the input ends, then put the bytes back in front of the rest.
    let mut head = [0u8; HEAD_BYTES];
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
    if let Some((what, hint)) = not_jsonl(head) {
        anyhow::bail!("{name} looks like {what}, expected JSON Lines results{hint}");
    }
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

/// The file behind the input, when it is one: `<stdin>` redirected from a file counts too (on
/// Linux `/dev/stdin` leads to it), while a pipe or terminal is no file that an output could be.
fn input_identity(name: &str) -> Option<(PathBuf, std::fs::Metadata)> {
    let path = PathBuf::from(if name == "<stdin>" {
        "/dev/stdin"
    } else {
        name
    });
    let metadata = std::fs::metadata(&path)
        .ok()
        .filter(std::fs::Metadata::is_file)?;
    Some((path, metadata))
}

/// Whether `path` names the same file as the input (following symlinks; hard links included).
fn is_same_file((input_path, input): &(PathBuf, std::fs::Metadata), path: &Path) -> bool {
    let Ok(other) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let _ = input_path;
        input.dev() == other.dev() && input.ino() == other.ino()
    }
    #[cfg(not(unix))]
    {
        // Without device and inode numbers, canonical paths are the closest test.
        let _ = (input, other);
        std::fs::canonicalize(input_path).ok() == std::fs::canonicalize(path).ok()
    }
}

/// Refuses outputs that would destroy the input (--out, the rejects file or the errors file
/// being the input file itself), two outputs under one name, and, without --force, outputs that
/// already exist: --out, the errors file and, with --lenient, the rejects file alike.
fn check_outputs(
    input: Option<&(PathBuf, std::fs::Metadata)>,
    out: &Path,
    errors: &Path,
    lenient: bool,
    force: bool,
) -> anyhow::Result<()> {
    let mut outputs = vec![(format!("--out `{}`", out.display()), out.to_path_buf())];
    if lenient {
        let rejects = rejects_path(out);
        outputs.push((
            format!(
                "the rejects file `{}` (of --out `{}`)",
                rejects.display(),
                out.display()
            ),
            rejects,
        ));
    }
    outputs.push((
        format!("the errors file `{}`", errors.display()),
        errors.to_path_buf(),
    ));
    // Two outputs under one name would overwrite each other; compared as absolute paths, which
    // also catches `r.parquet` and `./r.parquet`.
    for (i, (what, path)) in outputs.iter().enumerate() {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        if let Some((other, _)) = outputs[..i]
            .iter()
            .find(|(_, p)| std::path::absolute(p).unwrap_or_else(|_| p.clone()) == absolute)
        {
            return Err(coded(
                Code::Usage,
                anyhow::anyhow!("{what} is also {other}; expected a file of its own (--errors)"),
            ));
        }
    }
    for (what, path) in outputs {
        if input.is_some_and(|input| is_same_file(input, &path)) {
            return Err(coded(
                Code::Input,
                anyhow::anyhow!(
                    "{what} is the input file; expected an output other than the input (the \
                     rejects of --out `X.parquet` go to `X.rejects.jsonl`, its error records to \
                     `X.errors.jsonl` or --errors)"
                ),
            ));
        }
        if !force && (path.exists() || path.is_symlink()) {
            return Err(coded(
                Code::Input,
                anyhow::anyhow!(
                    "{what} already exists; expected a new file, or --force to replace it"
                ),
            ));
        }
    }
    Ok(())
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let Args {
        input,
        r#type,
        out,
        job_id,
        lenient,
        force,
        errors,
        json,
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
    let errors = errors.unwrap_or_else(|| errors_path(&out));
    check_outputs(
        input_identity(&name).as_ref(),
        &out,
        &errors,
        lenient,
        force,
    )?;
    let options = DecodeOptions {
        lenient,
        // Past `check_outputs`, an existing errors file means --force: it is replaced even when
        // there are no error records, so it cannot be mistaken for this decode's.
        keep_empty_errors: errors.exists() || errors.is_symlink(),
        errors: Some(errors),
    };
    let reader = decompressed(raw, &name).map_err(|e| coded(Code::Input, e))?;
    let summary = decode_reader_with(reader, &job_type, job_id, &out, &options).map_err(|err| {
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
    if json {
        let path = |p: Option<&PathBuf>| p.map(|p| p.display().to_string());
        let value = serde_json::json!({
            "input": name,
            "results": {
                "path": results.path.display().to_string(),
                "rows": results.rows,
                "bytes": results.bytes,
                "sha256": results.sha256,
            },
            "lines": stats.lines,
            "records": stats.records,
            "blank_lines": stats.blank_lines,
            "duplicates": stats.duplicates,
            "unknown_actions": stats.unknown_actions,
            "unknown_reasons": stats.unknown_reasons,
            "rejected": stats.rejected,
            "rejects": path(summary.rejects.as_ref()),
            "error_records": stats.error_records,
            "errors": path(summary.errors.as_ref()),
        });
        say!("{value}")?;
    } else if !ctx.quiet {
        say!(
            "wrote {}: {}, {}, sha256 {}",
            results.path.display(),
            count(results.rows, "row", "rows"),
            count(results.bytes, "byte", "bytes"),
            results.sha256
        )?;
        say!(
            "read {name}: {}, {}, {}, {}",
            count(stats.lines, "line", "lines"),
            count(stats.records, "record", "records"),
            count(stats.blank_lines, "blank line", "blank lines"),
            count(stats.duplicates, "duplicate ID", "duplicate IDs"),
        )?;
        say!(
            "unknown values kept: {}, {}",
            count(stats.unknown_actions, "action", "actions"),
            count(stats.unknown_reasons, "reason", "reasons"),
        )?;
        if let Some(rejects) = &summary.rejects {
            say!(
                "rejected {}: {}",
                count(stats.rejected, "line", "lines"),
                rejects.display()
            )?;
        }
        // Always said, so that a person reading the summary sees how many IDs X could not check.
        match &summary.errors {
            Some(path) => say!(
                "error records (input lines X could not check): {}, written to {}",
                stats.error_records,
                path.display()
            )?,
            None => say!(
                "error records (input lines X could not check): {}",
                stats.error_records
            )?,
        }
    }
    if stats.error_records > 0 {
        tracing::warn!(
            error_records = stats.error_records,
            "X could not check some uploaded lines; see the errors file"
        );
    }
    if stats.rejected > 0 {
        tracing::warn!(
            rejected = stats.rejected,
            "some lines were rejected; see the rejects file"
        );
    }
    Ok(())
}
