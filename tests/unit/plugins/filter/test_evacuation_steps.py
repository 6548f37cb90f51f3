# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The evacuate role's steps as filters: the same data the role's templates built."""

from __future__ import annotations

import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.drover.libvirt.plugins.filter import evacuation_steps as plugin

HERE = os.path.dirname(plugin.__file__)
SETTINGS = {"memory_headroom_pct": 10, "reserved_memory_mib": 1024, "vcpu_ratio": 4.0, "anti_affinity": {},
            "affinity": {}, "max_parallel": 2, "max_per_source": 2, "max_per_destination": 1, "shutoff": "move",
            "unmigratable": "fail", "bandwidth": 0, "select": ""}
PLAN = {
    "moves": [{"domain": "b", "source": "hv1", "destination": "hv2", "method": "live", "copy_storage": False,
               "wave": 1, "estimated_seconds": 1.5},
              {"domain": "c", "source": "hv3", "destination": "hv2", "method": "cold", "copy_storage": True,
               "wave": 2, "estimated_seconds": 0.0}],
    "waves": [{"wave": 1}, {"wave": 2}], "estimated_seconds": 1.5,
    "unplaced": [{"domain": "u1", "source": "hv1", "reason": "pinned", "method": "live"}],
    "skipped": [{"domain": "Zed", "source": "hv3", "reason": "not selected"}],
    "caps": {"max_parallel": 3, "max_per_source": 2, "max_per_destination": 1},
}


def test_every_filter_is_exposed_and_documented_beside_the_plugin():
    filters = plugin.FilterModule().filters()
    for name in filters:
        with open(os.path.join(HERE, name + ".yml"), encoding="utf-8") as handle:
            doc = yaml.safe_load(handle)
        assert doc["DOCUMENTATION"]["name"] == name and doc["RETURN"]["_value"] and doc["EXAMPLES"]


def test_constraints_pass_settings_and_add_what_was_asked():
    c = plugin.evacuation_constraints(SETTINGS)
    assert c == {"memory_headroom_pct": 10, "reserved_memory_mib": 1024, "vcpu_ratio": 4.0, "anti_affinity": {},
                 "affinity": {}, "max_parallel": 2, "max_per_source": 2, "max_per_destination": 1,
                 "include_shutoff": True, "cold": False}
    c = plugin.evacuation_constraints(dict(SETTINGS, shutoff="leave", unmigratable="cold", bandwidth="250",
                                           select="[?name=='a']"))
    assert (c["include_shutoff"], c["cold"], c["bandwidth_mib_s"], c["select"]) == (False, True, "250", "[?name=='a']")
    assert "bandwidth_mib_s" not in plugin.evacuation_constraints(dict(SETTINGS, bandwidth="none"))
    with pytest.raises(AnsibleFilterError, match="settings lack select"):
        plugin.evacuation_constraints({k: v for k, v in SETTINGS.items() if k != "select"})


def test_plan_lines():
    assert plugin.evacuation_plan_lines(PLAN) == [
        "2 moves in 2 waves, about 1.5 s; 1 cannot move; 1 not selected",
        "wave 1: b hv1 -> hv2 (live, ~1.5 s)",
        "wave 2: c hv3 -> hv2 (cold, copies disks, ~0.0 s)",
        "cannot move: u1 on hv1: pinned"]
    with pytest.raises(AnsibleFilterError, match="evacuation_plan_lines: malformed input"):
        plugin.evacuation_plan_lines({"moves": []})


def test_a_hosts_batch_has_its_moves_then_shutdowns_and_the_plans_caps():
    batch = plugin.evacuation_batch(PLAN, "hv1", shutdown_unplaced=True)
    assert batch == {"max_parallel": 2, "max_per_destination": 1, "moves": [
        PLAN["moves"][0], {"domain": "u1", "source": "hv1", "reason": "pinned", "method": "shutdown"}]}
    assert PLAN["unplaced"][0]["method"] == "live"
    assert plugin.evacuation_batch(PLAN, "hv3")["moves"] == [PLAN["moves"][1]]
    assert plugin.evacuation_batch(PLAN, "hv9")["moves"] == []


