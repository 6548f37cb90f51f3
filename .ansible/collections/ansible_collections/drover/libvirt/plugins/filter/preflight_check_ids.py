# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: preflight_check_ids
short_description: Tell which of some preflight check ids exist
version_added: 0.1.0
description:
  - Splits check ids, such as the checks a play requires, into those the preflight checks of
    M(drover.libvirt.preflight_info) report and those that are unknown, and lists every known id.
  - The preflight role checks O(_input) against this list; it is the collection's one list of check ids.
author:
  - drover.libvirt maintainers (!UNKNOWN)
positional: _input
options:
  _input:
    description: Check ids to look up; may be empty.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Refuse unknown required checks
  ansible.builtin.assert:
    that: _checks.unknown | length == 0
    fail_msg: "required checks must be among {{ _checks.known | join(', ') }}"
  vars:
    _checks: "{{ ['cpu', 'storage'] | drover.libvirt.preflight_check_ids }}"
"""

RETURN = r"""
_value:
  description: The ids.
  type: dict
  contains:
    known:
      description: Every check id a verdict can hold, in the order verdicts list them.
      type: list
      elements: str
    unknown:
      description: The ids of O(_input) that are not check ids, in their order.
      type: list
      elements: str
  sample: {known: [reachability, host_uuid, versions, machine_type, cpu, storage, network, capacity, blockers,
                   defined_on_destination, connectivity, convergence, maintenance], unknown: [cpus]}
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.drover.libvirt.plugins.module_utils._preflight_checks import CHECK_IDS


def preflight_check_ids(ids):
    if isinstance(ids, str) or not isinstance(ids, (list, tuple)):
        raise AnsibleFilterError("preflight_check_ids expects a list of check ids, got %r" % (ids,))
    return {"known": list(CHECK_IDS), "unknown": [str(i) for i in ids if i not in CHECK_IDS]}


class FilterModule:
    def filters(self):
        return {"preflight_check_ids": preflight_check_ids}
