//! Supervision of the daemon's long-lived tasks: a task that panics is noticed, logged and
//! either restarted (a BGP session, a health check) or the daemon exits 70 for systemd to start
//! it again (the dataplane thread, the BFD task, the HTTP server). The panics are injected with
//! `ANYCASTD_FAULT` (src/fault.rs), against a real FRR router in network namespaces.

mod support;

use std::time::Duration;

use support::backend::{http_get, Backend, Mode};
use support::daemon::Daemon;
use support::frr::bfd_router_conf;
use support::lab::{node_addr, router_addr, Lab};
use support::{kernel_next_hops, wait_for, wait_until, Frr};

const TIMEOUT: Duration = Duration::from_secs(40);
const VIP: &str = "10.100.0.1";
const EXIT_TASK_FAILED: i32 = 70;
const API: &str = "127.0.0.1:9180";

/// GET `path` from the daemon's HTTP endpoint in the node's namespace.
fn get(lab: &Lab, path: &str) -> std::io::Result<(u16, String)> {
    http_get(lab.node(1), API.parse().unwrap(), path)
}

fn start_with_fault(lab: &Lab, fault: &str, config: &str) -> Daemon {
    let env = format!("ANYCASTD_FAULT={fault}");
    Daemon::start_wrapped(lab.node(1), "node1", config, &["env", &env], &[])
}

fn vip(check: &str) -> String {
    format!("[[vip]]\naddress = \"{VIP}\"\ninterface = \"lo\"\n{check}\n")
}

fn wait_routed(lab: &Lab) {
    let via = node_addr(0, 1);
    wait_for(
        TIMEOUT,
        &format!("{VIP} routed via {via}"),
        || kernel_next_hops(lab.router(0), VIP),
        |h| *h == [via.clone()],
    );
}

#[test]
fn a_bgp_session_task_that_panics_is_restarted_and_its_session_comes_back() {
    let lab = Lab::new(1, 1);
    let _frr = lab.start_router(0, None);
    let cfg = lab.node_config(1, "") + &vip("");
    let d = start_with_fault(&lab, "bgp-session", &cfg);
    let task = format!("bgp-session {}", router_addr(0, 1));
    wait_for(
        TIMEOUT,
        "the panicked session restarted and established again",
        || d.status(),
        |s| s["task_restarts"][&task] == 1 && s["peers"][0]["state"] == "established",
    );
    let line = format!("{task} task panicked (injected fault: bgp-session");
    assert!(d.log().contains(&line), "{}", d.log());
    wait_routed(&lab);
    let (_, metrics) = get(&lab, "/metrics").unwrap();
    let line = format!("anycastd_task_restarts_total{{task=\"{task}\"}} 1");
    assert!(metrics.lines().any(|l| l == line), "{metrics}");
    let (code, _) = get(&lab, "/healthz").unwrap();
    assert_eq!(code, 200, "a restarted task leaves the daemon healthy");
}

/// The restarted check task keeps deciding: after the restart a failing backend still
/// withdraws the VIP and a healthy one announces it again.
#[test]
fn a_health_check_task_that_panics_is_restarted_and_keeps_checking() {
    let lab = Lab::new(1, 1);
    let _frr = lab.start_router(0, None);
    let backend = Backend::start(lab.node(1), 8080);
    let check = "  [vip.check]\ntype = \"http\"\nport = 8080\npath = \"/healthz\"\n\
                 interval = \"200ms\"\ntimeout = \"100ms\"\nrise = 1\nfall = 1\n";
    let cfg = lab.node_config(1, "") + &vip(check);
    let d = start_with_fault(&lab, "health-check", &cfg);
    wait_for(
        TIMEOUT,
        "the panicked check task restarted",
        || d.status(),
        |s| {
            s["task_restarts"].as_object().is_some_and(|m| {
                m.keys()
                    .any(|k| k.starts_with("health-check VIP 10.100.0.1"))
            })
        },
    );
    assert!(d.log().contains("panicked (injected fault: health-check"));
    wait_routed(&lab);
    backend.set(Mode::Unhealthy);
    wait_until(TIMEOUT, "withdrawn after the backend failed", || {
        kernel_next_hops(lab.router(0), VIP).is_empty()
    });
    backend.set(Mode::Healthy);
    wait_routed(&lab);
}

