//! `anycastd drain`/`undrain`: for all VIPs, named ones, with `shutdown_delay` (GRACEFUL_SHUTDOWN
//! first), cancelled, across a reload, and across a restart (the state file).

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

/// The node's state file: `anycastd.state.json` beside the config (`node.state_file` unset).
fn state_file(d: &Daemon) -> serde_json::Value {
    let path = d.config_path().with_file_name("anycastd.state.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}: {text}", path.display()))
}

/// SIGTERM (exit 0), then the daemon started again on the same config directory. Returns
/// every next-hop list the router's kernel had for `watched` meanwhile, until the restarted
/// daemon has sent its initial table and `announced` is routed via the node again (with no
/// `announced`: until 3 s after the session is established again).
fn restart_watching(
    s: &Scenario,
    d: &mut Daemon,
    watched: &str,
    announced: Option<&str>,
) -> Vec<Vec<String>> {
    let mut seen = Vec::new();
    d.signal(Signal::SIGTERM);
    let status = d.wait_exit(TIMEOUT);
    assert_eq!(status.code(), Some(0), "SIGTERM exits 0");
    seen.push(s.hops(watched));
    d.start_again();
    let sent = |d: &Daemon| {
        let log = d.log();
        let restarted = &log[log.find("----- started again -----").unwrap_or(0)..];
        restarted.contains("sending the initial BGP table")
    };
    let t0 = Instant::now();
    let mut settled: Option<Instant> = None;
    loop {
        seen.push(s.hops(watched));
        let done = match announced {
            Some(v) => sent(d) && s.announced(v),
            None => {
                let node = node_addr(0, 1);
                let up = || s.frr().neighbor_state(&node).as_deref() == Some("Established");
                if settled.is_none() && sent(d) && up() {
                    settled = Some(Instant::now());
                }
                settled.is_some_and(|t| t.elapsed() > Duration::from_secs(3))
            }
        };
        if done {
            break;
        }
        assert!(t0.elapsed() < TIMEOUT, "restarted daemon never settled");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A little longer: a late announcement of the drained VIP would show here.
    for _ in 0..20 {
        seen.push(s.hops(watched));
        std::thread::sleep(Duration::from_millis(50));
    }
    seen
}

/// Issue 14: a drain of one VIP is kept in the state file, so a daemon restarted during the
/// maintenance never announces that VIP again, not even for a moment, while the other comes
/// back; `/status` says the drain came from the state file; `undrain` announces it and clears
/// the file.
#[test]
fn a_drained_vip_stays_withdrawn_through_a_restart_until_undrained() {
    let s = Scenario::one_router_one_node();
    let cfg = s.config("") + &vip(VIP4, "", None) + &vip(VIP4B, "", None);
    let mut d = s.start(&cfg);
    s.wait_announced(VIP4);
    s.wait_announced(VIP4B);
    d.cli_ok(&["drain", VIP4]);
    s.wait_withdrawn(VIP4);
    let file = state_file(&d);
    assert_eq!(file["version"], 1, "{file}");
    assert_eq!(file["drained"][VIP4]["by"], "api", "{file}");
    assert!(file["drained"][VIP4]["since"].is_u64(), "{file}");
    assert!(file.get("drain_all").is_none(), "{file}");

    let seen = restart_watching(&s, &mut d, VIP4, Some(VIP4B));
    assert!(
        seen.iter().all(|hops| hops.is_empty()),
        "the drained VIP was announced again after the restart: {seen:?}"
    );
    assert!(
        d.log().contains(&format!(
            "state file: VIP {VIP4} stays drained (drained by api at "
        )),
        "no log line about the restored drain"
    );
    let st = d.status();
    let vs = vip_status(&st, VIP4);
    assert_eq!(vs["drained"], true, "{st}");
    assert_eq!(vs["announced"], false, "{st}");
    assert_eq!(vs["drained_by"], "state file", "{st}");
    assert!(
        vs["drained_since"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{st}"
    );
    assert_eq!(vip_status(&st, VIP4B)["drained"], false, "{st}");
    assert!(vip_status(&st, VIP4B).get("drained_by").is_none(), "{st}");
    let table = d.cli_ok(&["status"]);
    assert!(table.contains("yes (state file since "), "{table}");

    d.cli_ok(&["undrain", VIP4]);
    s.wait_announced(VIP4);
    s.assert_announced(VIP4B, "the other VIP stays");
    assert_eq!(
        state_file(&d),
        serde_json::json!({"version": 1}),
        "undrain clears the file"
    );
    let st = d.status();
    assert_eq!(vip_status(&st, VIP4)["drained"], false, "{st}");
}

/// Issue 14: after `anycastd drain` (all VIPs) and a restart, nothing is announced, and an
/// `undrain` brings every VIP back.
#[test]
fn a_drained_node_announces_nothing_after_a_restart() {
    let s = Scenario::one_router_one_node();
    let cfg = s.config("") + &vip(VIP4, "", None) + &vip(VIP4B, "", None);
    let mut d = s.start(&cfg);
    s.wait_announced(VIP4);
    s.wait_announced(VIP4B);
    d.cli_ok(&["drain"]);
    s.wait_withdrawn(VIP4);
    s.wait_withdrawn(VIP4B);
    assert_eq!(state_file(&d)["drain_all"]["by"], "api");

    let seen = restart_watching(&s, &mut d, VIP4, None);
    assert!(
        seen.iter().all(|h| h.is_empty()),
        "{VIP4} announced: {seen:?}"
    );
    assert!(
        s.hops(VIP4B).is_empty(),
        "{VIP4B} announced after the restart"
    );
    let node = node_addr(0, 1);
    assert_eq!(
        s.frr().neighbor_state(&node).as_deref(),
        Some("Established")
    );
    assert_eq!(s.frr().prefixes_received("ipv4", &node), Some(0));
    let st = d.status();
    for v in [VIP4, VIP4B] {
        assert_eq!(vip_status(&st, v)["drained_by"], "state file", "{st}");
    }

    d.cli_ok(&["undrain"]);
    s.wait_announced(VIP4);
    s.wait_announced(VIP4B);
    assert_eq!(state_file(&d), serde_json::json!({"version": 1}));
}

/// A state file that cannot be understood keeps every VIP drained (the safe side of a
/// maintenance) and says so; `undrain` puts the node back and rewrites the file.
#[test]
fn an_unreadable_state_file_keeps_the_node_drained_until_an_undrain() {
    let s = Scenario::one_router_one_node();
    let cfg = s.config("") + &vip(VIP4, "", None);
    let mut d = s.start(&cfg);
    s.wait_announced(VIP4);
    d.signal(Signal::SIGTERM);
    assert_eq!(d.wait_exit(TIMEOUT).code(), Some(0));
    s.wait_withdrawn(VIP4);
    let path = d.config_path().with_file_name("anycastd.state.json");
    std::fs::write(&path, "{\"version\": 1, \"drained\": ").unwrap();
    d.start_again();
    d.wait_log(TIMEOUT, "every VIP stays drained until `anycastd undrain`");
    d.wait_log(TIMEOUT, "sending the initial BGP table");
    let node = node_addr(0, 1);
    wait_for(
        TIMEOUT,
        "the session up again",
        || s.frr().neighbor_state(&node),
        |st| st.as_deref() == Some("Established"),
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        s.hops(VIP4).is_empty(),
        "announced despite an unreadable state file"
    );
    let st = d.status();
    assert_eq!(
        vip_status(&st, VIP4)["drained_by"],
        "unreadable state file",
        "{st}"
    );
    assert_eq!(vip_status(&st, VIP4)["reason"], "drained", "{st}");

    d.cli_ok(&["undrain"]);
    s.wait_announced(VIP4);
    assert_eq!(state_file(&d), serde_json::json!({"version": 1}));
}

/// A state file that cannot be written does not block a drain: the VIP is withdrawn at once,
/// and the answer and the log say that a restart would not keep it.
#[test]
fn a_drain_with_an_unwritable_state_file_still_withdraws_and_says_it_is_not_kept() {
    let s = Scenario::one_router_one_node();
    let node = "[node]\nstate_file = \"/nonexistent-anycastd-dir/anycastd.state.json\"\n";
    let cfg = s.config("").replacen("[node]\n", node, 1) + &vip(VIP4, "", None);
    assert!(cfg.contains("state_file"), "{cfg}");
    let d = s.start(&cfg);
    s.wait_announced(VIP4);
    let out = d.cli_ok(&["drain", VIP4]);
    assert!(
        out.contains("drained 10.100.0.1 (not kept across a restart: /nonexistent-anycastd-dir/anycastd.state.json: cannot write:"),
        "{out}"
    );
    s.wait_withdrawn(VIP4);
    d.wait_log(TIMEOUT, "a restart would not keep the drains");
    let st = d.status();
    assert_eq!(vip_status(&st, VIP4)["drained_by"], "api", "{st}");
}
