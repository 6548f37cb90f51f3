#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet_info
short_description: Facts about many libvirt hypervisors, read in parallel from one of them
version_added: 0.1.0
description:
  - Runs on one hypervisor (normally the one being drained), reads its own facts locally as
    M(drover.libvirt.hypervisor_info) does, and the facts of every host in O(hosts) over its libvirt
    URI, many at once. Changes nothing.
  - Each host's entry in RV(fleet) has exactly the shape M(drover.libvirt.hypervisor_info) returns
    (C(hypervisor) and C(domains), see C(docs/facts.md) of the collection), so whatever reads
    hypervisor_info results reads these too.
  - Read through its libvirt URI, a host's bridges are unknown (null) and the shared-filesystem test
    of its storage paths is unknown; its maintenance mark and capacity claims are downloaded through
    the libvirt storage pool C(drover-state), which the module makes (transient, over
    C(/var/lib/libvirt/drover)) on a host whose daemon has none.
  - A host that cannot be read (its libvirt daemon down, refused, or silent for O(timeout) seconds)
    is listed in RV(unreachable_hosts) and left out of RV(fleet); it does not fail the task. Only this
    hypervisor's own facts failing to read fails it.
author:
  - drover.libvirt maintainers (!UNKNOWN)
extends_documentation_fragment:
  - drover.libvirt.connection
  - drover.libvirt.attributes.info_module
attributes:
  action:
    support: full
    description: Inventory host names in O(hosts) are replaced by their libvirt address.
options:
  hosts:
    description:
      - The other hypervisors to read. Each is a libvirt URI, an inventory host name (resolved through
        C(drover_libvirt_uri), C(drover_libvirt_address) or C(ansible_host)), or a host name or address
        from which a URI is built with O(transport).
      - A host named like this hypervisor (O(local_name)) is not read twice; its entry is the local read.
    type: list
    elements: str
    default: []
  host_names:
    description:
      - The name each host has in RV(fleet) and RV(unreachable_hosts), in the order of O(hosts). The action
        plugin sets it to the inventory host names; default is O(hosts) itself.
    type: list
    elements: str
  local_name:
    description:
      - The name of this hypervisor in RV(fleet). The action plugin sets it to the inventory host the
        task runs on (or is delegated to); default is the host name its libvirt daemon reports.
    type: str
  transport:
    description: Transport of the URIs built from plain host names or addresses in O(hosts).
    type: str
    choices: [ssh, tcp, tls]
    default: ssh
  concurrency:
    description: How many hosts are read at once, each on its own connection; between V(1) and V(256).
    type: int
    default: 16
  timeout:
    description:
      - Seconds a host has to connect and answer, counted from when its read starts. A host still
        silent then is unreachable; the module stops waiting for it.
    type: float
    default: 30
  domains:
    description:
      - Only report these domains, on every host read. The hypervisors' memory and vCPU totals still
        count every domain.
    type: list
    elements: str
  dirty_rate_seconds:
    description:
      - Measure each running domain of this hypervisor's page dirty rate by sampling for this many
        seconds, as in M(drover.libvirt.hypervisor_info); other hosts report null. V(0) skips it.
    type: int
    default: 0
  agent_ping:
    description:
      - Ping the guest agent of every running domain that has an agent channel, on every host read
        (through libvirt, so over the remote connections too).
    type: bool
    default: false
  sample:
    description:
      - Read only enough of O(hosts) to plan moving the running domains of O(sample.sources) away,
        instead of every host. The sources are read first; the other hosts are read in an order
        shuffled by O(sample.seed), a batch at a time, until at least O(sample.destinations) of them
        answered and together have O(sample.margin) times the memory and vCPUs the sources' running
        domains use (a host marked for maintenance counts no room). The cost of a drain then
        depends on what it moves, not on the size of the group.
      - Hosts not read are listed in RV(hosts_not_read); they are neither in RV(fleet) nor unreachable.
      - Omitted, every host is read.
    type: dict
    suboptions:
      sources:
        description: Names (as in O(host_names)) of the hosts whose domains are to move; always read.
        type: list
        elements: str
        default: []
      destinations:
        description: Read at least this many other hosts that answer.
        type: int
        default: 8
      margin:
        description: Room the hosts read must have, as a multiple of what the sources' running domains use; from V(1).
        type: float
        default: 2.0
      seed:
        description: Shuffles the reading order; give each run its own (for example its run id) to spread runs.
        type: str
        default: ""
      reserved_memory_mib:
        description: Memory per host kept for the host itself, left out of its room.
        type: int
        default: 0
      vcpu_ratio:
        description: vCPUs allowed per physical CPU when counting a host's room.
        type: float
        default: 1.0
