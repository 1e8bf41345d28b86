//! The IPVS socket: a blocking generic netlink socket (neli's `NlSocket`), the family lookup,
//! dumps, and pipelined changes.
//!
//! Blocking is deliberate: the kernel answers IPVS requests synchronously inside `send`, so a
//! `recv` right after never waits on anything but the kernel, and the socket lives on the
//! dataplane's own thread (see `super::super::task`).

use std::collections::{BTreeMap, HashMap};
use std::io;

use neli::consts::socket::{Msg, NlFamily};
use neli::socket::NlSocket;
use neli::utils::Groups;

use super::error::IpvsError;
use super::message::{
    decode_daemon, decode_dest, decode_family_id, decode_service, encode_get_family,
    split_messages, Request, NLMSG_DONE, NLMSG_ERROR,
};
use crate::dataplane::state::{Service, ServiceKey, SyncDaemon};

/// Largest datagram the kernel sends us (dump skbs are at most 32 KiB by default).
const RECV_BUFFER: usize = 64 * 1024;
/// Requests sent before their acks are collected; keeps the acks well inside the socket's
/// receive buffer.
const PIPELINE_DEPTH: usize = 64;
const ENOENT: i32 = 2;

pub struct IpvsSocket {
    sock: NlSocket,
    seq: u32,
    buf: Vec<u8>,
}

