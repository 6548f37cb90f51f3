import copy
import json
import random
from collections import Counter

import pytest

from ansible_collections.drover.libvirt.plugins.module_utils import _plan_select
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._plan_explain import NO_DESTINATION
from ansible_collections.drover.libvirt.plugins.module_utils._planner import plan_evacuation
from ansible_collections.drover.libvirt.plugins.module_utils._transfer_estimate import move_estimate as estimate

GIB = 1024 ** 3


def hv(total_mib=16384, committed_mib=0, physical=8, allocated=0, maintenance=None):
    return {"hostname": "x", "memory": {"total_kib": total_mib * 1024, "free_kib": (total_mib - committed_mib) * 1024,
                                        "committed_kib": committed_mib * 1024, "hugepages": []},
            "vcpus": {"physical": physical, "allocated": allocated}, "maintenance": maintenance}


def vm(name, mib=1024, vcpus=1, state="running", **extra):
    tags = {"anti_affinity": [], "affinity": [], "pinned": False, "labels": {}}
    tags.update(extra.pop("tags", {}))
    dom = {"name": name, "uuid": "uuid-" + name, "state": state, "state_reason": 1, "active": state != "shutoff",
           "persistent": True, "memory_kib": mib * 1024, "current_memory_kib": mib * 1024, "vcpus": vcpus,
           "disks": [], "blockers": [], "tags": tags, "dirty_rate_mib_s": None, "job": None}
    dom.update(extra)
    return dom


def host(hypervisor=None, *domains):
    return {"hypervisor": hypervisor or hv(), "domains": list(domains)}


def moved(plan):
    return {m["domain"]: m["destination"] for m in plan["moves"]}


def unplaced(plan):
    return {u["domain"]: u["reason"] for u in plan["unplaced"]}


def two_way(*domains, **dest):
    """hv1 (drained) holding `domains`, and empty destinations hv2 and hv3 (or the hypervisors given)."""
    fleet = {"hv1": host(hv(65536), *domains)}
    for name in dest or ("hv2", "hv3"):
        fleet[name] = dest.get(name) or host()
    return fleet


# --- output shape ------------------------------------------------------------------------------

def test_one_live_move_has_every_field():
    plan = plan_evacuation(two_way(vm("db1", 4096, 2)), ["hv1"])
    assert sorted(plan) == ["caps", "destinations", "estimated_seconds", "excluded_destinations", "moves",
                            "skipped", "unplaced", "waves"]
    assert plan["moves"] == [{
        "domain": "db1", "uuid": "uuid-db1", "source": "hv1", "destination": "hv2", "alternates": ["hv3"],
        "method": "live", "copy_storage": False, "wave": 1, "order": 1, "memory_bytes": 4 * GIB,
        "estimated_bytes": 4 * GIB, "estimated_seconds": 4.1, "notes": []}]
    assert plan["waves"] == [{"wave": 1, "domains": ["db1"], "estimated_seconds": 4.1}]
    assert plan["estimated_seconds"] == 4.1
    assert plan["caps"] == {"max_parallel": 2, "max_per_source": 2, "max_per_destination": 1, "sources_at_once": 1}
    free = 16384 * 1024 - 1677722  # 10 % headroom, rounded up
    assert plan["destinations"] == {
        "hv2": {"memory_free_kib_before": free, "memory_free_kib_after": free - 4096 * 1024, "vcpus_allocated_after": 2, "inbound": 1},
        "hv3": {"memory_free_kib_before": free, "memory_free_kib_after": free, "vcpus_allocated_after": 0, "inbound": 0}}
    assert plan["excluded_destinations"] == {"hv1": "being drained"}
    assert plan["unplaced"] == [] and plan["skipped"] == []
    json.dumps(plan)


# --- capacity ----------------------------------------------------------------------------------

def test_memory_headroom_is_kept():
    fleet = two_way(vm("fits", 9216), hv2=host(hv(10240)), hv3=host(hv(1024)))
    assert moved(plan_evacuation(fleet, ["hv1"])) == {"fits": "hv2"}
    fleet = two_way(vm("big", 9217), hv2=host(hv(10240)), hv3=host(hv(1024)))
    plan = plan_evacuation(fleet, ["hv1"])
    assert unplaced(plan) == {"big": "needs 9217 MiB; most free on a valid destination is hv2 with 9216 MiB (10% headroom kept)"}
    assert plan["unplaced"][0]["method"] == "live"
    plan = plan_evacuation(fleet, ["hv1"], constraints={"memory_headroom_pct": 0})
    assert moved(plan) == {"big": "hv2"}


def test_committed_memory_counts_and_defaults_to_active_domains():
    fleet = two_way(vm("a", 4096), hv2=host(hv(16384, committed_mib=12000)), hv3=host(hv(16384, committed_mib=8000)))
    assert moved(plan_evacuation(fleet, ["hv1"])) == {"a": "hv3"}
    # Without committed_kib, the active domains' current memory is what counts.
    busy = hv(16384)
    del busy["memory"]["committed_kib"], busy["vcpus"]["allocated"]
    fleet = two_way(vm("a", 4096), hv2=host(busy, vm("x", 12000)), hv3=host(hv(16384, committed_mib=8000)))
    plan = plan_evacuation(fleet, ["hv1"])
    assert moved(plan) == {"a": "hv3"}
    assert plan["destinations"]["hv2"]["vcpus_allocated_after"] == 1


