//! The catalog's decisions, pure: which documents become VIPs of this node, merged with the
//! node's own file, and which are refused and why; and the sync state `/status` shows.
//!
//! A document is validated exactly like the file: it is written as one more `[[vip]]` table
//! after the node's own file (`config::edit::vip_table_text`) and the whole text goes through
//! `config::parse`, the code `anycastd check` runs. A document that fails is refused alone,
//! named by its key; every other VIP is kept. All documents are validated together in one
//! parse of the merged text (as a file with the same VIPs would be); only when that parse
//! finds errors are the documents they fall in taken out, one parse per round. What does not
//! need the parse (key, JSON, labels, a clash with a local VIP, the TOML rendering) is
//! remembered per (key, value) while the file stays the same.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::config::{self, naming, Config};

/// The key in a document that targets nodes; not a `[[vip]]` key, so removed before
/// validation.
pub const NODE_LABELS: &str = "node_labels";

/// The catalog as read from etcd at one revision: key → value, every key under
/// `{prefix}/vips/`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub revision: i64,
    pub documents: BTreeMap<String, String>,
}

/// A document refused: its key and why, as `/status` `catalog.rejected` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub key: String,
    pub error: String,
}

/// The node's config with the catalog's VIPs in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    pub config: Config,
    /// The VIPs that came from the catalog, with their keys.
    pub vips: BTreeMap<IpAddr, String>,
    pub rejected: Vec<Rejected>,
    /// Documents that name labels this node does not carry.
    pub not_targeted: usize,
}

/// What one document means for this node, before the merged parse.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    /// Its `node_labels` are not all this node's.
    NotTargeted,
    Refused(String),
    /// A `[[vip]]` table (text) for this address, to be validated with the rest.
    Candidate {
        address: IpAddr,
        table: String,
    },
}

/// Merges catalog snapshots into the node's file, remembering each document's verdict for
/// as long as the file stays the same.
#[derive(Debug, Default)]
pub struct Merger {
    /// The file text the verdicts were reached against.
    file_text: String,
    verdicts: HashMap<String, (String, Verdict)>,
    /// The table each key had in the last merge that took it: a document that turns bad is
    /// refused but its previous version stays in force (a bad put loses nothing).
    good: HashMap<String, (IpAddr, String)>,
}

/// A document on its way into the merged config: key, address, table, and the key's previous
/// good table when that is another one (to fall back on if this one is refused).
type Entry = (String, IpAddr, String, Option<(IpAddr, String)>);

/// What a refusal adds when the previous version of the document stays in force.
const KEPT: &str = " (the previous version of this document stays in force)";

impl Merger {
    pub fn new() -> Merger {
        Merger::default()
    }

