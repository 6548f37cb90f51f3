# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: fleet_facts
short_description: Split per-host facts into the hosts that could be read and those that could not
version_added: 0.1.0
description:
  - Takes the registered result of M(drover.libvirt.hypervisor_info) run in a loop over hosts
    (C(delegate_to) each, with C(ignore_unreachable) and C(failed_when) false) and returns the facts
    by host, plus the hosts that could not be read with the reason.
  - A host is unreachable when Ansible could not reach it (SSH down) or when the module could not read
    it (its libvirt daemon down). Hosts that are down are normal during maintenance; they are left out of
    placement and verification rather than stopping the run.
author:
  - drover.libvirt maintainers (!UNKNOWN)
positional: _input
options:
  _input:
    description: The C(results) list of the looped task; each entry's C(item) is the inventory host.
    type: list
    elements: dict
    required: true
  pings:
    description:
      - Inventory host to the registered result of a ping, for hosts left out of the loop because they did
        not answer it (with C(ignore_unreachable)); those with an unreachable result are listed as unreachable.
    type: dict
"""

EXAMPLES = r"""
- name: Read every hypervisor, whether or not it answers
  drover.libvirt.hypervisor_info:
  delegate_to: "{{ item }}"
  loop: "{{ groups['hypervisors'] }}"
  run_once: true
  ignore_unreachable: true
  failed_when: false
  register: _facts

- name: Keep what could be read
  ansible.builtin.set_fact:
    fleet: "{{ (_facts.results | drover.libvirt.fleet_facts).fleet }}"
    down: "{{ (_facts.results | drover.libvirt.fleet_facts).unreachable | map(attribute='host') | list }}"
"""

RETURN = r"""
_value:
  description: The facts by host and the hosts that could not be read.
  type: dict
  contains:
    fleet:
      description: Inventory host to its M(drover.libvirt.hypervisor_info) result, for the hosts that answered.
      type: dict
    unreachable:
      description: One C({host, reason}) per host that could not be read, in loop order.
      type: list
      elements: dict
  sample: {fleet: {hv1: {hypervisor: {}, domains: []}}, unreachable: [{host: hv3, reason: "Failed to connect to the host via ssh"}]}
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._facts_schema import fleet_from_results


def fleet_facts(results, pings=None):
    try:
        return fleet_from_results(results, pings)
    except DroverError as exc:
        raise AnsibleFilterError("fleet_facts: %s" % exc.msg) from exc


class FilterModule:
    """drover.libvirt filter that reads looped hypervisor_info results."""

    def filters(self):
        return {"fleet_facts": fleet_facts}
