# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The moves that bring domains home to the hosts recorded as their origin."""

from __future__ import annotations

DOCUMENTATION = r"""
name: restore_moves
short_description: The moves that bring domains back to the host they left for maintenance
version_added: 0.1.0
description:
  - From fleet facts, the domains whose origin (RV(drover.libvirt.hypervisor_info#module:domains[].origin)) is one
    of O(homes), grouped by the host that holds them now, each as a move home for M(drover.libvirt.move_domains)
    run on the holder; and the domains that stay, with the reason.
  - A domain stays when it is defined on more than one host, its home was not read or is marked for maintenance,
    or it was moved by hand since drover put it where it is (unless O(moved_by_hand)).
  - A running or paused domain moves live; a shut-off one moves as a definition and stays off.
positional: homes, moved_by_hand
options:
  _input:
    description: "Fleet facts, C({host: {hypervisor, domains}}) (RV(drover.libvirt.fleet_info#module:fleet))."
    type: dict
    required: true
  homes:
    description: The hosts to bring domains home to.
    type: list
    elements: str
    required: true
  moved_by_hand:
    description: Bring home also the domains found on another host than the one drover put them on.
    type: bool
    default: false
author:
  - drover.libvirt maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Bring hv1's domains home, from each host that holds some
  drover.libvirt.move_domains:
    moves: "{{ item.moves }}"
    record_origin: true
  delegate_to: "{{ item.holder }}"
  loop: "{{ (fleet.fleet | drover.libvirt.restore_moves(['hv1'])).batches }}"
"""

RETURN = r"""
_value:
  description:
    - C(batches), one C({holder, moves}) per host holding some; C(left), one C({domain, holder, home, reason}) per
      domain that stays; C(lines), one line per domain saying which.
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.drover.libvirt.plugins.module_utils._restore import restore_batches


def restore_moves(fleet, homes, moved_by_hand=False):
    if not isinstance(fleet, dict):
        raise AnsibleFilterError("restore_moves: the input must be fleet facts {host: {hypervisor, domains}}, got %s"
                                 % type(fleet).__name__)
    try:
        return restore_batches(fleet, [str(h) for h in homes], bool(moved_by_hand))
    except (KeyError, TypeError, AttributeError) as exc:
        raise AnsibleFilterError("restore_moves: malformed fleet facts (%r)" % (exc,)) from exc


class FilterModule:
    def filters(self):
        return {"restore_moves": restore_moves}
