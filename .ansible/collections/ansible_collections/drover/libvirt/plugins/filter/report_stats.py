# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that put results in the compact forms the roles and playbooks publish with set_stats.

Each filter is documented in its own file beside this one (vm_stats.yml, migration_stats.yml,
preflight_stats.yml), as ansible-core expects for a file with several filters.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.drover.libvirt.plugins.module_utils import _report as report
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError


def _call(name, function, *args):
    try:
        return function(*args)
    except DroverError as exc:
        raise AnsibleFilterError("%s: %s" % (name, exc.msg)) from exc


def vm_stats(results):
    """Per-VM evacuation results, compact: domain, source, destination, status, verified, downtime_ms, seconds, reason."""
    return _call("vm_stats", report.vm_stats, results)


def migration_stats(result, domain=None, source=None, destination=None):
    """One migrate result in the same compact form."""
    return _call("migration_stats", report.migration_stats, result, domain, source, destination)


def preflight_stats(results, decision, unreachable=None):
    """Preflight verdicts per domain and destination, compact."""
    return _call("preflight_stats", report.preflight_stats, results, decision, unreachable)


class FilterModule:
    """drover.libvirt filters for set_stats."""

    def filters(self):
        return {"vm_stats": vm_stats, "migration_stats": migration_stats, "preflight_stats": preflight_stats}
