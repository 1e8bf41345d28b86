//! The reconciler: one thread that owns the netlink sockets and the desired state.
//!
//! ```text
//!  Dataplane (handle) ──Command (mpsc)──▶ reconciler thread (current-thread tokio runtime)
//!                                          │  on SetDesired / Reconcile / every RECONCILE_INTERVAL:
//!                                          │    dump (rtnetlink links+addresses+local routes,
//!                                          │          IPVS genl)
//!                                          │      — or, on SetDesired, the cached view
//!                                          │    plan (pure, reconcile::plan)
//!                                          │    execute (links/addresses one by one,
//!                                          │             local routes batched,
//!                                          │             IPVS requests pipelined)
//!                                          │    cache = view + acknowledged ops
//!  reports() ◀──watch<DataplaneReport>─────┤    report per VIP
//!  passes()  ◀──watch<Pass>────────────────┘
//! ```
//!
//! Why a cache: a full dump costs one IPVS request per service (destinations are dumped per
//! service) — 1.8 s at 5000 services × 20 backends — while a weight change is one request.
//! A pass triggered by a new desired state therefore plans against the state the previous
//! pass left: its view of the kernel plus the ops the kernel acknowledged
//! ([`reconcile::mirror`]). Drift made behind anycastd's back is still found by the full dump
//! of the periodic tick (at most [`RECONCILE_INTERVAL`] after the last dump, however often the
//! desired state changes) and of an explicit `reconcile()`. The cache is dropped, so the next
//! pass dumps, whenever anything did not go as planned: a failed op, an op the view cannot
//! mirror (an IPVS op on a service it lacks), a kernel read or IPVS error, a shutdown pass.
//!
//! A dedicated thread, because network namespaces are per thread: the sockets are opened in
//! the namespace of the thread that called `Dataplane::start()` (the thread inherits it), and
//! the blocking IPVS socket never stalls the daemon's runtime.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::MissedTickBehavior;

use super::ipvs::{self, IpvsError, IpvsSocket, Request};
use super::reconcile::{self, IpvsOp, LinkOp, Op, Ownership, RouteOp, SysctlOp};
use super::routes::{self, RouteSocket};
use super::state::{ActualState, REHASH_SAFE_SYSCTLS, ROUTE_METRIC};
use super::{links, DataplaneReport, DesiredState};

/// How often the kernel is re-read and drift repaired without being asked.
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(10);

pub(super) enum Command {
    SetDesired(DesiredState, Option<oneshot::Sender<Arc<Pass>>>),
    Reconcile(oneshot::Sender<Arc<Pass>>),
    /// Reads the kernel and answers whether it holds anything anycastd owns.
    Survey(oneshot::Sender<bool>),
    Shutdown {
        cleanup: bool,
        done: oneshot::Sender<()>,
    },
}

/// What one reconcile pass did: for tests, logs and debugging.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// 1 for the first pass; 0 before any.
    pub number: u64,
    /// The planned ops, in execution order, with each one's outcome.
    pub ops: Vec<(Op, Result<(), String>)>,
    /// Why the kernel state could not be read, if it could not.
    pub error: Option<String>,
    /// Whether this pass read the kernel (links, addresses and every IPVS service and
    /// destination); false when it planned against the cached view of the previous pass.
    pub dumped: bool,
}

/// What the reconciler believes the kernel holds between passes (see the module comment).
struct View {
    actual: ActualState,
    /// The IPVS generic netlink family id; the view is only kept when IPVS was readable.
    family: u16,
}

struct Kernel {
    rtnl: Result<rtnetlink::Handle, String>,
    /// Local routes: dumps and batched changes (see [`routes`]).
    routes: Result<RouteSocket, String>,
    ipvs: Result<IpvsSocket, String>,
}

impl Kernel {
    fn open() -> Kernel {
        let rtnl = match rtnetlink::new_connection() {
            Ok((conn, handle, _)) => {
                // task: rtnetlink connection
                tokio::spawn(conn);
                Ok(handle)
            }
            Err(e) => Err(format!("rtnetlink socket could not be opened: {e}")),
        };
        let routes = RouteSocket::open()
            .map_err(|e| format!("rtnetlink route socket could not be opened: {e}"));
        let ipvs = IpvsSocket::open()
            .map_err(|e| format!("generic netlink socket could not be opened: {e}"));
        Kernel { rtnl, routes, ipvs }
    }
}

