# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Progress lines of a batch of moves: what move_domains writes while it runs, and how they read.

A batch given a progress file appends one JSON object per line to it on the hypervisor: a line
when a move starts, one every PROGRESS_EVERY_S seconds while a live migration runs (phase,
percent, rate, remaining, ETA), and one when it ends (status, downtime, where the domain is).
The action move_progress reads the new lines from the controller and prints them.
The line format and its text are pure; append_line and read_lines are the two file operations.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import json
import math
import os

PROGRESS_EVERY_S = 3.0  # seconds between two progress lines of one migration
READ_LIMIT = 1 << 20  # bytes one read returns at most; the reader comes back for the rest
_MIB = float(1 << 20)
_PHASES = {"precopy": "pre-copy", "postcopy": "post-copy", "paused": "paused"}
# How a move ended, as the batch reports it, and how it reads.
_ENDS = {"migrated": "migrated", "moved_cold": "moved cold", "defined": "defined", "shut_down": "shut down",
         "unchanged": "already there", "planned": "planned", "failed": "FAILED"}
_WHERE = {"source": "still on the source", "destination": "on the destination", "both": "ACTIVE ON BOTH HOSTS",
          "none": "NOT RUNNING ON EITHER HOST", "unknown": "where it is is unknown"}

# Options of move_progress, shared by its module and its action plugin.
MOVE_PROGRESS_ARGSPEC = dict(
    move_domains=dict(type="dict"),
    interval=dict(type="int", default=10),
    timeout=dict(type="int", default=86400),
    reconnect_timeout=dict(type="int", default=300),
    progress_file=dict(type="path"),
    offset=dict(type="int", default=0),
    remove=dict(type="bool", default=False),
)


def progress_fields(sample, previous, phase):
    """The numbers of one progress line, from the job sample now and the one of the previous line.

    Samples are summarize_stats() dicts. The rate is what was sent between the two samples (libvirt's
    own bandwidth figure for the first line); in pre-copy the guest dirties memory while it is sent,
    so the ETA counts only what the rate gains on the dirty rate, and is None when it gains nothing.
    """
    total = sample.get("data_total_bytes") or 0
    remaining = sample.get("data_remaining_bytes")
    rate = None
    if previous:
        elapsed_ms = sample.get("elapsed_ms", 0) - previous.get("elapsed_ms", 0)
        sent = sample.get("data_processed_bytes", 0) - previous.get("data_processed_bytes", 0)
        if elapsed_ms > 0 and sent >= 0:
            rate = sent * 1000.0 / elapsed_ms
    if rate is None:
        rate = sample.get("memory_bandwidth_bps")
    dirty = sample.get("dirty_rate_bps") if phase == "precopy" else None
    gain = (rate or 0) - (dirty or 0)
    eta = remaining / gain if remaining is not None and gain > 0 else None
    return {
        "phase": phase,
        "percent": round(100.0 * (total - remaining) / total, 1) if total and remaining is not None else None,
        "rate_mib_s": round(rate / _MIB, 1) if rate is not None else None,
        "remaining_mib": round(remaining / _MIB, 1) if remaining is not None else None,
        "dirty_mib_s": round(dirty / _MIB, 1) if dirty is not None else None,
        "iteration": sample.get("memory_iterations"),
        "elapsed_s": round(sample.get("elapsed_ms", 0) / 1000.0, 1),
        "eta_s": int(math.ceil(eta)) if eta is not None else None,
    }


def event_line(when, name, event, attempt, fields=None):
    """One line of the progress file: `event` (start, progress, retry, wait_for_capacity or how the move
    ended) of domain `name` in `attempt` (the batch's record of the try), at ISO time `when`."""
    line = {"time": when, "domain": name, "event": event, "destination": attempt.get("destination"),
            "error": attempt.get("error")}
    if event not in ("start", "progress"):
        line.update(location=attempt.get("location"), wall_ms=attempt.get("wall_ms"),
                    downtime_ms=(attempt.get("metrics") or {}).get("downtime_ms"))
    line.update(fields or {})
    return line


def _number(value, unit, digits=0):
    return ("%%.%df%%s" % digits) % (value, unit) if value is not None else "?" + unit


