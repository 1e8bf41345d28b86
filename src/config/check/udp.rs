//! The keys of `udp` checks: `send` (required) and `expect`, byte strings written as text in
//! which `\xNN` stands for the byte NN and `\\` for a backslash.
//!
//! TOML's basic strings have no `\x` escape, so the escapes are anycastd's own and are written
//! in a literal string (`send = '\x00\x01ping'`) or with the backslash doubled in a basic one
//! (`send = "\\x00\\x01ping"`). Any other backslash is an error, so a typo is caught here and
//! not sent.

use super::super::model::*;
use super::super::validate::Ctx;
use super::{missing, Keys, Src};

pub(super) fn check(ctx: &mut Ctx, keys: Keys, kind_src: Option<&Src>) -> Option<UdpCheck> {
    let send = match keys.get("send") {
        None => {
            let what = "a udp check needs send = \"payload\" (may be \"\"; \\xNN for any byte)";
            missing(ctx, kind_src, what);
            None
        }
        Some(src) => bytes(ctx, &src),
    };
    let expect = match keys.get("expect") {
        None => Some(None),
        Some(src) => bytes(ctx, &src).map(Some),
    };
    Some(UdpCheck {
        send: send?,
        expect: expect?,
    })
}

fn bytes(ctx: &mut Ctx, src: &Src) -> Option<Vec<u8>> {
    let text = ctx.string(&src.path, src.leaf)?;
    let bytes = match unescape(text) {
        Ok(b) => b,
        Err(why) => {
            ctx.at(&src.path, &src.leaf.span(), why);
            return None;
        }
    };
    if bytes.len() > MAX_UDP_PAYLOAD {
        let msg = format_args!(
            "{} bytes do not fit a UDP datagram; at most {MAX_UDP_PAYLOAD}",
            bytes.len()
        );
        ctx.at(&src.path, &src.leaf.span(), msg);
        return None;
    }
    Some(bytes)
}

/// The bytes `text` stands for: `\xNN` is byte NN, `\\` a backslash, anything else itself
/// (as UTF-8).
pub(super) fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match rest {
            [b'\\', tail @ ..] => {
                out.push(b'\\');
                rest = tail;
            }
            [b'x', hi, lo, tail @ ..] if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                // Both are hex digits (the guard): to_digit cannot fail.
                let digit = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                out.push(digit(*hi) << 4 | digit(*lo));
                rest = tail;
            }
            _ => {
                let at = text.len() - rest.len() - 1;
                let near: String = text[at..].chars().take(4).collect();
                return Err(format!(
                    "unknown escape {near:?} at byte {at}; write \\xNN (two hex digits) for a byte, \\\\ for a backslash"
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_stand_for_bytes() {
        assert_eq!(unescape("ping").unwrap(), b"ping");
        assert_eq!(unescape("").unwrap(), b"");
        assert_eq!(unescape(r"\x00\xffA\x7F").unwrap(), [0, 255, b'A', 127]);
        assert_eq!(unescape(r"a\\b").unwrap(), b"a\\b");
        assert_eq!(unescape(r"\\x00").unwrap(), b"\\x00");
        assert_eq!(unescape("é").unwrap(), "é".as_bytes());
    }

    #[test]
    fn a_bad_escape_is_refused_with_where_it_is() {
        for bad in [r"\x0", r"\xg0", r"\n", "ab\\", r"\x"] {
            assert!(unescape(bad).is_err(), "{bad:?}");
        }
        let e = unescape(r"ab\q").unwrap_err();
        assert!(e.starts_with(r#"unknown escape "\\q" at byte 2"#), "{e}");
    }
}
