# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of batch moves and the maintenance mark file (pure parts)."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter

import pytest

from ansible_collections.drover.libvirt.plugins.module_utils import _maintenance as mark
from ansible_collections.drover.libvirt.plugins.module_utils._batch import BatchMover, normalize_moves
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError


def test_moves_keep_order_and_candidates():
    tasks = normalize_moves([
        {"domain": "vm1", "destination": "10.0.0.2", "destination_name": "hv2",
         "alternates": [{"destination": "10.0.0.3", "destination_name": "hv3"}, "hv4"]},
        {"domain": "vm2", "method": "shutdown"},
        {"domain": "vm3", "destination": "hv3", "method": "define", "copy_storage": True},
    ])
    assert [t["name"] for t in tasks] == ["vm1", "vm2", "vm3"]
    assert tasks[0]["candidates"] == [("hv2", "10.0.0.2"), ("hv3", "10.0.0.3"), ("hv4", "hv4")]
    assert tasks[0]["method"] == "live" and tasks[1]["candidates"] == []
    assert tasks[2]["copy_storage"] is True and tasks[2]["order"] == 2


@pytest.mark.parametrize("moves, message", [
    ([{"destination": "hv2"}], "moves[0] needs a domain name"),
    ([{"domain": "vm1", "destination": "hv2"}, {"domain": "vm1", "destination": "hv3"}], "listed twice"),
    ([{"domain": "vm1", "destination": "hv2", "method": "teleport"}], "method 'teleport'"),
    ([{"domain": "vm1", "method": "cold"}], "needs a destination for method cold"),
    (["vm1"], "moves[0] needs a domain name"),
])
def test_bad_moves_are_refused_by_name(moves, message):
    with pytest.raises(DroverError) as err:
        normalize_moves(moves)
    assert message in err.value.msg


def test_mark_round_trip(tmp_path):
    path = str(tmp_path / "drover" / "maintenance.json")
    assert mark.read_mark(path) is None
    mark.write_mark({"state": "draining", "reason": "kernel"}, path)
    assert mark.read_mark(path) == {"state": "draining", "reason": "kernel"}
    mark.clear_mark(path)
    mark.clear_mark(path)
    assert mark.read_mark(path) is None


def test_a_broken_mark_is_an_error_not_silence(tmp_path):
    path = tmp_path / "maintenance.json"
    path.write_text(json.dumps({"state": "party"}))
    with pytest.raises(DroverError) as err:
        mark.read_mark(str(path))
    assert "draining|maintenance" in err.value.msg
    path.write_text("{not json")
    with pytest.raises(DroverError):
        mark.read_mark(str(path))


class _Libvirt:
    class libvirtError(Exception):  # noqa: N801  (the name libvirt-python uses)
        pass


class _Conn:
    def getHostname(self):  # noqa: N802
        return "hv1"


class _Connections:
    def connect(self, uri, role):
        return _Conn()


class _Module:
    libvirt = _Libvirt
    libvirt_qemu = None

    def __init__(self, moves, **params):
        self.params = dict(uri="qemu:///system", moves=moves, source_name="hv1", max_parallel=2, max_per_destination=1,
                           retries=1, shutdown_timeout=1, progress_file=None, transport="tls", bandwidth=0,
                           timeout=None, convergence="balanced", convergence_knobs={}, tls=False,
                           postcopy_recovery_wait=300, remove_source_volumes=False, poll_interval=0.5)
        self.params.update(params)


class ScriptedMover(BatchMover):
    """The scheduler with attempts that only record when they ran; `fail_first` fail once on the source."""

    def __init__(self, module, fail_first=(), lost=()):
        super().__init__(module, connections=_Connections())
        self.fail_first, self.lost = set(fail_first), set(lost)
        self.lock = threading.Lock()
        self.now = Counter()
        self.worst = Counter()
        self.order = []

    def _attempt(self, task):
        dest = task["candidates"][0][0] if task["candidates"] else None
        with self.lock:
            self.now["all"] += 1
            self.now[dest] += 1
            for key in ("all", dest):
                self.worst[key] = max(self.worst[key], self.now[key])
            self.order.append((task["name"], dest))
        time.sleep(random.uniform(0.001, 0.02))
        with self.lock:
            self.now["all"] -= 1
            self.now[dest] -= 1
        attempt = {"destination": dest, "status": "migrated", "error": None, "location": "destination",
                   "metrics": {"duration_ms": 10, "wall_ms": 12, "downtime_ms": 5, "data_bytes": 1},
                   "started_at": "t0", "finished_at": "t1", "wall_ms": 15}
        if task["name"] in self.lost:
            attempt.update(status="failed", error="active on both hosts", location="both")
        elif task["name"] in self.fail_first and len(task["tries"]) == 0:
            attempt.update(status="failed", error="refused", location="source")
        return attempt


