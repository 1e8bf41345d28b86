//! Path attributes (RFC 4271 §4.3, §5): their type codes and flags, the encoding and decoding
//! of each one, and what RFC 7606 makes of one that is malformed.
//!
//! ```text
//! +---------------+---------------+------------------------------------+---------+
//! | Attr. Flags   | Attr. Type    | Length (1 octet, 2 with Extended)  | Value   |
//! | O T P E 0 0 0 0               |                                    |         |
//! +---------------+---------------+------------------------------------+---------+
//! ```
//!
//! [`decode`] judges one attribute on its own ([`Verdict`]): an ORIGIN, AS_PATH, NEXT_HOP, MED,
//! LOCAL_PREF or community list that is malformed, or attribute flags that conflict with the
//! type (RFC 7606 §3 c), make the UPDATE treat-as-withdraw; a malformed ATOMIC_AGGREGATE,
//! AGGREGATOR or AS4_PATH is only dropped (attribute-discard, RFC 7606 §7.6–7.7, RFC 6793 §6);
//! a broken MP_REACH_NLRI/MP_UNREACH_NLRI (RFC 4760 §7) and an unrecognized well-known
//! attribute reset the session. What the attribute list as a whole comes to (an attribute
//! that overruns it, repeated attributes, missing mandatory ones) is the UPDATE's: see
//! [`super::update`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::LargeCommunity;

use super::{CodecContext, DecodeError, Prefix, Reader, AFI_IPV4, AFI_IPV6, SAFI_UNICAST};

pub const ATTR_ORIGIN: u8 = 1;
pub const ATTR_AS_PATH: u8 = 2;
pub const ATTR_NEXT_HOP: u8 = 3;
pub const ATTR_MED: u8 = 4;
pub const ATTR_LOCAL_PREF: u8 = 5;
pub const ATTR_ATOMIC_AGGREGATE: u8 = 6;
pub const ATTR_AGGREGATOR: u8 = 7;
pub const ATTR_COMMUNITIES: u8 = 8;
pub const ATTR_MP_REACH: u8 = 14;
pub const ATTR_MP_UNREACH: u8 = 15;
pub const ATTR_AS4_PATH: u8 = 17;
pub const ATTR_LARGE_COMMUNITIES: u8 = 32;

const FLAG_OPTIONAL: u8 = 0x80;
const FLAG_TRANSITIVE: u8 = 0x40;
const FLAG_PARTIAL: u8 = 0x20;
const FLAG_EXTENDED: u8 = 0x10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Igp = 0,
    Egp = 1,
    Incomplete = 2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsSegment {
    Set(Vec<u32>),
    Sequence(Vec<u32>),
}

impl AsSegment {
    /// The segment types on the wire (RFC 4271 §4.3: AS_SET 1, AS_SEQUENCE 2).
    const SET: u8 = 1;
    const SEQUENCE: u8 = 2;
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AsPath(pub Vec<AsSegment>);

/// MP_REACH_NLRI (RFC 4760 §3). `next_hop` holds one address, or for IPv6 the global address
/// followed by the link-local one (RFC 2545 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpReach {
    pub afi: u16,
    pub safi: u8,
    pub next_hop: Vec<IpAddr>,
    /// Empty for address families we do not parse.
    pub nlri: Vec<Prefix>,
}

/// MP_UNREACH_NLRI (RFC 4760 §4). Empty `withdrawn` with AFI 2 is the IPv6 End-of-RIB marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpUnreach {
    pub afi: u16,
    pub safi: u8,
    pub withdrawn: Vec<Prefix>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathAttribute {
    Origin(Origin),
    AsPath(AsPath),
    NextHop(Ipv4Addr),
    Med(u32),
    LocalPref(u32),
    AtomicAggregate,
    Aggregator {
        asn: u32,
        addr: Ipv4Addr,
    },
    /// RFC 1997, each `high << 16 | low`.
    Communities(Vec<u32>),
    /// RFC 8092.
    LargeCommunities(Vec<LargeCommunity>),
    MpReach(MpReach),
    MpUnreach(MpUnreach),
    /// RFC 6793: the real path when AS_PATH had to carry AS_TRANS.
    As4Path(AsPath),
    /// Kept as received (optional attributes we do not interpret).
    Unknown {
        flags: u8,
        code: u8,
        data: Vec<u8>,
    },
}

