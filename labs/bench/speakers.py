"""The three BGP speakers the bench compares, each started in its own namespace with the same N
host routes ready before its session comes up: anycastd (VIPs on lo), GoBGP (routes injected
from an MRT file, then the neighbor added), BIRD (N static routes exported)."""

import ipaddress
import os
import struct
import subprocess
import time

from lib import Unmeasurable, sh, stop, wait_until


def vip(i, net=100):
    """The i-th VIP: 10.<net>.(i/250).(i%250+1) — never a .0 or .255."""
    return f"10.{net}.{i // 250}.{i % 250 + 1}"


class Speaker:
    """A running speaker: its process (for RSS/CPU) and how to count its UPDATEs."""

    name = "?"
    proc = None

    def updates_sent(self):
        return None

    def stop(self):
        if self.proc is not None:
            stop(self.proc)


# ---- anycastd ---------------------------------------------------------------------------------


class Anycastd(Speaker):
    name = "anycastd"

    def __init__(self, ns, binary, workdir, n, local, peer, api_port, extra_vip="", log_level="info",
                 cleanup=True, bgp="hold_time = 9", interface="lo", tables="", wrap=()):
        """`peer`: one router address or a list of them; `bgp`: lines for [bgp]; `extra_vip`
        and `interface`: a value, or a function of the VIP's index; `tables`: more TOML tables
        (e.g. `[catalog]`) after the peers; `wrap`: a command that runs the binary (heaptrack)."""
        self.ns, self.api = ns, f"http://127.0.0.1:{api_port}"
        lines = [
            "[node]", f'router_id = "{local}"', "asn = 65001", "",
            "[api]", f'listen = "127.0.0.1:{api_port}"', "",
            "[bgp]", bgp, "connect_retry = 1", "",
        ]
        for address in [peer] if isinstance(peer, str) else peer:
            lines += ["[[bgp.peer]]", f'address = "{address}"', "asn = 65000", ""]
        if tables:
            lines += [tables, ""]
        for i in range(n):
            extra = extra_vip(i) if callable(extra_vip) else extra_vip
            iface = interface(i) if callable(interface) else interface
            lines += ["[[vip]]", f'address = "{vip(i)}"', f'interface = "{iface}"', extra, ""]
        self.config = os.path.join(workdir, f"anycastd-{ns.name}.toml")
        with open(self.config, "w") as f:
            f.write("\n".join(lines))
        self.log_path = os.path.join(workdir, f"anycastd-{ns.name}.log")
        self.started = time.time()
        self.proc = ns.popen(*wrap, binary, "run", "-c", self.config, *(["--cleanup"] if cleanup else []),
                             "--log-format", "json", "--log-level", log_level,
                             stdout=subprocess.DEVNULL, stderr=open(self.log_path, "w"))

    def get(self, path):
        """GET on the API, which listens on 127.0.0.1 inside the node namespace."""
        return subprocess.run(self.ns.cmd("python3", "-c",
                                          "import urllib.request,sys;"
                                          f"sys.stdout.write(urllib.request.urlopen('{self.api}{path}',timeout=5).read().decode())"),
                              capture_output=True, text=True).stdout

    def ready_vips(self):
        """VIPs whose dataplane is programmed and that would be announced (from /status)."""
        import json
        try:
            return sum(1 for v in json.loads(self.get("/status"))["vips"] if v.get("announced"))
        except (ValueError, KeyError):
            return 0

    def updates_sent(self):
        out = self.get("/metrics")
        for line in out.splitlines():
            if line.startswith("anycastd_bgp_updates_sent_total"):
                return int(float(line.rsplit(" ", 1)[1]))
        return None

    def stop(self):
        if self.proc is not None:
            # --cleanup removes N addresses from lo: give it time.
            stop(self.proc, timeout=120)


# ---- GoBGP ----------------------------------------------------------------------------------


def mrt_table_dump_v2(path, n, next_hop, asn, pad=4096):
    """N /32 routes as an MRT TABLE_DUMP_V2 file (RFC 6396), for `gobgp mrt inject global`."""
    now = int(time.time())

    def record(subtype, body):
        return struct.pack("!IHHI", now, 13, subtype, len(body)) + body

    nh = ipaddress.IPv4Address(next_hop).packed
    # PEER_INDEX_TABLE: collector id, empty view name, one peer (type 2: IPv4 address, 4-byte AS).
    out = [record(1, nh + struct.pack("!HH", 0, 1) + struct.pack("!B", 2) + nh + nh
                  + struct.pack("!I", asn))]
    # Path attributes: ORIGIN IGP, empty AS_PATH (a local route), NEXT_HOP.
    attrs = bytes([0x40, 1, 1, 0, 0x40, 2, 0, 0x40, 3, 4]) + nh
    entry = struct.pack("!HIH", 0, now, len(attrs)) + attrs
    # The tail repeats the first routes: `gobgp mrt inject` (3.x) exits before its last batch
    # is sent, and re-adding a path gobgpd already holds changes nothing.
    for seq, i in enumerate(list(range(n)) + list(range(min(n, pad)))):
        prefix = ipaddress.IPv4Address(vip(i)).packed
        out.append(record(2, struct.pack("!IB", seq, 32) + prefix + struct.pack("!H", 1) + entry))
    with open(path, "wb") as f:
        f.write(b"".join(out))


