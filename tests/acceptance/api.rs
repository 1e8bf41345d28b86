//! The operator's view: `anycastd status` (JSON and tables), /healthz, /metrics, and the API
//! token that guards remote POSTs.

use super::*;

/// Scenario 4: `anycastd status --json` has the contract's fields and values, `anycastd status`
/// prints the tables, and /metrics has the contract's series.
#[test]
fn status_json_the_status_table_and_metrics_report_the_session_and_the_vips() {
    let s = Scenario::one_router_one_node();
    let _backend = Backend::start(s.node(), 8080);
    let cfg = s.config("")
        + &vip(
            VIP4,
            "",
            Some("type = \"tcp\"\nport = 8080\ninterval = \"1s\"\ntimeout = \"500ms\"\n"),
        )
        + &vip(VIP6, "", None);
    let d = s.start(&cfg);
    s.wait_announced(VIP4);
    s.wait_announced(VIP6);
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

    let api: SocketAddr = API.parse().unwrap();
    let (code, health) = http_get(s.node(), api, "/healthz").unwrap();
    assert_eq!(code, 200, "{health}");
    let metrics = wait_for(
        TIMEOUT,
        "metrics with a check duration histogram",
        || http_get(s.node(), api, "/metrics").unwrap().1,
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
    let s = Scenario::one_router_one_node();
    let cfg = s.config("").replace(
        "listen = \"127.0.0.1:9180\"",
        "listen = \"0.0.0.0:9180\"\ntoken = \"t0k3n-xyz\"",
    ) + &vip(VIP4, "", None);
    let _d = s.start(&cfg);
    let n1 = node_addr(0, 1);
    s.wait_announced(VIP4);
    let url = format!("http://{n1}:9180");
    let nocfg = "/nonexistent/anycastd.toml";

    let out = Daemon::cli_in(s.router(), &["status", "--api", &url, "-c", nocfg]);
    assert!(out.status.success(), "remote GET /status refused: {out:?}");

    let out = Daemon::cli_in(s.router(), &["drain", "--api", &url, "-c", nocfg]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("403"), "not a 403: {said}");
    s.assert_announced(VIP4, "nothing drained");

    let out = Daemon::cli_in(
        s.router(),
        &["drain", "--api", &url, "-c", nocfg, "--token", "t0k3n-xyz"],
    );
    assert!(out.status.success(), "{out:?}");
    s.wait_withdrawn(VIP4);
}
