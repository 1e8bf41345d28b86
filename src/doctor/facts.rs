//! What `anycastd doctor` knows about the machine, as plain data ([`Facts`]), and the edge that
//! reads it ([`gather`]): `/proc`, `/sys`, `/lib/modules`, the dataplane's own netlink readers
//! (interfaces and addresses with anycastd's ownership markers, IPVS services), a bind of each
//! listen address, and a TCP connection to each peer.
//!
//! Gathering changes nothing on the machine, with two exceptions the daemon itself would cause
//! at start-up anyway: looking up the IPVS generic netlink family lets the kernel load `ip_vs`
//! on demand, and a peer that accepts the probe's TCP connection sees it closed at once
//! (no OPEN is sent).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use crate::config::Config;
use crate::dataplane::ipvs::{IpvsError, IpvsSocket};
use crate::dataplane::links;
use crate::dataplane::state::{Address, Link, ServiceKey};

/// How long a peer gets to accept the probe's TCP connection.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a process holding the API port gets to answer `GET /healthz`.
pub const HEALTHZ_TIMEOUT: Duration = Duration::from_secs(2);

/// Capability numbers (linux/capability.h).
pub const CAP_NET_BIND_SERVICE: u32 = 10;
pub const CAP_NET_ADMIN: u32 = 12;

/// Everything the findings are decided from. Built by [`gather`] on a real machine, by hand in
/// the unit tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// `uname -r` (/proc/sys/kernel/osrelease).
    pub kernel_release: String,
    /// Whether this kernel can load modules at all (/proc/modules exists; CONFIG_MODULES).
    pub modules_loadable: bool,
    /// The state of each kernel module the config could need (ip_vs, ip_vs_<scheduler>,
    /// dummy, ipip); a module not in the map was not looked at.
    pub modules: BTreeMap<String, Module>,
    pub ipvs: Ipvs,
    /// The effective capability set of this process (CapEff in /proc/self/status).
    pub cap_eff: Option<u64>,
    /// Sysctls by dotted name (`net.ipv4.ip_forward`, `net.ipv4.conf.eth0.rp_filter`), value
    /// trimmed; a name that does not exist on this machine is absent.
    pub sysctls: BTreeMap<String, String>,
    /// Interfaces, with the `anycastd` alias marking the ones anycastd created.
    pub links: Result<Vec<Link>, String>,
    /// Addresses, with `IFA_PROTO` marking the ones anycastd added.
    pub addresses: Result<Vec<Address>, String>,
    /// Whether `api.listen` (and `bgp.listen`, when set) can be bound.
    pub api_bind: Bind,
    pub bgp_bind: Option<Bind>,
    /// Whether something answered `200 ok` to `GET /healthz` on `api.listen`: anycastd is
    /// running with this config's API address.
    pub anycastd_running: bool,
    /// Per peer, by the address as written (`fe80::1%eth1` for link-local ones).
    pub peers: BTreeMap<String, Probe>,
}

/// A kernel module, as far as this machine can tell without loading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Module {
    /// Loaded now (/sys/module/NAME/initstate).
    Loaded,
    /// Compiled into the kernel (/sys/module/NAME without initstate, or modules.builtin).
    BuiltIn,
    /// A file under /lib/modules/RELEASE and a kernel that loads modules: the kernel loads it
    /// on demand when anycastd first uses it.
    OnDisk,
    /// None of the above.
    Absent,
}

impl Module {
    pub fn usable(self) -> bool {
        self != Module::Absent
    }
}

/// IPVS as this process sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Ipvs {
    /// The generic netlink family "IPVS" resolved; `services` are the virtual services the
    /// kernel holds (or why they could not be dumped, e.g. EPERM without CAP_NET_ADMIN).
    Available {
        services: Result<Vec<ServiceKey>, String>,
    },
    /// No IPVS family (module not loaded and not loadable); `proc_net` says whether
    /// /proc/net/ip_vs exists anyway.
    #[default]
    Unavailable,
    /// The generic netlink socket or the family lookup failed for another reason.
    Unreadable(String),
}

/// The outcome of binding a listen address (the socket is closed again at once).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Bind {
    #[default]
    Free,
    /// EADDRINUSE: something listens there.
    InUse,
    /// Another error, as text (EADDRNOTAVAIL: the address is not on this machine; EACCES).
    Error(String),
}

