# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Evacuation placement: where each domain of the hosts being drained goes, and in which waves.

Pure logic over hypervisor_info results (docs/facts.md) and preflight verdicts; docs/planner.md
describes every rule. Inputs are read by _planner_inputs, reasons written by _plan_explain, waves
filled by _schedule. Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping

from ansible_collections.drover.libvirt.plugins.module_utils import _plan_explain as explain
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._plan_select import select_domains
from ansible_collections.drover.libvirt.plugins.module_utils._planner_inputs import (
    LIVE_STATES,
    NOT_CHECKED_FOR,
    read_constraints,
    read_drain,
    read_fleet,
    read_verdicts,
)
from ansible_collections.drover.libvirt.plugins.module_utils._schedule import CAPS, drain_caps, fill_waves
from ansible_collections.drover.libvirt.plugins.module_utils._transfer_estimate import move_estimate

ALTERNATES = 3


def plan_evacuation(fleet, drain, verdicts=None, constraints=None):
    """Plan moving every domain off the `drain` hosts; a JSON-serialisable dict, the same for the same input.

    fleet: {inventory host: result of drover.libvirt.hypervisor_info}; drain: inventory hosts to
    empty; verdicts: the preflight module's list; constraints: see docs/planner.md.
    Raises DroverError with a message naming the bad host, field or constraint.
    """
    if not isinstance(fleet, Mapping) or not fleet:
        raise DroverError("fleet must be a non-empty dict of inventory host to the result of "
                          "drover.libvirt.hypervisor_info, got %r" % (type(fleet).__name__,))
    fleet = {str(host): facts for host, facts in fleet.items()}
    drained = read_drain(drain, fleet)
    c = read_constraints(constraints, fleet)
    verdict_index = read_verdicts(verdicts)
    hosts, domains = read_fleet(fleet, set(drained), c)
    return _Planner(hosts, domains, drained, c, verdict_index).run()


class _Unit:
    """Domains that move together (linked by affinity), placed as one."""

    __slots__ = ("members", "groups", "memory_kib", "vcpus", "define_kib", "anti", "failed", "clash", "anchors")

    def __init__(self, members):
        self.members = members
        self.groups = sorted({group for dom in members for group in dom.affinity})
        moving = [dom for dom in members if dom.active]
        self.memory_kib = sum(dom.memory_kib for dom in moving)
        self.vcpus = sum(max(dom.vcpus, 1) for dom in moving)
        self.define_kib = sum(dom.memory_kib for dom in members if not dom.active)
        self.anti = sorted({group for dom in members for group in dom.anti})
        self.failed, self.clash, self.anchors = {}, set(), []

    @property
    def key(self):
        first = self.members[0]
        return (-self.memory_kib, -self.vcpus, -self.define_kib, first.name, first.source)


class _Pool:
    """Hosts best first by `rank`, in a heap with lazy updates.

    A host whose figures change is pushed again with a new version; older entries are dropped when
    they surface, so each placement costs a few heap operations instead of a scan of every host.
    """

    def __init__(self, hosts, rank):
        self.rank = rank
        self.version = {}
        self.heap = []
        for host in hosts:
            self.refresh(host)

    def refresh(self, host, keep=True):
        version = self.version.get(host.name, 0) + 1
        self.version[host.name] = version
        if keep:
            heapq.heappush(self.heap, (-self.rank(host), host.name, version, host))

    def search(self, accept, stop, want):
        """Up to `want` hosts accept() takes (it returns a list of reasons, empty to take), best first.

        stop(host) ends the walk: the heap's order is what stop tests, so no later host passes it.
        Returns (taken, {host name: reasons}); every live entry stays in the heap.
        """
        taken, rejected, popped = [], {}, []
        heap = self.heap
        while heap and len(taken) < want:
            entry = heap[0]
            host = entry[3]
            if self.version.get(host.name) != entry[2]:
                heapq.heappop(heap)
                continue
            if stop is not None and stop(host):
                break
            popped.append(heapq.heappop(heap))
            reasons = accept(host)
            if reasons:
                rejected[host.name] = reasons
            else:
                taken.append(host)
        for entry in popped:
            heapq.heappush(heap, entry)
        return taken, rejected


