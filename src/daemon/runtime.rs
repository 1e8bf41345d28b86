//! The owner loop: receives observations, commands, reports and signals; asks the pure
//! `NodeState` what follows; hands the results to the speaker, the dataplane and the API.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

use super::catalog_run::{catalog_changed, CatalogRun};
use super::state::{Changes, DrainOrigin, NodeState};
use super::state_file;
use crate::api::{
    self, Action, ApiCommand, ApiContext, ApiError, EditAnswer, EditCommand, Liveness,
};
use crate::bgp::{Limits, RouteSet, Speaker};
use crate::config::running::RunningConfig;
use crate::config::{self, Config};
use crate::dataplane::Dataplane;
use crate::health::{Checker, Observation};
use crate::metrics::{self, CheckMetrics};
use crate::status::Status;
use crate::systemd;

/// How often slow-start ramps advance and the liveness heartbeat beats.
const TICK: Duration = Duration::from_secs(1);
/// /healthz fails when the loop has not turned for this long.
const LIVENESS_SILENCE: Duration = Duration::from_secs(10);
/// How long a start without a catalog cache file waits for etcd's first answer.
const FIRST_CATALOG_WAIT: Duration = Duration::from_secs(3);
/// Room for bursts of check results before checkers wait on the loop.
const OBSERVATION_QUEUE: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot install signal handler: {0}")]
    Signals(std::io::Error),
    #[error("cannot listen on {addr} for the HTTP endpoint: {source}")]
    ApiListen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// Everything the loop owns besides the pure state.
struct Daemon {
    config_path: PathBuf,
    /// The accepted config file as `GET /config` serves it.
    running: watch::Sender<Arc<RunningConfig>>,
    /// The config in force: the node's file with the catalog's VIPs merged in.
    cfg: Config,
    /// The accepted file alone, and its text: a new catalog is merged into these.
    file_cfg: Config,
    file_text: String,
    /// The fleet catalog, with `[catalog]`.
    catalog: Option<CatalogRun>,
    state: NodeState,
    speaker: Arc<Speaker>,
    dataplane: Dataplane,
    checker: Checker,
    observations: mpsc::Sender<Observation>,
    check_metrics: Arc<CheckMetrics>,
    status: watch::Sender<Arc<Status>>,
    /// What was last handed to the speaker: the same allocation its sessions read, not a copy.
    sent_routes: Arc<RouteSet>,
    /// The state file's path and content as last read or written: it is rewritten when the
    /// drains to keep (or its path, by a reload) differ.
    saved_drains: (PathBuf, Vec<u8>),
}

/// How the daemon ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// SIGTERM/SIGINT: routes withdrawn, Cease sent.
    Stopped,
    /// SIGUSR2: sessions closed without NOTIFICATION so routers keep our routes (RFC 4724)
    /// while a new process starts; the dataplane is left serving.
    GracefulRestart,
    /// A task the daemon cannot run without ended (the dataplane thread, the BFD task, the
    /// HTTP server: they only end by panicking). Like a graceful restart, the sessions are
    /// closed without NOTIFICATION and the kernel is left serving; the exit status is
    /// non-zero so that systemd starts the daemon again (`Restart=on-failure`).
    TaskFailed(&'static str),
}

/// The longest a restarted daemon holds back its initial BGP table waiting for first health
/// results; well inside the graceful-restart time routers keep our routes for (120 s).
const MAX_INITIAL_HOLD: Duration = Duration::from_secs(90);

