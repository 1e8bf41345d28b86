//! Tests of the Speaker handle and of whole sessions against a scripted peer on loopback
//! (raw bytes, so it can misbehave on purpose). Real routers: tests/bgp_frr.rs.

use super::*;
use crate::config::Peer;

fn node() -> Node {
    Node {
        router_id: "192.0.2.1".parse().unwrap(),
        asn: 65001,
    }
}

/// A peer nobody listens for (a closed loopback port): the session just retries. It offers
/// both families, so a session has an End-of-RIB for each.
fn peer(last_octet: u8) -> Peer {
    Peer {
        port: 9,
        hold_time: 9,
        families: crate::config::Families::BOTH,
        ..Peer::new(IpAddr::from([127, 0, 0, last_octet]), 65000)
    }
}

fn bgp(peers: Vec<Peer>) -> Bgp {
    Bgp {
        hold_time: 9,
        connect_retry: Duration::from_secs(1),
        ..Bgp::new(peers)
    }
}

fn task_ids(s: &Speaker) -> BTreeMap<IpAddr, tokio::task::Id> {
    let state = s.inner.lock();
    state.peers.iter().map(|(a, p)| (*a, p.task.id())).collect()
}

#[test]
fn the_speaker_handle_can_be_shared_between_tasks() {
    fn check<T: Send + Sync>() {}
    check::<Speaker>();
}

#[tokio::test]
async fn reconfigure_keeps_unchanged_sessions_and_replaces_changed_ones() {
    let s = Speaker::start(&node(), &bgp(vec![peer(1), peer(2)]));
    let before = task_ids(&s);
    assert_eq!(s.peer_status().len(), 2);

    let mut changed = peer(2);
    changed.hold_time = 30;
    s.reconfigure(&node(), &bgp(vec![peer(1), changed, peer(3)]));
    let after = task_ids(&s);
    let (a1, a2, a3) = (peer(1).address, peer(2).address, peer(3).address);
    assert_eq!(after[&a1], before[&a1], "unchanged peer keeps its session");
    assert_ne!(after[&a2], before[&a2], "changed peer gets a new session");
    assert!(after.contains_key(&a3));

    s.reconfigure(&node(), &bgp(vec![peer(3)]));
    assert_eq!(task_ids(&s).keys().collect::<Vec<_>>(), [&a3]);
    let status = s.peer_status();
    assert_eq!(status[0].address, "127.0.0.3");
    assert_eq!(status[0].asn, 65000);
    tokio::time::timeout(Duration::from_secs(10), s.shutdown())
        .await
        .expect("shutdown is bounded");
}

