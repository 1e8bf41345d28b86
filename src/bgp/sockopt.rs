//! The two socket options BGP security needs and nix does not wrap: TCP MD5 signatures
//! (RFC 2385, `TCP_MD5SIG`) and the minimum received TTL / hop limit of GTSM (RFC 5082,
//! `IP_MINTTL` / `IPV6_MINHOPCOUNT`).
//!
//! One of the crate's two `unsafe` modules (the other is `daemon::heap`, one `malloc_trim`
//! call): two `setsockopt(2)` calls on a borrowed, open file
//! descriptor, with pointers to values that live on the stack for the duration of the call.
//! Everything else (building the kernel's `struct tcp_md5sig`) is safe byte work, and the
//! layout is pinned by unit tests against the kernel's UAPI header.
#![allow(unsafe_code)]

use std::io;
use std::mem::size_of;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd};

/// `TCP_MD5SIG_MAXKEYLEN` from include/uapi/linux/tcp.h.
pub const MAX_KEY_LEN: usize = 80;

/// The TTL (IPv4) or hop limit (IPv6) GTSM requires of a directly connected peer.
pub const GTSM_TTL: u8 = 255;

/// `struct tcp_md5sig` from include/uapi/linux/tcp.h:
///
/// ```text
/// struct tcp_md5sig {
///     struct __kernel_sockaddr_storage tcpm_addr;  /* 128 bytes, pointer aligned */
///     __u8  tcpm_flags;
///     __u8  tcpm_prefixlen;
///     __u16 tcpm_keylen;
///     int   tcpm_ifindex;
///     __u8  tcpm_key[TCP_MD5SIG_MAXKEYLEN];
/// };
/// ```
///
/// `tcpm_addr` is kept as raw bytes (a `sockaddr_in` or `sockaddr_in6` written by hand), so
/// building it needs no pointer casts.
#[repr(C, align(8))]
struct TcpMd5Sig {
    addr: [u8; 128],
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: i32,
    key: [u8; MAX_KEY_LEN],
}

impl TcpMd5Sig {
    /// The option value that installs `key` for segments to and from `peer` (a `key` of
    /// length 0 removes it). `v6_socket`: the socket is AF_INET6, so an IPv4 peer is given as
    /// an IPv4-mapped address (that is how such a socket sees it).
    fn new(peer: IpAddr, v6_socket: bool, key: &[u8]) -> io::Result<Self> {
        if key.len() > MAX_KEY_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("TCP MD5 key longer than {MAX_KEY_LEN} bytes"),
            ));
        }
        let mut sig = TcpMd5Sig {
            addr: [0; 128],
            flags: 0,
            prefixlen: 0,
            keylen: key.len() as u16,
            ifindex: 0,
            key: [0; MAX_KEY_LEN],
        };
        sig.key[..key.len()].copy_from_slice(key);
        let peer = match (peer, v6_socket) {
            (IpAddr::V4(a), true) => IpAddr::V6(a.to_ipv6_mapped()),
            (IpAddr::V6(a), false) => match a.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "TCP MD5: an IPv6 peer on an IPv4 socket",
                    ))
                }
            },
            (p, _) => p,
        };
        // sa_family is in host byte order, port (left 0) and address in network order.
        match peer {
            IpAddr::V4(a) => {
                // struct sockaddr_in { sa_family_t; in_port_t; struct in_addr; zero[8] }
                sig.addr[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
                sig.addr[4..8].copy_from_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                // struct sockaddr_in6 { sa_family_t; in_port_t; u32 flowinfo; in6_addr; u32 scope }
                sig.addr[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
                sig.addr[8..24].copy_from_slice(&a.octets());
            }
        }
        Ok(sig)
    }
}

