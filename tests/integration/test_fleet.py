"""Evacuation under fleet conditions on the lab: runs that race, a destination that dies, a host
that is down before the run, and a claim left behind by a run that was killed.

Every test checks the invariant from outside the collection (each host's libvirt, directly) and
that the run wrote its report.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import libvirt
import pytest

from labfixture import HOSTS, ROOT, STATE, assert_runs_only_on, heartbeat, lab, uri, wait_heartbeat_after

PROBE = os.path.join(ROOT, "lab", "alive")
COMMON = {"evacuate_copy_storage": False, "evacuate_verify_probe_command": PROBE}
VCPU_LIMIT = 4 * os.cpu_count()  # the role's default vcpu_ratio 4 on the lab hosts' CPUs


@pytest.fixture(scope="module", autouse=True)
def fleet():
    lab("down", check=False)
    try:
        assert lab("up", "--guests", "0", check=False).returncode == 0
        yield
    finally:
        lab("down", check=False)


@pytest.fixture(autouse=True)
def clean_fleet():
    """Each test starts from hosts with no guests, no marks, no claims, every daemon running."""
    yield
    assert lab("up", "--guests", "0", check=False).returncode == 0  # restarts a daemon a test stopped
    for host in HOSTS:
        conn = libvirt.open(uri(host))
        try:
            for dom in conn.listAllDomains(0):
                if dom.isActive():
                    dom.destroy()
                if dom.isPersistent():
                    dom.undefine()
        finally:
            conn.close()
        # Claims a test left on purpose (cut off with a dead daemon) would expire; the next test starts clean.
        for name in claims_on(host):
            os.remove(os.path.join(STATE, host, "lib", "drover", name))
        mark = os.path.join(STATE, host, "lib", "drover", "maintenance.json")
        if os.path.exists(mark):
            os.remove(mark)


def guests(host, names, vcpus=2):
    for name in names:
        proc = lab("guest", name, "--host", host, "--memory", "96", "--vcpus", str(vcpus), "--dirty-mb", "1",
                   check=False)
        assert proc.returncode == 0, proc.stderr
    for name in names:
        lab("guest", name, "--host", host, "--memory", "96", "--vcpus", str(vcpus), "--dirty-mb", "1", "--wait")


class Allocation(threading.Thread):
    """Samples the vCPUs of the active domains on a host every 0.2 s, for the whole run."""

    def __init__(self, host):
        super().__init__(daemon=True)
        self.host, self.peak, self.samples, self.stop = host, 0, 0, threading.Event()

    def run(self):
        conn = libvirt.open(uri(self.host))
        try:
            while not self.stop.is_set():
                vcpus = sum(d.info()[3] for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE))
                self.peak, self.samples = max(self.peak, vcpus), self.samples + 1
                time.sleep(0.2)
        finally:
            conn.close()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.join()


def start_evacuation(host, report_dir, inventory=None, check=False, as_text=(), **role_vars):
    """ansible-playbook evacuate.yml -l host in the background; returns the process.

    as_text: "key=value" extra vars, which arrive as strings, as from -e or an AWX text survey.
    """
    extra = dict(COMMON, evacuate_report_dir=report_dir, **role_vars)
    cmd = ["ansible-playbook", os.path.join(ROOT, "playbooks", "evacuate.yml"), "-l", host, "-e", json.dumps(extra)]
    for pair in as_text:
        cmd += ["-e", pair]
    if check:
        cmd.append("--check")
    if inventory:
        cmd += ["-i", os.path.join(ROOT, "lab", "inventory"), "-i", inventory]
    # No SSH connection kept from an earlier run: a test that stops a host's sshd must find it down.
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_SSH_ARGS="-o ControlMaster=no")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def report(report_dir):
    with open(os.path.join(report_dir, "evacuation.json")) as f:
        return json.load(f)


def claims_on(host):
    """The claim files in the host's state pool, read through its libvirt."""
    conn = libvirt.open(uri(host))
    try:
        pool = conn.storagePoolLookupByName("drover-state")
        pool.refresh(0)
        return [name for name in pool.listVolumes() if name.startswith("drover-claim_")]
    except libvirt.libvirtError:
        return []
    finally:
        conn.close()


