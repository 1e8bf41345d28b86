//! What the kernel holds, as plain data: the input of the pure planner.
//!
//! The reconciler fills an [`ActualState`] from netlink dumps (links, addresses, anycastd's
//! local routes, IPVS services and their destinations); [`super::reconcile::plan`] compares it with the
//! [`super::DesiredState`]. Nothing here talks to the kernel.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use crate::config::{self, Protocol};

/// `ifalias` set on every interface anycastd creates. An interface carrying it is ours: it may
/// be deleted when no VIP needs it any more. Interfaces without it (including `lo` or a dummy
/// made by the operator) are used as they are and never created, changed or deleted.
pub const LINK_ALIAS: &str = "anycastd";

/// `IFA_PROTO` value (the address protocol; Linux >= 5.18, commit 47f0bd503210) set on every
/// address anycastd adds.
///
/// The kernel stores the byte and returns it in dumps without interpreting it (values 1..=3
/// are its own: loopback, router advertisement, link local), so it survives a daemon restart
/// and needs no state file. 0x41 ('A') is not used by the kernel or iproute2. An address
/// without this marker is foreign and is never deleted, even when it equals a VIP.
///
/// Kernels before 5.18 ignore the attribute: addresses are still added, but a restarted daemon
/// cannot tell them from foreign ones and so will not remove them (the safe direction).
pub const ADDRESS_PROTO: u8 = 0x41;

/// Protocol (`rtm_protocol`) of every local route anycastd adds for a route-bound VIP
/// (`bind = "route"`): the same byte as [`ADDRESS_PROTO`], so one number marks all of
/// anycastd's kernel state. `ip route show table local proto 65` lists them (or
/// `proto anycastd` with `65 anycastd` in /etc/iproute2/rt_protos.d/).
///
/// Chosen with care, because the protocol is the only ownership marker a route has: the kernel
/// defines 0..=4 (unspec, redirect, kernel, boot, static) and names others for the daemons that
/// set them (`include/uapi/linux/rtnetlink.h`, /etc/iproute2/rt_protos: gated 8, ra 9, mrt 10,
/// zebra 11, bird 12, dnrouted 13, xorp 14, ntk 15, dhcp 16, mrouted 17, keepalived 18,
/// babel 42, openr 99, bgp 186, isis 187, ospf 188, rip 189, eigrp 192); FRR's zebra also
/// uses 191 and 193..=198 (nhrp, ldp, sharp, pbr, zstatic, openfabric, srte) and Calico 80.
/// 65 is none of them. A local route without it is foreign: never deleted, never adopted.
pub const ROUTE_PROTO: u8 = ADDRESS_PROTO;

/// Metric (`RTA_PRIORITY`) of anycastd's local routes: 1024, what `ip -6 route add` gives by
/// default. Not 0, the metric of the kernel's own local route for an address: the two then
/// never collide (`EEXIST`), so a VIP moved from `bind = "address"` to `"route"` (or back)
/// stays local throughout, the new binding being added before the old one is removed.
pub const ROUTE_METRIC: u32 = 1024;

/// The routing table local routes live in (`RT_TABLE_LOCAL`).
pub const TABLE_LOCAL: u8 = 255;

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// The administrative state (IFF_UP).
    pub up: bool,
    /// Carries [`LINK_ALIAS`]: created by anycastd.
    pub owned: bool,
}

/// One address on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub interface: String,
    pub address: IpAddr,
    pub prefix_len: u8,
    /// Carries [`ADDRESS_PROTO`]: added by anycastd.
    pub owned: bool,
}

/// One host route of type `local` in table local that carries [`ROUTE_PROTO`] (the dump keeps
/// only those: routes without the marker are nobody's business here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRoute {
    pub interface: String,
    pub address: IpAddr,
    /// Its metric, needed to delete exactly this route.
    pub metric: u32,
}

/// Identity of an IPVS virtual service (the address family is the address's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceKey {
    pub protocol: Protocol,
    pub address: IpAddr,
    pub port: u16,
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.address {
            IpAddr::V4(a) => write!(f, "{a}:{}/{}", self.port, self.protocol.as_str()),
            IpAddr::V6(a) => write!(f, "[{a}]:{}/{}", self.port, self.protocol.as_str()),
        }
    }
}

