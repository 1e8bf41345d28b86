//! The /status document of the node's VIPs, services and backends.

use super::*;

impl NodeState {
    /// Per VIP: announced, drained, why, and every service and backend.
    pub fn vip_status(&self) -> Vec<VipStatus> {
        self.vips
            .iter()
            .map(|v| {
                let verdict = self.verdict(v);
                let shown = verdict::Shown::of(&verdict);
                let address = v.cfg.address;
                // A drain waiting out its delay is a drain to the operator, while the route is
                // still announced (with GRACEFUL_SHUTDOWN).
                let draining =
                    shown.announced() && self.pending_drains.iter().any(|p| p.covers(address));
                let drained = draining || self.is_drained(address);
                let origin = self.drain_origin(address).filter(|_| drained);
                VipStatus {
                    address: address.to_string(),
                    announced: shown.announced(),
                    degraded: shown == verdict::Shown::Degraded,
                    drained,
                    drained_by: origin.map(DrainOrigin::shown_by),
                    drained_since: origin.map(|o| saved::rfc3339(o.since)),
                    reason: if draining {
                        "draining: announced with GRACEFUL_SHUTDOWN until bgp.shutdown_delay passes"
                            .into()
                    } else {
                        verdict::reason(verdict)
                    },
                    services: v
                        .cfg
                        .services
                        .iter()
                        .zip(&v.backends)
                        .map(|(s, ids)| self.service_status(v.cfg.address, s, ids))
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
            bgp_listener: None,
            catalog: None,
        }
    }

    pub(super) fn service_status(
        &self,
        vip: IpAddr,
        s: &Service,
        ids: &[TargetId],
    ) -> ServiceStatus {
        let key = crate::dataplane::state::ServiceKey {
            protocol: s.protocol,
            address: vip,
            port: s.port,
        };
        ServiceStatus {
            table: self.dataplane.tables.get(&key).cloned(),
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

    /// A task that panicked was started again (the runtime's supervision): counted in
    /// `/status` under `task_restarts`.
    pub fn record_restart(&mut self, task: String) {
        *self.task_restarts.entry(task).or_default() += 1;
    }
}