def test_reservation_per_host_or_for_all():
    fleet = two_way(vm("a", 8704), hv2=host(hv(10240)), hv3=host(hv(10240, committed_mib=1)))
    plan = plan_evacuation(fleet, ["hv1"], constraints={"reserved_memory_mib": {"hv2": 1024}})
    assert moved(plan) == {"a": "hv3"}
    assert plan["destinations"]["hv2"]["memory_free_kib_before"] == 8192 * 1024
    plan = plan_evacuation(fleet, ["hv1"], constraints={"reserved_memory_mib": 1024})
    assert unplaced(plan) == {"a": "needs 8704 MiB; most free on a valid destination is hv2 with 8192 MiB "
                                   "(10% headroom and 1024 MiB reserved kept)"}


def test_vcpu_ratio():
    fleet = two_way(vm("a", 1024, vcpus=2), hv2=host(hv(physical=2, allocated=3)), hv3=host(hv(1024)))
    plan = plan_evacuation(fleet, ["hv1"], constraints={"vcpu_ratio": 2})
    assert unplaced(plan) == {"a": "needs 2 vCPUs; most free on a valid destination with room for its memory is hv2 with 1 (vcpu_ratio 2)"}
    plan = plan_evacuation(fleet, ["hv1"], constraints={"vcpu_ratio": 2.5})
    assert moved(plan) == {"a": "hv2"} and plan["destinations"]["hv2"]["vcpus_allocated_after"] == 5
    full = two_way(vm("a"), hv2=host(hv(physical=2, allocated=4)), hv3=host(hv(physical=1, allocated=2)))
    plan = plan_evacuation(full, ["hv1"], constraints={"vcpu_ratio": 2})
    assert unplaced(plan) == {"a": "no vCPU free under vcpu_ratio 2 on hv2, hv3"}


def test_capacity_taken_by_earlier_moves_counts():
    fleet = two_way(vm("a", 6000), vm("b", 6000), vm("c", 6000), hv2=host(hv(14000)), hv3=host(hv(7000)))
    plan = plan_evacuation(fleet, ["hv1"])
    assert moved(plan) == {"a": "hv2", "b": "hv2", "c": "hv3"} or sorted(moved(plan).values()) == ["hv2", "hv2", "hv3"]
    for dest in plan["destinations"].values():
        assert dest["memory_free_kib_after"] >= 0


# --- spread ------------------------------------------------------------------------------------

def test_largest_first_onto_the_most_free_memory_ties_by_name():
    fleet = {"hv1": host(hv(65536), vm("d", 512), vm("b", 2048), vm("a", 4096), vm("c", 1024)),
             "hv2": host(), "hv3": host(), "hv4": host(), "hv5": host()}
    plan = plan_evacuation(fleet, ["hv1"], constraints={"max_per_destination": 4, "max_parallel": 4, "max_per_source": 4})
    assert [(m["domain"], m["destination"], m["alternates"]) for m in plan["moves"]] == [
        ("a", "hv2", ["hv3", "hv4", "hv5"]),
        ("b", "hv3", ["hv4", "hv5", "hv2"]),
        ("c", "hv4", ["hv5", "hv3", "hv2"]),
        ("d", "hv5", ["hv4", "hv3", "hv2"])]


def test_never_piles_onto_one_host():
    fleet = {"hv1": host(hv(65536), *[vm("v%d" % i, 1024) for i in range(6)]), "hv2": host(), "hv3": host(), "hv4": host()}
    assert Counter(moved(plan_evacuation(fleet, ["hv1"])).values()) == {"hv2": 2, "hv3": 2, "hv4": 2}
    # Unequal hosts: the emptiest fills up first, and none ends more than one VM fuller than another.
    fleet = {"hv1": host(hv(65536), *[vm("v%d" % i, 1024) for i in range(6)]),
             "hv2": host(hv(32768)), "hv3": host(hv(32768, committed_mib=1024)), "hv4": host(hv(32768, committed_mib=2048))}
    plan = plan_evacuation(fleet, ["hv1"])
    assert Counter(moved(plan).values()) == {"hv2": 3, "hv3": 2, "hv4": 1}
    after = [d["memory_free_kib_after"] for d in plan["destinations"].values()]
    assert max(after) - min(after) <= 1024 * 1024


# --- anti-affinity -----------------------------------------------------------------------------

def test_anti_affinity_from_tags_avoids_the_holder():
    fleet = two_way(vm("web1", tags={"anti_affinity": ["web"]}),
                    hv2=host(hv(32768), vm("web2", tags={"anti_affinity": ["web"]})), hv3=host())
    assert moved(plan_evacuation(fleet, ["hv1"])) == {"web1": "hv3"}


def test_anti_affinity_from_inventory_groups():
    fleet = two_way(vm("web1"), hv2=host(hv(32768), vm("web2")), hv3=host())
    assert moved(plan_evacuation(fleet, ["hv1"])) == {"web1": "hv2"}
    plan = plan_evacuation(fleet, ["hv1"], constraints={"anti_affinity": {"web": ["web2", "web1", "elsewhere"]}})
    assert moved(plan) == {"web1": "hv3"}


def test_anti_affinity_between_moving_domains_and_shut_off_holders():
    fleet = two_way(vm("web1", tags={"anti_affinity": ["web"]}), vm("web2", tags={"anti_affinity": ["web"]}))
    assert sorted(moved(plan_evacuation(fleet, ["hv1"])).values()) == ["hv2", "hv3"]
    off = vm("web9", state="shutoff", tags={"anti_affinity": ["web"]})
    fleet = two_way(vm("web1", tags={"anti_affinity": ["web"]}), hv2=host(hv(32768), off), hv3=host())
    assert moved(plan_evacuation(fleet, ["hv1"])) == {"web1": "hv3"}


