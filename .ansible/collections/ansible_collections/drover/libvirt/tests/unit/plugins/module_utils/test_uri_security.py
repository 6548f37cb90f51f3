"""Secure by default: insecure libvirt URIs are refused unless allowed, and a URI never carries a password."""

from __future__ import annotations

import pytest

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._migration_options import MigrationOptions
from ansible_collections.drover.libvirt.plugins.module_utils._uri import (
    checked_uri, destination_uri, parse_uri, redacted, uri_passwords)

# URI -> what the refusal says about it.
INSECURE = [
    ("qemu+tcp://hv2/system", "transport tcp sends the libvirt connection unencrypted"),
    ("qemu+tls://hv2/system?no_verify=1", "no_verify=1 turns off the check of the server's certificate"),
    ("qemu+libssh2://hv2/system?known_hosts_verify=ignore", "known_hosts_verify=ignore accepts any SSH host key"),
    ("qemu+ssh://hv2/system?command=/tmp/ssh", "command=/tmp/ssh names a program libvirt runs instead of ssh"),
    ("qemu+ssh://hv2/system?netcat=/tmp/nc", "netcat=/tmp/nc names a command run on the remote host"),
]

SECURE = ["qemu+ssh://root@hv2/system", "qemu+tls://hv2.example.com:16514/system?pkipath=/etc/pki/drover",
          "qemu+ssh://hv2/system?keyfile=/root/.ssh/drover&no_tty=1", "qemu+tls://hv2/system?no_verify=0",
          "qemu+libssh2://hv2/system?known_hosts=/root/.ssh/known_hosts&known_hosts_verify=normal",
          "qemu:///system", "qemu+unix:///system"]


@pytest.mark.parametrize("uri, why", INSECURE)
def test_an_insecure_uri_is_refused_by_default_naming_it_and_why(uri, why):
    with pytest.raises(DroverError) as err:
        checked_uri(uri, "destination")
    assert repr(uri) in err.value.msg and why in err.value.msg
    assert "allow_insecure_transport: true" in err.value.msg and "nothing was changed" in err.value.msg
    assert err.value.details["insecure"][0].startswith(why.split()[0])


@pytest.mark.parametrize("uri, why", INSECURE)
def test_an_insecure_uri_is_accepted_when_allowed(uri, why):
    assert checked_uri(uri, "destination", allow_insecure=True)["insecure"]
    assert destination_uri(uri, allow_insecure=True) == uri


@pytest.mark.parametrize("uri", SECURE)
def test_secure_uris_pass(uri):
    assert checked_uri(uri)["insecure"] == []


def test_a_tcp_transport_is_refused_unless_allowed():
    with pytest.raises(DroverError, match="destination 'qemu\\+tcp://hv2/system' is refused: transport tcp"):
        destination_uri("hv2", "tcp")
    assert destination_uri("hv2", "tcp", allow_insecure=True) == "qemu+tcp://hv2/system"
    assert destination_uri("hv2", "tls") == "qemu+tls://hv2/system"


def _options(**changes):
    p = dict(uri="qemu:///system", name="vm1", dest="hv2", transport="ssh", dest_user=None, migration_uri=None,
             persist=True, undefine_source=True, bandwidth=0, timeout=None, convergence="balanced",
             convergence_knobs={}, tls=False, postcopy_recovery_wait=300, copy_storage="none", copy_disks=[],
             cdrom="keep", remove_source_volumes=False, poll_interval=0.5, claims=None)
    p.update(changes)
    return MigrationOptions.from_params(p)


def test_migration_options_refuse_insecure_source_and_destination_before_connecting():
    with pytest.raises(DroverError, match="source URI 'qemu\\+tcp://hv1/system' is refused"):
        _options(uri="qemu+tcp://hv1/system")
    with pytest.raises(DroverError, match="destination 'qemu\\+tcp://hv2/system' is refused"):
        _options(transport="tcp")
    with pytest.raises(DroverError, match="destination 'qemu\\+tcp://hv2/system' is refused"):
        _options(dest="qemu+tcp://hv2/system")
    opts = _options(transport="tcp", uri="qemu+tcp://hv1/system", allow_insecure_transport=True)
    assert (opts.source_uri, opts.dest_uri) == ("qemu+tcp://hv1/system", "qemu+tcp://hv2/system")
    assert _options(transport="tls", tls=True).tls is True


@pytest.mark.parametrize("uri", ["qemu+ssh://root:s3cret@hv2/system", "qemu+tls://admin:s3cret@hv2:16514/system",
                                 "qemu+ssh://root:s3cret@hv 2/system", "qemu+ssh://root:s3cret@hv2/system?bogus=1"])
def test_a_password_in_a_uri_is_refused_and_never_repeated(uri):
    with pytest.raises(DroverError) as err:
        parse_uri(uri, "destination")
    assert "s3cret" not in err.value.msg
    assert "********" in err.value.msg
    assert uri_passwords(uri) == ["s3cret"]


def test_redaction_leaves_other_uris_alone():
    assert redacted("qemu+ssh://root@[fd00::2]/system") == "qemu+ssh://root@[fd00::2]/system"
    assert redacted("qemu+ssh://root:pw@hv2/system") == "qemu+ssh://root:********@hv2/system"
    assert uri_passwords("hv2") == [] and uri_passwords("qemu+ssh://root@hv2/system") == []


@pytest.mark.parametrize("uri, fragment", [
    ("qemu+ssh://hv2/system?bogus=1", "unknown libvirt URI parameter 'bogus'"),
    ("qemu+ssh://hv2/system?keyfile=/a&keyfile=/b", "gives parameter 'keyfile' twice"),
    ("qemu+ssh://hv2/system?keyfile", "malformed query 'keyfile'"),
    ("qemu+ssh://hv2/system#top", "has no fragment"),
    ("qemu+ssh://hv2:0/system", "port 0 is not within 1-65535"),
    ("qemu+unix://hv2/system", "transport unix reaches this host's daemon and takes no host name"),
])
def test_malformed_uris_are_refused_naming_the_part(uri, fragment):
    with pytest.raises(DroverError) as err:
        parse_uri(uri, "destination")
    assert fragment in err.value.msg and repr(uri) in err.value.msg
