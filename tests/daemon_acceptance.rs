//! Acceptance tests: the real `anycastd` binary (`anycastd run -c FILE`) in network namespaces,
//! peering with real FRR routers; what the routers install in their kernels is the verdict.
//!
//! The host kernel has neither IPVS nor dummy interfaces, so every VIP here lives on `lo` and
//! has no `[[vip.service]]`; health is driven by `[vip.check]` against small backends served
//! from inside the node's namespace (tests/support/backend.rs). Scenarios that need IPVS run
//! in the QEMU lab.
//!
//! Topology helpers: tests/support/lab.rs (router k eth{i} ── node i eth{k}, 10.k.i.0/24).
//! Every namespace name carries the pid, so the tests run in parallel; they mostly wait, so
//! `-- --test-threads 8` runs all of them at once:
//!
//! ```text
//! cargo test --test daemon_acceptance -- --test-threads 16
//! ```
//!
//! On failure, each daemon's log (`--log-level debug`) is printed after the panic message.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::backend::{http_get, Backend, Mode};
use support::daemon::Daemon;
use support::lab::{node_addr, node_addr6, router_addr, Lab};
use support::{kernel_next_hops, run, wait_for, Frr, Netns};

const TIMEOUT: Duration = Duration::from_secs(40);
const VIP4: &str = "10.100.0.1";
const VIP4B: &str = "10.100.0.2";
const VIP4C: &str = "10.100.0.3";
const VIP6: &str = "2001:db8:100::1";
/// No next hop: the route is withdrawn.
const NONE: &[&str] = &[];

/// A plain anycast VIP on `lo`, with optional extra keys (`communities = …`) and check lines.
fn vip(address: &str, extra: &str, check: Option<&str>) -> String {
    let mut s = format!("[[vip]]\naddress = \"{address}\"\ninterface = \"lo\"\n{extra}\n");
    if let Some(c) = check {
        s += &format!("  [vip.check]\n{c}\n");
    }
    s + "\n"
}

/// Waits until `dst`'s kernel route in `ns` goes via exactly `expected` (sorted, any order).
fn wait_next_hops(ns: &Netns, dst: &str, expected: &[impl AsRef<str>]) {
    let mut expected: Vec<String> = expected.iter().map(|e| e.as_ref().to_string()).collect();
    expected.sort();
    wait_for(
        TIMEOUT,
        &format!("kernel route {dst} in {} via {expected:?}", ns.name()),
        || kernel_next_hops(ns, dst),
        |hops| *hops == expected,
    );
}

/// Polls `cond` every 50 ms; returns how long it took to become true (panics after `timeout`).
fn time_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if cond() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `show bgp neighbors ADDR json`, the neighbor's object (Null if bgpd does not answer).
fn neighbor(frr: &Frr, addr: &str) -> serde_json::Value {
    frr.vtysh_json(&format!("show bgp neighbors {addr} json"))[addr].clone()
}

/// The neighbor's session history: (connections established, connections dropped).
/// Unchanged across a reload means the session was not reset. (FRR's
/// `bgpTimerUpEstablishedEpoch` is now − uptime in whole seconds, so it jitters by one and is
/// no good for this.)
fn session_identity(frr: &Frr, addr: &str) -> (u64, u64) {
    let n = neighbor(frr, addr);
    (
        n["connectionsEstablished"].as_u64().unwrap_or(0),
        n["connectionsDropped"].as_u64().unwrap_or(0),
    )
}

/// The BGP paths the router has for `prefix` (IPv4 unicast), as JSON.
fn bgp_paths(frr: &Frr, prefix: &str) -> Vec<serde_json::Value> {
    frr.vtysh_json(&format!("show bgp ipv4 unicast {prefix} json"))["paths"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The community string of the path learned from `peer`, if the router has one.
fn community_from(frr: &Frr, prefix: &str, peer: &str) -> Option<String> {
    bgp_paths(frr, prefix)
        .into_iter()
        .find(|p| p["peer"]["peerId"] == peer)
        .map(|p| p["community"]["string"].as_str().unwrap_or("").to_string())
}

/// True if `log` has a line naming `file` with a line and column: `FILE:LINE:COL: …`.
fn has_position(log: &str, file: &std::path::Path) -> bool {
    let prefix = format!("{}:", file.display());
    log.match_indices(&prefix).any(|(at, _)| {
        let rest = &log[at + prefix.len()..];
        let mut parts = rest.splitn(3, ':');
        let line = parts.next().unwrap_or("");
        let col = parts.next().unwrap_or("");
        !line.is_empty()
            && line.chars().all(|c| c.is_ascii_digit())
            && !col.is_empty()
            && col.chars().all(|c| c.is_ascii_digit())
    })
}

fn vip_status<'a>(status: &'a serde_json::Value, address: &str) -> &'a serde_json::Value {
    status["vips"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["address"] == address))
        .unwrap_or_else(|| panic!("no VIP {address} in {status}"))
}