def test_anti_affinity_infeasible_names_the_holders():
    group = {"anti_affinity": ["web"]}
    fleet = two_way(vm("vm1", tags=group), hv2=host(hv(), vm("vm3", tags=group)), hv3=host(hv(), vm("vm4", tags=group)))
    plan = plan_evacuation(fleet, ["hv1"])
    assert unplaced(plan) == {"vm1": "anti-affinity group web: hv2 holds vm3, hv3 holds vm4"}


# --- affinity ----------------------------------------------------------------------------------

def test_affinity_members_land_together():
    fleet = two_way(vm("c1", 2048, tags={"affinity": ["cache"]}), vm("c2", 1024, tags={"affinity": ["cache"]}),
                    vm("other", 4096), hv2=host(hv(16384)), hv3=host(hv(16384, committed_mib=1)))
    plan = plan_evacuation(fleet, ["hv1"])
    dest = moved(plan)
    assert dest["c1"] == dest["c2"] and dest["other"] != dest["c1"]


def test_affinity_from_inventory_goes_where_a_member_already_runs():
    fleet = two_way(vm("c1"), vm("c2"), hv2=host(hv(32768)), hv3=host(hv(16384), vm("c3")))
    plan = plan_evacuation(fleet, ["hv1"], constraints={"affinity": {"cache": ["c1", "c2", "c3"]}})
    assert moved(plan) == {"c1": "hv3", "c2": "hv3"}


def test_affinity_impossible_is_explained():
    tags = {"affinity": ["cache"]}
    fleet = two_way(vm("c1", 4096, tags=tags), vm("c2", 4096, tags=tags), hv2=host(hv(7000)), hv3=host(hv(6000)))
    plan = plan_evacuation(fleet, ["hv1"])
    reason = "affinity group cache (c1, c2): needs 8192 MiB; most free on a valid destination is hv2 with 6300 MiB (10% headroom kept)"
    assert unplaced(plan) == {"c1": reason, "c2": reason}
    fleet = two_way(vm("c1", 2048, tags=tags), hv2=host(hv(65536)), hv3=host(hv(2048), vm("c3", tags=tags)))
    plan = plan_evacuation(fleet, ["hv1"])
    assert unplaced(plan) == {"c1": "affinity group cache (c1): members already on hv3 (needs 2048 MiB, 1843 MiB free with 10% headroom kept)"}
    fleet["hv3"]["hypervisor"] = hv(65536, maintenance={"state": "maintenance"})
    assert unplaced(plan_evacuation(fleet, ["hv1"])) == {"c1": "affinity group cache (c1): members already on hv3 (marked for maintenance)"}


def test_affinity_against_anti_affinity_never_places():
    tags = {"affinity": ["pair"], "anti_affinity": ["apart"]}
    plan = plan_evacuation(two_way(vm("a", tags=tags), vm("b", tags=tags)), ["hv1"])
    reason = "affinity group pair keeps a, b together but anti-affinity group apart keeps them apart"
    assert unplaced(plan) == {"a": reason, "b": reason}


# --- pinned, blockers, states ------------------------------------------------------------------

def test_pinned_never_moves():
    plan = plan_evacuation(two_way(vm("p", tags={"pinned": True}), vm("p2", state="shutoff", tags={"pinned": True})), ["hv1"])
    assert plan["unplaced"] == [{"domain": "p", "source": "hv1", "reason": "pinned", "method": "live"},
                                {"domain": "p2", "source": "hv1", "reason": "pinned", "method": "define"}]
    assert plan["moves"] == []
    plan = plan_evacuation(two_way(vm("p", tags={"pinned": True}, blockers=[{"kind": "hostdev", "detail": "x"}])), ["hv1"],
                           constraints={"cold": True})
    assert unplaced(plan) == {"p": "pinned"}


def test_blockers_without_and_with_cold():
    gpu = vm("gpu", 2048, blockers=[{"kind": "hostdev", "detail": "pci 0000:03:00.0"}])
    plan = plan_evacuation(two_way(gpu), ["hv1"])
    assert plan["unplaced"] == [{"domain": "gpu", "source": "hv1", "method": "cold",
                                 "reason": "has blockers: hostdev pci 0000:03:00.0 (set cold to move it shut down)"}]
    plan = plan_evacuation(two_way(gpu), ["hv1"], constraints={"cold": True})
    move = plan["moves"][0]
    assert (move["method"], move["estimated_bytes"], move["estimated_seconds"]) == ("cold", 0, 0.0)
    assert plan["destinations"][move["destination"]]["vcpus_allocated_after"] == 1  # it starts again there


def test_states_that_cannot_migrate_live():
    plan = plan_evacuation(two_way(vm("crash", state="crashed"), vm("paused", state="paused")), ["hv1"])
    assert unplaced(plan) == {"crash": "state crashed cannot migrate live (set cold to move it shut down)"}
    assert plan["moves"][0]["method"] == "live"
    busy = vm("busy", job={"type": "unbounded", "operation": "migration_out"})
    assert unplaced(plan_evacuation(two_way(busy), ["hv1"])) == {
        "busy": "a libvirt job is running on it (migration_out); plan again once it ends"}
    # As hypervisor_info reports them: the operation as libvirt's number, or what holds the domain.
    busy = vm("busy", job={"type": "unbounded", "operation": 5})
    assert unplaced(plan_evacuation(two_way(busy), ["hv1"])) == {
        "busy": "a libvirt job is running on it (outgoing migration); plan again once it ends"}
    busy = vm("busy", job={"type": "unbounded", "operation": 42})
    assert "(operation 42)" in unplaced(plan_evacuation(two_way(busy), ["hv1"]))["busy"]
    held = vm("held", job={"type": "unknown", "operation": None, "held_by": "an incoming post-copy migration (failed)"})
    assert unplaced(plan_evacuation(two_way(held), ["hv1"])) == {
        "held": "a libvirt job is running on it (an incoming post-copy migration (failed)); plan again once it ends"}


