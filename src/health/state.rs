//! The rise/fall machine: turns a stream of check results into a health state.
//!
//! Pure: no clock, no I/O. A target starts `Unknown` (which the daemon treats as unhealthy: never
//! announce before knowing). The first result sets the state directly, so a node that starts with
//! healthy backends announces after one check instead of `rise`. After that, `rise` consecutive
//! passes make it healthy and `fall` consecutive failures make it unhealthy; a single result in
//! the other direction resets the streak.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HealthState {
    #[default]
    Unknown,
    Healthy,
    Unhealthy,
}

impl HealthState {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Unknown => "unknown",
            HealthState::Healthy => "healthy",
            HealthState::Unhealthy => "unhealthy",
        }
    }
}

impl fmt::Display for HealthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change of state, with the reason in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: HealthState,
    pub to: HealthState,
    /// e.g. "unhealthy: HTTP 503 after 3 failures", "healthy: HTTP 200 (first check)".
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiseFall {
    rise: u32,
    fall: u32,
    state: HealthState,
    /// Consecutive results that disagree with the current state.
    streak: u32,
    last_detail: Option<String>,
}

impl RiseFall {
    /// `rise` and `fall` of 0 are treated as 1 (validation rejects them anyway).
    pub fn new(rise: u32, fall: u32) -> RiseFall {
        RiseFall {
            rise: rise.max(1),
            fall: fall.max(1),
            state: HealthState::Unknown,
            streak: 0,
            last_detail: None,
        }
    }

    pub fn state(&self) -> HealthState {
        self.state
    }

    pub fn is_healthy(&self) -> bool {
        self.state == HealthState::Healthy
    }

    /// The last result's detail ("HTTP 200", "connection refused"), if any result arrived yet.
    pub fn last_detail(&self) -> Option<&str> {
        self.last_detail.as_deref()
    }

    /// Changes the thresholds (config reload) while keeping the state; the current streak is kept
    /// and judged against the new thresholds at the next result.
    pub fn set_thresholds(&mut self, rise: u32, fall: u32) {
        self.rise = rise.max(1);
        self.fall = fall.max(1);
    }

