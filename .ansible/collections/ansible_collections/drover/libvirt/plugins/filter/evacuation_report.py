# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn evacuation results into reports and check where VMs live.

Each filter is documented in its own file beside this one (junit_report.yml, report_table.yml,
report_summary.yml, placement_check.yml), as ansible-core expects for a file with several filters.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._placement_check import placement_check as _placement_check
from ansible_collections.drover.libvirt.plugins.module_utils._report import junit_xml, summary, summary_table


def junit_report(results, suite_name=None, timestamp=None):
    """Per-VM results as a JUnit XML document."""
    try:
        return junit_xml(results, suite_name=suite_name, timestamp=timestamp)
    except DroverError as exc:
        raise AnsibleFilterError(exc.msg) from exc


def report_table(results):
    """Per-VM results as lines of a fixed-width table."""
    try:
        return summary_table(results)
    except DroverError as exc:
        raise AnsibleFilterError(exc.msg) from exc


def report_summary(results):
    """Counts and totals of per-VM results."""
    try:
        return summary(results)
    except DroverError as exc:
        raise AnsibleFilterError(exc.msg) from exc


def placement_check(fleet, names=None, shutoff=None, unreachable=None):
    """Where each VM runs and is defined across the fleet, and whether that is right."""
    try:
        return _placement_check(fleet, names=names, shutoff=shutoff, unreachable=unreachable)
    except DroverError as exc:
        raise AnsibleFilterError(exc.msg) from exc


class FilterModule:
    """drover.libvirt evacuation report filters."""

    def filters(self):
        return {
            "junit_report": junit_report,
            "report_table": report_table,
            "report_summary": report_summary,
            "placement_check": placement_check,
        }
