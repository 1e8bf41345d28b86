"""Measurement: the fleet catalog (issue 16). A real etcd (Debian's etcd-server) in the router
namespace, one FRR router, anycastd nodes whose [catalog] points at it:

    node i ns  10.0.i.2 ──── 10.0.i.1 ┐ router ns: FRR (AS 65000, ECMP) + etcd :2379
                                       ┘

  put → announced   3 nodes; each of P puts (a plain VIP on lo, over etcd's JSON gateway) is
                    timed from the put's answer to 3 ECMP next hops in the router's kernel
                    (polled every 2 ms inside the router namespace); p50/p99.
  10,000 VIPs       1 node; time from process start to all N prefixes at the router, with
                    the N VIPs in the TOML file (first start: adds N addresses to lo; second:
                    adopts them) and with the same N VIPs as N catalog documents (no cache
                    file, so read from etcd; the addresses are adopted as in the second file
                    start). The ratio catalog / file (second start) is the issue's 1.5x goal.
"""

import json
import os
import shutil
import subprocess
import time

from lib import (Cleanup, Frr, Netns, Table, Unmeasurable, fmt, frr_router_config, log,
                 percentile, sh, veth, wait_until)
from speakers import Anycastd, vip

ETCD_PORT = 2379
NODES = 3

# Runs inside the router namespace: P puts over etcd's JSON gateway, each timed to NODES next
# hops in this namespace's kernel. Prints [[put_s, announced_s], ...].
PUTTER = r"""
import base64, json, subprocess, sys, time, urllib.request
url, prefix, nodes, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
b64 = lambda s: base64.b64encode(s.encode()).decode()
def put(key, value):
    body = json.dumps({"key": b64(key), "value": b64(value)}).encode()
    urllib.request.urlopen(urllib.request.Request(url + "/v3/kv/put", body), timeout=10).read()
def hops(v):
    out = subprocess.run(["ip", "-4", "route", "show", v], capture_output=True, text=True).stdout
    return out.count("nexthop via") or (1 if " via " in out else 0)
res = []
for i in range(count):
    v = "10.200.%d.%d" % (i // 250, i % 250 + 1)
    t0 = time.time()
    put(prefix + "/vips/" + v, '{"interface": "lo"}')
    t1 = time.time()
    while hops(v) < nodes:
        if time.time() - t0 > 60:
            print(json.dumps({"error": "%s: %d next hops after 60 s" % (v, hops(v))}))
            sys.exit(1)
        time.sleep(0.002)
    res.append([t1 - t0, time.time() - t1])
    time.sleep(0.05)
print(json.dumps(res))
"""

# Runs inside the router namespace: N documents in transactions of 128 puts (etcd's default
# --max-txn-ops).
LOADER = r"""
import base64, json, sys, urllib.request
url, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
b64 = lambda s: base64.b64encode(s.encode()).decode()
vip = lambda i: "10.100.%d.%d" % (i // 250, i % 250 + 1)
for start in range(0, n, 128):
    ops = [{"requestPut": {"key": b64(prefix + "/vips/" + vip(i)), "value": b64('{"interface": "lo"}')}}
           for i in range(start, min(n, start + 128))]
    urllib.request.urlopen(urllib.request.Request(url + "/v3/kv/txn", json.dumps({"success": ops}).encode()), timeout=30).read()
print("loaded", n)
"""


class Etcd:
    def __init__(self, cleanup, ns, workdir):
        if shutil.which("etcd") is None:
            raise Unmeasurable("etcd not installed (apt-get install etcd-server)")
        self.data = os.path.join(workdir, f"etcd-{ns.name}")
        self.url = f"http://127.0.0.1:{ETCD_PORT}"
        log_path = os.path.join(workdir, f"etcd-{ns.name}.log")
        self.proc = ns.popen("etcd", "--name", "bench", "--data-dir", self.data,
                             "--listen-client-urls", f"http://0.0.0.0:{ETCD_PORT}",
                             "--advertise-client-urls", self.url,
                             "--listen-peer-urls", "http://127.0.0.1:2380",
                             "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
                             "--initial-cluster", "bench=http://127.0.0.1:2380",
                             "--quota-backend-bytes", str(2 << 30),
                             stdout=subprocess.DEVNULL, stderr=open(log_path, "w"))
        cleanup.add(self.stop)
        self.ns = ns
        wait_until("etcd to answer", 30, lambda: self.py("import urllib.request;"
                   f"urllib.request.urlopen('{self.url}/health', timeout=2).read()").returncode == 0,
                   interval=0.2)

    def py(self, code, *args):
        return subprocess.run(self.ns.cmd("python3", "-c", code, *args), capture_output=True, text=True)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def catalog_table(router_addr, prefix, cache):
    return "\n".join(["[catalog]", f'etcd = ["http://{router_addr}:{ETCD_PORT}"]',
                      f'prefix = "{prefix}"', f'cache = "{cache}"'])


