//! The IPVS generic netlink family as bytes: pure encode and decode, no socket.
//!
//! Constants are from the kernel's `include/uapi/linux/ip_vs.h` (IPVS_GENL_NAME "IPVS",
//! IPVS_GENL_VERSION 1, the `IPVS_CMD_*`, `IPVS_CMD_ATTR_*`, `IPVS_SVC_ATTR_*` and
//! `IPVS_DEST_ATTR_*` enums, `struct ip_vs_flags`, `IP_VS_CONN_F_*`) and
//! `include/uapi/linux/genetlink.h` (GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_*). The
//! attribute order of a service follows ipvsadm's `libipvs.c` (`ipvs_nl_fill_service_attr`):
//! AF, PROTOCOL, ADDR, PORT, SCHED_NAME, FLAGS, TIMEOUT, NETMASK.
//!
//! ```text
//!  struct nlmsghdr (16)          struct genlmsghdr (4)    attributes (TLV, 4-byte aligned)
//! +-------+------+-------+-----+-----+-------+---------+ +---------+---------+---------+
//! | len32 | type | flags | seq | pid | cmd 8 | version | | len16   | type16  | value   |
//! |       | =fam |       |     |     |       | 8, res16| |         |         | + pad   |
//! +-------+------+-------+-----+-----+-------+---------+ +---------+---------+---------+
//! ```
//!
//! Netlink integers are in host byte order, except the ports, which IPVS keeps in network
//! order (`__be16`). Addresses are always 16 bytes (`union nf_inet_addr`), IPv4 in the first 4.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::{Forwarding, Protocol};
use crate::dataplane::state::{DestKey, DestParams, ServiceKey, ServiceParams};

/// Generic netlink family name and version (ip_vs.h: IPVS_GENL_NAME, IPVS_GENL_VERSION).
pub const IPVS_GENL_NAME: &str = "IPVS";
pub const IPVS_GENL_VERSION: u8 = 1;

/// netlink.h message flags and types.
pub const NLM_F_REQUEST: u16 = 0x01;
pub const NLM_F_MULTI: u16 = 0x02;
pub const NLM_F_ACK: u16 = 0x04;
/// NLM_F_ROOT | NLM_F_MATCH.
pub const NLM_F_DUMP: u16 = 0x300;
pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
const NLMSG_HDRLEN: usize = 16;
/// netlink.h: the top two bits of nla_type are NLA_F_NESTED and NLA_F_NET_BYTEORDER.
const NLA_TYPE_MASK: u16 = 0x3fff;

/// genetlink.h: the controller family and its GETFAMILY command.
pub const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;

/// ip_vs.h `enum { IPVS_CMD_UNSPEC = 0, IPVS_CMD_NEW_SERVICE, ... }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpvsCmd {
    NewService,
    SetService,
    DelService,
    GetService,
    NewDest,
    SetDest,
    DelDest,
    GetDest,
    GetInfo,
    Flush,
}

impl From<IpvsCmd> for u8 {
    fn from(cmd: IpvsCmd) -> u8 {
        match cmd {
            IpvsCmd::NewService => 1,
            IpvsCmd::SetService => 2,
            IpvsCmd::DelService => 3,
            IpvsCmd::GetService => 4,
            IpvsCmd::NewDest => 5,
            IpvsCmd::SetDest => 6,
            IpvsCmd::DelDest => 7,
            IpvsCmd::GetDest => 8,
            // 9..=14: DAEMON and CONFIG commands, SET_INFO.
            IpvsCmd::GetInfo => 15,
            // 16: ZERO.
            IpvsCmd::Flush => 17,
        }
    }
}

impl TryFrom<u8> for IpvsCmd {
    type Error = u8;
    fn try_from(v: u8) -> Result<IpvsCmd, u8> {
        Ok(match v {
            1 => IpvsCmd::NewService,
            2 => IpvsCmd::SetService,
            3 => IpvsCmd::DelService,
            4 => IpvsCmd::GetService,
            5 => IpvsCmd::NewDest,
            6 => IpvsCmd::SetDest,
            7 => IpvsCmd::DelDest,
            8 => IpvsCmd::GetDest,
            15 => IpvsCmd::GetInfo,
            17 => IpvsCmd::Flush,
            other => return Err(other),
        })
    }
}

