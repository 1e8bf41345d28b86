//! `[[vip.service]]` and `[[vip.service.backend]]`.

use std::time::Duration;

use super::*;
use crate::config::*;

/// The service line `bad` (line 9) is refused at column `col` with `message`; the service
/// parsed with `good` instead is returned.
#[track_caller]
fn refused_then_accepted(
    bad: &'static str,
    col: usize,
    message: &str,
    good: &'static str,
) -> Service {
    assert_one(&service(&[bad]), 9, col, message);
    parse_ok(&service(&[good])).vips[0].services[0].clone()
}

#[test]
fn service_names_are_unique_in_the_whole_file() {
    let mut lines = service(&[]); // "web" on 10.100.0.1, lines 4-10
    lines.extend([
        "[[vip]]",
        r#"address = "10.100.0.2""#,
        "[[vip.service]]",
        r#"name = "web""#,
        "port = 80",
        "[[vip.service.backend]]",
        r#"address = "10.0.10.12""#,
    ]);
    assert_one(
        &lines,
        14,
        8,
        r#"vip[1].service[0].name: duplicate service name "web" (first defined at line 7)"#,
    );
}

#[test]
fn service_name_and_port_are_required() {
    assert_errors(
        &with_node(&[
            "[[vip]]",
            r#"address = "10.100.0.1""#,
            "[[vip.service]]",
            "[[vip.service.backend]]",
            r#"address = "10.0.10.11""#,
        ]),
        &[
            (6, 1, "vip[0].service[0]: name is required"),
            (6, 1, "vip[0].service[0]: port is required"),
        ],
    );
}

#[test]
fn a_service_needs_a_backend() {
    let mut lines = service(&[]);
    lines.truncate(lines.len() - 2); // without its backend
    assert_one(
        &lines,
        6,
        1,
        "vip[0].service[0]: a service needs at least one [[vip.service.backend]]",
    );
}

#[test]
fn protocol_must_be_tcp_udp_or_sctp() {
    let accepted = refused_then_accepted(
        r#"protocol = "icmp""#,
        12,
        r#"vip[0].service[0].protocol: unknown protocol "icmp"; expected one of: tcp, udp, sctp"#,
        r#"protocol = "sctp""#,
    );
    assert_eq!(accepted.protocol, Protocol::Sctp);
}

