//! BIRD 2 inside a namespace as a router: `bird -f -c CONF -s SOCK`, its control socket for
//! `birdc`, and its log; killed on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{wait_until, Netns};

pub struct Bird {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    log: PathBuf,
    child: Child,
}

impl Bird {
    /// Writes `config` and starts BIRD in the foreground in `ns`; waits for its socket.
    pub fn start(ns: &Netns, config: &str) -> Bird {
        let dir = tempfile::Builder::new()
            .prefix("anycastd-bird-")
            .tempdir()
            .expect("tempdir");
        let conf = dir.path().join("bird.conf");
        let socket = dir.path().join("bird.ctl");
        let log = dir.path().join("bird.log");
        let config = format!("log \"{}\" all;\n{config}", log.display());
        std::fs::write(&conf, config).expect("write bird.conf");
        let child = ns
            .command("bird")
            .arg("-f")
            .arg("-c")
            .arg(&conf)
            .arg("-s")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start bird");
        let bird = Bird {
            _dir: dir,
            socket,
            log,
            child,
        };
        wait_until(Duration::from_secs(10), "bird control socket", || {
            bird.socket.exists()
        });
        bird
    }

    /// `birdc -s SOCK ARGS…`, its output.
    pub fn birdc(&self, args: &[&str]) -> String {
        let out = Command::new("birdc")
            .arg("-s")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run birdc");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// True when protocol `name` is up with its session Established.
    pub fn established(&self, name: &str) -> bool {
        self.birdc(&["show", "protocols", name])
            .lines()
            .any(|l| l.starts_with(name) && l.contains("Established"))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "----- bird log -----\n{}----- end of bird log -----",
                self.log()
            );
            eprintln!("{}", self.birdc(&["show", "protocols", "all"]));
            eprintln!("{}", self.birdc(&["show", "route", "all"]));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
