# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsing a domain definition into the facts placement and preflight read."""

from __future__ import annotations

from ansible_collections.drover.libvirt.plugins.module_utils._domain_facts import parse_domain_xml, storage_place
from ansible_collections.drover.libvirt.plugins.module_utils._host_facts import (
    domain_facts, mount_types, path_is_shared, shared_filesystems, unescape_mount_field)

STORAGE = [
    {"pool": "shared", "path": "/srv/drover/shared", "shared": True},
    {"pool": "local", "path": "/srv/drover/local", "shared": False},
]

FULL = """<domain type='kvm'>
  <name>db1</name>
  <uuid>0b5c7a1e-0000-4000-8000-000000000001</uuid>
  <metadata>
    <drover:placement xmlns:drover="urn:drover-libvirt:placement:1">
      <drover:anti-affinity>web</drover:anti-affinity>
      <drover:anti-affinity>db</drover:anti-affinity>
      <drover:affinity>cache</drover:affinity>
      <drover:pin/>
      <drover:label name="tier">db</drover:label>
    </drover:placement>
  </metadata>
  <memory unit='GiB'>4</memory>
  <currentMemory unit='MiB'>2048</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <os><type arch='x86_64' machine='pc-q35-9.2'>hvm</type></os>
  <cpu mode='custom' match='exact' check='partial'>
    <model fallback='forbid'>Skylake-Server</model>
    <feature policy='require' name='invtsc'/>
  </cpu>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/srv/drover/shared/db1.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='/srv/drover/local/db1-data.img'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <disk type='network' device='disk'>
      <source protocol='rbd' name='pool/img'/>
      <target dev='vdc' bus='virtio'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:aa:bb:cc'/>
      <source network='prod'/>
      <model type='virtio'/>
    </interface>
    <interface type='bridge'>
      <source bridge='br0'/>
    </interface>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source><address domain='0x0000' bus='0x03' slot='0x00' function='0x1'/></source>
    </hostdev>
    <shmem name='ivshmem0'><model type='ivshmem-plain'/><size unit='M'>4</size></shmem>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0' state='connected'/>
    </channel>
  </devices>
</domain>"""


def test_identity_size_and_cpu():
    facts = parse_domain_xml(FULL, STORAGE)
    assert facts["name"] == "db1"
    assert facts["memory_kib"] == 4 * 1024 * 1024
    assert facts["current_memory_kib"] == 2048 * 1024
    assert facts["vcpus"] == 2
    assert facts["cpu"] == {"mode": "custom", "model": "Skylake-Server", "check": "partial"}
    assert (facts["virt_type"], facts["machine"], facts["arch"]) == ("kvm", "pc-q35-9.2", "x86_64")


def test_disks_shared_local_network_and_empty_cdrom():
    disks = {d["target"]: d for d in parse_domain_xml(FULL, STORAGE)["disks"]}
    assert disks["vda"]["shared"] is True and disks["vda"]["pool"] == "shared"
    assert disks["vdb"]["shared"] is False and disks["vdb"]["format"] == "raw"
    assert disks["sda"]["path"] is None and disks["sda"]["shared"] is None and disks["sda"]["readonly"]
    assert disks["vdc"]["path"] == "rbd://pool/img" and disks["vdc"]["shared"] is True


def test_interfaces_and_agent():
    facts = parse_domain_xml(FULL, STORAGE)
    assert facts["interfaces"] == [
        {"type": "network", "source": "prod", "mac": "52:54:00:aa:bb:cc", "model": "virtio"},
        {"type": "bridge", "source": "br0", "mac": None, "model": None}]
    assert facts["agent"] == {"channel": True, "connected": True, "responding": None}


def test_blockers_name_each_device():
    facts = parse_domain_xml(FULL, STORAGE)
    assert facts["hostdevs"] == [{"type": "pci", "detail": "0000:03:00.1"}]
    kinds = [b["kind"] for b in facts["blockers"]]
    assert kinds == ["hostdev", "shmem", "invtsc"]
    assert "pci 0000:03:00.1" in facts["blockers"][0]["detail"]


def test_placement_tags():
    assert parse_domain_xml(FULL, STORAGE)["tags"] == {
        "anti_affinity": ["db", "web"], "affinity": ["cache"], "pinned": True, "labels": {"tier": "db"}}


def test_minimal_definition_has_empty_facts():
    facts = parse_domain_xml("<domain type='qemu'><name>x</name><memory>1024</memory></domain>")
    assert facts["blockers"] == [] and facts["disks"] == [] and facts["interfaces"] == []
    assert facts["tags"] == {"anti_affinity": [], "affinity": [], "pinned": False, "labels": {}}
    assert facts["cpu"]["mode"] is None and facts["memory_kib"] == 1024
    assert facts["agent"]["channel"] is False


def test_mdev_is_its_own_blocker_kind():
    xml = """<domain type='kvm'><name>g</name><memory>1</memory><devices>
      <hostdev mode='subsystem' type='mdev' model='vfio-pci'>
        <source><address uuid='c2177883-f1bb-47f0-914d-32a22e3a8804'/></source></hostdev>
    </devices></domain>"""
    assert parse_domain_xml(xml)["blockers"] == [
        {"kind": "mdev", "detail": "mdev c2177883-f1bb-47f0-914d-32a22e3a8804"}]