def _moves(count, dests=("hv2", "hv3", "hv4")):
    return [{"domain": "vm%02d" % i, "destination": dests[i % len(dests)],
             "alternates": [d for d in dests if d != dests[i % len(dests)]]} for i in range(count)]


@pytest.mark.parametrize("max_parallel, per_destination", [(1, 1), (2, 1), (3, 1), (4, 2), (8, 3)])
def test_caps_hold_for_every_move(max_parallel, per_destination):
    random.seed(max_parallel * 10 + per_destination)
    mover = ScriptedMover(_Module(_moves(24), max_parallel=max_parallel, max_per_destination=per_destination),
                          fail_first={"vm03", "vm07", "vm11"})
    result = mover.run(False)
    assert mover.worst["all"] <= max_parallel
    assert all(mover.worst[d] <= per_destination for d in ("hv2", "hv3", "hv4"))
    assert result["peak"]["parallel"] <= max_parallel
    assert all(n <= per_destination for n in result["peak"]["per_destination"].values())
    assert [r["status"] for r in result["results"]] == ["migrated"] * 24
    assert [r["name"] for r in result["results"]] == ["vm%02d" % i for i in range(24)]


def test_a_move_that_failed_on_the_source_is_retried_on_its_alternate():
    mover = ScriptedMover(_Module(_moves(3), retries=1), fail_first={"vm01"})
    result = {r["name"]: r for r in mover.run(False)["results"]}
    retried = result["vm01"]
    assert retried["attempts"] == 2 and retried["status"] == "migrated"
    assert [t["destination"] for t in retried["tries"]] == ["hv3", "hv2"]
    assert retried["to"] == "hv2" and retried["tries"][0]["error"] == "refused"
    assert result["vm00"]["attempts"] == 1


def test_no_retry_when_retries_are_spent_or_the_domain_is_not_safely_on_the_source():
    result = {r["name"]: r for r in ScriptedMover(_Module(_moves(2), retries=0), fail_first={"vm00"}).run(False)["results"]}
    assert result["vm00"]["status"] == "failed" and result["vm00"]["attempts"] == 1 and result["vm00"]["to"] is None
    result = {r["name"]: r for r in ScriptedMover(_Module(_moves(2), retries=3), lost={"vm01"}).run(False)["results"]}
    assert result["vm01"]["status"] == "failed" and result["vm01"]["attempts"] == 1
    assert result["vm01"]["location"] == "both"


def test_overhead_is_wall_time_beyond_the_libvirt_call():
    [result] = ScriptedMover(_Module(_moves(1))).run(False)["results"]
    assert (result["wall_ms"], result["job_ms"], result["overhead_ms"]) == (15, 12, 3)


class _NoDomain(_Libvirt.libvirtError):
    def get_error_code(self):
        return _Libvirt.VIR_ERR_NO_DOMAIN


_Libvirt.VIR_ERR_NO_DOMAIN = 42


class _Dom:
    def __init__(self, state, persistent):
        self._state, self._persistent = state, persistent

    def state(self):
        return (self._state, 1)

    def isActive(self):  # noqa: N802
        return self._state == 1

    def isPersistent(self):  # noqa: N802
        return self._persistent

    def UUIDString(self):  # noqa: N802
        return "u-1"

    def jobInfo(self):  # noqa: N802
        return [0] * 12


class _Host(_Conn):
    def __init__(self, doms):
        self.doms = doms
        self.claim_lookups = 0

    def storagePoolLookupByName(self, name):  # noqa: N802
        self.claim_lookups += 1
        raise _NoDomain("no claims pool")  # no run ever claimed room here

    def lookupByName(self, name):  # noqa: N802
        if name not in self.doms:
            raise _NoDomain("no domain")
        return self.doms[name]


