//! Health checks: one task per target, results sent to the daemon loop as [`Observation`]s.
//! Turning observations into states (rise/fall) is pure logic, in `state`.
//!
//! ```text
//!   Checker ── spawns ──▶ target task ×N ──(Observation)──▶ mpsc ──▶ daemon loop
//!                          │  sleep jitter, then every interval (± 5 %):
//!                          └─ check_once: tcp | http | https | dns | udp | grpc | exec | none,
//!                             under the timeout
//! ```
//!
//! Every target runs in its own task, so a slow or hanging check never delays another. The first
//! run of each target is spread uniformly over its first interval so that a node with a thousand
//! backends does not fire a thousand checks in the same millisecond.

mod dns;
mod exec;
mod grpc;
mod http;
pub mod state;
mod tcp;
mod tls;
mod udp;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::{Check, CheckKind};

pub use state::{HealthState, RiseFall, Transition};

/// Identifies one checked thing (a backend, or a VIP's own check) across the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetId(pub usize);

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub id: TargetId,
    pub address: IpAddr,
    pub port: u16,
    pub check: Check,
}

impl Target {
    /// The address and port the check connects to (`check.port` overrides the target's port).
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.check.port.unwrap_or(self.port))
    }
}

/// The outcome of one check run.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub id: TargetId,
    pub ok: bool,
    /// What happened, in words: "HTTP 200", "connection refused", "timed out after 1s".
    pub detail: String,
    pub duration: Duration,
}

/// Handle to the running checks; dropping it (or [`Checker::stop`]) stops them.
pub struct Checker {
    tasks: JoinSet<()>,
    /// What each running task checks, to restart it (see [`Checker::supervise`]).
    running: HashMap<tokio::task::Id, Target>,
    /// Weak, so that the channel still closes when every task has ended (a `none` check).
    results: mpsc::WeakSender<Observation>,
}

/// A check task that ended by panicking and was started again.
#[derive(Debug, Clone, PartialEq)]
pub struct Restarted {
    pub target: TargetId,
    pub panic: String,
}

impl Checker {
    /// Spawns one task per target on the current tokio runtime (must be called from within one).
    pub fn start(targets: Vec<Target>, results: mpsc::Sender<Observation>) -> Checker {
        let mut checker = Checker {
            tasks: JoinSet::new(),
            running: HashMap::new(),
            results: results.downgrade(),
        };
        for target in targets {
            checker.start_task(target, results.clone());
        }
        checker
    }

    fn start_task(&mut self, target: Target, results: mpsc::Sender<Observation>) {
        // task: health check
        let handle = self.tasks.spawn(run_target(target.clone(), results));
        self.running.insert(handle.id(), target);
    }

    /// Collects the tasks that ended. One that panicked is started again, so its target keeps
    /// being checked (a panic would otherwise freeze its last verdict for good); one that
    /// returned (a `none` check after its single result) is done. Call it periodically.
    pub fn supervise(&mut self) -> Vec<Restarted> {
        let mut restarted = Vec::new();
        while let Some(ended) = self.tasks.try_join_next_with_id() {
            let (id, panic) = match ended {
                Ok((id, ())) => (id, None),
                Err(e) => (e.id(), e.is_panic().then(|| panic_text(e.into_panic()))),
            };
            let Some(target) = self.running.remove(&id) else {
                continue;
            };
            // No receiver left: nobody wants the results any more.
            let (Some(panic), Some(results)) = (panic, self.results.upgrade()) else {
                continue;
            };
            restarted.push(Restarted {
                target: target.id,
                panic,
            });
            self.start_task(target, results);
        }
        restarted
    }

    /// Number of targets being checked (tasks that ended, like `none` checks, included).
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Stops every check task at once (a running exec check's process is killed).
    pub fn stop(self) {}
}

// Dropping the JoinSet aborts every task; dropped exec futures kill their processes.

/// A panic's payload in words (a `&str` or `String` message, as `panic!` makes them).
pub fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-text panic".into())
}

