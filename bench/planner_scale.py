# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Time the evacuation planner and set its placements beside first-fit and best-fit decreasing.

Series of seeded synthetic fleets, 1,000 / 10,000 / 50,000 VMs drained onto 100 / 1,000 / 5,000
hosts: roomy (about half the room is needed), tight (a little more is needed than there is) and
vCPU-bound (memory to spare, vCPUs short). On each fleet the planner runs, then first-fit
decreasing (FFD) and best-fit decreasing (BFD) written here from the rules in docs/planner.md,
with every constraint; a checker, also written here from those rules, counts the placements that
break one. Then a sweep over many small tight fleets counts how often the planner places fewer VMs
than FFD or BFD. Prints tables and writes them under "planner" in bench/results.json (other keys
are kept). Judges nothing.

Run from the checkout: .venv/bin/python bench/planner_scale.py [--sizes 1000 10000 50000] [--sweep 3000] [--seed 7]
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import random
import sys
import time
from bisect import bisect_left, insort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results.json")
LINK = os.path.join(ROOT, "build", "ansible_collections", "drover", "libvirt")
if not os.path.exists(LINK):  # the same import path tests/conftest.py sets up
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink("../../..", LINK)
sys.path.insert(0, os.path.join(ROOT, "build"))

from ansible_collections.drover.libvirt.plugins.module_utils._planner import plan_evacuation  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.drover.libvirt.plugins.module_utils._schedule import fill_waves  # noqa: E402  pylint: disable=wrong-import-position

GIB = 1024 * 1024  # KiB
SIZES_GIB = (1, 2, 2, 4, 4, 4, 8, 8, 16, 32)
VMS_PER_SOURCE = 20
HOSTS_FOR = {1000: 100, 10000: 1000, 50000: 5000}
# Demand over room: memory and vCPUs, by series.
PRESSURE = {"roomy": (0.5, 0.4), "tight": (1.04, 0.5), "vcpu": (0.4, 1.04)}


# --- fleets ---------------------------------------------------------------------------------------

