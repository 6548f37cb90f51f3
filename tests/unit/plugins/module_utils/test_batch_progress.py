# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The progress file of a batch: a start line, the migration's progress lines and an end line per move."""

from __future__ import annotations

import json

from ansible_collections.drover.libvirt.plugins.module_utils._batch import BatchMover
from test_batch import _Dom, _Fleet, _Host, _Module, ScriptedMover, _moves


def _lines(path):
    with open(path, encoding="utf-8") as handle:
        return [json.loads(raw) for raw in handle]


class Streaming:
    """A live migration that reports two progress lines, then lands with 120 ms of downtime."""

    def __init__(self, connect, options, warn, libvirt, libvirt_qemu=None, on_progress=None):
        self.on_progress = on_progress

    def run(self, check_mode):
        for percent in (30.0, 80.0):
            self.on_progress({"phase": "precopy", "percent": percent, "rate_mib_s": 100.0, "eta_s": 2})
        return {"changed": True, "metrics": {"downtime_ms": 120, "duration_ms": 900, "wall_ms": 950}}


def test_a_live_move_writes_its_start_its_progress_and_its_end(monkeypatch, tmp_path):
    monkeypatch.setattr("ansible_collections.drover.libvirt.plugins.module_utils._batch.LiveMigration", Streaming)
    path = str(tmp_path / "moves.progress")
    module = _Module([{"domain": "vm1", "destination": "hv2"}], progress_file=path)
    fleet = _Fleet(_Host({}), _Host({"vm1": _Dom(1, persistent=True)}))
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
