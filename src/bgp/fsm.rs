//! The BGP finite state machine of RFC 4271 §8, pure: [`Fsm::handle`] takes an [`Event`] and
//! returns the [`Action`]s the session must carry out. No sockets, no clocks, no tokio: the
//! session task (`session/mod.rs`) turns I/O and timers into events and actions into I/O.
//!
//! Simplifications, all allowed by RFC 4271 §8: no DelayOpen, no IdleHoldTimer inside the FSM
//! (the session applies its backoff before the next ManualStart), and every failure after a
//! connection exists leads to Idle with [`Action::SessionDown`], so the session restarts it.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use super::message::{
    CodecContext, DecodeError, NotifCode, Notification, Open, RouteRefresh, AFI_IPV4, AFI_IPV6,
    AS_TRANS, SAFI_UNICAST,
};
use crate::config::Families;
use crate::status::PeerState;

/// Hold time used in OpenSent before the peer's OPEN arrives (RFC 4271 §8.2.2 suggests 4 min).
pub const LARGE_HOLD_TIME: Duration = Duration::from_secs(240);

/// What the FSM needs to know from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsmConfig {
    pub local_asn: u32,
    pub router_id: Ipv4Addr,
    pub peer_asn: u32,
    /// Proposed hold time: 0, or 3..=65535.
    pub hold_time: u16,
    pub connect_retry: Duration,
    /// Never initiate connections; only accept (Event 4's "passive TCP establishment").
    pub passive: bool,
    /// Advertise Graceful Restart (RFC 4724) with this restart time, in seconds.
    pub graceful_restart: Option<u16>,
    /// The kernel held this daemon's VIPs when the process started (it restarted without
    /// losing them): the first OPENs set the Graceful Restart F bit. After a reboot it is
    /// false, and the router must drop our stale routes at once rather than forward on them.
    pub forwarding_preserved: bool,
    /// Families offered (multiprotocol capabilities, RFC 4760).
    pub families: Families,
    /// Offer IPv4 routes with IPv6 next hops (RFC 8950).
    pub extended_next_hop: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    ConnectRetry,
    Hold,
    Keepalive,
}

/// RFC 4271 §8.1 events (numbers in comments), plus ROUTE-REFRESH (RFC 2918).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// 1
    ManualStart,
    /// 4: ManualStart_with_PassiveTcpEstablishment.
    ManualStartPassive,
    /// Event 2. Carries the Cease subcode to send (RFC 4486: Administrative Shutdown,
    /// Peer De-configured, Other Configuration Change, …).
    ManualStop { cease_subcode: u8 },
    /// 9
    ConnectRetryTimerExpires,
    /// 10
    HoldTimerExpires,
    /// 11
    KeepaliveTimerExpires,
    /// 16: Tcp_CR_Acked, our outbound connection is up.
    TcpCrAcked,
    /// 17: an inbound connection was accepted for this peer.
    TcpConnectionConfirmed,
    /// 18: the connection failed or was closed by the peer.
    TcpConnectionFails,
    /// 19
    BgpOpen(Open),
    /// 21
    BgpHeaderErr(DecodeError),
    /// 22
    BgpOpenMsgErr(DecodeError),
    /// 25
    NotifMsg(Notification),
    /// 26
    KeepAliveMsg,
    /// 27
    UpdateMsg,
    /// 28
    UpdateMsgErr(DecodeError),
    /// RFC 2918
    RouteRefreshMsg(RouteRefresh),
    /// The peer announced more prefixes than we accept (RFC 4486 Cease subcode 1). Carries
    /// the NOTIFICATION data: AFI, SAFI and the limit.
    MaxPrefixExceeded { afi: u16, safi: u8, limit: u32 },
    /// A write to the peer did not complete in time: it stopped reading.
    WriteTimedOut,
    /// The peer's BFD session went from Up to Down (not by the peer's AdminDown): the path
    /// or the peer failed, so the session is closed at once (RFC 5882 §4.3.1).
    BfdDown,
}

/// What was agreed with the peer in the OPEN exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub peer_id: Ipv4Addr,
    pub peer_asn: u32,
    /// 0 = no hold timer and no keepalives.
    pub hold_time: u16,
    pub keepalive: u16,
    pub four_octet_as: bool,
    pub ipv4: bool,
    pub ipv6: bool,
    pub route_refresh: bool,
    /// Both sides offered IPv4 unicast with IPv6 next hops (RFC 8950).
    pub extended_next_hop: bool,
}

impl Negotiated {
    pub fn codec(&self) -> CodecContext {
        CodecContext {
            four_octet_as: self.four_octet_as,
        }
    }
}

/// Why a session left its state for Idle. Its text is the peer's `last_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    Stopped,
    HoldTimerExpired,
    ConnectionFailed,
    ConnectionClosed,
    NotificationReceived(Notification),
    NotificationSent(Notification),
    /// Our writes stalled (the peer stopped reading); no NOTIFICATION could be sent.
    WriteTimedOut,
    /// BFD declared the path down; we sent Cease/BFD Down (RFC 9384).
    BfdDown,
}

