//! Interfaces and addresses over rtnetlink: dumps into [`ActualState`] form, and the link and
//! address ops of a plan.
//!
//! Ownership lives in the kernel, so it survives restarts without a state file:
//! - an interface anycastd creates is a dummy with `ifalias` [`LINK_ALIAS`] ("anycastd");
//!   `ip link show` prints it as `alias anycastd`. An interface without it (`lo`, an operator's
//!   dummy) is used as is and never created, changed or deleted.
//! - an address anycastd adds carries `IFA_PROTO` [`ADDRESS_PROTO`] (0x41; Linux >= 5.18,
//!   supported by netlink-packet-route's `AddressAttribute::Protocol`), chosen over a state file
//!   under /run because it lives and dies with the address itself. Addresses without it are
//!   never deleted.

use std::collections::HashMap;
use std::net::IpAddr;

use futures::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressProtocol};
use netlink_packet_route::link::{LinkAttribute, LinkFlags};
use rtnetlink::{Handle, LinkDummy, LinkUnspec};

use super::state::{Address, Link, ADDRESS_PROTO, LINK_ALIAS};

/// The positive errno of an rtnetlink error, when the kernel sent one.
pub fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

fn text(e: &rtnetlink::Error) -> String {
    match errno(e) {
        Some(n) => super::ipvs::error::errno_text(n),
        None => e.to_string(),
    }
}

/// All interfaces.
pub async fn dump_links(handle: &Handle) -> Result<Vec<Link>, rtnetlink::Error> {
    let mut out = Vec::new();
    let mut links = handle.link().get().execute();
    while let Some(msg) = links.try_next().await? {
        let mut name = None;
        let mut alias = None;
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::IfName(n) => name = Some(n.clone()),
                LinkAttribute::IfAlias(a) => alias = Some(a.clone()),
                _ => {}
            }
        }
        let Some(name) = name else { continue };
        out.push(Link {
            index: msg.header.index,
            name,
            up: msg.header.flags.contains(LinkFlags::Up),
            owned: alias.as_deref() == Some(LINK_ALIAS),
        });
    }
    Ok(out)
}

/// All addresses, named by interface (addresses on unknown indexes are skipped).
pub async fn dump_addresses(
    handle: &Handle,
    links: &[Link],
) -> Result<Vec<Address>, rtnetlink::Error> {
    // One lookup per address: with 50k addresses a scan of the links each time adds up.
    let by_index: HashMap<u32, &Link> = links.iter().map(|l| (l.index, l)).collect();
    let mut out = Vec::new();
    let mut addrs = handle.address().get().execute();
    while let Some(msg) = addrs.try_next().await? {
        let Some(link) = by_index.get(&msg.header.index) else {
            continue;
        };
        let mut local = None;
        let mut address = None;
        let mut proto = None;
        for attr in &msg.attributes {
            match attr {
                AddressAttribute::Local(a) => local = Some(*a),
                AddressAttribute::Address(a) => address = Some(*a),
                AddressAttribute::Protocol(p) => proto = Some(u8::from(*p)),
                _ => {}
            }
        }
        // IFA_LOCAL is the interface's own address; IFA_ADDRESS the peer on point-to-point
        // links (and the only one for IPv6).
        let Some(addr) = local.or(address) else {
            continue;
        };
        out.push(Address {
            interface: link.name.clone(),
            address: addr,
            prefix_len: msg.header.prefix_len,
            owned: proto == Some(ADDRESS_PROTO),
        });
    }
    Ok(out)
}

async fn index_of(handle: &Handle, name: &str) -> Result<u32, String> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(msg)) => Ok(msg.header.index),
        Ok(None) => Err(format!("interface {name} not found")),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Err(format!("interface {name} not found")),
        Err(e) => Err(format!(
            "interface {name} could not be looked up: {}",
            text(&e)
        )),
    }
}

/// Creates dummy `name`, marks it with the alias and brings it up.
pub async fn add_link(handle: &Handle, name: &str) -> Result<(), String> {
    if let Err(e) = handle
        .link()
        .add(LinkDummy::new(name).build())
        .execute()
        .await
    {
        return Err(match errno(&e) {
            // rtnl_newlink: no rtnl_link_ops for kind "dummy" (and no module to load).
            Some(libc::EOPNOTSUPP) => format!("interface {name} could not be created: dummy interfaces not supported by this kernel"),
            _ => format!("interface {name} could not be created: {}", text(&e)),
        });
    }
    // The kernel applies IFLA_IFALIAS only when changing a link, not when creating one.
    let index = index_of(handle, name).await?;
    handle
        .link()
        .set(
            LinkUnspec::new_with_index(index)
                .alias(LINK_ALIAS)
                .up()
                .build(),
        )
        .execute()
        .await
        .map_err(|e| {
            format!(
                "interface {name} could not be marked and brought up: {}",
                text(&e)
            )
        })
}

pub async fn set_link_up(handle: &Handle, name: &str) -> Result<(), String> {
    let index = index_of(handle, name).await?;
    handle
        .link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(|e| format!("interface {name} could not be brought up: {}", text(&e)))
}

pub async fn del_link(handle: &Handle, name: &str) -> Result<(), String> {
    let index = index_of(handle, name).await?;
    handle
        .link()
        .del(index)
        .execute()
        .await
        .map_err(|e| format!("interface {name} could not be deleted: {}", text(&e)))
}

fn host_prefix(addr: &IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

/// Adds `address` as a host address (/32, /128), marked as ours.
pub async fn add_address(handle: &Handle, interface: &str, address: IpAddr) -> Result<(), String> {
    let index = index_of(handle, interface)
        .await
        .map_err(|e| format!("address {address} could not be added: {e}"))?;
    let mut req = handle.address().add(index, address, host_prefix(&address));
    let msg = req.message_mut();
    msg.attributes
        .push(AddressAttribute::Protocol(AddressProtocol::from(
            ADDRESS_PROTO,
        )));
    if address.is_ipv6() {
        // No duplicate address detection: an anycast VIP exists on many nodes by design, and
        // a tentative address could not be used for seconds.
        msg.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    req.execute().await.map_err(|e| {
        format!(
            "address {address} could not be added to {interface}: {}",
            text(&e)
        )
    })
}

pub async fn del_address(
    handle: &Handle,
    interface: &str,
    address: IpAddr,
    prefix_len: u8,
) -> Result<(), String> {
    let index = index_of(handle, interface)
        .await
        .map_err(|e| format!("address {address} could not be deleted: {e}"))?;
    let mut msg = netlink_packet_route::address::AddressMessage::default();
    msg.header.family = if address.is_ipv4() {
        netlink_packet_route::AddressFamily::Inet
    } else {
        netlink_packet_route::AddressFamily::Inet6
    };
    msg.header.index = index;
    msg.header.prefix_len = prefix_len;
    msg.attributes.push(AddressAttribute::Local(address));
    msg.attributes.push(AddressAttribute::Address(address));
    handle.address().del(msg).execute().await.map_err(|e| {
        format!(
            "address {address} could not be deleted from {interface}: {}",
            text(&e)
        )
    })
}
