//! Accepts inbound BGP connections (when `bgp.listen` is set) and hands each to its peer's
//! session task. Connections from addresses that are not configured peers are closed at once.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::session::Command;

/// Peer address → that peer's session command channel.
pub(crate) type Directory = Arc<Mutex<HashMap<IpAddr, mpsc::UnboundedSender<Command>>>>;

pub(crate) async fn run(listener: TcpListener, directory: Directory) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Usually EMFILE/ENFILE: back off briefly instead of spinning.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let addr = remote.ip().to_canonical();
        let tx = directory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&addr)
            .cloned();
        match tx {
            Some(tx) => {
                debug!(peer = %addr, "inbound connection");
                let _ = stream.set_nodelay(true);
                let _ = tx.send(Command::Inbound(stream));
            }
            None => debug!(from = %remote, "inbound connection from an unknown address closed"),
        }
    }
}

/// Binds the listening socket. On reload the previous listener (same port) is aborted just
/// before, and may not have closed yet: retry briefly on "address in use".
pub(crate) async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let mut tries = 0;
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => {
                info!(listen = %addr, "accepting BGP connections");
                return Ok(l);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 20 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    }
}
