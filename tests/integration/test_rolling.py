"""Rolling maintenance on the lab: every host drained, maintained (its libvirtd and sshd restarted),
checked and put back, while every VM keeps running exactly once.

The tests run in file order on one lab with a guest on each host: the check-mode plan, a whole
run with failback, a window that fits one host, a hook that fails on the second host, the way
back to service for the host it left marked, a controller killed mid-run and the run resumed,
and domains brought home by the origin recorded on them (playbooks/restore.yml).
Each run starts a new campaign (rolling_resume=false) unless it tests resuming one.
"""
import json
import os
import signal
import subprocess
import tempfile
import time

import pytest

import libvirt
from labfixture import (HOSTS, LAB, ROOT, STATE, _read, assert_runs_only_on, fleet_snapshot, lab, maintenance_mark,
                        uri)

GUESTS = {"vm1": "hv1", "vm2": "hv2", "vm3": "hv3"}
HOOK = os.path.join(ROOT, "tests", "integration", "tasks", "rolling_hook_restart.yml")
PROBE = os.path.join(ROOT, "lab", "alive")


@pytest.fixture(scope="module", autouse=True)
def fleet():
    lab("down", check=False)
    try:
        assert lab("up", "--guests", "0", check=False).returncode == 0
        for name, host in GUESTS.items():
            lab("guest", name, "--host", host, "--memory", "96", "--dirty-mb", "1", "--wait")
        yield
    finally:
        lab("down", check=False)


def command(extra, reports, check=False, playbook="rolling_maintenance.yml", limit=None):
    """(argv, environment) of a playbook run with the lab hook, reports in `reports`."""
    # Extra variables outrank the role's own: the restore report directory only for restore.yml itself.
    variables = dict({"rolling_report_dir": reports, "rolling_maintenance_tasks": HOOK, "lab_state": STATE,
                      "lab_cmd": LAB, "evacuate_copy_storage": False, "evacuate_verify_probe_command": PROBE,
                      "rolling_resume": False}, **extra)
    if playbook == "restore.yml":
        variables["restore_report_dir"] = reports
    cmd = ["ansible-playbook", os.path.join(ROOT, "playbooks", playbook), "-e", json.dumps(variables)]
    cmd += (["--check"] if check else []) + (["-l", limit] if limit else [])
    # No SSH master connection: a stopped sshd must look like a host that is down.
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_SSH_ARGS="-o ControlMaster=no")
    return cmd, env


