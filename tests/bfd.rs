//! BFD against real routers: FRR's `bfdd` (`neighbor X bfd`) and BIRD's `protocol bfd`
//! (`bfd on`), IPv4 and IPv6, with the real `anycastd` binary in network namespaces.
//!
//! ```text
//!   router (FRR or BIRD, AS 65000) eth1 ── eth0 node (anycastd, AS 65001, VIP on lo)
//!      10.0.1.1/24  2001:db8:0:1::1/64         10.0.1.2/24  2001:db8:0:1::2/64
//! ```
//!
//! The verdict is the router's kernel table: a frozen node (SIGSTOP of anycastd) and a node
//! whose packets are all dropped on the link must lose their next hop within the detection
//! time (300 ms × 3) plus a margin, far below the 9 s hold time; the same freeze without BFD
//! is printed for comparison. This kernel has no netem or tc classifiers, so "drop all its
//! packets" is a blackhole route to the router on the node: the link keeps its carrier and
//! the node's packets go nowhere. A scripted hostile sender checks that every §6.8.6 discard
//! rule is counted while the real session stays Up.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use anycastd::bfd::packet::{Diag, Packet, State};
use nix::sys::signal::Signal;
use support::bird::Bird;
use support::daemon::Daemon;
use support::frr::bfd_router_conf;
use support::lab::{node_addr, node_addr6, router_addr, router_addr6, Lab};
use support::{kernel_next_hops, wait_for, Frr, NsRuntime};

const TIMEOUT: Duration = Duration::from_secs(40);
const VIP4: &str = "10.100.0.1";
const VIP6: &str = "2001:db8:100::1";
/// Detection time (3 × 300 ms) plus a generous margin for a loaded 2-core CI machine; the
/// hold time is 9 s, so a pass cannot come from the hold timer.
const BFD_BOUND: Duration = Duration::from_secs(3);

fn node_config(peer: &str, peer_extra: &str, vip: &str) -> String {
    format!(
        "[node]\nrouter_id = \"{}\"\nasn = 65001\n\n[bgp]\nhold_time = 9\nconnect_retry = 1\n\n\
         [[bgp.peer]]\naddress = \"{peer}\"\nasn = 65000\n{peer_extra}\n\n\
         [[vip]]\naddress = \"{vip}\"\ninterface = \"lo\"\n",
        node_addr(0, 1)
    )
}

fn peer_bfd(d: &Daemon) -> serde_json::Value {
    d.status()["peers"][0]["bfd"].clone()
}

fn wait_bfd_up(d: &Daemon) -> serde_json::Value {
    wait_for(
        TIMEOUT,
        "the node's BFD session Up",
        || peer_bfd(d),
        |b| b["state"] == "up",
    )
}

