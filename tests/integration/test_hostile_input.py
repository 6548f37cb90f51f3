"""The worst input, through the real playbooks and modules on the lab: each is refused with a message
naming the bad value, and afterwards every host, asked directly with libvirt-python, runs the same
domains, persistent on the same hosts, with no capacity claim, maintenance mark or probe file left.

The unit tests (tests/unit/plugins/test_hostile_input.py) cover the full table; these few prove the
real entry points stop before anything changes.
"""
import glob
import os

import pytest

from labfixture import HOSTS, STATE, evacuate, fleet_snapshot, heartbeat, migrate, playbook, wait_heartbeat_after

pytestmark = pytest.mark.usefixtures("lab_up")

HOSTILE_NAME = "vm1; reboot $(reboot) `reboot` 'x\"\u00e9"


def leftovers():
    """Files the collection could leave on the lab's hosts: claims and marks, storage probe files.

    Not a move's switch-over record (switchover-DEST.json on its source): a move that succeeds keeps it on purpose.
    """
    found = []
    for host in HOSTS:
        found += [path for path in glob.glob(os.path.join(STATE, host, "lib", "drover", "*"))
                  if not os.path.basename(path).startswith("switchover-")]
        found += glob.glob(os.path.join(STATE, host, "local", "**", ".drover-probe-*"), recursive=True)
    found += glob.glob(os.path.join(STATE, "shared", "**", ".drover-probe-*"), recursive=True)
    return sorted(found)


@pytest.fixture(scope="module")
def before():
    """The fleet as libvirt sees it, the files, and each guest's heartbeat, before any hostile input."""
    snapshot = fleet_snapshot()
    assert {name for name, where in snapshot.items() if where == [("hv1", True, True)]} >= {"vm1", "vm2"}
    return {"fleet": snapshot, "files": leftovers(), "beats": {vm: heartbeat("hv1", vm) for vm in ("vm1", "vm2")}}


def refused(result_or_proc, *fragments):
    """The failure message (module result or playbook output) holds every fragment."""
    text = result_or_proc["msg"] if isinstance(result_or_proc, dict) else result_or_proc.stdout + result_or_proc.stderr
    if isinstance(result_or_proc, dict):
        assert result_or_proc.get("failed") is True, result_or_proc
        # ansible-core 2.19 puts "(traceback unavailable)" into every failed result; a crash has a traceback.
        assert "Traceback" not in str(result_or_proc.get("exception", "")), result_or_proc["exception"]
    else:
        assert result_or_proc.returncode != 0, text[-3000:]
        assert "Traceback" not in text, text[-3000:]
    for fragment in fragments:
        assert fragment in text, text[-3000:]


def test_migrate_module_with_a_hostile_domain_name(before):
    refused(migrate("hv1", name=HOSTILE_NAME, dest="hv2"),
            "domain %r was not found on the source nor on the destination" % HOSTILE_NAME)


def test_migrate_module_to_the_source_itself(before):
    refused(migrate("hv1", name="vm1", dest="hv1"), "is the source host itself")


def test_migrate_module_over_plain_tcp_without_the_switch(before):
    refused(migrate("hv1", name="vm1", dest="hv2", transport="tcp"),
            "destination 'qemu+tcp://", "is refused: transport tcp", "allow_insecure_transport: true")


def test_migrate_module_with_a_shell_in_the_destination(before):
    refused(migrate("hv1", name="vm1", dest="hv2; reboot"), "destination 'hv2; reboot' is neither a libvirt URI")


def test_migrate_playbook_with_nan_seconds(before):
    refused(playbook("playbooks/migrate.yml", {"drover_vm": "vm1", "drover_to": "hv2", "drover_timeout": "nan"}),
            "drover_timeout: cannot read 'nan' as a whole number")


def test_migrate_playbook_with_a_hostile_domain_name(before):
    refused(playbook("playbooks/migrate.yml", {"drover_vm": HOSTILE_NAME, "drover_to": "hv2"}),
            "runs on 0 hosts of the play (none); nothing was moved")


def test_evacuate_a_host_not_in_the_inventory(before):
    proc, report, _preflight = evacuate("hv1", evacuate_hosts=["hv9"])
    refused(proc, "evacuate_hosts names hv9, not in group 'hypervisors' (hv1, hv2, hv3)", "Nothing was changed")
    assert report is None
    proc = playbook("playbooks/evacuate.yml", limit="hv9")
    refused(proc, "Could not match supplied host pattern, ignoring: hv9")


def test_evacuate_with_nan_and_absurd_numbers(before):
    proc, report, _preflight = evacuate("hv1", evacuate_candidate_margin="nan")
    refused(proc, "evacuate_candidate_margin: cannot read 'nan' as a number")
    proc, report, _preflight = evacuate("hv1", evacuate_max_parallel="1e400")
    refused(proc, "evacuate_max_parallel: cannot read '1e400' as a whole number")
    assert report is None


def test_evacuate_over_plain_tcp_without_the_switch(before):
    proc, report, _preflight = evacuate("hv1", evacuate_transport="tcp")
    refused(proc, "evacuate_transport tcp is neither encrypted nor authenticated",
            "evacuate_allow_insecure_transport: true")
    assert report is None


def test_nothing_changed_on_any_host(before):
    """Asked directly: same domains, running and persistent on the same hosts; no file left behind."""
    assert fleet_snapshot() == before["fleet"]
    assert leftovers() == before["files"] == []
    for vm, beat in before["beats"].items():
        wait_heartbeat_after("hv1", vm, beat)  # still the same boot, still ticking


def test_the_secure_path_still_moves_a_guest_over_tls(before):
    """Transport tls for the control connection and native TLS for the data stream, from the playbook."""
    beat = heartbeat("hv1", "vm2")
    proc = playbook("playbooks/migrate.yml", {"drover_vm": "vm2", "drover_to": "hv2", "drover_transport": "tls",
                                              "drover_tls": True})
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "vm2: hv1 -> hv2" in proc.stdout
    snapshot = fleet_snapshot()
    assert snapshot["vm2"] == [("hv2", True, True)]
    assert {k: v for k, v in snapshot.items() if k != "vm2"} == {k: v for k, v in before["fleet"].items() if k != "vm2"}
    wait_heartbeat_after("hv2", "vm2", beat)
    assert leftovers() == []
    # What it did keep: the switch-over cost it measured for hv2, on hv1, private (see _switchover.py).
    records = glob.glob(os.path.join(STATE, "hv1", "lib", "drover", "switchover-*.json"))
    assert records and all(os.stat(r).st_mode & 0o777 == 0o640 for r in records), records
