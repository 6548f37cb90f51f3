"""Evacuating hv1 with playbooks/evacuate.yml on the lab: plan, policies, caps, verification, reports.

The tests run in file order on one lab: a hung probe, check mode, a refusal, a partial drain (skip), a re-run,
then the shutdown and cold policies for the VM that cannot move live, and the empty host.
"""
import datetime
import hashlib
import json
import os
import signal
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET

import libvirt
import pytest

from labfixture import (HOSTS, ROOT, STATE, assert_runs_only_on, evacuate, fleet_snapshot, heartbeat, lab, maintenance_mark,
                        placement, playbook, run_module, uri, wait_heartbeat_after)

RUNNING = ["web1", "web2", "app1", "db1", "vm5", "loc1"]
PROBE = os.path.join(ROOT, "lab", "alive")
NO_COPY = {"evacuate_copy_storage": False, "evacuate_verify_probe_command": PROBE}


@pytest.fixture(scope="module", autouse=True)
def fleet():
    """hv1 holds an anti-affinity pair, labelled VMs, a VM on local-only storage and a shut-off VM."""
    lab("down", check=False)
    try:
        assert lab("up", "--guests", "0", check=False).returncode == 0
        guests = [("web1", ["--tag", "anti-affinity=web"]), ("web2", ["--tag", "anti-affinity=web"]),
                  ("app1", ["--tag", "label:tier=app"]), ("db1", ["--tag", "label:tier=db"]), ("vm5", []),
                  ("loc1", ["--storage", "local"]), ("off1", ["--no-start"])]
        for name, extra in guests:
            proc = lab("guest", name, "--host", "hv1", "--memory", "96", "--dirty-mb", "1", *extra, check=False)
            assert proc.returncode == 0, proc.stderr
        for name in RUNNING:
            lab("guest", name, "--host", "hv1", "--memory", "96", "--dirty-mb", "1", "--wait")
        yield
    finally:
        lab("down", check=False)


def intervals(results):
    spans = []
    for r in results:
        if r["started_at"] and r["finished_at"]:
            spans.append((datetime.datetime.fromisoformat(r["started_at"]),
                          datetime.datetime.fromisoformat(r["finished_at"]), r["to"]))
    return spans


