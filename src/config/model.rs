//! The validated configuration: what the rest of the daemon consumes.
//!
//! These types hold only values that passed validation (see `resolve.rs`), with every default
//! filled in. Nothing else in the daemon parses TOML or re-checks ranges.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default HTTP status endpoint: loopback only.
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:9180";
/// Default cap on concurrent HTTP API connections (`api.max_connections`): far more than
/// status scrapers and automation need, and a small share of the 1024 descriptors a daemon
/// gets under systemd's default soft limit, so the API cannot starve the checks and BGP.
pub const DEFAULT_API_MAX_CONNECTIONS: usize = 256;
/// Largest `api.max_connections` accepted: each connection holds a file descriptor.
pub const MAX_API_MAX_CONNECTIONS: usize = 65_536;
/// Default hold time proposed in OPEN (RFC 4271 suggests 90 s).
pub const DEFAULT_HOLD_TIME: u16 = 90;
/// Default pause between outbound connection attempts (before backoff).
pub const DEFAULT_CONNECT_RETRY: Duration = Duration::from_secs(5);
/// Default BGP port.
pub const DEFAULT_BGP_PORT: u16 = 179;
/// Default Graceful Restart Time (RFC 4724 §3; FRR's and BIRD's default too), seconds.
pub const DEFAULT_RESTART_TIME: u16 = 120;
/// The largest Restart Time the capability's 12-bit field can carry, seconds.
pub const MAX_RESTART_TIME: u16 = 4095;
/// File name of the drain state file when `node.state_file` is not set: it lives in the config
/// file's directory.
pub const DEFAULT_STATE_FILE_NAME: &str = "anycastd.state.json";
/// Default interface that holds VIPs when a VIP names none.
pub const DEFAULT_VIP_INTERFACE: &str = "anycast0";
/// Default check timing.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(2);
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(1);
pub const DEFAULT_RISE: u32 = 2;
pub const DEFAULT_FALL: u32 = 3;
/// Default IPVS scheduler, as `ipvsadm -A` picks it.
pub const DEFAULT_SCHEDULER: &str = "wlc";
/// Default backend weight, as `ipvsadm -a` and keepalived give it.
pub const DEFAULT_WEIGHT: u32 = 1;
/// BFD defaults (RFC 5880 timers as FRR's bfdd and BIRD use them).
pub const DEFAULT_BFD_INTERVAL: Duration = Duration::from_millis(300);
pub const DEFAULT_BFD_MULTIPLIER: u8 = 3;
/// Shortest and longest BFD interval accepted.
pub const MIN_BFD_INTERVAL: Duration = Duration::from_millis(10);
pub const MAX_BFD_INTERVAL: Duration = Duration::from_secs(60);
/// Longest durations accepted. Beyond them a value is a typo (or `9223372036854775807`), and
/// deadlines computed from it would overflow: an hour for the BGP timers (a longer
/// connect_retry or drain keeps a node out of service for no good reason), a day for check
/// timing and slow start.
pub const MAX_CONNECT_RETRY: Duration = Duration::from_secs(3600);
pub const MAX_SHUTDOWN_DELAY: Duration = Duration::from_secs(3600);
pub const MAX_CHECK_INTERVAL: Duration = Duration::from_secs(86_400);
pub const MAX_SLOW_START: Duration = Duration::from_secs(86_400);
/// Longest Linux interface name (`IFNAMSIZ` - 1).
pub const MAX_INTERFACE_NAME_LEN: usize = 15;
/// Most extra copies of `node.asn` a VIP may prepend.
pub const MAX_AS_PATH_PREPEND: u8 = 10;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub node: Node,
    pub api: Api,
    pub bgp: Bgp,
    pub vips: Vec<Vip>,
    /// `node.state_file` as written (absolute, or relative to the config file's directory);
    /// `None`: see [`Config::state_file_path`]. Kept out of [`Node`], which the
    /// BGP speaker gets: where drains are kept is no business of BGP.
    pub state_file: Option<PathBuf>,
    /// `[ipvs.sync]`: the kernel's IPVS connection sync daemon, when configured.
    pub ipvs_sync: Option<IpvsSync>,
    /// `[node] labels`: what this node carries, for the catalog's `node_labels` targeting.
    pub labels: Vec<String>,
    /// `[catalog]`: the fleet catalog in etcd, when configured.
    pub catalog: Option<Catalog>,
}

