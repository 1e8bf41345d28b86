//! BFD (RFC 5880, asynchronous mode) in-process, for the BGP peers that enable it: a dead or
//! frozen node leaves the routers' ECMP set within the detection time instead of the BGP hold
//! time.
//!
//! ```text
//!   Speaker::reconfigure ──set_peers──▶ Bfd (this handle) ──Command (mpsc)──▶ bfd task
//!                                        │ watch<Link> per peer                │ owns every
//!   BGP session task ◀── Link.failures ──┘                                     │ session::Session
//!   (closes the BGP session with Cease/BFD Down, RFC 9384)                     │ (pure FSM)
//!                                                                              ▼
//!          UDP 3784 (single hop, RFC 5881: TTL 255 sent and required) / 4784 (multihop, RFC 5883)
//! ```
//!
//! - [`packet`]: the Control packet codec and the §6.8.6 checks (pure).
//! - [`session`]: the state machine and timers of one session (pure; time is an argument).
//! - this module: the sockets, the demultiplexer (Your Discriminator, else the source
//!   address), the timer loop, and what BGP and `/status` see.
//!
//! Fate sharing: the BFD sessions run in the daemon's own process, so the C bit is 0 and a
//! frozen daemon is a node failure for the routers (a killed one has its TCP connections
//! closed by the kernel first, so graceful restart applies). A planned restart (SIGUSR2) and a
//! shutdown send AdminDown after the BGP sessions closed (see `Speaker::abandon`).

pub mod fuzzing;
pub mod packet;
pub mod session;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use crate::config::{self, is_link_local};
use crate::status::BfdStatus;
use packet::{Discard, Packet, State};
use session::{Session, Timers};

/// RFC 5881 §4: single-hop Control packets go to this port.
pub const PORT_SINGLE_HOP: u16 = 3784;
/// RFC 5883 §5: multihop.
pub const PORT_MULTIHOP: u16 = 4784;
/// RFC 5881 §4: source ports come from this range.
const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;
/// RFC 5881 §5: sent with, and on single hop required to arrive with, TTL / hop limit 255.
const TTL: u8 = 255;
/// How many copies of an AdminDown packet a shutdown sends (UDP may lose one).
const ADMIN_DOWN_COPIES: usize = 3;

/// What a BGP session sees of its peer's BFD session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Link {
    /// `None` while BFD is off for the peer.
    pub state: Option<State>,
    /// Up → Down transitions that mean the path failed (not the peer's AdminDown); a BGP
    /// session closes when this grows while it is up.
    pub failures: u64,
}

/// One peer's BFD session as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpec {
    pub address: IpAddr,
    pub interface: Option<String>,
    pub local_address: Option<IpAddr>,
    pub settings: config::Bfd,
}

enum Command {
    Set(Vec<PeerSpec>),
    AdminDown(oneshot::Sender<()>),
}

/// Per-peer state shared between the task, the BGP sessions and `/status`.
#[derive(Default)]
struct Shared {
    links: HashMap<IpAddr, watch::Sender<Link>>,
    status: HashMap<IpAddr, BfdStatus>,
    discarded: BTreeMap<&'static str, u64>,
}

/// The handle: cheap to clone, owned by the BGP speaker.
#[derive(Clone)]
pub struct Bfd {
    commands: mpsc::UnboundedSender<Command>,
    shared: Arc<Mutex<Shared>>,
    /// To see whether the task is still running (dropping the JoinHandle only detaches it).
    task: tokio::task::AbortHandle,
}

