//! Health checks: `[vip.check]`, `[vip.service.check]` and a backend's `check = { … }`.
//!
//! A backend's `check` is a partial override: each key it sets replaces the service check's key
//! of the same name, and every other key (type, path, expect, interval, …) is inherited. So a
//! check is resolved from a stack of layers, the most specific last. A value inherited from the
//! service check reports its errors at the service check's position and path; since the service
//! check is also resolved on its own, such errors come out twice and `Ctx` drops the copy.

use std::net::IpAddr;
use std::time::Duration;

use toml::Spanned;

mod dns;
mod http;
mod udp;

use super::duration;
use super::model::*;
use super::raw::{Leaf, RawCheck};
use super::validate::{path, Ctx};

/// The check types, as written in `type = "…"`.
const CHECK_TYPES: &[&str] = &["tcp", "http", "https", "dns", "udp", "grpc", "exec", "none"];

/// One table of check keys and where it sits in the file.
pub struct Layer<'r> {
    pub path: String,
    pub raw: &'r Spanned<RawCheck>,
}

/// Which table is being resolved: decides what `port` means and whether `address` is allowed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `[vip.check]`: `port` (required) and `address` belong to [`VipCheck`].
    Vip,
    /// A service check or a backend's override: `port` optionally redirects the check.
    Backend,
}

/// A value found in one of the layers.
pub(super) struct Src<'r> {
    pub leaf: &'r Leaf,
    pub path: String,
    /// Set in the most specific layer, i.e. written in the table being resolved.
    pub own: bool,
}

/// The raw value of `key` in one table. Every key of [`RawCheck`] is named here, and only here.
fn field<'r>(raw: &'r RawCheck, key: &str) -> Option<&'r Leaf> {
    let leaf = match key {
        "type" => &raw.kind,
        "port" => &raw.port,
        "address" => &raw.address,
        "path" => &raw.path,
        "expect" => &raw.expect,
        "host" => &raw.host,
        "tls_verify" => &raw.tls_verify,
        "command" => &raw.command,
        "method" => &raw.method,
        "headers" => &raw.headers,
        "body_contains" => &raw.body_contains,
        "body_regex" => &raw.body_regex,
        "tls_server_name" => &raw.tls_server_name,
        "query" => &raw.query,
        "qtype" => &raw.qtype,
        "expect_rcode" => &raw.expect_rcode,
        "tcp" => &raw.tcp,
        "require_answer" => &raw.require_answer,
        "send" => &raw.send,
        "service" => &raw.service,
        "interval" => &raw.interval,
        "timeout" => &raw.timeout,
        "rise" => &raw.rise,
        "fall" => &raw.fall,
        _ => unreachable!("check key {key:?} is not in RawCheck"),
    };
    leaf.as_ref()
}

/// The keys that belong to some check types only, and those types. Any other key (`type`,
/// `port`, `address`, the timing) is shared by all.
const TYPED_KEYS: &[(&str, &[&str])] = &[
    ("path", &["http", "https"]),
    ("expect", &["http", "https", "udp"]),
    ("host", &["http", "https"]),
    ("method", &["http", "https"]),
    ("headers", &["http", "https"]),
    ("body_contains", &["http", "https"]),
    ("body_regex", &["http", "https"]),
    ("tls_verify", &["https"]),
    ("tls_server_name", &["https"]),
    ("command", &["exec"]),
    ("query", &["dns"]),
    ("qtype", &["dns"]),
    ("expect_rcode", &["dns"]),
    ("tcp", &["dns"]),
    ("require_answer", &["dns"]),
    ("send", &["udp"]),
    ("service", &["grpc"]),
];

/// The stack of layers a check is resolved from; gives the most specific value of each key.
#[derive(Clone, Copy)]
pub(super) struct Keys<'a, 'r> {
    layers: &'a [&'a Layer<'r>],
}

impl<'r> Keys<'_, 'r> {
    /// The most specific layer that sets `key`.
    pub fn get(&self, key: &str) -> Option<Src<'r>> {
        let last = self.layers.len().checked_sub(1)?;
        self.layers.iter().enumerate().rev().find_map(|(i, layer)| {
            field(layer.raw.get_ref(), key).map(|leaf| Src {
                leaf,
                path: path(&layer.path, key),
                own: i == last,
            })
        })
    }
}

