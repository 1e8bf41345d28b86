//! Raw tree to validated [`Config`]: `[node]`, `[api]`, `[bgp]` and its peers here; VIPs,
//! services and backends in `vip.rs`; checks in `check.rs`. Defaults are filled in on the way.

use std::net::IpAddr;
use std::ops::Range;
use std::path::{Component, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::model::*;
use super::raw::{Leaf, RawApi, RawBgp, RawConfig, RawIpvs, RawNode, RawPeer, Value};
use super::validate::{path, Ctx, FirstSeen};
use super::{catalog, export, vip};

/// Longest TCP MD5 key Linux accepts (`TCP_MD5SIG_MAXKEYLEN`).
const MAX_MD5_KEY_LEN: usize = 80;

/// Resolves the whole file; `None` when anything failed (the errors are in `ctx`).
pub fn config(ctx: &mut Ctx, raw: &RawConfig) -> Option<Config> {
    let node = node(ctx, raw.node.as_ref());
    let api = api(ctx, raw.api.as_ref());
    // VIPs are checked against every peer that resolved, even when another one did not.
    let (bgp, peers) = bgp(ctx, raw.bgp.as_ref());
    let local_asn = node.as_ref().map(|n| n.asn);
    let raw_vips = raw.vip.as_deref().unwrap_or_default();
    let vip_bind = vip_bind(ctx, raw.node.as_ref());
    let mut vips = vip::vips(
        ctx,
        raw_vips,
        &peers,
        local_asn,
        vip_bind.unwrap_or_default(),
    );
    if let Some(list) = vips.as_mut() {
        if !export::apply_peer_vips(ctx, raw.bgp.as_ref(), raw_vips, &peers, list) {
            vips = None;
        }
    }
    let state_file = state_file(ctx, raw.node.as_ref());
    let ipvs_sync = ipvs_sync(ctx, raw.ipvs.as_ref());
    vip_bind?;
    let labels = catalog::labels(
        ctx,
        raw.node.as_ref().and_then(|n| n.get_ref().labels.as_ref()),
    );
    let catalog = catalog::catalog(ctx, raw.catalog.as_ref());
    Some(Config {
        node: node?,
        api: api?,
        bgp: bgp?,
        vips: vips?,
        state_file: state_file?,
        ipvs_sync: ipvs_sync?,
        labels: labels?,
        catalog: catalog?,
    })
}

/// `[ipvs.sync]`: `interface` (required), `syncid` 0..=255 (default 0), `role`.
fn ipvs_sync(ctx: &mut Ctx, raw: Option<&Spanned<RawIpvs>>) -> Option<Option<IpvsSync>> {
    let Some(table) = raw.and_then(|ipvs| ipvs.get_ref().sync.as_ref()) else {
        return Some(None);
    };
    let (s, span) = (table.get_ref(), table.span());
    let interface = required(ctx, "ipvs.sync", &span, "interface", s.interface.as_ref())
        .and_then(|leaf| vip::interface(ctx, "ipvs.sync.interface", leaf));
    let sync_id = match &s.syncid {
        Some(leaf) => ctx
            .int("ipvs.sync.syncid", leaf, 0..=255, "a sync id 0..=255")
            .map(|n| n as u8),
        None => Some(0),
    };
    let role = match &s.role {
        Some(leaf) => ctx
            .choice("ipvs.sync.role", leaf, "sync daemon role", &SyncRole::NAMES)
            .map(|name| match name {
                "master" => SyncRole::Master,
                "backup" => SyncRole::Backup,
                _ => SyncRole::Both,
            }),
        None => Some(SyncRole::Both),
    };
    Some(Some(IpvsSync {
        interface: interface?,
        sync_id: sync_id?,
        role: role?,
    }))
}

/// A key that must be present: reports `table: key is required` at the table's header.
pub fn required<'l>(
    ctx: &mut Ctx,
    table: &str,
    span: &Range<usize>,
    key: &str,
    leaf: Option<&'l Leaf>,
) -> Option<&'l Leaf> {
    if leaf.is_none() {
        ctx.at(table, span, format_args!("{key} is required"));
    }
    leaf
}

