//! The process: start-up (bad config, a taken port, before the router, unprivileged), SIGTERM
//! and SIGINT, planned restarts (SIGUSR2), and the addresses it owns.

use super::*;

/// A node with no BGP peer: only its VIP addresses and its API.
const BARE_NODE: &str = "[node]\nrouter_id = \"10.0.1.2\"\nasn = 65001\n\n";

/// Scenario 2: SIGTERM withdraws (with a Cease) before the process exits 0; the hold time is
/// 90 s on both sides, so only an explicit withdrawal explains a removal within seconds. With
/// `shutdown_delay`, the route first carries GRACEFUL_SHUTDOWN (65535:0), then goes.
#[test]
fn daemon_sigterm_withdraws_before_exit() {
    let lab = Lab::new(1, 2);
    let frr = lab.start_router(0, Some((30, 90)));
    let mut d1 = Daemon::start(
        lab.node(1),
        "node1",
        &(lab
            .node_config(1, "")
            .replace("hold_time = 9", "hold_time = 90")
            + &vip(VIP4, "", None)),
    );
    let mut d2 = Daemon::start(
        lab.node(2),
        "node2",
        &(lab
            .node_config(2, "shutdown_delay = \"2s\"")
            .replace("hold_time = 9", "hold_time = 90")
            + &vip(VIP4, "communities = [\"65000:100\"]", None)),
    );
    let (n1, n2) = (node_addr(0, 1), node_addr(0, 2));
    wait_next_hops(lab.router(0), VIP4, &[n1.as_str(), n2.as_str()]);
    for n in [&n1, &n2] {
        let hold = neighbor(&frr, n)["bgpTimerHoldTimeMsecs"].clone();
        assert_eq!(hold, 90000, "negotiated hold time with {n}");
    }

    // Node 1: no shutdown delay.
    d1.signal(Signal::SIGTERM);
    let took = time_until(TIMEOUT, "node 1's next hop removed", || {
        kernel_next_hops(lab.router(0), VIP4) == [n2.as_str()]
    });
    println!("SIGTERM → next hop gone at the router in {took:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let status = d1.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{status:?}");
    let n = wait_for(
        Duration::from_secs(10),
        "router saw a Cease from node 1",
        || neighbor(&frr, &n1),
        |n| n["lastNotificationReason"].to_string().contains("Cease"),
    );
    assert!(
        n["lastNotificationReason"]
            .to_string()
            .contains("Administrative Shutdown"),
        "{n}"
    );

    // Node 2: shutdown_delay = 2s: graceful-shutdown community first, withdrawal after.
    let t0 = Instant::now();
    d2.signal(Signal::SIGTERM);
    let gshut = wait_for(
        Duration::from_secs(5),
        "route from node 2 carries GRACEFUL_SHUTDOWN",
        || community_from(&frr, &format!("{VIP4}/32"), &n2),
        |c| {
            c.as_deref()
                .is_some_and(|c| c.contains("graceful-shutdown") || c.contains("65535:0"))
        },
    );
    let seen = t0.elapsed();
    println!("SIGTERM → GRACEFUL_SHUTDOWN at the router after {seen:?}: {gshut:?}");
    assert!(
        gshut.unwrap().contains("65000:100"),
        "configured communities kept"
    );
    let gone = time_until(TIMEOUT, "node 2's route withdrawn", || {
        kernel_next_hops(lab.router(0), VIP4).is_empty()
    }) + seen;
    println!("SIGTERM with shutdown_delay 2s → withdrawn after {gone:?}");
    assert!(
        gone >= Duration::from_millis(1800),
        "withdrawn before the delay: {gone:?}"
    );
    assert!(gone < Duration::from_secs(7), "took {gone:?}");
    let status = d2.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{status:?}");
    wait_for(
        Duration::from_secs(10),
        "router saw a Cease from node 2",
        || neighbor(&frr, &n2)["lastNotificationReason"].to_string(),
        |r| r.contains("Cease"),
    );
}

