"""Evacuation reports and the fleet placement check, from hand-made results and fleets."""
import json
import xml.etree.ElementTree as ET

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.drover.libvirt.plugins.filter.evacuation_report import FilterModule
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._placement_check import placement_check
from ansible_collections.drover.libvirt.plugins.module_utils._report import (
    STATUSES,
    junit_xml,
    normalize_results,
    summary,
    summary_table,
)

MIB = 1024 * 1024


def vm(name, status="migrated", **fields):
    """One per-VM result with every key present, as the evacuation role writes it."""
    result = {
        "name": name, "from": "hv1", "to": "hv2", "status": status, "method": "live", "attempts": 1,
        "downtime_ms": 40, "duration_ms": 10000, "bytes": 1024 * MIB, "overhead_ms": 200,
        "started_at": "2025-01-10T09:00:00Z", "finished_at": "2025-01-10T09:00:10Z", "error": None,
        "verify": {"ok": True, "reason": "running on hv2"},
    }
    result.update(fields)
    return result


def nulls(name, status):
    """A result where everything but name and status is null or missing."""
    return {"name": name, "status": status, "from": None, "to": None, "method": None, "attempts": None,
            "downtime_ms": None, "duration_ms": None, "bytes": None, "overhead_ms": None,
            "started_at": None, "finished_at": None, "error": None}


THREE = [
    vm("vm1"),
    vm("vm2", "failed", to=None, downtime_ms=None, attempts=3, duration_ms=60000, bytes=None,
       error="migration did not converge within 60 s"),
    vm("vm3", "skipped", to=None, method=None, attempts=0, downtime_ms=None, duration_ms=None,
       bytes=None, overhead_ms=None, started_at=None, finished_at=None, error="pinned", verify=None),
]


# ---------------------------------------------------------------- input checks

@pytest.mark.parametrize("results, message", [
    ({"name": "vm1"}, "expected a list of per-VM results, got a dict"),
    (None, "expected a list of per-VM results, got null"),
    ("vm1", "expected a list of per-VM results, got a string"),
    (["vm1"], r"results\[0\] must be a dict, got a string"),
    ([vm("vm1"), {"status": "migrated"}], r"results\[1\] has no 'name'"),
    ([{"name": "", "status": "migrated"}], r"results\[0\] has no 'name'"),
    ([{"name": "vm1"}], "vm1 has unknown status None"),
    ([vm("vm1", "moved")], "vm1 has unknown status 'moved'; expected one of migrated, moved_cold"),
    ([vm("vm1", bytes="lots")], "vm1: bytes must be a number or null, got 'lots'"),
    ([vm("vm1", attempts=True)], "vm1: attempts must be a number or null, got True"),
    ([vm("vm1", downtime_ms=float("nan"))], "vm1: downtime_ms must be a number or null, got nan"),
    ([vm("vm1", duration_ms="inf")], "vm1: duration_ms must be a number or null, got 'inf'"),
    ([vm("vm1", verify={"reason": "x"})], "vm1: verify must be a dict with a boolean 'ok'"),
    ([vm("vm1", verify="ok")], "vm1: verify must be a dict with a boolean 'ok'"),
])
@pytest.mark.parametrize("function", [junit_xml, summary_table, summary])
def test_bad_results_fail_with_a_message(function, results, message):
    with pytest.raises(DroverError, match=message):
        function(results)


def test_numbers_given_as_strings_are_numbers():
    entry = normalize_results([vm("vm1", bytes="2048", downtime_ms="12.5", attempts=" 2 ")])[0]
    assert (entry["bytes"], entry["downtime_ms"], entry["attempts"]) == (2048, 12.5, 2)


def test_missing_keys_are_null():
    entry = normalize_results([{"name": "vm1", "status": "planned"}])[0]
    assert entry["to"] is None and entry["bytes"] is None and entry["verify"] is None


