//! The decisions of doctor, from hand-built facts: each machine fault gives its line.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::facts::{Bind, Facts, Ipvs, Module, Probe};
use super::{examine, exit_code, render, Finding, Level};
use crate::config::{self, Config, Protocol};
use crate::dataplane::state::{Address, Link, ServiceKey};

const NODE: &str = "[node]\nrouter_id = \"10.0.1.2\"\nasn = 65001\n\n";
const PEERS: &str = "[[bgp.peer]]\naddress = \"10.0.1.1\"\nasn = 65000\n\n\
                     [[bgp.peer]]\naddress = \"10.0.2.1\"\nasn = 65000\n\n";
/// [`PEERS`], the first one also carrying IPv6 VIPs.
const PEERS6: &str =
    "[[bgp.peer]]\naddress = \"10.0.1.1\"\nasn = 65000\nnext_hop6 = \"2001:db8::2\"\n\n\
                      [[bgp.peer]]\naddress = \"10.0.2.1\"\nasn = 65000\n\n";

fn service(vip: &str, name: &str, scheduler: &str, forwarding: &str) -> String {
    let backend = if vip.contains(':') {
        "2001:db8:10::11"
    } else {
        "10.0.10.11"
    };
    format!(
        "[[vip]]\naddress = \"{vip}\"\n\n[[vip.service]]\nname = \"{name}\"\nport = 80\n\
         scheduler = \"{scheduler}\"\nforwarding = \"{forwarding}\"\n\n\
         [[vip.service.backend]]\naddress = \"{backend}\"\nport = 80\n\n"
    )
}

fn parse(text: &str) -> Config {
    config::parse(text, "test.toml").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Two peers, one masq service with wrr on 10.100.0.1 (interface anycast0).
fn web() -> Config {
    parse(&format!(
        "{NODE}{PEERS}{}",
        service("10.100.0.1", "web", "wrr", "masq")
    ))
}

fn link(index: u32, name: &str, owned: bool) -> Link {
    Link {
        index,
        name: name.into(),
        up: true,
        owned,
    }
}

fn address(interface: &str, address: &str, prefix_len: u8, owned: bool) -> Address {
    Address {
        interface: interface.into(),
        address: address.parse().unwrap(),
        prefix_len,
        owned,
    }
}

fn local() -> SocketAddr {
    "10.0.1.2:40000".parse().unwrap()
}

/// A router in AS 65000 that answered the probe with its OPEN.
fn connected() -> Probe {
    Probe::Open {
        local: local(),
        asn: 65000,
        router_id: "10.255.255.1".parse().unwrap(),
    }
}

/// A machine where everything [`web`] needs is present.
fn healthy() -> Facts {
    let modules = [
        ("dummy", Module::OnDisk),
        ("ip_vs", Module::Loaded),
        ("ip_vs_wrr", Module::Loaded),
    ];
    let sysctls = [
        ("net.ipv4.ip_forward", "1"),
        ("net.ipv6.conf.all.forwarding", "0"),
        ("net.ipv6.conf.all.disable_ipv6", "0"),
        ("net.ipv4.conf.all.rp_filter", "0"),
        ("net.ipv4.conf.all.arp_ignore", "0"),
        ("net.ipv4.conf.all.arp_announce", "0"),
        ("net.ipv4.conf.lo.rp_filter", "0"),
        ("net.ipv4.conf.eth0.rp_filter", "0"),
        ("net.ipv4.conf.eth1.rp_filter", "0"),
    ];
    Facts {
        kernel_release: "6.1.0-28-amd64".into(),
        modules_loadable: true,
        modules: modules.iter().map(|(n, m)| (n.to_string(), *m)).collect(),
        ipvs: Ipvs::Available {
            services: Ok(vec![]),
        },
        cap_eff: Some(0x1ff_ffff_ffff),
        sysctls: sysctls
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        links: Ok(vec![
            link(1, "lo", false),
            link(2, "eth0", false),
            link(3, "eth1", false),
        ]),
        addresses: Ok(vec![
            address("lo", "127.0.0.1", 8, false),
            address("eth0", "10.0.1.2", 24, false),
            address("eth1", "10.0.2.2", 24, false),
        ]),
        api_bind: Bind::Free,
        bgp_bind: None,
        anycastd_running: false,
        peers: BTreeMap::from([
            ("10.0.1.1".to_string(), connected()),
            ("10.0.2.1".to_string(), connected()),
        ]),
    }
}

/// The findings on `topic` (exact match, or prefix when it ends with a space).
fn on<'a>(findings: &'a [Finding], topic: &str) -> Vec<&'a Finding> {
    findings
        .iter()
        .filter(|f| f.topic == topic || (topic.ends_with(' ') && f.topic.starts_with(topic)))
        .collect()
}

