# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live migration of one domain: decide, run beside a job monitor, then verify where it landed.

The decision functions are pure so that they can be tested without libvirt;
everything that talks to libvirt receives the connections it needs.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import threading
import time

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError

# virDomainState values (stable ABI), so the pure code needs no libvirt import.
STATE_NAMES = {0: "nostate", 1: "running", 2: "blocked", 3: "paused", 4: "shutdown",
               5: "shutoff", 6: "crashed", 7: "pmsuspended"}
_PAUSED = 3
_PAUSED_USER = 1
_PAUSED_POSTCOPY, _PAUSED_POSTCOPY_FAILED = 12, 13
ABSENT = {"exists": False, "active": False, "persistent": False, "state": "absent",
          "migratable": False, "uuid": None}

# Stats keys of virDomainGetJobStats (VIR_DOMAIN_JOB_*) used in results.
_SAMPLE_KEYS = {
    "time_elapsed": "elapsed_ms",
    "data_remaining": "data_remaining_bytes",
    "data_processed": "data_processed_bytes",
    "data_total": "data_total_bytes",
    "memory_remaining": "memory_remaining_bytes",
    "memory_bps": "memory_bandwidth_bps",
    "memory_iteration": "memory_iterations",
    "downtime": "expected_downtime_ms",
}


def check_domain_name(name):
    """Refuse names libvirt could never hold, before any connection is used."""
    if not name or any(ord(ch) < 32 or ord(ch) == 127 for ch in name) or "/" in name:
        raise DroverError("domain name %r is not a valid libvirt domain name" % (name,))
    if len(name.encode("utf-8")) > 255:
        raise DroverError("domain name %r is longer than 255 bytes" % (name,))


def presence(conn, name, libvirt):
    """Where a domain stands on one host: a dict like ABSENT, filled in."""
    try:
        dom = conn.lookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return dict(ABSENT)
        raise
    state, reason = dom.state()
    active = bool(dom.isActive())
    return {
        "exists": True,
        "active": active,
        "persistent": bool(dom.isPersistent()),
        "state": STATE_NAMES.get(state, str(state)),
        "migratable": active and (state != _PAUSED or reason == _PAUSED_USER),
        "uuid": dom.UUIDString(),
    }


def decide(name, src, dst, persist, undefine_source):
    """What to do given the domain's presence on source and destination.

    Returns {"action": "migrate" | "none", "cleanup": [...]}; raises DroverError
    whenever acting could leave the domain on no host or on two.
    """
    if src["active"] and dst["active"]:
        raise DroverError("domain %r is active on both the source and the destination; refusing to "
                          "touch either until a person decides which one is real" % name,
                          source_state=src["state"], destination_state=dst["state"])
    if src["active"]:
        if dst["exists"]:
            raise DroverError("domain %r is already defined on the destination (%s); refusing to "
                              "migrate over that definition" % (name, dst["state"]))
        if not src["migratable"]:
            raise DroverError("domain %r is %s on the source; only a running or user-paused domain "
                              "can be live-migrated" % (name, src["state"]))
        return {"action": "migrate", "cleanup": []}
    if dst["active"]:
        if src["exists"] and src["uuid"] != dst["uuid"]:
            raise DroverError("domain %r runs on the destination, but a different domain of that name "
                              "(uuid %s) is defined on the source; resolve the clash by hand"
                              % (name, src["uuid"]))
        cleanup = []
        if src["exists"] and undefine_source:
            cleanup.append("undefine_source")
        if persist and not dst["persistent"]:
            cleanup.append("define_destination")
        return {"action": "none", "cleanup": cleanup}
    if src["exists"]:
        raise DroverError("domain %r is not running on the source (state: %s); live migration needs a "
                          "running domain" % (name, src["state"]), source_state=src["state"])
    if dst["exists"]:
        raise DroverError("domain %r is not on the source and is %s on the destination; nothing to "
                          "migrate" % (name, dst["state"]), destination_state=dst["state"])
    raise DroverError("domain %r was not found on the source nor on the destination" % name)