def daemon_pid(host, which):
    path = {"libvirtd": ("run", "libvirtd.pid"), "sshd": ("ssh", "sshd.pid")}[which]
    with open(os.path.join(STATE, host, *path)) as f:
        return int(f.read().strip())


def where(name, hosts):
    """The hosts (of those given) where the domain is active."""
    out = []
    for host in hosts:
        conn = libvirt.open(uri(host))
        try:
            if conn.lookupByName(name).isActive():
                out.append(host)
        except libvirt.libvirtError:
            pass
        finally:
            conn.close()
    return out


def test_two_runs_racing_for_one_destination_never_overcommit_it(tmp_path):
    """hv1 and hv2 drained by two ansible-playbook processes at once, both towards hv3 alone."""
    guests("hv1", ["a1", "a2", "a3"])
    guests("hv2", ["b1", "b2", "b3"])
    names = ["a1", "a2", "a3", "b1", "b2", "b3"]
    ticks = {name: heartbeat("hv1" if name[0] == "a" else "hv2", name) for name in names}
    inventory = tmp_path / "groups.yml"
    inventory.write_text("all:\n  children:\n    ga: {hosts: {hv1: {}, hv3: {}}}\n    gb: {hosts: {hv2: {}, hv3: {}}}\n")
    dirs = [tmp_path / "a", tmp_path / "b"]
    for d in dirs:
        d.mkdir()
    with Allocation("hv3") as hv3:
        # skip: a run that plans after the other has moved sees less room and leaves the rest where they are.
        runs = [start_evacuation("hv1", str(dirs[0]), str(inventory), drover_hosts="ga", evacuate_group="ga",
                                 evacuate_unmigratable="skip"),
                start_evacuation("hv2", str(dirs[1]), str(inventory), drover_hosts="gb", evacuate_group="gb",
                                 evacuate_unmigratable="skip")]
        outputs = [run.communicate(timeout=900)[0] for run in runs]
    assert hv3.samples > 20, "the sampler watched the whole run"
    assert hv3.peak <= VCPU_LIMIT, "hv3 ran %d vCPUs at some point; its ratio allows %d" % (hv3.peak, VCPU_LIMIT)
    results = {r["name"]: r for d in dirs for r in report(str(d))["results"]}
    assert sorted(results) == names, outputs
    moved = [n for n in names if results[n]["status"] == "migrated"]
    stayed = [n for n in names if n not in moved]
    # Room for four guests of 2 vCPUs; a run that planned late may leave one more behind.
    assert VCPU_LIMIT // 2 - 1 <= len(moved) <= VCPU_LIMIT // 2, (moved, outputs)
    for name in moved:
        assert results[name]["to"] == "hv3"
        assert_runs_only_on(name, "hv3")
    for name in stayed:
        # Reported with the reason, still on its source, and still the same running guest.
        r = results[name]
        assert (r["status"] == "failed" and r["location"] == "source" and "no destination had room" in r["error"]) \
            or r["status"] == "skipped", r
        assert "vCPU" in r["error"], r
        source = "hv1" if name[0] == "a" else "hv2"
        assert_runs_only_on(name, source)
        wait_heartbeat_after(source, name, ticks[name])
    assert claims_on("hv3") == [], "every claim was released when its move ended"


