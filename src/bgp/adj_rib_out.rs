//! Adj-RIB-Out: what one session has announced, and the pure diff that turns a new
//! [`RouteSet`] into the fewest UPDATE messages.
//!
//! VIPs that share attributes (and family) go into one UPDATE, filled up to the 4096-byte
//! message limit before another is started; withdrawals are packed the same way. IPv4 uses
//! the classic NLRI/withdrawn fields with NEXT_HOP; IPv6 uses MP_REACH_NLRI/MP_UNREACH_NLRI
//! (RFC 4760) with the global next hop, plus the link-local one when the session has it.
//! IPv4 on a session with extended next hop (RFC 8950) and no IPv4 next hop goes in an
//! MP_REACH_NLRI for AFI 1 with the IPv6 next hop(s); its withdrawals stay in the classic
//! field, which RFC 4760 allows for IPv4 on any session.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::message::{
    AsPath, CodecContext, MpReach, MpUnreach, Origin, PathAttribute, Prefix, Update, AFI_IPV4,
    AFI_IPV6, HEADER_LEN, MAX_MESSAGE_LEN, SAFI_UNICAST,
};
use super::{RouteAttrs, RouteSet};

/// LOCAL_PREF sent to iBGP peers when the VIP sets none (the common default).
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// Bytes of an UPDATE with nothing in it: header, withdrawn length, attribute length.
const EMPTY_UPDATE_LEN: usize = HEADER_LEN + 4;
/// An MP_(UN)REACH_NLRI attribute header with extended length, which we assume when sizing.
const MP_ATTR_HEADER_LEN: usize = 4;

/// Everything about one session that shapes what it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportContext {
    /// The peer's address: a route with `peers` goes only to those.
    pub peer: IpAddr,
    pub ibgp: bool,
    pub local_asn: u32,
    pub codec: CodecContext,
    /// Families negotiated with the peer.
    pub ipv4: bool,
    pub ipv6: bool,
    /// Next hops of this session; a family without one is not announced.
    pub next_hop4: Option<Ipv4Addr>,
    pub next_hop6: Option<Ipv6Addr>,
    /// Sent after the global IPv6 next hop when the session runs over link-local addresses.
    pub next_hop6_link_local: Option<Ipv6Addr>,
    /// RFC 8950 was negotiated: IPv4 routes may take the IPv6 next hop(s).
    pub extended_next_hop: bool,
}

impl ExportContext {
    /// True when this session can carry the route to `addr`.
    pub fn exports(&self, addr: &IpAddr) -> bool {
        match addr {
            IpAddr::V4(_) => {
                self.ipv4
                    && (self.next_hop4.is_some()
                        || (self.extended_next_hop && self.next_hop6.is_some()))
            }
            IpAddr::V6(_) => self.ipv6 && self.next_hop6.is_some(),
        }
    }

