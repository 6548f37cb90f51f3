# -*- coding: utf-8 -*-
"""The planner under fleet conditions: room other runs claimed, several hosts drained at once."""

from __future__ import annotations

import pytest

from ansible_collections.drover.libvirt.plugins.module_utils._claims import stale_claims
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._planner import plan_evacuation

GIB = 1024 * 1024
U = "%08d-0000-0000-0000-000000000000"


def _host(domains=(), claims=None, cpus=2):
    hv = {"memory": {"total_kib": 64 * GIB}, "vcpus": {"physical": cpus}, "maintenance": None}
    if claims is not None:
        hv["claims"] = claims
    return {"hypervisor": hv, "domains": list(domains)}


def _dom(name, n, vcpus=2):
    return {"name": name, "uuid": U % n, "state": "running", "active": True, "persistent": True,
            "memory_kib": GIB, "current_memory_kib": GIB, "vcpus": vcpus}


def _claim(run, n, vcpus=2, live=True):
    return {"run_id": run, "uuid": U % n, "memory_kib": GIB, "vcpus": vcpus, "live": live}


def _fleet(claims):
    # hv2 allows 8 vCPUs (2 CPUs x ratio 4); hv1 holds two domains of 2 vCPUs to place.
    return {"hv1": _host([_dom("a", 1), _dom("b", 2)]), "hv2": _host(claims=claims)}


def test_room_claimed_by_another_run_is_not_planned_twice():
    plan = plan_evacuation(_fleet([_claim("other", 10), _claim("other", 11), _claim("other", 12)]),
                           ["hv1"], constraints={"run_id": "mine"})
    assert [m["domain"] for m in plan["moves"]] == ["a"]  # 6 of 8 vCPUs claimed: room for one
    assert [u["domain"] for u in plan["unplaced"]] == ["b"]


def test_own_expired_and_arrived_claims_hold_no_room():
    claims = [_claim("mine", 10), _claim("mine", 11), _claim("other", 12, live=False), _claim("other", 1)]
    # Claim for domain 1 (on hv1, not active on hv2) is another run's: it counts once.
    plan = plan_evacuation(_fleet(claims), ["hv1"], constraints={"run_id": "mine"})
    assert sorted(m["domain"] for m in plan["moves"]) == ["a", "b"]
    arrived = {"hv1": _host([_dom("a", 1), _dom("b", 2)]),
               "hv2": _host([_dom("c", 3)], claims=[_claim("other", 3), _claim("other", 3)])}
    plan = plan_evacuation(arrived, ["hv1"], constraints={"run_id": "mine"})
    assert sorted(m["domain"] for m in plan["moves"]) == ["a", "b"]  # c's claims count through c only


@pytest.mark.parametrize("claim", [{"run_id": "x", "uuid": U % 1, "memory_kib": -1, "vcpus": 1},
                                   {"run_id": "x", "uuid": U % 1, "memory_kib": float("nan"), "vcpus": 1},
                                   {"uuid": U % 1, "memory_kib": 1, "vcpus": 1}, "not a claim"])
def test_malformed_claims_are_refused_by_name(claim):
    with pytest.raises(DroverError, match=r"fleet\[hv2\]\.hypervisor\.claims\[0\]"):
        plan_evacuation(_fleet([claim]), ["hv1"])


def test_two_drained_hosts_drain_at_once_within_the_global_cap():
    fleet = {"hv1": _host([_dom("a", 1, vcpus=1), _dom("b", 2, vcpus=1)]),
             "hv2": _host([_dom("c", 3, vcpus=1), _dom("d", 4, vcpus=1)]),
             "hv3": _host(cpus=8), "hv4": _host(cpus=8)}
    caps = {"max_parallel": 2, "max_per_source": 2, "max_per_destination": 1}
    plan = plan_evacuation(fleet, ["hv1", "hv2"], constraints=caps)
    assert plan["caps"] == {"max_parallel": 2, "max_per_source": 1, "max_per_destination": 1, "sources_at_once": 2}
    first = [m for m in plan["moves"] if m["wave"] == 1]
    assert sorted(m["source"] for m in first) == ["hv1", "hv2"]  # one from each, at once
    assert len({m["destination"] for m in first}) == 2  # and never two into one destination
    assert len(plan["waves"]) == 2


def _sourced(run, n, source, name):
    return dict(_claim(run, n), source=source, name=name, domain="d%d" % n)


