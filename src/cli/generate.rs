//! `anycastd generate man|completions DIR` (hidden): the man pages and shell completions of the
//! packages, generated from the clap definitions of this very binary, so what `labs/package`
//! ships cannot drift from the commands it documents.
//!
//! - `man`: `anycastd.1` and one page per subcommand (`anycastd-doctor.1`, …), roff, as
//!   `clap_mangen` renders them;
//! - `completions`: `anycastd.bash`, `_anycastd` (zsh) and `anycastd.fish`.

use std::path::Path;

use clap::{CommandFactory, ValueEnum};
use clap_complete::Shell;

use super::Cli;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum What {
    /// Man pages, section 1.
    Man,
    /// bash, zsh and fish completions.
    Completions,
}

/// The shells completions are generated for, and the file name each one's loader looks for.
pub const SHELLS: &[(Shell, &str)] = &[
    (Shell::Bash, "anycastd.bash"),
    (Shell::Zsh, "_anycastd"),
    (Shell::Fish, "anycastd.fish"),
];

/// Writes the files into `dir` (created if missing) and prints each path; 0, or 1 on an I/O
/// error.
pub fn command(what: What, dir: &Path) -> i32 {
    match generate(what, dir) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            0
        }
        Err(e) => {
            eprintln!("anycastd generate: {}: {e}", dir.display());
            1
        }
    }
}

fn generate(what: What, dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = Cli::command();
    let mut files = Vec::new();
    match what {
        What::Man => {
            // No pages for `help` subcommands: each page already is the help.
            clap_mangen::generate_to(without_help_subcommands(cmd), dir)?;
            let mut names: Vec<_> = std::fs::read_dir(dir)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "1"))
                .collect();
            names.sort();
            files.extend(names);
        }
        What::Completions => {
            for (shell, name) in SHELLS {
                let path = dir.join(name);
                let mut out = std::fs::File::create(&path)?;
                clap_complete::generate(*shell, &mut cmd, "anycastd", &mut out);
                files.push(path);
            }
        }
    }
    Ok(files)
}

/// `cmd` and every subcommand of it without the generated `help` subcommand.
fn without_help_subcommands(cmd: clap::Command) -> clap::Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    let mut cmd = cmd.disable_help_subcommand(true);
    for name in names {
        cmd = cmd.mut_subcommand(name, without_help_subcommands);
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_pages_cover_every_visible_subcommand_and_not_the_generator() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(command(What::Man, dir.path()), 0);
        let main = std::fs::read_to_string(dir.path().join("anycastd.1")).unwrap();
        for sub in [
            "run", "check", "doctor", "status", "drain", "undrain", "vip", "backend",
        ] {
            assert!(
                main.contains(&format!("anycastd\\-{sub}(1)")),
                "{sub} missing:\n{main}"
            );
            assert!(
                dir.path().join(format!("anycastd-{sub}.1")).exists(),
                "{sub}"
            );
        }
        assert!(!dir.path().join("anycastd-generate.1").exists());
        assert!(!dir.path().join("anycastd-help.1").exists());
        assert!(dir.path().join("anycastd-backend-weight.1").exists());
        assert!(!main.contains("generate"), "{main}");
    }

    #[test]
    fn completions_are_written_for_bash_zsh_and_fish() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(command(What::Completions, dir.path()), 0);
        let bash = std::fs::read_to_string(dir.path().join("anycastd.bash")).unwrap();
        assert!(bash.contains("complete -F _anycastd"), "{bash}");
        assert!(bash.contains("doctor"), "{bash}");
        let zsh = std::fs::read_to_string(dir.path().join("_anycastd")).unwrap();
        assert!(zsh.starts_with("#compdef anycastd"), "{zsh}");
        let fish = std::fs::read_to_string(dir.path().join("anycastd.fish")).unwrap();
        assert!(fish.contains("complete -c anycastd"), "{fish}");
    }
}
