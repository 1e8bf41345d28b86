//! `http`/`https`: one request (`method`, default GET, to `path`), healthy when the status is
//! in the expected range and, when `body_contains` or `body_regex` is set, the first
//! [`HTTP_BODY_LIMIT`] bytes of the body hold it.
//!
//! One request per connection (`Connection: close`), hyper's HTTP/1 client over a plain
//! `TcpStream` or a rustls stream. The body is read only when a body key asks for it, and
//! never past the limit: a health endpoint that streams forever still gets a verdict, and
//! dropping the connection ends it.

use std::net::SocketAddr;

use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1;
use hyper::header::{HeaderName, HeaderValue, CONNECTION, HOST, USER_AGENT};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::config::{HttpCheck, HTTP_BODY_LIMIT};

const AGENT: &str = concat!("anycastd/", env!("CARGO_PKG_VERSION"));

pub(super) async fn probe(addr: SocketAddr, check: &HttpCheck, https: bool) -> (bool, String) {
    let (code, body) = match exchange(addr, check, https).await {
        Ok(r) => r,
        Err(words) => return (false, words),
    };
    let status = format!("HTTP {code}");
    match body {
        _ if !check.expect.contains(code) => (false, status),
        None => (true, status),
        Some(Ok(body)) => match body_mismatch(check, &body) {
            Some(why) => (false, format!("{status}, {why}")),
            None => (true, status),
        },
        Some(Err(e)) => (false, format!("{status}, reading the body: {e}")),
    }
}

/// The status and, when the check reads it and the status is expected, the head of the body.
type Answer = (u16, Option<Result<Vec<u8>, hyper::Error>>);

async fn exchange(addr: SocketAddr, check: &HttpCheck, https: bool) -> Result<Answer, String> {
    let request = request(check, addr, https)?;
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| super::io_words(&e))?;
    let _ = stream.set_nodelay(true);
    if !https {
        return send(stream, request, check).await;
    }
    let connector = tokio_rustls::TlsConnector::from(super::tls::client_config(check.tls_verify)?);
    let name = super::tls::server_name(
        check.tls_server_name.as_deref(),
        check.host.as_deref(),
        addr.ip(),
    );
    let stream = connector
        .connect(name, stream)
        .await
        .map_err(|e| format!("TLS handshake failed: {e}"))?;
    send(stream, request, check).await
}

/// The request: method, path, Host, our User-Agent and `Connection: close`, then the
/// configured headers (which may replace the User-Agent; the config keeps them off Host and
/// the framing headers).
fn request(
    check: &HttpCheck,
    addr: SocketAddr,
    https: bool,
) -> Result<Request<Empty<Bytes>>, String> {
    let mut request = Request::builder()
        .method(check.method.as_str())
        .uri(check.path.as_str())
        .header(HOST, host_header(check, addr, https))
        .header(USER_AGENT, AGENT)
        .header(CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("invalid request: {e}"))?;
    for (name, value) in &check.headers {
        let name = HeaderName::from_bytes(name.as_bytes());
        let value = HeaderValue::from_str(value);
        let (Ok(name), Ok(value)) = (name, value) else {
            return Err("invalid request header".into()); // validated by the config
        };
        request.headers_mut().insert(name, value);
    }
    Ok(request)
}

async fn send<IO>(
    io: IO,
    request: Request<Empty<Bytes>>,
    check: &HttpCheck,
) -> Result<Answer, String>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP error: {e}"))?;
    let answer = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("HTTP error: {e}"))?;
        let code = response.status().as_u16();
        let body = if check.reads_body() && check.expect.contains(code) {
            Some(head_of_body(response.into_body()).await)
        } else {
            None
        };
        Ok((code, body))
    };
    tokio::pin!(conn, answer);
    // The connection future drives the I/O (the body's too) and stays in this future, so a
    // timeout that drops the check drops the connection with it. If the connection ends
    // first, what it delivered (or why it failed) is in the answer future.
    tokio::select! {
        biased;
        r = &mut answer => r,
        _ = &mut conn => answer.await,
    }
}

