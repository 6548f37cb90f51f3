# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Moving a domain while it is shut off: its definition, and local disks if it has any.

Used for shut-off domains of a host being drained (method `define`) and for domains that
cannot live-migrate (method `cold`: shut down, move, start). The order keeps the domain
defined on exactly one host after any failure: the destination definition is made and started
before the source one is removed, and removed again when that fails.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import os
import time
import xml.etree.ElementTree as ET

from ansible_collections.drover.libvirt.plugins.module_utils._domain_presence import presence
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_module import describe
from ansible_collections.drover.libvirt.plugins.module_utils._preflight_probes import StorageProbe
from ansible_collections.drover.libvirt.plugins.module_utils._storage import disks_of, pool_for_directory, refresh_pool, volume_xml

_CHUNK = 4 * 1024 * 1024


def shut_down(dom, libvirt, timeout, force=True):
    """Ask the guest to power off; destroy it when it has not within `timeout` s (if `force`).

    Returns how it stopped: already_off, shutdown or destroyed.
    """
    if not dom.isActive():
        return "already_off"
    try:
        dom.shutdown()
    except libvirt.libvirtError:
        pass  # no ACPI or agent: the wait below ends in a destroy
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not dom.isActive():
            return "shutdown"
        time.sleep(0.5)
    if not force:
        raise DroverError("domain %s did not shut down within %d s" % (dom.name(), timeout))
    dom.destroy()
    return "destroyed"


def copy_volume(sconn, dconn, libvirt, path):
    """Copy one disk image to the same path on the destination through libvirt streams."""
    directory = os.path.dirname(path)
    spool, dpool = pool_for_directory(sconn, directory), pool_for_directory(dconn, directory)
    if spool is None or dpool is None:
        raise DroverError("disk %s needs a copy, but no active storage pool serves %s on the %s"
                          % (path, directory, "source" if spool is None else "destination"))
    refresh_pool(spool, libvirt)
    refresh_pool(dpool, libvirt)
    if os.path.basename(path) in dpool.listVolumes():
        raise DroverError("the destination already has a volume at %s; refusing to overwrite it" % path)
    svol = sconn.storageVolLookupByPath(path)
    capacity = svol.info()[1]
    fmt = "qcow2" if path.endswith(".qcow2") else "raw"
    found = ET.fromstring(svol.XMLDesc(0)).find("target/format")
    if found is not None and found.get("type"):
        fmt = found.get("type")
    dvol = dpool.createXML(volume_xml(path, capacity, fmt), 0)
    try:
        _pipe(svol, dvol, sconn, dconn, libvirt)
    except libvirt.libvirtError:
        dvol.delete(0)
        raise
    return capacity


def _open_streams(svol, dvol, sconn, dconn, sparse, libvirt):
    down, up = sconn.newStream(0), dconn.newStream(0)
    svol.download(down, 0, 0, libvirt.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM if sparse else 0)
    dvol.upload(up, 0, 0, libvirt.VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM if sparse else 0)
    return down, up


def _pipe(svol, dvol, sconn, dconn, libvirt):
    """Stream the source volume into the destination one; holes travel as holes where both daemons can."""
    sparse = hasattr(libvirt, "VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM")
    try:
        down, up = _open_streams(svol, dvol, sconn, dconn, sparse, libvirt)
    except libvirt.libvirtError:
        if not sparse:
            raise
        sparse = False  # a daemon before libvirt 3.4: a plain copy
        down, up = _open_streams(svol, dvol, sconn, dconn, sparse, libvirt)
    try:
        while True:
            data = down.recvFlags(_CHUNK, libvirt.VIR_STREAM_RECV_STOP_AT_HOLE) if sparse else down.recv(_CHUNK)
            if data == -3:  # at a hole: skip it on the destination too
                up.sendHole(down.recvHole(0), 0)
                continue
            if isinstance(data, int) or not data:
                break
            up.send(data)
        down.finish()
        up.finish()
    except libvirt.libvirtError:
        for stream in (down, up):
            try:
                stream.abort()
            except libvirt.libvirtError:
                pass
        raise


