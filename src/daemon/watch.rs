//! Watches the config file, so an edit on disk is applied like SIGHUP once the writes settle.
//!
//! The directory is watched, not the file: editors and configuration tools write a new file
//! and rename it over the old one, which a watch on the old inode would miss. Events for other
//! files in the directory (the drain state file, an editor's swap file) are ignored.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// How long the file must stay quiet after a change before it is read: an editor's write,
/// rename and attribute change arrive as several events within a few milliseconds.
pub const DEBOUNCE: Duration = Duration::from_millis(500);

pub struct ConfigWatch {
    /// Kept for its thread and its inotify descriptor; dropping it ends the watch.
    _watcher: notify::RecommendedWatcher,
    changes: mpsc::UnboundedReceiver<()>,
    /// When the last change seen becomes due (no further change for [`DEBOUNCE`]). Kept here,
    /// not in the future, so that `edited` can be cancelled by the loop's `select!` at any
    /// point without losing a change.
    due: Option<tokio::time::Instant>,
}

impl ConfigWatch {
    pub fn start(config: &Path) -> Result<ConfigWatch, String> {
        let name = config
            .file_name()
            .ok_or_else(|| format!("{} names no file", config.display()))?
            .to_os_string();
        let dir = match config.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let (tx, changes) = mpsc::unbounded_channel();
        // notify runs the callback on a thread of its own.
        // task: config watcher
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
            if let Ok(event) = event {
                if touches(&event, &name) {
                    let _ = tx.send(());
                }
            }
        })
        .map_err(|e| e.to_string())?;
        watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(ConfigWatch {
            _watcher: watcher,
            changes,
            due: None,
        })
    }

    /// Waits for a change to the file, then until no further change came for [`DEBOUNCE`].
    /// Cancel-safe: dropped half-way, the next call carries on where this one stopped.
    pub async fn edited(&mut self) {
        loop {
            let Some(due) = self.due else {
                if self.changes.recv().await.is_none() {
                    return std::future::pending().await;
                }
                self.due = Some(tokio::time::Instant::now() + DEBOUNCE);
                continue;
            };
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {
                    self.due = None;
                    return;
                }
                Some(()) = self.changes.recv() => {
                    self.due = Some(tokio::time::Instant::now() + DEBOUNCE);
                }
            }
        }
    }
}

/// Whether `event` may have changed the file called `name`: anything but a read or an open.
fn touches(event: &Event, name: &OsString) -> bool {
    let reads = matches!(
        event.kind,
        EventKind::Access(AccessKind::Open(_) | AccessKind::Read)
            | EventKind::Access(AccessKind::Close(AccessMode::Read))
    );
    !reads
        && event
            .paths
            .iter()
            .any(|p| p.file_name() == Some(name.as_os_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, ModifyKind, RenameMode};
    use std::path::PathBuf;

    fn event(kind: EventKind, path: &str) -> Event {
        Event::new(kind).add_path(PathBuf::from(path))
    }

    #[test]
    fn writes_renames_and_removals_of_the_file_count_and_reads_and_other_files_do_not() {
        let name = OsString::from("anycastd.toml");
        let written = EventKind::Access(AccessKind::Close(AccessMode::Write));
        let renamed = EventKind::Modify(ModifyKind::Name(RenameMode::To));
        for kind in [written, renamed, EventKind::Create(CreateKind::File)] {
            assert!(touches(&event(kind, "/etc/anycastd/anycastd.toml"), &name));
        }
        let swap = event(written, "/etc/anycastd/.anycastd.toml.swp");
        assert!(!touches(&swap, &name));
        let read = EventKind::Access(AccessKind::Close(AccessMode::Read));
        assert!(!touches(&event(read, "/etc/anycastd/anycastd.toml"), &name));
    }

    #[tokio::test]
    async fn an_edit_is_reported_once_after_the_writes_settle() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anycastd.toml");
        std::fs::write(&path, "a").unwrap();
        let mut watch = ConfigWatch::start(&path).unwrap();
        std::fs::write(dir.path().join("other.json"), "x").unwrap();
        // Three writes in quick succession, as an editor saving: one report.
        for text in ["b", "c", "d"] {
            std::fs::write(&path, text).unwrap();
        }
        tokio::time::timeout(Duration::from_secs(5), watch.edited())
            .await
            .expect("the edit is reported");
        let again = tokio::time::timeout(DEBOUNCE * 2, watch.edited()).await;
        assert!(again.is_err(), "the settled writes are reported once");
        // A replacement by rename, as most editors and tools write.
        let tmp = dir.path().join("anycastd.toml.new");
        std::fs::write(&tmp, "e").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        tokio::time::timeout(Duration::from_secs(5), watch.edited())
            .await
            .expect("the rename is reported");
    }

    /// The owner loop's `select!` drops `edited` whenever another branch fires first.
    #[tokio::test]
    async fn an_edit_survives_the_wait_being_cancelled_again_and_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anycastd.toml");
        std::fs::write(&path, "a").unwrap();
        let mut watch = ConfigWatch::start(&path).unwrap();
        std::fs::write(&path, "b").unwrap();
        let mut cancelled = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let step = Duration::from_millis(100);
            match tokio::time::timeout(step, watch.edited()).await {
                Ok(()) => break,
                Err(_) => cancelled += 1,
            }
            assert!(tokio::time::Instant::now() < deadline, "the edit was lost");
        }
        assert!(cancelled >= 4, "the wait was cut {cancelled} times");
    }
}
