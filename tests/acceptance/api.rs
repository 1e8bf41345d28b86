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

/// Moves the calling thread into namespace `name`.
fn enter_ns(name: &str) {
    let f = std::fs::File::open(format!("/var/run/netns/{name}")).expect("open netns");
    nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
}

/// Sends `request` to `addr` from inside `ns` and reads the answer until the server closes
/// the connection (or 10 s pass).
fn http_raw(ns: &Netns, addr: SocketAddr, request: Vec<u8>) -> String {
    use std::io::{Read, Write};
    let name = ns.name().to_string();
    std::thread::spawn(move || {
        enter_ns(&name);
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .expect("connect to the API");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // The server may answer (and close) before it has read everything.
        let _ = s.write_all(&request);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
    .join()
    .expect("http_raw thread")
}

/// The value of the /metrics sample whose line starts with `series ` (the name and labels).
fn sample(metrics: &str, series: &str) -> Option<u64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Issue 14: a request body over 64 KiB is answered 413 whatever its framing, and the drain
/// it carried does not happen.
#[test]
fn a_post_with_a_body_over_64_kib_gets_413_and_changes_nothing() {
    let s = Scenario::one_router_one_node();
    let d = s.start(&(s.config("") + &vip(VIP4, "", None)));
    s.wait_announced(VIP4);
    let api: SocketAddr = API.parse().unwrap();
    let big = vec![b'x'; 100 * 1024];

    let mut declared = format!(
        "POST /drain HTTP/1.1\r\nHost: {API}\r\nContent-Length: {}\r\n\r\n",
        big.len()
    )
    .into_bytes();
    declared.extend_from_slice(&big);
    let answer = http_raw(s.node(), api, declared);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("request body too large: at most 65536 bytes"),
        "{answer}"
    );

    let mut chunked = format!(
        "POST /vips/{VIP4}/drain HTTP/1.1\r\nHost: {API}\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        big.len()
    )
    .into_bytes();
    chunked.extend_from_slice(&big);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let answer = http_raw(s.node(), api, chunked);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    std::thread::sleep(Duration::from_secs(1));
    s.assert_announced(VIP4, "nothing drained");
    let st = d.status();
    assert_eq!(vip_status(&st, VIP4)["drained"], false, "{st}");
    let (_, metrics) = http_get(s.node(), api, "/metrics").unwrap();
    let series = "anycastd_api_requests_total{method=\"POST\",code=\"413\"}";
    assert_eq!(sample(&metrics, series), Some(2), "{metrics}");
}

/// Issue 14: every mutation is audited (who, whether a token came, what, the outcome; never
/// the token) and counted by method and code, refused or accepted.
#[test]
fn refused_and_accepted_posts_are_audited_and_counted() {
    let s = Scenario::one_router_one_node();
    let cfg = s.config("").replace(
        "listen = \"127.0.0.1:9180\"",
        "listen = \"0.0.0.0:9180\"\ntoken = \"t0k3n-xyz\"",
    ) + &vip(VIP4, "", None);
    let d = s.start(&cfg);
    s.wait_announced(VIP4);
    let url = format!("http://{}:9180", node_addr(0, 1));
    let nocfg = "/nonexistent/anycastd.toml";
    let router = router_addr(0, 1);

    let out = Daemon::cli_in(s.router(), &["drain", "--api", &url, "-c", nocfg]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = Daemon::cli_in(
        s.router(),
        &["drain", "--api", &url, "-c", nocfg, "--token", "wrong"],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    s.assert_announced(VIP4, "refused: nothing drained");
    let out = Daemon::cli_in(
        s.router(),
        &["drain", "--api", &url, "-c", nocfg, "--token", "t0k3n-xyz"],
    );
    assert!(out.status.success(), "{out:?}");
    s.wait_withdrawn(VIP4);

    let log = d.wait_log(TIMEOUT, "status=200");
    let audit: Vec<&str> = log.lines().filter(|l| l.contains("api audit")).collect();
    assert_eq!(audit.len(), 3, "one record per POST:\n{}", audit.join("\n"));
    for (line, token, status) in [
        (audit[0], "none", "403"),
        (audit[1], "invalid", "403"),
        (audit[2], "valid", "200"),
    ] {
        for field in [
            format!("peer={router}:"),
            format!("token=\"{token}\""),
            "method=\"POST\"".to_string(),
            "path=\"/drain\"".to_string(),
            format!("status={status}"),
        ] {
            assert!(line.contains(&field), "no {field:?} in {line}");
        }
    }
    assert!(audit[0].contains("forbidden"), "{}", audit[0]);
    assert!(
        audit[2].contains("outcome=\"drained all VIPs"),
        "{}",
        audit[2]
    );
    assert!(
        !log.contains("t0k3n-xyz"),
        "the token is never logged:\n{log}"
    );

    let (_, metrics) = http_get(s.node(), API.parse().unwrap(), "/metrics").unwrap();
    let post = |code| format!("anycastd_api_requests_total{{method=\"POST\",code=\"{code}\"}}");
    assert_eq!(sample(&metrics, &post("403")), Some(2), "{metrics}");
    assert_eq!(sample(&metrics, &post("200")), Some(1), "{metrics}");
    // GETs count too (the scrape above, seen by the next one).
    let (_, metrics) = http_get(s.node(), API.parse().unwrap(), "/metrics").unwrap();
    let get = "anycastd_api_requests_total{method=\"GET\",code=\"200\"}";
    assert!(sample(&metrics, get) >= Some(1), "{metrics}");
}

/// Issue 14: 2,000 idle connections to the API of a daemon with systemd's default soft limit
/// of 1024 descriptors: the API keeps to `api.max_connections` (closing the oldest idle ones),
/// /healthz answers, the health check keeps running and the VIP stays announced. Before the
/// cap, the flood took every descriptor: checks failed (EMFILE) and the VIP was withdrawn.
#[test]
fn two_thousand_idle_api_connections_starve_neither_the_checks_nor_the_api() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    const FLOOD: usize = 2000;
    let s = Scenario::one_router_one_node();
    let _backend = Backend::start(s.node(), 8080);
    let cfg = s.config("") + &vip(VIP4, "", Some(&tcp_check(8080)));
    let d = Daemon::start_wrapped(
        s.node(),
        "node1",
        &cfg,
        &["prlimit", "--nofile=1024:1024", "--"],
        &[],
    );
    s.wait_announced(VIP4);
    let api: SocketAddr = API.parse().unwrap();
    let checks_ok = format!("anycastd_checks_total{{service=\"vip {VIP4}\",result=\"ok\"}}");
    let checks_failed = format!("anycastd_checks_total{{service=\"vip {VIP4}\",result=\"fail\"}}");
    let metrics = || http_get(s.node(), api, "/metrics").map(|(_, m)| m);
    let before = metrics().unwrap();
    let failed_before = sample(&before, &checks_failed).unwrap_or(0);

    // The test process itself needs a descriptor per connection (after the daemon started,
    // so the daemon keeps its 1024).
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < 4 * FLOOD as u64 {
        setrlimit(Resource::RLIMIT_NOFILE, hard.min(8 * FLOOD as u64), hard).unwrap();
    }
    let (opened_tx, opened_rx) = std::sync::mpsc::channel::<usize>();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let ns = s.node().name().to_string();
    let flood = std::thread::spawn(move || {
        enter_ns(&ns);
        let held: Vec<std::net::TcpStream> = (0..FLOOD)
            .filter_map(|_| {
                std::net::TcpStream::connect_timeout(&api, Duration::from_millis(500)).ok()
            })
            .collect();
        let _ = opened_tx.send(held.len());
        let _ = stop_rx.recv_timeout(Duration::from_secs(60));
        drop(held);
    });
    let opened = opened_rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the flood's connections");
    assert!(opened >= FLOOD / 2, "only {opened} connections opened");

    let ok_at_flood = sample(&metrics().expect("/metrics during the flood"), &checks_ok)
        .expect("a check counter");
    for second in 0..5 {
        let health = http_get(s.node(), api, "/healthz");
        assert!(
            matches!(&health, Ok((200, body)) if body == "ok"),
            "/healthz {second} s into the flood: {health:?}"
        );
        s.assert_announced(VIP4, "the VIP stays announced during the flood");
        let fds = std::fs::read_dir(format!("/proc/{}/fd", d.pid()))
            .map(|d| d.count())
            .unwrap_or(0);
        assert!(fds < 256 + 100, "the daemon holds {fds} descriptors");
        std::thread::sleep(Duration::from_secs(1));
    }
    let after = metrics().expect("/metrics after the flood");
    let ok_after = sample(&after, &checks_ok).unwrap_or(0);
    assert!(
        ok_after >= ok_at_flood + 3,
        "checks kept running: {ok_at_flood} -> {ok_after}"
    );
    assert_eq!(
        sample(&after, &checks_failed).unwrap_or(0),
        failed_before,
        "no check failed during the flood"
    );
    assert!(
        sample(&after, "anycastd_api_connections_evicted_total").unwrap_or(0) >= 1000,
        "{after}"
    );
    let _ = stop_tx.send(());
    flood.join().unwrap();
}

/// The `ETag` header of a raw HTTP answer.
fn etag_of(answer: &str) -> Option<String> {
    answer
        .lines()
        .find_map(|l| {
            l.strip_prefix("etag: ")
                .or_else(|| l.strip_prefix("ETag: "))
        })
        .map(|t| t.trim().to_string())
}

/// Issue 14: `GET /config` serves the running config as JSON without its secrets, with an
/// `ETag` that follows the accepted file (a reload that only changes a comment changes it; a
/// rejected file does not) and a 304 for a current `If-None-Match`.
#[test]
fn get_config_serves_the_running_config_without_secrets_and_tags_it() {
    let s = Scenario::one_router_one_node();
    let cfg = s
        .config("")
        .replace(
            "listen = \"127.0.0.1:9180\"",
            "listen = \"127.0.0.1:9180\"\ntoken = \"t0k3n-xyz\"",
        )
        .replacen(
            "asn = 65000\n",
            "asn = 65000\npassword = \"md5-s3cret\"\n",
            1,
        )
        + &vip(VIP4, "", None);
    assert!(cfg.contains("md5-s3cret"), "{cfg}");
    let d = s.start(&cfg);
    let api: SocketAddr = API.parse().unwrap();
    let get = |extra: &str| {
        let req =
            format!("GET /config HTTP/1.1\r\nHost: {API}\r\n{extra}Connection: close\r\n\r\n");
        http_raw(s.node(), api, req.into_bytes())
    };
    support::wait_until(TIMEOUT, "the API answering", || {
        http_get(s.node(), api, "/healthz").is_ok()
    });
    let first = get("");
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    let body = first.split_once("\r\n\r\n").unwrap().1;
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["vip"][0]["address"], VIP4);
    assert_eq!(v["node"]["asn"], 65001);
    assert!(v["bgp"]["peer"][0]["address"].is_string(), "{v}");
    assert!(
        !body.contains("t0k3n-xyz") && !body.contains("md5-s3cret"),
        "{body}"
    );
    let tag = etag_of(&first).expect("an ETag on GET /config");

    let shown: serde_json::Value = serde_json::from_str(&d.cli_ok(&["config"])).unwrap();
    assert_eq!(shown, v, "anycastd config prints what GET /config serves");

    let cached = get(&format!("If-None-Match: {tag}\r\n"));
    assert!(cached.starts_with("HTTP/1.1 304"), "{cached}");

    // A rejected file leaves the running config, and its tag, as they were.
    d.reload(&(cfg.clone() + "bogus_key = 1\n"));
    d.wait_log(TIMEOUT, "reload rejected");
    assert_eq!(etag_of(&get("")), Some(tag.clone()));
    // An accepted one that only adds a comment is another text: another tag.
    d.reload(&format!("# edited by the test\n{cfg}"));
    support::wait_until(TIMEOUT, "a new ETag after the accepted reload", || {
        etag_of(&get("")).is_some_and(|t| t != tag)
    });
}

/// Issue 14: a VIP written through the API. A PUT is validated, written back to the file with
/// the operator's comment kept and applied without SIGHUP (the router gets the route); a PUT
/// with the tag it replaced gets 412; an invalid body gets 400 naming the key and leaves the
/// file byte for byte; a DELETE withdraws the VIP and takes it out of the file.
#[test]
fn a_vip_put_through_the_api_is_written_back_and_announced_and_a_bad_one_changes_nothing() {
    let s = Scenario::one_router_one_node();
    let cfg = format!("# operator's note: keep me\n{}", s.config("")) + &vip(VIP4, "", None);
    let d = s.start(&cfg);
    s.wait_announced(VIP4);
    let send =
        |method: &str, path: &str, extra: &str, body: &str| api_call(&s, method, path, extra, body);
    let tag = etag_of(&send("GET", "/config", "", "")).expect("ETag");
    let path = format!("/vips/{VIP4B}");

    let put = send(
        "PUT",
        &path,
        &format!("If-Match: {tag}\r\n"),
        r#"{"interface": "lo"}"#,
    );
    assert!(put.starts_with("HTTP/1.1 201"), "{put}");
    let made = json_body(&put);
    assert_eq!(made["address"], VIP4B);
    s.wait_announced(VIP4B);
    let file = std::fs::read_to_string(d.config_path()).unwrap();
    assert!(file.starts_with("# operator's note: keep me\n"), "{file}");
    assert!(file.contains(&format!("address = \"{VIP4B}\"")), "{file}");
    assert_ne!(etag_of(&put), Some(tag.clone()));
    // The audit record carries what changed in the file.
    let log = d.log();
    let record = log
        .lines()
        .find(|l| l.contains("api audit") && l.contains("method=\"PUT\""))
        .expect("an audit record of the PUT");
    assert!(
        record.contains("status=201")
            && record.contains(&format!(r#"+address = \"{VIP4B}\""#))
            && record.contains("diff="),
        "{record}"
    );

    let stale = send(
        "PUT",
        &path,
        &format!("If-Match: {tag}\r\n"),
        r#"{"interface": "lo", "med": 5}"#,
    );
    assert!(stale.starts_with("HTTP/1.1 412"), "{stale}");

    let before = std::fs::read(d.config_path()).unwrap();
    let bad = send("PUT", &path, "", r#"{"interface": "lo", "med": "high"}"#);
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    let errors = json_body(&bad);
    // Named by address, not by where the VIP sits in the file.
    assert_eq!(
        errors["errors"][0]["path"],
        format!("vip[{VIP4B}].med"),
        "{errors}"
    );
    assert_eq!(
        std::fs::read(d.config_path()).unwrap(),
        before,
        "the file is untouched"
    );
    s.assert_announced(VIP4B, "the running VIP stays after a refused write");

    let del = send("DELETE", &path, "", "");
    assert!(del.starts_with("HTTP/1.1 200"), "{del}");
    s.wait_withdrawn(VIP4B);
    s.assert_announced(VIP4, "the other VIP stays");
    let file = std::fs::read_to_string(d.config_path()).unwrap();
    assert!(
        !file.contains(VIP4B) && file.starts_with("# operator's note"),
        "{file}"
    );
    let gone = send("DELETE", &path, "", "");
    assert!(gone.starts_with("HTTP/1.1 404"), "{gone}");
}

/// `METHOD path` with a JSON body and extra header lines, on the node's API; the whole answer.
fn api_call(s: &Scenario, method: &str, path: &str, extra: &str, body: &str) -> String {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {API}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    );
    http_raw(s.node(), API.parse().unwrap(), req.into_bytes())
}

fn json_body(answer: &str) -> serde_json::Value {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

/// Issue 14, reads and the CLI: `GET /vips/{address}` is the configured VIP with its live state
/// and the config's ETag; `anycastd vip add -f FILE` creates a VIP from a TOML snippet (announced
/// at the router), `vip get` shows it announced, a refused `vip add` prints the key by address
/// and exits 1, and `vip del` withdraws it.
#[test]
fn a_vip_read_carries_its_live_state_and_the_cli_adds_shows_and_removes_vips() {
    let s = Scenario::one_router_one_node();
    let _backend = Backend::start(s.node(), 8091);
    let d = s.start(&(s.config("") + &vip(VIP4, "med = 7", Some(&tcp_check(8091)))));
    s.wait_announced(VIP4);

    let read = api_call(&s, "GET", &format!("/vips/{VIP4}"), "", "");
    assert!(read.starts_with("HTTP/1.1 200"), "{read}");
    let v = json_body(&read);
    assert_eq!(v["address"], VIP4);
    assert_eq!(v["med"], 7, "the configured keys: {v}");
    assert_eq!(v["live"]["announced"], true, "{v}");
    assert_eq!(v["live"]["reason"], "healthy", "{v}");
    let config_tag = etag_of(&api_call(&s, "GET", "/config", "", ""));
    assert!(config_tag.is_some());
    assert_eq!(
        etag_of(&read),
        config_tag,
        "an object carries the config's tag"
    );
    let missing = api_call(&s, "GET", &format!("/vips/{VIP4B}"), "", "");
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");

    let snippet = d.config_path().with_file_name("new-vip.toml");
    std::fs::write(
        &snippet,
        format!("[[vip]]\naddress = \"{VIP4B}\"\ninterface = \"lo\"\nmed = 20\n"),
    )
    .unwrap();
    let snippet = snippet.to_str().unwrap();
    let made: serde_json::Value =
        serde_json::from_str(&d.cli_ok(&["vip", "add", VIP4B, "-f", snippet])).unwrap();
    assert_eq!(made["med"], 20);
    s.wait_announced(VIP4B);
    support::wait_until(TIMEOUT, "vip get to show it announced", || {
        let shown = d.cli(&["vip", "get", VIP4B]);
        serde_json::from_slice::<serde_json::Value>(&shown.stdout)
            .is_ok_and(|v| v["live"]["announced"] == true)
    });

    std::fs::write(
        snippet,
        format!("[[vip]]\naddress = \"{VIP4B}\"\ninterface = \"lo\"\nmed = \"low\"\n"),
    )
    .unwrap();
    let before = std::fs::read(d.config_path()).unwrap();
    let refused = d.cli(&["vip", "add", VIP4B, "-f", snippet]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&format!("anycastd: vip[{VIP4B}].med: ")),
        "{stderr}"
    );
    assert_eq!(std::fs::read(d.config_path()).unwrap(), before);

    d.cli_ok(&["vip", "del", VIP4B]);
    s.wait_withdrawn(VIP4B);
    s.assert_announced(VIP4, "the other VIP stays");
}

/// Issue 14: two automations that read the same ETag and write at once. The daemon applies
/// writes one at a time, so exactly one wins and the other gets 412; the file has the winner's
/// VIP only.
#[test]
fn two_writes_racing_with_the_same_etag_one_wins_and_the_other_gets_412() {
    let s = Scenario::one_router_one_node();
    let d = s.start(&(s.config("") + &vip(VIP4, "", None)));
    s.wait_announced(VIP4);
    let tag = etag_of(&api_call(&s, "GET", "/config", "", "")).expect("ETag");
    let go = std::sync::Barrier::new(2);
    let answers: Vec<String> = std::thread::scope(|scope| {
        let racers: Vec<_> = [VIP4B, VIP4C]
            .into_iter()
            .map(|address| {
                let (s, go, tag) = (&s, &go, &tag);
                scope.spawn(move || {
                    go.wait();
                    api_call(
                        s,
                        "PUT",
                        &format!("/vips/{address}"),
                        &format!("If-Match: {tag}\r\n"),
                        r#"{"interface": "lo"}"#,
                    )
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let won: Vec<usize> = (0..2)
        .filter(|&i| answers[i].starts_with("HTTP/1.1 201"))
        .collect();
    let stale = answers
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 412"))
        .count();
    assert_eq!((won.len(), stale), (1, 1), "{answers:?}");
    let (winner, loser) = if won[0] == 0 {
        (VIP4B, VIP4C)
    } else {
        (VIP4C, VIP4B)
    };
    let file = std::fs::read_to_string(d.config_path()).unwrap();
    assert!(
        file.contains(winner) && !file.contains(loser),
        "only the winner is written: {file}"
    );
    s.wait_announced(winner);
    assert!(s.hops(loser).is_empty(), "the loser is not announced");
}

/// Issue 14: `[api] writable = false` turns the object writes off (409, file untouched) while
/// reads and drain keep working.
#[test]
fn with_writable_false_writes_get_409_and_the_file_is_untouched() {
    let s = Scenario::one_router_one_node();
    let cfg = s.config("").replace("[api]\n", "[api]\nwritable = false\n") + &vip(VIP4, "", None);
    assert!(cfg.contains("writable = false"), "{cfg}");
    let d = s.start(&cfg);
    s.wait_announced(VIP4);
    let before = std::fs::read(d.config_path()).unwrap();
    let put = api_call(
        &s,
        "PUT",
        &format!("/vips/{VIP4B}"),
        "",
        r#"{"interface": "lo"}"#,
    );
    assert!(put.starts_with("HTTP/1.1 409"), "{put}");
    assert!(put.contains("writable = false"), "{put}");
    let del = api_call(&s, "DELETE", &format!("/vips/{VIP4}"), "", "");
    assert!(del.starts_with("HTTP/1.1 409"), "{del}");
    assert_eq!(std::fs::read(d.config_path()).unwrap(), before);
    let read = api_call(&s, "GET", &format!("/vips/{VIP4}"), "", "");
    assert!(read.starts_with("HTTP/1.1 200"), "{read}");
    s.assert_announced(VIP4, "nothing was withdrawn");
}

/// A path bind-mounted onto itself in the mount namespace of process `pid` (`ip netns exec`
/// gives the daemon one of its own), unmounted when this is dropped.
struct BindMount {
    pid: String,
    dir: String,
}

impl BindMount {
    /// Read-only: writes under `dir` fail with EROFS, even for root (for whom permissions alone
    /// would not).
    fn read_only(pid: u32, dir: &std::path::Path) -> BindMount {
        let bound = BindMount::bind(pid, dir);
        bound.nsenter_mount(&["-o", "remount,ro,bind", &bound.dir]);
        bound
    }

    /// Only the bind mount, writable: `path` becomes a mount point (a container's single-file
    /// bind mount when `path` is a file).
    fn bind(pid: u32, path: &std::path::Path) -> BindMount {
        let (pid, dir) = (pid.to_string(), path.to_str().unwrap().to_string());
        let bound = BindMount { pid, dir };
        bound.nsenter_mount(&["--bind", &bound.dir, &bound.dir]);
        bound
    }

    fn nsenter_mount(&self, args: &[&str]) {
        let mut all = vec!["-t", &self.pid, "-m", "mount"];
        all.extend_from_slice(args);
        run("nsenter", &all);
    }
}

impl Drop for BindMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("nsenter")
            .args(["-t", &self.pid, "-m", "umount", &self.dir])
            .status();
    }
}

/// Issue 14: a config file that cannot be written (here: its directory on a read-only mount)
/// or that is a mount point of its own makes a write answer 409 with a clear message; nothing
/// is applied, the VIP is not announced.
#[test]
fn a_write_to_a_config_file_that_cannot_be_written_gets_409_and_applies_nothing() {
    let s = Scenario::one_router_one_node();
    let d = s.start(&(s.config("") + &vip(VIP4, "", None)));
    s.wait_announced(VIP4);
    let before = std::fs::read(d.config_path()).unwrap();
    // A PUT while `mount` is in place: its answer, the file checked unchanged.
    let put_under = |mount: BindMount| {
        let put = api_call(
            &s,
            "PUT",
            &format!("/vips/{VIP4B}"),
            "",
            r#"{"interface": "lo"}"#,
        );
        drop(mount);
        assert!(put.starts_with("HTTP/1.1 409"), "{put}");
        assert_eq!(std::fs::read(d.config_path()).unwrap(), before);
        put
    };
    let put = put_under(BindMount::read_only(
        d.pid(),
        d.config_path().parent().unwrap(),
    ));
    assert!(
        put.contains("cannot be written") && put.contains("writable config file"),
        "{put}"
    );
    // The file bind-mounted on its own, as `docker run -v anycastd.toml:/etc/anycastd/…` does:
    // rename(2) cannot replace a mount point.
    let put = put_under(BindMount::bind(d.pid(), d.config_path()));
    assert!(put.contains("bind-mount its directory"), "{put}");

    std::thread::sleep(Duration::from_secs(2));
    assert!(s.hops(VIP4B).is_empty(), "a refused write is not applied");
    s.assert_announced(VIP4, "the running VIP stays");
}