/// The one finding on `topic`.
fn one<'a>(findings: &'a [Finding], topic: &str) -> &'a Finding {
    match on(findings, topic).as_slice() {
        [f] => f,
        other => panic!("expected one finding on {topic:?}, got {other:#?}\nall: {findings:#?}"),
    }
}

fn levels(findings: &[Finding], level: Level) -> Vec<&Finding> {
    findings.iter().filter(|f| f.level == level).collect()
}

#[test]
fn a_machine_with_everything_gives_only_ok_lines_and_exits_0() {
    let findings = examine(&web(), &healthy());
    assert!(
        findings.iter().all(|f| f.level == Level::Ok),
        "{findings:#?}"
    );
    assert_eq!(exit_code(&findings), 0);
    let topics: Vec<&str> = findings.iter().map(|f| f.topic.as_str()).collect();
    assert_eq!(
        topics,
        [
            "privileges",
            "kernel",
            "ipvs",
            "scheduler wrr",
            "interface anycast0",
            "vips",
            "masq (web)",
            "api 127.0.0.1:9180",
            "peer 10.0.1.1 port 179",
            "peer 10.0.2.1 port 179",
        ]
    );
}

#[test]
fn a_kernel_without_ipvs_fails_a_config_with_services_and_skips_the_schedulers() {
    let mut facts = healthy();
    facts.ipvs = Ipvs::Unavailable;
    facts.modules_loadable = false;
    facts.modules.insert("ip_vs".into(), Module::Absent);
    facts.modules.insert("ip_vs_wrr".into(), Module::Absent);
    let findings = examine(&web(), &facts);
    let f = one(&findings, "ipvs");
    assert_eq!(f.level, Level::Fail);
    assert!(
        f.text.starts_with("this kernel has no IPVS")
            && f.text.contains("cannot load modules")
            && f.text.contains("1 service(s)"),
        "{f}"
    );
    assert!(f.fix.as_deref().unwrap().contains("CONFIG_IP_VS"), "{f}");
    assert!(on(&findings, "scheduler ").is_empty(), "{findings:#?}");
    assert_eq!(exit_code(&findings), 1);
}

#[test]
fn plain_announcements_need_no_ipvs() {
    let config = parse(&format!(
        "{NODE}{PEERS}[[vip]]\naddress = \"10.100.0.53\"\ninterface = \"lo\"\n"
    ));
    let mut facts = healthy();
    facts.ipvs = Ipvs::Unavailable;
    let findings = examine(&config, &facts);
    let f = one(&findings, "ipvs");
    assert_eq!(f.level, Level::Ok);
    assert!(f.text.starts_with("not needed"), "{f}");
    let lo = one(&findings, "interface lo");
    assert_eq!(lo.level, Level::Ok);
    assert!(lo.text.contains("never changed or deleted"), "{lo}");
    assert_eq!(exit_code(&findings), 0, "{findings:#?}");
}

#[test]
fn an_ip_vs_module_on_disk_whose_family_did_not_appear_says_modprobe() {
    let mut facts = healthy();
    facts.ipvs = Ipvs::Unavailable;
    facts.modules.insert("ip_vs".into(), Module::OnDisk);
    let findings = examine(&web(), &facts);
    let f = one(&findings, "ipvs");
    assert_eq!(f.level, Level::Fail);
    assert_eq!(f.fix.as_deref(), Some("modprobe ip_vs (and look at dmesg)"));
}

