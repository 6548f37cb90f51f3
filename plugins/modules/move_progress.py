#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: move_progress
short_description: Move domains as a job on the hypervisor and print their progress while they move
version_added: 0.1.0
description:
  - >-
    Runs M(drover.libvirt.move_domains) with the options in O(move_domains) as a background job on the
    hypervisor, the way C(async) runs a module, and looks at it every O(interval) seconds. Each look prints, in the
    normal output of C(ansible-playbook) and of an AWX job, the lines the job wrote since the last look, each
    prefixed by the hypervisor's name - a line when a move starts, for each live migration still running its
    newest progress line, and a line when a move ends, for example
    C(hv1: vm1 -> hv2: pre-copy 42.0%, 96.3 MiB/s, 310.0 MiB left, ETA 4 s (pass 2, dirtying 3.1 MiB/s)) and
    C(hv1: vm1 -> hv2: migrated in 24.1 s, downtime 120 ms).
  - The progress of a live migration is written every 3 seconds; percent, rate and remaining count all the data
    the migration sends (memory, and disks when they are copied). In pre-copy the ETA counts only what the rate
    gains on the rate the guest dirties its memory, and reads C(not converging) when it gains nothing.
  - The task returns the result of M(drover.libvirt.move_domains), exactly as that module returns it, and fails
    when it fails. The job's status file is removed at the end, and so is its progress file unless you named it.
  - No SSH session stays open while the domains move; each look is two short module runs. A host that cannot
    be reached is asked again at every look for O(reconnect_timeout) seconds (the job keeps running there);
    after that the task ends unreachable, as M(drover.libvirt.move_domains) does when its session breaks.
  - With O(interval=0), and in check mode, M(drover.libvirt.move_domains) runs in the foreground instead, over
    one connection until it returns, and nothing is printed.
  - Without O(move_domains), the module reads once the lines of O(progress_file) after byte O(offset), for example
    those of a M(drover.libvirt.move_domains) task that you started with C(async) and C(poll=0) yourself.
author:
  - drover.libvirt maintainers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: M(drover.libvirt.move_domains) runs in check mode, in the foreground; reading a file removes nothing.
  diff_mode:
    support: none
    description: Per-move results say what changed.
  action:
    support: full
    description: The action plugin starts the job, looks at it, prints the lines and returns its result.
  async:
    support: none
    description: It runs M(drover.libvirt.move_domains) as a background job itself; do not set C(async) on the task.
options:
  move_domains:
    description:
      - The options of M(drover.libvirt.move_domains) for the job, for example C(moves), C(max_parallel), C(claims).
        Inventory host names among the destinations are resolved as that module resolves them.
      - Its C(progress_file) defaults to a new file in the async directory on the host (C(~/.ansible_async)),
        removed at the end; a file named there is kept.
    type: dict
  interval:
    description:
      - Seconds between two looks at the job, each printing the lines written since the last one.
      - V(0) runs M(drover.libvirt.move_domains) in the foreground and prints nothing.
    type: int
    default: 10
  timeout:
    description:
      - Seconds the job may run before it is stopped, as the C(async) value of a task. Stopping it mid-migration
        leaves the domains where libvirt leaves them, so keep this well above the longest batch.
    type: int
    default: 86400
  reconnect_timeout:
    description:
      - Seconds the host may stay unreachable while the job runs, asked again at every look; then the task ends
        unreachable. The job goes on there either way.
    type: int
    default: 300
  progress_file:
    description:
      - With O(move_domains), the file on the host the job writes its progress lines to, unless O(move_domains) names
        one; it is kept at the end. Without either, a new file in the async directory is used and removed.
      - Without O(move_domains), the file to read.
    type: path
  offset:
    description: Without O(move_domains), how many bytes of O(progress_file) were read already.
    type: int
    default: 0
  remove:
    description: Without O(move_domains), remove O(progress_file) once it is read to its end.
    type: bool
    default: false
notes:
  - C(module_defaults) for M(drover.libvirt.move_domains) or its action group do not reach the job; give its
    options in O(move_domains).
  - A controller that stops watching (killed, or interrupted) leaves the job running on the host. It finishes the
    moves that are running and releases their capacity claims, but starts no other move once nobody has looked at
    it for O(reconnect_timeout) plus twice O(interval) plus 60 seconds (longer than this task waits for an unreachable host);
    those domains stay where they are, reported V(failed) as not started. The job's result is in the async
    directory under the job id printed at the start (C(ansible HOST -m ansible.builtin.async_status -a jid=JOB_ID)).
  - Each look also touches C(PROGRESS_FILE.watched) next to the progress file; that is how the job knows it is
    watched.
