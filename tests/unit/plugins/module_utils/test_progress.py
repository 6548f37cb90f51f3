# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Progress lines: the numbers of a migration's progress, how lines read, and the file they go through."""

from __future__ import annotations

import json
import threading

from ansible_collections.drover.libvirt.plugins.module_utils._progress import (
    append_line, event_line, line_text, lines_to_show, progress_fields, read_lines)

MIB = 1 << 20


def sample(elapsed_s, processed_mib, remaining_mib, total_mib=1024, dirty_mib_s=None, bandwidth_mib_s=None, iteration=1):
    out = {"elapsed_ms": int(elapsed_s * 1000), "data_processed_bytes": processed_mib * MIB,
           "data_remaining_bytes": remaining_mib * MIB, "data_total_bytes": total_mib * MIB,
           "memory_iterations": iteration}
    if dirty_mib_s is not None:
        out["dirty_rate_bps"] = dirty_mib_s * MIB
    if bandwidth_mib_s is not None:
        out["memory_bandwidth_bps"] = bandwidth_mib_s * MIB
    return out


def test_rate_is_what_was_sent_between_two_lines_and_eta_what_is_left_at_that_rate():
    fields = progress_fields(sample(6, 600, 424), sample(3, 300, 724), "precopy")
    assert fields["rate_mib_s"] == 100.0
    assert fields["percent"] == 58.6  # (1024 - 424) / 1024
    assert fields["remaining_mib"] == 424.0
    assert fields["eta_s"] == 5  # 424 MiB at 100 MiB/s, rounded up
    assert fields["phase"] == "precopy" and fields["elapsed_s"] == 6.0


def test_the_first_line_takes_the_rate_libvirt_measured():
    fields = progress_fields(sample(3, 300, 724, bandwidth_mib_s=80), None, "precopy")
    assert fields["rate_mib_s"] == 80.0 and fields["eta_s"] == 10  # 724 / 80 = 9.05


def test_in_precopy_the_eta_counts_only_what_the_rate_gains_on_the_dirty_rate():
    fields = progress_fields(sample(6, 600, 200, dirty_mib_s=60, iteration=3), sample(3, 300, 300), "precopy")
    assert fields["eta_s"] == 5  # 200 MiB at 100 - 60 MiB/s
    assert fields["dirty_mib_s"] == 60.0 and fields["iteration"] == 3


def test_a_guest_dirtying_faster_than_the_link_has_no_eta():
    fields = progress_fields(sample(6, 600, 200, dirty_mib_s=150), sample(3, 300, 300), "precopy")
    assert fields["eta_s"] is None
    assert "not converging" in line_text(dict(event_line("t", "vm1", "progress", {"destination": "hv2"}), **fields))


def test_in_post_copy_the_guest_no_longer_dirties_what_is_left_to_send():
    fields = progress_fields(sample(6, 600, 200, dirty_mib_s=150), sample(3, 300, 300), "postcopy")
    assert fields["eta_s"] == 2 and fields["dirty_mib_s"] is None


def test_a_sample_without_totals_gives_unknowns_not_errors():
    fields = progress_fields({"elapsed_ms": 500}, None, "precopy")
    assert fields["percent"] is None and fields["eta_s"] is None and fields["rate_mib_s"] is None
    assert line_text(dict(event_line("t", "vm1", "progress", {"destination": "hv2"}), **fields)) == \
        "vm1 -> hv2: pre-copy ?%, ? MiB/s, ? MiB left, not converging"


def test_end_lines_carry_the_status_time_downtime_and_where_the_domain_is():
    attempt = {"destination": "hv2", "error": None, "location": "destination", "wall_ms": 24100,
               "metrics": {"downtime_ms": 120}}
    line = event_line("2025-01-01T00:00:00Z", "vm1", "migrated", attempt)
    assert line == {"time": "2025-01-01T00:00:00Z", "domain": "vm1", "event": "migrated", "destination": "hv2",
                    "error": None, "location": "destination", "wall_ms": 24100, "downtime_ms": 120}
    assert line_text(line) == "vm1 -> hv2: migrated in 24.1 s, downtime 120 ms"
    start = event_line("t", "vm1", "start", {"destination": "hv2", "error": None})
    assert set(start) == {"time", "domain", "event", "destination", "error"}
    assert line_text(start) == "vm1 -> hv2: started"


