#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: host_maintenance
short_description: Mark a hypervisor as draining or in maintenance, or clear the mark
version_added: 0.1.0
description:
  - Sets or clears the maintenance mark of the hypervisor the task runs on. Placement (the
    P(drover.libvirt.evacuation_plan#filter) filter) and M(drover.libvirt.preflight_info) never choose a
    marked host as a destination; M(drover.libvirt.hypervisor_info) reports the mark.
  - The mark is a small JSON file in the host's libvirt state directory
    (C(/var/lib/libvirt/drover/maintenance.json)), so the module must run on the hypervisor itself.
  - The file is written atomically with mode 0640 in a directory of mode 0700; a symbolic link at its path,
    or a directory others can write to, is refused with a message naming it, never followed.
author:
  - drover.libvirt maintainers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Reports whether the mark would change, and how.
  diff_mode:
    support: full
    description: Shows the mark before and after.
options:
  state:
    description: V(present) sets the mark, V(absent) clears it.
    type: str
    choices: [present, absent]
    default: present
  mark:
    description:
      - V(draining) while domains are moved away, V(maintenance) once the host is empty.
      - V(draining) leaves a host that is already in V(maintenance) as it is.
    type: str
    choices: [draining, maintenance]
    default: draining
  reason:
    description: Why the host is marked; shown to whoever finds the mark. At most 1024 characters, no control characters.
    type: str
    default: ""
  by:
    description: Who or what set the mark (a run id, a ticket). At most 1024 characters, no control characters.
    type: str
    default: ""
  finished:
    description:
      - With O(state=absent), record the maintenance that ends here as finished - the mark as it was, with the time
        it ended - in C(/var/lib/libvirt/drover/last-maintenance.json), reported by
        M(drover.libvirt.hypervisor_info) as C(last_maintenance). A rolling run that resumes skips the hosts its
        campaign (the mark's O(by)) finished.
      - Only a mark in V(maintenance) (the host was emptied) is recorded; clearing a V(draining) mark records nothing.
    type: bool
    default: false
seealso:
  - module: drover.libvirt.hypervisor_info
"""

EXAMPLES = r"""
- name: Keep new domains away from this host while it drains
  drover.libvirt.host_maintenance:
    mark: draining
    reason: kernel update

- name: Back in service
  drover.libvirt.host_maintenance:
    state: absent
"""

RETURN = r"""
mark:
  description: The mark after the task (in check mode, the predicted mark), or null.
  returned: always
  type: dict
  sample: {state: draining, reason: kernel update, by: "", since: "2026-11-26T10:00:00+00:00"}
previous:
  description: The mark before the task, or null.
  returned: always
  type: dict
last:
  description: The finished maintenance recorded by this task (O(finished)), or null.
  returned: always
  type: dict
  sample: {state: maintenance, reason: kernel update, by: rolling-20261130, since: "2026-11-30T10:00:00+00:00", ended: "2026-11-30T10:20:00+00:00"}
"""

import datetime
import json

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.drover.libvirt.plugins.module_utils._argspec import MAINTENANCE_MARK
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._maintenance import (
    LAST_PATH, check_mark_text, clear_mark, next_mark, read_mark, write_mark)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            mark=MAINTENANCE_MARK,
            reason=dict(type="str", default=""),
            by=dict(type="str", default=""),
            finished=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        check_mark_text(p["reason"], p["by"])
    except DroverError as exc:
        module.fail_json(msg=exc.msg)
    try:
        before = read_mark()
    except DroverError as exc:
        if p["state"] == "present":
            module.fail_json(msg=exc.msg)
        before = {"state": "unreadable"}
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    after = next_mark(before, p["state"], p["mark"], p["reason"], p["by"], now)
    changed = after != before
    last = None
    if p["state"] == "absent" and p["finished"] and (before or {}).get("state") == "maintenance":
        last = dict(before, ended=now)
        changed = True
    if changed and not module.check_mode:
        try:
            if last is not None:
                write_mark(last, LAST_PATH)
            if after is None:
                clear_mark()
            else:
                write_mark(after)
        except DroverError as exc:
            module.fail_json(msg=exc.msg)
        except OSError as exc:
            module.fail_json(msg="cannot write the maintenance mark: %s" % exc)
    module.exit_json(changed=changed, mark=after, previous=before, last=last,
                     diff={"before": json.dumps(before, sort_keys=True, indent=1) + "\n",
                           "after": json.dumps(after, sort_keys=True, indent=1) + "\n"})


if __name__ == "__main__":
    main()