/// One target's loop: check, report, wait for the next interval.
async fn run_target(target: Target, results: mpsc::Sender<Observation>) {
    let once = matches!(target.check.kind, CheckKind::None);
    let interval = target.check.interval.max(Duration::from_millis(10));
    if !once {
        let spread = rand::random_range(0..interval.as_micros().max(1) as u64);
        tokio::time::sleep(Duration::from_micros(spread)).await;
    }
    loop {
        let started = Instant::now();
        let observation = check_once(&target).await;
        if results.send(observation).await.is_err() || once {
            return;
        }
        crate::fault::inject("health-check");
        // The config bounds the interval (MAX_CHECK_INTERVAL); a Check built otherwise must not
        // panic the task either: `sleep` saturates where the deadline would overflow.
        let pause = jittered(interval);
        match started.checked_add(pause) {
            Some(at) => tokio::time::sleep_until(at).await,
            None => tokio::time::sleep(pause).await,
        }
    }
}

/// `interval` ± 5 %, so targets that started together drift apart.
fn jittered(interval: Duration) -> Duration {
    let micros = interval.as_micros() as u64;
    let spread = micros / 20;
    if spread == 0 {
        return interval;
    }
    Duration::from_micros(micros - spread + rand::random_range(0..=2 * spread))
}

/// Runs one check of `target` under its timeout.
pub async fn check_once(target: &Target) -> Observation {
    let started = Instant::now();
    let timeout = target.check.timeout;
    let (ok, detail) = match tokio::time::timeout(timeout, probe(target)).await {
        Ok(result) => result,
        Err(_) => match &target.check.kind {
            CheckKind::Udp(u) if udp::silence_is_healthy(u) => (
                true,
                format!(
                    "no reply and no ICMP error within {}",
                    fmt_duration(timeout)
                ),
            ),
            _ => (false, format!("timed out after {}", fmt_duration(timeout))),
        },
    };
    Observation {
        id: target.id,
        ok,
        detail,
        duration: started.elapsed(),
    }
}

/// Dispatches on the check type; returns (healthy, detail).
async fn probe(target: &Target) -> (bool, String) {
    let addr = target.socket_addr();
    match &target.check.kind {
        CheckKind::Tcp => tcp::probe(addr).await,
        CheckKind::Http(h) => http::probe(addr, h, false).await,
        CheckKind::Https(h) => http::probe(addr, h, true).await,
        CheckKind::Dns(d) => dns::probe(addr, d).await,
        CheckKind::Udp(u) => udp::probe(addr, u).await,
        CheckKind::Grpc(g) => grpc::probe(addr, g).await,
        CheckKind::Exec { command } => exec::probe(command, addr).await,
        CheckKind::None => (true, "no check".to_string()),
    }
}

/// A socket error in the words operators know from other tools.
fn io_words(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused".into(),
        ConnectionReset => "connection reset".into(),
        ConnectionAborted => "connection aborted".into(),
        HostUnreachable => "host unreachable".into(),
        NetworkUnreachable => "network unreachable".into(),
        AddrNotAvailable => "address not available".into(),
        _ => e.to_string(),
    }
}

/// "1s", "500ms", "1.5s": how durations are written in the config.
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        format!("{}µs", d.as_micros())
    } else if ms < 1000 {
        format!("{ms}ms")
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{}s", ms as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_written_like_the_config() {
        assert_eq!(fmt_duration(Duration::from_secs(1)), "1s");
        assert_eq!(fmt_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(fmt_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(fmt_duration(Duration::from_micros(20)), "20µs");
    }

    #[test]
    fn jitter_stays_within_five_percent() {
        let base = Duration::from_secs(2);
        for _ in 0..1000 {
            let j = jittered(base);
            assert!(j >= Duration::from_millis(1900) && j <= Duration::from_millis(2100));
        }
    }

    #[test]
    fn check_port_overrides_the_target_port() {
        let mut check = Check::default();
        let mut t = Target {
            id: TargetId(0),
            address: "10.0.0.1".parse().unwrap(),
            port: 80,
            check: check.clone(),
        };
        assert_eq!(t.socket_addr(), "10.0.0.1:80".parse().unwrap());
        check.port = Some(8081);
        t.check = check;
        assert_eq!(t.socket_addr(), "10.0.0.1:8081".parse().unwrap());
    }
}