    /// The families this session carries routes of (negotiated, with a next hop).
    pub fn carries(&self) -> crate::config::Families {
        crate::config::Families {
            ipv4: self.exports(&IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            ipv6: self.exports(&IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        }
    }

    /// IPv4 routes go in MP_REACH_NLRI with IPv6 next hops (RFC 8950).
    fn ipv4_over_ipv6(&self) -> bool {
        self.next_hop4.is_none() && self.extended_next_hop
    }

    /// The path attributes for one VIP, without MP_REACH_NLRI, in type-code order.
    fn attributes(&self, attrs: &RouteAttrs, v6: bool) -> Vec<PathAttribute> {
        let mut out = vec![PathAttribute::Origin(Origin::Igp)];
        let path = if self.ibgp {
            AsPath::default()
        } else {
            AsPath::sequence_of(self.local_asn, 1 + attrs.as_path_prepend as usize)
        };
        let as4 = (!self.codec.four_octet_as && path.needs_four_octets()).then(|| path.clone());
        out.push(PathAttribute::AsPath(path));
        if let (false, Some(nh)) = (v6, self.next_hop4) {
            out.push(PathAttribute::NextHop(nh));
        }
        if let Some(med) = attrs.med {
            out.push(PathAttribute::Med(med));
        }
        if self.ibgp {
            out.push(PathAttribute::LocalPref(
                attrs.local_pref.unwrap_or(DEFAULT_LOCAL_PREF),
            ));
        }
        if !attrs.communities.is_empty() {
            out.push(PathAttribute::Communities(
                attrs.communities.iter().map(|c| c.0).collect(),
            ));
        }
        if let Some(p) = as4 {
            out.push(PathAttribute::As4Path(p));
        }
        if !attrs.large_communities.is_empty() {
            out.push(PathAttribute::LargeCommunities(
                attrs.large_communities.clone(),
            ));
        }
        out
    }

    fn v6_next_hops(&self) -> Vec<IpAddr> {
        self.next_hop6
            .into_iter()
            .chain(self.next_hop6_link_local)
            .map(IpAddr::V6)
            .collect()
    }
}

#[derive(Debug, Clone, Default)]
pub struct AdjRibOut {
    /// What each announced VIP was sent with. VIPs announced in one group share one copy of
    /// their attributes: with 50,000 VIPs of the same attributes, one copy per session.
    sent: BTreeMap<IpAddr, Arc<RouteAttrs>>,
    /// VIPs the last diff could not announce: their path attributes leave no room for a
    /// prefix in one message. With the length of the UPDATE that one would take.
    oversized: Vec<(IpAddr, usize)>,
}

impl AdjRibOut {
    /// Prefixes currently announced to the peer.
    pub fn len(&self) -> usize {
        self.sent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }

    /// Forgets what was sent (session down: the next diff sends everything).
    pub fn clear(&mut self) {
        self.sent.clear();
    }

    /// Forgets what was sent in `families` (ROUTE-REFRESH: the next diff sends them again).
    pub fn forget(&mut self, families: crate::config::Families) {
        self.sent.retain(|addr, _| !families.contains(addr));
    }

    /// What the last [`AdjRibOut::diff`] left unannounced because one route with its path
    /// attributes would not fit in a message: each VIP and the UPDATE length it would need.
    /// `anycastd check` rejects such VIPs, so this is for the log.
    pub fn oversized(&self) -> &[(IpAddr, usize)] {
        &self.oversized
    }

    /// The UPDATEs that take the peer from what it was sent to `desired`; records them as sent.
    /// A group whose attributes cannot fit in a 4096-byte message with even one prefix is not
    /// sent (nor recorded), and is listed in [`AdjRibOut::oversized`].
    pub fn diff(&mut self, desired: &RouteSet, ctx: &ExportContext) -> Vec<Update> {
        self.oversized.clear();
        let mut withdraw4 = Vec::new();
        let mut withdraw6 = Vec::new();
        self.sent.retain(|addr, _| {
            let keep = ctx.exports(addr) && desired.get(addr).is_some_and(|a| a.goes_to(ctx.peer));
            if !keep {
                match addr {
                    IpAddr::V4(_) => withdraw4.push(Prefix::host(*addr)),
                    IpAddr::V6(_) => withdraw6.push(Prefix::host(*addr)),
                }
            }
            keep
        });

        // Group what changed by (family, attributes): one group, one run of UPDATEs.
        let mut groups: BTreeMap<(bool, &RouteAttrs), Vec<Prefix>> = BTreeMap::new();
        for (addr, attrs) in desired {
            if ctx.exports(addr)
                && attrs.goes_to(ctx.peer)
                && self.sent.get(addr).map(Arc::as_ref) != Some(attrs)
            {
                groups
                    .entry((addr.is_ipv6(), attrs))
                    .or_default()
                    .push(Prefix::host(*addr));
            }
        }

        let mut out = Vec::new();
        pack_withdrawals4(withdraw4, &mut out);
        pack_withdrawals6(withdraw6, &mut out);
        for ((v6, attrs), prefixes) in groups {
            let attributes = ctx.attributes(attrs, v6);
            let packed = if v6 {
                pack_announcements_mp(ctx, AFI_IPV6, attributes, &prefixes, &mut out)
            } else if ctx.ipv4_over_ipv6() {
                pack_announcements_mp(ctx, AFI_IPV4, attributes, &prefixes, &mut out)
            } else {
                pack_announcements4(ctx, attributes, &prefixes, &mut out)
            };
            match packed {
                Ok(()) => {
                    let shared = Arc::new(attrs.clone());
                    for p in prefixes {
                        self.sent.insert(p.addr, shared.clone());
                    }
                }
                Err(len) => self
                    .oversized
                    .extend(prefixes.iter().map(|p| (p.addr, len))),
            }
        }
        out
    }
}

/// The length of the UPDATE that announces `addr` alone with `attrs`, on the session of `ctx`.
fn single_route_len(ctx: &ExportContext, attrs: &RouteAttrs, addr: IpAddr) -> usize {
    let v6 = addr.is_ipv6();
    let attributes = ctx.attributes(attrs, v6);
    let mp = v6 || ctx.ipv4_over_ipv6();
    fixed_len(ctx, &attributes, mp) + Prefix::host(addr).encoded_len()
}

/// The longest UPDATE that announcing `addr` with `attrs` can take on any session of a node
/// of AS `local_asn`: eBGP (AS_PATH with the prepends) or iBGP (LOCAL_PREF), a 2-octet AS
/// session (AS4_PATH as well), IPv4 in MP_REACH_NLRI with global and link-local next hops.
/// `anycastd check` compares it with [`MAX_MESSAGE_LEN`].
pub fn longest_single_route_update(attrs: &RouteAttrs, local_asn: u32, addr: IpAddr) -> usize {
    let mut longest = 0;
    for ibgp in [false, true] {
        for four_octet_as in [false, true] {
            for ipv4_over_ipv6 in [false, true] {
                let ctx = ExportContext {
                    peer: addr,
                    ibgp,
                    local_asn,
                    codec: CodecContext { four_octet_as },
                    ipv4: true,
                    ipv6: true,
                    next_hop4: (!ipv4_over_ipv6).then_some(Ipv4Addr::UNSPECIFIED),
                    next_hop6: Some(Ipv6Addr::UNSPECIFIED),
                    next_hop6_link_local: Some(Ipv6Addr::UNSPECIFIED),
                    extended_next_hop: ipv4_over_ipv6,
                };
                longest = longest.max(single_route_len(&ctx, attrs, addr));
            }
        }
    }
    longest
}

fn attributes_len(attrs: &[PathAttribute], codec: &CodecContext) -> usize {
    let mut buf = Vec::with_capacity(128);
    for a in attrs {
        a.encode(codec, &mut buf);
    }
    buf.len()
}

/// Bytes of an announcing UPDATE before its first prefix: the empty UPDATE, `attributes`, and
/// with `mp` the MP_REACH_NLRI around the prefixes (header, AFI, SAFI, next hop length, the
/// session's IPv6 next hop(s), reserved).
fn fixed_len(ctx: &ExportContext, attributes: &[PathAttribute], mp: bool) -> usize {
    let mp_fixed = if mp {
        MP_ATTR_HEADER_LEN + 5 + 16 * ctx.v6_next_hops().len()
    } else {
        0
    };
    EMPTY_UPDATE_LEN + attributes_len(attributes, &ctx.codec) + mp_fixed
}

/// Room for prefixes in an UPDATE that already takes `fixed` bytes; `Err(length)` when not even
/// the longest of `prefixes` fits, with the length the UPDATE would have with it. (Unchecked,
/// this subtraction wrapped: a panic in debug builds, and in release an over-long UPDATE that
/// the peer answers with a NOTIFICATION, again after every reconnect.)
fn room_for(fixed: usize, prefixes: &[Prefix]) -> Result<usize, usize> {
    let longest = prefixes.iter().map(Prefix::encoded_len).max().unwrap_or(0);
    match MAX_MESSAGE_LEN.checked_sub(fixed) {
        Some(room) if room >= longest => Ok(room),
        _ => Err(fixed + longest),
    }
}

/// Splits `prefixes` into runs whose encoding fits in `room` bytes each.
fn chunks(prefixes: &[Prefix], room: usize) -> impl Iterator<Item = &[Prefix]> {
    let mut rest = prefixes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut used = 0;
        let mut n = 0;
        for p in rest {
            if used + p.encoded_len() > room {
                break;
            }
            used += p.encoded_len();
            n += 1;
        }
        // Callers make room for the longest prefix (`room_for`): n is at least 1.
        let n = n.max(1);
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Some(head)
    })
}

