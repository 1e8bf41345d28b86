//! Network namespaces, veth links, and a tokio runtime that lives inside a namespace.

use std::fs::File;
use std::future::Future;
use std::process::Command;
use std::time::Duration;

use super::{run, unique_name};

/// A network namespace (`ip netns add`), deleted on drop together with every process in it.
pub struct Netns {
    name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = unique_name(tag);
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n <ns> ARGS…`, panicking on failure.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Adds an address (IPv6 without duplicate address detection, so it is usable at once).
    pub fn addr(&self, dev: &str, cidr: &str) {
        if cidr.contains(':') {
            self.ip(&["addr", "add", cidr, "dev", dev, "nodad"]);
        } else {
            self.ip(&["addr", "add", cidr, "dev", dev]);
        }
    }

    /// A command run inside the namespace (`ip netns exec`), not yet started.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Moves the calling thread into this namespace: sockets it opens afterwards live here.
    pub fn enter(&self) -> nix::Result<()> {
        let f = File::open(format!("/var/run/netns/{}", self.name))
            .map_err(|e| nix::Error::from_raw(e.raw_os_error().unwrap_or(0)))?;
        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A veth pair: `a_if` in `a`, `b_if` in `b`, both up.
pub fn link(a: &Netns, a_if: &str, b: &Netns, b_if: &str) {
    run(
        "ip",
        &[
            "link",
            "add",
            a_if,
            "netns",
            a.name(),
            "type",
            "veth",
            "peer",
            b_if,
            "netns",
            b.name(),
        ],
    );
    a.ip(&["link", "set", a_if, "up"]);
    b.ip(&["link", "set", b_if, "up"]);
}

/// A current-thread tokio runtime on its own OS thread inside a namespace. Futures given to
/// [`NsRuntime::run`] or spawned on [`NsRuntime::handle`] execute on that thread, so every
/// socket they open belongs to the namespace.
pub struct NsRuntime {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NsRuntime {
    pub fn new(ns: &Netns) -> NsRuntime {
        let file = format!("/var/run/netns/{}", ns.name());
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("ns-{}", ns.name()))
            .spawn(move || {
                let f = File::open(&file).expect("open netns");
                nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                handle_tx.send(rt.handle().clone()).expect("send handle");
                rt.block_on(async {
                    let _ = stop_rx.await;
                });
            })
            .expect("spawn namespace thread");
        let handle = handle_rx.recv().expect("runtime handle");
        NsRuntime {
            handle,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// Runs `fut` inside the namespace and waits (at most `timeout`) for its output.
    pub fn run<F>(&self, timeout: Duration, fut: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::channel();
        self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv_timeout(timeout)
            .expect("future in namespace did not finish in time")
    }
}

impl Drop for NsRuntime {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
