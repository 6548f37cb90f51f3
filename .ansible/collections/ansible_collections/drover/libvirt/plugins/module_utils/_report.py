# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Evacuation reports: JUnit XML, a text table, a summary, and the compact forms set_stats publishes.

Pure functions over the per-VM results of an evacuation (and the preflight verdicts and one
migration's result); filter plugins in plugins/filter expose them to playbooks.

Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import datetime
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._values import finite_number, is_list as _is_list, type_name as _type_name

# In the order the table's totals line and the summary list them.
STATUSES = ("migrated", "moved_cold", "defined", "shut_down", "skipped", "unchanged", "failed", "planned")
# The VM now lives on another host (running, or as a shut-off definition).
MOVED_STATUSES = ("migrated", "moved_cold", "defined")
# A deliberate policy decision, not a test outcome: JUnit shows these as skipped.
SKIPPED_STATUSES = ("skipped", "shut_down")
NUMBER_FIELDS = ("attempts", "downtime_ms", "duration_ms", "bytes", "overhead_ms")
TEXT_FIELDS = ("from", "to", "method", "started_at", "finished_at", "error")
MIB = 1024 * 1024
ERROR_WIDTH = 60
# XML 1.0 cannot carry most control characters; libvirt error text sometimes has them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _number(value, field, name):
    """An int or float from a result field; numeric strings (extra vars, templating) are accepted."""
    if value is None:
        return None
    number = finite_number(value)
    if number is None:
        raise DroverError("%s: %s must be a number or null, got %r" % (name, field, value))
    return int(number) if isinstance(value, str) and number.is_integer() else number


def _text(value):
    if value is None:
        return None
    # Plain str (not a templar subclass) so the result stays JSON- and XML-friendly.
    return str(value)


def normalize_results(results):
    """Check the per-VM results and return them as plain dicts with numbers as numbers.

    Raises DroverError naming the offending entry, so a playbook fails with a message instead of
    a traceback from deep inside a report.
    """
    if not _is_list(results):
        raise DroverError("expected a list of per-VM results, got %s" % _type_name(results))
    normalized = []
    for index, item in enumerate(results):
        if not isinstance(item, Mapping):
            raise DroverError("results[%d] must be a dict, got %s" % (index, _type_name(item)))
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise DroverError("results[%d] has no 'name'" % index)
        name = str(name)
        status = item.get("status")
        if status not in STATUSES:
            raise DroverError("%s has unknown status %r; expected one of %s"
                              % (name, status, ", ".join(STATUSES)))
        entry = {"name": name, "status": str(status)}
        for field in TEXT_FIELDS:
            entry[field] = _text(item.get(field))
        for field in NUMBER_FIELDS:
            entry[field] = _number(item.get(field), field, name)
        verify = item.get("verify")
        if verify is not None:
            if not isinstance(verify, Mapping) or not isinstance(verify.get("ok"), bool):
                raise DroverError("%s: verify must be a dict with a boolean 'ok', got %r" % (name, verify))
            verify = {"ok": verify["ok"], "reason": _text(verify.get("reason")) or ""}
        entry["verify"] = verify
        normalized.append(entry)
    return normalized


def _verify_failed(entry):
    return entry["verify"] is not None and not entry["verify"]["ok"]


def _one_line(text):
    return " ".join(text.split()) if text else ""


def _problem(entry):
    """The one-line problem of a VM for the ERROR column and the JUnit failure message, or ''."""
    problems = []
    if entry["status"] == "failed":
        problems.append(_one_line(entry["error"]) or "failed without an error message")
    elif entry["error"]:
        problems.append(_one_line(entry["error"]))
    if _verify_failed(entry):
        problems.append("verify failed: " + (_one_line(entry["verify"]["reason"]) or "no reason given"))
    return "; ".join(problems)


def problem_text(entry):
    """The one-line problem of a normalized result, as the table and JUnit say it; '' when none."""
    return _problem(entry)


def _counts(entries):
    counts = {status: 0 for status in STATUSES}
    for entry in entries:
        counts[entry["status"]] += 1
    return counts


def _values(entries, field):
    return [entry[field] for entry in entries if entry[field] is not None]


def _xml_text(value):
    return _XML_INVALID.sub("?", str(value))


def _seconds(ms):
    return "%.3f" % ((ms or 0) / 1000.0)


def _default_suite_name(entries):
    sources = sorted({entry["from"] for entry in entries if entry["from"]})
    return ("evacuate " + ", ".join(sources)) if sources else "evacuate"


def junit_xml(results, suite_name=None, timestamp=None):
    """JUnit XML for one evacuation: a testsuite with one testcase per VM.

    A VM fails when its status is failed or its verify.ok is false; shut_down and skipped VMs are
    skipped testcases. Details go both into testcase properties and system-out because CI systems
    differ in which of the two they show. timestamp defaults to the earliest started_at.
    """
    entries = normalize_results(results)
    if suite_name is None:
        suite_name = _default_suite_name(entries)
    if timestamp is None:
        started = _values(entries, "started_at")
        timestamp = min(started) if started else None

    failures = sum(1 for entry in entries if entry["status"] == "failed" or _verify_failed(entry))
    skipped = sum(1 for entry in entries
                  if entry["status"] in SKIPPED_STATUSES and not _verify_failed(entry))
    total_time = _seconds(sum(_values(entries, "duration_ms")))
    counts = {"tests": str(len(entries)), "failures": str(failures), "errors": "0",
              "skipped": str(skipped), "time": total_time}

    # A <testsuites> root as pytest writes it: GitLab, Jenkins and Azure all accept that form.
    root = ET.Element("testsuites", dict(name=_xml_text(suite_name), **counts))
    suite = ET.SubElement(root, "testsuite", dict(name=_xml_text(suite_name), **counts))
    if timestamp:
        suite.set("timestamp", _xml_text(timestamp))

    for entry in entries:
        case = ET.SubElement(suite, "testcase", {
            "classname": _xml_text("evacuate.%s" % (entry["from"] or "unknown")),
            "name": _xml_text(entry["name"]),
            "time": _seconds(entry["duration_ms"]),
        })
        details = _details(entry)
        properties = ET.SubElement(case, "properties")
        for key, value in details:
            ET.SubElement(properties, "property", {"name": key, "value": _xml_text(value)})

        problem = _problem(entry)
        if entry["status"] == "failed" or _verify_failed(entry):
            if entry["status"] == "failed":
                message = _one_line(entry["error"]) or "migration failed"
            else:
                message = _one_line(entry["verify"]["reason"]) or "verify failed"
            failure = ET.SubElement(case, "failure", {
                "message": _xml_text(message),
                "type": "failed" if entry["status"] == "failed" else "verify",
            })
            failure.text = _xml_text(problem)
        elif entry["status"] in SKIPPED_STATUSES:
            default = "shut down by policy" if entry["status"] == "shut_down" else "skipped by policy"
            ET.SubElement(case, "skipped", {"message": _xml_text(_one_line(entry["error"]) or default)})

        out = ET.SubElement(case, "system-out")
        out.text = _xml_text(_story(entry))

    if hasattr(ET, "indent"):
        ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _details(entry):
    """(key, text) pairs for testcase properties; null fields are left out."""
    pairs = [("status", entry["status"]), ("from", entry["from"]), ("to", entry["to"]),
             ("method", entry["method"])]
    pairs += [(field, entry[field]) for field in NUMBER_FIELDS]
    pairs += [("started_at", entry["started_at"]), ("finished_at", entry["finished_at"])]
    if entry["verify"] is not None:
        pairs.append(("verify", "ok" if entry["verify"]["ok"] else "failed: " + entry["verify"]["reason"]))
    if entry["error"]:
        pairs.append(("error", _one_line(entry["error"])))
    return [(key, value) for key, value in pairs if value is not None]


def _story(entry):
    """What happened to one VM in a few lines, for the CI systems that show only system-out."""
    if entry["to"]:
        words = "%s: %s %s -> %s" % (entry["name"], entry["status"], entry["from"] or "?", entry["to"])
    else:
        words = "%s: %s on %s" % (entry["name"], entry["status"], entry["from"] or "?")
    if entry["method"]:
        words += " (%s)" % entry["method"]
    facts = []
    if entry["attempts"] is not None:
        facts.append("attempts %s" % _fmt(entry["attempts"]))
    if entry["downtime_ms"] is not None:
        facts.append("downtime %s ms" % _fmt(entry["downtime_ms"]))
    if entry["bytes"] is not None:
        facts.append("%s MiB" % _fmt(entry["bytes"], float(MIB), 1))
    if entry["duration_ms"] is not None:
        facts.append("%s s" % _fmt(entry["duration_ms"], 1000.0, 1))
    if entry["overhead_ms"] is not None:
        facts.append("overhead %s ms" % _fmt(entry["overhead_ms"]))
    lines = [", ".join([words] + facts)]
    if entry["verify"] is not None:
        lines.append("verify: %s%s" % ("ok" if entry["verify"]["ok"] else "FAILED",
                                       (" (%s)" % entry["verify"]["reason"]) if entry["verify"]["reason"] else ""))
    if entry["error"]:
        lines.append("error: " + _one_line(entry["error"]))
    return "\n".join(lines) + "\n"


def _fmt(value, scale=1, digits=0):
    if value is None:
        return "-"
    return "%.*f" % (digits, value / scale)


def _truncate(text, width=ERROR_WIDTH):
    return text if len(text) <= width else text[:width - 3] + "..."


def summary_table(results):
    """A fixed-width table of the results plus a totals line, as a list of lines."""
    entries = normalize_results(results)
    if not entries:
        return ["Nothing was moved: no VMs in the evacuation result."]

    # (header, right-aligned, cell)
    columns = [
        ("VM", False, lambda e: e["name"]),
        ("FROM", False, lambda e: e["from"] or "-"),
        ("TO", False, lambda e: e["to"] or "-"),
        ("STATUS", False, lambda e: e["status"]),
        ("TRIES", True, lambda e: _fmt(e["attempts"])),
        ("DOWNTIME(ms)", True, lambda e: _fmt(e["downtime_ms"])),
        ("DURATION(s)", True, lambda e: _fmt(e["duration_ms"], 1000.0, 1)),
        ("MiB", True, lambda e: _fmt(e["bytes"], float(MIB), 1)),
        ("OVERHEAD(ms)", True, lambda e: _fmt(e["overhead_ms"])),
        ("ERROR", False, lambda e: _truncate(_problem(e))),
    ]
    rows = [[cell(entry) for _header, _right, cell in columns] for entry in entries]
    widths = [max([len(header)] + [len(row[i]) for row in rows]) for i, (header, _right, _cell) in enumerate(columns)]

    def line(cells):
        text = "  ".join(cell.rjust(width) if right else cell.ljust(width)
                         for cell, width, (_header, right, _cell) in zip(cells, widths, columns))
        return text.rstrip()

    lines = [line([header for header, _right, _cell in columns])]
    lines.append("  ".join("-" * width for width in widths))
    lines += [line(row) for row in rows]
    lines.append(_totals_line(entries))
    return lines


def _totals_line(entries):
    counts = _counts(entries)
    parts = ["%d %s" % (counts[status], status) for status in STATUSES if counts[status]]
    verify_failed = sum(1 for entry in entries if _verify_failed(entry))
    if verify_failed:
        parts.append("%d verify failed" % verify_failed)
    downtimes = _values(entries, "downtime_ms")
    return "TOTAL %d VMs: %s | %.1f MiB | max downtime %s ms | duration %.1f s" % (
        len(entries), ", ".join(parts), sum(_values(entries, "bytes")) / float(MIB),
        _fmt(max(downtimes) if downtimes else None), sum(_values(entries, "duration_ms")) / 1000.0)


def _mean(values):
    return round(sum(values) / float(len(values)), 1) if values else None


def summary(results):
    """Counts and totals of an evacuation, JSON-serialisable, for set_stats and workflow conditions.

    ok is true when no VM failed and no verify failed. Means and maxima are over the VMs that
    report the value (a cold move has no downtime figure); null when none does.
    """
    entries = normalize_results(results)
    downtimes = _values(entries, "downtime_ms")
    overheads = _values(entries, "overhead_ms")
    started = _values(entries, "started_at")
    finished = _values(entries, "finished_at")
    failed = sorted(entry["name"] for entry in entries if entry["status"] == "failed")
    verify_failed = sorted(entry["name"] for entry in entries if _verify_failed(entry))
    return {
        "ok": not failed and not verify_failed,
        "total": len(entries),
        "moved": sum(1 for entry in entries if entry["status"] in MOVED_STATUSES),
        "counts": _counts(entries),
        "failed": failed,
        "verify_failed": verify_failed,
        "bytes_total": sum(_values(entries, "bytes")),
        "duration_ms_total": sum(_values(entries, "duration_ms")),
        "downtime_ms_max": max(downtimes) if downtimes else None,
        "downtime_ms_mean": _mean(downtimes),
        "overhead_ms_max": max(overheads) if overheads else None,
        "overhead_ms_mean": _mean(overheads),
        # ISO-8601 UTC strings in one format sort as the times they name.
        "started_at": min(started) if started else None,
        "finished_at": max(finished) if finished else None,
    }


def instant(text):
    """An aware datetime from an ISO-8601 time; None when missing or unreadable.

    The role writes its run's times without a zone (Ansible's now(utc=true)) and the moves' times
    with +00:00: both are UTC.
    """
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=datetime.timezone.utc)