fn node(ctx: &mut Ctx, raw: Option<&Spanned<RawNode>>) -> Option<Node> {
    let Some(table) = raw else {
        ctx.error(&(0..0), "[node] is required (router_id and asn)");
        return None;
    };
    let (n, span) = (table.get_ref(), table.span());
    let router_id =
        required(ctx, "node", &span, "router_id", n.router_id.as_ref()).and_then(|leaf| {
            let id = ctx.ipv4("node.router_id", leaf, "the BGP identifier must be IPv4")?;
            if id.is_unspecified() {
                ctx.at(
                    "node.router_id",
                    &leaf.span(),
                    "0.0.0.0 is not a valid BGP identifier",
                );
                return None;
            }
            Some(id)
        });
    let asn = required(ctx, "node", &span, "asn", n.asn.as_ref())
        .and_then(|leaf| ctx.asn("node.asn", leaf));
    Some(Node {
        router_id: router_id?,
        asn: asn?,
    })
}

/// `node.vip_bind`: the default of every VIP's `bind`.
fn vip_bind(ctx: &mut Ctx, raw: Option<&Spanned<RawNode>>) -> Option<VipBind> {
    let Some(leaf) = raw.and_then(|t| t.get_ref().vip_bind.as_ref()) else {
        return Some(VipBind::default());
    };
    ctx.choice("node.vip_bind", leaf, "VIP binding", &VipBind::NAMES)
        .and_then(VipBind::from_name)
}

/// `node.state_file`: a file path (not empty, not a directory such as `dir/` or `..`).
fn state_file(ctx: &mut Ctx, raw: Option<&Spanned<RawNode>>) -> Option<Option<PathBuf>> {
    let Some(leaf) = raw.and_then(|t| t.get_ref().state_file.as_ref()) else {
        return Some(None);
    };
    let s = ctx.nonempty_string("node.state_file", leaf)?;
    let path = PathBuf::from(s);
    let names_a_file =
        !s.ends_with('/') && matches!(path.components().next_back(), Some(Component::Normal(_)));
    if !names_a_file {
        ctx.at(
            "node.state_file",
            &leaf.span(),
            format_args!("{s:?} is a directory; expected the path of a file"),
        );
        return None;
    }
    Some(Some(path))
}

fn api(ctx: &mut Ctx, raw: Option<&Spanned<RawApi>>) -> Option<Api> {
    let default = RawApi::default();
    let a = raw.map_or(&default, |t| t.get_ref());
    let listen = match &a.listen {
        Some(leaf) => ctx.socket_addr("api.listen", leaf),
        None => Some(DEFAULT_API_LISTEN.parse().expect("valid default")),
    };
    let token = match &a.token {
        Some(leaf) => ctx
            .nonempty_string("api.token", leaf)
            .map(|t| Some(t.to_string())),
        None => Some(None),
    };
    // POST /drain from anywhere but loopback must be authenticated (CONTRACT "HTTP endpoint").
    if let (Some(addr), Some(None), Some(leaf)) = (listen, &token, &a.listen) {
        if !addr.ip().is_loopback() {
            let msg = format_args!(
                "{addr} is not a loopback address, so api.token is required \
                 (POST /drain and /undrain would otherwise be open to the network)"
            );
            ctx.at("api.listen", &leaf.span(), msg);
        }
    }
    let max_connections = match &a.max_connections {
        Some(leaf) => ctx
            .int(
                "api.max_connections",
                leaf,
                1..=MAX_API_MAX_CONNECTIONS as i64,
                &format!("a number of connections 1..={MAX_API_MAX_CONNECTIONS}"),
            )
            .map(|n| n as usize),
        None => Some(DEFAULT_API_MAX_CONNECTIONS),
    };
    let writable = match &a.writable {
        Some(leaf) => ctx.boolean("api.writable", leaf),
        None => Some(true),
    };
    Some(Api {
        listen: listen?,
        token: token?,
        max_connections: max_connections?,
        writable: writable?,
    })
}