pub(super) struct Channels {
    pub commands: mpsc::UnboundedReceiver<Command>,
    pub reports: watch::Sender<Arc<DataplaneReport>>,
    pub passes: watch::Sender<Arc<Pass>>,
}

/// The thread body.
pub(super) fn run(channels: Channels) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("dataplane runtime could not be built: {e}");
            return;
        }
    };
    rt.block_on(reconciler(channels));
}

async fn reconciler(mut ch: Channels) {
    let mut kernel = Kernel::open();
    // Nothing is touched before the first desired state arrives: a restarted daemon must not
    // remove what it owns just because it does not know yet that it still wants it.
    let mut desired: Option<DesiredState> = None;
    let mut owned = Ownership::default();
    let mut number = 0u64;
    let mut view: Option<View> = None;
    let mut tick = tokio::time::interval(RECONCILE_INTERVAL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);

    loop {
        let mut replies = Vec::new();
        let mut shutdown = None;
        // Only a pass for a new desired state may trust the cached view.
        let mut full = false;
        tokio::select! {
            cmd = ch.commands.recv() => {
                let Some(cmd) = cmd else {
                    tracing::debug!("dataplane handle dropped: leaving the kernel as it is");
                    return;
                };
                // Coalesce whatever else is already queued into this one pass.
                let mut next = Some(cmd);
                while let Some(cmd) = next.take() {
                    match cmd {
                        Command::SetDesired(d, reply) => {
                            crate::fault::inject("dataplane");
                            desired = Some(d);
                            replies.extend(reply);
                        }
                        Command::Reconcile(reply) => {
                            full = true;
                            replies.push(reply);
                        }
                        Command::Survey(reply) => {
                            let found = match read_kernel(&mut kernel).await {
                                Ok((actual, _, _)) => actual.holds_own_state(),
                                Err(e) => {
                                    tracing::warn!("start-up survey: {e}");
                                    false
                                }
                            };
                            let _ = reply.send(found);
                        }
                        Command::Shutdown { cleanup, done } => {
                            shutdown = Some((cleanup, done));
                            break;
                        }
                    }
                    next = ch.commands.try_recv().ok();
                }
            }
            _ = tick.tick() => full = true,
        }
        if full {
            view = None;
        }

        if let Some((cleanup, done)) = shutdown {
            if !replies.is_empty() {
                if let Some(d) = &desired {
                    number += 1;
                    let pass = Arc::new(
                        reconcile_once(&mut kernel, &mut view, d, &mut owned, number, &ch.reports)
                            .await,
                    );
                    for r in replies {
                        let _ = r.send(pass.clone());
                    }
                }
            }
            if cleanup {
                tracing::info!("dataplane cleanup: removing what anycastd owns");
                number += 1;
                // Removal goes by what the kernel holds now, not by what was last seen.
                view = None;
                let pass = reconcile_once(
                    &mut kernel,
                    &mut view,
                    &DesiredState::default(),
                    &mut owned,
                    number,
                    &ch.reports,
                )
                .await;
                ch.passes.send_replace(Arc::new(pass));
            }
            let _ = done.send(());
            return;
        }

        let Some(d) = &desired else {
            // A reconcile asked before any desired state: answer with an empty pass.
            for r in replies {
                let _ = r.send(Arc::new(Pass::default()));
            }
            continue;
        };
        number += 1;
        let pass = Arc::new(
            reconcile_once(&mut kernel, &mut view, d, &mut owned, number, &ch.reports).await,
        );
        ch.passes.send_replace(pass.clone());
        for r in replies {
            let _ = r.send(pass.clone());
        }
        // The tick counts from the last dump, not from the last pass: passes on the cached
        // view, however frequent, must not postpone drift repair.
        if pass.dumped {
            tick.reset();
        }
    }
}