impl Bfd {
    /// Starts the BFD task (it binds nothing until a peer enables BFD). Must be called inside
    /// a tokio runtime.
    pub fn start() -> Bfd {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Mutex::new(Shared::default()));
        // task: bfd
        let task = tokio::spawn(Task::new(shared.clone()).run(rx)).abort_handle();
        Bfd {
            commands: tx,
            shared,
            task,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The peers (`addresses`: every BGP peer) and the BFD sessions they want. Every peer
    /// gets a [`Link`] to watch, also while BFD is off for it, so turning BFD on or off by a
    /// reload does not reset the BGP session.
    pub fn set_peers(&self, addresses: &[IpAddr], specs: Vec<PeerSpec>) {
        {
            let mut shared = self.lock();
            shared.links.retain(|a, _| addresses.contains(a));
            for a in addresses {
                shared
                    .links
                    .entry(*a)
                    .or_insert_with(|| watch::channel(Link::default()).0);
            }
            shared
                .status
                .retain(|a, _| specs.iter().any(|s| s.address == *a));
        }
        let _ = self.commands.send(Command::Set(specs));
    }

    /// The BFD state of `peer`'s session for its BGP session to watch.
    pub fn subscribe(&self, peer: IpAddr) -> watch::Receiver<Link> {
        let mut shared = self.lock();
        shared
            .links
            .entry(peer)
            .or_insert_with(|| watch::channel(Link::default()).0)
            .subscribe()
    }

    /// `/status` for `peer`: `None` when BFD is off for it.
    pub fn status(&self, peer: &IpAddr) -> Option<BfdStatus> {
        self.lock().status.get(peer).cloned()
    }

    /// Received packets dropped so far, by reason (§6.8.6 and the demultiplexer).
    pub fn discarded(&self) -> BTreeMap<String, u64> {
        self.lock()
            .discarded
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect()
    }

    /// Whether any BFD session is configured.
    /// Whether the task has ended: while this handle lives that is only by a panic (the
    /// daemon then exits, see `daemon::runtime`).
    pub fn task_ended(&self) -> bool {
        self.task.is_finished()
    }

    pub fn has_sessions(&self) -> bool {
        !self.lock().status.is_empty()
    }

    /// Puts every session in AdminDown and sends it (when the daemon goes away: a shutdown or
    /// a planned restart, after the BGP sessions were closed). Returns once sent.
    pub async fn admin_down(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::AdminDown(tx)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(1), rx).await;
        }
    }
}

/// One live session: the FSM, its transmit socket and where it sends.
struct Live {
    spec: PeerSpec,
    fsm: Session,
    tx: Option<UdpSocket>,
    target: SocketAddr,
    /// The last error opening or using the transmit socket, for the log.
    error: Option<String>,
}

/// The receiving sockets, bound while some session needs them.
#[derive(Default)]
struct Receivers {
    single4: Option<UdpSocket>,
    single6: Option<UdpSocket>,
    multi4: Option<UdpSocket>,
    multi6: Option<UdpSocket>,
}

struct Task {
    shared: Arc<Mutex<Shared>>,
    sessions: BTreeMap<IpAddr, Live>,
    rx: Receivers,
}

fn jitter() -> f64 {
    rand::random_range(0.0..1.0)
}

