//! Whole-file behaviour: defaults, syntax and unknown keys, collecting errors, the examples.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::config::*;

#[test]
fn a_node_table_alone_is_a_valid_config_with_every_default() {
    let c = parse_ok(&NODE);
    assert_eq!(
        c.node.router_id,
        "10.0.1.2".parse::<std::net::Ipv4Addr>().unwrap()
    );
    assert_eq!(c.node.asn, 65001);
    assert_eq!(c.api.listen, "127.0.0.1:9180".parse().unwrap());
    assert_eq!(c.api.token, None);
    assert_eq!(c.bgp.hold_time, 90);
    assert_eq!(c.bgp.connect_retry, Duration::from_secs(5));
    assert_eq!(c.bgp.listen, None);
    assert_eq!(c.bgp.shutdown_delay, Duration::ZERO);
    assert!(c.bgp.peers.is_empty());
    assert!(c.vips.is_empty());
}

#[test]
fn defaults_are_filled_in_for_peers_vips_services_backends_and_checks() {
    let mut lines = service(&[]);
    lines.extend([
        "[bgp]",
        "hold_time = 30",
        "[[bgp.peer]]",
        r#"address = "10.0.1.1""#,
        "asn = 65000",
    ]);
    let c = parse_ok(&lines);
    let peer = &c.bgp.peers[0];
    assert_eq!(peer.port, 179);
    assert_eq!(peer.hold_time, 30, "inherits bgp.hold_time");
    assert_eq!(peer.local_address, None);
    assert_eq!((peer.next_hop, peer.next_hop6), (None, None));
    assert!(!peer.passive && !peer.ttl_security);
    assert_eq!(peer.password, None);

    let vip = &c.vips[0];
    assert_eq!(vip.interface, "anycast0");
    assert!(vip.communities.is_empty() && vip.large_communities.is_empty());
    assert_eq!(
        (vip.med, vip.local_pref, vip.as_path_prepend),
        (None, None, 0)
    );
    assert_eq!(vip.announce, AnnouncePolicy::All);
    assert_eq!(vip.check, None);

    let svc = &vip.services[0];
    assert_eq!(svc.protocol, Protocol::Tcp);
    assert_eq!(svc.scheduler, "wlc");
    assert_eq!(svc.forwarding, Forwarding::Masq);
    assert_eq!(svc.persistence, 0);
    assert_eq!(svc.min_healthy, 1);
    assert_eq!(svc.unhealthy_weight, 0);
    assert_eq!(svc.slow_start, Duration::ZERO);

    let be = &svc.backends[0];
    assert_eq!(be.port, 80, "defaults to the service port");
    assert_eq!(be.weight, 1);
    let default_check = Check {
        kind: CheckKind::Tcp,
        port: None,
        interval: Duration::from_secs(2),
        timeout: Duration::from_secs(1),
        rise: 2,
        fall: 3,
    };
    assert_eq!(be.check, default_check);
    assert_eq!(
        Check::default(),
        default_check,
        "Check::default is the resolved default"
    );
}

/// `Bgp::new` and `Peer::new` build what tests and tools need without a file; they must
/// give the same defaults as the file does.
#[test]
fn bgp_new_and_peer_new_are_what_a_file_without_settings_resolves_to() {
    let c = parse_ok(&with_node(&[
        "[[bgp.peer]]",
        r#"address = "10.0.1.1""#,
        "asn = 65000",
        "[[bgp.peer]]",
        r#"address = "2001:db8:1::1""#,
        "asn = 65000",
    ]));
    let v4 = Peer::new("10.0.1.1".parse().unwrap(), 65000);
    let v6 = Peer::new("2001:db8:1::1".parse().unwrap(), 65000);
    assert_eq!(v4.families, Families::of(v4.address));
    assert_eq!((v6.families, v6.extended_next_hop), (Families::BOTH, true));
    assert_eq!(c.bgp, Bgp::new(vec![v4, v6]));
}

