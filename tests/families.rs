//! Address families as operators wire them, against real routers (FRR and BIRD) in network
//! namespaces, with the real `anycastd` binary; the routers' kernel tables are the verdict.
//!
//! ```text
//!   router (FRR or BIRD, AS 65000) eth1 ── eth0 node (anycastd, AS 65001, VIPs on lo)
//!      10.0.1.1/24  2001:db8:0:1::1/64         10.0.1.2/24  2001:db8:0:1::2/64
//!   (link-local test: fe80::1 ── fe80::2 only, no other address on the link)
//! ```
//!
//! - one IPv4 and one IPv6 session to the same router, one VIP of each family: each VIP goes
//!   over the session of its own family only (FRR neighbors per address; BIRD one
//!   `protocol bgp` per family with single-family channels);
//! - RFC 8950: an IPv4 VIP over an IPv6-only session, installed via the node's IPv6 address
//!   (FRR `capability extended-nexthop`, BIRD `extended next hop on`);
//! - IPv6 link-local peering (`address = "fe80::1%eth0"`) with FRR over a veth that has only
//!   link-local addresses, carrying the IPv6 VIP and (RFC 8950) the IPv4 VIP.

mod support;

use std::time::Duration;

use support::bird::Bird;
use support::daemon::Daemon;
use support::lab::{node_addr, node_addr6, router_addr, router_addr6, Lab};
use support::{run, wait_for, Frr, Netns};

const TIMEOUT: Duration = Duration::from_secs(40);
const VIP4: &str = "10.100.0.1";
const VIP6: &str = "2001:db8:100::1";

/// The node's `[node]` and `[bgp]` tables and the given peers, plus one plain VIP per
/// address on `lo`.
fn node_config(peers: &str, vips: &[&str]) -> String {
    let mut c = format!(
        "[node]\nrouter_id = \"{}\"\nasn = 65001\n\n[bgp]\nhold_time = 9\nconnect_retry = 1\n\n{peers}\n",
        node_addr(0, 1)
    );
    for v in vips {
        c += &format!("[[vip]]\naddress = \"{v}\"\ninterface = \"lo\"\n\n");
    }
    c
}

/// `(gateway, device)` of every next hop of the kernel route to `dst` in `ns`, also for an
/// IPv4 route via an IPv6 gateway (`via inet6 …`), sorted.
fn kernel_routes(ns: &Netns, dst: &str) -> Vec<(String, String)> {
    let family = if dst.contains(':') { "-6" } else { "-4" };
    let out = run(
        "ip",
        &["-n", ns.name(), family, "-j", "route", "show", "exact", dst],
    );
    let routes: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_default();
    let hop = |h: &serde_json::Value, dev: &str| {
        let gw = h
            .get("gateway")
            .or_else(|| h.get("via").and_then(|v| v.get("host")))
            .and_then(|g| g.as_str())?;
        let dev = h.get("dev").and_then(|d| d.as_str()).unwrap_or(dev);
        Some((gw.to_string(), dev.to_string()))
    };
    let mut hops = Vec::new();
    for r in routes.as_array().into_iter().flatten() {
        let dev = r.get("dev").and_then(|d| d.as_str()).unwrap_or("");
        match r.get("nexthops").and_then(|n| n.as_array()) {
            Some(nh) => hops.extend(nh.iter().filter_map(|h| hop(h, dev))),
            None => hops.extend(hop(r, dev)),
        }
    }
    hops.sort();
    hops
}

fn wait_route(ns: &Netns, dst: &str, expected: &[(&str, &str)]) {
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(g, d)| (g.to_string(), d.to_string()))
        .collect();
    wait_for(
        TIMEOUT,
        &format!("kernel route {dst} in {} via {expected:?}", ns.name()),
        || kernel_routes(ns, dst),
        |r| *r == expected,
    );
}