def test_claims_for_moves_that_are_over_hold_no_room_and_are_listed_stale():
    # Three claims of 2 vCPUs on hv2 from a run cut off there: d10 and d11 left hv3 (their moves are over),
    # d12 is still on hv3 (its move may be about to start), d13's source was not read.
    hv3 = _host([dict(_dom("d12", 12), active=False)])
    hv3["hypervisor"]["maintenance"] = {"state": "maintenance"}  # not a destination
    claims = [_sourced("dead", 10, "hv3", "c10"), _sourced("dead", 11, "hv3", "c11"),
              _sourced("dead", 12, "hv3", "c12"), _sourced("dead", 13, "hv9", "c13")]
    fleet = dict(_fleet(claims), hv3=hv3)
    stale = stale_claims(fleet)
    assert list(stale) == ["hv2"] and [c["name"] for c in stale["hv2"]] == ["c10", "c11"]
    assert stale["hv2"][0]["why"] == "its domain is no longer on hv3, the source it was claimed from"
    # 4 of hv2's 8 vCPUs stay claimed (d12, d13): room for both of hv1's domains of 2 vCPUs.
    plan = plan_evacuation(fleet, ["hv1"], constraints={"run_id": "mine"})
    assert sorted(m["domain"] for m in plan["moves"]) == ["a", "b"]
    # The same claims with their source unknown all hold room: one domain placed.
    unknown = dict(_fleet([dict(c, source="") for c in claims[:3]]), hv3=hv3)
    assert stale_claims(unknown) == {}
    assert len(plan_evacuation(unknown, ["hv1"], constraints={"run_id": "mine"})["moves"]) == 1


def test_a_claim_whose_domain_arrived_is_stale_and_expired_or_malformed_ones_are_not_listed():
    claims = [_sourced("r", 3, "hv1", "arrived"), dict(_sourced("r", 4, "hv1", "expired"), live=False),
              dict(_sourced("r", 5, "hv1", "odd"), uuid=["x"]), "junk"]
    fleet = {"hv1": _host([_dom("a", 1)]), "hv2": _host([_dom("c", 3)], claims=claims)}
    assert [(c["name"], c["why"]) for c in stale_claims(fleet)["hv2"]] == [("arrived", "its domain is active here")]


def _off(name, n):
    return dict(_dom(name, n), state="shut off", active=False)


@pytest.mark.parametrize("shutoff", ["move", "leave"])
def test_a_shut_off_definition_left_by_a_move_that_landed_is_finished_where_the_domain_runs(shutoff):
    # x left hv1 in an earlier run and runs, persistent, on hv2; the run was cut off before undefining it on hv1.
    fleet = {"hv1": _host([_off("x", 1), _dom("a", 2)]), "hv2": _host([_dom("x", 1)]), "hv3": _host()}
    plan = plan_evacuation(fleet, ["hv1"], constraints={"include_shutoff": shutoff == "move"})
    finish = [m for m in plan["moves"] if m["domain"] == "x"]
    assert len(finish) == 1 and (finish[0]["destination"], finish[0]["method"], finish[0]["finishes"]) == ("hv2", "live", True)
    assert finish[0]["notes"] == ["finishes an earlier move: x runs, persistent, on hv2; its shut-off definition left on hv1 goes"]
    assert finish[0]["estimated_bytes"] == 0 and [m["domain"] for m in plan["moves"]] == ["a", "x"]
    assert not [e for e in plan["skipped"] + plan["unplaced"] if e["domain"] == "x"]


@pytest.mark.parametrize("elsewhere", [
    {"hv2": _host([dict(_dom("x", 1), persistent=False)])},          # transient there: its definition is the one here
    {"hv2": _host([_dom("x", 1)]), "hv3": _host([_dom("x", 1)])},     # running twice: for a person to decide
    {"hv2": _host([_dom("y", 1)])},                                   # another name: not the same domain
    {"hv2": _host([dict(_dom("x", 1), persistent=None)])},            # persistence unknown: never assumed
])
def test_only_a_single_persistent_copy_of_the_same_domain_elsewhere_is_finished(elsewhere):
    fleet = dict({"hv1": _host([_off("x", 1)]), "hv2": _host(), "hv3": _host()}, **elsewhere)
    plan = plan_evacuation(fleet, ["hv1"], constraints={"include_shutoff": True})
    assert not [m for m in plan["moves"] if m.get("finishes")]


def test_moves_start_longest_first_by_the_estimate_that_counts_each_guest_s_dirty_rate():
    # a and b have the same memory; b dirties 60 of the 100 MiB/s the plan counts on: more passes, a longer move.
    hot = dict(_dom("b", 2), dirty_rate_mib_s=60)
    fleet = {"hv1": _host([_dom("a", 1), hot]), "hv2": _host(), "hv3": _host()}
    plan = plan_evacuation(fleet, ["hv1"], constraints={"bandwidth_mib_s": 100})
    assert [m["domain"] for m in plan["moves"]] == ["b", "a"]
    assert plan["moves"][0]["estimated_seconds"] > plan["moves"][1]["estimated_seconds"]
    assert [m["order"] for m in plan["moves"]] == [1, 2]


def test_a_claim_for_a_cold_move_whose_domain_is_already_defined_there_is_kept():
    # c20 left hv3 as a definition on hv2 that the cold move has not started yet: its claim still holds the room.
    hv3 = _host()
    hv3["hypervisor"]["maintenance"] = {"state": "maintenance"}
    fleet = dict(_fleet([_sourced("cold", 20, "hv3", "c20")]), hv3=hv3)
    fleet["hv2"]["domains"] = [dict(_off("c20", 20))]
    assert stale_claims(fleet) == {}
