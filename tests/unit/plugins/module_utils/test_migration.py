import threading
import time

import pytest

from ansible_collections.drover.libvirt.plugins.module_utils import _migration_rules as m
from ansible_collections.drover.libvirt.plugins.module_utils._convergence import ConvergencePolicy, resolve_knobs
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._job_monitor import JobMonitor


def here(state="running", persistent=True, uuid="u1", migratable=None):
    active = state in ("running", "paused", "blocked")
    return {"exists": True, "active": active, "persistent": persistent, "state": state,
            "migratable": active if migratable is None else migratable, "uuid": uuid}


ABSENT = dict(m.ABSENT)


def test_running_on_source_only_is_migrated():
    assert m.decide("vm1", here(), ABSENT, True, True) == {"action": "migrate", "cleanup": []}


def test_already_on_destination_is_a_no_op():
    assert m.decide("vm1", ABSENT, here(), True, True) == {"action": "none", "cleanup": []}


def test_leftover_source_definition_is_cleaned_only_when_asked():
    left = here("shutoff")
    assert m.decide("vm1", left, here(), True, True)["cleanup"] == ["undefine_source"]
    assert m.decide("vm1", left, here(), True, False)["cleanup"] == []


def test_transient_destination_is_made_persistent_when_asked():
    assert m.decide("vm1", ABSENT, here(persistent=False), True, True)["cleanup"] == ["define_destination"]
    assert m.decide("vm1", ABSENT, here(persistent=False), False, True)["cleanup"] == []


@pytest.mark.parametrize("src,dst,fragment", [
    (here(), here(), "active on both"),
    (here(), here("shutoff"), "already defined on the destination"),
    (here("paused", migratable=False), ABSENT, "only a running or user-paused"),
    (here("shutoff"), ABSENT, "not running on the source"),
    (ABSENT, here("shutoff"), "shut"),
    (ABSENT, ABSENT, "not found"),
    (here("shutoff", uuid="other"), here(uuid="u1"), "different domain"),
])
def test_refusals_name_the_reason(src, dst, fragment):
    with pytest.raises(DroverError) as err:
        m.decide("vm1", src, dst, True, True)
    assert fragment in err.value.msg
    assert "'vm1'" in err.value.msg


def test_where_after_failure():
    assert m.where_after_failure(here(), ABSENT) == "source"
    assert m.where_after_failure(here("shutoff"), here()) == "destination"
    assert m.where_after_failure(here(), here()) == "both"
    assert m.where_after_failure(here("shutoff"), ABSENT) == "none"


def test_flags_and_params():
    assert m.migration_flags(True, True) == ["LIVE", "PEER2PEER", "ABORT_ON_ERROR", "PERSIST_DEST",
                                             "UNDEFINE_SOURCE"]
    assert m.migration_flags(False, False) == ["LIVE", "PEER2PEER", "ABORT_ON_ERROR"]
    assert m.migration_params() == {}
    assert m.migration_params(100, "tcp://10.0.0.2") == {"bandwidth": 100, "migrate_uri": "tcp://10.0.0.2"}


def test_flags_and_params_follow_the_convergence_knobs():
    knobs = resolve_knobs("balanced", {"parallel_connections": 4, "compression": ["xbzrle"],
                                       "postcopy_bandwidth": 200})
    assert m.migration_flags(True, True, knobs, tls=True)[5:] == ["AUTO_CONVERGE", "POSTCOPY", "PARALLEL",
                                                                  "COMPRESSED", "TLS"]
    assert m.migration_params(0, None, knobs) == {
        "auto_converge.initial": 20, "auto_converge.increment": 10, "bandwidth.postcopy": 200,
        "parallel.connections": 4, "compression": ["xbzrle"]}
    plain = resolve_knobs("none")
    assert m.migration_flags(True, True, plain) == m.migration_flags(True, True)
    assert m.migration_params(0, None, plain) == {}


@pytest.mark.parametrize("name", ["", "a/b", "tab\there", "x" * 256])
def test_impossible_domain_names(name):
    with pytest.raises(DroverError):
        m.check_domain_name(name)


