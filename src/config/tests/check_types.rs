//! The dns, udp and grpc check types and the HTTP body, header, method and TLS name keys: each
//! rule with its message at its line:column, and what a valid table resolves to.

use super::*;
use crate::config::*;

/// `[vip.service.check]` at line 9, the given keys from line 10 (see `check.rs`).
fn service_check(keys: &[&'static str]) -> Vec<&'static str> {
    let mut lines = vec!["[vip.service.check]"];
    lines.extend(keys);
    service(&lines)
}

fn kind(keys: &[&'static str]) -> CheckKind {
    parse_ok(&service_check(keys)).vips[0].services[0].backends[0]
        .check
        .kind
        .clone()
}

fn http(keys: &[&'static str]) -> HttpCheck {
    match kind(keys) {
        CheckKind::Http(h) | CheckKind::Https(h) => h,
        other => panic!("not http: {other:?}"),
    }
}

#[test]
fn a_dns_check_resolves_with_its_defaults() {
    assert_eq!(
        kind(&[r#"type = "dns""#, r#"query = "example.org.""#]),
        CheckKind::Dns(DnsCheck {
            query: "example.org".into(),
            qtype: 1,
            expect_rcode: 0,
            tcp: false,
            require_answer: false,
        })
    );
    assert_eq!(
        kind(&[
            r#"type = "dns""#,
            r#"query = ".""#,
            r#"qtype = "NS""#,
            r#"expect_rcode = "NXDOMAIN""#,
            "tcp = true",
            "require_answer = true",
        ]),
        CheckKind::Dns(DnsCheck {
            query: String::new(),
            qtype: 2,
            expect_rcode: 3,
            tcp: true,
            require_answer: true,
        })
    );
}

#[test]
fn a_dns_check_needs_a_query_that_is_a_domain_name() {
    assert_one(
        &service_check(&[r#"type = "dns""#]),
        10,
        8,
        r#"vip[0].service[0].check.type: a dns check needs query = "name.to.ask""#,
    );
    assert_one(
        &service_check(&[r#"type = "dns""#, r#"query = "a..b""#]),
        11,
        9,
        r#"vip[0].service[0].check.query: "a..b" is not a domain name: empty label"#,
    );
    assert_one(
        &service_check(&[r#"type = "dns""#, "query = 5"]),
        11,
        9,
        "check.query: expected a string, found integer 5",
    );
}

#[test]
fn qtype_and_expect_rcode_are_names_from_their_lists() {
    assert_one(
        &service_check(&[r#"type = "dns""#, r#"query = "x""#, r#"qtype = "a""#]),
        12,
        9,
        r#"vip[0].service[0].check.qtype: unknown DNS record type "a"; expected one of: A, NS, CNAME, SOA, PTR, MX, TXT, AAAA, SRV, ANY"#,
    );
    assert_one(
        &service_check(&[
            r#"type = "dns""#,
            r#"query = "x""#,
            r#"expect_rcode = "YXDOMAIN""#,
        ]),
        12,
        16,
        r#"check.expect_rcode: unknown DNS response code "YXDOMAIN"; expected one of: NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED"#,
    );
    assert_one(
        &service_check(&[r#"type = "dns""#, r#"query = "x""#, r#"tcp = "yes""#]),
        12,
        7,
        r#"check.tcp: expected true or false, found string "yes""#,
    );
}

#[test]
fn dns_keys_belong_to_dns_checks_only() {
    assert_one(
        &service_check(&[r#"type = "http""#, r#"query = "x""#]),
        11,
        9,
        r#"vip[0].service[0].check.query: only used by dns checks, but type is "http""#,
    );
    assert_one(
        &service_check(&["require_answer = true"]),
        10,
        18,
        r#"check.require_answer: only used by dns checks, but type is "tcp""#,
    );
    assert_one(
        &service_check(&[r#"type = "dns""#, r#"query = "x""#, "expect = 200"]),
        12,
        10,
        r#"check.expect: only used by http, https and udp checks, but type is "dns""#,
    );
}

#[test]
fn a_udp_check_sends_bytes_and_may_expect_some() {
    assert_eq!(
        kind(&[r#"type = "udp""#, r#"send = '\x00\x01ping'"#]),
        CheckKind::Udp(UdpCheck {
            send: b"\x00\x01ping".to_vec(),
            expect: None,
        })
    );
    assert_eq!(
        kind(&[r#"type = "udp""#, r#"send = """#, r#"expect = "\\xffok""#]),
        CheckKind::Udp(UdpCheck {
            send: Vec::new(),
            expect: Some(b"\xffok".to_vec()),
        })
    );
}

#[test]
fn a_udp_check_needs_send_and_valid_escapes() {
    assert_one(
        &service_check(&[r#"type = "udp""#]),
        10,
        8,
        r#"vip[0].service[0].check.type: a udp check needs send = "payload""#,
    );
    assert_one(
        &service_check(&[r#"type = "udp""#, r#"send = 'ping\n'"#]),
        11,
        8,
        r#"vip[0].service[0].check.send: unknown escape "\\n" at byte 4; write \xNN"#,
    );
    assert_one(
        &service_check(&[r#"type = "udp""#, r#"send = "x""#, r#"expect = '\x4'"#]),
        12,
        10,
        r#"check.expect: unknown escape "\\x4" at byte 0"#,
    );
    assert_one(
        &service_check(&[r#"type = "udp""#, "send = [1]"]),
        11,
        8,
        "check.send: expected a string, found an array",
    );
    assert_one(
        &service_check(&[r#"type = "http""#, r#"send = "x""#]),
        11,
        8,
        r#"check.send: only used by udp checks, but type is "http""#,
    );
}

#[test]
fn an_http_expect_is_still_a_status_beside_udp_bytes() {
    assert_one(
        &service_check(&[r#"type = "http""#, r#"expect = "pong""#]),
        11,
        10,
        r#"check.expect: "pong" is not an HTTP status"#,
    );
}

#[test]
fn http_method_headers_and_body_keys_resolve() {
    let h = http(&[
        r#"type = "https""#,
        r#"method = "POST""#,
        r#"headers = { "X-Check" = "anycastd", Accept = "application/json" }"#,
        r#"body_contains = "ok""#,
        r#"body_regex = "^\\{.*\"up\":true""#,
        r#"tls_server_name = "api.internal""#,
    ]);
    assert_eq!(h.method, HttpMethod::Post);
    assert_eq!(
        h.headers,
        vec![
            ("X-Check".to_string(), "anycastd".to_string()),
            ("Accept".to_string(), "application/json".to_string())
        ]
    );
    assert_eq!(h.body_contains.as_deref(), Some("ok"));
    assert_eq!(h.body_regex.unwrap().0.as_str(), r#"^\{.*"up":true"#);
    assert_eq!(h.tls_server_name.as_deref(), Some("api.internal"));
    let h = http(&[r#"type = "http""#]);
    assert_eq!(h, HttpCheck::get("/", StatusRange::SUCCESS));
}

#[test]
fn the_method_is_one_of_five() {
    assert_one(
        &service_check(&[r#"type = "http""#, r#"method = "get""#]),
        11,
        10,
        r#"vip[0].service[0].check.method: unknown HTTP method "get"; expected one of: GET, HEAD, POST, PUT, OPTIONS"#,
    );
}

#[test]
fn a_head_request_cannot_check_a_body() {
    assert_one(
        &service_check(&[
            r#"type = "http""#,
            r#"method = "HEAD""#,
            r#"body_regex = "ok""#,
        ]),
        12,
        14,
        r#"vip[0].service[0].check.body_regex: a HEAD response has no body to read; use method = "GET""#,
    );
    // A backend that turns the service's body check into HEAD is blamed at its method.
    let mut lines = service_check(&[r#"type = "http""#, r#"body_contains = "ok""#]);
    lines.push(r#"check = { method = "HEAD" }"#);
    assert_one(
        &lines,
        14,
        20,
        "vip[0].service[0].backend[0].check.method: a HEAD response has no body, but body_contains is inherited from the service check",
    );
    assert_eq!(
        http(&[r#"type = "http""#, r#"method = "HEAD""#]).method,
        HttpMethod::Head
    );
}

#[test]
fn headers_are_a_table_of_valid_names_and_values() {
    assert_one(
        &service_check(&[r#"type = "http""#, r#"headers = "X-A: 1""#]),
        11,
        11,
        r#"vip[0].service[0].check.headers: expected a table of header names and values like { "X-Check" = "1" }, found string "X-A: 1""#,
    );
    assert_one(
        &service_check(&[r#"type = "http""#, r#"headers = { "Bad Name" = "1" }"#]),
        11,
        13,
        r#"vip[0].service[0].check.headers."Bad Name": is not a valid HTTP header name"#,
    );
    assert_one(
        &service_check(&[r#"type = "http""#, r#"headers = { Host = "a" }"#]),
        11,
        13,
        r#"check.headers."Host": set the Host header with host = "…""#,
    );
    assert_one(
        &service_check(&[
            r#"type = "http""#,
            r#"headers = { Connection = "keep-alive" }"#,
        ]),
        11,
        13,
        r#"check.headers."Connection": is set by the check itself"#,
    );
    assert_one(
        &service_check(&[r#"type = "http""#, r#"headers = { a = "1", A = "2" }"#]),
        11,
        22,
        r#"check.headers."A": duplicate header (first defined at line 11)"#,
    );
    assert_one(
        &service_check(&[r#"type = "http""#, r#"headers = { a = "x\ny" }"#]),
        11,
        17,
        r#"check.headers."a": "x\ny" is not a valid HTTP header value"#,
    );
    assert_one(
        &service_check(&[r#"type = "http""#, "headers = { a = 1 }"]),
        11,
        17,
        r#"check.headers."a": expected a string, found integer 1"#,
    );
    // The sub-table form (here after the backend, lines 13-14) points at the name's own line.
    let mut lines = service_check(&[r#"type = "http""#]);
    lines.extend(["[vip.service.check.headers]", r#""X_Y Z" = "1""#]);
    let errs = errors(&lines);
    assert!(
        errs.iter().any(|(l, c, m)| (*l, *c) == (14, 1)
            && m.ends_with(r#"check.headers."X_Y Z": is not a valid HTTP header name"#)),
        "{errs:?}"
    );
}

#[test]
fn body_keys_must_be_usable() {
    assert_one(
        &service_check(&[r#"type = "http""#, r#"body_contains = """#]),
        11,
        17,
        "vip[0].service[0].check.body_contains: must not be empty",
    );
    assert_one(
        &service_check(&[r#"type = "http""#, r#"body_regex = "(up""#]),
        11,
        14,
        r#"vip[0].service[0].check.body_regex: "(up" is not a valid regular expression: unclosed group"#,
    );
    assert_one(
        &service_check(&[r#"body_contains = "ok""#]),
        10,
        17,
        r#"check.body_contains: only used by http and https checks, but type is "tcp""#,
    );
}

#[test]
fn tls_server_name_is_a_name_and_for_https_only() {
    assert_one(
        &service_check(&[r#"type = "https""#, r#"tls_server_name = "a b""#]),
        11,
        19,
        r#"vip[0].service[0].check.tls_server_name: "a b" is not a DNS name or an IP address"#,
    );
    assert_one(
        &service_check(&[r#"type = "http""#, r#"tls_server_name = "a.b""#]),
        11,
        19,
        r#"check.tls_server_name: only used by https checks, but type is "http""#,
    );
}

#[test]
fn a_vip_check_takes_the_new_types_with_its_port() {
    let c = parse_ok(&with_node(&[
        "[[vip]]",
        r#"address = "192.0.2.53""#,
        r#"interface = "lo""#,
        "[vip.check]",
        "port = 53",
        r#"type = "dns""#,
        r#"query = "example.com""#,
        r#"qtype = "SOA""#,
    ]));
    let vc = c.vips[0].check.as_ref().unwrap();
    assert_eq!(vc.port, 53);
    assert!(matches!(&vc.check.kind, CheckKind::Dns(d) if d.qtype == 6));
}

#[test]
fn a_grpc_check_asks_for_a_service_or_the_whole_server() {
    assert_eq!(
        kind(&[r#"type = "grpc""#]),
        CheckKind::Grpc(GrpcCheck {
            service: String::new()
        })
    );
    assert_eq!(
        kind(&[r#"type = "grpc""#, r#"service = "orders.v1.Orders""#]),
        CheckKind::Grpc(GrpcCheck {
            service: "orders.v1.Orders".into()
        })
    );
    assert_one(
        &service_check(&[r#"type = "grpc""#, "service = 1"]),
        11,
        11,
        "vip[0].service[0].check.service: expected a string, found integer 1",
    );
    assert_one(
        &service_check(&[r#"type = "http""#, r#"service = "x""#]),
        11,
        11,
        r#"check.service: only used by grpc checks, but type is "http""#,
    );
}
