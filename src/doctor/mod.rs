//! `anycastd doctor -c FILE`: checks the machine for what the config needs and says what to
//! fix, one line per check.
//!
//! - [`facts`]: the machine as plain data, and the edge that reads it (`/proc`, `/sys`,
//!   `/lib/modules`, the dataplane's netlink readers, a bind per listen address, a TCP
//!   connection per peer);
//! - [`findings`]: the pure decisions, from config + facts to findings.
//!
//! Exit status: 0 when nothing blocks `run` (only `ok`, `note` and `warn`), 1 when a finding
//! is `FAIL` or the config is invalid (check's `FILE:LINE:COL: message` lines are printed),
//! 2 when the file cannot be read: the same codes as `anycastd check`.

pub mod facts;
pub mod findings;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::Path;

pub use facts::Facts;
pub use findings::examine;

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Checked, and fine.
    Ok,
    /// Something doctor cannot check from here, or worth knowing.
    Note,
    /// Works, but is likely not what was meant.
    Warn,
    /// Blocks `run`, or would make it announce a VIP that cannot answer.
    Fail,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // pad, not write_str: `{:<4}` lines the topics up.
        f.pad(match self {
            Level::Ok => "ok",
            Level::Note => "note",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        })
    }
}

/// One line of doctor's output: `LEVEL TOPIC: WHAT; fix: HOW`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    /// What was checked: `ipvs`, `interface anycast0`, `peer 10.0.1.1 port 179`.
    pub topic: String,
    pub text: String,
    /// How to fix it; `warn` and `FAIL` always say.
    pub fix: Option<String>,
}

impl Finding {
    pub fn ok(topic: impl Into<String>, text: impl Into<String>) -> Finding {
        Finding::new(Level::Ok, topic, text, None)
    }
    pub fn note(topic: impl Into<String>, text: impl Into<String>) -> Finding {
        Finding::new(Level::Note, topic, text, None)
    }
    pub fn warn(
        topic: impl Into<String>,
        text: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding::new(Level::Warn, topic, text, Some(fix.into()))
    }
    pub fn fail(
        topic: impl Into<String>,
        text: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding::new(Level::Fail, topic, text, Some(fix.into()))
    }
    fn new(
        level: Level,
        topic: impl Into<String>,
        text: impl Into<String>,
        fix: Option<String>,
    ) -> Finding {
        Finding {
            level,
            topic: topic.into(),
            text: text.into(),
            fix,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<4} {}: {}", self.level, self.topic, self.text)?;
        if let Some(fix) = &self.fix {
            write!(f, "; fix: {fix}")?;
        }
        Ok(())
    }
}

/// Every finding, one per line, and the verdict.
pub fn render(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        out += &format!("{f}\n");
    }
    let count = |l: Level| findings.iter().filter(|f| f.level == l).count();
    let (fails, warns) = (count(Level::Fail), count(Level::Warn));
    out += &if fails > 0 {
        format!("doctor: {fails} FAIL, {warns} warn: `anycastd run` is blocked on this machine\n")
    } else {
        format!("doctor: nothing blocks `anycastd run` ({warns} warn)\n")
    };
    out
}

/// Whether the findings block `run`: the exit status, 1 or 0.
pub fn exit_code(findings: &[Finding]) -> i32 {
    i32::from(findings.iter().any(|f| f.level == Level::Fail))
}

/// `anycastd doctor -c FILE`.
pub fn command(path: &Path) -> i32 {
    let config = match crate::config::load(path) {
        Ok(c) => c,
        Err(crate::config::LoadError::Invalid(errors)) => {
            println!("{errors}");
            println!("doctor: the config is invalid (as `anycastd check` says): `anycastd run` is blocked");
            return 1;
        }
        Err(e @ crate::config::LoadError::Unreadable { .. }) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let facts = match facts::gather(&config) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("anycastd doctor: cannot start its runtime: {e}");
            return 2;
        }
    };
    let findings = examine(&config, &facts);
    print!("{}", render(&findings));
    exit_code(&findings)
}
