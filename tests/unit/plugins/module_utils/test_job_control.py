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


class _Err(Exception):
    def __init__(self, code):
        super().__init__("libvirt error %d" % code)
        self.code = code

    def get_error_code(self):
        return self.code

    def get_error_message(self):
        return str(self)


class _Lv:
    libvirtError = _Err
    VIR_ERR_NO_DOMAIN = 42
    VIR_MIGRATE_LIVE = VIR_MIGRATE_PEER2PEER = VIR_MIGRATE_POSTCOPY = VIR_MIGRATE_POSTCOPY_RESUME = 1
    VIR_MIGRATE_PERSIST_DEST = VIR_MIGRATE_UNDEFINE_SOURCE = 1


class _Dom:
    def __init__(self, state, gone_after_reads=None):
        self._state, self.reads, self.gone_after = state, 0, gone_after_reads

    def state(self):
        self.reads += 1
        if self.gone_after is not None and self.reads > self.gone_after:
            raise _Err(38)  # the daemon stopped answering
        return list(self._state)

    def isActive(self):
        return self._state[0] in (1, 3)

    def isPersistent(self):
        return True

    def UUIDString(self):
        return "u1"


class _Conn:
    def __init__(self, dom):
        self.dom = dom

    def lookupByName(self, _name):
        return self.dom

    def getLibVersion(self):
        return 11003000


class _Qemu:
    def __init__(self, status):
        self.status = status

    def qemuMonitorCommand(self, _dom, _command, _flags):
        return '{"return": {"status": "%s"}}' % self.status


class _Module:
    check_mode = False

    def __init__(self, dconn, qemu):
        self.params = {"name": "c1", "dest": "hv2", "transport": "ssh", "wait": 300, "migration_port": 49152}
        self.libvirt, self.libvirt_qemu, self._dconn = _Lv, qemu, dconn

    def connect(self, _uri, _role):
        return self._dconn


def test_recovered_says_stuck_when_the_destination_never_got_the_device_state(monkeypatch):
    from ansible_collections.drover.libvirt.plugins.module_utils import _job_control
    monkeypatch.setattr(_job_control, "destination_uri", lambda dest, *_a, **_k: "qemu+ssh://%s/system" % dest)
    monkeypatch.setattr("time.sleep", lambda _s: None)
    source = _Dom((3, 13))
    module = _Module(_Conn(_Dom((3, 2))), _Qemu("postcopy-paused"))
    with pytest.raises(DroverError) as err:
        _job_control.recover(module, _Conn(source), source, {"phase": "postcopy_failed"})
    assert "STUCK IN THE SWITCH-OVER TO POST-COPY" in err.value.msg
    assert "stuck in the switch-over" in err.value.details["steps"][-1]


def test_recovered_says_lost_when_the_source_died_even_if_it_cannot_be_read_again(monkeypatch):
    from ansible_collections.drover.libvirt.plugins.module_utils import _job_control, _postcopy
    monkeypatch.setattr(_job_control, "destination_uri", lambda dest, *_a, **_k: "qemu+ssh://%s/system" % dest)
    monkeypatch.setattr(_postcopy, "SOURCE_GONE_SETTLE", 0)
    monkeypatch.setattr("time.sleep", lambda _s: None)
    # Shut off (crashed) while the recovery looks, then its daemon stops answering.
    source = _Dom((5, 3), gone_after_reads=1)
    module = _Module(_Conn(_Dom((1, 11))), _Qemu("failed"))
    with pytest.raises(DroverError) as err:
        _job_control.recover(module, _Conn(source), source, {"phase": "postcopy_failed"})
    assert "LOST IN POST-COPY" in err.value.msg and "source: shut off" in err.value.msg
