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
  - Reads what placement and preflight need to know about a hypervisor (identity, versions, CPU,
    memory, vCPUs, storage, networks, maintenance mark) and about every domain it knows, running or
    defined (size, CPU, machine type, disks, interfaces, host devices, migration blockers,
    placement tags, optionally a measured dirty rate). Changes nothing.
  - The shape is documented in C(docs/facts.md) of the collection; fields are only ever added.
  - Host bridges and filesystem types are read from the host itself, so they are only known when the
    module runs on the hypervisor with a local O(uri); through a remote O(uri) the bridges are null.
    The maintenance mark and the claims are read through the host's libvirt storage pool
    C(drover-state) then (made, transient, when the daemon has none).
author:
  - drover.libvirt maintainers (!UNKNOWN)
extends_documentation_fragment:
  - drover.libvirt.connection
  - drover.libvirt.attributes.info_module
options:
  domains:
    description:
      - Only report these domains. The hypervisor's memory and vCPU totals still count every domain.
    type: list
    elements: str
  dirty_rate_seconds:
    description:
      - Measure each running domain's page dirty rate by sampling for this many seconds
        (libvirt's dirty-rate calculation), reported as RV(domains[].dirty_rate_mib_s).
      - V(0) skips the measurement; the rate is then null.
    type: int
    default: 0
  agent_ping:
    description:
      - Ping the QEMU guest agent of every running domain that has an agent channel and report
        whether it answered, in RV(domains[].agent).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Read the hypervisor's facts
  drover.libvirt.hypervisor_info:
  register: hv

- name: Names of the running domains
  ansible.builtin.debug:
    msg: "{{ hv.domains | selectattr('state', 'equalto', 'running') | map(attribute='name') | list }}"

- name: Measure how fast the running domains dirty their memory (5 s sample)
  drover.libvirt.hypervisor_info:
    dirty_rate_seconds: 5
  register: hv_rates
"""

RETURN = r"""
hypervisor:
  description: The hypervisor; every field is described in C(docs/facts.md).
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
    arch:
      description: Host architecture.
      type: str
      sample: x86_64
    virt_type:
      description: V(kvm) when QEMU can use KVM here, else V(qemu) (TCG).
      type: str
    cpu:
      description: Host CPU (model, vendor, topology, count), QEMU's host-model CPU and the named CPU models QEMU can run here.
      type: dict
    machine_types:
      description: Machine types QEMU supports here, aliases included.
      type: list
      elements: str
    memory:
      description: Total, free (free + buffers + cache) and committed (to active domains) memory in KiB, and hugepages per size.
      type: dict
      sample: {total_kib: 24684032, free_kib: 23456000, committed_kib: 262144, hugepages: []}
    vcpus:
      description: Physical CPUs and vCPUs allocated to active domains.
      type: dict
      sample: {physical: 2, allocated: 2}
    storage:
      description: Storage pools and declared shared paths, with whether each is shared with other hosts (null when unknown).
      type: list
      elements: dict
      sample: [{pool: shared, type: dir, path: /srv/drover/shared, active: true, shared: true,
                capacity_bytes: 1000000, available_bytes: 500000}]
    networks:
      description: libvirt networks with state, bridge, MTU and forward mode.
      type: list
      elements: dict
    bridges:
      description: Host bridges and their MTU; null (unknown) through a remote O(uri).
      type: list
      elements: dict
    maintenance:
      description: The maintenance mark set by M(drover.libvirt.host_maintenance), or null.
      type: dict
    last_maintenance:
      description:
        - The last maintenance recorded as finished (M(drover.libvirt.host_maintenance) O(drover.libvirt.host_maintenance#module:finished)),
          the mark it ended with C(ended), or null.
      type: dict
    claims:
      description:
        - Capacity claims other runs hold on this host (see the O(drover.libvirt.migrate#module:claims)
          option), expired ones included with C(live=false).
        - Each has C(run_id), C(owner), C(domain), C(uuid), C(source), C(memory_kib), C(vcpus),
          C(created) and C(expires) (seconds since the epoch), C(name) and C(live).
      type: list
      elements: dict
domains:
  description: The domains of the hypervisor, sorted by name; empty when there is none.
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
    current_memory_kib:
      description: Current memory in KiB.
      type: int
    vcpus:
      description: Number of virtual CPUs.
      type: int
    cpu:
      description: CPU mode, model and check of the definition.
      type: dict
    machine:
      description: Machine type.
      type: str
    disks:
      description: Disks with target, device, type, path, format, read-only, shared (null when unknown), pool and capacity.
      type: list
      elements: dict
    interfaces:
      description: Network interfaces with type, source network or bridge, MAC and model.
      type: list
      elements: dict
    hostdevs:
      description: Host devices assigned to the domain.
      type: list
      elements: dict
    blockers:
      description: What stops a live migration of this domain (kind and detail); empty when nothing does.
      type: list
      elements: dict
    tags:
      description: Placement tags from the domain metadata (anti_affinity, affinity, pinned, labels).
      type: dict
      sample: {anti_affinity: [web], affinity: [], pinned: false, labels: {tier: db}}
    origin:
      description:
        - The host this domain left for maintenance (C(host)), where this collection put it (C(to)), the run that
          moved it (C(run)) and when it first left (C(since)), or null. See M(drover.libvirt.move_domains) O(drover.libvirt.move_domains#module:record_origin).
      type: dict
      sample: {host: hv1, to: hv2, run: rolling-20261130-ab12cd34, since: "2026-11-30T10:00:00+00:00"}
    agent:
      description: Whether a guest agent channel exists, is connected, and (with O(agent_ping)) answered.
      type: dict
    dirty_rate_mib_s:
      description: Measured dirty rate in MiB/s, null unless O(dirty_rate_seconds) is set.
      type: int
    job:
      description:
        - The libvirt job running on the domain (type and operation), or null.
        - With C(held_by) (libvirt's message) when a job holds the domain so that its definition cannot be read,
          as on the destination of a post-copy migration whose stream died; the domain is then reported from its
          state and size alone.
      type: dict
  sample: [{name: vm1, uuid: 0b5c..., state: running, state_reason: 1, active: true,
            persistent: true, memory_kib: 131072, vcpus: 1}]
"""

from ansible_collections.drover.libvirt.plugins.module_utils._argspec import LOCAL_FACTS_OPTIONS, LOCAL_FACTS_RANGES
from ansible_collections.drover.libvirt.plugins.module_utils._host_facts import module_facts
from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_module import LibvirtModule


def main():
    module = LibvirtModule(argument_spec=dict(LOCAL_FACTS_OPTIONS), ranges=LOCAL_FACTS_RANGES, supports_check_mode=True)
    module.run(lambda: dict(module_facts(module), changed=False))


if __name__ == "__main__":
    main()
