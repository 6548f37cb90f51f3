"""The convergence policy driven by synthetic job-stat sequences and a fake clock."""
import pytest

from ansible_collections.drover.libvirt.plugins.module_utils._convergence import (
    GIB,
    PRESETS,
    ConvergencePolicy,
    completion_timeout,
    downtime_schedule,
    resolve_knobs,
)
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError


def drive(policy, samples, step=0.5, confirm=True):
    """Feed (remaining, iteration) samples every `step` seconds; return [(t, action, value)]."""
    taken = []
    for i, (remaining, iteration) in enumerate(samples):
        t = (i + 1) * step
        sample = {"data_remaining_bytes": remaining, "memory_iterations": iteration}
        for action, value, _reason in policy.decide(t, sample):
            policy.confirm(action, confirm)
            taken.append((t, action, value))
    return taken


def converging(n):
    """Remaining bytes that fall steadily to zero."""
    return [(max(1, GIB - i * (GIB // n)), 1 + i // 10) for i in range(n)]


def stuck(n, level=200 << 20):
    """A guest dirtying as fast as the link: remaining bytes hover around one level."""
    return [(level + (i % 3) * (1 << 20), 1 + i) for i in range(n)]


def test_every_preset_resolves_and_names_known_knobs():
    for name in PRESETS:
        assert resolve_knobs(name)["max_downtime_ms"] > 0


@pytest.mark.parametrize("overrides,fragment", [
    ({"no_such": 1}, "unknown convergence knob"),
    ({"max_downtime_ms": 0}, "positive"),
    ({"initial_downtime_ms": 900, "max_downtime_ms": 500}, "above max_downtime_ms"),
    ({"stall_ratio": 1.5}, "stall_ratio"),
    ({"on_timeout": "none"}, "on_timeout"),
    ({"postcopy": False}, "postcopy is not allowed"),
    ({"parallel_connections": 1000}, "parallel_connections"),
    ({"compression": ["lz4"]}, "compression"),
])
def test_bad_knobs_are_refused_with_the_reason(overrides, fragment):
    with pytest.raises(DroverError) as err:
        resolve_knobs("balanced", overrides)
    assert fragment in err.value.msg


def test_unknown_preset():
    with pytest.raises(DroverError, match="preset 'fast'"):
        resolve_knobs("fast")


def test_timeout_scales_with_size_and_has_a_floor():
    knobs = resolve_knobs("balanced")
    assert completion_timeout(knobs, 4 * GIB) == 600
    assert completion_timeout(knobs, 128 << 20) == 60


def test_downtime_schedule_steps_from_initial_to_max():
    knobs = resolve_knobs("balanced")
    sched = downtime_schedule(knobs, 2 * GIB)
    assert [ms for _t, ms in sched] == [100, 200, 300, 400, 500]
    assert [t for t, _ms in sched] == [0, 40, 80, 120, 160]
    assert downtime_schedule(resolve_knobs("none"), GIB) == []
    assert downtime_schedule(resolve_knobs("postcopy"), GIB) == [(0.0, 300)]


def test_converging_migration_only_steps_the_downtime():
    policy = ConvergencePolicy(resolve_knobs("balanced"), GIB)
    taken = drive(policy, converging(60))
    assert {a for _t, a, _v in taken} == {"set_downtime"}
    assert [v for _t, a, v in taken] == [100, 200]  # 30 s of samples, one step per 20 s


def test_stall_after_the_schedule_switches_balanced_to_postcopy_then_nothing_more():
    knobs = resolve_knobs("balanced", {"min_step_interval": 1, "step_interval_per_gib": 0, "stall_window": 5})
    policy = ConvergencePolicy(knobs, GIB, timeout=1000)
    taken = drive(policy, stuck(200))
    escalations = [(t, a) for t, a, _v in taken if a != "set_downtime"]
    assert escalations[0][1] == "postcopy"
    assert escalations[0][0] >= 5  # not before the downtime steps were spent
    assert len(escalations) == 1  # once in post-copy, never abort or pause
    assert policy.phase == "postcopy"


def test_stall_waits_for_the_downtime_schedule():
    knobs = resolve_knobs("balanced", {"min_step_interval": 10, "step_interval_per_gib": 0, "stall_window": 5})
    policy = ConvergencePolicy(knobs, GIB, timeout=1000)
    taken = drive(policy, stuck(80))  # 40 s: the 5 steps take 40 s
    assert [a for _t, a, _v in taken if a != "set_downtime"] == []


def test_a_single_low_sample_does_not_hide_a_stall():
    knobs = resolve_knobs("balanced", {"downtime_steps": 1, "stall_window": 5})
    samples = stuck(40)
    samples[25] = (1 << 20, 26)  # one dip, then back up: the window minimum is what counts
    taken = drive(ConvergencePolicy(knobs, GIB, timeout=1000), samples)
    assert any(a == "postcopy" for _t, a, _v in taken)


def test_progress_within_the_window_is_not_a_stall():
    knobs = resolve_knobs("balanced", {"downtime_steps": 1, "stall_window": 5})
    samples = [(GIB - i * (4 << 20), i) for i in range(100)]  # slow but steady
    taken = drive(ConvergencePolicy(knobs, GIB, timeout=1000), samples)
    assert [a for _t, a, _v in taken if a != "set_downtime"] == []


def test_minimal_downtime_aborts_at_the_timeout():
    policy = ConvergencePolicy(resolve_knobs("minimal_downtime"), GIB, timeout=30)
    taken = drive(policy, stuck(100))
    aborts = [t for t, a, _v in taken if a == "abort"]
    assert aborts == [30.0]
    assert max(v for _t, a, v in taken if a == "set_downtime") <= 300


def test_none_preset_does_nothing_but_abort_at_the_timeout():
    policy = ConvergencePolicy(resolve_knobs("none"), GIB, timeout=10)
    assert [(t, a) for t, a, _v in drive(policy, stuck(40))] == [(10.0, "abort")]


def test_postcopy_preset_switches_after_the_first_pass():
    policy = ConvergencePolicy(resolve_knobs("postcopy"), GIB)
    samples = [(GIB - i * (50 << 20), 1) for i in range(10)] + [(300 << 20, 2)] * 5
    taken = drive(policy, samples)
    assert [(t, a) for t, a, _v in taken if a != "set_downtime"] == [(5.5, "postcopy")]


def test_suspend_if_needed_pauses_then_aborts_if_still_not_done():
    knobs = resolve_knobs("suspend_if_needed", {"pause_grace": 10, "on_stall": "none"})
    policy = ConvergencePolicy(knobs, GIB, timeout=20)
    taken = drive(policy, stuck(100))
    assert [(t, a) for t, a, _v in taken if a != "set_downtime"] == [(20.0, "pause"), (30.0, "abort")]


def test_failed_postcopy_switch_falls_back_to_abort_after_the_grace():
    knobs = resolve_knobs("balanced", {"on_stall": "none", "pause_grace": 10})
    policy = ConvergencePolicy(knobs, GIB, timeout=20)
    taken = drive(policy, stuck(100), confirm=False)
    assert [(t, a) for t, a, _v in taken if a != "set_downtime"] == [(20.0, "postcopy"), (30.0, "abort")]


def test_knobs_from_extra_vars_are_coerced_to_their_types():
    knobs = resolve_knobs("balanced", {"max_downtime_ms": "300", "auto_converge": "no", "compression": "xbzrle,zstd",
                                       "stall_ratio": "0.9", "downtime_steps": 3.0})
    assert knobs["max_downtime_ms"] == 300 and knobs["auto_converge"] is False
    assert knobs["compression"] == ["xbzrle", "zstd"] and knobs["stall_ratio"] == 0.9 and knobs["downtime_steps"] == 3


@pytest.mark.parametrize("overrides,fragment", [
    ({"max_downtime_ms": "fast"}, "max_downtime_ms must be a number, got 'fast'"),
    ({"auto_converge": "maybe"}, "auto_converge must be true or false"),
    ({"downtime_steps": True}, "downtime_steps must be a number"),
    ({"compression": 5}, "compression must be a list"),
])
def test_knobs_of_the_wrong_type_are_refused_by_name(overrides, fragment):
    with pytest.raises(DroverError) as err:
        resolve_knobs("balanced", overrides)
    assert fragment in err.value.msg


def test_the_knobs_the_lab_tests_use_resolve_unchanged():
    knobs = resolve_knobs("balanced", {"stall_window": 600, "min_timeout": 600, "postcopy_bandwidth": 5,
                                       "auto_converge": False, "parallel_connections": 4, "compression": ["xbzrle"]})
    assert (knobs["stall_window"], knobs["min_timeout"], knobs["postcopy_bandwidth"]) == (600, 600, 5)
    assert knobs["auto_converge"] is False and knobs["compression"] == ["xbzrle"]


MIB = 1024 * 1024


def _pass(iteration, dirty_mib_s, sent_mib_s, remaining=64 * MIB):
    return {"memory_iterations": iteration, "dirty_rate_bps": int(dirty_mib_s * MIB),
            "memory_bandwidth_bps": int(sent_mib_s * MIB), "data_remaining_bytes": remaining}


def test_auto_switches_a_hot_guest_to_postcopy_right_after_the_first_pass():
    knobs = resolve_knobs("auto")
    assert (knobs["auto_converge"], knobs["postcopy"], knobs["postcopy_dirty_ratio"]) == (False, True, 0.5)
    policy = ConvergencePolicy(knobs, 192 * MIB)
    # During the first pass QEMU has no dirty rate yet: nothing but the first downtime step.
    assert [a[0] for a in policy.decide(0.5, _pass(1, 0, 5))] == ["set_downtime"]
    assert all(a[0] == "set_downtime" for a in policy.decide(20, _pass(1, 0, 5)))
    actions = [a for a in policy.decide(38, _pass(2, 16, 5)) if a[0] != "set_downtime"]
    assert [a[0] for a in actions] == ["postcopy"]
    assert actions[0][2] == "dirtying 16.0 MiB/s, 320% of the 5.0 MiB/s sent: pre-copy would not converge"


def test_auto_keeps_pre_copy_for_a_guest_that_converges_at_its_share_of_the_link():
    policy = ConvergencePolicy(resolve_knobs("auto"), 192 * MIB)
    policy.decide(0.5, _pass(1, 0, 10))
    for t, iteration in ((10, 2), (12, 3), (13, 4)):
        assert all(a[0] != "postcopy" for a in policy.decide(t, _pass(iteration, 4.9, 10)))
    # The same guest while another move takes half the link: 4.9 of 5 MiB/s, no longer converging.
    assert [a[0] for a in policy.decide(14, _pass(5, 4.9, 5)) if a[0] != "set_downtime"] == ["postcopy"]


def test_the_dirty_ratio_is_a_checked_knob_that_needs_postcopy_allowed():
    assert resolve_knobs("balanced", {"postcopy_dirty_ratio": "0.8"})["postcopy_dirty_ratio"] == 0.8
    with pytest.raises(DroverError, match="postcopy is not allowed"):
        resolve_knobs("auto", {"postcopy": False})
    with pytest.raises(DroverError, match="postcopy_dirty_ratio"):
        resolve_knobs("auto", {"postcopy_dirty_ratio": -1})
    assert resolve_knobs("balanced")["postcopy_dirty_ratio"] == 0  # off unless asked for
