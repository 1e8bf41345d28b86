//! Local routes of route-bound VIPs (`bind = "route"`) over rtnetlink: the messages
//! ([`request`], [`decode`]), the batch framing and ack attribution ([`batch`], pure) and the
//! blocking socket that dumps them and sends changes many to a datagram ([`socket`]).
//!
//! A route-bound VIP is made local by one route, as
//! `ip route add local VIP/32 dev IFACE table local proto 65 metric 1024`:
//! type `local` (`RTN_LOCAL`), scope host, table local (255), marked with
//! [`ROUTE_PROTO`] and at [`ROUTE_METRIC`]. The kernel accepts packets for it (so IPVS sees
//! them in LOCAL_IN) and, for IPv4, lets a local process bind() it; IPv6 bind() checks
//! addresses only, so a process binding a route-bound IPv6 VIP needs `IPV6_FREEBIND` (or
//! `net.ipv6.ip_nonlocal_bind = 1`), which the kernel tests show.
//!
//! Why its own socket instead of rtnetlink's `Handle` (which links and addresses use): a route
//! insert is O(log n) in the kernel, so at 50 000 VIPs the cost is the per-request round trip;
//! [`batch`] puts [`batch::BATCH`] requests into one `sendmsg` and collects their acks, each
//! matched to its request by sequence number.

pub mod batch;
pub mod socket;

use std::net::IpAddr;

use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::AddressFamily;

use super::reconcile::host_prefix;
pub use super::state::{ROUTE_METRIC, ROUTE_PROTO, TABLE_LOCAL};

pub use socket::RouteSocket;

/// RTM_NEWROUTE or RTM_DELROUTE of one local route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Add,
    Del,
}

/// One request of a batch: the route, with the interface already resolved to its index.
/// `oif` is `None` on a delete whose interface is gone (the route then matches by address,
/// protocol and metric alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub change: Change,
    pub address: IpAddr,
    pub oif: Option<u32>,
    pub metric: u32,
}

/// The route message of a request: `local ADDRESS/32 dev OIF table local proto 65 scope host
/// metric METRIC`. A delete carries the same fields, so that the kernel deletes only a route
/// of our protocol and metric (fib_table_delete and ip6_route_del skip any other).
pub fn request(req: &Request) -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header = RouteHeader {
        address_family: match req.address {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        },
        destination_prefix_length: host_prefix(&req.address),
        table: TABLE_LOCAL,
        protocol: RouteProtocol::from(ROUTE_PROTO),
        scope: RouteScope::Host,
        kind: RouteType::Local,
        ..RouteHeader::default()
    };
    msg.attributes
        .push(RouteAttribute::Destination(match req.address {
            IpAddr::V4(a) => RouteAddress::Inet(a),
            IpAddr::V6(a) => RouteAddress::Inet6(a),
        }));
    if let Some(oif) = req.oif {
        msg.attributes.push(RouteAttribute::Oif(oif));
    }
    msg.attributes.push(RouteAttribute::Priority(req.metric));
    msg
}

/// A dumped route, when it is one of ours: (interface index, address, metric). Everything else
/// (other tables, types, protocols, prefixes, multipath) is `None`.
pub fn decode(msg: &RouteMessage) -> Option<(u32, IpAddr, u32)> {
    let h = &msg.header;
    let mut table = u32::from(h.table);
    let mut dst = None;
    let mut oif = None;
    let mut metric = 0;
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(RouteAddress::Inet(a)) => dst = Some(IpAddr::V4(*a)),
            RouteAttribute::Destination(RouteAddress::Inet6(a)) => dst = Some(IpAddr::V6(*a)),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::Priority(p) => metric = *p,
            _ => {}
        }
    }
    let dst = dst?;
    let ours = table == u32::from(TABLE_LOCAL)
        && h.kind == RouteType::Local
        && u8::from(h.protocol) == ROUTE_PROTO
        && h.destination_prefix_length == host_prefix(&dst);
    ours.then_some((oif?, dst, metric))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_add_is_a_host_route_of_type_local_in_table_local_with_our_protocol_and_metric() {
        let msg = request(&Request {
            change: Change::Add,
            address: ip("10.100.0.1"),
            oif: Some(7),
            metric: ROUTE_METRIC,
        });
        assert_eq!(msg.header.address_family, AddressFamily::Inet);
        assert_eq!(msg.header.destination_prefix_length, 32);
        assert_eq!(msg.header.table, 255);
        assert_eq!(u8::from(msg.header.protocol), 0x41);
        assert_eq!(msg.header.scope, RouteScope::Host);
        assert_eq!(msg.header.kind, RouteType::Local);
        assert_eq!(decode(&msg), Some((7, ip("10.100.0.1"), 1024)));
        let v6 = request(&Request {
            change: Change::Add,
            address: ip("2001:db8::1"),
            oif: Some(1),
            metric: ROUTE_METRIC,
        });
        assert_eq!(v6.header.address_family, AddressFamily::Inet6);
        assert_eq!(v6.header.destination_prefix_length, 128);
        assert_eq!(decode(&v6), Some((1, ip("2001:db8::1"), 1024)));
    }

    #[test]
    fn only_our_local_host_routes_in_table_local_decode() {
        let ours = request(&Request {
            change: Change::Add,
            address: ip("10.100.0.1"),
            oif: Some(7),
            metric: ROUTE_METRIC,
        });
        let mut kernel = ours.clone();
        kernel.header.protocol = RouteProtocol::Kernel;
        assert_eq!(decode(&kernel), None, "the kernel's route for an address");
        let mut main = ours.clone();
        main.header.table = 254;
        assert_eq!(decode(&main), None);
        let mut unicast = ours.clone();
        unicast.header.kind = RouteType::Unicast;
        assert_eq!(decode(&unicast), None);
        let mut prefix = ours.clone();
        prefix.header.destination_prefix_length = 24;
        assert_eq!(decode(&prefix), None, "AnyIP prefixes are the operator's");
        // A table above 255 comes in RTA_TABLE with rtm_table 252 (RT_TABLE_COMPAT).
        let mut compat = ours;
        compat.header.table = 252;
        compat.attributes.push(RouteAttribute::Table(1000));
        assert_eq!(decode(&compat), None);
    }
}
