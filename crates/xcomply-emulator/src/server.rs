//! The HTTP server: the router, the accept loop (which can reset a connection on purpose) and
//! the embeddable [`Emulator`] handle.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, put};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use xcomply_core::ComplianceJob;

use crate::config::{Config, Faults};
use crate::state::{Shared, Stats, UploadStats};
use crate::{EmulatorError, api, bytepath, storage};

/// A handle a request uses to drop its own connection, which is how a reset in the middle of a
/// body is injected: the socket is closed with unread data, so the kernel answers with a RST.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnKill(Arc<Notify>);

impl ConnKill {
    pub(crate) fn fire(&self) {
        self.0.notify_one();
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/2/compliance/jobs", get(api::list).post(api::create))
        .route("/2/compliance/jobs/{id}", get(api::get).delete(api::cancel))
        .route("/2/compliance/jobs/{id}/upload", put(bytepath::upload))
        .route("/2/compliance/jobs/{id}/download", get(bytepath::download))
        .fallback(storage::storage)
        .method_not_allowed_fallback(api::method_not_allowed)
        .with_state(shared)
}

/// The emulator as an axum [`Router`], for in-process use without a socket (for example with
/// `tower::ServiceExt::oneshot`). Signed URLs point at the `Host` of the create request (or
/// `Config::public_base_url`). Injected connection resets need the server loop of [`run`]; here
/// they become 500 answers. The data directory lives as long as the router.
pub fn app(config: Config) -> Result<Router, EmulatorError> {
    Ok(router(Shared::new(config)?))
}

/// Serves the emulator on an already bound listener until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), EmulatorError> {
    serve(listener, Shared::new(config)?, shutdown).await
}

async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), EmulatorError> {
    let router = router(shared);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Running out of file descriptors is transient; back off briefly rather
                        // than spinning or giving up.
                        tracing::warn!("emulator accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let kill = ConnKill::default();
                let service = TowerToHyperService::new(
                    router.clone().layer(axum::Extension(kill.clone())),
                );
                connections.spawn(async move {
                    let builder = Builder::new(TokioExecutor::new());
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = connection => {}
                        () = kill.0.notified() => {}
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
    Ok(())
}

/// A running emulator on 127.0.0.1, for tests and for embedding (`xcomply demo`, `run
/// --emulator`). Dropping it stops the server; [`Emulator::shutdown`] also waits for it.
#[derive(Debug)]
pub struct Emulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    base_url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), EmulatorError>>>,
}

impl Emulator {
    /// Starts an emulator on `127.0.0.1:0` (a free port).
    pub async fn start(config: Config) -> Result<Emulator, EmulatorError> {
        Emulator::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Starts an emulator on `addr`.
    pub async fn start_on(addr: SocketAddr, config: Config) -> Result<Emulator, EmulatorError> {
        let bind_err = |source| EmulatorError::Bind {
            addr: addr.to_string(),
            source,
        };
        let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        let shared = Shared::new(config)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, Arc::clone(&shared), async move {
            let _ = stopped.await;
        }));
        Ok(Emulator {
            shared,
            addr,
            base_url: format!("http://{addr}"),
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`, the API base URL (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The first accepted bearer token.
    pub fn token(&self) -> &str {
        &self.shared.config.tokens[0]
    }

    /// Where uploads and results are stored.
    pub fn data_dir(&self) -> &Path {
        &self.shared.data_dir
    }

    /// The configuration it was started with (faults as at start).
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// A snapshot of requests, uploads and faults so far.
    pub fn stats(&self) -> Stats {
        self.shared.lock().stats.clone()
    }

    /// Every job of every token as the API would show it now, oldest first. Signed URLs in it
    /// redact themselves when printed.
    pub fn jobs(&self) -> Vec<ComplianceJob> {
        let now = self.shared.now_ms();
        self.shared
            .lock()
            .jobs
            .values()
            .map(|j| j.to_api(now))
            .collect()
    }

    /// Upload counts of one job (zero when nothing was uploaded).
    pub fn uploads_for(&self, job_id: u64) -> UploadStats {
        self.shared
            .lock()
            .stats
            .uploads
            .get(&job_id)
            .copied()
            .unwrap_or_default()
    }

    /// Moves the emulated clock forward; expiry, rate-limit windows and processing deadlines see
    /// the jump at the next request.
    pub fn advance(&self, by: Duration) {
        self.shared.clock.advance(by);
    }

    /// The emulated time, in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.shared.now_ms()
    }

    /// Replaces the fault injection from now on (the seeded sequence continues).
    pub fn set_faults(&self, faults: Faults) {
        *self
            .shared
            .faults
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = faults;
    }

    /// Stops accepting, closes every connection and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
