//! `anycastd vip get|add|del` and `anycastd backend get|add|del|weight`: the API's object
//! endpoints (`/vips/{address}[/services/{name}/backends/{ip}:{port}]`) from the shell, so a
//! deploy script needs neither curl nor hand-written JSON.
//!
//! The daemon does the work (validation as `anycastd check`, write-back keeping comments,
//! apply like SIGHUP); this prints its answer: the resulting object as JSON on stdout, or each
//! refused key as `PATH: message` on stderr. Exit codes: 0 done, 1 refused or unreachable,
//! 2 a body file that cannot be read.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use hyper::Method;
use serde_json::{Map, Value};

use super::client::{self, Call};
use super::ApiArgs;

#[derive(Debug, clap::Subcommand)]
pub enum VipCommand {
    /// Print a VIP's configuration and live state (announced, drained, its services).
    Get {
        #[command(flatten)]
        api: ApiArgs,
        address: IpAddr,
    },
    /// Create or replace a VIP; its keys (interface, services, backends, checks …) come from
    /// FILE, TOML or JSON with the keys of a [[vip]] table.
    Add {
        #[command(flatten)]
        write: WriteArgs,
        address: IpAddr,
        /// The VIP's table: a .json file, or TOML (one [[vip]] table, or its keys at the top).
        #[arg(long, short = 'f')]
        file: Option<PathBuf>,
    },
    /// Remove a VIP: withdrawn, its IPVS services and address removed.
    Del {
        #[command(flatten)]
        write: WriteArgs,
        address: IpAddr,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum BackendCommand {
    /// Print a backend's configuration and live state (health, weights, last check).
    Get {
        #[command(flatten)]
        api: ApiArgs,
        #[command(flatten)]
        at: BackendPath,
    },
    /// Add a backend to a service, or replace it.
    Add {
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        at: BackendPath,
        #[arg(long)]
        weight: Option<u32>,
    },
    /// Remove a backend from a service.
    Del {
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        at: BackendPath,
    },
    /// Set a backend's configured weight (0 takes it out of rotation, keeping its connections).
    Weight {
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        at: BackendPath,
        weight: u32,
    },
}

/// VIP, service and backend, as `/vips/{vip}/services/{service}/backends/{backend}`.
#[derive(Debug, clap::Args)]
pub struct BackendPath {
    pub vip: IpAddr,
    pub service: String,
    /// IP:PORT ([ADDR]:PORT for IPv6).
    pub backend: SocketAddr,
}

impl BackendPath {
    fn path(&self) -> String {
        format!(
            "/vips/{}/services/{}/backends/{}",
            self.vip, self.service, self.backend
        )
    }
}

#[derive(Debug, clap::Args)]
pub struct WriteArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// Apply only if the running config still has this ETag (as GET /config or a previous
    /// write printed it); otherwise the daemon refuses with 412.
    #[arg(long)]
    pub if_match: Option<String>,
}

pub fn vip_command(command: &VipCommand) -> i32 {
    match command {
        VipCommand::Get { api, address } => send(api, Call::new(Method::GET, &vip_path(address))),
        VipCommand::Add {
            write,
            address,
            file,
        } => {
            let body = match file {
                Some(f) => match body_from_file(f, "vip") {
                    Ok(b) => b,
                    Err(e) => {
                        eprintln!("anycastd: {e}");
                        return 2;
                    }
                },
                None => Map::new(),
            };
            write_call(write, Method::PUT, &vip_path(address), Some(body))
        }
        VipCommand::Del { write, address } => {
            write_call(write, Method::DELETE, &vip_path(address), None)
        }
    }
}

pub fn backend_command(command: &BackendCommand) -> i32 {
    match command {
        BackendCommand::Get { api, at } => send(api, Call::new(Method::GET, &at.path())),
        BackendCommand::Add { write, at, weight } => {
            let mut body = Map::new();
            if let Some(w) = weight {
                body.insert("weight".into(), Value::from(*w));
            }
            write_call(write, Method::PUT, &at.path(), Some(body))
        }
        BackendCommand::Del { write, at } => write_call(write, Method::DELETE, &at.path(), None),
        BackendCommand::Weight { write, at, weight } => {
            let body = Map::from_iter([("weight".to_string(), Value::from(*weight))]);
            write_call(write, Method::PATCH, &at.path(), Some(body))
        }
    }
}

fn vip_path(address: &IpAddr) -> String {
    format!("/vips/{address}")
}

fn write_call(
    write: &WriteArgs,
    method: Method,
    path: &str,
    body: Option<Map<String, Value>>,
) -> i32 {
    let mut call = Call::new(method, path);
    call.body = body.map(|b| Value::Object(b).to_string());
    call.if_match = write.if_match.clone();
    send(&write.api, call)
}

/// Sends the call and prints the answer; the exit code.
fn send(api: &ApiArgs, call: Call) -> i32 {
    let target = client::resolve(api);
    let answer = match client::run(client::request(&target, call)) {
        Ok(a) => a,
        Err(e) => return client::fail(&target, &e),
    };
    match answer.code {
        200 | 201 => {
            print!("{}", answer.body);
            if let Some(tag) = answer.etag {
                eprintln!("etag: {tag}");
            }
            0
        }
        400 => {
            for line in refusals(&answer.body) {
                eprintln!("anycastd: {line}");
            }
            1
        }
        code => client::fail(&target, &format!("HTTP {code}: {}", answer.body.trim())),
    }
}

/// A 400's `{"errors": [{"path", "message"}]}` as `path: message` lines (the body as it is
/// when it is not that document).
fn refusals(body: &str) -> Vec<String> {
    let parsed: Option<Vec<Value>> = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("errors")?.as_array().cloned());
    match parsed {
        Some(errors) => errors
            .iter()
            .map(|e| {
                let message = e["message"].as_str().unwrap_or_default();
                match e["path"].as_str() {
                    Some(p) if !p.is_empty() => format!("{p}: {message}"),
                    _ => message.to_string(),
                }
            })
            .collect(),
        None => vec![body.trim().to_string()],
    }
}