def test_a_delete_character_is_refused_like_any_control_character():
    with pytest.raises(DroverError, match="not a valid libvirt domain name"):
        m.check_domain_name("vm\x7f")


def test_hostile_but_possible_names_pass_to_lookup():
    for name in ("vm 1", "vm'1\"", "vm;reboot", "vm\u00e9\u4e2d"):
        m.check_domain_name(name)


def test_completed_metrics_from_job_stats():
    stats = {"type": 3, "time_elapsed": 4832, "downtime": 133, "data_processed": 71493632,
             "memory_processed": 71493632, "memory_iteration": 3, "memory_bps": 295423590,
             "setup_time": 1}
    got = m.completed_metrics(stats, 5100.4)
    assert got["downtime_ms"] == 133 and got["duration_ms"] == 4832
    assert got["data_bytes"] == 71493632 and got["memory_iterations"] == 3 and got["wall_ms"] == 5100


def test_summary_converts_dirty_pages_to_bytes():
    got = m.summarize_stats({"memory_dirty_rate": 1000, "memory_page_size": 4096, "data_remaining": 5})
    assert got == {"dirty_rate_bps": 4096000, "data_remaining_bytes": 5}


class FakeLibvirt:
    class libvirtError(Exception):
        def get_error_message(self):
            return str(self)


class FakeDomain:
    """A migration that runs until it is aborted, like a non-converging pre-copy."""

    def __init__(self, abort_takes=1):
        self.stop = threading.Event()
        self.aborts = 0
        self.abort_takes = abort_takes

    def migrate(self):
        self.stop.wait(10)
        raise FakeLibvirt.libvirtError("operation aborted")

    def jobStats(self):
        return {"data_remaining": 1000, "time_elapsed": 1}

    def state(self):
        return (1, 1)  # running, booted: pre-copy

    def migrateSetMaxDowntime(self, value, flags):
        self.downtime = (value, flags)

    def abortJob(self):
        self.aborts += 1
        if self.aborts >= self.abort_takes:
            self.stop.set()


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 1.0  # one second per look at the clock
        return self.now


def test_monitor_aborts_at_timeout_and_waits_for_the_call():
    dom = FakeDomain()
    mon = JobMonitor(dom, FakeLibvirt, ConvergencePolicy(resolve_knobs("none"), 1 << 30, timeout=3), poll_interval=0.01, clock=FakeClock())
    error, wall_ms = mon.run(dom.migrate)
    assert isinstance(error, FakeLibvirt.libvirtError)
    assert mon.aborted and dom.aborts == 1
    assert wall_ms >= 3000  # the fake clock advanced past the timeout
    assert mon.decisions[0]["action"] == "abort" and mon.decisions[0]["remaining_bytes"] == 1000


def test_monitor_aborts_again_while_the_job_ignores_it():
    dom = FakeDomain(abort_takes=2)
    mon = JobMonitor(dom, FakeLibvirt, ConvergencePolicy(resolve_knobs("none"), 1 << 30, timeout=2), poll_interval=0.01, clock=FakeClock())
    mon.run(dom.migrate)
    assert dom.aborts == 2
    assert [d["action"] for d in mon.decisions] == ["abort", "abort"]


def test_a_sample_libvirt_never_answers_does_not_hold_the_monitor_past_the_call():
    # QEMU blocked on a vanished peer holds its monitor: jobStats never returns, the migration call does.
    class Blocked(FakeDomain):
        def __init__(self):
            super().__init__()
            self.released = threading.Event()

        def migrate(self):
            time.sleep(0.3)
            raise FakeLibvirt.libvirtError("post-copy failed: connection lost")

        def jobStats(self):
            self.released.wait(30)
            return {}

    dom = Blocked()
    mon = JobMonitor(dom, FakeLibvirt, ConvergencePolicy(resolve_knobs("postcopy"), 1 << 30), poll_interval=0.01)
    mon.SAMPLE_WAIT_S = 0.1
    started = time.monotonic()
    error, _wall_ms = mon.run(dom.migrate)
    assert time.monotonic() - started < 5 and str(error) == "post-copy failed: connection lost"
    unanswered = [d for d in mon.decisions if d["action"] == "unanswered_sample"]
    assert len(unanswered) == 1, mon.decisions  # one call waits; no second one queues behind it
    assert "did not answer for the job's statistics within 0.1 s" in unanswered[0]["reason"]
    dom.released.set()


