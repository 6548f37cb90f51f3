# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The evacuation report as one self-contained HTML page: the run, a timeline of the moves, the table.

Pure: the page is built from the dict the evacuate role writes to evacuation.json. Every value
taken from the report is put into an ElementTree and escaped when the tree is written (domain
names may hold <, &, quotes); the page's own style sheet and script are constants that carry no
data. Nothing is loaded from elsewhere, so the page opens from a file, an artifact store or a mail.
The chart is drawn here as SVG and needs no script; the script only sorts and filters the table.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from html import escape

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._report import (
    MIB,
    STATUSES,
    elapsed_s,
    instant,
    normalize_results,
    problem_text,
    summary,
)
from ansible_collections.drover.libvirt.plugins.module_utils._values import type_name

# The chart, in SVG user units (CSS pixels when shown at its full width).
WIDTH = 1100
LABEL_W = 240  # domain names, right-aligned before the plot
PAD_RIGHT = 24
PLOT_X = LABEL_W
PLOT_W = WIDTH - LABEL_W - PAD_RIGHT
AXIS_H = 30
GROUP_H = 24
ROW_H = 18
BAR_H = 12
MIN_BAR_W = 2.0  # a move of a few milliseconds still shows
MIN_PAUSE_W = 3.0  # pauses are milliseconds against seconds: drawn at least this wide
MAX_TICKS = 10
NICE_STEPS_S = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
                86400)
LABEL_CHARS = 32
VOID = ("meta", "input")  # elements without an end tag, of those this page uses
RAW_TEXT = ("style", "script")  # the constants CSS and SCRIPT, never data
# Text an HTML page cannot hold as is: control characters (libvirt error text sometimes has them).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

CSS = """
:root { --ok: #2e7d32; --fail: #c62828; --retry: #ef9a9a; --pause: #111; --cold: #ef6c00;
        --defined: #1565c0; --off: #6d4c41; --same: #90a4ae; --grid: #e0e0e0; --ink: #212121; --muted: #616161; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink);
       margin: 24px; max-width: 1400px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 10px; color: #fff; font-weight: 600; }
.badge.good { background: var(--ok); } .badge.bad { background: var(--fail); } .badge.other { background: var(--muted); }
dl.run { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 12px 0; }
dl.run dt { color: var(--muted); } dl.run dd { margin: 0; overflow-wrap: anywhere; }
ul.counts { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 8px 20px; }
.stopped { border-left: 4px solid var(--fail); padding: 4px 10px; background: #fdecea; }
svg.timeline { width: 100%; max-width: 1100px; height: auto; display: block; }
svg text { font-size: 11px; fill: var(--ink); } svg text.group { font-weight: 600; font-size: 12px; }
svg text.tick { fill: var(--muted); } svg line.grid { stroke: var(--grid); } svg line.rule { stroke: #bdbdbd; }
rect.bar, rect.key { fill: var(--ok); } rect.s-failed { fill: var(--fail); } rect.s-moved_cold { fill: var(--cold); }
rect.s-defined { fill: var(--defined); } rect.s-shut_down { fill: var(--off); }
rect.s-unchanged, rect.s-planned, rect.s-skipped { fill: var(--same); }
rect.bar.verify-failed { stroke: var(--fail); stroke-width: 2; stroke-dasharray: 3 2; }
rect.retry { fill: var(--retry); } rect.pause { fill: var(--pause); }
g.move.lit rect.bar { opacity: 0.7; } g.move { cursor: default; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 4px 0 8px; color: var(--muted); }
.swatch { display: inline-block; width: 14px; height: 10px; margin-right: 4px; vertical-align: middle; }
table { border-collapse: collapse; width: 100%; } th, td { padding: 3px 8px; border-bottom: 1px solid var(--grid);
  text-align: left; vertical-align: top; }
th { cursor: pointer; user-select: none; background: #fafafa; position: sticky; top: 0; }
th[aria-sort=ascending]::after { content: " \\25B2"; } th[aria-sort=descending]::after { content: " \\25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.name { overflow-wrap: anywhere; font-weight: 600; } td.problem { overflow-wrap: anywhere; max-width: 40em; }
tr.problem td { background: #fdecea; } tr.lit td { background: #fff8e1; }
table.only-problems tbody tr:not(.problem) { display: none; }
.empty { color: var(--muted); font-style: italic; }
footer { margin-top: 28px; color: var(--muted); font-size: 12px; }
@media print { th { position: static; } }
"""

