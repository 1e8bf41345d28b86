use super::*;

#[test]
fn drain_all_and_one_and_undrain() {
    let (mut state, two) = two_announced();

    let c = state.set_drained(None, Some(asked())).unwrap();
    assert!(c.announcements);
    assert!(state.route_set().is_empty());
    assert!(state
        .vip_status()
        .iter()
        .all(|v| v.drained && v.reason == "drained"));

    // Undraining one VIP of a drained node leaves the others drained.
    let _ = state.set_drained(Some(two), None).unwrap();
    assert_eq!(
        state.route_set().keys().copied().collect::<Vec<_>>(),
        vec![two]
    );

    let _ = state.set_drained(None, None).unwrap();
    assert_eq!(state.route_set().len(), 2);

    let c = state.set_drained(Some(vip_addr()), Some(asked())).unwrap();
    assert_eq!(
        c.log,
        vec![
            "VIP 10.100.0.1 drained",
            "VIP 10.100.0.1 withdrawn: drained"
        ]
    );
    assert!(state.is_drained(vip_addr()) && !state.is_drained(two));
    // Draining keeps weights: existing connections and other nodes are unaffected.
    assert_eq!(weights(&state), vec![100, 50]);
}

#[test]
fn a_drain_with_a_shutdown_delay_announces_graceful_shutdown_then_withdraws() {
    let (mut state, two) = two_announced();
    let (now, delay) = (Instant::now(), Duration::from_secs(5));
    let out = state
        .drain(Some(vip_addr()), true, delay, now, asked())
        .unwrap();
    assert_eq!(out.message, "draining 10.100.0.1: withdraw in 5s");
    assert!(out.changes.announcements, "the route's communities changed");
    assert_eq!(graceful_shutdown_on(&state), vec![vip_addr()]);
    assert_eq!(state.route_set().len(), 2, "still announced meanwhile");
    let status = state.vip_status();
    assert!(status[0].drained && status[0].announced);
    assert!(status[0]
        .reason
        .starts_with("draining: announced with GRACEFUL_SHUTDOWN"));
    assert!(!status[1].drained, "{two} is not draining");
    assert_eq!(state.next_drain_deadline(), Some(now + delay));

    let early = state.complete_drains(now + Duration::from_secs(4));
    assert!(early.is_empty());
    let due = state.complete_drains(now + delay);
    assert!(due.announcements);
    assert_eq!(
        due.log,
        vec![
            "VIP 10.100.0.1 drained",
            "VIP 10.100.0.1 withdrawn: drained"
        ]
    );
    assert_eq!(
        state.route_set().keys().copied().collect::<Vec<_>>(),
        vec![two]
    );
    assert!(graceful_shutdown_on(&state).is_empty());
    assert_eq!(state.next_drain_deadline(), None);
    assert_eq!(state.vip_status()[0].reason, "drained");
}

#[test]
fn without_a_shutdown_delay_a_drain_withdraws_at_once() {
    let (mut state, _) = two_announced();
    let out = state
        .drain(None, true, Duration::ZERO, Instant::now(), asked())
        .unwrap();
    assert_eq!(out.message, "drained all VIPs");
    assert!(out.changes.announcements);
    assert!(state.route_set().is_empty());
    assert_eq!(state.next_drain_deadline(), None);
    let out = state
        .drain(None, false, Duration::ZERO, Instant::now(), asked())
        .unwrap();
    assert_eq!(out.message, "undrained all VIPs");
    assert_eq!(state.route_set().len(), 2);
}

#[test]
fn undraining_one_vip_during_a_pending_drain_of_all_narrows_it_to_the_others() {
    let (mut state, two) = two_announced();
    let (now, delay) = (Instant::now(), Duration::from_secs(5));
    let _ = state.drain(None, true, delay, now, asked()).unwrap();
    assert_eq!(graceful_shutdown_on(&state), vec![vip_addr(), two]);
    let out = state.drain(Some(two), false, delay, now, asked()).unwrap();
    assert_eq!(out.message, "undrained 10.100.0.2");
    assert_eq!(graceful_shutdown_on(&state), vec![vip_addr()]);
    let _ = state.complete_drains(now + delay);
    assert_eq!(
        state.route_set().keys().copied().collect::<Vec<_>>(),
        vec![two]
    );
}

#[test]
fn an_undrain_cancels_a_pending_drain_and_a_new_drain_replaces_it() {
    let (mut state, _) = two_announced();
    let (now, delay) = (Instant::now(), Duration::from_secs(5));
    let _ = state
        .drain(Some(vip_addr()), true, delay, now, asked())
        .unwrap();
    let later = now + Duration::from_secs(2);
    let _ = state
        .drain(Some(vip_addr()), true, delay, later, asked())
        .unwrap();
    assert_eq!(state.next_drain_deadline(), Some(later + delay), "replaced");
    let _ = state
        .drain(Some(vip_addr()), false, delay, later, asked())
        .unwrap();
    assert_eq!(state.next_drain_deadline(), None);
    assert!(graceful_shutdown_on(&state).is_empty());
    assert!(state.complete_drains(later + delay).is_empty());
    assert_eq!(state.route_set().len(), 2);
}

#[test]
fn a_drain_of_an_unknown_vip_is_refused_and_changes_nothing() {
    let (mut state, _) = two_announced();
    let now = Instant::now();
    let _ = state
        .drain(None, true, Duration::from_secs(5), now, asked())
        .unwrap();
    let err = state
        .drain(
            Some("192.0.2.1".parse().unwrap()),
            false,
            Duration::ZERO,
            now,
            asked(),
        )
        .unwrap_err();
    assert_eq!(err, "no VIP 192.0.2.1 in the configuration");
    assert_eq!(
        graceful_shutdown_on(&state).len(),
        2,
        "the pending drain stays"
    );
}

#[test]
fn shutting_down_puts_graceful_shutdown_on_every_route() {
    let (mut state, two) = two_announced();
    let c = state.begin_shutdown();
    assert!(c.announcements);
    assert_eq!(graceful_shutdown_on(&state), vec![vip_addr(), two]);
    assert!(
        state.vip_status().iter().all(|v| !v.drained),
        "shutting down is not a drain"
    );
}

#[test]
fn draining_an_unknown_vip_is_an_error() {
    let mut state = NodeState::new(&web());
    let err = state
        .set_drained(Some("192.0.2.1".parse().unwrap()), Some(asked()))
        .unwrap_err();
    assert_eq!(err, "no VIP 192.0.2.1 in the configuration");
}
