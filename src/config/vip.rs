//! `[[vip]]`, `[[vip.service]]` and `[[vip.service.backend]]`.
//!
//! A VIP with neither services nor `[vip.check]` is allowed: it is a plain anycast
//! announcement, always healthy, announced while the daemon runs and not drained (the local
//! service, say a DNS resolver, binds the VIP itself; no IPVS is programmed for it).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use toml::Spanned;

use crate::bgp::message::MAX_MESSAGE_LEN;
use crate::bgp::{adj_rib_out, RouteAttrs};

use super::check::{self, Layer, Role};
use super::model::*;
use super::raw::{Leaf, RawBackend, RawService, RawVip, Value};
use super::resolve::{no_peer_carries, optional, required, valid_interface_name};
use super::validate::{path, peek_ip, Ctx, FirstSeen};

/// `local_asn` (when `[node]` resolved) sizes the AS_PATH of the UPDATEs the VIPs need.
pub fn vips(
    ctx: &mut Ctx,
    raw: &[Spanned<RawVip>],
    peers: &[Peer],
    local_asn: Option<u32>,
    default_bind: VipBind,
) -> Option<Vec<Vip>> {
    let mut seen_vips = FirstSeen::new();
    // Service names are unique in the whole file: they name metrics and log lines.
    let mut seen_names = FirstSeen::new();
    let mut vips = Vec::new();
    let mut ok = true;
    for (i, table) in raw.iter().enumerate() {
        let here = format!("vip[{i}]");
        let mut vip = vip(ctx, &here, table, peers, &mut seen_names, default_bind);
        if let (Some(v), Some(asn)) = (&vip, local_asn) {
            if !attributes_fit(ctx, &here, table, v, asn) {
                vip = None;
            }
        }
        if let Some((ip, leaf)) = peek_ip(table.get_ref().address.as_ref()) {
            if let Some(first) = seen_vips.earlier(ip, ctx.line(&leaf.span())) {
                let msg = format_args!("duplicate VIP {ip} (first defined at line {first})");
                ctx.at(&path(&here, "address"), &leaf.span(), msg);
                vip = None;
            }
        }
        match vip {
            Some(v) => vips.push(v),
            None => ok = false,
        }
    }
    ok.then_some(vips)
}

fn vip(
    ctx: &mut Ctx,
    here: &str,
    table: &Spanned<RawVip>,
    peers: &[Peer],
    names: &mut FirstSeen<String>,
    default_bind: VipBind,
) -> Option<Vip> {
    let (v, span) = (table.get_ref(), table.span());
    let key = |k: &str| path(here, k);
    let address = required(ctx, here, &span, "address", v.address.as_ref())
        .and_then(|leaf| vip_address(ctx, &key("address"), leaf, peers));
    let interface = match &v.interface {
        Some(leaf) => interface(ctx, &key("interface"), leaf),
        None => Some(DEFAULT_VIP_INTERFACE.to_string()),
    };
    let bind = match &v.bind {
        Some(leaf) => ctx
            .choice(&key("bind"), leaf, "VIP binding", &VipBind::NAMES)
            .and_then(VipBind::from_name),
        None => Some(default_bind),
    };
    let communities = list(ctx, &key("communities"), v.communities.as_ref(), community);
    let large_communities = list(
        ctx,
        &key("large_communities"),
        v.large_communities.as_ref(),
        large_community,
    );
    let med = optional(v.med.as_ref(), |leaf| med(ctx, &key("med"), leaf));
    // Accepted for any peer; it is only sent to iBGP peers (RFC 4271 §5.1.5).
    let local_pref = optional(v.local_pref.as_ref(), |leaf| {
        ctx.u32(&key("local_pref"), leaf, 0, "a LOCAL_PREF 0..=4294967295")
    });
    let as_path_prepend = match &v.as_path_prepend {
        Some(leaf) => prepend(ctx, &key("as_path_prepend"), leaf),
        None => Some(0),
    };
    let announce = match &v.announce {
        Some(leaf) => {
            match ctx.choice(&key("announce"), leaf, "announce policy", &["all", "any"]) {
                Some("any") => Some(AnnouncePolicy::Any),
                Some(_) => Some(AnnouncePolicy::All),
                None => None,
            }
        }
        None => Some(AnnouncePolicy::All),
    };
    let check = optional(v.check.as_ref(), |raw| {
        let layer = Layer {
            path: key("check"),
            raw,
        };
        check::vip_check(ctx, &layer, address)
    });
    let mut services = Some(Vec::new());
    // One IPVS virtual service per (VIP, protocol, port): a second one would silently replace
    // the first in the kernel.
    let mut seen_ports = FirstSeen::new();
    for (i, table) in v.service.as_deref().unwrap_or_default().iter().enumerate() {
        let here = format!("{here}.service[{i}]");
        let mut service = service(ctx, &here, table, address, names);
        if let (Some(s), Some(leaf)) = (&service, table.get_ref().port.as_ref()) {
            let line = ctx.line(&leaf.span());
            if let Some(first) = seen_ports.earlier((s.port, s.protocol), line) {
                let (port, proto) = (s.port, s.protocol.as_str());
                let msg = format_args!(
                    "duplicate service {port}/{proto} on this VIP (first defined at line {first})"
                );
                ctx.at(&path(&here, "port"), &leaf.span(), msg);
                service = None;
            }
        }
        match (service, services.as_mut()) {
            (Some(s), Some(list)) => list.push(s),
            _ => services = None,
        }
    }
    let selected = selected_peers(ctx, here, v, peers, address);
    let failure = failure_policy(ctx, here, table, services.as_deref());
    Some(Vip {
        address: address?,
        interface: interface?,
        bind: bind?,
        communities: communities?,
        large_communities: large_communities?,
        med: med?,
        local_pref: local_pref?,
        as_path_prepend: as_path_prepend?,
        announce: announce?,
        check: check?.map(Box::new),
        services: services?,
        peers: selected?,
        failure: failure?,
    })
}