#[tokio::test]
async fn a_refused_connection_is_reported_in_last_error() {
    let s = Speaker::start(&node(), &bgp(vec![peer(1)]));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let st = s.peer_status();
        if let Some(e) = &st[0].last_error {
            assert!(e.starts_with("connect: "), "{e}");
            assert_ne!(st[0].state, crate::status::PeerState::Established);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no error reported");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.shutdown().await;
}

/// A scripted peer on loopback: it speaks raw bytes, so it can misbehave on purpose.
mod wire {
    use super::*;
    use crate::bgp::message::{frame, CodecContext, Message, Open, HEADER_LEN};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    pub struct ScriptedPeer {
        pub stream: TcpStream,
        buf: Vec<u8>,
    }

    pub const CTX: CodecContext = CodecContext {
        four_octet_as: true,
    };

    impl ScriptedPeer {
        /// Accepts the speaker's connection and completes the OPEN/KEEPALIVE exchange.
        pub async fn establish(listener: &TcpListener) -> ScriptedPeer {
            let (stream, _) = listener.accept().await.unwrap();
            let mut p = ScriptedPeer {
                stream,
                buf: Vec::new(),
            };
            assert!(matches!(p.next().await, Some(Message::Open(_))));
            let open = Open::ours(65000, 9, "10.0.0.9".parse().unwrap());
            p.send(&Message::Open(open).to_bytes(&CTX)).await;
            p.send(&Message::Keepalive.to_bytes(&CTX)).await;
            assert_eq!(p.next().await, Some(Message::Keepalive));
            p
        }

        pub async fn send(&mut self, bytes: &[u8]) {
            self.stream.write_all(bytes).await.unwrap();
        }

        /// The next message from the speaker; None when it closed the connection.
        pub async fn next(&mut self) -> Option<Message> {
            let read = async {
                loop {
                    if let Some((kind, len)) = frame(&self.buf).unwrap() {
                        let m = Message::decode(kind, &self.buf[HEADER_LEN..len], &CTX);
                        self.buf.drain(..len);
                        return Some(m.unwrap());
                    }
                    let mut chunk = [0u8; 4096];
                    match self.stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return None,
                        Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                    }
                }
            };
            tokio::time::timeout(Duration::from_secs(10), read)
                .await
                .expect("speaker answered")
        }

        /// Skips UPDATEs and KEEPALIVEs until a NOTIFICATION (or the end).
        pub async fn notification(&mut self) -> Option<crate::bgp::message::Notification> {
            loop {
                match self.next().await? {
                    Message::Notification(n) => return Some(n),
                    _ => continue,
                }
            }
        }
    }

    pub fn update(body: &[u8]) -> Vec<u8> {
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&((body.len() + 19) as u16).to_be_bytes());
        m.push(2);
        m.extend_from_slice(body);
        m
    }
}

async fn speaker_with_scripted_peer() -> (Speaker, tokio::net::TcpListener) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut p = peer(1);
    p.port = listener.local_addr().unwrap().port();
    (Speaker::start(&node(), &bgp(vec![p])), listener)
}

