# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inspect and steer a migration job that is already running (for migration_job and _info).

job_phase, job_report and plan_job_change are pure; read_job, apply_job_change and recover
call libvirt.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

from ansible_collections.drover.libvirt.plugins.module_utils._domain_presence import finish_definitions, presence
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_enums import (
    DOMAIN_PAUSED, DOMAIN_RUNNING, JOB_BOUNDED, JOB_NONE, JOB_OPERATION_MIGRATION_IN, JOB_OPERATION_MIGRATION_OUT,
    JOB_UNBOUNDED, PAUSED_POSTCOPY, PAUSED_POSTCOPY_FAILED, RUNNING_POSTCOPY, RUNNING_POSTCOPY_FAILED)
from ansible_collections.drover.libvirt.plugins.module_utils._migration_rules import ABSENT, decide, lost_text, stuck_text
from ansible_collections.drover.libvirt.plugins.module_utils._postcopy import PostcopyRecovery, host_addresses
from ansible_collections.drover.libvirt.plugins.module_utils._uri import destination_uri, parse_uri

_OPERATIONS = {JOB_OPERATION_MIGRATION_IN: "migration_in", JOB_OPERATION_MIGRATION_OUT: "migration_out"}


def job_phase(state, reason, job_type):
    """none, precopy, postcopy or postcopy_failed, from the domain state and the job type."""
    if (state, reason) in ((DOMAIN_PAUSED, PAUSED_POSTCOPY_FAILED), (DOMAIN_RUNNING, RUNNING_POSTCOPY_FAILED)):
        return "postcopy_failed"
    if (state, reason) in ((DOMAIN_PAUSED, PAUSED_POSTCOPY), (DOMAIN_RUNNING, RUNNING_POSTCOPY)):
        return "postcopy"
    if job_type in (JOB_BOUNDED, JOB_UNBOUNDED):
        return "precopy"
    return "none"


def job_report(stats, phase):
    """What a person watching the migration wants to read, from virDomainGetJobStats."""
    total = int(stats.get("data_total", 0))
    remaining = int(stats.get("data_remaining", 0))
    report = {
        "phase": phase,
        "operation": _OPERATIONS.get(stats.get("operation"), "other" if stats.get("operation") else None),
        "elapsed_ms": int(stats.get("time_elapsed", 0)),
        "total_bytes": total,
        "remaining_bytes": remaining,
        "processed_bytes": int(stats.get("data_processed", 0)),
        "progress_percent": round(100.0 * (total - remaining) / total, 1) if total else 0.0,
        "dirty_rate_bps": int(stats.get("memory_dirty_rate", 0)) * int(stats.get("memory_page_size", 4096)),
        "bandwidth_bps": int(stats.get("memory_bps", 0)),
        "expected_downtime_ms": int(stats.get("downtime", 0)),
        "iteration": int(stats.get("memory_iteration", 0)),
        "auto_converge_throttle_percent": int(stats.get("auto_converge_throttle", 0)),
        "postcopy_requests": int(stats.get("memory_postcopy_requests", 0)),
    }
    return report


def read_job(dom):
    state, reason = dom.state()
    stats = dom.jobStats() if dom.isActive() else {}
    return job_report(stats, job_phase(state, reason, stats.get("type", JOB_NONE)))


def plan_job_change(name, phase, state, force):
    """The call that brings the job to `state` (aborted or completed), or None; raises when unsafe."""
    if state == "aborted":
        if phase in ("postcopy", "postcopy_failed"):
            raise DroverError("the migration of %r is in post-copy: its memory is split between both hosts, "
                              "so aborting it would lose the guest; let it finish or recover it" % name)
        return "abort" if phase == "precopy" else None
    if phase == "postcopy_failed":
        raise DroverError("the post-copy migration of %r failed; it needs recovery (state=recovered), "
                          "not completion" % name)
    if phase != "precopy":
        return None  # nothing running, or already completing in post-copy
    return force


def apply_job_change(dom, call, drain=None):
    """Carry out plan_job_change's call; `drain` (a _postcopy.StreamDrain) runs before a switch to post-copy."""
    if call == "abort":
        dom.abortJob()
    elif call == "postcopy":
        if drain is not None:
            drain()
        try:
            dom.migrateStartPostCopy(0)
        except Exception:
            if drain is not None:
                drain.restore()
            raise
    elif call == "pause":
        dom.suspend()


def recover(module, sconn, dom, job):
    """state=recovered: drive a failed post-copy migration to the destination; returns the result."""
    p = module.params
    lv = module.libvirt
    dest_uri = destination_uri(p["dest"], p["transport"], allow_insecure=p.get("allow_insecure_transport"))
    dconn = module.connect(dest_uri, "destination")
    name = p["name"]
    result = {"job": job, "action": None, "destination": dest_uri}
    if job["phase"] == "postcopy_failed":
        result["action"] = "recover"
        if module.check_mode:
            return dict(result, changed=True)
        recovery = PostcopyRecovery(dom, dconn, name, lv, module.libvirt_qemu,
                                    reconnect=lambda: module.connect(dest_uri, "destination"))
        flags = (lv.VIR_MIGRATE_LIVE | lv.VIR_MIGRATE_PEER2PEER | lv.VIR_MIGRATE_POSTCOPY
                 | lv.VIR_MIGRATE_POSTCOPY_RESUME | lv.VIR_MIGRATE_PERSIST_DEST | lv.VIR_MIGRATE_UNDEFINE_SOURCE)
        try:
            data_ip = host_addresses(parse_uri(dest_uri)["host"])[0]
        except (OSError, IndexError):
            data_ip = None  # QEMU's own resume then says the address is unknown

        landed = recovery.run(p["wait"], lambda: dom.migrateToURI3(dest_uri, {}, flags), (data_ip, p["migration_port"]))
        result["steps"] = recovery.steps
        if not landed and recovery.stuck:
            raise DroverError(stuck_text("domain %r" % name), steps=recovery.steps)
        if not landed and recovery.source_gone:
            try:
                src = presence(sconn, name, lv)
            except lv.libvirtError:
                src = dict(ABSENT, exists=True, state="shutoff")  # seen shut off by the recovery a moment ago
            raise DroverError(lost_text("domain %r" % name, src), steps=recovery.steps)
        if not landed:
            raise DroverError("the post-copy migration of %r could not be recovered within %ss; its memory is "
                              "still split between the hosts, do not destroy either side" % (name, p["wait"]),
                              steps=recovery.steps)
        dconn = recovery.dconn
    src, dst = presence(sconn, name, lv), presence(dconn, name, lv)
    if not dst["active"]:
        if result["action"] is None:
            return dict(result, changed=False, msg="no failed post-copy migration of %r to recover" % name)
        raise DroverError("%r did not land on the destination" % name)
    plan = decide(name, src, dst, True, True)
    if not module.check_mode:
        finish_definitions(sconn, dconn, name, lv, plan["cleanup"])
    result["cleanup"] = plan["cleanup"]
    return dict(result, changed=bool(result["action"] or plan["cleanup"]))
