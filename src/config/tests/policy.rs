//! `[[vip]]` failure policies (`on_partial`, `last_resort`, `degrade_*`) and `peers`.

use super::*;
use crate::config::{Community, Degrade, FailurePolicy};

#[test]
fn the_policy_keys_are_read_from_the_vip_table() {
    let c = parse_ok(&with_node(&[
        "[[vip]]",
        r#"address = "10.100.0.1""#,
        r#"on_partial = "degrade""#,
        "last_resort = true",
        "degrade_med = 500",
        "degrade_prepend = 3",
        r#"degrade_communities = ["65000:666"]"#,
        "[[vip.service]]",
        r#"name = "web""#,
        "port = 80",
        "[[vip.service.backend]]",
        r#"address = "10.0.10.11""#,
    ]));
    assert_eq!(
        c.vips[0].failure,
        FailurePolicy {
            degrade_on_partial: true,
            last_resort: true,
            degrade: Degrade {
                med: Some(500),
                prepend: 3,
                communities: vec![Community(65000 << 16 | 666)],
            },
        }
    );
}

fn vip_with(lines: &[&'static str]) -> Vec<&'static str> {
    let mut all = with_node(&["[[vip]]", r#"address = "10.100.0.1""#]); // 4, 5
    all.extend(lines); // from 6
    all.extend([
        "[[vip.service]]",
        r#"name = "web""#,
        "port = 80",
        "[[vip.service.backend]]",
        r#"address = "10.0.10.11""#,
    ]);
    all
}

#[test]
fn a_policy_that_degrades_needs_something_to_degrade_with() {
    assert_one(
        &vip_with(&[r#"on_partial = "degrade""#]),
        6,
        14,
        "vip[0].on_partial: a degraded route needs degrade_med, degrade_prepend or \
         degrade_communities, or routers cannot tell it from a healthy node's",
    );
    assert_one(
        &vip_with(&["last_resort = true"]),
        6,
        15,
        "vip[0].last_resort: a degraded route needs",
    );
}

#[test]
fn degrade_attributes_without_a_policy_are_refused_as_doing_nothing() {
    assert_one(
        &vip_with(&["degrade_prepend = 2"]),
        6,
        19,
        "vip[0].degrade_prepend: has no effect without on_partial = \"degrade\" or last_resort = true",
    );
}

#[test]
fn policy_values_are_checked() {
    assert_one(
        &vip_with(&[r#"on_partial = "maybe""#, "degrade_med = 5"]),
        6,
        14,
        "vip[0].on_partial:",
    );
    assert_one(
        &vip_with(&[r#"last_resort = "yes""#, "degrade_med = 5"]),
        6,
        15,
        r#"vip[0].last_resort: expected true or false, found string "yes""#,
    );
    assert_one(
        &vip_with(&["last_resort = true", "degrade_prepend = 11"]),
        7,
        19,
        "vip[0].degrade_prepend: 11 is out of range",
    );
}

#[test]
fn on_partial_needs_services() {
    assert_one(
        &with_node(&[
            "[[vip]]",
            r#"address = "10.100.0.1""#,
            r#"on_partial = "degrade""#,
            "degrade_med = 5",
        ]),
        6,
        14,
        "vip[0].on_partial: on_partial is about backends: this VIP has no [[vip.service]]",
    );
    // last_resort is about the VIP check too.
    parse_ok(&with_node(&[
        "[[vip]]",
        r#"address = "10.100.0.1""#,
        "last_resort = true",
        "degrade_med = 5",
    ]));
}

/// Two IPv4 peers (lines 4-9), then a VIP whose lines follow (from line 10).
fn two_peers_and(vip: &[&'static str]) -> Vec<&'static str> {
    let mut all = with_node(&[
        "[[bgp.peer]]",              // 4
        r#"address = "10.0.1.1""#,   // 5
        "asn = 65000",               // 6
        "[[bgp.peer]]",              // 7
        r#"address = "10.0.2.1""#,   // 8
        "asn = 65000",               // 9
        "[[vip]]",                   // 10
        r#"address = "10.100.0.1""#, // 11
    ]);
    all.extend(vip);
    all
}

#[test]
fn peers_selects_configured_peers_only() {
    let c = parse_ok(&two_peers_and(&[r#"peers = ["10.0.2.1"]"#]));
    assert_eq!(
        c.vips[0].peers,
        ["10.0.2.1".parse::<std::net::IpAddr>().unwrap()]
    );
    let c = parse_ok(&two_peers_and(&[]));
    assert!(c.vips[0].peers.is_empty(), "default: every peer");
    assert_one(
        &two_peers_and(&[r#"peers = ["10.0.1.1", "10.0.9.9"]"#]),
        12,
        22,
        "vip[0].peers[1]: 10.0.9.9 is not a configured peer (the peers: 10.0.1.1, 10.0.2.1)",
    );
    assert_one(
        &two_peers_and(&["peers = []"]),
        12,
        9,
        "vip[0].peers: an empty list announces the VIP to no peer",
    );
}

#[test]
fn peers_must_carry_the_vips_family() {
    let mut lines = with_node(&[
        "[[bgp.peer]]",                   // 4
        r#"address = "10.0.1.1""#,        // 5
        "asn = 65000",                    // 6
        r#"next_hop6 = "2001:db8::2""#,   // 7
        "[[bgp.peer]]",                   // 8
        r#"address = "10.0.2.1""#,        // 9
        "asn = 65000",                    // 10
        "[[vip]]",                        // 11
        r#"address = "2001:db8:100::1""#, // 12
    ]);
    lines.push(r#"peers = ["10.0.2.1"]"#); // 13
    assert_one(
        &lines,
        13,
        9,
        "vip[0].peers: of these peers, no peer carries IPv6 VIP",
    );
    lines.pop();
    lines.push(r#"peers = ["10.0.1.1"]"#);
    parse_ok(&lines);
}

/// Two peers (lines 4-10; the first with a `vips` line 7), then two VIPs (from line 11).
fn peer_with_vips(vips_line: &'static str, vip_extra: &[&'static str]) -> Vec<&'static str> {
    let mut all = with_node(&[
        "[[bgp.peer]]",              // 4
        r#"address = "10.0.1.1""#,   // 5
        "asn = 65000",               // 6
        vips_line,                   // 7
        "[[bgp.peer]]",              // 8
        r#"address = "10.0.2.1""#,   // 9
        "asn = 65000",               // 10
        "[[vip]]",                   // 11
        r#"address = "10.100.0.1""#, // 12
    ]);
    all.extend(vip_extra);
    all.extend(["[[vip]]", r#"address = "10.100.0.2""#]);
    all
}

#[test]
fn a_peers_vips_list_keeps_the_other_vips_from_it() {
    let c = parse_ok(&peer_with_vips(r#"vips = ["10.100.0.1"]"#, &[]));
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    assert!(c.vips[0].peers.is_empty(), "10.100.0.1 goes to both peers");
    assert_eq!(
        c.vips[1].peers,
        [ip("10.0.2.1")],
        "10.100.0.2 skips 10.0.1.1"
    );
    assert_eq!(
        c.bgp.peers[0],
        parse_ok(&peer_with_vips("", &[])).bgp.peers[0],
        "the list is not a session setting: changing it resets nothing"
    );
}

#[test]
fn a_peers_vips_list_names_vips_of_the_file() {
    assert_one(
        &peer_with_vips(r#"vips = ["10.100.0.9"]"#, &[]),
        7,
        9,
        "bgp.peer[0].vips[0]: 10.100.0.9 is not a VIP of this file",
    );
}

#[test]
fn a_vip_that_the_lists_leave_without_a_peer_is_refused() {
    assert_one(
        &peer_with_vips(r#"vips = ["10.100.0.2"]"#, &[r#"peers = ["10.0.1.1"]"#]),
        11,
        1,
        "vip[0]: VIP 10.100.0.1 goes to no peer",
    );
}