/// ip_vs.h: first-level attributes.
const IPVS_CMD_ATTR_SERVICE: u16 = 1;
const IPVS_CMD_ATTR_DEST: u16 = 2;

/// ip_vs.h: `IPVS_SVC_ATTR_*`.
const IPVS_SVC_ATTR_AF: u16 = 1;
const IPVS_SVC_ATTR_PROTOCOL: u16 = 2;
const IPVS_SVC_ATTR_ADDR: u16 = 3;
const IPVS_SVC_ATTR_PORT: u16 = 4;
const IPVS_SVC_ATTR_FWMARK: u16 = 5;
const IPVS_SVC_ATTR_SCHED_NAME: u16 = 6;
const IPVS_SVC_ATTR_FLAGS: u16 = 7;
const IPVS_SVC_ATTR_TIMEOUT: u16 = 8;
const IPVS_SVC_ATTR_NETMASK: u16 = 9;

/// ip_vs.h: `IPVS_DEST_ATTR_*`.
const IPVS_DEST_ATTR_ADDR: u16 = 1;
const IPVS_DEST_ATTR_PORT: u16 = 2;
const IPVS_DEST_ATTR_FWD_METHOD: u16 = 3;
const IPVS_DEST_ATTR_WEIGHT: u16 = 4;
const IPVS_DEST_ATTR_U_THRESH: u16 = 5;
const IPVS_DEST_ATTR_L_THRESH: u16 = 6;
const IPVS_DEST_ATTR_ADDR_FAMILY: u16 = 11;

/// ip_vs.h: IP_VS_SVC_F_PERSISTENT.
const IP_VS_SVC_F_PERSISTENT: u32 = 0x0001;
/// ip_vs.h: IP_VS_CONN_F_FWD_MASK and the forwarding methods.
const IP_VS_CONN_F_FWD_MASK: u32 = 0x0007;
pub const IP_VS_CONN_F_MASQ: u32 = 0x0000;
pub const IP_VS_CONN_F_TUNNEL: u32 = 0x0002;
pub const IP_VS_CONN_F_DROUTE: u32 = 0x0003;

/// socket.h / in.h.
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const IPPROTO_TCP: u16 = 6;
const IPPROTO_UDP: u16 = 17;
const IPPROTO_SCTP: u16 = 132;

/// The kernel encoding of a forwarding method (IPVS_DEST_ATTR_FWD_METHOD).
pub fn fwd_method(f: Forwarding) -> u32 {
    match f {
        Forwarding::Masq => IP_VS_CONN_F_MASQ,
        Forwarding::Tunnel => IP_VS_CONN_F_TUNNEL,
        Forwarding::Route => IP_VS_CONN_F_DROUTE,
    }
}