/// The Optional and Transitive flags a recognized attribute must have (RFC 4271 §5, RFC 1997,
/// RFC 4760, RFC 6793, RFC 8092); `None` for attributes we do not recognize.
fn expected_flags(code: u8) -> Option<u8> {
    match code {
        ATTR_ORIGIN | ATTR_AS_PATH | ATTR_NEXT_HOP | ATTR_LOCAL_PREF | ATTR_ATOMIC_AGGREGATE => {
            Some(FLAG_TRANSITIVE)
        }
        ATTR_MED | ATTR_MP_REACH | ATTR_MP_UNREACH => Some(FLAG_OPTIONAL),
        ATTR_AGGREGATOR | ATTR_COMMUNITIES | ATTR_AS4_PATH | ATTR_LARGE_COMMUNITIES => {
            Some(FLAG_OPTIONAL | FLAG_TRANSITIVE)
        }
        _ => None,
    }
}

/// Attributes whose malformation only drops the attribute (RFC 7606 §7.6, §7.7; RFC 6793 §6).
fn discarded_when_malformed(code: u8) -> bool {
    matches!(
        code,
        ATTR_ATOMIC_AGGREGATE | ATTR_AGGREGATOR | ATTR_AS4_PATH
    )
}

/// MP_REACH_NLRI and MP_UNREACH_NLRI: their NLRI are the UPDATE's, so a repeated or overrunning
/// one cannot be judged alone (RFC 7606 §3 g, j).
pub(super) fn is_mp(code: u8) -> bool {
    code == ATTR_MP_REACH || code == ATTR_MP_UNREACH
}

/// Reads the next attribute's flags, type and length off an attribute list. `None`: the header
/// is truncated; a `None` value: its length overruns the list.
pub(super) fn read<'a>(r: &mut Reader<'a>) -> Option<(u8, u8, Option<&'a [u8]>)> {
    let (Some(flags), Some(code)) = (r.u8(), r.u8()) else {
        return None;
    };
    let len = if flags & FLAG_EXTENDED != 0 {
        r.u16().map(usize::from)
    } else {
        r.u8().map(usize::from)
    };
    Some((flags, code, len.and_then(|l| r.take(l))))
}