#[test]
fn ipvs_that_cannot_be_asked_fails_with_the_reason() {
    let mut facts = healthy();
    facts.ipvs = Ipvs::Unreadable("Operation not permitted (EPERM)".into());
    let findings = examine(&web(), &facts);
    let f = one(&findings, "ipvs");
    assert_eq!(f.level, Level::Fail);
    assert!(f.text.contains("EPERM"), "{f}");
}

#[test]
fn schedulers_are_loaded_built_in_loaded_on_demand_or_missing() {
    let config = parse(&format!(
        "{NODE}{PEERS}{}{}{}{}",
        service("10.100.0.1", "a", "wrr", "masq"),
        service("10.100.0.2", "b", "mh", "masq"),
        service("10.100.0.3", "c", "rr", "masq"),
        service("10.100.0.4", "d", "sed", "masq"),
    ));
    let mut facts = healthy();
    facts.modules.insert("ip_vs_mh".into(), Module::OnDisk);
    facts.modules.insert("ip_vs_rr".into(), Module::BuiltIn);
    facts.modules.insert("ip_vs_sed".into(), Module::Absent);
    let findings = examine(&config, &facts);
    assert_eq!(
        one(&findings, "scheduler wrr").text,
        "module ip_vs_wrr is loaded"
    );
    assert_eq!(
        one(&findings, "scheduler mh").text,
        "module ip_vs_mh will be loaded on demand by the kernel"
    );
    assert_eq!(one(&findings, "scheduler rr").level, Level::Ok);
    let sed = one(&findings, "scheduler sed");
    assert_eq!(sed.level, Level::Fail);
    assert_eq!(
        sed.text,
        "ip_vs_sed not loaded, not built in, no ip_vs_sed.ko under /lib/modules/6.1.0-28-amd64: \
         services using it are refused"
    );
    assert_eq!(exit_code(&findings), 1);
}

#[test]
fn a_vip_interface_that_does_not_exist_needs_the_dummy_driver() {
    for (dummy, level, says) in [
        (Module::Loaded, Level::Ok, "dummy driver present"),
        (Module::BuiltIn, Level::Ok, "dummy driver present"),
        (Module::OnDisk, Level::Ok, "loaded on demand"),
        (Module::Absent, Level::Fail, "cannot be created"),
    ] {
        let mut facts = healthy();
        facts.modules.insert("dummy".into(), dummy);
        let findings = examine(&web(), &facts);
        let f = one(&findings, "interface anycast0");
        assert_eq!(f.level, level, "{dummy:?}: {f}");
        assert!(f.text.contains(says), "{dummy:?}: {f}");
    }
}

#[test]
fn an_existing_vip_interface_needs_no_dummy_driver() {
    let mut facts = healthy();
    facts.modules.insert("dummy".into(), Module::Absent);
    if let Ok(links) = &mut facts.links {
        links.push(link(4, "anycast0", true));
    }
    let findings = examine(&web(), &facts);
    let f = one(&findings, "interface anycast0");
    assert_eq!(
        (f.level, f.text.as_str()),
        (Level::Ok, "exists, created by anycastd")
    );
}

#[test]
fn without_cap_net_admin_run_is_blocked() {
    let mut facts = healthy();
    facts.cap_eff = Some(0);
    let findings = examine(&web(), &facts);
    let f = one(&findings, "privileges");
    assert_eq!(f.level, Level::Fail);
    assert!(f.text.contains("CAP_NET_ADMIN"), "{f}");
    assert_eq!(exit_code(&findings), 1);
}

#[test]
fn a_bgp_listener_on_port_179_needs_cap_net_bind_service() {
    let config = parse(&format!("{NODE}[bgp]\nlisten = \"0.0.0.0:179\"\n\n{PEERS}"));
    let mut facts = healthy();
    facts.bgp_bind = Some(Bind::Free);
    facts.cap_eff = Some(1 << super::facts::CAP_NET_ADMIN);
    let findings = examine(&config, &facts);
    let p = on(&findings, "privileges");
    assert_eq!(p.len(), 2, "{p:#?}");
    assert_eq!(p[1].level, Level::Fail);
    assert!(
        p[1].text
            .starts_with("0.0.0.0:179 needs CAP_NET_BIND_SERVICE"),
        "{}",
        p[1]
    );
    facts.cap_eff = Some(0x1ff_ffff_ffff);
    assert_eq!(on(&examine(&config, &facts), "privileges").len(), 1);
}

