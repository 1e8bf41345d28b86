//! A routers × nodes topology of namespaces for daemon tests, with FRR router configs and the
//! `[node]`/`[bgp]` part of each node's anycastd config.
//!
//! ```text
//!   router k (FRR, AS 65000) eth{i} ── eth{k} node i (anycastd, AS 65001)
//!        10.k.i.1/24  2001:db8:k:i::1/64       10.k.i.2/24  2001:db8:k:i::2/64
//! ```
//!
//! Routers are numbered from 0, nodes from 1.

use super::{link, Frr, Netns};

pub struct Lab {
    pub routers: Vec<Netns>,
    pub nodes: Vec<Netns>,
}

pub const ROUTER_ASN: u32 = 65000;
pub const NODE_ASN: u32 = 65001;

impl Lab {
    pub fn new(routers: usize, nodes: usize) -> Lab {
        let routers: Vec<Netns> = (0..routers).map(|_| Netns::new("r")).collect();
        let nodes: Vec<Netns> = (0..nodes).map(|_| Netns::new("n")).collect();
        for (k, r) in routers.iter().enumerate() {
            for (idx, n) in nodes.iter().enumerate() {
                let i = idx + 1;
                let (rif, nif) = (format!("eth{i}"), format!("eth{k}"));
                link(r, &rif, n, &nif);
                r.addr(&rif, &format!("{}/24", router_addr(k, i)));
                r.addr(&rif, &format!("{}/64", router_addr6(k, i)));
                n.addr(&nif, &format!("{}/24", node_addr(k, i)));
                n.addr(&nif, &format!("{}/64", node_addr6(k, i)));
            }
        }
        Lab { routers, nodes }
    }

    pub fn router(&self, k: usize) -> &Netns {
        &self.routers[k]
    }

    /// Node i, 1-based.
    pub fn node(&self, i: usize) -> &Netns {
        &self.nodes[i - 1]
    }

    /// Starts FRR on router k with every node as a neighbor. `timers`: (keepalive, hold) for
    /// every neighbor, else FRR's datacenter defaults (3, 9).
    pub fn start_router(&self, k: usize, timers: Option<(u16, u16)>) -> Frr {
        Frr::start(&self.routers[k], &self.router_config(k, timers))
    }

    /// The FRR config [`Lab::start_router`] gives router k, to add to before starting FRR
    /// with it.
    pub fn router_config(&self, k: usize, timers: Option<(u16, u16)>) -> String {
        let neighbors: Vec<String> = (1..=self.nodes.len()).map(|i| node_addr(k, i)).collect();
        router_conf(&router_id(k), &neighbors, timers)
    }

    /// `[node]`, `[api]` and `[bgp]` (plus `bgp_extra` lines) for node i, peering over IPv4
    /// with every router, `next_hop6` set to the node's IPv6 address on that link.
    pub fn node_config(&self, i: usize, bgp_extra: &str) -> String {
        self.node_config_with_routers(i, bgp_extra, &(0..self.routers.len()).collect::<Vec<_>>())
    }

    /// Like [`Lab::node_config`], peering only with the routers listed.
    pub fn node_config_with_routers(&self, i: usize, bgp_extra: &str, routers: &[usize]) -> String {
        let mut c = format!(
            "[node]\nrouter_id = \"{}\"\nasn = {NODE_ASN}\n\n[api]\nlisten = \"127.0.0.1:9180\"\n\n\
             [bgp]\nhold_time = 9\nconnect_retry = 1\n{bgp_extra}\n",
            node_addr(0, i)
        );
        for &k in routers {
            c += &format!(
                "[[bgp.peer]]\naddress = \"{}\"\nasn = {ROUTER_ASN}\nnext_hop6 = \"{}\"\n\n",
                router_addr(k, i),
                node_addr6(k, i)
            );
        }
        c
    }
}

/// Router k's BGP identifier.
pub fn router_id(k: usize) -> String {
    format!("10.255.255.{}", k + 1)
}

pub fn router_addr(k: usize, i: usize) -> String {
    format!("10.{k}.{i}.1")
}

pub fn node_addr(k: usize, i: usize) -> String {
    format!("10.{k}.{i}.2")
}

pub fn router_addr6(k: usize, i: usize) -> String {
    format!("2001:db8:{k}:{i}::1")
}

pub fn node_addr6(k: usize, i: usize) -> String {
    format!("2001:db8:{k}:{i}::2")
}

/// FRR config: AS 65000, eBGP neighbors in AS 65001 active for IPv4 and IPv6 unicast, ECMP
/// over up to 16 paths, connect retry 1 s.
pub fn router_conf(router_id: &str, neighbors: &[String], timers: Option<(u16, u16)>) -> String {
    let neighbors: Vec<(&str, u32)> = neighbors.iter().map(|a| (a.as_str(), NODE_ASN)).collect();
    frr_bgp_conf(router_id, ROUTER_ASN, &neighbors, timers)
}

/// FRR config for a router in AS `asn` with the given (address, AS) neighbors, each active for
/// IPv4 and IPv6 unicast with connect retry 1 s; ECMP over up to 16 paths (iBGP paths too when
/// a neighbor is in `asn`). `timers`: (keepalive, hold) for every neighbor, else FRR's
/// datacenter defaults (3, 9).
pub fn frr_bgp_conf(
    router_id: &str,
    asn: u32,
    neighbors: &[(&str, u32)],
    timers: Option<(u16, u16)>,
) -> String {
    let mut c = format!(
        "frr defaults datacenter\n!\nrouter bgp {asn}\n bgp router-id {router_id}\n \
         no bgp ebgp-requires-policy\n bgp bestpath as-path multipath-relax\n"
    );
    for (addr, peer_asn) in neighbors {
        c += &format!(" neighbor {addr} remote-as {peer_asn}\n neighbor {addr} timers connect 1\n");
        if let Some((ka, hold)) = timers {
            c += &format!(" neighbor {addr} timers {ka} {hold}\n");
        }
    }
    let ibgp = neighbors.iter().any(|&(_, peer_asn)| peer_asn == asn);
    for af in ["ipv4", "ipv6"] {
        c += &format!(" address-family {af} unicast\n  maximum-paths 16\n");
        if ibgp {
            c += "  maximum-paths ibgp 16\n";
        }
        for (addr, _) in neighbors {
            c += &format!("  neighbor {addr} activate\n");
        }
        c += " exit-address-family\n";
    }
    c + "!\n"
}
