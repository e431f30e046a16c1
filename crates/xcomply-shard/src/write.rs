//! Shard files: sorted unique IDs formatted as decimal lines, cut by count and size, hashed and
//! written by a second thread, each to a temporary name renamed once every shard is complete.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use sha2::{Digest, Sha256};

use crate::ShardError;
use crate::manifest::ShardInfo;

/// Bytes formatted before handing a buffer to the hashing and writing thread. Large enough that
/// the channel costs nothing per ID, small enough that the buffers in flight stay a few MiB.
const BUFFER: usize = 1 << 20;

/// Buffers queued for the writing thread: its capacity bounds the memory in flight and lets the
/// formatting thread run ahead while the other hashes and writes.
const QUEUE: usize = 3;

/// Two decimal digits per entry: formatting two digits per step halves the divisions.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends `value` in decimal and a newline to `out`; returns the bytes written.
#[inline]
pub fn push_decimal_line(out: &mut Vec<u8>, mut value: u64) -> usize {
    let mut tmp = [0u8; 21];
    let mut at = 20;
    tmp[20] = b'\n';
    while value >= 100 {
        let pair = (value % 100) as usize * 2;
        value /= 100;
        at -= 2;
        tmp[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if value >= 10 {
        let pair = value as usize * 2;
        at -= 2;
        tmp[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        at -= 1;
        tmp[at] = b'0' + value as u8;
    }
    out.extend_from_slice(&tmp[at..]);
    21 - at
}

/// What the formatting thread tells the writing thread.
enum Message {
    Open(PathBuf),
    Data(Vec<u8>),
    Close,
}

/// The shard currently being filled.
struct Current {
    count: u64,
    min: u64,
    max: u64,
    bytes: u64,
}

/// Writes sorted unique IDs into `{type}-00001.txt`, … under `dir`.
pub struct ShardWriter {
    dir: PathBuf,
    prefix: String,
    max_ids: u64,
    max_bytes: Option<u64>,
    buf: Vec<u8>,
    current: Option<Current>,
    done: Vec<ShardInfo>,
    sender: Option<mpsc::SyncSender<Message>>,
    recycled: mpsc::Receiver<Vec<u8>>,
    thread: Option<std::thread::JoinHandle<Result<Vec<String>, ShardError>>>,
}

impl std::fmt::Debug for ShardWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardWriter")
            .field("dir", &self.dir)
            .field("prefix", &self.prefix)
            .field("shards", &self.done.len())
            .finish_non_exhaustive()
    }
}

/// The temporary name of a shard file, hidden so that a listing never shows half a shard.
pub fn temp_name(dir: &Path, file: &str) -> PathBuf {
    dir.join(format!(".{file}.tmp"))
}

impl ShardWriter {
    pub fn new(dir: &Path, prefix: &str, max_ids: u64, max_bytes: Option<u64>) -> ShardWriter {
        let (sender, receiver) = mpsc::sync_channel::<Message>(QUEUE);
        let (recycle, recycled) = mpsc::channel::<Vec<u8>>();
        let thread = std::thread::spawn(move || write_thread(&receiver, &recycle));
        ShardWriter {
            dir: dir.to_owned(),
            prefix: prefix.to_owned(),
            max_ids: max_ids.max(1),
            max_bytes,
            buf: Vec::with_capacity(BUFFER + 32),
            current: None,
            done: Vec::new(),
            sender: Some(sender),
            recycled,
            thread: Some(thread),
        }
    }

    fn send(&mut self, message: Message) -> Result<(), ShardError> {
        let failed = self
            .sender
            .as_ref()
            .is_none_or(|s| s.send(message).is_err());
        if failed {
            // The writing thread stopped: its error says why.
            self.sender = None;
            return Err(self.join().err().unwrap_or_else(|| {
                ShardError::InvalidOption("the shard writing thread stopped".into())
            }));
        }
        Ok(())
    }

    fn flush_buffer(&mut self) -> Result<(), ShardError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let fresh = self
            .recycled
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BUFFER + 32));
        let full = std::mem::replace(&mut self.buf, fresh);
        self.send(Message::Data(full))
    }

    fn close_shard(&mut self) -> Result<(), ShardError> {
        if let Some(current) = self.current.take() {
            self.flush_buffer()?;
            self.send(Message::Close)?;
            let file = shard_file_name(&self.prefix, self.done.len() + 1);
            self.done.push(ShardInfo {
                file,
                count: current.count,
                min: current.min,
                max: current.max,
                bytes: current.bytes,
                sha256: String::new(),
            });
        }
        Ok(())
    }

    /// Appends a batch of sorted unique IDs, each greater than every ID written before.
    pub fn write(&mut self, values: &[u64]) -> Result<(), ShardError> {
        for &value in values {
            let line_len = decimal_len(value) + 1;
            let full = match &self.current {
                None => false,
                Some(c) => {
                    c.count >= self.max_ids
                        || self
                            .max_bytes
                            .is_some_and(|limit| c.bytes + line_len > limit)
                }
            };
            if full {
                self.close_shard()?;
            }
            if self.current.is_none() {
                let file = shard_file_name(&self.prefix, self.done.len() + 1);
                let path = temp_name(&self.dir, &file);
                self.send(Message::Open(path))?;
                self.current = Some(Current {
                    count: 0,
                    min: value,
                    max: value,
                    bytes: 0,
                });
            }
            let current = self.current.as_mut().expect("a shard is open");
            current.count += 1;
            current.max = value;
            current.bytes += push_decimal_line(&mut self.buf, value) as u64;
            if self.buf.len() >= BUFFER {
                self.flush_buffer()?;
            }
        }
        Ok(())
    }

    fn join(&mut self) -> Result<Vec<String>, ShardError> {
        self.sender = None;
        match self.thread.take() {
            Some(thread) => thread.join().expect("shard writing thread panicked"),
            None => Err(ShardError::InvalidOption(
                "the shard writing thread already stopped".into(),
            )),
        }
    }

    /// Closes the last shard, waits for every byte to be written and renames the temporary files
    /// to their final names. Returns the shards in order.
    pub fn finish(mut self) -> Result<Vec<ShardInfo>, ShardError> {
        self.close_shard()?;
        let hashes = self.join()?;
        let mut shards = std::mem::take(&mut self.done);
        for (shard, hash) in shards.iter_mut().zip(hashes) {
            shard.sha256 = hash;
            let from = temp_name(&self.dir, &shard.file);
            let to = self.dir.join(&shard.file);
            std::fs::rename(&from, &to).map_err(ShardError::io("renaming", &from))?;
        }
        Ok(shards)
    }
}

