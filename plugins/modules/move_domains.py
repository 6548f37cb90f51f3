#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: move_domains
short_description: Move many domains off this hypervisor in parallel, within concurrency caps
version_added: 0.1.0
description:
  - Carries out a list of moves from this hypervisor, usually the C(moves) of an evacuation plan
    (filter P(drover.libvirt.evacuation_plan#filter)). Live moves use the same migration as
    M(drover.libvirt.migrate), with its convergence policy and post-copy recovery.
  - A move starts when fewer than O(max_parallel) moves run and its destination receives fewer
    than O(max_per_destination); the outbound cap of this source is O(max_parallel).
  - A move that fails while the domain still runs here is retried on its next alternate
    destination, up to O(retries) times. After any failure the module asks both hosts where the
    domain runs rather than trusting the error; a domain found on both hosts or on none is
    reported and never retried.
  - Methods; V(live) live migration; V(cold) shut the domain down (destroyed after
    O(shutdown_timeout)), copy the disks the destination cannot see (a probe file decides),
    define and start it there, then remove the source definition; V(define) the same for a domain that is
    already shut off, which stays off; V(shutdown) shut it down here and move nothing.
  - The task fails when any move failed; RV(results) still reports every move.
author:
  - drover.libvirt maintainers (!UNKNOWN)
extends_documentation_fragment:
  - drover.libvirt.connection
  - drover.libvirt.migration
  - drover.libvirt.claims
attributes:
  check_mode:
    support: full
    description: Checks every move as the migrate module does in check mode and reports status V(planned); nothing moves.
  diff_mode:
    support: none
    description: Per-move results say what changed.
  action:
    support: full
    description: Inventory host names in destinations and alternates are replaced by their libvirt address.
  async:
    support: full
    description: Long batches can run with C(async) and be polled.
options:
  record_origin:
    description:
      - Record on each domain, before it leaves, the host it leaves (its origin, this hypervisor's
        O(source_name)), where it goes and the claims' run id, in the domain's metadata
        (namespace C(urn:drover-libvirt:origin:1)); the record travels with the domain.
      - A domain that already has an origin keeps it (its home stays the first host it left); a move
        that brings a domain to its origin removes the record. A move that fails while the domain
        stays here puts the record back as it was.
      - Read back as RV(drover.libvirt.hypervisor_info#module:domains[].origin); the role
        P(drover.libvirt.restore#role) brings domains home by it.
    type: bool
    default: false
  moves:
    description:
      - The moves, in the order to start them.
      - Each is a dict with C(domain), C(destination) (inventory host, host name or libvirt URI),
        optional C(alternates) (destinations to retry on, best first), C(method) (V(live) by default,
        V(cold), V(define), V(shutdown)) and C(copy_storage) (copy disks the destination cannot see).
    type: list
    elements: dict
    required: true
  source_name:
    description: Name of this hypervisor in results; the action plugin sets the inventory host name.
    type: str
  max_parallel:
    description: Most moves running at once from this hypervisor.
    type: int
    default: 2
  max_per_destination:
    description: Most moves running at once into any one destination.
    type: int
    default: 1
  retries:
    description: How many times a failed move is retried on its next alternate destination.
    type: int
    default: 1
  shutdown_timeout:
    description: Seconds a guest gets to power off for V(cold) and V(shutdown) before it is destroyed.
    type: int
    default: 120
  wait_for_capacity:
    description:
      - Seconds a domain may wait for room when every destination it was given refused its capacity claim
        (see O(claims)). Its destinations are asked again every 5 seconds until one has room or the time is up;
        then it stays on this host and is reported V(failed) with the reason, naming the runs that hold the room.
      - A destination without room does not count as a failed try (see O(retries)); the next one is asked.
    type: int
    default: 0
  progress_file:
    description:
      - Append one JSON line per event (start, retry, done, failed) to this file on the hypervisor, and every
        3 seconds one per running live migration with its progress (the RV(drover.libvirt.move_progress#module:lines)
        that M(drover.libvirt.move_progress) reads and prints).
    type: path
  stop_when_unwatched:
    description:
      - With O(progress_file), start no further move once nobody has read the progress file for this many seconds
        (M(drover.libvirt.move_progress) reads it at each look and touches C(PROGRESS_FILE.watched)), taken as a
        sign that the controller that started this job is gone. Moves already running finish; the domains not
        started stay on this host and are reported V(failed) with the reason.
      - V(0) never stops. M(drover.libvirt.move_progress) sets it for the jobs it starts.
    type: int
    default: 0
seealso:
  - module: drover.libvirt.migrate
  - module: drover.libvirt.preflight_info
"""

EXAMPLES = r"""
- name: Drain two domains, one at a time into each destination
  drover.libvirt.move_domains:
    moves:
      - {domain: vm1, destination: hv2, alternates: [hv3]}
      - {domain: vm2, destination: hv3, alternates: [hv2]}
    max_parallel: 2
    max_per_destination: 1
  register: moved
"""

RETURN = r"""
results:
  description: One entry per move, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Domain name.
      type: str
    from:
      description: This hypervisor.
      type: str
    to:
      description: Where the domain is now defined (and runs, for live and cold moves); null when it did not move.
      type: str
    status:
      description: V(migrated), V(moved_cold), V(defined), V(shut_down), V(unchanged), V(failed) or (check mode) V(planned).
      type: str
    method:
      description: V(live), V(cold), V(define) or V(shutdown).
      type: str
    finished:
      description:
        - For a domain found already running on its destination (status V(unchanged)), what this run finished of an
          earlier move that landed - C(undefine_source) for a shut-off definition left on this host, C(define_destination)
          for a missing persistent definition there; empty otherwise.
      type: list
      elements: str
    attempts:
      description: Destinations tried.
      type: int
    downtime_ms:
      description: Guest pause of the live migration.
      type: int
    duration_ms:
      description: Duration of the libvirt migration job.
      type: int
    bytes:
      description: Bytes the migration sent.
      type: int
    wall_ms:
      description: Wall time of the last attempt, from its start to the domain settled.
      type: int
    job_ms:
      description: Wall time of the libvirt migration call (its prepare, transfer and finish phases).
      type: int
    overhead_ms:
      description: RV(results[].wall_ms) minus RV(results[].job_ms); what this module added (connections, checks, definitions).
      type: int
    started_at:
      description: Start of the first attempt (ISO 8601, UTC).
      type: str
    finished_at:
      description: End of the last attempt (ISO 8601, UTC).
      type: str
    error:
      description: Why the move failed, or null.
      type: str
    location:
      description:
        - Where the domain runs after the move, V(source), V(destination), V(both), V(none) or V(unknown).
        - V(lost) when the destination runs the half of a post-copy move whose source's QEMU is gone (its memory that
          had not crossed went with it); V(stuck) when the move stopped in its switch-over to post-copy before the
          destination received the device state. docs/migrate.md says how to restart the guest in either case.
      type: str
    warnings:
      description:
        - What the move warned about, over all its attempts, for example an error libvirt reported
          although the domain landed on the destination.
      type: list
      elements: str
      sample: []
    landed:
      description:
        - The check after the move, asked of both hosts - C(ok) when the domain is defined only on the
          destination (and running there, for live and cold moves), with its state on each host.
        - A move that fails this check is reported V(failed).
      type: dict
    tries:
      description: Every attempt with destination, status, error, location and times.
      type: list
      elements: dict
source:
  description: This hypervisor's name.
  returned: always
  type: str
wall_ms:
  description: Wall time of the whole batch.
  returned: always
  type: int
peak:
  description: Highest number of moves that ran at once, overall and into each destination.
  returned: always
  type: dict
  sample: {parallel: 2, per_destination: {hv2: 1, hv3: 1}}
"""

from ansible_collections.drover.libvirt.plugins.module_utils._argspec import (
    CLAIMS_ARGSPEC, DAY_S, MAX_PARALLEL, MIGRATION_ARGSPEC, MOVE_RANGES)
from ansible_collections.drover.libvirt.plugins.module_utils._batch import BatchMover
from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_module import LibvirtModule


def main():
    module = LibvirtModule(
        argument_spec=dict(
            MIGRATION_ARGSPEC,
            **CLAIMS_ARGSPEC,
            moves=dict(type="list", elements="dict", required=True),
            source_name=dict(type="str"),
            max_parallel=dict(type="int", default=2),
            max_per_destination=dict(type="int", default=1),
            retries=dict(type="int", default=1),
            shutdown_timeout=dict(type="int", default=120),
            progress_file=dict(type="path"),
            wait_for_capacity=dict(type="int", default=0),
            record_origin=dict(type="bool", default=False),
            stop_when_unwatched=dict(type="int", default=0),
        ),
        ranges=dict(MOVE_RANGES, max_parallel=(1, MAX_PARALLEL), max_per_destination=(1, MAX_PARALLEL),
                    retries=(0, 100), shutdown_timeout=(0, DAY_S), wait_for_capacity=(0, DAY_S),
                    stop_when_unwatched=(0, DAY_S)),
        supports_check_mode=True,
    )

    def work():
        result = BatchMover(module).run(module.check_mode)
        failed = [r["name"] for r in result["results"] if r["status"] == "failed"]
        if failed:
            module.close_connections()
            module.fail_json(msg="%d of %d moves failed: %s" % (len(failed), len(result["results"]), "; ".join(
                "%s (%s)" % (r["name"], r["error"]) for r in result["results"] if r["status"] == "failed")), **result)
        return result

    module.run(work)


if __name__ == "__main__":
    main()
