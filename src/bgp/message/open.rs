//! OPEN (RFC 4271 §4.2) with capabilities (RFC 5492).
//!
//! ```text
//! +-+-+-+-+-+-+-+-+
//! |    Version    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     My Autonomous System      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Hold Time           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         BGP Identifier                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Opt Parm Len  |  Optional Parameters (type 2 = capabilities) ...
//! +-+-+-+-+-+-+-+-+
//! ```
//!
//! Validation against the configuration (peer AS, identifier, hold time) is the FSM's job;
//! this module only checks that the bytes are well formed.

use std::net::Ipv4Addr;

use super::{DecodeError, Reader};

/// The 2-byte placeholder for a 4-byte ASN (RFC 6793).
pub const AS_TRANS: u16 = 23456;

const PARAM_CAPABILITIES: u8 = 2;
const CAP_MULTIPROTOCOL: u8 = 1;
const CAP_ROUTE_REFRESH: u8 = 2;
const CAP_EXTENDED_NEXT_HOP: u8 = 5;
const CAP_GRACEFUL_RESTART: u8 = 64;
const CAP_FOUR_OCTET_AS: u8 = 65;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capability {
    /// RFC 4760.
    Multiprotocol { afi: u16, safi: u8 },
    /// RFC 2918.
    RouteRefresh,
    /// RFC 8950 §4: NLRI of (AFI, SAFI) may carry a next hop of the third field's AFI.
    ExtendedNextHop(Vec<ExtendedNextHop>),
    /// RFC 6793.
    FourOctetAs(u32),
    /// RFC 4724 §3.
    GracefulRestart(GracefulRestart),
    /// Anything else: kept so it can be logged, otherwise ignored.
    Unknown { code: u8, data: Vec<u8> },
}

/// The Graceful Restart capability (RFC 4724 §3):
///
/// ```text
/// +--------------------------------------------------+
/// | Restart Flags (4 bits: R, N, 0, 0) | Restart Time in seconds (12 bits) |
/// +--------------------------------------------------+
/// | AFI (2) | SAFI (1) | Flags for Address Family (1: F bit) |   repeated
/// +--------------------------------------------------+
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GracefulRestart {
    /// R: the sender has restarted (its peer must not wait for its End-of-RIB before sending).
    pub restart_state: bool,
    /// N (RFC 8538): a NOTIFICATION also triggers graceful restart. We never set it, so our
    /// Cease always removes our routes at once.
    pub notification: bool,
    /// 0..=4095 seconds: how long the peer keeps our routes (as stale) while we are gone.
    pub restart_time: u16,
    /// (AFI, SAFI, F: forwarding state preserved across the restart).
    pub families: Vec<(u16, u8, bool)>,
}

const GR_RESTART_STATE: u16 = 0x8000;
const GR_NOTIFICATION: u16 = 0x4000;
const GR_TIME_MASK: u16 = 0x0fff;
const GR_FORWARDING: u8 = 0x80;

impl GracefulRestart {
    /// Restart time is a 12-bit field.
    pub const MAX_RESTART_TIME: u16 = GR_TIME_MASK;

