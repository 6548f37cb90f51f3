# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: evacuation_plan
short_description: Plan where the VMs of hypervisors being drained go, and in which waves
version_added: 0.1.0
author:
  - drover.libvirt maintainers (!UNKNOWN)
description:
  - Takes the facts of every hypervisor (the results of M(drover.libvirt.hypervisor_info)) and the hosts
    to drain, and decides for each VM on those hosts a destination, up to three alternates, the method
    (live migration, cold move, or moving a shut-off definition), and the wave it moves in.
  - Placement keeps memory headroom, a per-host memory reservation and a vCPU overcommit ratio;
    honours anti-affinity and affinity groups, pinned VMs, hosts in maintenance, excluded hosts and
    failed preflight verdicts. Largest VMs first, each goes to the destination with the lowest relative
    use of its binding resource (memory or vCPUs).
  - When that leaves VMs behind, first-fit and best-fit decreasing are tried too and the placement that
    places the most VMs (then the most memory) is kept, so a plan never places fewer VMs than either.
  - Refuses facts with negative, NaN or infinite numbers, and a VM (same name or UUID) found on two of the
    hosts being drained, naming the host and field, or the VM and both hosts.
  - VMs that cannot move are listed in RV(_value.unplaced) with a reason a person can act on.
  - Changes nothing and contacts no host; the same input always gives the same plan.
  - See C(docs/planner.md) in the collection for every rule.
positional: drain, verdicts, constraints
options:
  _input:
    description:
      - The fleet, a dict of inventory host name to the registered result of M(drover.libvirt.hypervisor_info)
        on that host (at least its C(hypervisor) and C(domains) keys).
    type: dict
    required: true
  drain:
    description:
      - Inventory hosts to empty. They are never destinations.
      - Every name must be a key of the fleet.
    type: list
    elements: str
    required: true
  verdicts:
    description:
      - The verdicts of the preflight checks, items with C(domain), C(source), C(destination),
        C(status) (V(pass), V(warn) or V(fail)), C(copy_storage) and C(checks).
      - A V(fail) verdict excludes that destination for that VM; V(warn) verdicts show up in the move's notes.
      - For VMs moved shut down (V(cold), V(define)), failed checks that only concern live migration
        (C(blockers), C(connectivity), C(convergence), C(host_uuid), C(versions); and C(capacity) for V(define)) are ignored.
      - C(copy_storage) tells whether the move copies the VM's disks; without a verdict it is assumed when a disk is not shared.
    type: list
    elements: dict
  constraints:
    description:
      - How to place; every key is optional.
    type: dict
    default: {}
    suboptions:
      select:
        description:
          - JMESPath expression applied to the list of the drained hosts' domains (each with a C(host) key
            added); it returns domains or domain names, and only those move. The others are listed in
            RV(_value.skipped).
          - For example V([?tags.labels.tier=='db']), V([?!(tags.pinned)]) or V([?memory_kib > `1048576`].name).
        type: str
      memory_headroom_pct:
        description: Percentage of a destination's total memory kept free after placement.
        type: float
        default: 10
      reserved_memory_mib:
        description:
          - Memory kept for the host OS on every destination, in MiB; or a dict of host name to MiB.
        type: raw
        default: 0
      vcpu_ratio:
        description: A destination's allocated vCPUs stay at or below this many times its physical CPUs.
        type: float
        default: 4.0
      anti_affinity:
        description:
          - Dict of group name to a list of VM names; no two members of a group share a host.
          - Merged with the groups from the domains' placement tags.
        type: dict
        default: {}
      affinity:
        description:
          - Dict of group name to a list of VM names; the members that move land together, on the host where
            a member that stays already is, else on one host with room for all of them.
          - Merged with the groups from the domains' placement tags.
        type: dict
        default: {}
      exclude_hosts:
        description: Hosts never used as destinations. Hosts marked for maintenance are excluded anyway.
        type: list
        elements: str
        default: []
      max_parallel:
        description: Moves at the same time, over the whole plan (moves per wave).
        type: int
        default: 2
      max_per_source:
        description: Moves at the same time out of one host.
        type: int
        default: 2
      max_per_destination:
        description: Moves at the same time into one host.
        type: int
        default: 1
      include_shutoff:
        description:
          - Move the definitions of persistent shut-off VMs too (method V(define)).
          - They count for anti-affinity but reserve no memory or vCPUs on their new host.
        type: bool
        default: true
      cold:
        description:
          - Move VMs that cannot migrate live (host devices and other blockers) while shut down (method V(cold))
            instead of listing them as unplaced.
        type: bool
        default: false
      bandwidth_mib_s:
        description: Migration bandwidth in MiB/s, for the time estimates.
        type: float
        default: 1000
      run_id:
        description:
          - The run's id for capacity claims (see O(drover.libvirt.migrate#module:claims)
            of the move modules). Live claims of other runs in the facts (C(hypervisor.claims)) hold room on their
            host; this run's own claims do not, and a claim for a domain already active on that host counts once.
        type: str
