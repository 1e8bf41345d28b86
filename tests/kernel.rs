//! Kernel tests of the dataplane: real dummy interfaces, real addresses, real IPVS.
//!
//! The build host's kernel has neither IPVS nor dummy interfaces, so every test here is
//! ignored by a plain `cargo test`. Run them in the QEMU lab (a Debian kernel with the
//! modules loaded):
//!
//! ```text
//! labs/qemu/run -- cargo test --test kernel -- --ignored
//! ```
//!
//! Inside the lab they must pass; where IPVS or dummy interfaces are missing they fail (never
//! skip). The one test that needs neither (a VIP on `lo` with no services) runs everywhere. Each test runs in its own network namespace (a thread unshared into a fresh netns,
//! which also holds the dataplane's thread and every command the test runs), so they run in
//! parallel and everything they create disappears with the namespace, even on failure.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::IpAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anycastd::config::{Forwarding, Protocol, SchedulerFlags};
use anycastd::dataplane::state::SyncDaemon;
use anycastd::dataplane::{
    Dataplane, DataplaneReport, DesiredState, Destination, IpvsOp, Op, Pass, RouteOp, VipAddress,
    VirtualService,
};

const LAB: &str = "needs IPVS and dummy interfaces: run with labs/qemu/run";

/// Runs `body` on a thread of its own in a new network namespace, with a current-thread
/// runtime, and fails the test if it panics or takes over a minute.
fn in_netns<F, Fut>(body: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    in_netns_with(true, body)
}

/// As [`in_netns`]; `lab` says whether the test needs IPVS and dummy interfaces.
fn in_netns_with<F, Fut>(lab: bool, body: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let t = std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .expect("unshare(CLONE_NEWNET): are we root?");
        if lab {
            require_lab();
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            tokio::time::timeout(Duration::from_secs(60), body())
                .await
                .expect("test timed out")
        });
    });
    if let Err(panic) = t.join() {
        std::panic::resume_unwind(panic);
    }
}

/// Fails (never skips) when the kernel lacks what these tests exist to test.
fn require_lab() {
    let dummy = Command::new("ip")
        .args(["link", "add", "probe0", "type", "dummy"])
        .output()
        .expect("ip");
    assert!(
        dummy.status.success(),
        "this kernel cannot create dummy interfaces ({}): {LAB}",
        String::from_utf8_lossy(&dummy.stderr).trim()
    );
    sh("ip link del probe0");
    let ipvs = Command::new("ipvsadm")
        .arg("-Ln")
        .output()
        .expect("ipvsadm");
    assert!(
        ipvs.status.success(),
        "this kernel has no IPVS ({}): {LAB}",
        String::from_utf8_lossy(&ipvs.stderr).trim()
    );
}

