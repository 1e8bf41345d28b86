//! The embedded BGP speaker against real FRR 8 routers in network namespaces.
//!
//! Topology (per test; every name carries the test's pid, so tests run in parallel): a
//! [`support::lab::Lab`] of routers and nodes, most tests with one router and up to three nodes:
//!
//! ```text
//!   n1 (speaker, AS 65001) eth0 ── r0 eth1   10.0.1.0/24, 2001:db8:0:1::/64
//!   n2 (speaker, AS 65001) eth0 ── r0 eth2   10.0.2.0/24, 2001:db8:0:2::/64
//!   n3 (speaker, AS 65001) eth0 ── r0 eth3   10.0.3.0/24, 2001:db8:0:3::/64
//!                                  r0: FRR zebra + bgpd, AS 65000, ECMP (maximum-paths 16)
//! ```
//!
//! The speaker runs in-process: a thread enters the node's namespace (setns) and drives a
//! current-thread tokio runtime, so its sockets live there. Checks: RFC 4271 sessions come up,
//! host routes (RFC 4760 for IPv6) reach the router's kernel as ECMP routes, withdrawals,
//! Cease on shutdown (RFC 4486), recovery after the router's bgpd restarts, iBGP LOCAL_PREF,
//! eBGP AS_PATH prepends, RFC 1997 and RFC 8092 communities, inbound sessions and collisions
//! (RFC 4271 §6.8).

mod support;

use std::net::IpAddr;
use std::time::Duration;

use anycastd::bgp::{Limits, RouteAttrs, RouteSet, Speaker};
use anycastd::config::{Bgp, Families, Node, Peer};
use anycastd::status::{PeerState, PeerStatus};
use support::lab::{
    frr_bgp_conf, node_addr, node_addr6, router_addr, router_addr6, router_id, Lab, NODE_ASN,
    ROUTER_ASN,
};
use support::{kernel_next_hops, link, wait_for, Frr, Netns, NsRuntime};

const TIMEOUT: Duration = Duration::from_secs(40);
const VIP4: &str = "10.100.0.1";
const VIP6: &str = "2001:db8:100::1";

/// A speaker running inside a namespace.
struct NsSpeaker {
    // Dropped before the runtime it runs on.
    speaker: Option<Speaker>,
    rt: NsRuntime,
}

impl NsSpeaker {
    fn start(ns: &Netns, node: Node, bgp: Bgp) -> NsSpeaker {
        Self::start_with(ns, node, bgp, false)
    }

    /// `forwarding_preserved`: as the daemon says when the kernel still held its VIPs.
    fn start_with(ns: &Netns, node: Node, bgp: Bgp, forwarding_preserved: bool) -> NsSpeaker {
        let rt = NsRuntime::new(ns);
        let speaker = {
            // Tasks are spawned onto the namespace's runtime; they open their sockets there.
            let _guard = rt.handle().enter();
            Speaker::start_with(&node, &bgp, Limits::default(), forwarding_preserved)
        };
        NsSpeaker {
            speaker: Some(speaker),
            rt,
        }
    }

    fn speaker(&self) -> &Speaker {
        self.speaker.as_ref().expect("running")
    }

    fn set_routes(&self, routes: RouteSet) {
        self.speaker().set_routes(routes);
    }

    fn status(&self) -> Vec<PeerStatus> {
        self.speaker().peer_status()
    }

    fn wait_established(&self, peers: usize) -> Vec<PeerStatus> {
        wait_for(
            TIMEOUT,
            "all sessions established",
            || self.status(),
            |s| s.len() == peers && s.iter().all(|p| p.state == PeerState::Established),
        )
    }

    fn reconfigure(&self, node: &Node, bgp: &Bgp) {
        let _guard = self.rt.handle().enter();
        self.speaker().reconfigure(node, bgp);
    }

    fn shutdown(mut self) {
        let speaker = self.speaker.take().expect("running");
        self.rt.run(
            Duration::from_secs(10),
            async move { speaker.shutdown().await },
        );
    }
}

fn node(router_id: &str, asn: u32) -> Node {
    Node {
        router_id: router_id.parse().unwrap(),
        asn,
    }
}

