//! Acceptance tests: the real `anycastd` binary (`anycastd run -c FILE`) in network namespaces,
//! peering with real FRR routers; what the routers install in their kernels is the verdict.
//!
//! The host kernel has neither IPVS nor dummy interfaces, so every VIP here lives on `lo` and
//! has no `[[vip.service]]`; health is driven by `[vip.check]` against small backends served
//! from inside the node's namespace (tests/support/backend.rs). Scenarios that need IPVS run
//! in the QEMU lab.
//!
//! Topology helpers: tests/support/lab.rs (router k eth{i} ── node i eth{k}, 10.k.i.0/24).
//! Every namespace name carries the pid, so the tests run in parallel; they mostly wait, so
//! `-- --test-threads 8` runs all of them at once:
//!
//! ```text
//! cargo test --test acceptance -- --test-threads 16
//! ```
//!
//! On failure, each daemon's log (`--log-level debug`) is printed after the panic message.

#[path = "../support/mod.rs"]
mod support;

mod api;
mod bgp;
mod checks;
mod drain;
mod lifecycle;
mod policy;
mod reload;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::backend::{http_get, Backend, Mode};
use support::daemon::Daemon;
use support::lab::{node_addr, node_addr6, router_addr, Lab};
use support::{kernel_next_hops, run, wait_for, Frr, Netns};

const TIMEOUT: Duration = Duration::from_secs(40);

const VIP4: &str = "10.100.0.1";
const VIP4B: &str = "10.100.0.2";
const VIP4C: &str = "10.100.0.3";
const VIP6: &str = "2001:db8:100::1";
/// The daemon's HTTP endpoint in the node's namespace (`[api] listen`).
const API: &str = "127.0.0.1:9180";

/// No next hop: the route is withdrawn.
const NONE: &[&str] = &[];

/// A plain anycast VIP on `lo`, with optional extra keys (`communities = …`) and check lines.
fn vip(address: &str, extra: &str, check: Option<&str>) -> String {
    let mut s = format!("[[vip]]\naddress = \"{address}\"\ninterface = \"lo\"\n{extra}\n");
    if let Some(c) = check {
        s += &format!("  [vip.check]\n{c}\n");
    }
    s + "\n"
}

/// The check timing most tests use: every second, a 500 ms timeout, two results to change.
const TIMING: &str = "interval = \"1s\"\ntimeout = \"500ms\"\nrise = 2\nfall = 2\n";

/// `[vip.check]` lines: HTTP GET /healthz on `port`, with [`TIMING`].
fn http_check(port: u16) -> String {
    format!("type = \"http\"\nport = {port}\npath = \"/healthz\"\n{TIMING}")
}

/// `[vip.check]` lines: a TCP connect to `port`, with [`TIMING`].
fn tcp_check(port: u16) -> String {
    format!("type = \"tcp\"\nport = {port}\n{TIMING}")
}

/// `[vip.check]` lines: `/bin/sh -c command`, passing on exit 0, with [`TIMING`].
fn exec_check(command: &str) -> String {
    format!("type = \"exec\"\nport = 1\ncommand = [\"/bin/sh\", \"-c\", \"{command}\"]\n{TIMING}")
}

/// An FRR config for router `k` (router id 10.255.255.{k+1}) in AS `asn` with one neighbor,
/// `addr` in AS `remote_asn`, connect retry 1 s; `extra` lines follow the neighbor's.
fn one_neighbor_conf(k: usize, asn: u32, addr: &str, remote_asn: u32, extra: &str) -> String {
    format!(
        "frr defaults datacenter\n!\nrouter bgp {asn}\n bgp router-id 10.255.255.{}\n \
         no bgp ebgp-requires-policy\n neighbor {addr} remote-as {remote_asn}\n \
         neighbor {addr} timers connect 1\n{extra}!\n",
        k + 1
    )
}

/// One FRR router and one node running anycastd (tests/support/lab.rs with one router and one
/// node): `router eth1 10.0.1.1 2001:db8:0:1::1 ── eth0 10.0.1.2 2001:db8:0:1::2 node`.
/// The node's daemon is started with [`Scenario::start`], once the test has set up what must
/// come first (backends, a router that is still down).
struct Scenario {
    /// Declared before `lab`: the router stops before its namespaces go.
    frr: Option<Frr>,
    lab: Lab,
}

impl Scenario {
    /// The lab's router config (FRR, AS 65000, the node as its neighbor, ECMP), with its
    /// datacenter timers unless `timers` (keepalive, hold) says otherwise.
    fn router_conf(timers: Option<(u16, u16)>) -> String {
        support::lab::router_conf("10.255.255.1", &[node_addr(0, 1)], timers)
    }

    /// The router runs the lab's config, [`Scenario::router_conf`]`(None)`.
    fn one_router_one_node() -> Scenario {
        Scenario::with_router_conf(&Scenario::router_conf(None))
    }

    /// The router runs `conf`.
    fn with_router_conf(conf: &str) -> Scenario {
        let mut s = Scenario::before_its_router();
        s.frr = Some(Frr::start(s.router(), conf));
        s
    }

