//! `xcomply emulator`: the local API and storage emulator as a server.

use std::net::SocketAddr;

use crate::output::Ctx;

/// Run a local emulator of X's batch compliance API and its signed-URL storage.
///
/// Prints its base URL and token on start and runs until Ctrl-C. Point any xcomply command at it
/// with --api-base.
///
/// Example:
///   xcomply emulator --addr 127.0.0.1:8080 --time-scale 60
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Seed of the deterministic answers and fault injection.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

pub fn run(_args: Args, _ctx: &Ctx) -> anyhow::Result<()> {
    super::common::not_implemented("emulator")
}
