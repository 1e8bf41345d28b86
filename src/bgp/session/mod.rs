//! One BGP session: the I/O edge around the pure [`Fsm`] and [`AdjRibOut`].
//!
//! ```text
//!   Speaker ──Command::Stop──────────┐
//!   listener ──Command::Inbound(tcp)─┤ (mpsc, unbounded)
//!                                    ▼
//!   watch<Arc<RouteSet>> ───▶  session task (one per peer)  ───▶ Arc<Shared> (PeerStatus)
//!                              │  owns: Fsm, AdjRibOut, timers, the TCP connection
//!                              ▼
//!                     socket reads → frame → decode → Event → Fsm::handle → Actions → writes
//! ```
//!
//! Everything the peer sends goes through [`message::frame`] and [`Message::decode`], which
//! never panic; errors become FSM events and so NOTIFICATIONs.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn, Instrument};

mod collision;
mod next_hop;
mod policy;

use super::adj_rib_out::{AdjRibOut, ExportContext};
use super::fsm::{Action, DownReason, Event, Fsm, FsmConfig, Negotiated, Timer};
use super::message::{
    self, CodecContext, Message, NotifCode, Update, AFI_IPV4, AFI_IPV6, TYPE_OPEN, TYPE_UPDATE,
};
use super::sockopt;
use super::{Limits, RouteSet};
use crate::bfd;
use crate::config::Peer;
use crate::status::{PeerState, PeerStatus};
use collision::{read_pending, Pending};
use next_hop::export_context;
use policy::{Backoff, ReceivedPrefixes};

const READ_CHUNK: usize = 16 * 1024;
/// How long a racing inbound connection may take to send its OPEN.
const PENDING_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything that defines a session; a change to any of it resets the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionConfig {
    pub peer: Peer,
    pub local_asn: u32,
    pub router_id: Ipv4Addr,
    pub connect_retry: Duration,
    pub limits: Limits,
    /// See [`crate::bgp::fsm::FsmConfig::forwarding_preserved`].
    pub forwarding_preserved: bool,
}

#[derive(Debug)]
pub(crate) enum Command {
    /// Send Cease with this subcode (if connected) and end the task.
    Stop { cease_subcode: u8 },
    /// The listener accepted a connection from this peer.
    Inbound(TcpStream),
    /// Close the connection WITHOUT a NOTIFICATION and end the task: the peer sees a
    /// restarting speaker (RFC 4724) and keeps our routes, marked stale, for the restart time.
    Abandon,
    /// Send what changed in the route set now (before a shutdown), then answer.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// What the session publishes for `Speaker::peer_status`.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    inner: Mutex<SharedInner>,
}

#[derive(Debug, Default)]
struct SharedInner {
    status: PeerStatus,
    established_at: Option<Instant>,
}

impl Shared {
    pub(crate) fn new(peer: &Peer) -> Self {
        Shared {
            inner: Mutex::new(SharedInner {
                status: PeerStatus {
                    address: peer.display_address(),
                    asn: peer.asn,
                    ..PeerStatus::default()
                },
                established_at: None,
            }),
        }
    }

    pub(crate) fn snapshot(&self) -> PeerStatus {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut s = g.status.clone();
        s.uptime_seconds = g.established_at.map_or(0, |t| t.elapsed().as_secs());
        s
    }

    /// Sets `last_error` (the speaker's supervisor, after restarting a panicked session).
    pub(crate) fn set_error(&self, text: String) {
        self.update(|s| s.status.last_error = Some(text));
    }

    fn update(&self, f: impl FnOnce(&mut SharedInner)) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g);
    }
}

