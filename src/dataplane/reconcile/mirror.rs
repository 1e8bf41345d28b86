//! The in-memory picture of what the kernel holds, carried from one pass to the next: the view
//! a pass read, updated with the ops the kernel acknowledged.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use super::{host_prefix, IpvsOp, LinkOp, Op, RouteOp};
use crate::dataplane::state::{
    ActualState, Address, Link, LocalRoute, Service, ServiceKey, ROUTE_METRIC,
};

/// Updates `actual` with ops the kernel acknowledged, so that it is again what a dump would
/// read, as far as [`super::plan()`] looks. Returns false when an op cannot be mirrored (an IPVS op on
/// a service the view lacks, or no IPVS in the view); the caller then drops the view and
/// dumps on the next pass.
///
/// A link added here has index 0: the kernel picks the real one, and nothing reads the index
/// of a view (the planner goes by name; address dumps use freshly dumped links).
pub fn mirror(actual: &mut ActualState, done: &[&Op]) -> bool {
    let mut exact = true;
    let mut deleted: HashSet<(&str, IpAddr)> = HashSet::new();
    let mut deleted_routes: HashSet<(&str, IpAddr)> = HashSet::new();
    for op in done {
        let op = match op {
            Op::Link(op) => op,
            Op::Sysctl(op) => {
                actual.ipvs_sysctls.insert(op.name, op.value);
                continue;
            }
            Op::Route(RouteOp::Add { interface, address }) => {
                actual.routes.push(LocalRoute {
                    interface: interface.clone(),
                    address: *address,
                    metric: ROUTE_METRIC,
                });
                continue;
            }
            Op::Route(RouteOp::Del {
                interface, address, ..
            }) => {
                deleted_routes.insert((interface.as_str(), *address));
                continue;
            }
            Op::Ipvs(IpvsOp::StartSync(d)) => {
                actual.sync_daemons.retain(|a| a.master != d.master);
                actual.sync_daemons.push(d.clone());
                continue;
            }
            Op::Ipvs(IpvsOp::StopSync { master }) => {
                actual.sync_daemons.retain(|a| a.master != *master);
                continue;
            }
            Op::Ipvs(op) => {
                match &mut actual.ipvs {
                    Some(ipvs) => exact &= mirror_ipvs(ipvs, op),
                    None => exact = false,
                }
                continue;
            }
        };
        match op {
            LinkOp::AddLink { name } => actual.links.push(Link {
                index: 0,
                name: name.clone(),
                up: true,
                owned: true,
            }),
            LinkOp::SetLinkUp { name } => {
                for l in actual.links.iter_mut().filter(|l| l.name == *name) {
                    l.up = true;
                }
            }
            LinkOp::DelLink { name } => {
                actual.links.retain(|l| l.name != *name);
                // The kernel deletes an interface's addresses and routes with it.
                actual.addresses.retain(|a| a.interface != *name);
                actual.routes.retain(|r| r.interface != *name);
            }
            LinkOp::AddAddress { interface, address } => actual.addresses.push(Address {
                interface: interface.clone(),
                address: *address,
                prefix_len: host_prefix(address),
                owned: true,
            }),
            // Collected and removed in one sweep below: one `retain` per op would be quadratic.
            LinkOp::DelAddress {
                interface, address, ..
            } => {
                deleted.insert((interface.as_str(), *address));
            }
        }
    }
    if !deleted.is_empty() {
        actual
            .addresses
            .retain(|a| !deleted.contains(&(a.interface.as_str(), a.address)));
    }
    if !deleted_routes.is_empty() {
        actual
            .routes
            .retain(|r| !deleted_routes.contains(&(r.interface.as_str(), r.address)));
    }
    exact
}