def _vm(rnd, number, kind):
    size = rnd.choice(SIZES_GIB)
    vcpus = rnd.choice((1, 2, 4, 8, 16)) if kind == "vcpu" else max(1, size // 2)
    roll = rnd.random()
    tags = {"anti_affinity": [], "affinity": [], "pinned": roll < 0.01}
    if number % 7 == 0:
        tags["anti_affinity"].append("spread-%d" % (number // 21))  # trios
    if number % 50 in (3, 4):
        tags["affinity"].append("pair-%d" % (number // 50))
    return {"name": "vm%06d" % number, "uuid": "00000000-0000-4000-8000-%012d" % number,
            "state": "shutoff" if roll > 0.92 else "running", "active": roll <= 0.92, "persistent": True,
            "memory_kib": size * GIB, "current_memory_kib": size * GIB, "vcpus": vcpus,
            "blockers": [{"kind": "hostdev", "detail": "pci"}] if 0.01 <= roll < 0.015 else [],
            "disks": [], "tags": tags, "dirty_rate_mib_s": None, "job": None}


def make_fleet(vms, hosts, kind, seed):
    """(fleet, drain, verdicts, constraints): `vms` VMs on drained hosts, `hosts` destinations
    loaded so the demand is PRESSURE[kind] of their room, a few in maintenance, reserved memory,
    other runs' claims, members of the trios and pairs staying on the destinations, failed verdicts."""
    rnd = random.Random("%s-%d-%d-%d" % (kind, vms, hosts, seed))
    fleet, drain = {}, []
    leaving = [_vm(rnd, n + 1, kind) for n in range(vms)]
    for start in range(0, vms, VMS_PER_SOURCE):
        name = "src%05d" % (start // VMS_PER_SOURCE)
        drain.append(name)
        fleet[name] = {"hypervisor": {"memory": {"total_kib": 1024 * GIB}, "vcpus": {"physical": 128}, "maintenance": None},
                       "domains": leaving[start:start + VMS_PER_SOURCE]}
    ratio = 1.0 if kind == "vcpu" else 4.0
    need_memory = sum(d["memory_kib"] for d in leaving if d["active"])
    need_vcpus = sum(d["vcpus"] for d in leaving if d["active"])
    shapes = [(rnd.choice((256, 384, 512)), rnd.choice((32, 48, 64))) for _h in range(hosts)]
    usable = sum(total * GIB * 0.9 for total, _p in shapes)
    limit = sum(int(ratio * physical) for _t, physical in shapes)
    memory_pressure, vcpu_pressure = PRESSURE[kind]
    used_memory = max(0.0, 1 - need_memory / memory_pressure / usable)
    used_vcpus = max(0.0, 1 - need_vcpus / vcpu_pressure / limit)
    reserved = {}
    staying = 0
    for h, (total, physical) in enumerate(shapes):
        name = "hv%05d" % h
        committed = int(total * GIB * 0.9 * min(1.0, max(0.0, used_memory + rnd.uniform(-0.1, 0.1))))
        allocated = int(ratio * physical * min(1.0, max(0.0, used_vcpus + rnd.uniform(-0.1, 0.1))))
        domains = []
        if h % 10 == 0:  # a member of a trio or a pair stays here
            staying += 1
            group = rnd.randrange(max(1, vms // 21))
            tags = {"anti_affinity": ["spread-%d" % group]} if staying % 2 else {"affinity": ["pair-%d" % rnd.randrange(max(1, vms // 50))]}
            domains.append({"name": "stay%05d" % h, "uuid": "00000000-0000-4000-9000-%012d" % h, "state": "running",
                            "active": True, "persistent": True, "memory_kib": GIB, "current_memory_kib": GIB, "vcpus": 1,
                            "tags": tags})
        claims = []
        if h % 50 == 7:
            claims.append({"run_id": "other", "uuid": "00000000-0000-4000-a000-%012d" % h, "memory_kib": 8 * GIB,
                           "vcpus": 4, "live": True})
        if h % 25 == 3:
            reserved[name] = 4096
        fleet[name] = {"hypervisor": {"memory": {"total_kib": total * GIB, "committed_kib": committed},
                                      "vcpus": {"physical": physical, "allocated": allocated}, "claims": claims,
                                      "maintenance": {"state": "maintenance"} if h % 97 == 96 else None},
                       "domains": domains}
    names = sorted(n for n in fleet if n not in drain)
    verdicts = [{"domain": d["name"], "source": "src%05d" % (i // VMS_PER_SOURCE), "destination": dest, "status": "fail",
                 "checks": [{"id": "cpu", "status": "fail", "reason": "lacks avx512f"}]}
                for i, d in enumerate(leaving) if i % 101 == 0 for dest in rnd.sample(names, min(3, len(names)))]
    constraints = {"memory_headroom_pct": 10, "vcpu_ratio": ratio, "reserved_memory_mib": reserved, "cold": True,
                   "run_id": "bench", "max_parallel": 8, "exclude_hosts": names[1:2]}
    return fleet, drain, verdicts, constraints


# --- the rules, read here on their own -----------------------------------------------------------

def _tags(vm, key):
    return (vm.get("tags") or {}).get(key) or []


class Model:
    """Destinations with what they can take, VMs to move in units, and what excludes each, from raw facts."""

    def __init__(self, fleet, drain, verdicts, constraints):
        c = dict({"memory_headroom_pct": 10, "reserved_memory_mib": 0, "vcpu_ratio": 4.0, "exclude_hosts": [],
                  "cold": False, "run_id": None}, **constraints)
        self.drain = set(drain)
        self.targets = sorted(h for h, f in fleet.items() if h not in self.drain and h not in c["exclude_hosts"]
                              and f["hypervisor"].get("maintenance") is None)
        self.failed = {}
        for v in verdicts or []:
            if v["status"] == "fail":
                self.failed.setdefault((v["domain"], v["source"]), set()).add(v["destination"])
        self.free, self.vfree = {}, {}
        self.present, self.anti_staying, self.pairs_staying = {}, {}, {}  # name or UUID / group: hosts it stays on
        reserved = c["reserved_memory_mib"]
        for host, facts in fleet.items():
            hv, domains = facts["hypervisor"], facts["domains"]
            active = [d for d in domains if d["active"]]
            committed = hv["memory"].get("committed_kib")
            committed = sum(d.get("current_memory_kib") or d["memory_kib"] for d in active) if committed is None else committed
            allocated = hv["vcpus"].get("allocated")
            allocated = sum(d["vcpus"] for d in active) if allocated is None else allocated
            seen = {d.get("uuid") for d in active}
            for claim in hv.get("claims") or []:
                if claim.get("live", True) and claim["run_id"] != c["run_id"] and claim["uuid"] not in seen:
                    seen.add(claim["uuid"])
                    committed += claim["memory_kib"]
                    allocated += claim["vcpus"]
            total = hv["memory"]["total_kib"]
            keep = (reserved.get(host, 0) if isinstance(reserved, dict) else reserved) * 1024
            self.free[host] = total - committed - keep - math.ceil(total * c["memory_headroom_pct"] / 100.0)
            self.vfree[host] = math.floor(c["vcpu_ratio"] * hv["vcpus"]["physical"] + 1e-9) - allocated
            if host in self.drain:
                continue
            for d in domains:
                if d["active"] or d.get("persistent", True):
                    for key in (d["name"], d.get("uuid")):
                        self.present.setdefault(key, set()).add(host)
                    for group in _tags(d, "anti_affinity"):
                        self.anti_staying.setdefault(group, set()).add(host)
                    for group in _tags(d, "affinity"):
                        counts = self.pairs_staying.setdefault(group, {})
                        counts[host] = counts.get(host, 0) + 1
        self.vms = [dict(d, source=h) for h in sorted(self.drain) for d in fleet[h]["domains"] if d["active"] or d.get("persistent", True)]
        self.movable = [d for d in self.vms if not _tags(d, "pinned") and not (d["active"] and d.get("blockers") and not c["cold"])]

    def units(self):
        """Movable VMs by affinity group (one group each here), largest first, running ones before definitions.

        Each unit: (memory, vCPUs, members)."""
        by_group, units = {}, []
        for vm in self.movable:
            groups = _tags(vm, "affinity")
            if groups:
                by_group.setdefault(groups[0], []).append(vm)
            else:
                units.append([vm])
        units.extend(by_group.values())
        shaped = []
        for members in units:
            members.sort(key=lambda d: (d["name"], d["source"]))
            memory = sum(d["memory_kib"] for d in members if d["active"])
            vcpus = sum(max(d["vcpus"], 1) for d in members if d["active"])
            defined = sum(d["memory_kib"] for d in members if not d["active"])
            shaped.append(((-memory, -vcpus, -defined, members[0]["name"], members[0]["source"]), memory, vcpus, members))
        shaped.sort(key=lambda u: u[0])
        return [u[1:] for u in shaped if u[1] or u[2]] + [u[1:] for u in shaped if not (u[1] or u[2])]

    def excluded(self, vm, placed_groups):
        """Hosts that may not take `vm` whatever their room: a clash, a failed verdict, a group member there."""
        hosts = set(self.present.get(vm["name"], ())) | self.present.get(vm.get("uuid"), set())
        hosts |= self.failed.get((vm["name"], vm["source"]), set())
        for group in _tags(vm, "anti_affinity"):
            hosts |= self.anti_staying.get(group, set()) | placed_groups.get(group, set())
        return hosts

    def anchors(self, members):
        """{host: members staying there} of the unit's affinity groups."""
        counts = {}
        for vm in members:
            for group in _tags(vm, "affinity"):
                for host, count in self.pairs_staying.get(group, {}).items():
                    counts[host] = counts.get(host, 0) + count
        return counts


class FirstFits:
    """Hosts in name order in blocks, each knowing its most memory and vCPUs free, so a search skips full blocks."""

    BLOCK = 64

    def __init__(self, hosts, free, vfree):
        self.hosts, self.free, self.vfree = hosts, free, vfree
        self.blocks = [hosts[i:i + self.BLOCK] for i in range(0, len(hosts), self.BLOCK)]
        self.block_of = {h: b for b, block in enumerate(self.blocks) for h in block}
        self.most = [self._most(block) for block in self.blocks]

    def _most(self, block):
        return max(self.free[h] for h in block), max(self.vfree[h] for h in block)

    def changed(self, host):
        b = self.block_of[host]
        self.most[b] = self._most(self.blocks[b])

    def first(self, memory, vcpus, excluded):
        free, vfree = self.free, self.vfree
        for b, (most_memory, most_vcpus) in enumerate(self.most):
            if most_memory >= memory and most_vcpus >= vcpus:
                for host in self.blocks[b]:
                    if free[host] >= memory and vfree[host] >= vcpus and host not in excluded:
                        return host
        return None


def greedy(model, best_fit):
    """First-fit (hosts by name) or best-fit (least memory free) decreasing, keeping every rule: {(vm, source): host}."""
    free, vfree = dict(model.free), dict(model.vfree)
    targets = set(model.targets)
    first_fits = FirstFits(model.targets, free, vfree)
    by_free = sorted((free[h], h) for h in model.targets)
    placed_groups, placement = {}, {}
    for memory, vcpus, members in model.units():
        capacity = bool(memory or vcpus)
        excluded = set().union(*(model.excluded(vm, placed_groups) for vm in members))
        anchors = model.anchors(members)
        host = None
        if anchors:
            valid = [h for h in anchors if h in targets and h not in excluded
                     and (not capacity or (free[h] >= memory and vfree[h] >= vcpus))]
            if valid:
                host = min(valid, key=lambda h: (-anchors[h], (free[h], h) if best_fit else h))
        elif best_fit:
            for i in range(bisect_left(by_free, (memory, "")) if capacity else 0, len(by_free)):
                candidate = by_free[i][1]
                if candidate not in excluded and (not capacity or vfree[candidate] >= vcpus):
                    host = candidate
                    break
        elif capacity:
            host = first_fits.first(memory, vcpus, excluded)
        else:
            host = next((h for h in model.targets if h not in excluded), None)
        if host is None:
            continue
        if capacity:
            del by_free[bisect_left(by_free, (free[host], host))]
            free[host] -= memory
            vfree[host] -= vcpus
            insort(by_free, (free[host], host))
            first_fits.changed(host)
        for vm in members:
            placement[(vm["name"], vm["source"])] = host
            for group in _tags(vm, "anti_affinity"):
                placed_groups.setdefault(group, set()).add(host)
    return placement


def check(model, placement):
    """Placements that break a rule, as texts."""
    broken = []
    free, vfree = dict(model.free), dict(model.vfree)
    vms = {(vm["name"], vm["source"]): vm for vm in model.vms}
    movable = {(vm["name"], vm["source"]) for vm in model.movable}
    targets = set(model.targets)
    by_host = {}
    for key, host in placement.items():
        vm = vms.get(key)
        if vm is None or key not in movable:
            broken.append("%s/%s moved but may not move" % key)
        elif host not in targets:
            broken.append("%s/%s sent to %s, not a destination" % (key + (host,)))
        else:
            by_host.setdefault(host, []).append(vm)
            if vm["active"]:
                free[host] -= vm["memory_kib"]
                vfree[host] -= max(vm["vcpus"], 1)
    for host, arrived in by_host.items():
        if any(vm["active"] for vm in arrived) and (free[host] < 0 or vfree[host] < 0):
            broken.append("%s over capacity: %d KiB, %d vCPUs left" % (host, free[host], vfree[host]))
        for vm in arrived:
            groups = set(_tags(vm, "anti_affinity"))
            mates = [o["name"] for o in arrived if o is not vm and groups & set(_tags(o, "anti_affinity"))]
            if host in model.excluded(vm, {}) or mates:
                broken.append("%s on %s: a clash, a failed verdict or anti-affinity (%s)" % (vm["name"], host, mates))
    together = {}
    for key, host in placement.items():
        for group in _tags(vms[key], "affinity"):
            together.setdefault(group, set()).add(host)
    for group, hosts in together.items():
        staying = set(model.pairs_staying.get(group, ()))
        if len(hosts) > 1 or (staying and not hosts & staying):
            broken.append("affinity %s split over %s (members stay on %s)" % (group, sorted(hosts), sorted(staying)))
    return broken


def outcome(model, placement):
    left = [vm for vm in model.vms if (vm["name"], vm["source"]) not in placement]
    return len(left), sum(vm["memory_kib"] for vm in left) / GIB


# --- runs ----------------------------------------------------------------------------------------

def run_planner(fleet, drain, verdicts, constraints, repeats=1):
    """The plan, the best wall-clock and CPU seconds of `repeats` runs, and whether every run gave the same JSON."""
    wall, cpu, texts = [], [], set()
    for _r in range(repeats):
        started, used = time.perf_counter(), time.process_time()
        plan = plan_evacuation(fleet, drain, verdicts, constraints)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
        texts.add(json.dumps(plan, sort_keys=True))
    return plan, min(wall), min(cpu), len(texts) == 1


def placement_of(plan):
    return {(m["domain"], m["source"]): m["destination"] for m in plan["moves"]}


def accounting(model, plan):
    """VMs of the drained hosts that the plan names other than exactly once (moved, unplaced or skipped)."""
    named = [(e["domain"], e["source"]) for key in ("moves", "unplaced", "skipped") for e in plan[key]]
    wanted = sorted((vm["name"], vm["source"]) for vm in model.vms)
    return [] if sorted(named) == wanted else ["the plan names %d entries for %d VMs" % (len(named), len(wanted))]


def series(sizes, seed):
    rows = []
    print("%-6s %6s %5s %9s %8s %5s | %-22s | %-28s | %-28s" % (
        "series", "VMs", "hosts", "drover s", "cpu s", "waves", "drover unplaced/GiB/bad", "FFD unplaced/GiB/bad (s)",
        "BFD unplaced/GiB/bad (s)"))
    for kind in ("roomy", "tight", "vcpu"):
        for vms in sizes:
            hosts = HOSTS_FOR.get(vms, max(1, vms // 10))
            fleet, drain, verdicts, constraints = make_fleet(vms, hosts, kind, seed)
            plan, wall, cpu, same = run_planner(fleet, drain, verdicts, constraints, 3 if vms <= 10000 else 1)
            model = Model(fleet, drain, verdicts, constraints)
            row = {"series": kind, "vms": vms, "hosts": hosts, "drover_s": round(wall, 3), "drover_cpu_s": round(cpu, 3),
                   "waves": len(plan["waves"]), "deterministic": same}
            for label, placement in (("drover", placement_of(plan)), ("ffd", None), ("bfd", None)):
                if placement is None:
                    started = time.perf_counter()
                    placement = greedy(model, label == "bfd")
                    row[label + "_s"] = round(time.perf_counter() - started, 1)
                left, left_gib = outcome(model, placement)
                broken = check(model, placement) + (accounting(model, plan) if label == "drover" else [])
                row.update({label + "_unplaced": left, label + "_unplaced_gib": round(left_gib, 1),
                            label + "_violations": len(broken)})
            rows.append(row)
            print("%-6s %6d %5d %9.3f %8.3f %5d | %6d %9.1f %4d | %6d %9.1f %4d (%5.1f) | %6d %9.1f %4d (%5.1f)%s"
                  % (kind, vms, hosts, wall, cpu, row["waves"], row["drover_unplaced"], row["drover_unplaced_gib"],
                     row["drover_violations"], row["ffd_unplaced"], row["ffd_unplaced_gib"], row["ffd_violations"],
                     row["ffd_s"], row["bfd_unplaced"], row["bfd_unplaced_gib"], row["bfd_violations"], row["bfd_s"],
                     "" if same else "  NOT DETERMINISTIC"))
            sys.stdout.flush()
    return rows


def _empty_hosts(count, prefix, physical=96, allocated=0, total_gib=512):
    return {"%s%04d" % (prefix, i): {"hypervisor": {"memory": {"total_kib": total_gib * GIB, "committed_kib": 0},
                                                    "vcpus": {"physical": physical, "allocated": allocated},
                                                    "maintenance": None}, "domains": []} for i in range(count)}


def scenarios(seed):
    """The cases the planner was slow on: all of a fleet onto empty hosts, with hosts short of vCPUs, and waves."""
    rnd = random.Random(seed)
    sources = {"src%04d" % s: {"hypervisor": {"memory": {"total_kib": 256 * GIB}, "vcpus": {"physical": 48},
                                              "maintenance": None},
                               "domains": [_vm(rnd, s * 10 + j + 1, "roomy") for j in range(10)]} for s in range(1000)}
    drain = sorted(sources)
    rows = []
    cases = (("10,000 VMs onto 1,000 empty hosts", _empty_hosts(1000, "new")),
             ("the same beside 900 hosts with memory free and no vCPU", dict(_empty_hosts(1000, "new"), **_empty_hosts(900, "nov", 8, 32))),
             ("the same beside 900 hosts with memory free and 1 vCPU", dict(_empty_hosts(1000, "new"), **_empty_hosts(900, "one", 8, 31))),
             ("10,000 VMs onto 100 hosts (most left behind)", _empty_hosts(100, "new")),
             ("the same beside 900 hosts with memory free and 1 vCPU", dict(_empty_hosts(100, "new"), **_empty_hosts(900, "one", 8, 31))))
    for label, destinations in cases:
        plan, wall, cpu, _same = run_planner(dict(sources, **destinations), drain, None, {"max_parallel": 50, "cold": True}, 5)
        rows.append({"case": label, "s": round(wall, 3), "cpu_s": round(cpu, 3), "moves": len(plan["moves"]),
                     "unplaced": len(plan["unplaced"])})
        print("%-56s %7.3f s (cpu %.3f): %d moves, %d unplaced" % (label, wall, cpu, len(plan["moves"]), len(plan["unplaced"])))
    moves = [{"domain": "vm%05d" % i, "source": "hv%03d" % (i % 100), "destination": "big", "estimated_seconds": 1.0}
             for i in range(10000)]
    started = time.perf_counter()
    waves = fill_waves(moves, {"max_parallel": 50, "max_per_source": 1, "max_per_destination": 1}, 50)
    seconds = time.perf_counter() - started
    rows.append({"case": "fill_waves: 10,000 moves from 100 hosts onto one, max_parallel 50", "s": round(seconds, 3),
                 "waves": len(waves)})
    print("%-56s %7.3f s: %d waves" % ("fill_waves: 10,000 moves from 100 hosts onto one", seconds, len(waves)))
    return rows


def small_fleet(rnd):
    """A small tight fleet: one drained host, a few destinations with little room, groups now and then."""
    fleet = {"src": {"hypervisor": {"memory": {"total_kib": 256 * GIB}, "vcpus": {"physical": 64}, "maintenance": None},
                     "domains": []}}
    for n in range(rnd.randint(3, 12)):
        tags = {"anti_affinity": ["a"] if rnd.random() < 0.2 else [], "affinity": ["p"] if rnd.random() < 0.1 else []}
        if tags["affinity"]:
            tags["anti_affinity"] = []
        fleet["src"]["domains"].append({"name": "vm%02d" % n, "uuid": "u%02d" % n, "state": "running", "active": rnd.random() > 0.1,
                                        "persistent": True, "memory_kib": rnd.randint(1, 12) * GIB, "vcpus": rnd.randint(1, 6),
                                        "tags": tags})
    for h in range(rnd.randint(2, 5)):
        total = rnd.randint(4, 24)
        domains = []
        if rnd.random() < 0.2:
            domains.append({"name": "stay%d" % h, "uuid": "s%d" % h, "state": "running", "active": True, "persistent": True,
                            "memory_kib": GIB, "vcpus": 1, "tags": {"anti_affinity": ["a"]}})
        fleet["hv%d" % h] = {"hypervisor": {"memory": {"total_kib": total * GIB, "committed_kib": rnd.randint(0, total // 2) * GIB},
                                            "vcpus": {"physical": rnd.randint(1, 8), "allocated": rnd.randint(0, 4)},
                                            "maintenance": None}, "domains": domains}
    constraints = {"memory_headroom_pct": rnd.choice((0, 10)), "vcpu_ratio": rnd.choice((1, 2, 4))}
    return fleet, ["src"], [], constraints


def sweep(count, seed):
    rnd = random.Random(seed)
    tally = {"instances": count, "fewer_than_ffd": 0, "fewer_than_bfd": 0, "more_than_ffd": 0, "more_than_bfd": 0,
             "violations": 0, "ffd_violations": 0, "bfd_violations": 0}
    for _i in range(count):
        fleet, drain, verdicts, constraints = small_fleet(rnd)
        plan = plan_evacuation(fleet, drain, verdicts, constraints)
        model = Model(fleet, drain, verdicts, constraints)
        placed = placement_of(plan)
        tally["violations"] += len(check(model, placed) + accounting(model, plan))
        for label, best_fit in (("ffd", False), ("bfd", True)):
            other = greedy(model, best_fit)
            tally[label + "_violations"] += len(check(model, other))
            if len(placed) < len(other):
                tally["fewer_than_" + label] += 1
            elif len(placed) > len(other):
                tally["more_than_" + label] += 1
    print("sweep: %(instances)d small tight fleets: drover placed fewer VMs than FFD %(fewer_than_ffd)d times, "
          "than BFD %(fewer_than_bfd)d times; more than FFD %(more_than_ffd)d times, than BFD %(more_than_bfd)d times; "
          "violations drover %(violations)d, FFD %(ffd_violations)d, BFD %(bfd_violations)d" % tally)
    return tally


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--sweep", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/results.json alone")
    args = parser.parse_args()
    result = {"scenarios": scenarios(args.seed), "series": series(args.sizes, args.seed), "sweep": sweep(args.sweep, args.seed),
              "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": "%s, %d CPUs, Python %s" % (platform.machine(), os.cpu_count(), platform.python_version())}
    if args.no_write:
        return
    try:
        with open(RESULTS) as f:
            results = json.load(f)
    except FileNotFoundError:
        results = {}
    results["planner"] = result
    with open(RESULTS, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write("\n")
    print("written: %s (planner)" % os.path.relpath(RESULTS, ROOT))


if __name__ == "__main__":
    sys.exit(main())
