"""Migrating a guest whose disk is on host-local storage: copy, clean-up, refusals."""
import os
import subprocess

import pytest

from labfixture import STATE, assert_runs_only_on, fleet_snapshot, heartbeat, lab, migrate, wait_heartbeat_after

pytestmark = pytest.mark.usefixtures("lab_up")
MARKER = ["-c", "write -P 0x5a 1M 64k"]
CHECK = ["-c", "read -P 0x5a 1M 64k"]


def local_image(host, name):
    return os.path.join(STATE, host, "local", "%s.qcow2" % name)


def qemu_io(path, args, share=False):
    cmd = ["qemu-io", "-f", "qcow2"] + (["-U", "-r"] if share else []) + args + [path]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def local_guest():
    """loc1 on hv1's local-only storage, with a marker written to its disk before it boots."""
    assert lab("guest", "loc1", "--host", "hv1", "--storage", "local", "--no-start", check=False).returncode == 0
    written = qemu_io(local_image("hv1", "loc1"), MARKER)
    assert written.returncode == 0 and "wrote" in written.stdout, written.stdout + written.stderr
    proc = lab("guest", "loc1", "--host", "hv1", "--storage", "local", "--wait", check=False)
    assert proc.returncode == 0, proc.stderr
    return "loc1"


def test_local_disk_without_copy_is_refused_and_nothing_moves(local_guest):
    before = fleet_snapshot()
    result = migrate("hv1", name=local_guest, dest="hv2")
    assert result.get("failed"), result
    assert "it is still running on the source" in result["msg"]
    assert "shared storage" in result["msg"] or "unsafe" in result["msg"].lower()
    assert fleet_snapshot() == before
    assert not os.path.exists(local_image("hv2", local_guest))


def test_failed_copy_removes_the_volume_it_created(local_guest):
    before = heartbeat("hv1", local_guest)
    result = migrate("hv1", name=local_guest, dest="hv2", copy_storage="all", bandwidth=1, timeout=3,
                     convergence="none")
    assert result.get("failed"), result
    assert result["vm_location"] == "source"
    assert result["removed_from_destination"] == ["/srv/drover/local/loc1.qcow2"]
    assert not os.path.exists(local_image("hv2", local_guest))
    assert_runs_only_on(local_guest, "hv1")
    wait_heartbeat_after("hv1", local_guest, before)


def test_copy_moves_the_disk_with_its_data(local_guest):
    before = heartbeat("hv1", local_guest)
    result = migrate("hv1", name=local_guest, dest="hv2", copy_storage="all", remove_source_volumes=True)
    assert not result.get("failed"), result
    assert "NON_SHARED_DISK" in result["flags"]
    assert result["storage"]["disks"] == ["vda"]
    assert result["storage"]["precreate"] == ["/srv/drover/local/loc1.qcow2"]
    assert result["storage"]["removed_from_source"] == ["/srv/drover/local/loc1.qcow2"]
    assert result["metrics"]["disk_bytes"] > 0
    assert_runs_only_on(local_guest, "hv2")
    wait_heartbeat_after("hv2", local_guest, before)
    check = qemu_io(local_image("hv2", local_guest), CHECK, share=True)
    assert check.returncode == 0 and "read" in check.stdout and "Pattern verification failed" not in check.stdout, \
        check.stdout + check.stderr
    assert not os.path.exists(local_image("hv1", local_guest))


def test_existing_volume_on_the_destination_is_never_overwritten(local_guest):
    blocker = local_image("hv3", local_guest)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", blocker, "64M"], check=True)
    lab("exec", "hv3", "--", "virsh", "-q", "-c", "qemu:///system", "pool-refresh", "local")
    before = fleet_snapshot()
    result = migrate("hv2", name=local_guest, dest="hv3", copy_storage="all")
    assert result.get("failed"), result
    assert "already has a volume at /srv/drover/local/loc1.qcow2" in result["msg"]
    assert fleet_snapshot() == before
    assert os.path.getsize(blocker) < 1 << 20  # still the empty image we made


def test_check_mode_shows_the_storage_plan_and_creates_nothing(local_guest):
    result = migrate("hv2", check=True, name=local_guest, dest="hv1", copy_storage="all")
    assert not result.get("failed"), result
    assert result["changed"] is True
    assert result["storage"]["precreate"] == ["/srv/drover/local/loc1.qcow2"]
    assert not os.path.exists(local_image("hv1", local_guest))


def test_unknown_copy_target_is_refused(local_guest):
    result = migrate("hv2", name=local_guest, dest="hv1", copy_disks=["vdz"])
    assert result.get("failed")
    assert "copy_disks names targets the domain does not have: vdz (it has vda)" in result["msg"]
