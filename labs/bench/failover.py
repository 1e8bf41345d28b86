"""Measurement 2: failover latency. One node (anycastd, one VIP with a TCP [vip.check] every
100 ms, rise 1, fall 1), one FRR router. The check's listener is closed many times; for each
failure we take:

  close → check result     the owner loop's transition log line ("VIP … check: …")
  check result → UPDATE     the BGP session's debug line "sending routes" (both from anycastd's
                            JSON log, microsecond timestamps)
  UPDATE → router kernel    `ip -ts monitor route` in the router namespace: "Deleted <VIP>"
  close → router kernel     the whole failover as a client of the router would see it
"""

import json
import random
import subprocess
import sys
import threading
import time

from lib import (Cleanup, Frr, Netns, Table, Unmeasurable, frr_router_config, log, parse_ts,
                 percentile, veth, wait_until)
from speakers import Anycastd

VIP = "10.100.0.1"
PORT = 7000

# A listener in the node namespace, driven over stdin: "close" / "open", answers with the
# time.time() of the close()/listen() call.
LISTENER = r"""
import socket, sys, threading, time
srv = None
def serve(s):
    while True:
        try:
            c, _ = s.accept()
            c.close()
        except OSError:
            return
for cmd in sys.stdin:
    cmd = cmd.strip()
    if cmd == "open":
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("0.0.0.0", %d))
        srv.listen(64)
        t = time.time()
        threading.Thread(target=serve, args=(srv,), daemon=True).start()
    elif cmd == "close":
        t = time.time()
        srv.shutdown(socket.SHUT_RDWR)
        srv.close()
    print(t, flush=True)
""" % PORT


class RouteMonitor:
    """`ip -ts monitor route` in a namespace; keeps (epoch, line) for lines about one prefix."""

    def __init__(self, ns, prefix):
        self.events = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(["ip", "-n", ns.name, "-ts", "monitor", "route"],
                                     stdout=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, args=(prefix,), daemon=True).start()

    def _read(self, prefix):
        for line in self.proc.stdout:
            if "]" not in line:
                continue
            ts, rest = line.split("]", 1)
            rest = rest.strip()
            if rest.startswith(prefix + " ") or rest.startswith("Deleted " + prefix + " "):
                with self.cond:
                    self.events.append((parse_ts(ts), rest))
                    self.cond.notify_all()

    def wait(self, deleted, after, timeout):
        """The first event of the kind (deleted or added) stamped after `after`."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, line in self.events:
                    if t >= after and line.startswith("Deleted") == deleted:
                        return t
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


def log_events(path):
    """(epoch, message) of every anycastd JSON log line."""
    out = []
    with open(path) as f:
        for line in f:
            try:
                rec = json.loads(line)
                out.append((parse_ts(rec["timestamp"]), rec.get("fields", {}).get("message", "")))
            except (ValueError, KeyError):
                continue
    return out


def measure(cycles, binary, workdir):
    c = Cleanup()
    try:
        router, node = Netns(c, "fr"), Netns(c, "fn")
        veth(router, "rn", "10.0.1.1/24", node, "up0", "10.0.1.2/24")
        frr = Frr(c, router, frr_router_config(65000, "10.0.0.1", [("10.0.1.2", 65001)]))
        mon = RouteMonitor(router, VIP)
        c.add(lambda: (mon.proc.terminate(), mon.proc.wait()))
        listener = node.popen(sys.executable, "-c", LISTENER, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
        c.add(lambda: (listener.kill(), listener.wait()))

        def ctl(cmd):
            listener.stdin.write(cmd + "\n")
            listener.stdin.flush()
            line = listener.stdout.readline()
            if not line:
                raise Unmeasurable("the check's listener died")
            return float(line)

        ctl("open")
        check = ("[vip.check]\ntype = \"tcp\"\nport = %d\ninterval = \"100ms\"\ntimeout = \"50ms\"\n"
                 "rise = 1\nfall = 1" % PORT)
        sp = Anycastd(node, binary, workdir, 1, "10.0.1.2", "10.0.1.1", 9182, extra_vip=check,
                      log_level="info,anycastd::bgp=debug")
        c.add(sp.stop)
        if not mon.wait(False, 0, 60):
            raise Unmeasurable(f"{VIP} never reached the router's kernel")
        closes = []
        for i in range(cycles):
            time.sleep(random.uniform(0.15, 0.35))  # decorrelate from the check's phase
            t_close = ctl("close")
            t_gone = mon.wait(True, t_close, 10)
            if t_gone is None:
                raise Unmeasurable(f"cycle {i}: {VIP} still in the router's kernel 10 s after the "
                                   "check's listener closed")
            closes.append((t_close, t_gone))
            t_open = ctl("open")
            if mon.wait(False, t_open, 10) is None:
                raise Unmeasurable(f"cycle {i}: {VIP} not back at the router 10 s after the listener reopened")
        sp.stop()
        events = log_events(sp.log_path)
    finally:
        c.run()

    stages = {"close → check result": [], "check result → UPDATE sent": [],
              "UPDATE sent → route gone from router kernel": [], "close → route gone from router kernel": []}
    missing = 0
    for t_close, t_gone in closes:
        t_check = next((t for t, m in events if t >= t_close and m.startswith(f"VIP {VIP} check:")), None)
        t_upd = next((t for t, m in events if t_check and t >= t_check and m == "sending routes"), None)
        stages["close → route gone from router kernel"].append(t_gone - t_close)
        if t_check is None or t_upd is None or t_upd > t_gone:
            missing += 1
            continue
        stages["close → check result"].append(t_check - t_close)
        stages["check result → UPDATE sent"].append(t_upd - t_check)
        stages["UPDATE sent → route gone from router kernel"].append(t_gone - t_upd)
    log(f"failover: {len(closes)} cycles, {missing} without matching log lines")
    t = Table("Failover: a failing VIP check → route withdrawn at the router",
              ["stage", "samples", "p50", "p99", "max"],
              f"{len(closes)} failures of a TCP [vip.check] (interval 100 ms, timeout 50 ms, "
              "fall 1) whose listener is closed; anycastd's own JSON log timestamps and "
              "`ip -ts monitor route` in the router namespace (same clock). No peer figure: "
              "GoBGP and BIRD have no health checks of their own.")
    for name, vals in stages.items():
        ms = lambda v: "n/a" if v is None else f"{v * 1000:.2f} ms"  # noqa: E731
        t.row(name, len(vals), ms(percentile(vals, 50)), ms(percentile(vals, 99)),
              ms(max(vals) if vals else None))
    if missing == len(closes):
        raise Unmeasurable("no cycle had both the transition and the 'sending routes' log line")
    return [t]