# Sorting and the problems-only switch; a bar and its row light up together. It reads only the
# page, and marks the page once it ran to the end (tests look for the mark).
SCRIPT = """
(function () {
  "use strict";
  var each = function (list, fn) { Array.prototype.forEach.call(list, fn); };
  var table = document.getElementById("results");
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  var heads = table.tHead.rows[0].cells;
  var key = function (row, column, numeric) {
    var cell = row.cells[column];
    var value = cell ? cell.getAttribute("data-sort") : null;
    if (value === null) { value = cell ? cell.textContent : ""; }
    if (!numeric) { return value.toLowerCase(); }
    var number = parseFloat(value);
    return isNaN(number) ? -Infinity : number;
  };
  each(heads, function (head, column) {
    head.addEventListener("click", function () {
      var numeric = head.getAttribute("data-type") === "number";
      var down = head.getAttribute("aria-sort") === "ascending";
      each(heads, function (other) { other.removeAttribute("aria-sort"); });
      head.setAttribute("aria-sort", down ? "descending" : "ascending");
      rows.map(function (row, index) { return [key(row, column, numeric), index, row]; })
        .sort(function (a, b) {
          if (a[0] !== b[0]) { return (a[0] < b[0]) === down ? 1 : -1; }
          return a[1] - b[1];
        })
        .forEach(function (item) { table.tBodies[0].appendChild(item[2]); });
    });
  });
  var only = document.getElementById("only-problems");
  only.addEventListener("change", function () { table.classList.toggle("only-problems", only.checked); });
  each(document.querySelectorAll("[data-row]"), function (node) {
    var light = function (on) {
      each(document.querySelectorAll('[data-row="' + node.getAttribute("data-row") + '"]'),
           function (other) { other.classList.toggle("lit", on); });
    };
    node.addEventListener("mouseenter", function () { light(true); });
    node.addEventListener("mouseleave", function () { light(false); });
  });
  document.documentElement.setAttribute("data-drover-ready", "yes");
}());
"""

# Swatches are class key, not bar: a bar is a move.
LEGEND = (("key s-migrated", "moved live"), ("key s-moved_cold", "moved cold (shut off while moving)"),
          ("key s-defined", "definition moved (shut off)"), ("key s-shut_down", "shut down"),
          ("key s-unchanged", "already there"), ("key s-failed", "failed"),
          ("key retry", "a failed try, retried"), ("key pause", "the pause (downtime), at the end of the move"))


def _clean(value):
    """Plain text a page can hold: str, no control characters, no lone surrogates."""
    text = _CONTROL.sub("?", str(value))
    return text.encode("utf-8", "replace").decode("utf-8")


def _el(parent, tag, text=None, **attrs):
    """A child element; attribute names use _ for - (data_row -> data-row); None values are left out."""
    node = ET.SubElement(parent, tag, {name.rstrip("_").replace("_", "-"): _clean(value)
                                       for name, value in attrs.items() if value is not None})
    if text is not None:
        node.text = _clean(text)
    return node


def _num(value):
    return "%.2f" % value


def tick_step(span_s):
    """A round step for the time axis: at most MAX_TICKS steps over span_s seconds."""
    for step in NICE_STEPS_S:
        if span_s / step <= MAX_TICKS:
            return step
    return 86400 * math.ceil(span_s / 86400.0 / MAX_TICKS)


