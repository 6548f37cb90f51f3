# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Why the planner could not place a domain: reasons a person can act on (docs/planner.md lists them).

Written once the plan is chosen, from the planner's state (_planner._Planner, read only).
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

from bisect import bisect_right

from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_enums import JOB_OPERATION_NAMES

NO_DESTINATION = "no destination: all hosts are drained, excluded or in maintenance"
# How many hosts an explanation names before it says "and N more".
NAMED_IN_REASON = 5


def some(items, limit=NAMED_IN_REASON):
    """At most `limit` items joined, and how many more there are."""
    items = list(items)
    text = ", ".join(items[:limit])
    return text + (" and %d more" % (len(items) - limit) if len(items) > limit else "")


def mib(kib, up=False):
    return -(-kib // 1024) if up else kib // 1024


def number_text(value):
    return "%d" % value if value == int(value) else "%s" % value


def job_text(job):
    """A libvirt job of the facts in words: its operation by name, or what holds the domain."""
    if job.get("held_by"):
        return job["held_by"]
    operation = job.get("operation")
    if isinstance(operation, int) and not isinstance(operation, bool):
        return JOB_OPERATION_NAMES.get(operation, "operation %d" % operation)
    return operation or job.get("type") or "unknown"


def cannot_move_text(dom, method, cold_allowed):
    """Why a domain is not even placed (pinned, busy, cannot go live), or None when it may be."""
    if dom.pinned:
        return "pinned"
    if dom.job:
        return "a libvirt job is running on it (%s); plan again once it ends" % job_text(dom.job)
    if method == "cold" and not cold_allowed:
        why = "has blockers: %s" % ", ".join(dom.blockers) if dom.blockers else "state %s cannot migrate live" % dom.state
        return why + " (set cold to move it shut down)"
    return None


def apart_text(unit):
    """Why a unit can never be placed: affinity keeps together what anti-affinity keeps apart; or None."""
    if len(unit.members) < 2:
        return None
    for group in unit.anti:
        both = [dom.name for dom in unit.members if group in dom.anti]
        if len(both) > 1:
            return "affinity group %s keeps %s together but anti-affinity group %s keeps them apart" % (
                ", ".join(unit.groups), ", ".join(both), group)
    return None


def unit_text(unit, reason):
    """The reason for every member of a unit that moves together, naming the group."""
    if len(unit.members) > 1 or unit.groups:
        names = ", ".join(dom.name for dom in unit.members)
        return "affinity group %s (%s): %s" % (", ".join(unit.groups), names, reason)
    return reason


def kept_text(planner, host):
    kept = "%s%% headroom" % number_text(planner.c["memory_headroom_pct"])
    if host.reserved_kib:
        kept += " and %d MiB reserved" % mib(host.reserved_kib)
    return kept + " kept"


class Reasons:
    """Why the units the plan could not place stay, from the plan's final figures.

    A run only lowers what hosts have free and only adds anti-affinity holders, so what stopped a
    unit when its turn came still stops it at the end: the reasons speak of the figures the plan
    reports under `destinations`. Hosts are looked at most free memory first.
    """

    def __init__(self, planner):
        self.planner = planner
        self.vcpu_ratio = number_text(planner.c["vcpu_ratio"])
        by_free = sorted(planner.targets, key=lambda h: (-h.free_kib, h.name))
        self.everywhere = by_free
        self.pool = [h for h in by_free if h.vcpus_free > 0]
        self.no_vcpu = sorted(h.name for h in planner.targets if h.vcpus_free <= 0)
        self.less_free = [-h.free_kib for h in self.pool]  # ascending, for bisect
        # most_vcpus[k]: the host with the most vCPUs free (then by name) among the k+1 with the most memory free.
        self.most_vcpus, best = [], None
        for host in self.pool:
            if best is None or (-host.vcpus_free, host.name) < (-best.vcpus_free, best.name):
                best = host
            self.most_vcpus.append(best)
        self.known = {}

    def why(self, unit):
        needs_capacity = bool(unit.memory_kib or unit.vcpus)
        if unit.anchor_names:
            return self._anchors(unit, needs_capacity)
        if not self.planner.targets:
            return NO_DESTINATION
        holders = self.planner.holders
        alone = not (unit.clash or unit.failed or any(group in holders for group in unit.anti))
        shape = (needs_capacity, unit.memory_kib, unit.vcpus)
        if alone and shape in self.known:
            return self.known[shape]
        reason = self._search_failed(unit, needs_capacity)
        if alone:
            self.known[shape] = reason
        return reason

    def _search_failed(self, unit, needs_capacity):
        conflicts = self.planner.conflicts
        pool = self.pool if needs_capacity else self.everywhere
        best = next((h for h in pool if not conflicts(unit, h)), None)
        if needs_capacity and best is not None:
            if best.free_kib >= unit.memory_kib:
                # Room for its memory on a valid host, so vCPUs are short there: the most found on one.
                roomy = bisect_right(self.less_free, -unit.memory_kib)
                short = self.most_vcpus[roomy - 1]
                if conflicts(unit, short):
                    short = min((h for h in self.pool[:roomy] if not conflicts(unit, h)),
                                key=lambda h: (-h.vcpus_free, h.name))
                return "needs %d vCPUs; most free on a valid destination with room for its memory is %s with %d (vcpu_ratio %s)" % (
                    unit.vcpus, short.name, max(short.vcpus_free, 0), self.vcpu_ratio)
            return "needs %d MiB; most free on a valid destination is %s with %d MiB (%s)" % (
                mib(unit.memory_kib, up=True), best.name, mib(max(best.free_kib, 0)), kept_text(self.planner, best))
        rejected = {h.name: conflicts(unit, h) for h in pool}
        return conflict_text({name: kinds for name, kinds in rejected.items() if kinds},
                             self.no_vcpu if needs_capacity else [], self.vcpu_ratio)

    def _anchors(self, unit, needs_capacity):
        """Why none of the hosts where members of the unit already are can take it."""
        planner = self.planner
        texts = []
        for name in unit.anchor_names:
            host = planner.hosts[name]
            if name in planner.excluded:
                texts.append("%s (%s)" % (name, planner.excluded[name]))
                continue
            reasons = planner.conflicts(unit, host)
            if reasons:
                text = conflict_text({name: reasons[:1]}, [], self.vcpu_ratio)
            elif needs_capacity and host.free_kib < unit.memory_kib:
                text = "needs %d MiB, %d MiB free with %s" % (mib(unit.memory_kib, up=True), mib(max(host.free_kib, 0)),
                                                              kept_text(planner, host))
            elif needs_capacity and host.vcpus_free < unit.vcpus:
                text = "needs %d vCPUs, %d free under vcpu_ratio %s" % (unit.vcpus, max(host.vcpus_free, 0), self.vcpu_ratio)
            else:
                continue
            texts.append("%s (%s)" % (name, text))
        return "members already on %s" % some(texts)


def conflict_text(rejected, no_vcpu, vcpu_ratio):
    """rejected: {host: [(kind, detail)]}; one text for every rule that excluded a host."""
    anti, preflight, clash = {}, [], []
    every_preflight = bool(rejected)
    for name in sorted(rejected):
        kinds = {kind for kind, _detail in rejected[name]}
        every_preflight = every_preflight and "preflight" in kinds
        for kind, detail in rejected[name]:
            if kind == "anti":
                group, host, holders = detail
                anti.setdefault(group, []).append("%s holds %s" % (host, ", ".join(sorted(holders))))
            elif kind == "preflight":
                preflight.extend(detail)
            elif kind == "clash":
                clash.append(detail)
    parts = []
    if preflight:
        parts.append("preflight failed %s: %s" % ("on every destination" if every_preflight else "on", some(preflight)))
    parts.extend("anti-affinity group %s: %s" % (group, some(anti[group])) for group in sorted(anti))
    if clash:
        parts.append("a domain with the same name or UUID is already on %s" % some(clash))
    if no_vcpu:
        parts.append("no vCPU free under vcpu_ratio %s on %s" % (vcpu_ratio, some(no_vcpu)))
    if not parts:
        return NO_DESTINATION
    return parts[0] if len(parts) == 1 else "no valid destination: " + "; ".join(parts)
