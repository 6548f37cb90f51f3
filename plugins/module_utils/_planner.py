# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Evacuation placement: where each domain of the hosts being drained goes, and in which waves.

Pure logic over hypervisor_info results (docs/facts.md) and preflight verdicts; docs/planner.md
describes every rule. Inputs are read by _planner_inputs; this file sets the problem (units, what
excludes destinations for each) and keeps the best of the placements _plan_run makes with the ways
of choosing in _plan_search; reasons are written by _plan_explain, waves filled by _schedule.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping

from ansible_collections.drover.libvirt.plugins.module_utils import _plan_explain as explain
from ansible_collections.drover.libvirt.plugins.module_utils import _plan_search as search
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._plan_run import Run
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

STRATEGIES = search.STRATEGIES
_NOTHING = frozenset()


def plan_evacuation(fleet, drain, verdicts=None, constraints=None):
    """Plan moving every domain off the `drain` hosts; a JSON-serialisable dict, the same for the same input.

    fleet: {inventory host: result of drover.libvirt.hypervisor_info}; drain: inventory hosts to
    empty; verdicts: the preflight module's list; constraints: see docs/planner.md.
    Raises DroverError with a message naming the bad host, field or constraint.
    """
    if not isinstance(fleet, Mapping) or not fleet:
        raise DroverError("fleet must be a non-empty dict of inventory host to the result of "
                          "drover.libvirt.hypervisor_info, got %r" % (type(fleet).__name__,))
    # The planner makes many small objects and hardly any reference cycles; the cyclic collector
    # would walk the whole fleet again and again (half the time on large fleets) to find next to nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        fleet = {str(host): facts for host, facts in fleet.items()}
        drained = read_drain(drain, fleet)
        c = read_constraints(constraints, fleet)
        verdict_index = read_verdicts(verdicts)
        hosts, domains = read_fleet(fleet, set(drained), c)
        return _Planner(hosts, domains, drained, c, verdict_index).run()
    finally:
        if collecting:
            gc.enable()


class _Unit:
    """Domains that move together (linked by affinity), placed as one.

    For the runs: memory_kib, vcpus (what it reserves), define_kib (memory of its shut-off
    members), anti (groups), excluded (destination numbers it may never use) and anchors
    ({destination number: members there}, None when no member stays anywhere).
    """

    __slots__ = ("members", "groups", "memory_kib", "vcpus", "define_kib", "weight_kib", "anti", "failed", "clash",
                 "anchor_names", "anchors", "excluded")

    def __init__(self, members):
        self.members = members
        if len(members) == 1:
            dom = members[0]
            self.memory_kib, self.vcpus, self.define_kib = (dom.memory_kib, max(dom.vcpus, 1), 0) if dom.active else (0, 0, dom.memory_kib)
            self.groups, self.anti = dom.affinity, tuple(dom.anti)
        else:
            moving = [dom for dom in members if dom.active]
            self.memory_kib = sum(dom.memory_kib for dom in moving)
            self.vcpus = sum(max(dom.vcpus, 1) for dom in moving)
            self.define_kib = sum(dom.memory_kib for dom in members if not dom.active)
            self.groups = sorted({group for dom in members for group in dom.affinity})
            self.anti = tuple(sorted({group for dom in members for group in dom.anti}))
        self.weight_kib = self.memory_kib + self.define_kib
        self.failed, self.clash, self.anchor_names, self.anchors, self.excluded = {}, set(), [], None, _NOTHING

    @property
    def key(self):
        first = self.members[0]
        return (-self.memory_kib, -self.vcpus, -self.define_kib, first.name, first.source)