/// Default of `catalog.prefix`: keys are `{prefix}/vips/{address}`.
pub const DEFAULT_CATALOG_PREFIX: &str = "/anycastd";
/// Default of `catalog.cache`: the last applied catalog, served from at a start without etcd;
/// `catalog.json` in `$STATE_DIRECTORY` instead when systemd (or the lab) sets one.
pub const DEFAULT_CATALOG_CACHE: &str = "/var/lib/anycastd/catalog.json";
/// The cache's name in `$STATE_DIRECTORY`.
pub const DEFAULT_CATALOG_CACHE_NAME: &str = "catalog.json";

/// `[catalog]`: where the fleet's shared VIPs are (etcd v3) and how to reach it.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    /// Endpoints as written: `http://10.0.9.1:2379` or `https://…`.
    pub etcd: Vec<String>,
    /// No trailing slash; keys are `{prefix}/vips/{address}`.
    pub prefix: String,
    /// `catalog.cache` as written; `None`: see [`Catalog::cache_path`].
    pub cache: Option<PathBuf>,
    /// PEM files for TLS: the CA that signed the servers' certificates, and a client
    /// certificate and key (both or neither).
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// etcd authentication (both or neither).
    pub username: Option<String>,
    pub password: Option<String>,
}

impl Catalog {
    /// Where the cache file is: `catalog.cache` (a relative path is taken from the config
    /// file's directory); else [`DEFAULT_CATALOG_CACHE_NAME`] in `state_directory` (systemd's
    /// `$STATE_DIRECTORY`) when there is one, else [`DEFAULT_CATALOG_CACHE`].
    pub fn cache_path(&self, config_path: &Path, state_directory: Option<&Path>) -> PathBuf {
        match (&self.cache, state_directory) {
            (Some(p), _) if p.is_absolute() => p.clone(),
            (Some(p), _) => match config_path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.join(p),
                _ => p.clone(),
            },
            (None, Some(dir)) => dir.join(DEFAULT_CATALOG_CACHE_NAME),
            (None, None) => PathBuf::from(DEFAULT_CATALOG_CACHE),
        }
    }

    /// The key prefix every VIP document lives under: `{prefix}/vips/`.
    pub fn vips_prefix(&self) -> String {
        format!("{}/vips/", self.prefix)
    }
}

/// `[ipvs.sync]`: the kernel's connection sync daemons (`ipvsadm --start-daemon`, keepalived's
/// `lvs_sync_daemon`), which multicast this node's IPVS connections to its L2 neighbours and
/// install theirs, so that a flow moved to another node finds its entry there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsSync {
    /// The interface the sync messages go out of and come in on (multicast 224.0.0.81:8848).
    pub interface: String,
    /// Nodes exchange connections only within one sync id (0..=255).
    pub sync_id: u8,
    pub role: SyncRole,
}

/// Which of the two kernel daemons run: `master` sends this node's connections, `backup`
/// installs the others'. Anycast nodes all serve at once, so the default is both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncRole {
    Master,
    Backup,
    #[default]
    Both,
}

