//! UPDATE (RFC 4271 §4.3) and the path attributes we send or must understand.
//!
//! ```text
//! +-----------------------------------------------------+
//! |   Withdrawn Routes Length (2 octets)                |
//! +-----------------------------------------------------+
//! |   Withdrawn Routes (variable)                       |
//! +-----------------------------------------------------+
//! |   Total Path Attribute Length (2 octets)            |
//! +-----------------------------------------------------+
//! |   Path Attributes (variable)                        |
//! +-----------------------------------------------------+
//! |   Network Layer Reachability Information (variable) |
//! +-----------------------------------------------------+
//!
//! Path attribute: | flags (1) | type (1) | length (1, or 2 with Extended Length) | value |
//! ```
//!
//! Error handling follows RFC 7606: errors that leave the message's structure intact (a bad
//! ORIGIN, a malformed AS_PATH, a community list of odd or zero length, a missing mandatory
//! attribute, attribute flags that conflict with the type) do not reset the session: the UPDATE
//! is decoded with [`Update::treat_as_withdraw`] set, and its announced prefixes count as
//! withdrawn. A malformed ATOMIC_AGGREGATE, AGGREGATOR or AS4_PATH is only dropped
//! (attribute-discard, RFC 7606 §7.6–7.7, RFC 6793 §6). Errors that make the NLRI unknowable
//! (bad withdrawn/NLRI fields, an MP_REACH_NLRI/MP_UNREACH_NLRI that is broken or overruns the
//! attribute list, RFC 7606 §3 j and §5.3) are returned as [`DecodeError`]s and reset the
//! session.

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

const SEG_SET: u8 = 1;
const SEG_SEQUENCE: u8 = 2;

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

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Update {
    pub withdrawn: Vec<Prefix>,
    pub attributes: Vec<PathAttribute>,
    pub nlri: Vec<Prefix>,
    /// RFC 7606: why this UPDATE's announcements must be treated as withdrawals, if they must.
    pub treat_as_withdraw: Option<&'static str>,
}

impl Update {
    /// Every prefix this UPDATE announces (classic NLRI and MP_REACH_NLRI).
    pub fn announced(&self) -> impl Iterator<Item = &Prefix> {
        self.nlri
            .iter()
            .chain(self.attributes.iter().flat_map(|a| match a {
                PathAttribute::MpReach(m) => m.nlri.as_slice(),
                _ => &[],
            }))
    }

    /// Every prefix this UPDATE withdraws (classic and MP_UNREACH_NLRI).
    pub fn withdrawals(&self) -> impl Iterator<Item = &Prefix> {
        self.withdrawn
            .iter()
            .chain(self.attributes.iter().flat_map(|a| match a {
                PathAttribute::MpUnreach(m) => m.withdrawn.as_slice(),
                _ => &[],
            }))
    }

    /// End-of-RIB for IPv4 unicast: an UPDATE with nothing in it.
    pub fn end_of_rib_ipv4() -> Self {
        Update::default()
    }

    /// End-of-RIB for another family: an empty MP_UNREACH_NLRI (RFC 4724 §2).
    pub fn end_of_rib(afi: u16) -> Self {
        if afi == AFI_IPV4 {
            return Update::end_of_rib_ipv4();
        }
        Update {
            attributes: vec![PathAttribute::MpUnreach(MpUnreach {
                afi,
                safi: SAFI_UNICAST,
                withdrawn: Vec::new(),
            })],
            ..Update::default()
        }
    }

