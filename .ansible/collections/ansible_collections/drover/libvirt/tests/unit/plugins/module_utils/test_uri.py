import pytest

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._uri import (
    destination_uri,
    migration_uri,
    parse_uri,
    valid_hostname,
)


@pytest.mark.parametrize("uri,transport,host", [
    ("qemu:///system", None, None),
    ("qemu+ssh://root@hv2/system", "ssh", "hv2"),
    ("qemu+tcp://10.251.0.2/system", "tcp", "10.251.0.2"),
    ("qemu+tls://hv2.example.com:16514/system", "tls", "hv2.example.com"),
    ("qemu+ssh://[fd00::2]/system?keyfile=/root/.ssh/id", "ssh", "fd00::2"),
])
def test_parse_valid_uris(uri, transport, host):
    parsed = parse_uri(uri)
    assert parsed["transport"] == transport
    assert parsed["host"] == host


@pytest.mark.parametrize("uri,fragment", [
    ("", "non-empty"),
    ("xen+ssh://hv2/system", "scheme must be qemu"),
    ("qemu+ftp://hv2/system", "scheme must be qemu"),
    ("qemu+ssh://hv2/", "path must be"),
    ("qemu+ssh:///system", "needs a valid host"),
    ("qemu://hv2/system", "needs a transport"),
    ("qemu+ssh://hv 2/system", "characters"),
    ("qemu+ssh://hv2;reboot/system", "characters"),
    ("qemu+ssh://hv2:99999/system", "malformed"),
    ("qemu+ssh://hv_2!/system", "valid host"),
])
def test_parse_rejects_with_reason(uri, fragment):
    with pytest.raises(DroverError) as err:
        parse_uri(uri, "destination")
    assert fragment in err.value.msg


def test_destination_from_host_and_transport():
    assert destination_uri("hv2") == "qemu+ssh://hv2/system"
    assert destination_uri("10.0.0.2", "tcp", allow_insecure=True) == "qemu+tcp://10.0.0.2/system"
    assert destination_uri("hv2", "ssh", "ops") == "qemu+ssh://ops@hv2/system"
    assert destination_uri("fd00::2", "tls") == "qemu+tls://[fd00::2]/system"
    assert destination_uri("qemu+tls://hv9/system") == "qemu+tls://hv9/system"


@pytest.mark.parametrize("dest", ["hv2; rm -rf /", "hv2 'x'", "vm\u00e9", "", "-hv2", "qemu:///system"])
def test_destination_rejects_hostile_or_local(dest):
    with pytest.raises(DroverError) as err:
        destination_uri(dest)
    assert repr(dest) in err.value.msg or "local URI" in err.value.msg


def test_destination_rejects_bad_user_and_transport():
    with pytest.raises(DroverError, match="user"):
        destination_uri("hv2", "ssh", "a@b")
    with pytest.raises(DroverError, match="transport"):
        destination_uri("hv2", "rsh")


def test_hostnames():
    assert valid_hostname("hv-2.example.com")
    assert not valid_hostname("a" * 64 + ".com")
    assert not valid_hostname("hv..2")


def test_migration_uri():
    assert migration_uri("tcp://10.20.0.7") == "tcp://10.20.0.7"
    assert migration_uri("tcp://hv2-mig:49152") == "tcp://hv2-mig:49152"
    for bad in ("udp://hv2", "tcp://", "tcp://hv2;x", "tcp://hv2:0x"):
        with pytest.raises(DroverError):
            migration_uri(bad)
