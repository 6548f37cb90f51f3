# -*- coding: utf-8 -*-
"""Capacity claims: naming, expiry, counting, and the grant protocol between concurrent runs.

The protocol tests run ClaimStore against an in-memory stand-in for one libvirt daemon's pool
(exclusive create, list, delete, serialised as the daemon does); the lab tests run it for real.
"""

from __future__ import annotations

import json
import os
import threading
import time
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.drover.libvirt.plugins.module_utils import _claim_store as store_mod
from ansible_collections.drover.libvirt.plugins.module_utils._claim_store import ClaimStore, read_local_claims
from ansible_collections.drover.libvirt.plugins.module_utils._claims import (
    CLOCK_GRACE_S,
    counted,
    fits,
    held_by_others,
    new_claim,
    parse_name,
    room,
)
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._host_facts import host_state
from ansible_collections.drover.libvirt.plugins.module_utils._maintenance import MARK_PATH, MARK_VOLUME, remote_mark

GIB = 1024 * 1024
U1 = "11111111-1111-1111-1111-111111111111"
U2 = "22222222-2222-2222-2222-222222222222"
U3 = "33333333-3333-3333-3333-333333333333"


def test_name_round_trip_carries_every_figure():
    claim = new_claim("run-a", U1, 2 * GIB, 2, now=1000.2, ttl=300, domain="web 01", owner="ops")
    parsed = parse_name(claim.name)
    assert (parsed.run_id, parsed.uuid, parsed.memory_kib, parsed.vcpus, parsed.expires) == \
        ("run-a", U1, 2 * GIB, 2, 1301)
    assert "web" not in claim.name  # names with spaces never reach a file name


@pytest.mark.parametrize("name", ["vm1.qcow2", "drover-claim_1_2_3_run_notauuid.json",
                                  "drover-claim_x_2_3_run_%s.json" % U1, "drover-claim_1_2_3_r_un_%s.json" % U1])
def test_foreign_names_are_not_claims(name):
    assert parse_name(name) is None


@pytest.mark.parametrize("kwargs", [dict(run_id="a b"), dict(run_id="x" * 41), dict(run_id="a;rm"),
                                    dict(uuid="web1"), dict(memory_kib=-1), dict(vcpus=float("nan")),
                                    dict(ttl=float("inf"))])
def test_bad_claims_are_refused_by_name(kwargs):
    args = dict(run_id="run-a", uuid=U1, memory_kib=GIB, vcpus=1, now=0)
    args.update(kwargs)
    with pytest.raises(DroverError, match=list(kwargs)[0].split("_")[0]):
        new_claim(**args)


def test_expiry_has_a_grace_for_clock_skew():
    claim = new_claim("run-a", U1, GIB, 1, now=1000, ttl=10)
    assert claim.is_live(1010 + CLOCK_GRACE_S)
    assert not claim.is_live(1011 + CLOCK_GRACE_S)


def test_arriving_domain_counts_once():
    a = new_claim("run-a", U1, GIB, 1, now=0)
    b = new_claim("run-b", U1, GIB, 1, now=0)  # the same domain claimed by two runs
    c = new_claim("run-b", U2, GIB, 1, now=0)
    assert [x.uuid for x in counted([a, b, c], 1, present_uuids=())] == [U1, U2]
    assert [x.uuid for x in counted([a, b, c], 1, present_uuids={U1})] == [U2]  # U1 is active there
    assert held_by_others([a, b, c], 1, "run-a") == {"memory_kib": 2 * GIB, "vcpus": 2, "claims": 2}