/// `[bgp]`, and the peers that resolved (all of them when the result is `Some`).
fn bgp(ctx: &mut Ctx, raw: Option<&Spanned<RawBgp>>) -> (Option<Bgp>, Vec<Peer>) {
    let default = RawBgp::default();
    let b = raw.map_or(&default, |t| t.get_ref());
    let hold_time = match &b.hold_time {
        Some(leaf) => ctx.hold_time("bgp.hold_time", leaf),
        None => Some(DEFAULT_HOLD_TIME),
    };
    let connect_retry = match &b.connect_retry {
        Some(leaf) => ctx
            .duration("bgp.connect_retry", leaf, true, MAX_CONNECT_RETRY)
            .and_then(|d| {
                if d.is_zero() {
                    ctx.at("bgp.connect_retry", &leaf.span(), "must be longer than 0s");
                    return None;
                }
                Some(d)
            }),
        None => Some(DEFAULT_CONNECT_RETRY),
    };
    let listen = match &b.listen {
        Some(leaf) => ctx.socket_addr("bgp.listen", leaf).map(Some),
        None => Some(None),
    };
    let shutdown_delay = match &b.shutdown_delay {
        Some(leaf) => ctx.duration("bgp.shutdown_delay", leaf, true, MAX_SHUTDOWN_DELAY),
        None => Some(Duration::ZERO),
    };
    let bfd_default = bfd(ctx, "bgp", BfdKeys::of_bgp(b), (false, Bfd::default()));
    let (peers, peers_ok) = peers(
        ctx,
        b.peer.as_deref().unwrap_or_default(),
        hold_time.unwrap_or(DEFAULT_HOLD_TIME),
        b.listen.is_some(),
        bfd_default.unwrap_or((false, Bfd::default())),
    );
    let bgp = (|| {
        Some(Bgp {
            hold_time: hold_time?,
            connect_retry: connect_retry?,
            listen: listen?,
            shutdown_delay: shutdown_delay?,
            peers: peers_ok
                .then(|| peers.clone())
                .filter(|_| bfd_default.is_some())?,
        })
    })();
    (bgp, peers)
}

fn peers(
    ctx: &mut Ctx,
    raw: &[Spanned<RawPeer>],
    hold_time: u16,
    listening: bool,
    bfd_default: (bool, Bfd),
) -> (Vec<Peer>, bool) {
    let mut seen = FirstSeen::new();
    let mut peers = Vec::new();
    let mut ok = true;
    for (i, table) in raw.iter().enumerate() {
        let here = format!("bgp.peer[{i}]");
        let mut peer = peer(ctx, &here, table, hold_time, listening, bfd_default);
        // Two sessions to one address cannot both exist: say which line has the first one.
        if let Some((ip, leaf)) = peek_peer_ip(table.get_ref().address.as_ref()) {
            if let Some(first) = seen.earlier(ip, ctx.line(&leaf.span())) {
                let msg = format_args!("duplicate peer {ip} (first defined at line {first})");
                ctx.at(&path(&here, "address"), &leaf.span(), msg);
                peer = None;
            }
        }
        match peer {
            Some(p) => peers.push(p),
            None => ok = false,
        }
    }
    (peers, ok)
}

