//! The HTTP endpoint: /healthz, /status, /metrics and the drain/reload controls.
//!
//! ```text
//!   TcpListener ─ accept ─▶ connection task ×N (hyper http1) ─▶ routes::handle
//!                                   GET: ctx.status() / ctx.metrics() / ctx.alive
//!                                   POST: ApiCommand ──mpsc──▶ daemon loop ──oneshot──▶ reply
//! ```
//!
//! The API owns no daemon state: reads go through snapshot closures the runtime provides, and
//! every change is a command to the daemon loop, which stays the single owner of the state.

mod auth;
mod routes;

use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::status::Status;

/// A client that has not sent its request headers by then is disconnected.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What the runtime provides to the API.
#[derive(Clone)]
pub struct ApiContext {
    /// A fresh /status snapshot.
    pub status: Arc<dyn Fn() -> Status + Send + Sync>,
    /// The /metrics page.
    pub metrics: Arc<dyn Fn() -> String + Send + Sync>,
    /// Drain, undrain and reload requests for the daemon loop.
    pub commands: mpsc::Sender<ApiCommand>,
    /// `api.token`: lets non-loopback clients POST with `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// /healthz answers 200 while the daemon loop keeps beating this.
    pub alive: Liveness,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Drain,
    Undrain,
    Reload,
}

/// A request for the daemon loop; `vip` is `None` for all VIPs (always `None` for Reload).
#[derive(Debug)]
pub struct ApiCommand {
    pub action: Action,
    pub vip: Option<IpAddr>,
    /// `Ok(message)` is sent to the client with 200.
    pub reply: oneshot::Sender<Result<String, ApiError>>,
}

/// How a command failed; each maps to an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 404: e.g. a VIP that is not in the configuration.
    #[error("{0}")]
    NotFound(String),
    /// 400: e.g. a reload with an invalid config (the old one stays in force).
    #[error("{0}")]
    Rejected(String),
    /// 500.
    #[error("{0}")]
    Failed(String),
}

/// A heartbeat: the daemon loop calls [`Liveness::beat`] on every turn (and on a periodic
/// tick); /healthz fails once no beat came for `max_silence`.
#[derive(Debug, Clone)]
pub struct Liveness {
    last: Arc<Mutex<Instant>>,
    max_silence: Duration,
    /// A task whose end takes the daemon down: /healthz fails from then on.
    failed: Arc<Mutex<Option<String>>>,
}

impl Liveness {
    pub fn new(max_silence: Duration) -> Liveness {
        Liveness {
            last: Arc::new(Mutex::new(Instant::now())),
            max_silence,
            failed: Arc::new(Mutex::new(None)),
        }
    }

    pub fn beat(&self) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// `what` ended and the daemon is exiting: /healthz fails.
    pub fn fail(&self, what: &str) {
        *self.failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(what.to_string());
    }

    /// The task whose end is taking the daemon down, if one did.
    pub fn failure(&self) -> Option<String> {
        self.failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn is_alive(&self) -> bool {
        if self
            .failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
        {
            return false;
        }
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
            <= self.max_silence
    }
}

/// Serves the API on `listener` until `shutdown` resolves; open connections are then closed.
pub async fn serve(listener: TcpListener, ctx: ApiContext, shutdown: impl Future<Output = ()>) {
    let ctx = Arc::new(ctx);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Typically EMFILE: back off instead of spinning.
                    tracing::warn!(error = %e, "api: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        crate::fault::inject("api");
        let ctx = ctx.clone();
        // task: api connection
        connections.spawn(async move {
            let service = service_fn(move |req| routes::handle(req, peer, ctx.clone()));
            let result = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "api: connection ended with an error");
            }
        });
    }
}
