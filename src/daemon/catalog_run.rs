//! The fleet catalog as the owner loop keeps it (`[catalog]`): the etcd task, the snapshot in
//! force (from etcd or the cache file) and what the last merge made of it. The decisions are
//! `catalog::model`'s; the loop applies the merged config through its SIGHUP path.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::state_file;
use crate::catalog::etcd::CatalogWatch;
use crate::catalog::{self, CatalogStatus, Link, Merger, Snapshot};
use crate::config::{self, Config};

/// The next word from the etcd task; never completes without `[catalog]`.
pub(super) async fn catalog_changed(run: Option<&mut CatalogRun>) {
    match run.and_then(|r| r.watch.as_mut()) {
        Some(w) => {
            if w.feed.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// The catalog as the owner loop keeps it: the etcd task, the snapshot in force, and what
/// the last merge made of it.
pub(super) struct CatalogRun {
    pub(super) settings: config::Catalog,
    /// `catalog.cache` resolved (see [`config::Catalog::cache_path`]).
    pub(super) cache: PathBuf,
    pub(super) watch: Option<CatalogWatch>,
    pub(super) merger: Merger,
    /// The snapshot in force (from etcd or the cache file).
    pub(super) applied: Option<Arc<Snapshot>>,
    pub(super) revision: i64,
    pub(super) source: &'static str,
    pub(super) link: Link,
    pub(super) last_error: Option<String>,
    /// VIPs from the catalog in the config in force, with their keys.
    pub(super) vips: std::collections::BTreeMap<std::net::IpAddr, String>,
    pub(super) rejected: Vec<catalog::Rejected>,
    pub(super) not_targeted: usize,
}

impl CatalogRun {
    /// Reads the cache file (the catalog until etcd answers).
    pub(super) fn new(settings: &config::Catalog, config_path: &Path) -> CatalogRun {
        let cache = settings.cache_path(config_path, state_file::state_directory().as_deref());
        let mut run = CatalogRun {
            settings: settings.clone(),
            cache,
            watch: None,
            merger: Merger::new(),
            applied: None,
            revision: 0,
            source: "none",
            link: Link::Starting,
            last_error: None,
            vips: Default::default(),
            rejected: Vec::new(),
            not_targeted: 0,
        };
        match catalog::cache::load(&run.cache, &settings.prefix) {
            Ok(Some(snapshot)) => {
                tracing::info!(
                    revision = snapshot.revision,
                    documents = snapshot.documents.len(),
                    "catalog: serving the cache file {} until etcd answers",
                    run.cache.display()
                );
                run.revision = snapshot.revision;
                run.applied = Some(Arc::new(snapshot));
                run.source = "cache";
            }
            Ok(None) => tracing::info!(
                "catalog: no cache file {} yet; no catalog VIPs until etcd answers",
                run.cache.display()
            ),
            Err(e) => {
                tracing::error!("catalog: cache file not used: {e}");
                run.last_error = Some(format!("cache file not used: {e}"));
            }
        }
        run
    }

    pub(super) fn start_watch(&mut self) {
        self.watch = Some(CatalogWatch::start(&self.settings));
    }

    /// Waits up to `limit` for the etcd task's first catalog, or its first failure, and takes
    /// it as the catalog in force.
    pub(super) async fn await_first_snapshot(&mut self, limit: Duration) {
        let Some(watch) = self.watch.as_mut() else {
            return;
        };
        let mut feed = watch.feed.clone();
        let first = tokio::time::timeout(limit, async {
            loop {
                {
                    let f = feed.borrow_and_update();
                    if f.snapshot.is_some() || matches!(f.link, Link::Unreachable(_)) {
                        return;
                    }
                }
                if feed.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        if first.is_err() {
            tracing::warn!("catalog: no answer from etcd within {limit:?}; starting without it");
            return;
        }
        if let Some(snapshot) = self.take_feed() {
            self.revision = snapshot.revision;
            self.applied = Some(snapshot);
            self.source = "etcd";
            self.save_cache();
        }
    }

    /// The node's file with the catalog in force.
    pub(super) fn merge(&mut self, file_text: &str, file: &Config) -> Config {
        let empty = Snapshot::default();
        let snapshot = self.applied.clone();
        let snapshot = snapshot.as_deref().unwrap_or(&empty);
        let merged = self
            .merger
            .merge(file_text, file, &self.settings.prefix, snapshot);
        for r in &merged.rejected {
            if !self.rejected.contains(r) {
                tracing::warn!(key = %r.key, "catalog: document refused: {}", r.error);
            }
        }
        self.vips = merged.vips;
        self.rejected = merged.rejected;
        self.not_targeted = merged.not_targeted;
        merged.config
    }

    /// Takes the etcd task's latest word; returns a snapshot that differs from the one in
    /// force.
    pub(super) fn take_feed(&mut self) -> Option<Arc<Snapshot>> {
        let feed = self.watch.as_mut()?.feed.borrow_and_update().clone();
        if let Some(e) = feed.link.error() {
            self.last_error = Some(e.to_string());
        }
        self.link = feed.link;
        let snapshot = feed.snapshot?;
        let same = self.applied.as_deref() == Some(&*snapshot);
        if self.source == "etcd" && same {
            return None;
        }
        if same {
            // The cache said the same as etcd: now it is etcd's.
            self.source = "etcd";
            return None;
        }
        Some(snapshot)
    }

    /// Makes `snapshot` (from etcd) the one in force and merges it.
    pub(super) fn merge_snapshot(
        &mut self,
        file_text: &str,
        file: &Config,
        snapshot: Arc<Snapshot>,
    ) -> Config {
        self.revision = snapshot.revision;
        self.applied = Some(snapshot);
        self.source = "etcd";
        self.merge(file_text, file)
    }

    /// Writes the snapshot in force to the cache file; an error is logged and shown.
    pub(super) fn save_cache(&mut self) {
        let Some(snapshot) = &self.applied else {
            return;
        };
        if let Err(e) = catalog::cache::save(&self.cache, &self.settings.prefix, snapshot) {
            tracing::error!("catalog: {e}; a start without etcd would not have this revision");
            self.last_error = Some(format!("cache file: {e}"));
        }
    }

    pub(super) fn status(&self) -> CatalogStatus {
        CatalogStatus {
            state: self.link.state(),
            revision: self.revision,
            last_error: self.last_error.clone(),
            source: self.source.to_string(),
            vips: self.vips.len(),
            not_targeted: self.not_targeted,
            rejected: self.rejected.clone(),
        }
    }
}
