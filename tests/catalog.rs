//! The fleet catalog (issue 16) against a real etcd and a real FRR router: three anycastd
//! nodes follow one catalog; a put reaches all of them, `node_labels` picks nodes, a bad
//! document is refused alone, etcd going away takes nothing away (health checks still
//! decide), a node restarted meanwhile serves from its cache, and etcd coming back brings
//! puts and deletes again.
//!
//! ```text
//!   router r0: FRR (AS 65000) + etcd on :2379 ── eth{i} ── node i: anycastd, [catalog] etcd =
//!                                                           http://10.0.i.1:2379
//!   node 1 labels ["edge", "fra1"], node 2 ["edge"], node 3 none; each its own local VIP
//! ```
//!
//! Each test builds its own lab of that shape, so the three run side by side and the binary's
//! wall time is about the outage's 30 s. The third cuts node 2 off from etcd (policy routing,
//! its BGP session kept) while the store moves on and is compacted: its watch resumes behind
//! the compaction, it reads the catalog afresh, and nothing still there is withdrawn.

mod support;

use std::process::Output;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::backend::{Backend, Mode};
use support::daemon::Daemon;
use support::etcd::Etcd;
use support::lab::{node_addr, router_addr, Lab};
use support::{kernel_next_hops, wait_for, wait_until};

const TIMEOUT: Duration = Duration::from_secs(40);
/// How long etcd stays dead: the issue's 30 s.
const ETCD_DOWN: Duration = Duration::from_secs(30);

/// With a health check (a backend on :8080 in each node), for every node.
const VIP_CHECKED: &str = "10.100.0.1";
/// node_labels = ["edge"]: nodes 1 and 2 only.
const VIP_EDGE: &str = "10.100.0.2";
const VIP_BAD: &str = "10.100.0.3";
/// Put while etcd was back.
const VIP_LATER: &str = "10.100.0.4";

