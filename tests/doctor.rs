//! `anycastd doctor -c FILE` as operators run it: the real binary in a network namespace,
//! against a real FRR router, a port held by another program, and this host's own kernel.
//!
//! ```text
//!   router (FRR, AS 65000)  eth0 ────── eth0  node (anycastd doctor, AS 65001)
//!     10.0.1.1/24 (bgpd on :179)              10.0.1.2/24
//!     10.0.1.3/24 (bgpd, neighbor 10.0.1.2)   10.0.1.4/24 (not a neighbor of the router)
//!     10.0.1.5/24 (nothing on :1179)
//! ```

mod support;

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::daemon::{Daemon, BIN};
use support::lab::frr_bgp_conf;
use support::{wait_for, wait_until, Frr, Netns};

const TIMEOUT: Duration = Duration::from_secs(40);

struct Topology {
    router: Netns,
    node: Netns,
}

fn topology() -> Topology {
    let router = Netns::new("drr");
    let node = Netns::new("drn");
    support::link(&router, "eth0", &node, "eth0");
    for a in ["10.0.1.1/24", "10.0.1.3/24", "10.0.1.5/24"] {
        router.addr("eth0", a);
    }
    for a in ["10.0.1.2/24", "10.0.1.4/24"] {
        node.addr("eth0", a);
    }
    Topology { router, node }
}

/// FRR in AS 65000 with the node's 10.0.1.2 as its only neighbor, listening on 179.
fn start_router(t: &Topology) -> Frr {
    let frr = Frr::start(
        &t.router,
        &frr_bgp_conf("10.255.255.1", 65000, &[("10.0.1.2", 65001)], None),
    );
    wait_until(TIMEOUT, "bgpd listening on port 179", || {
        let out = t
            .router
            .command("ss")
            .args(["-Hltn", "sport = :179"])
            .output()
            .expect("ss");
        !out.stdout.is_empty()
    });
    frr
}

const NODE: &str = "[node]\nrouter_id = \"10.0.1.2\"\nasn = 65001\n\n\
                    [api]\nlisten = \"127.0.0.1:9180\"\n\n[bgp]\nconnect_retry = 1\n\n";

/// Runs `anycastd doctor -c FILE` with `config` in `ns`: (exit status, stdout).
fn doctor(ns: &Netns, config: &str) -> (i32, String) {
    let dir = tempfile::Builder::new()
        .prefix("doctor-")
        .tempdir()
        .expect("tempdir");
    let file = dir.path().join("anycastd.toml");
    std::fs::write(&file, config).unwrap();
    let out = ns
        .command(BIN)
        .arg("doctor")
        .arg("-c")
        .arg(&file)
        .output()
        .expect("run anycastd doctor");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!(
        "anycastd doctor in {}:\n{stdout}{}",
        ns.name(),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().expect("exit status"), stdout)
}

/// The output line on `topic` (its text after the level).
fn line<'a>(out: &'a str, topic: &str) -> &'a str {
    let wanted: Vec<&str> = out
        .lines()
        .filter(|l| {
            l.get(5..)
                .is_some_and(|rest| rest.starts_with(&format!("{topic}: ")))
        })
        .collect();
    match wanted.as_slice() {
        [l] => l,
        _ => panic!("expected one line on {topic:?}:\n{out}"),
    }
}

/// Holds a TCP listener on `addr` inside `ns` (the socket stays in the namespace it was made
/// in) until dropped.
fn hold_port(ns: &Netns, addr: &str) -> TcpListener {
    let ns_name = ns.name().to_string();
    let addr = addr.to_string();
    std::thread::spawn(move || {
        let f = std::fs::File::open(format!("/var/run/netns/{ns_name}")).unwrap();
        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        TcpListener::bind(&addr).unwrap()
    })
    .join()
    .unwrap()
}

/// Whether this namespace's kernel has IPVS and dummy interfaces, asked independently of
/// anycastd (ipvsadm, ip link).
fn kernel_has(ns: &Netns) -> (bool, bool) {
    let ipvs = ns
        .command("ipvsadm")
        .arg("-Ln")
        .output()
        .is_ok_and(|o| o.status.success());
    let dummy = ns
        .command("ip")
        .args(["link", "add", "drprobe0", "type", "dummy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if dummy {
        ns.ip(&["link", "del", "drprobe0"]);
    }
    (ipvs, dummy)
}

#[test]
fn a_node_that_can_run_its_config_gets_ok_lines_and_exit_0_also_while_anycastd_runs() {
    let t = topology();
    let _frr = start_router(&t);
    let config = format!(
        "{NODE}[[bgp.peer]]\naddress = \"10.0.1.1\"\nasn = 65000\n\n\
         [[vip]]\naddress = \"10.100.0.53\"\ninterface = \"lo\"\n"
    );
    let (code, out) = doctor(&t.node, &config);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        line(&out, "peer 10.0.1.1 port 179"),
        "ok   peer 10.0.1.1 port 179: answers BGP: OPEN from AS 65000, BGP identifier \
         10.255.255.1 (to 10.0.1.2)"
    );
    assert!(
        line(&out, "ipvs").starts_with("ok   ipvs: not needed"),
        "{out}"
    );
    assert!(line(&out, "interface lo").starts_with("ok   interface lo: exists"));
    assert_eq!(
        line(&out, "api 127.0.0.1:9180"),
        "ok   api 127.0.0.1:9180: free"
    );
    assert!(
        out.ends_with("doctor: nothing blocks `anycastd run` (0 warn)\n"),
        "{out}"
    );

    // The same config while anycastd runs it: the port is anycastd's, the VIP address too.
    let d = Daemon::start(&t.node, "node", &config);
    wait_for(
        TIMEOUT,
        "session established",
        || d.status()["peers"][0]["state"].clone(),
        |s| s == "established",
    );
    let (code, out) = doctor(&t.node, &config);
    assert_eq!(code, 0, "{out}");
    assert!(
        line(&out, "api 127.0.0.1:9180")
            .starts_with("ok   api 127.0.0.1:9180: anycastd is running there (GET /healthz"),
        "{out}"
    );
    // Not probed: a second connection from this node would make FRR, which negotiated
    // graceful restart with it, drop the running session (RFC 4724 §4.2).
    assert!(
        line(&out, "peer 10.0.1.1 port 179").starts_with(
            "ok   peer 10.0.1.1 port 179: established (the running anycastd's session"
        ),
        "{out}"
    );
    assert_eq!(
        line(&out, "vips"),
        "ok   vips: no foreign address equals one of the 1 VIP(s)"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        d.status()["peers"][0]["state"],
        "established",
        "doctor left the running session alone: {}",
        d.log()
    );
}

