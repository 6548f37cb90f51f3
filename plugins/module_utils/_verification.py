# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verify role's verdict per domain: placement (_placement_check) combined with liveness.

Pure functions; plugins/filter/verification.py exposes them to the role.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError


def guest_agents(fleet):
    """{domain name: whether its guest agent answered (None: not asked)} for active domains with an agent channel."""
    if not isinstance(fleet, Mapping):
        raise DroverError("fleet must be a dict of inventory host to the result of drover.libvirt.hypervisor_info")
    answers = {}
    for facts in fleet.values():
        for dom in facts["domains"]:
            agent = dom.get("agent") or {}
            if dom.get("active") and agent.get("channel"):
                answers[dom["name"]] = agent.get("responding")
    return answers


def _probe_text(probe):
    return ": " + (probe.get("stderr") or probe.get("stdout") or "").strip()


def verdicts(placement, agents, probes=None):
    """Each placement_check entry with ok, alive, alive_by and reason updated by liveness.

    alive comes from the guest agent when it answered or not (alive_by agent), else from the
    probe command's exit status (probe: a registered loop result; one stopped at its time limit is not
    alive; alive_by probe), else it is
    None (alive_by none). A domain is ok when its placement is and it is not known dead.
    """
    ran = {}
    for result in probes or []:
        item = result.get("item") or {}
        if "name" not in item or result.get("skipped"):
            continue
        if "rc" in result:
            ran[item["name"]] = result
        elif result.get("failed") or result.get("timedout"):
            # Stopped at its time limit (the task's timeout), or it could not run: it did not say alive.
            ran[item["name"]] = dict(result, rc=None, stderr="the probe did not finish in time (%s)"
                                     % (result.get("msg") or "no result"))
    out = []
    for entry in placement:
        name = entry["name"]
        alive, how = None, "none"
        if name in agents and agents[name] is not None:
            alive, how = agents[name], "agent"
        elif name in ran:
            alive, how = ran[name]["rc"] == 0, "probe"
        reason = entry["reason"]
        if entry["ok"] and alive is False:
            reason = "guest did not answer its %s%s" % (how, _probe_text(ran[name]) if how == "probe" else "")
        out.append(dict(entry, ok=bool(entry["ok"] and alive is not False), alive=alive, alive_by=how, reason=reason))
    return out