/// A peer with a 9 s hold time that offers both families (without RFC 8950).
fn peer(address: &str, asn: u32) -> Peer {
    Peer {
        hold_time: 9,
        families: Families::BOTH,
        extended_next_hop: false,
        ..Peer::new(address.parse().unwrap(), asn)
    }
}

fn bgp(peers: Vec<Peer>) -> Bgp {
    Bgp {
        hold_time: 9,
        connect_retry: Duration::from_secs(1),
        ..Bgp::new(peers)
    }
}

fn routes(vips: &[&str]) -> RouteSet {
    vips.iter()
        .map(|v| (v.parse::<IpAddr>().unwrap(), RouteAttrs::default()))
        .collect()
}

/// Speaker on node i of `lab`: AS 65001, peering with router 0 over IPv4, IPv6 next hop set.
fn speaker(lab: &Lab, i: usize) -> NsSpeaker {
    speaker_with(lab, i, false)
}

/// A speaker restarted on a node whose kernel kept its VIPs (Graceful Restart F bit).
fn restarted_speaker(lab: &Lab, i: usize) -> NsSpeaker {
    speaker_with(lab, i, true)
}

fn speaker_with(lab: &Lab, i: usize, forwarding_preserved: bool) -> NsSpeaker {
    let mut p = peer(&router_addr(0, i), ROUTER_ASN);
    p.next_hop6 = Some(node_addr6(0, i).parse().unwrap());
    NsSpeaker::start_with(
        lab.node(i),
        node(&node_addr(0, i), NODE_ASN),
        bgp(vec![p]),
        forwarding_preserved,
    )
}

fn wait_next_hops(ns: &Netns, dst: &str, expected: &[&str]) {
    let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    expected.sort();
    wait_for(
        TIMEOUT,
        &format!("kernel route {dst} via {expected:?}"),
        || kernel_next_hops(ns, dst),
        |hops| *hops == expected,
    );
}

#[test]
fn three_speakers_make_one_ecmp_route_and_a_shutdown_removes_one_next_hop() {
    support::init_tracing();
    let lab = Lab::new(1, 3);
    let _frr = lab.start_router(0, None);
    let speakers: Vec<NsSpeaker> = (1..=3).map(|i| speaker(&lab, i)).collect();
    for s in &speakers {
        s.set_routes(routes(&[VIP4, VIP6]));
    }
    wait_next_hops(lab.router(0), VIP4, &["10.0.1.2", "10.0.2.2", "10.0.3.2"]);
    wait_next_hops(
        lab.router(0),
        VIP6,
        &[&node_addr6(0, 1), &node_addr6(0, 2), &node_addr6(0, 3)],
    );
    let st = speakers[0].wait_established(1);
    assert_eq!(st[0].routes_sent, 2, "{st:?}");
    assert_eq!(st[0].hold_time, 9);
    assert!(st[0].updates_sent >= 2);

    let mut speakers = speakers;
    let third = speakers.pop().unwrap();
    third.shutdown();
    wait_next_hops(lab.router(0), VIP4, &["10.0.1.2", "10.0.2.2"]);
    wait_next_hops(lab.router(0), VIP6, &[&node_addr6(0, 1), &node_addr6(0, 2)]);
    // The router saw a Cease/Administrative Shutdown, not a dropped connection.
    let v = _frr.vtysh_json("show bgp neighbors 10.0.3.2 json");
    let last = v["10.0.3.2"]["lastNotificationReason"].to_string();
    assert!(last.contains("Cease/Administrative Shutdown"), "{v}");
    for s in speakers {
        s.shutdown();
    }
}

#[test]
fn withdrawing_a_vip_removes_it_at_the_router_and_received_routes_are_counted() {
    support::init_tracing();
    let lab = Lab::new(1, 1);
    let frr = lab.start_router(0, None);
    // Give the router something to announce to us, so routes_received is exercised.
    frr.vtysh("configure terminal\nip route 192.0.2.0/24 blackhole\nrouter bgp 65000\naddress-family ipv4 unicast\nredistribute static\n");
    let s = speaker(&lab, 1);
    s.set_routes(routes(&[VIP4, "10.100.0.2"]));
    wait_next_hops(lab.router(0), VIP4, &["10.0.1.2"]);
    wait_next_hops(lab.router(0), "10.100.0.2", &["10.0.1.2"]);
    s.set_routes(routes(&["10.100.0.2"]));
    wait_next_hops(lab.router(0), VIP4, &[]);
    assert_eq!(kernel_next_hops(lab.router(0), "10.100.0.2"), ["10.0.1.2"]);
    let st = wait_for(
        TIMEOUT,
        "routes_received counts the router's prefix",
        || s.status(),
        |st| st.len() == 1 && st[0].routes_received >= 1 && st[0].routes_sent == 1,
    );
    assert_eq!(st[0].state, PeerState::Established);
    s.set_routes(RouteSet::new());
    wait_next_hops(lab.router(0), "10.100.0.2", &[]);
    s.shutdown();
}

