//! `dns`: one query, over UDP (or TCP with `tcp = true`), healthy when the reply's response
//! code is `expect_rcode` and, with `require_answer`, it holds an answer of the asked type.
//!
//! The query gets a random id and goes out on a fresh connected socket, so only the server's
//! datagrams reach it, and an ICMP port unreachable comes back as "connection refused". A
//! reply with another id, or to another question, fails the check rather than being waited
//! past: on a fresh port nothing else should answer. A lost datagram is not sent again:
//! the check fails and `fall` decides what that means, as for any check.
//!
//! A UDP reply with TC set (the answer did not fit 512 bytes; no EDNS is offered) is asked
//! again over TCP, as every resolver does, within the same timeout: the verdict is then on
//! the whole answer, and the detail says it was retried.

mod message;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::config::{dns_rcode_name, DnsCheck};
use message::{decode_reply, encode_query, Reply};

pub(super) async fn probe(addr: SocketAddr, check: &DnsCheck) -> (bool, String) {
    let (reply, note) = match ask(addr, check).await {
        Ok(r) => r,
        Err(words) => return (false, words),
    };
    let (ok, detail) = verdict(check, &reply);
    (ok, format!("{detail}{note}"))
}

/// The reply, and a note for the detail when it took a TCP retry.
async fn ask(addr: SocketAddr, check: &DnsCheck) -> Result<(Reply, &'static str), String> {
    if check.tcp {
        return exchange(addr, check, Transport::Tcp).await.map(|r| (r, ""));
    }
    let reply = exchange(addr, check, Transport::Udp).await?;
    if !reply.truncated {
        return Ok((reply, ""));
    }
    match exchange(addr, check, Transport::Tcp).await {
        Ok(r) => Ok((r, " (truncated over UDP, retried over TCP)")),
        Err(e) => Err(format!("DNS reply truncated over UDP; over TCP: {e}")),
    }
}

#[derive(Clone, Copy)]
enum Transport {
    Udp,
    Tcp,
}

/// One query and its reply, decoded.
async fn exchange(addr: SocketAddr, check: &DnsCheck, via: Transport) -> Result<Reply, String> {
    let id = rand::random::<u16>();
    let query = encode_query(id, &check.query, check.qtype);
    let io = |e: std::io::Error| super::io_words(&e);
    let bytes = match via {
        Transport::Udp => {
            let local: SocketAddr = match addr {
                SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
                SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
            };
            let socket = UdpSocket::bind(local).await.map_err(io)?;
            socket.connect(addr).await.map_err(io)?;
            socket.send(&query).await.map_err(io)?;
            let mut buf = vec![0u8; 65_535];
            let n = socket.recv(&mut buf).await.map_err(io)?;
            buf.truncate(n);
            buf
        }
        Transport::Tcp => {
            // RFC 1035 §4.2.2: each message is preceded by its length, two bytes.
            let mut stream = TcpStream::connect(addr).await.map_err(io)?;
            let mut framed = (query.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&query);
            stream.write_all(&framed).await.map_err(io)?;
            let len = stream.read_u16().await.map_err(|e| closed_words(&e))?;
            let mut buf = vec![0u8; usize::from(len)];
            stream
                .read_exact(&mut buf)
                .await
                .map_err(|e| closed_words(&e))?;
            buf
        }
    };
    decode_reply(&bytes, id, &check.query, check.qtype).map_err(|e| format!("DNS {e}"))
}

/// A TCP reply cut short is said so, not as "early eof".
fn closed_words(e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        "DNS server closed the connection before the whole reply".into()
    } else {
        super::io_words(e)
    }
}

/// Healthy when the rcode is the expected one and, if required, an answer is there.
fn verdict(check: &DnsCheck, reply: &Reply) -> (bool, String) {
    let rcode = dns_rcode_name(reply.rcode);
    if reply.rcode != check.expect_rcode {
        let expected = dns_rcode_name(check.expect_rcode);
        return (false, format!("DNS rcode {rcode}, expected {expected}"));
    }
    let answers = match reply.answers {
        1 => "1 answer".to_string(),
        n => format!("{n} answers"),
    };
    if check.require_answer && reply.answers == 0 {
        return (
            false,
            format!("DNS {rcode}, {answers}, expected at least one"),
        );
    }
    (true, format!("DNS {rcode}, {answers}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(expect_rcode: u8, require_answer: bool) -> DnsCheck {
        DnsCheck {
            query: "example.test".into(),
            qtype: 1,
            expect_rcode,
            tcp: false,
            require_answer,
        }
    }

    fn reply(rcode: u8, answers: u16) -> Reply {
        Reply {
            rcode,
            truncated: false,
            answers,
        }
    }

    #[test]
    fn the_rcode_decides_and_the_detail_says_what_came() {
        assert_eq!(
            verdict(&check(0, false), &reply(0, 1)),
            (true, "DNS NOERROR, 1 answer".into())
        );
        assert_eq!(
            verdict(&check(0, false), &reply(3, 0)),
            (false, "DNS rcode NXDOMAIN, expected NOERROR".into())
        );
        assert_eq!(
            verdict(&check(3, false), &reply(3, 0)),
            (true, "DNS NXDOMAIN, 0 answers".into())
        );
        assert_eq!(
            verdict(&check(0, false), &reply(9, 0)),
            (false, "DNS rcode 9, expected NOERROR".into())
        );
    }

    #[test]
    fn require_answer_needs_one_record_of_the_type() {
        assert_eq!(
            verdict(&check(0, true), &reply(0, 0)),
            (
                false,
                "DNS NOERROR, 0 answers, expected at least one".into()
            )
        );
        assert_eq!(
            verdict(&check(0, true), &reply(0, 2)),
            (true, "DNS NOERROR, 2 answers".into())
        );
        // NXDOMAIN expected: there is nothing to answer, and that is what was asked.
        assert!(verdict(&check(3, false), &reply(3, 0)).0);
    }
}
