# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure preflight checks: each verdict and the reason a person reads."""

from __future__ import annotations

import threading
import time

import pytest

from ansible_collections.drover.libvirt.plugins.module_utils import _preflight_checks as pf
from ansible_collections.drover.libvirt.plugins.module_utils._transfer_estimate import precopy
from ansible_collections.drover.libvirt.plugins.module_utils._preflight_probes import parse_port_range
from ansible_collections.drover.libvirt.plugins.module_utils._preflight_run import in_order

SRC = {"host_uuid": "u-1", "libvirt_version": "11.3.0", "hypervisor_version": "10.0.2",
       "networks": [{"name": "prod", "active": True, "mtu": 9000}]}


def dst(**over):
    base = {"host_uuid": "u-2", "libvirt_version": "11.3.0", "hypervisor_version": "10.0.2", "arch": "x86_64",
            "machine_types": ["pc", "pc-i440fx-10.0"], "networks": [{"name": "prod", "active": True, "mtu": 9000}],
            "memory": {"total_kib": 8 << 20, "free_kib": 6 << 20, "committed_kib": 2 << 20},
            "vcpus": {"physical": 4, "allocated": 4},
            "storage": [{"pool": "local", "path": "/srv/local", "active": True, "available_bytes": 10 << 30}]}
    base.update(over)
    return base


def dom(**over):
    base = {"name": "vm1", "uuid": "d-1", "memory_kib": 1 << 20, "vcpus": 2, "machine": "pc-i440fx-10.0",
            "cpu": {"mode": "custom", "model": "qemu64"}, "interfaces": [], "blockers": [], "dirty_rate_mib_s": None,
            "disks": [{"target": "vda", "device": "disk", "type": "file", "path": "/srv/local/vm1.qcow2",
                       "readonly": False, "capacity_bytes": 1 << 30}]}
    base.update(over)
    return base


def test_host_uuid_must_differ():
    assert pf.check_host_uuid(SRC, dst(), "hv2")["status"] == "pass"
    failed = pf.check_host_uuid(SRC, dst(host_uuid="u-1"), "hv2")
    assert failed["status"] == "fail" and "same host UUID" in failed["reason"] and "host_uuid" in failed["reason"]


def test_versions_older_qemu_fails_older_libvirt_warns():
    assert pf.check_versions(SRC, dst(), "hv2")["status"] == "pass"
    older_qemu = pf.check_versions(SRC, dst(hypervisor_version="9.2.0"), "hv2")
    assert older_qemu["status"] == "fail" and "9.2.0" in older_qemu["reason"]
    assert pf.check_versions(SRC, dst(libvirt_version="10.0.0"), "hv2")["status"] == "warn"
    assert pf.check_versions(SRC, dst(hypervisor_version="10.1.0"), "hv2")["status"] == "pass"


def test_machine_type():
    assert pf.check_machine_type(dom(), dst(), "hv2")["status"] == "pass"
    failed = pf.check_machine_type(dom(machine="pc-q35-11.0"), dst(), "hv2")
    assert failed["status"] == "fail" and "pc-q35-11.0" in failed["reason"]


def test_cpu_verdicts_follow_the_comparison():
    ok = pf.check_cpu(dom(), {"result": "superset", "message": "", "compared": "domain CPU"}, "hv2")
    assert ok["status"] == "pass"
    bad = pf.check_cpu(dom(), {"result": "incompatible", "message": "missing avx512f", "compared": "domain CPU"}, "hv2")
    assert bad["status"] == "fail" and "missing avx512f" in bad["reason"]
    assert pf.check_cpu(dom(), {"result": "unknown", "message": "x", "compared": None}, "hv2")["status"] == "warn"


def test_storage_shared_passes():
    probes = {"/srv/local/vm1.qcow2": {"shared": True, "how": "pool local"}}
    assert pf.check_storage(dom(), probes, "hv2", True, dst()["storage"])["status"] == "pass"


def test_storage_local_needs_a_copy_or_fails():
    probes = {"/srv/local/vm1.qcow2": {"shared": False, "how": "pool local"}}
    copy = pf.check_storage(dom(), probes, "hv2", True, dst()["storage"])
    assert copy["status"] == "warn" and copy["details"]["copy_storage"] is True and "1024 MiB" in copy["reason"]
    refused = pf.check_storage(dom(), probes, "hv2", False, dst()["storage"])
    assert refused["status"] == "fail" and "copy_storage" in refused["reason"]
    no_pool = pf.check_storage(dom(), probes, "hv2", True, [])
    assert no_pool["status"] == "fail" and "no active storage pool" in no_pool["reason"]
    full = pf.check_storage(dom(), probes, "hv2", True, [dict(dst()["storage"][0], available_bytes=1 << 20)])
    assert full["status"] == "fail" and "1 MiB free" in full["reason"]


def test_storage_unknown_warns_and_cdrom_is_ignored():
    cdrom = {"target": "sda", "device": "cdrom", "type": "file", "path": "/iso/x.iso", "readonly": True}
    unknown = pf.check_storage(dom(disks=dom()["disks"] + [cdrom]), {}, "hv2", True, [])
    assert unknown["status"] == "warn" and "could not prove" in unknown["reason"]
    assert unknown["details"]["unknown"] == ["vda (not probed)"]


