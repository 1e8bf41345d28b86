//! Fuzz target bodies for BFD, shared by the cargo-fuzz targets in `fuzz/` and by the stable
//! `tests/fuzz_smoke.rs`, as for BGP (`crate::bgp::fuzzing`). Each function must never panic
//! on any input; a panic is a finding.

use std::time::{Duration, Instant};

use super::packet::{Packet, State, LEN};
use super::session::{Session, Step, Timers, SLOW_TX};

/// A stream of datagrams as the socket hands them over: each is one length byte and that many
/// bytes. Every datagram that decodes must encode to 24 bytes that decode to the same packet,
/// and must satisfy the §6.8.6 checks the decoder promises.
pub fn decode_datagrams(data: &[u8]) {
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let (datagram, next) = tail.split_at(n);
        rest = next;
        let Ok(p) = Packet::decode(datagram) else {
            continue;
        };
        assert_ne!(p.detect_mult, 0, "decoded a packet with detect mult 0");
        assert_ne!(
            p.my_discriminator, 0,
            "decoded a packet with my discriminator 0"
        );
        assert!(
            p.your_discriminator != 0 || matches!(p.state, State::Down | State::AdminDown),
            "decoded your discriminator 0 in state {}",
            p.state
        );
        let bytes = p.encode();
        assert_eq!(bytes.len(), LEN);
        let again = Packet::decode(&bytes)
            .unwrap_or_else(|e| panic!("re-encoded {p:?} does not decode: {e}"));
        assert_eq!(again, p, "decode(encode(p)) != p");
    }
}

/// The discriminator the fuzzed session uses for itself.
const LOCAL: u32 = 0x0a0b_0c0d;

/// One session fed a peer's packets and the passing of time on a virtual clock. Byte 0 and 1
/// pick the configured timers; then each byte is an operation:
///
/// - `0x00..=0x3f`: time advances by that many 10 ms steps, then the timers run;
/// - `0x40..=0x5f`: new timers from a reload (the low 5 bits pick them);
/// - `0x60`: local AdminDown;
/// - `0x80..`: a datagram from the peer, the next 24 bytes; bit 0 sets Your Discriminator to
///   ours and bit 1 fixes My Discriminator, so the fuzzer reaches Init and Up easily. It goes
///   through the codec as on the wire; what the codec discards never reaches the session.
///
/// Checked after every step: what we send passes our own reception checks (a peer would not
/// discard it), never carries P and F together, advertises at least 1 s while not Up; an Up
/// session knows its peer's discriminator. Returns the states entered, in order.
pub fn session_conversation(data: &[u8]) -> Vec<State> {
    let mut entered = Vec::new();
    let [a, b, ops @ ..] = data else {
        return entered;
    };
    let mut now = Instant::now();
    let mut s = Session::new(LOCAL, timers(*a, *b), now);
    let first = s.on_time(now, 0.0);
    check(&s, &first);
    let mut rest = ops;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        let jitter = f64::from(op) / 256.0;
        let step = match op {
            0x00..=0x3f => {
                now += Duration::from_millis(10 * u64::from(op));
                s.on_time(now, jitter)
            }
            0x40..=0x5f => {
                s.set_timers(timers(op, op.rotate_left(3)), now);
                Step::default()
            }
            0x60..=0x7f => s.admin_down(now, jitter),
            _ => {
                let Some((raw, tail)) = rest.split_first_chunk::<LEN>() else {
                    break;
                };
                rest = tail;
                let mut raw = *raw;
                if op & 1 != 0 {
                    raw[8..12].copy_from_slice(&LOCAL.to_be_bytes());
                }
                if op & 2 != 0 {
                    raw[4..8].copy_from_slice(&7u32.to_be_bytes());
                }
                match Packet::decode(&raw) {
                    Ok(p) => s.receive(&p, now, jitter),
                    Err(_) => Step::default(),
                }
            }
        };
        check(&s, &step);
        entered.extend(step.transition.map(|t| t.to));
    }
    entered
}

/// Timers as configuration allows them (10 ms to 60 s, multiplier 1 to 255).
fn timers(a: u8, b: u8) -> Timers {
    const MS: [u64; 8] = [10, 50, 100, 300, 1000, 2000, 10_000, 60_000];
    Timers {
        desired_min_tx: Duration::from_millis(MS[usize::from(a & 7)]),
        required_min_rx: Duration::from_millis(MS[usize::from(a >> 3 & 7)]),
        detect_mult: b.max(1),
    }
}

fn check(s: &Session, step: &Step) {
    if s.state() == State::Up {
        assert_ne!(
            s.remote_discriminator(),
            0,
            "Up without a remote discriminator"
        );
    }
    for p in &step.send {
        assert!(!(p.poll && p.final_), "P and F together: {p:?}");
        assert_eq!(p.my_discriminator, LOCAL);
        if p.state != State::Up {
            assert!(
                Duration::from_micros(u64::from(p.desired_min_tx)) >= SLOW_TX,
                "faster than 1 s while {}: {p:?}",
                p.state
            );
        }
        let back = Packet::decode(&p.encode())
            .unwrap_or_else(|e| panic!("our own packet {p:?} is discarded: {e}"));
        assert_eq!(&back, p);
    }
    if let Some(t) = step.transition {
        assert_eq!(t.to, s.state(), "transition does not match the state");
        assert_ne!(t.from, t.to, "a transition to the same state");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scripted_conversation_reaches_up_and_back() {
        // Peer Down (your discriminator 0) → we go Init; peer Up with our discriminator → Up;
        // then silence longer than the detection time → Down.
        let mut peer_down = [0u8; LEN];
        peer_down[0] = 0x20;
        peer_down[1] = 1 << 6;
        peer_down[2] = 3;
        peer_down[3] = 24;
        let mut peer_up = peer_down;
        peer_up[1] = 3 << 6;
        let mut data = vec![0x1b, 3, 0x82];
        data.extend_from_slice(&peer_down);
        data.push(0x83);
        data.extend_from_slice(&peer_up);
        data.extend_from_slice(&[0x3f; 4]);
        let entered = session_conversation(&data);
        assert_eq!(entered, [State::Init, State::Up, State::Down]);
        decode_datagrams(&[&[24u8][..], &peer_up, &[3, 1, 2, 3]].concat());
    }
}