fn med(ctx: &mut Ctx, at: &str, leaf: &Leaf) -> Option<u32> {
    ctx.u32(at, leaf, 0, "a MED 0..=4294967295")
}

/// Extra copies of node.asn in the AS_PATH.
fn prepend(ctx: &mut Ctx, at: &str, leaf: &Leaf) -> Option<u8> {
    let range = 0..=i64::from(MAX_AS_PATH_PREPEND);
    let what = "a number of extra copies of node.asn, 0..=10";
    ctx.int(at, leaf, range, what).map(|n| n as u8)
}

/// `peers`: configured peer addresses, at least one of which carries the VIP's family.
fn selected_peers(
    ctx: &mut Ctx,
    here: &str,
    v: &RawVip,
    peers: &[Peer],
    address: Option<IpAddr>,
) -> Option<Vec<IpAddr>> {
    let Some(leaf) = &v.peers else {
        return Some(Vec::new());
    };
    let at = path(here, "peers");
    let items = ctx.array(&at, leaf, "peer addresses")?;
    let known: Vec<String> = peers.iter().map(|p| p.address.to_string()).collect();
    let mut out = Some(Vec::new());
    for (i, item) in items.iter().enumerate() {
        let item_at = format!("{at}[{i}]");
        let peer = ctx.ip(&item_at, item).and_then(|ip| {
            if peers.iter().any(|p| p.address == ip) {
                return Some(ip);
            }
            let msg = format_args!(
                "{ip} is not a configured peer (the peers: {})",
                known.join(", ")
            );
            ctx.at(&item_at, &item.span(), msg);
            None
        });
        match (peer, out.as_mut()) {
            (Some(ip), Some(list)) if !list.contains(&ip) => list.push(ip),
            (Some(_), Some(_)) => {}
            _ => out = None,
        }
    }
    let list = out?;
    if list.is_empty() {
        let msg = "an empty list announces the VIP to no peer; leave peers out for every peer";
        ctx.at(&at, &leaf.span(), msg);
        return None;
    }
    if let Some(ip) = address {
        let chosen: Vec<Peer> = peers
            .iter()
            .filter(|p| list.contains(&p.address))
            .cloned()
            .collect();
        if let Some(problem) = no_peer_carries(ip, &chosen) {
            ctx.at(&at, &leaf.span(), format_args!("of these peers, {problem}"));
            return None;
        }
    }
    Some(list)
}

