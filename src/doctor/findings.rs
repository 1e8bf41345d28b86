//! The decisions of `anycastd doctor`: from a config and the [`Facts`] of a machine to one
//! [`Finding`] per thing checked. Pure: no I/O, unit-tested with hand-built facts.
//!
//! Levels: `FAIL` when `run` cannot do what the config asks on this machine (no IPVS for a
//! service, no way to create a VIP's interface, no CAP_NET_ADMIN, the API port taken, no peer
//! reachable at all) or would announce a VIP that cannot answer (masq without forwarding);
//! `warn` for what works but is likely wrong (one unreachable peer, a VIP address someone else
//! put there, strict rp_filter under direct routing); `note` for what doctor cannot check
//! from here (the backends' side of direct routing and tunnels); `ok` otherwise.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::facts::{Bind, Facts, Ipvs, Module, Probe, CAP_NET_ADMIN, CAP_NET_BIND_SERVICE};
use super::Finding;
use crate::config::{Config, Forwarding};
use crate::dataplane::state::ServiceKey;

/// Linux version that stores `IFA_PROTO`, anycastd's ownership marker on addresses.
const IFA_PROTO_SINCE: (u32, u32) = (5, 18);

/// Every finding, in the order they are printed: privileges and kernel, IPVS, interfaces and
/// addresses, forwarding sysctls, listen addresses, peers.
pub fn examine(config: &Config, facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    privileges(config, facts, &mut out);
    kernel(facts, &mut out);
    ipvs(config, facts, &mut out);
    interfaces(config, facts, &mut out);
    addresses(config, facts, &mut out);
    forwarding(config, facts, &mut out);
    listeners(config, facts, &mut out);
    peers(config, facts, &mut out);
    out
}

fn has_cap(facts: &Facts, cap: u32) -> Option<bool> {
    facts.cap_eff.map(|c| c & (1 << cap) != 0)
}

fn privileges(config: &Config, facts: &Facts, out: &mut Vec<Finding>) {
    out.push(match has_cap(facts, CAP_NET_ADMIN) {
        Some(true) => Finding::ok("privileges", "CAP_NET_ADMIN is effective"),
        Some(false) => Finding::fail(
            "privileges",
            "this process lacks CAP_NET_ADMIN: `run` started like this cannot create \
             interfaces, add addresses or program IPVS",
            "run as root, or with CAP_NET_ADMIN (the shipped systemd unit grants it); run \
             doctor the way the daemon runs",
        ),
        None => Finding::warn(
            "privileges",
            "cannot read CapEff from /proc/self/status",
            "run as root",
        ),
    });
    let low_ports: Vec<String> = std::iter::once(config.api.listen)
        .chain(config.bgp.listen)
        .filter(|a| a.port() < 1024)
        .map(|a| a.to_string())
        .collect();
    if !low_ports.is_empty() && has_cap(facts, CAP_NET_BIND_SERVICE) == Some(false) {
        out.push(Finding::fail(
            "privileges",
            format!(
                "{} needs CAP_NET_BIND_SERVICE (a port below 1024), which this process lacks",
                low_ports.join(", ")
            ),
            "run as root or with CAP_NET_BIND_SERVICE (the shipped systemd unit grants it)",
        ));
    }
}

/// "6.1.0-28-amd64" → (6, 1).
fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

fn kernel(facts: &Facts, out: &mut Vec<Finding>) {
    match kernel_version(&facts.kernel_release) {
        Some(v) if v < IFA_PROTO_SINCE => out.push(Finding::warn(
            "kernel",
            format!(
                "Linux {} keeps no IFA_PROTO marker on addresses: after a restart anycastd \
                 cannot tell the VIP addresses it added from foreign ones, so it never removes them",
                facts.kernel_release
            ),
            "use Linux 5.18 or later, or remove stale VIP addresses by hand",
        )),
        Some(_) => out.push(Finding::ok(
            "kernel",
            format!(
                "Linux {} (addresses carry anycastd's IFA_PROTO marker)",
                facts.kernel_release
            ),
        )),
        None => out.push(Finding::warn(
            "kernel",
            format!("cannot read the kernel version ({:?})", facts.kernel_release),
            "check /proc/sys/kernel/osrelease",
        )),
    }
}