/// Opens the TCP connection to the peer, from `local_address` when set. The MD5 key and the
/// GTSM options are on the socket before the SYN leaves.
pub(crate) async fn connect(peer: Peer) -> io::Result<TcpStream> {
    let scope = scope_id(&peer)?;
    let remote = scoped(peer.address, peer.port, scope);
    let socket = match remote {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    secure_socket(&socket, remote.is_ipv6(), &peer)?;
    if let Some(local) = peer.local_address {
        socket.bind(scoped(local, 0, scope))?;
    }
    let stream = socket.connect(remote).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// The interface index of a link-local peer's `interface` (0 for other peers). Looked up at
/// every connect: the interface may appear, or be re-created, while the daemon runs.
fn scope_id(peer: &Peer) -> io::Result<u32> {
    match &peer.interface {
        None => Ok(0),
        Some(name) => nix::net::if_::if_nametoindex(name.as_str()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("interface {name} of link-local peer: {e}"),
            )
        }),
    }
}

/// A socket address, with the scope (interface index) for IPv6 link-local addresses: without
/// it, connect and bind fail with EINVAL.
fn scoped(ip: IpAddr, port: u16, scope: u32) -> SocketAddr {
    match ip {
        IpAddr::V6(a) if crate::config::is_link_local(&ip) => {
            SocketAddr::V6(std::net::SocketAddrV6::new(a, port, 0, scope))
        }
        ip => SocketAddr::new(ip, port),
    }
}

/// Per-socket protection for one peer, applied before connecting and to accepted sockets.
///
/// - TCP MD5 (RFC 2385) with the peer's `password`: every segment is signed and unsigned or
///   wrongly signed segments are dropped by the kernel. (The listening socket carries the keys
///   of every peer, see the listener, so accepted sockets inherit theirs.)
/// - GTSM (RFC 5082) with `ttl_security`: we send with TTL/hop limit 255 and the kernel drops
///   segments from the peer that arrive with less than 255, i.e. from more than one hop away.
///
/// `v6_socket`: the socket is AF_INET6 (an IPv4 peer on it is IPv4-mapped).
pub(crate) fn secure_socket<S: std::os::fd::AsFd>(
    socket: &S,
    v6_socket: bool,
    peer: &Peer,
) -> io::Result<()> {
    if let Some(password) = &peer.password {
        sockopt::set_tcp_md5(socket, v6_socket, peer.address, password.as_bytes())?;
    }
    secure_ttl(socket, v6_socket, peer)
}

/// An accepted socket: its MD5 key came with it from the listener (which verified the SYN);
/// GTSM is per peer, so it is set here.
pub(crate) fn secure_accepted(stream: &TcpStream, peer: &Peer) -> io::Result<()> {
    let v6_socket = stream.local_addr()?.is_ipv6();
    secure_ttl(stream, v6_socket, peer)
}

fn secure_ttl<S: std::os::fd::AsFd>(socket: &S, v6_socket: bool, peer: &Peer) -> io::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt as nixopt};
    if peer.ttl_security {
        let ttl = i32::from(sockopt::GTSM_TTL);
        let r = if v6_socket {
            setsockopt(socket, nixopt::Ipv6Ttl, &ttl).and_then(|()| match peer.address {
                // Mapped IPv4 traffic uses the IPv4 TTL.
                IpAddr::V4(_) => setsockopt(socket, nixopt::Ipv4Ttl, &ttl),
                IpAddr::V6(_) => Ok(()),
            })
        } else {
            setsockopt(socket, nixopt::Ipv4Ttl, &ttl)
        };
        r.map_err(io::Error::from)?;
        sockopt::set_min_ttl(socket, v6_socket, sockopt::GTSM_TTL)?;
    }
    Ok(())
}

struct Conn {
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    local: SocketAddr,
    /// True when we initiated it (matters for collision resolution).
    outbound: bool,
}

impl Conn {
    fn new(stream: TcpStream, outbound: bool) -> io::Result<Self> {
        let local = stream.local_addr()?;
        let (reader, writer) = stream.into_split();
        Ok(Conn {
            reader,
            writer,
            local,
            outbound,
        })
    }
}

type Connecting = Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send>>;

