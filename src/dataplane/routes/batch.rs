//! Many route requests in one netlink datagram, and their acks matched back to them. Pure.
//!
//! The kernel handles every message of a datagram in turn (`netlink_rcv_skb`) and acks each
//! one, success or failure, with an NLMSG_ERROR carrying the request's sequence number, so a
//! batch of N requests is one `sendmsg` and N acks. A failure does not stop the batch.
//!
//! ```text
//!  one sendmsg:  [nlmsghdr seq=s   RTM_NEWROUTE rtmsg attrs][nlmsghdr seq=s+1 ...]...[seq=s+N-1]
//!  acks:         NLMSG_ERROR seq=s error=0 | NLMSG_ERROR seq=s+1 error=-EEXIST [echo] [TLVs] | ...
//! ```
//!
//! An ack is attributed by `seq - s` (wrapping), so acks may come in any order and an ack of
//! another request (a stale one, say) is ignored. With NETLINK_EXT_ACK the kernel appends its
//! reason as NLMSGERR_ATTR_MSG (e.g. "Nexthop device is not up"), which is kept.

use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL,
    NLM_F_REQUEST,
};

use super::{request, Change, Request};
use crate::dataplane::ipvs::error::errno_text;
use crate::dataplane::ipvs::genl::{split_messages, Attrs, Incoming, NLMSG_ERROR};

/// Requests per datagram. Each ack is its own skb in the socket's receive queue (about 1 KiB
/// of truesize), and acks beyond the receive buffer are dropped (ENOBUFS), so a batch stays
/// well inside the 208 KiB default (`net.core.rmem_default`); the socket asks for more.
pub const BATCH: usize = 128;

/// netlink.h: NLMSG_ERROR flags and attributes.
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;
const NLMSG_HDRLEN: usize = 16;

/// A request the kernel refused: its errno and, with extended acks, its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nack {
    pub errno: i32,
    pub message: Option<String>,
}

impl std::fmt::Display for Nack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&errno_text(self.errno))?;
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

/// One datagram holding every request, sequence numbers `first_seq`, `first_seq + 1`, ...
pub fn frame(requests: &[Request], first_seq: u32) -> Vec<u8> {
    let mut buf = Vec::new();
    for (i, req) in requests.iter().enumerate() {
        let msg = request(req);
        let (payload, flags) = match req.change {
            Change::Add => (
                RouteNetlinkMessage::NewRoute(msg),
                NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            ),
            Change::Del => (
                RouteNetlinkMessage::DelRoute(msg),
                NLM_F_REQUEST | NLM_F_ACK,
            ),
        };
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = first_seq.wrapping_add(i as u32);
        let mut nl = NetlinkMessage::new(header, NetlinkPayload::from(payload));
        nl.finalize();
        let start = buf.len();
        buf.resize(start + nl.buffer_len(), 0);
        nl.serialize(&mut buf[start..]);
        // Messages start on 4-byte boundaries (NLMSG_ALIGN).
        buf.resize(buf.len().next_multiple_of(4), 0);
    }
    buf
}

/// The acks of one batch as they arrive.
#[derive(Debug)]
pub struct Acks {
    first_seq: u32,
    results: Vec<Option<Result<(), Nack>>>,
    waiting: usize,
}

impl Acks {
    pub fn new(first_seq: u32, len: usize) -> Acks {
        Acks {
            first_seq,
            results: vec![None; len],
            waiting: len,
        }
    }

    /// Records every ack of this batch in a received datagram.
    pub fn take(&mut self, datagram: &[u8]) {
        for m in split_messages(datagram) {
            let Some(errno) = m.errno() else { continue };
            let idx = m.seq.wrapping_sub(self.first_seq) as usize;
            let Some(slot @ None) = self.results.get_mut(idx) else {
                continue;
            };
            *slot = Some(if errno == 0 {
                Ok(())
            } else {
                Err(Nack {
                    errno,
                    message: ext_ack_message(&m),
                })
            });
            self.waiting -= 1;
        }
    }

    /// Whether every request has its ack.
    pub fn complete(&self) -> bool {
        self.waiting == 0
    }

    /// Each request's outcome, in order; a request without an ack gets `missing` (its fate is
    /// unknown: the caller's next dump finds out).
    pub fn finish(self, missing: &Nack) -> Vec<Result<(), Nack>> {
        self.results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(missing.clone())))
            .collect()
    }
}

