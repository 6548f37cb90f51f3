# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: preflight_matrix
short_description: Preflight verdicts as a VM x destination table a person reads at a glance
version_added: 0.1.0
description:
  - Turns the RV(drover.libvirt.preflight_info#module:results) of one or more hosts into lines of text, one row per
    domain and one column per destination (V(pass), V(warn), V(warn+copy) when disks must be copied,
    V(FAIL(ids)) with the failed checks), followed by the reason of every check that did not pass.
author:
  - drover.libvirt maintainers (!UNKNOWN)
positional: _input
options:
  _input:
    description: Verdicts, as returned in RV(drover.libvirt.preflight_info#module:results).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Show the preflight matrix
  ansible.builtin.debug:
    msg: "{{ preflight.results | drover.libvirt.preflight_matrix }}"
"""

RETURN = r"""
_value:
  description: Lines of text; the table first, then one line per check that warned or failed.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.drover.libvirt.plugins.module_utils._preflight_checks import matrix_lines


def preflight_matrix(results):
    well_formed = isinstance(results, list) and all(
        isinstance(r, dict) and "domain" in r and "destination" in r for r in results)
    if not well_formed:
        raise AnsibleFilterError("preflight_matrix expects the results list of drover.libvirt.preflight_info")
    try:
        return matrix_lines(results)
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError("preflight_matrix: malformed verdict (%s)" % exc)


class FilterModule:
    def filters(self):
        return {"preflight_matrix": preflight_matrix}
