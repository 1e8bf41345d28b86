//! Drains that outlive the process: what the state file holds, where a drain came from, and how
//! a restarted daemon takes them back.
//!
//! The file is JSON, versioned so that it can grow:
//!
//! ```json
//! {"version": 1,
//!  "drain_all": {"by": "api", "since": 1796300000},
//!  "drained": {"10.100.0.1": {"by": "api", "since": 1796300000}}}
//! ```
//!
//! Both keys are optional (`{"version": 1}` is "nothing drained"); unknown keys are ignored, so
//! a later version-1 writer can add some; another `version` is refused. Reading and writing the
//! file is the runtime's job (`daemon::state_file`); what follows from it is decided here.

use serde::{Deserialize, Serialize};

use super::*;

/// The state file format this build reads and writes.
pub const STATE_FILE_VERSION: u64 = 1;

/// Who drained a VIP (or the node), and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainOrigin {
    /// `"api"` (`anycastd drain` goes through the API too), or `"unreadable state file"` when a
    /// restarted daemon could not read its state file and drained everything to be safe.
    pub by: String,
    /// Seconds since the Unix epoch.
    pub since: u64,
    /// Taken back from the state file at start-up rather than asked of this process.
    #[serde(skip)]
    pub restored: bool,
}

impl DrainOrigin {
    /// A drain asked over the HTTP API (or the CLI, which uses the API) at `since`.
    pub fn api(since: u64) -> DrainOrigin {
        DrainOrigin {
            by: "api".into(),
            since,
            restored: false,
        }
    }

    /// What `/status` says in `drained_by`: `"state file"` for a drain taken back at start-up,
    /// else who asked.
    pub(super) fn shown_by(&self) -> String {
        if self.restored {
            "state file".into()
        } else {
            self.by.clone()
        }
    }
}

/// The drains to keep across a restart: the state file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedDrains {
    /// Every VIP is drained (`anycastd drain` without a VIP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_all: Option<DrainOrigin>,
    /// VIPs drained one by one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub drained: BTreeMap<IpAddr, DrainOrigin>,
}

#[derive(Serialize)]
struct Versioned<'a> {
    version: u64,
    #[serde(flatten)]
    drains: &'a SavedDrains,
}

impl SavedDrains {
    /// The state file's bytes: pretty JSON with `"version": 1`, ending in a newline.
    pub fn to_json(&self) -> Vec<u8> {
        let doc = Versioned {
            version: STATE_FILE_VERSION,
            drains: self,
        };
        let mut bytes = serde_json::to_vec_pretty(&doc).expect("plain data serialises");
        bytes.push(b'\n');
        bytes
    }

    /// Reads a state file's bytes; an error says what is wrong, in words.
    pub fn parse(bytes: &[u8]) -> Result<SavedDrains, String> {
        let doc: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON: {e}"))?;
        match doc.get("version") {
            Some(v) if v.as_u64() == Some(STATE_FILE_VERSION) => {}
            Some(v) => {
                return Err(format!(
                "version {v} is not supported (this anycastd reads version {STATE_FILE_VERSION})"
            ))
            }
            None if doc.is_object() => return Err("no \"version\" key".into()),
            None => return Err("not a JSON object".into()),
        }
        serde_json::from_value(doc).map_err(|e| format!("invalid content: {e}"))
    }
}

impl NodeState {
    /// The drains to keep across a restart. A drain still waiting out `shutdown_delay` counts
    /// as done: a daemon restarted during the delay must not announce the VIP again.
    pub fn saved_drains(&self) -> SavedDrains {
        let mut saved = SavedDrains {
            drain_all: self.drain_all.clone(),
            drained: self.drained.clone(),
        };
        for p in &self.pending_drains {
            match p.vip {
                None => {
                    saved.drain_all.get_or_insert_with(|| p.origin.clone());
                }
                Some(v) => {
                    saved.drained.entry(v).or_insert_with(|| p.origin.clone());
                }
            }
        }
        // The file says who asked, not that this process read it back.
        let origins = saved.drain_all.iter_mut().chain(saved.drained.values_mut());
        origins.for_each(|o| o.restored = false);
        saved
    }

    /// Start-up, before anything is announced: takes back the drains of the state file.
    /// `Ok(None)` (no file: a first start) drains nothing; a drain of a VIP no longer in the
    /// configuration is dropped. A file that cannot be read or understood (`Err`) drains every
    /// VIP: the node was perhaps in maintenance, and guessing wrong would put it back in traffic
    /// unasked, while staying out only costs an `anycastd undrain`. `now` (seconds since the
    /// epoch) dates that drain. Returns one log line per decision.
    pub fn restore_drains(
        &mut self,
        file: Result<Option<SavedDrains>, String>,
        now: u64,
    ) -> Vec<String> {
        let saved = match file {
            Ok(None) => return Vec::new(),
            Ok(Some(saved)) => saved,
            Err(e) => {
                self.drain_all = Some(DrainOrigin {
                    by: "unreadable state file".into(),
                    since: now,
                    restored: false,
                });
                return vec![format!(
                    "state file: {e}; every VIP stays drained until `anycastd undrain`, which rewrites the file"
                )];
            }
        };
        let mut log = Vec::new();
        let restored = |o: DrainOrigin| DrainOrigin {
            restored: true,
            ..o
        };
        if let Some(o) = saved.drain_all {
            log.push(format!(
                "state file: all VIPs stay drained (drained by {} at {})",
                o.by,
                rfc3339(o.since)
            ));
            self.drain_all = Some(restored(o));
        }
        for (vip, o) in saved.drained {
            if !self.has_vip(vip) {
                log.push(format!(
                    "state file: drain of VIP {vip} dropped: not in the configuration"
                ));
                continue;
            }
            log.push(format!(
                "state file: VIP {vip} stays drained (drained by {} at {})",
                o.by,
                rfc3339(o.since)
            ));
            self.drained.insert(vip, restored(o));
        }
        log
    }

    /// Who drained `vip` and when: its own drain, the node's, or one waiting out its delay.
    pub(super) fn drain_origin(&self, vip: IpAddr) -> Option<&DrainOrigin> {
        self.drained
            .get(&vip)
            .or(self.drain_all.as_ref())
            .or_else(|| {
                self.pending_drains
                    .iter()
                    .find(|p| p.covers(vip))
                    .map(|p| &p.origin)
            })
    }
}

/// `seconds` since the Unix epoch as RFC 3339 UTC: `2026-12-03T13:20:00Z`.
pub(super) fn rfc3339(seconds: u64) -> String {
    let (days, secs) = (seconds / 86_400, seconds % 86_400);
    // Civil from days (Howard Hinnant's algorithm), for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}