impl fmt::Display for DownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownReason::Stopped => write!(f, "stopped"),
            DownReason::HoldTimerExpired => write!(f, "hold timer expired"),
            DownReason::ConnectionFailed => write!(f, "connection failed"),
            DownReason::ConnectionClosed => write!(f, "connection closed"),
            DownReason::NotificationReceived(n) => write!(f, "received NOTIFICATION {n}"),
            DownReason::NotificationSent(n) => write!(f, "sent NOTIFICATION {n}"),
            DownReason::WriteTimedOut => {
                write!(f, "write timed out: the peer stopped reading")
            }
            DownReason::BfdDown => write!(f, "BFD session down"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a TCP connection to the peer.
    Connect,
    /// Close the TCP connection (after sending anything queued before this action).
    DropConnection,
    SendOpen(Open),
    SendKeepalive,
    SendNotification(Notification),
    /// Start or restart. The session adds backoff and jitter to ConnectRetry.
    StartTimer(Timer, Duration),
    StopTimer(Timer),
    /// Entered Established: send the whole Adj-RIB-Out, then End-of-RIB.
    SessionEstablished(Negotiated),
    /// Back to Idle, for this reason.
    SessionDown(DownReason),
    /// ROUTE-REFRESH received for a negotiated family: send its routes again.
    Resend(Families),
}

#[derive(Debug, Clone)]
pub struct Fsm {
    config: FsmConfig,
    state: PeerState,
    negotiated: Option<Negotiated>,
    /// RFC 4724 §3 Restart State (R bit): set in our OPENs until the first session after this
    /// process started is established. A restarted process cannot tell a first start from a
    /// restart, and R only tells the peer not to wait for our End-of-RIB before sending its
    /// own routes, which is harmless on a first start.
    restarting: bool,
}

impl Fsm {
    pub fn new(config: FsmConfig) -> Self {
        Fsm {
            config,
            state: PeerState::Idle,
            negotiated: None,
            restarting: true,
        }
    }

    /// True until a session was established: our OPEN carries the Restart State bit.
    pub fn restarting(&self) -> bool {
        self.restarting
    }

    /// Carries the Restart State over to an FSM for a racing connection of the same peer.
    pub fn with_restarting(mut self, restarting: bool) -> Self {
        self.restarting = restarting;
        self
    }

    /// The OPEN we send now.
    fn our_open(&self) -> Open {
        let c = &self.config;
        let mut open = Open::ours(c.local_asn, c.hold_time, c.router_id)
            .with_families(c.families.ipv4, c.families.ipv6);
        if c.extended_next_hop && c.families.ipv4 {
            open = open.with_extended_next_hop();
        }
        match c.graceful_restart {
            // Once a session of this process was established, the process has programmed
            // (and keeps) the kernel itself: forwarding is preserved across a session reset.
            Some(time) => open.with_graceful_restart(
                time,
                self.restarting,
                c.forwarding_preserved || !self.restarting,
            ),
            None => open,
        }
    }

    pub fn state(&self) -> PeerState {
        self.state
    }

    pub fn config(&self) -> &FsmConfig {
        &self.config
    }

