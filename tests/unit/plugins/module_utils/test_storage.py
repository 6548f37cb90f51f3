import xml.etree.ElementTree as ET

import pytest

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._storage import (
    disks_of,
    plan_storage,
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
