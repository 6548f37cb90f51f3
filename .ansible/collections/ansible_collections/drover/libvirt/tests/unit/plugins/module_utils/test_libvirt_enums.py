"""libvirt's enum values as written out, compared with libvirt-python where it is installed."""

from __future__ import annotations

import pytest

from ansible_collections.drover.libvirt.plugins.module_utils import _libvirt_enums as enums

# Our name -> libvirt-python's name.
SAME_AS = {
    "DOMAIN_NOSTATE": "VIR_DOMAIN_NOSTATE", "DOMAIN_RUNNING": "VIR_DOMAIN_RUNNING",
    "DOMAIN_BLOCKED": "VIR_DOMAIN_BLOCKED", "DOMAIN_PAUSED": "VIR_DOMAIN_PAUSED",
    "DOMAIN_SHUTDOWN": "VIR_DOMAIN_SHUTDOWN", "DOMAIN_SHUTOFF": "VIR_DOMAIN_SHUTOFF",
    "DOMAIN_CRASHED": "VIR_DOMAIN_CRASHED", "DOMAIN_PMSUSPENDED": "VIR_DOMAIN_PMSUSPENDED",
    "RUNNING_POSTCOPY": "VIR_DOMAIN_RUNNING_POSTCOPY", "RUNNING_POSTCOPY_FAILED": "VIR_DOMAIN_RUNNING_POSTCOPY_FAILED",
    "PAUSED_USER": "VIR_DOMAIN_PAUSED_USER", "PAUSED_POSTCOPY": "VIR_DOMAIN_PAUSED_POSTCOPY",
    "PAUSED_POSTCOPY_FAILED": "VIR_DOMAIN_PAUSED_POSTCOPY_FAILED",
    "EVENT_SUSPENDED": "VIR_DOMAIN_EVENT_SUSPENDED", "EVENT_SUSPENDED_POSTCOPY": "VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY",
    "JOB_NONE": "VIR_DOMAIN_JOB_NONE", "JOB_BOUNDED": "VIR_DOMAIN_JOB_BOUNDED",
    "JOB_UNBOUNDED": "VIR_DOMAIN_JOB_UNBOUNDED", "JOB_COMPLETED": "VIR_DOMAIN_JOB_COMPLETED",
    "JOB_FAILED": "VIR_DOMAIN_JOB_FAILED", "JOB_CANCELLED": "VIR_DOMAIN_JOB_CANCELLED",
    "JOB_OPERATION_MIGRATION_IN": "VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN",
    "JOB_OPERATION_MIGRATION_OUT": "VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT",
    "DIRTYRATE_MEASURED": "VIR_DOMAIN_DIRTYRATE_MEASURED",
}


def test_values_are_libvirts():
    libvirt = pytest.importorskip("libvirt")
    for ours, theirs in SAME_AS.items():
        if hasattr(libvirt, theirs):  # an older libvirt-python lacks the newest reasons
            assert getattr(enums, ours) == getattr(libvirt, theirs), ours
    for value, name in enums.CPU_COMPARE_NAMES.items():
        assert getattr(libvirt, "VIR_CPU_COMPARE_" + name.upper()) == value


def test_names_cover_every_state_and_job_type():
    assert enums.STATE_NAMES[enums.DOMAIN_PAUSED] == "paused" and len(enums.STATE_NAMES) == 8
    assert enums.JOB_TYPE_NAMES[enums.JOB_UNBOUNDED] == "unbounded" and len(enums.JOB_TYPE_NAMES) == 6


@pytest.mark.parametrize("number, text", [(11003000, "11.3.0"), (9000000, "9.0.0"), (7002001, "7.2.1")])
def test_packed_versions_read_as_text(number, text):
    assert enums.version_text(number) == text


def test_version_tuples_compare_and_nonsense_is_lowest():
    assert enums.version_tuple("9.10.0") > enums.version_tuple("9.9.1")
    assert enums.version_tuple("unknown") == (0,) and enums.version_tuple(None) == (0,)