def test_a_destination_whose_libvirtd_dies_mid_run(tmp_path):
    """hv2's libvirtd is killed as the first move into it starts: retries land only where there is room."""
    guests("hv3", ["c1", "c2"])                 # hv3 keeps room for two more guests of 2 vCPUs
    guests("hv1", ["d1", "d2", "d3", "d4"])
    names = ["d1", "d2", "d3", "d4"]
    killed = threading.Event()

    def kill_when_arriving():
        conn = libvirt.open(uri("hv2"))
        try:
            deadline = time.time() + 300
            while time.time() < deadline:
                if any(d.name() in names for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)):
                    os.kill(daemon_pid("hv2", "libvirtd"), signal.SIGKILL)
                    killed.set()
                    return
                time.sleep(0.05)
        except libvirt.libvirtError:
            return
        finally:
            try:
                conn.close()
            except libvirt.libvirtError:
                pass

    killer = threading.Thread(target=kill_when_arriving, daemon=True)
    killer.start()
    with Allocation("hv3") as hv3:
        run = start_evacuation("hv1", str(tmp_path), evacuate_max_parallel=1)
        output = run.communicate(timeout=900)[0]
    killer.join(5)
    assert killed.is_set(), "a move into hv2 started\n" + output[-3000:]
    assert hv3.peak <= VCPU_LIMIT, "hv3 ran %d vCPUs; its ratio allows %d" % (hv3.peak, VCPU_LIMIT)
    assert run.returncode != 0, "the run is incomplete and says so"
    rep = report(str(tmp_path))
    assert rep["status"] == "finished" and rep["ok"] is False
    results = {r["name"]: r for r in rep["results"]}
    assert sorted(results) == names
    for name in names:
        now = where(name, ["hv1", "hv3"])
        assert len(now) == 1, "%s active on %s" % (name, now)
        r = results[name]
        if r["status"] == "migrated":
            assert r["to"] == "hv3" == now[0]
        else:
            assert now == ["hv1"] and r["location"] == "source", r
    assert sum(1 for r in results.values() if r["to"] == "hv3") <= 2
    assert "hv2" in json.dumps(rep["results"]), "the report says what happened on hv2"
    # With hv2's libvirtd back, the whole fleet holds the invariant: nothing was left on hv2.
    assert lab("up", "--guests", "0", check=False).returncode == 0
    for name in names:
        assert_runs_only_on(name, where(name, ["hv1", "hv3"])[0])
    assert claims_on("hv1") == [] and claims_on("hv3") == []
    # The claim of the move cut off on hv2 could not be removed through a dead daemon: it is this
    # run's, and it expires by itself.
    for name in claims_on("hv2"):
        fields = name.split("_")
        assert fields[4] == rep["run_id"] and int(fields[1]) <= time.time() + 600 + 5, name


def test_a_host_that_is_down_before_the_run_is_reported_and_not_used(tmp_path):
    guests("hv1", ["e1", "e2"], vcpus=1)
    for daemon in ("libvirtd", "sshd"):
        os.kill(daemon_pid("hv3", daemon), signal.SIGKILL)
    proc = start_evacuation("hv1", str(tmp_path))
    output = proc.communicate(timeout=900)[0]
    rep = report(str(tmp_path))
    assert [u["host"] for u in rep["unreachable"]] == ["hv3"], output[-3000:]
    assert "Not read, so not drained" in output and "hv3" in output
    assert rep["ok"] is True and proc.returncode == 0, output[-3000:]
    for r in rep["results"]:
        assert r["status"] == "migrated" and r["to"] == "hv2"
        # Verification reads the hosts the run touched (hv1, hv2), so hv3 being down does not blur it.
        assert r["verify"] == {"ok": True, "reason": "running on hv2"}
        assert where(r["name"], ["hv1", "hv2"]) == ["hv2"]


CLAIMER = """
import sys, time
sys.path.insert(0, sys.argv[1])
import libvirt
from ansible_collections.drover.libvirt.plugins.module_utils._claim_store import ClaimStore
from ansible_collections.drover.libvirt.plugins.module_utils._claims import new_claim
conn = libvirt.open(sys.argv[2])
source, ttl = (sys.argv[4], 600) if len(sys.argv) > 4 else ("", 5)
claim = new_claim("killed-run", "00000000-0000-0000-0000-0000000000aa", 1024, int(sys.argv[3]), time.time(), ttl=ttl,
                  domain="someone-elses-vm", owner="a run that will be killed", source=source)
out = ClaimStore(conn, libvirt).claim(claim, {"memory_headroom_pct": 10, "reserved_memory_mib": 1024, "vcpu_ratio": 4.0})
print("granted" if out["granted"] else out["reason"], flush=True)
time.sleep(3600)
"""


def claim_then_die(source=None):
    """A run claims every vCPU of hv2 and is killed holding the claim (5 s of TTL, or 10 min naming its source)."""
    claimer = subprocess.Popen([sys.executable, "-c", CLAIMER, os.path.join(ROOT, "build"), uri("hv2"),
                                str(VCPU_LIMIT)] + ([source] if source else []), text=True, stdout=subprocess.PIPE)
    assert claimer.stdout.readline().strip() == "granted"
    claimer.send_signal(signal.SIGKILL)
    claimer.wait()


