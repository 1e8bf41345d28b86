//! BGP-4 messages (RFC 4271 §4) as owned types, with stateless encode/decode.
//!
//! Our own small codec rather than zettabgp 0.6: that crate's decoders index peer-supplied
//! slices unchecked (e.g. `BgpASitem::decode_from` reads `buf[pos..pos + itemsize]` with a
//! segment count taken from the wire, and `buf.len() - itemsize` can underflow), cast the OPEN
//! header through a raw pointer, and report errors as strings that cannot be mapped to a
//! NOTIFICATION code/subcode. Here every read goes through [`Reader`], which returns a typed
//! error instead of panicking, and every error maps to the NOTIFICATION RFC 4271 §6 asks for.
//!
//! Framing ([`frame`]) is separate from decoding ([`Message::decode`]): the session finds message
//! boundaries in its byte stream, then decodes one body at a time.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           Marker (16 x 0xff)                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Length               |      Type     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

mod attribute;
mod error;
#[cfg(test)]
mod fixtures;
mod notification;
mod open;
mod prefix;
mod update;

pub use attribute::{
    AsPath, AsSegment, MpReach, MpUnreach, Origin, PathAttribute, ATTR_AS4_PATH, ATTR_AS_PATH,
    ATTR_COMMUNITIES, ATTR_LARGE_COMMUNITIES, ATTR_LOCAL_PREF, ATTR_MED, ATTR_MP_REACH,
    ATTR_MP_UNREACH, ATTR_NEXT_HOP, ATTR_ORIGIN,
};
pub use error::{DecodeError, NotifCode};
pub use notification::Notification;
pub use open::{Capability, ExtendedNextHop, GracefulRestart, Open, AS_TRANS};
pub use prefix::Prefix;
pub use update::Update;

/// Length of the fixed header.
pub const HEADER_LEN: usize = 19;
/// Largest message allowed without RFC 8654 (extended messages, not negotiated by us).
pub const MAX_MESSAGE_LEN: usize = 4096;

pub const TYPE_OPEN: u8 = 1;
pub const TYPE_UPDATE: u8 = 2;
pub const TYPE_NOTIFICATION: u8 = 3;
pub const TYPE_KEEPALIVE: u8 = 4;
pub const TYPE_ROUTE_REFRESH: u8 = 5;

/// Address family identifiers (IANA) and the only SAFI we use.
pub const AFI_IPV4: u16 = 1;
pub const AFI_IPV6: u16 = 2;
pub const SAFI_UNICAST: u8 = 1;

/// What decoding and encoding depend on: negotiated on the session, handed in by the FSM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CodecContext {
    /// Both sides announced the 4-octet AS capability (RFC 6793): AS_PATH carries 4-byte ASNs.
    pub four_octet_as: bool,
}

/// One BGP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Open(Open),
    Update(Update),
    Notification(Notification),
    Keepalive,
    RouteRefresh(RouteRefresh),
}

/// ROUTE-REFRESH (RFC 2918): AFI (2), message subtype (1; RFC 7313, reserved in RFC 2918),
/// SAFI (1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteRefresh {
    pub afi: u16,
    pub subtype: u8,
    pub safi: u8,
}

impl RouteRefresh {
    /// RFC 7313 §3 subtype 0: a request to send the family's routes again. (1 and 2 mark the
    /// beginning and end of the peer's own re-advertisement; 3–254 are undefined.)
    pub const REQUEST: u8 = 0;

    /// A plain request for `afi`/`safi`.
    pub fn request(afi: u16, safi: u8) -> RouteRefresh {
        RouteRefresh {
            afi,
            subtype: RouteRefresh::REQUEST,
            safi,
        }
    }
}

