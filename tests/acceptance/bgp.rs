//! BGP towards real routers: ECMP, route attributes, address families, session options
//! (MD5, GTSM, 4-byte ASN), router restarts and refreshes, link flaps.

use super::*;

/// Scenario 1: three nodes announce an IPv4 and an IPv6 VIP (the latter over the IPv4 session,
/// next hop from `next_hop6`); the router installs one ECMP route per VIP with three next hops.
#[test]
fn three_nodes_with_the_same_vips_are_all_ecmp_next_hops_at_the_router() {
    let lab = Lab::new(1, 3);
    let frr = lab.start_router(0, None);
    let daemons: Vec<Daemon> = (1..=3)
        .map(|i| {
            let cfg = lab.node_config(i, "") + &vip(VIP4, "", None) + &vip(VIP6, "", None);
            Daemon::start(lab.node(i), &format!("node{i}"), &cfg)
        })
        .collect();
    let v4: Vec<String> = (1..=3).map(|i| node_addr(0, i)).collect();
    let v6: Vec<String> = (1..=3).map(|i| node_addr6(0, i)).collect();
    wait_next_hops(lab.router(0), VIP4, &v4);
    wait_next_hops(lab.router(0), VIP6, &v6);
    let text = lab.router(0).ip(&["route", "show", VIP4]);
    assert_eq!(text.matches("nexthop via").count(), 3, "{text}");
    let text6 = lab.router(0).ip(&["-6", "route", "show", VIP6]);
    assert_eq!(text6.matches("nexthop via").count(), 3, "{text6}");
    // The daemons' own view agrees: one established session, two routes sent.
    for d in &daemons {
        let st = wait_for(
            TIMEOUT,
            "status shows the session with 2 routes sent",
            || d.status(),
            |s| s["peers"][0]["state"] == "established" && s["peers"][0]["routes_sent"] == 2,
        );
        assert_eq!(st["vips"].as_array().map(Vec::len), Some(2), "{st}");
    }
    drop(frr);
}

/// Scenario 7: two nodes, each peering with two routers; both routers have the ECMP route.
/// One router's bgpd is killed and restarted: the sessions come back and the routes are
/// announced again, with no action on the daemons.
#[test]
fn a_restarted_router_learns_the_routes_again_and_the_other_routers_sessions_stay_up() {
    let lab = Lab::new(2, 2);
    let r0 = lab.start_router(0, None);
    let r1 = lab.start_router(1, None);
    let mut daemons: Vec<Daemon> = (1..=2)
        .map(|i| {
            Daemon::start(
                lab.node(i),
                &format!("node{i}"),
                &(lab.node_config(i, "") + &vip(VIP4, "", None)),
            )
        })
        .collect();
    for k in 0..2 {
        let nh: Vec<String> = (1..=2).map(|i| node_addr(k, i)).collect();
        wait_next_hops(lab.router(k), VIP4, &nh);
    }
    let r1_before: Vec<(u64, u64)> = (1..=2)
        .map(|i| session_identity(&r1, &node_addr(1, i)))
        .collect();

    r0.kill_bgpd();
    for d in &daemons {
        wait_for(
            TIMEOUT,
            "daemon notices r0's session is gone",
            || d.status(),
            |s| {
                s["peers"]
                    .as_array()
                    .and_then(|p| {
                        p.iter().find(|p| {
                            p["address"]
                                .as_str()
                                .is_some_and(|a| a.starts_with("10.0."))
                        })
                    })
                    .is_some_and(|p| p["state"] != "established")
            },
        );
    }
    r0.start_bgpd();
    let t0 = Instant::now();
    wait_for(
        TIMEOUT,
        "restarted r0 learns the route from both nodes again",
        || bgp_paths(&r0, &format!("{VIP4}/32")).len(),
        |n| *n == 2,
    );
    println!("r0 bgpd restarted → both paths back in {:?}", t0.elapsed());
    let nh: Vec<String> = (1..=2).map(|i| node_addr(0, i)).collect();
    wait_next_hops(lab.router(0), VIP4, &nh);
    let r1_after: Vec<(u64, u64)> = (1..=2)
        .map(|i| session_identity(&r1, &node_addr(1, i)))
        .collect();
    assert_eq!(r1_before, r1_after, "r1's sessions were untouched");
    for d in &mut daemons {
        assert!(d.exited().is_none(), "a daemon exited");
    }
}

