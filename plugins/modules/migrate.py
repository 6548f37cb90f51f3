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
  - Waits for the libvirt job while a monitor samples its progress and applies a convergence policy
    (O(convergence)) - stepped downtime, auto-converge, post-copy, pause or abort - so the migration
    finishes within a known time, with a known worst-case pause. Every decision is returned.
  - After an abort the domain keeps running on the source. The module never returns while a job it
    started still runs.
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
  - drover.libvirt.migration
  - drover.libvirt.claims
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
      - The action plugin replaces an inventory host name by that host's C(drover_libvirt_uri) (used as the
        URI), else its C(drover_libvirt_address) or C(ansible_host), so V(hv2) works in playbooks.
    type: str
    required: true
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
  copy_storage:
    description:
      - Copy the domain's disks to the destination during the migration, for disks that are not on
        storage both hosts share.
      - V(all) copies every writable disk in full (a backing chain is flattened into one image).
      - V(incremental) copies only the top image; its backing chain must already be on the destination
        at the same paths.
      - Copy targets are pre-created on the destination in the storage pool that covers their directory
        (with the source's format and capacity); the module refuses to overwrite an existing volume, and
        deletes the volumes it created when the migration fails.
    type: str
    choices: [none, all, incremental]
    default: none
  copy_disks:
    description: Copy only these disk targets (for example V(vda)); implies O(copy_storage=all) when that is V(none).
    type: list
    elements: str
    default: []
  cdrom:
    description:
      - What to do with inserted CD-ROM or floppy media.
      - V(keep) keeps the path (it must exist on the destination), V(eject) ejects it in the destination's
        definition only (the source keeps it until the move succeeds), V(copy) copies it like a disk.
    type: str
    choices: [keep, eject, copy]
    default: keep
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

- name: Move over TLS, send memory over the migration network, finish (in post-copy if need be) within 5 minutes
  drover.libvirt.migrate:
    name: db1
    dest: qemu+tls://hv7.example.com/system
    migration_uri: tcp://10.20.0.7
    timeout: 300
  register: moved

- name: Move a busy database with a short worst-case pause; abort rather than pause longer
  drover.libvirt.migrate:
    name: db2
    dest: hv8
    convergence: minimal_downtime
    convergence_knobs:
      max_downtime_ms: 200
      parallel_connections: 4

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
  description:
    - What the job monitor did while the migration ran, in order - time C(t_s), C(action)
      (set_downtime, postcopy, pause, abort), C(value), C(reason), C(ok), and the job's
      C(remaining_bytes), C(dirty_rate_bps), C(bandwidth_bps) and C(iteration) at that moment.
  returned: when a migration ran
  type: list
  elements: dict
  sample: [{t_s: 0.5, action: set_downtime, value: 100, reason: downtime step 1/5, ok: true,
            remaining_bytes: 97000000, dirty_rate_bps: 4194304, bandwidth_bps: 290000000, iteration: 1}]
convergence:
  description: The preset, the knobs in force, the completion timeout and the downtime schedule used.
  returned: when a migration ran
  type: dict
  sample: {preset: balanced, timeout_s: 60, downtime_schedule: [[0, 100], [2, 200]], knobs: {}}
postcopy_recovery:
  description: How a failed post-copy phase was recovered - C(landed), the C(steps) taken and the C(first_error).
  returned: when a migration failed in post-copy
  type: dict
  sample: {landed: true, steps: [landed on the destination after 9.0s], first_error: client socket is closed}
storage:
  description:
    - The storage plan - C(copy) mode, copied disk targets C(disks), ejected CD-ROM targets C(eject),
      C(cdrom) mode, the destination volumes to pre-create C(precreate), and after success, when asked,
      the source volumes removed C(removed_from_source).
  returned: when the domain was or would be migrated
  type: dict
  sample: {copy: all, disks: [vda], eject: [], cdrom: keep, precreate: [/srv/drover/local/db1.qcow2]}
claim:
  description:
    - The capacity claim held on the destination while the domain moved (see O(claims)), removed when the
      move ended. V(null) when claims are off, in check mode, or when the domain was already there.
  returned: when the domain was or would be migrated
  type: dict
  sample: {run_id: 3f9c2a1b7d4e, domain: vm1, memory_kib: 1048576, vcpus: 1, expires: 1764500000}
resumed_on_destination:
  description: The guest was paused to force completion and was resumed on the destination.
  returned: when that happened
  type: bool
  sample: true
metrics:
  description: Figures of the completed migration job.
  returned: when a migration ran and succeeded
  type: dict
  contains:
    downtime_ms:
      description: How long the guest was paused (stop-and-copy and resume).
      type: int
      sample: 133
    estimated_pause_ms:
      description:
        - The pause expected when the migration ended in pre-copy - QEMU's downtime limit then in force plus the
          switch-over cost learned for this destination (see C(calibrate_switchover)) - to set against O(convergence)'s
          limit and RV(metrics.downtime_ms). Absent after post-copy or a pause.
      type: int
      sample: 480
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
    postcopy:
      description: Whether the migration finished in post-copy.
      type: bool
      sample: false
    source_of_metrics:
      description:
        - V(source_completed_event) (the source's job-completed event), V(destination_completed_job)
          (the destination's completed-job statistics) or V(last_sample) (the last progress sample).
      type: str
      sample: source_completed_event
"""

from ansible_collections.drover.libvirt.plugins.module_utils._argspec import (
    CLAIMS_ARGSPEC, CDROM, COPY_STORAGE, DOMAIN_NAME, MIGRATION_ARGSPEC, MOVE_RANGES)
from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_module import LibvirtModule
from ansible_collections.drover.libvirt.plugins.module_utils._live_migration import LiveMigration
from ansible_collections.drover.libvirt.plugins.module_utils._migration_options import MigrationOptions


def main():
    module = LibvirtModule(
        argument_spec=dict(
            MIGRATION_ARGSPEC,
            **CLAIMS_ARGSPEC,
            name=DOMAIN_NAME,
            dest=dict(type="str", required=True),
            dest_user=dict(type="str"),
            migration_uri=dict(type="str"),
            persist=dict(type="bool", default=True),
            undefine_source=dict(type="bool", default=True),
            copy_storage=COPY_STORAGE,
            copy_disks=dict(type="list", elements="str", default=[]),
            cdrom=CDROM,
        ),
        ranges=MOVE_RANGES,
        supports_check_mode=True,
    )

    def work():
        options = MigrationOptions.from_params(module.params)
        return LiveMigration(module.connect, options, module.warn, module.libvirt,
                             module.libvirt_qemu).run(module.check_mode)

    module.run(work)


if __name__ == "__main__":
    main()
