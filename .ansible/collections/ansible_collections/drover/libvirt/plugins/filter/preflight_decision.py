# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: preflight_decision
short_description: Decide from preflight verdicts whether moving may start
version_added: 0.1.0
description:
  - Reads the RV(drover.libvirt.preflight_info#module:results) of one or more hosts and says which domains
    are blocked and why, and which destinations each domain can use.
author:
  - drover.libvirt maintainers (!UNKNOWN)
positional: _input
options:
  _input:
    description: Verdicts, as returned in RV(drover.libvirt.preflight_info#module:results).
    type: list
    elements: dict
    required: true
  require:
    description:
      - V(any) a domain is blocked when no destination passes the required checks; V(all) when any
        destination fails one; V(none) nothing is blocked.
    type: str
    choices: [any, all, none]
    default: any
  required_checks:
    description: Check ids whose failure counts; empty means every check.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Stop when a domain has nowhere to go
  ansible.builtin.assert:
    that: _decision.ok
    fail_msg: "{{ _decision.blocked }}"
  vars:
    _decision: "{{ preflight.results | drover.libvirt.preflight_decision(require='any') }}"
"""

RETURN = r"""
_value:
  description: C(ok) (nothing blocked), C(blocked) (domains with the reasons of every failed required check) and
    C(usable) (domain to the destinations that passed).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.drover.libvirt.plugins.module_utils._preflight_checks import decision


def preflight_decision(results, require="any", required_checks=None):
    if not isinstance(results, list):
        raise AnsibleFilterError("preflight_decision expects the results list of drover.libvirt.preflight_info")
    try:
        return decision(results, require, required_checks or None)
    except ValueError as exc:
        raise AnsibleFilterError("preflight_decision: %s" % exc)
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError("preflight_decision: malformed verdict (%s)" % exc)


class FilterModule:
    def filters(self):
        return {"preflight_decision": preflight_decision}
