//! The blocking rtnetlink socket for local routes: the dump of ours, and batched changes.
//!
//! Blocking, like the IPVS socket and for the same reason: the kernel handles a datagram's
//! requests inside `sendmsg`, so every ack is queued by the time `recv` runs, and the socket
//! lives on the dataplane's own thread.

use std::collections::HashMap;
use std::io;

use neli::consts::socket::{Msg, NlFamily};
use neli::socket::NlSocket;
use neli::utils::Groups;
use netlink_packet_route::route::{RouteHeader, RouteMessage, RouteProtocol, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, Parseable, NLM_F_DUMP, NLM_F_REQUEST,
};

use super::batch::{frame, Acks, Nack, BATCH};
use super::{decode, Request, ROUTE_PROTO, TABLE_LOCAL};
use crate::dataplane::ipvs::genl::{split_messages, NLMSG_DONE, NLMSG_ERROR};
use crate::dataplane::state::{Link, LocalRoute};

/// Largest datagram read (dump skbs are at most 32 KiB by default).
const RECV_BUFFER: usize = 64 * 1024;
/// Receive buffer asked for, so that a batch's acks never overflow it (the kernel caps it at
/// `net.core.rmem_max`).
const SOCKET_RCVBUF: usize = 4 << 20;
const RTM_NEWROUTE: u16 = 24;

pub struct RouteSocket {
    sock: NlSocket,
    seq: u32,
    buf: Vec<u8>,
}

impl RouteSocket {
    /// Opens an rtnetlink socket in the calling thread's network namespace, with extended acks
    /// (the kernel's reason for a refusal) and strict checking (dumps filtered by the kernel to
    /// table local, type local, our protocol; [`decode`] filters again for kernels without it).
    pub fn open() -> io::Result<RouteSocket> {
        let sock = NlSocket::connect(NlFamily::Route, None, Groups::empty())?;
        // Best effort, all three: without them batches still work, only slower or terser.
        let _ = sock.set_recv_buffer_size(SOCKET_RCVBUF);
        let _ = sock.enable_ext_ack(true);
        let _ = sock.enable_strict_checking(true);
        Ok(RouteSocket {
            sock,
            seq: 0,
            buf: vec![0; RECV_BUFFER],
        })
    }

    /// Reserves `n` consecutive sequence numbers and returns the first.
    fn reserve(&mut self, n: usize) -> u32 {
        let first = self.seq.wrapping_add(1);
        self.seq = self.seq.wrapping_add(n as u32);
        first
    }

    fn recv(&mut self) -> io::Result<usize> {
        let (n, _) = self.sock.recv(&mut self.buf[..], Msg::empty())?;
        Ok(n.min(RECV_BUFFER))
    }

    /// anycastd's local routes (both families), named by interface; routes on unknown
    /// interface indexes are skipped.
    pub fn dump(&mut self, links: &[Link]) -> io::Result<Vec<LocalRoute>> {
        let by_index: HashMap<u32, &str> =
            links.iter().map(|l| (l.index, l.name.as_str())).collect();
        let mut out = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let seq = self.reserve(1);
            let mut msg = RouteMessage::default();
            msg.header = RouteHeader {
                address_family: family,
                table: TABLE_LOCAL,
                protocol: RouteProtocol::from(ROUTE_PROTO),
                kind: RouteType::Local,
                ..RouteHeader::default()
            };
            let mut header = NetlinkHeader::default();
            header.flags = NLM_F_REQUEST | NLM_F_DUMP;
            header.sequence_number = seq;
            let mut nl = NetlinkMessage::new(
                header,
                NetlinkPayload::from(RouteNetlinkMessage::GetRoute(msg)),
            );
            nl.finalize();
            let mut bytes = vec![0; nl.buffer_len()];
            nl.serialize(&mut bytes);
            self.sock.send(&bytes, Msg::empty())?;
            'dump: loop {
                let n = self.recv()?;
                for m in split_messages(&self.buf[..n]) {
                    if m.seq != seq {
                        continue;
                    }
                    match m.kind {
                        NLMSG_DONE => break 'dump,
                        NLMSG_ERROR => match m.errno() {
                            Some(0) | None => break 'dump,
                            Some(e) => return Err(io::Error::from_raw_os_error(e)),
                        },
                        RTM_NEWROUTE => {
                            let Ok(route) = RouteMessage::parse(m.payload) else {
                                continue;
                            };
                            let Some((oif, address, metric)) = decode(&route) else {
                                continue;
                            };
                            if let Some(name) = by_index.get(&oif) {
                                out.push(LocalRoute {
                                    interface: name.to_string(),
                                    address,
                                    metric,
                                });
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(out)
    }

    /// Sends the requests [`BATCH`] to a datagram and returns each one's outcome, in order.
    pub fn execute(&mut self, requests: &[Request]) -> Vec<Result<(), Nack>> {
        let mut out = Vec::with_capacity(requests.len());
        for chunk in requests.chunks(BATCH) {
            let first = self.reserve(chunk.len());
            let failed = |e: &io::Error, what: &str| Nack {
                errno: e.raw_os_error().unwrap_or(libc::EIO),
                message: Some(what.to_string()),
            };
            if let Err(e) = self.sock.send(frame(chunk, first), Msg::empty()) {
                let nack = failed(&e, "the batch could not be sent");
                out.extend(chunk.iter().map(|_| Err(nack.clone())));
                continue;
            }
            let mut acks = Acks::new(first, chunk.len());
            let mut missing = Nack {
                errno: libc::EIO,
                message: Some("no ack".into()),
            };
            while !acks.complete() {
                match self.recv() {
                    Ok(n) => acks.take(&self.buf[..n]),
                    // ENOBUFS: acks were dropped; what became of their requests is unknown
                    // until the next dump. Late acks of this batch are ignored by seq.
                    Err(e) => {
                        missing = failed(&e, "ack not received");
                        break;
                    }
                }
            }
            out.extend(acks.finish(&missing));
        }
        out
    }
}