def test_tuples_are_accepted():
    assert summary((vm("vm1"),))["total"] == 1


# ---------------------------------------------------------------- JUnit

def parse(xml):
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    root = ET.fromstring(xml.encode("utf-8"))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    return root, suites[0]


def cases(suite):
    return {case.get("name"): case for case in suite.findall("testcase")}


def test_junit_counts_and_attributes():
    root, suite = parse(junit_xml(THREE, suite_name="evacuate hv1"))
    for element in (root, suite):
        assert element.get("name") == "evacuate hv1"
        assert element.get("tests") == "3"
        assert element.get("failures") == "1"
        assert element.get("errors") == "0"
        assert element.get("skipped") == "1"
        assert element.get("time") == "70.000"
    assert suite.get("timestamp") == "2025-01-10T09:00:00Z"
    by_name = cases(suite)
    assert list(by_name) == ["vm1", "vm2", "vm3"]
    assert by_name["vm1"].get("classname") == "evacuate.hv1"
    assert by_name["vm1"].get("time") == "10.000"
    assert by_name["vm3"].get("time") == "0.000"


def test_junit_outcomes():
    _root, suite = parse(junit_xml(THREE))
    by_name = cases(suite)
    assert by_name["vm1"].find("failure") is None and by_name["vm1"].find("skipped") is None
    failure = by_name["vm2"].find("failure")
    assert failure.get("message") == "migration did not converge within 60 s"
    assert failure.get("type") == "failed"
    assert "migration did not converge" in failure.text
    assert by_name["vm3"].find("skipped").get("message") == "pinned"


def test_junit_details_for_ci():
    _root, suite = parse(junit_xml(THREE))
    case = cases(suite)["vm1"]
    properties = {p.get("name"): p.get("value") for p in case.find("properties")}
    assert properties["from"] == "hv1"
    assert properties["to"] == "hv2"
    assert properties["downtime_ms"] == "40"
    assert properties["bytes"] == str(1024 * MIB)
    assert properties["attempts"] == "1"
    assert properties["verify"] == "ok"
    out = case.find("system-out").text
    assert "vm1: migrated hv1 -> hv2 (live)" in out
    assert "downtime 40 ms" in out and "1024.0 MiB" in out and "attempts 1" in out
    # Null fields are left out of the properties rather than written as text.
    skipped = {p.get("name") for p in cases(suite)["vm3"].find("properties")}
    assert "to" not in skipped and "bytes" not in skipped


def test_junit_verify_failure_is_a_failure():
    results = [vm("vm1", verify={"ok": False, "reason": "not running on any host"}),
               vm("vm2", "shut_down", verify={"ok": False, "reason": "still defined on hv1"}),
               vm("vm3", "failed", error="boom", verify={"ok": False, "reason": "running on hv1 and hv2"})]
    _root, suite = parse(junit_xml(results))
    assert suite.get("failures") == "3"
    assert suite.get("skipped") == "0"
    by_name = cases(suite)
    assert by_name["vm1"].find("failure").get("message") == "not running on any host"
    assert by_name["vm1"].find("failure").get("type") == "verify"
    assert by_name["vm2"].find("skipped") is None
    # A failed VM whose verify failed too is one failure, with both problems in the text.
    assert len(by_name["vm3"].findall("failure")) == 1
    assert by_name["vm3"].find("failure").get("message") == "boom"
    assert "running on hv1 and hv2" in by_name["vm3"].find("failure").text


@pytest.mark.parametrize("status, skipped", [
    ("migrated", False), ("moved_cold", False), ("defined", False), ("shut_down", True),
    ("skipped", True), ("unchanged", False), ("planned", False),
])
def test_junit_statuses(status, skipped):
    _root, suite = parse(junit_xml([nulls("vm1", status)]))
    case = cases(suite)["vm1"]
    assert case.find("failure") is None
    assert (case.find("skipped") is not None) == skipped
    assert suite.get("skipped") == ("1" if skipped else "0")
    assert case.get("classname") == "evacuate.unknown"