impl SyncRole {
    pub const NAMES: [&'static str; 3] = ["master", "backup", "both"];

    pub fn sends(self) -> bool {
        matches!(self, SyncRole::Master | SyncRole::Both)
    }

    pub fn receives(self) -> bool {
        matches!(self, SyncRole::Backup | SyncRole::Both)
    }
}

impl Config {
    /// Where the drain state file is, for a config read from `config_path`: `node.state_file`
    /// (a relative path is taken from the config file's directory); else
    /// [`DEFAULT_STATE_FILE_NAME`] in `state_directory` (systemd's `$STATE_DIRECTORY`, set by
    /// `StateDirectory=`: the shipped unit's dynamic user cannot write to `/etc`) when there is
    /// one, else in the config file's directory.
    pub fn state_file_path(&self, config_path: &Path, state_directory: Option<&Path>) -> PathBuf {
        let dir = match config_path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        match (&self.state_file, state_directory) {
            (Some(p), _) => dir.join(p),
            (None, Some(state)) => state.join(DEFAULT_STATE_FILE_NAME),
            (None, None) => dir.join(DEFAULT_STATE_FILE_NAME),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub router_id: Ipv4Addr,
    pub asn: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Api {
    pub listen: SocketAddr,
    pub token: Option<String>,
    /// Concurrent connections served; beyond it the oldest idle one is closed, or the new one
    /// is answered 503 and closed.
    pub max_connections: usize,
    /// Whether the API may change VIPs, services and backends (and so the config file).
    /// Off, those writes answer 409; drain, undrain and reload are not writes of the file.
    pub writable: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bgp {
    pub hold_time: u16,
    pub connect_retry: Duration,
    pub listen: Option<SocketAddr>,
    pub shutdown_delay: Duration,
    pub peers: Vec<Peer>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub address: IpAddr,
    pub asn: u32,
    pub port: u16,
    /// Source address of the session; also the default next hop.
    pub local_address: Option<IpAddr>,
    /// Next hop override for IPv4 VIPs.
    pub next_hop: Option<Ipv4Addr>,
    /// Next hop for IPv6 VIPs (required when the session is IPv4 and IPv6 VIPs exist,
    /// unless `local_address` is IPv6).
    pub next_hop6: Option<Ipv6Addr>,
    pub passive: bool,
    /// Resolved: the peer's own `hold_time` or `bgp.hold_time`.
    pub hold_time: u16,
    pub password: Option<String>,
    pub ttl_security: bool,
    /// Resolved: the families offered in OPEN (multiprotocol capabilities). Explicit
    /// `families`, or the peer's own family plus the other one when a next hop for it is
    /// configured (IPv6 peers also offer IPv4 when `extended_next_hop` is on).
    pub families: Families,
    /// Offer RFC 8950 (IPv4 routes with an IPv6 next hop). Resolved default: on for IPv6
    /// peers that offer IPv4 without an IPv4 `next_hop`.
    pub extended_next_hop: bool,
    /// The interface of a link-local peer (`fe80::1%eth1` or `interface = "eth1"`).
    pub interface: Option<String>,
    /// BFD for this peer (its own keys, else `[bgp]`'s); `None` when off.
    pub bfd: Option<Bfd>,
    /// Graceful Restart (RFC 4724): the Restart Time we advertise, in seconds (how long the
    /// router keeps our routes when this process goes away without a NOTIFICATION); `None`
    /// when `graceful_restart = false` (no capability: the router drops our routes at once).
    pub graceful_restart: Option<u16>,
}

/// BFD (RFC 5880, asynchronous mode) for one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bfd {
    pub min_tx: Duration,
    pub min_rx: Duration,
    pub multiplier: u8,
    /// RFC 5883 (UDP 4784, no TTL 255 rule) for a peer that is not directly connected.
    pub multihop: bool,
}

impl Default for Bfd {
    fn default() -> Self {
        Bfd {
            min_tx: DEFAULT_BFD_INTERVAL,
            min_rx: DEFAULT_BFD_INTERVAL,
            multiplier: DEFAULT_BFD_MULTIPLIER,
            multihop: false,
        }
    }
}

impl Bgp {
    /// `[bgp]` with `peers` and nothing else set: hold time 90 s, connect retry 5 s, no
    /// listener, no shutdown delay (the defaults `config::parse` fills in).
    pub fn new(peers: Vec<Peer>) -> Bgp {
        Bgp {
            hold_time: DEFAULT_HOLD_TIME,
            connect_retry: DEFAULT_CONNECT_RETRY,
            listen: None,
            shutdown_delay: Duration::ZERO,
            peers,
        }
    }
}

impl Peer {
    /// The peer a `[[bgp.peer]]` with only `address` and `asn` resolves to under a `[bgp]`
    /// that sets nothing: port 179, hold time 90 s, Graceful Restart with 120 s, active, no
    /// password, GTSM or BFD, and the default families ([`Families::default_for`]: the
    /// session's own, and for an IPv6 peer IPv4 too with RFC 8950). `address` is taken as it
    /// is: a link-local one needs `interface` set as well.
    pub fn new(address: IpAddr, asn: u32) -> Peer {
        let (families, extended_next_hop) = Families::default_for(address, false, false, None);
        Peer {
            address,
            asn,
            port: DEFAULT_BGP_PORT,
            local_address: None,
            next_hop: None,
            next_hop6: None,
            passive: false,
            hold_time: DEFAULT_HOLD_TIME,
            password: None,
            ttl_security: false,
            families,
            extended_next_hop,
            interface: None,
            bfd: None,
            graceful_restart: Some(DEFAULT_RESTART_TIME),
        }
    }

    pub fn is_ibgp(&self, local_asn: u32) -> bool {
        self.asn == local_asn
    }

    /// The address as operators wrote it: `fe80::1%eth1` for a link-local peer.
    pub fn display_address(&self) -> String {
        match &self.interface {
            Some(i) => format!("{}%{i}", self.address),
            None => self.address.to_string(),
        }
    }

    /// The families this peer can carry VIPs of: offered, and with a way to name a next
    /// hop of that family (the session's own family, a configured next hop, or RFC 8950 for
    /// IPv4 over an IPv6 session, if the router negotiates it).
    pub fn can_carry(&self) -> Families {
        Families {
            ipv4: self.families.ipv4
                && (self.address.is_ipv4() || self.next_hop.is_some() || self.extended_next_hop),
            ipv6: self.families.ipv6 && (self.address.is_ipv6() || self.next_hop6.is_some()),
        }
    }
}

/// IPv6 link-local unicast (fe80::/10): meaningless without the interface it is on.
pub fn is_link_local(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80)
}

/// A set of the two unicast address families anycastd announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Families {
    pub ipv4: bool,
    pub ipv6: bool,
}

impl Families {
    pub const BOTH: Families = Families {
        ipv4: true,
        ipv6: true,
    };

