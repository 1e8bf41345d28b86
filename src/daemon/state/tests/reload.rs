use super::*;

#[test]
fn a_backend_added_by_reload_starts_at_unhealthy_weight() {
    let mut state = NodeState::new(&web());
    programmed(&mut state);
    let mut cfg = web();
    cfg.vips[0].services[0]
        .backends
        .push(backend("10.0.10.13", 70));
    let _ = state.reload(&cfg);
    // Unchecked and new: it gets no traffic until its first check passes.
    assert_eq!(weights(&state), vec![100, 50, 0]);
}

#[test]
fn reload_carries_health_and_drain_over_for_targets_that_still_exist() {
    let mut state = NodeState::new(&web());
    programmed(&mut state);
    let now = Instant::now();
    let _ = feed(&mut state, "10.0.10.11", true, now);
    let _ = state.set_drained(Some(vip_addr()), Some(asked()));
    let kept = id_of(&state, "10.0.10.11");

    let mut cfg = web();
    cfg.vips[0].services[0].backends[1] = backend("10.0.10.13", 100);
    cfg.vips[0].services[0].backends[0].check.rise = 5;
    cfg.vips.push(vip("10.100.0.2", vec![]));
    let c = state.reload(&cfg);
    assert!(c.dataplane, "a new address and a new backend");

    assert_eq!(id_of(&state, "10.0.10.11"), kept);
    let new = id_of(&state, "10.0.10.13");
    assert_ne!(new, kept);
    assert!(!state
        .targets()
        .iter()
        .any(|t| t.address.to_string() == "10.0.10.12"));
    let status = state.vip_status();
    assert_eq!(status[0].services[0].backends[0].state, "healthy");
    assert_eq!(status[0].services[0].backends[1].state, "unknown");
    assert!(status[0].drained);
    assert_eq!(status[1].reason, "dataplane: not programmed yet");

    // An observation for a target removed by the reload is ignored.
    let stale = TargetId(1);
    assert!(stale != kept && stale != new);
    assert_eq!(state.observe(&obs(stale, false), now), Changes::default());

    // Undrain: the carried-over healthy backend announces at once.
    let c = state.set_drained(None, None).unwrap();
    assert!(c.announcements);
    assert!(state.route_set().contains_key(&vip_addr()));
}

#[test]
fn reload_that_moves_a_vip_to_another_interface_waits_for_the_dataplane() {
    let mut state = NodeState::new(&web());
    programmed(&mut state);
    let _ = feed(&mut state, "10.0.10.11", true, Instant::now());
    let mut cfg = web();
    cfg.vips[0].interface = "lo".into();
    let c = state.reload(&cfg);
    assert!(c.announcements && c.dataplane);
    assert_eq!(
        c.log,
        vec!["VIP 10.100.0.1 withdrawn: dataplane: not programmed yet"]
    );
    programmed(&mut state);
    assert_eq!(state.route_set().len(), 1);
}

/// `bind = "address"` → `"route"`: the VIP goes from the desired addresses to the desired local
/// routes and stays announced (the dataplane adds the route before it removes the address).
#[test]
fn reload_that_changes_a_vips_binding_moves_it_to_the_routes_and_keeps_it_announced() {
    let mut state = NodeState::new(&web());
    programmed(&mut state);
    let _ = feed(&mut state, "10.0.10.11", true, Instant::now());
    assert_eq!(state.desired_dataplane().addresses.len(), 1);
    let mut cfg = web();
    cfg.vips[0].bind = VipBind::Route;
    let c = state.reload(&cfg);
    assert!(c.dataplane && !c.announcements, "{c:?}");
    assert!(c.log.is_empty(), "{:?}", c.log);
    let desired = state.desired_dataplane();
    assert!(desired.addresses.is_empty());
    assert_eq!(desired.routes.len(), 1);
    assert_eq!(
        desired.routes[0].address,
        "10.100.0.1".parse::<IpAddr>().unwrap()
    );
    assert_eq!(desired.services.len(), 1, "the services stay");
    assert_eq!(state.route_set().len(), 1);
}

#[test]
fn reload_of_an_unchanged_config_changes_nothing() {
    let mut state = NodeState::new(&web());
    programmed(&mut state);
    let _ = feed(&mut state, "10.0.10.11", true, Instant::now());
    assert_eq!(state.reload(&web()), Changes::default());
}

#[test]
fn reload_that_changes_route_attributes_reports_announcements() {
    let mut state = NodeState::new(&web());
    programmed(&mut state);
    let _ = feed(&mut state, "10.0.10.11", true, Instant::now());
    let mut cfg = web();
    cfg.vips[0].med = Some(20);
    let c = state.reload(&cfg);
    assert!(c.announcements && !c.dataplane);
    assert_eq!(state.route_set()[&vip_addr()].med, Some(20));
}