    /// Set once the peer's OPEN was accepted (OpenConfirm and Established).
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        use Event as E;
        use PeerState as S;
        match (self.state, event) {
            (S::Idle, E::ManualStart) if !self.config.passive => {
                self.state = S::Connect;
                vec![self.start_connect_retry(), Action::Connect]
            }
            (S::Idle, E::ManualStart | E::ManualStartPassive) => {
                self.state = S::Active;
                vec![self.start_connect_retry()]
            }
            (S::Idle, _) => Vec::new(),

            (S::Connect | S::Active, E::ManualStop { .. }) => self.down(
                vec![Action::StopTimer(Timer::ConnectRetry)],
                DownReason::Stopped,
            ),
            (S::Connect | S::Active, E::ConnectRetryTimerExpires) => {
                if self.config.passive {
                    return vec![self.start_connect_retry()];
                }
                let mut a = Vec::new();
                if self.state == S::Connect {
                    a.push(Action::DropConnection);
                }
                self.state = S::Connect;
                a.extend([self.start_connect_retry(), Action::Connect]);
                a
            }
            (S::Connect | S::Active, E::TcpCrAcked | E::TcpConnectionConfirmed) => {
                self.state = S::OpenSent;
                vec![
                    Action::StopTimer(Timer::ConnectRetry),
                    Action::SendOpen(self.our_open()),
                    Action::StartTimer(Timer::Hold, LARGE_HOLD_TIME),
                ]
            }
            (S::Connect, E::TcpConnectionFails) => {
                self.state = S::Active;
                vec![Action::DropConnection, self.start_connect_retry()]
            }
            (S::Active, E::TcpConnectionFails) => vec![Action::DropConnection],
            // Timers that fired after they were stopped: nothing to do.
            (
                S::Connect | S::Active,
                E::HoldTimerExpires | E::KeepaliveTimerExpires | E::BfdDown,
            ) => Vec::new(),
            (S::Connect | S::Active, _) => self.down(
                vec![
                    Action::StopTimer(Timer::ConnectRetry),
                    Action::DropConnection,
                ],
                DownReason::ConnectionFailed,
            ),

            (S::OpenSent, E::BgpOpen(open)) => match negotiate(&self.config, &open) {
                Ok(n) => {
                    self.state = S::OpenConfirm;
                    self.negotiated = Some(n);
                    let mut a = vec![
                        Action::StopTimer(Timer::ConnectRetry),
                        Action::SendKeepalive,
                    ];
                    a.extend(self.hold_and_keepalive_timers(&n));
                    a
                }
                Err(e) => self.fail_with(e.notification()),
            },
            (S::OpenSent, E::ConnectRetryTimerExpires | E::KeepaliveTimerExpires) => Vec::new(),
            (S::OpenConfirm, E::KeepAliveMsg) => {
                // OpenConfirm is only entered with `negotiated` set; never panic if not.
                let Some(n) = self.negotiated else {
                    return self.fail_with(Notification::new(NotifCode::FSM, 2));
                };
                self.state = S::Established;
                self.restarting = false;
                let mut a = self.restart_hold();
                a.push(Action::SessionEstablished(n));
                a
            }
            (S::OpenConfirm | S::Established, E::KeepaliveTimerExpires) => {
                let ka = self.negotiated.map(|n| n.keepalive).unwrap_or(0);
                if ka == 0 {
                    return Vec::new();
                }
                vec![
                    Action::SendKeepalive,
                    Action::StartTimer(Timer::Keepalive, secs(ka)),
                ]
            }
            (S::OpenConfirm, E::ConnectRetryTimerExpires) => Vec::new(),
            (S::Established, E::KeepAliveMsg | E::UpdateMsg) => self.restart_hold(),
            (S::Established, E::RouteRefreshMsg(rr)) => {
                let mut a = self.restart_hold();
                a.extend(self.refresh(rr).map(Action::Resend));
                a
            }
            (S::Established, E::ConnectRetryTimerExpires) => Vec::new(),

            // Shared by OpenSent, OpenConfirm and Established.
            (_, E::ManualStop { cease_subcode }) => {
                let n = Notification::cease(cease_subcode);
                let mut a = vec![Action::SendNotification(n)];
                a.extend(self.teardown());
                self.down(a, DownReason::Stopped)
            }
            (_, E::HoldTimerExpires) => {
                let n = Notification::new(NotifCode::HOLD_TIMER_EXPIRED, 0);
                let mut a = vec![Action::SendNotification(n)];
                a.extend(self.teardown());
                self.down(a, DownReason::HoldTimerExpired)
            }
            (_, E::TcpConnectionFails) => {
                let a = self.teardown();
                self.down(a, DownReason::ConnectionClosed)
            }
            (_, E::WriteTimedOut) => {
                let a = self.teardown();
                self.down(a, DownReason::WriteTimedOut)
            }
            (_, E::BfdDown) => {
                // Sent "where the link still works" (a frozen peer's socket may still take it).
                let n = Notification::cease(NotifCode::CEASE_BFD_DOWN);
                let mut a = vec![Action::SendNotification(n)];
                a.extend(self.teardown());
                self.down(a, DownReason::BfdDown)
            }
            (S::Established, E::MaxPrefixExceeded { afi, safi, limit }) => {
                // RFC 4486 §4: AFI (2), SAFI (1), the upper bound (4).
                let mut data = afi.to_be_bytes().to_vec();
                data.push(safi);
                data.extend_from_slice(&limit.to_be_bytes());
                self.fail_with(Notification {
                    data,
                    ..Notification::cease(NotifCode::CEASE_MAX_PREFIXES)
                })
            }
            // Only the session's counting in Established raises it.
            (_, E::MaxPrefixExceeded { .. }) => Vec::new(),
            (_, E::NotifMsg(n)) => {
                let a = self.teardown();
                self.down(a, DownReason::NotificationReceived(n))
            }
            (_, E::BgpHeaderErr(e) | E::BgpOpenMsgErr(e) | E::UpdateMsgErr(e)) => {
                self.fail_with(e.notification())
            }
            // Anything else is a message this state does not expect (RFC 6608 subcodes).
            (state, _) => {
                let sub = match state {
                    S::OpenSent => 1,
                    S::OpenConfirm => 2,
                    _ => 3,
                };
                self.fail_with(Notification::new(NotifCode::FSM, sub))
            }
        }
    }

    fn start_connect_retry(&self) -> Action {
        Action::StartTimer(Timer::ConnectRetry, self.config.connect_retry)
    }

    fn hold_and_keepalive_timers(&self, n: &Negotiated) -> Vec<Action> {
        if n.hold_time == 0 {
            vec![
                Action::StopTimer(Timer::Hold),
                Action::StopTimer(Timer::Keepalive),
            ]
        } else {
            vec![
                Action::StartTimer(Timer::Keepalive, secs(n.keepalive)),
                Action::StartTimer(Timer::Hold, secs(n.hold_time)),
            ]
        }
    }

    /// The family a ROUTE-REFRESH asks for, if we should answer it: only a request (RFC 7313
    /// subtype 0; other subtypes are ignored, §5) for a family negotiated on this session (RFC
    /// 2918 §4: one not advertised is ignored). Answering anything with the whole table would
    /// let a confused peer make us resend everything, in every family, at will.
    fn refresh(&self, rr: RouteRefresh) -> Option<Families> {
        let n = self.negotiated.as_ref()?;
        if rr.subtype != RouteRefresh::REQUEST || rr.safi != SAFI_UNICAST {
            return None;
        }
        match rr.afi {
            AFI_IPV4 if n.ipv4 => Some(Families {
                ipv4: true,
                ipv6: false,
            }),
            AFI_IPV6 if n.ipv6 => Some(Families {
                ipv4: false,
                ipv6: true,
            }),
            _ => None,
        }
    }

    fn restart_hold(&self) -> Vec<Action> {
        match self.negotiated {
            Some(n) if n.hold_time > 0 => vec![Action::StartTimer(Timer::Hold, secs(n.hold_time))],
            _ => Vec::new(),
        }
    }

    fn teardown(&self) -> Vec<Action> {
        vec![
            Action::StopTimer(Timer::ConnectRetry),
            Action::StopTimer(Timer::Hold),
            Action::StopTimer(Timer::Keepalive),
            Action::DropConnection,
        ]
    }

    fn fail_with(&mut self, n: Notification) -> Vec<Action> {
        let mut a = vec![Action::SendNotification(n.clone())];
        a.extend(self.teardown());
        self.down(a, DownReason::NotificationSent(n))
    }

    fn down(&mut self, mut actions: Vec<Action>, reason: DownReason) -> Vec<Action> {
        self.state = PeerState::Idle;
        self.negotiated = None;
        actions.push(Action::SessionDown(reason));
        actions
    }
}

fn secs(s: u16) -> Duration {
    Duration::from_secs(s as u64)
}