/// Reads the kernel, or says why it could not.
async fn read_kernel(
    kernel: &mut Kernel,
) -> Result<(ActualState, Option<u16>, Option<String>), String> {
    let handle = kernel.rtnl.as_ref().map_err(|e| e.clone())?;
    let links = links::dump_links(handle)
        .await
        .map_err(|e| format!("interfaces could not be read: {e}"))?;
    let addresses = links::dump_addresses(handle, &links)
        .await
        .map_err(|e| format!("addresses could not be read: {e}"))?;
    let routes = match &mut kernel.routes {
        Ok(sock) => sock
            .dump(&links)
            .map_err(|e| format!("local routes could not be read: {e}"))?,
        Err(e) => return Err(e.clone()),
    };
    let (ipvs, sync_daemons, family, ipvs_error) = match &mut kernel.ipvs {
        Err(e) => (None, vec![], None, Some(e.clone())),
        Ok(sock) => match sock
            .family()
            .and_then(|f| Ok((f, sock.dump_services(f)?, sock.dump_daemons(f)?)))
        {
            Ok((family, services, daemons)) => (Some(services), daemons, Some(family), None),
            Err(IpvsError::Unavailable) => {
                (None, vec![], None, Some(IpvsError::Unavailable.to_string()))
            }
            Err(e) => (
                None,
                vec![],
                None,
                Some(format!("IPVS state could not be read: {e}")),
            ),
        },
    };
    let ipvs_sysctls = match ipvs {
        Some(_) => read_ipvs_sysctls(),
        None => BTreeMap::new(),
    };
    Ok((
        ActualState {
            links,
            addresses,
            routes,
            ipvs,
            ipvs_sysctls,
            sync_daemons,
        },
        family,
        ipvs_error,
    ))
}

/// `/proc/sys/net/ipv4/vs/NAME`: opened by this thread, so in its network namespace.
fn ipvs_sysctl_path(name: &str) -> String {
    format!("/proc/sys/net/ipv4/vs/{name}")
}

/// The [`REHASH_SAFE_SYSCTLS`] that can be read (a kernel without one leaves it out).
fn read_ipvs_sysctls() -> BTreeMap<&'static str, u32> {
    REHASH_SAFE_SYSCTLS
        .iter()
        .filter_map(|(name, _)| {
            let text = std::fs::read_to_string(ipvs_sysctl_path(name)).ok()?;
            Some((*name, text.trim().parse().ok()?))
        })
        .collect()
}

fn write_ipvs_sysctl(op: &SysctlOp) -> Result<(), String> {
    let path = ipvs_sysctl_path(op.name);
    std::fs::write(&path, format!("{}\n", op.value)).map_err(|e| format!("{path}: {e}"))
}

/// One pass: plan against `view` when there is one (dumping the kernel otherwise), execute,
/// report, and leave in `view` the state the kernel should now be in, or `None` when that is
/// not known exactly.
async fn reconcile_once(
    kernel: &mut Kernel,
    view: &mut Option<View>,
    desired: &DesiredState,
    owned: &mut Ownership,
    number: u64,
    reports: &watch::Sender<Arc<DataplaneReport>>,
) -> Pass {
    let cached = view.take();
    let dumped = cached.is_none();
    let read = match cached {
        Some(v) => Ok((v.actual, Some(v.family), None)),
        None => read_kernel(kernel).await,
    };
    let (mut actual, family, ipvs_error) = match read {
        Ok(x) => x,
        Err(e) => {
            tracing::warn!(pass = number, "dataplane: {e}");
            let report = reconcile::report(desired, &[], None);
            let report = DataplaneReport {
                vips: report
                    .vips
                    .into_keys()
                    .map(|vip| (vip, Err(e.clone())))
                    .collect(),
                tables: BTreeMap::new(),
            };
            publish(reports, report);
            return Pass {
                number,
                ops: vec![],
                error: Some(e),
                dumped,
            };
        }
    };
    let plan = reconcile::plan(desired, &actual, owned);
    let outcomes = execute(kernel, family, plan).await;
    for (op, result) in &outcomes {
        match result {
            Ok(()) => tracing::info!(pass = number, "dataplane: {op}"),
            Err(e) => tracing::warn!(pass = number, "dataplane: {op} failed: {e}"),
        }
        match (op, result) {
            (Op::Ipvs(IpvsOp::AddService { key, .. }), Ok(())) => {
                owned.created_services.insert(*key);
            }
            (Op::Ipvs(IpvsOp::DelService { key }), Ok(())) => {
                owned.created_services.remove(key);
            }
            (Op::Ipvs(IpvsOp::StartSync(d)), Ok(())) => {
                owned.sync_daemons.insert(d.master);
            }
            (Op::Ipvs(IpvsOp::StopSync { master }), Ok(())) => {
                owned.sync_daemons.remove(master);
            }
            (Op::Sysctl(op), Ok(())) if op.restore => {
                owned.sysctls.remove(op.name);
            }
            (Op::Sysctl(op), Ok(())) => {
                if let Some(was) = op.was {
                    owned.sysctls.entry(op.name).or_insert((was, op.value));
                }
            }
            _ => {}
        }
    }
    // The kernel now: what was read, with the ops it acknowledged.
    let all_ok = outcomes.iter().all(|(_, r)| r.is_ok());
    let done: Vec<&Op> = outcomes
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(op, _)| op)
        .collect();
    let exact = reconcile::mirror(&mut actual, &done);
    // A sync daemon running as configured is ours to stop when the config drops it.
    for d in &desired.sync_daemons {
        if actual.sync_daemons.contains(d) {
            owned.sync_daemons.insert(d.master);
        }
    }
    let mut report = reconcile::report(desired, &outcomes, ipvs_error.as_deref());
    report.tables = actual
        .ipvs
        .iter()
        .flatten()
        .filter_map(|(key, s)| Some((*key, s.table_fingerprint()?)))
        .collect();
    publish(reports, report);
    // Keep the view only when every op went through and can be mirrored exactly, and IPVS was
    // readable (an unreadable IPVS is retried by dumping again).
    *view = match (family, ipvs_error) {
        (Some(family), None) if all_ok && exact => Some(View { actual, family }),
        _ => None,
    };
    Pass {
        number,
        ops: outcomes,
        error: None,
        dumped,
    }
}