async fn wait_status(s: &Speaker, ok: impl Fn(&PeerStatus) -> bool) -> PeerStatus {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let st = s.peer_status().remove(0);
        if ok(&st) {
            return st;
        }
        assert!(tokio::time::Instant::now() < deadline, "last seen {st:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_malformed_nlri_gets_invalid_network_field_and_the_session_closes() {
    let (s, listener) = speaker_with_scripted_peer().await;
    let mut peer = wire::ScriptedPeer::establish(&listener).await;
    // NLRI with prefix length 40: the message cannot be parsed.
    peer.send(&wire::update(&[0, 0, 0, 0, 40, 10, 0, 0, 1, 0]))
        .await;
    let n = peer.notification().await.expect("a NOTIFICATION");
    assert_eq!((n.code, n.subcode), (3, 10));
    assert!(peer.next().await.is_none(), "connection closed");
    let st = wait_status(&s, |st| st.last_error.is_some()).await;
    assert_eq!(
        st.last_error.as_deref(),
        Some("sent NOTIFICATION UPDATE Message Error/Invalid Network Field")
    );
    s.shutdown().await;
}

#[tokio::test]
async fn a_bad_marker_gets_connection_not_synchronized() {
    let (s, listener) = speaker_with_scripted_peer().await;
    let mut peer = wire::ScriptedPeer::establish(&listener).await;
    let mut garbage = wire::update(&[0, 0, 0, 0]);
    garbage[0] = 0;
    peer.send(&garbage).await;
    let n = peer.notification().await.expect("a NOTIFICATION");
    assert_eq!((n.code, n.subcode), (1, 1));
    s.shutdown().await;
}

#[tokio::test]
async fn received_routes_are_counted_and_treat_as_withdraw_keeps_the_session() {
    let (s, listener) = speaker_with_scripted_peer().await;
    let mut peer = wire::ScriptedPeer::establish(&listener).await;
    #[rustfmt::skip]
    let announce = |origin: u8, last: u8| wire::update(&[
        0, 0, 0, 20,
        0x40, 1, 1, origin, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe8, 0x40, 3, 4, 127, 0, 0, 1,
        32, 192, 0, 2, last,
    ]);
    peer.send(&announce(0, 1)).await;
    peer.send(&announce(0, 2)).await;
    wait_status(&s, |st| st.routes_received == 2).await;
    // ORIGIN 7 is invalid: RFC 7606 treat-as-withdraw, no NOTIFICATION.
    peer.send(&announce(7, 2)).await;
    let st = wait_status(&s, |st| st.routes_received == 1).await;
    assert_eq!(st.state, crate::status::PeerState::Established);
    assert_eq!(st.updates_received, 3);
    // Withdraw the other one.
    peer.send(&wire::update(&[0, 5, 32, 192, 0, 2, 1, 0, 0]))
        .await;
    wait_status(&s, |st| st.routes_received == 0).await;
    s.shutdown().await;
    let n = peer.notification().await.expect("Cease on shutdown");
    assert_eq!((n.code, n.subcode), (6, 2));
}

#[tokio::test]
async fn routes_set_after_establishment_are_sent_at_once_and_withdrawn_at_once() {
    use crate::bgp::message::Message;
    let (s, listener) = speaker_with_scripted_peer().await;
    let mut peer = wire::ScriptedPeer::establish(&listener).await;
    // End-of-RIB for both families first (empty table).
    for _ in 0..2 {
        assert!(matches!(peer.next().await, Some(Message::Update(_))));
    }
    let vip: IpAddr = "10.100.0.1".parse().unwrap();
    s.set_routes(RouteSet::from([(vip, RouteAttrs::default())]));
    let Some(Message::Update(u)) = peer.next().await else {
        panic!("expected an UPDATE");
    };
    assert_eq!(u.nlri, [message::Prefix::host(vip)]);
    s.set_routes(RouteSet::new());
    let Some(Message::Update(u)) = peer.next().await else {
        panic!("expected an UPDATE");
    };
    assert_eq!(u.withdrawn, [message::Prefix::host(vip)]);
    s.shutdown().await;
}

#[tokio::test]
async fn set_routes_replaces_the_announced_set() {
    let s = Speaker::start(&node(), &bgp(vec![]));
    let mut routes = RouteSet::new();
    routes.insert("10.100.0.1".parse().unwrap(), RouteAttrs::default());
    s.set_routes(routes.clone());
    assert_eq!(*s.routes(), routes);
    s.shutdown().await;
}

#[tokio::test]
async fn a_password_the_kernel_cannot_take_refuses_that_peer_and_keeps_the_listener() {
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut bad = peer(2);
    bad.password = Some("x".repeat(81));
    let mut good = peer(3);
    good.passive = true;
    let mut cfg = bgp(vec![bad, good]);
    cfg.listen = Some(listen);
    let s = Speaker::start(&node(), &cfg);
    /// Connects to the listener from 127.0.0.`last`, retrying until it is bound.
    async fn connect_from(last: u8, listen: SocketAddr) -> tokio::net::TcpStream {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let sock = tokio::net::TcpSocket::new_v4().unwrap();
            sock.bind(SocketAddr::from(([127, 0, 0, last], 0))).unwrap();
            if let Ok(s) = sock.connect(listen).await {
                return s;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "listener never bound"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    use tokio::io::AsyncReadExt;
    // The peer whose key could not be installed: closed without a word, never run unsigned.
    let mut refused = connect_from(2, listen).await;
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), refused.read(&mut buf))
        .await
        .expect("closed in time");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    // The other peer still gets in: the speaker sends its OPEN.
    let mut other = connect_from(3, listen).await;
    let n = tokio::time::timeout(Duration::from_secs(5), other.read(&mut buf))
        .await
        .expect("an OPEN in time")
        .unwrap();
    assert!(n >= 19 && buf[18] == 1, "an OPEN: {:02x?}", &buf[..n]);
    // And the refused peer says why in its status (its own connects fail the same way).
    let st = s.peer_status();
    let e = st[0].last_error.clone().unwrap_or_default();
    assert!(e.contains("TCP MD5 key longer than 80 bytes"), "{st:?}");
    s.shutdown().await;
}