/// What one attribute comes to (RFC 7606).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Kept; with a reason, the UPDATE is treat-as-withdraw all the same (flags that conflict
    /// with the type: an MP attribute is still kept, as its NLRI are what is withdrawn).
    Keep(PathAttribute, Option<&'static str>),
    /// Attribute-discard: dropped, the UPDATE unaffected.
    Discard,
    /// Treat-as-withdraw, the attribute dropped.
    Withdraw(&'static str),
    /// A type we do not recognize without the Optional flag: the session is reset
    /// (Unrecognized Well-known Attribute).
    UnrecognizedWellKnown,
    /// A broken MP_REACH_NLRI/MP_UNREACH_NLRI: the session is reset (Optional Attribute Error,
    /// RFC 4760 §7).
    Reset(&'static str),
}

/// Decodes and judges one attribute of type `code` received with `flags` and `value`.
pub(super) fn decode(flags: u8, code: u8, value: &[u8], ctx: &CodecContext) -> Verdict {
    let Some(expected) = expected_flags(code) else {
        if flags & FLAG_OPTIONAL == 0 {
            return Verdict::UnrecognizedWellKnown;
        }
        let data = value.to_vec();
        return Verdict::Keep(PathAttribute::Unknown { flags, code, data }, None);
    };
    // RFC 7606 §3 (c): Optional or Transitive in conflict with the type makes the attribute
    // malformed (Partial and Extended Length say nothing about the type).
    let flags_ok = flags & (FLAG_OPTIONAL | FLAG_TRANSITIVE) == expected;
    match decode_known(code, value, ctx) {
        Ok(Some(_)) if !flags_ok && discarded_when_malformed(code) => Verdict::Discard,
        Ok(Some(a)) => Verdict::Keep(a, (!flags_ok).then_some("attribute flags error")),
        Ok(None) => Verdict::Discard, // attribute-discard (RFC 7606)
        Err(Fault::Withdraw(why)) => Verdict::Withdraw(why),
        Err(Fault::Reset(why)) => Verdict::Reset(why),
    }
}

enum Fault {
    Withdraw(&'static str),
    /// A broken MP_REACH_NLRI/MP_UNREACH_NLRI: Optional Attribute Error (RFC 4760 §7).
    Reset(&'static str),
}

fn decode_known(code: u8, v: &[u8], ctx: &CodecContext) -> Result<Option<PathAttribute>, Fault> {
    use PathAttribute as A;
    let u32_of = |v: &[u8]| -> Option<u32> { <[u8; 4]>::try_from(v).ok().map(u32::from_be_bytes) };
    Ok(Some(match code {
        ATTR_ORIGIN => match v {
            [0] => A::Origin(Origin::Igp),
            [1] => A::Origin(Origin::Egp),
            [2] => A::Origin(Origin::Incomplete),
            _ => return Err(Fault::Withdraw("invalid ORIGIN")),
        },
        ATTR_AS_PATH => A::AsPath(
            AsPath::decode(v, ctx.four_octet_as).ok_or(Fault::Withdraw("malformed AS_PATH"))?,
        ),
        ATTR_NEXT_HOP => A::NextHop(Ipv4Addr::from(
            u32_of(v).ok_or(Fault::Withdraw("NEXT_HOP length"))?,
        )),
        ATTR_MED => A::Med(u32_of(v).ok_or(Fault::Withdraw("MED length"))?),
        ATTR_LOCAL_PREF => A::LocalPref(u32_of(v).ok_or(Fault::Withdraw("LOCAL_PREF length"))?),
        // RFC 7606 §7.6: a length other than 0 discards the attribute.
        ATTR_ATOMIC_AGGREGATE if v.is_empty() => A::AtomicAggregate,
        ATTR_ATOMIC_AGGREGATE => return Ok(None),
        // RFC 7606 §7.7: a length other than 6 (8 with 4-octet ASNs) discards the attribute.
        ATTR_AGGREGATOR => match (ctx.four_octet_as, v.len()) {
            (true, 8) => A::Aggregator {
                asn: u32_of(&v[..4]).unwrap_or_default(),
                addr: Ipv4Addr::from(u32_of(&v[4..]).unwrap_or_default()),
            },
            (false, 6) => A::Aggregator {
                asn: u16::from_be_bytes([v[0], v[1]]) as u32,
                addr: Ipv4Addr::from(u32_of(&v[2..]).unwrap_or_default()),
            },
            _ => return Ok(None),
        },
        // RFC 7606 §7.8: a length that is 0 or not a multiple of 4 is treat-as-withdraw.
        ATTR_COMMUNITIES if v.len() % 4 == 0 && !v.is_empty() => {
            A::Communities(v.chunks_exact(4).filter_map(u32_of).collect())
        }
        ATTR_COMMUNITIES => return Err(Fault::Withdraw("COMMUNITIES length")),
        ATTR_LARGE_COMMUNITIES if v.len() % 12 == 0 && !v.is_empty() => A::LargeCommunities(
            v.chunks_exact(12)
                .map(|c| LargeCommunity {
                    global: u32_of(&c[0..4]).unwrap_or_default(),
                    local1: u32_of(&c[4..8]).unwrap_or_default(),
                    local2: u32_of(&c[8..12]).unwrap_or_default(),
                })
                .collect(),
        ),
        ATTR_LARGE_COMMUNITIES => return Err(Fault::Withdraw("LARGE_COMMUNITIES length")),
        ATTR_MP_REACH => A::MpReach(MpReach::decode(v).map_err(Fault::Reset)?),
        ATTR_MP_UNREACH => A::MpUnreach(MpUnreach::decode(v).map_err(Fault::Reset)?),
        // RFC 6793 §6: a malformed AS4_PATH is discarded.
        ATTR_AS4_PATH => match AsPath::decode(v, true) {
            Some(p) => A::As4Path(p),
            None => return Ok(None),
        },
        _ => return Ok(None),
    }))
}

impl AsPath {
    /// One AS_SEQUENCE of `asn` repeated `count` times: what we send to eBGP peers.
    pub fn sequence_of(asn: u32, count: usize) -> Self {
        AsPath(vec![AsSegment::Sequence(vec![asn; count])])
    }

    fn decode(v: &[u8], four_octet: bool) -> Option<Self> {
        let width = if four_octet { 4 } else { 2 };
        let mut r = Reader::new(v);
        let mut segs = Vec::new();
        while !r.is_empty() {
            let kind = r.u8()?;
            let count = r.u8()? as usize;
            if count == 0 {
                return None; // RFC 7606 §7.2: a zero-length segment is malformed
            }
            let raw = r.take(count * width)?;
            let asns = raw
                .chunks_exact(width)
                .map(|c| {
                    if four_octet {
                        u32::from_be_bytes([c[0], c[1], c[2], c[3]])
                    } else {
                        u16::from_be_bytes([c[0], c[1]]) as u32
                    }
                })
                .collect();
            segs.push(match kind {
                AsSegment::SET => AsSegment::Set(asns),
                AsSegment::SEQUENCE => AsSegment::Sequence(asns),
                _ => return None,
            });
        }
        Some(AsPath(segs))
    }

    fn encode(&self, four_octet: bool, out: &mut Vec<u8>) {
        for seg in &self.0 {
            let (kind, asns) = match seg {
                AsSegment::Set(a) => (AsSegment::SET, a),
                AsSegment::Sequence(a) => (AsSegment::SEQUENCE, a),
            };
            // A segment holds at most 255 ASNs; longer runs become consecutive segments.
            for chunk in asns.chunks(255) {
                out.push(kind);
                out.push(chunk.len() as u8);
                for &asn in chunk {
                    if four_octet {
                        out.extend_from_slice(&asn.to_be_bytes());
                    } else {
                        let two = u16::try_from(asn).unwrap_or(super::AS_TRANS);
                        out.extend_from_slice(&two.to_be_bytes());
                    }
                }
            }
        }
    }

    /// True when some ASN does not fit in 2 bytes (then a 2-byte session also needs AS4_PATH).
    pub fn needs_four_octets(&self) -> bool {
        self.0.iter().any(|s| match s {
            AsSegment::Set(a) | AsSegment::Sequence(a) => a.iter().any(|&x| x > 0xffff),
        })
    }
}

fn decode_next_hop(afi: u16, nh: &[u8]) -> Result<Vec<IpAddr>, &'static str> {
    let bad = "MP_REACH_NLRI next hop length";
    let v6 = |b: &[u8]| <[u8; 16]>::try_from(b).map(|o| IpAddr::V6(Ipv6Addr::from(o)));
    match (afi, nh.len()) {
        (AFI_IPV4, 4) => Ok(vec![IpAddr::V4(Ipv4Addr::new(nh[0], nh[1], nh[2], nh[3]))]),
        // IPv6 next hops, also for IPv4 NLRI (RFC 8950).
        (AFI_IPV4 | AFI_IPV6, 16) => Ok(vec![v6(nh).map_err(|_| bad)?]),
        (AFI_IPV4 | AFI_IPV6, 32) => Ok(vec![
            v6(&nh[..16]).map_err(|_| bad)?,
            v6(&nh[16..]).map_err(|_| bad)?,
        ]),
        (AFI_IPV4 | AFI_IPV6, _) => Err(bad),
        _ => Ok(Vec::new()),
    }
}

/// The prefixes of an MP_REACH_NLRI or MP_UNREACH_NLRI: parsed for IPv4 and IPv6 unicast, none
/// for the families we do not parse. `Err(bad)` when one is malformed.
fn mp_prefixes(
    afi: u16,
    safi: u8,
    bytes: &[u8],
    bad: &'static str,
) -> Result<Vec<Prefix>, &'static str> {
    match (afi, safi) {
        (AFI_IPV4 | AFI_IPV6, SAFI_UNICAST) => {
            Prefix::decode_all(bytes, afi == AFI_IPV6, DecodeError::InvalidNetworkField)
                .map_err(|_| bad)
        }
        _ => Ok(Vec::new()),
    }
}

impl MpReach {
    /// `Err`: why the attribute is broken (the session is reset, RFC 4760 §7).
    fn decode(v: &[u8]) -> Result<Self, &'static str> {
        let bad = "malformed MP_REACH_NLRI";
        let mut r = Reader::new(v);
        let afi = r.u16().ok_or(bad)?;
        let safi = r.u8().ok_or(bad)?;
        let nh_len = r.u8().ok_or(bad)? as usize;
        let nh = r.take(nh_len).ok_or(bad)?;
        let _reserved = r.u8().ok_or(bad)?;
        let next_hop = decode_next_hop(afi, nh)?;
        let nlri = mp_prefixes(afi, safi, r.rest(), "malformed prefix in MP_REACH_NLRI")?;
        Ok(MpReach {
            afi,
            safi,
            next_hop,
            nlri,
        })
    }
}

impl MpUnreach {
    /// `Err` as [`MpReach::decode`].
    fn decode(v: &[u8]) -> Result<Self, &'static str> {
        let bad = "malformed MP_UNREACH_NLRI";
        let mut r = Reader::new(v);
        let afi = r.u16().ok_or(bad)?;
        let safi = r.u8().ok_or(bad)?;
        let withdrawn = mp_prefixes(afi, safi, r.rest(), "malformed prefix in MP_UNREACH_NLRI")?;
        Ok(MpUnreach {
            afi,
            safi,
            withdrawn,
        })
    }
}

