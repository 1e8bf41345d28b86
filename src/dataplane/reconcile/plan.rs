//! The diff: desired state + kernel state → the minimal, ordered list of [`Op`]s.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use super::{IpvsOp, LinkOp, Op, Ownership, RouteOp, SysctlOp};
use crate::dataplane::state::{
    ActualState, DestKey, DestParams, Service, ServiceKey, ServiceParams, REHASH_SAFE_SYSCTLS,
};
use crate::dataplane::{DesiredState, VipAddress, VirtualService};

/// The addresses and local routes carrying anycastd's marker: services on their VIPs are ours.
fn owned_vips(actual: &ActualState) -> HashSet<IpAddr> {
    let addresses = actual.addresses.iter().filter(|a| a.owned);
    addresses
        .map(|a| a.address)
        .chain(actual.routes.iter().map(|r| r.address))
        .collect()
}

/// The desired services by identity; a later duplicate of the same identity wins.
fn desired_services(desired: &DesiredState) -> BTreeMap<ServiceKey, &VirtualService> {
    desired
        .services
        .iter()
        .map(|s| (service_key(s), s))
        .collect()
}

pub fn service_key(s: &VirtualService) -> ServiceKey {
    ServiceKey {
        protocol: s.protocol,
        address: s.vip,
        port: s.port,
    }
}

pub(super) fn service_params(s: &VirtualService) -> ServiceParams {
    ServiceParams {
        scheduler: s.scheduler.clone(),
        persistence: s.persistence,
        flags: s.flags,
    }
}

pub(super) fn desired_dests(s: &VirtualService) -> BTreeMap<DestKey, DestParams> {
    s.destinations
        .iter()
        .map(|d| {
            (
                DestKey {
                    address: d.address,
                    port: d.port,
                },
                DestParams::new(d.weight, d.forwarding),
            )
        })
        .collect()
}

/// The order an `mh` service's destinations must have in the kernel's list, the same on every
/// node: by address, then port. (Any fixed order would do; this one needs nothing but the
/// destinations themselves.)
pub fn canonical_order(s: &VirtualService) -> Vec<DestKey> {
    desired_dests(s).into_keys().collect()
}