    /// The namespaces only; [`Scenario::start_router`] starts the router later.
    fn before_its_router() -> Scenario {
        Scenario {
            frr: None,
            lab: Lab::new(1, 1),
        }
    }

    /// Starts the router with the lab's config.
    fn start_router(&mut self) {
        self.frr = Some(Frr::start(self.router(), &Scenario::router_conf(None)));
    }

    fn frr(&self) -> &Frr {
        self.frr.as_ref().expect("the router is not started")
    }

    fn router(&self) -> &Netns {
        self.lab.router(0)
    }

    fn node(&self) -> &Netns {
        self.lab.node(1)
    }

    /// The node's `[node]`, `[api]` and `[bgp]` (plus `bgp_extra` lines), peering with the
    /// router; VIPs are appended by the test.
    fn config(&self, bgp_extra: &str) -> String {
        self.lab.node_config(1, bgp_extra)
    }

    /// Starts the node's daemon ("node1") on `config`.
    fn start(&self, config: &str) -> Daemon {
        Daemon::start(self.node(), "node1", config)
    }

    /// The node's address on the link in `vip`'s family: the route's next hop at the router.
    fn next_hop(vip: &str) -> String {
        if vip.contains(':') {
            node_addr6(0, 1)
        } else {
            node_addr(0, 1)
        }
    }

    /// The router's kernel next hops for `vip`.
    fn hops(&self, vip: &str) -> Vec<String> {
        kernel_next_hops(self.router(), vip)
    }

    /// True if the router's kernel routes `vip` via the node, and only via it.
    fn announced(&self, vip: &str) -> bool {
        self.hops(vip) == [Scenario::next_hop(vip)]
    }

    /// Asserts that the router's kernel routes `vip` via the node, and only via it.
    fn assert_announced(&self, vip: &str, what: &str) {
        assert_eq!(self.hops(vip), [Scenario::next_hop(vip)], "{what}");
    }

    /// Waits until the router's kernel routes `vip` via the node.
    fn wait_announced(&self, vip: &str) {
        wait_next_hops(self.router(), vip, &[Scenario::next_hop(vip)]);
    }

    /// Waits until the router's kernel has no route to `vip`.
    fn wait_withdrawn(&self, vip: &str) {
        wait_next_hops(self.router(), vip, NONE);
    }

    /// The communities on the router's path to `vip`/32 from the node, if it has one.
    fn community(&self, vip: &str) -> Option<String> {
        community_from(self.frr(), &format!("{vip}/32"), &node_addr(0, 1))
    }

    /// Waits (5 s at most) until the router's path to `vip` carries GRACEFUL_SHUTDOWN.
    fn wait_graceful_shutdown(&self, vip: &str) {
        wait_for(
            Duration::from_secs(5),
            "GRACEFUL_SHUTDOWN at the router",
            || self.community(vip),
            |c| {
                c.as_deref()
                    .is_some_and(|c| c.contains("graceful-shutdown"))
            },
        );
    }
}

/// Waits until `dst`'s kernel route in `ns` goes via exactly `expected` (sorted, any order).
fn wait_next_hops(ns: &Netns, dst: &str, expected: &[impl AsRef<str>]) {
    let mut expected: Vec<String> = expected.iter().map(|e| e.as_ref().to_string()).collect();
    expected.sort();
    wait_for(
        TIMEOUT,
        &format!("kernel route {dst} in {} via {expected:?}", ns.name()),
        || kernel_next_hops(ns, dst),
        |hops| *hops == expected,
    );
}

/// Polls `cond` every 50 ms; returns how long it took to become true (panics after `timeout`).
fn time_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if cond() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `show bgp neighbors ADDR json`, the neighbor's object (Null if bgpd does not answer).
fn neighbor(frr: &Frr, addr: &str) -> serde_json::Value {
    frr.vtysh_json(&format!("show bgp neighbors {addr} json"))[addr].clone()
}

/// The neighbor's session history: (connections established, connections dropped).
/// Unchanged across a reload means the session was not reset. (FRR's
/// `bgpTimerUpEstablishedEpoch` is now − uptime in whole seconds, so it jitters by one and is
/// no good for this.)
fn session_identity(frr: &Frr, addr: &str) -> (u64, u64) {
    let n = neighbor(frr, addr);
    (
        n["connectionsEstablished"].as_u64().unwrap_or(0),
        n["connectionsDropped"].as_u64().unwrap_or(0),
    )
}

/// The BGP paths the router has for `prefix` (IPv4 unicast), as JSON.
fn bgp_paths(frr: &Frr, prefix: &str) -> Vec<serde_json::Value> {
    frr.vtysh_json(&format!("show bgp ipv4 unicast {prefix} json"))["paths"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The community string of the path learned from `peer`, if the router has one.
fn community_from(frr: &Frr, prefix: &str, peer: &str) -> Option<String> {
    bgp_paths(frr, prefix)
        .into_iter()
        .find(|p| p["peer"]["peerId"] == peer)
        .map(|p| p["community"]["string"].as_str().unwrap_or("").to_string())
}

fn vip_status<'a>(status: &'a serde_json::Value, address: &str) -> &'a serde_json::Value {
    status["vips"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["address"] == address))
        .unwrap_or_else(|| panic!("no VIP {address} in {status}"))
}