/// Many VIPs: 150 IPv4 and 150 IPv6 host routes reach the router over one session, and a
/// drain withdraws every one of them (UPDATE packing, MP_REACH/MP_UNREACH across messages).
#[test]
fn three_hundred_vips_reach_the_router_over_one_session_and_a_drain_withdraws_them_all() {
    const N: usize = 150;
    let s = Scenario::one_router_one_node();
    let mut cfg = s.config("");
    for k in 0..N {
        cfg += &vip(&format!("10.100.{}.{}", k / 200, k % 200 + 1), "", None);
        cfg += &vip(&format!("2001:db8:100::{:x}", k + 1), "", None);
    }
    let d = s.start(&cfg);
    let (frr, n1) = (s.frr(), node_addr(0, 1));
    let counts = || {
        (
            frr.prefixes_received("ipv4", &n1),
            frr.prefixes_received("ipv6", &n1),
        )
    };
    let all = (Some(N as u64), Some(N as u64));
    wait_for(TIMEOUT, "all VIPs at the router", counts, |c| *c == all);
    let st = d.status();
    assert_eq!(st["peers"][0]["routes_sent"], 2 * N, "{}", st["peers"]);

    d.cli_ok(&["drain"]);
    wait_for(TIMEOUT, "every VIP withdrawn", counts, |c| {
        *c == (Some(0), Some(0))
    });
    d.cli_ok(&["undrain"]);
    wait_for(TIMEOUT, "all VIPs back", counts, |c| *c == all);
    // The BGP RIB is complete; zebra installs into the kernel a moment later.
    s.wait_announced(&format!("2001:db8:100::{N:x}"));
}

/// The VIP's route attributes from the config reach the routers: communities, large
/// communities, MED and AS_PATH prepends to an eBGP router; LOCAL_PREF to an iBGP router.
#[test]
fn communities_med_and_prepends_reach_an_ebgp_router_and_local_pref_an_ibgp_router() {
    let lab = Lab::new(2, 1);
    let ebgp = lab.start_router(0, None);
    let ibgp_conf = one_neighbor_conf(1, 65001, &node_addr(1, 1), 65001, "");
    let ibgp = Frr::start(lab.router(1), &ibgp_conf);
    let cfg = lab.node_config_with_routers(1, "", &[0])
        + &format!(
            "[[bgp.peer]]\naddress = \"{}\"\nasn = 65001\n\n",
            router_addr(1, 1)
        )
        + &vip(
            VIP4,
            "communities = [\"65000:100\", \"65000:200\"]\nlarge_communities = [\"65000:1:2\"]\n\
             med = 10\nlocal_pref = 200\nas_path_prepend = 2",
            None,
        );
    let _d = Daemon::start(lab.node(1), "node1", &cfg);
    wait_next_hops(lab.router(0), VIP4, &[node_addr(0, 1)]);
    let show = format!("show bgp ipv4 unicast {VIP4}/32 json");
    let ibgp_path = wait_for(
        TIMEOUT,
        "the iBGP router has the route",
        || ibgp.vtysh_json(&show)["paths"][0].clone(),
        |p| !p.is_null(),
    );
    assert_eq!(ibgp_path["locPrf"], 200, "{ibgp_path}");
    assert_eq!(ibgp_path["aspath"]["length"], 0, "{ibgp_path}");
    assert_eq!(ibgp_path["metric"], 10, "{ibgp_path}");

    let p = ebgp.vtysh_json(&show)["paths"][0].clone();
    assert_eq!(p["aspath"]["string"], "65001 65001 65001", "{p}");
    assert_eq!(p["community"]["string"], "65000:100 65000:200", "{p}");
    assert_eq!(p["largeCommunity"]["string"], "65000:1:2", "{p}");
    assert_eq!(p["metric"], 10, "{p}");
    assert_ne!(p["locPrf"], 200, "LOCAL_PREF sent over eBGP: {p}");
}

