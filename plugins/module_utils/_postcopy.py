# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recovery of a migration whose post-copy phase failed.

In post-copy the guest runs on the destination while part of its memory is still on the source:
neither side may be destroyed. Two situations are seen when the link breaks:

* libvirt gives up (keepalive) while QEMU's stream is only stalled: once the link is back, QEMU
  finishes on its own; libvirt then shows the destination running and the source shut off but
  still defined (UNDEFINE_SOURCE is skipped after a failed call).
* QEMU's stream failed too (source QEMU in ``postcopy-paused``): it must be resumed, with
  VIR_MIGRATE_POSTCOPY_RESUME, or - where that libvirt call is known to crash the destination
  daemon (libvirt 11.3.0) - with QEMU's own ``migrate`` command and ``resume: true`` sent to the
  source QEMU, aimed at the destination's still-open incoming port.

Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
import time
from collections import Counter

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_enums import (
    DOMAIN_PAUSED, DOMAIN_RUNNING, DOMAIN_SHUTOFF, PAUSED_MIGRATION, PAUSED_POSTCOPY_FAILED, POSTCOPY_FAILED_STATES,
    POSTCOPY_STATES, RUNNING_POSTCOPY, RUNNING_POSTCOPY_FAILED, SHUTOFF_MIGRATED, version_text)
from ansible_collections.drover.libvirt.plugins.module_utils._migration_rules import lost_in_postcopy

# libvirt versions whose POSTCOPY_RESUME path dereferences NULL in the destination daemon.
RESUME_CRASHES = {11003000}

# Seconds the source may be seen gone, the destination still in post-copy, before the guest is taken for lost.
SOURCE_GONE_SETTLE = 10


def _hex_addr(text):
    """A /proc/net/tcp or tcp6 address -> (ip text, port): 'AC1F0002:C350' -> ('172.31.0.2', 50000).

    The kernel prints each 32-bit word of the address in this machine's byte order. An IPv4 address
    mapped into IPv6 (a connection to a dual-stack listener, as QEMU's on [::]) reads as its IPv4 text."""
    addr, port = text.split(":")
    raw = bytes.fromhex(addr)
    if sys.byteorder == "little":
        raw = b"".join(raw[at:at + 4][::-1] for at in range(0, len(raw), 4))
    if len(raw) == 4:
        return socket.inet_ntoa(raw), int(port, 16)
    ip = ipaddress.IPv6Address(raw)
    return str(ip.ipv4_mapped or ip), int(port, 16)


def _socket_inodes(pid, proc):
    """The inodes of process pid's sockets, as /proc/PID/net/tcp prints them."""
    inodes = set()
    fd_dir = os.path.join(proc, str(pid), "fd")
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def qemu_sockets(pid, proc="/proc"):
    """(state, (local ip, port), (peer ip, port), inode, family) of every TCP socket of process pid, IPv4 and
    IPv6; state as in /proc (01 = ESTABLISHED, 0A = LISTEN), family 4 or 6 (the table it is in: a dual-stack
    listener's IPv4 connections are IPv6 sockets)."""
    inodes = _socket_inodes(pid, proc)
    found = []
    for family, table_name in ((4, "tcp"), (6, "tcp6")):
        path = os.path.join(proc, str(pid), "net", table_name)
        if table_name == "tcp6" and not os.path.exists(path):
            continue  # IPv6 disabled on this host
        with open(path) as table:
            next(table)
            for line in table:
                fields = line.split()
                if fields[9] in inodes:
                    found.append((fields[3], _hex_addr(fields[1]), _hex_addr(fields[2]), int(fields[9]), family))
    return found