/// `on_partial`, `last_resort` and `degrade_*`. A policy that degrades needs something that
/// makes the degraded route less preferred; `degrade_*` without such a policy does nothing,
/// and `on_partial` needs backends to be partial about.
fn failure_policy(
    ctx: &mut Ctx,
    here: &str,
    table: &Spanned<RawVip>,
    services: Option<&[Service]>,
) -> Option<FailurePolicy> {
    let v = table.get_ref();
    let key = |k: &str| path(here, k);
    let on_partial = match &v.on_partial {
        Some(leaf) => ctx
            .choice(&key("on_partial"), leaf, "policy", &["withdraw", "degrade"])
            .map(|c| c == "degrade"),
        None => Some(false),
    };
    let last_resort = optional(v.last_resort.as_ref(), |leaf| {
        ctx.boolean(&key("last_resort"), leaf)
    })
    .map(|b| b.unwrap_or(false));
    let degrade_med = optional(v.degrade_med.as_ref(), |leaf| {
        med(ctx, &key("degrade_med"), leaf)
    });
    let degrade_prepend = match &v.degrade_prepend {
        Some(leaf) => prepend(ctx, &key("degrade_prepend"), leaf),
        None => Some(0),
    };
    let communities = list(
        ctx,
        &key("degrade_communities"),
        v.degrade_communities.as_ref(),
        community,
    );
    let policy = FailurePolicy {
        degrade_on_partial: on_partial?,
        last_resort: last_resort?,
        degrade: Degrade {
            med: degrade_med?,
            prepend: degrade_prepend?,
            communities: communities?,
        },
    };
    let degrades = policy.degrade_on_partial || policy.last_resort;
    if degrades && policy.degrade.is_empty() {
        let (at, span) = match (&v.on_partial, &v.last_resort) {
            (Some(leaf), _) if policy.degrade_on_partial => (key("on_partial"), leaf.span()),
            (_, Some(leaf)) => (key("last_resort"), leaf.span()),
            _ => (here.to_string(), table.span()),
        };
        let msg = "a degraded route needs degrade_med, degrade_prepend or degrade_communities, \
                   or routers cannot tell it from a healthy node's";
        ctx.at(&at, &span, msg);
        return None;
    }
    if !degrades && !policy.degrade.is_empty() {
        let given = [
            ("degrade_med", &v.degrade_med),
            ("degrade_prepend", &v.degrade_prepend),
            ("degrade_communities", &v.degrade_communities),
        ];
        if let Some((name, Some(leaf))) = given.into_iter().find(|(_, leaf)| leaf.is_some()) {
            let msg = "has no effect without on_partial = \"degrade\" or last_resort = true";
            ctx.at(&key(name), &leaf.span(), msg);
            return None;
        }
    }
    if policy.degrade_on_partial && services.is_some_and(|s| s.is_empty()) {
        if let Some(leaf) = &v.on_partial {
            let msg = "on_partial is about backends: this VIP has no [[vip.service]]";
            ctx.at(&key("on_partial"), &leaf.span(), msg);
            return None;
        }
    }
    Some(policy)
}

/// Whether one route to the VIP, with its path attributes, fits in a BGP message (4096 bytes,
/// RFC 4271 §4.1) on every kind of session, also while drained (GRACEFUL_SHUTDOWN added). The
/// speaker would not announce it otherwise. Reported at `communities` or `large_communities`,
/// what makes it long.
fn attributes_fit(ctx: &mut Ctx, here: &str, table: &Spanned<RawVip>, v: &Vip, asn: u32) -> bool {
    let mut attrs = RouteAttrs::from(v);
    if v.failure.degrade_on_partial || v.failure.last_resort {
        attrs.degrade(&v.failure.degrade);
    }
    attrs.add_graceful_shutdown();
    let len = adj_rib_out::longest_single_route_update(&attrs, asn, v.address);
    if len <= MAX_MESSAGE_LEN {
        return true;
    }
    let raw = table.get_ref();
    let (n, l) = (v.communities.len(), v.large_communities.len());
    let large =
        (raw.large_communities.as_ref()).filter(|_| l * 12 > n * 4 || raw.communities.is_none());
    let (at, span) = match (large, &raw.communities) {
        (Some(leaf), _) => (path(here, "large_communities"), leaf.span()),
        (None, Some(leaf)) => (path(here, "communities"), leaf.span()),
        (None, None) => (here.to_string(), table.span()),
    };
    let msg = format_args!(
        "VIP {}: one route with {n} communities and {l} large communities (and GRACEFUL_SHUTDOWN \
         while drained) needs an UPDATE of {len} bytes, more than the {MAX_MESSAGE_LEN}-byte BGP \
         message limit; use fewer",
        v.address
    );
    ctx.at(&at, &span, msg);
    false
}

