//! The speaker against hostile peers: scripted TCP peers on loopback (raw bytes, not FRR, so
//! they can break every rule on purpose).
//!
//! ```text
//!   Speaker (AS 65001) ── 127.0.0.2:<port>  hostile peer: a fresh session per misbehaviour
//!                      └─ 127.0.0.3:<port>  healthy peer: must stay established throughout
//!                                           and receive every route change meanwhile
//! ```
//!
//! Each case checks the exact NOTIFICATION we send (RFC 4271 §6, RFC 4486) or, for errors
//! RFC 7606 makes treat-as-withdraw, that the session stays up and the routes are withdrawn.

mod support;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anycastd::bgp::message::{
    frame, CodecContext, Message, Notification, Open, Prefix, HEADER_LEN, TYPE_OPEN, TYPE_UPDATE,
};
use anycastd::bgp::{Limits, RouteAttrs, RouteSet, Speaker};
use anycastd::config::{Bgp, Families, Node, Peer};
use anycastd::status::{PeerState, PeerStatus};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const CTX: CodecContext = CodecContext {
    four_octet_as: true,
};
const PEER_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 9);
const WAIT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------
// The scripted peer's side of the wire.

/// One accepted connection from the speaker.
struct Wire {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// A whole message with marker and length for `kind` and `body`.
fn raw(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((HEADER_LEN + body.len()) as u16).to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

impl Wire {
    async fn accept(listener: &TcpListener) -> Wire {
        let (stream, _) = tokio::time::timeout(WAIT, listener.accept())
            .await
            .expect("the speaker connects")
            .unwrap();
        Wire {
            stream,
            buf: Vec::new(),
        }
    }

    /// The next message (skipping nothing), or None when the connection closed.
    async fn next(&mut self) -> Option<Message> {
        loop {
            if let Some((kind, len)) = frame(&self.buf).expect("the speaker sends valid framing") {
                let m = Message::decode(kind, &self.buf[HEADER_LEN..len], &CTX)
                    .expect("the speaker sends valid messages");
                self.buf.drain(..len);
                return Some(m);
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads the speaker's OPEN.
    async fn their_open(&mut self) -> Open {
        match tokio::time::timeout(WAIT, self.next()).await.unwrap() {
            Some(Message::Open(o)) => o,
            m => panic!("expected the speaker's OPEN, got {m:?}"),
        }
    }

    /// Accepts the speaker and completes OPEN/KEEPALIVE: the session is Established.
    async fn establish(listener: &TcpListener) -> Wire {
        let mut w = Wire::accept(listener).await;
        w.their_open().await;
        w.send(&Message::Open(Open::ours(65000, 9, PEER_ID)).to_bytes(&CTX))
            .await;
        w.send(&Message::Keepalive.to_bytes(&CTX)).await;
        match tokio::time::timeout(WAIT, w.next()).await.unwrap() {
            Some(Message::Keepalive) => w,
            m => panic!("expected KEEPALIVE, got {m:?}"),
        }
    }

    /// Reads (skipping KEEPALIVEs and UPDATEs) until a NOTIFICATION arrives; then the
    /// connection must close.
    async fn notification(&mut self) -> Notification {
        let n = tokio::time::timeout(WAIT, async {
            loop {
                match self.next().await {
                    Some(Message::Notification(n)) => return n,
                    Some(_) => continue,
                    None => panic!("connection closed without a NOTIFICATION"),
                }
            }
        })
        .await
        .expect("a NOTIFICATION in time");
        let closed = tokio::time::timeout(WAIT, self.next()).await.unwrap();
        assert!(closed.is_none(), "connection closed after the NOTIFICATION");
        n
    }

    /// Nothing but KEEPALIVEs/UPDATEs for `d`: the session was not reset.
    async fn stays_up_for(&mut self, d: Duration) {
        let r = tokio::time::timeout(d, async {
            loop {
                match self.next().await {
                    Some(Message::Keepalive | Message::Update(_)) => continue,
                    other => return other,
                }
            }
        })
        .await;
        if let Ok(m) = r {
            panic!("session was reset: {m:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// The speaker side.

fn node() -> Node {
    Node {
        router_id: Ipv4Addr::new(192, 0, 2, 1),
        asn: 65001,
    }
}

fn peer(addr: SocketAddr) -> Peer {
    Peer {
        port: addr.port(),
        next_hop6: Some("2001:db8::1".parse().unwrap()),
        hold_time: 9,
        families: Families::BOTH,
        ..Peer::new(addr.ip(), 65000)
    }
}

fn bgp(peers: Vec<Peer>) -> Bgp {
    Bgp {
        hold_time: 9,
        // Fast reconnects keep the many fresh sessions quick.
        connect_retry: Duration::from_millis(300),
        ..Bgp::new(peers)
    }
}

fn status(s: &Speaker, addr: IpAddr) -> PeerStatus {
    s.peer_status()
        .into_iter()
        .find(|p| p.address == addr.to_string())
        .expect("configured peer")
}

async fn wait_status(
    s: &Speaker,
    addr: IpAddr,
    what: &str,
    ok: impl Fn(&PeerStatus) -> bool,
) -> PeerStatus {
    let deadline = Instant::now() + WAIT;
    loop {
        let st = status(s, addr);
        if ok(&st) {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {st:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn vips(n: u32) -> RouteSet {
    (0..n)
        .map(|i| (IpAddr::V4((0x0a64_0000 + i).into()), RouteAttrs::default()))
        .collect()
}

/// A well-behaved peer that records what it is sent and keeps its session alive.
#[derive(Default)]
struct Healthy {
    announced: BTreeSet<Prefix>,
    /// Set when its session ever ends (NOTIFICATION or close).
    lost: Option<String>,
}

async fn healthy_peer(listener: TcpListener, state: Arc<Mutex<Healthy>>) {
    let mut w = Wire::establish(&listener).await;
    let mut tick = tokio::time::interval(Duration::from_secs(3));
    loop {
        tokio::select! {
            m = w.next() => match m {
                Some(Message::Update(u)) => {
                    let mut s = state.lock().unwrap();
                    for p in u.withdrawals() {
                        s.announced.remove(p);
                    }
                    s.announced.extend(u.announced().copied());
                }
                Some(Message::Keepalive) => {}
                other => {
                    state.lock().unwrap().lost = Some(format!("{other:?}"));
                    return;
                }
            },
            _ = tick.tick() => w.send(&Message::Keepalive.to_bytes(&CTX)).await,
        }
    }
}

async fn healthy_has(state: &Mutex<Healthy>, routes: &RouteSet) {
    let want: BTreeSet<Prefix> = routes.keys().map(|a| Prefix::host(*a)).collect();
    let deadline = Instant::now() + WAIT;
    loop {
        {
            let s = state.lock().unwrap();
            assert_eq!(s.lost, None, "the healthy peer's session ended");
            if s.announced == want {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "healthy peer did not get {} routes",
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Hostile messages.

/// An IPv4 UPDATE with the given attributes (already encoded) announcing 10.9.9.9/32.
fn update_with_attrs(attrs: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 0];
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(attrs);
    body.extend_from_slice(&[32, 10, 9, 9, 9]);
    raw(TYPE_UPDATE, &body)
}

const ORIGIN: [u8; 4] = [0x40, 1, 1, 0];
const AS_PATH: [u8; 9] = [0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe8];
const NEXT_HOP: [u8; 7] = [0x40, 3, 4, 10, 0, 0, 9];

fn valid_update() -> Vec<u8> {
    update_with_attrs(&[&ORIGIN[..], &AS_PATH, &NEXT_HOP].concat())
}

/// An OPEN from AS 65000 with raw optional parameters.
fn open_with(version: u8, asn: u16, hold: u16, params: &[u8]) -> Vec<u8> {
    let mut body = vec![version];
    body.extend_from_slice(&asn.to_be_bytes());
    body.extend_from_slice(&hold.to_be_bytes());
    body.extend_from_slice(&PEER_ID.octets());
    body.push(params.len() as u8);
    body.extend_from_slice(params);
    raw(TYPE_OPEN, &body)
}

enum Case {
    /// Sent after the OPEN exchange; the speaker must answer with this NOTIFICATION.
    Established(&'static str, Vec<u8>, (u8, u8, Vec<u8>)),
    /// Sent instead of our OPEN.
    InOpen(&'static str, Vec<u8>, (u8, u8, Vec<u8>)),
}

fn cases() -> Vec<Case> {
    use Case::*;
    let mut bad_marker = raw(4, &[]);
    bad_marker[3] = 0xfe;
    let mut short = raw(4, &[]);
    short[16..18].copy_from_slice(&18u16.to_be_bytes());
    let mut long = raw(TYPE_UPDATE, &[0; 4078]);
    long[16..18].copy_from_slice(&4097u16.to_be_bytes());
    let mp_capability_of_length_3 = [2, 5, 1, 3, 0, 1, 0];
    vec![
        Established("bad marker", bad_marker, (1, 1, vec![])),
        InOpen(
            "a malformed capability (multiprotocol of length 3)",
            open_with(4, 65000, 9, &mp_capability_of_length_3),
            (2, 0, vec![]),
        ),
        Established("length 18 (< 19)", short, (1, 2, vec![0, 18])),
        InOpen(
            "hold time 1",
            Message::Open(Open::ours(65000, 1, PEER_ID)).to_bytes(&CTX),
            (2, 6, vec![]),
        ),
        Established("length 4097 (> 4096)", long, (1, 2, vec![0x10, 0x01])),
        InOpen(
            "hold time 2",
            Message::Open(Open::ours(65000, 2, PEER_ID)).to_bytes(&CTX),
            (2, 6, vec![]),
        ),
        Established("unknown message type 9", raw(9, &[]), (1, 3, vec![9])),
        InOpen(
            "BGP version 3",
            open_with(3, 65000, 9, &[]),
            (2, 1, vec![0, 4]),
        ),
        Established(
            "total path attribute length beyond the message",
            raw(TYPE_UPDATE, &[0, 0, 0, 50, 0x40, 1, 1, 0]),
            (3, 1, vec![]),
        ),
        InOpen(
            "the wrong peer AS",
            Message::Open(Open::ours(65099, 9, PEER_ID)).to_bytes(&CTX),
            (2, 2, vec![]),
        ),
        Established(
            "an unrecognized well-known attribute (type 99, not optional)",
            update_with_attrs(&[&ORIGIN[..], &[0x40, 99, 1, 7]].concat()),
            // RFC 4271 §6.3: the data is the whole attribute.
            (3, 2, vec![0x40, 99, 1, 7]),
        ),
        // RFC 4760 §7: Optional Attribute Error, with the attribute as data (RFC 4271 §6.3).
        Established(
            "a truncated MP_REACH_NLRI",
            update_with_attrs(&[0x80, 14, 3, 0, 2, 1]),
            (3, 9, vec![0x80, 14, 3, 0, 2, 1]),
        ),
        Established(
            "MP_REACH_NLRI without a next hop (and with well-known flags)",
            update_with_attrs(&[0x40, 14, 5, 0, 2, 1, 0, 0]),
            (3, 9, vec![0x40, 14, 5, 0, 2, 1, 0, 0]),
        ),
        // RFC 7606 §3 (j): its NLRI cannot be located, so not treat-as-withdraw.
        Established(
            "an MP_REACH_NLRI overrunning the attribute list",
            update_with_attrs(
                &[&ORIGIN[..], &AS_PATH, &[0x80, 14, 40, 0, 2, 1, 16, 0x20]].concat(),
            ),
            (3, 9, vec![0x80, 14, 40, 0, 2, 1, 16, 0x20]),
        ),
        Established(
            "a prefix length of 33",
            raw(TYPE_UPDATE, &[0, 0, 0, 0, 33, 10, 9, 9, 9, 9]),
            (3, 10, vec![]),
        ),
    ]
}

/// Errors RFC 7606 turns into treat-as-withdraw: the session stays up and the prefix the
/// UPDATE carries counts as withdrawn.
fn treat_as_withdraw_cases() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "a malformed AS_PATH (segment claims 5 ASNs, holds 1)",
            update_with_attrs(
                &[
                    &ORIGIN[..],
                    &[0x40, 2, 6, 2, 5, 0, 0, 0xfd, 0xe8],
                    &NEXT_HOP,
                ]
                .concat(),
            ),
        ),
        (
            "ORIGIN with the optional flag set (attribute flags error)",
            update_with_attrs(&[&[0xc0, 1, 1, 0][..], &AS_PATH, &NEXT_HOP].concat()),
        ),
        (
            "an attribute longer than the attribute list (truncated attributes)",
            update_with_attrs(&[&ORIGIN[..], &AS_PATH, &[0x40, 3, 9, 10, 0, 0, 9]].concat()),
        ),
        (
            "NEXT_HOP without the transitive flag (attribute flags error)",
            update_with_attrs(&[&ORIGIN[..], &AS_PATH, &[0x00, 3, 4, 10, 0, 0, 9]].concat()),
        ),
        (
            "MED with the transitive flag (attribute flags error)",
            update_with_attrs(
                &[&ORIGIN[..], &AS_PATH, &NEXT_HOP, &[0xc0, 4, 4, 0, 0, 0, 1]].concat(),
            ),
        ),
        (
            "an empty COMMUNITIES attribute",
            update_with_attrs(&[&ORIGIN[..], &AS_PATH, &NEXT_HOP, &[0xc0, 8, 0]].concat()),
        ),
        (
            "a missing NEXT_HOP",
            update_with_attrs(&[&ORIGIN[..], &AS_PATH].concat()),
        ),
        (
            "an invalid ORIGIN value",
            update_with_attrs(&[&[0x40, 1, 1, 7][..], &AS_PATH, &NEXT_HOP].concat()),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peers_get_the_exact_notification_and_the_healthy_peer_never_notices() {
    support::init_tracing();
    let hostile = TcpListener::bind("127.0.0.2:0").await.unwrap();
    let healthy = TcpListener::bind("127.0.0.3:0").await.unwrap();
    let (h_addr, g_addr) = (hostile.local_addr().unwrap(), healthy.local_addr().unwrap());
    let good = Arc::new(Mutex::new(Healthy::default()));
    tokio::spawn(healthy_peer(healthy, good.clone()));
    let s = Speaker::start(&node(), &bgp(vec![peer(h_addr), peer(g_addr)]));
    let mut routes = vips(1);
    s.set_routes(routes.clone());
    let started = Instant::now();

    for (i, case) in cases().into_iter().enumerate() {
        let (what, expected, n) = match case {
            Case::Established(what, bytes, expected) => {
                let mut w = Wire::establish(&hostile).await;
                w.send(&bytes).await;
                (what, expected, w.notification().await)
            }
            Case::InOpen(what, bytes, expected) => {
                let mut w = Wire::accept(&hostile).await;
                w.their_open().await;
                w.send(&bytes).await;
                (what, expected, w.notification().await)
            }
        };
        assert_eq!(
            (n.code, n.subcode, n.data.clone()),
            expected,
            "{what}: got {n}"
        );
        let text = format!("sent NOTIFICATION {n}");
        wait_status(&s, h_addr.ip(), &format!("last_error {text:?}"), |p| {
            p.state != PeerState::Established && p.last_error.as_deref() == Some(text.as_str())
        })
        .await;
        eprintln!("ok: {what} -> {n}");
        // Meanwhile the other session keeps working: a new VIP reaches it.
        routes = vips(i as u32 + 2);
        s.set_routes(routes.clone());
        healthy_has(&good, &routes).await;
    }

    // Treat-as-withdraw: one session for all of them, which must never be reset.
    let mut w = Wire::establish(&hostile).await;
    for (what, bytes) in treat_as_withdraw_cases() {
        w.send(&valid_update()).await;
        wait_status(&s, h_addr.ip(), "the valid prefix counted", |p| {
            p.routes_received == 1
        })
        .await;
        w.send(&bytes).await;
        w.send(&Message::Keepalive.to_bytes(&CTX)).await;
        let st = wait_status(&s, h_addr.ip(), what, |p| p.routes_received == 0).await;
        assert_eq!(st.state, PeerState::Established, "{what}");
        w.stays_up_for(Duration::from_millis(300)).await;
        eprintln!("ok: {what} -> treat-as-withdraw, session up");
    }
    assert_eq!(status(&s, h_addr.ip()).state, PeerState::Established);

    let g = status(&s, g_addr.ip());
    assert_eq!(g.state, PeerState::Established, "{g:?}");
    assert!(
        g.uptime_seconds + 1 >= started.elapsed().as_secs(),
        "the healthy session was never reset: {g:?} after {:?}",
        started.elapsed()
    );
    assert_eq!(good.lock().unwrap().lost, None);
    eprintln!("all hostile cases in {:?}", started.elapsed());
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_beyond_the_prefix_limit_gets_cease_max_prefixes_and_a_later_reconnect() {
    support::init_tracing();
    let listener = TcpListener::bind("127.0.0.2:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = Limits {
        max_received_prefixes: 100,
        max_prefix_restart: Duration::from_secs(2),
        ..Limits::default()
    };
    // The speaker also listens, so the peer could try to come straight back in.
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut cfg = bgp(vec![peer(addr)]);
    cfg.listen = Some(listen);
    let s = Speaker::start_with_limits(&node(), &cfg, limits);
    let mut w = Wire::establish(&listener).await;
    let nlri = |from: u32, n: u32| -> Vec<u8> {
        (from..from + n)
            .flat_map(|i| {
                let mut p = vec![32];
                p.extend_from_slice(&(0x0a09_0000u32 + i).to_be_bytes());
                p
            })
            .collect()
    };
    let update = |nlri: &[u8]| {
        let attrs = [&ORIGIN[..], &AS_PATH, &NEXT_HOP].concat();
        let mut body = vec![0, 0];
        body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        body.extend_from_slice(&attrs);
        body.extend_from_slice(nlri);
        raw(TYPE_UPDATE, &body)
    };
    // Exactly the limit, re-announcing some of them again: fine.
    w.send(&update(&nlri(0, 100))).await;
    w.send(&update(&nlri(50, 50))).await;
    let st = wait_status(&s, addr.ip(), "100 prefixes counted", |p| {
        p.routes_received == 100
    })
    .await;
    assert_eq!(st.state, PeerState::Established);
    // One more distinct prefix: over the limit.
    w.send(&update(&nlri(100, 1))).await;
    let n = w.notification().await;
    let closed_at = Instant::now();
    assert_eq!((n.code, n.subcode), (6, 1), "{n}");
    // RFC 4486 §4: AFI 1, SAFI 1, the limit 100.
    assert_eq!(n.data, [0, 1, 1, 0, 0, 0, 100]);
    let st = wait_status(&s, addr.ip(), "down", |p| p.state != PeerState::Established).await;
    assert_eq!(
        st.last_error.as_deref(),
        Some("sent NOTIFICATION Cease/Maximum Number of Prefixes Reached")
    );
    assert_eq!(st.routes_received, 0);
    // Coming back in through our listener during the delay: Cease/Connection Rejected.
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(addr.ip(), 0)).unwrap();
    let mut inbound = Wire {
        stream: sock.connect(listen).await.unwrap(),
        buf: Vec::new(),
    };
    let n = inbound.notification().await;
    assert_eq!((n.code, n.subcode), (6, 5), "{n}");
    // It comes back, but only after max_prefix_restart.
    let _w = Wire::accept(&listener).await;
    let after = closed_at.elapsed();
    assert!(
        after >= Duration::from_millis(1900) && after < Duration::from_secs(8),
        "reconnected after {after:?}"
    );
    eprintln!("reconnected {after:?} after the Cease");
    s.shutdown().await;
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The kernel's send queue of the speaker's connection to `peer` (bytes we wrote that the
/// peer has not read), from `ss`.
fn send_queue_to(peer: SocketAddr) -> Option<u64> {
    let out = std::process::Command::new("ss")
        .args(["-tnH", "dst", &peer.to_string()])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.split_whitespace().nth(2)?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_is_dropped_by_the_write_timeout_with_bounded_memory() {
    support::init_tracing();
    // The stalled peer: a small receive buffer, and after the OPEN exchange it never reads
    // again, but keeps sending KEEPALIVEs so our hold timer alone would not catch it.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind("127.0.0.4:0".parse().unwrap()).unwrap();
    let stalled = socket.listen(4).unwrap();
    let healthy = TcpListener::bind("127.0.0.3:0").await.unwrap();
    let (st_addr, g_addr) = (stalled.local_addr().unwrap(), healthy.local_addr().unwrap());
    let good = Arc::new(Mutex::new(Healthy::default()));
    tokio::spawn(healthy_peer(healthy, good.clone()));
    let s = Speaker::start(&node(), &bgp(vec![peer(st_addr), peer(g_addr)]));
    let w = Wire::establish(&stalled).await;
    let (_reader, mut writer) = w.stream.into_split();
    let keepalives = tokio::spawn(async move {
        loop {
            if writer
                .write_all(&Message::Keepalive.to_bytes(&CTX))
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
    wait_status(&s, st_addr.ip(), "established", |p| {
        p.state == PeerState::Established
    })
    .await;

    // 50,000 IPv4 and 50,000 IPv6 VIPs (~1.1 MB of UPDATEs), then a different 50,000 of
    // each, and back: far more than the socket buffers hold.
    let set = |offset: u32| -> RouteSet {
        (0..50_000u32)
            .map(|i| IpAddr::V4((0x0a00_0000 + offset + i).into()))
            .chain((0..50_000u128).map(|i| {
                IpAddr::V6(
                    (0x2001_0db8_0100_0000_0000_0000_0000_0000u128 + (offset as u128) + i).into(),
                )
            }))
            .map(|a| (a, RouteAttrs::default()))
            .collect()
    };
    let (a, b) = (set(0), set(1_000_000));
    // Measured after the test's own route sets exist: what grows from here is the speaker
    // (two Adj-RIB-Outs, the encoded batch), the healthy peer's table, and the allocator.
    let rss_before = rss_kib();
    let started = Instant::now();
    let mut peak_rss = rss_before;
    let mut peak_queue = 0;
    let mut flips = 0;
    let mut rss_after_two = 0;
    let st = loop {
        let st = status(&s, st_addr.ip());
        if st.state != PeerState::Established {
            break st;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the stalled session was never dropped: {st:?}"
        );
        if flips < 6 {
            s.set_routes(if flips % 2 == 0 { a.clone() } else { b.clone() });
            flips += 1;
            if flips == 3 {
                rss_after_two = rss_kib();
            }
        }
        peak_rss = peak_rss.max(rss_kib());
        peak_queue = peak_queue.max(send_queue_to(st_addr).unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let dropped_after = started.elapsed();
    assert_eq!(
        st.last_error.as_deref(),
        Some("write timed out: the peer stopped reading"),
        "{st:?}"
    );
    // The hold time is 9 s: a write stalled that long means the peer got no KEEPALIVE.
    assert!(dropped_after >= Duration::from_secs(8), "{dropped_after:?}");
    let growth_mib = peak_rss.saturating_sub(rss_before) / 1024;
    // Once the stalled session's write is blocked, further changes must not add memory for it.
    let later_mib = peak_rss.saturating_sub(rss_after_two) / 1024;
    eprintln!(
        "stalled peer dropped after {dropped_after:?}; peak kernel send queue {} KiB; \
         RSS {} MiB -> peak {} MiB (+{growth_mib} MiB; +{later_mib} MiB after the first two \
         route sets, over {flips} flips)",
        peak_queue / 1024,
        rss_before / 1024,
        peak_rss / 1024
    );
    // A loose guard (allocator behaviour varies); the numbers above are the measurement.
    assert!(growth_mib < 192, "memory grew by {growth_mib} MiB");
    // The healthy peer received every change meanwhile; it ends with the last set.
    let last = if flips % 2 == 1 { &a } else { &b };
    healthy_has(&good, last).await;
    assert_eq!(status(&s, g_addr.ip()).state, PeerState::Established);
    keepalives.abort();
    s.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// The real daemon against a hostile peer.

/// Kills the daemon when the test ends, however it ends.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET path` over HTTP/1.0 on `addr`: the status code, or None when unreachable.
async fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut body = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut body))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&body).into_owned();
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, text))
}

/// Serves every connection of the daemon with the next misbehaviour, round robin: garbage
/// before OPEN, a broken marker, an oversized length, a flood of random bytes, and an UPDATE
/// flood of unparseable attributes after a proper OPEN exchange.
async fn hostile_server(listener: TcpListener, served: Arc<Mutex<u32>>) {
    let mut round = 0u32;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        round += 1;
        *served.lock().unwrap() += 1;
        let mut w = Wire {
            stream,
            buf: Vec::new(),
        };
        let junk: Vec<u8> = (0..1_000_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            match round % 5 {
                0 => w.send(&junk[..10_000]).await,
                1 => {
                    w.their_open().await;
                    let mut m = raw(4, &[]);
                    m[0] = 0;
                    w.send(&m).await;
                }
                2 => {
                    w.their_open().await;
                    w.send(&Message::Open(Open::ours(65000, 9, PEER_ID)).to_bytes(&CTX))
                        .await;
                    w.send(&Message::Keepalive.to_bytes(&CTX)).await;
                    let mut m = raw(TYPE_UPDATE, &[]);
                    m[16..18].copy_from_slice(&u16::MAX.to_be_bytes());
                    w.send(&m).await;
                }
                3 => {
                    w.their_open().await;
                    w.send(&Message::Open(Open::ours(65000, 9, PEER_ID)).to_bytes(&CTX))
                        .await;
                    w.send(&Message::Keepalive.to_bytes(&CTX)).await;
                    let _ = w.stream.write_all(&junk).await;
                }
                _ => {
                    w.their_open().await;
                    w.send(&Message::Open(Open::ours(65000, 9, PEER_ID)).to_bytes(&CTX))
                        .await;
                    w.send(&Message::Keepalive.to_bytes(&CTX)).await;
                    let taw =
                        update_with_attrs(&[&[0xc0, 1, 1, 0][..], &AS_PATH, &NEXT_HOP].concat());
                    for _ in 0..20_000 {
                        if w.stream.write_all(&taw).await.is_err() {
                            break;
                        }
                    }
                    // Then a fatal one, so the next round starts.
                    let _ = w.stream.write_all(&raw(9, &[])).await;
                }
            }
            // Drain whatever the daemon says until it closes.
            while w.next_raw().await {}
        })
        .await;
    }
}

impl Wire {
    /// Reads and discards one chunk; false once the connection is closed.
    async fn next_raw(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        matches!(self.stream.read(&mut chunk).await, Ok(n) if n > 0)
    }
}

#[test]
fn the_daemons_healthz_stays_200_while_a_hostile_peer_hammers_it() {
    support::init_tracing();
    // Everything in a namespace of its own: the daemon touches nothing on the host.
    let ns = support::Netns::new("h");
    let rt = support::NsRuntime::new(&ns);
    let served = Arc::new(Mutex::new(0u32));
    let bgp_port = {
        let served = served.clone();
        rt.run(Duration::from_secs(5), async move {
            let l = TcpListener::bind("127.0.0.2:0").await.unwrap();
            let port = l.local_addr().unwrap().port();
            tokio::spawn(hostile_server(l, served));
            port
        })
    };
    let api_port = rt.run(Duration::from_secs(5), async {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    });
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("anycastd.toml");
    std::fs::write(
        &config,
        format!(
            "[node]\nrouter_id = \"192.0.2.1\"\nasn = 65001\n\n[api]\nlisten = \"127.0.0.1:{api_port}\"\n\n\
             [bgp]\nhold_time = 9\nconnect_retry = 1\n\n\
             [[bgp.peer]]\naddress = \"127.0.0.2\"\nport = {bgp_port}\nasn = 65000\n"
        ),
    )
    .unwrap();
    let child = ns
        .command(env!("CARGO_BIN_EXE_anycastd"))
        .args(["run", "-c"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _daemon = Daemon(child);
    let api: SocketAddr = format!("127.0.0.1:{api_port}").parse().unwrap();

    // Up first.
    support::wait_until(Duration::from_secs(15), "the API answers", || {
        rt.run(Duration::from_secs(5), http_get(api, "/healthz"))
            .is_some_and(|(c, _)| c == 200)
    });
    let started = Instant::now();
    let (mut polls, mut worst) = (0u32, Duration::ZERO);
    while started.elapsed() < Duration::from_secs(15) {
        let t = Instant::now();
        let r = rt.run(Duration::from_secs(5), http_get(api, "/healthz"));
        worst = worst.max(t.elapsed());
        assert_eq!(
            r.as_ref().map(|(c, _)| *c),
            Some(200),
            "/healthz after {:?} of hostility: {r:?}",
            started.elapsed()
        );
        polls += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let sessions = *served.lock().unwrap();
    let (_, status) = rt
        .run(Duration::from_secs(5), http_get(api, "/status"))
        .expect("/status");
    eprintln!(
        "/healthz 200 on all {polls} polls over 15 s (slowest {worst:?}); the hostile peer \
         served {sessions} sessions"
    );
    assert!(sessions >= 4, "the hostile peer was exercised: {sessions}");
    assert!(
        status.contains("NOTIFICATION"),
        "last_error shows the fight: {status}"
    );
}
