//! The `/status` document: shared by the HTTP endpoint (which serialises it) and the CLI
//! (which reads it back). Field names are part of the contract (CONTRACT.md); fields may be added.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Status {
    pub node: NodeStatus,
    pub peers: Vec<PeerStatus>,
    pub vips: Vec<VipStatus>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeStatus {
    pub router_id: String,
    pub asn: u32,
    pub version: String,
}

/// BGP FSM state as shown to operators.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "lowercase")]
pub enum PeerState {
    #[default]
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl PeerState {
    pub fn as_str(self) -> &'static str {
        match self {
            PeerState::Idle => "idle",
            PeerState::Connect => "connect",
            PeerState::Active => "active",
            PeerState::OpenSent => "opensent",
            PeerState::OpenConfirm => "openconfirm",
            PeerState::Established => "established",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct PeerStatus {
    pub address: String,
    pub asn: u32,
    pub state: PeerState,
    pub uptime_seconds: u64,
    pub routes_sent: u64,
    pub routes_received: u64,
    pub last_error: Option<String>,
    #[serde(default)]
    pub updates_sent: u64,
    #[serde(default)]
    pub updates_received: u64,
    #[serde(default)]
    pub hold_time: u16,
    /// Address families this session carries VIPs of ("ipv4", "ipv6"): negotiated with the
    /// peer and with a next hop of that family. Empty while not established.
    #[serde(default)]
    pub families: Vec<String>,
    /// RFC 8950 negotiated: IPv4 VIPs go with an IPv6 next hop.
    #[serde(default)]
    pub extended_next_hop: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VipStatus {
    pub address: String,
    pub announced: bool,
    pub drained: bool,
    /// Why the VIP is (not) announced: "healthy", "drained", "no healthy backends for web", …
    pub reason: String,
    pub services: Vec<ServiceStatus>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServiceStatus {
    pub name: String,
    pub port: u16,
    pub protocol: String,
    pub healthy: bool,
    pub backends: Vec<BackendStatus>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BackendStatus {
    pub address: String,
    pub port: u16,
    pub healthy: bool,
    pub weight: u32,
    pub effective_weight: u32,
    /// "unknown", "healthy" or "unhealthy".
    #[serde(default)]
    pub state: String,
    /// The last check's outcome in words ("HTTP 503", "connection refused", …).
    #[serde(default)]
    pub last_result: Option<String>,
}
