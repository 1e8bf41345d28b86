//! Whether a VIP is announced, and why not in words.

use super::*;

/// How an announced VIP is announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announce {
    Healthy,
    /// With the `degrade_*` attributes, and why (naming the rule that decided).
    Degraded(String),
}

/// What `/status`, the log and the change detection see of a verdict: its kind, not its words
/// (a count of healthy backends that moves within "degraded" changes no route).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    Withdrawn,
    Announced,
    Degraded,
}

impl Shown {
    pub fn of(verdict: &Result<Announce, String>) -> Shown {
        match verdict {
            Ok(Announce::Healthy) => Shown::Announced,
            Ok(Announce::Degraded(_)) => Shown::Degraded,
            Err(_) => Shown::Withdrawn,
        }
    }

    pub fn announced(self) -> bool {
        self != Shown::Withdrawn
    }
}

/// One service's health against its backends.
enum ServiceHealth {
    /// Every backend healthy.
    Full,
    /// At least `min_healthy`, not all.
    Partial(String),
    Down(String),
    Waiting,
}

impl NodeState {
    /// `Ok` when the VIP is to be announced (healthy or degraded), else why not, in words.
    ///
    /// Drains and dataplane errors always withdraw. Health withdraws unless the VIP is a
    /// `last_resort` (then it is announced degraded: a node cannot know whether the others
    /// still announce it). With `on_partial = "degrade"`, a VIP whose services all still have
    /// `min_healthy` but not every backend is announced degraded.
    pub(super) fn verdict(&self, v: &VipModel) -> Result<Announce, String> {
        let address = v.cfg.address;
        if self.is_drained(address) {
            return Err("drained".into());
        }
        match self.dataplane.vips.get(&address) {
            None => return Err("dataplane: not programmed yet".into()),
            Some(Err(e)) => return Err(format!("dataplane: {e}")),
            Some(Ok(())) => {}
        }
        match self.health_verdict(v) {
            Ok(announce) => Ok(announce),
            Err(Waiting) => Err("waiting for first check".into()),
            Err(Failing(reason)) if v.cfg.failure.last_resort => Ok(Announce::Degraded(format!(
                "last_resort: announced degraded instead of withdrawn: {reason}"
            ))),
            Err(Failing(reason)) => Err(reason),
        }
    }

    /// The verdict of the checks alone.
    fn health_verdict(&self, v: &VipModel) -> Result<Announce, HealthFailure> {
        if let Some(t) = v.check.and_then(|id| self.targets.get(&id)) {
            match t.health.state() {
                HealthState::Healthy => {}
                HealthState::Unknown => return Err(Waiting),
                HealthState::Unhealthy => {
                    return Err(Failing(format!(
                        "VIP check: {}",
                        t.health.last_detail().unwrap_or("failing")
                    )))
                }
            }
        }
        if v.cfg.services.is_empty() {
            return Ok(Announce::Healthy);
        }
        let services: Vec<ServiceHealth> = v
            .cfg
            .services
            .iter()
            .zip(&v.backends)
            .map(|(s, ids)| self.service_health(s, ids))
            .collect();
        let up = |h: &ServiceHealth| matches!(h, ServiceHealth::Full | ServiceHealth::Partial(_));
        let announceable = match v.cfg.announce {
            AnnouncePolicy::All => services.iter().all(up),
            AnnouncePolicy::Any => services.iter().any(up),
        };
        if !announceable {
            if services.iter().any(|h| matches!(h, ServiceHealth::Waiting))
                && !services.iter().any(|h| matches!(h, ServiceHealth::Down(_)))
            {
                return Err(Waiting);
            }
            let mut reasons: Vec<String> = Vec::new();
            for h in &services {
                let r = match h {
                    ServiceHealth::Down(r) => r.clone(),
                    ServiceHealth::Waiting => "waiting for first check".into(),
                    _ => continue,
                };
                if !reasons.contains(&r) {
                    reasons.push(r);
                }
            }
            return Err(Failing(reasons.join("; ")));
        }
        let short: Vec<&str> = services
            .iter()
            .filter_map(|h| match h {
                ServiceHealth::Partial(r) | ServiceHealth::Down(r) => Some(r.as_str()),
                _ => None,
            })
            .collect();
        if v.cfg.failure.degrade_on_partial && !short.is_empty() {
            return Ok(Announce::Degraded(format!(
                "on_partial = \"degrade\": {}",
                short.join("; ")
            )));
        }
        Ok(Announce::Healthy)
    }

    fn service_health(&self, s: &Service, ids: &[TargetId]) -> ServiceHealth {
        let states: Vec<HealthState> = ids
            .iter()
            .filter_map(|id| self.targets.get(id))
            .map(|t| t.health.state())
            .collect();
        let healthy = states
            .iter()
            .filter(|s| **s == HealthState::Healthy)
            .count();
        let counted = format!(
            "service {}: {healthy} of {} backends healthy (min_healthy {})",
            s.name,
            states.len(),
            s.min_healthy
        );
        if healthy == states.len() {
            ServiceHealth::Full
        } else if healthy as u64 >= u64::from(s.min_healthy) {
            ServiceHealth::Partial(counted)
        } else if states.iter().all(|s| *s == HealthState::Unknown) {
            ServiceHealth::Waiting
        } else {
            ServiceHealth::Down(counted)
        }
    }

    pub(super) fn service_verdict(&self, s: &Service, ids: &[TargetId]) -> Result<(), String> {
        match self.service_health(s, ids) {
            ServiceHealth::Full | ServiceHealth::Partial(_) => Ok(()),
            ServiceHealth::Waiting => Err("waiting for first check".into()),
            ServiceHealth::Down(r) => Err(r),
        }
    }
}

/// The `/status` reason of a verdict: "healthy", "degraded (…)" or why it is withdrawn.
pub fn reason(verdict: Result<Announce, String>) -> String {
    match verdict {
        Ok(Announce::Healthy) => "healthy".into(),
        Ok(Announce::Degraded(why)) => format!("degraded ({why})"),
        Err(why) => why,
    }
}

/// Why the checks alone would withdraw a VIP.
enum HealthFailure {
    /// Not every check has its first result.
    Waiting,
    Failing(String),
}

use HealthFailure::{Failing, Waiting};