    /// `None` when the length is not 2 + 4n (the capability is then ignored, not fatal: a
    /// peer's odd GR capability must not keep the session down).
    fn decode(v: &[u8]) -> Option<Self> {
        let (head, rest) = v.split_first_chunk::<2>()?;
        if rest.len() % 4 != 0 {
            return None;
        }
        let word = u16::from_be_bytes(*head);
        Some(GracefulRestart {
            restart_state: word & GR_RESTART_STATE != 0,
            notification: word & GR_NOTIFICATION != 0,
            restart_time: word & GR_TIME_MASK,
            families: rest
                .chunks_exact(4)
                .map(|c| {
                    (
                        u16::from_be_bytes([c[0], c[1]]),
                        c[2],
                        c[3] & GR_FORWARDING != 0,
                    )
                })
                .collect(),
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let mut word = self.restart_time.min(GR_TIME_MASK);
        if self.restart_state {
            word |= GR_RESTART_STATE;
        }
        if self.notification {
            word |= GR_NOTIFICATION;
        }
        // At most 63 families fit a capability's one-byte length.
        let families = &self.families[..self.families.len().min(63)];
        out.extend_from_slice(&[CAP_GRACEFUL_RESTART, (2 + 4 * families.len()) as u8]);
        out.extend_from_slice(&word.to_be_bytes());
        for (afi, safi, forwarding) in families {
            out.extend_from_slice(&afi.to_be_bytes());
            out.push(*safi);
            out.push(if *forwarding { GR_FORWARDING } else { 0 });
        }
    }
}

/// One tuple of the Extended Next Hop Encoding capability (RFC 8950 §4): NLRI AFI (2 bytes),
/// NLRI SAFI (2 bytes, unlike elsewhere), next hop AFI (2 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtendedNextHop {
    pub afi: u16,
    pub safi: u16,
    pub next_hop_afi: u16,
}

impl ExtendedNextHop {
    /// IPv4 unicast NLRI with an IPv6 next hop: the one tuple anycastd uses.
    pub const IPV4_OVER_IPV6: ExtendedNextHop = ExtendedNextHop {
        afi: super::AFI_IPV4,
        safi: super::SAFI_UNICAST as u16,
        next_hop_afi: super::AFI_IPV6,
    };
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    pub version: u8,
    /// The 2-byte "My Autonomous System" field (AS_TRANS when the ASN needs 4 bytes).
    pub my_as: u16,
    pub hold_time: u16,
    pub bgp_id: Ipv4Addr,
    pub capabilities: Vec<Capability>,
}

impl Open {
    /// The OPEN we send: version 4, the ASN (AS_TRANS if it needs 4 bytes), our capabilities.
    pub fn ours(asn: u32, hold_time: u16, bgp_id: Ipv4Addr) -> Self {
        Open {
            version: 4,
            my_as: u16::try_from(asn).unwrap_or(AS_TRANS),
            hold_time,
            bgp_id,
            capabilities: vec![
                Capability::Multiprotocol {
                    afi: super::AFI_IPV4,
                    safi: super::SAFI_UNICAST,
                },
                Capability::Multiprotocol {
                    afi: super::AFI_IPV6,
                    safi: super::SAFI_UNICAST,
                },
                Capability::RouteRefresh,
                Capability::FourOctetAs(asn),
            ],
        }
    }

    /// Keeps only the multiprotocol capabilities of the families asked for (RFC 4760): a
    /// session offers what it may carry, so a router never negotiates a family we would send
    /// nothing of.
    pub fn with_families(mut self, ipv4: bool, ipv6: bool) -> Self {
        self.capabilities.retain(|c| match c {
            Capability::Multiprotocol { afi, .. } => {
                (*afi == super::AFI_IPV4 && ipv4) || (*afi == super::AFI_IPV6 && ipv6)
            }
            _ => true,
        });
        self
    }

    /// Offers RFC 8950: IPv4 unicast routes with an IPv6 next hop.
    pub fn with_extended_next_hop(mut self) -> Self {
        self.capabilities.push(Capability::ExtendedNextHop(vec![
            ExtendedNextHop::IPV4_OVER_IPV6,
        ]));
        self
    }

    /// Whether this OPEN offers IPv4 unicast NLRI with IPv6 next hops (RFC 8950).
    pub fn extended_next_hop_ipv4(&self) -> bool {
        self.capabilities.iter().any(|c| match c {
            Capability::ExtendedNextHop(t) => t.contains(&ExtendedNextHop::IPV4_OVER_IPV6),
            _ => false,
        })
    }