def test_storage_place_prefers_the_longest_root():
    storage = [{"pool": "root", "path": "/srv", "shared": False}, {"pool": "nfs", "path": "/srv/nfs", "shared": True}]
    assert storage_place("/srv/nfs/a.img", storage) == ("nfs", True)
    assert storage_place("/srv/other/a.img", storage) == ("root", False)
    assert storage_place("/var/a.img", storage) == (None, None)
    assert storage_place("/srv/nfsx/a.img", storage) == ("root", False)


def test_shared_filesystems_read_from_qemu_conf(tmp_path):
    conf = tmp_path / "qemu.conf"
    conf.write_text('# shared_filesystems = [ "/nope" ]\nuser = "root"\nshared_filesystems = [\n  "/srv/a/",\n'
                    '  "/srv/b"  # the second\n]\n')
    assert shared_filesystems(str(conf)) == ["/srv/a", "/srv/b"]
    assert shared_filesystems(str(tmp_path / "missing")) == []


def test_path_is_shared_by_declaration_or_network_filesystem():
    mounts = {"/": "ext4", "/mnt/nfs": "nfs4", "/mnt/nfs/local": "ext4"}
    assert path_is_shared("/srv/a/x.img", ["/srv/a"], mounts)
    assert path_is_shared("/mnt/nfs/x.img", [], mounts)
    assert not path_is_shared("/mnt/nfs/local/x.img", [], mounts)
    assert not path_is_shared("/var/lib/x.img", [], mounts)


def test_mountinfo_octal_escapes_are_decoded():
    assert unescape_mount_field(r"/srv/vm\040images") == "/srv/vm images"
    assert unescape_mount_field(r"/a\011b\012c\134d") == "/a\tb\nc\\d"
    assert unescape_mount_field(r"/plain/\9x\04") == r"/plain/\9x\04"  # not an escape: kept as it is


def test_mount_types_read_escaped_mount_points(tmp_path):
    info = tmp_path / "mountinfo"
    info.write_text("36 35 98:0 / /srv/vm\\040images rw,noatime master:1 - nfs4 srv:/export rw\n"
                    "37 35 98:1 / / rw - ext4 /dev/vda1 rw\n")
    assert mount_types(str(info)) == {"/srv/vm images": "nfs4", "/": "ext4"}


class _HeldError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message

    def get_error_code(self):
        return self.code

    def get_error_message(self):
        return self.message


class _HeldLibvirt:
    """What domain_facts uses of libvirt: its error class and two error codes."""
    libvirtError = _HeldError
    VIR_ERR_OPERATION_TIMEOUT = 68
    VIR_ERR_NO_DOMAIN = 42


class _HeldDomain:
    """A domain on the destination of a post-copy migration whose stream died: libvirt's job holds it."""

    def __init__(self, code=68, state=(1, 1)):
        self.code = code
        self.calls = []
        self.states = list(state)

    def state(self):
        return self.states

    def isActive(self):
        return 1

    def isPersistent(self):
        return 1

    def name(self):
        return "pc1"

    def UUIDString(self):
        return "6f0e0b8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"

    def info(self):
        return [1, 196608, 196608, 2, 0]

    def XMLDesc(self, flags):
        raise _HeldError(self.code, "Timed out during operation: cannot acquire state change lock "
                                    "(held by monitor=remoteDispatchDomainMigrateFinish3Params)")

    def jobStats(self, flags=0):
        raise _HeldError(84, "migration statistics are available only on the source host")

    def blockInfo(self, target, flags):
        self.calls.append(target)
        raise AssertionError("a held domain's disks are not asked for")


def test_a_domain_held_by_a_job_is_reported_busy_not_failing_the_host():
    facts = domain_facts(_HeldDomain(), (), _HeldLibvirt)
    assert (facts["name"], facts["uuid"], facts["active"], facts["persistent"]) == (
        "pc1", "6f0e0b8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", True, True)
    assert facts["memory_kib"] == 196608 and facts["vcpus"] == 2
    assert facts["job"]["type"] == "unknown"
    assert "held by monitor=remoteDispatchDomainMigrateFinish3Params" in facts["job"]["held_by"]
    assert facts["disks"] == [] and facts["state_reason"] == 1


def test_the_destination_of_a_post_copy_migration_is_reported_busy_without_waiting_on_its_xml():
    for reason, how in ((10, "running"), (11, "failed")):
        facts = domain_facts(_HeldDomain(code=1, state=(1, reason)), (), _HeldLibvirt)  # XMLDesc is never asked
        assert facts["job"]["held_by"] == "an incoming post-copy migration (%s)" % how
        assert facts["memory_kib"] == 196608 and facts["state"] == "running"


def test_other_errors_reading_a_definition_still_fail():
    try:
        domain_facts(_HeldDomain(code=1), (), _HeldLibvirt)
    except _HeldError as exc:
        assert exc.get_error_code() == 1
    else:
        raise AssertionError("an unexpected libvirt error must not be hidden")
