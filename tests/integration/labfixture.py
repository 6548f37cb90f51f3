"""Helpers for tests that run against the real lab (lab/lab): hosts, placement, heartbeats, Ansible."""
import json
import os
import subprocess
import sys
import tempfile
import time

import libvirt

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB = os.path.join(ROOT, "lab", "lab")
sys.path.insert(0, os.path.join(ROOT, "lab"))  # the lab's package, drover_lab

from drover_lab.config import NET, STATE
from drover_lab.heartbeat import read_heartbeat

HOSTS = ["hv1", "hv2", "hv3"]

libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


def lab(*args, check=True):
    return subprocess.run([LAB] + list(args), check=check, text=True, capture_output=True)


def uri(host):
    return "qemu+tcp://%s.%s/system" % (NET, host[2:])


def placement(name):
    """{host: {"active", "persistent", "state"}} for every lab host that knows the domain."""
    found = {}
    for host in HOSTS:
        conn = libvirt.open(uri(host))
        try:
            dom = conn.lookupByName(name)
            state = dom.state()[0]
            found[host] = {"active": bool(dom.isActive()), "persistent": bool(dom.isPersistent()),
                           "state": state}
        except libvirt.libvirtError:
            pass
        finally:
            conn.close()
    return found


def fleet_snapshot():
    """Every domain of the fleet with where it is active and where it is defined."""
    snap = {}
    for host in HOSTS:
        conn = libvirt.open(uri(host))
        try:
            for dom in conn.listAllDomains(0):
                snap.setdefault(dom.name(), []).append((host, bool(dom.isActive()), bool(dom.isPersistent())))
        finally:
            conn.close()
    return {k: sorted(v) for k, v in snap.items()}


def assert_runs_only_on(name, host):
    """The invariant: active on exactly one host, persistently defined on exactly that host."""
    where = placement(name)
    active = [h for h, p in where.items() if p["active"]]
    persistent = [h for h, p in where.items() if p["persistent"]]
    assert active == [host], "%s active on %s, expected only %s" % (name, active, host)
    assert persistent == [host], "%s persistent on %s, expected only %s" % (name, persistent, host)
    assert where[host]["state"] == libvirt.VIR_DOMAIN_RUNNING


def heartbeat(host, name):
    """Last heartbeat {seq, boot_id} the guest printed on this host's serial log, or None."""
    return read_heartbeat(os.path.join(STATE, host), name)


def wait_heartbeat_after(host, name, before, timeout=30):
    """Wait until the guest ticks on `host` past `before` with the same boot id; return the tick."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = heartbeat(host, name)
        if last and last["boot_id"] == before["boot_id"] and last["seq"] > before["seq"]:
            return last
        time.sleep(0.25)
    raise AssertionError("%s did not keep running on %s: last heartbeat %s, before %s"
                         % (name, host, last, before))


def playbook(path, extra_vars=None, check=False, limit=None):
    cmd = ["ansible-playbook", os.path.join(ROOT, path)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if check:
        cmd.append("--check")
    if limit:
        cmd += ["-l", limit]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    return subprocess.run(cmd, cwd=ROOT, env=env, text=True, capture_output=True, check=False)


def run_module(book, host, check=False, **module_args):
    """Run a module through one of tests/integration/playbooks on `host`; return the task's result."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        proc = playbook("tests/integration/playbooks/%s" % book,
                        {"target": host, "module_args": module_args, "result_file": out}, check=check)
        if not os.path.exists(out):
            raise AssertionError("no result from the module:\n%s\n%s" % (proc.stdout, proc.stderr))
        with open(out) as f:
            return json.load(f)


def migrate(host, check=False, **module_args):
    """Run drover.libvirt.migrate on `host` through Ansible; return the task's result."""
    return run_module("migrate_module.yml", host, check, **module_args)


def module_facts(host, module, args=None):
    """Run a module ad hoc on `host` (args as key=value text); return its result dict."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_CALLBACK_RESULT_FORMAT="json", ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(["ansible", host, "-m", module, "-o"] + (["-a", args] if args else []), cwd=ROOT, env=env,
                          text=True, capture_output=True, check=False)
    assert " => " in proc.stdout, proc.stdout + proc.stderr
    return json.loads(proc.stdout.split(" => ", 1)[1])


def steer_async(host, module_args, wait_phase, job_steps):
    """Run migrate under async, then migration_job with each step; return {job, steer: [...], final}."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        proc = playbook("tests/integration/playbooks/steer_async.yml",
                        {"target": host, "module_args": module_args, "wait_phase": wait_phase,
                         "job_steps": job_steps, "result_file": out})
        if not os.path.exists(out):
            raise AssertionError("no result from the playbook:\n%s\n%s" % (proc.stdout, proc.stderr))
        with open(out) as f:
            return json.load(f)


def evacuate(host, check=False, **role_vars):
    """Run playbooks/evacuate.yml -l host; return (process, evacuation report or None, preflight report or None)."""
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)  # as the role makes it, so a re-run changes nothing there
        role_vars.setdefault("evacuate_report_dir", tmp)
        proc = playbook("playbooks/evacuate.yml", role_vars, check=check, limit=host)
        reports = [_read(os.path.join(role_vars["evacuate_report_dir"], name), json.load)
                   for name in ("evacuation.json", "preflight.json")]
        junit = _read(os.path.join(role_vars["evacuate_report_dir"], "evacuation.xml"), lambda f: f.read())
        if reports[0] is not None:
            reports[0]["junit"] = junit
        return proc, reports[0], reports[1]


def _read(path, how):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return how(f)


def maintenance_mark(host):
    """The maintenance mark of a lab host, read as the module does (a file in its private libvirt state)."""
    return _read(os.path.join(STATE, host, "lib", "drover", "maintenance.json"), json.load)