/// A body file: JSON (`.json`) or TOML, either the object itself or a document holding one
/// `[[key]]` table (a `[[vip]]` snippet cut from a config file).
fn body_from_file(file: &Path, key: &str) -> Result<Map<String, Value>, String> {
    let shown = file.display();
    let text = std::fs::read_to_string(file).map_err(|e| format!("{shown}: cannot read: {e}"))?;
    body_from_text(&text, file.extension().is_some_and(|e| e == "json"), key)
        .map_err(|e| format!("{shown}: {e}"))
}

fn body_from_text(text: &str, json: bool, key: &str) -> Result<Map<String, Value>, String> {
    let value: Value = if json {
        serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?
    } else {
        let table: toml::Table = toml::from_str(text).map_err(|e| format!("not TOML: {e}"))?;
        serde_json::to_value(table).map_err(|e| e.to_string())?
    };
    let Value::Object(mut object) = value else {
        return Err("expected an object with the keys of the table".into());
    };
    if object.len() == 1 {
        if let Some(Value::Array(items)) = object.get_mut(key) {
            return match items.as_mut_slice() {
                [Value::Object(one)] => Ok(std::mem::take(one)),
                _ => Err(format!("expected exactly one [[{key}]] table")),
            };
        }
    }
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_a_table_of_its_own_or_the_one_vip_of_a_snippet() {
        let flat = "interface = \"lo\"\nmed = 5\n";
        let body = body_from_text(flat, false, "vip").unwrap();
        assert_eq!(body["interface"], "lo");
        assert_eq!(body["med"], 5);

        let snippet = "[[vip]]\naddress = \"10.100.0.7\"\n[[vip.service]]\nname = \"web\"\n";
        let body = body_from_text(snippet, false, "vip").unwrap();
        assert_eq!(body["address"], "10.100.0.7");
        assert_eq!(body["service"][0]["name"], "web");

        let json = r#"{"interface": "lo", "service": [{"name": "web", "port": 80}]}"#;
        let body = body_from_text(json, true, "vip").unwrap();
        assert_eq!(body["service"][0]["port"], 80);
    }

    #[test]
    fn a_body_that_is_not_one_table_is_refused_with_the_reason() {
        let two = "[[vip]]\naddress = \"10.0.0.1\"\n[[vip]]\naddress = \"10.0.0.2\"\n";
        assert_eq!(
            body_from_text(two, false, "vip"),
            Err("expected exactly one [[vip]] table".into())
        );
        assert!(body_from_text("[1, 2]", true, "vip").is_err());
        assert!(body_from_text("interface = ", false, "vip")
            .unwrap_err()
            .starts_with("not TOML"));
    }

    #[test]
    fn refusals_are_printed_one_key_per_line() {
        let body = r#"{"errors": [{"path": "vip[10.0.0.1].med", "message": "expected a number"},
                                 {"path": "", "message": "two VIPs share 10.0.0.1"}]}"#;
        assert_eq!(
            refusals(body),
            [
                "vip[10.0.0.1].med: expected a number",
                "two VIPs share 10.0.0.1"
            ]
        );
        assert_eq!(refusals("the body is not JSON\n"), ["the body is not JSON"]);
    }
}