class _Fleet:
    def __init__(self, source, destination, third=None):
        self.hosts = {"qemu:///system": source, "qemu+tls://hv2/system": destination,
                      "qemu+tls://hv3/system": third or _Host({})}

    def connect(self, uri, role):
        return self.hosts[uri]


def test_a_move_libvirt_reports_done_but_that_left_no_definition_is_a_failure(monkeypatch):
    class Landed:
        def __init__(self, connect, options, warn, libvirt, libvirt_qemu=None, on_progress=None):
            self.options = options

        def run(self, check_mode):
            fleet.hosts["qemu:///system"].doms.pop(self.options.name)
            return {"changed": True, "metrics": {"duration_ms": 5, "wall_ms": 9}}

    monkeypatch.setattr("ansible_collections.drover.libvirt.plugins.module_utils._batch.LiveMigration", Landed)
    module = _Module([{"domain": "vm1", "destination": "hv2"}])
    fleet = _Fleet(_Host({"vm1": _Dom(1, persistent=True)}), _Host({"vm1": _Dom(1, persistent=False)}))
    [result] = BatchMover(module, connections=fleet).run(False)["results"]
    assert result["status"] == "failed" and result["to"] is None
    assert result["error"] == "moved, but vm1: not persistent on the destination"
    assert result["location"] == "destination" and result["landed"]["ok"] is False

    fleet = _Fleet(_Host({"vm1": _Dom(1, persistent=True)}), _Host({"vm1": _Dom(1, persistent=True)}))
    [result] = BatchMover(module, connections=fleet).run(False)["results"]
    assert result["status"] == "migrated"
    assert result["landed"] == {"ok": True, "source": "absent", "destination": "running"}


def test_a_domain_found_running_on_its_destination_has_its_leftover_definition_finished(monkeypatch):
    class AlreadyThere:
        def __init__(self, connect, options, warn, libvirt, libvirt_qemu=None, on_progress=None):
            self.options = options

        def run(self, check_mode):
            fleet.hosts["qemu:///system"].doms.pop(self.options.name)  # undefine_source
            return {"changed": True, "cleanup": ["undefine_source"]}

    monkeypatch.setattr("ansible_collections.drover.libvirt.plugins.module_utils._batch.LiveMigration", AlreadyThere)
    module = _Module([{"domain": "vm1", "destination": "hv2", "finishes": True}])
    # Shut off here (5), running and persistent on hv2: an earlier move landed and left this definition.
    fleet = _Fleet(_Host({"vm1": _Dom(5, persistent=True)}), _Host({"vm1": _Dom(1, persistent=True)}))
    out = BatchMover(module, connections=fleet).run(False)
    [result] = out["results"]
    assert (result["status"], result["to"], result["finished"], out["changed"]) == ("unchanged", "hv2", ["undefine_source"], True)
    assert result["warnings"] == ["finished an earlier move of vm1 to hv2: undefine_source"]
    assert fleet.hosts["qemu:///system"].doms == {}


def test_a_definition_move_refuses_a_domain_started_since_the_plan():
    module = _Module([{"domain": "vm1", "destination": "hv2", "method": "define"}], retries=0)
    fleet = _Fleet(_Host({"vm1": _Dom(1, persistent=True)}), _Host({}))
    [result] = BatchMover(module, connections=fleet).run(False)["results"]
    assert result["status"] == "failed" and result["location"] == "source"
    assert result["error"] == "domain vm1 is running now but was shut off when the move was planned; nothing was moved, " \
                              "plan again"
    assert fleet.hosts["qemu+tls://hv2/system"].doms == {}