/// The body up to [`HTTP_BODY_LIMIT`] bytes; the rest is never read.
async fn head_of_body(mut body: Incoming) -> Result<Vec<u8>, hyper::Error> {
    let mut head = Vec::new();
    while head.len() < HTTP_BODY_LIMIT {
        let Some(frame) = body.frame().await else {
            break;
        };
        if let Ok(data) = frame?.into_data() {
            let room = HTTP_BODY_LIMIT - head.len();
            head.extend_from_slice(&data[..data.len().min(room)]);
        }
    }
    Ok(head)
}

/// Why the body fails the check, or `None` when every body key holds.
fn body_mismatch(check: &HttpCheck, body: &[u8]) -> Option<String> {
    let within = if body.len() >= HTTP_BODY_LIMIT {
        " in its first 64 KiB"
    } else {
        ""
    };
    if let Some(want) = &check.body_contains {
        let needle = want.as_bytes();
        if !body.windows(needle.len()).any(|w| w == needle) {
            return Some(format!("body does not contain {want:?}{within}"));
        }
    }
    if let Some(re) = &check.body_regex {
        if !re.0.is_match(body) {
            return Some(format!("body does not match /{}/{within}", re.0.as_str()));
        }
    }
    None
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
    use crate::config::{BodyRegex, HttpMethod, StatusRange};

    fn check(host: Option<&str>) -> HttpCheck {
        HttpCheck {
            host: host.map(str::to_string),
            ..HttpCheck::get("/healthz", StatusRange::SUCCESS)
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

    #[test]
    fn configured_headers_and_method_are_in_the_request_and_may_replace_the_agent() {
        let mut c = check(None);
        c.method = HttpMethod::Post;
        c.headers = vec![
            ("X-Check".into(), "anycastd".into()),
            ("User-Agent".into(), "probe/1".into()),
        ];
        let r = request(&c, "10.0.0.1:80".parse().unwrap(), false).unwrap();
        assert_eq!(r.method(), "POST");
        assert_eq!(r.headers()["x-check"], "anycastd");
        assert_eq!(r.headers().get_all(USER_AGENT).iter().count(), 1);
        assert_eq!(r.headers()[USER_AGENT], "probe/1");
        assert_eq!(r.headers()[CONNECTION], "close");
    }

    #[test]
    fn every_body_key_must_hold() {
        let mut c = check(None);
        c.body_contains = Some("\"status\":\"up\"".into());
        assert_eq!(body_mismatch(&c, br#"{"status":"up"}"#), None);
        assert_eq!(
            body_mismatch(&c, br#"{"status":"down"}"#).as_deref(),
            Some(r#"body does not contain "\"status\":\"up\"""#)
        );
        c.body_regex = Some(BodyRegex(
            regex::bytes::Regex::new(r"db=(ok|degraded)").unwrap(),
        ));
        assert_eq!(body_mismatch(&c, br#"{"status":"up"} db=ok"#), None);
        assert_eq!(
            body_mismatch(&c, br#"{"status":"up"} db=down"#).as_deref(),
            Some("body does not match /db=(ok|degraded)/")
        );
        // Not UTF-8: matched as bytes all the same.
        c.body_contains = None;
        assert_eq!(body_mismatch(&c, b"\xff\xfe db=ok"), None);
    }

    #[test]
    fn a_mismatch_in_a_full_first_64_kib_says_only_that_much_was_read() {
        let mut c = check(None);
        c.body_contains = Some("needle".into());
        let body = vec![b'x'; HTTP_BODY_LIMIT];
        assert_eq!(
            body_mismatch(&c, &body).as_deref(),
            Some("body does not contain \"needle\" in its first 64 KiB")
        );
    }
}