fn mirror_ipvs(ipvs: &mut BTreeMap<ServiceKey, Service>, op: &IpvsOp) -> bool {
    match op {
        IpvsOp::AddService { key, params } => {
            ipvs.insert(
                *key,
                Service {
                    params: params.clone(),
                    dests: BTreeMap::new(),
                    order: Vec::new(),
                },
            );
        }
        IpvsOp::EditService { key, params } => match ipvs.get_mut(key) {
            Some(s) => s.params = params.clone(),
            None => return false,
        },
        IpvsOp::DelService { key } => {
            ipvs.remove(key);
        }
        // Mirrored by the caller: they are not about services.
        IpvsOp::StartSync(_) | IpvsOp::StopSync { .. } => {}
        IpvsOp::AddDest {
            service,
            dest,
            params,
        } => match ipvs.get_mut(service) {
            Some(s) => {
                // The kernel adds at the head of the list (Service::order).
                if s.dests.insert(*dest, *params).is_none() {
                    s.order.insert(0, *dest);
                }
            }
            None => return false,
        },
        IpvsOp::EditDest {
            service,
            dest,
            params,
        } => match ipvs.get_mut(service) {
            Some(s) if s.dests.contains_key(dest) => {
                s.dests.insert(*dest, *params);
            }
            _ => return false,
        },
        IpvsOp::DelDest { service, dest } => match ipvs.get_mut(service) {
            Some(s) => {
                s.dests.remove(dest);
                s.order.retain(|d| d != dest);
            }
            None => return false,
        },
    }
    true
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::{plan, Ownership};
    use super::*;
    use crate::config::Forwarding;
    use crate::dataplane::state::{ActualState, DestParams};
    use crate::dataplane::{DesiredState, VipAddress};
    use std::collections::BTreeSet;

    /// The cached view after a pass must be what a dump would read, or the next pass on it
    /// plans wrong: replanning on the mirrored state finds nothing left to do.
    #[test]
    fn mirrored_ops_leave_the_view_equal_to_the_programmed_kernel() {
        let before = full_desired();
        let mut after = full_desired();
        after.services[0].destinations[1].weight = 7;
        after.services[0].destinations.remove(0);
        after.services[0]
            .destinations
            .push(dest("10.0.10.13", 8080, 3));
        after.services[1].scheduler = "rr".into();
        after.addresses.remove(1);
        after.services.remove(1);
        after.addresses.push(VipAddress {
            interface: "anycast0".into(),
            address: ip("10.100.0.2"),
        });
        after
            .services
            .push(service("10.100.0.2", 53, vec![dest("10.0.20.1", 53, 1)]));

        let mut view = programmed(&before);
        let ops = plan(&after, &view, &Ownership::default());
        assert!(mirror(&mut view, &ops.iter().collect::<Vec<_>>()));
        assert_eq!(plan(&after, &view, &Ownership::default()), vec![]);
        let expected = programmed(&after);
        // Both are wrr services: their lists keep the order of their history (.13, added
        // last, is listed first), which only mh's planning corrects. The rest must be equal.
        let unordered = |a: &ActualState| {
            let mut ipvs = a.ipvs.clone().unwrap();
            ipvs.values_mut().for_each(|s| s.order.sort());
            ipvs
        };
        assert_eq!(unordered(&view), unordered(&expected));
        assert_eq!(
            view.ipvs.as_ref().unwrap()[&key("10.100.0.1", 80)].order,
            [dkey("10.0.10.13", 8080), dkey("10.0.10.12", 8080)]
        );
        let addrs = |a: &ActualState| -> BTreeSet<(String, IpAddr, u8)> {
            a.addresses
                .iter()
                .map(|a| (a.interface.clone(), a.address, a.prefix_len))
                .collect()
        };
        assert_eq!(addrs(&view), addrs(&expected));
    }

    #[test]
    fn a_first_pass_from_an_empty_kernel_is_mirrored_links_included() {
        let desired = full_desired();
        let mut view = empty_kernel();
        let ops = plan(&desired, &view, &Ownership::default());
        assert!(matches!(ops[0], Op::Link(LinkOp::AddLink { .. })));
        assert!(mirror(&mut view, &ops.iter().collect::<Vec<_>>()));
        assert_eq!(plan(&desired, &view, &Ownership::default()), vec![]);
        // And the cleanup plan on that view removes the link it added, then nothing is left.
        let cleanup = plan(&DesiredState::default(), &view, &Ownership::default());
        assert!(matches!(
            cleanup.last(),
            Some(Op::Link(LinkOp::DelLink { .. }))
        ));
        assert!(mirror(&mut view, &cleanup.iter().collect::<Vec<_>>()));
        assert_eq!(view, empty_kernel());
    }

    #[test]
    fn a_dest_op_on_a_service_missing_from_the_view_cannot_be_mirrored() {
        let mut view = empty_kernel();
        let op = Op::Ipvs(IpvsOp::EditDest {
            service: key("10.100.0.1", 80),
            dest: dkey("10.0.10.11", 8080),
            params: DestParams::new(1, Forwarding::Masq),
        });
        assert!(!mirror(&mut view, &[&op]));
    }
}