/// Settings of a virtual service that can be changed in place (IPVS_CMD_SET_SERVICE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceParams {
    pub scheduler: String,
    /// Persistence timeout in seconds; 0 = not persistent.
    pub persistence: u32,
    pub flags: crate::config::SchedulerFlags,
}

/// Identity of a destination inside a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DestKey {
    pub address: IpAddr,
    pub port: u16,
}

impl fmt::Display for DestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.address {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.port),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
        }
    }
}

/// Settings of a destination that can be changed in place (IPVS_CMD_SET_DEST).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DestParams {
    pub weight: u32,
    pub forwarding: Forwarding,
}

impl DestParams {
    pub fn new(weight: u32, forwarding: config::Forwarding) -> DestParams {
        DestParams {
            weight,
            forwarding: forwarding.into(),
        }
    }
}

/// A destination's forwarding method as the kernel holds it: the configured ones
/// ([`config::Forwarding`]), or one anycastd never sets. The kernel's codes for them
/// (`IP_VS_CONN_F_*`) live in the IPVS codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forwarding {
    Masq,
    Route,
    Tunnel,
    /// Another method (local node, bypass) by its kernel code: kept so that it still compares
    /// unequal to every configured method instead of failing to parse.
    Other(u32),
}

impl From<config::Forwarding> for Forwarding {
    fn from(f: config::Forwarding) -> Forwarding {
        match f {
            config::Forwarding::Masq => Forwarding::Masq,
            config::Forwarding::Route => Forwarding::Route,
            config::Forwarding::Tunnel => Forwarding::Tunnel,
        }
    }
}

/// In ipvsadm's words (masq, route, tunnel), or the raw code.
impl fmt::Display for Forwarding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Forwarding::Masq => f.write_str("masq"),
            Forwarding::Route => f.write_str("route"),
            Forwarding::Tunnel => f.write_str("tunnel"),
            Forwarding::Other(code) => write!(f, "{code:#x}"),
        }
    }
}

/// The IPVS sysctls (`/proc/sys/net/ipv4/vs/NAME`, per network namespace) that a
/// `rehash_safe` service needs, with the value it needs:
/// - `sloppy_tcp`, `sloppy_sctp`: a mid-flow packet with no connection entry on this node (the
///   routers moved the flow here) is scheduled, instead of only a SYN or INIT; with the same
///   `mh` table on every node it reaches the backend the flow already had;
/// - `schedule_icmp`: ICMP errors for such a flow (PMTU's "fragmentation needed" among them) are
///   scheduled the same way instead of dropped;
/// - `expire_nodest_conn`: a connection whose backend was removed is expired at its next packet,
///   so the client gets a reset at once instead of a silent drop until the entry times out.
pub const REHASH_SAFE_SYSCTLS: &[(&str, u32)] = &[
    ("sloppy_tcp", 1),
    ("sloppy_sctp", 1),
    ("schedule_icmp", 1),
    ("expire_nodest_conn", 1),
];

/// A virtual service as dumped from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub params: ServiceParams,
    pub dests: BTreeMap<DestKey, DestParams>,
    /// The destinations in the kernel's list order (as dumped). The kernel adds a destination
    /// at the head of the list (`list_add_rcu(&dest->n_list, &svc->destinations)` in
    /// `__ip_vs_update_dest`; the kernel test `mh_tables_are_the_same_whatever_the_history_and_
    /// fingerprinted` checks it), and the `mh` scheduler builds its lookup table by walking
    /// the list, so the order is part of what makes two nodes' tables equal.
    pub order: Vec<DestKey>,
}