#[test]
fn a_kernel_older_than_5_18_warns_that_addresses_carry_no_marker() {
    let mut facts = healthy();
    facts.kernel_release = "5.10.0-30-amd64".into();
    let findings = examine(&web(), &facts);
    let f = one(&findings, "kernel");
    assert_eq!(f.level, Level::Warn);
    assert!(f.text.contains("IFA_PROTO"), "{f}");
    facts.kernel_release = "6.18.44-fc-v1045".into();
    assert_eq!(one(&examine(&web(), &facts), "kernel").level, Level::Ok);
}

#[test]
fn masq_without_forwarding_fails_per_family() {
    let config = parse(&format!(
        "{NODE}{PEERS6}{}{}",
        service("10.100.0.1", "web", "wrr", "masq"),
        service("2001:db8::1", "web6", "wrr", "masq"),
    ));
    let mut facts = healthy();
    facts
        .sysctls
        .insert("net.ipv4.ip_forward".into(), "0".into());
    let findings = examine(&config, &facts);
    let v4 = one(&findings, "masq (web)");
    assert_eq!(v4.level, Level::Fail);
    assert!(v4.text.starts_with("net.ipv4.ip_forward = 0"), "{v4}");
    assert_eq!(
        v4.fix.as_deref(),
        Some("sysctl -w net.ipv4.ip_forward=1 (and in /etc/sysctl.d/)")
    );
    let v6 = one(&findings, "masq (web6)");
    assert_eq!(v6.level, Level::Fail);
    assert!(
        v6.text.starts_with("net.ipv6.conf.all.forwarding = 0"),
        "{v6}"
    );
    facts
        .sysctls
        .insert("net.ipv4.ip_forward".into(), "1".into());
    facts
        .sysctls
        .insert("net.ipv6.conf.all.forwarding".into(), "1".into());
    assert_eq!(exit_code(&examine(&config, &facts)), 0);
}

#[test]
fn the_ipvs_conntrack_sysctl_is_a_note_for_masq_when_ip_vs_is_loaded() {
    let mut facts = healthy();
    facts
        .sysctls
        .insert("net.ipv4.vs.conntrack".into(), "0".into());
    let findings = examine(&web(), &facts);
    let f = one(&findings, "masq");
    assert_eq!(f.level, Level::Note);
    assert!(f.text.starts_with("net.ipv4.vs.conntrack = 0"), "{f}");
}

#[test]
fn ipv6_vips_fail_when_ipv6_is_disabled() {
    let config = parse(&format!(
        "{NODE}{PEERS6}[[vip]]\naddress = \"2001:db8::53\"\ninterface = \"lo\"\n"
    ));
    let mut facts = healthy();
    facts
        .sysctls
        .insert("net.ipv6.conf.all.disable_ipv6".into(), "1".into());
    let findings = examine(&config, &facts);
    assert_eq!(one(&findings, "ipv6").level, Level::Fail);
    // Not asked about when there is no IPv6 VIP.
    assert!(on(&examine(&web(), &facts), "ipv6").is_empty());
}

