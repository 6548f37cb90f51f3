# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Carry out many moves off one hypervisor in parallel, within concurrency caps.

One process runs them all, so the per-VM cost beyond the libvirt job is a thread and a few
libvirt calls on cached connections, not an Ansible task. What starts when is the schedule
model of _schedule (the planner's waves come from it too): a move starts when a global slot and
an inbound slot of its destination are free; a move that failed while the domain still runs
on the source is retried on its next alternate destination.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import datetime
import threading
import time

from ansible_collections.drover.libvirt.plugins.module_utils._claim_store import ClaimStore, new_run_id, room_claimed
from ansible_collections.drover.libvirt.plugins.module_utils._cold_move import DefinitionMove, shut_down
from ansible_collections.drover.libvirt.plugins.module_utils._domain_presence import presence
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_enums import (
    JOB_CANCELLED, JOB_COMPLETED, JOB_FAILED, JOB_NONE)
from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_module import describe
from ansible_collections.drover.libvirt.plugins.module_utils._live_migration import LiveMigration
from ansible_collections.drover.libvirt.plugins.module_utils._migration_options import MigrationOptions, claim_settings
from ansible_collections.drover.libvirt.plugins.module_utils._migration_rules import where_after_failure
from ansible_collections.drover.libvirt.plugins.module_utils._origin import next_origin, read_origin, write_origin
from ansible_collections.drover.libvirt.plugins.module_utils._progress import append_line, event_line, unwatched_for
from ansible_collections.drover.libvirt.plugins.module_utils._schedule import Slots, single_source_caps, start_now
from ansible_collections.drover.libvirt.plugins.module_utils._uri import destination_uri

METHODS = ("live", "cold", "define", "shutdown")
_ROOM_POLL_S = 5  # how often a domain waiting for room asks its destinations again
_BUSY_POLL_S = 1  # how often a domain waiting for a slot at its destination asks again
_LANDED = ("migrated", "moved_cold", "defined", "planned", "unchanged")
_DONE = {"live": "migrated", "cold": "moved_cold", "define": "defined", "shutdown": "shut_down"}
_NOT_RUNNING = (JOB_NONE, JOB_COMPLETED, JOB_FAILED, JOB_CANCELLED)  # job types that hold no domain
_UNTOUCHED = object()  # the origin record was not written by this attempt


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def _no_room_text(tries):
    """Why a domain found no room: what each destination answered, once each."""
    seen = []
    for t in tries:
        if t.get("no_room") and t["error"] not in seen:
            seen.append(t["error"])
    return "no destination had room: " + "; ".join(seen)


class SharedConnections:
    """The module's connect(), cached per URI: threads share one connection per host."""

    def __init__(self, module):
        self.module = module
        self.lock = threading.Lock()
        self.cache = {}

    def connect(self, uri, role):
        with self.lock:
            conn = self.cache.get(uri)
            try:
                if conn is not None and conn.isAlive():
                    return conn
            except self.module.libvirt.libvirtError:
                pass  # closed by a recovery that reconnects: open a new one
            conn = self.module.connect(uri, role)
            self.cache[uri] = conn
            return conn


def normalize_moves(moves):
    """Validate the moves; every error names the move. Returns tasks in the given order."""
    tasks, seen = [], set()
    for index, move in enumerate(moves):
        where = "moves[%d]" % index
        if not isinstance(move, dict) or not move.get("domain"):
            raise DroverError("%s needs a domain name" % where)
        name = move["domain"]
        if name in seen:
            raise DroverError("%s: domain %s is listed twice" % (where, name))
        seen.add(name)
        method = move.get("method") or "live"
        if method not in METHODS:
            raise DroverError("%s: method %r is not one of %s" % (where, method, ", ".join(METHODS)))
        candidates = []
        if method != "shutdown":
            if not move.get("destination"):
                raise DroverError("%s: domain %s needs a destination for method %s" % (where, name, method))
            names = [move.get("destination_name") or move["destination"]]
            uris = [move["destination"]]
            for alt in move.get("alternates") or []:
                alt = alt if isinstance(alt, dict) else {"destination": alt}
                uris.append(alt["destination"])
                names.append(alt.get("destination_name") or alt["destination"])
            candidates = list(zip(names, uris))
        tasks.append({"name": name, "method": method, "copy_storage": bool(move.get("copy_storage")),
                      "candidates": candidates, "tries": [], "order": index})
    return tasks


class BatchMover:
    """The moves off one hypervisor: started as the schedule (_schedule.Slots) allows, one thread each,
    retried on alternates, and reported in the order given."""

    def __init__(self, module, connections=None):
        self.module = module
        self.lv = module.libvirt
        p = module.params
        self.caps = single_source_caps(p["max_parallel"], p["max_per_destination"])
        if p["retries"] < 0 or p["shutdown_timeout"] < 0:
            raise DroverError("retries and shutdown_timeout must be 0 or more, got %r and %r"
                              % (p["retries"], p["shutdown_timeout"]))
        self.tasks = normalize_moves(p["moves"])
        for task in self.tasks:
            task["candidates"] = [(n, destination_uri(u, p["transport"], allow_insecure=p.get("allow_insecure_transport")))
                                  for n, u in task["candidates"]]
            task["planned"] = list(task["candidates"])
        if p.get("wait_for_capacity", 0) < 0:
            raise DroverError("wait_for_capacity must be 0 or more seconds, got %r" % p["wait_for_capacity"])
        self.connections = connections or SharedConnections(module)
        # One run id for every move of the batch, so its claims are known as this run's.
        # Checked here, before any move starts, so a bad setting changes nothing.
        claims = claim_settings(p.get("claims"))
        self.claims = dict(claims, run_id=claims.get("run_id") or new_run_id()) if claims else None
        # A slot at a destination frees when a move there ends; a claim of this run left by a dead
        # process frees when it expires. Waiting longer than that cannot help.
        self.busy_wait = (self.claims or {}).get("ttl", 600) + 60
        self.cond = threading.Condition()
        self.results = {}
        self.slots = Slots(self.caps)
        self.peak = {"parallel": 0, "per_destination": {}}

    # ------------------------------------------------------------------ scheduling
    def run(self, check_mode):
        self.check_mode = check_mode
        started = time.monotonic()
        self.sconn = self.connections.connect(self.module.params["uri"], "source")
        self.source = self.module.params["source_name"] or self.sconn.getHostname()
        if check_mode:
            for task in self.tasks:
                self.results[task["name"]] = self._predict(task)
        else:
            self._schedule()
        results = [self.results[t["name"]] for t in sorted(self.tasks, key=lambda t: t["order"])]
        return {"changed": any(r["status"] in _DONE.values() or r["finished"] for r in results), "results": results,
                "source": self.source, "wall_ms": int((time.monotonic() - started) * 1000),
                "peak": self.peak}

    def _unwatched(self):
        """Seconds nobody has read the progress file beyond stop_when_unwatched, or 0 while someone does."""
        limit, path = self.module.params.get("stop_when_unwatched") or 0, self.module.params.get("progress_file")
        if not limit or not path:
            return 0
        idle = unwatched_for(path, self.started_at, time.time())
        return idle if idle > limit else 0

    def _schedule(self):
        pending = list(self.tasks)
        self.started_at = time.time()
        with self.cond:
            while pending or self.slots.running:
                idle = self._unwatched() if pending else 0
                if idle:
                    # The controller that started this job is gone: what runs finishes, nothing else starts.
                    for task in pending:
                        attempt = self._not_started(task, idle)
                        self.results[task["name"]] = self._result(task, attempt, task["tries"] + [attempt])
                    pending = []
                now = time.monotonic()
                ready = [task for task in pending if task.get("not_before", 0) <= now]
                for task in start_now(ready, self.slots, self._route):
                    pending.remove(task)
                    self._start(task, self._route(task)[1])
                self.cond.wait(1.0)
                # Retries come back to the front of the queue, in plan order.
                pending.extend(t for t in self.tasks if t.get("requeue"))
                for task in pending:
                    task.pop("requeue", None)
                pending.sort(key=lambda t: (not t["tries"], t["order"]))

    def _not_started(self, task, idle):
        attempt = {"destination": task["candidates"][0][0] if task["candidates"] else None, "status": "failed",
                   "location": "source", "metrics": {}, "warnings": [], "started_at": now_iso(),
                   "finished_at": now_iso(), "wall_ms": 0,
                   "error": "not started: nobody has watched this job for %d s (its controller is gone); %s stays on %s"
                            % (idle, task["name"], self.source)}
        self._progress(task["name"], "failed", attempt)
        return attempt

    @staticmethod
    def _may_wait(task, seconds):
        waited = time.monotonic() - task.setdefault("first_try", time.monotonic())
        return waited + _ROOM_POLL_S <= seconds

    def _route(self, task):
        """(source, destination) of a task's next attempt, as the schedule counts them."""
        return self.source, task["candidates"][0][0] if task["candidates"] else None

    def _start(self, task, dest):
        # start_now() took the slots; the peaks are what the run reports.
        if dest is not None:
            self.peak["per_destination"][dest] = max(self.peak["per_destination"].get(dest, 0),
                                                     self.slots.per_destination[dest])
        self.peak["parallel"] = max(self.peak["parallel"], self.slots.running)
        threading.Thread(target=self._worker, args=(task, dest), name="move-%s" % task["name"], daemon=True).start()

    def _worker(self, task, dest):
        attempt = self._attempt(task)
        with self.cond:
            self.slots.release(self.source, dest)
            task["tries"].append(attempt)
            if attempt.get("busy") and self._may_wait(task, self.busy_wait):
                # The run's other sources are moving into that destination: wait for a slot there.
                task["tries"].pop()
                task["not_before"] = time.monotonic() + _BUSY_POLL_S
                task["requeue"] = True
                self.cond.notify_all()
                return
            # A destination without room is not a failed try: the next one is asked, retries or not.
            tried = sum(1 for t in task["tries"] if not t.get("no_room"))
            retry = (attempt["status"] == "failed" and attempt.get("location") == "source"
                     and (attempt.get("no_room") or tried <= self.module.params["retries"])
                     and len(task["candidates"]) > 1)
            if retry:
                task["candidates"].pop(0)
                task["requeue"] = True
                self._progress(task["name"], "retry", attempt)
            elif attempt.get("no_room") and self._may_wait(task, self.module.params.get("wait_for_capacity") or 0):
                # Every destination was full: ask them all again shortly, until the wait is over.
                task["candidates"] = list(task["planned"])
                task["not_before"] = time.monotonic() + _ROOM_POLL_S
                task["requeue"] = True
                self._progress(task["name"], "wait_for_capacity", attempt)
            else:
                self.results[task["name"]] = self._result(task, attempt)
                self._progress(task["name"], attempt["status"], attempt)
            self.cond.notify_all()

    # ------------------------------------------------------------------ one attempt
    def _attempt(self, task):
        task.setdefault("first_try", time.monotonic())
        dest_name, uri = task["candidates"][0] if task["candidates"] else (None, None)
        attempt = {"destination": dest_name, "started_at": now_iso(), "status": "failed", "error": None,
                   "location": None, "metrics": {}, "warnings": []}
        self._progress(task["name"], "start", attempt)
        t0 = time.monotonic()
        try:
            attempt["was"] = self._source_state_when_free(task["name"])
        except self.lv.libvirtError:
            attempt["was"] = None
        if attempt["was"] == "absent":
            # Another hand moved it since the plan (a run whose controller died left its job going).
            try:
                self._moved_by_another(task, attempt)
            except Exception as exc:  # pylint: disable=broad-except
                # The worker must end with a result, or the schedule waits for it for ever.
                attempt.update(status="failed", location="unknown", error="internal error: %r" % (exc,))
            attempt["wall_ms"] = int((time.monotonic() - t0) * 1000)
            attempt["finished_at"] = now_iso()
            return attempt
        origin_before = _UNTOUCHED
        try:
            origin_before = self._record_origin(task, dest_name)
            if task["method"] == "live":
                out = self._live_migration(task, uri, attempt["warnings"]).run(False)
                attempt["metrics"] = out.get("metrics", {})
                # Found already there: at most definitions an earlier move left were finished.
                attempt["status"] = "migrated" if "metrics" in out else "unchanged"
                if "metrics" not in out and out.get("cleanup"):
                    attempt["finished"] = list(out["cleanup"])
                    attempt["warnings"].append("finished an earlier move of %s to %s: %s" % (
                        task["name"], dest_name, ", ".join(out["cleanup"])))
            elif task["method"] == "shutdown":
                attempt["stopped"] = shut_down(self.sconn.lookupByName(task["name"]), self.lv,
                                               self.module.params["shutdown_timeout"])
                attempt["status"] = "shut_down"
            else:
                dconn = self.connections.connect(uri, "destination")
                # A definition moved shut off takes no room; a cold move starts the domain there.
                claims = self.claims if task["method"] == "cold" else None
                with room_claimed(dconn, self.lv, self.sconn.lookupByName(task["name"]), claims, dest_name,
                                  self.source):
                    # A domain that moves shut off can only start where its disks are: always copy.
                    report = DefinitionMove(self.sconn, dconn, self.lv, task["name"], True,
                                            self.module.params["shutdown_timeout"],
                                            self.module.params["remove_source_volumes"]).run(task["method"] == "cold")
                attempt.update(report)
                attempt["status"] = _DONE[task["method"]]
            attempt["location"] = "destination" if task["method"] != "shutdown" else "source"
            if task["method"] != "shutdown":
                self._check_landed(task, uri, attempt)
        except DroverError as exc:
            attempt.update(status="failed", error=exc.msg, no_room=bool(exc.details.get("no_room")),
                           busy=bool(exc.details.get("busy")))
            attempt["location"] = exc.details.get("vm_location") or self._locate(task["name"], uri)
        except self.lv.libvirtError as exc:
            attempt.update(status="failed", error=describe(exc, "move failed"))
            attempt["location"] = self._locate(task["name"], uri)
        except Exception as exc:  # pylint: disable=broad-except
            # A bug must not leave the other moves' results unreported: record it, locate the domain.
            attempt.update(status="failed", error="internal error: %r" % (exc,))
            attempt["location"] = self._locate(task["name"], uri)
        if attempt["status"] == "failed" and attempt["location"] == "source":
            self._restore_origin(task["name"], origin_before, attempt)
        attempt["wall_ms"] = int((time.monotonic() - t0) * 1000)
        attempt["finished_at"] = now_iso()
        return attempt

    def _source_state_when_free(self, name):
        """The domain's state on the source once no other job holds it (another run's migration of it).

        Waits while a job of another client runs on the domain, up to the time a run's claims outlive
        their process: migrating a domain that another migration holds fails after libvirt's lock
        wait, and the domain may be gone from here once that migration ends.
        """
        deadline = time.monotonic() + self.busy_wait
        while True:
            try:
                dom = self.sconn.lookupByName(name)
            except self.lv.libvirtError as exc:
                if exc.get_error_code() == self.lv.VIR_ERR_NO_DOMAIN:
                    return "absent"
                raise
            try:
                busy = dom.isActive() and dom.jobInfo()[0] not in _NOT_RUNNING
            except self.lv.libvirtError as exc:
                if exc.get_error_code() == self.lv.VIR_ERR_NO_DOMAIN:
                    continue  # the other job just took it away: the next lookup says so
                busy = True  # the job holds it past libvirt's lock wait: still busy
            if not busy or time.monotonic() >= deadline:
                return presence(self.sconn, name, self.lv)["state"]
            time.sleep(_BUSY_POLL_S)

    def _moved_by_another(self, task, attempt):
        """A domain not on the source when its move began: found where it runs now among its destinations."""
        for dest_name, uri in task["planned"]:
            try:
                there = presence(self.connections.connect(uri, "destination"), task["name"], self.lv)
            except (self.lv.libvirtError, DroverError):
                continue
            if there["persistent"] and (there["active"] or task["method"] == "define"):
                attempt.update(status="unchanged", destination=dest_name, location="destination",
                               landed={"ok": True, "source": "absent", "destination": there["state"]})
                if there["active"] and not self.check_mode:
                    # The run that moved it may have been cut off before giving back its room there.
                    try:
                        ClaimStore(self.connections.connect(uri, "destination"), self.lv).release_arrived(there["uuid"])
                    except (self.lv.libvirtError, DroverError):
                        pass  # its claims expire by themselves
                attempt["warnings"].append("%s left %s before its move began (another run or a hand moved it); it is %s "
                                           "and persistent on %s" % (task["name"], self.source, there["state"],
                                                                     dest_name))
                return
        where = " and is on none of its destinations (%s)" % ", ".join(n for n, _u in task["planned"]) \
            if task["planned"] else ""
        attempt.update(status="failed", location="unknown",
                       error="%s is no longer on %s%s: moved or removed by another hand since the plan"
                             % (task["name"], self.source, where))

    def _record_origin(self, task, dest_name):
        """Before a domain leaves, record on it the home it leaves (record_origin); the record before."""
        if not self.module.params.get("record_origin") or task["method"] == "shutdown":
            return _UNTOUCHED
        try:
            dom = self.sconn.lookupByName(task["name"])
        except self.lv.libvirtError:
            return _UNTOUCHED  # not here (moved already, or never was): the move itself says what that means
        before = read_origin(dom, self.lv)
        after = next_origin(before, self.source, dest_name, (self.claims or {}).get("run_id"), now_iso())
        if after != before:
            write_origin(dom, self.lv, after)
        return before

    def _restore_origin(self, name, before, attempt):
        """A domain that did not leave keeps the origin it had."""
        if before is _UNTOUCHED:
            return
        try:
            write_origin(self.sconn.lookupByName(name), self.lv, before)
        except (DroverError, self.lv.libvirtError) as exc:
            attempt["warnings"].append("could not put back the origin record of %s: %s" % (name, exc))

    def _check_landed(self, task, uri, attempt):
        """The invariant after each move, asked of both hosts: defined (and running) only on the destination."""
        src = presence(self.sconn, task["name"], self.lv)
        dst = presence(self.connections.connect(uri, "destination"), task["name"], self.lv)
        # A domain a user paused stays paused after a live move; every other live or cold move runs.
        want_running = task["method"] == "cold" or (task["method"] == "live" and attempt.get("was") != "paused")
        problems = []
        if src["exists"]:
            problems.append("still %s on the source" % src["state"])
        if not dst["persistent"]:
            problems.append("not persistent on the destination")
        if want_running and dst["state"] != "running":
            problems.append("%s on the destination" % dst["state"])
        attempt["landed"] = {"ok": not problems, "source": src["state"], "destination": dst["state"]}
        if problems:
            attempt["location"] = where_after_failure(src, dst)
            raise DroverError("moved, but %s: %s" % (task["name"], "; ".join(problems)))

    def _live_migration(self, task, uri, warnings):
        """One live move with the batch's migration options; its warnings go to `warnings`.

        A batch always leaves the domain defined on the destination only, and copies every disk or none.
        """
        options = MigrationOptions.from_params(dict(
            self.module.params, claims=self.claims, name=task["name"], dest=uri, dest_user=None, migration_uri=None, persist=True,
            undefine_source=True, copy_storage="all" if task["copy_storage"] else "none", copy_disks=[],
            cdrom="keep"))
        # Progress lines of the migration, under the destination this attempt goes to.
        target = {"destination": task["candidates"][0][0] if task["candidates"] else None}
        return LiveMigration(self.connections.connect, options, warnings.append, self.lv, self.module.libvirt_qemu,
                             on_progress=lambda fields: self._progress(task["name"], "progress", target, **fields))

    def _locate(self, name, uri):
        """Where the domain runs now, asked of both hosts (the error text is not trusted)."""
        try:
            src = presence(self.sconn, name, self.lv)
        except self.lv.libvirtError:
            return "unknown"
        try:
            dst = presence(self.connections.connect(uri, "destination"), name, self.lv) if uri else \
                {"active": False}
        except (self.lv.libvirtError, DroverError):
            # The destination cannot be asked. Outside post-copy (which LiveMigration settles
            # itself) a domain still active here did not leave.
            return "source" if src["active"] else "unknown"
        return where_after_failure(src, dst)

    def _predict(self, task):
        """Check mode: what would happen, from where the domain is now; nothing moves."""
        dest_name, uri = task["candidates"][0] if task["candidates"] else (None, None)
        attempt = {"destination": dest_name, "status": "planned", "error": None, "location": "source",
                   "metrics": {}, "started_at": None, "finished_at": None, "wall_ms": 0, "warnings": []}
        try:
            if not presence(self.sconn, task["name"], self.lv)["exists"]:
                # Gone since the plan: said as a real run would say it.
                self._moved_by_another(task, attempt)
                return self._result(task, attempt, tries=[attempt])
            if task["method"] == "live":
                self._live_migration(task, uri, attempt["warnings"]).run(True)
            else:
                src = presence(self.sconn, task["name"], self.lv)
                if not src["exists"]:
                    raise DroverError("domain %s is not on this hypervisor" % task["name"])
                if uri and presence(self.connections.connect(uri, "destination"), task["name"], self.lv)["exists"]:
                    raise DroverError("domain %s is already defined on %s" % (task["name"], dest_name))
        except DroverError as exc:
            attempt.update(status="failed", error=exc.msg)
        except self.lv.libvirtError as exc:
            attempt.update(status="failed", error=describe(exc, "check failed"))
        return self._result(task, attempt, tries=[attempt])

    def _result(self, task, last, tries=None):
        tries = tries or task["tries"]
        metrics = last.get("metrics") or {}
        duration = metrics.get("duration_ms")
        job_ms = metrics.get("wall_ms")  # the libvirt migration call, start to return
        return {
            "name": task["name"], "from": self.source,
            "to": last["destination"] if last["status"] in _LANDED else None,
            "status": last["status"], "method": task["method"], "attempts": len(tries),
            "finished": last.get("finished") or [],
            "downtime_ms": metrics.get("downtime_ms"), "duration_ms": duration,
            "bytes": metrics.get("data_bytes"), "wall_ms": last.get("wall_ms"), "job_ms": job_ms,
            # Time this run spent beyond the libvirt job itself: connections, checks, definitions.
            "overhead_ms": (last["wall_ms"] - job_ms) if job_ms is not None and last.get("wall_ms") else None,
            "started_at": tries[0].get("started_at"), "finished_at": last.get("finished_at"),
            "error": _no_room_text(tries) if last.get("no_room") else last["error"], "location": last["location"], "landed": last.get("landed"),
            # What a move warned about (an error libvirt reported although the domain landed), every try.
            "warnings": [w for t in tries for w in t.get("warnings", [])],
            "tries": [{"destination": t["destination"], "status": t["status"], "error": t["error"],
                       "location": t["location"], "started_at": t.get("started_at"),
                       "finished_at": t.get("finished_at"), "no_room": bool(t.get("no_room"))} for t in tries],
        }

    def _progress(self, name, event, attempt, **fields):
        path = self.module.params.get("progress_file")
        if not path:
            return
        try:
            append_line(path, event_line(now_iso(), name, event, attempt, fields))
        except OSError:
            pass  # progress is for people watching; a full disk must not stop a move or its report
