//! `[[vip]]` and `[vip.check]`.

use super::*;
use crate::config::*;

#[test]
fn vip_address_must_be_an_ip_address() {
    assert_one(
        &with_node(&[
            "[[vip]]",
            r#"address = "10.0.0.1""#,
            "[[vip]]",
            r#"address = "10.0.0.300""#,
        ]),
        7,
        11,
        r#"vip[1].address: "10.0.0.300" is not an IP address"#,
    );
}

#[test]
fn vip_address_is_required() {
    assert_one(
        &with_node(&["[[vip]]", "med = 1"]),
        4,
        1,
        "vip[0]: address is required",
    );
}

#[test]
fn vip_address_must_be_unicast() {
    assert_one(
        &with_node(&["[[vip]]", r#"address = "224.0.0.5""#]),
        5,
        11,
        "224.0.0.5 is not a unicast address",
    );
}

#[test]
fn duplicate_vips_name_the_first_definition() {
    assert_one(
        &with_node(&[
            "[[vip]]",
            r#"address = "10.100.0.1""#,
            "[[vip]]",
            r#"address = "10.100.0.1""#,
        ]),
        7,
        11,
        "vip[1].address: duplicate VIP 10.100.0.1 (first defined at line 5)",
    );
}

#[test]
fn interface_names_are_checked_like_linux_does() {
    let cases = [
        (r#"interface = """#, "interface name must not be empty"),
        (
            r#"interface = "averyveryverylongname""#,
            r#"vip[0].interface: interface "averyveryverylongname" is longer than 15 bytes"#,
        ),
        (
            r#"interface = "any/cast""#,
            r#"interface "any/cast" contains '/', ':' or whitespace"#,
        ),
        (
            r#"interface = "any cast""#,
            r#"interface "any cast" contains '/', ':' or whitespace"#,
        ),
        (
            r#"interface = "..""#,
            r#"interface ".." is not a valid interface name"#,
        ),
    ];
    for (line, message) in cases {
        assert_one(
            &with_node(&["[[vip]]", r#"address = "10.100.0.1""#, line]),
            6,
            13,
            message,
        );
    }
    let c = parse_ok(&with_node(&[
        "[[vip]]",
        r#"address = "10.100.0.1""#,
        r#"interface = "fifteen-bytes-x""#,
    ]));
    assert_eq!(c.vips[0].interface, "fifteen-bytes-x");
}

#[test]
fn communities_are_two_16_bit_halves() {
    let errs = errors(&with_node(&[
        "[[vip]]",
        r#"address = "10.100.0.1""#,
        r#"communities = ["65000:100", "65536:1", "100"]"#,
    ]));
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_eq!((errs[0].0, errs[0].1), (6, 29));
    assert_eq!(
        errs[0].2,
        r#"vip[0].communities[1]: "65536:1" is not a community "A:B" with A and B in 0..=65535"#
    );
    assert_eq!((errs[1].0, errs[1].1), (6, 40));
    assert!(errs[1]
        .2
        .starts_with(r#"vip[0].communities[2]: "100" is not a community"#));
    let c = parse_ok(&with_node(&[
        "[[vip]]",
        r#"address = "10.100.0.1""#,
        r#"communities = ["65000:100", "65535:0"]"#,
    ]));
    assert_eq!(
        c.vips[0].communities,
        [Community(65000 << 16 | 100), Community::GRACEFUL_SHUTDOWN]
    );
}

#[test]
fn communities_must_be_a_list_of_strings() {
    assert_one(
        &with_node(&[
            "[[vip]]",
            r#"address = "10.100.0.1""#,
            r#"communities = "1:2""#,
        ]),
        6,
        15,
        r#"vip[0].communities: expected an array of strings, found string "1:2""#,
    );
}

#[test]
fn large_communities_are_three_32_bit_parts() {
    assert_one(
        &with_node(&[
            "[[vip]]",
            r#"address = "10.100.0.1""#,
            r#"large_communities = ["4294967295:1:2", "1:2:4294967296"]"#,
        ]),
        6,
        40,
        r#"vip[0].large_communities[1]: "1:2:4294967296" is not a large community "A:B:C""#,
    );
    let c = parse_ok(&with_node(&[
        "[[vip]]",
        r#"address = "10.100.0.1""#,
        r#"large_communities = ["65546:1:2"]"#,
    ]));
    let expected = LargeCommunity {
        global: 65546,
        local1: 1,
        local2: 2,
    };
    assert_eq!(c.vips[0].large_communities, [expected]);
}

#[test]
fn as_path_prepend_is_at_most_10() {
    assert_one(
        &with_node(&["[[vip]]", r#"address = "10.100.0.1""#, "as_path_prepend = 11"]),
        6,
        19,
        "vip[0].as_path_prepend: 11 is out of range; expected a number of extra copies of node.asn, 0..=10",
    );
    let c = parse_ok(&with_node(&[
        "[[vip]]",
        r#"address = "10.100.0.1""#,
        "as_path_prepend = 10",
    ]));
    assert_eq!(c.vips[0].as_path_prepend, 10);
}

#[test]
fn med_must_fit_32_bits() {
    assert_one(
        &with_node(&["[[vip]]", r#"address = "10.100.0.1""#, "med = -1"]),
        6,
        7,
        "vip[0].med: -1 is out of range; expected a MED 0..=4294967295",
    );
}

#[test]
fn announce_is_all_or_any() {
    assert_one(
        &with_node(&[
            "[[vip]]",
            r#"address = "10.100.0.1""#,
            r#"announce = "most""#,
        ]),
        6,
        12,
        r#"vip[0].announce: unknown announce policy "most"; expected one of: all, any"#,
    );
    let c = parse_ok(&with_node(&[
        "[[vip]]",
        r#"address = "10.100.0.1""#,
        r#"announce = "any""#,
    ]));
    assert_eq!(c.vips[0].announce, AnnouncePolicy::Any);
}

#[test]
fn a_vip_without_services_or_check_is_a_plain_announcement() {
    let c = parse_ok(&with_node(&[
        "[[vip]]",
        r#"address = "10.100.0.53""#,
        r#"interface = "lo""#,
    ]));
    assert!(c.vips[0].services.is_empty());
    assert_eq!(c.vips[0].check, None);
}

#[test]
fn vip_check_requires_a_port() {
    assert_one(
        &with_node(&[
            "[[vip]]",
            r#"address = "10.100.0.1""#,
            "[vip.check]",
            r#"type = "tcp""#,
        ]),
        6,
        1,
        "vip[0].check: port is required (the port to check on the VIP)",
    );
}

#[test]
fn vip_check_address_defaults_to_the_vip() {
    let c = parse_ok(&with_node(&[
        "[[vip]]",
        r#"address = "10.100.0.1""#,
        "[vip.check]",
        "port = 53",
    ]));
    let check = c.vips[0].check.as_ref().unwrap();
    assert_eq!(
        check.address,
        "10.100.0.1".parse::<std::net::IpAddr>().unwrap()
    );
    assert_eq!(check.port, 53);
    assert_eq!(check.check.kind, CheckKind::Tcp);
    assert_eq!(check.check.port, None);
    let c = parse_ok(&with_node(&[
        "[[vip]]",
        r#"address = "10.100.0.1""#,
        "[vip.check]",
        "port = 53",
        r#"address = "127.0.0.1""#,
    ]));
    assert_eq!(
        c.vips[0].check.as_ref().unwrap().address,
        "127.0.0.1".parse::<std::net::IpAddr>().unwrap()
    );
}

fn communities_line(n: u32) -> String {
    let list: Vec<String> = (0..n).map(|i| format!("\"65000:{i}\"")).collect();
    format!("communities = [{}]", list.join(", "))
}

#[test]
fn path_attributes_must_fit_in_one_update() {
    // The longest UPDATE is iBGP with IPv4 in MP_REACH_NLRI and two next hops: 91 bytes
    // plus 4 per community, GRACEFUL_SHUTDOWN counted (it is added while draining).
    let fits = communities_line(1001);
    let c = parse_ok(&with_node(&["[[vip]]", r#"address = "10.0.0.1""#, &fits]));
    assert_eq!(c.vips[0].communities.len(), 1001);
    let too_many = communities_line(1002);
    assert_one(
        &with_node(&["[[vip]]", r#"address = "10.0.0.1""#, &too_many]),
        6,
        15,
        "vip[0].communities: VIP 10.0.0.1: one route with 1002 communities and 0 large \
         communities (and GRACEFUL_SHUTDOWN while drained) needs an UPDATE of 4099 bytes, more \
         than the 4096-byte BGP message limit; use fewer",
    );
}

#[test]
fn large_communities_count_towards_the_update_size_and_are_blamed_when_larger() {
    let large: Vec<String> = (0..340).map(|i| format!("\"65000:1:{i}\"")).collect();
    let large = format!("large_communities = [{}]", large.join(", "));
    let few = communities_line(2);
    let errors = errors(&with_node(&[
        "[[vip]]",
        r#"address = "2001:db8::1""#,
        &few,
        &large,
    ]));
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (line, col, message) = &errors[0];
    assert_eq!((*line, *col), (7, 21), "{message}");
    assert!(
        message.starts_with(
            "vip[0].large_communities: VIP 2001:db8::1: one route with 2 communities and 340 \
             large communities"
        ),
        "{message}"
    );
}

#[test]
fn bind_is_address_or_route_and_defaults_to_address() {
    assert_one(
        &with_node(&["[[vip]]", r#"address = "10.100.0.1""#, r#"bind = "lo""#]),
        6,
        8,
        r#"vip[0].bind: unknown VIP binding "lo"; expected one of: address, route"#,
    );
    let c = parse_ok(&with_node(&[
        "[[vip]]",
        r#"address = "10.100.0.1""#,
        "[[vip]]",
        r#"address = "10.100.0.2""#,
        r#"bind = "route""#,
    ]));
    assert_eq!(c.vips[0].bind, VipBind::Address);
    assert_eq!(c.vips[1].bind, VipBind::Route);
}

#[test]
fn node_vip_bind_is_the_default_a_vip_can_override() {
    let c = parse_ok(&[
        "[node]",
        r#"router_id = "10.0.1.2""#,
        "asn = 65001",
        r#"vip_bind = "route""#,
        "[[vip]]",
        r#"address = "10.100.0.1""#,
        "[[vip]]",
        r#"address = "10.100.0.2""#,
        r#"bind = "address""#,
    ]);
    assert_eq!(c.vips[0].bind, VipBind::Route);
    assert_eq!(c.vips[1].bind, VipBind::Address);
    assert_one(
        &[
            "[node]",
            r#"router_id = "10.0.1.2""#,
            "asn = 65001",
            r#"vip_bind = 1"#,
        ],
        4,
        12,
        "node.vip_bind: expected a string, found integer 1",
    );
}