def test_network_missing_inactive_mtu_and_bridge():
    iface = [{"type": "network", "source": "prod"}]
    assert pf.check_network(dom(interfaces=iface), SRC, dst(), "hv2", {})["status"] == "pass"
    missing = pf.check_network(dom(interfaces=iface), SRC, dst(networks=[]), "hv2", {})
    assert missing["status"] == "fail" and "network prod does not exist on hv2" == missing["reason"]
    inactive = pf.check_network(dom(interfaces=iface), SRC, dst(networks=[{"name": "prod", "active": False}]), "hv2", {})
    assert "not active" in inactive["reason"]
    mtu = pf.check_network(dom(interfaces=iface), SRC, dst(networks=[{"name": "prod", "active": True, "mtu": 1500}]),
                           "hv2", {})
    assert mtu["status"] == "fail" and "MTU 1500" in mtu["reason"]
    bridge = [{"type": "bridge", "source": "br0"}]
    assert pf.check_network(dom(interfaces=bridge), SRC, dst(), "hv2", {"br0": 1500})["status"] == "pass"
    assert pf.check_network(dom(interfaces=bridge), SRC, dst(), "hv2", {})["status"] == "fail"


def test_network_bridges_read_remotely_are_unknown_and_only_warn():
    bridge = [{"type": "bridge", "source": "br0"}]
    unknown = pf.check_network(dom(interfaces=bridge), SRC, dst(), "hv2", None)
    assert unknown["status"] == "warn" and unknown["reason"].startswith("cannot tell whether bridge br0 exists on hv2")
    device = pf.check_network(dom(interfaces=[{"type": "direct", "source": "eth1"}]), SRC, dst(), "hv2", None)
    assert device["status"] == "warn" and "device eth1" in device["reason"]
    both = bridge + [{"type": "network", "source": "prod"}]
    missing = pf.check_network(dom(interfaces=both), SRC, dst(networks=[]), "hv2", None)
    assert missing["status"] == "fail" and missing["reason"].startswith("network prod does not exist on hv2")
    networks_only = pf.check_network(dom(interfaces=[{"type": "network", "source": "prod"}]), SRC, dst(), "hv2", None)
    assert networks_only["status"] == "pass"


def test_capacity_memory_vcpus_and_pending():
    assert pf.check_capacity(dom(), dst(), "hv2", 1024, 4.0)["status"] == "pass"
    full = pf.check_capacity(dom(memory_kib=6 << 20), dst(), "hv2", 1024, 4.0)
    assert full["status"] == "fail" and "5120 MiB left" in full["reason"] and "needs 6144 MiB" in full["reason"]
    pending = pf.check_capacity(dom(), dst(), "hv2", 1024, 4.0, {"memory_mib": 4608})
    assert pending["status"] == "fail" and "pending 4608" in pending["reason"]
    cpus = pf.check_capacity(dom(vcpus=13), dst(), "hv2", 1024, 4.0)
    assert cpus["status"] == "fail" and "17 vCPUs on 4 CPUs" in cpus["reason"]
    low = dst(memory={"total_kib": 8 << 20, "free_kib": 1 << 20, "committed_kib": 0})
    tight = pf.check_capacity(dom(memory_kib=5 << 20), low, "hv2", 1024, 4.0)
    assert tight["status"] == "warn" and "kernel reports" in tight["reason"]


def test_blockers_and_defined():
    assert pf.check_blockers(dom())["status"] == "pass"
    blocked = pf.check_blockers(dom(blockers=[{"kind": "hostdev", "detail": "pci 0000:03:00.1"}]))
    assert blocked["status"] == "fail" and "pci 0000:03:00.1" in blocked["reason"]
    assert pf.check_defined(dom(), None, "hv2")["status"] == "pass"
    found = {"name": "vm1", "uuid": "d-1", "state": "shutoff", "persistent": True}
    defined = pf.check_defined(dom(), found, "hv2")
    assert defined["status"] == "fail" and "the same UUID" in defined["reason"] and "shutoff" in defined["reason"]


def test_connectivity():
    ports = {"49152": "refused", "49183": "refused", "49215": "open"}
    ok = {"address": "10.0.0.2", "range": "49152-49215", "ports": ports}
    assert pf.check_connectivity(ok, "hv2")["status"] == "pass"
    blocked = dict(ok, ports={"49152": "timeout", "49183": "timeout", "49215": "refused"})
    failed = pf.check_connectivity(blocked, "hv2")
    assert failed["status"] == "fail" and "49152 timeout" in failed["reason"] and "49215 refused" not in failed["reason"]


def test_a_marked_destination_fails_with_its_mark():
    mark = {"state": "draining", "reason": "kernel", "by": "", "since": "2026-11-26T00:00:00+00:00"}
    failed = pf.check_maintenance(mark, "hv2")
    assert failed["status"] == "fail" and failed["reason"] == "hv2 is marked draining (kernel); placement must not choose it"
    assert failed["details"]["mark"] == mark
    assert "no reason given" in pf.check_maintenance({"state": "maintenance"}, "hv2")["reason"]


