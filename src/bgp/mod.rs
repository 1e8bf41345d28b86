//! The embedded BGP speaker.
//!
//! The daemon hands the speaker the complete set of host routes it wants announced
//! ([`RouteSet`]); every peer session diffs that against what it has sent (its Adj-RIB-Out)
//! and sends the minimal UPDATEs. Received routes are parsed, counted and dropped.

pub mod adj_rib_out;
pub mod fsm;
#[doc(hidden)]
pub mod fuzzing;
mod listener;
pub mod message;
mod session;
/// Opens a TCP connection to a peer exactly as its session does (source address, TCP MD5,
/// GTSM, the interface of a link-local peer): `anycastd doctor` probes peers with it.
pub(crate) use session::connect as connect_to_peer;
mod sockopt;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use message::NotifCode;
use session::{Command, Session, SessionConfig, Shared};

use crate::bfd::{self, Bfd};
use crate::config::{Bgp, Community, LargeCommunity, Node, Peer, Vip};
use crate::status::PeerStatus;

/// Path attributes of one announced VIP. The next hop is per session, so it is not here.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct RouteAttrs {
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
    pub med: Option<u32>,
    /// Sent to iBGP peers only.
    pub local_pref: Option<u32>,
    /// Extra copies of the local ASN (eBGP only).
    pub as_path_prepend: u8,
    /// Not a path attribute: the peers that get the route (the VIP's `peers`); empty: all.
    pub peers: Vec<IpAddr>,
}

impl From<&Vip> for RouteAttrs {
    fn from(v: &Vip) -> Self {
        RouteAttrs {
            communities: v.communities.clone(),
            large_communities: v.large_communities.clone(),
            med: v.med,
            local_pref: v.local_pref,
            as_path_prepend: v.as_path_prepend,
            peers: v.peers.clone(),
        }
    }
}

impl RouteAttrs {
    /// Makes the route less preferred, as a degraded VIP is announced (`degrade_*`): the MED
    /// replaced, the AS path prepended further, communities added.
    pub fn degrade(&mut self, how: &crate::config::Degrade) {
        if how.med.is_some() {
            self.med = how.med;
        }
        self.as_path_prepend = self.as_path_prepend.saturating_add(how.prepend);
        for c in &how.communities {
            if !self.communities.contains(c) {
                self.communities.push(*c);
            }
        }
    }

    /// Whether the session with `peer` carries the route.
    pub fn goes_to(&self, peer: IpAddr) -> bool {
        self.peers.is_empty() || self.peers.contains(&peer)
    }

    /// Adds GRACEFUL_SHUTDOWN (RFC 8326), as routes carry while they are drained, unless the
    /// VIP's communities have it already.
    pub fn add_graceful_shutdown(&mut self) {
        if !self.communities.contains(&Community::GRACEFUL_SHUTDOWN) {
            self.communities.push(Community::GRACEFUL_SHUTDOWN);
        }
    }

    /// Attributes with every kind set, for tests and documentation: community 65000:100,
    /// large community 65000:1:2, MED 10, LOCAL_PREF 200 (iBGP only) and two prepends of the
    /// local AS (eBGP only).
    #[doc(hidden)]
    pub fn example() -> RouteAttrs {
        RouteAttrs {
            communities: vec![Community((65000 << 16) | 100)],
            large_communities: vec![LargeCommunity {
                global: 65000,
                local1: 1,
                local2: 2,
            }],
            med: Some(10),
            local_pref: Some(200),
            as_path_prepend: 2,
            peers: Vec::new(),
        }
    }
}

/// Host routes (/32, /128) to announce, keyed by the VIP.
pub type RouteSet = BTreeMap<IpAddr, RouteAttrs>;

/// Handle to the running speaker: routes go to the sessions through a watch (each session diffs
/// the whole set against its Adj-RIB-Out), commands through one mpsc per session, inbound
/// connections from the listener as `Command::Inbound`, and peer status comes back through each
/// session's `Arc<Shared>` (docs/architecture.md, "Tasks and channels").
pub struct Speaker {
    inner: Inner,
}

