//! Progress events: what the scheduler reports while it runs. The command line draws them as one
//! live line per type on a terminal, or as plain log lines otherwise.

use std::fmt;

use xcomply_core::{JobId, JobType};

/// What a shard is doing right now.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Activity {
    /// Extracting and sharding the IDs.
    Sharding,
    /// Creating its job.
    Creating,
    /// Uploading its IDs.
    Uploading,
    /// Waiting for the API to process the job.
    Waiting,
    /// Downloading and decoding the results.
    Downloading,
    /// Results written.
    Done,
    /// Failed for good after every retry.
    Failed,
    /// Joining the results against the dataset.
    Joining,
}

impl fmt::Display for Activity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Activity::Sharding => "sharding",
            Activity::Creating => "creating job",
            Activity::Uploading => "uploading",
            Activity::Waiting => "waiting",
            Activity::Downloading => "downloading",
            Activity::Done => "done",
            Activity::Failed => "failed",
            Activity::Joining => "joining",
        })
    }
}

/// One progress event.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Event {
    /// The shards are planned: how many per type and how many IDs.
    Planned {
        /// Tweets or users.
        job_type: JobType,
        /// Shards of this type.
        shards: u32,
        /// IDs of this type.
        ids: u64,
        /// Shards whose results are already written (from an earlier invocation).
        done: u32,
        /// IDs of those shards.
        done_ids: u64,
    },
    /// A shard changed activity.
    Shard {
        /// Tweets or users.
        job_type: JobType,
        /// 1-based shard index.
        index: u32,
        /// Shards of this type.
        of: u32,
        /// What it does now.
        activity: Activity,
        /// IDs in the shard.
        ids: u64,
        /// Its current job, if any.
        job: Option<JobId>,
    },
    /// A whole-run step (sharding, joining) changed.
    Step {
        /// What it does now.
        activity: Activity,
    },
    /// Something worth a log line: a retry, an adopted job, an expired URL.
    Note {
        /// The message (never holds a secret).
        message: String,
    },
}

/// Receives progress events. Called from the scheduler's tasks: keep it quick.
pub trait Observer: Send + Sync {
    /// One event.
    fn event(&self, event: &Event);
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {
    fn event(&self, _event: &Event) {}
}