pub async fn run(
    config_path: PathBuf,
    file_cfg: Config,
    text: &str,
    cleanup: bool,
) -> Result<Exit, RuntimeError> {
    // With [catalog]: the cache file's VIPs from the start, etcd's as soon as it answers.
    let mut catalog = file_cfg
        .catalog
        .as_ref()
        .map(|c| CatalogRun::new(c, &config_path));
    if let Some(run) = catalog.as_mut() {
        run.start_watch();
        if run.applied.is_none() {
            // No cache file: give etcd a moment, so a node whose catalog is there starts with
            // it (and adopts what a previous run left in the kernel) instead of starting
            // without it and adding it a moment later.
            run.await_first_snapshot(FIRST_CATALOG_WAIT).await;
        }
    }
    let cfg = match catalog.as_mut() {
        Some(run) => run.merge(text, &file_cfg),
        None => file_cfg.clone(),
    };
    let mut sigterm = signal(SignalKind::terminate()).map_err(RuntimeError::Signals)?;
    let mut sigusr2 = signal(SignalKind::user_defined2()).map_err(RuntimeError::Signals)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(RuntimeError::Signals)?;
    let mut sighup = signal(SignalKind::hangup()).map_err(RuntimeError::Signals)?;
    let api_listener = tokio::net::TcpListener::bind(cfg.api.listen)
        .await
        .map_err(|source| RuntimeError::ApiListen {
            addr: cfg.api.listen,
            source,
        })?;

    tracing::info!(router_id = %cfg.node.router_id, asn = cfg.node.asn, vips = cfg.vips.len(),
        peers = cfg.bgp.peers.len(), api = %cfg.api.listen, "anycastd {} starting", env!("CARGO_PKG_VERSION"));

    let mut state = NodeState::new(&cfg);
    // Before anything can be announced: a VIP drained before a restart stays drained.
    let state_path = state_file::path(&cfg, &config_path);
    let loaded = state_file::load(&state_path);
    let unreadable = loaded.is_err();
    for line in state.restore_drains(loaded, state_file::unix_now()) {
        if unreadable {
            tracing::error!("{line}");
        } else {
            tracing::warn!("{line}");
        }
    }
    let saved_drains = (state_path, state.saved_drains().to_json());
    let (obs_tx, mut obs_rx) = mpsc::channel::<Observation>(OBSERVATION_QUEUE);
    let (status_tx, status_rx) = watch::channel(Arc::new(state.status(Vec::new())));
    let dataplane = Dataplane::start();
    let mut dp_reports = dataplane.reports();
    // A restart (not a reboot) finds the VIPs of the previous process still in the kernel,
    // still forwarding: only then may the OPENs claim forwarding state was preserved.
    let preserved = dataplane.found_own_state().await;
    tracing::info!(
        forwarding_preserved = preserved,
        "kernel state from a previous run {}",
        if preserved {
            "found: graceful restart F bit set"
        } else {
            "not found"
        }
    );
    let speaker = Arc::new(Speaker::start_with(
        &cfg.node,
        &cfg.bgp,
        Limits::default(),
        preserved,
    ));
    speaker.hold_initial_routes();
    let mut initial_hold = Some(
        Instant::now()
            + (state.first_results_deadline())
                .saturating_add(Duration::from_secs(2))
                .min(MAX_INITIAL_HOLD),
    );
    let mut d = Daemon {
        speaker,
        checker: Checker::start(state.targets(), obs_tx.clone()),
        observations: obs_tx,
        check_metrics: Arc::new(CheckMetrics::default()),
        status: status_tx,
        sent_routes: Arc::new(RouteSet::new()),
        saved_drains,
        dataplane,
        state,
        config_path,
        running: watch::channel(running_config(text)).0,
        cfg,
        file_cfg,
        file_text: text.to_string(),
        catalog,
    };

    let alive = Liveness::new(LIVENESS_SILENCE);
    let (cmd_tx, mut cmd_rx) = mpsc::channel::<ApiCommand>(16);
    let (edit_tx, mut edit_rx) = mpsc::channel::<EditCommand>(16);
    let (api_stop_tx, api_stop_rx) = tokio::sync::oneshot::channel::<()>();
    // task: api server
    let api_task = tokio::spawn(api::serve(
        api_listener,
        api_context(&d, status_rx, cmd_tx, edit_tx, alive.clone()),
        async move {
            let _ = api_stop_rx.await;
        },
    ));

    d.push(true, true);
    systemd::notify_ready();
    let mut watchdog = systemd::watchdog_interval().map(tokio::time::interval);
    let mut tick = tokio::time::interval(TICK);
    let mut config_watch = match super::watch::ConfigWatch::start(&d.config_path) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(
                "the config file is not watched ({e}): edits need SIGHUP or POST /reload"
            );
            None
        }
    };
    let exit = loop {
        alive.beat();
        if let Some(deadline) = initial_hold {
            let complete = d.state.initial_results_complete();
            if complete || Instant::now() >= deadline {
                if complete {
                    tracing::info!("first health results in: sending the initial BGP table");
                } else {
                    tracing::warn!("first health results still incomplete at the hold deadline: sending the initial BGP table with what is known");
                }
                d.speaker.release_initial_routes();
                initial_hold = None;
            }
        }
        let next_drain = d.state.next_drain_deadline();
        tokio::select! {
            _ = sleep_until(next_drain) => {
                let changes = d.state.complete_drains(Instant::now());
                d.apply(changes);
            }
            _ = sleep_until(initial_hold) => {}
            _ = tick_opt(watchdog.as_mut()) => systemd::notify_watchdog(),
            Some(obs) = obs_rx.recv() => {
                if let Some(label) = d.state.check_label(obs.id) {
                    d.check_metrics.record(&label, obs.ok, obs.duration);
                }
                let changes = d.state.observe(&obs, Instant::now());
                d.apply(changes);
            }
            changed = dp_reports.changed() => {
                // The thread drops its end only when it dies (shutdown comes after this loop).
                if changed.is_err() {
                    break Exit::TaskFailed("the dataplane thread");
                }
                let report = dp_reports.borrow_and_update().clone();
                let changes = d.state.set_dataplane((*report).clone());
                d.apply(changes);
            }
            Some(cmd) = cmd_rx.recv() => {
                let reply = d.command(cmd.action, cmd.vip);
                let _ = cmd.reply.send(reply);
            }
            Some(e) = edit_rx.recv() => {
                let reply = d.edit(&e.target, e.change, e.if_match.as_deref());
                let _ = e.reply.send(reply);
            }
            _ = tick.tick() => {
                if let Some(failed) = d.supervise(&api_task) {
                    break Exit::TaskFailed(failed);
                }
                let changes = d.state.tick(Instant::now());
                d.apply(changes);
            }
            _ = catalog_changed(d.catalog.as_mut()) => d.catalog_update(),
            _ = sighup.recv() => {
                if let Err(e) = d.reload() {
                    tracing::error!("{e}");
                }
            }
            _ = edited(config_watch.as_mut()) => {
                tracing::info!("the config file changed on disk: reloading");
                if let Err(e) = d.reload() {
                    tracing::error!("{e}");
                }
            }
            _ = sigterm.recv() => break Exit::Stopped,
            _ = sigint.recv() => break Exit::Stopped,
            _ = sigusr2.recv() => break Exit::GracefulRestart,
        }
    };

    systemd::notify_stopping();
    match exit {
        Exit::TaskFailed(what) => {
            tracing::error!("{what} ended unexpectedly: exiting for a restart; BGP sessions closed without NOTIFICATION (graceful restart), the dataplane left serving");
            alive.fail(what);
            d.checker.stop();
            d.speaker.abandon().await;
            d.dataplane.shutdown(false).await;
        }
        Exit::GracefulRestart => {
            // A planned restart: routes, addresses and IPVS stay as they are (even with
            // --cleanup); routers that negotiated graceful restart keep our routes until the
            // new process sends End-of-RIB.
            tracing::info!("graceful restart: closing BGP sessions without NOTIFICATION, leaving the dataplane serving");
            d.checker.stop();
            d.speaker.abandon().await;
            d.dataplane.shutdown(false).await;
        }
        Exit::Stopped => {
            // Tell routers to prefer other nodes (RFC 8326), give them time, withdraw, Cease.
            tracing::info!("shutting down");
            let delay = d.cfg.bgp.shutdown_delay;
            if !delay.is_zero() && !d.sent_routes.is_empty() {
                tracing::info!(delay = ?delay, "announcing GRACEFUL_SHUTDOWN before withdrawing");
                let changes = d.state.begin_shutdown();
                d.apply(changes);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = sigterm.recv() => tracing::info!("second signal: skipping the shutdown delay"),
                    _ = sigint.recv() => tracing::info!("second signal: skipping the shutdown delay"),
                }
            }
            d.checker.stop();
            d.speaker.set_routes(RouteSet::new());
            d.speaker.shutdown().await;
            d.dataplane.shutdown(cleanup).await;
        }
    }
    let _ = api_stop_tx.send(());
    let _ = api_task.await;
    match exit {
        Exit::GracefulRestart => tracing::info!("anycastd stopped for a graceful restart"),
        Exit::Stopped => tracing::info!("anycastd stopped"),
        Exit::TaskFailed(_) => tracing::error!("anycastd stopped after a task failure"),
    }
    Ok(exit)
}