def disk_without_heartbeat(path):
    """The guest-visible content of a qcow2 image, minus sector 1 (the guest rewrites its heartbeat there)."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "disk.raw")
        subprocess.run(["qemu-img", "convert", "-U", "-O", "raw", path, raw], check=True)
        with open(raw, "rb") as f:
            data = bytearray(f.read())
    data[512:1024] = bytes(512)
    return hashlib.sha256(data).hexdigest()


def incoming_qemu(host, name, timeout=60):
    """PID of the QEMU that libvirtd on `host` started for `name`, from that host's own pid file.

    The lab's hosts share one PID namespace, so a process search would find the source's QEMU too.
    """
    path = os.path.join(STATE, host, "run", "qemu", "%s.pid" % name)
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(path) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            time.sleep(0.1)
    raise AssertionError("no QEMU for %s appeared on %s" % (name, host))


def changed_tasks(stdout):
    """Names of the tasks that reported a change in an ansible-playbook run."""
    changed, task = [], None
    for line in stdout.splitlines():
        if line.startswith("TASK ["):
            task = line.split("[", 1)[1].split("]", 1)[0]
        elif line.startswith("changed: "):
            changed.append(task)
    return changed


def most_at_once(spans, key=None):
    """Largest number of spans that overlap at one instant (optionally per destination)."""
    events = []
    for start, end, dest in spans:
        if key is None or dest == key:
            events += [(start, 1), (end, -1)]
    level = peak = 0
    for _when, step in sorted(events, key=lambda e: (e[0], e[1])):
        level += step
        peak = max(peak, level)
    return peak


def test_a_guest_probe_that_hangs_is_stopped_at_its_time_limit():
    """The verify role gives each domain's probe verify_probe_timeout seconds: one that hangs is stopped, its domain
    counted as not answering, and the others are still probed."""
    probe = os.path.join(ROOT, "tests", "integration", "fixtures", "slow_probe")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "verdicts.json")
        started = time.time()
        proc = playbook("tests/integration/playbooks/verify_role.yml", {
            "verify_domains": RUNNING, "verify_probe_command": "%s %s app1" % (probe, tmp),
            "verify_probe_timeout": "8", "verify_fail": "false", "result_file": out})
        took = time.time() - started
        assert proc.returncode == 0, proc.stdout[-3000:]
        with open(out) as f:
            verdicts = {v["name"]: v for v in json.load(f) if v["name"] in RUNNING}
        with open(os.path.join(tmp, "app1.pid")) as f:
            hung = int(f.read())
        left = os.path.exists("/proc/%d" % hung)
        if left:
            os.kill(hung, signal.SIGKILL)  # ours: the probe this test started
    print("the verify play took %.0f s; the hung probe was %s" % (took, "left running" if left else "stopped"))
    # The hung probe would have held the play 120 s.
    assert took < 100, took
    assert not verdicts["app1"]["ok"] and verdicts["app1"]["alive"] is False, verdicts["app1"]
    assert "the probe did not finish in time" in verdicts["app1"]["reason"], verdicts["app1"]
    for name in set(RUNNING) - {"app1"}:
        assert verdicts[name]["ok"] and verdicts[name]["alive_by"] == "probe", verdicts[name]
    # Only the hung one probed: every item of the task stopped by its timeout, and still a verdict, not a failed run.
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "verdicts.json")
        proc = playbook("tests/integration/playbooks/verify_role.yml", {
            "verify_domains": ["app1"], "verify_probe_command": "%s %s app1" % (probe, tmp),
            "verify_probe_timeout": "5", "verify_fail": "false", "result_file": out})
        assert proc.returncode == 0, proc.stdout[-3000:]
        with open(out) as f:
            [alone] = [v for v in json.load(f) if v["name"] == "app1"]
        with open(os.path.join(tmp, "app1.pid")) as f:
            hung = int(f.read())
        if os.path.exists("/proc/%d" % hung):
            os.kill(hung, signal.SIGKILL)
    assert not alone["ok"] and "the probe did not finish in time" in alone["reason"], alone


def test_check_mode_prints_the_plan_and_changes_nothing():
    before = fleet_snapshot()
    proc, report, _preflight = evacuate("hv1", check=True, evacuate_unmigratable="skip", **NO_COPY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    planned = {line.split(": ", 1)[1].split()[0]: line.split(" -> ")[1].split()[0]
               for line in proc.stdout.splitlines() if line.strip().startswith("- 'wave ")}
    assert sorted(planned) == ["app1", "db1", "off1", "vm5", "web1", "web2"], proc.stdout[-3000:]
    assert planned["web1"] != planned["web2"], "the plan keeps the anti-affinity pair apart"
    assert "cannot move: loc1 on hv1" in proc.stdout
    assert report is None, "check mode stops after the plan"
    assert fleet_snapshot() == before
    assert maintenance_mark("hv1") is None


def test_a_vm_that_cannot_move_stops_the_run_before_anything_moves():
    before = fleet_snapshot()
    proc, _report, preflight = evacuate("hv1", **NO_COPY)
    assert proc.returncode != 0
    assert "Nothing was moved: loc1 cannot move" in proc.stdout, proc.stdout
    storage = [c for r in preflight["results"] if r["domain"] == "loc1" for c in r["checks"] if c["id"] == "storage"]
    assert storage and all(c["status"] == "fail" and "cannot see" in c["reason"] for c in storage)
    assert fleet_snapshot() == before
    assert maintenance_mark("hv1") is None, "the draining mark this run set is taken back"


def test_skip_policy_drains_the_rest_within_caps_keeping_anti_affinity():
    ticks = {name: heartbeat("hv1", name) for name in RUNNING}
    proc, report, _preflight = evacuate("hv1", evacuate_unmigratable="skip", evacuate_max_parallel=2,
                                        evacuate_max_per_destination=1, **NO_COPY)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    results = {r["name"]: r for r in report["results"]}
    assert sorted(results) == sorted(RUNNING + ["off1"])
    assert results["loc1"]["status"] == "skipped" and results["loc1"]["to"] is None
    assert results["off1"]["status"] == "defined"
    for name in ("web1", "web2", "app1", "db1", "vm5"):
        r = results[name]
        assert r["status"] == "migrated" and r["to"] in ("hv2", "hv3"), r
        assert_runs_only_on(name, r["to"])
        wait_heartbeat_after(r["to"], name, ticks[name])  # same boot: a live move
        assert r["verify"]["ok"], r
        assert r["downtime_ms"] is not None and r["overhead_ms"] is not None and r["overhead_ms"] >= 0
    assert_runs_only_on("loc1", "hv1")
    off = placement("off1")
    assert list(off) == [results["off1"]["to"]] and not off[results["off1"]["to"]]["active"]
    assert off[results["off1"]["to"]]["persistent"]
    assert results["web1"]["to"] != results["web2"]["to"], "anti-affinity group web split across hosts"
    spans = intervals(report["results"])
    assert most_at_once(spans) <= 2
    for host in ("hv2", "hv3"):
        assert most_at_once(spans, host) <= 1
    suite = ET.fromstring(report["junit"].encode())
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("7", "0", "1")
    assert report["summary"]["ok"] and report["ok"]
    assert maintenance_mark("hv1")["state"] == "draining", "hv1 still holds loc1"


def test_rerun_moves_only_what_is_left():
    before = fleet_snapshot()
    proc, report, _preflight = evacuate("hv1", evacuate_unmigratable="skip", **NO_COPY)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert [(r["name"], r["status"]) for r in report["results"]] == [("loc1", "skipped")]
    assert fleet_snapshot() == before
    assert changed_tasks(proc.stdout) == []


def test_shutdown_policy_stops_the_vm_where_it_is():
    proc, report, _preflight = evacuate("hv1", evacuate_unmigratable="shutdown", evacuate_shutdown_timeout=3,
                                        **NO_COPY)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert [(r["name"], r["status"]) for r in report["results"]] == [("loc1", "shut_down")]
    where = placement("loc1")
    assert list(where) == ["hv1"] and not where["hv1"]["active"] and where["hv1"]["persistent"]
    conn = libvirt.open(uri("hv1"))
    try:
        conn.lookupByName("loc1").create()
    finally:
        conn.close()
    lab("guest", "loc1", "--host", "hv1", "--storage", "local", "--wait")


def test_cold_policy_moves_the_vm_with_its_local_disk():
    before = heartbeat("hv1", "loc1")
    proc, report, _preflight = evacuate("hv1", evacuate_unmigratable="cold", evacuate_shutdown_timeout=3, **NO_COPY)
    assert proc.returncode == 0, proc.stdout[-3000:]
    [result] = report["results"]
    assert (result["name"], result["status"], result["method"]) == ("loc1", "moved_cold", "cold")
    dest = result["to"]
    assert_runs_only_on("loc1", dest)
    copied = os.path.join(STATE, dest, "local", "loc1.qcow2")
    assert os.path.exists(copied), "the local disk was copied"
    assert disk_without_heartbeat(os.path.join(STATE, "hv1", "local", "loc1.qcow2")) == disk_without_heartbeat(copied)
    tick = None
    deadline = time.time() + 60
    while time.time() < deadline and not (tick and tick["boot_id"] != before["boot_id"]):
        time.sleep(0.5)
        tick = heartbeat(dest, "loc1")
    assert tick and tick["boot_id"] != before["boot_id"], "a cold move boots the guest again: %s" % tick
    assert result["verify"]["ok"], result
    assert maintenance_mark("hv1")["state"] == "maintenance", "an empty host is marked in maintenance"


def test_an_empty_host_is_ok_with_no_change():
    before = fleet_snapshot()
    proc, report, _preflight = evacuate("hv1", **NO_COPY)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert report["results"] == []
    assert changed_tasks(proc.stdout) == []
    assert fleet_snapshot() == before


def test_a_failed_move_is_retried_on_the_next_destination():
    """A destination that already holds a definition of the domain refuses it; the next one takes it."""
    name = "vm5"
    source = [h for h in HOSTS if placement(name).get(h, {}).get("active")][0]
    first, alternate = [h for h in ("hv2", "hv3", "hv1") if h != source][:2]
    assert lab("guest", name, "--host", first, "--define-copy-from", source, check=False).returncode == 0
    try:
        result = run_module("moves_module.yml", source,
                            moves=[{"domain": name, "destination": first, "alternates": [alternate]}])
        assert not result.get("failed"), result
        [moved] = result["results"]
        assert moved["attempts"] == 2 and moved["to"] == alternate, moved
        assert "already defined" in moved["tries"][0]["error"] and moved["tries"][0]["location"] == "source"
    finally:
        conn = libvirt.open(uri(first))
        try:
            conn.lookupByName(name).undefine()
        finally:
            conn.close()
    assert_runs_only_on(name, alternate)


def test_a_move_whose_destination_dies_mid_migration_lands_on_the_alternate():
    """Fault injection: the incoming QEMU on the first destination is killed while memory streams to it."""
    name = "slow1"
    proc = lab("guest", name, "--host", "hv1", "--memory", "256", "--dirty-mb", "1", "--wait", check=False)
    assert proc.returncode == 0, proc.stderr
    before = heartbeat("hv1", name)
    lab("shape", "hv1", "--rate", "100mbit")  # ~20 s for 256 MiB: time to strike during pre-copy
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "result.json")
            extra = {"target": "hv1", "result_file": out,
                     "module_args": {"moves": [{"domain": name, "destination": "hv2", "alternates": ["hv3"]}]}}
            runner = subprocess.Popen(["ansible-playbook", os.path.join(ROOT, "tests/integration/playbooks/moves_module.yml"),
                                       "-e", json.dumps(extra)], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg")))
            victim = incoming_qemu("hv2", name)
            time.sleep(3)
            os.kill(victim, signal.SIGKILL)  # a QEMU the lab's libvirtd started for this test
            output = runner.communicate(timeout=300)[0]
            with open(out) as f:
                result = json.load(f)
    finally:
        lab("shape", "hv1", "--clear")
    assert not result.get("failed"), output[-3000:]
    [moved] = result["results"]
    assert moved["attempts"] == 2 and moved["to"] == "hv3", moved
    assert moved["tries"][0]["destination"] == "hv2" and moved["tries"][0]["location"] == "source", moved["tries"]
    assert moved["landed"]["ok"]
    assert_runs_only_on(name, "hv3")
    wait_heartbeat_after("hv3", name, before)  # the same boot: it never stopped running


def test_a_cold_move_that_cannot_start_on_the_destination_is_undone():
    """Fault injection on the cold path: hv2 lacks the VM's network, so the start there fails."""
    name = "netc"
    assert lab("network", "hv1", "coldnet", check=False).returncode == 0
    proc = lab("guest", name, "--host", "hv1", "--memory", "96", "--dirty-mb", "1", "--network", "coldnet", "--wait",
               check=False)
    assert proc.returncode == 0, proc.stderr
    before = heartbeat("hv1", name)
    result = run_module("moves_module.yml", "hv1", shutdown_timeout=3,
                        moves=[{"domain": name, "destination": "hv2", "method": "cold"}])
    [moved] = result["results"]
    assert result.get("failed") and moved["status"] == "failed" and moved["location"] == "source", moved
    assert "back on the source" in moved["error"] and "coldnet" in moved["error"], moved["error"]
    assert_runs_only_on(name, "hv1")
    tick = heartbeat("hv1", name)
    deadline = time.time() + 60
    while not (tick and tick["boot_id"] != before["boot_id"]) and time.time() < deadline:
        time.sleep(0.5)
        tick = heartbeat("hv1", name)
    assert tick["boot_id"] != before["boot_id"], "restarted on the source after the failed cold move"
