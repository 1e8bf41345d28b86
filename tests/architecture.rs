//! Keeps docs/architecture.md's "Tasks and channels" honest: every task the daemon spawns is
//! marked in the code with `// task: NAME` on the line before the spawn, and the table under
//! that heading lists exactly those names. A new spawn without a marker, a marker missing from
//! the table or a table row without a task in the code fails here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The CLI and `anycastd doctor` are separate, short-lived processes, not part of the daemon's
/// task drawing.
const NOT_THE_DAEMON: &[&str] = &["src/cli/", "src/doctor/"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its unit tests (a `#[cfg(test)]` module ends the scan; files of
/// test modules are skipped).
fn daemon_code(root: &Path, path: &Path) -> Option<Vec<String>> {
    let rel = path
        .strip_prefix(root)
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/");
    let is_test_file =
        rel.contains("/tests/") || rel.ends_with("_tests.rs") || rel.ends_with("/tests.rs");
    if is_test_file || NOT_THE_DAEMON.iter().any(|p| rel.starts_with(p)) {
        return None;
    }
    let text = std::fs::read_to_string(path).unwrap();
    Some(
        text.lines()
            .take_while(|l| l.trim() != "#[cfg(test)]")
            .map(str::to_string)
            .collect(),
    )
}

/// Whether a line calls a function or method named exactly `spawn` with arguments (tokio's,
/// a JoinSet's, a thread Builder's), not `Command::spawn()` or a definition; or starts a
/// notify watcher, which runs a thread of its own.
fn spawns(line: &str) -> bool {
    let code = line.split("//").next().unwrap_or_default();
    if code.contains("notify::recommended_watcher(") {
        return true;
    }
    if code.trim_start().starts_with("fn ") || code.contains(" fn spawn") {
        return false;
    }
    code.match_indices("spawn(").any(|(i, _)| {
        let before = code[..i].chars().last();
        let boundary = !before.is_some_and(|c| c.is_alphanumeric() || c == '_');
        boundary && !code[i + "spawn(".len()..].starts_with(')')
    })
}

fn marked_tasks(root: &Path) -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    let mut tasks = BTreeSet::new();
    let mut unmarked = Vec::new();
    for path in &files {
        let Some(lines) = daemon_code(root, path) else {
            continue;
        };
        for (i, line) in lines.iter().enumerate() {
            if !spawns(line) {
                continue;
            }
            let marker = lines[i.saturating_sub(2)..i]
                .iter()
                .find_map(|l| l.trim().strip_prefix("// task: "));
            match marker {
                Some(name) => {
                    tasks.insert(name.trim().to_string());
                }
                None => unmarked.push(format!("{}:{}: {}", path.display(), i + 1, line.trim())),
            }
        }
    }
    assert!(
        unmarked.is_empty(),
        "spawns without a `// task: NAME` marker (add one and a row in docs/architecture.md):\n{}",
        unmarked.join("\n")
    );
    tasks
}

/// The first column of the table in "## Tasks and channels", in backticks.
fn documented_tasks(root: &Path) -> BTreeSet<String> {
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let section = doc
        .split("\n## Tasks and channels\n")
        .nth(1)
        .expect("docs/architecture.md has a \"## Tasks and channels\" section");
    let section = section.split("\n## ").next().unwrap();
    let rows: BTreeSet<String> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| l.split('`').nth(1).map(str::to_string))
        .collect();
    assert!(
        !rows.is_empty(),
        "no task table under \"## Tasks and channels\""
    );
    rows
}

#[test]
fn every_spawned_task_is_in_the_architecture_table_and_every_row_is_a_task() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let code = marked_tasks(root);
    let doc = documented_tasks(root);
    let undocumented: Vec<_> = code.difference(&doc).collect();
    let stale: Vec<_> = doc.difference(&code).collect();
    assert!(
        undocumented.is_empty() && stale.is_empty(),
        "docs/architecture.md's task table and the code's `// task:` markers differ:\n  \
         spawned but not in the table: {undocumented:?}\n  in the table but not spawned: {stale:?}"
    );
}

#[test]
fn the_spawn_detector_tells_spawns_from_look_alikes() {
    assert!(spawns("    let task = tokio::spawn(session.run(rx));"));
    assert!(spawns(
        "        let handle = self.tasks.spawn(run_target(target, results));"
    ));
    assert!(spawns("            .spawn(move || task::run(channels))"));
    assert!(spawns(
        "        let mut w = notify::recommended_watcher(move |e| {"
    ));
    assert!(!spawns(
        "        let child = Command::new(\"sh\").spawn()?;"
    ));
    assert!(!spawns(
        "    fn spawn_session(&self, cfg: SessionConfig) -> PeerHandle {"
    ));
    assert!(!spawns(
        "        let handle = self.spawn_session(cfg, shared);"
    ));
    assert!(!spawns("    // tokio::spawn(x) in a comment"));
}
