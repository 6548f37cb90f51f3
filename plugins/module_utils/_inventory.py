# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only facts about a hypervisor and its domains.

Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ansible_collections.drover.libvirt.plugins.module_utils._migration import STATE_NAMES


def _version(number):
    """libvirt's packed version (major * 1,000,000 + minor * 1,000 + release) as text."""
    return "%d.%d.%d" % (number // 1000000, number // 1000 % 1000, number % 1000)


def hypervisor_facts(conn, libvirt):
    caps = ET.fromstring(conn.getCapabilities())
    return {
        "hostname": conn.getHostname(),
        "uri": conn.getURI(),
        "host_uuid": caps.findtext("host/uuid"),
        "libvirt_version": _version(conn.getLibVersion()),
        "hypervisor_version": _version(conn.getVersion()),
        "libvirt_python_version": _version(libvirt.getVersion()),
    }


def domain_facts(dom):
    """Name, identity, state and size of one domain, from its state and XML."""
    state, reason = dom.state()
    root = ET.fromstring(dom.XMLDesc(0))
    memory = root.find("memory")
    unit = memory.get("unit", "KiB") if memory is not None else "KiB"
    scale = {"KiB": 1, "k": 1, "MiB": 1024, "M": 1024, "GiB": 1048576, "G": 1048576}.get(unit, 1)
    return {
        "name": dom.name(),
        "uuid": dom.UUIDString(),
        "state": STATE_NAMES.get(state, str(state)),
        "state_reason": reason,
        "active": bool(dom.isActive()),
        "persistent": bool(dom.isPersistent()),
        "memory_kib": int(memory.text) * scale if memory is not None else 0,
        "vcpus": int(root.findtext("vcpu", "0")),
    }


def list_domains(conn):
    return sorted((domain_facts(d) for d in conn.listAllDomains(0)), key=lambda d: d["name"])
