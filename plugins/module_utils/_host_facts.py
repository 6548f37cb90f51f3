# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only facts about a hypervisor and its domains (the shape in docs/facts.md): host I/O.

What libvirt tells is read through the connection; the shape of a domain comes from the pure
parser in _domain_facts. Facts that libvirt cannot tell (host bridges, filesystem types) are read
from the host itself, so they are only known when the connection is local: remote bridges are
null (unknown). The maintenance mark and the claims are files in the collection's state
directory: read as files on the host itself, through the libvirt storage pool drover-state from
elsewhere.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import xml.etree.ElementTree as ET

from ansible_collections.drover.libvirt.plugins.module_utils._domain_facts import (
    SHARED_FS_TYPES, SHARED_POOL_TYPES, parse_domain_xml)
from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_enums import (
    DIRTYRATE_MEASURED, DOMAIN_RUNNING, JOB_CANCELLED, JOB_COMPLETED, JOB_FAILED, JOB_NONE, JOB_TYPE_NAMES,
    RUNNING_POSTCOPY, RUNNING_POSTCOPY_FAILED, STATE_NAMES, version_text)
from ansible_collections.drover.libvirt.plugins.module_utils._claim_store import (
    STATE_POOL, read_local_claims, remote_claims, state_pool)
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._maintenance import LAST_PATH, LAST_VOLUME, read_mark, remote_mark
from ansible_collections.drover.libvirt.plugins.module_utils._uri import parse_uri

QEMU_CONF = "/etc/libvirt/qemu.conf"
# (state, reason) of the destination's domain while a post-copy migration comes in.
INCOMING_POSTCOPY = {(DOMAIN_RUNNING, RUNNING_POSTCOPY), (DOMAIN_RUNNING, RUNNING_POSTCOPY_FAILED)}
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


def shared_filesystems(conf_path=QEMU_CONF):
    """Paths qemu.conf declares shared between hosts (its shared_filesystems list).

    qemu.conf is libvirt's own key = value format; only this one list is read.
    """
    try:
        with open(conf_path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    text, collecting = "", False
    for line in lines:
        stripped = line.split("#", 1)[0].strip()
        if stripped.startswith("shared_filesystems") and "=" in stripped:
            collecting, stripped = True, stripped.split("=", 1)[1]
        if collecting:
            text += stripped
            if "]" in stripped:
                break
    paths, quote, current = [], None, ""
    for char in text:
        if quote:
            if char == quote:
                paths.append(current)
                quote, current = None, ""
            else:
                current += char
        elif char in "\"'":
            quote = char
    return [p.rstrip("/") or "/" for p in paths]


def unescape_mount_field(text):
    """A mountinfo path as it is: the kernel writes space, tab, newline and backslash as octal \\ooo."""
    return _OCTAL_ESCAPE.sub(lambda found: chr(int(found.group(1), 8)), text)


def mount_types(mountinfo="/proc/self/mountinfo"):
    """Mount point -> filesystem type, from the kernel's view of this mount namespace."""
    mounts = {}
    try:
        with open(mountinfo, encoding="utf-8") as handle:
            for line in handle:
                left, _sep, right = line.partition(" - ")
                fields = left.split()
                if len(fields) > 4 and right:
                    mounts[unescape_mount_field(fields[4])] = right.split()[0]
    except OSError:
        pass
    return mounts


def path_is_shared(path, declared, mounts):
    """True when `path` is on a declared shared path or a network filesystem, else False."""
    for root in declared:
        if path == root or path.startswith(root.rstrip("/") + "/"):
            return True
    best = ""
    for point in mounts:
        if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) > len(best):
            best = point
    return mounts.get(best) in SHARED_FS_TYPES if best else False