fn publish(reports: &watch::Sender<Arc<DataplaneReport>>, report: DataplaneReport) {
    reports.send_if_modified(|current| {
        if **current == report {
            false
        } else {
            *current = Arc::new(report);
            true
        }
    });
}

/// Applies the ops in order; consecutive IPVS ops go to the kernel as one pipelined batch,
/// consecutive local route ops as datagrams of many requests.
async fn execute(
    kernel: &mut Kernel,
    family: Option<u16>,
    plan: Vec<Op>,
) -> Vec<(Op, Result<(), String>)> {
    let mut out: Vec<(Op, Result<(), String>)> = Vec::with_capacity(plan.len());
    let mut batch: Vec<IpvsOp> = Vec::new();
    let mut route_batch: Vec<RouteOp> = Vec::new();
    // VIPs whose new address or route failed: their old binding stays (reconcile::held_back).
    let mut failed = HashSet::new();
    for op in plan {
        if !matches!(op, Op::Route(_)) && !route_batch.is_empty() {
            let from = out.len();
            execute_routes(kernel, std::mem::take(&mut route_batch), &mut out).await;
            note_failed_adds(&out[from..], &mut failed);
        }
        if let Some(why) = reconcile::held_back(&op, &failed) {
            execute_ipvs(kernel, family, std::mem::take(&mut batch), &mut out);
            out.push((op, Err(why)));
            continue;
        }
        match op {
            Op::Ipvs(op) => batch.push(op),
            Op::Sysctl(op) => {
                execute_ipvs(kernel, family, std::mem::take(&mut batch), &mut out);
                let result = write_ipvs_sysctl(&op);
                out.push((Op::Sysctl(op), result));
            }
            Op::Route(op) => {
                execute_ipvs(kernel, family, std::mem::take(&mut batch), &mut out);
                route_batch.push(op);
            }
            Op::Link(op) => {
                execute_ipvs(kernel, family, std::mem::take(&mut batch), &mut out);
                let result = match &kernel.rtnl {
                    Err(e) => Err(e.clone()),
                    Ok(h) => execute_link(h, &op).await,
                };
                out.push((Op::Link(op), result));
                note_failed_adds(&out[out.len() - 1..], &mut failed);
            }
        }
    }
    execute_routes(kernel, route_batch, &mut out).await;
    execute_ipvs(kernel, family, batch, &mut out);
    out
}

/// `local route 10.100.0.1/32 dev anycast0 could not be added: WHY`, as address errors read.
fn route_error(op: &RouteOp, why: &str) -> String {
    let (interface, address, verb) = match op {
        RouteOp::Add { interface, address } => (interface, address, "added"),
        RouteOp::Del {
            interface, address, ..
        } => (interface, address, "deleted"),
    };
    let len = reconcile::host_prefix(address);
    format!("local route {address}/{len} dev {interface} could not be {verb}: {why}")
}

fn note_failed_adds(outcomes: &[(Op, Result<(), String>)], failed: &mut HashSet<IpAddr>) {
    for (op, result) in outcomes {
        if let (Some(vip), Err(_)) = (reconcile::binding_added(op), result) {
            failed.insert(vip);
        }
    }
}