impl Task {
    fn new(shared: Arc<Mutex<Shared>>) -> Task {
        Task {
            shared,
            sessions: BTreeMap::new(),
            rx: Receivers::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        loop {
            let deadline = self
                .sessions
                .values()
                .filter_map(|s| s.fsm.next_deadline())
                .min();
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    None => return,
                    Some(Command::Set(specs)) => self.set(specs).await,
                    Some(Command::AdminDown(done)) => {
                        self.admin_down_all().await;
                        let _ = done.send(());
                    }
                },
                r = recv_opt(self.rx.single4.as_ref()) => self.received(r, false),
                r = recv_opt(self.rx.single6.as_ref()) => self.received(r, false),
                r = recv_opt(self.rx.multi4.as_ref()) => self.received(r, true),
                r = recv_opt(self.rx.multi6.as_ref()) => self.received(r, true),
                _ = sleep_opt(deadline) => {
                    self.read_queued();
                    self.on_time().await;
                }
            }
        }
    }

    /// Processes the datagrams already waiting on the receive sockets. Called before the timers
    /// are judged: after the daemon was not scheduled for a while (a loaded machine, a
    /// descheduled VM, SIGSTOP), the timers have expired and the peer's packets sit in the
    /// socket buffer; judging the timers first would declare a live peer down. Bounded, so
    /// that a flood cannot hold back the timers (and with them our own transmissions).
    fn read_queued(&mut self) {
        const MAX: usize = 1024;
        let mut queued = Vec::new();
        let mut buf = [0u8; 256];
        let rx = &self.rx;
        for (socket, multihop) in [
            (&rx.single4, false),
            (&rx.single6, false),
            (&rx.multi4, true),
            (&rx.multi6, true),
        ] {
            let Some(socket) = socket else { continue };
            while queued.len() < MAX {
                match recv_with_ttl(socket, &mut buf) {
                    Ok(d) => queued.push((d, multihop)),
                    Err(_) => break,
                }
            }
        }
        for (d, multihop) in queued {
            self.received(Ok(d), multihop);
        }
    }

    /// Applies a new set of sessions: new ones start Down; removed ones are told AdminDown
    /// first; changed timers go through a Poll Sequence on the live session.
    async fn set(&mut self, specs: Vec<PeerSpec>) {
        let now = Instant::now();
        let wanted: BTreeMap<IpAddr, PeerSpec> =
            specs.into_iter().map(|s| (s.address, s)).collect();
        let gone: Vec<IpAddr> = self
            .sessions
            .iter()
            .filter(|(a, live)| {
                wanted.get(a).is_none_or(|w| {
                    w.settings.multihop != live.spec.settings.multihop
                        || w.interface != live.spec.interface
                        || w.local_address != live.spec.local_address
                })
            })
            .map(|(a, _)| *a)
            .collect();
        for addr in gone {
            if let Some(mut live) = self.sessions.remove(&addr) {
                let step = live.fsm.admin_down(now, jitter());
                send_all(&mut live, &step.send, ADMIN_DOWN_COPIES).await;
                info!(peer = %addr, "BFD session removed");
                self.publish(addr, None);
            }
        }
        for (addr, spec) in wanted {
            if let Some(live) = self.sessions.get_mut(&addr) {
                if live.spec.settings != spec.settings {
                    live.fsm.set_timers(timers(&spec.settings), now);
                    live.spec = spec;
                }
                continue;
            }
            let fsm = Session::new(self.new_discriminator(), timers(&spec.settings), now);
            let mut live = Live {
                target: target(&spec),
                tx: None,
                error: None,
                fsm,
                spec,
            };
            open_tx(&mut live);
            info!(peer = %addr, discriminator = live.fsm.local_discriminator(), "BFD session started");
            self.sessions.insert(addr, live);
            self.publish(addr, None);
        }
        self.bind_receivers();
    }

    /// A non-zero discriminator no other session uses.
    fn new_discriminator(&self) -> u32 {
        loop {
            let d: u32 = rand::random();
            if d != 0
                && self
                    .sessions
                    .values()
                    .all(|s| s.fsm.local_discriminator() != d)
            {
                return d;
            }
        }
    }

    /// Binds (or drops) the receiving sockets the sessions need.
    fn bind_receivers(&mut self) {
        let need = |multihop: bool, v6: bool| {
            self.sessions
                .values()
                .any(|s| s.spec.settings.multihop == multihop && s.spec.address.is_ipv6() == v6)
        };
        let needs = [
            need(false, false),
            need(false, true),
            need(true, false),
            need(true, true),
        ];
        let slots = [
            (&mut self.rx.single4, false, false),
            (&mut self.rx.single6, false, true),
            (&mut self.rx.multi4, true, false),
            (&mut self.rx.multi6, true, true),
        ];
        for ((slot, multihop, v6), needed) in slots.into_iter().zip(needs) {
            if !needed {
                *slot = None;
            } else if slot.is_none() {
                match bind_receiver(multihop, v6) {
                    Ok(s) => *slot = Some(s),
                    Err(e) => {
                        let port = if multihop {
                            PORT_MULTIHOP
                        } else {
                            PORT_SINGLE_HOP
                        };
                        warn!(port, ipv6 = v6, error = %e, "cannot listen for BFD; its sessions stay down");
                    }
                }
            }
        }
    }

    /// One datagram from a receiving socket: decode, check, demultiplex, run the FSM.
    fn received(&mut self, r: io::Result<Datagram>, multihop: bool) {
        let d = match r {
            Ok(d) => d,
            Err(e) => {
                debug!(error = %e, "BFD receive failed");
                return;
            }
        };
        match self.accept(&d, multihop) {
            Ok(()) => {}
            Err(why) => {
                debug!(from = %d.from, reason = %why, "BFD packet discarded");
                *self.lock().discarded.entry(why.as_str()).or_default() += 1;
            }
        }
    }

    fn accept(&mut self, d: &Datagram, multihop: bool) -> Result<(), Discard> {
        // RFC 5881 §5: a single-hop packet must come from a neighbour (TTL still 255).
        if !multihop && d.ttl.is_some_and(|t| t != u32::from(TTL)) {
            return Err(Discard::BadTtl);
        }
        let p = Packet::decode(&d.bytes)?;
        let from = unmapped(d.from.ip());
        let addr = if p.your_discriminator != 0 {
            self.sessions
                .iter()
                .find(|(_, s)| s.fsm.local_discriminator() == p.your_discriminator)
                .map(|(a, _)| *a)
                .filter(|a| *a == from)
                .ok_or(Discard::UnknownDiscriminator)?
        } else {
            from
        };
        let live = self.sessions.get_mut(&addr).ok_or(Discard::UnknownPeer)?;
        if live.spec.settings.multihop != multihop {
            return Err(Discard::UnknownPeer);
        }
        let step = live.fsm.receive(&p, Instant::now(), jitter());
        for out in &step.send {
            send_now(live, out);
        }
        self.publish(addr, step.transition);
        Ok(())
    }

    async fn on_time(&mut self) {
        let now = Instant::now();
        let mut transitions = Vec::new();
        for (addr, live) in self.sessions.iter_mut() {
            if live.fsm.next_deadline().is_some_and(|t| t <= now) {
                let step = live.fsm.on_time(now, jitter());
                if live.tx.is_none() {
                    open_tx(live);
                }
                for p in &step.send {
                    send_now(live, p);
                }
                if step.transition.is_some() {
                    transitions.push((*addr, step.transition));
                }
            }
        }
        for (addr, t) in transitions {
            self.publish(addr, t);
        }
    }

    async fn admin_down_all(&mut self) {
        let now = Instant::now();
        let addrs: Vec<IpAddr> = self.sessions.keys().copied().collect();
        for addr in addrs {
            let Some(live) = self.sessions.get_mut(&addr) else {
                continue;
            };
            let step = live.fsm.admin_down(now, jitter());
            let packets = if step.send.is_empty() {
                vec![live.fsm.packet(false)]
            } else {
                step.send
            };
            send_all(live, &packets, ADMIN_DOWN_COPIES).await;
            self.publish(addr, step.transition);
        }
    }

    /// Writes the session's state for `/status` and its BGP session; logs transitions.
    fn publish(&mut self, addr: IpAddr, t: Option<session::Transition>) {
        let live = self.sessions.get(&addr);
        if let (Some(t), Some(live)) = (t, live) {
            if t.to == State::Up {
                crate::fault::inject("bfd");
            }
            let detect_ms = live.fsm.detect_time().as_millis();
            if t.is_failure() {
                warn!(peer = %addr, from = %t.from, to = %t.to, diag = %t.diag, detect_ms, "BFD session down");
            } else {
                info!(peer = %addr, from = %t.from, to = %t.to, diag = %t.diag, "BFD session state");
            }
        }
        let mut shared = self.lock();
        let status = live.map(|l| BfdStatus {
            state: l.fsm.state().as_str().to_string(),
            local_discriminator: l.fsm.local_discriminator(),
            remote_discriminator: l.fsm.remote_discriminator(),
            detect_time_ms: u64::try_from(l.fsm.detect_time().as_millis()).unwrap_or(u64::MAX),
            last_diag: l.fsm.local_diag().as_str().to_string(),
            transitions: l.fsm.transitions(),
            error: l.error.clone(),
        });
        match status {
            Some(s) => {
                shared.status.insert(addr, s);
            }
            None => {
                shared.status.remove(&addr);
            }
        }
        if let Some(link) = shared.links.get(&addr) {
            let state = live.map(|l| l.fsm.state());
            let failed = t.is_some_and(|t| t.is_failure());
            link.send_if_modified(|l| {
                let changed = l.state != state || failed;
                l.state = state;
                if failed {
                    l.failures += 1;
                }
                changed
            });
        }
    }
}

