//! Decode errors: one variant per distinct NOTIFICATION a bad message earns (RFC 4271 §6,
//! RFC 5492, RFC 7313). Errors RFC 7606 downgrades to treat-as-withdraw never appear here:
//! they are recorded on the decoded [`super::Update`] instead.

use super::Notification;

/// NOTIFICATION error codes (RFC 4271 §4.5) and the subcodes we send.
pub struct NotifCode;

impl NotifCode {
    pub const MESSAGE_HEADER: u8 = 1;
    pub const OPEN_MESSAGE: u8 = 2;
    pub const UPDATE_MESSAGE: u8 = 3;
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    pub const FSM: u8 = 5;
    pub const CEASE: u8 = 6;
    pub const ROUTE_REFRESH: u8 = 7;

    // Cease subcodes (RFC 4486).
    pub const CEASE_MAX_PREFIXES: u8 = 1;
    pub const CEASE_ADMIN_SHUTDOWN: u8 = 2;
    pub const CEASE_PEER_DECONFIGURED: u8 = 3;
    pub const CEASE_ADMIN_RESET: u8 = 4;
    pub const CEASE_CONNECTION_REJECTED: u8 = 5;
    pub const CEASE_OTHER_CONFIG_CHANGE: u8 = 6;
    pub const CEASE_CONNECTION_COLLISION: u8 = 7;
    /// RFC 9384: the session's BFD session went down.
    pub const CEASE_BFD_DOWN: u8 = 10;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("connection not synchronized (bad marker)")]
    ConnectionNotSynchronized,
    #[error("bad message length {0}")]
    BadMessageLength(u16),
    #[error("bad message type {0}")]
    BadMessageType(u8),
    #[error("unsupported BGP version {0}")]
    UnsupportedVersion(u8),
    #[error("bad peer AS {0}")]
    BadPeerAs(u32),
    #[error("bad BGP identifier {0}")]
    BadBgpIdentifier(std::net::Ipv4Addr),
    #[error("unsupported optional parameter {0}")]
    UnsupportedOptionalParameter(u8),
    #[error("unacceptable hold time {0}")]
    UnacceptableHoldTime(u16),
    #[error("malformed OPEN: {0}")]
    MalformedOpen(&'static str),
    #[error("malformed attribute list: {0}")]
    MalformedAttributeList(&'static str),
    /// `attribute`: the whole attribute as received (flags, type, length, value), which
    /// RFC 4271 §6.3 puts in the NOTIFICATION's data.
    #[error("unrecognized well-known attribute {code}")]
    UnrecognizedWellKnownAttribute { code: u8, attribute: Vec<u8> },
    #[error("invalid network field")]
    InvalidNetworkField,
    /// A recognized optional attribute we cannot use (for us: a broken MP_REACH_NLRI or
    /// MP_UNREACH_NLRI, RFC 4760 §7). `attribute` as in `UnrecognizedWellKnownAttribute`: as
    /// much of it as the message holds.
    #[error("optional attribute error: {why}")]
    OptionalAttributeError {
        why: &'static str,
        attribute: Vec<u8>,
    },
    #[error("bad ROUTE-REFRESH length {0}")]
    RouteRefreshLength(u16),
}

impl DecodeError {
    /// The NOTIFICATION to send for this error.
    pub fn notification(&self) -> Notification {
        use DecodeError::*;
        let (code, subcode, data): (u8, u8, Vec<u8>) = match self {
            ConnectionNotSynchronized => (1, 1, vec![]),
            BadMessageLength(len) => (1, 2, len.to_be_bytes().to_vec()),
            BadMessageType(t) => (1, 3, vec![*t]),
            // Data: the largest version we support (RFC 4271 §6.2).
            UnsupportedVersion(_) => (2, 1, 4u16.to_be_bytes().to_vec()),
            BadPeerAs(_) => (2, 2, vec![]),
            BadBgpIdentifier(_) => (2, 3, vec![]),
            UnsupportedOptionalParameter(_) => (2, 4, vec![]),
            UnacceptableHoldTime(_) => (2, 6, vec![]),
            MalformedOpen(_) => (2, 0, vec![]),
            MalformedAttributeList(_) => (3, 1, vec![]),
            UnrecognizedWellKnownAttribute { attribute, .. } => (3, 2, attribute.clone()),
            InvalidNetworkField => (3, 10, vec![]),
            OptionalAttributeError { attribute, .. } => (3, 9, attribute.clone()),
            RouteRefreshLength(len) => (7, 1, len.to_be_bytes().to_vec()),
        };
        Notification {
            code,
            subcode,
            data,
        }
    }
}
