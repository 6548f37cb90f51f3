"""drover.libvirt run as AWX runs it: ansible-runner jobs, the collection installed from its tarball.

The tarball is built from a clean copy of the checkout and installed into a fresh collections path,
the only one the jobs see (an execution environment holds the collection that way); nothing of the
checkout's build/ link or ansible.cfg takes part. Each job gets a private data directory of its own,
laid out as AWX lays one out per job:

- project/: playbooks that import the collection's playbooks by name, as an AWX project holds them;
- inventory/: the lab's inventory script and the lab's host variables, less the SSH key file;
- env/extravars: AWX's own variables, the job template's extra variables (Jinja allowed there) and
  the survey's answers, all text and tagged !unsafe as AWX writes launch-time answers;
- env/envvars: the settings of the repository's ansible.cfg a job needs (the project ships no
  ansible.cfg; AWX takes such settings from its job environment);
- env/ssh_key: the lab's key, as a Machine credential (ansible-runner hands it to ssh-agent).

Results are read where AWX reads them: the job's status and rc, its stdout, and its events, set_stats
in the `artifact_data` of the `playbook_on_stats` event. The lab tests run in file order on one
lab: preflight, a migration there and back, an evacuation previewed (job type Check) then run, and
the drained host returned to service.
"""
import glob
import itertools
import json
import os
import subprocess

import pytest
import yaml

from collection_tarball import build_tarball, copy_checkout, tool, without_ansible_settings
from labfixture import ROOT, STATE, assert_runs_only_on, fleet_snapshot, maintenance_mark

PROBE = os.path.join(ROOT, "lab", "alive")
LAB_INVENTORY = os.path.join(ROOT, "lab", "inventory")

# The project: one playbook per job template, each importing the collection's playbook of that name.
PROJECT = ["evacuate", "preflight", "migrate", "return_to_service", "rolling_maintenance"]

# The repository's ansible.cfg takes no part: the project has none and the job runs in project/. Of
# its settings, these go to env/envvars, as AWX's "Extra Environment Variables" would carry them;
# collections_path becomes ANSIBLE_COLLECTIONS_PATH (the fresh install), the inventory and the stdout
# callback are ansible-runner's, forks is the job template's, the interpreter a host variable of the lab.
SETTINGS = {"ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_PIPELINING": "True"}

# The job template's Forks: at least evacuate_max_parallel plus a few (docs/awx.md).
FORKS = "10"

AWX_USER = "awx-operator"
JOB_IDS = itertools.count(4201)


class Survey(str):
    """A survey answer: AWX writes launch-time values tagged !unsafe, so they are never templated."""


class _ExtravarsDumper(yaml.SafeDumper):
    pass


_ExtravarsDumper.add_representer(Survey, lambda dumper, value: dumper.represent_scalar("!unsafe", str(value), style="'"))


@pytest.fixture(scope="module")
def collections_path(tmp_path_factory):
    """A fresh collections path holding drover.libvirt installed from the tarball of a clean copy."""
    work = tmp_path_factory.mktemp("drover-ee")
    source, output, installed = work / "libvirt", work / "dist", work / "collections"
    copy_checkout(str(source))
    output.mkdir()
    tarball = build_tarball(str(source), str(output))
    subprocess.run([tool("ansible-galaxy"), "collection", "install", tarball, "-p", str(installed)],
                   check=True, capture_output=True, text=True, cwd=str(work),
                   env=without_ansible_settings({"ANSIBLE_COLLECTIONS_PATH": str(installed)}))
    collection = installed / "ansible_collections" / "drover" / "libvirt"
    # Files of its own, not a link back to the checkout.
    assert not collection.is_symlink() and (collection / "MANIFEST.json").is_file()
    return str(installed)


class Job:
    """A finished ansible-runner job, read from its artifacts as AWX reads a job."""

    def __init__(self, private_dir, ident, proc):
        self.proc = proc
        self.artifacts = os.path.join(private_dir, "artifacts", ident)
        assert os.path.isdir(self.artifacts), "no artifacts:\n%s\n%s" % (proc.stdout[-3000:], proc.stderr[-3000:])
        self.reports = os.path.join(private_dir, "reports")
        self.status = self._read("status").strip()
        self.rc = int(self._read("rc"))
        self.stdout = self._read("stdout")
        events = glob.glob(os.path.join(self.artifacts, "job_events", "*.json"))
        self.events = sorted((json.loads(self._read(path)) for path in events), key=lambda event: event["counter"])

    def _read(self, name):
        with open(os.path.join(self.artifacts, name), encoding="utf-8") as f:
            return f.read()

    def assert_successful(self):
        assert (self.status, self.rc, self.proc.returncode) == ("successful", 0, 0), self.stdout[-4000:] + self.proc.stderr
        assert self.events, "a job without events"

    def stats(self):
        """What the playbooks published with set_stats (the job's artifacts in AWX)."""
        (stats,) = [e for e in self.events if e["event"] == "playbook_on_stats"]
        return stats["event_data"]["artifact_data"]

    def task_results(self, task):
        """The results of the task named `task`, one per host it ran on."""
        return [e["event_data"]["res"] for e in self.events
                if e["event"] == "runner_on_ok" and e["event_data"]["task"] == task]

    def collection_task_files(self):
        """The files of the collection the job's tasks came from."""
        paths = {e["event_data"]["task_path"].rsplit(":", 1)[0] for e in self.events
                 if e["event"] == "playbook_on_task_start" and e["event_data"].get("task_path")}
        return {p for p in paths if "/ansible_collections/drover/libvirt/" in p}


