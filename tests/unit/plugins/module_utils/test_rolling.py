# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rolling maintenance: order, window, learning from hosts done, the decision, records, JUnit."""

from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.drover.libvirt.plugins.module_utils import _rolling as rolling
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError

UTC = datetime.timezone.utc
T0 = datetime.datetime(2026, 11, 30, 22, 0, tzinfo=UTC)
GIB_KIB = 1024 * 1024
ASSUMED = {"fixed_s": 60, "link_mbit": 1000, "hook_s": 600}


def facts(*gib, total=64, running=True):
    return {"hypervisor": {"hostname": "h", "memory": {"total_kib": total * GIB_KIB, "committed_kib": 0},
                           "vcpus": {"physical": 16, "allocated": 0}, "maintenance": None},
            "domains": [{"name": "vm%d" % i, "active": running, "persistent": True, "memory_kib": g * GIB_KIB,
                         "vcpus": 1} for i, g in enumerate(gib)]}


def test_least_loaded_first_and_unread_hosts_last():
    fleet = {"hv1": facts(8, 8), "hv2": facts(2), "hv3": facts(), "hv4": facts(4, running=False)}
    assert rolling.order_hosts(["hv1", "hv2", "hv3", "hv4", "hv5"], fleet, "least_loaded") == [
        "hv3", "hv4", "hv2", "hv1", "hv5"]
    assert rolling.order_hosts(["hv2", "hv1"], fleet, "given") == ["hv2", "hv1"]


@pytest.mark.parametrize("hosts, order, message", [
    (["hv1", "hv1"], "given", "listed twice: hv1"), (["hv1"], "random", "order must be one of given, least_loaded")])
def test_bad_orders_are_refused(hosts, order, message):
    with pytest.raises(DroverError, match=message):
        rolling.order_hosts(hosts, {}, order)


def test_window_from_a_time_a_date_or_a_budget():
    assert rolling.window_end(T0, "23:30") == datetime.datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    # A time already past today is tomorrow's.
    assert rolling.window_end(T0, "06:00") == datetime.datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    assert rolling.window_end(T0, "06:00+01:00") == datetime.datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    assert rolling.window_end(T0, "2026-12-01T03:00Z") == datetime.datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    assert rolling.window_end(T0, None, 90) == datetime.datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    assert rolling.window_end(T0, "06:00", 30) == datetime.datetime(2026, 11, 30, 22, 30, tzinfo=UTC)
    assert rolling.window_end(T0) is None
    with pytest.raises(DroverError, match="rolling_window_end must be an ISO 8601 time.*got 'soon'; nothing was changed"):
        rolling.window_end(T0, "soon")


def test_the_estimate_learns_from_the_hosts_done():
    model = rolling.learn([], ASSUMED)
    first = rolling.estimate(facts(4, 4), model)
    assert first["gib"] == 8 and first["move_s"] == round(8 * 8 * 1024 / 1000.0, 1)
    assert first["seconds"] == round(60 + 8 * 8.192 + 600, 1)
    done = [{"seconds": 300, "hook_seconds": 200, "moved_bytes": 4 * 1024 ** 3, "move_seconds": 40}]
    learned = rolling.learn(done, ASSUMED)
    assert learned == {"fixed_s": 60.0, "seconds_per_gib": 10.0, "hook_s": 200, "learned_from": 1}
    assert rolling.estimate(facts(2), learned)["seconds"] == 280.0


def test_a_host_that_moved_almost_nothing_does_not_teach_a_link_rate():
    done = [{"seconds": 100, "hook_seconds": 10, "moved_bytes": 1024, "move_seconds": 5}]
    assert rolling.learn(done, ASSUMED)["seconds_per_gib"] == 8 * 1024.0 / 1000


def test_the_decision():
    end = T0 + datetime.timedelta(minutes=10)
    assert rolling.decide([], T0, end, 300, 0)["action"] == "start"
    postponed = rolling.decide([], T0, end, 700, 0)
    assert postponed["action"] == "postpone" and "expected to take 700 s, 600 s left" in postponed["reason"]
    canary = [{"host": "hv1", "outcome": "failed", "reason": "hook failed"}, {"host": "hv2", "outcome": "done"}]
    stop = rolling.decide(canary, T0, None, 1, 50)
    assert stop["action"] == "stop" and "the first host, hv1, did not come back cleanly (hook failed)" in stop["reason"]
    later = [{"host": "hv1", "outcome": "done"}, {"host": "hv2", "outcome": "postponed"},
             {"host": "hv3", "outcome": "failed"}]
    assert rolling.decide(later, T0, None, 1, 0)["action"] == "stop"
    assert rolling.decide(later, T0, None, 1, 50)["action"] == "start"