/// An IPv6 session carries the IPv6 VIP (next hop: the session's address) and the IPv4 VIP
/// (next hop from `next_hop`).
#[test]
fn an_ipv6_session_carries_the_ipv6_vip_and_the_ipv4_vip_with_its_configured_next_hop() {
    let (r6, n6) = ("2001:db8:0:1::1", node_addr6(0, 1));
    let families = format!(
        " address-family ipv4 unicast\n  neighbor {n6} activate\n exit-address-family\n \
         address-family ipv6 unicast\n  neighbor {n6} activate\n exit-address-family\n"
    );
    let s = Scenario::with_router_conf(&one_neighbor_conf(0, 65000, &n6, 65001, &families));
    let cfg = format!(
        "[node]\nrouter_id = \"10.0.1.2\"\nasn = 65001\n\n[bgp]\nhold_time = 9\nconnect_retry = 1\n\n\
         [[bgp.peer]]\naddress = \"{r6}\"\nasn = 65000\nnext_hop = \"{}\"\n\n",
        node_addr(0, 1)
    ) + &vip(VIP4, "", None)
        + &vip(VIP6, "", None);
    let d = s.start(&cfg);
    s.wait_announced(VIP6);
    s.wait_announced(VIP4);
    assert_eq!(s.frr().neighbor_state(&n6).as_deref(), Some("Established"));
    let st = d.status();
    assert_eq!(st["peers"][0]["address"], r6, "{st}");
    assert_eq!(st["peers"][0]["routes_sent"], 2, "{st}");
}

/// A router that requires `frr_neighbor_extra` for node 1, and the node configured with
/// `peer_extra`: the session must come up and carry the VIP.
fn session_with_options(frr_neighbor_extra: &str, peer_extra: &str) {
    let n1 = node_addr(0, 1);
    let extra = format!(" neighbor {n1} {frr_neighbor_extra}\n");
    let s = Scenario::with_router_conf(&one_neighbor_conf(0, 65000, &n1, 65001, &extra));
    let cfg = s
        .config("")
        .replace("next_hop6", &format!("{peer_extra}\nnext_hop6"))
        + &vip(VIP4, "", None);
    let d = s.start(&cfg);
    wait_for(
        Duration::from_secs(20),
        "session established with the VIP sent",
        || d.status()["peers"][0].clone(),
        |p| p["state"] == "established" && p["routes_sent"] == 1,
    );
    wait_for(
        Duration::from_secs(20),
        "the router installs the VIP",
        || s.hops(VIP4),
        |h| *h == [n1.as_str()],
    );
    assert_eq!(s.frr().neighbor_state(&n1).as_deref(), Some("Established"));
}

/// TCP MD5 signatures (RFC 2385): `password` against FRR's `neighbor … password`.
#[test]
fn a_session_with_a_tcp_md5_password_comes_up_with_a_router_that_requires_it() {
    session_with_options("password s3cret-md5", "password = \"s3cret-md5\"");
}

/// GTSM (RFC 5082): `ttl_security = true` against FRR's `neighbor … ttl-security hops 1`.
#[test]
fn a_session_with_ttl_security_comes_up_with_a_router_that_requires_ttl_255() {
    session_with_options("ttl-security hops 1", "ttl_security = true");
}

/// A 4-byte AS number (RFC 6793), written in asdot in the config.
#[test]
fn a_four_byte_asn_written_in_asdot_peers_and_is_the_routes_as_path() {
    let n1 = node_addr(0, 1);
    let s = Scenario::with_router_conf(&one_neighbor_conf(0, 4200000000, &n1, 4200000001, ""));
    // 4200000001 = 64086.59905 in asdot.
    let cfg = s
        .config("")
        .replace("asn = 65001", "asn = \"64086.59905\"")
        .replace("asn = 65000", "asn = 4200000000")
        + &vip(VIP4, "", None);
    let d = s.start(&cfg);
    s.wait_announced(VIP4);
    let p = s
        .frr()
        .vtysh_json(&format!("show bgp ipv4 unicast {VIP4}/32 json"))["paths"][0]
        .clone();
    assert_eq!(p["aspath"]["string"], "4200000001", "{p}");
    assert_eq!(d.status()["node"]["asn"], 4200000001u64);
}

