//! One BFD session in asynchronous mode (RFC 5880 §6), pure: a received [`Packet`] or the
//! passing of time goes in, the packets to send and the state transition (if any) come out.
//! No sockets and no clock: `now` and the jitter draw are arguments, so every transition is a
//! unit test.
//!
//! ```text
//!            +--+
//!            |  | UP, ADMIN DOWN, TIMER
//!            |  V
//!    DOWN  +------+  INIT
//!    +-----|      |------+
//!    |     | DOWN |      |
//!    |  +->|      |<--+  |
//!    |  |  +------+   |  |
//!    |  |      ^      |  |   (the diagram of §6.2; AdminDown from the peer counts as DOWN
//!    V  |      |      |  V    and is not a failure of the path, RFC 5882 §3.2)
//! +------+   DOWN  +------+
//! |      |  TIMER  |      |
//! | INIT |-------->|  UP  |
//! |      |  INIT,UP|      |
//! +------+-------->+------+
//! ```
//!
//! Timers (§6.8.2–§6.8.4, §6.8.7): while not Up we advertise a Desired Min TX of at least 1 s;
//! on reaching Up the configured interval takes over through a Poll Sequence (P set until the
//! peer answers with F). Packets go out every max(our Desired Min TX, the peer's Required Min
//! RX), reduced by 0–25 % jitter (10–25 % with a multiplier of 1). The session is declared
//! down when nothing arrives for the detection time: the peer's Detect Mult times
//! max(our Required Min RX, the peer's Desired Min TX).

use std::time::{Duration, Instant};

use super::packet::{Diag, Packet, State};

/// While not Up, Desired Min TX is at least this (§6.8.3).
pub const SLOW_TX: Duration = Duration::from_secs(1);

/// What the configuration decides for one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    pub desired_min_tx: Duration,
    pub required_min_rx: Duration,
    pub detect_mult: u8,
}

/// A change of bfd.SessionState.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: State,
    pub to: State,
    pub diag: Diag,
    /// The change was caused by the peer's AdminDown: not a failure of the path.
    pub remote_admin_down: bool,
}

impl Transition {
    /// An Up session that went Down for a reason that means the path (or the peer) failed.
    pub fn is_failure(&self) -> bool {
        self.from == State::Up && self.to == State::Down && !self.remote_admin_down
    }
}

/// What a step produced: packets to send now, and a transition.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Step {
    pub send: Vec<Packet>,
    pub transition: Option<Transition>,
}

