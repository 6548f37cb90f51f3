"""drover.libvirt.migrate against real libvirtd + QEMU hypervisors in the lab."""
import libvirt
import pytest

from labfixture import (
    NET,
    STATE,
    assert_runs_only_on,
    fleet_snapshot,
    heartbeat,
    lab,
    migrate,
    module_facts,
    placement,
    playbook,
    uri,
    wait_heartbeat_after,
)

pytestmark = pytest.mark.usefixtures("lab_up")


def assert_metrics_plausible(result):
    metrics = result["metrics"]
    assert 0 < metrics["downtime_ms"] < metrics["duration_ms"], metrics
    assert metrics["data_bytes"] > 16 * 1024 * 1024, metrics  # at least the guest's touched RAM
    assert metrics["memory_iterations"] >= 1, metrics
    assert metrics["source_of_metrics"] == "source_completed_event"


def test_hypervisor_info_reports_each_host_and_its_domains():
    facts = {h: module_facts(h, "drover.libvirt.hypervisor_info") for h in ("hv1", "hv2", "hv3")}
    assert [facts[h]["hypervisor"]["hostname"] for h in ("hv1", "hv2", "hv3")] == ["hv1", "hv2", "hv3"]
    assert len({f["hypervisor"]["host_uuid"] for f in facts.values()}) == 3
    assert facts["hv1"]["hypervisor"]["libvirt_version"] == "%d.%d.%d" % (
        libvirt.getVersion() // 1000000, libvirt.getVersion() // 1000 % 1000, libvirt.getVersion() % 1000)
    vms = {d["name"]: d for d in facts["hv1"]["domains"]}
    assert {"vm1", "vm2"} <= set(vms)
    assert vms["vm1"]["state"] == "running" and vms["vm1"]["persistent"] is True
    assert vms["vm1"]["memory_kib"] == 128 * 1024 and vms["vm1"]["vcpus"] == 1
    assert facts["hv2"]["domains"] == [] and facts["hv2"]["changed"] is False


def test_playbook_moves_running_guest_and_it_keeps_running():
    before = heartbeat("hv1", "vm1")
    assert before, "vm1 printed no heartbeat on hv1"
    proc = playbook("playbooks/migrate.yml", {"drover_vm": "vm1", "drover_to": "hv2"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "vm1: hv1 -> hv2" in proc.stdout
    assert_runs_only_on("vm1", "hv2")
    wait_heartbeat_after("hv2", "vm1", before)


def test_module_moves_it_back_with_metrics():
    before = heartbeat("hv2", "vm1")
    result = migrate("hv2", name="vm1", dest="hv1")
    assert not result.get("failed"), result
    assert result["changed"] is True
    assert (result["source_host"], result["destination_host"]) == ("hv2", "hv1")
    assert result["flags"] == ["LIVE", "PEER2PEER", "ABORT_ON_ERROR", "PERSIST_DEST", "UNDEFINE_SOURCE",
                               "POSTCOPY"]  # the default preset, auto, never throttles and may switch to post-copy
    assert result["convergence"]["preset"] == "auto"
    assert_metrics_plausible(result)
    assert_runs_only_on("vm1", "hv1")
    wait_heartbeat_after("hv1", "vm1", before)
    print("hv2 -> hv1: downtime %(downtime_ms)d ms, duration %(duration_ms)d ms" % result["metrics"])


def test_rerun_is_ok_without_change():
    before = fleet_snapshot()
    result = migrate("hv2", name="vm1", dest="hv1")
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert "metrics" not in result
    assert fleet_snapshot() == before


def test_the_playbook_again_finishes_a_move_that_left_its_source_definition():
    """Running on its destination, still defined (shut off) on its old host, as a move that finished after
    its run was cut off leaves it: the same playbook again removes that definition and moves nothing."""
    before = heartbeat("hv1", "vm1")
    assert lab("guest", "vm1", "--host", "hv3", "--define-copy-from", "hv1", check=False).returncode == 0
    assert placement("vm1")["hv3"] == {"active": False, "persistent": True, "state": libvirt.VIR_DOMAIN_SHUTOFF}
    proc = playbook("playbooks/migrate.yml", {"drover_vm": "vm1", "drover_to": "hv1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "vm1 already runs on hv1; finished an earlier move: undefine_source on hv3" in proc.stdout, proc.stdout
    assert_runs_only_on("vm1", "hv1")
    proc = playbook("playbooks/migrate.yml", {"drover_vm": "vm1", "drover_to": "hv1"})
    assert proc.returncode == 0 and "vm1 already runs on hv1; nothing moved" in proc.stdout, proc.stdout + proc.stderr
    assert_runs_only_on("vm1", "hv1")
    wait_heartbeat_after("hv1", "vm1", before)


def test_check_mode_predicts_and_moves_nothing():
    before, beat = fleet_snapshot(), heartbeat("hv1", "vm1")
    result = migrate("hv1", check=True, name="vm1", dest="hv2")
    assert not result.get("failed"), result
    assert result["changed"] is True
    assert result["destination_host"] == "hv2"
    assert fleet_snapshot() == before
    wait_heartbeat_after("hv1", "vm1", beat)
    unchanged = migrate("hv2", check=True, name="vm1", dest="hv1")
    assert unchanged["changed"] is False


def test_timeout_aborts_the_job_and_the_guest_stays_on_the_source():
    before = heartbeat("hv1", "vm2")
    # 1 MiB/s cannot move 128 MiB of RAM in 3 s.
    result = migrate("hv1", name="vm2", dest="hv2", bandwidth=1, timeout=3, convergence="none")
    assert result.get("failed"), result
    assert "aborted by the convergence policy (ran 3." in result["msg"]
    assert "still running on the source" in result["msg"]
    assert result["timed_out"] is True and result["vm_location"] == "source"
    assert result["decisions"][0]["action"] == "abort"
    assert_runs_only_on("vm2", "hv1")
    conn = libvirt.open(uri("hv1"))
    try:
        assert conn.lookupByName("vm2").jobInfo()[0] == libvirt.VIR_DOMAIN_JOB_NONE
    finally:
        conn.close()
    wait_heartbeat_after("hv1", "vm2", before)


def test_tls_control_connection_and_tls_migration_stream():
    client = libvirt.open("qemu+tls://%s.3/system?pkipath=%s/pki/client" % (NET, STATE))
    try:
        assert client.getHostname() == "hv3"
    finally:
        client.close()
    before = heartbeat("hv1", "vm2")
    result = migrate("hv1", name="vm2", dest="qemu+tls://%s.3/system" % NET, tls=True)
    assert not result.get("failed"), result
    assert "TLS" in result["flags"]
    assert result["destination"] == "qemu+tls://%s.3/system" % NET
    assert_runs_only_on("vm2", "hv3")
    wait_heartbeat_after("hv3", "vm2", before)


@pytest.fixture(scope="module")
def stopped_guest():
    proc = lab("guest", "vmoff", "--host", "hv1", "--no-start", check=False)
    assert proc.returncode == 0, proc.stderr
    return "vmoff"


BAD_INPUTS = [
    ("unknown domain", dict(name="nosuchvm", dest="hv2"), "was not found on the source nor on the destination"),
    ("domain not running", dict(name="vmoff", dest="hv2"), "is not running on the source (state: shutoff)"),
    ("unreachable destination", dict(name="vm1", dest=NET + ".99", transport="tcp", allow_insecure_transport=True),
     "cannot connect to the destination qemu+tcp://%s.99/system" % NET),
    ("destination is the source", dict(name="vm1", dest="hv1"), "is the source host itself"),
    ("malformed uri", dict(name="vm1", dest="qemu+ssh://hv2"), "path must be one of"),
    ("unknown scheme", dict(name="vm1", dest="xen+ssh://hv2/system"), "scheme must be qemu"),
    ("hostile destination", dict(name="vm1", dest="hv2; reboot"), "neither a libvirt URI nor a valid host name"),
    ("quoted destination", dict(name="vm1", dest="qemu+ssh://hv2'/system"), "characters a libvirt URI cannot hold"),
    ("name with spaces", dict(name="vm 1", dest="hv2"), "'vm 1' was not found"),
    ("name with quotes", dict(name="vm'1\"", dest="hv2"), "was not found"),
    ("name with semicolon", dict(name="vm1;virsh destroy vm1", dest="hv2"), "was not found"),
    ("unicode name", dict(name="vm\u00e9\u4e2d", dest="hv2"), "was not found"),
    ("slash in name", dict(name="../vm1", dest="hv2"), "is not a valid libvirt domain name"),
    ("zero timeout", dict(name="vm1", dest="hv2", timeout=0), "timeout must be from 1 to 604800, got 0; nothing was changed"),
]


@pytest.mark.parametrize("args,message", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_fails_clearly_and_moves_nothing(stopped_guest, args, message):
    assert stopped_guest
    before, beat = fleet_snapshot(), heartbeat("hv1", "vm1")
    result = migrate("hv1", **args)
    assert result.get("failed"), result
    assert message in result["msg"], result["msg"]
    assert fleet_snapshot() == before
    wait_heartbeat_after("hv1", "vm1", beat)


def test_playbook_refuses_a_domain_that_runs_nowhere():
    proc = playbook("playbooks/migrate.yml", {"drover_vm": "vmoff", "drover_to": "hv2"})
    assert proc.returncode != 0
    assert "vmoff runs on 0 hosts of the play (none); nothing was moved" in proc.stdout
    assert placement("vmoff") == {"hv1": {"active": False, "persistent": True,
                                          "state": libvirt.VIR_DOMAIN_SHUTOFF}}