fn af(addr: &IpAddr) -> u16 {
    match addr {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

fn proto_number(p: Protocol) -> u16 {
    match p {
        Protocol::Tcp => IPPROTO_TCP,
        Protocol::Udp => IPPROTO_UDP,
        Protocol::Sctp => IPPROTO_SCTP,
    }
}

fn proto_from_number(n: u16) -> Option<Protocol> {
    match n {
        IPPROTO_TCP => Some(Protocol::Tcp),
        IPPROTO_UDP => Some(Protocol::Udp),
        IPPROTO_SCTP => Some(Protocol::Sctp),
        _ => None,
    }
}

/// `union nf_inet_addr`: 16 bytes, IPv4 in the first four.
fn inet_addr(addr: &IpAddr) -> [u8; 16] {
    let mut out = [0u8; 16];
    match addr {
        IpAddr::V4(a) => out[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => out.copy_from_slice(&a.octets()),
    }
    out
}

/// Appends one attribute (header, value, padding to 4 bytes).
fn put_attr(buf: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = 4 + value.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(value);
    buf.resize(buf.len() + (4 - len % 4) % 4, 0);
}

/// Appends a nested attribute whose content `fill` writes. Like libnl's `nla_nest_start` in
/// the versions ipvsadm is built with, NLA_F_NESTED is not set (IPVS parses either way).
fn put_nested(buf: &mut Vec<u8>, kind: u16, fill: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.extend_from_slice(&[0, 0]);
    buf.extend_from_slice(&kind.to_ne_bytes());
    fill(buf);
    let len = (buf.len() - start) as u16;
    buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
}

fn put_service_id(buf: &mut Vec<u8>, key: &ServiceKey) {
    put_attr(buf, IPVS_SVC_ATTR_AF, &af(&key.address).to_ne_bytes());
    put_attr(
        buf,
        IPVS_SVC_ATTR_PROTOCOL,
        &proto_number(key.protocol).to_ne_bytes(),
    );
    put_attr(buf, IPVS_SVC_ATTR_ADDR, &inet_addr(&key.address));
    put_attr(buf, IPVS_SVC_ATTR_PORT, &key.port.to_be_bytes());
}

/// IPVS_CMD_ATTR_SERVICE: the identity, plus the settings when given (NEW/SET_SERVICE).
fn put_service(buf: &mut Vec<u8>, key: &ServiceKey, params: Option<&ServiceParams>) {
    put_nested(buf, IPVS_CMD_ATTR_SERVICE, |b| {
        put_service_id(b, key);
        if let Some(p) = params {
            let mut name = p.scheduler.as_bytes().to_vec();
            name.push(0);
            put_attr(b, IPVS_SVC_ATTR_SCHED_NAME, &name);
            let flags = if p.persistence > 0 {
                IP_VS_SVC_F_PERSISTENT
            } else {
                0
            };
            // struct ip_vs_flags { __u32 flags; __u32 mask; }: mask ~0 sets every flag, as
            // libipvs does.
            let mut f = flags.to_ne_bytes().to_vec();
            f.extend_from_slice(&u32::MAX.to_ne_bytes());
            put_attr(b, IPVS_SVC_ATTR_FLAGS, &f);
            put_attr(b, IPVS_SVC_ATTR_TIMEOUT, &p.persistence.to_ne_bytes());
            // Persistence granularity: per client address (/32, /128), ipvsadm's default.
            let netmask: u32 = match key.address {
                IpAddr::V4(_) => u32::MAX,
                IpAddr::V6(_) => 128,
            };
            put_attr(b, IPVS_SVC_ATTR_NETMASK, &netmask.to_ne_bytes());
        }
    });
}

/// IPVS_CMD_ATTR_DEST: the identity, plus the settings when given (NEW/SET_DEST).
fn put_dest(buf: &mut Vec<u8>, dest: &DestKey, params: Option<&DestParams>) {
    put_nested(buf, IPVS_CMD_ATTR_DEST, |b| {
        put_attr(b, IPVS_DEST_ATTR_ADDR, &inet_addr(&dest.address));
        put_attr(b, IPVS_DEST_ATTR_PORT, &dest.port.to_be_bytes());
        if let Some(p) = params {
            put_attr(
                b,
                IPVS_DEST_ATTR_FWD_METHOD,
                &(p.fwd_method & IP_VS_CONN_F_FWD_MASK).to_ne_bytes(),
            );
            put_attr(b, IPVS_DEST_ATTR_WEIGHT, &p.weight.to_ne_bytes());
            put_attr(b, IPVS_DEST_ATTR_U_THRESH, &0u32.to_ne_bytes());
            put_attr(b, IPVS_DEST_ATTR_L_THRESH, &0u32.to_ne_bytes());
        }
        // Lets an IPv4 service have IPv6 destinations and back (tunnel mode, Linux >= 4.1).
        put_attr(
            b,
            IPVS_DEST_ATTR_ADDR_FAMILY,
            &af(&dest.address).to_ne_bytes(),
        );
    });
}

/// A whole netlink message: nlmsghdr (length filled in), genlmsghdr, attributes.
fn message(family: u16, flags: u16, seq: u32, cmd: u8, version: u8, attrs: &[u8]) -> Vec<u8> {
    let len = NLMSG_HDRLEN + 4 + attrs.len();
    let mut buf = Vec::with_capacity(len);
    buf.extend_from_slice(&(len as u32).to_ne_bytes());
    buf.extend_from_slice(&family.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    // nlmsg_pid 0: the kernel fills in the sender's port.
    buf.extend_from_slice(&0u32.to_ne_bytes());
    buf.extend_from_slice(&[cmd, version, 0, 0]);
    buf.extend_from_slice(attrs);
    buf
}

/// A request of the IPVS family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    NewService(&'a ServiceKey, &'a ServiceParams),
    SetService(&'a ServiceKey, &'a ServiceParams),
    DelService(&'a ServiceKey),
    NewDest(&'a ServiceKey, &'a DestKey, &'a DestParams),
    SetDest(&'a ServiceKey, &'a DestKey, &'a DestParams),
    DelDest(&'a ServiceKey, &'a DestKey),
    /// Dump all services.
    GetServices,
    /// Dump the destinations of one service.
    GetDests(&'a ServiceKey),
}

impl Request<'_> {
    pub fn cmd(&self) -> IpvsCmd {
        match self {
            Request::NewService(..) => IpvsCmd::NewService,
            Request::SetService(..) => IpvsCmd::SetService,
            Request::DelService(..) => IpvsCmd::DelService,
            Request::NewDest(..) => IpvsCmd::NewDest,
            Request::SetDest(..) => IpvsCmd::SetDest,
            Request::DelDest(..) => IpvsCmd::DelDest,
            Request::GetServices => IpvsCmd::GetService,
            Request::GetDests(..) => IpvsCmd::GetDest,
        }
    }

    fn is_dump(&self) -> bool {
        matches!(self, Request::GetServices | Request::GetDests(_))
    }

    /// The message bytes, for the family id the controller gave us.
    pub fn encode(&self, family: u16, seq: u32) -> Vec<u8> {
        let mut attrs = Vec::new();
        match self {
            Request::NewService(k, p) | Request::SetService(k, p) => {
                put_service(&mut attrs, k, Some(p))
            }
            Request::DelService(k) | Request::GetDests(k) => put_service(&mut attrs, k, None),
            Request::NewDest(k, d, p) | Request::SetDest(k, d, p) => {
                put_service(&mut attrs, k, None);
                put_dest(&mut attrs, d, Some(p));
            }
            Request::DelDest(k, d) => {
                put_service(&mut attrs, k, None);
                put_dest(&mut attrs, d, None);
            }
            Request::GetServices => {}
        }
        let flags = if self.is_dump() {
            NLM_F_REQUEST | NLM_F_DUMP
        } else {
            NLM_F_REQUEST | NLM_F_ACK
        };
        message(
            family,
            flags,
            seq,
            self.cmd().into(),
            IPVS_GENL_VERSION,
            &attrs,
        )
    }
}

/// CTRL_CMD_GETFAMILY for "IPVS" (answered with the family id, or ENOENT).
pub fn encode_get_family(seq: u32) -> Vec<u8> {
    let mut attrs = Vec::new();
    let mut name = IPVS_GENL_NAME.as_bytes().to_vec();
    name.push(0);
    put_attr(&mut attrs, CTRL_ATTR_FAMILY_NAME, &name);
    message(
        GENL_ID_CTRL,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        CTRL_CMD_GETFAMILY,
        1,
        &attrs,
    )
}

/// One netlink message out of a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming<'a> {
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

impl Incoming<'_> {
    /// For NLMSG_ERROR: 0 for an ack, else the (positive) errno.
    pub fn errno(&self) -> Option<i32> {
        if self.kind != NLMSG_ERROR {
            return None;
        }
        let code = self
            .payload
            .get(..4)
            .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
        // A truncated error message is an error too (EPROTO).
        Some(code.map(|c| -c).unwrap_or(71))
    }

    /// The attributes after the genl header.
    pub fn genl_attrs(&self) -> Attrs<'_> {
        Attrs(self.payload.get(4..).unwrap_or(&[]))
    }
}

/// Splits a received datagram into messages; stops at the first malformed header.
pub fn split_messages(mut buf: &[u8]) -> Vec<Incoming<'_>> {
    let mut out = Vec::new();
    while buf.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            break;
        }
        out.push(Incoming {
            kind: u16::from_ne_bytes([buf[4], buf[5]]),
            flags: u16::from_ne_bytes([buf[6], buf[7]]),
            seq: u32::from_ne_bytes([buf[8], buf[9], buf[10], buf[11]]),
            payload: &buf[NLMSG_HDRLEN..len],
        });
        let aligned = (len + 3) & !3;
        buf = buf.get(aligned..).unwrap_or(&[]);
    }
    out
}

/// A run of attributes; iterating yields (type without flag bits, value).
#[derive(Debug, Clone, Copy)]
pub struct Attrs<'a>(pub &'a [u8]);

