# -*- coding: utf-8 -*-
"""Placement quality: never fewer VMs than first-fit or best-fit decreasing, the binding resource
ranks hosts, spread is relative; and the refusals that keep a plan honest."""

from __future__ import annotations

import math
import random
import re

import pytest

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._planner import plan_evacuation

GIB = 1024 * 1024  # KiB


def hv(free_gib, physical=64, allocated=0, total_gib=None, maintenance=None, domains=()):
    total = total_gib if total_gib is not None else free_gib
    return {"hypervisor": {"memory": {"total_kib": total * GIB, "committed_kib": (total - free_gib) * GIB},
                           "vcpus": {"physical": physical, "allocated": allocated}, "maintenance": maintenance},
            "domains": list(domains)}


def vm(name, gib, vcpus=1, **extra):
    dom = {"name": name, "uuid": "uuid-" + name, "state": "running", "active": True, "persistent": True,
           "memory_kib": gib * GIB, "vcpus": vcpus}
    dom.update(extra)
    return dom


def moved(plan):
    return {m["domain"]: m["destination"] for m in plan["moves"]}


EXACT = {"memory_headroom_pct": 0, "vcpu_ratio": 1}


@pytest.mark.parametrize("smaller_first", [True, False])
def test_free_8_and_11_gib_take_vms_of_8_5_and_5(smaller_first):
    """Placing the 8 GiB VM on the host with most room strands the two of 5 GiB; the plan places all three."""
    names = ("hv2", "hv3") if smaller_first else ("hv3", "hv2")
    fleet = {"hv1": hv(64, domains=[vm("a", 8), vm("b", 5), vm("c", 5)]), names[0]: hv(8), names[1]: hv(11)}
    plan = plan_evacuation(fleet, ["hv1"], constraints=EXACT)
    assert plan["unplaced"] == []
    assert moved(plan) == {"a": names[0], "b": names[1], "c": names[1]}
    for dest in plan["destinations"].values():
        assert dest["memory_free_kib_after"] >= 0


def test_the_binding_resource_ranks_hosts():
    """hv2 has the most memory free but few vCPUs left; hv3 less memory and plenty of vCPUs: hv3 is the emptier."""
    fleet = {"hv1": hv(64, domains=[vm("a", 2, vcpus=2)]),
             "hv2": hv(60, physical=16, allocated=14, total_gib=64),
             "hv3": hv(40, physical=16, allocated=2, total_gib=64)}
    plan = plan_evacuation(fleet, ["hv1"], constraints=EXACT)
    assert moved(plan) == {"a": "hv3"}
    assert plan["moves"][0]["alternates"] == ["hv2"]
    # Many VMs: the vCPUs run out on hv2 first, and none is placed beyond either host's vCPUs.
    many = {"hv1": hv(256, domains=[vm("v%02d" % i, 1, vcpus=2) for i in range(10)]),
            "hv2": hv(60, physical=16, allocated=10, total_gib=64), "hv3": hv(40, physical=16, allocated=2, total_gib=64)}
    plan = plan_evacuation(many, ["hv1"], constraints=EXACT)
    after = plan["destinations"]
    assert after["hv2"]["vcpus_allocated_after"] <= 16 and after["hv3"]["vcpus_allocated_after"] <= 16
    assert after["hv3"]["inbound"] > after["hv2"]["inbound"]
    assert plan["unplaced"] == []


def test_spread_is_by_relative_use_not_absolute_free_memory():
    """A 64 GiB host and a 256 GiB host, both empty: VMs go to each in proportion, not all to the big one first."""
    fleet = {"hv1": hv(256, domains=[vm("v%02d" % i, 4) for i in range(10)]), "small": hv(64), "big": hv(256)}
    plan = plan_evacuation(fleet, ["hv1"], constraints={"memory_headroom_pct": 0})
    counts = {"small": 0, "big": 0}
    for destination in moved(plan).values():
        counts[destination] += 1
    assert counts == {"small": 2, "big": 8}
    use = {name: 1 - d["memory_free_kib_after"] / d["memory_free_kib_before"] for name, d in plan["destinations"].items()}
    assert abs(use["small"] - use["big"]) <= 4 / 64.0  # within one VM's share of the small host