impl Drop for ShardWriter {
    fn drop(&mut self) {
        // On an error path, stop the thread and remove the temporary files it left.
        if self.thread.is_some() {
            let _ = self.join();
            for n in 1..=self.done.len() + 1 {
                let _ =
                    std::fs::remove_file(temp_name(&self.dir, &shard_file_name(&self.prefix, n)));
            }
        }
    }
}

/// `tweets-00001.txt`: five digits sort correctly in listings up to 99,999 shards.
pub fn shard_file_name(prefix: &str, number: usize) -> String {
    format!("{prefix}-{number:05}.txt")
}

#[inline]
fn decimal_len(value: u64) -> u64 {
    u64::from(value.checked_ilog10().unwrap_or(0) + 1)
}

fn write_thread(
    receiver: &mpsc::Receiver<Message>,
    recycle: &mpsc::Sender<Vec<u8>>,
) -> Result<Vec<String>, ShardError> {
    let mut sums = Vec::new();
    let mut open: Option<(File, Sha256, PathBuf)> = None;
    while let Ok(message) = receiver.recv() {
        match message {
            Message::Open(path) => {
                let file = File::create(&path).map_err(ShardError::io("creating", &path))?;
                open = Some((file, Sha256::new(), path));
            }
            Message::Data(mut data) => {
                let (file, hasher, path) = open.as_mut().expect("data after open");
                hasher.update(&data);
                file.write_all(&data)
                    .map_err(ShardError::io("writing", path))?;
                data.clear();
                let _ = recycle.send(data);
            }
            Message::Close => {
                // No fsync: the rename after the last shard makes the files visible atomically,
                // and a crash of the process (not of the machine) loses nothing in the page cache.
                let (_file, hasher, _path) = open.take().expect("close after open");
                sums.push(hex::encode(hasher.finalize()));
            }
        }
    }
    Ok(sums)
}