fn peer(
    ctx: &mut Ctx,
    here: &str,
    table: &Spanned<RawPeer>,
    default_hold_time: u16,
    listening: bool,
    bfd_default: (bool, Bfd),
) -> Option<Peer> {
    let (p, span) = (table.get_ref(), table.span());
    let key = |k: &str| path(here, k);
    let address_leaf = required(ctx, here, &span, "address", p.address.as_ref());
    let scoped = address_leaf.and_then(|leaf| peer_address(ctx, &key("address"), leaf));
    let address = scoped.as_ref().map(|(ip, _)| *ip);
    let asn = required(ctx, here, &span, "asn", p.asn.as_ref())
        .and_then(|leaf| ctx.asn(&key("asn"), leaf));
    let port = p
        .port
        .as_ref()
        .map_or(Some(DEFAULT_BGP_PORT), |leaf| ctx.port(&key("port"), leaf));
    let local_address = optional(p.local_address.as_ref(), |leaf| {
        let ip = ctx.ip(&key("local_address"), leaf)?;
        if let Some(peer) = address.filter(|a| a.is_ipv4() != ip.is_ipv4()) {
            let msg = format_args!("{ip} and the peer address {peer} are not of the same family");
            ctx.at(&key("local_address"), &leaf.span(), msg);
            return None;
        }
        Some(ip)
    });
    let next_hop = optional(p.next_hop.as_ref(), |leaf| {
        ctx.ipv4(
            &key("next_hop"),
            leaf,
            "next_hop is for IPv4 VIPs; use next_hop6 for IPv6",
        )
    });
    let next_hop6 = optional(p.next_hop6.as_ref(), |leaf| {
        ctx.ipv6(
            &key("next_hop6"),
            leaf,
            "next_hop6 is for IPv6 VIPs; use next_hop for IPv4",
        )
    });
    let passive = p
        .passive
        .as_ref()
        .map_or(Some(false), |leaf| ctx.boolean(&key("passive"), leaf));
    if let (Some(true), Some(leaf), false) = (passive, &p.passive, listening) {
        let msg = "a passive peer never connects, so bgp.listen must be set to accept its session";
        ctx.at(&key("passive"), &leaf.span(), msg);
    }
    let hold_time = p
        .hold_time
        .as_ref()
        .map_or(Some(default_hold_time), |leaf| {
            ctx.hold_time(&key("hold_time"), leaf)
        });
    let password = optional(p.password.as_ref(), |leaf| {
        let pw = ctx.nonempty_string(&key("password"), leaf)?;
        if pw.len() > MAX_MD5_KEY_LEN {
            let msg = format_args!("is {} bytes; TCP MD5 keys are at most 80", pw.len());
            ctx.at(&key("password"), &leaf.span(), msg);
            return None;
        }
        Some(pw.to_string())
    });
    let ttl_security = p
        .ttl_security
        .as_ref()
        .map_or(Some(false), |leaf| ctx.boolean(&key("ttl_security"), leaf));
    let interface = peer_interface(ctx, here, p, scoped.as_ref());
    let bfd = bfd(ctx, here, BfdKeys::of_peer(p), bfd_default).and_then(|(on, b)| {
        if on && b.multihop && address.is_some_and(|a| is_link_local(&a)) {
            let leaf = p.bfd_multihop.as_ref().or(p.bfd.as_ref())?;
            let msg = "a link-local peer is directly connected: bfd_multihop cannot be used";
            ctx.at(&key("bfd_multihop"), &leaf.span(), msg);
            return None;
        }
        Some(on.then_some(b))
    });
    let graceful_restart = graceful_restart(ctx, here, p);
    let extended_next_hop = optional(p.extended_next_hop.as_ref(), |leaf| {
        ctx.boolean(&key("extended_next_hop"), leaf)
    });
    let families = optional(p.families.as_ref(), |leaf| {
        families(ctx, &key("families"), leaf)
    });
    let (families, extended_next_hop) = match (address, next_hop, next_hop6) {
        (Some(a), Some(nh4), Some(nh6)) => resolve_families(
            ctx,
            here,
            p,
            a,
            (nh4.is_some(), nh6.is_some()),
            families?,
            extended_next_hop?,
        )?,
        _ => return None,
    };
    Some(Peer {
        address: address?,
        asn: asn?,
        port: port?,
        local_address: local_address?,
        next_hop: next_hop?,
        next_hop6: next_hop6?,
        passive: passive.filter(|&p| !p || listening)?,
        hold_time: hold_time?,
        password: password?,
        ttl_security: ttl_security?,
        families,
        extended_next_hop,
        interface: interface?,
        bfd: bfd?,
        graceful_restart: graceful_restart?,
    })
}

