//! Changes to the config file's text that keep the operator's comments, order and formatting:
//! put (create or replace) or delete one VIP, service or backend, or set a backend's weight.
//!
//! Pure: text in, text out. The edit works on the TOML document (toml_edit), never on a
//! re-serialised `Config`, so everything it does not touch stays byte for byte as written. The
//! caller validates the result with [`super::parse`] (the same code as `anycastd check`) before
//! writing it anywhere, so an edit here only has to be well-formed TOML, not a valid config.
//!
//! Bodies are JSON objects with the keys of the TOML tables: a VIP holds its services as
//! `"service": [...]`, a service its backends as `"backend": [...]` and its check as
//! `"check": {...}` (CONTRACT.md). An object becomes a table, an array of objects an array of
//! tables, anything else a value.

use std::net::{IpAddr, SocketAddr};

use serde_json::{Map, Value as Json};
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, Value};

/// The object an edit is about, as the API's paths name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Vip(IpAddr),
    Service {
        vip: IpAddr,
        name: String,
    },
    Backend {
        vip: IpAddr,
        service: String,
        backend: SocketAddr,
    },
}

impl Target {
    /// What a request for this object is told when the config has no such object.
    pub fn not_found(&self) -> String {
        match self {
            Target::Vip(vip) => format!("no VIP {vip}"),
            Target::Service { vip, name } => format!("no service {name} on VIP {vip}"),
            Target::Backend {
                vip,
                service,
                backend,
            } => format!("no backend {backend} in service {service} on VIP {vip}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Create or replace the object with this body.
    Put(Map<String, Json>),
    Delete,
    /// A backend's `weight` (PATCH).
    Weight(u32),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The object (or, for a put, its parent) is not in the file.
    #[error("{0}")]
    NotFound(String),
    /// The body cannot be written as TOML, or contradicts the path.
    #[error("{0}")]
    BadBody(String),
    /// The file itself is not TOML (it then cannot be running either; the caller says so).
    #[error("the config file is not valid TOML: {0}")]
    Unparsable(String),
}

/// The file after the edit, and whether a put created the object (rather than replaced it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    pub text: String,
    pub created: bool,
}

pub fn edit(text: &str, target: &Target, change: Change) -> Result<Edited, EditError> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| EditError::Unparsable(e.to_string()))?;
    let created = match target {
        Target::Vip(vip) => {
            let vips = array_of_tables(doc.as_table_mut(), "vip");
            let at = position(vips, |t| same_address(t, *vip));
            apply(vips, at, change, &target.not_found(), |body| {
                identity(body, "address", Json::String(vip.to_string()))
            })?
        }
        Target::Service { vip, name } => {
            let vip_table = find_vip(&mut doc, *vip)?;
            let services = array_of_tables(vip_table, "service");
            let at = position(services, |t| {
                t.get("name").and_then(Item::as_str) == Some(name)
            });
            apply(services, at, change, &target.not_found(), |body| {
                identity(body, "name", Json::String(name.clone()))
            })?
        }
        Target::Backend {
            vip,
            service,
            backend,
        } => {
            let vip_table = find_vip(&mut doc, *vip)?;
            let services = array_of_tables(vip_table, "service");
            let parent = Target::Service {
                vip: *vip,
                name: service.clone(),
            };
            let svc = services
                .iter_mut()
                .find(|t| t.get("name").and_then(Item::as_str) == Some(service))
                .ok_or_else(|| EditError::NotFound(parent.not_found()))?;
            // A backend without a port of its own serves on the service's port.
            let service_port = svc.get("port").and_then(Item::as_integer);
            let backends = array_of_tables(svc, "backend");
            let at = position(backends, |t| {
                let port = t.get("port").and_then(Item::as_integer).or(service_port);
                same_address(t, backend.ip()) && port == Some(i64::from(backend.port()))
            });
            apply(backends, at, change, &target.not_found(), |body| {
                identity(body, "address", Json::String(backend.ip().to_string()))?;
                identity(body, "port", Json::from(backend.port()))
            })?
        }
    };
    Ok(Edited {
        text: doc.to_string(),
        created,
    })
}

/// A JSON body with the keys of a `[[vip]]` table as the text of one `[[vip]]` table (its
/// services as `[[vip.service]]`, and so on): how a catalog document becomes part of the
/// config that [`super::parse`] validates.
pub fn vip_table_text(body: &Map<String, Json>) -> Result<String, EditError> {
    let mut tables = ArrayOfTables::new();
    tables.push(table_from_json(body, "")?);
    let mut doc = DocumentMut::new();
    doc.insert("vip", Item::ArrayOfTables(tables));
    Ok(doc.to_string())
}

