//! The next hops a session announces, and everything else about the session that shapes its
//! UPDATEs ([`ExportContext`]).

use std::net::IpAddr;

use super::SessionConfig;
use crate::bgp::adj_rib_out::ExportContext;
use crate::bgp::fsm::Negotiated;

/// Next hops for this session: the peer's overrides, else its `local_address`, else the
/// socket's own address.
pub(crate) fn export_context(cfg: &SessionConfig, n: &Negotiated, local: IpAddr) -> ExportContext {
    let peer = &cfg.peer;
    let v4 = |a: Option<IpAddr>| match a {
        Some(IpAddr::V4(a)) => Some(a),
        Some(IpAddr::V6(a)) => a.to_ipv4_mapped(),
        None => None,
    };
    let v6 = |a: Option<IpAddr>| match a {
        Some(IpAddr::V6(a)) if a.to_ipv4_mapped().is_none() => Some(a),
        _ => None,
    };
    let next_hop4 = peer.next_hop.or(v4(peer.local_address)).or(v4(Some(local)));
    let local6 = v6(peer.local_address).or(v6(Some(local)));
    let (next_hop6, next_hop6_link_local) = match local6 {
        Some(ll) if crate::config::is_link_local(&IpAddr::V6(ll)) => {
            (peer.next_hop6.or(Some(ll)), Some(ll))
        }
        other => (peer.next_hop6.or(other), None),
    };
    ExportContext {
        peer: peer.address,
        ibgp: peer.is_ibgp(cfg.local_asn),
        local_asn: cfg.local_asn,
        codec: n.codec(),
        ipv4: n.ipv4,
        ipv6: n.ipv6,
        next_hop4,
        next_hop6,
        next_hop6_link_local,
        extended_next_hop: n.extended_next_hop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bgp::fsm::Negotiated;
    use crate::config::Peer;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn cfg(local_address: Option<IpAddr>) -> SessionConfig {
        SessionConfig {
            peer: Peer {
                local_address,
                ..Peer::new("10.0.1.1".parse().unwrap(), 65000)
            },
            local_asn: 65001,
            router_id: Ipv4Addr::new(10, 0, 1, 2),
            connect_retry: Duration::from_secs(1),
            limits: Default::default(),
            forwarding_preserved: false,
        }
    }

    fn negotiated() -> Negotiated {
        Negotiated {
            peer_id: Ipv4Addr::new(10, 0, 1, 1),
            peer_asn: 65000,
            hold_time: 9,
            keepalive: 3,
            four_octet_as: true,
            ipv4: true,
            ipv6: true,
            route_refresh: true,
            extended_next_hop: false,
        }
    }

    #[test]
    fn next_hop_defaults_to_the_socket_address_and_ipv6_needs_next_hop6_on_ipv4_sessions() {
        let e = export_context(&cfg(None), &negotiated(), "10.0.1.2".parse().unwrap());
        assert_eq!(e.next_hop4, Some(Ipv4Addr::new(10, 0, 1, 2)));
        assert_eq!(e.next_hop6, None);
        assert!(!e.ibgp);
    }

    #[test]
    fn overrides_win_over_local_address_and_socket() {
        let mut c = cfg(Some("10.0.1.3".parse().unwrap()));
        let e = export_context(&c, &negotiated(), "10.0.1.2".parse().unwrap());
        assert_eq!(e.next_hop4, Some(Ipv4Addr::new(10, 0, 1, 3)));
        c.peer.next_hop = Some(Ipv4Addr::new(10, 9, 9, 9));
        c.peer.next_hop6 = Some("2001:db8::9".parse().unwrap());
        let e = export_context(&c, &negotiated(), "10.0.1.2".parse().unwrap());
        assert_eq!(e.next_hop4, Some(Ipv4Addr::new(10, 9, 9, 9)));
        assert_eq!(e.next_hop6, Some("2001:db8::9".parse().unwrap()));
    }

    #[test]
    fn a_link_local_session_sends_the_link_local_next_hop_too() {
        let e = export_context(&cfg(None), &negotiated(), "fe80::2".parse().unwrap());
        assert_eq!(e.next_hop6_link_local, Some("fe80::2".parse().unwrap()));
        assert_eq!(e.next_hop4, None);
        let e = export_context(&cfg(None), &negotiated(), "2001:db8::2".parse().unwrap());
        assert_eq!(e.next_hop6, Some("2001:db8::2".parse().unwrap()));
        assert_eq!(e.next_hop6_link_local, None);
    }
}