struct Inner {
    routes: watch::Sender<Arc<RouteSet>>,
    /// BFD sessions of the peers that enable it; every BGP session watches its peer's.
    bfd: Bfd,
    /// Whether sessions may send their initial table and End-of-RIB (see `hold_initial_routes`).
    ready: watch::Sender<bool>,
    limits: Limits,
    /// The kernel held our VIPs at start-up (see `Speaker::start_with`).
    forwarding_preserved: bool,
    state: Mutex<SpeakerState>,
    directory: listener::Directory,
}

#[derive(Default)]
struct SpeakerState {
    peers: BTreeMap<IpAddr, PeerHandle>,
    /// Tasks of removed or replaced peers, still sending their Cease.
    retired: Vec<JoinHandle<()>>,
    listener: Option<ListenerHandle>,
}

/// The listener task, with what it was started from so that a change to the address or to
/// the MD5 keys it carries rebinds it, and a panic restarts it the same.
struct ListenerHandle {
    address: SocketAddr,
    keys: listener::ListenKeys,
    state: listener::State,
    task: JoinHandle<()>,
}

struct PeerHandle {
    config: SessionConfig,
    commands: mpsc::UnboundedSender<Command>,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

/// Protective limits of every session. [`Limits::default`] is what the daemon runs with;
/// tests shrink them with [`Speaker::start_with_limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Prefixes a peer may announce to us (we only count them). Beyond it: Cease/Maximum
    /// Number of Prefixes Reached (RFC 4486 subcode 1).
    pub max_received_prefixes: usize,
    /// How long a session closed for too many prefixes waits before reconnecting (at least;
    /// the usual backoff applies when it is longer).
    pub max_prefix_restart: Duration,
    /// How long a write may block when no hold time is negotiated (with one, the hold time).
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_received_prefixes: 1_000_000,
            max_prefix_restart: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// How long `shutdown` waits for sessions to send their Cease and close.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How long after closing the BGP sessions BFD AdminDown is sent when the daemon goes away:
/// time for the routers to process the TCP close (or our Cease) first, which reaches their
/// BGP directly, before the BFD state change, which comes through their BFD daemon.
pub const BFD_AFTER_CLOSE: Duration = Duration::from_millis(200);

impl Speaker {
    /// Starts one session task per configured peer (and the listener when `bgp.listen` is set).
    ///
    /// Must be called from within a tokio runtime: the sessions are spawned on it. The
    /// Graceful Restart F bit is clear in the first OPENs: see [`Speaker::start_with`].
    pub fn start(node: &Node, bgp: &Bgp) -> Speaker {
        Self::start_with(node, bgp, Limits::default(), false)
    }

    /// [`Speaker::start`] with other protective limits (tests use small ones).
    pub fn start_with_limits(node: &Node, bgp: &Bgp, limits: Limits) -> Speaker {
        Self::start_with(node, bgp, limits, false)
    }

    /// [`Speaker::start`] with other limits, saying whether the kernel still holds this
    /// daemon's VIPs from before it started (a restart, not a reboot). Only then do the first
    /// OPENs set the Graceful Restart F bit (RFC 4724 §3, forwarding state preserved), so a
    /// router keeps forwarding on our stale routes; without it, it drops them at once.
    pub fn start_with(
        node: &Node,
        bgp: &Bgp,
        limits: Limits,
        forwarding_preserved: bool,
    ) -> Speaker {
        let (routes, _) = watch::channel(Arc::new(RouteSet::new()));
        let (ready, _) = watch::channel(true);
        let speaker = Speaker {
            inner: Inner {
                routes,
                bfd: Bfd::start(),
                ready,
                limits,
                forwarding_preserved,
                state: Mutex::new(SpeakerState::default()),
                directory: Default::default(),
            },
        };
        speaker.reconfigure(node, bgp);
        speaker
    }