/// `graceful_restart` [true] and `restart_time` ["120s"] of a peer: the Restart Time to
/// advertise, or `None` when graceful restart is off.
fn graceful_restart(ctx: &mut Ctx, here: &str, p: &RawPeer) -> Option<Option<u16>> {
    let key = |k: &str| path(here, k);
    let on = p.graceful_restart.as_ref().map_or(Some(true), |leaf| {
        ctx.boolean(&key("graceful_restart"), leaf)
    });
    let time = optional(p.restart_time.as_ref(), |leaf| {
        let d = ctx.any_duration(&key("restart_time"), leaf, true)?;
        let secs = d.as_secs();
        if d.subsec_nanos() != 0 || !(1..=u64::from(MAX_RESTART_TIME)).contains(&secs) {
            let msg = format_args!(
                "must be a whole number of seconds from 1s to {MAX_RESTART_TIME}s \
                 (the Graceful Restart capability's 12-bit field)"
            );
            ctx.at(&key("restart_time"), &leaf.span(), msg);
            return None;
        }
        u16::try_from(secs).ok()
    });
    match (on?, time?) {
        (false, Some(_)) => {
            let leaf = p.restart_time.as_ref()?;
            let msg = "has no effect with graceful_restart = false";
            ctx.at(&key("restart_time"), &leaf.span(), msg);
            None
        }
        (false, None) => Some(None),
        (true, time) => Some(Some(time.unwrap_or(DEFAULT_RESTART_TIME))),
    }
}

/// The five BFD keys of a table (`[bgp]` or a peer).
struct BfdKeys<'a> {
    bfd: Option<&'a Leaf>,
    min_tx: Option<&'a Leaf>,
    min_rx: Option<&'a Leaf>,
    multiplier: Option<&'a Leaf>,
    multihop: Option<&'a Leaf>,
}

impl<'a> BfdKeys<'a> {
    fn of_bgp(b: &'a RawBgp) -> Self {
        BfdKeys {
            bfd: b.bfd.as_ref(),
            min_tx: b.bfd_min_tx.as_ref(),
            min_rx: b.bfd_min_rx.as_ref(),
            multiplier: b.bfd_multiplier.as_ref(),
            multihop: b.bfd_multihop.as_ref(),
        }
    }

    fn of_peer(p: &'a RawPeer) -> Self {
        BfdKeys {
            bfd: p.bfd.as_ref(),
            min_tx: p.bfd_min_tx.as_ref(),
            min_rx: p.bfd_min_rx.as_ref(),
            multiplier: p.bfd_multiplier.as_ref(),
            multihop: p.bfd_multihop.as_ref(),
        }
    }
}

/// BFD on or off and its timers: each key of the table, else the default (for a peer,
/// `[bgp]`'s keys). Every key is checked even when BFD is off.
fn bfd(ctx: &mut Ctx, here: &str, keys: BfdKeys, default: (bool, Bfd)) -> Option<(bool, Bfd)> {
    let key = |k: &str| path(here, k);
    let on = keys
        .bfd
        .map_or(Some(default.0), |leaf| ctx.boolean(&key("bfd"), leaf));
    let mut interval = |name: &str, leaf: Option<&Leaf>, default: Duration| {
        let Some(leaf) = leaf else {
            return Some(default);
        };
        let d = ctx.duration(&key(name), leaf, false, MAX_BFD_INTERVAL)?;
        if !(MIN_BFD_INTERVAL..=MAX_BFD_INTERVAL).contains(&d) {
            let msg = format_args!("{d:?} is out of range; expected 10ms to 60s");
            ctx.at(&key(name), &leaf.span(), msg);
            return None;
        }
        Some(d)
    };
    let min_tx = interval("bfd_min_tx", keys.min_tx, default.1.min_tx);
    let min_rx = interval("bfd_min_rx", keys.min_rx, default.1.min_rx);
    let multiplier = keys.multiplier.map_or(Some(default.1.multiplier), |leaf| {
        ctx.int(
            &key("bfd_multiplier"),
            leaf,
            1..=255,
            "a detect multiplier 1..=255",
        )
        .map(|n| n as u8)
    });
    let multihop = keys.multihop.map_or(Some(default.1.multihop), |leaf| {
        ctx.boolean(&key("bfd_multihop"), leaf)
    });
    Some((
        on?,
        Bfd {
            min_tx: min_tx?,
            min_rx: min_rx?,
            multiplier: multiplier?,
            multihop: multihop?,
        },
    ))
}

