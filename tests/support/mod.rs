//! Test harness for integration tests against real peers and kernels: network namespaces,
//! veth links, a tokio runtime whose sockets live inside a namespace, FRR instances, and
//! polling with a deadline.
//!
//! Everything created here is named uniquely per test (process id + counter) and removed on
//! `Drop`, also when the test panics.
//!
//! Not every test binary uses every helper.
#![allow(dead_code, unused_imports)]

pub mod backend;
pub mod bird;
pub mod daemon;
pub mod etcd;
pub mod frr;
pub mod lab;
pub mod netns;

pub use frr::Frr;
#[allow(unused_imports)] // not every test binary uses every re-export
pub use netns::{link, Netns, NsRuntime};

use std::time::{Duration, Instant};

/// Polls `check` every 200 ms until it returns true; panics with `what` (and the last value
/// `describe` gives) after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Like [`wait_until`], but `probe` returns the observed value and `ok` judges it, so a
/// timeout reports what was last seen.
pub fn wait_for<T: std::fmt::Debug>(
    timeout: Duration,
    what: &str,
    mut probe: impl FnMut() -> T,
    ok: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let v = probe();
        if ok(&v) {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}; last seen: {v:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs a command, panicking with its output when it fails.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd} {} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The gateways of the kernel route to `dst` in `ns` (one per ECMP next hop), sorted.
pub fn kernel_next_hops(ns: &Netns, dst: &str) -> Vec<String> {
    let family = if dst.contains(':') { "-6" } else { "-4" };
    let out = run(
        "ip",
        &["-n", ns.name(), family, "-j", "route", "show", "exact", dst],
    );
    let routes: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_default();
    let mut hops = Vec::new();
    for r in routes.as_array().into_iter().flatten() {
        if let Some(nh) = r.get("nexthops").and_then(|n| n.as_array()) {
            hops.extend(
                nh.iter()
                    .filter_map(|h| h.get("gateway")?.as_str().map(String::from)),
            );
        } else if let Some(g) = r.get("gateway").and_then(|g| g.as_str()) {
            hops.push(g.to_string());
        }
    }
    hops.sort();
    hops
}

/// A name unique to this process and call: `{tag}{pid}x{n}` (short: interface-safe).
pub fn unique_name(tag: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{tag}{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Sends the daemon's tracing output to the test's captured output, filtered by `RUST_LOG`
/// (nothing when unset). Safe to call from every test.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
