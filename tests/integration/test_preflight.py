"""Preflight on real hypervisors: every check fails for a real reason, and passes for the good case.

hv1 holds one guest per failure; hv2 and hv3 are the candidate destinations. hv3 also has its
memory committed to a large guest and its migration ports firewalled.
"""
import glob
import os

import pytest

from labfixture import NET, STATE, fleet_snapshot, lab, migrate, module_facts, playbook, run_module

GUESTS = [("good1", []), ("loc1", ["--storage", "local"]), ("net1", ["--network", "labnet"]),
          ("cpu1", ["--cpu", "Skylake-Server"]), ("shm1", ["--shmem"]),
          ("dup1", ["--tag", "anti-affinity=web", "--tag", "label:tier=db", "--tag", "pin"])]


def total_memory_mib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise AssertionError("no MemTotal in /proc/meminfo")


@pytest.fixture(scope="module", autouse=True)
def conditions():
    lab("down", check=False)
    try:
        assert lab("up", "--guests", "0", check=False).returncode == 0
        assert lab("network", "hv1", "labnet", "--mtu", "1500", check=False).returncode == 0
        assert lab("network", "hv3", "labnet", "--mtu", "9000", check=False).returncode == 0
        for name, extra in GUESTS:
            proc = lab("guest", name, "--host", "hv1", "--memory", "96", "--dirty-mb", "1", *extra, check=False)
            assert proc.returncode == 0, proc.stderr
        assert lab("guest", "dup1", "--host", "hv2", "--define-copy-from", "hv1", check=False).returncode == 0
        # Leave hv3 less memory than any guest needs once its own 1 GiB reserve is kept.
        big = total_memory_mib() - 1024 - 48
        proc = lab("guest", "big", "--host", "hv3", "--memory", str(big), "--dirty-mb", "0", check=False)
        assert proc.returncode == 0, proc.stderr
        assert lab("firewall", "hv3", "--block-migration", check=False).returncode == 0
        yield
    finally:
        lab("down", check=False)


@pytest.fixture(scope="module")
def verdicts():
    result = run_module("preflight_module.yml", "hv1", destinations=["hv2", "hv3"], copy_storage=False,
                        port_timeout=1)
    assert not result.get("failed"), result
    assert result["destinations"] == ["hv2", "hv3"]
    return {(r["domain"], r["destination"]): {c["id"]: c for c in r["checks"]} for r in result["results"]}


def status(checks):
    return {cid: c["status"] for cid, c in checks.items()}


def test_good_vm_passes_every_check_on_a_good_destination(verdicts):
    checks = verdicts[("good1", "hv2")]
    assert set(status(checks).values()) == {"pass"}, {k: c["reason"] for k, c in checks.items()}
    assert checks["storage"]["reason"] == "every disk is on storage hv2 sees at the same path"
    assert "are reachable" in checks["connectivity"]["reason"]


def test_local_only_disk_fails_storage(verdicts):
    check = verdicts[("loc1", "hv2")]["storage"]
    assert check["status"] == "fail"
    assert check["reason"].startswith("disk vda (/srv/drover/local/loc1.qcow2) is on storage hv2 cannot see")
    assert check["details"]["copy"] == ["vda"]


def test_missing_network_and_mtu_mismatch_fail_network(verdicts):
    missing = verdicts[("net1", "hv2")]["network"]
    assert (missing["status"], missing["reason"]) == ("fail", "network labnet does not exist on hv2")
    mtu = verdicts[("net1", "hv3")]["network"]
    assert mtu["status"] == "fail" and mtu["reason"] == "network labnet has MTU 9000 on hv3 but 1500 here"


def test_full_destination_fails_capacity(verdicts):
    check = verdicts[("good1", "hv3")]["capacity"]
    assert check["status"] == "fail"
    assert "but the domain needs 96 MiB" in check["reason"] and "reserved 1024" in check["reason"]
    assert check["details"]["committed_mib"] >= total_memory_mib() - 1024 - 48
    assert verdicts[("good1", "hv2")]["capacity"]["status"] == "pass"


def test_cpu_the_destination_cannot_provide_fails_cpu(verdicts):
    check = verdicts[("cpu1", "hv2")]["cpu"]
    assert check["status"] == "fail"
    assert check["reason"].startswith("hv2 cannot provide the domain's CPU:")
    assert "avx512f" in check["reason"]
    assert verdicts[("good1", "hv2")]["cpu"]["status"] == "pass"


def test_shared_memory_device_fails_blockers_and_really_blocks(verdicts):
    check = verdicts[("shm1", "hv2")]["blockers"]
    assert check["status"] == "fail" and "shared memory device shm1-shm" in check["reason"]
    before = fleet_snapshot()
    result = migrate("hv1", name="shm1", dest="hv2")
    assert result.get("failed") and "still running on the source" in result["msg"], result
    assert fleet_snapshot() == before


def test_domain_defined_on_the_destination_fails(verdicts):
    check = verdicts[("dup1", "hv2")]["defined_on_destination"]
    assert check["status"] == "fail"
    assert "hv2 already has a domain dup1 (the same UUID, shutoff, persistent)" in check["reason"]
    assert verdicts[("dup1", "hv3")]["defined_on_destination"]["status"] == "pass"