def _storage(conn, local):
    declared = shared_filesystems() if local else []
    mounts = mount_types() if local else {}
    pools = []
    for pool in conn.listAllStoragePools(0):
        if pool.name() == STATE_POOL:
            continue  # the collection's own bookkeeping, not storage for guests
        root = ET.fromstring(pool.XMLDesc(0))
        kind = root.get("type")
        path = root.findtext("target/path")
        active = bool(pool.isActive())
        capacity, available = (pool.info()[1], pool.info()[3]) if active else (None, None)
        if kind in SHARED_POOL_TYPES:
            shared = True
        elif local and path:
            shared = path_is_shared(path, declared, mounts)
        else:
            shared = None
        pools.append({"pool": pool.name(), "type": kind, "path": path, "active": active,
                      "shared": shared, "capacity_bytes": capacity, "available_bytes": available})
    pools.sort(key=lambda p: p["pool"])
    known = {p["path"] for p in pools if p["path"]}
    # Shared paths declared to libvirt but not a pool still tell where shared disks live.
    for path in declared:
        if path not in known:
            pools.append({"pool": None, "type": "declared", "path": path, "active": True, "shared": True,
                          "capacity_bytes": None, "available_bytes": None})
    return pools


def _networks(conn):
    found = []
    for net in conn.listAllNetworks(0):
        root = ET.fromstring(net.XMLDesc(0))
        bridge, mtu, forward = root.find("bridge"), root.find("mtu"), root.find("forward")
        found.append({"name": net.name(), "active": bool(net.isActive()),
                      "bridge": bridge.get("name") if bridge is not None else None,
                      "mtu": int(mtu.get("size")) if mtu is not None and mtu.get("size") else None,
                      "forward": forward.get("mode", "nat") if forward is not None else "none"})
    return sorted(found, key=lambda n: n["name"])


def _bridges(sys_net="/sys/class/net"):
    found = []
    try:
        names = sorted(os.listdir(sys_net))
    except OSError:
        return found
    for name in names:
        if os.path.isdir(os.path.join(sys_net, name, "bridge")):
            try:
                with open(os.path.join(sys_net, name, "mtu"), encoding="ascii") as handle:
                    mtu = int(handle.read().strip())
            except (OSError, ValueError):
                mtu = None
            found.append({"name": name, "mtu": mtu})
    return found


def _cpu(conn, libvirt, caps, arch, virt_type):
    cpu = caps.find("host/cpu")
    topo = cpu.find("topology") if cpu is not None else None
    info = conn.getInfo()
    facts = {"model": cpu.findtext("model") if cpu is not None else None,
             "vendor": cpu.findtext("vendor") if cpu is not None else None,
             "sockets": int(topo.get("sockets")) if topo is not None else info[5],
             "cores": int(topo.get("cores")) if topo is not None else info[6],
             "threads": int(topo.get("threads")) if topo is not None else info[7],
             "count": info[2], "host_model": None, "usable_models": []}
    try:
        dcaps = ET.fromstring(conn.getDomainCapabilities(None, arch, None, virt_type, 0))
    except libvirt.libvirtError:
        return facts  # drivers without domain capabilities: the model names stay unknown
    for mode in dcaps.findall("cpu/mode"):
        if mode.get("name") == "host-model" and mode.get("supported") == "yes":
            facts["host_model"] = mode.findtext("model")
        if mode.get("name") == "custom" and mode.get("supported") == "yes":
            facts["usable_models"] = sorted({m.text for m in mode.findall("model")
                                             if m.get("usable") == "yes" and m.text})
    return facts


def _hugepages(caps):
    pages = {}
    for cell in caps.findall("host/topology/cells/cell"):
        for page in cell.findall("pages"):
            size = int(page.get("size", "0"))
            if page.get("unit", "KiB") == "KiB" and size > 4:
                pages[size] = pages.get(size, 0) + int(page.text or 0)
    return pages


def host_state(conn, libvirt, local):
    """{maintenance, last_maintenance, claims}: files on this host when local, else through the host's state pool.

    The pool is made when the daemon has none (it is transient), and refreshed once for both.
    """
    if local:
        return {"maintenance": read_mark(), "last_maintenance": read_mark(LAST_PATH), "claims": read_local_claims()}
    pool = state_pool(conn, libvirt)
    claims = remote_claims(conn, libvirt, pool=pool)  # refreshes the pool's listing
    return {"maintenance": remote_mark(conn, libvirt, pool), "claims": claims,
            "last_maintenance": remote_mark(conn, libvirt, pool, volume=LAST_VOLUME)}


