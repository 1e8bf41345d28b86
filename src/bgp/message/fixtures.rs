//! Test helpers shared by the UPDATE and path attribute tests: UPDATEs written out byte by byte
//! and a decoder that goes through the framing as the session does.

use super::{frame, CodecContext, DecodeError, Message, Update};

pub(super) const FOUR: CodecContext = CodecContext {
    four_octet_as: true,
};

pub(super) fn decode(bytes: &[u8], ctx: &CodecContext) -> Result<Update, DecodeError> {
    let (kind, len) = frame(bytes)?.expect("complete");
    match Message::decode(kind, &bytes[19..len], ctx)? {
        Message::Update(u) => Ok(u),
        m => panic!("not an UPDATE: {m:?}"),
    }
}

pub(super) fn with_header(body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((body.len() + 19) as u16).to_be_bytes());
    m.push(2);
    m.extend_from_slice(body);
    m
}

/// 10.100.0.1/32 from AS 65001 (4-octet session) with MED 10, community 65000:100 and
/// large community 65000:1:2, written out from RFC 4271/1997/8092.
pub(super) const IPV4_UPDATE_BODY: &[u8] = &[
    0x00, 0x00, // no withdrawn routes
    0x00, 0x31, // 49 bytes of attributes
    0x40, 0x01, 0x01, 0x00, // ORIGIN IGP
    0x40, 0x02, 0x06, 0x02, 0x01, 0x00, 0x00, 0xfd, 0xe9, // AS_PATH SEQ [65001]
    0x40, 0x03, 0x04, 10, 0, 1, 2, // NEXT_HOP 10.0.1.2
    0x80, 0x04, 0x04, 0x00, 0x00, 0x00, 0x0a, // MED 10
    0xc0, 0x08, 0x04, 0xfd, 0xe8, 0x00, 0x64, // COMMUNITIES 65000:100
    0xc0, 0x20, 0x0c, 0x00, 0x00, 0xfd, 0xe8, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x02, // LARGE_COMMUNITIES 65000:1:2
    0x20, 10, 100, 0, 1, // NLRI 10.100.0.1/32
];

/// An UPDATE announcing 10.9.9.9/32 with `attrs` (encoded).
pub(super) fn with_attrs(attrs: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 0];
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(attrs);
    body.extend_from_slice(&[32, 10, 9, 9, 9]);
    with_header(&body)
}

pub(super) const ORIGIN: [u8; 4] = [0x40, 1, 1, 0];
pub(super) const AS_PATH: [u8; 9] = [0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe8];
pub(super) const NEXT_HOP: [u8; 7] = [0x40, 3, 4, 10, 0, 0, 9];

/// ORIGIN, AS_PATH, NEXT_HOP, then `more`.
pub(super) fn valid_with(more: &[u8]) -> Vec<u8> {
    with_attrs(&[&ORIGIN[..], &AS_PATH, &NEXT_HOP, more].concat())
}