requirements:
  - jmespath, on the controller, for O(constraints.select)
notes:
  - Pinned VMs never move.
  - Memory is counted from the hypervisor's committed memory (the current memory of its active domains),
    not from its momentary free memory.
seealso:
  - module: drover.libvirt.hypervisor_info
"""

EXAMPLES = r"""
- name: Read every hypervisor
  drover.libvirt.hypervisor_info:
  register: hv_facts

- name: Plan draining hv1 and hv2
  run_once: true
  vars:
    fleet: "{{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, 'hv_facts'))) }}"
  ansible.builtin.set_fact:
    plan: "{{ fleet | drover.libvirt.evacuation_plan(['hv1', 'hv2'], constraints={'max_parallel': 4}) }}"

- name: Only the database tier, never onto hv9, live-migratable VMs only
  run_once: true
  ansible.builtin.set_fact:
    plan: >-
      {{ fleet | drover.libvirt.evacuation_plan(['hv1'], verdicts=preflight.verdicts,
                                                constraints={'select': "[?tags.labels.tier=='db']",
                                                             'exclude_hosts': ['hv9'], 'include_shutoff': false}) }}

- name: Stop when anything would stay behind
  ansible.builtin.assert:
    that: plan.unplaced | length == 0
    fail_msg: "{{ plan.unplaced | map(attribute='domain') | zip(plan.unplaced | map(attribute='reason')) | list }}"

- name: Moves of the first wave
  ansible.builtin.debug:
    msg: "{{ plan.moves | selectattr('wave', 'equalto', 1) | list }}"