def read_report(reports, name="rolling.json"):
    path = os.path.join(reports, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def rolling(extra, check=False, playbook="rolling_maintenance.yml", limit=None):
    """Run a playbook with the lab hook; return (process, its report or None: rolling.json, or restore.json)."""
    with tempfile.TemporaryDirectory() as reports:
        cmd, env = command(extra, reports, check, playbook, limit)
        proc = subprocess.run(cmd, cwd=ROOT, env=env, text=True, capture_output=True, check=False)
        report = read_report(reports, "restore.json" if playbook == "restore.yml" else "rolling.json")
        if report is not None:  # what else the run wrote, as paths under the report directory
            report["_files"] = sorted(os.path.relpath(os.path.join(d, f), reports)
                                      for d, _dirs, files in os.walk(reports) for f in files)
        return proc, report


def assert_invariant():
    """Every guest runs on exactly one host and is persistent exactly there."""
    snap = fleet_snapshot()
    for name in GUESTS:
        active = [h for h, a, _p in snap.get(name, []) if a]
        persistent = [h for h, _a, p in snap.get(name, []) if p]
        assert len(active) == 1 and persistent == active, (name, snap.get(name))


def daemon_pid(host):
    """The PID of the host's libvirtd, as the lab started it."""
    with open(os.path.join(STATE, host, "run", "libvirtd.pid")) as f:
        return f.read().strip()


def by_host(report):
    return {h["host"]: h for h in report["hosts"]}


def test_check_mode_prints_the_whole_plan_and_changes_nothing():
    before = fleet_snapshot()
    proc, report = rolling({"rolling_budget_minutes": 30}, check=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert report is None
    for host in HOSTS:
        assert "%s: ~" % host in proc.stdout
    assert "3 hosts, about" in proc.stdout and "window ends" in proc.stdout
    assert fleet_snapshot() == before
    assert all(maintenance_mark(h) is None for h in HOSTS)


def test_every_host_maintained_and_every_vm_back_home():
    proc, report = rolling({"rolling_failback": "true", "rolling_batch_size": "1", "rolling_max_fail_pct": "0"})
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert report["status"] == "finished" and report["counts"]["done"] == 3, report
    for host, record in by_host(report).items():
        assert record["outcome"] == "done", record
        assert record["hook_seconds"] > 0
        away = [vm for vm in record["vms"] if vm["from"] == host]
        back = [vm for vm in record["vms"] if vm["to"] == host]
        assert [vm["status"] for vm in away + back] == ["migrated", "migrated"], [
            (vm["name"], vm["from"], vm["to"], vm["status"]) for vm in record["vms"]]
        assert all(vm["downtime_ms"] is not None for vm in away + back)
    for name, host in GUESTS.items():
        assert_runs_only_on(name, host)
    assert all(maintenance_mark(h) is None for h in HOSTS)
    # This pass keeps its own reports beside its hosts' evacuation reports and the failback's.
    run_dir = "%s/" % report["run_id"]
    mine = [f[len(run_dir):].split("/") for f in report["_files"] if f.startswith(run_dir)]
    assert len({parts[0] for parts in mine}) == 1, report["_files"]  # one pass
    assert {"rolling.json", "rolling.xml"} <= {parts[-1] for parts in mine if len(parts) == 2}, report["_files"]
    # Per batch (one host each): its evacuation report and its failback's restore report.
    assert {parts[1] for parts in mine if len(parts) == 3 and parts[2] == "evacuation.json"} == set(HOSTS), report["_files"]
    assert {parts[1] for parts in mine if len(parts) == 3 and parts[2] == "restore.json"} == set(HOSTS), report["_files"]


def test_a_window_that_fits_one_host_postpones_the_others():
    # The first host is expected to take 25 s and takes longer (the hook alone sleeps 15 s); the
    # next one is then expected to take as long, more than what is left of the minute.
    proc, report = rolling({"rolling_budget_minutes": "1", "rolling_assumed_fixed_seconds": "10",
                            "rolling_assumed_hook_minutes": "0.25", "lab_down_seconds": 15})
    assert proc.returncode == 0, proc.stdout[-4000:]
    records = by_host(report)
    assert records["hv1"]["outcome"] == "done"
    for host in ("hv2", "hv3"):
        assert records[host]["outcome"] == "postponed", records[host]
        assert "left before the window ends" in records[host]["reason"]
    assert report["counts"] == {"done": 1, "failed": 0, "postponed": 2, "not_started": 0}
    assert_invariant()
    assert all(maintenance_mark(h) is None for h in HOSTS)


def test_a_failing_hook_stops_the_run_and_leaves_that_host_marked():
    proc, report = rolling({"lab_fail_on": "hv2"})
    assert proc.returncode != 0
    records = by_host(report)
    assert records["hv1"]["outcome"] == "done", (records["hv1"]["reason"], proc.stdout[-6000:])
    assert records["hv2"]["outcome"] == "failed" and "the upgrade of hv2 failed" in records["hv2"]["reason"]
    assert records["hv3"]["outcome"] == "not_started"
    assert report["status"] == "stopped"
    assert "Rolling maintenance stopped" in proc.stdout
    assert maintenance_mark("hv1") is None and maintenance_mark("hv3") is None
    assert maintenance_mark("hv2")["state"] == "maintenance"
    assert_invariant()
    assert not [h for h, a, _p in sum(fleet_snapshot().values(), []) if a and h == "hv2"]


def test_a_host_that_goes_away_in_its_turn_is_reported_failed_and_stops_the_run():
    proc, report = rolling({"lab_leave_down": "hv2", "rolling_health_timeout": "15"})
    lab("up", "--guests", "0")  # bring hv2 back before reading the fleet
    assert proc.returncode != 0
    records = by_host(report)
    assert report["status"] == "stopped"
    assert records["hv1"]["outcome"] == "done"
    assert records["hv2"]["outcome"] == "failed" and "Wait for the host to answer" in records["hv2"]["reason"]
    assert records["hv3"]["outcome"] == "not_started"
    assert maintenance_mark("hv2")["state"] == "maintenance"
    assert maintenance_mark("hv1") is None and maintenance_mark("hv3") is None
    assert_invariant()


def test_return_to_service_clears_the_mark_a_failed_run_left():
    proc, _report = rolling({}, playbook="return_to_service.yml", limit="hv2")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "hv2 is in service (was maintenance)" in proc.stdout
    assert maintenance_mark("hv2") is None
    assert_invariant()


def last_maintenance(host):
    return _read(os.path.join(STATE, host, "lib", "drover", "last-maintenance.json"), json.load)


def origin(name, host):
    """The origin recorded on a domain, as libvirt gives it (None when there is none)."""
    conn = libvirt.open(uri(host))
    try:
        return conn.lookupByName(name).metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, "urn:drover-libvirt:origin:1", 0)
    except libvirt.libvirtError:
        return None
    finally:
        conn.close()


def test_a_killed_controller_is_resumed_by_running_the_same_playbook_again():
    # The first run starts a new campaign (the earlier tests left theirs unfinished); the second is
    # the same run, resuming what it finds on the hosts (the default).
    variables = {"rolling_failback": "true", "lab_down_seconds": "20"}
    with tempfile.TemporaryDirectory() as reports:
        cmd, env = command(variables, reports)
        first = subprocess.Popen(cmd, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        try:
            # hv1 done and back, hv2 drained and in its maintenance tasks: the controller dies.
            deadline = time.monotonic() + 600
            while (maintenance_mark("hv2") or {}).get("state") != "maintenance" and first.poll() is None:
                assert time.monotonic() < deadline, "hv2 never reached its maintenance"
                time.sleep(0.5)
            os.killpg(first.pid, signal.SIGKILL)
        finally:
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGKILL)
            first.wait()
        assert first.returncode == -signal.SIGKILL, first.stdout.read()[-3000:]
        lab("up", "--guests", "0")  # the host finishes its restart on its own
        # Left behind as it was: every VM once, hv1 finished and home, hv2 still marked, vm2 away from it.
        assert_invariant()
        campaign = maintenance_mark("hv2")["by"]
        assert campaign.startswith("rolling/")
        assert maintenance_mark("hv1") is None and last_maintenance("hv1")["by"] == campaign
        assert not [h for h, a, _p in sum(fleet_snapshot().values(), []) if a and h == "hv2"]
        assert 'host="hv2"' in next(origin("vm2", h) for h in ("hv1", "hv3") if origin("vm2", h))

        cmd, env = command(dict(variables, rolling_resume="true"), reports)
        proc = subprocess.run(cmd, cwd=ROOT, env=env, text=True, capture_output=True, check=False)
        report = read_report(reports)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "resuming %s: hv1 finished at" % campaign[len("rolling/"):] in proc.stdout
    records = by_host(report)
    assert "finished by an earlier run" in records["hv1"]["reason"] and records["hv1"]["outcome"] == "done"
    assert records["hv2"]["outcome"] == "done" and records["hv3"]["outcome"] == "done"
    # vm2 left hv2 in the killed run; the re-run brings it home by the origin recorded on it.
    for name, host in GUESTS.items():
        assert_runs_only_on(name, host)
        assert origin(name, host) is None
    assert all(maintenance_mark(h) is None for h in HOSTS)


def test_restore_brings_home_what_an_evacuation_moved_and_leaves_what_was_moved_by_hand():
    lab("guest", "vm4", "--host", "hv1", "--memory", "96", "--dirty-mb", "1", "--wait")
    proc = rolling({}, playbook="evacuate.yml", limit="hv1")[0]
    assert proc.returncode == 0, proc.stdout[-3000:]
    # A marked home takes nothing back.
    proc = rolling({}, playbook="restore.yml", limit="hv1")[0]
    assert proc.returncode == 0 and "hv1 is marked maintenance" in proc.stdout, proc.stdout[-3000:]
    assert_invariant()
    proc = rolling({}, playbook="return_to_service.yml", limit="hv1")[0]
    assert proc.returncode == 0
    # An operator moves vm4 by hand to the other host; the record still says where drover put it.
    holder = next(h for h in ("hv2", "hv3") if origin("vm4", h))
    other = "hv3" if holder == "hv2" else "hv2"
    src = libvirt.open(uri(holder))
    try:
        src.lookupByName("vm4").migrateToURI3(uri(other), {}, libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
                                              | libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE)
    finally:
        src.close()
    proc = rolling({}, playbook="restore.yml", limit="hv1")[0]
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "vm4 stays on %s: moved by hand since drover put it on %s" % (other, holder) in proc.stdout
    assert_runs_only_on("vm1", "hv1")
    assert_runs_only_on("vm4", other)
    proc, report = rolling({"restore_moved_by_hand": "true"}, playbook="restore.yml", limit="hv1")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert report["homes"] == ["hv1"] and report["counts"]["failed"] == 0 and report["counts"]["moved"] >= 1, report
    assert {"name": "vm4", "from": other, "to": "hv1", "status": "migrated"}.items() <= \
        next(r for r in report["results"] if r["name"] == "vm4").items(), report
    for name, host in dict(GUESTS, vm4="hv1").items():
        assert_runs_only_on(name, host)
        assert origin(name, host) is None


@pytest.mark.parametrize("extra, message", [
    ({"rolling_window_end": "soon"}, "rolling_window_end must be an ISO 8601 time"),
    ({"rolling_maintenance_tasks": "/nonexistent/upgrade.yml"}, "not found: /nonexistent/upgrade.yml"),
    ({"rolling_batch_size": "two"}, "rolling_batch_size"),
])
def test_bad_input_is_refused_by_name_and_changes_nothing(extra, message):
    before = fleet_snapshot()
    proc, report = rolling(extra)
    assert proc.returncode != 0
    assert message in " ".join(proc.stdout.split()), proc.stdout[-3000:]
    assert report is None
    assert fleet_snapshot() == before
    assert all(maintenance_mark(h) is None for h in HOSTS)


def test_the_maintenance_never_runs_while_a_domain_still_runs_on_the_host():
    # loc1's disk is on hv1's local storage and copying is off: the drain skips it, it keeps running.
    lab("guest", "loc1", "--host", "hv1", "--memory", "96", "--dirty-mb", "1", "--storage", "local", "--wait")
    libvirtd = daemon_pid("hv1")
    proc, report = rolling({"evacuate_unmigratable": "skip"})
    assert proc.returncode != 0
    records = by_host(report)
    assert records["hv1"]["outcome"] == "failed"
    assert "hv1 still runs loc1 after its drain; its maintenance tasks did not run" in records["hv1"]["reason"]
    assert records["hv2"]["outcome"] == "not_started" and records["hv3"]["outcome"] == "not_started"
    # The hook restarts libvirtd: the same daemon still runs, and loc1 on it.
    assert daemon_pid("hv1") == libvirtd
    assert_runs_only_on("loc1", "hv1")
    assert_invariant()