/// Applies `change` to the table at `at` (if any) of `tables`. Returns whether a put created
/// the table.
fn apply(
    tables: &mut ArrayOfTables,
    at: Option<usize>,
    change: Change,
    not_found: &str,
    identify: impl FnOnce(&mut Map<String, Json>) -> Result<(), EditError>,
) -> Result<bool, EditError> {
    match change {
        Change::Put(mut body) => {
            identify(&mut body)?;
            let mut table = table_from_json(&body, "")?;
            match at.and_then(|i| tables.get_mut(i)) {
                Some(old) => {
                    // The replaced table keeps its place and the comments above its header.
                    table.set_position(old.position());
                    *table.decor_mut() = old.decor().clone();
                    *old = table;
                    Ok(false)
                }
                None => {
                    if let Some(sibling) = tables.iter().last() {
                        imitate(&mut table, sibling);
                    }
                    tables.push(table);
                    Ok(true)
                }
            }
        }
        Change::Delete => {
            let i = at.ok_or_else(|| EditError::NotFound(not_found.to_string()))?;
            tables.remove(i);
            Ok(false)
        }
        Change::Weight(weight) => {
            let i = at.ok_or_else(|| EditError::NotFound(not_found.to_string()))?;
            let table = tables
                .get_mut(i)
                .expect("the index was found in this array");
            match table.get_mut("weight").and_then(Item::as_value_mut) {
                // Only the number changes; a comment after it on the line stays.
                Some(v) => {
                    let decor = v.decor().clone();
                    *v = Value::from(i64::from(weight));
                    *v.decor_mut() = decor;
                }
                None => {
                    table.insert("weight", toml_edit::value(i64::from(weight)));
                }
            }
            Ok(false)
        }
    }
}

/// Indents a new table as the operator indented its sibling: the header, the keys, and the
/// same way down nested arrays of tables the sibling has too.
fn imitate(new: &mut Table, sibling: &Table) {
    let indent = |prefix: Option<&toml_edit::RawString>| -> Option<String> {
        let prefix = prefix?.as_str()?;
        let last_line = prefix.rsplit('\n').next().unwrap_or(prefix);
        last_line
            .chars()
            .all(|c| c == ' ' || c == '\t')
            .then(|| last_line.to_string())
    };
    if let Some(header) = indent(sibling.decor().prefix()) {
        new.decor_mut().set_prefix(format!("\n{header}"));
    }
    let key_indent = sibling
        .iter()
        .find(|(_, item)| item.is_value())
        .and_then(|(k, _)| sibling.key(k))
        .and_then(|k| indent(k.leaf_decor().prefix()));
    let keys: Vec<String> = new.iter().map(|(k, _)| k.to_string()).collect();
    for key in keys {
        let is_value = new.get(&key).is_some_and(Item::is_value);
        if let (true, Some(ind), Some(mut k)) = (is_value, &key_indent, new.key_mut(&key)) {
            k.leaf_decor_mut().set_prefix(ind.as_str());
        }
        let like = sibling
            .get(&key)
            .and_then(Item::as_array_of_tables)
            .and_then(|a| a.iter().next());
        let mine = new.get_mut(&key).and_then(Item::as_array_of_tables_mut);
        if let (Some(like), Some(mine)) = (like, mine) {
            for t in mine.iter_mut() {
                imitate(t, like);
            }
        }
    }
}

fn find_vip(doc: &mut DocumentMut, vip: IpAddr) -> Result<&mut Table, EditError> {
    doc.get_mut("vip")
        .and_then(Item::as_array_of_tables_mut)
        .and_then(|vips| vips.iter_mut().find(|t| same_address(t, vip)))
        .ok_or_else(|| EditError::NotFound(Target::Vip(vip).not_found()))
}

/// `table[key]` as an array of tables, created empty when absent. A key that holds something
/// else (which the config's validation would refuse anyway) is replaced only when empty.
fn array_of_tables<'t>(table: &'t mut Table, key: &str) -> &'t mut ArrayOfTables {
    let item = table
        .entry(key)
        .or_insert(Item::ArrayOfTables(ArrayOfTables::new()));
    if !item.is_array_of_tables() {
        *item = Item::ArrayOfTables(ArrayOfTables::new());
    }
    item.as_array_of_tables_mut()
        .expect("made an array of tables just above")
}