    /// The families a peer at `address` offers when its config names none, and whether it
    /// offers RFC 8950 (as GoBGP does): the session's own family, plus the other one when a
    /// next hop for it is configured (`has_next_hop4`, `has_next_hop6`); an IPv6 session
    /// also offers IPv4 with extended next hop, unless it has an IPv4 next hop or
    /// `extended_next_hop` is `Some(false)`.
    pub fn default_for(
        address: IpAddr,
        has_next_hop4: bool,
        has_next_hop6: bool,
        extended_next_hop: Option<bool>,
    ) -> (Families, bool) {
        let v6_session = address.is_ipv6();
        let enh = v6_session && !has_next_hop4 && extended_next_hop.unwrap_or(true);
        let families = Families {
            ipv4: !v6_session || has_next_hop4 || enh,
            ipv6: v6_session || has_next_hop6,
        };
        (families, enh)
    }

    /// The family of `ip` only.
    pub fn of(ip: IpAddr) -> Families {
        Families {
            ipv4: ip.is_ipv4(),
            ipv6: ip.is_ipv6(),
        }
    }

    pub fn contains(&self, ip: &IpAddr) -> bool {
        match ip {
            IpAddr::V4(_) => self.ipv4,
            IpAddr::V6(_) => self.ipv6,
        }
    }

    /// `["ipv4", "ipv6"]`, as in the config and `/status`.
    pub fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.ipv4 {
            v.push("ipv4");
        }
        if self.ipv6 {
            v.push("ipv6");
        }
        v
    }
}

impl std::fmt::Display for Families {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.names().as_slice() {
            [] => write!(f, "no family"),
            names => write!(f, "{}", names.join(" and ")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnnouncePolicy {
    /// Every service on the VIP must be healthy.
    All,
    /// One healthy service is enough.
    Any,
}

/// A standard community (RFC 1997), `high:low`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    /// RFC 8326 GRACEFUL_SHUTDOWN.
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xFFFF_0000);
}

impl std::fmt::Display for Community {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.0 >> 16, self.0 & 0xFFFF)
    }
}

