"""Measurement: a frozen node leaves the router's ECMP. One node, one VIP (10.100.0.1), one FRR
router (bgpd + bfdd). The node's speaker is frozen with SIGSTOP many times; for each freeze
we take the time from the signal to the route's deletion in the router's kernel (`ip -ts
monitor route` in the router namespace, the same clock), then SIGCONT, and wait until the
route is back and, with BFD, the router's BFD session is Up again before the next freeze.

Cases, all against the same FRR router: anycastd with BFD at 300 ms × 3 and 100 ms × 3,
anycastd without BFD at hold time 9 s and 3 s, and BIRD as the node's speaker with BFD at the
same two timers. Then the CPU cost of BFD: anycastd with 2 peers at 100 ms × 3 against the
same daemon without BFD, and BIRD with the same 2 BFD sessions.
"""

import os
import random
import signal
import time

from failover import RouteMonitor
from lib import (Cleanup, Frr, Netns, Table, Unmeasurable, cpu_seconds, frr_router_config, log,
                 percentile, ratio, veth, wait_until)
from speakers import Anycastd, Bird

VIP = "10.100.0.1"
NODE, ROUTER = "10.0.1.2", "10.0.1.1"

# (label, speaker, BFD (interval ms, multiplier) or None, hold time)
CASES = [
    ("anycastd, BFD 300 ms × 3", "anycastd", (300, 3), 9),
    ("anycastd, BFD 100 ms × 3", "anycastd", (100, 3), 9),
    ("anycastd, no BFD, hold time 9 s", "anycastd", None, 9),
    ("anycastd, no BFD, hold time 3 s", "anycastd", None, 3),
    ("BIRD, BFD 300 ms × 3", "bird", (300, 3), 9),
    ("BIRD, BFD 100 ms × 3", "bird", (100, 3), 9),
]


def anycastd_bgp(bfd, hold):
    lines = [f"hold_time = {hold}"]
    if bfd:
        lines += ["bfd = true", f'bfd_min_tx = "{bfd[0]}ms"', f'bfd_min_rx = "{bfd[0]}ms"',
                  f"bfd_multiplier = {bfd[1]}"]
    return "\n".join(lines)


def bfd_up(frr, peer):
    peers = frr.vtysh_json("show bfd peers json") or []
    return any(p.get("peer") == peer and p.get("status") == "up" for p in peers)