def test_same_name_or_uuid_already_on_a_destination_is_avoided():
    fleet = two_way(vm("a"), hv2=host(hv(65536), vm("a", state="shutoff")), hv3=host())
    assert moved(plan_evacuation(fleet, ["hv1"])) == {"a": "hv3"}
    fleet = two_way(vm("a"), hv2=host(), hv3=host(hv(65536), vm("renamed", uuid="uuid-a")))
    assert moved(plan_evacuation(fleet, ["hv1"])) == {"a": "hv2"}
    fleet = two_way(vm("a"), hv2=host(hv(65536), vm("a")), hv3=host(hv(), vm("b", uuid="uuid-a")))
    assert unplaced(plan_evacuation(fleet, ["hv1"])) == {"a": "a domain with the same name or UUID is already on hv2, hv3"}


# --- shut-off definitions ----------------------------------------------------------------------

def test_shut_off_domains_move_their_definition_without_capacity():
    fleet = two_way(vm("off", 8192, state="shutoff"), hv2=host(hv(4096)), hv3=host(hv(2048)))
    plan = plan_evacuation(fleet, ["hv1"])
    assert [(m["domain"], m["method"], m["destination"], m["estimated_bytes"]) for m in plan["moves"]] == [("off", "define", "hv2", 0)]
    dest = plan["destinations"]["hv2"]
    assert dest["memory_free_kib_before"] == dest["memory_free_kib_after"] and dest["vcpus_allocated_after"] == 0
    assert dest["inbound"] == 1


def test_shut_off_definitions_spread_and_count_for_anti_affinity():
    offs = [vm("off%d" % i, 1024, state="shutoff") for i in range(4)]
    plan = plan_evacuation(two_way(*offs), ["hv1"])
    assert Counter(moved(plan).values()) == {"hv2": 2, "hv3": 2}
    group = {"anti_affinity": ["web"]}
    plan = plan_evacuation(two_way(vm("run", tags=group), vm("off", state="shutoff", tags=group)), ["hv1"])
    assert moved(plan) == {"run": "hv2", "off": "hv3"}
    assert [m["domain"] for m in plan["moves"]] == ["run", "off"]  # running guests first


def test_include_shutoff_false_and_transient_shut_off():
    transient = vm("gone", state="shutoff", persistent=False)
    plan = plan_evacuation(two_way(vm("off", state="shutoff"), transient, vm("on")), ["hv1"], constraints={"include_shutoff": False})
    assert plan["skipped"] == [{"domain": "off", "source": "hv1", "reason": "shut off; include_shutoff is false"}]
    assert moved(plan) == {"on": "hv2"} and plan["unplaced"] == []


# --- excluded hosts ----------------------------------------------------------------------------

def test_maintenance_and_excluded_hosts_take_nothing():
    fleet = {"hv1": host(hv(65536), vm("a")), "hv2": host(hv(65536, maintenance={"state": "draining", "reason": "x"})),
             "hv3": host(hv(65536)), "hv4": host(hv(4096))}
    plan = plan_evacuation(fleet, ["hv1"], constraints={"exclude_hosts": ["hv3"]})
    assert moved(plan) == {"a": "hv4"}
    assert plan["excluded_destinations"] == {"hv1": "being drained", "hv2": "marked for maintenance",
                                             "hv3": "excluded by constraint exclude_hosts"}
    assert sorted(plan["destinations"]) == ["hv4"]
    plan = plan_evacuation(fleet, ["hv1", "hv4"], constraints={"exclude_hosts": "hv3"})
    assert unplaced(plan) == {"a": NO_DESTINATION}
    assert NO_DESTINATION == "no destination: all hosts are drained, excluded or in maintenance"


def test_drained_hosts_are_never_destinations():
    fleet = {"hv1": host(hv(65536), vm("a")), "hv2": host(hv(65536), vm("b")), "hv3": host(hv(4096))}
    plan = plan_evacuation(fleet, ["hv2", "hv1"])
    assert moved(plan) == {"a": "hv3", "b": "hv3"}
    assert all(set(m["alternates"]).isdisjoint({"hv1", "hv2"}) for m in plan["moves"])


# --- preflight verdicts ------------------------------------------------------------------------

def verdict(domain, destination, status, checks=(), copy_storage=False, source="hv1"):
    return {"domain": domain, "source": source, "destination": destination, "status": status,
            "copy_storage": copy_storage, "checks": [{"id": i, "status": s, "reason": r, "details": {}} for i, s, r in checks]}


def test_failed_verdict_excludes_that_destination():
    verdicts = [verdict("a", "hv2", "fail", [("cpu", "fail", "lacks avx512f"), ("net", "pass", "ok")])]
    plan = plan_evacuation(two_way(vm("a"), vm("b")), ["hv1"], verdicts)
    assert moved(plan)["a"] == "hv3" and "hv2" not in plan["moves"][0]["alternates"]