#[test]
fn strict_rp_filter_warns_for_direct_routing_on_the_interfaces_it_applies_to() {
    let config = parse(&format!(
        "{NODE}{PEERS}{}",
        service("10.100.0.1", "dr", "wrr", "route")
    ));
    let mut facts = healthy();
    facts
        .sysctls
        .insert("net.ipv4.conf.eth1.rp_filter".into(), "1".into());
    // lo and the VIP's own interface never receive the clients' packets.
    facts
        .sysctls
        .insert("net.ipv4.conf.anycast0.rp_filter".into(), "1".into());
    facts
        .sysctls
        .insert("net.ipv4.conf.lo.rp_filter".into(), "1".into());
    let findings = examine(&config, &facts);
    let route = on(&findings, "route (dr)");
    assert_eq!(route.len(), 2, "{route:#?}");
    assert_eq!(route[0].level, Level::Warn);
    assert!(
        route[0]
            .text
            .starts_with("rp_filter is strict (1) on eth1:"),
        "{}",
        route[0]
    );
    // The note says what doctor cannot see: the backends.
    assert_eq!(route[1].level, Level::Note);
    assert!(
        route[1].text.contains("arp_ignore=1 and arp_announce=2")
            && route[1].text.contains("cannot check them")
            && route[1]
                .text
                .contains("this node: arp_ignore=0, arp_announce=0"),
        "{}",
        route[1]
    );
    // `all` = 1 makes every interface strict; 2 (loose) is fine.
    facts
        .sysctls
        .insert("net.ipv4.conf.all.rp_filter".into(), "1".into());
    let findings = examine(&config, &facts);
    assert!(
        on(&findings, "route (dr)")[0]
            .text
            .contains("on eth0, eth1:"),
        "{findings:#?}"
    );
    facts
        .sysctls
        .insert("net.ipv4.conf.all.rp_filter".into(), "2".into());
    facts
        .sysctls
        .insert("net.ipv4.conf.eth1.rp_filter".into(), "2".into());
    let findings = examine(&config, &facts);
    assert_eq!(on(&findings, "route (dr)")[0].level, Level::Ok);
    // Direct routing needs no forwarding: no ip_forward line, and nothing blocks run.
    assert!(on(&findings, "masq ").is_empty());
    assert_eq!(exit_code(&findings), 0);
}

#[test]
fn rp_filter_is_not_asked_about_without_direct_routing() {
    let mut facts = healthy();
    facts
        .sysctls
        .insert("net.ipv4.conf.all.rp_filter".into(), "1".into());
    let findings = examine(&web(), &facts);
    assert!(on(&findings, "route ").is_empty(), "{findings:#?}");
}

#[test]
fn tunnel_services_note_the_backends_needs_and_the_local_ipip_module() {
    let config = parse(&format!(
        "{NODE}{PEERS}{}",
        service("10.100.0.1", "tun", "wrr", "tunnel")
    ));
    let mut facts = healthy();
    facts.modules.insert("ipip".into(), Module::OnDisk);
    let findings = examine(&config, &facts);
    let f = one(&findings, "tunnel (tun)");
    assert_eq!(f.level, Level::Note);
    assert!(
        f.text.contains("(here: loadable)") && f.text.contains("tunl0"),
        "{f}"
    );
}

#[test]
fn the_api_port_held_by_another_program_blocks_run() {
    let mut facts = healthy();
    facts.api_bind = Bind::InUse;
    let findings = examine(&web(), &facts);
    let f = one(&findings, "api 127.0.0.1:9180");
    assert_eq!(f.level, Level::Fail);
    assert!(f.text.starts_with("in use by another program"), "{f}");
    assert!(
        f.fix
            .as_deref()
            .unwrap()
            .contains("ss -ltnp 'sport = :9180'"),
        "{f}"
    );
    assert_eq!(exit_code(&findings), 1);
}

#[test]
fn the_api_port_held_by_a_running_anycastd_is_said_and_not_a_failure() {
    let mut facts = healthy();
    facts.api_bind = Bind::InUse;
    facts.anycastd_running = true;
    let findings = examine(&web(), &facts);
    let f = one(&findings, "api 127.0.0.1:9180");
    assert_eq!(f.level, Level::Ok);
    assert!(f.text.starts_with("anycastd is running there"), "{f}");
}

#[test]
fn an_api_address_that_cannot_be_bound_fails_with_the_error() {
    let mut facts = healthy();
    facts.api_bind = Bind::Error("Cannot assign requested address (EADDRNOTAVAIL)".into());
    let findings = examine(&web(), &facts);
    let f = one(&findings, "api 127.0.0.1:9180");
    assert_eq!(f.level, Level::Fail);
    assert!(f.text.contains("EADDRNOTAVAIL"), "{f}");
}

#[test]
fn a_bgp_listen_port_held_by_another_speaker_fails() {
    let config = parse(&format!(
        "{NODE}[bgp]\nlisten = \"0.0.0.0:1179\"\n\n{PEERS}"
    ));
    let mut facts = healthy();
    facts.bgp_bind = Some(Bind::InUse);
    let findings = examine(&config, &facts);
    let f = one(&findings, "bgp listen 0.0.0.0:1179");
    assert_eq!(f.level, Level::Fail);
    assert!(f.text.contains("another BGP speaker"), "{f}");
    facts.bgp_bind = Some(Bind::Free);
    assert_eq!(
        one(&examine(&config, &facts), "bgp listen 0.0.0.0:1179").level,
        Level::Ok
    );
}

