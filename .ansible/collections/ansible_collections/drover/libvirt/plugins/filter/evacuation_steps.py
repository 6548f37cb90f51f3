# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the steps of the evacuate role: constraints, the plan as text, a host's batch,
the domains to verify and the outcome.

Each filter is documented in its own file beside this one (evacuation_constraints.yml,
evacuation_plan_lines.yml, evacuation_batch.yml, evacuation_domains.yml, evacuation_outcome.yml),
as ansible-core expects for a file with several filters.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.drover.libvirt.plugins.module_utils import _evacuation_steps as steps
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError


def _call(name, function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except DroverError as exc:
        raise AnsibleFilterError("%s: %s" % (name, exc.msg)) from exc
    except (KeyError, TypeError, AttributeError) as exc:
        raise AnsibleFilterError("%s: malformed input (%r)" % (name, exc)) from exc


def evacuation_constraints(settings):
    """The planner's constraints from the evacuate role's settings."""
    return _call("evacuation_constraints", steps.constraints, settings)


def evacuation_plan_lines(plan):
    """An evacuation plan as lines of text."""
    return _call("evacuation_plan_lines", steps.plan_lines, plan)


def evacuation_batch(plan, host, shutdown_unplaced=False):
    """The moves and caps of one drained host, for move_domains."""
    return _call("evacuation_batch", steps.host_batch, plan, host, shutdown_unplaced=shutdown_unplaced)


def evacuation_domains(fleet, hosts, moved=None):
    """The domains of the drained hosts, to verify running or shut off."""
    return _call("evacuation_domains", steps.domains_to_verify, fleet, hosts, moved or [])


def evacuation_outcome(moved, plan, verified=None, skip_unplaced=False, stopped=None, silent_hosts=None):
    """Per-domain results of an evacuation and whether it succeeded."""
    return _call("evacuation_outcome", steps.outcome, moved, plan, verified=verified, skip_unplaced=skip_unplaced,
                 stopped=stopped, silent_hosts=silent_hosts)


class FilterModule:
    """drover.libvirt filters of the evacuate role's steps."""

    def filters(self):
        return {
            "evacuation_constraints": evacuation_constraints,
            "evacuation_plan_lines": evacuation_plan_lines,
            "evacuation_batch": evacuation_batch,
            "evacuation_domains": evacuation_domains,
            "evacuation_outcome": evacuation_outcome,
        }
