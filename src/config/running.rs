//! The running configuration as `GET /config` shows it: the accepted file's keys as JSON,
//! secrets left out, and an entity tag that changes whenever the text does.

use serde_json::Value;

/// Keys that never leave the daemon, as paths into the document (`[]` is every element of an
/// array of tables): TCP MD5 passwords, the API's bearer token and the etcd password.
const SECRETS: [&[&str]; 3] = [
    &["api", "token"],
    &["bgp", "peer", "[]", "password"],
    &["catalog", "password"],
];

/// What the API serves for `GET /config`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningConfig {
    /// Pretty JSON, ending in a newline. The only form kept: the parsed document is as large
    /// again (30 MiB with 50,000 VIPs) and only answers to writes need it, which parse this.
    pub json: String,
    /// A strong entity tag (with its quotes) of the config text.
    pub etag: String,
}

impl RunningConfig {
    /// From the text of a config the daemon accepted (so it is valid TOML).
    pub fn new(text: &str) -> RunningConfig {
        // Straight into JSON: a `toml::Table` in between was 127 MiB at peak with 50,000 VIPs.
        let mut doc = match toml::from_str::<Value>(text) {
            Ok(doc) => doc,
            Err(e) => {
                serde_json::json!({ "error": format!("the running config is not TOML: {e}") })
            }
        };
        for path in SECRETS {
            remove(&mut doc, path);
        }
        let mut json = serde_json::to_string_pretty(&doc).unwrap_or_default();
        json.push('\n');
        RunningConfig {
            json,
            etag: etag(text),
        }
    }

    /// The entity tag `RunningConfig::new(text)` would carry, without building the JSON.
    pub fn etag_of(text: &str) -> String {
        etag(text)
    }
}

impl RunningConfig {
    /// One object of the running config as JSON (`null` when it is not there, as after a
    /// delete): the answer to a write.
    pub fn object(&self, target: &super::edit::Target) -> Value {
        use super::edit::Target;
        let doc = &serde_json::from_str::<Value>(&self.json).unwrap_or(Value::Null);
        let same = |v: &Value, ip: std::net::IpAddr| {
            v["address"].as_str().and_then(|a| a.parse().ok()) == Some(ip)
        };
        let find = |list: &Value, pred: &dyn Fn(&Value) -> bool| {
            list.as_array()
                .and_then(|a| a.iter().find(|v| pred(v)))
                .cloned()
                .unwrap_or(Value::Null)
        };
        let vip = |ip| find(&doc["vip"], &|v| same(v, ip));
        let service = |ip, name: &str| find(&vip(ip)["service"], &|s| s["name"] == name);
        match target {
            Target::Vip(ip) => vip(*ip),
            Target::Service { vip, name } => service(*vip, name),
            Target::Backend {
                vip,
                service: name,
                backend,
            } => {
                let svc = service(*vip, name);
                let port = svc["port"].clone();
                find(&svc["backend"], &|b| {
                    same(b, backend.ip())
                        && b.get("port").unwrap_or(&port).as_u64()
                            == Some(u64::from(backend.port()))
                })
            }
        }
    }
}

fn remove(value: &mut Value, path: &[&str]) {
    match path {
        [] => {}
        [last] => {
            if let Some(o) = value.as_object_mut() {
                o.remove(*last);
            }
        }
        ["[]", rest @ ..] => {
            if let Some(items) = value.as_array_mut() {
                for item in items {
                    remove(item, rest);
                }
            }
        }
        [key, rest @ ..] => {
            if let Some(inner) = value.get_mut(*key) {
                remove(inner, rest);
            }
        }
    }
}

/// FNV-1a over the text: stable across processes and versions (unlike std's hasher), so a
/// restarted daemon serving the same file gives the same tag. Not a security boundary: it
/// only tells two versions of the file apart.
fn etag(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{hash:016x}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"[node]
router_id = "10.0.1.2"
asn = 65001

[api]
listen = "0.0.0.0:9180"
token = "s3cret"

[[bgp.peer]]
address = "10.0.1.1"
asn = 65000
password = "md5-key"

[[bgp.peer]]
address = "10.0.2.1"
asn = 65000

[[vip]]
address = "10.100.0.1"
"#;

    #[test]
    fn the_keys_are_served_as_json_without_the_secrets() {
        let r = RunningConfig::new(FILE);
        let v: Value = serde_json::from_str(&r.json).unwrap();
        assert_eq!(v["node"]["asn"], 65001);
        assert_eq!(v["api"]["listen"], "0.0.0.0:9180");
        assert_eq!(v["bgp"]["peer"][1]["address"], "10.0.2.1");
        assert_eq!(v["vip"][0]["address"], "10.100.0.1");
        assert!(v["api"].get("token").is_none());
        assert!(v["bgp"]["peer"][0].get("password").is_none());
        assert!(!r.json.contains("s3cret") && !r.json.contains("md5-key"));
        assert!(r.json.ends_with("}\n"));
    }

    #[test]
    fn the_tag_follows_the_text_and_only_the_text() {
        let a = RunningConfig::new(FILE);
        assert_eq!(a.etag, RunningConfig::new(FILE).etag);
        assert_ne!(
            a.etag,
            RunningConfig::new(&FILE.replace("65001", "65002")).etag
        );
        assert!(a.etag.starts_with('"') && a.etag.ends_with('"') && a.etag.len() == 18);
        // FNV-1a's published value for the empty input: the tag is stable across builds.
        assert_eq!(etag(""), "\"cbf29ce484222325\"");
    }
}