const LABELS: [&str; 3] = [r#"["edge", "fra1"]"#, r#"["edge"]"#, "[]"];

fn local_vip(i: usize) -> String {
    format!("10.100.1.{i}")
}

fn node_config(lab: &Lab, i: usize, cache: &std::path::Path) -> String {
    let base = lab.node_config(i, "").replacen(
        "asn = 65001\n",
        &format!("asn = 65001\nlabels = {}\n", LABELS[i - 1]),
        1,
    );
    format!(
        "{base}[[vip]]\naddress = \"{}\"\ninterface = \"lo\"\n\n\
         [catalog]\netcd = [\"http://{}:2379\"]\ncache = \"{}\"\n",
        local_vip(i),
        router_addr(0, i),
        cache.join(format!("node{i}.json")).display()
    )
}

/// The router's kernel next hops for `vip`, as node numbers.
fn hops(lab: &Lab, vip: &str) -> Vec<usize> {
    let mut nodes: Vec<usize> = kernel_next_hops(lab.router(0), vip)
        .iter()
        .filter_map(|h| (1..=3).find(|&i| node_addr(0, i) == *h))
        .collect();
    nodes.sort();
    nodes
}

fn wait_hops(lab: &Lab, vip: &str, want: &[usize]) {
    wait_for(
        TIMEOUT,
        &format!("{vip} routed via nodes {want:?}"),
        || hops(lab, vip),
        |h| h == want,
    );
}

/// Waits (polling every 20 ms) until `vip` has the next hops of `want`; returns how long.
fn time_until_hops(lab: &Lab, vip: &str, want: &[usize]) -> Duration {
    let start = Instant::now();
    loop {
        if hops(lab, vip) == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "{vip} not routed via {want:?} after {TIMEOUT:?}: {:?}",
            hops(lab, vip)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ok(out: Output, what: &str) -> String {
    assert!(out.status.success(), "{what} failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn catalog_state(d: &Daemon) -> serde_json::Value {
    d.status()["catalog"].clone()
}

/// The lab of one test: router with FRR and etcd, three nodes following the catalog, a
/// backend on :8080 in each node, a directory for the files put.
struct Fleet {
    lab: Lab,
    _frr: support::Frr,
    etcd: Etcd,
    caches: tempfile::TempDir,
    files: tempfile::TempDir,
    backends: Vec<Backend>,
    nodes: Vec<Daemon>,
}

fn fleet() -> Fleet {
    let lab = Lab::new(1, 3);
    let frr = lab.start_router(0, None);
    let etcd = Etcd::start(lab.router(0), &router_addr(0, 1));
    let caches = tempfile::tempdir().unwrap();
    let backends: Vec<Backend> = (1..=3).map(|i| Backend::start(lab.node(i), 8080)).collect();
    let nodes: Vec<Daemon> = (1..=3)
        .map(|i| {
            let cfg = node_config(&lab, i, caches.path());
            Daemon::start(lab.node(i), &format!("node{i}"), &cfg)
        })
        .collect();
    for i in 1..=3 {
        wait_hops(&lab, &local_vip(i), &[i]);
        wait_for(
            TIMEOUT,
            &format!("node {i} synced with etcd"),
            || catalog_state(&nodes[i - 1]),
            |c| c["state"] == "synced",
        );
    }
    Fleet {
        lab,
        _frr: frr,
        etcd,
        caches,
        files: tempfile::tempdir().unwrap(),
        backends,
        nodes,
    }
}

impl Fleet {
    /// Writes `text` to `name` among the test's files; returns its path.
    fn file(&self, name: &str, text: &str) -> std::path::PathBuf {
        write(self.files.path(), name, text)
    }
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `anycastd catalog put FILE` on `d`; returns how long the CLI took.
fn put(d: &Daemon, file: &std::path::Path) -> Duration {
    let started = Instant::now();
    let out = d.cli(&["catalog", "put", &file.display().to_string()]);
    let written = ok(out, "catalog put");
    assert!(written.contains(": written"), "{written}");
    started.elapsed()
}

fn checked_vip() -> String {
    format!(
        "[[vip]]\naddress = \"{VIP_CHECKED}\"\ninterface = \"lo\"\n  [vip.check]\n  \
         type = \"http\"\n  port = 8080\n  path = \"/healthz\"\n  interval = \"200ms\"\n  \
         timeout = \"100ms\"\n  rise = 1\n  fall = 1\n"
    )
}

/// Put, etcd killed for 30 s, a backend failure meanwhile, a restart from the cache, etcd
/// back, a new put, a delete. Runs beside the other test (each has its own lab), so the
/// outage's 30 s is most of the binary's wall time.
#[test]
fn puts_reach_every_node_and_an_etcd_outage_takes_nothing_away() {
    // Every field bound: one left to `..` would be dropped here (FRR killed, say).
    let Fleet {
        lab,
        _frr,
        mut etcd,
        caches,
        files,
        backends,
        mut nodes,
    } = fleet();
    let checked = write(files.path(), "checked.toml", &checked_vip());
    let cli_time = put(&nodes[0], &checked);
    let announced = time_until_hops(&lab, VIP_CHECKED, &[1, 2, 3]);
    println!(
        "put -> announced by all 3 nodes (3 ECMP next hops): {announced:?} after the CLI \
         returned ({cli_time:?} for the CLI itself)"
    );

    // etcd killed: 30 s later everything is still announced, and health checks still decide.
    let revision = catalog_state(&nodes[0])["revision"].clone();
    etcd.kill();
    let down_since = Instant::now();
    for d in &nodes {
        wait_for(
            TIMEOUT,
            "the catalog unreachable",
            || catalog_state(d),
            |c| c["state"] == "unreachable" && c["last_error"].is_string(),
        );
    }
    std::thread::sleep(ETCD_DOWN.saturating_sub(down_since.elapsed()));
    assert_eq!(
        hops(&lab, VIP_CHECKED),
        [1, 2, 3],
        "after {ETCD_DOWN:?} without etcd"
    );
    for (i, d) in nodes.iter().enumerate() {
        let c = catalog_state(d);
        assert_eq!(c["state"], "unreachable", "node {}: {c}", i + 1);
        assert_eq!(
            c["revision"],
            revision,
            "node {}: the last catalog applied",
            i + 1
        );
    }
    let metrics = lab
        .node(1)
        .command("curl")
        .args(["-s", "http://127.0.0.1:9180/metrics"])
        .output()
        .expect("curl");
    let metrics = String::from_utf8_lossy(&metrics.stdout);
    assert!(
        metrics.lines().any(|l| l == "anycastd_catalog_synced 0"),
        "{metrics}"
    );
    let line = format!("anycastd_catalog_revision {revision}");
    assert!(metrics.lines().any(|l| l == line), "{metrics}");
    backends[2].set(Mode::Unhealthy);
    wait_hops(&lab, VIP_CHECKED, &[1, 2]);

    // Node 2 restarted while etcd is down: it serves from its cache.
    nodes[1].signal(Signal::SIGTERM);
    nodes[1].wait_exit(TIMEOUT);
    wait_hops(&lab, VIP_CHECKED, &[1]);
    nodes[1].start_again();
    wait_hops(&lab, VIP_CHECKED, &[1, 2]);
    let c = catalog_state(&nodes[1]);
    assert_eq!(c["source"], "cache", "{c}");
    assert_eq!(c["revision"], revision, "{c}");
    backends[2].set(Mode::Healthy);
    wait_hops(&lab, VIP_CHECKED, &[1, 2, 3]);

    // etcd back: every node syncs again and a new put reaches all of them.
    etcd.start_again();
    for d in &nodes {
        wait_for(
            TIMEOUT,
            "synced again",
            || catalog_state(d),
            |c| c["state"] == "synced" && c["source"] == "etcd",
        );
    }
    let later = write(
        files.path(),
        "later.toml",
        &format!("[[vip]]\naddress = \"{VIP_LATER}\"\ninterface = \"lo\"\n"),
    );
    put(&nodes[0], &later);
    let announced = time_until_hops(&lab, VIP_LATER, &[1, 2, 3]);
    println!("after etcd came back: put -> announced by all 3 nodes: {announced:?}");

    // Delete: withdrawn everywhere; the rest stays, local VIPs included.
    ok(
        nodes[2].cli(&["catalog", "del", VIP_CHECKED]),
        "catalog del",
    );
    wait_hops(&lab, VIP_CHECKED, &[]);
    assert_eq!(hops(&lab, VIP_LATER), [1, 2, 3]);
    for i in 1..=3 {
        assert_eq!(hops(&lab, &local_vip(i)), [i], "node {i}'s own VIP");
    }
    let got = nodes[0].cli(&["catalog", "get", VIP_CHECKED]);
    assert_eq!(got.status.code(), Some(1), "{got:?}");
    // No BGP session was reset by any of it: each node's one session came up once.
    for (i, d) in nodes.iter().enumerate() {
        if i == 1 {
            continue; // restarted on purpose
        }
        let log = d.log();
        let ups = log.matches("session established").count();
        assert!(
            ups <= 1,
            "node {}: {ups} session establishments\n{log}",
            i + 1
        );
    }
    wait_until(
        TIMEOUT,
        "the cache file follows the latest revision",
        || {
            let cache =
                std::fs::read_to_string(caches.path().join("node3.json")).unwrap_or_default();
            cache.contains(VIP_LATER) && !cache.contains(&format!("vips/{VIP_CHECKED}\""))
        },
    );
}

/// node_labels pick nodes; a bad file is refused by the CLI; a bad document is refused alone
/// on every node and listed in /status; `check --catalog` names it; the API answers 409 for
/// a catalog VIP; a good document replaced by a bad one keeps its previous version.
#[test]
fn labels_pick_nodes_and_a_bad_document_is_refused_alone() {
    let f = fleet();
    let (lab, nodes, etcd) = (&f.lab, &f.nodes, &f.etcd);
    put(&nodes[0], &f.file("checked.toml", &checked_vip()));
    wait_hops(lab, VIP_CHECKED, &[1, 2, 3]);
    // node_labels = ["edge"]: nodes 1 and 2 carry it, node 3 does not.
    let edge = f.file(
        "edge.json",
        &format!(r#"{{"address": "{VIP_EDGE}", "interface": "lo", "node_labels": ["edge"]}}"#),
    );
    put(&nodes[0], &edge);
    wait_hops(lab, VIP_EDGE, &[1, 2]);
    wait_for(
        TIMEOUT,
        "node 3 counts the edge VIP as not its own",
        || catalog_state(&nodes[2]),
        |c| c["not_targeted"] == 1 && c["vips"] == 1,
    );

    // The CLI refuses a bad file with FILE:LINE:COL and writes nothing.
    let bad_file = f.file(
        "bad.toml",
        &format!("[[vip]]\naddress = \"{VIP_BAD}\"\nmed = -5\n"),
    );
    let out = nodes[0].cli(&["catalog", "put", &bad_file.display().to_string()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{}:3:7: vip[0].med:", bad_file.display())),
        "{stdout}"
    );
    // A bad document written behind its back (etcdctl) is refused alone, listed in /status.
    let key_bad = format!("/anycastd/vips/{VIP_BAD}");
    let doc_bad = r#"{"interface": "lo", "med": -5}"#;
    ok(etcd.etcdctl(&["put", &key_bad, doc_bad]), "etcdctl put");
    for d in nodes {
        let c = wait_for(
            TIMEOUT,
            "the bad document listed as rejected",
            || catalog_state(d),
            |c| c["rejected"].as_array().is_some_and(|r| !r.is_empty()),
        );
        assert_eq!(c["rejected"][0]["key"], key_bad.as_str(), "{c}");
        let error = c["rejected"][0]["error"].as_str().unwrap_or_default();
        assert!(
            error.starts_with(&format!("vip[{VIP_BAD}].med:")),
            "{error}"
        );
    }
    assert_eq!(hops(lab, VIP_BAD), Vec::<usize>::new());
    assert_eq!(
        hops(lab, VIP_CHECKED),
        [1, 2, 3],
        "the others are unaffected"
    );
    assert_eq!(hops(lab, VIP_EDGE), [1, 2]);
    // `check --catalog` names it too (exit 1).
    let out = nodes[0].cli(&["check", "--catalog"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{key_bad}: refused: vip[{VIP_BAD}].med")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("/anycastd/vips/{VIP_CHECKED}: ok")),
        "{stdout}"
    );
    // The API will not change a catalog VIP (409, naming the catalog).
    let url = format!("http://127.0.0.1:9180/vips/{VIP_CHECKED}");
    let out = lab
        .node(1)
        .command("curl")
        .args(["-s", "-X", "DELETE", "-w", "\n%{http_code}", &url])
        .output()
        .expect("curl");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.ends_with("\n409"), "{said}");
    assert!(said.contains("comes from the catalog"), "{said}");
    let out = nodes[0].cli(&["vip", "del", VIP_CHECKED]);
    assert!(!out.status.success(), "the CLI says so too: {out:?}");
    ok(etcd.etcdctl(&["del", &key_bad]), "etcdctl del");
    for d in nodes {
        wait_for(
            TIMEOUT,
            "the deleted bad document no longer listed",
            || catalog_state(d),
            |c| c["rejected"].as_array().is_some_and(|r| r.is_empty()),
        );
    }

    // A good document replaced by a bad one: refused, and its previous version keeps serving.
    let key_edge = format!("/anycastd/vips/{VIP_EDGE}");
    ok(
        etcd.etcdctl(&["put", &key_edge, "{\"interface\": 5}"]),
        "etcdctl put",
    );
    for d in &nodes[..2] {
        let c = wait_for(
            TIMEOUT,
            "the bad replacement listed as rejected",
            || catalog_state(d),
            |c| c["rejected"][0]["key"] == key_edge.as_str(),
        );
        let error = c["rejected"][0]["error"].as_str().unwrap_or_default();
        assert!(
            error.ends_with("(the previous version of this document stays in force)"),
            "{c}"
        );
    }
    assert_eq!(
        hops(lab, VIP_EDGE),
        [1, 2],
        "the previous version still announced"
    );
    put(&nodes[0], &edge);
    for d in nodes {
        wait_for(
            TIMEOUT,
            "the good version back, nothing rejected",
            || catalog_state(d),
            |c| c["rejected"].as_array().is_some_and(|r| r.is_empty()),
        );
    }
}

/// In the catalog the whole time: must never leave the router while node 2 is cut off.
const VIP_STAY: &str = "10.100.0.5";
/// Deleted while node 2 is cut off.
const VIP_GONE: &str = "10.100.0.6";
/// node_labels ["edge"] (nodes 1, 2), changed to ["fra1"] (node 1) while node 2 is cut off.
const VIP_MOVED: &str = "10.100.0.7";
/// Put while node 2 is cut off.
const VIP_NEW: &str = "10.100.0.8";

/// Node 2's traffic with etcd (TCP 2379, both directions) dropped by policy routing, its BGP
/// session untouched; `cut = false` lets it through again.
fn cut_etcd(lab: &Lab, cut: bool) {
    let op = if cut { "add" } else { "del" };
    lab.node(2)
        .ip(&["rule", op, "ipproto", "tcp", "dport", "2379", "blackhole"]);
    let node = node_addr(0, 2);
    lab.router(0).ip(&[
        "rule",
        op,
        "to",
        &node,
        "ipproto",
        "tcp",
        "sport",
        "2379",
        "blackhole",
    ]);
}

/// Writes about 8 MB of watch events under the prefix (80 puts of 100 kB, then 200 small
/// ones, all to `{prefix}/vips/filler`) through etcd's JSON gateway, so that etcd's send
/// path to a watcher that reads nothing fills up (HTTP/2 window, socket buffer, its 128
/// responses queued) and the watcher falls behind ("victim", then unsynced).
fn flood(lab: &Lab, etcd: &Etcd) {
    let script = r#"
import base64, http.client, json, sys
host = sys.argv[1].split("//")[1]
c = http.client.HTTPConnection(host, timeout=20)
key = base64.b64encode(b"/anycastd/vips/filler").decode()
def put(v):
    c.request("POST", "/v3/kv/put", json.dumps({"key": key, "value": base64.b64encode(v).decode()}))
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
for i in range(80):
    put(b"x" * 100000)
for i in range(200):
    put(b"y%d" % i)
"#;
    let out = lab
        .router(0)
        .command("python3")
        .args(["-c", script, etcd.url()])
        .output()
        .expect("python3");
    ok(out, "flood");
}

fn store_revision(etcd: &Etcd) -> i64 {
    let status = ok(
        etcd.etcdctl(&["endpoint", "status", "-w", "json"]),
        "etcdctl endpoint status",
    );
    let status: serde_json::Value = serde_json::from_str(status.trim()).expect("status json");
    status[0]["Status"]["header"]["revision"]
        .as_i64()
        .expect("revision")
}

/// Node 2 cut off from etcd (its BGP session kept) for a few seconds, less than the watch's
/// keep-alive takes to notice, while etcd gets a flood of events, a new VIP, a delete, an
/// update, and a compaction at the current revision: node 2's watch, resumed, is answered
/// "compacted"; it reads the catalog afresh and converges, and a VIP that was there the
/// whole time is never withdrawn (the router sampled every ~50 ms throughout).
#[test]
fn a_watch_behind_a_compaction_reads_afresh_and_withdraws_nothing_still_there() {
    let f = fleet();
    let (lab, nodes, etcd) = (&f.lab, &f.nodes, &f.etcd);
    let doc = |vip: &str, labels: &str| {
        let key = format!("/anycastd/vips/{vip}");
        let doc = format!(r#"{{"interface": "lo"{labels}}}"#);
        ok(etcd.etcdctl(&["put", &key, &doc]), "etcdctl put");
    };
    doc(VIP_STAY, "");
    doc(VIP_GONE, "");
    doc(VIP_MOVED, r#", "node_labels": ["edge"]"#);
    wait_hops(lab, VIP_STAY, &[1, 2, 3]);
    wait_hops(lab, VIP_GONE, &[1, 2, 3]);
    wait_hops(lab, VIP_MOVED, &[1, 2]);
    let before = store_revision(etcd);
    wait_for(
        TIMEOUT,
        "node 2 at the store's revision",
        || catalog_state(&nodes[1]),
        |c| c["revision"] == before,
    );

    // Every route change at the router, gap-free, beside the sampling.
    let monitor_out = f.file("monitor.txt", "");
    let mut monitor = lab
        .router(0)
        .command("ip")
        .args(["monitor", "route"])
        .stdout(std::fs::File::create(&monitor_out).unwrap())
        .spawn()
        .expect("ip monitor");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (samples, rev, cut_for, converged) = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut samples: Vec<(Instant, Vec<usize>)> = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                samples.push((Instant::now(), hops(lab, VIP_STAY)));
                std::thread::sleep(Duration::from_millis(50));
            }
            samples
        });
        std::thread::sleep(Duration::from_millis(300));
        let cut_at = Instant::now();
        cut_etcd(lab, true);
        flood(lab, etcd);
        println!("cut: flood written in {:?}", cut_at.elapsed());
        doc(VIP_NEW, "");
        ok(
            etcd.etcdctl(&["del", &format!("/anycastd/vips/{VIP_GONE}")]),
            "etcdctl del",
        );
        doc(VIP_MOVED, r#", "node_labels": ["fra1"]"#);
        ok(
            etcd.etcdctl(&["del", "/anycastd/vips/filler"]),
            "etcdctl del",
        );
        // Nodes 1 and 3 follow; node 2 does not (it still announces the deleted VIP).
        wait_hops(lab, VIP_GONE, &[2]);
        wait_hops(lab, VIP_NEW, &[1, 3]);
        let rev = store_revision(etcd);
        ok(
            etcd.etcdctl(&["compact", &rev.to_string()]),
            "etcdctl compact",
        );
        let c = catalog_state(&nodes[1]);
        assert_eq!(c["revision"], before, "node 2 saw nothing while cut: {c}");
        println!("cut: node 2's catalog state while cut off: {}", c["state"]);
        let cut_for = cut_at.elapsed();
        cut_etcd(lab, false);
        let back = Instant::now();
        wait_hops(lab, VIP_NEW, &[1, 2, 3]);
        wait_hops(lab, VIP_GONE, &[]);
        wait_hops(lab, VIP_MOVED, &[1]);
        wait_for(
            TIMEOUT,
            "node 2 synced at the compacted revision",
            || catalog_state(&nodes[1]),
            |c| c["state"] == "synced" && c["revision"] == rev,
        );
        let converged = back.elapsed();
        // Keep sampling a little after the resync.
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let samples = sampler.join().unwrap();
        // The samples cover the cut and the resync.
        assert!(
            samples.first().is_some_and(|(t, _)| *t < cut_at)
                && samples.last().is_some_and(|(t, _)| *t > back + converged),
            "the samples do not span the cut and the resync"
        );
        (samples, rev, cut_for, converged)
    });
    println!(
        "cut off for {cut_for:?} (compacted at revision {rev}); after reconnecting, node 2 \
         converged in {converged:?}; {} samples of {VIP_STAY}'s next hops",
        samples.len()
    );
    assert!(samples.len() >= 20, "{} samples", samples.len());
    for (t, h) in &samples {
        assert_eq!(
            h,
            &[1, 2, 3],
            "{VIP_STAY} lost a next hop {:?} into the sampling",
            t.duration_since(samples[0].0)
        );
    }
    let _ = monitor.kill();
    let _ = monitor.wait();
    // `ip monitor` messages: a line at the margin starts one, indented lines continue it.
    let text = std::fs::read_to_string(&monitor_out).unwrap();
    let mut messages: Vec<String> = Vec::new();
    for line in text.lines() {
        match messages.last_mut() {
            Some(m) if line.starts_with([' ', '\t']) => {
                m.push('\n');
                m.push_str(line);
            }
            _ => messages.push(line.to_string()),
        }
    }
    let stay: Vec<&String> = messages
        .iter()
        .filter(|m| {
            let head = m.trim_start_matches("Deleted ");
            head.starts_with(&format!("{VIP_STAY} ")) || head.starts_with(&format!("{VIP_STAY}/"))
        })
        .collect();
    println!(
        "ip monitor route: {} messages, {} for {VIP_STAY}",
        messages.len(),
        stay.len()
    );
    assert!(
        messages.iter().any(|m| m.contains(VIP_NEW)),
        "the monitor saw the new VIP's route: {text}"
    );
    for m in &stay {
        assert!(
            !m.starts_with("Deleted") && m.contains(&node_addr(0, 2)),
            "{VIP_STAY}'s route changed without node 2: {m}\n{text}"
        );
    }
    let log = nodes[1].log();
    assert!(
        log.contains(&format!(
            "the watch fell behind a compaction (revision {rev})"
        )),
        "node 2 did not resync through the compaction path:\n{log}"
    );
    let c = catalog_state(&nodes[1]);
    assert_eq!(c["source"], "etcd", "{c}");
    assert!(
        c["rejected"].as_array().is_some_and(|r| r.is_empty()),
        "{c}"
    );
    // BGP to node 2 was never cut: one session establishment.
    assert_eq!(log.matches("session established").count(), 1, "{log}");
}

/// `[catalog]` over TLS with client certificates and etcd authentication: a node with the CA,
/// its client certificate and the right password follows the catalog; a node with a wrong
/// password keeps serving its own VIP, shows the catalog unreachable with etcd's reason, and
/// announces nothing from it.
#[test]
fn a_catalog_over_tls_with_a_client_certificate_and_a_password_is_followed() {
    let lab = Lab::new(1, 2);
    let _frr = lab.start_router(0, None);
    let etcd = Etcd::start_tls(
        lab.router(0),
        &[&router_addr(0, 1), &router_addr(0, 2)],
        "s3cret",
    );
    let caches = tempfile::tempdir().unwrap();
    let tls = etcd.tls();
    let config = |i: usize, password: &str| {
        format!(
            "{}[[vip]]\naddress = \"{}\"\ninterface = \"lo\"\n\n\
             [catalog]\netcd = [\"https://{}:2379\"]\ncache = \"{}\"\n\
             ca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\nusername = \"root\"\npassword = \"{password}\"\n",
            lab.node_config(i, ""),
            local_vip(i),
            router_addr(0, i),
            caches.path().join(format!("node{i}.json")).display(),
            tls.ca.display(),
            tls.client_cert.display(),
            tls.client_key.display(),
        )
    };
    let good = Daemon::start(lab.node(1), "node1", &config(1, "s3cret"));
    let wrong = Daemon::start(lab.node(2), "node2", &config(2, "not-it"));
    wait_for(
        TIMEOUT,
        "node 1 synced with etcd over TLS",
        || catalog_state(&good),
        |c| c["state"] == "synced",
    );
    ok(
        etcd.etcdctl(&["put", "/anycastd/vips/10.100.0.9", r#"{"interface": "lo"}"#]),
        "etcdctl put over TLS",
    );
    wait_hops(&lab, "10.100.0.9", &[1]);
    // The other node: its own VIP still served, the catalog's not, and why.
    wait_hops(&lab, &local_vip(2), &[2]);
    let c = wait_for(
        TIMEOUT,
        "node 2 says the catalog is unreachable",
        || catalog_state(&wrong),
        |c| c["state"] == "unreachable" && c["last_error"].is_string(),
    );
    let why = c["last_error"].as_str().unwrap().to_lowercase();
    assert!(
        why.contains("auth") || why.contains("password"),
        "etcd's reason is shown: {why}"
    );
    assert_eq!(
        hops(&lab, "10.100.0.9"),
        vec![1],
        "node 2 announces nothing from it"
    );
    assert!(
        !catalog_state(&good).to_string().contains("s3cret")
            && !good.cli_ok(&["config"]).contains("s3cret"),
        "the password is kept out of /status and GET /config"
    );
}
