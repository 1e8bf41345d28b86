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

use super::duration;
use super::model::*;
use super::raw::{Leaf, RawCheck, Value};
use super::validate::{path, Ctx};

/// The check types, as written in `type = "…"`.
const CHECK_TYPES: &[&str] = &["tcp", "http", "https", "exec", "none"];

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
struct Src<'r> {
    leaf: &'r Leaf,
    path: String,
    /// Set in the most specific layer, i.e. written in the table being resolved.
    own: bool,
}

/// Finds the most specific layer that sets a key.
fn pick<'r>(
    layers: &[&Layer<'r>],
    key: &str,
    get: impl Fn(&'r RawCheck) -> Option<&'r Leaf>,
) -> Option<Src<'r>> {
    let last = layers.len().checked_sub(1)?;
    layers.iter().enumerate().rev().find_map(|(i, layer)| {
        get(layer.raw.get_ref()).map(|leaf| Src {
            leaf,
            path: path(&layer.path, key),
            own: i == last,
        })
    })
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
    let kind_src = pick(layers, "type", |r| r.kind.as_ref());
    let kind = match &kind_src {
        Some(src) => ctx.choice(&src.path, src.leaf, "check type", CHECK_TYPES),
        None => Some("tcp"),
    };
    let port = match (role, pick(layers, "port", |r| r.port.as_ref())) {
        (Role::Vip, _) | (_, None) => Some(None), // the VIP check's port belongs to VipCheck
        (Role::Backend, Some(src)) => ctx.port(&src.path, src.leaf).map(Some),
    };
    if role == Role::Backend {
        if let Some(src) = pick(layers, "address", |r| r.address.as_ref()).filter(|s| s.own) {
            let msg = "only [vip.check] takes an address; a service or backend check always \
                       targets the backend";
            ctx.at(&src.path, &src.leaf.span(), msg);
        }
    }
    let (interval, timeout) = timing(ctx, layers);
    let rise = count(ctx, layers, "rise", |r| r.rise.as_ref(), DEFAULT_RISE);
    let fall = count(ctx, layers, "fall", |r| r.fall.as_ref(), DEFAULT_FALL);
    let kind = kind.and_then(|k| check_kind(ctx, layers, k, kind_src.as_ref()));
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
fn timing(ctx: &mut Ctx, layers: &[&Layer]) -> (Option<Duration>, Option<Duration>) {
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
    let interval_src = pick(layers, "interval", |r| r.interval.as_ref());
    let timeout_src = pick(layers, "timeout", |r| r.timeout.as_ref());
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
fn count<'r>(
    ctx: &mut Ctx,
    layers: &[&Layer<'r>],
    key: &str,
    get: impl Fn(&'r RawCheck) -> Option<&'r Leaf>,
    default: u32,
) -> Option<u32> {
    match pick(layers, key, get) {
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
fn check_kind(
    ctx: &mut Ctx,
    layers: &[&Layer],
    kind: &str,
    kind_src: Option<&Src>,
) -> Option<CheckKind> {
    let path_src = pick(layers, "path", |r| r.path.as_ref());
    let expect_src = pick(layers, "expect", |r| r.expect.as_ref());
    let host_src = pick(layers, "host", |r| r.host.as_ref());
    let tls_src = pick(layers, "tls_verify", |r| r.tls_verify.as_ref());
    let command_src = pick(layers, "command", |r| r.command.as_ref());
    let http = kind == "http" || kind == "https";
    let mut unused = |src: &Option<Src>, used_by: &str| {
        if let Some(src) = src.as_ref().filter(|s| s.own) {
            let msg = format_args!("only used by {used_by} checks, but type is {kind:?}");
            ctx.at(&src.path, &src.leaf.span(), msg);
        }
    };
    if !http {
        unused(&path_src, "http and https");
        unused(&expect_src, "http and https");
        unused(&host_src, "http and https");
    }
    if kind != "https" {
        unused(&tls_src, "https");
    }
    if kind != "exec" {
        unused(&command_src, "exec");
    }
    match kind {
        "tcp" => Some(CheckKind::Tcp),
        "none" => Some(CheckKind::None),
        "exec" => command(ctx, command_src, kind_src).map(|command| CheckKind::Exec { command }),
        _ => {
            let path = match &path_src {
                None => Some("/".to_string()),
                Some(src) => ctx.string(&src.path, src.leaf).and_then(|p| {
                    if !p.starts_with('/') {
                        let msg = format_args!("{p:?} must start with '/'");
                        ctx.at(&src.path, &src.leaf.span(), msg);
                        return None;
                    }
                    Some(p.to_string())
                }),
            };
            let expect = match &expect_src {
                None => Some(StatusRange::SUCCESS),
                Some(src) => expect(ctx, src),
            };
            let host = match &host_src {
                None => Some(None),
                Some(src) => ctx
                    .nonempty_string(&src.path, src.leaf)
                    .map(|h| Some(h.to_string())),
            };
            let tls_verify = match &tls_src {
                Some(src) if kind == "https" => ctx.boolean(&src.path, src.leaf),
                _ => Some(false),
            };
            let check = HttpCheck {
                path: path?,
                expect: expect?,
                host: host?,
                tls_verify: tls_verify?,
            };
            Some(if kind == "http" {
                CheckKind::Http(check)
            } else {
                CheckKind::Https(check)
            })
        }
    }
}

/// `command = ["/path/prog", "arg", …]`: run without a shell, so it must be an argv.
fn command(ctx: &mut Ctx, src: Option<Src>, kind_src: Option<&Src>) -> Option<Vec<String>> {
    const WHAT: &str = "an exec check needs command = [\"/path/to/program\", \"arg\", …]";
    let Some(src) = src else {
        // `type = "exec"` is always written (the default type is tcp): point at it.
        if let Some(kind_src) = kind_src {
            ctx.at(&kind_src.path, &kind_src.leaf.span(), WHAT);
        }
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

/// `expect = 200` or `expect = "200-399"` (or `"204"`): acceptable HTTP status codes.
fn expect(ctx: &mut Ctx, src: &Src) -> Option<StatusRange> {
    const WHAT: &str = "an HTTP status 100..=599, or a range like \"200-399\"";
    let code = |s: &str| s.parse::<u16>().ok().filter(|c| (100..=599).contains(c));
    match src.leaf.get_ref() {
        Value::Integer(_) => {
            let c = ctx.int(&src.path, src.leaf, 100..=599, WHAT)? as u16;
            Some(StatusRange { lo: c, hi: c })
        }
        Value::String(s) => {
            let range = match s.split_once('-') {
                Some((lo, hi)) => code(lo).zip(code(hi)),
                None => code(s).map(|c| (c, c)),
            };
            match range {
                Some((lo, hi)) if lo <= hi => Some(StatusRange { lo, hi }),
                _ => {
                    ctx.at(
                        &src.path,
                        &src.leaf.span(),
                        format_args!("{s:?} is not {WHAT}"),
                    );
                    None
                }
            }
        }
        _ => {
            let found = src.leaf.get_ref().describe();
            let msg = format_args!("expected {WHAT}, found {found}");
            ctx.at(&src.path, &src.leaf.span(), msg);
            None
        }
    }
}