fn position(tables: &ArrayOfTables, matches: impl Fn(&Table) -> bool) -> Option<usize> {
    tables.iter().position(matches)
}

/// Whether `table`'s `address` is `address` (as addresses: `2001:DB8::1` is `2001:db8::1`).
fn same_address(table: &Table, address: IpAddr) -> bool {
    table
        .get("address")
        .and_then(Item::as_str)
        .and_then(|a| a.parse::<IpAddr>().ok())
        == Some(address)
}

/// Puts the path's identity into the body, or refuses a body that names another object.
fn identity(body: &mut Map<String, Json>, key: &str, value: Json) -> Result<(), EditError> {
    match body.get(key) {
        None => {
            body.insert(key.to_string(), value);
            Ok(())
        }
        Some(given) if same_identity(given, &value) => Ok(()),
        Some(given) => Err(EditError::BadBody(format!(
            "{key}: the body says {given} but the path says {value}"
        ))),
    }
}

fn same_identity(given: &Json, path: &Json) -> bool {
    match (given.as_str(), path.as_str()) {
        (Some(g), Some(p)) => match (g.parse::<IpAddr>(), p.parse::<IpAddr>()) {
            (Ok(g), Ok(p)) => g == p,
            _ => g == p,
        },
        _ => given == path,
    }
}

/// Identity keys first, so a new table reads like the hand-written ones; the rest in the
/// body's order.
const LEADING_KEYS: [&str; 3] = ["address", "name", "port"];

fn table_from_json(body: &Map<String, Json>, path: &str) -> Result<Table, EditError> {
    let mut table = Table::new();
    let leading = LEADING_KEYS.iter().filter_map(|k| body.get_key_value(*k));
    let rest = body
        .iter()
        .filter(|(k, _)| !LEADING_KEYS.contains(&k.as_str()));
    for (key, value) in leading.chain(rest) {
        let here = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        let item = match value {
            Json::Object(o) => Item::Table(table_from_json(o, &here)?),
            Json::Array(a) if !a.is_empty() && a.iter().all(Json::is_object) => {
                let mut tables = ArrayOfTables::new();
                for (i, o) in a.iter().filter_map(Json::as_object).enumerate() {
                    tables.push(table_from_json(o, &format!("{here}[{i}]"))?);
                }
                Item::ArrayOfTables(tables)
            }
            other => Item::Value(value_from_json(other, &here)?),
        };
        table.insert(key, item);
    }
    Ok(table)
}

fn value_from_json(value: &Json, path: &str) -> Result<Value, EditError> {
    Ok(match value {
        Json::Null => {
            return Err(EditError::BadBody(format!(
                "{path}: null has no TOML form; leave the key out for its default"
            )))
        }
        Json::Bool(b) => Value::from(*b),
        Json::String(s) => Value::from(s.as_str()),
        Json::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::from(i),
            (None, Some(_)) if n.is_u64() => {
                return Err(EditError::BadBody(format!("{path}: {n} is too large")))
            }
            (None, Some(f)) => Value::from(f),
            (None, None) => return Err(EditError::BadBody(format!("{path}: {n} is not a number"))),
        },
        Json::Array(items) => {
            let mut array = toml_edit::Array::new();
            for (i, item) in items.iter().enumerate() {
                array.push(value_from_json(item, &format!("{path}[{i}]"))?);
            }
            Value::Array(array)
        }
        Json::Object(o) => {
            let mut inline = toml_edit::InlineTable::new();
            for (k, v) in o {
                inline.insert(k, value_from_json(v, &format!("{path}.{k}"))?);
            }
            Value::InlineTable(inline)
        }
    })
}