@pytest.fixture()
def awx_job(collections_path, tmp_path):
    """Run one project playbook as an AWX job; return the Job."""
    jobs = itertools.count()

    def run(playbook, survey=None, template=None, limit=None, check=False, reports=None, cmdline=None, credential=True):
        private_dir = tmp_path / ("job%d" % next(jobs))
        job_id = next(JOB_IDS)
        _lay_out(private_dir, collections_path, credential)
        extravars = {"awx_job_id": job_id, "awx_user_name": AWX_USER, "awx_job_template_name": playbook}
        extravars.update(template or {})
        if reports:
            (private_dir / "reports").mkdir()
            extravars[reports] = str(private_dir / "reports")
        extravars.update({key: Survey(value) for key, value in (survey or {}).items()})
        assert all(isinstance(value, str) for value in (survey or {}).values()), "survey answers are text"
        (private_dir / "env" / "extravars").write_text(yaml.dump(extravars, Dumper=_ExtravarsDumper), encoding="utf-8")
        cmd = [tool("ansible-runner"), "run", str(private_dir), "-p", playbook + ".yml", "--ident", str(job_id),
               "--forks", FORKS]
        cmd += ["--limit", limit] if limit else []
        # Job type Check adds --check to the command line, as AWX does.
        options = " ".join(filter(None, ["--check" if check else "", cmdline or ""]))
        cmd += ["--cmdline=" + options] if options else []  # one argument, though it starts with --
        # From outside the checkout; the venv's ansible-playbook first on PATH, as in an EE.
        env = without_ansible_settings({"PATH": os.path.dirname(tool("ansible-playbook")) + os.pathsep + os.environ["PATH"]})
        proc = subprocess.run(cmd, cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=1200, check=False)
        return Job(str(private_dir), str(job_id), proc)

    return run


def _lay_out(private_dir, collections_path, credential):
    """project/, inventory/ and env/ of a private data directory."""
    for name in ("project", "inventory/group_vars", "env"):
        (private_dir / name).mkdir(parents=True)
    for name in PROJECT:
        play = [{"name": "Run drover.libvirt.%s" % name, "ansible.builtin.import_playbook": "drover.libvirt.%s" % name}]
        (private_dir / "project" / (name + ".yml")).write_text(yaml.safe_dump(play, sort_keys=False), encoding="utf-8")
    # The script itself (it finds the lab's Python package and virtualenv from where it really is).
    (private_dir / "inventory" / "lab_hosts").symlink_to(os.path.join(LAB_INVENTORY, "lab_hosts"))
    with open(os.path.join(LAB_INVENTORY, "group_vars", "hypervisors.yml"), encoding="utf-8") as f:
        host_vars = yaml.safe_load(f)
    # The key file is found relative to the lab's inventory; the job has the key as a credential instead.
    del host_vars["ansible_ssh_private_key_file"]
    (private_dir / "inventory" / "group_vars" / "hypervisors.yml").write_text(yaml.safe_dump(host_vars), encoding="utf-8")
    envvars = dict(SETTINGS, ANSIBLE_COLLECTIONS_PATH=collections_path)
    (private_dir / "env" / "envvars").write_text(yaml.safe_dump(envvars), encoding="utf-8")
    if credential:
        with open(os.path.join(STATE, "ssh", "id_ed25519"), encoding="utf-8") as f:
            (private_dir / "env" / "ssh_key").write_text(f.read(), encoding="utf-8")


def assert_each_vm_runs_once():
    for name, places in fleet_snapshot().items():
        active = [host for host, is_active, _persistent in places if is_active]
        assert len(active) == 1, (name, places)
        assert_runs_only_on(name, active[0])


def test_every_project_playbook_resolves_from_the_installed_collection(awx_job):
    for name in PROJECT:
        job = awx_job(name, cmdline="--syntax-check", credential=False)
        job.assert_successful()
        assert "playbook: %s.yml" % name in job.stdout