fn pack_withdrawals4(prefixes: Vec<Prefix>, out: &mut Vec<Update>) {
    for run in chunks(&prefixes, MAX_MESSAGE_LEN - EMPTY_UPDATE_LEN) {
        out.push(Update {
            withdrawn: run.to_vec(),
            ..Update::default()
        });
    }
}

fn pack_withdrawals6(prefixes: Vec<Prefix>, out: &mut Vec<Update>) {
    let room = MAX_MESSAGE_LEN - EMPTY_UPDATE_LEN - MP_ATTR_HEADER_LEN - 3;
    for run in chunks(&prefixes, room) {
        out.push(Update {
            attributes: vec![PathAttribute::MpUnreach(MpUnreach {
                afi: AFI_IPV6,
                safi: SAFI_UNICAST,
                withdrawn: run.to_vec(),
            })],
            ..Update::default()
        });
    }
}

/// Announcements in the classic NLRI field; `Err` as [`room_for`], and then nothing is added.
fn pack_announcements4(
    ctx: &ExportContext,
    attributes: Vec<PathAttribute>,
    prefixes: &[Prefix],
    out: &mut Vec<Update>,
) -> Result<(), usize> {
    let room = room_for(fixed_len(ctx, &attributes, false), prefixes)?;
    for run in chunks(prefixes, room) {
        out.push(Update {
            attributes: attributes.clone(),
            nlri: run.to_vec(),
            ..Update::default()
        });
    }
    Ok(())
}

