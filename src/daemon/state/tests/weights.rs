use super::*;

#[test]
fn a_failing_first_result_drops_a_backend_to_unhealthy_weight() {
    let mut state = NodeState::new(&web());
    programmed(&mut state);
    let c = feed(&mut state, "10.0.10.12", false, Instant::now());
    assert!(c.dataplane);
    assert_eq!(weights(&state), vec![100, 0]);
}

#[test]
fn a_second_backend_changes_weights_but_not_announcements() {
    let mut state = NodeState::new(&web());
    programmed(&mut state);
    let now = Instant::now();
    let _ = feed(&mut state, "10.0.10.11", true, now);
    let c = feed(&mut state, "10.0.10.12", false, now);
    assert!(!c.announcements);
    assert!(c.dataplane);
    assert_eq!(c.log.len(), 1);
    assert_eq!(weights(&state), vec![100, 0]);
}

#[test]
fn slow_start_ramps_a_recovered_backend() {
    let mut cfg = web();
    cfg.vips[0].services[0].slow_start = Duration::from_secs(10);
    let mut state = NodeState::new(&cfg);
    programmed(&mut state);
    let t0 = Instant::now();
    // The first result sets the state directly, without a ramp.
    let _ = feed(&mut state, "10.0.10.11", true, t0);
    assert_eq!(weights(&state)[0], 100);
    let _ = feed(&mut state, "10.0.10.11", false, t0);
    let _ = feed(&mut state, "10.0.10.11", false, t0);
    assert_eq!(weights(&state)[0], 0);
    let _ = feed(&mut state, "10.0.10.11", true, t0);
    let c = feed(&mut state, "10.0.10.11", true, t0);
    assert!(c.dataplane);
    assert_eq!(weights(&state)[0], 1, "starts at 1, not 0");
    assert!(state.ramping());
    let c = state.tick(t0 + Duration::from_secs(5));
    assert!(c.dataplane && !c.announcements);
    assert_eq!(weights(&state)[0], 50);
    assert_eq!(
        state.vip_status()[0].services[0].backends[0].effective_weight,
        50
    );
    assert_eq!(state.tick(t0 + Duration::from_secs(5)), Changes::default());
    let _ = state.tick(t0 + Duration::from_secs(11));
    assert_eq!(weights(&state)[0], 100);
    assert!(!state.ramping());
}
