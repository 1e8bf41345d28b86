//! The BFD Control packet (RFC 5880 §4.1), pure: bytes in, a typed [`Packet`] or a typed
//! [`Discard`] out, and back. The §6.8.6 reception checks that need nothing but the packet are
//! made here; the ones that need the session table (an unknown Your Discriminator) are the
//! demultiplexer's.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       My Discriminator                        |
//! |                      Your Discriminator                       |
//! |                    Desired Min TX Interval                    |
//! |                   Required Min RX Interval                    |
//! |                 Required Min Echo RX Interval                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Intervals are in microseconds. anycastd uses no authentication, so a packet with the A bit
//! set is discarded (§6.8.6: "If the A bit is set and no authentication is in use").

use std::fmt;

/// Length of a Control packet without an authentication section.
pub const LEN: usize = 24;
/// The protocol version this module speaks.
pub const VERSION: u8 = 1;

/// bfd.SessionState / the Sta field (§4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    AdminDown,
    Down,
    Init,
    Up,
}

impl State {
    fn from_bits(b: u8) -> State {
        match b & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    fn bits(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }

    /// `admindown`, `down`, `init`, `up`, as in `/status`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::AdminDown => "admindown",
            State::Down => "down",
            State::Init => "init",
            State::Up => "up",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Diagnostic codes (§4.1), the reason for the last change of state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Diag(pub u8);

impl Diag {
    pub const NONE: Diag = Diag(0);
    pub const DETECTION_TIME_EXPIRED: Diag = Diag(1);
    pub const NEIGHBOR_SIGNALED_DOWN: Diag = Diag(3);
    pub const ADMIN_DOWN: Diag = Diag(7);

    /// The RFC's words for the code, as `/status` shows them.
    pub fn as_str(self) -> &'static str {
        match self.0 {
            0 => "no diagnostic",
            1 => "control detection time expired",
            2 => "echo function failed",
            3 => "neighbor signaled session down",
            4 => "forwarding plane reset",
            5 => "path down",
            6 => "concatenated path down",
            7 => "administratively down",
            8 => "reverse concatenated path down",
            _ => "reserved",
        }
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    pub diag: Diag,
    pub state: State,
    /// P: the sender asks for a packet with F set (a Poll Sequence, §6.5).
    pub poll: bool,
    /// F: the answer to a Poll.
    pub final_: bool,
    /// C: the sender's BFD does not share fate with its control plane. Ours does (it runs in
    /// the daemon's process), so we always send 0.
    pub control_plane_independent: bool,
    /// D: demand mode (we never ask for it, and do not support it from the peer).
    pub demand: bool,
    pub detect_mult: u8,
    pub my_discriminator: u32,
    pub your_discriminator: u32,
    /// Microseconds.
    pub desired_min_tx: u32,
    pub required_min_rx: u32,
    pub required_min_echo_rx: u32,
}

/// Why a received packet is dropped (§6.8.6), counted per reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Discard {
    /// Shorter than the mandatory 24 bytes.
    Truncated(usize),
    BadVersion(u8),
    /// The Length field is below the minimum or beyond the datagram.
    BadLength {
        field: u8,
        datagram: usize,
    },
    DetectMultZero,
    Multipoint,
    MyDiscriminatorZero,
    /// Your Discriminator is zero while the sender is neither Down nor AdminDown.
    YourDiscriminatorZero,
    /// Authentication present: none is configured here.
    Authenticated,
    /// Your Discriminator names no session of ours (the demultiplexer's check).
    UnknownDiscriminator,
    /// Your Discriminator is zero and the source address matches no configured peer.
    UnknownPeer,
    /// Single-hop packet received with a TTL / hop limit below 255 (RFC 5881 §5).
    BadTtl,
}

impl Discard {
    /// Short label for logs and counters.
    pub fn as_str(&self) -> &'static str {
        match self {
            Discard::Truncated(_) => "truncated",
            Discard::BadVersion(_) => "bad version",
            Discard::BadLength { .. } => "bad length",
            Discard::DetectMultZero => "detect multiplier 0",
            Discard::Multipoint => "multipoint bit set",
            Discard::MyDiscriminatorZero => "my discriminator 0",
            Discard::YourDiscriminatorZero => "your discriminator 0 while not down",
            Discard::Authenticated => "authentication not configured",
            Discard::UnknownDiscriminator => "unknown discriminator",
            Discard::UnknownPeer => "unknown peer",
            Discard::BadTtl => "ttl below 255",
        }
    }
}

