"""Progress of an evacuation in the normal playbook output (module move_progress), on the lab.

hv1's link is capped so that one VM's move lasts well over 15 s: while it moves, the run prints
its progress lines (phase, percent, rate, remaining, ETA) before the line saying it ended, and the
evacuation's report is the one a run without progress writes.
"""
import re

import pytest

from labfixture import ROOT, assert_runs_only_on, evacuate, heartbeat, lab, module_facts, wait_heartbeat_after

PROBE = ROOT + "/lab/alive"
VMS = {"big1": "256", "small1": "96"}  # name: MiB of RAM; big1 takes ~50 s over 20 Mbit/s


@pytest.fixture(scope="module", autouse=True)
def fleet():
    lab("down", check=False)
    try:
        assert lab("up", "--guests", "0", check=False).returncode == 0
        for name, memory in VMS.items():
            proc = lab("guest", name, "--host", "hv1", "--memory", memory, "--dirty-mb", "1", "--wait", check=False)
            assert proc.returncode == 0, proc.stderr
        yield
    finally:
        lab("down", check=False)


def progress_of(stdout, host, name):
    """(progress lines, end line) the run printed for domain `name` on `host`, in order, up to its end."""
    progress = []
    for line in stdout.splitlines():
        if not line.startswith("%s: %s -> " % (host, name)):
            continue
        if re.search(r": (pre-copy|post-copy|paused) \d+\.\d%, [\d.]+ MiB/s, [\d.]+ MiB left, ", line):
            progress.append(line)
        elif re.search(r": (migrated|FAILED) in ", line):
            return progress, line
    return progress, None


def moved(report):
    """What a report says of each VM, without the times that differ between any two runs."""
    return {r["name"]: (r["status"], r["method"], r["attempts"], r["location"], r["error"], r["verify"]["ok"],
                        sorted(r)) for r in report["results"]}


def test_a_long_move_prints_its_progress_and_the_report_is_the_same_as_without():
    before = {name: heartbeat("hv1", name) for name in VMS}
    # Slow enough for several looks even on a busy lab machine, where a look takes seconds.
    lab("shape", "hv1", "--rate", "20mbit")
    try:
        proc, report, _preflight = evacuate("hv1", evacuate_progress_interval=2, evacuate_verify_probe_command=PROBE)
    finally:
        lab("shape", "hv1", "--clear")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]

    progress, end = progress_of(proc.stdout, "hv1", "big1")
    print("\n".join(progress + [end or "(no end line)"]))  # shown with pytest -s
    assert end is not None and ": migrated in " in end and "downtime" in end, proc.stdout[-4000:]
    assert len(progress) >= 2, "\n".join(progress) or proc.stdout[-4000:]
    assert re.search(r"ETA \d+ s|not converging", progress[0]), progress[0]
    assert progress_of(proc.stdout, "hv1", "small1")[1] is not None, "every move's end is printed"

    results = {r["name"]: r for r in report["results"]}
    assert results["big1"]["duration_ms"] > 15000, "the capped link made the move long: %s" % results["big1"]
    assert report["ok"] is True and report["status"] == "finished"
    for name in VMS:
        result = results[name]
        assert result["status"] == "migrated" and result["from"] == "hv1" and result["verify"]["ok"], result
        assert_runs_only_on(name, result["to"])  # running once, persistent there
        wait_heartbeat_after(result["to"], name, before[name])  # the same boot: it never stopped

    # The same moves back without progress, as a drain ran before: the report says the same.
    module_facts("hv1", "drover.libvirt.host_maintenance", "state=absent")  # hv1 receives them
    holders = ",".join(sorted({r["to"] for r in results.values()}))
    proc0, report0, _preflight = evacuate(holders, evacuate_progress_interval=0, evacuate_verify_probe_command=PROBE)
    assert proc0.returncode == 0, proc0.stdout[-4000:]
    assert not re.search(r"^hv\d: \S+ -> hv\d: ", proc0.stdout, flags=re.M), "no progress lines at interval 0"
    assert sorted(report0) == sorted(report)
    assert moved(report0) == moved(report)
    for r in report0["results"]:
        assert_runs_only_on(r["name"], r["to"])
