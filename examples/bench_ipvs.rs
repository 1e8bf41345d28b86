//! Benchmark helper for labs/bench: programs S IPVS services × D destinations from empty through
//! anycastd's own dataplane ([`Dataplane::apply`]), then changes one destination's weight, and
//! prints one JSON line with the timings and op counts. It needs a kernel with IPVS (run it in
//! the QEMU lab: `labs/qemu/run -- target/release/examples/bench_ipvs 1000 10`).
//!
//! The table matches what labs/bench generates for `ipvsadm --restore`: service i is
//! 10.200.(i/250).(i%250+1):80/tcp wrr, destination j is 10.201.(j/250).(j%250+1):8080 masq
//! weight 100. The kernel is left programmed (the caller flushes it with `ipvsadm -C`).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use anycastd::config::{Forwarding, Protocol};
use anycastd::dataplane::{Dataplane, DesiredState, Destination, VirtualService};

fn addr(net: u8, i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, net, (i / 250) as u8, (i % 250 + 1) as u8))
}

fn table(services: usize, dests: usize) -> DesiredState {
    let services = (0..services)
        .map(|i| VirtualService {
            vip: addr(200, i),
            port: 80,
            protocol: Protocol::Tcp,
            scheduler: "wrr".into(),
            persistence: 0,
            flags: Default::default(),
            rehash_safe: false,
            destinations: (0..dests)
                .map(|j| Destination {
                    address: addr(201, j),
                    port: 8080,
                    weight: 100,
                    forwarding: Forwarding::Masq,
                })
                .collect(),
        })
        .collect();
    DesiredState {
        sync_daemons: vec![],
        addresses: Vec::new(),
        routes: Vec::new(),
        services,
    }
}

fn main() -> std::process::ExitCode {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let [services, dests] = args[..] else {
        eprintln!("usage: bench_ipvs SERVICES DESTS");
        return std::process::ExitCode::from(2);
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let dp = Dataplane::start();
        let mut desired = table(services, dests);

        let t = Instant::now();
        let full = dp.apply(desired.clone()).await;
        let full_s = t.elapsed().as_secs_f64();
        let full_failed = full.ops.iter().filter(|(_, r)| r.is_err()).count();

        // A pass with nothing to do: the cost of reading the kernel back (the periodic tick).
        let t = Instant::now();
        let idle = dp.reconcile().await;
        let idle_s = t.elapsed().as_secs_f64();

        // One weight change on the full table: planned on the view the idle pass left, so one
        // netlink request and no read-back.
        if let Some(d) = desired
            .services
            .get_mut(services / 2)
            .and_then(|s| s.destinations.first_mut())
        {
            d.weight = 50;
        }
        let t = Instant::now();
        let edit = dp.apply(desired).await;
        let edit_s = t.elapsed().as_secs_f64();
        let edit_failed = edit.ops.iter().filter(|(_, r)| r.is_err()).count();

        println!(
            "{}",
            serde_json::json!({
                "services": services,
                "dests": dests,
                "full_s": full_s,
                "full_ops": full.ops.len(),
                "full_failed": full_failed,
                "full_error": full.error,
                "first_failure": full.ops.iter().find_map(|(op, r)| r.as_ref().err().map(|e| format!("{op}: {e}"))),
                "idle_s": idle_s,
                "idle_ops": idle.ops.len(),
                "edit_s": edit_s,
                "edit_ops": edit.ops.len(),
                // false: the change was planned on the view the previous pass left (no dump).
                "edit_dumped": edit.dumped,
                "edit_failed": edit_failed,
                "edit_op_list": edit.ops.iter().map(|(op, _)| op.to_string()).collect::<Vec<_>>(),
            })
        );
        dp.shutdown(false).await;
        if full_failed + edit_failed > 0 || full.error.is_some() {
            std::process::ExitCode::from(1)
        } else {
            std::process::ExitCode::SUCCESS
        }
    })
}