seealso:
  - module: drover.libvirt.move_domains
"""

EXAMPLES = r"""
- name: Move the domains, printing their progress every 10 seconds
  drover.libvirt.move_progress:
    interval: 10
    move_domains:
      moves:
        - {domain: vm1, destination: hv2, alternates: [hv3]}
        - {domain: vm2, destination: hv3}
      max_parallel: 2
  register: moved   # as move_domains registers it: moved.results has one entry per move

- name: Read what a move_domains job started with async has written so far
  drover.libvirt.move_progress:
    progress_file: /var/tmp/drain.progress
    offset: "{{ seen.offset | default(0) }}"
  register: seen
"""

RETURN = r"""
results:
  description: With O(move_domains), one entry per move, as M(drover.libvirt.move_domains) returns them.
  returned: with move_domains
  type: list
  elements: dict
source:
  description: With O(move_domains), the hypervisor's name, as M(drover.libvirt.move_domains) returns it.
  returned: with move_domains
  type: str
wall_ms:
  description: With O(move_domains), the batch's wall time, as M(drover.libvirt.move_domains) returns it.
  returned: with move_domains
  type: int
peak:
  description: With O(move_domains), the most moves at once, as M(drover.libvirt.move_domains) returns it.
  returned: with move_domains
  type: dict
lines:
  description:
    - Without O(move_domains), the complete lines after O(offset), each a dict with C(time), C(domain),
      C(event) (V(start), V(progress), V(retry), V(wait_for_capacity), or how the move ended, as
      RV(drover.libvirt.move_domains#module:results[].status)), C(destination) and C(error).
    - Progress lines add C(phase) (V(precopy), V(postcopy) or V(paused)), C(percent), C(rate_mib_s),
      C(remaining_mib), C(dirty_mib_s), C(iteration), C(elapsed_s) and C(eta_s); end lines add C(location),
      C(wall_ms) and C(downtime_ms).
  returned: without move_domains
  type: list
  elements: dict
  sample: [{domain: vm1, event: progress, destination: hv2, phase: precopy, percent: 42.0, rate_mib_s: 96.3,
            remaining_mib: 310.0, eta_s: 4}]
text:
  description: Without O(move_domains), RV(lines) as the action prints them.
  returned: without move_domains
  type: list
  elements: str
offset:
  description: Without O(move_domains), the offset to read from next time.
  returned: without move_domains
  type: int
at_end:
  description: Without O(move_domains), whether this read reached the end of the file.
  returned: without move_domains
  type: bool
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.drover.libvirt.plugins.module_utils._progress import (
    MOVE_PROGRESS_ARGSPEC, line_text, mark_watched, read_lines, watch_path)


def main():
    module = AnsibleModule(argument_spec=MOVE_PROGRESS_ARGSPEC, required_one_of=[("move_domains", "progress_file")],
                           supports_check_mode=True)
    p = module.params
    if p["move_domains"] is not None:
        module.fail_json(msg="move_domains is run by the action plugin of drover.libvirt.move_progress on the "
                             "controller, not by this module")
    if p["offset"] < 0:
        module.fail_json(msg="offset must be 0 or more, got %d" % p["offset"])
    path = p["progress_file"]
    if not module.check_mode and not p["remove"]:
        # A job started with stop_when_unwatched goes on starting moves only while someone looks,
        # whether or not this look can read the file.
        try:
            mark_watched(path)
        except OSError:
            pass  # no directory yet, or not ours to write: the read below says what is wrong
    try:
        lines, offset, at_end = read_lines(path, p["offset"])
    except OSError as exc:
        module.fail_json(msg="cannot read %s: %s" % (path, exc))
    removed = bool(p["remove"] and at_end and os.path.lexists(path))
    if p["remove"] and at_end and not module.check_mode:
        for name in (path, watch_path(path)):
            if os.path.lexists(name):
                os.unlink(name)
    module.exit_json(changed=removed, lines=lines, text=[line_text(line) for line in lines], offset=offset,
                     at_end=at_end)


if __name__ == "__main__":
    main()
