"""Measurement 6 (issue 15): cold start, from process start to all N routes at the router with
the neighbor open from the start, for anycastd with `bind = "route"`, anycastd with
`bind = "address"` spread over several interfaces, and BIRD with the same N static routes, in
the same run against the same router.

Topology (rebuilt for every size and repetition, so every start is a first start on a fresh
namespace, as after a reboot):

    anycastd (route)    ns 10.0.1.2 ──── 10.0.1.1 ┐
    anycastd (address)  ns 10.0.2.2 ──── 10.0.2.1 ├ router ns: FRR (zebra + bgpd), AS 65000
    BIRD                ns 10.0.3.2 ──── 10.0.3.1 ┘

One speaker runs at a time; the router is back to zero routes before the next one starts.
Route-bound VIPs sit on `lo`. Address-bound VIPs are spread round-robin over IFACES bridge
interfaces made beforehand (the build host's kernel has no dummy interfaces; an IPv4 address
insert walks the address list of its own interface whatever the interface's type, which is the
cost spreading avoids).
"""

import time

from lib import Cleanup, Frr, Netns, Table, fmt, frr_router_config, log, median, ratio, veth
from routes import neighbor_shutdown, wait_router_empty, watch_session
from speakers import Anycastd, Bird

IFACES = 10
CASES = {"route": "10.0.1", "address": "10.0.2", "BIRD": "10.0.3"}


def one_run(n, order, binary, workdir, api_port):
    """Each case once for size n. Returns {case: {start_to_all, est_to_all, poll}}."""
    c = Cleanup()
    try:
        router = Netns(c, "r")
        nss = {}
        for name, net in CASES.items():
            ns = Netns(c, name[0].lower())
            veth(router, f"r{name[0].lower()}", f"{net}.1/24", ns, "up0", f"{net}.2/24")
            nss[name] = ns
        for k in range(IFACES):
            nss["address"].ip("link", "add", f"vips{k}", "type", "bridge")
            nss["address"].ip("link", "set", f"vips{k}", "up")
        frr = Frr(c, router, frr_router_config(65000, "10.0.0.1",
                                               [(f"{net}.2", 65001) for net in CASES.values()],
                                               shutdown=True))
        results = {}
        for name in order:
            ns, net = nss[name], CASES[name]
            peer = f"{net}.2"
            neighbor_shutdown(frr, peer, False)
            t_start = time.time()
            if name == "BIRD":
                sp = Bird(ns, workdir, n, peer, f"{net}.1", start=True, wait=False)
            else:
                if name == "route":
                    interface, extra = "lo", 'bind = "route"'
                else:
                    interface, extra = (lambda i: f"vips{i % IFACES}"), ""
                sp = Anycastd(ns, binary, workdir, n, peer, f"{net}.1", api_port,
                              extra_vip=extra, interface=interface, cleanup=False)
            c.add(sp.stop)
            _, t_all, poll = watch_session(frr, peer, n, timeout=600 + n / 50)
            t_up = frr.adjchange_up(peer)
            results[name] = {"start_to_all": t_all - t_start,
                             "est_to_all": (t_all - t_up) if t_up and t_up <= t_all else None,
                             "poll": poll}
            log(f"  cold start {name} n={n}: start→all {fmt(t_all - t_start, 's')}")
            sp.stop()
            wait_router_empty(frr, router, peer)
            neighbor_shutdown(frr, peer, True)
        return results
    finally:
        c.run()


def measure(sizes, reps, binary, workdir, api_port):
    names = list(CASES)
    per_size = {}
    for n in sizes:
        runs = []
        # The largest size once, as in the route scale: it is what varies least.
        n_reps = reps if n < 50000 else 1
        for rep in range(n_reps):
            order = names[rep % 3:] + names[:rep % 3]
            log(f"cold start: n={n} rep {rep + 1}/{n_reps} order {order}")
            runs.append(one_run(n, order, binary, workdir, api_port))
        per_size[n] = {name: {k: median([r[name][k] for r in runs if r[name][k] is not None])
                              for k in runs[0][name]} for name in names}
    return tables(per_size, reps)


def tables(per_size, reps):
    note = (f"Median of {reps} run(s) (the largest size: one), each on fresh namespaces. From process start to all N "
            "routes in the router's BGP RIB (`pfxRcd`, polled every ~2 ms), the router's "
            "neighbor open from the start: the session comes up while the speaker is still "
            "loading. anycastd with `bind = \"route\"` has its N VIPs on `lo`; with "
            f"`bind = \"address\"` they are spread over {IFACES} interfaces; BIRD has the same "
            "N /32s as static blackhole routes. Ratio = anycastd / BIRD (below 1: anycastd "
            "faster). In brackets: of which session Established → all.")
    t = Table("Cold start by VIP binding: process start → all N routes in FRR's RIB",
              ["N", "BIRD (static routes)", "anycastd bind = \"route\"", "ratio vs BIRD",
               f"anycastd bind = \"address\" over {IFACES} interfaces", "ratio vs BIRD"], note)
    for n, a in per_size.items():
        b, r, d = a["BIRD"], a["route"], a["address"]

        def cell(x):
            est = x.get("est_to_all")
            return fmt(x["start_to_all"], "s") + (f" ({fmt(est, 's')})" if est is not None else "")
        t.row(n, cell(b), cell(r), ratio(b["start_to_all"], r["start_to_all"]),
              cell(d), ratio(b["start_to_all"], d["start_to_all"]))
    return [t]