/// The daemon's `/status` peer entry for `address`, once it is established.
fn established_peer(d: &Daemon, address: &str) -> serde_json::Value {
    wait_for(
        TIMEOUT,
        &format!("peer {address} established"),
        || {
            d.status()["peers"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["address"] == address).cloned())
                .unwrap_or_default()
        },
        |p| p["state"] == "established",
    )
}

/// FRR with one neighbor per address, each active only in its own family (no IPv4 unicast by
/// default), as dual-stack routers are commonly configured.
fn frr_per_family_conf(n4: &str, n6: &str) -> String {
    format!(
        "frr defaults datacenter\n!\nrouter bgp 65000\n bgp router-id 10.255.255.1\n \
         no bgp default ipv4-unicast\n no bgp ebgp-requires-policy\n \
         neighbor {n4} remote-as 65001\n neighbor {n4} timers connect 1\n \
         neighbor {n6} remote-as 65001\n neighbor {n6} timers connect 1\n \
         address-family ipv4 unicast\n  neighbor {n4} activate\n exit-address-family\n \
         address-family ipv6 unicast\n  neighbor {n6} activate\n exit-address-family\n!\n"
    )
}

/// The two peers of the dual-stack design, nothing but addresses and ASNs.
fn dual_stack_peers() -> String {
    format!(
        "[[bgp.peer]]\naddress = \"{}\"\nasn = 65000\n\n[[bgp.peer]]\naddress = \"{}\"\nasn = 65000\n",
        router_addr(0, 1),
        router_addr6(0, 1)
    )
}

#[test]
fn dual_stack_with_one_frr_neighbor_per_family_carries_each_vip_over_its_own_session() {
    let lab = Lab::new(1, 1);
    let (n4, n6) = (node_addr(0, 1), node_addr6(0, 1));
    let frr = Frr::start(lab.router(0), &frr_per_family_conf(&n4, &n6));
    let config = node_config(&dual_stack_peers(), &[VIP4, VIP6]);
    let d = Daemon::start(lab.node(1), "node1", &config);
    // `check` accepts what a user writes for this design.
    let out = d.cli(&["check"]);
    assert!(out.status.success(), "{out:?}");

    wait_route(lab.router(0), VIP4, &[(&n4, "eth1")]);
    wait_route(lab.router(0), VIP6, &[(&n6, "eth1")]);
    let p4 = established_peer(&d, &router_addr(0, 1));
    let p6 = established_peer(&d, &router_addr6(0, 1));
    assert_eq!(p4["families"], serde_json::json!(["ipv4"]), "{p4}");
    assert_eq!(p6["families"], serde_json::json!(["ipv6"]), "{p6}");
    assert_eq!(
        (p4["routes_sent"].as_u64(), p6["routes_sent"].as_u64()),
        (Some(1), Some(1))
    );
    // Each neighbor negotiated only its own family, and FRR got one route from each.
    assert_eq!(frr.prefixes_received("ipv4", &n4), Some(1));
    assert_eq!(frr.prefixes_received("ipv6", &n6), Some(1));
    assert_eq!(frr.prefixes_received("ipv6", &n4), None);
    assert_eq!(frr.prefixes_received("ipv4", &n6), None);
    let table = d.cli_ok(&["status"]);
    assert!(table.contains("ipv4") && table.contains("ipv6"), "{table}");
}

/// BIRD config: a device protocol (next hops on the link resolve), kernel protocols that
/// install everything BIRD learns, and the given `protocol bgp` blocks.
fn bird_conf(bgp: &str) -> String {
    format!(
        "router id 10.255.255.1;\nprotocol device {{ }}\n\
         protocol kernel {{ ipv4 {{ import none; export all; }}; }}\n\
         protocol kernel {{ ipv6 {{ import none; export all; }}; }}\n{bgp}"
    )
}

