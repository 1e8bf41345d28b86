//! The HTTP API over real TCP: the server runs on 127.0.0.1:0 with a test context whose
//! "daemon loop" is a task answering commands; the 403 case uses a real non-loopback client in
//! a network namespace connected by a veth pair.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anycastd::api::{serve, Action, ApiCommand, ApiContext, ApiError, Limits, Liveness};
use anycastd::cli::client::{drain_command, request, status_command, ApiTarget, Call};
use anycastd::cli::ApiArgs;
use anycastd::metrics::{render, ApiMetrics, CheckMetrics};
use anycastd::status::Status;
use hyper::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

const VIP: &str = "10.100.0.1";

/// What the test's "daemon loop" received, in order.
type Received = Arc<Mutex<Vec<(Action, Option<IpAddr>)>>>;

/// A running API server and the commands its "daemon loop" received.
struct Api {
    addr: SocketAddr,
    received: Received,
    alive: Liveness,
    _stop: oneshot::Sender<()>,
}

async fn start(bind: &str, token: Option<&str>, max_silence: Duration) -> Api {
    start_with(bind, token, max_silence, Limits::default()).await
}

async fn start_with(bind: &str, token: Option<&str>, max_silence: Duration, limits: Limits) -> Api {
    let listener = TcpListener::bind(bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (commands, mut rx) = mpsc::channel::<ApiCommand>(8);
    let received: Received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    // The daemon loop's side: knows one VIP.
    tokio::spawn(async move {
        while let Some(cmd) = rx.recv().await {
            log.lock().unwrap().push((cmd.action, cmd.vip));
            let answer = match (cmd.action, cmd.vip) {
                (_, Some(vip)) if vip.to_string() != VIP => Err(ApiError::NotFound(format!(
                    "no VIP {vip} in the configuration"
                ))),
                (Action::Reload, _) => Err(ApiError::Rejected("config.toml:3:1: bad".into())),
                (action, vip) => Ok(format!("{action:?} {vip:?} done")),
            };
            let _ = cmd.reply.send(answer);
        }
    });
    let checks = Arc::new(CheckMetrics::default());
    checks.record("web", true, Duration::from_millis(2));
    let alive = Liveness::new(max_silence);
    let counters = Arc::new(ApiMetrics::default());
    let for_metrics = counters.clone();
    // No test here writes: the loop's side of the edit channel is dropped.
    let (edits, _) = mpsc::channel(1);
    let ctx = ApiContext {
        status: Arc::new(Status::example),
        config: Arc::new(|| {
            let text = "[node]\nrouter_id = \"10.0.1.2\"\nasn = 65001\n";
            Arc::new(anycastd::config::running::RunningConfig::new(text))
        }),
        metrics: Arc::new(move || render(&Status::example(), &checks, &for_metrics)),
        commands,
        edits,
        token: token.map(str::to_string),
        writable: true,
        alive: alive.clone(),
        limits,
        counters,
    };
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, ctx, async move {
        let _ = stopped.await;
    }));
    Api {
        addr,
        received,
        alive,
        _stop: stop,
    }
}

fn target(addr: SocketAddr, token: Option<&str>) -> ApiTarget {
    ApiTarget {
        authority: addr.to_string(),
        prefix: String::new(),
        token: token.map(str::to_string),
    }
}

async fn call(api: &Api, method: Method, path: &str) -> (u16, String) {
    let answer = request(&target(api.addr, None), Call::new(method, path))
        .await
        .unwrap();
    (answer.code, answer.body)
}