seealso:
  - module: drover.libvirt.hypervisor_info
  - module: drover.libvirt.preflight_info
"""

EXAMPLES = r"""
- name: Read the whole group from the host being drained
  drover.libvirt.fleet_info:
    hosts: "{{ groups['hypervisors'] }}"
    transport: tcp
    timeout: 20
  register: fleet

- name: Hosts that could not be read
  ansible.builtin.debug:
    msg: "{{ fleet.unreachable_hosts | map(attribute='host') | list }}"

- name: Free memory of every host read
  ansible.builtin.debug:
    msg: "{{ fleet.fleet | dict2items | map(attribute='value.hypervisor.memory.free_kib') | list }}"
"""

RETURN = r"""
fleet:
  description:
    - Host name to its facts, for this hypervisor and every host that could be read, each as
      M(drover.libvirt.hypervisor_info) returns them (C(hypervisor) and C(domains)).
  returned: always
  type: dict
  sample: {hv1: {hypervisor: {hostname: hv1, bridges: [], maintenance: null}, domains: []},
           hv2: {hypervisor: {hostname: hv2, bridges: null, maintenance: null}, domains: []}}
hosts_not_read:
  description:
    - With O(sample), the hosts of O(hosts) left unread because the hosts read were enough, in the order
      they would have been read. Empty without O(sample).
  returned: always
  type: list
  elements: str
  sample: [hv7, hv3]
unreachable_hosts:
  description:
    - One C({host, reason}) per host that could not be read, in the order of O(hosts); the same
      entries as the C(unreachable) list of the P(drover.libvirt.fleet_facts#filter) filter. (A key
      named C(unreachable) would make Ansible take the task's own host for unreachable.)
  returned: always
  type: list
  elements: dict
  sample: [{host: hv3, reason: "qemu+tcp://10.0.0.3/system did not answer within 30 s"}]
"""

from ansible_collections.drover.libvirt.plugins.module_utils._argspec import (
    DAY_S, LOCAL_FACTS_OPTIONS, LOCAL_FACTS_RANGES, MAX_MEMORY_MIB, TRANSPORT)
from ansible_collections.drover.libvirt.plugins.module_utils._fleet_read import CONCURRENCY_RANGE, read_fleet, read_remote, remote_hosts
from ansible_collections.drover.libvirt.plugins.module_utils._fleet_sample import sample_settings
from ansible_collections.drover.libvirt.plugins.module_utils._host_facts import module_facts
from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_module import LibvirtModule


def main():
    module = LibvirtModule(
        argument_spec=dict(
            hosts=dict(type="list", elements="str", default=[]),
            host_names=dict(type="list", elements="str"),
            local_name=dict(type="str"),
            transport=TRANSPORT,
            concurrency=dict(type="int", default=16),
            timeout=dict(type="float", default=30),
            sample=dict(type="dict", options=dict(
                sources=dict(type="list", elements="str", default=[]),
                destinations=dict(type="int", default=8),
                margin=dict(type="float", default=2.0),
                seed=dict(type="str", default=""),
                reserved_memory_mib=dict(type="int", default=0),
                vcpu_ratio=dict(type="float", default=1.0),
            )),
            **LOCAL_FACTS_OPTIONS
        ),
        ranges=dict(LOCAL_FACTS_RANGES, concurrency=CONCURRENCY_RANGE, timeout=(0.1, DAY_S),
                    sample=dict(destinations=(1, 100000), margin=(1, 1000), reserved_memory_mib=(0, MAX_MEMORY_MIB),
                                vcpu_ratio=(0.01, 1000))),
        supports_check_mode=True,
    )

    def work():
        params = module.params
        conn = module.connect(params["uri"], "hypervisor")
        local_name = params["local_name"] or conn.getHostname()
        hosts = remote_hosts(params["hosts"], params["host_names"], params["transport"], local_name,
                             params["allow_insecure_transport"])
        names = set(params["domains"]) if params["domains"] is not None else None
        sample = sample_settings(params["sample"])
        result = read_fleet(module.libvirt, hosts, params["concurrency"], params["timeout"], local_name,
                            lambda: module_facts(module, conn),
                            lambda lv, host: read_remote(lv, host, module.libvirt_qemu if params["agent_ping"] else None,
                                                         names),
                            sample=sample)
        # Not "unreachable": Ansible takes a result with a true "unreachable" for an unreachable task host.
        return {"changed": False, "fleet": result["fleet"], "unreachable_hosts": result["unreachable"],
                "hosts_not_read": result["not_read"]}

    module.run(work)


if __name__ == "__main__":
    main()