    /// Adds the Graceful Restart capability as a speaker that only originates routes sends
    /// it, for IPv4 and IPv6 unicast: `restarting` sets R, `forwarding` sets F (forwarding
    /// state preserved: the VIPs and the IPVS tables stayed in the kernel while the process
    /// restarted, so the router may keep forwarding to us on our stale routes).
    pub fn with_graceful_restart(
        mut self,
        restart_time: u16,
        restarting: bool,
        forwarding: bool,
    ) -> Self {
        self.capabilities
            .push(Capability::GracefulRestart(GracefulRestart {
                restart_state: restarting,
                notification: false,
                restart_time: restart_time.min(GracefulRestart::MAX_RESTART_TIME),
                families: vec![
                    (super::AFI_IPV4, super::SAFI_UNICAST, forwarding),
                    (super::AFI_IPV6, super::SAFI_UNICAST, forwarding),
                ],
            }));
        self
    }

    /// The peer's Graceful Restart capability, if it sent one.
    pub fn graceful_restart(&self) -> Option<&GracefulRestart> {
        self.capabilities.iter().find_map(|c| match c {
            Capability::GracefulRestart(g) => Some(g),
            _ => None,
        })
    }

    /// The ASN from the 4-octet capability, if present.
    pub fn four_octet_as(&self) -> Option<u32> {
        self.capabilities.iter().find_map(|c| match c {
            Capability::FourOctetAs(a) => Some(*a),
            _ => None,
        })
    }

    /// The peer's real ASN: from the capability when present, else the 2-byte field.
    pub fn asn(&self) -> u32 {
        self.four_octet_as().unwrap_or(self.my_as as u32)
    }

    /// AFI/SAFI pairs announced with the multiprotocol capability.
    pub fn multiprotocol(&self) -> impl Iterator<Item = (u16, u8)> + '_ {
        self.capabilities.iter().filter_map(|c| match c {
            Capability::Multiprotocol { afi, safi } => Some((*afi, *safi)),
            _ => None,
        })
    }

    pub fn route_refresh(&self) -> bool {
        self.capabilities.contains(&Capability::RouteRefresh)
    }

    pub(super) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let short = DecodeError::MalformedOpen("message too short");
        let version = r.u8().ok_or(short.clone())?;
        if version != 4 {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let my_as = r.u16().ok_or(short.clone())?;
        let hold_time = r.u16().ok_or(short.clone())?;
        let bgp_id = Ipv4Addr::from(r.u32().ok_or(short.clone())?);
        let opt_len = r.u8().ok_or(short)? as usize;
        if opt_len != r.remaining() {
            return Err(DecodeError::MalformedOpen(
                "optional parameters length disagrees with message length",
            ));
        }
        let mut capabilities = Vec::new();
        let mut params = Reader::new(r.rest());
        while !params.is_empty() {
            let bad = DecodeError::MalformedOpen("truncated optional parameter");
            let kind = params.u8().ok_or(bad.clone())?;
            let len = params.u8().ok_or(bad.clone())? as usize;
            let value = params.take(len).ok_or(bad)?;
            if kind != PARAM_CAPABILITIES {
                return Err(DecodeError::UnsupportedOptionalParameter(kind));
            }
            decode_capabilities(value, &mut capabilities)?;
        }
        Ok(Open {
            version,
            my_as,
            hold_time,
            bgp_id,
            capabilities,
        })
    }

    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.version);
        out.extend_from_slice(&self.my_as.to_be_bytes());
        out.extend_from_slice(&self.hold_time.to_be_bytes());
        out.extend_from_slice(&self.bgp_id.octets());
        let opt_len_at = out.len();
        out.push(0);
        // One optional parameter holding all capabilities (RFC 5492 allows either form).
        if !self.capabilities.is_empty() {
            out.push(PARAM_CAPABILITIES);
            let param_len_at = out.len();
            out.push(0);
            for cap in &self.capabilities {
                encode_capability(cap, out);
            }
            out[param_len_at] = (out.len() - param_len_at - 1) as u8;
        }
        out[opt_len_at] = (out.len() - opt_len_at - 1) as u8;
    }
}