/// Scenario 1: three nodes announce an IPv4 and an IPv6 VIP (the latter over the IPv4 session,
/// next hop from `next_hop6`); the router installs one ECMP route per VIP with three next hops.
#[test]
fn daemon_ecmp() {
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

/// Scenario 3: `[vip.check]` drives announce/withdraw. http (503, refused), tcp (refused) and
/// exec (a file's presence), interval 1s, fall 2, rise 2: a withdrawal reaches the router
/// within interval × fall + 1 s of the failure.
#[test]
fn daemon_health_failover() {
    let lab = Lab::new(1, 1);
    let _frr = lab.start_router(0, None);
    let http = Backend::start(lab.node(1), 8080);
    let tcp = Backend::start(lab.node(1), 8081);
    let dir = tempfile::tempdir().unwrap();
    let down = dir.path().join("down");
    let timing = "interval = \"1s\"\ntimeout = \"500ms\"\nrise = 2\nfall = 2\n";
    let cfg = lab.node_config(1, "")
        + &vip(
            VIP4,
            "",
            Some(&format!(
                "type = \"http\"\nport = 8080\npath = \"/healthz\"\n{timing}"
            )),
        )
        + &vip(
            VIP4B,
            "",
            Some(&format!("type = \"tcp\"\nport = 8081\n{timing}")),
        )
        + &vip(
            VIP4C,
            "",
            Some(&format!(
                "type = \"exec\"\nport = 1\ncommand = [\"/bin/sh\", \"-c\", \"test ! -e {}\"]\n{timing}",
                down.display()
            )),
        );
    let _d = Daemon::start(lab.node(1), "node1", &cfg);
    let router = lab.router(0);
    let nh = vec![node_addr(0, 1)];
    for v in [VIP4, VIP4B, VIP4C] {
        wait_next_hops(router, v, &nh);
    }
    let limit = Duration::from_secs(3); // interval × fall + 1 s
    let announced = |v: &str| kernel_next_hops(router, v) == nh;

    std::thread::scope(|s| {
        s.spawn(|| {
            http.set(Mode::Unhealthy);
            let t = time_until(TIMEOUT, "http 503 → withdrawn", || !announced(VIP4));
            println!("http check: 503 → withdrawn at the router in {t:?}");
            assert!(t <= limit, "http 503 withdrawal took {t:?}");
            http.set(Mode::Healthy);
            let t = time_until(TIMEOUT, "http 200 → announced", || announced(VIP4));
            println!("http check: 200 → re-announced in {t:?}");
            http.set(Mode::Dead);
            let t = time_until(TIMEOUT, "http refused → withdrawn", || !announced(VIP4));
            println!("http check: refused → withdrawn at the router in {t:?}");
            assert!(t <= limit, "http refused withdrawal took {t:?}");
        });
        s.spawn(|| {
            tcp.set(Mode::Dead);
            let t = time_until(TIMEOUT, "tcp refused → withdrawn", || !announced(VIP4B));
            println!("tcp check: refused → withdrawn at the router in {t:?}");
            assert!(t <= limit, "tcp withdrawal took {t:?}");
            tcp.set(Mode::Healthy);
            let t = time_until(TIMEOUT, "tcp accepts → announced", || announced(VIP4B));
            println!("tcp check: accepting → re-announced in {t:?}");
        });
        s.spawn(|| {
            std::fs::write(&down, "").unwrap();
            let t = time_until(TIMEOUT, "exec fails → withdrawn", || !announced(VIP4C));
            println!("exec check: exit 1 → withdrawn at the router in {t:?}");
            assert!(t <= limit, "exec withdrawal took {t:?}");
            std::fs::remove_file(&down).unwrap();
            let t = time_until(TIMEOUT, "exec passes → announced", || announced(VIP4C));
            println!("exec check: exit 0 → re-announced in {t:?}");
        });
    });
}

/// Scenario 4: `anycastd status --json` has the contract's fields and values, `anycastd status`
/// prints the tables, and /metrics has the contract's series.
#[test]
fn daemon_status_and_metrics() {
    let lab = Lab::new(1, 1);
    let _frr = lab.start_router(0, None);
    let _backend = Backend::start(lab.node(1), 8080);
    let cfg = lab.node_config(1, "")
        + &vip(
            VIP4,
            "",
            Some("type = \"tcp\"\nport = 8080\ninterval = \"1s\"\ntimeout = \"500ms\"\n"),
        )
        + &vip(VIP6, "", None);
    let d = Daemon::start(lab.node(1), "node1", &cfg);
    wait_next_hops(lab.router(0), VIP4, &[node_addr(0, 1)]);
    wait_next_hops(lab.router(0), VIP6, &[node_addr6(0, 1)]);
    let peer = router_addr(0, 1);

    let st = wait_for(
        TIMEOUT,
        "status: session established, 2 routes sent",
        || d.status(),
        |s| s["peers"][0]["routes_sent"] == 2,
    );
    assert_eq!(st["node"]["router_id"], node_addr(0, 1), "{st}");
    assert_eq!(st["node"]["asn"], 65001, "{st}");
    assert_eq!(st["node"]["version"], env!("CARGO_PKG_VERSION"), "{st}");
    let p = &st["peers"][0];
    assert_eq!(st["peers"].as_array().map(Vec::len), Some(1), "{st}");
    assert_eq!(p["address"], peer.as_str(), "{st}");
    assert_eq!(p["asn"], 65000, "{st}");
    assert_eq!(p["state"], "established", "{st}");
    assert!(p["uptime_seconds"].is_u64(), "{st}");
    // Counted, whatever it is: FRR may echo our own routes back (eBGP has no split horizon;
    // they carry our AS and are not used), depending on timing.
    assert!(p["routes_received"].is_u64(), "{st}");
    assert!(p["last_error"].is_null(), "{st}");
    for v in [VIP4, VIP6] {
        let vs = vip_status(&st, v);
        assert_eq!(vs["announced"], true, "{st}");
        assert_eq!(vs["drained"], false, "{st}");
        assert_eq!(vs["reason"], "healthy", "{st}");
        assert_eq!(vs["services"], serde_json::json!([]), "{st}");
    }

    let table = d.cli_ok(&["status"]);
    for needle in [
        "PEER",
        "STATE",
        peer.as_str(),
        "established",
        "VIP",
        "ANNOUNCED",
        VIP4,
        VIP6,
        "healthy",
    ] {
        assert!(table.contains(needle), "no {needle:?} in:\n{table}");
    }
    println!("{table}");

    let api: SocketAddr = "127.0.0.1:9180".parse().unwrap();
    let (code, health) = http_get(lab.node(1), api, "/healthz").unwrap();
    assert_eq!(code, 200, "{health}");
    let metrics = wait_for(
        TIMEOUT,
        "metrics with a check duration histogram",
        || http_get(lab.node(1), api, "/metrics").unwrap().1,
        |m| m.contains("anycastd_check_duration_seconds_bucket"),
    );
    for line in [
        format!("anycastd_peer_up{{peer=\"{peer}\"}} 1"),
        format!("anycastd_vip_announced{{vip=\"{VIP4}\"}} 1"),
        format!("anycastd_vip_announced{{vip=\"{VIP6}\"}} 1"),
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no line {line:?} in:\n{metrics}"
        );
    }
    let sent = format!("anycastd_bgp_updates_sent_total{{peer=\"{peer}\"}} ");
    let updates: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix(&sent))
        .unwrap_or_else(|| panic!("no {sent:?} in:\n{metrics}"))
        .trim()
        .parse()
        .expect("a counter value");
    assert!(updates >= 1, "{metrics}");
}

