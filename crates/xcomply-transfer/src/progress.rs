//! Progress hooks: how many bytes are done, for progress bars and logs.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One progress report.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ProgressUpdate {
    /// Bytes sent (uploads) or received before decoding (downloads) so far. After a resumed
    /// upload restarts from the persisted offset, `done` goes back to that offset.
    pub done: u64,
    /// The whole size, when known.
    pub total: Option<u64>,
    /// Time since the transfer started.
    pub elapsed: Duration,
}

impl ProgressUpdate {
    /// The average rate so far, in bytes per second.
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.done as f64 / secs
        } else {
            0.0
        }
    }
}

/// A progress callback, or none. Cheap to clone. The callback runs on the transfer's task for
/// every chunk (a few hundred KiB), so it must be quick: set a counter, update a bar.
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<dyn Fn(ProgressUpdate) + Send + Sync>>);

impl Progress {
    /// No reporting.
    pub fn none() -> Progress {
        Progress(None)
    }

    /// Reports to `f`.
    pub fn new(f: impl Fn(ProgressUpdate) + Send + Sync + 'static) -> Progress {
        Progress(Some(Arc::new(f)))
    }

    /// Starts tracking one transfer of `total` bytes.
    pub(crate) fn start(&self, total: Option<u64>) -> Tracker {
        Tracker {
            progress: self.clone(),
            total,
            start: Instant::now(),
        }
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Progress(callback)"
        } else {
            "Progress(none)"
        })
    }
}

/// The progress of one transfer.
#[derive(Clone, Debug)]
pub(crate) struct Tracker {
    progress: Progress,
    total: Option<u64>,
    start: Instant,
}

impl Tracker {
    pub(crate) fn set_total(&mut self, total: Option<u64>) {
        self.total = total;
    }

    pub(crate) fn report(&self, done: u64) {
        if let Some(f) = &self.progress.0 {
            f(ProgressUpdate {
                done,
                total: self.total,
                elapsed: self.start.elapsed(),
            });
        }
    }
}
