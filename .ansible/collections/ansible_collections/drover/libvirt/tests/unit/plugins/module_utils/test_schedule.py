# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The schedule model: caps, slots, what starts now, and waves."""

from __future__ import annotations

import random

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


def _one_wave_at_a_time(moves, caps, sources_at_once):
    """The waves as the definition says: start_now() over the waiting moves of the first sources, wave after wave."""
    waiting = {}
    for move in moves:
        waiting.setdefault(move["source"], []).append(move)
    queue = [waiting[source] for source in sorted(waiting)]
    waves = []
    while queue:
        active = queue if sources_at_once is None else queue[:sources_at_once]
        merged = sorted((m for group in active for m in group), key=moves.index)
        wave = start_now(merged, Slots(caps), lambda m: (m["source"], m["destination"]))
        for group in active:
            group[:] = [m for m in group if m not in wave]
        queue[:len(active)] = [group for group in active if group]
        waves.append([m["domain"] for m in wave])
    return waves


def test_waves_are_what_start_now_takes_wave_after_wave():
    rnd = random.Random(7)
    for _case in range(400):
        moves = [{"domain": "vm%d" % i, "source": "hv%d" % rnd.randrange(4),
                  "destination": rnd.choice(["d%d" % rnd.randrange(5), "d0", None]), "estimated_seconds": 1.0}
                 for i in range(rnd.randint(0, 30))]
        limit = rnd.randint(1, 5)
        caps = {"max_parallel": limit, "max_per_source": rnd.randint(1, limit), "max_per_destination": rnd.randint(1, limit)}
        at_once = rnd.choice([1, 2, 3, None])
        expected = _one_wave_at_a_time(list(moves), caps, at_once)
        waves = fill_waves(moves, caps, at_once)
        assert [w["domains"] for w in waves] == expected, (caps, at_once)


@pytest.mark.parametrize("sources, at_once, per_destination", [(1, 1, 1), (100, 50, 1), (1000, None, 1), (20, 20, 50)])
def test_ten_thousand_moves_onto_one_destination(sources, at_once, per_destination):
    """A wave no longer walks every waiting move: this used to take minutes; every cap still holds."""
    moves = [{"domain": "vm%05d" % i, "source": "hv%04d" % (i % sources), "destination": "big", "estimated_seconds": 1.0}
             for i in range(10000)]
    caps = {"max_parallel": 50, "max_per_source": 50 if sources == 1 else 1, "max_per_destination": per_destination}
    waves = fill_waves(moves, caps, at_once)
    per_wave = min(50, per_destination, min(at_once or sources, sources) * caps["max_per_source"])
    assert len(waves) == 10000 // per_wave
    assert [m["order"] for m in moves] == list(range(1, 10001))
    assert sorted(m["domain"] for m in moves) == ["vm%05d" % i for i in range(10000)]
    for wave in waves:
        assert len(wave["domains"]) == per_wave
    # Within one source, its moves keep plan order; with one source the waves take them in order.
    if sources == 1:
        assert [m["domain"] for m in moves] == ["vm%05d" % i for i in range(10000)]
