# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The job monitor: runs the blocking libvirt migration call and steers the job beside it.

Host I/O (libvirt calls on the domain, a thread); what to do at each sample is the pure
convergence policy's answer (_convergence.ConvergencePolicy). Every few seconds it also hands a
progress line (_progress.progress_fields) to whoever asked for them.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import threading
import time

from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_enums import (
    DOMAIN_PAUSED, PAUSED_POSTCOPY, PAUSED_POSTCOPY_FAILED)
from ansible_collections.drover.libvirt.plugins.module_utils._migration_rules import summarize_stats
from ansible_collections.drover.libvirt.plugins.module_utils._progress import PROGRESS_EVERY_S, progress_fields


class JobMonitor:
    """Run the blocking migration call in a thread; sample job stats and apply a policy beside it.

    The policy (see _convergence.ConvergencePolicy) answers each sample with actions; this class
    carries them out and records every decision. It returns only once the call has returned:
    a job it started never outlives it. With on_progress, every progress_every seconds it calls
    on_progress(fields) with the job's phase, percent, rate, remaining bytes and ETA.
    """

    REABORT_INTERVAL = 5.0
    # A QEMU blocked on a peer that vanished (its link cut mid-post-copy, the kernel still retrying) holds its
    # monitor, and libvirt waits for it without a limit: a sample waits this long, then the loop goes on.
    SAMPLE_WAIT_S = 15.0

    def __init__(self, dom, libvirt, policy, poll_interval=0.5, clock=time.monotonic, postcopy_seen=None,
                 on_progress=None, progress_every=PROGRESS_EVERY_S, before_postcopy=None):
        self.dom = dom
        # Called right before the switch to post-copy (a StreamDrain); its result goes into the decision.
        self.before_postcopy = before_postcopy
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
        self.on_progress = on_progress
        self.progress_every = progress_every
        self.reported = (0.0, None)  # (elapsed, sample) of the last progress line
        self.unanswered = None  # the sampling thread libvirt has not answered yet
        self.drained = None  # what before_postcopy did at the last switch
        self.started = clock()

    def _sample(self):
        """The job's statistics; {} when libvirt has none, or has not answered within SAMPLE_WAIT_S."""
        if self.unanswered is not None:
            if self.unanswered.is_alive():
                return {}  # not a second call queued behind the first
            self.unanswered = None
        box = {}

        def read():
            try:
                box["stats"] = self.dom.jobStats()
            except self.libvirt.libvirtError:
                box["stats"] = {}

        reader = threading.Thread(target=read, name="drover-job-stats", daemon=True)
        reader.start()
        reader.join(self.SAMPLE_WAIT_S)
        if reader.is_alive():
            self.unanswered = reader
            self._record(None, "unanswered_sample", None, "libvirt did not answer for the job's statistics within "
                         "%g s (its QEMU is busy or blocked)" % self.SAMPLE_WAIT_S, None)
            return {}
        return box.get("stats", {})

    def _in_postcopy(self):
        if self.postcopy_seen():
            return True
        try:
            state, reason = self.dom.state()
        except self.libvirt.libvirtError:
            return False
        return state == DOMAIN_PAUSED and reason in (PAUSED_POSTCOPY, PAUSED_POSTCOPY_FAILED)

    def _execute(self, action, value):
        """Carry out one action; return None or the error text."""
        try:
            if action == "set_downtime":
                self.dom.migrateSetMaxDowntime(int(value), 0)
            elif action == "postcopy":
                if self.before_postcopy is not None:
                    self.drained = self.before_postcopy()
                try:
                    self.dom.migrateStartPostCopy(0)
                except self.libvirt.libvirtError:
                    if self.before_postcopy is not None and hasattr(self.before_postcopy, "restore"):
                        self.before_postcopy.restore()
                    raise
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

    def _phase(self):
        if self.postcopy:
            return "postcopy"
        try:
            paused = self.paused_guest or self.dom.state()[0] == DOMAIN_PAUSED
        except self.libvirt.libvirtError:
            paused = self.paused_guest
        return "paused" if paused else "precopy"

    def _report_progress(self, elapsed):
        at, previous = self.reported
        # Nothing to say before the job counts what it has to send (it is still connecting).
        if self.on_progress is None or not self.last_sample.get("data_total_bytes") or elapsed - at < self.progress_every:
            return
        self.reported = (elapsed, self.last_sample)
        try:
            self.on_progress(progress_fields(self.last_sample, previous, self._phase()))
        except Exception:  # pylint: disable=broad-except
            pass  # a progress line that cannot be written must not disturb the migration

    def _record(self, elapsed, action, value, reason, error):
        if elapsed is None:
            elapsed = self.clock() - self.started
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

        start = self.started = self.clock()
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
            self._report_progress(elapsed)
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
                if action == "postcopy" and self.drained is not None:
                    self.decisions[-1]["drained"] = self.drained
                if action == "abort":
                    last_abort = elapsed
                    break
        return box.get("error"), (self.clock() - start) * 1000.0