def test_warnings_of_a_live_move_are_in_its_result(monkeypatch):
    class LandedWithWarning:
        def __init__(self, connect, options, warn, libvirt, libvirt_qemu=None, on_progress=None):
            self.options, self.warn = options, warn

        def run(self, check_mode):
            self.warn("libvirt reported an error although %s now runs on the destination" % self.options.name)
            fleet.hosts["qemu:///system"].doms.pop(self.options.name)
            return {"changed": True, "metrics": {}}

    monkeypatch.setattr("ansible_collections.drover.libvirt.plugins.module_utils._batch.LiveMigration",
                        LandedWithWarning)
    module = _Module([{"domain": "vm1", "destination": "hv2"}, {"domain": "vm2", "destination": "hv2"}])
    fleet = _Fleet(_Host({"vm1": _Dom(1, persistent=True), "vm2": _Dom(1, persistent=True)}),
                   _Host({"vm1": _Dom(1, persistent=True), "vm2": _Dom(1, persistent=True)}))
    results = BatchMover(module, connections=fleet).run(False)["results"]
    assert [r["warnings"] for r in results] == [
        ["libvirt reported an error although vm1 now runs on the destination"],
        ["libvirt reported an error although vm2 now runs on the destination"]]


def test_a_live_move_gets_the_batch_options_for_its_domain_and_destination(monkeypatch):
    seen = []

    class Recorded:
        def __init__(self, connect, options, warn, libvirt, libvirt_qemu=None, on_progress=None):
            seen.append(options)

        def run(self, check_mode):
            return {"changed": False}

    monkeypatch.setattr("ansible_collections.drover.libvirt.plugins.module_utils._batch.LiveMigration", Recorded)
    module = _Module([{"domain": "vm1", "destination": "hv2", "copy_storage": True}], bandwidth=50, timeout=90)
    fleet = _Fleet(_Host({"vm1": _Dom(1, persistent=True)}), _Host({}))
    [result] = BatchMover(module, connections=fleet).run(True)["results"]
    assert result["status"] == "planned" and result["warnings"] == []
    [opts] = seen
    assert (opts.name, opts.dest_uri, opts.source_uri) == ("vm1", "qemu+tls://hv2/system", "qemu:///system")
    assert (opts.bandwidth, opts.timeout, opts.copy_storage, opts.cdrom) == (50, 90, "all", "keep")
    assert opts.persist and opts.undefine_source and opts.data_uri is None


class _MetaLibvirt:
    VIR_DOMAIN_METADATA_ELEMENT = 2
    VIR_ERR_NO_DOMAIN_METADATA = 80
    VIR_DOMAIN_AFFECT_LIVE = 1
    VIR_DOMAIN_AFFECT_CONFIG = 2

    class libvirtError(Exception):  # noqa: N801  (the name libvirt-python uses)
        def __init__(self, msg, code=1):
            super().__init__(msg)
            self.code = code

        def get_error_code(self):
            return self.code

        def get_error_message(self):
            return str(self)


class _MetaDomain:
    def __init__(self, xml=None):
        self.xml, self.writes = xml, []

    def name(self):
        return "vm1"

    def isActive(self):  # noqa: N802
        return True

    def isPersistent(self):  # noqa: N802
        return True

    def metadata(self, kind, uri, flags):
        if self.xml is None:
            raise _MetaLibvirt.libvirtError("no metadata", _MetaLibvirt.VIR_ERR_NO_DOMAIN_METADATA)
        return self.xml

    def setMetadata(self, kind, xml, key, uri, flags):  # noqa: N802
        self.writes.append(flags)
        self.xml = xml


class _MetaConn:
    def __init__(self, domains):
        self.domains = domains

    def lookupByName(self, name):  # noqa: N802
        if name not in self.domains:
            raise _MetaLibvirt.libvirtError("Domain not found", 42)
        return self.domains[name]


def _origin_mover(domains):
    module = _Module([{"domain": "vm1", "destination": "hv2"}], record_origin=True)
    module.libvirt = _MetaLibvirt
    mover = BatchMover(module, connections=_Connections())
    mover.sconn, mover.source = _MetaConn(domains), "hv1"
    return mover


def test_the_origin_is_written_before_leaving_and_put_back_when_the_domain_stays():
    dom = _MetaDomain()
    mover = _origin_mover({"vm1": dom})
    before = mover._record_origin(mover.tasks[0], "hv2")
    assert before is None and 'host="hv1"' in dom.xml and 'to="hv2"' in dom.xml
    assert dom.writes == [_MetaLibvirt.VIR_DOMAIN_AFFECT_LIVE | _MetaLibvirt.VIR_DOMAIN_AFFECT_CONFIG]
    attempt = {"warnings": []}
    mover._restore_origin("vm1", before, attempt)
    assert dom.xml is None and attempt["warnings"] == []