def test_preflight_job(lab_up, awx_job, collections_path):
    job = awx_job("preflight", survey={"preflight_copy_storage": "false", "preflight_facts_concurrency": "4"},
                  limit="hv1", reports="preflight_report_dir")
    job.assert_successful()
    stats = job.stats()["drover_preflight"]
    assert (stats["ok"], stats["require"], stats["blocked"], stats["unreachable"]) == (True, "any", [], [])
    verdicts = {vm["domain"]: (vm["source"], sorted(vm["pass"]), vm["fail"]) for vm in stats["vms"]}
    assert verdicts == {"vm1": ("hv1", ["hv2", "hv3"], {}), "vm2": ("hv1", ["hv2", "hv3"], {})}
    with open(os.path.join(job.reports, "preflight.json"), encoding="utf-8") as f:
        report = json.load(f)
    assert report["kind"] == "drover.libvirt.preflight" and report["decision"]["ok"] is True
    files = job.collection_task_files()
    assert files and all(path.startswith(collections_path + os.sep) for path in files), files
    for name in ("vm1", "vm2"):
        assert_runs_only_on(name, "hv1")


def test_migrate_job_there_and_back(lab_up, awx_job):
    for source, destination in (("hv1", "hv2"), ("hv2", "hv1")):
        job = awx_job("migrate", survey={"drover_vm": "vm1", "drover_to": destination, "drover_timeout": "120",
                                         "drover_bandwidth": "0"})
        job.assert_successful()
        migration = job.stats()["drover_migration"]
        assert {k: migration[k] for k in ("domain", "source", "destination", "status", "verified", "reason")} == {
            "domain": "vm1", "source": source, "destination": destination, "status": "migrated", "verified": None,
            "reason": None}
        assert migration["downtime_ms"] >= 0 and migration["seconds"] >= 0
        assert_runs_only_on("vm1", destination)
        assert_runs_only_on("vm2", "hv1")


EVACUATE_SURVEY = {"evacuate_max_parallel": "2", "evacuate_verify": "true", "evacuate_copy_storage": "false"}
# Set on the job template, where AWX allows Jinja in extra variables (docs/awx.md).
EVACUATE_TEMPLATE = {"evacuate_run_id": "awx-{{ awx_job_id }}", "evacuate_verify_probe_command": PROBE}


def test_evacuate_job_of_type_check_prints_the_plan_and_changes_nothing(lab_up, awx_job):
    before = fleet_snapshot()
    job = awx_job("evacuate", survey=EVACUATE_SURVEY, template=EVACUATE_TEMPLATE, limit="hv1", check=True,
                  reports="evacuate_report_dir")
    job.assert_successful()
    (plan,) = job.task_results("Show the plan")
    moves = {line.split()[2]: line.split()[3:6] for line in plan["msg"] if line.startswith("wave ")}
    assert sorted(moves) == ["vm1", "vm2"], plan["msg"]
    assert all(src == "hv1" and dest in ("hv2", "hv3") for src, _arrow, dest in moves.values()), plan["msg"]
    assert all(line in job.stdout for line in plan["msg"])
    assert fleet_snapshot() == before
    assert maintenance_mark("hv1") is None


def test_evacuate_job(lab_up, awx_job, collections_path):
    job = awx_job("evacuate", survey=EVACUATE_SURVEY, template=EVACUATE_TEMPLATE, limit="hv1",
                  reports="evacuate_report_dir")
    job.assert_successful()
    run_id = "awx-%s" % os.path.basename(job.artifacts)
    stats = job.stats()
    evacuation = stats["drover_evacuation"]
    assert (evacuation["ok"], evacuation["hosts"], evacuation["run_id"], evacuation["unreachable"],
            evacuation["stopped"], evacuation["failed"], evacuation["moved"]) == (True, ["hv1"], run_id, [], None, [], 2)
    vms = {vm["domain"]: vm for vm in evacuation["vms"]}
    assert sorted(vms) == ["vm1", "vm2"]
    for name, vm in vms.items():
        assert (vm["source"], vm["status"], vm["verified"], vm["reason"]) == ("hv1", "migrated", True, None), vm
        assert vm["destination"] in ("hv2", "hv3")
        assert_runs_only_on(name, vm["destination"])
    assert stats["drover_preflight"]["ok"] is True
    with open(os.path.join(job.reports, "evacuation.json"), encoding="utf-8") as f:
        report = json.load(f)
    assert (report["status"], report["ok"], report["run_id"], report["owner"]) == ("finished", True, run_id, AWX_USER)
    assert {"evacuation.html", "evacuation.json", "evacuation.xml", "preflight.json"} <= set(os.listdir(job.reports))
    files = job.collection_task_files()
    assert files and all(path.startswith(collections_path + os.sep) for path in files), files
    assert maintenance_mark("hv1")["state"] == "maintenance"
    assert_each_vm_runs_once()


def test_return_to_service_job(lab_up, awx_job):
    before = fleet_snapshot()
    job = awx_job("return_to_service", limit="hv1")
    job.assert_successful()
    assert maintenance_mark("hv1") is None
    assert fleet_snapshot() == before
    assert_each_vm_runs_once()
