# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: report_html
short_description: An evacuation report as one self-contained HTML page
version_added: 0.1.0
description:
  - Turns the report the P(drover.libvirt.evacuate#role) role writes to C(evacuation.json) into an HTML page a
    person reads in any browser, offline - the run (id, owner, status, start and end, the hosts drained, the hosts
    that could not be read, why it stopped), the counts, a timeline of the moves and the per-domain table.
  - The timeline has one bar per move (a result with C(started_at) and C(finished_at); a domain left where it
    was has none), from its first try's start to its last try's end, grouped by source and destination (the last
    destination tried, for a move that failed), on an axis in seconds from the first start. Failed moves are red,
    tries that failed before a retry are marked on the bar, and the pause (C(downtime_ms), drawn at least 3 pixels
    wide) is marked black at the end of the bar, where pre-copy pauses the guest.
  - Self-contained - style, SVG and a small script are inline, nothing is fetched; the chart needs no script (the
    script only sorts the table and shows only the domains with a problem).
  - Every value from the report is escaped, so domain names and error texts with C(<), C(&), quotes or any
    unicode show as text.
author:
  - drover.libvirt maintainers (!UNKNOWN)
positional: _input
options:
  _input:
    description:
      - The evacuation report, as written to C(evacuation.json) - C(run_id), C(owner), C(status), C(stopped),
        C(started_at), C(finished_at), C(hosts), C(unreachable), C(ok), C(plan) and C(results) (the per-domain
        results, as for P(drover.libvirt.junit_report#filter), plus C(tries)). Missing keys show as C(-).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Write the HTML report next to the JSON one
  ansible.builtin.copy:
    content: "{{ lookup('ansible.builtin.file', 'reports/evacuation.json') | from_json | drover.libvirt.report_html }}"
    dest: reports/evacuation.html
    mode: "0644"
  delegate_to: localhost
"""

RETURN = r"""
_value:
  description: The page, an HTML5 document (UTF-8).
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._report_html import report_html as _report_html


def report_html(report):
    try:
        return _report_html(report)
    except DroverError as exc:
        raise AnsibleFilterError("report_html: %s" % exc.msg) from exc


class FilterModule:
    def filters(self):
        return {"report_html": report_html}
