//! `exec`: runs argv without a shell; exit status 0 = healthy.
//!
//! The command runs in its own process group so that a timed-out check is killed together with
//! anything it started (a script's `curl`, say); `kill_on_drop` alone would only reach the
//! direct child. The check's target is passed in `ANYCASTD_CHECK_ADDRESS`/`ANYCASTD_CHECK_PORT`.

use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::Command;

pub(super) async fn probe(argv: &[String], addr: SocketAddr) -> (bool, String) {
    let Some((program, args)) = argv.split_first() else {
        return (false, "exec check without a command".into());
    };
    let mut child = match Command::new(program)
        .args(args)
        .env("ANYCASTD_CHECK_ADDRESS", addr.ip().to_string())
        .env("ANYCASTD_CHECK_PORT", addr.port().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return (false, format!("cannot run {program}: {e}")),
    };
    // Armed until the child is reaped: if this future is dropped (timeout, checker stopped),
    // the whole process group is killed.
    let mut guard = GroupKiller(child.id());
    let status = child.wait().await;
    guard.0 = None;
    match status {
        Ok(s) if s.success() => (true, "exit status 0".into()),
        Ok(s) => match (s.code(), s.signal()) {
            (Some(code), _) => (false, format!("exit status {code}")),
            (None, Some(sig)) => (false, format!("killed by signal {sig}")),
            (None, None) => (false, format!("{s}")),
        },
        Err(e) => (false, format!("waiting for {program}: {e}")),
    }
}

struct GroupKiller(Option<u32>);

impl Drop for GroupKiller {
    fn drop(&mut self) {
        if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            // The group may already be gone; nothing useful to do about an error here.
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}