def test_failed_everywhere_lists_the_reasons():
    verdicts = [verdict("a", "hv3", "fail", [("network", "fail", "no bridge br0")]),
                verdict("a", "hv2", "fail", [("cpu", "fail", "lacks avx512f")])]
    plan = plan_evacuation(two_way(vm("a")), ["hv1"], verdicts)
    assert unplaced(plan) == {"a": "preflight failed on every destination: hv2 cpu: lacks avx512f, hv3 network: no bridge br0"}
    mixed = two_way(vm("a", tags={"anti_affinity": ["g"]}), hv2=host(), hv3=host(hv(), vm("z", tags={"anti_affinity": ["g"]})))
    assert unplaced(plan_evacuation(mixed, ["hv1"], verdicts[1:])) == {
        "a": "no valid destination: preflight failed on: hv2 cpu: lacks avx512f; anti-affinity group g: hv3 holds z"}


def test_live_only_checks_do_not_stop_cold_or_define_moves():
    gpu = vm("gpu", blockers=[{"kind": "hostdev", "detail": "pci 0000:03:00.0"}])
    off = vm("off", state="shutoff")
    verdicts = [verdict(name, dest, "fail", [(check, "fail", "x")]) for name in ("gpu", "off") for dest in ("hv2", "hv3")
                for check in ("blockers", "connectivity", "host_uuid")]
    verdicts += [verdict("off", "hv2", "fail", [("capacity", "fail", "hv2 has 0 MiB left")])]
    plan = plan_evacuation(two_way(gpu, off), ["hv1"], verdicts, {"cold": True})
    assert {m["domain"]: m["method"] for m in plan["moves"]} == {"gpu": "cold", "off": "define"}
    verdicts += [verdict("gpu", "hv2", "fail", [("machine_type", "fail", "no pc-q35-10.0")])]
    plan = plan_evacuation(two_way(gpu, off), ["hv1"], verdicts, {"cold": True})
    assert moved(plan)["gpu"] == "hv3"
    plan = plan_evacuation(two_way(vm("gpu")), ["hv1"], [verdict("gpu", d, "fail", [("connectivity", "fail", "closed")]) for d in ("hv2", "hv3")])
    assert unplaced(plan) == {"gpu": "preflight failed on every destination: hv2 connectivity: closed, hv3 connectivity: closed"}


def test_cold_moves_a_running_vm_that_no_destination_takes_live():
    """A local disk whose live copy is refused, or closed migration ports: a shut-down move still fits."""
    refused = {"id": "storage", "status": "fail", "reason": "disk vda is on storage hv2 cannot see",
               "details": {"copy_possible": True}}
    no_pool = dict(refused, details={"copy_possible": False}, reason="no pool")
    verdicts = [dict(verdict("loc", d, "fail"), checks=[refused]) for d in ("hv2", "hv3")]
    assert unplaced(plan_evacuation(two_way(vm("loc")), ["hv1"], verdicts))["loc"].startswith("preflight failed")
    plan = plan_evacuation(two_way(vm("loc")), ["hv1"], verdicts, {"cold": True})
    assert [(m["domain"], m["method"]) for m in plan["moves"]] == [("loc", "cold")]
    verdicts[0]["checks"] = [no_pool]
    plan = plan_evacuation(two_way(vm("loc")), ["hv1"], verdicts, {"cold": True})
    assert moved(plan) == {"loc": "hv3"} and plan["moves"][0]["method"] == "cold"
    live_somewhere = [verdicts[1], verdict("loc", "hv2", "pass")]
    plan = plan_evacuation(two_way(vm("loc")), ["hv1"], live_somewhere, {"cold": True})
    assert plan["moves"][0]["method"] == "live" and moved(plan) == {"loc": "hv2"}


def test_warnings_become_notes_and_verdict_copy_storage_counts_disks():
    disks = [{"target": "vda", "shared": True, "capacity_bytes": 50 * GIB}, {"target": "vdb", "shared": None, "capacity_bytes": 10 * GIB}]
    verdicts = [verdict("a", "hv2", "warn", [("machine", "warn", "pc-q35-9.2 is newer")], copy_storage=True),
                verdict("a", "hv3", "pass")]
    plan = plan_evacuation(two_way(vm("a", 1024, disks=disks)), ["hv1"], verdicts)
    move = plan["moves"][0]
    assert move["destination"] == "hv2" and move["copy_storage"] is True
    assert move["estimated_bytes"] == 11 * GIB and move["estimated_seconds"] == 11.3
    assert move["notes"] == ["preflight warning: hv2 machine: pc-q35-9.2 is newer"]


def test_copy_storage_inferred_from_local_disks():
    disks = [{"target": "vda", "shared": False, "capacity_bytes": 2 * GIB}, {"target": "vdb", "shared": False},
             {"target": "sda", "device": "cdrom", "shared": False, "capacity_bytes": GIB}]
    move = plan_evacuation(two_way(vm("a", 1024, disks=disks)), ["hv1"])["moves"][0]
    assert move["copy_storage"] is True and move["estimated_bytes"] == 3 * GIB
    assert move["notes"] == ["size unknown, not counted: vdb"]
    shared = [{"target": "vda", "shared": True, "capacity_bytes": 2 * GIB}]
    move = plan_evacuation(two_way(vm("a", 1024, disks=shared)), ["hv1"])["moves"][0]
    assert move["copy_storage"] is False and move["estimated_bytes"] == GIB


# --- estimates ---------------------------------------------------------------------------------

def test_estimates_with_dirty_rate():
    assert estimate("live", 1024 * 1024, 0, False, None, 1000) == (GIB, 1.0, [])
    assert estimate("live", 1024 * 1024, 0, False, 500, 1000) == (GIB, 2.0, [])
    nbytes, seconds, notes = estimate("live", 1024 * 1024, 0, False, 1500, 1000)
    assert (nbytes, seconds) == (GIB, 1.0) and "cannot converge" in notes[0] and "post-copy" in notes[0]
    assert estimate("cold", 1024 * 1024, 4 * GIB, True, 500, 1000) == (4 * GIB, 4.1, [])
    assert estimate("define", 1024 * 1024, 4 * GIB, False, None, 1000) == (0, 0.0, [])
    plan = plan_evacuation(two_way(vm("a", 1024, dirty_rate_mib_s=1500)), ["hv1"], constraints={"bandwidth_mib_s": 100})
    assert plan["moves"][0]["estimated_seconds"] == 10.2 and "cannot converge" in plan["moves"][0]["notes"][0]


