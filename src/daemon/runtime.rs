//! The owner loop: receives observations, commands, reports and signals; asks the pure
//! `NodeState` what follows; hands the results to the speaker, the dataplane and the API.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

use super::state::NodeState;
use crate::bgp::{RouteSet, Speaker};
use crate::config::{self, Community, Config};
use crate::dataplane::Dataplane;
use crate::health::{Checker, Observation};

/// How often slow-start ramps are advanced.
const TICK: Duration = Duration::from_secs(1);
/// Room for bursts of check results before checkers wait on the loop.
const OBSERVATION_QUEUE: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot install signal handler: {0}")]
    Signals(std::io::Error),
    #[error("cannot listen on {addr} for the HTTP endpoint: {source}")]
    ApiListen { addr: std::net::SocketAddr, source: std::io::Error },
}

/// What the loop is asked to do from outside (API, CLI, signals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Drain(Option<IpAddr>),
    Undrain(Option<IpAddr>),
    Reload,
}

pub async fn run(config_path: PathBuf, cfg: Config, cleanup: bool) -> Result<(), RuntimeError> {
    let mut sigterm = signal(SignalKind::terminate()).map_err(RuntimeError::Signals)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(RuntimeError::Signals)?;
    let mut sighup = signal(SignalKind::hangup()).map_err(RuntimeError::Signals)?;

    tracing::info!(router_id = %cfg.node.router_id, asn = cfg.node.asn, vips = cfg.vips.len(),
        peers = cfg.bgp.peers.len(), "anycastd {} starting", env!("CARGO_PKG_VERSION"));

    let mut cfg = cfg;
    let mut state = NodeState::new(&cfg);
    let dataplane = Dataplane::start();
    let mut dp_reports = dataplane.reports();
    let speaker = Speaker::start(&cfg.node, &cfg.bgp);
    let (obs_tx, mut obs_rx) = mpsc::channel::<Observation>(OBSERVATION_QUEUE);
    let mut checker = Checker::start(state.targets(), obs_tx.clone());
    let (vip_status_tx, _vip_status_rx) = watch::channel(Arc::new(state.vip_status()));
    let (_req_tx, mut req_rx) = mpsc::channel::<Request>(16);

    let mut outputs = Outputs::default();
    outputs.publish(&state, &speaker, &dataplane, &vip_status_tx, false);

    let mut tick = tokio::time::interval(TICK);
    let shutdown_delay;
    loop {
        tokio::select! {
            Some(obs) = obs_rx.recv() => {
                let changes = state.observe(obs, Instant::now());
                for line in &changes.transitions {
                    tracing::info!("{line}");
                }
                outputs.publish(&state, &speaker, &dataplane, &vip_status_tx, false);
            }
            Ok(()) = dp_reports.changed() => {
                let report = dp_reports.borrow_and_update().clone();
                state.set_dataplane((*report).clone());
                outputs.publish(&state, &speaker, &dataplane, &vip_status_tx, false);
            }
            Some(req) = req_rx.recv() => {
                match req {
                    Request::Drain(vip) | Request::Undrain(vip) => {
                        let drain = matches!(req, Request::Drain(_));
                        match state.set_drained(vip, drain) {
                            Ok(_) => tracing::info!(vip = ?vip, "{}", if drain { "drained" } else { "undrained" }),
                            Err(e) => tracing::warn!("{e}"),
                        }
                    }
                    Request::Reload => {
                        if let Some(new) = reload(&config_path, &cfg) {
                            state.reload(&new);
                            speaker.reconfigure(&new.node, &new.bgp);
                            checker = Checker::start(state.targets(), obs_tx.clone());
                            cfg = new;
                        }
                    }
                }
                outputs.publish(&state, &speaker, &dataplane, &vip_status_tx, false);
            }
            _ = tick.tick() => {
                state.tick(Instant::now());
                outputs.publish(&state, &speaker, &dataplane, &vip_status_tx, false);
            }
            _ = sighup.recv() => {
                if let Some(new) = reload(&config_path, &cfg) {
                    state.reload(&new);
                    speaker.reconfigure(&new.node, &new.bgp);
                    checker = Checker::start(state.targets(), obs_tx.clone());
                    cfg = new;
                    outputs.publish(&state, &speaker, &dataplane, &vip_status_tx, false);
                }
            }
            _ = sigterm.recv() => { shutdown_delay = cfg.bgp.shutdown_delay; break; }
            _ = sigint.recv() => { shutdown_delay = cfg.bgp.shutdown_delay; break; }
        }
    }

    // Shutdown: tell routers to prefer other nodes (RFC 8326), give them time, withdraw, Cease.
    drop(checker);
    if !shutdown_delay.is_zero() && !outputs.routes.is_empty() {
        tracing::info!(delay = ?shutdown_delay, "announcing GRACEFUL_SHUTDOWN before withdrawing");
        outputs.publish(&state, &speaker, &dataplane, &vip_status_tx, true);
        tokio::select! {
            _ = tokio::time::sleep(shutdown_delay) => {}
            _ = sigterm.recv() => tracing::info!("second signal: skipping the shutdown delay"),
            _ = sigint.recv() => tracing::info!("second signal: skipping the shutdown delay"),
        }
    }
    speaker.set_routes(RouteSet::new());
    speaker.shutdown().await;
    dataplane.shutdown(cleanup).await;
    tracing::info!("anycastd stopped");
    Ok(())
}

/// Loads and validates the config for a reload; on error keeps the old one and says why.
fn reload(path: &std::path::Path, old: &Config) -> Option<Config> {
    match config::load(path) {
        Ok(new) if &new == old => {
            tracing::info!("reload: configuration unchanged");
            None
        }
        Ok(new) => {
            tracing::info!("reload: applying new configuration");
            Some(new)
        }
        Err(e) => {
            tracing::error!("reload rejected, keeping the running configuration:\n{e}");
            None
        }
    }
}

/// What was last handed to each consumer, so unchanged results are not sent again.
#[derive(Default)]
struct Outputs {
    routes: RouteSet,
    desired: Option<crate::dataplane::DesiredState>,
}

impl Outputs {
    fn publish(
        &mut self,
        state: &NodeState,
        speaker: &Speaker,
        dataplane: &Dataplane,
        vip_status: &watch::Sender<Arc<Vec<crate::status::VipStatus>>>,
        graceful_shutdown: bool,
    ) {
        let mut routes = state.route_set();
        if graceful_shutdown {
            for attrs in routes.values_mut() {
                if !attrs.communities.contains(&Community::GRACEFUL_SHUTDOWN) {
                    attrs.communities.push(Community::GRACEFUL_SHUTDOWN);
                }
            }
        }
        if routes != self.routes {
            speaker.set_routes(routes.clone());
            self.routes = routes;
        }
        let desired = state.desired_dataplane();
        if self.desired.as_ref() != Some(&desired) {
            dataplane.set_desired(desired.clone());
            self.desired = Some(desired);
        }
        vip_status.send_if_modified(|current| {
            let new = state.vip_status();
            if **current != new {
                *current = Arc::new(new);
                true
            } else {
                false
            }
        });
    }
}
