//! anycastd: announces service VIPs by BGP while local health checks pass, and programs the
//! node's dataplane (dummy interfaces, VIP addresses, IPVS) to serve them.
//!
//! Modules, each with one job:
//! - [`config`]: the TOML schema, parsed and validated with positions.
//! - [`bgp`]: the embedded BGP speaker (pure FSM and codec, tokio sessions at the edge).
//! - [`bfd`]: BFD for the BGP peers (pure FSM and codec, UDP sockets at the edge).
//! - [`health`]: health checks and the rise/fall state machine.
//! - [`dataplane`]: links, addresses and IPVS over netlink, and the reconciler.
//! - [`daemon`]: the owner loop that ties health, BGP and the dataplane together.
//! - [`api`]: the HTTP endpoint (/healthz, /status, /metrics, drain).
//! - [`metrics`]: the Prometheus text rendering behind /metrics.
//! - [`persist`]: atomic file replacement (temp file, fsync, rename, fsync of the directory).
//! - [`cli`]: the command line.
//! - [`doctor`]: `anycastd doctor`, the machine checked against what the config needs.

pub mod api;
pub mod bfd;
pub mod bgp;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod dataplane;
pub mod doctor;
pub mod fault;
pub mod health;
pub mod logging;
pub mod metrics;
pub mod persist;
pub mod status;
pub mod systemd;
