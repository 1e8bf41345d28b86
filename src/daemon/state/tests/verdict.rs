use super::*;

#[test]
fn initial_results_are_complete_once_every_target_and_vip_has_reported() {
    let mut state = NodeState::new(&web());
    let now = Instant::now();
    assert!(!state.initial_results_complete());
    let _ = feed(&mut state, "10.0.10.11", true, now);
    // A failing first result counts: it is a result.
    let _ = feed(&mut state, "10.0.10.12", false, now);
    assert!(
        !state.initial_results_complete(),
        "the dataplane has not reported yet"
    );
    programmed(&mut state);
    assert!(state.initial_results_complete());
    // interval 2s + timeout 1s from check()
    assert_eq!(
        state.first_results_deadline(),
        check().interval + check().timeout
    );
}

#[test]
fn targets_are_one_per_backend_and_vip_check_with_distinct_ids() {
    let mut cfg = web();
    cfg.vips[0].check = Some(Box::new(VipCheck {
        address: vip_addr(),
        port: 53,
        check: check(),
    }));
    let state = NodeState::new(&cfg);
    let targets = state.targets();
    assert_eq!(targets.len(), 3);
    let ids: BTreeSet<TargetId> = targets.iter().map(|t| t.id).collect();
    assert_eq!(ids.len(), 3);
    assert!(targets
        .iter()
        .any(|t| t.address == vip_addr() && t.port == 53));
    assert_eq!(
        state.check_label(id_of(&state, "10.0.10.11")).as_deref(),
        Some("web")
    );
}

#[test]
fn nothing_is_announced_before_the_first_check() {
    let mut state = NodeState::new(&web());
    programmed(&mut state);
    assert!(state.route_set().is_empty());
    let status = state.vip_status();
    assert_eq!(status[0].reason, "waiting for first check");
    assert_eq!(status[0].services[0].backends[0].state, "unknown");
    // Backends configured at start keep their weight until their first result (a restarted
    // node keeps serving what routers still send it); the VIP is not announced meanwhile.
    assert_eq!(weights(&state), vec![100, 50]);
}

#[test]
fn first_healthy_backend_announces_with_the_vip_attributes() {
    let mut state = NodeState::new(&web());
    programmed(&mut state);
    let c = feed(&mut state, "10.0.10.11", true, Instant::now());
    assert!(c.announcements);
    assert!(!c.dataplane, "its weight was already the configured one");
    assert_eq!(
        c.log,
        vec![
            "service web backend 10.0.10.11:8080: healthy: HTTP 200 (first check)",
            "VIP 10.100.0.1 announced"
        ]
    );
    let routes = state.route_set();
    let attrs = &routes[&vip_addr()];
    assert_eq!(attrs.med, Some(10));
    assert_eq!(attrs.as_path_prepend, 1);
    assert_eq!(attrs.communities, vec![Community(65000 << 16 | 100)]);
    assert_eq!(state.vip_status()[0].reason, "healthy");
    assert_eq!(weights(&state), vec![100, 50]);
}

#[test]
fn min_healthy_counts_healthy_backends() {
    let mut cfg = web();
    cfg.vips[0].services[0].min_healthy = 2;
    let mut state = NodeState::new(&cfg);
    programmed(&mut state);
    let now = Instant::now();
    let _ = feed(&mut state, "10.0.10.11", true, now);
    let _ = feed(&mut state, "10.0.10.12", false, now);
    assert!(state.route_set().is_empty());
    assert_eq!(
        state.vip_status()[0].reason,
        "service web: 1 of 2 backends healthy (min_healthy 2)"
    );
    let _ = feed(&mut state, "10.0.10.12", true, now);
    let c = feed(&mut state, "10.0.10.12", true, now);
    assert!(c.announcements);
    assert!(state.vip_status()[0].announced);
}

#[test]
fn fall_consecutive_failures_withdraw_and_set_unhealthy_weight() {
    let mut cfg = web();
    cfg.vips[0].services[0].unhealthy_weight = 1;
    let mut state = NodeState::new(&cfg);
    programmed(&mut state);
    let now = Instant::now();
    let _ = feed(&mut state, "10.0.10.11", true, now);
    let _ = feed(&mut state, "10.0.10.12", false, now);
    assert_eq!(
        feed(&mut state, "10.0.10.11", false, now),
        Changes::default()
    );
    let c = feed(&mut state, "10.0.10.11", false, now);
    assert!(c.announcements && c.dataplane);
    assert_eq!(
        c.log,
        vec![
            "service web backend 10.0.10.11:8080: unhealthy: HTTP 503 after 2 failures",
            "VIP 10.100.0.1 withdrawn: service web: 0 of 2 backends healthy (min_healthy 1)"
        ]
    );
    assert_eq!(weights(&state), vec![1, 1]);
    // Withdrawn, but the address and the IPVS service stay programmed.
    let desired = state.desired_dataplane();
    assert_eq!(desired.addresses.len(), 1);
    assert_eq!(desired.services.len(), 1);
}

