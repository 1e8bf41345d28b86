//! The open connections, oldest first, and which of them are in a request: at the cap, the
//! server closes the oldest idle one to make room for a new client.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::sync::Notify;

/// Every open connection by accept order.
#[derive(Debug, Clone, Default)]
pub(super) struct Table {
    inner: Arc<Mutex<Entries>>,
}

#[derive(Debug, Default)]
struct Entries {
    next: u64,
    open: BTreeMap<u64, Arc<Conn>>,
}

/// One connection's flags, shared between its task and the table.
#[derive(Debug, Default)]
pub(super) struct Conn {
    /// A request is being handled (its body read, the daemon loop asked).
    busy: AtomicBool,
    /// Chosen for eviction; never chosen twice.
    evicting: AtomicBool,
    evict: Notify,
}

impl Conn {
    /// Marks the connection busy until the guard is dropped.
    pub(super) fn busy(self: &Arc<Conn>) -> Busy {
        self.busy.store(true, Ordering::SeqCst);
        Busy(self.clone())
    }

    /// Resolves once the server chose this connection to close.
    pub(super) async fn evicted(&self) {
        self.evict.notified().await
    }
}

/// Clears [`Conn::busy`] when the request's handler is done.
pub(super) struct Busy(Arc<Conn>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::SeqCst);
    }
}

/// Removes the connection from the table when its task ends.
pub(super) struct Registered {
    table: Table,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.table.lock().open.remove(&self.id);
    }
}

impl Table {
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a connection; it stays in the table while the returned guard lives.
    pub(super) fn register(&self) -> (Arc<Conn>, Registered) {
        let conn = Arc::new(Conn::default());
        let mut entries = self.lock();
        let id = entries.next;
        entries.next += 1;
        entries.open.insert(id, conn.clone());
        drop(entries);
        let registered = Registered {
            table: self.clone(),
            id,
        };
        (conn, registered)
    }

    /// Asks the oldest connection that is not in a request (nor already asked) to close;
    /// false when every connection is in a request.
    pub(super) fn evict_oldest_idle(&self) -> bool {
        let entries = self.lock();
        let victim = entries
            .open
            .values()
            .find(|c| !c.busy.load(Ordering::SeqCst) && !c.evicting.load(Ordering::SeqCst));
        match victim {
            Some(c) => {
                c.evicting.store(true, Ordering::SeqCst);
                // notify_one keeps the wake-up for a task that is not waiting yet.
                c.evict.notify_one();
                true
            }
            None => false,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().open.len()
    }
}

/// Answers a connection beyond the cap with 503 and closes it. Never waits: the answer fits
/// in a fresh socket's send buffer, and a client that cannot take it gets the close alone.
pub(super) fn refuse(stream: TcpStream, max_connections: usize) {
    let body = format!(
        "too many API connections (api.max_connections = {max_connections}, all in a request); \
         try again shortly\n"
    );
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.try_write(answer.as_bytes());
}

/// Rate-limits the warning about refused connections: a flood must not flood the log.
#[derive(Debug)]
pub(super) struct Refusals {
    every: Duration,
    last_warning: Option<Instant>,
    since: u64,
}

impl Refusals {
    pub(super) fn new(every: Duration) -> Refusals {
        Refusals {
            every,
            last_warning: None,
            since: 0,
        }
    }

    /// Counts one refusal; warns for the first, then at most once per `every`.
    pub(super) fn note(&mut self, peer: SocketAddr, max_connections: usize) {
        self.since += 1;
        if self.last_warning.is_some_and(|t| t.elapsed() < self.every) {
            return;
        }
        tracing::warn!(%peer, refused = self.since, max_connections,
            "api: connection refused with 503: every API connection is in a request");
        self.last_warning = Some(Instant::now());
        self.since = 0;
    }
}

/// Runs a closure when dropped.
pub(super) struct OnDrop<F: FnMut()>(pub(super) F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_idle_connection_is_evicted_and_busy_ones_are_kept() {
        let table = Table::default();
        let (first, _r1) = table.register();
        let (second, _r2) = table.register();
        let (third, _r3) = table.register();
        let busy = first.busy();
        assert!(table.evict_oldest_idle());
        assert!(!first.evicting.load(Ordering::SeqCst));
        assert!(second.evicting.load(Ordering::SeqCst));
        assert!(table.evict_oldest_idle());
        assert!(third.evicting.load(Ordering::SeqCst));
        // The first is still in its request; nothing else is left to evict.
        assert!(!table.evict_oldest_idle());
        drop(busy);
        assert!(table.evict_oldest_idle());
        assert!(first.evicting.load(Ordering::SeqCst));
    }

    #[test]
    fn a_connection_leaves_the_table_when_its_guard_drops() {
        let table = Table::default();
        let (_c, registered) = table.register();
        assert_eq!(table.len(), 1);
        drop(registered);
        assert_eq!(table.len(), 0);
        assert!(!table.evict_oldest_idle());
    }
}