fn api_context(
    d: &Daemon,
    status: watch::Receiver<Arc<Status>>,
    commands: mpsc::Sender<ApiCommand>,
    edits: mpsc::Sender<EditCommand>,
    alive: Liveness,
) -> ApiContext {
    let speaker = d.speaker.clone();
    let snapshot = move || {
        let mut s = Status::clone(&status.borrow());
        s.peers = speaker.peer_status();
        s.bfd_discarded = speaker.bfd_discarded();
        s.bgp_listener = speaker.listener_status();
        s
    };
    let snapshot = Arc::new(snapshot);
    let for_metrics = snapshot.clone();
    let check_metrics = d.check_metrics.clone();
    let counters = Arc::new(metrics::ApiMetrics::default());
    let api_metrics = counters.clone();
    let running = d.running.subscribe();
    ApiContext {
        status: snapshot,
        config: Arc::new(move || running.borrow().clone()),
        metrics: Arc::new(move || metrics::render(&for_metrics(), &check_metrics, &api_metrics)),
        commands,
        edits,
        token: d.cfg.api.token.clone(),
        writable: d.cfg.api.writable,
        alive,
        limits: api::Limits::new(d.cfg.api.max_connections),
        counters,
    }
}

impl Daemon {
    /// Notices tasks that ended. BGP sessions and health checks are restarted (one peer's or
    /// one target's panic must not freeze its status or verdict for good), counted in
    /// `/status` `task_restarts`; the end of the BFD task or the HTTP server is returned, and
    /// the daemon exits for systemd to restart it.
    fn supervise(&mut self, api_task: &tokio::task::JoinHandle<()>) -> Option<&'static str> {
        let mut restarted = false;
        for (task, why) in self.speaker.supervise() {
            tracing::error!("{task} task panicked ({why}): restarted");
            self.state.record_restart(task);
            restarted = true;
        }
        for r in self.checker.supervise() {
            let target = self
                .state
                .describe_target(r.target)
                .unwrap_or_else(|| format!("target {}", r.target.0));
            tracing::error!(
                "health check task of {target} panicked ({}): restarted",
                r.panic
            );
            self.state.record_restart(format!("health-check {target}"));
            restarted = true;
        }
        if let Some(run) = self.catalog.as_mut() {
            if run.watch.as_ref().is_some_and(|w| w.ended()) {
                tracing::error!("catalog watch task ended: restarted");
                self.state.record_restart("catalog watch".to_string());
                run.start_watch();
                restarted = true;
            }
        }
        if restarted {
            self.push(false, false);
        }
        if self.speaker.bfd_task_ended() {
            return Some("the BFD task");
        }
        if api_task.is_finished() {
            return Some("the HTTP server");
        }
        None
    }

    /// Logs transitions and pushes whatever changed to the speaker and the dataplane.
    fn apply(&mut self, changes: Changes) {
        log_transitions(&changes);
        if !changes.is_empty() {
            self.push(changes.announcements, changes.dataplane);
        }
    }

    fn push(&mut self, announcements: bool, dataplane: bool) {
        if announcements {
            let routes = self.state.route_set();
            if routes != *self.sent_routes {
                self.sent_routes = Arc::new(routes);
                self.speaker.set_routes(self.sent_routes.clone());
            }
        }
        if dataplane {
            self.dataplane.set_desired(self.state.desired_dataplane());
        }
        let mut status = self.state.status(Vec::new());
        status.catalog = self.catalog.as_ref().map(CatalogRun::status);
        self.status.send_replace(Arc::new(status));
    }

    /// The etcd task said something: a new catalog is merged and applied like SIGHUP (and
    /// cached); a change of link only changes what `/status` says. Nothing is withdrawn
    /// because etcd went away.
    fn catalog_update(&mut self) {
        let Some(run) = self.catalog.as_mut() else {
            return;
        };
        let Some(snapshot) = run.take_feed() else {
            self.push(false, false);
            return;
        };
        let started = Instant::now();
        let new = run.merge_snapshot(&self.file_text, &self.file_cfg, snapshot);
        let (revision, vips) = (run.revision, run.vips.len());
        tracing::info!(revision, vips, "catalog: applying revision {revision}");
        let text = self.file_text.clone();
        self.apply_config(new, &text);
        if let Some(run) = self.catalog.as_mut() {
            run.save_cache();
        }
        // The status's catalog part changed even when the config did not (a document for
        // other nodes, a refused one): apply_config does not push an unchanged config.
        self.push(false, false);
        tracing::debug!(elapsed = ?started.elapsed(), "catalog: revision {revision} applied");
    }

    /// Drain, undrain or reload, from the API (the CLI goes through the API too).
    fn command(
        &mut self,
        action: Action,
        vip: Option<std::net::IpAddr>,
    ) -> Result<String, ApiError> {
        match action {
            Action::Drain | Action::Undrain => {
                let drain = action == Action::Drain;
                let delay = self.cfg.bgp.shutdown_delay;
                let origin = DrainOrigin::api(state_file::unix_now());
                let outcome = self
                    .state
                    .drain(vip, drain, delay, Instant::now(), origin)
                    .map_err(ApiError::NotFound)?;
                // Pushed even when no route changed: the status shows the request.
                let changes = outcome.changes;
                log_transitions(&changes);
                self.push(changes.announcements, changes.dataplane);
                match self.save_drains() {
                    Ok(()) => Ok(outcome.message),
                    Err(e) => Ok(format!(
                        "{} (not kept across a restart: {e})",
                        outcome.message
                    )),
                }
            }
            Action::Reload => self.reload().map_err(ApiError::Rejected),
        }
    }

    /// Writes the state file when the drains to keep changed; an error is logged and returned
    /// (the drain stays in force, but a restart would not know of it).
    fn save_drains(&mut self) -> Result<(), String> {
        let saved = (
            state_file::path(&self.cfg, &self.config_path),
            self.state.saved_drains().to_json(),
        );
        if saved == self.saved_drains {
            return Ok(());
        }
        match state_file::save(&saved.0, &saved.1) {
            Ok(()) => {
                self.saved_drains = saved;
                Ok(())
            }
            Err(e) => {
                tracing::error!("state file: {e}; a restart would not keep the drains");
                Err(e)
            }
        }
    }

    /// Re-reads the config; an invalid one is rejected and the running one stays in force.
    fn reload(&mut self) -> Result<String, String> {
        let (new, text) = load_for_reload(&self.config_path)?;
        Ok(self.apply_file(new, &text))
    }

    /// A new accepted file: the catalog (restarted if `[catalog]` changed) is merged into it
    /// and the result applied.
    fn apply_file(&mut self, file: Config, text: &str) -> String {
        if file.catalog != self.file_cfg.catalog {
            self.catalog = file.catalog.as_ref().map(|c| {
                tracing::info!("reload: [catalog] changed: following the catalog afresh");
                let mut run = CatalogRun::new(c, &self.config_path);
                run.start_watch();
                run
            });
        }
        let merged = match self.catalog.as_mut() {
            Some(run) => run.merge(text, &file),
            None => file.clone(),
        };
        self.file_cfg = file;
        self.file_text = text.to_string();
        self.apply_config(merged, text)
    }

    /// Puts an accepted config in force, like SIGHUP: only what changed is touched.
    fn apply_config(&mut self, new: Config, text: &str) -> String {
        // Comments may have changed even when the config did not: the served text follows.
        self.running.send_replace(running_config(text));
        if new == self.cfg {
            tracing::info!("reload: configuration unchanged");
            return "configuration unchanged".into();
        }
        if new.api != self.cfg.api {
            tracing::warn!("reload: [api] changes take effect at the next restart");
        }
        let changes = self.state.reload(&new);
        self.speaker.reconfigure(&new.node, &new.bgp);
        self.checker = Checker::start(self.state.targets(), self.observations.clone());
        self.cfg = new;
        log_transitions(&changes);
        self.push(true, true);
        // Drains of VIPs that left the config are gone; the state file may have moved.
        if let Err(e) = self.save_drains() {
            tracing::error!("reload: {e}");
        }
        tracing::info!("reload: new configuration applied");
        "configuration reloaded".into()
    }

    /// A write from the API: the change is made to the config file's text (comments kept),
    /// validated like `anycastd check`, written back atomically and applied like SIGHUP.
    /// Nothing changes unless all of that succeeds.
    fn edit(
        &mut self,
        target: &config::edit::Target,
        change: config::edit::Change,
        if_match: Option<&str>,
    ) -> Result<EditAnswer, ApiError> {
        let vip = match target {
            config::edit::Target::Vip(vip)
            | config::edit::Target::Service { vip, .. }
            | config::edit::Target::Backend { vip, .. } => *vip,
        };
        if let Some(key) = self.catalog.as_ref().and_then(|c| c.vips.get(&vip)) {
            return Err(ApiError::Conflict(format!(
                "VIP {vip} comes from the catalog (etcd key {key}): change it there, with \
                 `anycastd catalog put` or `anycastd catalog del`"
            )));
        }
        let path = self.config_path.clone();
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ApiError::Failed(format!("{shown}: cannot read: {e}")))?;
        let running = self.running.borrow().clone();
        if RunningConfig::etag_of(&text) != running.etag {
            return Err(ApiError::Conflict(format!(
                "{shown} on disk is not the running configuration (an edit not applied yet, or \
                 refused): fix it or reload before writing through the API"
            )));
        }
        if let Some(tags) = if_match {
            if !api::etag_listed(tags, &running.etag, api::Compare::Strong) {
                return Err(ApiError::Stale(format!(
                    "the configuration changed since: its ETag is now {}",
                    running.etag
                )));
            }
        }
        let edited = config::edit::edit(&text, target, change).map_err(|e| match e {
            config::edit::EditError::NotFound(m) => ApiError::NotFound(m),
            config::edit::EditError::BadBody(m) => ApiError::Invalid(m),
            config::edit::EditError::Unparsable(m) => ApiError::Conflict(m),
        })?;
        let new = config::parse(&edited.text, &shown).map_err(|e| {
            // The client never saw the file's order: name VIPs, services and backends.
            let lines: Vec<String> = e
                .errors
                .iter()
                .map(|e| config::naming::message_by_name(&edited.text, &e.message))
                .collect();
            ApiError::Invalid(lines.join("\n"))
        })?;
        crate::persist::write_atomic(&path, edited.text.as_bytes()).map_err(|e| {
            use std::io::ErrorKind::{PermissionDenied, ReadOnlyFilesystem, ResourceBusy};
            match e.kind() {
                PermissionDenied | ReadOnlyFilesystem => ApiError::Conflict(format!(
                    "{shown} cannot be written ({e}): API writes need a writable config file"
                )),
                // rename(2) over a mount point: a file bind-mounted on its own (a container's
                // `-v anycastd.toml:/etc/anycastd/anycastd.toml`) cannot be replaced.
                ResourceBusy => ApiError::Conflict(format!(
                    "{shown} cannot be replaced ({e}): it is a mount point; bind-mount its \
                     directory rather than the file for API writes"
                )),
                _ => ApiError::Failed(format!("{shown}: cannot write: {e}")),
            }
        })?;
        tracing::info!("api: {shown} written back");
        self.apply_file(new, &edited.text);
        let running = self.running.borrow().clone();
        let mut json = serde_json::to_string_pretty(&running.object(target)).unwrap_or_default();
        json.push('\n');
        Ok(EditAnswer {
            created: edited.created,
            json,
            etag: running.etag.clone(),
            diff: config::edit::line_diff(&text, &edited.text),
        })
    }
}

/// One log line per transition the node model reported.
fn log_transitions(changes: &Changes) {
    for line in &changes.log {
        tracing::info!("{line}");
    }
}

/// The running config of an accepted `text`. Building it parses the text once more, the last
/// step of every load (start, reload, API edit): the transient peak of reading a large config
/// is over, so the freed memory goes back to the kernel here (see `daemon::heap`).
fn running_config(text: &str) -> Arc<RunningConfig> {
    let running = Arc::new(RunningConfig::new(text));
    super::heap::release_free_memory();
    running
}

/// Loads and validates the config for a reload, with the same errors as `anycastd check`.
fn load_for_reload(path: &Path) -> Result<(Config, String), String> {
    config::load_with_text(path)
        .map_err(|e| format!("reload rejected, keeping the running configuration:\n{e}"))
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The next settled edit of the config file; never completes when it is not watched.
async fn edited(watch: Option<&mut super::watch::ConfigWatch>) {
    match watch {
        Some(w) => w.edited().await,
        None => std::future::pending().await,
    }
}

/// Ticks an optional interval; never completes when there is none.
async fn tick_opt(interval: Option<&mut tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}
