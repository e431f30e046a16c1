//! `xcomply`: keeps large X datasets compliant with X's batch compliance API.
//!
//! The binary only turns arguments into settings, calls the library crates, draws progress and
//! maps errors to exit codes (see `exit.rs`). It holds no protocol or format logic of its own.

// Doc comments on clap arguments are the `--help` text users read, where backticks would print
// literally; identifiers such as X_BEARER_TOKEN stay bare there.
#![allow(clippy::doc_markdown)]

mod commands;
mod exit;
mod output;

use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

/// Keep large X (Twitter) datasets compliant with X's batch compliance API.
///
/// xcomply extracts post and user IDs from your dataset, runs them through X's batch compliance
/// jobs (create, upload, poll, download) within the rate limits, and joins the results against the
/// dataset into delete manifests that Spark and DuckDB apply.
///
/// Start with `xcomply demo`, which runs the whole pipeline against a local emulator.
#[derive(Debug, Parser)]
#[command(name = "xcomply", version, max_term_width = 100, after_help = exit::EXIT_CODES_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    /// More log output on stderr (-v info, -vv debug, -vvv trace). Secrets are never logged.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = GLOBAL)]
    verbose: u8,

    /// Only errors on stderr: no progress bars, no log lines.
    #[arg(
        short,
        long,
        global = true,
        conflicts_with = "verbose",
        help_heading = GLOBAL
    )]
    quiet: bool,
}

/// The --help heading of the options every command takes, so that they are not interleaved with
/// the command's own options.
const GLOBAL: &str = "Global options";

#[derive(Debug, Subcommand)]
enum Command {
    Demo(commands::demo::Args),
    Run(commands::run::Args),
    Status(commands::status::Args),
    Shard(commands::shard::Args),
    Jobs(commands::jobs::Args),
    Upload(commands::upload::Args),
    Download(commands::download::Args),
    Decode(commands::decode::Args),
    Join(commands::join::Args),
    Apply(commands::apply::Args),
    Emulator(commands::emulator::Args),
}

/// The command-line definition, with the exit-code table at the end of every command's --help
/// (subcommands of subcommands included), so that each states the same table as the README.
fn command() -> clap::Command {
    with_exit_codes(Cli::command())
}

fn with_exit_codes(cmd: clap::Command) -> clap::Command {
    let cmd = if cmd.get_after_help().is_none() {
        cmd.after_help(exit::EXIT_CODES_HELP)
    } else {
        cmd
    };
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    names
        .iter()
        .fold(cmd, |cmd, name| cmd.mut_subcommand(name, with_exit_codes))
}

fn main() -> ExitCode {
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    let ctx = output::Ctx::new(cli.verbose, cli.quiet);
    ctx.init_logging();
    let result = match cli.command {
        Command::Demo(args) => commands::demo::run(args, &ctx),
        Command::Run(args) => commands::run::run(args, &ctx),
        Command::Status(args) => commands::status::run(args, &ctx),
        Command::Shard(args) => commands::shard::run(args, &ctx),
        Command::Jobs(args) => commands::jobs::run(args, &ctx),
        Command::Upload(args) => commands::upload::run(args, &ctx),
        Command::Download(args) => commands::download::run(args, &ctx),
        Command::Decode(args) => commands::decode::run(args, &ctx),
        Command::Join(args) => commands::join::run(args, &ctx),
        Command::Apply(args) => commands::apply::run(args, &ctx),
        Command::Emulator(args) => commands::emulator::run(args, &ctx),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => exit::report(&err),
    }
}