def queued_bytes(pid, dest_ips, proc="/proc"):
    """Bytes process `pid` has written to its established TCP connections to `dest_ips` (None: to any peer) that the
    peer has not acknowledged yet (the kernel's tx_queue), summed; None when its sockets cannot be read."""
    dest_ips = None if dest_ips is None else set(dest_ips)
    try:
        inodes = _socket_inodes(pid, proc)
        total = 0
        for table_name in ("tcp", "tcp6"):
            path = os.path.join(proc, str(pid), "net", table_name)
            if not os.path.exists(path):
                continue
            with open(path) as table:
                next(table)
                for line in table:
                    fields = line.split()
                    if fields[9] in inodes and fields[3] == "01" and (
                            dest_ips is None or _hex_addr(fields[2])[0] in dest_ips):
                        total += int(fields[4].split(":")[0], 16)
        return total
    except (OSError, ValueError, IndexError, StopIteration):
        return None


class StreamDrain:
    """Let the source's socket buffers empty before the switch to post-copy, so the device state the switch
    sends crosses at once instead of queueing behind seconds of RAM on a slow link.

    The switch sends the device state behind whatever the kernel still holds for the destination; a link that
    dies before it is through leaves the move stuck (QEMU before 10.2; see docs/migrate.md). Pre-copy is slowed
    to 1 MiB/s until at most `threshold` bytes are queued, or `wait` seconds; `restore()` puts the speed back
    when the switch does not happen. Without `dest_host` every connection of the QEMU counts (the stream is the
    only large one). Best effort: without the QEMU's sockets (another pid file path, no permission) nothing is
    slowed."""

    def __init__(self, dom, name, dest_host, libvirt, threshold=256 << 10, wait=3.0, sleep=time.sleep,
                 clock=time.monotonic, pid_dir="/run/libvirt/qemu", proc="/proc"):
        self.dom, self.name, self.dest_host, self.lv = dom, name, dest_host, libvirt
        self.threshold, self.wait, self.sleep, self.clock = threshold, wait, sleep, clock
        self.pid_dir, self.proc = pid_dir, proc
        self.speed = None

    def _queued(self):
        try:
            with open(os.path.join(self.pid_dir, "%s.pid" % self.name)) as f:
                pid = int(f.read().strip())
            return queued_bytes(pid, host_addresses(self.dest_host) if self.dest_host else None, self.proc)
        except (OSError, ValueError):
            return None

    def __call__(self):
        """Drain; returns what was done, for the decisions log: {queued_before, queued_after, waited_ms}. Never
        raises: the switch it prepares must happen whatever goes wrong here."""
        try:
            return self._drain()
        except Exception as exc:  # pylint: disable=broad-except
            return {"queued_before": None, "queued_after": None, "waited_ms": 0, "error": str(exc)}

    def _drain(self):
        before = self._queued()
        if before is None or before <= self.threshold:
            return {"queued_before": before, "queued_after": before, "waited_ms": 0}
        try:
            self.speed = self.dom.migrateGetMaxSpeed(0)
            self.dom.migrateSetMaxSpeed(1, 0)
        except self.lv.libvirtError:
            self.speed = None
            return {"queued_before": before, "queued_after": before, "waited_ms": 0}
        start = self.clock()
        queued = before
        while queued is not None and queued > self.threshold and self.clock() - start < self.wait:
            self.sleep(0.05)
            queued = self._queued()
        return {"queued_before": before, "queued_after": queued, "waited_ms": round((self.clock() - start) * 1000)}

    def restore(self):
        """Put pre-copy's speed back (the switch did not happen); post-copy has a limit of its own."""
        if self.speed is not None:
            try:
                self.dom.migrateSetMaxSpeed(self.speed, 0)
            except self.lv.libvirtError:
                pass
            self.speed = None


def qemu_peers(pid, proc="/proc"):
    """(ip, port) of every established TCP connection of process pid."""
    return [peer for state, _local, peer, _inode, _family in qemu_sockets(pid, proc) if state == "01"]


def host_addresses(host):
    """Every address `host` resolves to, as the kernel's tables print them (IPv4 first, then IPv6)."""
    found = []
    for family, _type, _proto, _name, sockaddr in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP):
        ip = ipaddress.ip_address(sockaddr[0].split("%")[0])
        text = str(getattr(ip, "ipv4_mapped", None) or ip)
        if text not in found:
            found.append(text)
    return sorted(found, key=lambda text: ":" in text)


