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

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::bgp::{RouteAttrs, RouteSet};
use crate::config::{AnnouncePolicy, Config, Node, Service, Vip};
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

/// A drain announced with GRACEFUL_SHUTDOWN, carried out (withdrawn) at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PendingDrain {
    at: Instant,
    /// `None`: every VIP.
    vip: Option<IpAddr>,
}

impl PendingDrain {
    fn covers(&self, vip: IpAddr) -> bool {
        self.vip.is_none_or(|v| v == vip)
    }
}

/// What a drain or undrain request did: the changes to push and the answer for the operator.
#[derive(Debug)]
pub struct DrainOutcome {
    pub changes: Changes,
    pub message: String,
}

/// What a target is, independent of its id: the key that survives a reload.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum TargetKey {
    VipCheck(IpAddr),
    Backend {
        vip: IpAddr,
        service: String,
        address: IpAddr,
        port: u16,
    },
}

impl TargetKey {
    fn describe(&self) -> String {
        match self {
            TargetKey::VipCheck(vip) => format!("VIP {vip} check"),
            TargetKey::Backend {
                service,
                address,
                port,
                ..
            } => format!(
                "service {service} backend {}",
                std::net::SocketAddr::new(*address, *port)
            ),
        }
    }
}

#[derive(Debug, Clone)]
struct TargetModel {
    key: TargetKey,
    target: Target,
    health: RiseFall,
    /// The service's slow_start (zero for VIP checks).
    slow_start: Duration,
    /// Set when the target recovered and its weight is ramping up.
    ramp_from: Option<Instant>,
    /// Index of its VIP in `NodeState::vips`.
    vip: usize,
    /// Configured when the daemon started (not added by a reload). Until its first result
    /// such a backend keeps its configured weight: after a restart the kernel already serves
    /// with it (routers may still send traffic, kept by graceful restart), and zeroing it
    /// while the first checks run would refuse those connections. The VIP is still not
    /// announced before the first results.
    from_start: bool,
}

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
    vips: Vec<VipModel>,
    targets: BTreeMap<TargetId, TargetModel>,
    next_id: usize,
    drain_all: bool,
    drained: BTreeSet<IpAddr>,
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
            vips: Vec::new(),
            targets: BTreeMap::new(),
            next_id: 0,
            drain_all: false,
            drained: BTreeSet::new(),
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
        self.build(config, old);
        let known: BTreeSet<IpAddr> = self.vips.iter().map(|v| v.cfg.address).collect();
        self.drained.retain(|a| known.contains(a));
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

    fn build(&mut self, config: &Config, mut old: BTreeMap<TargetKey, (TargetId, TargetModel)>) {
        self.vips.clear();
        for vip in &config.vips {
            let check = vip.check.as_ref().map(|c| {
                let target = Target {
                    id: TargetId(0),
                    address: c.address,
                    port: c.port,
                    check: c.check.clone(),
                };
                self.add_target(
                    TargetKey::VipCheck(vip.address),
                    target,
                    Duration::ZERO,
                    &mut old,
                )
            });
            let backends = vip
                .services
                .iter()
                .map(|s| {
                    s.backends
                        .iter()
                        .map(|b| {
                            let key = TargetKey::Backend {
                                vip: vip.address,
                                service: s.name.clone(),
                                address: b.address,
                                port: b.port,
                            };
                            let target = Target {
                                id: TargetId(0),
                                address: b.address,
                                port: b.port,
                                check: b.check.clone(),
                            };
                            self.add_target(key, target, s.slow_start, &mut old)
                        })
                        .collect()
                })
                .collect();
            self.vips.push(VipModel {
                cfg: vip.clone(),
                check,
                backends,
            });
        }
    }

    fn add_target(
        &mut self,
        key: TargetKey,
        mut target: Target,
        slow_start: Duration,
        old: &mut BTreeMap<TargetKey, (TargetId, TargetModel)>,
    ) -> TargetId {
        // The VIP is pushed after its targets are added.
        let vip = self.vips.len();
        let (id, mut health, ramp_from, from_start) = match old.remove(&key) {
            Some((id, prev)) => (id, prev.health, prev.ramp_from, prev.from_start),
            None => {
                let id = TargetId(self.next_id);
                self.next_id += 1;
                let health = RiseFall::new(target.check.rise, target.check.fall);
                (id, health, None, self.starting)
            }
        };
        health.set_thresholds(target.check.rise, target.check.fall);
        target.id = id;
        self.targets.insert(
            id,
            TargetModel {
                key,
                target,
                health,
                slow_start,
                ramp_from,
                vip,
                from_start,
            },
        );
        id
    }

    /// Every target to check: one per backend and one per `[vip.check]`, with stable ids.
    pub fn targets(&self) -> Vec<Target> {
        self.targets.values().map(|t| t.target.clone()).collect()
    }

    /// A label for metrics: the service name for a backend, "vip <address>" for a VIP check.
    /// `None` for an id that is not (or no longer) a target.
    /// A task that panicked was started again (the runtime's supervision): counted in
    /// `/status` under `task_restarts`.
    pub fn record_restart(&mut self, task: String) {
        *self.task_restarts.entry(task).or_default() += 1;
    }

    /// What a target checks, in words ("service web backend 10.0.10.11:8080").
    pub fn describe_target(&self, id: TargetId) -> Option<String> {
        self.targets.get(&id).map(|t| t.key.describe())
    }

    pub fn check_label(&self, id: TargetId) -> Option<String> {
        self.targets.get(&id).map(|t| match &t.key {
            TargetKey::VipCheck(vip) => format!("vip {vip}"),
            TargetKey::Backend { service, .. } => service.clone(),
        })
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

    /// A drain or undrain request (API, CLI) for every VIP (`None`) or one. With a
    /// `shutdown_delay`, a drain first announces GRACEFUL_SHUTDOWN and withdraws once the delay
    /// has passed ([`NodeState::complete_drains`]); without one it withdraws at once. A new
    /// request replaces the pending drains it covers; undraining one VIP while a drain of all
    /// is pending narrows that drain to the other VIPs. An unknown VIP is an error.
    pub fn drain(
        &mut self,
        vip: Option<IpAddr>,
        drain: bool,
        shutdown_delay: Duration,
        now: Instant,
    ) -> Result<DrainOutcome, String> {
        if let Some(v) = vip.filter(|v| !self.has_vip(*v)) {
            return Err(format!("no VIP {v} in the configuration"));
        }
        let routes = self.route_set();
        let what = vip.map_or_else(|| "all VIPs".to_string(), |v| v.to_string());
        let all: Vec<IpAddr> = self.vips.iter().map(|v| v.cfg.address).collect();
        let mut narrowed = Vec::new();
        self.pending_drains.retain(|p| match (vip, p.vip) {
            (None, _) => false,
            (Some(v), None) if !drain => {
                let others = all.iter().filter(|a| **a != v);
                narrowed.extend(others.map(|a| PendingDrain {
                    at: p.at,
                    vip: Some(*a),
                }));
                false
            }
            (Some(_), pending) => pending != vip,
        });
        self.pending_drains.extend(narrowed);
        if drain && !shutdown_delay.is_zero() {
            // Cannot overflow: the config bounds shutdown_delay (MAX_SHUTDOWN_DELAY).
            self.pending_drains.push(PendingDrain {
                at: now + shutdown_delay,
                vip,
            });
            let delay = crate::health::fmt_duration(shutdown_delay);
            return Ok(DrainOutcome {
                changes: Changes {
                    announcements: self.route_set() != routes,
                    dataplane: false,
                    log: vec![format!(
                        "draining {what}: GRACEFUL_SHUTDOWN now, withdraw after {delay}"
                    )],
                },
                message: format!("draining {what}: withdraw in {delay}"),
            });
        }
        let mut changes = self.set_drained(vip, drain)?;
        changes.announcements |= self.route_set() != routes;
        let verb = if drain { "drained" } else { "undrained" };
        Ok(DrainOutcome {
            changes,
            message: format!("{verb} {what}"),
        })
    }

    /// When the earliest pending drain is due.
    pub fn next_drain_deadline(&self) -> Option<Instant> {
        self.pending_drains.iter().map(|p| p.at).min()
    }

    /// Carries out the drains whose `shutdown_delay` has passed: their VIPs are withdrawn.
    pub fn complete_drains(&mut self, now: Instant) -> Changes {
        let routes = self.route_set();
        let (due, pending): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_drains)
            .into_iter()
            .partition(|p| p.at <= now);
        self.pending_drains = pending;
        let mut all = Changes::default();
        for p in due {
            match self.set_drained(p.vip, true) {
                Ok(c) => all.log.extend(c.log),
                // The VIP left the configuration by a reload in the meantime.
                Err(e) => all.log.push(format!("drain: {e}")),
            }
        }
        all.announcements = self.route_set() != routes;
        all
    }

    /// Shutting down (SIGTERM with a `shutdown_delay`): every route now carries
    /// GRACEFUL_SHUTDOWN until the routes are withdrawn.
    pub fn begin_shutdown(&mut self) -> Changes {
        let routes = self.route_set();
        self.shutting_down = true;
        Changes {
            announcements: self.route_set() != routes,
            ..Changes::default()
        }
    }

    /// Whether `vip` is announced with GRACEFUL_SHUTDOWN: a drain waiting out its delay, or
    /// the node shutting down.
    fn draining(&self, vip: IpAddr) -> bool {
        self.shutting_down || self.pending_drains.iter().any(|p| p.covers(vip))
    }

    /// Drains (or undrains) every VIP (`None`) or one at once. An unknown VIP is an error.
    pub fn set_drained(&mut self, vip: Option<IpAddr>, drained: bool) -> Result<Changes, String> {
        let before = self.announced();
        let mut log = Vec::new();
        match vip {
            None => {
                self.drain_all = drained;
                self.drained.clear();
                log.push(format!(
                    "{} all VIPs",
                    if drained { "drained" } else { "undrained" }
                ));
            }
            Some(address) => {
                if !self.vips.iter().any(|v| v.cfg.address == address) {
                    return Err(format!("no VIP {address} in the configuration"));
                }
                if drained {
                    self.drained.insert(address);
                } else {
                    if self.drain_all {
                        // Undraining one VIP of a drained node: the others stay drained.
                        self.drain_all = false;
                        self.drained = self.vips.iter().map(|v| v.cfg.address).collect();
                    }
                    self.drained.remove(&address);
                }
                log.push(format!(
                    "VIP {address} {}",
                    if drained { "drained" } else { "undrained" }
                ));
            }
        }
        Ok(self.announcement_changes(before, log))
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

    /// Advances the clock: slow-start ramps progress. Call about once a second while
    /// [`NodeState::ramping`] is true.
    pub fn tick(&mut self, now: Instant) -> Changes {
        if !self.ramping() {
            self.advance(now);
            return Changes::default();
        }
        let before = self.desired_dataplane();
        self.advance(now);
        for t in self.targets.values_mut() {
            if let Some(from) = t.ramp_from {
                if now.saturating_duration_since(from) >= t.slow_start {
                    t.ramp_from = None;
                }
            }
        }
        Changes {
            announcements: false,
            dataplane: self.desired_dataplane() != before,
            log: Vec::new(),
        }
    }

    /// Whether some backend's weight is still ramping up (the runtime should keep ticking).
    pub fn ramping(&self) -> bool {
        self.targets.values().any(|t| t.ramp_from.is_some())
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

    /// Whether this VIP (or the whole node) is drained.
    pub fn is_drained(&self, vip: IpAddr) -> bool {
        self.drain_all || self.drained.contains(&vip)
    }

    /// The VIPs to announce, with their path attributes (GRACEFUL_SHUTDOWN added while
    /// draining or shutting down).
    pub fn route_set(&self) -> RouteSet {
        self.vips
            .iter()
            .filter(|v| self.verdict(v).is_ok())
            .map(|v| {
                let mut attrs = RouteAttrs::from(&v.cfg);
                if self.draining(v.cfg.address) {
                    attrs.add_graceful_shutdown();
                }
                (v.cfg.address, attrs)
            })
            .collect()
    }

    /// Everything the kernel should hold: every VIP address (announced or not) and one virtual
    /// service per configured service, with destinations at their effective weights.
    pub fn desired_dataplane(&self) -> DesiredState {
        let mut desired = DesiredState::default();
        for v in &self.vips {
            desired.addresses.push(VipAddress {
                interface: v.cfg.interface.clone(),
                address: v.cfg.address,
            });
            desired.services.extend(self.virtual_services(v));
        }
        desired
    }

    /// Per VIP: announced, drained, why, and every service and backend.
    pub fn vip_status(&self) -> Vec<VipStatus> {
        self.vips
            .iter()
            .map(|v| {
                let verdict = self.verdict(v);
                let address = v.cfg.address;
                // A drain waiting out its delay is a drain to the operator, while the route is
                // still announced (with GRACEFUL_SHUTDOWN).
                let draining =
                    verdict.is_ok() && self.pending_drains.iter().any(|p| p.covers(address));
                VipStatus {
                    address: address.to_string(),
                    announced: verdict.is_ok(),
                    drained: draining || self.is_drained(address),
                    reason: if draining {
                        "draining: announced with GRACEFUL_SHUTDOWN until bgp.shutdown_delay passes"
                            .into()
                    } else {
                        verdict.err().unwrap_or_else(|| "healthy".into())
                    },
                    services: v
                        .cfg
                        .services
                        .iter()
                        .zip(&v.backends)
                        .map(|(s, ids)| self.service_status(s, ids))
                        .collect(),
                }
            })
            .collect()
    }

    /// The whole /status document, with the speaker's peer snapshot.
    pub fn status(&self, peers: Vec<PeerStatus>) -> Status {
        Status {
            node: NodeStatus {
                router_id: self.node.router_id.to_string(),
                asn: self.node.asn,
                version: env!("CARGO_PKG_VERSION").to_string(),
            },
            peers,
            vips: self.vip_status(),
            bfd_discarded: Default::default(),
            task_restarts: self.task_restarts.clone(),
        }
    }

    // ---- internals ----

    fn advance(&mut self, now: Instant) {
        self.now = Some(self.now.map_or(now, |prev| prev.max(now)));
    }

    /// (announced, weights) of one VIP: what an observation can change.
    fn vip_outputs(&self, index: usize) -> (bool, Vec<VirtualService>) {
        let v = &self.vips[index];
        (self.verdict(v).is_ok(), self.virtual_services(v))
    }

    fn compare_vip(
        &self,
        index: usize,
        before: &(bool, Vec<VirtualService>),
        after: &(bool, Vec<VirtualService>),
        log: &mut Vec<String>,
    ) {
        if before.0 == after.0 {
            return;
        }
        let v = &self.vips[index];
        log.push(match self.verdict(v) {
            Ok(()) => format!("VIP {} announced", v.cfg.address),
            Err(reason) => format!("VIP {} withdrawn: {reason}", v.cfg.address),
        });
    }

    fn announced(&self) -> BTreeMap<IpAddr, bool> {
        self.vips
            .iter()
            .map(|v| (v.cfg.address, self.verdict(v).is_ok()))
            .collect()
    }

    fn announcement_changes(
        &self,
        before: BTreeMap<IpAddr, bool>,
        mut log: Vec<String>,
    ) -> Changes {
        let after = self.announced();
        for (address, now) in &after {
            // A VIP new in a reloaded config counts as previously withdrawn.
            if before.get(address).copied().unwrap_or(false) != *now {
                log.push(if *now {
                    format!("VIP {address} announced")
                } else {
                    format!("VIP {address} withdrawn: {}", self.reason_of(*address))
                });
            }
        }
        Changes {
            announcements: before != after,
            dataplane: false,
            log,
        }
    }

    fn reason_of(&self, address: IpAddr) -> String {
        self.vips
            .iter()
            .find(|v| v.cfg.address == address)
            .map(|v| self.verdict(v).err().unwrap_or_else(|| "healthy".into()))
            .unwrap_or_default()
    }

    /// `Ok` when the VIP is to be announced, else why not, in words.
    fn verdict(&self, v: &VipModel) -> Result<(), String> {
        let address = v.cfg.address;
        if self.is_drained(address) {
            return Err("drained".into());
        }
        match self.dataplane.vips.get(&address) {
            None => return Err("dataplane: not programmed yet".into()),
            Some(Err(e)) => return Err(format!("dataplane: {e}")),
            Some(Ok(())) => {}
        }
        if let Some(t) = v.check.and_then(|id| self.targets.get(&id)) {
            match t.health.state() {
                HealthState::Healthy => {}
                HealthState::Unknown => return Err("waiting for first check".into()),
                HealthState::Unhealthy => {
                    return Err(format!(
                        "VIP check: {}",
                        t.health.last_detail().unwrap_or("failing")
                    ))
                }
            }
        }
        if v.cfg.services.is_empty() {
            return Ok(());
        }
        let verdicts: Vec<Result<(), String>> = v
            .cfg
            .services
            .iter()
            .zip(&v.backends)
            .map(|(s, ids)| self.service_verdict(s, ids))
            .collect();
        match v.cfg.announce {
            AnnouncePolicy::All => verdicts.into_iter().collect(),
            AnnouncePolicy::Any => {
                if verdicts.iter().any(Result::is_ok) {
                    return Ok(());
                }
                let mut reasons: Vec<String> = Vec::new();
                for r in verdicts.into_iter().filter_map(Result::err) {
                    if !reasons.contains(&r) {
                        reasons.push(r);
                    }
                }
                Err(reasons.join("; "))
            }
        }
    }

    fn service_verdict(&self, s: &Service, ids: &[TargetId]) -> Result<(), String> {
        let states: Vec<HealthState> = ids
            .iter()
            .filter_map(|id| self.targets.get(id))
            .map(|t| t.health.state())
            .collect();
        let healthy = states
            .iter()
            .filter(|s| **s == HealthState::Healthy)
            .count();
        if healthy as u64 >= u64::from(s.min_healthy) {
            return Ok(());
        }
        if !states.is_empty() && states.iter().all(|s| *s == HealthState::Unknown) {
            return Err("waiting for first check".into());
        }
        Err(format!(
            "service {}: {healthy} of {} backends healthy (min_healthy {})",
            s.name,
            states.len(),
            s.min_healthy
        ))
    }

    fn virtual_services(&self, v: &VipModel) -> Vec<VirtualService> {
        v.cfg
            .services
            .iter()
            .zip(&v.backends)
            .map(|(s, ids)| VirtualService {
                vip: v.cfg.address,
                port: s.port,
                protocol: s.protocol,
                scheduler: s.scheduler.clone(),
                persistence: s.persistence,
                destinations: s
                    .backends
                    .iter()
                    .zip(ids)
                    .map(|(b, id)| Destination {
                        address: b.address,
                        port: b.port,
                        weight: self.effective_weight(s, b.weight, *id),
                        forwarding: s.forwarding,
                    })
                    .collect(),
            })
            .collect()
    }

    /// healthy → weight (ramped over slow_start after a recovery); else unhealthy_weight.
    fn effective_weight(&self, s: &Service, weight: u32, id: TargetId) -> u32 {
        let Some(t) = self.targets.get(&id) else {
            return s.unhealthy_weight;
        };
        if t.from_start && t.health.state() == HealthState::Unknown {
            return weight;
        }
        if !t.health.is_healthy() {
            return s.unhealthy_weight;
        }
        match (t.ramp_from, self.now) {
            (Some(from), Some(now)) if !s.slow_start.is_zero() => {
                let elapsed = now.saturating_duration_since(from);
                if elapsed >= s.slow_start {
                    return weight;
                }
                let ramped =
                    u128::from(weight) * elapsed.as_millis() / s.slow_start.as_millis().max(1);
                // At least 1 so a recovering backend does get some traffic from the start.
                (ramped as u32).max(1).min(weight)
            }
            _ => weight,
        }
    }

    fn service_status(&self, s: &Service, ids: &[TargetId]) -> ServiceStatus {
        ServiceStatus {
            name: s.name.clone(),
            port: s.port,
            protocol: s.protocol.as_str().to_string(),
            healthy: self.service_verdict(s, ids).is_ok(),
            backends: s
                .backends
                .iter()
                .zip(ids)
                .map(|(b, id)| {
                    let t = self.targets.get(id);
                    BackendStatus {
                        address: b.address.to_string(),
                        port: b.port,
                        healthy: t.is_some_and(|t| t.health.is_healthy()),
                        weight: b.weight,
                        effective_weight: self.effective_weight(s, b.weight, *id),
                        state: t
                            .map_or(HealthState::Unknown, |t| t.health.state())
                            .to_string(),
                        last_result: t.and_then(|t| t.health.last_detail().map(str::to_string)),
                    }
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::*;

    fn check() -> Check {
        Check {
            kind: CheckKind::Tcp,
            port: None,
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
            rise: 2,
            fall: 2,
        }
    }

    fn backend(address: &str, weight: u32) -> Backend {
        Backend {
            address: address.parse().unwrap(),
            port: 8080,
            weight,
            check: check(),
        }
    }

    fn service(name: &str, port: u16, backends: Vec<Backend>) -> Service {
        Service {
            name: name.into(),
            port,
            protocol: Protocol::Tcp,
            scheduler: "wrr".into(),
            forwarding: Forwarding::Masq,
            persistence: 0,
            min_healthy: 1,
            unhealthy_weight: 0,
            slow_start: Duration::ZERO,
            backends,
        }
    }

    fn vip(address: &str, services: Vec<Service>) -> Vip {
        Vip {
            address: address.parse().unwrap(),
            interface: "anycast0".into(),
            communities: vec![Community(65000 << 16 | 100)],
            large_communities: vec![],
            med: Some(10),
            local_pref: None,
            as_path_prepend: 1,
            announce: AnnouncePolicy::All,
            check: None,
            services,
        }
    }

    fn config(vips: Vec<Vip>) -> Config {
        Config {
            node: Node {
                router_id: "10.0.1.2".parse().unwrap(),
                asn: 65001,
            },
            api: Api {
                listen: "127.0.0.1:9180".parse().unwrap(),
                token: None,
            },
            bgp: Bgp {
                hold_time: 9,
                connect_retry: Duration::from_secs(5),
                listen: None,
                shutdown_delay: Duration::ZERO,
                peers: vec![],
            },
            vips,
        }
    }

    /// One VIP 10.100.0.1 with service "web" on two backends.
    fn web() -> Config {
        config(vec![vip(
            "10.100.0.1",
            vec![service(
                "web",
                80,
                vec![backend("10.0.10.11", 100), backend("10.0.10.12", 50)],
            )],
        )])
    }

    fn programmed(state: &mut NodeState) {
        let report = DataplaneReport {
            vips: state.vips.iter().map(|v| (v.cfg.address, Ok(()))).collect(),
        };
        let _ = state.set_dataplane(report);
    }

    fn id_of(state: &NodeState, address: &str) -> TargetId {
        let a: IpAddr = address.parse().unwrap();
        state
            .targets()
            .into_iter()
            .find(|t| t.address == a)
            .unwrap()
            .id
    }

    fn obs(id: TargetId, ok: bool) -> Observation {
        Observation {
            id,
            ok,
            detail: if ok { "HTTP 200" } else { "HTTP 503" }.into(),
            duration: Duration::from_millis(1),
        }
    }

    fn feed(state: &mut NodeState, address: &str, ok: bool, now: Instant) -> Changes {
        let id = id_of(state, address);
        state.observe(&obs(id, ok), now)
    }

    #[test]
    fn initial_results_are_complete_once_every_target_and_vip_has_reported() {
        let mut state = NodeState::new(&web());
        let now = Instant::now();
        assert!(!state.initial_results_complete());
        let _ = feed(&mut state, "10.0.10.11", true, now);
        // A failing first result counts: it is a result.
        let _ = feed(&mut state, "10.0.10.12", false, now);
        assert!(
            !state.initial_results_complete(),
            "the dataplane has not reported yet"
        );
        programmed(&mut state);
        assert!(state.initial_results_complete());
        // interval 2s + timeout 1s from check()
        assert_eq!(
            state.first_results_deadline(),
            check().interval + check().timeout
        );
    }

    fn weights(state: &NodeState) -> Vec<u32> {
        state
            .desired_dataplane()
            .services
            .iter()
            .flat_map(|s| s.destinations.iter().map(|d| d.weight))
            .collect()
    }

    fn vip_addr() -> IpAddr {
        "10.100.0.1".parse().unwrap()
    }

    #[test]
    fn targets_are_one_per_backend_and_vip_check_with_distinct_ids() {
        let mut cfg = web();
        cfg.vips[0].check = Some(VipCheck {
            address: vip_addr(),
            port: 53,
            check: check(),
        });
        let state = NodeState::new(&cfg);
        let targets = state.targets();
        assert_eq!(targets.len(), 3);
        let ids: BTreeSet<TargetId> = targets.iter().map(|t| t.id).collect();
        assert_eq!(ids.len(), 3);
        assert!(targets
            .iter()
            .any(|t| t.address == vip_addr() && t.port == 53));
        assert_eq!(
            state.check_label(id_of(&state, "10.0.10.11")).as_deref(),
            Some("web")
        );
    }

    #[test]
    fn nothing_is_announced_before_the_first_check() {
        let mut state = NodeState::new(&web());
        programmed(&mut state);
        assert!(state.route_set().is_empty());
        let status = state.vip_status();
        assert_eq!(status[0].reason, "waiting for first check");
        assert_eq!(status[0].services[0].backends[0].state, "unknown");
        // Backends configured at start keep their weight until their first result (a restarted
        // node keeps serving what routers still send it); the VIP is not announced meanwhile.
        assert_eq!(weights(&state), vec![100, 50]);
    }

    #[test]
    fn a_failing_first_result_drops_a_backend_to_unhealthy_weight() {
        let mut state = NodeState::new(&web());
        programmed(&mut state);
        let c = feed(&mut state, "10.0.10.12", false, Instant::now());
        assert!(c.dataplane);
        assert_eq!(weights(&state), vec![100, 0]);
    }

    #[test]
    fn a_backend_added_by_reload_starts_at_unhealthy_weight() {
        let mut state = NodeState::new(&web());
        programmed(&mut state);
        let mut cfg = web();
        cfg.vips[0].services[0]
            .backends
            .push(backend("10.0.10.13", 70));
        let _ = state.reload(&cfg);
        // Unchecked and new: it gets no traffic until its first check passes.
        assert_eq!(weights(&state), vec![100, 50, 0]);
    }

    #[test]
    fn first_healthy_backend_announces_with_the_vip_attributes() {
        let mut state = NodeState::new(&web());
        programmed(&mut state);
        let c = feed(&mut state, "10.0.10.11", true, Instant::now());
        assert!(c.announcements);
        assert!(!c.dataplane, "its weight was already the configured one");
        assert_eq!(
            c.log,
            vec![
                "service web backend 10.0.10.11:8080: healthy: HTTP 200 (first check)",
                "VIP 10.100.0.1 announced"
            ]
        );
        let routes = state.route_set();
        let attrs = &routes[&vip_addr()];
        assert_eq!(attrs.med, Some(10));
        assert_eq!(attrs.as_path_prepend, 1);
        assert_eq!(attrs.communities, vec![Community(65000 << 16 | 100)]);
        assert_eq!(state.vip_status()[0].reason, "healthy");
        assert_eq!(weights(&state), vec![100, 50]);
    }

    #[test]
    fn a_second_backend_changes_weights_but_not_announcements() {
        let mut state = NodeState::new(&web());
        programmed(&mut state);
        let now = Instant::now();
        let _ = feed(&mut state, "10.0.10.11", true, now);
        let c = feed(&mut state, "10.0.10.12", false, now);
        assert!(!c.announcements);
        assert!(c.dataplane);
        assert_eq!(c.log.len(), 1);
        assert_eq!(weights(&state), vec![100, 0]);
    }

    #[test]
    fn min_healthy_counts_healthy_backends() {
        let mut cfg = web();
        cfg.vips[0].services[0].min_healthy = 2;
        let mut state = NodeState::new(&cfg);
        programmed(&mut state);
        let now = Instant::now();
        let _ = feed(&mut state, "10.0.10.11", true, now);
        let _ = feed(&mut state, "10.0.10.12", false, now);
        assert!(state.route_set().is_empty());
        assert_eq!(
            state.vip_status()[0].reason,
            "service web: 1 of 2 backends healthy (min_healthy 2)"
        );
        let _ = feed(&mut state, "10.0.10.12", true, now);
        let c = feed(&mut state, "10.0.10.12", true, now);
        assert!(c.announcements);
        assert!(state.vip_status()[0].announced);
    }

    #[test]
    fn fall_consecutive_failures_withdraw_and_set_unhealthy_weight() {
        let mut cfg = web();
        cfg.vips[0].services[0].unhealthy_weight = 1;
        let mut state = NodeState::new(&cfg);
        programmed(&mut state);
        let now = Instant::now();
        let _ = feed(&mut state, "10.0.10.11", true, now);
        let _ = feed(&mut state, "10.0.10.12", false, now);
        assert_eq!(
            feed(&mut state, "10.0.10.11", false, now),
            Changes::default()
        );
        let c = feed(&mut state, "10.0.10.11", false, now);
        assert!(c.announcements && c.dataplane);
        assert_eq!(
            c.log,
            vec![
                "service web backend 10.0.10.11:8080: unhealthy: HTTP 503 after 2 failures",
                "VIP 10.100.0.1 withdrawn: service web: 0 of 2 backends healthy (min_healthy 1)"
            ]
        );
        assert_eq!(weights(&state), vec![1, 1]);
        // Withdrawn, but the address and the IPVS service stay programmed.
        let desired = state.desired_dataplane();
        assert_eq!(desired.addresses.len(), 1);
        assert_eq!(desired.services.len(), 1);
    }

    #[test]
    fn policy_all_needs_every_service_and_any_needs_one() {
        let two = |policy| {
            let mut v = vip(
                "10.100.0.1",
                vec![
                    service("web", 80, vec![backend("10.0.10.11", 100)]),
                    service("tls", 443, vec![backend("10.0.10.12", 100)]),
                ],
            );
            v.announce = policy;
            config(vec![v])
        };
        for (policy, announced) in [(AnnouncePolicy::All, false), (AnnouncePolicy::Any, true)] {
            let mut state = NodeState::new(&two(policy));
            programmed(&mut state);
            let now = Instant::now();
            let _ = feed(&mut state, "10.0.10.11", true, now);
            let _ = feed(&mut state, "10.0.10.12", false, now);
            assert_eq!(state.vip_status()[0].announced, announced, "{policy:?}");
            let _ = feed(&mut state, "10.0.10.11", false, now);
            let _ = feed(&mut state, "10.0.10.11", false, now);
            assert!(state.route_set().is_empty(), "{policy:?}");
        }
        let mut state = NodeState::new(&two(AnnouncePolicy::Any));
        programmed(&mut state);
        let now = Instant::now();
        let _ = feed(&mut state, "10.0.10.11", false, now);
        let _ = feed(&mut state, "10.0.10.12", false, now);
        assert_eq!(
            state.vip_status()[0].reason,
            "service web: 0 of 1 backends healthy (min_healthy 1); \
             service tls: 0 of 1 backends healthy (min_healthy 1)"
        );
    }

    #[test]
    fn vip_check_is_anded_with_the_services() {
        let mut cfg = web();
        cfg.vips[0].check = Some(VipCheck {
            address: vip_addr(),
            port: 80,
            check: check(),
        });
        let mut state = NodeState::new(&cfg);
        programmed(&mut state);
        let now = Instant::now();
        let _ = feed(&mut state, "10.0.10.11", true, now);
        assert_eq!(state.vip_status()[0].reason, "waiting for first check");
        let _ = feed(&mut state, "10.100.0.1", false, now);
        assert_eq!(state.vip_status()[0].reason, "VIP check: HTTP 503");
        assert_eq!(
            feed(&mut state, "10.100.0.1", true, now),
            Changes::default()
        );
        let c = feed(&mut state, "10.100.0.1", true, now);
        assert!(c.announcements);
        assert_eq!(
            c.log,
            vec![
                "VIP 10.100.0.1 check: healthy: HTTP 200 after 2 passes",
                "VIP 10.100.0.1 announced"
            ]
        );
        assert_eq!(state.route_set().len(), 1);
    }

    #[test]
    fn a_vip_with_only_a_check_needs_no_ipvs() {
        let mut v = vip("10.53.0.1", vec![]);
        v.check = Some(VipCheck {
            address: "10.53.0.1".parse().unwrap(),
            port: 53,
            check: check(),
        });
        let mut state = NodeState::new(&config(vec![v]));
        programmed(&mut state);
        assert!(state.route_set().is_empty());
        let _ = feed(&mut state, "10.53.0.1", true, Instant::now());
        assert_eq!(state.route_set().len(), 1);
        assert!(state.desired_dataplane().services.is_empty());
        assert_eq!(state.desired_dataplane().addresses.len(), 1);
    }

    #[test]
    fn a_vip_without_services_or_check_is_always_healthy() {
        let mut state = NodeState::new(&config(vec![vip("10.53.0.1", vec![])]));
        assert_eq!(
            state.vip_status()[0].reason,
            "dataplane: not programmed yet"
        );
        programmed(&mut state);
        assert_eq!(state.route_set().len(), 1);
        assert!(state.targets().is_empty());
    }

    #[test]
    fn a_dataplane_failure_withdraws_and_says_why() {
        let mut state = NodeState::new(&web());
        programmed(&mut state);
        let _ = feed(&mut state, "10.0.10.11", true, Instant::now());
        let mut report = DataplaneReport::default();
        report
            .vips
            .insert(vip_addr(), Err("IPVS refused the service: EINVAL".into()));
        let c = state.set_dataplane(report);
        assert!(c.announcements);
        assert_eq!(
            state.vip_status()[0].reason,
            "dataplane: IPVS refused the service: EINVAL"
        );
        assert!(state.route_set().is_empty());
        programmed(&mut state);
        assert_eq!(state.route_set().len(), 1);
    }

    #[test]
    fn drain_all_and_one_and_undrain() {
        let (mut state, two) = two_announced();

        let c = state.set_drained(None, true).unwrap();
        assert!(c.announcements);
        assert!(state.route_set().is_empty());
        assert!(state
            .vip_status()
            .iter()
            .all(|v| v.drained && v.reason == "drained"));

        // Undraining one VIP of a drained node leaves the others drained.
        let _ = state.set_drained(Some(two), false).unwrap();
        assert_eq!(
            state.route_set().keys().copied().collect::<Vec<_>>(),
            vec![two]
        );

        let _ = state.set_drained(None, false).unwrap();
        assert_eq!(state.route_set().len(), 2);

        let c = state.set_drained(Some(vip_addr()), true).unwrap();
        assert_eq!(
            c.log,
            vec![
                "VIP 10.100.0.1 drained",
                "VIP 10.100.0.1 withdrawn: drained"
            ]
        );
        assert!(state.is_drained(vip_addr()) && !state.is_drained(two));
        // Draining keeps weights: existing connections and other nodes are unaffected.
        assert_eq!(weights(&state), vec![100, 50]);
    }

    fn graceful_shutdown_on(state: &NodeState) -> Vec<IpAddr> {
        let gs = crate::config::Community::GRACEFUL_SHUTDOWN;
        state
            .route_set()
            .iter()
            .filter(|(_, a)| a.communities.contains(&gs))
            .map(|(v, _)| *v)
            .collect()
    }

    /// Two VIPs, both announced.
    fn two_announced() -> (NodeState, IpAddr) {
        let mut cfg = web();
        cfg.vips.push(vip("10.100.0.2", vec![]));
        let mut state = NodeState::new(&cfg);
        programmed(&mut state);
        let _ = feed(&mut state, "10.0.10.11", true, Instant::now());
        assert_eq!(state.route_set().len(), 2);
        (state, "10.100.0.2".parse().unwrap())
    }

    #[test]
    fn a_drain_with_a_shutdown_delay_announces_graceful_shutdown_then_withdraws() {
        let (mut state, two) = two_announced();
        let (now, delay) = (Instant::now(), Duration::from_secs(5));
        let out = state.drain(Some(vip_addr()), true, delay, now).unwrap();
        assert_eq!(out.message, "draining 10.100.0.1: withdraw in 5s");
        assert!(out.changes.announcements, "the route's communities changed");
        assert_eq!(graceful_shutdown_on(&state), vec![vip_addr()]);
        assert_eq!(state.route_set().len(), 2, "still announced meanwhile");
        let status = state.vip_status();
        assert!(status[0].drained && status[0].announced);
        assert!(status[0]
            .reason
            .starts_with("draining: announced with GRACEFUL_SHUTDOWN"));
        assert!(!status[1].drained, "{two} is not draining");
        assert_eq!(state.next_drain_deadline(), Some(now + delay));

        let early = state.complete_drains(now + Duration::from_secs(4));
        assert!(early.is_empty());
        let due = state.complete_drains(now + delay);
        assert!(due.announcements);
        assert_eq!(
            due.log,
            vec![
                "VIP 10.100.0.1 drained",
                "VIP 10.100.0.1 withdrawn: drained"
            ]
        );
        assert_eq!(
            state.route_set().keys().copied().collect::<Vec<_>>(),
            vec![two]
        );
        assert!(graceful_shutdown_on(&state).is_empty());
        assert_eq!(state.next_drain_deadline(), None);
        assert_eq!(state.vip_status()[0].reason, "drained");
    }

    #[test]
    fn without_a_shutdown_delay_a_drain_withdraws_at_once() {
        let (mut state, _) = two_announced();
        let out = state
            .drain(None, true, Duration::ZERO, Instant::now())
            .unwrap();
        assert_eq!(out.message, "drained all VIPs");
        assert!(out.changes.announcements);
        assert!(state.route_set().is_empty());
        assert_eq!(state.next_drain_deadline(), None);
        let out = state
            .drain(None, false, Duration::ZERO, Instant::now())
            .unwrap();
        assert_eq!(out.message, "undrained all VIPs");
        assert_eq!(state.route_set().len(), 2);
    }

    #[test]
    fn undraining_one_vip_during_a_pending_drain_of_all_narrows_it_to_the_others() {
        let (mut state, two) = two_announced();
        let (now, delay) = (Instant::now(), Duration::from_secs(5));
        let _ = state.drain(None, true, delay, now).unwrap();
        assert_eq!(graceful_shutdown_on(&state), vec![vip_addr(), two]);
        let out = state.drain(Some(two), false, delay, now).unwrap();
        assert_eq!(out.message, "undrained 10.100.0.2");
        assert_eq!(graceful_shutdown_on(&state), vec![vip_addr()]);
        let _ = state.complete_drains(now + delay);
        assert_eq!(
            state.route_set().keys().copied().collect::<Vec<_>>(),
            vec![two]
        );
    }

    #[test]
    fn an_undrain_cancels_a_pending_drain_and_a_new_drain_replaces_it() {
        let (mut state, _) = two_announced();
        let (now, delay) = (Instant::now(), Duration::from_secs(5));
        let _ = state.drain(Some(vip_addr()), true, delay, now).unwrap();
        let later = now + Duration::from_secs(2);
        let _ = state.drain(Some(vip_addr()), true, delay, later).unwrap();
        assert_eq!(state.next_drain_deadline(), Some(later + delay), "replaced");
        let _ = state.drain(Some(vip_addr()), false, delay, later).unwrap();
        assert_eq!(state.next_drain_deadline(), None);
        assert!(graceful_shutdown_on(&state).is_empty());
        assert!(state.complete_drains(later + delay).is_empty());
        assert_eq!(state.route_set().len(), 2);
    }

    #[test]
    fn a_drain_of_an_unknown_vip_is_refused_and_changes_nothing() {
        let (mut state, _) = two_announced();
        let now = Instant::now();
        let _ = state
            .drain(None, true, Duration::from_secs(5), now)
            .unwrap();
        let err = state
            .drain(
                Some("192.0.2.1".parse().unwrap()),
                false,
                Duration::ZERO,
                now,
            )
            .unwrap_err();
        assert_eq!(err, "no VIP 192.0.2.1 in the configuration");
        assert_eq!(
            graceful_shutdown_on(&state).len(),
            2,
            "the pending drain stays"
        );
    }

    #[test]
    fn shutting_down_puts_graceful_shutdown_on_every_route() {
        let (mut state, two) = two_announced();
        let c = state.begin_shutdown();
        assert!(c.announcements);
        assert_eq!(graceful_shutdown_on(&state), vec![vip_addr(), two]);
        assert!(
            state.vip_status().iter().all(|v| !v.drained),
            "shutting down is not a drain"
        );
    }

    #[test]
    fn draining_an_unknown_vip_is_an_error() {
        let mut state = NodeState::new(&web());
        let err = state
            .set_drained(Some("192.0.2.1".parse().unwrap()), true)
            .unwrap_err();
        assert_eq!(err, "no VIP 192.0.2.1 in the configuration");
    }

    #[test]
    fn slow_start_ramps_a_recovered_backend() {
        let mut cfg = web();
        cfg.vips[0].services[0].slow_start = Duration::from_secs(10);
        let mut state = NodeState::new(&cfg);
        programmed(&mut state);
        let t0 = Instant::now();
        // The first result sets the state directly, without a ramp.
        let _ = feed(&mut state, "10.0.10.11", true, t0);
        assert_eq!(weights(&state)[0], 100);
        let _ = feed(&mut state, "10.0.10.11", false, t0);
        let _ = feed(&mut state, "10.0.10.11", false, t0);
        assert_eq!(weights(&state)[0], 0);
        let _ = feed(&mut state, "10.0.10.11", true, t0);
        let c = feed(&mut state, "10.0.10.11", true, t0);
        assert!(c.dataplane);
        assert_eq!(weights(&state)[0], 1, "starts at 1, not 0");
        assert!(state.ramping());
        let c = state.tick(t0 + Duration::from_secs(5));
        assert!(c.dataplane && !c.announcements);
        assert_eq!(weights(&state)[0], 50);
        assert_eq!(
            state.vip_status()[0].services[0].backends[0].effective_weight,
            50
        );
        assert_eq!(state.tick(t0 + Duration::from_secs(5)), Changes::default());
        let _ = state.tick(t0 + Duration::from_secs(11));
        assert_eq!(weights(&state)[0], 100);
        assert!(!state.ramping());
    }

    #[test]
    fn reload_carries_health_and_drain_over_for_targets_that_still_exist() {
        let mut state = NodeState::new(&web());
        programmed(&mut state);
        let now = Instant::now();
        let _ = feed(&mut state, "10.0.10.11", true, now);
        let _ = state.set_drained(Some(vip_addr()), true);
        let kept = id_of(&state, "10.0.10.11");

        let mut cfg = web();
        cfg.vips[0].services[0].backends[1] = backend("10.0.10.13", 100);
        cfg.vips[0].services[0].backends[0].check.rise = 5;
        cfg.vips.push(vip("10.100.0.2", vec![]));
        let c = state.reload(&cfg);
        assert!(c.dataplane, "a new address and a new backend");

        assert_eq!(id_of(&state, "10.0.10.11"), kept);
        let new = id_of(&state, "10.0.10.13");
        assert_ne!(new, kept);
        assert!(!state
            .targets()
            .iter()
            .any(|t| t.address.to_string() == "10.0.10.12"));
        let status = state.vip_status();
        assert_eq!(status[0].services[0].backends[0].state, "healthy");
        assert_eq!(status[0].services[0].backends[1].state, "unknown");
        assert!(status[0].drained);
        assert_eq!(status[1].reason, "dataplane: not programmed yet");

        // An observation for a target removed by the reload is ignored.
        let stale = TargetId(1);
        assert!(stale != kept && stale != new);
        assert_eq!(state.observe(&obs(stale, false), now), Changes::default());

        // Undrain: the carried-over healthy backend announces at once.
        let c = state.set_drained(None, false).unwrap();
        assert!(c.announcements);
        assert!(state.route_set().contains_key(&vip_addr()));
    }

    #[test]
    fn reload_that_moves_a_vip_to_another_interface_waits_for_the_dataplane() {
        let mut state = NodeState::new(&web());
        programmed(&mut state);
        let _ = feed(&mut state, "10.0.10.11", true, Instant::now());
        let mut cfg = web();
        cfg.vips[0].interface = "lo".into();
        let c = state.reload(&cfg);
        assert!(c.announcements && c.dataplane);
        assert_eq!(
            c.log,
            vec!["VIP 10.100.0.1 withdrawn: dataplane: not programmed yet"]
        );
        programmed(&mut state);
        assert_eq!(state.route_set().len(), 1);
    }

    #[test]
    fn reload_of_an_unchanged_config_changes_nothing() {
        let mut state = NodeState::new(&web());
        programmed(&mut state);
        let _ = feed(&mut state, "10.0.10.11", true, Instant::now());
        assert_eq!(state.reload(&web()), Changes::default());
    }

    #[test]
    fn reload_that_changes_route_attributes_reports_announcements() {
        let mut state = NodeState::new(&web());
        programmed(&mut state);
        let _ = feed(&mut state, "10.0.10.11", true, Instant::now());
        let mut cfg = web();
        cfg.vips[0].med = Some(20);
        let c = state.reload(&cfg);
        assert!(c.announcements && !c.dataplane);
        assert_eq!(state.route_set()[&vip_addr()].med, Some(20));
    }

    #[test]
    fn status_carries_node_identity_and_backend_details() {
        let mut state = NodeState::new(&web());
        programmed(&mut state);
        let _ = feed(&mut state, "10.0.10.12", false, Instant::now());
        let status = state.status(vec![]);
        assert_eq!(status.node.router_id, "10.0.1.2");
        assert_eq!(status.node.asn, 65001);
        let b = &status.vips[0].services[0].backends[1];
        assert_eq!(b.address, "10.0.10.12");
        assert_eq!(b.weight, 50);
        assert_eq!(b.effective_weight, 0);
        assert_eq!(b.last_result.as_deref(), Some("HTTP 503"));
        assert!(!status.vips[0].services[0].healthy);
    }
}