/// Installs the TCP MD5 signature key (RFC 2385) for `peer` on `socket`: segments to and from
/// that address are signed and verified. Set it before `connect`, or on a listening socket so
/// the peer's SYN is verified (accepted sockets inherit the key). An empty key removes it.
pub fn set_tcp_md5<S: AsFd>(
    socket: &S,
    v6_socket: bool,
    peer: IpAddr,
    key: &[u8],
) -> io::Result<()> {
    let sig = TcpMd5Sig::new(peer, v6_socket, key)?;
    let fd = socket.as_fd();
    // SAFETY: `fd` is a borrowed, open descriptor for the duration of the call; `sig` is a
    // fully initialised #[repr(C)] value with the kernel's `struct tcp_md5sig` layout (see the
    // layout tests), alive on the stack until the call returns, and its exact size is passed.
    // The kernel only reads from the pointer.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MD5SIG,
            (&sig as *const TcpMd5Sig).cast::<libc::c_void>(),
            size_of::<TcpMd5Sig>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// GTSM receive side (RFC 5082): the kernel drops packets on `socket` whose TTL (IPv4,
/// `IP_MINTTL`) or hop limit (IPv6, `IPV6_MINHOPCOUNT`) is below `min`. `v6_socket` selects
/// the option by the socket's family (for an IPv4 peer on an AF_INET6 socket both are set,
/// since the kernel applies the IPv4 check to mapped traffic).
pub fn set_min_ttl<S: AsFd>(socket: &S, v6_socket: bool, min: u8) -> io::Result<()> {
    let fd = socket.as_fd();
    let value = min as libc::c_int;
    let set = |level: libc::c_int, name: libc::c_int| -> io::Result<()> {
        // SAFETY: `fd` is a borrowed, open descriptor for the duration of the call; `value`
        // is an initialised c_int on the stack that outlives the call, and its size is passed.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                level,
                name,
                (&value as *const libc::c_int).cast::<libc::c_void>(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    if v6_socket {
        set(libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT)?;
        // Best effort: an IPv6-only socket refuses nothing here, but older kernels may.
        let _ = set(libc::IPPROTO_IP, libc::IP_MINTTL);
        Ok(())
    } else {
        set(libc::IPPROTO_IP, libc::IP_MINTTL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, offset_of};
    use std::net::{Ipv4Addr, Ipv6Addr, TcpListener};

    #[test]
    fn tcp_md5sig_layout_matches_the_kernel_uapi_header() {
        // sizeof(struct tcp_md5sig) on Linux: 128 + 1 + 1 + 2 + 4 + 80.
        assert_eq!(size_of::<TcpMd5Sig>(), 216);
        assert_eq!(align_of::<TcpMd5Sig>(), 8);
        assert_eq!(offset_of!(TcpMd5Sig, flags), 128);
        assert_eq!(offset_of!(TcpMd5Sig, prefixlen), 129);
        assert_eq!(offset_of!(TcpMd5Sig, keylen), 130);
        assert_eq!(offset_of!(TcpMd5Sig, ifindex), 132);
        assert_eq!(offset_of!(TcpMd5Sig, key), 136);
        assert_eq!(size_of::<libc::sockaddr_storage>(), 128);
    }

    #[test]
    fn an_ipv4_peer_is_a_sockaddr_in_with_the_key_behind_it() {
        let sig = TcpMd5Sig::new(Ipv4Addr::new(10, 0, 1, 1).into(), false, b"secret").unwrap();
        assert_eq!(sig.addr[..2], (libc::AF_INET as u16).to_ne_bytes());
        assert_eq!(sig.addr[2..4], [0, 0], "port: any");
        assert_eq!(sig.addr[4..8], [10, 0, 1, 1]);
        assert!(sig.addr[8..].iter().all(|b| *b == 0));
        assert_eq!(sig.keylen, 6);
        assert_eq!(&sig.key[..6], b"secret");
        assert!(sig.key[6..].iter().all(|b| *b == 0));
    }

    #[test]
    fn an_ipv4_peer_on_an_ipv6_socket_is_given_as_a_mapped_address() {
        let sig = TcpMd5Sig::new(Ipv4Addr::new(10, 0, 1, 1).into(), true, b"k").unwrap();
        assert_eq!(sig.addr[..2], (libc::AF_INET6 as u16).to_ne_bytes());
        assert_eq!(
            sig.addr[8..24],
            Ipv4Addr::new(10, 0, 1, 1).to_ipv6_mapped().octets()
        );
    }

    #[test]
    fn an_ipv6_peer_is_a_sockaddr_in6() {
        let a: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let sig = TcpMd5Sig::new(a.into(), true, b"k").unwrap();
        assert_eq!(sig.addr[..2], (libc::AF_INET6 as u16).to_ne_bytes());
        assert_eq!(sig.addr[4..8], [0; 4], "flowinfo");
        assert_eq!(sig.addr[8..24], a.octets());
        assert_eq!(sig.addr[24..28], [0; 4], "scope id");
    }

    #[test]
    fn a_key_longer_than_80_bytes_is_refused_before_the_kernel_sees_it() {
        let e = TcpMd5Sig::new(Ipv4Addr::LOCALHOST.into(), false, &[b'x'; 81])
            .err()
            .unwrap();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(TcpMd5Sig::new(Ipv4Addr::LOCALHOST.into(), false, &[b'x'; 80]).is_ok());
    }

    #[test]
    fn the_kernel_accepts_both_options_on_real_sockets() {
        let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
        set_tcp_md5(&v4, false, Ipv4Addr::new(127, 0, 0, 2).into(), b"secret").unwrap();
        set_tcp_md5(&v4, false, Ipv4Addr::new(127, 0, 0, 2).into(), b"").unwrap();
        set_min_ttl(&v4, false, GTSM_TTL).unwrap();
        let v6 = TcpListener::bind("[::1]:0").unwrap();
        set_tcp_md5(&v6, true, Ipv4Addr::new(127, 0, 0, 2).into(), b"secret").unwrap();
        set_tcp_md5(&v6, true, "::2".parse().unwrap(), b"secret").unwrap();
        set_min_ttl(&v6, true, GTSM_TTL).unwrap();
    }
}
