"""Convergence presets of drover.libvirt.migrate on a guest that dirties memory faster than the link."""
import pytest

from labfixture import assert_runs_only_on, heartbeat, lab, migrate, placement, steer_async, wait_heartbeat_after

pytestmark = pytest.mark.usefixtures("lab_up")

# 192 MiB guests rewriting 16 MiB/s against a 10 MiB/s cap: plain pre-copy never finishes.
CAP_MIB = 10


@pytest.fixture(scope="module")
def busy_guests():
    names = ["busy1", "busy2", "busy3", "busy4"]
    for name in names:
        proc = lab("guest", name, "--host", "hv1", "--memory", "192", "--dirty-mb", "16", check=False)
        assert proc.returncode == 0, proc.stderr
    for name in names:
        lab("guest", name, "--host", "hv1", "--wait", check=True)
    return names


def actions(result):
    return [d["action"] for d in result.get("decisions", [])]


def test_without_convergence_the_timeout_aborts_and_the_guest_stays(busy_guests):
    name = busy_guests[0]
    before = heartbeat("hv1", name)
    result = migrate("hv1", name=name, dest="hv2", bandwidth=CAP_MIB, timeout=20, convergence="none")
    assert result.get("failed"), result
    assert "aborted by the convergence policy" in result["msg"]
    assert "still running on the source" in result["msg"]
    assert actions(result) == ["abort"]
    assert result["decisions"][0]["remaining_bytes"] > 0
    assert_runs_only_on(name, "hv1")
    wait_heartbeat_after("hv1", name, before)


def test_balanced_finishes_within_its_timeout(busy_guests):
    name = busy_guests[0]
    before = heartbeat("hv1", name)
    result = migrate("hv1", name=name, dest="hv2", bandwidth=CAP_MIB, convergence="balanced",
                     convergence_knobs={"stall_window": 8})
    assert not result.get("failed"), result
    timeout_ms = result["convergence"]["timeout_s"] * 1000
    assert result["metrics"]["duration_ms"] < timeout_ms
    assert "set_downtime" in actions(result)
    assert "abort" not in actions(result)
    assert result["metrics"]["downtime_ms"] > 0
    assert_runs_only_on(name, "hv2")
    wait_heartbeat_after("hv2", name, before)
    print("balanced: %s; downtime %d ms, duration %d ms, postcopy %s" % (
        actions(result), result["metrics"]["downtime_ms"], result["metrics"]["duration_ms"],
        result["metrics"]["postcopy"]))


def test_postcopy_preset_switches_after_the_first_pass(busy_guests):
    name = busy_guests[1]
    before = heartbeat("hv1", name)
    result = migrate("hv1", name=name, dest="hv3", bandwidth=CAP_MIB, convergence="postcopy")
    assert not result.get("failed"), result
    assert "postcopy" in actions(result)
    assert result["metrics"]["postcopy"] is True
    assert_runs_only_on(name, "hv3")
    wait_heartbeat_after("hv3", name, before)
    print("postcopy: downtime %d ms, duration %d ms, metrics from %s" % (
        result["metrics"]["downtime_ms"], result["metrics"]["duration_ms"], result["metrics"]["source_of_metrics"]))


def test_suspend_if_needed_pauses_to_finish_and_resumes_the_guest(busy_guests):
    name = busy_guests[2]
    before = heartbeat("hv1", name)
    result = migrate("hv1", name=name, dest="hv2", bandwidth=CAP_MIB, timeout=15,
                     convergence="suspend_if_needed", convergence_knobs={"on_stall": "none"})
    assert not result.get("failed"), result
    assert "pause" in actions(result)
    assert_runs_only_on(name, "hv2")
    wait_heartbeat_after("hv2", name, before)


