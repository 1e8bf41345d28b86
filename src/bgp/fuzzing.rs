//! Fuzz target bodies, shared by the cargo-fuzz targets in `fuzz/` and by the stable
//! `tests/fuzz_smoke.rs` (which replays the checked-in corpus plus random mutations), so both
//! exercise exactly the same code. Each function must never panic on any input; a panic is a
//! finding.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::fsm::{Action, Event, Fsm, FsmConfig};
use super::message::{self, CodecContext, Message, PathAttribute, TYPE_OPEN, TYPE_UPDATE};
use crate::status::PeerState;

/// Wire bytes as they arrive from a peer: byte 0 picks the codec context, the rest is a
/// stream of messages, framed and decoded one after another as the session does. Every
/// message that decodes must encode to bytes that decode to the same message.
pub fn decode_stream(data: &[u8]) {
    let Some((&ctx_byte, mut rest)) = data.split_first() else {
        return;
    };
    let ctx = CodecContext {
        four_octet_as: ctx_byte & 1 == 1,
    };
    // Also a bare body of every type, as if the header had been valid.
    for kind in 1..=5 {
        let _ = Message::decode(kind, rest, &ctx);
    }
    loop {
        let (kind, len) = match message::frame(rest) {
            Ok(Some(f)) => f,
            Ok(None) | Err(_) => return,
        };
        if let Ok(m) = Message::decode(kind, &rest[message::HEADER_LEN..len], &ctx) {
            round_trip(&m, &ctx);
        }
        rest = &rest[len..];
    }
}

fn round_trip(m: &Message, ctx: &CodecContext) {
    let bytes = m.to_bytes(ctx);
    // Our own encoder must produce something our own framer accepts, unless the message is
    // too big to encode (a decoded message is at most 4096 bytes, so re-encoding it can only
    // exceed that if encoding is not canonical; that is checked by equality below).
    let Ok(Some((kind, len))) = message::frame(&bytes) else {
        panic!("re-encoded message does not frame: {m:?} -> {bytes:02x?}");
    };
    assert_eq!(len, bytes.len(), "re-encoded length");
    let again = Message::decode(kind, &bytes[message::HEADER_LEN..], ctx)
        .unwrap_or_else(|e| panic!("re-encoded {m:?} does not decode: {e}"));
    assert_eq!(
        normalise(again),
        normalise(m.clone()),
        "decode(encode(m)) != m"
    );
}

/// What re-encoding legitimately changes: treat_as_withdraw records how the received bytes
/// were broken (the re-encoded message is repaired: broken attributes were dropped), and an
/// unrecognised optional transitive attribute passed on gains the Partial flag (RFC 4271 §5),
/// and its Extended Length and four unused low bits are re-derived.
fn normalise(m: Message) -> Message {
    match m {
        Message::Update(mut u) => {
            u.treat_as_withdraw = None;
            for a in &mut u.attributes {
                if let PathAttribute::Unknown { flags, .. } = a {
                    *flags &= 0xc0;
                }
            }
            Message::Update(u)
        }
        m => m,
    }
}

/// A peer's whole conversation with one FSM: byte 0 configures it (passive, hold time,
/// graceful restart, extended next hop, IPv4 offered or not), then each byte is an operation: a timer or TCP event, or (high bit set)
/// a message whose length follows in the next byte, decoded and turned into an event exactly
/// as the session does. Checks the FSM's invariants after every step.
pub fn fsm_conversation(data: &[u8]) {
    let Some((&cfg_byte, mut rest)) = data.split_first() else {
        return;
    };
    let config = FsmConfig {
        local_asn: 65001,
        router_id: Ipv4Addr::new(10, 0, 0, 2),
        peer_asn: if cfg_byte & 2 == 0 {
            65000
        } else {
            4_200_000_000
        },
        hold_time: [0, 3, 9, 90][usize::from(cfg_byte >> 2 & 3)],
        connect_retry: Duration::from_secs(1),
        passive: cfg_byte & 1 == 1,
        graceful_restart: (cfg_byte & 16 != 0).then_some(120),
        forwarding_preserved: cfg_byte & 32 != 0,
        families: crate::config::Families {
            ipv4: cfg_byte & 64 == 0,
            ipv6: true,
        },
        extended_next_hop: cfg_byte & 32 != 0,
    };
    let mut fsm = Fsm::new(config);
    let mut ctx = CodecContext::default();
    check(&mut fsm, Event::ManualStart, &mut ctx);
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        let event = if op & 0x80 == 0 {
            match op % 13 {
                0 => Event::ManualStart,
                1 => Event::ManualStartPassive,
                2 => Event::ManualStop {
                    cease_subcode: op >> 4,
                },
                3 => Event::ConnectRetryTimerExpires,
                4 => Event::HoldTimerExpires,
                5 => Event::KeepaliveTimerExpires,
                6 => Event::TcpCrAcked,
                7 => Event::TcpConnectionConfirmed,
                8 => Event::TcpConnectionFails,
                9 => Event::WriteTimedOut,
                10 => Event::MaxPrefixExceeded {
                    afi: 1,
                    safi: 1,
                    limit: 10,
                },
                11 => Event::BfdDown,
                _ => Event::KeepAliveMsg,
            }
        } else {
            let Some((&len, tail)) = rest.split_first() else {
                return;
            };
            let len = usize::from(len).min(tail.len());
            let (body, tail) = tail.split_at(len);
            rest = tail;
            let kind = (op & 0x7f) % 6;
            match Message::decode(kind, body, &ctx) {
                Ok(m) => message_event(m),
                Err(e) if kind == TYPE_OPEN => Event::BgpOpenMsgErr(e),
                Err(e) if kind == TYPE_UPDATE => Event::UpdateMsgErr(e),
                Err(e) => Event::BgpHeaderErr(e),
            }
        };
        check(&mut fsm, event, &mut ctx);
    }
}

fn message_event(m: Message) -> Event {
    match m {
        Message::Open(o) => Event::BgpOpen(o),
        Message::Update(_) => Event::UpdateMsg,
        Message::Notification(n) => Event::NotifMsg(n),
        Message::Keepalive => Event::KeepAliveMsg,
        Message::RouteRefresh(rr) => Event::RouteRefreshMsg(rr),
    }
}

fn check(fsm: &mut Fsm, event: Event, ctx: &mut CodecContext) {
    let actions = fsm.handle(event);
    let state = fsm.state();
    for a in &actions {
        match a {
            Action::SessionDown(_) => assert_eq!(state, PeerState::Idle, "{actions:?}"),
            Action::SessionEstablished(n) => {
                assert_eq!(state, PeerState::Established);
                *ctx = n.codec();
            }
            Action::SendOpen(o) => {
                // Our OPEN must always be one the peer (and we) can decode.
                let bytes = Message::Open(o.clone()).to_bytes(&CodecContext::default());
                assert!(matches!(message::frame(&bytes), Ok(Some(_))));
            }
            _ => {}
        }
    }
    if matches!(state, PeerState::OpenConfirm | PeerState::Established) {
        assert!(fsm.negotiated().is_some(), "{state:?} without negotiation");
    }
    if state == PeerState::Idle {
        *ctx = CodecContext::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_tiny_inputs_are_fine() {
        for d in [&[][..], &[0], &[1, 0xff], &[0x80, 0x81]] {
            decode_stream(d);
            fsm_conversation(d);
        }
    }
}
