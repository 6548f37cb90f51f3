# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inputs of the evacuation planner, read and checked: constraints, hosts to drain, the fleet
(through the facts reader, _facts_schema) and preflight verdicts.

Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.drover.libvirt.plugins.module_utils._claims import stale_claims
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._facts_schema import (
    field,
    read_capacity,
    read_claims,
    read_domains,
    read_migration_facts,
    read_placement_tags,
)
from ansible_collections.drover.libvirt.plugins.module_utils._plan_explain import some
from ansible_collections.drover.libvirt.plugins.module_utils._schedule import read_caps
from ansible_collections.drover.libvirt.plugins.module_utils._values import NotNames, bounded_number, name_list

# Active states a live migration can start from; other active states (crashed, pmsuspended,
# shutting down) can only move cold.
LIVE_STATES = ("running", "paused", "blocked")
VERDICT_STATUSES = ("pass", "warn", "fail")
# Preflight checks that only matter for a live migration: a VM moved shut down does not need the
# migration ports, a distinct host UUID, a newer QEMU or a convergent dirty rate, and its blockers
# are why it moves cold. A definition moved while shut off reserves no capacity either.
# storage_copy_refused is read_verdicts' name for a storage check that only refused a live copy.
NOT_CHECKED_FOR = {
    "live": (),
    "cold": ("blockers", "connectivity", "convergence", "host_uuid", "versions", "storage_copy_refused"),
    "define": ("blockers", "capacity", "connectivity", "convergence", "host_uuid", "versions", "storage_copy_refused"),
}

CONSTRAINT_DEFAULTS = {
    "select": None,
    "memory_headroom_pct": 10,
    "reserved_memory_mib": 0,
    "vcpu_ratio": 4.0,
    "anti_affinity": {},
    "affinity": {},
    "exclude_hosts": [],
    "max_parallel": 2,
    "max_per_source": 2,
    "max_per_destination": 1,
    "include_shutoff": True,
    "cold": False,
    "bandwidth_mib_s": 1000,
    "run_id": None,  # this run's capacity claims are its own, not another run's
}


def _names(key, value, known=None):
    """A sorted list of names; one name alone is accepted for a list of one."""
    try:
        names = sorted(set(name_list(value)))
    except NotNames:
        raise DroverError("%s must be a list of names, got %r" % (key, value)) from None
    if known is not None:
        unknown = [name for name in names if name not in known]
        if unknown:
            raise DroverError("%s names unknown host(s) %s; the fleet has %s"
                              % (key, ", ".join(unknown), some(sorted(known))))
    return names


def _groups(key, value):
    if not isinstance(value, Mapping):
        raise DroverError("constraint %s must be a dict of group name to a list of VM names, got %r" % (key, value))
    return {str(group): _names("constraint %s.%s" % (key, group), members) for group, members in value.items()}


def read_constraints(constraints, host_names):
    """The constraints with defaults filled in, each checked; raises DroverError naming the bad key.

    The caps are the effective ones (_schedule.read_caps).
    """
    if constraints is None:
        constraints = {}
    if not isinstance(constraints, Mapping):
        raise DroverError("constraints must be a dict, got %r" % (constraints,))
    unknown = sorted(str(key) for key in constraints if key not in CONSTRAINT_DEFAULTS)
    if unknown:
        raise DroverError("unknown constraint(s) %s; known: %s" % (", ".join(unknown), ", ".join(sorted(CONSTRAINT_DEFAULTS))))
    c = dict(CONSTRAINT_DEFAULTS)
    c.update((str(key), value) for key, value in constraints.items() if value is not None)
    if c["select"] == "":
        c["select"] = None  # an empty expression is how templates say "no selection"
    if c["select"] is not None and not isinstance(c["select"], str):
        raise DroverError("constraint select must be a JMESPath expression (a string), got %r" % (c["select"],))
    if c["select"] is not None:
        c["select"] = str(c["select"])
    c["memory_headroom_pct"] = bounded_number("constraint memory_headroom_pct", c["memory_headroom_pct"], below=100)
    c["vcpu_ratio"] = bounded_number("constraint vcpu_ratio", c["vcpu_ratio"], minimum=0.01)
    c["bandwidth_mib_s"] = bounded_number("constraint bandwidth_mib_s", c["bandwidth_mib_s"], minimum=1)
    c.update(read_caps(c, "constraint "))
    for key in ("include_shutoff", "cold"):
        try:
            c[key] = boolean(c[key], strict=True)
        except TypeError:
            raise DroverError("constraint %s must be true or false, got %r" % (key, c[key])) from None
    reserved = c["reserved_memory_mib"]
    if isinstance(reserved, Mapping):
        _names("constraint reserved_memory_mib", list(reserved), host_names)
        c["reserved_memory_mib"] = {str(host): bounded_number("constraint reserved_memory_mib.%s" % host, value)
                                    for host, value in reserved.items()}
    else:
        c["reserved_memory_mib"] = bounded_number("constraint reserved_memory_mib", reserved)
    if c["run_id"] is not None:
        c["run_id"] = str(c["run_id"])
    c["exclude_hosts"] = _names("constraint exclude_hosts", c["exclude_hosts"], host_names)
    c["anti_affinity"] = _groups("anti_affinity", c["anti_affinity"])
    c["affinity"] = _groups("affinity", c["affinity"])
    return c