#[test]
fn unreachable_peers_a_taken_api_port_and_the_kernel_are_each_reported_and_block_run() {
    let t = topology();
    let _frr = start_router(&t);
    let _held = hold_port(&t.node, "127.0.0.1:9180");
    t.node
        .command("sysctl")
        .args(["-qw", "net.ipv4.ip_forward=0"])
        .status()
        .unwrap();
    let config = format!(
        "{NODE}[[bgp.peer]]\naddress = \"10.0.1.1\"\nasn = 65000\n\n\
         [[bgp.peer]]\naddress = \"10.0.1.3\"\nasn = 65000\nlocal_address = \"10.0.1.4\"\n\n\
         [[bgp.peer]]\naddress = \"10.0.1.5\"\nasn = 65000\nport = 1179\n\n\
         [[vip]]\naddress = \"10.100.0.1\"\n\n\
         [[vip.service]]\nname = \"web\"\nport = 80\nscheduler = \"wrr\"\nforwarding = \"masq\"\n\n\
         [[vip.service.backend]]\naddress = \"10.0.10.11\"\nport = 8080\n"
    );
    let (code, out) = doctor(&t.node, &config);
    assert_eq!(code, 1, "{out}");
    assert!(
        line(&out, "peer 10.0.1.1 port 179")
            .starts_with("ok   peer 10.0.1.1 port 179: answers BGP"),
        "{out}"
    );
    assert_eq!(
        line(&out, "peer 10.0.1.3 port 179"),
        "warn peer 10.0.1.3 port 179: accepted the connection from 10.0.1.4 and closed it \
         without an OPEN: the router has no neighbor for this address; fix: on the router: \
         neighbor 10.0.1.4 remote-as 65001 (or set local_address to the address the router knows)"
    );
    assert!(
        line(&out, "peer 10.0.1.5 port 1179")
            .starts_with("warn peer 10.0.1.5 port 1179: connection refused"),
        "{out}"
    );
    assert!(
        line(&out, "api 127.0.0.1:9180").starts_with(
            "FAIL api 127.0.0.1:9180: in use by another program (GET /healthz did not answer"
        ),
        "{out}"
    );
    assert!(
        line(&out, "masq (web)").starts_with("FAIL masq (web): net.ipv4.ip_forward = 0"),
        "{out}"
    );
    // This host's kernel, as ipvsadm and ip link find it.
    let (ipvs, dummy) = kernel_has(&t.node);
    let ipvs_line = line(&out, "ipvs");
    if ipvs {
        assert!(ipvs_line.starts_with("ok   ipvs: available"), "{out}");
    } else {
        assert!(
            ipvs_line.starts_with("FAIL ipvs: this kernel has no IPVS"),
            "{out}"
        );
    }
    let anycast0 = line(&out, "interface anycast0");
    if dummy {
        assert!(
            anycast0.starts_with("ok   interface anycast0: will be created"),
            "{out}"
        );
    } else {
        assert!(
            anycast0.starts_with(
                "FAIL interface anycast0: does not exist and cannot be created: no dummy interfaces"
            ),
            "{out}"
        );
    }
    assert!(
        out.lines()
            .last()
            .unwrap()
            .contains("`anycastd run` is blocked on this machine"),
        "{out}"
    );
}

#[test]
fn an_invalid_config_prints_checks_errors_and_exits_1_and_a_missing_one_exits_2() {
    let dir = tempfile::Builder::new()
        .prefix("doctor-")
        .tempdir()
        .unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[node]\nrouter_id = \"10.0.1.2\"\nasn = 0\n").unwrap();
    let run = |file: &Path| {
        Command::new(BIN)
            .args(["doctor", "-c"])
            .arg(file)
            .output()
            .unwrap()
    };
    let out = run(&file);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(&format!(
            "{}:3:7: node.asn: AS 0 is reserved",
            file.display()
        )),
        "{text}"
    );
    assert!(text.ends_with("`anycastd run` is blocked\n"), "{text}");
    let out = run(&dir.path().join("absent.toml"));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
}