impl PathAttribute {
    pub fn code(&self) -> u8 {
        match self {
            PathAttribute::Origin(_) => ATTR_ORIGIN,
            PathAttribute::AsPath(_) => ATTR_AS_PATH,
            PathAttribute::NextHop(_) => ATTR_NEXT_HOP,
            PathAttribute::Med(_) => ATTR_MED,
            PathAttribute::LocalPref(_) => ATTR_LOCAL_PREF,
            PathAttribute::AtomicAggregate => ATTR_ATOMIC_AGGREGATE,
            PathAttribute::Aggregator { .. } => ATTR_AGGREGATOR,
            PathAttribute::Communities(_) => ATTR_COMMUNITIES,
            PathAttribute::LargeCommunities(_) => ATTR_LARGE_COMMUNITIES,
            PathAttribute::MpReach(_) => ATTR_MP_REACH,
            PathAttribute::MpUnreach(_) => ATTR_MP_UNREACH,
            PathAttribute::As4Path(_) => ATTR_AS4_PATH,
            PathAttribute::Unknown { code, .. } => *code,
        }
    }

    fn flags(&self) -> u8 {
        match self {
            PathAttribute::Origin(_)
            | PathAttribute::AsPath(_)
            | PathAttribute::NextHop(_)
            | PathAttribute::LocalPref(_)
            | PathAttribute::AtomicAggregate => FLAG_TRANSITIVE,
            PathAttribute::Med(_) | PathAttribute::MpReach(_) | PathAttribute::MpUnreach(_) => {
                FLAG_OPTIONAL
            }
            PathAttribute::Aggregator { .. }
            | PathAttribute::Communities(_)
            | PathAttribute::LargeCommunities(_)
            | PathAttribute::As4Path(_) => FLAG_OPTIONAL | FLAG_TRANSITIVE,
            PathAttribute::Unknown { flags, .. } => {
                // Passing on an optional transitive attribute we did not interpret sets Partial.
                // The low four bits MUST be sent as zero (RFC 4271 §4.3), whatever we received;
                // Extended Length is decided by `encode`. (Found by fuzzing the round trip.)
                let f = flags & (FLAG_OPTIONAL | FLAG_TRANSITIVE | FLAG_PARTIAL);
                if f & FLAG_TRANSITIVE != 0 {
                    f | FLAG_PARTIAL
                } else {
                    f
                }
            }
        }
    }