/// Runs a shell command in the test's namespace; it must succeed.
fn sh(cmd: &str) -> String {
    let out = Command::new("sh").args(["-c", cmd]).output().expect("sh");
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether a shell command succeeds.
fn sh_ok(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// `ipvsadm -Ln` as a set of "SERVICE | DEST FWD WEIGHT" lines ("SERVICE |" for a service
/// without destinations), whitespace collapsed, so order does not matter.
fn ipvs_table() -> BTreeSet<String> {
    let text = sh("ipvsadm -Ln");
    let mut out = BTreeSet::new();
    let mut service: Option<String> = None;
    let mut service_had_dest = false;
    for line in text.lines().skip(3) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        if words[0] == "->" {
            if let Some(s) = &service {
                out.insert(format!("{s} | {} {} {}", words[1], words[2], words[3]));
                service_had_dest = true;
            }
        } else {
            if let (Some(s), false) = (&service, service_had_dest) {
                out.insert(format!("{s} |"));
            }
            service = Some(words.join(" "));
            service_had_dest = false;
        }
    }
    if let (Some(s), false) = (&service, service_had_dest) {
        out.insert(format!("{s} |"));
    }
    out
}

fn set(lines: &[&str]) -> BTreeSet<String> {
    lines.iter().map(|s| s.to_string()).collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn vip(interface: &str, address: &str) -> VipAddress {
    VipAddress {
        interface: interface.into(),
        address: ip(address),
    }
}

fn svc(vip: &str, port: u16, scheduler: &str, dests: &[(&str, u16, u32)]) -> VirtualService {
    VirtualService {
        vip: ip(vip),
        port,
        protocol: Protocol::Tcp,
        scheduler: scheduler.into(),
        persistence: 0,
        flags: Default::default(),
        rehash_safe: false,
        destinations: dests
            .iter()
            .map(|(a, p, w)| Destination {
                address: ip(a),
                port: *p,
                weight: *w,
                forwarding: Forwarding::Masq,
            })
            .collect(),
    }
}

fn assert_all_ok(pass: &Arc<Pass>) {
    let failed: Vec<_> = pass.ops.iter().filter(|(_, r)| r.is_err()).collect();
    assert!(failed.is_empty(), "ops failed: {failed:#?}");
    assert_eq!(pass.error, None);
}

fn report(dp: &Dataplane) -> Arc<DataplaneReport> {
    dp.reports().borrow().clone()
}

/// Three VIPs with a service each, four backends per service.
fn three_by_four() -> DesiredState {
    let mut d = DesiredState::default();
    for i in 1..=3 {
        let v = format!("10.100.0.{i}");
        d.addresses.push(vip("anycast0", &v));
        let backends: Vec<(String, u16, u32)> = (1..=4)
            .map(|b| (format!("10.0.{i}.{b}"), 8080, b * 10))
            .collect();
        let refs: Vec<(&str, u16, u32)> = backends
            .iter()
            .map(|(a, p, w)| (a.as_str(), *p, *w))
            .collect();
        d.services.push(svc(&v, 80, "wrr", &refs));
    }
    d
}

fn three_by_four_table() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for i in 1..=3 {
        for b in 1..=4 {
            out.insert(format!(
                "TCP 10.100.0.{i}:80 wrr | 10.0.{i}.{b}:8080 Masq {}",
                b * 10
            ));
        }
    }
    out
}

#[test]
#[ignore = "needs IPVS and dummy interfaces: run with labs/qemu/run"]
fn n_services_with_m_backends_are_programmed_exactly() {
    in_netns(|| async {
        let dp = Dataplane::start();
        let pass = dp.apply(three_by_four()).await;
        assert_all_ok(&pass);
        // 1 link + 3 addresses + 3 services + 12 dests.
        assert_eq!(pass.ops.len(), 19, "{:#?}", pass.ops);
        assert_eq!(ipvs_table(), three_by_four_table());
        let link = sh("ip -d link show anycast0");
        assert!(
            link.contains("dummy") && link.contains("alias anycastd"),
            "{link}"
        );
        assert!(link.contains(",UP"), "{link}");
        let addrs = sh("ip -o -4 addr show dev anycast0");
        for i in 1..=3 {
            assert!(addrs.contains(&format!("10.100.0.{i}/32")), "{addrs}");
        }
        let r = report(&dp);
        assert_eq!(r.vips.len(), 3);
        assert!(r.vips.values().all(|v| v.is_ok()), "{r:?}");
        // Stopping without cleanup leaves everything in place.
        dp.shutdown(false).await;
        assert_eq!(ipvs_table(), three_by_four_table());
        assert!(sh("ip -o -4 addr show dev anycast0").contains("10.100.0.3/32"));
    });
}

/// Sets backend 10.0.2.3 of [`three_by_four`]'s second service to weight 0; the table that
/// goes with it.
fn zero_one_weight(desired: &mut DesiredState) -> BTreeSet<String> {
    desired.services[1].destinations[2].weight = 0;
    let mut expected = three_by_four_table();
    expected.remove("TCP 10.100.0.2:80 wrr | 10.0.2.3:8080 Masq 30");
    expected.insert("TCP 10.100.0.2:80 wrr | 10.0.2.3:8080 Masq 0".into());
    expected
}

#[test]
#[ignore = "needs IPVS and dummy interfaces: run with labs/qemu/run"]
fn a_weight_change_reaches_the_kernel_with_one_op() {
    in_netns(|| async {
        let dp = Dataplane::start();
        let mut desired = three_by_four();
        assert_all_ok(&dp.apply(desired.clone()).await);
        let expected = zero_one_weight(&mut desired);
        let pass = dp.apply(desired).await;
        assert_all_ok(&pass);
        // One netlink request (the op) and no read-back: the pass planned against the view
        // the previous pass left.
        assert_eq!(pass.ops.len(), 1, "{:#?}", pass.ops);
        assert!(matches!(pass.ops[0].0, Op::Ipvs(IpvsOp::EditDest { .. })));
        assert!(!pass.dumped, "a weight change must not dump the kernel");
        assert_eq!(ipvs_table(), expected);
        dp.shutdown(false).await;
    });
}

/// Issue 17's scheduler flags reach the kernel as ipvsadm shows them (`mh (mh-fallback,mh-port)`,
/// `ops` on UDP), a change of flags is one edit of the service, and a restarted dataplane reads
/// them back and changes nothing.
#[test]
#[ignore = "needs IPVS and dummy interfaces: run with labs/qemu/run"]
fn scheduler_flags_reach_the_kernel_and_are_read_back() {
    in_netns(|| async {
        let dp = Dataplane::start();
        let mut desired = DesiredState::default();
        desired.addresses.push(vip("anycast0", "10.100.0.1"));
        let mut mh = svc("10.100.0.1", 80, "mh", &[("10.0.1.1", 8080, 1)]);
        mh.flags = SchedulerFlags {
            fallback: true,
            port: true,
            one_packet: false,
        };
        let mut udp = svc("10.100.0.1", 53, "sh", &[("10.0.1.1", 53, 1)]);
        udp.protocol = Protocol::Udp;
        udp.flags = SchedulerFlags {
            fallback: true,
            port: false,
            one_packet: true,
        };
        desired.services = vec![mh, udp];
        assert_all_ok(&dp.apply(desired.clone()).await);
        let listing = sh("ipvsadm -Ln");
        assert!(
            listing.contains("TCP  10.100.0.1:80 mh (mh-fallback,mh-port)"),
            "{listing}"
        );
        assert!(
            listing.contains("UDP  10.100.0.1:53 sh (sh-fallback) ops"),
            "{listing}"
        );

        desired.services[0].flags.port = false;
        let pass = dp.apply(desired.clone()).await;
        assert_all_ok(&pass);
        assert_eq!(pass.ops.len(), 1, "{:#?}", pass.ops);
        assert!(matches!(
            pass.ops[0].0,
            Op::Ipvs(IpvsOp::EditService { .. })
        ));
        let listing = sh("ipvsadm -Ln");
        assert!(
            listing.contains("TCP  10.100.0.1:80 mh (mh-fallback)"),
            "{listing}"
        );
        dp.shutdown(false).await;

        let again = Dataplane::start();
        let pass = again.apply(desired).await;
        assert_all_ok(&pass);
        assert!(pass.ops.is_empty(), "adopted as is: {:#?}", pass.ops);
        again.shutdown(false).await;
    });
}

/// The destinations of 10.100.0.1:80 in the order `ipvsadm -Ln --nosort` lists them (the kernel's
/// list order).
fn listed_dests() -> Vec<String> {
    sh("ipvsadm -Ln --nosort -t 10.100.0.1:80")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-> "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|d| !d.starts_with("RemoteAddress"))
        .map(str::to_string)
        .collect()
}

/// The backend mh picks for each of `sources` (local addresses): one connection attempt from
/// each to 10.100.0.1:80 (IPVS schedules local clients too), then its entry in the connection
/// table. The backends do not exist: only the choice is looked at.
async fn mh_choices(sources: &[IpAddr]) -> Vec<String> {
    let mut ports = Vec::new();
    let mut attempts = Vec::new();
    for src in sources {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind(std::net::SocketAddr::new(*src, 0)).unwrap();
        ports.push(sock.local_addr().unwrap());
        attempts.push(sock.connect("10.100.0.1:80".parse().unwrap()));
    }
    // All at once: each SYN goes out (and is scheduled) when its attempt is first polled;
    // nothing answers them.
    let _ = tokio::time::timeout(
        Duration::from_millis(200),
        futures::future::join_all(attempts),
    )
    .await;
    let conns = sh("ipvsadm -Lnc");
    ports
        .iter()
        .map(|local| {
            let from = local.to_string();
            conns
                .lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
                .find(|w| w.len() >= 6 && w[3] == from)
                .map(|w| w[5].to_string())
                .unwrap_or_else(|| panic!("no IPVS connection from {from}:\n{conns}"))
        })
        .collect()
}

/// Issue 17: nodes with the same backends must have the same mh lookup table, whatever their
/// history. The kernel adds a destination at the head of the service's list and mh builds its
/// table from that list, so a list in another order is another table: this test shows that
/// on the real kernel (a hand-made list in another order picks other backends for some
/// clients), and that the dataplane puts such a list into the one canonical order, where the
/// choices equal those of a service it programmed from scratch and the fingerprints in its
/// report match.
#[test]
#[ignore = "needs IPVS and dummy interfaces: run with labs/qemu/run"]
fn mh_tables_are_the_same_whatever_the_history_and_fingerprinted() {
    in_netns(|| async {
        sh("ip link set lo up");
        sh("ip link add anycast0 type dummy && ip link set anycast0 up");
        // The backends' network, so that the scheduled SYNs have somewhere to go.
        sh("ip route add 10.0.1.0/24 dev anycast0");
        // Enough clients to land on most of the table's 251 slots: another order changes
        // only the slots that backends contend for.
        let sources: Vec<IpAddr> = (0..400)
            .map(|i| ip(&format!("10.200.{}.{}", i / 200, 1 + i % 200)))
            .collect();
        let batch: String = sources
            .iter()
            .map(|src| format!("addr add {src}/32 dev anycast0\n"))
            .collect();
        std::fs::write("/tmp/anycastd-mh-sources", batch).unwrap();
        sh("ip -batch /tmp/anycastd-mh-sources");
        let backends: Vec<(&str, u16, u32)> = (1..=5)
            .map(|i| {
                (
                    ["10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.1.4", "10.0.1.5"][i - 1],
                    8080,
                    1,
                )
            })
            .collect();
        let canonical: Vec<String> = backends
            .iter()
            .map(|(a, p, _)| format!("{a}:{p}"))
            .collect();
        let mut desired = DesiredState::default();
        desired.addresses.push(vip("anycast0", "10.100.0.1"));
        desired.services = vec![svc("10.100.0.1", 80, "mh", &backends)];

        // By hand, in another order. The kernel lists the last added first (the planner's
        // Service::order).
        sh("ip addr add 10.100.0.1/32 dev anycast0");
        sh("ipvsadm -A -t 10.100.0.1:80 -s mh");
        for d in ["10.0.1.3", "10.0.1.1", "10.0.1.5", "10.0.1.2", "10.0.1.4"] {
            sh(&format!("ipvsadm -a -t 10.100.0.1:80 -r {d}:8080 -m -w 1"));
        }
        assert_eq!(
            listed_dests(),
            [
                "10.0.1.4:8080",
                "10.0.1.2:8080",
                "10.0.1.5:8080",
                "10.0.1.1:8080",
                "10.0.1.3:8080"
            ],
            "the kernel adds destinations at the head of the list"
        );
        let by_hand = mh_choices(&sources).await;

        // The dataplane adopts the service and puts its list in canonical order.
        let dp = Dataplane::start();
        let pass = dp.apply(desired.clone()).await;
        assert_all_ok(&pass);
        assert_eq!(listed_dests(), canonical, "{:#?}", pass.ops);
        let reordered = mh_choices(&sources).await;
        let fp_reordered = report(&dp).tables.values().next().cloned();
        assert!(fp_reordered.is_some(), "an mh service has a fingerprint");
        let differ = by_hand
            .iter()
            .zip(&reordered)
            .filter(|(a, b)| a != b)
            .count();
        eprintln!(
            "the list order changed the backend of {differ} of {} clients",
            sources.len()
        );
        assert!(
            differ > 0,
            "the same backends in another list order are another table"
        );

        // Programmed from scratch: the same list, the same choices, the same fingerprint.
        sh("ipvsadm -D -t 10.100.0.1:80");
        assert_all_ok(&dp.reconcile().await);
        assert_eq!(listed_dests(), canonical);
        let fresh = mh_choices(&sources).await;
        assert_eq!(fresh, reordered, "same backends and weights, same table");
        assert_eq!(report(&dp).tables.values().next().cloned(), fp_reordered);
        // Every backend is in use, so the comparison above covers each.
        assert_eq!(fresh.iter().collect::<BTreeSet<_>>().len(), 5, "{fresh:?}");

        // A backend added later lands where a from-scratch node has it too.
        let mut six = desired.clone();
        six.services[0].destinations.insert(
            0,
            Destination {
                address: ip("10.0.1.0"),
                port: 8080,
                weight: 1,
                forwarding: Forwarding::Masq,
            },
        );
        assert_all_ok(&dp.apply(six).await);
        let mut expected = vec!["10.0.1.0:8080".to_string()];
        expected.extend(canonical);
        assert_eq!(listed_dests(), expected);
        dp.shutdown(false).await;
    });
}

/// Issue 17: a rehash_safe service makes the dataplane set the sloppy sysctls (and the ICMP and
/// expire ones) in its namespace; once no service needs them it puts back what it found, and a
/// value it did not change is never touched.
#[test]
#[ignore = "needs IPVS and dummy interfaces: run with labs/qemu/run"]
fn rehash_safe_sets_the_ipvs_sysctls_and_puts_back_only_what_it_changed() {
    in_netns(|| async {
        let read = |name: &str| {
            sh(&format!("cat /proc/sys/net/ipv4/vs/{name}"))
                .trim()
                .to_string()
        };
        let dp = Dataplane::start();
        let mut desired = DesiredState::default();
        desired.addresses.push(vip("anycast0", "10.100.0.1"));
        let mut svc = svc("10.100.0.1", 80, "mh", &[("10.0.1.1", 8080, 1)]);
        svc.destinations[0].forwarding = Forwarding::Tunnel;
        desired.services = vec![svc];
        assert_all_ok(&dp.apply(desired.clone()).await);
        // IPVS is loaded now; the operator had set schedule_icmp already.
        sh("echo 1 > /proc/sys/net/ipv4/vs/schedule_icmp");
        assert_eq!(read("sloppy_tcp"), "0", "the kernel's default");
        // Sysctls are read with the rest of the kernel's state, on a full pass.
        assert_all_ok(&dp.reconcile().await);

        desired.services[0].rehash_safe = true;
        let pass = dp.apply(desired.clone()).await;
        assert_all_ok(&pass);
        for name in [
            "sloppy_tcp",
            "sloppy_sctp",
            "schedule_icmp",
            "expire_nodest_conn",
        ] {
            assert_eq!(read(name), "1", "{name}: {:#?}", pass.ops);
        }
        let sets = pass
            .ops
            .iter()
            .filter(|(op, _)| matches!(op, Op::Sysctl(_)))
            .count();
        assert_eq!(sets, 3, "schedule_icmp was already 1: {:#?}", pass.ops);
        // Adopted on the periodic read: nothing more to do.
        let pass = dp.reconcile().await;
        assert!(pass.ops.is_empty(), "{:#?}", pass.ops);

        desired.services[0].rehash_safe = false;
        assert_all_ok(&dp.apply(desired.clone()).await);
        assert_eq!(read("sloppy_tcp"), "0");
        assert_eq!(read("sloppy_sctp"), "0");
        assert_eq!(read("expire_nodest_conn"), "0");
        assert_eq!(read("schedule_icmp"), "1", "not ours to put back");
        dp.shutdown(false).await;
    });
}

/// Issue 17's `[ipvs.sync]`: the dataplane starts the kernel's master and backup sync daemons
/// on the configured interface (as ipvsadm --start-daemon would), adopts them after a
/// restart, restarts one whose sync id changed, and stops the ones it owns when the config
/// drops them, leaving a daemon it did not start alone.
#[test]
#[ignore = "needs IPVS and dummy interfaces: run with labs/qemu/run"]
fn sync_daemons_follow_the_config_and_only_ours_are_stopped() {
    in_netns(|| async {
        sh("ip link add sync0 type veth peer name sync1");
        sh("ip link set sync0 up && ip link set sync1 up");
        let daemon = |master, sync_id| SyncDaemon {
            master,
            interface: "sync0".into(),
            sync_id,
        };
        let mut desired = DesiredState::default();
        desired.addresses.push(vip("anycast0", "10.100.0.1"));
        desired.services = vec![svc("10.100.0.1", 80, "mh", &[("10.0.1.1", 8080, 1)])];
        desired.sync_daemons = vec![daemon(true, 5), daemon(false, 5)];
        let dp = Dataplane::start();
        assert_all_ok(&dp.apply(desired.clone()).await);
        let running = sh("ipvsadm -L --daemon");
        assert!(
            running.contains("master sync daemon (mcast=sync0, syncid=5"),
            "{running}"
        );
        assert!(
            running.contains("backup sync daemon (mcast=sync0, syncid=5"),
            "{running}"
        );
        dp.shutdown(false).await;

        // A restart adopts them as they are.
        let dp = Dataplane::start();
        let pass = dp.apply(desired.clone()).await;
        assert_all_ok(&pass);
        assert!(pass.ops.is_empty(), "{:#?}", pass.ops);

        // Another sync id for the backup: stopped and started again; the master untouched.
        desired.sync_daemons[1].sync_id = 6;
        let pass = dp.apply(desired.clone()).await;
        assert_all_ok(&pass);
        assert_eq!(pass.ops.len(), 2, "{:#?}", pass.ops);
        let running = sh("ipvsadm -L --daemon");
        assert!(
            running.contains("master sync daemon (mcast=sync0, syncid=5"),
            "{running}"
        );
        assert!(
            running.contains("backup sync daemon (mcast=sync0, syncid=6"),
            "{running}"
        );

        // [ipvs.sync] removed: both were ours (adopted or started), both stop.
        desired.sync_daemons.clear();
        assert_all_ok(&dp.apply(desired.clone()).await);
        assert_eq!(sh("ipvsadm -L --daemon").trim(), "");
        dp.shutdown(false).await;

        // One started by hand is not ours: a dataplane without [ipvs.sync] leaves it running.
        sh("ipvsadm --start-daemon master --mcast-interface sync1 --syncid 9");
        let dp = Dataplane::start();
        assert_all_ok(&dp.apply(desired.clone()).await);
        assert!(sh("ipvsadm -L --daemon").contains("mcast=sync1, syncid=9"));
        dp.shutdown(false).await;
        sh("ipvsadm --stop-daemon master");
    });
}

#[test]
#[ignore = "needs IPVS and dummy interfaces: run with labs/qemu/run"]
fn a_service_deleted_with_ipvsadm_is_repaired_by_the_next_pass() {
    in_netns(|| async {
        let dp = Dataplane::start();
        assert_all_ok(&dp.apply(three_by_four()).await);
        sh("ipvsadm -D -t 10.100.0.2:80");
        sh("ipvsadm -e -t 10.100.0.3:80 -r 10.0.3.1:8080 -m -w 99");
        sh("ip addr del 10.100.0.1/32 dev anycast0");
        // What the periodic tick runs.
        let pass = dp.reconcile().await;
        assert_all_ok(&pass);
        assert!(pass.dumped, "reconcile() reads the kernel");
        // The address, the service with its 4 dests, and the one weight.
        assert_eq!(pass.ops.len(), 1 + 1 + 4 + 1, "{:#?}", pass.ops);
        assert_eq!(ipvs_table(), three_by_four_table());
        assert!(sh("ip -o -4 addr show dev anycast0").contains("10.100.0.1/32"));
        // And a second pass has nothing left to do.
        assert_eq!(dp.reconcile().await.ops, vec![]);
        dp.shutdown(false).await;
    });
}

#[test]
#[ignore = "needs IPVS and dummy interfaces: run with labs/qemu/run"]
fn an_op_failing_on_the_cached_view_makes_the_next_pass_dump_and_repair() {
    in_netns(|| async {
        let dp = Dataplane::start();
        let mut desired = three_by_four();
        let first = dp.apply(desired.clone()).await;
        assert_all_ok(&first);
        assert!(first.dumped);
        // Behind the reconciler's back: its view still has the service.
        sh("ipvsadm -D -t 10.100.0.2:80");
        let expected = zero_one_weight(&mut desired);
        let failed = dp.apply(desired.clone()).await;
        assert!(!failed.dumped);
        assert_eq!(failed.ops.len(), 1, "{:#?}", failed.ops);
        assert!(failed.ops[0].1.is_err(), "{:#?}", failed.ops);
        // The failure dropped the view: the next pass reads the kernel and recreates it.
        let repaired = dp.apply(desired).await;
        assert!(repaired.dumped);
        assert_all_ok(&repaired);
        assert_eq!(repaired.ops.len(), 1 + 4, "{:#?}", repaired.ops);
        assert_eq!(ipvs_table(), expected);
        dp.shutdown(false).await;
    });
}

#[test]
#[ignore = "needs IPVS and dummy interfaces: run with labs/qemu/run"]
fn a_restarted_dataplane_adopts_the_kernel_state_with_zero_ops() {
    in_netns(|| async {
        let dp = Dataplane::start();
        assert_all_ok(&dp.apply(three_by_four()).await);
        drop(dp);
        let dp = Dataplane::start();
        let pass = dp.apply(three_by_four()).await;
        assert_eq!(pass.ops, vec![], "a restart must not flush or reprogram");
        assert_eq!(ipvs_table(), three_by_four_table());
        assert!(report(&dp).vips.values().all(|v| v.is_ok()));
        // The restarted instance still knows what is its own (the markers are in the kernel:
        // ifalias on the link, IFA_PROTO on the addresses, services on those addresses).
        dp.shutdown(true).await;
        assert_eq!(ipvs_table(), BTreeSet::new());
        assert!(!sh_ok("ip link show anycast0"));
    });
}

#[test]
#[ignore = "needs IPVS and dummy interfaces: run with labs/qemu/run"]
fn ipv6_vips_are_programmed_as_host_routes_with_ipvs_services() {
    in_netns(|| async {
        let dp = Dataplane::start();
        let desired = DesiredState {
            sync_daemons: vec![],
            addresses: vec![vip("anycast6", "2001:db8::1")],
            routes: vec![],
            services: vec![svc(
                "2001:db8::1",
                443,
                "rr",
                &[("2001:db8:10::11", 8443, 5), ("2001:db8:10::12", 8443, 7)],
            )],
        };
        let pass = dp.apply(desired.clone()).await;
        assert_all_ok(&pass);
        assert_eq!(
            ipvs_table(),
            set(&[
                "TCP [2001:db8::1]:443 rr | [2001:db8:10::11]:8443 Masq 5",
                "TCP [2001:db8::1]:443 rr | [2001:db8:10::12]:8443 Masq 7",
            ])
        );
        let addrs = sh("ip -o -6 addr show dev anycast6");
        assert!(addrs.contains("2001:db8::1/128"), "{addrs}");
        assert!(!addrs.contains("tentative"), "added without DAD: {addrs}");
        assert_eq!(report(&dp).vips[&ip("2001:db8::1")], Ok(()));
        assert_eq!(dp.apply(desired).await.ops, vec![]);
        dp.shutdown(true).await;
        assert_eq!(ipvs_table(), BTreeSet::new());
        assert!(!sh_ok("ip link show anycast6"));
    });
}

#[test]
#[ignore = "needs IPVS and dummy interfaces: run with labs/qemu/run"]
fn cleanup_removes_only_what_anycastd_owns() {
    in_netns(|| async {
        // Foreign: a dummy with an address and an IPVS service, and an address on lo.
        sh("ip link add foreign0 type dummy && ip addr add 192.0.2.1/32 dev foreign0");
        sh("ip addr add 192.0.2.9/32 dev lo");
        sh("ipvsadm -A -t 192.0.2.1:80 -s rr && ipvsadm -a -t 192.0.2.1:80 -r 10.0.0.5:80 -m -w 3");
        let foreign = set(&["TCP 192.0.2.1:80 rr | 10.0.0.5:80 Masq 3"]);

        let dp = Dataplane::start();
        let mut desired = three_by_four();
        // A VIP on an existing foreign interface: used, never created or deleted.
        desired.addresses.push(vip("lo", "10.100.0.53"));
        let pass = dp.apply(desired).await;
        assert_all_ok(&pass);
        let mut all = three_by_four_table();
        all.extend(foreign.clone());
        assert_eq!(ipvs_table(), all);

        dp.shutdown(true).await;
        assert_eq!(ipvs_table(), foreign);
        assert!(!sh_ok("ip link show anycast0"), "our dummy is deleted");
        let lo = sh("ip -o -4 addr show dev lo");
        assert!(
            !lo.contains("10.100.0.53"),
            "our address on lo is removed: {lo}"
        );
        assert!(
            lo.contains("192.0.2.9/32"),
            "the foreign address on lo stays: {lo}"
        );
        let f = sh("ip -o -4 addr show dev foreign0");
        assert!(f.contains("192.0.2.1/32"), "{f}");
    });
}

#[test]
#[ignore = "needs IPVS and dummy interfaces: run with labs/qemu/run"]
fn removing_a_vip_removes_its_service_and_address_only() {
    in_netns(|| async {
        let dp = Dataplane::start();
        let mut desired = three_by_four();
        assert_all_ok(&dp.apply(desired.clone()).await);
        desired.addresses.remove(0);
        desired.services.remove(0);
        let pass = dp.apply(desired).await;
        assert_all_ok(&pass);
        assert_eq!(pass.ops.len(), 2, "{:#?}", pass.ops);
        let mut expected = three_by_four_table();
        expected.retain(|l| !l.starts_with("TCP 10.100.0.1:80"));
        assert_eq!(ipvs_table(), expected);
        let addrs = sh("ip -o -4 addr show dev anycast0");
        assert!(
            !addrs.contains("10.100.0.1/32") && addrs.contains("10.100.0.2/32"),
            "{addrs}"
        );
        assert!(!report(&dp).vips.contains_key(&ip("10.100.0.1")));
        dp.shutdown(false).await;
    });
}

#[test]
#[ignore = "needs IPVS and dummy interfaces: run with labs/qemu/run"]
fn a_scheduler_the_kernel_lacks_gives_a_clear_error_in_the_report() {
    in_netns(|| async {
        let dp = Dataplane::start();
        let mut desired = three_by_four();
        desired.services[0].scheduler = "nosuchsched".into();
        let pass = dp.apply(desired).await;
        let r = report(&dp);
        assert_eq!(
            r.vips[&ip("10.100.0.1")],
            Err("IPVS refused service 10.100.0.1:80/tcp: scheduler 'nosuchsched' is not loaded in the kernel (ENOENT)".into()),
            "{:#?}",
            pass.ops
        );
        assert_eq!(r.vips[&ip("10.100.0.2")], Ok(()));
        assert_eq!(r.vips[&ip("10.100.0.3")], Ok(()));
        dp.shutdown(true).await;
    });
}

#[test]
#[ignore = "needs IPVS and dummy interfaces: run with labs/qemu/run"]
fn drift_is_repaired_by_the_periodic_tick_without_being_asked() {
    in_netns(|| async {
        let dp = Dataplane::start();
        let first = dp.apply(three_by_four()).await;
        assert_all_ok(&first);
        sh("ipvsadm -D -t 10.100.0.3:80");
        let mut passes = dp.passes();
        let deadline = anycastd::dataplane::RECONCILE_INTERVAL + Duration::from_secs(5);
        let repaired = tokio::time::timeout(deadline, async {
            loop {
                passes.changed().await.expect("reconciler alive");
                let pass = passes.borrow_and_update().clone();
                if pass.number > first.number && !pass.ops.is_empty() {
                    return pass;
                }
            }
        })
        .await
        .expect("no pass repaired the service within the interval");
        assert_all_ok(&repaired);
        assert_eq!(ipvs_table(), three_by_four_table());
        dp.shutdown(false).await;
    });
}

/// Needs neither IPVS nor dummy interfaces, so it runs on every kernel (root needed).
#[test]
fn a_vip_without_services_on_lo_needs_only_its_address() {
    in_netns_with(false, || async {
        sh("ip addr add 192.0.2.9/32 dev lo");
        let dp = Dataplane::start();
        let desired = DesiredState {
            sync_daemons: vec![],
            addresses: vec![vip("lo", "10.100.0.53"), vip("lo", "2001:db8::53")],
            routes: vec![],
            services: vec![],
        };
        let pass = dp.apply(desired.clone()).await;
        assert_all_ok(&pass);
        assert_eq!(pass.ops.len(), 2, "{:#?}", pass.ops);
        let r = report(&dp);
        assert_eq!(r.vips[&ip("10.100.0.53")], Ok(()));
        assert_eq!(r.vips[&ip("2001:db8::53")], Ok(()));
        let lo = sh("ip -o addr show dev lo");
        assert!(
            lo.contains("10.100.0.53/32") && lo.contains("2001:db8::53/128"),
            "{lo}"
        );
        assert_eq!(dp.apply(desired).await.ops, vec![]);
        // A restarted instance recognises its addresses by their IFA_PROTO marker.
        drop(dp);
        let dp = Dataplane::start();
        assert_eq!(dp.apply(DesiredState::default()).await.ops.len(), 2);
        let lo = sh("ip -o addr show dev lo");
        assert!(
            !lo.contains("10.100.0.53") && !lo.contains("2001:db8::53"),
            "{lo}"
        );
        assert!(lo.contains("192.0.2.9/32"), "foreign address stays: {lo}");
        assert!(sh_ok("ip link show lo"), "lo is never deleted");
        dp.shutdown(true).await;
    });
}

/// `anycastd doctor` on a kernel with IPVS and dummy interfaces says so: the same config whose
/// IPVS and interface lines are FAIL on the build host (tests/doctor.rs) is ok here.
#[test]
#[ignore = "needs IPVS and dummy interfaces: run with labs/qemu/run"]
fn doctor_reports_ipvs_schedulers_and_dummy_interfaces_ok_on_a_kernel_that_has_them() {
    in_netns(|| async {
        sh("ip link set lo up && sysctl -qw net.ipv4.ip_forward=1");
        let dir = tempfile::Builder::new()
            .prefix("doctor-")
            .tempdir()
            .unwrap();
        let file = dir.path().join("anycastd.toml");
        std::fs::write(
            &file,
            concat!(
                "[node]\nrouter_id = \"10.0.1.2\"\nasn = 65001\n\n",
                // Passive: nothing to probe in a namespace of its own.
                "[[bgp.peer]]\naddress = \"10.0.1.1\"\nasn = 65000\npassive = true\n\n",
                "[bgp]\nlisten = \"127.0.0.1:1179\"\n\n",
                "[[vip]]\naddress = \"10.100.0.1\"\n\n",
                "[[vip.service]]\nname = \"web\"\nport = 80\nscheduler = \"wrr\"\n",
                "forwarding = \"masq\"\n\n",
                "[[vip.service.backend]]\naddress = \"10.0.10.11\"\nport = 8080\n\n",
                "[[vip.service]]\nname = \"dns\"\nport = 53\nprotocol = \"udp\"\n",
                "scheduler = \"mh\"\nforwarding = \"masq\"\n\n",
                "[[vip.service.backend]]\naddress = \"10.0.10.12\"\nport = 53\n",
            ),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_anycastd"))
            .args(["doctor", "-c"])
            .arg(&file)
            .output()
            .expect("run anycastd doctor");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let has = |prefix: &str| text.lines().any(|l| l.starts_with(prefix));
        assert!(
            has("ok   ipvs: available (generic netlink family IPVS) for 2 service(s)"),
            "{text}"
        );
        assert!(has("ok   scheduler wrr: "), "{text}");
        assert!(has("ok   scheduler mh: "), "{text}");
        assert!(
            has("ok   interface anycast0: will be created as a dummy interface"),
            "{text}"
        );
        assert!(
            has("ok   masq (web, dns): net.ipv4.ip_forward = 1"),
            "{text}"
        );
        assert!(!text.contains("FAIL"), "{text}");
        assert_eq!(out.status.code(), Some(0), "{text}");
    });
}

// ---- Route-bound VIPs (`bind = "route"`): a local route in table local, proto 65 ----------

/// `ip route show table local proto 65` of one family, whitespace collapsed, one per line.
fn our_local_routes(family: &str) -> BTreeSet<String> {
    sh(&format!("ip {family} route show table local proto 65"))
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

/// A UDP socket bound to `addr` (with IP_FREEBIND when `freebind`) receives a datagram sent to
/// it from another socket of this namespace: the address is local to the kernel.
fn bind_and_receive(addr: &str, freebind: bool) -> Result<(), String> {
    use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage};
    let sa: std::net::SocketAddr = addr.parse().unwrap();
    let family = if sa.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket::socket(family, SockType::Datagram, SockFlag::empty(), None)
        .map_err(|e| format!("socket: {e}"))?;
    if freebind {
        socket::setsockopt(&fd, sockopt::IpFreebind, &true)
            .map_err(|e| format!("IP_FREEBIND: {e}"))?;
    }
    socket::bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrStorage::from(sa),
    )
    .map_err(|e| format!("bind({addr}): {e}"))?;
    let server = std::net::UdpSocket::from(fd);
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let any = if sa.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
    let client = std::net::UdpSocket::bind(any).map_err(|e| format!("client: {e}"))?;
    client
        .send_to(b"ping", sa)
        .map_err(|e| format!("send_to({addr}): {e}"))?;
    let mut buf = [0u8; 16];
    let (n, _) = server
        .recv_from(&mut buf)
        .map_err(|e| format!("recv on {addr}: {e}"))?;
    if &buf[..n] != b"ping" {
        return Err(format!("received {:?}", &buf[..n]));
    }
    Ok(())
}

/// The life cycle of route-bound VIPs on `interface`: programmed in one batch as local routes
/// with our marker, bind()able (IPv4 as is; IPv6 with IP_FREEBIND, since IPv6 bind() checks
/// addresses only), adopted by a restart with no ops, repaired when deleted by hand, and
/// removed by `--cleanup`, a foreign local route for another address left alone.
async fn route_bound_life_cycle(interface: &'static str) {
    sh("ip link set lo up");
    sh("ip route add local 192.0.2.77/32 dev lo table local");
    sh("ip -6 route add local 2001:db8::77/128 dev lo table local");
    let dp = Dataplane::start();
    let desired = DesiredState {
        routes: vec![
            vip(interface, "10.100.0.53"),
            vip(interface, "2001:db8::53"),
        ],
        ..Default::default()
    };
    let pass = dp.apply(desired.clone()).await;
    assert_all_ok(&pass);
    let routes = pass
        .ops
        .iter()
        .filter(|(op, _)| matches!(op, Op::Route(RouteOp::Add { .. })))
        .count();
    assert_eq!(routes, 2, "{:#?}", pass.ops);
    assert_eq!(
        our_local_routes("-4"),
        set(&[&format!(
            "local 10.100.0.53 dev {interface} scope host metric 1024"
        )])
    );
    let v6 = our_local_routes("-6");
    assert_eq!(v6.len(), 1, "{v6:?}");
    let line = v6.iter().next().unwrap();
    assert!(
        line.starts_with(&format!("local 2001:db8::53 dev {interface} metric 1024")),
        "{line}"
    );
    assert!(
        !sh("ip -o addr show").contains("10.100.0.53"),
        "no address is added"
    );
    let r = report(&dp);
    assert_eq!(r.vips[&ip("10.100.0.53")], Ok(()));
    assert_eq!(r.vips[&ip("2001:db8::53")], Ok(()));

    // The DNS/NTP anycast case: a local process binds the VIP itself.
    bind_and_receive("10.100.0.53:5353", false).expect("IPv4: plain bind() of a local route");
    let plain = bind_and_receive("[2001:db8::53]:5353", false);
    assert!(
        plain.as_ref().is_err_and(|e| e.contains("EADDRNOTAVAIL")),
        "IPv6 bind() accepts only addresses, so a route-bound IPv6 VIP needs IPV6_FREEBIND: {plain:?}"
    );
    bind_and_receive("[2001:db8::53]:5354", true).expect("IPv6 with IP_FREEBIND");

    // A restart adopts our routes: nothing to do.
    drop(dp);
    let dp = Dataplane::start();
    assert!(dp.found_own_state().await, "our routes are own state");
    assert_eq!(dp.apply(desired.clone()).await.ops, vec![]);

    // Drift: a route deleted by hand comes back on the next full pass.
    sh(&format!(
        "ip route del local 10.100.0.53/32 dev {interface} table local proto 65 metric 1024"
    ));
    let pass = dp.reconcile().await;
    assert_all_ok(&pass);
    assert_eq!(
        pass.ops
            .iter()
            .map(|(op, _)| op.to_string())
            .collect::<Vec<_>>(),
        vec![format!("add local route 10.100.0.53/32 dev {interface}")]
    );
    assert_eq!(our_local_routes("-4").len(), 1);
    assert_eq!(dp.reconcile().await.ops, vec![]);

    if interface != "lo" {
        // Our dummy deleted by hand takes the routes with it: the next full pass recreates both.
        sh(&format!("ip link del {interface}"));
        let pass = dp.reconcile().await;
        assert_all_ok(&pass);
        assert_eq!(
            pass.ops
                .iter()
                .map(|(op, _)| op.to_string())
                .collect::<Vec<_>>(),
            vec![
                format!("add link {interface}"),
                format!("add local route 10.100.0.53/32 dev {interface}"),
                format!("add local route 2001:db8::53/128 dev {interface}"),
            ]
        );
        assert_eq!(our_local_routes("-4").len(), 1);
        assert_eq!(our_local_routes("-6").len(), 1);
    }

    // --cleanup: exactly our routes go; the foreign local routes stay.
    dp.shutdown(true).await;
    assert_eq!(our_local_routes("-4"), BTreeSet::new());
    assert_eq!(our_local_routes("-6"), BTreeSet::new());
    let local = sh("ip route show table local");
    assert!(local.contains("local 192.0.2.77 dev lo"), "{local}");
    let local6 = sh("ip -6 route show table local");
    assert!(local6.contains("local 2001:db8::77 dev lo"), "{local6}");
    if interface != "lo" {
        assert!(
            !sh_ok(&format!("ip link show {interface}")),
            "our dummy is deleted"
        );
    }
    assert!(sh_ok("ip link show lo"), "lo is never deleted");
}

/// Needs neither IPVS nor dummy interfaces (local routes on `lo`), so it runs on every kernel.
#[test]
fn route_bound_vips_on_lo_are_bindable_adopted_repaired_and_cleaned_up() {
    in_netns_with(false, || route_bound_life_cycle("lo"));
}

#[test]
#[ignore = "needs IPVS and dummy interfaces: run with labs/qemu/run"]
fn route_bound_vips_on_a_dummy_are_bindable_adopted_repaired_and_cleaned_up() {
    in_netns(|| route_bound_life_cycle("anycast0"));
}

/// Many route-bound VIPs go to the kernel in batches (many requests per datagram): every ack
/// is matched to its op, a refusal in the middle of a batch is the refused VIP's alone.
#[test]
fn route_batches_attribute_each_ack_to_its_vip() {
    in_netns_with(false, || async {
        sh("ip link set lo up");
        // Occupies the key (dst, tos 0, metric 1024) of one of ours: its add is refused.
        sh("ip route add local 10.101.1.44/32 dev lo table local metric 1024");
        let dp = Dataplane::start();
        let desired = DesiredState {
            routes: (0..1000u32)
                .map(|i| vip("lo", &format!("10.101.{}.{}", i / 200, i % 200)))
                .collect(),
            ..Default::default()
        };
        let pass = dp.apply(desired).await;
        let failed: Vec<_> = pass.ops.iter().filter(|(_, r)| r.is_err()).collect();
        assert_eq!(failed.len(), 1, "{failed:#?}");
        assert_eq!(
            failed[0].0.to_string(),
            "add local route 10.101.1.44/32 dev lo"
        );
        let err = failed[0].1.as_ref().unwrap_err();
        assert!(err.contains("EEXIST"), "{err}");
        let r = report(&dp);
        assert!(r.vips[&ip("10.101.1.44")].is_err());
        assert_eq!(r.vips.values().filter(|v| v.is_ok()).count(), 999);
        assert_eq!(our_local_routes("-4").len(), 999);
        dp.shutdown(true).await;
        assert_eq!(our_local_routes("-4").len(), 0);
        assert!(sh("ip route show table local").contains("10.101.1.44"));
    });
}

/// A named network namespace for the duration of a test, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(name: String) -> Netns {
        let _ = sh_ok(&format!("ip netns del {name}"));
        sh(&format!("ip netns add {name}"));
        sh(&format!("ip -n {name} link set lo up"));
        Netns(name)
    }

    /// Runs `cmd` in this namespace.
    fn sh(&self, cmd: &str) -> String {
        sh(&format!("ip netns exec {} sh -c '{cmd}'", self.0))
    }

    /// Runs `f` on a thread of its own in this namespace.
    fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let file = std::fs::File::open(format!("/run/netns/{}", self.0)).expect("netns file");
        std::thread::spawn(move || {
            nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = sh_ok(&format!("ip netns del {}", self.0));
    }
}

