# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The moves an earlier run left failed in post-copy, to finish forward."""

from __future__ import annotations

DOCUMENTATION = r"""
name: split_moves
short_description: The moves left failed in post-copy, with the guest split between two hosts
version_added: 0.1.0
description:
  - From fleet facts, each domain paused on one host with reason "post-copy failed" (the source of a move whose
    link died in post-copy) whose UUID runs on exactly one other host with reason "post-copy" or "post-copy failed"
    (its destination). Its memory is on both hosts, so neither side may be destroyed; such a move is finished
    forward, with M(drover.libvirt.migration_stream) on the destination and M(drover.libvirt.migration_job)
    O(drover.libvirt.migration_job#module:state=recovered) on the source.
  - A domain whose other half is not seen (a host not read) is left out, for a person to judge.
  - With O(stuck=true), the moves stuck in their switch-over to post-copy instead - the source paused "post-copy
    failed", the destination paused as an incoming migration that never started (reason "migration"). The
    destination never received the guest's device state, and QEMU before 10.2 can neither resume such a move nor
    run the guest on its source again. They cannot be finished; docs/migrate.md says how to restart the guest.
positional: _input
options:
  _input:
    description: "Fleet facts, C({host: {hypervisor, domains}}) (RV(drover.libvirt.fleet_info#module:fleet))."
    type: dict
    required: true
  hosts:
    description: Only the moves whose source or destination is one of these hosts; all when omitted.
    type: list
    elements: str
  stuck:
    description: Return the moves stuck in the switch-over to post-copy instead of the split ones.
    type: bool
    default: false
author:
  - drover.libvirt maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Say which moves are split between two hosts
  ansible.builtin.debug:
    msg: "{{ item.domain }}: paused on {{ item.source }}, running on {{ item.destination }}"
  loop: "{{ fleet.fleet | drover.libvirt.split_moves(hosts=['hv1']) }}"

- name: Stop at a move stuck in its switch-over to post-copy
  ansible.builtin.assert:
    that: fleet.fleet | drover.libvirt.split_moves(stuck=true) | length == 0
    fail_msg: A move is stuck in its switch-over to post-copy; see docs/migrate.md.
"""

RETURN = r"""
_value:
  description: The split moves, each C({domain, uuid, source, destination}), by domain name.
  type: list
  elements: dict
  sample:
    - domain: db1
      uuid: 0f0e0d0c-0000-0000-0000-000000000001
      source: hv1
      destination: hv2
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.drover.libvirt.plugins.module_utils._stale_stream import split_moves as _split_moves


def split_moves(fleet, hosts=None, stuck=False):
    if not isinstance(fleet, dict):
        raise AnsibleFilterError("split_moves: the input must be fleet facts {host: {hypervisor, domains}}, got %s"
                                 % type(fleet).__name__)
    if hosts is not None and (not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts)):
        raise AnsibleFilterError("split_moves: hosts must be a list of host names, got %r" % (hosts,))
    if not isinstance(stuck, bool):
        raise AnsibleFilterError("split_moves: stuck must be true or false, got %r" % (stuck,))
    return _split_moves(fleet, hosts, stuck)


class FilterModule:
    def filters(self):
        return {"split_moves": split_moves}
