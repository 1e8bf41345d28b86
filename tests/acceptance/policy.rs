//! Issue 18: per-VIP `peers` and the failure policies, as the routers see them.

use super::*;

/// FRR's count of sessions established with `neighbor` since it started.
fn established_count(frr: &Frr, neighbor: &str) -> u64 {
    frr.vtysh_json(&format!("show bgp neighbors {neighbor} json"))[neighbor]
        ["connectionsEstablished"]
        .as_u64()
        .unwrap_or(0)
}

/// `peers = [...]` on a VIP: announced to the routers listed only. Moving the VIP to the other
/// router by a reload withdraws it from the first and announces it to the second, without
/// resetting either session; a peer's `vips = [...]` does the same from the peer's side.
#[test]
fn a_vip_with_peers_reaches_only_those_routers_and_a_reload_moves_it_without_a_reset() {
    let lab = Lab::new(2, 1);
    let r0 = lab.start_router(0, None);
    let r1 = lab.start_router(1, None);
    let to = |k: usize| format!("peers = [\"{}\"]", router_addr(k, 1));
    let base = lab.node_config(1, "");
    let cfg = base.clone() + &vip(VIP4, &to(0), None) + &vip(VIP4B, "", None);
    let d = Daemon::start(lab.node(1), "node1", &cfg);
    wait_next_hops(lab.router(0), VIP4, &[node_addr(0, 1)]);
    wait_next_hops(lab.router(1), VIP4B, &[node_addr(1, 1)]);
    wait_next_hops(lab.router(0), VIP4B, &[node_addr(0, 1)]);
    assert!(
        kernel_next_hops(lab.router(1), VIP4).is_empty(),
        "router 1 is not in the VIP's peers"
    );
    let sessions = (
        established_count(&r0, &node_addr(0, 1)),
        established_count(&r1, &node_addr(1, 1)),
    );
    assert_eq!(sessions, (1, 1));

    d.reload(&(base + &vip(VIP4, &to(1), None) + &vip(VIP4B, "", None)));
    wait_next_hops(lab.router(1), VIP4, &[node_addr(1, 1)]);
    wait_next_hops(lab.router(0), VIP4, NONE);
    assert_eq!(
        (
            established_count(&r0, &node_addr(0, 1)),
            established_count(&r1, &node_addr(1, 1)),
        ),
        sessions,
        "no session was reset"
    );
    for k in 0..2 {
        assert_eq!(kernel_next_hops(lab.router(k), VIP4B), [node_addr(k, 1)]);
    }

    // The other side of the choice: router 1's peer table lists the VIPs it gets.
    let router1 = format!("address = \"{}\"\n", router_addr(1, 1));
    let listed = lab
        .node_config(1, "")
        .replace(&router1, &format!("{router1}vips = [\"{VIP4B}\"]\n"));
    assert!(listed.contains("vips = "), "{listed}");
    d.reload(&(listed + &vip(VIP4, "", None) + &vip(VIP4B, "", None)));
    wait_next_hops(lab.router(0), VIP4, &[node_addr(0, 1)]);
    wait_next_hops(lab.router(1), VIP4, NONE);
    assert_eq!(kernel_next_hops(lab.router(1), VIP4B), [node_addr(1, 1)]);
    assert_eq!(
        (
            established_count(&r0, &node_addr(0, 1)),
            established_count(&r1, &node_addr(1, 1)),
        ),
        sessions,
        "a peer's vips list resets no session either"
    );
}

/// `last_resort`: a VIP whose check fails is announced degraded (prepended) instead of
/// withdrawn. The router prefers the healthy node (the degraded next hop leaves the ECMP set,
/// the route stays); when every node is degraded the route is still there, over all of them.
#[test]
fn a_last_resort_vip_is_kept_degraded_and_the_router_prefers_the_healthy_node() {
    let lab = Lab::new(1, 2);
    let frr = lab.start_router(0, None);
    let backends: Vec<Backend> = (1..=2).map(|i| Backend::start(lab.node(i), 8080)).collect();
    let policy = "last_resort = true\ndegrade_prepend = 3\ndegrade_communities = [\"65000:666\"]";
    let daemons: Vec<Daemon> = (1..=2)
        .map(|i| {
            let cfg = lab.node_config(i, "") + &vip(VIP4, policy, Some(&http_check(8080)));
            Daemon::start(lab.node(i), &format!("node{i}"), &cfg)
        })
        .collect();
    let both = [node_addr(0, 1), node_addr(0, 2)];
    wait_next_hops(lab.router(0), VIP4, &both);

    backends[0].set(Mode::Unhealthy);
    wait_next_hops(lab.router(0), VIP4, &[node_addr(0, 2)]);
    let show = format!("show bgp ipv4 unicast {VIP4}/32 json");
    let paths = frr.vtysh_json(&show)["paths"].clone();
    let degraded = paths
        .as_array()
        .and_then(|p| p.iter().find(|p| p["peer"]["peerId"] == node_addr(0, 1)))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        degraded["aspath"]["string"], "65001 65001 65001 65001",
        "the degraded path is still at the router, prepended: {paths}"
    );
    assert_eq!(degraded["community"]["string"], "65000:666", "{paths}");
    let st = daemons[0].status();
    let v = &st["vips"][0];
    assert_eq!(
        (v["announced"].clone(), v["degraded"].clone()),
        (true.into(), true.into()),
        "{v}"
    );
    assert!(
        v["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("degraded (last_resort:")),
        "{v}"
    );

    backends[1].set(Mode::Unhealthy);
    wait_for(
        TIMEOUT,
        "node2 degraded too",
        || daemons[1].status(),
        |s| s["vips"][0]["degraded"] == true,
    );
    wait_next_hops(lab.router(0), VIP4, &both);

    backends[0].set(Mode::Healthy);
    wait_next_hops(lab.router(0), VIP4, &[node_addr(0, 1)]);
}