def test_junit_skip_messages_default_to_the_policy():
    _root, suite = parse(junit_xml([nulls("a", "shut_down"), nulls("b", "skipped")]))
    assert cases(suite)["a"].find("skipped").get("message") == "shut down by policy"
    assert cases(suite)["b"].find("skipped").get("message") == "skipped by policy"


def test_junit_failed_without_error_still_has_a_message():
    _root, suite = parse(junit_xml([nulls("vm1", "failed")]))
    assert cases(suite)["vm1"].find("failure").get("message") == "migration failed"


def test_junit_all_null():
    root, suite = parse(junit_xml([nulls("vm1", "migrated")]))
    assert root.get("time") == "0.000"
    assert suite.get("timestamp") is None
    assert suite.get("name") == "evacuate"


def test_junit_empty():
    _root, suite = parse(junit_xml([]))
    assert suite.get("tests") == "0" and suite.findall("testcase") == []


def test_junit_names_and_timestamp():
    results = [vm("a"), vm("b", **{"from": "hv3"}), vm("c", started_at="2025-01-10T08:59:00Z")]
    _root, suite = parse(junit_xml(results))
    assert suite.get("name") == "evacuate hv1, hv3"
    assert suite.get("timestamp") == "2025-01-10T08:59:00Z"
    _root, suite = parse(junit_xml(results, timestamp="2025-02-01T00:00:00Z"))
    assert suite.get("timestamp") == "2025-02-01T00:00:00Z"


def test_junit_escapes_markup_and_control_characters():
    error = 'qemu said <"stop"> & \x1b[31mred\x1b[0m\x00'
    xml = junit_xml([vm("vm<1>&", "failed", error=error)], suite_name="évacuer hv1")
    _root, suite = parse(xml)
    case = suite.find("testcase")
    assert case.get("name") == "vm<1>&"
    assert case.find("failure").get("message") == 'qemu said <"stop"> & ?[31mred?[0m?'
    assert suite.get("name") == "évacuer hv1"


# ---------------------------------------------------------------- table

def test_table_layout():
    lines = summary_table(THREE)
    header, rule, rows, totals = lines[0], lines[1], lines[2:-1], lines[-1]
    assert header.split() == ["VM", "FROM", "TO", "STATUS", "TRIES", "DOWNTIME(ms)", "DURATION(s)",
                              "MiB", "OVERHEAD(ms)", "ERROR"]
    assert set(rule) <= {"-", " "}
    assert len(rows) == 3
    # Text columns start where their header starts; number columns end where their header ends.
    for row in rows:
        assert row[header.index("STATUS") - 1] == " "
        assert row[header.index("STATUS"):].split()[0] in STATUSES
        end = header.index("DOWNTIME(ms)") + len("DOWNTIME(ms)")
        assert row[end - 1] != " " and row[end] == " "
    assert rows[0].split()[:9] == ["vm1", "hv1", "hv2", "migrated", "1", "40", "10.0", "1024.0", "200"]
    assert rows[1].split()[:9] == ["vm2", "hv1", "-", "failed", "3", "-", "60.0", "-", "200"]
    assert rows[2].split()[:9] == ["vm3", "hv1", "-", "skipped", "0", "-", "-", "-", "-"]
    assert rows[1].endswith("migration did not converge within 60 s")
    assert not any(line.endswith(" ") for line in lines)
    assert totals == ("TOTAL 3 VMs: 1 migrated, 1 skipped, 1 failed | 1024.0 MiB | max downtime 40 ms"
                      " | duration 70.0 s")


def test_table_truncates_long_errors_and_joins_lines():
    error = "line one\n  line two " + "x" * 100
    row = summary_table([vm("vm1", "failed", error=error)])[2]
    cell = row[summary_table([vm("vm1", "failed", error=error)])[0].index("ERROR"):]
    assert len(cell) == 60
    assert cell.startswith("line one line two xxx")
    assert cell.endswith("...")


