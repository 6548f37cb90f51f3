# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capacity claims that hold room for moves that are over."""

from __future__ import annotations

DOCUMENTATION = r"""
name: stale_claims
short_description: The capacity claims that hold room for moves that are over
version_added: 0.1.0
description:
  - From fleet facts, the live claims that no move needs any more, by the host that holds them, for
    M(drover.libvirt.release_claims) to remove there.
  - A claim is stale when its domain is active on the claim's host (it arrived, and counts there through its own
    memory), or when the claim names its source host, that host was read, and it no longer defines the domain (the
    move the claim was for cannot start; the domain runs wherever that move, or a later one, put it). A run whose
    release failed because the destination's libvirt daemon was down leaves such claims.
  - A claim whose source is unknown or was not read is kept, as it may belong to a move about to start. The
    P(drover.libvirt.evacuation_plan#filter) filter does not count stale claims either.
positional: _input
options:
  _input:
    description: "Fleet facts, C({host: {hypervisor, domains}}) (RV(drover.libvirt.fleet_info#module:fleet))."
    type: dict
    required: true
author:
  - drover.libvirt maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Say which claims hold room for moves that are over, and why
  ansible.builtin.debug:
    msg: "{{ item.key }}: {{ item.value | map(attribute='domain') | zip(item.value | map(attribute='why'))
             | map('join', ' - ') | join('; ') }}"
  loop: "{{ fleet.fleet | drover.libvirt.stale_claims | dict2items }}"
"""

RETURN = r"""
_value:
  description: Host to its stale claims, each C({name, domain, uuid, run_id, why}); hosts without any are left out.
  type: dict
  sample:
    hv2:
      - name: drover-claim_1764500000_1_131072_run1_0f0e0d0c-0000-0000-0000-000000000001.json
        domain: web1
        uuid: 0f0e0d0c-0000-0000-0000-000000000001
        run_id: run1
        why: its domain is no longer on hv1, the source it was claimed from
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.drover.libvirt.plugins.module_utils._claims import stale_claims as _stale_claims


def stale_claims(fleet):
    if not isinstance(fleet, dict):
        raise AnsibleFilterError("stale_claims: the input must be fleet facts {host: {hypervisor, domains}}, got %s"
                                 % type(fleet).__name__)
    return _stale_claims(fleet)


class FilterModule:
    def filters(self):
        return {"stale_claims": stale_claims}
