# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn bench/results.json into bench/results.png (a chart) and the figures of docs/performance.md.

Reads the sections evacuation, overhead, convergence and downtime (bench/evacuation.py,
convergence.py, downtime.py), draws one panel each, rewrites the part of docs/performance.md
between its "bench:begin" and "bench:end" markers, and sets results.json's timings_note (whether
other work shared the CPUs while the figures were taken). Needs no lab: .venv/bin/python bench/report.py
"""

from __future__ import annotations

import json
import os
import sys

import _png

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results.json")
CHART = os.path.join(ROOT, "bench", "results.png")
DOC = os.path.join(ROOT, "docs", "performance.md")
BEGIN, END = "<!-- bench:begin (written by bench/report.py) -->", "<!-- bench:end -->"

INK, GREY, LIGHT = (30, 30, 30), (120, 120, 120), (225, 225, 225)
GREEN, BLUE, ORANGE, RED = (46, 139, 87), (52, 101, 164), (230, 145, 56), (200, 50, 50)


# --- chart ----------------------------------------------------------------------------------------

def hbars(canvas, box, title, rows, unit, mark=None):
    """Horizontal bars in box (x, y, w, h): rows of (label, value, color, note); mark: (value, label) line."""
    x, y, w, h = box
    canvas.text(x, y, title, INK)
    label_w = max(canvas.text_width(r[0]) for r in rows) + 12
    top, bar_h = y + 30, min(34, (h - 50) // max(1, len(rows)))
    limit = max([r[1] or 0 for r in rows] + [mark[0] if mark else 0]) * 1.15 or 1
    scale = (w - label_w - 10) / limit
    for i, (label, value, color, note) in enumerate(rows):
        ry = top + i * bar_h
        canvas.text(x, ry + (bar_h - 14) // 2, label, INK)
        canvas.rect(x + label_w, ry + 3, x + label_w + (value or 0) * scale, ry + bar_h - 3, color)
        canvas.text(x + label_w + (value or 0) * scale + 6, ry + (bar_h - 14) // 2, note, GREY, scale=2)
    base = top + len(rows) * bar_h
    canvas.hline(x + label_w, x + w - 10, base + 2, GREY)
    canvas.text(x + label_w, base + 8, "0", GREY)
    canvas.text(x + w - 10 - canvas.text_width("%.0f %s" % (limit, unit)), base + 8, "%.0f %s" % (limit, unit), GREY)
    if mark:
        mx = x + label_w + mark[0] * scale
        for dash in range(top - 4, base + 2, 8):
            canvas.vline(mx, dash, dash + 4, RED, 2)
        canvas.text(min(mx + 4, x + w - canvas.text_width(mark[1])), top - 18, mark[1], RED)


def downtime_panel(canvas, box, downtime):
    """Every migration's downtime, sorted, as columns; the limit as a dashed line."""
    x, y, w, h = box
    values = sorted(downtime["all_ms"])
    canvas.text(x, y, "DOWNTIME OF %d MIGRATIONS (MS)" % len(values), INK)
    left, top, bottom = x + 70, y + 50, y + h - 40
    peak = max(values + [downtime["limit_ms"]]) * 1.15
    scale = (bottom - top) / peak
    col = (x + w - 10 - left) / len(values)
    for i, value in enumerate(values):
        cx = left + i * col
        canvas.rect(cx + 1, bottom - value * scale, cx + col - 1, bottom, ORANGE if value > downtime["limit_ms"] else BLUE)
    canvas.hline(left, x + w - 10, bottom, GREY)
    canvas.text(left - 20, bottom - 7, "0", GREY)
    ly = bottom - downtime["limit_ms"] * scale
    for dash in range(left, x + w - 10, 10):
        canvas.hline(dash, dash + 5, ly - 1, RED, 3)
    canvas.text(x, ly - 7, "%d" % downtime["limit_ms"], RED)
    canvas.text(x, bottom - downtime["max_ms"] * scale - 7, "%d" % downtime["max_ms"], INK)
    canvas.text(left, bottom + 10, "P50 %d  P99 %d  MAX %d; LIMIT %d (RED)" % (
        downtime["p50_ms"], downtime["p99_ms"], downtime["max_ms"], downtime["limit_ms"]), GREY)


