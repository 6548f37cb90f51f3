# -*- coding: utf-8 -*-
"""Reading a fleet in parallel: the host list, the deadline pool and the result's assembly.

Readers are plain functions here (sleeping, failing, never answering); the lab reads real hosts.
"""

from __future__ import annotations

import threading
import time

import pytest

from ansible_collections.drover.libvirt.plugins.module_utils import _fleet_read as fr
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._facts_schema import fleet_from_results


class FakeLibvirtError(Exception):
    def get_error_message(self):
        return str(self)

    def get_error_code(self):
        return None


class FakeLibvirt:
    libvirtError = FakeLibvirtError


def test_remote_hosts_build_uris_and_leave_out_this_hypervisor():
    hosts = fr.remote_hosts(["10.0.0.1", "10.0.0.2", "qemu+tls://hv3.example/system"], ["hv1", "hv2", "hv3"],
                            "tcp", "hv1", allow_insecure=True)
    assert hosts == [{"name": "hv2", "uri": "qemu+tcp://10.0.0.2/system"},
                     {"name": "hv3", "uri": "qemu+tls://hv3.example/system"}]
    assert fr.remote_hosts(["hv2"], None, "ssh", "hv1") == [{"name": "hv2", "uri": "qemu+ssh://hv2/system"}]
    assert fr.remote_hosts([], None, "ssh", "hv1") == []


@pytest.mark.parametrize("hosts, names, message", [
    (["hv2", "hv3"], ["hv2"], "host_names must name each of the 2 hosts"),
    (["hv2", "hv2"], None, "hosts are listed twice: hv2"),
    (["qemu:///system"], ["hv2"], "hosts: hv2: 'qemu:///system' is a local URI"),
    (["bad host"], None, "hosts: bad host: destination 'bad host' is neither"),
])
def test_remote_hosts_refuse_bad_lists(hosts, names, message):
    with pytest.raises(DroverError, match=message):
        fr.remote_hosts(hosts, names, "ssh", "hv1")


def test_outcomes_keep_the_order_and_concurrency_stays_bounded():
    running, peak, lock = [0], [0], threading.Lock()

    def work(item):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        if item == 3:
            raise ValueError("three")
        return item * 10

    started = time.monotonic()
    outcomes = fr.run_with_deadline(list(range(8)), work, 4, timeout=5)
    assert time.monotonic() - started < 0.05 * 8 / 2 + 0.15  # two rounds of four, not eight in a row
    assert peak[0] == 4
    assert [o[0] for o in outcomes] == ["ok"] * 3 + ["error"] + ["ok"] * 4
    assert outcomes[0] == ("ok", 0) and outcomes[7] == ("ok", 70) and str(outcomes[3][1]) == "three"


def test_a_silent_host_times_out_and_the_others_are_still_read():
    never = threading.Event()

    def work(item):
        if item == "silent":
            never.wait()  # like libvirt's connect to a host that drops packets
        time.sleep(0.05)
        return item

    started = time.monotonic()
    # One worker: the silent host blocks it, a new worker reads the rest after its deadline.
    outcomes = fr.run_with_deadline(["a", "silent", "b", "c"], work, 1, timeout=0.3)
    took = time.monotonic() - started
    assert outcomes == [("ok", "a"), ("timeout", None), ("ok", "b"), ("ok", "c")]
    assert 0.3 <= took < 1.5
    never.set()


def test_the_deadline_counts_from_when_a_host_is_started_not_from_the_call():
    # Three hosts of 0.2 s each on one worker take 0.6 s in all, but none is late.
    outcomes = fr.run_with_deadline([1, 2, 3], lambda item: time.sleep(0.2) or item, 1, timeout=0.35)
    assert outcomes == [("ok", 1), ("ok", 2), ("ok", 3)]


def test_a_late_answer_after_the_deadline_is_dropped():
    release = threading.Event()

    def work(item):
        if item == "slow":
            release.wait(2)
        return item

    outcomes = fr.run_with_deadline(["slow", "fast"], work, 2, timeout=0.2)
    release.set()
    time.sleep(0.05)
    assert outcomes == [("timeout", None), ("ok", "fast")]


def test_assembly_has_the_fleet_facts_filters_shape():
    hosts = [{"name": "hv2", "uri": "qemu+tcp://10.0.0.2/system"}, {"name": "hv3", "uri": "qemu+tcp://10.0.0.3/system"},
             {"name": "hv4", "uri": "qemu+tcp://10.0.0.4/system"}, {"name": "hv5", "uri": "qemu+tcp://10.0.0.5/system"}]
    facts = {"hypervisor": {"hostname": "hv2"}, "domains": []}
    outcomes = [("ok", facts), ("timeout", None), ("error", FakeLibvirtError("Connection refused")),
                ("error", DroverError("cannot read the maintenance mark\n of hv5"))]
    result = fr.assemble(hosts, outcomes, 30, fr.explain_failure(FakeLibvirt))
    assert result == {"fleet": {"hv2": facts}, "unreachable": [
        {"host": "hv3", "reason": "qemu+tcp://10.0.0.3/system did not answer within 30 s"},
        {"host": "hv4", "reason": "cannot read hv4 at qemu+tcp://10.0.0.4/system: Connection refused"},
        {"host": "hv5", "reason": "cannot read the maintenance mark of hv5"}]}
    # The same split as the fleet_facts filter makes of looped hypervisor_info results.
    looped = [dict(facts, item="hv2"), {"item": "hv3", "unreachable": True, "msg": "x"}]
    assert set(fleet_from_results(looped)) == set(result) and fleet_from_results(looped)["fleet"]["hv2"]["hypervisor"]


def test_read_fleet_puts_this_hypervisor_first_and_never_fails_for_another():
    def read_remote(libvirt, host):
        if host["name"] == "hv3":
            raise FakeLibvirtError("Failed to connect socket")
        return {"hypervisor": {"hostname": host["name"]}, "domains": []}

    hosts = [{"name": "hv2", "uri": "qemu+tcp://a/system"}, {"name": "hv3", "uri": "qemu+tcp://b/system"}]
    result = fr.read_fleet(FakeLibvirt, hosts, 16, 5, "hv1", lambda: {"hypervisor": {"hostname": "hv1"}, "domains": []},
                           read_remote)
    assert list(result["fleet"]) == ["hv1", "hv2"]
    assert result["unreachable"] == [{"host": "hv3", "reason": "cannot read hv3 at qemu+tcp://b/system: "
                                                               "Failed to connect socket"}]


@pytest.mark.parametrize("concurrency, timeout, message", [(0, 30, "concurrency must be between 1 and 256"),
                                                           (257, 30, "concurrency"), (16, 0, "timeout")])
def test_read_fleet_refuses_bad_bounds(concurrency, timeout, message):
    with pytest.raises(DroverError, match=message):
        fr.read_fleet(FakeLibvirt, [], concurrency, timeout, "hv1", dict)
