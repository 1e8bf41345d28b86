//! Prometheus metrics in the text exposition format (version 0.0.4), hand-written: the daemon
//! exports a few dozen series, so a registry crate would add more than it saves.
//!
//! Gauges are rendered from a [`Status`] snapshot at scrape time; the only state kept between
//! scrapes is [`CheckMetrics`] (check counts and the duration histogram), which the daemon loop
//! feeds with every observation, and [`ApiMetrics`] (requests and connections), which the HTTP
//! server feeds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::status::{PeerState, Status};

/// Upper bounds (seconds) of the check duration histogram: 1 ms to 10 s.
pub const CHECK_DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A cumulative histogram with fixed buckets.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Per bound: observations <= bound (not cumulative here; summed when rendered).
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.counts[i] += 1;
        }
        self.sum += value;
        self.count += 1;
    }
}

/// Counters fed by the daemon loop with every check result. Shared with the API by `Arc`.
#[derive(Debug, Default)]
pub struct CheckMetrics {
    inner: Mutex<CheckCounters>,
}

#[derive(Debug, Default)]
struct CheckCounters {
    durations: BTreeMap<String, Histogram>,
    /// (service, "ok"|"fail") → count.
    totals: BTreeMap<(String, &'static str), u64>,
}

impl CheckMetrics {
    /// Records one check of `service` (a service name, or "vip <address>" for a VIP check).
    pub fn record(&self, service: &str, ok: bool, duration: Duration) {
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        c.durations
            .entry(service.to_string())
            .or_insert_with(|| Histogram::new(CHECK_DURATION_BUCKETS))
            .observe(duration.as_secs_f64());
        *c.totals
            .entry((service.to_string(), if ok { "ok" } else { "fail" }))
            .or_default() += 1;
    }
}

/// Counters fed by the HTTP server: requests by method and status code, and connections.
/// Shared with the /metrics page by `Arc`, like [`CheckMetrics`].
#[derive(Debug, Default)]
pub struct ApiMetrics {
    /// (method, code) → count; methods outside the standard set count as "other".
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    /// Connections open now.
    open: AtomicU64,
    /// Idle connections closed to make room for a new one at `api.max_connections`.
    evicted: AtomicU64,
    /// Connections answered 503 and closed because every slot was busy.
    refused: AtomicU64,
}

impl ApiMetrics {
    /// Records one answered request.
    pub fn request(&self, method: &hyper::Method, code: u16) {
        let method: &'static str = match method.as_str() {
            "GET" => "GET",
            "HEAD" => "HEAD",
            "POST" => "POST",
            "PUT" => "PUT",
            "PATCH" => "PATCH",
            "DELETE" => "DELETE",
            "OPTIONS" => "OPTIONS",
            _ => "other",
        };
        let mut r = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *r.entry((method, code)).or_default() += 1;
    }

    pub fn opened(&self) {
        self.open.fetch_add(1, Ordering::Relaxed);
    }

    pub fn closed(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn evicted(&self) {
        self.evicted.fetch_add(1, Ordering::Relaxed);
    }

    pub fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }
}

/// Writes families in the text format. Each family's samples must be written together, right
/// after its [`Encoder::family`] call.
#[derive(Debug, Default)]
pub struct Encoder {
    out: String,
}

impl Encoder {
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// `# HELP` and `# TYPE` lines; `kind` is "counter", "gauge" or "histogram".
    pub fn family(&mut self, name: &str, help: &str, kind: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        write_labels(&mut self.out, labels);
        let _ = writeln!(self.out, " {}", fmt_value(value));
    }

    /// `_bucket{le}` (cumulative, ending with `+Inf`), `_sum` and `_count`.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &Histogram) {
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (bound, count) in h.bounds.iter().zip(&h.counts) {
            cumulative += count;
            let le = fmt_value(*bound);
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket, &with_le, cumulative as f64);
        }
        let mut with_le = labels.to_vec();
        with_le.push(("le", "+Inf"));
        self.sample(&bucket, &with_le, h.count as f64);
        self.sample(&format!("{name}_sum"), labels, h.sum);
        self.sample(&format!("{name}_count"), labels, h.count as f64);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

fn write_labels(out: &mut String, labels: &[(&str, &str)]) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        for c in v.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// The whole /metrics page.
/// The fleet catalog's gauges (only with `[catalog]`).
fn catalog(e: &mut Encoder, c: &crate::catalog::CatalogStatus) {
    use crate::catalog::SyncState;
    let gauges: [(&str, &str, f64); 4] = [
        (
            "anycastd_catalog_synced",
            "1 while the catalog is read from etcd and watched; 0 while stale or unreachable.",
            flag(c.state == SyncState::Synced),
        ),
        (
            "anycastd_catalog_revision",
            "The etcd revision of the catalog in force (0: none applied).",
            c.revision as f64,
        ),
        (
            "anycastd_catalog_vips",
            "VIPs of this node that come from the catalog.",
            c.vips as f64,
        ),
        (
            "anycastd_catalog_rejected",
            "Catalog documents refused (listed in /status catalog.rejected).",
            c.rejected.len() as f64,
        ),
    ];
    for (name, help, value) in gauges {
        e.family(name, help, "gauge");
        e.sample(name, &[], value);
    }
}

