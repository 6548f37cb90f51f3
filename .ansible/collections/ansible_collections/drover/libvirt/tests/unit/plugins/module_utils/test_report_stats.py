"""The compact forms published with set_stats: per-VM evacuation results, one migration, preflight verdicts."""
import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.drover.libvirt.plugins.filter.report_stats import FilterModule
from ansible_collections.drover.libvirt.plugins.module_utils._report import (
    elapsed_s,
    instant,
    migration_stats,
    preflight_stats,
    vm_stats,
)

KEYS = {"domain", "source", "destination", "status", "verified", "downtime_ms", "seconds", "reason"}
FILTERS = FilterModule().filters()


def result(name, status="migrated", **fields):
    entry = {"name": name, "from": "hv1", "to": "hv2", "status": status, "method": "live", "attempts": 1,
             "downtime_ms": 41, "duration_ms": 2870, "bytes": 3 << 30, "overhead_ms": 30,
             "started_at": "2026-11-30T09:12:26.120+00:00", "finished_at": "2026-11-30T09:12:30.560+00:00",
             "error": None, "location": "destination", "tries": [], "verify": {"ok": True, "reason": "running on hv2"}}
    entry.update(fields)
    return entry


def test_every_vm_has_the_same_keys_and_what_a_workflow_acts_on():
    stats = vm_stats([
        result("web1"),
        result("db1", "failed", to=None, downtime_ms=None, error="migration aborted:\n  timeout", location="source"),
        result("app2", verify={"ok": False, "reason": "guest did not answer its agent"}),
        result("pinned", "skipped", to=None, started_at=None, finished_at=None, downtime_ms=None, error="pinned",
               verify=None),
    ])
    assert [set(entry) for entry in stats] == [KEYS] * 4
    assert stats[0] == {"domain": "web1", "source": "hv1", "destination": "hv2", "status": "migrated", "verified": True,
                        "downtime_ms": 41, "seconds": 4.4, "reason": None}
    assert stats[1]["destination"] is None and stats[1]["reason"] == "migration aborted: timeout"
    assert stats[2]["verified"] is False and stats[2]["reason"] == "verify failed: guest did not answer its agent"
    assert stats[3] == {"domain": "pinned", "source": "hv1", "destination": None, "status": "skipped",
                        "verified": None, "downtime_ms": None, "seconds": None, "reason": "pinned"}
    json.dumps(stats)


def test_vm_stats_refuses_what_is_not_results():
    with pytest.raises(AnsibleFilterError, match="vm_stats: expected a list of per-VM results, got a dict"):
        FILTERS["vm_stats"]({"name": "vm1"})


def test_a_migration_that_ran():
    moved = {"changed": True, "domain": "web1", "source_host": "hv1.example.net", "destination_host": "hv2.example.net",
             "metrics": {"downtime_ms": 133, "duration_ms": 2200, "wall_ms": 3149}}
    assert migration_stats(moved, "web1", "hv1", "hv2") == {
        "domain": "web1", "source": "hv1", "destination": "hv2", "status": "migrated", "verified": None,
        "downtime_ms": 133, "seconds": 3.1, "reason": None}
    # Without the playbook's names, the daemons' names.
    assert migration_stats(moved, None, None, None)["source"] == "hv1.example.net"


def test_a_migration_that_failed_says_why_and_moved_nowhere():
    failed = {"failed": True, "msg": "migration was aborted by the convergence policy; it is still running on the source",
              "vm_location": "source"}
    assert FILTERS["migration_stats"](failed, "db1", "hv1", "hv2") == {
        "domain": "db1", "source": "hv1", "destination": None, "status": "failed", "verified": None,
        "downtime_ms": None, "seconds": None,
        "reason": "migration was aborted by the convergence policy; it is still running on the source"}


@pytest.mark.parametrize("registered, reason", [
    ({"changed": False, "skipped": True, "skip_reason": "Conditional result was False"}, None),
    ({"changed": False, "domain": "web1"}, None),
    ({"changed": True, "cleanup": ["undefine_source"]}, "finished an earlier move: undefine_source"),
])
def test_a_domain_already_there_is_unchanged(registered, reason):
    entry = migration_stats(registered, "web1", "hv2", "hv2")
    assert entry["status"] == "unchanged" and entry["reason"] == reason and set(entry) == KEYS


def verdict(domain, destination, status, failed=(), copy=False, source="hv1"):
    return {"domain": domain, "source": source, "destination": destination, "destination_uri": "qemu+ssh://x/system",
            "status": status, "copy_storage": copy, "failed": list(failed), "checks": [{"id": "cpu", "details": {}}]}


def test_preflight_verdicts_per_domain_and_destination():
    verdicts = [verdict("web1", "hv2", "pass"), verdict("web1", "hv3", "warn", copy=True),
                verdict("db1", "hv2", "fail", failed=["capacity", "storage"]), verdict("db1", "hv3", "pass", copy=True),
                verdict("app1", "hv1", "fail", failed=["cpu"], source="hv2")]
    decision = {"ok": False, "blocked": [{"domain": "app1", "reasons": ["hv1: cpu"]}], "usable": {}}
    stats = preflight_stats(verdicts, decision, [{"host": "hv4", "reason": "ssh: timed out"}])
    assert stats == {
        "ok": False, "blocked": ["app1"], "unreachable": ["hv4"],
        "vms": [
            {"domain": "db1", "source": "hv1", "pass": ["hv3"], "warn": [], "copy": ["hv3"],
             "fail": {"hv2": ["capacity", "storage"]}},
            {"domain": "web1", "source": "hv1", "pass": ["hv2"], "warn": ["hv3"], "copy": ["hv3"], "fail": {}},
            {"domain": "app1", "source": "hv2", "pass": [], "warn": [], "copy": [], "fail": {"hv1": ["cpu"]}},
        ]}
    assert "checks" not in json.dumps(stats)


def test_preflight_stats_refuses_what_is_not_verdicts():
    with pytest.raises(AnsibleFilterError, match="preflight_stats: verdict 0 is not a preflight_info verdict"):
        FILTERS["preflight_stats"]([{"domain": "web1"}], {"ok": True})


@pytest.mark.parametrize("text, seconds_after_epoch", [
    ("2026-11-30T09:12:26.120+00:00", 1796029946.12),
    ("2026-11-30T09:12:26.120", 1796029946.12),  # the role's own times have no zone: UTC
    ("2026-11-30T10:12:26.120+01:00", 1796029946.12),
])
def test_instants_are_utc(text, seconds_after_epoch):
    assert instant(text).timestamp() == pytest.approx(seconds_after_epoch)


@pytest.mark.parametrize("text", [None, "", "yesterday", 12])
def test_unreadable_instants_are_none(text):
    assert instant(text) is None
    assert elapsed_s(text, "2026-11-30T09:12:26+00:00") is None


def test_elapsed_never_negative():
    assert elapsed_s("2026-11-30T09:12:30+00:00", "2026-11-30T09:12:26+00:00") == 0.0
