# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Switch-over cost per destination: so the pause the guest sees stays within the downtime limit.

QEMU's downtime limit bounds its estimate of the last copy of memory only. The pause the guest
sees adds the switch-over itself (device state, stopping here, starting there), which depends on
the host pair: measured here from 200 to 400 ms under TCG. Each move that ends in pre-copy learns
that cost as the downtime libvirt measured minus the limit QEMU had; the source keeps the last few
per destination, and the next move there gives QEMU the configured limit minus the largest of
them. Pure arithmetic first, then the small file on the source host.

Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import json
import os
import re

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._safe_files import read_private, write_atomic

STATE_DIR = "/var/lib/libvirt/drover"
KEPT = 8             # the last moves to a destination whose cost is remembered
FLOOR_MS = 20        # the least limit QEMU is given, whatever the cost learned
MAX_COST_MS = 60000  # a cost above this is a measurement gone wrong, not a switch-over


def qemu_limit(limit_ms, cost_ms):
    """The limit QEMU gets so that its last copy plus the switch-over fits `limit_ms`."""
    return max(FLOOR_MS, int(limit_ms) - int(cost_ms or 0))


def cost_of(downtime_ms, qemu_limit_ms):
    """The switch-over cost one move showed: libvirt's measured downtime beyond QEMU's limit, or None."""
    if not downtime_ms or qemu_limit_ms is None or downtime_ms > MAX_COST_MS:
        return None
    return max(0, int(downtime_ms) - int(qemu_limit_ms))


def learned(costs):
    """The cost to plan with: the largest of the last KEPT, 0 when none was measured yet."""
    return max(costs[-KEPT:]) if costs else 0


def _path(destination, directory):
    name = re.sub(r"[^A-Za-z0-9.-]", "_", destination or "unknown")[:120]
    return os.path.join(directory, "switchover-%s.json" % name)


def read_costs(destination, directory=STATE_DIR):
    """The costs learned for moves from this host to `destination`; [] when none or unreadable."""
    try:
        data = read_private(_path(destination, directory), "the switch-over record")
        costs = json.loads(data.decode("utf-8"))["costs_ms"] if data else []
    except (DroverError, ValueError, KeyError, TypeError, AttributeError):
        return []  # a record that cannot be read costs calibration, never a move
    return [int(c) for c in costs if isinstance(c, (int, float)) and 0 <= c <= MAX_COST_MS][-KEPT:]


def record_cost(destination, cost_ms, directory=STATE_DIR):
    """Remember one more cost for `destination`; the last KEPT are kept. Best effort: False when not written."""
    if cost_ms is None:
        return False
    costs = (read_costs(destination, directory) + [int(cost_ms)])[-KEPT:]
    body = json.dumps({"destination": destination, "costs_ms": costs}, sort_keys=True) + "\n"
    try:
        write_atomic(_path(destination, directory), body.encode("utf-8"), "the switch-over record")
    except (DroverError, OSError):
        return False
    return True
