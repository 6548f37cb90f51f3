# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading enough of a fleet: order, room, and when to stop reading."""

from __future__ import annotations

import pytest

from ansible_collections.drover.libvirt.plugins.module_utils import _fleet_sample as fs
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError

GIB = 1024 * 1024


def host(total_gib=32, committed_gib=0, cpus=8, allocated=0, maintenance=None, domains=()):
    return {"hypervisor": {"memory": {"total_kib": total_gib * GIB, "committed_kib": committed_gib * GIB},
                           "vcpus": {"physical": cpus, "allocated": allocated}, "maintenance": maintenance},
            "domains": [{"name": n, "active": active, "memory_kib": gib * GIB, "vcpus": vcpus}
                        for n, active, gib, vcpus in domains]}


def settings(**kw):
    return fs.sample_settings(dict({"sources": ["hv1"], "seed": "run-1"}, **kw))


def reader(fleet, calls):
    def read_batch(names):
        calls.append(list(names))
        return [("ok", fleet[n]) if n in fleet else ("error", RuntimeError("down")) for n in names]
    return read_batch


def fleet_of(n, **kw):
    return {"hv%d" % i: host(**kw) for i in range(2, n + 1)}


def test_sources_come_first_and_the_rest_is_shuffled_by_seed():
    names = ["hv%d" % i for i in range(1, 31)]
    one = fs.read_order(names, ["hv5", "hv1"], "a")
    assert one[:2] == ["hv1", "hv5"]
    assert sorted(one) == sorted(names)
    assert one == fs.read_order(names, ["hv5", "hv1"], "a")
    assert one[2:] != fs.read_order(names, ["hv5", "hv1"], "b")[2:]


def test_a_large_group_is_read_only_as_far_as_needed():
    calls = []
    local = host(domains=[("vm1", True, 2, 1), ("vm2", True, 2, 1)])
    read, not_read = fs.read_sampled(["hv%d" % i for i in range(2, 31)], reader(fleet_of(30), calls),
                                     settings(destinations=4), ("hv1", lambda: local))
    assert len(read) == 4 and len(calls) == 1
    assert len(not_read) == 25 and not set(read) & set(not_read)


def test_hosts_that_do_not_answer_are_replaced_by_others():
    calls = []
    fleet = fleet_of(30)
    names = list(fleet)
    for name in fs.read_order(names, ["hv1"], "run-1")[:2]:
        del fleet[name]
    read, _not_read = fs.read_sampled(names, reader(fleet, calls), settings(destinations=4),
                                      ("hv1", host))
    assert sum(1 for outcome in read.values() if outcome[0] == "ok") == 4
    assert len(calls) == 2 and len(calls[1]) == 2


def test_reading_goes_on_until_the_room_covers_the_margin():
    calls = []
    # Each destination has 4 GiB left; the sources run 10 GiB; margin 2 needs 20 GiB: five hosts.
    fleet = fleet_of(30, total_gib=8, committed_gib=4)
    local = host(domains=[("big", True, 10, 2), ("off", False, 50, 8)])
    read, _not_read = fs.read_sampled(list(fleet), reader(fleet, calls), settings(destinations=2),
                                      ("hv1", lambda: local))
    assert len(read) == 5


def test_marked_hosts_count_no_room_and_a_small_group_is_read_whole():
    fleet = fleet_of(5, maintenance={"state": "maintenance"})
    read, not_read = fs.read_sampled(list(fleet), reader(fleet, []), settings(destinations=2),
                                     ("hv1", lambda: host(domains=[("vm", True, 1, 1)])))
    assert sorted(read) == sorted(fleet) and not_read == []


def test_other_sources_are_read_with_the_first_batch():
    calls = []
    fleet = fleet_of(12)
    fs.read_sampled(list(fleet), reader(fleet, calls), settings(sources=["hv1", "hv7"], destinations=3),
                    ("hv1", host))
    assert calls[0][0] == "hv7" and len(calls[0]) == 4


def test_vcpus_count_as_room_too():
    fleet = fleet_of(30, cpus=4, allocated=3)
    local = host(domains=[("wide", True, 1, 8)])
    read, _not_read = fs.read_sampled(list(fleet), reader(fleet, []), settings(destinations=2, vcpu_ratio=1.0),
                                      ("hv1", lambda: local))
    assert len(read) == 16


@pytest.mark.parametrize("raw, message", [
    ({"destinations": 0}, "sample.destinations must be at least 1"),
    ({"margin": 0.5}, "sample.margin must be a number from 1.0"),
    ({"margin": float("nan")}, "sample.margin"),
    ({"vcpu_ratio": 0}, "sample.vcpu_ratio"),
    ({"reserved_memory_mib": -1}, "sample.reserved_memory_mib"),
])
def test_bad_settings_are_refused_by_name(raw, message):
    with pytest.raises(DroverError, match=message):
        fs.sample_settings(raw)


def test_no_sample_means_every_host():
    assert fs.sample_settings(None) is None