fn decode_capabilities(bytes: &[u8], caps: &mut Vec<Capability>) -> Result<(), DecodeError> {
    let mut r = Reader::new(bytes);
    let bad = DecodeError::MalformedOpen("malformed capability");
    while !r.is_empty() {
        let code = r.u8().ok_or(bad.clone())?;
        let len = r.u8().ok_or(bad.clone())? as usize;
        let value = r.take(len).ok_or(bad.clone())?;
        let cap = match (code, value) {
            (CAP_MULTIPROTOCOL, [a1, a2, _, safi]) => Capability::Multiprotocol {
                afi: u16::from_be_bytes([*a1, *a2]),
                safi: *safi,
            },
            (CAP_ROUTE_REFRESH, []) => Capability::RouteRefresh,
            (CAP_EXTENDED_NEXT_HOP, v) if !v.is_empty() && v.len() % 6 == 0 => {
                Capability::ExtendedNextHop(
                    v.chunks_exact(6)
                        .map(|c| ExtendedNextHop {
                            afi: u16::from_be_bytes([c[0], c[1]]),
                            safi: u16::from_be_bytes([c[2], c[3]]),
                            next_hop_afi: u16::from_be_bytes([c[4], c[5]]),
                        })
                        .collect(),
                )
            }
            (CAP_FOUR_OCTET_AS, [a, b, c, d]) => {
                Capability::FourOctetAs(u32::from_be_bytes([*a, *b, *c, *d]))
            }
            (
                CAP_MULTIPROTOCOL | CAP_ROUTE_REFRESH | CAP_FOUR_OCTET_AS | CAP_EXTENDED_NEXT_HOP,
                _,
            ) => return Err(bad),
            (CAP_GRACEFUL_RESTART, v) => match GracefulRestart::decode(v) {
                Some(gr) => Capability::GracefulRestart(gr),
                None => Capability::Unknown {
                    code,
                    data: v.to_vec(),
                },
            },
            (code, data) => Capability::Unknown {
                code,
                data: data.to_vec(),
            },
        };
        caps.push(cap);
    }
    Ok(())
}

