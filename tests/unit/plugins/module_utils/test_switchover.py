# -*- coding: utf-8 -*-
"""Switch-over cost per destination: learned from measured pauses, taken off the limit QEMU gets."""

from __future__ import annotations

import os

from ansible_collections.drover.libvirt.plugins.module_utils._convergence import ConvergencePolicy, resolve_knobs
from ansible_collections.drover.libvirt.plugins.module_utils import _switchover as sw

GIB = 1024 ** 3


def test_the_cost_is_what_the_pause_took_beyond_qemu_s_limit():
    assert sw.cost_of(671, 500) == 171
    assert sw.cost_of(450, 500) == 0  # under the limit: no cost, never a negative one
    assert sw.cost_of(0, 500) is None and sw.cost_of(300, None) is None
    assert sw.cost_of(10 ** 6, 500) is None  # a measurement gone wrong


def test_qemu_gets_the_limit_minus_the_largest_recent_cost_with_a_floor():
    assert sw.learned([]) == 0
    assert sw.learned([400] + [100] * 8) == 100  # only the last 8 count
    assert sw.qemu_limit(500, 320) == 180
    assert sw.qemu_limit(300, 400) == sw.FLOOR_MS


def test_costs_are_kept_per_destination_in_a_private_file(tmp_path):
    state = tmp_path / "drover"
    for cost in range(10):
        assert sw.record_cost("10.0.0.2", cost * 10, str(state))
    assert sw.read_costs("10.0.0.2", str(state)) == [20, 30, 40, 50, 60, 70, 80, 90]
    assert sw.read_costs("10.0.0.3", str(state)) == []
    assert sw.record_cost("10.0.0.2", None, str(state)) is False
    name = os.listdir(state)[0]
    assert name == "switchover-10.0.0.2.json" and oct(os.stat(state / name).st_mode & 0o777) == "0o640"


def test_an_odd_destination_name_stays_in_the_directory_and_a_bad_record_is_ignored(tmp_path):
    assert sw.record_cost("../../etc/x", 5, str(tmp_path))
    assert os.listdir(tmp_path) == ["switchover-.._.._etc_x.json"]
    (tmp_path / "switchover-hv2.json").write_text("not json")
    assert sw.read_costs("hv2", str(tmp_path)) == []
    (tmp_path / "switchover-hv3.json").write_text('{"costs_ms": [100, -5, "x", 1e9, 200]}')
    assert sw.read_costs("hv3", str(tmp_path)) == [100, 200]


def test_a_planted_link_is_neither_read_nor_written_through(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text('{"costs_ms": [1]}')
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.symlink(str(victim), str(state / "switchover-hv2.json"))
    assert sw.read_costs("hv2", str(state)) == []
    assert sw.record_cost("hv2", 5, str(state)) is False
    assert victim.read_text() == '{"costs_ms": [1]}'


def test_the_policy_gives_qemu_each_step_minus_the_cost_and_says_so():
    policy = ConvergencePolicy(resolve_knobs("balanced"), GIB, switchover_ms=320)
    (action, value, reason), = policy.decide(0, {})
    assert (action, value) == ("set_downtime", sw.FLOOR_MS)  # 100 ms configured, less than the cost
    assert reason == "downtime step 1/5 (100 ms: 20 ms to QEMU, 320 ms switch-over)"
    later = [a for a in policy.decide(200, {}) if a[0] == "set_downtime"]
    assert later[-1][1] == 180  # the last step, 500 ms
    plain = ConvergencePolicy(resolve_knobs("balanced"), GIB)
    assert plain.decide(0, {}) == [("set_downtime", 100, "downtime step 1/5")]
