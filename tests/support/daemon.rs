//! The real `anycastd` binary running inside a namespace: `ip netns exec NS anycastd run -c FILE
//! --log-level debug`, its stderr and stdout in a log file that is printed when the test fails.
//! Killed (SIGKILL) on drop if it is still running.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::Netns;

pub const BIN: &str = env!("CARGO_BIN_EXE_anycastd");

pub struct Daemon {
    label: String,
    netns: String,
    _dir: tempfile::TempDir,
    config: PathBuf,
    log: PathBuf,
    /// `wrapper` and `args` of [`Daemon::start_wrapped`], for [`Daemon::start_again`].
    wrapper: Vec<String>,
    args: Vec<String>,
    child: Child,
    exit: Option<ExitStatus>,
}

impl Daemon {
    /// Writes `config` to a fresh file and starts the daemon on it in `ns`. `label` names it
    /// in failure output.
    pub fn start(ns: &Netns, label: &str, config: &str) -> Daemon {
        Daemon::start_with_args(ns, label, config, &[])
    }

    /// Like [`Daemon::start`], with extra arguments after `run -c FILE` (e.g. `--cleanup`).
    pub fn start_with_args(ns: &Netns, label: &str, config: &str, args: &[&str]) -> Daemon {
        Daemon::start_wrapped(ns, label, config, &[], args)
    }

    /// Like [`Daemon::start_with_args`], with `wrapper` (e.g. `setpriv …`) run in front of the
    /// binary. The config is readable by any user, for a daemon that drops root.
    pub fn start_wrapped(
        ns: &Netns,
        label: &str,
        config: &str,
        wrapper: &[&str],
        args: &[&str],
    ) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix(&format!("anycastd-{label}-"))
            .tempdir()
            .expect("tempdir");
        let config_path = dir.path().join("anycastd.toml");
        std::fs::write(&config_path, config).expect("write config");
        if !wrapper.is_empty() {
            use std::os::unix::fs::PermissionsExt;
            let open = std::fs::Permissions::from_mode(0o755);
            std::fs::set_permissions(dir.path(), open).expect("chmod config dir");
        }
        let log = dir.path().join("anycastd.log");
        std::fs::File::create(&log).expect("create log");
        let strings = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (wrapper, args) = (strings(wrapper), strings(args));
        let child = spawn(ns.name(), &config_path, &log, &wrapper, &args);
        Daemon {
            label: label.to_string(),
            netns: ns.name().to_string(),
            _dir: dir,
            config: config_path,
            log,
            wrapper,
            args,
            child,
            exit: None,
        }
    }

    /// Starts the daemon again after it exited, with the same config file in the same
    /// directory (and so the same state file), the same arguments and the same log, which
    /// gets a `----- started again -----` line first.
    pub fn start_again(&mut self) {
        assert!(
            self.exited().is_some(),
            "{}: still running, cannot start it again",
            self.label
        );
        use std::io::Write;
        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .expect("open log");
        writeln!(log, "----- started again -----").expect("write log");
        self.child = spawn(
            &self.netns,
            &self.config,
            &self.log,
            &self.wrapper,
            &self.args,
        );
        self.exit = None;
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the daemon wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, sig: Signal) {
        nix::sys::signal::kill(Pid::from_raw(self.child.id() as i32), sig)
            .unwrap_or_else(|e| panic!("{}: kill -{sig}: {e}", self.label));
    }

    /// Replaces the config file and sends SIGHUP.
    pub fn reload(&self, config: &str) {
        std::fs::write(&self.config, config).expect("rewrite config");
        self.signal(Signal::SIGHUP);
    }

    /// The exit status, if the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().expect("try_wait");
        }
        self.exit
    }

    /// Waits for the process to exit, panicking after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.exited() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{}: still running {timeout:?} later",
                self.label
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the log contains `needle`; returns the log.
    pub fn wait_log(&self, timeout: Duration, needle: &str) -> String {
        super::wait_for(
            timeout,
            &format!("{} log to contain {needle:?}", self.label),
            || self.log(),
            |l| l.contains(needle),
        )
    }

    /// Runs `anycastd ARGS… -c CONFIG` inside the daemon's namespace (status, drain, …).
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.netns, BIN]);
        c.args(args);
        c.arg("-c").arg(&self.config);
        c.output().expect("run anycastd CLI")
    }

    /// Runs `anycastd ARGS…` inside another namespace `ns`, as given (no `-c` added).
    pub fn cli_in(ns: &Netns, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", ns.name(), BIN])
            .args(args)
            .output()
            .expect("run anycastd CLI")
    }

    /// Like [`Daemon::cli`], panicking unless it exits 0; returns stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "{}: anycastd {args:?} failed: {out:?}",
            self.label
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `anycastd status --json`, parsed.
    pub fn status(&self) -> serde_json::Value {
        let out = self.cli(&["status", "--json"]);
        if !out.status.success() {
            return serde_json::Value::Null;
        }
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }
}

/// `ip netns exec NS [WRAPPER…] anycastd run -c CONFIG --log-level debug [ARGS…]`, appending
/// its output to `log`. `ip netns exec` execs the program after setns: the child's pid is
/// anycastd's.
fn spawn(netns: &str, config: &Path, log: &Path, wrapper: &[String], args: &[String]) -> Child {
    let out = std::fs::OpenOptions::new()
        .append(true)
        .open(log)
        .expect("open log");
    let err = out.try_clone().expect("clone log");
    Command::new("ip")
        .args(["netns", "exec", netns])
        .args(wrapper)
        .args([BIN, "run", "-c"])
        .arg(config)
        .args(["--log-level", "debug"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn anycastd")
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "----- {} (pid {}, ns {}) log -----\n{}----- end of {} log -----",
                self.label,
                self.child.id(),
                self.netns,
                self.log(),
                self.label
            );
        }
    }
}
