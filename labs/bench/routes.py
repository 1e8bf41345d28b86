"""Measurements 1 and 5: N host routes to one FRR router, anycastd next to GoBGP and BIRD, in
the same run and against the same router; and the resident memory of each speaker holding them.

Topology (one per size N, rebuilt for every size so FRR's counters start at zero):

    anycastd ns  10.0.1.2 ──── 10.0.1.1 ┐
    GoBGP ns     10.0.2.2 ──── 10.0.2.1 ├ router ns: FRR (zebra + bgpd), AS 65000
    BIRD ns      10.0.3.2 ──── 10.0.3.1 ┘

One speaker runs at a time; the router is back to zero routes before the next one starts. The
router keeps each neighbor shut down (`neighbor X shutdown`) until its speaker holds all N
routes, so "Established → all N" measures the speakers' sending, not their loading; anycastd
also runs once with the neighbor open from the start ("cold start").
"""

import json
import subprocess
import time

from lib import (Cleanup, Frr, cpu_seconds, Netns, Table, Unmeasurable, fmt, frr_router_config, log, median,
                 parse_ts, ratio, rss_kib, veth, wait_until)
from speakers import Anycastd, Bird, Gobgp

# Between polls, so the poller does not take bgpd's main thread from the UPDATEs it measures.
POLL_PAUSE = 0.002

PEERS = {"anycastd": "10.0.1", "GoBGP": "10.0.2", "BIRD": "10.0.3"}


def kernel_routes(ns):
    out = subprocess.run(["ip", "-n", ns.name, "-4", "route", "show", "table", "main"],
                         capture_output=True, text=True).stdout
    return out.count("\n")


def watch_session(frr, peer, n, timeout):
    """Polls FRR's bgpd every ~2 ms over its vty socket. Returns (t_established, t_all_routes, poll_s):
    the first poll that saw the session Established, the first that saw all N prefixes, and
    the median time one poll took (the resolution of the second; the first is only a
    fallback, see Frr.adjchange_up)."""
    t_est = None
    polls = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        t0 = time.time()
        p = frr.peers().get(peer, {})
        t1 = time.time()
        polls.append(t1 - t0)
        if p.get("state") == "Established":
            if t_est is None:
                t_est = t1
            if p.get("pfxRcd", 0) >= n:
                return t_est, t1, median(polls) + POLL_PAUSE
        time.sleep(POLL_PAUSE)
    raise Unmeasurable(f"{peer}: not all {n} routes at the router after {timeout}s "
                       f"(last: {frr.peers().get(peer)})")


def wait_router_empty(frr, router, peer):
    def empty():
        p = frr.peers().get(peer, {})
        return p.get("state") != "Established" and kernel_routes(router) < 10
    wait_until(f"router to drop {peer}'s routes", 180, empty, interval=0.2)


def neighbor_shutdown(frr, peer, down):
    """`neighbor X shutdown` on the router: the session waits until the speaker is loaded."""
    no = "" if down else "no "
    frr.vtysh_multi(["configure terminal", "router bgp 65000", f"{no}neighbor {peer} shutdown"])


def log_time(path, message):
    """Timestamp of the first anycastd JSON log line whose message contains `message`."""
    with open(path) as f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if message in rec.get("fields", {}).get("message", ""):
                return parse_ts(rec["timestamp"])
    return None


