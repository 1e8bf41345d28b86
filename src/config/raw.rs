//! The raw schema: what serde reads from the TOML text, before any validation.
//!
//! Every key is optional here and every leaf is kept as a spanned, untyped [`Value`], so
//! that a wrong type, a missing key or an out-of-range number becomes a validation error with a
//! path and a position (`validate.rs`), reported together with all the others, instead of
//! stopping serde at the first one. Tables are real structs with `deny_unknown_fields`, so a
//! misspelt key is still caught by serde, at its span.

use std::ops::Range;

use serde::Deserialize;
use toml::de::{DeTable, DeValue, Deserializer};
use toml::Spanned;

/// A leaf value with the byte span of its text.
pub type Leaf = Spanned<Value>;

/// Any TOML value, kept untyped until validation. Unlike [`toml::Value`], array elements keep
/// their own spans, so an error in the third community points at the third community.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Array(Vec<Leaf>),
    /// A table, with its keys and their spans (an HTTP check's `headers`); anywhere else only
    /// ever an error.
    Table(Vec<(Spanned<String>, Leaf)>),
    /// A date-time: no key takes one, so it is only ever an error.
    Datetime,
}

impl Value {
    /// Names the value for messages: `string "abc"`, `integer 3`, `an array`.
    pub fn describe(&self) -> String {
        match self {
            Value::String(s) => format!("string {s:?}"),
            Value::Integer(i) => format!("integer {i}"),
            Value::Float(f) => format!("float {f}"),
            Value::Boolean(b) => format!("boolean {b}"),
            Value::Array(_) => "an array".into(),
            Value::Table(_) => "a table".into(),
            Value::Datetime => "a date-time".into(),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> serde::de::Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any TOML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Boolean(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Integer(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Integer)
            .map_err(|_| E::custom("integer out of range"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Leaf>()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        loop {
            match map.next_key::<Spanned<String>>() {
                Ok(Some(key)) => entries.push((key, map.next_value()?)),
                Ok(None) => return Ok(Value::Table(entries)),
                // toml hands a date-time over as a map whose one key cannot carry a span: the
                // only map that fails here. Its value is skipped so reading goes on.
                Err(_) => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    return Ok(Value::Datetime);
                }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub node: Option<Spanned<RawNode>>,
    pub api: Option<Spanned<RawApi>>,
    pub bgp: Option<Spanned<RawBgp>>,
    pub vip: Option<Vec<Spanned<RawVip>>>,
    pub ipvs: Option<Spanned<RawIpvs>>,
    pub catalog: Option<Spanned<RawCatalog>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIpvs {
    pub sync: Option<Spanned<RawIpvsSync>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIpvsSync {
    pub interface: Option<Leaf>,
    pub syncid: Option<Leaf>,
    pub role: Option<Leaf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCatalog {
    pub etcd: Option<Leaf>,
    pub prefix: Option<Leaf>,
    pub cache: Option<Leaf>,
    pub ca: Option<Leaf>,
    pub cert: Option<Leaf>,
    pub key: Option<Leaf>,
    pub username: Option<Leaf>,
    pub password: Option<Leaf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    pub router_id: Option<Leaf>,
    pub asn: Option<Leaf>,
    pub state_file: Option<Leaf>,
    pub vip_bind: Option<Leaf>,
    pub labels: Option<Leaf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApi {
    pub listen: Option<Leaf>,
    pub token: Option<Leaf>,
    pub max_connections: Option<Leaf>,
    pub writable: Option<Leaf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBgp {
    pub hold_time: Option<Leaf>,
    pub connect_retry: Option<Leaf>,
    pub listen: Option<Leaf>,
    pub shutdown_delay: Option<Leaf>,
    pub peer: Option<Vec<Spanned<RawPeer>>>,
    pub bfd: Option<Leaf>,
    pub bfd_min_tx: Option<Leaf>,
    pub bfd_min_rx: Option<Leaf>,
    pub bfd_multiplier: Option<Leaf>,
    pub bfd_multihop: Option<Leaf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPeer {
    pub address: Option<Leaf>,
    pub asn: Option<Leaf>,
    pub port: Option<Leaf>,
    pub local_address: Option<Leaf>,
    pub next_hop: Option<Leaf>,
    pub next_hop6: Option<Leaf>,
    pub passive: Option<Leaf>,
    pub hold_time: Option<Leaf>,
    pub password: Option<Leaf>,
    pub ttl_security: Option<Leaf>,
    pub families: Option<Leaf>,
    pub extended_next_hop: Option<Leaf>,
    pub interface: Option<Leaf>,
    pub bfd: Option<Leaf>,
    pub bfd_min_tx: Option<Leaf>,
    pub bfd_min_rx: Option<Leaf>,
    pub bfd_multiplier: Option<Leaf>,
    pub bfd_multihop: Option<Leaf>,
    pub graceful_restart: Option<Leaf>,
    pub restart_time: Option<Leaf>,
    pub vips: Option<Leaf>,
}

/// Checks are boxed here and below: a `RawCheck` inline is ~25 leaves, which made every
/// `RawVip` ~2 KiB (134 MiB of raw VIPs at peak with 50,000 VIPs, most without a check).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVip {
    pub address: Option<Leaf>,
    pub interface: Option<Leaf>,
    pub bind: Option<Leaf>,
    pub communities: Option<Leaf>,
    pub large_communities: Option<Leaf>,
    pub med: Option<Leaf>,
    pub local_pref: Option<Leaf>,
    pub as_path_prepend: Option<Leaf>,
    pub announce: Option<Leaf>,
    pub check: Option<Box<Spanned<RawCheck>>>,
    pub service: Option<Vec<Spanned<RawService>>>,
    pub peers: Option<Leaf>,
    pub on_partial: Option<Leaf>,
    pub last_resort: Option<Leaf>,
    pub degrade_med: Option<Leaf>,
    pub degrade_prepend: Option<Leaf>,
    pub degrade_communities: Option<Leaf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub name: Option<Leaf>,
    pub port: Option<Leaf>,
    pub protocol: Option<Leaf>,
    pub scheduler: Option<Leaf>,
    pub forwarding: Option<Leaf>,
    pub persistence: Option<Leaf>,
    pub min_healthy: Option<Leaf>,
    pub unhealthy_weight: Option<Leaf>,
    pub slow_start: Option<Leaf>,
    pub check: Option<Box<Spanned<RawCheck>>>,
    pub backend: Option<Vec<Spanned<RawBackend>>>,
    pub mh_port: Option<Leaf>,
    pub mh_fallback: Option<Leaf>,
    pub sh_port: Option<Leaf>,
    pub sh_fallback: Option<Leaf>,
    pub ops: Option<Leaf>,
    pub rehash_safe: Option<Leaf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackend {
    pub address: Option<Leaf>,
    pub port: Option<Leaf>,
    pub weight: Option<Leaf>,
    pub check: Option<Box<Spanned<RawCheck>>>,
}

/// `[vip.check]`, `[vip.service.check]` and a backend's `check = { … }` share these keys.
/// `address` is only meaningful in `[vip.check]`, and most keys in one check type only;
/// `check.rs` says so (its `field` names every key here).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    #[serde(rename = "type")]
    pub kind: Option<Leaf>,
    pub port: Option<Leaf>,
    pub address: Option<Leaf>,
    pub path: Option<Leaf>,
    pub expect: Option<Leaf>,
    pub host: Option<Leaf>,
    pub tls_verify: Option<Leaf>,
    pub command: Option<Leaf>,
    pub method: Option<Leaf>,
    pub headers: Option<Leaf>,
    pub body_contains: Option<Leaf>,
    pub body_regex: Option<Leaf>,
    pub tls_server_name: Option<Leaf>,
    pub query: Option<Leaf>,
    pub qtype: Option<Leaf>,
    pub expect_rcode: Option<Leaf>,
    pub tcp: Option<Leaf>,
    pub require_answer: Option<Leaf>,
    pub send: Option<Leaf>,
    pub service: Option<Leaf>,
    pub interval: Option<Leaf>,
    pub timeout: Option<Leaf>,
    pub rise: Option<Leaf>,
    pub fall: Option<Leaf>,
}

/// An error found while reading the raw tree: message and the byte span it points at.
pub type ReadError = (String, Range<usize>);

/// At most this many unknown keys are collected before giving up (each costs one more pass).
const MAX_UNKNOWN_KEYS: usize = 100;

/// Reads the raw tree.
///
/// A TOML syntax error, or a serde error other than an unknown key (say, a number where a table
/// belongs), ends reading: it is returned alone, with no tree. Unknown keys do not: each one is
/// recorded with its path, removed from the parsed document, and deserialization is retried, so
/// that every misspelt key is reported together with the validation errors of the rest.
pub fn read(text: &str) -> (Option<RawConfig>, Vec<ReadError>) {
    // Deserialising consumes the parsed document rather than a copy of it (with 50,000 VIPs
    // a copy is 18 MiB at the peak of start-up). An unknown key, which is rare, costs a fresh
    // parse instead, with the unknown keys found so far removed again.
    let mut removed: Vec<Range<usize>> = Vec::new();
    let mut errors = Vec::new();
    loop {
        let doc = match document(text, &removed) {
            Ok(doc) => doc,
            Err(e) => return (None, vec![serde_error(&e, None)]),
        };
        let e = match RawConfig::deserialize(Deserializer::from(doc)) {
            Ok(raw) => return (Some(raw), errors),
            Err(e) => e,
        };
        let mut doc = document(text, &removed).expect("the text parsed a moment ago");
        let span = e.span().unwrap_or(0..0);
        let unknown = e.message().starts_with("unknown field");
        let path = if unknown && errors.len() < MAX_UNKNOWN_KEYS {
            remove_key(doc.get_mut(), &span, "")
        } else {
            None
        };
        match path {
            Some(path) => {
                let expected = e.message().split_once(", ").map_or("", |(_, x)| x);
                errors.push((format!("{path}: unknown key; {expected}"), span.clone()));
                removed.push(span);
            }
            None => {
                errors.push(serde_error(&e, Some(doc.get_ref())));
                return (None, errors);
            }
        }
    }
}

/// The parsed text with the keys at `removed` (spans of unknown keys) taken out.
fn document<'a>(
    text: &'a str,
    removed: &[Range<usize>],
) -> Result<Spanned<DeTable<'a>>, toml::de::Error> {
    let mut doc = DeTable::parse(text)?;
    for span in removed {
        remove_key(doc.get_mut(), span, "");
    }
    Ok(doc)
}

/// A serde error in operator terms: prefixed with the path of the value it is about when that
/// can be found, and with serde's names ("map", "sequence", "struct RawVip") turned into TOML's.
fn serde_error(e: &toml::de::Error, doc: Option<&DeTable<'_>>) -> ReadError {
    let span = e.span().unwrap_or(0..0);
    let mut message = e
        .message()
        .trim_end()
        .replace("unknown field", "unknown key");
    if let Some(path) = doc.and_then(|d| value_path(d, &span, "")) {
        // `vip[0].service` is written `[[vip.service]]` as an array of tables.
        let header: String = path
            .split('.')
            .map(|p| p.split('[').next().unwrap_or(p))
            .collect::<Vec<_>>()
            .join(".");
        message = message
            .replace(
                "expected a sequence",
                &format!("expected an array of tables, [[{header}]]"),
            )
            .replace("invalid type: map", "invalid type: table");
        message = format!("{path}: {message}");
    }
    if let Some(start) = message.find("expected struct Raw") {
        message.replace_range(start.., "expected a table");
    }
    (message, span)
}

/// The path of the value at `span`, searching the whole document.
fn value_path(table: &DeTable<'_>, span: &Range<usize>, path: &str) -> Option<String> {
    table.iter().find_map(|(key, value)| {
        let here = if path.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{path}.{}", key.get_ref())
        };
        if value.span() == *span {
            return Some(here);
        }
        match value.get_ref() {
            DeValue::Table(t) => value_path(t, span, &here),
            DeValue::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                let here = format!("{here}[{i}]");
                match item.get_ref() {
                    _ if item.span() == *span => Some(here),
                    DeValue::Table(t) => value_path(t, span, &here),
                    _ => None,
                }
            }),
            _ => None,
        }
    })
}

/// Removes the key whose name is at `span` anywhere in the document; returns its dotted path
/// (`vip[0].service[1].prot`) or `None` when no key sits there.
fn remove_key(table: &mut DeTable<'_>, span: &Range<usize>, path: &str) -> Option<String> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    if let Some(key) = table.keys().find(|k| k.span() == *span).cloned() {
        table.remove(&key);
        return Some(join(key.get_ref()));
    }
    for (key, value) in table.iter_mut() {
        let here = join(key.get_ref());
        if let Some(found) = remove_in_value(value.get_mut(), span, &here) {
            return Some(found);
        }
    }
    None
}

fn remove_in_value(value: &mut DeValue<'_>, span: &Range<usize>, path: &str) -> Option<String> {
    match value {
        DeValue::Table(t) => remove_key(t, span, path),
        DeValue::Array(items) => items
            .iter_mut()
            .enumerate()
            .find_map(|(i, item)| remove_in_value(item.get_mut(), span, &format!("{path}[{i}]"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_spans_point_at_their_headers() {
        let text = "[node]\n[[vip]]\n[vip.check]\n[[vip.service]]\n[[vip.service.backend]]\ncheck = { port = 3 }\n";
        let raw = read(text).0.unwrap();
        assert_eq!(&text[raw.node.unwrap().span()], "[node]");
        let vip = &raw.vip.unwrap()[0];
        assert_eq!(&text[vip.span()], "[[vip]]");
        assert_eq!(
            &text[vip.get_ref().check.as_ref().unwrap().span()],
            "[vip.check]"
        );
        let svc = &vip.get_ref().service.as_ref().unwrap()[0];
        assert_eq!(&text[svc.span()], "[[vip.service]]");
        let be = &svc.get_ref().backend.as_ref().unwrap()[0];
        assert_eq!(&text[be.span()], "[[vip.service.backend]]");
        assert_eq!(
            &text[be.get_ref().check.as_ref().unwrap().span()],
            "{ port = 3 }"
        );
    }

    #[test]
    fn every_unknown_key_is_reported_with_its_path() {
        let text = "[node]\nasn = 1\nfoo = 1\n[[vip]]\n[[vip]]\n[[vip.service]]\nprot = 1\n";
        let (raw, errors) = read(text);
        assert!(raw.is_some());
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].0.starts_with("node.foo: unknown key; expected"),
            "{errors:?}"
        );
        assert_eq!(&text[errors[0].1.clone()], "foo");
        assert!(errors[1]
            .0
            .starts_with("vip[1].service[0].prot: unknown key"));
        assert_eq!(&text[errors[1].1.clone()], "prot");
    }

    #[test]
    fn leaves_keep_their_type_and_array_elements_their_spans() {
        let text = "[[vip]]\ncommunities = [\"1:2\", 3]\nmed = 1.5\n";
        let raw = read(text).0.unwrap();
        let vip = raw.vip.unwrap().remove(0).into_inner();
        let Value::Array(items) = vip.communities.unwrap().into_inner() else {
            panic!("not an array")
        };
        assert_eq!(&text[items[0].span()], "\"1:2\"");
        assert_eq!(items[1].get_ref(), &Value::Integer(3));
        assert_eq!(vip.med.unwrap().get_ref().describe(), "float 1.5");
    }

    #[test]
    fn tables_keep_their_keys_with_spans_and_date_times_are_named() {
        let text = "[[vip]]\nmed = { \"X-A\" = \"1\" }\nlocal_pref = 1979-05-27\nannounce = 1\n";
        let (raw, errors) = read(text);
        assert!(errors.is_empty(), "{errors:?}");
        let vip = raw.unwrap().vip.unwrap().remove(0).into_inner();
        let Value::Table(entries) = vip.med.unwrap().into_inner() else {
            panic!("not a table")
        };
        assert_eq!(&text[entries[0].0.span()], "\"X-A\"");
        assert_eq!(entries[0].0.get_ref(), "X-A");
        assert_eq!(entries[0].1.get_ref(), &Value::String("1".into()));
        assert_eq!(vip.local_pref.unwrap().get_ref(), &Value::Datetime);
        // Reading went on after the date-time.
        assert_eq!(vip.announce.unwrap().get_ref(), &Value::Integer(1));
    }

    #[test]
    fn a_wrong_structure_stops_reading() {
        let (raw, errors) = read("vip = 3\n");
        assert!(raw.is_none());
        let expected = "vip: invalid type: integer `3`, expected an array of tables, [[vip]]";
        assert_eq!(errors, vec![(expected.to_string(), 6..7)]);
    }
}
