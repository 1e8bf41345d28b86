//! Fault injection for the supervision tests, and nothing else: `ANYCASTD_FAULT=point[,point…]`
//! in the daemon's environment makes each named task panic once, at a fixed place, so a test
//! can watch the daemon notice, log and restart the task or exit. Unset (as in production),
//! [`inject`] is one atomic load after the first call.
//!
//! | point | where it panics | what supervision does |
//! |---|---|---|
//! | `bgp-session` | a session task, when its session is established | the speaker restarts that session |
//! | `bgp-listener` | the BGP listener, on its first accepted connection | the speaker restarts the listener |
//! | `health-check` | a check task, after its first result | the checker restarts that target |
//! | `dataplane` | the dataplane thread, on its first desired state | the daemon exits 70 |
//! | `bfd` | the BFD task, when a session first comes Up | the daemon exits 70 |
//! | `api` | the HTTP server, on its first connection | the daemon exits 70 |

use std::collections::BTreeSet;
use std::sync::{Mutex, OnceLock};

/// The environment variable naming the armed points.
pub const ENV: &str = "ANYCASTD_FAULT";

/// Points still armed; each fires once per process.
fn armed() -> &'static Mutex<BTreeSet<String>> {
    static ARMED: OnceLock<Mutex<BTreeSet<String>>> = OnceLock::new();
    ARMED.get_or_init(|| {
        let points = std::env::var(ENV).unwrap_or_default();
        Mutex::new(
            points
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect(),
        )
    })
}

/// Panics if `point` is armed (once): see the module's table.
pub fn inject(point: &str) {
    let fire = {
        let mut armed = armed().lock().unwrap_or_else(|e| e.into_inner());
        !armed.is_empty() && armed.remove(point)
    };
    if fire {
        panic!("injected fault: {point} ({ENV})");
    }
}