/// Finds the next message in `buf`. `Ok(None)`: not enough bytes yet.
/// `Ok(Some((type, total_length)))`: a complete message of that length starts `buf`.
/// Checks the marker, the length bounds and the per-type minimum lengths (RFC 4271 §6.1).
pub fn frame(buf: &[u8]) -> Result<Option<(u8, usize)>, DecodeError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    if buf[..16].iter().any(|&b| b != 0xff) {
        return Err(DecodeError::ConnectionNotSynchronized);
    }
    let len = u16::from_be_bytes([buf[16], buf[17]]);
    let kind = buf[18];
    let min = match kind {
        TYPE_OPEN => 29,
        TYPE_UPDATE => 23,
        TYPE_NOTIFICATION => 21,
        TYPE_KEEPALIVE => 19,
        TYPE_ROUTE_REFRESH => 23,
        other => return Err(DecodeError::BadMessageType(other)),
    };
    let ulen = len as usize;
    if ulen < min || ulen > MAX_MESSAGE_LEN || (kind == TYPE_KEEPALIVE && ulen != HEADER_LEN) {
        return Err(DecodeError::BadMessageLength(len));
    }
    if buf.len() < ulen {
        return Ok(None);
    }
    Ok(Some((kind, ulen)))
}

impl Message {
    /// Decodes one framed message: `kind` and `body` (the bytes after the header) as found by
    /// [`frame`].
    pub fn decode(kind: u8, body: &[u8], ctx: &CodecContext) -> Result<Message, DecodeError> {
        match kind {
            TYPE_OPEN => Open::decode(body).map(Message::Open),
            TYPE_UPDATE => Update::decode(body, ctx).map(Message::Update),
            TYPE_NOTIFICATION => Notification::decode(body).map(Message::Notification),
            TYPE_KEEPALIVE if body.is_empty() => Ok(Message::Keepalive),
            TYPE_KEEPALIVE => Err(DecodeError::BadMessageLength(
                (body.len() + HEADER_LEN) as u16,
            )),
            TYPE_ROUTE_REFRESH => {
                if body.len() != 4 {
                    return Err(DecodeError::RouteRefreshLength(
                        (body.len() + HEADER_LEN) as u16,
                    ));
                }
                Ok(Message::RouteRefresh(RouteRefresh {
                    afi: u16::from_be_bytes([body[0], body[1]]),
                    subtype: body[2],
                    safi: body[3],
                }))
            }
            other => Err(DecodeError::BadMessageType(other)),
        }
    }

    /// Appends the whole message (header included) to `out`.
    pub fn encode(&self, ctx: &CodecContext, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0xff; 16]);
        out.extend_from_slice(&[0, 0]);
        let kind = match self {
            Message::Open(_) => TYPE_OPEN,
            Message::Update(_) => TYPE_UPDATE,
            Message::Notification(_) => TYPE_NOTIFICATION,
            Message::Keepalive => TYPE_KEEPALIVE,
            Message::RouteRefresh(_) => TYPE_ROUTE_REFRESH,
        };
        out.push(kind);
        match self {
            Message::Open(m) => m.encode(out),
            Message::Update(m) => m.encode(ctx, out),
            Message::Notification(m) => m.encode(out),
            Message::Keepalive => {}
            Message::RouteRefresh(r) => {
                out.extend_from_slice(&r.afi.to_be_bytes());
                out.push(r.subtype);
                out.push(r.safi);
            }
        }
        let len = (out.len() - start) as u16;
        out[start + 16..start + 18].copy_from_slice(&len.to_be_bytes());
    }

    /// Convenience: the message encoded into a fresh buffer.
    pub fn to_bytes(&self, ctx: &CodecContext) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(ctx, &mut out);
        out
    }
}

