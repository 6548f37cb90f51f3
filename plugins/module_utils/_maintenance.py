# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The maintenance mark of a hypervisor: a small JSON file on the host itself.

libvirt has no place for host metadata, so the mark lives next to libvirt's own state
(/var/lib/libvirt is per host even where /var/lib is shared). Placement reads it from
hypervisor_info and never chooses a marked host as a destination.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import json
import os

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError

MARK_PATH = "/var/lib/libvirt/drover/maintenance.json"
MARK_STATES = ("draining", "maintenance")


def read_mark(path=MARK_PATH):
    """The mark as a dict, or None when the host is not marked."""
    try:
        with open(path, encoding="utf-8") as handle:
            mark = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DroverError("cannot read the maintenance mark %s: %s" % (path, exc))
    if not isinstance(mark, dict) or mark.get("state") not in MARK_STATES:
        raise DroverError("maintenance mark %s is not valid JSON with state %s; remove it or set it "
                          "again with drover.libvirt.host_maintenance" % (path, "|".join(MARK_STATES)))
    return mark


def write_mark(mark, path=MARK_PATH):
    """Write atomically so a reader never sees half a mark."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(mark, handle, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)


def clear_mark(path=MARK_PATH):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
