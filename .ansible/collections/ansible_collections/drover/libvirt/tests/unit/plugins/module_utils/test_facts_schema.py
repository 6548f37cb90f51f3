# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The facts reader: checked plain structures, errors naming host and field."""

from __future__ import annotations

import pytest

from ansible_collections.drover.libvirt.plugins.module_utils import _facts_schema as facts
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._values import bounded_number, finite_number, name_list, NotNames


def test_domains_read_identity_and_leave_missing_optional_fields_none():
    [dom] = facts.read_domains("hv1", {"domains": [{"name": "vm1", "active": True}]})
    assert {k: v for k, v in dom.items() if k != "raw"} == {
        "name": "vm1", "uuid": None, "state": None, "active": True, "persistent": None}
    [dom] = facts.read_domains("hv1", {"domains": [{"name": "vm1", "active": True, "memory_kib": 1, "vcpus": 2}]},
                               required=("memory_kib",))
    assert (dom["memory_kib"], dom["vcpus"], dom["current_memory_kib"]) == (1, 2, None)


@pytest.mark.parametrize("host_facts, required, message", [
    ({"failed": True}, (), r"fleet\[hv1\]: missing required field domains \(expected .*got failed\)"),
    ({"domains": [{"name": ""}]}, (), r"fleet\[hv1\].domains\[0\]: field name must be a non-empty string"),
    ({"domains": [{"name": "a", "active": "yes"}]}, (), r"fleet\[hv1\] domain a: field active must be true or false"),
    ({"domains": [{"name": "a", "active": True}]}, ("vcpus",), r"fleet\[hv1\] domain a: missing required field vcpus"),
])
def test_bad_facts_name_the_host_and_field(host_facts, required, message):
    with pytest.raises(DroverError, match=message):
        facts.read_domains("hv1", host_facts, required=required)


def test_capacity_and_tags_and_moving_facts():
    hv = {"hypervisor": {"memory": {"total_kib": 8}, "vcpus": {"physical": 2, "allocated": 1}}}
    assert facts.read_capacity("hv1", hv) == {"total_kib": 8, "committed_kib": None, "physical": 2, "allocated": 1,
                                              "maintenance": None}
    [dom] = facts.read_domains("hv1", {"domains": [{"name": "a", "tags": {"affinity": "g"}, "blockers": [{"kind": "hostdev"}],
                                                    "disks": [{"target": "vda", "capacity_bytes": True}, "junk"]}]})
    assert facts.read_placement_tags("hv1", dom) == {"anti_affinity": [], "affinity": ["g"], "pinned": False}
    moving = facts.read_migration_facts("hv1", dom)
    assert moving["blockers"] == ["hostdev"]
    assert moving["disks"] == [{"target": "vda", "device": None, "shared": None, "capacity_bytes": None}]
    assert facts.storage_pools([{"pool": "p"}, "x"]) == [{"pool": "p", "path": ""}]


def test_numbers_and_names():
    assert finite_number(" 2 ") == 2.0 and finite_number(True) is None and finite_number("nan") is None
    assert bounded_number("x", "3", minimum=1, integer=True) == 3
    with pytest.raises(DroverError, match="x must be from 0 to below 100, got 100"):
        bounded_number("x", 100, below=100)
    assert name_list("a") == ["a"] and name_list(("b", "a", "b")) == ["b", "a", "b"]
    with pytest.raises(NotNames) as err:
        name_list(["a", 1])
    assert err.value.has_item and err.value.item == 1