def migration_port(peers, dest_ips):
    """The destination port most connections go to: the incoming migration listener (on any of `dest_ips`)."""
    dest_ips = {dest_ips} if isinstance(dest_ips, str) else set(dest_ips)
    ports = Counter(port for ip, port in peers if ip in dest_ips)
    return ports.most_common(1)[0][0] if ports else None


def stream_address(peers, dest_ips):
    """(ip, port) the migration stream goes to: the destination address and port most connections use."""
    dest_ips = {dest_ips} if isinstance(dest_ips, str) else set(dest_ips)
    ends = Counter(peer for peer in peers if peer[0] in dest_ips)
    return ends.most_common(1)[0][0] if ends else (None, None)


def qemu_uri(ip, port):
    """QEMU's tcp: URI for an address of either family."""
    return "tcp:[%s]:%d" % (ip, port) if ":" in ip else "tcp:%s:%d" % (ip, port)


def find_data_port(name, dest_host):
    """Best effort, on the source host: (ip, port) the running migration stream goes to, or (None, None)."""
    try:
        with open("/run/libvirt/qemu/%s.pid" % name) as f:
            pid = int(f.read().strip())
        dest_ips = host_addresses(dest_host)
        ip, port = stream_address(qemu_peers(pid), dest_ips)
        return (ip, port) if port else (dest_ips[0] if dest_ips else None, None)
    except (OSError, ValueError, StopIteration):
        return None, None


