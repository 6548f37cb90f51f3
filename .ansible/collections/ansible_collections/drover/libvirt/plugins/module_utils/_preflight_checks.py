# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Migration preflight: one verdict per (domain, destination), built from checks.

The checks here are pure: they read facts (docs/facts.md) and the outcome of the probes that
_preflight_probes.py ran against the real hosts; _preflight_run.py runs them. Each check returns
{id, status: pass|warn|fail, reason: one line a person can act on, details}.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import math

from ansible_collections.drover.libvirt.plugins.module_utils._convergence import resolve_knobs
from ansible_collections.drover.libvirt.plugins.module_utils._facts_schema import storage_pools
from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_enums import version_tuple
from ansible_collections.drover.libvirt.plugins.module_utils._transfer_estimate import precopy

# Every check id a verdict can hold, in the order a verdict lists them; the preflight role's
# required checks are checked against this list (filter preflight_check_ids).
CHECK_IDS = ("reachability", "host_uuid", "versions", "machine_type", "cpu", "storage", "network",
             "capacity", "blockers", "defined_on_destination", "connectivity", "convergence", "maintenance")
_RANK = {"pass": 0, "warn": 1, "fail": 2}
MIB = 1024 * 1024


def check(check_id, status, reason, **details):
    return {"id": check_id, "status": status, "reason": reason, "details": details}


def worst(checks):
    return max((c["status"] for c in checks), key=_RANK.get, default="pass")


def check_host_uuid(src, dst, dest_name):
    if src["host_uuid"] and src["host_uuid"] == dst["host_uuid"]:
        return check("host_uuid", "fail", "%s has the same host UUID as the source (%s); give each host its own "
                     "host_uuid in libvirtd.conf" % (dest_name, dst["host_uuid"]),
                     source=src["host_uuid"], destination=dst["host_uuid"])
    return check("host_uuid", "pass", "host UUIDs differ", source=src["host_uuid"], destination=dst["host_uuid"])


def check_versions(src, dst, dest_name):
    details = {"source_libvirt": src["libvirt_version"], "destination_libvirt": dst["libvirt_version"],
               "source_qemu": src["hypervisor_version"], "destination_qemu": dst["hypervisor_version"]}
    if version_tuple(dst["hypervisor_version"]) < version_tuple(src["hypervisor_version"]):
        return check("versions", "fail", "QEMU on %s (%s) is older than on the source (%s); a running guest "
                     "cannot move to an older QEMU" % (dest_name, dst["hypervisor_version"],
                                                       src["hypervisor_version"]), **details)
    if version_tuple(dst["libvirt_version"]) < version_tuple(src["libvirt_version"]):
        return check("versions", "warn", "libvirt on %s (%s) is older than on the source (%s); features of the "
                     "definition may be refused" % (dest_name, dst["libvirt_version"], src["libvirt_version"]),
                     **details)
    return check("versions", "pass", "QEMU %s and libvirt %s on %s are not older"
                 % (dst["hypervisor_version"], dst["libvirt_version"], dest_name), **details)


def check_machine_type(dom, dst, dest_name):
    machine = dom.get("machine")
    if not machine:
        return check("machine_type", "warn", "the definition names no machine type", machine=None)
    if machine in dst.get("machine_types", []):
        return check("machine_type", "pass", "%s supports machine type %s" % (dest_name, machine), machine=machine)
    return check("machine_type", "fail", "%s does not support machine type %s (its QEMU is %s)"
                 % (dest_name, machine, dst["hypervisor_version"]), machine=machine)


def check_cpu(dom, comparison, dest_name):
    """comparison: {result: incompatible|identical|superset|unknown, message, compared} from the probe."""
    cpu = dom.get("cpu") or {}
    details = {"mode": cpu.get("mode"), "model": cpu.get("model"), "compared": comparison.get("compared")}
    if comparison["result"] in ("identical", "superset"):
        return check("cpu", "pass", "%s can provide the domain's CPU (%s %s)"
                     % (dest_name, cpu.get("mode") or "default", cpu.get("model") or ""), **details)
    if comparison["result"] == "incompatible":
        return check("cpu", "fail", "%s cannot provide the domain's CPU: %s" % (dest_name, comparison["message"]),
                     **details)
    return check("cpu", "warn", "cannot compare the domain's CPU with %s: %s" % (dest_name, comparison["message"]),
                 **details)


