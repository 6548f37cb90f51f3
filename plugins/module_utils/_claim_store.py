# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Capacity claims kept on each hypervisor, reached through its libvirt daemon.

A run moves domains from the source hypervisor, which reaches a destination only through
libvirt. So the claims live where that connection can write them atomically: files in the
libvirt directory pool drover-state (/var/lib/libvirt/drover), one file per claim, created
exclusively by the destination's daemon. The same pool lets a remote reader download the
host's maintenance mark (_maintenance.py), which is a file in that directory. The figures are in the file name (see _claims.py); the content
says who and what, for people.

Granting needs no lock that a killed run could leave held: a run creates its claim first, then
counts every other live claim and the domains active there, and keeps its claim only if it fits.
Of two runs racing for the last room, the later creator sees the earlier claim; if both see each
other, both step back and try again after a random pause. Room is never promised twice.

Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid as uuidlib
import xml.etree.ElementTree as ET
from contextlib import contextmanager

from ansible_collections.drover.libvirt.plugins.module_utils._claims import (
    CLOCK_GRACE_S,
    counted,
    fits,
    new_claim,
    parse_name,
    room,
    with_record,
)
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._storage import refresh_pool

# The collection's own state on each host: claims and the maintenance mark.
STATE_POOL = "drover-state"
STATE_DIR = "/var/lib/libvirt/drover"
_ATTEMPTS = 5
_READ_LIMIT = 64 * 1024
# Live claims whose files a remote read opens (each is one download); a host rarely holds more.
_BODIES_READ = 32


def _pool_xml(path):
    pool = ET.Element("pool", type="dir")
    ET.SubElement(pool, "name").text = STATE_POOL
    target = ET.SubElement(pool, "target")
    ET.SubElement(target, "path").text = path
    perms = ET.SubElement(target, "permissions")
    ET.SubElement(perms, "mode").text = "0700"
    return ET.tostring(pool, encoding="unicode")


def _volume_xml(name, size):
    vol = ET.Element("volume")
    ET.SubElement(vol, "name").text = name
    ET.SubElement(vol, "capacity", unit="bytes").text = str(size)
    ET.SubElement(vol, "allocation", unit="bytes").text = "0"
    target = ET.SubElement(vol, "target")
    ET.SubElement(target, "format", type="raw")
    perms = ET.SubElement(target, "permissions")
    ET.SubElement(perms, "mode").text = "0600"
    return ET.tostring(vol, encoding="unicode")


def state_pool(conn, libvirt, path=STATE_DIR):
    """The state pool, made (transient, its directory built) when the daemon has none.

    Transient, so a daemon restart forgets it; whoever needs it next makes it again.
    """
    for _attempt in range(2):
        try:
            pool = conn.storagePoolLookupByName(STATE_POOL)
        except libvirt.libvirtError:
            try:
                return conn.storagePoolCreateXML(_pool_xml(path), libvirt.VIR_STORAGE_POOL_CREATE_WITH_BUILD)
            except libvirt.libvirtError:
                continue  # another run made it meanwhile: look it up again
        if not pool.isActive():
            pool.create(0)
        return pool
    raise DroverError("cannot open or create the storage pool %s (%s) that keeps capacity claims and the "
                      "maintenance mark" % (STATE_POOL, path))


def download(conn, libvirt, vol, limit=_READ_LIMIT):
    """The content of a (small) volume, through a storage stream; DroverError when over `limit` bytes."""
    stream = conn.newStream(0)
    vol.download(stream, 0, 0, 0)
    data = b""
    try:
        while True:
            chunk = stream.recv(limit + 1 - len(data))
            if not chunk:
                break
            data += chunk
            if len(data) > limit:
                raise DroverError("%s is larger than %d bytes" % (vol.path(), limit))
    except (DroverError, libvirt.libvirtError):
        try:
            stream.abort()
        except libvirt.libvirtError:
            pass  # the stream broke already
        raise
    stream.finish()
    return data