/// Validates the peer's OPEN against the configuration and agrees on hold time and families.
pub fn negotiate(config: &FsmConfig, open: &Open) -> Result<Negotiated, DecodeError> {
    let four = open.four_octet_as();
    let peer_asn = open.asn();
    // With the capability, the 2-byte field must be the ASN itself or AS_TRANS (RFC 6793 §4.2).
    let consistent = match four {
        Some(a) => open.my_as == AS_TRANS || open.my_as as u32 == a,
        None => true,
    };
    if !consistent || peer_asn != config.peer_asn {
        return Err(DecodeError::BadPeerAs(peer_asn));
    }
    let ibgp = config.peer_asn == config.local_asn;
    // RFC 6286: the identifier must be non-zero, and differ from ours within one AS.
    if open.bgp_id.is_unspecified() || (ibgp && open.bgp_id == config.router_id) {
        return Err(DecodeError::BadBgpIdentifier(open.bgp_id));
    }
    if open.hold_time == 1 || open.hold_time == 2 {
        return Err(DecodeError::UnacceptableHoldTime(open.hold_time));
    }
    let hold_time = config.hold_time.min(open.hold_time);
    let families: Vec<(u16, u8)> = open.multiprotocol().collect();
    // A family is negotiated when both sides offer it (RFC 4760 §8); no multiprotocol
    // capability at all means IPv4 unicast only.
    let ipv4 = config.families.ipv4
        && (families.is_empty() || families.contains(&(AFI_IPV4, SAFI_UNICAST)));
    let ipv6 = config.families.ipv6 && families.contains(&(AFI_IPV6, SAFI_UNICAST));
    let extended_next_hop = ipv4 && config.extended_next_hop && open.extended_next_hop_ipv4();
    Ok(Negotiated {
        peer_id: open.bgp_id,
        peer_asn,
        hold_time,
        keepalive: hold_time / 3,
        four_octet_as: four.is_some(),
        ipv4,
        ipv6,
        route_refresh: open.route_refresh(),
        extended_next_hop,
    })
}

/// Connection collision resolution (RFC 4271 §6.8): true when the connection initiated by the
/// local system survives, i.e. when our BGP identifier is the higher one. Equal identifiers
/// (allowed between ASes, RFC 6286 §2.2) are broken by the AS number: the connection of the
/// speaker with the larger AS survives (RFC 6286 §2.3).
pub fn keep_locally_initiated(
    (local_id, local_asn): (Ipv4Addr, u32),
    (remote_id, remote_asn): (Ipv4Addr, u32),
) -> bool {
    (u32::from(local_id), local_asn) > (u32::from(remote_id), remote_asn)
}

#[cfg(test)]
mod tests {
    use super::super::message::Capability;
    use super::*;

    const LOCAL_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const PEER_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    fn config() -> FsmConfig {
        FsmConfig {
            local_asn: 65001,
            router_id: LOCAL_ID,
            peer_asn: 65000,
            hold_time: 9,
            connect_retry: Duration::from_secs(5),
            passive: false,
            graceful_restart: None,
            forwarding_preserved: false,
            families: Families::BOTH,
            extended_next_hop: false,
        }
    }

    fn peer_open(hold: u16) -> Open {
        Open::ours(65000, hold, PEER_ID)
    }

    /// The states with a connection to the peer.
    const CONNECTED: [PeerState; 3] = [
        PeerState::OpenSent,
        PeerState::OpenConfirm,
        PeerState::Established,
    ];

    fn in_state(state: PeerState) -> Fsm {
        let mut f = Fsm::new(config());
        if state == PeerState::Idle {
            return f;
        }
        f.handle(Event::ManualStart);
        if state == PeerState::Connect {
            return f;
        }
        if state == PeerState::Active {
            f.handle(Event::TcpConnectionFails);
            return f;
        }
        f.handle(Event::TcpCrAcked);
        if state == PeerState::OpenSent {
            return f;
        }
        f.handle(Event::BgpOpen(peer_open(90)));
        if state == PeerState::OpenConfirm {
            return f;
        }
        f.handle(Event::KeepAliveMsg);
        assert_eq!(f.state(), PeerState::Established);
        f
    }

    fn notification_sent(actions: &[Action]) -> Option<(u8, u8)> {
        actions.iter().find_map(|a| match a {
            Action::SendNotification(n) => Some((n.code, n.subcode)),
            _ => None,
        })
    }

    fn went_down(actions: &[Action]) -> Option<&DownReason> {
        actions.iter().find_map(|a| match a {
            Action::SessionDown(r) => Some(r),
            _ => None,
        })
    }

    #[test]
    fn manual_start_connects_and_starts_the_connect_retry_timer() {
        let mut f = Fsm::new(config());
        let a = f.handle(Event::ManualStart);
        assert_eq!(f.state(), PeerState::Connect);
        assert_eq!(
            a,
            [
                Action::StartTimer(Timer::ConnectRetry, Duration::from_secs(5)),
                Action::Connect
            ]
        );
    }

    #[test]
    fn a_passive_peer_waits_in_active_and_never_connects() {
        let mut f = Fsm::new(FsmConfig {
            passive: true,
            ..config()
        });
        let a = f.handle(Event::ManualStart);
        assert_eq!(f.state(), PeerState::Active);
        assert!(!a.contains(&Action::Connect));
        let a = f.handle(Event::ConnectRetryTimerExpires);
        assert!(!a.contains(&Action::Connect));
        assert_eq!(f.state(), PeerState::Active);
    }

    #[test]
    fn idle_ignores_everything_but_start() {
        let mut f = Fsm::new(config());
        assert!(f.handle(Event::KeepAliveMsg).is_empty());
        assert!(f.handle(Event::HoldTimerExpires).is_empty());
        assert_eq!(f.state(), PeerState::Idle);
    }

