//! The IPVS generic netlink family: the generic netlink framing ([`genl`]), the IPVS commands
//! and attributes on it ([`message`]), errors with operator text ([`error`]), and the blocking
//! socket that runs dumps and pipelined changes ([`socket`]).
//!
//! Laid out like `netlink-packet-generic`'s `ctrl` module: a command enum with
//! `From`/`TryFrom<u8>`, constants named after the kernel header, stateless encode/decode.
//! neli 0.7 provides the socket (`NlSocket`); the codec is hand-written so that every byte is
//! visible and unit-tested (why not `netlink-packet-generic` itself: see [`genl`]).

pub mod error;
#[cfg(test)]
mod fixtures;
pub mod genl;
pub mod message;
pub mod socket;

pub use error::{describe, IpvsError};
pub use message::Request;
pub use socket::IpvsSocket;