/// Scenario 5: `anycastd drain`/`undrain`, for all VIPs and for one; an unknown VIP is refused.
#[test]
fn daemon_drain() {
    let lab = Lab::new(1, 1);
    let _frr = lab.start_router(0, None);
    let cfg = lab.node_config(1, "") + &vip(VIP4, "", None) + &vip(VIP4B, "", None);
    let d = Daemon::start(lab.node(1), "node1", &cfg);
    let router = lab.router(0);
    let nh = vec![node_addr(0, 1)];
    wait_next_hops(router, VIP4, &nh);
    wait_next_hops(router, VIP4B, &nh);

    let out = d.cli_ok(&["drain"]);
    println!("drain: {out}");
    wait_next_hops(router, VIP4, NONE);
    wait_next_hops(router, VIP4B, NONE);
    let st = d.status();
    for v in [VIP4, VIP4B] {
        let vs = vip_status(&st, v);
        assert_eq!(vs["drained"], true, "{st}");
        assert_eq!(vs["announced"], false, "{st}");
        assert_eq!(vs["reason"], "drained", "{st}");
    }

    d.cli_ok(&["undrain"]);
    wait_next_hops(router, VIP4, &nh);
    wait_next_hops(router, VIP4B, &nh);
    let st = d.status();
    assert_eq!(vip_status(&st, VIP4)["drained"], false, "{st}");

    d.cli_ok(&["drain", VIP4]);
    wait_next_hops(router, VIP4, NONE);
    assert_eq!(kernel_next_hops(router, VIP4B), nh, "the other VIP stays");
    let st = d.status();
    assert_eq!(vip_status(&st, VIP4)["drained"], true, "{st}");
    assert_eq!(vip_status(&st, VIP4B)["drained"], false, "{st}");
    assert_eq!(vip_status(&st, VIP4B)["announced"], true, "{st}");
    d.cli_ok(&["undrain", VIP4]);
    wait_next_hops(router, VIP4, &nh);

    let out = d.cli(&["drain", "10.9.9.9"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("no VIP 10.9.9.9 in the configuration"),
        "unclear message: {said}"
    );
    assert_eq!(kernel_next_hops(router, VIP4), nh, "nothing else changed");
    assert_eq!(kernel_next_hops(router, VIP4B), nh, "nothing else changed");
}

/// Scenario 6: SIGHUP. A valid change (new VIP, new communities) applies without resetting the
/// sessions; an invalid file is refused with FILE:LINE:COL and nothing changes; removing a
/// peer closes that session only.
#[test]
fn daemon_reload() {
    let lab = Lab::new(2, 1);
    let r0 = lab.start_router(0, None);
    let r1 = lab.start_router(1, None);
    let (p0, p1) = (node_addr(0, 1), node_addr(1, 1));
    let base = lab.node_config(1, "");
    let v1 = |c: &str| vip(VIP4, &format!("communities = [\"{c}\"]"), None);
    let d = Daemon::start(lab.node(1), "node1", &(base.clone() + &v1("65000:100")));
    wait_next_hops(lab.router(0), VIP4, &[p0.as_str()]);
    wait_next_hops(lab.router(1), VIP4, &[p1.as_str()]);
    wait_for(
        TIMEOUT,
        "community 65000:100 at r0",
        || community_from(&r0, &format!("{VIP4}/32"), &p0),
        |c| c.as_deref() == Some("65000:100"),
    );
    let before = (session_identity(&r0, &p0), session_identity(&r1, &p1));
    assert!(before.0 .0 >= 1 && before.1 .0 >= 1, "{before:?}");

    // A valid change: new VIP, other communities.
    let changed = base.clone() + &v1("65000:200") + &vip(VIP4B, "", None);
    d.reload(&changed);
    wait_next_hops(lab.router(0), VIP4B, &[p0.as_str()]);
    wait_next_hops(lab.router(1), VIP4B, &[p1.as_str()]);
    wait_for(
        TIMEOUT,
        "community 65000:200 at r0",
        || community_from(&r0, &format!("{VIP4}/32"), &p0),
        |c| c.as_deref() == Some("65000:200"),
    );
    wait_for(
        TIMEOUT,
        "community 65000:200 at r1",
        || community_from(&r1, &format!("{VIP4}/32"), &p1),
        |c| c.as_deref() == Some("65000:200"),
    );
    let after = (session_identity(&r0, &p0), session_identity(&r1, &p1));
    assert_eq!(before, after, "a session was reset by the reload");
    d.wait_log(TIMEOUT, "reload: new configuration applied");

    // An invalid file: refused, logged with its position, nothing changes.
    let invalid = changed.replace("asn = 65001", "asn = 0") + "bogus_key = 1\n";
    d.reload(&invalid);
    let log = d.wait_log(TIMEOUT, "reload rejected");
    assert!(
        has_position(&log, d.config_path()),
        "no {}:LINE:COL in the log:\n{log}",
        d.config_path().display()
    );
    // Give the daemon time to (wrongly) act on it, then check nothing moved: the next
    // check-by-poll would be meaningless otherwise. Status goes through the loop, so an
    // answered status request means the SIGHUP was handled before it.
    assert!(d.status()["node"]["asn"] == 65001, "{}", d.status());
    let mut d = d;
    assert!(d.exited().is_none(), "daemon exited on an invalid reload");
    assert_eq!(kernel_next_hops(lab.router(0), VIP4), [p0.as_str()]);
    assert_eq!(kernel_next_hops(lab.router(0), VIP4B), [p0.as_str()]);
    assert_eq!(kernel_next_hops(lab.router(1), VIP4), [p1.as_str()]);
    assert_eq!(
        (session_identity(&r0, &p0), session_identity(&r1, &p1)),
        before
    );

    // Remove the peer r1: its session closes, r0's stays.
    let only_r0 =
        lab.node_config_with_routers(1, "", &[0]) + &v1("65000:200") + &vip(VIP4B, "", None);
    d.reload(&only_r0);
    wait_next_hops(lab.router(1), VIP4, NONE);
    wait_next_hops(lab.router(1), VIP4B, NONE);
    wait_for(
        TIMEOUT,
        "r1's session to node 1 down",
        || r1.neighbor_state(&p1),
        |s| s.as_deref() != Some("Established"),
    );
    let why = neighbor(&r1, &p1)["lastNotificationReason"].to_string();
    assert!(why.contains("Cease"), "r1 was not told why: {why}");
    assert_eq!(r0.neighbor_state(&p0).as_deref(), Some("Established"));
    assert_eq!(
        session_identity(&r0, &p0),
        before.0,
        "r0's session was reset"
    );
    assert_eq!(kernel_next_hops(lab.router(0), VIP4), [p0.as_str()]);
    assert_eq!(kernel_next_hops(lab.router(0), VIP4B), [p0.as_str()]);
    let st = d.status();
    assert_eq!(st["peers"].as_array().map(Vec::len), Some(1), "{st}");
    assert_eq!(st["peers"][0]["address"], router_addr(0, 1), "{st}");
}

/// Scenario 7: two nodes, each peering with two routers; both routers have the ECMP route.
/// One router's bgpd is killed and restarted: the sessions come back and the routes are
/// announced again, with no action on the daemons.
#[test]
fn daemon_two_routers() {
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

/// Scenario 8: `anycastd run` with an invalid file exits 1 with FILE:LINE:COL errors and
/// touches nothing (the valid VIP in it is not added to `lo`).
#[test]
fn daemon_check_rejects_bad_config() {
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

/// CONTRACT: `shutdown_delay` applies "on SIGTERM/drain": a drain first announces the routes
/// with GRACEFUL_SHUTDOWN (RFC 8326), waits, then withdraws.
#[test]
fn daemon_drain_with_shutdown_delay_announces_graceful_shutdown_first() {
    let lab = Lab::new(1, 1);
    let frr = lab.start_router(0, None);
    let cfg = lab.node_config(1, "shutdown_delay = \"2s\"") + &vip(VIP4, "", None);
    let d = Daemon::start(lab.node(1), "node1", &cfg);
    let n1 = node_addr(0, 1);
    wait_next_hops(lab.router(0), VIP4, &[n1.as_str()]);

    let t0 = Instant::now();
    d.cli_ok(&["drain"]);
    // During the delay the VIP still carries traffic, and status says it is on its way out.
    let vip_status = &d.status()["vips"][0];
    assert_eq!(vip_status["drained"], true, "{vip_status}");
    assert!(
        vip_status["reason"]
            .as_str()
            .unwrap_or("")
            .starts_with("draining"),
        "{vip_status}"
    );
    let gshut = wait_for(
        Duration::from_secs(5),
        "drained route carries GRACEFUL_SHUTDOWN before it is withdrawn",
        || community_from(&frr, &format!("{VIP4}/32"), &n1),
        |c| c.as_deref() != Some(""),
    );
    assert!(
        gshut
            .as_deref()
            .is_some_and(|c| c.contains("graceful-shutdown")),
        "drain withdrew at once instead of announcing GRACEFUL_SHUTDOWN first: {gshut:?}"
    );
    wait_next_hops(lab.router(0), VIP4, NONE);
    let took = t0.elapsed();
    println!("drain with shutdown_delay 2s → withdrawn after {took:?}");
    assert!(took >= Duration::from_millis(1800), "{took:?}");
}

/// A reload that leaves a checked VIP's check alone keeps its health: the route is not
/// withdrawn while the new checker starts, and the new checker runs.
#[test]
fn daemon_reload_keeps_a_checked_vip_announced() {
    let lab = Lab::new(1, 1);
    let frr = lab.start_router(0, None);
    let backend = Backend::start(lab.node(1), 8080);
    let check = "type = \"http\"\nport = 8080\npath = \"/healthz\"\ninterval = \"1s\"\n\
                 timeout = \"500ms\"\nrise = 2\nfall = 2\n";
    let with = |c: &str| {
        lab.node_config(1, "") + &vip(VIP4, &format!("communities = [\"{c}\"]"), Some(check))
    };
    let d = Daemon::start(lab.node(1), "node1", &with("65000:100"));
    let n1 = node_addr(0, 1);
    wait_next_hops(lab.router(0), VIP4, &[n1.as_str()]);

    // Watch the router's table from before the reload until the new checker has run a few
    // times; any gap is a flap caused by the reload.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let gaps = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let mut gaps = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                if kernel_next_hops(lab.router(0), VIP4).is_empty() {
                    gaps += 1;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            gaps
        });
        d.reload(&with("65000:200"));
        wait_for(
            TIMEOUT,
            "community 65000:200 at the router",
            || community_from(&frr, &format!("{VIP4}/32"), &n1),
            |c| c.as_deref() == Some("65000:200"),
        );
        let served = backend.served();
        wait_for(
            TIMEOUT,
            "three more checks by the new checker",
            || backend.served(),
            |n| *n >= served + 3,
        );
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        watcher.join().unwrap()
    });
    assert_eq!(gaps, 0, "the VIP was withdrawn during the reload");
    let st = d.status();
    assert_eq!(vip_status(&st, VIP4)["announced"], true, "{st}");
}

