//! From desired state to kernel changes and back, with no I/O: the ops ([`Op`]), the pure
//! planner ([`plan()`], in `plan.rs`), the view of the kernel carried between passes
//! ([`mirror()`], in `mirror.rs`) and the per-VIP report ([`report()`], in `report.rs`).
//!
//! [`plan()`] is called on every reconcile pass with the kernel's state (a fresh dump, or the
//! previous pass's view updated by [`mirror()`]), so it has to be minimal (a kernel already in
//! the desired state yields no ops at all, which is also how a restarted daemon adopts what it
//! finds instead of flushing) and safe (it removes only what anycastd owns, see [`Ownership`]).
//!
//! Order: on the way up links → addresses → local routes → services → destinations; on the
//! way down the reverse: destinations → services → local routes → addresses → links. A VIP
//! whose binding changes (address ↔ route) thus gets its new binding before it loses the old.
//!
//! Cost: every function here runs on each pass, with tens of thousands of VIPs, so each builds
//! its lookup sets/maps once and stays O(n log n); nothing scans a list per item.

#[cfg(test)]
mod fixtures;
mod mirror;
mod plan;
mod report;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::state::{DestKey, DestParams, ServiceKey, ServiceParams, SyncDaemon};

pub use mirror::mirror;
pub use plan::{binding_added, canonical_order, held_back, plan, service_key};
pub use report::{report, IPVS_UNAVAILABLE};

/// What anycastd may remove, beyond what the kernel marks for it.
///
/// Links carry [`super::state::LINK_ALIAS`], addresses [`super::state::ADDRESS_PROTO`] and
/// local routes [`super::state::ROUTE_PROTO`] in the kernel, so their ownership is read from
/// the dump. IPVS has no place for such a marker, so a service is ours when its VIP is an
/// address or local route we own, or when this process created it (recorded here, e.g. a VIP
/// on an address the operator added).
///
/// Sysctls have no marker either: the ones this process changed are recorded with the value
/// it found and the value it set, so that it puts back only what it changed, and only while
/// the kernel still holds the value it set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ownership {
    pub created_services: BTreeSet<ServiceKey>,
    /// name → (found, set).
    pub sysctls: BTreeMap<&'static str, (u32, u32)>,
    /// The sync daemons (by `master`) this process started, or found running as configured:
    /// the ones it stops when `[ipvs.sync]` goes away. A daemon someone else started with
    /// other settings is replaced only when the config asks for that role.
    pub sync_daemons: BTreeSet<bool>,
}

/// One kernel change: an interface or address change over rtnetlink, a local route change
/// (rtnetlink too, sent in batches), an IPVS change over generic netlink, or an IPVS sysctl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Link(LinkOp),
    Route(RouteOp),
    Ipvs(IpvsOp),
    Sysctl(SysctlOp),
}

/// A write of one of [`super::state::REHASH_SAFE_SYSCTLS`] (`/proc/sys/net/ipv4/vs/NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysctlOp {
    pub name: &'static str,
    pub value: u32,
    /// The value the kernel held before, when it could be read.
    pub was: Option<u32>,
    /// Puts back the value found before anycastd changed it (no service needs it any more).
    pub restore: bool,
}

/// A local route of a route-bound VIP: `local VIP/32 dev IFACE table local proto 65 metric
/// 1024` ([`super::state::ROUTE_PROTO`], [`super::state::ROUTE_METRIC`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOp {
    Add {
        interface: String,
        address: IpAddr,
    },
    /// Deletes exactly that route (matched by protocol and metric, never a foreign one).
    Del {
        interface: String,
        address: IpAddr,
        metric: u32,
    },
}

/// An interface or address change (rtnetlink).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOp {
    /// Create a dummy interface marked as ours, and bring it up.
    AddLink {
        name: String,
    },
    /// Bring up an interface of ours found down.
    SetLinkUp {
        name: String,
    },
    /// Add a host address (/32 or /128) marked as ours.
    AddAddress {
        interface: String,
        address: IpAddr,
    },
    DelAddress {
        interface: String,
        address: IpAddr,
        prefix_len: u8,
    },
    DelLink {
        name: String,
    },
}

