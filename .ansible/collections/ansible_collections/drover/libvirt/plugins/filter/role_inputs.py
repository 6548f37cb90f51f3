# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: role_inputs
short_description: A role's variables typed as its argument spec says, from text or typed values
version_added: 0.1.0
description:
  - Variables given with C(-e key=value) or by an AWX text survey arrive as text, and role argument validation
    checks but does not convert them. This filter converts each variable of a role once, as Ansible converts
    module options (C(int), C(float), C(bool), C(list) with typed elements, C(dict), C(str), C(path)), checks
    C(choices), and fails naming the variable whose value cannot be read or is out of its range (O(ranges)).
  - The roles of this collection call it first and read their variables from the result only.
author:
  - drover.libvirt maintainers (!UNKNOWN)
positional: _input, spec, prefix, ranges
options:
  _input:
    description: Variable name to its value, for the variables of the role (names as in the spec).
    type: dict
    required: true
  spec:
    description: The C(options) of the role's argument spec (C(argument_specs.main.options) of C(meta/argument_specs.yml)).
    type: dict
    required: true
  prefix:
    description: Prefix removed from each variable's name in the result, for example C(evacuate_).
    type: str
    default: ""
  ranges:
    description:
      - Variable name to C([lowest, highest]) of a number variable, both included. A value outside fails, naming the
        variable and the value.
      - Whatever the ranges, a number must be finite and at most 2**53 in size (no C(nan), C(inf) or C(1e400)).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Read the role's variables, typed
  ansible.builtin.set_fact:
    _evacuate_in: "{{ dict(_names | zip(query('ansible.builtin.vars', *_names))) | drover.libvirt.role_inputs(_spec, 'evacuate_') }}"
  vars:
    _spec: "{{ (lookup('ansible.builtin.file', role_path ~ '/meta/argument_specs.yml') | from_yaml).argument_specs.main.options }}"
    _names: "{{ _spec.keys() | list }}"
# -e evacuate_max_parallel=3 gives _evacuate_in.max_parallel == 3 (an integer).

- name: Read them, and refuse a number out of its range
  ansible.builtin.set_fact:
    _evacuate_in: "{{ dict(_names | zip(query('ansible.builtin.vars', *_names))) | drover.libvirt.role_inputs(_spec, 'evacuate_', _ranges) }}"
  vars:
    _spec: "{{ (lookup('ansible.builtin.file', role_path ~ '/meta/argument_specs.yml') | from_yaml).argument_specs.main.options }}"
    _names: "{{ _spec.keys() | list }}"
    _ranges: {evacuate_max_parallel: [1, 1000]}
# -e evacuate_max_parallel=0 fails: "evacuate_max_parallel must be from 1 to 1000, got 0; nothing was changed".
"""

RETURN = r"""
_value:
  description: Each variable's name without O(prefix) to its typed value.
  type: dict
  sample: {max_parallel: 3, verify: true, hosts: [hv1]}
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._role_inputs import role_inputs as _role_inputs


def role_inputs(values, spec, prefix="", ranges=None):
    try:
        return _role_inputs(values, spec, prefix, ranges)
    except DroverError as exc:
        raise AnsibleFilterError(exc.msg) from exc


class FilterModule:
    """drover.libvirt filter that types a role's variables."""

    def filters(self):
        return {"role_inputs": role_inputs}