fn module(facts: &Facts, name: &str) -> Module {
    facts.modules.get(name).copied().unwrap_or(Module::Absent)
}

/// Where doctor looked for a module, for the text of a missing one.
fn module_places(facts: &Facts, name: &str) -> String {
    if facts.modules_loadable {
        format!(
            "not loaded, not built in, no {name}.ko under /lib/modules/{}",
            facts.kernel_release
        )
    } else {
        "not built in, and this kernel cannot load modules (no /proc/modules)".to_string()
    }
}

fn ipvs(config: &Config, facts: &Facts, out: &mut Vec<Finding>) {
    let service_count = config.services().count();
    if service_count == 0 {
        out.push(Finding::ok(
            "ipvs",
            "not needed: no [[vip.service]] in the config",
        ));
        return;
    }
    let ip_vs = module(facts, "ip_vs");
    let usable = match &facts.ipvs {
        Ipvs::Available { services } => {
            out.push(Finding::ok(
                "ipvs",
                format!("available (generic netlink family IPVS) for {service_count} service(s)"),
            ));
            match services {
                Ok(keys) => foreign_services(config, facts, keys, out),
                Err(e) => out.push(Finding::warn(
                    "ipvs",
                    format!("cannot list the kernel's virtual services: {e}"),
                    "run doctor as root to see services anycastd would take over",
                )),
            }
            true
        }
        Ipvs::Unavailable if ip_vs == Module::OnDisk => {
            out.push(Finding::fail(
                "ipvs",
                format!(
                    "module ip_vs is under /lib/modules/{} but the IPVS netlink family did not \
                     appear on demand",
                    facts.kernel_release
                ),
                "modprobe ip_vs (and look at dmesg)",
            ));
            false
        }
        Ipvs::Unavailable => {
            out.push(Finding::fail(
                "ipvs",
                format!(
                    "this kernel has no IPVS: no IPVS netlink family, no /proc/net/ip_vs, \
                     module ip_vs {}; the config has {service_count} service(s)",
                    module_places(facts, "ip_vs")
                ),
                "boot a kernel with CONFIG_IP_VS (Debian's linux-image-amd64 has it as a \
                 module: modprobe ip_vs), or keep only VIPs without services",
            ));
            false
        }
        Ipvs::Unreadable(e) => {
            out.push(Finding::fail(
                "ipvs",
                format!("cannot ask the kernel for IPVS: {e}"),
                "run as root (CAP_NET_ADMIN)",
            ));
            false
        }
    };
    if usable {
        schedulers(config, facts, out);
    }
}

fn schedulers(config: &Config, facts: &Facts, out: &mut Vec<Finding>) {
    let used: BTreeSet<&str> = config
        .services()
        .map(|(_, s)| s.scheduler.as_str())
        .collect();
    for sched in used {
        let name = format!("ip_vs_{sched}");
        let topic = format!("scheduler {sched}");
        out.push(match module(facts, &name) {
            Module::Loaded => Finding::ok(topic, format!("module {name} is loaded")),
            Module::BuiltIn => Finding::ok(topic, format!("{name} is built into the kernel")),
            Module::OnDisk => Finding::ok(
                topic,
                format!("module {name} will be loaded on demand by the kernel"),
            ),
            Module::Absent => Finding::fail(
                topic,
                format!(
                    "{name} {}: services using it are refused",
                    module_places(facts, &name)
                ),
                format!("install the kernel's {name} module, or choose another scheduler"),
            ),
        });
    }
}

