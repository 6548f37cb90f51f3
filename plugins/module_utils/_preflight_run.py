# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the preflight checks of this host's domains against each destination.

Glue between facts (_host_facts), probes (_preflight_probes) and the pure checks (_preflight_checks).
A destination that cannot be reached is a failed check, not a failed task: the report must
cover every pair. Destinations are checked in parallel (at most `concurrency` at once), each on its
own connection used by one thread only; results keep the order of the destinations.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.drover.libvirt.plugins.module_utils import _preflight_checks as checks
from ansible_collections.drover.libvirt.plugins.module_utils._argspec import MAX_BANDWIDTH_MIB_S, MAX_MEMORY_MIB
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._fleet_read import CONCURRENCY_RANGE
from ansible_collections.drover.libvirt.plugins.module_utils._host_facts import gather, measure_dirty_rates
from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_module import describe
from ansible_collections.drover.libvirt.plugins.module_utils._preflight_probes import (
    StorageProbe, compare_cpu, find_defined, parse_port_range, probe_ports)
from ansible_collections.drover.libvirt.plugins.module_utils._uri import destination_uri, parse_uri
from ansible_collections.drover.libvirt.plugins.module_utils._values import check_ranges

# The numbers preflight_info takes, (lowest, highest).
PREFLIGHT_RANGES = dict(dirty_rate_seconds=(0, 60), reserved_memory_mib=(0, MAX_MEMORY_MIB),
                        bandwidth=(1, MAX_BANDWIDTH_MIB_S), vcpu_ratio=(0.01, 1000), port_timeout=(0.1, 60),
                        concurrency=CONCURRENCY_RANGE)


def _selected(domains, names, include_shutoff):
    if names is None:
        return [d for d in domains if d["active"] or (include_shutoff and d["persistent"])]
    known = {d["name"]: d for d in domains}
    missing = [n for n in names if n not in known]
    if missing:
        raise DroverError("domain %s not found on this hypervisor; nothing was checked" % ", ".join(missing))
    return [known[n] for n in names]


def _destinations(params):
    labels = params["destination_names"] or params["destinations"]
    if len(labels) != len(params["destinations"]):
        raise DroverError("destination_names must name each of the %d destinations" % len(params["destinations"]))
    dests = []
    for label, dest in zip(labels, params["destinations"]):
        uri = destination_uri(dest, params["transport"], allow_insecure=params.get("allow_insecure_transport"))
        dests.append({"name": label, "uri": uri, "address": parse_uri(uri)["host"]})
    if len({d["name"] for d in dests}) != len(dests):
        raise DroverError("destinations are listed twice: %s" % ", ".join(d["name"] for d in dests))
    return dests


def _pair_checks(ctx, dom, dest, dst_hv, dst_conn):
    name = dest["name"]
    found = [checks.check("reachability", "pass", "connected to %s at %s" % (name, dest["uri"]))]
    found.append(checks.check_host_uuid(ctx["source"], dst_hv, name))
    found.append(checks.check_versions(ctx["source"], dst_hv, name))
    found.append(checks.check_machine_type(dom, dst_hv, name))
    found.append(checks.check_cpu(dom, compare_cpu(dst_conn, ctx["libvirt"], dom, ctx["xml"][dom["name"]], dst_hv,
                                                   ctx["caps"]), name))
    probes = {}
    for disk in dom["disks"]:
        if disk["path"] and disk["type"] in ("file", "block") and not (disk["readonly"] and disk["device"] == "cdrom"):
            probes[disk["path"]] = (ctx["storage"].probe(dst_conn, name, disk["path"]) if ctx["local"]
                                    else {"shared": disk["shared"], "how": "pool facts (remote source)"})
    found.append(checks.check_storage(dom, probes, name, ctx["params"]["copy_storage"], dst_hv["storage"]))
    # Bridges read remotely are unknown (None): the network check then warns instead of failing.
    bridges = None if dst_hv.get("bridges") is None else {b["name"]: b["mtu"] for b in dst_hv["bridges"]}
    found.append(checks.check_network(dom, ctx["source"], dst_hv, name, bridges))
    found.append(checks.check_capacity(dom, dst_hv, name, ctx["params"]["reserved_memory_mib"],
                                       ctx["params"]["vcpu_ratio"], (ctx["params"]["pending"] or {}).get(name)))
    found.append(checks.check_blockers(dom))
    found.append(checks.check_defined(dom, find_defined(dst_conn, ctx["libvirt"], dom), name))
    found.append(checks.check_connectivity(ctx["ports"][name], name))
    found.append(checks.check_convergence(dom, ctx["params"]["bandwidth"], ctx["params"]["convergence"]))
    if dst_hv.get("maintenance"):
        found.append(checks.check_maintenance(dst_hv["maintenance"], name))
    return found