/// A VIP address: unicast, and carried by at least one peer (its family, with a next hop).
fn vip_address(ctx: &mut Ctx, here: &str, leaf: &Leaf, peers: &[Peer]) -> Option<IpAddr> {
    let ip = ctx.ip(here, leaf)?;
    if ip.is_unspecified() || ip.is_multicast() {
        let msg = format_args!("{ip} is not a unicast address and cannot be announced");
        ctx.at(here, &leaf.span(), msg);
        return None;
    }
    if let Some(problem) = no_peer_carries(ip, peers) {
        ctx.at(here, &leaf.span(), problem);
        return None;
    }
    Some(ip)
}

/// A Linux interface name (`dev_valid_name()`): 1..=15 bytes, no '/', ':' or whitespace.
pub(super) fn interface(ctx: &mut Ctx, here: &str, leaf: &Leaf) -> Option<String> {
    let name = ctx.string(here, leaf)?;
    match valid_interface_name(name) {
        Ok(()) => Some(name.to_string()),
        Err(problem) => {
            ctx.at(here, &leaf.span(), problem);
            None
        }
    }
}

/// An optional array of strings, each read by `parse` (`None` when it does not fit).
fn list<T>(
    ctx: &mut Ctx,
    here: &str,
    leaf: Option<&Leaf>,
    parse: fn(&str) -> Result<T, &'static str>,
) -> Option<Vec<T>> {
    let Some(leaf) = leaf else {
        return Some(Vec::new());
    };
    let items = ctx.array(here, leaf, "strings")?;
    let mut out = Some(Vec::new());
    for (i, item) in items.iter().enumerate() {
        let here = format!("{here}[{i}]");
        let value = ctx.string(&here, item).and_then(|s| match parse(s) {
            Ok(v) => Some(v),
            Err(expected) => {
                ctx.at(&here, &item.span(), format_args!("{s:?} is not {expected}"));
                None
            }
        });
        match (value, out.as_mut()) {
            (Some(v), Some(list)) => list.push(v),
            _ => out = None,
        }
    }
    out
}

/// `"65000:100"` (RFC 1997).
fn community(s: &str) -> Result<Community, &'static str> {
    const WHAT: &str = "a community \"A:B\" with A and B in 0..=65535";
    match s.split_once(':') {
        Some((a, b)) => match (a.parse::<u16>(), b.parse::<u16>()) {
            (Ok(a), Ok(b)) => Ok(Community(u32::from(a) << 16 | u32::from(b))),
            _ => Err(WHAT),
        },
        None => Err(WHAT),
    }
}

/// `"65000:1:2"` (RFC 8092).
fn large_community(s: &str) -> Result<LargeCommunity, &'static str> {
    const WHAT: &str = "a large community \"A:B:C\" with each part in 0..=4294967295";
    let parts: Vec<_> = s.split(':').map(str::parse::<u32>).collect();
    match parts[..] {
        [Ok(global), Ok(local1), Ok(local2)] => Ok(LargeCommunity {
            global,
            local1,
            local2,
        }),
        _ => Err(WHAT),
    }
}

