//! The etcd edge: connect, range-read `{prefix}/vips/`, watch from the revision after it, and
//! hand every new catalog to the owner loop as a whole [`Snapshot`] on a `watch` channel
//! (latest wins, so a burst of puts is applied once).
//!
//! ```text
//!   etcd ──range──▶ Snapshot(rev) ──watch from rev+1──▶ Snapshot(rev') …
//!     │ error: Link::Unreachable, backoff 100 ms … 5 s, connect again
//!     │ compaction or cancellation: Link::Resyncing, range read again
//!     ▼
//!   watch::Sender<Feed> ──▶ daemon owner loop (merge, apply like SIGHUP, cache file)
//! ```
//!
//! Nothing here withdraws anything: a lost connection only changes the link state; the loop
//! keeps what it applied until a new snapshot says otherwise.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{
    Certificate, Client, ConnectOptions, EventType, GetOptions, Identity, TlsOptions, WatchOptions,
};
use tokio::sync::watch;

use super::model::{Link, Snapshot};
use crate::config::Catalog;

/// First and longest wait between attempts to reach etcd.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Per-request and connect time limits: a dead endpoint is noticed in seconds.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/2 keep-alive on the watch: a silent partition ends the stream in ~15 s. Not more
/// often than every 5 s: etcd's `--grpc-keepalive-min-time` (default 5 s) answers more
/// frequent pings with GOAWAY ("too many pings"), which broke the watch every ~12 s.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the etcd task last said: its link, and the newest catalog read (`None` before the
/// first range read succeeded).
#[derive(Debug, Clone)]
pub struct Feed {
    pub link: Link,
    pub snapshot: Option<Arc<Snapshot>>,
}

/// The task that follows the catalog; dropping it stops the task.
pub struct CatalogWatch {
    task: tokio::task::JoinHandle<()>,
    pub feed: watch::Receiver<Feed>,
}

impl Drop for CatalogWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CatalogWatch {
    /// Whether the task ended: it only ends by panicking.
    pub fn ended(&self) -> bool {
        self.task.is_finished()
    }

    pub fn start(catalog: &Catalog) -> CatalogWatch {
        let (tx, feed) = watch::channel(Feed {
            link: Link::Starting,
            snapshot: None,
        });
        let catalog = catalog.clone();
        // task: catalog watch
        let task = tokio::spawn(follow(catalog, tx));
        CatalogWatch { task, feed }
    }
}

/// Connection options from `[catalog]`: TLS (rustls, the CA and optional client identity
/// read from their PEM files) and user/password.
pub fn connect_options(catalog: &Catalog) -> Result<ConnectOptions, String> {
    let mut options = ConnectOptions::new()
        .with_connect_timeout(CONNECT_TIMEOUT)
        .with_timeout(REQUEST_TIMEOUT)
        .with_keep_alive(KEEPALIVE_INTERVAL, KEEPALIVE_TIMEOUT)
        .with_keep_alive_while_idle(true);
    if let (Some(user), Some(password)) = (&catalog.username, &catalog.password) {
        options = options.with_user(user.clone(), password.clone());
    }
    if let Some(ca) = &catalog.ca {
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| format!("catalog: cannot read {}: {e}", p.display()))
        };
        let mut tls = TlsOptions::new().ca_certificate(Certificate::from_pem(read(ca)?));
        if let (Some(cert), Some(key)) = (&catalog.cert, &catalog.key) {
            tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        options = options.with_tls(tls);
    }
    Ok(options)
}

/// Connects to the catalog's endpoints.
pub async fn connect(catalog: &Catalog) -> Result<Client, String> {
    let options = connect_options(catalog)?;
    Client::connect(&catalog.etcd, Some(options))
        .await
        .map_err(|e| format!("cannot connect to etcd ({}): {e}", catalog.etcd.join(", ")))
}

/// Every document under `{prefix}/vips/`, with the revision of the read.
pub async fn range(client: &mut Client, catalog: &Catalog) -> Result<Snapshot, String> {
    let prefix = catalog.vips_prefix();
    let resp = client
        .get(prefix.as_str(), Some(GetOptions::new().with_prefix()))
        .await
        .map_err(|e| format!("range read of {prefix}: {e}"))?;
    let revision = resp.header().map_or(0, |h| h.revision());
    let mut documents = BTreeMap::new();
    for kv in resp.kvs() {
        let (Ok(key), Ok(value)) = (kv.key_str(), kv.value_str()) else {
            // Not UTF-8: kept, so the merge refuses it by name rather than hiding it.
            documents.insert(
                String::from_utf8_lossy(kv.key()).into_owned(),
                String::from_utf8_lossy(kv.value()).into_owned(),
            );
            continue;
        };
        documents.insert(key.to_string(), value.to_string());
    }
    Ok(Snapshot {
        revision,
        documents,
    })
}

