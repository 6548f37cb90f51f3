"""Files the collection writes on a hypervisor: private modes, atomic replacement, and a planted
symbolic link is never written (or read) through, with an error that names it."""

from __future__ import annotations

import json
import os
import stat
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.drover.libvirt.plugins.module_utils import _claim_store as store
from ansible_collections.drover.libvirt.plugins.module_utils import _maintenance as mark
from ansible_collections.drover.libvirt.plugins.module_utils import _preflight_probes as probes
from ansible_collections.drover.libvirt.plugins.module_utils._claims import new_claim
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._safe_files import (
    create_exclusive, read_private, write_atomic)

VICTIM_TEXT = "root:x:0:0:root:/root:/bin/bash\n"


def _mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def victim(tmp_path):
    """A file outside the collection's directory that a planted link points at."""
    path = tmp_path / "victim"
    path.write_text(VICTIM_TEXT)
    return path


def test_the_mark_is_private_and_replaced_atomically(tmp_path):
    path = tmp_path / "drover" / "maintenance.json"
    mark.write_mark({"state": "draining", "reason": "kernel"}, str(path))
    assert _mode(path.parent) == 0o700 and _mode(path) == 0o640
    mark.write_mark({"state": "maintenance", "reason": "kernel"}, str(path))
    assert mark.read_mark(str(path))["state"] == "maintenance"
    assert os.listdir(path.parent) == ["maintenance.json"]  # no temporary file left behind


def test_a_failed_write_keeps_the_old_mark_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "maintenance.json"
    mark.write_mark({"state": "draining"}, str(path))

    def crash(_src, _dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="No space left"):
        mark.write_mark({"state": "maintenance"}, str(path))
    monkeypatch.undo()
    assert mark.read_mark(str(path)) == {"state": "draining"}
    assert os.listdir(tmp_path) == ["maintenance.json"]


def test_a_link_planted_at_the_mark_is_not_written_through(tmp_path, victim):
    path = tmp_path / "maintenance.json"
    path.symlink_to(victim)
    with pytest.raises(DroverError) as err:
        mark.write_mark({"state": "draining"}, str(path))
    assert "refusing to use the maintenance mark: %s is a symbolic link (to %s)" % (path, victim) in err.value.msg
    assert victim.read_text() == VICTIM_TEXT
    assert os.path.islink(path) and sorted(os.listdir(tmp_path)) == ["maintenance.json", "victim"]


def test_a_link_planted_at_the_mark_is_not_read_through(tmp_path, victim):
    path = tmp_path / "maintenance.json"
    victim.write_text('{"state": "maintenance", "reason": "planted"}')
    path.symlink_to(victim)
    with pytest.raises(DroverError, match="is a symbolic link"):
        mark.read_mark(str(path))


def test_a_linked_or_shared_directory_is_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "drover"
    link.symlink_to(real)
    with pytest.raises(DroverError, match="%s is a symbolic link" % link):
        write_atomic(str(link / "maintenance.json"), b"{}", "the maintenance mark")
    assert os.listdir(real) == []
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(DroverError, match=r"writable by group or others \(mode 0777\)"):
        write_atomic(str(shared / "maintenance.json"), b"{}", "the maintenance mark")
    assert os.listdir(shared) == []
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(DroverError, match="is not a directory"):
        write_atomic(str(a_file / "maintenance.json"), b"{}", "the maintenance mark")


def test_clearing_a_planted_link_removes_the_link_only(tmp_path, victim):
    path = tmp_path / "maintenance.json"
    path.symlink_to(victim)
    mark.clear_mark(str(path))
    assert not os.path.lexists(path) and victim.read_text() == VICTIM_TEXT


def test_read_private_refuses_what_is_too_large(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(b"x" * 100)
    assert read_private(str(path), "a file", limit=100) == b"x" * 100
    with pytest.raises(DroverError, match="larger than 99 bytes"):
        read_private(str(path), "a file", limit=99)
    assert read_private(str(tmp_path / "none"), "a file") is None


def test_create_exclusive_never_follows_a_link_nor_reuses_a_file(tmp_path, victim):
    path = tmp_path / "probe"
    create_exclusive(str(path))
    assert _mode(path) == 0o600
    with pytest.raises(FileExistsError):
        create_exclusive(str(path))
    link = tmp_path / "planted"
    link.symlink_to(tmp_path / "does-not-exist-yet")
    with pytest.raises(FileExistsError):
        create_exclusive(str(link))
    assert not os.path.exists(tmp_path / "does-not-exist-yet")


class _Uuid:
    hex = "0" * 32


def test_a_probe_file_is_private_and_a_planted_link_is_reported_not_followed(tmp_path, victim, monkeypatch):
    probe = probes.StorageProbe(libvirt=None)
    written = probe._write(str(tmp_path))
    assert os.path.basename(written).startswith(probes.PROBE_PREFIX) and _mode(written) == 0o600
    probe.cleanup()
    assert not os.path.exists(written)
    # Someone who could guess the next name plants a link there: the probe reports it, writes nothing.
    monkeypatch.setattr(probes.uuid, "uuid4", _Uuid)
    planted = tmp_path / (probes.PROBE_PREFIX + _Uuid.hex)
    planted.symlink_to(victim)
    probe = probes.StorageProbe(libvirt=None)
    assert probe._write(str(tmp_path)) is None
    assert probe.results[(str(tmp_path), None)] == "cannot write a probe file in %s: File exists" % tmp_path
    probe.cleanup()
    assert victim.read_text() == VICTIM_TEXT and os.path.islink(planted)


def test_a_planted_claim_link_is_not_read_through(tmp_path, victim):
    claim = new_claim("run-1", "0e3f1c2a-0000-4000-8000-000000000001", 1024, 1, 1700000000, domain="vm1")
    victim.write_text(json.dumps({"domain": "planted", "owner": "planted"}))
    (tmp_path / claim.name).symlink_to(victim)
    [read] = store.read_local_claims(str(tmp_path), now=1700000100)
    assert read["run_id"] == "run-1" and read["memory_kib"] == 1024  # the name still counts
    assert (read["domain"], read["owner"]) == ("", "")  # the linked file was not read


def test_claims_and_their_directory_are_created_private_by_libvirt():
    pool = ET.fromstring(store._pool_xml("/var/lib/libvirt/drover"))
    assert pool.findtext("target/permissions/mode") == "0700"
    volume = ET.fromstring(store._volume_xml("drover-claim", 10))
    assert volume.findtext("target/permissions/mode") == "0600"
