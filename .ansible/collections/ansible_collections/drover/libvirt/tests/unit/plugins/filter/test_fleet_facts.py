# -*- coding: utf-8 -*-
"""Facts read per host in a loop: the hosts that answered, and those that did not, with the reason."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.drover.libvirt.plugins.filter.fleet_facts import fleet_facts
from ansible_collections.drover.libvirt.plugins.module_utils._placement_check import placement_check

HV = {"memory": {"total_kib": 1}, "vcpus": {"physical": 1}}


def _dom(name, active=True, persistent=True):
    return {"name": name, "uuid": "u-" + name, "state": "running" if active else "shutoff",
            "active": active, "persistent": persistent}


def test_unreachable_and_unreadable_hosts_are_recorded_with_the_reason():
    results = [
        {"item": "hv1", "hypervisor": HV, "domains": [], "changed": False},
        {"item": "hv2", "unreachable": True, "msg": "Failed to connect to the host via ssh:\n  timed out"},
        {"item": "hv3", "failed": True, "msg": "cannot connect to qemu:///system: Failed to connect socket"},
        {"item": "hv4", "skipped": True},
    ]
    out = fleet_facts(results)
    assert list(out["fleet"]) == ["hv1"]
    assert out["unreachable"] == [
        {"host": "hv2", "reason": "Failed to connect to the host via ssh: timed out"},
        {"host": "hv3", "reason": "cannot connect to qemu:///system: Failed to connect socket"},
        {"host": "hv4", "reason": "no facts returned"}]


@pytest.mark.parametrize("results", [None, {"hv1": {}}, [{"hypervisor": HV}]])
def test_input_that_is_not_loop_results_is_refused(results):
    with pytest.raises(AnsibleFilterError, match="fleet_facts"):
        fleet_facts(results)


def test_placement_with_hosts_not_read_marks_what_it_cannot_confirm():
    fleet = {"hv1": {"hypervisor": HV, "domains": [_dom("web1")]}, "hv2": {"hypervisor": HV, "domains": []}}
    by_name = {r["name"]: r for r in placement_check(fleet, names=["web1", "gone"], unreachable=["hv3"])}
    assert by_name["web1"]["ok"] is True and by_name["web1"]["unread_hosts"] == ["hv3"]
    assert by_name["web1"]["reason"] == "running on hv1 (hv3 could not be read)"
    assert by_name["gone"]["ok"] is False and by_name["gone"]["unknown"] is True
    assert "not found on the hosts that answered; hv3 could not be read" == by_name["gone"]["reason"]
    plain = {r["name"]: r for r in placement_check(fleet, names=["web1", "gone"])}
    assert "unread_hosts" not in plain["web1"] and plain["gone"]["reason"] == "not found on any host"


def test_hosts_that_did_not_answer_a_ping_are_unreachable_once():
    results = [{"item": "hv1", "hypervisor": HV, "domains": []}]
    pings = {"hv2": {"unreachable": True, "msg": "ssh: connect to host 10.0.0.2 port 22: Connection refused"},
             "hv1": {"ping": "pong"}}
    out = fleet_facts(results, pings)
    assert list(out["fleet"]) == ["hv1"]
    assert out["unreachable"] == [{"host": "hv2", "reason": "ssh: connect to host 10.0.0.2 port 22: Connection refused"}]
