//! The keys of `http` and `https` checks: what is asked (`method`, `path`, `headers`, `host`),
//! what makes the answer healthy (`expect`, `body_contains`, `body_regex`) and, for https,
//! how the server is named and trusted (`tls_server_name`, `tls_verify`).

use super::super::model::*;
use super::super::raw::Value;
use super::super::validate::Ctx;
use super::{Keys, Src};

/// Request headers the check sets itself: the request is framed and its connection closed by
/// anycastd, and the Host header has its own key.
const OWN_HEADERS: &[&str] = &["connection", "content-length", "transfer-encoding"];

pub(super) fn check(ctx: &mut Ctx, keys: Keys, https: bool) -> Option<HttpCheck> {
    let path = match keys.get("path") {
        None => Some("/".to_string()),
        Some(src) => ctx.string(&src.path, src.leaf).and_then(|p| {
            if !p.starts_with('/') {
                let msg = format_args!("{p:?} must start with '/'");
                ctx.at(&src.path, &src.leaf.span(), msg);
                return None;
            }
            Some(p.to_string())
        }),
    };
    let expect = match keys.get("expect") {
        None => Some(StatusRange::SUCCESS),
        Some(src) => expect(ctx, &src),
    };
    let host = match keys.get("host") {
        None => Some(None),
        Some(src) => ctx
            .nonempty_string(&src.path, src.leaf)
            .map(|h| Some(h.to_string())),
    };
    let tls_verify = match keys.get("tls_verify") {
        Some(src) if https => ctx.boolean(&src.path, src.leaf),
        _ => Some(false),
    };
    let tls_server_name = match keys.get("tls_server_name") {
        Some(src) if https => tls_server_name(ctx, &src).map(Some),
        _ => Some(None),
    };
    let method_src = keys.get("method");
    let method = match &method_src {
        None => Some(HttpMethod::Get),
        Some(src) => {
            let names = HttpMethod::ALL.map(HttpMethod::as_str);
            ctx.choice(&src.path, src.leaf, "HTTP method", &names)
                .and_then(|m| HttpMethod::ALL.into_iter().find(|x| x.as_str() == m))
        }
    };
    let headers = match keys.get("headers") {
        None => Some(Vec::new()),
        Some(src) => headers(ctx, &src),
    };
    let contains_src = keys.get("body_contains");
    let body_contains = match &contains_src {
        None => Some(None),
        Some(src) => ctx
            .nonempty_string(&src.path, src.leaf)
            .map(|s| Some(s.to_string())),
    };
    let regex_src = keys.get("body_regex");
    let body_regex = match &regex_src {
        None => Some(None),
        Some(src) => body_regex(ctx, src).map(Some),
    };
    if method == Some(HttpMethod::Head) {
        let body_srcs = [contains_src, regex_src];
        if let Some(method_src) = &method_src {
            if !head_has_no_body(ctx, method_src, &body_srcs) {
                return None;
            }
        }
    }
    Some(HttpCheck {
        path: path?,
        expect: expect?,
        host: host?,
        tls_verify: tls_verify?,
        method: method?,
        headers: headers?,
        body_contains: body_contains?,
        body_regex: body_regex?,
        tls_server_name: tls_server_name?,
    })
}

/// `method = "HEAD"` with `body_contains` or `body_regex`: a HEAD response has no body, so
/// the check could never pass. Blamed on the key written in the table being resolved (a
/// backend that sets HEAD under a service that reads the body is wrong, not the service);
/// false when there is an error.
fn head_has_no_body(ctx: &mut Ctx, method_src: &Src, body_srcs: &[Option<Src>]) -> bool {
    let mut fine = true;
    for body_src in body_srcs.iter().flatten() {
        fine = false;
        let key = body_src.path.rsplit('.').next().unwrap_or_default();
        if method_src.own && !body_src.own {
            let msg = format_args!(
                "a HEAD response has no body, but {key} is inherited from the service check"
            );
            ctx.at(&method_src.path, &method_src.leaf.span(), msg);
        } else {
            let msg = "a HEAD response has no body to read; use method = \"GET\"";
            ctx.at(&body_src.path, &body_src.leaf.span(), msg);
        }
    }
    fine
}