fn service(
    ctx: &mut Ctx,
    here: &str,
    table: &Spanned<RawService>,
    vip: Option<IpAddr>,
    names: &mut FirstSeen<String>,
) -> Option<Service> {
    let (s, span) = (table.get_ref(), table.span());
    let key = |k: &str| path(here, k);
    let name = required(ctx, here, &span, "name", s.name.as_ref()).and_then(|leaf| {
        let name = ctx.nonempty_string(&key("name"), leaf)?;
        if let Some(first) = names.earlier(name.to_string(), ctx.line(&leaf.span())) {
            let msg =
                format_args!("duplicate service name {name:?} (first defined at line {first})");
            ctx.at(&key("name"), &leaf.span(), msg);
            return None;
        }
        Some(name.to_string())
    });
    let port = required(ctx, here, &span, "port", s.port.as_ref())
        .and_then(|leaf| ctx.port(&key("port"), leaf));
    let protocol = match &s.protocol {
        Some(leaf) => match ctx.choice(&key("protocol"), leaf, "protocol", &["tcp", "udp", "sctp"])
        {
            Some("udp") => Some(Protocol::Udp),
            Some("sctp") => Some(Protocol::Sctp),
            Some(_) => Some(Protocol::Tcp),
            None => None,
        },
        None => Some(Protocol::Tcp),
    };
    let scheduler = match &s.scheduler {
        Some(leaf) => ctx
            .choice(&key("scheduler"), leaf, "IPVS scheduler", SCHEDULERS)
            .map(str::to_string),
        None => Some(DEFAULT_SCHEDULER.to_string()),
    };
    let forwarding = match &s.forwarding {
        Some(leaf) => {
            let choices = ["masq", "route", "tunnel"];
            match ctx.choice(&key("forwarding"), leaf, "forwarding method", &choices) {
                Some("route") => Some(Forwarding::Route),
                Some("tunnel") => Some(Forwarding::Tunnel),
                Some(_) => Some(Forwarding::Masq),
                None => None,
            }
        }
        None => Some(Forwarding::Masq),
    };
    let persistence = match &s.persistence {
        Some(leaf) => persistence(ctx, &key("persistence"), leaf),
        None => Some(0),
    };
    let unhealthy_weight = match &s.unhealthy_weight {
        Some(leaf) => ctx
            .u16(&key("unhealthy_weight"), leaf, 0, "a weight 0..=65535")
            .map(u32::from),
        None => Some(0),
    };
    let slow_start = match &s.slow_start {
        Some(leaf) => ctx.duration(&key("slow_start"), leaf, false, MAX_SLOW_START),
        None => Some(Duration::ZERO),
    };
    // The service check is resolved once on its own (so its errors are reported even when
    // every backend overrides it), then again under each backend that overrides some keys.
    let layer = s.check.as_ref().map(|raw| Layer {
        path: key("check"),
        raw,
    });
    let layers: Vec<&Layer> = layer.iter().collect();
    let service_check = check::resolve(ctx, &layers, Role::Backend);
    let ctx_backend = BackendCtx {
        service_port: port,
        forwarding,
        vip,
        layer: layer.as_ref(),
        service_check: service_check.as_ref(),
    };
    let raw_backends = s.backend.as_deref().unwrap_or_default();
    let backends = backends(ctx, here, raw_backends, &ctx_backend);
    if raw_backends.is_empty() {
        let msg = "a service needs at least one [[vip.service.backend]]";
        ctx.at(here, &span, msg);
    }
    let min_healthy = match &s.min_healthy {
        Some(leaf) => {
            // With no backends at all, the error above says what to fix; any count of at least
            // one would be just as wrong, so only the lower bound is checked then.
            let n = raw_backends.len() as i64;
            let (max, what) = match n {
                0 => (
                    i64::from(u32::MAX),
                    "a number of backends, at least 1".to_string(),
                ),
                _ => (
                    n,
                    format!("a number of backends 1..={n} (this service has {n})"),
                ),
            };
            ctx.int(&key("min_healthy"), leaf, 1..=max, &what)
                .map(|n| n as u32)
        }
        None => Some(1),
    };
    let flags = scheduler_flags(ctx, here, s, scheduler.as_deref(), protocol);
    let rehash_safe = rehash_safe(ctx, here, s, scheduler.as_deref(), forwarding);
    if let (Some(leaf), Some("mh")) = (&s.slow_start, scheduler.as_deref()) {
        if slow_start.is_some_and(|d| !d.is_zero()) {
            let msg = "slow_start cannot be used with scheduler = \"mh\": every node must build \
                       the same lookup table from the same weights, and a ramp that nodes start at \
                       different times gives them different tables until it ends, so a flow moved \
                       between nodes would meet another backend";
            ctx.at(&key("slow_start"), &leaf.span(), msg);
        }
    }
    Some(Service {
        rehash_safe: rehash_safe?,
        flags: flags?,
        name: name?,
        port: port?,
        protocol: protocol?,
        scheduler: scheduler?,
        forwarding: forwarding?,
        persistence: persistence?,
        min_healthy: min_healthy?,
        unhealthy_weight: unhealthy_weight?,
        slow_start: slow_start?,
        backends: backends.filter(|b| !b.is_empty())?,
    })
}

