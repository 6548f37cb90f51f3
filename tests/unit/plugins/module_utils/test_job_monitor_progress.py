# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The job monitor's progress lines, against a scripted domain and clock (no libvirt)."""

from __future__ import annotations

import threading

from ansible_collections.drover.libvirt.plugins.module_utils._convergence import ConvergencePolicy, resolve_knobs
from ansible_collections.drover.libvirt.plugins.module_utils._job_monitor import JobMonitor

MIB = 1 << 20


class FakeLibvirt:
    class libvirtError(Exception):  # noqa: N801  (the name libvirt-python uses)
        pass


class StreamingDomain:
    """A migration sending 100 MiB per sampled second of 1 GiB, which the call returns after `samples` samples."""

    def __init__(self, samples, state=(1, 1), preparing=0):
        self.samples = samples
        self.preparing = preparing
        self.seen = 0
        self.done = threading.Event()
        self.current_state = state

    def migrate(self):
        self.done.wait(10)

    def jobStats(self):  # noqa: N802
        self.seen += 1
        if self.seen >= self.samples:
            self.done.set()
        if self.seen <= self.preparing:
            return {"time_elapsed": self.seen * 1000}  # connecting: nothing counted yet
        sent = min(self.seen * 100, 1024)
        return {"time_elapsed": self.seen * 1000, "data_processed": sent * MIB, "data_remaining": (1024 - sent) * MIB,
                "data_total": 1024 * MIB, "memory_iteration": 1}

    def state(self):
        return self.current_state


class Clock:
    """One second per sample: the loop reads the clock once per poll."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 1.0
        return self.now


def monitor(dom, on_progress, postcopy_seen=None):
    policy = ConvergencePolicy(resolve_knobs("none"), 1 << 30, timeout=3600)
    return JobMonitor(dom, FakeLibvirt, policy, poll_interval=0.001, clock=Clock(), postcopy_seen=postcopy_seen,
                      on_progress=on_progress, progress_every=3)


def test_a_progress_line_every_few_seconds_with_rate_percent_and_eta():
    lines = []
    dom = StreamingDomain(samples=10)
    error, _wall_ms = monitor(dom, lines.append).run(dom.migrate)
    assert error is None
    assert len(lines) >= 2
    assert all(line["phase"] == "precopy" for line in lines)
    assert [line["elapsed_s"] for line in lines] == sorted({line["elapsed_s"] for line in lines})
    steps = [b["elapsed_s"] - a["elapsed_s"] for a, b in zip(lines, lines[1:])]
    assert all(step >= 3 for step in steps), steps
    # 100 MiB per second of the job's own clock, between two lines
    assert all(line["rate_mib_s"] == 100.0 for line in lines[1:])
    last = lines[-1]
    assert last["percent"] == round(100.0 * (1024 - last["remaining_mib"]) / 1024, 1)
    assert last["eta_s"] == -(-int(last["remaining_mib"]) // 100)


def test_lines_name_post_copy_and_a_paused_guest():
    seen = []
    dom = StreamingDomain(samples=8, state=(3, 1))  # paused, not by post-copy
    monitor(dom, seen.append).run(dom.migrate)
    assert seen and all(line["phase"] == "paused" for line in seen)
    seen = []
    dom = StreamingDomain(samples=8)
    monitor(dom, seen.append, postcopy_seen=lambda: True).run(dom.migrate)
    assert seen and all(line["phase"] == "postcopy" for line in seen)


def test_a_progress_line_that_cannot_be_written_does_not_disturb_the_migration():
    def broken(_fields):
        raise OSError("No space left on device")

    dom = StreamingDomain(samples=8)
    mon = monitor(dom, broken)
    error, _wall_ms = mon.run(dom.migrate)
    assert error is None and mon.decisions == [] and not mon.aborted


def test_no_line_while_the_job_has_not_counted_what_it_sends():
    lines = []
    dom = StreamingDomain(samples=12, preparing=6)
    monitor(dom, lines.append).run(dom.migrate)
    assert lines and all(line["percent"] is not None for line in lines)
    assert lines[0]["elapsed_s"] >= 7.0


def test_no_lines_without_a_listener():
    dom = StreamingDomain(samples=5)
    mon = monitor(dom, None)
    assert mon.run(dom.migrate)[0] is None
