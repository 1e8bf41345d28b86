//! The kernel dataplane: dummy interfaces, VIP addresses and IPVS, over netlink.
//!
//! The daemon hands the dataplane the complete [`DesiredState`]; one reconciler task diffs it
//! against the kernel (netlink dumps), applies a minimal plan, and repeats on every change and
//! on a periodic tick. It reports per VIP whether the VIP is fully programmed.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::watch;

use crate::config::{Forwarding, Protocol};

/// A VIP address bound to an interface.
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
    pub addresses: Vec<VipAddress>,
    pub services: Vec<VirtualService>,
}

/// Per VIP: `Ok` when its address and services are in the kernel, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DataplaneReport {
    pub vips: BTreeMap<IpAddr, Result<(), String>>,
}

/// Handle to the reconciler task.
pub struct Dataplane {
    reports: watch::Receiver<Arc<DataplaneReport>>,
    _reports_tx: watch::Sender<Arc<DataplaneReport>>,
}

impl Dataplane {
    pub fn start() -> Dataplane {
        tracing::warn!("kernel dataplane not implemented yet: nothing will be programmed");
        let (tx, rx) = watch::channel(Arc::new(DataplaneReport::default()));
        Dataplane {
            reports: rx,
            _reports_tx: tx,
        }
    }

    /// Replaces the desired state; the reconciler applies the difference at once.
    pub fn set_desired(&self, _desired: DesiredState) {}

    /// Reports, updated after every reconcile pass that changed a VIP's outcome.
    pub fn reports(&self) -> watch::Receiver<Arc<DataplaneReport>> {
        self.reports.clone()
    }

    /// Stops the reconciler; with `cleanup`, removes everything anycastd owns first.
    pub async fn shutdown(self, _cleanup: bool) {}
}