/// Configured services the kernel already holds, on a VIP without anycastd's marker: left by
/// keepalived, ldirectord or ipvsadm, and taken over by anycastd.
fn foreign_services(config: &Config, facts: &Facts, keys: &[ServiceKey], out: &mut Vec<Finding>) {
    let owned: BTreeSet<IpAddr> = facts
        .addresses
        .as_ref()
        .map(|a| a.iter().filter(|a| a.owned).map(|a| a.address).collect())
        .unwrap_or_default();
    let wanted: BTreeSet<ServiceKey> = config
        .services()
        .map(|(vip, s)| ServiceKey {
            protocol: s.protocol,
            address: vip.address,
            port: s.port,
        })
        .collect();
    for key in keys {
        if wanted.contains(key) && !owned.contains(&key.address) {
            out.push(Finding::warn(
                format!("ipvs {key}"),
                "already in the kernel and not anycastd's (its VIP has no anycastd address): \
                 anycastd will take it over and replace its destinations with the config's",
                format!(
                    "stop what made it (keepalived, ldirectord) or delete it: ipvsadm -D {}",
                    ipvsadm_service(key)
                ),
            ));
        }
    }
}

/// `-t 10.0.0.1:80`, `-u [2001:db8::1]:53`, as ipvsadm names a service.
fn ipvsadm_service(key: &ServiceKey) -> String {
    let flag = match key.protocol {
        crate::config::Protocol::Tcp => "-t",
        crate::config::Protocol::Udp => "-u",
        crate::config::Protocol::Sctp => "--sctp-service",
    };
    let addr = match key.address {
        IpAddr::V4(a) => format!("{a}:{}", key.port),
        IpAddr::V6(a) => format!("[{a}]:{}", key.port),
    };
    format!("{flag} {addr}")
}

fn interfaces(config: &Config, facts: &Facts, out: &mut Vec<Finding>) {
    let wanted: BTreeSet<&str> = config.vips.iter().map(|v| v.interface.as_str()).collect();
    if wanted.is_empty() {
        return;
    }
    let links = match &facts.links {
        Ok(l) => l,
        Err(e) => {
            out.push(Finding::warn(
                "interfaces",
                format!("cannot list interfaces: {e}"),
                "run as root",
            ));
            return;
        }
    };
    for name in wanted {
        let topic = format!("interface {name}");
        let finding = match links.iter().find(|l| l.name == name) {
            Some(l) if l.owned => Finding::ok(topic, "exists, created by anycastd"),
            Some(_) => Finding::ok(
                topic,
                "exists (not created by anycastd: used as it is, never changed or deleted)",
            ),
            None => match module(facts, "dummy") {
                Module::Loaded | Module::BuiltIn => Finding::ok(
                    topic,
                    "will be created as a dummy interface (dummy driver present)",
                ),
                Module::OnDisk => Finding::ok(
                    topic,
                    "will be created as a dummy interface; the dummy module is loaded on demand",
                ),
                Module::Absent => Finding::fail(
                    topic,
                    format!(
                        "does not exist and cannot be created: no dummy interfaces (module dummy {})",
                        module_places(facts, "dummy")
                    ),
                    format!(
                        "use a kernel with CONFIG_DUMMY (modprobe dummy), create {name} yourself, \
                         or put these VIPs on an existing interface (interface = \"lo\")"
                    ),
                ),
            },
        };
        out.push(finding);
    }
}

fn addresses(config: &Config, facts: &Facts, out: &mut Vec<Finding>) {
    if config.vips.is_empty() {
        return;
    }
    let addrs = match &facts.addresses {
        Ok(a) => a,
        Err(e) => {
            out.push(Finding::warn(
                "vips",
                format!("cannot list addresses: {e}"),
                "run as root",
            ));
            return;
        }
    };
    let mut conflicts = 0;
    for vip in &config.vips {
        for a in addrs
            .iter()
            .filter(|a| a.address == vip.address && !a.owned)
        {
            conflicts += 1;
            out.push(if a.interface == vip.interface {
                Finding::warn(
                    format!("vip {}", vip.address),
                    format!(
                        "already on {} without anycastd's marker (added by hand or another \
                         tool): anycastd uses it but never removes it, not even with --cleanup",
                        a.interface
                    ),
                    format!(
                        "ip addr del {}/{} dev {} and let anycastd add its own",
                        a.address, a.prefix_len, a.interface
                    ),
                )
            } else {
                Finding::warn(
                    format!("vip {}", vip.address),
                    format!(
                        "already on {} (not anycastd's) as {}/{}; anycastd adds it to {} as well",
                        a.interface, a.address, a.prefix_len, vip.interface
                    ),
                    format!(
                        "if another service owns this address, choose another VIP; else \
                         ip addr del {}/{} dev {}",
                        a.address, a.prefix_len, a.interface
                    ),
                )
            });
        }
    }
    if conflicts == 0 {
        out.push(Finding::ok(
            "vips",
            format!(
                "no foreign address equals one of the {} VIP(s)",
                config.vips.len()
            ),
        ));
    }
}

