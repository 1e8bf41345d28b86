//! `[node]`, `[api]`, `[bgp]` and `[[bgp.peer]]`, the families each peer carries, and the
//! VIPs no peer can carry.

use std::time::Duration;

use super::*;
use crate::config::Families;

/// `[node]` with the given router_id and asn lines (lines 2 and 3).
fn node(router_id: &str, asn: &str) -> Vec<String> {
    vec!["[node]".into(), router_id.into(), asn.into()]
}

fn refs(lines: &[String]) -> Vec<&str> {
    lines.iter().map(String::as_str).collect()
}

#[test]
fn node_table_is_required() {
    assert_one(&["[api]"], 1, 1, "[node] is required (router_id and asn)");
}

#[test]
fn router_id_and_asn_are_required_and_reported_at_the_node_header() {
    assert_errors(
        &["# comment", "[node]"],
        &[
            (2, 1, "node: router_id is required"),
            (2, 1, "node: asn is required"),
        ],
    );
}

#[test]
fn router_id_must_be_an_ip_address() {
    let lines = node(r#"router_id = "10.0.1.300""#, "asn = 65001");
    assert_one(
        &refs(&lines),
        2,
        13,
        r#"node.router_id: "10.0.1.300" is not an IP address"#,
    );
}

#[test]
fn router_id_must_be_ipv4() {
    let lines = node(r#"router_id = "2001:db8::1""#, "asn = 65001");
    assert_one(
        &refs(&lines),
        2,
        13,
        "2001:db8::1 is an IPv6 address; the BGP identifier must be IPv4",
    );
}

#[test]
fn router_id_must_not_be_zero() {
    let lines = node(r#"router_id = "0.0.0.0""#, "asn = 65001");
    assert_one(
        &refs(&lines),
        2,
        13,
        "0.0.0.0 is not a valid BGP identifier",
    );
}

#[test]
fn asn_zero_is_invalid() {
    let lines = node(r#"router_id = "10.0.1.2""#, "asn = 0");
    assert_one(
        &refs(&lines),
        3,
        7,
        "node.asn: AS 0 is reserved; expected an AS number 1..=4294967295",
    );
}

#[test]
fn asn_above_32_bits_is_invalid() {
    let lines = node(r#"router_id = "10.0.1.2""#, "asn = 4294967296");
    assert_one(
        &refs(&lines),
        3,
        7,
        "node.asn: 4294967296 is out of range; expected an AS number",
    );
}

#[test]
fn negative_asn_is_invalid() {
    let lines = node(r#"router_id = "10.0.1.2""#, "asn = -1");
    assert_one(&refs(&lines), 3, 7, "-1 is out of range");
}

#[test]
fn four_byte_asns_parse_as_integers_and_in_asdot() {
    let lines = node(r#"router_id = "10.0.1.2""#, "asn = 4294967295");
    assert_eq!(parse_ok(&refs(&lines)).node.asn, u32::MAX);
    let lines = node(r#"router_id = "10.0.1.2""#, r#"asn = "1.10""#);
    assert_eq!(parse_ok(&refs(&lines)).node.asn, 65546);
}

#[test]
fn malformed_asdot_is_invalid() {
    let lines = node(r#"router_id = "10.0.1.2""#, r#"asn = "1.70000""#);
    assert_one(&refs(&lines), 3, 7, r#""1.70000" is not an AS number"#);
    let lines = node(r#"router_id = "10.0.1.2""#, r#"asn = "0.0""#);
    assert_one(&refs(&lines), 3, 7, "AS 0 is reserved");
}

#[test]
fn api_listen_must_be_a_socket_address() {
    assert_one(
        &with_node(&["[api]", r#"listen = "127.0.0.1""#]),
        5,
        10,
        r#"api.listen: "127.0.0.1" is not a socket address; expected ADDRESS:PORT"#,
    );
}

#[test]
fn api_token_is_required_when_listen_is_not_loopback() {
    assert_one(
        &with_node(&["[api]", r#"listen = "0.0.0.0:9180""#]),
        5,
        10,
        "api.listen: 0.0.0.0:9180 is not a loopback address, so api.token is required",
    );
    let c = parse_ok(&with_node(&[
        "[api]",
        r#"listen = "0.0.0.0:9180""#,
        r#"token = "s3cret""#,
    ]));
    assert_eq!(c.api.token.as_deref(), Some("s3cret"));
    let c = parse_ok(&with_node(&["[api]", r#"listen = "[::1]:9180""#]));
    assert_eq!(c.api.listen, "[::1]:9180".parse().unwrap());
}

#[test]
fn api_token_must_not_be_empty() {
    assert_one(
        &with_node(&["[api]", r#"token = """#]),
        5,
        9,
        "api.token: must not be empty",
    );
}

#[test]
fn api_max_connections_defaults_to_256_and_takes_1_to_65536() {
    let c = parse_ok(&with_node(&[]));
    assert_eq!(c.api.max_connections, 256);
    let c = parse_ok(&with_node(&["[api]", "max_connections = 1"]));
    assert_eq!(c.api.max_connections, 1);
    let c = parse_ok(&with_node(&["[api]", "max_connections = 65536"]));
    assert_eq!(c.api.max_connections, 65536);
    let range = "expected a number of connections 1..=65536";
    assert_one(
        &with_node(&["[api]", "max_connections = 0"]),
        5,
        19,
        &format!("api.max_connections: 0 is out of range; {range}"),
    );
    assert_one(
        &with_node(&[
            "[api]",
            r#"listen = "127.0.0.1:9180""#,
            "max_connections = 65537",
        ]),
        6,
        19,
        &format!("api.max_connections: 65537 is out of range; {range}"),
    );
    assert_one(
        &with_node(&["[api]", r#"max_connections = "many""#]),
        5,
        19,
        &format!(r#"api.max_connections: {range}, found string "many""#),
    );
}

#[test]
fn api_writes_are_on_unless_writable_is_false() {
    assert!(parse_ok(&with_node(&[])).api.writable);
    let c = parse_ok(&with_node(&["[api]", "writable = false"]));
    assert!(!c.api.writable);
    assert_one(
        &with_node(&["[api]", r#"writable = "no""#]),
        5,
        12,
        r#"api.writable: expected true or false, found string "no""#,
    );
}

#[test]
fn hold_time_is_zero_or_three_to_65535() {
    for bad in ["1", "2", "65536", "-3"] {
        let line = format!("hold_time = {bad}");
        assert_one(&with_node(&["[bgp]", &line]), 5, 13, "bgp.hold_time: ");
        let errs = errors(&with_node(&["[bgp]", &line]));
        assert!(errs[0]
            .2
            .ends_with("expected a hold time in seconds, 0 or 3..=65535"));
    }
    for good in [0, 3, 65535] {
        let line = format!("hold_time = {good}");
        assert_eq!(parse_ok(&with_node(&["[bgp]", &line])).bgp.hold_time, good);
    }
}

#[test]
fn peer_hold_time_is_checked_like_the_global_one() {
    assert_one(
        &with_node(&[
            "[[bgp.peer]]",
            r#"address = "10.0.1.1""#,
            "asn = 65000",
            "hold_time = 2",
        ]),
        7,
        13,
        "bgp.peer[0].hold_time: 2 is out of range; expected a hold time in seconds, 0 or 3..=65535",
    );
}

#[test]
fn connect_retry_takes_seconds_or_a_duration() {
    let c = parse_ok(&with_node(&["[bgp]", "connect_retry = 7"]));
    assert_eq!(c.bgp.connect_retry, Duration::from_secs(7));
    let c = parse_ok(&with_node(&["[bgp]", r#"connect_retry = "1500ms""#]));
    assert_eq!(c.bgp.connect_retry, Duration::from_millis(1500));
    assert_one(
        &with_node(&["[bgp]", r#"connect_retry = "2""#]),
        5,
        17,
        r#"bgp.connect_retry: "2" is not a duration; expected an integer number of seconds or a number with a unit, like "500ms""#,
    );
    assert_one(
        &with_node(&["[bgp]", "connect_retry = 0"]),
        5,
        17,
        "must be longer than 0s",
    );
}

#[test]
fn shutdown_delay_is_a_duration() {
    let c = parse_ok(&with_node(&["[bgp]", r#"shutdown_delay = "1m30s""#]));
    assert_eq!(c.bgp.shutdown_delay, Duration::from_secs(90));
    assert_one(
        &with_node(&["[bgp]", r#"shutdown_delay = "5 s""#]),
        5,
        18,
        r#"bgp.shutdown_delay: "5 s" is not a duration"#,
    );
}

#[test]
fn bgp_listen_must_be_a_socket_address() {
    assert_one(
        &with_node(&["[bgp]", r#"listen = "0.0.0.0""#]),
        5,
        10,
        r#"bgp.listen: "0.0.0.0" is not a socket address"#,
    );
    let c = parse_ok(&with_node(&["[bgp]", r#"listen = "[::]:179""#]));
    assert_eq!(c.bgp.listen, Some("[::]:179".parse().unwrap()));
}

#[test]
fn peer_address_and_asn_are_required() {
    assert_errors(
        &with_node(&["[[bgp.peer]]", "port = 179"]),
        &[
            (4, 1, "bgp.peer[0]: address is required"),
            (4, 1, "bgp.peer[0]: asn is required"),
        ],
    );
}

#[test]
fn peer_address_must_be_an_ip_address() {
    assert_one(
        &with_node(&["[[bgp.peer]]", r#"address = "router1""#, "asn = 65000"]),
        5,
        11,
        r#"bgp.peer[0].address: "router1" is not an IP address"#,
    );
}

#[test]
fn peer_asn_zero_is_invalid() {
    assert_one(
        &with_node(&["[[bgp.peer]]", r#"address = "10.0.1.1""#, "asn = 0"]),
        6,
        7,
        "bgp.peer[0].asn: AS 0 is reserved",
    );
}

#[test]
fn peer_port_zero_is_invalid() {
    assert_one(
        &with_node(&[
            "[[bgp.peer]]",
            r#"address = "10.0.1.1""#,
            "asn = 1",
            "port = 0",
        ]),
        7,
        8,
        "bgp.peer[0].port: 0 is out of range; expected a port number 1..=65535",
    );
}

#[test]
fn duplicate_peers_name_the_first_definition() {
    assert_one(
        &with_node(&[
            "[[bgp.peer]]",
            r#"address = "10.0.1.1""#,
            "asn = 65000",
            "[[bgp.peer]]",
            r#"address = "10.0.1.1""#,
            "asn = 65002",
        ]),
        8,
        11,
        "bgp.peer[1].address: duplicate peer 10.0.1.1 (first defined at line 5)",
    );
}

#[test]
fn local_address_must_match_the_peer_family() {
    assert_one(
        &with_node(&[
            "[[bgp.peer]]",
            r#"address = "10.0.1.1""#,
            "asn = 65000",
            r#"local_address = "2001:db8::2""#,
        ]),
        7,
        17,
        "bgp.peer[0].local_address: 2001:db8::2 and the peer address 10.0.1.1 are not of the same family",
    );
}

#[test]
fn next_hop_must_be_ipv4_and_next_hop6_ipv6() {
    let errs = errors(&with_node(&[
        "[[bgp.peer]]",
        r#"address = "10.0.1.1""#,
        "asn = 65000",
        r#"next_hop = "2001:db8::2""#,
        r#"next_hop6 = "10.0.1.2""#,
    ]));
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_eq!((errs[0].0, errs[0].1), (7, 12));
    assert!(errs[0]
        .2
        .contains("next_hop: 2001:db8::2 is an IPv6 address; next_hop is for IPv4 VIPs"));
    assert_eq!((errs[1].0, errs[1].1), (8, 13));
    assert!(errs[1]
        .2
        .contains("next_hop6: 10.0.1.2 is an IPv4 address; next_hop6 is for IPv6 VIPs"));
}

#[test]
fn a_passive_peer_needs_bgp_listen() {
    let peer = [
        "[[bgp.peer]]",
        r#"address = "10.0.1.1""#,
        "asn = 65000",
        "passive = true",
    ];
    assert_one(
        &with_node(&peer),
        7,
        11,
        "bgp.peer[0].passive: a passive peer never connects, so bgp.listen must be set",
    );
    let mut lines = with_node(&["[bgp]", r#"listen = "0.0.0.0:179""#]);
    lines.extend(peer);
    assert!(parse_ok(&lines).bgp.peers[0].passive);
}

#[test]
fn password_is_at_most_80_bytes() {
    let long = format!(r#"password = "{}""#, "x".repeat(81));
    assert_one(
        &with_node(&[
            "[[bgp.peer]]",
            r#"address = "10.0.1.1""#,
            "asn = 65000",
            &long,
        ]),
        7,
        12,
        "bgp.peer[0].password: is 81 bytes; TCP MD5 keys are at most 80",
    );
}

#[test]
fn every_peer_key_is_read() {
    let c = parse_ok(&with_node(&[
        "[bgp]",
        r#"listen = "0.0.0.0:179""#,
        "[[bgp.peer]]",
        r#"address = "10.0.1.1""#,
        "asn = 65000",
        "port = 1179",
        r#"local_address = "10.0.1.2""#,
        r#"next_hop = "10.0.1.3""#,
        r#"next_hop6 = "2001:db8::3""#,
        "passive = true",
        "hold_time = 0",
        r#"password = "pw""#,
        "ttl_security = true",
    ]));
    let p = &c.bgp.peers[0];
    assert_eq!(p.port, 1179);
    assert_eq!(p.local_address, Some("10.0.1.2".parse().unwrap()));
    assert_eq!(p.next_hop, Some("10.0.1.3".parse().unwrap()));
    assert_eq!(p.next_hop6, Some("2001:db8::3".parse().unwrap()));
    assert!(p.passive && p.ttl_security);
    assert_eq!(p.hold_time, 0);
    assert_eq!(p.password.as_deref(), Some("pw"));
}

const V4_PEER: [&str; 3] = ["[[bgp.peer]]", r#"address = "10.0.1.1""#, "asn = 65000"];
const V6_PEER: [&str; 3] = [
    "[[bgp.peer]]",
    r#"address = "2001:db8:1::1""#,
    "asn = 65000",
];

#[test]
fn dual_stack_as_operators_wire_it_one_session_per_family_is_valid() {
    // One IPv4 and one IPv6 session to the same router, one VIP of each family.
    let mut lines = with_node(&V4_PEER);
    lines.extend(V6_PEER);
    lines.extend(["[[vip]]", r#"address = "10.100.0.1""#]);
    lines.extend(["[[vip]]", r#"address = "2001:db8:100::1""#]);
    let c = parse_ok(&lines);
    let (v4, v6) = (&c.bgp.peers[0], &c.bgp.peers[1]);
    assert_eq!(v4.families.names(), ["ipv4"]);
    assert!(!v4.extended_next_hop);
    // An IPv6 session offers IPv4 too, but only with RFC 8950: used if the router agrees.
    assert_eq!(v6.families.names(), ["ipv4", "ipv6"]);
    assert!(v6.extended_next_hop);
    assert_eq!(v6.can_carry(), Families::BOTH);
}

#[test]
fn a_next_hop_of_the_other_family_adds_that_family() {
    let mut lines = with_node(&V4_PEER);
    lines.push(r#"next_hop6 = "2001:db8:1::2""#);
    let c = parse_ok(&lines);
    assert_eq!(c.bgp.peers[0].families, Families::BOTH);
    let mut lines = with_node(&V6_PEER);
    lines.push(r#"next_hop = "10.0.1.2""#);
    let c = parse_ok(&lines);
    let p = &c.bgp.peers[0];
    assert_eq!(p.families, Families::BOTH);
    // With an IPv4 next hop there is no need for RFC 8950.
    assert!(!p.extended_next_hop);
}

#[test]
fn a_vip_that_no_peer_can_carry_is_an_error_naming_what_each_peer_carries() {
    let mut lines = with_node(&V4_PEER); // peer at lines 4-6
    lines.extend(["[[vip]]", r#"address = "2001:db8:100::1""#]); // line 8
    assert_one(
        &lines,
        8,
        11,
        "vip[0].address: no peer carries IPv6 VIP 2001:db8:100::1: 10.0.1.1 carries ipv4; \
         add an IPv6 peer, or set next_hop6 on an IPv4 peer",
    );
    lines.insert(6, r#"next_hop6 = "2001:db8:1::2""#);
    parse_ok(&lines);
}

#[test]
fn an_ipv4_vip_over_ipv6_peers_only_needs_next_hop_or_extended_next_hop() {
    let mut lines = with_node(&V6_PEER);
    lines.push("extended_next_hop = false"); // line 7
    lines.extend(["[[vip]]", r#"address = "10.100.0.1""#]); // line 9
    assert_one(
        &lines,
        9,
        11,
        "no peer carries IPv4 VIP 10.100.0.1: 2001:db8:1::1 carries ipv6; add an IPv4 peer, \
         or set next_hop (or extended_next_hop = true) on an IPv6 peer",
    );
    lines[6] = "extended_next_hop = true";
    parse_ok(&lines);
    lines[6] = r#"next_hop = "10.0.1.2""#;
    parse_ok(&lines);
}

#[test]
fn explicit_families_override_the_default() {
    let mut lines = with_node(&V4_PEER);
    lines.extend([r#"next_hop6 = "2001:db8:1::2""#, r#"families = ["ipv4"]"#]);
    let c = parse_ok(&lines);
    assert_eq!(c.bgp.peers[0].families.names(), ["ipv4"]);
    let mut lines = with_node(&V6_PEER);
    lines.push(r#"families = ["ipv6"]"#);
    let c = parse_ok(&lines);
    let p = &c.bgp.peers[0];
    assert_eq!(p.families.names(), ["ipv6"]);
    assert!(!p.can_carry().ipv4);
}

#[test]
fn families_are_checked_word_by_word_and_against_the_next_hops() {
    let peer = |line: &'static str| {
        let mut l = with_node(&V4_PEER);
        l.push(line); // line 7
        l
    };
    assert_one(
        &peer(r#"families = ["ipv4", "ipv4"]"#),
        7,
        21,
        "bgp.peer[0].families[1]: ipv4 is listed twice",
    );
    assert_one(
        &peer(r#"families = ["ipx"]"#),
        7,
        13,
        r#"unknown address family "ipx"; expected one of: ipv4, ipv6"#,
    );
    assert_one(
        &peer("families = []"),
        7,
        12,
        "must name at least one family",
    );
    assert_one(
        &peer(r#"families = ["ipv4", "ipv6"]"#),
        7,
        12,
        "bgp.peer[0].families: ipv6 over this IPv4 session needs an IPv6 next hop: set next_hop6",
    );
    assert_one(
        &peer("extended_next_hop = true"),
        7,
        21,
        "extended next hop (RFC 8950) carries IPv4 routes over an IPv6 session; this peer is IPv4",
    );
    let mut lines = with_node(&V6_PEER);
    lines.extend([
        r#"families = ["ipv4", "ipv6"]"#,
        "extended_next_hop = false",
    ]);
    assert_one(
        &lines,
        7,
        12,
        "ipv4 over this IPv6 session needs an IPv4 next hop (next_hop) or extended_next_hop = true",
    );
}

const LL_PEER: [&str; 3] = ["[[bgp.peer]]", r#"address = "fe80::1%eth1""#, "asn = 65000"];

#[test]
fn a_link_local_peer_names_its_interface_after_the_address_or_with_interface() {
    let c = parse_ok(&with_node(&LL_PEER));
    let p = &c.bgp.peers[0];
    assert_eq!(p.address, "fe80::1".parse::<std::net::IpAddr>().unwrap());
    assert_eq!(p.interface.as_deref(), Some("eth1"));
    assert_eq!(p.display_address(), "fe80::1%eth1");
    assert_eq!(p.families.names(), ["ipv4", "ipv6"]);
    let c = parse_ok(&with_node(&[
        "[[bgp.peer]]",
        r#"address = "fe80::1""#,
        "asn = 65000",
        r#"interface = "eth2""#,
    ]));
    assert_eq!(c.bgp.peers[0].interface.as_deref(), Some("eth2"));
}

#[test]
fn a_link_local_peer_without_an_interface_or_a_global_one_with_it_is_an_error() {
    assert_one(
        &with_node(&["[[bgp.peer]]", r#"address = "fe80::1""#, "asn = 65000"]),
        5,
        11,
        r#"fe80::1 is link-local: name its interface, as "fe80::1%eth1" or with interface = "eth1""#,
    );
    assert_one(
        &with_node(&[
            "[[bgp.peer]]",
            r#"address = "10.0.1.1%eth1""#,
            "asn = 65000",
        ]),
        5,
        11,
        "10.0.1.1 is not link-local, so it takes no %eth1 interface",
    );
    assert_one(
        &with_node(&[
            "[[bgp.peer]]",
            r#"address = "fe80::1%eth1/x""#,
            "asn = 65000",
        ]),
        5,
        11,
        "contains '/', ':' or whitespace",
    );
    let mut lines = with_node(&LL_PEER);
    lines.push(r#"interface = "eth1""#);
    assert_one(
        &lines,
        7,
        13,
        "the address already names its interface after '%'; drop one of the two",
    );
    let mut lines = with_node(&V4_PEER);
    lines.push(r#"interface = "eth1""#);
    assert_one(
        &lines,
        7,
        13,
        "10.0.1.1 is not link-local; interface is only for link-local peers",
    );
}

#[test]
fn two_link_local_peers_with_one_address_are_duplicates() {
    let mut lines = with_node(&LL_PEER);
    lines.extend(LL_PEER); // address at line 8
    assert_one(
        &lines,
        8,
        11,
        "duplicate peer fe80::1 (first defined at line 5)",
    );
}

#[test]
fn local_pref_is_accepted_for_ebgp_peers_too() {
    let mut lines = with_node(&V4_PEER);
    lines.extend(["[[vip]]", r#"address = "10.100.0.1""#, "local_pref = 200"]);
    let c = parse_ok(&lines);
    assert_eq!(c.vips[0].local_pref, Some(200));
    assert!(!c.bgp.peers[0].is_ibgp(c.node.asn));
}

#[test]
fn every_address_key_rejects_what_is_not_an_address() {
    let peer = |line: &'static str| {
        with_node(&[
            "[[bgp.peer]]",
            r#"address = "10.0.1.1""#,
            "asn = 65000",
            line,
        ])
    };
    assert_one(
        &peer(r#"local_address = "10.0.1""#),
        7,
        17,
        r#"bgp.peer[0].local_address: "10.0.1" is not an IP address"#,
    );
    assert_one(
        &peer(r#"next_hop = "hop""#),
        7,
        12,
        r#"bgp.peer[0].next_hop: "hop" is not an IP address"#,
    );
    assert_one(
        &peer(r#"next_hop6 = "::g""#),
        7,
        13,
        r#"bgp.peer[0].next_hop6: "::g" is not an IP address"#,
    );
    assert_one(
        &peer("next_hop = 10"),
        7,
        12,
        "bgp.peer[0].next_hop: expected a string, found integer 10",
    );
    assert_one(
        &with_node(&[
            "[[vip]]",
            r#"address = "10.100.0.1""#,
            "[vip.check]",
            "port = 53",
            r#"address = "localhost""#,
        ]),
        8,
        11,
        r#"vip[0].check.address: "localhost" is not an IP address"#,
    );
}

#[test]
fn zero_durations_are_accepted_where_zero_means_off() {
    let c = parse_ok(&with_node(&["[bgp]", r#"shutdown_delay = "0s""#]));
    assert_eq!(c.bgp.shutdown_delay, Duration::ZERO);
}

fn gr_peer<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut lines = vec!["[[bgp.peer]]", r#"address = "10.0.1.1""#, "asn = 65000"];
    lines.extend_from_slice(extra);
    with_node(&lines)
}

#[test]
fn graceful_restart_is_on_with_120s_by_default_and_per_peer() {
    let c = parse_ok(&gr_peer(&[]));
    assert_eq!(c.bgp.peers[0].graceful_restart, Some(120));
    let c = parse_ok(&gr_peer(&[r#"restart_time = "30s""#]));
    assert_eq!(c.bgp.peers[0].graceful_restart, Some(30));
    let c = parse_ok(&gr_peer(&["restart_time = 4095"]));
    assert_eq!(c.bgp.peers[0].graceful_restart, Some(4095));
    let c = parse_ok(&gr_peer(&["graceful_restart = false"]));
    assert_eq!(c.bgp.peers[0].graceful_restart, None);
}

#[test]
fn restart_time_fits_the_capability_and_needs_graceful_restart() {
    for bad in ["restart_time = 4096", r#"restart_time = "1500ms""#] {
        assert_one(
            &gr_peer(&[bad]),
            7,
            16,
            "bgp.peer[0].restart_time: must be a whole number of seconds from 1s to 4095s",
        );
    }
    assert_one(
        &gr_peer(&["graceful_restart = false", "restart_time = 60"]),
        8,
        16,
        "bgp.peer[0].restart_time: has no effect with graceful_restart = false",
    );
}

#[test]
fn bgp_durations_have_upper_bounds() {
    let c = parse_ok(&with_node(&[
        "[bgp]",
        r#"shutdown_delay = "1h""#,
        "connect_retry = 3600",
    ]));
    assert_eq!(c.bgp.shutdown_delay, Duration::from_secs(3600));
    assert_eq!(c.bgp.connect_retry, Duration::from_secs(3600));
    // Before, this passed check and panicked the daemon's loop on the first drain.
    assert_one(
        &with_node(&["[bgp]", "shutdown_delay = 9223372036854775807"]),
        5,
        18,
        "bgp.shutdown_delay: 2562047788015215h30m7s is out of range; expected at most 1h",
    );
    assert_one(
        &with_node(&["[bgp]", r#"shutdown_delay = "1h1ms""#]),
        5,
        18,
        "bgp.shutdown_delay: 1h1ms is out of range; expected at most 1h",
    );
    assert_one(
        &with_node(&["[bgp]", r#"connect_retry = "2h""#]),
        5,
        17,
        "bgp.connect_retry: 2h is out of range; expected at most 1h",
    );
    assert_one(
        &with_node(&["[bgp]", r#"bfd_min_tx = "2m""#]),
        5,
        14,
        "bgp.bfd_min_tx: 2m is out of range; expected at most 1m",
    );
}
