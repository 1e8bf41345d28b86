//! Session policy, without sockets or clocks: how long to wait before the next attempt, the
//! max-prefix penalty, which connection survives a collision, and the count of the prefixes
//! the peer announces. The session task (the I/O edge) asks; these answer.

use std::collections::HashSet;
use std::time::Duration;

use crate::bgp::fsm::{keep_locally_initiated, DownReason, Event};
use crate::bgp::message::{self, NotifCode, Prefix, Update, AFI_IPV4, AFI_IPV6};
use crate::bgp::Limits;
use crate::status::PeerState;

/// The backoff doubles up to this, unless the configured `connect_retry` is longer.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The pause before the next connection attempt (before jitter): the configured
/// `connect_retry`, doubled after each failure up to [`MAX_BACKOFF`], back to the configured
/// value once a session is established. Never below the configured value: an operator who
/// asked for 120 s gets 120 s, not the 60 s cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    configured: Duration,
    current: Duration,
}

impl Backoff {
    pub fn new(connect_retry: Duration) -> Backoff {
        Backoff {
            configured: connect_retry,
            current: connect_retry,
        }
    }

    /// The wait for the next attempt, before jitter.
    pub fn current(&self) -> Duration {
        self.current
    }

    /// An attempt failed (connect refused, session dropped): the one after waits longer.
    pub fn failed(&mut self) {
        let cap = MAX_BACKOFF.max(self.configured);
        self.current = self.current.saturating_mul(2).min(cap);
    }

    /// A session came up: the next failure starts from the configured value again.
    pub fn established(&mut self) {
        self.current = self.configured;
    }
}

/// What follows a session going down: when to start again, and whether inbound connections
/// from the peer are refused until then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restart {
    pub wait: Duration,
    pub refuse_inbound: bool,
}

/// `jittered` is the backoff's current wait after jitter. A stop is not restarted (`None`).
/// After our own max-prefix Cease the peer would most likely send the same table again: the
/// wait is at least [`Limits::max_prefix_restart`], and the peer cannot come straight back in
/// through the listener either (RFC 4486 Connection Rejected).
pub fn restart_after(reason: &DownReason, jittered: Duration, limits: &Limits) -> Option<Restart> {
    match reason {
        DownReason::Stopped => None,
        DownReason::NotificationSent(n)
            if n.code == NotifCode::CEASE && n.subcode == NotifCode::CEASE_MAX_PREFIXES =>
        {
            Some(Restart {
                wait: jittered.max(limits.max_prefix_restart),
                refuse_inbound: true,
            })
        }
        _ => Some(Restart {
            wait: jittered,
            refuse_inbound: false,
        }),
    }
}

/// Of two connections to one peer, which survives once the racing inbound connection's OPEN
/// is in (RFC 4271 §6.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collision {
    /// Keep the session's connection; the inbound one gets Cease/Connection Collision.
    KeepCurrent,
    /// Take the inbound connection (and its FSM); the current one gets the Cease.
    TakeInbound,
}

/// `state` is the session's FSM state, `current_outbound` whether its connection is one we
/// dialled, `local`/`remote` the (BGP identifier, AS) of each side.
pub fn resolve_collision(
    state: PeerState,
    current_outbound: bool,
    local: (std::net::Ipv4Addr, u32),
    remote: (std::net::Ipv4Addr, u32),
) -> Collision {
    let keep = match state {
        // A collision with an established session keeps the session.
        PeerState::Established => true,
        // Our connection is not even up (RFC 4271 §8.2.2: in Connect, a connection that is
        // confirmed is taken): a node whose SYNs are lost still comes up.
        PeerState::Connect => false,
        // The side with the higher identifier (then AS, RFC 6286 §2.3) keeps the connection
        // it initiated; both sides apply the same rule, so they agree.
        PeerState::OpenSent | PeerState::OpenConfirm => {
            current_outbound && keep_locally_initiated(local, remote)
        }
        PeerState::Idle | PeerState::Active => false,
    };
    if keep {
        Collision::KeepCurrent
    } else {
        Collision::TakeInbound
    }
}