def in_order(work, items, concurrency):
    """[work(item) for item in items], at most `concurrency` at once.

    The results keep the order of `items`, and the first unexpected error in that order is raised
    (after every started call ended), as calling one item after another would.
    """
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(items)))) as pool:
        return list(pool.map(work, items))


def _dest_verdicts(module, ctx, doms, dest):
    """The verdicts of every domain for one destination, on a connection of its own."""
    params, lv, src_hv = ctx["params"], ctx["libvirt"], ctx["source"]
    ctx["ports"][dest["name"]] = probe_ports(dest["address"], params["migration_ports"], params["port_timeout"])
    try:
        dst_conn = module.connect(dest["uri"], "destination")
        dst_hv, _dst_domains = gather(dst_conn, lv, None, False)
    except (DroverError, lv.libvirtError) as exc:
        reason = exc.msg if isinstance(exc, DroverError) else describe(exc, "cannot read %s" % dest["name"])
        return [checks.verdict(dom["name"], src_hv["hostname"], dest["name"], dest["uri"],
                               [checks.check("reachability", "fail", reason)]) for dom in doms]
    # Facts gathered on the destination itself know its bridges and maintenance mark.
    extra = (params["destination_facts"] or {}).get(dest["name"], {})
    extra = extra.get("hypervisor", extra) if isinstance(extra, dict) else {}
    for key in ("bridges", "maintenance"):
        if extra.get(key) is not None:
            dst_hv[key] = extra[key]
    return [checks.verdict(dom["name"], src_hv["hostname"], dest["name"], dest["uri"],
                           _held_checks(dom) if dom["name"] in ctx["held"] else
                           _pair_checks(ctx, dom, dest, dst_hv, dst_conn)) for dom in doms]


def _held_checks(dom):
    """A domain a libvirt job holds (the destination of a post-copy migration) cannot move; its definition
    cannot even be read, so nothing else is checked."""
    return [checks.check("blockers", "fail", "a libvirt job holds it (%s); it cannot move until that job ends"
                         % dom["job"]["held_by"], blockers=[])]


def _measured_rates(fleet):
    """{uuid: dirty rate MiB/s} of the active domains whose rate the given fleet facts hold."""
    rates = {}
    for facts in (fleet or {}).values():
        for dom in (facts.get("domains") or []) if isinstance(facts, dict) else []:
            if isinstance(dom, dict) and dom.get("active") and isinstance(dom.get("uuid"), str) \
                    and isinstance(dom.get("dirty_rate_mib_s"), (int, float)):
                rates[dom.get("uuid")] = dom["dirty_rate_mib_s"]
    return rates


def run_preflight(module):
    params = module.params
    lv = module.libvirt
    try:
        parse_port_range(params["migration_ports"])
    except ValueError as exc:
        raise DroverError("migration_ports: %s" % exc)
    check_ranges(params, PREFLIGHT_RANGES)
    dests = _destinations(params)
    src_conn = module.connect(params["uri"], "source")
    local = not parse_uri(params["uri"])["host"]
    src_hv, src_domains = gather(src_conn, lv, None, local)
    doms = _selected(src_domains, params["domains"], params["include_shutoff"])
    if params["dirty_rate_seconds"]:
        # The fleet read may have measured them just now (fleet_info on this host): not twice.
        known = _measured_rates(params["destination_facts"])
        for dom in doms:
            if dom.get("dirty_rate_mib_s") is None and dom.get("uuid") in known:
                dom["dirty_rate_mib_s"] = known[dom["uuid"]]
        by_name = {d["name"]: d for d in doms if d.get("dirty_rate_mib_s") is None}
        if by_name:
            measure_dirty_rates(src_conn, [src_conn.lookupByName(n) for n in by_name], by_name,
                                params["dirty_rate_seconds"], lv)
    # A domain a job holds answers no call that needs one (its XML among them): judged busy, not read.
    held = {d["name"] for d in doms if (d.get("job") or {}).get("held_by")}
    ctx = {"params": params, "libvirt": lv, "local": local, "source": src_hv, "held": held,
           "caps": src_conn.getCapabilities(), "storage": StorageProbe(lv), "ports": {},
           # The migratable definition is what the destination receives and starts QEMU with.
           "xml": {d["name"]: src_conn.lookupByName(d["name"]).XMLDesc(lv.VIR_DOMAIN_XML_MIGRATABLE)
                   for d in doms if d["name"] not in held}}
    try:
        per_dest = in_order(lambda dest: _dest_verdicts(module, ctx, doms, dest), dests, params["concurrency"])
    finally:
        ctx["storage"].cleanup()
    results = [verdict for verdicts in per_dest for verdict in verdicts]
    summary = {s: sum(1 for r in results if r["status"] == s) for s in ("pass", "warn", "fail")}
    return {"changed": False, "source": src_hv["hostname"], "results": results, "summary": summary,
            "domains": [d["name"] for d in doms], "destinations": [d["name"] for d in dests]}
