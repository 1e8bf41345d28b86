//! Generic netlink as bytes (netlink.h, genetlink.h): the message header (`struct nlmsghdr`)
//! and the generic header (`struct genlmsghdr`), attributes (`struct nlattr`: type-length-value,
//! padded to 4 bytes, nested), splitting a datagram into messages and reading an attribute
//! stream, and the controller's family lookup (CTRL_CMD_GETFAMILY). The IPVS family's commands
//! and attributes on top of it are [`super::message`]'s.
//!
//! ```text
//!  struct nlmsghdr (16)          struct genlmsghdr (4)    attributes (TLV, 4-byte aligned)
//! +-------+------+-------+-----+-----+-------+---------+ +---------+---------+---------+
//! | len32 | type | flags | seq | pid | cmd 8 | version | | len16   | type16  | value   |
//! |       | =fam |       |     |     |       | 8, res16| |         |         | + pad   |
//! +-------+------+-------+-----+-----+-------+---------+ +---------+---------+---------+
//! ```
//!
//! Netlink integers are in host byte order.
//!
//! Our own code rather than `netlink-packet-generic`'s `GenlMessage`/`GenlFamily` (which would
//! put IPVS on the rust-netlink stack beside rtnetlink): that means re-expressing every IPVS
//! attribute as an `Nla` implementation and re-checking against the ipvsadm captures and the
//! kernel that the bytes stay the same (NLA_F_NESTED on nested attributes as libnl sends
//! them, attribute order, the reply parsing that masks the flag bits), for a framing of under
//! two hundred lines here, each byte of it unit-tested. The socket is neli's (`super::socket`).

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
const NLA_F_NESTED: u16 = 0x8000;

/// genetlink.h: the controller family and its GETFAMILY command.
pub const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;

/// Appends one attribute (header, value, padding to 4 bytes).
pub(super) fn put_attr(buf: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = 4 + value.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(value);
    buf.resize(buf.len() + (4 - len % 4) % 4, 0);
}

/// Appends a nested attribute whose content `fill` writes, flagged NLA_F_NESTED as libnl 3
/// (and so ipvsadm) sends it. The kernel's own dumps leave the flag off; the decoder masks it.
pub(super) fn put_nested(buf: &mut Vec<u8>, kind: u16, fill: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.extend_from_slice(&[0, 0]);
    buf.extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
    fill(buf);
    let len = (buf.len() - start) as u16;
    buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
}

/// A whole netlink message: nlmsghdr (length filled in), genlmsghdr, attributes.
pub(super) fn message(
    family: u16,
    flags: u16,
    seq: u32,
    cmd: u8,
    version: u8,
    attrs: &[u8],
) -> Vec<u8> {
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

    pub(super) fn u16(&self, kind: u16) -> Option<u16> {
        self.get(kind)
            .and_then(|v| Some(u16::from_ne_bytes(v.get(..2)?.try_into().ok()?)))
    }

    pub(super) fn u16_be(&self, kind: u16) -> Option<u16> {
        self.get(kind)
            .and_then(|v| Some(u16::from_be_bytes(v.get(..2)?.try_into().ok()?)))
    }

    pub(super) fn u32(&self, kind: u16) -> Option<u32> {
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

/// The family id in a CTRL_CMD_NEWFAMILY answer.
pub fn decode_family_id(msg: &Incoming<'_>) -> Option<u16> {
    msg.genl_attrs().u16(CTRL_ATTR_FAMILY_ID)
}

/// CTRL_CMD_GETFAMILY for the family called `name` (answered with its id, or ENOENT).
pub fn get_family_request(name: &str, seq: u32) -> Vec<u8> {
    let mut attrs = Vec::new();
    let mut name = name.as_bytes().to_vec();
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::fixture;
    use super::*;

    // The controller's answer was captured with the IPVS fixtures (see `super::super::message`).

    /// The start of the controller's answer (CTRL_CMD_NEWFAMILY); ops and groups cut off.
    const CAPTURED_FAMILY_REPLY: &str = "
        30000000 1000 0000 06a5016b d00040d3   nlmsghdr (length adjusted to the cut)
        01 02 0000                             CTRL_CMD_NEWFAMILY, version 2
        0900 0200 49505653 00000000            CTRL_ATTR_FAMILY_NAME = \"IPVS\"
        0600 0100 2000 0000                    CTRL_ATTR_FAMILY_ID = 0x20
        0800 0300 01000000                     CTRL_ATTR_VERSION = 1";

    #[test]
    #[cfg(target_endian = "little")]
    fn family_id_is_read_from_the_controllers_answer() {
        let bytes = fixture(CAPTURED_FAMILY_REPLY);
        let msgs = split_messages(&bytes);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].seq, 0x6b01_a506);
        assert_eq!(decode_family_id(&msgs[0]), Some(0x20));
    }

    #[test]
    fn split_messages_reads_acks_errors_and_stops_at_garbage() {
        let mut buf = Vec::new();
        for (seq, code) in [(5u32, 0i32), (6, -libc::ENOENT)] {
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
        assert_eq!((msgs[1].seq, msgs[1].errno()), (6, Some(libc::ENOENT)));
    }
}