fn sysctl<'a>(facts: &'a Facts, name: &str) -> Option<&'a str> {
    facts.sysctls.get(name).map(String::as_str)
}

fn forwarding(config: &Config, facts: &Facts, out: &mut Vec<Finding>) {
    let services: Vec<_> = config.services().collect();
    let names = |fwd: Forwarding, v6: Option<bool>| -> Vec<String> {
        services
            .iter()
            .filter(|(vip, s)| {
                s.forwarding == fwd && v6.is_none_or(|v6| vip.address.is_ipv6() == v6)
            })
            .map(|(_, s)| s.name.clone())
            .collect()
    };
    if config.vips.iter().any(|v| v.address.is_ipv6())
        && sysctl(facts, "net.ipv6.conf.all.disable_ipv6") == Some("1")
    {
        out.push(Finding::fail(
            "ipv6",
            "net.ipv6.conf.all.disable_ipv6 = 1: IPv6 VIPs cannot be added",
            "sysctl -w net.ipv6.conf.all.disable_ipv6=0 (and in /etc/sysctl.d/)",
        ));
    }
    for (v6, key) in [
        (false, "net.ipv4.ip_forward"),
        (true, "net.ipv6.conf.all.forwarding"),
    ] {
        let masq = names(Forwarding::Masq, Some(v6));
        if masq.is_empty() {
            continue;
        }
        let topic = format!("masq ({})", masq.join(", "));
        out.push(match sysctl(facts, key) {
            Some("1") => Finding::ok(topic, format!("{key} = 1")),
            value => Finding::fail(
                topic,
                format!(
                    "{key} = {}: the backends' replies are not forwarded back through this \
                     node, so announced masq VIPs would not answer",
                    value.unwrap_or("(unreadable)")
                ),
                format!("sysctl -w {key}=1 (and in /etc/sysctl.d/)"),
            ),
        });
    }
    if !names(Forwarding::Masq, None).is_empty() {
        if let Some(v) = sysctl(facts, "net.ipv4.vs.conntrack") {
            out.push(Finding::note(
                "masq",
                format!(
                    "net.ipv4.vs.conntrack = {v}: set it to 1 only when nftables/iptables rules \
                     (SNAT, a stateful firewall) must see IPVS connections"
                ),
            ));
        }
    }
    let route = names(Forwarding::Route, None);
    if !route.is_empty() {
        rp_filter(config, facts, &route, out);
        out.push(Finding::note(
            format!("route ({})", route.join(", ")),
            format!(
                "the backends must hold the VIP on a non-ARP interface (lo) with \
                 net.ipv4.conf.all.arp_ignore=1 and arp_announce=2 and share a LAN with this \
                 node; doctor cannot check them from here (this node: arp_ignore={}, \
                 arp_announce={})",
                sysctl(facts, "net.ipv4.conf.all.arp_ignore").unwrap_or("?"),
                sysctl(facts, "net.ipv4.conf.all.arp_announce").unwrap_or("?")
            ),
        ));
    }
    let tunnel = names(Forwarding::Tunnel, None);
    if !tunnel.is_empty() {
        let ipip = match module(facts, "ipip") {
            Module::Loaded | Module::BuiltIn => "present",
            Module::OnDisk => "loadable",
            Module::Absent => "absent",
        };
        out.push(Finding::note(
            format!("tunnel ({})", tunnel.join(", ")),
            format!(
                "IPVS encapsulates IPIP itself, so this node needs no ipip module (here: \
                 {ipip}); the backends need one, with the VIP on tunl0 and rp_filter 0 on it; \
                 doctor cannot check them from here"
            ),
        ));
    }
}

