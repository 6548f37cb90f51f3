#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_claims
short_description: Remove capacity claims from the hypervisor the task runs on
version_added: 0.1.0
description:
  - Capacity claims hold room on a destination for a domain that is about to arrive (see
    M(drover.libvirt.move_domains)). A run releases its own when each move ends; a claim it could not release
    (the destination's libvirt daemon was down then) holds its room until it expires.
  - This module removes claims by name, for example those the P(drover.libvirt.stale_claims#filter) filter finds
    holding room for moves that are over, and with O(expired) every expired claim.
  - Claims are files C(drover-claim_*.json) in C(/var/lib/libvirt/drover), so the module runs on the hypervisor
    itself. Only names that parse as claims are accepted; a symbolic link at a claim's path is removed, never
    followed.
author:
  - drover.libvirt maintainers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Lists the claims that would be removed.
  diff_mode:
    support: none
    description: Not supported; RV(removed) lists what goes.
options:
  names:
    description: File names of the claims to remove, as M(drover.libvirt.hypervisor_info) reports them (C(hypervisor.claims[].name)).
    type: list
    elements: str
    default: []
  expired:
    description: Also remove every claim of this host that has expired (a minute past its expiry, as readers count it).
    type: bool
    default: false
seealso:
  - module: drover.libvirt.hypervisor_info
  - module: drover.libvirt.move_domains
"""

EXAMPLES = r"""
- name: Release the claims that hold room for moves that are over
  drover.libvirt.release_claims:
    names: "{{ item.value | map(attribute='name') | list }}"
  delegate_to: "{{ item.key }}"
  loop: "{{ fleet.fleet | drover.libvirt.stale_claims | dict2items }}"

- name: Tidy the expired claims of this host
  drover.libvirt.release_claims:
    expired: true
"""

RETURN = r"""
removed:
  description: The claims removed (in check mode, those that would be).
  returned: always
  type: list
  elements: str
absent:
  description: Claims of O(names) that were not there (released or expired and removed already).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.drover.libvirt.plugins.module_utils._claim_store import remove_local_claims
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            names=dict(type="list", elements="str", default=[]),
            expired=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    try:
        removed, absent = remove_local_claims(module.params["names"], module.params["expired"], module.check_mode)
    except DroverError as exc:
        module.fail_json(msg=exc.msg, removed=[], absent=[])
    module.exit_json(changed=bool(removed), removed=removed, absent=absent)


if __name__ == "__main__":
    main()
