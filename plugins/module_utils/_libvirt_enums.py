# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt's enum values the collection reads, and its packed version numbers.

Pure: the values are libvirt's stable ABI (include/libvirt/libvirt-domain.h, libvirt-host.h),
written out so that code which only interprets what libvirt returned needs no libvirt import.
The unit tests compare them with libvirt-python where it is installed.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

# virDomainState
STATE_NAMES = dict(enumerate(
    ("nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed", "pmsuspended")))
(DOMAIN_NOSTATE, DOMAIN_RUNNING, DOMAIN_BLOCKED, DOMAIN_PAUSED, DOMAIN_SHUTDOWN, DOMAIN_SHUTOFF, DOMAIN_CRASHED,
 DOMAIN_PMSUSPENDED) = sorted(STATE_NAMES)

# virDomainRunningReason
RUNNING_POSTCOPY = 10
RUNNING_POSTCOPY_FAILED = 11

# virDomainPausedReason
PAUSED_USER = 1
PAUSED_MIGRATION = 2
PAUSED_POSTCOPY = 12
PAUSED_POSTCOPY_FAILED = 13

# The (state, reason) pairs of either half of a post-copy migration that has not finished, and of those the
# ones where the half has noticed that its stream failed.
POSTCOPY_STATES = frozenset({(DOMAIN_RUNNING, RUNNING_POSTCOPY), (DOMAIN_RUNNING, RUNNING_POSTCOPY_FAILED),
                             (DOMAIN_PAUSED, PAUSED_POSTCOPY), (DOMAIN_PAUSED, PAUSED_POSTCOPY_FAILED)})
POSTCOPY_FAILED_STATES = frozenset({(DOMAIN_RUNNING, RUNNING_POSTCOPY_FAILED), (DOMAIN_PAUSED, PAUSED_POSTCOPY_FAILED)})

# virDomainShutoffReason
SHUTOFF_MIGRATED = 4
SHUTOFF_REASON_NAMES = dict(enumerate(
    ("unknown", "shut down", "destroyed", "crashed", "migrated", "saved", "failed to start", "from snapshot",
     "daemon")))

# virDomainEventType and virDomainEventSuspendedDetailType (lifecycle events)
EVENT_SUSPENDED = 3
EVENT_SUSPENDED_POSTCOPY = 7

# virDomainJobType
JOB_TYPE_NAMES = dict(enumerate(("none", "bounded", "unbounded", "completed", "failed", "cancelled")))
JOB_NONE, JOB_BOUNDED, JOB_UNBOUNDED, JOB_COMPLETED, JOB_FAILED, JOB_CANCELLED = sorted(JOB_TYPE_NAMES)

# virDomainJobOperation
JOB_OPERATION_NAMES = dict(enumerate((
    "unknown", "start", "save", "restore", "incoming migration", "outgoing migration", "snapshot", "snapshot revert",
    "dump", "backup", "snapshot delete")))
JOB_OPERATION_MIGRATION_IN = 4
JOB_OPERATION_MIGRATION_OUT = 5

# virCPUCompareResult (VIR_CPU_COMPARE_ERROR, -1, is raised as an error by libvirt-python)
CPU_COMPARE_NAMES = {0: "incompatible", 1: "identical", 2: "superset"}

# virDomainDirtyRateStatus
DIRTYRATE_MEASURED = 2


def version_text(number):
    """libvirt's packed version (major * 1,000,000 + minor * 1,000 + release) as text."""
    return "%d.%d.%d" % (number // 1000000, number // 1000 % 1000, number % 1000)


def version_tuple(text):
    """'9.0.0' -> (9, 0, 0), to compare versions; (0,) when the text is not a version."""
    try:
        return tuple(int(p) for p in str(text).split("."))
    except ValueError:
        return (0,)