#[test]
fn dual_stack_with_bird_single_family_sessions_carries_each_vip_over_its_own_session() {
    let lab = Lab::new(1, 1);
    let (n4, n6) = (node_addr(0, 1), node_addr6(0, 1));
    let bird = Bird::start(
        lab.router(0),
        &bird_conf(&format!(
            "protocol bgp node4 {{ local as 65000; neighbor {n4} as 65001; connect retry time 1;\n\
               ipv4 {{ import all; export none; }}; }}\n\
             protocol bgp node6 {{ local as 65000; neighbor {n6} as 65001; connect retry time 1;\n\
               ipv6 {{ import all; export none; }}; }}\n"
        )),
    );
    let d = Daemon::start(
        lab.node(1),
        "node1",
        &node_config(&dual_stack_peers(), &[VIP4, VIP6]),
    );
    wait_route(lab.router(0), VIP4, &[(&n4, "eth1")]);
    wait_route(lab.router(0), VIP6, &[(&n6, "eth1")]);
    assert!(bird.established("node4") && bird.established("node6"));
    let p4 = established_peer(&d, &router_addr(0, 1));
    let p6 = established_peer(&d, &router_addr6(0, 1));
    assert_eq!(p4["families"], serde_json::json!(["ipv4"]), "{p4}");
    assert_eq!(p6["families"], serde_json::json!(["ipv6"]), "{p6}");
    assert_eq!(p6["extended_next_hop"], false, "{p6}");
}

/// The node peers over IPv6 only; its IPv4 VIP has no IPv4 next hop on that session.
fn ipv6_only_node(lab: &Lab) -> Daemon {
    let peers = format!(
        "[[bgp.peer]]\naddress = \"{}\"\nasn = 65000\n",
        router_addr6(0, 1)
    );
    Daemon::start(lab.node(1), "node1", &node_config(&peers, &[VIP4, VIP6]))
}

/// FRR config with one neighbor, the node's IPv6 address `n6`, active for IPv4 and IPv6
/// unicast; with `extended_nexthop`, the RFC 8950 capability too.
fn frr_ipv6_session(n6: &str, extended_nexthop: bool) -> String {
    let enh = if extended_nexthop {
        format!(" neighbor {n6} capability extended-nexthop\n")
    } else {
        String::new()
    };
    format!(
        "frr defaults datacenter\n!\nrouter bgp 65000\n bgp router-id 10.255.255.1\n \
         no bgp ebgp-requires-policy\n neighbor {n6} remote-as 65001\n \
         neighbor {n6} timers connect 1\n{enh} \
         address-family ipv4 unicast\n  neighbor {n6} activate\n exit-address-family\n \
         address-family ipv6 unicast\n  neighbor {n6} activate\n exit-address-family\n!\n"
    )
}

#[test]
fn rfc_8950_carries_an_ipv4_vip_over_an_ipv6_session_to_frr() {
    let lab = Lab::new(1, 1);
    let n6 = node_addr6(0, 1);
    let frr = Frr::start(lab.router(0), &frr_ipv6_session(&n6, true));
    let d = ipv6_only_node(&lab);
    // The IPv4 VIP is installed via the node's IPv6 address.
    wait_route(lab.router(0), VIP4, &[(&n6, "eth1")]);
    wait_route(lab.router(0), VIP6, &[(&n6, "eth1")]);
    let p = established_peer(&d, &router_addr6(0, 1));
    assert_eq!(p["families"], serde_json::json!(["ipv4", "ipv6"]), "{p}");
    assert_eq!(p["extended_next_hop"], true, "{p}");
    assert_eq!(frr.prefixes_received("ipv4", &n6), Some(1));
}

