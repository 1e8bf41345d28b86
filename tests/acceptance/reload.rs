//! SIGHUP: what a reload changes, what it leaves alone, and what it refuses.

use super::*;

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

/// Scenario 6: SIGHUP. A valid change (new VIP, new communities) applies without resetting the
/// sessions; an invalid file is refused with FILE:LINE:COL and nothing changes; removing a
/// peer closes that session only.
#[test]
fn a_reload_applies_changes_in_place_refuses_a_bad_file_and_closes_a_removed_peer() {
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

/// A reload that leaves a checked VIP's check alone keeps its health: the route is not
/// withdrawn while the new checker starts, and the new checker runs.
#[test]
fn daemon_reload_keeps_a_checked_vip_announced() {
    let s = Scenario::one_router_one_node();
    let backend = Backend::start(s.node(), 8080);
    let check = http_check(8080);
    let with =
        |c: &str| s.config("") + &vip(VIP4, &format!("communities = [\"{c}\"]"), Some(&check));
    let d = s.start(&with("65000:100"));
    s.wait_announced(VIP4);

    // Watch the router's table from before the reload until the new checker has run a few
    // times; any gap is a flap caused by the reload.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let gaps = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let mut gaps = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                if s.hops(VIP4).is_empty() {
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
            || s.community(VIP4),
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

/// A reload that drops a VIP withdraws it and removes the address anycastd added; one that
/// points a check at a dead port withdraws that VIP once the new check fails.
#[test]
fn daemon_reload_removes_a_vip_and_applies_a_changed_check() {
    let s = Scenario::one_router_one_node();
    let _backend = Backend::start(s.node(), 8080);
    let base = s.config("");
    let cfg = base.clone() + &vip(VIP4, "", Some(&tcp_check(8080))) + &vip(VIP4B, "", None);
    let d = s.start(&cfg);
    s.wait_announced(VIP4);
    s.wait_announced(VIP4B);
    let lo = || s.node().ip(&["addr", "show", "dev", "lo"]);
    assert!(lo().contains(&format!("{VIP4B}/32")), "{}", lo());

    d.reload(&(base.clone() + &vip(VIP4, "", Some(&tcp_check(8080)))));
    s.wait_withdrawn(VIP4B);
    wait_for(
        TIMEOUT,
        "the dropped VIP's address removed from lo",
        lo,
        |l| !l.contains(&format!("{VIP4B}/32")),
    );
    s.assert_announced(VIP4, "the kept VIP stays");

    d.reload(&(base + &vip(VIP4, "", Some(&tcp_check(8099)))));
    let t = time_until(
        TIMEOUT,
        "VIP withdrawn after its check moved to a dead port",
        || s.hops(VIP4).is_empty(),
    );
    println!("check moved to a dead port → withdrawn in {t:?}");
    let st = d.status();
    assert_eq!(vip_status(&st, VIP4)["announced"], false, "{st}");
}

/// An edit of the config file on disk is applied without SIGHUP, as SIGHUP would apply it:
/// written in place, the new VIP is announced; replaced by rename (as editors save) with an
/// invalid file, it is refused and logged with FILE:LINE:COL and everything keeps serving.
#[test]
fn an_edit_of_the_config_file_is_applied_without_sighup_and_a_bad_one_is_refused() {
    let s = Scenario::one_router_one_node();
    let base = s.config("") + &vip(VIP4, "", None);
    let d = s.start(&base);
    s.wait_announced(VIP4);
    std::fs::write(d.config_path(), base.clone() + &vip(VIP4B, "", None)).unwrap();
    s.wait_announced(VIP4B);
    d.wait_log(TIMEOUT, "the config file changed on disk: reloading");

    let tmp = d.config_path().with_extension("new");
    std::fs::write(&tmp, base.replace("asn = 65001", "asn = 0")).unwrap();
    std::fs::rename(&tmp, d.config_path()).unwrap();
    let log = d.wait_log(TIMEOUT, "reload rejected");
    assert!(
        has_position(&log, d.config_path()),
        "no {}:LINE:COL in the log:\n{log}",
        d.config_path().display()
    );
    assert_eq!(d.status()["node"]["asn"], 65001);
    s.assert_announced(VIP4, "the running configuration stays after a bad edit");
    s.assert_announced(VIP4B, "the running configuration stays after a bad edit");
}