/// Never announce before knowing: a VIP whose check fails from the start is never announced,
/// and status says why.
#[test]
fn daemon_never_announces_before_a_passing_check() {
    let lab = Lab::new(1, 1);
    let frr = lab.start_router(0, None);
    let backend = Backend::start(lab.node(1), 8080);
    backend.set(Mode::Unhealthy);
    let cfg = lab.node_config(1, "")
        + &vip(
            VIP4,
            "",
            Some(
                "type = \"http\"\nport = 8080\npath = \"/healthz\"\ninterval = \"1s\"\n\
                 timeout = \"500ms\"\nrise = 2\nfall = 2\n",
            ),
        );
    let d = Daemon::start(lab.node(1), "node1", &cfg);
    let n1 = node_addr(0, 1);
    // From start-up until the session is up and three checks have failed, the router never
    // sees the prefix.
    let mut seen = false;
    wait_for(
        TIMEOUT,
        "session established and three failed checks",
        || {
            seen |= !bgp_paths(&frr, &format!("{VIP4}/32")).is_empty();
            (frr.neighbor_state(&n1), backend.served())
        },
        |(state, served)| state.as_deref() == Some("Established") && *served >= 3,
    );
    seen |= !bgp_paths(&frr, &format!("{VIP4}/32")).is_empty();
    assert!(!seen, "the VIP was announced before any check passed");
    let st = d.status();
    let v = vip_status(&st, VIP4);
    assert_eq!(v["announced"], false, "{st}");
    assert!(
        v["reason"].as_str().is_some_and(|r| r.contains("503")),
        "{st}"
    );
    backend.set(Mode::Healthy);
    wait_next_hops(lab.router(0), VIP4, &[n1.as_str()]);
}