/// How long until the router's kernel route to `vip` has no next hop (polling every 20 ms).
fn time_to_withdrawal(lab: &Lab, vip: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    while !kernel_next_hops(lab.router(0), vip).is_empty() {
        assert!(
            start.elapsed() < limit,
            "{vip} still routed after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

fn wait_routed(lab: &Lab, vip: &str, via: &str) {
    wait_for(
        TIMEOUT,
        &format!("{vip} routed via {via}"),
        || kernel_next_hops(lab.router(0), vip),
        |h| *h == [via],
    );
}

/// FRR (bfdd on) on router 0 and the daemon on node 1 peering with it with `bfd = true`,
/// started and waited for: the VIP routed via the node and the node's BFD session Up.
struct FrrBfd {
    lab: Lab,
    frr: Frr,
    d: Daemon,
    /// The router's address and the node's, of the session's family.
    peer: String,
    node: String,
    vip: &'static str,
    /// The node's BFD session once Up.
    up: serde_json::Value,
}

impl FrrBfd {
    /// Over IPv6 or IPv4 (the VIP of that family); `peer_extra`: more keys for the peer.
    fn start(v6: bool, peer_extra: &str) -> FrrBfd {
        let lab = Lab::new(1, 1);
        let (peer, node, vip) = if v6 {
            (router_addr6(0, 1), node_addr6(0, 1), VIP6)
        } else {
            (router_addr(0, 1), node_addr(0, 1), VIP4)
        };
        let frr = Frr::start_with_bfd(lab.router(0), &bfd_router_conf(&node, true));
        let peer_keys = format!("bfd = true\n{peer_extra}");
        let d = Daemon::start(lab.node(1), "node1", &node_config(&peer, &peer_keys, vip));
        wait_routed(&lab, vip, &node);
        let up = wait_bfd_up(&d);
        FrrBfd {
            lab,
            frr,
            d,
            peer,
            node,
            vip,
            up,
        }
    }
}

/// FRR's bfdd's view of its session with `node`.
fn frr_bfd_peer(frr: &Frr, node: &str) -> serde_json::Value {
    frr.vtysh_json(&format!("show bfd peer {node} json"))
}

fn wait_frr_bfd_up(frr: &Frr, node: &str) {
    wait_for(
        TIMEOUT,
        "FRR's bfdd sees the session up",
        || frr_bfd_peer(frr, node),
        |v| v["status"] == "up",
    );
}

/// FRR with bfdd; the node peers with `bfd = true` over IPv6 or IPv4.
fn frozen_node_leaves_frr_within_detection_time(v6: bool) {
    let FrrBfd {
        lab,
        frr,
        d,
        node,
        vip,
        up: b,
        ..
    } = FrrBfd::start(v6, "");
    assert_eq!(b["detect_time_ms"], 900, "{b}");
    assert_ne!(b["remote_discriminator"], 0, "{b}");
    wait_frr_bfd_up(&frr, &node);

    d.signal(Signal::SIGSTOP);
    let took = time_to_withdrawal(&lab, vip, Duration::from_secs(8));
    eprintln!(
        "BFD (FRR, {}): frozen node left ECMP after {took:?}",
        if v6 { "IPv6" } else { "IPv4" }
    );
    assert!(took < BFD_BOUND, "{took:?}");
    d.signal(Signal::SIGCONT);
    // The sessions come back and so does the next hop.
    wait_routed(&lab, vip, &node);
    wait_bfd_up(&d);
}

#[test]
fn a_frozen_node_leaves_frr_ecmp_within_the_bfd_detection_time_ipv4() {
    frozen_node_leaves_frr_within_detection_time(false);
}

#[test]
fn a_frozen_node_leaves_frr_ecmp_within_the_bfd_detection_time_ipv6() {
    frozen_node_leaves_frr_within_detection_time(true);
}

#[test]
fn a_link_that_drops_the_nodes_packets_removes_it_from_frr_within_the_detection_time() {
    let FrrBfd {
        lab,
        frr: _frr,
        d,
        peer,
        node,
        ..
    } = FrrBfd::start(false, "");
    lab.node(1)
        .ip(&["route", "add", "blackhole", &format!("{peer}/32")]);
    let took = time_to_withdrawal(&lab, VIP4, Duration::from_secs(8));
    eprintln!("BFD (FRR): node with a dropping link left ECMP after {took:?}");
    assert!(took < BFD_BOUND, "{took:?}");
    // The node's side sees the router's packets stop? No: they still arrive. Its BGP session
    // is closed by the router; when the link heals everything comes back.
    lab.node(1)
        .ip(&["route", "del", "blackhole", &format!("{peer}/32")]);
    wait_routed(&lab, VIP4, &node);
    wait_bfd_up(&d);
}

#[test]
fn without_bfd_a_frozen_node_stays_in_ecmp_until_the_hold_time() {
    let lab = Lab::new(1, 1);
    let (peer, node) = (router_addr(0, 1), node_addr(0, 1));
    let _frr = Frr::start(lab.router(0), &bfd_router_conf(&node, false));
    let d = Daemon::start(lab.node(1), "node1", &node_config(&peer, "", VIP4));
    wait_routed(&lab, VIP4, &node);
    assert!(peer_bfd(&d).is_null(), "bfd is null when off");
    d.signal(Signal::SIGSTOP);
    let took = time_to_withdrawal(&lab, VIP4, Duration::from_secs(20));
    eprintln!("no BFD (FRR, hold time 9): frozen node left ECMP after {took:?}");
    assert!(
        took > Duration::from_secs(5),
        "the hold timer, not something faster: {took:?}"
    );
    d.signal(Signal::SIGCONT);
}

/// BIRD's `protocol bfd` and `bfd on` for the node's session over `family`.
fn frozen_node_leaves_bird_within_detection_time(v6: bool) {
    let lab = Lab::new(1, 1);
    let (peer, node, vip, af) = if v6 {
        (router_addr6(0, 1), node_addr6(0, 1), VIP6, "ipv6")
    } else {
        (router_addr(0, 1), node_addr(0, 1), VIP4, "ipv4")
    };
    let bird = Bird::start(
        lab.router(0),
        &format!(
            "router id 10.255.255.1;\nprotocol device {{ }}\n\
             protocol kernel {{ {af} {{ import none; export all; }}; }}\n\
             protocol bfd {{ interface \"*\" {{ interval 300 ms; multiplier 3; }}; }}\n\
             protocol bgp node {{ local as 65000; neighbor {node} as 65001; bfd on;\n\
               hold time 9; connect retry time 1; error wait time 1, 5;\n\
               {af} {{ import all; export none; }}; }}\n"
        ),
    );
    let d = Daemon::start(lab.node(1), "node1", &node_config(&peer, "bfd = true", vip));
    wait_routed(&lab, vip, &node);
    wait_bfd_up(&d);
    wait_for(
        TIMEOUT,
        "BIRD's BFD session up",
        || bird.birdc(&["show", "bfd", "sessions"]),
        |o| o.lines().any(|l| l.contains(&node) && l.contains(" Up ")),
    );
    d.signal(Signal::SIGSTOP);
    let took = time_to_withdrawal(&lab, vip, Duration::from_secs(8));
    eprintln!("BFD (BIRD, {af}): frozen node left the kernel table after {took:?}");
    assert!(took < BFD_BOUND, "{took:?}");
    d.signal(Signal::SIGCONT);
    wait_routed(&lab, vip, &node);
}

#[test]
fn a_frozen_node_leaves_bird_within_the_bfd_detection_time_ipv4() {
    frozen_node_leaves_bird_within_detection_time(false);
}

#[test]
fn a_frozen_node_leaves_bird_within_the_bfd_detection_time_ipv6() {
    frozen_node_leaves_bird_within_detection_time(true);
}

/// A daemon that was not scheduled for a while (a loaded machine, a descheduled VM) finds the
/// router's packets waiting in its socket when it runs again, and its detection timer expired
/// too. It must read the packets before it judges the timer, or it declares a live router
/// down and resets BGP. Here the router's detection time for us is long (our multiplier 10:
/// 3 s) and ours for the router short (900 ms): a 1.5 s stall (SIGSTOP) leaves the router Up
/// and its packets queued. Repeated, because which of "packet ready" and "timer expired" is
/// looked at first was a coin toss.
#[test]
fn after_a_stall_queued_packets_are_read_before_the_detection_timer_is_judged() {
    let FrrBfd {
        lab,
        frr,
        d,
        node,
        up,
        ..
    } = FrrBfd::start(false, "bfd_multiplier = 10");
    assert_eq!(up["detect_time_ms"], 900, "{up}");
    wait_frr_bfd_up(&frr, &node);
    let transitions = up["transitions"].as_u64().unwrap();
    for i in 0..6 {
        d.signal(Signal::SIGSTOP);
        std::thread::sleep(Duration::from_millis(1500));
        d.signal(Signal::SIGCONT);
        std::thread::sleep(Duration::from_millis(700));
        let b = peer_bfd(&d);
        assert_eq!(b["state"], "up", "stall {i}: {b}");
        assert_eq!(b["transitions"], transitions, "stall {i}: BFD flapped: {b}");
    }
    assert_eq!(d.status()["peers"][0]["state"], "established");
    assert_eq!(kernel_next_hops(lab.router(0), VIP4), [node.as_str()]);
}

#[test]
fn sigterm_ends_bgp_with_our_cease_then_sends_bfd_admindown() {
    let FrrBfd {
        lab: _lab,
        frr,
        mut d,
        node,
        ..
    } = FrrBfd::start(false, "");
    d.signal(Signal::SIGTERM);
    assert!(d.wait_exit(Duration::from_secs(10)).success());
    let v = wait_for(
        Duration::from_secs(5),
        "bfdd has seen the session go down",
        || frr_bfd_peer(&frr, &node),
        |v| v["status"] == "down",
    );
    // What bfdd recorded from us is an administrative shutdown, not a detection timeout.
    assert_eq!(v["remote-diagnostic"], "administratively down", "{v}");
    // And bgpd ended the session on our Cease, which came first, not on BFD: FRR closes an
    // established session whose peer goes AdminDown with a Cease/BFD Down of its own.
    let stats = &frr.vtysh_json(&format!("show bgp neighbors {node} json"))[&node]["messageStats"];
    assert_eq!(
        stats["notificationsSent"], 0,
        "FRR sent a NOTIFICATION: {stats}"
    );
    assert!(stats["notificationsRecv"].as_u64() >= Some(1), "{stats}");
}

/// SIGUSR2 (a planned restart) with BFD on, against FRR with graceful restart: the router must
/// keep the route all through the restart, so what the old process tells BFD must not look like
/// a failure while its BGP session is still up. FRR's bgpd closes an established session on its
/// peer's AdminDown as on any BFD Down, so the old process closes BGP first (graceful restart
/// starts at the router) and only then sends AdminDown.
#[test]
fn a_planned_restart_with_bfd_keeps_the_route_at_frr_with_graceful_restart() {
    let lab = Lab::new(1, 1);
    let (peer, node) = (router_addr(0, 1), node_addr(0, 1));
    let conf = bfd_router_conf(&node, true).replacen(
        " no bgp ebgp-requires-policy\n",
        " no bgp ebgp-requires-policy\n bgp graceful-restart\n",
        1,
    );
    // bgpd's view of the restart, for the failure message.
    let conf = format!("debug bgp neighbor-events\ndebug bfd peer\ndebug bfd network\n{conf}");
    let frr = Frr::start_with_bfd(lab.router(0), &conf);
    let cfg = node_config(&peer, "bfd = true", VIP4);
    let mut old = Daemon::start(lab.node(1), "old", &cfg);
    wait_routed(&lab, VIP4, &node);
    wait_bfd_up(&old);
    // The Graceful Restart F bit, as FRR received it.
    let f_bit = || {
        let n = frr.vtysh_json(&format!("show bgp neighbors {node} json"));
        n[&node]["gracefulRestartInfo"]["ipv4Unicast"]["fBit"].clone()
    };
    assert_eq!(
        f_bit(),
        false,
        "a first start (fresh namespace) claims no forwarding state"
    );
    wait_frr_bfd_up(&frr, &node);
    let mut polls = 0;
    let mut gaps = 0;
    let mut watch = |until: &mut dyn FnMut() -> bool| {
        while !until() {
            polls += 1;
            if kernel_next_hops(lab.router(0), VIP4) != [node.clone()] {
                gaps += 1;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    old.signal(Signal::SIGUSR2);
    let deadline = Instant::now() + Duration::from_secs(10);
    watch(&mut || old.exited().is_some() || Instant::now() > deadline);
    assert_eq!(old.wait_exit(Duration::from_secs(1)).code(), Some(75));
    let new = Daemon::start(lab.node(1), "new", &cfg);
    // Through the new process's BFD coming up and a few seconds beyond.
    let deadline = Instant::now() + Duration::from_secs(6);
    watch(&mut || {
        peer_bfd(&new)["state"] == "up" && Instant::now() > deadline
            || Instant::now() > deadline + Duration::from_secs(20)
    });
    println!(
        "planned restart with BFD: {polls} polls of the router's kernel route, {gaps} without it"
    );
    assert_eq!(peer_bfd(&new)["state"], "up");
    assert_eq!(
        f_bit(),
        true,
        "the new process found the old one's VIP in the kernel"
    );
    assert_eq!(
        gaps,
        0,
        "the route left the router's kernel during the restart\n--- old:\n{}\n--- new:\n{}\n--- bgpd:\n{}\n--- bfdd:\n{}",
        old.log(),
        new.log(),
        frr.log("bgpd"),
        frr.log("bfdd")
    );
    let n = frr.vtysh_json(&format!("show bgp neighbors {node} json"));
    assert_eq!(n[&node]["bgpState"], "Established", "{n}");
}

/// Sends `bytes` from the router's namespace to the node's BFD port, with TTL `ttl`.
fn send_from(rt: &NsRuntime, from: IpAddr, to: IpAddr, packets: Vec<(Vec<u8>, u32)>) {
    rt.run(Duration::from_secs(20), async move {
        use nix::sys::socket::{setsockopt, sockopt};
        let s = tokio::net::UdpSocket::bind(SocketAddr::new(from, 49999))
            .await
            .unwrap();
        for (i, (bytes, ttl)) in packets.into_iter().enumerate() {
            setsockopt(&s, sockopt::Ipv4Ttl, &(ttl as i32)).unwrap();
            s.send_to(&bytes, SocketAddr::new(to, 3784)).await.unwrap();
            // About 10,000 packets/s: a flood, but within the receive buffer, so the count
            // below measures our discards rather than the kernel's.
            if i % 50 == 49 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
}

#[test]
fn hostile_bfd_packets_are_counted_and_dropped_while_the_real_session_stays_up() {
    let FrrBfd {
        lab,
        frr: _frr,
        d,
        peer,
        node,
        up: before,
        ..
    } = FrrBfd::start(false, "");
    let ours = before["local_discriminator"].as_u64().unwrap() as u32;
    let valid = Packet {
        diag: Diag::NONE,
        state: State::Up,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: 4242,
        your_discriminator: ours.wrapping_add(1),
        desired_min_tx: 300_000,
        required_min_rx: 300_000,
        required_min_echo_rx: 0,
    };
    let mut bad: Vec<(Vec<u8>, u32)> = Vec::new();
    let bytes = valid.encode();
    let with = |f: &dyn Fn(&mut [u8; 24])| {
        let mut b = bytes;
        f(&mut b);
        b.to_vec()
    };
    bad.push((bytes[..20].to_vec(), 255)); // truncated
    bad.push((with(&|b| b[0] = 0x40), 255)); // version 2
    bad.push((with(&|b| b[3] = 40), 255)); // length beyond the datagram
    bad.push((with(&|b| b[2] = 0), 255)); // detect mult 0
    bad.push((with(&|b| b[1] |= 0x01), 255)); // multipoint
    bad.push((with(&|b| b[4..8].fill(0)), 255)); // my discriminator 0
    bad.push((with(&|b| b[8..12].fill(0)), 255)); // your discriminator 0 while Up
    bad.push((with(&|b| b[1] |= 0x04), 255)); // A bit (length 24 < 26: bad length)
    bad.push((
        {
            let mut b = bytes.to_vec();
            b[1] |= 0x04;
            b[3] = 28;
            b.extend_from_slice(&[1, 4, 0, 0]);
            b
        },
        255,
    )); // authenticated
    bad.push((bytes.to_vec(), 64)); // TTL below 255
                                    // A flood of valid-looking packets with wrong discriminators.
    for i in 0..2000u32 {
        let p = Packet {
            your_discriminator: ours ^ (i + 1),
            ..valid
        };
        bad.push((p.encode().to_vec(), 255));
    }
    let rt = NsRuntime::new(lab.router(0));
    send_from(&rt, peer.parse().unwrap(), node.parse().unwrap(), bad);
    let st = wait_for(
        Duration::from_secs(10),
        "every discard reason counted",
        || d.status()["bfd_discarded"].clone(),
        |m| {
            [
                "truncated",
                "bad version",
                "bad length",
                "detect multiplier 0",
                "multipoint bit set",
                "my discriminator 0",
                "your discriminator 0 while not down",
                "authentication not configured",
                "ttl below 255",
            ]
            .iter()
            .all(|k| m[*k].as_u64().is_some_and(|n| n >= 1))
                && m["unknown discriminator"]
                    .as_u64()
                    .is_some_and(|n| n >= 1990)
        },
    );
    eprintln!("discarded: {st}");
    let after = peer_bfd(&d);
    assert_eq!(after["state"], "up", "{after}");
    assert_eq!(after["transitions"], before["transitions"], "{after}");
    assert_eq!(kernel_next_hops(lab.router(0), VIP4), [node.as_str()]);
}