def test_a_failure_says_where_the_domain_is_and_why():
    attempt = {"destination": "hv2", "error": "migration was aborted", "location": "source", "wall_ms": 3000,
               "metrics": {}}
    assert line_text(event_line("t", "vm1", "failed", attempt)) == \
        "vm1 -> hv2: FAILED in 3.0 s, still on the source: migration was aborted"
    assert line_text(event_line("t", "vm1", "retry", attempt)) == \
        "vm1 -> hv2: failed, still on the source; trying the next destination: migration was aborted"
    lost = dict(attempt, location="both")
    assert "ACTIVE ON BOTH HOSTS" in line_text(event_line("t", "vm1", "failed", lost))
    assert line_text(event_line("t", "vm2", "shut_down", {"destination": None, "wall_ms": 1500})) == \
        "vm2: shut down in 1.5 s"


def test_progress_text_names_phase_percent_rate_remaining_eta_and_pass():
    line = {"domain": "vm1", "destination": "hv2", "event": "progress", "phase": "precopy", "percent": 42.0,
            "rate_mib_s": 96.3, "remaining_mib": 310.0, "eta_s": 4, "iteration": 2, "dirty_mib_s": 3.1}
    assert line_text(line) == ("vm1 -> hv2: pre-copy 42.0%, 96.3 MiB/s, 310.0 MiB left, ETA 4 s "
                               "(pass 2, dirtying 3.1 MiB/s)")
    line.update(phase="postcopy", eta_s=2)
    assert line_text(line) == "vm1 -> hv2: post-copy 42.0%, 96.3 MiB/s, 310.0 MiB left, ETA 2 s"


def test_a_look_shows_every_event_and_the_newest_progress_of_each_domain():
    lines = [{"domain": "vm1", "event": "start"}, {"domain": "vm1", "event": "progress", "percent": 10},
             {"domain": "vm2", "event": "start"}, {"domain": "vm1", "event": "progress", "percent": 40},
             {"domain": "vm2", "event": "progress", "percent": 5}, {"domain": "vm1", "event": "migrated"}]
    shown = lines_to_show(lines)
    assert [(line["domain"], line["event"], line.get("percent")) for line in shown] == [
        ("vm1", "start", None), ("vm2", "start", None), ("vm1", "progress", 40), ("vm2", "progress", 5),
        ("vm1", "migrated", None)]


def test_reads_return_complete_lines_from_the_offset_and_leave_a_half_written_one(tmp_path):
    path = str(tmp_path / "moves.progress")
    assert read_lines(path, 0) == ([], 0, True)  # not written yet
    append_line(path, {"domain": "vm1", "event": "start"})
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"domain": "vm1", "ev')  # a writer in the middle of a line
    lines, offset, at_end = read_lines(path, 0)
    assert lines == [{"domain": "vm1", "event": "start"}] and at_end
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('ent": "migrated"}\nnot json\n')
    lines, offset, at_end = read_lines(path, offset)
    assert lines == [{"domain": "vm1", "event": "migrated"}, {"event": "unreadable", "text": "not json"}]
    assert read_lines(path, offset) == ([], offset, True)


def test_a_long_file_is_read_in_pieces_that_end_on_line_boundaries(tmp_path):
    path = str(tmp_path / "moves.progress")
    for index in range(100):
        append_line(path, {"domain": "vm%03d" % index, "event": "start"})
    seen, offset, at_end = [], 0, False
    while not at_end:
        lines, offset, at_end = read_lines(path, offset, limit=500)
        seen += lines
    assert [line["domain"] for line in seen] == ["vm%03d" % i for i in range(100)]


def test_lines_of_moves_running_at_once_never_interleave(tmp_path):
    path = str(tmp_path / "moves.progress")

    def writer(name):
        for index in range(200):
            append_line(path, {"domain": name, "event": "progress", "index": index, "pad": "x" * 300})

    threads = [threading.Thread(target=writer, args=("vm%d" % n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with open(path, encoding="utf-8") as handle:
        lines = [json.loads(raw) for raw in handle]
    assert len(lines) == 800
    for n in range(4):
        assert [line["index"] for line in lines if line["domain"] == "vm%d" % n] == list(range(200))