/// NLMSGERR_ATTR_MSG of an extended ack: after the errno and the echoed request (only its
/// header when NLM_F_CAPPED), when NLM_F_ACK_TLVS says TLVs follow.
fn ext_ack_message(m: &Incoming<'_>) -> Option<String> {
    if m.kind != NLMSG_ERROR || m.flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let echo = m.payload.get(4..)?;
    let echoed_len = if m.flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        u32::from_ne_bytes(echo.get(..4)?.try_into().ok()?) as usize
    };
    let tlvs = Attrs(echo.get(echoed_len.next_multiple_of(4)..)?);
    let text = tlvs.get(NLMSGERR_ATTR_MSG)?;
    let text = text.split(|b| *b == 0).next().unwrap_or(text);
    Some(String::from_utf8_lossy(text).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::routes::{ROUTE_METRIC, ROUTE_PROTO};

    fn req(change: Change, address: &str) -> Request {
        Request {
            change,
            address: address.parse().unwrap(),
            oif: Some(3),
            metric: ROUTE_METRIC,
        }
    }

    /// An ack as the kernel writes it: NLMSG_ERROR, errno, the echoed request header, then
    /// (when `reason`) NLMSGERR_ATTR_MSG with NLM_F_CAPPED | NLM_F_ACK_TLVS.
    fn ack(seq: u32, errno: i32, reason: Option<&str>) -> Vec<u8> {
        let mut payload = (-errno).to_ne_bytes().to_vec();
        let mut echo = vec![0u8; 16];
        echo[..4].copy_from_slice(&60u32.to_ne_bytes());
        echo[8..12].copy_from_slice(&seq.to_ne_bytes());
        payload.extend(echo);
        let mut flags = 0;
        if let Some(r) = reason {
            flags = NLM_F_CAPPED | NLM_F_ACK_TLVS;
            let mut v = r.as_bytes().to_vec();
            v.push(0);
            let len = 4 + v.len();
            payload.extend((len as u16).to_ne_bytes());
            payload.extend(NLMSGERR_ATTR_MSG.to_ne_bytes());
            payload.extend(v);
            payload.resize(payload.len().next_multiple_of(4), 0);
        }
        let mut m = ((16 + payload.len()) as u32).to_ne_bytes().to_vec();
        m.extend(NLMSG_ERROR.to_ne_bytes());
        m.extend(flags.to_ne_bytes());
        m.extend(seq.to_ne_bytes());
        m.extend([0; 4]);
        m.extend(payload);
        m
    }

    #[test]
    fn a_batch_is_one_buffer_of_whole_messages_with_consecutive_sequence_numbers() {
        let reqs = [
            req(Change::Add, "10.100.0.1"),
            req(Change::Add, "2001:db8::1"),
            req(Change::Del, "10.100.0.2"),
        ];
        let buf = frame(&reqs, u32::MAX);
        let msgs = split_messages(&buf);
        assert_eq!(msgs.len(), 3);
        let seqs: Vec<u32> = msgs.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [u32::MAX, 0, 1], "sequence numbers wrap");
        // RTM_NEWROUTE 24 with REQUEST|ACK|EXCL|CREATE; RTM_DELROUTE 25 with REQUEST|ACK.
        assert_eq!(msgs[0].kind, 24);
        assert_eq!(msgs[0].flags, 0x01 | 0x04 | 0x200 | 0x400);
        assert_eq!(msgs[2].kind, 25);
        assert_eq!(msgs[2].flags, 0x01 | 0x04);
        // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type.
        assert_eq!(
            msgs[0].payload[..8],
            [2, 32, 0, 0, 255, ROUTE_PROTO, 254, 2]
        );
        assert_eq!(
            msgs[1].payload[..8],
            [10, 128, 0, 0, 255, ROUTE_PROTO, 254, 2]
        );
        // Every message whole and aligned: the lengths add up to the buffer.
        let total: usize = msgs.iter().map(|m| 16 + m.payload.len()).sum();
        assert_eq!(total, buf.len());
    }

    #[test]
    fn acks_are_attributed_by_sequence_number_in_any_order() {
        let mut acks = Acks::new(100, 3);
        let mut datagram = ack(102, 0, None);
        datagram.extend(ack(100, libc::EEXIST, None));
        acks.take(&datagram);
        assert!(!acks.complete());
        // Not ours: an ack of an earlier batch, and one past the end.
        acks.take(&ack(99, libc::EINVAL, None));
        acks.take(&ack(103, libc::EINVAL, None));
        // A duplicate ack does not count twice.
        acks.take(&ack(102, libc::EINVAL, None));
        assert!(!acks.complete());
        acks.take(&ack(101, libc::ENODEV, Some("Nexthop device is not up")));
        assert!(acks.complete());
        let missing = Nack {
            errno: libc::ENOBUFS,
            message: None,
        };
        let out = acks.finish(&missing);
        assert_eq!(
            out,
            vec![
                Err(Nack {
                    errno: libc::EEXIST,
                    message: None
                }),
                Err(Nack {
                    errno: libc::ENODEV,
                    message: Some("Nexthop device is not up".into())
                }),
                Ok(()),
            ]
        );
        assert_eq!(
            out[1].as_ref().unwrap_err().to_string(),
            "No such device (ENODEV): Nexthop device is not up"
        );
    }

    #[test]
    fn a_request_whose_ack_never_came_gets_the_missing_outcome() {
        let mut acks = Acks::new(7, 2);
        acks.take(&ack(7, 0, None));
        let missing = Nack {
            errno: libc::ENOBUFS,
            message: Some("ack lost".into()),
        };
        assert_eq!(acks.finish(&missing), vec![Ok(()), Err(missing.clone())]);
    }
}
