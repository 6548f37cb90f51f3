# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rolling maintenance: the order of the hosts, what each is expected to take, and whether to start it.

A rolling run drains a host, runs the operator's maintenance, checks the host and puts it back,
then takes the next. Before each host it estimates the time the host will take (a fixed part, the
memory to move over the link, the maintenance itself), learning each part from the hosts done
earlier in the same run, and does not start a host that cannot finish before the window ends.
Pure logic; private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import datetime
import re
import xml.etree.ElementTree as ET

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._planner import plan_evacuation

GIB = 1024 ** 3
ORDERS = ("given", "least_loaded")
OUTCOMES = ("done", "failed", "postponed", "not_started")


def _running_bytes(facts):
    return sum((d.get("memory_kib") or 0) * 1024 for d in (facts or {}).get("domains", []) if d.get("active"))


def order_hosts(hosts, fleet, order):
    """`hosts` in the order to maintain them.

    given: as listed. least_loaded: fewest bytes of running domains first (the quickest to empty,
    so a canary that fails costs little), then by name; hosts missing from `fleet` (not read) last.
    """
    if order not in ORDERS:
        raise DroverError("order must be one of %s, got %r" % (", ".join(ORDERS), order))
    if len(set(hosts)) != len(hosts):
        raise DroverError("hosts are listed twice: %s" % ", ".join(sorted({h for h in hosts if hosts.count(h) > 1})))
    if order == "given":
        return list(hosts)
    return sorted(hosts, key=lambda h: (h not in fleet, _running_bytes(fleet.get(h)), h))


def window_end(started, end=None, budget_minutes=None):
    """The end of the window as an aware UTC datetime, or None when the run has no time limit.

    started: the run's start (aware datetime); end: an ISO 8601 time, with or without a date
    (without one: its next occurrence after `started`; without a zone: UTC); budget_minutes: from
    `started`. With both, the earlier wins.
    """
    ends = []
    if end:
        try:
            if "T" in end or "-" in end[:10]:
                parsed = datetime.datetime.fromisoformat(end)
            else:
                clock = datetime.time.fromisoformat(end)
                parsed = datetime.datetime.combine(started.date(), clock, tzinfo=clock.tzinfo or datetime.timezone.utc)
                if parsed <= started:
                    parsed += datetime.timedelta(days=1)
        except ValueError:
            raise DroverError("rolling_window_end must be an ISO 8601 time (14:30, 14:30+02:00) or date and time "
                              "(2026-12-01T06:00Z), got %r; nothing was changed" % end)
        ends.append(parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc))
    if budget_minutes:
        if budget_minutes < 0:
            raise DroverError("rolling_budget_minutes must not be negative, got %r" % budget_minutes)
        ends.append(started + datetime.timedelta(minutes=budget_minutes))
    return min(ends) if ends else None


def learn(records, assumed):
    """The time model for the next host: {fixed_s, seconds_per_gib, hook_s, learned_from}.

    records: hosts done in this run, each {seconds, hook_seconds, moved_bytes, move_seconds};
    assumed: {fixed_s, link_mbit, hook_s}, used until a host has been done. What was observed
    replaces what was assumed, keeping the slowest host seen (a later host is no faster).
    """
    model = {"fixed_s": float(assumed["fixed_s"]), "seconds_per_gib": 8 * 1024.0 / assumed["link_mbit"],
             "hook_s": float(assumed["hook_s"]), "learned_from": 0}
    done = [r for r in records if r.get("seconds") is not None]
    if not done:
        return model
    moved = sum(r.get("moved_bytes") or 0 for r in done)
    moving = sum(r.get("move_seconds") or 0 for r in done)
    if moved >= GIB // 16 and moving > 0:
        model["seconds_per_gib"] = moving / (moved / float(GIB))
    model["hook_s"] = max(r.get("hook_seconds") or 0 for r in done)
    model["fixed_s"] = max(max(r["seconds"] - (r.get("hook_seconds") or 0) - (r.get("move_seconds") or 0), 0)
                           for r in done)
    model["learned_from"] = len(done)
    return model


def estimate(facts, model):
    """Seconds the host is expected to take, and its parts: {seconds, fixed_s, move_s, hook_s, gib}."""
    gib = _running_bytes(facts) / float(GIB)
    move_s = gib * model["seconds_per_gib"]
    return {"seconds": round(model["fixed_s"] + move_s + model["hook_s"], 1), "fixed_s": round(model["fixed_s"], 1),
            "move_s": round(move_s, 1), "hook_s": round(model["hook_s"], 1), "gib": round(gib, 2)}