impl fmt::Display for Discard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Discard::Truncated(n) => write!(f, "truncated: {n} bytes"),
            Discard::BadVersion(v) => write!(f, "bad version {v}"),
            Discard::BadLength { field, datagram } => {
                write!(f, "bad length {field} in a datagram of {datagram} bytes")
            }
            other => f.write_str(other.as_str()),
        }
    }
}

const P: u8 = 0x20;
const F: u8 = 0x10;
const C: u8 = 0x08;
const A: u8 = 0x04;
const D: u8 = 0x02;
const M: u8 = 0x01;

impl Packet {
    /// Decodes one datagram and applies the §6.8.6 checks that need only the packet.
    pub fn decode(b: &[u8]) -> Result<Packet, Discard> {
        let Some(head) = b.first_chunk::<LEN>() else {
            return Err(Discard::Truncated(b.len()));
        };
        let version = head[0] >> 5;
        if version != VERSION {
            return Err(Discard::BadVersion(version));
        }
        let flags = head[1];
        let length = head[3];
        let min = if flags & A != 0 { LEN + 2 } else { LEN };
        if usize::from(length) < min || usize::from(length) > b.len() {
            return Err(Discard::BadLength {
                field: length,
                datagram: b.len(),
            });
        }
        let word = |i: usize| u32::from_be_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let p = Packet {
            diag: Diag(head[0] & 0x1f),
            state: State::from_bits(flags >> 6),
            poll: flags & P != 0,
            final_: flags & F != 0,
            control_plane_independent: flags & C != 0,
            demand: flags & D != 0,
            detect_mult: head[2],
            my_discriminator: word(4),
            your_discriminator: word(8),
            desired_min_tx: word(12),
            required_min_rx: word(16),
            required_min_echo_rx: word(20),
        };
        if p.detect_mult == 0 {
            return Err(Discard::DetectMultZero);
        }
        if flags & M != 0 {
            return Err(Discard::Multipoint);
        }
        if p.my_discriminator == 0 {
            return Err(Discard::MyDiscriminatorZero);
        }
        if p.your_discriminator == 0 && !matches!(p.state, State::Down | State::AdminDown) {
            return Err(Discard::YourDiscriminatorZero);
        }
        if flags & A != 0 {
            return Err(Discard::Authenticated);
        }
        Ok(p)
    }

