//! Whether a VIP is announced, and why not in words.

use super::*;

impl NodeState {
    /// `Ok` when the VIP is to be announced, else why not, in words.
    pub(super) fn verdict(&self, v: &VipModel) -> Result<(), String> {
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

    pub(super) fn service_verdict(&self, s: &Service, ids: &[TargetId]) -> Result<(), String> {
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

    pub(super) fn reason_of(&self, address: IpAddr) -> String {
        self.vips
            .iter()
            .find(|v| v.cfg.address == address)
            .map(|v| self.verdict(v).err().unwrap_or_else(|| "healthy".into()))
            .unwrap_or_default()
    }
}
