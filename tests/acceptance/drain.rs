//! `anycastd drain`/`undrain`: for all VIPs, named ones, with `shutdown_delay` (GRACEFUL_SHUTDOWN
//! first), cancelled, and across a reload.

use super::*;

/// Scenario 5: `anycastd drain`/`undrain`, for all VIPs and for one; an unknown VIP is refused.
#[test]
fn drain_and_undrain_move_all_vips_or_one_and_an_unknown_vip_is_refused() {
    let s = Scenario::one_router_one_node();
    let cfg = s.config("") + &vip(VIP4, "", None) + &vip(VIP4B, "", None);
    let d = s.start(&cfg);
    s.wait_announced(VIP4);
    s.wait_announced(VIP4B);

    let out = d.cli_ok(&["drain"]);
    println!("drain: {out}");
    s.wait_withdrawn(VIP4);
    s.wait_withdrawn(VIP4B);
    let st = d.status();
    for v in [VIP4, VIP4B] {
        let vs = vip_status(&st, v);
        assert_eq!(vs["drained"], true, "{st}");
        assert_eq!(vs["announced"], false, "{st}");
        assert_eq!(vs["reason"], "drained", "{st}");
    }

    d.cli_ok(&["undrain"]);
    s.wait_announced(VIP4);
    s.wait_announced(VIP4B);
    let st = d.status();
    assert_eq!(vip_status(&st, VIP4)["drained"], false, "{st}");

    d.cli_ok(&["drain", VIP4]);
    s.wait_withdrawn(VIP4);
    s.assert_announced(VIP4B, "the other VIP stays");
    let st = d.status();
    assert_eq!(vip_status(&st, VIP4)["drained"], true, "{st}");
    assert_eq!(vip_status(&st, VIP4B)["drained"], false, "{st}");
    assert_eq!(vip_status(&st, VIP4B)["announced"], true, "{st}");
    d.cli_ok(&["undrain", VIP4]);
    s.wait_announced(VIP4);

    let out = d.cli(&["drain", "10.9.9.9"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("no VIP 10.9.9.9 in the configuration"),
        "unclear message: {said}"
    );
    s.assert_announced(VIP4, "nothing else changed");
    s.assert_announced(VIP4B, "nothing else changed");
}

/// CONTRACT: `shutdown_delay` applies "on SIGTERM/drain": a drain first announces the routes
/// with GRACEFUL_SHUTDOWN (RFC 8326), waits, then withdraws.
#[test]
fn daemon_drain_with_shutdown_delay_announces_graceful_shutdown_first() {
    let s = Scenario::one_router_one_node();
    let d = s.start(&(s.config("shutdown_delay = \"2s\"") + &vip(VIP4, "", None)));
    s.wait_announced(VIP4);

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
        || s.community(VIP4),
        |c| c.as_deref() != Some(""),
    );
    assert!(
        gshut
            .as_deref()
            .is_some_and(|c| c.contains("graceful-shutdown")),
        "drain withdrew at once instead of announcing GRACEFUL_SHUTDOWN first: {gshut:?}"
    );
    s.wait_withdrawn(VIP4);
    let took = t0.elapsed();
    println!("drain with shutdown_delay 2s → withdrawn after {took:?}");
    assert!(took >= Duration::from_millis(1800), "{took:?}");
}

/// A drained node stays drained across a reload.
#[test]
fn a_drained_node_stays_drained_across_a_reload_that_adds_a_vip() {
    let s = Scenario::one_router_one_node();
    let cfg = s.config("") + &vip(VIP4, "", None) + &vip(VIP4B, "", None);
    let d = s.start(&cfg);
    s.wait_announced(VIP4);
    s.wait_announced(VIP4B);
    d.cli_ok(&["drain"]);
    s.wait_withdrawn(VIP4);
    s.wait_withdrawn(VIP4B);
    d.reload(&(cfg.clone() + &vip(VIP4C, "", None)));
    d.wait_log(TIMEOUT, "reload: new configuration applied");
    let st = d.status();
    for v in [VIP4, VIP4B, VIP4C] {
        assert_eq!(vip_status(&st, v)["drained"], true, "{st}");
        assert_eq!(vip_status(&st, v)["announced"], false, "{st}");
    }
    for v in [VIP4, VIP4B, VIP4C] {
        assert!(s.hops(v).is_empty(), "{v} announced");
    }
    d.cli_ok(&["undrain"]);
    for v in [VIP4, VIP4B, VIP4C] {
        s.wait_announced(v);
    }
}

