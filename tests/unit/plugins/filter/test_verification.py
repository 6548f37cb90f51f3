# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verify role's filters: guest agents and the verdict per domain."""

from __future__ import annotations

import os

import yaml

from ansible_collections.drover.libvirt.plugins.filter import verification as plugin


def test_every_filter_is_documented_beside_the_plugin():
    for name in plugin.FilterModule().filters():
        with open(os.path.join(os.path.dirname(plugin.__file__), name + ".yml"), encoding="utf-8") as handle:
            assert yaml.safe_load(handle)["DOCUMENTATION"]["name"] == name


def test_guest_agents_of_active_domains_with_a_channel():
    fleet = {"hv1": {"domains": [{"name": "a1", "active": True, "agent": {"channel": True, "responding": True}},
                                 {"name": "a2", "active": True, "agent": {"channel": False, "responding": None}},
                                 {"name": "a3", "active": False, "agent": {"channel": True, "responding": False}}]},
             "hv2": {"domains": [{"name": "a4", "active": True, "agent": {"channel": True, "responding": None}}]}}
    assert plugin.guest_agents(fleet) == {"a1": True, "a4": None}


def test_liveness_from_agent_then_probe():
    placement = [{"name": n, "ok": n != "bad", "reason": "placed" if n != "bad" else "running twice"}
                 for n in ("agent_ok", "agent_dead", "agent_silent", "probe_ok", "probe_dead", "bad", "unprobed")]
    agents = {"agent_ok": True, "agent_dead": False, "agent_silent": None}
    probes = [{"item": {"name": "probe_ok"}, "rc": 0, "stdout": "", "stderr": ""},
              {"item": {"name": "probe_dead"}, "rc": 2, "stdout": " no pong \n", "stderr": ""},
              {"item": {"name": "bad"}, "rc": 1, "stdout": "", "stderr": "x"},
              {"item": {"name": "unprobed"}, "skipped": True}]
    out = {r["name"]: r for r in plugin.verification_results(placement, agents, probes)}
    assert [(r["ok"], r["alive"], r["alive_by"], r["reason"]) for r in out.values()] == [
        (True, True, "agent", "placed"),
        (False, False, "agent", "guest did not answer its agent"),
        (True, None, "none", "placed"),
        (True, True, "probe", "placed"),
        (False, False, "probe", "guest did not answer its probe: no pong"),
        (False, False, "probe", "running twice"),
        (True, None, "none", "placed")]


def test_a_probe_stopped_at_its_time_limit_is_not_alive():
    """The probe task has a timeout: an item stopped by it has no exit status, only Ansible's message."""
    placement = [{"name": n, "ok": True, "reason": "placed"} for n in ("up", "hung", "off")]
    probes = [{"item": {"name": "up"}, "rc": 0, "stdout": "up alive", "stderr": ""},
              {"item": {"name": "hung"}, "failed": True, "timedout": {"frame": "", "period": 8},
               "msg": "The command action failed to execute in the expected time frame (8) and was terminated"},
              {"item": {"name": "off"}, "skipped": True, "false_condition": "x"}]
    out = {r["name"]: r for r in plugin.verification_results(placement, {}, probes)}
    assert [(r["ok"], r["alive"], r["alive_by"]) for r in out.values()] == [
        (True, True, "probe"), (False, False, "probe"), (True, None, "none")]
    assert out["hung"]["reason"] == ("guest did not answer its probe: the probe did not finish in time (The command "
                                     "action failed to execute in the expected time frame (8) and was terminated)")