    /// The 24 bytes on the wire (no authentication section).
    pub fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[0] = VERSION << 5 | (self.diag.0 & 0x1f);
        let mut flags = self.state.bits() << 6;
        for (on, bit) in [
            (self.poll, P),
            (self.final_, F),
            (self.control_plane_independent, C),
            (self.demand, D),
        ] {
            if on {
                flags |= bit;
            }
        }
        b[1] = flags;
        b[2] = self.detect_mult;
        b[3] = LEN as u8;
        for (i, v) in [
            self.my_discriminator,
            self.your_discriminator,
            self.desired_min_tx,
            self.required_min_rx,
            self.required_min_echo_rx,
        ]
        .into_iter()
        .enumerate()
        {
            b[4 + 4 * i..8 + 4 * i].copy_from_slice(&v.to_be_bytes());
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Up packet as FRR's bfdd sends it: diag 0, Up, C clear, mult 3, discriminators
    /// 1 and 2, 300 ms / 300 ms, echo 50 ms.
    const FRR_UP: [u8; 24] = [
        0x20, 0xc0, 0x03, 0x18, // v1 diag 0, Up, mult 3, length 24
        0x00, 0x00, 0x00, 0x01, // my discriminator
        0x00, 0x00, 0x00, 0x02, // your discriminator
        0x00, 0x04, 0x93, 0xe0, // desired min tx 300000 us
        0x00, 0x04, 0x93, 0xe0, // required min rx 300000 us
        0x00, 0x00, 0xc3, 0x50, // required min echo rx 50000 us
    ];

    fn up() -> Packet {
        Packet::decode(&FRR_UP).unwrap()
    }

    #[test]
    fn an_frr_up_packet_decodes_field_by_field_and_encodes_back_byte_for_byte() {
        let p = up();
        assert_eq!(p.state, State::Up);
        assert_eq!(p.diag, Diag::NONE);
        assert!(!p.poll && !p.final_ && !p.control_plane_independent && !p.demand);
        assert_eq!(
            (p.detect_mult, p.my_discriminator, p.your_discriminator),
            (3, 1, 2)
        );
        assert_eq!((p.desired_min_tx, p.required_min_rx), (300_000, 300_000));
        assert_eq!(p.required_min_echo_rx, 50_000);
        assert_eq!(p.encode(), FRR_UP);
    }

    #[test]
    fn every_flag_and_state_round_trips() {
        for state in [State::AdminDown, State::Down, State::Init, State::Up] {
            for bits in 0..16u8 {
                let p = Packet {
                    state,
                    diag: Diag(bits & 7),
                    poll: bits & 1 != 0,
                    final_: bits & 2 != 0,
                    control_plane_independent: bits & 4 != 0,
                    demand: bits & 8 != 0,
                    your_discriminator: 7,
                    ..up()
                };
                assert_eq!(Packet::decode(&p.encode()), Ok(p));
            }
        }
    }

    #[test]
    fn a_packet_shorter_than_24_bytes_is_truncated() {
        for n in 0..24 {
            assert_eq!(Packet::decode(&FRR_UP[..n]), Err(Discard::Truncated(n)));
        }
    }

    #[test]
    fn version_other_than_1_is_discarded() {
        let mut b = FRR_UP;
        b[0] = 0x40 | (b[0] & 0x1f); // version 2
        assert_eq!(Packet::decode(&b), Err(Discard::BadVersion(2)));
        b[0] &= 0x1f; // version 0
        assert_eq!(Packet::decode(&b), Err(Discard::BadVersion(0)));
    }

    #[test]
    fn a_length_field_below_24_or_beyond_the_datagram_is_discarded() {
        let mut b = FRR_UP;
        b[3] = 23;
        assert!(matches!(Packet::decode(&b), Err(Discard::BadLength { .. })));
        b[3] = 25;
        assert!(matches!(Packet::decode(&b), Err(Discard::BadLength { .. })));
        // Trailing bytes beyond a correct Length are allowed (the datagram may be padded).
        let mut long = FRR_UP.to_vec();
        long.extend_from_slice(&[0; 8]);
        assert!(Packet::decode(&long).is_ok());
    }

    #[test]
    fn detect_mult_zero_is_discarded() {
        let mut b = FRR_UP;
        b[2] = 0;
        assert_eq!(Packet::decode(&b), Err(Discard::DetectMultZero));
    }

    #[test]
    fn the_multipoint_bit_is_discarded() {
        let mut b = FRR_UP;
        b[1] |= M;
        assert_eq!(Packet::decode(&b), Err(Discard::Multipoint));
    }

    #[test]
    fn my_discriminator_zero_is_discarded() {
        let mut b = FRR_UP;
        b[4..8].fill(0);
        assert_eq!(Packet::decode(&b), Err(Discard::MyDiscriminatorZero));
    }

    #[test]
    fn your_discriminator_zero_is_only_valid_from_a_down_or_admindown_sender() {
        let mut b = FRR_UP;
        b[8..12].fill(0);
        assert_eq!(Packet::decode(&b), Err(Discard::YourDiscriminatorZero));
        b[1] = (b[1] & 0x3f) | (State::Init.bits() << 6);
        assert_eq!(Packet::decode(&b), Err(Discard::YourDiscriminatorZero));
        for s in [State::Down, State::AdminDown] {
            b[1] = (b[1] & 0x3f) | (s.bits() << 6);
            assert_eq!(Packet::decode(&b).unwrap().state, s);
        }
    }

    #[test]
    fn the_a_bit_is_discarded_because_no_authentication_is_configured() {
        let mut b = FRR_UP.to_vec();
        b[1] |= A;
        // With A set the minimum length is 26: first the length check, then the A check.
        assert!(matches!(Packet::decode(&b), Err(Discard::BadLength { .. })));
        b[3] = 28;
        b.extend_from_slice(&[1, 4, 0, 0]);
        assert_eq!(Packet::decode(&b), Err(Discard::Authenticated));
    }

    #[test]
    fn every_byte_value_at_every_position_decodes_without_panicking() {
        for i in 0..LEN {
            for v in 0..=255u8 {
                let mut b = FRR_UP;
                b[i] = v;
                let _ = Packet::decode(&b);
            }
        }
    }
}