impl<'a> Attrs<'a> {
    pub fn get(&self, kind: u16) -> Option<&'a [u8]> {
        self.into_iter().find(|(k, _)| *k == kind).map(|(_, v)| v)
    }

    fn u16(&self, kind: u16) -> Option<u16> {
        self.get(kind)
            .and_then(|v| Some(u16::from_ne_bytes(v.get(..2)?.try_into().ok()?)))
    }

    fn u16_be(&self, kind: u16) -> Option<u16> {
        self.get(kind)
            .and_then(|v| Some(u16::from_be_bytes(v.get(..2)?.try_into().ok()?)))
    }

    fn u32(&self, kind: u16) -> Option<u32> {
        self.get(kind)
            .and_then(|v| Some(u32::from_ne_bytes(v.get(..4)?.try_into().ok()?)))
    }
}

impl<'a> IntoIterator for &Attrs<'a> {
    type Item = (u16, &'a [u8]);
    type IntoIter = AttrIter<'a>;
    fn into_iter(self) -> AttrIter<'a> {
        AttrIter(self.0)
    }
}

pub struct AttrIter<'a>(&'a [u8]);

impl<'a> Iterator for AttrIter<'a> {
    type Item = (u16, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let b = self.0;
        if b.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let kind = u16::from_ne_bytes([b[2], b[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > b.len() {
            return None;
        }
        let value = &b[4..len];
        self.0 = b.get((len + 3) & !3..).unwrap_or(&[]);
        Some((kind, value))
    }
}

fn addr_from(af: u16, raw: &[u8]) -> Option<IpAddr> {
    match af {
        AF_INET => Some(IpAddr::V4(Ipv4Addr::from(
            <[u8; 4]>::try_from(raw.get(..4)?).ok()?,
        ))),
        AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(raw.get(..16)?).ok()?,
        ))),
        _ => None,
    }
}