/// `[vip.check]`: the check plus the VIP-level `port` and `address` (default: the VIP).
pub fn vip_check(ctx: &mut Ctx, layer: &Layer, vip: Option<IpAddr>) -> Option<VipCheck> {
    let raw = layer.raw.get_ref();
    let port = match &raw.port {
        Some(leaf) => ctx.port(&path(&layer.path, "port"), leaf),
        None => {
            let msg = "port is required (the port to check on the VIP)";
            ctx.at(&layer.path, &layer.raw.span(), msg);
            None
        }
    };
    let address = match &raw.address {
        Some(leaf) => ctx.ip(&path(&layer.path, "address"), leaf),
        None => vip,
    };
    let check = resolve(ctx, &[layer], Role::Vip);
    Some(VipCheck {
        address: address?,
        port: port?,
        check: check?,
    })
}

/// Resolves a stack of check layers (service check, then a backend's override) into a
/// [`Check`]; with no layers at all, the default: a TCP connect every 2s.
pub fn resolve(ctx: &mut Ctx, layers: &[&Layer], role: Role) -> Option<Check> {
    let keys = Keys { layers };
    let kind_src = keys.get("type");
    let kind = match &kind_src {
        Some(src) => ctx.choice(&src.path, src.leaf, "check type", CHECK_TYPES),
        None => Some("tcp"),
    };
    let port = match (role, keys.get("port")) {
        (Role::Vip, _) | (_, None) => Some(None), // the VIP check's port belongs to VipCheck
        (Role::Backend, Some(src)) => ctx.port(&src.path, src.leaf).map(Some),
    };
    if role == Role::Backend {
        if let Some(src) = keys.get("address").filter(|s| s.own) {
            let msg = "only [vip.check] takes an address; a service or backend check always \
                       targets the backend";
            ctx.at(&src.path, &src.leaf.span(), msg);
        }
    }
    let (interval, timeout) = timing(ctx, keys);
    let rise = count(ctx, keys, "rise", DEFAULT_RISE);
    let fall = count(ctx, keys, "fall", DEFAULT_FALL);
    let kind = kind.and_then(|k| check_kind(ctx, keys, k, kind_src.as_ref()));
    Some(Check {
        kind: kind?,
        port: port?,
        interval: interval?,
        timeout: timeout?,
        rise: rise?,
        fall: fall?,
    })
}

/// `interval` and `timeout`, each positive, the timeout shorter than the interval (a check
/// still running when the next one is due would pile up).
fn timing(ctx: &mut Ctx, keys: Keys) -> (Option<Duration>, Option<Duration>) {
    let mut positive = |src: &Option<Src>, default: Duration| match src {
        None => Some(default),
        Some(src) => {
            let d = ctx.duration(&src.path, src.leaf, false, MAX_CHECK_INTERVAL)?;
            if d.is_zero() {
                ctx.at(&src.path, &src.leaf.span(), "must be longer than 0s");
                return None;
            }
            Some(d)
        }
    };
    let interval_src = keys.get("interval");
    let timeout_src = keys.get("timeout");
    let interval = positive(&interval_src, DEFAULT_CHECK_INTERVAL);
    let timeout = positive(&timeout_src, DEFAULT_CHECK_TIMEOUT);
    if let (Some(i), Some(t)) = (interval, timeout) {
        if t >= i {
            let (i_text, t_text) = (duration::format(i), duration::format(t));
            // Point at the key written in the table being resolved when there is one, so a
            // backend override that breaks the rule is blamed, not the service check.
            let own = |s: &Option<Src>| s.as_ref().is_some_and(|s| s.own);
            let blame_interval =
                timeout_src.is_none() || (own(&interval_src) && !own(&timeout_src));
            let (src, msg) = match (blame_interval, &interval_src, &timeout_src) {
                (true, Some(src), _) => (
                    src,
                    format!("{i_text} must be longer than the timeout ({t_text})"),
                ),
                (_, _, Some(src)) => (
                    src,
                    format!("{t_text} must be shorter than the interval ({i_text})"),
                ),
                // Both defaults (1s < 2s): cannot happen.
                _ => return (interval, timeout),
            };
            ctx.at(&src.path, &src.leaf.span(), msg);
            return (None, None);
        }
    }
    (interval, timeout)
}

