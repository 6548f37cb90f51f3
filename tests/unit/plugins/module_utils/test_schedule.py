# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The schedule model: caps, slots, what starts now, and waves."""

from __future__ import annotations

import pytest

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._schedule import (
    Slots,
    batch_caps,
    fill_waves,
    read_caps,
    single_source_caps,
    start_now,
)


def test_caps_are_checked_once_and_lowered_to_max_parallel():
    assert read_caps({"max_parallel": "3", "max_per_source": 5, "max_per_destination": 2.0}) == {
        "max_parallel": 3, "max_per_source": 3, "max_per_destination": 2}
    with pytest.raises(DroverError, match="constraint max_per_source must be at least 1, got 0"):
        read_caps({"max_parallel": 1, "max_per_source": 0, "max_per_destination": 1}, "constraint ")
    with pytest.raises(DroverError, match="max_parallel must be an integer, got True"):
        single_source_caps(True, 1)
    assert single_source_caps(4, 9) == {"max_parallel": 4, "max_per_source": 4, "max_per_destination": 4}


def test_a_batch_runs_under_the_per_source_cap():
    assert batch_caps({"max_parallel": 6, "max_per_source": 2, "max_per_destination": 1}) == {
        "max_parallel": 2, "max_per_destination": 1}


def test_start_now_keeps_order_and_skips_what_does_not_fit():
    slots = Slots({"max_parallel": 3, "max_per_source": 3, "max_per_destination": 1})
    waiting = [("a", "hv1", "hv2"), ("b", "hv1", "hv2"), ("c", "hv1", None), ("d", "hv1", "hv3"), ("e", "hv1", "hv4")]
    started = start_now(waiting, slots, lambda item: item[1:])
    assert [item[0] for item in started] == ["a", "c", "d"]
    assert slots.full() and slots.per_destination == {"hv2": 1, "hv3": 1}
    slots.release("hv1", "hv2")
    assert [item[0] for item in start_now(waiting[1:2], slots, lambda item: item[1:])] == ["b"]


def _moves(spec):
    return [{"domain": d, "source": s, "destination": t, "estimated_seconds": float(n)} for n, (d, s, t) in enumerate(spec, 1)]


def test_waves_drain_sources_one_after_another_by_default():
    moves = _moves([("a", "hv2", "d1"), ("b", "hv1", "d2"), ("c", "hv2", "d3"), ("d", "hv1", "d1")])
    caps = {"max_parallel": 4, "max_per_source": 2, "max_per_destination": 1}
    waves = fill_waves(moves, caps)
    assert [w["domains"] for w in waves] == [["b", "d"], ["a", "c"]]
    assert [(m["domain"], m["wave"], m["order"]) for m in moves] == [("b", 1, 1), ("d", 1, 2), ("a", 2, 3), ("c", 2, 4)]
    assert [w["estimated_seconds"] for w in waves] == [4.0, 3.0]


def test_waves_with_every_source_at_once_share_destinations():
    moves = _moves([("a", "hv2", "d1"), ("b", "hv1", "d2"), ("c", "hv2", "d3"), ("d", "hv1", "d1")])
    caps = {"max_parallel": 4, "max_per_source": 2, "max_per_destination": 1}
    waves = fill_waves(moves, caps, sources_at_once=None)
    assert [w["domains"] for w in waves] == [["a", "b", "c"], ["d"]]


def test_several_drained_hosts_share_max_parallel():
    from ansible_collections.drover.libvirt.plugins.module_utils._schedule import drain_caps
    caps = {"max_parallel": 4, "max_per_source": 3, "max_per_destination": 1}
    assert drain_caps(caps, 1) == dict(caps, sources_at_once=1)
    assert drain_caps(caps, 2) == dict(caps, max_per_source=2, sources_at_once=2)
    assert drain_caps(caps, 3) == dict(caps, max_per_source=1, sources_at_once=3)
    assert drain_caps(caps, 9) == dict(caps, max_per_source=1, sources_at_once=4)
    for sources in range(1, 10):
        out = drain_caps(caps, sources)
        assert out["sources_at_once"] * out["max_per_source"] <= caps["max_parallel"]