def hypervisor_facts(conn, libvirt, local, storage):
    caps = ET.fromstring(conn.getCapabilities())
    arch = caps.findtext("host/cpu/arch")
    guests = [g for g in caps.findall("guest") if g.find("arch") is not None
              and g.find("arch").get("name") == arch]
    domain_types = {d.get("type") for g in guests for d in g.findall("arch/domain")}
    virt_type = "kvm" if "kvm" in domain_types else "qemu"
    machines = sorted({m.text for g in guests for m in g.findall("arch/machine") if m.text}
                      | {m.get("canonical") for g in guests for m in g.findall("arch/machine")
                         if m.get("canonical")})
    stats = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS, 0)
    hugepages = []
    for size, total in sorted(_hugepages(caps).items()):
        try:
            free = sum(conn.getFreePages([size], 0, 1 << 16, 0).get(0, {}).values()) if total else 0
        except libvirt.libvirtError:
            free = None
        hugepages.append({"size_kib": size, "total": total, "free": free})
    # Every active domain counts, incoming migrations included: their memory is taken.
    active = [d.info() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)]
    facts = {
        "hostname": conn.getHostname(),
        "uri": conn.getURI(),
        "host_uuid": caps.findtext("host/uuid"),
        "libvirt_version": version_text(conn.getLibVersion()),
        "hypervisor_version": version_text(conn.getVersion()),
        "libvirt_python_version": version_text(libvirt.getVersion()),
        "arch": arch,
        "virt_type": virt_type,
        "cpu": _cpu(conn, libvirt, caps, arch, virt_type),
        "machine_types": machines,
        "memory": {"total_kib": stats.get("total", 0),
                   "free_kib": stats.get("free", 0) + stats.get("buffers", 0) + stats.get("cached", 0),
                   "committed_kib": sum(info[2] for info in active),
                   "hugepages": hugepages},
        "vcpus": {"physical": conn.getInfo()[2], "allocated": sum(info[3] for info in active)},
        "storage": storage,
        "networks": _networks(conn),
        "bridges": _bridges() if local else None,
    }
    facts.update(host_state(conn, libvirt, local))
    return facts


def _job(dom, libvirt):
    try:
        stats = dom.jobStats(0)
    except libvirt.libvirtError:
        return None  # domains that cannot report jobs (shut off) have none
    kind = stats.get("type", JOB_NONE)
    if kind in (JOB_NONE, JOB_COMPLETED, JOB_FAILED, JOB_CANCELLED):
        return None
    return {"type": JOB_TYPE_NAMES.get(kind, str(kind)), "operation": stats.get("operation")}


def _held_definition(dom):
    """A stand-in definition (name, UUID, sizes) for a domain whose XML libvirt cannot give now."""
    info = dom.info()
    root = ET.Element("domain")
    ET.SubElement(root, "name").text = dom.name()
    ET.SubElement(root, "uuid").text = dom.UUIDString()
    ET.SubElement(root, "memory", unit="KiB").text = str(info[1])
    ET.SubElement(root, "vcpu").text = str(info[3])
    return ET.tostring(root, encoding="unicode")


def domain_facts(dom, storage, libvirt):
    """Everything docs/facts.md lists for one domain: state from libvirt, the rest from its XML."""
    state, reason = dom.state()
    active = bool(dom.isActive())
    held_by = None
    if (state, reason) in INCOMING_POSTCOPY:
        # libvirt's incoming migration job holds the domain: asking for its XML would wait 30 s and
        # fail (for good when the stream died). It is reported busy from its state and size.
        held_by = "an incoming post-copy migration (%s)" % ("failed" if reason == RUNNING_POSTCOPY_FAILED else "running")
        xml = _held_definition(dom)
    else:
        try:
            xml = dom.XMLDesc(0)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_OPERATION_TIMEOUT:
                raise
            # Another job that does not let go holds the domain: the host is still read, and this
            # domain is reported busy rather than guessed at.
            held_by = exc.get_error_message()
            xml = _held_definition(dom)
    facts = parse_domain_xml(xml, storage)
    if active:
        info = dom.info()
        facts["current_memory_kib"] = info[2]
        facts["vcpus"] = info[3]
    facts.update({
        "name": dom.name(),
        "uuid": dom.UUIDString(),
        "state": STATE_NAMES.get(state, str(state)),
        "state_reason": reason,
        "active": active,
        "persistent": bool(dom.isPersistent()),
        "dirty_rate_mib_s": None,
        "job": _job(dom, libvirt) if active else None,
    })
    if held_by:
        facts["job"] = dict(facts["job"] or {"type": "unknown", "operation": None}, held_by=held_by)
    for disk in facts["disks"]:
        disk["capacity_bytes"] = None
        if disk["path"] and disk["target"] and disk["type"] in ("file", "block"):
            try:
                disk["capacity_bytes"] = dom.blockInfo(disk["target"], 0)[0]
            except libvirt.libvirtError:
                pass  # e.g. an empty CD-ROM or a file that is gone: size unknown
    return facts