# --- JMESPath selection ------------------------------------------------------------------------

def tiered():
    return two_way(vm("db1", 4096, tags={"labels": {"tier": "db"}}), vm("db2", 512, tags={"labels": {"tier": "db"}}),
                   vm("web1", 2048, tags={"labels": {"tier": "web"}}), vm("pin", tags={"pinned": True}),
                   hv2=host(hv(65536)), hv3=host(hv(65536)))


def test_select_returning_domains():
    plan = plan_evacuation(tiered(), ["hv1"], constraints={"select": "[?tags.labels.tier=='db']"})
    assert sorted(moved(plan)) == ["db1", "db2"]
    assert plan["skipped"] == [{"domain": n, "source": "hv1", "reason": "not selected by select expression [?tags.labels.tier=='db']"}
                               for n in ("pin", "web1")]


def test_select_returning_names_and_using_host():
    plan = plan_evacuation(tiered(), ["hv1"], constraints={"select": "[?memory_kib > `1048576`].name"})
    assert sorted(moved(plan)) == ["db1", "web1"]
    plan = plan_evacuation(tiered(), ["hv1"], constraints={"select": "[?!(tags.pinned)]"})
    assert sorted(moved(plan)) == ["db1", "db2", "web1"] and [s["domain"] for s in plan["skipped"]] == ["pin"]
    # JMESPath binds ! tighter than the dot: this is (!tags).pinned, which selects nothing (see docs/planner.md).
    plan = plan_evacuation(tiered(), ["hv1"], constraints={"select": "[?!tags.pinned]"})
    assert plan["moves"] == [] and len(plan["skipped"]) == 4
    plan = plan_evacuation(tiered(), ["hv1"], constraints={"select": "[?host=='hv1' && starts_with(name, 'web')].{name: name, host: host}"})
    assert list(moved(plan)) == ["web1"]


@pytest.mark.parametrize("expression, expected", [
    ("[?tags.labels.tier=='db']", ["db1", "db2"]),
    ("[?memory_kib > `1048576`].name", ["db1", "web1"]),
    ("[?state=='running']", ["db1", "db2", "web1"]),
    ("[?!(tags.pinned)]", ["db1", "db2", "web1"]),
    ("[?host=='hv1' && starts_with(name, 'web')]", ["web1"]),
    ("[?!(blockers)]", ["db1", "db2", "web1"]),
    ("[?contains(tags.anti_affinity, 'web')]", []),
])
def test_documented_select_examples(expression, expected):
    assert sorted(moved(plan_evacuation(tiered(), ["hv1"], constraints={"select": expression}))) == expected


def test_select_errors():
    with pytest.raises(DroverError, match=r"constraint select '\[\?' is not a JMESPath expression"):
        plan_evacuation(tiered(), ["hv1"], constraints={"select": "[?"})
    with pytest.raises(DroverError, match="must return a list of domains or domain names, got 4"):
        plan_evacuation(tiered(), ["hv1"], constraints={"select": "length(@)"})
    with pytest.raises(DroverError, match="each item must be a domain"):
        plan_evacuation(tiered(), ["hv1"], constraints={"select": "[].memory_kib"})
    with pytest.raises(DroverError, match="must be a JMESPath expression"):
        plan_evacuation(tiered(), ["hv1"], constraints={"select": ["db1"]})
    assert len(plan_evacuation(tiered(), ["hv1"], constraints={"select": ""})["moves"]) == 3


def test_select_without_jmespath(monkeypatch):
    monkeypatch.setattr(_plan_select, "jmespath", None)
    with pytest.raises(DroverError, match="jmespath is required"):
        plan_evacuation(tiered(), ["hv1"], constraints={"select": "[]"})
    assert len(plan_evacuation(tiered(), ["hv1"])["moves"]) == 3


# --- waves -------------------------------------------------------------------------------------

def busy_fleet():
    fleet = {"hv%d" % i: host(hv(65536), *[vm("vm%d-%d" % (i, j), 512 * (j + 1), dirty_rate_mib_s=j * 100) for j in range(6)])
             for i in range(1, 4)}
    fleet.update({"dst%d" % i: host(hv(65536)) for i in range(6)})
    return fleet


@pytest.mark.parametrize("caps", [{}, {"max_parallel": 4, "max_per_source": 2, "max_per_destination": 1},
                                  {"max_parallel": 5, "max_per_source": 3, "max_per_destination": 2},
                                  {"max_parallel": 1}, {"max_parallel": 10, "max_per_source": 1, "max_per_destination": 10}])
def test_waves_never_break_a_cap(caps):
    plan = plan_evacuation(busy_fleet(), ["hv1", "hv2", "hv3"], constraints=caps)
    limits = plan["caps"]
    assert len(plan["moves"]) == 18
    assert [m["order"] for m in plan["moves"]] == list(range(1, 19))
    assert [m["wave"] for m in plan["moves"]] == sorted(m["wave"] for m in plan["moves"])
    for wave in plan["waves"]:
        moves = [m for m in plan["moves"] if m["wave"] == wave["wave"]]
        assert [m["domain"] for m in moves] == wave["domains"] and moves
        assert len(moves) <= limits["max_parallel"]
        assert max(Counter(m["source"] for m in moves).values()) <= limits["max_per_source"]
        assert max(Counter(m["destination"] for m in moves).values()) <= limits["max_per_destination"]
        assert wave["estimated_seconds"] == max(m["estimated_seconds"] for m in moves)
    assert plan["estimated_seconds"] == round(sum(w["estimated_seconds"] for w in plan["waves"]), 1)