def test_spread_still_goes_to_the_emptier_of_equal_hosts():
    fleet = {"hv1": hv(64, domains=[vm("a", 4)]), "hv2": hv(30, total_gib=64), "hv3": hv(40, total_gib=64)}
    assert moved(plan_evacuation(fleet, ["hv1"], constraints=EXACT)) == {"a": "hv3"}


def test_hosts_short_of_vcpus_are_passed_over():
    """Hosts with free memory and no vCPU to spare (or too few) never take a VM, however many there are."""
    fleet = {"hv1": hv(256, domains=[vm("v%02d" % i, 2, vcpus=2) for i in range(8)])}
    fleet.update({"full%02d" % i: hv(500, physical=8, allocated=8 - i % 2, total_gib=512) for i in range(40)})
    fleet["room"] = hv(32, physical=16, total_gib=64)
    plan = plan_evacuation(fleet, ["hv1"], constraints=EXACT)
    assert set(moved(plan).values()) == {"room"}
    assert plan["unplaced"] == []


def test_the_reason_speaks_of_the_final_figures():
    fleet = {"hv1": hv(64, domains=[vm("big", 8), vm("a", 3), vm("b", 3)]), "hv2": hv(6, total_gib=64)}
    plan = plan_evacuation(fleet, ["hv1"], constraints=EXACT)
    assert moved(plan) == {"a": "hv2", "b": "hv2"}
    assert plan["unplaced"][0]["reason"] == "needs 8192 MiB; most free on a valid destination is hv2 with 0 MiB (0% headroom kept)"


# --- copies of one VM on two drained hosts ------------------------------------------------------

def test_same_name_on_two_drained_hosts_is_refused_naming_both():
    fleet = {"hv1": hv(64, domains=[vm("web", 2)]), "hv2": hv(64, domains=[vm("web", 2, uuid="other")]), "hv3": hv(64)}
    with pytest.raises(DroverError, match=r"domain web on hv1 and domain web on hv2 have the same name: both hosts are being drained"):
        plan_evacuation(fleet, ["hv1", "hv2"])


def test_same_uuid_on_two_drained_hosts_is_refused_naming_both():
    fleet = {"hv1": hv(64, domains=[vm("web", 2, uuid="u-1")]), "hv2": hv(64, domains=[vm("web-copy", 2, uuid="u-1")]),
             "hv3": hv(64)}
    with pytest.raises(DroverError, match=r"domain web on hv1 and domain web-copy on hv2 have the same UUID u-1"):
        plan_evacuation(fleet, ["hv2", "hv1"])


def test_a_copy_that_stays_put_is_no_duplicate():
    """Only copies that would both be planned are refused: a pinned copy stays where it is."""
    fleet = {"hv1": hv(64, domains=[vm("web", 2)]), "hv2": hv(64, domains=[vm("web", 2, tags={"pinned": True})]),
             "hv3": hv(64)}
    plan = plan_evacuation(fleet, ["hv1", "hv2"])
    assert moved(plan) == {"web": "hv3"}
    assert [(u["domain"], u["source"], u["reason"]) for u in plan["unplaced"]] == [("web", "hv2", "pinned")]


# --- numbers in facts ---------------------------------------------------------------------------

def _set(fleet, path, value):
    *keys, last = path
    target = fleet
    for key in keys:
        target = target[key]
    target[last] = value


@pytest.mark.parametrize("path, message", [
    (("hv1", "domains", 0, "memory_kib"), r"fleet\[hv1\] domain a: field memory_kib"),
    (("hv1", "domains", 0, "vcpus"), r"fleet\[hv1\] domain a: field vcpus"),
    (("hv2", "domains", 0, "current_memory_kib"), r"fleet\[hv2\] domain s: field current_memory_kib"),
    (("hv2", "hypervisor", "memory", "total_kib"), r"fleet\[hv2\]\.hypervisor\.memory: field total_kib"),
    (("hv2", "hypervisor", "memory", "committed_kib"), r"fleet\[hv2\]\.hypervisor\.memory: field committed_kib"),
    (("hv2", "hypervisor", "vcpus", "physical"), r"fleet\[hv2\]\.hypervisor\.vcpus: field physical"),
    (("hv2", "hypervisor", "vcpus", "allocated"), r"fleet\[hv2\]\.hypervisor\.vcpus: field allocated"),
    (("hv1", "domains", 0, "dirty_rate_mib_s"), r"fleet\[hv1\] domain a: field dirty_rate_mib_s"),
    (("hv1", "domains", 0, "disks", 0, "capacity_bytes"), r"fleet\[hv1\] domain a: disk vda field capacity_bytes"),
])
@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), -float("inf")])
def test_negative_nan_or_infinite_numbers_are_refused_by_host_and_field(path, message, bad):
    fleet = {"hv1": hv(64, domains=[vm("a", 2, dirty_rate_mib_s=5, disks=[{"target": "vda", "capacity_bytes": 1}])]),
             "hv2": hv(64, domains=[vm("s", 1, current_memory_kib=GIB)])}
    _set(fleet, path, bad)
    with pytest.raises(DroverError, match=message + " must be a finite number of 0 or more, got " + re.escape(repr(bad))):
        plan_evacuation(fleet, ["hv1"])


