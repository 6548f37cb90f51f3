# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The progress file of a batch: a start line, the migration's progress lines and an end line per move."""

from __future__ import annotations

import json
import time

import pytest

from ansible_collections.drover.libvirt.plugins.module_utils._batch import BatchMover
from ansible_collections.drover.libvirt.plugins.module_utils._progress import (
    append_line, mark_watched, read_lines, unwatched_for)
from test_batch import _Dom, _Fleet, _Host, _Module, ScriptedMover, _moves


def _lines(path):
    with open(path, encoding="utf-8") as handle:
        return [json.loads(raw) for raw in handle]


class Streaming:
    """A live migration that reports two progress lines, then lands with 120 ms of downtime."""

    source = None

    def __init__(self, connect, options, warn, libvirt, libvirt_qemu=None, on_progress=None):
        self.on_progress, self.name = on_progress, options.name

    def run(self, check_mode):
        self.source.doms.pop(self.name)
        for percent in (30.0, 80.0):
            self.on_progress({"phase": "precopy", "percent": percent, "rate_mib_s": 100.0, "eta_s": 2})
        return {"changed": True, "metrics": {"downtime_ms": 120, "duration_ms": 900, "wall_ms": 950}}


def test_a_live_move_writes_its_start_its_progress_and_its_end(monkeypatch, tmp_path):
    monkeypatch.setattr("ansible_collections.drover.libvirt.plugins.module_utils._batch.LiveMigration", Streaming)
    path = str(tmp_path / "moves.progress")
    module = _Module([{"domain": "vm1", "destination": "hv2"}], progress_file=path)
    fleet = _Fleet(_Host({"vm1": _Dom(1, persistent=True)}), _Host({"vm1": _Dom(1, persistent=True)}))
    monkeypatch.setattr(Streaming, "source", fleet.hosts["qemu:///system"])
    [result] = BatchMover(module, connections=fleet).run(False)["results"]
    assert result["status"] == "migrated"
    lines = _lines(path)
    assert [(line["event"], line.get("percent")) for line in lines] == [
        ("start", None), ("progress", 30.0), ("progress", 80.0), ("migrated", None)]
    assert all(line["domain"] == "vm1" and line["destination"] == "hv2" for line in lines)
    end = lines[-1]
    assert end["downtime_ms"] == 120 and end["location"] == "destination" and end["wall_ms"] == result["wall_ms"]


def test_a_retry_and_the_final_end_are_written_per_try(tmp_path):
    path = str(tmp_path / "moves.progress")
    # The scripted attempts skip the start line; the scheduler writes what happened to each try.
    mover = ScriptedMover(_Module(_moves(2), retries=1, progress_file=path), fail_first={"vm01"})
    results = {r["name"]: r for r in mover.run(False)["results"]}
    events = [(line["domain"], line["event"], line["destination"]) for line in _lines(path)]
    assert [e for e in events if e[0] == "vm01"] == [("vm01", "retry", "hv3"), ("vm01", "migrated", "hv2")]
    retry = [line for line in _lines(path) if line["event"] == "retry"][0]
    assert retry["error"] == "refused" and retry["location"] == "source"
    assert results["vm01"]["to"] == "hv2"


def test_a_progress_file_that_cannot_be_written_changes_no_move(tmp_path):
    path = str(tmp_path / "missing-directory" / "moves.progress")
    result = ScriptedMover(_Module(_moves(3), progress_file=path)).run(False)
    assert [r["status"] for r in result["results"]] == ["migrated"] * 3


def test_a_job_nobody_watches_finishes_what_runs_and_starts_nothing_else(tmp_path):
    path = str(tmp_path / "moves.progress")

    class Slow(ScriptedMover):
        def _attempt(self, task):
            time.sleep(1.5)  # nobody looks meanwhile: the lease of 1 s runs out
            return super()._attempt(task)

    mover = Slow(_Module(_moves(4), max_parallel=1, progress_file=path, stop_when_unwatched=1))
    results = {r["name"]: r for r in mover.run(False)["results"]}
    [(moved, _dest)] = mover.order  # one move ran, to its end
    assert results.pop(moved)["status"] == "migrated"
    for name, result in results.items():
        assert result["status"] == "failed" and result["location"] == "source" and result["attempts"] == 1
        assert result["error"].startswith("not started: nobody has watched this job for ")
        assert result["error"].endswith("(its controller is gone); %s stays on hv1" % name)
    assert sorted(line["event"] for line in _lines(path)) == ["failed", "failed", "failed", "migrated"]


def test_a_watched_job_moves_everything(tmp_path):
    path = str(tmp_path / "moves.progress")
    mark_watched(path)
    results = ScriptedMover(_Module(_moves(3), progress_file=path, stop_when_unwatched=60)).run(False)["results"]
    assert [r["status"] for r in results] == ["migrated"] * 3


def test_unwatched_time_counts_from_the_last_look_or_the_start(tmp_path):
    path = str(tmp_path / "moves.progress")
    assert unwatched_for(path, since=1000.0, now=1030.0) == 30.0  # never looked at: since the start
    mark_watched(path, now=2000.0)
    assert unwatched_for(path, since=1000.0, now=2045.0) == 45.0
    assert unwatched_for(path, since=2040.0, now=2045.0) == 5.0


def test_a_symlink_planted_at_the_progress_file_is_not_followed(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("keep\n")
    path = tmp_path / "moves.progress"
    path.symlink_to(target)
    with pytest.raises(OSError):
        append_line(str(path), {"event": "start"})
    with pytest.raises(OSError):
        read_lines(str(path), 0)
    assert target.read_text() == "keep\n"