pub(crate) struct Session {
    cfg: SessionConfig,
    /// False until the daemon's first health results are in (see [`Session::established`]).
    ready: watch::Receiver<bool>,
    /// The initial table and End-of-RIB went out on the current session.
    initial_sent: bool,
    /// Address families of the current session: (IPv4, IPv6).
    negotiated_families: (bool, bool),
    fsm: Fsm,
    shared: Arc<Shared>,
    routes: watch::Receiver<Arc<RouteSet>>,
    /// The peer's BFD session (state `None` while BFD is off for the peer).
    bfd: watch::Receiver<bfd::Link>,
    /// BFD failures already acted on.
    bfd_failures: u64,
    /// False once the BFD side of the watch is gone.
    bfd_alive: bool,
    conn: Option<Conn>,
    connecting: Option<Connecting>,
    rbuf: Vec<u8>,
    chunk: Box<[u8]>,
    timers: [Option<Instant>; 3],
    /// When to start again after going down.
    restart_at: Option<Instant>,
    /// After a max-prefix Cease: until then, inbound connections are refused too.
    penalty_until: Option<Instant>,
    backoff: Backoff,
    /// An inbound connection racing the current one (RFC 4271 §6.8), until its OPEN arrives.
    pending: Option<Pending>,
    codec: CodecContext,
    export: Option<ExportContext>,
    rib: AdjRibOut,
    received: ReceivedPrefixes,
    stopped: bool,
}

