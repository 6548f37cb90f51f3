# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one reader of the facts contract (docs/facts.md): what hypervisor_info returns.

The planner, the placement check and the preflight checks read facts through here into plain,
checked structures; every error names the host and the field. Optional fields that are missing
read as None (or an empty list), so each reader of the result chooses its own default.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError

EXPECTED = "expected the result of drover.libvirt.hypervisor_info"
# Fields every reader gets, with their types; the other contract fields are read on demand.
IDENTITY = (("uuid", (str,)), ("state", (str,)), ("active", (bool,)), ("persistent", (bool,)))
SIZES = (("memory_kib", (int, float)), ("current_memory_kib", (int, float)), ("vcpus", (int, float)))


def field(where, data, key, kinds, default=None, required=False):
    """data[key] when it has one of the types `kinds`; `default` when missing or null.

    Numbers in facts are sizes and counts: negative, NaN or infinite ones are refused.
    """
    if key not in data or data[key] is None:
        if required:
            raise DroverError("%s: missing required field %s" % (where, key))
        return default
    value = data[key]
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise DroverError("%s: field %s must be %s, got %r" % (where, key, _kind_name(kinds), value))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _size(where, "field " + key, value)
    return value


def _size(where, what, value):
    if not (value >= 0 and math.isfinite(value)):
        raise DroverError("%s: %s must be a finite number of 0 or more, got %r" % (where, what, value))


def _kind_name(kinds):
    names = {bool: "true or false", int: "a number", float: "a number", str: "a string",
             list: "a list", Mapping: "a dict"}
    return " or ".join(sorted({names[kind] for kind in kinds}))


def _got(facts):
    if isinstance(facts, Mapping):
        return ", ".join(sorted(str(k) for k in facts)) or "nothing"
    return type(facts).__name__


def read_domains(host, facts, required=()):
    """The domains of one host's facts: a list of dicts with name, the IDENTITY fields and `raw`.

    `required` names fields (of IDENTITY and SIZES) that must be present; SIZES are read when
    required. Names must be non-empty strings.
    """
    where = "fleet[%s]" % host
    if not isinstance(facts, Mapping) or not isinstance(facts.get("domains"), list):
        raise DroverError("%s: missing required field domains (%s; got %s)" % (where, EXPECTED, _got(facts)))
    domains = []
    for index, data in enumerate(facts["domains"]):
        at = "%s.domains[%d]" % (where, index)
        if not isinstance(data, Mapping):
            raise DroverError("%s must be a dict, got %r" % (at, data))
        name = field(at, data, "name", (str,), required=True)
        if not name:
            raise DroverError("%s: field name must be a non-empty string, got %r" % (at, name))
        at = "%s domain %s" % (where, name)
        dom = {"name": str(name), "raw": data}
        for key, kinds in IDENTITY + (SIZES if required else ()):
            value = field(at, data, key, kinds, required=key in required)
            dom[key] = str(value) if isinstance(value, str) else value
        domains.append(dom)
    return domains


def read_placement_tags(host, dom):
    """{anti_affinity, affinity: [group names], pinned: bool} from a domain's tags."""
    where = "fleet[%s] domain %s" % (host, dom["name"])
    tags = field(where, dom["raw"], "tags", (Mapping,), default={})
    groups = {}
    for key in ("anti_affinity", "affinity"):
        value = tags.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise DroverError("%s: tags.%s must be a list of group names, got %r" % (where, key, value))
        groups[key] = [str(item) for item in value]
    return dict(groups, pinned=bool(tags.get("pinned")))


def read_migration_facts(host, dom):
    """What moving a domain depends on: dirty rate, running job, blockers (as text) and disks.

    disks: [{target, device, shared, capacity_bytes}] with capacity_bytes None when unknown;
    entries that are not dicts are left out.
    """
    where = "fleet[%s] domain %s" % (host, dom["name"])
    data = dom["raw"]
    blockers = field(where, data, "blockers", (list,), default=[])
    disks = []
    for disk in field(where, data, "disks", (list,), default=[]):
        if not isinstance(disk, Mapping):
            continue
        size = disk.get("capacity_bytes")
        if isinstance(size, (int, float)) and not isinstance(size, bool):
            _size(where, "disk %s field capacity_bytes" % (disk.get("target") or disk.get("path") or "?"), size)
        disks.append({"target": str(disk.get("target") or disk.get("path") or "?"), "device": disk.get("device"),
                      "shared": disk.get("shared"),
                      "capacity_bytes": int(size) if isinstance(size, (int, float)) and not isinstance(size, bool) else None})
    return {
        "dirty_rate_mib_s": field(where, data, "dirty_rate_mib_s", (int, float)),
        "job": field(where, data, "job", (Mapping,)),
        "blockers": sorted(" ".join(str(b.get(k)) for k in ("kind", "detail") if b.get(k) not in (None, ""))
                           if isinstance(b, Mapping) else str(b) for b in blockers),
        "disks": disks,
    }