class _Planner:
    """One plan: the problem (destinations, units and what excludes them), its runs, and the result.

    hosts: {name: Host}; targets: the hosts that may receive, in name order (a run numbers them so);
    present, holders, anchor_counts: who is where outside the drained hosts (clashes,
    anti-affinity, affinity); after the runs, holders also has what the chosen run placed.
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
        self.number = {host.name: i for i, host in enumerate(self.targets)}
        self.placed, self.unplaced, self.skipped = [], [], []
        self.capacity_units, self.definition_units = [], []
        # Failed checks by domain, so a unit looks up its own instead of every host's.
        self.failures = {}
        for (name, source, destination), verdict in sorted(verdicts.items()):
            if verdict["status"] == "fail":
                self.failures.setdefault((name, source), []).append((destination, verdict["failures"]))
        # Who is where outside the drained hosts: clashes, anti-affinity holders, affinity anchors.
        self.present, self.holders, self.anchor_counts = {}, {}, {}
        self.leaving, self.finishing, running = [], [], {}
        for dom in sorted(domains, key=lambda d: (d.source, d.name)):
            if not (dom.active or dom.persistent):
                continue  # transient and shut off: nothing to move
            if dom.source in self.drained:
                self.leaving.append(dom)
                continue
            for key in (("name", dom.name), ("uuid", dom.uuid)):
                if key[1]:
                    self.present.setdefault(key, set()).add(dom.source)
            if dom.active and dom.uuid:
                running.setdefault(dom.uuid, []).append(dom)
            self._arrive(dom, dom.source)
            for group in dom.affinity:
                counts = self.anchor_counts.setdefault(group, {})
                counts[dom.source] = counts.get(dom.source, 0) + 1
        self.leaving = [dom for dom in self.leaving if not self._finishes(dom, running)]

    def _finishes(self, dom, running):
        """A shut-off definition left on a drained host by a move that landed (the domain runs, persistent and
        under the same name, on exactly one other host): its move is finished there, whatever the constraints."""
        there = running.get(dom.uuid) if not dom.active and dom.uuid else None
        # Persistent as read, not assumed: a facts reader that could not tell would otherwise undefine the last definition.
        if not there or len(there) != 1 or there[0].raw.get("persistent") is not True or there[0].name != dom.name:
            return False
        self.finishing.append((dom, there[0].source))
        return True

    def _arrive(self, dom, host):
        for group in dom.anti:
            self.holders.setdefault(group, {}).setdefault(host, []).append(dom.name)

    def run(self):
        movable = self._triage()
        _refuse_copies(movable)
        for unit in sorted(self._units(movable), key=lambda u: u.key):
            (self.capacity_units if unit.memory_kib or unit.vcpus else self.definition_units).append(unit)
        best = Run(self, STRATEGIES[0]).place_all()
        if self._could_do_better(best):
            for strategy in STRATEGIES[1:]:
                run = Run(self, strategy).place_all()
                if run.score() > best.score():
                    best = run
                if not best.failed:
                    break
        self._keep(best)
        return self._result()

    def _could_do_better(self, run):
        """Whether a unit the run left behind fits somewhere on the fleet as it is before any placement.

        When none does (an anchor in maintenance, larger than any host has free, failed checks
        everywhere), no other way of placing could place more.
        """
        free = [h.free_kib for h in self.targets]
        vfree = [h.vcpus_free for h in self.targets]
        index = None
        for unit in run.failed:
            capacity = bool(unit.memory_kib or unit.vcpus)
            if unit.anchors is not None:
                if any(i not in unit.excluded and (not capacity or (free[i] >= unit.memory_kib and vfree[i] >= unit.vcpus))
                       for i in unit.anchors):
                    return True
            elif not capacity:
                if len(unit.excluded) < len(self.targets):
                    return True
            else:
                if index is None:
                    index = search.FirstFit(free, vfree, search.frequent(u.vcpus for u in self.capacity_units))
                if index.search(unit.memory_kib, unit.vcpus, unit.excluded, 1):
                    return True
        return False

    def _keep(self, run):
        """Make `run` the plan: its figures on the hosts, its placements, a reason for each unit it could not place."""
        for i, host in enumerate(self.targets):
            host.free_kib, host.vcpus_allocated = run.free[i], host.vcpu_limit - run.vfree[i]
            host.defined_kib = run.defined[i]
        for unit, i, alternates in run.placed:
            chosen = self.targets[i]
            for dom in unit.members:
                chosen.inbound += 1
                self._arrive(dom, chosen.name)
                self.placed.append((dom, chosen.name, [self.targets[j].name for j in alternates]))
        reasons = explain.Reasons(self)
        for unit in run.failed:
            self._fail(unit, reasons.why(unit))

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
            if len(group_members) > 1:
                group_members.sort(key=lambda d: (d.name, d.source))
            unit = _Unit(group_members)
            apart = explain.apart_text(unit)
            if apart:
                for dom in unit.members:
                    self._unplace(dom, apart, _method(dom))
                continue
            self._constraints_of(unit)
            units.append(unit)
        return units

    def _constraints_of(self, unit):
        """What excludes destinations for the unit whatever is placed (a domain of the same name or
        UUID, a failed preflight check, an anti-affinity member staying there) and its anchors."""
        prefix = len(unit.members) > 1
        for dom in unit.members:
            for key in (("name", dom.name), ("uuid", dom.uuid)):
                unit.clash.update(self.present.get(key, ()))
            ignored = NOT_CHECKED_FOR[_method(dom)]
            for host, failures in self.failures.get((dom.name, dom.source), ()):
                texts = ["%s: %s" % (dom.name, text) if prefix else text for check_id, text in failures if check_id not in ignored]
                if texts:
                    unit.failed.setdefault(host, []).extend(texts)
        number = self.number
        if unit.clash or unit.failed or any(group in self.holders for group in unit.anti):
            excluded = {number[h] for h in unit.clash if h in number}
            excluded.update(number[h] for h in unit.failed if h in number)
            for group in unit.anti:
                excluded.update(number[h] for h in self.holders.get(group, ()) if h in number)
            unit.excluded = frozenset(excluded)
        if unit.groups:
            counts = {}
            for group in unit.groups:
                for host, count in self.anchor_counts.get(group, {}).items():
                    counts[host] = counts.get(host, 0) + count
            if counts:
                unit.anchor_names = sorted(counts, key=lambda h: (-counts[h], -self.hosts[h].free_kib, h))
                unit.anchors = {number[h]: count for h, count in counts.items() if h in number}

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
        moves += [_finish_move(dom, host) for dom, host in self.finishing]
        # Longest first (by the estimate, which counts each guest's dirty rate when measured): with
        # several moves at once, the drain then ends with short moves, not with one long one alone.
        moves.sort(key=lambda m: -m["estimated_seconds"])
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


def _finish_move(dom, host):
    """The move that removes the shut-off definition an earlier move left on the source (see _finishes): a
    live move to where the domain runs, which finds it there and only finishes its definitions."""
    return {"domain": dom.name, "uuid": dom.uuid, "source": dom.source, "destination": host, "alternates": [],
            "method": "live", "copy_storage": False, "wave": 0, "order": 0, "memory_bytes": 0, "estimated_bytes": 0,
            "estimated_seconds": 0.0, "finishes": True,
            "notes": ["finishes an earlier move: %s runs, persistent, on %s; its shut-off definition left on %s goes"
                      % (dom.name, host, dom.source)]}


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


def _refuse_copies(movable):
    """Two domains of one name or UUID on two drained hosts would both be planned: refuse, naming both."""
    seen = {}
    for dom in movable:
        for kind, value in (("name", dom.name), ("UUID", dom.uuid)):
            if not value:
                continue
            other = seen.setdefault((kind, value), dom)
            if other is not dom:
                raise DroverError(
                    "domain %s on %s and domain %s on %s have the same %s%s: both hosts are being drained and a VM "
                    "must end on one host only; remove the stale copy first"
                    % (other.name, other.source, dom.name, dom.source, kind, "" if kind == "name" else " " + value))
