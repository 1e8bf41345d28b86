//! The kernel dataplane: dummy interfaces, VIP addresses and IPVS, over netlink.
//!
//! The daemon hands the dataplane the complete [`DesiredState`]; one reconciler thread diffs it
//! against the kernel (netlink dumps), applies a minimal plan, and repeats on every change and
//! on a periodic tick ([`RECONCILE_INTERVAL`]). It reports per VIP whether the VIP is fully
//! programmed, and why not.
//!
//! Kernel changes are data: [`reconcile::plan`] (pure) turns desired + [`state::ActualState`]
//! into a list of [`Op`]s, and [`task`] is the one executor that applies them.
//! - [`state`]: the kernel as plain data, and the ownership markers (ifalias `anycastd` on
//!   interfaces anycastd creates, `IFA_PROTO` 0x41 on addresses it adds, `rtm_protocol` 0x41
//!   on the local routes of route-bound VIPs).
//! - [`reconcile`]: the ops, the planner, the view carried between passes ([`reconcile::mirror`])
//!   and the per-VIP report; no I/O.
//! - [`ipvs`]: the IPVS generic netlink family (codec, errors, socket).
//! - [`links`]: interfaces and addresses over rtnetlink.
//! - [`routes`]: local routes over rtnetlink, many requests per send (codec, batch, socket).
//! - [`task`]: the reconciler thread.
//!
//! anycastd removes only what it owns: interfaces with its alias, addresses and local routes
//! with its marker, IPVS services whose VIP is one of those (or that this process created). A restart
//! adopts what is already right without touching it; nothing is ever flushed.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};

use crate::config::{Forwarding, Protocol};

pub mod ipvs;
pub mod links;
pub mod reconcile;
pub mod routes;
pub mod state;
pub mod task;

pub use reconcile::{IpvsOp, LinkOp, Op, RouteOp};
pub use task::{Pass, RECONCILE_INTERVAL};

/// A VIP made local through an interface: by an address on it ([`DesiredState::addresses`]) or
/// by a local route through it ([`DesiredState::routes`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VipAddress {
    pub interface: String,
    pub address: IpAddr,
}

/// One IPVS virtual service with its destinations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualService {
    pub vip: IpAddr,
    pub port: u16,
    pub protocol: Protocol,
    pub scheduler: String,
    /// Seconds; 0 = off.
    pub persistence: u32,
    pub flags: crate::config::SchedulerFlags,
    /// Needs the [`state::REHASH_SAFE_SYSCTLS`] (config `rehash_safe`).
    pub rehash_safe: bool,
    pub destinations: Vec<Destination>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub address: IpAddr,
    pub port: u16,
    pub weight: u32,
    pub forwarding: Forwarding,
}

/// Everything the node should have in the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DesiredState {
    /// VIPs with `bind = "address"`: a host address on the interface.
    pub addresses: Vec<VipAddress>,
    /// VIPs with `bind = "route"`: a local route in table local through the interface.
    pub routes: Vec<VipAddress>,
    pub services: Vec<VirtualService>,
    /// `[ipvs.sync]`: the sync daemons that should run (none, master, backup or both).
    pub sync_daemons: Vec<state::SyncDaemon>,
}

/// Per VIP: `Ok` when its address (or local route) and services are in the kernel, or why not.
///
/// Every VIP of the desired state (an address, or the VIP of a service) has an entry after
/// the first pass that saw it; a VIP missing from the map has not been programmed yet and
/// should be treated as not ready.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DataplaneReport {
    pub vips: BTreeMap<IpAddr, Result<(), String>>,
    /// The `mh` services' table fingerprints ([`state::Service::table_fingerprint`]), from the
    /// kernel's state after the pass.
    pub tables: BTreeMap<state::ServiceKey, String>,
}

/// Handle to the reconciler thread (see [`task`] for the drawing).
///
/// Dropping the handle stops the reconciler and leaves the kernel as it is (like
/// `shutdown(false)`); a later `start()` adopts that state without changing anything.
pub struct Dataplane {
    reports: watch::Receiver<Arc<DataplaneReport>>,
    passes: watch::Receiver<Arc<Pass>>,
    commands: mpsc::UnboundedSender<task::Command>,
}

impl Dataplane {
    /// Starts the reconciler on its own thread, in the calling thread's network namespace.
    /// It touches nothing until the first [`Dataplane::set_desired`].
    pub fn start() -> Dataplane {
        let (reports_tx, reports) = watch::channel(Arc::new(DataplaneReport::default()));
        let (passes_tx, passes) = watch::channel(Arc::new(Pass::default()));
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let channels = task::Channels {
            commands: commands_rx,
            reports: reports_tx,
            passes: passes_tx,
        };
        if let Err(e) = std::thread::Builder::new()
            .name("anycastd-dataplane".into())
            // task: dataplane thread
            .spawn(move || task::run(channels))
        {
            tracing::error!("dataplane thread could not be started: {e}");
        }
        Dataplane {
            reports,
            passes,
            commands,
        }
    }

    /// Replaces the desired state; the reconciler applies the difference at once.
    pub fn set_desired(&self, desired: DesiredState) {
        let _ = self.commands.send(task::Command::SetDesired(desired, None));
    }

    /// Replaces the desired state and waits for the pass that applied it.
    pub async fn apply(&self, desired: DesiredState) -> Arc<Pass> {
        let (tx, rx) = oneshot::channel();
        let _ = self
            .commands
            .send(task::Command::SetDesired(desired, Some(tx)));
        rx.await.unwrap_or_default()
    }

    /// Whether the kernel holds interfaces or addresses anycastd created (its markers): at
    /// start-up, true after a restart of the daemon and false after a reboot. Changes nothing.
    pub async fn found_own_state(&self) -> bool {
        let (tx, rx) = oneshot::channel();
        let _ = self.commands.send(task::Command::Survey(tx));
        rx.await.unwrap_or(false)
    }

    /// Runs a pass now (as the periodic tick would) and waits for it.
    pub async fn reconcile(&self) -> Arc<Pass> {
        let (tx, rx) = oneshot::channel();
        let _ = self.commands.send(task::Command::Reconcile(tx));
        rx.await.unwrap_or_default()
    }

    /// Reports, updated after every reconcile pass that changed a VIP's outcome.
    pub fn reports(&self) -> watch::Receiver<Arc<DataplaneReport>> {
        self.reports.clone()
    }

    /// The latest pass: its ops and their outcomes.
    pub fn passes(&self) -> watch::Receiver<Arc<Pass>> {
        self.passes.clone()
    }

    /// Stops the reconciler; with `cleanup`, removes everything anycastd owns first
    /// (its IPVS services, the addresses it added, the interfaces it created) and nothing else.
    pub async fn shutdown(self, cleanup: bool) {
        let (done, finished) = oneshot::channel();
        if self
            .commands
            .send(task::Command::Shutdown { cleanup, done })
            .is_ok()
        {
            let _ = finished.await;
        }
    }
}
