//! Which peers get which VIPs: a VIP's `peers` and a peer's `vips`, resolved into each VIP's
//! list of peers (empty: every peer). Both sides are the operator's choice; the result is one
//! list on the route, so the speaker needs no policy of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use toml::Spanned;

use super::model::*;
use super::raw::{RawBgp, RawVip, Value};
use super::resolve::no_peer_carries;
use super::validate::Ctx;

/// Applies every `[[bgp.peer]] vips` list to `vips`. Reports a `vips` entry that is not a VIP
/// of the file, and a VIP that the lists leave with no peer (or none for its family).
pub fn apply_peer_vips(
    ctx: &mut Ctx,
    raw_bgp: Option<&Spanned<RawBgp>>,
    raw_vips: &[Spanned<RawVip>],
    peers: &[Peer],
    vips: &mut [Vip],
) -> bool {
    let lists = peer_lists(ctx, raw_bgp, vips);
    let Some(lists) = lists else {
        return false;
    };
    if lists.is_empty() {
        return true;
    }
    let mut ok = true;
    for (i, v) in vips.iter_mut().enumerate() {
        let chosen: Vec<&Peer> = peers
            .iter()
            .filter(|p| v.peers.is_empty() || v.peers.contains(&p.address))
            .filter(|p| lists.get(&p.address).is_none_or(|l| l.contains(&v.address)))
            .collect();
        let here = format!("vip[{i}]");
        let span = raw_vips.get(i).map(|t| t.span()).unwrap_or_default();
        if chosen.is_empty() {
            let msg = format_args!(
                "VIP {} goes to no peer: every peer it could go to has a vips list without it",
                v.address
            );
            ctx.at(&here, &span, msg);
            ok = false;
            continue;
        }
        let owned: Vec<Peer> = chosen.iter().map(|p| (*p).clone()).collect();
        if let Some(problem) = no_peer_carries(v.address, &owned) {
            ctx.at(
                &here,
                &span,
                format_args!("of the peers it goes to, {problem}"),
            );
            ok = false;
            continue;
        }
        v.peers = if chosen.len() == peers.len() {
            Vec::new()
        } else {
            chosen.iter().map(|p| p.address).collect()
        };
    }
    ok
}

/// Each peer's `vips` (by the peer's address), every entry a VIP of the file.
fn peer_lists(
    ctx: &mut Ctx,
    raw_bgp: Option<&Spanned<RawBgp>>,
    vips: &[Vip],
) -> Option<BTreeMap<IpAddr, BTreeSet<IpAddr>>> {
    let mut lists = BTreeMap::new();
    let raw_peers = raw_bgp
        .and_then(|b| b.get_ref().peer.as_deref())
        .unwrap_or_default();
    let mut ok = true;
    for (i, table) in raw_peers.iter().enumerate() {
        let p = table.get_ref();
        let Some(leaf) = &p.vips else { continue };
        let here = format!("bgp.peer[{i}].vips");
        let Some(items) = ctx.array(&here, leaf, "VIP addresses") else {
            ok = false;
            continue;
        };
        let mut list = BTreeSet::new();
        for (j, item) in items.iter().enumerate() {
            let at = format!("{here}[{j}]");
            match ctx.ip(&at, item) {
                Some(ip) if vips.iter().any(|v| v.address == ip) => {
                    list.insert(ip);
                }
                Some(ip) => {
                    ctx.at(
                        &at,
                        &item.span(),
                        format_args!("{ip} is not a VIP of this file"),
                    );
                    ok = false;
                }
                None => ok = false,
            }
        }
        // The peer's own address, as the VIPs' `peers` name it (a link-local one without %IF).
        let address = p.address.as_ref().and_then(|a| match a.get_ref() {
            Value::String(s) => s.split('%').next()?.parse::<IpAddr>().ok(),
            _ => None,
        });
        if let Some(address) = address {
            lists.insert(address, list);
        }
    }
    ok.then_some(lists)
}
