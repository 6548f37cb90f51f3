# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Time the evacuation planner on a synthetic fleet (10,000 VMs on 1,000 hosts by default).

Run from the checkout: .venv/bin/python bench/planner_scale.py [--hosts 1000] [--vms-per-host 10] [--seed 7]
The fleet is the same for the same seed. Prints timings and plan figures; judges nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINK = os.path.join(ROOT, "build", "ansible_collections", "drover", "libvirt")
if not os.path.exists(LINK):  # the same import path tests/conftest.py sets up
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink("../../..", LINK)
sys.path.insert(0, os.path.join(ROOT, "build"))

from ansible_collections.drover.libvirt.plugins.module_utils._planner import plan_evacuation  # noqa: E402  pylint: disable=wrong-import-position

GIB_KIB = 1024 * 1024
SIZES_GIB = (1, 2, 2, 4, 4, 4, 8, 8, 16, 32)


def build_fleet(hosts, per_host, seed):
    """{host: hypervisor_info result}: about 55 % of memory committed, anti-affinity trios, affinity pairs."""
    rnd = random.Random(seed)
    fleet = {}
    count = 0
    for h in range(hosts):
        name = "hv%04d" % (h + 1)
        domains = []
        for _slot in range(per_host):
            count += 1
            size = rnd.choice(SIZES_GIB)
            roll = rnd.random()
            active = roll >= 0.08
            tags = {"anti_affinity": [], "affinity": [], "pinned": roll < 0.01,
                    "labels": {"tier": rnd.choice(("web", "db", "cache", "batch"))}}
            if count % 7 == 0:
                tags["anti_affinity"].append("spread-%d" % (count // 21))  # trios on neighbouring hosts
            if count % 50 < 2:
                tags["affinity"].append("pair-%d" % (count // 50))
            local = rnd.random() < 0.2
            domains.append({
                "name": "vm%05d" % count, "uuid": "00000000-0000-4000-8000-%012d" % count,
                "state": "running" if active else "shutoff", "active": active, "persistent": True,
                "memory_kib": size * GIB_KIB, "current_memory_kib": size * GIB_KIB, "vcpus": max(1, size // 2),
                "disks": [{"target": "vda", "shared": not local, "capacity_bytes": 20 * 1024 ** 3}],
                "blockers": [{"kind": "hostdev", "detail": "pci 0000:03:00.%d" % (count % 8)}] if 0.08 <= roll < 0.085 else [],
                "tags": tags,
                "dirty_rate_mib_s": rnd.choice((None, None, 5, 40, 300, 1200)),
                "job": None,
            })
        active = [d for d in domains if d["active"]]
        committed = sum(d["memory_kib"] for d in active)
        fleet[name] = {
            "hypervisor": {
                "hostname": name,
                "memory": {"total_kib": 256 * GIB_KIB, "free_kib": 256 * GIB_KIB - committed, "committed_kib": committed},
                "vcpus": {"physical": 48, "allocated": sum(d["vcpus"] for d in active)},
                "maintenance": {"state": "maintenance", "reason": "bench"} if h % 97 == 96 else None,
            },
            "domains": domains,
        }
    return fleet


def verdicts_for(fleet, drain, seed):
    """A failed preflight for a few of the moves, to exercise that path."""
    rnd = random.Random(seed + 1)
    names = sorted(fleet)
    verdicts = []
    for host in drain:
        for dom in fleet[host]["domains"][:3]:
            for destination in rnd.sample(names, 3):
                verdicts.append({"domain": dom["name"], "source": host, "destination": destination, "status": "fail",
                                 "copy_storage": False, "checks": [{"id": "cpu", "status": "fail",
                                                                    "reason": "host CPU lacks avx512f", "details": {}}]})
    return verdicts


def _kind(reason):
    for prefix, kind in (("affinity group", "affinity"), ("no vCPU", "no vCPU free"), ("anti-affinity", "anti-affinity"), ("has blockers", "blockers"),
                         ("needs", "capacity"), ("preflight", "preflight"), ("no ", "no destination")):
        if reason.startswith(prefix):
            return kind
    return reason


def run(label, fleet, drain, verdicts=None, constraints=None):
    start = time.perf_counter()
    plan = plan_evacuation(fleet, drain, verdicts, constraints)
    elapsed = time.perf_counter() - start
    start = time.perf_counter()
    text = json.dumps(plan, sort_keys=True)
    dumped = time.perf_counter() - start
    again = json.dumps(plan_evacuation(fleet, drain, verdicts, constraints), sort_keys=True)
    methods = Counter(m["method"] for m in plan["moves"])
    reasons = Counter(_kind(u["reason"]) for u in plan["unplaced"])
    inbound = [d["inbound"] for d in plan["destinations"].values()]
    print("%s" % label)
    print("  plan %.3f s (json %.3f s, %d KiB), deterministic: %s"
          % (elapsed, dumped, len(text) // 1024, "yes" if text == again else "NO"))
    print("  drained %d hosts holding %d domains; %d moves (%s), %d unplaced, %d skipped"
          % (len(drain), sum(len(fleet[h]["domains"]) for h in drain), len(plan["moves"]),
             ", ".join("%s %d" % kv for kv in sorted(methods.items())), len(plan["unplaced"]), len(plan["skipped"])))
    print("  unplaced by reason: %s" % (", ".join("%s %d" % kv for kv in sorted(reasons.items())) or "none"))
    print("  %d waves, estimated %.1f s; inbound per destination max %d over %d destinations"
          % (len(plan["waves"]), plan["estimated_seconds"], max(inbound or [0]), len(inbound)))
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--vms-per-host", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    start = time.perf_counter()
    fleet = build_fleet(args.hosts, args.vms_per_host, args.seed)
    names = sorted(fleet)
    print("fleet: %d hosts, %d VMs (seed %d), built in %.2f s"
          % (len(fleet), sum(len(f["domains"]) for f in fleet.values()), args.seed, time.perf_counter() - start))
    every_tenth = names[::10]
    run("drain 1 of %d" % len(names), fleet, names[:1])
    run("drain %d of %d (every tenth host), preflight failures, max_parallel 8"
        % (len(every_tenth), len(names)), fleet, every_tenth, verdicts_for(fleet, every_tenth, args.seed), {"max_parallel": 8})
    run("drain %d, select tier db" % len(every_tenth), fleet, every_tenth,
        constraints={"select": "[?tags.labels.tier=='db']"})
    half = names[: len(names) // 2]
    run("drain %d of %d (half the fleet), cold allowed" % (len(half), len(names)), fleet, half, constraints={"cold": True})
    # All of the fleet's VMs at once: its hosts drained onto as many empty ones.
    empty = {"new%04d" % (i + 1): {"hypervisor": {"memory": {"total_kib": 512 * GIB_KIB, "committed_kib": 0},
                                                  "vcpus": {"physical": 96, "allocated": 0}, "maintenance": None},
                                   "domains": []} for i in range(len(names))}
    both = dict(fleet, **empty)
    run("drain all %d hosts onto %d empty ones (every VM placed), max_parallel 50" % (len(names), len(empty)),
        both, names, constraints={"max_parallel": 50, "cold": True})
    most = names[: len(names) * 7 // 10]
    run("drain %d of %d, over capacity (vcpu_ratio 1, 20 %% headroom): explanations for the rest" % (len(most), len(names)),
        fleet, most, constraints={"vcpu_ratio": 1, "memory_headroom_pct": 20})


if __name__ == "__main__":
    main()