def finish_definitions(sconn, dconn, name, libvirt, steps):
    """Carry out decide()'s cleanup steps: undefine a left-over source, define a transient destination."""
    if "undefine_source" in steps:
        sconn.lookupByName(name).undefine()
    if "define_destination" in steps:
        ddom = dconn.lookupByName(name)
        dconn.defineXML(ddom.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE | libvirt.VIR_DOMAIN_XML_MIGRATABLE))


def where_after_failure(src, dst):
    """Name where a domain runs after a failed migration: source, destination, both or none."""
    if src["active"] and dst["active"]:
        return "both"
    if src["active"]:
        return "source"
    if dst["active"]:
        return "destination"
    return "none"


def migration_flags(persist, undefine_source, knobs=None, tls=False):
    """Names of the VIR_MIGRATE_* flags used (returned to the user as they are)."""
    knobs = knobs or {}
    names = ["LIVE", "PEER2PEER", "ABORT_ON_ERROR"]
    if persist:
        names.append("PERSIST_DEST")
    if undefine_source:
        names.append("UNDEFINE_SOURCE")
    if knobs.get("auto_converge"):
        names.append("AUTO_CONVERGE")
    if knobs.get("postcopy"):
        names.append("POSTCOPY")  # permits the switch; post-copy starts only when the policy says so
    if knobs.get("parallel_connections", 0) >= 2:
        names.append("PARALLEL")
    if knobs.get("compression"):
        names.append("COMPRESSED")
    if tls:
        names.append("TLS")
    return names


def migration_params(bandwidth_mib=0, data_uri=None, knobs=None):
    """virTypedParameters for migrateToURI3 (keys are VIR_MIGRATE_PARAM_* values)."""
    knobs = knobs or {}
    params = {}
    if bandwidth_mib:
        params["bandwidth"] = int(bandwidth_mib)
    if data_uri:
        params["migrate_uri"] = data_uri
    if knobs.get("auto_converge"):
        params["auto_converge.initial"] = int(knobs["auto_converge_initial"])
        params["auto_converge.increment"] = int(knobs["auto_converge_increment"])
    if knobs.get("postcopy") and knobs.get("postcopy_bandwidth"):
        params["bandwidth.postcopy"] = int(knobs["postcopy_bandwidth"])
    if knobs.get("parallel_connections", 0) >= 2:
        params["parallel.connections"] = int(knobs["parallel_connections"])
    if knobs.get("compression"):
        params["compression"] = list(knobs["compression"])
    return params


def flags_value(libvirt, names):
    value = 0
    for name in names:
        value |= getattr(libvirt, "VIR_MIGRATE_" + name)
    return value


def summarize_stats(stats):
    """Job stats -> the subset a person reads, with units in the names."""
    summary = {}
    for key, out in _SAMPLE_KEYS.items():
        if key in stats:
            summary[out] = int(stats[key])
    if "memory_dirty_rate" in stats:
        summary["dirty_rate_bps"] = int(stats["memory_dirty_rate"]) * int(stats.get("memory_page_size", 4096))
    return summary


def completed_metrics(stats, wall_ms):
    """Metrics of a finished migration from its completed-job stats."""
    data = stats.get("data_processed")
    if data is None:
        data = stats.get("memory_processed", 0) + stats.get("disk_processed", 0)
    return {
        "downtime_ms": int(stats.get("downtime", 0)),
        "duration_ms": int(stats.get("time_elapsed", 0)),
        "data_bytes": int(data),
        "memory_bytes": int(stats.get("memory_processed", 0)),
        "disk_bytes": int(stats.get("disk_processed", 0)),
        "memory_iterations": int(stats.get("memory_iteration", 0)),
        "memory_bandwidth_bps": int(stats.get("memory_bps", 0)),
        "setup_ms": int(stats.get("setup_time", 0)),
        "wall_ms": int(wall_ms),
    }


