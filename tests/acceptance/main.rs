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
