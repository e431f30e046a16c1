//! Parquet sink: writes results files, joins results against a large Parquet dataset into
//! manifests (rows to delete, to rehydrate, to scrub of geo data), and applies manifests to make a
//! compliant copy.
//!
//! It deliberately does no networking and knows nothing of jobs beyond their results.
//!
//! ```
//! use xcomply_sink::{join, synth};
//!
//! let dir = tempfile::tempdir().unwrap();
//! // A small seeded dataset, and results flagging about 3% of its posts and 1% of its authors.
//! let spec = synth::DatasetSpec { files: 2, rows_per_file: 2_000, ..Default::default() };
//! synth::generate_dataset(&dir.path().join("data"), &spec).unwrap();
//! let flags = synth::flag_sample(&spec, 0.03, 0.01);
//! synth::write_results(&dir.path().join("results"), &flags).unwrap();
//!
//! let summary = join::join_paths(
//!     &[dir.path().join("data")],
//!     &dir.path().join("results"),
//!     &dir.path().join("manifests"),
//!     &join::JoinOptions::default(),
//! )
//! .unwrap();
//! assert_eq!(summary.files_scanned, 2);
//! assert!(dir.path().join("manifests/manifest.parquet").exists());
//! ```

pub mod apply;
pub mod dataset;
mod error;
pub mod join;
pub mod probe;
pub mod results;
pub mod synth;

pub use error::SinkError;