def test_a_record_and_its_junit():
    moves = [{"name": "vm1", "from": "hv1", "to": "hv2", "status": "migrated", "bytes": 10, "downtime_ms": 40,
              "duration_ms": 2000, "started_at": "2026-11-30T22:00:10+00:00", "finished_at": "2026-11-30T22:00:30+00:00"},
             {"name": "vm2", "from": "hv1", "to": None, "status": "failed", "error": "no room <here>",
              "started_at": "2026-11-30T22:00:05+00:00", "finished_at": "2026-11-30T22:00:12+00:00"}]
    record = rolling.host_record("hv1", "done", "", "2026-11-30T22:00:00+00:00", "2026-11-30T22:05:00+00:00", 120.0,
                                 moves, {"seconds": 290})
    assert (record["seconds"], record["move_seconds"], record["moved_bytes"]) == (300.0, 25.0, 10)
    assert [vm["downtime_ms"] for vm in record["vms"]] == [40, None]
    other = rolling.host_record("hv2", "postponed", "window", None, None, None, [], None)
    root = ET.fromstring(rolling.junit([record, other], "night"))
    hosts, vms = root.findall("testsuite")
    assert [c.get("name") for c in hosts] == ["hv1", "hv2"] and hosts.get("skipped") == "1"
    assert vms.get("tests") == "2" and vms.get("failures") == "1"
    assert vms.find("testcase/failure").get("message") == "no room <here>"
    with pytest.raises(DroverError, match="outcome must be one of"):
        rolling.host_record("hv1", "fine", "", None, None, None, [], None)


def test_the_preview_adds_up_against_the_window():
    fleet = {"hv1": facts(1), "hv2": facts(1), "hv3": facts()}
    model = rolling.learn([], {"fixed_s": 100, "link_mbit": 8192, "hook_s": 0})
    view = rolling.preview(["hv1", "hv2"], fleet, model, T0, T0 + datetime.timedelta(seconds=150))
    assert [row["fits"] for row in view["hosts"]] == [True, False]
    assert view["total_s"] == 202.0
    assert view["hosts"][0]["moves"][0].startswith("vm0 -> hv")
    lines = rolling.preview_lines(view)
    assert "does not fit the window" in lines[2]


def test_times_without_a_zone_are_utc():
    assert rolling.aware("2026-11-30T22:00:00") == T0
    assert rolling.aware("2026-11-30T23:00:00+01:00") == T0
    assert rolling.aware(None) is None


def _hv(mark=None, last=None):
    return {"hypervisor": {"maintenance": mark, "last_maintenance": last}, "domains": []}


NOW = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.timezone.utc)


def test_a_killed_campaign_is_resumed_and_its_finished_hosts_are_known():
    fleet = {"hv1": _hv(last={"state": "maintenance", "by": "rolling/r1", "ended": "2026-11-30T11:00:00+00:00"}),
             "hv2": _hv(mark={"state": "maintenance", "by": "rolling/r1", "since": "2026-11-30T11:10:00+00:00"}),
             "hv3": _hv()}
    out = rolling.campaign(fleet, ["hv1", "hv2", "hv3"], "", True, NOW, 24, "r2")
    assert out["campaign"] == "r1" and out["resumed"] and out["done"] == {"hv1": "2026-11-30T11:00:00+00:00"}
    assert out["line"] == "resuming r1: hv1 finished at 2026-11-30T11:00:00+00:00"
    # Asked not to resume, or too old: a new run that finished nothing.
    assert rolling.campaign(fleet, ["hv1", "hv2", "hv3"], "", False, NOW, 24, "r2")["done"] == {}
    assert rolling.campaign(fleet, ["hv1", "hv2", "hv3"], "", True, NOW, 0.1, "r2")["campaign"] == "r2"


def test_a_finished_campaign_starts_a_new_one_and_other_marks_are_ignored():
    last = {"state": "maintenance", "by": "rolling/r1", "ended": "2026-11-30T11:00:00+00:00"}
    fleet = {"hv1": _hv(last=last), "hv2": _hv(last=last),
             "hv3": _hv(mark={"state": "maintenance", "by": "ticket-42", "since": "2026-11-30T11:30:00+00:00"})}
    out = rolling.campaign(fleet, ["hv1", "hv2"], "", True, NOW, 24, "r2")
    assert out == {"campaign": "r2", "resumed": False, "done": {}, "line": "new run r2"}
    out = rolling.campaign(fleet, ["hv1", "hv2", "hv3"], "", True, NOW, 24, "r2")
    assert out["campaign"] == "r1" and sorted(out["done"]) == ["hv1", "hv2"]


def test_a_host_marked_again_is_not_finished_and_a_given_name_wins():
    fleet = {"hv1": _hv(mark={"state": "draining", "by": "rolling/r1", "since": "2026-11-30T11:50:00+00:00"},
                        last={"state": "maintenance", "by": "rolling/r1", "ended": "2026-11-30T11:00:00+00:00"})}
    assert rolling.campaign(fleet, ["hv1"], "", True, NOW, 24, "r2")["done"] == {}
    assert rolling.campaign(fleet, ["hv1"], "mine", True, NOW, 24, "r2")["campaign"] == "mine"


def test_only_campaign_names_the_role_makes_are_taken_from_the_hosts():
    fleet = {"hv1": _hv(mark={"state": "maintenance", "by": "rolling/../../etc", "since": "2026-11-30T11:10:00+00:00"}),
             "hv2": _hv(last={"state": "maintenance", "by": "rolling/ok-1", "ended": "yesterday"})}
    out = rolling.campaign(fleet, ["hv1", "hv2"], "", True, NOW, 24, "r2")
    assert out["campaign"] == "r2" and out["done"] == {}
