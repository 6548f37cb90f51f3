# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pause a live migration costs a guest: p50, p99 and max over many migrations, against the limit.

On the lab (every host's outbound link capped at _lab.LINK_RATE with tc), guest dt1 (128 MiB,
rewriting 4 MiB of its RAM per turn of its loop, as the evacuation's guests) is migrated back and forth
between hv1 and hv2 by drover.libvirt.migrate with its default convergence preset (balanced), one
hop after another (bench/pingpong.yml), 30 hops by default. The figure is the module's
downtime_ms (libvirt's completed-job statistics: from the pause on the source to the resume on the
destination), set against the preset's downtime limit: the stepped limit QEMU is given, from
initial_downtime_ms to max_downtime_ms. As a cross-check, the time the guest ran on no host is
sampled every 25 ms through each host's libvirt socket.

Prints a table and writes "downtime" in bench/results.json (other keys kept). Judges nothing.
Run as root from the checkout: .venv/bin/python bench/downtime.py [--hops 30] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import _lab

GUEST = "dt1"
DIRTY_MB = 4
PINGPONG = os.path.join(_lab.ROOT, "bench", "pingpong.yml")


def figures(values):
    return {"p50": _lab.percentile(values, 50), "p99": _lab.percentile(values, 99), "max": max(values),
            "mean": round(statistics.mean(values))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hops", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="10 hops")
    args = parser.parse_args()
    hops = 10 if args.quick else args.hops
    with _lab.lab_up():
        _lab.add_guests([GUEST], DIRTY_MB)
        try:
            dirty = _lab.dirty_rate(GUEST, DIRTY_MB)
            watch = _lab.GuestWatch(GUEST, source=1)
            watch.start()
            whole, _started, times = _lab.playbook(PINGPONG, "hv1", {"pingpong_vm": GUEST, "pingpong_hosts": ["hv1", "hv2"],
                                                                     "pingpong_hops": hops}, keep=["drover.libvirt.migrate"])
            observed = watch.stop()["pauses_ms"]
            alive = _lab.alive(GUEST)
        finally:
            _lab.remove_guests([GUEST])
    results = times["results"][0]["result"]["results"]
    failed = [r for r in results if r.get("failed") or not r.get("metrics")]
    if failed:
        raise SystemExit("%d of %d migrations failed: %s" % (len(failed), len(results), failed[0].get("msg")))
    downtimes = [r["metrics"]["downtime_ms"] for r in results]
    knobs = results[0]["convergence"]["knobs"]
    # The limit in force when the hop completed: the last downtime step the policy set, as configured (QEMU
    # was given it minus the switch-over cost learned for the host pair, see _switchover.py).
    steps = [len([d for d in r.get("decisions", []) if d.get("action") == "set_downtime"]) for r in results]
    limits = [r["convergence"]["downtime_schedule"][n - 1][1] if n else None for r, n in zip(results, steps)]
    estimated = [r["metrics"].get("estimated_pause_ms") for r in results]
    switchover = [r["convergence"].get("switchover_ms", 0) for r in results]
    over = sum(1 for dt, lim in zip(downtimes, limits) if lim is not None and dt > lim)
    durations = [r["metrics"]["duration_ms"] for r in results]
    downtime = dict({"%s_ms" % k: v for k, v in figures(downtimes).items()},
                    migrations=len(results), preset="balanced", limit_ms=knobs["max_downtime_ms"],
                    initial_limit_ms=knobs["initial_downtime_ms"], limit_at_completion_ms=figures([x for x in limits if x]),
                    over_limit_at_completion=over, over_limit_ms=sum(1 for dt in downtimes if dt > knobs["max_downtime_ms"]),
                    duration_ms=figures(durations), iterations=figures([r["metrics"]["memory_iterations"] for r in results]),
                    observed_pause_ms=figures(observed) if observed else None, observed_pauses=len(observed),
                    estimated_pause_ms=figures([e for e in estimated if e is not None]) if any(estimated) else None,
                    switchover_ms=figures(switchover), all_estimated_ms=estimated,
                    guest_memory_mib=_lab.GUEST_MEMORY_MIB, guest_dirty_mib_per_turn=DIRTY_MB, guest_dirty_mib_s_measured=dirty,
                    link_rate_mbit=_lab.LINK_BPS // 1000000,
                    playbook_s=whole, alive_after=alive, all_ms=downtimes, conditions=_lab.conditions())
    print()
    print("%d live migrations hv1 <-> hv2 by drover.libvirt.migrate (balanced), guest %d MiB dirtying %s MiB/s, "
          "link capped at %d Mbit/s" % (len(results), _lab.GUEST_MEMORY_MIB, dirty, _lab.LINK_BPS // 1000000))
    print(_lab.table(["", "p50 ms", "p99 ms", "max ms", "mean ms"], [
        ["downtime_ms (libvirt)", downtime["p50_ms"], downtime["p99_ms"], downtime["max_ms"], downtime["mean_ms"]],
        ["guest on no host (sampled)"] + ([observed and figures(observed)[k] for k in ("p50", "p99", "max", "mean")]
                                          if observed else ["", "", "", ""]),
        ["estimated pause (QEMU limit + switch-over)"] + ([downtime["estimated_pause_ms"][k] for k in ("p50", "p99", "max", "mean")]
                                                          if downtime["estimated_pause_ms"] else ["", "", "", ""]),
        ["switch-over cost planned with"] + [downtime["switchover_ms"][k] for k in ("p50", "p99", "max", "mean")],
        ["migration (duration_ms)"] + [downtime["duration_ms"][k] for k in ("p50", "p99", "max", "mean")]]))
    print("limit: stepped %s -> %s ms (balanced); over the limit in force at completion: %d of %d; over %s ms: %d"
          % (downtime["initial_limit_ms"], downtime["limit_ms"], over, len(results), downtime["limit_ms"], downtime["over_limit_ms"]))
    _lab.write_section("downtime", downtime)


if __name__ == "__main__":
    sys.exit(main())