/// A large community (RFC 8092), `global:local1:local2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    pub global: u32,
    pub local1: u32,
    pub local2: u32,
}

impl std::fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.global, self.local1, self.local2)
    }
}

/// One anycast address. With neither `services` nor `check` it is a plain announcement: always
/// healthy, announced while the daemon runs and it is not drained, no IPVS programmed.
#[derive(Debug, Clone, PartialEq)]
pub struct Vip {
    pub address: IpAddr,
    pub interface: String,
    /// How the VIP is made local on `interface` (`bind`, default `node.vip_bind`).
    pub bind: VipBind,
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub as_path_prepend: u8,
    pub announce: AnnouncePolicy,
    /// Boxed: a check inline is most of a `Vip`'s size, and most VIPs have none (the daemon
    /// holds every VIP twice: the config and the node state).
    pub check: Option<Box<VipCheck>>,
    pub services: Vec<Service>,
    /// The peers this VIP is announced to (`peers`); empty: every peer.
    pub peers: Vec<IpAddr>,
    /// What a failing or partly failing VIP does besides withdrawing.
    pub failure: FailurePolicy,
}

/// `on_partial`, `last_resort` and the `degrade_*` attributes of a `[[vip]]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FailurePolicy {
    /// `on_partial = "degrade"`: while some backends are down but every service still has
    /// `min_healthy`, announce with the degraded attributes instead of as healthy.
    pub degrade_on_partial: bool,
    /// Never withdrawn for health reasons (only for drain, shutdown or a dataplane error):
    /// announced degraded instead.
    pub last_resort: bool,
    pub degrade: Degrade,
}

/// How a degraded route is made less preferred than a healthy node's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Degrade {
    /// Replaces the VIP's MED.
    pub med: Option<u32>,
    /// Extra copies of node.asn on top of `as_path_prepend` (eBGP only).
    pub prepend: u8,
    /// Added to the VIP's communities.
    pub communities: Vec<Community>,
}

impl Degrade {
    pub fn is_empty(&self) -> bool {
        self.med.is_none() && self.prepend == 0 && self.communities.is_empty()
    }
}

/// How a VIP is made local to the node (`[[vip]] bind`, `[node] vip_bind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum VipBind {
    /// A host address (/32, /128) on the interface, as `ip addr add`: shows in `ip addr`, and
    /// any local process can bind() it. IPv4 address inserts walk the interface's address
    /// list, so tens of thousands of VIPs on one interface start slowly.
    #[default]
    Address,
    /// A `local` route in table local through the interface, as
    /// `ip route add local VIP/32 dev IFACE table local`: no address list to walk, so it scales
    /// to tens of thousands of VIPs; not shown by `ip addr`.
    Route,
}

impl VipBind {
    pub const NAMES: [&'static str; 2] = ["address", "route"];

    pub fn as_str(self) -> &'static str {
        match self {
            VipBind::Address => "address",
            VipBind::Route => "route",
        }
    }

    /// From one of [`VipBind::NAMES`].
    pub fn from_name(name: &str) -> Option<VipBind> {
        match name {
            "address" => Some(VipBind::Address),
            "route" => Some(VipBind::Route),
            _ => None,
        }
    }
}

/// A check of the VIP itself (`[vip.check]`).
#[derive(Debug, Clone, PartialEq)]
pub struct VipCheck {
    /// Address to check; defaults to the VIP.
    pub address: IpAddr,
    pub port: u16,
    pub check: Check,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Forwarding {
    /// NAT (`ipvsadm -m`).
    Masq,
    /// Direct routing (`ipvsadm -g`).
    Route,
    /// IPIP tunnel (`ipvsadm -i`).
    Tunnel,
}

/// IPVS schedulers known to the Linux kernel.
pub const SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub port: u16,
    pub protocol: Protocol,
    pub scheduler: String,
    pub forwarding: Forwarding,
    /// Seconds; 0 = off.
    pub persistence: u32,
    pub min_healthy: u32,
    pub unhealthy_weight: u32,
    pub slow_start: Duration,
    pub backends: Vec<Backend>,
    /// `mh_port`/`sh_port`, `mh_fallback`/`sh_fallback`, `ops`.
    pub flags: SchedulerFlags,
    /// `rehash_safe`: flows survive the routers moving them to another node. Validated to come
    /// with `scheduler = "mh"` and direct-return or tunnel forwarding; makes the dataplane set
    /// `net.ipv4.vs.sloppy_tcp` and `sloppy_sctp`.
    pub rehash_safe: bool,
}

