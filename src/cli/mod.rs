//! Command-line interface (CONTRACT.md "Binary and CLI").

pub mod catalog;
pub mod client;
pub mod generate;
pub mod objects;
pub mod table;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::DEFAULT_CONFIG_PATH;

#[derive(Debug, Parser)]
#[command(
    name = "anycastd",
    version,
    about = "Anycast load-balancer node daemon: BGP, health checks, IPVS"
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter, RUST_LOG syntax (e.g. "info", "anycastd::bgp=debug").
    #[arg(long, global = true, default_value = "info")]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon in the foreground.
    Run {
        #[arg(short, long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// On exit, remove the IPVS services, addresses and interfaces anycastd owns.
        #[arg(long)]
        cleanup: bool,
    },
    /// Validate a config file and touch nothing.
    Check {
        #[arg(short, long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// With [catalog]: also read the current catalog from etcd and say which documents
        /// this node would refuse (exit 1 if any; 2 if etcd cannot be reached).
        #[arg(long)]
        catalog: bool,
    },
    /// Check this machine for what the config needs and say what to fix, one line each.
    ///
    /// Checks IPVS and the schedulers the config uses, dummy interfaces, CAP_NET_ADMIN, the
    /// forwarding sysctls of masq and route services, the API (and BGP) listen address, every
    /// active peer (TCP and its OPEN, 2 s each; while anycastd runs, its /status instead) and
    /// VIP addresses anycastd did not add. Lines are `ok`, `note`, `warn` or `FAIL`. Exit 0
    /// when nothing blocks `run`, 1 when something does or the config is invalid, 2 when the
    /// file cannot be read.
    Doctor {
        #[arg(short, long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
    /// Show peers and VIPs of the running daemon.
    Status {
        #[command(flatten)]
        api: ApiArgs,
        /// Print the raw /status JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the running daemon's configuration as JSON (GET /config; secrets left out).
    Config {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Withdraw all VIPs, or the named ones, while the daemon keeps running.
    Drain {
        #[command(flatten)]
        api: ApiArgs,
        vips: Vec<std::net::IpAddr>,
    },
    /// Re-announce all VIPs, or the named ones.
    Undrain {
        #[command(flatten)]
        api: ApiArgs,
        vips: Vec<std::net::IpAddr>,
    },
    /// Show, add or remove a VIP of the running daemon; changes are written to its config file.
    #[command(subcommand)]
    Vip(objects::VipCommand),
    /// Show, add, remove or re-weight a backend; changes are written to the config file.
    #[command(subcommand)]
    Backend(objects::BackendCommand),
    /// The fleet catalog in etcd ([catalog] of the node's file): put, get, del, check.
    #[command(subcommand)]
    Catalog(catalog::CatalogCommand),
    /// Write the man pages or the shell completions into DIR (for packages).
    #[command(hide = true)]
    Generate { what: generate::What, dir: PathBuf },
}

/// How the CLI finds the running daemon's HTTP endpoint.
#[derive(Debug, clap::Args)]
pub struct ApiArgs {
    /// Base URL of the daemon, e.g. http://127.0.0.1:9180 (default: the config's api.listen).
    #[arg(long)]
    pub api: Option<String>,
    #[arg(short, long, default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
    /// Bearer token for requests that change something (default: the config's api.token, or
    /// $ANYCASTD_TOKEN).
    #[arg(long, env = "ANYCASTD_TOKEN")]
    pub token: Option<String>,
}
