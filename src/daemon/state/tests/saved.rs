use super::*;

const STATE_FILE: &str = r#"{
  "version": 1,
  "drain_all": {
    "by": "api",
    "since": 1796304000
  },
  "drained": {
    "10.100.0.2": {
      "by": "api",
      "since": 1796304000
    }
  }
}
"#;

#[test]
fn the_state_file_is_versioned_json_read_back_as_written() {
    let mut saved = SavedDrains {
        drain_all: Some(asked()),
        ..SavedDrains::default()
    };
    saved.drained.insert("10.100.0.2".parse().unwrap(), asked());
    assert_eq!(String::from_utf8(saved.to_json()).unwrap(), STATE_FILE);
    assert_eq!(SavedDrains::parse(STATE_FILE.as_bytes()), Ok(saved));
    assert_eq!(
        SavedDrains::default().to_json(),
        b"{\n  \"version\": 1\n}\n"
    );
    assert_eq!(
        SavedDrains::parse(br#"{"version": 1, "later": "ignored"}"#),
        Ok(SavedDrains::default())
    );
}

#[test]
fn a_state_file_of_another_version_or_shape_is_refused_in_words() {
    for (text, error) in [
        ("", "not valid JSON"),
        ("[1]", "not a JSON object"),
        (r#"{"drained": {}}"#, "no \"version\" key"),
        (
            r#"{"version": 2}"#,
            "version 2 is not supported (this anycastd reads version 1)",
        ),
        (r#"{"version": "1"}"#, "version \"1\" is not supported"),
        (r#"{"version": 1, "drained": {"x": {}}}"#, "invalid content"),
        (
            r#"{"version": 1, "drain_all": {"by": "api"}}"#,
            "invalid content",
        ),
    ] {
        let e = SavedDrains::parse(text.as_bytes()).unwrap_err();
        assert!(e.starts_with(error), "{text}: {e}");
    }
}

#[test]
fn restored_drains_are_in_force_before_anything_is_announced_and_say_so() {
    let mut state = NodeState::new(&two_vips());
    let mut saved = SavedDrains::default();
    saved.drained.insert("10.100.0.2".parse().unwrap(), asked());
    saved.drained.insert("192.0.2.9".parse().unwrap(), asked());
    let log = state.restore_drains(Ok(Some(saved)), 0);
    assert_eq!(
        log,
        [
            "state file: VIP 10.100.0.2 stays drained (drained by api at 2026-12-03T13:20:00Z)",
            "state file: drain of VIP 192.0.2.9 dropped: not in the configuration",
        ]
    );
    // Programmed and healthy: only the VIP not drained is announced, from the first moment.
    programmed(&mut state);
    let _ = feed(&mut state, "10.0.10.11", true, Instant::now());
    assert_eq!(
        state.route_set().keys().copied().collect::<Vec<_>>(),
        vec![vip_addr()]
    );
    let status = state.vip_status();
    assert_eq!((status[0].drained, &status[0].drained_by), (false, &None));
    assert!(status[1].drained && !status[1].announced);
    assert_eq!(status[1].drained_by.as_deref(), Some("state file"));
    assert_eq!(
        status[1].drained_since.as_deref(),
        Some("2026-12-03T13:20:00Z")
    );
    // What is kept is what was restored, less the VIP that left the config.
    let kept = state.saved_drains();
    let two: IpAddr = "10.100.0.2".parse().unwrap();
    assert_eq!(kept.drained.keys().collect::<Vec<_>>(), [&two]);
    assert_eq!(
        kept.drained.values().next(),
        Some(&asked()),
        "by api, not by the file"
    );

    let out = state
        .drain(None, false, Duration::ZERO, Instant::now(), asked())
        .unwrap();
    assert!(out.changes.announcements);
    assert_eq!(state.route_set().len(), 2);
    assert_eq!(
        state.saved_drains(),
        SavedDrains::default(),
        "undrain clears it"
    );
}

#[test]
fn a_restored_drain_of_all_keeps_every_vip_withdrawn() {
    let (mut state, _) = two_announced();
    let mut fresh = NodeState::new(&two_vips());
    let saved = SavedDrains {
        drain_all: Some(asked()),
        ..SavedDrains::default()
    };
    let log = fresh.restore_drains(Ok(Some(saved.clone())), 0);
    assert_eq!(
        log,
        ["state file: all VIPs stay drained (drained by api at 2026-12-03T13:20:00Z)"]
    );
    programmed(&mut fresh);
    let _ = feed(&mut fresh, "10.0.10.11", true, Instant::now());
    assert!(fresh.route_set().is_empty());
    assert_eq!(fresh.saved_drains(), saved);
    // No file: nothing drained.
    assert!(state.restore_drains(Ok(None), 0).is_empty());
    assert_eq!(state.route_set().len(), 2);
}

/// The config of [`two_announced`]: VIP 10.100.0.1 with service web, 10.100.0.2 plain.
fn two_vips() -> Config {
    let mut cfg = web();
    cfg.vips.push(vip("10.100.0.2", vec![]));
    cfg
}

#[test]
fn an_unreadable_state_file_keeps_every_vip_drained_until_an_undrain() {
    let mut state = NodeState::new(&two_vips());
    let log = state.restore_drains(
        Err("/etc/anycastd/anycastd.state.json: not valid JSON".into()),
        1_796_304_000,
    );
    assert_eq!(
        log,
        ["state file: /etc/anycastd/anycastd.state.json: not valid JSON; every VIP stays drained until `anycastd undrain`, which rewrites the file"]
    );
    programmed(&mut state);
    let _ = feed(&mut state, "10.0.10.11", true, Instant::now());
    assert!(state.route_set().is_empty());
    let status = state.vip_status();
    assert!(status.iter().all(|v| v.drained
        && v.drained_by.as_deref() == Some("unreadable state file")
        && v.drained_since.as_deref() == Some("2026-12-03T13:20:00Z")));
    let _ = state
        .drain(None, false, Duration::ZERO, Instant::now(), asked())
        .unwrap();
    assert_eq!(state.route_set().len(), 2);
    assert_eq!(state.saved_drains(), SavedDrains::default());
}

#[test]
fn a_drain_waiting_out_its_shutdown_delay_is_kept_as_drained() {
    let (mut state, two) = two_announced();
    let now = Instant::now();
    let _ = state
        .drain(Some(two), true, Duration::from_secs(5), now, asked())
        .unwrap();
    assert_eq!(
        state.route_set().len(),
        2,
        "still announced during the delay"
    );
    let saved = state.saved_drains();
    assert_eq!(saved.drained.keys().collect::<Vec<_>>(), [&two]);
    assert_eq!(saved.drain_all, None);
    let status = state.vip_status();
    assert_eq!(status[1].drained_by.as_deref(), Some("api"));
    assert_eq!(status[0].drained_by, None);
    // A pending drain of all, narrowed by an undrain of one VIP, keeps the other.
    let _ = state
        .drain(None, true, Duration::from_secs(5), now, asked())
        .unwrap();
    assert!(state.saved_drains().drain_all.is_some());
    let _ = state
        .drain(
            Some(vip_addr()),
            false,
            Duration::from_secs(5),
            now,
            asked(),
        )
        .unwrap();
    let saved = state.saved_drains();
    assert_eq!(
        (saved.drain_all, saved.drained.keys().collect::<Vec<_>>()),
        (None, vec![&two])
    );
}

#[test]
fn a_live_drain_says_api_and_when() {
    let (mut state, two) = two_announced();
    let _ = state
        .drain(Some(two), true, Duration::ZERO, Instant::now(), asked())
        .unwrap();
    let status = state.vip_status();
    assert_eq!(status[1].drained_by.as_deref(), Some("api"));
    assert_eq!(
        status[1].drained_since.as_deref(),
        Some("2026-12-03T13:20:00Z")
    );
    assert_eq!(status[0].drained_since, None);
}

#[test]
fn timestamps_are_rfc3339_utc() {
    use super::super::saved::rfc3339;
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(rfc3339(1_796_304_000), "2026-12-03T13:20:00Z");
    assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
}
