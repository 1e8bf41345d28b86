//! The embedded BGP speaker.
//!
//! The daemon hands the speaker the complete set of host routes it wants announced
//! ([`RouteSet`]); every peer session diffs that against what it has sent (its Adj-RIB-Out)
//! and sends the minimal UPDATEs. Received routes are parsed, counted and dropped.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::config::{Bgp, Community, LargeCommunity, Node};
use crate::status::PeerStatus;

/// Path attributes of one announced VIP. The next hop is per session, so it is not here.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct RouteAttrs {
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
    pub med: Option<u32>,
    /// Sent to iBGP peers only.
    pub local_pref: Option<u32>,
    /// Extra copies of the local ASN (eBGP only).
    pub as_path_prepend: u8,
}

/// Host routes (/32, /128) to announce, keyed by the VIP.
pub type RouteSet = BTreeMap<IpAddr, RouteAttrs>;

/// Handle to the running speaker.
pub struct Speaker {
    _private: (),
}

impl Speaker {
    /// Starts one session task per configured peer (and the listener when `bgp.listen` is set).
    pub fn start(_node: &Node, _bgp: &Bgp) -> Speaker {
        tracing::warn!("BGP speaker not implemented yet: no sessions will be opened");
        Speaker { _private: () }
    }

    /// Replaces the set of routes to announce; sessions send the difference at once.
    pub fn set_routes(&self, _routes: RouteSet) {}

    /// A snapshot of every peer's state and counters.
    pub fn peer_status(&self) -> Vec<PeerStatus> {
        Vec::new()
    }

    /// Applies a reloaded config: adds and removes peers, resets only sessions whose settings changed.
    pub fn reconfigure(&self, _node: &Node, _bgp: &Bgp) {}

    /// Sends a Cease NOTIFICATION on every session and waits for the tasks to end.
    pub async fn shutdown(self) {}
}

pub mod adj_rib_out;
pub mod fsm;
pub mod message;
