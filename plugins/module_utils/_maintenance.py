# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The maintenance mark of a hypervisor: a small JSON file on the host itself.

libvirt has no place for host metadata, so the mark lives next to libvirt's own state
(/var/lib/libvirt is per host even where /var/lib is shared). Placement reads it from
hypervisor_info and never chooses a marked host as a destination. On the host it is read as a
file; from another host it is downloaded through the libvirt storage pool whose directory holds
it (_claim_store.STATE_POOL), so a remote reader needs nothing but the host's libvirt daemon.
The file is written and read through _safe_files: 0640, atomically, never through a link.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import json
import os

from ansible_collections.drover.libvirt.plugins.module_utils._claim_store import download, state_pool
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError, quoted
from ansible_collections.drover.libvirt.plugins.module_utils._safe_files import read_private, write_atomic
from ansible_collections.drover.libvirt.plugins.module_utils._storage import refresh_pool

MARK_PATH = "/var/lib/libvirt/drover/maintenance.json"
MARK_STATES = ("draining", "maintenance")
# Longest reason or author a mark keeps: the whole mark must stay far below the 64 KiB a reader takes.
MARK_TEXT_LIMIT = 1024
# The mark's volume name in the state pool, which serves STATE_DIR, the directory the mark is in.
MARK_VOLUME = os.path.basename(MARK_PATH)
# The last maintenance that finished (host_maintenance state=absent finished=true): the mark it
# ended, with `ended`. A rolling run that resumes skips the hosts its campaign (`by`) finished.
LAST_PATH = "/var/lib/libvirt/drover/last-maintenance.json"
LAST_VOLUME = os.path.basename(LAST_PATH)


def parse_mark(text, where):
    """The mark in `text` (JSON) as a dict; DroverError naming `where` when it is not a valid mark."""
    try:
        mark = json.loads(text)
    except ValueError as exc:
        raise DroverError("cannot read the maintenance mark %s: %s" % (where, exc))
    if not isinstance(mark, dict) or mark.get("state") not in MARK_STATES:
        raise DroverError("maintenance mark %s is not valid JSON with state %s; remove it or set it "
                          "again with drover.libvirt.host_maintenance" % (where, "|".join(MARK_STATES)))
    return mark


def read_mark(path=MARK_PATH):
    """The mark as a dict, or None when the host is not marked; a link at `path` is refused."""
    data = read_private(path, "the maintenance mark")
    if data is None:
        return None
    try:
        return parse_mark(data.decode("utf-8"), path)
    except UnicodeDecodeError as exc:
        raise DroverError("cannot read the maintenance mark %s: %s" % (path, exc))


def remote_mark(conn, libvirt, pool=None, volume=MARK_VOLUME):
    """The mark of the host behind `conn` (local or remote), downloaded through the state pool.

    pool: the state pool, refreshed by the caller; else it is opened (made when the daemon has
    none) and refreshed here. None when the host is not marked. volume: LAST_VOLUME reads the
    last finished maintenance instead.
    """
    where = "%s on %s" % (os.path.join(os.path.dirname(MARK_PATH), volume), conn.getURI())
    opened = pool
    try:
        if opened is None:
            opened = state_pool(conn, libvirt)
            refresh_pool(opened, libvirt)
        if volume not in opened.listVolumes():
            return None
        text = download(conn, libvirt, opened.storageVolLookupByName(volume))
    except libvirt.libvirtError as exc:
        # Cleared between the listing and the download: not marked. Anything else is unknown.
        try:
            if opened is not None:
                refresh_pool(opened, libvirt)
                if volume not in opened.listVolumes():
                    return None
        except libvirt.libvirtError:
            pass
        raise DroverError("cannot read the maintenance mark %s: %s" % (where, exc.get_error_message()))
    try:
        return parse_mark(text.decode("utf-8"), where)
    except UnicodeDecodeError as exc:
        raise DroverError("cannot read the maintenance mark %s: %s" % (where, exc))


def check_mark_text(reason, by):
    """Refuse a reason or author too long for a mark, or with control characters; DroverError names it."""
    for name, text in (("reason", reason), ("by", by)):
        if len(text) > MARK_TEXT_LIMIT or any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
            raise DroverError("%s %s must be at most %d characters without control characters; nothing was "
                              "changed" % (name, quoted(text), MARK_TEXT_LIMIT))


def next_mark(before, state, mark, reason, by, now):
    """The mark after setting (state=present) or clearing (state=absent) it, from the mark `before`.

    Pure. `now` (ISO 8601) is the start recorded in a new mark. The same mark set again stays as
    it is; a host in maintenance asked to drain stays in maintenance (it is drained already); a
    mark that only changes stage keeps its original start.
    """
    if state == "absent":
        return None
    same = before and all(before.get(k) == v for k, v in (("state", mark), ("reason", reason), ("by", by)))
    same = same or (before and mark == "draining" and before.get("state") == "maintenance")
    if same:
        return before
    return {"state": mark, "reason": reason, "by": by, "since": (before or {}).get("since") or now}


def write_mark(mark, path=MARK_PATH):
    """Write atomically so a reader never sees half a mark; DroverError when a link or a foreign
    directory is in the way."""
    write_atomic(path, (json.dumps(mark, sort_keys=True) + "\n").encode("utf-8"), "the maintenance mark")


def clear_mark(path=MARK_PATH):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
