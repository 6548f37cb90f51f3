# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The flow of one live migration end to end, as the migrate module and move_domains run it.

It joins the pure rules (_migration_rules, _convergence, _storage planning) with the host I/O
(_domain_presence, _job_monitor, _postcopy) in the order a migration needs them.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

from ansible_collections.drover.libvirt.plugins.module_utils._claim_store import ClaimStore, room_claimed
from ansible_collections.drover.libvirt.plugins.module_utils._convergence import (
    ConvergencePolicy,
    completion_timeout,
    downtime_schedule,
)
from ansible_collections.drover.libvirt.plugins.module_utils._domain_presence import finish_definitions, presence
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._job_monitor import JobMonitor
from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_enums import (
    DOMAIN_RUNNING,
    EVENT_SUSPENDED,
    EVENT_SUSPENDED_POSTCOPY,
)
from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_module import describe, host_uuid
from ansible_collections.drover.libvirt.plugins.module_utils._migration_rules import (
    ABSENT,
    completed_metrics,
    decide,
    flags_value,
    lost_in_postcopy,
    lost_text,
    migration_flags,
    migration_params,
    stuck_text,
    where_after_failure,
)
from ansible_collections.drover.libvirt.plugins.module_utils._postcopy import PostcopyRecovery, StreamDrain, find_data_port
from ansible_collections.drover.libvirt.plugins.module_utils._storage import (
    StorageCopy,
    disks_of,
    plan_storage,
    storage_flags,
    without_media,
)
from ansible_collections.drover.libvirt.plugins.module_utils._switchover import cost_of, learned, read_costs, record_cost
from ansible_collections.drover.libvirt.plugins.module_utils._uri import parse_uri