    /// Sessions that come up hold back their initial table and End-of-RIB until
    /// [`Speaker::release_initial_routes`]: after a restart, routers that kept our routes
    /// (graceful restart) keep them until we know which VIPs are healthy, instead of dropping
    /// them for the length of a check interval. Call right after `start`.
    pub fn hold_initial_routes(&self) {
        self.inner.ready.send_replace(false);
    }

    /// Lets sessions send their initial table and End-of-RIB (at once for those already up).
    pub fn release_initial_routes(&self) {
        self.inner.ready.send_replace(true);
    }

    /// Ends every session WITHOUT a NOTIFICATION (RFC 4724 restart): peers that negotiated
    /// graceful restart keep our routes, marked stale, until we come back or the restart time
    /// (each peer's `restart_time`) passes. For a planned restart of the daemon.
    ///
    /// BFD goes AdminDown only after the sessions are closed (see [`Speaker::bfd_goodbye`]):
    /// FRR's bgpd, for one, closes an established session with Cease/BFD Down on its peer's
    /// AdminDown as on any BFD failure, and a router that closes the session itself keeps no
    /// stale routes. Once the TCP close has started graceful restart at the router, the
    /// AdminDown only moves its BFD session to Down (so the new process's BFD starts cleanly),
    /// and the stale routes stay.
    pub async fn abandon(&self) {
        self.end_sessions(|| Command::Abandon).await;
        self.bfd_goodbye().await;
    }

    /// AdminDown to every BFD session, [`BFD_AFTER_CLOSE`] after the BGP sessions were closed,
    /// so that the router sees the TCP close (or our Cease) before the BFD state change (which
    /// reaches its BGP through its BFD daemon, a longer path).
    async fn bfd_goodbye(&self) {
        if self.inner.bfd.has_sessions() {
            tokio::time::sleep(BFD_AFTER_CLOSE).await;
            self.inner.bfd.admin_down().await;
        }
    }

    /// Replaces the set of routes to announce; sessions send the difference at once. Every
    /// session reads this one set (an `Arc`): nothing is copied per peer or per push.
    pub fn set_routes(&self, routes: impl Into<Arc<RouteSet>>) {
        self.inner.routes.send_replace(routes.into());
    }

    /// The route set most recently given to [`Speaker::set_routes`].
    pub fn routes(&self) -> Arc<RouteSet> {
        self.inner.routes.borrow().clone()
    }

    /// A snapshot of every peer's state and counters, ordered by peer address.
    pub fn peer_status(&self) -> Vec<PeerStatus> {
        let state = self.inner.lock();
        state
            .peers
            .iter()
            .map(|(addr, p)| PeerStatus {
                bfd: self.inner.bfd.status(addr),
                ..p.shared.snapshot()
            })
            .collect()
    }

    /// Received BFD packets dropped so far, by reason.
    pub fn bfd_discarded(&self) -> BTreeMap<String, u64> {
        self.inner.bfd.discarded()
    }

