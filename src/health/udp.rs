//! `udp`: one datagram out on a fresh connected socket, then, as keepalived's UDP_CHECK does:
//! - an ICMP error back (port unreachable arrives as ECONNREFUSED on a connected socket) is a
//!   failure, whatever else is configured;
//! - with `expect`, a reply must arrive within the timeout and contain those bytes (`expect =
//!   ""`: any reply);
//! - without it, a reply or silence until the timeout is healthy. Silence proves only that
//!   nothing refused the datagram (a firewall that drops it looks the same), which is why
//!   `expect` is there.
//!
//! The silence case ends by the check's timeout, so [`super::check_once`] asks
//! [`silence_is_healthy`] what a timeout means.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::net::UdpSocket;

use crate::config::{UdpCheck, MAX_UDP_PAYLOAD};

pub(super) async fn probe(addr: SocketAddr, check: &UdpCheck) -> (bool, String) {
    let local: SocketAddr = match addr {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let io = |e: std::io::Error| (false, super::io_words(&e));
    let socket = match UdpSocket::bind(local).await {
        Ok(s) => s,
        Err(e) => return io(e),
    };
    if let Err(e) = socket.connect(addr).await {
        return io(e);
    }
    if let Err(e) = socket.send(&check.send).await {
        return io(e);
    }
    let mut buf = vec![0u8; MAX_UDP_PAYLOAD];
    match socket.recv(&mut buf).await {
        Ok(n) => verdict(check.expect.as_deref(), &buf[..n]),
        Err(e) => io(e),
    }
}

/// A check that is still waiting when its timeout comes is healthy when it expects no reply.
pub(super) fn silence_is_healthy(check: &UdpCheck) -> bool {
    check.expect.is_none()
}

/// A reply arrived: healthy when it contains `expect` (or nothing was expected).
fn verdict(expect: Option<&[u8]>, reply: &[u8]) -> (bool, String) {
    let n = reply.len();
    let bytes = if n == 1 { "byte" } else { "bytes" };
    match expect {
        Some(want) if !contains(reply, want) => (
            false,
            format!(
                "UDP reply of {n} {bytes} does not contain the expected {}",
                preview(want)
            ),
        ),
        _ => (true, format!("UDP reply of {n} {bytes}")),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// The expected bytes as the config writes them (`\xNN` for what is not printable ASCII),
/// cut to a readable length.
fn preview(bytes: &[u8]) -> String {
    const MAX: usize = 32;
    let mut s = String::from("\"");
    for &b in bytes.iter().take(MAX) {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            0x20..=0x7E => s.push(char::from(b)),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    if bytes.len() > MAX {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_must_contain_the_expected_bytes_anywhere() {
        assert_eq!(
            verdict(Some(b"pong"), b"pong"),
            (true, "UDP reply of 4 bytes".into())
        );
        assert!(verdict(Some(b"ong"), b"ping pong!").0);
        assert!(verdict(Some(b"\x00\x01"), b"\xff\x00\x01\xff").0);
        assert_eq!(
            verdict(Some(b"pong"), b"pon"),
            (
                false,
                "UDP reply of 3 bytes does not contain the expected \"pong\"".into()
            )
        );
        assert_eq!(
            verdict(Some(b"\x00ok\\"), b"x"),
            (
                false,
                r#"UDP reply of 1 byte does not contain the expected "\x00ok\\""#.into()
            )
        );
    }

    #[test]
    fn an_empty_expect_takes_any_reply_even_an_empty_one() {
        assert!(verdict(Some(b""), b"").0);
        assert!(verdict(Some(b""), b"anything").0);
        assert!(verdict(None, b"").0);
    }

    #[test]
    fn only_a_check_without_expect_takes_silence_for_health() {
        let mut c = UdpCheck {
            send: b"ping".to_vec(),
            expect: None,
        };
        assert!(silence_is_healthy(&c));
        c.expect = Some(Vec::new());
        assert!(!silence_is_healthy(&c));
    }

    #[test]
    fn a_long_expectation_is_cut_in_the_detail() {
        let want = vec![b'a'; 40];
        let (_, detail) = verdict(Some(&want), b"b");
        assert!(
            detail.ends_with(&format!("\"{}\"…", "a".repeat(32))),
            "{detail}"
        );
    }
}