def test_table_shows_verify_failures():
    lines = summary_table([vm("vm1", verify={"ok": False, "reason": "paused on hv2"})])
    assert lines[2].endswith("verify failed: paused on hv2")
    assert "1 verify failed" in lines[-1]


def test_table_wide_names_widen_their_column():
    lines = summary_table([vm("a-very-long-virtual-machine-name"), vm("b")])
    assert lines[0].index("FROM") == lines[2].index("hv1") == lines[3].index("hv1")


def test_table_empty():
    assert summary_table([]) == ["Nothing was moved: no VMs in the evacuation result."]


def test_table_all_null():
    lines = summary_table([nulls("vm1", "planned")])
    assert lines[2].split() == ["vm1", "-", "-", "planned", "-", "-", "-", "-", "-"]
    assert lines[-1] == "TOTAL 1 VMs: 1 planned | 0.0 MiB | max downtime - ms | duration 0.0 s"


# ---------------------------------------------------------------- summary

def test_summary_totals():
    results = THREE + [vm("vm4", "moved_cold", method="cold", downtime_ms=None, overhead_ms=50),
                       vm("vm5", "defined", method="define", downtime_ms=120, overhead_ms=None, bytes=0)]
    result = summary(results)
    assert result["ok"] is False
    assert result["total"] == 5
    assert result["moved"] == 3
    assert result["counts"] == {"migrated": 1, "moved_cold": 1, "defined": 1, "shut_down": 0, "skipped": 1,
                                "unchanged": 0, "failed": 1, "planned": 0}
    assert result["failed"] == ["vm2"]
    assert result["verify_failed"] == []
    assert result["bytes_total"] == 2048 * MIB
    assert result["duration_ms_total"] == 90000
    assert result["downtime_ms_max"] == 120
    assert result["downtime_ms_mean"] == 80.0
    assert result["overhead_ms_max"] == 200
    assert result["overhead_ms_mean"] == 150.0
    assert result["started_at"] == "2025-01-10T09:00:00Z"
    assert result["finished_at"] == "2025-01-10T09:00:10Z"
    assert json.loads(json.dumps(result)) == result


def test_summary_ok_and_verify():
    assert summary([vm("vm1"), vm("vm2", "unchanged")])["ok"] is True
    result = summary([vm("vm2", verify={"ok": False, "reason": "x"}), vm("vm1", verify={"ok": False, "reason": "y"})])
    assert result["ok"] is False
    assert result["failed"] == []
    assert result["verify_failed"] == ["vm1", "vm2"]


def test_summary_empty_and_null():
    for results in ([], [nulls("vm1", "planned")]):
        result = summary(results)
        assert result["ok"] is True
        assert result["bytes_total"] == 0
        assert result["downtime_ms_max"] is None and result["downtime_ms_mean"] is None
        assert result["overhead_ms_max"] is None and result["overhead_ms_mean"] is None
        assert result["started_at"] is None and result["finished_at"] is None
    assert summary([])["counts"] == dict.fromkeys(STATUSES, 0)


# ---------------------------------------------------------------- placement

def dom(name, state="running", uuid=None, active=None, persistent=True):
    return {"name": name, "uuid": uuid or "uuid-" + name, "state": state,
            "active": state in ("running", "paused") if active is None else active, "persistent": persistent}


def host(*domains):
    return {"hypervisor": {"hostname": "x"}, "domains": list(domains)}


def check(fleet, **kwargs):
    return {entry["name"]: entry for entry in placement_check(fleet, **kwargs)}