def test_fits_names_what_is_short():
    host = room(total_kib=10 * GIB, committed_kib=4 * GIB, physical_cpus=2, vcpus_allocated=6,
                headroom_pct=10, vcpu_ratio=4)
    assert host.free_kib == 5 * GIB and host.free_vcpus == 2
    other = new_claim("run-b", U2, 3 * GIB, 1, now=0)
    ok, why = fits(new_claim("run-a", U1, 3 * GIB, 1, now=0), host, [other])
    assert not ok and "2048 MiB left" in why and "run-b" in why
    ok, why = fits(new_claim("run-a", U1, GIB, 2, now=0), host, [other])
    assert not ok and "1 left under the vCPU ratio" in why
    assert fits(new_claim("run-a", U1, 2 * GIB, 1, now=0), host, [other])[0]


# ---------------------------------------------------------------------------- the protocol
class FakeError(Exception):
    def get_error_message(self):
        return str(self)


class FakeLibvirt:
    libvirtError = FakeError
    VIR_STORAGE_POOL_CREATE_WITH_BUILD = 1
    VIR_NODE_MEMORY_STATS_ALL_CELLS = -1
    VIR_CONNECT_LIST_DOMAINS_ACTIVE = 1


class FakeDaemon:
    """One daemon's claims pool and domains; each call is atomic, like the daemon's pool lock."""

    def __init__(self, total_kib, cpus, domains=()):
        self.lock = threading.Lock()
        self.volumes = {}
        self.pool_made = False
        self.pool_xml = None
        self.total_kib, self.cpus = total_kib, cpus
        self.domains = list(domains)  # (uuid, memory_kib, vcpus)
        self.peak = (0, 0)


class FakeStream:
    def __init__(self):
        self.data = b""
        self.aborted = False

    def send(self, data):
        self.data += data

    def recv(self, nbytes):
        chunk, self.data = self.data[:nbytes], self.data[nbytes:]
        return chunk

    def finish(self):
        pass

    def abort(self):
        self.aborted = True


class FakeVolume:
    def __init__(self, daemon, name):
        self.daemon, self.n = daemon, name

    def upload(self, stream, offset, length, flags):
        self.stream = stream

    def download(self, stream, offset, length, flags):
        with self.daemon.lock:
            content = self.daemon.volumes.get(self.n)
        if content is None:
            raise FakeError("cannot open %s: No such file or directory" % self.n)
        stream.data = content if isinstance(content, bytes) else b""

    def path(self):
        return "/var/lib/libvirt/drover/" + self.n

    def delete(self, flags):
        with self.daemon.lock:
            if self.daemon.volumes.pop(self.n, None) is None:
                raise FakeError("no volume %s" % self.n)


class FakePool:
    def __init__(self, daemon):
        self.d = daemon

    def isActive(self):
        return True

    def refresh(self, flags):
        pass

    def listVolumes(self):
        time.sleep(0.001)  # let racing runs interleave here, as they do over the network
        with self.d.lock:
            return list(self.d.volumes)

    def createXML(self, xml, flags):
        name = ET.fromstring(xml).findtext("name")
        time.sleep(0.001)
        with self.d.lock:
            if name in self.d.volumes:
                raise FakeError("storage volume '%s' exists already" % name)
            self.d.volumes[name] = True
        return FakeVolume(self.d, name)

    def storageVolLookupByName(self, name):
        with self.d.lock:
            if name not in self.d.volumes:
                raise FakeError("no volume %s" % name)
        return FakeVolume(self.d, name)


class FakeDomain:
    def __init__(self, uuid, mem, vcpus):
        self.u, self.mem, self.vcpus = uuid, mem, vcpus

    def info(self):
        return [1, self.mem, self.mem, self.vcpus, 0]

    def UUIDString(self):
        return self.u

    def isActive(self):
        return True


