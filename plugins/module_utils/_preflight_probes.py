# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Preflight probes: what can only be learnt by asking the real hosts.

CPU comparison on the destination's hypervisor, a probe file written here and looked for on the
destination, a lookup for a domain already defined there, and TCP connects to the destination's
migration ports. Every probe leaves nothing behind.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
import uuid
import xml.etree.ElementTree as ET

from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_enums import CPU_COMPARE_NAMES, STATE_NAMES
from ansible_collections.drover.libvirt.plugins.module_utils._safe_files import create_exclusive
from ansible_collections.drover.libvirt.plugins.module_utils._storage import dir_pool_xml, pool_for_directory, refresh_pool

PROBE_PREFIX = ".drover-probe-"


def compare_cpu(dst_conn, libvirt, dom, live_xml, dst, src_caps_xml):
    """Ask the destination whether it can provide the domain's CPU (virConnectCompareHypervisorCPU)."""
    root = ET.fromstring(live_xml)
    cpu = root.find("cpu")
    mode = cpu.get("mode", "custom") if cpu is not None else None
    if cpu is None or (mode == "custom" and cpu.find("model") is None):
        return {"result": "identical", "message": "default CPU of the machine type", "compared": "none"}
    if mode == "host-passthrough" or mode == "maximum":
        # The guest sees the source host's CPU as it is: compare that CPU.
        cpu = ET.fromstring(src_caps_xml).find("host/cpu")
        compared = "source host CPU"
    else:
        compared = "domain CPU"
    os_type = root.find("os/type")
    try:
        result = dst_conn.compareHypervisorCPU(
            root.findtext("devices/emulator"), os_type.get("arch") if os_type is not None else dst["arch"],
            os_type.get("machine") if os_type is not None else None,
            # TCG and KVM offer different CPUs: compare with the accelerator the domain uses.
            root.get("type") or dst.get("virt_type", "kvm"),
            ET.tostring(cpu, encoding="unicode"), libvirt.VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_CPU_INCOMPATIBLE:
            return {"result": "incompatible", "message": exc.get_error_message(), "compared": compared}
        return {"result": "unknown", "message": exc.get_error_message(), "compared": compared}
    return {"result": CPU_COMPARE_NAMES.get(result, "unknown"), "message": "", "compared": compared}


class StorageProbe:
    """Nova's check for shared storage: a file written here must appear there at the same path.

    The file is written in each disk's directory on this host; on the destination it is looked
    up through libvirt (a pool that serves the directory, else a transient pool created just
    for the look and destroyed after), so the destination needs no shell access.
    """

    def __init__(self, libvirt):
        self.libvirt = libvirt
        self.files = {}      # directory -> probe file written here (None when writing failed)
        self.results = {}    # (directory, destination) -> {shared, how}
        self._writing = threading.Lock()  # destinations are probed in parallel: one file per directory

    def _write(self, directory):
        with self._writing:
            return self._write_once(directory)

    def _write_once(self, directory):
        if directory not in self.files:
            path = os.path.join(directory, PROBE_PREFIX + uuid.uuid4().hex)
            try:
                create_exclusive(path)  # a random name, 0600, never through a link
                self.files[directory] = path
            except OSError as exc:
                self.files[directory] = None
                self.results[(directory, None)] = "cannot write a probe file in %s: %s" % (directory, exc.strerror)
        return self.files[directory]

    def _seen_on(self, dst_conn, directory, name):
        """True/False whether the destination sees `name` in `directory`; None + why when it cannot tell."""
        pool = pool_for_directory(dst_conn, directory, active_only=False)
        if pool is not None:
            if not pool.isActive():
                return None, "pool %s serving %s is not active there" % (pool.name(), directory)
            refresh_pool(pool, self.libvirt)
            return name in pool.listVolumes(), "pool %s" % pool.name()
        xml = dir_pool_xml("drover-probe-%s" % uuid.uuid4().hex[:12], directory)
        try:
            pool = dst_conn.storagePoolCreateXML(xml, 0)
        except self.libvirt.libvirtError as exc:
            return False, "directory %s is not there (%s)" % (directory, exc.get_error_message())
        try:
            return name in pool.listVolumes(), "transient pool"
        finally:
            pool.destroy()

    def probe(self, dst_conn, dest_key, path):
        directory = os.path.dirname(path)
        key = (directory, dest_key)
        if key not in self.results:
            probe_file = self._write(directory)
            if probe_file is None:
                self.results[key] = {"shared": None, "how": self.results[(directory, None)]}
            else:
                try:
                    seen, how = self._seen_on(dst_conn, directory, os.path.basename(probe_file))
                except self.libvirt.libvirtError as exc:
                    seen, how = None, exc.get_error_message()
                self.results[key] = {"shared": seen, "how": how}
        return self.results[key]

    def cleanup(self):
        for path in self.files.values():
            if path:
                try:
                    os.unlink(path)
                except OSError:
                    pass
        self.files = {}


def find_defined(dst_conn, libvirt, dom_facts):
    """The destination's domain with this name or UUID, as {name, uuid, state, persistent}, or None."""
    found = None
    for finder, key in ((dst_conn.lookupByUUIDString, dom_facts["uuid"]), (dst_conn.lookupByName, dom_facts["name"])):
        try:
            found = finder(key)
            break
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise
    if found is None:
        return None
    state = found.state()[0]
    return {"name": found.name(), "uuid": found.UUIDString(), "state": STATE_NAMES.get(state, str(state)),
            "persistent": bool(found.isPersistent())}


def parse_port_range(text):
    low, _sep, high = str(text).partition("-")
    low, high = int(low), int(high or low)
    if not 1 <= low <= high <= 65535:
        raise ValueError("port range %s is not LOW-HIGH within 1-65535" % text)
    return low, high


def probe_ports(address, port_range, timeout):
    """TCP connect to the first, middle and last port of the range, in parallel.

    Nothing listens there between migrations, so a refused connection proves the path is
    open; silence (timeout) means a firewall drops it.
    """
    low, high = parse_port_range(port_range)
    ports = sorted({low, (low + high) // 2, high})
    results = {}

    def attempt(port):
        try:
            with socket.create_connection((address, port), timeout=timeout):
                results[port] = "open"
        except ConnectionRefusedError:
            results[port] = "refused"
        except socket.timeout:
            results[port] = "timeout"
        except OSError as exc:
            results[port] = "unreachable" if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH) else \
                "error: %s" % exc.strerror
    threads = [threading.Thread(target=attempt, args=(p,)) for p in ports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"address": address, "range": "%d-%d" % (low, high), "ports": {str(p): results[p] for p in ports}}