/// Scenario 8: `anycastd run` with an invalid file exits 1 with FILE:LINE:COL errors and
/// touches nothing (the valid VIP in it is not added to `lo`).
#[test]
fn run_with_an_invalid_config_exits_1_with_file_line_col_errors_and_adds_no_address() {
    let ns = Netns::new("n");
    let cfg = "[node]\nrouter_id = \"10.0.1.2\"\nasn = 65001\n\n[bgp]\nhold_time = 2\n\n\
               [[bgp.peer]]\naddress = \"10.0.1.1\"\nasn = 0\n\n"
        .to_string()
        + &vip(VIP4, "", None);
    let mut d = Daemon::start(&ns, "bad", &cfg);
    let status = d.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(1), "{status:?}");
    let log = d.log();
    let f = d.config_path().display().to_string();
    assert!(
        log.contains(&format!("{f}:6:13: bgp.hold_time")),
        "hold_time error: {log}"
    );
    assert!(
        log.contains(&format!("{f}:10:7: bgp.peer[0].asn")),
        "asn error: {log}"
    );
    let lo = run("ip", &["-n", ns.name(), "addr", "show", "dev", "lo"]);
    assert!(!lo.contains(VIP4), "the VIP was added: {lo}");
}

/// SIGTERM leaves the VIP's address in place; `--cleanup` (here with SIGINT) removes the
/// addresses anycastd owns, including one a previous run left, and nothing else. Once the
/// daemon is gone, `anycastd status` exits 1.
#[test]
fn daemon_exit_keeps_addresses_unless_cleanup() {
    let ns = Netns::new("n");
    ns.addr("lo", "10.100.0.9/32"); // not anycastd's: must survive the cleanup
    let cfg = BARE_NODE.to_string() + &vip(VIP4, "", None) + &vip(VIP6, "", None);
    let lo = || run("ip", &["-n", ns.name(), "addr", "show", "dev", "lo"]);
    let has = |a: &str| lo().contains(&format!("{a}/"));

    let mut first = Daemon::start(&ns, "first", &cfg);
    wait_until_addr(&has, VIP4);
    wait_until_addr(&has, VIP6);
    first.signal(Signal::SIGTERM);
    assert_eq!(first.wait_exit(Duration::from_secs(10)).code(), Some(0));
    assert!(
        has(VIP4) && has(VIP6),
        "addresses removed without --cleanup:\n{}",
        lo()
    );
    let out = first.cli(&["status"]);
    assert_eq!(out.status.code(), Some(1), "status with no daemon: {out:?}");

    let mut second = Daemon::start_with_args(&ns, "second", &cfg, &["--cleanup"]);
    wait_for(
        TIMEOUT,
        "second run serves status",
        || second.status(),
        |s| s["vips"].as_array().is_some_and(|v| v.len() == 2),
    );
    second.signal(Signal::SIGINT);
    assert_eq!(second.wait_exit(Duration::from_secs(10)).code(), Some(0));
    let after = lo();
    assert!(
        !has(VIP4) && !has(VIP6),
        "--cleanup left the VIPs:\n{after}"
    );
    assert!(
        has("10.100.0.9"),
        "--cleanup removed a foreign address:\n{after}"
    );
}

fn wait_until_addr(has: &impl Fn(&str) -> bool, a: &str) {
    support::wait_until(TIMEOUT, &format!("{a} on lo"), || has(a));
}

/// The kernel drifts (someone deletes the VIP's address): the daemon puts it back.
#[test]
fn daemon_repairs_a_deleted_vip_address() {
    let ns = Netns::new("n");
    let cfg = BARE_NODE.to_string() + &vip(VIP4, "", None);
    let _d = Daemon::start(&ns, "node", &cfg);
    let has = || {
        ns.ip(&["addr", "show", "dev", "lo"])
            .contains(&format!("{VIP4}/32"))
    };
    support::wait_until(TIMEOUT, "VIP on lo", has);
    ns.ip(&["addr", "del", &format!("{VIP4}/32"), "dev", "lo"]);
    let t = time_until(Duration::from_secs(20), "VIP address put back", has);
    println!("deleted VIP address restored after {t:?}");
}

/// A second SIGTERM during `shutdown_delay` skips the rest of the delay.
#[test]
fn daemon_second_sigterm_skips_the_shutdown_delay() {
    let s = Scenario::one_router_one_node();
    let mut d = s.start(&(s.config("shutdown_delay = \"60s\"") + &vip(VIP4, "", None)));
    s.wait_announced(VIP4);
    d.signal(Signal::SIGTERM);
    s.wait_graceful_shutdown(VIP4);
    let t0 = Instant::now();
    d.signal(Signal::SIGTERM);
    assert_eq!(d.wait_exit(Duration::from_secs(10)).code(), Some(0));
    println!("second SIGTERM → exit in {:?}", t0.elapsed());
    s.wait_withdrawn(VIP4);
}