#[test]
fn every_error_is_reported_at_once_in_file_order() {
    let lines = with_node(&[
        "[bgp]",                       // 4
        "hold_time = 1",               // 5
        "bogus = true",                // 6
        "[[vip]]",                     // 7
        r#"address = "10.0.0.300""#,   // 8
        "  [[vip.service]]",           // 9
        r#"  name = "web""#,           // 10
        "  port = 80",                 // 11
        r#"  scheduler = "fast""#,     // 12
        "  [[vip.service.backend]]",   // 13
        r#"  address = "10.0.10.11""#, // 14
        "  weight = 70000",            // 15
        "[[vip]]",                     // 16
        r#"address = "10.100.0.2""#,   // 17
        r#"interface = "a/b""#,        // 18
    ]);
    let found: Vec<_> = errors(&lines).into_iter().map(|(l, c, _)| (l, c)).collect();
    assert_eq!(
        found,
        [(5, 13), (6, 1), (8, 11), (12, 15), (15, 12), (18, 13)]
    );
}

#[test]
fn a_toml_syntax_error_is_one_error_at_its_position() {
    let lines = with_node(&["[bgp]", "hold_time = ", "[[vip]]", r#"address = "x""#]);
    let errs = errors(&lines);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!((errs[0].0, errs[0].1), (5, 13));
    assert!(errs[0].2.contains("expected"), "{:?}", errs[0].2);
}

#[test]
fn duplicate_keys_are_a_syntax_error() {
    assert_one(&with_node(&["asn = 1"]), 4, 1, "duplicate key");
}

#[test]
fn unknown_keys_are_reported_with_their_path_and_the_expected_keys() {
    assert_one(
        &with_node(&["[bgp]", "hold = 9"]),
        5,
        1,
        "bgp.hold: unknown key; expected one of `hold_time`",
    );
}

#[test]
fn unknown_tables_and_nested_unknown_keys_are_all_reported() {
    let lines = with_node(&[
        "[metrics]",                    // 4
        "[[vip]]",                      // 5
        r#"address = "10.100.0.1""#,    // 6
        "  [[vip.service]]",            // 7
        r#"  name = "web""#,            // 8
        "  port = 80",                  // 9
        "  [[vip.service.backend]]",    // 10
        r#"  address = "10.0.10.11""#,  // 11
        "  check = { kind = \"tcp\" }", // 12
    ]);
    let errs = errors(&lines);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_eq!((errs[0].0, errs[0].1), (4, 2));
    assert!(errs[0]
        .2
        .starts_with("metrics: unknown key; expected one of `node`"));
    assert_eq!((errs[1].0, errs[1].1), (12, 13));
    assert!(errs[1].2.starts_with(
        "vip[0].service[0].backend[0].check.kind: unknown key; expected one of `type`"
    ));
}

#[test]
fn a_value_of_the_wrong_type_says_what_was_expected() {
    assert_one(
        &with_node(&[
            "[[bgp.peer]]",
            r#"address = "10.0.1.1""#,
            "asn = 65000",
            r#"port = "179""#,
        ]),
        7,
        8,
        r#"bgp.peer[0].port: expected a port number 1..=65535, found string "179""#,
    );
}

#[test]
fn a_value_where_an_array_of_tables_belongs_stops_at_one_error() {
    let lines = ["vip = 3", "[node]", r#"router_id = "10.0.1.2""#, "asn = 1"];
    assert_one(
        &lines,
        1,
        7,
        "vip: invalid type: integer `3`, expected an array of tables, [[vip]]",
    );
}

#[test]
fn a_table_header_where_an_array_of_tables_belongs_names_the_right_header() {
    let lines = with_node(&[
        "[[vip]]",
        r#"address = "10.100.0.1""#,
        "[vip.service]",
        r#"name = "web""#,
    ]);
    let message =
        "vip[0].service: invalid type: table, expected an array of tables, [[vip.service]]";
    assert_one(&lines, 6, 1, message);
}

#[test]
fn a_value_where_a_table_belongs_says_a_table_was_expected() {
    let lines = with_node(&["[[vip]]", r#"address = "10.100.0.1""#, "check = 1"]);
    assert_one(
        &lines,
        6,
        9,
        "vip[0].check: invalid type: integer `1`, expected a table",
    );
}

#[test]
fn errors_display_as_file_line_col_message() {
    let err = parse("[node]\nrouter_id = \"x\"\nasn = 0\n", "/etc/a.toml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "/etc/a.toml:2:13: node.router_id: \"x\" is not an IP address\n\
         /etc/a.toml:3:7: node.asn: AS 0 is reserved; expected an AS number 1..=4294967295, \
         or asdot like \"1.10\""
    );
}

#[test]
fn every_shipped_example_parses() {
    fn walk(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "toml") {
                found.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("config-examples"),
        &mut files,
    );
    assert!(files.len() >= 6, "examples missing: {files:?}");
    for file in files {
        if let Err(e) = load(&file) {
            panic!("{} does not parse:\n{e}", file.display());
        }
    }
}

#[test]
fn mangled_files_never_panic_and_every_error_has_a_position_in_the_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config-examples/full.toml");
    let full = std::fs::read_to_string(path).unwrap();
    let line_count = full.lines().count() + 1;
    let mut variants: Vec<String> = Vec::new();
    // Every truncation at a line end, and every single deleted character among the first 2 KiB.
    for (i, _) in full.match_indices('\n') {
        variants.push(full[..i].to_string());
    }
    for (i, _) in full.char_indices().take(2048) {
        let mut v = full.clone();
        v.remove(i);
        variants.push(v);
    }
    for text in variants {
        if let Err(e) = parse(&text, "f.toml") {
            assert!(!e.errors.is_empty());
            for err in e.errors {
                assert!(
                    err.line >= 1 && err.line <= line_count && err.col >= 1,
                    "{err:?}"
                );
            }
        }
    }
}

#[test]
fn lab_node_files_follow_the_lab_plan() {
    use std::net::IpAddr;
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    for n in 1..=3 {
        let file = format!(
            "{}/config-examples/lab/lb{n}.toml",
            env!("CARGO_MANIFEST_DIR")
        );
        let c = load(Path::new(&file)).unwrap();
        assert_eq!(c.node.router_id.to_string(), format!("10.1.{n}.2"));
        assert_eq!(c.node.asn, 65001);
        assert_eq!(c.api.listen, "127.0.0.1:9180".parse().unwrap());
        assert_eq!(c.bgp.hold_time, 9);
        assert!((1..=2).contains(&c.bgp.connect_retry.as_secs()));
        let peers: Vec<_> = c
            .bgp
            .peers
            .iter()
            .map(|p| (p.address, p.asn, p.next_hop6))
            .collect();
        assert_eq!(
            peers,
            [
                (
                    ip(&format!("10.1.{n}.1")),
                    65000,
                    Some(format!("fd00:1:{n}::2").parse().unwrap())
                ),
                (
                    ip(&format!("10.2.{n}.1")),
                    65000,
                    Some(format!("fd00:2:{n}::2").parse().unwrap())
                ),
            ]
        );
        let expected = [
            (
                "10.100.0.1",
                "web",
                [format!("10.10.{n}.11"), format!("10.10.{n}.12")],
            ),
            (
                "2001:db8:100::1",
                "web6",
                [format!("fd00:10:{n}::11"), format!("fd00:10:{n}::12")],
            ),
        ];
        assert_eq!(c.vips.len(), 2);
        for (vip, (address, name, backends)) in c.vips.iter().zip(expected) {
            assert_eq!(
                (vip.address, vip.interface.as_str()),
                (ip(address), "anycast0")
            );
            let svc = &vip.services[..];
            assert_eq!(svc.len(), 1);
            let svc = &svc[0];
            assert_eq!(
                (svc.name.as_str(), svc.port, svc.protocol),
                (name, 80, Protocol::Tcp)
            );
            assert_eq!(
                (svc.scheduler.as_str(), svc.forwarding),
                ("wrr", Forwarding::Masq)
            );
            let got: Vec<_> = svc
                .backends
                .iter()
                .map(|b| (b.address, b.port, b.weight))
                .collect();
            assert_eq!(got, backends.map(|b| (ip(&b), 8080, 100)));
            for b in &svc.backends {
                let http = HttpCheck::get("/healthz", StatusRange { lo: 200, hi: 200 });
                let check = Check {
                    kind: CheckKind::Http(http),
                    port: None,
                    interval: Duration::from_secs(1),
                    timeout: Duration::from_millis(500),
                    rise: 2,
                    fall: 2,
                };
                assert_eq!(b.check, check);
            }
        }
    }
}

#[test]
fn the_state_file_defaults_to_the_config_files_directory() {
    let c = parse_ok(&NODE);
    assert_eq!(c.state_file, None);
    assert_eq!(
        c.state_file_path(Path::new("/etc/anycastd/anycastd.toml"), None),
        Path::new("/etc/anycastd/anycastd.state.json")
    );
    assert_eq!(
        c.state_file_path(Path::new("anycastd.toml"), None),
        Path::new("./anycastd.state.json")
    );
    // Under systemd with StateDirectory= ($STATE_DIRECTORY), there.
    let state = Some(Path::new("/var/lib/anycastd"));
    assert_eq!(
        c.state_file_path(Path::new("/etc/anycastd/anycastd.toml"), state),
        Path::new("/var/lib/anycastd/anycastd.state.json")
    );
    let c = parse_ok(&with_node(&[r#"state_file = "drains.json""#]));
    assert_eq!(
        c.state_file_path(Path::new("/etc/anycastd/anycastd.toml"), state),
        Path::new("/etc/anycastd/drains.json"),
        "the key wins"
    );
}

#[test]
fn node_state_file_is_absolute_or_relative_to_the_config_files_directory() {
    let c = parse_ok(&with_node(&[
        r#"state_file = "/var/lib/anycastd/state.json""#,
    ]));
    assert_eq!(
        c.state_file_path(Path::new("/etc/anycastd/anycastd.toml"), None),
        Path::new("/var/lib/anycastd/state.json")
    );
    let c = parse_ok(&with_node(&[r#"state_file = "run/drains.json""#]));
    assert_eq!(
        c.state_file_path(Path::new("/etc/anycastd/anycastd.toml"), None),
        Path::new("/etc/anycastd/run/drains.json")
    );
}

#[test]
fn node_state_file_must_name_a_file() {
    assert_errors(
        &with_node(&[r#"state_file = """#]),
        &[(4, 14, "node.state_file: must not be empty")],
    );
    assert_errors(
        &with_node(&["state_file = 1"]),
        &[(4, 14, "node.state_file: expected a string, found integer 1")],
    );
    for dir in ["/var/lib/anycastd/", "..", ".", "/", "a/.."] {
        let line = format!("state_file = {dir:?}");
        let message =
            format!("node.state_file: {dir:?} is a directory; expected the path of a file");
        assert_errors(&with_node(&[&line]), &[(4, 14, &message)]);
    }
}

#[test]
fn ipvs_sync_takes_an_interface_a_sync_id_and_a_role() {
    let c = parse_ok(&with_node(&["[ipvs.sync]", r#"interface = "eth1""#]));
    let sync = c.ipvs_sync.unwrap();
    assert_eq!(
        (sync.interface.as_str(), sync.sync_id, sync.role),
        ("eth1", 0, SyncRole::Both),
        "defaults: sync id 0, both daemons"
    );
    let c = parse_ok(&with_node(&[
        "[ipvs.sync]",
        r#"interface = "eth1""#,
        "syncid = 7",
        r#"role = "backup""#,
    ]));
    let sync = c.ipvs_sync.unwrap();
    assert_eq!((sync.sync_id, sync.role), (7, SyncRole::Backup));
    assert!(parse_ok(&with_node(&[])).ipvs_sync.is_none());
    assert_one(
        &with_node(&["[ipvs.sync]", "syncid = 1"]),
        4,
        1,
        "ipvs.sync: interface is required",
    );
    assert_one(
        &with_node(&["[ipvs.sync]", r#"interface = "eth1""#, "syncid = 256"]),
        6,
        10,
        "ipvs.sync.syncid: 256 is out of range; expected a sync id 0..=255",
    );
    assert_one(
        &with_node(&[
            "[ipvs.sync]",
            r#"interface = "eth1""#,
            r#"role = "primary""#,
        ]),
        6,
        8,
        "ipvs.sync.role:",
    );
    assert_one(
        &with_node(&["[ipvs.sync]", r#"interface = "a/b""#]),
        5,
        13,
        "ipvs.sync.interface: interface \"a/b\" contains '/'",
    );
}