def test_placement_ok():
    fleet = {"hv2": host(dom("vm1")), "hv1": host(dom("vm2")), "hv3": host()}
    result = placement_check(fleet)
    assert [entry["name"] for entry in result] == ["vm1", "vm2"]
    assert result[0] == {"name": "vm1", "uuid": "uuid-vm1", "expected": "running", "running_on": ["hv2"],
                         "defined_on": ["hv2"], "state": "running", "ok": True, "reason": "running on hv2"}


@pytest.mark.parametrize("fleet, reason, state", [
    ({"hv2": host(dom("vm1")), "hv1": host(dom("vm1"))}, "running on hv1 and hv2", None),
    ({"hv1": host(dom("vm1")), "hv2": host(dom("vm1")), "hv3": host(dom("vm1"))},
     "running on hv1, hv2 and hv3", None),
    ({"hv1": host(), "hv2": host(dom("vm1", "shutoff"))},
     "not running on any host (defined on hv2, state shutoff)", "shutoff"),
    ({"hv1": host(dom("vm1", "shutoff")), "hv2": host(dom("vm1", "shutoff"))},
     "not running on any host (defined on hv1 and hv2, state shutoff)", None),
    ({"hv1": host(dom("vm1", "crashed", active=False)), "hv2": host(dom("vm1", "shutoff"))},
     "not running on any host (defined on hv1 (crashed) and hv2 (shutoff))", None),
    ({"hv1": host(dom("vm1", "shutoff")), "hv2": host(dom("vm1", persistent=False))},
     "runs on hv2 but is persistent on hv1", "running"),
    ({"hv1": host(), "hv2": host(dom("vm1", persistent=False))},
     "runs on hv2 but is not persistent anywhere", "running"),
    ({"hv1": host(dom("vm1", "shutoff")), "hv2": host(dom("vm1"))},
     "runs on hv2 but is also persistent on hv1", "running"),
    ({"hv1": host(), "hv2": host(dom("vm1", "paused"))}, "paused on hv2", "paused"),
    ({"hv1": host(dom("vm1", "shutoff")), "hv2": host(dom("vm1", "paused", persistent=False))},
     "runs on hv2 but is persistent on hv1; paused on hv2", "paused"),
])
def test_placement_reasons(fleet, reason, state):
    entry = check(fleet)["vm1"]
    assert entry["ok"] is False
    assert entry["reason"] == reason
    assert entry["state"] == state


def test_placement_lists_hosts():
    fleet = {"hv3": host(dom("vm1", "shutoff")), "hv2": host(dom("vm1", persistent=False)),
             "hv1": host(dom("vm1", "shutoff"))}
    entry = check(fleet)["vm1"]
    assert entry["running_on"] == ["hv2"]
    assert entry["defined_on"] == ["hv1", "hv3"]
    assert entry["reason"] == "runs on hv2 but is persistent on hv1 and hv3"


def test_placement_not_found():
    entry = check({"hv1": host(dom("vm1"))}, names=["vm9"])["vm9"]
    assert entry == {"name": "vm9", "uuid": None, "expected": "running", "running_on": [], "defined_on": [],
                     "state": None, "ok": False, "reason": "not found on any host"}


def test_placement_two_domains_with_one_name():
    fleet = {"hv2": host(dom("vm1", uuid="bbbb")), "hv1": host(dom("vm1", "shutoff", uuid="aaaa"))}
    entry = check(fleet)["vm1"]
    assert entry["ok"] is False
    assert entry["uuid"] is None
    assert entry["reason"] == "two different domains named vm1: hv1 uuid aaaa, hv2 uuid bbbb"
    fleet["hv3"] = host(dom("vm1", uuid="cccc"))
    assert check(fleet)["vm1"]["reason"].startswith("3 different domains named vm1: hv1 uuid aaaa,")
    # Even when each copy is otherwise right, and also for a VM expected shut off.
    assert not check(fleet, shutoff=["vm1"])["vm1"]["ok"]