def offset_label(seconds, step):
    """A tick's label in the unit of the axis's step: seconds, minutes or hours, the same along the axis."""
    if seconds == 0:
        return "0"
    if step % 3600 == 0:
        return "+%d h" % (seconds // 3600)
    if step % 60 == 0:
        return "+%d min" % (seconds // 60)
    return "+%s s" % (("%.1f" % seconds).rstrip("0").rstrip("."))


def _group_of(entry, raw):
    """(source, destination) of a move's bar: where it went, else the last destination it tried."""
    destination = entry["to"]
    if destination is None:
        tries = raw.get("tries") or []
        last = tries[-1] if tries and isinstance(tries[-1], Mapping) else {}
        destination = last.get("destination")
    return entry["from"] or "?", str(destination) if destination else None


def timeline(results):
    """The chart's geometry: {origin, span_s, ticks, groups, height, bars}.

    A move is a result with a start and an end; a domain left where it was (skipped, or no
    result from its move step) has neither and gets no bar. Bars are grouped by source and
    destination (groups in that order, no destination last), bars by start within a group. x and
    widths are in the chart's units. The pause ends where the move ends: pre-copy pauses the
    guest at the end of the libvirt job, and only the checks that follow it come after.
    Failed tries that were retried are marked on the bar.
    """
    entries = normalize_results(results)
    moves = []
    for index, (entry, raw) in enumerate(zip(entries, results)):
        start, end = instant(entry["started_at"]), instant(entry["finished_at"])
        if start is not None and end is not None:
            moves.append((index, entry, raw, start, max(start, end)))
    if not moves:
        return {"origin": None, "span_s": 0.0, "ticks": [], "groups": [], "height": 0, "bars": 0}
    origin = min(move[3] for move in moves)
    span = max((max(move[4] for move in moves) - origin).total_seconds(), 1.0)

    def x(when):
        # A try recorded outside its move's times (a clock step) stays on the plot.
        return PLOT_X + min(max((when - origin).total_seconds() / span, 0.0), 1.0) * PLOT_W

    step = tick_step(span)
    ticks = [{"x": PLOT_X + k * step / span * PLOT_W, "label": offset_label(round(k * step, 1), step)}
             for k in range(int(span / step + 1e-9) + 1)]
    groups = {}
    for index, entry, raw, start, end in sorted(moves, key=lambda m: (m[3], m[1]["name"])):
        x0 = x(start)
        width = max(x(end) - x0, MIN_BAR_W)
        x0 = min(x0, PLOT_X + PLOT_W - width)
        pause = None
        if entry["downtime_ms"] is not None:
            pause_w = max(entry["downtime_ms"] / 1000.0 / span * PLOT_W, MIN_PAUSE_W)
            pause = {"x": x0 + width - pause_w, "width": pause_w}
        tries = [t for t in raw.get("tries") or [] if isinstance(t, Mapping)]
        retries = []
        for t in tries[:-1]:
            t_start, t_end = instant(t.get("started_at")), instant(t.get("finished_at"))
            if t.get("status") == "failed" and t_start is not None and t_end is not None:
                retries.append({"x": x(t_start), "width": max(x(max(t_start, t_end)) - x(t_start), 1.0),
                                "destination": t.get("destination"), "error": t.get("error")})
        drawn = {"row": index, "name": entry["name"], "status": entry["status"], "x": x0, "width": width,
                 "pause": pause, "retries": retries, "entry": entry,
                 "verify_failed": entry["verify"] is not None and not entry["verify"]["ok"]}
        groups.setdefault(_group_of(entry, raw), []).append(drawn)
    y = AXIS_H
    laid = []
    for (source, destination), bars in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1] or "\uffff")):
        group = {"source": source, "destination": destination, "y": y, "bars": bars}
        y += GROUP_H
        for drawn in bars:
            drawn["y"] = y + (ROW_H - BAR_H) / 2.0
            y += ROW_H
        laid.append(group)
    return {"origin": origin, "span_s": span, "ticks": ticks, "groups": laid, "height": y + 8,
            "bars": len(moves)}