#[test]
fn after_the_routers_bgpd_restarts_the_session_and_route_come_back() {
    support::init_tracing();
    let lab = Lab::new(1, 1);
    let frr = lab.start_router(0, None);
    let s = speaker(&lab, 1);
    s.set_routes(routes(&[VIP4]));
    wait_next_hops(lab.router(0), VIP4, &["10.0.1.2"]);

    frr.kill_bgpd();
    wait_for(
        TIMEOUT,
        "speaker notices the lost session",
        || s.status(),
        |st| st[0].state != PeerState::Established,
    );
    frr.start_bgpd();
    let st = s.wait_established(1);
    assert_eq!(st[0].last_error, None, "cleared once established again");
    wait_next_hops(lab.router(0), VIP4, &["10.0.1.2"]);
    s.shutdown();
}

#[test]
fn ibgp_gets_local_pref_and_ebgp_gets_prepends_and_communities() {
    support::init_tracing();
    // One node, two routers: r0 in the node's own AS (iBGP), r1 in AS 65000 (eBGP).
    let lab = Lab::new(2, 1);
    let (r0, r1) = (lab.router(0), lab.router(1));
    let ibgp_conf = frr_bgp_conf(
        &router_id(0),
        NODE_ASN,
        &[(&node_addr(0, 1), NODE_ASN)],
        None,
    );
    let f0 = Frr::start(r0, &ibgp_conf);
    let f1 = lab.start_router(1, None);
    let s = NsSpeaker::start(
        lab.node(1),
        node("10.0.0.2", NODE_ASN),
        bgp(vec![
            peer(&router_addr(0, 1), NODE_ASN),
            peer(&router_addr(1, 1), ROUTER_ASN),
        ]),
    );
    // Community 65000:100, large community 65000:1:2, MED 10, LOCAL_PREF 200, 2 prepends.
    let attrs = RouteAttrs::example();
    s.set_routes(RouteSet::from([(VIP4.parse().unwrap(), attrs)]));
    wait_next_hops(r0, VIP4, &[&node_addr(0, 1)]);
    wait_next_hops(r1, VIP4, &[&node_addr(1, 1)]);

    let show = format!("show bgp ipv4 unicast {VIP4}/32 json");
    let ibgp = f0.vtysh_json(&show);
    let p = &ibgp["paths"][0];
    assert_eq!(p["locPrf"], 200, "{ibgp}");
    assert_eq!(p["aspath"]["length"], 0, "{ibgp}");
    assert_eq!(p["metric"], 10, "{ibgp}");

    let ebgp = f1.vtysh_json(&show);
    let p = &ebgp["paths"][0];
    assert_eq!(p["aspath"]["string"], "65001 65001 65001", "{ebgp}");
    assert_eq!(p["community"]["string"], "65000:100", "{ebgp}");
    assert_eq!(p["largeCommunity"]["string"], "65000:1:2", "{ebgp}");
    assert_eq!(p["metric"], 10, "{ebgp}");
    // LOCAL_PREF is not sent over eBGP: r1 shows its default for the path.
    assert_ne!(p["locPrf"], 200, "{ebgp}");
    s.shutdown();
}