class Gobgp(Speaker):
    name = "GoBGP"

    def __init__(self, ns, workdir, n, local, peer):
        self.ns = ns
        conf = os.path.join(workdir, f"gobgpd-{ns.name}.toml")
        with open(conf, "w") as f:
            f.write(f'[global.config]\n  as = 65001\n  router-id = "{local}"\n  port = -1\n')
        mrt = os.path.join(workdir, f"gobgp-{ns.name}.mrt")
        mrt_table_dump_v2(mrt, n, local, 65001)
        self.log_path = os.path.join(workdir, f"gobgpd-{ns.name}.log")
        self.proc = ns.popen("gobgpd", "-f", conf, "--log-level", "warn",
                             stdout=subprocess.DEVNULL, stderr=open(self.log_path, "w"))
        def api_up():
            try:
                # The CLI waits for gobgpd's gRPC port without a limit of its own.
                return subprocess.run(ns.cmd("gobgp", "global"), capture_output=True,
                                      timeout=2).returncode == 0
            except subprocess.TimeoutExpired:
                return False

        wait_until("gobgpd API", 30, api_up, interval=0.2)
        for _ in range(20):
            sh(*ns.cmd("gobgp", "mrt", "inject", "global", mrt))
            if self._wait_count(n, 5.0):
                break
        else:
            raise Unmeasurable(f"gobgpd holds {self.count()} of {n} injected routes")
        self.peer = peer

    def count(self):
        out = sh(*self.ns.cmd("gobgp", "global", "rib", "summary", "-a", "ipv4"), check=False)
        # "Table afi:AFI_IP safi:SAFI_UNICAST / Destination: N, Path: N"
        for word in out.replace(",", " ").split():
            if word.isdigit():
                return int(word)
        return 0

    def _wait_count(self, want, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count() >= want:
                return True
            time.sleep(0.05)
        return False

    def connect(self):
        sh(*self.ns.cmd("gobgp", "neighbor", "add", self.peer, "as", "65000"))


# ---- BIRD ---------------------------------------------------------------------------------------


class Bird(Speaker):
    name = "BIRD"

    def __init__(self, ns, workdir, n, local, peer, bfd=None, start=False, wait=True):
        """`peer`: one router address or a list of them; `bfd` = (interval ms, multiplier)
        turns BFD on for every session; `start` brings the sessions up at once; `wait` returns
        only once the N routes are loaded."""
        self.ns = ns
        peers = [peer] if isinstance(peer, str) else peer
        conf = os.path.join(workdir, f"bird-{ns.name}.conf")
        self.ctl = os.path.join(workdir, f"bird-{ns.name}.ctl")
        lines = [
            f"router id {local};",
            "protocol device { }",
            "protocol static vips {",
            "  ipv4;",
        ]
        lines += [f"  route {vip(i)}/32 blackhole;" for i in range(n)]
        lines.append("}")
        if bfd:
            lines += ["protocol bfd {",
                      f'  interface "*" {{ min rx interval {bfd[0]} ms; min tx interval {bfd[0]} ms; '
                      f"multiplier {bfd[1]}; }};",
                      "}"]
        for i, address in enumerate(peers):
            lines += [
                f"protocol bgp uplink{'' if i == 0 else i} {{",
                f"  local {local} as 65001;" if len(peers) == 1 else "  local as 65001;",
                f"  neighbor {address} as 65000;",
                "  connect retry time 1;",
                # After a session error (a Cease from the router) retry within seconds, as
                # anycastd's connect_retry = 1 does; BIRD's default waits 60 s.
                "  error wait time 1, 5;",
                *(["  bfd on;"] if bfd else []),
                # Start only when told to (`enable uplink`), so the routes are loaded first.
                *([] if start else ["  disabled;"]),
                "  ipv4 { import none; export all; };",
                "}",
            ]
        lines.append("")
        with open(conf, "w") as f:
            f.write("\n".join(lines))
        self.log_path = os.path.join(workdir, f"bird-{ns.name}.log")
        self.proc = ns.popen("bird", "-f", "-c", conf, "-s", self.ctl,
                             stdout=subprocess.DEVNULL, stderr=open(self.log_path, "w"))

        def loaded():
            if self.proc.poll() is not None:
                raise Unmeasurable(f"bird exited: {open(self.log_path).read()[-500:]}")
            out = sh("birdc", "-s", self.ctl, "show", "route", "count", check=False)
            for line in out.splitlines():
                if "of" in line and "routes" in line:
                    return int(line.split()[0]) >= n
            return False

        if wait:
            wait_until(f"{n} routes in BIRD's table", 300, loaded, interval=0.2)

    def connect(self):
        sh("birdc", "-s", self.ctl, "enable", "uplink")


def check_tools():
    missing = [t for t in ("vtysh", "gobgpd", "gobgp", "bird", "birdc") if not shutil_which(t)]
    if not os.path.exists("/usr/lib/frr/bgpd"):
        missing.append("/usr/lib/frr/bgpd")
    if missing:
        raise Unmeasurable("missing tools: " + ", ".join(missing))


def shutil_which(t):
    import shutil
    return shutil.which(t)