def test_domains_to_verify():
    fleet = {"hv1": {"domains": [{"name": "b", "active": True, "persistent": True},
                                 {"name": "off1", "active": False, "persistent": True},
                                 {"name": "gone", "active": False, "persistent": False}]},
             "hv3": {"domains": [{"name": "s", "active": True, "persistent": True}, {"name": "b", "active": True}]}}
    moved = [{"name": "s", "status": "shut_down"},
             {"name": "b", "status": "migrated", "to": "hv4", "tries": [{"destination": "hv2"}, {"destination": "hv4"}]}]
    assert plugin.evacuation_domains(fleet, ["hv1", "hv3"], moved) == {
        "before": ["b", "s", "b", "off1"], "running": ["b"], "shutoff": ["off1", "s"],
        "hosts": ["hv1", "hv3", "hv2", "hv4"]}
    # off1 was a definition an earlier move left on hv1; this run finished that move: it runs on hv2.
    moved.append({"name": "off1", "status": "unchanged", "to": "hv2", "finished": ["undefine_source"]})
    got = plugin.evacuation_domains(fleet, ["hv1", "hv3"], moved)
    assert (got["running"], got["shutoff"]) == (["b", "off1"], ["s"])


def test_outcome_joins_moves_left_out_domains_and_verdicts():
    moved = [{"name": "b", "from": "hv1", "to": "hv2", "status": "migrated"},
             {"name": "a", "from": "hv1", "to": None, "status": "failed", "error": "boom"}]
    verified = [{"name": "b", "ok": True, "reason": "running on hv2"}, {"name": "Zed", "ok": False, "reason": "x"}]
    out = plugin.evacuation_outcome(moved, PLAN, verified=verified, skip_unplaced=True)
    assert [r["name"] for r in out["results"]] == ["a", "b", "u1", "Zed"]
    assert out["results"][1]["verify"] == {"ok": True, "reason": "running on hv2"} and "verify" not in out["results"][0]
    assert out["results"][3] == {"name": "Zed", "from": "hv3", "to": None, "status": "skipped", "method": None,
                                 "attempts": 0, "downtime_ms": None, "duration_ms": None, "bytes": None,
                                 "overhead_ms": None, "started_at": None, "finished_at": None, "error": "not selected",
                                 "verify": {"ok": False, "reason": "x"}}
    assert out["ok"] is False
    assert plugin.evacuation_outcome(moved[:1], PLAN)["ok"] is True
    assert [r["name"] for r in plugin.evacuation_outcome([], PLAN)["results"]] == ["Zed"]


def test_a_stopped_run_reports_every_planned_domain_it_did_not_move():
    plan = dict(PLAN, moves=[{"domain": "b", "source": "hv1"}, {"domain": "c", "source": "hv1"}])
    moved = [{"name": "b", "from": "hv1", "to": "hv2", "status": "migrated"}]
    out = plugin.evacuation_outcome(moved, plan, stopped="Move the domains: hv1 unreachable")
    by_name = {r["name"]: r for r in out["results"]}
    assert out["ok"] is False and by_name["b"]["status"] == "migrated"
    assert by_name["c"]["status"] == "skipped" and by_name["c"]["to"] is None
    assert by_name["c"]["error"] == "not moved: the run stopped (Move the domains: hv1 unreachable)"
    assert by_name["u1"]["error"].startswith("cannot move: ") and "the run stopped" in by_name["u1"]["error"]


def test_a_run_stopped_before_planning_reports_nothing_moved():
    out = plugin.evacuation_outcome([], None, stopped="Plan: no host to drain could be read")
    assert out == {"results": [], "ok": False}


def test_a_host_whose_move_returned_nothing_is_never_reported_as_moved():
    moved = [{"name": "c", "from": "hv3", "to": "hv2", "status": "migrated"}]
    out = plugin.evacuation_outcome(moved, PLAN, silent_hosts=["hv1"])
    by_name = {r["name"]: r for r in out["results"]}
    assert out["ok"] is False
    assert by_name["b"]["status"] == "failed" and by_name["b"]["location"] == "unknown" and by_name["b"]["to"] is None
    assert by_name["b"]["error"].startswith("no result from the move on hv1")
    assert by_name["c"]["status"] == "migrated"