def drain_hv1_onto_hv2(tmp_path, inventory):
    """Evacuate hv1 within the pair; (name, status, to) of each result."""
    moved = tmp_path / "moved"
    moved.mkdir()
    proc = start_evacuation("hv1", str(moved), str(inventory), drover_hosts="pair", evacuate_group="pair")
    output = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, output[-3000:]
    return [(r["name"], r["status"], r["to"]) for r in report(str(moved))["results"]]


def test_a_claim_left_by_a_killed_run_blocks_until_it_expires(tmp_path):
    guests("hv1", ["f1"], vcpus=1)
    inventory = tmp_path / "pair.yml"
    inventory.write_text("all:\n  children:\n    pair: {hosts: {hv1: {}, hv2: {}}}\n")
    claim_then_die()
    assert len(claims_on("hv2")) == 1
    planned = tmp_path / "planned"
    planned.mkdir()
    check = start_evacuation("hv1", str(planned), str(inventory), check=True, drover_hosts="pair",
                             evacuate_group="pair", evacuate_unmigratable="skip")
    output = check.communicate(timeout=600)[0]
    assert "cannot move: f1 on hv1" in output, output[-3000:]  # hv2's vCPUs are all claimed
    assert_runs_only_on("f1", "hv1")
    time.sleep(5 + 60 + 2)  # its ttl, then the grace for clocks that disagree
    assert drain_hv1_onto_hv2(tmp_path, inventory) == [("f1", "migrated", "hv2")]
    assert_runs_only_on("f1", "hv2")
    assert claims_on("hv2") == [], "the expired claim was cleaned by the run that claimed next"


def test_a_claim_for_a_move_that_is_over_is_released_by_the_next_run(tmp_path):
    # A run cut off from hv2 left a claim for a domain that no longer is on the source it named (hv1): it holds
    # every vCPU of hv2 for ten minutes unless the next run sees that the move it was for is over.
    guests("hv1", ["f2"], vcpus=1)
    inventory = tmp_path / "pair.yml"
    inventory.write_text("all:\n  children:\n    pair: {hosts: {hv1: {}, hv2: {}}}\n")
    claim_then_die("hv1")
    left = claims_on("hv2")
    assert len(left) == 1
    planned = tmp_path / "planned"
    planned.mkdir()
    check = start_evacuation("hv1", str(planned), str(inventory), check=True, drover_hosts="pair",
                             evacuate_group="pair")
    output = check.communicate(timeout=600)[0]
    assert check.returncode == 0, output[-3000:]
    assert "Release the claims that hold room for moves that are over" in output and "hv2: someone-elses-vm" in output
    assert claims_on("hv2") == left, "check mode removes nothing"
    assert drain_hv1_onto_hv2(tmp_path, inventory) == [("f2", "migrated", "hv2")]
    assert_runs_only_on("f2", "hv2")
    assert claims_on("hv2") == [], "the stale claim was released, and the run's own claim after its move"