/// The family id in a CTRL_CMD_NEWFAMILY answer.
pub fn decode_family_id(msg: &Incoming<'_>) -> Option<u16> {
    msg.genl_attrs().u16(CTRL_ATTR_FAMILY_ID)
}

/// A service out of an IPVS_CMD_NEW_SERVICE dump message. `None` for what the model does not
/// express (fwmark services, other protocols or families): those are left alone.
pub fn decode_service(msg: &Incoming<'_>) -> Option<(ServiceKey, ServiceParams)> {
    let svc = Attrs(msg.genl_attrs().get(IPVS_CMD_ATTR_SERVICE)?);
    if svc.u32(IPVS_SVC_ATTR_FWMARK).unwrap_or(0) != 0 {
        return None;
    }
    let af = svc.u16(IPVS_SVC_ATTR_AF)?;
    let key = ServiceKey {
        protocol: proto_from_number(svc.u16(IPVS_SVC_ATTR_PROTOCOL)?)?,
        address: addr_from(af, svc.get(IPVS_SVC_ATTR_ADDR)?)?,
        port: svc.u16_be(IPVS_SVC_ATTR_PORT)?,
    };
    let scheduler = svc.get(IPVS_SVC_ATTR_SCHED_NAME).unwrap_or(&[]);
    let scheduler = scheduler.split(|b| *b == 0).next().unwrap_or(&[]);
    let flags = svc.u32(IPVS_SVC_ATTR_FLAGS).unwrap_or(0);
    let timeout = svc.u32(IPVS_SVC_ATTR_TIMEOUT).unwrap_or(0);
    let params = ServiceParams {
        scheduler: String::from_utf8_lossy(scheduler).into_owned(),
        persistence: if flags & IP_VS_SVC_F_PERSISTENT != 0 {
            timeout
        } else {
            0
        },
    };
    Some((key, params))
}

