import xml.etree.ElementTree as ET

import pytest

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._storage import (
    dir_pool_xml,
    disks_of,
    plan_storage,
    pool_for_directory,
    refresh_pool,
    storage_flags,
    volume_xml,
    without_media,
)

DOMAIN = """<domain type='kvm'><name>db1</name><devices>
  <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
    <source file='/srv/local/db1.qcow2'/><backingStore type='file'><source file='/srv/base/debian.qcow2'/></backingStore>
    <target dev='vda' bus='virtio'/></disk>
  <disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='/dev/vg0/db1-data'/>
    <target dev='vdb' bus='virtio'/></disk>
  <disk type='network' device='disk'><source protocol='rbd' name='pool/db1-logs'/><target dev='vdc' bus='virtio'/></disk>
  <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='/iso/tools.iso'/>
    <target dev='sda' bus='sata'/><readonly/></disk>
</devices></domain>"""


def test_disks_are_read_from_the_xml():
    disks = {d["target"]: d for d in disks_of(DOMAIN)}
    assert disks["vda"]["path"] == "/srv/local/db1.qcow2" and disks["vda"]["backing"] == "/srv/base/debian.qcow2"
    assert disks["vdb"]["type"] == "block" and disks["vdb"]["format"] == "raw"
    assert disks["sda"]["device"] == "cdrom" and disks["sda"]["readonly"]


def test_no_copy_by_default_and_network_disks_never_copied():
    disks = disks_of(DOMAIN)
    assert plan_storage(disks, "none", [], "keep")["disks"] == []
    with pytest.raises(DroverError, match="vdc"):
        plan_storage(disks, "all", [], "keep")


def test_chosen_targets_are_copied_and_imply_all():
    plan = plan_storage(disks_of(DOMAIN), "none", ["vda", "vdb"], "keep")
    assert plan["copy"] == "all" and plan["disks"] == ["vda", "vdb"]
    assert storage_flags(plan) == ["NON_SHARED_DISK"]
    inc = plan_storage(disks_of(DOMAIN), "incremental", ["vda"], "keep")
    assert storage_flags(inc) == ["NON_SHARED_INC"]


def test_unknown_targets_are_named():
    with pytest.raises(DroverError, match="vdz .it has sda, vda, vdb, vdc"):
        plan_storage(disks_of(DOMAIN), "all", ["vdz"], "keep")


def test_cdrom_modes():
    disks = disks_of(DOMAIN)
    assert plan_storage(disks, "none", [], "eject")["eject"] == ["sda"]
    assert plan_storage(disks, "none", [], "copy")["disks"] == ["sda"]
    assert plan_storage(disks, "none", [], "keep") == {"copy": "none", "disks": [], "eject": [], "cdrom": "keep"}


def test_eject_only_touches_the_named_media():
    root = ET.fromstring(without_media(DOMAIN, ["sda"]))
    cdrom = [d for d in root.findall("devices/disk") if d.get("device") == "cdrom"][0]
    assert cdrom.find("source") is None
    assert root.find("devices/disk/source").get("file") == "/srv/local/db1.qcow2"


def test_volume_xml():
    vol = ET.fromstring(volume_xml("/srv/local/db1.qcow2", 10 << 30, "qcow2",
                                   {"path": "/srv/base/debian.qcow2", "format": "qcow2"}))
    assert vol.findtext("name") == "db1.qcow2"
    assert vol.findtext("capacity") == str(10 << 30)
    assert vol.find("target/format").get("type") == "qcow2"
    assert vol.findtext("backingStore/path") == "/srv/base/debian.qcow2"


def test_dir_pool_xml_escapes_the_path():
    root = ET.fromstring(dir_pool_xml("drover-probe-1", "/srv/a&b/<c>'d\""))
    assert root.get("type") == "dir" and root.findtext("name") == "drover-probe-1"
    assert root.findtext("target/path") == "/srv/a&b/<c>'d\""


class _Pool:
    def __init__(self, name, path, active=True):
        self._name, self.path, self.active = name, path, active

    def isActive(self):  # noqa: N802
        return self.active

    def XMLDesc(self, flags):  # noqa: N802
        return dir_pool_xml(self._name, self.path)


class _Conn:
    def __init__(self, *pools):
        self.pools = pools

    def listAllStoragePools(self, flags):  # noqa: N802
        return list(self.pools)


def test_pool_for_directory_matches_the_target_path_and_skips_inactive_pools():
    old, local = _Pool("old", "/srv/local", active=False), _Pool("local", "/srv/local/")
    conn = _Conn(old, local, _Pool("iso", "/iso"))
    assert pool_for_directory(conn, "/srv/local") is local
    assert pool_for_directory(conn, "/srv/local", active_only=False) is old
    assert pool_for_directory(conn, "/srv/other") is None


class _PoolError(Exception):
    def __init__(self, code):
        super().__init__("pool 'drover-state' has asynchronous jobs running")
        self.code = code

    def get_error_code(self):
        return self.code


class _Libvirt:
    libvirtError = _PoolError
    VIR_ERR_INTERNAL_ERROR = 1
    VIR_ERR_NO_STORAGE_POOL = 49


class _BusyPool:
    """A pool that refuses `busy` refreshes, as libvirt does while another run makes a volume in it."""

    def __init__(self, busy, code=_Libvirt.VIR_ERR_INTERNAL_ERROR):
        self.busy, self.code, self.calls = busy, code, 0

    def refresh(self, flags):
        self.calls += 1
        if self.calls <= self.busy:
            raise _PoolError(self.code)


def test_a_refresh_refused_while_another_run_makes_a_volume_is_tried_again():
    pool, slept = _BusyPool(busy=3), []
    refresh_pool(pool, _Libvirt, sleep=slept.append)
    assert pool.calls == 4 and len(slept) == 3


def test_a_pool_busy_beyond_the_patience_or_gone_raises():
    slept = []
    with pytest.raises(_PoolError):
        refresh_pool(_BusyPool(busy=1000), _Libvirt, sleep=slept.append, patience=2.0)
    assert 2.0 <= sum(slept) <= 2.6
    gone = _BusyPool(busy=1, code=_Libvirt.VIR_ERR_NO_STORAGE_POOL)
    with pytest.raises(_PoolError):
        refresh_pool(gone, _Libvirt, sleep=slept.append)
    assert gone.calls == 1