/// The outcome of a TCP connection to a peer's BGP port, and of waiting for its OPEN (a BGP
/// speaker sends one as soon as a connection from a configured neighbor is up; doctor sends
/// none and closes the connection after reading it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// `passive = true`: not probed, the peer connects to us.
    Passive,
    /// Connected from `local` and an OPEN came: the peer's ASN and BGP identifier.
    Open {
        local: SocketAddr,
        asn: u32,
        router_id: Ipv4Addr,
    },
    /// Connected, then the peer closed the connection (or sent a NOTIFICATION, `reason`)
    /// without an OPEN: what a router does with a connection from an address it has no
    /// neighbor for, or from a neighbor whose session is already established.
    Closed {
        local: SocketAddr,
        reason: Option<String>,
    },
    /// Connected, but nothing came within [`PEER_TIMEOUT`] (or bytes that are not BGP).
    Silent { local: SocketAddr },
    /// RST: the host is there but nothing listens on the port.
    Refused,
    /// No answer to the SYN within [`PEER_TIMEOUT`].
    TimedOut,
    /// Another error (no route, a `local_address` not on this machine, a missing interface of
    /// a link-local peer), as text.
    Failed(String),
    /// Not probed because anycastd is running with this API address: a second connection
    /// from this node would make a graceful-restart router drop the running session (RFC 4724
    /// §4.2 takes it for a restart), so the session's state comes from the daemon's /status.
    Running {
        state: String,
        last_error: Option<String>,
    },
    /// Not probed because anycastd is running, and its /status has no such peer (it runs
    /// another config) or could not be read (`reason`).
    NotInStatus { reason: Option<String> },
}

/// The modules the config could need: IPVS and the schedulers when there are services, the
/// dummy driver for VIP interfaces, ipip for tunnel forwarding.
pub fn modules_of_interest(config: &Config) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    out.insert("dummy".to_string());
    for (_, service) in config.services() {
        out.insert("ip_vs".to_string());
        out.insert(format!("ip_vs_{}", service.scheduler));
        if service.forwarding == crate::config::Forwarding::Tunnel {
            out.insert("ipip".to_string());
        }
    }
    out
}

/// The fixed sysctls the findings read; per-interface `rp_filter` is added for every interface.
pub const SYSCTLS: &[&str] = &[
    "net.ipv4.ip_forward",
    "net.ipv6.conf.all.forwarding",
    "net.ipv6.conf.all.disable_ipv6",
    "net.ipv4.conf.all.rp_filter",
    "net.ipv4.conf.all.arp_ignore",
    "net.ipv4.conf.all.arp_announce",
    "net.ipv4.vs.conntrack",
];

/// Reads the machine. Must run in the network namespace anycastd would run in (sysctls under
/// /proc/sys/net, interfaces and IPVS are per namespace).
pub fn gather(config: &Config) -> std::io::Result<Facts> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let kernel_release = read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_default();
    let modules_loadable = Path::new("/proc/modules").exists();
    let on_disk = modules_on_disk(&kernel_release);
    let modules = modules_of_interest(config)
        .into_iter()
        .map(|name| {
            let state = module_state(&name, &on_disk, modules_loadable);
            (name, state)
        })
        .collect();
    let ipvs = read_ipvs();
    let (links, addresses) = rt.block_on(read_links());
    let mut sysctls = BTreeMap::new();
    for name in SYSCTLS {
        if let Some(v) = read_sysctl(name) {
            sysctls.insert(name.to_string(), v);
        }
    }
    for link in links.iter().flatten() {
        if let Some(v) = read_trimmed(&format!("/proc/sys/net/ipv4/conf/{}/rp_filter", link.name)) {
            sysctls.insert(format!("net.ipv4.conf.{}.rp_filter", link.name), v);
        }
    }
    let api_bind = bind(config.api.listen);
    let bgp_bind = config.bgp.listen.map(bind);
    let anycastd_running = api_bind == Bind::InUse && rt.block_on(healthz(config.api.listen));
    let peers = if anycastd_running {
        rt.block_on(peers_of_running(config))
    } else {
        rt.block_on(probe_peers(config))
    };
    Ok(Facts {
        kernel_release,
        modules_loadable,
        modules,
        ipvs,
        cap_eff: read_cap_eff(),
        sysctls,
        links,
        addresses,
        api_bind,
        bgp_bind,
        anycastd_running,
        peers,
    })
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// `net.ipv4.ip_forward` → /proc/sys/net/ipv4/ip_forward.
fn read_sysctl(name: &str) -> Option<String> {
    read_trimmed(&format!("/proc/sys/{}", name.replace('.', "/")))
}

