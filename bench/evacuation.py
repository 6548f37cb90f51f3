# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drain a host of 8 guests over a capped link: drover.libvirt's evacuation beside a naive loop.

On the lab (every host's outbound link capped at _lab.LINK_RATE with tc), hv1 holds 8 running
guests of 128 MiB that rewrite 4 MiB of their RAM per turn of their loop (about every second). In one run, alternately (drover,
naive, auto, then auto, naive, drover, ...: the order cancels a drift of the machine's load):

- drover: `ansible-playbook playbooks/evacuate.yml -l hv1` (default caps 2/2/1, the lab's
  liveness probe as verification). efficiency = (bytes moved / link rate) / makespan of the moves
  (first start to last end, from evacuation.json); whole_run_s = the playbook's wall time.
- naive: `ansible-playbook bench/naive_evacuate.yml -l hv1`, a plain loop of `virsh migrate --live
  --p2p --persistent --undefinesource`, one guest after another (naive_s = its wall time).
- auto: the drover run again with `evacuate_convergence=auto` ("auto" in the results).

Between runs the guests go back to hv1 and its maintenance mark is cleared (not measured). Both
sides run with the same cap. The overhead part comes from the same drover runs: the per-VM time
beyond the libvirt job (move_domains' wall_ms - job_ms) and the play's fixed time, per phase of
the role, from a callback that records when each task started (bench/callback_plugins).

Prints tables and writes "evacuation" and "overhead" in bench/results.json (other keys kept).
Judges nothing. Run as root from the checkout: .venv/bin/python bench/evacuation.py [--rounds 2] [--quick]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile

import _lab

EVACUATE = os.path.join(_lab.ROOT, "playbooks", "evacuate.yml")
NAIVE = os.path.join(_lab.ROOT, "bench", "naive_evacuate.yml")
BASELINE = os.path.join(_lab.ROOT, "bench", "task_baseline.yml")
GUESTS = ["ev%d" % i for i in range(1, 9)]
DIRTY_MB = 4
# Phases of the evacuate role, by the task file a task comes from (roles/ROLE/tasks/FILE).
PHASES = [
    ("evacuate/move.yml", "move (move_domains)"),
    ("verify/alive.yml", "verify: guest probes"),
    ("verify/", "verify: read hosts, placement"),
    ("evacuate/verify.yml", "verify: read hosts, placement"),
    ("preflight/facts.yml", "read the hosts (fleet_info)"),
    ("preflight/check.yml", "preflight checks"),
    ("preflight/", "preflight: inputs, report"),
    ("evacuate/plan.yml", "plan"),
    ("evacuate/check_and_plan.yml", "plan"),
    ("evacuate/report.yml", "reports, maintenance mark"),
    ("evacuate/start.yml", "start (run id, report 'running')"),
    ("evacuate/mark.yml", "mark draining"),
    ("evacuate/", "inputs and checks"),
]


# Tasks that run no module: the controller alone does them.
CONTROLLER_ACTIONS = {"set_fact", "assert", "debug", "fail", "meta", "set_stats", "include_tasks", "include_role",
                      "import_role", "validate_argument_spec", "include_vars"}


def _time(text):
    return datetime.datetime.fromisoformat(text).timestamp()


def phase_of(task):
    path = (task.get("path") or "").split(":")[0]
    if "/roles/" not in path:
        return "other"
    role, _tasks, name = path.split("/roles/")[-1].split("/", 2)
    key = "%s/%s" % (role, name)
    for prefix, phase in PHASES:
        if key.startswith(prefix):
            return phase
    return "other"


def phases(times, started, whole):
    """Seconds per phase of the play, plus Ansible's start-up before the first task and its exit."""
    out = {"ansible start-up (before the first task)": times["tasks"][0]["start"] - started if times["tasks"] else 0,
           "ansible exit (after the last task)": started + whole - times["end"]}
    for task in times["tasks"]:
        phase = phase_of(task)
        out[phase] = out.get(phase, 0) + task["end"] - task["start"]
    return {k: round(v, 2) for k, v in out.items()}


def task_costs(times):
    """Seconds of the tasks outside the move, by kind: run a module, controller only, skipped."""
    kinds = {}
    for task in times["tasks"]:
        if phase_of(task) == "move (move_domains)":
            continue
        if not task["ran"]:
            kind = "skipped (condition false)"
        elif task["action"].split(".")[-1] in CONTROLLER_ACTIONS:
            kind = "controller only (set_fact, assert, debug, include)"
        else:
            kind = "a module on a host or on localhost"
        kinds.setdefault(kind, []).append(task["end"] - task["start"])
    return {kind: {"tasks": len(s), "s": round(sum(s), 2), "median_s": round(statistics.median(s), 2)}
            for kind, s in kinds.items()}


def task_baseline():
    """Median seconds of one task of each kind in a play that holds nothing else (bench/task_baseline.yml)."""
    with tempfile.TemporaryDirectory() as scratch:
        _whole, _started, times = _lab.playbook(BASELINE, "hv1", {"baseline_dir": scratch})
    kinds = {"command": "a command on the host", "stat": "stat on localhost", "copy": "copy to localhost",
             "set_fact": "set_fact (controller only)"}
    seconds = {}
    for task in times["tasks"]:
        kind = kinds.get(task["action"].split(".")[-1])
        if kind:
            seconds.setdefault(kind, []).append(task["end"] - task["start"])
    return {kind: round(statistics.median(s), 2) for kind, s in seconds.items()}


def drover_run(convergence="balanced"):
    with tempfile.TemporaryDirectory() as reports:
        extra = {"evacuate_copy_storage": False, "evacuate_report_dir": reports, "evacuate_convergence": convergence,
                 "evacuate_verify_probe_command": os.path.join(_lab.ROOT, "lab", "alive")}
        whole, started, times = _lab.playbook(EVACUATE, "hv1", extra)
        with open(os.path.join(reports, "evacuation.json"), encoding="utf-8") as f:
            report = json.load(f)
    moved = [r for r in report["results"] if r["status"] == "migrated"]
    if len(moved) != len(GUESTS):
        raise SystemExit("the evacuation moved %d of %d guests" % (len(moved), len(GUESTS)))
    first, last = min(_time(r["started_at"]) for r in moved), max(_time(r["finished_at"]) for r in moved)
    per_vm = [{"name": r["name"], "to": r["to"], "bytes": r["bytes"], "wall_ms": r["wall_ms"], "job_ms": r["job_ms"],
               "overhead_ms": r["overhead_ms"], "downtime_ms": r["downtime_ms"], "duration_ms": r["duration_ms"]}
              for r in moved]
    slowest = sorted(times["tasks"], key=lambda t: t["start"] - t["end"])[:10]
    return {"whole_run_s": whole, "makespan_s": round(last - first, 2), "bytes": sum(r["bytes"] for r in moved),
            "phases_s": phases(times, started, whole), "per_vm": per_vm, "task_costs": task_costs(times),
            "slowest_tasks": [{"task": t["name"], "file": phase_of(t), "s": round(t["end"] - t["start"], 2)} for t in slowest]}


def naive_run():
    whole, _started, times = _lab.playbook(NAIVE, "hv1", {}, keep=["ansible.builtin.command"])
    loop = [r["result"] for r in times["results"] if r["task"].startswith("Migrate each")][0]["results"]
    per_vm = []
    for item in loop:
        dest = int(item["cmd"][-1].split("//")[1].split("/")[0].rsplit(".", 1)[1])  # qemu+ssh://NET.N/system
        job = _lab.completed_job(item["item"], dest)
        per_vm.append({"name": item["item"], "to": "hv%d" % dest, "bytes": job.get("data_processed"),
                       "start": _time(item["start"]), "end": _time(item["end"]), "job_ms": job.get("time_elapsed"),
                       "downtime_ms": job.get("downtime")})
    if len(per_vm) != len(GUESTS) or any(v["bytes"] is None for v in per_vm):
        raise SystemExit("the naive loop moved %d of %d guests" % (len(per_vm), len(GUESTS)))
    per_vm.sort(key=lambda v: v["start"])
    # Between two migrations the link carries nothing: Ansible's per-item cost.
    gaps = [round((b["start"] - a["end"]) * 1000) for a, b in zip(per_vm, per_vm[1:])]
    for vm in per_vm:
        vm["wall_ms"] = round((vm.pop("end") - vm.pop("start")) * 1000)
    makespan = sum(v["wall_ms"] for v in per_vm) / 1000.0 + sum(gaps) / 1000.0
    return {"whole_run_s": whole, "makespan_s": round(makespan, 2), "bytes": sum(v["bytes"] for v in per_vm),
            "per_vm": per_vm, "gaps_between_moves_ms": gaps}


def efficiency(run):
    return round(run["bytes"] * 8.0 / _lab.LINK_BPS / run["makespan_s"], 3)


def one(kind):
    if [g for g in GUESTS if _lab.running_on(g) != [1]]:
        _lab.bring_home(GUESTS)
    _lab.clear_marks()
    run = drover_run() if kind == "drover" else drover_run("auto") if kind == "auto" else naive_run()
    if kind == "drover":
        run["task_baseline_s"] = task_baseline()
    run.update(kind=kind, efficiency=efficiency(run), conditions=_lab.conditions())
    dead = [g for g in GUESTS if 1 in _lab.running_on(g) or not _lab.alive(g)]
    if dead:
        raise SystemExit("after the %s run these guests are not alive off hv1: %s" % (kind, ", ".join(dead)))
    print("%-6s whole run %6.1f s, moves %5.1f s, %5.1f MiB, efficiency %.2f" % (
        kind, run["whole_run_s"], run["makespan_s"], run["bytes"] / 1048576.0, run["efficiency"]), flush=True)
    return run


def warm_and_calibrate():
    """Mbit/s one migration stream reaches with hv1's cap lifted, i.e. where the CPUs bound it.

    Also warms hv2 and hv3: the first migration into a host waits for its QEMU to be probed.
    """
    _lab.lab("shape", "hv1", "--clear")
    rates = []
    try:
        for dest, name in ((2, GUESTS[0]), (3, GUESTS[1])):
            _lab.migrate(name, 1, dest, live=True)
            # QEMU's transfer rate at the end of the job (the job's time also holds the destination's start).
            rates.append(_lab.completed_job(name, dest)["memory_bps"] * 8.0 / 1e6)
    finally:
        _lab.shape_links()
    _lab.bring_home(GUESTS)
    return round(statistics.mean(rates))


def mean(values):
    return round(statistics.mean(values), 3)


def summarize(runs):
    drover = [r for r in runs if r["kind"] == "drover"]
    naive = [r for r in runs if r["kind"] == "naive"]
    whole, naive_s = mean([r["whole_run_s"] for r in drover]), mean([r["whole_run_s"] for r in naive])
    evacuation = {
        "guests": len(GUESTS), "guest_memory_mib": _lab.GUEST_MEMORY_MIB, "guest_dirty_mib_per_turn": DIRTY_MB,
        "link_rate_mbit": _lab.LINK_BPS // 1000000, "caps": "evacuate defaults: max_parallel 2, max_per_source 2, max_per_destination 1",
        "order": [r["kind"] for r in runs],
        "efficiency": mean([r["efficiency"] for r in drover]), "whole_run_s": whole,
        "makespan_s": mean([r["makespan_s"] for r in drover]), "bytes_moved": int(mean([r["bytes"] for r in drover])),
        "naive_s": naive_s, "naive_makespan_s": mean([r["makespan_s"] for r in naive]),
        "naive_efficiency": mean([r["efficiency"] for r in naive]), "speedup": round(naive_s / whole, 2),
        "moves_speedup": round(mean([r["makespan_s"] for r in naive]) / mean([r["makespan_s"] for r in drover]), 2),
        "runs": [{k: v for k, v in r.items() if k not in ("per_vm", "phases_s", "slowest_tasks", "task_costs", "task_baseline_s")}
                 for r in runs],
    }
    auto = [r for r in runs if r["kind"] == "auto"]
    if auto:
        # The same drain with evacuate_convergence=auto (each guest by its dirty rate against its share of the link).
        evacuation["auto"] = {"whole_run_s": mean([r["whole_run_s"] for r in auto]),
                              "makespan_s": mean([r["makespan_s"] for r in auto]),
                              "bytes_moved": int(mean([r["bytes"] for r in auto])),
                              "efficiency": mean([r["efficiency"] for r in auto]),
                              "speedup": round(naive_s / mean([r["whole_run_s"] for r in auto]), 2),
                              "downtime_ms_max": max(vm["downtime_ms"] or 0 for r in auto for vm in r["per_vm"])}
    vms = [vm for r in drover for vm in r["per_vm"]]
    overheads = [vm["overhead_ms"] for vm in vms]
    phase_names = sorted({p for r in drover for p in r["phases_s"]}, key=lambda p: -mean([r["phases_s"].get(p, 0) for r in drover]))
    phase_means = {p: round(mean([r["phases_s"].get(p, 0) for r in drover]), 2) for p in phase_names}
    move = phase_means.get("move (move_domains)", 0)
    naive_gaps = [g for r in naive for g in r["gaps_between_moves_ms"]]
    naive_extra = [vm["wall_ms"] - vm["job_ms"] for r in naive for vm in r["per_vm"]]
    overhead = {
        "per_vm_overhead_ms": {"mean": round(mean(overheads)), "p50": _lab.percentile(overheads, 50), "max": max(overheads),
                               "n": len(overheads)},
        "per_vm_job_ms_mean": round(mean([vm["job_ms"] for vm in vms])),
        "per_vm": drover[-1]["per_vm"],
        "fixed_s": round(whole - move, 2), "move_phase_s": move, "phases_s": phase_means,
        "slowest_tasks": drover[-1]["slowest_tasks"], "task_costs": drover[-1]["task_costs"],
        "task_baseline_s": drover[-1]["task_baseline_s"],
        "naive_per_vm_beyond_job_ms_mean": round(mean(naive_extra)),
        "naive_gap_between_moves_ms_mean": round(mean(naive_gaps)),
    }
    return evacuation, overhead


def report(evacuation, overhead):
    print()
    print("Drain hv1 of %d guests (%d MiB, %d MiB rewritten per turn: %s MiB/s), every link capped at %d Mbit/s (tc)"
          % (evacuation["guests"], evacuation["guest_memory_mib"], evacuation["guest_dirty_mib_per_turn"],
             evacuation["guest_dirty_mib_s_measured"], evacuation["link_rate_mbit"]))
    print(_lab.table(["", "whole run s", "moves s", "MiB moved", "efficiency"], [
        ["drover.libvirt evacuate.yml", evacuation["whole_run_s"], evacuation["makespan_s"],
         round(evacuation["bytes_moved"] / 1048576.0, 1), evacuation["efficiency"]],
        ["naive virsh loop", evacuation["naive_s"], evacuation["naive_makespan_s"], "", evacuation["naive_efficiency"]]]
        + ([["drover.libvirt evacuate.yml, convergence auto", evacuation["auto"]["whole_run_s"],
             evacuation["auto"]["makespan_s"], round(evacuation["auto"]["bytes_moved"] / 1048576.0, 1),
             evacuation["auto"]["efficiency"]]] if "auto" in evacuation else [])))
    print("one migration stream without the cap reached %s Mbit/s (the CPUs' bound)" % evacuation["uncapped_stream_mbit"])
    print("speedup (naive / drover, whole run): %.2f; moves only: %.2f" % (evacuation["speedup"], evacuation["moves_speedup"]))
    print()
    print("Per VM beyond the libvirt job (move_domains wall_ms - job_ms): mean %(mean)s ms, p50 %(p50)s ms, max %(max)s ms"
          % overhead["per_vm_overhead_ms"])
    print("naive loop: virsh beyond the job %s ms per VM, Ansible between two moves %s ms"
          % (overhead["naive_per_vm_beyond_job_ms_mean"], overhead["naive_gap_between_moves_ms_mean"]))
    print("Fixed time of the play (whole run - move): %.1f s; per phase (mean of the drover runs):" % overhead["fixed_s"])
    print(_lab.table(["phase", "s"], list(overhead["phases_s"].items())))
    print("Tasks outside the move, by kind (last drover run):")
    print(_lab.table(["kind", "tasks", "s", "median s"], [[k, v["tasks"], v["s"], v["median_s"]]
                                                          for k, v in overhead["task_costs"].items()]))
    print("The same kinds of task in a play of nothing else, right after (median s): %s"
          % ", ".join("%s %s" % kv for kv in overhead["task_baseline_s"].items()))
    print("Slowest tasks (last drover run):")
    print(_lab.table(["task", "phase", "s"], [[t["task"][:70], t["file"], t["s"]] for t in overhead["slowest_tasks"]]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="drover runs and naive runs each (default 2)")
    parser.add_argument("--quick", action="store_true", help="one run each")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    with _lab.lab_up():
        _lab.add_guests(GUESTS, DIRTY_MB)
        try:
            dirty = _lab.dirty_rate(GUESTS[0], DIRTY_MB)
            uncapped = warm_and_calibrate()
            order = [("drover", "naive", "auto") if i % 2 == 0 else ("auto", "naive", "drover") for i in range(rounds)]
            runs = [one(kind) for pair in order for kind in pair]
        finally:
            _lab.remove_guests(GUESTS)
    evacuation, overhead = summarize(runs)
    evacuation.update(uncapped_stream_mbit=uncapped, guest_dirty_mib_s_measured=dirty)
    report(evacuation, overhead)
    _lab.write_section("evacuation", evacuation)
    _lab.write_section("overhead", overhead)


if __name__ == "__main__":
    sys.exit(main())
