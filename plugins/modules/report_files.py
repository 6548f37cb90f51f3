#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: report_files
short_description: Write report files on the controller
version_added: 0.1.0
description:
  - Makes the directory O(dir) on the controller when it is missing (mode C(0755)) and writes each file of
    O(files) in it (mode C(0644)), each replaced whole - written beside its name, then renamed over it - so a
    reader sees the previous report or the new one, never part of one. A symbolic link at a file's name is
    replaced, not written through.
  - It runs on the controller as an action, whatever host the task is for, and runs no module, so the roles'
    reports (evacuation, preflight, rolling, restore) cost no round trip.
  - Fails, changing nothing, when O(dir) cannot be made or written to, naming the reason.
  - Reports are not changes to the fleet - the task always returns C(changed=false) - and are written in check
    mode too; skip the task in check mode where that is not wanted.
author:
  - drover.libvirt maintainers (!UNKNOWN)
options:
  dir:
    description: The directory on the controller.
    type: path
    required: true
  files:
    description:
      - File name (a plain name, no C(/)) to its text content. Empty only makes sure O(dir) is a writable directory.
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    description: Writes the files in check mode too; they are reports, not changes to any host.
  diff_mode:
    support: none
    description: Nothing on a managed host changes.
  action:
    support: full
    description: The action plugin does all the work on the controller.
notes:
  - Running this module by itself (not as the action) fails; it holds the documentation.
  - The roles P(drover.libvirt.evacuate#role), P(drover.libvirt.preflight#role), P(drover.libvirt.rolling#role)
    and P(drover.libvirt.restore#role) write their reports with it.
"""

EXAMPLES = r"""
- name: Write a run's report as JSON and HTML
  drover.libvirt.report_files:
    dir: "{{ playbook_dir }}/reports"
    files:
      evacuation.json: "{{ report | to_nice_json }}"
      evacuation.html: "{{ report | drover.libvirt.report_html }}"
  run_once: true

- name: Refuse early when the report directory cannot be written
  drover.libvirt.report_files:
    dir: /srv/reports/drover
  run_once: true
"""

RETURN = r"""
dir:
  description: The directory written to.
  returned: success
  type: str
  sample: /srv/playbooks/reports
written:
  description: The paths of the files written, in the order given.
  returned: success
  type: list
  elements: str
  sample: [/srv/playbooks/reports/evacuation.json]
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec=dict(dir=dict(type="path", required=True), files=dict(type="dict", default={})),
                           supports_check_mode=True)
    module.fail_json(msg="drover.libvirt.report_files runs as an action on the controller; this module only holds "
                         "its documentation")


if __name__ == "__main__":
    main()
