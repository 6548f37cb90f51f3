"""A drain reads only enough of the group, and reads the rest when those hosts cannot take a domain.

On the lab (hv1..hv3, vm1 and vm2 on hv1), with evacuate_candidate_hosts=1: the run's id decides
which destination is read first (its seed); hv3's migration ports are firewalled, so when hv3 is the
one read, its preflight fails, the plan has no destination, and the whole group is read and planned
again, which moves everything to hv2.
"""
import os
import sys

import pytest

from labfixture import ROOT, assert_runs_only_on, evacuate, lab, maintenance_mark

sys.path.insert(0, os.path.join(ROOT, "build"))
from ansible_collections.drover.libvirt.plugins.module_utils._fleet_sample import read_order  # noqa: E402

PROBE = os.path.join(ROOT, "lab", "alive")


def run_id_reading_first(host):
    """A run id whose shuffled reading order puts `host` first among hv2 and hv3."""
    for number in range(1000):
        run_id = "sample-%d" % number
        if read_order(["hv2", "hv3"], [], run_id)[0] == host:
            return run_id
    raise AssertionError("no run id reads %s first" % host)


@pytest.fixture(scope="module", autouse=True)
def fleet(lab_up):
    assert lab("firewall", "hv3", "--block-migration", check=False).returncode == 0
    yield


def test_a_sample_that_has_no_destination_is_widened_to_the_whole_group():
    proc, report, _preflight = evacuate("hv1", evacuate_candidate_hosts=1, evacuate_copy_storage=False,
                                        evacuate_run_id=run_id_reading_first("hv3"),
                                        evacuate_verify_probe_command=PROBE)
    assert proc.returncode == 0, proc.stdout[-4000:]
    # The first plan, over hv3 alone, had no destination; the second read the whole group.
    said = " ".join(proc.stdout.split())  # the output wraps long messages
    assert ("vm1, vm2 found no destination among the hosts read; reading the other 1 hosts of the group" in said
            or "vm2, vm1 found no destination among the hosts read; reading the other 1 hosts of the group" in said)
    assert report["plan"]["hosts_not_read"] == []
    moved = {r["name"]: r for r in report["results"]}
    assert {name: r["to"] for name, r in moved.items()} == {"vm1": "hv2", "vm2": "hv2"}
    for name in ("vm1", "vm2"):
        assert_runs_only_on(name, "hv2")
    assert maintenance_mark("hv1")["state"] == "maintenance"
