//! `anycastd catalog put|get|del|check` and `anycastd check --catalog`: the fleet catalog in
//! etcd from the shell, so that operators never write etcdctl JSON by hand.
//!
//! The endpoints and prefix come from the node's own file (`-c`, its `[catalog]`). `put`
//! validates the VIPs of FILE (TOML `[[vip]]` tables, or JSON with the same keys) with the
//! config's own code, against this node's `[node]` and `[bgp]`, and reports errors as
//! `FILE:LINE:COL: message`, as `anycastd check` does; only a valid file is written, one key
//! per VIP. `check` merges the current catalog into this node's file as the daemon would and
//! names every document it would refuse.
//!
//! Exit codes: 0 done; 1 invalid, refused or not found; 2 a file that cannot be read or
//! etcd that cannot be reached.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use crate::catalog::{self, Merger};
use crate::config::{self, Config, DEFAULT_CONFIG_PATH};

#[derive(Debug, clap::Subcommand)]
pub enum CatalogCommand {
    /// Validate the VIPs of FILE (.toml with [[vip]] tables, or .json) and write each to
    /// {prefix}/vips/{address}. A VIP may carry node_labels = ["edge"]: only nodes with all
    /// of them announce it.
    Put {
        #[command(flatten)]
        node: NodeArgs,
        file: PathBuf,
    },
    /// Print one VIP's document (pretty JSON), or every key with its document, one a line.
    Get {
        #[command(flatten)]
        node: NodeArgs,
        vip: Option<IpAddr>,
    },
    /// Remove a VIP from the catalog: every node withdraws it.
    Del {
        #[command(flatten)]
        node: NodeArgs,
        vip: IpAddr,
    },
    /// Merge the current catalog into this node's file as the daemon would: `KEY: ok`, or
    /// why the document would be refused. Exit 1 when any would be.
    Check {
        #[command(flatten)]
        node: NodeArgs,
    },
}

#[derive(Debug, clap::Args)]
pub struct NodeArgs {
    /// The node's config file: its [catalog] says where etcd is.
    #[arg(short, long, default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
}

pub fn command(cmd: &CatalogCommand) -> i32 {
    let node = match cmd {
        CatalogCommand::Put { node, .. }
        | CatalogCommand::Get { node, .. }
        | CatalogCommand::Del { node, .. }
        | CatalogCommand::Check { node } => node,
    };
    let (cfg, text) = match config::load_with_text(&node.config) {
        Ok(loaded) => loaded,
        Err(e @ config::LoadError::Unreadable { .. }) => {
            eprintln!("{e}");
            return 2;
        }
        Err(config::LoadError::Invalid(e)) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let Some(settings) = cfg.catalog.clone() else {
        eprintln!(
            "{}: no [catalog] section: catalog commands read the etcd endpoints from it",
            node.config.display()
        );
        return 2;
    };
    let file_docs = match cmd {
        CatalogCommand::Put { file, .. } => match documents_from_file(file, &text) {
            Ok(docs) => Some(docs),
            Err(Failure::Unreadable(e)) => {
                eprintln!("{e}");
                return 2;
            }
            Err(Failure::Invalid(lines)) => {
                for line in lines {
                    println!("{line}");
                }
                return 1;
            }
        },
        _ => None,
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("anycastd: cannot start the async runtime: {e}");
            return 2;
        }
    };
    rt.block_on(async {
        let mut client = match catalog::etcd::connect(&settings).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                return 2;
            }
        };
        let key = |vip: &IpAddr| format!("{}{vip}", settings.vips_prefix());
        match cmd {
            CatalogCommand::Put { .. } => {
                for (vip, doc) in file_docs.unwrap_or_default() {
                    let value = Json::Object(doc).to_string();
                    if let Err(e) = client.put(key(&vip), value, None).await {
                        eprintln!("{}: cannot write: {e}", key(&vip));
                        return 2;
                    }
                    println!("{}: written", key(&vip));
                }
                0
            }
            CatalogCommand::Get { vip, .. } => {
                let snapshot = match catalog::etcd::range(&mut client, &settings).await {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("{e}");
                        return 2;
                    }
                };
                match vip {
                    Some(vip) => match snapshot.documents.get(&key(vip)) {
                        Some(value) => {
                            match serde_json::from_str::<Json>(value) {
                                Ok(v) => println!(
                                    "{}",
                                    serde_json::to_string_pretty(&v).unwrap_or_default()
                                ),
                                Err(_) => println!("{value}"),
                            }
                            0
                        }
                        None => {
                            eprintln!("{}: no such key", key(vip));
                            1
                        }
                    },
                    None => {
                        for (k, v) in &snapshot.documents {
                            println!("{k} {v}");
                        }
                        0
                    }
                }
            }
            CatalogCommand::Del { vip, .. } => match client.delete(key(vip), None).await {
                Ok(resp) if resp.deleted() > 0 => {
                    println!("{}: deleted", key(vip));
                    0
                }
                Ok(_) => {
                    eprintln!("{}: no such key", key(vip));
                    1
                }
                Err(e) => {
                    eprintln!("{}: cannot delete: {e}", key(vip));
                    2
                }
            },
            CatalogCommand::Check { .. } => {
                match catalog::etcd::range(&mut client, &settings).await {
                    Ok(snapshot) => print_check(&text, &cfg, &settings.prefix, &snapshot),
                    Err(e) => {
                        eprintln!("{e}");
                        2
                    }
                }
            }
        }
    })
}

