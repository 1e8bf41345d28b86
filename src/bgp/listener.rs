//! Accepts inbound BGP connections (when `bgp.listen` is set) and hands each to its peer's
//! session task. Connections from addresses that are not configured peers are closed at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use super::session::Command;
use super::sockopt;

/// Peer address → that peer's session command channel.
pub(crate) type Directory = Arc<Mutex<HashMap<IpAddr, mpsc::UnboundedSender<Command>>>>;

/// A bound listener and the peers whose MD5 key could not be installed on it: their
/// connections are closed, never run unsigned.
pub(crate) struct Bound {
    listener: TcpListener,
    unkeyed: BTreeSet<IpAddr>,
}

/// The listener as `/status` shows it; written by its task.
pub(crate) type State = Arc<Mutex<crate::status::ListenerStatus>>;

/// First and longest wait between attempts to bind a listener that could not bind (the
/// address not on the host yet, the port taken by another process).
const BIND_RETRY: Duration = Duration::from_secs(1);
const BIND_RETRY_MAX: Duration = Duration::from_secs(30);

/// The listener task: binds `addr` (retrying with a doubling wait while it cannot) and then
/// accepts for as long as it runs. It ends only when aborted (reconfiguration, shutdown) or
/// by panicking, which the speaker's supervision restarts.
pub(crate) async fn serve(addr: SocketAddr, keys: ListenKeys, directory: Directory, state: State) {
    let mut wait = BIND_RETRY;
    loop {
        match bind(addr, &keys).await {
            Ok(bound) => {
                set_state(&state, true, None);
                run(bound, directory.clone()).await;
            }
            Err(e) => {
                error!(listen = %addr, error = %e, retry_in = ?wait, "cannot listen for BGP");
                set_state(&state, false, Some(format!("cannot listen on {addr}: {e}")));
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(BIND_RETRY_MAX);
            }
        }
    }
}

fn set_state(state: &State, listening: bool, last_error: Option<String>) {
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    s.listening = listening;
    s.last_error = last_error;
}

async fn run(bound: Bound, directory: Directory) {
    let Bound { listener, unkeyed } = bound;
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => {
                crate::fault::inject("bgp-listener");
                x
            }
            Err(e) => {
                // Usually EMFILE/ENFILE: back off briefly instead of spinning.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let addr = remote.ip().to_canonical();
        if unkeyed.contains(&addr) {
            warn!(peer = %addr, "inbound connection closed: this peer's TCP MD5 key is not installed");
            continue;
        }
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

/// TCP MD5 keys (RFC 2385) the listening socket carries: peer address → password. The kernel
/// then verifies the SYN of each such peer (an unsigned or wrongly signed one is dropped) and
/// the accepted socket inherits the key.
pub(crate) type ListenKeys = BTreeMap<IpAddr, String>;

/// Binds the listening socket with the peers' MD5 keys installed before `listen`. On reload
/// the previous listener (same port) is aborted just before, and may not have closed yet:
/// retry briefly on "address in use".
async fn bind(addr: SocketAddr, keys: &ListenKeys) -> std::io::Result<Bound> {
    let mut tries = 0;
    loop {
        match bind_once(addr, keys) {
            Ok(l) => {
                info!(listen = %addr, md5_peers = keys.len(), "accepting BGP connections");
                return Ok(l);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 20 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

fn bind_once(addr: SocketAddr, keys: &ListenKeys) -> std::io::Result<Bound> {
    let socket = if addr.is_ipv6() {
        TcpSocket::new_v6()?
    } else {
        TcpSocket::new_v4()?
    };
    socket.set_reuseaddr(true)?;
    let mut unkeyed = BTreeSet::new();
    for (peer, password) in keys {
        if addr.is_ipv4() && peer.is_ipv6() {
            // Such a peer cannot reach an IPv4 listener anyway.
            continue;
        }
        // One unusable key (e.g. longer than the kernel's 80 bytes) must not take the
        // listener away from every other peer; that peer's connections are refused instead
        // (its outbound connects fail with the same error, which shows in its last_error).
        if let Err(e) = sockopt::set_tcp_md5(&socket, addr.is_ipv6(), *peer, password.as_bytes()) {
            warn!(peer = %peer, error = %e, "cannot install the TCP MD5 key on the listener");
            unkeyed.insert(*peer);
        }
    }
    socket.bind(addr)?;
    let listener = socket.listen(1024)?;
    Ok(Bound { listener, unkeyed })
}
