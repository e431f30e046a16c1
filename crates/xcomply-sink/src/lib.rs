//! Parquet sink: writes results files, joins results against a large Parquet dataset into delete
//! manifests, and applies manifests to make a compliant copy.
//!
//! It deliberately does no networking and knows nothing of jobs beyond their results.

pub mod apply;
pub mod dataset;
mod error;
pub mod join;
pub mod probe;
pub mod results;
pub mod synth;

pub use error::SinkError;