def test_caps_are_effective_values_and_fill_waves_greedily():
    plan = plan_evacuation(busy_fleet(), ["hv1"], constraints={"max_parallel": 3, "max_per_source": 5, "max_per_destination": 4})
    assert plan["caps"] == {"max_parallel": 3, "max_per_source": 3, "max_per_destination": 3, "sources_at_once": 1}
    assert [len(w["domains"]) for w in plan["waves"]] == [3, 3]
    plan = plan_evacuation(busy_fleet(), ["hv1"])
    assert [len(w["domains"]) for w in plan["waves"]] == [2, 2, 2]
    assert plan["moves"][0]["domain"] == "vm1-5"  # largest first


# --- determinism -------------------------------------------------------------------------------

def mixed_fleet(seed, hosts=40, per_host=8):
    rnd = random.Random(seed)
    fleet = {}
    for h in range(hosts):
        doms = []
        for j in range(per_host):
            n = h * per_host + j
            tags = {"anti_affinity": ["spread%d" % (n % 13)] if n % 3 == 0 else [],
                    "affinity": ["pair%d" % (n // 20)] if n % 20 < 2 else [],
                    "pinned": n % 41 == 0, "labels": {"tier": rnd.choice(["db", "web"])}}
            doms.append(vm("vm%04d" % n, rnd.choice([512, 1024, 2048, 4096]), rnd.choice([1, 2, 4]),
                           state="shutoff" if n % 11 == 0 else "running", tags=tags,
                           disks=[{"target": "vda", "shared": n % 5 != 0, "capacity_bytes": GIB}],
                           blockers=[{"kind": "hostdev", "detail": "pci"}] if n % 37 == 0 else [],
                           dirty_rate_mib_s=rnd.choice([None, 100, 2000])))
        committed = sum(d["memory_kib"] for d in doms if d["active"]) // 1024
        allocated = sum(d["vcpus"] for d in doms if d["active"])
        fleet["hv%03d" % h] = host(hv(rnd.choice([24576, 32768]), committed, 8, allocated,
                                      maintenance={"state": "maintenance"} if h == 7 else None), *doms)
    return fleet


def test_same_input_same_plan_whatever_the_order():
    fleet = mixed_fleet(3)
    drain = ["hv000", "hv005", "hv010", "hv020"]
    verdicts = [verdict(d["name"], "hv%03d" % k, "fail", [("cpu", "fail", "x")], source=h)
                for h in drain for d in fleet[h]["domains"][:2] for k in (1, 2, 3)]
    constraints = {"anti_affinity": {"extra": ["vm0001", "vm0041", "vm0081"]}, "cold": True,
                   "exclude_hosts": ["hv030", "hv031"], "max_parallel": 3}
    first = json.dumps(plan_evacuation(fleet, drain, verdicts, constraints))
    assert first == json.dumps(plan_evacuation(copy.deepcopy(fleet), list(drain), list(verdicts), dict(constraints)))
    rnd = random.Random(99)
    names = list(fleet)
    rnd.shuffle(names)
    shuffled = {}
    for name in names:
        facts = copy.deepcopy(fleet[name])
        rnd.shuffle(facts["domains"])
        shuffled[name] = facts
    verdicts2, drain2 = list(verdicts), list(reversed(drain))
    rnd.shuffle(verdicts2)
    constraints2 = {"max_parallel": 3, "exclude_hosts": ["hv031", "hv030"], "cold": True,
                    "anti_affinity": {"extra": ["vm0081", "vm0001", "vm0041"]}}
    assert json.dumps(plan_evacuation(shuffled, drain2, verdicts2, constraints2)) == first


# --- a moderate fleet: every rule holds at once ------------------------------------------------

def test_moderate_fleet_keeps_every_rule():
    fleet = mixed_fleet(11, hosts=120, per_host=10)
    drain = sorted(fleet)[::8]
    c = {"cold": True, "memory_headroom_pct": 15, "vcpu_ratio": 3}
    plan = plan_evacuation(fleet, drain, constraints=c)
    leaving = {(d["name"], h) for h in drain for d in fleet[h]["domains"] if d["active"] or d["persistent"]}
    accounted = [(e["domain"], e["source"]) for key in ("moves", "unplaced", "skipped") for e in plan[key]]
    assert sorted(accounted) == sorted(leaving)
    assert plan["moves"] and plan["unplaced"]
    for name, dest in plan["destinations"].items():
        if dest["inbound"]:
            assert dest["memory_free_kib_after"] >= 0
            assert dest["vcpus_allocated_after"] <= 3 * 8 or dest["vcpus_allocated_after"] == fleet[name]["hypervisor"]["vcpus"]["allocated"]
        assert name not in drain and fleet[name]["hypervisor"]["maintenance"] is None
    # Anti-affinity: final positions never put two members of a group on a destination the plan used.
    where = {}
    for h, facts in fleet.items():
        if h not in drain:
            for d in facts["domains"]:
                where[d["name"]] = h
    by_name = {d["name"]: d for facts in fleet.values() for d in facts["domains"]}
    for move in plan["moves"]:
        where[move["domain"]] = move["destination"]
    for move in plan["moves"]:
        for group in by_name[move["domain"]]["tags"]["anti_affinity"]:
            peers = [n for n, h in where.items() if h == move["destination"] and n != move["domain"]
                     and group in by_name[n]["tags"]["anti_affinity"]]
            assert not peers, (move, group, peers)
        assert move["destination"] not in move["alternates"] and len(move["alternates"]) <= 3
    for move in plan["moves"]:
        pair = by_name[move["domain"]]["tags"]["affinity"]
        if pair:
            mates = [m for m in plan["moves"] if by_name[m["domain"]]["tags"]["affinity"] == pair]
            assert len({m["destination"] for m in mates}) == 1
    for entry in plan["unplaced"]:
        assert entry["reason"] and entry["method"] in ("live", "cold", "define")


# --- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("drain, constraints, message", [
    (["hv9"], None, r"drain names unknown host\(s\) hv9; the fleet has hv1, hv2, hv3"),
    ([], None, "drain names no host"),
    ([1], None, "drain must be a list of names"),
    (["hv1"], {"max_paralel": 3}, r"unknown constraint\(s\) max_paralel; known: affinity, anti_affinity"),
    (["hv1"], {"max_parallel": "x"}, "constraint max_parallel must be an integer, got 'x'"),
    (["hv1"], {"max_parallel": 1.5}, "constraint max_parallel must be an integer"),
    (["hv1"], {"max_parallel": 0}, "constraint max_parallel must be at least 1"),
    (["hv1"], {"max_parallel": True}, "constraint max_parallel must be an integer"),
    (["hv1"], {"memory_headroom_pct": 100}, "constraint memory_headroom_pct must be from 0"),
    (["hv1"], {"memory_headroom_pct": [10]}, "constraint memory_headroom_pct must be a number"),
    (["hv1"], {"include_shutoff": "maybe"}, "constraint include_shutoff must be true or false"),
    (["hv1"], {"exclude_hosts": ["hv7"]}, r"exclude_hosts names unknown host\(s\) hv7"),
    (["hv1"], {"reserved_memory_mib": {"hv8": 1}}, r"reserved_memory_mib names unknown host\(s\) hv8"),
    (["hv1"], {"anti_affinity": ["web"]}, "constraint anti_affinity must be a dict of group name"),
    (["hv1"], {"affinity": {"g": [1]}}, "constraint affinity.g must be a list of names"),
    (["hv1"], "cold", "constraints must be a dict"),
])
def test_bad_input_is_refused_by_name(drain, constraints, message):
    with pytest.raises(DroverError, match=message):
        plan_evacuation(two_way(vm("a")), drain, constraints=constraints)