/// The prefixes the peer currently announces. They are only counted, never used, so a peer
/// that sends a huge table must not grow our memory without bound: past
/// [`Limits::max_received_prefixes`] the answer is the FSM's max-prefix event (Cease/Maximum
/// Number of Prefixes Reached, RFC 4486).
#[derive(Debug, Default)]
pub(super) struct ReceivedPrefixes {
    prefixes: HashSet<Prefix>,
}

impl ReceivedPrefixes {
    pub fn len(&self) -> usize {
        self.prefixes.len()
    }

    pub fn clear(&mut self) {
        self.prefixes.clear();
    }

    /// Counts one UPDATE; `Some(event)` when it takes the peer past `limit`.
    pub fn apply(&mut self, u: &Update, limit: usize) -> Option<Event> {
        for p in u.withdrawals() {
            self.prefixes.remove(p);
        }
        if u.treat_as_withdraw.is_some() {
            // RFC 7606: the announced prefixes are withdrawn instead.
            for p in u.announced() {
                self.prefixes.remove(p);
            }
            return None;
        }
        for p in u.announced() {
            if self.prefixes.len() >= limit && !self.prefixes.contains(p) {
                let afi = if p.addr.is_ipv4() { AFI_IPV4 } else { AFI_IPV6 };
                return Some(Event::MaxPrefixExceeded {
                    afi,
                    safi: message::SAFI_UNICAST,
                    limit: u32::try_from(limit).unwrap_or(u32::MAX),
                });
            }
            self.prefixes.insert(*p);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::bgp::message::Notification;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn the_backoff_doubles_to_60s_and_returns_to_the_configured_value_once_established() {
        let mut b = Backoff::new(5 * S);
        let mut seen = vec![b.current()];
        for _ in 0..5 {
            b.failed();
            seen.push(b.current());
        }
        assert_eq!(seen, [5 * S, 10 * S, 20 * S, 40 * S, 60 * S, 60 * S]);
        b.established();
        assert_eq!(b.current(), 5 * S);
    }

    #[test]
    fn the_backoff_never_goes_below_a_configured_connect_retry_above_the_cap() {
        // Before, `(backoff * 2).min(60 s)` cut a configured 120 s to 60 s on the first failure.
        let mut b = Backoff::new(120 * S);
        b.failed();
        assert_eq!(b.current(), 120 * S);
        b.failed();
        assert_eq!(b.current(), 120 * S);
    }

    #[test]
    fn a_huge_backoff_saturates_instead_of_overflowing() {
        let mut b = Backoff::new(Duration::MAX);
        b.failed();
        assert_eq!(b.current(), Duration::MAX);
    }

    #[test]
    fn a_max_prefix_cease_waits_at_least_the_penalty_and_refuses_inbound() {
        let limits = Limits::default();
        let ours = |code, subcode| {
            DownReason::NotificationSent(Notification {
                code,
                subcode,
                data: Vec::new(),
            })
        };
        let max_prefix = ours(NotifCode::CEASE, NotifCode::CEASE_MAX_PREFIXES);
        assert_eq!(
            restart_after(&max_prefix, 3 * S, &limits),
            Some(Restart {
                wait: limits.max_prefix_restart,
                refuse_inbound: true
            })
        );
        let long = limits.max_prefix_restart + 5 * S;
        assert_eq!(
            restart_after(&max_prefix, long, &limits).unwrap().wait,
            long
        );
        let admin = ours(NotifCode::CEASE, NotifCode::CEASE_ADMIN_SHUTDOWN);
        assert_eq!(
            restart_after(&admin, 3 * S, &limits),
            Some(Restart {
                wait: 3 * S,
                refuse_inbound: false
            })
        );
        assert_eq!(
            restart_after(&DownReason::HoldTimerExpired, 3 * S, &limits)
                .unwrap()
                .wait,
            3 * S
        );
        assert_eq!(restart_after(&DownReason::Stopped, 3 * S, &limits), None);
    }

    const LOW: (Ipv4Addr, u32) = (Ipv4Addr::new(10, 0, 0, 1), 65001);
    const HIGH: (Ipv4Addr, u32) = (Ipv4Addr::new(10, 0, 0, 2), 65000);

    #[test]
    fn a_collision_keeps_an_established_session_and_takes_the_inbound_one_in_connect() {
        for outbound in [false, true] {
            let established = resolve_collision(PeerState::Established, outbound, LOW, HIGH);
            assert_eq!(established, Collision::KeepCurrent);
            let connect = resolve_collision(PeerState::Connect, outbound, HIGH, LOW);
            assert_eq!(connect, Collision::TakeInbound, "RFC 4271 §8.2.2");
            for idle in [PeerState::Idle, PeerState::Active] {
                assert_eq!(
                    resolve_collision(idle, outbound, HIGH, LOW),
                    Collision::TakeInbound
                );
            }
        }
    }

    #[test]
    fn during_the_open_exchange_the_higher_identifier_keeps_its_own_connection() {
        for state in [PeerState::OpenSent, PeerState::OpenConfirm] {
            assert_eq!(
                resolve_collision(state, true, HIGH, LOW),
                Collision::KeepCurrent
            );
            assert_eq!(
                resolve_collision(state, true, LOW, HIGH),
                Collision::TakeInbound
            );
            // The current connection is itself one the peer opened: the newer one replaces it.
            assert_eq!(
                resolve_collision(state, false, HIGH, LOW),
                Collision::TakeInbound
            );
        }
    }

    #[test]
    fn equal_identifiers_are_broken_by_the_larger_as() {
        let id = Ipv4Addr::new(10, 0, 0, 9);
        let state = PeerState::OpenSent;
        let keep = resolve_collision(state, true, (id, 65002), (id, 65001));
        assert_eq!(keep, Collision::KeepCurrent);
        let take = resolve_collision(state, true, (id, 65001), (id, 65002));
        assert_eq!(take, Collision::TakeInbound);
    }

    fn update(announce: &[&str], withdraw: &[&str]) -> Update {
        let p = |s: &&str| {
            let (addr, len) = s.split_once('/').unwrap();
            Prefix {
                addr: addr.parse().unwrap(),
                len: len.parse().unwrap(),
            }
        };
        Update {
            withdrawn: withdraw.iter().map(p).collect(),
            attributes: Vec::new(),
            nlri: announce.iter().map(p).collect(),
            treat_as_withdraw: None,
        }
    }

    #[test]
    fn received_prefixes_count_announcements_and_withdrawals_up_to_the_limit() {
        let mut r = ReceivedPrefixes::default();
        assert_eq!(
            r.apply(&update(&["10.1.0.0/24", "10.2.0.0/24"], &[]), 2),
            None
        );
        assert_eq!(r.len(), 2);
        // Announcing one it already has is no growth.
        assert_eq!(r.apply(&update(&["10.1.0.0/24"], &[]), 2), None);
        let over = r.apply(&update(&["10.3.0.0/24"], &[]), 2);
        assert!(
            matches!(
                over,
                Some(Event::MaxPrefixExceeded {
                    afi: AFI_IPV4,
                    limit: 2,
                    ..
                })
            ),
            "{over:?}"
        );
        assert_eq!(r.apply(&update(&[], &["10.1.0.0/24"]), 2), None);
        assert_eq!(r.apply(&update(&["10.3.0.0/24"], &[]), 2), None);
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn a_treat_as_withdraw_update_removes_what_it_announces() {
        let mut r = ReceivedPrefixes::default();
        r.apply(&update(&["10.1.0.0/24"], &[]), 10);
        let mut bad = update(&["10.1.0.0/24"], &[]);
        bad.treat_as_withdraw = Some("ORIGIN: bad length");
        assert_eq!(r.apply(&bad, 10), None);
        assert_eq!(r.len(), 0);
    }
}
