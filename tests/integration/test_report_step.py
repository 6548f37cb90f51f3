"""The evacuate and preflight roles' reports, written by the roles themselves from recorded results: where
they go, what set_stats publishes, and a report directory that cannot be written. No hypervisor is touched
(the hosts are this machine, over the local connection), so no lab is needed.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

from ansible_collections.drover.libvirt.plugins.filter.report_html import FilterModule as HtmlFilters
from ansible_collections.drover.libvirt.plugins.filter.report_stats import FilterModule as StatsFilters

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURE = os.path.join(HERE, "fixtures", "evacuation_report.json")
PREFLIGHT_FIXTURE = os.path.join(HERE, "fixtures", "preflight_report.json")
HARNESS = os.path.join(HERE, "playbooks", "evacuation_report.yml")
PREFLIGHT_HARNESS = os.path.join(HERE, "playbooks", "preflight_report.yml")
EVACUATE = "- name: Evacuate\n  hosts: hypervisors\n  gather_facts: false\n  roles:\n    - drover.libvirt.evacuate\n"
# The role's start alone: the steps after it need hypervisors.
START = ("- name: Start an evacuation\n  hosts: hypervisors\n  gather_facts: false\n  tasks:\n"
         "    - name: Read the variables\n      ansible.builtin.include_role:\n        name: drover.libvirt.evacuate\n"
         "        tasks_from: inputs.yml\n"
         "    - name: Start\n      ansible.builtin.include_role:\n        name: drover.libvirt.evacuate\n"
         "        tasks_from: start.yml\n")


def recorded(path=FIXTURE):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture
def inventory(tmp_path):
    """Five hypervisors that are this machine (local connection, this Python)."""
    path = tmp_path / "inventory.ini"
    path.write_text("[hypervisors]\nhv1\nhv2\nhv3\nhv4\nhv5\n\n[hypervisors:vars]\nansible_connection=local\n"
                    "ansible_python_interpreter=%s\n" % sys.executable)
    return str(path)


def run(book, inventory, cwd, extra=None, limit=None, read_only=None):
    """ansible-playbook from `cwd`; with `read_only`, that directory is mounted read-only for the run
    (in a mount namespace of its own, as root), like a collection installed read-only."""
    cmd = ["ansible-playbook", "-i", inventory, book]
    if extra is not None:
        cmd += ["-e", "@" + extra]
    if limit:
        cmd += ["-l", limit]
    if read_only:
        cmd = ["unshare", "--mount", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', read_only] + cmd
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_SHOW_CUSTOM_STATS="1", ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    return subprocess.run(cmd, cwd=cwd, env=env, text=True, capture_output=True, check=False)


def custom_stats(stdout):
    """What set_stats published, as the default callback prints it at the end of the run."""
    (line,) = [line for line in stdout.splitlines() if line.startswith("\tRUN: ")]
    return json.loads(line[len("\tRUN: "):])


def inputs_from(report):
    """The role's inputs that made `report`: each host's move results, the plan, the verification, the run."""
    moved = {}
    for result in report["results"]:
        if "tries" in result:  # a move's result; the others are the plan's, left where they were
            moved.setdefault(result["from"], []).append({k: v for k, v in result.items() if k != "verify"})
    return {"recorded_moves": moved, "evacuate_plan": report["plan"], "evacuate_hosts": report["hosts"],
            "verify_results": [dict(r["verify"], name=r["name"]) for r in report["results"] if r.get("verify")],
            "preflight_unreachable": report["unreachable"], "evacuate_unmigratable": "skip", "evacuate_mark": False,
            "_evacuate_run_id": report["run_id"], "_evacuate_owner": report["owner"],
            "_evacuate_started_at": report["started_at"]}


def test_the_role_writes_json_junit_and_html_beside_the_playbook_and_publishes_every_domain(tmp_path, inventory):
    report = recorded()
    book_dir = tmp_path / "book"
    book_dir.mkdir()
    book = shutil.copy(HARNESS, book_dir)
    extra = tmp_path / "inputs.json"
    extra.write_text(json.dumps(inputs_from(report)), encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    proc = run(book, inventory, cwd=elsewhere, extra=str(extra))
    # The recorded run failed one domain and one verification: the role says so and fails the play.
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Evacuation of hv1, hv2 incomplete" in proc.stdout

    # Beside the playbook by default, never in the directory the command was started in.
    reports = book_dir / "reports"
    assert sorted(os.listdir(reports)) == ["evacuation.html", "evacuation.json", "evacuation.xml"]
    assert not (elsewhere / "reports").exists()
    assert "Reports in %s." % reports in proc.stdout

    written = json.loads((reports / "evacuation.json").read_text(encoding="utf-8"))
    assert written.pop("finished_at") != report.pop("finished_at")
    assert written == report  # the recorded report is exactly what the role writes

    # The page is built from the same data as evacuation.json.
    html = (reports / "evacuation.html").read_text(encoding="utf-8")
    assert html == HtmlFilters().filters()["report_html"](dict(written, finished_at=json.loads(
        (reports / "evacuation.json").read_text(encoding="utf-8"))["finished_at"]))

    stats = custom_stats(proc.stdout)
    assert list(stats) == ["drover_evacuation"]
    evacuation = stats["drover_evacuation"]
    assert set(evacuation) == set(report["summary"]) | {"hosts", "ok", "run_id", "unreachable", "stopped", "vms"}
    assert evacuation["ok"] is False and evacuation["unreachable"] == ["hv5"] and evacuation["stopped"] is None
    assert evacuation["failed"] == ["<img src=x onerror=alert(1)>"] and evacuation["verify_failed"] == ["app-02"]
    assert evacuation["vms"] == StatsFilters().filters()["vm_stats"](report["results"])
    by_name = {vm["domain"]: vm for vm in evacuation["vms"]}
    assert by_name['db<primary>&"main"'] == {
        "domain": 'db<primary>&"main"', "source": "hv1", "destination": "hv4", "status": "migrated",
        "verified": True, "downtime_ms": 212, "seconds": 14.5, "reason": None}
    assert by_name["pinned-licence"]["status"] == "skipped" and by_name["pinned-licence"]["seconds"] is None


@pytest.mark.parametrize("case", ["read-only", "file in the way", "evacuate_report_dir"])
def test_reports_that_cannot_be_written_refuse_the_run_before_anything_is_marked(tmp_path, inventory, case):
    book_dir = tmp_path / "book"
    book_dir.mkdir()
    (book_dir / "evacuate.yml").write_text(EVACUATE)
    target, extra, read_only = book_dir / "reports", None, None
    if case == "read-only":
        read_only = str(book_dir)  # the playbook's directory, as in a collection installed read-only
    else:
        # A file where the directory would go: no directory can be made there, by root neither.
        (book_dir / "reports").write_text("not a directory\n")
    if case == "evacuate_report_dir":
        target = book_dir / "reports" / "evacuations"
        extra = tmp_path / "vars.json"
        extra.write_text(json.dumps({"evacuate_report_dir": str(target)}))

    proc = run(str(book_dir / "evacuate.yml"), inventory, cwd=tmp_path, extra=extra and str(extra), limit="hv1",
               read_only=read_only)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert ("Nothing was changed: the reports cannot be written to %s (evacuate_report_dir)" % target
            in proc.stdout), proc.stdout
    # Refused before the run is named: no mark, no claim, no report.
    assert "Mark this host as draining" not in proc.stdout
    assert "Name this run" not in proc.stdout
    assert sorted(os.listdir(book_dir)) == ["evacuate.yml"] + (["reports"] if read_only is None else [])


def test_a_run_that_starts_replaces_the_previous_run_s_pages(tmp_path, inventory):
    """Until it reports, a run's JSON and HTML say it is in progress (or was interrupted), never the last result."""
    book_dir = tmp_path / "book"
    (book_dir / "reports").mkdir(parents=True)
    (book_dir / "start.yml").write_text(START)
    (book_dir / "reports" / "evacuation.html").write_text("the previous run's page\n")
    proc = run(str(book_dir / "start.yml"), inventory, cwd=tmp_path, limit="hv1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    written = json.loads((book_dir / "reports" / "evacuation.json").read_text(encoding="utf-8"))
    assert written["status"] == "running" and written["hosts"] == ["hv1"] and written["results"] == []
    page = (book_dir / "reports" / "evacuation.html").read_text(encoding="utf-8")
    assert page == HtmlFilters().filters()["report_html"](written)
    assert "it is in progress, or it was interrupted" in page


def preflight_inputs(tmp_path, report, **more):
    extra = tmp_path / "verdicts.json"
    extra.write_text(json.dumps(dict({"recorded_verdicts": report["results"], "preflight_sources": report["sources"],
                                      "preflight_unreachable": report["unreachable"]}, **more)), encoding="utf-8")
    return str(extra)


def test_the_preflight_role_writes_its_report_beside_the_playbook_and_publishes_the_verdicts(tmp_path, inventory):
    report = recorded(PREFLIGHT_FIXTURE)
    book_dir = tmp_path / "book"
    book_dir.mkdir()
    book = shutil.copy(PREFLIGHT_HARNESS, book_dir)
    proc = run(book, inventory, cwd=tmp_path, extra=preflight_inputs(tmp_path, report))
    assert proc.returncode == 0, proc.stdout + proc.stderr

    assert os.listdir(book_dir / "reports") == ["preflight.json"]
    assert json.loads((book_dir / "reports" / "preflight.json").read_text(encoding="utf-8")) == report
    # vm1 may go to hv2, or to hv3 with its disk copied; vm2 only to hv3 (hv2 lacks memory).
    assert custom_stats(proc.stdout) == {"drover_preflight": {
        "ok": True, "require": "any", "blocked": [], "unreachable": ["hv4"],
        "vms": [{"domain": "vm1", "source": "hv1", "pass": ["hv2"], "warn": ["hv3"], "copy": ["hv3"], "fail": {}},
                {"domain": "vm2", "source": "hv1", "pass": ["hv3"], "warn": [], "copy": [],
                 "fail": {"hv2": ["capacity"]}}]}}


def test_a_preflight_report_that_cannot_be_written_fails_naming_the_variable(tmp_path, inventory):
    book_dir = tmp_path / "book"
    book_dir.mkdir()
    book = shutil.copy(PREFLIGHT_HARNESS, book_dir)
    (book_dir / "reports").write_text("not a directory\n")
    proc = run(book, inventory, cwd=tmp_path, extra=preflight_inputs(tmp_path, recorded(PREFLIGHT_FIXTURE)))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert ("The preflight report cannot be written to %s (preflight_report_dir)" % (book_dir / "reports")
            in proc.stdout), proc.stdout
