"""Which domains go home, and why the others stay where they are."""

from ansible_collections.drover.libvirt.plugins.module_utils._restore import restore_batches


def dom(name, home=None, to=None, active=True):
    return {"name": name, "active": active, "origin": {"host": home, "to": to} if home else None}


def host(*domains, mark=None):
    return {"hypervisor": {"maintenance": mark}, "domains": list(domains)}


def test_domains_come_home_from_each_holder():
    fleet = {"hv1": host(), "hv2": host(dom("a", "hv1", "hv2"), dom("b", "hv3", "hv2"), dom("c")),
             "hv3": host(dom("d", "hv1", "hv3", active=False))}
    out = restore_batches(fleet, ["hv1"])
    assert out["lines"] == ["a: hv2 -> hv1 (live)", "d: hv3 -> hv1 (define)"]
    del out["lines"]
    assert out == {"batches": [
        {"holder": "hv2", "moves": [{"domain": "a", "destination": "hv1", "method": "live"}]},
        {"holder": "hv3", "moves": [{"domain": "d", "destination": "hv1", "method": "define"}]}], "left": []}


def test_moved_by_hand_stays_unless_asked():
    fleet = {"hv1": host(), "hv2": host(), "hv3": host(dom("a", "hv1", "hv2"))}
    out = restore_batches(fleet, ["hv1"])
    assert out["batches"] == [] and "moved by hand since drover put it on hv2" in out["left"][0]["reason"]
    assert restore_batches(fleet, ["hv1"], moved_by_hand=True)["batches"][0]["holder"] == "hv3"


def test_a_marked_or_unread_home_takes_nothing_back():
    fleet = {"hv1": host(mark={"state": "maintenance", "reason": "kernel"}), "hv2": host(dom("a", "hv1", "hv2"))}
    out = restore_batches(fleet, ["hv1"])
    assert out["batches"] == [] and out["left"][0]["reason"] == "hv1 is marked maintenance (kernel)"
    out = restore_batches({"hv2": host(dom("a", "hv1", "hv2"))}, ["hv1"])
    assert out["left"] == [{"domain": "a", "holder": "hv2", "home": "hv1", "reason": "hv1 was not read"}]


def test_a_domain_defined_twice_is_never_moved():
    fleet = {"hv1": host(), "hv2": host(dom("a", "hv1", "hv2")), "hv3": host(dom("a", "hv1", "hv2", active=False))}
    out = restore_batches(fleet, ["hv1"])
    assert out["batches"] == [] and all("defined on hv2, hv3" in e["reason"] for e in out["left"])


def test_a_domain_already_home_needs_no_move():
    out = restore_batches({"hv1": host(dom("a", "hv1", "hv2"))}, ["hv1"])
    assert out == {"batches": [], "left": [], "lines": ["no domain has hv1 as its origin"]}


def test_outcome_counts_each_domain_and_an_unanswered_holder_fails_its_domains():
    from ansible_collections.drover.libvirt.plugins.module_utils._restore import restore_outcome
    loop = [{"item": {"holder": "hv2", "moves": [{"domain": "a", "destination": "hv1"}]},
             "results": [{"name": "a", "from": "hv2", "to": "hv1", "status": "migrated", "error": None, "downtime_ms": 40}]},
            {"item": {"holder": "hv3", "moves": [{"domain": "b", "destination": "hv1"}, {"domain": "c", "destination": "hv1"}]},
             "msg": "ssh: connection refused"}]
    out = restore_outcome(loop)
    assert (out["moved"], out["failed"]) == (1, 2)
    assert [r["home"] for r in out["results"]] == ["hv1", "hv1", "hv1"]
    assert out["lines"] == ["a: hv2 -> hv1 migrated (paused 40 ms)", "b: hv3 -> - failed: ssh: connection refused",
                            "c: hv3 -> - failed: ssh: connection refused"]