/// A peer address, optionally with its interface as `fe80::1%eth1` (RFC 4007 zone).
fn peer_address(ctx: &mut Ctx, here: &str, leaf: &Leaf) -> Option<(IpAddr, Option<String>)> {
    let s = ctx.string(here, leaf)?;
    let (addr, zone) = match s.split_once('%') {
        Some((a, z)) => (a, Some(z)),
        None => (s, None),
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        ctx.at(
            here,
            &leaf.span(),
            format_args!("{s:?} is not an IP address"),
        );
        return None;
    };
    match zone {
        Some(z) if !is_link_local(&ip) => {
            let msg = format_args!("{ip} is not link-local, so it takes no %{z} interface");
            ctx.at(here, &leaf.span(), msg);
            None
        }
        Some(z) => valid_interface_name(z)
            .map(|()| (ip, Some(z.to_string())))
            .map_err(|why| ctx.at(here, &leaf.span(), why))
            .ok(),
        None => Some((ip, None)),
    }
}

/// The address of a peer table without reporting anything (for the duplicate check).
fn peek_peer_ip(leaf: Option<&Leaf>) -> Option<(IpAddr, &Leaf)> {
    let leaf = leaf?;
    match leaf.get_ref() {
        Value::String(s) => {
            let addr = s.split_once('%').map_or(s.as_str(), |(a, _)| a);
            addr.parse().ok().map(|ip| (ip, leaf))
        }
        _ => None,
    }
}

/// The interface of a link-local peer: from `%zone` or the `interface` key (not both), and
/// required for a link-local address, which is ambiguous without one.
fn peer_interface(
    ctx: &mut Ctx,
    here: &str,
    p: &RawPeer,
    scoped: Option<&(IpAddr, Option<String>)>,
) -> Option<Option<String>> {
    let key = path(here, "interface");
    let explicit = optional(p.interface.as_ref(), |leaf| {
        let name = ctx.string(&key, leaf)?;
        valid_interface_name(name)
            .map(|()| name.to_string())
            .map_err(|why| ctx.at(&key, &leaf.span(), why))
            .ok()
    })?;
    let Some((ip, zone)) = scoped else {
        return Some(explicit);
    };
    match (zone, explicit, p.interface.as_ref()) {
        (Some(_), Some(_), Some(leaf)) => {
            let msg = "the address already names its interface after '%'; drop one of the two";
            ctx.at(&key, &leaf.span(), msg);
            None
        }
        (Some(z), _, _) => Some(Some(z.clone())),
        (None, Some(_), Some(leaf)) if !is_link_local(ip) => {
            let msg = format_args!(
                "{ip} is not link-local; interface is only for link-local peers (fe80::/10)"
            );
            ctx.at(&key, &leaf.span(), msg);
            None
        }
        (None, Some(i), _) => Some(Some(i)),
        (None, None, _) if is_link_local(ip) => {
            let leaf = p.address.as_ref()?;
            let msg = format_args!(
                "{ip} is link-local: name its interface, as \"{ip}%eth1\" or with interface = \"eth1\""
            );
            ctx.at(&path(here, "address"), &leaf.span(), msg);
            None
        }
        (None, None, _) => Some(None),
    }
}

/// `dev_valid_name()`: 1..=15 bytes, no '/', ':' or whitespace, not "." or "..".
pub fn valid_interface_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("interface name must not be empty".to_string())
    } else if name.len() > MAX_INTERFACE_NAME_LEN {
        Err(format!(
            "interface {name:?} is longer than {MAX_INTERFACE_NAME_LEN} bytes"
        ))
    } else if name == "." || name == ".." {
        Err(format!("interface {name:?} is not a valid interface name"))
    } else if name.contains(|c: char| c == '/' || c == ':' || c.is_whitespace()) {
        Err(format!(
            "interface {name:?} contains '/', ':' or whitespace, which Linux does not allow"
        ))
    } else {
        Ok(())
    }
}

