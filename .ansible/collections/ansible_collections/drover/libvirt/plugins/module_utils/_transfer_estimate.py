# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How long moving a domain takes: one pre-copy model for the preflight check and the planner.

Pre-copy sends the memory, then in each further round what the guest dirtied during the round
before: round k sends M * r**k at bandwidth B, with r = dirty rate / B. precopy() walks the
rounds until the rest fits the downtime limit (what the convergence check needs: rounds and
downtime); memory_seconds() is the same series summed to its end, M / (B - dirty rate), the
figure the planner uses when no downtime limit is known. Both agree as the limit goes to zero.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

MIB = 1024 * 1024


def precopy(memory_bytes, dirty_bps, bandwidth_bps, downtime_ms, max_rounds=30):
    """Pre-copy round by round: round k sends what the guest dirtied during round k-1.

    Returns {converges, rounds, seconds, downtime_ms}: converged when the rest fits the
    downtime limit at link speed.
    """
    if bandwidth_bps <= 0:
        return {"converges": None, "rounds": None, "seconds": None, "downtime_ms": None}
    limit = bandwidth_bps * downtime_ms / 1000.0
    remaining, seconds, rounds = float(memory_bytes), 0.0, 0
    while remaining > limit and rounds < max_rounds:
        duration = remaining / bandwidth_bps
        seconds += duration
        rounds += 1
        nxt = min(float(memory_bytes), dirty_bps * duration)
        if nxt >= remaining:
            return {"converges": False, "rounds": rounds, "seconds": round(seconds, 1), "downtime_ms": None}
        remaining = nxt
    converges = remaining <= limit
    return {"converges": converges, "rounds": rounds, "seconds": round(seconds + remaining / bandwidth_bps, 1),
            "downtime_ms": int(remaining * 1000 / bandwidth_bps) if converges else None}


def memory_seconds(memory_bytes, dirty_bps, bandwidth_bps):
    """Seconds to send the memory by pre-copy with every round summed: memory / (bandwidth - dirty rate).

    A guest that dirties nothing, or at least as fast as the link (pre-copy never converges; a
    post-copy sends each page once), takes memory / bandwidth.
    """
    if dirty_bps and 0 < dirty_bps < bandwidth_bps:
        return memory_bytes / (bandwidth_bps - dirty_bps)
    return memory_bytes / bandwidth_bps


def move_estimate(method, memory_kib, disk_bytes, copy_storage, dirty_mib_s, bandwidth_mib_s):
    """(bytes to send, seconds, notes) for one move of a plan.

    Live: memory, plus disks when copied; disks go at link speed, memory as memory_seconds().
    A guest dirtying at least as fast as the link is estimated as a post-copy, with a note.
    Cold and define moves send no memory, only copied disks.
    """
    memory = memory_kib * 1024
    disks = disk_bytes if copy_storage else 0
    bandwidth = float(bandwidth_mib_s) * MIB
    notes = []
    if method != "live":
        return disks, round(disks / bandwidth, 1), notes
    seconds = (memory + disks) / bandwidth
    if dirty_mib_s and dirty_mib_s >= bandwidth_mib_s:
        notes.append("dirties %s MiB/s, not less than the %s MiB/s link: pre-copy cannot converge, estimated as post-copy"
                     % (dirty_mib_s, bandwidth_mib_s))
    elif dirty_mib_s and dirty_mib_s > 0:
        seconds = disks / bandwidth + memory_seconds(memory, dirty_mib_s * MIB, bandwidth)
    return memory + disks, round(seconds, 1), notes
