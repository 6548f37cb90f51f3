#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: migrate
short_description: Live-migrate one running libvirt domain to another hypervisor
version_added: 0.1.0
description:
  - Moves a running domain from the hypervisor the task runs on (O(uri)) to O(dest) by
    peer-to-peer live migration, while the guest keeps running.
  - Waits for the libvirt job to finish. When O(timeout) passes first, the job is aborted and the
    domain keeps running on the source. The module never returns while a job it started still runs.
  - After the call, it checks where the domain actually runs on both hosts rather than trusting the
    error text, so a failure report always says where the domain is.
  - Idempotent. A domain already running on the destination and absent from the source returns
    ok. A left-over shut-off definition of the same domain on the source is removed when
    O(undefine_source=true).
  - Refuses to act (and changes nothing) when the domain is active on both hosts, already defined on
    the destination, not running, or when the destination is the source host itself.
  - Needs libvirt 1.1.0 or later on both hosts (migrateToURI3); tested against libvirt 11.3 / QEMU 10.0
    and written for libvirt 9.0 / QEMU 7.2 too.
author:
  - drover.libvirt maintainers (!UNKNOWN)
extends_documentation_fragment:
  - drover.libvirt.connection
attributes:
  check_mode:
    support: full
    description: Connects to both hosts, checks everything and predicts C(changed); moves nothing.
  diff_mode:
    support: full
    description: Shows where the domain runs before and after.
options:
  name:
    description: Name of the domain to migrate.
    type: str
    required: true
    aliases: [domain]
  dest:
    description:
      - The destination hypervisor, as a libvirt URI (for example V(qemu+tls://hv2.example.com/system))
        or as a host name or address, from which a URI is built with O(transport) and O(dest_user).
      - The action plugin replaces an inventory host name by its C(ansible_host), so V(hv2) works in
        playbooks.
    type: str
    required: true
  transport:
    description:
      - Transport of the libvirt control connection to the destination when O(dest) is not a URI.
      - The source libvirt daemon opens that connection itself (peer-to-peer), so it needs the same
        access (SSH keys, TLS certificates) as the task.
    type: str
    choices: [ssh, tcp, tls]
    default: ssh
  dest_user:
    description: User for O(transport=ssh) when O(dest) is not a URI.
    type: str
  migration_uri:
    description:
      - Address the destination QEMU listens on for the migration data stream, for example
        V(tcp://10.0.0.12), to send guest memory over a dedicated migration network.
      - By default the destination libvirt daemon picks its own address.
    type: str
  persist:
    description: Define the domain persistently on the destination.
    type: bool
    default: true
  undefine_source:
    description: Remove the domain's persistent definition from the source once it runs on the destination.
    type: bool
    default: true
  bandwidth:
    description: Cap of the migration stream in MiB/s; V(0) means no cap.
    type: int
    default: 0
  timeout:
    description:
      - Seconds to wait for the migration. When they pass, the job is aborted and the domain keeps
        running on the source; the task fails and says so.
    type: int
    default: 600
  poll_interval:
    description: Seconds between two samples of the job's progress.
    type: float
    default: 0.5
seealso:
  - name: libvirt migration guide
    description: Transports, peer-to-peer and data-stream options.
    link: https://libvirt.org/migration.html
notes:
  - Run the task on the source hypervisor. The module needs libvirt-python there.
"""

EXAMPLES = r"""
- name: Move vm1 from this hypervisor to hv2 (an inventory host)
  drover.libvirt.migrate:
    name: vm1
    dest: hv2

- name: Move over TLS, send memory over the migration network, give up after 5 minutes
  drover.libvirt.migrate:
    name: db1
    dest: qemu+tls://hv7.example.com/system
    migration_uri: tcp://10.20.0.7
    timeout: 300
  register: moved

- name: Show the guest's pause
  ansible.builtin.debug:
    msg: "db1 paused for {{ moved.metrics.downtime_ms }} ms"
"""

RETURN = r"""
domain:
  description: Name of the domain.
  returned: always
  type: str
  sample: vm1
source:
  description: URI of the source hypervisor.
  returned: always
  type: str
  sample: qemu:///system
destination:
  description: URI of the destination hypervisor.
  returned: always
  type: str
  sample: qemu+ssh://10.251.0.2/system
source_host:
  description: Host name the source libvirt daemon reports.
  returned: always
  type: str
  sample: hv1
destination_host:
  description: Host name the destination libvirt daemon reports.
  returned: always
  type: str
  sample: hv2
flags:
  description: The VIR_MIGRATE_* flags used, without the prefix.
  returned: always
  type: list
  elements: str
  sample: [LIVE, PEER2PEER, ABORT_ON_ERROR, PERSIST_DEST, UNDEFINE_SOURCE]
params:
  description: The migration parameters passed to libvirt.
  returned: always
  type: dict
  sample: {bandwidth: 100}
cleanup:
  description:
    - Steps taken (or, in check mode, to be taken) to finish an earlier migration,
      V(undefine_source) and V(define_destination).
  returned: always
  type: list
  elements: str
  sample: []
decisions:
  description: What the job monitor did while the migration ran, in order (time, action, reason).
  returned: when a migration ran
  type: list
  elements: dict
  sample: []
metrics:
  description: Figures of the completed migration job.
  returned: when a migration ran and succeeded
  type: dict
  contains:
    downtime_ms:
      description: How long the guest was paused (stop-and-copy and resume).
      type: int
      sample: 133
    duration_ms:
      description: Duration of the libvirt migration job.
      type: int
      sample: 4832
    wall_ms:
      description: Wall time of the migration call, including connection setup.
      type: int
      sample: 5120
    data_bytes:
      description: Bytes sent (memory and disks).
      type: int
      sample: 71493632
    memory_bytes:
      description: Bytes of guest memory sent.
      type: int
      sample: 71493632
    disk_bytes:
      description: Bytes of disk sent (storage copy).
      type: int
      sample: 0
    memory_iterations:
      description: Pre-copy rounds.
      type: int
      sample: 3
    memory_bandwidth_bps:
      description: Memory transfer rate at the end, bytes per second.
      type: int
      sample: 295423590
    setup_ms:
      description: Setup time of the job.
      type: int
      sample: 1
    source_of_metrics:
      description: V(completed_job) (libvirt's completed-job statistics) or V(last_sample) (last progress sample).
      type: str
      sample: completed_job
"""

from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_module import LibvirtModule
from ansible_collections.drover.libvirt.plugins.module_utils._live_migration import LiveMigration


def main():
    module = LibvirtModule(
        argument_spec=dict(
            name=dict(type="str", required=True, aliases=["domain"]),
            dest=dict(type="str", required=True),
            transport=dict(type="str", choices=["ssh", "tcp", "tls"], default="ssh"),
            dest_user=dict(type="str"),
            migration_uri=dict(type="str"),
            persist=dict(type="bool", default=True),
            undefine_source=dict(type="bool", default=True),
            bandwidth=dict(type="int", default=0),
            timeout=dict(type="int", default=600),
            poll_interval=dict(type="float", default=0.5),
        ),
        supports_check_mode=True,
    )
    module.run(lambda: LiveMigration(module).run(module.check_mode))


if __name__ == "__main__":
    main()