    /// The node's file (`file_text`, which parsed as `file`) with the snapshot's VIPs for this
    /// node. `file_name` only names the file in messages; `prefix` is `catalog.prefix`.
    pub fn merge(
        &mut self,
        file_text: &str,
        file: &Config,
        prefix: &str,
        snapshot: &Snapshot,
    ) -> Merged {
        if self.file_text != file_text {
            self.file_text = file_text.to_string();
            self.verdicts.clear();
        }
        let vips_prefix = format!("{prefix}/vips/");
        let local: HashSet<IpAddr> = file.vips.iter().map(|v| v.address).collect();
        let mut rejected = Vec::new();
        let mut not_targeted = 0;
        let mut accepted: Vec<Entry> = Vec::new();
        self.verdicts
            .retain(|key, _| snapshot.documents.contains_key(key));
        self.good
            .retain(|key, _| snapshot.documents.contains_key(key));
        for (key, value) in &snapshot.documents {
            let verdict = match self.verdicts.get(key) {
                Some((seen, verdict)) if seen == value => verdict.clone(),
                _ => {
                    let v = judge(file, &local, &vips_prefix, key, value);
                    self.verdicts
                        .insert(key.clone(), (value.clone(), v.clone()));
                    v
                }
            };
            let good = self.good.get(key).cloned();
            match verdict {
                Verdict::NotTargeted => not_targeted += 1,
                Verdict::Refused(mut error) => {
                    if let Some((address, table)) = good {
                        error.push_str(KEPT);
                        accepted.push((key.clone(), address, table, None));
                    }
                    rejected.push(Rejected {
                        key: key.clone(),
                        error,
                    })
                }
                Verdict::Candidate { address, table } => {
                    let fallback = good.filter(|(_, t)| *t != table);
                    accepted.push((key.clone(), address, table, fallback))
                }
            }
        }
        // One parse of the file with every candidate after it. Errors fall in the lines of the
        // documents that caused them (a document alone, or the later of two that clash: a
        // service name is unique per node); those are refused and the rest parsed again.
        loop {
            let (text, starts) = merged_text(file_text, &accepted);
            match config::parse(&text, "catalog") {
                Ok(config) => {
                    let vips = accepted
                        .iter()
                        .map(|(key, address, _, _)| (*address, key.clone()))
                        .collect();
                    self.good = accepted
                        .into_iter()
                        .map(|(key, address, table, _)| (key, (address, table)))
                        .collect();
                    rejected.sort_by(|a, b| a.key.cmp(&b.key));
                    rejected.dedup_by(|later, first| later.key == first.key);
                    return Merged {
                        config,
                        vips,
                        rejected,
                        not_targeted,
                    };
                }
                Err(e) => {
                    let mut blamed: BTreeMap<usize, Vec<String>> = BTreeMap::new();
                    for err in &e.errors {
                        // The document whose lines hold the error: the last that starts
                        // at or before it.
                        let at = starts.partition_point(|&s| s <= err.line);
                        let Some(doc) = at.checked_sub(1) else {
                            continue;
                        };
                        blamed.entry(doc).or_default().push(err.message.clone());
                    }
                    if blamed.is_empty() {
                        // Only the file is blamed, which parsed alone: refuse every document
                        // rather than serve a config that does not validate.
                        let why = format!("the merged configuration does not validate: {e}");
                        for (key, _, _, _) in accepted.drain(..) {
                            rejected.push(Rejected {
                                key,
                                error: why.clone(),
                            });
                        }
                        continue;
                    }
                    let local_vips = file.vips.len();
                    for (doc, messages) in blamed.iter().rev() {
                        let mut error = messages
                            .iter()
                            .map(|m| doc_message(local_vips + doc, &accepted[*doc].2, m))
                            .collect::<Vec<_>>()
                            .join("; ");
                        let key = match accepted[*doc].3.take() {
                            // Parsed again with its previous version in its place.
                            Some((address, table)) => {
                                error.push_str(KEPT);
                                let entry = &mut accepted[*doc];
                                (entry.1, entry.2) = (address, table);
                                entry.0.clone()
                            }
                            None => accepted.remove(*doc).0,
                        };
                        rejected.push(Rejected { key, error });
                    }
                }
            }
        }
    }
}

/// The file, then each accepted document's table; and the first line of each table.
fn merged_text(file_text: &str, accepted: &[Entry]) -> (String, Vec<usize>) {
    let mut text = String::with_capacity(file_text.len() + accepted.len() * 256);
    text.push_str(file_text);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let mut line = 1 + text.matches('\n').count();
    let mut starts = Vec::with_capacity(accepted.len());
    for (_, _, table, _) in accepted {
        text.push('\n');
        line += 1;
        starts.push(line);
        text.push_str(table);
        line += table.matches('\n').count();
    }
    (text, starts)
}

/// A document's validation message, its path said from the document: the document is
/// `vip[index]` of the merged text; it is named by address, services by name.
fn doc_message(index: usize, table: &str, message: &str) -> String {
    let own = format!("vip[{index}]");
    match naming::split_path(message) {
        Some((path, rest)) if path == own || path.starts_with(&format!("{own}.")) => {
            let path = format!("vip[0]{}", &path[own.len()..]);
            format!("{}: {rest}", naming::by_name(table, &path))
        }
        _ => message.to_string(),
    }
}