fn read_cap_eff() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_cap_eff(&status)
}

/// The `CapEff:` line of /proc/PID/status (hexadecimal).
pub fn parse_cap_eff(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

/// Names of the module files under /lib/modules/RELEASE (`kernel/**/NAME.ko[.xz|.zst|.gz]`),
/// and of the built-in ones (modules.builtin), as (on disk, built in).
struct ModuleFiles {
    on_disk: BTreeSet<String>,
    builtin: BTreeSet<String>,
}

fn modules_on_disk(release: &str) -> ModuleFiles {
    let root = Path::new("/lib/modules").join(release);
    let mut on_disk = BTreeSet::new();
    let mut stack = vec![
        root.join("kernel"),
        root.join("updates"),
        root.join("extra"),
    ];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(path);
            } else if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                if let Some(module) = module_name(name) {
                    on_disk.insert(module);
                }
            }
        }
    }
    let builtin = std::fs::read_to_string(root.join("modules.builtin"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.rsplit('/').next().and_then(module_name))
        .collect();
    ModuleFiles { on_disk, builtin }
}

/// `ip_vs_wrr.ko.xz` → `ip_vs_wrr`; dashes become underscores, as the kernel names modules.
fn module_name(file: &str) -> Option<String> {
    let stem = [".ko", ".ko.xz", ".ko.zst", ".ko.gz"]
        .iter()
        .find_map(|ext| file.strip_suffix(ext))?;
    Some(stem.replace('-', "_"))
}

fn module_state(name: &str, files: &ModuleFiles, loadable: bool) -> Module {
    let sys = Path::new("/sys/module").join(name);
    if sys.join("initstate").exists() {
        Module::Loaded
    } else if sys.exists() || files.builtin.contains(name) {
        Module::BuiltIn
    } else if loadable && files.on_disk.contains(name) {
        Module::OnDisk
    } else {
        Module::Absent
    }
}

fn read_ipvs() -> Ipvs {
    let mut sock = match IpvsSocket::open() {
        Ok(s) => s,
        Err(e) => return Ipvs::Unreadable(format!("generic netlink socket: {e}")),
    };
    match sock.family() {
        Ok(family) => Ipvs::Available {
            services: sock
                .dump_services(family)
                .map(|s| s.into_keys().collect())
                .map_err(|e| e.to_string()),
        },
        Err(IpvsError::Unavailable) => Ipvs::Unavailable,
        Err(e) => Ipvs::Unreadable(e.to_string()),
    }
}

/// Interfaces and addresses through the dataplane's own readers, so doctor sees the ownership
/// markers exactly as the reconciler does.
async fn read_links() -> (Result<Vec<Link>, String>, Result<Vec<Address>, String>) {
    let handle = match rtnetlink::new_connection() {
        Ok((conn, handle, _)) => {
            // Ends with the runtime, when doctor has read what it needs.
            tokio::spawn(conn);
            handle
        }
        Err(e) => {
            let e = format!("rtnetlink socket: {e}");
            return (Err(e.clone()), Err(e));
        }
    };
    let links = links::dump_links(&handle).await.map_err(|e| e.to_string());
    let addresses = match &links {
        Ok(l) => links::dump_addresses(&handle, l)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.clone()),
    };
    (links, addresses)
}

fn bind(addr: SocketAddr) -> Bind {
    match std::net::TcpListener::bind(addr) {
        Ok(_) => Bind::Free,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Bind::InUse,
        Err(e) => Bind::Error(io_text(&e)),
    }
}

/// "Cannot assign requested address (EADDRNOTAVAIL)", or the error as it prints.
fn io_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => crate::dataplane::ipvs::error::errno_text(n),
        None => e.to_string(),
    }
}

fn api_target(listen: SocketAddr) -> Option<crate::cli::client::ApiTarget> {
    use crate::cli::client;
    let (authority, prefix) = client::parse_url(&client::url_for_listen(listen)).ok()?;
    Some(client::ApiTarget {
        authority,
        prefix,
        token: None,
    })
}

