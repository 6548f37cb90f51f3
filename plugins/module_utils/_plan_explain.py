# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Why the planner could not place a domain: reasons a person can act on (docs/planner.md lists them).

Functions over the planner's state (_planner._Planner, read only but for a further pool search)
and what its search met. Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

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


def cannot_move_text(dom, method, cold_allowed):
    """Why a domain is not even placed (pinned, busy, cannot go live), or None when it may be."""
    if dom.pinned:
        return "pinned"
    if dom.job:
        return "a libvirt job is running on it (%s); plan again once it ends" % (
            dom.job.get("operation") or dom.job.get("type") or "unknown")
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


def search_failed_text(planner, unit, pool, rejected, needs_capacity):
    """A reason from what the search met (and a further look when needed)."""
    if not planner.targets:
        return NO_DESTINATION
    vcpu_ratio = number_text(planner.c["vcpu_ratio"])
    if needs_capacity:
        short = sorted((r[0][1] for r in rejected.values() if r[0][0] == "vcpus"), key=lambda h: (-h.vcpus_free, h.name))
        if short:
            return "needs %d vCPUs; most free on a valid destination with room for its memory is %s with %d (vcpu_ratio %s)" % (
                unit.vcpus, short[0].name, max(short[0].vcpus_free, 0), vcpu_ratio)
        # The search stopped at the first host short of memory; the best one no rule excludes is further on.
        taken, more = pool.search(lambda h: planner.conflicts(unit, h), None, 1)
        rejected.update(more)
        if taken:
            best = taken[0]
            return "needs %d MiB; most free on a valid destination is %s with %d MiB (%s)" % (
                mib(unit.memory_kib, up=True), best.name, mib(max(best.free_kib, 0)), kept_text(planner, best))
    return conflict_text(rejected, sorted(planner.no_vcpu) if needs_capacity else [], vcpu_ratio)


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


def anchors_text(planner, unit, accept):
    """Why none of the hosts where members of the unit already are can take it."""
    texts = []
    for name in unit.anchors:
        host = planner.hosts[name]
        if name in planner.excluded:
            texts.append("%s (%s)" % (name, planner.excluded[name]))
            continue
        kind, detail = accept(host)[0]
        if kind == "memory":
            text = "needs %d MiB, %d MiB free with %s" % (mib(unit.memory_kib, up=True), mib(max(host.free_kib, 0)),
                                                          kept_text(planner, host))
        elif kind == "vcpus":
            text = "needs %d vCPUs, %d free under vcpu_ratio %s" % (
                unit.vcpus, max(host.vcpus_free, 0), number_text(planner.c["vcpu_ratio"]))
        else:
            text = conflict_text({name: [(kind, detail)]}, [], number_text(planner.c["vcpu_ratio"]))
        texts.append("%s (%s)" % (name, text))
    return "members already on %s" % some(texts)
