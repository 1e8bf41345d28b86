"""Shared pieces of labs/bench: namespaces, FRR, processes, /proc sampling, tables.

Everything created here carries the bench's pid in its name and is removed by `Cleanup`,
also when a measurement fails half way.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone

PID = os.getpid()


class Unmeasurable(Exception):
    """A figure could not be measured (as opposed to: it was slow)."""


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def sh(*args, check=True, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise Unmeasurable(f"{' '.join(args)} failed: {r.stdout}{r.stderr}".strip())
    return r.stdout


def wait_until(what, timeout, probe, interval=0.05):
    """Polls probe() until it returns something truthy; returns it, or raises Unmeasurable."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise Unmeasurable(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def parse_ts(text):
    """RFC 3339 (tracing) or `ip -ts` ([2026-11-21T14:13:29.242576], UTC host) → epoch seconds."""
    text = text.strip("[]").rstrip("Z")
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


# ---- processes ---------------------------------------------------------------------------


class Cleanup:
    """Undo stack: processes to stop, namespaces and directories to remove (LIFO)."""

    def __init__(self):
        self.steps = []

    def add(self, fn):
        self.steps.append(fn)
        return fn

    def run(self):
        while self.steps:
            fn = self.steps.pop()
            try:
                fn()
            except Exception as e:  # cleanup must go on
                log(f"cleanup: {e}")


def stop(proc, sig=signal.SIGTERM, timeout=15):
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_seconds(pid):
    """utime+stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is state (field 3); utime, stime are fields 14, 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_split(pid):
    """(utime, stime) of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tck, int(fields[12]) / tck


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise Unmeasurable(f"no VmRSS for pid {pid}")


# ---- namespaces ---------------------------------------------------------------------------


class Netns:
    counter = 0

    def __init__(self, cleanup, tag):
        Netns.counter += 1
        self.name = f"bn{tag}{PID}x{Netns.counter}"
        sh("ip", "netns", "add", self.name)
        cleanup.add(self.delete)
        self.ip("link", "set", "lo", "up")

    def ip(self, *args, check=True):
        return sh("ip", "-n", self.name, *args, check=check)

    def cmd(self, *args):
        return ["ip", "netns", "exec", self.name, *args]

    def popen(self, *args, **kw):
        return subprocess.Popen(self.cmd(*args), **kw)

    def delete(self):
        out = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True)
        for pid in out.stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


def veth(a, a_if, a_cidr, b, b_if, b_cidr):
    sh("ip", "link", "add", a_if, "netns", a.name, "type", "veth", "peer", b_if, "netns", b.name)
    a.ip("addr", "add", a_cidr, "dev", a_if)
    b.ip("addr", "add", b_cidr, "dev", b_if)
    a.ip("link", "set", a_if, "up")
    b.ip("link", "set", b_if, "up")


# ---- FRR -------------------------------------------------------------------------------------