#[test]
fn two_routers_see_the_route_over_inbound_passive_and_colliding_sessions() {
    support::init_tracing();
    // The node listens; r0's session may collide (both sides connect), r1's peer is passive
    // on our side, so only r1 can open it.
    let lab = Lab::new(2, 1);
    let (r0, r1) = (lab.router(0), lab.router(1));
    let _f0 = lab.start_router(0, None);
    let _f1 = lab.start_router(1, None);
    let mut passive = peer(&router_addr(1, 1), ROUTER_ASN);
    passive.passive = true;
    let mut cfg = bgp(vec![peer(&router_addr(0, 1), ROUTER_ASN), passive]);
    cfg.listen = Some("0.0.0.0:179".parse().unwrap());
    let s = NsSpeaker::start(lab.node(1), node("10.0.0.2", NODE_ASN), cfg.clone());
    s.set_routes(routes(&[VIP4]));
    wait_next_hops(r0, VIP4, &[&node_addr(0, 1)]);
    wait_next_hops(r1, VIP4, &[&node_addr(1, 1)]);
    s.wait_established(2);

    // Reconfigure: drop r0, keep r1 untouched (its session must not reset).
    let uptime_before = s.status()[1].uptime_seconds;
    let mut only_r1 = cfg.clone();
    only_r1.peers.remove(0);
    s.reconfigure(&node("10.0.0.2", NODE_ASN), &only_r1);
    wait_next_hops(r0, VIP4, &[]);
    let st = s.status();
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].address, router_addr(1, 1));
    assert_eq!(st[0].state, PeerState::Established);
    assert!(st[0].uptime_seconds >= uptime_before);
    assert_eq!(kernel_next_hops(r1, VIP4), [node_addr(1, 1)]);
    s.shutdown();
}

#[test]
fn route_refresh_from_the_router_resends_everything() {
    support::init_tracing();
    let lab = Lab::new(1, 1);
    let frr = lab.start_router(0, None);
    let s = speaker(&lab, 1);
    s.set_routes(routes(&[VIP4, VIP6]));
    wait_next_hops(lab.router(0), VIP4, &["10.0.1.2"]);
    let before = s.wait_established(1)[0].updates_sent;
    // Soft inbound reset makes FRR send ROUTE-REFRESH (RFC 2918) for each family.
    frr.vtysh("clear bgp ipv4 unicast 10.0.1.2 soft in");
    frr.vtysh("clear bgp ipv6 unicast 10.0.1.2 soft in");
    wait_for(
        TIMEOUT,
        "the speaker resent its routes",
        || s.status()[0].updates_sent,
        |n| *n >= before + 2,
    );
    assert_eq!(s.status()[0].state, PeerState::Established);
    assert_eq!(kernel_next_hops(lab.router(0), VIP4), ["10.0.1.2"]);
    s.shutdown();
}

#[test]
fn a_frozen_router_trips_the_hold_timer_and_the_session_recovers() {
    support::init_tracing();
    let lab = Lab::new(1, 1);
    let frr = lab.start_router(0, None);
    let s = speaker(&lab, 1);
    s.set_routes(routes(&[VIP4]));
    s.wait_established(1);
    frr.pause_bgpd();
    let st = wait_for(
        Duration::from_secs(20),
        "hold timer expiry (9 s)",
        || s.status(),
        |st| st[0].state != PeerState::Established,
    );
    frr.resume_bgpd();
    assert_eq!(
        st[0].last_error.as_deref(),
        Some("hold timer expired"),
        "{st:?}"
    );
    s.wait_established(1);
    wait_next_hops(lab.router(0), VIP4, &["10.0.1.2"]);
    s.shutdown();
}

#[test]
fn an_ipv6_session_carries_both_families() {
    support::init_tracing();
    let lab = Lab::new(1, 1);
    let _frr = Frr::start(
        lab.router(0),
        &frr_bgp_conf(
            &router_id(0),
            ROUTER_ASN,
            &[(&node_addr6(0, 1), NODE_ASN)],
            None,
        ),
    );
    // IPv6 next hop: the session's own address; IPv4 next hop: the override.
    let mut p = peer(&router_addr6(0, 1), ROUTER_ASN);
    p.next_hop = Some("10.0.1.2".parse().unwrap());
    let s = NsSpeaker::start(lab.node(1), node("10.0.1.2", 65001), bgp(vec![p]));
    s.set_routes(routes(&[VIP4, VIP6]));
    wait_next_hops(lab.router(0), VIP6, &[&node_addr6(0, 1)]);
    wait_next_hops(lab.router(0), VIP4, &["10.0.1.2"]);
    assert_eq!(s.status()[0].routes_sent, 2);
    s.shutdown();
}