def elapsed_s(started, finished):
    """Seconds from one ISO-8601 time to another, to a tenth; None when either is missing."""
    start, end = instant(started), instant(finished)
    if start is None or end is None:
        return None
    return round(max(0.0, (end - start).total_seconds()), 1)


def vm_stats(results):
    """The per-VM results in the compact form of set_stats (drover_evacuation.vms), one entry per VM.

    Keys: domain, source, destination (null when it did not move), status, verified (null when
    not verified), downtime_ms, seconds (first try's start to last try's end), reason (the
    one-line problem, or why it was left; null when none).
    """
    return [{"domain": entry["name"], "source": entry["from"], "destination": entry["to"],
             "status": entry["status"], "verified": None if entry["verify"] is None else entry["verify"]["ok"],
             "downtime_ms": entry["downtime_ms"], "seconds": elapsed_s(entry["started_at"], entry["finished_at"]),
             "reason": problem_text(entry) or None}
            for entry in normalize_results(results)]


def migration_stats(result, domain, source, destination):
    """One migration's registered result (module migrate) in the same compact form as vm_stats.

    status: failed (reason: the module's message), migrated (the job ran) or unchanged (it was
    already there; reason names any definitions finished). verified is null (nothing verifies a
    single migration); seconds is the libvirt migration call's wall time.
    """
    result = _mapping_or_empty(result)
    metrics = _mapping_or_empty(result.get("metrics"))
    # The names the playbook knows (inventory hosts) first, else what the daemons call themselves.
    entry = {"domain": _text(domain or result.get("domain")),
             "source": _text(source or result.get("source_host")),
             "destination": _text(destination or result.get("destination_host")),
             "status": "migrated", "verified": None,
             "downtime_ms": _number(metrics.get("downtime_ms"), "downtime_ms", domain), "seconds": None, "reason": None}
    wall_ms = _number(metrics.get("wall_ms"), "wall_ms", domain)
    if wall_ms is not None:
        entry["seconds"] = round(wall_ms / 1000.0, 1)
    if result.get("failed"):
        # The message says where the domain is now (asked of both hosts).
        entry.update(status="failed", destination=None,
                     reason=_one_line(_text(result.get("msg"))) or "failed without an error message")
    elif not metrics:
        cleanup = [str(step) for step in result.get("cleanup") or []]
        entry.update(status="unchanged",
                     reason=("finished an earlier move: " + ", ".join(cleanup)) if cleanup else None)
    return entry