def check_storage(dom, probes, dest_name, copy_allowed, dst_storage):
    """probes: path -> {shared: bool|None, how}. A disk the destination cannot see needs a copy."""
    shared, copies, unknown = [], [], []
    for disk in dom.get("disks", []):
        if not disk.get("path") or (disk.get("readonly") and disk.get("device") == "cdrom"):
            continue
        if disk.get("type") == "network":
            shared.append(disk["target"])
            continue
        probe = probes.get(disk["path"], {"shared": None, "how": "not probed"})
        if probe["shared"]:
            shared.append(disk["target"])
        elif probe["shared"] is False:
            copies.append(disk)
        else:
            unknown.append("%s (%s)" % (disk["target"], probe["how"]))
    details = {"shared": shared, "copy": [d["target"] for d in copies], "unknown": unknown}
    if not copies and not unknown:
        return check("storage", "pass", "every disk is on storage %s sees at the same path" % dest_name, **details)
    for disk in copies:
        place = _pool_for(disk["path"], dst_storage)
        if place is None:
            return check("storage", "fail", "disk %s (%s) needs a copy, but %s has no active storage pool at %s"
                         % (disk["target"], disk["path"], dest_name, disk["path"].rsplit("/", 1)[0]),
                         copy_possible=False, **details)
        need = disk.get("capacity_bytes") or 0
        if place.get("available_bytes") is not None and need > place["available_bytes"]:
            return check("storage", "fail", "disk %s needs %d MiB in pool %s on %s, which has %d MiB free"
                         % (disk["target"], need // MIB, place["pool"], dest_name, place["available_bytes"] // MIB),
                         copy_possible=False, **details)
    if copies and not copy_allowed:
        # copy_possible tells placement that a move while shut down (which copies) would fit.
        return check("storage", "fail", "disk %s is on storage %s cannot see; move it to shared storage or allow "
                     "copy_storage" % (", ".join("%s (%s)" % (d["target"], d["path"]) for d in copies), dest_name),
                     copy_possible=True, **details)
    if unknown:
        return check("storage", "warn", "could not prove that %s sees disk %s" % (dest_name, ", ".join(unknown)),
                     **details)
    return check("storage", "warn", "disk %s is on local storage; the migration copies it (%d MiB)"
                 % (", ".join(d["target"] for d in copies), sum(d.get("capacity_bytes") or 0 for d in copies) // MIB),
                 copy_storage=True, **details)


def _pool_for(path, storage):
    directory = path.rsplit("/", 1)[0] or "/"
    for entry in storage_pools(storage):
        if entry.get("pool") and entry.get("active") and entry["path"].rstrip("/") == directory:
            return entry
    return None


def check_network(dom, src, dst, dest_name, dest_bridges):
    """dest_bridges: bridge name -> mtu (None when unknown) as found on the destination; None when the
    destination's bridges are unknown (read remotely), which makes a bridge a warning, not a failure."""
    problems, unsure, notes = [], [], []
    src_nets = {n["name"]: n for n in src.get("networks", [])}
    dst_nets = {n["name"]: n for n in dst.get("networks", [])}
    for iface in dom.get("interfaces", []):
        name, kind = iface.get("source"), iface.get("type")
        if kind == "network":
            net = dst_nets.get(name)
            if net is None:
                problems.append("network %s does not exist on %s" % (name, dest_name))
            elif not net["active"]:
                problems.append("network %s is not active on %s" % (name, dest_name))
            elif name in src_nets and src_nets[name].get("mtu") != net.get("mtu"):
                problems.append("network %s has MTU %s on %s but %s here"
                                % (name, net.get("mtu") or "default", dest_name, src_nets[name].get("mtu") or "default"))
            else:
                notes.append(name)
        elif kind in ("bridge", "direct"):
            what = "bridge" if kind == "bridge" else "device"
            if dest_bridges is None:
                unsure.append("cannot tell whether %s %s exists on %s" % (what, name, dest_name))
            elif name not in dest_bridges:
                problems.append("%s %s does not exist on %s" % (what, name, dest_name))
            else:
                notes.append(name)
    details = {"interfaces": [i.get("source") for i in dom.get("interfaces", [])]}
    if problems:
        return check("network", "fail", "; ".join(problems + unsure), **details)
    if unsure:
        return check("network", "warn", "; ".join(unsure) + " (its bridges were read remotely; pass facts gathered "
                     "on it as destination_facts)", **details)
    if not notes:
        return check("network", "pass", "the domain uses no network or bridge", **details)
    return check("network", "pass", "%s exist and are active on %s" % (", ".join(sorted(set(notes))), dest_name),
                 **details)


def check_capacity(dom, dst, dest_name, reserved_mib, vcpu_ratio, pending=None):
    pending = pending or {}
    mem = dst["memory"]
    need_kib = dom["memory_kib"]
    usable = mem["total_kib"] - reserved_mib * 1024 - mem["committed_kib"] - pending.get("memory_mib", 0) * 1024
    cap_vcpus = int(math.floor(dst["vcpus"]["physical"] * vcpu_ratio))
    used_vcpus = dst["vcpus"]["allocated"] + pending.get("vcpus", 0)
    details = {"needed_mib": need_kib // 1024, "available_mib": max(usable, 0) // 1024,
               "kernel_available_mib": mem["free_kib"] // 1024, "committed_mib": mem["committed_kib"] // 1024,
               "reserved_mib": reserved_mib, "pending_mib": pending.get("memory_mib", 0),
               "vcpus_needed": dom["vcpus"], "vcpus_allocated": used_vcpus, "vcpus_limit": cap_vcpus}
    if need_kib > usable:
        return check("capacity", "fail", "%s has %d MiB left for guests (total %d, committed %d, reserved %d, "
                     "pending %d) but the domain needs %d MiB"
                     % (dest_name, max(usable, 0) // 1024, mem["total_kib"] // 1024, mem["committed_kib"] // 1024,
                        reserved_mib, pending.get("memory_mib", 0), need_kib // 1024), **details)
    if used_vcpus + dom["vcpus"] > cap_vcpus:
        return check("capacity", "fail", "%s would run %d vCPUs on %d CPUs, above the ratio %g"
                     % (dest_name, used_vcpus + dom["vcpus"], dst["vcpus"]["physical"], vcpu_ratio), **details)
    if need_kib > mem["free_kib"]:
        return check("capacity", "warn", "%s has room by its commitments but the kernel reports only %d MiB "
                     "available" % (dest_name, mem["free_kib"] // 1024), **details)
    return check("capacity", "pass", "%s has %d MiB and %d vCPUs left; the domain needs %d MiB and %d vCPUs"
                 % (dest_name, usable // 1024, cap_vcpus - used_vcpus, need_kib // 1024, dom["vcpus"]), **details)


def check_blockers(dom):
    blockers = dom.get("blockers", [])
    if blockers:
        return check("blockers", "fail", "cannot live-migrate: %s; detach it or move the domain shut down"
                     % "; ".join(b["detail"] for b in blockers), blockers=blockers)
    return check("blockers", "pass", "no host devices or other migration blockers", blockers=[])


def check_defined(dom, found, dest_name):
    """found: {name, uuid, state, persistent} of a domain with the same name or UUID on the destination."""
    if not found:
        return check("defined_on_destination", "pass", "no domain named %s or with its UUID on %s"
                     % (dom["name"], dest_name))
    same = "the same UUID" if found["uuid"] == dom["uuid"] else "UUID %s" % found["uuid"]
    return check("defined_on_destination", "fail", "%s already has a domain %s (%s, %s%s); remove it there before "
                 "moving this one" % (dest_name, found["name"], same, found["state"],
                                      ", persistent" if found["persistent"] else ""), **found)


def check_connectivity(probe, dest_name):
    """probe: {address, ports: {port: open|refused|timeout|unreachable|error}}."""
    bad = {p: r for p, r in probe["ports"].items() if r not in ("open", "refused")}
    if bad:
        answers = ", ".join("%s %s" % (p, r) for p, r in sorted(bad.items()))
        return check("connectivity", "fail", "migration ports of %s at %s do not answer from here (%s); open TCP "
                     "%s in the firewall" % (dest_name, probe["address"], answers, probe["range"]), **probe)
    return check("connectivity", "pass", "migration ports %s of %s at %s are reachable"
                 % (probe["range"], dest_name, probe["address"]), **probe)


def check_maintenance(mark, dest_name):
    """Only called for a marked destination: a host being drained or maintained takes nothing."""
    return check("maintenance", "fail", "%s is marked %s (%s); placement must not choose it"
                 % (dest_name, mark.get("state"), mark.get("reason") or "no reason given"), mark=mark)


def check_convergence(dom, bandwidth_mib_s, convergence):
    knobs = resolve_knobs(convergence, None)
    dirty = dom.get("dirty_rate_mib_s")
    mem = dom["memory_kib"] * 1024
    bandwidth = bandwidth_mib_s * MIB
    result = precopy(mem, (dirty or 0) * MIB, bandwidth, knobs["max_downtime_ms"])
    details = dict(result, dirty_rate_mib_s=dirty, bandwidth_mib_s=bandwidth_mib_s, memory_mib=mem // MIB,
                   convergence=convergence, max_downtime_ms=knobs["max_downtime_ms"])
    measured = "measured" if dirty is not None else "not measured, assumed 0"
    if result["converges"]:
        return check("convergence", "pass", "pre-copy converges in ~%s s over %d rounds at %d MiB/s (dirty rate %s "
                     "MiB/s, %s)" % (result["seconds"], result["rounds"], bandwidth_mib_s, dirty or 0, measured),
                     **details)
    if knobs["postcopy"]:
        return check("convergence", "warn", "pre-copy cannot converge (guest dirties %s MiB/s, link %d MiB/s); preset "
                     "%s finishes it in post-copy, ~%s s" % (dirty, bandwidth_mib_s, convergence,
                                                             round(mem / bandwidth, 1)), suggested=convergence,
                     **details)
    return check("convergence", "warn", "pre-copy cannot converge (guest dirties %s MiB/s, link %d MiB/s) and preset "
                 "%s has no post-copy; use convergence=balanced or postcopy" % (dirty, bandwidth_mib_s, convergence),
                 suggested="postcopy", **details)


def verdict(domain, source, destination, uri, checks):
    storage = [c for c in checks if c["id"] == "storage"]
    return {"domain": domain, "source": source, "destination": destination, "destination_uri": uri,
            "status": worst(checks), "copy_storage": bool(storage and storage[0]["details"].get("copy_storage")),
            "failed": [c["id"] for c in checks if c["status"] == "fail"],
            "checks": checks}


def _cell(verdict):
    if verdict is None:
        return "-"
    if verdict["status"] == "fail":
        return "FAIL(%s)" % ",".join(verdict["failed"])
    return verdict["status"] + ("+copy" if verdict.get("copy_storage") else "")


def matrix_lines(results, max_width=40):
    """Domain x destination at a glance, then every warning's and failure's reason; a list of lines."""
    domains = sorted({r["domain"] for r in results})
    dests = []
    for r in results:
        if r["destination"] not in dests:
            dests.append(r["destination"])
    cells = {(r["domain"], r["destination"]): _cell(r) for r in results}
    name_width = max([len("VM")] + [len(d) for d in domains]) + 2
    widths = {d: min(max_width, max([len(d)] + [len(cells.get((v, d), "-")) for v in domains]) + 2) for d in dests}

    def fit(text, width):
        return (text if len(text) <= width - 2 else text[:width - 3] + "…").ljust(width)

    lines = [("VM".ljust(name_width) + "".join(fit(d, widths[d]) for d in dests)).rstrip()]
    for dom in domains:
        lines.append((dom.ljust(name_width) + "".join(fit(cells.get((dom, d), "-"), widths[d])
                                                      for d in dests)).rstrip())
    notes = ["%s -> %s: %s: %s" % (r["domain"], r["destination"], c["id"], c["reason"])
             for r in results for c in r["checks"] if c["status"] != "pass"]
    if notes:
        lines.append("")
        lines.extend(notes)
    return lines


def decision(results, require="any", required_checks=None):
    """Whether the play may go on: {ok, blocked: [{domain, reasons}], usable: {domain: [destinations]}}.

    A pair is usable when none of the required checks (all when none are named) failed.
    """
    if require not in ("any", "all", "none"):
        raise ValueError("require must be any, all or none, not %r" % (require,))
    required = set(required_checks or CHECK_IDS)
    usable, reasons = {}, {}
    for r in results:
        bad = [c for c in r["checks"] if c["status"] == "fail" and c["id"] in required]
        usable.setdefault(r["domain"], [])
        reasons.setdefault(r["domain"], [])
        if bad:
            reasons[r["domain"]].extend("%s: %s" % (r["destination"], c["reason"]) for c in bad)
        else:
            usable[r["domain"]].append(r["destination"])
    if require == "all":
        blocked = [d for d in sorted(usable) if reasons[d]]
    elif require == "any":
        blocked = [d for d in sorted(usable) if not usable[d]]
    else:
        blocked = []
    return {"ok": not blocked, "blocked": [{"domain": d, "reasons": reasons[d]} for d in blocked],
            "usable": usable}
