//! FRR instances (zebra + bgpd) inside a namespace, each with its own pathspace (`-N name`):
//! config in /etc/frr/<name>/frr.conf, sockets and pid files in /var/run/frr/<name>.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::lab::{router_id, NODE_ASN, ROUTER_ASN};
use super::{wait_until, Netns};

pub struct Frr {
    name: String,
    netns: String,
    conf_dir: PathBuf,
    run_dir: PathBuf,
}

impl Frr {
    /// Writes `config` and starts zebra and bgpd in `ns`. The instance is named after the
    /// namespace (unique per test).
    pub fn start(ns: &Netns, config: &str) -> Frr {
        Frr::start_daemons(ns, config, &["bgpd"])
    }

    /// Like [`Frr::start`], with bfdd too (for `neighbor X bfd`).
    pub fn start_with_bfd(ns: &Netns, config: &str) -> Frr {
        Frr::start_daemons(ns, config, &["bfdd", "bgpd"])
    }

    fn start_daemons(ns: &Netns, config: &str, daemons: &[&str]) -> Frr {
        let name = ns.name().to_string();
        let conf_dir = PathBuf::from(format!("/etc/frr/{name}"));
        let run_dir = PathBuf::from(format!("/var/run/frr/{name}"));
        let frr = Frr {
            name,
            netns: ns.name().to_string(),
            conf_dir,
            run_dir,
        };
        std::fs::create_dir_all(&frr.conf_dir).expect("create FRR config dir");
        std::fs::create_dir_all(&frr.run_dir).expect("create FRR run dir");
        std::fs::write(frr.conf_dir.join("frr.conf"), config).expect("write frr.conf");
        std::fs::write(frr.conf_dir.join("vtysh.conf"), "").expect("write vtysh.conf");
        for d in [&frr.conf_dir, &frr.run_dir] {
            super::run("chown", &["-R", "frr:frr", &d.to_string_lossy()]);
        }
        frr.start_daemon("zebra");
        wait_until(Duration::from_secs(10), "zebra socket", || {
            frr.run_dir.join("zserv.api").exists()
        });
        for d in daemons {
            frr.start_daemon(d);
        }
        frr
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn pid_file(&self, daemon: &str) -> PathBuf {
        self.run_dir.join(format!("{daemon}.pid"))
    }

    fn start_daemon(&self, daemon: &str) {
        let conf = self.conf_dir.join("frr.conf");
        let status = Command::new("ip")
            .args(["netns", "exec", &self.netns])
            .arg(format!("/usr/lib/frr/{daemon}"))
            .args(["-d", "-N", &self.name, "-f"])
            .arg(&conf)
            .arg("-i")
            .arg(self.pid_file(daemon))
            .args([
                "--log",
                &format!("file:{}/{daemon}.log", self.run_dir.display()),
            ])
            .status()
            .expect("run FRR daemon");
        assert!(status.success(), "{daemon} did not start");
        wait_until(
            Duration::from_secs(10),
            &format!("{daemon} pid file"),
            || self.pid(daemon).is_some(),
        );
    }

    fn pid(&self, daemon: &str) -> Option<i32> {
        std::fs::read_to_string(self.pid_file(daemon))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn alive(pid: i32) -> bool {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.contains(") Z "))
                .unwrap_or(true)
    }

    fn kill(&self, daemon: &str, signal: &str) {
        if let Some(pid) = self.pid(daemon) {
            let _ = Command::new("kill")
                .args([signal, &pid.to_string()])
                .status();
            wait_until(
                Duration::from_secs(10),
                &format!("{daemon} to exit"),
                || !Self::alive(pid),
            );
            let _ = std::fs::remove_file(self.pid_file(daemon));
        }
    }

    /// Kills bgpd abruptly (SIGKILL): sessions drop without a NOTIFICATION.
    pub fn kill_bgpd(&self) {
        self.kill("bgpd", "-9");
    }

    /// Freezes bgpd (SIGSTOP): the TCP session stays open but nothing is sent on it.
    pub fn pause_bgpd(&self) {
        if let Some(pid) = self.pid("bgpd") {
            super::run("kill", &["-STOP", &pid.to_string()]);
        }
    }

    pub fn resume_bgpd(&self) {
        if let Some(pid) = self.pid("bgpd") {
            super::run("kill", &["-CONT", &pid.to_string()]);
        }
    }

    /// Prefixes bgpd has accepted from `neighbor` in `afi` ("ipv4"/"ipv6"), if it answers.
    pub fn prefixes_received(&self, afi: &str, neighbor: &str) -> Option<u64> {
        let v = self.vtysh_json(&format!("show bgp {afi} unicast summary json"));
        v.get("peers")?.get(neighbor)?.get("pfxRcd")?.as_u64()
    }

    /// What one FRR daemon ("bgpd", "bfdd") logged so far, for failure messages.
    pub fn log(&self, daemon: &str) -> String {
        std::fs::read_to_string(self.run_dir.join(format!("{daemon}.log"))).unwrap_or_default()
    }

    pub fn start_bgpd(&self) {
        self.start_daemon("bgpd");
    }

    /// `vtysh -N <name> -c CMD`.
    pub fn vtysh(&self, cmd: &str) -> String {
        let out = Command::new("vtysh")
            .args(["-N", &self.name, "-c", cmd])
            .output()
            .expect("run vtysh");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `vtysh … json`, parsed; `Null` when the output is not JSON (daemon restarting).
    pub fn vtysh_json(&self, cmd: &str) -> serde_json::Value {
        serde_json::from_str(&self.vtysh(cmd)).unwrap_or(serde_json::Value::Null)
    }

    /// The state of the BGP neighbor `addr` ("Established", "Active", …), if bgpd answers.
    pub fn neighbor_state(&self, addr: &str) -> Option<String> {
        let v = self.vtysh_json(&format!("show bgp neighbors {addr} json"));
        v.get(addr)?.get("bgpState")?.as_str().map(String::from)
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        for d in ["bgpd", "bfdd", "zebra"] {
            if let Some(pid) = self.pid(d) {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.conf_dir);
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}

/// FRR config for router 0 of a [`super::lab::Lab`] (AS 65000) with one eBGP neighbor in AS
/// 65001, active only in the neighbor's own address family, timers 3/9 and connect retry 1 s;
/// with `bfd`, `neighbor X bfd` too (start FRR with [`Frr::start_with_bfd`]).
pub fn bfd_router_conf(neighbor: &str, bfd: bool) -> String {
    let af = if neighbor.contains(':') {
        "ipv6"
    } else {
        "ipv4"
    };
    let bfd_line = if bfd {
        format!(" neighbor {neighbor} bfd\n")
    } else {
        String::new()
    };
    let router_id = router_id(0);
    format!(
        "frr defaults datacenter\n!\nrouter bgp {ROUTER_ASN}\n bgp router-id {router_id}\n \
         no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n \
         neighbor {neighbor} remote-as {NODE_ASN}\n neighbor {neighbor} timers connect 1\n \
         neighbor {neighbor} timers 3 9\n{bfd_line} \
         address-family {af} unicast\n  neighbor {neighbor} activate\n exit-address-family\n!\n"
    )
}
