//! Atomic file replacement: a crash at any point leaves either the old file or the new one,
//! never a mix or a truncated file.
//!
//! [`write_atomic`] writes the bytes to a temporary file in the same directory (so the rename
//! stays on one filesystem), fsyncs it, renames it over the target (atomic in POSIX) and fsyncs
//! the directory (so the rename itself survives a power cut). Used for the drain state file and
//! meant for anything else the daemon writes back (the config file).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Mode of a file that did not exist before; an existing file keeps its own.
const NEW_FILE_MODE: u32 = 0o644;

/// Replaces `path` with `bytes` atomically (see the module docs). The file keeps the
/// permissions it had (a new one gets 0644). On error the target is untouched and the
/// temporary file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = directory_of(path);
    let tmp = temp_path(path)?;
    let mode = match fs::metadata(path) {
        Ok(m) => m.permissions().mode() & 0o7777,
        Err(e) if e.kind() == io::ErrorKind::NotFound => NEW_FILE_MODE,
        Err(e) => return Err(e),
    };
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // `mode` at creation is filtered by the umask; an existing file's mode is kept exactly.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename is done; syncing the directory makes it durable.
    File::open(dir)?.sync_all()
}

/// The directory holding `path` (`.` for a bare file name).
fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `DIR/.NAME.tmp.PID.N`: hidden, in the same directory, unique per process and call.
fn temp_path(path: &Path) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a file name", path.display()),
        )
    })?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".tmp.{}.{n}", std::process::id()));
    Ok(directory_of(path).join(tmp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_new_file_is_created_with_the_bytes_and_no_temporary_file_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"{\"version\": 1}\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"{\"version\": 1}\n");
        assert_eq!(entries(dir.path()), ["state.json"]);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, NEW_FILE_MODE);
    }

    #[test]
    fn an_existing_file_is_replaced_whole_and_keeps_its_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anycastd.toml");
        fs::write(&path, "a much longer old content than the new one\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&path, b"new\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new\n");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(entries(dir.path()), ["anycastd.toml"]);
        write_atomic(&path, b"").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"");
    }

    #[test]
    fn a_failed_rename_leaves_the_old_target_and_removes_the_temporary_file() {
        // A non-empty directory cannot be renamed over: the write fails at the last step,
        // after the temporary file was written and synced.
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("busy");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("keep"), "x").unwrap();
        assert!(write_atomic(&target, b"new").is_err());
        assert!(target.join("keep").exists(), "the old target is intact");
        assert_eq!(entries(dir.path()), ["busy"], "no temporary file left");
    }

    #[test]
    fn a_missing_directory_is_an_error_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("state.json");
        let e = write_atomic(&path, b"x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn temporary_files_are_hidden_siblings_unique_per_call() {
        let a = temp_path(Path::new("/etc/anycastd/x.json")).unwrap();
        let b = temp_path(Path::new("/etc/anycastd/x.json")).unwrap();
        assert_eq!(a.parent(), Some(Path::new("/etc/anycastd")));
        assert!(a
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(".x.json.tmp."));
        assert_ne!(a, b);
        assert_eq!(
            temp_path(Path::new("x.json")).unwrap().parent(),
            Some(Path::new("."))
        );
        assert!(temp_path(Path::new("/")).is_err());
    }
}