def line_text(line):
    """A progress line as a person reads it, for example
    `vm1 -> hv2: pre-copy 42.0%, 96.3 MiB/s, 310.0 MiB left, ETA 4 s (pass 2, dirtying 3.1 MiB/s)`."""
    who = "%s -> %s" % (line.get("domain"), line["destination"]) if line.get("destination") else str(line.get("domain"))
    event = line.get("event")
    error = line.get("error") or "no reason given"
    seconds = _number(line["wall_ms"] / 1000.0, " s", 1) if line.get("wall_ms") is not None else None
    if event == "start":
        return "%s: started" % who
    if event == "progress":
        eta = "ETA %d s" % line["eta_s"] if line.get("eta_s") is not None else (
            "not converging" if line.get("phase") == "precopy" else "ETA unknown")
        text = "%s: %s %s, %s, %s left, %s" % (
            who, _PHASES.get(line.get("phase"), line.get("phase")), _number(line.get("percent"), "%", 1),
            _number(line.get("rate_mib_s"), " MiB/s", 1), _number(line.get("remaining_mib"), " MiB", 1), eta)
        if line.get("phase") == "precopy" and line.get("iteration"):
            text += " (pass %d, dirtying %s)" % (line["iteration"], _number(line.get("dirty_mib_s"), " MiB/s", 1))
        return text
    if event == "retry":
        return "%s: failed, %s; trying the next destination: %s" % (who, _WHERE.get(line.get("location"), "?"), error)
    if event == "wait_for_capacity":
        return "%s: no destination has room yet, asking again: %s" % (who, error)
    if event == "unreadable":
        return "unreadable progress line: %s" % line.get("text")
    text = "%s: %s" % (who, _ENDS.get(event, event))
    if seconds:
        text += " in %s" % seconds
    if line.get("downtime_ms") is not None and event == "migrated":
        text += ", downtime %d ms" % line["downtime_ms"]
    if event == "failed":
        text += ", %s: %s" % (_WHERE.get(line.get("location"), "where it is is unknown"), error)
    return text


def lines_to_show(lines):
    """Of the lines one read returned, those worth printing: every event, and of each domain's
    progress lines only the newest (the file has one every few seconds, a watcher looks less often)."""
    newest = {}
    for index, line in enumerate(lines):
        if line.get("event") == "progress":
            newest[line.get("domain")] = index
    return [line for index, line in enumerate(lines)
            if line.get("event") != "progress" or newest[line.get("domain")] == index]


def append_line(path, line):
    """Append `line` as JSON. One write() to a file opened for appending, so the lines of moves that
    run at the same time never interleave. A symlink planted at `path` is not followed."""
    data = (json.dumps(line, sort_keys=True) + "\n").encode("utf-8")
    handle = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o640)
    try:
        os.write(handle, data)
    finally:
        os.close(handle)


def read_lines(path, offset, limit=READ_LIMIT):
    """(lines, new offset, at_end): the complete lines after byte `offset`, parsed.

    A last line without its newline is still being written: it is left for the next read. A file
    that does not exist (yet) has no lines. A line that is not JSON is returned as event `unreadable`.
    """
    try:
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as handle:
            handle.seek(offset)
            data = handle.read(limit)
    except FileNotFoundError:
        return [], offset, True
    at_end = len(data) < limit
    complete = data[:data.rfind(b"\n") + 1]
    if not complete and not at_end:
        complete = data  # a line longer than a whole read: skip it rather than stop here
    lines = []
    for raw in complete.splitlines():
        try:
            line = json.loads(raw.decode("utf-8"))
        except ValueError:
            line = None
        lines.append(line if isinstance(line, dict) else
                     {"event": "unreadable", "text": raw.decode("utf-8", "replace")[:200]})
    return lines, offset + len(complete), at_end


def watch_path(path):
    """The file whose time says when someone last read the progress file at `path`."""
    return path + ".watched"


def mark_watched(path, now=None):
    """Record that the progress file at `path` was read now (each look of move_progress)."""
    handle = os.open(watch_path(path), os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o640)
    try:
        os.utime(handle, None if now is None else (now, now))  # the file opened, never a link swapped in since
    finally:
        os.close(handle)


def unwatched_for(path, since, now):
    """Seconds since the progress file at `path` was last read, or since `since` (the job's start) if later."""
    try:
        seen = os.stat(watch_path(path)).st_mtime
    except OSError:
        seen = since
    return now - max(seen, since)