/// `mh_port`, `mh_fallback` (scheduler `mh` only), `sh_port`, `sh_fallback` (`sh` only) and
/// `ops` (UDP only): the kernel reads the scheduler bits by scheduler, so a flag meant for
/// another one would silently mean something else.
fn scheduler_flags(
    ctx: &mut Ctx,
    here: &str,
    s: &RawService,
    scheduler: Option<&str>,
    protocol: Option<Protocol>,
) -> Option<SchedulerFlags> {
    let mut flags = SchedulerFlags::default();
    let mut ok = true;
    let keys: [(&str, &Option<Leaf>, &str); 4] = [
        ("mh_port", &s.mh_port, "mh"),
        ("mh_fallback", &s.mh_fallback, "mh"),
        ("sh_port", &s.sh_port, "sh"),
        ("sh_fallback", &s.sh_fallback, "sh"),
    ];
    for (key, leaf, needs) in keys {
        let Some(leaf) = leaf else { continue };
        let at = path(here, key);
        let Some(on) = ctx.boolean(&at, leaf) else {
            ok = false;
            continue;
        };
        if scheduler.is_some_and(|sched| sched != needs) {
            let msg = format_args!(
                "only for scheduler = \"{needs}\" (this service uses {:?})",
                scheduler.unwrap_or_default()
            );
            ctx.at(&at, &leaf.span(), msg);
            ok = false;
            continue;
        }
        if key.ends_with("_port") {
            flags.port |= on;
        } else {
            flags.fallback |= on;
        }
    }
    if let Some(leaf) = &s.ops {
        let at = path(here, "ops");
        match ctx.boolean(&at, leaf) {
            Some(true) if protocol.is_some_and(|p| p != Protocol::Udp) => {
                let msg = "one-packet scheduling is for UDP services (protocol = \"udp\")";
                ctx.at(&at, &leaf.span(), msg);
                ok = false;
            }
            Some(on) => flags.one_packet = on,
            None => ok = false,
        }
    }
    ok.then_some(flags)
}

/// `rehash_safe = true` needs `mh` (every node picks the same backend for a flow) and `route` or
/// `tunnel` forwarding (the backend answers the client directly, so no node holds NAT state
/// that the flow's next packets would have to come back through).
fn rehash_safe(
    ctx: &mut Ctx,
    here: &str,
    s: &RawService,
    scheduler: Option<&str>,
    forwarding: Option<Forwarding>,
) -> Option<bool> {
    let Some(leaf) = &s.rehash_safe else {
        return Some(false);
    };
    let at = path(here, "rehash_safe");
    let on = ctx.boolean(&at, leaf)?;
    if !on {
        return Some(false);
    }
    let mut ok = true;
    if let Some(sched) = scheduler.filter(|s| *s != "mh") {
        let msg = format_args!(
            "rehash_safe needs scheduler = \"mh\" (this service uses {sched:?}): only Maglev \
             hashing makes every node pick the same backend for a flow"
        );
        ctx.at(&at, &leaf.span(), msg);
        ok = false;
    }
    if forwarding == Some(Forwarding::Masq) {
        let msg = "rehash_safe needs forwarding = \"route\" or \"tunnel\": with masq the replies \
                   go back through the node that did the NAT, and a flow the routers move to \
                   another node finds no NAT entry there";
        ctx.at(&at, &leaf.span(), msg);
        ok = false;
    }
    ok.then_some(true)
}

/// IPVS persistence timeout: whole seconds, `300` or `"5m"`.
fn persistence(ctx: &mut Ctx, here: &str, leaf: &Leaf) -> Option<u32> {
    // Bounded by the 32-bit check below.
    let d = ctx.duration(here, leaf, true, Duration::MAX)?;
    match u32::try_from(d.as_secs()) {
        Ok(secs) if d.subsec_nanos() == 0 => Some(secs),
        _ => {
            let msg = "expected whole seconds that fit in 32 bits (IPVS persistence timeout)";
            ctx.at(here, &leaf.span(), msg);
            None
        }
    }
}