def test_a_definition_left_on_the_drained_host_by_a_move_that_landed_is_finished(tmp_path):
    # f3 runs on hv2; a move that landed there was cut off before undefining it on hv1 (as a post-copy that ended
    # during a link cut does): hv1 still holds its shut-off definition, so it is defined on two hosts.
    guests("hv2", ["f3"], vcpus=1)
    there = libvirt.open(uri("hv2"))
    here = libvirt.open(uri("hv1"))
    try:
        here.defineXML(there.lookupByName("f3").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    finally:
        there.close()
        here.close()
    proc = start_evacuation("hv1", str(tmp_path))
    output = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, output[-3000:]
    [result] = [r for r in report(str(tmp_path))["results"] if r["name"] == "f3"]
    assert (result["status"], result["to"], result["finished"]) == ("unchanged", "hv2", ["undefine_source"]), result
    assert result["verify"]["ok"] is True, result
    assert_runs_only_on("f3", "hv2")


def test_two_hosts_drained_in_one_run_drain_at_once_within_the_caps(tmp_path):
    guests("hv1", ["g1", "g2"], vcpus=1)
    guests("hv2", ["h1", "h2"], vcpus=1)
    proc = start_evacuation("hv1,hv2", str(tmp_path), evacuate_max_parallel=2, evacuate_max_per_destination=2,
                            as_text=("evacuate_run_id=text-run-1", "evacuate_claim_ttl=300",
                                     "evacuate_wait_for_capacity=10"))
    output = proc.communicate(timeout=900)[0]
    assert proc.returncode == 0, output[-3000:]
    rep = report(str(tmp_path))
    assert rep["run_id"] == "text-run-1"
    assert rep["plan"]["caps"]["sources_at_once"] == 2 and rep["plan"]["caps"]["max_per_source"] == 1
    spans = {r["name"]: (r["started_at"], r["finished_at"], r["from"]) for r in rep["results"]}
    assert sorted(spans) == ["g1", "g2", "h1", "h2"]
    events = sorted([(s, 1) for s, _f, _h in spans.values()] + [(f, -1) for _s, f, _h in spans.values()],
                    key=lambda e: (e[0], e[1]))
    level = peak = 0
    for _when, step in events:
        level += step
        peak = max(peak, level)
    assert peak <= 2, "never more than max_parallel moves at once across both hosts"
    overlap = [(a, b) for a in ("g1", "g2") for b in ("h1", "h2")
               if spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]]
    assert overlap, "moves off hv1 and hv2 ran at the same time: %s" % spans
    for name in spans:
        assert_runs_only_on(name, "hv3")


def test_a_host_to_drain_that_is_down_fails_its_own_evacuation_and_says_so(tmp_path):
    guests("hv1", ["k1"], vcpus=1)
    os.kill(daemon_pid("hv2", "sshd"), signal.SIGKILL)
    proc = start_evacuation("hv1,hv2", str(tmp_path))
    output = proc.communicate(timeout=900)[0]
    assert proc.returncode != 0, "hv2 was not drained, and the run says so"
    rep = report(str(tmp_path))
    assert rep["status"] == "finished" and rep["ok"] is False, output[-3000:]
    assert [u["host"] for u in rep["unreachable"]] == ["hv2"]
    assert [(r["name"], r["status"], r["to"]) for r in rep["results"]] == [("k1", "migrated", "hv3")]
    assert "hv2 could not be read" in output
    assert_runs_only_on("k1", "hv3")


def test_bad_claim_settings_as_text_are_refused_before_anything_changes(tmp_path):
    guests("hv1", ["n1"], vcpus=1)
    for bad in ("evacuate_run_id=a;b", "evacuate_claim_ttl=0", "evacuate_claim_ttl=ten", "evacuate_wait_for_capacity=-1"):
        proc = start_evacuation("hv1", str(tmp_path), as_text=(bad,))
        output = proc.communicate(timeout=300)[0]
        name, value = bad.split("=", 1)
        # Refused by the argument spec (a value that is not a number), by its range or by the role's own check.
        flat = " ".join(output.split())
        assert proc.returncode != 0 and name in flat, output[-2000:]
        assert ("'%s'" % value) in flat or ("got %s;" % value) in flat, output[-2000:]
        assert "nothing was changed" in flat.lower() or "Validation of arguments failed" in flat, output[-2000:]
        mark = os.path.join(STATE, "hv1", "lib", "drover", "maintenance.json")
        assert where("n1", HOSTS) == ["hv1"] and not os.path.exists(mark)


def test_the_only_host_to_drain_down_leaves_a_report_and_changes_nothing(tmp_path):
    guests("hv2", ["m1"], vcpus=1)
    os.kill(daemon_pid("hv2", "sshd"), signal.SIGKILL)
    proc = start_evacuation("hv2", str(tmp_path))
    output = proc.communicate(timeout=900)[0]
    assert proc.returncode != 0, output[-4000:]
    rep = report(str(tmp_path))
    assert rep["status"] == "stopped" and "no host to drain could be read" in rep["stopped"], output[-3000:]
    assert rep["results"] == [] and [u["host"] for u in rep["unreachable"]] == ["hv2"]
    assert where("m1", HOSTS) == ["hv2"]