/// A destination out of an IPVS_CMD_NEW_DEST dump message of a service of family `service_af`.
pub fn decode_dest(msg: &Incoming<'_>, service: &ServiceKey) -> Option<(DestKey, DestParams)> {
    let d = Attrs(msg.genl_attrs().get(IPVS_CMD_ATTR_DEST)?);
    let af = d
        .u16(IPVS_DEST_ATTR_ADDR_FAMILY)
        .unwrap_or_else(|| af(&service.address));
    let key = DestKey {
        address: addr_from(af, d.get(IPVS_DEST_ATTR_ADDR)?)?,
        port: d.u16_be(IPVS_DEST_ATTR_PORT)?,
    };
    let params = DestParams {
        weight: d.u32(IPVS_DEST_ATTR_WEIGHT)?,
        fwd_method: d.u32(IPVS_DEST_ATTR_FWD_METHOD)? & IP_VS_CONN_F_FWD_MASK,
    };
    Some((key, params))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ServiceKey {
        ServiceKey {
            protocol: Protocol::Tcp,
            address: "10.9.9.9".parse().unwrap(),
            port: 80,
        }
    }

    /// What `ipvsadm -A -t 10.9.9.9:80 -s wrr` sends (libipvs `ipvs_add_service`), derived
    /// field by field from ip_vs.h and `ipvs_nl_fill_service_attr`, for family id 0x1c and
    /// sequence 1 (libnl would put its own pid and sequence; the kernel ignores the pid).
    #[test]
    #[cfg(target_endian = "little")]
    fn new_service_matches_ipvsadm_add_wrr_byte_for_byte() {
        let params = ServiceParams {
            scheduler: "wrr".into(),
            persistence: 0,
        };
        let bytes = Request::NewService(&key(), &params).encode(0x1c, 1);
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            // nlmsghdr: len 104, type 0x1c (IPVS family id), flags REQUEST|ACK, seq 1, pid 0
            0x68, 0, 0, 0,  0x1c, 0,  0x05, 0,  1, 0, 0, 0,  0, 0, 0, 0,
            // genlmsghdr: cmd IPVS_CMD_NEW_SERVICE (1), version 1, reserved
            1, 1, 0, 0,
            // IPVS_CMD_ATTR_SERVICE (1), nested, len 84
            0x54, 0, 1, 0,
            //   IPVS_SVC_ATTR_AF (1) = AF_INET (2), u16 + 2 pad
            6, 0, 1, 0,  2, 0, 0, 0,
            //   IPVS_SVC_ATTR_PROTOCOL (2) = IPPROTO_TCP (6)
            6, 0, 2, 0,  6, 0, 0, 0,
            //   IPVS_SVC_ATTR_ADDR (3) = 10.9.9.9 in a 16-byte nf_inet_addr
            20, 0, 3, 0,  10, 9, 9, 9,  0, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0, 0,
            //   IPVS_SVC_ATTR_PORT (4) = 80 in network order
            6, 0, 4, 0,  0, 80, 0, 0,
            //   IPVS_SVC_ATTR_SCHED_NAME (6) = "wrr\0"
            8, 0, 6, 0,  b'w', b'r', b'r', 0,
            //   IPVS_SVC_ATTR_FLAGS (7) = struct ip_vs_flags { flags 0, mask ~0 }
            12, 0, 7, 0,  0, 0, 0, 0,  0xff, 0xff, 0xff, 0xff,
            //   IPVS_SVC_ATTR_TIMEOUT (8) = 0
            8, 0, 8, 0,  0, 0, 0, 0,
            //   IPVS_SVC_ATTR_NETMASK (9) = 0xffffffff
            8, 0, 9, 0,  0xff, 0xff, 0xff, 0xff,
        ];
        assert_eq!(bytes, expected);
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn new_dest_carries_service_id_then_dest_with_port_in_network_order() {
        let dest = DestKey {
            address: "127.0.0.1".parse().unwrap(),
            port: 8080,
        };
        let params = DestParams {
            weight: 5,
            fwd_method: IP_VS_CONN_F_MASQ,
        };
        let bytes = Request::NewDest(&key(), &dest, &params).encode(0x1c, 2);
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            // nlmsghdr: len 140, type 0x1c, REQUEST|ACK, seq 2, pid 0
            0x8c, 0, 0, 0,  0x1c, 0,  0x05, 0,  2, 0, 0, 0,  0, 0, 0, 0,
            // genlmsghdr: IPVS_CMD_NEW_DEST (5), version 1
            5, 1, 0, 0,
            // IPVS_CMD_ATTR_SERVICE (1): identity only, len 48
            48, 0, 1, 0,
            6, 0, 1, 0,  2, 0, 0, 0,
            6, 0, 2, 0,  6, 0, 0, 0,
            20, 0, 3, 0,  10, 9, 9, 9,  0, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0, 0,
            6, 0, 4, 0,  0, 80, 0, 0,
            // IPVS_CMD_ATTR_DEST (2), len 72
            72, 0, 2, 0,
            //   IPVS_DEST_ATTR_ADDR (1) = 127.0.0.1
            20, 0, 1, 0,  127, 0, 0, 1,  0, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0, 0,
            //   IPVS_DEST_ATTR_PORT (2) = 8080 = 0x1f90 in network order
            6, 0, 2, 0,  0x1f, 0x90, 0, 0,
            //   IPVS_DEST_ATTR_FWD_METHOD (3) = IP_VS_CONN_F_MASQ (0)
            8, 0, 3, 0,  0, 0, 0, 0,
            //   IPVS_DEST_ATTR_WEIGHT (4) = 5
            8, 0, 4, 0,  5, 0, 0, 0,
            //   IPVS_DEST_ATTR_U_THRESH (5), IPVS_DEST_ATTR_L_THRESH (6) = 0
            8, 0, 5, 0,  0, 0, 0, 0,
            8, 0, 6, 0,  0, 0, 0, 0,
            //   IPVS_DEST_ATTR_ADDR_FAMILY (11) = AF_INET
            6, 0, 11, 0,  2, 0, 0, 0,
        ];
        assert_eq!(bytes, expected);
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn get_family_asks_the_controller_for_ipvs() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            // nlmsghdr: len 32, GENL_ID_CTRL, REQUEST|ACK, seq 9
            32, 0, 0, 0,  0x10, 0,  0x05, 0,  9, 0, 0, 0,  0, 0, 0, 0,
            // CTRL_CMD_GETFAMILY (3), version 1
            3, 1, 0, 0,
            // CTRL_ATTR_FAMILY_NAME (2) = "IPVS\0" + 3 pad
            9, 0, 2, 0,  b'I', b'P', b'V', b'S',  0, 0, 0, 0,
        ];
        assert_eq!(encode_get_family(9), expected);
    }

    #[test]
    fn dump_requests_use_the_dump_flags_and_no_ack() {
        let bytes = Request::GetServices.encode(0x1c, 3);
        assert_eq!(
            u16::from_ne_bytes([bytes[6], bytes[7]]),
            NLM_F_REQUEST | NLM_F_DUMP
        );
        assert_eq!(bytes.len(), 20);
        assert_eq!(bytes[16], 4, "IPVS_CMD_GET_SERVICE");
    }

    /// Turns a request into what the kernel would send back in a dump (same attributes,
    /// NEW_* command), so encode and decode are checked against each other.
    fn as_reply(req: Vec<u8>) -> Vec<u8> {
        req
    }

    #[test]
    fn service_round_trips_through_encode_and_decode_v4_and_v6() {
        for (addr, proto, persistence) in [
            ("10.100.0.1", Protocol::Udp, 0),
            ("2001:db8::1", Protocol::Sctp, 300),
        ] {
            let key = ServiceKey {
                protocol: proto,
                address: addr.parse().unwrap(),
                port: 443,
            };
            let params = ServiceParams {
                scheduler: "mh".into(),
                persistence,
            };
            let bytes = as_reply(Request::NewService(&key, &params).encode(0x1c, 1));
            let msgs = split_messages(&bytes);
            assert_eq!(msgs.len(), 1);
            assert_eq!(decode_service(&msgs[0]), Some((key, params)));
        }
    }

    #[test]
    fn dest_round_trips_including_a_v6_dest_of_a_v4_service() {
        let dest = DestKey {
            address: "2001:db8::10".parse().unwrap(),
            port: 8443,
        };
        let params = DestParams {
            weight: 65535,
            fwd_method: IP_VS_CONN_F_TUNNEL,
        };
        let bytes = Request::NewDest(&key(), &dest, &params).encode(0x1c, 1);
        let msgs = split_messages(&bytes);
        assert_eq!(decode_dest(&msgs[0], &key()), Some((dest, params)));
    }

    #[test]
    fn fwmark_services_are_not_decoded() {
        let mut attrs = Vec::new();
        put_nested(&mut attrs, IPVS_CMD_ATTR_SERVICE, |b| {
            put_attr(b, IPVS_SVC_ATTR_AF, &AF_INET.to_ne_bytes());
            put_attr(b, IPVS_SVC_ATTR_FWMARK, &7u32.to_ne_bytes());
        });
        let bytes = message(0x1c, 0, 1, 1, 1, &attrs);
        assert_eq!(decode_service(&split_messages(&bytes)[0]), None);
    }

    #[test]
    fn split_messages_reads_acks_errors_and_stops_at_garbage() {
        let mut buf = Vec::new();
        for (seq, code) in [(5u32, 0i32), (6, -2)] {
            buf.extend_from_slice(&36u32.to_ne_bytes());
            buf.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
            buf.extend_from_slice(&0u16.to_ne_bytes());
            buf.extend_from_slice(&seq.to_ne_bytes());
            buf.extend_from_slice(&0u32.to_ne_bytes());
            buf.extend_from_slice(&code.to_ne_bytes());
            buf.extend_from_slice(&[0; 16]);
        }
        buf.extend_from_slice(&[0xff; 7]);
        let msgs = split_messages(&buf);
        assert_eq!(msgs.len(), 2);
        assert_eq!((msgs[0].seq, msgs[0].errno()), (5, Some(0)));
        assert_eq!((msgs[1].seq, msgs[1].errno()), (6, Some(2)));
    }

    #[test]
    fn truncated_or_lying_lengths_never_panic() {
        for len in 0..64 {
            let mut buf = Request::NewService(
                &key(),
                &ServiceParams {
                    scheduler: "rr".into(),
                    persistence: 1,
                },
            )
            .encode(0x1c, 1);
            buf.truncate(len);
            for m in split_messages(&buf) {
                let _ = decode_service(&m);
                let _ = decode_dest(&m, &key());
                let _ = m.errno();
            }
            // Attribute lengths that point past the end.
            let attrs = [0xff, 0xff, 1, 0, 1, 2];
            let _ = (&Attrs(&attrs)).into_iter().count();
        }
    }
}