#[test]
fn an_unreachable_peer_warns_with_the_reason_while_another_is_reachable() {
    let mut facts = healthy();
    facts.peers.insert("10.0.2.1".into(), Probe::Refused);
    let findings = examine(&web(), &facts);
    assert_eq!(
        one(&findings, "peer 10.0.1.1 port 179").text,
        "answers BGP: OPEN from AS 65000, BGP identifier 10.255.255.1 (to 10.0.1.2)"
    );
    let f = one(&findings, "peer 10.0.2.1 port 179");
    assert_eq!(f.level, Level::Warn);
    assert!(f.text.starts_with("connection refused"), "{f}");
    assert!(on(&findings, "bgp").is_empty());
    assert_eq!(exit_code(&findings), 0);
}

#[test]
fn no_reachable_peer_at_all_blocks_run() {
    let mut facts = healthy();
    facts.peers.insert("10.0.1.1".into(), Probe::TimedOut);
    facts.peers.insert(
        "10.0.2.1".into(),
        Probe::Failed("No route to host (errno 113)".into()),
    );
    let findings = examine(&web(), &facts);
    let t = one(&findings, "peer 10.0.1.1 port 179");
    assert!(t.text.starts_with("no answer within 2 s"), "{t}");
    let n = one(&findings, "peer 10.0.2.1 port 179");
    assert_eq!(n.text, "cannot connect: No route to host (errno 113)");
    let bgp = one(&findings, "bgp");
    assert_eq!(bgp.level, Level::Fail);
    assert_eq!(bgp.text, "no peer is reachable: nothing can be announced");
    assert_eq!(exit_code(&findings), 1);
}

#[test]
fn passive_peers_are_not_probed_and_keep_run_unblocked() {
    let config = parse(&format!(
        "{NODE}[bgp]\nlisten = \"0.0.0.0:1179\"\n\n[[bgp.peer]]\naddress = \"10.0.1.1\"\n\
         asn = 65000\npassive = true\n\n[[bgp.peer]]\naddress = \"fe80::1%eth1\"\nasn = 65000\n"
    ));
    let mut facts = healthy();
    facts.bgp_bind = Some(Bind::Free);
    facts.peers = BTreeMap::from([
        ("10.0.1.1".to_string(), Probe::Passive),
        ("fe80::1%eth1".to_string(), Probe::Refused),
    ]);
    let findings = examine(&config, &facts);
    assert_eq!(one(&findings, "peer 10.0.1.1 port 179").level, Level::Note);
    // A link-local peer is named with its interface.
    assert_eq!(
        one(&findings, "peer fe80::1%eth1 port 179").level,
        Level::Warn
    );
    assert!(on(&findings, "bgp").is_empty(), "{findings:#?}");
}

#[test]
fn a_config_without_peers_warns_that_nothing_is_announced() {
    let config = parse(NODE);
    let mut facts = healthy();
    facts.peers.clear();
    let findings = examine(&config, &facts);
    assert_eq!(one(&findings, "bgp").level, Level::Warn);
}

#[test]
fn a_vip_address_anycastd_did_not_add_warns_where_it_is() {
    let config = parse(&format!(
        "{NODE}{PEERS}{}{}",
        service("10.100.0.1", "a", "wrr", "masq"),
        service("10.100.0.2", "b", "wrr", "masq"),
    ));
    let mut facts = healthy();
    if let Ok(links) = &mut facts.links {
        links.push(link(4, "anycast0", true));
    }
    if let Ok(addrs) = &mut facts.addresses {
        addrs.push(address("anycast0", "10.100.0.1", 32, false));
        addrs.push(address("eth0", "10.100.0.2", 24, false));
    }
    let findings = examine(&config, &facts);
    let same = one(&findings, "vip 10.100.0.1");
    assert_eq!(same.level, Level::Warn);
    assert!(
        same.text
            .starts_with("already on anycast0 without anycastd's marker"),
        "{same}"
    );
    assert_eq!(
        same.fix.as_deref(),
        Some("ip addr del 10.100.0.1/32 dev anycast0 and let anycastd add its own")
    );
    let other = one(&findings, "vip 10.100.0.2");
    assert!(
        other
            .text
            .starts_with("already on eth0 (not anycastd's) as 10.100.0.2/24"),
        "{other}"
    );
    assert!(on(&findings, "vips").is_empty());
    assert_eq!(exit_code(&findings), 0);
}