fn exits_70_naming(d: &mut Daemon, what: &str) {
    let status = d.wait_exit(TIMEOUT);
    assert_eq!(status.code(), Some(EXIT_TASK_FAILED), "{}", d.log());
    let line = format!("{what} ended unexpectedly: exiting for a restart");
    assert!(d.log().contains(&line), "{}", d.log());
}

#[test]
fn the_end_of_the_dataplane_thread_makes_the_daemon_exit_70() {
    let lab = Lab::new(1, 1);
    let _frr = lab.start_router(0, None);
    let cfg = lab.node_config(1, "") + &vip("");
    let mut d = start_with_fault(&lab, "dataplane", &cfg);
    exits_70_naming(&mut d, "the dataplane thread");
}

#[test]
fn the_end_of_the_http_server_makes_the_daemon_exit_70() {
    let lab = Lab::new(1, 1);
    let _frr = lab.start_router(0, None);
    let cfg = lab.node_config(1, "") + &vip("");
    let mut d = start_with_fault(&lab, "api", &cfg);
    // The first connection to the API panics its server loop (wait until it listens).
    wait_until(TIMEOUT, "the API accepting", || {
        get(&lab, "/healthz").is_ok() || d.exited().is_some()
    });
    exits_70_naming(&mut d, "the HTTP server");
}

/// The BFD task panics when its session first comes Up.
#[test]
fn the_end_of_the_bfd_task_makes_the_daemon_exit_70() {
    let lab = Lab::new(1, 1);
    let _frr = Frr::start_with_bfd(lab.router(0), &bfd_router_conf(&node_addr(0, 1), true));
    let cfg = lab
        .node_config(1, "")
        .replacen("next_hop6 =", "bfd = true\nnext_hop6 =", 1)
        + &vip("");
    let mut d = start_with_fault(&lab, "bfd", &cfg);
    exits_70_naming(&mut d, "the BFD task");
}

/// A passive node: the router's connections reach it only through the BGP listener.
fn passive_config(lab: &Lab) -> String {
    let listen = format!("listen = \"{}:179\"", node_addr(0, 1));
    lab.node_config(1, &listen)
        .replacen("next_hop6 =", "passive = true\nnext_hop6 =", 1)
        + &vip("")
}

/// The listener panics on its first accepted connection; restarted, it accepts the router's
/// next attempt and the passive session comes up.
#[test]
fn a_bgp_listener_that_panics_is_restarted_and_accepts_the_router_again() {
    let lab = Lab::new(1, 1);
    let _frr = lab.start_router(0, None);
    let d = start_with_fault(&lab, "bgp-listener", &passive_config(&lab));
    wait_for(
        TIMEOUT,
        "the listener restarted and the passive session established",
        || d.status(),
        |s| s["task_restarts"]["bgp-listener"] == 1 && s["peers"][0]["state"] == "established",
    );
    assert!(d
        .log()
        .contains("bgp-listener task panicked (injected fault: bgp-listener"));
    let s = d.status();
    assert_eq!(s["bgp_listener"]["listening"], true, "{s}");
    wait_routed(&lab);
}

/// Another process holds the BGP port when the daemon starts: the listener says why in
/// /status and keeps trying, and binds once the port is free.
#[test]
fn a_bgp_listener_that_cannot_bind_retries_until_the_port_is_free() {
    let lab = Lab::new(1, 1);
    let _frr = lab.start_router(0, None);
    let hold = format!(
        "import socket,time\ns=socket.socket()\ns.bind(('{}',179))\ns.listen()\n\
         print('bound',flush=True)\ntime.sleep(120)\n",
        node_addr(0, 1)
    );
    let mut holder = lab
        .node(1)
        .command("python3")
        .args(["-c", &hold])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "bound");
    let d = Daemon::start(lab.node(1), "node1", &passive_config(&lab));
    let s = wait_for(
        TIMEOUT,
        "the listener reporting that it cannot bind",
        || d.status(),
        |s| s["bgp_listener"]["listening"] == false && s["bgp_listener"]["last_error"].is_string(),
    );
    let error = s["bgp_listener"]["last_error"].as_str().unwrap();
    assert!(error.contains("in use"), "{error}");
    assert_ne!(s["peers"][0]["state"], "established");
    holder.kill().unwrap();
    holder.wait().unwrap();
    wait_for(
        TIMEOUT,
        "the listener bound and the passive session established",
        || d.status(),
        |s| s["bgp_listener"]["listening"] == true && s["peers"][0]["state"] == "established",
    );
    wait_routed(&lab);
}