/// `anycastd check --catalog`: the node's file was valid; now the catalog it would merge.
pub fn check_current(path: &Path) -> i32 {
    command(&CatalogCommand::Check {
        node: NodeArgs {
            config: path.to_path_buf(),
        },
    })
}

/// One line per document, as the daemon would judge it on this node; 1 when any is refused.
fn print_check(text: &str, cfg: &Config, prefix: &str, snapshot: &catalog::Snapshot) -> i32 {
    let merged = Merger::new().merge(text, cfg, prefix, snapshot);
    let refused: std::collections::HashMap<&str, &str> = merged
        .rejected
        .iter()
        .map(|r| (r.key.as_str(), r.error.as_str()))
        .collect();
    let taken: std::collections::HashSet<&str> = merged.vips.values().map(String::as_str).collect();
    for key in snapshot.documents.keys() {
        match refused.get(key.as_str()) {
            Some(error) => println!("{key}: refused: {error}"),
            None if taken.contains(key.as_str()) => println!("{key}: ok"),
            None => println!("{key}: ok (not for this node: node_labels)"),
        }
    }
    println!(
        "catalog revision {}: {} documents, {} for this node, {} refused",
        snapshot.revision,
        snapshot.documents.len(),
        merged.vips.len(),
        merged.rejected.len()
    );
    i32::from(!merged.rejected.is_empty())
}

/// One VIP to write: its address (the key) and its document.
pub type Document = (IpAddr, Map<String, Json>);

#[derive(Debug, PartialEq)]
pub enum Failure {
    Unreadable(String),
    /// Lines to print, `FILE:LINE:COL: message` (TOML) or `FILE: message` (JSON).
    Invalid(Vec<String>),
}

/// The VIP documents of a catalog file, validated against the node's `[node]` and `[bgp]`.
pub fn documents_from_file(path: &Path, node_text: &str) -> Result<Vec<Document>, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Unreadable(format!("{}: cannot read: {e}", path.display())))?;
    let name = path.display().to_string();
    if path.extension().is_some_and(|e| e == "json") {
        json_documents(&name, &text, node_text)
    } else {
        toml_documents(&name, &text, node_text)
    }
}

/// The node's file without its own VIPs and catalog: what a fleet VIP is validated beside.
fn node_rest(node_text: &str) -> String {
    match node_text.parse::<toml_edit::DocumentMut>() {
        Ok(mut doc) => {
            doc.remove("vip");
            doc.to_string()
        }
        Err(_) => node_text.to_string(),
    }
}