/// `GET path` on the API within [`HEALTHZ_TIMEOUT`]: (status code, body).
async fn api_get(listen: SocketAddr, path: &str) -> Result<(u16, String), String> {
    use crate::cli::client::{self, Call};
    let target = api_target(listen).ok_or("no URL for api.listen")?;
    let call = Call::new(hyper::Method::GET, path);
    match tokio::time::timeout(HEALTHZ_TIMEOUT, client::request(&target, call)).await {
        Ok(Ok(answer)) => Ok((answer.code, answer.body)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no answer within {} s", HEALTHZ_TIMEOUT.as_secs())),
    }
}

async fn healthz(listen: SocketAddr) -> bool {
    matches!(api_get(listen, "/healthz").await, Ok((200, body)) if body.trim() == "ok")
}

/// The peers' session states from the running daemon's /status, instead of probing them.
async fn peers_of_running(config: &Config) -> BTreeMap<String, Probe> {
    let status = match api_get(config.api.listen, "/status").await {
        Ok((200, body)) => {
            serde_json::from_str::<crate::status::Status>(&body).map_err(|e| e.to_string())
        }
        Ok((code, _)) => Err(format!("GET /status answered {code}")),
        Err(e) => Err(e),
    };
    config
        .bgp
        .peers
        .iter()
        .map(|peer| {
            let address = peer.display_address();
            let probe = match &status {
                Err(e) => Probe::NotInStatus {
                    reason: Some(e.clone()),
                },
                Ok(status) => match status.peers.iter().find(|p| p.address == address) {
                    Some(p) => Probe::Running {
                        state: p.state.as_str().to_string(),
                        last_error: p.last_error.clone(),
                    },
                    None => Probe::NotInStatus { reason: None },
                },
            };
            (address, probe)
        })
        .collect()
}

/// Every active peer at once, each within [`PEER_TIMEOUT`] to connect and as long again for
/// its OPEN, connected exactly as a session connects (source address, TCP MD5, GTSM, the
/// interface of a link-local peer).
async fn probe_peers(config: &Config) -> BTreeMap<String, Probe> {
    let probes = config.bgp.peers.iter().map(|peer| async move {
        let probe = if peer.passive {
            Probe::Passive
        } else {
            match tokio::time::timeout(PEER_TIMEOUT, crate::bgp::connect_to_peer(peer.clone()))
                .await
            {
                Err(_) => Probe::TimedOut,
                Ok(Ok(stream)) => match stream.local_addr() {
                    Ok(local) => read_open(stream, local).await,
                    Err(e) => Probe::Failed(io_text(&e)),
                },
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Probe::Refused,
                Ok(Err(e)) => Probe::Failed(io_text(&e)),
            }
        };
        (peer.display_address(), probe)
    });
    futures::future::join_all(probes)
        .await
        .into_iter()
        .collect()
}

/// Waits for the peer's first message; the connection is closed when this returns.
async fn read_open(mut stream: tokio::net::TcpStream, local: SocketAddr) -> Probe {
    use crate::bgp::message::{frame, CodecContext, Message};
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::with_capacity(4096);
    let read = async {
        loop {
            match frame(&buf) {
                Ok(Some((kind, len))) => {
                    let body = &buf[crate::bgp::message::HEADER_LEN..len];
                    return match Message::decode(kind, body, &CodecContext::default()) {
                        Ok(Message::Open(open)) => Probe::Open {
                            local,
                            asn: open.asn(),
                            router_id: open.bgp_id,
                        },
                        Ok(Message::Notification(n)) => Probe::Closed {
                            local,
                            reason: Some(format!("NOTIFICATION {n}")),
                        },
                        _ => Probe::Silent { local },
                    };
                }
                Ok(None) => {}
                Err(_) => return Probe::Silent { local },
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) => {
                    return Probe::Closed {
                        local,
                        reason: None,
                    }
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => {
                    return Probe::Closed {
                        local,
                        reason: Some(io_text(&e)),
                    }
                }
            }
        }
    };
    tokio::time::timeout(PEER_TIMEOUT, read)
        .await
        .unwrap_or(Probe::Silent { local })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_eff_is_read_from_the_status_line() {
        let status = "Name:\tdoctor\nCapInh:\t0000000000000000\nCapEff:\t000001fffeffffff\n";
        assert_eq!(parse_cap_eff(status), Some(0x1fffeffffff));
        assert_eq!(parse_cap_eff("Name:\tx\n"), None);
    }

    #[test]
    fn module_file_names_are_kernel_module_names() {
        assert_eq!(module_name("ip_vs_wrr.ko").as_deref(), Some("ip_vs_wrr"));
        assert_eq!(module_name("ip_vs_mh.ko.xz").as_deref(), Some("ip_vs_mh"));
        assert_eq!(
            module_name("nf-conntrack.ko.zst").as_deref(),
            Some("nf_conntrack")
        );
        assert_eq!(module_name("modules.dep"), None);
    }
}