class LiveMigration:
    """Move domain `options.name` from `options.source_uri` to `options.dest_uri`, live.

    connect(uri, role) opens a libvirt connection (role names it in errors); warn(msg) records
    a warning for the caller to return; libvirt and libvirt_qemu are libvirt-python's modules
    (libvirt_qemu only for the post-copy recovery of libvirt 11.3.0, may be None);
    on_progress(fields), if given, gets the job monitor's progress lines.
    """

    def __init__(self, connect, options, warn, libvirt, libvirt_qemu=None, on_progress=None):
        self.connect = connect
        self.on_progress = on_progress
        self.options = options
        self.warn = warn
        self.lv = libvirt
        self.libvirt_qemu = libvirt_qemu
        self.name = options.name
        self.persist = options.persist
        self.undefine_source = options.undefine_source
        self.source_uri = options.source_uri
        self.dest_uri = options.dest_uri
        self.data_uri = options.data_uri
        self.knobs = options.knobs
        self.flags = migration_flags(self.persist, self.undefine_source, self.knobs, options.tls)
        self.params = migration_params(options.bandwidth, self.data_uri, self.knobs)

    def _connect(self):
        self.sconn = self.connect(self.source_uri, "source")
        self.dconn = self.connect(self.dest_uri, "destination")
        if host_uuid(self.sconn) == host_uuid(self.dconn):
            raise DroverError("destination %s is the source host itself (same host UUID %s)"
                              % (self.dest_uri, host_uuid(self.sconn)))

    def _reconnect_destination(self):
        """A fresh destination connection after the old one died with the link."""
        try:
            self.dconn.close()
        except self.lv.libvirtError:
            pass
        self.dconn = self.connect(self.dest_uri, "destination")
        return self.dconn

    def _where(self, settle=10.0):
        """(source, destination) presence. A destination still in post-copy with no source half is read again for
        up to `settle` seconds: libvirt may not have noted yet that the move finished; after that it is lost."""
        deadline = time.monotonic() + settle
        while True:
            src, dst = presence(self.sconn, self.name, self.lv), presence(self.dconn, self.name, self.lv)
            if not lost_in_postcopy(src, dst) or time.monotonic() >= deadline:
                return src, dst
            time.sleep(0.5)

    def _result(self, changed, src, dst):
        return {
            "changed": changed,
            "domain": self.name,
            "source": self.source_uri,
            "destination": self.dest_uri,
            "source_host": self.sconn.getHostname(),
            "destination_host": self.dconn.getHostname(),
            "flags": list(self.flags),
            "params": dict(self.params),
            "diff": {
                "before": "%s: %s on %s, %s on %s\n" % (self.name, src["state"], self.source_uri,
                                                        dst["state"], self.dest_uri),
            },
        }

    def _cleanup(self, steps):
        """Finish a migration that moved the domain but left a definition behind or missing."""
        finish_definitions(self.sconn, self.dconn, self.name, self.lv, steps)

    def run(self, check_mode):
        self._connect()
        src, dst = self._where()
        plan = decide(self.name, src, dst, self.persist, self.undefine_source)
        result = self._result(plan["action"] == "migrate" or bool(plan["cleanup"]), src, dst)
        result["cleanup"] = plan["cleanup"]
        after = "%s: running on %s%s\n" % (self.name, self.dest_uri,
                                           ", persistent there" if self.persist else "")
        result["diff"]["after"] = after
        if plan["action"] == "none":
            if not check_mode:
                if plan["cleanup"]:
                    self._cleanup(plan["cleanup"])
                if dst["active"]:
                    # Already there: a claim an earlier, cut-off run left for it on this host holds nothing.
                    ClaimStore(self.dconn, self.lv).release_arrived(dst["uuid"])
            return result
        dom = self.sconn.lookupByName(self.name)
        storage, todo = self._plan_storage(dom, result)
        # Room on the destination is held for the whole move, so no other run promises it too.
        with room_claimed(self.dconn, self.lv, dom, self.options.claims, result["destination_host"],
                          result["source_host"], check_mode, current=lambda: self.dconn) as held:
            result["claim"] = held
            if check_mode:
                return result
            self._migrate(result, dom, storage, todo)
        result["diff"]["after"] = after
        return result

    def _plan_storage(self, dom, result):
        """Decide which disks move with the domain and check the destination can take them."""
        opts = self.options
        disks = disks_of(dom.XMLDesc(0))
        plan = plan_storage(disks, opts.copy_storage, opts.copy_disks, opts.cdrom)
        storage = StorageCopy(self.sconn, self.dconn, self.lv, disks, plan)
        todo = storage.check()
        self.flags.extend(storage_flags(plan))
        result["flags"] = list(self.flags)
        if plan["disks"]:
            self.params["migrate_disks"] = list(plan["disks"])
        if plan["eject"]:
            xml_flags = self.lv.VIR_DOMAIN_XML_SECURE | self.lv.VIR_DOMAIN_XML_MIGRATABLE
            self.params["destination_xml"] = without_media(dom.XMLDesc(xml_flags), plan["eject"])
            if self.persist and dom.isPersistent():
                self.params["persistent_xml"] = without_media(
                    dom.XMLDesc(xml_flags | self.lv.VIR_DOMAIN_XML_INACTIVE), plan["eject"])
        result["params"] = {k: v for k, v in self.params.items() if not k.endswith("_xml")}
        result["storage"] = dict(plan, precreate=[d["path"] for d, _b in todo])
        return storage, todo

    def _migrate(self, result, dom, storage, todo):
        was_running = dom.state()[0] == DOMAIN_RUNNING
        total_bytes = dom.info()[1] * 1024 + storage.bytes_to_copy(dom)  # maximum memory + disks to copy
        timeout = self.options.timeout or completion_timeout(self.knobs, total_bytes)
        self.dest_key = parse_uri(self.dest_uri)["host"]
        switchover = learned(read_costs(self.dest_key)) if self.knobs["calibrate_switchover"] else 0
        policy = ConvergencePolicy(self.knobs, total_bytes, timeout, switchover_ms=switchover)
        result["convergence"] = {"preset": self.options.convergence, "knobs": self.knobs,
                                 "timeout_s": round(timeout, 1), "switchover_ms": switchover,
                                 "downtime_schedule": downtime_schedule(self.knobs, total_bytes)}
        data_host = urlsplit(self.data_uri).hostname if self.data_uri else parse_uri(self.dest_uri)["host"]
        completed = MigrationEvents(self.sconn, dom, self.lv, on_postcopy=lambda: find_data_port(self.name, data_host))
        monitor = JobMonitor(dom, self.lv, policy, self.options.poll_interval,
                             postcopy_seen=completed.postcopy.is_set, on_progress=self.on_progress,
                             before_postcopy=StreamDrain(dom, self.name, data_host, self.lv))
        self.storage = storage
        try:
            try:
                storage.precreate(todo, dom)
            except self.lv.libvirtError as exc:
                removed = storage.undo()
                raise DroverError(describe(exc, "cannot pre-create the copy targets on the destination"),
                                  vm_location="source", removed_from_destination=removed)
            error, wall_ms = monitor.run(
                lambda: dom.migrateToURI3(self.dest_uri, self.params, flags_value(self.lv, self.flags)))
            self._settle(result, monitor, completed, error, wall_ms, was_running, timeout, dom)
        finally:
            completed.stop_listening()

    def _settle(self, result, monitor, completed, error, wall_ms, was_running, timeout, dom):
        """Find where the domain landed, make it run there, finish definitions, collect metrics."""
        result["decisions"] = monitor.decisions
        # Trust where the domain actually runs now, not the exception text.
        postcopy = monitor.postcopy or completed.postcopy.is_set()
        try:
            src, dst = self._where()
            location = where_after_failure(src, dst)
            if location == "lost" and error is None:
                location = "destination"  # libvirt says the move completed: the destination has it all
        except self.lv.libvirtError:
            if not postcopy:
                raise
            location = "both"  # destination unreachable mid-post-copy: the guest is split
            src = presence(self.sconn, self.name, self.lv)
            dst = dict(ABSENT, state="unreachable")
        if location == "both" and postcopy:
            # Failed in post-copy: the guest's memory is split, so the only way out is forward.
            recovery = PostcopyRecovery(dom, self.dconn, self.name, self.lv, self.libvirt_qemu,
                                        reconnect=self._reconnect_destination)
            resume_flags = flags_value(self.lv, self.flags) | self.lv.VIR_MIGRATE_POSTCOPY_RESUME
            landed = recovery.run(self.options.postcopy_recovery_wait,
                                  lambda: dom.migrateToURI3(self.dest_uri, self.params, resume_flags),
                                  completed.data_addr or (None, None))
            ip, port = completed.data_addr or (None, None)
            result["postcopy_recovery"] = {"landed": landed, "steps": recovery.steps,
                                           "first_error": str(error) if error else None,
                                           "stream": "%s:%s" % (ip, port) if port else None}
            self.recovery_report = result["postcopy_recovery"]
            monitor.decisions.append({"action": "postcopy_recovery", "ok": landed, "steps": recovery.steps})
            if landed:
                error = None
                src, dst = self._where()
                location = where_after_failure(src, dst)
            else:
                # What the recovery found, even when the hosts cannot be read again below.
                location = "stuck" if recovery.stuck else "lost" if recovery.source_gone else location
                try:
                    src, dst = self._where()
                    if lost_in_postcopy(src, dst):
                        location = "lost"  # the source's QEMU died while the recovery waited
                    elif location == "lost":
                        location = where_after_failure(src, dst)  # read again: the hosts say otherwise now
                except self.lv.libvirtError:
                    pass  # keep the last known states for the report
        if location != "destination":
            self._fail(error, monitor, location, src, dst, was_running, timeout, postcopy)
        if error is not None:
            self.warn("libvirt reported an error although %s now runs on the destination: %s"
                      % (self.name, error))
        if was_running and dst["state"] == "paused":
            # A guest paused to force completion arrives paused: it was running before, so run it.
            self.dconn.lookupByName(self.name).resume()
            result["resumed_on_destination"] = True
        finish = decide(self.name, src, dst, self.persist, self.undefine_source)
        self._cleanup(finish["cleanup"])
        result["cleanup"] = finish["cleanup"]
        if self.options.remove_source_volumes:
            result["storage"]["removed_from_source"] = self.storage.remove_source_volumes()
        result["metrics"] = self._metrics(monitor, completed, wall_ms)
        result["metrics"]["postcopy"] = postcopy
        self._learn_switchover(result, monitor, postcopy)

    def _learn_switchover(self, result, monitor, postcopy):
        """The pause expected against the one measured, and this pair's switch-over cost for the next move."""
        limits = [d["value"] for d in monitor.decisions if d["action"] == "set_downtime" and d.get("ok")]
        metrics = result["metrics"]
        if not limits or postcopy or monitor.paused_guest or metrics.get("source_of_metrics") == "last_sample":
            return  # no limit of ours was in force, or the pause was not a pre-copy switch-over
        metrics["estimated_pause_ms"] = limits[-1] + result["convergence"]["switchover_ms"]
        if self.knobs["calibrate_switchover"]:
            record_cost(self.dest_key, cost_of(metrics["downtime_ms"], limits[-1]))

    def _fail(self, error, monitor, location, src, dst, was_running, timeout, postcopy):
        """Report a migration that did not land, after making the guest run again where it is."""
        reason = describe(error, "migration failed") if isinstance(error, self.lv.libvirtError) \
            else ("migration failed: %s" % error if error else "migration returned without moving the domain")
        aborts = [d for d in monitor.decisions if d["action"] == "abort"]
        if aborts:
            reason = "migration was aborted by the convergence policy (%s; timeout %.0fs): %s" % (
                aborts[0]["reason"], timeout, reason)
        details = {}
        if getattr(self, "recovery_report", None):
            details["postcopy_recovery"] = self.recovery_report
        if location == "source":
            # The copy targets this run created on the destination are garbage now.
            details["removed_from_destination"] = self.storage.undo()
            if dst["exists"] and not dst["active"] and dst["uuid"] == src["uuid"]:
                # It was absent before this run (decide() checked): a definition the failed
                # migration left behind would make the domain defined on two hosts.
                self.dconn.lookupByName(self.name).undefine()
                details["undefined_on_destination"] = True
        resumed = False
        if location == "source" and was_running and monitor.paused_guest and src["state"] == "paused":
            self.sconn.lookupByName(self.name).resume()
            resumed = True
        if location == "lost":
            where = lost_text("it", src)
        elif location == "stuck":
            where = stuck_text("it")
        elif postcopy and not src["exists"] and dst["state"] == "unreachable":
            where = ("the source finished its side of the post-copy move and removed its definition, but the "
                     "destination could not be reached to confirm that the guest runs there; running "
                     "playbooks/migrate.yml again once it answers finishes the move")
        elif postcopy and location in ("both", "none"):
            where = ("it FAILED IN POST-COPY: its memory is split between both hosts (source %s, destination "
                     "%s); do not destroy either side: running playbooks/migrate.yml again finishes it (or "
                     "drover.libvirt.migration_stream on the destination, then drover.libvirt.migration_job "
                     "state=recovered)" % (src["state"], dst["state"]))
        else:
            where = {"source": "it is still running on the source" + (" (resumed)" if resumed else ""),
                     "both": "it is ACTIVE ON BOTH HOSTS: stop and check it by hand",
                     "none": "it is NOT RUNNING ON EITHER HOST: recover it by hand"}[location]
        raise DroverError("%s of domain %r to %s; %s" % (reason, self.name, self.dest_uri, where),
                          domain=self.name, vm_location=location, timed_out=bool(aborts),
                          decisions=monitor.decisions, progress=monitor.last_sample,
                          source_state=src["state"], destination_state=dst["state"], **details)

    def _metrics(self, monitor, completed, wall_ms):
        # The source's job-completed event carries the final stats, post-copy included; the
        # destination keeps completed stats of pre-copy migrations only.
        stats = completed.wait(2.0)
        origin = "source_completed_event"
        if not stats.get("time_elapsed"):
            origin = "destination_completed_job"
            try:
                stats = self.dconn.lookupByName(self.name).jobStats(self.lv.VIR_DOMAIN_JOB_STATS_COMPLETED)
            except self.lv.libvirtError:
                stats = {}
        if not stats.get("time_elapsed"):
            origin = "last_sample"
            sample = monitor.last_sample
            stats = {"time_elapsed": sample.get("elapsed_ms", 0), "downtime": sample.get("expected_downtime_ms", 0),
                     "data_processed": sample.get("data_processed_bytes", 0),
                     "memory_iteration": sample.get("memory_iterations", 0)}
        metrics = completed_metrics(stats, wall_ms)
        metrics["source_of_metrics"] = origin
        return metrics