/// Writes sorted unique IDs that are all in memory: the shard boundaries are known up front, so
/// each of `threads` threads formats, hashes and writes whole shards at once, with no hand-off
/// between threads. Temporary files are renamed once all shards are written.
pub fn write_all(
    dir: &Path,
    prefix: &str,
    values: &[u64],
    max_ids: u64,
    max_bytes: Option<u64>,
    threads: usize,
) -> Result<Vec<ShardInfo>, ShardError> {
    let bounds = shard_bounds(values, max_ids.max(1), max_bytes);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<Vec<(usize, ShardInfo)>, ShardError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.max(1).min(bounds.len().max(1)))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    let mut buf = Vec::with_capacity(BUFFER + 32);
                    loop {
                        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&(from, to)) = bounds.get(n) else {
                            return Ok(done);
                        };
                        let file = shard_file_name(prefix, n + 1);
                        let info = write_one(dir, file, &values[from..to], &mut buf)?;
                        done.push((n, info));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("shard writing thread panicked"))
            .collect()
    });
    let mut shards: Vec<(usize, ShardInfo)> = Vec::with_capacity(bounds.len());
    let mut failure = None;
    for result in results {
        match result {
            Ok(done) => shards.extend(done),
            Err(e) => failure = Some(e),
        }
    }
    if let Some(e) = failure {
        for n in 1..=bounds.len() {
            let _ = std::fs::remove_file(temp_name(dir, &shard_file_name(prefix, n)));
        }
        return Err(e);
    }
    shards.sort_by_key(|(n, _)| *n);
    let shards: Vec<ShardInfo> = shards.into_iter().map(|(_, info)| info).collect();
    for shard in &shards {
        let from = temp_name(dir, &shard.file);
        std::fs::rename(&from, dir.join(&shard.file)).map_err(ShardError::io("renaming", &from))?;
    }
    Ok(shards)
}

/// The `[from, to)` index ranges of the shards: at most `max_ids` IDs and, if set, `max_bytes`
/// bytes each.
fn shard_bounds(values: &[u64], max_ids: u64, max_bytes: Option<u64>) -> Vec<(usize, usize)> {
    let mut bounds = Vec::new();
    let Some(limit) = max_bytes else {
        let step = usize::try_from(max_ids).unwrap_or(usize::MAX);
        let mut from = 0;
        while from < values.len() {
            let to = from.saturating_add(step).min(values.len());
            bounds.push((from, to));
            from = to;
        }
        return bounds;
    };
    let (mut from, mut bytes) = (0, 0u64);
    for (i, &v) in values.iter().enumerate() {
        let line = decimal_len(v) + 1;
        if i > from && ((i - from) as u64 >= max_ids || bytes + line > limit) {
            bounds.push((from, i));
            from = i;
            bytes = 0;
        }
        bytes += line;
    }
    if from < values.len() {
        bounds.push((from, values.len()));
    }
    bounds
}

fn write_one(
    dir: &Path,
    file: String,
    values: &[u64],
    buf: &mut Vec<u8>,
) -> Result<ShardInfo, ShardError> {
    let path = temp_name(dir, &file);
    let mut out = File::create(&path).map_err(ShardError::io("creating", &path))?;
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    for chunk in values.chunks(BUFFER / 24) {
        buf.clear();
        for &v in chunk {
            push_decimal_line(buf, v);
        }
        hasher.update(&buf[..]);
        out.write_all(buf)
            .map_err(ShardError::io("writing", &path))?;
        bytes += buf.len() as u64;
    }
    Ok(ShardInfo {
        file,
        count: values.len() as u64,
        min: values[0],
        max: values[values.len() - 1],
        bytes,
        sha256: hex::encode(hasher.finalize()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_lines_match_display() {
        let mut out = Vec::new();
        for v in [
            0,
            1,
            9,
            10,
            99,
            100,
            101,
            12_345,
            u64::from(u32::MAX),
            i64::MAX as u64,
            u64::MAX,
        ] {
            out.clear();
            let n = push_decimal_line(&mut out, v);
            assert_eq!(out, format!("{v}\n").into_bytes());
            assert_eq!(n as u64, decimal_len(v) + 1);
        }
    }
}