/// Strict reverse-path filtering (1) on an interface packets for a VIP may arrive on: with
/// ECMP from several routers, a client's packets can come in on an interface that is not its
/// return route and be dropped. The effective value is the larger of `all` and the interface's.
fn rp_filter(config: &Config, facts: &Facts, route: &[String], out: &mut Vec<Finding>) {
    let all: u8 = sysctl(facts, "net.ipv4.conf.all.rp_filter")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let vip_ifs: BTreeSet<&str> = config.vips.iter().map(|v| v.interface.as_str()).collect();
    let strict: Vec<String> = facts
        .sysctls
        .iter()
        .filter_map(|(k, v)| {
            let name = k
                .strip_prefix("net.ipv4.conf.")?
                .strip_suffix(".rp_filter")?;
            let skip = ["all", "default", "lo"].contains(&name) || vip_ifs.contains(name);
            let own: u8 = v.parse().ok()?;
            (!skip && all.max(own) == 1).then(|| name.to_string())
        })
        .collect();
    let topic = format!("route ({})", route.join(", "));
    out.push(if strict.is_empty() {
        Finding::ok(topic, "rp_filter is not strict on any interface")
    } else {
        Finding::warn(
            topic,
            format!(
                "rp_filter is strict (1) on {}: with ECMP from several routers a client's \
                 packets can arrive on an interface that is not its return route and be dropped",
                strict.join(", ")
            ),
            "sysctl -w net.ipv4.conf.all.rp_filter=2 (loose) and the same for each interface",
        )
    });
}

fn listeners(config: &Config, facts: &Facts, out: &mut Vec<Finding>) {
    let api = config.api.listen;
    let topic = format!("api {api}");
    out.push(match &facts.api_bind {
        Bind::Free => Finding::ok(topic, "free"),
        Bind::InUse if facts.anycastd_running => Finding::ok(
            topic,
            "anycastd is running there (GET /healthz answered ok); a second `run` would not \
             start beside it",
        ),
        Bind::InUse => Finding::fail(
            topic,
            "in use by another program (GET /healthz did not answer as anycastd does)",
            format!(
                "stop it (ss -ltnp 'sport = :{}' names it) or change api.listen",
                api.port()
            ),
        ),
        Bind::Error(e) => Finding::fail(
            topic,
            format!("cannot be bound: {e}"),
            "listen on an address of this machine (api.listen)",
        ),
    });
    if let (Some(listen), Some(bind)) = (config.bgp.listen, &facts.bgp_bind) {
        let topic = format!("bgp listen {listen}");
        out.push(match bind {
            Bind::Free => Finding::ok(topic, "free"),
            Bind::InUse if facts.anycastd_running => Finding::ok(
                topic,
                "in use, by the running anycastd as far as doctor can tell",
            ),
            Bind::InUse => Finding::fail(
                topic,
                "in use by another program (another BGP speaker: FRR's bgpd, BIRD?)",
                format!(
                    "stop it (ss -ltnp 'sport = :{}' names it), or remove bgp.listen and let \
                     anycastd connect out only",
                    listen.port()
                ),
            ),
            Bind::Error(e) => Finding::fail(
                topic,
                format!("cannot be bound: {e}"),
                "listen on an address of this machine (bgp.listen)",
            ),
        });
    }
}