class DefinitionMove:
    """Move one shut-off (or to-be-shut-off) domain's definition and local disks to another host."""

    def __init__(self, sconn, dconn, libvirt, name, copy_storage=False, shutdown_timeout=120, remove_source_volumes=False):
        self.sconn, self.dconn, self.lv, self.name = sconn, dconn, libvirt, name
        self.copy_storage = copy_storage
        self.shutdown_timeout = shutdown_timeout
        self.remove_source_volumes = remove_source_volumes

    def run(self, start_after):
        """Returns {stopped, copied, started}; raises DroverError with vm_location on failure."""
        src, dst = presence(self.sconn, self.name, self.lv), presence(self.dconn, self.name, self.lv)
        if dst["exists"]:
            raise DroverError("domain %s is already defined on the destination (%s); nothing was moved"
                              % (self.name, dst["state"]), vm_location="source")
        if not src["persistent"]:
            raise DroverError("domain %s has no persistent definition on the source; only a live migration can "
                              "move it" % self.name, vm_location="source")
        if not start_after and src["active"]:
            # Planned while shut off, started since: moving only its definition would stop it.
            raise DroverError("domain %s is %s now but was shut off when the move was planned; nothing was moved, "
                              "plan again" % (self.name, src["state"]), vm_location="source")
        dom = self.sconn.lookupByName(self.name)
        xml = dom.XMLDesc(self.lv.VIR_DOMAIN_XML_INACTIVE | self.lv.VIR_DOMAIN_XML_SECURE)
        report = {"stopped": shut_down(dom, self.lv, self.shutdown_timeout), "copied": [], "started": False}
        copied = []
        ddom = None
        try:
            if self.copy_storage:
                probe = StorageProbe(self.lv)
                try:
                    local = [d["path"] for d in disks_of(xml) if d["type"] == "file" and d["path"] and d["device"] != "cdrom"
                             and probe.probe(self.dconn, "destination", d["path"])["shared"] is False]
                finally:
                    probe.cleanup()
                for path in local:
                    copy_volume(self.sconn, self.dconn, self.lv, path)
                    copied.append(path)
            ddom = self.dconn.defineXML(xml)
            # A domain someone shut off since the plan stays off: start only what this move stopped.
            if start_after and report["stopped"] != "already_off":
                ddom.create()
                report["started"] = True
        except (self.lv.libvirtError, DroverError) as exc:
            self._roll_back(ddom, copied, start_after and report["stopped"] != "already_off")
            reason = exc.msg if isinstance(exc, DroverError) else describe(exc, "cold move failed")
            raise DroverError("%s; domain %s is back on the source" % (reason, self.name), vm_location="source")
        try:
            dom.undefine()
        except self.lv.libvirtError as exc:
            # Rare, but then the domain is defined on both hosts: say so plainly, because starting the
            # stale source copy would run the guest twice on the same disks.
            raise DroverError("%s; domain %s is DEFINED ON BOTH HOSTS: it is on the destination now, and its shut-off "
                              "definition is still on the source: undefine it there by hand and do not start it"
                              % (describe(exc, "cannot undefine the source copy"), self.name),
                              vm_location="destination")
        if self.remove_source_volumes:
            for path in copied:
                self.sconn.storageVolLookupByPath(path).delete(0)
        report["copied"] = copied
        return report

    def _roll_back(self, ddom, copied, restart_source):
        if ddom is not None:
            try:
                if ddom.isActive():
                    ddom.destroy()
                ddom.undefine()
            except self.lv.libvirtError:
                pass
        for path in copied:
            try:
                self.dconn.storageVolLookupByPath(path).delete(0)
            except self.lv.libvirtError:
                pass
        if restart_source:
            self.sconn.lookupByName(self.name).create()