/// A TCP server in `ns` on `listen` that greets every connection with `greeting`.
fn greeter(ns: &Netns, listen: &str, greeting: &'static str) {
    let listen: std::net::SocketAddr = listen.parse().unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    ns.spawn(move || {
        let l = std::net::TcpListener::bind(listen).expect("backend listen");
        ready_tx.send(()).unwrap();
        for mut c in l.incoming().flatten() {
            use std::io::Write;
            let _ = c.write_all(greeting.as_bytes());
        }
    });
    ready_rx.recv().expect("backend started");
}

/// What a client in `ns` reads from `to` (connect and read time out after 5 s).
fn fetch(ns: &Netns, to: &str) -> Result<String, String> {
    let to: std::net::SocketAddr = to.parse().unwrap();
    ns.spawn(move || {
        use std::io::Read;
        let mut c = std::net::TcpStream::connect_timeout(&to, Duration::from_secs(5))
            .map_err(|e| format!("connect {to}: {e}"))?;
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut s = String::new();
        c.read_to_string(&mut s)
            .map_err(|e| format!("read {to}: {e}"))?;
        Ok(s)
    })
    .join()
    .unwrap()
}

/// client ns ── veth ── this namespace (the LB node: VIPs bound by route, IPVS) ── veth ──
/// backend ns. Addresses: client 10.1.0.2 / fd00:1::2, LB 10.1.0.1 / fd00:1::1 and
/// 10.2.0.1 / fd00:2::1, backend 10.2.0.2 / fd00:2::2.
fn two_legged_lab(tag: &str) -> (Netns, Netns) {
    let pid = std::process::id();
    let client = Netns::new(format!("rb{tag}c{pid}"));
    let backend = Netns::new(format!("rb{tag}b{pid}"));
    sh("ip link set lo up");
    sh("sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1");
    for (ns, lb_if, net) in [(&client, "vc", 1), (&backend, "vb", 2)] {
        sh(&format!(
            "ip link add {lb_if} type veth peer name eth0 netns {}",
            ns.0
        ));
        sh(&format!(
            "ip addr add 10.{net}.0.1/24 dev {lb_if} && ip addr add fd00:{net}::1/64 dev {lb_if} nodad && ip link set {lb_if} up"
        ));
        ns.sh(&format!(
            "ip addr add 10.{net}.0.2/24 dev eth0 && ip addr add fd00:{net}::2/64 dev eth0 nodad && ip link set eth0 up && ip route add default via 10.{net}.0.1 && ip -6 route add default via fd00:{net}::1"
        ));
    }
    (client, backend)
}

