//! The drain state file on disk (`node.state_file`): read once at start-up, replaced
//! atomically ([`crate::persist::write_atomic`]) whenever the drains to keep change. What it
//! holds and what follows from it is `state::saved`'s business; this is only the I/O.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::state::SavedDrains;
use crate::config::Config;

/// The state file of `cfg`, read from `config_path`: [`Config::state_file_path`] with
/// systemd's `$STATE_DIRECTORY` (its first entry), if set.
pub fn path(cfg: &Config, config_path: &Path) -> PathBuf {
    cfg.state_file_path(config_path, state_directory().as_deref())
}

/// The first entry of systemd's `$STATE_DIRECTORY`, if set.
pub fn state_directory() -> Option<PathBuf> {
    let state = std::env::var_os("STATE_DIRECTORY")?;
    let first = std::env::split_paths(&state).next()?;
    (!first.as_os_str().is_empty()).then_some(first)
}

/// The drains in the file: `Ok(None)` when there is no file (a first start), `Err` (in words,
/// with the path) when it cannot be read or understood.
pub fn load(path: &Path) -> Result<Option<SavedDrains>, String> {
    match std::fs::read(path) {
        Ok(bytes) => SavedDrains::parse(&bytes)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: cannot read: {e}", path.display())),
    }
}

/// Replaces the file with `bytes` (a [`SavedDrains::to_json`]).
pub fn save(path: &Path, bytes: &[u8]) -> Result<(), String> {
    crate::persist::write_atomic(path, bytes)
        .map_err(|e| format!("{}: cannot write: {e}", path.display()))
}

/// Now, in seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_no_drains_and_a_broken_one_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anycastd.state.json");
        assert_eq!(load(&path), Ok(None));
        std::fs::write(&path, "{\"version\": 1, \"drain_all\"").unwrap();
        let e = load(&path).unwrap_err();
        assert!(
            e.starts_with(&format!("{}: not valid JSON", path.display())),
            "{e}"
        );
        let e = load(dir.path()).unwrap_err();
        assert!(e.contains("cannot read"), "{e}");
    }

    #[test]
    fn what_is_saved_is_loaded_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anycastd.state.json");
        let mut drains = SavedDrains::default();
        drains.drained.insert(
            "10.100.0.1".parse().unwrap(),
            crate::daemon::state::DrainOrigin::api(1_796_304_000),
        );
        save(&path, &drains.to_json()).unwrap();
        assert_eq!(load(&path), Ok(Some(drains)));
        assert!(save(&dir.path().join("no/such/dir"), b"{}").is_err());
    }
}