class JobMonitor:
    """Run the blocking migration call in a thread; sample job stats and apply a policy beside it.

    The policy (see _convergence.ConvergencePolicy) answers each sample with actions; this class
    carries them out and records every decision. It returns only once the call has returned:
    a job it started never outlives it.
    """

    REABORT_INTERVAL = 5.0

    def __init__(self, dom, libvirt, policy, poll_interval=0.5, clock=time.monotonic, postcopy_seen=None):
        self.dom = dom
        self.postcopy_seen = postcopy_seen or (lambda: False)
        self.libvirt = libvirt
        self.policy = policy
        self.poll_interval = poll_interval
        self.clock = clock
        self.decisions = []
        self.last_sample = {}
        self.aborted = False
        self.paused_guest = False
        self.postcopy = False

    def _sample(self):
        try:
            return self.dom.jobStats()
        except self.libvirt.libvirtError:
            return {}

    def _in_postcopy(self):
        if self.postcopy_seen():
            return True
        try:
            state, reason = self.dom.state()
        except self.libvirt.libvirtError:
            return False
        return state == _PAUSED and reason in (_PAUSED_POSTCOPY, _PAUSED_POSTCOPY_FAILED)

    def _execute(self, action, value):
        """Carry out one action; return None or the error text."""
        try:
            if action == "set_downtime":
                self.dom.migrateSetMaxDowntime(int(value), 0)
            elif action == "postcopy":
                self.dom.migrateStartPostCopy(0)
                self.postcopy = True
            elif action == "pause":
                self.dom.suspend()
                self.paused_guest = True
            elif action == "abort":
                self.aborted = True  # even if libvirt says the job just ended: the caller checks
                self.dom.abortJob()
        except self.libvirt.libvirtError as exc:
            return exc.get_error_message() or str(exc)
        return None

    def _record(self, elapsed, action, value, reason, error):
        entry = {"t_s": round(elapsed, 3), "action": action, "reason": reason, "ok": error is None,
                 "remaining_bytes": self.last_sample.get("data_remaining_bytes"),
                 "dirty_rate_bps": self.last_sample.get("dirty_rate_bps"),
                 "bandwidth_bps": self.last_sample.get("memory_bandwidth_bps"),
                 "iteration": self.last_sample.get("memory_iterations")}
        if value is not None:
            entry["value"] = value
        if error:
            entry["error"] = error
        self.decisions.append(entry)

    def run(self, call):
        box = {}

        def target():
            try:
                call()
            except Exception as exc:  # pylint: disable=broad-except  # re-raised by the caller
                box["error"] = exc

        start = self.clock()
        worker = threading.Thread(target=target, name="drover-migration", daemon=True)
        worker.start()
        last_abort = None
        while worker.is_alive():
            worker.join(self.poll_interval)
            if not worker.is_alive():
                break
            elapsed = self.clock() - start
            stats = self._sample()
            if stats:
                self.last_sample = summarize_stats(stats)
            if not self.postcopy and self._in_postcopy():
                # Switched by someone else (migration_job, virsh): from now on, never abort.
                self.postcopy = True
                self.policy.confirm("postcopy", True)
                self._record(elapsed, "observed_postcopy", None, "the migration entered post-copy", None)
            if self.aborted:
                if elapsed - last_abort >= self.REABORT_INTERVAL:
                    error = self._execute("abort", None)
                    self._record(elapsed, "abort", None, "job still running after abort", error)
                    last_abort = elapsed
                continue
            for action, value, reason in self.policy.decide(elapsed, self.last_sample):
                error = self._execute(action, value)
                self.policy.confirm(action, error is None)
                self._record(elapsed, action, value, reason, error)
                if action == "abort":
                    last_abort = elapsed
                    break
        return box.get("error"), (self.clock() - start) * 1000.0
