//! The operator's view: `anycastd status` (JSON and tables), /healthz, /metrics, and the API
//! token that guards remote POSTs.

use super::*;

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