/// The API port is taken: `anycastd run` exits 1 saying so, before touching anything.
#[test]
fn daemon_refuses_to_start_when_the_api_port_is_taken() {
    let ns = Netns::new("n");
    let _squatter = Backend::start(&ns, 9180);
    let cfg = BARE_NODE.to_string() + &vip(VIP4, "", None);
    let mut d = Daemon::start(&ns, "node", &cfg);
    assert_eq!(d.wait_exit(Duration::from_secs(10)).code(), Some(1));
    let log = d.log();
    assert!(log.contains("9180"), "no word about the API port: {log}");
    let lo = ns.ip(&["addr", "show", "dev", "lo"]);
    assert!(
        !lo.contains(VIP4),
        "VIP added by a daemon that could not start: {lo}"
    );
}

/// The node starts before its router: once the router comes up, the session and the route
/// follow without touching the daemon (connect retries back off from `connect_retry`, 1 s).
#[test]
fn a_node_started_before_its_router_announces_once_the_router_comes_up() {
    let mut s = Scenario::before_its_router();
    let d = s.start(&(s.config("") + &vip(VIP4, "", None)));
    wait_for(
        TIMEOUT,
        "the daemon has tried and failed to connect a few times",
        || d.log().matches("refused").count(),
        |n| *n >= 2,
    );
    s.start_router();
    let t = time_until(TIMEOUT, "route at the router", || s.announced(VIP4));
    println!("router up → route installed in {t:?}");
}

/// Issue 7: a planned restart (SIGUSR2, then a new process) keeps the route at a router that
/// negotiated graceful restart: the old process closes its session without a NOTIFICATION
/// and exits 75, the router keeps the route (stale), and the new process holds its End-of-RIB
/// until its first health results are in, so the route never leaves the router's kernel table.
#[test]
fn daemon_graceful_restart_keeps_the_route_through_a_planned_restart() {
    let s = Scenario::with_router_conf(&Scenario::router_conf(None).replacen(
        " no bgp ebgp-requires-policy\n",
        " no bgp ebgp-requires-policy\n bgp graceful-restart\n",
        1,
    ));
    let _backend = Backend::start(s.node(), 8080);
    let check = "type = \"http\"\nport = 8080\npath = \"/healthz\"\ninterval = \"2s\"\n\
                 timeout = \"500ms\"\nrise = 2\nfall = 2\n";
    let cfg = s.config("") + &vip(VIP4, "", Some(check));
    let mut old = Daemon::start(s.node(), "old", &cfg);
    s.wait_announced(VIP4);

    let mut gaps = 0;
    let mut polls = 0;
    let mut watch = |until: &mut dyn FnMut() -> bool| {
        while !until() {
            polls += 1;
            if !s.announced(VIP4) {
                gaps += 1;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    old.signal(Signal::SIGUSR2);
    let deadline = Instant::now() + Duration::from_secs(10);
    watch(&mut || old.exited().is_some() || Instant::now() > deadline);
    let status = old.wait_exit(Duration::from_secs(1));
    assert_eq!(status.code(), Some(75), "graceful restart exits 75");
    assert!(old.log().contains("without NOTIFICATION"), "{}", old.log());

    let new = Daemon::start(s.node(), "new", &cfg);
    // Until the new process has sent its initial table and a few checks have run.
    let deadline = Instant::now() + Duration::from_secs(6);
    watch(&mut || {
        new.log().contains("sending the initial BGP table") && Instant::now() > deadline
            || Instant::now() > deadline + Duration::from_secs(15)
    });
    assert!(
        new.log()
            .contains("first health results in: sending the initial BGP table"),
        "{}",
        new.log()
    );
    println!("graceful restart: {polls} polls of the router's kernel route, {gaps} without it");
    assert_eq!(
        gaps, 0,
        "the route left the router's kernel table during the restart"
    );
    // The route was refreshed by the new session (no longer stale).
    let paths = bgp_paths(s.frr(), &format!("{VIP4}/32"));
    assert!(
        paths.iter().all(|p| p.get("stale").is_none()),
        "route still stale after End-of-RIB: {paths:?}"
    );
}

/// Issue 7: the daemon needs no more than CAP_NET_ADMIN. Run as `nobody` with only that
/// capability (as contrib/anycastd.service does), it binds its VIP, peers with the router and
/// announces; its effective capability set is exactly CAP_NET_ADMIN.
#[test]
fn daemon_runs_unprivileged_with_only_cap_net_admin() {
    let s = Scenario::one_router_one_node();
    let cfg = s.config("") + &vip(VIP4, "", None);
    let caps = "-all,+net_admin";
    let setpriv = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        &format!("--inh-caps={caps}"),
        &format!("--ambient-caps={caps}"),
        &format!("--bounding-set={caps}"),
    ];
    let d = Daemon::start_wrapped(s.node(), "node1", &cfg, &setpriv, &[]);
    s.wait_announced(VIP4);
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.pid())).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    // CAP_NET_ADMIN is bit 12.
    assert_eq!(field("CapEff:"), "0000000000001000", "{status}");
    assert!(field("Uid:").starts_with("65534"), "{status}");
    let addrs = s.node().ip(&["addr", "show", "dev", "lo"]);
    assert!(addrs.contains("10.100.0.1/32"), "{addrs}");
}

