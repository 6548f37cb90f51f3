# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of drover.libvirt.move_progress: move_domains as a job on the host, watched from here.

One task both starts the job and waits for it, so a task's `throttle` still bounds how many hosts
move at once (a job started with `async` and `poll: 0` would let every host start at once).
"""

from __future__ import annotations

import posixpath
import secrets
import time

from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.drover.libvirt.plugins.action.move_domains import ActionModule as MoveDomainsAction
from ansible_collections.drover.libvirt.plugins.module_utils._progress import (
    MOVE_PROGRESS_ARGSPEC, line_text, lines_to_show)

display = Display()

READER = "drover.libvirt.move_progress"
ASYNC_STATUS = "ansible.legacy.async_status"
_JOB_KEYS = ("ansible_job_id", "started", "finished", "results_file")
_SAY_UNREACHABLE_EVERY_S = 30


_FIRST_LOOK_S = 2
_DAY_S = 86400  # stop_when_unwatched's upper bound


class JobWatch:
    """Looks at a running move_domains job every `interval` seconds until it ends; returns its result.

    execute(module, args) runs a module on the host and returns its result, raising
    AnsibleConnectionFailure when the host cannot be reached; show(text) prints a line.
    """

    def __init__(self, execute, show, interval, reconnect_timeout, sleep=time.sleep, clock=time.monotonic,
                 first_look=None):
        self.execute = execute
        self.first_look = first_look
        self.show = show
        self.interval = interval
        self.reconnect_timeout = reconnect_timeout
        self.sleep = sleep
        self.clock = clock
        self.offset = 0

    def _show_new_lines(self, progress_file, remove=False):
        """Print the lines written since the last look; True once the file was read to its end."""
        read = self.execute(READER, {"progress_file": progress_file, "offset": self.offset, "remove": remove})
        if read.get("failed"):
            self.show("cannot read the progress lines: %s" % read.get("msg"))
            return True
        self.offset = read["offset"]
        for line in lines_to_show(read["lines"]):
            self.show(line_text(line))
        return read["at_end"]

    def wait(self, jid, async_dir, progress_file, remove=True):
        """The job's result once it ended; its status file goes, and its progress file if `remove`."""
        contact = self.clock()
        said = None  # when the host was last said to be unreachable
        looks = 0
        while True:
            # With first_look, the first looks come sooner (2, 4, 8 s ...): a short batch is not held for a
            # whole interval.
            self.sleep(min(self.interval, self.first_look * 2 ** looks) if self.first_look else self.interval)
            looks += 1
            try:
                self._show_new_lines(progress_file)
                status = self.execute(ASYNC_STATUS, {"jid": jid, "_async_dir": async_dir})
            except AnsibleConnectionFailure as exc:
                lost = self.clock() - contact
                if lost >= self.reconnect_timeout:
                    raise
                if said is None or self.clock() - said >= _SAY_UNREACHABLE_EVERY_S:
                    said = self.clock()
                    self.show("cannot reach the host for %d s, the job goes on there; asking again for up to %d s: %s"
                              % (lost, self.reconnect_timeout - lost, exc.message))
                continue
            if said is not None:
                self.show("reached the host again after %d s" % (self.clock() - contact))
                said = None
            contact = self.clock()
            # A status that is not "still running" is the job's result, or why it has none.
            if status.get("finished") or status.get("failed"):
                return self._finish(status, jid, async_dir, progress_file, remove)

    def _finish(self, status, jid, async_dir, progress_file, remove):
        result = {k: v for k, v in status.items() if k not in _JOB_KEYS}
        if result.get("msg") == "Timeout exceeded":
            result["msg"] = ("the move_domains job ran past its time limit (timeout) and was stopped; where its "
                             "domains are now is not known from here")
        try:
            while not self._show_new_lines(progress_file, remove=remove):
                pass
            self.execute(ASYNC_STATUS, {"jid": jid, "mode": "cleanup", "_async_dir": async_dir})
        except AnsibleConnectionFailure as exc:
            result.setdefault("warnings", []).append(
                "the job's files stay on the host (%s, %s): it could not be reached again: %s"
                % (posixpath.join(async_dir, jid), progress_file, exc.message))
        return result


class ActionModule(MoveDomainsAction):
    """Resolves destinations as move_domains does, then runs it as a job and watches it."""

    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = ActionBase.run(self, tmp, task_vars)
        # A remote path: checked as text here, expanded on the host by the module that uses it.
        _valid, args = self.validate_argument_spec(
            argument_spec=dict(MOVE_PROGRESS_ARGSPEC, progress_file=dict(type="str")),
            required_one_of=[("move_domains", "progress_file")])
        for name, low in (("interval", 0), ("timeout", 1), ("reconnect_timeout", 0), ("offset", 0)):
            if args[name] < low:
                raise AnsibleActionFail("%s must be %d or more, got %d" % (name, low, args[name]))
        if args["move_domains"] is None:
            return self._run_module(result, READER, args, task_vars)
        moves = self.resolve_args(dict(args["move_domains"]), task_vars, result)
        if args["interval"] == 0 or self._task.check_mode:
            return self._run_module(result, self.MODULE, moves, task_vars)
        return self._watch(result, moves, args, task_vars)

    def _run_module(self, result, module, module_args, task_vars):
        result.update(self._execute_module(module_name=module, module_args=module_args, task_vars=task_vars))
        self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _watch(self, result, moves, args, task_vars):
        host = moves["source_name"]
        moves["progress_file"] = moves.get("progress_file") or args["progress_file"]
        own_file = not moves["progress_file"]  # a file the user named stays theirs
        # The job starts no new move once this task has stopped looking for longer than it would wait.
        if moves.get("stop_when_unwatched") is None:
            # A minute more than this task waits for an unreachable host, within the option's range.
            moves["stop_when_unwatched"] = min(_DAY_S, args["reconnect_timeout"] + 2 * args["interval"] + 60)
        if own_file:
            async_dir = self.get_shell_option("async_dir", default="~/.ansible_async")
            moves["progress_file"] = posixpath.join(async_dir, "drover-moves-%s.progress" % secrets.token_hex(6))
        # async_wrapper takes its time limit from the task, as for gather_facts' parallel modules.
        async_val = self._task.async_val
        self._task.async_val = args["timeout"]
        try:
            job = self._execute_module(module_name=self.MODULE, module_args=moves, task_vars=task_vars, wrap_async=True)
        finally:
            self._task.async_val = async_val
        if not job.get("ansible_job_id"):
            result.update(job)  # the job did not start: why
            return result

        def execute(module, module_args):
            return self._execute_module(module_name=module, module_args=module_args, task_vars=task_vars)

        def show(text):
            if not self._task.no_log:
                display.display("%s: %s" % (host, text))

        show("moving as job %s, every %d s a look; progress lines in %s"
             % (job["ansible_job_id"], args["interval"], moves["progress_file"]))
        watch = JobWatch(execute, show, args["interval"], args["reconnect_timeout"], first_look=_FIRST_LOOK_S)
        result.update(watch.wait(job["ansible_job_id"], posixpath.dirname(job["results_file"]), moves["progress_file"],
                                 remove=own_file))
        self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
