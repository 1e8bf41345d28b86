//! NOTIFICATION (RFC 4271 §4.5).
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Error code    | Error subcode |   Data (variable)             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{DecodeError, NotifCode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub code: u8,
    pub subcode: u8,
    pub data: Vec<u8>,
}

impl Notification {
    pub fn new(code: u8, subcode: u8) -> Self {
        Notification {
            code,
            subcode,
            data: Vec::new(),
        }
    }

    pub fn cease(subcode: u8) -> Self {
        Notification::new(NotifCode::CEASE, subcode)
    }

    pub(super) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        match body {
            [code, subcode, data @ ..] => Ok(Notification {
                code: *code,
                subcode: *subcode,
                data: data.to_vec(),
            }),
            _ => Err(DecodeError::BadMessageLength((body.len() + 19) as u16)),
        }
    }

    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.code);
        out.push(self.subcode);
        out.extend_from_slice(&self.data);
    }
}

/// Operator-facing text: "Cease/Administrative Reset", "OPEN Message Error/Bad Peer AS".
impl std::fmt::Display for Notification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let code = match self.code {
            1 => "Message Header Error",
            2 => "OPEN Message Error",
            3 => "UPDATE Message Error",
            4 => "Hold Timer Expired",
            5 => "Finite State Machine Error",
            6 => "Cease",
            7 => "ROUTE-REFRESH Message Error",
            _ => return write!(f, "code {}/subcode {}", self.code, self.subcode),
        };
        let sub = match (self.code, self.subcode) {
            (_, 0) => None,
            (1, 1) => Some("Connection Not Synchronized"),
            (1, 2) => Some("Bad Message Length"),
            (1, 3) => Some("Bad Message Type"),
            (2, 1) => Some("Unsupported Version Number"),
            (2, 2) => Some("Bad Peer AS"),
            (2, 3) => Some("Bad BGP Identifier"),
            (2, 4) => Some("Unsupported Optional Parameter"),
            (2, 6) => Some("Unacceptable Hold Time"),
            (2, 7) => Some("Unsupported Capability"),
            (3, 1) => Some("Malformed Attribute List"),
            (3, 2) => Some("Unrecognized Well-known Attribute"),
            (3, 3) => Some("Missing Well-known Attribute"),
            (3, 4) => Some("Attribute Flags Error"),
            (3, 5) => Some("Attribute Length Error"),
            (3, 6) => Some("Invalid ORIGIN Attribute"),
            (3, 8) => Some("Invalid NEXT_HOP Attribute"),
            (3, 9) => Some("Optional Attribute Error"),
            (3, 10) => Some("Invalid Network Field"),
            (3, 11) => Some("Malformed AS_PATH"),
            (6, 1) => Some("Maximum Number of Prefixes Reached"),
            (6, 2) => Some("Administrative Shutdown"),
            (6, 3) => Some("Peer De-configured"),
            (6, 4) => Some("Administrative Reset"),
            (6, 5) => Some("Connection Rejected"),
            (6, 6) => Some("Other Configuration Change"),
            (6, 7) => Some("Connection Collision Resolution"),
            (6, 8) => Some("Out of Resources"),
            (6, 9) => Some("Hard Reset"),
            (7, 1) => Some("Invalid Message Length"),
            _ => None,
        };
        match sub {
            Some(s) => write!(f, "{code}/{s}"),
            None if self.subcode == 0 => write!(f, "{code}"),
            None => write!(f, "{code}/subcode {}", self.subcode),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{CodecContext, Message};
    use super::*;

    #[test]
    fn cease_admin_shutdown_encodes_per_rfc_4486() {
        let bytes =
            Message::Notification(Notification::cease(2)).to_bytes(&CodecContext::default());
        assert_eq!(&bytes[16..], &[0, 21, 3, 6, 2]);
    }

    #[test]
    fn notification_with_data_decodes() {
        let n = Notification::decode(&[1, 2, 0x10, 0x01]).unwrap();
        assert_eq!(n.data, vec![0x10, 0x01]);
        assert_eq!(n.to_string(), "Message Header Error/Bad Message Length");
    }

    #[test]
    fn notification_text_names_code_and_subcode() {
        assert_eq!(
            Notification::cease(4).to_string(),
            "Cease/Administrative Reset"
        );
        assert_eq!(Notification::new(4, 0).to_string(), "Hold Timer Expired");
        assert_eq!(Notification::new(42, 1).to_string(), "code 42/subcode 1");
    }
}