def one_run(n, order, binary, workdir, api_port):
    """All three speakers once for size n. Returns {speaker: {...figures...}}."""
    c = Cleanup()
    try:
        router = Netns(c, "r")
        nss = {}
        for name, net in PEERS.items():
            ns = Netns(c, name[0].lower())
            veth(router, f"r{name[0].lower()}", f"{net}.1/24", ns, "up0", f"{net}.2/24")
            nss[name] = ns
        frr = Frr(c, router, frr_router_config(65000, "10.0.0.1",
                                               [(f"{net}.2", 65001) for net in PEERS.values()],
                                               shutdown=True))
        results = {}
        for name in order:
            ns, net = nss[name], PEERS[name]
            peer = f"{net}.2"
            local, remote = f"{net}.2", f"{net}.1"
            r = {}
            if name == "anycastd":
                # Cold start: the router's neighbor is open, so the session comes up while
                # anycastd is still adding N addresses to lo; only process start → all counts.
                neighbor_shutdown(frr, peer, False)
                t_start = time.time()
                sp = Anycastd(ns, binary, workdir, n, local, remote, api_port, cleanup=False)
                c.add(sp.stop)
                t_est, t_all, _ = watch_session(frr, peer, n, timeout=600 + n / 50)
                t_up = frr.adjchange_up(peer)
                r["start_to_all"] = t_all - t_start
                r["cold_est_to_all"] = (t_all - t_up) if t_up else None
                sp.stop()
                wait_router_empty(frr, router, peer)
                neighbor_shutdown(frr, peer, True)
                # Warm: same as the others below (routes ready, then the session). This start
                # adopts the addresses the cold one left on lo (no --cleanup): adding tens of
                # thousands of addresses to one interface costs the kernel minutes, once.
                t_start = time.time()
                sp = Anycastd(ns, binary, workdir, n, local, remote, api_port, cleanup=False)
                c.add(sp.stop)
                wait_until(f"anycastd to have {n} VIPs ready", 600 + n / 50,
                           lambda: sp.ready_vips() >= n, interval=0.2)
                r["warm_ready"] = time.time() - t_start
            elif name == "GoBGP":
                sp = Gobgp(ns, workdir, n, local, remote)
                c.add(sp.stop)
                sp.connect()
            else:
                sp = Bird(ns, workdir, n, local, remote)
                c.add(sp.stop)
                sp.connect()
            # FRR's message counters survive a session reset: count from here.
            updates0 = frr.neighbor(peer).get("messageStats", {}).get("updatesRecv", 0)
            # Every speaker holds its N routes now; the router lets the session up.
            neighbor_shutdown(frr, peer, False)
            t_est, t_all, poll = watch_session(frr, peer, n, timeout=120 + n / 100)
            t_up = frr.adjchange_up(peer)
            if t_up is None or t_up > t_all:
                raise Unmeasurable(f"no '%ADJCHANGE {peer} Up' in bgpd's log")
            r.update({"est_to_all": t_all - t_up, "poll": poll})
            cpu0 = cpu_seconds(sp.proc.pid)
            if name == "anycastd":
                t_log = log_time(sp.log_path, "session established")
                r["logest_to_all"] = (t_all - t_log) if t_log else None
            time.sleep(2)  # settle before reading counters and memory
            r["idle_cpu"] = (cpu_seconds(sp.proc.pid) - cpu0) / 2
            stats = frr.neighbor(peer).get("messageStats", {})
            r["updates_recv"] = (stats["updatesRecv"] - updates0) if "updatesRecv" in stats else None
            r["updates_sent_own"] = sp.updates_sent()
            r["rss_kib"] = rss_kib(sp.proc.pid)
            results[name] = r
            log(f"  {name} n={n}: est→all {fmt(r['est_to_all'], 's')}, "
                f"{r['updates_recv']} UPDATEs, RSS {r['rss_kib']} KiB")
            sp.stop()
            wait_router_empty(frr, router, peer)
            neighbor_shutdown(frr, peer, True)
        return results
    finally:
        c.run()


def measure(sizes, reps, binary, workdir, api_port):
    """Runs every size `reps` times (speaker order rotated) and keeps the medians."""
    names = list(PEERS)
    per_size = {}
    for n in sizes:
        runs = []
        # The largest size once: it takes minutes per speaker and varies little.
        n_reps = reps if n < 50000 else 1
        for rep in range(n_reps):
            order = names[rep % 3:] + names[:rep % 3]
            log(f"route scale: n={n} rep {rep + 1}/{n_reps} order {order}")
            runs.append(one_run(n, order, binary, workdir, api_port))
        agg = {}
        for name in names:
            keys = runs[0][name].keys()
            agg[name] = {k: median([r[name][k] for r in runs if r[name][k] is not None]) for k in keys}
        per_size[n] = agg
    return per_size