def _clock(text):
    """HH:MM:SS.mmm of an ISO-8601 time, for table cells (the full time is in the title)."""
    when = instant(text)
    return when.strftime("%H:%M:%S.") + "%03d" % (when.microsecond // 1000) if when else "-"


def _duration(seconds):
    if seconds is None:
        return "-"
    if seconds < 120:
        return "%.1f s" % seconds
    minutes, rest = divmod(int(round(seconds)), 60)
    return "%d min %02d s" % (minutes, rest) if minutes < 120 else "%d h %02d min" % divmod(minutes, 60)


def _stamp(text):
    when = instant(text)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC") if when else "-"


def _bar_title(drawn):
    entry = drawn["entry"]
    words = "%s: %s, %s -> %s, %s to %s (%s s)" % (
        entry["name"], entry["status"], entry["from"] or "?", entry["to"] or "-", _clock(entry["started_at"]),
        _clock(entry["finished_at"]), elapsed_s(entry["started_at"], entry["finished_at"]))
    if entry["downtime_ms"] is not None:
        words += ", paused %d ms" % entry["downtime_ms"]
    for retry in drawn["retries"]:
        words += "\nfailed try on %s: %s" % (retry["destination"], retry["error"] or "no message")
    problem = problem_text(entry)
    return words + ("\n" + problem if problem else "")


def _chart(parent, geometry):
    height = geometry["height"]
    svg = _el(parent, "svg", class_="timeline", viewBox="0 0 %d %s" % (WIDTH, _num(height)), width=str(WIDTH),
              height=_num(height), role="img",
              aria_label="Timeline: %d moves in %d groups" % (geometry["bars"], len(geometry["groups"])))
    axis = _el(svg, "g", class_="axis")
    for tick in geometry["ticks"]:
        _el(axis, "line", class_="grid", x1=_num(tick["x"]), x2=_num(tick["x"]), y1=str(AXIS_H - 6), y2=_num(height))
        _el(axis, "text", tick["label"], class_="tick", x=_num(tick["x"]), y=str(AXIS_H - 12), text_anchor="middle")
    for group in geometry["groups"]:
        g = _el(svg, "g", class_="group", data_source=group["source"], data_destination=group["destination"] or "")
        _el(g, "line", class_="rule", x1="0", x2=str(WIDTH), y1=_num(group["y"] + 2), y2=_num(group["y"] + 2))
        title = "%s \u2192 %s  (%d)" % (group["source"], group["destination"] or "no destination", len(group["bars"]))
        _el(g, "text", title, class_="group", x="4", y=_num(group["y"] + GROUP_H - 7))
        for drawn in group["bars"]:
            move = _el(g, "g", class_="move", data_row=str(drawn["row"]), data_domain=drawn["name"],
                       data_status=drawn["status"])
            _el(move, "title", _bar_title(drawn))
            label = drawn["name"] if len(drawn["name"]) <= LABEL_CHARS else drawn["name"][:LABEL_CHARS - 1] + "\u2026"
            _el(move, "text", label, class_="label", x=str(LABEL_W - 8), y=_num(drawn["y"] + BAR_H - 2),
                text_anchor="end")
            classes = "bar s-%s%s" % (drawn["status"], " verify-failed" if drawn["verify_failed"] else "")
            _el(move, "rect", class_=classes, data_domain=drawn["name"], data_status=drawn["status"], x=_num(drawn["x"]),
                y=_num(drawn["y"]), width=_num(drawn["width"]), height=str(BAR_H), rx="2")
            for retry in drawn["retries"]:
                _el(move, "rect", class_="retry", x=_num(retry["x"]), y=_num(drawn["y"] + 3), width=_num(retry["width"]),
                    height=str(BAR_H - 6))
            if drawn["pause"]:
                _el(move, "rect", class_="pause", x=_num(drawn["pause"]["x"]), y=_num(drawn["y"] - 2),
                    width=_num(drawn["pause"]["width"]), height=str(BAR_H + 4))


def _header(body, report, entries):
    status = str(report.get("status") or "unknown")
    hosts = [str(h) for h in report.get("hosts") or []]
    complete = status == "finished" and bool(report.get("ok"))
    verdict = {"finished": "complete" if complete else "incomplete"}.get(status, status)
    header = _el(body, "header")
    _el(header, "h1", "Evacuation of %s" % (", ".join(hosts) or "no hosts"))
    _el(header, "span", verdict, class_="badge %s" % ("good" if complete else "bad" if status != "running" else "other"),
        id="verdict")
    if report.get("stopped"):
        _el(header, "p", "The run stopped: %s" % report["stopped"], class_="stopped")
    if status == "running":
        _el(header, "p", "The run had not finished when this page was written: it is in progress, or it was"
                         " interrupted (the controller stopped).", class_="stopped", id="running")
    facts = [("Run id", report.get("run_id")), ("Owner", report.get("owner")), ("Status", status),
             ("Started", _stamp(report.get("started_at"))), ("Finished", _stamp(report.get("finished_at"))),
             ("Took", _duration(elapsed_s(report.get("started_at"), report.get("finished_at")))),
             ("Hosts drained", ", ".join(hosts) or "-")]
    unreachable = [u for u in report.get("unreachable") or [] if isinstance(u, Mapping)]
    if unreachable:
        facts.append(("Not read", "; ".join("%s: %s" % (u.get("host"), u.get("reason")) for u in unreachable)))
    plan = report.get("plan")
    if isinstance(plan, Mapping) and isinstance(plan.get("caps"), Mapping):
        caps = plan["caps"]
        facts.append(("Plan", "%d moves in %d waves, about %s s; at most %s at once, %s per source, %s per destination"
                      % (len(plan.get("moves") or []), len(plan.get("waves") or []), plan.get("estimated_seconds", "-"),
                         caps.get("max_parallel"), caps.get("max_per_source"), caps.get("max_per_destination"))))
    dl = _el(header, "dl", class_="run")
    for term, value in facts:
        _el(dl, "dt", term)
        _el(dl, "dd", "-" if value is None else value)
    totals = summary(entries)
    counts = _el(body, "ul", class_="counts", id="counts")
    _el(counts, "li", "%d domains" % totals["total"])
    for status_name in STATUSES:
        if totals["counts"][status_name]:
            _el(counts, "li", "%d %s" % (totals["counts"][status_name], status_name), data_status=status_name)
    if totals["verify_failed"]:
        _el(counts, "li", "%d verify failed" % len(totals["verify_failed"]))
    if totals["downtime_ms_max"] is not None:
        _el(counts, "li", "downtime max %d ms, mean %s ms" % (totals["downtime_ms_max"], totals["downtime_ms_mean"]))
    _el(counts, "li", "%.1f MiB sent" % (totals["bytes_total"] / float(MIB)))


def _fmt(value, scale=1.0, digits=0):
    return "-" if value is None else "%.*f" % (digits, value / scale)


# (header, numeric, cell text, sort value) per column of the table.
COLUMNS = (
    ("VM", False, lambda e: e["name"], None),
    ("From", False, lambda e: e["from"] or "-", None),
    ("To", False, lambda e: e["to"] or "-", None),
    ("Status", False, lambda e: e["status"], None),
    ("Tries", True, lambda e: _fmt(e["attempts"]), lambda e: e["attempts"]),
    ("Downtime (ms)", True, lambda e: _fmt(e["downtime_ms"]), lambda e: e["downtime_ms"]),
    ("Migration (s)", True, lambda e: _fmt(e["duration_ms"], 1000.0, 1), lambda e: e["duration_ms"]),
    ("Move (s)", True, lambda e: _fmt(elapsed_s(e["started_at"], e["finished_at"]), 1.0, 1),
     lambda e: elapsed_s(e["started_at"], e["finished_at"])),
    ("MiB", True, lambda e: _fmt(e["bytes"], float(MIB), 1), lambda e: e["bytes"]),
    ("Verify", False, lambda e: "-" if e["verify"] is None else "ok" if e["verify"]["ok"] else "failed", None),
    ("Started (UTC)", False, lambda e: _clock(e["started_at"]), lambda e: e["started_at"] or ""),
    ("Problem", False, problem_text, None),
)

HEADER_HINTS = {
    "Migration (s)": "the libvirt migration job, as QEMU's statistics count it",
    "Move (s)": "from the first try's start to the last try's end, checks and claims included",
    "Downtime (ms)": "how long the guest was paused",
    "Tries": "destinations tried, a retry after a failure included",
}


def _table(body, entries):
    switch = _el(_el(body, "p"), "label")
    _el(switch, "input", type="checkbox", id="only-problems").tail = " show only domains with a problem"
    table = _el(body, "table", id="results")
    head = _el(_el(table, "thead"), "tr")
    for title, numeric, _cell, _sort in COLUMNS:
        _el(head, "th", title, data_type="number" if numeric else "text", scope="col", title=HEADER_HINTS.get(title))
    rows = _el(table, "tbody")
    for index, entry in enumerate(entries):
        bad = entry["status"] == "failed" or (entry["verify"] is not None and not entry["verify"]["ok"])
        row = _el(rows, "tr", data_row=str(index), data_domain=entry["name"], data_status=entry["status"],
                  class_="problem" if bad else None)
        for title, numeric, cell, sort in COLUMNS:
            value = sort(entry) if sort else None
            _el(row, "td", cell(entry), class_="num" if numeric else {"VM": "name", "Problem": "problem"}.get(title),
                data_sort=None if value is None else str(value),
                title=entry["started_at"] if title.startswith("Started") else None)
    if not entries:
        _el(_el(rows, "tr"), "td", "No domain results: nothing was moved.", colspan=str(len(COLUMNS)), class_="empty")


def report_html(report):
    """The page for one evacuation report (the dict written to evacuation.json), as a str."""
    if not isinstance(report, Mapping):
        raise DroverError("expected the evacuation report (a dict), got %s" % type_name(report))
    results = report.get("results") or []
    entries = normalize_results(results)
    geometry = timeline(results)
    html = ET.Element("html", lang="en")
    head = _el(html, "head")
    _el(head, "meta", charset="utf-8")
    _el(head, "meta", name="viewport", content="width=device-width, initial-scale=1")
    hosts = ", ".join(str(h) for h in report.get("hosts") or [])
    _el(head, "title", "Evacuation %s - run %s" % (hosts, report.get("run_id")))
    ET.SubElement(head, "style").text = CSS
    body = _el(html, "body")
    _header(body, report, entries)
    section = _el(body, "section", id="timeline")
    _el(section, "h2", "Timeline")
    if geometry["bars"]:
        _el(section, "p", "One bar per move, from its first try's start to its end, grouped by source and destination;"
                          " time from the first start (%s)." % geometry["origin"].strftime("%Y-%m-%d %H:%M:%S UTC"))
        legend = _el(section, "div", class_="legend")
        for classes, words in LEGEND:
            swatch = _el(_el(legend, "span"), "svg", class_="swatch", width="14", height="10")
            _el(swatch, "rect", class_=classes, width="14", height="10")
            swatch.tail = words
        _chart(section, geometry)
    else:
        _el(section, "p", "No moves were started.", class_="empty", id="no-moves")
    section = _el(body, "section", id="domains")
    _el(section, "h2", "Domains")
    _table(section, entries)
    _el(body, "footer", "drover.libvirt evacuation report; times in UTC. The same data is in evacuation.json.")
    ET.SubElement(body, "script").text = SCRIPT
    out = ["<!DOCTYPE html>\n"]
    _serialize(html, out)
    return "".join(out) + "\n"


def _serialize(node, out):
    """HTML of a tree whose tags and attribute names are this file's own: every text and attribute value is
    escaped (& < > and both quotes), except the constant style sheet and script."""
    attrs = "".join(' %s="%s"' % (name, escape(value, quote=True)) for name, value in node.attrib.items())
    out.append("<%s%s>" % (node.tag, attrs))
    if node.tag in VOID:
        out.append(escape(node.tail or "", quote=True))
        return
    if node.text:
        out.append(node.text if node.tag in RAW_TEXT else escape(node.text, quote=True))
    for child in node:
        _serialize(child, out)
    out.append("</%s>" % node.tag)
    out.append(escape(node.tail or "", quote=True))
