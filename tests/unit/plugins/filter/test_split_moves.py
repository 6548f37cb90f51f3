# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The split_moves filter: split and stuck post-copy moves, and its arguments refused by name."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.drover.libvirt.plugins.filter.split_moves import split_moves

FLEET = {"hv1": {"domains": [{"name": "db1", "uuid": "u1", "state": "paused", "state_reason": 13}]},
         "hv2": {"domains": [{"name": "db1", "uuid": "u1", "state": "paused", "state_reason": 2}]}}


def test_stuck_moves_are_returned_only_when_asked():
    assert split_moves(FLEET) == []
    assert split_moves(FLEET, stuck=True) == [{"domain": "db1", "uuid": "u1", "source": "hv1", "destination": "hv2"}]


@pytest.mark.parametrize("args, named", [
    ({"hosts": "hv1"}, "hosts must be a list of host names, got 'hv1'"),
    ({"stuck": "yes"}, "stuck must be true or false, got 'yes'"),
])
def test_bad_arguments_are_refused_by_name(args, named):
    with pytest.raises(AnsibleFilterError, match=named):
        split_moves(FLEET, **args)
    with pytest.raises(AnsibleFilterError, match="the input must be fleet facts"):
        split_moves(["hv1"])