    pub(super) fn decode(body: &[u8], ctx: &CodecContext) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let list = |m| DecodeError::MalformedAttributeList(m);
        let wlen = r.u16().ok_or(list("no withdrawn routes length"))? as usize;
        let wbytes = r
            .take(wlen)
            .ok_or(list("withdrawn routes length exceeds message"))?;
        let withdrawn = Prefix::decode_all(wbytes, false, DecodeError::InvalidNetworkField)?;
        let alen = r.u16().ok_or(list("no path attribute length"))? as usize;
        let abytes = r
            .take(alen)
            .ok_or(list("path attribute length exceeds message"))?;
        let nlri = Prefix::decode_all(r.rest(), false, DecodeError::InvalidNetworkField)?;
        let mut update = Update {
            withdrawn,
            nlri,
            ..Update::default()
        };
        decode_attributes(abytes, ctx, &mut update)?;
        let has = |code| update.attributes.iter().any(|a| a.code() == code);
        let mp_reach = has(ATTR_MP_REACH);
        let missing_mandatory = !(has(ATTR_ORIGIN) && has(ATTR_AS_PATH));
        let missing_next_hop = !has(ATTR_NEXT_HOP);
        if (!update.nlri.is_empty() || mp_reach) && missing_mandatory {
            update.taw("missing well-known attribute");
        }
        if !update.nlri.is_empty() && missing_next_hop {
            update.taw("missing NEXT_HOP");
        }
        Ok(update)
    }

    fn taw(&mut self, why: &'static str) {
        self.treat_as_withdraw.get_or_insert(why);
    }

    pub(super) fn encode(&self, ctx: &CodecContext, out: &mut Vec<u8>) {
        let wlen_at = out.len();
        out.extend_from_slice(&[0, 0]);
        for p in &self.withdrawn {
            p.encode(out);
        }
        let wlen = (out.len() - wlen_at - 2) as u16;
        out[wlen_at..wlen_at + 2].copy_from_slice(&wlen.to_be_bytes());
        let alen_at = out.len();
        out.extend_from_slice(&[0, 0]);
        for a in &self.attributes {
            a.encode(ctx, out);
        }
        let alen = (out.len() - alen_at - 2) as u16;
        out[alen_at..alen_at + 2].copy_from_slice(&alen.to_be_bytes());
        for p in &self.nlri {
            p.encode(out);
        }
    }
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

fn is_mp(code: u8) -> bool {
    code == ATTR_MP_REACH || code == ATTR_MP_UNREACH
}

