//! The cache file (`catalog.cache`): the last catalog snapshot the node applied, so that a
//! node started while etcd is down serves what it served before. Written atomically
//! (temporary file, fsync, rename) after every applied revision; the raw documents are kept,
//! not the merged VIPs, so a changed node file or label still decides at the next start.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::model::Snapshot;

/// Bumped if the layout changes; a cache of another format is ignored (and rewritten).
const FORMAT: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct CacheFile {
    format: u32,
    /// `catalog.prefix` the documents were read under: a cache of another prefix is not used.
    prefix: String,
    #[serde(flatten)]
    snapshot: Snapshot,
}

/// The cache file's bytes for `snapshot`.
pub fn encode(prefix: &str, snapshot: &Snapshot) -> Vec<u8> {
    let file = CacheFile {
        format: FORMAT,
        prefix: prefix.to_string(),
        snapshot: snapshot.clone(),
    };
    let mut bytes = serde_json::to_vec_pretty(&file).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// The snapshot in `bytes`, when it is a cache of this format and prefix.
pub fn decode(prefix: &str, bytes: &[u8]) -> Result<Snapshot, String> {
    let file: CacheFile =
        serde_json::from_slice(bytes).map_err(|e| format!("not a catalog cache: {e}"))?;
    if file.format != FORMAT {
        return Err(format!(
            "cache format {} (this version reads {FORMAT})",
            file.format
        ));
    }
    if file.prefix != prefix {
        return Err(format!(
            "cached for prefix {:?}, the config says {prefix:?}",
            file.prefix
        ));
    }
    Ok(file.snapshot)
}

/// Reads the cache; `Ok(None)` when there is none yet.
pub fn load(path: &Path, prefix: &str) -> Result<Option<Snapshot>, String> {
    match std::fs::read(path) {
        Ok(bytes) => decode(prefix, &bytes)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: cannot read: {e}", path.display())),
    }
}

/// Writes the cache atomically, creating its directory if needed.
pub fn save(path: &Path, prefix: &str, snapshot: &Snapshot) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    crate::persist::write_atomic(path, &encode(prefix, snapshot))
        .map_err(|e| format!("{}: cannot write: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        let mut s = Snapshot {
            revision: 42,
            ..Snapshot::default()
        };
        s.documents
            .insert("/anycastd/vips/10.1.1.1".into(), "{}".into());
        s
    }

    #[test]
    fn a_saved_snapshot_loads_back_and_a_missing_file_is_no_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/catalog.json");
        assert_eq!(load(&path, "/anycastd"), Ok(None));
        save(&path, "/anycastd", &snapshot()).unwrap();
        assert_eq!(load(&path, "/anycastd"), Ok(Some(snapshot())));
        // No temporary file is left beside it.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn a_cache_of_another_prefix_or_format_or_garbage_is_refused_with_why() {
        let bytes = encode("/other", &snapshot());
        let e = decode("/anycastd", &bytes).unwrap_err();
        assert!(e.contains("\"/other\""), "{e}");
        let text = String::from_utf8(encode("/anycastd", &snapshot())).unwrap();
        let newer = text.replace("\"format\": 1", "\"format\": 9");
        assert!(decode("/anycastd", newer.as_bytes())
            .unwrap_err()
            .contains("format 9"));
        assert!(decode("/anycastd", b"{")
            .unwrap_err()
            .starts_with("not a catalog cache"));
    }
}