def test_placement_shutoff_expectations():
    fleet = {
        "hv1": host(dom("off_ok", "shutoff"), dom("off_twice", "shutoff"), dom("off_running")),
        "hv2": host(dom("off_twice", "shutoff"), dom("off_transient", persistent=False)),
    }
    result = check(fleet, names=[], shutoff=["off_ok", "off_twice", "off_running", "off_transient", "off_gone"])
    assert list(result) == ["off_gone", "off_ok", "off_running", "off_transient", "off_twice"]
    assert all(entry["expected"] == "shutoff" for entry in result.values())
    assert result["off_ok"]["ok"] is True
    assert result["off_ok"]["reason"] == "shut off, defined on hv1"
    assert result["off_ok"]["state"] == "shutoff"
    assert result["off_twice"]["reason"] == "defined on hv1 and hv2 (expected on exactly one host)"
    assert result["off_running"]["reason"] == "expected shut off but running on hv1"
    assert result["off_transient"]["reason"] == "expected shut off but running on hv2; not defined on any host"
    assert result["off_gone"]["reason"] == "not found on any host"
    assert not any(result[name]["ok"] for name in result if name != "off_ok")


def test_placement_names():
    fleet = {"hv1": host(dom("b"), dom("a"), dom("c"))}
    assert [entry["name"] for entry in placement_check(fleet, names=["c", "a", "c"])] == ["a", "c"]
    assert [entry["name"] for entry in placement_check(fleet, names="b")] == ["b"]
    assert [entry["name"] for entry in placement_check(fleet, names=["a"], shutoff=["c"])] == ["a", "c"]
    assert placement_check({}) == []


def test_placement_accepts_registered_results():
    fleet = {"hv1": dict(host(dom("vm1")), changed=False, failed=False)}
    assert placement_check(fleet)[0]["ok"] is True


@pytest.mark.parametrize("fleet, kwargs, message", [
    ([host()], {}, "expected a dict of inventory host -> hypervisor_info result, got a list"),
    (None, {}, "got null"),
    ({"hv1": {"skipped": True}}, {}, r"fleet\[hv1\]: missing required field domains .*got skipped"),
    ({"hv1": "down"}, {}, r"fleet\[hv1\]: missing required field domains .*got str"),
    ({"hv1": host({"uuid": "x"})}, {}, r"fleet\[hv1\].domains\[0\]: missing required field name"),
    ({"hv1": host("vm1")}, {}, r"fleet\[hv1\].domains\[0\] must be a dict, got 'vm1'"),
    ({}, {"names": {"vm1": 1}}, "names must be a list of VM names, got a dict"),
    ({}, {"names": ["vm1", None]}, "names must be a list of VM names, got item None"),
    ({}, {"shutoff": 3}, "shutoff must be a list of VM names, got a number"),
])
def test_placement_bad_input(fleet, kwargs, message):
    with pytest.raises(DroverError, match=message):
        placement_check(fleet, **kwargs)


# ---------------------------------------------------------------- filters

def test_filters_are_exposed():
    filters = FilterModule().filters()
    assert sorted(filters) == ["junit_report", "placement_check", "report_summary", "report_table"]
    assert filters["report_summary"]([vm("vm1")])["ok"] is True
    assert filters["report_table"]([])[0].startswith("Nothing was moved")
    assert "<testsuite " in filters["junit_report"]([vm("vm1")], suite_name="evacuate hv1")
    assert filters["placement_check"]({"hv1": host(dom("vm1"))}, names=["vm1"], shutoff=[])[0]["ok"]


@pytest.mark.parametrize("name, args", [
    ("junit_report", ({"a": 1},)),
    ("report_table", ([{"name": "vm1", "status": "gone"}],)),
    ("report_summary", (None,)),
    ("placement_check", ([],)),
])
def test_filters_raise_filter_errors(name, args):
    with pytest.raises(AnsibleFilterError) as raised:
        FilterModule().filters()[name](*args)
    assert isinstance(raised.value.__cause__, DroverError)
    assert raised.value.message