#[test]
fn ten_thousand_vips_reach_the_router_and_leave_it_again() {
    support::init_tracing();
    let lab = Lab::new(1, 1);
    let frr = lab.start_router(0, None);
    let s = speaker(&lab, 1);
    s.wait_established(1);
    let many: RouteSet = (0..10_000u32)
        .map(|i| IpAddr::V4((0x0a64_0000 + i).into()))
        .chain(
            (0..2_000u128)
                .map(|i| IpAddr::V6((0x2001_0db8_0100_0000_0000_0000_0000_0000u128 + i).into())),
        )
        .map(|a| (a, RouteAttrs::default()))
        .collect();
    let started = std::time::Instant::now();
    s.set_routes(many);
    wait_for(
        Duration::from_secs(60),
        "FRR accepted 10000 IPv4 and 2000 IPv6 prefixes",
        || {
            (
                frr.prefixes_received("ipv4", "10.0.1.2"),
                frr.prefixes_received("ipv6", "10.0.1.2"),
            )
        },
        |n| *n == (Some(10_000), Some(2_000)),
    );
    let st = s.status();
    assert_eq!(st[0].routes_sent, 12_000);
    // 13 IPv4 + 9 IPv6 UPDATEs (dense packing) + 2 End-of-RIB.
    assert!(st[0].updates_sent <= 13 + 9 + 2, "{st:?}");
    eprintln!(
        "12000 prefixes accepted by FRR after {:?}",
        started.elapsed()
    );
    s.set_routes(RouteSet::new());
    wait_for(
        Duration::from_secs(60),
        "FRR saw every prefix withdrawn",
        || {
            (
                frr.prefixes_received("ipv4", "10.0.1.2"),
                frr.prefixes_received("ipv6", "10.0.1.2"),
            )
        },
        |n| *n == (Some(0), Some(0)),
    );
    s.shutdown();
}

/// Not FRR: two of our own speakers, each listening and each connecting to the other, so both
/// connections are opened at once and RFC 4271 §6.8 collision resolution has to pick one.
/// Each receives the other's VIP, which exercises the receive path (routes_received).
#[test]
fn two_speakers_connecting_to_each_other_settle_on_one_session() {
    support::init_tracing();
    let a = Netns::new("n");
    let b = Netns::new("n");
    link(&a, "eth0", &b, "eth0");
    a.addr("eth0", "10.0.1.1/24");
    b.addr("eth0", "10.0.1.2/24");
    // Listeners first, without peers; then both peers are configured at the same moment, so
    // each side's SYN crosses the other's.
    let mut idle = bgp(vec![]);
    idle.listen = Some("0.0.0.0:179".parse().unwrap());
    let (node_a, node_b) = (node("10.0.1.1", 65001), node("10.0.1.2", 65002));
    let sa = NsSpeaker::start(&a, node_a.clone(), idle.clone());
    let sb = NsSpeaker::start(&b, node_b.clone(), idle.clone());
    for ns in [&a, &b] {
        support::wait_until(TIMEOUT, "listener bound", || {
            let out = ns.command("ss").args(["-Hltn", "sport = :179"]).output();
            out.is_ok_and(|o| !o.stdout.is_empty())
        });
    }
    let (cfg_a, cfg_b) = (
        Bgp {
            peers: vec![peer("10.0.1.2", 65002)],
            ..idle.clone()
        },
        Bgp {
            peers: vec![peer("10.0.1.1", 65001)],
            ..idle
        },
    );
    sa.reconfigure(&node_a, &cfg_a);
    sb.reconfigure(&node_b, &cfg_b);
    sa.set_routes(routes(&["10.100.0.1"]));
    sb.set_routes(routes(&["10.100.0.2", "10.100.0.3"]));
    for (s, n) in [(&sa, 2), (&sb, 1)] {
        wait_for(
            TIMEOUT,
            "established with the other's routes counted",
            || s.status(),
            |st| st[0].state == PeerState::Established && st[0].routes_received == n,
        );
    }
    // The surviving session stays up (no flapping between the two connections).
    wait_for(
        TIMEOUT,
        "three seconds of uninterrupted session",
        || (sa.status()[0].clone(), sb.status()[0].clone()),
        |(x, y)| {
            assert_eq!(x.state, PeerState::Established, "{x:?}");
            assert_eq!(y.state, PeerState::Established, "{y:?}");
            x.uptime_seconds >= 3 && y.uptime_seconds >= 3
        },
    );
    sb.set_routes(routes(&["10.100.0.3"]));
    wait_for(
        TIMEOUT,
        "a withdrawal is counted",
        || sa.status()[0].routes_received,
        |n| *n == 1,
    );
    sa.shutdown();
    wait_for(
        TIMEOUT,
        "the other side saw the Cease",
        || sb.status()[0].last_error.clone(),
        |e| e.as_deref() == Some("received NOTIFICATION Cease/Administrative Shutdown"),
    );
    sb.shutdown();
}