pub fn render(status: &Status, checks: &CheckMetrics, api: &ApiMetrics) -> String {
    let mut e = Encoder::new();
    e.family("anycastd_build_info", "anycastd version.", "gauge");
    e.sample(
        "anycastd_build_info",
        &[("version", &status.node.version)],
        1.0,
    );

    type PeerField = fn(&crate::status::PeerStatus) -> f64;
    let peer_families: [(&str, &str, &str, PeerField); 5] = [
        (
            "anycastd_peer_up",
            "1 when the BGP session is established.",
            "gauge",
            |p| flag(p.state == PeerState::Established),
        ),
        (
            "anycastd_peer_routes_sent",
            "Routes currently announced to the peer.",
            "gauge",
            |p| p.routes_sent as f64,
        ),
        (
            "anycastd_peer_routes_received",
            "Routes currently received from the peer (counted, never installed).",
            "gauge",
            |p| p.routes_received as f64,
        ),
        (
            "anycastd_bgp_updates_sent_total",
            "BGP UPDATE messages sent to the peer.",
            "counter",
            |p| p.updates_sent as f64,
        ),
        (
            "anycastd_bgp_updates_received_total",
            "BGP UPDATE messages received from the peer.",
            "counter",
            |p| p.updates_received as f64,
        ),
    ];
    for (name, help, kind, field) in peer_families {
        e.family(name, help, kind);
        for p in &status.peers {
            e.sample(name, &[("peer", &p.address)], field(p));
        }
    }

    e.family(
        "anycastd_bfd_up",
        "1 while the peer's BFD session is Up (peers with BFD only).",
        "gauge",
    );
    for p in &status.peers {
        if let Some(b) = &p.bfd {
            e.sample(
                "anycastd_bfd_up",
                &[("peer", &p.address)],
                flag(b.state == "up"),
            );
        }
    }
    e.family(
        "anycastd_bfd_transitions_total",
        "State changes of the peer's BFD session.",
        "counter",
    );
    for p in &status.peers {
        if let Some(b) = &p.bfd {
            let v = b.transitions as f64;
            e.sample("anycastd_bfd_transitions_total", &[("peer", &p.address)], v);
        }
    }
    e.family(
        "anycastd_bfd_discarded_total",
        "Received BFD packets dropped, by reason (RFC 5880 6.8.6).",
        "counter",
    );
    for (reason, n) in &status.bfd_discarded {
        e.sample(
            "anycastd_bfd_discarded_total",
            &[("reason", reason)],
            *n as f64,
        );
    }
    e.family(
        "anycastd_bgp_listener_up",
        "1 while the BGP listener (bgp.listen) is bound and accepting.",
        "gauge",
    );
    if let Some(l) = &status.bgp_listener {
        e.sample(
            "anycastd_bgp_listener_up",
            &[("address", &l.address)],
            flag(l.listening),
        );
    }
    if let Some(c) = &status.catalog {
        catalog(&mut e, c);
    }
    e.family(
        "anycastd_task_restarts_total",
        "Tasks that panicked and were started again, by task.",
        "counter",
    );
    for (task, n) in &status.task_restarts {
        e.sample("anycastd_task_restarts_total", &[("task", task)], *n as f64);
    }

    e.family(
        "anycastd_vip_announced",
        "1 while the VIP is announced.",
        "gauge",
    );
    for v in &status.vips {
        e.sample(
            "anycastd_vip_announced",
            &[("vip", &v.address)],
            flag(v.announced),
        );
    }
    e.family(
        "anycastd_vip_degraded",
        "1 while the VIP is announced degraded (on_partial = \"degrade\" or last_resort).",
        "gauge",
    );
    for v in &status.vips {
        e.sample(
            "anycastd_vip_degraded",
            &[("vip", &v.address)],
            flag(v.degraded),
        );
    }
    e.family(
        "anycastd_vip_drained",
        "1 while the VIP is drained.",
        "gauge",
    );
    for v in &status.vips {
        e.sample(
            "anycastd_vip_drained",
            &[("vip", &v.address)],
            flag(v.drained),
        );
    }

    let backends: Vec<(String, String, bool, u32)> = status
        .vips
        .iter()
        .flat_map(|v| &v.services)
        .flat_map(|s| {
            s.backends.iter().map(|b| {
                let addr = match b.address.parse::<std::net::IpAddr>() {
                    Ok(ip) => std::net::SocketAddr::new(ip, b.port).to_string(),
                    Err(_) => format!("{}:{}", b.address, b.port),
                };
                (s.name.clone(), addr, b.healthy, b.effective_weight)
            })
        })
        .collect();
    e.family(
        "anycastd_backend_healthy",
        "1 while the backend passes its health check.",
        "gauge",
    );
    for (service, backend, healthy, _) in &backends {
        e.sample(
            "anycastd_backend_healthy",
            &[("service", service), ("backend", backend)],
            flag(*healthy),
        );
    }
    e.family(
        "anycastd_backend_effective_weight",
        "IPVS weight given to the backend now (unhealthy_weight, or ramping over slow_start).",
        "gauge",
    );
    for (service, backend, _, weight) in &backends {
        e.sample(
            "anycastd_backend_effective_weight",
            &[("service", service), ("backend", backend)],
            f64::from(*weight),
        );
    }

    let c = checks.inner.lock().unwrap_or_else(|e| e.into_inner());
    e.family(
        "anycastd_checks_total",
        "Health checks run, by result.",
        "counter",
    );
    for ((service, result), n) in &c.totals {
        e.sample(
            "anycastd_checks_total",
            &[("service", service), ("result", result)],
            *n as f64,
        );
    }
    e.family(
        "anycastd_check_duration_seconds",
        "Duration of health checks.",
        "histogram",
    );
    for (service, h) in &c.durations {
        e.histogram(
            "anycastd_check_duration_seconds",
            &[("service", service)],
            h,
        );
    }
    drop(c);
    render_api(&mut e, api);
    e.finish()
}

