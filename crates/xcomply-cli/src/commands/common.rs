//! Arguments and helpers shared by several subcommands.

use std::path::PathBuf;

use xcomply_core::JobType;

/// How to reach the X API. The bearer token is read from `X_BEARER_TOKEN` (or `--token-file`), never
/// from an argument, so it cannot end up in shell history, `ps` output or `--help`.
#[derive(Debug, Clone, clap::Args)]
pub struct ApiArgs {
    /// Base URL of the X API. Point it at xcomply emulator to try things locally.
    #[arg(long, value_name = "URL", default_value = "https://api.x.com")]
    pub api_base: String,

    /// Read the bearer token from this file instead of the X_BEARER_TOKEN environment variable.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// The emulator's transfer flow, as a command-line value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FlowArg {
    /// The live API since September 2026: byte paths on the API with the Bearer token.
    BytePath,
    /// The flow before it: signed Google Cloud Storage URLs, resumable uploads.
    Gcs,
}

impl From<FlowArg> for xcomply_emulator::Flow {
    fn from(f: FlowArg) -> xcomply_emulator::Flow {
        match f {
            FlowArg::BytePath => xcomply_emulator::Flow::BytePath,
            FlowArg::Gcs => xcomply_emulator::Flow::Gcs,
        }
    }
}

/// The job type, as a command-line value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TypeArg {
    /// Post (tweet) IDs.
    Tweets,
    /// User IDs.
    Users,
}

impl From<TypeArg> for JobType {
    fn from(t: TypeArg) -> JobType {
        match t {
            TypeArg::Tweets => JobType::Tweets,
            TypeArg::Users => JobType::Users,
        }
    }
}

/// The bearer token: from `--token-file` when given, else from X_BEARER_TOKEN. The token is never
/// echoed; a missing or unusable one exits with the credentials code.
pub fn load_token(api: &ApiArgs) -> anyhow::Result<xcomply_client::BearerToken> {
    let token = match &api.token_file {
        Some(path) => xcomply_client::BearerToken::from_file(path),
        None => xcomply_client::BearerToken::from_env(),
    };
    token.map_err(|e| crate::exit::coded(crate::exit::Code::Credentials, e))
}

/// A jobs API client for `--api-base` with the token of [`load_token`].
pub fn api_client(api: &ApiArgs) -> anyhow::Result<xcomply_client::Client> {
    let token = load_token(api)?;
    xcomply_client::Client::new(xcomply_client::ClientConfig::new(&api.api_base, token))
        .map_err(|e| crate::exit::coded(crate::exit::Code::Usage, e))
}

/// A tokio runtime for one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| crate::exit::coded(crate::exit::Code::Failure, e))
}

/// The exit code of a jobs API error: refused credentials are 5, a wait cancelled by Ctrl-C is
/// 130, an unknown job or a refused request is a usage error, and failures that outlasted every
/// retry (5xx, network, rate limits, usage caps) and a conflict with another unfinished job of the
/// type are 6.
pub fn client_code(err: &xcomply_client::ClientError) -> crate::exit::Code {
    use crate::exit::Code;
    use xcomply_client::ClientError;
    match err {
        _ if err.is_auth() => Code::Credentials,
        ClientError::Cancelled { .. } => Code::Interrupted,
        ClientError::Config(_) => Code::Usage,
        _ if err.is_not_found() || err.status() == Some(400) => Code::Usage,
        _ if err.is_conflict() => Code::Api,
        _ => Code::Api,
    }
}

/// A jobs API error with its exit code.
pub fn client_error(err: xcomply_client::ClientError) -> anyhow::Error {
    let code = client_code(&err);
    crate::exit::coded(code, err)
}

