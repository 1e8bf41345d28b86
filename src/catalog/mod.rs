//! The fleet catalog (issue 16): VIPs kept once in etcd, under `{prefix}/vips/{address}`, each
//! a JSON document with the keys of a `[[vip]]` table, announced by every node whose labels
//! the document's `node_labels` name.
//!
//! - `model.rs`: pure decisions. Documents validated by the config's own code, label
//!   targeting, the merge with the node's file (a clash with a local VIP is refused), the
//!   sync state. Unit-tested beside it.
//! - `etcd.rs`: the edge. Range read, watch from that revision, reconnect with backoff, a
//!   fresh range read after compaction or cancellation.
//! - `cache.rs`: the last applied catalog on disk (written atomically), served from at a
//!   start while etcd is down.
//!
//! The daemon applies a new catalog through its SIGHUP path (`daemon::runtime`), so BGP
//! sessions stay up and IPVS sees only the operations the change needs.

pub mod cache;
pub mod etcd;
pub mod model;

pub use model::{CatalogStatus, Link, Merged, Merger, Rejected, Snapshot, SyncState};
