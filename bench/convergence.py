# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A guest that dirties memory faster than the link: plain virsh against each convergence preset.

On the lab (every host's outbound link capped at _lab.LINK_RATE with tc), guest cv1 (128 MiB)
rewrites 24 MiB of its RAM per turn of its loop (a turn is a second plus the copy; measured from
its heartbeats, 17-22 MiB/s here), 1.5 to 2 times what the link carries. It is migrated from
hv1 to hv2, once per method, and brought back between methods (not measured):

- virsh: `virsh migrate --live --p2p --persistent --undefinesource --timeout T` run on hv1, where
  T is the completion timeout the presets derive for this guest (virsh suspends the guest at T);
- each preset of drover.libvirt.migrate's `convergence` (plugins/module_utils/_convergence.py),
  with its defaults, run as one ad-hoc `drover.libvirt.migrate` task on hv1.

Per method: completed or not, the time from the destination's prepare step to the end (sampled
every 25 ms through each host's libvirt socket, the same for every method), the longest pause
the guest saw (the time it ran on no host), libvirt's downtime figure, the dirty rate and
bandwidth libvirt reported (its dirty rate cannot exceed the bandwidth: it is what one round found
dirty over that round's length), the highest auto-converge throttle, the longest turn of the
guest's loop in its own time (a throttled guest crawls without being paused: its normal turn is
a second and a little), and that the guest still runs with the same boot afterwards.

Prints a table and writes "convergence" in bench/results.json (other keys kept). Judges nothing.
Run as root from the checkout: .venv/bin/python bench/convergence.py [--quick]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import _lab

GUEST = "cv1"
DIRTY_MB = 24
PRESETS = ("auto", "balanced", "minimal_downtime", "postcopy", "suspend_if_needed", "none")
QUICK_PRESETS = ("auto", "balanced")


def virsh_run(timeout_s):
    cmd = ["exec", "hv1", "--", "virsh", "migrate", "--live", "--p2p", "--persistent", "--undefinesource",
           "--timeout", str(timeout_s), GUEST, "qemu+ssh://%s/system" % _lab.host_ips()["hv2"]]
    proc = subprocess.run([_lab.LAB] + cmd, text=True, capture_output=True, check=False)
    completed = proc.returncode == 0
    job = _lab.completed_job(GUEST, 2) if completed else {}
    return {"completed": completed, "downtime_ms": job.get("downtime"), "postcopy": False,
            "how": ("suspended at the %d s timeout" % timeout_s if job.get("time_elapsed", 0) >= timeout_s * 1000
                    else "converged in pre-copy") if completed else "failed: " + (proc.stderr.strip() or "?")[-200:]}


def how(result):
    """What the convergence policy did, from the module's decisions."""
    acted = [d for d in result.get("decisions", []) if d.get("action") in ("postcopy", "pause", "abort") and d.get("ok", True)]
    steps = [d for d in result.get("decisions", []) if d.get("action") == "set_downtime"]
    text = ", ".join("%s at %.0f s (%s)" % (d["action"], d.get("t_s", 0), d.get("reason", "")) for d in acted)
    if not text:
        text = "converged in pre-copy"
    if steps:
        text += "; downtime limit %s ms" % "/".join(str(d["value"]) for d in steps)
    return text


def drover_run(preset):
    result = _lab.adhoc("hv1", "drover.libvirt.migrate", {"name": GUEST, "dest": "hv2", "convergence": preset})["hv1"]
    metrics = result.get("metrics") or {}
    return {"completed": not result.get("failed") and bool(metrics), "downtime_ms": metrics.get("downtime_ms"),
            "postcopy": bool(metrics.get("postcopy")), "how": how(result),
            "timeout_s": (result.get("convergence") or {}).get("timeout_s")}


def measure(method, timeout_s):
    if _lab.running_on(GUEST) != [1]:
        _lab.bring_home([GUEST])
    time.sleep(3)  # the guest back to its own pace after the move home
    before = _lab.heartbeat(GUEST)
    watch = _lab.GuestWatch(GUEST, source=1)
    watch.start()
    started = time.monotonic()
    entry = virsh_run(timeout_s) if method == "virsh" else drover_run(method)
    tool_s = round(time.monotonic() - started, 1)
    seen = watch.stop()
    time.sleep(3)  # a heartbeat or two after the move, to close the last turn
    turn = _lab.turns(GUEST, before)
    entry.update(method=method if method == "virsh" else "drover " + method, time_s=seen["time_s"], tool_s=tool_s,
                 pause_ms=max(seen["pauses_ms"] or [0]), pauses=len(seen["pauses_ms"]), dirty_mib_s=seen["dirty_mib_s"],
                 throttle_pct_max=seen["throttle_pct_max"], longest_turn_s=turn["longest_s"], median_turn_s=turn["median_s"],
                 bandwidth_mib_s=seen["bandwidth_mib_s"], alive=_lab.alive(GUEST), where="hv%s" % _lab.running_on(GUEST))
    print("%-26s %-9s %7s s  pause %6s ms  %s" % (
        entry["method"], "completed" if entry["completed"] else "NOT DONE", entry["time_s"], entry["pause_ms"], entry["how"]),
        flush=True)
    return entry


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="virsh, balanced and postcopy only")
    args = parser.parse_args()
    presets = QUICK_PRESETS if args.quick else PRESETS
    with _lab.lab_up():
        _lab.add_guests([GUEST], DIRTY_MB)
        try:
            dirty = _lab.dirty_rate(GUEST, DIRTY_MB)
            # The presets derive the completion timeout from the guest's size; the first drover run
            # says which, and virsh gets the same.
            entries = [measure(presets[0], None)]
            timeout_s = int(entries[0]["timeout_s"])
            entries.append(measure("virsh", timeout_s))
            entries += [measure(p, timeout_s) for p in presets[1:]]
        finally:
            _lab.remove_guests([GUEST])
    entries.sort(key=lambda e: (e["method"] != "virsh", e["method"]))
    print()
    print("Guest of %d MiB rewriting %d MiB per turn of its loop, %.1f MiB/s measured; link capped at %d Mbit/s "
          "(%.1f MiB/s); virsh --timeout %d s" % (_lab.GUEST_MEMORY_MIB, DIRTY_MB, dirty, _lab.LINK_BPS // 1000000,
                                                  _lab.LINK_BPS / 8.0 / 1048576, timeout_s))
    print(_lab.table(["method", "completed", "time s", "longest pause ms", "libvirt downtime ms", "post-copy",
                      "dirty MiB/s", "link MiB/s", "throttle %", "longest turn s", "alive", "what happened"],
                     [[e["method"], e["completed"], e["time_s"], e["pause_ms"], e["downtime_ms"], e["postcopy"],
                       e["dirty_mib_s"], e["bandwidth_mib_s"], e["throttle_pct_max"], e["longest_turn_s"], e["alive"],
                       e["how"]] for e in entries]))
    _lab.write_section("convergence", entries)
    _lab.write_section("convergence_setup", {
        "guest_memory_mib": _lab.GUEST_MEMORY_MIB, "guest_dirty_mib_per_turn": DIRTY_MB,
        "guest_dirty_mib_s_measured": dirty, "link_rate_mbit": _lab.LINK_BPS // 1000000,
        "virsh_timeout_s": timeout_s, "conditions": _lab.conditions(),
        "time_s": "from the destination's prepare step to the end of the migration (sampled every 25 ms)",
        "pause_ms": "longest time the guest ran on no host (sampled every 25 ms)",
        "longest_turn_s": "longest turn of the guest's loop (sleep 1 s, rewrite its working set) in its own time, "
                          "from its heartbeats: how much a throttle slowed it"})


if __name__ == "__main__":
    sys.exit(main())
