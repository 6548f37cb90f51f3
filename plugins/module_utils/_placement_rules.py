# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inputs of the evacuation planner, read and checked, and the figures it derives from them.

Fleet facts (the shape of docs/facts.md), constraints, preflight verdicts and transfer estimates.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError

MIB = 1024 * 1024
# Active states a live migration can start from; other active states (crashed, pmsuspended,
# shutting down) can only move cold.
LIVE_STATES = ("running", "paused", "blocked")
VERDICT_STATUSES = ("pass", "warn", "fail")
# Preflight checks that only matter for a live migration: a VM moved shut down does not need the
# migration ports, a distinct host UUID, a newer QEMU or a convergent dirty rate, and its blockers
# are why it moves cold. A definition moved while shut off reserves no capacity either.
NOT_CHECKED_FOR = {
    "live": (),
    "cold": ("blockers", "connectivity", "convergence", "host_uuid", "versions", "storage_copy_refused"),
    "define": ("blockers", "capacity", "connectivity", "convergence", "host_uuid", "versions", "storage_copy_refused"),
}
# How many hosts an explanation names before it says "and N more".
NAMED_IN_REASON = 5

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
}


def _number(key, value, minimum=0.0, integer=False, below=None):
    """A number from an int, a float or a numeric string (extra vars arrive as strings)."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise DroverError("constraint %s must be %s, got %r" % (key, kind, value))
    try:
        number = float(value)
    except ValueError:
        raise DroverError("constraint %s must be %s, got %r" % (key, kind, value)) from None
    if math.isnan(number) or math.isinf(number) or (integer and number != int(number)):
        raise DroverError("constraint %s must be %s, got %r" % (key, kind, value))
    if number < minimum or (below is not None and number >= below):
        bounds = "at least %g" % minimum if below is None else "from %g to below %g" % (minimum, below)
        raise DroverError("constraint %s must be %s, got %r" % (key, bounds, value))
    return int(number) if integer or number == int(number) else number


def _names(key, value, known=None):
    """A sorted list of names; one name alone is accepted for a list of one."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise DroverError("%s must be a list of names, got %r" % (key, value))
    names = sorted({str(item) for item in value})
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
    """The constraints with defaults filled in, each checked; raises DroverError naming the bad key."""
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
    c["memory_headroom_pct"] = _number("memory_headroom_pct", c["memory_headroom_pct"], below=100)
    c["vcpu_ratio"] = _number("vcpu_ratio", c["vcpu_ratio"], minimum=0.01)
    c["bandwidth_mib_s"] = _number("bandwidth_mib_s", c["bandwidth_mib_s"], minimum=1)
    for key in ("max_parallel", "max_per_source", "max_per_destination"):
        c[key] = _number(key, c[key], minimum=1, integer=True)
    for key in ("include_shutoff", "cold"):
        try:
            c[key] = boolean(c[key], strict=True)
        except TypeError:
            raise DroverError("constraint %s must be true or false, got %r" % (key, c[key])) from None
    reserved = c["reserved_memory_mib"]
    if isinstance(reserved, Mapping):
        _names("constraint reserved_memory_mib", list(reserved), host_names)
        c["reserved_memory_mib"] = {str(host): _number("reserved_memory_mib.%s" % host, value) for host, value in reserved.items()}
    else:
        c["reserved_memory_mib"] = _number("reserved_memory_mib", reserved)
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

    __slots__ = ("name", "total_kib", "reserved_kib", "headroom_kib", "free_before", "free_kib",
                 "vcpu_limit", "vcpus_allocated", "maintenance", "inbound", "defined_kib")

    def __init__(self, name, total_kib, committed_kib, reserved_kib, headroom_kib, vcpu_limit, vcpus_allocated, maintenance):
        self.name = name
        self.total_kib = total_kib
        self.reserved_kib = reserved_kib
        self.headroom_kib = headroom_kib
        self.free_before = total_kib - committed_kib - reserved_kib - headroom_kib
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


def _field(where, data, key, kinds, default=None, required=False):
    if key not in data or data[key] is None:
        if required:
            raise DroverError("%s: missing required field %s" % (where, key))
        return default
    value = data[key]
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise DroverError("%s: field %s must be %s, got %r" % (where, key, _kind_name(kinds), value))
    return value


def _kind_name(kinds):
    names = {bool: "true or false", int: "a number", float: "a number", str: "a string",
             list: "a list", Mapping: "a dict"}
    return " or ".join(sorted({names[kind] for kind in kinds}))


def _tag_list(where, tags, key):
    value = tags.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise DroverError("%s: tags.%s must be a list of group names, got %r" % (where, key, value))
    return [str(item) for item in value]


