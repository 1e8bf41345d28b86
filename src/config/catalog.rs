//! `[node] labels` and `[catalog]`: where the fleet catalog is and what this node carries.
//! The catalog's documents themselves are validated as `[[vip]]` tables of this file
//! (`crate::catalog::model`), by the same code as the rest of it.

use std::path::{Component, PathBuf};

use toml::Spanned;

use super::model::*;
use super::raw::{Leaf, RawCatalog};
use super::resolve::required;
use super::validate::{Ctx, FirstSeen};

/// `[node] labels = ["fra1", "edge"]`: non-empty strings without whitespace, each once.
pub fn labels(ctx: &mut Ctx, leaf: Option<&Leaf>) -> Option<Vec<String>> {
    let Some(leaf) = leaf else {
        return Some(Vec::new());
    };
    let items = ctx.array("node.labels", leaf, "labels (strings)")?;
    let mut seen = FirstSeen::new();
    let mut labels = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let here = format!("node.labels[{i}]");
        let Some(label) = ctx.nonempty_string(&here, item) else {
            ok = false;
            continue;
        };
        if let Err(e) = valid_label(label) {
            ctx.at(&here, &item.span(), e);
            ok = false;
            continue;
        }
        if let Some(first) = seen.earlier(label.to_string(), ctx.line(&item.span())) {
            let msg = format_args!("duplicate label {label:?} (first given at line {first})");
            ctx.at(&here, &item.span(), msg);
            ok = false;
            continue;
        }
        labels.push(label.to_string());
    }
    ok.then_some(labels)
}

/// A label is a word: no whitespace, no control characters (they name nodes in documents
/// that operators write by hand).
pub fn valid_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("a label must not be empty".into());
    }
    if label.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "label {label:?} contains whitespace; a label is one word"
        ));
    }
    Ok(())
}

/// `[catalog]`; `Some(None)` when the file has none.
pub fn catalog(ctx: &mut Ctx, raw: Option<&Spanned<RawCatalog>>) -> Option<Option<Catalog>> {
    let Some(table) = raw else {
        return Some(None);
    };
    let (c, span) = (table.get_ref(), table.span());
    let etcd = required(ctx, "catalog", &span, "etcd", c.etcd.as_ref())
        .and_then(|leaf| endpoints(ctx, leaf));
    let prefix = match &c.prefix {
        Some(leaf) => prefix(ctx, leaf),
        None => Some(DEFAULT_CATALOG_PREFIX.to_string()),
    };
    let cache = match &c.cache {
        Some(leaf) => file_path(ctx, "catalog.cache", leaf).map(Some),
        None => Some(None),
    };
    let mut file = |key: &str, leaf: Option<&Leaf>| match leaf {
        Some(leaf) => file_path(ctx, &format!("catalog.{key}"), leaf).map(Some),
        None => Some(None),
    };
    let ca = file("ca", c.ca.as_ref());
    let cert = file("cert", c.cert.as_ref());
    let key = file("key", c.key.as_ref());
    let mut text = |key: &str, leaf: Option<&Leaf>| match leaf {
        Some(leaf) => ctx
            .nonempty_string(&format!("catalog.{key}"), leaf)
            .map(|s| Some(s.to_string())),
        None => Some(None),
    };
    let username = text("username", c.username.as_ref());
    let password = text("password", c.password.as_ref());
    let mut ok = true;
    for (a, b, leaf_a, leaf_b) in [
        ("cert", "key", &c.cert, &c.key),
        ("username", "password", &c.username, &c.password),
    ] {
        match (leaf_a, leaf_b) {
            (Some(leaf), None) => {
                ctx.at(
                    &format!("catalog.{a}"),
                    &leaf.span(),
                    format_args!("catalog.{b} is required with catalog.{a}"),
                );
                ok = false;
            }
            (None, Some(leaf)) => {
                ctx.at(
                    &format!("catalog.{b}"),
                    &leaf.span(),
                    format_args!("catalog.{a} is required with catalog.{b}"),
                );
                ok = false;
            }
            _ => {}
        }
    }
    let etcd = etcd?;
    let tls = etcd.iter().any(|e| e.starts_with("https://"));
    let plain = etcd.iter().any(|e| e.starts_with("http://"));
    if let Some(leaf) = &c.etcd {
        if tls && plain {
            ctx.at(
                "catalog.etcd",
                &leaf.span(),
                "mixes http:// and https:// endpoints; one cluster speaks one of them",
            );
            ok = false;
        }
    }
    for (key, leaf) in [("ca", &c.ca), ("cert", &c.cert)] {
        if let (Some(leaf), false) = (leaf, tls) {
            ctx.at(
                &format!("catalog.{key}"),
                &leaf.span(),
                "is only used with https:// endpoints",
            );
            ok = false;
        }
    }
    if tls && c.ca.is_none() {
        ctx.at(
            "catalog.etcd",
            &c.etcd.as_ref().map_or(span.clone(), |l| l.span()),
            "https:// endpoints need catalog.ca, the CA certificate (PEM) that signed etcd's",
        );
        ok = false;
    }
    let catalog = Catalog {
        etcd,
        prefix: prefix?,
        cache: cache?,
        ca: ca?,
        cert: cert?,
        key: key?,
        username: username?,
        password: password?,
    };
    ok.then_some(Some(catalog))
}

