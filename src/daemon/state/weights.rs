//! The weights IPVS gets: configured, unhealthy or ramping up over slow_start.

use super::*;

impl NodeState {
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

    pub(super) fn virtual_services(&self, v: &VipModel) -> Vec<VirtualService> {
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
                flags: s.flags,
                rehash_safe: s.rehash_safe,
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
    pub(super) fn effective_weight(&self, s: &Service, weight: u32, id: TargetId) -> u32 {
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
}