#[tokio::test]
async fn healthz_is_ok_while_the_loop_beats() {
    let api = start("127.0.0.1:0", None, Duration::from_millis(300)).await;
    assert_eq!(
        call(&api, Method::GET, "/healthz").await,
        (200, "ok".into())
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (code, body) = call(&api, Method::GET, "/healthz").await;
    assert_eq!(code, 503, "{body}");
    api.alive.beat();
    assert_eq!(call(&api, Method::GET, "/healthz").await.0, 200);
}

#[tokio::test]
async fn status_is_the_json_document() {
    let api = start("127.0.0.1:0", None, Duration::from_secs(60)).await;
    let (code, body) = call(&api, Method::GET, "/status").await;
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["node"]["router_id"], "10.0.1.2");
    assert_eq!(v["node"]["asn"], 65001);
    assert_eq!(v["peers"][0]["state"], "established");
    assert_eq!(v["peers"][0]["uptime_seconds"], 3725);
    assert_eq!(v["peers"][0]["last_error"], serde_json::Value::Null);
    assert_eq!(v["vips"][0]["address"], VIP);
    assert_eq!(v["vips"][0]["announced"], true);
    assert_eq!(v["vips"][0]["reason"], "healthy");
    let backend = &v["vips"][0]["services"][0]["backends"][0];
    assert_eq!(backend["effective_weight"], 100);
    assert_eq!(backend["healthy"], true);
    let parsed: Status = serde_json::from_str(&body).unwrap();
    assert_eq!(parsed, Status::example());
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let api = start("127.0.0.1:0", None, Duration::from_secs(60)).await;
    let (code, body) = call(&api, Method::GET, "/metrics").await;
    assert_eq!(code, 200);
    for line in [
        "anycastd_peer_up{peer=\"10.0.1.1\"} 1",
        "anycastd_vip_announced{vip=\"10.100.0.1\"} 1",
        "anycastd_backend_healthy{service=\"web\",backend=\"10.0.10.11:8080\"} 1",
        "anycastd_bgp_updates_sent_total{peer=\"10.0.1.1\"} 3",
        "anycastd_check_duration_seconds_count{service=\"web\"} 1",
        "# TYPE anycastd_check_duration_seconds histogram",
    ] {
        assert!(
            body.lines().any(|l| l == line),
            "missing {line:?} in\n{body}"
        );
    }
}

#[tokio::test]
async fn loopback_posts_reach_the_daemon_loop() {
    let api = start("127.0.0.1:0", None, Duration::from_secs(60)).await;
    let (code, body) = call(&api, Method::POST, "/drain").await;
    assert_eq!((code, body.as_str()), (200, "Drain None done\n"));
    let (code, _) = call(&api, Method::POST, "/vips/10.100.0.1/undrain").await;
    assert_eq!(code, 200);
    let (code, body) = call(&api, Method::POST, "/vips/192.0.2.9/drain").await;
    assert_eq!(
        (code, body.as_str()),
        (404, "no VIP 192.0.2.9 in the configuration\n")
    );
    let (code, body) = call(&api, Method::POST, "/reload").await;
    assert_eq!((code, body.as_str()), (400, "config.toml:3:1: bad\n"));
    let vip: IpAddr = VIP.parse().unwrap();
    let bad: IpAddr = "192.0.2.9".parse().unwrap();
    assert_eq!(
        *api.received.lock().unwrap(),
        vec![
            (Action::Drain, None),
            (Action::Undrain, Some(vip)),
            (Action::Drain, Some(bad)),
            (Action::Reload, None)
        ]
    );
}

#[tokio::test]
async fn wrong_paths_and_methods_are_refused() {
    let api = start("127.0.0.1:0", None, Duration::from_secs(60)).await;
    assert_eq!(call(&api, Method::GET, "/nope").await.0, 404);
    assert_eq!(
        call(&api, Method::POST, "/vips/not-an-ip/drain").await.0,
        404
    );
    assert_eq!(call(&api, Method::GET, "/drain").await.0, 405);
    assert_eq!(call(&api, Method::POST, "/status").await.0, 405);
    assert!(api.received.lock().unwrap().is_empty());
}