/// `families = ["ipv4", "ipv6"]`: at least one, no repeats.
fn families(ctx: &mut Ctx, here: &str, leaf: &Leaf) -> Option<Families> {
    let items = ctx.array(here, leaf, "families (\"ipv4\", \"ipv6\")")?;
    let mut f = Families::default();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let here = format!("{here}[{i}]");
        match ctx.choice(&here, item, "address family", &["ipv4", "ipv6"]) {
            Some("ipv4") if !f.ipv4 => f.ipv4 = true,
            Some("ipv6") if !f.ipv6 => f.ipv6 = true,
            Some(name) => {
                ctx.at(&here, &item.span(), format_args!("{name} is listed twice"));
                ok = false;
            }
            None => ok = false,
        }
    }
    if ok && f == Families::default() {
        ctx.at(
            here,
            &leaf.span(),
            "must name at least one family: \"ipv4\", \"ipv6\"",
        );
        ok = false;
    }
    ok.then_some(f)
}

/// The families a peer offers and whether it offers RFC 8950.
///
/// Default: [`Families::default_for`]; the IPv4 that an IPv6 session offers with extended
/// next hop (RFC 8950) carries IPv4 VIPs only if the router negotiates it. An explicit list
/// is taken as it is, but a family the session could never give a next hop is an error.
fn resolve_families(
    ctx: &mut Ctx,
    here: &str,
    p: &RawPeer,
    address: IpAddr,
    (has_next_hop4, has_next_hop6): (bool, bool),
    explicit: Option<Families>,
    extended_next_hop: Option<bool>,
) -> Option<(Families, bool)> {
    let v6_session = address.is_ipv6();
    // RFC 8950 is for IPv4 over an IPv6 session; an IPv4 session has IPv4 next hops.
    if let (Some(true), false, Some(leaf)) =
        (extended_next_hop, v6_session, p.extended_next_hop.as_ref())
    {
        let msg = "extended next hop (RFC 8950) carries IPv4 routes over an IPv6 session; this peer is IPv4";
        ctx.at(&path(here, "extended_next_hop"), &leaf.span(), msg);
        return None;
    }
    let Some(families) = explicit else {
        return Some(Families::default_for(
            address,
            has_next_hop4,
            has_next_hop6,
            extended_next_hop,
        ));
    };
    let enh = v6_session && families.ipv4 && !has_next_hop4 && extended_next_hop.unwrap_or(true);
    let leaf = p.families.as_ref()?;
    let key = path(here, "families");
    if families.ipv6 && !v6_session && !has_next_hop6 {
        let msg = "ipv6 over this IPv4 session needs an IPv6 next hop: set next_hop6";
        ctx.at(&key, &leaf.span(), msg);
        return None;
    }
    if families.ipv4 && v6_session && !has_next_hop4 && !enh {
        let msg = "ipv4 over this IPv6 session needs an IPv4 next hop (next_hop) or \
                   extended_next_hop = true (RFC 8950)";
        ctx.at(&key, &leaf.span(), msg);
        return None;
    }
    Some((families, enh))
}

/// An optional key: `Some(None)` when absent, `Some(Some(v))` when valid, `None` when invalid.
pub fn optional<L, T>(leaf: Option<&L>, read: impl FnOnce(&L) -> Option<T>) -> Option<Option<T>> {
    match leaf {
        None => Some(None),
        Some(leaf) => read(leaf).map(Some),
    }
}

/// Why no peer can carry a VIP: every configured peer lacks its family (or a next hop of it).
/// `None` when one can, or when there are no peers (a node may run without BGP for a while).
pub fn no_peer_carries(vip: IpAddr, peers: &[Peer]) -> Option<String> {
    if peers.is_empty() || peers.iter().any(|p| p.can_carry().contains(&vip)) {
        return None;
    }
    let family = if vip.is_ipv4() { "IPv4" } else { "IPv6" };
    let carried: Vec<String> = peers
        .iter()
        .map(|p| format!("{} carries {}", p.address, p.can_carry()))
        .collect();
    let fix = if vip.is_ipv4() {
        "add an IPv4 peer, or set next_hop (or extended_next_hop = true) on an IPv6 peer"
    } else {
        "add an IPv6 peer, or set next_hop6 on an IPv4 peer"
    };
    Some(format!(
        "no peer carries {family} VIP {vip}: {}; {fix}",
        carried.join(", ")
    ))
}
