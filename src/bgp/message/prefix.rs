//! IP prefixes as carried in NLRI and withdrawn-routes fields (RFC 4271 §4.3, RFC 4760 §5):
//! a length in bits followed by the fewest octets that hold it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{DecodeError, Reader};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl Prefix {
    /// The host route for one address: /32 or /128.
    pub fn host(addr: IpAddr) -> Self {
        let len = if addr.is_ipv4() { 32 } else { 128 };
        Prefix { addr, len }
    }

    /// Bytes this prefix takes on the wire.
    pub fn encoded_len(&self) -> usize {
        1 + (self.len as usize).div_ceil(8)
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        let n = (self.len as usize).div_ceil(8);
        out.push(self.len);
        match self.addr {
            IpAddr::V4(a) => out.extend_from_slice(&a.octets()[..n.min(4)]),
            IpAddr::V6(a) => out.extend_from_slice(&a.octets()[..n.min(16)]),
        }
    }

    /// Reads prefixes of one family until `bytes` is exhausted. `err` is the error a bad
    /// prefix length or a truncated prefix earns in this field.
    pub(crate) fn decode_all(
        bytes: &[u8],
        v6: bool,
        err: DecodeError,
    ) -> Result<Vec<Prefix>, DecodeError> {
        let mut r = Reader::new(bytes);
        let mut out = Vec::new();
        let max = if v6 { 128 } else { 32 };
        while !r.is_empty() {
            let len = r.u8().ok_or_else(|| err.clone())?;
            if len > max {
                return Err(err);
            }
            let raw = r
                .take((len as usize).div_ceil(8))
                .ok_or_else(|| err.clone())?;
            // Trailing bits beyond the length are not part of the prefix (RFC 4271 §4.3 lets
            // them be anything): cleared, 10.1.2.3/24 is 10.1.2.0/24, so announcing one and
            // withdrawing the other leaves nothing counted.
            let addr = if v6 {
                let mut o = [0u8; 16];
                o[..raw.len()].copy_from_slice(raw);
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from_be_bytes(o) & mask))
            } else {
                let mut o = [0u8; 4];
                o[..raw.len()].copy_from_slice(raw);
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from_be_bytes(o) & mask))
            };
            out.push(Prefix { addr, len });
        }
        Ok(out)
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_routes_take_five_and_seventeen_bytes() {
        let mut out = Vec::new();
        Prefix::host("10.100.0.1".parse().unwrap()).encode(&mut out);
        assert_eq!(out, [32, 10, 100, 0, 1]);
        assert_eq!(
            Prefix::host("2001:db8::1".parse().unwrap()).encoded_len(),
            17
        );
    }

    #[test]
    fn short_prefixes_use_only_the_needed_octets() {
        let p = Prefix::decode_all(&[24, 192, 0, 2, 0], false, DecodeError::InvalidNetworkField)
            .unwrap();
        assert_eq!(p[0].to_string(), "192.0.2.0/24");
        assert_eq!(p[1].to_string(), "0.0.0.0/0");
    }

    #[test]
    fn a_prefix_longer_than_the_family_allows_is_an_error() {
        let e = Prefix::decode_all(
            &[33, 1, 2, 3, 4, 5],
            false,
            DecodeError::InvalidNetworkField,
        );
        assert_eq!(e.unwrap_err(), DecodeError::InvalidNetworkField);
    }

    #[test]
    fn a_truncated_prefix_is_an_error() {
        let e = Prefix::decode_all(&[32, 10, 0], false, DecodeError::InvalidNetworkField);
        assert!(e.is_err());
    }

    #[test]
    fn trailing_host_bits_are_cleared() {
        let p = Prefix::decode_all(
            &[
                23, 10, 1, 3, 0, 25, 10, 1, 2, 0xff, 32, 10, 1, 2, 3, 1, 0xff,
            ],
            false,
            DecodeError::InvalidNetworkField,
        )
        .unwrap();
        let text: Vec<String> = p.iter().map(Prefix::to_string).collect();
        assert_eq!(
            text,
            [
                "10.1.2.0/23",
                "0.0.0.0/0",
                "10.1.2.128/25",
                "10.1.2.3/32",
                "128.0.0.0/1"
            ]
        );
        #[rustfmt::skip]
        let v6 = Prefix::decode_all(
            &[
                33, 0x20, 0x01, 0x0d, 0xb8, 0xff,
                128, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ],
            true,
            DecodeError::InvalidNetworkField,
        )
        .unwrap();
        assert_eq!(v6[0].to_string(), "2001:db8:8000::/33");
        assert_eq!(v6[1], Prefix::host(IpAddr::V6(Ipv6Addr::from(u128::MAX))));
    }

    #[test]
    fn one_prefix_announced_and_withdrawn_with_different_host_bits_counts_zero() {
        // What the session does with received routes: a set of prefixes. 10.1.3.0/23 is
        // 10.1.2.0/23 with a host bit set.
        let decode = |b: &[u8]| Prefix::decode_all(b, false, DecodeError::InvalidNetworkField);
        let mut received = std::collections::HashSet::new();
        received.extend(decode(&[23, 10, 1, 3]).unwrap());
        received.extend(decode(&[23, 10, 1, 2]).unwrap());
        assert_eq!(received.len(), 1);
        for p in decode(&[23, 10, 1, 3]).unwrap() {
            received.remove(&p);
        }
        assert!(received.is_empty());
    }
}
