//! The validation context: collects every error with its position, and reads raw leaves into
//! typed values, each reader saying what was expected when a leaf does not fit.
//!
//! Readers return `None` after recording an error, so callers just skip what failed and go on,
//! and one pass over the file reports everything that is wrong with it.

use std::collections::hash_map::{Entry, HashMap};
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::{Range, RangeInclusive};
use std::time::Duration;

use super::duration;
use super::position::LineIndex;
use super::raw::{Leaf, Value};
use super::ConfigError;

/// Collects errors for one file.
pub struct Ctx<'a> {
    index: LineIndex<'a>,
    errors: Vec<ConfigError>,
}

impl<'a> Ctx<'a> {
    pub fn new(text: &'a str) -> Self {
        Ctx {
            index: LineIndex::new(text),
            errors: Vec::new(),
        }
    }

    /// Records `message` at the start of `span`.
    pub fn error(&mut self, span: &Range<usize>, message: impl Into<String>) {
        let (line, col) = self.index.locate(span.start);
        self.errors.push(ConfigError {
            line,
            col,
            message: message.into(),
        });
    }

    /// Records `path: message` at the start of `span`.
    pub fn at(&mut self, path: &str, span: &Range<usize>, message: impl std::fmt::Display) {
        self.error(span, format!("{path}: {message}"));
    }

    /// 1-based line of a span, for "first defined at line N".
    pub fn line(&self, span: &Range<usize>) -> usize {
        self.index.line(span.start)
    }

    /// All errors, in file order; an error reported twice (a service check value inherited by
    /// several backends) is kept once.
    pub fn into_errors(self) -> Vec<ConfigError> {
        let mut errors = self.errors;
        errors.sort_by_key(|e| (e.line, e.col));
        let mut seen = std::collections::HashSet::new();
        errors.retain(|e| seen.insert((e.line, e.col, e.message.clone())));
        errors
    }

    fn wrong_type(&mut self, path: &str, leaf: &Leaf, expected: &str) {
        let found = leaf.get_ref().describe();
        self.at(
            path,
            &leaf.span(),
            format_args!("expected {expected}, found {found}"),
        );
    }

