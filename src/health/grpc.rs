//! `grpc`: the standard health check, `grpc.health.v1.Health/Check` for `service` (default
//! `""`, the whole server), over HTTP/2 cleartext with prior knowledge (h2c, as
//! `grpc_health_probe` without `-tls`). Healthy only when the call succeeds (grpc-status 0)
//! and the answer is SERVING; a non-zero grpc-status (NOT_FOUND for a service the server does
//! not know) fails the check with its code and grpc-message.
//!
//! One connection per check, like the other checks, held inside the check's future so that
//! the timeout closes it. The response body is read up to 64 KiB (the answer is 7 bytes).

mod wire;

use std::net::SocketAddr;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http2;
use hyper::header::{CONTENT_TYPE, TE, USER_AGENT};
use hyper::{HeaderMap, Request};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::config::{GrpcCheck, HTTP_BODY_LIMIT};

const AGENT: &str = concat!("grpc-anycastd/", env!("CARGO_PKG_VERSION"));

pub(super) async fn probe(addr: SocketAddr, check: &GrpcCheck) -> (bool, String) {
    match call(addr, check).await {
        Ok(status) => (
            status == wire::SERVING,
            format!("gRPC {}", wire::serving_status_name(status)),
        ),
        Err(words) => (false, words),
    }
}

/// The serving status, or why there is none.
async fn call(addr: SocketAddr, check: &GrpcCheck) -> Result<u64, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| super::io_words(&e))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP/2 error: {e}"))?;
    let authority = match addr {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    };
    let request = Request::post(format!("http://{authority}{}", wire::PATH))
        .header(CONTENT_TYPE, "application/grpc")
        .header(TE, "trailers")
        .header(USER_AGENT, AGENT)
        .body(Full::new(Bytes::from(wire::encode_request(&check.service))))
        .map_err(|e| format!("invalid request: {e}"))?;
    let answer = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("HTTP/2 error: {e}"))?;
        let code = response.status().as_u16();
        if code != 200 {
            return Err(format!("HTTP {code} (not a gRPC server?)"));
        }
        // A call that fails at once answers with headers only ("Trailers-Only").
        if let Some(failed) = failure(response.headers()) {
            return Err(failed);
        }
        let collected = Limited::new(response.into_body(), HTTP_BODY_LIMIT)
            .collect()
            .await
            .map_err(|e| format!("reading the gRPC response: {e}"))?;
        let trailers = collected.trailers().cloned();
        match trailers.as_ref().map(failure) {
            Some(Some(failed)) => return Err(failed),
            Some(None) => {}
            None => return Err("gRPC response without grpc-status".into()),
        }
        wire::decode_response(&collected.to_bytes()).map_err(|e| format!("gRPC {e}"))
    };
    tokio::pin!(conn, answer);
    tokio::select! {
        biased;
        r = &mut answer => r,
        _ = &mut conn => answer.await,
    }
}

/// The failure a `grpc-status` other than 0 says, in words; `None` for 0 or none at all.
fn failure(headers: &HeaderMap) -> Option<String> {
    let status = headers.get("grpc-status")?;
    let code = std::str::from_utf8(status.as_bytes()).ok()?.trim();
    let Ok(code) = code.parse::<u32>() else {
        return Some(format!("gRPC status {code:?} is not a number"));
    };
    if code == 0 {
        return None;
    }
    let mut words = format!("gRPC status {code} {}", wire::status_code_name(code));
    if let Some(message) = headers.get("grpc-message") {
        words.push_str(": ");
        words.push_str(&wire::decode_message(message.as_bytes()));
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn a_non_zero_grpc_status_is_a_failure_with_its_message() {
        assert_eq!(failure(&headers(&[("grpc-status", "0")])), None);
        assert_eq!(failure(&headers(&[])), None);
        assert_eq!(
            failure(&headers(&[
                ("grpc-status", "5"),
                ("grpc-message", "unknown%20service")
            ]))
            .as_deref(),
            Some("gRPC status 5 NOT_FOUND: unknown service")
        );
        assert_eq!(
            failure(&headers(&[("grpc-status", "12")])).as_deref(),
            Some("gRPC status 12 UNIMPLEMENTED")
        );
        assert_eq!(
            failure(&headers(&[("grpc-status", "x")])).as_deref(),
            Some("gRPC status \"x\" is not a number")
        );
    }
}