def chart(results):
    canvas = _png.Canvas(1400, 980)
    ev, ov, conv, dt = results["evacuation"], results["overhead"], results["convergence"], results["downtime"]
    link = ev["bytes_moved"] * 8.0 / (results["link_rate_mbit"] * 1e6)
    canvas.text(20, 14, "DROVER.LIBVIRT ON THE LAB, %s: EVERY LINK CAPPED AT %d MBIT/S (TC); %s, TCG"
                % (ev["measured_at"][:10], results["link_rate_mbit"], results["machine"]), INK, scale=2)
    loads = [r["conditions"]["load_1min"] for r in ev["runs"]]
    canvas.text(20, 36, "TIMES INCLUDE THE LOAD OF OTHER WORK ON THE SAME CPUS: 1-MINUTE LOAD %s TO %s DURING THE EVACUATION"
                % (min(loads), max(loads)), GREY)
    hbars(canvas, (20, 70, 660, 300), "DRAIN 8 GUESTS (S)", [
        ("DROVER WHOLE RUN", ev["whole_run_s"], BLUE, "%.0f" % ev["whole_run_s"]),
        ("DROVER MOVES", ev["makespan_s"], GREEN, "%.0f  EFF %.2f" % (ev["makespan_s"], ev["efficiency"])),
        ("NAIVE WHOLE RUN", ev["naive_s"], ORANGE, "%.0f" % ev["naive_s"]),
        ("NAIVE MOVES", ev["naive_makespan_s"], ORANGE, "%.0f  EFF %.2f" % (ev["naive_makespan_s"], ev["naive_efficiency"])),
    ], "S", mark=(link, "LINK BOUND %.0f" % link))
    phases = sorted(ov["phases_s"].items(), key=lambda kv: -kv[1])[:9]
    hbars(canvas, (720, 70, 660, 380), "DROVER WHOLE RUN BY PHASE (S)", [
        (name.split(" (")[0][:29], s, GREEN if name.startswith("move") else BLUE, "%.1f" % s) for name, s in phases], "S")
    rows = []
    for entry in conv:
        note = ("%s  PAUSE %d MS" % ("DONE" if entry["completed"] else "NOT DONE", entry["pause_ms"]))
        rows.append((entry["method"].replace("drover ", "")[:18], entry["time_s"], GREEN if entry["completed"] else RED, note))
    hbars(canvas, (20, 480, 660, 440), "GUEST DIRTYING FASTER THAN THE LINK (S)", rows, "S")
    downtime_panel(canvas, (720, 480, 660, 440), dt)
    canvas.save(CHART)


# --- docs -----------------------------------------------------------------------------------------