/// An IPVS change (the IPVS generic netlink family).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpvsOp {
    AddService {
        key: ServiceKey,
        params: ServiceParams,
    },
    EditService {
        key: ServiceKey,
        params: ServiceParams,
    },
    AddDest {
        service: ServiceKey,
        dest: DestKey,
        params: DestParams,
    },
    EditDest {
        service: ServiceKey,
        dest: DestKey,
        params: DestParams,
    },
    DelDest {
        service: ServiceKey,
        dest: DestKey,
    },
    /// Deleting a service deletes its destinations with it.
    DelService {
        key: ServiceKey,
    },
    /// Start a connection sync daemon (IPVS_CMD_NEW_DAEMON).
    StartSync(SyncDaemon),
    /// Stop the master (or the backup) sync daemon (IPVS_CMD_DEL_DAEMON).
    StopSync {
        master: bool,
    },
}

impl From<LinkOp> for Op {
    fn from(op: LinkOp) -> Op {
        Op::Link(op)
    }
}

impl From<RouteOp> for Op {
    fn from(op: RouteOp) -> Op {
        Op::Route(op)
    }
}

impl From<IpvsOp> for Op {
    fn from(op: IpvsOp) -> Op {
        Op::Ipvs(op)
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::Link(op) => op.fmt(f),
            Op::Route(op) => op.fmt(f),
            Op::Ipvs(op) => op.fmt(f),
            Op::Sysctl(op) => {
                let verb = if op.restore { "restore" } else { "set" };
                write!(f, "{verb} net.ipv4.vs.{} = {}", op.name, op.value)
            }
        }
    }
}

impl std::fmt::Display for LinkOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkOp::AddLink { name } => write!(f, "add link {name}"),
            LinkOp::SetLinkUp { name } => write!(f, "set link {name} up"),
            LinkOp::AddAddress { interface, address } => {
                write!(f, "add address {address} dev {interface}")
            }
            LinkOp::DelAddress {
                interface,
                address,
                prefix_len,
            } => {
                write!(f, "delete address {address}/{prefix_len} dev {interface}")
            }
            LinkOp::DelLink { name } => write!(f, "delete link {name}"),
        }
    }
}

/// The prefix length of a host route or address: 32 for IPv4, 128 for IPv6.
pub fn host_prefix(address: &IpAddr) -> u8 {
    if address.is_ipv4() {
        32
    } else {
        128
    }
}

impl std::fmt::Display for RouteOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteOp::Add { interface, address } => {
                let len = host_prefix(address);
                write!(f, "add local route {address}/{len} dev {interface}")
            }
            RouteOp::Del {
                interface,
                address,
                metric,
            } => {
                let len = host_prefix(address);
                write!(
                    f,
                    "delete local route {address}/{len} dev {interface} metric {metric}"
                )
            }
        }
    }
}

/// `scheduler mh persistence 0`, and the flags when any is set (`flags mh-fallback,mh-port`).
fn describe(params: &ServiceParams) -> String {
    let flags = params.flags.describe(&params.scheduler);
    let mut s = format!(
        "scheduler {} persistence {}",
        params.scheduler, params.persistence
    );
    if !flags.is_empty() {
        s += &format!(" flags {flags}");
    }
    s
}

impl std::fmt::Display for IpvsOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IpvsOp::AddService { key, params } => {
                write!(f, "add service {key} {}", describe(params))
            }
            IpvsOp::EditService { key, params } => {
                write!(f, "edit service {key} {}", describe(params))
            }
            IpvsOp::AddDest {
                service,
                dest,
                params,
            } => write!(
                f,
                "add dest {dest} to {service} weight {} fwd {}",
                params.weight, params.forwarding
            ),
            IpvsOp::EditDest {
                service,
                dest,
                params,
            } => write!(
                f,
                "edit dest {dest} of {service} weight {} fwd {}",
                params.weight, params.forwarding
            ),
            IpvsOp::DelDest { service, dest } => write!(f, "delete dest {dest} of {service}"),
            IpvsOp::DelService { key } => write!(f, "delete service {key}"),
            IpvsOp::StartSync(d) => write!(f, "start {d}"),
            IpvsOp::StopSync { master: true } => write!(f, "stop master sync daemon"),
            IpvsOp::StopSync { master: false } => write!(f, "stop backup sync daemon"),
        }
    }
}