def decide(records, now, end, expected_s, max_fail_pct):
    """Whether the next host starts: {action: start|stop|postpone, reason}.

    records: the hosts handled so far in this run, in order, each with an `outcome` (OUTCOMES);
    the first host done or failed is the canary. A failure beyond `max_fail_pct` of the hosts
    done or failed stops the run; a host that cannot finish before `end` is postponed.
    """
    finished = [r for r in records if r.get("outcome") in ("done", "failed")]
    failed = [r for r in finished if r["outcome"] == "failed"]
    if finished and finished[0]["outcome"] == "failed":
        return {"action": "stop", "reason": "the first host, %s, did not come back cleanly (%s); nothing else starts"
                % (finished[0]["host"], finished[0].get("reason") or "failed")}
    if failed and 100.0 * len(failed) / len(finished) > max_fail_pct:
        return {"action": "stop", "reason": "%d of %d hosts failed (%s), above the %g %% allowed" % (
            len(failed), len(finished), ", ".join(r["host"] for r in failed), max_fail_pct)}
    if end is not None:
        left = (end - now).total_seconds()
        if expected_s > left:
            return {"action": "postpone", "reason": "expected to take %d s, %d s left before the window ends at %s"
                    % (expected_s, max(left, 0), end.isoformat(timespec="seconds"))}
    return {"action": "start", "reason": ""}


CAMPAIGN_PREFIX = "rolling/"
# A campaign name read from a host becomes part of run ids and report paths: only names this role makes.
_CAMPAIGN_NAME = re.compile(r"^[A-Za-z0-9-]{1,30}$")


def _host_state(fleet, host):
    facts = (fleet.get(host) or {}).get("hypervisor") or {}
    return facts.get("maintenance"), facts.get("last_maintenance")


def _finished_by(fleet, host):
    """The campaign that finished this host's last maintenance, if it is not marked again since."""
    mark, last = _host_state(fleet, host)
    name = _campaign_of(last)
    return name if not mark else None


def _campaign_of(record):
    """The campaign named in a mark or record's `by`, or None (not a rolling campaign's, or not a valid name)."""
    by = (record or {}).get("by") or ""
    name = by[len(CAMPAIGN_PREFIX):] if by.startswith(CAMPAIGN_PREFIX) else ""
    return name if _CAMPAIGN_NAME.match(name) else None


def campaign(fleet, hosts, given, resume, now, resume_hours, new_id):
    """The campaign this run belongs to: {campaign, resumed, done: {host: ended}, line}.

    A campaign is a rolling run and the runs that resume it; it is known on the hosts alone: the
    mark of a host it is maintaining and the record of a host it finished carry its name
    (`by` = "rolling/NAME"). given: a name chosen by the operator. Otherwise, with `resume`, the
    most recent campaign seen in the last `resume_hours` that has not finished every host of
    `hosts` is resumed; else the run starts `new_id`. `done`: the hosts the campaign finished.
    """
    chosen, resumed = given, False
    if not chosen and resume:
        horizon = now - datetime.timedelta(hours=resume_hours)
        seen = {}
        for host in hosts:
            mark, last = _host_state(fleet, host)
            for record, key in ((mark, "since"), (last, "ended")):
                name = _campaign_of(record)
                try:
                    when = aware((record or {}).get(key))
                except (TypeError, ValueError):
                    when = None  # a time that cannot be read does not make a campaign recent
                if name and when and when >= horizon:
                    seen[name] = max(seen.get(name, when), when)
        unfinished = [name for name in seen if any(_finished_by(fleet, h) != name for h in hosts)]
        if unfinished:
            chosen, resumed = max(unfinished, key=lambda n: (seen[n], n)), True
    chosen = chosen or new_id
    done = {h: _host_state(fleet, h)[1].get("ended") for h in hosts if _finished_by(fleet, h) == chosen}
    if resumed or done:
        line = "resuming %s: %s" % (chosen, ", ".join("%s finished at %s" % (h, done[h]) for h in hosts if h in done)
                                    or "no host finished yet")
    else:
        line = "new run %s" % chosen
    return {"campaign": chosen, "resumed": resumed, "done": done, "line": line}


def aware(text):
    """An ISO 8601 time as an aware datetime; one without a zone (Ansible's now(utc=true)) is UTC."""
    if not text:
        return None
    moment = datetime.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


