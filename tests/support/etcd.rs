//! A real etcd server (Debian's `etcd-server`) inside a namespace, its data in a temp dir that
//! survives [`Etcd::kill`] so that [`Etcd::start_again`] brings the same catalog back. Killed
//! (SIGKILL) on drop; its log is printed when the test fails.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{wait_until, Netns};

pub const CLIENT_PORT: u16 = 2379;

pub struct Etcd {
    netns: String,
    dir: tempfile::TempDir,
    log: PathBuf,
    child: Option<Child>,
    /// The address clients are told to use (`--advertise-client-urls`).
    advertise: String,
}

impl Etcd {
    /// Starts etcd in `ns`, listening for clients on every address of the namespace, and
    /// waits until it answers.
    pub fn start(ns: &Netns, advertise_ip: &str) -> Etcd {
        let dir = tempfile::Builder::new()
            .prefix("anycastd-etcd-")
            .tempdir()
            .expect("tempdir");
        let log = dir.path().join("etcd.log");
        let mut etcd = Etcd {
            netns: ns.name().to_string(),
            log,
            dir,
            child: None,
            advertise: format!("http://{advertise_ip}:{CLIENT_PORT}"),
        };
        etcd.start_again();
        etcd
    }

    /// The client URL, as a node's `[catalog] etcd` names it.
    pub fn url(&self) -> &str {
        &self.advertise
    }

    /// Starts the (killed) server again on the same data directory.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "etcd is still running");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("etcd log");
        let err = out.try_clone().expect("clone log");
        let data = self.dir.path().join("data");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.netns, "etcd", "--name", "catalog"])
            .arg("--data-dir")
            .arg(&data)
            .args([
                "--listen-client-urls",
                &format!("http://0.0.0.0:{CLIENT_PORT}"),
                "--advertise-client-urls",
                &self.advertise,
                "--listen-peer-urls",
                "http://127.0.0.1:2380",
                "--initial-advertise-peer-urls",
                "http://127.0.0.1:2380",
                "--initial-cluster",
                "catalog=http://127.0.0.1:2380",
            ])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn etcd (apt-get install etcd-server)");
        self.child = Some(child);
        wait_until(Duration::from_secs(20), "etcd answers", || {
            self.etcdctl(&["endpoint", "health"]).status.success()
        });
    }

    /// SIGKILL, as a crashed or unreachable store.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `etcdctl --endpoints URL ARGS…` in the namespace.
    pub fn etcdctl(&self, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.netns,
                "etcdctl",
                "--endpoints",
                &self.advertise,
            ])
            .args(args)
            .env("ETCDCTL_API", "3")
            .output()
            .expect("run etcdctl (apt-get install etcd-client)")
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("----- etcd log (last lines) -----");
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}