    /// Appends flags, type, length and value. The Extended Length flag is used only when the
    /// value exceeds 255 bytes.
    pub fn encode(&self, ctx: &CodecContext, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[self.flags() | FLAG_EXTENDED, self.code(), 0, 0]);
        let value_at = out.len();
        self.encode_value(ctx, out);
        let len = out.len() - value_at;
        if len <= 255 {
            out[start] &= !FLAG_EXTENDED;
            out.remove(start + 2);
            out[start + 2] = len as u8;
        } else {
            out[start + 2..start + 4].copy_from_slice(&(len as u16).to_be_bytes());
        }
    }

    fn encode_value(&self, ctx: &CodecContext, out: &mut Vec<u8>) {
        match self {
            PathAttribute::Origin(o) => out.push(*o as u8),
            PathAttribute::AsPath(p) => p.encode(ctx.four_octet_as, out),
            PathAttribute::NextHop(a) => out.extend_from_slice(&a.octets()),
            PathAttribute::Med(v) | PathAttribute::LocalPref(v) => {
                out.extend_from_slice(&v.to_be_bytes())
            }
            PathAttribute::AtomicAggregate => {}
            PathAttribute::Aggregator { asn, addr } => {
                if ctx.four_octet_as {
                    out.extend_from_slice(&asn.to_be_bytes());
                } else {
                    let two = u16::try_from(*asn).unwrap_or(super::AS_TRANS);
                    out.extend_from_slice(&two.to_be_bytes());
                }
                out.extend_from_slice(&addr.octets());
            }
            PathAttribute::Communities(c) => {
                for v in c {
                    out.extend_from_slice(&v.to_be_bytes());
                }
            }
            PathAttribute::LargeCommunities(c) => {
                for v in c {
                    out.extend_from_slice(&v.global.to_be_bytes());
                    out.extend_from_slice(&v.local1.to_be_bytes());
                    out.extend_from_slice(&v.local2.to_be_bytes());
                }
            }
            PathAttribute::MpReach(m) => {
                out.extend_from_slice(&m.afi.to_be_bytes());
                out.push(m.safi);
                let nh_len_at = out.len();
                out.push(0);
                for nh in &m.next_hop {
                    match nh {
                        IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
                        IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
                    }
                }
                out[nh_len_at] = (out.len() - nh_len_at - 1) as u8;
                out.push(0); // reserved
                for p in &m.nlri {
                    p.encode(out);
                }
            }
            PathAttribute::MpUnreach(m) => {
                out.extend_from_slice(&m.afi.to_be_bytes());
                out.push(m.safi);
                for p in &m.withdrawn {
                    p.encode(out);
                }
            }
            PathAttribute::As4Path(p) => p.encode(true, out),
            PathAttribute::Unknown { data, .. } => out.extend_from_slice(data),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{
        decode, valid_with, with_attrs, with_header, AS_PATH, FOUR, IPV4_UPDATE_BODY, NEXT_HOP,
        ORIGIN,
    };
    use super::super::Update;
    use super::*;

    #[test]
    fn two_octet_session_sends_as_trans_in_as_path() {
        let mut out = Vec::new();
        PathAttribute::AsPath(AsPath::sequence_of(4_200_000_000, 1))
            .encode(&CodecContext::default(), &mut out);
        assert_eq!(out, [0x40, 0x02, 0x04, 0x02, 0x01, 0x5b, 0xa0]);
    }

    /// 2001:db8:100::1/128 with global and link-local next hops (RFC 2545 / RFC 4760).
    #[test]
    fn mp_reach_with_link_local_next_hop_encodes_byte_for_byte() {
        let a = PathAttribute::MpReach(MpReach {
            afi: AFI_IPV6,
            safi: 1,
            next_hop: vec!["2001:db8::2".parse().unwrap(), "fe80::2".parse().unwrap()],
            nlri: vec![Prefix::host("2001:db8:100::1".parse().unwrap())],
        });
        let mut out = Vec::new();
        a.encode(&FOUR, &mut out);
        #[rustfmt::skip]
        let expected = [
            0x80, 0x0e, 0x36, // optional, MP_REACH_NLRI, 54 bytes
            0x00, 0x02, 0x01, 0x20, // AFI 2, SAFI 1, next hop length 32
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
            0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
            0x00, // reserved
            0x80, 0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
        ];
        assert_eq!(out, expected);
        let mut body = vec![0, 0];
        body.extend_from_slice(&((out.len() + 4 + 9) as u16).to_be_bytes());
        body.extend_from_slice(&[0x40, 1, 1, 0, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9]);
        body.extend_from_slice(&out);
        let u = decode(&with_header(&body), &FOUR).unwrap();
        assert_eq!(u.treat_as_withdraw, None);
        assert_eq!(u.announced().count(), 1);
        assert_eq!(u.attributes[2], a);
    }

    #[test]
    fn a_large_mp_reach_uses_extended_length() {
        let nlri = (0..20u16)
            .map(|i| Prefix::host(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i))))
            .collect();
        let a = PathAttribute::MpReach(MpReach {
            afi: AFI_IPV6,
            safi: 1,
            next_hop: vec!["2001:db8::2".parse().unwrap()],
            nlri,
        });
        let mut out = Vec::new();
        a.encode(&FOUR, &mut out);
        assert_eq!(out[0], 0x90);
        assert_eq!(u16::from_be_bytes([out[2], out[3]]) as usize, out.len() - 4);
        assert_eq!(out.len() - 4, 5 + 16 + 20 * 17);
    }

    #[test]
    fn bad_origin_is_treat_as_withdraw_not_a_reset() {
        let mut body = IPV4_UPDATE_BODY.to_vec();
        body[7] = 7;
        let u = decode(&with_header(&body), &FOUR).unwrap();
        assert_eq!(u.treat_as_withdraw, Some("invalid ORIGIN"));
        assert_eq!(u.announced().count(), 1);
    }

    #[test]
    fn two_octet_as_path_on_a_four_octet_session_is_treat_as_withdraw() {
        let body = [
            0, 0, 0, 0x12, 0x40, 1, 1, 0, 0x40, 2, 4, 2, 1, 0xfd, 0xe9, 0x40, 3, 4, 10, 0, 0, 1,
            32, 10, 100, 0, 1,
        ];
        let u = decode(&with_header(&body), &FOUR).unwrap();
        assert_eq!(u.treat_as_withdraw, Some("malformed AS_PATH"));
        let u = decode(&with_header(&body), &CodecContext::default()).unwrap();
        assert_eq!(u.treat_as_withdraw, None);
    }

    #[test]
    fn communities_of_odd_length_are_treat_as_withdraw() {
        let body = [
            0, 0, 0, 20, 0x40, 1, 1, 0, 0x40, 2, 0, 0x40, 3, 4, 10, 0, 0, 1, 0xc0, 8, 3, 1, 2, 3,
            32, 10, 100, 0, 1,
        ];
        let u = decode(&with_header(&body), &FOUR).unwrap();
        assert_eq!(u.treat_as_withdraw, Some("COMMUNITIES length"));
    }

    #[test]
    fn an_unrecognized_well_known_attribute_is_an_error() {
        let body = [0, 0, 0, 3, 0x40, 99, 0];
        let e = decode(&with_header(&body), &FOUR).unwrap_err();
        assert_eq!(
            e,
            DecodeError::UnrecognizedWellKnownAttribute {
                code: 99,
                attribute: vec![0x40, 99, 0]
            }
        );
        // RFC 4271 §6.3: the data is the attribute itself (type, length, value).
        assert_eq!(e.notification().data, [0x40, 99, 0]);
    }

    #[test]
    fn an_unknown_optional_attribute_is_kept() {
        let body = [0, 0, 0, 5, 0xc0, 99, 2, 0xab, 0xcd];
        let u = decode(&with_header(&body), &FOUR).unwrap();
        assert_eq!(
            u.attributes,
            [PathAttribute::Unknown {
                flags: 0xc0,
                code: 99,
                data: vec![0xab, 0xcd]
            }]
        );
    }

    #[test]
    fn an_unknown_attribute_is_re_encoded_partial_without_its_unused_low_bits() {
        let u = Update {
            attributes: vec![PathAttribute::Unknown {
                flags: 0xcf, // optional transitive + four unused bits
                code: 99,
                data: vec![1],
            }],
            ..Update::default()
        };
        let mut out = Vec::new();
        u.encode(&FOUR, &mut out);
        assert_eq!(out, [0, 0, 0, 4, 0xe0, 99, 1, 1]);
    }

    #[test]
    fn a_truncated_mp_reach_resets_the_session_with_the_attribute_as_data() {
        let body = [0, 0, 0, 6, 0x80, 14, 3, 0, 2, 1];
        let n = decode(&with_header(&body), &FOUR)
            .unwrap_err()
            .notification();
        assert_eq!((n.code, n.subcode), (3, 9));
        // RFC 4271 §6.3: Optional Attribute Error carries the attribute (type, length, value).
        assert_eq!(n.data, [0x80, 14, 3, 0, 2, 1]);
    }

    /// MP_REACH_NLRI for IPv6 2001:db8::9/128 via 2001:db8::1, with `flags`.
    fn mp_reach(flags: u8) -> Vec<u8> {
        let mut v = vec![flags, 14, 38, 0, 2, 1, 16, 0x20, 1, 0x0d, 0xb8];
        v.extend_from_slice(&[0; 11]);
        v.extend_from_slice(&[1, 0, 128, 0x20, 1, 0x0d, 0xb8]);
        v.extend_from_slice(&[0; 11]);
        v.push(9);
        v
    }

    #[test]
    fn an_mp_reach_whose_prefixes_overrun_it_resets_with_the_whole_attribute() {
        let mut attr = mp_reach(0x80);
        attr[2] -= 1; // the /128 now lacks its last byte
        attr.pop();
        let n = decode(&valid_with(&attr), &FOUR)
            .unwrap_err()
            .notification();
        assert_eq!((n.code, n.subcode, n.data), (3, 9, attr.clone()));
        let unreach = [0x80, 15, 5, 0, 2, 1, 64, 0x20];
        let n = decode(&valid_with(&unreach), &FOUR)
            .unwrap_err()
            .notification();
        assert_eq!((n.code, n.subcode, n.data), (3, 9, unreach.to_vec()));
    }

    #[test]
    fn well_known_attributes_must_be_transitive_and_not_optional() {
        for (flags, ok) in [
            (0x00, false), // Transitive clear
            (0x80, false), // Optional, not Transitive
            (0xc0, false), // Optional
            (0x50, true),  // Extended Length says nothing about the type
            (0x60, true),  // nor does Partial
        ] {
            for at in [0, 4, 13] {
                // ORIGIN, AS_PATH, NEXT_HOP in turn get `flags`.
                let mut attrs = [&ORIGIN[..], &AS_PATH, &NEXT_HOP].concat();
                attrs[at] = flags;
                if flags & 0x10 != 0 {
                    let len = attrs[at + 2];
                    attrs.splice(at + 2..at + 3, [0, len]);
                }
                let u = decode(&with_attrs(&attrs), &FOUR).unwrap();
                let want = (!ok).then_some("attribute flags error");
                assert_eq!(u.treat_as_withdraw, want, "flags {flags:#x} at {at}");
                assert_eq!(u.announced().count(), 1);
            }
        }
        for (name, attr) in [
            ("LOCAL_PREF", [0xc0, 5, 4, 0, 0, 0, 100].as_slice()),
            ("LOCAL_PREF", &[0x00, 5, 4, 0, 0, 0, 100]),
        ] {
            let u = decode(&valid_with(attr), &FOUR).unwrap();
            assert_eq!(u.treat_as_withdraw, Some("attribute flags error"), "{name}");
        }
    }

    #[test]
    fn optional_attributes_must_have_their_own_transitive_flag() {
        for (name, attr) in [
            ("MED transitive", [0xc0, 4, 4, 0, 0, 0, 1].as_slice()),
            ("MED well-known", &[0x40, 4, 4, 0, 0, 0, 1]),
            (
                "COMMUNITIES non-transitive",
                &[0x80, 8, 4, 0xfd, 0xe8, 0, 1],
            ),
            (
                "LARGE_COMMUNITIES non-transitive",
                &[0x80, 32, 12, 0, 0, 0xfd, 0xe8, 0, 0, 0, 1, 0, 0, 0, 2],
            ),
        ] {
            let u = decode(&valid_with(attr), &FOUR).unwrap();
            assert_eq!(u.treat_as_withdraw, Some("attribute flags error"), "{name}");
        }
        // With the right flags (and Partial on a transitive one) they are accepted.
        let u = decode(
            &valid_with(
                &[
                    &[0x80, 4, 4, 0, 0, 0, 1][..],
                    &[0xe0, 8, 4, 0xfd, 0xe8, 0, 1],
                ]
                .concat(),
            ),
            &FOUR,
        )
        .unwrap();
        assert_eq!(u.treat_as_withdraw, None);
        assert_eq!(u.attributes.len(), 5);
    }

    #[test]
    fn an_mp_reach_with_wrong_flags_is_treat_as_withdraw_of_its_nlri() {
        let u = decode(&valid_with(&mp_reach(0x80)), &FOUR).unwrap();
        assert_eq!(u.treat_as_withdraw, None);
        let u = decode(&valid_with(&mp_reach(0xc0)), &FOUR).unwrap();
        assert_eq!(u.treat_as_withdraw, Some("attribute flags error"));
        // Both the classic and the MP prefixes count as withdrawn.
        assert_eq!(u.announced().count(), 2);
    }

    #[test]
    fn attributes_that_are_discarded_when_malformed_are_discarded_for_bad_flags_too() {
        for (name, attr) in [
            ("ATOMIC_AGGREGATE optional", [0xc0, 6, 0].as_slice()),
            ("ATOMIC_AGGREGATE not transitive", &[0x00, 6, 0]),
            (
                "AGGREGATOR non-transitive",
                &[0x80, 7, 8, 0, 0, 0xfd, 0xe8, 10, 0, 0, 1],
            ),
            (
                "AS4_PATH non-transitive",
                &[0x80, 17, 6, 2, 1, 0, 0, 0xfd, 0xe8],
            ),
        ] {
            let u = decode(&valid_with(attr), &FOUR).unwrap();
            assert_eq!(u.treat_as_withdraw, None, "{name}");
            assert_eq!(u.attributes.len(), 3, "{name}: dropped");
            assert_eq!(u.announced().count(), 1, "{name}");
        }
    }

    #[test]
    fn an_empty_communities_attribute_is_treat_as_withdraw() {
        // RFC 7606 §7.8: a length of 0 is malformed too.
        let u = decode(&valid_with(&[0xc0, 8, 0]), &FOUR).unwrap();
        assert_eq!(u.treat_as_withdraw, Some("COMMUNITIES length"));
    }

    #[test]
    fn atomic_aggregate_and_aggregator_of_the_wrong_length_are_discarded_and_the_route_kept() {
        // RFC 7606 §7.6, §7.7: attribute-discard.
        let u = decode(
            &valid_with(&[&[0x40, 6, 1, 0][..], &[0xc0, 7, 6, 0xfd, 0xe8, 10, 0, 0, 1]].concat()),
            &FOUR,
        )
        .unwrap();
        assert_eq!(u.treat_as_withdraw, None);
        assert_eq!(u.attributes.len(), 3);
        assert_eq!(u.announced().count(), 1);
        // The right lengths are kept: 0, and 8 on a 4-octet session.
        let u = decode(
            &valid_with(
                &[
                    &[0x40, 6, 0][..],
                    &[0xc0, 7, 8, 0, 0, 0xfd, 0xe8, 10, 0, 0, 1],
                ]
                .concat(),
            ),
            &FOUR,
        )
        .unwrap();
        assert_eq!(u.treat_as_withdraw, None);
        assert!(u.attributes.contains(&PathAttribute::AtomicAggregate));
        assert!(u.attributes.contains(&PathAttribute::Aggregator {
            asn: 65000,
            addr: Ipv4Addr::new(10, 0, 0, 1)
        }));
    }
}