class MigrationEvents:
    """Listens on the source for the domain's job-completed event and its entry into post-copy."""

    def __init__(self, conn, dom, libvirt, on_postcopy=None):
        self.conn = conn
        self.libvirt = libvirt
        self.on_postcopy = on_postcopy
        self.data_addr = None
        self.stats = {}
        self.done = threading.Event()
        self.postcopy = threading.Event()
        self.callback_ids = []
        try:
            self.callback_ids.append(conn.domainEventRegisterAny(
                dom, libvirt.VIR_DOMAIN_EVENT_ID_JOB_COMPLETED, self._on_completed, None))
            self.callback_ids.append(conn.domainEventRegisterAny(
                dom, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_lifecycle, None))
        except libvirt.libvirtError:
            self.done.set()  # no events from this daemon: fall back to polling and other sources

    def _on_completed(self, _conn, _dom, params, _opaque):
        self.stats = dict(params)
        self.done.set()

    def _on_lifecycle(self, _conn, _dom, event, detail, _opaque):
        if event == EVENT_SUSPENDED and detail == EVENT_SUSPENDED_POSTCOPY:
            if self.on_postcopy is not None and self.data_addr is None:
                # Where the stream goes, while it still flows: a resume after a failure needs it.
                self.data_addr = self.on_postcopy()
            self.postcopy.set()

    def wait(self, seconds):
        self.done.wait(seconds)
        return self.stats

    def stop_listening(self):
        for callback_id in self.callback_ids:
            try:
                self.conn.domainEventDeregisterAny(callback_id)
            except self.libvirt.libvirtError:
                pass
        self.callback_ids = []
