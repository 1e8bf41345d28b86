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
//!
//! Limits, so that no client can take the descriptors the health checks and BGP need:
//! at most [`Limits::max_connections`] connections are open (a semaphore); at the cap the
//! oldest connection that is not in a request is closed to make room (as nginx reuses idle
//! keep-alive connections), and when every one is in a request the newcomer is answered 503
//! and closed. A connection that sends no complete request head for
//! [`Limits::header_read_timeout`] (from connect, and between keep-alive requests) is closed;
//! request bodies are capped at [`Limits::max_body`] (413) and must arrive within
//! [`Limits::body_read_timeout`] (408).

mod auth;
mod conns;
pub mod objects;
mod routes;

use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinSet;

use crate::config::DEFAULT_API_MAX_CONNECTIONS;
use crate::metrics::ApiMetrics;
use crate::status::Status;

/// A client that has not sent a complete request head by then (after connecting, or after its
/// previous answer on a keep-alive connection) is disconnected.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request body accepted; beyond it, 413.
pub const MAX_BODY: usize = 64 * 1024;
/// A request body must have arrived by then; otherwise 408.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a new connection at the cap waits for the idle connection it evicted to close.
const EVICTION_WAIT: Duration = Duration::from_millis(250);
/// An evicted connection that hyper does not close at once (a request head only partly sent,
/// an answer the client does not read) is dropped after this long.
const EVICTION_GRACE: Duration = Duration::from_millis(100);
/// At most one warning per this long about connections refused at the cap.
const REFUSAL_WARNING_EVERY: Duration = Duration::from_secs(10);

/// What one client may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `api.max_connections`.
    pub max_connections: usize,
    pub max_body: usize,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
}

impl Limits {
    /// The defaults, with `max_connections` from the config.
    pub fn new(max_connections: usize) -> Limits {
        Limits {
            max_connections,
            max_body: MAX_BODY,
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_read_timeout: BODY_READ_TIMEOUT,
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::new(DEFAULT_API_MAX_CONNECTIONS)
    }
}

/// What the runtime provides to the API.
#[derive(Clone)]
pub struct ApiContext {
    /// A fresh /status snapshot.
    pub status: Arc<dyn Fn() -> Status + Send + Sync>,
    /// The running config for `GET /config`.
    pub config: Arc<dyn Fn() -> Arc<crate::config::running::RunningConfig> + Send + Sync>,
    /// The /metrics page.
    pub metrics: Arc<dyn Fn() -> String + Send + Sync>,
    /// Drain, undrain and reload requests for the daemon loop.
    pub commands: mpsc::Sender<ApiCommand>,
    /// Changes to VIPs, services and backends, written back to the config file by the loop.
    pub edits: mpsc::Sender<EditCommand>,
    /// `api.token`: lets non-loopback clients POST with `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// `api.writable`: off, PUT/PATCH/DELETE on `/vips/…` answer 409.
    pub writable: bool,
    /// /healthz answers 200 while the daemon loop keeps beating this.
    pub alive: Liveness,
    pub limits: Limits,
    /// Requests and connections, for /metrics.
    pub counters: Arc<ApiMetrics>,
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

/// A change to one VIP, service or backend (`PUT`, `PATCH`, `DELETE` on `/vips/…`).
#[derive(Debug)]
pub struct EditCommand {
    pub target: crate::config::edit::Target,
    pub change: crate::config::edit::Change,
    /// The client's `If-Match`: the change applies only to the file with this tag.
    pub if_match: Option<String>,
    pub reply: oneshot::Sender<Result<EditAnswer, ApiError>>,
}

/// An accepted change: the resulting object (JSON; `null` after a delete) and the file's new
/// entity tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditAnswer {
    pub created: bool,
    pub json: String,
    pub etag: String,
    /// The config file's changed lines (`-old`, `+new`), for the audit record.
    pub diff: String,
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
    /// 400 with the validation errors as `{"errors": [{"path", "message"}]}`.
    #[error("{0}")]
    Invalid(String),
    /// 409: writes are off, or the file cannot be written or differs from what runs.
    #[error("{0}")]
    Conflict(String),
    /// 412: `If-Match` names another version of the file.
    #[error("{0}")]
    Stale(String),
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
    let limits = ctx.limits;
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let table = conns::Table::default();
    let mut refusals = conns::Refusals::new(REFUSAL_WARNING_EVERY);
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
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            // At the cap: close the oldest idle connection and take its slot.
            Err(_) if table.evict_oldest_idle() => {
                ctx.counters.evicted();
                tokio::time::timeout(EVICTION_WAIT, slots.clone().acquire_owned())
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
            Err(_) => None,
        };
        let Some(permit) = permit else {
            ctx.counters.refused();
            refusals.note(peer, limits.max_connections);
            conns::refuse(stream, limits.max_connections);
            continue;
        };
        // Registered before the task runs, so the next accept already sees it to evict.
        let (conn, registered) = table.register();
        ctx.counters.opened();
        let counters = ctx.counters.clone();
        let counted = conns::OnDrop(move || counters.closed());
        let ctx = ctx.clone();
        // task: api connection
        connections.spawn(async move {
            let _permit = permit;
            let _registered = registered;
            let _counted = counted;
            let in_request = conn.clone();
            let ctx_for_service = ctx.clone();
            let service = service_fn(move |req| {
                let busy = in_request.busy();
                let ctx = ctx_for_service.clone();
                async move {
                    let _busy = busy;
                    routes::handle(req, peer, ctx).await
                }
            });
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(served);
            let result = tokio::select! {
                result = served.as_mut() => result,
                _ = conn.evicted() => {
                    tracing::debug!(%peer, "api: closing an idle connection to make room");
                    // hyper closes at once when idle (fresh, or between requests). Not in our
                    // handler either, so nothing is lost by dropping it after the grace.
                    served.as_mut().graceful_shutdown();
                    tokio::time::timeout(EVICTION_GRACE, served).await.unwrap_or(Ok(()))
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "api: connection ended with an error");
            }
        });
    }
}

/// How entity tags compare (RFC 9110 §8.8.3.2): `If-Match` compares strong (a weak tag
/// never matches), `If-None-Match` weak (tags compare by their opaque part).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Strong,
    Weak,
}

/// Whether a header's list of tags names `etag`, or is `*`.
pub fn etag_listed(header: &str, etag: &str, compare: Compare) -> bool {
    header.split(',').map(str::trim).any(|t| {
        let t = match compare {
            Compare::Weak => t.trim_start_matches("W/"),
            Compare::Strong => t,
        };
        t == "*" || t == etag
    })
}
