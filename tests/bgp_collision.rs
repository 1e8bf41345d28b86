//! Connection collisions (RFC 4271 §6.8, RFC 6286 §2.3) and inbound connections while our own
//! connect is in flight (§8.2.2), against a scripted peer on loopback: it dials the speaker's
//! listener and accepts the speaker's connections at the moments that make each case happen.
//!
//! ```text
//!   Speaker (AS 65001, 192.0.2.1) listening on 127.0.0.1:<q>
//!        │  dials 127.0.0.2:<p>  ───────────────►  scripted peer (AS 65000)
//!        ◄──────────────── dials 127.0.0.1:<q> from 127.0.0.2
//! ```

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use anycastd::bgp::message::{frame, CodecContext, Message, Open, HEADER_LEN};
use anycastd::bgp::Speaker;
use anycastd::config::{Bgp, Node, Peer};
use anycastd::status::PeerState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const CTX: CodecContext = CodecContext {
    four_octet_as: true,
};
const WAIT: Duration = Duration::from_secs(15);
const NODE_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const NODE_ASN: u32 = 65001;
const PEER_ASN: u32 = 65000;

/// One TCP connection between the scripted peer and the speaker.
struct Wire {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Wire {
    /// Accepts the speaker's next outbound connection.
    async fn accept(listener: &TcpListener) -> Wire {
        let (stream, _) = tokio::time::timeout(WAIT, listener.accept())
            .await
            .expect("the speaker dials the peer")
            .unwrap();
        Wire::new(stream)
    }

    /// Dials the speaker's listener from the peer's address.
    async fn dial(from: IpAddr, to: SocketAddr) -> Wire {
        let sock = TcpSocket::new_v4().unwrap();
        sock.bind(SocketAddr::new(from, 0)).unwrap();
        Wire::new(sock.connect(to).await.expect("the speaker's listener"))
    }

    fn new(stream: TcpStream) -> Wire {
        Wire {
            stream,
            buf: Vec::new(),
        }
    }

    /// The next message within [`WAIT`], or None when the connection closed.
    async fn next(&mut self) -> Option<Message> {
        let read = async {
            loop {
                if let Some((kind, len)) = frame(&self.buf).expect("valid framing") {
                    let m = Message::decode(kind, &self.buf[HEADER_LEN..len], &CTX)
                        .expect("valid messages");
                    self.buf.drain(..len);
                    return Some(m);
                }
                let mut chunk = [0u8; 4096];
                match self.stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                }
            }
        };
        tokio::time::timeout(WAIT, read)
            .await
            .expect("a message in time")
    }

    async fn expect_open(&mut self) {
        match self.next().await {
            Some(Message::Open(_)) => {}
            m => panic!("expected the speaker's OPEN, got {m:?}"),
        }
    }

    async fn expect_keepalive(&mut self) {
        match self.next().await {
            Some(Message::Keepalive) => {}
            m => panic!("expected KEEPALIVE, got {m:?}"),
        }
    }

    async fn expect_collision_cease(&mut self) {
        match self.next().await {
            Some(Message::Notification(n)) => assert_eq!(
                (n.code, n.subcode),
                (6, 7),
                "Cease/Connection Collision Resolution expected, got {n}"
            ),
            m => panic!("expected a NOTIFICATION, got {m:?}"),
        }
        assert!(self.next().await.is_none(), "closed after the Cease");
    }

    /// Sends the peer's OPEN (with `id`) and a KEEPALIVE.
    async fn open_with(&mut self, id: Ipv4Addr) {
        let mut bytes = Message::Open(Open::ours(PEER_ASN, 9, id)).to_bytes(&CTX);
        bytes.extend(Message::Keepalive.to_bytes(&CTX));
        self.stream.write_all(&bytes).await.unwrap();
    }
}

struct Setup {
    speaker: Speaker,
    /// Where the speaker dials the peer.
    peer: TcpListener,
    /// The speaker's own listener.
    listen: SocketAddr,
}

impl Setup {
    fn peer_ip(&self) -> IpAddr {
        self.peer.local_addr().unwrap().ip()
    }