def read_capacity(host, facts):
    """{total_kib, committed_kib, physical, allocated, maintenance} of one host; committed and allocated None when absent."""
    where = "fleet[%s]" % host
    if not isinstance(facts, Mapping) or not isinstance(facts.get("hypervisor"), Mapping):
        raise DroverError("%s: missing required field hypervisor (%s; got %s)" % (where, EXPECTED, _got(facts)))
    hv = facts["hypervisor"]
    memory = field(where + ".hypervisor", hv, "memory", (Mapping,), required=True)
    vcpus = field(where + ".hypervisor", hv, "vcpus", (Mapping,), required=True)
    return {
        "total_kib": int(field(where + ".hypervisor.memory", memory, "total_kib", (int, float), required=True)),
        "committed_kib": field(where + ".hypervisor.memory", memory, "committed_kib", (int, float)),
        "physical": int(field(where + ".hypervisor.vcpus", vcpus, "physical", (int, float), required=True)),
        "allocated": field(where + ".hypervisor.vcpus", vcpus, "allocated", (int, float)),
        "maintenance": hv.get("maintenance"),
    }


def read_claims(host, facts):
    """The live capacity claims of `hypervisor.claims`: [{run_id, uuid, name, memory_kib, vcpus}]; [] when absent.

    Expired claims (live false) are left out: they hold no room.
    """
    where = "fleet[%s].hypervisor.claims" % host
    hv = facts.get("hypervisor") if isinstance(facts, Mapping) else None
    claims = field("fleet[%s].hypervisor" % host, hv, "claims", (list,), default=[]) if isinstance(hv, Mapping) else []
    out = []
    for index, claim in enumerate(claims):
        at = "%s[%d]" % (where, index)
        if not isinstance(claim, Mapping):
            raise DroverError("%s must be a dict, got %r" % (at, claim))
        if field(at, claim, "live", (bool,), default=True) is False:
            continue
        entry = {"run_id": str(field(at, claim, "run_id", (str,), required=True)),
                 "uuid": str(field(at, claim, "uuid", (str,), required=True)),
                 "name": str(claim.get("name") or "")}
        for key in ("memory_kib", "vcpus"):
            entry[key] = int(field(at, claim, key, (int, float), required=True))
        out.append(entry)
    return out


def fleet_from_results(results, pings=None):
    """Split the results of hypervisor_info run on each host of a loop into what could be read and what not.

    results: the `results` of a looped, registered hypervisor_info task (`item` is the inventory
    host). Returns {fleet: {host: result}, unreachable: [{host, reason}]}: a host is unreachable
    when Ansible could not reach it, or when the module could not read it (its libvirt daemon down).
    """
    if not isinstance(results, list):
        raise DroverError("expected the results of a looped hypervisor_info task, got %s" % type(results).__name__)
    fleet, unreachable = {}, []
    for index, result in enumerate(results):
        if not isinstance(result, Mapping) or result.get("item") in (None, ""):
            raise DroverError("results[%d] is not a looped task result with an item" % index)
        host = str(result["item"])
        if result.get("unreachable") or result.get("failed") or not isinstance(result.get("hypervisor"), Mapping):
            reason = result.get("msg") or ("unreachable" if result.get("unreachable") else "no facts returned")
            unreachable.append({"host": host, "reason": " ".join(str(reason).split())})
        else:
            fleet[host] = result
    read = set(fleet) | {entry["host"] for entry in unreachable}
    for host, ping in sorted((pings or {}).items()):
        if str(host) not in read and isinstance(ping, Mapping) and ping.get("unreachable"):
            unreachable.append({"host": str(host), "reason": " ".join(str(ping.get("msg") or "unreachable").split())})
    return {"fleet": fleet, "unreachable": unreachable}


def storage_pools(storage):
    """The entries of `hypervisor.storage` that are dicts, as {pool, type, path, active, ...} with path '' when unset."""
    pools = []
    for entry in storage or []:
        if isinstance(entry, Mapping):
            pool = dict(entry)
            pool["path"] = pool.get("path") or ""
            pools.append(pool)
    return pools