    #[test]
    fn a_failed_connect_moves_to_active_and_the_retry_timer_connects_again() {
        let mut f = in_state(PeerState::Connect);
        let a = f.handle(Event::TcpConnectionFails);
        assert_eq!(f.state(), PeerState::Active);
        assert!(a.contains(&Action::DropConnection));
        let a = f.handle(Event::ConnectRetryTimerExpires);
        assert_eq!(f.state(), PeerState::Connect);
        assert!(a.contains(&Action::Connect));
    }

    #[test]
    fn connect_retry_expiry_in_connect_drops_the_attempt_and_tries_again() {
        let mut f = in_state(PeerState::Connect);
        let a = f.handle(Event::ConnectRetryTimerExpires);
        assert_eq!(a[0], Action::DropConnection);
        assert!(a.contains(&Action::Connect));
        assert_eq!(f.state(), PeerState::Connect);
    }

    #[test]
    fn connection_up_sends_open_with_a_large_hold_timer() {
        for how in [Event::TcpCrAcked, Event::TcpConnectionConfirmed] {
            let mut f = in_state(PeerState::Connect);
            let a = f.handle(how);
            assert_eq!(f.state(), PeerState::OpenSent);
            assert_eq!(a[1], Action::SendOpen(Open::ours(65001, 9, LOCAL_ID)));
            assert_eq!(a[2], Action::StartTimer(Timer::Hold, LARGE_HOLD_TIME));
        }
    }

    #[test]
    fn an_inbound_connection_in_active_sends_open() {
        let mut f = in_state(PeerState::Active);
        f.handle(Event::TcpConnectionConfirmed);
        assert_eq!(f.state(), PeerState::OpenSent);
    }

    #[test]
    fn manual_stop_before_a_connection_goes_idle_without_notification() {
        let mut f = in_state(PeerState::Connect);
        let a = f.handle(Event::ManualStop { cease_subcode: 2 });
        assert_eq!(f.state(), PeerState::Idle);
        assert_eq!(notification_sent(&a), None);
        assert_eq!(went_down(&a), Some(&DownReason::Stopped));
    }

    #[test]
    fn a_valid_open_sends_keepalive_and_moves_to_open_confirm() {
        let mut f = in_state(PeerState::OpenSent);
        let a = f.handle(Event::BgpOpen(peer_open(90)));
        assert_eq!(f.state(), PeerState::OpenConfirm);
        assert!(a.contains(&Action::SendKeepalive));
        assert!(a.contains(&Action::StartTimer(Timer::Hold, Duration::from_secs(9))));
        assert!(a.contains(&Action::StartTimer(
            Timer::Keepalive,
            Duration::from_secs(3)
        )));
    }

    #[test]
    fn hold_time_negotiation_uses_minimum() {
        let n = negotiate(&config(), &peer_open(6)).unwrap();
        assert_eq!((n.hold_time, n.keepalive), (6, 2));
        let n = negotiate(&config(), &peer_open(90)).unwrap();
        assert_eq!((n.hold_time, n.keepalive), (9, 3));
    }

    #[test]
    fn hold_time_zero_from_the_peer_disables_hold_and_keepalive_timers() {
        let mut f = in_state(PeerState::OpenSent);
        let a = f.handle(Event::BgpOpen(peer_open(0)));
        assert!(a.contains(&Action::StopTimer(Timer::Hold)));
        assert!(a.contains(&Action::StopTimer(Timer::Keepalive)));
        assert!(f.handle(Event::KeepaliveTimerExpires).is_empty());
    }

    #[test]
    fn hold_time_of_one_or_two_is_unacceptable() {
        for hold in [1, 2] {
            let mut f = in_state(PeerState::OpenSent);
            let a = f.handle(Event::BgpOpen(peer_open(hold)));
            assert_eq!(notification_sent(&a), Some((2, 6)));
            assert_eq!(f.state(), PeerState::Idle);
        }
    }

    #[test]
    fn a_wrong_peer_as_is_refused_with_bad_peer_as() {
        let mut f = in_state(PeerState::OpenSent);
        let a = f.handle(Event::BgpOpen(Open::ours(65099, 90, PEER_ID)));
        assert_eq!(notification_sent(&a), Some((2, 2)));
        assert!(matches!(
            went_down(&a),
            Some(DownReason::NotificationSent(_))
        ));
    }

    #[test]
    fn a_four_byte_peer_as_is_matched_through_as_trans_and_the_capability() {
        let cfg = FsmConfig {
            peer_asn: 4_200_000_000,
            ..config()
        };
        let open = Open::ours(4_200_000_000, 90, PEER_ID);
        assert_eq!(open.my_as, AS_TRANS);
        let n = negotiate(&cfg, &open).unwrap();
        assert!(n.four_octet_as);
        assert_eq!(n.peer_asn, 4_200_000_000);
    }

    #[test]
    fn as_trans_without_the_capability_is_bad_peer_as() {
        let cfg = FsmConfig {
            peer_asn: 4_200_000_000,
            ..config()
        };
        let mut open = Open::ours(4_200_000_000, 90, PEER_ID);
        open.capabilities
            .retain(|c| !matches!(c, Capability::FourOctetAs(_)));
        assert_eq!(negotiate(&cfg, &open), Err(DecodeError::BadPeerAs(23456)));
    }

    #[test]
    fn a_two_byte_field_that_contradicts_the_capability_is_bad_peer_as() {
        let mut open = peer_open(90);
        open.my_as = 65010;
        assert!(matches!(
            negotiate(&config(), &open),
            Err(DecodeError::BadPeerAs(_))
        ));
    }

