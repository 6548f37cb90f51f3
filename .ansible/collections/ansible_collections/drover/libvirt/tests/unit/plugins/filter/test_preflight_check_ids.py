# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One list of preflight check ids: the code's, which the role and the planner refer to."""

from __future__ import annotations

import os
import re

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.drover.libvirt.plugins.filter.preflight_check_ids import FilterModule, preflight_check_ids
from ansible_collections.drover.libvirt.plugins.module_utils._planner_inputs import NOT_CHECKED_FOR
from ansible_collections.drover.libvirt.plugins.module_utils._preflight_checks import CHECK_IDS

ROLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "roles", "preflight")


def test_known_and_unknown_ids():
    assert FilterModule().filters()["preflight_check_ids"] is preflight_check_ids
    assert preflight_check_ids(["cpu", "cpus", "maintenance"]) == {"known": list(CHECK_IDS), "unknown": ["cpus"]}
    assert CHECK_IDS[-1] == "maintenance" and len(set(CHECK_IDS)) == len(CHECK_IDS)
    with pytest.raises(AnsibleFilterError):
        preflight_check_ids("cpu")


def test_the_role_takes_its_ids_from_the_filter_and_lists_none_itself():
    with open(os.path.join(ROLE, "tasks", "preflight.yml"), encoding="utf-8") as handle:
        text = handle.read()
    assert "drover.libvirt.preflight_check_ids" in text
    assert not [check_id for check_id in CHECK_IDS if re.search(r"\b%s\b" % check_id, text)]
    with open(os.path.join(ROLE, "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)["argument_specs"]["main"]["options"]["preflight_required_checks"]
    assert "choices" not in spec


def test_the_planners_ignored_checks_are_check_ids():
    for ignored in NOT_CHECKED_FOR.values():
        assert set(ignored) <= set(CHECK_IDS) | {"storage_copy_refused"}