#[test]
fn policy_all_needs_every_service_and_any_needs_one() {
    let two = |policy| {
        let mut v = vip(
            "10.100.0.1",
            vec![
                service("web", 80, vec![backend("10.0.10.11", 100)]),
                service("tls", 443, vec![backend("10.0.10.12", 100)]),
            ],
        );
        v.announce = policy;
        config(vec![v])
    };
    for (policy, announced) in [(AnnouncePolicy::All, false), (AnnouncePolicy::Any, true)] {
        let mut state = NodeState::new(&two(policy));
        programmed(&mut state);
        let now = Instant::now();
        let _ = feed(&mut state, "10.0.10.11", true, now);
        let _ = feed(&mut state, "10.0.10.12", false, now);
        assert_eq!(state.vip_status()[0].announced, announced, "{policy:?}");
        let _ = feed(&mut state, "10.0.10.11", false, now);
        let _ = feed(&mut state, "10.0.10.11", false, now);
        assert!(state.route_set().is_empty(), "{policy:?}");
    }
    let mut state = NodeState::new(&two(AnnouncePolicy::Any));
    programmed(&mut state);
    let now = Instant::now();
    let _ = feed(&mut state, "10.0.10.11", false, now);
    let _ = feed(&mut state, "10.0.10.12", false, now);
    assert_eq!(
        state.vip_status()[0].reason,
        "service web: 0 of 1 backends healthy (min_healthy 1); \
         service tls: 0 of 1 backends healthy (min_healthy 1)"
    );
}

#[test]
fn vip_check_is_anded_with_the_services() {
    let mut cfg = web();
    cfg.vips[0].check = Some(Box::new(VipCheck {
        address: vip_addr(),
        port: 80,
        check: check(),
    }));
    let mut state = NodeState::new(&cfg);
    programmed(&mut state);
    let now = Instant::now();
    let _ = feed(&mut state, "10.0.10.11", true, now);
    assert_eq!(state.vip_status()[0].reason, "waiting for first check");
    let _ = feed(&mut state, "10.100.0.1", false, now);
    assert_eq!(state.vip_status()[0].reason, "VIP check: HTTP 503");
    assert_eq!(
        feed(&mut state, "10.100.0.1", true, now),
        Changes::default()
    );
    let c = feed(&mut state, "10.100.0.1", true, now);
    assert!(c.announcements);
    assert_eq!(
        c.log,
        vec![
            "VIP 10.100.0.1 check: healthy: HTTP 200 after 2 passes",
            "VIP 10.100.0.1 announced"
        ]
    );
    assert_eq!(state.route_set().len(), 1);
}

#[test]
fn a_vip_with_only_a_check_needs_no_ipvs() {
    let mut v = vip("10.53.0.1", vec![]);
    v.check = Some(Box::new(VipCheck {
        address: "10.53.0.1".parse().unwrap(),
        port: 53,
        check: check(),
    }));
    let mut state = NodeState::new(&config(vec![v]));
    programmed(&mut state);
    assert!(state.route_set().is_empty());
    let _ = feed(&mut state, "10.53.0.1", true, Instant::now());
    assert_eq!(state.route_set().len(), 1);
    assert!(state.desired_dataplane().services.is_empty());
    assert_eq!(state.desired_dataplane().addresses.len(), 1);
}

#[test]
fn a_vip_without_services_or_check_is_always_healthy() {
    let mut state = NodeState::new(&config(vec![vip("10.53.0.1", vec![])]));
    assert_eq!(
        state.vip_status()[0].reason,
        "dataplane: not programmed yet"
    );
    programmed(&mut state);
    assert_eq!(state.route_set().len(), 1);
    assert!(state.targets().is_empty());
}

#[test]
fn a_dataplane_failure_withdraws_and_says_why() {
    let mut state = NodeState::new(&web());
    programmed(&mut state);
    let _ = feed(&mut state, "10.0.10.11", true, Instant::now());
    let mut report = DataplaneReport::default();
    report
        .vips
        .insert(vip_addr(), Err("IPVS refused the service: EINVAL".into()));
    let c = state.set_dataplane(report);
    assert!(c.announcements);
    assert_eq!(
        state.vip_status()[0].reason,
        "dataplane: IPVS refused the service: EINVAL"
    );
    assert!(state.route_set().is_empty());
    programmed(&mut state);
    assert_eq!(state.route_set().len(), 1);
}