def md_table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _h in headers) + "|"]
    lines += ["| " + " | ".join("" if c is None else str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def figures_md(results):
    ev, ov, conv, dt = results["evacuation"], results["overhead"], results["convergence"], results["downtime"]
    setup = results.get("convergence_setup", {})
    mib = ev["bytes_moved"] / 1048576.0
    link_s = ev["bytes_moved"] * 8.0 / (results["link_rate_mbit"] * 1e6)
    loads = sorted({r["conditions"]["load_1min"] for r in ev["runs"]})
    others = sorted({lab for r in ev["runs"] for lab in r["conditions"]["other_labs"]})
    out = [
        "Measured %s on %s under TCG; every lab host's outbound link capped at **%d Mbit/s** (tc). One "
        "migration stream without the cap reached %s Mbit/s (%s). While the evacuation ran, the 1-minute "
        "load was %s and %s other lab(s) shared the two CPUs (%s): the times below include that contention."
        % (ev["measured_at"][:10], results["machine"], results["link_rate_mbit"], ev["uncapped_stream_mbit"],
           "above the cap" if ev["uncapped_stream_mbit"] > results["link_rate_mbit"] else "below the cap: the CPUs bound it",
           "%s to %s" % (loads[0], loads[-1]), len(others), ", ".join(others) or "none"),
        "",
        "**Evacuation** of %d guests (%d MiB each, rewriting %s MiB/s) from hv1, runs in the order %s:"
        % (ev["guests"], ev["guest_memory_mib"], ev["guest_dirty_mib_s_measured"], ", ".join(ev["order"])),
        "",
        md_table(["", "whole run (s)", "moves, first start to last end (s)", "MiB moved", "efficiency"], [
            ["drover.libvirt `playbooks/evacuate.yml -l hv1`", "%.1f" % ev["whole_run_s"], "%.1f" % ev["makespan_s"],
             "%.0f" % mib, "%.2f" % ev["efficiency"]],
            ["naive loop `bench/naive_evacuate.yml`", "%.1f" % ev["naive_s"], "%.1f" % ev["naive_makespan_s"], "",
             "%.2f" % ev["naive_efficiency"]]]
            + ([["drover.libvirt, `evacuate_convergence=auto`", "%.1f" % ev["auto"]["whole_run_s"],
                 "%.1f" % ev["auto"]["makespan_s"], "%.0f" % (ev["auto"]["bytes_moved"] / 1048576.0),
                 "%.2f" % ev["auto"]["efficiency"]]] if "auto" in ev else [])),
        "",
        "speedup (naive / drover, whole run): **%.2f**; moves alone: %.2f. The link alone needs %.0f s for "
        "these bytes.%s" % (ev["speedup"], ev["moves_speedup"], link_s,
                            " With `auto`: speedup **%.2f**, longest libvirt downtime %d ms."
                            % (ev["auto"]["speedup"], ev["auto"]["downtime_ms_max"]) if "auto" in ev else ""),
        "",
        "**Overhead.** Per VM beyond the libvirt job (`move_domains` wall_ms - job_ms, %d moves): mean %d ms, "
        "p50 %d ms, max %d ms (the naive loop: virsh %d ms beyond the job, and %d ms of Ansible between two "
        "moves). Fixed time of the play (whole run - move step): **%.1f s**. The whole run by phase:"
        % (ov["per_vm_overhead_ms"]["n"], ov["per_vm_overhead_ms"]["mean"], ov["per_vm_overhead_ms"]["p50"],
           ov["per_vm_overhead_ms"]["max"], ov["naive_per_vm_beyond_job_ms_mean"], ov["naive_gap_between_moves_ms_mean"],
           ov["fixed_s"]),
        "",
        md_table(["phase", "s"], [[name, s] for name, s in sorted(ov["phases_s"].items(), key=lambda kv: -kv[1])]),
        "",
        md_table(["tasks outside the move (last drover run)", "tasks", "s", "median s per task"],
                 [[k, v["tasks"], v["s"], v["median_s"]] for k, v in sorted(ov["task_costs"].items())]),
        "",
        "The same kinds of task in a play of nothing else, right after, under the same load (median s): %s."
        % ", ".join("%s %s" % kv for kv in sorted(ov["task_baseline_s"].items())),
        "",
        "**Convergence**: guest of %s MiB rewriting %s MiB/s (measured; the link carries %.1f MiB/s), hv1 to "
        "hv2; virsh with `--timeout %s` (the presets' completion timeout for this guest):"
        % (setup.get("guest_memory_mib"), setup.get("guest_dirty_mib_s_measured"), results["link_rate_mbit"] * 1e6 / 8 / 1048576,
           setup.get("virsh_timeout_s")),
        "",
        md_table(["method", "completed", "time (s)", "longest pause (ms)", "libvirt downtime (ms)", "post-copy",
                  "max throttle %", "longest turn of the guest (s)", "what happened"],
                 [[e["method"], "yes" if e["completed"] else "**no**", e["time_s"], e["pause_ms"], e["downtime_ms"],
                   "yes" if e["postcopy"] else "no", e["throttle_pct_max"], e.get("longest_turn_s"), e["how"]] for e in conv]),
        "",
        "**Downtime** over %d migrations hv1 <-> hv2 (`drover.libvirt.migrate`, preset %s, guest rewriting %s MiB/s):"
        % (dt["migrations"], dt["preset"], dt["guest_dirty_mib_s_measured"]),
        "",
        md_table(["", "p50 (ms)", "p99 (ms)", "max (ms)", "limit (ms)"], [
            ["downtime_ms (libvirt)", dt["p50_ms"], dt["p99_ms"], dt["max_ms"],
             "%s, stepped from %s" % (dt["limit_ms"], dt["initial_limit_ms"])],
            ["guest on no host (sampled every 25 ms)"] + [(dt["observed_pause_ms"] or {}).get(k) for k in ("p50", "p99", "max")]
            + [""],
            ["estimated (QEMU's limit + the switch-over cost learned for the pair)"]
            + [(dt.get("estimated_pause_ms") or {}).get(k) for k in ("p50", "p99", "max")] + [""]]),
        "",
        "Over the limit in force when the migration completed: %d of %d; over %d ms: %d."
        % (dt["over_limit_at_completion"], dt["migrations"], dt["limit_ms"], dt["over_limit_ms"]),
    ]
    return "\n".join(out)


def update_doc(results):
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        raise SystemExit("%s has no %s ... %s block" % (DOC, BEGIN, END))
    head, rest = text.split(BEGIN, 1)
    _old, tail = rest.split(END, 1)
    text = head + BEGIN + "\n" + figures_md(results) + "\n" + END + tail
    with open(DOC, "w", encoding="utf-8") as f:
        f.write(text)


def _others(section):
    runs = section.get("runs") or [section]
    return [lab for run in runs for lab in (run.get("conditions") or {}).get("other_labs", [])]


def main():
    with open(RESULTS, encoding="utf-8") as f:
        results = json.load(f)
    missing = [k for k in ("evacuation", "overhead", "convergence", "downtime") if k not in results]
    if missing:
        raise SystemExit("bench/results.json has no %s yet: run bench/evacuation.py, convergence.py, downtime.py"
                         % ", ".join(missing))
    chart(results)
    update_doc(results)
    # Said once at the top of results.json too: the figures are times on a machine others shared.
    sections = [results[k] for k in ("evacuation", "downtime")] + [results.get("convergence_setup", {})]
    shared = sorted({lab for s in sections for lab in _others(s)})
    results["timings_note"] = (
        "timings taken under TCG while other work shared the 2 CPUs (other labs: %s; 1-minute load in each "
        "section's conditions)" % ", ".join(shared) if shared else "timings taken under TCG; no other lab was running")
    with open(RESULTS, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write("\n")
    print("written: %s, %s" % (os.path.relpath(CHART, ROOT), os.path.relpath(DOC, ROOT)))


if __name__ == "__main__":
    sys.exit(main())