def tables(per_size, reps):
    note = (f"Median of {reps} run(s). From the router's session Established (bgpd's own "
            "`%ADJCHANGE … Up` log line, microsecond timestamps) to all N routes in its BGP RIB "
            "(`pfxRcd`, polled from bgpd's vty socket every ~2 ms: the resolution is one poll's "
            "median duration plus that pause). The speaker holds all N routes before the router "
            "lets the session up. Ratio = anycastd / peer "
            "(below 1: anycastd faster). The largest size runs once.")
    t = Table("Route scale: session Established → all N routes in FRR's RIB",
              ["N", "GoBGP", "BIRD", "anycastd", "ratio vs GoBGP", "ratio vs BIRD",
               "anycastd: own log 'session established' → all", "poll resolution"], note)
    cold = Table("anycastd cold start: process start → all N routes in FRR's RIB",
                 ["N", "process start → all", "of which Established → all",
                  "restart adopting the N addresses: start → ready"],
                 "The router's neighbor is open from the start, so the session comes up while "
                 "anycastd is still adding its N addresses to lo (part of its start-up); VIPs are "
                 "announced as the dataplane reports them programmed. The restart column is the "
                 "second start on the same namespace, which finds the addresses in place (as after "
                 "a daemon restart) and reports every VIP ready in /status (polled every 0.2 s "
                 "through a helper process in the namespace: resolution ~0.3 s). No peer figure: "
                 "GoBGP and BIRD load their routes differently (see above).")
    u = Table("UPDATE packing: UPDATE messages the router received for N routes",
              ["N", "GoBGP", "BIRD", "anycastd (FRR count)", "anycastd (own /metrics)",
               "ratio vs GoBGP", "ratio vs BIRD"],
              "FRR's `messageStats.updatesRecv` for the neighbor, End-of-RIB included; "
              "anycastd's own `anycastd_bgp_updates_sent_total` next to it.")
    m = Table("Footprint: resident memory (VmRSS) with N routes established at the router",
              ["N", "GoBGP", "BIRD", "anycastd", "ratio vs GoBGP", "ratio vs BIRD",
               "idle CPU GoBGP / BIRD / anycastd"],
              "VmRSS from /proc/PID/status 2 s after all N routes reached the router; idle CPU "
              "= utime+stime over those 2 s, as a share of one core.")
    for n, a in per_size.items():
        g, b, o = a["GoBGP"], a["BIRD"], a["anycastd"]
        res = max(x["poll"] for x in (g, b, o))
        # Established and all N seen by the same poll: below the resolution.
        tm = lambda v: fmt(v, "s")  # noqa: E731
        t.row(n, tm(g["est_to_all"]), tm(b["est_to_all"]), tm(o["est_to_all"]),
              ratio(g["est_to_all"], o["est_to_all"]), ratio(b["est_to_all"], o["est_to_all"]),
              fmt(o.get("logest_to_all"), "s"), fmt(max(x["poll"] for x in (g, b, o)), "s"))
        cold.row(n, fmt(o["start_to_all"], "s"), fmt(o.get("cold_est_to_all"), "s"),
                 fmt(o.get("warm_ready"), "s"))
        ui = lambda v: "n/a" if v is None else str(int(v))  # noqa: E731
        u.row(n, ui(g["updates_recv"]), ui(b["updates_recv"]), ui(o["updates_recv"]),
              ui(o["updates_sent_own"]), ratio(g["updates_recv"], o["updates_recv"]),
              ratio(b["updates_recv"], o["updates_recv"]))
        mib = lambda k: f"{k / 1024:.1f} MiB"  # noqa: E731
        m.row(n, mib(g["rss_kib"]), mib(b["rss_kib"]), mib(o["rss_kib"]),
              ratio(g["rss_kib"], o["rss_kib"]), ratio(b["rss_kib"], o["rss_kib"]),
              " / ".join(f"{x['idle_cpu'] * 100:.1f} %" for x in (g, b, o)))
    return [t, cold, u, m]
