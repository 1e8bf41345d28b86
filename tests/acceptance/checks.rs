//! `[vip.check]` drives announce and withdraw: http, tcp and exec checks, over IPv4 and IPv6,
//! failing by status, refusal, exit code and timeout.

use super::*;

/// Scenario 3: `[vip.check]` drives announce/withdraw. http (503, refused), tcp (refused) and
/// exec (a file's presence), interval 1s, fall 2, rise 2: a withdrawal reaches the router
/// within interval × fall + 1 s of the failure.
#[test]
fn failing_http_tcp_and_exec_checks_withdraw_within_interval_times_fall_and_recover() {
    let s = Scenario::one_router_one_node();
    let http = Backend::start(s.node(), 8080);
    let tcp = Backend::start(s.node(), 8081);
    let dir = tempfile::tempdir().unwrap();
    let down = dir.path().join("down");
    let cfg = s.config("")
        + &vip(VIP4, "", Some(&http_check(8080)))
        + &vip(VIP4B, "", Some(&tcp_check(8081)))
        + &vip(
            VIP4C,
            "",
            Some(&exec_check(&format!("test ! -e {}", down.display()))),
        );
    let _d = s.start(&cfg);
    for v in [VIP4, VIP4B, VIP4C] {
        s.wait_announced(v);
    }
    let limit = Duration::from_secs(3); // interval × fall + 1 s
    let announced = |v: &str| s.announced(v);

    std::thread::scope(|scope| {
        scope.spawn(|| {
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
        scope.spawn(|| {
            tcp.set(Mode::Dead);
            let t = time_until(TIMEOUT, "tcp refused → withdrawn", || !announced(VIP4B));
            println!("tcp check: refused → withdrawn at the router in {t:?}");
            assert!(t <= limit, "tcp withdrawal took {t:?}");
            tcp.set(Mode::Healthy);
            let t = time_until(TIMEOUT, "tcp accepts → announced", || announced(VIP4B));
            println!("tcp check: accepting → re-announced in {t:?}");
        });
        scope.spawn(|| {
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

/// Never announce before knowing: a VIP whose check fails from the start is never announced,
/// and status says why.
#[test]
fn daemon_never_announces_before_a_passing_check() {
    let s = Scenario::one_router_one_node();
    let backend = Backend::start(s.node(), 8080);
    backend.set(Mode::Unhealthy);
    let d = s.start(&(s.config("") + &vip(VIP4, "", Some(&http_check(8080)))));
    let (frr, n1) = (s.frr(), node_addr(0, 1));
    // From start-up until the session is up and three checks have failed, the router never
    // sees the prefix.
    let mut seen = false;
    wait_for(
        TIMEOUT,
        "session established and three failed checks",
        || {
            seen |= !bgp_paths(frr, &format!("{VIP4}/32")).is_empty();
            (frr.neighbor_state(&n1), backend.served())
        },
        |(state, served)| state.as_deref() == Some("Established") && *served >= 3,
    );
    seen |= !bgp_paths(frr, &format!("{VIP4}/32")).is_empty();
    assert!(!seen, "the VIP was announced before any check passed");
    let st = d.status();
    let v = vip_status(&st, VIP4);
    assert_eq!(v["announced"], false, "{st}");
    assert!(
        v["reason"].as_str().is_some_and(|r| r.contains("503")),
        "{st}"
    );
    backend.set(Mode::Healthy);
    s.wait_announced(VIP4);
}

/// A `[vip.check]` on an IPv6 VIP (tcp to [VIP]:port) drives its announcement.
#[test]
fn a_tcp_check_on_an_ipv6_vip_withdraws_and_reannounces_it() {
    let s = Scenario::one_router_one_node();
    let backend = Backend::start(s.node(), 8080);
    let _d = s.start(&(s.config("") + &vip(VIP6, "", Some(&tcp_check(8080)))));
    s.wait_announced(VIP6);
    backend.set(Mode::Dead);
    s.wait_withdrawn(VIP6);
    backend.set(Mode::Healthy);
    s.wait_announced(VIP6);
}

/// An exec check that hangs past its timeout fails (the VIP is never announced), and its
/// processes are killed rather than piling up.
#[test]
fn daemon_exec_check_timeout_kills_the_command() {
    let s = Scenario::one_router_one_node();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("runs");
    // Each run appends a line, then hangs far past the 500 ms timeout.
    let cmd = format!("echo x >> {}; exec sleep 30", marker.display());
    let d = s.start(&(s.config("") + &vip(VIP4, "", Some(&exec_check(&cmd)))));
    let runs = || {
        std::fs::read_to_string(&marker)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    wait_for(TIMEOUT, "four runs of the check", runs, |n| *n >= 4);
    let sleeps = run("ip", &["netns", "pids", s.node().name()])
        .split_whitespace()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
        })
        .count();
    assert!(sleeps <= 1, "{sleeps} hung check processes left running");
    assert!(s.hops(VIP4).is_empty());
    let st = d.status();
    let v = vip_status(&st, VIP4);
    assert_eq!(v["announced"], false, "{st}");
    println!("reason: {}", v["reason"]);
}

/// An HTTP backend that accepts but never answers fails its check by timeout; /metrics and
/// status follow the withdrawal.
#[test]
fn daemon_http_check_times_out_on_a_silent_backend() {
    let s = Scenario::one_router_one_node();
    let backend = Backend::start(s.node(), 8080);
    let d = s.start(&(s.config("") + &vip(VIP4, "", Some(&http_check(8080)))));
    s.wait_announced(VIP4);
    backend.set(Mode::Hang);
    let t = time_until(TIMEOUT, "withdrawn after timeouts", || {
        s.hops(VIP4).is_empty()
    });
    println!("silent backend → withdrawn in {t:?}");
    assert!(t <= Duration::from_secs(3), "{t:?}");
    let st = d.status();
    let reason = vip_status(&st, VIP4)["reason"].to_string();
    assert!(reason.contains("timed out"), "{st}");
    let (_, metrics) = http_get(s.node(), API.parse().unwrap(), "/metrics").unwrap();
    let line = format!("anycastd_vip_announced{{vip=\"{VIP4}\"}} 0");
    assert!(
        metrics.lines().any(|l| l == line),
        "no {line:?} in:\n{metrics}"
    );
    backend.set(Mode::Healthy);
    s.wait_announced(VIP4);
}
