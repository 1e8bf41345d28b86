//! The keys of `dns` checks: `query` (required), `qtype`, `expect_rcode`, `tcp`,
//! `require_answer`.

use super::super::model::*;
use super::super::validate::Ctx;
use super::{missing, Keys, Src};

pub(super) fn check(ctx: &mut Ctx, keys: Keys, kind_src: Option<&Src>) -> Option<DnsCheck> {
    let query = match keys.get("query") {
        None => {
            missing(ctx, kind_src, "a dns check needs query = \"name.to.ask\"");
            None
        }
        Some(src) => query(ctx, &src),
    };
    let named = |ctx: &mut Ctx, key: &str, what: &str, table: &[(&str, u16)], default: u16| {
        let Some(src) = keys.get(key) else {
            return Some(default);
        };
        let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
        let name = ctx.choice(&src.path, src.leaf, what, &names)?;
        table.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
    };
    let qtype = named(
        ctx,
        "qtype",
        "DNS record type",
        DNS_QTYPES,
        DEFAULT_DNS_QTYPE,
    );
    let rcodes: Vec<(&str, u16)> = DNS_RCODES
        .iter()
        .map(|(n, c)| (*n, u16::from(*c)))
        .collect();
    let expect_rcode = named(
        ctx,
        "expect_rcode",
        "DNS response code",
        &rcodes,
        u16::from(DEFAULT_DNS_RCODE),
    );
    let flag = |ctx: &mut Ctx, key: &str| match keys.get(key) {
        None => Some(false),
        Some(src) => ctx.boolean(&src.path, src.leaf),
    };
    let tcp = flag(ctx, "tcp");
    let require_answer = flag(ctx, "require_answer");
    Some(DnsCheck {
        query: query?,
        qtype: qtype?,
        // From DNS_RCODES, all below 16.
        expect_rcode: expect_rcode? as u8,
        tcp: tcp?,
        require_answer: require_answer?,
    })
}

/// A domain name as it goes on the wire (RFC 1035 §2.3.4): labels of 1 to 63 bytes, at most
/// 255 bytes in all, one trailing dot optional (`"."` is the root). Printable ASCII only: an
/// internationalised name is written in its `xn--` form.
fn query(ctx: &mut Ctx, src: &Src) -> Option<String> {
    let name = ctx.string(&src.path, src.leaf)?;
    match domain_name(name) {
        Ok(name) => Some(name),
        Err(why) => {
            let msg = format_args!("{name:?} is not a domain name: {why}");
            ctx.at(&src.path, &src.leaf.span(), msg);
            None
        }
    }
}

/// The name without its trailing dot, or why it cannot be sent.
fn domain_name(name: &str) -> Result<String, &'static str> {
    if name.is_empty() {
        return Err("empty (the root is written \".\")");
    }
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.is_empty() {
        return Ok(String::new());
    }
    let mut wire = 1; // the root label
    for label in bare.split('.') {
        if label.is_empty() {
            return Err("empty label");
        }
        if label.len() > 63 {
            return Err("a label longer than 63 bytes");
        }
        if !label.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("only printable ASCII (write an internationalised name as xn--…)");
        }
        wire += 1 + label.len();
    }
    if wire > 255 {
        return Err("longer than 255 bytes");
    }
    Ok(bare.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names_follow_rfc_1035() {
        assert_eq!(domain_name("example.org."), Ok("example.org".into()));
        assert_eq!(domain_name("example.org"), Ok("example.org".into()));
        assert_eq!(domain_name("."), Ok(String::new()));
        assert_eq!(
            domain_name("_sip._udp.example.org"),
            Ok("_sip._udp.example.org".into())
        );
        assert!(domain_name("").is_err());
        assert!(domain_name("a..b").is_err());
        assert!(domain_name("..").is_err());
        assert!(domain_name(&"a".repeat(64)).is_err());
        assert!(domain_name(&"a".repeat(63)).is_ok());
        assert!(domain_name("ex ample.org").is_err());
        assert!(domain_name("bücher.de").is_err());
        // 127 labels of one byte: 255 bytes on the wire with the root; one more is too many.
        let longest = vec!["a"; 127].join(".");
        assert!(domain_name(&longest).is_ok());
        assert!(domain_name(&format!("a.{longest}")).is_err());
    }
}
