//! The dns, udp and grpc checks and the HTTP body, header and method keys against real servers
//! in a network namespace: Debian's dnsmasq, a UDP echo socket, a gRPC health server on
//! grpcio (tests/support/grpc_health.py), and the HTTP backend of tests/support/backend.rs.
//!
//! ```text
//!   namespace ck…: lo 127.0.0.1 and 10.53.0.1/32 (the "VIP")
//!     servers bound to 10.53.0.1 ◀── check_once from a runtime inside the namespace
//! ```
//!
//! Each test has its own namespace, so its ports and its ICMP errors are its own.

mod support;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anycastd::config::{
    BodyRegex, Check, CheckKind, DnsCheck, GrpcCheck, HttpCheck, HttpMethod, StatusRange, UdpCheck,
};
use anycastd::health::{check_once, Observation, Target, TargetId};
use support::backend::Backend;
use support::{Netns, NsRuntime};

const VIP: &str = "10.53.0.1";

/// A namespace with the VIP on lo, and a tokio runtime inside it.
struct Place {
    rt: NsRuntime,
    ns: Netns,
}

impl Place {
    fn new() -> Place {
        let ns = Netns::new("ck");
        ns.addr("lo", &format!("{VIP}/32"));
        let rt = NsRuntime::new(&ns);
        Place { rt, ns }
    }

    /// One check of `kind` against VIP:port, run inside the namespace.
    fn check(&self, port: u16, kind: CheckKind, timeout_ms: u64) -> Observation {
        let target = Target {
            id: TargetId(0),
            address: VIP.parse().unwrap(),
            port,
            check: Check {
                kind,
                port: None,
                interval: Duration::from_millis(timeout_ms * 2),
                timeout: Duration::from_millis(timeout_ms),
                rise: 1,
                fall: 1,
            },
        };
        self.rt.run(
            Duration::from_secs(30),
            async move { check_once(&target).await },
        )
    }

