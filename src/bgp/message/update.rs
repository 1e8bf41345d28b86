//! UPDATE (RFC 4271 §4.3): the withdrawn routes, the attribute list and the NLRI, and what the
//! message as a whole comes to. The attributes themselves are [`super::attribute`]'s.
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
//! ```
//!
//! Error handling follows RFC 7606: errors that leave the message's structure intact (an
//! attribute that is treat-as-withdraw, see [`super::attribute`], a missing mandatory
//! attribute, an attribute that overruns the attribute list) do not reset the session: the
//! UPDATE is decoded with [`Update::treat_as_withdraw`] set, and its announced prefixes count
//! as withdrawn. Errors that make the NLRI unknowable (bad withdrawn/NLRI fields, an
//! MP_REACH_NLRI/MP_UNREACH_NLRI that is broken, repeated or overruns the attribute list,
//! RFC 7606 §3 j and §5.3) are returned as [`DecodeError`]s and reset the session.

use super::attribute::{
    self, MpUnreach, PathAttribute, Verdict, ATTR_AS_PATH, ATTR_MP_REACH, ATTR_NEXT_HOP,
    ATTR_ORIGIN,
};
use super::{CodecContext, DecodeError, Prefix, Reader, AFI_IPV4, SAFI_UNICAST};

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
        let Some((flags, code, value)) = attribute::read(&mut r) else {
            update.taw("truncated attribute header");
            return Ok(());
        };
        let Some(value) = value else {
            if attribute::is_mp(code) {
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
            if attribute::is_mp(code) {
                return Err(DecodeError::MalformedAttributeList(
                    "repeated MP_REACH_NLRI/MP_UNREACH_NLRI",
                ));
            }
            continue; // RFC 7606 §3 (g): discard all but the first.
        }
        match attribute::decode(flags, code, value, ctx) {
            Verdict::Keep(a, flags_error) => {
                update.attributes.push(a);
                if let Some(why) = flags_error {
                    update.taw(why);
                }
            }
            Verdict::Discard => {}
            Verdict::Withdraw(why) => update.taw(why),
            Verdict::UnrecognizedWellKnown => {
                return Err(DecodeError::UnrecognizedWellKnownAttribute {
                    code,
                    attribute: received(&r),
                })
            }
            Verdict::Reset(why) => {
                return Err(DecodeError::OptionalAttributeError {
                    why,
                    attribute: received(&r),
                })
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::super::attribute::{AsPath, Origin};
    use super::super::fixtures::*;
    use super::super::{Message, AFI_IPV6};
    use super::*;
    use crate::config::LargeCommunity;

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
