//! `http`/`https`: GET the path, healthy when the status is in the expected range.
//!
//! One request per connection (`Connection: close`), hyper's HTTP/1 client over a plain
//! `TcpStream` or a rustls stream. The body is not read: the status line is the verdict.

use std::net::SocketAddr;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper::header::{CONNECTION, HOST, USER_AGENT};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::config::HttpCheck;

const AGENT: &str = concat!("anycastd/", env!("CARGO_PKG_VERSION"));

pub(super) async fn probe(addr: SocketAddr, check: &HttpCheck, https: bool) -> (bool, String) {
    match status(addr, check, https).await {
        Ok(code) => (check.expect.contains(code), format!("HTTP {code}")),
        Err(words) => (false, words),
    }
}

async fn status(addr: SocketAddr, check: &HttpCheck, https: bool) -> Result<u16, String> {
    let request = Request::get(check.path.as_str())
        .header(HOST, host_header(check, addr, https))
        .header(USER_AGENT, AGENT)
        .header(CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("invalid request: {e}"))?;
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| super::io_words(&e))?;
    let _ = stream.set_nodelay(true);
    if !https {
        return send(stream, request).await;
    }
    let connector = tokio_rustls::TlsConnector::from(super::tls::client_config(check.tls_verify)?);
    let name = super::tls::server_name(check.host.as_deref(), addr.ip());
    let stream = connector
        .connect(name, stream)
        .await
        .map_err(|e| format!("TLS handshake failed: {e}"))?;
    send(stream, request).await
}

async fn send<IO>(io: IO, request: Request<Empty<Bytes>>) -> Result<u16, String>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP error: {e}"))?;
    let response = sender.send_request(request);
    tokio::pin!(conn, response);
    // The connection future drives the I/O; the response resolves once the status line and
    // headers are in. If the connection ends first, the response future holds the reason.
    let result = tokio::select! {
        biased;
        r = &mut response => r,
        _ = &mut conn => response.await,
    };
    result
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("HTTP error: {e}"))
}

/// The configured Host, or the target address (with the port when it is not the scheme's).
fn host_header(check: &HttpCheck, addr: SocketAddr, https: bool) -> String {
    if let Some(host) = &check.host {
        return host.clone();
    }
    let default_port = if https { 443 } else { 80 };
    let host = match addr {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    };
    if addr.port() == default_port {
        host
    } else {
        format!("{host}:{}", addr.port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StatusRange;

    fn check(host: Option<&str>) -> HttpCheck {
        HttpCheck {
            path: "/healthz".into(),
            expect: StatusRange::SUCCESS,
            host: host.map(str::to_string),
            tls_verify: false,
        }
    }

    #[test]
    fn host_header_defaults_to_the_address_and_non_default_port() {
        let c = check(None);
        assert_eq!(
            host_header(&c, "10.0.0.1:80".parse().unwrap(), false),
            "10.0.0.1"
        );
        assert_eq!(
            host_header(&c, "10.0.0.1:8080".parse().unwrap(), false),
            "10.0.0.1:8080"
        );
        assert_eq!(
            host_header(&c, "[2001:db8::1]:443".parse().unwrap(), true),
            "[2001:db8::1]"
        );
        assert_eq!(
            host_header(&c, "[2001:db8::1]:80".parse().unwrap(), true),
            "[2001:db8::1]:80"
        );
    }

    #[test]
    fn configured_host_header_is_sent_as_is() {
        let c = check(Some("www.example.com"));
        assert_eq!(
            host_header(&c, "10.0.0.1:8080".parse().unwrap(), false),
            "www.example.com"
        );
    }
}
