//! The end-to-end run: shards both ID types, drives one job at a time per type through create,
//! upload, wait and download, decodes and joins, and journals every transition durably so that a
//! crashed run resumes.
//!
//! The scheduler ([`run`]) is written against the [`Stages`] trait: the jobs API, the transfers and
//! the local shard and join steps. [`real::RealStages`] implements it with the stage crates; tests
//! implement it with fakes that fail, expire and crash on purpose.
//!
//! Durability: `run.json` (the run ID) is written before anything else, `state.json` after every
//! transition (atomically, mode 0600), results and manifests under temporary names renamed into
//! place, and a lock file keeps a second run out of the directory. Resume rules, applied when the
//! same command runs again on the same directory:
//!
//! - a job created but not uploaded whose upload URL expired is cancelled and replaced;
//! - a job in progress keeps being polled and is never uploaded again;
//! - a complete job is downloaded; results already written and matching their checksum are kept;
//! - a failed or expired job is replaced, up to `max_job_retries` times, then reported;
//! - results whose download URL expired (after 7 days) get a new job;
//! - jobs of this run the state does not know (lost state file, crash right after creation) are
//!   found by listing and adopted by name, `xcomply-<run id>-<type>-<shard>`, unless their
//!   results can no longer be downloaded;
//! - a job whose status this version does not know is polled like one in progress, with the
//!   same growing delay, and never uploaded to.
//!
//! Refusals, before anything is written: a run directory that is a file, a non-empty directory
//! that is not a run directory, or one inside an input directory; inputs without a single ID;
//! and, once shards are planned, inputs whose files were added, removed or changed (size or
//! modification time, the fingerprint kept in `run.json`) — [`RunConfig::restart`] starts such a
//! run over under a new run ID instead.
//!
//! It deliberately does not start an emulator, draw progress or choose exit codes: callers pass the
//! stages, an [`Observer`] and a cancellation token, and map [`ErrorClass`] to exit codes.
//!
//! ```no_run
//! # async fn example(stages: std::sync::Arc<impl xcomply_pipeline::Stages>) {
//! use std::sync::Arc;
//! use xcomply_pipeline::{RunConfig, Silent, run};
//!
//! let config = RunConfig::new("run1", "dataset=data/");
//! let cancel = tokio_util::sync::CancellationToken::new();
//! let summary = run(stages, config, Arc::new(Silent), cancel).await.unwrap();
//! assert!(summary.is_success());
//! # }
//! ```

mod error;
mod progress;
pub mod real;
mod run;
mod stages;
pub mod state;

#[cfg(test)]
mod tests;

pub use error::{ErrorClass, PipelineError, StageError, StageErrorKind};
pub use progress::{Activity, Event, Observer, Silent};
pub use run::{FailedShard, JobTiming, RunConfig, RunSummary, Timings, TypeSummary, run};
pub use stages::{DownloadOutput, JoinOutput, ResultsFile, ShardFile, ShardOutput, Stages};