#[test]
fn ttl_security_gets_through_a_router_that_enforces_gtsm() {
    support::init_tracing();
    let lab = Lab::new(1, 1);
    let conf = with_neighbor_lines(
        lab.router_config(0, None),
        "10.0.1.2",
        &["ttl-security hops 1"],
    );
    let _frr = Frr::start(lab.router(0), &conf);
    let mut p = peer("10.0.1.1", 65000);
    p.ttl_security = true;
    let s = NsSpeaker::start(lab.node(1), node("10.0.1.2", 65001), bgp(vec![p]));
    s.set_routes(routes(&[VIP4]));
    wait_next_hops(lab.router(0), VIP4, &["10.0.1.2"]);
    s.shutdown();
}

impl NsSpeaker {
    /// Ends the speaker the way SIGKILL would: the runtime (and every socket on it) goes
    /// away, the kernel closes the TCP connections, and no NOTIFICATION is sent.
    fn crash(mut self) {
        let speaker = self.speaker.take().expect("running");
        let NsSpeaker { rt, .. } = self;
        drop(rt);
        drop(speaker);
    }
}

/// A router config ([`frr_bgp_conf`]) with extra lines for one neighbor.
fn with_neighbor_lines(conf: String, addr: &str, lines: &[&str]) -> String {
    let anchor = format!(" neighbor {addr} timers connect 1\n");
    let mut extra = anchor.clone();
    for l in lines {
        extra += &format!(" neighbor {addr} {l}\n");
    }
    conf.replace(&anchor, &extra)
}

/// How long a session must stay down to count as "does not come up": FRR retries its
/// connect every second and we retry with backoff from 1 s, so several attempts each way.
const STAYS_DOWN: Duration = Duration::from_secs(6);