/// A bounds-checked cursor over peer-supplied bytes: every read returns `None` instead of
/// panicking when the input is short, and the caller turns that into its own typed error.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.buf.split_first()?;
        self.buf = rest;
        Some(b)
    }
    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.buf.len() {
            return None;
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(head)
    }
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEPALIVE: [u8; 19] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x00, 0x13, 0x04,
    ];

    #[test]
    fn keepalive_encodes_to_the_nineteen_byte_header() {
        assert_eq!(
            Message::Keepalive.to_bytes(&CodecContext::default()),
            KEEPALIVE
        );
    }

    #[test]
    fn frame_waits_for_a_complete_header_and_body() {
        assert_eq!(frame(&KEEPALIVE[..10]).unwrap(), None);
        assert_eq!(frame(&KEEPALIVE).unwrap(), Some((TYPE_KEEPALIVE, 19)));
        let mut open = KEEPALIVE.to_vec();
        open[17] = 29;
        open[18] = TYPE_OPEN;
        assert_eq!(frame(&open).unwrap(), None);
    }

    #[test]
    fn frame_rejects_a_broken_marker_as_connection_not_synchronized() {
        let mut m = KEEPALIVE;
        m[3] = 0;
        let e = frame(&m).unwrap_err();
        assert_eq!(e, DecodeError::ConnectionNotSynchronized);
        assert_eq!(e.notification().code, 1);
        assert_eq!(e.notification().subcode, 1);
    }

    #[test]
    fn frame_rejects_lengths_outside_19_to_4096_with_the_length_as_data() {
        for len in [0u16, 18, 4097, 0xffff] {
            let mut m = KEEPALIVE;
            m[16..18].copy_from_slice(&len.to_be_bytes());
            m[18] = TYPE_UPDATE;
            let e = frame(&m).unwrap_err();
            assert_eq!(e, DecodeError::BadMessageLength(len));
            let n = e.notification();
            assert_eq!((n.code, n.subcode), (1, 2));
            assert_eq!(n.data, len.to_be_bytes());
        }
    }

    #[test]
    fn frame_rejects_a_keepalive_with_a_body() {
        let mut m = KEEPALIVE.to_vec();
        m[17] = 20;
        m.push(0);
        assert_eq!(frame(&m).unwrap_err(), DecodeError::BadMessageLength(20));
    }

    #[test]
    fn frame_rejects_an_unknown_type_with_the_type_as_data() {
        let mut m = KEEPALIVE;
        m[18] = 9;
        let e = frame(&m).unwrap_err();
        let n = e.notification();
        assert_eq!((n.code, n.subcode, n.data.as_slice()), (1, 3, &[9u8][..]));
    }

    /// A poor man's fuzzer: random bodies of every type, random lengths, both contexts.
    /// The property is only that nothing panics (real fuzzing: see the report).
    #[test]
    fn random_bytes_never_panic_the_decoder() {
        let contexts = [
            CodecContext::default(),
            CodecContext {
                four_octet_as: true,
            },
        ];
        for i in 0..50_000u32 {
            let len = rand::random_range(0..200usize);
            let mut body: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
            // Bias towards plausible structure: small length fields decode further.
            if i % 2 == 0 && body.len() >= 4 {
                body[0] = 0;
                body[1] = rand::random_range(0..8);
                body[2] = 0;
            }
            let kind = rand::random_range(1..=5u8);
            for ctx in &contexts {
                let _ = Message::decode(kind, &body, ctx);
            }
            let mut framed = vec![0xff; 16];
            framed.extend_from_slice(&((len + 19) as u16).to_be_bytes());
            framed.push(kind);
            framed.extend_from_slice(&body);
            if let Ok(Some((k, l))) = frame(&framed) {
                let _ = Message::decode(k, &framed[HEADER_LEN..l], &contexts[1]);
            }
        }
    }

    #[test]
    fn route_refresh_round_trips() {
        let m = Message::RouteRefresh(RouteRefresh::request(AFI_IPV6, 1));
        let bytes = m.to_bytes(&CodecContext::default());
        assert_eq!(&bytes[16..], &[0, 23, 5, 0, 2, 0, 1]);
        let (kind, len) = frame(&bytes).unwrap().unwrap();
        assert_eq!(
            Message::decode(kind, &bytes[19..len], &CodecContext::default()).unwrap(),
            m
        );
        // The subtype (RFC 7313) is kept, so an End-of-RR is not mistaken for a request.
        let m = Message::RouteRefresh(RouteRefresh {
            afi: AFI_IPV4,
            subtype: 2,
            safi: 1,
        });
        let bytes = m.to_bytes(&CodecContext::default());
        assert_eq!(&bytes[16..], &[0, 23, 5, 0, 1, 2, 1]);
        let (kind, len) = frame(&bytes).unwrap().unwrap();
        assert_eq!(
            Message::decode(kind, &bytes[19..len], &CodecContext::default()).unwrap(),
            m
        );
    }

    #[test]
    fn route_refresh_with_a_wrong_length_is_a_route_refresh_error() {
        let e =
            Message::decode(TYPE_ROUTE_REFRESH, &[0, 1, 0], &CodecContext::default()).unwrap_err();
        let n = e.notification();
        assert_eq!((n.code, n.subcode), (7, 1));
    }
}