fn render_api(e: &mut Encoder, api: &ApiMetrics) {
    e.family(
        "anycastd_api_requests_total",
        "HTTP API requests answered, by method and status code.",
        "counter",
    );
    let requests = api.requests.lock().unwrap_or_else(|e| e.into_inner());
    for ((method, code), n) in requests.iter() {
        let code = code.to_string();
        e.sample(
            "anycastd_api_requests_total",
            &[("method", method), ("code", &code)],
            *n as f64,
        );
    }
    drop(requests);
    let counters = [
        (
            "anycastd_api_connections",
            "HTTP API connections open now.",
            "gauge",
            &api.open,
        ),
        (
            "anycastd_api_connections_evicted_total",
            "Idle HTTP API connections closed to make room at api.max_connections.",
            "counter",
            &api.evicted,
        ),
        (
            "anycastd_api_connections_refused_total",
            "HTTP API connections answered 503 and closed: every slot was busy.",
            "counter",
            &api.refused,
        ),
    ];
    for (name, help, kind, value) in counters {
        e.family(name, help, kind);
        e.sample(name, &[], value.load(Ordering::Relaxed) as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_and_counters_render_with_help_type_and_labels() {
        let text = render(
            &Status::example(),
            &CheckMetrics::default(),
            &ApiMetrics::default(),
        );
        for line in [
            "# HELP anycastd_peer_up 1 when the BGP session is established.",
            "# TYPE anycastd_peer_up gauge",
            "anycastd_peer_up{peer=\"10.0.1.1\"} 1",
            "anycastd_peer_up{peer=\"10.0.2.1\"} 0",
            "anycastd_peer_routes_sent{peer=\"10.0.1.1\"} 2",
            "anycastd_peer_routes_received{peer=\"10.0.1.1\"} 1",
            "# TYPE anycastd_bgp_updates_sent_total counter",
            "anycastd_bgp_updates_sent_total{peer=\"10.0.1.1\"} 3",
            "anycastd_vip_announced{vip=\"10.100.0.1\"} 1",
            "anycastd_vip_drained{vip=\"10.100.0.1\"} 0",
            "anycastd_vip_drained{vip=\"10.100.0.2\"} 1",
            "anycastd_backend_healthy{service=\"web\",backend=\"[2001:db8::11]:8080\"} 1",
            "anycastd_backend_effective_weight{service=\"web\",backend=\"[2001:db8::11]:8080\"} 40",
            "anycastd_build_info{version=\"0.1.0\"} 1",
            "# TYPE anycastd_check_duration_seconds histogram",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn the_bgp_listener_gauge_follows_its_state() {
        let mut st = Status::example();
        let no_listener = render(&st, &CheckMetrics::default(), &ApiMetrics::default());
        assert!(!no_listener.contains("anycastd_bgp_listener_up{"));
        st.bgp_listener = Some(crate::status::ListenerStatus {
            address: "10.0.1.2:179".into(),
            listening: false,
            last_error: Some("in use".into()),
        });
        let text = render(&st, &CheckMetrics::default(), &ApiMetrics::default());
        let line = "anycastd_bgp_listener_up{address=\"10.0.1.2:179\"} 0";
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }

    #[test]
    fn bfd_metrics_cover_peers_with_bfd_and_discards_by_reason() {
        let text = render(
            &Status::example(),
            &CheckMetrics::default(),
            &ApiMetrics::default(),
        );
        for line in [
            "anycastd_bfd_up{peer=\"10.0.1.1\"} 1",
            "anycastd_bfd_transitions_total{peer=\"10.0.1.1\"} 2",
            "anycastd_bfd_discarded_total{reason=\"unknown discriminator\"} 5",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        let mut no_bfd = Status::example();
        for p in &mut no_bfd.peers {
            p.bfd = None;
        }
        let none = render(&no_bfd, &CheckMetrics::default(), &ApiMetrics::default());
        assert!(!none.lines().any(|l| l.starts_with("anycastd_bfd_up{")));
    }

    #[test]
    fn every_family_has_exactly_one_help_and_type() {
        let checks = CheckMetrics::default();
        checks.record("web", true, Duration::from_millis(3));
        let text = render(&Status::example(), &checks, &ApiMetrics::default());
        let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
        let mut names: Vec<&str> = types.iter().map(|l| l.split(' ').nth(2).unwrap()).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
        assert_eq!(text.lines().filter(|l| l.starts_with("# HELP")).count(), n);
    }

    #[test]
    fn check_histogram_is_cumulative_with_sum_and_count() {
        let checks = CheckMetrics::default();
        checks.record("web", true, Duration::from_millis(3));
        checks.record("web", false, Duration::from_millis(400));
        checks.record("web", false, Duration::from_secs(30));
        let text = render(&Status::example(), &checks, &ApiMetrics::default());
        for line in [
            "anycastd_check_duration_seconds_bucket{service=\"web\",le=\"0.001\"} 0",
            "anycastd_check_duration_seconds_bucket{service=\"web\",le=\"0.005\"} 1",
            "anycastd_check_duration_seconds_bucket{service=\"web\",le=\"0.25\"} 1",
            "anycastd_check_duration_seconds_bucket{service=\"web\",le=\"0.5\"} 2",
            "anycastd_check_duration_seconds_bucket{service=\"web\",le=\"10\"} 2",
            "anycastd_check_duration_seconds_bucket{service=\"web\",le=\"+Inf\"} 3",
            "anycastd_check_duration_seconds_sum{service=\"web\"} 30.403",
            "anycastd_check_duration_seconds_count{service=\"web\"} 3",
            "anycastd_checks_total{service=\"web\",result=\"ok\"} 1",
            "anycastd_checks_total{service=\"web\",result=\"fail\"} 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn api_requests_are_counted_by_method_and_code_with_connection_counters() {
        let api = ApiMetrics::default();
        api.request(&hyper::Method::POST, 403);
        api.request(&hyper::Method::POST, 403);
        api.request(&hyper::Method::POST, 200);
        api.request(&hyper::Method::GET, 200);
        api.request(&hyper::Method::from_bytes(b"BREW").unwrap(), 404);
        api.opened();
        api.opened();
        api.closed();
        api.evicted();
        api.refused();
        api.refused();
        let text = render(&Status::example(), &CheckMetrics::default(), &api);
        for line in [
            "# TYPE anycastd_api_requests_total counter",
            "anycastd_api_requests_total{method=\"POST\",code=\"403\"} 2",
            "anycastd_api_requests_total{method=\"POST\",code=\"200\"} 1",
            "anycastd_api_requests_total{method=\"GET\",code=\"200\"} 1",
            "anycastd_api_requests_total{method=\"other\",code=\"404\"} 1",
            "# TYPE anycastd_api_connections gauge",
            "anycastd_api_connections 1",
            "anycastd_api_connections_evicted_total 1",
            "anycastd_api_connections_refused_total 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let mut e = Encoder::new();
        e.sample("m", &[("a", "x\"y\\z\nw")], 2.5);
        assert_eq!(e.finish(), "m{a=\"x\\\"y\\\\z\\nw\"} 2.5\n");
    }

    #[test]
    fn help_text_is_escaped() {
        let mut e = Encoder::new();
        e.family("m", "back\\slash\nnewline", "gauge");
        assert_eq!(
            e.finish(),
            "# HELP m back\\\\slash\\nnewline\n# TYPE m gauge\n"
        );
    }

    #[test]
    fn special_values_use_prometheus_spelling() {
        assert_eq!(fmt_value(f64::INFINITY), "+Inf");
        assert_eq!(fmt_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(fmt_value(f64::NAN), "NaN");
        assert_eq!(fmt_value(100.0), "100");
    }
}