def read_drain(drain, host_names):
    names = _names("drain", drain, host_names)
    if not names:
        raise DroverError("drain names no host; give the inventory hosts to empty")
    return names


class Host:
    """A hypervisor as the planner sees it: what it can still take, and what the plan put there."""

    __slots__ = ("name", "total_kib", "reserved_kib", "headroom_kib", "usable_kib", "free_before", "free_kib",
                 "vcpu_limit", "vcpus_allocated", "maintenance", "inbound", "defined_kib")

    def __init__(self, name, total_kib, committed_kib, reserved_kib, headroom_kib, vcpu_limit, vcpus_allocated, maintenance):
        self.name = name
        self.total_kib = total_kib
        self.reserved_kib = reserved_kib
        self.headroom_kib = headroom_kib
        self.usable_kib = total_kib - reserved_kib - headroom_kib  # what VMs may use in all
        self.free_before = self.usable_kib - committed_kib
        self.free_kib = self.free_before
        self.vcpu_limit = vcpu_limit
        self.vcpus_allocated = vcpus_allocated
        self.maintenance = maintenance
        self.inbound = 0
        self.defined_kib = 0  # memory of definitions moved here: ranks shut-off moves, reserves nothing

    @property
    def vcpus_free(self):
        return self.vcpu_limit - self.vcpus_allocated


class Domain:
    """One domain of the fleet, with the fields placement reads."""

    __slots__ = ("name", "uuid", "source", "state", "active", "persistent", "memory_kib", "vcpus",
                 "disk_copy_bytes", "local_disks", "unknown_disks", "blockers", "anti", "affinity",
                 "pinned", "dirty", "job", "raw", "cold_only")


def _domain(host, facts, anti_groups, affinity_groups, full):
    """A Domain from the facts reader's entry; the facts a move depends on only when `full`."""
    dom = Domain()
    dom.name, dom.uuid, dom.source, dom.raw = facts["name"], facts["uuid"], host, facts["raw"]
    dom.active = facts["active"]
    dom.persistent = True if facts["persistent"] is None else facts["persistent"]
    dom.state = facts["state"] or ("running" if dom.active else "shutoff")
    dom.memory_kib, dom.vcpus = int(facts["memory_kib"]), int(facts["vcpus"])
    tags = read_placement_tags(host, facts)
    dom.anti = sorted(set(tags["anti_affinity"]) | anti_groups.get(dom.name, set()))
    dom.affinity = sorted(set(tags["affinity"]) | affinity_groups.get(dom.name, set()))
    dom.pinned = tags["pinned"]
    dom.cold_only = False
    if not full:
        return dom
    moving = read_migration_facts(host, facts)
    dom.dirty, dom.job, dom.blockers = moving["dirty_rate_mib_s"], moving["job"], moving["blockers"]
    dom.disk_copy_bytes, dom.local_disks, dom.unknown_disks = 0, False, []
    for disk in moving["disks"]:
        if disk["device"] == "cdrom" or disk["shared"] is True:
            continue  # shared disks stay put; CD-ROMs are ejected or handled by the migrate module
        dom.local_disks = dom.local_disks or disk["shared"] is False
        if disk["capacity_bytes"] is None:
            dom.unknown_disks.append(disk["target"])
        else:
            dom.disk_copy_bytes += disk["capacity_bytes"]
    return dom


def _memberships(groups):
    by_name = {}
    for group, members in groups.items():
        for name in members:
            by_name.setdefault(name, set()).add(group)
    return by_name


