#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: preflight_info
short_description: Check whether this hypervisor's domains can live-migrate to each destination
version_added: 0.1.0
description:
  - For each selected domain of this hypervisor and each destination, runs the migration preflight
    checks and returns a verdict per pair with every check's status (V(pass), V(warn), V(fail)), a
    one-line reason a person can act on, and details.
  - "Checks: C(reachability) (the destination's libvirt answers), C(host_uuid), C(versions) (QEMU and
    libvirt not older), C(machine_type), C(cpu) (the destination can provide the domain's CPU, asked of
    its hypervisor), C(storage) (a probe file written next to each disk here must appear on the
    destination, else the disk needs a copy), C(network) (networks and bridges exist, are active and
    have the same MTU), C(capacity) (memory and vCPUs, counting what is already committed there and
    O(pending) moves), C(blockers) (host and mediated devices, shared memory and the like),
    C(defined_on_destination), C(connectivity) (TCP to the destination's migration ports from here),
    C(convergence) (an estimate of whether pre-copy converges), and C(maintenance) when the destination
    is marked."
  - A destination that cannot be reached gives a failed C(reachability) check for each domain, not a
    failed task. The task fails only on bad input (an unknown domain, a malformed destination).
  - Run it on the source hypervisor (the default local O(uri)); the storage and port probes start from
    where the module runs.
  - Probes leave nothing behind; the storage probe file is removed and any transient pool destroyed.
author:
  - drover.libvirt maintainers (!UNKNOWN)
extends_documentation_fragment:
  - drover.libvirt.connection
attributes:
  check_mode:
    support: full
    description: Read-only apart from the probe file it removes again; runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
  action:
    support: full
    description: Inventory host names in O(destinations) are replaced by their libvirt address.
options:
  destinations:
    description:
      - Where the domains could go. Each is a libvirt URI, an inventory host name (resolved through
        C(drover_libvirt_uri), C(drover_libvirt_address) or C(ansible_host)), or a host name or address
        from which a URI is built with O(transport).
    type: list
    elements: str
    required: true
  destination_names:
    description:
      - The name each destination has in results, in the order of O(destinations). The action plugin
        sets it to the inventory host names; default is O(destinations) itself.
    type: list
    elements: str
  transport:
    description: Transport of the URIs built from plain host names.
    type: str
    choices: [ssh, tcp, tls]
    default: ssh
  domains:
    description: Domains to check; default every running domain (and, with O(include_shutoff), every persistent one).
    type: list
    elements: str
  include_shutoff:
    description: Also check persistent domains that are shut off (their definitions would move).
    type: bool
    default: false
  copy_storage:
    description:
      - Whether a disk the destination cannot see may be copied during the migration. When V(true)
        such a disk makes the C(storage) check V(warn) (and RV(results[].copy_storage) true); when
        V(false) it fails.
    type: bool
    default: true
  reserved_memory_mib:
    description: Memory kept for the destination host itself, never given to guests.
    type: int
    default: 1024
  vcpu_ratio:
    description: Most vCPUs a destination may run per physical CPU.
    type: float
    default: 4.0
  pending:
    description:
      - Moves already headed to a destination but not started, by destination name, as
        C({memory_mib, vcpus}); the capacity check subtracts them. Incoming migrations that have
        started are counted from the destination's own domains.
    type: dict
  migration_ports:
    description: The destination's QEMU migration port range (qemu.conf C(migration_port_min)-C(migration_port_max)).
    type: str
    default: 49152-49215
  port_timeout:
    description: Seconds to wait for an answer from each probed migration port.
    type: float
    default: 2.0
  bandwidth:
    description: Expected migration bandwidth in MiB/s, for the convergence estimate.
    type: int
    default: 1000
  convergence:
    description: The convergence preset the migration will use (see M(drover.libvirt.migrate)).
    type: str
    choices: [balanced, auto, minimal_downtime, postcopy, suspend_if_needed, none]
    default: auto
  dirty_rate_seconds:
    description: Measure each domain's dirty rate for this many seconds first; V(0) assumes no dirtying.
    type: int
    default: 0
  destination_facts:
    description:
      - Results of M(drover.libvirt.hypervisor_info) run on the destinations themselves, by destination
        name. They add what cannot be read remotely (host bridges; the maintenance mark is also
        read through the destination's libvirt).
    type: dict
  concurrency:
    description:
      - How many destinations are checked at once, each on its own connection. The results are the
        same, in the same order, whatever the value.
      - Between V(1) (one destination after another) and V(256).
    type: int
    default: 16
seealso:
  - module: drover.libvirt.hypervisor_info
  - module: drover.libvirt.migrate
"""

EXAMPLES = r"""
- name: Can vm1 go to hv2 or hv3?
  drover.libvirt.preflight_info:
    domains: [vm1]
    destinations: [hv2, hv3]
  register: preflight

- name: Stop when a check failed
  ansible.builtin.assert:
    that: preflight.summary.fail == 0
    fail_msg: "{{ preflight.results | selectattr('status', 'equalto', 'fail') | map(attribute='checks') | flatten
                  | selectattr('status', 'equalto', 'fail') | map(attribute='reason') | list }}"
"""

RETURN = r"""
results:
  description: One verdict per domain and destination.
  returned: always
  type: list
  elements: dict
  contains:
    domain:
      description: Domain name.
      type: str
    source:
      description: Host name of this hypervisor.
      type: str
    destination:
      description: Destination name (see O(destination_names)).
      type: str
    destination_uri:
      description: libvirt URI of the destination.
      type: str
    status:
      description: The worst status of the checks.
      type: str
      sample: warn
    copy_storage:
      description: Whether the migration must copy disks the destination cannot see.
      type: bool
    failed:
      description: Ids of the failed checks.
      type: list
      elements: str
    checks:
      description: Every check with C(id), C(status), C(reason) and C(details).
      type: list
      elements: dict
      sample: [{id: cpu, status: fail, reason: "hv2 cannot provide the domain's CPU: ...", details: {}}]
summary:
  description: Number of verdicts per status.
  returned: always
  type: dict
  sample: {pass: 3, warn: 1, fail: 0}
source:
  description: Host name of this hypervisor.
  returned: always
  type: str
domains:
  description: The domains that were checked.
  returned: always
  type: list
  elements: str
destinations:
  description: The destination names, in order.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.drover.libvirt.plugins.module_utils._argspec import CONVERGENCE, TRANSPORT
from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_module import LibvirtModule
from ansible_collections.drover.libvirt.plugins.module_utils._preflight_run import PREFLIGHT_RANGES, run_preflight


def main():
    module = LibvirtModule(
        argument_spec=dict(
            destinations=dict(type="list", elements="str", required=True),
            destination_names=dict(type="list", elements="str"),
            transport=TRANSPORT,
            domains=dict(type="list", elements="str"),
            include_shutoff=dict(type="bool", default=False),
            copy_storage=dict(type="bool", default=True),
            reserved_memory_mib=dict(type="int", default=1024),
            vcpu_ratio=dict(type="float", default=4.0),
            pending=dict(type="dict"),
            migration_ports=dict(type="str", default="49152-49215"),
            port_timeout=dict(type="float", default=2.0),
            bandwidth=dict(type="int", default=1000),
            convergence=CONVERGENCE,
            dirty_rate_seconds=dict(type="int", default=0),
            destination_facts=dict(type="dict"),
            concurrency=dict(type="int", default=16),
        ),
        ranges=PREFLIGHT_RANGES,
        supports_check_mode=True,
    )
    module.run(lambda: run_preflight(module))


if __name__ == "__main__":
    main()
