//! Error paths by name instead of by position, for the API.
//!
//! Validation names a key by where it sits in the file (`vip[3].service[0].backend[1].weight`):
//! right for `anycastd check`, which also gives the line. An API client never saw the file's
//! order, so a write's errors name each VIP by address, each service by name, each backend by
//! `ip:port` and each peer by address: `vip[10.100.0.1].service[web].backend[10.0.10.11:8080].weight`.

use std::net::IpAddr;

use toml::Value;

/// `path` with every `key[index]` that `text` resolves replaced by `key[identity]`. A segment
/// that does not resolve (and everything after it) stays as given.
pub fn by_name(text: &str, path: &str) -> String {
    let Ok(doc) = toml::from_str::<toml::Table>(text) else {
        return path.to_string();
    };
    let mut at: Option<&Value> = None;
    let mut service_port: Option<i64> = None;
    let mut out = Vec::new();
    let mut resolving = true;
    for segment in path.split('.') {
        let parsed = index_segment(segment);
        let next = resolving.then(|| match (at, parsed) {
            (None, Some((key, i))) => doc.get(key)?.get(i),
            (Some(v), Some((key, i))) => v.get(key)?.get(i),
            (None, None) => doc.get(segment),
            (Some(v), None) => v.get(segment),
        });
        let Some(Some(value)) = next else {
            resolving = false;
            out.push(segment.to_string());
            continue;
        };
        match parsed.and_then(|(key, _)| identity(key, value, service_port).map(|id| (key, id))) {
            Some((key, id)) => out.push(format!("{key}[{id}]")),
            None => out.push(segment.to_string()),
        }
        if parsed.is_some_and(|(key, _)| key == "service") {
            service_port = value.get("port").and_then(Value::as_integer);
        }
        at = Some(value);
    }
    out.join(".")
}

/// A validation message (`PATH: what is wrong`) with its path named by [`by_name`].
pub fn message_by_name(text: &str, message: &str) -> String {
    match split_path(message) {
        Some((path, rest)) => format!("{}: {rest}", by_name(text, path)),
        None => message.to_string(),
    }
}

/// A validation message as its path and the rest (`vip[0].med: expected …`); `None` for a
/// message that does not start with a path (a path has no spaces).
pub fn split_path(message: &str) -> Option<(&str, &str)> {
    message
        .split_once(": ")
        .filter(|(path, _)| !path.contains(' '))
}

/// `key[3]` as `("key", 3)`.
fn index_segment(segment: &str) -> Option<(&str, usize)> {
    let (key, rest) = segment.split_once('[')?;
    let index = rest.strip_suffix(']')?.parse().ok()?;
    Some((key, index))
}

/// How an element of `key` is named: a VIP or peer by address, a service by name, a backend by
/// `ip:port` (its own port, else its service's). `None` when the table lacks what names it.
fn identity(key: &str, table: &Value, service_port: Option<i64>) -> Option<String> {
    let text = |k: &str| table.get(k).and_then(Value::as_str);
    match key {
        "vip" | "peer" => text("address").map(str::to_string),
        "service" => text("name").map(str::to_string),
        "backend" => {
            let ip: IpAddr = text("address")?.parse().ok()?;
            let port = table
                .get("port")
                .and_then(Value::as_integer)
                .or(service_port)?;
            Some(match ip {
                IpAddr::V4(_) => format!("{ip}:{port}"),
                IpAddr::V6(_) => format!("[{ip}]:{port}"),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[[bgp.peer]]
address = "10.0.1.1"

[[vip]]
address = "10.100.0.9"

[[vip]]
address = "10.100.0.1"

[[vip.service]]
name = "dns"
port = 53

[[vip.service]]
name = "web"
port = 8080

[[vip.service.backend]]
address = "10.0.10.10"
port = 9090

[[vip.service.backend]]
address = "10.0.10.11"

[[vip]]
address = "2001:db8::1"

[[vip.service]]
name = "web6"
port = 80

[[vip.service.backend]]
address = "2001:db8:10::11"
"#;

    #[test]
    fn vips_services_backends_and_peers_are_named_not_numbered() {
        assert_eq!(
            by_name(FILE, "vip[1].service[1].backend[1].weight"),
            "vip[10.100.0.1].service[web].backend[10.0.10.11:8080].weight"
        );
        assert_eq!(
            by_name(FILE, "vip[1].service[1].backend[0].port"),
            "vip[10.100.0.1].service[web].backend[10.0.10.10:9090].port"
        );
        assert_eq!(
            by_name(FILE, "vip[2].service[0].backend[0]"),
            "vip[2001:db8::1].service[web6].backend[[2001:db8:10::11]:80]"
        );
        assert_eq!(by_name(FILE, "vip[0].med"), "vip[10.100.0.9].med");
        assert_eq!(
            by_name(FILE, "bgp.peer[0].password"),
            "bgp.peer[10.0.1.1].password"
        );
    }

    #[test]
    fn what_does_not_resolve_stays_as_validation_wrote_it() {
        assert_eq!(by_name(FILE, "vip[7].med"), "vip[7].med");
        assert_eq!(
            by_name(FILE, "vip[1].service[5].backend[0].weight"),
            "vip[10.100.0.1].service[5].backend[0].weight"
        );
        assert_eq!(by_name(FILE, "node.asn"), "node.asn");
        assert_eq!(by_name("not toml [", "vip[0].med"), "vip[0].med");
    }

    #[test]
    fn a_message_keeps_its_words_and_only_its_path_changes() {
        assert_eq!(
            message_by_name(FILE, "vip[0].med: expected a number 0..=4294967295"),
            "vip[10.100.0.9].med: expected a number 0..=4294967295"
        );
        let loose = "two VIPs have the address 10.100.0.1: vip[1] and vip[2]";
        assert_eq!(message_by_name(FILE, loose), loose);
    }

    #[test]
    fn a_table_without_its_name_keeps_its_index() {
        let file = "[[vip]]\nmed = 5\n";
        assert_eq!(by_name(file, "vip[0].address"), "vip[0].address");
    }
}