/// What an edit changed, for the audit log: the lines between the common head and tail of the
/// two texts, `-` removed and `+` added, one per line. An edit touches one object, so this is
/// that object's lines (and `""` when nothing changed).
pub fn line_diff(old: &str, new: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let removed = a[head..a.len() - tail].iter().map(|l| format!("-{l}"));
    let added = b[head..b.len() - tail].iter().map(|l| format!("+{l}"));
    removed.chain(added).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    const FILE: &str = r#"# Node lb1, managed by hand and by the API.
[node]
router_id = "10.0.1.2"
asn = 65001

# The web VIP.
[[vip]]
address = "10.100.0.1"  # anycast
communities = ["65000:100"]

  # HTTP
  [[vip.service]]
  name = "web"
  port = 80

    [[vip.service.backend]]
    address = "10.0.10.11"
    weight = 100  # the big one

    [[vip.service.backend]]
    address = "10.0.10.12"
    port = 8080

# DNS, no IPVS.
[[vip]]
address = "10.100.0.53"
"#;

    fn vip() -> IpAddr {
        "10.100.0.1".parse().unwrap()
    }

    fn backend(addr: &str) -> Target {
        Target::Backend {
            vip: vip(),
            service: "web".into(),
            backend: addr.parse().unwrap(),
        }
    }

    fn body(json: &str) -> Map<String, Json> {
        serde_json::from_str(json).unwrap()
    }

    fn put(target: &Target, json: &str) -> Edited {
        edit(FILE, target, Change::Put(body(json))).unwrap()
    }

    /// The lines `after` has more of than `before`, and the lines it has fewer of.
    fn diff(before: &str, after: &str) -> (Vec<String>, Vec<String>) {
        fn extra(a: &str, b: &str) -> Vec<String> {
            let mut rest: Vec<&str> = b.lines().collect();
            let mut out = Vec::new();
            for line in a.lines() {
                match rest.iter().position(|l| *l == line) {
                    Some(i) => {
                        rest.remove(i);
                    }
                    None => out.push(line.to_string()),
                }
            }
            out
        }
        (extra(after, before), extra(before, after))
    }

    #[test]
    fn a_new_backend_is_added_to_its_service_and_nothing_else_changes() {
        let e = put(&backend("10.0.10.13:80"), r#"{"weight": 50}"#);
        assert!(e.created);
        let (added, gone) = diff(FILE, &e.text);
        assert!(gone.is_empty(), "{gone:?}");
        assert_eq!(
            added,
            [
                "    [[vip.service.backend]]",
                r#"    address = "10.0.10.13""#,
                "    port = 80",
                "    weight = 50",
                "",
            ],
            "indented as its siblings, after a blank line as they are"
        );
        // Right after the service's last backend, before the next VIP.
        let at = e.text.find(r#"address = "10.0.10.13""#).unwrap();
        assert!(at > e.text.find(r#"address = "10.0.10.12""#).unwrap());
        assert!(at < e.text.find("# DNS, no IPVS.").unwrap());
        let backends = &parse(&e.text, "t.toml").unwrap().vips[0].services[0].backends;
        assert_eq!(backends.len(), 3);
        assert_eq!((backends[2].port, backends[2].weight), (80, 50));
    }

    #[test]
    fn a_weight_change_touches_only_the_number() {
        let e = edit(FILE, &backend("10.0.10.11:80"), Change::Weight(7)).unwrap();
        assert_eq!(
            e.text,
            FILE.replace("weight = 100  # the big one", "weight = 7  # the big one")
        );
        // A backend without a weight line gets one.
        let e = edit(FILE, &backend("10.0.10.12:8080"), Change::Weight(3)).unwrap();
        let c = parse(&e.text, "t.toml").unwrap();
        assert_eq!(c.vips[0].services[0].backends[1].weight, 3);
        assert_eq!(diff(FILE, &e.text).0, ["weight = 3"]);
    }

    #[test]
    fn a_backend_is_found_by_the_service_port_when_it_has_none_of_its_own() {
        assert!(edit(FILE, &backend("10.0.10.11:80"), Change::Delete).is_ok());
        let wrong_port = edit(FILE, &backend("10.0.10.11:8080"), Change::Delete);
        assert_eq!(
            wrong_port,
            Err(EditError::NotFound(
                "no backend 10.0.10.11:8080 in service web on VIP 10.100.0.1".into()
            ))
        );
    }

    #[test]
    fn deleting_a_vip_removes_its_tables_and_keeps_the_others_and_their_comments() {
        let e = edit(FILE, &Target::Vip(vip()), Change::Delete).unwrap();
        let c = parse(&e.text, "t.toml").unwrap();
        assert_eq!(c.vips.len(), 1);
        assert_eq!(c.vips[0].address.to_string(), "10.100.0.53");
        assert!(e
            .text
            .starts_with("# Node lb1, managed by hand and by the API.\n[node]\n"));
        assert!(e
            .text
            .contains("# DNS, no IPVS.\n[[vip]]\naddress = \"10.100.0.53\""));
        assert!(!e.text.contains("10.0.10.11"));
    }

    #[test]
    fn a_replaced_service_keeps_its_place_and_the_comment_above_it() {
        let e = put(
            &Target::Service {
                vip: vip(),
                name: "web".into(),
            },
            r#"{"port": 8443, "scheduler": "rr", "backend": [{"address": "10.0.10.21"}],
                "check": {"type": "http", "path": "/healthz"}}"#,
        );
        assert!(!e.created);
        let c = parse(&e.text, "t.toml").unwrap();
        let s = &c.vips[0].services[0];
        assert_eq!(
            (s.name.as_str(), s.port, s.scheduler.as_str()),
            ("web", 8443, "rr")
        );
        assert_eq!(s.backends.len(), 1);
        assert_eq!(s.backends[0].port, 8443);
        assert!(e.text.contains("  # HTTP\n"), "{}", e.text);
        let comment = e.text.find("  # HTTP").unwrap();
        assert!(comment < e.text.find(r#"name = "web""#).unwrap());
        assert!(e.text.find("8443").unwrap() < e.text.find("# DNS, no IPVS.").unwrap());
        assert!(!e.text.contains("the big one"));
    }

    #[test]
    fn a_new_vip_with_services_parses_as_the_body_says() {
        let e = put(
            &Target::Vip("2001:db8::80".parse().unwrap()),
            r#"{"interface": "anycast0", "med": 10,
                "service": [{"name": "web6", "port": 443, "backend": [{"address": "2001:db8:1::11", "weight": 2}]}]}"#,
        );
        assert!(e.created);
        let c = parse(&e.text, "t.toml").unwrap();
        let v = c.vips.last().unwrap();
        assert_eq!(v.address.to_string(), "2001:db8::80");
        assert_eq!(v.med, Some(10));
        assert_eq!(v.services[0].backends[0].weight, 2);
        assert!(e.text.starts_with(&FILE[..FILE.find("# DNS").unwrap()]));
    }

    #[test]
    fn a_body_naming_another_object_or_holding_null_is_refused() {
        let other = edit(
            FILE,
            &Target::Vip(vip()),
            Change::Put(body(r#"{"address": "10.100.0.9"}"#)),
        );
        assert!(matches!(other, Err(EditError::BadBody(m)) if m.contains("the path says")));
        // The same address written differently is the same VIP.
        let v6 = Target::Vip("2001:db8::1".parse().unwrap());
        assert!(edit(
            FILE,
            &v6,
            Change::Put(body(r#"{"address": "2001:DB8::1"}"#))
        )
        .is_ok());
        let null = edit(
            FILE,
            &Target::Vip(vip()),
            Change::Put(body(r#"{"med": null}"#)),
        );
        assert!(matches!(null, Err(EditError::BadBody(m)) if m.starts_with("med: null")));
    }

    #[test]
    fn an_edit_under_a_missing_parent_is_not_found() {
        let t = Target::Service {
            vip: "10.100.0.9".parse().unwrap(),
            name: "web".into(),
        };
        assert_eq!(
            edit(FILE, &t, Change::Put(body("{}"))),
            Err(EditError::NotFound("no VIP 10.100.0.9".into()))
        );
        let t = Target::Backend {
            vip: vip(),
            service: "ssh".into(),
            backend: "10.0.10.11:22".parse().unwrap(),
        };
        assert!(matches!(
            edit(FILE, &t, Change::Weight(1)),
            Err(EditError::NotFound(_))
        ));
        assert!(matches!(
            edit("[node", &t, Change::Delete),
            Err(EditError::Unparsable(_))
        ));
    }

    #[test]
    fn the_diff_is_the_changed_lines_only() {
        let old = "a = 1\n\n[[b]]\nx = 1\nweight = 5\n\n[[b]]\nx = 2\n";
        let new = "a = 1\n\n[[b]]\nx = 1\nweight = 7\n\n[[b]]\nx = 2\n";
        assert_eq!(line_diff(old, new), "-weight = 5\n+weight = 7");
        assert_eq!(line_diff(old, old), "");
        let grown = format!("{old}\n[[b]]\nx = 3\n");
        assert_eq!(line_diff(old, &grown), "+\n+[[b]]\n+x = 3");
        assert_eq!(line_diff(&grown, old), "-\n-[[b]]\n-x = 3");
        // Repeated lines: head and tail never overlap.
        assert_eq!(line_diff("x\nx\n", "x\n"), "-x");
    }
}