def _read_domain(host, index, data, anti_groups, affinity_groups, full):
    where = "fleet[%s].domains[%d]" % (host, index)
    if not isinstance(data, Mapping):
        raise DroverError("%s must be a dict, got %r" % (where, data))
    name = _field(where, data, "name", (str,), required=True)
    where = "fleet[%s] domain %s" % (host, name)
    dom = Domain()
    dom.name = str(name)
    dom.source = host
    dom.uuid = _field(where, data, "uuid", (str,))
    dom.uuid = None if dom.uuid is None else str(dom.uuid)
    dom.active = bool(_field(where, data, "active", (bool,), required=True))
    dom.persistent = bool(_field(where, data, "persistent", (bool,), default=True))
    dom.state = str(_field(where, data, "state", (str,), default="running" if dom.active else "shutoff"))
    dom.memory_kib = int(_field(where, data, "memory_kib", (int, float), required=True))
    dom.vcpus = int(_field(where, data, "vcpus", (int, float), required=True))
    tags = _field(where, data, "tags", (Mapping,), default={})
    dom.anti = sorted(set(_tag_list(where, tags, "anti_affinity")) | anti_groups.get(dom.name, set()))
    dom.affinity = sorted(set(_tag_list(where, tags, "affinity")) | affinity_groups.get(dom.name, set()))
    dom.pinned = bool(tags.get("pinned"))
    dom.raw = data
    dom.cold_only = False
    if not full:
        return dom
    dom.dirty = _field(where, data, "dirty_rate_mib_s", (int, float))
    dom.job = _field(where, data, "job", (Mapping,))
    blockers = _field(where, data, "blockers", (list,), default=[])
    dom.blockers = sorted(" ".join(str(b.get(k)) for k in ("kind", "detail") if b.get(k) not in (None, ""))
                          if isinstance(b, Mapping) else str(b) for b in blockers)
    dom.disk_copy_bytes, dom.local_disks, dom.unknown_disks = 0, False, []
    for disk in _field(where, data, "disks", (list,), default=[]):
        if not isinstance(disk, Mapping) or disk.get("device") == "cdrom" or disk.get("shared") is True:
            continue  # shared disks stay put; CD-ROMs are ejected or handled by the migrate module
        dom.local_disks = dom.local_disks or disk.get("shared") is False
        size = disk.get("capacity_bytes")
        if isinstance(size, (int, float)) and not isinstance(size, bool):
            dom.disk_copy_bytes += int(size)
        else:
            dom.unknown_disks.append(str(disk.get("target") or disk.get("path") or "?"))
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
    for name in sorted(fleet):
        facts = fleet[name]
        where = "fleet[%s]" % name
        if not isinstance(facts, Mapping) or not isinstance(facts.get("hypervisor"), Mapping):
            keys = ", ".join(sorted(str(k) for k in facts)) if isinstance(facts, Mapping) else type(facts).__name__
            raise DroverError("%s: missing required field hypervisor (expected the result of drover.libvirt.hypervisor_info; got %s)"
                              % (where, keys or "nothing"))
        hv = facts["hypervisor"]
        host_domains = _field(where, facts, "domains", (list,), required=True)
        doms = [_read_domain(name, i, d, anti_groups, affinity_groups, name in drained) for i, d in enumerate(host_domains)]
        domains.extend(doms)
        memory = _field(where + ".hypervisor", hv, "memory", (Mapping,), required=True)
        vcpus = _field(where + ".hypervisor", hv, "vcpus", (Mapping,), required=True)
        total = int(_field(where + ".hypervisor.memory", memory, "total_kib", (int, float), required=True))
        committed = _field(where + ".hypervisor.memory", memory, "committed_kib", (int, float))
        if committed is None:  # the facts' own definition: current memory of every active domain
            committed = sum(int(d.raw.get("current_memory_kib") or d.memory_kib) for d in doms if d.active)
        physical = int(_field(where + ".hypervisor.vcpus", vcpus, "physical", (int, float), required=True))
        allocated = _field(where + ".hypervisor.vcpus", vcpus, "allocated", (int, float))
        if allocated is None:
            allocated = sum(d.vcpus for d in doms if d.active)
        reserved = c["reserved_memory_mib"]
        reserved = reserved.get(name, 0) if isinstance(reserved, dict) else reserved
        hosts[name] = Host(name, total, int(committed), int(reserved * 1024),
                           int(math.ceil(total * c["memory_headroom_pct"] / 100.0)),
                           int(math.floor(c["vcpu_ratio"] * physical + 1e-9)), int(allocated),
                           hv.get("maintenance"))
    return hosts, domains


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
        key = tuple(str(_field(where, verdict, k, (str,), required=True)) for k in ("domain", "source", "destination"))
        status = _field(where, verdict, "status", (str,), required=True)
        if status not in VERDICT_STATUSES:
            raise DroverError("%s: status must be one of %s, got %r" % (where, ", ".join(VERDICT_STATUSES), status))
        copy = _field(where, verdict, "copy_storage", (bool,))
        failures, warnings = [], []
        for check in _field(where, verdict, "checks", (list,), default=[]):
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


def estimate(method, memory_kib, disk_bytes, copy_storage, dirty_mib_s, bandwidth_mib_s):
    """(bytes to send, seconds, notes) for one move.

    Live: memory, plus disks when copied; pre-copy resends what the guest dirties meanwhile, so
    memory takes about bytes / (bandwidth - dirty rate). A guest dirtying at least as fast as the
    link never converges by pre-copy; it is estimated as a post-copy, about bytes / bandwidth.
    Cold and define moves send no memory, only copied disks.
    """
    memory = memory_kib * 1024
    disks = disk_bytes if copy_storage else 0
    bandwidth = float(bandwidth_mib_s) * MIB
    notes = []
    if method != "live":
        return disks, round(disks / bandwidth, 1), notes
    seconds = (memory + disks) / bandwidth
    if dirty_mib_s and dirty_mib_s >= bandwidth_mib_s:
        notes.append("dirties %s MiB/s, not less than the %s MiB/s link: pre-copy cannot converge, estimated as post-copy"
                     % (dirty_mib_s, bandwidth_mib_s))
    elif dirty_mib_s and dirty_mib_s > 0:
        seconds = disks / bandwidth + memory / (bandwidth - dirty_mib_s * MIB)
    return memory + disks, round(seconds, 1), notes


def mib(kib, up=False):
    return -(-kib // 1024) if up else kib // 1024


def some(items, limit=NAMED_IN_REASON):
    """At most `limit` items joined, and how many more there are."""
    items = list(items)
    text = ", ".join(items[:limit])
    return text + (" and %d more" % (len(items) - limit) if len(items) > limit else "")
