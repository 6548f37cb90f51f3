# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the cost of draining one host grows with the size of the fleet, measured on the lab.

For each size (3, 12, 30 hosts by default): the lab is brought up with that many hosts and two
guests on hv1, then `playbooks/evacuate.yml -l hv1` runs in check mode (cold: the first contact with freshly
started daemons; warm: after a check that reads every host, the median of three), then for real. Prints a table, the
ratios to the smallest fleet and an extrapolation to 1,000 hosts from the measured cost per host,
and writes them under "scale" in bench/results.json (other keys are kept). Judges nothing.

Run as root from the checkout, with the lab down: .venv/bin/python bench/scale.py [--sizes 3 12 30]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB = os.path.join(ROOT, "lab", "lab")
RESULTS = os.path.join(ROOT, "bench", "results.json")
EXTRAPOLATE_TO = 1000


def lab(*args):
    proc = subprocess.run([LAB] + list(args), text=True, capture_output=True, check=False)
    if proc.returncode != 0:
        raise SystemExit("lab %s failed:\n%s" % (" ".join(args), proc.stderr[-2000:]))
    return proc.stdout


def evacuate(check, **more):
    """Seconds of one `ansible-playbook playbooks/evacuate.yml -l hv1` (and the process, for errors)."""
    with tempfile.TemporaryDirectory() as reports:
        extra = dict({"evacuate_copy_storage": False, "evacuate_report_dir": reports,
                      "evacuate_verify_probe_command": os.path.join(ROOT, "lab", "alive")}, **more)
        cmd = ["ansible-playbook", os.path.join(ROOT, "playbooks", "evacuate.yml"), "-l", "hv1",
               "-e", json.dumps(extra)] + (["--check"] if check else [])
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
        started = time.monotonic()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, text=True, capture_output=True, check=False)
        seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit("evacuate.yml%s failed:\n%s" % (" --check" if check else "", proc.stdout[-4000:]))
    return round(seconds, 2)


def measure(hosts):
    lab("down")
    started = time.monotonic()
    lab("up", "--hosts", str(hosts), "--guests", "2")
    up_s = time.monotonic() - started
    try:
        row = {"hosts": hosts, "lab_up_s": round(up_s, 1)}
        row["check_cold_s"] = evacuate(check=True)
        # A run reads only enough hosts, a different sample each run; in production every daemon
        # has long been running. Warm the whole lab first (a check that reads every host), so
        # "warm" means what it means there, whichever hosts the next runs read.
        evacuate(check=True, evacuate_candidate_hosts=0)
        # The median of three: other work on a two-CPU machine makes single runs noisy.
        row["check_warm_s"] = sorted(evacuate(check=True) for _run in range(3))[1]
        row["real_s"] = evacuate(check=False)
        return row
    finally:
        lab("down")


def extrapolate(rows, key):
    """Seconds at EXTRAPOLATE_TO hosts, from the cost per host between the smallest and largest fleet."""
    small, large = rows[0], rows[-1]
    per_host = (large[key] - small[key]) / float(large["hosts"] - small["hosts"])
    return round(small[key] + per_host * (EXTRAPOLATE_TO - small["hosts"]), 1), round(per_host, 3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 12, 30])
    args = parser.parse_args()
    rows = [measure(n) for n in sorted(args.sizes)]
    keys = ("check_cold_s", "check_warm_s", "real_s")
    print("%-6s %-9s %-14s %-14s %-10s" % ("hosts", "lab up s", "check cold s", "check warm s", "real s"))
    for row in rows:
        print("%-6d %-9s %-14s %-14s %-10s"
              % (row["hosts"], row["lab_up_s"], row["check_cold_s"], row["check_warm_s"], row["real_s"]))
    scale = {"rows": rows, "ratio_largest_to_smallest": {}, "per_host_s": {}, "extrapolated_%d_hosts_s" % EXTRAPOLATE_TO: {}}
    for key in keys:
        scale["ratio_largest_to_smallest"][key] = round(rows[-1][key] / rows[0][key], 2)
        at, per_host = extrapolate(rows, key)
        scale["per_host_s"][key] = per_host
        scale["extrapolated_%d_hosts_s" % EXTRAPOLATE_TO][key] = at
    print("ratio %d/%d hosts: %s" % (rows[-1]["hosts"], rows[0]["hosts"], scale["ratio_largest_to_smallest"]))
    print("cost per host (s): %s" % scale["per_host_s"])
    print("extrapolated to %d hosts (s): %s" % (EXTRAPOLATE_TO, scale["extrapolated_%d_hosts_s" % EXTRAPOLATE_TO]))
    scale["measured_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    try:
        with open(RESULTS) as f:
            results = json.load(f)
    except FileNotFoundError:
        results = {}
    results.setdefault("machine", "%s, %d CPUs, Python %s" % (platform.machine(), os.cpu_count(), platform.python_version()))
    results["scale"] = scale
    with open(RESULTS, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write("\n")
    print("written: %s (scale)" % os.path.relpath(RESULTS, ROOT))


if __name__ == "__main__":
    sys.exit(main())