    /// Checks until `ok` holds (a server that is still starting), at most 10 s.
    fn check_until(
        &self,
        port: u16,
        kind: &CheckKind,
        ok: impl Fn(&Observation) -> bool,
    ) -> Observation {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let o = self.check(port, kind.clone(), 1000);
            if ok(&o) || Instant::now() > deadline {
                return o;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A child process, killed and reaped on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---- DNS ----

const DNS_PORT: u16 = 5353;

/// dnsmasq on VIP:5353 with no upstream: example.test is 10.1.2.3 (and nothing else, so its
/// AAAA is NOERROR with no answer), every name under nx.test is NXDOMAIN, and big.test has
/// TXT records that do not fit a 512-byte UDP reply.
fn dnsmasq(place: &Place) -> Server {
    let txt = format!("\"{}\"", "x".repeat(200));
    let txt = [txt.as_str(); 4].join(",");
    let child = place
        .ns
        .command("dnsmasq")
        .args([
            "--no-daemon",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--pid-file=",
            "--bind-interfaces",
            &format!("--listen-address={VIP}"),
            &format!("--port={DNS_PORT}"),
            "--address=/example.test/10.1.2.3",
            // Local, so its AAAA is answered here (no data) rather than refused for want of
            // an upstream.
            "--local=/example.test/",
            "--address=/nx.test/",
            &format!("--txt-record=big.test,{txt}"),
            &format!("--txt-record=big.test,{txt}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dnsmasq is installed (apt-get install dnsmasq-base)");
    Server(child)
}

fn dns(query: &str, qtype: u16, expect_rcode: u8, tcp: bool, require_answer: bool) -> CheckKind {
    CheckKind::Dns(DnsCheck {
        query: query.into(),
        qtype,
        expect_rcode,
        tcp,
        require_answer,
    })
}

const A: u16 = 1;
const AAAA: u16 = 28;
const TXT: u16 = 16;
const NOERROR: u8 = 0;
const NXDOMAIN: u8 = 3;

#[test]
fn dns_check_against_dnsmasq_follows_the_rcode_the_answers_and_the_server() {
    let place = Place::new();
    let server = dnsmasq(&place);
    let a = dns("example.test", A, NOERROR, false, true);
    let o = place.check_until(DNS_PORT, &a, |o| o.ok);
    assert!(o.ok, "{o:?}");
    assert_eq!(o.detail, "DNS NOERROR, 1 answer");

    let nx = place.check(
        DNS_PORT,
        dns("host.nx.test", A, NOERROR, false, false),
        1000,
    );
    assert!(!nx.ok, "{nx:?}");
    assert_eq!(nx.detail, "DNS rcode NXDOMAIN, expected NOERROR");
    let nx = place.check(
        DNS_PORT,
        dns("host.nx.test", A, NXDOMAIN, false, false),
        1000,
    );
    assert!(nx.ok, "{nx:?}");
    assert_eq!(nx.detail, "DNS NXDOMAIN, 0 answers");

    // AAAA of a name with only an IPv4 address: NOERROR, no answer.
    let nodata = dns("example.test", AAAA, NOERROR, false, false);
    let o = place.check(DNS_PORT, nodata, 1000);
    assert!(o.ok, "{o:?}");
    assert_eq!(o.detail, "DNS NOERROR, 0 answers");
    let o = place.check(
        DNS_PORT,
        dns("example.test", AAAA, NOERROR, false, true),
        1000,
    );
    assert!(!o.ok, "{o:?}");
    assert_eq!(o.detail, "DNS NOERROR, 0 answers, expected at least one");

    // Over TCP, with the two-byte length prefix.
    let o = place.check(DNS_PORT, dns("example.test", A, NOERROR, true, true), 1000);
    assert!(o.ok, "{o:?}");
    assert_eq!(o.detail, "DNS NOERROR, 1 answer");

    // Killed: the UDP query comes back as ICMP port unreachable, the TCP one is refused.
    drop(server);
    let o = place.check_until(DNS_PORT, &a, |o| !o.ok);
    assert!(!o.ok, "{o:?}");
    assert_eq!(o.detail, "connection refused");
    let o = place.check(DNS_PORT, dns("example.test", A, NOERROR, true, false), 1000);
    assert_eq!((o.ok, o.detail.as_str()), (false, "connection refused"));
}

#[test]
fn a_truncated_udp_reply_is_asked_again_over_tcp() {
    let place = Place::new();
    let _server = dnsmasq(&place);
    let big = dns("big.test", TXT, NOERROR, false, true);
    let o = place.check_until(DNS_PORT, &big, |o| o.ok);
    assert!(o.ok, "{o:?}");
    assert_eq!(
        o.detail,
        "DNS NOERROR, 2 answers (truncated over UDP, retried over TCP)"
    );
}

// ---- UDP ----

/// A UDP server on VIP:port in the namespace: answers `pong ` + the datagram, or (silent)
/// reads and never answers. Stopped on drop.
struct UdpServer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl UdpServer {
    fn start(ns: &Netns, port: u16, silent: bool) -> UdpServer {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let name = ns.name().to_string();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let f = std::fs::File::open(format!("/var/run/netns/{name}")).unwrap();
            nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let socket = UdpSocket::bind(SocketAddr::new(VIP.parse().unwrap(), port)).unwrap();
            socket
                .set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            ready_tx.send(()).unwrap();
            let mut buf = [0u8; 2048];
            while !flag.load(Ordering::SeqCst) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                if !silent {
                    let reply = [b"pong ", &buf[..n]].concat();
                    let _ = socket.send_to(&reply, from);
                }
            }
        });
        ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        UdpServer {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for UdpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn udp(send: &[u8], expect: Option<&[u8]>) -> CheckKind {
    CheckKind::Udp(UdpCheck {
        send: send.to_vec(),
        expect: expect.map(<[u8]>::to_vec),
    })
}

#[test]
fn udp_check_matches_the_reply_and_fails_on_icmp_unreachable() {
    let place = Place::new();
    let server = UdpServer::start(&place.ns, 7007, false);
    let o = place.check(7007, udp(b"\x00ping", Some(b"pong \x00ping")), 1000);
    assert!(o.ok, "{o:?}");
    assert_eq!(o.detail, "UDP reply of 10 bytes");
    let o = place.check(7007, udp(b"ping", Some(b"PONG")), 1000);
    assert!(!o.ok, "{o:?}");
    assert_eq!(
        o.detail,
        "UDP reply of 9 bytes does not contain the expected \"PONG\""
    );
    // No expect: a reply is as good as silence.
    let o = place.check(7007, udp(b"ping", None), 1000);
    assert!(o.ok, "{o:?}");

    drop(server);
    for expect in [None, Some(&b"pong"[..])] {
        let o = place.check(7007, udp(b"ping", expect), 1000);
        assert!(!o.ok, "{o:?}");
        assert_eq!(o.detail, "connection refused");
        assert!(o.duration < Duration::from_millis(500), "{o:?}");
    }
}

#[test]
fn a_silent_udp_server_is_healthy_only_when_no_reply_is_expected() {
    let place = Place::new();
    let _server = UdpServer::start(&place.ns, 7008, true);
    let o = place.check(7008, udp(b"ping", None), 300);
    assert!(o.ok, "{o:?}");
    assert_eq!(o.detail, "no reply and no ICMP error within 300ms");
    let o = place.check(7008, udp(b"ping", Some(b"")), 300);
    assert!(!o.ok, "{o:?}");
    assert_eq!(o.detail, "timed out after 300ms");
}

// ---- gRPC ----

const GRPC_PORT: u16 = 50051;

/// tests/support/grpc_health.py on VIP:50051: "" SERVING, "web" SERVING, "batch" NOT_SERVING.
fn grpc_server(place: &Place) -> Server {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/grpc_health.py");
    let mut child = place
        .ns
        .command("/usr/bin/python3")
        .args([script, VIP, &GRPC_PORT.to_string()])
        .args(["=SERVING", "web=SERVING", "batch=NOT_SERVING"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    let stdout = child.stdout.take().unwrap();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let server = Server(child);
    assert_eq!(
        line.trim(),
        "listening",
        "grpc_health.py did not start (apt-get install python3-grpcio)"
    );
    server
}

fn grpc(service: &str) -> CheckKind {
    CheckKind::Grpc(GrpcCheck {
        service: service.into(),
    })
}

#[test]
fn grpc_check_against_a_grpcio_health_server() {
    let place = Place::new();
    let server = grpc_server(&place);
    for service in ["", "web"] {
        let o = place.check(GRPC_PORT, grpc(service), 2000);
        assert!(o.ok, "{service:?}: {o:?}");
        assert_eq!(o.detail, "gRPC SERVING");
    }
    let o = place.check(GRPC_PORT, grpc("batch"), 2000);
    assert!(!o.ok, "{o:?}");
    assert_eq!(o.detail, "gRPC NOT_SERVING");
    let o = place.check(GRPC_PORT, grpc("nope"), 2000);
    assert!(!o.ok, "{o:?}");
    assert_eq!(o.detail, "gRPC status 5 NOT_FOUND: unknown service");

    drop(server);
    let o = place.check(GRPC_PORT, grpc(""), 2000);
    assert_eq!((o.ok, o.detail.as_str()), (false, "connection refused"));
}

#[test]
fn grpc_check_of_an_http1_server_fails_with_words() {
    let place = Place::new();
    let _backend = Backend::start(&place.ns, 8080);
    let o = place.check(8080, grpc(""), 2000);
    assert!(!o.ok, "{o:?}");
    assert!(o.detail.starts_with("HTTP/2 error"), "{o:?}");
}

// ---- HTTP ----

fn http(change: impl FnOnce(&mut HttpCheck)) -> CheckKind {
    let mut h = HttpCheck::get("/healthz", StatusRange::SUCCESS);
    change(&mut h);
    CheckKind::Http(h)
}

#[test]
fn http_body_keys_read_the_answer_of_a_real_server() {
    let place = Place::new();
    let backend = Backend::start(&place.ns, 8080);
    // The backend answers "200\n" (or "503\n" when unhealthy).
    let o = place.check(8080, http(|h| h.body_contains = Some("200".into())), 1000);
    assert!(o.ok, "{o:?}");
    assert_eq!(o.detail, "HTTP 200");
    let o = place.check(8080, http(|h| h.body_contains = Some("ok".into())), 1000);
    assert!(!o.ok, "{o:?}");
    assert_eq!(o.detail, "HTTP 200, body does not contain \"ok\"");
    let re = |p: &str| Some(BodyRegex(regex::bytes::Regex::new(p).unwrap()));
    let o = place.check(8080, http(|h| h.body_regex = re(r"^2\d\d\n$")), 1000);
    assert!(o.ok, "{o:?}");
    let o = place.check(8080, http(|h| h.body_regex = re(r"^5\d\d")), 1000);
    assert_eq!(
        (o.ok, o.detail.as_str()),
        (false, r"HTTP 200, body does not match /^5\d\d/")
    );
    // The status decides first: a 503 body is not read.
    backend.set(support::backend::Mode::Unhealthy);
    let o = place.check(8080, http(|h| h.body_contains = Some("503".into())), 1000);
    assert_eq!((o.ok, o.detail.as_str()), (false, "HTTP 503"));
}

#[test]
fn http_method_and_headers_reach_a_real_server() {
    let place = Place::new();
    let backend = Backend::start(&place.ns, 8080);
    let kind = http(|h| {
        h.method = HttpMethod::Post;
        h.headers = vec![
            ("X-Check".into(), "anycastd".into()),
            ("User-Agent".into(), "probe/1".into()),
        ];
    });
    let o = place.check(8080, kind, 1000);
    assert!(o.ok, "{o:?}");
    let request = backend.last_request();
    assert!(
        request.starts_with("POST /healthz HTTP/1.1\r\n"),
        "{request}"
    );
    let lower = request.to_ascii_lowercase();
    assert!(lower.contains("\r\nx-check: anycastd\r\n"), "{request}");
    assert!(lower.contains("\r\nuser-agent: probe/1\r\n"), "{request}");
    assert!(!lower.contains("anycastd/"), "{request}");

    let o = place.check(8080, http(|h| h.method = HttpMethod::Head), 1000);
    assert!(o.ok, "{o:?}");
    assert!(backend
        .last_request()
        .starts_with("HEAD /healthz HTTP/1.1\r\n"));
}
