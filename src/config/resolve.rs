//! Raw tree to validated [`Config`]: `[node]`, `[api]`, `[bgp]` and its peers here; VIPs,
//! services and backends in `vip.rs`; checks in `check.rs`. Defaults are filled in on the way.

use std::net::IpAddr;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::model::*;
use super::raw::{Leaf, RawApi, RawBgp, RawConfig, RawNode, RawPeer};
use super::validate::{path, peek_ip, Ctx, FirstSeen};
use super::vip;

/// Longest TCP MD5 key Linux accepts (`TCP_MD5SIG_MAXKEYLEN`).
const MAX_MD5_KEY_LEN: usize = 80;

/// Resolves the whole file; `None` when anything failed (the errors are in `ctx`).
pub fn config(ctx: &mut Ctx, raw: &RawConfig) -> Option<Config> {
    let node = node(ctx, raw.node.as_ref());
    let api = api(ctx, raw.api.as_ref());
    // VIPs are checked against every peer that resolved, even when another one did not.
    let (bgp, peers) = bgp(ctx, raw.bgp.as_ref());
    let vips = vip::vips(ctx, raw.vip.as_deref().unwrap_or_default(), &peers);
    Some(Config {
        node: node?,
        api: api?,
        bgp: bgp?,
        vips: vips?,
    })
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
    Some(Api {
        listen: listen?,
        token: token?,
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
        Some(leaf) => ctx.duration("bgp.connect_retry", leaf, true).and_then(|d| {
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
        Some(leaf) => ctx.duration("bgp.shutdown_delay", leaf, true),
        None => Some(Duration::ZERO),
    };
    let (peers, peers_ok) = peers(
        ctx,
        b.peer.as_deref().unwrap_or_default(),
        hold_time.unwrap_or(DEFAULT_HOLD_TIME),
        b.listen.is_some(),
    );
    let bgp = (|| {
        Some(Bgp {
            hold_time: hold_time?,
            connect_retry: connect_retry?,
            listen: listen?,
            shutdown_delay: shutdown_delay?,
            peers: peers_ok.then(|| peers.clone())?,
        })
    })();
    (bgp, peers)
}

fn peers(
    ctx: &mut Ctx,
    raw: &[Spanned<RawPeer>],
    hold_time: u16,
    listening: bool,
) -> (Vec<Peer>, bool) {
    let mut seen = FirstSeen::new();
    let mut peers = Vec::new();
    let mut ok = true;
    for (i, table) in raw.iter().enumerate() {
        let here = format!("bgp.peer[{i}]");
        let mut peer = peer(ctx, &here, table, hold_time, listening);
        // Two sessions to one address cannot both exist: say which line has the first one.
        if let Some((ip, leaf)) = peek_ip(table.get_ref().address.as_ref()) {
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
) -> Option<Peer> {
    let (p, span) = (table.get_ref(), table.span());
    let key = |k: &str| path(here, k);
    let address = required(ctx, here, &span, "address", p.address.as_ref())
        .and_then(|leaf| ctx.ip(&key("address"), leaf));
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
    })
}

/// An optional key: `Some(None)` when absent, `Some(Some(v))` when valid, `None` when invalid.
pub fn optional<L, T>(leaf: Option<&L>, read: impl FnOnce(&L) -> Option<T>) -> Option<Option<T>> {
    match leaf {
        None => Some(None),
        Some(leaf) => read(leaf).map(Some),
    }
}

/// Why a VIP cannot be announced to a peer: BGP needs a next hop of the VIP's family, and an
/// IPv4 session only has an IPv6 one when configured (and vice versa).
pub fn next_hop_problem(vip: IpAddr, peer: &Peer) -> Option<String> {
    let has_v6 = peer.address.is_ipv6()
        || peer.local_address.is_some_and(|a| a.is_ipv6())
        || peer.next_hop6.is_some();
    let has_v4 = peer.address.is_ipv4()
        || peer.local_address.is_some_and(|a| a.is_ipv4())
        || peer.next_hop.is_some();
    let peer_addr = peer.address;
    match vip {
        IpAddr::V6(_) if !has_v6 => Some(format!(
            "IPv6 VIP {vip} has no IPv6 next hop for peer {peer_addr}; the session is IPv4, \
             so set next_hop6 (or an IPv6 local_address) on that peer"
        )),
        IpAddr::V4(_) if !has_v4 => Some(format!(
            "IPv4 VIP {vip} has no IPv4 next hop for peer {peer_addr}; the session is IPv6, \
             so set next_hop on that peer"
        )),
        _ => None,
    }
}
