"""The maintenance mark: how host_maintenance merges marks, and reading the mark file."""

from __future__ import annotations

import pytest

from ansible_collections.drover.libvirt.plugins.module_utils import _maintenance as mark
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError


NOW = "2026-11-26T10:00:00+00:00"


def test_next_mark_sets_and_clears():
    assert mark.next_mark(None, "present", "draining", "kernel", "run-1", NOW) == {
        "state": "draining", "reason": "kernel", "by": "run-1", "since": NOW}
    assert mark.next_mark({"state": "draining", "since": "t0"}, "absent", "draining", "", "", NOW) is None
    assert mark.next_mark({"state": "unreadable"}, "absent", "draining", "", "", NOW) is None


def test_next_mark_keeps_the_same_mark_and_never_demotes_maintenance():
    draining = {"state": "draining", "reason": "kernel", "by": "run-1", "since": "t0"}
    assert mark.next_mark(draining, "present", "draining", "kernel", "run-1", NOW) is draining
    maintenance = {"state": "maintenance", "reason": "kernel", "by": "run-1", "since": "t0"}
    assert mark.next_mark(maintenance, "present", "draining", "other", "run-2", NOW) is maintenance


def test_next_mark_keeps_the_start_when_the_stage_changes():
    draining = {"state": "draining", "reason": "kernel", "by": "run-1", "since": "t0"}
    assert mark.next_mark(draining, "present", "maintenance", "kernel", "run-1", NOW) == {
        "state": "maintenance", "reason": "kernel", "by": "run-1", "since": "t0"}
    assert mark.next_mark(draining, "present", "draining", "firmware", "run-1", NOW)["since"] == "t0"


def test_read_mark_reads_the_file_and_names_a_bad_one(tmp_path):
    path = tmp_path / "maintenance.json"
    assert mark.read_mark(str(path)) is None
    path.write_text('{"state": "maintenance", "reason": "firmware"}\n')
    assert mark.read_mark(str(path))["reason"] == "firmware"
    path.write_text("{not json")
    with pytest.raises(DroverError, match="cannot read the maintenance mark .*maintenance.json"):
        mark.read_mark(str(path))
    with pytest.raises(DroverError, match=r"is not valid JSON with state draining\|maintenance"):
        mark.parse_mark('["draining"]', "hv2")