def preflight_stats(results, decision, unreachable=None):
    """The preflight verdicts in the compact form of set_stats (drover_preflight).

    {ok, blocked: [domains], unreachable: [hosts], vms: [{domain, source, pass: [destinations],
    warn: [...], copy: [destinations that pass or warn only if disks are copied], fail:
    {destination: [failed check ids]}}]}, vms sorted by source and domain.
    """
    if not _is_list(results):
        raise DroverError("expected the list of preflight verdicts, got %s" % _type_name(results))
    vms = {}
    for index, verdict in enumerate(results):
        if not isinstance(verdict, Mapping) or verdict.get("status") not in ("pass", "warn", "fail"):
            raise DroverError("verdict %d is not a preflight_info verdict: %r" % (index, verdict))
        key = (_text(verdict.get("source")), _text(verdict.get("domain")))
        entry = vms.setdefault(key, {"domain": key[1], "source": key[0], "pass": [], "warn": [], "copy": [],
                                     "fail": {}})
        destination = _text(verdict.get("destination"))
        if verdict["status"] == "fail":
            entry["fail"][destination] = [str(check) for check in verdict.get("failed") or []]
            continue
        entry[verdict["status"]].append(destination)
        if verdict.get("copy_storage"):
            entry["copy"].append(destination)
    decision = _mapping_or_empty(decision)
    return {"ok": bool(decision.get("ok", True)),
            "blocked": [_text(item.get("domain")) for item in decision.get("blocked") or []],
            "unreachable": [_text(item.get("host") if isinstance(item, Mapping) else item) for item in unreachable or []],
            "vms": [vms[key] for key in sorted(vms, key=lambda k: (k[0] or "", k[1] or ""))]}


def _mapping_or_empty(value):
    return value if isinstance(value, Mapping) else {}