def test_blocked_migration_ports_fail_connectivity(verdicts):
    check = verdicts[("good1", "hv3")]["connectivity"]
    assert check["status"] == "fail"
    assert check["reason"].startswith("migration ports of hv3 at %s.3 do not answer from here" % NET)
    assert set(check["details"]["ports"].values()) == {"timeout"}


def test_copy_allowed_turns_local_storage_into_a_warning():
    result = run_module("preflight_module.yml", "hv1", destinations=["hv2"], domains=["loc1"], copy_storage=True)
    [verdict] = result["results"]
    storage = [c for c in verdict["checks"] if c["id"] == "storage"][0]
    assert storage["status"] == "warn" and verdict["copy_storage"] is True
    assert "the migration copies it" in storage["reason"]


def test_probes_leave_nothing_behind():
    leftovers = glob.glob(os.path.join(STATE, "*", "local", ".drover-probe-*"))
    leftovers += glob.glob(os.path.join(STATE, "shared", ".drover-probe-*"))
    assert leftovers == []
    assert "drover-probe" not in lab("exec", "hv2", "--", "virsh", "pool-list", "--all").stdout


def test_preflight_playbook_prints_the_matrix_and_fails_with_reasons(tmp_path):
    proc = playbook("playbooks/preflight.yml", {"preflight_report_dir": str(tmp_path)},
                    limit="hv1")
    assert proc.returncode != 0
    assert "FAIL(blockers" in proc.stdout and "shm1 -> hv2: blockers:" in proc.stdout, proc.stdout[-4000:]
    assert "Preflight failed for" in proc.stdout and "shm1" in proc.stdout
    assert (tmp_path / "preflight.json").exists()


def test_hypervisor_info_reports_what_placement_and_preflight_read():
    hv1 = module_facts("hv1", "drover.libvirt.hypervisor_info", "dirty_rate_seconds=2")
    pools = {p["pool"]: p for p in hv1["hypervisor"]["storage"]}
    assert pools["shared"]["shared"] is True and pools["local"]["shared"] is False
    net = hv1["hypervisor"]["networks"][0]
    assert (net["name"], net["active"], net["mtu"]) == ("labnet", True, 1500)
    assert hv1["hypervisor"]["maintenance"] is None and hv1["hypervisor"]["memory"]["total_kib"] > 0
    doms = {d["name"]: d for d in hv1["domains"]}
    assert [b["kind"] for b in doms["shm1"]["blockers"]] == ["shmem"]
    assert doms["net1"]["interfaces"][0]["type"] == "network" and doms["net1"]["interfaces"][0]["source"] == "labnet"
    assert doms["cpu1"]["cpu"]["model"] == "Skylake-Server"
    assert (doms["loc1"]["disks"][0]["shared"], doms["loc1"]["disks"][0]["pool"]) == (False, "local")
    assert doms["good1"]["disks"][0]["shared"] is True and doms["good1"]["disks"][0]["capacity_bytes"] == 64 << 20
    assert doms["dup1"]["tags"] == {"anti_affinity": ["web"], "affinity": [], "pinned": True, "labels": {"tier": "db"}}
    assert all(doms[n]["dirty_rate_mib_s"] is not None for n in ("good1", "loc1", "shm1"))
    hv3 = module_facts("hv3", "drover.libvirt.hypervisor_info")
    assert hv3["hypervisor"]["memory"]["committed_kib"] >= (total_memory_mib() - 1024 - 48) * 1024


def test_a_marked_destination_fails_preflight_until_the_mark_is_cleared():
    marked = module_facts("hv2", "drover.libvirt.host_maintenance", "mark=maintenance reason=firmware")
    assert marked["changed"] and marked["mark"]["state"] == "maintenance"
    try:
        facts = module_facts("hv2", "drover.libvirt.hypervisor_info", "domains=none")
        assert facts["hypervisor"]["maintenance"]["reason"] == "firmware"
        result = run_module("preflight_module.yml", "hv1", destinations=["hv2"], domains=["good1"])
        [verdict] = result["results"]
        check = [c for c in verdict["checks"] if c["id"] == "maintenance"][0]
        assert check["status"] == "fail" and check["reason"] == ("hv2 is marked maintenance (firmware); placement "
                                                                 "must not choose it")
    finally:
        cleared = module_facts("hv2", "drover.libvirt.host_maintenance", "state=absent")
    assert cleared["changed"] and cleared["mark"] is None
    result = run_module("preflight_module.yml", "hv1", destinations=["hv2"], domains=["good1"])
    assert result["results"][0]["status"] == "pass"


@pytest.mark.parametrize("args, message", [
    ({"dirty_rate_seconds": -1}, "dirty_rate_seconds must be from 0 to 60, got -1; nothing was changed"),
    ({"bandwidth": 0}, "bandwidth must be from 1 to "),
    ({"domains": ["nosuch"]}, "domain nosuch not found on this hypervisor; nothing was checked"),
])
def test_bad_input_is_refused_by_name(args, message):
    result = run_module("preflight_module.yml", "hv1", destinations=["hv2"], **args)
    assert result.get("failed") and message in result["msg"], result
