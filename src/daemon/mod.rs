//! The daemon: wires config, health checks, the BGP speaker, the dataplane and the API together.
//!
//! One owner loop (`runtime`) fed by typed messages: check results, API commands, dataplane
//! reports, signals (TERM, INT, HUP, USR2), the 1 s tick, the start-up hold, drain deadlines and
//! the systemd watchdog. It pushes the `RouteSet` to the speaker (watch), the `DesiredState` to
//! the dataplane thread (unbounded mpsc, coalesced there) and the `Status` to the API (watch).
//! The drawing of every task and channel, and the table of tasks that a test keeps in step
//! with the code, are in docs/architecture.md, "Tasks and channels".
//!
//! Every decision (what to announce, which weight a backend gets) is made by the pure
//! `state::NodeState`; this module only moves messages and talks to the OS.

mod catalog_run;
mod heap;
mod runtime;
pub mod state;
mod state_file;
mod watch;

use std::path::Path;

use crate::config;

/// Exit status after SIGUSR2 (EX_TEMPFAIL): the process ended for a graceful restart and wants
/// to be started again; the systemd unit restarts it (`RestartForceExitStatus=75`).
pub const EXIT_GRACEFUL_RESTART: i32 = 75;

/// Exit status when a task the daemon cannot run without ended (EX_SOFTWARE); systemd's
/// `Restart=on-failure` starts it again, and graceful restart keeps the routes meanwhile.
pub const EXIT_TASK_FAILED: i32 = 70;

/// Runs the daemon until SIGTERM/SIGINT (exit 0), SIGUSR2 (graceful restart, exit 75) or the
/// end of a task it cannot run without (exit 70).
/// Returns the process exit code.
pub fn run(config_path: &Path, cleanup: bool) -> i32 {
    let (cfg, text) = match config::load_with_text(config_path) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("anycastd: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(runtime::run(config_path.to_path_buf(), cfg, &text, cleanup)) {
        Ok(runtime::Exit::Stopped) => 0,
        Ok(runtime::Exit::GracefulRestart) => EXIT_GRACEFUL_RESTART,
        Ok(runtime::Exit::TaskFailed(_)) => EXIT_TASK_FAILED,
        Err(e) => {
            tracing::error!("{e}");
            1
        }
    }
}