fn timers(s: &config::Bfd) -> Timers {
    Timers {
        desired_min_tx: s.min_tx,
        required_min_rx: s.min_rx,
        detect_mult: s.multiplier,
    }
}

/// IPv4-mapped IPv6 addresses as IPv4, as peers are configured.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn scope_id(spec: &PeerSpec) -> u32 {
    spec.interface
        .as_deref()
        .and_then(|i| nix::net::if_::if_nametoindex(i).ok())
        .unwrap_or(0)
}

fn target(spec: &PeerSpec) -> SocketAddr {
    let port = if spec.settings.multihop {
        PORT_MULTIHOP
    } else {
        PORT_SINGLE_HOP
    };
    match spec.address {
        IpAddr::V6(a) if is_link_local(&spec.address) => {
            SocketAddr::V6(SocketAddrV6::new(a, port, 0, scope_id(spec)))
        }
        ip => SocketAddr::new(ip, port),
    }
}

/// The session's transmit socket: bound to `local_address` (or any) with a source port from
/// 49152–65535, TTL / hop limit 255, connected to the peer.
fn open_tx(live: &mut Live) {
    live.target = target(&live.spec);
    match tx_socket(&live.spec, live.target) {
        Ok(s) => {
            live.tx = Some(s);
            live.error = None;
        }
        Err(e) => {
            let text = format!("cannot open the BFD socket: {e}");
            if live.error.as_deref() != Some(&text) {
                warn!(peer = %live.spec.address, error = %e, "cannot open the BFD socket; retrying");
            }
            live.error = Some(text);
        }
    }
}