/// `etcd = ["http://10.0.9.1:2379", …]`: at least one `http(s)://host:port` URL.
fn endpoints(ctx: &mut Ctx, leaf: &Leaf) -> Option<Vec<String>> {
    let items = ctx.array("catalog.etcd", leaf, "endpoint URLs")?;
    if items.is_empty() {
        ctx.at(
            "catalog.etcd",
            &leaf.span(),
            "needs at least one endpoint, e.g. \"http://10.0.9.1:2379\"",
        );
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let here = format!("catalog.etcd[{i}]");
        let Some(s) = ctx.string(&here, item) else {
            ok = false;
            continue;
        };
        match endpoint(s) {
            Ok(()) => out.push(s.to_string()),
            Err(e) => {
                ctx.at(&here, &item.span(), e);
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// `http://host:port` or `https://host:port`, nothing after the port.
pub fn endpoint(s: &str) -> Result<(), String> {
    let expected = "expected an etcd endpoint URL such as \"http://10.0.9.1:2379\"";
    let Some(rest) = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
    else {
        return Err(format!("{s:?}: {expected}"));
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let Some((host, port)) = rest.rsplit_once(':') else {
        return Err(format!("{s:?} has no port; {expected}"));
    };
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    };
    if !host_ok {
        return Err(format!("{s:?}: bad host; {expected}"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("{s:?}: bad port; {expected}")),
    }
}

/// `prefix = "/anycastd"`: starts with `/`, does not end with one.
fn prefix(ctx: &mut Ctx, leaf: &Leaf) -> Option<String> {
    let s = ctx.nonempty_string("catalog.prefix", leaf)?;
    if !s.starts_with('/') || s.ends_with('/') || s.contains("//") {
        ctx.at(
            "catalog.prefix",
            &leaf.span(),
            format_args!(
                "{s:?}: expected a key prefix such as \"/anycastd\" (starting with /, no trailing /)"
            ),
        );
        return None;
    }
    Some(s.to_string())
}

/// A file path (not empty, not a directory such as `dir/`).
fn file_path(ctx: &mut Ctx, at: &str, leaf: &Leaf) -> Option<PathBuf> {
    let s = ctx.nonempty_string(at, leaf)?;
    let path = PathBuf::from(s);
    let names_a_file =
        !s.ends_with('/') && matches!(path.components().next_back(), Some(Component::Normal(_)));
    if !names_a_file {
        ctx.at(
            at,
            &leaf.span(),
            format_args!("{s:?} is a directory; expected the path of a file"),
        );
        return None;
    }
    Some(path)
}