/// The destination ops of an existing `mh` service. The kernel builds mh's lookup table by
/// walking the destination list, and adds a destination at one end of it
/// (its head, see [`Service::order`]), so two nodes with the same destinations have the same table only
/// if their lists are in the same order. A restart, or a backend added after others, would
/// otherwise leave each node's list in the order of its own history. So the destinations that
/// already end the list in canonical order stay (with an edit if their weight or forwarding
/// changed); every other one is deleted and added again, together with the new ones, in the
/// sequence that leaves the list canonical. All of it is one batch: the kernel keeps a deleted
/// destination's connections and gives them back when it is added again.
fn mh_dests(
    key: ServiceKey,
    current: &Service,
    dests: &BTreeMap<DestKey, DestParams>,
    up: &mut Vec<IpvsOp>,
    down: &mut Vec<IpvsOp>,
) {
    let target: Vec<DestKey> = dests.keys().copied().collect();
    let kept: Vec<DestKey> = current
        .order
        .iter()
        .filter(|d| dests.contains_key(d))
        .copied()
        .collect();
    // The list's settled tail: the oldest entries, which new ones (added at the head) never
    // displace.
    let settled = kept
        .iter()
        .rev()
        .zip(target.iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let cut = target.len() - settled;
    let stay = &target[cut..];
    let again = &kept[..kept.len() - settled];
    // Added head first, so the last added, target[0], ends up first.
    let add = target[..cut].iter().rev();
    for dest in stay {
        if current.dests.get(dest) != dests.get(dest) {
            up.push(IpvsOp::EditDest {
                service: key,
                dest: *dest,
                params: dests[dest],
            });
        }
    }
    for dest in again {
        up.push(IpvsOp::DelDest {
            service: key,
            dest: *dest,
        });
    }
    for dest in add {
        up.push(IpvsOp::AddDest {
            service: key,
            dest: *dest,
            params: dests[dest],
        });
    }
    for dest in current.dests.keys() {
        if !dests.contains_key(dest) {
            down.push(IpvsOp::DelDest {
                service: key,
                dest: *dest,
            });
        }
    }
}

/// The sysctl writes: while a service is `rehash_safe`, the [`REHASH_SAFE_SYSCTLS`] values;
/// once none is, the values found before for those this process changed, where the kernel
/// still holds what it set (an operator's own later change is theirs).
fn sysctls(desired: &DesiredState, actual: &ActualState, owned: &Ownership) -> Vec<SysctlOp> {
    let mut ops = Vec::new();
    if desired.services.iter().any(|s| s.rehash_safe) {
        for (name, value) in REHASH_SAFE_SYSCTLS {
            let was = actual.ipvs_sysctls.get(name).copied();
            if was != Some(*value) {
                ops.push(SysctlOp {
                    name,
                    value: *value,
                    was,
                    restore: false,
                });
            }
        }
    } else {
        for (name, (found, set)) in &owned.sysctls {
            let now = actual.ipvs_sysctls.get(name).copied();
            if now == Some(*set) && found != set {
                ops.push(SysctlOp {
                    name,
                    value: *found,
                    was: now,
                    restore: true,
                });
            }
        }
    }
    ops
}

/// The connection sync daemons: each configured role running with the configured interface
/// and sync id (one running otherwise is stopped and started again: the kernel cannot change
/// a running daemon), and a role no longer configured stopped if this process owns it.
fn sync_daemons(desired: &DesiredState, actual: &ActualState, owned: &Ownership) -> Vec<IpvsOp> {
    let mut ops = Vec::new();
    for d in &desired.sync_daemons {
        match actual.sync_daemons.iter().find(|a| a.master == d.master) {
            Some(a) if a == d => {}
            Some(_) => {
                ops.push(IpvsOp::StopSync { master: d.master });
                ops.push(IpvsOp::StartSync(d.clone()));
            }
            None => ops.push(IpvsOp::StartSync(d.clone())),
        }
    }
    for a in &actual.sync_daemons {
        let wanted = desired.sync_daemons.iter().any(|d| d.master == a.master);
        if !wanted && owned.sync_daemons.contains(&a.master) {
            ops.push(IpvsOp::StopSync { master: a.master });
        }
    }
    ops
}

/// One kind of VIP binding (addresses or local routes), as (interface, VIP) pairs: the wanted
/// ones the kernel lacks, in order, and the kernel's `removable` entries nobody wants. Sets are
/// built once, so both directions are O(n log n).
fn bindings<'a, K>(
    wanted: &'a [VipAddress],
    present: &'a [K],
    binding: impl Fn(&'a K) -> (&'a str, IpAddr),
    removable: impl Fn(&K) -> bool,
) -> (Vec<(&'a str, IpAddr)>, Vec<&'a K>) {
    let wanted: BTreeSet<(&str, IpAddr)> = wanted
        .iter()
        .map(|v| (v.interface.as_str(), v.address))
        .collect();
    let have: HashSet<(&str, IpAddr)> = present.iter().map(&binding).collect();
    let add = wanted
        .iter()
        .filter(|b| !have.contains(*b))
        .copied()
        .collect();
    let remove = present
        .iter()
        .filter(|k| removable(k) && !wanted.contains(&binding(k)))
        .collect();
    (add, remove)
}

/// The minimal list of ops that turns `actual` into `desired`, touching nothing foreign.
pub fn plan(desired: &DesiredState, actual: &ActualState, owned: &Ownership) -> Vec<Op> {
    let mut links_up = Vec::new();
    let mut addrs_up = Vec::new();
    let mut routes_up = Vec::new();
    let mut services_up = Vec::new();
    let mut dests_up = Vec::new();
    let mut dests_down = Vec::new();
    let mut services_down = Vec::new();
    let mut routes_down = Vec::new();
    let mut addrs_down = Vec::new();
    let mut links_down = Vec::new();

    // Links: create the missing ones; an existing interface is used as it is, unless it is
    // ours and was set down.
    let wanted_links: BTreeSet<&str> = desired
        .addresses
        .iter()
        .chain(&desired.routes)
        .map(|a| a.interface.as_str())
        .collect();
    // The first interface of a name wins, as a scan would find it.
    let mut links_by_name = HashMap::with_capacity(actual.links.len());
    for l in &actual.links {
        links_by_name.entry(l.name.as_str()).or_insert(l);
    }
    for name in &wanted_links {
        match links_by_name.get(name) {
            None => links_up.push(LinkOp::AddLink {
                name: name.to_string(),
            }),
            Some(l) if l.owned && !l.up => links_up.push(LinkOp::SetLinkUp {
                name: name.to_string(),
            }),
            Some(_) => {}
        }
    }

    // Addresses: present on the named interface (with any prefix, marked or not) counts;
    // only ours (marked) are removed.
    let (add, remove) = bindings(
        &desired.addresses,
        &actual.addresses,
        |a| (a.interface.as_str(), a.address),
        |a| a.owned,
    );
    addrs_up.extend(
        add.into_iter()
            .map(|(interface, address)| LinkOp::AddAddress {
                interface: interface.to_string(),
                address,
            }),
    );
    addrs_down.extend(remove.into_iter().map(|a| LinkOp::DelAddress {
        interface: a.interface.clone(),
        address: a.address,
        prefix_len: a.prefix_len,
    }));
    // Local routes: only our own are in the dump, so only they count as present (a foreign
    // local route for the VIP, say the kernel's for an address, is neither adopted nor
    // touched; ours coexists with it, see state::ROUTE_METRIC), and only they are removed.
    let (add, remove) = bindings(
        &desired.routes,
        &actual.routes,
        |r| (r.interface.as_str(), r.address),
        |_| true,
    );
    routes_up.extend(add.into_iter().map(|(interface, address)| RouteOp::Add {
        interface: interface.to_string(),
        address,
    }));
    routes_down.extend(remove.into_iter().map(|r| RouteOp::Del {
        interface: r.interface.clone(),
        address: r.address,
        metric: r.metric,
    }));
    for l in &actual.links {
        if l.owned && !wanted_links.contains(l.name.as_str()) {
            links_down.push(LinkOp::DelLink {
                name: l.name.clone(),
            });
        }
    }

    // IPVS, when the kernel has it.
    if let Some(ipvs) = &actual.ipvs {
        let wanted = desired_services(desired);
        for (key, vs) in &wanted {
            let params = service_params(vs);
            let dests = desired_dests(vs);
            match ipvs.get(key) {
                None => {
                    services_up.push(IpvsOp::AddService { key: *key, params });
                    // In the sequence that leaves the list canonical (last first, as the kernel
                    // adds at the head), whatever the scheduler: a later switch to mh then
                    // finds it in order.
                    dests_up.extend(dests.into_iter().rev().map(|(dest, params)| {
                        IpvsOp::AddDest {
                            service: *key,
                            dest,
                            params,
                        }
                    }));
                }
                Some(current) if vs.scheduler == "mh" => {
                    if current.params != params {
                        services_up.push(IpvsOp::EditService { key: *key, params });
                    }
                    mh_dests(*key, current, &dests, &mut dests_up, &mut dests_down);
                }
                Some(current) => {
                    if current.params != params {
                        services_up.push(IpvsOp::EditService { key: *key, params });
                    }
                    for (dest, params) in &dests {
                        match current.dests.get(dest) {
                            None => dests_up.push(IpvsOp::AddDest {
                                service: *key,
                                dest: *dest,
                                params: *params,
                            }),
                            Some(p) if p != params => dests_up.push(IpvsOp::EditDest {
                                service: *key,
                                dest: *dest,
                                params: *params,
                            }),
                            Some(_) => {}
                        }
                    }
                    // A service we manage carries exactly the desired destinations.
                    for dest in current.dests.keys() {
                        if !dests.contains_key(dest) {
                            dests_down.push(IpvsOp::DelDest {
                                service: *key,
                                dest: *dest,
                            });
                        }
                    }
                }
            }
        }
        let owned_vips = owned_vips(actual);
        for key in ipvs.keys() {
            let ours = owned.created_services.contains(key) || owned_vips.contains(&key.address);
            if !wanted.contains_key(key) && ours {
                services_down.push(IpvsOp::DelService { key: *key });
            }
        }
    }

    let sync = match &actual.ipvs {
        Some(_) => sync_daemons(desired, actual, owned),
        None => vec![],
    };

    // The sysctl files exist only while IPVS is loaded.
    let (sysctls_up, sysctls_down): (Vec<SysctlOp>, Vec<SysctlOp>) = match &actual.ipvs {
        Some(_) => sysctls(desired, actual, owned)
            .into_iter()
            .partition(|op| !op.restore),
        None => (vec![], vec![]),
    };

    let link = |ops: Vec<LinkOp>| ops.into_iter().map(Op::Link);
    let route = |ops: Vec<RouteOp>| ops.into_iter().map(Op::Route);
    let ipvs = |ops: Vec<IpvsOp>| ops.into_iter().map(Op::Ipvs);
    let sysctl = |ops: Vec<SysctlOp>| ops.into_iter().map(Op::Sysctl);
    link(links_up)
        .chain(link(addrs_up))
        .chain(route(routes_up))
        .chain(sysctl(sysctls_up))
        .chain(ipvs(sync))
        .chain(ipvs(services_up))
        .chain(ipvs(dests_up))
        .chain(ipvs(dests_down))
        .chain(ipvs(services_down))
        .chain(sysctl(sysctls_down))
        .chain(route(routes_down))
        .chain(link(addrs_down))
        .chain(link(links_down))
        .collect()
}

/// The VIP an op adds a binding for (an address or a local route), if it is such an add.
pub fn binding_added(op: &Op) -> Option<IpAddr> {
    match op {
        Op::Link(LinkOp::AddAddress { address, .. }) | Op::Route(RouteOp::Add { address, .. }) => {
            Some(*address)
        }
        _ => None,
    }
}

/// Whether the executor must skip `op`, and why: a VIP changing binding (address ↔ route)
/// keeps the old one when the new one could not be added in this pass (`failed`: the VIPs
/// whose [`binding_added`] op failed), so that it never ends up with neither. The plan puts
/// every add before every removal, so the executor knows when it reaches the removal.
pub fn held_back(op: &Op, failed: &HashSet<IpAddr>) -> Option<String> {
    let address = match op {
        Op::Link(LinkOp::DelAddress { address, .. }) | Op::Route(RouteOp::Del { address, .. }) => {
            address
        }
        _ => return None,
    };
    failed
        .contains(address)
        .then(|| format!("{op} held back: {address} keeps it until its new binding is added"))
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::{mirror, report};
    use super::*;
    use crate::config::{Forwarding, Protocol};
    use crate::dataplane::state::{self, Address, Link, Service};
    use crate::dataplane::{Destination, VipAddress};

    #[test]
    fn empty_kernel_gets_links_then_addresses_then_services_then_dests() {
        let desired = full_desired();
        let ops = plan(&desired, &empty_kernel(), &Ownership::default());
        let names: Vec<String> = ops.iter().map(|o| o.to_string()).collect();
        assert_eq!(
            names,
            vec![
                "add link anycast0",
                "add address 10.100.0.1 dev anycast0",
                "add address 2001:db8::1 dev anycast0",
                "add service 10.100.0.1:80/tcp scheduler wrr persistence 0",
                "add service [2001:db8::1]:443/tcp scheduler wrr persistence 0",
                // Each service's in the sequence that leaves the kernel's list in canonical
                // order (the kernel adds at the head, which the kernel
                // test checks: the last added is listed first).
                "add dest 10.0.10.12:8080 to 10.100.0.1:80/tcp weight 50 fwd masq",
                "add dest 10.0.10.11:8080 to 10.100.0.1:80/tcp weight 100 fwd masq",
                "add dest [2001:db8:10::12]:8443 to [2001:db8::1]:443/tcp weight 2 fwd masq",
                "add dest [2001:db8:10::11]:8443 to [2001:db8::1]:443/tcp weight 1 fwd masq",
            ]
        );
    }

    #[test]
    fn kernel_already_in_desired_state_needs_no_ops() {
        let desired = full_desired();
        assert_eq!(
            plan(&desired, &programmed(&desired), &Ownership::default()),
            vec![]
        );
    }

    #[test]
    fn restarted_daemon_adopts_unmarked_matching_state_without_ops() {
        // Same objects, but nothing carries our markers (e.g. made by a previous tool).
        let desired = full_desired();
        let mut actual = programmed(&desired);
        actual.addresses.iter_mut().for_each(|a| a.owned = false);
        actual.links.iter_mut().for_each(|l| l.owned = false);
        assert_eq!(plan(&desired, &actual, &Ownership::default()), vec![]);
    }

    #[test]
    fn weight_change_is_exactly_one_edit_dest() {
        let desired = full_desired();
        let actual = programmed(&desired);
        let mut changed = desired.clone();
        changed.services[0].destinations[1].weight = 0;
        assert_eq!(
            plan(&changed, &actual, &Ownership::default()),
            vec![Op::Ipvs(IpvsOp::EditDest {
                service: key("10.100.0.1", 80),
                dest: dkey("10.0.10.12", 8080),
                params: DestParams::new(0, Forwarding::Masq),
            })]
        );
    }

    /// An mh service with the given backends (weight 1, masq), programmed as a kernel whose
    /// list holds them in `history` order (the order a node's own past left them in).
    fn mh_node(backends: &[&str], history: &[&str]) -> (DesiredState, ActualState) {
        let mut desired = full_desired();
        desired.services.truncate(1);
        desired.services[0].scheduler = "mh".into();
        desired.services[0].destinations = backends.iter().map(|a| dest(a, 8080, 1)).collect();
        let mut actual = programmed(&desired);
        let s = actual.ipvs.as_mut().unwrap().values_mut().next().unwrap();
        s.dests = history
            .iter()
            .map(|a| (dkey(a, 8080), DestParams::new(1, Forwarding::Masq)))
            .collect();
        s.order = history.iter().map(|a| dkey(a, 8080)).collect();
        (desired, actual)
    }

    /// Plans, mirrors the ops as the kernel would apply them, and returns the resulting
    /// service with the ops.
    fn apply(desired: &DesiredState, actual: &mut ActualState) -> (Vec<Op>, Service) {
        let ops = plan(desired, actual, &Ownership::default());
        assert!(mirror(actual, &ops.iter().collect::<Vec<_>>()));
        assert_eq!(
            plan(desired, actual, &Ownership::default()),
            vec![],
            "settled"
        );
        let s = actual
            .ipvs
            .as_ref()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .clone();
        (ops, s)
    }

    #[test]
    fn a_new_service_is_programmed_in_canonical_order() {
        let mut desired = full_desired();
        desired.services[0].scheduler = "mh".into();
        let mut actual = empty_kernel();
        let (_, s) = apply(&desired, &mut actual);
        assert_eq!(s.order, canonical_order(&desired.services[0]));
    }

    #[test]
    fn nodes_with_different_histories_end_with_the_same_mh_table() {
        let backends = ["10.0.10.11", "10.0.10.12", "10.0.10.13"];
        // Node A programmed all three at once; node B had .11 and .13 and got .12 later; node
        // C was restarted and found its list in another node's order.
        let (desired, mut a) = mh_node(&backends, &[]);
        let (_, mut b) = mh_node(&backends, &["10.0.10.11", "10.0.10.13"]);
        let (_, mut c) = mh_node(&backends, &["10.0.10.13", "10.0.10.12", "10.0.10.11"]);
        let (_, sa) = apply(&desired, &mut a);
        let (ops_b, sb) = apply(&desired, &mut b);
        let (_, sc) = apply(&desired, &mut c);
        assert_eq!(sa.order, canonical_order(&desired.services[0]));
        assert_eq!(sb.order, sa.order);
        assert_eq!(sc.order, sa.order);
        assert!(sa.table_fingerprint().is_some());
        assert_eq!(sb.table_fingerprint(), sa.table_fingerprint());
        assert_eq!(sc.table_fingerprint(), sa.table_fingerprint());
        // B keeps the entry that already ends its list in place and moves only the one that
        // must come after the new backend (in the list; with head insertion, that is
        // the one added after it).
        let moved: Vec<String> = ops_b.iter().map(|o| o.to_string()).collect();
        assert_eq!(
            moved,
            [
                "delete dest 10.0.10.11:8080 of 10.100.0.1:80/tcp",
                "add dest 10.0.10.12:8080 to 10.100.0.1:80/tcp weight 1 fwd masq",
                "add dest 10.0.10.11:8080 to 10.100.0.1:80/tcp weight 1 fwd masq",
            ],
            "{moved:#?}"
        );
    }

    #[test]
    fn a_weight_change_on_an_mh_service_is_one_edit_and_keeps_the_order() {
        let backends = ["10.0.10.11", "10.0.10.12", "10.0.10.13"];
        let (mut desired, mut actual) = mh_node(&backends, &[]);
        let (_, before) = apply(&desired, &mut actual);
        desired.services[0].destinations[0].weight = 0;
        let (ops, after) = apply(&desired, &mut actual);
        assert_eq!(
            ops,
            vec![Op::Ipvs(IpvsOp::EditDest {
                service: key("10.100.0.1", 80),
                dest: dkey("10.0.10.11", 8080),
                params: DestParams::new(0, Forwarding::Masq),
            })]
        );
        assert_eq!(after.order, before.order);
        // A backend at weight 0 is not in mh's table, so the fingerprint changes with it.
        assert_ne!(after.table_fingerprint(), before.table_fingerprint());
    }

    #[test]
    fn a_removed_mh_backend_is_deleted_without_moving_the_others() {
        let (mut desired, mut actual) = mh_node(&["10.0.10.11", "10.0.10.12", "10.0.10.13"], &[]);
        apply(&desired, &mut actual);
        desired.services[0].destinations.remove(1);
        let (ops, after) = apply(&desired, &mut actual);
        assert_eq!(ops.len(), 1, "{ops:?}");
        assert_eq!(after.order, canonical_order(&desired.services[0]));
    }

    #[test]
    fn other_schedulers_keep_whatever_order_the_kernel_has() {
        let backends = ["10.0.10.11", "10.0.10.12"];
        let (mut desired, actual) = mh_node(&backends, &["10.0.10.11", "10.0.10.12"]);
        desired.services[0].scheduler = "wrr".into();
        let ops = plan(&desired, &actual, &Ownership::default());
        assert_eq!(
            ops,
            vec![Op::Ipvs(IpvsOp::EditService {
                key: key("10.100.0.1", 80),
                params: service_params(&desired.services[0]),
            })]
        );
    }

    #[test]
    fn the_fingerprint_follows_the_inputs_of_the_kernels_table() {
        let (desired, mut actual) = mh_node(&["10.0.10.11", "10.0.10.12"], &[]);
        let (_, s) = apply(&desired, &mut actual);
        let fp = s.table_fingerprint().unwrap();
        let mut other = s.clone();
        other.params.flags.port = true;
        assert_ne!(
            other.table_fingerprint().unwrap(),
            fp,
            "mh_port hashes the port too"
        );
        let mut other = s.clone();
        other.order.reverse();
        assert_ne!(other.table_fingerprint().unwrap(), fp, "list order");
        let mut other = s.clone();
        other.params.scheduler = "wrr".into();
        assert_eq!(other.table_fingerprint(), None);
    }

    fn daemon(master: bool, interface: &str, sync_id: u8) -> state::SyncDaemon {
        state::SyncDaemon {
            master,
            interface: interface.into(),
            sync_id,
        }
    }

    fn sync_ops(ops: &[Op]) -> Vec<String> {
        ops.iter()
            .filter(|o| {
                matches!(
                    o,
                    Op::Ipvs(IpvsOp::StartSync(_)) | Op::Ipvs(IpvsOp::StopSync { .. })
                )
            })
            .map(|o| o.to_string())
            .collect()
    }

    #[test]
    fn sync_daemons_are_started_restarted_on_a_change_and_stopped_only_when_ours() {
        let mut desired = full_desired();
        desired.sync_daemons = vec![daemon(true, "eth1", 5), daemon(false, "eth1", 5)];
        let mut actual = programmed(&full_desired());
        assert_eq!(
            sync_ops(&plan(&desired, &actual, &Ownership::default())),
            [
                "start master sync daemon (interface eth1, syncid 5)",
                "start backup sync daemon (interface eth1, syncid 5)",
            ]
        );
        // Running as configured: nothing to do.
        actual.sync_daemons = desired.sync_daemons.clone();
        assert_eq!(
            sync_ops(&plan(&desired, &actual, &Ownership::default())),
            Vec::<String>::new()
        );
        // Another sync id: the kernel cannot change a running daemon.
        desired.sync_daemons[1].sync_id = 6;
        assert_eq!(
            sync_ops(&plan(&desired, &actual, &Ownership::default())),
            [
                "stop backup sync daemon",
                "start backup sync daemon (interface eth1, syncid 6)",
            ]
        );
        // [ipvs.sync] removed: ours are stopped, others left running.
        desired.sync_daemons.clear();
        let owned = Ownership {
            sync_daemons: [true].into(),
            ..Default::default()
        };
        assert_eq!(
            sync_ops(&plan(&desired, &actual, &owned)),
            ["stop master sync daemon"]
        );
        // Without IPVS there is nothing to start.
        let mut desired = full_desired();
        desired.sync_daemons = vec![daemon(true, "eth1", 5)];
        actual.ipvs = None;
        assert_eq!(
            sync_ops(&plan(&desired, &actual, &Ownership::default())),
            Vec::<String>::new()
        );
    }

    fn rehash_safe(desired: &mut DesiredState) {
        desired.services[0].scheduler = "mh".into();
        desired.services[0].rehash_safe = true;
    }

    fn sysctls_at(actual: &mut ActualState, value: u32) {
        actual.ipvs_sysctls = state::REHASH_SAFE_SYSCTLS
            .iter()
            .map(|(name, _)| (*name, value))
            .collect();
    }

    fn sysctl_ops(ops: &[Op]) -> Vec<String> {
        ops.iter()
            .filter(|o| matches!(o, Op::Sysctl(_)))
            .map(|o| o.to_string())
            .collect()
    }

    #[test]
    fn a_rehash_safe_service_sets_the_sloppy_sysctls_and_restores_them_when_gone() {
        let mut desired = full_desired();
        rehash_safe(&mut desired);
        let mut actual = programmed(&desired);
        sysctls_at(&mut actual, 0);
        let ops = plan(&desired, &actual, &Ownership::default());
        assert_eq!(
            sysctl_ops(&ops),
            [
                "set net.ipv4.vs.sloppy_tcp = 1",
                "set net.ipv4.vs.sloppy_sctp = 1",
                "set net.ipv4.vs.schedule_icmp = 1",
                "set net.ipv4.vs.expire_nodest_conn = 1",
            ]
        );
        // Set, as the task records it: nothing more to do while the service wants them.
        let mut owned = Ownership::default();
        for op in &ops {
            if let Op::Sysctl(op) = op {
                owned.sysctls.insert(op.name, (op.was.unwrap(), op.value));
            }
        }
        sysctls_at(&mut actual, 1);
        assert_eq!(
            sysctl_ops(&plan(&desired, &actual, &owned)),
            Vec::<String>::new()
        );
        // The service is no longer rehash-safe: what was changed goes back, after the rest.
        desired.services[0].rehash_safe = false;
        let ops = plan(&desired, &actual, &owned);
        assert_eq!(sysctl_ops(&ops).len(), 4);
        assert!(matches!(ops.last(), Some(Op::Sysctl(op)) if op.restore && op.value == 0));
    }

    #[test]
    fn sysctls_it_did_not_change_are_never_restored() {
        let mut desired = full_desired();
        let mut actual = programmed(&desired);
        // Already 1 when it started (the operator, or the process before a restart): nothing
        // to set, nothing owned, nothing restored later.
        sysctls_at(&mut actual, 1);
        rehash_safe(&mut desired);
        assert_eq!(
            sysctl_ops(&plan(&desired, &actual, &Ownership::default())),
            Vec::<String>::new()
        );
        desired.services[0].rehash_safe = false;
        assert_eq!(
            sysctl_ops(&plan(&desired, &actual, &Ownership::default())),
            Vec::<String>::new()
        );
        // Changed by this process, then changed again by the operator: theirs now.
        let mut owned = Ownership::default();
        owned.sysctls.insert("sloppy_tcp", (0, 1));
        actual.ipvs_sysctls.insert("sloppy_tcp", 2);
        assert_eq!(
            sysctl_ops(&plan(&desired, &actual, &owned)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn without_ipvs_no_sysctl_is_planned() {
        let mut desired = full_desired();
        rehash_safe(&mut desired);
        let mut actual = programmed(&desired);
        actual.ipvs = None;
        assert_eq!(
            sysctl_ops(&plan(&desired, &actual, &Ownership::default())),
            Vec::<String>::new()
        );
    }

    #[test]
    fn forwarding_change_is_one_edit_dest() {
        let desired = full_desired();
        let actual = programmed(&desired);
        let mut changed = desired.clone();
        changed.services[0].destinations[0].forwarding = Forwarding::Route;
        let ops = plan(&changed, &actual, &Ownership::default());
        assert_eq!(ops.len(), 1);
        assert!(matches!(
            ops[0],
            Op::Ipvs(IpvsOp::EditDest {
                params: DestParams {
                    forwarding: state::Forwarding::Route,
                    ..
                },
                ..
            })
        ));
    }

    #[test]
    fn scheduler_or_persistence_change_is_one_edit_service() {
        let desired = full_desired();
        let actual = programmed(&desired);
        let mut changed = desired.clone();
        changed.services[0].scheduler = "mh".into();
        changed.services[0].persistence = 300;
        assert_eq!(
            plan(&changed, &actual, &Ownership::default()),
            vec![Op::Ipvs(IpvsOp::EditService {
                key: key("10.100.0.1", 80),
                params: ServiceParams {
                    scheduler: "mh".into(),
                    persistence: 300,
                    flags: Default::default(),
                },
            })]
        );
    }

    #[test]
    fn service_deleted_by_hand_is_recreated_with_its_dests() {
        let desired = full_desired();
        let mut actual = programmed(&desired);
        actual.ipvs.as_mut().unwrap().remove(&key("10.100.0.1", 80));
        let ops = plan(&desired, &actual, &Ownership::default());
        assert_eq!(ops.len(), 3);
        assert!(
            matches!(&ops[0], Op::Ipvs(IpvsOp::AddService { key: k, .. }) if *k == key("10.100.0.1", 80))
        );
        let mut added: Vec<DestKey> = ops[1..]
            .iter()
            .filter_map(|op| match op {
                Op::Ipvs(IpvsOp::AddDest { dest, .. }) => Some(*dest),
                _ => None,
            })
            .collect();
        added.sort();
        assert_eq!(added, [dkey("10.0.10.11", 8080), dkey("10.0.10.12", 8080)]);
    }

    #[test]
    fn dest_added_by_hand_to_a_managed_service_is_removed() {
        let desired = full_desired();
        let mut actual = programmed(&desired);
        let svc = actual
            .ipvs
            .as_mut()
            .unwrap()
            .get_mut(&key("10.100.0.1", 80))
            .unwrap();
        svc.dests
            .insert(dkey("10.0.10.99", 80), DestParams::new(1, Forwarding::Masq));
        assert_eq!(
            plan(&desired, &actual, &Ownership::default()),
            vec![Op::Ipvs(IpvsOp::DelDest {
                service: key("10.100.0.1", 80),
                dest: dkey("10.0.10.99", 80),
            })]
        );
    }

    #[test]
    fn address_deleted_by_hand_is_added_back() {
        let desired = full_desired();
        let mut actual = programmed(&desired);
        actual.addresses.retain(|a| a.address != ip("10.100.0.1"));
        assert_eq!(
            plan(&desired, &actual, &Ownership::default()),
            vec![Op::Link(LinkOp::AddAddress {
                interface: "anycast0".into(),
                address: ip("10.100.0.1"),
            })]
        );
    }

    #[test]
    fn foreign_service_address_and_link_are_untouched() {
        let desired = full_desired();
        let mut actual = programmed(&desired);
        actual.links.push(Link {
            index: 7,
            name: "foreign0".into(),
            up: true,
            owned: false,
        });
        actual.addresses.push(Address {
            interface: "foreign0".into(),
            address: ip("192.0.2.1"),
            prefix_len: 32,
            owned: false,
        });
        // An unmarked address on our own interface is foreign too.
        actual.addresses.push(Address {
            interface: "anycast0".into(),
            address: ip("192.0.2.2"),
            prefix_len: 32,
            owned: false,
        });
        actual.ipvs.as_mut().unwrap().insert(
            key("192.0.2.1", 80),
            Service {
                params: ServiceParams {
                    scheduler: "rr".into(),
                    persistence: 0,
                    flags: Default::default(),
                },
                dests: BTreeMap::new(),
                order: vec![],
            },
        );
        assert_eq!(plan(&desired, &actual, &Ownership::default()), vec![]);
        // Even with nothing desired, only our own objects go.
        let ops = plan(&DesiredState::default(), &actual, &Ownership::default());
        assert!(
            ops.iter().all(|op| match op {
                Op::Ipvs(IpvsOp::DelService { key }) => key.address != ip("192.0.2.1"),
                Op::Link(LinkOp::DelAddress { address, .. }) =>
                    !address.to_string().starts_with("192.0.2."),
                Op::Link(LinkOp::DelLink { name }) => name == "anycast0",
                _ => false,
            }),
            "{ops:?}"
        );
    }

    #[test]
    fn removing_a_vip_deletes_its_services_then_its_address_but_keeps_the_link_in_use() {
        let desired = full_desired();
        let actual = programmed(&desired);
        let mut smaller = desired.clone();
        smaller.addresses.retain(|a| a.address != ip("10.100.0.1"));
        smaller.services.retain(|s| s.vip != ip("10.100.0.1"));
        assert_eq!(
            plan(&smaller, &actual, &Ownership::default()),
            vec![
                Op::Ipvs(IpvsOp::DelService {
                    key: key("10.100.0.1", 80)
                }),
                Op::Link(LinkOp::DelAddress {
                    interface: "anycast0".into(),
                    address: ip("10.100.0.1"),
                    prefix_len: 32,
                }),
            ]
        );
    }

    #[test]
    fn cleanup_plan_removes_dests_services_addresses_then_links() {
        let desired = full_desired();
        let actual = programmed(&desired);
        let ops = plan(&DesiredState::default(), &actual, &Ownership::default());
        let names: Vec<String> = ops.iter().map(|o| o.to_string()).collect();
        assert_eq!(
            names,
            vec![
                "delete service 10.100.0.1:80/tcp",
                "delete service [2001:db8::1]:443/tcp",
                "delete address 10.100.0.1/32 dev anycast0",
                "delete address 2001:db8::1/128 dev anycast0",
                "delete link anycast0",
            ]
        );
    }

    #[test]
    fn service_created_by_us_on_a_foreign_address_is_ours_to_remove() {
        let desired = full_desired();
        let mut actual = programmed(&desired);
        actual.addresses.iter_mut().for_each(|a| a.owned = false);
        let k = key("10.100.0.1", 80);
        assert!(
            !plan(&DesiredState::default(), &actual, &Ownership::default())
                .contains(&Op::Ipvs(IpvsOp::DelService { key: k }))
        );
        let owned = Ownership {
            created_services: [k].into(),
            ..Default::default()
        };
        assert!(plan(&DesiredState::default(), &actual, &owned)
            .contains(&Op::Ipvs(IpvsOp::DelService { key: k })));
    }

    #[test]
    fn vip_on_an_existing_foreign_interface_is_added_without_creating_it() {
        let desired = DesiredState {
            sync_daemons: vec![],
            addresses: vec![VipAddress {
                interface: "lo".into(),
                address: ip("10.100.0.9"),
            }],
            routes: vec![],
            services: vec![],
        };
        assert_eq!(
            plan(&desired, &empty_kernel(), &Ownership::default()),
            vec![Op::Link(LinkOp::AddAddress {
                interface: "lo".into(),
                address: ip("10.100.0.9"),
            })]
        );
    }

    #[test]
    fn our_link_found_down_is_brought_up() {
        let desired = full_desired();
        let mut actual = programmed(&desired);
        actual.links[1].up = false;
        assert_eq!(
            plan(&desired, &actual, &Ownership::default()),
            vec![Op::Link(LinkOp::SetLinkUp {
                name: "anycast0".into()
            })]
        );
    }

    #[test]
    fn ipv6_service_and_dest_changes_are_planned_like_ipv4() {
        let desired = full_desired();
        let actual = programmed(&desired);
        let mut changed = desired.clone();
        changed.services[1].destinations.remove(0);
        changed.services[1]
            .destinations
            .push(dest("2001:db8:10::13", 8443, 7));
        assert_eq!(
            plan(&changed, &actual, &Ownership::default()),
            vec![
                Op::Ipvs(IpvsOp::AddDest {
                    service: key("2001:db8::1", 443),
                    dest: dkey("2001:db8:10::13", 8443),
                    params: DestParams::new(7, Forwarding::Masq),
                }),
                Op::Ipvs(IpvsOp::DelDest {
                    service: key("2001:db8::1", 443),
                    dest: dkey("2001:db8:10::11", 8443),
                }),
            ]
        );
    }

    #[test]
    fn without_ipvs_only_links_and_addresses_are_planned() {
        let desired = full_desired();
        let mut actual = empty_kernel();
        actual.ipvs = None;
        let ops = plan(&desired, &actual, &Ownership::default());
        assert_eq!(ops.len(), 3);
        assert!(ops.iter().all(|o| matches!(o, Op::Link(_))));
    }

    /// 50 000 VIPs on one interface, 5 000 of them with a service of 4 backends: the scale
    /// the benchmark found quadratic. The counts pin the plan; run time is the guard: the
    /// quadratic planner and report took minutes here, these take well under a second.
    fn large_desired() -> DesiredState {
        let vip = |i: u32| IpAddr::from([10, 200 + (i >> 16) as u8, (i >> 8) as u8, i as u8]);
        DesiredState {
            sync_daemons: vec![],
            addresses: (0..50_000)
                .map(|i| VipAddress {
                    interface: "anycast0".into(),
                    address: vip(i),
                })
                .collect(),
            routes: vec![],
            services: (0..5_000)
                .map(|i| VirtualService {
                    vip: vip(i * 10),
                    port: 80,
                    protocol: Protocol::Tcp,
                    scheduler: "wrr".into(),
                    persistence: 0,
                    flags: Default::default(),
                    rehash_safe: false,
                    destinations: (0..4)
                        .map(|b| Destination {
                            address: IpAddr::from([10, 0, (i >> 8) as u8, b]),
                            port: 8080 + (i & 0xff) as u16,
                            weight: 1,
                            forwarding: Forwarding::Masq,
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn fifty_thousand_vips_are_planned_and_reported_in_one_sweep() {
        let desired = large_desired();
        let mut kernel = empty_kernel();
        kernel.links.push(Link {
            index: 2,
            name: "anycast0".into(),
            up: true,
            owned: true,
        });
        let ops = plan(&desired, &kernel, &Ownership::default());
        let count = |f: fn(&Op) -> bool| ops.iter().filter(|o| f(o)).count();
        assert_eq!(
            count(|o| matches!(o, Op::Link(LinkOp::AddAddress { .. }))),
            50_000
        );
        assert_eq!(
            count(|o| matches!(o, Op::Ipvs(IpvsOp::AddService { .. }))),
            5_000
        );
        assert_eq!(
            count(|o| matches!(o, Op::Ipvs(IpvsOp::AddDest { .. }))),
            20_000
        );
        assert_eq!(ops.len(), 75_000);

        let outcomes: Vec<(Op, Result<(), String>)> =
            ops.iter().map(|o| (o.clone(), Ok(()))).collect();
        let r = report(&desired, &outcomes, None);
        assert_eq!(r.vips.len(), 50_000);
        assert!(r.vips.values().all(|v| v.is_ok()));

        // The idle pass: a programmed kernel needs nothing, and one weight is one op.
        let mut programmed = programmed(&desired);
        assert_eq!(plan(&desired, &programmed, &Ownership::default()), vec![]);
        let mut changed = desired.clone();
        changed.services[4_321].destinations[3].weight = 0;
        let ops = plan(&changed, &programmed, &Ownership::default());
        assert_eq!(ops.len(), 1);
        assert!(mirror(&mut programmed, &ops.iter().collect::<Vec<_>>()));
        assert_eq!(plan(&changed, &programmed, &Ownership::default()), vec![]);
    }

    // Route-bound VIPs (bind = "route"): the same plan, with local routes for addresses.

    fn route(interface: &str, address: &str) -> state::LocalRoute {
        state::LocalRoute {
            interface: interface.into(),
            address: ip(address),
            metric: state::ROUTE_METRIC,
        }
    }

    #[test]
    fn route_bound_vips_get_their_link_then_local_routes_then_services() {
        let desired = route_desired();
        let ops = plan(&desired, &empty_kernel(), &Ownership::default());
        let names: Vec<String> = ops.iter().map(|o| o.to_string()).collect();
        assert_eq!(
            names[..5],
            [
                "add link anycast0",
                "add local route 10.100.0.1/32 dev anycast0",
                "add local route 2001:db8::1/128 dev anycast0",
                "add service 10.100.0.1:80/tcp scheduler wrr persistence 0",
                "add service [2001:db8::1]:443/tcp scheduler wrr persistence 0",
            ]
        );
        assert!(!ops
            .iter()
            .any(|o| matches!(o, Op::Link(LinkOp::AddAddress { .. }))));
    }

    #[test]
    fn our_local_routes_are_adopted_without_ops() {
        let desired = route_desired();
        assert_eq!(
            plan(&desired, &programmed(&desired), &Ownership::default()),
            vec![]
        );
    }

    #[test]
    fn a_local_route_deleted_by_hand_is_added_back() {
        let desired = route_desired();
        let mut actual = programmed(&desired);
        actual.routes.retain(|r| r.address != ip("2001:db8::1"));
        assert_eq!(
            plan(&desired, &actual, &Ownership::default()),
            vec![Op::Route(RouteOp::Add {
                interface: "anycast0".into(),
                address: ip("2001:db8::1"),
            })]
        );
    }

    #[test]
    fn a_local_route_on_another_interface_is_replaced() {
        let mut desired = route_desired();
        let actual = programmed(&desired);
        desired.routes[0].interface = "lo".into();
        assert_eq!(
            plan(&desired, &actual, &Ownership::default()),
            vec![
                Op::Route(RouteOp::Add {
                    interface: "lo".into(),
                    address: ip("10.100.0.1"),
                }),
                Op::Route(RouteOp::Del {
                    interface: "anycast0".into(),
                    address: ip("10.100.0.1"),
                    metric: state::ROUTE_METRIC,
                }),
            ]
        );
    }

    #[test]
    fn an_address_of_the_vip_does_not_stand_in_for_its_local_route() {
        // Only routes with our marker count: the kernel's local route for an address (which
        // the dump leaves out) or the address itself does not make a route-bound VIP present.
        let desired = route_desired();
        let mut actual = programmed(&desired);
        actual.routes.clear();
        actual.addresses.push(Address {
            interface: "anycast0".into(),
            address: ip("10.100.0.1"),
            prefix_len: 32,
            owned: false,
        });
        let ops = plan(&desired, &actual, &Ownership::default());
        assert_eq!(ops.len(), 2, "{ops:?}");
        assert!(ops
            .iter()
            .all(|o| matches!(o, Op::Route(RouteOp::Add { .. }))));
    }

    #[test]
    fn switching_a_vip_from_address_to_route_adds_the_route_before_removing_the_address() {
        let before = full_desired();
        let actual = programmed(&before);
        let after = route_desired();
        let names: Vec<String> = plan(&after, &actual, &Ownership::default())
            .iter()
            .map(|o| o.to_string())
            .collect();
        assert_eq!(
            names,
            vec![
                "add local route 10.100.0.1/32 dev anycast0",
                "add local route 2001:db8::1/128 dev anycast0",
                "delete address 10.100.0.1/32 dev anycast0",
                "delete address 2001:db8::1/128 dev anycast0",
            ]
        );
        // And back: the address comes before the route goes.
        let names: Vec<String> = plan(&before, &programmed(&after), &Ownership::default())
            .iter()
            .map(|o| o.to_string())
            .collect();
        assert_eq!(
            names,
            vec![
                "add address 10.100.0.1 dev anycast0",
                "add address 2001:db8::1 dev anycast0",
                "delete local route 10.100.0.1/32 dev anycast0 metric 1024",
                "delete local route 2001:db8::1/128 dev anycast0 metric 1024",
            ]
        );
    }

    #[test]
    fn cleanup_removes_services_then_our_local_routes_then_the_link() {
        let desired = route_desired();
        let mut actual = programmed(&desired);
        // A route of ours with an unusual metric (say, from another version) is still ours.
        let mut odd = route("lo", "10.100.0.7");
        odd.metric = 7;
        actual.routes.push(odd);
        let names: Vec<String> = plan(&DesiredState::default(), &actual, &Ownership::default())
            .iter()
            .map(|o| o.to_string())
            .collect();
        assert_eq!(
            names,
            vec![
                "delete service 10.100.0.1:80/tcp",
                "delete service [2001:db8::1]:443/tcp",
                "delete local route 10.100.0.1/32 dev anycast0 metric 1024",
                "delete local route 2001:db8::1/128 dev anycast0 metric 1024",
                "delete local route 10.100.0.7/32 dev lo metric 7",
                "delete link anycast0",
            ]
        );
    }

    #[test]
    fn a_route_bound_vip_on_lo_needs_no_link() {
        let mut desired = route_desired();
        desired
            .routes
            .iter_mut()
            .for_each(|r| r.interface = "lo".into());
        desired.services.clear();
        assert_eq!(
            plan(&desired, &empty_kernel(), &Ownership::default()),
            vec![
                Op::Route(RouteOp::Add {
                    interface: "lo".into(),
                    address: ip("10.100.0.1"),
                }),
                Op::Route(RouteOp::Add {
                    interface: "lo".into(),
                    address: ip("2001:db8::1"),
                }),
            ]
        );
    }

    #[test]
    fn fifty_thousand_route_bound_vips_are_planned_mirrored_and_adopted() {
        let mut desired = large_desired();
        desired.routes = std::mem::take(&mut desired.addresses);
        let mut view = empty_kernel();
        let ops = plan(&desired, &view, &Ownership::default());
        let routes = ops
            .iter()
            .filter(|o| matches!(o, Op::Route(RouteOp::Add { .. })))
            .count();
        assert_eq!(routes, 50_000);
        assert!(mirror(&mut view, &ops.iter().collect::<Vec<_>>()));
        assert_eq!(plan(&desired, &view, &Ownership::default()), vec![]);
        let outcomes: Vec<(Op, Result<(), String>)> =
            ops.iter().map(|o| (o.clone(), Ok(()))).collect();
        let r = report(&desired, &outcomes, None);
        assert_eq!(r.vips.len(), 50_000);
    }

    #[test]
    fn a_vip_whose_new_binding_failed_keeps_the_old_one() {
        let ops = plan(
            &route_desired(),
            &programmed(&full_desired()),
            &Ownership::default(),
        );
        let mut failed = HashSet::new();
        // Executed in order: the route adds come first; say the v4 one fails.
        for op in &ops {
            if binding_added(op) == Some(ip("10.100.0.1")) {
                failed.insert(ip("10.100.0.1"));
            }
        }
        let held: Vec<String> = ops.iter().filter_map(|op| held_back(op, &failed)).collect();
        assert_eq!(
            held,
            vec![
                "delete address 10.100.0.1/32 dev anycast0 held back: 10.100.0.1 keeps it until \
                 its new binding is added"
            ]
        );
        // A VIP simply removed from the config has no failed add: its removal goes ahead.
        let removal = Op::Route(RouteOp::Del {
            interface: "lo".into(),
            address: ip("10.100.0.9"),
            metric: state::ROUTE_METRIC,
        });
        assert_eq!(held_back(&removal, &failed), None);
    }
}
