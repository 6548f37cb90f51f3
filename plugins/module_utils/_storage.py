# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Disks of a migrating domain: which to copy, what to create on the destination, what to clean up.

The planning and XML functions are pure (XML in, plan or XML out); pool_for_directory and
StorageCopy do the libvirt calls.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import os
import time
import xml.etree.ElementTree as ET

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError

# libvirt refuses to refresh a pool while a volume of it is being made ("pool ... has asynchronous jobs
# running": another run's claim, a disk copy): such a refresh is tried again for up to about this long.
_REFRESH_PATIENCE_S = 5.0

COPY_MODES = ("none", "all", "incremental")  # copy_storage, see plan_storage
CDROM_MODES = ("keep", "eject", "copy")  # cdrom, see plan_storage


def refresh_pool(pool, libvirt, sleep=time.sleep, patience=_REFRESH_PATIENCE_S):
    """pool.refresh(), tried again while libvirt is busy making a volume of it (another run's claim).

    Only libvirt's internal errors are tried again (that is how the busy pool is reported); any other
    error, or the busy pool beyond `patience` seconds, is raised.
    """
    pause, waited = 0.05, 0.0
    while True:
        try:
            pool.refresh(0)
            return
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_INTERNAL_ERROR or waited >= patience:
                raise
        sleep(pause)
        waited += pause
        pause = min(pause * 2, 0.5)


def disks_of(domain_xml):
    """Every <disk> of a domain: target, device, source type, path, format, read-only, backing file."""
    disks = []
    for disk in ET.fromstring(domain_xml).findall("devices/disk"):
        source = disk.find("source")
        path = None
        if source is not None:
            path = source.get("file") or source.get("dev") or source.get("name")
        backing = disk.find("backingStore/source")
        disks.append({
            "target": disk.find("target").get("dev"),
            "device": disk.get("device", "disk"),
            "type": disk.get("type", "file"),
            "path": path,
            "format": (disk.find("driver").get("type") if disk.find("driver") is not None else None) or "raw",
            "readonly": disk.find("readonly") is not None,
            "backing": backing.get("file") if backing is not None else None,
        })
    return disks


def plan_storage(disks, copy_storage, copy_disks, cdrom):
    """Which disks to copy and which CD-ROMs to eject on the destination; raises DroverError.

    copy_storage: none, all (full copy, flattening backing chains) or incremental (top image only;
    the backing chain must already be on the destination). copy_disks narrows the copy to targets.
    cdrom: keep (the media path must exist on the destination), eject, or copy.
    """
    targets = {d["target"]: d for d in disks}
    unknown = [t for t in copy_disks or [] if t not in targets]
    if unknown:
        raise DroverError("copy_disks names targets the domain does not have: %s (it has %s)"
                          % (", ".join(unknown), ", ".join(sorted(targets)) or "none"))
    if copy_disks and copy_storage == "none":
        copy_storage = "all"
    plan = {"copy": copy_storage, "disks": [], "eject": [], "cdrom": cdrom}
    for disk in disks:
        media = disk["device"] in ("cdrom", "floppy")
        if media:
            if disk["path"] and cdrom == "eject":
                plan["eject"].append(disk["target"])
            elif disk["path"] and cdrom == "copy":
                plan["disks"].append(disk["target"])
            continue
        if copy_storage == "none" or (copy_disks and disk["target"] not in copy_disks):
            continue
        if disk["type"] not in ("file", "block") or not disk["path"]:
            raise DroverError("disk %s (%s) cannot be copied by this collection; only file and block disks can"
                              % (disk["target"], disk["type"]))
        if disk["readonly"]:
            continue
        plan["disks"].append(disk["target"])
    if plan["copy"] != "none" and not plan["disks"]:
        raise DroverError("copy_storage=%s but the domain has no writable disk to copy" % copy_storage)
    return plan


def storage_flags(plan):
    if not plan["disks"]:
        return []
    return ["NON_SHARED_INC" if plan["copy"] == "incremental" else "NON_SHARED_DISK"]


def without_media(domain_xml, targets):
    """The domain XML with the media of these CD-ROM targets ejected (for the destination only)."""
    root = ET.fromstring(domain_xml)
    for disk in root.findall("devices/disk"):
        target = disk.find("target")
        if target is not None and target.get("dev") in targets:
            source = disk.find("source")
            if source is not None:
                disk.remove(source)
            for backing in disk.findall("backingStore"):
                disk.remove(backing)
    return ET.tostring(root, encoding="unicode")