#[test]
#[ignore = "needs IPVS and dummy interfaces: run with labs/qemu/run"]
fn ipvs_serves_route_bound_vips_with_masq_v4_and_v6() {
    in_netns(|| async {
        let (client, backend) = two_legged_lab("m");
        greeter(&backend, "10.2.0.2:8080", "backend v4\n");
        greeter(&backend, "[fd00:2::2]:8080", "backend v6\n");
        let dp = Dataplane::start();
        let desired = DesiredState {
            routes: vec![
                vip("anycast0", "10.100.0.1"),
                vip("anycast0", "2001:db8::1"),
            ],
            services: vec![
                svc("10.100.0.1", 80, "rr", &[("10.2.0.2", 8080, 1)]),
                svc("2001:db8::1", 80, "rr", &[("fd00:2::2", 8080, 1)]),
            ],
            ..Default::default()
        };
        assert_all_ok(&dp.apply(desired).await);
        assert!(!sh("ip -o addr show").contains("10.100.0.1"));
        assert_eq!(fetch(&client, "10.100.0.1:80"), Ok("backend v4\n".into()));
        assert_eq!(
            fetch(&client, "[2001:db8::1]:80"),
            Ok("backend v6\n".into())
        );
        dp.shutdown(true).await;
        // Without the route the VIP is no longer local: IPVS no longer sees it.
        assert!(fetch(&client, "10.100.0.1:80").is_err());
    });
}

