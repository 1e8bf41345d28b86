//! The per-VIP outcome of a pass, for the node model: which VIPs are programmed, and why not.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use super::{IpvsOp, LinkOp, Op, RouteOp};
use crate::dataplane::{DataplaneReport, DesiredState};

/// Why a VIP with services cannot be served when the kernel has no IPVS.
pub const IPVS_UNAVAILABLE: &str =
    "IPVS is not available in this kernel: generic netlink family IPVS not found";

/// The per-VIP outcome of one pass: `Ok` unless an op concerning the VIP failed (its first
/// failure is the reason), or it has services and IPVS is missing (`ipvs_error`).
pub fn report(
    desired: &DesiredState,
    outcomes: &[(Op, Result<(), String>)],
    ipvs_error: Option<&str>,
) -> DataplaneReport {
    let mut vips: BTreeMap<IpAddr, Result<(), String>> = BTreeMap::new();
    // Which VIPs a link op concerns: those on that interface.
    let mut on_interface: HashMap<&str, BTreeSet<IpAddr>> = HashMap::new();
    for a in desired.addresses.iter().chain(&desired.routes) {
        vips.insert(a.address, Ok(()));
        on_interface
            .entry(a.interface.as_str())
            .or_default()
            .insert(a.address);
    }
    for s in &desired.services {
        vips.insert(s.vip, Ok(()));
    }
    let mut blame = |vip: &IpAddr, e: &String| {
        // Outcomes come in execution order: the first failure stays the reason.
        if let Some(verdict @ Ok(())) = vips.get_mut(vip) {
            *verdict = Err(e.clone());
        }
    };
    for (op, result) in outcomes {
        let Err(e) = result else { continue };
        match op {
            Op::Link(LinkOp::AddLink { name }) | Op::Link(LinkOp::SetLinkUp { name }) => {
                for vip in on_interface.get(name.as_str()).into_iter().flatten() {
                    blame(vip, e);
                }
            }
            Op::Link(LinkOp::AddAddress { address, .. })
            | Op::Route(RouteOp::Add { address, .. }) => blame(address, e),
            Op::Ipvs(IpvsOp::AddService { key, .. })
            | Op::Ipvs(IpvsOp::EditService { key, .. }) => blame(&key.address, e),
            Op::Ipvs(IpvsOp::AddDest { service, .. })
            | Op::Ipvs(IpvsOp::EditDest { service, .. })
            | Op::Ipvs(IpvsOp::DelDest { service, .. }) => blame(&service.address, e),
            // A sysctl a rehash-safe service needs does not stop the VIP serving new flows
            // (only moved ones): logged by the pass, not a reason to withdraw.
            Op::Sysctl(_) => {}
            // Connection sync only matters to flows that move between nodes, like the
            // sysctls: logged, not a reason to withdraw.
            Op::Ipvs(IpvsOp::StartSync(_)) | Op::Ipvs(IpvsOp::StopSync { .. }) => {}
            // Removals concern what is no longer desired.
            Op::Ipvs(IpvsOp::DelService { .. })
            | Op::Link(LinkOp::DelAddress { .. })
            | Op::Route(RouteOp::Del { .. })
            | Op::Link(LinkOp::DelLink { .. }) => {}
        }
    }
    if let Some(e) = ipvs_error {
        for s in &desired.services {
            if let Some(verdict @ Ok(())) = vips.get_mut(&s.vip) {
                *verdict = Err(e.to_string());
            }
        }
    }
    DataplaneReport {
        vips,
        tables: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::config::Forwarding;
    use crate::dataplane::state::{DestParams, ServiceParams};
    use crate::dataplane::VipAddress;

    #[test]
    fn report_blames_a_vip_for_its_first_failed_op() {
        let desired = full_desired();
        let outcomes = vec![
            (
                Op::Ipvs(IpvsOp::AddService {
                    key: key("10.100.0.1", 80),
                    params: ServiceParams {
                        scheduler: "mh".into(),
                        persistence: 0,
                        flags: Default::default(),
                    },
                }),
                Err("first".to_string()),
            ),
            (
                Op::Ipvs(IpvsOp::AddDest {
                    service: key("10.100.0.1", 80),
                    dest: dkey("10.0.10.11", 8080),
                    params: DestParams::new(1, Forwarding::Masq),
                }),
                Err("second".to_string()),
            ),
        ];
        let r = report(&desired, &outcomes, None);
        assert_eq!(r.vips[&ip("10.100.0.1")], Err("first".to_string()));
        assert_eq!(r.vips[&ip("2001:db8::1")], Ok(()));
    }

    #[test]
    fn report_blames_every_vip_on_an_interface_that_could_not_be_created() {
        let desired = full_desired();
        let outcomes = vec![(
            Op::Link(LinkOp::AddLink {
                name: "anycast0".into(),
            }),
            Err("no dummy".to_string()),
        )];
        let r = report(&desired, &outcomes, None);
        assert!(r.vips.values().all(|v| v == &Err("no dummy".to_string())));
    }

    #[test]
    fn report_blames_a_route_bound_vip_for_its_route_and_its_interface() {
        let desired = route_desired();
        let outcomes = vec![(
            Op::Route(RouteOp::Add {
                interface: "anycast0".into(),
                address: ip("2001:db8::1"),
            }),
            Err("no route".to_string()),
        )];
        let r = report(&desired, &outcomes, None);
        assert_eq!(r.vips[&ip("2001:db8::1")], Err("no route".to_string()));
        assert_eq!(r.vips[&ip("10.100.0.1")], Ok(()));
        let outcomes = vec![(
            Op::Link(LinkOp::AddLink {
                name: "anycast0".into(),
            }),
            Err("no dummy".to_string()),
        )];
        let r = report(&desired, &outcomes, None);
        assert!(r.vips.values().all(|v| v == &Err("no dummy".to_string())));
    }

    #[test]
    fn report_without_ipvs_fails_vips_with_services_only() {
        let mut desired = full_desired();
        desired.addresses.push(VipAddress {
            interface: "anycast0".into(),
            address: ip("10.100.0.53"),
        });
        let r = report(&desired, &[], Some(IPVS_UNAVAILABLE));
        assert_eq!(r.vips[&ip("10.100.0.1")], Err(IPVS_UNAVAILABLE.to_string()));
        assert_eq!(r.vips[&ip("10.100.0.53")], Ok(()));
    }
}
