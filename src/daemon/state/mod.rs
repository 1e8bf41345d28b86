//! The node's state, as pure data: which targets are healthy, what is drained, what the
//! dataplane reported, and from that what to announce and what to program.
//!
//! No tokio, no clock: time enters as the `now` argument (slow-start ramps), events enter as
//! method calls, and every method that changes something returns [`Changes`] saying what the
//! runtime must push out (a new [`RouteSet`] to the speaker, a new [`DesiredState`] to the
//! dataplane) and the log lines describing transitions.
//!
//! Rules (CONTRACT.md "Behaviour"):
//! - a backend starts `unknown`, which counts as unhealthy;
//! - a service is healthy when healthy backends >= `min_healthy`;
//! - a VIP is announced when it is not drained, the dataplane reported it programmed, its
//!   `[vip.check]` (if any) is healthy and its services pass the `announce` policy (`all`/`any`);
//!   a VIP with neither services nor a check needs only the first two;
//! - VIP addresses and IPVS services stay programmed while withdrawn (existing connections live
//!   on); a failing backend gets `unhealthy_weight`, a recovered one its `weight`, ramped linearly
//!   over `slow_start`.
//!
//! Target ids stay stable across [`NodeState::reload`]: a target that still exists (same VIP,
//! service name, backend address and port; or the same VIP's check) keeps its id and its health,
//! so observations already queued from the old checker still land on the right target and a
//! reload never withdraws a healthy VIP.
//!
//! One job per file: this one holds the model and its events and outputs; `targets` what is
//! checked and how ids survive a reload, `verdict` whether a VIP is announced (and why not),
//! `weights` what IPVS gets (slow-start ramps), `drain` drains, GRACEFUL_SHUTDOWN and shutdown,
//! `saved` the drains kept in the state file across restarts, `status` the /status view.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::bgp::{RouteAttrs, RouteSet};
use crate::config::{AnnouncePolicy, Config, IpvsSync, Node, Service, Vip, VipBind};
use crate::dataplane::state::SyncDaemon;
use crate::dataplane::{DataplaneReport, DesiredState, Destination, VipAddress, VirtualService};
use crate::health::{HealthState, Observation, RiseFall, Target, TargetId};
use crate::status::{BackendStatus, NodeStatus, PeerStatus, ServiceStatus, Status, VipStatus};

/// What a state change means for the runtime.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct Changes {
    /// The set of announced routes (or their attributes) changed: push [`NodeState::route_set`].
    pub announcements: bool,
    /// The desired dataplane changed (weights; on reload anything): push
    /// [`NodeState::desired_dataplane`].
    pub dataplane: bool,
    /// One line per transition, to be logged once each.
    pub log: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        !self.announcements && !self.dataplane && self.log.is_empty()
    }
}

mod drain;
mod saved;
mod status;
mod targets;
#[cfg(test)]
mod tests;
mod verdict;
mod weights;

pub use drain::DrainOutcome;
use drain::PendingDrain;
pub use saved::{DrainOrigin, SavedDrains, STATE_FILE_VERSION};
use targets::{TargetKey, TargetModel};
use verdict::Shown;

#[derive(Debug, Clone)]
struct VipModel {
    cfg: Vip,
    check: Option<TargetId>,
    /// Per service (same order as `cfg.services`), per backend: the target id.
    backends: Vec<Vec<TargetId>>,
}

/// The pure model of one node. Built from a validated [`Config`].
#[derive(Debug, Clone)]
pub struct NodeState {
    node: Node,
    /// `[ipvs.sync]`, handed to the dataplane as the sync daemons to run.
    ipvs_sync: Option<IpvsSync>,
    vips: Vec<VipModel>,
    targets: BTreeMap<TargetId, TargetModel>,
    next_id: usize,
    /// Every VIP drained, by whom and since when.
    drain_all: Option<DrainOrigin>,
    /// VIPs drained one by one.
    drained: BTreeMap<IpAddr, DrainOrigin>,
    /// Drains waiting out `bgp.shutdown_delay`: their routes carry GRACEFUL_SHUTDOWN (RFC
    /// 8326) until the deadline, then the VIP is drained (withdrawn).
    pending_drains: Vec<PendingDrain>,
    /// Shutting down: every route carries GRACEFUL_SHUTDOWN.
    shutting_down: bool,
    /// Tasks restarted after a panic, by name, for `/status`.
    task_restarts: BTreeMap<String, u64>,
    dataplane: DataplaneReport,
    now: Option<Instant>,
    /// True only while `new` builds the initial targets.
    starting: bool,
}

