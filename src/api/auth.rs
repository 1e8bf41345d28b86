//! Who may POST: loopback clients, or anyone with the configured bearer token.

use std::net::SocketAddr;

use hyper::header::AUTHORIZATION;
use hyper::HeaderMap;

pub(super) fn allowed(peer: SocketAddr, headers: &HeaderMap, token: Option<&str>) -> bool {
    // A dual-stack listener sees IPv4 loopback clients as ::ffff:127.0.0.1.
    if peer.ip().to_canonical().is_loopback() {
        return true;
    }
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return false;
    };
    headers
        .get_all(AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(bearer)
        .any(|given| constant_time_eq(given.as_bytes(), token.as_bytes()))
}

/// Whether a request carried a bearer token, for the audit log (which never holds the token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenUse {
    /// No `Authorization: Bearer` header.
    None,
    /// The configured `api.token`.
    Valid,
    /// A bearer token that is not `api.token` (or none is configured).
    Invalid,
}

impl TokenUse {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            TokenUse::None => "none",
            TokenUse::Valid => "valid",
            TokenUse::Invalid => "invalid",
        }
    }
}

pub(super) fn token_use(headers: &HeaderMap, token: Option<&str>) -> TokenUse {
    let mut given = headers
        .get_all(AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(bearer)
        .peekable();
    if given.peek().is_none() {
        return TokenUse::None;
    }
    match token.filter(|t| !t.is_empty()) {
        Some(token) if given.any(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) => {
            TokenUse::Valid
        }
        _ => TokenUse::Invalid,
    }
}

/// The credentials of `Bearer <token>` (scheme case-insensitive, RFC 6750).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
}

/// Compares without an early exit so the time taken does not tell how much of a guess matched.
/// (Only the length can leak, which the token's length does not make guessable.)
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        }
        h
    }

    #[test]
    fn loopback_peers_need_no_token() {
        for peer in ["127.0.0.1:5000", "[::1]:5000", "[::ffff:127.0.0.1]:5000"] {
            assert!(
                allowed(peer.parse().unwrap(), &headers(None), None),
                "{peer}"
            );
        }
    }

    #[test]
    fn remote_peers_need_the_right_bearer_token() {
        let peer = "10.0.0.5:5000".parse().unwrap();
        assert!(!allowed(peer, &headers(None), Some("s3cret")));
        assert!(!allowed(
            peer,
            &headers(Some("Bearer nope")),
            Some("s3cret")
        ));
        assert!(!allowed(
            peer,
            &headers(Some("Basic s3cret")),
            Some("s3cret")
        ));
        assert!(allowed(
            peer,
            &headers(Some("Bearer s3cret")),
            Some("s3cret")
        ));
        assert!(allowed(
            peer,
            &headers(Some("bearer  s3cret ")),
            Some("s3cret")
        ));
    }

    #[test]
    fn without_a_configured_token_remote_peers_are_refused() {
        let peer = "10.0.0.5:5000".parse().unwrap();
        assert!(!allowed(peer, &headers(Some("Bearer ")), None));
        assert!(!allowed(peer, &headers(Some("Bearer ")), Some("")));
    }

    #[test]
    fn token_use_says_whether_a_bearer_token_came_and_matched() {
        let h = headers;
        assert_eq!(token_use(&h(None), Some("s3cret")), TokenUse::None);
        assert_eq!(
            token_use(&h(Some("Basic s3cret")), Some("s3cret")),
            TokenUse::None
        );
        let valid = token_use(&h(Some("Bearer s3cret")), Some("s3cret"));
        assert_eq!(valid, TokenUse::Valid);
        let wrong = token_use(&h(Some("Bearer nope")), Some("s3cret"));
        assert_eq!(wrong, TokenUse::Invalid);
        assert_eq!(token_use(&h(Some("Bearer x")), None), TokenUse::Invalid);
    }

    #[test]
    fn constant_time_eq_compares_whole_slices() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