impl IpvsSocket {
    /// Opens a generic netlink socket in the calling thread's network namespace.
    pub fn open() -> io::Result<IpvsSocket> {
        let sock = NlSocket::connect(NlFamily::Generic, None, Groups::empty())?;
        Ok(IpvsSocket {
            sock,
            seq: 1,
            buf: vec![0; RECV_BUFFER],
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    fn send(&self, bytes: &[u8]) -> Result<(), IpvsError> {
        self.sock
            .send(bytes, Msg::empty())
            .map(|_| ())
            .map_err(IpvsError::Io)
    }

    /// Receives one datagram and hands each message in it to `each`.
    fn recv(
        &mut self,
        mut each: impl FnMut(&super::message::Incoming<'_>),
    ) -> Result<(), IpvsError> {
        let (n, _) = self
            .sock
            .recv(&mut self.buf[..], Msg::empty())
            .map_err(IpvsError::Io)?;
        for m in split_messages(&self.buf[..n.min(RECV_BUFFER)]) {
            each(&m);
        }
        Ok(())
    }

    /// Looks up the IPVS family id. Done once per pass: it changes if the module is reloaded.
    pub fn family(&mut self) -> Result<u16, IpvsError> {
        let seq = self.next_seq();
        self.send(&encode_get_family(seq))?;
        let mut id = None;
        let mut errno = None;
        while errno.is_none() {
            self.recv(|m| {
                if m.seq != seq {
                    return;
                }
                if let Some(e) = m.errno() {
                    errno = Some(e);
                } else if let Some(found) = decode_family_id(m) {
                    id = Some(found);
                }
            })?;
        }
        match (errno, id) {
            (Some(0), Some(id)) => Ok(id),
            (Some(ENOENT), _) => Err(IpvsError::Unavailable),
            (Some(0), None) => Err(IpvsError::Protocol(
                "controller answered without a family id".into(),
            )),
            (Some(e), _) => Err(IpvsError::Errno(e)),
            (None, _) => unreachable!("loop ends when errno is set"),
        }
    }

    /// Runs a dump and returns each reply's bytes.
    fn dump(&mut self, family: u16, req: Request<'_>) -> Result<Vec<Vec<u8>>, IpvsError> {
        let seq = self.next_seq();
        self.send(&req.encode(family, seq))?;
        let mut replies = Vec::new();
        let mut done = None;
        while done.is_none() {
            self.recv(|m| {
                if m.seq != seq {
                    return;
                }
                match m.kind {
                    NLMSG_DONE => done = Some(0),
                    NLMSG_ERROR => done = Some(m.errno().unwrap_or(0)),
                    k if k == family => {
                        // Keep the whole message so it can be parsed again later.
                        let mut raw = Vec::with_capacity(16 + m.payload.len());
                        raw.extend_from_slice(&((16 + m.payload.len()) as u32).to_ne_bytes());
                        raw.extend_from_slice(&m.kind.to_ne_bytes());
                        raw.extend_from_slice(&m.flags.to_ne_bytes());
                        raw.extend_from_slice(&m.seq.to_ne_bytes());
                        raw.extend_from_slice(&[0; 4]);
                        raw.extend_from_slice(m.payload);
                        replies.push(raw);
                    }
                    _ => {}
                }
            })?;
        }
        match done {
            Some(0) => Ok(replies),
            Some(e) => Err(IpvsError::Errno(e)),
            None => unreachable!("loop ends when done is set"),
        }
    }

    /// Every service (with its destinations) the model can express.
    pub fn dump_services(
        &mut self,
        family: u16,
    ) -> Result<BTreeMap<ServiceKey, Service>, IpvsError> {
        let mut out = BTreeMap::new();
        for raw in self.dump(family, Request::GetServices)? {
            let msgs = split_messages(&raw);
            let Some((key, params)) = msgs.first().and_then(decode_service) else {
                continue;
            };
            out.insert(
                key,
                Service {
                    params,
                    dests: BTreeMap::new(),
                    order: Vec::new(),
                },
            );
        }
        let keys: Vec<ServiceKey> = out.keys().copied().collect();
        for key in keys {
            let dests = match self.dump(family, Request::GetDests(&key)) {
                Ok(d) => d,
                // Deleted between the two dumps: the next pass sees it gone.
                Err(IpvsError::Errno(libc::ESRCH)) => {
                    out.remove(&key);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let entry = out.get_mut(&key).expect("key taken from the map");
            for raw in dests {
                let msgs = split_messages(&raw);
                if let Some((d, p)) = msgs.first().and_then(|m| decode_dest(m, &key)) {
                    // Dumped in the kernel's list order, which mh's table depends on.
                    if entry.dests.insert(d, p).is_none() {
                        entry.order.push(d);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The running connection sync daemons.
    pub fn dump_daemons(&mut self, family: u16) -> Result<Vec<SyncDaemon>, IpvsError> {
        let mut out = Vec::new();
        for raw in self.dump(family, Request::GetDaemons)? {
            let msgs = split_messages(&raw);
            out.extend(msgs.first().and_then(decode_daemon));
        }
        Ok(out)
    }

    /// Sends the requests pipelined (up to [`PIPELINE_DEPTH`] before reading acks) and returns
    /// each one's outcome (`Err(errno)`), in order. Acks are matched by sequence number.
    pub fn execute(&mut self, family: u16, requests: &[Request<'_>]) -> Vec<Result<(), IpvsError>> {
        let mut results = Vec::with_capacity(requests.len());
        for chunk in requests.chunks(PIPELINE_DEPTH) {
            let mut pending: HashMap<u32, usize> = HashMap::new();
            let base = results.len();
            for (i, req) in chunk.iter().enumerate() {
                let seq = self.next_seq();
                match self.send(&req.encode(family, seq)) {
                    Ok(()) => {
                        pending.insert(seq, base + i);
                        results.push(Ok(()));
                    }
                    Err(e) => results.push(Err(e)),
                }
            }
            while !pending.is_empty() {
                let mut acked = Vec::new();
                if let Err(e) = self.recv(|m| {
                    if let (Some(errno), Some(&idx)) = (m.errno(), pending.get(&m.seq)) {
                        acked.push((m.seq, idx, errno));
                    }
                }) {
                    // The socket failed: every request still waiting shares the failure.
                    let text = e.to_string();
                    for idx in pending.values() {
                        results[*idx] = Err(IpvsError::Protocol(text.clone()));
                    }
                    break;
                }
                for (seq, idx, errno) in acked {
                    pending.remove(&seq);
                    if errno != 0 {
                        results[idx] = Err(IpvsError::Errno(errno));
                    }
                }
            }
        }
        results
    }
}
