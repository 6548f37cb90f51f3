import pytest

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._job_control import (
    apply_job_change, job_phase, job_report, plan_job_change)


@pytest.mark.parametrize("state,reason,job,phase", [
    (1, 1, 0, "none"),
    (1, 1, 2, "precopy"),
    (3, 1, 2, "precopy"),   # paused by the user while migrating
    (3, 12, 2, "postcopy"),
    (1, 10, 2, "postcopy"),  # the destination side
    (3, 13, 0, "postcopy_failed"),
    (1, 11, 0, "postcopy_failed"),
])
def test_phase(state, reason, job, phase):
    assert job_phase(state, reason, job) == phase


def test_report_computes_progress_and_dirty_bytes():
    report = job_report({"operation": 5, "data_total": 200, "data_remaining": 50, "memory_dirty_rate": 10,
                         "memory_page_size": 4096, "downtime": 120, "memory_iteration": 3}, "precopy")
    assert report["progress_percent"] == 75.0 and report["operation"] == "migration_out"
    assert report["dirty_rate_bps"] == 40960 and report["expected_downtime_ms"] == 120
    assert job_report({}, "none")["progress_percent"] == 0.0


def test_abort_only_a_precopy():
    assert plan_job_change("vm1", "precopy", "aborted", None) == "abort"
    assert plan_job_change("vm1", "none", "aborted", None) is None
    for phase in ("postcopy", "postcopy_failed"):
        with pytest.raises(DroverError, match="would lose the guest"):
            plan_job_change("vm1", phase, "aborted", None)


def test_force_completion():
    assert plan_job_change("vm1", "precopy", "completed", "postcopy") == "postcopy"
    assert plan_job_change("vm1", "precopy", "completed", "pause") == "pause"
    assert plan_job_change("vm1", "postcopy", "completed", "postcopy") is None
    assert plan_job_change("vm1", "none", "completed", "pause") is None
    with pytest.raises(DroverError, match="needs recovery"):
        plan_job_change("vm1", "postcopy_failed", "completed", "postcopy")


def test_a_forced_switch_to_postcopy_drains_first_and_restores_the_speed_when_it_fails():
    calls = []

    class Drain:
        def __call__(self):
            calls.append("drain")

        def restore(self):
            calls.append("restore")

    class Dom:
        refuse = False

        def migrateStartPostCopy(self, _flags):
            calls.append("switch")
            if self.refuse:
                raise RuntimeError("not in pre-copy")

    apply_job_change(Dom(), "postcopy", Drain())
    assert calls == ["drain", "switch"]
    calls.clear()
    dom = Dom()
    dom.refuse = True
    with pytest.raises(RuntimeError):
        apply_job_change(dom, "postcopy", Drain())
    assert calls == ["drain", "switch", "restore"]