/// 1-based line and column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// TOML: `[[vip]]` tables only. `node_labels` is checked here and blanked out (same length,
/// so every other error keeps its line and column) before the file goes through
/// `config::parse` with the node's `[node]` and `[bgp]` after it.
pub fn toml_documents(name: &str, text: &str, node_text: &str) -> Result<Vec<Document>, Failure> {
    use toml::de::{DeTable, DeValue};
    let at = |offset: usize, msg: String| {
        let (l, c) = line_col(text, offset);
        format!("{name}:{l}:{c}: {msg}")
    };
    let doc = DeTable::parse(text).map_err(|e| {
        Failure::Invalid(vec![at(
            e.span().map_or(0, |s| s.start),
            e.message().to_string(),
        )])
    })?;
    let mut errors = Vec::new();
    let mut blanks = Vec::new();
    for (key, value) in doc.get_ref() {
        if key.get_ref() != "vip" {
            errors.push(at(
                key.span().start,
                format!(
                    "{}: only [[vip]] tables belong in a catalog file (the node's own keys stay in its file)",
                    key.get_ref()
                ),
            ));
            continue;
        }
        let DeValue::Array(vips) = value.get_ref() else {
            continue; // config::parse says what is wrong
        };
        for (i, vip) in vips.iter().enumerate() {
            let DeValue::Table(t) = vip.get_ref() else {
                continue;
            };
            let Some((k, v)) = t.get_key_value(catalog::model::NODE_LABELS) else {
                continue;
            };
            let here = format!("vip[{i}].{}", catalog::model::NODE_LABELS);
            match v.get_ref() {
                DeValue::Array(items) => {
                    for (j, item) in items.iter().enumerate() {
                        let problem = match item.get_ref() {
                            DeValue::String(s) => config::valid_label(s).err(),
                            _ => Some("expected a label (a string)".to_string()),
                        };
                        if let Some(p) = problem {
                            errors.push(at(item.span().start, format!("{here}[{j}]: {p}")));
                        }
                    }
                }
                _ => errors.push(at(
                    v.span().start,
                    format!("{here}: expected an array of labels"),
                )),
            }
            blanks.push(k.span().start..v.span().end);
        }
    }
    let mut blanked: Vec<u8> = text.as_bytes().to_vec();
    for span in blanks {
        for b in &mut blanked[span] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    }
    let blanked = String::from_utf8_lossy(&blanked).into_owned();
    let file_lines = blanked.matches('\n').count() + 1;
    let combined = format!("{blanked}\n{}", node_rest(node_text));
    if let Err(e) = config::parse(&combined, name) {
        for err in e.errors {
            if err.line <= file_lines {
                errors.push(format!("{name}:{}:{}: {}", err.line, err.col, err.message));
            } else {
                errors.push(format!("{name}: beside the node's file: {}", err.message));
            }
        }
    }
    let table: toml::Table =
        toml::from_str(text).map_err(|e| Failure::Invalid(vec![format!("{name}: {e}")]))?;
    let vips = match table.get("vip") {
        Some(toml::Value::Array(v)) if !v.is_empty() => v.clone(),
        _ => {
            errors.push(format!("{name}:1:1: no [[vip]] table: nothing to put"));
            Vec::new()
        }
    };
    if !errors.is_empty() {
        errors.sort_by_key(|line| position_key(name, line));
        errors.dedup();
        return Err(Failure::Invalid(errors));
    }
    vips.into_iter()
        .map(|v| {
            let Ok(Json::Object(doc)) = serde_json::to_value(v) else {
                return Err(Failure::Invalid(vec![format!(
                    "{name}: a [[vip]] is not a table"
                )]));
            };
            let address = doc
                .get("address")
                .and_then(Json::as_str)
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| {
                    Failure::Invalid(vec![format!("{name}: a [[vip]] has no address")])
                })?;
            Ok((address, doc))
        })
        .collect()
}

/// Sorts `FILE:LINE:COL: …` lines by position.
fn position_key(name: &str, line: &str) -> (usize, usize) {
    let rest = line.strip_prefix(name).and_then(|r| r.strip_prefix(':'));
    let mut parts = rest.unwrap_or("").splitn(3, ':');
    let n = |p: Option<&str>| p.and_then(|s| s.parse().ok()).unwrap_or(usize::MAX);
    (n(parts.next()), n(parts.next()))
}