def host_record(host, outcome, reason, started_at, finished_at, hook_seconds, moves, expected):
    """One host's entry in the rolling report.

    moves: the move results of the domains that left this host (move_domains results), and of
    those brought back; expected: its estimate. The move time is from the first move's start to
    the last one's end, which is what the link was busy for.
    """
    if outcome not in OUTCOMES:
        raise DroverError("outcome must be one of %s, got %r" % (", ".join(OUTCOMES), outcome))
    started, finished = aware(started_at), aware(finished_at)
    spans = [(aware(m.get("started_at")), aware(m.get("finished_at"))) for m in moves
             if m.get("started_at") and m.get("finished_at")]
    record = {"host": host, "outcome": outcome, "reason": reason or "", "started_at": started_at,
              "finished_at": finished_at, "seconds": None, "hook_seconds": hook_seconds,
              "moved_bytes": sum(m.get("bytes") or 0 for m in moves), "move_seconds": None,
              "expected": expected, "vms": [
                  {k: m.get(k) for k in ("name", "from", "to", "status", "method", "downtime_ms", "duration_ms",
                                         "bytes", "started_at", "finished_at", "error")} for m in moves]}
    if started and finished and outcome == "done":
        record["seconds"] = round((finished - started).total_seconds(), 1)
    if spans:
        record["move_seconds"] = round((max(f for _s, f in spans) - min(s for s, _f in spans)).total_seconds(), 1)
    return record


def junit(records, name):
    """JUnit XML: one test case per host (suite "hosts") and one per moved VM (suite "vms")."""
    root = ET.Element("testsuites", name=name)
    hosts = ET.SubElement(root, "testsuite", name="%s hosts" % name)
    vms = ET.SubElement(root, "testsuite", name="%s vms" % name)
    for record in records:
        case = ET.SubElement(hosts, "testcase", classname="rolling", name=record["host"],
                             time=str(record.get("seconds") or 0))
        if record["outcome"] == "failed":
            ET.SubElement(case, "failure", message=record["reason"] or "failed")
        elif record["outcome"] in ("postponed", "not_started"):
            ET.SubElement(case, "skipped", message="%s: %s" % (record["outcome"], record["reason"]))
        for vm in record.get("vms", []):
            vm_case = ET.SubElement(vms, "testcase", classname=record["host"], name="%s %s->%s" % (
                vm.get("name"), vm.get("from"), vm.get("to")), time=str((vm.get("duration_ms") or 0) / 1000.0))
            if vm.get("status") == "failed":
                ET.SubElement(vm_case, "failure", message=vm.get("error") or "failed")
            ET.SubElement(vm_case, "system-out").text = "status %s, downtime %s ms" % (
                vm.get("status"), vm.get("downtime_ms"))
    for suite in (hosts, vms):
        cases = suite.findall("testcase")
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
        suite.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    return ET.tostring(root, encoding="unicode")


def preview(order, fleet, model, started, end, constraints=None):
    """The whole rolling run as check mode shows it: per host its moves, estimate and whether it fits.

    Each host's moves are its evacuation plan against the fleet as read now (the planner with
    `constraints`); the estimates add up from `started` against `end` (None: no window).
    """
    rows, elapsed = [], 0.0
    for host in order:
        expected = estimate(fleet.get(host), model)
        elapsed += expected["seconds"]
        plan = plan_evacuation(fleet, [host], None, constraints) if host in fleet else {}
        rows.append({"host": host, "expected": expected, "cumulative_s": round(elapsed, 1),
                     "fits": end is None or started + datetime.timedelta(seconds=elapsed) <= end,
                     "moves": ["%s -> %s" % (m["domain"], m["destination"]) for m in plan.get("moves", [])],
                     "cannot_move": ["%s: %s" % (u["domain"], u["reason"]) for u in plan.get("unplaced", [])]})
    return {"hosts": rows, "total_s": round(elapsed, 1), "window_end": end.isoformat(timespec="seconds") if end else None}


def preview_lines(view):
    """The preview as lines of text."""
    lines = ["%d hosts, about %d s in all%s" % (
        len(view["hosts"]), view["total_s"], ", window ends %s" % view["window_end"] if view["window_end"] else "")]
    for row in view["hosts"]:
        lines.append("%s: ~%d s (%.2f GiB to move)%s; %s" % (
            row["host"], row["expected"]["seconds"], row["expected"]["gib"],
            "" if row["fits"] else " - does not fit the window, would be postponed",
            ", ".join(row["moves"]) or "nothing to move"))
        lines.extend("  cannot move %s" % text for text in row["cannot_move"])
    return lines
