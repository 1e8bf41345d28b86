//! The targets a configuration asks to check, keyed so that they survive a reload.

use super::*;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum TargetKey {
    VipCheck(IpAddr),
    Backend {
        vip: IpAddr,
        service: String,
        address: IpAddr,
        port: u16,
    },
}

impl TargetKey {
    pub(super) fn describe(&self) -> String {
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
pub(super) struct TargetModel {
    pub(super) key: TargetKey,
    pub(super) target: Target,
    pub(super) health: RiseFall,
    /// The service's slow_start (zero for VIP checks).
    pub(super) slow_start: Duration,
    /// Set when the target recovered and its weight is ramping up.
    pub(super) ramp_from: Option<Instant>,
    /// Index of its VIP in `NodeState::vips`.
    pub(super) vip: usize,
    /// Configured when the daemon started (not added by a reload). Until its first result
    /// such a backend keeps its configured weight: after a restart the kernel already serves
    /// with it (routers may still send traffic, kept by graceful restart), and zeroing it
    /// while the first checks run would refuse those connections. The VIP is still not
    /// announced before the first results.
    pub(super) from_start: bool,
}

impl NodeState {
    pub(super) fn build(
        &mut self,
        config: &Config,
        mut old: BTreeMap<TargetKey, (TargetId, TargetModel)>,
    ) {
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

    pub(super) fn add_target(
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

    /// What a target checks, in words ("service web backend 10.0.10.11:8080").
    pub fn describe_target(&self, id: TargetId) -> Option<String> {
        self.targets.get(&id).map(|t| t.key.describe())
    }

    /// A label for metrics: the service name for a backend, "vip <address>" for a VIP check.
    /// `None` for an id that is not (or no longer) a target.
    pub fn check_label(&self, id: TargetId) -> Option<String> {
        self.targets.get(&id).map(|t| match &t.key {
            TargetKey::VipCheck(vip) => format!("vip {vip}"),
            TargetKey::Backend { service, .. } => service.clone(),
        })
    }
}