fn encode_capability(cap: &Capability, out: &mut Vec<u8>) {
    match cap {
        Capability::Multiprotocol { afi, safi } => {
            out.extend_from_slice(&[CAP_MULTIPROTOCOL, 4]);
            out.extend_from_slice(&afi.to_be_bytes());
            out.extend_from_slice(&[0, *safi]);
        }
        Capability::RouteRefresh => out.extend_from_slice(&[CAP_ROUTE_REFRESH, 0]),
        Capability::ExtendedNextHop(tuples) => {
            // At most 42 tuples fit a capability's one-byte length.
            let tuples = &tuples[..tuples.len().min(42)];
            out.extend_from_slice(&[CAP_EXTENDED_NEXT_HOP, (6 * tuples.len()) as u8]);
            for t in tuples {
                out.extend_from_slice(&t.afi.to_be_bytes());
                out.extend_from_slice(&t.safi.to_be_bytes());
                out.extend_from_slice(&t.next_hop_afi.to_be_bytes());
            }
        }
        Capability::FourOctetAs(asn) => {
            out.extend_from_slice(&[CAP_FOUR_OCTET_AS, 4]);
            out.extend_from_slice(&asn.to_be_bytes());
        }
        Capability::GracefulRestart(gr) => gr.encode(out),
        Capability::Unknown { code, data } => {
            out.push(*code);
            out.push(data.len().min(255) as u8);
            out.extend_from_slice(&data[..data.len().min(255)]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{frame, CodecContext, Message};
    use super::*;

    /// An OPEN as FRR 8 sends it (AS 65000, hold 9, id 10.0.0.1), one capability per optional
    /// parameter, including graceful restart (64) and FQDN (73) which we do not implement.
    const FRR_OPEN: &[u8] = &[
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x00, 0x4a, 0x01, // header: length 74, OPEN
        0x04, 0xfd, 0xe8, 0x00, 0x09, 0x0a, 0x00, 0x00, 0x01, // v4, AS 65000, hold 9, id
        0x2d, // optional parameters length 45
        0x02, 0x06, 0x01, 0x04, 0x00, 0x01, 0x00, 0x01, // MP IPv4 unicast
        0x02, 0x06, 0x01, 0x04, 0x00, 0x02, 0x00, 0x01, // MP IPv6 unicast
        0x02, 0x02, 0x02, 0x00, // route refresh
        0x02, 0x06, 0x41, 0x04, 0x00, 0x00, 0xfd, 0xe8, // 4-octet AS 65000
        0x02, 0x04, 0x40, 0x02, 0x00, 0x78, // graceful restart, 120 s
        0x02, 0x09, 0x49, 0x07, 0x02, b'r', b'1', 0x00, 0x00, 0x00,
        0x00, // FQDN "r1" (padded)
    ];

    fn decode(bytes: &[u8]) -> Result<Open, DecodeError> {
        let (kind, len) = frame(bytes)?.expect("complete");
        match Message::decode(kind, &bytes[19..len], &CodecContext::default())? {
            Message::Open(o) => Ok(o),
            m => panic!("not an OPEN: {m:?}"),
        }
    }

    #[test]
    fn frr_open_decodes_with_known_and_unknown_capabilities() {
        let o = decode(FRR_OPEN).unwrap();
        assert_eq!(o.my_as, 65000);
        assert_eq!(o.hold_time, 9);
        assert_eq!(o.bgp_id, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(o.asn(), 65000);
        assert!(o.route_refresh());
        assert_eq!(o.multiprotocol().collect::<Vec<_>>(), [(1, 1), (2, 1)]);
        assert_eq!(
            o.capabilities[4],
            Capability::GracefulRestart(GracefulRestart {
                restart_state: false,
                notification: false,
                restart_time: 120,
                families: vec![],
            })
        );
        assert!(matches!(
            o.capabilities[5],
            Capability::Unknown { code: 73, .. }
        ));
    }

    #[test]
    fn our_open_encodes_byte_for_byte() {
        let o = Open::ours(4_200_000_000, 90, Ipv4Addr::new(192, 0, 2, 1));
        let bytes = Message::Open(o.clone()).to_bytes(&CodecContext::default());
        let expected: &[u8] = &[
            0x00, 0x33, 0x01, // length 51, OPEN
            0x04, 0x5b, 0xa0, 0x00, 0x5a, 192, 0, 2, 1, // v4, AS_TRANS, hold 90, id
            0x16, 0x02, 0x14, // opt len 22: one capabilities parameter of 20
            0x01, 0x04, 0x00, 0x01, 0x00, 0x01, // MP IPv4 unicast
            0x01, 0x04, 0x00, 0x02, 0x00, 0x01, // MP IPv6 unicast
            0x02, 0x00, // route refresh
            0x41, 0x04, 0xfa, 0x56, 0xea, 0x00, // 4-octet AS 4200000000
        ];
        assert_eq!(&bytes[16..], expected);
        assert_eq!(decode(&bytes).unwrap(), o);
    }

    #[test]
    fn graceful_restart_with_restart_and_forwarding_bits_encodes_per_rfc_4724() {
        let o = Open::ours(65001, 90, Ipv4Addr::new(192, 0, 2, 1))
            .with_graceful_restart(120, true, true);
        let bytes = Message::Open(o.clone()).to_bytes(&CodecContext::default());
        let expected: &[u8] = &[
            0x40, 0x0a, // capability 64, length 10
            0x80, 0x78, // R bit, restart time 120
            0x00, 0x01, 0x01, 0x80, // IPv4 unicast, F bit
            0x00, 0x02, 0x01, 0x80, // IPv6 unicast, F bit
        ];
        assert!(bytes.ends_with(expected), "{bytes:02x?}");
        assert_eq!(decode(&bytes).unwrap(), o);
        let gr = o.graceful_restart().unwrap();
        assert!(gr.restart_state && !gr.notification);
        assert_eq!(gr.restart_time, 120);
    }

    #[test]
    fn without_restart_the_r_bit_is_clear_and_the_time_is_capped_at_12_bits() {
        let o = Open::ours(65001, 90, Ipv4Addr::new(192, 0, 2, 1))
            .with_graceful_restart(9999, false, true);
        let bytes = Message::Open(o).to_bytes(&CodecContext::default());
        let at = bytes.len() - 10;
        assert_eq!(bytes[at..at + 2], [0x0f, 0xff]);
    }

    #[test]
    fn a_graceful_restart_capability_of_odd_length_is_ignored_not_fatal() {
        let mut caps = Vec::new();
        decode_capabilities(&[64, 3, 0x80, 0x78, 0x00], &mut caps).unwrap();
        assert_eq!(
            caps,
            [Capability::Unknown {
                code: 64,
                data: vec![0x80, 0x78, 0x00]
            }]
        );
    }

    #[test]
    fn extended_next_hop_encodes_per_rfc_8950_and_round_trips() {
        let o = Open::ours(65001, 90, Ipv4Addr::new(192, 0, 2, 1))
            .with_families(true, true)
            .with_extended_next_hop();
        let bytes = Message::Open(o.clone()).to_bytes(&CodecContext::default());
        let expected: &[u8] = &[
            0x05, 0x06, // capability 5, length 6
            0x00, 0x01, 0x00, 0x01, 0x00, 0x02, // IPv4 unicast NLRI, IPv6 next hop
        ];
        assert!(bytes.ends_with(expected), "{bytes:02x?}");
        let back = decode(&bytes).unwrap();
        assert_eq!(back, o);
        assert!(back.extended_next_hop_ipv4());
        assert!(!Open::ours(65001, 90, Ipv4Addr::LOCALHOST).extended_next_hop_ipv4());
    }

    #[test]
    fn an_extended_next_hop_capability_of_bad_length_is_malformed() {
        let mut caps = Vec::new();
        assert!(decode_capabilities(&[5, 4, 0, 1, 0, 1], &mut caps).is_err());
        assert!(decode_capabilities(&[5, 0], &mut caps).is_err());
    }

    #[test]
    fn with_families_offers_only_the_families_asked_for() {
        let o = Open::ours(65001, 90, Ipv4Addr::LOCALHOST);
        let only6 = o.clone().with_families(false, true);
        assert_eq!(only6.multiprotocol().collect::<Vec<_>>(), [(2, 1)]);
        let only4 = o.with_families(true, false);
        assert_eq!(only4.multiprotocol().collect::<Vec<_>>(), [(1, 1)]);
        assert!(only4.route_refresh() && only4.four_octet_as().is_some());
    }

    #[test]
    fn version_3_is_unsupported_version_with_4_as_data() {
        let mut m = FRR_OPEN.to_vec();
        m[19] = 3;
        let e = decode(&m).unwrap_err();
        assert_eq!(e, DecodeError::UnsupportedVersion(3));
        let n = e.notification();
        assert_eq!(
            (n.code, n.subcode, n.data.as_slice()),
            (2, 1, &[0u8, 4][..])
        );
    }

    #[test]
    fn an_optional_parameter_other_than_capabilities_is_unsupported() {
        let mut m = FRR_OPEN.to_vec();
        m[29] = 1; // first parameter: type 1 (authentication, deprecated)
        let e = decode(&m).unwrap_err();
        assert_eq!(e.notification().subcode, 4);
    }

    #[test]
    fn optional_parameter_length_beyond_the_message_is_malformed_not_a_panic() {
        let mut m = FRR_OPEN.to_vec();
        m[28] = 200;
        assert!(matches!(decode(&m), Err(DecodeError::MalformedOpen(_))));
        let mut m = FRR_OPEN.to_vec();
        m[30] = 250; // first parameter claims 250 bytes
        assert!(matches!(decode(&m), Err(DecodeError::MalformedOpen(_))));
    }

    #[test]
    fn a_known_capability_with_a_wrong_length_is_malformed() {
        let mut m = FRR_OPEN.to_vec();
        m[32] = 3; // MP capability length 3 inside a parameter of 6
        assert!(decode(&m).is_err());
    }

    #[test]
    fn every_truncation_of_an_open_is_an_error_not_a_panic() {
        for cut in 0..FRR_OPEN.len() - 19 {
            let body = &FRR_OPEN[19..19 + cut];
            let _ = Open::decode(body);
        }
    }
}
