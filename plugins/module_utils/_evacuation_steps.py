# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The evacuate role's steps between its tasks: constraints for the planner, the plan as text,
one host's batch of moves, the domains to verify, and the per-domain results with the verdict.

Pure functions over plain data; plugins/filter/evacuation_steps.py exposes them to the role.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._schedule import batch_caps

# The role's settings (evacuate_<key>) the planner's constraints are made of.
SETTINGS = ("memory_headroom_pct", "reserved_memory_mib", "vcpu_ratio", "anti_affinity", "affinity", "max_parallel",
            "max_per_source", "max_per_destination", "shutoff", "unmigratable", "bandwidth", "select")


def _mapping(value, what):
    if not isinstance(value, Mapping):
        raise DroverError("%s must be a dict, got %s" % (what, type(value).__name__))
    return value


def _as_int(value):
    """An integer as Jinja's int filter reads it: 0 for what is not a number."""
    try:
        return int(value, 10) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return 0


def constraints(settings):
    """The planner's constraints from the role's settings (SETTINGS, each evacuate_<key>).

    Values pass through unchanged (the planner checks them); shutoff=move moves shut-off
    definitions, unmigratable=cold moves blocked domains shut down; a bandwidth above 0 and a
    non-empty select are passed on, else the planner's defaults hold.
    """
    settings = _mapping(settings, "settings")
    missing = [key for key in SETTINGS if key not in settings]
    if missing:
        raise DroverError("settings lack %s" % ", ".join(missing))
    c = {key: settings[key] for key in ("memory_headroom_pct", "reserved_memory_mib", "vcpu_ratio", "anti_affinity",
                                        "affinity", "max_parallel", "max_per_source", "max_per_destination")}
    c["include_shutoff"] = settings["shutoff"] == "move"
    c["cold"] = settings["unmigratable"] == "cold"
    if _as_int(settings["bandwidth"]) > 0:
        c["bandwidth_mib_s"] = settings["bandwidth"]
    if len(settings["select"]) > 0:
        c["select"] = settings["select"]
    return c


def plan_lines(plan):
    """The plan as a person reads it: a summary line, one line per move, one per domain that cannot move."""
    plan = _mapping(plan, "plan")
    lines = ["%d moves in %d waves, about %s s; %d cannot move; %d not selected" % (
        len(plan["moves"]), len(plan["waves"]), plan["estimated_seconds"], len(plan["unplaced"]), len(plan["skipped"]))]
    if plan.get("hosts_not_read"):
        lines.append("%d hosts of the group not read: those read have room enough (%s)" % (
            len(plan["hosts_not_read"]), ", ".join(plan["hosts_not_read"][:10])
            + (", ..." if len(plan["hosts_not_read"]) > 10 else "")))
    for m in plan["moves"]:
        lines.append("wave %d: %s %s -> %s (%s%s, ~%s s)" % (
            m["wave"], m["domain"], m["source"], m["destination"], m["method"],
            ", copies disks" if m["copy_storage"] else "", m["estimated_seconds"]))
    for u in plan["unplaced"]:
        lines.append("cannot move: %s on %s: %s" % (u["domain"], u["source"], u["reason"]))
    return lines


def host_batch(plan, host, shutdown_unplaced=False):
    """What move_domains runs on `host`: {moves, max_parallel, max_per_destination}.

    moves: the plan's moves off the host, in plan order, then (when shutdown_unplaced) its
    domains that cannot move, to be shut down; the caps are the plan's, for one source at a time.
    """
    plan = _mapping(plan, "plan")
    moves = [move for move in plan["moves"] if move["source"] == host]
    if shutdown_unplaced:
        moves += [dict(entry, method="shutdown") for entry in plan["unplaced"] if entry["source"] == host]
    return dict(batch_caps(plan["caps"]), moves=moves)


def _unique(names):
    seen = []
    for name in names:
        if name not in seen:
            seen.append(name)
    return seen