def read_fleet(fleet, drained, c):
    """Hosts and domains from {inventory host: hypervisor_info result}; domains of drained hosts in full."""
    anti_groups, affinity_groups = _memberships(c["anti_affinity"]), _memberships(c["affinity"])
    hosts, domains = {}, []
    # Claims for moves that are over hold nothing (the evacuate role removes them too).
    stale = {claim["name"] for held in stale_claims(fleet).values() for claim in held}
    for name in sorted(fleet):
        capacity = read_capacity(name, fleet[name])
        doms = [_domain(name, facts, anti_groups, affinity_groups, name in drained)
                for facts in read_domains(name, fleet[name], required=("active", "memory_kib", "vcpus"))]
        domains.extend(doms)
        committed = capacity["committed_kib"]
        if committed is None:  # the facts' own definition: current memory of every active domain
            committed = sum(int(d.raw.get("current_memory_kib") or d.memory_kib) for d in doms if d.active)
        allocated = capacity["allocated"]
        if allocated is None:
            allocated = sum(d.vcpus for d in doms if d.active)
        # Room other runs have claimed here, for domains not active here yet (those count above).
        held = _held_by_other_runs([cl for cl in read_claims(name, fleet[name]) if cl["name"] not in stale], c["run_id"],
                                   {d.uuid for d in doms if d.active})
        committed += held["memory_kib"]
        allocated += held["vcpus"]
        total = capacity["total_kib"]
        reserved = c["reserved_memory_mib"]
        reserved = reserved.get(name, 0) if isinstance(reserved, dict) else reserved
        hosts[name] = Host(name, total, int(committed), int(reserved * 1024),
                           int(math.ceil(total * c["memory_headroom_pct"] / 100.0)),
                           int(math.floor(c["vcpu_ratio"] * capacity["physical"] + 1e-9)), int(allocated),
                           capacity["maintenance"])
    return hosts, domains


def _held_by_other_runs(claims, run_id, present_uuids):
    """Memory and vCPUs held by other runs' live claims, each domain counted once."""
    seen, memory, vcpus = set(present_uuids), 0, 0
    for claim in claims:
        if claim["run_id"] == run_id or claim["uuid"] in seen:
            continue
        seen.add(claim["uuid"])
        memory += claim["memory_kib"]
        vcpus += claim["vcpus"]
    return {"memory_kib": memory, "vcpus": vcpus}


def read_verdicts(verdicts):
    """{(domain, source, destination): {status, copy_storage, failures, warnings}}, the worst verdict winning.

    failures and warnings are sorted (check id, text) pairs; a failed verdict without a failing check
    gets one with the id "preflight".
    """
    if verdicts is None:
        return {}
    if not isinstance(verdicts, (list, tuple)):
        raise DroverError("verdicts must be the list the preflight module returns, got %r" % (verdicts,))
    index = {}
    for i, verdict in enumerate(verdicts):
        where = "verdicts[%d]" % i
        if not isinstance(verdict, Mapping):
            raise DroverError("%s must be a dict, got %r" % (where, verdict))
        key = tuple(str(field(where, verdict, k, (str,), required=True)) for k in ("domain", "source", "destination"))
        status = field(where, verdict, "status", (str,), required=True)
        if status not in VERDICT_STATUSES:
            raise DroverError("%s: status must be one of %s, got %r" % (where, ", ".join(VERDICT_STATUSES), status))
        copy = field(where, verdict, "copy_storage", (bool,))
        failures, warnings = [], []
        for check in field(where, verdict, "checks", (list,), default=[]):
            if isinstance(check, Mapping) and check.get("status") in ("fail", "warn"):
                check_id = str(check.get("id") or "check")
                if check_id == "storage" and (check.get("details") or {}).get("copy_possible"):
                    # Refused only because a live copy was not allowed: a shut-down move copies anyway.
                    check_id = "storage_copy_refused"
                text = "%s %s: %s" % (key[2], check_id, check.get("reason") or "no reason given")
                (failures if check["status"] == "fail" else warnings).append((check_id, text))
        if status == "fail" and not failures:
            failures.append(("preflight", "%s: preflight failed" % key[2]))
        entry = index.setdefault(key, {"status": "pass", "copy_storage": None, "failures": [], "warnings": []})
        if VERDICT_STATUSES.index(status) > VERDICT_STATUSES.index(entry["status"]):
            entry["status"] = status
        if copy is not None:
            entry["copy_storage"] = bool(entry["copy_storage"]) or copy
        entry["failures"] = sorted(set(entry["failures"] + failures))
        entry["warnings"] = sorted(set(entry["warnings"] + warnings))
    return index
