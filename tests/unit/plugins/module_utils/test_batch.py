# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of batch moves and the maintenance mark file (pure parts)."""

from __future__ import annotations

import json

import pytest

from ansible_collections.drover.libvirt.plugins.module_utils import _maintenance as mark
from ansible_collections.drover.libvirt.plugins.module_utils._batch import normalize_moves
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError


def test_moves_keep_order_and_candidates():
    tasks = normalize_moves([
        {"domain": "vm1", "destination": "10.0.0.2", "destination_name": "hv2",
         "alternates": [{"destination": "10.0.0.3", "destination_name": "hv3"}, "hv4"]},
        {"domain": "vm2", "method": "shutdown"},
        {"domain": "vm3", "destination": "hv3", "method": "define", "copy_storage": True},
    ])
    assert [t["name"] for t in tasks] == ["vm1", "vm2", "vm3"]
    assert tasks[0]["candidates"] == [("hv2", "10.0.0.2"), ("hv3", "10.0.0.3"), ("hv4", "hv4")]
    assert tasks[0]["method"] == "live" and tasks[1]["candidates"] == []
    assert tasks[2]["copy_storage"] is True and tasks[2]["order"] == 2


@pytest.mark.parametrize("moves, message", [
    ([{"destination": "hv2"}], "moves[0] needs a domain name"),
    ([{"domain": "vm1", "destination": "hv2"}, {"domain": "vm1", "destination": "hv3"}], "listed twice"),
    ([{"domain": "vm1", "destination": "hv2", "method": "teleport"}], "method 'teleport'"),
    ([{"domain": "vm1", "method": "cold"}], "needs a destination for method cold"),
    (["vm1"], "moves[0] needs a domain name"),
])
def test_bad_moves_are_refused_by_name(moves, message):
    with pytest.raises(DroverError) as err:
        normalize_moves(moves)
    assert message in err.value.msg


def test_mark_round_trip(tmp_path):
    path = str(tmp_path / "drover" / "maintenance.json")
    assert mark.read_mark(path) is None
    mark.write_mark({"state": "draining", "reason": "kernel"}, path)
    assert mark.read_mark(path) == {"state": "draining", "reason": "kernel"}
    mark.clear_mark(path)
    mark.clear_mark(path)
    assert mark.read_mark(path) is None


def test_a_broken_mark_is_an_error_not_silence(tmp_path):
    path = tmp_path / "maintenance.json"
    path.write_text(json.dumps({"state": "party"}))
    with pytest.raises(DroverError) as err:
        mark.read_mark(str(path))
    assert "draining|maintenance" in err.value.msg
    path.write_text("{not json")
    with pytest.raises(DroverError):
        mark.read_mark(str(path))