def domains_to_verify(fleet, hosts, moved):
    """{before, running, shutoff, hosts}: the names of the domains on `hosts` before the moves.

    before: active ones, then persistent shut-off ones; shutoff: the persistent shut-off ones
    and those the moves shut down (moved: per-domain results); running: the others, once each;
    hosts: where they can be now (`hosts` and every destination a move tried), the only hosts to read.
    """
    fleet = _mapping(fleet, "fleet")
    domains = [dom for host in hosts for dom in fleet[host]["domains"]]
    active = [dom["name"] for dom in domains if dom["active"]]
    off = [dom["name"] for dom in domains if not dom["active"] and dom["persistent"]]
    # A shut-off definition an earlier move left behind, finished by this run: the domain runs where it landed.
    finished = {result["name"] for result in moved if result.get("finished")}
    shutoff = [name for name in off if name not in finished] \
        + [result["name"] for result in moved if result.get("status") == "shut_down"]
    before = active + off
    # Where these domains can be now: their hosts, and every destination a move tried.
    touched = list(hosts) + [t.get("destination") for result in moved for t in result.get("tries") or []] \
        + [result.get("to") for result in moved]
    return {"before": before, "running": _unique(name for name in before if name not in shutoff), "shutoff": shutoff,
            "hosts": _unique(host for host in touched if host)}


def _left(entry, status, reason, verdicts):
    """A result for a planned domain that has none from a move, with the keys the reports read."""
    left = {"name": entry["domain"], "from": entry["source"], "to": None, "status": status, "method": None,
            "attempts": 0, "downtime_ms": None, "duration_ms": None, "bytes": None, "overhead_ms": None,
            "started_at": None, "finished_at": None, "error": reason}
    if entry["domain"] in verdicts:
        left["verify"] = verdicts[entry["domain"]]
    return left


def outcome(moved, plan, verified=None, skip_unplaced=False, stopped=None, silent_hosts=None):
    """{results, ok}: one result per domain of the drained hosts, sorted by name, and the verdict.

    results: the moves' results, then the domains left out on purpose (the plan's skipped, and
    its unplaced when skip_unplaced) as status skipped with the reason as error; each with
    verify {ok, reason} when the verification reported on it. ok: no move failed, every
    verified domain passed, and the run was not stopped.

    stopped: why the run stopped early (a failed task), or None. Then every planned domain
    without a move result is reported skipped with that reason: it was left where it is. When
    silent_hosts: drained hosts whose move step returned no per-domain results (the host went away,
    the module died). When the run was not stopped, their planned domains without a result are
    reported failed, location unknown, and ok is false: never as if they had moved.
    plan may be None when the run stopped before planning.
    """
    plan = _mapping(plan if plan is not None else {"moves": [], "unplaced": [], "skipped": []}, "plan")
    verified = verified or []
    verdicts = {entry["name"]: {"ok": entry["ok"], "reason": entry["reason"]} for entry in verified}
    results = []
    for result in moved:
        results.append(dict(result, verify=verdicts[result["name"]]) if result["name"] in verdicts else dict(result))
    left_out = [(entry, entry["reason"]) for entry in (list(plan["unplaced"]) if skip_unplaced else [])
                + list(plan["skipped"])]
    done = {result["name"] for result in moved}
    unreported = [entry for entry in plan["moves"] if entry["domain"] not in done]
    if stopped:
        left_out += [(entry, "not moved: the run stopped (%s)" % stopped) for entry in unreported]
        left_out += [(entry, "cannot move: %s; the run stopped (%s)" % (entry["reason"], stopped))
                     for entry in ([] if skip_unplaced else plan["unplaced"]) if entry["domain"] not in done]
    for entry, reason in left_out:
        results.append(_left(entry, "skipped", reason, verdicts))
    lost = [] if stopped else [entry for entry in unreported if entry["source"] in set(silent_hosts or ())]
    if lost:
        # The run went on, but the move on its host returned nothing for it: it is not known to
        # have moved, and never reported as if it had.
        for entry in lost:
            left = _left(entry, "failed", "no result from the move on %s; where it is now: see verify"
                         % entry["source"], verdicts)
            results.append(dict(left, location="unknown"))
    # Jinja's sort, which the role used, ignores case.
    results.sort(key=lambda r: r["name"].lower() if isinstance(r["name"], str) else r["name"])
    ok = (not stopped and not lost and not any(result.get("status") == "failed" for result in moved)
          and not any(not entry.get("ok") for entry in verified))
    return {"results": results, "ok": ok}