    /// Feeds one check result; returns a transition only when the state changes.
    pub fn observe(&mut self, ok: bool, detail: &str) -> Option<Transition> {
        self.last_detail = Some(detail.to_string());
        let from = self.state;
        let wanted = if ok {
            HealthState::Healthy
        } else {
            HealthState::Unhealthy
        };
        if from == HealthState::Unknown {
            self.state = wanted;
            self.streak = 0;
            return Some(Transition {
                from,
                to: wanted,
                reason: format!("{wanted}: {detail} (first check)"),
            });
        }
        if from == wanted {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if ok { self.rise } else { self.fall };
        if self.streak < needed {
            return None;
        }
        let count = self.streak;
        self.state = wanted;
        self.streak = 0;
        let noun = match (ok, count == 1) {
            (true, true) => "pass",
            (true, false) => "passes",
            (false, true) => "failure",
            (false, false) => "failures",
        };
        Some(Transition {
            from,
            to: wanted,
            reason: format!("{wanted}: {detail} after {count} {noun}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(rf: &mut RiseFall, results: &[bool]) -> Vec<Option<HealthState>> {
        results
            .iter()
            .map(|&ok| {
                rf.observe(ok, if ok { "HTTP 200" } else { "HTTP 503" })
                    .map(|t| t.to)
            })
            .collect()
    }

    #[test]
    fn starts_unknown_with_no_detail() {
        let rf = RiseFall::new(2, 3);
        assert_eq!(rf.state(), HealthState::Unknown);
        assert!(!rf.is_healthy());
        assert_eq!(rf.last_detail(), None);
    }

    #[test]
    fn first_pass_sets_healthy_directly() {
        let mut rf = RiseFall::new(5, 5);
        let t = rf.observe(true, "HTTP 200").unwrap();
        assert_eq!(t.from, HealthState::Unknown);
        assert_eq!(t.to, HealthState::Healthy);
        assert_eq!(t.reason, "healthy: HTTP 200 (first check)");
        assert!(rf.is_healthy());
    }

    #[test]
    fn first_failure_sets_unhealthy_directly() {
        let mut rf = RiseFall::new(5, 5);
        let t = rf.observe(false, "connection refused").unwrap();
        assert_eq!(t.to, HealthState::Unhealthy);
        assert_eq!(t.reason, "unhealthy: connection refused (first check)");
    }

    #[test]
    fn healthy_needs_fall_consecutive_failures_to_become_unhealthy() {
        let mut rf = RiseFall::new(2, 3);
        rf.observe(true, "HTTP 200");
        assert_eq!(rf.observe(false, "HTTP 503"), None);
        assert_eq!(rf.observe(false, "HTTP 503"), None);
        let t = rf.observe(false, "HTTP 503").unwrap();
        assert_eq!(t.from, HealthState::Healthy);
        assert_eq!(t.to, HealthState::Unhealthy);
        assert_eq!(t.reason, "unhealthy: HTTP 503 after 3 failures");
    }

    #[test]
    fn unhealthy_needs_rise_consecutive_passes_to_become_healthy() {
        let mut rf = RiseFall::new(2, 3);
        rf.observe(false, "HTTP 503");
        assert_eq!(rf.observe(true, "HTTP 200"), None);
        let t = rf.observe(true, "HTTP 200").unwrap();
        assert_eq!(t.to, HealthState::Healthy);
        assert_eq!(t.reason, "healthy: HTTP 200 after 2 passes");
    }

    #[test]
    fn an_interrupted_failure_streak_starts_over() {
        let mut rf = RiseFall::new(2, 3);
        let got = feed(&mut rf, &[true, false, false, true, false, false]);
        assert_eq!(
            got,
            vec![Some(HealthState::Healthy), None, None, None, None, None]
        );
        assert!(rf.is_healthy());
        assert_eq!(
            rf.observe(false, "HTTP 503").map(|t| t.to),
            Some(HealthState::Unhealthy)
        );
    }

    #[test]
    fn an_interrupted_pass_streak_starts_over() {
        let mut rf = RiseFall::new(3, 1);
        let got = feed(&mut rf, &[false, true, true, false, true, true]);
        assert_eq!(
            got,
            vec![Some(HealthState::Unhealthy), None, None, None, None, None]
        );
        assert_eq!(
            rf.observe(true, "HTTP 200").map(|t| t.to),
            Some(HealthState::Healthy)
        );
    }

    #[test]
    fn rise_and_fall_of_one_flip_on_every_change() {
        let mut rf = RiseFall::new(1, 1);
        let got = feed(&mut rf, &[true, false, false, true]);
        assert_eq!(
            got,
            vec![
                Some(HealthState::Healthy),
                Some(HealthState::Unhealthy),
                None,
                Some(HealthState::Healthy)
            ]
        );
    }

    #[test]
    fn single_pass_and_failure_are_singular_in_the_reason() {
        let mut rf = RiseFall::new(1, 1);
        rf.observe(true, "HTTP 200");
        assert_eq!(
            rf.observe(false, "timed out after 1s").unwrap().reason,
            "unhealthy: timed out after 1s after 1 failure"
        );
        assert_eq!(
            rf.observe(true, "HTTP 200").unwrap().reason,
            "healthy: HTTP 200 after 1 pass"
        );
    }

    #[test]
    fn repeated_results_in_the_current_state_report_nothing() {
        let mut rf = RiseFall::new(2, 2);
        rf.observe(true, "HTTP 200");
        for _ in 0..10 {
            assert_eq!(rf.observe(true, "HTTP 200"), None);
        }
    }

    #[test]
    fn last_detail_follows_every_result() {
        let mut rf = RiseFall::new(2, 2);
        rf.observe(true, "HTTP 200");
        rf.observe(false, "HTTP 503");
        assert_eq!(rf.last_detail(), Some("HTTP 503"));
        assert!(rf.is_healthy());
    }

    #[test]
    fn zero_thresholds_behave_as_one() {
        let mut rf = RiseFall::new(0, 0);
        rf.observe(true, "ok");
        assert_eq!(
            rf.observe(false, "bad").map(|t| t.to),
            Some(HealthState::Unhealthy)
        );
    }

    #[test]
    fn lowered_thresholds_apply_to_the_running_streak() {
        let mut rf = RiseFall::new(2, 5);
        rf.observe(true, "ok");
        rf.observe(false, "bad");
        rf.observe(false, "bad");
        rf.set_thresholds(2, 3);
        assert_eq!(
            rf.observe(false, "bad").map(|t| t.to),
            Some(HealthState::Unhealthy)
        );
    }
}
