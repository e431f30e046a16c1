//! Text inputs: one ID per line, plain, gzip or zstd, parsed by a small pipeline of threads.
//!
//! A reader thread cuts the (decompressed) input into blocks that end on a line boundary, worker
//! threads parse blocks into IDs, and the calling thread takes the results in input order, so
//! that line numbers, the first error and the rejects file are the same as a sequential read.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};

use xcomply_core::Id;

use crate::{IdSink, Reject, ShardError};

/// Bytes per parsed block: about 100,000 lines, enough to amortise the channel hops, small enough
/// that the blocks in flight cost a few MiB.
const BLOCK: usize = 2 << 20;

/// Blocks read but not yet consumed: the workers' queue plus one being parsed by each. It bounds
/// the pipeline's memory to about `IN_FLIGHT * BLOCK` bytes plus their IDs.
const IN_FLIGHT: usize = 6;

/// The UTF-8 byte-order mark some editors put at the start of a file.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How a text input is compressed, told by its first bytes (not its name).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Recognises the gzip (`1f 8b`) and zstd (`28 b5 2f fd`) magic numbers.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Opens `path` (or stdin for `-`) and decompresses it by its magic bytes.
pub fn open_text(path: &str) -> Result<Box<dyn Read + Send>, ShardError> {
    let display = Path::new(if path == "-" { "<stdin>" } else { path });
    let raw: Box<dyn Read + Send> = if path == "-" {
        Box::new(io::stdin())
    } else {
        #[expect(
            clippy::disallowed_methods,
            reason = "a text file of IDs, not a Parquet dataset file"
        )]
        Box::new(File::open(path).map_err(ShardError::io("opening", Path::new(path)))?)
    };
    let mut buffered = BufReader::with_capacity(1 << 16, raw);
    let head = buffered
        .fill_buf()
        .map_err(ShardError::io("reading", display))?;
    Ok(match Compression::detect(head) {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(
            zstd::Decoder::with_buffer(buffered).map_err(ShardError::io("reading", display))?,
        ),
    })
}

/// Reads the text input `path` (`-` for stdin) into `sink`. See [`read_text_from`].
pub fn read_text(
    path: &str,
    lenient: bool,
    threads: usize,
    sink: &mut dyn IdSink,
) -> Result<u64, ShardError> {
    let name = if path == "-" { "<stdin>" } else { path };
    let reader = open_text(path)?;
    read_text_from(name, reader, lenient, threads, sink)
}

/// What a worker found in one block.
struct Parsed {
    ids: Vec<Id>,
    lines: u64,
    /// Bad lines: line number within the block (1-based) and the error. In strict mode parsing
    /// stops at the first.
    bad: Vec<(u64, xcomply_core::IdError)>,
}

