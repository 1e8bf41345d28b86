//! Inbound connections and connection collisions (RFC 4271 §6.8).
//!
//! An inbound connection is taken at once when the session has no connection and no attempt
//! in flight. Otherwise it races ours: it gets its own FSM and our OPEN (so the peer, running
//! the same rule, can decide too), and when the peer's OPEN arrives the BGP identifiers decide
//! which connection survives; the loser gets Cease/Connection Collision Resolution. Holding
//! the inbound connection without sending OPEN would deadlock two speakers that both wait.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::debug;

use super::policy::{resolve_collision, Collision};
use super::{fsm_config, secure_accepted, timer_index, Conn, Session, PENDING_TIMEOUT};
use crate::bgp::fsm::{Action, Event, Fsm, Timer, LARGE_HOLD_TIME};
use crate::bgp::message::{self, CodecContext, Message, NotifCode, Notification};
use crate::status::PeerState;

impl Session {
    /// A connection from the peer arrived through the listener.
    pub(super) async fn inbound(&mut self, stream: TcpStream) {
        match self.fsm.state() {
            // Still serving a max-prefix penalty (RFC 4486 Connection Rejected).
            PeerState::Idle if self.penalty_until.is_some_and(|t| Instant::now() < t) => {
                debug!("inbound connection during the max-prefix restart delay: rejected");
                let mut stream = stream;
                refuse(&mut stream, NotifCode::CEASE_CONNECTION_REJECTED).await;
            }
            // No connection and no attempt in flight: take it.
            PeerState::Idle | PeerState::Active => {
                self.restart_at = None;
                self.adopt_inbound(stream).await;
            }
            // RFC 4271 §6.8: a collision with an established session keeps the session.
            PeerState::Established => {
                debug!("inbound connection while established: closed (collision)");
                let mut stream = stream;
                refuse(&mut stream, NotifCode::CEASE_CONNECTION_COLLISION).await;
            }
            // Our own connection is in flight or exchanging OPENs: run the inbound one up to
            // the peer's OPEN. Then, if ours is still not up (Connect), the peer's is taken;
            // otherwise the BGP identifiers decide which connection survives.
            PeerState::Connect | PeerState::OpenSent | PeerState::OpenConfirm => {
                self.start_pending(stream).await;
            }
        }
    }

    async fn adopt_inbound(&mut self, stream: TcpStream) {
        if let Err(e) = secure_accepted(&stream, &self.cfg.peer) {
            debug!(error = %e, "cannot secure inbound connection");
            return;
        }
        match Conn::new(stream, false) {
            Ok(conn) => {
                debug!(local = %conn.local, "accepted inbound connection");
                if self.fsm.state() == PeerState::Idle {
                    self.event(Event::ManualStartPassive).await;
                }
                self.conn = Some(conn);
                self.event(Event::TcpConnectionConfirmed).await;
            }
            Err(e) => debug!(error = %e, "inbound connection unusable"),
        }
    }

    /// Starts a second FSM on a racing inbound connection: it sends our OPEN (so the peer can
    /// resolve the collision on its side too) and waits for the peer's.
    async fn start_pending(&mut self, stream: TcpStream) {
        if secure_accepted(&stream, &self.cfg.peer).is_err() {
            return;
        }
        let Ok(mut conn) = Conn::new(stream, false) else {
            return;
        };
        debug!("inbound connection races ours: sending OPEN on both");
        // The session's own config, not a passive one: when this connection wins, its FSM
        // becomes the session's, and after the next drop it must dial out like any other.
        let mut fsm = Fsm::new(fsm_config(&self.cfg)).with_restarting(self.fsm.restarting());
        fsm.handle(Event::ManualStartPassive);
        for action in fsm.handle(Event::TcpConnectionConfirmed) {
            if let Action::SendOpen(open) = action {
                let bytes = Message::Open(open).to_bytes(&CodecContext::default());
                let write = conn.writer.write_all(&bytes);
                let limit = self.cfg.limits.write_timeout;
                if !matches!(tokio::time::timeout(limit, write).await, Ok(Ok(()))) {
                    return;
                }
            }
        }
        self.pending = Some(Pending {
            conn,
            fsm,
            rbuf: Vec::new(),
            chunk: vec![0u8; message::MAX_MESSAGE_LEN].into_boxed_slice(),
            deadline: Instant::now() + PENDING_TIMEOUT,
        });
    }

    /// Waits for the first message on the racing connection: only an OPEN is acceptable.
    pub(super) async fn process_pending(&mut self) {
        let Some(p) = self.pending.as_mut() else {
            return;
        };
        let (kind, len) = match message::frame(&p.rbuf) {
            Ok(Some(f)) => f,
            Ok(None) => return,
            Err(_) => {
                self.pending = None;
                return;
            }
        };
        let decoded = Message::decode(
            kind,
            &p.rbuf[message::HEADER_LEN..len],
            &CodecContext::default(),
        );
        p.rbuf.drain(..len);
        match decoded {
            Ok(Message::Open(open)) => self.collide(open).await,
            _ => {
                debug!("racing inbound connection did not start with an OPEN: closed");
                self.pending = None;
            }
        }
    }

    /// RFC 4271 §6.8: of two connections to one peer, one survives (policy::resolve_collision).
    async fn collide(&mut self, open: message::Open) {
        let Some(mut p) = self.pending.take() else {
            return;
        };
        let outcome = resolve_collision(
            self.fsm.state(),
            self.conn.as_ref().is_some_and(|c| c.outbound),
            (self.cfg.router_id, self.cfg.local_asn),
            (open.bgp_id, open.asn()),
        );
        if outcome == Collision::KeepCurrent {
            debug!("connection collision: keeping our connection, closing the peer's");
            refuse(&mut p.conn.writer, NotifCode::CEASE_CONNECTION_COLLISION).await;
            return;
        }
        debug!("connection collision: keeping the peer's connection");
        if self.conn.is_some() {
            let cease = Notification::cease(NotifCode::CEASE_CONNECTION_COLLISION);
            let _ = self.send(&Message::Notification(cease)).await;
        }
        self.connecting = None;
        self.restart_at = None;
        self.timers = [None; 3];
        self.fsm = p.fsm;
        self.conn = Some(p.conn);
        self.rbuf = p.rbuf;
        self.timers[timer_index(Timer::Hold)] = Some(Instant::now() + LARGE_HOLD_TIME);
        self.event(Event::BgpOpen(open)).await;
        // The peer may have sent more (its KEEPALIVE) right behind the OPEN.
        self.process_input().await;
    }
}

/// A racing inbound connection with its own FSM, before collision resolution.
pub(super) struct Pending {
    conn: Conn,
    fsm: Fsm,
    pub(super) rbuf: Vec<u8>,
    pub(super) chunk: Box<[u8]>,
    pub(super) deadline: Instant,
}

pub(super) async fn read_pending(p: &mut Option<Pending>) -> io::Result<usize> {
    match p {
        Some(p) => p.conn.reader.read(&mut p.chunk).await,
        None => std::future::pending().await,
    }
}

/// Tells the peer why a connection is closed (a Cease), giving the write at most a second:
/// the connection is dropped right after either way.
async fn refuse<W: AsyncWrite + Unpin>(w: &mut W, cease_subcode: u8) {
    let cease = Notification::cease(cease_subcode);
    let bytes = Message::Notification(cease).to_bytes(&CodecContext::default());
    let _ = tokio::time::timeout(Duration::from_secs(1), w.write_all(&bytes)).await;
}