/// Sends `batch` as batched route requests (interfaces resolved by one link dump), appending
/// each op with its outcome to `out`.
async fn execute_routes(
    kernel: &mut Kernel,
    batch: Vec<RouteOp>,
    out: &mut Vec<(Op, Result<(), String>)>,
) {
    if batch.is_empty() {
        return;
    }
    let indexes: Result<std::collections::HashMap<String, u32>, String> = match &kernel.rtnl {
        Err(e) => Err(e.clone()),
        Ok(h) => links::dump_links(h)
            .await
            .map(|ls| ls.into_iter().map(|l| (l.name, l.index)).collect())
            .map_err(|e| format!("interfaces could not be read: {e}")),
    };
    let (sock, indexes) = match (&mut kernel.routes, indexes) {
        (Ok(sock), Ok(indexes)) => (sock, indexes),
        (Err(e), _) => {
            let e = e.clone();
            out.extend(batch.into_iter().map(|op| (Op::Route(op), Err(e.clone()))));
            return;
        }
        (_, Err(e)) => {
            out.extend(batch.into_iter().map(|op| (Op::Route(op), Err(e.clone()))));
            return;
        }
    };
    // Adds whose interface is missing fail here; the rest go to the kernel.
    let mut results: Vec<Option<Result<(), String>>> = vec![None; batch.len()];
    let mut requests = Vec::with_capacity(batch.len());
    let mut sent = Vec::with_capacity(batch.len());
    for (i, op) in batch.iter().enumerate() {
        let (change, interface, address, metric) = match op {
            RouteOp::Add { interface, address } => {
                (routes::Change::Add, interface, *address, ROUTE_METRIC)
            }
            RouteOp::Del {
                interface,
                address,
                metric,
            } => (routes::Change::Del, interface, *address, *metric),
        };
        let oif = indexes.get(interface.as_str()).copied();
        if oif.is_none() && change == routes::Change::Add {
            let why = format!("interface {interface} not found");
            results[i] = Some(Err(route_error(op, &why)));
            continue;
        }
        requests.push(routes::Request {
            change,
            address,
            oif,
            metric,
        });
        sent.push(i);
    }
    for (i, result) in sent.into_iter().zip(sock.execute(&requests)) {
        let op = &batch[i];
        results[i] = Some(match result {
            Ok(()) => Ok(()),
            // Already gone (its interface deleted, say): what the delete wanted.
            Err(n) if matches!(op, RouteOp::Del { .. }) && n.errno == libc::ESRCH => Ok(()),
            Err(n) => Err(route_error(op, &n.to_string())),
        });
    }
    out.extend(
        batch
            .into_iter()
            .zip(results)
            .map(|(op, r)| (Op::Route(op), r.unwrap_or(Ok(())))),
    );
}

/// Sends `batch` to IPVS pipelined, appending each op with its outcome to `out`.
fn execute_ipvs(
    kernel: &mut Kernel,
    family: Option<u16>,
    batch: Vec<IpvsOp>,
    out: &mut Vec<(Op, Result<(), String>)>,
) {
    if batch.is_empty() {
        return;
    }
    let results: Vec<Result<(), String>> = match (&mut kernel.ipvs, family) {
        (Ok(sock), Some(family)) => {
            let requests: Vec<Request<'_>> = batch.iter().map(Request::from).collect();
            sock.execute(family, &requests)
                .into_iter()
                .zip(&batch)
                .map(|(r, op)| r.map_err(|e| ipvs::describe(op, &e)))
                .collect()
        }
        _ => batch
            .iter()
            .map(|op| Err(ipvs::describe(op, &IpvsError::Unavailable)))
            .collect(),
    };
    out.extend(batch.into_iter().map(Op::Ipvs).zip(results));
}

async fn execute_link(h: &rtnetlink::Handle, op: &LinkOp) -> Result<(), String> {
    match op {
        LinkOp::AddLink { name } => links::add_link(h, name).await,
        LinkOp::SetLinkUp { name } => links::set_link_up(h, name).await,
        LinkOp::DelLink { name } => links::del_link(h, name).await,
        LinkOp::AddAddress { interface, address } => {
            links::add_address(h, interface, *address).await
        }
        LinkOp::DelAddress {
            interface,
            address,
            prefix_len,
        } => links::del_address(h, interface, *address, *prefix_len).await,
    }
}
