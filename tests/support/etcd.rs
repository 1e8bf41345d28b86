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
    /// With TLS: the PEM files (made by [`Etcd::start_tls`]), clients must present a cert.
    tls: Option<Tls>,
    /// With authentication on: `root:PASSWORD` for etcdctl.
    user: Option<String>,
}

/// A CA, the server's certificate (for the advertised IP) and a client certificate, all PEM.
pub struct Tls {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// The server's directory: its data, its log and, with TLS, its certificates.
fn data_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("anycastd-etcd-")
        .tempdir()
        .expect("tempdir")
}

/// Makes a CA and two certificates it signs with openssl: the server's for `ips`, a client's.
fn make_certs(dir: &std::path::Path, ips: &[&str]) -> Tls {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=anycastd test CA",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        format!(
            "subjectAltName={}\nextendedKeyUsage=serverAuth\n",
            ips.iter()
                .map(|ip| format!("IP:{ip}"))
                .collect::<Vec<_>>()
                .join(",")
        ),
    )
    .unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (name, subject) in [("server", "/CN=etcd"), ("client", "/CN=root")] {
        run(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            subject,
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ]);
    }
    Tls {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
    }
}

impl Etcd {
    /// Starts etcd in `ns`, listening for clients on every address of the namespace, and
    /// waits until it answers.
    pub fn start(ns: &Netns, advertise_ip: &str) -> Etcd {
        let dir = data_dir();
        let mut etcd = Etcd::new(
            ns,
            dir,
            format!("http://{advertise_ip}:{CLIENT_PORT}"),
            None,
        );
        etcd.start_again();
        etcd
    }

    /// As [`Etcd::start`], over TLS with client certificates (`--client-cert-auth`) and a
    /// server certificate for each of `ips` (the first is advertised), and with authentication
    /// on: user `root` with `password`.
    pub fn start_tls(ns: &Netns, ips: &[&str], password: &str) -> Etcd {
        let dir = data_dir();
        let tls = make_certs(dir.path(), ips);
        let advertise = format!("https://{}:{CLIENT_PORT}", ips[0]);
        let mut etcd = Etcd::new(ns, dir, advertise, Some(tls));
        etcd.start_again();
        let ok = |out: std::process::Output| {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        ok(etcd.etcdctl(&["user", "add", &format!("root:{password}")]));
        ok(etcd.etcdctl(&["user", "grant-role", "root", "root"]));
        ok(etcd.etcdctl(&["auth", "enable"]));
        etcd.user = Some(format!("root:{password}"));
        etcd
    }

    fn new(ns: &Netns, dir: tempfile::TempDir, advertise: String, tls: Option<Tls>) -> Etcd {
        Etcd {
            netns: ns.name().to_string(),
            log: dir.path().join("etcd.log"),
            dir,
            child: None,
            advertise,
            tls,
            user: None,
        }
    }

    /// The PEM files of a TLS server.
    pub fn tls(&self) -> &Tls {
        self.tls.as_ref().expect("started with start_tls")
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
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns, "etcd", "--name", "catalog"]);
        if let Some(t) = &self.tls {
            cmd.arg("--cert-file").arg(&t.server_cert);
            cmd.arg("--key-file").arg(&t.server_key);
            cmd.arg("--trusted-ca-file").arg(&t.ca);
            cmd.arg("--client-cert-auth");
        }
        let child = cmd
            .arg("--data-dir")
            .arg(&data)
            .args([
                "--listen-client-urls",
                &format!("{scheme}://0.0.0.0:{CLIENT_PORT}"),
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
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &self.netns,
            "etcdctl",
            "--endpoints",
            &self.advertise,
        ]);
        if let Some(t) = &self.tls {
            cmd.arg("--cacert").arg(&t.ca);
            cmd.arg("--cert").arg(&t.client_cert);
            cmd.arg("--key").arg(&t.client_key);
        }
        if let Some(user) = &self.user {
            cmd.args(["--user", user]);
        }
        cmd.args(args)
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