#[test]
fn vip_addresses_anycastd_added_are_its_own_and_no_conflict() {
    let mut facts = healthy();
    if let Ok(addrs) = &mut facts.addresses {
        addrs.push(address("anycast0", "10.100.0.1", 32, true));
    }
    let findings = examine(&web(), &facts);
    assert_eq!(
        one(&findings, "vips").text,
        "no foreign address equals one of the 1 VIP(s)"
    );
}

#[test]
fn an_ipvs_service_of_the_config_made_by_someone_else_is_taken_over() {
    let key = ServiceKey {
        protocol: Protocol::Tcp,
        address: "10.100.0.1".parse().unwrap(),
        port: 80,
    };
    let other = ServiceKey { port: 443, ..key };
    let mut facts = healthy();
    facts.ipvs = Ipvs::Available {
        services: Ok(vec![key, other]),
    };
    let findings = examine(&web(), &facts);
    let f = one(&findings, "ipvs 10.100.0.1:80/tcp");
    assert_eq!(f.level, Level::Warn);
    assert!(
        f.fix
            .as_deref()
            .unwrap()
            .ends_with("ipvsadm -D -t 10.100.0.1:80"),
        "{f}"
    );
    // Not in the config: anycastd leaves it alone, doctor too.
    assert!(on(&findings, "ipvs 10.100.0.1:443/tcp").is_empty());
    // With anycastd's address on the VIP it is anycastd's own service from before a restart.
    if let Ok(addrs) = &mut facts.addresses {
        addrs.push(address("anycast0", "10.100.0.1", 32, true));
    }
    assert!(on(&examine(&web(), &facts), "ipvs ").is_empty());
}

#[test]
fn unreadable_netlink_facts_are_warnings_not_silence() {
    let mut facts = healthy();
    facts.links = Err("rtnetlink socket: Permission denied".into());
    facts.addresses = Err("rtnetlink socket: Permission denied".into());
    facts.ipvs = Ipvs::Available {
        services: Err("Operation not permitted (EPERM)".into()),
    };
    let findings = examine(&web(), &facts);
    assert_eq!(one(&findings, "interfaces").level, Level::Warn);
    assert_eq!(one(&findings, "vips").level, Level::Warn);
    assert_eq!(on(&findings, "ipvs")[1].level, Level::Warn);
}

#[test]
fn each_finding_is_one_line_and_the_last_line_gives_the_verdict() {
    let mut facts = healthy();
    facts.api_bind = Bind::InUse;
    facts.peers.insert("10.0.2.1".into(), Probe::Refused);
    let findings = examine(&web(), &facts);
    let text = render(&findings);
    assert_eq!(text.lines().count(), findings.len() + 1);
    assert!(
        text.contains(
            "\nFAIL api 127.0.0.1:9180: in use by another program (GET /healthz did not answer as \
         anycastd does); fix: stop it (ss -ltnp 'sport = :9180' names it) or change api.listen\n"
        ),
        "{text}"
    );
    assert!(text.contains("\nok   ipvs: available"), "{text}");
    assert!(
        text.ends_with("doctor: 1 FAIL, 1 warn: `anycastd run` is blocked on this machine\n"),
        "{text}"
    );
    let ok = render(&examine(&web(), &healthy()));
    assert!(
        ok.ends_with("doctor: nothing blocks `anycastd run` (0 warn)\n"),
        "{ok}"
    );
    assert_eq!(levels(&findings, Level::Fail).len(), 1);
}

#[test]
fn listen_addresses_are_probed_as_configured() {
    // The facts are keyed by the config's own values: a changed api.listen is a new topic.
    let config = parse(&format!(
        "{NODE}[api]\nlisten = \"127.0.0.1:19180\"\n\n{PEERS}"
    ));
    let findings = examine(&config, &healthy());
    let listen: SocketAddr = "127.0.0.1:19180".parse().unwrap();
    assert_eq!(one(&findings, &format!("api {listen}")).level, Level::Ok);
}