/// The exit code of a transfer error: local files are 4, an expired URL or a byte path's refused
/// token (the job is lost) is 3, a refused Bearer token or signature is 5, a file too large for
/// one upload is 4, and storage or network failures after every retry are 6.
pub fn transfer_code(err: &xcomply_transfer::TransferError) -> crate::exit::Code {
    use crate::exit::Code;
    use xcomply_transfer::TransferError;
    match err {
        TransferError::Io { .. } | TransferError::TooLarge { .. } => Code::Input,
        TransferError::Expired { .. } | TransferError::TokenRefused { .. } => Code::JobsFailed,
        TransferError::Unauthorized { .. } => Code::Credentials,
        TransferError::Config(_) => Code::Usage,
        _ if err.is_forbidden() => Code::Credentials,
        _ => Code::Api,
    }
}

/// The transfer client for `url`. A byte path of the live API (`…/2/compliance/jobs/{id}/upload`
/// or `…/download`) needs the app's Bearer token, which is read here and sent only to URLs on
/// `--api-base`'s origin; a signed storage URL of the older flow needs none.
pub fn transfers_for(
    api: &ApiArgs,
    url: &xcomply_core::SignedUrl,
) -> anyhow::Result<xcomply_transfer::Transfers> {
    use crate::exit::{Code, coded};
    let access = if xcomply_transfer::is_byte_path(url.expose()) {
        let token = load_token(api)?;
        let access = xcomply_transfer::ApiAccess::new(&api.api_base, token.expose())
            .map_err(|e| coded(Code::Usage, e))?;
        if !access.same_origin(url.expose()) {
            tracing::warn!(
                "{} is not on the API's origin ({}), so the bearer token is not sent to it; pass \
                 --api-base with that URL's scheme, host and port if it is the API",
                xcomply_transfer::host_of(url.expose()),
                api.api_base
            );
        }
        Some(access)
    } else {
        None
    };
    xcomply_transfer::Transfers::new(xcomply_transfer::TransferConfig {
        api: access,
        ..xcomply_transfer::TransferConfig::default()
    })
    .map_err(transfer_error)
}

/// The exit code of a sink error (join, apply): refused object-storage credentials are 5 and
/// object storage failing after every retry 6; everything else is the input's (4).
pub fn sink_code(err: &xcomply_sink::SinkError) -> crate::exit::Code {
    match err {
        xcomply_sink::SinkError::Dataset(d) => dataset_code(d),
        _ => crate::exit::Code::Input,
    }
}

/// The exit code of a dataset error: refused object-storage credentials are 5, object storage
/// failing after every retry 6, anything else (missing paths, no Parquet files) 4.
pub fn dataset_code(err: &xcomply_dataset::DatasetError) -> crate::exit::Code {
    use xcomply_dataset::{DatasetError, StoreErrorKind};
    match err {
        DatasetError::ObjectStore {
            kind: StoreErrorKind::Credentials,
            ..
        } => crate::exit::Code::Credentials,
        DatasetError::ObjectStore {
            kind: StoreErrorKind::Other,
            ..
        } => crate::exit::Code::Api,
        _ => crate::exit::Code::Input,
    }
}

/// A transfer error with its exit code.
pub fn transfer_error(err: xcomply_transfer::TransferError) -> anyhow::Error {
    let code = transfer_code(&err);
    crate::exit::coded(code, err)
}

/// A byte-count progress bar on a terminal, none otherwise; returns the bar (to finish) and the
/// transfer hook that drives it.
pub fn byte_progress(
    ctx: &crate::output::Ctx,
    label: &str,
) -> (Option<indicatif::ProgressBar>, xcomply_transfer::Progress) {
    if !ctx.progress() {
        return (None, xcomply_transfer::Progress::none());
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(label.to_owned());
    let hook_bar = bar.clone();
    let hook = xcomply_transfer::Progress::new(move |p| {
        if let Some(total) = p.total {
            hook_bar.set_length(total);
        }
        hook_bar.set_position(p.done);
    });
    (Some(bar), hook)
}

/// `12.3 MiB`: a byte count for humans.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