impl NodeState {
    pub fn new(config: &Config) -> NodeState {
        let mut state = NodeState {
            node: config.node.clone(),
            ipvs_sync: config.ipvs_sync.clone(),
            vips: Vec::new(),
            targets: BTreeMap::new(),
            next_id: 0,
            drain_all: None,
            drained: BTreeMap::new(),
            pending_drains: Vec::new(),
            shutting_down: false,
            task_restarts: BTreeMap::new(),
            dataplane: DataplaneReport::default(),
            now: None,
            starting: true,
        };
        state.build(config, BTreeMap::new());
        state.starting = false;
        state
    }

    /// Replaces the config. Targets that still exist keep their id and health (their check
    /// settings and thresholds are updated); drained VIPs that still exist stay drained.
    pub fn reload(&mut self, config: &Config) -> Changes {
        let routes = self.route_set();
        let desired = self.desired_dataplane();
        let announced = self.announced();
        let old: BTreeMap<TargetKey, (TargetId, TargetModel)> = std::mem::take(&mut self.targets)
            .into_iter()
            .map(|(id, t)| (t.key.clone(), (id, t)))
            .collect();
        let interfaces: BTreeMap<IpAddr, String> = self
            .vips
            .iter()
            .map(|v| (v.cfg.address, v.cfg.interface.clone()))
            .collect();
        self.node = config.node.clone();
        self.ipvs_sync = config.ipvs_sync.clone();
        self.build(config, old);
        let known: BTreeSet<IpAddr> = self.vips.iter().map(|v| v.cfg.address).collect();
        self.drained.retain(|a, _| known.contains(a));
        // A VIP moved to another interface is not programmed until the dataplane says so.
        let unmoved: BTreeSet<IpAddr> = self
            .vips
            .iter()
            .filter(|v| interfaces.get(&v.cfg.address) == Some(&v.cfg.interface))
            .map(|v| v.cfg.address)
            .collect();
        self.dataplane.vips.retain(|a, _| unmoved.contains(a));
        let mut changes = self.announcement_changes(announced, Vec::new());
        changes.announcements = self.route_set() != routes;
        changes.dataplane = self.desired_dataplane() != desired;
        changes
    }

    /// Feeds one check result. Observations for unknown ids (a target removed by a reload) are
    /// ignored.
    pub fn observe(&mut self, observation: &Observation, now: Instant) -> Changes {
        self.advance(now);
        let Some(t) = self.targets.get_mut(&observation.id) else {
            return Changes::default();
        };
        // Most results change nothing: only a transition costs more than the rise/fall step.
        let old_health = t.health.clone();
        let Some(transition) = t.health.observe(observation.ok, &observation.detail) else {
            return Changes::default();
        };
        let recovered = transition.from == HealthState::Unhealthy
            && transition.to == HealthState::Healthy
            && !t.slow_start.is_zero();
        let new_ramp = recovered.then_some(now);
        let mut log = vec![format!("{}: {}", t.key.describe(), transition.reason)];
        let vip_index = t.vip;
        // Outputs before the transition: put the old state back for a moment (the ramp is
        // not updated yet).
        let new_health = std::mem::replace(&mut t.health, old_health);
        let before = self.vip_outputs(vip_index);
        if let Some(t) = self.targets.get_mut(&observation.id) {
            t.health = new_health;
            t.ramp_from = new_ramp;
        }
        let after = self.vip_outputs(vip_index);
        self.compare_vip(vip_index, &before, &after, &mut log);
        Changes {
            announcements: before.0 != after.0,
            dataplane: before.1 != after.1,
            log,
        }
    }

    /// Takes the dataplane's latest per-VIP report.
    pub fn set_dataplane(&mut self, report: DataplaneReport) -> Changes {
        let before = self.announced();
        let mut log = Vec::new();
        for vip in &self.vips {
            let address = vip.cfg.address;
            let (old, new) = (self.dataplane.vips.get(&address), report.vips.get(&address));
            if old != new {
                if let Some(Err(e)) = new {
                    log.push(format!("VIP {address} dataplane: {e}"));
                } else if let (Some(Err(_)), Some(Ok(()))) = (old, new) {
                    log.push(format!("VIP {address} dataplane: programmed again"));
                }
            }
        }
        self.dataplane = report;
        self.announcement_changes(before, log)
    }

    /// Whether the node knows enough to announce: every target has its first check result and
    /// the dataplane has reported on every VIP. Until then a restarted daemon holds back its
    /// initial BGP table (End-of-RIB), so routers keep the routes they kept through the restart.
    pub fn initial_results_complete(&self) -> bool {
        self.targets
            .values()
            .all(|t| t.health.state() != HealthState::Unknown)
            && self
                .vips
                .iter()
                .all(|v| self.dataplane.vips.contains_key(&v.cfg.address))
    }

