//! `anycastd drain`/`undrain`: for all VIPs, named ones, with `shutdown_delay` (GRACEFUL_SHUTDOWN
//! first), cancelled, and across a reload.

use super::*;

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