    #[test]
    fn a_zero_bgp_identifier_is_bad_bgp_identifier() {
        let open = Open::ours(65000, 90, Ipv4Addr::UNSPECIFIED);
        let e = negotiate(&config(), &open).unwrap_err();
        assert_eq!(e.notification().subcode, 3);
    }

    #[test]
    fn our_own_identifier_is_refused_on_ibgp_but_allowed_on_ebgp() {
        let ibgp = FsmConfig {
            peer_asn: 65001,
            ..config()
        };
        let open = Open::ours(65001, 90, LOCAL_ID);
        assert!(matches!(
            negotiate(&ibgp, &open),
            Err(DecodeError::BadBgpIdentifier(_))
        ));
        assert!(negotiate(&config(), &Open::ours(65000, 90, LOCAL_ID)).is_ok());
    }

    #[test]
    fn families_are_the_intersection_and_default_to_ipv4() {
        let mut open = peer_open(90);
        open.capabilities
            .retain(|c| !matches!(c, Capability::Multiprotocol { afi: 2, .. }));
        let n = negotiate(&config(), &open).unwrap();
        assert!(n.ipv4 && !n.ipv6);
        open.capabilities
            .retain(|c| !matches!(c, Capability::Multiprotocol { .. }));
        let n = negotiate(&config(), &open).unwrap();
        assert!(n.ipv4 && !n.ipv6);
        let n = negotiate(&config(), &peer_open(90)).unwrap();
        assert!(n.ipv4 && n.ipv6 && n.route_refresh);
    }

    #[test]
    fn only_families_we_offer_are_negotiated_and_offered() {
        let only6 = FsmConfig {
            families: Families {
                ipv4: false,
                ipv6: true,
            },
            ..config()
        };
        let n = negotiate(&only6, &peer_open(90)).unwrap();
        assert!(!n.ipv4 && n.ipv6);
        // A peer without multiprotocol capabilities speaks IPv4 only: nothing in common.
        let mut bare = peer_open(90);
        bare.capabilities
            .retain(|c| !matches!(c, Capability::Multiprotocol { .. }));
        let n = negotiate(&only6, &bare).unwrap();
        assert!(!n.ipv4 && !n.ipv6);
        let mut f = Fsm::new(only6);
        f.handle(Event::ManualStart);
        let a = f.handle(Event::TcpCrAcked);
        let open = sent_open(&a).unwrap();
        assert_eq!(open.multiprotocol().collect::<Vec<_>>(), [(AFI_IPV6, 1)]);
        assert!(!open.extended_next_hop_ipv4());
    }

    #[test]
    fn extended_next_hop_is_negotiated_only_when_both_offer_it_for_ipv4() {
        let ours = FsmConfig {
            extended_next_hop: true,
            ..config()
        };
        let theirs = peer_open(90).with_extended_next_hop();
        assert!(negotiate(&ours, &theirs).unwrap().extended_next_hop);
        assert!(!negotiate(&ours, &peer_open(90)).unwrap().extended_next_hop);
        assert!(!negotiate(&config(), &theirs).unwrap().extended_next_hop);
        // Without IPv4 in common there is nothing to carry with it.
        let no4 = theirs.with_families(false, true);
        assert!(!negotiate(&ours, &no4).unwrap().extended_next_hop);
        let mut f = Fsm::new(ours);
        f.handle(Event::ManualStart);
        let a = f.handle(Event::TcpCrAcked);
        assert!(sent_open(&a).unwrap().extended_next_hop_ipv4());
    }

    #[test]
    fn an_open_decode_error_sends_its_notification() {
        let mut f = in_state(PeerState::OpenSent);
        let a = f.handle(Event::BgpOpenMsgErr(DecodeError::UnsupportedVersion(3)));
        assert_eq!(notification_sent(&a), Some((2, 1)));
        assert_eq!(f.state(), PeerState::Idle);
    }

    #[test]
    fn a_header_error_sends_its_notification_in_any_connected_state() {
        for s in CONNECTED {
            let mut f = in_state(s);
            let a = f.handle(Event::BgpHeaderErr(DecodeError::BadMessageLength(5000)));
            assert_eq!(notification_sent(&a), Some((1, 2)), "{s:?}");
            assert!(a.contains(&Action::DropConnection));
        }
    }

    #[test]
    fn keepalive_in_open_confirm_establishes_the_session() {
        let mut f = in_state(PeerState::OpenConfirm);
        let a = f.handle(Event::KeepAliveMsg);
        assert_eq!(f.state(), PeerState::Established);
        assert!(matches!(a.last(), Some(Action::SessionEstablished(n)) if n.hold_time == 9));
    }

    #[test]
    fn an_update_in_open_sent_or_open_confirm_is_an_fsm_error() {
        let mut f = in_state(PeerState::OpenSent);
        assert_eq!(notification_sent(&f.handle(Event::UpdateMsg)), Some((5, 1)));
        let mut f = in_state(PeerState::OpenConfirm);
        assert_eq!(notification_sent(&f.handle(Event::UpdateMsg)), Some((5, 2)));
    }

    #[test]
    fn a_second_open_when_established_is_an_fsm_error() {
        let mut f = in_state(PeerState::Established);
        let a = f.handle(Event::BgpOpen(peer_open(90)));
        assert_eq!(notification_sent(&a), Some((5, 3)));
    }

    #[test]
    fn hold_timer_expiry_sends_hold_timer_expired_and_says_so() {
        for s in CONNECTED {
            let mut f = in_state(s);
            let a = f.handle(Event::HoldTimerExpires);
            assert_eq!(notification_sent(&a), Some((4, 0)));
            assert_eq!(went_down(&a).unwrap().to_string(), "hold timer expired");
            assert_eq!(f.state(), PeerState::Idle);
        }
    }