async fn follow(catalog: Catalog, tx: watch::Sender<Feed>) {
    let mut backoff = BACKOFF_MIN;
    let mut client: Option<Client> = None;
    // Each new error is logged at warn; the same one again, every retry, at debug.
    let mut logged: Option<String> = None;
    loop {
        let why = match sync(&catalog, &mut client, &tx, &mut backoff).await {
            Ended::Resync(why) => {
                tx.send_modify(|f| f.link = Link::Resyncing(why.clone()));
                tracing::warn!("catalog: {why}; reading the catalog afresh");
                continue;
            }
            Ended::Unreachable(why) => why,
        };
        if tx.borrow().link == Link::Watching {
            logged = None; // it worked in between: say it again
        }
        if logged.as_deref() == Some(why.as_str()) {
            tracing::debug!("catalog: {why}; retrying in {backoff:?}");
        } else {
            tracing::warn!("catalog: {why}; serving the last catalog applied, retrying");
            logged = Some(why.clone());
        }
        tx.send_modify(|f| f.link = Link::Unreachable(why));
        client = None;
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

enum Ended {
    /// The watch ended but etcd answers: read again at once.
    Resync(String),
    /// etcd does not answer: wait, connect again.
    Unreachable(String),
}

/// One range read and the watch after it, until the watch ends.
async fn sync(
    catalog: &Catalog,
    client: &mut Option<Client>,
    tx: &watch::Sender<Feed>,
    backoff: &mut Duration,
) -> Ended {
    let c = match client {
        Some(c) => c,
        None => match connect(catalog).await {
            Ok(c) => client.insert(c),
            Err(e) => return Ended::Unreachable(e),
        },
    };
    let mut snapshot = match range(c, catalog).await {
        Ok(s) => s,
        Err(e) => return Ended::Unreachable(e),
    };
    let prefix = catalog.vips_prefix();
    let options = WatchOptions::new()
        .with_prefix()
        .with_start_revision(snapshot.revision + 1);
    let mut stream = match c.watch(prefix.as_str(), Some(options)).await {
        Ok(s) => s,
        Err(e) => return Ended::Unreachable(format!("watch of {prefix}: {e}")),
    };
    *backoff = BACKOFF_MIN;
    tracing::info!(
        revision = snapshot.revision,
        documents = snapshot.documents.len(),
        "catalog: read, watching for changes"
    );
    tx.send_replace(Feed {
        link: Link::Watching,
        snapshot: Some(Arc::new(snapshot.clone())),
    });
    loop {
        let resp = match stream.message().await {
            Ok(Some(resp)) => resp,
            Ok(None) => return Ended::Unreachable("the watch stream ended".into()),
            Err(e) => return Ended::Unreachable(format!("watch of {prefix}: {e}")),
        };
        if resp.compact_revision() > 0 {
            return Ended::Resync(format!(
                "the watch fell behind a compaction (revision {})",
                resp.compact_revision()
            ));
        }
        if resp.canceled() {
            let reason = resp.cancel_reason();
            return Ended::Resync(format!("etcd cancelled the watch ({reason})"));
        }
        if resp.events().is_empty() {
            continue;
        }
        for event in resp.events() {
            let Some(kv) = event.kv() else { continue };
            let key = String::from_utf8_lossy(kv.key()).into_owned();
            match event.event_type() {
                EventType::Put => {
                    let value = String::from_utf8_lossy(kv.value()).into_owned();
                    snapshot.documents.insert(key, value);
                }
                EventType::Delete => {
                    snapshot.documents.remove(&key);
                }
            }
            snapshot.revision = snapshot.revision.max(kv.mod_revision());
        }
        if let Some(h) = resp.header() {
            snapshot.revision = snapshot.revision.max(h.revision());
        }
        tx.send_replace(Feed {
            link: Link::Watching,
            snapshot: Some(Arc::new(snapshot.clone())),
        });
    }
}
