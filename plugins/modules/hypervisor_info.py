#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: hypervisor_info
short_description: Facts about one libvirt hypervisor and its domains
version_added: 0.1.0
description:
  - Reads the identity and versions of a hypervisor and lists every domain it knows, running or
    defined. Changes nothing.
author:
  - drover.libvirt maintainers (!UNKNOWN)
extends_documentation_fragment:
  - drover.libvirt.connection
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
options: {}
"""

EXAMPLES = r"""
- name: Read the hypervisor's facts
  drover.libvirt.hypervisor_info:
  register: hv

- name: Names of the running domains
  ansible.builtin.debug:
    msg: "{{ hv.domains | selectattr('state', 'equalto', 'running') | map(attribute='name') | list }}"
"""

RETURN = r"""
hypervisor:
  description: Identity and versions of the hypervisor.
  returned: always
  type: dict
  contains:
    hostname:
      description: Host name the libvirt daemon reports.
      type: str
      sample: hv1
    uri:
      description: URI of the connection.
      type: str
      sample: qemu:///system
    host_uuid:
      description: Host UUID; libvirt refuses migrations between hosts with the same one.
      type: str
      sample: d7a0e5c0-0000-4000-8000-000000000001
    libvirt_version:
      description: Version of the libvirt daemon.
      type: str
      sample: 11.3.0
    hypervisor_version:
      description: Version of QEMU.
      type: str
      sample: 10.0.2
    libvirt_python_version:
      description: Version of the libvirt library the module ran with.
      type: str
      sample: 11.3.0
domains:
  description: Every domain of the hypervisor, sorted by name; empty when there is none.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Domain name.
      type: str
    uuid:
      description: Domain UUID.
      type: str
    state:
      description: V(running), V(paused), V(shutoff) and so on.
      type: str
    state_reason:
      description: libvirt's numeric reason for the state.
      type: int
    active:
      description: Whether a QEMU process runs the domain.
      type: bool
    persistent:
      description: Whether the domain has a persistent definition on this host.
      type: bool
    memory_kib:
      description: Maximum memory in KiB.
      type: int
    vcpus:
      description: Number of virtual CPUs.
      type: int
  sample: [{name: vm1, uuid: 0b5c..., state: running, state_reason: 1, active: true,
            persistent: true, memory_kib: 131072, vcpus: 1}]
"""

from ansible_collections.drover.libvirt.plugins.module_utils._inventory import hypervisor_facts, list_domains
from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_module import LibvirtModule


def main():
    module = LibvirtModule(argument_spec={}, supports_check_mode=True)

    def work():
        conn = module.connect(module.params["uri"], "hypervisor")
        return {"changed": False, "hypervisor": hypervisor_facts(conn, module.libvirt),
                "domains": list_domains(conn)}

    module.run(work)


if __name__ == "__main__":
    main()