    #[test]
    fn keepalive_timer_sends_a_keepalive_and_restarts() {
        let mut f = in_state(PeerState::Established);
        let a = f.handle(Event::KeepaliveTimerExpires);
        assert_eq!(
            a,
            [
                Action::SendKeepalive,
                Action::StartTimer(Timer::Keepalive, Duration::from_secs(3))
            ]
        );
    }

    #[test]
    fn keepalives_and_updates_restart_the_hold_timer() {
        let mut f = in_state(PeerState::Established);
        let hold = Action::StartTimer(Timer::Hold, Duration::from_secs(9));
        assert_eq!(f.handle(Event::KeepAliveMsg), std::slice::from_ref(&hold));
        assert_eq!(f.handle(Event::UpdateMsg), [hold]);
        assert_eq!(f.state(), PeerState::Established);
    }

    const V4_ONLY: Families = Families {
        ipv4: true,
        ipv6: false,
    };

    #[test]
    fn route_refresh_asks_for_the_family_again() {
        let mut f = in_state(PeerState::Established);
        let a = f.handle(Event::RouteRefreshMsg(RouteRefresh::request(AFI_IPV4, 1)));
        assert!(a.contains(&Action::Resend(V4_ONLY)), "{a:?}");
        assert_eq!(f.state(), PeerState::Established);
    }

    #[test]
    fn route_refresh_for_a_family_not_negotiated_is_ignored() {
        // The peer offers IPv4 unicast only.
        let mut f = in_state(PeerState::OpenSent);
        f.handle(Event::BgpOpen(peer_open(90).with_families(true, false)));
        f.handle(Event::KeepAliveMsg);
        assert_eq!(f.state(), PeerState::Established);
        for (afi, safi) in [(AFI_IPV6, 1), (AFI_IPV4, 2), (AFI_IPV4, 128), (3, 1)] {
            let a = f.handle(Event::RouteRefreshMsg(RouteRefresh::request(afi, safi)));
            assert!(
                !a.iter().any(|a| matches!(a, Action::Resend(_))),
                "{afi}/{safi}: {a:?}"
            );
        }
        assert_eq!(f.state(), PeerState::Established);
    }

    #[test]
    fn route_refresh_of_another_subtype_is_ignored() {
        let mut f = in_state(PeerState::Established);
        // 1 and 2: the peer's own Beginning/End of Route Refresh; 3 and up: undefined.
        for subtype in [1, 2, 3, 255] {
            let rr = RouteRefresh {
                afi: AFI_IPV4,
                subtype,
                safi: 1,
            };
            let a = f.handle(Event::RouteRefreshMsg(rr));
            assert!(
                !a.iter().any(|a| matches!(a, Action::Resend(_))),
                "subtype {subtype}: {a:?}"
            );
        }
    }

    #[test]
    fn an_update_error_sends_its_notification() {
        let mut f = in_state(PeerState::Established);
        let a = f.handle(Event::UpdateMsgErr(DecodeError::InvalidNetworkField));
        assert_eq!(notification_sent(&a), Some((3, 10)));
        assert_eq!(f.state(), PeerState::Idle);
    }

    #[test]
    fn a_received_notification_closes_and_names_it() {
        let mut f = in_state(PeerState::Established);
        let a = f.handle(Event::NotifMsg(Notification::cease(4)));
        assert_eq!(notification_sent(&a), None);
        assert_eq!(
            went_down(&a).unwrap().to_string(),
            "received NOTIFICATION Cease/Administrative Reset"
        );
    }

    #[test]
    fn a_lost_connection_when_established_goes_idle() {
        let mut f = in_state(PeerState::Established);
        let a = f.handle(Event::TcpConnectionFails);
        assert_eq!(went_down(&a), Some(&DownReason::ConnectionClosed));
        assert!(f.negotiated().is_none());
    }

    #[test]
    fn manual_stop_when_connected_sends_the_given_cease() {
        for s in CONNECTED {
            let mut f = in_state(s);
            let a = f.handle(Event::ManualStop { cease_subcode: 3 });
            assert_eq!(notification_sent(&a), Some((6, 3)));
            assert_eq!(went_down(&a), Some(&DownReason::Stopped));
            assert_eq!(f.state(), PeerState::Idle);
        }
    }

    #[test]
    fn stale_connect_retry_expiry_after_connecting_is_ignored() {
        for s in CONNECTED {
            let mut f = in_state(s);
            assert!(f.handle(Event::ConnectRetryTimerExpires).is_empty());
            assert_eq!(f.state(), s);
        }
    }

    #[test]
    fn collision_keeps_the_connection_of_the_higher_identifier() {
        assert!(keep_locally_initiated((LOCAL_ID, 1), (PEER_ID, 2)));
        assert!(!keep_locally_initiated((PEER_ID, 2), (LOCAL_ID, 1)));
        // Compared as unsigned integers, not textually.
        assert!(keep_locally_initiated(
            (Ipv4Addr::new(192, 0, 0, 1), 1),
            (Ipv4Addr::new(10, 255, 255, 255), 2)
        ));
    }

    #[test]
    fn equal_identifiers_keep_the_connection_of_the_larger_as() {
        assert!(keep_locally_initiated((LOCAL_ID, 65002), (LOCAL_ID, 65001)));
        assert!(!keep_locally_initiated(
            (LOCAL_ID, 65001),
            (LOCAL_ID, 65002)
        ));
    }

    fn sent_open(actions: &[Action]) -> Option<&Open> {
        actions.iter().find_map(|a| match a {
            Action::SendOpen(o) => Some(o),
            _ => None,
        })
    }