/// `rise` or `fall`: consecutive results needed to change state, at least 1.
fn count(ctx: &mut Ctx, keys: Keys, key: &str, default: u32) -> Option<u32> {
    match keys.get(key) {
        None => Some(default),
        Some(src) => ctx.u32(
            &src.path,
            src.leaf,
            1,
            "a count of consecutive checks, at least 1",
        ),
    }
}

/// The type-specific keys. A key the type does not use is an error when it is written in the
/// table being resolved; inherited ones are simply not used (a backend may turn the service's
/// http check into a tcp one without unsetting `path`).
fn check_kind(ctx: &mut Ctx, keys: Keys, kind: &str, kind_src: Option<&Src>) -> Option<CheckKind> {
    for (key, used_by) in TYPED_KEYS {
        if used_by.contains(&kind) {
            continue;
        }
        if let Some(src) = keys.get(key).filter(|s| s.own) {
            let used_by = match used_by {
                [one] => one.to_string(),
                [init @ .., last] => format!("{} and {last}", init.join(", ")),
                [] => unreachable!("a typed key is used by some type"),
            };
            let msg = format_args!("only used by {used_by} checks, but type is {kind:?}");
            ctx.at(&src.path, &src.leaf.span(), msg);
        }
    }
    match kind {
        "tcp" => Some(CheckKind::Tcp),
        "none" => Some(CheckKind::None),
        "exec" => {
            command(ctx, keys.get("command"), kind_src).map(|command| CheckKind::Exec { command })
        }
        "http" => http::check(ctx, keys, false).map(CheckKind::Http),
        "https" => http::check(ctx, keys, true).map(CheckKind::Https),
        "dns" => dns::check(ctx, keys, kind_src).map(CheckKind::Dns),
        "udp" => udp::check(ctx, keys, kind_src).map(CheckKind::Udp),
        "grpc" => grpc(ctx, keys).map(CheckKind::Grpc),
        _ => unreachable!("check type {kind:?} is not in CHECK_TYPES"),
    }
}

/// `service = "name"`, the gRPC service asked about; `""` (the default) is the whole server.
fn grpc(ctx: &mut Ctx, keys: Keys) -> Option<GrpcCheck> {
    let service = match keys.get("service") {
        None => String::new(),
        Some(src) => ctx.string(&src.path, src.leaf)?.to_string(),
    };
    Some(GrpcCheck { service })
}

/// A required key of a check type is missing: say so at `type`, which is always written for
/// such a type (the default type is tcp).
pub(super) fn missing(ctx: &mut Ctx, kind_src: Option<&Src>, what: &str) {
    if let Some(kind_src) = kind_src {
        ctx.at(&kind_src.path, &kind_src.leaf.span(), what);
    }
}

/// `command = ["/path/prog", "arg", …]`: run without a shell, so it must be an argv.
fn command(ctx: &mut Ctx, src: Option<Src>, kind_src: Option<&Src>) -> Option<Vec<String>> {
    const WHAT: &str = "an exec check needs command = [\"/path/to/program\", \"arg\", …]";
    let Some(src) = src else {
        missing(ctx, kind_src, WHAT);
        return None;
    };
    let items = ctx.array(&src.path, src.leaf, "strings")?;
    if items.is_empty() {
        ctx.at(
            &src.path,
            &src.leaf.span(),
            format_args!("is empty; {WHAT}"),
        );
        return None;
    }
    let mut argv = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let here = format!("{}[{i}]", src.path);
        let arg = if i == 0 {
            ctx.nonempty_string(&here, item)
        } else {
            ctx.string(&here, item)
        };
        argv.push(arg?.to_string());
    }
    Some(argv)
}