    /// Applies a reloaded config: adds and removes peers, resets only sessions whose settings changed.
    pub fn reconfigure(&self, node: &Node, bgp: &Bgp) {
        let mut state = self.inner.lock();
        let wanted: BTreeMap<IpAddr, SessionConfig> = bgp
            .peers
            .iter()
            .map(|p| {
                let cfg = SessionConfig {
                    // BFD settings live in the BFD task: changing them must not reset BGP.
                    peer: Peer {
                        bfd: None,
                        ..p.clone()
                    },
                    local_asn: node.asn,
                    router_id: node.router_id,
                    connect_retry: bgp.connect_retry,
                    limits: self.inner.limits,
                    forwarding_preserved: self.inner.forwarding_preserved,
                };
                (p.address, cfg)
            })
            .collect();

        let addresses: Vec<IpAddr> = bgp.peers.iter().map(|p| p.address).collect();
        let specs = bgp
            .peers
            .iter()
            .filter_map(|p| {
                Some(bfd::PeerSpec {
                    address: p.address,
                    interface: p.interface.clone(),
                    local_address: p.local_address,
                    settings: p.bfd?,
                })
            })
            .collect();
        self.inner.bfd.set_peers(&addresses, specs);

        let existing: Vec<IpAddr> = state.peers.keys().copied().collect();
        for addr in existing {
            let subcode = match wanted.get(&addr) {
                None => NotifCode::CEASE_PEER_DECONFIGURED,
                Some(cfg) if *cfg != state.peers[&addr].config => {
                    NotifCode::CEASE_OTHER_CONFIG_CHANGE
                }
                Some(_) => continue,
            };
            if let Some(old) = state.peers.remove(&addr) {
                tracing::info!(peer = %addr, "stopping session (configuration changed)");
                let _ = old.commands.send(Command::Stop {
                    cease_subcode: subcode,
                });
                state.retired.push(old.task);
            }
        }
        state.retired.retain(|t| !t.is_finished());

        self.inner
            .directory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        for (addr, cfg) in wanted {
            let handle = state.peers.entry(addr).or_insert_with(|| {
                let shared = Arc::new(Shared::new(&cfg.peer));
                self.spawn_session(cfg, shared)
            });
            self.publish(addr, handle);
        }

        let keys: listener::ListenKeys = bgp
            .peers
            .iter()
            .filter_map(|p| Some((p.address, p.password.clone()?)))
            .collect();
        let listen_changed =
            state.listener.as_ref().map(|l| (l.address, &l.keys)) != bgp.listen.map(|a| (a, &keys));
        if listen_changed {
            if let Some(old) = state.listener.take() {
                old.task.abort();
            }
            state.listener = bgp.listen.map(|address| self.spawn_listener(address, keys));
        }
        for p in state.peers.values() {
            if p.config.peer.passive && bgp.listen.is_none() {
                tracing::warn!(peer = %p.config.peer.address, "passive peer but bgp.listen is not set: the session can never come up");
            }
        }
    }

    fn spawn_listener(&self, address: SocketAddr, keys: listener::ListenKeys) -> ListenerHandle {
        let state = listener::State::new(std::sync::Mutex::new(crate::status::ListenerStatus {
            address: address.to_string(),
            ..Default::default()
        }));
        // task: bgp listener
        let task = tokio::spawn(listener::serve(
            address,
            keys.clone(),
            self.inner.directory.clone(),
            state.clone(),
        ));
        ListenerHandle {
            address,
            keys,
            state,
            task,
        }
    }

    /// The listener's status for `/status`, when `bgp.listen` is set.
    pub fn listener_status(&self) -> Option<crate::status::ListenerStatus> {
        let state = self.inner.lock();
        let l = state.listener.as_ref()?;
        let s = l.state.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Some(s)
    }

    fn spawn_session(&self, cfg: SessionConfig, shared: Arc<Shared>) -> PeerHandle {
        let (tx, rx) = mpsc::unbounded_channel();
        let addr = cfg.peer.address;
        let session = Session::new(
            cfg.clone(),
            shared.clone(),
            self.inner.routes.subscribe(),
            self.inner.ready.subscribe(),
            self.inner.bfd.subscribe(addr),
        );
        // task: bgp session
        let task = tokio::spawn(session.run(rx));
        PeerHandle {
            config: cfg,
            commands: tx,
            shared,
            task,
        }
    }

    /// Session tasks and the listener only end when told to (stop, abandon, a removed peer,
    /// a changed `bgp.listen`); one that ended while still configured has panicked. Each is
    /// started again (a session keeps its counters and reconnects as after any drop; the
    /// router sees the TCP connection close, so graceful restart keeps our routes meanwhile)
    /// and reported, by task name ("bgp-session 10.0.1.1", "bgp-listener"), with its panic.
    /// Call it periodically.
    pub fn supervise(&self) -> Vec<(String, String)> {
        let mut state = self.inner.lock();
        let ended: Vec<IpAddr> = state
            .peers
            .iter()
            .filter(|(_, p)| p.task.is_finished())
            .map(|(a, _)| *a)
            .collect();
        let mut restarted = Vec::new();
        for addr in ended {
            let Some(old) = state.peers.remove(&addr) else {
                continue;
            };
            let why = ended_because(old.task);
            old.shared
                .set_error(format!("session task panicked ({why}); restarted"));
            let handle = self.spawn_session(old.config, old.shared);
            self.publish(addr, &handle);
            state.peers.insert(addr, handle);
            restarted.push((format!("bgp-session {addr}"), why));
        }
        if let Some(old) = state.listener.take_if(|l| l.task.is_finished()) {
            let why = ended_because(old.task);
            state.listener = Some(self.spawn_listener(old.address, old.keys));
            restarted.push(("bgp-listener".to_string(), why));
        }
        restarted
    }

