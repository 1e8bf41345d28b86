"""Measurement: resident memory with N VIPs announced to two peers, anycastd vs BIRD (issue 15).

Topology (one per size N), one speaker at a time:

    anycastd ns  10.0.1.2 ──── 10.0.1.1 ┐
                 10.0.2.2 ──── 10.0.2.1 ├ router ns: FRR (zebra + bgpd), AS 65000
    BIRD ns      10.0.3.2 ──── 10.0.3.1 │
                 10.0.4.2 ──── 10.0.4.1 ┘

anycastd has its N VIPs with `bind = "route"` (the kernel takes under a second for 50,000 local
routes; addresses on one interface take minutes, see the cold start), BIRD the same N static
routes exported to both sessions. VmRSS is read 2 s after both of the speaker's sessions hold
all N routes at the router.

With `heaptrack` set (labs/bench/run --heaptrack DIR), anycastd runs under heaptrack instead and
its profile is left in DIR (read with `heaptrack_print`); its RSS is then not a figure.
"""

import os
import time

from lib import Cleanup, Frr, Netns, Table, Unmeasurable, frr_router_config, log, ratio, rss_kib, veth
from speakers import Anycastd, Bird
from routes import watch_session

NODES = {"anycastd": ("10.0.1", "10.0.2"), "BIRD": ("10.0.3", "10.0.4")}


def anycastd_pid(proc):
    """The daemon's pid: the process itself, or the child of the heaptrack script that runs it
    (not heaptrack's own interpreter, its other child)."""
    try:
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
            children = [int(p) for p in f.read().split()]
    except OSError:
        return proc.pid
    for pid in children:
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().startswith("anycastd"):
                    return pid
        except OSError:
            pass
    return proc.pid


def one_run(n, binary, workdir, api_port, heaptrack=None):
    c = Cleanup()
    try:
        router = Netns(c, "mr")
        nss = {}
        for name, nets in NODES.items():
            ns = Netns(c, "m" + name[0].lower())
            for i, net in enumerate(nets):
                veth(router, f"r{name[0].lower()}{i}", f"{net}.1/24", ns, f"up{i}", f"{net}.2/24")
            nss[name] = ns
        neighbors = [(f"{net}.2", 65001) for nets in NODES.values() for net in nets]
        frr = Frr(c, router, frr_router_config(65000, "10.0.0.1", neighbors))
        results = {}
        for name in ("BIRD", "anycastd"):
            ns, nets = nss[name], NODES[name]
            local = f"{nets[0]}.2"
            routers = [f"{net}.1" for net in nets]
            if name == "anycastd":
                wrap = []
                if heaptrack:
                    wrap = ["heaptrack", "-o", os.path.join(heaptrack, f"anycastd-{n}")]
                sp = Anycastd(ns, binary, workdir, n, local, routers, api_port,
                              extra_vip='bind = "route"', wrap=wrap)
            else:
                sp = Bird(ns, workdir, n, local, routers, start=True)
            c.add(sp.stop)
            for net in nets:
                watch_session(frr, f"{net}.2", n, timeout=300 + n / 50)
            time.sleep(2)  # settle before reading memory
            pid = anycastd_pid(sp.proc) if name == "anycastd" else sp.proc.pid
            results[name] = rss_kib(pid)
            log(f"  memory n={n}: {name} RSS {results[name]} KiB with 2 peers")
            if name == "anycastd" and heaptrack:
                # The heaptrack script does not pass SIGTERM on: stop the daemon itself.
                os.kill(pid, 15)
            sp.stop()
        return results
    finally:
        c.run()


def measure(sizes, binary, workdir, api_port, heaptrack=None):
    per_size = {n: one_run(n, binary, workdir, api_port, heaptrack) for n in sizes}
    if heaptrack:
        raise Unmeasurable(f"ran under heaptrack (profiles in {heaptrack}): no RSS figures")
    t = Table("Memory: resident memory (VmRSS) with N VIPs announced to two peers",
              ["N", "BIRD", "anycastd", "ratio vs BIRD"],
              "One FRR router, two sessions per speaker, one speaker at a time; VmRSS from "
              "/proc/PID/status 2 s after both sessions hold all N routes at the router. "
              "anycastd's VIPs use `bind = \"route\"`; BIRD exports N static routes to both "
              "sessions. One run per size.")
    for n, r in per_size.items():
        t.row(n, f"{r['BIRD'] / 1024:.1f} MiB", f"{r['anycastd'] / 1024:.1f} MiB",
              ratio(r["BIRD"], r["anycastd"]))
    return [t]