#[derive(Debug, Clone)]
pub struct Session {
    timers: Timers,
    local_discriminator: u32,
    state: State,
    local_diag: Diag,
    remote_discriminator: u32,
    /// Microseconds, as received. RemoteMinRxInterval starts at 1 (§6.8.1).
    remote_min_rx: u32,
    remote_desired_min_tx: u32,
    remote_detect_mult: u8,
    /// bfd.DesiredMinTxInterval as currently advertised, microseconds.
    advertised_tx: u32,
    /// A Poll Sequence is running: our packets carry P until a packet with F arrives.
    polling: bool,
    /// Timers that take effect when the running Poll Sequence ends: a larger Desired Min TX
    /// (§6.8.3: the interval in use must not grow before) and a smaller Required Min RX
    /// (§6.8.3: the detection time must not shrink before).
    pending: Option<Timers>,
    next_tx: Option<Instant>,
    detect_at: Option<Instant>,
    transitions: u64,
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

impl Session {
    /// A new session in Down, sending its first packet at once.
    pub fn new(local_discriminator: u32, timers: Timers, now: Instant) -> Session {
        Session {
            timers,
            local_discriminator,
            state: State::Down,
            local_diag: Diag::NONE,
            remote_discriminator: 0,
            remote_min_rx: 1,
            remote_desired_min_tx: 0,
            remote_detect_mult: 0,
            advertised_tx: micros(timers.desired_min_tx.max(SLOW_TX)),
            polling: false,
            pending: None,
            next_tx: Some(now),
            detect_at: None,
            transitions: 0,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn local_discriminator(&self) -> u32 {
        self.local_discriminator
    }

    pub fn remote_discriminator(&self) -> u32 {
        self.remote_discriminator
    }

    pub fn local_diag(&self) -> Diag {
        self.local_diag
    }

    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    pub fn polling(&self) -> bool {
        self.polling
    }

    /// The detection time in force: the peer's multiplier times the agreed interval (zero
    /// before anything was received).
    pub fn detect_time(&self) -> Duration {
        let interval = micros(self.timers.required_min_rx).max(self.remote_desired_min_tx);
        Duration::from_micros(u64::from(interval) * u64::from(self.remote_detect_mult))
    }

    /// The interval between our periodic packets, before jitter; `None` when the peer asked
    /// for none (Required Min RX 0, §6.8.3).
    pub fn tx_interval(&self) -> Option<Duration> {
        (self.remote_min_rx != 0)
            .then(|| Duration::from_micros(u64::from(self.advertised_tx.max(self.remote_min_rx))))
    }

    /// The earliest time [`Session::on_time`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.next_tx, self.detect_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The packet we send now; `final_` answers a Poll (and then carries no P, §6.8.7).
    pub fn packet(&self, final_: bool) -> Packet {
        Packet {
            diag: self.local_diag,
            state: self.state,
            poll: self.polling && !final_,
            final_,
            control_plane_independent: false,
            demand: false,
            detect_mult: self.timers.detect_mult,
            my_discriminator: self.local_discriminator,
            your_discriminator: self.remote_discriminator,
            desired_min_tx: self.advertised().0,
            required_min_rx: self.advertised().1,
            required_min_echo_rx: 0,
        }
    }

    /// A packet that passed the codec's checks and was demultiplexed to this session (§6.8.6,
    /// from "set bfd.RemoteDiscr" on). `jitter` is a draw from [0, 1) for the next transmit
    /// time if the state changes.
    pub fn receive(&mut self, p: &Packet, now: Instant, jitter: f64) -> Step {
        let interval_before = self.tx_interval();
        self.remote_discriminator = p.my_discriminator;
        self.remote_min_rx = p.required_min_rx;
        self.remote_desired_min_tx = p.desired_min_tx;
        self.remote_detect_mult = p.detect_mult;
        if p.final_ && self.polling {
            self.polling = false;
            if let Some(t) = self.pending.take() {
                self.timers = t;
                self.advertised_tx = micros(t.desired_min_tx);
            }
        }
        let mut step = Step::default();
        if self.state == State::AdminDown {
            return step;
        }
        self.detect_at = Some(now + self.detect_time());
        // A shorter interval (the peer lowered its Required Min RX, typically in the Poll that
        // ends its own slow start, or our Poll completed) applies to the next packet, not to
        // the one after it: the peer's Detection Time shrinks as soon as it sees our Final,
        // and a packet still scheduled at the old 1 s pace would arrive after it (FRR bfdd
        // then declared a fresh session down, "control-expired", in about 1 of 10 bring-ups).
        if self
            .tx_interval()
            .is_some_and(|new| interval_before.is_none_or(|old| new < old))
        {
            let at = self.next_tx;
            self.schedule_tx(now, jitter);
            self.next_tx = match (at, self.next_tx) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => b.or(a),
            };
        }
        // §6.8.6, the table of "If bfd.SessionState is …".
        let next = match (self.state, p.state) {
            (State::Down, State::Down) => Some((State::Init, Diag::NONE, false)),
            (State::Down, State::Init) => Some((State::Up, Diag::NONE, false)),
            (State::Down | State::AdminDown, _) => None,
            (_, State::AdminDown) => Some((State::Down, Diag::NEIGHBOR_SIGNALED_DOWN, true)),
            (State::Init, State::Init | State::Up) => Some((State::Up, Diag::NONE, false)),
            (State::Up, State::Down) => Some((State::Down, Diag::NEIGHBOR_SIGNALED_DOWN, false)),
            (State::Init | State::Up, _) => None,
        };
        if let Some((to, diag, remote_admin_down)) = next {
            step.transition = Some(self.change(to, diag, remote_admin_down, now, jitter));
            step.send.push(self.packet(false));
        }
        if p.poll {
            step.send.push(self.packet(true));
        }
        step
    }

    /// Timers: the detection time running out, and periodic transmission.
    pub fn on_time(&mut self, now: Instant, jitter: f64) -> Step {
        let mut step = Step::default();
        if self.detect_at.is_some_and(|t| now >= t) {
            self.detect_at = None;
            // §6.8.1: after a Detection Time with nothing received the peer is unknown.
            self.remote_discriminator = 0;
            if matches!(self.state, State::Init | State::Up) {
                let diag = Diag::DETECTION_TIME_EXPIRED;
                step.transition = Some(self.change(State::Down, diag, false, now, jitter));
            }
        }
        if self.next_tx.is_some_and(|t| now >= t) {
            step.send.push(self.packet(false));
            self.schedule_tx(now, jitter);
        }
        step
    }

    /// New timers from a reload. While Up they are announced through a Poll Sequence (§6.5):
    /// a shorter Desired Min TX and a longer Required Min RX apply at once, the opposite
    /// changes only once the peer answered (so neither side declares the other down in
    /// between). While not Up they apply at once (we send at least every second anyway).
    pub fn set_timers(&mut self, new: Timers, now: Instant) {
        if new == self.timers && self.pending.is_none() {
            return;
        }
        if self.state != State::Up {
            self.timers = new;
            self.pending = None;
            self.advertised_tx = micros(new.desired_min_tx.max(SLOW_TX));
            return;
        }
        let old = self.timers;
        self.polling = true;
        let slower_tx = new.desired_min_tx > old.desired_min_tx;
        let faster_rx = new.required_min_rx < old.required_min_rx;
        self.timers = Timers {
            desired_min_tx: if slower_tx {
                old.desired_min_tx
            } else {
                new.desired_min_tx
            },
            required_min_rx: if faster_rx {
                old.required_min_rx
            } else {
                new.required_min_rx
            },
            detect_mult: new.detect_mult,
        };
        self.advertised_tx = micros(self.timers.desired_min_tx);
        self.pending = (slower_tx || faster_rx).then_some(new);
        if let Some(at) = self.next_tx {
            self.next_tx = Some(at.min(now));
        }
    }

    /// The packet we advertise: while a Poll Sequence is pending, the new values are the ones
    /// on the wire (the peer must see what it is asked to agree to).
    fn advertised(&self) -> (u32, u32) {
        match self.pending {
            Some(t) => (micros(t.desired_min_tx), micros(t.required_min_rx)),
            None => (self.advertised_tx, micros(self.timers.required_min_rx)),
        }
    }

    /// Local administrative shutdown: AdminDown, sent at once and then periodically (§6.8.16).
    pub fn admin_down(&mut self, now: Instant, jitter: f64) -> Step {
        if self.state == State::AdminDown {
            return Step::default();
        }
        let t = self.change(State::AdminDown, Diag::ADMIN_DOWN, false, now, jitter);
        self.detect_at = None;
        Step {
            send: vec![self.packet(false)],
            transition: Some(t),
        }
    }

    fn change(
        &mut self,
        to: State,
        diag: Diag,
        remote_admin_down: bool,
        now: Instant,
        jitter: f64,
    ) -> Transition {
        let from = self.state;
        if let Some(t) = self.pending.take() {
            self.timers = t;
        }
        self.state = to;
        self.local_diag = diag;
        self.transitions += 1;
        let slow = micros(self.timers.desired_min_tx.max(SLOW_TX));
        let wanted = if to == State::Up {
            micros(self.timers.desired_min_tx)
        } else {
            slow
        };
        if wanted != self.advertised_tx {
            // §6.8.3: a change of Desired Min TX while Up starts a Poll Sequence. A decrease
            // may take effect at once; leaving Up needs none.
            self.polling = to == State::Up;
            self.advertised_tx = wanted;
        }
        self.schedule_tx(now, jitter);
        Transition {
            from,
            to,
            diag,
            remote_admin_down,
        }
    }

    fn schedule_tx(&mut self, now: Instant, jitter: f64) {
        self.next_tx = self.tx_interval().map(|i| {
            // §6.8.7: 75–100 % of the interval, 75–90 % with a multiplier of 1.
            let span = if self.timers.detect_mult == 1 {
                0.15
            } else {
                0.25
            };
            now + i.mul_f64(0.75 + span * jitter.clamp(0.0, 1.0))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn timers() -> Timers {
        Timers {
            desired_min_tx: 300 * MS,
            required_min_rx: 300 * MS,
            detect_mult: 3,
        }
    }

    /// The peer's packet: its discriminator 77, our 1, its state, 300 ms / 300 ms, mult 3.
    fn from_peer(state: State) -> Packet {
        Packet {
            diag: Diag::NONE,
            state,
            poll: false,
            final_: false,
            control_plane_independent: false,
            demand: false,
            detect_mult: 3,
            my_discriminator: 77,
            your_discriminator: 1,
            desired_min_tx: 300_000,
            required_min_rx: 300_000,
            required_min_echo_rx: 0,
        }
    }

    /// The peer's answer to our Poll Sequence: Up, with Final.
    fn final_from_peer() -> Packet {
        Packet {
            final_: true,
            ..from_peer(State::Up)
        }
    }

    fn session(now: Instant) -> Session {
        Session::new(1, timers(), now)
    }

    fn up(now: Instant) -> Session {
        let mut s = session(now);
        s.receive(&from_peer(State::Down), now, 0.0);
        s.receive(&from_peer(State::Up), now, 0.0);
        assert_eq!(s.state(), State::Up);
        s
    }

    fn moved(step: &Step) -> Option<(State, State, Diag)> {
        step.transition.map(|t| (t.from, t.to, t.diag))
    }

    #[test]
    fn a_new_session_is_down_and_sends_at_once_with_slow_timers() {
        let now = Instant::now();
        let mut s = session(now);
        assert_eq!(s.state(), State::Down);
        assert_eq!(s.next_deadline(), Some(now));
        let step = s.on_time(now, 0.0);
        assert_eq!(step.send.len(), 1);
        let p = step.send[0];
        assert_eq!(
            (p.state, p.your_discriminator, p.my_discriminator),
            (State::Down, 0, 1)
        );
        assert_eq!(p.desired_min_tx, 1_000_000, "at least 1 s while not Up");
        assert_eq!(p.required_min_rx, 300_000);
        assert!(
            !p.control_plane_independent,
            "we share fate with the daemon"
        );
        // The next one after 75–100 % of 1 s.
        let next = s.next_deadline().unwrap() - now;
        assert!(next >= 750 * MS && next <= 1000 * MS, "{next:?}");
    }

    #[test]
    fn down_receiving_down_goes_init_and_init_receiving_init_or_up_goes_up() {
        let now = Instant::now();
        for second in [State::Init, State::Up] {
            let mut s = session(now);
            let step = s.receive(&from_peer(State::Down), now, 0.0);
            assert_eq!(moved(&step), Some((State::Down, State::Init, Diag::NONE)));
            assert_eq!(
                step.send[0].state,
                State::Init,
                "a state change is sent at once"
            );
            assert_eq!(step.send[0].your_discriminator, 77);
            let step = s.receive(&from_peer(second), now, 0.0);
            assert_eq!(moved(&step), Some((State::Init, State::Up, Diag::NONE)));
            assert_eq!(s.transitions(), 2);
        }
    }

    #[test]
    fn down_receiving_init_goes_straight_up_and_down_ignores_up() {
        let now = Instant::now();
        let mut s = session(now);
        let step = s.receive(&from_peer(State::Init), now, 0.0);
        assert_eq!(moved(&step), Some((State::Down, State::Up, Diag::NONE)));
        let mut s = session(now);
        let step = s.receive(&from_peer(State::Up), now, 0.0);
        assert_eq!(step.transition, None);
        assert_eq!(s.state(), State::Down);
    }

    #[test]
    fn init_stays_on_down_and_up_stays_on_init_or_up() {
        let now = Instant::now();
        let mut s = session(now);
        s.receive(&from_peer(State::Down), now, 0.0);
        assert_eq!(
            s.receive(&from_peer(State::Down), now, 0.0).transition,
            None
        );
        let mut s = up(now);
        for st in [State::Init, State::Up] {
            assert_eq!(s.receive(&from_peer(st), now, 0.0).transition, None);
        }
    }

    #[test]
    fn up_receiving_down_goes_down_with_neighbor_signaled_down_as_a_failure() {
        let now = Instant::now();
        let mut s = up(now);
        let step = s.receive(&from_peer(State::Down), now, 0.0);
        let t = step.transition.unwrap();
        assert_eq!((t.to, t.diag), (State::Down, Diag::NEIGHBOR_SIGNALED_DOWN));
        assert!(t.is_failure());
        assert_eq!(step.send[0].diag, Diag::NEIGHBOR_SIGNALED_DOWN);
    }

    #[test]
    fn the_peers_admindown_takes_us_down_but_is_not_a_failure() {
        let now = Instant::now();
        for start in [State::Init, State::Up] {
            let mut s = session(now);
            s.receive(&from_peer(State::Down), now, 0.0);
            if start == State::Up {
                s.receive(&from_peer(State::Up), now, 0.0);
            }
            let step = s.receive(&from_peer(State::AdminDown), now, 0.0);
            let t = step.transition.unwrap();
            assert_eq!(
                (t.from, t.to, t.diag),
                (start, State::Down, Diag::NEIGHBOR_SIGNALED_DOWN)
            );
            assert!(t.remote_admin_down && !t.is_failure(), "RFC 5882 §3.2");
        }
        // Down receiving AdminDown stays Down.
        let mut s = session(now);
        assert_eq!(
            s.receive(&from_peer(State::AdminDown), now, 0.0).transition,
            None
        );
    }

    #[test]
    fn nothing_received_for_the_detection_time_is_a_failure_with_diag_1() {
        let now = Instant::now();
        let mut s = up(now);
        // 3 × max(300 ms, 300 ms).
        assert_eq!(s.detect_time(), 900 * MS);
        let step = s.on_time(now + 899 * MS, 0.0);
        assert_eq!(step.transition, None);
        let step = s.on_time(now + 900 * MS, 0.0);
        let t = step.transition.unwrap();
        assert_eq!((t.to, t.diag), (State::Down, Diag::DETECTION_TIME_EXPIRED));
        assert!(t.is_failure());
        assert_eq!(
            s.remote_discriminator(),
            0,
            "§6.8.1: forgotten after a Detection Time"
        );
        // A packet refreshes the timer.
        let mut s = up(now);
        s.receive(&from_peer(State::Up), now + 800 * MS, 0.0);
        assert_eq!(s.on_time(now + 1000 * MS, 0.0).transition, None);
    }

    #[test]
    fn the_detection_time_uses_the_peers_multiplier_and_the_slower_of_the_two_intervals() {
        let now = Instant::now();
        let mut s = session(now);
        let p = Packet {
            detect_mult: 5,
            desired_min_tx: 1_000_000,
            ..from_peer(State::Down)
        };
        s.receive(&p, now, 0.0);
        assert_eq!(s.detect_time(), 5 * Duration::from_secs(1));
        let p = Packet {
            detect_mult: 2,
            desired_min_tx: 100_000,
            ..from_peer(State::Up)
        };
        s.receive(&p, now, 0.0);
        assert_eq!(s.detect_time(), 600 * MS, "2 × our 300 ms Required Min RX");
    }

    #[test]
    fn the_detection_timer_in_down_does_nothing_but_forget_the_peer() {
        let now = Instant::now();
        let mut s = session(now);
        s.receive(&from_peer(State::Up), now, 0.0); // stays Down
        let step = s.on_time(now + Duration::from_secs(5), 0.0);
        assert_eq!(step.transition, None);
        assert_eq!(s.remote_discriminator(), 0);
    }

    #[test]
    fn reaching_up_advertises_the_configured_interval_with_a_poll_until_the_final() {
        let now = Instant::now();
        let mut s = up(now);
        assert!(s.polling());
        let p = s.packet(false);
        assert!(p.poll && !p.final_);
        assert_eq!(p.desired_min_tx, 300_000);
        assert_eq!(
            s.tx_interval(),
            Some(300 * MS),
            "a decrease applies at once"
        );
        s.receive(&final_from_peer(), now, 0.0);
        assert!(!s.polling() && !s.packet(false).poll);
    }

    #[test]
    fn a_poll_from_the_peer_is_answered_at_once_with_final_and_no_poll() {
        let now = Instant::now();
        let mut s = up(now);
        let p = Packet {
            poll: true,
            desired_min_tx: 100_000,
            required_min_rx: 500_000,
            ..from_peer(State::Up)
        };
        let step = s.receive(&p, now, 0.0);
        assert_eq!(step.send.len(), 1);
        assert!(step.send[0].final_ && !step.send[0].poll);
        // The peer's new timers apply: we send no faster than its 500 ms Required Min RX.
        assert_eq!(s.tx_interval(), Some(500 * MS));
        assert_eq!(s.detect_time(), 900 * MS);
    }

    /// FRR bfdd advertises 1 s Required Min RX until it is Up, then polls with its configured
    /// 300 ms and computes its Detection Time from our 300 ms once our Final is in.
    #[test]
    fn a_lower_required_min_rx_from_the_peer_brings_the_next_packet_forward() {
        let now = Instant::now();
        let slow_peer = |state| Packet {
            desired_min_tx: 1_000_000,
            required_min_rx: 1_000_000,
            ..from_peer(state)
        };
        let mut s = session(now);
        s.receive(&slow_peer(State::Down), now, 0.0);
        s.receive(&slow_peer(State::Up), now, 1.0);
        assert_eq!(s.state(), State::Up);
        assert_eq!(s.tx_interval(), Some(Duration::from_secs(1)));
        assert_eq!(s.next_deadline(), Some(now + Duration::from_secs(1)));
        let poll = Packet {
            poll: true,
            ..from_peer(State::Up)
        };
        let later = now + 10 * MS;
        let step = s.receive(&poll, later, 1.0);
        assert!(step.send.iter().any(|p| p.final_));
        assert_eq!(s.tx_interval(), Some(300 * MS));
        assert_eq!(
            s.next_deadline(),
            Some(later + 300 * MS),
            "the next packet leaves within the new interval, not a second after the last one"
        );
        // A longer interval from the peer does not postpone a packet already due sooner.
        let step = s.receive(&slow_peer(State::Up), later, 0.0);
        assert!(step.send.is_empty());
        assert_eq!(s.next_deadline(), Some(later + 300 * MS));
    }

    #[test]
    fn leaving_up_goes_back_to_slow_transmission() {
        let now = Instant::now();
        let mut s = up(now);
        s.on_time(now + 900 * MS, 0.0);
        assert_eq!(s.state(), State::Down);
        assert_eq!(s.packet(false).desired_min_tx, 1_000_000);
        assert_eq!(s.tx_interval(), Some(Duration::from_secs(1)));
    }

    #[test]
    fn a_peer_that_wants_no_packets_gets_none_periodically() {
        let now = Instant::now();
        let mut s = session(now);
        let p = Packet {
            required_min_rx: 0,
            ..from_peer(State::Down)
        };
        s.receive(&p, now, 0.0);
        assert_eq!(s.tx_interval(), None);
        s.on_time(now, 0.0);
        let later = s.on_time(now + Duration::from_secs(10), 0.0);
        assert!(later.send.is_empty());
    }

    #[test]
    fn jitter_keeps_the_interval_between_75_and_100_percent_or_90_with_multiplier_1() {
        let now = Instant::now();
        for (mult, top) in [(3u8, 1.0), (1, 0.9)] {
            for j in [0.0, 0.5, 0.999] {
                let mut s = Session::new(
                    1,
                    Timers {
                        detect_mult: mult,
                        ..timers()
                    },
                    now,
                );
                s.on_time(now, j);
                let gap = (s.next_deadline().unwrap() - now).as_secs_f64();
                assert!(
                    (0.75..=top + 1e-9).contains(&gap),
                    "mult {mult} jitter {j}: {gap}"
                );
            }
        }
    }

    #[test]
    fn slower_timers_while_up_wait_for_the_final_of_their_poll_sequence() {
        let now = Instant::now();
        let mut s = up(now);
        s.receive(&final_from_peer(), now, 0.0);
        let slower = Timers {
            desired_min_tx: Duration::from_secs(2),
            required_min_rx: 100 * MS,
            detect_mult: 3,
        };
        s.set_timers(slower, now);
        let p = s.packet(false);
        assert!(p.poll, "a timer change while Up is a Poll Sequence");
        assert_eq!((p.desired_min_tx, p.required_min_rx), (2_000_000, 100_000));
        // Until the peer answers: still 300 ms out, still 900 ms detection.
        assert_eq!(s.tx_interval(), Some(300 * MS));
        assert_eq!(s.detect_time(), 900 * MS);
        s.receive(&final_from_peer(), now, 0.0);
        assert!(!s.polling());
        assert_eq!(s.tx_interval(), Some(Duration::from_secs(2)));
        assert_eq!(
            s.detect_time(),
            900 * MS,
            "3 × max(100 ms, the peer's 300 ms)"
        );
    }

    #[test]
    fn faster_timers_while_up_apply_at_once_and_poll() {
        let now = Instant::now();
        let mut s = up(now);
        s.receive(&final_from_peer(), now, 0.0);
        let faster = Timers {
            desired_min_tx: 100 * MS,
            required_min_rx: Duration::from_secs(1),
            detect_mult: 5,
        };
        s.set_timers(faster, now);
        assert!(s.polling());
        assert_eq!(s.packet(false).detect_mult, 5);
        assert_eq!(
            s.tx_interval(),
            Some(300 * MS),
            "the peer still wants at most 300 ms"
        );
        assert_eq!(s.detect_time(), 3 * Duration::from_secs(1));
    }

    #[test]
    fn timers_changed_while_down_apply_without_a_poll() {
        let now = Instant::now();
        let mut s = session(now);
        s.set_timers(
            Timers {
                desired_min_tx: 50 * MS,
                required_min_rx: 50 * MS,
                detect_mult: 3,
            },
            now,
        );
        assert!(!s.polling());
        let p = s.packet(false);
        assert_eq!((p.desired_min_tx, p.required_min_rx), (1_000_000, 50_000));
    }

    #[test]
    fn admin_down_is_sent_at_once_and_then_ignores_the_peer() {
        let now = Instant::now();
        let mut s = up(now);
        let step = s.admin_down(now, 0.0);
        let t = step.transition.unwrap();
        assert_eq!(
            (t.from, t.to, t.diag),
            (State::Up, State::AdminDown, Diag::ADMIN_DOWN)
        );
        assert!(!t.is_failure());
        assert_eq!(step.send[0].state, State::AdminDown);
        assert_eq!(
            s.receive(&from_peer(State::Down), now, 0.0),
            Step::default()
        );
        assert_eq!(s.state(), State::AdminDown);
        assert_eq!(
            s.on_time(now + Duration::from_secs(10), 0.0).transition,
            None
        );
    }
}