#[test]
fn a_peer_that_answers_bgp_from_another_as_warns() {
    let mut facts = healthy();
    facts.peers.insert(
        "10.0.2.1".into(),
        Probe::Open {
            local: local(),
            asn: 65099,
            router_id: "10.255.255.2".parse().unwrap(),
        },
    );
    let findings = examine(&web(), &facts);
    let f = one(&findings, "peer 10.0.2.1 port 179");
    assert_eq!(f.level, Level::Warn);
    assert!(
        f.text.contains("AS 65099, but the config says asn = 65000"),
        "{f}"
    );
}

#[test]
fn a_peer_that_closes_without_an_open_does_not_know_this_node() {
    let mut facts = healthy();
    for peer in ["10.0.1.1", "10.0.2.1"] {
        facts.peers.insert(
            peer.into(),
            Probe::Closed {
                local: local(),
                reason: None,
            },
        );
    }
    let findings = examine(&web(), &facts);
    let f = one(&findings, "peer 10.0.1.1 port 179");
    assert_eq!(f.level, Level::Warn);
    assert!(
        f.text
            .starts_with("accepted the connection from 10.0.1.2 and closed it without an OPEN"),
        "{f}"
    );
    assert_eq!(
        f.fix.as_deref(),
        Some(
            "on the router: neighbor 10.0.1.2 remote-as 65001 (or set local_address to the \
             address the router knows)"
        )
    );
    assert_eq!(one(&findings, "bgp").level, Level::Fail);
}

#[test]
fn while_anycastd_runs_the_peers_come_from_its_status_and_are_not_probed() {
    let mut facts = healthy();
    facts.anycastd_running = true;
    facts.api_bind = Bind::InUse;
    facts.peers = BTreeMap::from([
        (
            "10.0.1.1".to_string(),
            Probe::Running {
                state: "established".into(),
                last_error: None,
            },
        ),
        (
            "10.0.2.1".to_string(),
            Probe::Running {
                state: "active".into(),
                last_error: Some("connection refused".into()),
            },
        ),
    ]);
    let findings = examine(&web(), &facts);
    let up = one(&findings, "peer 10.0.1.1 port 179");
    assert_eq!(up.level, Level::Ok);
    assert!(
        up.text
            .starts_with("established (the running anycastd's session"),
        "{up}"
    );
    let down = one(&findings, "peer 10.0.2.1 port 179");
    assert_eq!(down.level, Level::Warn);
    assert_eq!(
        down.text,
        "the running anycastd's session is active (last error: connection refused)"
    );
    assert_eq!(exit_code(&findings), 0, "{findings:#?}");
    // Every session down: nothing is announced.
    facts.peers.insert(
        "10.0.1.1".into(),
        Probe::Running {
            state: "idle".into(),
            last_error: None,
        },
    );
    assert_eq!(one(&examine(&web(), &facts), "bgp").level, Level::Fail);
    // A daemon on another config: said, not judged.
    facts.peers = BTreeMap::from([
        ("10.0.1.1".to_string(), Probe::NotInStatus { reason: None }),
        ("10.0.2.1".to_string(), Probe::NotInStatus { reason: None }),
    ]);
    let findings = examine(&web(), &facts);
    assert_eq!(one(&findings, "peer 10.0.1.1 port 179").level, Level::Note);
    assert!(on(&findings, "bgp").is_empty());
}

#[test]
fn a_peer_that_accepts_tcp_but_says_nothing_is_not_counted_as_reachable() {
    let mut facts = healthy();
    for peer in ["10.0.1.1", "10.0.2.1"] {
        facts
            .peers
            .insert(peer.into(), Probe::Silent { local: local() });
    }
    let findings = examine(&web(), &facts);
    let f = one(&findings, "peer 10.0.1.1 port 179");
    assert_eq!(f.level, Level::Warn);
    assert!(f.text.contains("sent no BGP OPEN within 2 s"), "{f}");
    assert_eq!(one(&findings, "bgp").level, Level::Fail);
}