class PostcopyRecovery:
    """Drive a failed post-copy migration to completion on the destination, within `wait` seconds."""

    def __init__(self, sdom, dconn, name, libvirt, libvirt_qemu=None, reconnect=None, sleep=time.sleep,
                 clock=time.monotonic):
        self.sdom = sdom
        self.dconn = dconn
        self.reconnect = reconnect
        self.name = name
        self.lv = libvirt
        self.qemu = libvirt_qemu
        self.sleep = sleep
        self.clock = clock
        self.steps = []
        self.source_gone = False
        self.never_switched = False
        self.stuck = False

    def _qemu_status(self):
        if self.qemu is None:
            return None
        try:
            reply = self.qemu.qemuMonitorCommand(self.sdom, '{"execute": "query-migrate"}', 0)
            return json.loads(reply).get("return", {}).get("status")
        except (self.lv.libvirtError, ValueError):
            return None

    def _landed(self):
        """True once the destination runs the guest and the source's QEMU is gone."""
        try:
            src_state, src_reason = self.sdom.state()[:2]
        except self.lv.libvirtError as exc:
            if exc.get_error_code() != self.lv.VIR_ERR_NO_DOMAIN:
                self.source_gone = self.never_switched = False
                return False  # the source's daemon did not answer (restarting, connection lost): not known
            src_state, src_reason = None, None  # undefined: gone
        try:
            ddom = self.dconn.lookupByName(self.name)
            dst_state, dst_reason = ddom.state()
        except self.lv.libvirtError as exc:
            self.source_gone = self.never_switched = False  # not known without the destination
            if exc.get_error_code() != self.lv.VIR_ERR_NO_DOMAIN and self.reconnect is not None:
                try:
                    self.dconn = self.reconnect()  # the link took the old connection with it
                except (self.lv.libvirtError, DroverError):
                    pass
            return False
        # The source gone while the destination still waits in post-copy: lost by the same rule as everywhere
        # (_migration_rules.lost_in_postcopy), unless libvirt is only slow to note that the move finished (run()
        # gives it a few seconds).
        self.source_gone = lost_in_postcopy(
            {"exists": src_state is not None, "active": src_state not in (None, DOMAIN_SHUTOFF),
             "reason": "migrated" if src_reason == SHUTOFF_MIGRATED and src_state == DOMAIN_SHUTOFF else None},
            {"active": True, "postcopy": (dst_state, dst_reason) in POSTCOPY_STATES,
             "postcopy_failed": (dst_state, dst_reason) in POSTCOPY_FAILED_STATES})
        if src_state is None:
            src_state = DOMAIN_SHUTOFF
        # The destination still an incoming migration that never started: it never got the device state.
        self.never_switched = ((src_state, src_reason) == (DOMAIN_PAUSED, PAUSED_POSTCOPY_FAILED)
                               and (dst_state, dst_reason) == (DOMAIN_PAUSED, PAUSED_MIGRATION))
        return (src_state == DOMAIN_SHUTOFF and dst_state == DOMAIN_RUNNING
                and dst_reason not in (RUNNING_POSTCOPY, RUNNING_POSTCOPY_FAILED))

    def _resume(self, resume_call, data_addr):
        """One resume attempt through libvirt, or through QEMU where libvirt's would crash."""
        try:
            version = self.dconn.getLibVersion()
        except self.lv.libvirtError:
            self.steps.append("destination unreachable, resume postponed")
            return
        if version not in RESUME_CRASHES:
            self.steps.append("libvirt POSTCOPY_RESUME")
            try:
                resume_call()
            except self.lv.libvirtError as exc:
                self.steps.append("resume failed: %s" % exc.get_error_message())
            return
        ip, port = data_addr
        if self.qemu is None or not port or not ip:
            self.steps.append("cannot resume: libvirt %s crashes on POSTCOPY_RESUME and the migration %s "
                              "is unknown" % (version_text(version), "port" if ip else "address"))
            return
        command = json.dumps({"execute": "migrate", "arguments": {"uri": qemu_uri(ip, port), "resume": True}})
        self.steps.append("QEMU migrate resume to %s" % qemu_uri(ip, port)[4:])
        try:
            self.qemu.qemuMonitorCommand(self.sdom, command, 0)
        except self.lv.libvirtError as exc:
            self.steps.append("resume failed: %s" % exc.get_error_message())

    def run(self, wait, resume_call, data_addr):
        """Poll until the guest landed (True) or `wait` seconds passed (False)."""
        start = self.clock()
        last_try = None
        gone_since = None
        while self.clock() - start < wait:
            if self._landed():
                self.steps.append("landed on the destination after %.1fs" % (self.clock() - start))
                return True
            if not self.source_gone:
                gone_since = None
            elif gone_since is None:
                gone_since = self.clock()
            if gone_since is not None and self.clock() - gone_since >= SOURCE_GONE_SETTLE:
                self.steps.append("the source's QEMU is gone while the destination still waits in post-copy: the "
                                  "memory that had not crossed is lost, nothing can resume the move")
                return False
            status = self._qemu_status()
            if status == "postcopy-paused" and self.never_switched:
                # The source's QEMU gave the stream up with the device state still in it: a resume needs a
                # destination in post-copy, and this one never got there (QEMU 10.2 fails such a move instead).
                self.stuck = True
                self.steps.append("the destination never received the device state and the source's QEMU has "
                                  "paused the move: stuck in the switch-over to post-copy, nothing can resume it")
                return False
            if status == "postcopy-paused" and (last_try is None or self.clock() - last_try >= 15):
                last_try = self.clock()
                self._resume(resume_call, data_addr)
            self.sleep(1.0)
        status = self._qemu_status()
        if status in ("postcopy-recover", "postcopy-recover-setup"):
            # The source connected and waits for the destination's handshake: the destination's QEMU has not
            # taken the resumed stream (e.g. its main loop is blocked - see docs/troubleshooting.md).
            self.steps.append("not landed after %ss: the source's QEMU is still in %s, waiting for the destination's "
                              "QEMU to take the resumed stream" % (wait, status))
        else:
            self.steps.append("not landed after %ss%s" % (wait, " (source QEMU %s)" % status if status else ""))
        return False
