"""MigrationOptions: built once from the parameters, every check in one place."""

from __future__ import annotations

import dataclasses

import pytest

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._migration_options import MigrationOptions


def params(**changes):
    p = dict(uri="qemu:///system", name="vm1", dest="hv2", transport="tls", dest_user=None, migration_uri=None,
             persist=True, undefine_source=True, bandwidth=0, timeout=None, convergence="balanced",
             convergence_knobs={}, tls=False, postcopy_recovery_wait=300, copy_storage="none", copy_disks=[],
             cdrom="keep", remove_source_volumes=False, poll_interval=0.5)
    p.update(changes)
    return p


def test_options_resolve_the_destination_and_the_knobs():
    opts = MigrationOptions.from_params(params(dest_user="ops", transport="ssh", migration_uri="tcp://10.0.0.2",
                                               convergence_knobs={"max_downtime_ms": 200}, moves=["ignored"]))
    assert opts.dest_uri == "qemu+ssh://ops@hv2/system" and opts.source_uri == "qemu:///system"
    assert opts.data_uri == "tcp://10.0.0.2"
    assert opts.knobs["max_downtime_ms"] == 200 and opts.knobs["postcopy"] is True
    assert opts.copy_disks == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.name = "vm2"


@pytest.mark.parametrize("changes, message", [
    ({"name": "a/b"}, "not a valid libvirt domain name"),
    ({"timeout": 0}, "timeout must be from 1 to 604800, got 0"),
    ({"bandwidth": -1}, "bandwidth must be from 0 to 1048576, got -1"),
    ({"poll_interval": 0.01}, "poll_interval must be from 0.05 to 10, got 0.01"),
    ({"dest": "not a host"}, "neither a libvirt URI nor a valid host name"),
    ({"migration_uri": "udp://x"}, "must look like tcp://HOST[:PORT]"),
    ({"convergence": "fast"}, "convergence preset 'fast' is not one of"),
    ({"convergence_knobs": {"speed": 1}}, "unknown convergence knob 'speed'"),
])
def test_bad_options_are_refused_before_any_connection(changes, message):
    with pytest.raises(DroverError) as err:
        MigrationOptions.from_params(params(**changes))
    assert message in err.value.msg


def test_the_name_is_checked_first():
    with pytest.raises(DroverError, match="domain name"):
        MigrationOptions.from_params(params(name="", timeout=-1, bandwidth=-1))
