"""Measurement 4: the cost of health checking. anycastd runs R HTTP checks per second (R VIPs on
lo, each with an http [vip.check] every 1 s against its own address in 10.77.0.0/16, which is
local to the namespace); a reference checker written here (Python asyncio, one connection per
check like anycastd, same targets, same interval and timeout) does the same. One HTTP server
(Python asyncio, `Connection: close`) answers both, one checker at a time.

Figures: CPU seconds (utime+stime from /proc/PID/stat) per 1,000 checks, over a window after a
warm-up, and VmRSS at the end of the window."""

import subprocess
import sys
import threading
import time

from lib import Cleanup, Netns, Table, Unmeasurable, cpu_split, log, ratio, rss_kib, wait_until
from speakers import Anycastd, vip

SERVER = r"""
import asyncio
RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
async def handle(r, w):
    try:
        await r.readuntil(b"\r\n\r\n")
        w.write(RESP)
        await w.drain()
    except Exception:
        pass
    w.close()
async def main():
    s = await asyncio.start_server(handle, "0.0.0.0", 8080, backlog=4096, reuse_address=True)
    print("ready", flush=True)
    await s.serve_forever()
asyncio.run(main())
"""

# The reference: every target checked once per interval (phases spread like anycastd's
# jitter), new connection each time, GET with Host and Connection: close, status line parsed,
# timeout 500 ms. Prints the running count of finished checks once per second.
REFERENCE = r"""
import asyncio, random, sys
targets = [a for a in sys.argv[1].split(",")]
done = 0
ok = 0
async def check(addr):
    r, w = await asyncio.open_connection(addr, 8080)
    try:
        w.write(b"GET /healthz HTTP/1.1\r\nHost: " + addr.encode() + b"\r\nUser-Agent: ref\r\nConnection: close\r\n\r\n")
        await w.drain()
        line = await r.readline()
        ok = line.split()[1] == b"200"
        await r.read()
        return ok
    finally:
        w.close()
async def loop(addr):
    global done, ok
    await asyncio.sleep(random.random())
    while True:
        t = asyncio.get_running_loop().time()
        try:
            passed = await asyncio.wait_for(check(addr), 0.5)
            ok += passed  # not `ok += await …`: that reads ok before the await
        except Exception:
            pass
        done += 1
        await asyncio.sleep(max(0, 1.0 - (asyncio.get_running_loop().time() - t)))
async def report():
    while True:
        await asyncio.sleep(1)
        print(done, ok, flush=True)
async def main():
    await asyncio.gather(report(), *(loop(a) for a in targets))
asyncio.run(main())
"""


def target(i):
    return vip(i, net=77)


def window(pid, count, secs):
    """CPU seconds, checks done, share passing and RSS over `secs` seconds
    (count() → (checks so far, passed so far), read together)."""
    (u0, s0), (n0, ok0) = cpu_split(pid), count()
    t0 = time.monotonic()
    time.sleep(secs)
    (u1, s1), (n1, ok1) = cpu_split(pid), count()
    el = time.monotonic() - t0
    if n1 is None or n0 is None or n1 <= n0:
        raise Unmeasurable(f"no checks counted in the window ({n0} → {n1})")
    return {"cpu": (u1 - u0) + (s1 - s0), "user": u1 - u0, "sys": s1 - s0, "checks": n1 - n0, "rate": (n1 - n0) / el, "rss": rss_kib(pid),
            "ok": (ok1 - ok0) / (n1 - n0)}


def measure(rate, secs, binary, workdir):
    c = Cleanup()
    try:
        ns = Netns(c, "hc")
        ns.ip("route", "add", "local", "10.77.0.0/16", "dev", "lo")
        server = ns.popen(sys.executable, "-c", SERVER, stdout=subprocess.PIPE, text=True)
        c.add(lambda: (server.kill(), server.wait()))
        if server.stdout.readline().strip() != "ready":
            raise Unmeasurable("the HTTP server did not start")

        # anycastd: R VIPs on lo, each checked over HTTP at its own target address.
        extra = ("[vip.check]\ntype = \"http\"\naddress = \"{t}\"\nport = 8080\npath = \"/healthz\"\n"
                 "interval = \"1s\"\ntimeout = \"500ms\"")
        sp = Anycastd(ns, binary, workdir, rate, "10.0.9.2", "10.0.9.1", 9183,
                      extra_vip=lambda i: extra.format(t=target(i)), log_level="warn")
        c.add(sp.stop)

        def ours():
            # One scrape for both numbers.
            out = subprocess.run(ns.cmd(sys.executable, "-c",
                                        "import urllib.request,sys;sys.stdout.write(urllib.request."
                                        "urlopen('http://127.0.0.1:9183/metrics',timeout=5).read().decode())"),
                                 capture_output=True, text=True).stdout
            total = ok = 0.0
            for line in out.splitlines():
                if line.startswith("anycastd_checks_total"):
                    v = float(line.rsplit(" ", 1)[1])
                    total += v
                    ok += v if 'result="ok"' in line else 0
            return total, ok

        wait_until("anycastd's first 2 rounds of checks", 60,
                   lambda: ours()[0] >= 2 * rate, interval=0.5)
        log(f"checks: anycastd warm, measuring {secs} s")
        o = window(sp.proc.pid, ours, secs)
        sp.stop()

        # The reference checker.
        ref = ns.popen(sys.executable, "-c", REFERENCE, ",".join(target(i) for i in range(rate)),
                       stdout=subprocess.PIPE, text=True)
        c.add(lambda: (ref.kill(), ref.wait()))
        last = {"v": (0, 0)}

        def reader():
            for line in ref.stdout:
                last["v"] = tuple(int(x) for x in line.split())
        threading.Thread(target=reader, daemon=True).start()
        wait_until("the reference's first 2 rounds", 60, lambda: last["v"][0] >= 2 * rate, interval=0.5)
        log(f"checks: reference warm, measuring {secs} s")
        r = window(ref.pid, lambda: last["v"], secs)
    finally:
        c.run()

    t = Table(f"Health checking: {rate} HTTP checks per second for {secs} s",
              ["", "reference (Python asyncio)", "anycastd", "ratio"],
              "CPU = utime+stime of the checker process over the window; one HTTP server "
              "(Python asyncio, same namespace) answers both, one checker at a time. "
              "Ratio = anycastd / reference (below 1: anycastd cheaper).")
    per_k = lambda x: x["cpu"] / x["checks"] * 1000  # noqa: E731
    t.row("checks/s achieved", f"{r['rate']:.0f}", f"{o['rate']:.0f}", "")
    t.row("checks passing", f"{r['ok'] * 100:.1f} %", f"{o['ok'] * 100:.1f} %", "")
    t.row("CPU seconds per 1,000 checks", f"{per_k(r):.3f}", f"{per_k(o):.3f}", ratio(per_k(r), per_k(o)))
    t.row("… of which user / system", f"{r['user'] / r['checks'] * 1000:.3f} / {r['sys'] / r['checks'] * 1000:.3f}",
          f"{o['user'] / o['checks'] * 1000:.3f} / {o['sys'] / o['checks'] * 1000:.3f}", "")
    t.row("CPU share of one core", f"{r['cpu'] / secs * 100:.1f} %", f"{o['cpu'] / secs * 100:.1f} %",
          ratio(r["cpu"], o["cpu"]))
    t.row("RSS", f"{r['rss'] / 1024:.1f} MiB", f"{o['rss'] / 1024:.1f} MiB", ratio(r["rss"], o["rss"]))
    return [t]