fn tx_socket(spec: &PeerSpec, target: SocketAddr) -> io::Result<UdpSocket> {
    use nix::sys::socket::{setsockopt, sockopt};
    let v6 = target.is_ipv6();
    let local_ip = spec.local_address.unwrap_or(if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    });
    let scope = match target {
        SocketAddr::V6(t) if is_link_local(&local_ip) => t.scope_id(),
        _ => 0,
    };
    let mut last = io::Error::new(io::ErrorKind::AddrInUse, "no free source port");
    for _ in 0..64 {
        let port = rand::random_range(SOURCE_PORTS);
        let local = match local_ip {
            IpAddr::V6(a) => SocketAddr::V6(SocketAddrV6::new(a, port, 0, scope)),
            ip => SocketAddr::new(ip, port),
        };
        let std = match std::net::UdpSocket::bind(local) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                last = e;
                continue;
            }
            Err(e) => return Err(e),
        };
        let ttl = i32::from(TTL);
        if v6 {
            setsockopt(&std, sockopt::Ipv6Ttl, &ttl)?;
        } else {
            setsockopt(&std, sockopt::Ipv4Ttl, &ttl)?;
        }
        std.connect(target)?;
        std.set_nonblocking(true)?;
        return UdpSocket::from_std(std);
    }
    Err(last)
}