def volume_xml(path, capacity, fmt, backing=None):
    """Storage volume XML for pre-creating a copy target on the destination."""
    vol = ET.Element("volume")
    ET.SubElement(vol, "name").text = os.path.basename(path)
    ET.SubElement(vol, "capacity", unit="bytes").text = str(int(capacity))
    ET.SubElement(vol, "allocation", unit="bytes").text = "0"
    target = ET.SubElement(vol, "target")
    ET.SubElement(target, "format", type=fmt)
    if backing:
        store = ET.SubElement(vol, "backingStore")
        ET.SubElement(store, "path").text = backing["path"]
        ET.SubElement(store, "format", type=backing["format"])
    return ET.tostring(vol, encoding="unicode")


def dir_pool_xml(name, directory):
    """Storage pool XML of a directory pool (for a transient look at a directory through libvirt)."""
    pool = ET.Element("pool", type="dir")
    ET.SubElement(pool, "name").text = name
    target = ET.SubElement(pool, "target")
    ET.SubElement(target, "path").text = directory
    return ET.tostring(pool, encoding="unicode")


def pool_target_path(pool_xml):
    return ET.fromstring(pool_xml).findtext("target/path")


def pool_for_directory(conn, directory, active_only=True):
    """The storage pool of `conn` whose target path is `directory` (trailing slashes aside), or None.

    With active_only=False an inactive pool is returned too, so that the caller can say so.
    """
    for pool in conn.listAllStoragePools(0):
        if active_only and not pool.isActive():
            continue
        path = pool_target_path(pool.XMLDesc(0))
        if path and path.rstrip("/") == directory.rstrip("/"):
            return pool
    return None


class StorageCopy:
    """Pre-create copy targets on the destination, undo that on failure, clean the source on request."""

    def __init__(self, sconn, dconn, libvirt, disks, plan):
        self.sconn = sconn
        self.dconn = dconn
        self.lv = libvirt
        self.disks = {d["target"]: d for d in disks}
        self.plan = plan
        self.created = []

    def _lookup(self, conn, path):
        """The volume at path, after a refresh of its pool so files made outside libvirt count too."""
        pool = pool_for_directory(conn, os.path.dirname(path))
        if pool is not None:
            try:
                refresh_pool(pool, self.lv)
            except self.lv.libvirtError:
                pass  # the lookup still answers for volumes libvirt made itself
        try:
            return conn.storageVolLookupByPath(path)
        except self.lv.libvirtError:
            return None

    def copied(self):
        return [self.disks[t] for t in self.plan["disks"]]

    def bytes_to_copy(self, dom):
        total = 0
        for disk in self.copied():
            total += dom.blockInfo(disk["target"], 0)[1]  # allocation
        return total

    def check(self):
        """Everything that must hold before a byte moves; returns what would be pre-created."""
        todo = []
        for disk in self.copied():
            if self._lookup(self.dconn, disk["path"]) is not None:
                raise DroverError("the destination already has a volume at %s (disk %s); refusing to overwrite it"
                                  % (disk["path"], disk["target"]))
            if pool_for_directory(self.dconn, os.path.dirname(disk["path"])) is None:
                raise DroverError("no active storage pool on the destination covers %s (disk %s); define one "
                                  "so the copy target can be created" % (os.path.dirname(disk["path"]), disk["target"]))
            backing = None
            if self.plan["copy"] == "incremental" and disk["backing"]:
                if self._lookup(self.dconn, disk["backing"]) is None:
                    raise DroverError("incremental copy of disk %s needs its backing file %s on the destination"
                                      % (disk["target"], disk["backing"]))
                backing = {"path": disk["backing"], "format": "qcow2"}
            todo.append((disk, backing))
        return todo

    def precreate(self, todo, dom):
        for disk, backing in todo:
            capacity = dom.blockInfo(disk["target"], 0)[0]
            pool = pool_for_directory(self.dconn, os.path.dirname(disk["path"]))
            pool.createXML(volume_xml(disk["path"], capacity, disk["format"], backing), 0)
            self.created.append(disk["path"])

    def undo(self):
        """Delete the destination volumes this run created (after a failed migration)."""
        removed = []
        for path in self.created:
            vol = self._lookup(self.dconn, path)
            if vol is not None:
                vol.delete(0)
                removed.append(path)
        self.created = []
        return removed

    def remove_source_volumes(self):
        removed = []
        for disk in self.copied():
            vol = self._lookup(self.sconn, disk["path"])
            if vol is not None:
                vol.delete(0)
                removed.append(disk["path"])
        return removed