def test_estimate_converges_with_slow_dirtying():
    result = precopy(1 << 30, 100 << 20, 1000 << 20, 300)
    assert result["converges"] and result["rounds"] >= 1
    assert 1.0 <= result["seconds"] < 1.3 and result["downtime_ms"] <= 300


def test_estimate_does_not_converge_when_dirtying_outpaces_the_link():
    assert precopy(1 << 30, 2000 << 20, 1000 << 20, 300)["converges"] is False
    assert precopy(1 << 30, 0, 0, 300)["converges"] is None


def test_convergence_check_suggests_a_preset():
    assert pf.check_convergence(dom(dirty_rate_mib_s=10), 1000, "balanced")["status"] == "pass"
    balanced = pf.check_convergence(dom(dirty_rate_mib_s=2000), 1000, "balanced")
    assert balanced["status"] == "warn" and "post-copy" in balanced["reason"]
    none = pf.check_convergence(dom(dirty_rate_mib_s=2000), 1000, "none")
    assert none["status"] == "warn" and none["details"]["suggested"] == "postcopy"
    unmeasured = pf.check_convergence(dom(), 1000, "balanced")
    assert "not measured" in unmeasured["reason"]


def test_verdict_and_worst():
    checks = [pf.check("cpu", "pass", "ok"), pf.check("storage", "warn", "copy", copy_storage=True),
              pf.check("capacity", "fail", "full")]
    verdict = pf.verdict("vm1", "hv1", "hv2", "qemu+ssh://hv2/system", checks)
    assert verdict["status"] == "fail" and verdict["copy_storage"] and verdict["failed"] == ["capacity"]
    assert pf.worst([]) == "pass"


def _results():
    ok = pf.verdict("vm1", "hv1", "hv2", "u", [pf.check("cpu", "pass", "ok")])
    bad = pf.verdict("vm1", "hv1", "hv3", "u", [pf.check("cpu", "fail", "no avx")])
    stuck = pf.verdict("vm2", "hv1", "hv2", "u", [pf.check("capacity", "fail", "full")])
    return [ok, bad, stuck, pf.verdict("vm2", "hv1", "hv3", "u", [pf.check("convergence", "fail", "slow")])]


def test_decision_rules():
    results = _results()
    anyone = pf.decision(results, "any")
    assert not anyone["ok"] and [b["domain"] for b in anyone["blocked"]] == ["vm2"]
    assert anyone["usable"] == {"vm1": ["hv2"], "vm2": []}
    assert "hv2: full" in anyone["blocked"][0]["reasons"]
    assert [b["domain"] for b in pf.decision(results, "all")["blocked"]] == ["vm1", "vm2"]
    assert pf.decision(results, "none")["ok"]
    only_cpu = pf.decision(results, "any", ["cpu"])
    assert only_cpu["ok"] and only_cpu["usable"]["vm2"] == ["hv2", "hv3"]
    with pytest.raises(ValueError):
        pf.decision(results, "most")


def test_matrix_lines_show_failures_and_reasons():
    lines = pf.matrix_lines(_results())
    assert lines[0].split() == ["VM", "hv2", "hv3"]
    assert lines[1].split() == ["vm1", "pass", "FAIL(cpu)"]
    assert "vm1 -> hv3: cpu: no avx" in lines


def test_port_range():
    assert parse_port_range("49152-49215") == (49152, 49215)
    assert parse_port_range("5000") == (5000, 5000)
    for bad in ("0-10", "20-10", "x"):
        with pytest.raises(ValueError):
            parse_port_range(bad)


def test_destinations_run_in_parallel_within_the_bound_and_keep_their_order():
    three_at_once = threading.Barrier(3, timeout=5)  # breaks unless exactly three wait together
    names = []

    def work(index):
        if index < 3:
            three_at_once.wait()
        time.sleep(0.03 * (6 - index))  # the later ones finish first
        names.append(index)
        return "dest%d" % index

    assert in_order(work, list(range(6)), 3) == ["dest%d" % i for i in range(6)]
    assert names != sorted(names) and in_order(work, [], 16) == []


def test_the_first_error_in_destination_order_is_raised():
    def work(index):
        if index in (1, 2):
            time.sleep(0.05 if index == 1 else 0)
            raise ValueError("dest%d" % index)
        return index

    with pytest.raises(ValueError, match="dest1"):
        in_order(work, [0, 1, 2, 3], 4)


def test_dirty_rates_the_fleet_read_measured_are_not_measured_again():
    from ansible_collections.drover.libvirt.plugins.module_utils._preflight_run import _measured_rates
    fleet = {"hv1": {"domains": [{"uuid": "u1", "active": True, "dirty_rate_mib_s": 3.5},
                                 {"uuid": "u2", "active": True, "dirty_rate_mib_s": None},
                                 {"uuid": "u3", "active": False, "dirty_rate_mib_s": 1}]},
             "hv2": "not read", "hv3": {"domains": None}}
    assert _measured_rates(fleet) == {"u1": 3.5}
    assert _measured_rates(None) == {}