/// Announcements in MP_REACH_NLRI (IPv6, or IPv4 with IPv6 next hops), with the session's
/// IPv6 next hop(s); `Err` as [`room_for`], and then nothing is added.
fn pack_announcements_mp(
    ctx: &ExportContext,
    afi: u16,
    attributes: Vec<PathAttribute>,
    prefixes: &[Prefix],
    out: &mut Vec<Update>,
) -> Result<(), usize> {
    let room = room_for(fixed_len(ctx, &attributes, true), prefixes)?;
    let next_hop = ctx.v6_next_hops();
    // MP_REACH_NLRI (14) goes after everything with a lower type code.
    let at = attributes
        .iter()
        .position(|a| a.code() > super::message::ATTR_MP_REACH)
        .unwrap_or(attributes.len());
    for run in chunks(prefixes, room) {
        let mut attrs = attributes.clone();
        attrs.insert(
            at,
            PathAttribute::MpReach(MpReach {
                afi,
                safi: SAFI_UNICAST,
                next_hop: next_hop.clone(),
                nlri: run.to_vec(),
            }),
        );
        out.push(Update {
            attributes: attrs,
            ..Update::default()
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::message::{frame, Message, ATTR_LOCAL_PREF};
    use super::*;
    use crate::config::{Community, LargeCommunity};

    fn ebgp() -> ExportContext {
        ExportContext {
            peer: "10.0.1.1".parse().unwrap(),
            ibgp: false,
            local_asn: 65001,
            codec: CodecContext {
                four_octet_as: true,
            },
            ipv4: true,
            ipv6: true,
            next_hop4: Some(Ipv4Addr::new(10, 0, 1, 2)),
            next_hop6: Some("2001:db8::2".parse().unwrap()),
            next_hop6_link_local: None,
            extended_next_hop: false,
        }
    }

    /// The UPDATE's MP_REACH_NLRI; panics when it has none.
    fn mp_reach(u: &Update) -> &MpReach {
        u.attributes
            .iter()
            .find_map(|a| match a {
                PathAttribute::MpReach(m) => Some(m),
                _ => None,
            })
            .expect("an MP_REACH_NLRI")
    }

    fn v4(i: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a64_0000 + i))
    }

    fn v6(i: u32) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from(
            0x2001_0db8_0100_0000_0000_0000_0000_0000u128 + i as u128,
        ))
    }

    fn set(addrs: impl IntoIterator<Item = IpAddr>) -> RouteSet {
        addrs
            .into_iter()
            .map(|a| (a, RouteAttrs::default()))
            .collect()
    }

    fn encoded(u: &Update, ctx: &ExportContext) -> Vec<u8> {
        Message::Update(u.clone()).to_bytes(&ctx.codec)
    }

    /// Every UPDATE fits the limit and decodes back to what was built.
    fn check_wire(updates: &[Update], ctx: &ExportContext) {
        for u in updates {
            let bytes = encoded(u, ctx);
            assert!(bytes.len() <= MAX_MESSAGE_LEN, "{} bytes", bytes.len());
            let (kind, len) = frame(&bytes).unwrap().unwrap();
            assert_eq!(len, bytes.len());
            let back = Message::decode(kind, &bytes[19..], &ctx.codec).unwrap();
            assert_eq!(back, Message::Update(u.clone()));
        }
    }

    #[test]
    fn ten_thousand_ipv4_vips_with_equal_attributes_pack_into_thirteen_updates() {
        let ctx = ebgp();
        let mut rib = AdjRibOut::default();
        let updates = rib.diff(&set((0..10_000).map(v4)), &ctx);
        // 20 bytes of attributes leave room for 810 host routes per message.
        assert_eq!(updates.len(), 13);
        assert_eq!(updates.iter().map(|u| u.nlri.len()).sum::<usize>(), 10_000);
        assert!(updates[..12].iter().all(|u| u.nlri.len() == 810));
        check_wire(&updates, &ctx);
        assert_eq!(rib.len(), 10_000);
    }

    #[test]
    fn ten_thousand_ipv6_vips_pack_densely_into_mp_reach() {
        let ctx = ebgp();
        let updates = AdjRibOut::default().diff(&set((0..10_000).map(v6)), &ctx);
        let per = updates.iter().map(|u| u.announced().count()).max().unwrap();
        assert_eq!(
            updates.iter().map(|u| u.announced().count()).sum::<usize>(),
            10_000
        );
        // (4096 - 23 - 13 attribute bytes - 25 MP_REACH overhead) / 17 = 237 per message.
        assert_eq!(per, 237);
        assert_eq!(updates.len(), 10_000usize.div_ceil(237));
        check_wire(&updates, &ctx);
    }

    #[test]
    fn an_unchanged_set_sends_nothing() {
        let ctx = ebgp();
        let mut rib = AdjRibOut::default();
        let routes = set((0..10).map(v4));
        rib.diff(&routes, &ctx);
        assert!(rib.diff(&routes, &ctx).is_empty());
    }

    #[test]
    fn removing_vips_sends_one_withdraw_only_update() {
        let ctx = ebgp();
        let mut rib = AdjRibOut::default();
        rib.diff(&set((0..10).map(v4)), &ctx);
        let updates = rib.diff(&set((3..10).map(v4)), &ctx);
        assert_eq!(updates.len(), 1);
        assert!(updates[0].attributes.is_empty() && updates[0].nlri.is_empty());
        assert_eq!(updates[0].withdrawn.len(), 3);
        assert_eq!(
            encoded(&updates[0], &ctx)[16..],
            [0, 38, 2, 0, 15, 32, 10, 100, 0, 0, 32, 10, 100, 0, 1, 32, 10, 100, 0, 2, 0, 0]
        );
        assert_eq!(rib.len(), 7);
    }

    #[test]
    fn thousands_of_withdrawals_are_packed_too() {
        let ctx = ebgp();
        let mut rib = AdjRibOut::default();
        rib.diff(&set((0..5000).map(v4).chain((0..1000).map(v6))), &ctx);
        let updates = rib.diff(&RouteSet::new(), &ctx);
        // (4096 - 23) / 5 = 814 IPv4 per message; (4096 - 30) / 17 = 239 IPv6 per message.
        assert_eq!(
            updates.len(),
            5000usize.div_ceil(814) + 1000usize.div_ceil(239)
        );
        assert_eq!(
            updates
                .iter()
                .map(|u| u.withdrawals().count())
                .sum::<usize>(),
            6000
        );
        check_wire(&updates, &ctx);
        assert!(rib.is_empty());
    }

    #[test]
    fn ebgp_attributes_are_origin_as_path_with_prepends_next_hop_med_and_communities() {
        let ctx = ebgp();
        // 65000:100, 65000:1:2, MED 10, LOCAL_PREF 200 and 2 prepends.
        let routes = RouteSet::from([(v4(1), RouteAttrs::example())]);
        let updates = AdjRibOut::default().diff(&routes, &ctx);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0, 0x55, 2, 0, 0, 0, 0x39, // length 85, UPDATE, no withdrawals, 57 bytes of attributes
            0x40, 1, 1, 0, // ORIGIN IGP
            0x40, 2, 14, 2, 3, 0, 0, 0xfd, 0xe9, 0, 0, 0xfd, 0xe9, 0, 0, 0xfd, 0xe9, // 3 x 65001
            0x40, 3, 4, 10, 0, 1, 2, // NEXT_HOP
            0x80, 4, 4, 0, 0, 0, 10, // MED 10; no LOCAL_PREF on eBGP
            0xc0, 8, 4, 0xfd, 0xe8, 0, 100, // 65000:100
            0xc0, 0x20, 12, 0, 0, 0xfd, 0xe8, 0, 0, 0, 1, 0, 0, 0, 2, // 65000:1:2
            32, 10, 100, 0, 1,
        ];
        assert_eq!(&encoded(&updates[0], &ctx)[16..], expected);
    }

    #[test]
    fn vips_announced_together_share_one_copy_of_their_attributes() {
        let ctx = ebgp();
        let mut rib = AdjRibOut::default();
        let routes: RouteSet = (1..=1000).map(|i| (v4(i), RouteAttrs::example())).collect();
        rib.diff(&routes, &ctx);
        let first = &rib.sent[&v4(1)];
        assert_eq!(rib.len(), 1000);
        assert!(rib.sent.values().all(|a| Arc::ptr_eq(a, first)));
        assert_eq!(
            Arc::strong_count(first),
            1000,
            "one allocation, held by every VIP"
        );
        assert!(
            rib.diff(&routes, &ctx).is_empty(),
            "shared attributes compare as sent"
        );
    }

    #[test]
    fn a_route_for_some_peers_only_is_sent_to_them_and_withdrawn_when_they_are_dropped() {
        let ctx = ebgp();
        let other: IpAddr = "10.0.2.1".parse().unwrap();
        let only = |peers: Vec<IpAddr>| {
            RouteSet::from([(
                v4(1),
                RouteAttrs {
                    peers,
                    ..RouteAttrs::default()
                },
            )])
        };
        let mut rib = AdjRibOut::default();
        assert!(rib.diff(&only(vec![other]), &ctx).is_empty(), "not ours");
        let sent = rib.diff(&only(vec![other, ctx.peer]), &ctx);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].nlri, [Prefix::host(v4(1))]);
        let withdrawn = rib.diff(&only(vec![other]), &ctx);
        assert_eq!(withdrawn.len(), 1);
        assert_eq!(withdrawn[0].withdrawn, [Prefix::host(v4(1))]);
        assert!(only(Vec::new())[&v4(1)].goes_to(other), "empty: every peer");
    }

    #[test]
    fn ibgp_gets_an_empty_as_path_and_local_pref_defaulting_to_100() {
        let ctx = ExportContext {
            ibgp: true,
            ..ebgp()
        };
        let updates = AdjRibOut::default().diff(&set([v4(1)]), &ctx);
        let a = &updates[0].attributes;
        assert_eq!(a[1], PathAttribute::AsPath(AsPath::default()));
        assert!(a.contains(&PathAttribute::LocalPref(100)));
        let routes = RouteSet::from([(
            v4(1),
            RouteAttrs {
                local_pref: Some(50),
                as_path_prepend: 3,
                ..RouteAttrs::default()
            },
        )]);
        let updates = AdjRibOut::default().diff(&routes, &ctx);
        let a = &updates[0].attributes;
        assert!(a.contains(&PathAttribute::LocalPref(50)));
        assert_eq!(a[1], PathAttribute::AsPath(AsPath::default()));
        assert!(!ebgp()
            .attributes(&RouteAttrs::default(), false)
            .iter()
            .any(|x| x.code() == ATTR_LOCAL_PREF));
    }

    #[test]
    fn a_four_byte_asn_on_a_two_byte_session_adds_as4_path() {
        let ctx = ExportContext {
            local_asn: 4_200_000_000,
            codec: CodecContext::default(),
            ..ebgp()
        };
        let a = ctx.attributes(&RouteAttrs::default(), false);
        assert!(a.contains(&PathAttribute::As4Path(AsPath::sequence_of(
            4_200_000_000,
            1
        ))));
    }

    #[test]
    fn ipv6_goes_in_mp_reach_with_the_link_local_next_hop_when_known() {
        let ctx = ExportContext {
            next_hop6_link_local: Some("fe80::2".parse().unwrap()),
            ..ebgp()
        };
        let updates = AdjRibOut::default().diff(&set([v6(1)]), &ctx);
        let mp = mp_reach(&updates[0]);
        assert_eq!(mp.next_hop.len(), 2);
        assert_eq!(mp.nlri, [Prefix::host(v6(1))]);
        assert!(updates[0].nlri.is_empty());
        assert!(!updates[0].attributes.iter().any(|a| a.code() == 3));
        check_wire(&updates, &ctx);
    }

    #[test]
    fn ipv4_over_an_ipv6_session_with_extended_next_hop_goes_in_mp_reach_afi_1() {
        let ctx = ExportContext {
            next_hop4: None,
            next_hop6_link_local: Some("fe80::2".parse().unwrap()),
            extended_next_hop: true,
            ..ebgp()
        };
        let mut rib = AdjRibOut::default();
        let many: Vec<IpAddr> = (0..2000).map(v4).collect();
        let updates = rib.diff(&set(many.iter().copied()), &ctx);
        assert_eq!(rib.len(), 2000);
        let mut announced = 0;
        for u in &updates {
            assert!(
                u.nlri.is_empty(),
                "IPv4 NLRI must not use the classic field"
            );
            assert!(!u.attributes.iter().any(|a| a.code() == 3), "no NEXT_HOP");
            let mp = mp_reach(u);
            assert_eq!((mp.afi, mp.safi), (AFI_IPV4, SAFI_UNICAST));
            assert_eq!(
                mp.next_hop,
                [
                    IpAddr::V6("2001:db8::2".parse().unwrap()),
                    IpAddr::V6("fe80::2".parse().unwrap())
                ]
            );
            announced += mp.nlri.len();
        }
        assert_eq!(announced, 2000);
        check_wire(&updates, &ctx);
        // Withdrawals take the classic field.
        let w = rib.diff(&set([v4(0)]), &ctx);
        assert_eq!(w.iter().map(|u| u.withdrawn.len()).sum::<usize>(), 1999);
        assert!(w.iter().all(|u| u.attributes.is_empty()));
        check_wire(&w, &ctx);
    }

    #[test]
    fn ipv4_over_ipv6_needs_the_negotiated_capability_and_an_ipv4_next_hop_wins() {
        let no_enh = ExportContext {
            next_hop4: None,
            ..ebgp()
        };
        assert!(!no_enh.exports(&v4(1)));
        assert_eq!(no_enh.carries().names(), ["ipv6"]);
        let both = ExportContext {
            extended_next_hop: true,
            ..ebgp()
        };
        let updates = AdjRibOut::default().diff(&set([v4(1)]), &both);
        assert_eq!(updates[0].nlri, [Prefix::host(v4(1))]);
        assert!(updates[0].attributes.iter().any(|a| a.code() == 3));
    }

    #[test]
    fn ipv6_without_a_next_hop_or_family_is_not_sent_or_counted() {
        for ctx in [
            ExportContext {
                next_hop6: None,
                ..ebgp()
            },
            ExportContext {
                ipv6: false,
                ..ebgp()
            },
        ] {
            let mut rib = AdjRibOut::default();
            let updates = rib.diff(&set([v4(1), v6(1)]), &ctx);
            assert_eq!(updates.len(), 1);
            assert_eq!(rib.len(), 1);
        }
    }

    #[test]
    fn changed_attributes_reannounce_without_withdrawing() {
        let ctx = ebgp();
        let mut rib = AdjRibOut::default();
        rib.diff(&set([v4(1), v4(2)]), &ctx);
        let mut routes = set([v4(1), v4(2)]);
        routes.get_mut(&v4(2)).unwrap().med = Some(5);
        let updates = rib.diff(&routes, &ctx);
        assert_eq!(updates.len(), 1);
        assert_eq!(updates[0].nlri, [Prefix::host(v4(2))]);
        assert!(updates[0].withdrawn.is_empty());
    }

    #[test]
    fn vips_with_different_attributes_go_in_separate_updates() {
        let ctx = ebgp();
        let mut routes = set((0..4).map(v4));
        routes.get_mut(&v4(3)).unwrap().med = Some(1);
        let updates = AdjRibOut::default().diff(&routes, &ctx);
        assert_eq!(updates.len(), 2);
        assert_eq!(updates[0].nlri.len() + updates[1].nlri.len(), 4);
    }

    #[test]
    fn after_clear_everything_is_sent_again() {
        let ctx = ebgp();
        let mut rib = AdjRibOut::default();
        let routes = set((0..5).map(v4));
        rib.diff(&routes, &ctx);
        rib.clear();
        let updates = rib.diff(&routes, &ctx);
        assert_eq!(updates[0].nlri.len(), 5);
    }

    #[test]
    fn after_forgetting_a_family_only_that_family_is_sent_again() {
        let ctx = ebgp();
        let mut rib = AdjRibOut::default();
        let routes = set((0..5).map(v4).chain((0..3).map(v6)));
        rib.diff(&routes, &ctx);
        rib.forget(crate::config::Families {
            ipv4: false,
            ipv6: true,
        });
        let updates = rib.diff(&routes, &ctx);
        let again: Vec<_> = updates.iter().flat_map(|u| u.announced()).collect();
        assert_eq!(again.len(), 3, "{again:?}");
        assert!(again.iter().all(|p| p.addr.is_ipv6()), "{again:?}");
        assert_eq!(rib.len(), 8);
    }

    fn with_communities(n: u32) -> RouteAttrs {
        RouteAttrs {
            communities: (0..n).map(Community).collect(),
            ..RouteAttrs::default()
        }
    }

    #[test]
    fn attributes_that_leave_exactly_room_for_one_prefix_make_a_4096_byte_update() {
        // 48 bytes without communities (eBGP, IPv4): 4 + 4 * 1011 more is 4096.
        let ctx = ebgp();
        let mut rib = AdjRibOut::default();
        let updates = rib.diff(&RouteSet::from([(v4(1), with_communities(1011))]), &ctx);
        assert_eq!(updates.len(), 1);
        assert_eq!(encoded(&updates[0], &ctx).len(), MAX_MESSAGE_LEN);
        assert!(rib.oversized().is_empty());
        check_wire(&updates, &ctx);
    }

    #[test]
    fn attributes_too_long_for_one_message_are_skipped_not_sent_over_long() {
        // Before, the room computation underflowed: a panic here, an over-long UPDATE (and
        // the peer's reset, again after every reconnect) in release builds.
        let ctx = ExportContext {
            next_hop6_link_local: Some("fe80::2".parse().unwrap()),
            ..ebgp()
        };
        let many_large = RouteAttrs {
            large_communities: (0..400)
                .map(|i| LargeCommunity {
                    global: 65000,
                    local1: i,
                    local2: 0,
                })
                .collect(),
            ..RouteAttrs::default()
        };
        let routes = RouteSet::from([
            (v4(1), with_communities(1012)),
            (v4(2), RouteAttrs::default()),
            (v6(1), many_large.clone()),
            (v6(2), RouteAttrs::default()),
        ]);
        let mut rib = AdjRibOut::default();
        let updates = rib.diff(&routes, &ctx);
        check_wire(&updates, &ctx);
        let announced: Vec<_> = updates.iter().flat_map(|u| u.announced()).collect();
        assert_eq!(announced, [&Prefix::host(v4(2)), &Prefix::host(v6(2))]);
        assert_eq!(rib.len(), 2);
        // 48 + 4 + 4 * 1012 = 4100; IPv6: 23 + 13 + 4 + 4800 + 41 + 17 = 4898.
        assert_eq!(rib.oversized(), [(v4(1), 4100), (v6(1), 4898)]);
        // Not recorded as sent: the next diff tries again (and reports them again).
        assert!(rib.diff(&routes, &ctx).is_empty());
        assert_eq!(rib.oversized().len(), 2);
        // Once the attributes fit, the route goes out.
        let mut fixed = routes.clone();
        fixed.insert(v4(1), with_communities(10));
        let updates = rib.diff(&fixed, &ctx);
        assert_eq!(updates.len(), 1);
        assert_eq!(updates[0].nlri, [Prefix::host(v4(1))]);
        assert_eq!(rib.len(), 3);
    }

    #[test]
    fn attributes_longer_than_an_attribute_length_field_are_skipped_too() {
        // 20,000 communities: 80,000 bytes, more than even the extended length can say.
        let ctx = ebgp();
        let mut rib = AdjRibOut::default();
        let updates = rib.diff(&RouteSet::from([(v4(1), with_communities(20_000))]), &ctx);
        assert!(updates.is_empty());
        assert_eq!(rib.oversized().len(), 1);
        assert!(rib.is_empty());
    }

    #[test]
    fn the_longest_single_route_update_covers_every_kind_of_session() {
        // iBGP (LOCAL_PREF) with IPv4 in MP_REACH_NLRI and two next hops: 23 + 14 + 41 + 5.
        let v4_attrs = RouteAttrs::default();
        assert_eq!(longest_single_route_update(&v4_attrs, 65001, v4(1)), 83);
        assert_eq!(longest_single_route_update(&v4_attrs, 65001, v6(1)), 95);
        // A 4-byte ASN prepended 10 times on a 2-octet session: AS_PATH of 11 AS_TRANS (27)
        // and AS4_PATH (49), eBGP: 23 + 4 + 27 + 49 + 41 + 5.
        let prepended = RouteAttrs {
            as_path_prepend: 10,
            ..RouteAttrs::default()
        };
        assert_eq!(
            longest_single_route_update(&prepended, 4_200_000_000, v4(1)),
            149
        );
        // What diff finds too long, this finds too long as well.
        let attrs = with_communities(1012);
        assert!(longest_single_route_update(&attrs, 65001, v4(1)) > MAX_MESSAGE_LEN);
    }
}