#[test]
fn scheduler_must_be_one_the_kernel_knows() {
    assert_one(
        &service(&[r#"scheduler = "fastest""#]),
        9,
        13,
        r#"vip[0].service[0].scheduler: unknown IPVS scheduler "fastest"; expected one of: rr, wrr, lc, wlc"#,
    );
    for s in SCHEDULERS {
        let line = format!("scheduler = {s:?}");
        let lines: Vec<&str> = service(&[])
            .into_iter()
            .take(8)
            .chain([line.as_str()])
            .chain(["[[vip.service.backend]]", r#"address = "10.0.10.11""#])
            .collect();
        assert_eq!(parse_ok(&lines).vips[0].services[0].scheduler, *s);
    }
}

#[test]
fn forwarding_must_be_masq_route_or_tunnel() {
    let accepted = refused_then_accepted(
        r#"forwarding = "nat""#,
        14,
        r#"vip[0].service[0].forwarding: unknown forwarding method "nat"; expected one of: masq, route, tunnel"#,
        r#"forwarding = "tunnel""#,
    );
    assert_eq!(accepted.forwarding, Forwarding::Tunnel);
}

#[test]
fn min_healthy_is_between_one_and_the_number_of_backends() {
    assert_one(
        &service(&["min_healthy = 0"]),
        9,
        15,
        "vip[0].service[0].min_healthy: 0 is out of range; expected a number of backends 1..=1 (this service has 1)",
    );
    assert_one(
        &service(&["min_healthy = 2"]),
        9,
        15,
        "2 is out of range; expected a number of backends 1..=1",
    );
}

#[test]
fn unhealthy_weight_is_a_weight() {
    assert_one(
        &service(&["unhealthy_weight = 65536"]),
        9,
        20,
        "vip[0].service[0].unhealthy_weight: 65536 is out of range; expected a weight 0..=65535",
    );
}

#[test]
fn slow_start_is_a_duration() {
    assert_one(
        &service(&[r#"slow_start = "30""#]),
        9,
        14,
        r#"slow_start: "30" is not a duration"#,
    );
    let c = parse_ok(&service(&[r#"slow_start = "30s""#]));
    assert_eq!(c.vips[0].services[0].slow_start, Duration::from_secs(30));
    assert_one(
        &service(&[r#"slow_start = "25h""#]),
        9,
        14,
        "vip[0].service[0].slow_start: 25h is out of range; expected at most 24h",
    );
}

#[test]
fn persistence_is_whole_seconds() {
    assert_eq!(
        parse_ok(&service(&["persistence = 300"])).vips[0].services[0].persistence,
        300
    );
    assert_eq!(
        parse_ok(&service(&[r#"persistence = "5m""#])).vips[0].services[0].persistence,
        300
    );
    assert_one(
        &service(&[r#"persistence = "1500ms""#]),
        9,
        15,
        "expected whole seconds",
    );
}

#[test]
fn backend_address_is_required_and_must_be_an_ip_address() {
    let mut lines = service(&[]);
    lines.extend([
        "[[vip.service.backend]]",
        "port = 81",
        "[[vip.service.backend]]",
        r#"address = "be1""#,
    ]);
    let errs = errors(&lines);
    assert_eq!(
        errs,
        [
            (
                11,
                1,
                "vip[0].service[0].backend[1]: address is required".to_string()
            ),
            (
                14,
                11,
                r#"vip[0].service[0].backend[2].address: "be1" is not an IP address"#.to_string()
            ),
        ]
    );
}

#[test]
fn duplicate_backends_share_address_and_port() {
    let mut lines = service(&[]); // backend[0] 10.0.10.11:80 at lines 9-10
    lines.extend([
        "[[vip.service.backend]]",
        r#"address = "10.0.10.11""#,
        "port = 80",
    ]);
    assert_one(
        &lines,
        12,
        11,
        "vip[0].service[0].backend[1].address: duplicate backend 10.0.10.11:80 (first defined at line 10)",
    );
    let mut lines = service(&[]);
    lines.extend([
        "[[vip.service.backend]]",
        r#"address = "10.0.10.11""#,
        "port = 8080",
    ]);
    assert_eq!(parse_ok(&lines).vips[0].services[0].backends.len(), 2);
}

#[test]
fn two_services_on_one_vip_cannot_share_protocol_and_port() {
    let mut lines = service(&[]); // service[0] "web" tcp/80 at lines 6-8
    lines.extend([
        "[[vip.service]]",  // 11
        r#"name = "web2""#, // 12
        "port = 80",        // 13
        "[[vip.service.backend]]",
        r#"address = "10.0.10.11""#,
    ]);
    assert_one(
        &lines,
        13,
        8,
        "vip[0].service[1].port: duplicate service 80/tcp on this VIP (first defined at line 8)",
    );
    let mut lines = service(&[]);
    lines.extend([
        "[[vip.service]]",
        r#"name = "dns""#,
        "port = 80",
        r#"protocol = "udp""#,
        "[[vip.service.backend]]",
        r#"address = "10.0.10.11""#,
    ]);
    assert_eq!(parse_ok(&lines).vips[0].services.len(), 2);
}

#[test]
fn backend_weight_is_0_to_65535() {
    let mut lines = service(&[]);
    lines.push("weight = 65536");
    assert_one(
        &lines,
        11,
        10,
        "vip[0].service[0].backend[0].weight: 65536 is out of range; expected a weight 0..=65535",
    );
    lines.pop();
    lines.push("weight = 0");
    assert_eq!(parse_ok(&lines).vips[0].services[0].backends[0].weight, 0);
}

#[test]
fn backends_must_share_the_vip_family_unless_tunnelled() {
    let mut lines = service(&[]);
    lines.pop();
    lines.push(r#"address = "fd00:10::11""#);
    assert_one(
        &lines,
        10,
        11,
        r#"backend fd00:10::11 and VIP 10.100.0.1 are of different address families, which IPVS only supports with forwarding = "tunnel""#,
    );
    lines.insert(8, r#"forwarding = "tunnel""#);
    parse_ok(&lines);
}

#[test]
fn route_and_tunnel_backends_cannot_change_the_port() {
    let mut lines = service(&[r#"forwarding = "route""#]);
    lines.push("port = 8080");
    assert_one(
        &lines,
        12,
        8,
        r#"vip[0].service[0].backend[0].port: 8080 differs from the service port 80, but forwarding "route" cannot change ports"#,
    );
}

#[test]
fn min_healthy_without_backends_reports_only_the_missing_backends() {
    let lines = with_node(&[
        "[[vip]]",
        r#"address = "10.100.0.1""#,
        "[[vip.service]]",
        r#"name = "web""#,
        "port = 80",
        "min_healthy = 2",
    ]);
    assert_one(
        &lines,
        6,
        1,
        "a service needs at least one [[vip.service.backend]]",
    );
}

#[test]
fn scheduler_flags_belong_to_their_scheduler_and_ops_to_udp() {
    let c = parse_ok(&service(&[
        r#"scheduler = "mh""#,
        "mh_port = true",
        "mh_fallback = true",
    ]));
    let f = c.vips[0].services[0].flags;
    assert!(f.port && f.fallback && !f.one_packet);
    assert_one(
        &service(&[r#"scheduler = "wrr""#, "mh_port = true"]),
        10,
        11,
        "vip[0].service[0].mh_port: only for scheduler = \"mh\" (this service uses \"wrr\")",
    );
    assert_one(
        &service(&[r#"scheduler = "mh""#, "sh_fallback = true"]),
        10,
        15,
        "vip[0].service[0].sh_fallback: only for scheduler = \"sh\"",
    );
    assert_one(
        &service(&["ops = true"]),
        9,
        7,
        "vip[0].service[0].ops: one-packet scheduling is for UDP services",
    );
    let c = parse_ok(&service(&[r#"protocol = "udp""#, "ops = true"]));
    assert!(c.vips[0].services[0].flags.one_packet);
}

#[test]
fn rehash_safe_needs_mh_and_direct_return_or_tunnel_forwarding() {
    let c = parse_ok(&service(&[
        r#"scheduler = "mh""#,
        r#"forwarding = "tunnel""#,
        "rehash_safe = true",
    ]));
    assert!(c.vips[0].services[0].rehash_safe);
    let c = parse_ok(&service(&[
        r#"scheduler = "mh""#,
        r#"forwarding = "route""#,
    ]));
    assert!(!c.vips[0].services[0].rehash_safe, "off by default");
    assert_one(
        &service(&[
            r#"scheduler = "wrr""#,
            r#"forwarding = "route""#,
            "rehash_safe = true",
        ]),
        11,
        15,
        "vip[0].service[0].rehash_safe: rehash_safe needs scheduler = \"mh\" (this service uses \"wrr\")",
    );
    // masq is the default forwarding: the reason is the reply path.
    assert_one(
        &service(&[r#"scheduler = "mh""#, "rehash_safe = true"]),
        10,
        15,
        "vip[0].service[0].rehash_safe: rehash_safe needs forwarding = \"route\" or \"tunnel\": with masq the replies go back through the node that did the NAT",
    );
    assert_one(
        &service(&["rehash_safe = 1"]),
        9,
        15,
        "vip[0].service[0].rehash_safe: expected",
    );
}

#[test]
fn slow_start_is_refused_with_mh() {
    assert_one(
        &service(&[r#"scheduler = "mh""#, r#"slow_start = "30s""#]),
        10,
        14,
        "vip[0].service[0].slow_start: slow_start cannot be used with scheduler = \"mh\": every node must build the same lookup table",
    );
    // "0s" is no ramp; other schedulers ramp as before.
    parse_ok(&service(&[r#"scheduler = "mh""#, r#"slow_start = "0s""#]));
    parse_ok(&service(&[r#"scheduler = "wrr""#, r#"slow_start = "30s""#]));
}