/// Graceful drain of one VIP: only that VIP carries GRACEFUL_SHUTDOWN and is withdrawn.
#[test]
fn daemon_graceful_drain_of_one_vip_leaves_the_other_alone() {
    let s = Scenario::one_router_one_node();
    let cfg = s.config("shutdown_delay = \"2s\"") + &vip(VIP4, "", None) + &vip(VIP4B, "", None);
    let d = s.start(&cfg);
    s.wait_announced(VIP4);
    s.wait_announced(VIP4B);
    d.cli_ok(&["drain", VIP4]);
    let mut other_gshut = false;
    wait_for(
        Duration::from_secs(10),
        "the drained VIP withdrawn after its delay",
        || {
            other_gshut |= s
                .community(VIP4B)
                .is_some_and(|c| c.contains("graceful-shutdown"));
            s.hops(VIP4)
        },
        |h| h.is_empty(),
    );
    assert!(!other_gshut, "the VIP not drained got GRACEFUL_SHUTDOWN");
    s.assert_announced(VIP4B, "the VIP not drained stays");
}

/// `undrain` during a graceful drain's delay cancels it: the route stays, without
/// GRACEFUL_SHUTDOWN.
#[test]
fn daemon_undrain_during_the_shutdown_delay_cancels_the_drain() {
    let s = Scenario::one_router_one_node();
    let d = s.start(&(s.config("shutdown_delay = \"2s\"") + &vip(VIP4, "", None)));
    s.wait_announced(VIP4);
    d.cli_ok(&["drain"]);
    s.wait_graceful_shutdown(VIP4);
    d.cli_ok(&["undrain"]);
    wait_for(
        Duration::from_secs(5),
        "GRACEFUL_SHUTDOWN removed",
        || s.community(VIP4),
        |c| c.as_deref() == Some(""),
    );
    // Past the original delay, the route must still be there.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(3) {
        s.assert_announced(VIP4, "the cancelled drain withdrew the VIP");
        std::thread::sleep(Duration::from_millis(100));
    }
    let st = d.status();
    assert_eq!(vip_status(&st, VIP4)["drained"], false, "{st}");
}

/// `drain` (all, graceful) then `undrain VIP` before the delay ends: the named VIP stays
/// announced when the drain of the others completes, as it would without a delay.
#[test]
fn daemon_undrain_of_one_vip_survives_a_pending_drain_of_all() {
    let s = Scenario::one_router_one_node();
    let cfg = s.config("shutdown_delay = \"2s\"") + &vip(VIP4, "", None) + &vip(VIP4B, "", None);
    let d = s.start(&cfg);
    s.wait_announced(VIP4);
    s.wait_announced(VIP4B);
    d.cli_ok(&["drain"]);
    d.cli_ok(&["undrain", VIP4]);
    s.wait_withdrawn(VIP4B);
    let st = d.status();
    s.assert_announced(
        VIP4,
        &format!("the undrained VIP was withdrawn by the earlier drain: {st}"),
    );
    assert_eq!(vip_status(&st, VIP4)["drained"], false, "{st}");
}

/// `anycastd drain VIP VIP` drains the named VIPs and no other.
#[test]
fn draining_several_named_vips_withdraws_those_and_no_other() {
    let s = Scenario::one_router_one_node();
    let cfg = s.config("") + &vip(VIP4, "", None) + &vip(VIP4B, "", None) + &vip(VIP4C, "", None);
    let d = s.start(&cfg);
    for v in [VIP4, VIP4B, VIP4C] {
        s.wait_announced(v);
    }
    d.cli_ok(&["drain", VIP4, VIP4C]);
    s.wait_withdrawn(VIP4);
    s.wait_withdrawn(VIP4C);
    s.assert_announced(VIP4B, "the VIP not named stays");
    d.cli_ok(&["undrain", VIP4, VIP4C]);
    s.wait_announced(VIP4);
    s.wait_announced(VIP4C);
}
