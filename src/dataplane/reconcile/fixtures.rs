//! Test fixtures shared by the planner, mirror and report tests: a small desired state (with
//! address-bound or route-bound VIPs) and the kernel as anycastd leaves it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::plan::{canonical_order, desired_dests, service_key, service_params};
use crate::config::{Forwarding, Protocol};
use crate::dataplane::state::{
    ActualState, Address, DestKey, Link, LocalRoute, Service, ServiceKey, ROUTE_METRIC,
};
use crate::dataplane::{DesiredState, Destination, VipAddress, VirtualService};

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn dest(addr: &str, port: u16, weight: u32) -> Destination {
    Destination {
        address: ip(addr),
        port,
        weight,
        forwarding: Forwarding::Masq,
    }
}

pub fn service(vip: &str, port: u16, dests: Vec<Destination>) -> VirtualService {
    VirtualService {
        vip: ip(vip),
        port,
        protocol: Protocol::Tcp,
        scheduler: "wrr".into(),
        persistence: 0,
        flags: Default::default(),
        rehash_safe: false,
        destinations: dests,
    }
}

pub fn key(vip: &str, port: u16) -> ServiceKey {
    ServiceKey {
        protocol: Protocol::Tcp,
        address: ip(vip),
        port,
    }
}

pub fn dkey(addr: &str, port: u16) -> DestKey {
    DestKey {
        address: ip(addr),
        port,
    }
}

/// Two VIPs on anycast0 (one v4, one v6), two services with two backends each.
pub fn full_desired() -> DesiredState {
    DesiredState {
        sync_daemons: vec![],
        addresses: vec![
            VipAddress {
                interface: "anycast0".into(),
                address: ip("10.100.0.1"),
            },
            VipAddress {
                interface: "anycast0".into(),
                address: ip("2001:db8::1"),
            },
        ],
        routes: vec![],
        services: vec![
            service(
                "10.100.0.1",
                80,
                vec![dest("10.0.10.11", 8080, 100), dest("10.0.10.12", 8080, 50)],
            ),
            service(
                "2001:db8::1",
                443,
                vec![
                    dest("2001:db8:10::11", 8443, 1),
                    dest("2001:db8:10::12", 8443, 2),
                ],
            ),
        ],
    }
}

/// The kernel as anycastd would leave it after programming `desired`.
pub fn programmed(desired: &DesiredState) -> ActualState {
    let mut actual = ActualState {
        sync_daemons: vec![],
        links: vec![
            Link {
                index: 1,
                name: "lo".into(),
                up: true,
                owned: false,
            },
            Link {
                index: 2,
                name: "anycast0".into(),
                up: true,
                owned: true,
            },
        ],
        addresses: desired
            .addresses
            .iter()
            .map(|a| Address {
                interface: a.interface.clone(),
                address: a.address,
                prefix_len: if a.address.is_ipv4() { 32 } else { 128 },
                owned: true,
            })
            .collect(),
        routes: desired
            .routes
            .iter()
            .map(|r| LocalRoute {
                interface: r.interface.clone(),
                address: r.address,
                metric: ROUTE_METRIC,
            })
            .collect(),
        ipvs: Some(BTreeMap::new()),
        ipvs_sysctls: BTreeMap::new(),
    };
    let ipvs = actual.ipvs.as_mut().unwrap();
    for s in &desired.services {
        ipvs.insert(
            service_key(s),
            Service {
                params: service_params(s),
                dests: desired_dests(s),
                order: canonical_order(s),
            },
        );
    }
    actual
}

pub fn empty_kernel() -> ActualState {
    ActualState {
        sync_daemons: vec![],
        links: vec![Link {
            index: 1,
            name: "lo".into(),
            up: true,
            owned: false,
        }],
        addresses: vec![],
        routes: vec![],
        ipvs: Some(BTreeMap::new()),
        ipvs_sysctls: BTreeMap::new(),
    }
}

/// [`full_desired`] with both VIPs bound by local routes instead of addresses.
pub fn route_desired() -> DesiredState {
    let mut d = full_desired();
    d.routes = std::mem::take(&mut d.addresses);
    d
}