    #[test]
    fn the_first_open_after_start_carries_graceful_restart_with_the_restart_bit() {
        let mut f = Fsm::new(FsmConfig {
            graceful_restart: Some(120),
            forwarding_preserved: true,
            ..config()
        });
        f.handle(Event::ManualStart);
        let a = f.handle(Event::TcpCrAcked);
        let gr = sent_open(&a).and_then(|o| o.graceful_restart()).cloned();
        let gr = gr.expect("graceful restart capability");
        assert!(gr.restart_state);
        assert_eq!(gr.restart_time, 120);
        assert_eq!(
            gr.families,
            [
                (AFI_IPV4, SAFI_UNICAST, true),
                (AFI_IPV6, SAFI_UNICAST, true)
            ]
        );
        assert!(f.restarting());
    }

    /// The F bit of every family in the OPEN among `actions`.
    fn forwarding_bits(actions: &[Action]) -> Vec<bool> {
        let gr = sent_open(actions)
            .and_then(|o| o.graceful_restart())
            .cloned();
        let gr = gr.expect("graceful restart capability");
        gr.families.iter().map(|&(_, _, f)| f).collect()
    }

    #[test]
    fn without_preserved_kernel_state_the_f_bit_is_clear_until_this_process_had_a_session() {
        // After a reboot: the kernel held none of our VIPs at start-up.
        let mut f = Fsm::new(FsmConfig {
            graceful_restart: Some(120),
            forwarding_preserved: false,
            ..config()
        });
        f.handle(Event::ManualStart);
        assert_eq!(
            forwarding_bits(&f.handle(Event::TcpCrAcked)),
            [false, false]
        );
        // A failed attempt changes nothing.
        f.handle(Event::TcpConnectionFails);
        f.handle(Event::ManualStart);
        assert_eq!(
            forwarding_bits(&f.handle(Event::TcpCrAcked)),
            [false, false]
        );
        // Once this process had a session, it programmed the kernel and keeps it: a session
        // reset (not a restart) preserves forwarding.
        f.handle(Event::BgpOpen(peer_open(90)));
        f.handle(Event::KeepAliveMsg);
        f.handle(Event::TcpConnectionFails);
        f.handle(Event::ManualStart);
        assert_eq!(forwarding_bits(&f.handle(Event::TcpCrAcked)), [true, true]);
    }

    #[test]
    fn once_a_session_was_established_later_opens_clear_the_restart_bit() {
        let mut f = Fsm::new(FsmConfig {
            graceful_restart: Some(120),
            ..config()
        });
        f.handle(Event::ManualStart);
        f.handle(Event::TcpCrAcked);
        f.handle(Event::BgpOpen(peer_open(90)));
        f.handle(Event::KeepAliveMsg);
        assert!(!f.restarting());
        f.handle(Event::TcpConnectionFails);
        f.handle(Event::ManualStart);
        let a = f.handle(Event::TcpCrAcked);
        let gr = sent_open(&a).and_then(|o| o.graceful_restart()).cloned();
        assert!(!gr.expect("still advertised").restart_state);
    }

    #[test]
    fn a_failed_open_exchange_keeps_the_restart_bit_for_the_next_attempt() {
        let mut f = Fsm::new(FsmConfig {
            graceful_restart: Some(120),
            ..config()
        });
        f.handle(Event::ManualStart);
        f.handle(Event::TcpCrAcked);
        f.handle(Event::TcpConnectionFails);
        assert!(f.restarting());
    }

    #[test]
    fn without_graceful_restart_configured_the_open_has_no_such_capability() {
        let mut f = in_state(PeerState::Connect);
        let a = f.handle(Event::TcpCrAcked);
        assert_eq!(sent_open(&a).unwrap().graceful_restart(), None);
    }

    #[test]
    fn too_many_prefixes_send_cease_maximum_prefixes_with_afi_safi_and_limit() {
        let mut f = in_state(PeerState::Established);
        let a = f.handle(Event::MaxPrefixExceeded {
            afi: AFI_IPV6,
            safi: SAFI_UNICAST,
            limit: 1000,
        });
        let n = a
            .iter()
            .find_map(|a| match a {
                Action::SendNotification(n) => Some(n.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!((n.code, n.subcode), (6, 1));
        assert_eq!(n.data, [0, 2, 1, 0, 0, 0x03, 0xe8]);
        assert!(a.contains(&Action::DropConnection));
        assert_eq!(went_down(&a), Some(&DownReason::NotificationSent(n)));
        assert_eq!(f.state(), PeerState::Idle);
    }

    #[test]
    fn bfd_down_closes_a_connected_session_with_cease_bfd_down_and_is_ignored_otherwise() {
        for state in CONNECTED {
            let mut f = in_state(state);
            let a = f.handle(Event::BfdDown);
            assert_eq!(
                notification_sent(&a),
                Some((NotifCode::CEASE, 10)),
                "{state:?}"
            );
            assert_eq!(went_down(&a), Some(&DownReason::BfdDown));
            assert!(a.contains(&Action::DropConnection));
            assert_eq!(f.state(), PeerState::Idle);
        }
        for state in [PeerState::Idle, PeerState::Connect, PeerState::Active] {
            let mut f = in_state(state);
            assert!(f.handle(Event::BfdDown).is_empty(), "{state:?}");
            assert_eq!(f.state(), state);
        }
    }

    #[test]
    fn a_stalled_write_drops_the_session_without_a_notification() {
        let mut f = in_state(PeerState::Established);
        let a = f.handle(Event::WriteTimedOut);
        assert_eq!(notification_sent(&a), None);
        assert!(a.contains(&Action::DropConnection));
        assert_eq!(went_down(&a), Some(&DownReason::WriteTimedOut));
        assert_eq!(
            DownReason::WriteTimedOut.to_string(),
            "write timed out: the peer stopped reading"
        );
    }
}