class Frr:
    """zebra + bgpd (+ bfdd when asked) in a namespace, with its own pathspace (-N), as
    tests/support/frr.rs does."""

    def __init__(self, cleanup, ns, config, bfdd=False):
        self.ns = ns
        self.name = ns.name
        self._vty = None
        self.conf_dir = f"/etc/frr/{self.name}"
        self.run_dir = f"/var/run/frr/{self.name}"
        os.makedirs(self.conf_dir, exist_ok=True)
        os.makedirs(self.run_dir, exist_ok=True)
        cleanup.add(self.remove)
        with open(f"{self.conf_dir}/frr.conf", "w") as f:
            f.write(config)
        open(f"{self.conf_dir}/vtysh.conf", "w").close()
        sh("chown", "-R", "frr:frr", self.conf_dir, self.run_dir)
        self.start("zebra")
        wait_until("zebra socket", 10, lambda: os.path.exists(f"{self.run_dir}/zserv.api"))
        if bfdd:
            self.start("bfdd")
        self.start("bgpd")
        wait_until("bgpd vty", 10, lambda: self.vtysh_json("show bgp summary json") is not None)
        # The --log file target ignores `log timestamp precision`; a file target configured
        # over bgpd's own vty honours it (microseconds for %ADJCHANGE).
        for cmd in ("enable", "configure terminal",
                    f"log file {self.run_dir}/bgpd-precise.log informational",
                    "log timestamp precision 6", "end"):
            out = self.vty(cmd)
            if out.strip():
                raise Unmeasurable(f"bgpd refused '{cmd}': {out.strip()}")

    def start(self, daemon):
        sh(*self.ns.cmd(f"/usr/lib/frr/{daemon}", "-d", "-N", self.name,
                        "-f", f"{self.conf_dir}/frr.conf", "-i", f"{self.run_dir}/{daemon}.pid",
                        "--log", f"file:{self.run_dir}/{daemon}.log"))
        wait_until(f"{daemon} pid file", 10, lambda: os.path.exists(f"{self.run_dir}/{daemon}.pid"))

    def pid(self, daemon):
        try:
            return int(open(f"{self.run_dir}/{daemon}.pid").read().strip())
        except (OSError, ValueError):
            return None

    def vtysh(self, cmd):
        return subprocess.run(["vtysh", "-N", self.name, "-c", cmd],
                              capture_output=True, text=True).stdout

    def adjchange_up(self, peer):
        """When bgpd logged the session with `peer` Up (`%ADJCHANGE … Up`, microseconds with
        `log timestamp precision 6`): the moment it went Established, before it processed
        any UPDATE — a poll cannot see that moment when the UPDATEs arrive in the same burst."""
        t = None
        try:
            with open(f"{self.run_dir}/bgpd-precise.log") as f:
                for line in f:
                    if "%ADJCHANGE" in line and f"neighbor {peer}(" in line and line.rstrip().endswith(" Up"):
                        d, tm = line.split()[:2]
                        t = parse_ts(d.replace("/", "-") + "T" + tm)
        except OSError:
            return None
        return t

    def vtysh_multi(self, cmds):
        args = ["vtysh", "-N", self.name]
        for c in cmds:
            args += ["-c", c]
        sh(*args)

    def vtysh_json(self, cmd):
        try:
            return json.loads(self.vtysh(cmd))
        except ValueError:
            return None

    def vty(self, cmd):
        """A command over bgpd's own vty socket, the way vtysh talks to it (command + NUL;
        the answer ends with three NULs and a status byte): ~0.1 ms against vtysh's ~40 ms,
        so polls resolve milliseconds."""
        if self._vty is None:
            self._vty = socket.socket(socket.AF_UNIX)
            self._vty.connect(f"{self.run_dir}/bgpd.vty")
        self._vty.sendall(cmd.encode() + b"\0")
        buf = b""
        while not (len(buf) >= 4 and buf[-4:-1] == b"\0\0\0"):
            data = self._vty.recv(1 << 16)
            if not data:
                self._vty = None
                raise Unmeasurable("bgpd closed its vty socket")
            buf += data
        return buf[:-4].decode()

    def peers(self):
        """{neighbor: {state, pfxRcd, ...}} from the IPv4 unicast summary."""
        try:
            s = json.loads(self.vty("show bgp ipv4 unicast summary json"))
        except ValueError:
            return {}
        return s.get("peers", {})

    def neighbor(self, addr):
        n = self.vtysh_json(f"show bgp neighbors {addr} json") or {}
        return n.get(addr, {})

    def remove(self):
        for d in ("bgpd", "zebra"):
            p = self.pid(d)
            if p:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        shutil.rmtree(self.conf_dir, ignore_errors=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)


def frr_router_config(asn, router_id, neighbors, shutdown=False, timers=None, bfd=None):
    """A router that accepts everything from `neighbors` [(address, asn)] and installs ECMP.
    `timers` = (keepalive, hold) for every neighbor; `bfd` = (interval ms, multiplier): BFD
    (bfdd, single hop) to every neighbor with that transmit and receive interval."""
    lines = [
        "frr defaults datacenter",
        "hostname bench-router",
        "log timestamp precision 6",
        "!",
        f"router bgp {asn}",
        f" bgp router-id {router_id}",
        " no bgp ebgp-requires-policy",
        " no bgp network import-check",
        " bgp bestpath as-path multipath-relax",
    ]
    for addr, peer_asn in neighbors:
        lines.append(f" neighbor {addr} remote-as {peer_asn}")
        lines.append(f" neighbor {addr} timers connect 1")
        if timers:
            lines.append(f" neighbor {addr} timers {timers[0]} {timers[1]}")
        if bfd:
            lines.append(f" neighbor {addr} bfd profile bench")
        if shutdown:
            lines.append(f" neighbor {addr} shutdown")
    lines += [" address-family ipv4 unicast", "  maximum-paths 16", " exit-address-family", "!"]
    if bfd:
        lines += ["bfd", " profile bench", f"  transmit-interval {bfd[0]}",
                  f"  receive-interval {bfd[0]}", f"  detect-multiplier {bfd[1]}", " exit",
                  "exit", "!"]
    lines.append("")
    return "\n".join(lines)


# ---- statistics and tables -------------------------------------------------------------------


def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def median(values):
    return percentile(values, 50)


def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if unit == "s":
            if v < 1:
                return f"{v * 1000:.1f} ms"
            return f"{v:.2f} s"
        if abs(v) >= 100:
            return f"{v:.0f}{unit}"
        return f"{v:.3g}{unit}"
    return f"{v}{unit}"


def ratio(peer, ours):
    """ours / peer: below 1 means anycastd needed less (time, CPU, memory, messages)."""
    if peer is None or ours is None or peer == 0:
        return "n/a"
    r = ours / peer
    return f"{r:.2f}" if r >= 0.1 else f"{r:.3f}"


class Table:
    """A markdown table: printed as it is, and collected for docs/PERFORMANCE.md."""

    def __init__(self, title, header, note=""):
        self.title, self.header, self.rows, self.note = title, header, [], note

    def row(self, *cells):
        self.rows.append([str(c) for c in cells])

    def markdown(self):
        out = [f"### {self.title}", ""]
        if self.note:
            out += [self.note, ""]
        out.append("| " + " | ".join(self.header) + " |")
        out.append("|" + "|".join("---" for _ in self.header) + "|")
        for r in self.rows:
            out.append("| " + " | ".join(r) + " |")
        return "\n".join(out) + "\n"