#[test]
#[ignore = "needs IPVS and dummy interfaces: run with labs/qemu/run"]
fn ipvs_serves_route_bound_vips_with_tunnel_forwarding_v4_and_v6() {
    in_netns(|| async {
        let (client, backend) = two_legged_lab("t");
        // A tunnel real server: IPIP (tunl0) and IPv6-in-IPv6 (ip6tnl0) in, the VIPs on its
        // lo, replies straight back.
        backend.sh(
            "ip link set tunl0 up && ip link set ip6tnl0 up && ip addr add 10.100.0.2/32 dev lo && ip -6 addr add 2001:db8::2/128 dev lo nodad && sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.tunl0.rp_filter=0",
        );
        greeter(&backend, "10.100.0.2:80", "backend via ipip\n");
        greeter(&backend, "[2001:db8::2]:80", "backend via ip6ip6\n");
        // The replies (from the VIP) come back through this node, which routes for the lab:
        // a source address that is local here is a martian unless accepted.
        sh("sysctl -qw net.ipv4.conf.vb.accept_local=1");
        let dp = Dataplane::start();
        let mut v4 = svc("10.100.0.2", 80, "rr", &[("10.2.0.2", 80, 1)]);
        v4.destinations[0].forwarding = Forwarding::Tunnel;
        let mut v6 = svc("2001:db8::2", 80, "rr", &[("fd00:2::2", 80, 1)]);
        v6.destinations[0].forwarding = Forwarding::Tunnel;
        let desired = DesiredState {
            routes: vec![
                vip("anycast0", "10.100.0.2"),
                vip("anycast0", "2001:db8::2"),
            ],
            services: vec![v4, v6],
            ..Default::default()
        };
        assert_all_ok(&dp.apply(desired).await);
        assert_eq!(
            ipvs_table(),
            set(&[
                "TCP 10.100.0.2:80 rr | 10.2.0.2:80 Tunnel 1",
                "TCP [2001:db8::2]:80 rr | [fd00:2::2]:80 Tunnel 1",
            ])
        );
        assert_eq!(
            fetch(&client, "10.100.0.2:80"),
            Ok("backend via ipip\n".into())
        );
        assert_eq!(
            fetch(&client, "[2001:db8::2]:80"),
            Ok("backend via ip6ip6\n".into())
        );
        dp.shutdown(true).await;
    });
}