/// GTSM's receive side (RFC 5082 §3): with `ttl_security = true`, a directly connected peer
/// whose packets arrive with a TTL below 255 (FRR's eBGP default sends TTL 1) is not accepted.
/// Watched over several connect-retry and keepalive cycles.
#[test]
fn daemon_ttl_security_refuses_a_peer_that_does_not_send_ttl_255() {
    let s = Scenario::one_router_one_node();
    let cfg = s
        .config("")
        .replace("next_hop6", "ttl_security = true\nnext_hop6")
        + &vip(VIP4, "", None);
    let d = s.start(&cfg);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(6) {
        let st = d.status();
        assert_ne!(
            st["peers"][0]["state"], "established",
            "session accepted from a peer sending TTL < 255: {st}"
        );
        assert!(
            s.hops(VIP4).is_empty(),
            "route announced over a session GTSM should refuse"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The router asks for our routes again (ROUTE-REFRESH, `clear bgp … soft in`) and shuts the
/// neighbor down administratively and back up: the session and the route recover each time.
#[test]
fn daemon_route_refresh_and_router_side_neighbor_shutdown() {
    let s = Scenario::one_router_one_node();
    let d = s.start(&(s.config("") + &vip(VIP4, "", None)));
    let (frr, n1) = (s.frr(), node_addr(0, 1));
    s.wait_announced(VIP4);
    let updates = |d: &Daemon| d.status()["peers"][0]["updates_sent"].as_u64().unwrap_or(0);
    let before = wait_for(TIMEOUT, "an update sent", || updates(&d), |n| *n >= 1);
    let established = session_identity(frr, &n1);

    frr.vtysh(&format!("clear bgp ipv4 unicast {n1} soft in"));
    wait_for(
        TIMEOUT,
        "routes resent after ROUTE-REFRESH",
        || updates(&d),
        |n| *n > before,
    );
    assert_eq!(
        session_identity(frr, &n1),
        established,
        "the session was reset"
    );
    s.assert_announced(VIP4, "the route stays through ROUTE-REFRESH");

    frr.vtysh(&format!(
        "configure terminal\nrouter bgp 65000\nneighbor {n1} shutdown"
    ));
    s.wait_withdrawn(VIP4);
    wait_for(
        TIMEOUT,
        "the daemon sees the session down",
        || d.status()["peers"][0]["state"].clone(),
        |s| *s != "established",
    );
    frr.vtysh(&format!(
        "configure terminal\nrouter bgp 65000\nno neighbor {n1} shutdown"
    ));
    let t = time_until(
        TIMEOUT,
        "route back after the neighbor is re-enabled",
        || s.announced(VIP4),
    );
    println!("neighbor re-enabled on the router → route back in {t:?}");
}

/// Issue 7: a link flap longer than the hold time kills the session on both sides; when the
/// link comes back the daemon reconnects and re-announces on its own.
#[test]
fn daemon_recovers_from_a_link_flap_on_its_own() {
    // The router proposes hold 3 s, so the session dies quickly while the link is down.
    let s = Scenario::with_router_conf(&Scenario::router_conf(Some((1, 3))));
    let d = s.start(&(s.config("") + &vip(VIP4, "", None)));
    s.wait_announced(VIP4);

    s.node().ip(&["link", "set", "eth0", "down"]);
    s.wait_withdrawn(VIP4);
    let down = wait_for(
        Duration::from_secs(15),
        "the daemon's session leaves established while the link is down",
        || d.status()["peers"][0]["state"].as_str().map(str::to_string),
        |s| s.as_deref().is_some_and(|s| s != "established"),
    );
    s.node().ip(&["link", "set", "eth0", "up"]);
    let t0 = Instant::now();
    s.wait_announced(VIP4);
    println!(
        "link flap: session was {down:?} while down; route back {:?} after link up",
        t0.elapsed()
    );
}