def freezes(label, speaker, bfd, hold, cycles, binary, workdir):
    """Seconds from SIGSTOP to the route's deletion at the router, one per freeze."""
    c = Cleanup()
    try:
        router, node = Netns(c, "zr"), Netns(c, "zn")
        veth(router, "rn", f"{ROUTER}/24", node, "up0", f"{NODE}/24")
        keepalive = max(1, hold // 3)
        frr = Frr(c, router, frr_router_config(65000, "10.0.0.1", [(NODE, 65001)],
                                               timers=(keepalive, hold), bfd=bfd), bfdd=True)
        mon = RouteMonitor(router, VIP)
        c.add(lambda: (mon.proc.terminate(), mon.proc.wait()))
        if speaker == "anycastd":
            sp = Anycastd(node, binary, workdir, 1, NODE, ROUTER, 9184, bgp=anycastd_bgp(bfd, hold))
        else:
            sp = Bird(node, workdir, 1, NODE, ROUTER, bfd=bfd, start=True)
        c.add(sp.stop)
        pid = sp.proc.pid

        def resume():
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        c.add(resume)  # a frozen process cannot be stopped: thaw it before stopping it
        if not mon.wait(False, 0, 60):
            raise Unmeasurable(f"{label}: {VIP} never reached the router's kernel")
        out = []
        def steady():
            """The route is in the router's kernel and, with BFD, the router's BFD is Up."""
            return (bool(router.ip("route", "show", VIP).strip())
                    and (not bfd or bfd_up(frr, NODE)))
        i = 0
        while len(out) < cycles:
            i += 1
            if i > 3 * cycles:
                raise Unmeasurable(f"{label}: the session did not stay up between freezes")
            # Steady for a while (a session that flaps right after coming back would make the
            # next freeze measure something else), then a random pause to decorrelate from
            # the keepalive and BFD transmit phases.
            for _ in range(3):
                wait_until(f"{label}: route and BFD up at the router", 60, steady, 0.05)
                time.sleep(random.uniform(0.3, 0.6))
            if not steady():
                continue
            t_stop = time.time()
            os.kill(pid, signal.SIGSTOP)
            t_gone = mon.wait(True, t_stop, hold + 30)
            os.kill(pid, signal.SIGCONT)
            if t_gone is None:
                raise Unmeasurable(f"{label}, freeze {i}: {VIP} still at the router {hold + 30} s "
                                   "after SIGSTOP")
            out.append(t_gone - t_stop)
            t_cont = time.time()
            if mon.wait(False, t_cont, 60) is None:
                raise Unmeasurable(f"{label}, freeze {i}: {VIP} not back 60 s after SIGCONT")
        log(f"bfd: {label}: {cycles} freezes, p50 {percentile(out, 50) * 1000:.0f} ms")
        return out
    finally:
        c.run()


def cpu(speaker, bfd, seconds, binary, workdir):
    """CPU seconds per second of the node's speaker with 2 established peers over `seconds`."""
    c = Cleanup()
    try:
        router, node = Netns(c, "zr"), Netns(c, "zn")
        veth(router, "ra", "10.0.1.1/24", node, "ua", "10.0.1.2/24")
        veth(router, "rb", "10.0.2.1/24", node, "ub", "10.0.2.2/24")
        frr = Frr(c, router, frr_router_config(65000, "10.0.0.1", [("10.0.1.2", 65001),
                                                                   ("10.0.2.2", 65001)],
                                               timers=(3, 9), bfd=bfd), bfdd=True)
        routers = ["10.0.1.1", "10.0.2.1"]
        if speaker == "anycastd":
            sp = Anycastd(node, binary, workdir, 1, "10.0.1.2", routers, 9185,
                          bgp=anycastd_bgp(bfd, 9))
        else:
            sp = Bird(node, workdir, 1, "10.0.1.2", routers, bfd=bfd, start=True)
        c.add(sp.stop)

        def ready():
            peers = frr.vtysh_json("show bgp summary json") or {}
            up = [p for p in peers.get("ipv4Unicast", {}).get("peers", {}).values()
                  if p.get("state") == "Established"]
            return len(up) == 2 and (not bfd or (bfd_up(frr, "10.0.1.2") and bfd_up(frr, "10.0.2.2")))
        wait_until("2 sessions (and BFD) up", 60, ready, 0.2)
        time.sleep(2)  # past the Poll Sequence to the fast timers
        before, t0 = cpu_seconds(sp.proc.pid), time.monotonic()
        time.sleep(seconds)
        used = cpu_seconds(sp.proc.pid) - before
        return used / (time.monotonic() - t0)
    finally:
        c.run()


def measure(cycles, cpu_secs, binary, workdir):
    results = {}
    for label, speaker, bfd, hold in CASES:
        results[label] = freezes(label, speaker, bfd, hold, cycles, binary, workdir)
    ms = lambda v: f"{v * 1000:.0f} ms"  # noqa: E731
    t = Table("Node freeze: SIGSTOP of the node's speaker → its route gone from the router's kernel",
              ["node's speaker", "freezes", "p50", "p99", "max", "p50, anycastd / BIRD at the same timers"],
              f"{cycles} freezes per row; one FRR router (bgpd + bfdd, BFD at the row's timers, "
              "BGP timers keepalive = hold / 3); `ip -ts monitor route` in the router namespace. "
              "The hold-time rows are the figure without BFD: 6–9 s (3 s: 2–3 s) depending on "
              "when the last keepalive arrived. Ratio = anycastd / BIRD: below 1 is faster.")
    for label, speaker, bfd, hold in CASES:
        vals = results[label]
        peer = next((results[lb] for lb, sp, b, _ in CASES if sp == "bird" and b == bfd), None)
        rel = (ratio(percentile(peer, 50), percentile(vals, 50))
               if speaker == "anycastd" and bfd and peer else "")
        t.row(label, len(vals), ms(percentile(vals, 50)), ms(percentile(vals, 99)), ms(max(vals)),
              rel)

    ours_off = cpu("anycastd", None, cpu_secs, binary, workdir)
    ours_on = cpu("anycastd", (100, 3), cpu_secs, binary, workdir)
    bird_on = cpu("bird", (100, 3), cpu_secs, binary, workdir)
    pct = lambda v: f"{v * 100:.2f} %"  # noqa: E731
    u = Table("BFD's CPU cost: 2 peers at 100 ms × 3",
              ["node's speaker", "CPU (one core)", "anycastd / BIRD"],
              f"utime + stime over {cpu_secs} s with 2 established BGP sessions to one FRR router "
              "(each over its own veth), after BFD is Up at 100 ms × 3 (20 packets per second "
              "each way); the same without BFD for the difference.")
    u.row("anycastd, no BFD", pct(ours_off), "")
    u.row("anycastd, BFD 100 ms × 3", pct(ours_on), ratio(bird_on, ours_on))
    u.row("BIRD, BFD 100 ms × 3", pct(bird_on), "")
    u.row("BFD's share in anycastd", pct(max(0.0, ours_on - ours_off)), "")
    return [t, u]