    async fn wait_state(&self, what: &str, want: PeerState) {
        let deadline = Instant::now() + WAIT;
        loop {
            let st = self.speaker.peer_status().remove(0);
            if st.state == want {
                return;
            }
            assert!(Instant::now() < deadline, "timed out: {what}: {st:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A speaker with one active peer at `peer` (a listener the test controls) and its own
/// listener, bound before this returns, so the peer can dial it too.
async fn start(peer: TcpListener) -> Setup {
    let addr = peer.local_addr().unwrap();
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let peer_config = Peer {
        port: addr.port(),
        hold_time: 9,
        ..Peer::new(addr.ip(), PEER_ASN)
    };
    let bgp = Bgp {
        hold_time: 9,
        connect_retry: Duration::from_millis(300),
        listen: Some(listen),
        ..Bgp::new(vec![peer_config])
    };
    let node = Node {
        router_id: NODE_ID,
        asn: NODE_ASN,
    };
    let speaker = Speaker::start(&node, &bgp);
    // The listener binds in its own task: dialling before it has would be refused.
    let deadline = Instant::now() + WAIT;
    while !speaker.listener_status().is_some_and(|l| l.listening) {
        assert!(
            Instant::now() < deadline,
            "the speaker's listener never bound"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Setup {
        speaker,
        peer,
        listen,
    }
}

/// A speaker and a peer on 127.0.0.2 with two connections at once, neither with the peer's
/// OPEN yet: the speaker's to the peer (`ours`) and the peer's to the speaker (`theirs`), each
/// with the speaker's OPEN received.
async fn colliding() -> (Setup, Wire, Wire) {
    let s = start(TcpListener::bind("127.0.0.2:0").await.unwrap()).await;
    let mut ours = Wire::accept(&s.peer).await;
    ours.expect_open().await;
    let mut theirs = Wire::dial(s.peer_ip(), s.listen).await;
    theirs.expect_open().await;
    (s, ours, theirs)
}

/// The speaker's connection is in OpenSent when the peer's arrives; the peer's identifier is
/// higher, so the peer's connection wins. Then the router restarts (both connections gone, and
/// it does not dial): the speaker, an active peer, must dial out again. The FSM that won the
/// collision used to be built passive, so the node then waited for the router forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_peer_wins_a_collision_the_node_still_dials_out_when_the_session_drops() {
    support::init_tracing();
    let (s, mut ours, mut theirs) = colliding().await;
    theirs.open_with(Ipv4Addr::new(198, 51, 100, 9)).await;
    ours.expect_collision_cease().await;
    theirs.expect_keepalive().await;
    s.wait_state(
        "established on the peer's connection",
        PeerState::Established,
    )
    .await;

    // The router restarts and only listens.
    drop(theirs);
    let mut again = Wire::accept(&s.peer).await;
    again.expect_open().await;
    s.speaker.shutdown().await;
}

/// Our identifier is higher, but our connect never completes (the peer's accept queue is full,
/// so the kernel drops our SYNs): the peer's connection, which has sent its OPEN, is taken
/// (RFC 4271 §8.2.2) instead of being refused as a collision our connection would win.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_connect_an_inbound_connection_is_taken_even_when_our_identifier_is_higher() {
    support::init_tracing();
    // A listener with backlog 0 that never accepts: one connection fills its queue, and the
    // kernel drops every SYN after that.
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let peer = sock.listen(0).unwrap();
    let filler = TcpStream::connect(peer.local_addr().unwrap())
        .await
        .unwrap();
    let s = start(peer).await;
    s.wait_state("dialling, the SYNs unanswered", PeerState::Connect)
        .await;

    let mut theirs = Wire::dial(s.peer_ip(), s.listen).await;
    theirs.expect_open().await;
    theirs.open_with(Ipv4Addr::new(10, 0, 0, 9)).await;
    theirs.expect_keepalive().await;
    s.wait_state(
        "established on the peer's connection",
        PeerState::Established,
    )
    .await;
    drop(filler);
    s.speaker.shutdown().await;
}

/// Equal BGP identifiers (legal between ASes): the connection of the speaker with the larger
/// AS number survives (RFC 6286 §2.3). The node's AS 65001 is larger, so its own connection
/// stays and the peer's gets Cease/Connection Collision Resolution.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equal_identifiers_keep_the_connection_of_the_larger_as() {
    support::init_tracing();
    let (s, mut ours, mut theirs) = colliding().await;
    theirs.open_with(NODE_ID).await;
    theirs.expect_collision_cease().await;

    ours.open_with(NODE_ID).await;
    ours.expect_keepalive().await;
    s.wait_state(
        "established on the node's connection",
        PeerState::Established,
    )
    .await;
    s.speaker.shutdown().await;
}