fn args(api: &str) -> ApiArgs {
    ApiArgs {
        api: Some(api.into()),
        config: PathBuf::from("/nonexistent/anycastd.toml"),
        token: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_commands_talk_to_the_api_and_fail_clearly_when_it_is_down() {
    let api = start("127.0.0.1:0", None, Duration::from_secs(60)).await;
    let url = format!("http://{}", api.addr);
    let (u, vip) = (url.clone(), VIP.parse::<IpAddr>().unwrap());
    let codes = tokio::task::spawn_blocking(move || {
        (
            status_command(&args(&u), false),
            status_command(&args(&u), true),
            drain_command(&args(&u), &[vip], true),
            drain_command(&args(&u), &[], false),
            drain_command(&args(&u), &["192.0.2.9".parse().unwrap()], true),
        )
    })
    .await
    .unwrap();
    assert_eq!(codes, (0, 0, 0, 0, 1));
    assert_eq!(
        api.received.lock().unwrap()[..2],
        [(Action::Drain, Some(vip)), (Action::Undrain, None)]
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let code = tokio::task::spawn_blocking(move || status_command(&args(&down), false))
        .await
        .unwrap();
    assert_eq!(code, 1);
}

/// A network namespace joined to this one by a veth pair; removed on drop.
struct Netns {
    name: String,
    host_if: String,
    host_ip: IpAddr,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip(8)");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Netns {
    /// `tag` (0..=9) tells apart the namespaces of tests running in the same process.
    fn create(tag: u32) -> Netns {
        let pid = std::process::id();
        let name = format!("anycastd-api-{pid}-{tag}");
        let host_if = format!("aah{tag}{}", pid % 1_000_000);
        let ns_if = format!("aan{tag}{}", pid % 1_000_000);
        // A /30 per test and process, inside 10.201.0.0/16.
        let net = (pid * 10 + tag) % 16384;
        let (third, fourth) = (net / 64, (net % 64) * 4);
        let host_ip = format!("10.201.{third}.{}", fourth + 1);
        let ns_ip = format!("10.201.{third}.{}", fourth + 2);
        let guard = Netns {
            name: name.clone(),
            host_if: host_if.clone(),
            host_ip: host_ip.parse().unwrap(),
        };
        ip(&["netns", "add", &name]);
        ip(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
        ]);
        ip(&["link", "set", &ns_if, "netns", &name]);
        ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_if]);
        ip(&["link", "set", &host_if, "up"]);
        ip(&[
            "-n",
            &name,
            "addr",
            "add",
            &format!("{ns_ip}/30"),
            "dev",
            &ns_if,
        ]);
        ip(&["-n", &name, "link", "set", &ns_if, "up"]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        guard
    }

    /// curl from inside the namespace; returns (status code, body).
    async fn curl(&self, method: &str, url: &str, token: Option<&str>) -> (u16, String) {
        let mut cmd = tokio::process::Command::new("ip");
        cmd.args(["netns", "exec", &self.name, "curl", "-s", "--max-time", "5"])
            .args(["-X", method, "-w", "\n%{http_code}", url]);
        if let Some(t) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        let out = cmd.output().await.expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_from_a_remote_peer_need_the_token() {
    let ns = Netns::create(0);
    let api = start(
        &SocketAddr::new(ns.host_ip, 0).to_string(),
        Some("s3cret"),
        Duration::from_secs(60),
    )
    .await;
    let base = format!("http://{}", api.addr);

    // Reads are open to anyone who can reach the listener.
    let (code, body) = ns.curl("GET", &format!("{base}/status"), None).await;
    assert_eq!(code, 200, "{body}");

    let (code, body) = ns.curl("POST", &format!("{base}/drain"), None).await;
    assert_eq!(code, 403, "{body}");
    assert!(body.starts_with("forbidden"), "{body}");
    let (code, _) = ns
        .curl("POST", &format!("{base}/vips/{VIP}/drain"), Some("wrong"))
        .await;
    assert_eq!(code, 403);
    assert!(api.received.lock().unwrap().is_empty());

    let (code, body) = ns
        .curl("POST", &format!("{base}/vips/{VIP}/drain"), Some("s3cret"))
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        *api.received.lock().unwrap(),
        vec![(Action::Drain, Some(VIP.parse().unwrap()))]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_remote_posts_are_always_refused() {
    let ns = Netns::create(1);
    let api = start(
        &SocketAddr::new(ns.host_ip, 0).to_string(),
        None,
        Duration::from_secs(60),
    )
    .await;
    let (code, _) = ns
        .curl("POST", &format!("http://{}/drain", api.addr), Some(""))
        .await;
    assert_eq!(code, 403);
    assert!(api.received.lock().unwrap().is_empty());
}

/// Sends `request` on a fresh connection and reads until the server closes it (or 5 s pass).
async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut c = TcpStream::connect(addr).await.unwrap();
    let _ = c.write_all(request).await;
    read_to_close(&mut c).await
}

async fn read_to_close(c: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept the connection open: {out:?}"),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// True once the server has closed `c` (EOF or reset) within `within`.
async fn closed_within(c: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    matches!(
        tokio::time::timeout(within, c.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

fn metric(text: &str, line_start: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn bodies_over_64_kib_get_413_and_reach_nothing() {
    let api = start("127.0.0.1:0", None, Duration::from_secs(60)).await;
    // Declared too large: refused before a byte of the body is read.
    let answer = raw(
        api.addr,
        b"POST /drain HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("request body too large: at most 65536 bytes (64 KiB)"),
        "{answer}"
    );
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );

    // Chunked, no length given: refused once the bytes pass the cap.
    let mut chunked =
        b"POST /vips/10.100.0.1/drain HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for _ in 0..5 {
        chunked.extend_from_slice(format!("{:x}\r\n", 16 * 1024).as_bytes());
        chunked.extend(std::iter::repeat_n(b'x', 16 * 1024));
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let answer = raw(api.addr, &chunked).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // 64 KiB exactly is within the cap.
    let mut exact =
        b"POST /undrain HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 65536\r\n\r\n"
            .to_vec();
    exact.extend(std::iter::repeat_n(b'{', 65536));
    let answer = raw(api.addr, &exact).await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "64 KiB exactly is accepted: {answer}"
    );

    assert_eq!(
        *api.received.lock().unwrap(),
        vec![(Action::Undrain, None)],
        "only the request within the cap reached the daemon loop"
    );
    let (_, metrics) = call(&api, Method::GET, "/metrics").await;
    let posts = "anycastd_api_requests_total{method=\"POST\",code=\"413\"} ";
    assert_eq!(metric(&metrics, posts), Some(2), "{metrics}");
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_gets_408() {
    let limits = Limits {
        body_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let api = start_with("127.0.0.1:0", None, Duration::from_secs(60), limits).await;
    let answer = raw(
        api.addr,
        b"POST /drain HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(api.received.lock().unwrap().is_empty());
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_header_timeout_also_between_requests() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(400),
        ..Limits::default()
    };
    let api = start_with("127.0.0.1:0", None, Duration::from_secs(60), limits).await;
    // Never sends a byte.
    let mut silent = TcpStream::connect(api.addr).await.unwrap();
    // One request, then silence on the kept-alive connection.
    let mut kept = TcpStream::connect(api.addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(
        closed_within(&mut silent, Duration::from_secs(3)).await,
        "silent connection"
    );
    assert!(
        closed_within(&mut kept, Duration::from_secs(3)).await,
        "idle keep-alive connection"
    );
}

#[tokio::test]
async fn at_max_connections_the_oldest_idle_one_makes_room_and_busy_ones_get_503() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let api = start_with("127.0.0.1:0", None, Duration::from_secs(60), limits).await;
    let mut oldest = TcpStream::connect(api.addr).await.unwrap();
    let mut second = TcpStream::connect(api.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A third client is served: the oldest idle connection is closed for it.
    assert_eq!(
        call(&api, Method::GET, "/healthz").await,
        (200, "ok".into())
    );
    assert!(
        closed_within(&mut oldest, Duration::from_secs(2)).await,
        "oldest closed"
    );

    // Two clients in a request (bodies still coming): no idle connection to close.
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut c = TcpStream::connect(api.addr).await.unwrap();
        c.write_all(b"POST /drain HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        slow.push(c);
    }
    assert!(
        closed_within(&mut second, Duration::from_secs(2)).await,
        "second closed"
    );
    let answer = raw(api.addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("api.max_connections = 2"), "{answer}");
    // Once a slot is free again, clients are served.
    drop(slow.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(call(&api, Method::GET, "/healthz").await.0, 200);
    let (_, metrics) = call(&api, Method::GET, "/metrics").await;
    assert!(
        metric(&metrics, "anycastd_api_connections_evicted_total ").unwrap() >= 1,
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "anycastd_api_connections_refused_total "),
        Some(1),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_connection_with_a_half_sent_request_head_makes_room_too() {
    let limits = Limits {
        max_connections: 1,
        ..Limits::default()
    };
    let api = start_with("127.0.0.1:0", None, Duration::from_secs(60), limits).await;
    let mut slow = TcpStream::connect(api.addr).await.unwrap();
    slow.write_all(b"GET /heal").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        call(&api, Method::GET, "/healthz").await,
        (200, "ok".into())
    );
    assert!(closed_within(&mut slow, Duration::from_secs(2)).await);
}