# --- never fewer than first-fit or best-fit decreasing ------------------------------------------

def _capacity(facts, headroom, ratio):
    hv_ = facts["hypervisor"]
    total = hv_["memory"]["total_kib"]
    return (total - hv_["memory"]["committed_kib"] - math.ceil(total * headroom / 100.0),
            math.floor(ratio * hv_["vcpus"]["physical"] + 1e-9) - hv_["vcpus"]["allocated"])


def textbook(fleet, constraints, best_fit):
    """First-fit (hosts by name) or best-fit (least memory free) decreasing by memory, with anti-affinity:
    how many VMs it places. Written here from the rules, for small fleets."""
    targets = sorted(h for h in fleet if h != "hv1" and fleet[h]["hypervisor"]["maintenance"] is None)
    room = {h: list(_capacity(fleet[h], constraints["memory_headroom_pct"], constraints["vcpu_ratio"])) for h in targets}
    groups = {h: {g for d in fleet[h]["domains"] for g in d["tags"]["anti_affinity"]} for h in targets}
    placed = 0
    for dom in sorted(fleet["hv1"]["domains"], key=lambda d: (-d["memory_kib"], -d["vcpus"], d["name"])):
        fits = [h for h in targets if room[h][0] >= dom["memory_kib"] and room[h][1] >= dom["vcpus"]
                and not groups[h] & set(dom["tags"]["anti_affinity"])]
        if not fits:
            continue
        host = min(fits, key=lambda h: (room[h][0], h)) if best_fit else fits[0]
        room[host][0] -= dom["memory_kib"]
        room[host][1] -= dom["vcpus"]
        groups[host].update(dom["tags"]["anti_affinity"])
        placed += 1
    return placed


def tight_fleet(rnd):
    fleet = {"hv1": hv(256, domains=[vm("v%02d" % n, rnd.randint(1, 12), vcpus=rnd.randint(1, 6),
                                        tags={"anti_affinity": ["g"] if rnd.random() < 0.2 else []})
                                     for n in range(rnd.randint(3, 12))])}
    for h in range(2, rnd.randint(4, 7)):
        total = rnd.randint(4, 24)
        stays = [vm("s%d" % h, 1, tags={"anti_affinity": ["g"]})] if rnd.random() < 0.2 else []
        fleet["hv%d" % h] = hv(rnd.randint(total // 2, total), physical=rnd.randint(1, 8), allocated=rnd.randint(0, 4),
                               total_gib=total, maintenance={"state": "maintenance"} if rnd.random() < 0.1 else None,
                               domains=stays)
    return fleet, {"memory_headroom_pct": rnd.choice((0, 10)), "vcpu_ratio": rnd.choice((1, 2, 4))}


def test_never_fewer_vms_than_first_fit_or_best_fit_decreasing():
    rnd = random.Random(20261130)
    better = 0
    for _i in range(400):
        fleet, constraints = tight_fleet(rnd)
        plan = plan_evacuation(fleet, ["hv1"], constraints=constraints)
        ffd, bfd = textbook(fleet, constraints, False), textbook(fleet, constraints, True)
        assert len(plan["moves"]) >= max(ffd, bfd), (fleet, constraints, plan["moves"], ffd, bfd)
        better += len(plan["moves"]) > min(ffd, bfd)
        for dest in plan["destinations"].values():
            if dest["inbound"]:
                assert dest["memory_free_kib_after"] >= 0
    assert better  # the sweep has fleets where one of the textbook ways is worse