def test_constraints_from_extra_vars_strings_are_converted():
    plan = plan_evacuation(two_way(vm("a")), "hv1", constraints={"max_parallel": "3", "cold": "yes", "vcpu_ratio": "1.5",
                                                                 "memory_headroom_pct": None})
    assert plan["caps"]["max_parallel"] == 3 and len(plan["moves"]) == 1


def test_bad_fleet_names_host_and_field():
    with pytest.raises(DroverError, match="fleet must be a non-empty dict"):
        plan_evacuation([], ["hv1"])
    failed = two_way(vm("a"))
    failed["hv2"] = {"failed": True, "msg": "unreachable"}
    with pytest.raises(DroverError, match=r"fleet\[hv2\]: missing required field hypervisor .*got failed, msg"):
        plan_evacuation(failed, ["hv1"])
    fleet = two_way(vm("a"))
    del fleet["hv3"]["hypervisor"]["memory"]["total_kib"]
    with pytest.raises(DroverError, match=r"fleet\[hv3\].hypervisor.memory: missing required field total_kib"):
        plan_evacuation(fleet, ["hv1"])
    bad = vm("a")
    del bad["memory_kib"]
    with pytest.raises(DroverError, match=r"fleet\[hv1\] domain a: missing required field memory_kib"):
        plan_evacuation(two_way(bad), ["hv1"])
    with pytest.raises(DroverError, match=r"fleet\[hv1\] domain a: field vcpus must be a number, got 'two'"):
        plan_evacuation(two_way(vm("a", vcpus="two")), ["hv1"])
    with pytest.raises(DroverError, match=r"fleet\[hv1\].domains\[0\]: missing required field name"):
        plan_evacuation(two_way({"memory_kib": 1}), ["hv1"])


def test_bad_verdicts_are_refused():
    with pytest.raises(DroverError, match="verdicts must be the list"):
        plan_evacuation(two_way(vm("a")), ["hv1"], verdicts={"a": "pass"})
    with pytest.raises(DroverError, match=r"verdicts\[0\]: status must be one of pass, warn, fail, got 'ok'"):
        plan_evacuation(two_way(vm("a")), ["hv1"], verdicts=[verdict("a", "hv2", "ok")])
    with pytest.raises(DroverError, match=r"verdicts\[0\]: missing required field destination"):
        plan_evacuation(two_way(vm("a")), ["hv1"], verdicts=[{"domain": "a", "source": "hv1", "status": "pass"}])


def test_missing_optional_fields_take_defaults():
    bare = {"name": "a", "active": True, "memory_kib": 1048576, "vcpus": 1}
    fleet = {"hv1": {"hypervisor": {"memory": {"total_kib": 1}, "vcpus": {"physical": 1}}, "domains": [bare]},
             "hv2": {"hypervisor": {"memory": {"total_kib": 4194304}, "vcpus": {"physical": 2}}, "domains": []}}
    plan = plan_evacuation(fleet, ["hv1"])
    assert plan["moves"][0]["uuid"] is None and plan["moves"][0]["method"] == "live"