"""

RETURN = r"""
_value:
  description: The plan. Every list is sorted, so the same input gives the same plan.
  type: dict
  contains:
    moves:
      description: One item per VM that moves, in execution order.
      type: list
      elements: dict
      contains:
        domain:
          description: VM name.
          type: str
        uuid:
          description: VM UUID.
          type: str
        source:
          description: The drained host it leaves.
          type: str
        destination:
          description: The host it goes to.
          type: str
        alternates:
          description: Up to three other valid destinations when it was placed, best first.
          type: list
          elements: str
        method:
          description: V(live) (running or paused), V(cold) (moved while shut down) or V(define) (a shut-off definition).
          type: str
        copy_storage:
          description: Whether the move copies the VM's disks.
          type: bool
        wave:
          description: Wave number, from 1; all moves of a wave may run at once within the caps.
          type: int
        order:
          description: Position in the whole plan, from 1.
          type: int
        memory_bytes:
          description: The VM's memory.
          type: int
        estimated_bytes:
          description: Bytes to send; memory for a live move, plus disk capacity when disks are copied.
          type: int
        estimated_seconds:
          description: Expected duration at O(constraints.bandwidth_mib_s), allowing for the measured dirty rate.
          type: float
        notes:
          description: Remarks such as a dirty rate pre-copy cannot beat or preflight warnings.
          type: list
          elements: str
    unplaced:
      description: VMs that cannot move, with the reason.
      type: list
      elements: dict
      contains:
        domain:
          description: VM name.
          type: str
        source:
          description: Its host.
          type: str
        reason:
          description: Why, for example C(pinned) or C(needs 4096 MiB; most free on a valid destination is hv2 with 2048 MiB (10% headroom kept)).
          type: str
        method:
          description: The method the move would need.
          type: str
    skipped:
      description: VMs of the drained hosts left out on purpose (not selected, or shut off with O(constraints.include_shutoff=false)).
      type: list
      elements: dict
      contains:
        domain:
          description: VM name.
          type: str
        source:
          description: Its host.
          type: str
        reason:
          description: Why it was left out.
          type: str
    waves:
      description:
        - The waves in order. The drained hosts move their domains at the same time, C(caps.sources_at_once) of them,
          as the evacuate role runs them; each wave starts from no move running, within the caps.
      type: list
      elements: dict
      contains:
        wave:
          description: Wave number.
          type: int
        domains:
          description: VM names of the wave.
          type: list
          elements: str
        estimated_seconds:
          description: The longest move of the wave.
          type: float
    estimated_seconds:
      description: Sum of the waves' estimates.
      type: float
    caps:
      description:
        - The concurrency caps in effect (C(max_parallel), C(max_per_source), C(max_per_destination)), and
          C(sources_at_once), how many drained hosts move their domains at the same time.
        - Drained hosts drain in parallel, at most C(max_parallel) of them at once; each gets an equal share of
          C(max_parallel) as its C(max_per_source), so all their moves together stay within C(max_parallel).
      type: dict
    destinations:
      description:
        - Every host that could take VMs, with C(memory_free_kib_before) and C(memory_free_kib_after) (memory placement
          may still use, after committed memory, reservation and headroom), C(vcpus_allocated_after) and C(inbound) (moves to it).
      type: dict
    excluded_destinations:
      description: Hosts that take no VM, with the reason (being drained, excluded, marked for maintenance).
      type: dict
  sample:
    moves:
      - {domain: db1, uuid: 0b5c0d5e-4d1a-4c2e-9f7e-3b1a2c4d5e6f, source: hv1, destination: hv3, alternates: [hv2],
         method: live, copy_storage: false, wave: 1, order: 1, memory_bytes: 4294967296,
         estimated_bytes: 4294967296, estimated_seconds: 4.1, notes: []}
    unplaced:
      - {domain: gpu1, source: hv1, method: cold, reason: "has blockers: hostdev pci 0000:03:00.0 (set cold to move it shut down)"}
    skipped: []
    waves: [{wave: 1, domains: [db1], estimated_seconds: 4.1}]
    estimated_seconds: 4.1
    caps: {max_parallel: 2, max_per_source: 2, max_per_destination: 1, sources_at_once: 1}
    destinations:
      hv2: {memory_free_kib_before: 8388608, memory_free_kib_after: 8388608, vcpus_allocated_after: 6, inbound: 0}
      hv3: {memory_free_kib_before: 12582912, memory_free_kib_after: 8388608, vcpus_allocated_after: 10, inbound: 1}
    excluded_destinations: {hv1: being drained}
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._planner import plan_evacuation


def evacuation_plan(fleet, drain, verdicts=None, constraints=None):
    """Plan evacuating the `drain` hosts of `fleet`; see DOCUMENTATION."""
    try:
        return plan_evacuation(fleet, drain, verdicts=verdicts, constraints=constraints)
    except DroverError as exc:
        raise AnsibleFilterError(exc.msg) from None


class FilterModule:
    """drover.libvirt filters."""

    def filters(self):
        return {"evacuation_plan": evacuation_plan}