def test_a_domain_no_longer_on_the_source_is_left_to_the_move_itself():
    mover = _origin_mover({})
    before = mover._record_origin(mover.tasks[0], "hv2")
    attempt = {"warnings": []}
    mover._restore_origin("vm1", before, attempt)  # nothing was written, nothing is put back
    assert attempt["warnings"] == []


def test_a_domain_moved_by_another_hand_since_the_plan_is_reported_where_it_runs():
    module = _Module([{"domain": "vm1", "destination": "hv2", "alternates": ["hv3"]}])
    fleet = _Fleet(_Host({}), _Host({}), _Host({"vm1": _Dom(1, persistent=True)}))
    [result] = BatchMover(module, connections=fleet).run(False)["results"]
    assert result["status"] == "unchanged" and result["to"] == "hv3" and result["location"] == "destination"
    assert fleet.hosts["qemu+tls://hv3/system"].claim_lookups == 1  # claims left for it there are looked for
    assert "vm1 left hv1 before its move began" in result["warnings"][0] and "persistent on hv3" in result["warnings"][0]


def test_a_domain_gone_from_the_source_and_from_every_destination_is_a_failure_that_says_so():
    module = _Module([{"domain": "vm1", "destination": "hv2", "alternates": ["hv3"]}])
    [result] = BatchMover(module, connections=_Fleet(_Host({}), _Host({}))).run(False)["results"]
    assert result["status"] == "failed" and result["location"] == "unknown" and result["attempts"] == 1
    assert result["error"] == ("vm1 is no longer on hv1 and is on none of its destinations (hv2, hv3): "
                               "moved or removed by another hand since the plan")


def test_a_move_waits_while_another_job_holds_the_domain(monkeypatch):
    class Busy(_Dom):
        looks = 0

        def jobInfo(self):  # noqa: N802
            Busy.looks += 1
            return [2 if Busy.looks < 3 else 0] + [0] * 11

    monkeypatch.setattr("ansible_collections.drover.libvirt.plugins.module_utils._batch._BUSY_POLL_S", 0.01)
    module = _Module([{"domain": "vm1", "destination": "hv2"}])
    mover = BatchMover(module, connections=_Fleet(_Host({"vm1": Busy(1, persistent=True)}), _Host({})))
    mover.sconn = mover.connections.connect("qemu:///system", "source")
    assert mover._source_state_when_free("vm1") == "running" and Busy.looks == 3


def test_a_domain_that_leaves_while_its_job_is_asked_about_is_found_gone(monkeypatch):
    class Leaving(_Dom):
        def jobInfo(self):  # noqa: N802
            host.doms.pop("vm1")  # the other run's migration ends right now
            raise _NoDomain("no domain")

    host = _Host({})
    host.doms["vm1"] = Leaving(1, persistent=True)
    mover = BatchMover(_Module([{"domain": "vm1", "destination": "hv2"}]), connections=_Fleet(host, _Host({})))
    mover.sconn = host
    assert mover._source_state_when_free("vm1") == "absent"


def test_check_mode_says_unchanged_for_a_domain_another_hand_moved():
    module = _Module([{"domain": "vm1", "destination": "hv2", "alternates": ["hv3"]}])
    fleet = _Fleet(_Host({}), _Host({}), _Host({"vm1": _Dom(1, persistent=True)}))
    [result] = BatchMover(module, connections=fleet).run(True)["results"]
    assert result["status"] == "unchanged" and result["to"] == "hv3"
    assert fleet.hosts["qemu+tls://hv3/system"].claim_lookups == 0  # check mode removes nothing


def test_a_domain_to_shut_down_that_is_gone_says_so_without_destinations():
    module = _Module([{"domain": "vm1", "method": "shutdown"}])
    [result] = BatchMover(module, connections=_Fleet(_Host({}), _Host({}))).run(False)["results"]
    assert result["status"] == "failed" and result["location"] == "unknown"
    assert result["error"] == "vm1 is no longer on hv1: moved or removed by another hand since the plan"
