//! Health checks: types and their keys, timing, and backend overrides merged over the service check.

use std::time::Duration;

use super::*;
use crate::config::*;

/// A service (lines 4-8) whose `[vip.service.check]` is at line 9 with the given keys from
/// line 10, then one backend: `[[vip.service.backend]]` and its address on the next two lines.
fn service_check(keys: &[&'static str]) -> Vec<&'static str> {
    let mut lines = vec!["[vip.service.check]"]; // 9
    lines.extend(keys);
    service(&lines)
}

/// Like `service_check`, with a backend `check = { … }` override as the backend's third line.
fn with_override(keys: &[&'static str], check: &'static str) -> Vec<&'static str> {
    let mut lines = service_check(keys);
    lines.push(check);
    lines
}

fn backend_check(lines: &[&str]) -> Check {
    parse_ok(lines).vips[0].services[0].backends[0]
        .check
        .clone()
}

#[test]
fn check_type_must_be_known() {
    assert_one(
        &service_check(&[r#"type = "icmp""#]),
        10,
        8,
        r#"vip[0].service[0].check.type: unknown check type "icmp"; expected one of: tcp, http, https, dns, udp, grpc, exec, none"#,
    );
}

#[test]
fn rise_and_fall_of_zero_are_invalid() {
    assert_errors(
        &service_check(&["rise = 0", "fall = 0"]),
        &[
            (10, 8, "vip[0].service[0].check.rise: 0 is out of range; expected a count of consecutive checks, at least 1"),
            (11, 8, "vip[0].service[0].check.fall: 0 is out of range; expected a count of consecutive checks, at least 1"),
        ],
    );
}

#[test]
fn timeout_must_be_shorter_than_interval() {
    assert_one(
        &service_check(&[r#"interval = "1s""#, r#"timeout = "1s""#]),
        11,
        11,
        "vip[0].service[0].check.timeout: 1s must be shorter than the interval (1s)",
    );
    assert_one(
        &service_check(&[r#"interval = "1s""#, r#"timeout = "1m30s""#]),
        11,
        11,
        "timeout: 1m30s must be shorter than the interval (1s)",
    );
}

#[test]
fn an_interval_below_the_default_timeout_blames_the_interval() {
    assert_one(
        &service_check(&[r#"interval = "500ms""#]),
        10,
        12,
        "vip[0].service[0].check.interval: 500ms must be longer than the timeout (1s)",
    );
}

#[test]
fn zero_interval_is_invalid() {
    assert_one(
        &service_check(&[r#"interval = "0s""#]),
        10,
        12,
        "check.interval: must be longer than 0s",
    );
}

#[test]
fn durations_must_have_a_unit_and_no_space() {
    assert_one(
        &service_check(&[r#"interval = "2""#]),
        10,
        12,
        r#"vip[0].service[0].check.interval: "2" is not a duration; expected a number with a unit, like "500ms", "2s", "1m", "1h" or "1m30s" (units: h, m, s, ms)"#,
    );
    assert_one(
        &service_check(&[r#"timeout = "2 s""#]),
        10,
        11,
        r#""2 s" is not a duration"#,
    );
    assert_one(
        &service_check(&["interval = 2"]),
        10,
        12,
        r#"check.interval: expected a number with a unit, like "500ms""#,
    );
}

#[test]
fn every_duration_form_is_accepted() {
    let c = backend_check(&service_check(&[
        r#"interval = "1m30s""#,
        r#"timeout = "500ms""#,
    ]));
    assert_eq!(
        (c.interval, c.timeout),
        (Duration::from_secs(90), Duration::from_millis(500))
    );
    let c = backend_check(&service_check(&[r#"interval = "1h""#, r#"timeout = "1m""#]));
    assert_eq!(
        (c.interval, c.timeout),
        (Duration::from_secs(3600), Duration::from_secs(60))
    );
}

#[test]
fn exec_checks_need_a_command() {
    assert_one(
        &service_check(&[r#"type = "exec""#]),
        10,
        8,
        r#"vip[0].service[0].check.type: an exec check needs command = ["/path/to/program", "arg", …]"#,
    );
    assert_one(
        &service_check(&[r#"type = "exec""#, "command = []"]),
        11,
        11,
        "check.command: is empty; an exec check needs command",
    );
    assert_one(
        &service_check(&[r#"type = "exec""#, r#"command = ["", "x"]"#]),
        11,
        12,
        "check.command[0]: must not be empty",
    );
    assert_one(
        &service_check(&[r#"type = "exec""#, r#"command = ["/bin/true", 3]"#]),
        11,
        25,
        "check.command[1]: expected a string, found integer 3",
    );
    let c = backend_check(&service_check(&[
        r#"type = "exec""#,
        r#"command = ["/bin/check", "-q"]"#,
    ]));
    assert_eq!(
        c.kind,
        CheckKind::Exec {
            command: vec!["/bin/check".into(), "-q".into()]
        }
    );
}

#[test]
fn http_path_must_start_with_a_slash() {
    assert_one(
        &service_check(&[r#"type = "http""#, r#"path = "healthz""#]),
        11,
        8,
        r#"vip[0].service[0].check.path: "healthz" must start with '/'"#,
    );
}

#[test]
fn expect_is_a_status_or_a_range() {
    let bad = [
        (
            "expect = 99",
            10,
            "vip[0].service[0].check.expect: 99 is out of range; expected an HTTP status 100..=599",
        ),
        ("expect = 600", 10, "600 is out of range"),
        (
            r#"expect = "399-200""#,
            10,
            r#""399-200" is not an HTTP status 100..=599, or a range like "200-399""#,
        ),
        (r#"expect = "2xx""#, 10, r#""2xx" is not an HTTP status"#),
        (
            "expect = true",
            10,
            "expected an HTTP status 100..=599, or a range like \"200-399\", found boolean true",
        ),
    ];
    for (line, col, message) in bad {
        assert_one(
            &service_check(&[r#"type = "http""#, line]),
            11,
            col,
            message,
        );
    }
    let http = |c: Check| match c.kind {
        CheckKind::Http(h) | CheckKind::Https(h) => h,
        other => panic!("not http: {other:?}"),
    };
    let h = http(backend_check(&service_check(&[
        r#"type = "http""#,
        "expect = 204",
    ])));
    assert_eq!(h.expect, StatusRange { lo: 204, hi: 204 });
    let h = http(backend_check(&service_check(&[
        r#"type = "https""#,
        r#"expect = "200-399""#,
    ])));
    assert_eq!(h.expect, StatusRange { lo: 200, hi: 399 });
    let h = http(backend_check(&service_check(&[r#"type = "http""#])));
    assert_eq!(
        (h.path.as_str(), h.expect, h.host, h.tls_verify),
        ("/", StatusRange::SUCCESS, None, false)
    );
}

#[test]
fn keys_of_other_check_types_are_errors() {
    assert_one(
        &service_check(&[r#"path = "/healthz""#]),
        10,
        8,
        r#"vip[0].service[0].check.path: only used by http and https checks, but type is "tcp""#,
    );
    assert_one(
        &service_check(&[r#"type = "http""#, "tls_verify = true"]),
        11,
        14,
        r#"check.tls_verify: only used by https checks, but type is "http""#,
    );
    assert_one(
        &service_check(&[r#"type = "http""#, r#"command = ["x"]"#]),
        11,
        11,
        r#"check.command: only used by exec checks, but type is "http""#,
    );
}

#[test]
fn port_host_and_tls_verify_are_read() {
    let c = backend_check(&service_check(&[
        r#"type = "https""#,
        "port = 8443",
        r#"host = "www.example.com""#,
        "tls_verify = true",
    ]));
    assert_eq!(c.port, Some(8443));
    let CheckKind::Https(h) = c.kind else {
        panic!("not https")
    };
    assert_eq!(h.host.as_deref(), Some("www.example.com"));
    assert!(h.tls_verify);
    assert_one(
        &service_check(&["port = 0"]),
        10,
        8,
        "check.port: 0 is out of range; expected a port number 1..=65535",
    );
    assert_one(
        &service_check(&[r#"type = "http""#, r#"host = """#]),
        11,
        8,
        "check.host: must not be empty",
    );
}

#[test]
fn only_the_vip_check_takes_an_address() {
    assert_one(
        &service_check(&[r#"address = "10.0.10.12""#]),
        10,
        11,
        "vip[0].service[0].check.address: only [vip.check] takes an address",
    );
}

#[test]
fn a_backend_override_is_merged_key_by_key_over_the_service_check() {
    let lines = with_override(
        &[
            r#"type = "http""#,
            r#"path = "/healthz""#,
            r#"interval = "3s""#,
            "rise = 5",
        ],
        r#"check = { expect = 204, fall = 1 }"#,
    );
    let c = backend_check(&lines);
    assert_eq!(c.interval, Duration::from_secs(3));
    assert_eq!((c.rise, c.fall), (5, 1));
    assert_eq!(c.timeout, Duration::from_secs(1));
    let CheckKind::Http(h) = c.kind else {
        panic!("not http")
    };
    assert_eq!(h.path, "/healthz");
    assert_eq!(h.expect, StatusRange { lo: 204, hi: 204 });
}

#[test]
fn a_backend_may_change_the_type_without_unsetting_inherited_keys() {
    let lines = with_override(
        &[r#"type = "http""#, r#"path = "/healthz""#],
        r#"check = { type = "tcp" }"#,
    );
    assert_eq!(backend_check(&lines).kind, CheckKind::Tcp);
}

#[test]
fn an_override_that_breaks_timing_is_blamed_not_the_service_check() {
    // Service: interval 2s, timeout 1s (fine). The backend sets interval 1s: its interval is wrong.
    let lines = with_override(&[r#"interval = "2s""#], r#"check = { interval = "1s" }"#);
    assert_one(
        &lines,
        13,
        22,
        "vip[0].service[0].backend[0].check.interval: 1s must be longer than the timeout (1s)",
    );
    let lines = with_override(&[r#"interval = "2s""#], r#"check = { timeout = "3s" }"#);
    assert_one(
        &lines,
        13,
        21,
        "backend[0].check.timeout: 3s must be shorter than the interval (2s)",
    );
}

#[test]
fn a_service_check_error_is_reported_once_however_many_backends_inherit_it() {
    let mut lines = service_check(&["rise = 0"]);
    lines.extend([
        "[[vip.service.backend]]",
        r#"address = "10.0.10.12""#,
        "check = { fall = 5 }",
    ]);
    assert_one(
        &lines,
        10,
        8,
        "vip[0].service[0].check.rise: 0 is out of range",
    );
}

#[test]
fn an_override_of_an_unknown_type_is_reported_at_the_override() {
    let lines = with_override(&[], r#"check = { type = "ping" }"#);
    assert_one(
        &lines,
        12,
        18,
        r#"vip[0].service[0].backend[0].check.type: unknown check type "ping""#,
    );
}

#[test]
fn the_none_type_is_always_healthy_and_takes_timing_keys() {
    assert_eq!(
        backend_check(&service_check(&[r#"type = "none""#, "rise = 1"])).kind,
        CheckKind::None
    );
}

#[test]
fn vip_checks_take_the_same_keys() {
    let c = parse_ok(&with_node(&[
        "[[vip]]",
        r#"address = "10.100.0.53""#,
        "[vip.check]",
        "port = 53",
        r#"type = "exec""#,
        r#"command = ["/usr/bin/dig", "@10.100.0.53", "example.com"]"#,
        r#"interval = "5s""#,
        r#"timeout = "2s""#,
    ]));
    let vc = c.vips[0].check.as_ref().unwrap();
    assert_eq!(vc.check.interval, Duration::from_secs(5));
    assert!(matches!(vc.check.kind, CheckKind::Exec { .. }));
    assert_one(
        &with_node(&[
            "[[vip]]",
            r#"address = "10.100.0.53""#,
            "[vip.check]",
            "port = 53",
            "fall = 0",
        ]),
        8,
        8,
        "vip[0].check.fall: 0 is out of range",
    );
}

#[test]
fn check_timing_is_at_most_a_day() {
    let c = parse_ok(&service_check(&[
        r#"interval = "24h""#,
        r#"timeout = "23h""#,
    ]));
    assert_eq!(
        c.vips[0].services[0].backends[0].check.interval,
        Duration::from_secs(86_400)
    );
    // Before, this passed check and the check task panicked computing its next deadline.
    assert_one(
        &service_check(&[r#"interval = "5000000h""#]),
        10,
        12,
        "vip[0].service[0].check.interval: 5000000h is out of range; expected at most 24h",
    );
    assert_one(
        &service_check(&[r#"interval = "24h""#, r#"timeout = "25h""#]),
        11,
        11,
        "vip[0].service[0].check.timeout: 25h is out of range; expected at most 24h",
    );
}
