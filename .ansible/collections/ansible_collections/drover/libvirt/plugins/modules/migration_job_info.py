#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: migration_job_info
short_description: Progress of a running live migration
version_added: 0.1.0
description:
  - Reads the migration job of a domain on the hypervisor the task runs on - phase, progress,
    remaining bytes, dirty rate, bandwidth, expected downtime - for example while
    M(drover.libvirt.migrate) runs under C(async). Changes nothing.
author:
  - drover.libvirt maintainers (!UNKNOWN)
extends_documentation_fragment:
  - drover.libvirt.connection
  - drover.libvirt.attributes.info_module
options:
  name:
    description: Name of the domain.
    type: str
    required: true
    aliases: [domain]
seealso:
  - module: drover.libvirt.migration_job
  - module: drover.libvirt.migrate
"""

EXAMPLES = r"""
- name: Watch a migration started with async
  drover.libvirt.migration_job_info:
    name: db1
  register: job
  until: job.job.phase == 'none'
  retries: 120
  delay: 5
"""

RETURN = r"""
job:
  description: The domain's current job.
  returned: always
  type: dict
  contains:
    phase:
      description: V(none), V(precopy), V(postcopy) or V(postcopy_failed).
      type: str
      sample: precopy
    operation:
      description: V(migration_out) on the source, V(migration_in) on the destination.
      type: str
      sample: migration_out
    progress_percent:
      description: Share of the data sent so far.
      type: float
      sample: 73.5
    remaining_bytes:
      description: Bytes still to send.
      type: int
      sample: 41943040
    total_bytes:
      description: Bytes to send in all.
      type: int
    processed_bytes:
      description: Bytes sent so far.
      type: int
    dirty_rate_bps:
      description: Rate at which the guest dirties memory, bytes per second.
      type: int
    bandwidth_bps:
      description: Rate at which memory is sent, bytes per second.
      type: int
    expected_downtime_ms:
      description: Pause expected if the migration switched over now.
      type: int
    elapsed_ms:
      description: Time since the job started.
      type: int
    iteration:
      description: Pre-copy round.
      type: int
    auto_converge_throttle_percent:
      description: How much auto-converge slows the guest's vCPUs.
      type: int
    postcopy_requests:
      description: Pages the destination asked for during post-copy.
      type: int
"""

from ansible_collections.drover.libvirt.plugins.module_utils._argspec import DOMAIN_NAME
from ansible_collections.drover.libvirt.plugins.module_utils._job_control import read_job
from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_module import LibvirtModule


def main():
    module = LibvirtModule(argument_spec=dict(name=DOMAIN_NAME),
                           supports_check_mode=True)

    def work():
        conn = module.connect(module.params["uri"], "hypervisor")
        return {"changed": False, "job": read_job(module.lookup(conn, module.params["name"]))}

    module.run(work)


if __name__ == "__main__":
    main()
