#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: migration_job
short_description: Abort a running live migration or force it to complete
version_added: 0.1.0
description:
  - Steers the migration job of a domain on the hypervisor the task runs on (the source), for
    example one started by M(drover.libvirt.migrate) under C(async).
  - O(state=aborted) aborts a pre-copy migration; the domain keeps running on the source. It refuses
    a migration in post-copy, whose memory is split between the hosts - aborting would lose the guest.
  - O(state=completed) forces a pre-copy migration to finish, by switching to post-copy (the migration
    must have been started with post-copy permitted, as the V(balanced) and V(postcopy) presets do) or
    by pausing the guest.
  - O(state=recovered) drives a migration that failed during post-copy (the guest runs on O(dest)
    while part of its memory is still here) to the destination, resuming the stream when it is
    broken, then leaves the domain defined on the destination only. Neither side is destroyed.
  - Nothing running, or a migration already in the asked direction, is ok and unchanged.
author:
  - drover.libvirt maintainers (!UNKNOWN)
extends_documentation_fragment:
  - drover.libvirt.connection
attributes:
  check_mode:
    support: full
    description: Reads the job and predicts C(changed); touches nothing.
  diff_mode:
    support: none
    description: The returned C(job) shows the phase before the change.
options:
  name:
    description: Name of the domain.
    type: str
    required: true
    aliases: [domain]
  state:
    description: V(aborted), V(completed) or V(recovered).
    type: str
    required: true
    choices: [aborted, completed, recovered]
  dest:
    description:
      - With O(state=recovered), the destination as a libvirt URI or a host name (see O(transport)).
      - The action plugin replaces an inventory host name by that host's C(drover_libvirt_uri) (used as the
        URI), else its C(drover_libvirt_address) or C(ansible_host).
    type: str
  transport:
    description: Transport to O(dest) when it is not a URI.
    type: str
    choices: [ssh, tcp, tls]
    default: ssh
  wait:
    description: With O(state=recovered), seconds to keep trying before failing.
    type: int
    default: 300
  migration_port:
    description:
      - With O(state=recovered) on libvirt 11.3.0 (whose resume call crashes the destination daemon), the
        destination port of the broken migration stream, so QEMU can resume it directly.
      - M(drover.libvirt.migrate) finds it by itself; give it here for a migration started elsewhere.
    type: int
  force:
    description:
      - How to force completion with O(state=completed).
      - Before a switch to V(postcopy), pre-copy is slowed to 1 MiB/s until the source's kernel holds at most 256 KiB
        for the domain's connections (at most 3 s), so the switch's device state crosses at once.
    type: str
    choices: [postcopy, pause]
    default: postcopy
seealso:
  - module: drover.libvirt.migration_job_info
  - module: drover.libvirt.migrate
"""

EXAMPLES = r"""
- name: Start a long migration in the background
  drover.libvirt.migrate:
    name: db1
    dest: hv4
  async: 3600
  poll: 0
  register: move

- name: It has to be done before the maintenance window closes
  drover.libvirt.migration_job:
    name: db1
    state: completed
    force: postcopy

- name: Wait for the migration task's result
  ansible.builtin.async_status:
    jid: "{{ move.ansible_job_id }}"
  register: moved
  until: moved.finished
  retries: 360
  delay: 10
"""

RETURN = r"""
job:
  description: The job as it was before this task (see M(drover.libvirt.migration_job_info)).
  returned: always
  type: dict
  sample: {phase: precopy, progress_percent: 64.2, remaining_bytes: 120586240}
steps:
  description: With O(state=recovered), what the recovery did.
  returned: when a recovery ran
  type: list
  elements: str
  sample: [QEMU migrate resume to 10.0.0.2:49152, landed on the destination after 9.0s]
cleanup:
  description: With O(state=recovered), definitions fixed afterwards (V(undefine_source), V(define_destination)).
  returned: with O(state=recovered)
  type: list
  elements: str
  sample: [undefine_source]
action:
  description: What was (or in check mode would be) done - V(abort), V(postcopy), V(pause), V(recover) or nothing (null).
  returned: always
  type: str
  sample: postcopy
"""

from ansible_collections.drover.libvirt.plugins.module_utils._argspec import DAY_S, DOMAIN_NAME, TRANSPORT
from ansible_collections.drover.libvirt.plugins.module_utils._job_control import (
    apply_job_change,
    plan_job_change,
    read_job,
    recover,
)
from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_module import LibvirtModule
from ansible_collections.drover.libvirt.plugins.module_utils._postcopy import StreamDrain


def main():
    module = LibvirtModule(
        argument_spec=dict(
            name=DOMAIN_NAME,
            state=dict(type="str", required=True, choices=["aborted", "completed", "recovered"]),
            force=dict(type="str", choices=["postcopy", "pause"], default="postcopy"),
            dest=dict(type="str"),
            transport=TRANSPORT,
            wait=dict(type="int", default=300),
            migration_port=dict(type="int"),
        ),
        required_if=[("state", "recovered", ["dest"])],
        ranges=dict(wait=(0, DAY_S), migration_port=(1, 65535)),
        supports_check_mode=True,
    )

    def work():
        p = module.params
        conn = module.connect(p["uri"], "hypervisor")
        dom = module.lookup(conn, p["name"])
        job = read_job(dom)
        if p["state"] == "recovered":
            return recover(module, conn, dom, job)
        action = plan_job_change(p["name"], job["phase"], p["state"], p["force"])
        if action and not module.check_mode:
            # As migrate does before its own switch: the device state must not queue behind a buffer of RAM.
            apply_job_change(dom, action, StreamDrain(dom, p["name"], None, module.libvirt))
        return {"changed": action is not None, "job": job, "action": action}

    module.run(work)


if __name__ == "__main__":
    main()
