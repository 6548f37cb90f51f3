# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Facts about one domain, read from its XML definition (pure: no libvirt calls).

The shape is the contract documented in docs/facts.md. Private to drover.libvirt; no
compatibility promise.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ansible_collections.drover.libvirt.plugins.module_utils._origin import origin_from_root

PLACEMENT_NS = "urn:drover-libvirt:placement:1"
AGENT_CHANNEL = "org.qemu.guest_agent.0"

_UNITS_KIB = {"b": 1.0 / 1024, "bytes": 1.0 / 1024, "KB": 1000.0 / 1024, "k": 1, "KiB": 1,
              "MB": 1e6 / 1024, "M": 1024, "MiB": 1024, "GB": 1e9 / 1024, "G": 1048576,
              "GiB": 1048576, "T": 1073741824, "TiB": 1073741824}

# Pool types whose volumes every host of a cluster reaches at the same name.
SHARED_POOL_TYPES = frozenset(("netfs", "rbd", "gluster", "iscsi", "iscsi-direct", "vstorage"))
# Filesystems that are shared between hosts when they back a local path.
SHARED_FS_TYPES = frozenset(("nfs", "nfs4", "cifs", "smb3", "ceph", "glusterfs", "fuse.glusterfs",
                             "fuse.cephfs", "gpfs", "ocfs2", "gfs2", "lustre", "beegfs", "virtiofs"))


def to_kib(elem):
    """A libvirt memory element (<memory unit='MiB'>128</memory>) in KiB; 0 when absent."""
    if elem is None or not (elem.text or "").strip():
        return 0
    return int(int(elem.text) * _UNITS_KIB.get(elem.get("unit", "KiB"), 1))


def _disk_path(disk):
    source = disk.find("source")
    if source is None:
        return None
    for attr in ("file", "dev", "dir"):
        if source.get(attr):
            return source.get(attr)
    if disk.get("type") == "network":
        return "%s://%s" % (source.get("protocol", "network"), source.get("name", ""))
    if disk.get("type") == "volume":
        return "%s/%s" % (source.get("pool", ""), source.get("volume", ""))
    return None


def storage_place(path, storage):
    """(pool, shared) of the storage entry whose path holds `path`, longest match first."""
    best = None
    for entry in storage:
        root = entry.get("path")
        if not root or not path or not path.startswith("/"):
            continue
        root = root.rstrip("/") or "/"
        if path == root or path.startswith(root + "/") or root == "/":
            if best is None or len(root) > len(best["path"].rstrip("/")):
                best = entry
    if best is None:
        return None, None
    return best.get("pool"), best.get("shared")


def _disks(devices, storage):
    disks = []
    for disk in devices.findall("disk"):
        path = _disk_path(disk)
        driver = disk.find("driver")
        target = disk.find("target")
        pool, shared = None, None
        if disk.get("type") == "network":
            shared = True
        elif disk.get("type") == "volume":
            pool = disk.find("source").get("pool")
            match = [s for s in storage if s.get("pool") == pool]
            shared = match[0].get("shared") if match else None
        elif path:
            pool, shared = storage_place(path, storage)
        disks.append({
            "target": target.get("dev") if target is not None else None,
            "device": disk.get("device", "disk"),
            "type": disk.get("type", "file"),
            "path": path,
            "format": driver.get("type") if driver is not None else None,
            "readonly": disk.find("readonly") is not None,
            "shared": shared if path else None,
            "pool": pool,
        })
    return disks


def _interfaces(devices):
    found = []
    for iface in devices.findall("interface"):
        source = iface.find("source")
        src = None
        if source is not None:
            src = source.get("network") or source.get("bridge") or source.get("dev")
        mac = iface.find("mac")
        model = iface.find("model")
        found.append({"type": iface.get("type"), "source": src,
                      "mac": mac.get("address") if mac is not None else None,
                      "model": model.get("type") if model is not None else None})
    return found


def _hostdev_detail(hostdev):
    kind = hostdev.get("type", "unknown")
    source = hostdev.find("source")
    if source is None:
        return kind, ""
    addr = source.find("address")
    if kind == "pci" and addr is not None:
        return kind, "%s:%s:%s.%s" % tuple(
            (addr.get(k) or "0").replace("0x", "") for k in ("domain", "bus", "slot", "function"))
    if kind == "usb":
        vendor, product = source.find("vendor"), source.find("product")
        if vendor is not None and product is not None:
            return kind, "%s:%s" % (vendor.get("id"), product.get("id"))
    if kind == "mdev":
        return kind, (addr.get("uuid") if addr is not None else "")
    return kind, ET.tostring(source, encoding="unicode").strip()[:120]