def test_minimal_downtime_keeps_its_limits_and_aborts_rather_than_pausing_longer(busy_guests):
    name = busy_guests[3]
    before = heartbeat("hv1", name)
    result = migrate("hv1", name=name, dest="hv3", bandwidth=CAP_MIB, timeout=20,
                     convergence="minimal_downtime", convergence_knobs={"auto_converge": False})
    assert result.get("failed"), result
    steps = [d["value"] for d in result["decisions"] if d["action"] == "set_downtime"]
    assert steps and max(steps) <= 300
    assert actions(result)[-1] == "abort"
    assert_runs_only_on(name, "hv1")
    wait_heartbeat_after("hv1", name, before)


def test_minimal_downtime_completes_when_the_link_allows(busy_guests):
    name = busy_guests[2]
    src = [h for h, p in placement(name).items() if p["active"]][0]
    dst = "hv3" if src != "hv3" else "hv1"
    before = heartbeat(src, name)
    result = migrate(src, name=name, dest=dst, convergence="minimal_downtime")
    assert not result.get("failed"), result
    steps = [d["value"] for d in result["decisions"] if d["action"] == "set_downtime"]
    assert steps and max(steps) <= 300
    assert "postcopy" not in actions(result) and result["metrics"]["postcopy"] is False
    assert_runs_only_on(name, dst)
    wait_heartbeat_after(dst, name, before)
    print("minimal_downtime: downtime %d ms, duration %d ms" % (result["metrics"]["downtime_ms"],
                                                                result["metrics"]["duration_ms"]))


def test_unknown_knob_fails_before_anything_moves(busy_guests):
    name = busy_guests[3]
    result = migrate("hv1", name=name, dest="hv2", convergence_knobs={"max_downtime": 100})
    assert result.get("failed")
    assert "unknown convergence knob 'max_downtime'" in result["msg"]
    assert_runs_only_on(name, "hv1")


# A migration left alone by the monitor (no stall or timeout action for 10 minutes).
PATIENT = {"stall_window": 600, "min_timeout": 600}


def test_async_migration_forced_to_complete_in_postcopy(busy_guests):
    name = busy_guests[3]
    before = heartbeat("hv1", name)
    got = steer_async("hv1", {"name": name, "dest": "hv2", "bandwidth": CAP_MIB, "convergence": "balanced",
                              "convergence_knobs": PATIENT},
                      "precopy", [{"state": "completed", "force": "postcopy"}])
    assert got["job"]["job"]["operation"] == "migration_out"
    assert got["steer"][0]["changed"] is True and got["steer"][0]["action"] == "postcopy"
    final = got["final"]
    assert not final.get("failed"), final
    assert final["metrics"]["postcopy"] is True
    assert "observed_postcopy" in actions(final)
    assert_runs_only_on(name, "hv2")
    wait_heartbeat_after("hv2", name, before)


def test_async_migration_aborted_leaves_the_guest_on_the_source(busy_guests):
    name = busy_guests[0]  # on hv2 after the balanced test
    before = heartbeat("hv2", name)
    got = steer_async("hv2", {"name": name, "dest": "hv3", "bandwidth": CAP_MIB, "convergence": "balanced",
                              "convergence_knobs": PATIENT},
                      "precopy", [{"state": "aborted"}])
    assert got["steer"][0]["changed"] is True and got["steer"][0]["action"] == "abort"
    final = got["final"]
    assert final.get("failed") and final["vm_location"] == "source", final
    assert_runs_only_on(name, "hv2")
    wait_heartbeat_after("hv2", name, before)


def test_abort_is_refused_in_postcopy_and_the_migration_finishes(busy_guests):
    name = busy_guests[1]  # on hv3 after the postcopy test
    before = heartbeat("hv3", name)
    # Switched early in the first pass, most memory is still on the source: a long post-copy phase.
    knobs = dict(PATIENT, postcopy_bandwidth=4)
    got = steer_async("hv3", {"name": name, "dest": "hv1", "bandwidth": CAP_MIB, "convergence": "balanced",
                              "convergence_knobs": knobs},
                      "precopy", [{"state": "completed", "force": "postcopy"}, {"state": "aborted"}])
    forced, refused = got["steer"]
    assert forced["action"] == "postcopy", forced
    assert refused.get("failed"), refused
    assert "would lose the guest" in refused["msg"]
    final = got["final"]
    assert not final.get("failed"), final
    assert_runs_only_on(name, "hv1")
    wait_heartbeat_after("hv1", name, before)


