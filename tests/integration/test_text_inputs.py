"""Every variable of the playbooks given as text, as `-e key=value` and AWX text surveys send them.

Role argument validation checks that "3" could be an int but leaves it text; the roles read their
variables typed (filter role_inputs). Each playbook runs here with every variable as text and must
do what the typed values say; a value that cannot be read is refused by name, changing nothing.
"""
import json
import os
import subprocess
import tempfile

import libvirt
import pytest

from labfixture import ROOT, assert_runs_only_on, fleet_snapshot, maintenance_mark, uri

PROBE = os.path.join(ROOT, "lab", "alive")


def run_text(path, text_vars, limit=None, check=False):
    """ansible-playbook with each variable as its own `-e key=value` (all text)."""
    cmd = ["ansible-playbook", os.path.join(ROOT, path)]
    for key, value in text_vars.items():
        assert isinstance(value, str), key
        cmd += ["-e", "%s=%s" % (key, value)]
    cmd += (["-l", limit] if limit else []) + (["--check"] if check else [])
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    return subprocess.run(cmd, cwd=ROOT, env=env, text=True, capture_output=True, check=False)


def spec_names(role):
    import yaml
    with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")) as f:
        return set(yaml.safe_load(f)["argument_specs"]["main"]["options"])


@pytest.fixture(scope="module", autouse=True)
def fleet(lab_up):
    yield


def test_preflight_with_every_variable_as_text():
    with tempfile.TemporaryDirectory() as reports:
        text = {"preflight_group": "hypervisors", "preflight_destinations": "hv2,hv3", "preflight_domains": "vm1,vm2",
                "preflight_include_shutoff": "false", "preflight_require": "any", "preflight_required_checks": "",
                "preflight_copy_storage": "false", "preflight_reserved_memory_mib": "256",
                "preflight_vcpu_ratio": "4.5", "preflight_bandwidth": "1000", "preflight_convergence": "balanced",
                "preflight_dirty_rate_seconds": "0", "preflight_transport": "ssh",
                "preflight_allow_insecure_transport": "false",
                "preflight_migration_ports": "49152-49215", "preflight_facts_concurrency": "4",
                "preflight_facts_timeout": "20", "preflight_candidate_hosts": "0", "preflight_candidate_margin": "2",
                "preflight_candidate_seed": "text", "preflight_report_dir": reports, "preflight_report": "true"}
        assert set(text) == spec_names("preflight")
        proc = run_text("playbooks/preflight.yml", text, limit="hv1")
        assert proc.returncode == 0, proc.stdout[-3000:]
        with open(os.path.join(reports, "preflight.json")) as f:
            report = json.load(f)
    pairs = {(r["domain"], r["destination"]): r["status"] for r in report["results"]}
    assert set(pairs) == {(vm, hv) for vm in ("vm1", "vm2") for hv in ("hv2", "hv3")}
    assert set(pairs.values()) == {"pass"}, pairs


def test_migrate_with_every_variable_as_text():
    text = {"drover_vm": "vm1", "drover_to": "hv2", "drover_hosts": "hypervisors", "drover_transport": "ssh",
            "drover_convergence": "balanced", "drover_timeout": "120", "drover_bandwidth": "0",
            "drover_allow_insecure_transport": "false", "drover_tls": "true"}
    proc = run_text("playbooks/migrate.yml", text)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert_runs_only_on("vm1", "hv2")


def test_a_value_that_cannot_be_read_is_refused_by_name_and_changes_nothing():
    before = fleet_snapshot()
    with tempfile.TemporaryDirectory() as reports:
        proc = run_text("playbooks/evacuate.yml", {"evacuate_candidate_margin": "nan", "evacuate_report_dir": reports},
                        limit="hv1")
        assert proc.returncode != 0
        assert "evacuate_candidate_margin: cannot read 'nan' as a number" in proc.stdout
        assert os.listdir(reports) == []
    assert fleet_snapshot() == before
    assert maintenance_mark("hv1") is None


def test_evacuate_with_every_variable_as_text():
    with tempfile.TemporaryDirectory() as reports:
        text = {"evacuate_group": "hypervisors", "evacuate_hosts": "hv1", "evacuate_select": "",
                "evacuate_anti_affinity": "{}", "evacuate_affinity": "{}", "evacuate_memory_headroom_pct": "5",
                "evacuate_reserved_memory_mib": "256", "evacuate_vcpu_ratio": "8.0", "evacuate_max_parallel": "3",
                "evacuate_max_per_source": "2", "evacuate_max_per_destination": "1", "evacuate_retries": "2",
                "evacuate_unmigratable": "fail", "evacuate_shutoff": "move", "evacuate_copy_storage": "false",
                "evacuate_convergence": "balanced", "evacuate_convergence_knobs": "{}", "evacuate_bandwidth": "0",
                "evacuate_timeout": "120", "evacuate_transport": "ssh", "evacuate_candidate_hosts": "1",
                "evacuate_allow_insecure_transport": "false", "evacuate_tls": "true",
                "evacuate_candidate_margin": "1.5", "evacuate_shutdown_timeout": "60",
                # "false" as text is true in Jinja: the host staying unmarked proves it was read as false.
                "evacuate_mark": "false", "evacuate_mark_reason": "text survey", "evacuate_verify": "true",
                "evacuate_verify_probe_command": PROBE, "evacuate_verify_probe_timeout": "45", "evacuate_run_id": "text-run-1", "evacuate_owner": "survey-user",
                "evacuate_claim_ttl": "300", "evacuate_wait_for_capacity": "0", "evacuate_report_dir": reports,
                # "false" again: vm2 arriving without an origin record proves it.
                "evacuate_record_origin": "false", "evacuate_mark_by": "ticket-7", "evacuate_progress_interval": "3",
                "evacuate_dirty_rate_seconds": "1"}
        assert set(text) == spec_names("evacuate")
        proc = run_text("playbooks/evacuate.yml", text, limit="hv1")
        assert proc.returncode == 0, proc.stdout[-3000:]
        with open(os.path.join(reports, "evacuation.json")) as f:
            report = json.load(f)
    assert report["status"] == "finished" and report["ok"] is True
    assert (report["run_id"], report["owner"]) == ("text-run-1", "survey-user")
    moved = {r["name"]: r for r in report["results"]}
    assert set(moved) == {"vm2"} and moved["vm2"]["status"] == "migrated"
    # One destination read (evacuate_candidate_hosts=1) had room for vm2 at a margin of 1.5.
    assert len(report["plan"]["hosts_not_read"]) == 1
    assert_runs_only_on("vm2", moved["vm2"]["to"])
    assert maintenance_mark("hv1") is None
    assert "hv1: vm2 -> " in proc.stdout  # the move's progress lines
    conn = libvirt.open(uri(moved["vm2"]["to"]))
    try:
        with pytest.raises(libvirt.libvirtError):
            conn.lookupByName("vm2").metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, "urn:drover-libvirt:origin:1", 0)
    finally:
        conn.close()
