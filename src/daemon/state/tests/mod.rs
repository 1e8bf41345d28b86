//! Unit tests of the node model, by what they decide; the fixtures every group shares.

use super::*;
use crate::config::*;

mod drain;
mod policy;
mod reload;
mod saved;
mod status;
mod verdict;
mod weights;

pub(super) fn check() -> Check {
    Check {
        kind: CheckKind::Tcp,
        port: None,
        interval: Duration::from_secs(2),
        timeout: Duration::from_secs(1),
        rise: 2,
        fall: 2,
    }
}

pub(super) fn backend(address: &str, weight: u32) -> Backend {
    Backend {
        address: address.parse().unwrap(),
        port: 8080,
        weight,
        check: check(),
    }
}

pub(super) fn service(name: &str, port: u16, backends: Vec<Backend>) -> Service {
    Service {
        name: name.into(),
        port,
        protocol: Protocol::Tcp,
        scheduler: "wrr".into(),
        forwarding: Forwarding::Masq,
        persistence: 0,
        flags: Default::default(),
        min_healthy: 1,
        unhealthy_weight: 0,
        slow_start: Duration::ZERO,
        backends,
        rehash_safe: false,
    }
}

pub(super) fn vip(address: &str, services: Vec<Service>) -> Vip {
    Vip {
        address: address.parse().unwrap(),
        interface: "anycast0".into(),
        bind: VipBind::Address,
        communities: vec![Community(65000 << 16 | 100)],
        large_communities: vec![],
        med: Some(10),
        local_pref: None,
        as_path_prepend: 1,
        announce: AnnouncePolicy::All,
        check: None,
        services,
        peers: Vec::new(),
        failure: FailurePolicy::default(),
    }
}

pub(super) fn config(vips: Vec<Vip>) -> Config {
    Config {
        ipvs_sync: None,
        node: Node {
            router_id: "10.0.1.2".parse().unwrap(),
            asn: 65001,
        },
        api: Api {
            listen: "127.0.0.1:9180".parse().unwrap(),
            token: None,
            max_connections: 256,
            writable: true,
        },
        bgp: Bgp {
            hold_time: 9,
            connect_retry: Duration::from_secs(5),
            listen: None,
            shutdown_delay: Duration::ZERO,
            peers: vec![],
        },
        vips,
        state_file: None,
        labels: Vec::new(),
        catalog: None,
    }
}

/// One VIP 10.100.0.1 with service "web" on two backends.
pub(super) fn web() -> Config {
    config(vec![vip(
        "10.100.0.1",
        vec![service(
            "web",
            80,
            vec![backend("10.0.10.11", 100), backend("10.0.10.12", 50)],
        )],
    )])
}

pub(super) fn programmed(state: &mut NodeState) {
    let report = DataplaneReport {
        vips: state.vips.iter().map(|v| (v.cfg.address, Ok(()))).collect(),
        tables: Default::default(),
    };
    let _ = state.set_dataplane(report);
}

pub(super) fn id_of(state: &NodeState, address: &str) -> TargetId {
    let a: IpAddr = address.parse().unwrap();
    state
        .targets()
        .into_iter()
        .find(|t| t.address == a)
        .unwrap()
        .id
}

pub(super) fn obs(id: TargetId, ok: bool) -> Observation {
    Observation {
        id,
        ok,
        detail: if ok { "HTTP 200" } else { "HTTP 503" }.into(),
        duration: Duration::from_millis(1),
    }
}

pub(super) fn feed(state: &mut NodeState, address: &str, ok: bool, now: Instant) -> Changes {
    let id = id_of(state, address);
    state.observe(&obs(id, ok), now)
}

pub(super) fn weights(state: &NodeState) -> Vec<u32> {
    state
        .desired_dataplane()
        .services
        .iter()
        .flat_map(|s| s.destinations.iter().map(|d| d.weight))
        .collect()
}

/// A drain asked over the API at 2026-12-03T13:20:00Z.
pub(super) fn asked() -> DrainOrigin {
    DrainOrigin::api(1_796_304_000)
}

pub(super) fn vip_addr() -> IpAddr {
    "10.100.0.1".parse().unwrap()
}

pub(super) fn graceful_shutdown_on(state: &NodeState) -> Vec<IpAddr> {
    let gs = crate::config::Community::GRACEFUL_SHUTDOWN;
    state
        .route_set()
        .iter()
        .filter(|(_, a)| a.communities.contains(&gs))
        .map(|(v, _)| *v)
        .collect()
}

/// Two VIPs, both announced.
pub(super) fn two_announced() -> (NodeState, IpAddr) {
    let mut cfg = web();
    cfg.vips.push(vip("10.100.0.2", vec![]));
    let mut state = NodeState::new(&cfg);
    programmed(&mut state);
    let _ = feed(&mut state, "10.0.10.11", true, Instant::now());
    assert_eq!(state.route_set().len(), 2);
    (state, "10.100.0.2".parse().unwrap())
}
