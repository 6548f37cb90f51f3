# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the verify role: which guest agents answered, and the verdict per domain.

Each filter is documented in its own file beside this one (guest_agents.yml,
verification_results.yml), as ansible-core expects for a file with several filters.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.drover.libvirt.plugins.module_utils import _verification
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError


def guest_agents(fleet):
    """Domain name to whether its guest agent answered."""
    try:
        return _verification.guest_agents(fleet)
    except DroverError as exc:
        raise AnsibleFilterError("guest_agents: %s" % exc.msg) from exc
    except (KeyError, TypeError, AttributeError) as exc:
        raise AnsibleFilterError("guest_agents: malformed facts (%r)" % (exc,)) from exc


def verification_results(placement, agents, probes=None):
    """placement_check entries combined with liveness."""
    try:
        return _verification.verdicts(placement, agents, probes)
    except (KeyError, TypeError, AttributeError) as exc:
        raise AnsibleFilterError("verification_results: malformed input (%r)" % (exc,)) from exc


class FilterModule:
    """drover.libvirt filters of the verify role."""

    def filters(self):
        return {"guest_agents": guest_agents, "verification_results": verification_results}