/// Reads IDs, one per line, from `reader` into `sink`, with `name` in error positions.
///
/// Lines may carry surrounding spaces or tabs, a `\r` before the `\n`, and the first line a UTF-8
/// BOM; blank lines are skipped. In strict mode the first other line fails with
/// [`ShardError::InvalidId`] naming `name:line`; in lenient mode each goes to
/// [`IdSink::push_invalid`]. Returns the number of lines.
pub fn read_text_from(
    name: &str,
    reader: Box<dyn Read + Send>,
    lenient: bool,
    threads: usize,
    sink: &mut dyn IdSink,
) -> Result<u64, ShardError> {
    let workers = threads.max(1);
    // Tokens bound the blocks in flight: the reader takes one per block, the consumer returns it
    // once the block's IDs are in the sink.
    let (token_tx, token_rx) = mpsc::sync_channel::<()>(IN_FLIGHT);
    for _ in 0..IN_FLIGHT {
        token_tx.send(()).expect("fresh channel");
    }
    let (block_tx, block_rx) = mpsc::sync_channel::<(u64, Vec<u8>)>(IN_FLIGHT);
    let block_rx = Arc::new(Mutex::new(block_rx));
    let (result_tx, result_rx) = mpsc::channel::<(u64, Parsed)>();

    std::thread::scope(|scope| {
        let reader_thread = scope.spawn(move || read_blocks(reader, &token_rx, &block_tx));
        for _ in 0..workers {
            let block_rx = Arc::clone(&block_rx);
            let result_tx = result_tx.clone();
            scope.spawn(move || {
                loop {
                    let next = block_rx.lock().expect("block queue").recv();
                    let Ok((seq, block)) = next else { break };
                    let parsed = parse_block(&block, lenient);
                    if result_tx.send((seq, parsed)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(result_tx);

        let consumed = consume(name, lenient, &result_rx, &token_tx, sink);
        // Stop the pipeline whether or not the consumer finished: dropping the token sender and
        // the result receiver makes the reader and the workers return.
        drop(token_tx);
        drop(result_rx);
        let read = reader_thread.join().expect("reader thread panicked");
        let lines = consumed?;
        read.map_err(ShardError::io("reading", Path::new(name)))?;
        Ok(lines)
    })
}

fn consume(
    name: &str,
    lenient: bool,
    results: &mpsc::Receiver<(u64, Parsed)>,
    tokens: &mpsc::SyncSender<()>,
    sink: &mut dyn IdSink,
) -> Result<u64, ShardError> {
    let mut pending: BTreeMap<u64, Parsed> = BTreeMap::new();
    let mut next = 0u64;
    let mut lines = 0u64;
    while let Ok((seq, parsed)) = results.recv() {
        pending.insert(seq, parsed);
        while let Some(parsed) = pending.remove(&next) {
            next += 1;
            for (line, error) in parsed.bad {
                let at = format!("{name}:{}", lines + line);
                if !lenient {
                    return Err(ShardError::InvalidId { at, error });
                }
                sink.push_invalid(&Reject { at, error })?;
            }
            sink.push_ids(&parsed.ids)?;
            lines += parsed.lines;
            // The reader may now read one more block.
            let _ = tokens.send(());
        }
    }
    Ok(lines)
}

/// Cuts the input into blocks ending after a `\n` (the last may not), strips a leading BOM.
fn read_blocks(
    mut reader: Box<dyn Read + Send>,
    tokens: &mpsc::Receiver<()>,
    blocks: &mpsc::SyncSender<(u64, Vec<u8>)>,
) -> io::Result<()> {
    let mut carry: Vec<u8> = Vec::new();
    let mut seq = 0u64;
    let mut first = true;
    loop {
        if tokens.recv().is_err() {
            return Ok(());
        }
        let mut block = Vec::with_capacity(BLOCK.max(carry.len() * 2));
        block.append(&mut carry);
        let mut eof = false;
        // Fill to BLOCK bytes, and past it until a newline when a single line is longer.
        loop {
            let start = block.len();
            let room = BLOCK.max(block.len() + 4096) - start;
            block.resize(start + room, 0);
            let n = match reader.read(&mut block[start..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    // A signal interrupted the read; nothing was read, so try again.
                    block.truncate(start);
                    continue;
                }
                Err(e) => return Err(e),
            };
            block.truncate(start + n);
            if n == 0 {
                eof = true;
                break;
            }
            if block.len() >= BLOCK && memchr::memchr(b'\n', &block[start..]).is_some() {
                break;
            }
        }
        if first {
            first = false;
            if block.starts_with(BOM) {
                block.drain(..BOM.len());
            }
        }
        if !eof {
            let cut = memchr::memrchr(b'\n', &block).map_or(block.len(), |i| i + 1);
            carry.extend_from_slice(&block[cut..]);
            block.truncate(cut);
        }
        if !block.is_empty() || seq == 0 {
            if blocks.send((seq, block)).is_err() {
                return Ok(());
            }
            seq += 1;
        }
        if eof {
            return Ok(());
        }
    }
}

/// Parses one block. The fast path reads digits straight up to the `\n`; anything else (spaces,
/// `\r`, blank lines, errors, a last line without `\n`) takes the careful path.
fn parse_block(block: &[u8], lenient: bool) -> Parsed {
    let mut ids = Vec::with_capacity(block.len() / 16);
    let mut bad = Vec::new();
    let mut line = 0u64;
    let n = block.len();
    let mut i = 0;
    while i < n {
        line += 1;
        if let Some((value, len)) = swar_line(block, i)
            && let Some(id) = Id::new(value)
        {
            ids.push(id);
            i += len;
            continue;
        }
        let start = i;
        let mut value: u64 = 0;
        while i < n {
            let digit = block[i].wrapping_sub(b'0');
            if digit > 9 {
                break;
            }
            value = value.wrapping_mul(10).wrapping_add(u64::from(digit));
            i += 1;
        }
        let digits = i - start;
        if i < n
            && block[i] == b'\n'
            && (1..=xcomply_core::MAX_ID_DIGITS).contains(&digits)
            && let Some(id) = Id::new(value)
        {
            ids.push(id);
            i += 1;
            continue;
        }
        let end = memchr::memchr(b'\n', &block[start..]).map_or(n, |k| start + k);
        i = end + 1;
        let text = trim(&block[start..end]);
        if text.is_empty() {
            continue;
        }
        match Id::parse(text) {
            Ok(id) => ids.push(id),
            Err(error) => {
                bad.push((line, error));
                if !lenient {
                    // Strict: the consumer stops at this line, so the rest of the block is moot.
                    return Parsed {
                        ids,
                        lines: line,
                        bad,
                    };
                }
            }
        }
    }
    Parsed {
        ids,
        lines: line,
        bad,
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// Loads eight bytes with the first in the lowest byte.
#[inline]
fn load8(block: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(block[at..at + 8].try_into().expect("eight bytes"))
}

/// How many of the eight bytes of `word`, from the first, are ASCII digits (0 to 8).
#[inline]
fn leading_digits(word: u64) -> usize {
    // XOR with '0' maps digits to 0..=9; any other byte has a high nibble or a low nibble of 10
    // or more, which `+ 6` carries into the high nibble. Low nibble + 6 never carries past its
    // byte, so the bytes do not disturb each other.
    let t = word ^ (0x30 * ONES);
    let bad = ((t & (0xF0 * ONES)) | ((t & (0x0F * ONES)) + 0x06 * ONES)) & (0xF0 * ONES);
    (bad.trailing_zeros() / 8) as usize
}

/// The value of eight ASCII digits, first digit in the lowest byte (the classic SWAR reduction:
/// pairs, then quads, then the whole).
#[inline]
fn eight_digits(word: u64) -> u64 {
    let v = word - 0x30 * ONES;
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    let lo = (v & 0x0000_00FF_0000_00FF).wrapping_mul(100 + (1_000_000 << 32));
    let hi = ((v >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32));
    lo.wrapping_add(hi) >> 32
}

/// The value of the first `k` (1 to 8) digits of `word`: the digits are moved to the top and
/// the freed low bytes filled with `'0'`, which as leading zeros do not change the value.
#[inline]
fn first_digits(word: u64, k: usize) -> u64 {
    if k == 8 {
        return eight_digits(word);
    }
    let shift = 8 * (8 - k) as u32;
    eight_digits((word << shift) | ((0x30 * ONES) >> (64 - shift)))
}

const POW10: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// The fast path of a line: 1 to 19 digits then `\n`, read eight bytes at a time. Returns the
/// value and the bytes consumed with the newline, or `None` for anything else (other bytes, a
/// line too close to the block's end to load whole words), left to the careful path.
#[inline]
fn swar_line(block: &[u8], at: usize) -> Option<(u64, usize)> {
    if at + 24 > block.len() {
        return None;
    }
    let w1 = load8(block, at);
    let k1 = leading_digits(w1);
    if k1 < 8 {
        return (k1 > 0 && block[at + k1] == b'\n').then(|| (first_digits(w1, k1), k1 + 1));
    }
    let w2 = load8(block, at + 8);
    let k2 = leading_digits(w2);
    if k2 < 8 {
        return (block[at + 8 + k2] == b'\n').then(|| {
            let low = if k2 == 0 { 0 } else { first_digits(w2, k2) };
            (eight_digits(w1) * POW10[k2] + low, 9 + k2)
        });
    }
    let w3 = load8(block, at + 16);
    let k3 = leading_digits(w3);
    // At most 19 digits: 16 so far and up to 3 more, so the value cannot overflow a u64.
    if k3 > 3 || block[at + 16 + k3] != b'\n' {
        return None;
    }
    let high = eight_digits(w1) * 100_000_000 + eight_digits(w2);
    let low = if k3 == 0 { 0 } else { first_digits(w3, k3) };
    Some((high * POW10[k3] + low, 17 + k3))
}

/// Strips the spaces, tabs and `\r` that editors and Windows line endings leave around an ID.
fn trim(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b'\r', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t' | b'\r'] = bytes {
        bytes = rest;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The plain reading of a line: digits up to a newline, or nothing.
    fn naive_line(block: &[u8], at: usize) -> Option<(u64, usize)> {
        let end = at + block[at..].iter().position(|&b| b == b'\n')?;
        let line = &block[at..end];
        if line.is_empty() || line.len() > 19 || !line.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some((
            std::str::from_utf8(line).ok()?.parse().ok()?,
            line.len() + 1,
        ))
    }

    proptest! {
        #[test]
        fn swar_agrees_with_the_plain_reading(text in "[0-9]{0,21}[\n \r:/a]?[0-9\n]{0,30}", at in 0usize..4) {
            let mut block = text.into_bytes();
            block.resize(block.len().max(at + 1) + 24, b'\n');
            prop_assert!(at + 24 <= block.len());
            prop_assert_eq!(swar_line(&block, at), naive_line(&block, at));
        }
    }

    #[test]
    fn swar_reads_every_length() {
        for digits in 1..=19usize {
            let text = "9876543210123456789"[..digits].to_owned() + "\n";
            let mut block = text.clone().into_bytes();
            block.resize(40, b'x');
            assert_eq!(
                swar_line(&block, 0),
                Some((text.trim_end().parse().unwrap(), digits + 1)),
                "{digits}"
            );
        }
        assert_eq!(swar_line(&[b'1'; 40], 0), None);
    }
}