impl Service {
    /// A fingerprint of the `mh` lookup table this service has in the kernel, `None` for other
    /// schedulers.
    ///
    /// The kernel builds the table from exactly these inputs: the hash-port flag (with the
    /// fallback flag, which decides what a lookup that lands on a weight-0 entry does), and the
    /// destinations with a weight above 0, in list order, by address, port and weight (its
    /// hash keys are fixed constants, not per boot). Equal fingerprints therefore mean equal
    /// tables on any two nodes. Unequal ones mean unequal inputs; the tables may still be equal
    /// when the weights differ only by a common factor. FNV-1a over a fixed encoding: a
    /// comparison value, not a secret.
    pub fn table_fingerprint(&self) -> Option<String> {
        if self.params.scheduler != "mh" {
            return None;
        }
        let mut h = Fnv1a::new();
        h.write(&[
            u8::from(self.params.flags.port),
            u8::from(self.params.flags.fallback),
        ]);
        for key in &self.order {
            let Some(p) = self.dests.get(key).filter(|p| p.weight > 0) else {
                continue;
            };
            match key.address {
                IpAddr::V4(a) => h.write(&a.octets()),
                IpAddr::V6(a) => h.write(&a.octets()),
            }
            h.write(&key.port.to_be_bytes());
            h.write(&p.weight.to_be_bytes());
        }
        Some(format!("{:016x}", h.0))
    }
}

/// 64-bit FNV-1a.
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Fnv1a {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// Everything the planner needs to know about the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ActualState {
    pub links: Vec<Link>,
    pub addresses: Vec<Address>,
    /// anycastd's local routes (route-bound VIPs); all of them are owned.
    pub routes: Vec<LocalRoute>,
    /// `None` when IPVS is not available (no generic netlink family "IPVS"): the planner then
    /// plans no IPVS work at all. Services the model cannot express (fwmark services, unknown
    /// protocols) are left out of the dump: they are foreign by construction.
    pub ipvs: Option<BTreeMap<ServiceKey, Service>>,
    /// The [`REHASH_SAFE_SYSCTLS`] as the kernel holds them (read only while IPVS is loaded:
    /// the files exist only then); a name missing here could not be read.
    pub ipvs_sysctls: BTreeMap<&'static str, u32>,
    /// The IPVS connection sync daemons running (read with IPVS; empty without it).
    pub sync_daemons: Vec<SyncDaemon>,
}

/// One of the kernel's two IPVS connection sync daemons (`ipvsadm --start-daemon`): the
/// master sends this node's connection entries, the backup installs those it receives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SyncDaemon {
    pub master: bool,
    /// The multicast interface.
    pub interface: String,
    pub sync_id: u8,
}

impl fmt::Display for SyncDaemon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let role = if self.master { "master" } else { "backup" };
        write!(
            f,
            "{role} sync daemon (interface {}, syncid {})",
            self.interface, self.sync_id
        )
    }
}

impl ActualState {
    /// Anything carrying anycastd's markers: an interface it created, an address or a local
    /// route it added. (IPVS services have no marker; their VIPs are such addresses or routes.)
    pub fn holds_own_state(&self) -> bool {
        self.links.iter().any(|l| l.owned)
            || self.addresses.iter().any(|a| a.owned)
            || !self.routes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(owned: bool) -> Address {
        Address {
            interface: "lo".into(),
            address: "10.100.0.1".parse().unwrap(),
            prefix_len: 32,
            owned,
        }
    }

    #[test]
    fn only_marked_interfaces_or_addresses_are_own_state() {
        let mut s = ActualState {
            sync_daemons: vec![],
            links: vec![Link {
                index: 1,
                name: "lo".into(),
                up: true,
                owned: false,
            }],
            addresses: vec![address(false)],
            routes: vec![],
            ipvs: None,
            ipvs_sysctls: BTreeMap::new(),
        };
        assert!(!s.holds_own_state(), "a reboot: nothing of ours");
        s.routes.push(LocalRoute {
            interface: "lo".into(),
            address: "10.100.0.2".parse().unwrap(),
            metric: ROUTE_METRIC,
        });
        assert!(s.holds_own_state());
        s.routes.clear();
        s.addresses.push(address(true));
        assert!(s.holds_own_state());
        s.addresses.clear();
        s.links[0].owned = true;
        assert!(s.holds_own_state());
    }
}
