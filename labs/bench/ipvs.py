"""Measurement 3: IPVS programming, inside the QEMU lab (the host kernel has no IPVS).

The outer half boots labs/qemu/run once and runs `labs/bench/run --ipvs-inner SPEC` in the
guest; the inner half, for every size S×D:
  1. anycastd: examples/bench_ipvs S D — Dataplane::apply from empty, an idle pass, then one
     destination's weight changed (its op count and time);
  2. `ipvsadm -C`, then `ipvsadm --restore` of the same table (same addresses, scheduler,
     forwarding, weights), timed as a whole command, then `ipvsadm -e` of the same destination;
each result checked against `ipvsadm -Ln` so both really programmed S services and S×D dests.
The guest is TCG-emulated: absolute times are slower than on hardware; the ratios are the point.
"""

import json
import os
import subprocess
import sys
import time

from lib import Table, Unmeasurable, fmt, log, ratio

MARK = "BENCH-IPVS "


def addr(net, i):
    return f"10.{net}.{i // 250}.{i % 250 + 1}"


def restore_file(services, dests):
    lines = []
    for i in range(services):
        vs = f"{addr(200, i)}:80"
        lines.append(f"-A -t {vs} -s wrr")
        lines += [f"-a -t {vs} -r {addr(201, j)}:8080 -m -w 100" for j in range(dests)]
    return "\n".join(lines) + "\n"


def table_size():
    out = subprocess.run(["ipvsadm", "-Ln"], capture_output=True, text=True).stdout
    svc = sum(1 for line in out.splitlines() if line.startswith("TCP") or line.startswith("UDP"))
    dst = sum(1 for line in out.splitlines() if line.strip().startswith("->") and ":" in line
              and not line.strip().startswith("-> RemoteAddress"))
    return svc, dst


def run_timed(cmd, stdin=None):
    t = time.monotonic()
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    return time.monotonic() - t, r


def inner(spec):
    """In the guest: spec = "BENCH_IPVS_BINARY;SxD,SxD,…". Prints one MARK line per size."""
    binary, sizes = spec.split(";", 1)
    if not os.path.exists("/proc/net/ip_vs"):
        print(MARK + json.dumps({"error": "no IPVS in this kernel"}), flush=True)
        return 1
    rc = 0
    for size in sizes.split(","):
        s, d = (int(x) for x in size.split("x"))
        res = {"services": s, "dests": d}
        subprocess.run(["ipvsadm", "-C"], check=True)
        el, r = run_timed([binary, str(s), str(d)])
        if r.returncode != 0:
            res["error"] = f"bench_ipvs failed: {r.stdout[-400:]}{r.stderr[-400:]}"
        else:
            res["ours"] = json.loads(r.stdout.strip().splitlines()[-1])
            res["ours_process_s"] = el
            res["ours_table"] = table_size()
        subprocess.run(["ipvsadm", "-C"], check=True)
        el, r = run_timed(["ipvsadm", "--restore"], restore_file(s, d))
        res["restore_s"] = el
        res["restore_ok"] = r.returncode == 0
        res["restore_table"] = table_size()
        vs, dst = f"{addr(200, s // 2)}:80", f"{addr(201, 0)}:8080"
        el, r = run_timed(["ipvsadm", "-e", "-t", vs, "-r", dst, "-m", "-w", "50"])
        res["edit_s"] = el
        res["edit_ok"] = r.returncode == 0
        subprocess.run(["ipvsadm", "-C"], check=True)
        if "error" in res or not res["restore_ok"] or not res["edit_ok"]:
            rc = 1
        print(MARK + json.dumps(res), flush=True)
    return rc


def lab_runner(root):
    """labs/qemu/run of this tree (ANYCASTD_LAB_RUN may point elsewhere during development)."""
    path = os.environ.get("ANYCASTD_LAB_RUN", os.path.join(root, "labs", "qemu", "run"))
    if not os.access(path, os.X_OK):
        raise Unmeasurable(f"no QEMU lab runner at {path} (labs/qemu/run); IPVS needs it here")
    return path


def measure(sizes, bench_bin, workdir, root):
    if not os.access(bench_bin, os.X_OK):
        raise Unmeasurable(f"no {bench_bin} (cargo build --release --example bench_ipvs)")
    spec = bench_bin + ";" + ",".join(f"{s}x{d}" for s, d in sizes)
    cmd = [lab_runner(root), "--timeout", "1800", "--", sys.executable,
           os.path.join(root, "labs", "bench", "run"), "--ipvs-inner", spec]
    log(f"ipvs: booting the QEMU lab for {spec.split(';')[1]}")
    r = subprocess.run(cmd, capture_output=True, text=True)
    results = [json.loads(line[len(MARK):]) for line in r.stdout.splitlines() if line.startswith(MARK)]
    if not results:
        raise Unmeasurable(f"the QEMU lab gave no results (exit {r.returncode}): {r.stderr[-1500:]}")
    t = Table("IPVS: S services × D destinations programmed from empty",
              ["S × D", "ipvsadm --restore", "anycastd Dataplane::apply", "ratio",
               "anycastd ops", "idle pass (read-back)", "tables match"],
              "Inside the QEMU lab (TCG-emulated Debian kernel: slower than hardware, ratios "
              "comparable). ipvsadm timed as the whole `ipvsadm --restore` command; anycastd "
              "as one `Dataplane::apply` call (dump kernel, plan, execute). Ratio = anycastd / "
              "ipvsadm (below 1: anycastd faster).")
    e = Table("IPVS: one destination's weight changed on the full table",
              ["S × D", "ipvsadm -e", "anycastd apply", "ratio", "anycastd ops"],
              "ipvsadm: one `ipvsadm -e` process; anycastd: the whole apply of the new desired "
              "state, planned against the view the previous pass left (no kernel dump; the "
              "periodic tick re-reads the kernel).")
    errors = []
    for res in results:
        if "error" in res and "ours" not in res:
            errors.append(res["error"])
            continue
        o = res["ours"]
        size = f"{res['services']} × {res['dests']}"
        want = [res["services"], res["services"] * res["dests"]]
        match = ("yes" if list(res["ours_table"]) == want and list(res["restore_table"]) == want
                 else f"no: ours {res['ours_table']}, ipvsadm {res['restore_table']}, want {want}")
        t.row(size, fmt(res["restore_s"], "s"), fmt(o["full_s"], "s"),
              ratio(res["restore_s"], o["full_s"]), o["full_ops"], fmt(o["idle_s"], "s"), match)
        e.row(size, fmt(res["edit_s"], "s"), fmt(o["edit_s"], "s"), ratio(res["edit_s"], o["edit_s"]),
              f"{o['edit_ops']} ({'; '.join(o['edit_op_list'])})")
    if errors:
        raise Unmeasurable("; ".join(errors))
    return [t, e]
