//! The `/status` document: shared by the HTTP endpoint (which serialises it) and the CLI
//! (which reads it back). Field names are part of the contract (CONTRACT.md); fields may be added.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Status {
    pub node: NodeStatus,
    pub peers: Vec<PeerStatus>,
    pub vips: Vec<VipStatus>,
    /// Received BFD packets dropped, by reason (RFC 5880 §6.8.6 and the demultiplexer).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub bfd_discarded: std::collections::BTreeMap<String, u64>,
    /// Tasks that panicked and were started again, by task ("bgp-session 10.0.1.1",
    /// "health-check service web backend 10.0.10.11:8080"): how many times.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub task_restarts: std::collections::BTreeMap<String, u64>,
    /// The BGP listener (`bgp.listen`), when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp_listener: Option<ListenerStatus>,
    /// The fleet catalog (`[catalog]`), when configured: `{"state", "revision", "last_error",
    /// "rejected": [{"key", "error"}], …}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<crate::catalog::CatalogStatus>,
}

/// The BGP listener: bound and accepting, or why not (it retries binding meanwhile).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ListenerStatus {
    pub address: String,
    pub listening: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
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
    /// The peer's BFD session; `null` when BFD is off for it.
    #[serde(default)]
    pub bfd: Option<BfdStatus>,
}

/// One BFD session (RFC 5880) as `/status` shows it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BfdStatus {
    /// `admindown`, `down`, `init` or `up`.
    pub state: String,
    pub local_discriminator: u32,
    pub remote_discriminator: u32,
    /// The peer's multiplier times the agreed interval; 0 before the peer was heard.
    pub detect_time_ms: u64,
    /// The diagnostic of the last change of state, in the RFC's words.
    pub last_diag: String,
    pub transitions: u64,
    /// Why packets cannot be sent (socket errors), if they cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VipStatus {
    pub address: String,
    pub announced: bool,
    pub drained: bool,
    /// Where the drain came from, while drained: `"api"` (an API request, `anycastd drain`
    /// included), `"state file"` (a drain kept across a restart) or `"unreadable state file"`
    /// (the state file could not be read at start-up, so every VIP was drained to be safe).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drained_by: Option<String>,
    /// When the drain was asked, RFC 3339 UTC (`"2026-12-03T13:20:00Z"`), while drained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drained_since: Option<String>,
    /// Announced with the `degrade_*` attributes (`on_partial = "degrade"` or `last_resort`);
    /// `reason` names the rule.
    #[serde(default)]
    pub degraded: bool,
    /// Why the VIP is (not) announced: "healthy", "drained", "no healthy backends for web",
    /// "degraded (on_partial = \"degrade\": service web: 1 of 2 backends healthy …)", …
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
    /// `mh` services: a fingerprint of the lookup table the kernel holds (equal on two nodes
    /// means the same backend for every flow; see docs/operations.md). Absent for other
    /// schedulers and before the first reconcile pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
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

impl Status {
    /// A `/status` document for tests and documentation, with something of every kind: a
    /// node, an established peer carrying both families (RFC 8950) with BFD up and a peer in
    /// Active after a failed connect; an announced VIP with a backend at full weight and one
    /// slow-starting, and a drained VIP; BFD discards and a restarted task. Not a real
    /// daemon's state: the version is a fixed "0.1.0", so expected output stays put.
    #[doc(hidden)]
    pub fn example() -> Status {
        Status {
            node: NodeStatus {
                router_id: "10.0.1.2".into(),
                asn: 65001,
                version: "0.1.0".into(),
            },
            peers: vec![
                PeerStatus {
                    address: "10.0.1.1".into(),
                    asn: 65000,
                    state: PeerState::Established,
                    uptime_seconds: 3725,
                    routes_sent: 2,
                    routes_received: 1,
                    last_error: None,
                    updates_sent: 3,
                    updates_received: 1,
                    hold_time: 9,
                    families: vec!["ipv4".into(), "ipv6".into()],
                    extended_next_hop: true,
                    bfd: Some(BfdStatus {
                        state: "up".into(),
                        local_discriminator: 1,
                        remote_discriminator: 7,
                        detect_time_ms: 900,
                        last_diag: "none".into(),
                        transitions: 2,
                        error: None,
                    }),
                },
                PeerStatus {
                    address: "10.0.2.1".into(),
                    asn: 65000,
                    state: PeerState::Active,
                    last_error: Some("connection refused".into()),
                    ..Default::default()
                },
            ],
            vips: vec![
                VipStatus {
                    address: "10.100.0.1".into(),
                    announced: true,
                    drained: false,
                    degraded: false,
                    drained_by: None,
                    drained_since: None,
                    reason: "healthy".into(),
                    services: vec![ServiceStatus {
                        table: None,
                        name: "web".into(),
                        port: 80,
                        protocol: "tcp".into(),
                        healthy: true,
                        backends: vec![
                            BackendStatus {
                                address: "10.0.10.11".into(),
                                port: 8080,
                                healthy: true,
                                weight: 100,
                                effective_weight: 100,
                                state: "healthy".into(),
                                last_result: Some("HTTP 200".into()),
                            },
                            BackendStatus {
                                address: "2001:db8::11".into(),
                                port: 8080,
                                healthy: true,
                                weight: 100,
                                effective_weight: 40,
                                state: "healthy".into(),
                                last_result: None,
                            },
                        ],
                    }],
                },
                VipStatus {
                    address: "10.100.0.2".into(),
                    announced: false,
                    drained: true,
                    degraded: false,
                    drained_by: Some("state file".into()),
                    drained_since: Some("2026-12-03T13:20:00Z".into()),
                    reason: "drained".into(),
                    services: vec![ServiceStatus {
                        table: None,
                        name: "dns".into(),
                        port: 53,
                        protocol: "udp".into(),
                        healthy: true,
                        backends: vec![BackendStatus {
                            address: "10.0.10.12".into(),
                            port: 53,
                            healthy: true,
                            weight: 50,
                            effective_weight: 50,
                            state: "healthy".into(),
                            last_result: Some("exit status 0".into()),
                        }],
                    }],
                },
            ],
            bfd_discarded: [("unknown discriminator".to_string(), 5)].into(),
            task_restarts: [("bgp-session 10.0.2.1".to_string(), 1)].into(),
            bgp_listener: None,
            catalog: None,
        }
    }
}