/// JSON: one VIP object, or an array of them, with the keys of a `[[vip]]` table.
pub fn json_documents(name: &str, text: &str, node_text: &str) -> Result<Vec<Document>, Failure> {
    let invalid = |m: String| Failure::Invalid(vec![format!("{name}: {m}")]);
    let value: Json = serde_json::from_str(text)
        .map_err(|e| Failure::Invalid(vec![format!("{name}:{}:{}: {e}", e.line(), e.column())]))?;
    let objects = match value {
        Json::Object(o) => vec![o],
        Json::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Json::Object(o) => Ok(o),
                _ => Err(invalid("expected VIP objects in the array".into())),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(invalid("expected a VIP object, or an array of them".into())),
    };
    let mut docs = Vec::new();
    let mut tables = String::new();
    let mut errors = Vec::new();
    for (i, doc) in objects.into_iter().enumerate() {
        let mut body = doc.clone();
        if let Some(labels) = body.remove(catalog::model::NODE_LABELS) {
            let ok = labels.as_array().is_some_and(|a| {
                a.iter()
                    .all(|l| l.as_str().is_some_and(|s| config::valid_label(s).is_ok()))
            });
            if !ok {
                errors.push(format!(
                    "{name}: vip[{i}].node_labels: expected an array of labels (one word each)"
                ));
            }
        }
        let Some(address) = body
            .get("address")
            .and_then(Json::as_str)
            .and_then(|a| a.parse::<IpAddr>().ok())
        else {
            errors.push(format!(
                "{name}: vip[{i}].address: a VIP address is required"
            ));
            continue;
        };
        match config::edit::vip_table_text(&body) {
            Ok(t) => {
                tables.push_str(&t);
                tables.push('\n');
            }
            Err(e) => errors.push(format!("{name}: vip[{i}]: {e}")),
        }
        docs.push((address, doc));
    }
    if errors.is_empty() {
        let combined = format!("{tables}\n{}", node_rest(node_text));
        if let Err(e) = config::parse(&combined, name) {
            for err in e.errors {
                let m = config::naming::message_by_name(&combined, &err.message);
                errors.push(format!("{name}: {m}"));
            }
        }
    }
    if errors.is_empty() {
        Ok(docs)
    } else {
        Err(Failure::Invalid(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: &str = "[node]\nrouter_id = \"10.0.1.2\"\nasn = 65001\n\n[[bgp.peer]]\n\
        address = \"10.0.1.1\"\nasn = 65000\n\n[[vip]]\naddress = \"10.100.0.1\"\n\n\
        [catalog]\netcd = [\"http://10.0.9.1:2379\"]\n";

    #[test]
    fn a_toml_file_gives_one_document_per_vip_with_its_node_labels() {
        let text =
            "[[vip]]\naddress = \"10.100.0.2\"\nnode_labels = [\"edge\"]\ninterface = \"lo\"\n\n\
                    [[vip]]\naddress = \"10.100.0.3\"\n";
        let docs = toml_documents("web.toml", text, NODE).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].0.to_string(), "10.100.0.2");
        assert_eq!(docs[0].1["node_labels"], serde_json::json!(["edge"]));
        assert_eq!(docs[0].1["interface"], "lo");
        // The local VIP of the node's file is no concern of the fleet's.
        assert_eq!(docs[1].0.to_string(), "10.100.0.3");
    }

    #[test]
    fn toml_errors_are_file_line_col_as_check_says_them_node_labels_included() {
        let text = "[[vip]]\naddress = \"10.100.0.2\"\nnode_labels = [\"ed ge\"]\nmed = -1\n\
                    [[vip.service]]\nname = \"web\"\nport = 80\nprotocol = \"tcpx\"\n";
        let Err(Failure::Invalid(lines)) = toml_documents("web.toml", text, NODE) else {
            panic!("invalid")
        };
        assert!(
            lines[0].starts_with("web.toml:3:16: vip[0].node_labels[0]: label \"ed ge\""),
            "{lines:?}"
        );
        assert!(
            lines[1].starts_with("web.toml:4:7: vip[0].med:"),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("web.toml:8:12: vip[0].service[0].protocol")),
            "{lines:?}"
        );
    }

    #[test]
    fn a_toml_file_with_node_keys_or_no_vip_is_refused() {
        let Err(Failure::Invalid(lines)) = toml_documents("x.toml", "[node]\nasn = 1\n", NODE)
        else {
            panic!("invalid")
        };
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("x.toml:1:2: node: only [[vip]] tables")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.contains("no [[vip]] table")),
            "{lines:?}"
        );
    }

    #[test]
    fn json_documents_are_validated_and_named_by_address() {
        let ok =
            r#"[{"address": "10.100.0.2", "node_labels": ["edge"]}, {"address": "10.100.0.3"}]"#;
        let docs = json_documents("v.json", ok, NODE).unwrap();
        assert_eq!(docs.len(), 2);
        let bad = r#"{"address": "10.100.0.2", "service": [{"name": "web", "port": 0,
            "backend": [{"address": "10.0.10.1"}]}]}"#;
        let Err(Failure::Invalid(lines)) = json_documents("v.json", bad, NODE) else {
            panic!("invalid")
        };
        assert!(
            lines[0].starts_with("v.json: vip[10.100.0.2].service[web].port:"),
            "{lines:?}"
        );
        let Err(Failure::Invalid(lines)) = json_documents("v.json", "{\n  \"a\": ", NODE) else {
            panic!("invalid")
        };
        assert!(lines[0].starts_with("v.json:2:"), "{lines:?}");
    }

    #[test]
    fn the_shipped_catalog_example_is_valid_beside_the_shipped_fleet_node() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config-examples");
        let node = std::fs::read_to_string(root.join("fleet-node.toml")).unwrap();
        let docs = documents_from_file(&root.join("catalog/web.json"), &node).unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].1["node_labels"], serde_json::json!(["edge"]));
    }
}