    pub fn string<'l>(&mut self, path: &str, leaf: &'l Leaf) -> Option<&'l str> {
        match leaf.get_ref() {
            Value::String(s) => Some(s),
            _ => {
                self.wrong_type(path, leaf, "a string");
                None
            }
        }
    }

    pub fn nonempty_string<'l>(&mut self, path: &str, leaf: &'l Leaf) -> Option<&'l str> {
        let s = self.string(path, leaf)?;
        if s.is_empty() {
            self.at(path, &leaf.span(), "must not be empty");
            return None;
        }
        Some(s)
    }

    pub fn boolean(&mut self, path: &str, leaf: &Leaf) -> Option<bool> {
        match leaf.get_ref() {
            Value::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(path, leaf, "true or false");
                None
            }
        }
    }

    /// An integer in `range`; `what` describes it for messages ("a port 1..=65535").
    pub fn int(
        &mut self,
        path: &str,
        leaf: &Leaf,
        range: RangeInclusive<i64>,
        what: &str,
    ) -> Option<i64> {
        let Value::Integer(n) = *leaf.get_ref() else {
            self.wrong_type(path, leaf, what);
            return None;
        };
        if !range.contains(&n) {
            self.at(
                path,
                &leaf.span(),
                format_args!("{n} is out of range; expected {what}"),
            );
            return None;
        }
        Some(n)
    }

    pub fn u32(&mut self, path: &str, leaf: &Leaf, min: u32, what: &str) -> Option<u32> {
        self.int(path, leaf, i64::from(min)..=i64::from(u32::MAX), what)
            .map(|n| n as u32)
    }

    pub fn u16(&mut self, path: &str, leaf: &Leaf, min: u16, what: &str) -> Option<u16> {
        self.int(path, leaf, i64::from(min)..=i64::from(u16::MAX), what)
            .map(|n| n as u16)
    }

    pub fn port(&mut self, path: &str, leaf: &Leaf) -> Option<u16> {
        self.u16(path, leaf, 1, "a port number 1..=65535")
    }

    /// A BGP hold time: 0 (no keepalives) or 3..=65535 seconds (RFC 4271 §4.2).
    pub fn hold_time(&mut self, path: &str, leaf: &Leaf) -> Option<u16> {
        const WHAT: &str = "a hold time in seconds, 0 or 3..=65535";
        let n = self.u16(path, leaf, 0, WHAT)?;
        if n == 1 || n == 2 {
            self.at(
                path,
                &leaf.span(),
                format_args!("{n} is out of range; expected {WHAT}"),
            );
            return None;
        }
        Some(n)
    }

    /// An AS number: an integer 1..=4294967295, or the asdot string `"1.10"` (= 65546).
    pub fn asn(&mut self, path: &str, leaf: &Leaf) -> Option<u32> {
        const WHAT: &str = "an AS number 1..=4294967295, or asdot like \"1.10\"";
        let asn = match leaf.get_ref() {
            Value::Integer(_) => self.u32(path, leaf, 0, WHAT)?,
            Value::String(s) => match parse_asn(s) {
                Some(asn) => asn,
                None => {
                    self.at(path, &leaf.span(), format_args!("{s:?} is not {WHAT}"));
                    return None;
                }
            },
            _ => {
                self.wrong_type(path, leaf, WHAT);
                return None;
            }
        };
        if asn == 0 {
            self.at(
                path,
                &leaf.span(),
                format_args!("AS 0 is reserved; expected {WHAT}"),
            );
            return None;
        }
        Some(asn)
    }

    pub fn ip(&mut self, path: &str, leaf: &Leaf) -> Option<IpAddr> {
        let s = self.string(path, leaf)?;
        match s.parse() {
            Ok(ip) => Some(ip),
            Err(_) => {
                self.at(
                    path,
                    &leaf.span(),
                    format_args!("{s:?} is not an IP address"),
                );
                None
            }
        }
    }

    pub fn ipv4(&mut self, path: &str, leaf: &Leaf, why: &str) -> Option<Ipv4Addr> {
        match self.ip(path, leaf)? {
            IpAddr::V4(ip) => Some(ip),
            IpAddr::V6(ip) => {
                let msg = format_args!("{ip} is an IPv6 address; {why}");
                self.at(path, &leaf.span(), msg);
                None
            }
        }
    }

    pub fn ipv6(&mut self, path: &str, leaf: &Leaf, why: &str) -> Option<Ipv6Addr> {
        match self.ip(path, leaf)? {
            IpAddr::V6(ip) => Some(ip),
            IpAddr::V4(ip) => {
                let msg = format_args!("{ip} is an IPv4 address; {why}");
                self.at(path, &leaf.span(), msg);
                None
            }
        }
    }

    pub fn socket_addr(&mut self, path: &str, leaf: &Leaf) -> Option<SocketAddr> {
        let s = self.string(path, leaf)?;
        match s.parse() {
            Ok(addr) => Some(addr),
            Err(_) => {
                let msg = format_args!(
                    "{s:?} is not a socket address; expected ADDRESS:PORT like \"127.0.0.1:9180\" or \"[::1]:9180\""
                );
                self.at(path, &leaf.span(), msg);
                None
            }
        }
    }

    /// A duration string (`"2s"`) of at most `max`; with `seconds_ok`, also a bare integer of
    /// seconds (`5`), as BGP timers are traditionally written.
    pub fn duration(
        &mut self,
        path: &str,
        leaf: &Leaf,
        seconds_ok: bool,
        max: Duration,
    ) -> Option<Duration> {
        let d = self.any_duration(path, leaf, seconds_ok)?;
        if d > max {
            let (d, max) = (duration::format(d), duration::format(max));
            let msg = format_args!("{d} is out of range; expected at most {max}");
            self.at(path, &leaf.span(), msg);
            return None;
        }
        Some(d)
    }

    /// A duration without an upper bound, for a caller that checks its own range with a
    /// message of its own (`restart_time`'s 12-bit field).
    pub fn any_duration(&mut self, path: &str, leaf: &Leaf, seconds_ok: bool) -> Option<Duration> {
        let forms = if seconds_ok {
            format!(
                "an integer number of seconds or {}",
                duration::DURATION_FORMS
            )
        } else {
            duration::DURATION_FORMS.to_string()
        };
        match leaf.get_ref() {
            Value::Integer(n) if seconds_ok => match u64::try_from(*n) {
                Ok(n) => Some(Duration::from_secs(n)),
                Err(_) => {
                    self.at(
                        path,
                        &leaf.span(),
                        format_args!("{n} is negative; expected {forms}"),
                    );
                    None
                }
            },
            Value::String(s) => match duration::parse(s) {
                Some(d) => Some(d),
                None => {
                    let msg = format_args!("{s:?} is not a duration; expected {forms}");
                    self.at(path, &leaf.span(), msg);
                    None
                }
            },
            _ => {
                self.wrong_type(path, leaf, &forms);
                None
            }
        }
    }

    /// One of a fixed set of words (`"tcp"`, `"udp"`, …); `what` names the setting.
    pub fn choice<'l>(
        &mut self,
        path: &str,
        leaf: &'l Leaf,
        what: &str,
        choices: &[&str],
    ) -> Option<&'l str> {
        let s = self.string(path, leaf)?;
        if choices.contains(&s) {
            return Some(s);
        }
        let list = choices.join(", ");
        let msg = format_args!("unknown {what} {s:?}; expected one of: {list}");
        self.at(path, &leaf.span(), msg);
        None
    }

    /// An array; its elements come with their own spans.
    pub fn array<'l>(&mut self, path: &str, leaf: &'l Leaf, what: &str) -> Option<&'l [Leaf]> {
        match leaf.get_ref() {
            Value::Array(items) => Some(items),
            _ => {
                self.wrong_type(path, leaf, &format!("an array of {what}"));
                None
            }
        }
    }
}

