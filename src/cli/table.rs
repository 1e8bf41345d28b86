//! `anycastd status` as text: a peers table, then a VIPs table with each VIP's services and
//! backends indented under it.

use crate::status::Status;

/// `ipv4,ipv6`, with `ipv4(enh)` when IPv4 goes with an IPv6 next hop (RFC 8950); `-` when none.
fn families(p: &crate::status::PeerStatus) -> String {
    if p.families.is_empty() {
        return "-".into();
    }
    p.families
        .iter()
        .map(|f| match (f.as_str(), p.extended_next_hop) {
            ("ipv4", true) => "ipv4(enh)".to_string(),
            (f, _) => f.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub fn render(status: &Status) -> String {
    let mut out = format!(
        "node {} AS{} (anycastd {})\n\n",
        status.node.router_id, status.node.asn, status.node.version
    );
    let mut peers = vec![row(&[
        "PEER",
        "ASN",
        "STATE",
        "UPTIME",
        "FAMILIES",
        "BFD",
        "SENT",
        "RCVD",
        "LAST ERROR",
    ])];
    for p in &status.peers {
        let established = p.state == crate::status::PeerState::Established;
        peers.push(vec![
            p.address.clone(),
            p.asn.to_string(),
            p.state.as_str().to_string(),
            if established {
                fmt_uptime(p.uptime_seconds)
            } else {
                "-".into()
            },
            families(p),
            p.bfd.as_ref().map_or("-".into(), |b| b.state.clone()),
            p.routes_sent.to_string(),
            p.routes_received.to_string(),
            p.last_error.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    if status.peers.is_empty() {
        out.push_str("no BGP peers\n");
    } else {
        out.push_str(&columns(&peers, ""));
    }
    if let Some(l) = &status.bgp_listener {
        match (&l.last_error, l.listening) {
            (_, true) => out.push_str(&format!("listening for BGP on {}\n", l.address)),
            (Some(e), false) => out.push_str(&format!("NOT listening for BGP: {e}\n")),
            (None, false) => out.push_str(&format!("not listening for BGP on {} yet\n", l.address)),
        }
    }
    out.push('\n');
    if status.vips.is_empty() {
        out.push_str("no VIPs\n");
        return out;
    }
    // One width per column over all VIP rows, so the rows line up around the services
    // printed between them.
    let vips: Vec<Vec<String>> = std::iter::once(row(&["VIP", "ANNOUNCED", "DRAINED", "REASON"]))
        .chain(status.vips.iter().map(|v| {
            vec![
                v.address.clone(),
                match (v.announced, v.degraded) {
                    (true, true) => "degraded".into(),
                    (announced, _) => yes_no(announced).into(),
                },
                drained(v),
                v.reason.clone(),
            ]
        }))
        .collect();
    let vip_widths = widths(&vips);
    out.push_str(&line(&vips[0], &vip_widths, ""));
    for (v, vip_row) in status.vips.iter().zip(&vips[1..]) {
        out.push_str(&line(vip_row, &vip_widths, ""));
        for s in &v.services {
            // An mh service's table fingerprint, to compare nodes at a glance.
            let table = s
                .table
                .as_ref()
                .map(|t| format!(", mh table {t}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "  service {} {}/{}: {}{table}\n",
                s.name,
                s.protocol,
                s.port,
                if s.healthy { "healthy" } else { "unhealthy" }
            ));
            let backends: Vec<Vec<String>> = s
                .backends
                .iter()
                .map(|b| {
                    let addr = match b.address.parse::<std::net::IpAddr>() {
                        Ok(ip) => std::net::SocketAddr::new(ip, b.port).to_string(),
                        Err(_) => format!("{}:{}", b.address, b.port),
                    };
                    let state = if b.state.is_empty() {
                        if b.healthy { "healthy" } else { "unhealthy" }.to_string()
                    } else {
                        b.state.clone()
                    };
                    vec![
                        addr,
                        state,
                        format!("weight {}/{}", b.effective_weight, b.weight),
                        b.last_result.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            out.push_str(&columns(&backends, "    "));
        }
    }
    out
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// `yes`, with where the drain came from and since when when the daemon says (`yes (state
/// file since 2026-12-03T13:20:00Z)`), or `no`.
fn drained(v: &crate::status::VipStatus) -> String {
    match (&v.drained_by, &v.drained_since) {
        (Some(by), Some(since)) if v.drained => format!("yes ({by} since {since})"),
        (Some(by), None) if v.drained => format!("yes ({by})"),
        _ => yes_no(v.drained).into(),
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Pads every column to its widest cell; two spaces between columns, no trailing spaces.
fn columns(rows: &[Vec<String>], indent: &str) -> String {
    let w = widths(rows);
    rows.iter().map(|r| line(r, &w, indent)).collect()
}

fn widths(rows: &[Vec<String>]) -> Vec<usize> {
    let mut widths = vec![0; rows.iter().map(Vec::len).max().unwrap_or(0)];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    widths
}

fn line(cells: &[String], widths: &[usize], indent: &str) -> String {
    let mut line = indent.to_string();
    for (i, c) in cells.iter().enumerate() {
        line.push_str(c);
        if i + 1 < cells.len() {
            let pad = widths[i].saturating_sub(c.chars().count()) + 2;
            line.extend(std::iter::repeat_n(' ', pad));
        }
    }
    let mut line = line.trim_end().to_string();
    line.push('\n');
    line
}

/// "42s", "5m12s", "3h04m", "2d03h".
pub fn fmt_uptime(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table_shows_peers_vips_services_and_backends() {
        let text = render(&Status::example());
        let expected = "\
node 10.0.1.2 AS65001 (anycastd 0.1.0)

PEER      ASN    STATE        UPTIME  FAMILIES        BFD  SENT  RCVD  LAST ERROR
10.0.1.1  65000  established  1h02m   ipv4(enh),ipv6  up   2     1     -
10.0.2.1  65000  active       -       -               -    0     0     connection refused

VIP         ANNOUNCED  DRAINED                                      REASON
10.100.0.1  yes        no                                           healthy
  service web tcp/80: healthy
    10.0.10.11:8080      healthy  weight 100/100  HTTP 200
    [2001:db8::11]:8080  healthy  weight 40/100
10.100.0.2  no         yes (state file since 2026-12-03T13:20:00Z)  drained
  service dns udp/53: healthy
    10.0.10.12:53  healthy  weight 50/50  exit status 0
";
        assert_eq!(text, expected);
    }

    #[test]
    fn empty_status_says_so() {
        let mut s = Status::example();
        s.peers.clear();
        s.vips.clear();
        let text = render(&s);
        assert!(text.contains("no BGP peers\n"));
        assert!(text.ends_with("no VIPs\n"));
    }

    #[test]
    fn the_bgp_listener_line_says_whether_it_listens_and_why_not() {
        let mut s = Status::example();
        s.bgp_listener = Some(crate::status::ListenerStatus {
            address: "10.0.1.2:179".into(),
            listening: true,
            last_error: None,
        });
        assert!(render(&s).contains("\nlistening for BGP on 10.0.1.2:179\n\nVIP"));
        s.bgp_listener = Some(crate::status::ListenerStatus {
            address: "10.0.1.2:179".into(),
            listening: false,
            last_error: Some("cannot listen on 10.0.1.2:179: Address in use".into()),
        });
        let text = render(&s);
        assert!(
            text.contains(
                "\nNOT listening for BGP: cannot listen on 10.0.1.2:179: Address in use\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn uptime_is_compact() {
        assert_eq!(fmt_uptime(42), "42s");
        assert_eq!(fmt_uptime(312), "5m12s");
        assert_eq!(fmt_uptime(3 * 3600 + 4 * 60), "3h04m");
        assert_eq!(fmt_uptime(2 * 86400 + 3 * 3600), "2d03h");
    }
}