/// A receiving socket on the BFD port of its kind, reporting each datagram's TTL.
fn bind_receiver(multihop: bool, v6: bool) -> io::Result<UdpSocket> {
    use nix::sys::socket::{setsockopt, sockopt};
    let port = if multihop {
        PORT_MULTIHOP
    } else {
        PORT_SINGLE_HOP
    };
    let socket = if v6 {
        socket2_v6()?.bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port))?
    } else {
        std::net::UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port))?
    };
    if v6 {
        setsockopt(&socket, sockopt::Ipv6RecvHopLimit, &true)?;
    } else {
        setsockopt(&socket, sockopt::Ipv4RecvTtl, &true)?;
    }
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket)
}

/// An IPv6-only UDP socket, not yet bound (so IPv4 goes to the IPv4 socket).
fn socket2_v6() -> io::Result<UnboundV6> {
    use nix::sys::socket::{setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType};
    let fd = socket(
        AddressFamily::Inet6,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
    Ok(UnboundV6(fd))
}

/// A fresh IPv6 UDP socket that still needs `bind`.
struct UnboundV6(std::os::fd::OwnedFd);

impl UnboundV6 {
    fn bind(self, addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
        let SocketAddr::V6(a) = addr else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not IPv6"));
        };
        nix::sys::socket::bind(self.0.as_raw_fd(), &nix::sys::socket::SockaddrIn6::from(a))?;
        Ok(std::net::UdpSocket::from(self.0))
    }
}

/// A datagram's bytes, source and TTL / hop limit.
struct Datagram {
    bytes: Vec<u8>,
    from: SocketAddr,
    ttl: Option<u32>,
}

async fn recv_opt(socket: Option<&UdpSocket>) -> io::Result<Datagram> {
    let Some(socket) = socket else {
        return std::future::pending().await;
    };
    // Control packets are 24 bytes (more with authentication); anything longer than this is
    // cut and then fails the length check.
    let mut buf = [0u8; 256];
    socket
        .async_io(tokio::io::Interest::READABLE, || {
            recv_with_ttl(socket, &mut buf)
        })
        .await
}

fn recv_with_ttl(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<Datagram> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrStorage};
    let mut iov = [io::IoSliceMut::new(buf)];
    let mut cmsg = nix::cmsg_space!(libc::c_int);
    let msg = recvmsg::<SockaddrStorage>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(io::Error::from)?;
    let ttl = msg.cmsgs().ok().and_then(|mut c| {
        c.find_map(|m| match m {
            ControlMessageOwned::Ipv4Ttl(t) => u32::try_from(t).ok(),
            ControlMessageOwned::Ipv6HopLimit(t) => u32::try_from(t).ok(),
            _ => None,
        })
    });
    let from = msg
        .address
        .and_then(|a: SockaddrStorage| {
            if let Some(v4) = a.as_sockaddr_in() {
                Some(SocketAddr::from(std::net::SocketAddrV4::from(*v4)))
            } else {
                a.as_sockaddr_in6()
                    .map(|v6| SocketAddr::from(SocketAddrV6::from(*v6)))
            }
        })
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no source address"))?;
    let len = msg.bytes;
    Ok(Datagram {
        bytes: buf[..len].to_vec(),
        from,
        ttl,
    })
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Sends at once without waiting: a full socket buffer drops the packet (the next one
/// follows within an interval), it never stalls the other sessions.
fn send_now(live: &mut Live, p: &Packet) {
    let Some(tx) = &live.tx else {
        return;
    };
    if let Err(e) = tx.try_send(&p.encode()) {
        // ECONNREFUSED (the peer's ICMP port unreachable) and friends: the peer is not
        // listening yet; detection handles a dead path.
        debug!(peer = %live.spec.address, error = %e, "BFD send failed");
    }
}

/// Sends each packet `copies` times (AdminDown before going away).
async fn send_all(live: &mut Live, packets: &[Packet], copies: usize) {
    for p in packets {
        for _ in 0..copies {
            send_now(live, p);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}