def wait_pfx(frr, peer, n, timeout):
    def got():
        p = frr.peers().get(peer, {})
        return p.get("state") == "Established" and p.get("pfxRcd", 0) >= n
    wait_until(f"{n} prefixes from {peer}", timeout, got, interval=0.01)
    return time.time()


def wait_router_empty(frr, router, peer):
    def empty():
        p = frr.peers().get(peer, {})
        out = sh("ip", "-n", router.name, "-4", "route", "show")
        return p.get("state") != "Established" and out.count("\n") < 10
    wait_until(f"router to drop {peer}'s routes", 300, empty, interval=0.2)


def measure(puts, n, binary, workdir):
    c = Cleanup()
    try:
        router = Netns(c, "r")
        nodes = []
        for i in range(1, NODES + 1):
            ns = Netns(c, f"n{i}")
            veth(router, f"rn{i}", f"10.0.{i}.1/24", ns, "up0", f"10.0.{i}.2/24")
            nodes.append(ns)
        frr = Frr(c, router, frr_router_config(65000, "10.0.0.1",
                                               [(f"10.0.{i}.2", 65001) for i in range(1, NODES + 1)]))
        etcd = Etcd(c, router, workdir)

        # --- put → announced by all 3 nodes ---
        speakers = []
        for i, ns in enumerate(nodes, 1):
            cache = os.path.join(workdir, f"catalog-put-{i}.json")
            sp = Anycastd(ns, binary, workdir, 0, f"10.0.{i}.2", f"10.0.{i}.1", 9190,
                          tables=catalog_table(f"10.0.{i}.1", "/bench", cache), cleanup=False)
            c.add(sp.stop)
            speakers.append(sp)
        for i in range(1, NODES + 1):
            wait_until(f"node {i} established", 60,
                       lambda i=i: frr.peers().get(f"10.0.{i}.2", {}).get("state") == "Established",
                       interval=0.1)
        for sp in speakers:
            wait_until("catalog synced", 60,
                       lambda sp=sp: '"state":"synced"' in sp.get("/status").replace(" ", ""), interval=0.1)
        r = etcd.py(PUTTER, etcd.url, "/bench", str(NODES), str(puts))
        try:
            times = json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise Unmeasurable(f"put loop failed: {r.stdout}{r.stderr}")
        if isinstance(times, dict):
            raise Unmeasurable(times["error"])
        put_s = [t[0] for t in times]
        ann_s = [t[1] for t in times]
        for sp in speakers:
            sp.stop()
        for i in range(1, NODES + 1):
            wait_router_empty(frr, router, f"10.0.{i}.2")

        # --- 10,000 VIPs: file vs catalog, one node ---
        ns, peer, local = nodes[0], "10.0.1.2", "10.0.1.1"
        starts = {}
        for label in ("file, first start (adds the addresses)", "file, second start (adopts them)"):
            t0 = time.time()
            sp = Anycastd(ns, binary, workdir, n, peer, local, 9191, cleanup=False)
            c.add(sp.stop)
            starts[label] = wait_pfx(frr, peer, n, 900) - t0
            log(f"catalog bench: {label}: {starts[label]:.2f} s")
            sp.stop()
            wait_router_empty(frr, router, peer)
        r = etcd.py(LOADER, etcd.url, "/bench10k", str(n))
        if r.returncode != 0:
            raise Unmeasurable(f"loading {n} documents failed: {r.stderr}")
        cache = os.path.join(workdir, "catalog-10k.json")
        t0 = time.time()
        sp = Anycastd(ns, binary, workdir, 0, peer, local, 9192, cleanup=True,
                      tables=catalog_table(local, "/bench10k", cache))
        c.add(sp.stop)
        label = "catalog: N documents in etcd, no cache file"
        starts[label] = wait_pfx(frr, peer, n, 900) - t0
        log(f"catalog bench: {label}: {starts[label]:.2f} s")
        cache_kib = os.path.getsize(cache) // 1024 if os.path.exists(cache) else None
        sp.stop()

        t1 = Table("Catalog: put → announced by all 3 nodes",
                   ["puts", "etcd put (p50)", "put answered → 3 next hops p50", "p99", "max"],
                   note="One plain VIP per put over etcd's JSON gateway; from the put's answer to "
                        "three ECMP next hops in the router's kernel (polled every 2 ms).")
        t1.row(len(ann_s), fmt(percentile(put_s, 50), "s"), fmt(percentile(ann_s, 50), "s"),
               fmt(percentile(ann_s, 99), "s"), fmt(max(ann_s), "s"))
        t2 = Table(f"Catalog: {n} VIPs from node start to all announced",
                   ["source", "start → all N at the router", "vs file (second start)"],
                   note="One node, one FRR router; the same N plain VIPs on lo. Goal: catalog "
                        f"within 1.5x of the file. Cache file written after the catalog start: "
                        f"{cache_kib} KiB.")
        base = starts["file, second start (adopts them)"]
        for label, secs in starts.items():
            t2.row(label, fmt(secs, "s"), f"{secs / base:.2f}x")
        return [t1, t2]
    finally:
        c.run()