def test_auto_moves_a_hot_guest_in_postcopy_after_one_pass_and_a_cool_one_in_precopy(busy_guests):
    # Hot: 16 MiB/s dirtied against the 10 MiB/s cap, so pre-copy cannot converge at that rate.
    name = busy_guests[3]
    src = [h for h, p in placement(name).items() if p["active"]][0]
    dst = "hv3" if src != "hv3" else "hv1"
    before = heartbeat(src, name)
    result = migrate(src, name=name, dest=dst, bandwidth=CAP_MIB, convergence="auto")
    assert not result.get("failed"), result
    switch = [d for d in result["decisions"] if d["action"] == "postcopy"]
    assert len(switch) == 1 and switch[0]["reason"].endswith("pre-copy would not converge"), result["decisions"]
    assert switch[0]["iteration"] >= 2 and switch[0]["dirty_rate_bps"] >= 0.5 * switch[0]["bandwidth_bps"]
    assert result["metrics"]["postcopy"] is True
    assert not [d for d in result["decisions"] if d["action"] in ("abort", "pause")]
    assert_runs_only_on(name, dst)
    wait_heartbeat_after(dst, name, before)
    print("auto, hot guest: %s; downtime %d ms, duration %d ms" % (
        switch[0]["reason"], result["metrics"]["downtime_ms"], result["metrics"]["duration_ms"]))
    # Cool: 1 MiB/s dirtied against the same cap converges in pre-copy, and the guest is never throttled.
    assert lab("guest", "cool1", "--host", "hv1", "--memory", "96", "--dirty-mb", "1", "--wait",
               check=False).returncode == 0
    before = heartbeat("hv1", "cool1")
    result = migrate("hv1", name="cool1", dest="hv2", bandwidth=CAP_MIB, convergence="auto")
    assert not result.get("failed"), result
    assert "postcopy" not in actions(result) and result["metrics"]["postcopy"] is False
    assert result["convergence"]["knobs"]["auto_converge"] is False
    assert_runs_only_on("cool1", "hv2")
    wait_heartbeat_after("hv2", "cool1", before)


def test_the_switch_over_cost_of_a_host_pair_is_learned_and_taken_off_the_limit_qemu_gets():
    # cool1 goes from its host A to B, back, and to B again: the third move plans with what the first one
    # measured for the pair A -> B.
    where = [h for h, p in placement("cool1").items() if p["active"]]
    if not where:
        assert lab("guest", "cool1", "--host", "hv1", "--memory", "96", "--dirty-mb", "1", "--wait",
                   check=False).returncode == 0
        where = ["hv1"]
    a, b = where[0], "hv1" if where[0] != "hv1" else "hv2"
    first = migrate(a, name="cool1", dest=b)
    assert not first.get("failed"), first
    limits = [d["value"] for d in first["decisions"] if d["action"] == "set_downtime" and d["ok"]]
    cost = max(0, first["metrics"]["downtime_ms"] - limits[-1])
    assert first["metrics"]["estimated_pause_ms"] == limits[-1] + first["convergence"]["switchover_ms"]
    assert not migrate(b, name="cool1", dest=a).get("failed")
    third = migrate(a, name="cool1", dest=b)
    assert not third.get("failed"), third
    learned = third["convergence"]["switchover_ms"]
    assert learned >= cost  # the largest of the pair's last moves
    steps = [d for d in third["decisions"] if d["action"] == "set_downtime"]
    assert steps[0]["value"] == max(20, 100 - learned), steps
    assert_runs_only_on("cool1", b)
    print("switch-over %s -> %s: first pause %d ms at limit %d ms (cost %d ms); third: learned %d ms, QEMU limit %d ms, "
          "estimated %s ms, measured %d ms" % (a, b, first["metrics"]["downtime_ms"], limits[-1], cost, learned,
                                               steps[0]["value"], third["metrics"].get("estimated_pause_ms"),
                                               third["metrics"]["downtime_ms"]))