class ClaimStore:
    """The claims of one hypervisor, through a libvirt connection to it (local or remote)."""

    def __init__(self, conn, libvirt, clock=time.time, sleep=time.sleep, path=STATE_DIR):
        self.conn = conn
        self.lv = libvirt
        self.clock = clock
        self.sleep = sleep
        self.path = path

    # ------------------------------------------------------------------ the pool
    def _pool(self):
        return state_pool(self.conn, self.lv, self.path)

    def claims(self, pool=None):
        """Every claim on the host, expired ones included, from one listing."""
        pool = pool or self._pool()
        refresh_pool(pool, self.lv, self.sleep)
        return [c for c in (parse_name(n) for n in pool.listVolumes()) if c is not None]

    # ------------------------------------------------------------------ the host
    def room(self, limits):
        """(Room, UUIDs of active domains) read now from the host's own libvirt."""
        stats = self.conn.getMemoryStats(self.lv.VIR_NODE_MEMORY_STATS_ALL_CELLS, 0)
        active = self.conn.listAllDomains(self.lv.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
        infos = [d.info() for d in active]
        host_room = room(stats.get("total", 0), sum(i[2] for i in infos), self.conn.getInfo()[2],
                         sum(i[3] for i in infos), reserved_mib=limits.get("reserved_memory_mib", 0),
                         headroom_pct=limits.get("memory_headroom_pct", 10),
                         vcpu_ratio=limits.get("vcpu_ratio", 4.0))
        return host_room, {d.UUIDString() for d in active}

    # ------------------------------------------------------------------ claim and release
    def _write(self, pool, claim):
        body = (json.dumps(claim.record(), sort_keys=True) + "\n").encode("utf-8")
        vol = pool.createXML(_volume_xml(claim.name, len(body)), 0)
        try:
            stream = self.conn.newStream(0)
            vol.upload(stream, 0, len(body), 0)
            stream.send(body)
            stream.finish()
        except self.lv.libvirtError:
            pass  # the name alone carries what counts; the body is for people

    def _delete(self, pool, name):
        try:
            pool.storageVolLookupByName(name).delete(0)
            return True
        except self.lv.libvirtError:
            return False  # gone already (released, or cleaned as expired by another run)

    def _tidy(self, pool, claim, now):
        """Drop expired claims and this run's earlier claims for the same domain."""
        removed = []
        for other in self.claims(pool):
            stale = not other.is_live(now, CLOCK_GRACE_S)
            mine = other.run_id == claim.run_id and other.uuid == claim.uuid and other.name != claim.name
            if (stale or mine) and self._delete(pool, other.name):
                removed.append(other.name)
        return removed

    def claim(self, claim, limits, attempts=_ATTEMPTS, max_inbound=None):
        """Take room for `claim` if it fits now: {granted, busy, reason, claim, expired_removed}.

        max_inbound: the most moves of this run that may arrive here at once (its claims here,
        counted across all of its sources); beyond it the answer is busy, not full.
        """
        pool = self._pool()
        removed = self._tidy(pool, claim, self.clock())
        reason, busy = None, False
        for attempt in range(attempts):
            try:
                self._write(pool, claim)
            except self.lv.libvirtError as exc:
                raise DroverError("cannot write the capacity claim %s: %s" % (claim.name, exc.get_error_message()))
            try:
                # Claims first, domains second: a claim released after its domain arrived is then
                # seen either as a claim or as an active domain, never as neither.
                all_claims = self.claims(pool)
                host_room, present = self.room(limits)
            except self.lv.libvirtError:
                self._delete(pool, claim.name)  # best effort: otherwise it expires
                raise
            if claim.uuid in present:
                self._delete(pool, claim.name)
                return {"granted": True, "busy": False, "reason": "the domain is already active there",
                        "claim": None, "expired_removed": removed}
            now = self.clock()
            others = counted(all_claims, now, present, exclude=claim)
            ok, reason = fits(claim, host_room, others)
            arriving = [c for c in all_claims if c.run_id == claim.run_id and c.is_live(now, CLOCK_GRACE_S)]
            busy = ok and max_inbound is not None and len(arriving) > max_inbound
            if busy:
                reason = "%d moves of run %s would arrive at once (at most %d)" % (
                    len(arriving), claim.run_id, max_inbound)
            elif ok:
                return {"granted": True, "busy": False, "reason": reason, "claim": claim.record(),
                        "expired_removed": removed}
            self._delete(pool, claim.name)
            if not others and not busy:
                break  # nobody else holds room here: waiting would not help
            self.sleep(random.uniform(0.05, 0.3) * (attempt + 1))
        return {"granted": False, "busy": busy, "reason": reason, "claim": None, "expired_removed": removed}

    def would_fit(self, claim, limits):
        """Check mode: whether `claim` fits now, writing nothing: (True|False, reason)."""
        try:
            pool = self.conn.storagePoolLookupByName(STATE_POOL)
            all_claims = self.claims(pool) if pool.isActive() else []
        except self.lv.libvirtError:
            all_claims = []  # no claims pool: nobody claimed room here yet
        host_room, present = self.room(limits)
        if claim.uuid in present:
            return True, "the domain is already active there"
        return fits(claim, host_room, counted(all_claims, self.clock(), present, exclude=claim))

    def release(self, claim):
        """Give the room back (after the move, whatever its outcome). True when a claim was removed."""
        try:
            pool = self.conn.storagePoolLookupByName(STATE_POOL)
        except self.lv.libvirtError:
            return False
        removed = self._delete(pool, claim.name)
        self.release_arrived(claim.uuid, pool)
        return removed

    def release_arrived(self, uuid, pool=None):
        """Claims for domain `uuid` once it is active here: it counts itself, so a claim for it that an earlier
        run could not release (its destination was unreachable then) holds nothing any more. The names removed."""
        try:
            pool = pool or self.conn.storagePoolLookupByName(STATE_POOL)
            if not self.conn.lookupByUUIDString(uuid).isActive():
                return []
            left = [c.name for c in self.claims(pool) if c.uuid == uuid]
        except self.lv.libvirtError:
            return []
        return [name for name in left if self._delete(pool, name)]


def new_run_id():
    return uuidlib.uuid4().hex[:12]


def claim_for(dom, settings, source, now):
    """The claim a move of `dom` needs: its maximum memory and vCPUs, for this run."""
    info = dom.info()
    return new_claim(settings.get("run_id") or new_run_id(), dom.UUIDString(), info[1], info[3], now,
                     ttl=settings.get("ttl") or 600, domain=dom.name(), owner=settings.get("owner") or "",
                     source=source or "")


@contextmanager
def room_claimed(dconn, libvirt, dom, settings, dest_name, source, check_mode=False, current=None):
    """Hold room for `dom` on the destination while the block moves it; refuse when there is none.

    Yields the claim's record (None when claims are off or the domain is already there). Raises
    DroverError, with the domain still on its source, when the room is not there. current: returns
    the destination connection in use at the end (the block may have replaced one the link broke).
    """
    if not settings or not settings.get("enabled", True):
        yield None
        return
    store = ClaimStore(dconn, libvirt)
    claim = claim_for(dom, settings, source, store.clock())
    if check_mode:
        ok, reason = store.would_fit(claim, settings)
        outcome = {"granted": ok, "busy": False, "reason": reason, "claim": None}
    else:
        outcome = store.claim(claim, settings, max_inbound=settings.get("max_inbound"))
    if outcome["busy"]:
        raise DroverError("%s waits for %s: %s" % (claim.domain, dest_name, outcome["reason"]),
                          vm_location="source", busy=True, domain=claim.domain)
    if not outcome["granted"]:
        raise DroverError("no room for %s on %s: %s" % (claim.domain, dest_name, outcome["reason"]),
                          vm_location="source", no_room=True, domain=claim.domain)
    try:
        yield outcome["claim"]
    finally:
        if outcome["claim"] is not None:
            try:
                (ClaimStore(current(), libvirt) if current else store).release(claim)
            except libvirt.libvirtError:
                pass  # the destination went away: the claim expires by itself, or goes when its domain arrives


def remote_claims(conn, libvirt, now=None, pool=None, bodies=_BODIES_READ):
    """The claims on a host read through its libvirt daemon: figures from the names, and for the first
    `bodies` live claims who and what from their files too (the source a stale claim is judged by).

    pool: the state pool when the caller opened it (it is refreshed here); else it is looked up
    and a host without one has no claims.
    """
    now = time.time() if now is None else now
    try:
        if pool is None:
            pool = conn.storagePoolLookupByName(STATE_POOL)
        claims = ClaimStore(conn, libvirt).claims(pool) if pool.isActive() else []
    except libvirt.libvirtError:
        return []
    out = []
    for claim in claims:
        live = claim.is_live(now, CLOCK_GRACE_S)
        if live and bodies > 0:
            bodies -= 1
            claim = with_record(claim, _claim_body(conn, libvirt, pool, claim.name))
        out.append(dict(claim.record(), live=live))
    return out


def _claim_body(conn, libvirt, pool, name):
    """A claim file's JSON record, or None when it is gone or unreadable (the name still counts)."""
    try:
        return json.loads(download(conn, libvirt, pool.storageVolLookupByName(name), limit=4096).decode("utf-8"))
    except (libvirt.libvirtError, DroverError, ValueError):
        return None


def remove_local_claims(names, expired=False, check_mode=False, path=STATE_DIR, now=None):
    """Remove claim files of this host by name (and every expired one with `expired`): (removed, absent).

    Only names that parse as claims are touched, so no other file of the directory can be named.
    """
    now = time.time() if now is None else now
    for name in names:
        if parse_name(name) is None:
            raise DroverError("%r is not the name of a capacity claim (drover-claim_EXPIRES_VCPUS_KIB_RUN_UUID.json)"
                              % (name,))
    wanted = list(dict.fromkeys(names))
    if expired:
        try:
            present = sorted(os.listdir(path))
        except FileNotFoundError:
            present = []
        wanted += [n for n in present if n not in wanted and parse_name(n) is not None
                   and not parse_name(n).is_live(now, CLOCK_GRACE_S)]
    removed, absent = [], []
    for name in wanted:
        target = os.path.join(path, name)
        if not os.path.lexists(target):
            absent.append(name)
            continue
        if not check_mode:
            try:
                os.unlink(target)  # a symbolic link planted there is removed itself, never followed
            except FileNotFoundError:
                absent.append(name)
                continue
            except OSError as exc:
                raise DroverError("cannot remove the capacity claim %s: %s" % (target, exc.strerror))
        removed.append(name)
    return removed, absent


def read_local_claims(path=STATE_DIR, now=None):
    """The claims on this host as records, read from their files (no libvirt), for hypervisor_info."""
    now = time.time() if now is None else now
    try:
        names = sorted(os.listdir(path))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise DroverError("cannot list the capacity claims in %s: %s" % (path, exc.strerror))
    out = []
    for name in names:
        claim = parse_name(name)
        if claim is None:
            continue
        record = None
        try:
            fd = os.open(os.path.join(path, name), os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, encoding="utf-8") as handle:
                record = json.load(handle)
        except (OSError, ValueError):
            pass  # being written, or not ours to trust: the name still tells what counts
        entry = with_record(claim, record).record()
        entry["live"] = claim.is_live(now, CLOCK_GRACE_S)
        out.append(entry)
    return out