    /// Makes inbound connections from `addr` reach this session.
    fn publish(&self, addr: IpAddr, handle: &PeerHandle) {
        self.inner
            .directory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(addr, handle.commands.clone());
    }

    /// Whether the BFD task has ended (it only ends by panicking while the speaker lives).
    pub fn bfd_task_ended(&self) -> bool {
        self.inner.bfd.task_ended()
    }

    /// Sends a Cease NOTIFICATION on every session and waits for the tasks to end
    /// (at most [`SHUTDOWN_GRACE`]; stragglers are aborted).
    ///
    /// Order: pending withdrawals leave first, then the Cease, then every BFD session goes
    /// AdminDown. AdminDown before the Cease would make FRR close the session itself with
    /// Cease/BFD Down (it treats its peer's AdminDown as a BFD failure), so the router would
    /// log a BFD failure instead of our administrative shutdown.
    pub async fn shutdown(&self) {
        self.flush().await;
        self.end_sessions(|| Command::Stop {
            cease_subcode: NotifCode::CEASE_ADMIN_SHUTDOWN,
        })
        .await;
        self.bfd_goodbye().await;
    }

    /// Waits (at most 2 s) until every established session has sent what changed in the
    /// route set.
    async fn flush(&self) {
        let waits: Vec<_> = {
            let state = self.inner.lock();
            state
                .peers
                .values()
                .filter_map(|p| {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    p.commands.send(Command::Flush(tx)).ok().map(|()| rx)
                })
                .collect()
        };
        let _ =
            tokio::time::timeout(Duration::from_secs(2), futures::future::join_all(waits)).await;
    }

    /// Sends `command` to every session, stops the listener and waits (at most
    /// [`SHUTDOWN_GRACE`]) for the sessions to end; stragglers are aborted.
    async fn end_sessions(&self, command: impl Fn() -> Command) {
        let (tasks, listener) = {
            let mut state = self.inner.lock();
            let mut tasks = std::mem::take(&mut state.retired);
            for (_, p) in std::mem::take(&mut state.peers) {
                let _ = p.commands.send(command());
                tasks.push(p.task);
            }
            (tasks, state.listener.take())
        };
        self.inner
            .directory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        if let Some(l) = listener {
            l.task.abort();
        }
        let aborts: Vec<_> = tasks.iter().map(|t| t.abort_handle()).collect();
        if tokio::time::timeout(SHUTDOWN_GRACE, futures::future::join_all(tasks))
            .await
            .is_err()
        {
            tracing::warn!("BGP sessions did not close in time; aborting them");
            for a in aborts {
                a.abort();
            }
        }
    }
}

/// Why a task that ended did: its panic message, in words.
fn ended_because(task: JoinHandle<()>) -> String {
    use futures::FutureExt;
    match task.now_or_never() {
        Some(Err(e)) if e.is_panic() => crate::health::panic_text(e.into_panic()),
        Some(Err(e)) => e.to_string(),
        Some(Ok(())) | None => "ended".into(),
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, SpeakerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Without a shutdown, dropping the speaker still ends everything: the listener is
        // aborted and the sessions see their command channel close (and send Cease).
        let state = self.lock();
        if let Some(l) = &state.listener {
            l.task.abort();
        }
    }
}

#[cfg(test)]
mod speaker_tests;