/// `"65001"` (asplain) or `"1.10"` (asdot, RFC 5396: high.low, each 0..=65535).
fn parse_asn(s: &str) -> Option<u32> {
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    match s.split_once('.') {
        None if digits(s) => s.parse().ok(),
        Some((hi, lo)) if digits(hi) && digits(lo) => {
            let hi: u16 = hi.parse().ok()?;
            let lo: u16 = lo.parse().ok()?;
            Some(u32::from(hi) << 16 | u32::from(lo))
        }
        _ => None,
    }
}

/// Remembers the line where each key (a VIP, a peer, a service name) was first defined.
pub struct FirstSeen<K>(HashMap<K, usize>);

impl<K: Hash + Eq> FirstSeen<K> {
    pub fn new() -> Self {
        FirstSeen(HashMap::new())
    }

    /// Records `key` at `line`; when it was already there, returns the earlier line instead.
    pub fn earlier(&mut self, key: K, line: usize) -> Option<usize> {
        match self.0.entry(key) {
            Entry::Occupied(first) => Some(*first.get()),
            Entry::Vacant(slot) => {
                slot.insert(line);
                None
            }
        }
    }
}

/// The address in a leaf, if it holds a valid one, without reporting anything: for duplicate
/// checks, which must work even when the rest of the table has errors.
pub fn peek_ip(leaf: Option<&Leaf>) -> Option<(IpAddr, &Leaf)> {
    let leaf = leaf?;
    match leaf.get_ref() {
        Value::String(s) => s.parse().ok().map(|ip| (ip, leaf)),
        _ => None,
    }
}

/// Joins a table path and a key: `path("vip[0]", "address")` is `vip[0].address`.
pub fn path(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asdot_and_asplain_strings_parse() {
        assert_eq!(parse_asn("65001"), Some(65001));
        assert_eq!(parse_asn("1.10"), Some(65546));
        assert_eq!(parse_asn("65535.65535"), Some(u32::MAX));
        assert_eq!(parse_asn("0.0"), Some(0));
    }

    #[test]
    fn malformed_asn_strings_are_rejected() {
        for bad in [
            "",
            "1.",
            ".1",
            "1.2.3",
            "65536.0",
            "1.65536",
            "-1",
            "a",
            "4294967296",
        ] {
            assert_eq!(parse_asn(bad), None, "{bad:?}");
        }
    }
}