/// What each backend of one service needs to know about the service.
struct BackendCtx<'r> {
    service_port: Option<u16>,
    forwarding: Option<Forwarding>,
    vip: Option<IpAddr>,
    layer: Option<&'r Layer<'r>>,
    service_check: Option<&'r Check>,
}

fn backends(
    ctx: &mut Ctx,
    here: &str,
    raw: &[Spanned<RawBackend>],
    svc: &BackendCtx,
) -> Option<Vec<Backend>> {
    let mut seen = FirstSeen::new();
    let mut out = Some(Vec::new());
    for (i, table) in raw.iter().enumerate() {
        let here = format!("{here}.backend[{i}]");
        let mut backend = backend(ctx, &here, table, svc);
        let b = table.get_ref();
        let port = match b.port.as_ref().map(|p| p.get_ref()) {
            Some(Value::Integer(p)) => u16::try_from(*p).ok(),
            Some(_) => None,
            None => svc.service_port,
        };
        if let (Some((ip, leaf)), Some(port)) = (peek_ip(b.address.as_ref()), port) {
            if let Some(first) = seen.earlier((ip, port), ctx.line(&leaf.span())) {
                let target = SocketAddr::new(ip, port);
                let msg =
                    format_args!("duplicate backend {target} (first defined at line {first})");
                ctx.at(&path(&here, "address"), &leaf.span(), msg);
                backend = None;
            }
        }
        match (backend, out.as_mut()) {
            (Some(b), Some(list)) => list.push(b),
            _ => out = None,
        }
    }
    out
}

fn backend(
    ctx: &mut Ctx,
    here: &str,
    table: &Spanned<RawBackend>,
    svc: &BackendCtx,
) -> Option<Backend> {
    let (b, span) = (table.get_ref(), table.span());
    let key = |k: &str| path(here, k);
    let address = required(ctx, here, &span, "address", b.address.as_ref()).and_then(|leaf| {
        let ip = ctx.ip(&key("address"), leaf)?;
        // IPVS mixes address families only for tunnelled real servers.
        if let Some(vip) = svc.vip.filter(|v| v.is_ipv4() != ip.is_ipv4()) {
            if svc.forwarding != Some(Forwarding::Tunnel) {
                let msg = format_args!(
                    "backend {ip} and VIP {vip} are of different address families, which IPVS \
                     only supports with forwarding = \"tunnel\""
                );
                ctx.at(&key("address"), &leaf.span(), msg);
                return None;
            }
        }
        Some(ip)
    });
    let port = match &b.port {
        None => svc.service_port,
        Some(leaf) => ctx.port(&key("port"), leaf).and_then(|port| {
            // Only NAT rewrites the destination port; route and tunnel deliver to the VIP port.
            let (Some(fwd), Some(service_port)) = (svc.forwarding, svc.service_port) else {
                return Some(port);
            };
            if fwd != Forwarding::Masq && port != service_port {
                let method = if fwd == Forwarding::Route {
                    "route"
                } else {
                    "tunnel"
                };
                let msg = format_args!(
                    "{port} differs from the service port {service_port}, but forwarding \
                     {method:?} cannot change ports (only \"masq\" can)"
                );
                ctx.at(&key("port"), &leaf.span(), msg);
                return None;
            }
            Some(port)
        }),
    };
    let weight = match &b.weight {
        Some(leaf) => ctx
            .u16(&key("weight"), leaf, 0, "a weight 0..=65535")
            .map(u32::from),
        None => Some(DEFAULT_WEIGHT),
    };
    let check = match &b.check {
        None => svc.service_check.cloned(),
        Some(raw) => {
            let own = Layer {
                path: key("check"),
                raw,
            };
            let layers: Vec<&Layer> = svc.layer.into_iter().chain([&own]).collect();
            check::resolve(ctx, &layers, Role::Backend)
        }
    };
    Some(Backend {
        address: address?,
        port: port?,
        weight: weight?,
        check: check?,
    })
}