fn never_established(
    what: &str,
    for_: Duration,
    mut probe: impl FnMut() -> (PeerState, Option<String>),
) {
    let deadline = std::time::Instant::now() + for_;
    while std::time::Instant::now() < deadline {
        let (state, frr_state) = probe();
        assert_ne!(state, PeerState::Established, "{what}");
        assert_ne!(frr_state.as_deref(), Some("Established"), "{what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn tcp_md5_with_the_routers_password_comes_up_both_ways_and_a_wrong_one_stays_down() {
    support::init_tracing();
    // n1 connects with the right password; n2 is passive and listens on [::]:179 (the router
    // connects, our listening socket must verify its signed SYN); n3 connects with a wrong
    // password.
    let lab = Lab::new(1, 3);
    let mut conf = lab.router_config(0, None);
    for i in 1..=3 {
        conf = with_neighbor_lines(conf, &format!("10.0.{i}.2"), &["password s3cret-pw"]);
    }
    let frr = Frr::start(lab.router(0), &conf);
    let start = |i: usize, password: &str, passive: bool| {
        let mut p = peer(&format!("10.0.{i}.1"), 65000);
        p.password = Some(password.to_string());
        p.passive = passive;
        let mut cfg = bgp(vec![p]);
        if passive {
            // An IPv6 socket: the IPv4 router's key is installed as an IPv4-mapped address.
            cfg.listen = Some("[::]:179".parse().unwrap());
        }
        let s = NsSpeaker::start(lab.node(i), node(&format!("10.0.{i}.2"), 65001), cfg);
        s.set_routes(routes(&[VIP4]));
        s
    };
    let s1 = start(1, "s3cret-pw", false);
    let s2 = start(2, "s3cret-pw", true);
    let s3 = start(3, "wrong-pw", false);
    wait_next_hops(lab.router(0), VIP4, &["10.0.1.2", "10.0.2.2"]);
    s1.wait_established(1);
    s2.wait_established(1);
    never_established("a wrong MD5 password", STAYS_DOWN, || {
        (s3.status()[0].state, frr.neighbor_state("10.0.3.2"))
    });
    assert_eq!(
        kernel_next_hops(lab.router(0), VIP4),
        ["10.0.1.2", "10.0.2.2"]
    );
    // The kernel, not BGP, refused it: the router never saw a single message from n3.
    let v = frr.vtysh_json("show bgp neighbors 10.0.3.2 json");
    assert_eq!(v["10.0.3.2"]["messageStats"]["opensRecv"], 0, "{v}");
    for s in [s1, s2, s3] {
        s.shutdown();
    }
}

#[test]
fn gtsm_drops_a_router_two_hops_away_and_accepts_it_without_ttl_security() {
    support::init_tracing();
    // r ── mid ── n: the router is two hops away, so its packets reach n with TTL (hop limit)
    // 254 even when sent with 255 (ebgp-multihop 255). GTSM on n must make the kernel drop
    // them: IP_MINTTL for the IPv4 session, IPV6_MINHOPCOUNT for the IPv6 one.
    let r = Netns::new("r");
    let mid = Netns::new("m");
    let n = Netns::new("n");
    link(&r, "eth1", &mid, "eth0");
    link(&mid, "eth1", &n, "eth0");
    r.addr("eth1", "10.0.8.2/24");
    r.addr("eth1", "2001:db8:8::2/64");
    mid.addr("eth0", "10.0.8.1/24");
    mid.addr("eth0", "2001:db8:8::1/64");
    mid.addr("eth1", "10.0.9.1/24");
    mid.addr("eth1", "2001:db8:9::1/64");
    n.addr("eth0", "10.0.9.2/24");
    n.addr("eth0", "2001:db8:9::2/64");
    r.ip(&["route", "add", "10.0.9.0/24", "via", "10.0.8.1"]);
    r.ip(&[
        "-6",
        "route",
        "add",
        "2001:db8:9::/64",
        "via",
        "2001:db8:8::1",
    ]);
    n.ip(&["route", "add", "default", "via", "10.0.9.1"]);
    n.ip(&["-6", "route", "add", "default", "via", "2001:db8:9::1"]);
    for key in ["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"] {
        support::run("ip", &["netns", "exec", mid.name(), "sysctl", "-qw", key]);
    }
    let mut conf = frr_bgp_conf(
        "10.0.8.2",
        ROUTER_ASN,
        &[("10.0.9.2", NODE_ASN), ("2001:db8:9::2", NODE_ASN)],
        None,
    );
    for a in ["10.0.9.2", "2001:db8:9::2"] {
        conf = with_neighbor_lines(conf, a, &["ebgp-multihop 255"]);
    }
    let frr = Frr::start(&r, &conf);
    let mut p4 = peer("10.0.8.2", 65000);
    let mut p6 = peer("2001:db8:8::2", 65000);
    p4.ttl_security = true;
    p6.ttl_security = true;
    let (nd, mut cfg) = (node("10.0.9.2", 65001), bgp(vec![p4, p6]));
    let s = NsSpeaker::start(&n, nd.clone(), cfg.clone());
    s.set_routes(routes(&[VIP4]));
    never_established(
        "GTSM against a router two hops away (IPv4)",
        STAYS_DOWN,
        || {
            let st = s.status();
            let up = st.iter().find(|p| p.state == PeerState::Established);
            let frr4 = frr.neighbor_state("10.0.9.2");
            let frr6 = frr.neighbor_state("2001:db8:9::2");
            let frr_up = [frr4, frr6]
                .into_iter()
                .flatten()
                .find(|x| x == "Established");
            (up.map_or(PeerState::Idle, |p| p.state), frr_up)
        },
    );
    // Same paths, GTSM off: both sessions come up, so it was the TTL check that kept them
    // down.
    for p in &mut cfg.peers {
        p.ttl_security = false;
    }
    s.reconfigure(&nd, &cfg);
    s.wait_established(2);
    for a in ["10.0.9.2", "2001:db8:9::2"] {
        wait_for(
            TIMEOUT,
            "the router has both sessions up",
            || frr.neighbor_state(a),
            |st| st.as_deref() == Some("Established"),
        );
    }
    wait_for(
        TIMEOUT,
        "the router accepted the VIP",
        || frr.prefixes_received("ipv4", "10.0.9.2"),
        |n| *n == Some(1),
    );
    s.shutdown();
}

/// Whether the router's best path for `prefix` is marked stale (graceful restart).
fn stale(frr: &Frr, prefix: &str) -> Option<bool> {
    let v = frr.vtysh_json(&format!("show bgp ipv4 unicast {prefix} json"));
    let p = v.get("paths")?.get(0)?;
    Some(p.get("stale").and_then(|s| s.as_bool()).unwrap_or(false))
}

#[test]
fn graceful_restart_keeps_the_route_through_a_crash_and_a_cease_still_withdraws_at_once() {
    support::init_tracing();
    let lab = Lab::new(1, 1);
    let conf = lab.router_config(0, None).replace(
        " no bgp ebgp-requires-policy\n",
        " no bgp ebgp-requires-policy\n bgp graceful-restart\n",
    );
    let frr = Frr::start(lab.router(0), &conf);
    let first = speaker(&lab, 1);
    first.set_routes(routes(&[VIP4]));
    wait_next_hops(lab.router(0), VIP4, &["10.0.1.2"]);
    first.wait_established(1);
    let v = frr.vtysh_json("show bgp neighbors 10.0.1.2 json");
    assert_eq!(
        v["10.0.1.2"]["gracefulRestartInfo"]["remoteGrMode"], "Restart",
        "the router saw our Graceful Restart capability: {v}"
    );
    // A first start: nothing of ours was in the kernel, so no forwarding state is claimed.
    assert_eq!(
        v["10.0.1.2"]["gracefulRestartInfo"]["ipv4Unicast"]["fBit"], false,
        "F bit clear on a first start: {v}"
    );

    // Watch the router's kernel route continuously from here on.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let router = lab.router(0).name().to_string();
    let watcher = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut polls, mut gaps) = (0u32, Vec::new());
            let started = std::time::Instant::now();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let out = std::process::Command::new("ip")
                    .args(["-n", &router, "route", "show", "exact", VIP4])
                    .output()
                    .expect("ip route");
                if !String::from_utf8_lossy(&out.stdout).contains("via 10.0.1.2") {
                    gaps.push(started.elapsed());
                }
                polls += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            (polls, gaps)
        })
    };

    first.crash();
    wait_for(
        TIMEOUT,
        "the router notices the lost session and marks the route stale",
        || {
            (
                frr.neighbor_state("10.0.1.2"),
                stale(&frr, &format!("{VIP4}/32")),
            )
        },
        |(st, stale)| st.as_deref() != Some("Established") && *stale == Some(true),
    );
    // Well inside the 120 s restart time, a while without us: the route stays.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(kernel_next_hops(lab.router(0), VIP4), ["10.0.1.2"]);

    let second = restarted_speaker(&lab, 1);
    second.set_routes(routes(&[VIP4]));
    second.wait_established(1);
    let v = frr.vtysh_json("show bgp neighbors 10.0.1.2 json");
    assert_eq!(
        v["10.0.1.2"]["gracefulRestartInfo"]["ipv4Unicast"]["fBit"], true,
        "F bit set by a speaker whose node kept its VIPs: {v}"
    );
    wait_for(
        TIMEOUT,
        "the restarted speaker's End-of-RIB refreshes the route",
        || stale(&frr, &format!("{VIP4}/32")),
        |s| *s == Some(false),
    );
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (polls, gaps) = watcher.join().unwrap();
    eprintln!("kernel route polled {polls} times across crash and restart; gaps: {gaps:?}");
    assert!(polls > 50, "the watcher ran");
    assert!(gaps.is_empty(), "the kernel route disappeared at {gaps:?}");

    // A Cease is not a crash: the route goes at once, not after the restart time.
    let t = std::time::Instant::now();
    second.shutdown();
    wait_for(
        Duration::from_secs(10),
        "the Cease withdraws the route",
        || kernel_next_hops(lab.router(0), VIP4),
        |h| h.is_empty(),
    );
    eprintln!("route gone {:?} after the Cease", t.elapsed());
}