    /// The longest a target's first result can take: its interval (first runs are spread over
    /// it) plus its timeout.
    pub fn first_results_deadline(&self) -> Duration {
        self.targets
            .values()
            .map(|t| {
                t.target
                    .check
                    .interval
                    .saturating_add(t.target.check.timeout)
            })
            .max()
            .unwrap_or_default()
    }

    /// Whether `vip` is in the configuration.
    pub fn has_vip(&self, vip: IpAddr) -> bool {
        self.vips.iter().any(|v| v.cfg.address == vip)
    }

    /// The VIPs to announce, with their path attributes (GRACEFUL_SHUTDOWN added while
    /// draining or shutting down).
    pub fn route_set(&self) -> RouteSet {
        self.vips
            .iter()
            .filter_map(|v| {
                let announce = self.verdict(v).ok()?;
                let mut attrs = RouteAttrs::from(&v.cfg);
                if let verdict::Announce::Degraded(_) = announce {
                    attrs.degrade(&v.cfg.failure.degrade);
                }
                if self.draining(v.cfg.address) {
                    attrs.add_graceful_shutdown();
                }
                Some((v.cfg.address, attrs))
            })
            .collect()
    }

    /// Everything the kernel should hold: every VIP's address or local route (announced or not,
    /// by its `bind`) and one virtual
    /// service per configured service, with destinations at their effective weights.
    pub fn desired_dataplane(&self) -> DesiredState {
        let mut desired = DesiredState::default();
        for v in &self.vips {
            let binding = VipAddress {
                interface: v.cfg.interface.clone(),
                address: v.cfg.address,
            };
            match v.cfg.bind {
                VipBind::Address => desired.addresses.push(binding),
                VipBind::Route => desired.routes.push(binding),
            }
            desired.services.extend(self.virtual_services(v));
        }
        if let Some(sync) = &self.ipvs_sync {
            let daemon = |master| SyncDaemon {
                master,
                interface: sync.interface.clone(),
                sync_id: sync.sync_id,
            };
            if sync.role.sends() {
                desired.sync_daemons.push(daemon(true));
            }
            if sync.role.receives() {
                desired.sync_daemons.push(daemon(false));
            }
        }
        desired
    }

    pub(super) fn advance(&mut self, now: Instant) {
        self.now = Some(self.now.map_or(now, |prev| prev.max(now)));
    }

    /// (announced, weights) of one VIP: what an observation can change.
    pub(super) fn vip_outputs(&self, index: usize) -> (Shown, Vec<VirtualService>) {
        let v = &self.vips[index];
        (Shown::of(&self.verdict(v)), self.virtual_services(v))
    }

    pub(super) fn compare_vip(
        &self,
        index: usize,
        before: &(Shown, Vec<VirtualService>),
        after: &(Shown, Vec<VirtualService>),
        log: &mut Vec<String>,
    ) {
        if before.0 != after.0 {
            log.push(self.announcement_line(&self.vips[index]));
        }
    }

    /// The log line of a VIP whose announcement changed: announced, degraded or withdrawn,
    /// and why.
    fn announcement_line(&self, v: &VipModel) -> String {
        let address = v.cfg.address;
        match self.verdict(v) {
            Ok(verdict::Announce::Healthy) => format!("VIP {address} announced"),
            Ok(verdict::Announce::Degraded(why)) => {
                format!("VIP {address} announced degraded: {why}")
            }
            Err(why) => format!("VIP {address} withdrawn: {why}"),
        }
    }

    pub(super) fn announced(&self) -> BTreeMap<IpAddr, Shown> {
        self.vips
            .iter()
            .map(|v| (v.cfg.address, Shown::of(&self.verdict(v))))
            .collect()
    }

    pub(super) fn announcement_changes(
        &self,
        before: BTreeMap<IpAddr, Shown>,
        mut log: Vec<String>,
    ) -> Changes {
        let after = self.announced();
        // Looked up once, not scanned per line: 50,000 VIPs programmed at once (a cold start)
        // change together, and a scan per changed VIP took seconds.
        let by_address: HashMap<IpAddr, &VipModel> =
            self.vips.iter().map(|v| (v.cfg.address, v)).collect();
        for (address, now) in &after {
            // A VIP new in a reloaded config counts as previously withdrawn.
            let was = before.get(address).copied().unwrap_or(Shown::Withdrawn);
            if was != *now {
                if let Some(v) = by_address.get(address) {
                    log.push(self.announcement_line(v));
                }
            }
        }
        Changes {
            announcements: before != after,
            dataplane: false,
            log,
        }
    }
}