/// `ip route show table local proto 65` (anycastd's local routes) in the node, both families.
fn our_local_routes(ns: &Netns) -> String {
    let v4 = ns.ip(&["route", "show", "table", "local", "proto", "65"]);
    let v6 = ns.ip(&["-6", "route", "show", "table", "local", "proto", "65"]);
    v4 + &v6
}

/// `bind = "route"` (issue 15): the VIP is made local by a local route, not an address, and is
/// announced to the router like any other.
#[test]
fn a_route_bound_vip_is_a_local_route_and_is_announced() {
    let s = Scenario::one_router_one_node();
    let _d = s.start(&(s.config("") + &vip(VIP4, "bind = \"route\"", None)));
    s.wait_announced(VIP4);
    let routes = our_local_routes(s.node());
    assert!(
        routes.contains(&format!("local {VIP4} dev lo")),
        "no local route for the VIP:\n{routes}"
    );
    let lo = s.node().ip(&["addr", "show", "dev", "lo"]);
    assert!(!lo.contains(VIP4), "the VIP was added as an address: {lo}");
}

/// `[node] vip_bind = "route"`: SIGTERM leaves the local routes; `--cleanup` removes exactly
/// anycastd's (one a previous run left included) and leaves a foreign local route alone.
#[test]
fn cleanup_removes_our_local_routes_and_nothing_else() {
    let ns = Netns::new("n");
    ns.ip(&["link", "set", "lo", "up"]);
    ns.ip(&[
        "route",
        "add",
        "local",
        "10.100.0.9/32",
        "dev",
        "lo",
        "table",
        "local",
    ]);
    let cfg = BARE_NODE.replace("asn = 65001\n", "asn = 65001\nvip_bind = \"route\"\n")
        + &vip(VIP4, "", None)
        + &vip(VIP6, "", None);
    let has = |a: &str| our_local_routes(&ns).contains(&format!("local {a} dev lo"));

    let mut first = Daemon::start(&ns, "first", &cfg);
    wait_until_addr(&has, VIP4);
    wait_until_addr(&has, VIP6);
    first.signal(Signal::SIGTERM);
    assert_eq!(first.wait_exit(Duration::from_secs(10)).code(), Some(0));
    assert!(has(VIP4) && has(VIP6), "routes removed without --cleanup");

    let mut second = Daemon::start_with_args(&ns, "second", &cfg, &["--cleanup"]);
    wait_for(
        TIMEOUT,
        "second run serves status",
        || second.status(),
        |s| s["vips"].as_array().is_some_and(|v| v.len() == 2),
    );
    second.signal(Signal::SIGINT);
    assert_eq!(second.wait_exit(Duration::from_secs(10)).code(), Some(0));
    assert!(
        !has(VIP4) && !has(VIP6),
        "--cleanup left the routes:\n{}",
        our_local_routes(&ns)
    );
    let local = ns.ip(&["route", "show", "table", "local"]);
    assert!(
        local.contains("local 10.100.0.9 dev lo"),
        "--cleanup removed a foreign local route:\n{local}"
    );
}