/// The IPVS service flags beyond persistence: the `sh` and `mh` schedulers' two flags
/// (`IP_VS_SVC_F_SCHED1` fallback, `IP_VS_SVC_F_SCHED2` port, the same bits for both) and
/// one-packet scheduling (`IP_VS_SVC_F_ONEPACKET`, UDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SchedulerFlags {
    /// `*_fallback`: a destination with weight 0 (or overloaded) is skipped for the next one,
    /// instead of the flow being refused.
    pub fallback: bool,
    /// `*_port`: the source port is hashed with the source address.
    pub port: bool,
    /// `ops`: every UDP datagram is scheduled on its own (no connection entry).
    pub one_packet: bool,
}

impl SchedulerFlags {
    /// As ipvsadm shows them: `mh-fallback,mh-port,ops`.
    pub fn describe(&self, scheduler: &str) -> String {
        let mut parts = Vec::new();
        if self.fallback {
            parts.push(format!("{scheduler}-fallback"));
        }
        if self.port {
            parts.push(format!("{scheduler}-port"));
        }
        if self.one_packet {
            parts.push("ops".to_string());
        }
        parts.join(",")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Backend {
    pub address: IpAddr,
    pub port: u16,
    pub weight: u32,
    /// Resolved: the service check with this backend's overrides applied.
    pub check: Check,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub kind: CheckKind,
    /// Port to check; `None` means the backend's (or VIP check's) port.
    pub port: Option<u16>,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
}

/// What a backend gets without a check table: a TCP connect with the default timing (pinned
/// against the resolver by `defaults_are_filled_in_for_peers_vips_services_backends_and_checks`).
impl Default for Check {
    fn default() -> Self {
        Check {
            kind: CheckKind::Tcp,
            port: None,
            interval: DEFAULT_CHECK_INTERVAL,
            timeout: DEFAULT_CHECK_TIMEOUT,
            rise: DEFAULT_RISE,
            fall: DEFAULT_FALL,
        }
    }
}

/// Inclusive range of acceptable HTTP status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRange {
    pub lo: u16,
    pub hi: u16,
}

impl StatusRange {
    pub const SUCCESS: StatusRange = StatusRange { lo: 200, hi: 299 };
    pub fn contains(&self, code: u16) -> bool {
        (self.lo..=self.hi).contains(&code)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum CheckKind {
    Tcp,
    Http(HttpCheck),
    Https(HttpCheck),
    /// A DNS query, answered natively (no `dig`).
    Dns(DnsCheck),
    /// A datagram sent, a reply (or no ICMP error) awaited.
    Udp(UdpCheck),
    /// `grpc.health.v1.Health/Check` over HTTP/2 cleartext.
    Grpc(GrpcCheck),
    /// argv, run without a shell; exit 0 = healthy.
    Exec {
        command: Vec<String>,
    },
    /// Always healthy.
    None,
}

/// The first this many bytes of an HTTP body are what `body_contains` and `body_regex` see.
pub const HTTP_BODY_LIMIT: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct HttpCheck {
    pub path: String,
    pub expect: StatusRange,
    /// Host header; defaults to the target address.
    pub host: Option<String>,
    /// https only: verify the server certificate.
    pub tls_verify: bool,
    pub method: HttpMethod,
    /// Extra request headers, validated names and values, in file order.
    pub headers: Vec<(String, String)>,
    /// The first [`HTTP_BODY_LIMIT`] bytes of the body must contain this.
    pub body_contains: Option<String>,
    /// The first [`HTTP_BODY_LIMIT`] bytes of the body must match this.
    pub body_regex: Option<BodyRegex>,
    /// https only: the TLS server name (SNI, and the name verified with `tls_verify`); `None`:
    /// `host` without its port, else the IP address.
    pub tls_server_name: Option<String>,
}

impl HttpCheck {
    /// `GET path` with the status in `expect` and nothing else asked: what `type = "http"`
    /// with only `path` set resolves to.
    pub fn get(path: &str, expect: StatusRange) -> HttpCheck {
        HttpCheck {
            path: path.to_string(),
            expect,
            host: None,
            tls_verify: false,
            method: HttpMethod::Get,
            headers: Vec::new(),
            body_contains: None,
            body_regex: None,
            tls_server_name: None,
        }
    }

    /// Whether the body is read at all.
    pub fn reads_body(&self) -> bool {
        self.body_contains.is_some() || self.body_regex.is_some()
    }
}

/// The request methods an HTTP check may use (a health endpoint answers one of these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Head,
    Post,
    Put,
    Options,
}

impl HttpMethod {
    pub const ALL: [HttpMethod; 5] = [
        HttpMethod::Get,
        HttpMethod::Head,
        HttpMethod::Post,
        HttpMethod::Put,
        HttpMethod::Options,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Head => "HEAD",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Options => "OPTIONS",
        }
    }
}

/// A compiled `body_regex`, matched against bytes (a body need not be UTF-8). Two are equal
/// when their patterns are (a reload compares checks).
#[derive(Debug, Clone)]
pub struct BodyRegex(pub regex::bytes::Regex);

impl PartialEq for BodyRegex {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// DNS record types a check may ask for, as written in `qtype` (RFC 1035 §3.2.2, RFC 3596,
/// RFC 2782).
pub const DNS_QTYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("PTR", 12),
    ("MX", 15),
    ("TXT", 16),
    ("AAAA", 28),
    ("SRV", 33),
    ("ANY", 255),
];

/// DNS response codes a check may expect, as written in `expect_rcode` (RFC 1035 §4.1.1).
pub const DNS_RCODES: &[(&str, u8)] = &[
    ("NOERROR", 0),
    ("FORMERR", 1),
    ("SERVFAIL", 2),
    ("NXDOMAIN", 3),
    ("NOTIMP", 4),
    ("REFUSED", 5),
];

/// The name of a response code, or its number for one outside [`DNS_RCODES`].
pub fn dns_rcode_name(rcode: u8) -> String {
    DNS_RCODES
        .iter()
        .find(|(_, c)| *c == rcode)
        .map_or_else(|| rcode.to_string(), |(n, _)| n.to_string())
}

/// Default `qtype` and `expect_rcode`.
pub const DEFAULT_DNS_QTYPE: u16 = 1;
pub const DEFAULT_DNS_RCODE: u8 = 0;

#[derive(Debug, Clone, PartialEq)]
pub struct DnsCheck {
    /// The name asked for, without the trailing dot (`""` is the root).
    pub query: String,
    pub qtype: u16,
    pub expect_rcode: u8,
    /// Over TCP (RFC 1035 §4.2.2, two-byte length prefix) instead of UDP.
    pub tcp: bool,
    /// Healthy only with at least one answer record of `qtype`.
    pub require_answer: bool,
}

/// The largest UDP payload a check sends or accepts: what fits an IPv4 datagram.
pub const MAX_UDP_PAYLOAD: usize = 65_507;

#[derive(Debug, Clone, PartialEq)]
pub struct GrpcCheck {
    /// The service name asked about; `""` is the server as a whole (the protocol's own
    /// convention).
    pub service: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UdpCheck {
    /// The datagram sent (may be empty).
    pub send: Vec<u8>,
    /// `None`: healthy unless an ICMP error comes back within the timeout. `Some`: a reply must
    /// arrive within the timeout and contain these bytes (empty: any reply).
    pub expect: Option<Vec<u8>>,
}

impl Config {
    /// All services in the file, with the VIP each belongs to.
    pub fn services(&self) -> impl Iterator<Item = (&Vip, &Service)> {
        self.vips
            .iter()
            .flat_map(|v| v.services.iter().map(move |s| (v, s)))
    }
}