class _Planner:
    """One plan: places the units of the drained hosts' domains, biggest first, and keeps the books.

    hosts: {name: Host}; targets: the hosts that may receive; placed, unplaced, skipped: the
    outcome so far; present, holders, anchor_counts: who is where (for clashes, anti-affinity
    and affinity), updated as units are placed.
    """

    def __init__(self, hosts, domains, drained, c, verdicts):
        self.hosts, self.c, self.verdicts = hosts, c, verdicts
        self.drained = set(drained)
        self.excluded = {}
        for name in sorted(hosts):
            if name in self.drained:
                self.excluded[name] = "being drained"
            elif name in c["exclude_hosts"]:
                self.excluded[name] = "excluded by constraint exclude_hosts"
            elif hosts[name].maintenance is not None:
                self.excluded[name] = "marked for maintenance"
        self.targets = [hosts[name] for name in sorted(hosts) if name not in self.excluded]
        self.placed, self.unplaced, self.skipped = [], [], []
        self.no_vcpu, self.infeasible = set(), {}
        # Failed checks by domain, so a unit looks up its own instead of every host's.
        self.failures = {}
        for (name, source, destination), verdict in sorted(verdicts.items()):
            if verdict["status"] == "fail":
                self.failures.setdefault((name, source), []).append((destination, verdict["failures"]))
        # Who is where outside the drained hosts: clashes, anti-affinity holders, affinity anchors.
        self.present, self.holders, self.anchor_counts = {}, {}, {}
        self.leaving = []
        for dom in sorted(domains, key=lambda d: (d.source, d.name)):
            if not (dom.active or dom.persistent):
                continue  # transient and shut off: nothing to move
            if dom.source in self.drained:
                self.leaving.append(dom)
                continue
            self._arrive(dom, dom.source)
            for group in dom.affinity:
                counts = self.anchor_counts.setdefault(group, {})
                counts[dom.source] = counts.get(dom.source, 0) + 1

    def _arrive(self, dom, host):
        for key in (("name", dom.name), ("uuid", dom.uuid)):
            if key[1]:
                self.present.setdefault(key, set()).add(host)
        for group in dom.anti:
            self.holders.setdefault(group, {}).setdefault(host, []).append(dom.name)

    def run(self):
        units = self._units(self._triage())
        capacity = [unit for unit in units if unit.memory_kib or unit.vcpus]
        pool = _Pool([h for h in self.targets if h.vcpus_free > 0], lambda h: h.free_kib)
        self.no_vcpu = {h.name for h in self.targets if h.vcpus_free <= 0}
        for unit in sorted(capacity, key=lambda u: u.key):
            self._place(unit, pool, True)
        # Definitions reserve nothing; ranking by memory left minus what was defined there spreads them.
        pool = _Pool(self.targets, lambda h: h.free_kib - h.defined_kib)
        for unit in sorted((u for u in units if not (u.memory_kib or u.vcpus)), key=lambda u: u.key):
            self._place(unit, pool, False)
        return self._result()

    def _triage(self):
        """Domains to place; the others go to skipped or unplaced with their reason."""
        c = self.c
        candidates = []
        for dom in self.leaving:
            if not dom.active and not c["include_shutoff"]:
                self.skipped.append(_entry(dom, reason="shut off; include_shutoff is false"))
            else:
                candidates.append(dom)
        if c["select"] is not None:
            chosen = select_domains(c["select"], candidates)
            kept = []
            for dom in candidates:
                if (dom.name, None) in chosen or (dom.name, dom.source) in chosen:
                    kept.append(dom)
                else:
                    self.skipped.append(_entry(dom, reason="not selected by select expression %s" % c["select"]))
            candidates = kept
        movable = []
        for dom in candidates:
            if c["cold"] and _method(dom) == "live" and self._only_cold_fits(dom):
                dom.cold_only = True
            method = _method(dom)
            why = explain.cannot_move_text(dom, method, c["cold"])
            if why:
                self._unplace(dom, why, method)
            else:
                movable.append(dom)
        return movable

    def _only_cold_fits(self, dom):
        """True when every destination fails a live check, but one passes what a shut-down move needs."""
        failed = dict(self.failures.get((dom.name, dom.source), ()))
        if any(t.name not in failed for t in self.targets):
            return False
        cold_ignores = NOT_CHECKED_FOR["cold"]
        return any(all(check_id in cold_ignores for check_id, _text in failed[t.name]) for t in self.targets)

    def _units(self, movable):
        """Group domains linked by affinity (transitively) into units, each checked and given its anchors."""
        parent = list(range(len(movable)))

        def root(i):
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        first_of_group = {}
        for i, dom in enumerate(movable):
            for group in dom.affinity:
                j = first_of_group.setdefault(group, i)
                parent[root(i)] = root(j)
        members = {}
        for i, dom in enumerate(movable):
            members.setdefault(root(i), []).append(dom)
        units = []
        for group_members in members.values():
            unit = _Unit(sorted(group_members, key=lambda d: (d.name, d.source)))
            apart = explain.apart_text(unit)
            if apart:
                for dom in unit.members:
                    self._unplace(dom, apart, _method(dom))
                continue
            self._constraints_of(unit)
            units.append(unit)
        return units

    def _constraints_of(self, unit):
        prefix = len(unit.members) > 1
        for dom in unit.members:
            for key in (("name", dom.name), ("uuid", dom.uuid)):
                unit.clash.update(self.present.get(key, ()))
            ignored = NOT_CHECKED_FOR[_method(dom)]
            for host, failures in self.failures.get((dom.name, dom.source), ()):
                texts = ["%s: %s" % (dom.name, text) if prefix else text for check_id, text in failures if check_id not in ignored]
                if texts:
                    unit.failed.setdefault(host, []).extend(texts)
        counts = {}
        for group in unit.groups:
            for host, count in self.anchor_counts.get(group, {}).items():
                counts[host] = counts.get(host, 0) + count
        unit.anchors = sorted(counts, key=lambda h: (-counts[h], -self.hosts[h].free_kib, h))

    def conflicts(self, unit, host):
        """Why `host` cannot take `unit` whatever its capacity: [(kind, detail)], empty when it can."""
        name = host.name
        reasons = []
        if name in unit.clash:
            reasons.append(("clash", name))
        if name in unit.failed:
            reasons.append(("preflight", unit.failed[name]))
        for group in unit.anti:
            holders = self.holders.get(group)
            if holders and name in holders:
                reasons.append(("anti", (group, name, holders[name])))
        return reasons

    def _capacity(self, unit, host):
        if host.free_kib < unit.memory_kib:
            return [("memory", host)]
        if host.vcpus_free < unit.vcpus:
            return [("vcpus", host)]
        return []

    def _place(self, unit, pool, needs_capacity):
        def accept(host):
            return self.conflicts(unit, host) or (self._capacity(unit, host) if needs_capacity else [])

        # Capacity only shrinks, so until the next placement a unit of a size that failed fails the same
        # way; remembering that spares a walk over every host when the fleet is full.
        shape = (unit.memory_kib, unit.vcpus) if needs_capacity and not (unit.anti or unit.failed or unit.clash or unit.anchors) else None
        if shape in self.infeasible:
            return self._fail(unit, self.infeasible[shape])
        if unit.anchors:
            valid = [self.hosts[h] for h in unit.anchors if h not in self.excluded and not accept(self.hosts[h])]
            if not valid:
                return self._fail(unit, explain.anchors_text(self, unit, accept))
            chosen, alternates = valid[0], valid[1:ALTERNATES + 1]
        else:
            stop = (lambda h: h.free_kib < unit.memory_kib) if needs_capacity else None
            taken, rejected = pool.search(accept, stop, ALTERNATES + 1)
            if not taken:
                reason = explain.search_failed_text(self, unit, pool, rejected, needs_capacity)
                if shape:
                    self.infeasible[shape] = reason
                return self._fail(unit, reason)
            chosen, alternates = taken[0], taken[1:]
        if needs_capacity:
            chosen.free_kib -= unit.memory_kib
            chosen.vcpus_allocated += unit.vcpus
            if chosen.vcpus_free <= 0:
                self.no_vcpu.add(chosen.name)
        chosen.defined_kib += unit.define_kib
        self.infeasible.clear()
        pool.refresh(chosen, keep=chosen.vcpus_free > 0 or not needs_capacity)
        for dom in unit.members:
            chosen.inbound += 1
            self._arrive(dom, chosen.name)
            self.placed.append((dom, chosen.name, [h.name for h in alternates]))
        return None

    def _fail(self, unit, reason):
        reason = explain.unit_text(unit, reason)
        for dom in unit.members:
            self._unplace(dom, reason, _method(dom))

    def _unplace(self, dom, reason, method):
        self.unplaced.append({"domain": dom.name, "source": dom.source, "reason": reason, "method": method})

    def _move(self, dom, destination, alternates):
        verdict = self.verdicts.get((dom.name, dom.source, destination)) or {}
        copy = verdict.get("copy_storage")
        copy = dom.local_disks if copy is None else copy
        method = _method(dom)
        nbytes, seconds, notes = move_estimate(method, dom.memory_kib, dom.disk_copy_bytes, copy, dom.dirty, self.c["bandwidth_mib_s"])
        if copy and dom.unknown_disks:
            notes.append("size unknown, not counted: %s" % ", ".join(sorted(dom.unknown_disks)))
        ignored = NOT_CHECKED_FOR[method]
        notes.extend("preflight warning: %s" % text for check_id, text in verdict.get("warnings", []) if check_id not in ignored)
        return {"domain": dom.name, "uuid": dom.uuid, "source": dom.source, "destination": destination,
                "alternates": alternates, "method": method, "copy_storage": bool(copy), "wave": 0, "order": 0,
                "memory_bytes": dom.memory_kib * 1024, "estimated_bytes": nbytes, "estimated_seconds": seconds,
                "notes": notes}

    def _result(self):
        c = self.c
        # The effective caps, with every drained host draining at once within max_parallel.
        caps = drain_caps({key: c[key] for key in CAPS}, len(self.drained))
        moves = [self._move(dom, dest, alternates) for dom, dest, alternates in self.placed]
        waves = fill_waves(moves, caps, caps["sources_at_once"])
        return {
            "moves": moves,
            "unplaced": sorted(self.unplaced, key=lambda e: (e["source"], e["domain"])),
            "skipped": sorted(self.skipped, key=lambda e: (e["source"], e["domain"])),
            "waves": waves,
            "estimated_seconds": round(sum(w["estimated_seconds"] for w in waves), 1),
            "caps": caps,
            "destinations": {h.name: {"memory_free_kib_before": h.free_before, "memory_free_kib_after": h.free_kib,
                                      "vcpus_allocated_after": h.vcpus_allocated, "inbound": h.inbound}
                             for h in self.targets},
            "excluded_destinations": dict(sorted(self.excluded.items())),
        }


def _method(dom):
    if not dom.active:
        return "define"
    if getattr(dom, "cold_only", False):
        return "cold"
    return "live" if dom.state in LIVE_STATES and not dom.blockers else "cold"


def _entry(dom, **fields):
    entry = {"domain": dom.name, "source": dom.source}
    entry.update(fields)
    return entry