#[test]
fn without_extended_next_hop_at_the_router_the_ipv4_vip_stays_off_an_ipv6_session() {
    // FRR negotiates IPv4 unicast but not RFC 8950: we have no IPv4 next hop to give.
    let lab = Lab::new(1, 1);
    let n6 = node_addr6(0, 1);
    let frr = Frr::start(lab.router(0), &frr_ipv6_session(&n6, false));
    let d = ipv6_only_node(&lab);
    wait_route(lab.router(0), VIP6, &[(&n6, "eth1")]);
    let p = established_peer(&d, &router_addr6(0, 1));
    assert_eq!(p["families"], serde_json::json!(["ipv6"]), "{p}");
    assert_eq!(p["extended_next_hop"], false, "{p}");
    assert_eq!(p["routes_sent"], 1, "{p}");
    assert_eq!(frr.prefixes_received("ipv4", &n6), Some(0));
    assert!(kernel_routes(lab.router(0), VIP4).is_empty());
}

#[test]
fn rfc_8950_carries_an_ipv4_vip_over_an_ipv6_session_to_bird() {
    let lab = Lab::new(1, 1);
    let n6 = node_addr6(0, 1);
    let bird = Bird::start(
        lab.router(0),
        &bird_conf(&format!(
            "protocol bgp node6 {{ local as 65000; neighbor {n6} as 65001; connect retry time 1;\n\
               ipv4 {{ import all; export none; extended next hop on; }};\n\
               ipv6 {{ import all; export none; }}; }}\n"
        )),
    );
    let d = ipv6_only_node(&lab);
    wait_route(lab.router(0), VIP6, &[(&n6, "eth1")]);
    wait_route(lab.router(0), VIP4, &[(&n6, "eth1")]);
    assert!(bird.established("node6"));
    let p = established_peer(&d, &router_addr6(0, 1));
    assert_eq!(p["families"], serde_json::json!(["ipv4", "ipv6"]), "{p}");
    assert_eq!(p["extended_next_hop"], true, "{p}");
}

/// A veth whose two ends have only the link-local addresses given (no automatic ones, no
/// duplicate address detection): `router` eth1 fe80::1, `node` eth0 fe80::2.
fn link_local_only(router: &Netns, node: &Netns) {
    run(
        "ip",
        &[
            "link",
            "add",
            "eth1",
            "netns",
            router.name(),
            "type",
            "veth",
            "peer",
            "eth0",
            "netns",
            node.name(),
        ],
    );
    for (ns, dev, addr) in [(router, "eth1", "fe80::1/64"), (node, "eth0", "fe80::2/64")] {
        ns.ip(&["link", "set", dev, "addrgenmode", "none"]);
        ns.ip(&["link", "set", dev, "up"]);
        ns.addr(dev, addr);
    }
}

#[test]
fn link_local_peering_with_frr_carries_both_families_over_fe80_addresses_only() {
    let (router, node) = (Netns::new("r"), Netns::new("n"));
    link_local_only(&router, &node);
    let conf = "frr defaults datacenter\n!\nrouter bgp 65000\n bgp router-id 10.255.255.1\n \
         no bgp ebgp-requires-policy\n neighbor fe80::2 remote-as 65001\n \
         neighbor fe80::2 interface eth1\n neighbor fe80::2 timers connect 1\n \
         neighbor fe80::2 capability extended-nexthop\n \
         address-family ipv4 unicast\n  neighbor fe80::2 activate\n exit-address-family\n \
         address-family ipv6 unicast\n  neighbor fe80::2 activate\n exit-address-family\n!\n";
    let _frr = Frr::start(&router, conf);
    let peers = "[[bgp.peer]]\naddress = \"fe80::1%eth0\"\nasn = 65000\n";
    let d = Daemon::start(&node, "node1", &node_config(peers, &[VIP4, VIP6]));
    let p = established_peer(&d, "fe80::1%eth0");
    assert_eq!(p["families"], serde_json::json!(["ipv4", "ipv6"]), "{p}");
    // Both VIPs reach the router's kernel via the node's link-local address on eth1.
    wait_route(&router, VIP6, &[("fe80::2", "eth1")]);
    wait_for(
        TIMEOUT,
        "the IPv4 VIP installed on eth1",
        || kernel_routes(&router, VIP4),
        |r| r.len() == 1 && r[0].1 == "eth1",
    );
}
