//! One module per subcommand: its clap `Args` and its `run`.

pub mod apply;
pub mod common;
pub mod decode;
pub mod demo;
pub mod download;
pub mod emulator;
pub mod jobs;
pub mod join;
pub mod run;
pub mod shard;
pub mod status;
pub mod upload;