/// A VIP moved from `bind = "address"` to `"route"` whose route cannot be added (a foreign
/// route holds its key) keeps its address: it is never left with neither binding.
#[test]
fn a_vip_whose_new_route_fails_keeps_its_address() {
    in_netns_with(false, || async {
        sh("ip link set lo up");
        let dp = Dataplane::start();
        let by_address = DesiredState {
            addresses: vec![vip("lo", "10.100.0.61"), vip("lo", "10.100.0.62")],
            ..Default::default()
        };
        assert_all_ok(&dp.apply(by_address).await);
        sh("ip route add local 10.100.0.61/32 dev lo table local metric 1024");
        let by_route = DesiredState {
            routes: vec![vip("lo", "10.100.0.61"), vip("lo", "10.100.0.62")],
            ..Default::default()
        };
        let pass = dp.apply(by_route.clone()).await;
        let failed: Vec<String> = pass
            .ops
            .iter()
            .filter(|(_, r)| r.is_err())
            .map(|(op, _)| op.to_string())
            .collect();
        assert_eq!(
            failed,
            vec![
                "add local route 10.100.0.61/32 dev lo",
                "delete address 10.100.0.61/32 dev lo",
            ],
            "{:#?}",
            pass.ops
        );
        let lo = sh("ip -o -4 addr show dev lo");
        assert!(lo.contains("10.100.0.61/32"), "the old binding stays: {lo}");
        assert!(!lo.contains("10.100.0.62/32"), "the other VIP moved: {lo}");
        assert!(report(&dp).vips[&ip("10.100.0.61")].is_err());
        assert_eq!(report(&dp).vips[&ip("10.100.0.62")], Ok(()));
        // Once the way is clear, the next pass completes the move.
        sh("ip route del local 10.100.0.61/32 dev lo table local metric 1024");
        let pass = dp.apply(by_route).await;
        assert_all_ok(&pass);
        assert!(!sh("ip -o -4 addr show dev lo").contains("10.100.0.61/32"));
        assert_eq!(our_local_routes("-4").len(), 2);
        dp.shutdown(true).await;
    });
}