fn decode_attributes(
    bytes: &[u8],
    ctx: &CodecContext,
    update: &mut Update,
) -> Result<(), DecodeError> {
    let mut r = Reader::new(bytes);
    let mut seen = [false; 256];
    while !r.is_empty() {
        let start = bytes.len() - r.remaining();
        // The attribute as received, for a NOTIFICATION's data (RFC 4271 §6.3).
        let received = |r: &Reader| bytes[start..bytes.len() - r.remaining()].to_vec();
        let (Some(flags), Some(code)) = (r.u8(), r.u8()) else {
            update.taw("truncated attribute header");
            return Ok(());
        };
        let len = if flags & FLAG_EXTENDED != 0 {
            r.u16().map(usize::from)
        } else {
            r.u8().map(usize::from)
        };
        let Some(value) = len.and_then(|l| r.take(l)) else {
            if is_mp(code) {
                // Its NLRI cannot be located, so treat-as-withdraw is impossible (RFC 7606
                // §3 j): reset.
                return Err(DecodeError::OptionalAttributeError {
                    why: "MP_REACH_NLRI/MP_UNREACH_NLRI overruns the attribute list",
                    attribute: bytes[start..].to_vec(),
                });
            }
            // The attribute overruns the attribute list: what follows cannot be parsed, but the
            // NLRI field's bounds are known, so RFC 7606 §4 allows treat-as-withdraw.
            update.taw("attribute length exceeds attribute list");
            return Ok(());
        };
        if std::mem::replace(&mut seen[code as usize], true) {
            if is_mp(code) {
                return Err(DecodeError::MalformedAttributeList(
                    "repeated MP_REACH_NLRI/MP_UNREACH_NLRI",
                ));
            }
            continue; // RFC 7606 §3 (g): discard all but the first.
        }
        let Some(expected) = expected_flags(code) else {
            if flags & FLAG_OPTIONAL == 0 {
                return Err(DecodeError::UnrecognizedWellKnownAttribute {
                    code,
                    attribute: received(&r),
                });
            }
            update.attributes.push(PathAttribute::Unknown {
                flags,
                code,
                data: value.to_vec(),
            });
            continue;
        };
        // RFC 7606 §3 (c): Optional or Transitive in conflict with the type makes the attribute
        // malformed (Partial and Extended Length say nothing about the type).
        let flags_ok = flags & (FLAG_OPTIONAL | FLAG_TRANSITIVE) == expected;
        match decode_known(code, value, ctx) {
            Ok(Some(_)) if !flags_ok && discarded_when_malformed(code) => {}
            Ok(Some(a)) => {
                // With bad flags an MP attribute is still kept: its NLRI are what is withdrawn.
                update.attributes.push(a);
                if !flags_ok {
                    update.taw("attribute flags error");
                }
            }
            Ok(None) => {} // attribute-discard (RFC 7606)
            Err(Fault::Withdraw(why)) => update.taw(why),
            Err(Fault::Reset(why)) => {
                return Err(DecodeError::OptionalAttributeError {
                    why,
                    attribute: received(&r),
                })
            }
        }
    }
    Ok(())
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
                SEG_SET => AsSegment::Set(asns),
                SEG_SEQUENCE => AsSegment::Sequence(asns),
                _ => return None,
            });
        }
        Some(AsPath(segs))
    }

    fn encode(&self, four_octet: bool, out: &mut Vec<u8>) {
        for seg in &self.0 {
            let (kind, asns) = match seg {
                AsSegment::Set(a) => (SEG_SET, a),
                AsSegment::Sequence(a) => (SEG_SEQUENCE, a),
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
        let nlri = match (afi, safi) {
            (AFI_IPV4 | AFI_IPV6, SAFI_UNICAST) => {
                Prefix::decode_all(r.rest(), afi == AFI_IPV6, DecodeError::InvalidNetworkField)
                    .map_err(|_| "malformed prefix in MP_REACH_NLRI")?
            }
            _ => Vec::new(),
        };
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
        let withdrawn = match (afi, safi) {
            (AFI_IPV4 | AFI_IPV6, SAFI_UNICAST) => {
                Prefix::decode_all(r.rest(), afi == AFI_IPV6, DecodeError::InvalidNetworkField)
                    .map_err(|_| "malformed prefix in MP_UNREACH_NLRI")?
            }
            _ => Vec::new(),
        };
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
    use super::super::{frame, Message};
    use super::*;

    const FOUR: CodecContext = CodecContext {
        four_octet_as: true,
    };

    fn decode(bytes: &[u8], ctx: &CodecContext) -> Result<Update, DecodeError> {
        let (kind, len) = frame(bytes)?.expect("complete");
        match Message::decode(kind, &bytes[19..len], ctx)? {
            Message::Update(u) => Ok(u),
            m => panic!("not an UPDATE: {m:?}"),
        }
    }

    fn with_header(body: &[u8]) -> Vec<u8> {
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&((body.len() + 19) as u16).to_be_bytes());
        m.push(2);
        m.extend_from_slice(body);
        m
    }

    /// 10.100.0.1/32 from AS 65001 (4-octet session) with MED 10, community 65000:100 and
    /// large community 65000:1:2, written out from RFC 4271/1997/8092.
    const IPV4_UPDATE_BODY: &[u8] = &[
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

    fn ipv4_update() -> Update {
        Update {
            attributes: vec![
                PathAttribute::Origin(Origin::Igp),
                PathAttribute::AsPath(AsPath::sequence_of(65001, 1)),
                PathAttribute::NextHop(Ipv4Addr::new(10, 0, 1, 2)),
                PathAttribute::Med(10),
                PathAttribute::Communities(vec![(65000 << 16) | 100]),
                PathAttribute::LargeCommunities(vec![LargeCommunity {
                    global: 65000,
                    local1: 1,
                    local2: 2,
                }]),
            ],
            nlri: vec![Prefix::host("10.100.0.1".parse().unwrap())],
            ..Update::default()
        }
    }

    #[test]
    fn ipv4_update_encodes_byte_for_byte() {
        let bytes = Message::Update(ipv4_update()).to_bytes(&FOUR);
        assert_eq!(bytes, with_header(IPV4_UPDATE_BODY));
    }

    #[test]
    fn ipv4_update_decodes_to_the_same_value() {
        assert_eq!(
            decode(&with_header(IPV4_UPDATE_BODY), &FOUR).unwrap(),
            ipv4_update()
        );
    }

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
    fn end_of_rib_markers_encode_per_rfc_4724() {
        let v4 = Message::Update(Update::end_of_rib(AFI_IPV4)).to_bytes(&FOUR);
        assert_eq!(&v4[16..], &[0, 23, 2, 0, 0, 0, 0]);
        let v6 = Message::Update(Update::end_of_rib(AFI_IPV6)).to_bytes(&FOUR);
        assert_eq!(&v6[16..], &[0, 29, 2, 0, 0, 0, 6, 0x80, 0x0f, 3, 0, 2, 1]);
    }

    #[test]
    fn withdrawals_round_trip_through_both_fields() {
        let u = Update {
            withdrawn: vec![Prefix::host("10.100.0.1".parse().unwrap())],
            attributes: vec![PathAttribute::MpUnreach(MpUnreach {
                afi: AFI_IPV6,
                safi: 1,
                withdrawn: vec![
                    Prefix {
                        addr: "2001:db8::".parse().unwrap(),
                        len: 64,
                    },
                    Prefix::host("2001:db8:100::1".parse().unwrap()),
                ],
            })],
            ..Update::default()
        };
        let bytes = Message::Update(u.clone()).to_bytes(&FOUR);
        #[rustfmt::skip]
        let expected_body = [
            0x00, 0x05, 0x20, 10, 100, 0, 1, // withdrawn 10.100.0.1/32
            0x00, 0x20, 0x80, 0x0f, 0x1d, 0x00, 0x02, 0x01, // MP_UNREACH_NLRI, 29 bytes, IPv6
            0x40, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, // 2001:db8::/64
            0x80, 0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
        ];
        assert_eq!(bytes, with_header(&expected_body));
        let d = decode(&bytes, &FOUR).unwrap();
        assert_eq!(d, u);
        assert_eq!(d.withdrawals().count(), 3);
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
    fn missing_next_hop_with_nlri_is_treat_as_withdraw() {
        let body = [0, 0, 0, 4, 0x40, 1, 1, 0, 32, 10, 100, 0, 1];
        let u = decode(&with_header(&body), &FOUR).unwrap();
        assert!(u.treat_as_withdraw.is_some());
    }

    #[test]
    fn nlri_with_a_bad_prefix_length_resets_with_invalid_network_field() {
        let body = [0, 0, 0, 0, 40, 10, 100, 0, 1, 0];
        let e = decode(&with_header(&body), &FOUR).unwrap_err();
        assert_eq!(e.notification().subcode, 10);
    }

    #[test]
    fn withdrawn_length_beyond_the_message_is_malformed_attribute_list() {
        let body = [0, 200, 0, 0];
        let e = decode(&with_header(&body), &FOUR).unwrap_err();
        assert_eq!((e.notification().code, e.notification().subcode), (3, 1));
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

    /// An UPDATE announcing 10.9.9.9/32 with `attrs` (encoded).
    fn with_attrs(attrs: &[u8]) -> Vec<u8> {
        let mut body = vec![0, 0];
        body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        body.extend_from_slice(attrs);
        body.extend_from_slice(&[32, 10, 9, 9, 9]);
        with_header(&body)
    }

    const ORIGIN: [u8; 4] = [0x40, 1, 1, 0];
    const AS_PATH: [u8; 9] = [0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe8];
    const NEXT_HOP: [u8; 7] = [0x40, 3, 4, 10, 0, 0, 9];

    /// ORIGIN, AS_PATH, NEXT_HOP, then `more`.
    fn valid_with(more: &[u8]) -> Vec<u8> {
        with_attrs(&[&ORIGIN[..], &AS_PATH, &NEXT_HOP, more].concat())
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
    fn an_mp_reach_or_unreach_overrunning_the_attribute_list_resets_the_session() {
        // RFC 7606 §3 (j): its NLRI cannot be located, so treat-as-withdraw is impossible.
        // (Other attributes that overrun the list are treat-as-withdraw, RFC 7606 §4.)
        for code in [14, 15] {
            let attr = [0x80, code, 40, 0, 2, 1, 16, 0x20];
            let m = valid_with(&attr);
            let n = decode(&m, &FOUR).unwrap_err().notification();
            assert_eq!((n.code, n.subcode), (3, 9), "type {code}");
            // As much of the attribute as there is: up to the end of the attribute list.
            assert_eq!(n.data, attr, "type {code}");
        }
        // The header alone (no length byte) as the last thing in the list.
        let n = decode(&valid_with(&[0x90, 14]), &FOUR)
            .unwrap_err()
            .notification();
        assert_eq!((n.code, n.subcode), (3, 9));
        // A non-MP attribute overrunning the list stays treat-as-withdraw.
        let u = decode(&valid_with(&[0xc0, 8, 40, 0, 0]), &FOUR).unwrap();
        assert_eq!(
            u.treat_as_withdraw,
            Some("attribute length exceeds attribute list")
        );
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

    #[test]
    fn a_repeated_mp_reach_resets_the_session() {
        let one = [0x80, 14, 9, 0, 1, 1, 4, 10, 0, 0, 1, 0];
        let mut body = vec![0, 0, 0, 24];
        body.extend_from_slice(&one);
        body.extend_from_slice(&one);
        let e = decode(&with_header(&body), &FOUR).unwrap_err();
        assert_eq!(e.notification().subcode, 1);
    }

    #[test]
    fn every_truncation_and_corruption_of_an_update_decodes_without_panicking() {
        let full = with_header(IPV4_UPDATE_BODY);
        for cut in 0..IPV4_UPDATE_BODY.len() {
            let _ = Update::decode(&IPV4_UPDATE_BODY[..cut], &FOUR);
        }
        for i in 19..full.len() {
            for b in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut m = full.clone();
                m[i] = b;
                let _ = Update::decode(&m[19..], &FOUR);
                let _ = Update::decode(&m[19..], &CodecContext::default());
            }
        }
    }
}
