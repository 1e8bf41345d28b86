//! Health checks against real servers started by the test on 127.0.0.1: a small HTTP server
//! whose answer can be switched to 503, a TCP listener that is closed, a TLS server
//! (`openssl s_server`), and real processes for exec checks.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anycastd::config::{Check, CheckKind, HttpCheck, StatusRange};
use anycastd::health::{check_once, Checker, Observation, Target, TargetId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// An HTTP/1 server on 127.0.0.1 answering every request with `status`; records requests.
struct HttpServer {
    addr: SocketAddr,
    status: Arc<AtomicU16>,
    requests: Arc<AtomicUsize>,
    last_request: Arc<Mutex<String>>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpServer {
    async fn start(status: u16) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let status = Arc::new(AtomicU16::new(status));
        let requests = Arc::new(AtomicUsize::new(0));
        let last_request = Arc::new(Mutex::new(String::new()));
        let (s, r, l) = (status.clone(), requests.clone(), last_request.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (s, r, l) = (s.clone(), r.clone(), l.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    *l.lock().unwrap() = String::from_utf8_lossy(&buf).into_owned();
                    r.fetch_add(1, Ordering::SeqCst);
                    let code = s.load(Ordering::SeqCst);
                    let response = format!(
                        "HTTP/1.1 {code} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        HttpServer {
            addr,
            status,
            requests,
            last_request,
            task,
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn check(kind: CheckKind, interval_ms: u64, timeout_ms: u64) -> Check {
    Check {
        kind,
        port: None,
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(timeout_ms),
        rise: 1,
        fall: 1,
    }
}

fn http(path: &str) -> CheckKind {
    CheckKind::Http(HttpCheck::get(path, StatusRange::SUCCESS))
}

fn target(id: usize, addr: SocketAddr, check: Check) -> Target {
    Target {
        id: TargetId(id),
        address: addr.ip(),
        port: addr.port(),
        check,
    }
}

fn exec(argv: &[&str], timeout_ms: u64) -> Target {
    let kind = CheckKind::Exec {
        command: argv.iter().map(|s| s.to_string()).collect(),
    };
    target(
        0,
        "127.0.0.1:4242".parse().unwrap(),
        check(kind, 5000, timeout_ms),
    )
}

async fn next(rx: &mut mpsc::Receiver<Observation>) -> Observation {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("an observation within 5s")
        .expect("channel open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_check_follows_the_server_from_200_to_503_and_back() {
    let server = HttpServer::start(200).await;
    let (tx, mut rx) = mpsc::channel(16);
    let checker = Checker::start(
        vec![target(7, server.addr, check(http("/healthz"), 100, 500))],
        tx,
    );
    let first = next(&mut rx).await;
    assert_eq!(first.id, TargetId(7));
    assert!(first.ok);
    assert_eq!(first.detail, "HTTP 200");

    let request = server.last_request.lock().unwrap().clone();
    assert!(
        request.starts_with("GET /healthz HTTP/1.1\r\n"),
        "{request}"
    );
    let host = format!("host: 127.0.0.1:{}\r\n", server.addr.port());
    assert!(request.to_ascii_lowercase().contains(&host), "{request}");

    server.status.store(503, Ordering::SeqCst);
    let failed = loop {
        let o = next(&mut rx).await;
        if !o.ok {
            break o;
        }
    };
    assert_eq!(failed.detail, "HTTP 503");

    server.status.store(204, Ordering::SeqCst);
    let recovered = loop {
        let o = next(&mut rx).await;
        if o.ok {
            break o;
        }
    };
    assert_eq!(recovered.detail, "HTTP 204");
    drop(checker);
}

#[tokio::test]
async fn http_expect_range_decides_what_is_healthy() {
    let server = HttpServer::start(503).await;
    let mut t = target(0, server.addr, check(http("/"), 1000, 500));
    t.check.kind = CheckKind::Http(HttpCheck {
        host: Some("www.example.com".into()),
        ..HttpCheck::get("/", StatusRange { lo: 500, hi: 503 })
    });
    let o = check_once(&t).await;
    assert!(o.ok, "{o:?}");
    assert_eq!(o.detail, "HTTP 503");
    let request = server.last_request.lock().unwrap().to_ascii_lowercase();
    assert!(request.contains("host: www.example.com\r\n"), "{request}");
}

#[tokio::test]
async fn http_check_against_a_closed_port_is_connection_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let o = check_once(&target(0, addr, check(http("/"), 1000, 500))).await;
    assert!(!o.ok);
    assert_eq!(o.detail, "connection refused");
}

#[tokio::test]
async fn tcp_check_passes_while_listening_and_fails_once_the_listener_is_closed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let t = target(0, addr, check(CheckKind::Tcp, 1000, 500));
    let o = check_once(&t).await;
    assert!(o.ok);
    assert_eq!(o.detail, "connected");
    drop(listener);
    let o = check_once(&t).await;
    assert!(!o.ok);
    assert_eq!(o.detail, "connection refused");
}

#[tokio::test]
async fn check_port_overrides_the_target_port() {
    let server = HttpServer::start(200).await;
    let mut c = check(http("/"), 1000, 500);
    c.port = Some(server.addr.port());
    let t = target(0, "127.0.0.1:1".parse().unwrap(), c);
    assert_eq!(check_once(&t).await.detail, "HTTP 200");
}

#[tokio::test]
async fn http_check_on_a_silent_server_times_out() {
    // Accepts connections (the kernel does) but never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let t = target(0, addr, check(http("/"), 1000, 300));
    let o = check_once(&t).await;
    assert!(!o.ok);
    assert_eq!(o.detail, "timed out after 300ms");
    assert!(o.duration >= Duration::from_millis(300), "{:?}", o.duration);
    assert!(o.duration < Duration::from_secs(2), "{:?}", o.duration);
    drop(listener);
}

#[tokio::test]
async fn exec_check_exit_status_decides() {
    let o = check_once(&exec(&["true"], 2000)).await;
    assert!(o.ok);
    assert_eq!(o.detail, "exit status 0");
    let o = check_once(&exec(&["false"], 2000)).await;
    assert!(!o.ok);
    assert_eq!(o.detail, "exit status 1");
    let o = check_once(&exec(&["/nonexistent/anycastd-check"], 2000)).await;
    assert!(!o.ok);
    assert!(
        o.detail
            .starts_with("cannot run /nonexistent/anycastd-check:"),
        "{}",
        o.detail
    );
}

#[tokio::test]
async fn exec_check_gets_the_target_in_its_environment_without_a_shell() {
    let o = check_once(&exec(
        &[
            "sh",
            "-c",
            "test \"$ANYCASTD_CHECK_ADDRESS:$ANYCASTD_CHECK_PORT\" = 127.0.0.1:4242",
        ],
        2000,
    ))
    .await;
    assert!(o.ok, "{o:?}");
    // No shell in between: a metacharacter is just an argument.
    let o = check_once(&exec(&["test", "a", "=", "a;false"], 2000)).await;
    assert!(!o.ok);
    assert_eq!(o.detail, "exit status 1");
}

fn processes_with(marker: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|c| String::from_utf8_lossy(c).contains(marker))
        .count()
}

#[tokio::test]
async fn exec_check_is_killed_at_the_timeout_with_its_children() {
    // A unique sleep length marks our processes in /proc.
    let marker = format!("7.{}", std::process::id());
    let script = format!("sleep {marker}; true");
    let started = Instant::now();
    let running =
        tokio::spawn(async move { check_once(&exec(&["sh", "-c", &script], 1000)).await });
    let deadline = Instant::now() + Duration::from_millis(900);
    while processes_with(&marker) < 2 {
        assert!(
            Instant::now() < deadline,
            "sh and its sleep child never ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let o = running.await.unwrap();
    assert!(!o.ok);
    assert_eq!(o.detail, "timed out after 1s");
    assert!(started.elapsed() < Duration::from_secs(3));
    // The shell and its sleep child are both gone.
    let deadline = Instant::now() + Duration::from_secs(3);
    while processes_with(&marker) > 0 {
        assert!(
            Instant::now() < deadline,
            "check processes survived the timeout"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn none_check_is_healthy_and_reported_once() {
    let (tx, mut rx) = mpsc::channel(16);
    let t = target(
        3,
        "127.0.0.1:1".parse().unwrap(),
        check(CheckKind::None, 50, 10),
    );
    let _checker = Checker::start(vec![t], tx);
    let o = next(&mut rx).await;
    assert!(o.ok);
    assert_eq!(o.id, TargetId(3));
    // The task ended and dropped its sender: the channel closes, nothing more arrives.
    let more = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await;
    assert_eq!(more, Ok(None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_checker_stops_all_checks() {
    let server = HttpServer::start(200).await;
    let (tx, mut rx) = mpsc::channel(64);
    let checker = Checker::start(
        vec![
            target(0, server.addr, check(http("/a"), 50, 500)),
            target(1, server.addr, check(http("/b"), 50, 500)),
        ],
        tx,
    );
    for _ in 0..4 {
        next(&mut rx).await;
    }
    drop(checker);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = server.requests.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(server.requests.load(Ordering::SeqCst), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_check_does_not_delay_the_others() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let mut slow = exec(&["sleep", "5"], 3000);
    slow.id = TargetId(1);
    // Starts within 400ms (first-run spread), then hangs for the rest of the test.
    slow.check.interval = Duration::from_millis(400);
    let fast = target(2, addr, check(CheckKind::Tcp, 100, 50));
    let _checker = Checker::start(vec![slow, fast], tx);
    let started = Instant::now();
    let mut fast_results = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        if let Ok(Some(o)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
            assert_eq!(
                o.id,
                TargetId(2),
                "the slow check cannot have finished: {o:?}"
            );
            fast_results += 1;
        }
    }
    // About 14 expected; the margin is for a loaded machine.
    assert!(fast_results >= 5, "only {fast_results} fast results");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_runs_are_spread_over_the_first_interval() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let targets: Vec<Target> = (0..20)
        .map(|i| target(i, addr, check(CheckKind::Tcp, 1000, 500)))
        .collect();
    let (tx, mut rx) = mpsc::channel(64);
    let started = Instant::now();
    let _checker = Checker::start(targets, tx);
    let mut arrivals = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 20 {
        let o = next(&mut rx).await;
        if seen.insert(o.id) {
            arrivals.push(started.elapsed());
        }
    }
    let first = arrivals.iter().min().unwrap();
    let last = arrivals.iter().max().unwrap();
    assert!(*last < Duration::from_millis(2500), "{arrivals:?}");
    assert!(*last - *first > Duration::from_millis(300), "{arrivals:?}");
}

/// `openssl s_server -www` with a fresh self-signed certificate; killed on drop.
struct TlsServer {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl TlsServer {
    async fn start() -> TlsServer {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let status = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=backend.test", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl is installed");
        assert!(status.success());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept"])
            .arg(addr.to_string())
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = TlsServer {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(Instant::now() < deadline, "openssl s_server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn https_check_skips_certificate_verification_unless_asked() {
    let server = TlsServer::start().await;
    let https = |tls_verify| {
        CheckKind::Https(HttpCheck {
            host: Some("backend.test".into()),
            tls_verify,
            ..HttpCheck::get("/", StatusRange::SUCCESS)
        })
    };
    let o = check_once(&target(0, server.addr, check(https(false), 5000, 3000))).await;
    assert!(o.ok, "{o:?}");
    assert_eq!(o.detail, "HTTP 200");
    let o = check_once(&target(0, server.addr, check(https(true), 5000, 3000))).await;
    assert!(!o.ok, "{o:?}");
    assert!(
        o.detail.starts_with("TLS handshake failed:"),
        "{}",
        o.detail
    );
    assert!(o.detail.contains("certificate"), "{}", o.detail);
}