/// `headers = { "X-Name" = "value", … }`: each name a valid HTTP field name, not one the check
/// sets itself, at most once (names are case-insensitive); each value a string HTTP allows.
fn headers(ctx: &mut Ctx, src: &Src) -> Option<Vec<(String, String)>> {
    let Value::Table(entries) = src.leaf.get_ref() else {
        let found = src.leaf.get_ref().describe();
        let msg = format_args!(
            "expected a table of header names and values like {{ \"X-Check\" = \"1\" }}, found {found}"
        );
        ctx.at(&src.path, &src.leaf.span(), msg);
        return None;
    };
    // In file order (the parsed table may hand its keys over sorted).
    let mut entries: Vec<_> = entries.iter().collect();
    entries.sort_by_key(|(name, _)| name.span().start);
    let mut seen = super::super::validate::FirstSeen::new();
    let mut headers = Vec::new();
    let mut ok = true;
    for (name, value) in entries {
        let here = format!("{}.{:?}", src.path, name.get_ref());
        let lower = name.get_ref().to_ascii_lowercase();
        let problem = if hyper::header::HeaderName::from_bytes(name.get_ref().as_bytes()).is_err() {
            Some("is not a valid HTTP header name".to_string())
        } else if lower == "host" {
            Some("set the Host header with host = \"…\"".to_string())
        } else if OWN_HEADERS.contains(&lower.as_str()) {
            Some("is set by the check itself (one request per connection)".to_string())
        } else {
            seen.earlier(lower, ctx.line(&name.span()))
                .map(|line| format!("duplicate header (first defined at line {line})"))
        };
        if let Some(problem) = problem {
            ctx.at(&here, &name.span(), problem);
            ok = false;
            continue;
        }
        let Some(text) = ctx.string(&here, value) else {
            ok = false;
            continue;
        };
        if hyper::header::HeaderValue::from_str(text).is_err() {
            let msg = format_args!(
                "{text:?} is not a valid HTTP header value (visible ASCII, spaces and tabs)"
            );
            ctx.at(&here, &value.span(), msg);
            ok = false;
            continue;
        }
        headers.push((name.get_ref().clone(), text.to_string()));
    }
    ok.then_some(headers)
}

/// `body_regex`: compiled once here, so a bad pattern is a config error and not a failing check.
fn body_regex(ctx: &mut Ctx, src: &Src) -> Option<BodyRegex> {
    let pattern = ctx.nonempty_string(&src.path, src.leaf)?;
    match regex::bytes::Regex::new(pattern) {
        Ok(re) => Some(BodyRegex(re)),
        Err(e) => {
            // The syntax error is several lines (the pattern with a caret); keep its last one.
            let text = e.to_string();
            let why = text
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix("error: "))
                .unwrap_or(text.lines().last().unwrap_or_default());
            let msg = format_args!("{pattern:?} is not a valid regular expression: {why}");
            ctx.at(&src.path, &src.leaf.span(), msg);
            None
        }
    }
}

/// `tls_server_name`: a DNS name or an IP address, as TLS can carry it.
fn tls_server_name(ctx: &mut Ctx, src: &Src) -> Option<String> {
    let name = ctx.nonempty_string(&src.path, src.leaf)?;
    if rustls::pki_types::ServerName::try_from(name).is_err() {
        let msg = format_args!("{name:?} is not a DNS name or an IP address");
        ctx.at(&src.path, &src.leaf.span(), msg);
        return None;
    }
    Some(name.to_string())
}

/// `expect = 200` or `expect = "200-399"` (or `"204"`): acceptable HTTP status codes.
fn expect(ctx: &mut Ctx, src: &Src) -> Option<StatusRange> {
    const WHAT: &str = "an HTTP status 100..=599, or a range like \"200-399\"";
    let code = |s: &str| s.parse::<u16>().ok().filter(|c| (100..=599).contains(c));
    match src.leaf.get_ref() {
        Value::Integer(_) => {
            let c = ctx.int(&src.path, src.leaf, 100..=599, WHAT)? as u16;
            Some(StatusRange { lo: c, hi: c })
        }
        Value::String(s) => {
            let range = match s.split_once('-') {
                Some((lo, hi)) => code(lo).zip(code(hi)),
                None => code(s).map(|c| (c, c)),
            };
            match range {
                Some((lo, hi)) if lo <= hi => Some(StatusRange { lo, hi }),
                _ => {
                    ctx.at(
                        &src.path,
                        &src.leaf.span(),
                        format_args!("{s:?} is not {WHAT}"),
                    );
                    None
                }
            }
        }
        _ => {
            let found = src.leaf.get_ref().describe();
            let msg = format_args!("expected {WHAT}, found {found}");
            ctx.at(&src.path, &src.leaf.span(), msg);
            None
        }
    }
}
