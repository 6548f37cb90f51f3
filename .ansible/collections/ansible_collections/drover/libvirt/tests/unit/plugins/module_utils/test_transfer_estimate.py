# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One transfer model: the plan's estimate is the pre-copy series the convergence check walks, summed."""

from __future__ import annotations

import pytest

from ansible_collections.drover.libvirt.plugins.module_utils._transfer_estimate import (
    MIB,
    memory_seconds,
    move_estimate,
    precopy,
)

GIB = 1024 * MIB


@pytest.mark.parametrize("dirty_mib_s", [0, 100, 500, 900])
def test_the_plans_figure_is_the_limit_of_the_round_by_round_model(dirty_mib_s):
    walked = precopy(GIB, dirty_mib_s * MIB, 1000 * MIB, downtime_ms=1e-6, max_rounds=10000)
    assert walked["converges"] is True
    assert walked["seconds"] == round(memory_seconds(GIB, dirty_mib_s * MIB, 1000 * MIB), 1)
    assert move_estimate("live", GIB // 1024, 0, False, dirty_mib_s, 1000)[1] == walked["seconds"]


def test_a_downtime_limit_stops_early_and_dirtying_faster_than_the_link_does_not_converge():
    assert precopy(GIB, 500 * MIB, 1000 * MIB, 300)["seconds"] < memory_seconds(GIB, 500 * MIB, 1000 * MIB)
    assert precopy(GIB, 2000 * MIB, 1000 * MIB, 300)["converges"] is False
    assert memory_seconds(GIB, 2000 * MIB, 1000 * MIB) == GIB / (1000 * MIB)  # post-copy: each page once
