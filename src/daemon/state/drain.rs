//! Drains and undrains, the GRACEFUL_SHUTDOWN period before a drain withdraws, and shutdown.

use super::*;

/// A drain announced with GRACEFUL_SHUTDOWN, carried out (withdrawn) at `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PendingDrain {
    pub(super) at: Instant,
    /// `None`: every VIP.
    pub(super) vip: Option<IpAddr>,
    /// Who asked, and when (for `/status` and the state file).
    pub(super) origin: DrainOrigin,
}

impl PendingDrain {
    pub(super) fn covers(&self, vip: IpAddr) -> bool {
        self.vip.is_none_or(|v| v == vip)
    }
}

/// What a drain or undrain request did: the changes to push and the answer for the operator.
#[derive(Debug)]
pub struct DrainOutcome {
    pub changes: Changes,
    pub message: String,
}

impl NodeState {
    /// A drain or undrain request (API, CLI) for every VIP (`None`) or one. With a
    /// `shutdown_delay`, a drain first announces GRACEFUL_SHUTDOWN and withdraws once the delay
    /// has passed ([`NodeState::complete_drains`]); without one it withdraws at once. A new
    /// request replaces the pending drains it covers; undraining one VIP while a drain of all
    /// is pending narrows that drain to the other VIPs. An unknown VIP is an error. `origin`
    /// says who asked a drain and when; the runtime keeps [`NodeState::saved_drains`] in the
    /// state file.
    pub fn drain(
        &mut self,
        vip: Option<IpAddr>,
        drain: bool,
        shutdown_delay: Duration,
        now: Instant,
        origin: DrainOrigin,
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
                    origin: p.origin.clone(),
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
                origin,
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
        let mut changes = self.set_drained(vip, drain.then_some(origin))?;
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
            match self.set_drained(p.vip, Some(p.origin)) {
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
    pub(super) fn draining(&self, vip: IpAddr) -> bool {
        self.shutting_down || self.pending_drains.iter().any(|p| p.covers(vip))
    }

    /// Drains (`Some` origin) or undrains (`None`) every VIP (`vip` `None`) or one at once. An
    /// unknown VIP is an error.
    pub(super) fn set_drained(
        &mut self,
        vip: Option<IpAddr>,
        origin: Option<DrainOrigin>,
    ) -> Result<Changes, String> {
        let before = self.announced();
        let mut log = Vec::new();
        let drained = origin.is_some();
        match vip {
            None => {
                self.drain_all = origin;
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
                if let Some(origin) = origin {
                    self.drained.insert(address, origin);
                } else {
                    if let Some(all) = self.drain_all.take() {
                        // Undraining one VIP of a drained node: the others stay drained.
                        let vips = self.vips.iter().map(|v| (v.cfg.address, all.clone()));
                        self.drained = vips.collect();
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

    /// Whether this VIP (or the whole node) is drained.
    pub fn is_drained(&self, vip: IpAddr) -> bool {
        self.drain_all.is_some() || self.drained.contains_key(&vip)
    }
}