class FakeConn:
    def __init__(self, daemon):
        self.d = daemon

    def storagePoolLookupByName(self, name):
        if not self.d.pool_made:
            raise FakeError("no pool")
        return FakePool(self.d)

    def storagePoolCreateXML(self, xml, flags):
        with self.d.lock:
            if self.d.pool_made:
                raise FakeError("pool exists")
            self.d.pool_made, self.d.pool_xml = True, xml
        return FakePool(self.d)

    def getURI(self):
        return "qemu+tcp://hv2/system"

    def getMemoryStats(self, cell, flags):
        return {"total": self.d.total_kib}

    def listAllDomains(self, flags):
        with self.d.lock:
            return [FakeDomain(*d) for d in self.d.domains]

    def getInfo(self):
        return ["x86_64", self.d.total_kib // 1024, self.d.cpus]

    def newStream(self, flags):
        return FakeStream()

    def lookupByUUIDString(self, uuid):
        with self.d.lock:
            found = [FakeDomain(*d) for d in self.d.domains if d[0] == uuid]
        if not found:
            raise FakeError("no domain with UUID %s" % uuid)
        return found[0]


LIMITS = {"memory_headroom_pct": 0, "vcpu_ratio": 4, "reserved_memory_mib": 0}


def _store(daemon, now=1000.0):
    return ClaimStore(FakeConn(daemon), FakeLibvirt, clock=lambda: now, sleep=lambda s: None)


def test_grant_then_release():
    daemon = FakeDaemon(total_kib=4 * GIB, cpus=2)
    claim = new_claim("run-a", U1, 3 * GIB, 2, now=1000)
    out = _store(daemon).claim(claim, LIMITS)
    assert out["granted"] and list(daemon.volumes) == [claim.name]
    assert _store(daemon).release(claim) and daemon.volumes == {}


def test_a_claim_an_earlier_run_could_not_release_goes_when_its_domain_has_arrived():
    daemon = FakeDaemon(total_kib=4 * GIB, cpus=2)
    left = new_claim("run-dead", U1, GIB, 1, now=1000)  # its run lost the destination mid-move
    assert _store(daemon).claim(left, LIMITS)["granted"]
    again = new_claim("run-b", U1, GIB, 1, now=1010)
    assert _store(daemon, now=1010).claim(again, LIMITS)["granted"]
    daemon.domains.append((U1, GIB, 1))  # the re-run's move landed
    assert _store(daemon).release(again) and daemon.volumes == {}


def test_a_domain_found_already_there_takes_back_a_cut_off_run_s_claim_for_it():
    daemon = FakeDaemon(total_kib=4 * GIB, cpus=2)
    left = new_claim("run-dead", U1, GIB, 1, now=1000)
    other = new_claim("run-other", U2, GIB, 1, now=1000)
    assert _store(daemon).claim(left, LIMITS)["granted"] and _store(daemon).claim(other, LIMITS)["granted"]
    assert _store(daemon).release_arrived(U1) == []  # not here yet: the claim still holds its room
    daemon.domains.append((U1, GIB, 1))  # the cut-off run's move landed after all
    assert _store(daemon).release_arrived(U1) == [left.name] and list(daemon.volumes) == [other.name]


def test_release_before_arrival_leaves_other_runs_claims():
    daemon = FakeDaemon(total_kib=4 * GIB, cpus=2)
    other = new_claim("run-other", U1, GIB, 1, now=1000)
    mine = new_claim("run-b", U1, GIB, 1, now=1000)
    assert _store(daemon).claim(other, LIMITS)["granted"] and _store(daemon).claim(mine, LIMITS)["granted"]
    assert _store(daemon).release(mine) and list(daemon.volumes) == [other.name]


def test_second_run_is_refused_with_the_reason():
    daemon = FakeDaemon(total_kib=4 * GIB, cpus=2)
    assert _store(daemon).claim(new_claim("run-a", U1, 3 * GIB, 2, now=1000), LIMITS)["granted"]
    out = _store(daemon).claim(new_claim("run-b", U2, 3 * GIB, 2, now=1000), LIMITS)
    assert not out["granted"] and "run-a" in out["reason"] and "1024 MiB left" in out["reason"]
    assert len(daemon.volumes) == 1  # the refused claim took itself back


def test_expired_claim_of_a_killed_run_no_longer_blocks_and_is_cleaned():
    daemon = FakeDaemon(total_kib=4 * GIB, cpus=2)
    dead = new_claim("run-dead", U1, 3 * GIB, 2, now=0, ttl=10)
    assert _store(daemon, now=0).claim(dead, LIMITS)["granted"]
    later = 10 + CLOCK_GRACE_S + 1
    out = _store(daemon, now=later).claim(new_claim("run-b", U2, 3 * GIB, 2, now=later), LIMITS)
    assert out["granted"] and out["expired_removed"] == [dead.name]


def test_a_domain_already_active_there_needs_no_claim():
    daemon = FakeDaemon(total_kib=4 * GIB, cpus=2, domains=[(U1, 3 * GIB, 2)])
    out = _store(daemon).claim(new_claim("run-a", U1, 3 * GIB, 2, now=1000), LIMITS)
    assert out["granted"] and out["claim"] is None and daemon.volumes == {}


def test_a_rerun_replaces_its_own_earlier_claim():
    daemon = FakeDaemon(total_kib=4 * GIB, cpus=2)
    assert _store(daemon, now=1000).claim(new_claim("run-a", U1, 3 * GIB, 2, now=1000), LIMITS)["granted"]
    again = new_claim("run-a", U1, 3 * GIB, 2, now=1005)
    assert _store(daemon, now=1005).claim(again, LIMITS)["granted"]
    assert list(daemon.volumes) == [again.name]


@pytest.mark.parametrize("seed", range(20))
def test_concurrent_writers_never_promise_the_same_room_twice(seed):
    """Eight runs race for room that holds three: at most three are granted, at every moment."""
    daemon = FakeDaemon(total_kib=3 * GIB, cpus=8)
    barrier = threading.Barrier(8)
    results, granted_now, peak, lock = {}, [], [], threading.Lock()
    store_mod.random.seed(seed)

    def run(i):
        claim = new_claim("run-%d" % i, "%08d-0000-0000-0000-000000000000" % i, GIB, 1, now=1000)
        store = ClaimStore(FakeConn(daemon), FakeLibvirt, clock=lambda: 1000.0, sleep=lambda s: time.sleep(s / 20))
        barrier.wait()
        results[i] = store.claim(claim, LIMITS)["granted"]
        if results[i]:
            with lock:
                granted_now.append(i)
                peak.append(len(granted_now))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    granted = [i for i, ok in results.items() if ok]
    assert 1 <= len(granted) <= 3 and max(peak) <= 3
    assert len(daemon.volumes) == len(granted)  # every refused claim removed itself


def test_local_reader_reports_claims_and_ignores_links(tmp_path):
    claim = new_claim("run-a", U3, GIB, 1, now=1000, ttl=5, domain="web 01", owner="ops", source="hv1")
    (tmp_path / claim.name).write_text(json.dumps(claim.record()))
    os.symlink("/etc/hostname", tmp_path / new_claim("run-x", U1, GIB, 1, now=1000).name)
    (tmp_path / "unrelated.txt").write_text("x")
    records = read_local_claims(str(tmp_path), now=1000)
    assert sorted((r["domain"], r["owner"], r["live"]) for r in records) == [("", "", True), ("web 01", "ops", True)]
    assert [r["live"] for r in read_local_claims(str(tmp_path), now=2000) if r["domain"]] == [False]
    assert read_local_claims(str(tmp_path / "missing")) == []


class FakeDom:
    def info(self):
        return [1, GIB, GIB, 2, 0]

    def UUIDString(self):  # noqa: N802
        return U1

    def name(self):
        return "web 01"


SETTINGS = dict(LIMITS, run_id="run-a", ttl=60)


def test_a_move_that_fails_releases_its_claim():
    daemon = FakeDaemon(total_kib=4 * GIB, cpus=2)
    with pytest.raises(RuntimeError):
        with store_mod.room_claimed(FakeConn(daemon), FakeLibvirt, FakeDom(), SETTINGS, "hv2", "hv1") as held:
            assert held["domain"] == "web 01" and len(daemon.volumes) == 1
            raise RuntimeError("the migration failed")
    assert daemon.volumes == {}


def test_no_room_refuses_before_the_move_with_the_domain_on_its_source():
    daemon = FakeDaemon(total_kib=4 * GIB, cpus=2, domains=[(U2, 3 * GIB + GIB // 2, 2)])
    with pytest.raises(DroverError) as err:
        with store_mod.room_claimed(FakeConn(daemon), FakeLibvirt, FakeDom(), SETTINGS, "hv2", "hv1"):
            raise AssertionError("the move must not start")
    assert err.value.details["no_room"] and err.value.details["vm_location"] == "source"
    assert err.value.msg.startswith("no room for web 01 on hv2: needs 1024 MiB")
    assert daemon.volumes == {}


def test_check_mode_writes_nothing():
    daemon = FakeDaemon(total_kib=4 * GIB, cpus=2)
    with store_mod.room_claimed(FakeConn(daemon), FakeLibvirt, FakeDom(), SETTINGS, "hv2", "hv1", check_mode=True):
        assert daemon.volumes == {} and not daemon.pool_made


def test_the_runs_cap_on_arrivals_makes_a_move_wait():
    daemon = FakeDaemon(total_kib=64 * GIB, cpus=8)
    first = new_claim("run-a", U2, GIB, 1, now=1000)
    assert _store(daemon).claim(first, LIMITS, max_inbound=1)["granted"]
    out = _store(daemon).claim(new_claim("run-a", U3, GIB, 1, now=1000), LIMITS, max_inbound=1)
    assert out["busy"] and not out["granted"] and "at most 1" in out["reason"]
    assert _store(daemon).claim(new_claim("run-b", U3, GIB, 1, now=1000), LIMITS, max_inbound=1)["granted"]


# ---------------------------------------------------------------------------- one pool for the host's state
def test_the_mark_is_a_file_of_the_state_pool():
    assert os.path.dirname(MARK_PATH) == store_mod.STATE_DIR and MARK_VOLUME == "maintenance.json"


def test_a_remote_reader_makes_the_state_pool_and_reads_mark_and_claims_through_it():
    daemon = FakeDaemon(total_kib=4 * GIB, cpus=2)
    assert host_state(FakeConn(daemon), FakeLibvirt, local=False) == {"maintenance": None, "claims": [],
                                                                      "last_maintenance": None}
    pool = ET.fromstring(daemon.pool_xml)
    assert (pool.findtext("name"), pool.findtext("target/path")) == ("drover-state", "/var/lib/libvirt/drover")
    claim = new_claim("run-a", U1, GIB, 1, now=1000)
    assert _store(daemon).claim(claim, LIMITS)["granted"]
    mark = {"state": "draining", "reason": "kernel", "by": "run-a", "since": "t0"}
    daemon.volumes[MARK_VOLUME] = json.dumps(mark).encode()
    state = host_state(FakeConn(daemon), FakeLibvirt, local=False)
    assert state["maintenance"] == mark and [c["name"] for c in state["claims"]] == [claim.name]


def test_a_remote_mark_that_is_not_valid_names_the_host():
    daemon = FakeDaemon(total_kib=4 * GIB, cpus=2)
    daemon.volumes[MARK_VOLUME] = b'{"state": "sleeping"}'
    with pytest.raises(DroverError, match="maintenance mark .*maintenance.json on qemu.tcp://hv2/system is not valid"):
        remote_mark(FakeConn(daemon), FakeLibvirt)
    daemon.volumes[MARK_VOLUME] = b"x" * (store_mod._READ_LIMIT + 1)
    with pytest.raises(DroverError, match="larger than"):
        remote_mark(FakeConn(daemon), FakeLibvirt)


def test_a_mark_cleared_while_it_is_read_is_no_mark():
    daemon = FakeDaemon(total_kib=4 * GIB, cpus=2)
    daemon.volumes[MARK_VOLUME] = True  # listed, but gone when the download opens it

    class Vanishing(FakePool):
        def storageVolLookupByName(self, name):
            del self.d.volumes[name]
            return FakeVolume(self.d, name)

    daemon.pool_made = True
    assert remote_mark(FakeConn(daemon), FakeLibvirt, Vanishing(daemon)) is None


def test_a_claim_written_then_cut_off_by_an_error_is_taken_back():
    daemon = FakeDaemon(total_kib=4 * GIB, cpus=2)

    class Failing(FakeConn):
        def listAllDomains(self, flags):  # noqa: N802
            raise FakeError("Cannot recv data: Connection reset by peer")

    store = ClaimStore(Failing(daemon), FakeLibvirt, clock=lambda: 1000.0, sleep=lambda s: None)
    with pytest.raises(FakeError):
        store.claim(new_claim("run-a", U1, GIB, 1, now=1000), LIMITS)
    assert daemon.volumes == {}


def test_a_remote_read_carries_the_source_of_live_claims_from_their_files():
    daemon = FakeDaemon(total_kib=4 * GIB, cpus=2)
    live = new_claim("run-a", U1, GIB, 1, now=time.time(), domain="web1", source="hv1")
    old = new_claim("run-b", U2, GIB, 1, now=1000, domain="db1", source="hv3")
    _store(daemon).claim(live, LIMITS)
    daemon.volumes[live.name] = json.dumps(live.record()).encode()
    daemon.volumes[old.name] = json.dumps(old.record()).encode()
    claims = {c["name"]: c for c in host_state(FakeConn(daemon), FakeLibvirt, local=False)["claims"]}
    assert (claims[live.name]["source"], claims[live.name]["domain"], claims[live.name]["live"]) == ("hv1", "web1", True)
    assert (claims[old.name]["source"], claims[old.name]["live"]) == ("", False)  # expired: its name is enough


def test_named_and_expired_claims_are_removed_and_nothing_else(tmp_path):
    live = new_claim("run-a", U1, GIB, 1, now=time.time())
    other = new_claim("run-b", U2, GIB, 1, now=time.time())
    expired = new_claim("run-c", U3, GIB, 1, now=1000)
    for claim in (live, other, expired):
        (tmp_path / claim.name).write_text("{}")
    (tmp_path / "maintenance.json").write_text("{}")
    gone = new_claim("run-d", U1, GIB, 1, now=time.time()).name
    assert store_mod.remove_local_claims([live.name, gone], expired=True, check_mode=True, path=str(tmp_path)) == \
        ([live.name, expired.name], [gone])
    assert len(os.listdir(tmp_path)) == 4  # check mode removes nothing
    assert store_mod.remove_local_claims([live.name, gone], expired=True, path=str(tmp_path)) == \
        ([live.name, expired.name], [gone])
    assert sorted(os.listdir(tmp_path)) == sorted([other.name, "maintenance.json"])


@pytest.mark.parametrize("name", ["maintenance.json", "../../etc/passwd", "drover-claim_1_2_3_run_x.json", ""])
def test_only_claim_names_can_be_removed(tmp_path, name):
    (tmp_path / "maintenance.json").write_text("{}")
    with pytest.raises(DroverError, match="is not the name of a capacity claim"):
        store_mod.remove_local_claims([name], path=str(tmp_path))
    assert os.listdir(tmp_path) == ["maintenance.json"]


def test_a_planted_link_at_a_claim_path_is_removed_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    state = tmp_path / "state"
    state.mkdir()
    name = new_claim("run-a", U1, GIB, 1, now=time.time()).name
    os.symlink(str(victim), str(state / name))
    assert store_mod.remove_local_claims([name], path=str(state)) == ([name], [])
    assert victim.read_text() == "keep" and os.listdir(state) == []
