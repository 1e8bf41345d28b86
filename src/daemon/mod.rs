//! The daemon: wires config, health checks, the BGP speaker, the dataplane and the API together.

pub mod state;

use std::path::Path;

use crate::config;

/// Runs the daemon until SIGTERM/SIGINT. Returns the process exit code.
pub fn run(config_path: &Path, _cleanup: bool) -> i32 {
    let cfg = match config::load(config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    tracing::error!(router_id = %cfg.node.router_id, "the daemon loop is not implemented yet");
    1
}