def measure_dirty_rates(conn, doms, facts_by_name, seconds, libvirt):
    """Ask QEMU to sample each running domain's dirty pages for `seconds`, then read the rates."""
    started = []
    for dom in doms:
        facts = facts_by_name[dom.name()]
        if facts["active"] and not (facts["job"] or {}).get("held_by"):
            try:
                dom.startDirtyRateCalc(seconds, 0)
                started.append(dom)
            except libvirt.libvirtError:
                pass  # another calculation running, or QEMU without it: stays null
    if not started:
        return
    deadline = time.monotonic() + seconds + 5
    time.sleep(seconds)
    pending = list(started)
    while pending and time.monotonic() < deadline:
        for dom, record in conn.domainListGetStats(pending, libvirt.VIR_DOMAIN_STATS_DIRTYRATE, 0):
            if record.get("dirtyrate.calc_status") == DIRTYRATE_MEASURED:
                facts_by_name[dom.name()]["dirty_rate_mib_s"] = record.get("dirtyrate.megabytes_per_second")
                pending = [d for d in pending if d.name() != dom.name()]
        if pending:
            time.sleep(0.2)


def agent_ping(dom, libvirt, libvirt_qemu, timeout=5):
    """True when the guest agent answers guest-ping, False when it does not."""
    try:
        libvirt_qemu.qemuAgentCommand(dom, json.dumps({"execute": "guest-ping"}), timeout, 0)
        return True
    except libvirt.libvirtError:
        return False


def module_facts(module, conn=None):
    """{hypervisor, domains} of the module's O(uri) (`conn` when open), read with its LOCAL_FACTS_OPTIONS."""
    params = module.params
    if not 0 <= params["dirty_rate_seconds"] <= 60:
        raise DroverError("dirty_rate_seconds must be between 0 and 60, got %d" % params["dirty_rate_seconds"])
    conn = conn or module.connect(params["uri"], "hypervisor")
    names = set(params["domains"]) if params["domains"] is not None else None
    hypervisor, domains = gather(conn, module.libvirt, module.libvirt_qemu, not parse_uri(params["uri"])["host"],
                                 dirty_rate_seconds=params["dirty_rate_seconds"], ping_agents=params["agent_ping"],
                                 names=names)
    return {"hypervisor": hypervisor, "domains": domains}


def gather(conn, libvirt, libvirt_qemu, local, dirty_rate_seconds=0, ping_agents=False, names=None):
    """(hypervisor facts, domain facts sorted by name) for one connection."""
    storage = _storage(conn, local)
    doms = [d for d in conn.listAllDomains(0) if names is None or d.name() in names]
    facts_by_name = {d.name(): domain_facts(d, storage, libvirt) for d in doms}
    if dirty_rate_seconds:
        measure_dirty_rates(conn, doms, facts_by_name, dirty_rate_seconds, libvirt)
    if ping_agents and libvirt_qemu is not None:
        # In parallel: a silent agent costs its timeout once, not once per domain.
        def ping(dom):
            facts_by_name[dom.name()]["agent"]["responding"] = agent_ping(dom, libvirt, libvirt_qemu)
        threads = [threading.Thread(target=ping, args=(dom,)) for dom in doms
                   if facts_by_name[dom.name()]["active"] and facts_by_name[dom.name()]["agent"]["channel"]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    domains = sorted(facts_by_name.values(), key=lambda d: d["name"])
    return hypervisor_facts(conn, libvirt, local, storage), domains
