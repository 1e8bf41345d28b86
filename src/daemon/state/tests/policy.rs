//! Failure policies: `on_partial = "degrade"` and `last_resort`.

use super::*;

/// [`web`] with a failure policy that prepends twice and tags 65000:666 when degraded.
fn web_with(degrade_on_partial: bool, last_resort: bool) -> Config {
    let mut cfg = web();
    cfg.vips[0].failure = FailurePolicy {
        degrade_on_partial,
        last_resort,
        degrade: Degrade {
            med: Some(500),
            prepend: 2,
            communities: vec![Community(65000 << 16 | 666)],
        },
    };
    cfg
}

/// Feeds `n` results for the backend at `address`.
fn feed_n(state: &mut NodeState, address: &str, ok: bool, n: usize) -> Changes {
    let mut last = Changes::default();
    for _ in 0..n {
        let c = feed(state, address, ok, Instant::now());
        last.announcements |= c.announcements;
        last.log.extend(c.log);
    }
    last
}

fn healthy_start(cfg: &Config) -> NodeState {
    let mut state = NodeState::new(cfg);
    programmed(&mut state);
    let _ = feed_n(&mut state, "10.0.10.11", true, 1);
    let _ = feed_n(&mut state, "10.0.10.12", true, 1);
    state
}

#[test]
fn on_partial_degrade_announces_degraded_while_min_healthy_remain_then_withdraws() {
    let mut state = healthy_start(&web_with(true, false));
    let attrs = &state.route_set()[&vip_addr()];
    assert_eq!((attrs.med, attrs.as_path_prepend), (Some(10), 1), "healthy");
    assert!(!state.vip_status()[0].degraded);

    let c = feed_n(&mut state, "10.0.10.12", false, 2);
    assert!(c.announcements, "the route's attributes change");
    let line = "VIP 10.100.0.1 announced degraded: on_partial = \"degrade\": service web: \
                1 of 2 backends healthy (min_healthy 1)";
    assert!(c.log.iter().any(|l| l == line), "{:?}", c.log);
    let attrs = &state.route_set()[&vip_addr()];
    assert_eq!(attrs.med, Some(500), "degrade_med replaces the MED");
    assert_eq!(
        attrs.as_path_prepend, 3,
        "degrade_prepend adds to as_path_prepend"
    );
    assert_eq!(
        attrs.communities,
        vec![Community(65000 << 16 | 100), Community(65000 << 16 | 666)]
    );
    let st = &state.vip_status()[0];
    assert!(st.announced && st.degraded);
    assert!(
        st.reason
            .starts_with("degraded (on_partial = \"degrade\": service web: 1 of 2"),
        "{}",
        st.reason
    );

    let c = feed_n(&mut state, "10.0.10.11", false, 2);
    assert!(c.announcements);
    assert!(state.route_set().is_empty(), "below min_healthy: withdrawn");
    let st = &state.vip_status()[0];
    assert!(!st.announced && !st.degraded);
    assert_eq!(
        st.reason,
        "service web: 0 of 2 backends healthy (min_healthy 1)"
    );

    let _ = feed_n(&mut state, "10.0.10.11", true, 2);
    let _ = feed_n(&mut state, "10.0.10.12", true, 2);
    let attrs = &state.route_set()[&vip_addr()];
    assert_eq!(
        attrs.as_path_prepend, 1,
        "all back: healthy attributes again"
    );
    assert_eq!(state.vip_status()[0].reason, "healthy");
}

#[test]
fn without_a_policy_a_partial_vip_is_announced_as_healthy() {
    let mut state = healthy_start(&web());
    let c = feed_n(&mut state, "10.0.10.12", false, 2);
    assert!(!c.announcements, "nothing to tell the routers");
    let st = &state.vip_status()[0];
    assert!(st.announced && !st.degraded);
    assert_eq!(st.reason, "healthy");
}

#[test]
fn a_last_resort_vip_is_announced_degraded_when_every_backend_fails_but_drains_withdraw_it() {
    let mut state = healthy_start(&web_with(false, true));
    let c = feed_n(&mut state, "10.0.10.12", false, 2);
    assert!(
        !c.announcements,
        "partial without on_partial: still healthy"
    );
    let c = feed_n(&mut state, "10.0.10.11", false, 2);
    assert!(c.announcements);
    let attrs = &state.route_set()[&vip_addr()];
    assert_eq!(attrs.as_path_prepend, 3);
    let st = &state.vip_status()[0];
    assert!(st.announced && st.degraded);
    assert_eq!(
        st.reason,
        "degraded (last_resort: announced degraded instead of withdrawn: service web: \
         0 of 2 backends healthy (min_healthy 1))"
    );
    let now = Instant::now();
    let _ = state.drain(Some(vip_addr()), true, Duration::ZERO, now, asked());
    assert!(state.route_set().is_empty(), "a drain still withdraws");
    assert_eq!(state.vip_status()[0].reason, "drained");
}

#[test]
fn a_last_resort_vip_waits_for_its_first_results_like_any_other() {
    let mut state = NodeState::new(&web_with(true, true));
    programmed(&mut state);
    assert!(state.route_set().is_empty());
    assert_eq!(state.vip_status()[0].reason, "waiting for first check");
}

#[test]
fn a_degraded_vip_that_loses_another_backend_stays_degraded_without_a_route_change() {
    let mut cfg = web_with(true, false);
    cfg.vips[0].services[0]
        .backends
        .push(backend("10.0.10.13", 10));
    let mut state = healthy_start(&cfg);
    let _ = feed_n(&mut state, "10.0.10.13", true, 1);
    let _ = feed_n(&mut state, "10.0.10.12", false, 2);
    let c = feed_n(&mut state, "10.0.10.13", false, 2);
    assert!(
        !c.announcements,
        "degraded before, degraded after: {:?}",
        c.log
    );
    assert!(state.vip_status()[0]
        .reason
        .contains("1 of 3 backends healthy"));
}
