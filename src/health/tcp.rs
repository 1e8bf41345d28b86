//! `tcp`: healthy when a connection is accepted.

use std::net::SocketAddr;

use tokio::net::TcpStream;

pub(super) async fn probe(addr: SocketAddr) -> (bool, String) {
    match TcpStream::connect(addr).await {
        Ok(_) => (true, "connected".into()),
        Err(e) => (false, super::io_words(&e)),
    }
}