/// SIGTERM leaves the VIP's address in place; `--cleanup` (here with SIGINT) removes the
/// addresses anycastd owns, including one a previous run left, and nothing else. Once the
/// daemon is gone, `anycastd status` exits 1.
#[test]
fn daemon_exit_keeps_addresses_unless_cleanup() {
    let ns = Netns::new("n");
    ns.addr("lo", "10.100.0.9/32"); // not anycastd's: must survive the cleanup
    let cfg = "[node]\nrouter_id = \"10.0.1.2\"\nasn = 65001\n\n".to_string()
        + &vip(VIP4, "", None)
        + &vip(VIP6, "", None);
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

/// `show bgp AF unicast summary json`: prefixes received from `peer` (None if not listed).
fn pfx_rcvd(frr: &Frr, af: &str, peer: &str) -> Option<u64> {
    frr.vtysh_json(&format!("show bgp {af} unicast summary json"))["peers"][peer]["pfxRcd"].as_u64()
}

/// Many VIPs: 150 IPv4 and 150 IPv6 host routes reach the router over one session, and a
/// drain withdraws every one of them (UPDATE packing, MP_REACH/MP_UNREACH across messages).
#[test]
fn daemon_many_vips() {
    const N: usize = 150;
    let lab = Lab::new(1, 1);
    let frr = lab.start_router(0, None);
    let mut cfg = lab.node_config(1, "");
    for k in 0..N {
        cfg += &vip(&format!("10.100.{}.{}", k / 200, k % 200 + 1), "", None);
        cfg += &vip(&format!("2001:db8:100::{:x}", k + 1), "", None);
    }
    let d = Daemon::start(lab.node(1), "node1", &cfg);
    let n1 = node_addr(0, 1);
    let counts = || (pfx_rcvd(&frr, "ipv4", &n1), pfx_rcvd(&frr, "ipv6", &n1));
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
    wait_next_hops(
        lab.router(0),
        &format!("2001:db8:100::{N:x}"),
        &[node_addr6(0, 1)],
    );
}

/// The VIP's route attributes from the config reach the routers: communities, large
/// communities, MED and AS_PATH prepends to an eBGP router; LOCAL_PREF to an iBGP router.
#[test]
fn daemon_route_attributes() {
    let lab = Lab::new(2, 1);
    let ebgp = lab.start_router(0, None);
    let ibgp_conf = format!(
        "frr defaults datacenter\n!\nrouter bgp 65001\n bgp router-id 10.255.255.2\n \
         no bgp ebgp-requires-policy\n neighbor {n} remote-as 65001\n neighbor {n} timers connect 1\n!\n",
        n = node_addr(1, 1)
    );
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
fn daemon_ipv6_session() {
    let lab = Lab::new(1, 1);
    let (r6, n6) = ("2001:db8:0:1::1", node_addr6(0, 1));
    let conf = format!(
        "frr defaults datacenter\n!\nrouter bgp 65000\n bgp router-id 10.255.255.1\n \
         no bgp ebgp-requires-policy\n neighbor {n6} remote-as 65001\n neighbor {n6} timers connect 1\n \
         address-family ipv4 unicast\n  neighbor {n6} activate\n exit-address-family\n \
         address-family ipv6 unicast\n  neighbor {n6} activate\n exit-address-family\n!\n"
    );
    let frr = Frr::start(lab.router(0), &conf);
    let cfg = format!(
        "[node]\nrouter_id = \"10.0.1.2\"\nasn = 65001\n\n[bgp]\nhold_time = 9\nconnect_retry = 1\n\n\
         [[bgp.peer]]\naddress = \"{r6}\"\nasn = 65000\nnext_hop = \"{}\"\n\n",
        node_addr(0, 1)
    ) + &vip(VIP4, "", None)
        + &vip(VIP6, "", None);
    let d = Daemon::start(lab.node(1), "node1", &cfg);
    wait_next_hops(lab.router(0), VIP6, &[n6.as_str()]);
    wait_next_hops(lab.router(0), VIP4, &[node_addr(0, 1)]);
    assert_eq!(frr.neighbor_state(&n6).as_deref(), Some("Established"));
    let st = d.status();
    assert_eq!(st["peers"][0]["address"], r6, "{st}");
    assert_eq!(st["peers"][0]["routes_sent"], 2, "{st}");
}

/// A router that requires `frr_neighbor_extra` for node 1, and the node configured with
/// `peer_extra`: the session must come up and carry the VIP.
fn session_with_options(frr_neighbor_extra: &str, peer_extra: &str) {
    let lab = Lab::new(1, 1);
    let n1 = node_addr(0, 1);
    let conf = format!(
        "frr defaults datacenter\n!\nrouter bgp 65000\n bgp router-id 10.255.255.1\n \
         no bgp ebgp-requires-policy\n neighbor {n1} remote-as 65001\n neighbor {n1} timers connect 1\n \
         neighbor {n1} {frr_neighbor_extra}\n!\n"
    );
    let frr = Frr::start(lab.router(0), &conf);
    let cfg = lab
        .node_config(1, "")
        .replace("next_hop6", &format!("{peer_extra}\nnext_hop6"))
        + &vip(VIP4, "", None);
    let d = Daemon::start(lab.node(1), "node1", &cfg);
    wait_for(
        Duration::from_secs(20),
        "session established with the VIP sent",
        || d.status()["peers"][0].clone(),
        |p| p["state"] == "established" && p["routes_sent"] == 1,
    );
    wait_for(
        Duration::from_secs(20),
        "the router installs the VIP",
        || kernel_next_hops(lab.router(0), VIP4),
        |h| *h == [n1.as_str()],
    );
    assert_eq!(frr.neighbor_state(&n1).as_deref(), Some("Established"));
}

/// TCP MD5 signatures (RFC 2385): `password` against FRR's `neighbor … password`.
#[test]
fn daemon_tcp_md5() {
    session_with_options("password s3cret-md5", "password = \"s3cret-md5\"");
}

/// GTSM (RFC 5082): `ttl_security = true` against FRR's `neighbor … ttl-security hops 1`.
#[test]
fn daemon_ttl_security() {
    session_with_options("ttl-security hops 1", "ttl_security = true");
}

/// A 4-byte AS number (RFC 6793), written in asdot in the config.
#[test]
fn daemon_four_byte_asn() {
    let lab = Lab::new(1, 1);
    let n1 = node_addr(0, 1);
    let conf = format!(
        "frr defaults datacenter\n!\nrouter bgp 4200000000\n bgp router-id 10.255.255.1\n \
         no bgp ebgp-requires-policy\n neighbor {n1} remote-as 4200000001\n neighbor {n1} timers connect 1\n!\n"
    );
    let frr = Frr::start(lab.router(0), &conf);
    // 4200000001 = 64086.59905 in asdot.
    let cfg = lab
        .node_config(1, "")
        .replace("asn = 65001", "asn = \"64086.59905\"")
        .replace("asn = 65000", "asn = 4200000000")
        + &vip(VIP4, "", None);
    let d = Daemon::start(lab.node(1), "node1", &cfg);
    wait_next_hops(lab.router(0), VIP4, &[n1.as_str()]);
    let p = frr.vtysh_json(&format!("show bgp ipv4 unicast {VIP4}/32 json"))["paths"][0].clone();
    assert_eq!(p["aspath"]["string"], "4200000001", "{p}");
    assert_eq!(d.status()["node"]["asn"], 4200000001u64);
}

/// A drained node stays drained across a reload.
#[test]
fn daemon_drain_survives_reload() {
    let lab = Lab::new(1, 1);
    let _frr = lab.start_router(0, None);
    let cfg = lab.node_config(1, "") + &vip(VIP4, "", None) + &vip(VIP4B, "", None);
    let d = Daemon::start(lab.node(1), "node1", &cfg);
    let nh = [node_addr(0, 1)];
    wait_next_hops(lab.router(0), VIP4, &nh);
    wait_next_hops(lab.router(0), VIP4B, &nh);
    d.cli_ok(&["drain"]);
    wait_next_hops(lab.router(0), VIP4, NONE);
    wait_next_hops(lab.router(0), VIP4B, NONE);
    d.reload(&(cfg.clone() + &vip(VIP4C, "", None)));
    d.wait_log(TIMEOUT, "reload: new configuration applied");
    let st = d.status();
    for v in [VIP4, VIP4B, VIP4C] {
        assert_eq!(vip_status(&st, v)["drained"], true, "{st}");
        assert_eq!(vip_status(&st, v)["announced"], false, "{st}");
    }
    for v in [VIP4, VIP4B, VIP4C] {
        assert!(
            kernel_next_hops(lab.router(0), v).is_empty(),
            "{v} announced"
        );
    }
    d.cli_ok(&["undrain"]);
    for v in [VIP4, VIP4B, VIP4C] {
        wait_next_hops(lab.router(0), v, &nh);
    }
}

/// A reload that changes one peer's settings resets that session only (so the new settings
/// take effect) and leaves the other one alone.
#[test]
fn daemon_reload_resets_only_the_changed_peer() {
    let lab = Lab::new(2, 1);
    let r0 = lab.start_router(0, None);
    let r1 = lab.start_router(1, None);
    let (p0, p1) = (node_addr(0, 1), node_addr(1, 1));
    let cfg = lab.node_config(1, "") + &vip(VIP4, "", None);
    let d = Daemon::start(lab.node(1), "node1", &cfg);
    wait_next_hops(lab.router(0), VIP4, &[p0.as_str()]);
    wait_next_hops(lab.router(1), VIP4, &[p1.as_str()]);
    let before = (session_identity(&r0, &p0), session_identity(&r1, &p1));
    // Per-peer hold time 30 for the r1 peer only (its block is the second one).
    let at = cfg.rfind("[[bgp.peer]]").unwrap();
    let changed = format!(
        "{}[[bgp.peer]]\nhold_time = 6\n{}",
        &cfg[..at],
        &cfg[at + 13..]
    );
    d.reload(&changed);
    wait_for(
        TIMEOUT,
        "r1's session re-established with hold time 6",
        || neighbor(&r1, &p1),
        |n| n["bgpState"] == "Established" && n["bgpTimerHoldTimeMsecs"] == 6000,
    );
    assert_eq!(
        session_identity(&r1, &p1).0,
        before.1 .0 + 1,
        "r1 not reset once"
    );
    assert_eq!(
        session_identity(&r0, &p0),
        before.0,
        "r0's session was reset"
    );
    wait_next_hops(lab.router(1), VIP4, &[p1.as_str()]);
}

/// GTSM's receive side (RFC 5082 §3): with `ttl_security = true`, a directly connected peer
/// whose packets arrive with a TTL below 255 (FRR's eBGP default sends TTL 1) is not accepted.
/// Watched over several connect-retry and keepalive cycles.
#[test]
fn daemon_ttl_security_refuses_a_peer_that_does_not_send_ttl_255() {
    let lab = Lab::new(1, 1);
    let _frr = lab.start_router(0, None);
    let cfg = lab
        .node_config(1, "")
        .replace("next_hop6", "ttl_security = true\nnext_hop6")
        + &vip(VIP4, "", None);
    let d = Daemon::start(lab.node(1), "node1", &cfg);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(6) {
        let st = d.status();
        assert_ne!(
            st["peers"][0]["state"], "established",
            "session accepted from a peer sending TTL < 255: {st}"
        );
        assert!(
            kernel_next_hops(lab.router(0), VIP4).is_empty(),
            "route announced over a session GTSM should refuse"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// With a non-loopback `api.listen`, POSTs from another host need the bearer token: the CLI
/// run on the router without it is refused (403, exit 1, nothing drained); with it, the
/// drain happens. GETs need no token.
#[test]
fn daemon_api_token_guards_remote_drain() {
    let lab = Lab::new(1, 1);
    let _frr = lab.start_router(0, None);
    let cfg = lab.node_config(1, "").replace(
        "listen = \"127.0.0.1:9180\"",
        "listen = \"0.0.0.0:9180\"\ntoken = \"t0k3n-xyz\"",
    ) + &vip(VIP4, "", None);
    let _d = Daemon::start(lab.node(1), "node1", &cfg);
    let n1 = node_addr(0, 1);
    wait_next_hops(lab.router(0), VIP4, &[n1.as_str()]);
    let url = format!("http://{n1}:9180");
    let nocfg = "/nonexistent/anycastd.toml";

    let out = Daemon::cli_in(lab.router(0), &["status", "--api", &url, "-c", nocfg]);
    assert!(out.status.success(), "remote GET /status refused: {out:?}");

    let out = Daemon::cli_in(lab.router(0), &["drain", "--api", &url, "-c", nocfg]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("403"), "not a 403: {said}");
    assert_eq!(kernel_next_hops(lab.router(0), VIP4), [n1.as_str()]);

    let out = Daemon::cli_in(
        lab.router(0),
        &["drain", "--api", &url, "-c", nocfg, "--token", "t0k3n-xyz"],
    );
    assert!(out.status.success(), "{out:?}");
    wait_next_hops(lab.router(0), VIP4, NONE);
}

/// A reload that drops a VIP withdraws it and removes the address anycastd added; one that
/// points a check at a dead port withdraws that VIP once the new check fails.
#[test]
fn daemon_reload_removes_a_vip_and_applies_a_changed_check() {
    let lab = Lab::new(1, 1);
    let _frr = lab.start_router(0, None);
    let _backend = Backend::start(lab.node(1), 8080);
    let check = |port: u16| {
        format!("type = \"tcp\"\nport = {port}\ninterval = \"1s\"\ntimeout = \"500ms\"\nrise = 2\nfall = 2\n")
    };
    let base = lab.node_config(1, "");
    let cfg = base.clone() + &vip(VIP4, "", Some(&check(8080))) + &vip(VIP4B, "", None);
    let d = Daemon::start(lab.node(1), "node1", &cfg);
    let nh = [node_addr(0, 1)];
    wait_next_hops(lab.router(0), VIP4, &nh);
    wait_next_hops(lab.router(0), VIP4B, &nh);
    let lo = || lab.node(1).ip(&["addr", "show", "dev", "lo"]);
    assert!(lo().contains(&format!("{VIP4B}/32")), "{}", lo());

    d.reload(&(base.clone() + &vip(VIP4, "", Some(&check(8080)))));
    wait_next_hops(lab.router(0), VIP4B, NONE);
    wait_for(
        TIMEOUT,
        "the dropped VIP's address removed from lo",
        lo,
        |l| !l.contains(&format!("{VIP4B}/32")),
    );
    assert_eq!(
        kernel_next_hops(lab.router(0), VIP4),
        nh,
        "the kept VIP stays"
    );

    d.reload(&(base + &vip(VIP4, "", Some(&check(8099)))));
    let t = time_until(
        TIMEOUT,
        "VIP withdrawn after its check moved to a dead port",
        || kernel_next_hops(lab.router(0), VIP4).is_empty(),
    );
    println!("check moved to a dead port → withdrawn in {t:?}");
    let st = d.status();
    assert_eq!(vip_status(&st, VIP4)["announced"], false, "{st}");
}

/// The kernel drifts (someone deletes the VIP's address): the daemon puts it back.
#[test]
fn daemon_repairs_a_deleted_vip_address() {
    let ns = Netns::new("n");
    let cfg =
        "[node]\nrouter_id = \"10.0.1.2\"\nasn = 65001\n\n".to_string() + &vip(VIP4, "", None);
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

/// A `[vip.check]` on an IPv6 VIP (tcp to [VIP]:port) drives its announcement.
#[test]
fn daemon_ipv6_vip_check() {
    let lab = Lab::new(1, 1);
    let _frr = lab.start_router(0, None);
    let backend = Backend::start(lab.node(1), 8080);
    let cfg = lab.node_config(1, "")
        + &vip(
            VIP6,
            "",
            Some("type = \"tcp\"\nport = 8080\ninterval = \"1s\"\ntimeout = \"500ms\"\nrise = 2\nfall = 2\n"),
        );
    let _d = Daemon::start(lab.node(1), "node1", &cfg);
    let nh = [node_addr6(0, 1)];
    wait_next_hops(lab.router(0), VIP6, &nh);
    backend.set(Mode::Dead);
    wait_next_hops(lab.router(0), VIP6, NONE);
    backend.set(Mode::Healthy);
    wait_next_hops(lab.router(0), VIP6, &nh);
}

/// A second SIGTERM during `shutdown_delay` skips the rest of the delay.
#[test]
fn daemon_second_sigterm_skips_the_shutdown_delay() {
    let lab = Lab::new(1, 1);
    let frr = lab.start_router(0, None);
    let cfg = lab.node_config(1, "shutdown_delay = \"60s\"") + &vip(VIP4, "", None);
    let mut d = Daemon::start(lab.node(1), "node1", &cfg);
    let n1 = node_addr(0, 1);
    wait_next_hops(lab.router(0), VIP4, &[n1.as_str()]);
    d.signal(Signal::SIGTERM);
    wait_for(
        Duration::from_secs(5),
        "GRACEFUL_SHUTDOWN at the router",
        || community_from(&frr, &format!("{VIP4}/32"), &n1),
        |c| {
            c.as_deref()
                .is_some_and(|c| c.contains("graceful-shutdown"))
        },
    );
    let t0 = Instant::now();
    d.signal(Signal::SIGTERM);
    assert_eq!(d.wait_exit(Duration::from_secs(10)).code(), Some(0));
    println!("second SIGTERM → exit in {:?}", t0.elapsed());
    wait_next_hops(lab.router(0), VIP4, NONE);
}

/// The API port is taken: `anycastd run` exits 1 saying so, before touching anything.
#[test]
fn daemon_refuses_to_start_when_the_api_port_is_taken() {
    let ns = Netns::new("n");
    let _squatter = Backend::start(&ns, 9180);
    let cfg =
        "[node]\nrouter_id = \"10.0.1.2\"\nasn = 65001\n\n".to_string() + &vip(VIP4, "", None);
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

/// An exec check that hangs past its timeout fails (the VIP is never announced), and its
/// processes are killed rather than piling up.
#[test]
fn daemon_exec_check_timeout_kills_the_command() {
    let lab = Lab::new(1, 1);
    let _frr = lab.start_router(0, None);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("runs");
    // Each run appends a line, then hangs far past the 500 ms timeout.
    let cmd = format!("echo x >> {}; exec sleep 30", marker.display());
    let cfg = lab.node_config(1, "")
        + &vip(
            VIP4,
            "",
            Some(&format!(
                "type = \"exec\"\nport = 1\ncommand = [\"/bin/sh\", \"-c\", \"{cmd}\"]\n\
                 interval = \"1s\"\ntimeout = \"500ms\"\nrise = 2\nfall = 2\n"
            )),
        );
    let d = Daemon::start(lab.node(1), "node1", &cfg);
    let runs = || {
        std::fs::read_to_string(&marker)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    wait_for(TIMEOUT, "four runs of the check", runs, |n| *n >= 4);
    let sleeps = run("ip", &["netns", "pids", lab.node(1).name()])
        .split_whitespace()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
        })
        .count();
    assert!(sleeps <= 1, "{sleeps} hung check processes left running");
    assert!(kernel_next_hops(lab.router(0), VIP4).is_empty());
    let st = d.status();
    let v = vip_status(&st, VIP4);
    assert_eq!(v["announced"], false, "{st}");
    println!("reason: {}", v["reason"]);
}

/// The node starts before its router: once the router comes up, the session and the route
/// follow without touching the daemon (connect retries back off from `connect_retry`, 1 s).
#[test]
fn daemon_starts_before_the_router() {
    let lab = Lab::new(1, 1);
    let cfg = lab.node_config(1, "") + &vip(VIP4, "", None);
    let d = Daemon::start(lab.node(1), "node1", &cfg);
    wait_for(
        TIMEOUT,
        "the daemon has tried and failed to connect a few times",
        || d.log().matches("refused").count(),
        |n| *n >= 2,
    );
    let _frr = lab.start_router(0, None);
    let t = time_until(TIMEOUT, "route at the router", || {
        kernel_next_hops(lab.router(0), VIP4) == [node_addr(0, 1)]
    });
    println!("router up → route installed in {t:?}");
}

/// Graceful drain of one VIP: only that VIP carries GRACEFUL_SHUTDOWN and is withdrawn.
#[test]
fn daemon_graceful_drain_of_one_vip_leaves_the_other_alone() {
    let lab = Lab::new(1, 1);
    let frr = lab.start_router(0, None);
    let cfg = lab.node_config(1, "shutdown_delay = \"2s\"")
        + &vip(VIP4, "", None)
        + &vip(VIP4B, "", None);
    let d = Daemon::start(lab.node(1), "node1", &cfg);
    let n1 = node_addr(0, 1);
    wait_next_hops(lab.router(0), VIP4, &[n1.as_str()]);
    wait_next_hops(lab.router(0), VIP4B, &[n1.as_str()]);
    d.cli_ok(&["drain", VIP4]);
    let mut other_gshut = false;
    wait_for(
        Duration::from_secs(10),
        "the drained VIP withdrawn after its delay",
        || {
            other_gshut |= community_from(&frr, &format!("{VIP4B}/32"), &n1)
                .is_some_and(|c| c.contains("graceful-shutdown"));
            kernel_next_hops(lab.router(0), VIP4)
        },
        |h| h.is_empty(),
    );
    assert!(!other_gshut, "the VIP not drained got GRACEFUL_SHUTDOWN");
    assert_eq!(kernel_next_hops(lab.router(0), VIP4B), [n1.as_str()]);
}

/// `undrain` during a graceful drain's delay cancels it: the route stays, without
/// GRACEFUL_SHUTDOWN.
#[test]
fn daemon_undrain_during_the_shutdown_delay_cancels_the_drain() {
    let lab = Lab::new(1, 1);
    let frr = lab.start_router(0, None);
    let cfg = lab.node_config(1, "shutdown_delay = \"2s\"") + &vip(VIP4, "", None);
    let d = Daemon::start(lab.node(1), "node1", &cfg);
    let n1 = node_addr(0, 1);
    wait_next_hops(lab.router(0), VIP4, &[n1.as_str()]);
    d.cli_ok(&["drain"]);
    wait_for(
        Duration::from_secs(5),
        "GRACEFUL_SHUTDOWN at the router",
        || community_from(&frr, &format!("{VIP4}/32"), &n1),
        |c| {
            c.as_deref()
                .is_some_and(|c| c.contains("graceful-shutdown"))
        },
    );
    d.cli_ok(&["undrain"]);
    wait_for(
        Duration::from_secs(5),
        "GRACEFUL_SHUTDOWN removed",
        || community_from(&frr, &format!("{VIP4}/32"), &n1),
        |c| c.as_deref() == Some(""),
    );
    // Past the original delay, the route must still be there.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(3) {
        assert_eq!(
            kernel_next_hops(lab.router(0), VIP4),
            [n1.as_str()],
            "the cancelled drain withdrew the VIP"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let st = d.status();
    assert_eq!(vip_status(&st, VIP4)["drained"], false, "{st}");
}

/// `drain` (all, graceful) then `undrain VIP` before the delay ends: the named VIP stays
/// announced when the drain of the others completes, as it would without a delay.
#[test]
fn daemon_undrain_of_one_vip_survives_a_pending_drain_of_all() {
    let lab = Lab::new(1, 1);
    let _frr = lab.start_router(0, None);
    let cfg = lab.node_config(1, "shutdown_delay = \"2s\"")
        + &vip(VIP4, "", None)
        + &vip(VIP4B, "", None);
    let d = Daemon::start(lab.node(1), "node1", &cfg);
    let n1 = node_addr(0, 1);
    wait_next_hops(lab.router(0), VIP4, &[n1.as_str()]);
    wait_next_hops(lab.router(0), VIP4B, &[n1.as_str()]);
    d.cli_ok(&["drain"]);
    d.cli_ok(&["undrain", VIP4]);
    wait_next_hops(lab.router(0), VIP4B, NONE);
    let st = d.status();
    assert_eq!(
        kernel_next_hops(lab.router(0), VIP4),
        [n1.as_str()],
        "the undrained VIP was withdrawn by the earlier drain: {st}"
    );
    assert_eq!(vip_status(&st, VIP4)["drained"], false, "{st}");
}

/// An HTTP backend that accepts but never answers fails its check by timeout; /metrics and
/// status follow the withdrawal.
#[test]
fn daemon_http_check_times_out_on_a_silent_backend() {
    let lab = Lab::new(1, 1);
    let _frr = lab.start_router(0, None);
    let backend = Backend::start(lab.node(1), 8080);
    let cfg = lab.node_config(1, "")
        + &vip(
            VIP4,
            "",
            Some(
                "type = \"http\"\nport = 8080\npath = \"/healthz\"\ninterval = \"1s\"\n\
                 timeout = \"500ms\"\nrise = 2\nfall = 2\n",
            ),
        );
    let d = Daemon::start(lab.node(1), "node1", &cfg);
    let nh = [node_addr(0, 1)];
    wait_next_hops(lab.router(0), VIP4, &nh);
    backend.set(Mode::Hang);
    let t = time_until(TIMEOUT, "withdrawn after timeouts", || {
        kernel_next_hops(lab.router(0), VIP4).is_empty()
    });
    println!("silent backend → withdrawn in {t:?}");
    assert!(t <= Duration::from_secs(3), "{t:?}");
    let st = d.status();
    let reason = vip_status(&st, VIP4)["reason"].to_string();
    assert!(reason.contains("timed out"), "{st}");
    let api: SocketAddr = "127.0.0.1:9180".parse().unwrap();
    let (_, metrics) = http_get(lab.node(1), api, "/metrics").unwrap();
    let line = format!("anycastd_vip_announced{{vip=\"{VIP4}\"}} 0");
    assert!(
        metrics.lines().any(|l| l == line),
        "no {line:?} in:\n{metrics}"
    );
    backend.set(Mode::Healthy);
    wait_next_hops(lab.router(0), VIP4, &nh);
}

/// The router asks for our routes again (ROUTE-REFRESH, `clear bgp … soft in`) and shuts the
/// neighbor down administratively and back up: the session and the route recover each time.
#[test]
fn daemon_route_refresh_and_router_side_neighbor_shutdown() {
    let lab = Lab::new(1, 1);
    let frr = lab.start_router(0, None);
    let cfg = lab.node_config(1, "") + &vip(VIP4, "", None);
    let d = Daemon::start(lab.node(1), "node1", &cfg);
    let n1 = node_addr(0, 1);
    wait_next_hops(lab.router(0), VIP4, &[n1.as_str()]);
    let updates = |d: &Daemon| d.status()["peers"][0]["updates_sent"].as_u64().unwrap_or(0);
    let before = wait_for(TIMEOUT, "an update sent", || updates(&d), |n| *n >= 1);
    let established = session_identity(&frr, &n1);

    frr.vtysh(&format!("clear bgp ipv4 unicast {n1} soft in"));
    wait_for(
        TIMEOUT,
        "routes resent after ROUTE-REFRESH",
        || updates(&d),
        |n| *n > before,
    );
    assert_eq!(
        session_identity(&frr, &n1),
        established,
        "the session was reset"
    );
    assert_eq!(kernel_next_hops(lab.router(0), VIP4), [n1.as_str()]);

    frr.vtysh(&format!(
        "configure terminal\nrouter bgp 65000\nneighbor {n1} shutdown"
    ));
    wait_next_hops(lab.router(0), VIP4, NONE);
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
        || kernel_next_hops(lab.router(0), VIP4) == [n1.as_str()],
    );
    println!("neighbor re-enabled on the router → route back in {t:?}");
}

/// `anycastd drain VIP VIP` drains the named VIPs and no other.
#[test]
fn daemon_drain_several_named_vips() {
    let lab = Lab::new(1, 1);
    let _frr = lab.start_router(0, None);
    let cfg = lab.node_config(1, "")
        + &vip(VIP4, "", None)
        + &vip(VIP4B, "", None)
        + &vip(VIP4C, "", None);
    let d = Daemon::start(lab.node(1), "node1", &cfg);
    let nh = [node_addr(0, 1)];
    for v in [VIP4, VIP4B, VIP4C] {
        wait_next_hops(lab.router(0), v, &nh);
    }
    d.cli_ok(&["drain", VIP4, VIP4C]);
    wait_next_hops(lab.router(0), VIP4, NONE);
    wait_next_hops(lab.router(0), VIP4C, NONE);
    assert_eq!(kernel_next_hops(lab.router(0), VIP4B), nh);
    d.cli_ok(&["undrain", VIP4, VIP4C]);
    wait_next_hops(lab.router(0), VIP4, &nh);
    wait_next_hops(lab.router(0), VIP4C, &nh);
}

/// Issue 7: a planned restart (SIGUSR2, then a new process) keeps the route at a router that
/// negotiated graceful restart: the old process closes its session without a NOTIFICATION
/// and exits 75, the router keeps the route (stale), and the new process holds its End-of-RIB
/// until its first health results are in, so the route never leaves the router's kernel table.
#[test]
fn daemon_graceful_restart_keeps_the_route_through_a_planned_restart() {
    let lab = Lab::new(1, 1);
    let conf = support::lab::router_conf("10.255.255.1", &[node_addr(0, 1)], None).replacen(
        " no bgp ebgp-requires-policy\n",
        " no bgp ebgp-requires-policy\n bgp graceful-restart\n",
        1,
    );
    let frr = Frr::start(lab.router(0), &conf);
    let _backend = Backend::start(lab.node(1), 8080);
    let check = "type = \"http\"\nport = 8080\npath = \"/healthz\"\ninterval = \"2s\"\n\
                 timeout = \"500ms\"\nrise = 2\nfall = 2\n";
    let cfg = lab.node_config(1, "") + &vip(VIP4, "", Some(check));
    let mut old = Daemon::start(lab.node(1), "old", &cfg);
    let n1 = node_addr(0, 1);
    wait_next_hops(lab.router(0), VIP4, &[n1.as_str()]);

    let mut gaps = 0;
    let mut polls = 0;
    let mut watch = |until: &mut dyn FnMut() -> bool| {
        while !until() {
            polls += 1;
            if kernel_next_hops(lab.router(0), VIP4) != [n1.clone()] {
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

    let new = Daemon::start(lab.node(1), "new", &cfg);
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
    let paths = bgp_paths(&frr, &format!("{VIP4}/32"));
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
    let lab = Lab::new(1, 1);
    let _frr = lab.start_router(0, None);
    let cfg = lab.node_config(1, "") + &vip(VIP4, "", None);
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
    let d = Daemon::start_wrapped(lab.node(1), "node1", &cfg, &setpriv, &[]);
    wait_next_hops(lab.router(0), VIP4, &[node_addr(0, 1)]);
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
    let addrs = lab.node(1).ip(&["addr", "show", "dev", "lo"]);
    assert!(addrs.contains("10.100.0.1/32"), "{addrs}");
}

/// Issue 7: a link flap longer than the hold time kills the session on both sides; when the
/// link comes back the daemon reconnects and re-announces on its own.
#[test]
fn daemon_recovers_from_a_link_flap_on_its_own() {
    let lab = Lab::new(1, 1);
    // The router proposes hold 3 s, so the session dies quickly while the link is down.
    let _frr = lab.start_router(0, Some((1, 3)));
    let cfg = lab.node_config(1, "") + &vip(VIP4, "", None);
    let d = Daemon::start(lab.node(1), "node1", &cfg);
    let n1 = node_addr(0, 1);
    wait_next_hops(lab.router(0), VIP4, &[n1.as_str()]);

    lab.node(1).ip(&["link", "set", "eth0", "down"]);
    wait_next_hops(lab.router(0), VIP4, NONE);
    let down = wait_for(
        Duration::from_secs(15),
        "the daemon's session leaves established while the link is down",
        || d.status()["peers"][0]["state"].as_str().map(str::to_string),
        |s| s.as_deref().is_some_and(|s| s != "established"),
    );
    lab.node(1).ip(&["link", "set", "eth0", "up"]);
    let t0 = Instant::now();
    wait_next_hops(lab.router(0), VIP4, &[n1.as_str()]);
    println!(
        "link flap: session was {down:?} while down; route back {:?} after link up",
        t0.elapsed()
    );
}