fn timer_index(t: Timer) -> usize {
    match t {
        Timer::ConnectRetry => 0,
        Timer::Hold => 1,
        Timer::Keepalive => 2,
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn read_opt(conn: &mut Option<Conn>, chunk: &mut [u8]) -> io::Result<usize> {
    match conn {
        Some(c) => c.reader.read(chunk).await,
        None => std::future::pending().await,
    }
}

async fn connect_opt(c: &mut Option<Connecting>) -> io::Result<TcpStream> {
    match c {
        Some(f) => f.as_mut().await,
        None => std::future::pending().await,
    }
}

impl Session {
    pub(crate) fn new(
        cfg: SessionConfig,
        shared: Arc<Shared>,
        routes: watch::Receiver<Arc<RouteSet>>,
        ready: watch::Receiver<bool>,
        bfd: watch::Receiver<bfd::Link>,
    ) -> Self {
        let fsm = Fsm::new(fsm_config(&cfg));
        let bfd_failures = bfd.borrow().failures;
        Session {
            ready,
            initial_sent: false,
            negotiated_families: (false, false),
            backoff: Backoff::new(cfg.connect_retry),
            cfg,
            fsm,
            shared,
            routes,
            bfd,
            bfd_failures,
            bfd_alive: true,
            conn: None,
            connecting: None,
            rbuf: Vec::new(),
            chunk: vec![0u8; READ_CHUNK].into_boxed_slice(),
            timers: [None; 3],
            restart_at: None,
            penalty_until: None,
            pending: None,
            codec: CodecContext::default(),
            export: None,
            rib: AdjRibOut::default(),
            received: ReceivedPrefixes::default(),
            stopped: false,
        }
    }

    /// Runs until stopped (or the command channel closes).
    pub(crate) async fn run(self, cmds: mpsc::UnboundedReceiver<Command>) {
        let span = tracing::info_span!("bgp", peer = %self.cfg.peer.address);
        self.run_inner(cmds).instrument(span).await
    }

    async fn run_inner(mut self, mut cmds: mpsc::UnboundedReceiver<Command>) {
        self.event(self.start_event()).await;
        while !self.stopped {
            let established = self.fsm.state() == PeerState::Established;
            let pending_deadline = self.pending.as_ref().map(|p| p.deadline);
            tokio::select! {
                cmd = cmds.recv() => match cmd {
                    Some(Command::Inbound(stream)) => self.inbound(stream).await,
                    Some(Command::Flush(done)) => {
                        if established && self.initial_sent && self.routes.has_changed().unwrap_or(false) {
                            self.send_diff().await;
                        }
                        let _ = done.send(());
                    }
                    Some(Command::Abandon) => {
                        info!("closing without NOTIFICATION: graceful restart");
                        self.conn = None;
                        self.pending = None;
                        self.stopped = true;
                    }
                    Some(Command::Stop { cease_subcode }) => {
                        // Withdrawals queued just before the stop leave before the Cease, so
                        // routers drop our routes at once even if they keep the session state.
                        if established && self.initial_sent && self.routes.has_changed().unwrap_or(false) {
                            self.send_diff().await;
                        }
                        self.event(Event::ManualStop { cease_subcode }).await;
                        self.stopped = true;
                    }
                    None => {
                        self.event(Event::ManualStop {
                            cease_subcode: NotifCode::CEASE_ADMIN_SHUTDOWN,
                        })
                        .await;
                        self.stopped = true;
                    }
                },
                res = connect_opt(&mut self.connecting) => {
                    self.connecting = None;
                    match res.and_then(|s| Conn::new(s, true)) {
                        Ok(conn) => {
                            debug!(local = %conn.local, "connected");
                            self.conn = Some(conn);
                            self.event(Event::TcpCrAcked).await;
                        }
                        Err(e) => {
                            debug!(error = %e, "connect failed");
                            self.set_error(format!("connect: {e}"));
                            // The retry timer this starts uses the current backoff; the next
                            // failure waits longer (policy::Backoff).
                            self.event(Event::TcpConnectionFails).await;
                            self.backoff.failed();
                        }
                    }
                }
                res = read_opt(&mut self.conn, &mut self.chunk) => match res {
                    Ok(0) | Err(_) => {
                        debug!("connection closed");
                        self.event(Event::TcpConnectionFails).await;
                    }
                    Ok(n) => {
                        self.rbuf.extend_from_slice(&self.chunk[..n]);
                        self.process_input().await;
                    }
                },
                res = read_pending(&mut self.pending) => match res {
                    Ok(0) | Err(_) => self.pending = None,
                    Ok(n) => {
                        if let Some(p) = self.pending.as_mut() {
                            p.rbuf.extend_from_slice(&p.chunk[..n]);
                        }
                        self.process_pending().await;
                    }
                },
                _ = sleep_opt(pending_deadline) => {
                    debug!("racing inbound connection sent no OPEN in time: closed");
                    self.pending = None;
                }
                changed = self.bfd.changed(), if self.bfd_alive => {
                    if changed.is_err() {
                        // The BFD task is gone (speaker dropped): nothing more to watch.
                        self.bfd_alive = false;
                        continue;
                    }
                    let failures = self.bfd.borrow_and_update().failures;
                    if failures > self.bfd_failures {
                        self.bfd_failures = failures;
                        if self.conn.is_some() {
                            warn!("BFD declared the peer down: closing the session");
                        }
                        self.event(Event::BfdDown).await;
                    }
                }
                _ = sleep_opt(self.timers[0]) => {
                    self.timers[0] = None;
                    self.event(Event::ConnectRetryTimerExpires).await;
                }
                _ = sleep_opt(self.timers[1]) => {
                    self.timers[1] = None;
                    self.event(Event::HoldTimerExpires).await;
                }
                _ = sleep_opt(self.timers[2]) => {
                    self.timers[2] = None;
                    self.event(Event::KeepaliveTimerExpires).await;
                }
                _ = sleep_opt(self.restart_at) => {
                    self.restart_at = None;
                    self.event(self.start_event()).await;
                }
                ready = self.ready.changed(), if established && !self.initial_sent => {
                    // A dropped sender (speaker gone) counts as ready: nothing to wait for.
                    if ready.is_err() || *self.ready.borrow() {
                        if let Some(ev) = self.send_initial().await {
                            self.event(ev).await;
                        }
                    }
                }
                changed = self.routes.changed(), if established && self.initial_sent => {
                    if changed.is_ok() {
                        self.send_diff().await;
                    } else {
                        // The speaker is gone: behave as if told to stop.
                        self.event(Event::ManualStop {
                            cease_subcode: NotifCode::CEASE_ADMIN_SHUTDOWN,
                        })
                        .await;
                        self.stopped = true;
                    }
                }
            }
        }
        self.shared.update(|s| {
            s.status.state = PeerState::Idle;
            s.established_at = None;
        });
    }

    fn start_event(&self) -> Event {
        if self.cfg.peer.passive {
            Event::ManualStartPassive
        } else {
            Event::ManualStart
        }
    }

    /// Feeds one event (and any that its actions cause) through the FSM.
    async fn event(&mut self, event: Event) {
        let mut queue = VecDeque::from([event]);
        while let Some(ev) = queue.pop_front() {
            for action in self.fsm.handle(ev) {
                if let Some(follow) = self.execute(action).await {
                    queue.push_back(follow);
                }
            }
        }
        let state = self.fsm.state();
        let (sent, received) = (self.rib.len() as u64, self.received.len() as u64);
        let hold = self.fsm.negotiated().map_or(0, |n| n.hold_time);
        self.shared.update(|s| {
            s.status.state = state;
            s.status.routes_sent = sent;
            s.status.routes_received = received;
            s.status.hold_time = hold;
        });
    }

    async fn execute(&mut self, action: Action) -> Option<Event> {
        match action {
            Action::Connect => {
                self.connecting = Some(Box::pin(connect(self.cfg.peer.clone())));
                None
            }
            Action::DropConnection => {
                self.conn = None;
                self.connecting = None;
                self.rbuf.clear();
                None
            }
            Action::SendOpen(open) => self.send(&Message::Open(open)).await,
            Action::SendKeepalive => self.send(&Message::Keepalive).await,
            Action::SendNotification(n) => {
                // Our own administrative Cease (stop, reload, collision) is routine; anything
                // else means the peer or the session misbehaved.
                let routine = n.code == NotifCode::CEASE
                    && [
                        NotifCode::CEASE_ADMIN_SHUTDOWN,
                        NotifCode::CEASE_PEER_DECONFIGURED,
                        NotifCode::CEASE_OTHER_CONFIG_CHANGE,
                        NotifCode::CEASE_CONNECTION_COLLISION,
                    ]
                    .contains(&n.subcode);
                if routine {
                    info!(notification = %n, "sending NOTIFICATION");
                } else {
                    warn!(notification = %n, "sending NOTIFICATION");
                }
                self.send(&Message::Notification(n)).await
            }
            Action::StartTimer(t, d) => {
                let d = if t == Timer::ConnectRetry {
                    jitter(self.backoff.current())
                } else {
                    d
                };
                self.timers[timer_index(t)] = Some(Instant::now() + d);
                None
            }
            Action::StopTimer(t) => {
                self.timers[timer_index(t)] = None;
                None
            }
            Action::SessionEstablished(n) => self.established(n).await,
            Action::SessionDown(reason) => {
                self.down(reason);
                None
            }
            Action::Resend(families) => {
                self.rib.forget(families);
                let routes = self.routes.borrow_and_update().clone();
                self.send_routes(&routes).await
            }
        }
    }

    async fn send(&mut self, msg: &Message) -> Option<Event> {
        self.conn.as_ref()?;
        let bytes = msg.to_bytes(&self.codec);
        self.write(bytes).await
    }

    /// Writes go straight to the socket: what we hold in memory is at most one batch (the
    /// current diff, bounded by the route set) plus the kernel's socket buffer. A peer that
    /// stops reading fills the socket buffer and the write blocks; it gets [`Self::write_timeout`]
    /// before the session is dropped.
    async fn write(&mut self, bytes: Vec<u8>) -> Option<Event> {
        let timeout = self.write_timeout();
        let conn = self.conn.as_mut()?;
        match tokio::time::timeout(timeout, conn.writer.write_all(&bytes)).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => {
                debug!(error = %e, "write failed");
                Some(Event::TcpConnectionFails)
            }
            Err(_) => {
                warn!(timeout = ?timeout, pending = bytes.len(), "write timed out: the peer stopped reading");
                Some(Event::WriteTimedOut)
            }
        }
    }

    /// A write blocked for the negotiated hold time means none of our KEEPALIVEs reached the
    /// peer for that long, so its hold timer has expired anyway: the session is dead. Without
    /// a negotiated hold time, [`Limits::write_timeout`].
    fn write_timeout(&self) -> Duration {
        match self.fsm.negotiated() {
            Some(n) if n.hold_time > 0 => Duration::from_secs(n.hold_time.into()),
            _ => self.cfg.limits.write_timeout,
        }
    }

    async fn established(&mut self, n: Negotiated) -> Option<Event> {
        let local = self.conn.as_ref()?.local;
        self.codec = n.codec();
        let export = export_context(&self.cfg, &n, local.ip());
        let carries = export.carries();
        info!(
            peer_id = %n.peer_id, hold_time = n.hold_time, families = %carries,
            extended_next_hop = n.extended_next_hop, "session established"
        );
        if n.ipv4 && !carries.ipv4 {
            info!("IPv4 was negotiated without extended next hop (RFC 8950) and no next_hop is set: IPv4 VIPs are not sent on this session");
        }
        if n.ipv6 && !carries.ipv6 {
            info!("IPv6 was negotiated but this session has no IPv6 next hop (set next_hop6): IPv6 VIPs are not sent on it");
        }
        self.export = Some(export);
        self.backoff.established();
        crate::fault::inject("bgp-session");
        self.shared.update(|s| {
            s.established_at = Some(Instant::now());
            s.status.last_error = None;
            s.status.families = carries.names().into_iter().map(String::from).collect();
            s.status.extended_next_hop = n.extended_next_hop;
        });
        self.rib.clear();
        self.initial_sent = false;
        self.negotiated_families = (n.ipv4, n.ipv6);
        if !*self.ready.borrow() {
            // RFC 4724 §4.1: End-of-RIB only once our routing information is complete, i.e.
            // after the first health results; until then a router that kept our routes through
            // our restart keeps them (stale) instead of dropping them for a moment.
            info!("waiting for the first health results before the initial announcement");
            return None;
        }
        self.send_initial().await
    }

    /// The initial table, then End-of-RIB for each negotiated family.
    async fn send_initial(&mut self) -> Option<Event> {
        self.initial_sent = true;
        let routes = self.routes.borrow_and_update().clone();
        if let Some(ev) = self.send_routes(&routes).await {
            return Some(ev);
        }
        let sent = self.rib.len() as u64;
        self.shared.update(|s| s.status.routes_sent = sent);
        let (ipv4, ipv6) = self.negotiated_families;
        for (afi, on) in [(AFI_IPV4, ipv4), (AFI_IPV6, ipv6)] {
            if on {
                if let Some(ev) = self.send_update(Update::end_of_rib(afi)).await {
                    return Some(ev);
                }
            }
        }
        None
    }

    /// Sends what changed in the route set since the last diff.
    async fn send_diff(&mut self) {
        let routes = self.routes.borrow_and_update().clone();
        if let Some(ev) = self.send_routes(&routes).await {
            self.event(ev).await;
        }
        let sent = self.rib.len() as u64;
        self.shared.update(|s| s.status.routes_sent = sent);
    }

    async fn send_routes(&mut self, routes: &RouteSet) -> Option<Event> {
        let export = self.export.as_ref()?;
        let updates = self.rib.diff(routes, export);
        for (vip, len) in self.rib.oversized() {
            warn!(%vip, update_bytes = len, "not announced: its path attributes do not fit in a 4096-byte UPDATE");
        }
        if updates.is_empty() {
            return None;
        }
        debug!(
            updates = updates.len(),
            announced = self.rib.len(),
            "sending routes"
        );
        // One write for the whole batch: 50k VIPs are ~60 UPDATEs, a few hundred KB.
        let n = updates.len() as u64;
        let mut bytes = Vec::with_capacity(updates.len() * message::MAX_MESSAGE_LEN);
        for u in updates {
            Message::Update(u).encode(&self.codec, &mut bytes);
        }
        self.shared.update(|s| s.status.updates_sent += n);
        self.write(bytes).await
    }

    async fn send_update(&mut self, u: Update) -> Option<Event> {
        self.shared.update(|s| s.status.updates_sent += 1);
        self.send(&Message::Update(u)).await
    }

    fn down(&mut self, reason: DownReason) {
        let was_established = self.export.is_some();
        self.export = None;
        self.codec = CodecContext::default();
        self.rib.clear();
        self.received.clear();
        self.conn = None;
        self.connecting = None;
        self.rbuf.clear();
        self.timers = [None; 3];
        if reason == DownReason::Stopped {
            info!("session stopped");
        } else {
            if was_established {
                warn!(reason = %reason, "session down");
            } else {
                debug!(reason = %reason, "session attempt failed");
            }
            self.set_error(reason.to_string());
        }
        if let Some(r) =
            policy::restart_after(&reason, jitter(self.backoff.current()), &self.cfg.limits)
        {
            self.restart_at = Some(Instant::now() + r.wait);
            if r.refuse_inbound {
                self.penalty_until = self.restart_at;
            }
            self.backoff.failed();
        }
        self.shared.update(|s| {
            s.established_at = None;
            s.status.families.clear();
            s.status.extended_next_hop = false;
        });
    }

    fn set_error(&self, text: String) {
        self.shared.update(|s| s.status.last_error = Some(text));
    }

    /// Frames, decodes and feeds every complete message in the read buffer.
    async fn process_input(&mut self) {
        while self.conn.is_some() {
            let (kind, len) = match message::frame(&self.rbuf) {
                Ok(Some(f)) => f,
                Ok(None) => return,
                Err(e) => {
                    warn!(error = %e, "bad message header");
                    self.event(Event::BgpHeaderErr(e)).await;
                    return;
                }
            };
            let decoded = Message::decode(kind, &self.rbuf[message::HEADER_LEN..len], &self.codec);
            self.rbuf.drain(..len);
            let event = match decoded {
                Ok(Message::Open(o)) => Event::BgpOpen(o),
                Ok(Message::Update(u)) => {
                    self.shared.update(|s| s.status.updates_received += 1);
                    let over = if self.fsm.state() == PeerState::Established {
                        self.count_received(&u)
                    } else {
                        None
                    };
                    over.unwrap_or(Event::UpdateMsg)
                }
                Ok(Message::Notification(n)) => Event::NotifMsg(n),
                Ok(Message::Keepalive) => Event::KeepAliveMsg,
                Ok(Message::RouteRefresh(rr)) => Event::RouteRefreshMsg(rr),
                Err(e) => {
                    warn!(error = %e, "malformed message");
                    match kind {
                        TYPE_OPEN => Event::BgpOpenMsgErr(e),
                        TYPE_UPDATE => Event::UpdateMsgErr(e),
                        _ => Event::BgpHeaderErr(e),
                    }
                }
            };
            self.event(event).await;
        }
    }

    /// Counts the prefixes the peer announces (policy::ReceivedPrefixes); beyond
    /// [`Limits::max_received_prefixes`] the FSM closes the session with Cease/Maximum Number
    /// of Prefixes Reached (RFC 4486), retried after [`Limits::max_prefix_restart`].
    fn count_received(&mut self, u: &Update) -> Option<Event> {
        if let Some(why) = u.treat_as_withdraw {
            debug!(reason = why, "UPDATE treated as withdraw (RFC 7606)");
        }
        let limit = self.cfg.limits.max_received_prefixes;
        let over = self.received.apply(u, limit);
        if over.is_some() {
            warn!(limit, "peer exceeded the maximum number of prefixes");
        }
        over
    }
}

fn fsm_config(cfg: &SessionConfig) -> FsmConfig {
    FsmConfig {
        local_asn: cfg.local_asn,
        router_id: cfg.router_id,
        peer_asn: cfg.peer.asn,
        hold_time: cfg.peer.hold_time,
        connect_retry: cfg.connect_retry,
        passive: cfg.peer.passive,
        graceful_restart: cfg.peer.graceful_restart,
        forwarding_preserved: cfg.forwarding_preserved,
        families: cfg.peer.families,
        extended_next_hop: cfg.peer.extended_next_hop,
    }
}

/// RFC 4271 §10: timers are jittered to 75–100% of their value.
fn jitter(d: Duration) -> Duration {
    d.mul_f64(rand::random_range(0.75..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_between_75_and_100_percent() {
        for _ in 0..100 {
            let j = jitter(Duration::from_secs(4));
            assert!(j >= Duration::from_secs(3) && j <= Duration::from_secs(4));
        }
    }
}