def _postcopy_half(state="running", failed=True):
    return dict(here(state), postcopy=True, postcopy_failed=failed)


@pytest.mark.parametrize("src", [dict(here("shutoff"), reason="crashed"), ABSENT])
def test_a_destination_half_whose_source_is_gone_is_lost_not_landed(src):
    """Not a landed move: the source's definition must not be removed, nor the move reported done."""
    assert m.lost_in_postcopy(src, _postcopy_half())
    assert m.where_after_failure(src, _postcopy_half()) == "lost"
    with pytest.raises(DroverError) as err:
        m.decide("vm1", src, _postcopy_half(), True, True)
    assert "LOST IN POST-COPY" in str(err.value)
    assert ("source: shut off (crashed)" if src["exists"] else "source: absent") in str(err.value)
    assert "Restart it from its disks on the destination" in str(err.value)


def test_a_destination_slow_to_note_a_finished_move_is_not_lost():
    """The source shut off as "migrated", or gone (a finished move undefines it) while the destination still says
    "post-copy" without having noticed a failure: the move finished; nothing says the guest is lost."""
    assert not m.lost_in_postcopy(dict(here("shutoff"), reason="migrated"), _postcopy_half())
    assert not m.lost_in_postcopy(ABSENT, _postcopy_half(failed=False))
    assert m.where_after_failure(ABSENT, _postcopy_half(failed=False)) == "destination"
    assert m.lost_in_postcopy(dict(here("shutoff"), reason="crashed"), _postcopy_half(failed=False))


def test_the_two_halves_of_a_failed_postcopy_are_split_not_lost():
    assert not m.lost_in_postcopy(dict(here("paused"), postcopy=True), _postcopy_half())
    assert m.where_after_failure(dict(here("paused"), postcopy=True), _postcopy_half()) == "both"
    assert m.where_after_failure(ABSENT, here()) == "destination"


def test_the_switch_to_postcopy_drains_first_and_says_so_and_a_failed_switch_restores_the_speed():
    calls = []

    class Switching(FakeDomain):
        fail = False

        def migrateStartPostCopy(self, _flags):
            calls.append("switch")
            if self.fail:
                raise FakeLibvirt.libvirtError("not now")
            self.stop.set()

    class Drain:
        def __call__(self):
            calls.append("drain")
            return {"queued_before": 4 << 20, "queued_after": 0, "waited_ms": 600}

        def restore(self):
            calls.append("restore")

    dom = Switching()
    mon = JobMonitor(dom, FakeLibvirt, ConvergencePolicy(resolve_knobs("postcopy"), 1 << 30), poll_interval=0.01,
                     clock=FakeClock(), before_postcopy=Drain())
    mon.run(dom.migrate)
    switched = [d for d in mon.decisions if d["action"] == "postcopy"][0]
    assert calls == ["drain", "switch"] and switched["ok"]
    assert switched["drained"] == {"queued_before": 4 << 20, "queued_after": 0, "waited_ms": 600}

    calls.clear()
    dom = Switching()
    dom.fail = True
    mon = JobMonitor(dom, FakeLibvirt, ConvergencePolicy(resolve_knobs("postcopy"), 1 << 30, timeout=3),
                     poll_interval=0.01, clock=FakeClock(), before_postcopy=Drain())
    mon.run(dom.migrate)
    assert calls[:3] == ["drain", "switch", "restore"]


def test_a_half_of_an_unfinished_postcopy_is_not_migrated_on():
    with pytest.raises(DroverError, match="still one half of a post-copy migration that has not finished"):
        m.decide("vm1", dict(_postcopy_half(), migratable=False), ABSENT, True, True)