fn peers(config: &Config, facts: &Facts, out: &mut Vec<Finding>) {
    let mut active = 0;
    let mut reached = 0;
    let mut passive = 0;
    for peer in &config.bgp.peers {
        let address = peer.display_address();
        let topic = format!("peer {address} port {}", peer.port);
        let Some(probe) = facts.peers.get(&address) else {
            continue;
        };
        let finding = match probe {
            Probe::Passive => {
                passive += 1;
                Finding::note(topic, "passive: waits for the peer to connect; not probed")
            }
            Probe::Open {
                local,
                asn,
                router_id,
            } => {
                active += 1;
                reached += 1;
                if *asn == peer.asn {
                    Finding::ok(
                        topic,
                        format!(
                            "answers BGP: OPEN from AS {asn}, BGP identifier {router_id} (to {})",
                            local.ip()
                        ),
                    )
                } else {
                    Finding::warn(
                        topic,
                        format!(
                            "answers BGP from AS {asn}, but the config says asn = {}: the \
                             session will be refused (Bad Peer AS)",
                            peer.asn
                        ),
                        format!("set asn = {asn} for this peer, or fix the router's AS"),
                    )
                }
            }
            Probe::Running { state, .. } if state == "established" => {
                active += 1;
                reached += 1;
                Finding::ok(
                    topic,
                    "established (the running anycastd's session, from its /status; not probed: \
                     a second connection would reset it under graceful restart)",
                )
            }
            Probe::Running { state, last_error } => {
                active += 1;
                Finding::warn(
                    topic,
                    format!(
                        "the running anycastd's session is {state}{}",
                        last_error
                            .as_ref()
                            .map(|e| format!(" (last error: {e})"))
                            .unwrap_or_default()
                    ),
                    "see anycastd status and the daemon's log",
                )
            }
            Probe::NotInStatus { reason } => {
                active += 1;
                reached += 1;
                Finding::note(
                    topic,
                    match reason {
                        Some(r) => format!(
                            "not probed while anycastd runs (its /status could not be read: {r})"
                        ),
                        None => "not probed while anycastd runs, and its /status has no such \
                                 peer: it runs another config"
                            .to_string(),
                    },
                )
            }
            Probe::Closed { local, reason } => {
                active += 1;
                Finding::warn(
                    topic,
                    format!(
                        "accepted the connection from {} and closed it without an OPEN{}: the \
                         router has no neighbor for this address",
                        local.ip(),
                        reason
                            .as_ref()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    ),
                    format!(
                        "on the router: neighbor {} remote-as {} (or set local_address to the \
                         address the router knows)",
                        local.ip(),
                        config.node.asn
                    ),
                )
            }
            Probe::Silent { local } => {
                active += 1;
                Finding::warn(
                    topic,
                    format!(
                        "accepts TCP (from {}) but sent no BGP OPEN within {} s: a proxy or \
                         firewall answering for it, or not a BGP speaker",
                        local.ip(),
                        super::facts::PEER_TIMEOUT.as_secs()
                    ),
                    "check that the address is the router's and that BGP runs there",
                )
            }
            Probe::Refused => {
                active += 1;
                Finding::warn(
                    topic,
                    "connection refused: the host answers but nothing listens on the port",
                    "start BGP on the router and configure this node as its neighbor there",
                )
            }
            Probe::TimedOut => {
                active += 1;
                Finding::warn(
                    topic,
                    format!(
                        "no answer within {} s (a filter, a wrong address, or a TCP MD5 \
                         password the router does not expect)",
                        super::facts::PEER_TIMEOUT.as_secs()
                    ),
                    "check the address, filters on the way and the router's neighbor config",
                )
            }
            Probe::Failed(e) => {
                active += 1;
                Finding::warn(
                    topic,
                    format!("cannot connect: {e}"),
                    "check routes, local_address and the interface of a link-local peer",
                )
            }
        };
        out.push(finding);
    }
    if config.bgp.peers.is_empty() {
        out.push(Finding::warn(
            "bgp",
            "no [[bgp.peer]]: nothing will be announced",
            "add the routers as [[bgp.peer]]",
        ));
    } else if active > 0 && reached == 0 && passive == 0 {
        out.push(Finding::fail(
            "bgp",
            "no peer is reachable: nothing can be announced",
            "fix the peers above",
        ));
    }
}