def _blockers(root, devices, hostdevs):
    """What libvirt or QEMU refuse to live-migrate, found in the definition."""
    found = [{"kind": "mdev" if dev["type"] == "mdev" else "hostdev",
              "detail": "%s %s" % (dev["type"], dev["detail"])} for dev in hostdevs]
    for iface in devices.findall("interface"):
        if iface.get("type") in ("hostdev", "vdpa"):
            found.append({"kind": "hostdev", "detail": "interface type %s" % iface.get("type")})
    for shmem in devices.findall("shmem"):
        found.append({"kind": "shmem", "detail": "shared memory device %s" % shmem.get("name")})
    for fs in devices.findall("filesystem"):
        driver = fs.find("driver")
        if driver is not None and driver.get("type") == "virtiofs":
            target = fs.find("target")
            found.append({"kind": "virtiofs", "detail": "virtiofs share %s"
                          % (target.get("dir") if target is not None else "")})
    for feature in root.findall("cpu/feature"):
        if feature.get("name") == "invtsc" and feature.get("policy") in ("require", "force"):
            found.append({"kind": "invtsc", "detail": "CPU feature invtsc (invariant TSC)"})
    return found


def placement_tags(root):
    """anti-affinity/affinity groups, pin and labels from the placement metadata."""
    tags = {"anti_affinity": [], "affinity": [], "pinned": False, "labels": {}}
    node = root.find("metadata/{%s}placement" % PLACEMENT_NS)
    if node is None:
        return tags
    for child in node:
        name = child.tag.split("}", 1)[-1]
        text = (child.text or "").strip()
        if name == "anti-affinity" and text:
            tags["anti_affinity"].append(text)
        elif name == "affinity" and text:
            tags["affinity"].append(text)
        elif name == "pin":
            tags["pinned"] = (text or "true").lower() not in ("false", "no", "0")
        elif name == "label" and child.get("name"):
            tags["labels"][child.get("name")] = text
    tags["anti_affinity"].sort()
    tags["affinity"].sort()
    return tags


def _agent(devices):
    for channel in devices.findall("channel"):
        target = channel.find("target")
        if target is not None and target.get("name") == AGENT_CHANNEL:
            return {"channel": True, "connected": target.get("state") == "connected", "responding": None}
    return {"channel": False, "connected": False, "responding": None}


def parse_domain_xml(text, storage=()):
    """Everything docs/facts.md lists for a domain that its XML alone tells."""
    root = ET.fromstring(text)
    devices = root.find("devices")
    if devices is None:
        devices = ET.Element("devices")
    cpu = root.find("cpu")
    os_type = root.find("os/type")
    hostdevs = []
    for hostdev in devices.findall("hostdev"):
        kind, detail = _hostdev_detail(hostdev)
        hostdevs.append({"type": kind, "detail": detail})
    memory = to_kib(root.find("memory"))
    return {
        "name": root.findtext("name"),
        "uuid": root.findtext("uuid"),
        "memory_kib": memory,
        "current_memory_kib": to_kib(root.find("currentMemory")) or memory,
        "vcpus": int((root.findtext("vcpu") or "0").strip() or 0),
        "cpu": {"mode": (cpu.get("mode", "custom") if cpu is not None else None),
                "model": (cpu.findtext("model") if cpu is not None else None),
                "check": (cpu.get("check") if cpu is not None else None)},
        "virt_type": root.get("type"),
        "machine": os_type.get("machine") if os_type is not None else None,
        "arch": os_type.get("arch") if os_type is not None else None,
        "emulator": devices.findtext("emulator"),
        "disks": _disks(devices, storage),
        "interfaces": _interfaces(devices),
        "hostdevs": hostdevs,
        "blockers": _blockers(root, devices, hostdevs),
        "tags": placement_tags(root),
        "origin": origin_from_root(root),
        "agent": _agent(devices),
    }


def cpu_xml(text):
    """The <cpu> element of a domain definition as XML text, or None."""
    cpu = ET.fromstring(text).find("cpu")
    return ET.tostring(cpu, encoding="unicode") if cpu is not None else None