/// The verdict on one document, against the node's file.
fn judge(
    file: &Config,
    local: &HashSet<IpAddr>,
    vips_prefix: &str,
    key: &str,
    value: &str,
) -> Verdict {
    let address = match key
        .strip_prefix(vips_prefix)
        .map(|a| (a, a.parse::<IpAddr>()))
    {
        Some((_, Ok(a))) => a,
        _ => {
            return Verdict::Refused(format!(
                "the key does not name a VIP: expected {vips_prefix}ADDRESS"
            ))
        }
    };
    let mut body = match serde_json::from_str::<Json>(value) {
        Ok(Json::Object(body)) => body,
        Ok(other) => {
            return Verdict::Refused(format!(
                "expected a JSON object with the keys of a [[vip]] table, found {}",
                json_kind(&other)
            ))
        }
        Err(e) => return Verdict::Refused(format!("not JSON: {e}")),
    };
    match node_labels(&mut body) {
        Err(e) => return Verdict::Refused(e),
        Ok(wanted) => {
            if !wanted.iter().all(|l| file.labels.contains(l)) {
                return Verdict::NotTargeted;
            }
        }
    }
    match body.get("address") {
        None => {
            body.insert("address".into(), Json::String(address.to_string()));
        }
        Some(Json::String(s)) if s.parse::<IpAddr>().ok() == Some(address) => {}
        Some(other) => {
            return Verdict::Refused(format!(
                "address: the document says {other} but its key says {address}"
            ))
        }
    }
    if local.contains(&address) {
        return Verdict::Refused(format!(
            "VIP {address} is also a local [[vip]] of this node's file; the local one is kept"
        ));
    }
    match config::edit::vip_table_text(&body) {
        Ok(table) => Verdict::Candidate { address, table },
        Err(e) => Verdict::Refused(e.to_string()),
    }
}

/// Takes `node_labels` out of the document: an array of labels, each a word.
fn node_labels(body: &mut Map<String, Json>) -> Result<Vec<String>, String> {
    let Some(value) = body.remove(NODE_LABELS) else {
        return Ok(Vec::new());
    };
    let Json::Array(items) = value else {
        return Err(format!(
            "{NODE_LABELS}: expected an array of labels, found {}",
            json_kind(&value)
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Json::String(s) => config::valid_label(s)
                .map(|()| s.clone())
                .map_err(|e| format!("{NODE_LABELS}[{i}]: {e}")),
            other => Err(format!(
                "{NODE_LABELS}[{i}]: expected a label (a string), found {}",
                json_kind(other)
            )),
        })
        .collect()
}

fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// How current the applied catalog is, as `/status` `catalog.state` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncState {
    /// Read from etcd and watched: every change is applied as it comes.
    Synced,
    /// Serving what was last applied (or the cache file) while reading etcd again.
    Stale,
    /// etcd cannot be reached: serving the last catalog applied.
    Unreachable,
}

/// What the etcd task says about its link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// Not yet connected (start-up).
    Starting,
    /// Range read done, watch running from that revision.
    Watching,
    /// The watch ended (compaction, cancellation, a broken stream): reading afresh.
    Resyncing(String),
    /// The last attempt to reach etcd failed.
    Unreachable(String),
}

impl Link {
    pub fn state(&self) -> SyncState {
        match self {
            Link::Watching => SyncState::Synced,
            Link::Starting | Link::Resyncing(_) => SyncState::Stale,
            Link::Unreachable(_) => SyncState::Unreachable,
        }
    }

    pub fn error(&self) -> Option<&str> {
        match self {
            Link::Resyncing(e) | Link::Unreachable(e) => Some(e),
            Link::Starting | Link::Watching => None,
        }
    }
}

/// `/status` `catalog`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogStatus {
    pub state: SyncState,
    /// The etcd revision of the catalog in force (0: none applied yet).
    pub revision: i64,
    /// The last error talking to etcd (kept after recovery, until the next error).
    pub last_error: Option<String>,
    /// Where the catalog in force came from: `"etcd"`, `"cache"` or `"none"`.
    pub source: String,
    /// VIPs of this node from the catalog.
    pub vips: usize,
    /// Documents for other nodes (`node_labels` this node does not carry).
    pub not_targeted: usize,
    pub rejected: Vec<Rejected>,
}

#[cfg(test)]
mod tests;
