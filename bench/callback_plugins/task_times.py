# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark helper, not part of the collection: when each task of a play started and ended.

Enabled by the benchmarks only (ANSIBLE_CALLBACKS_ENABLED=task_times, ANSIBLE_CALLBACK_PLUGINS=
bench/callback_plugins); writes {playbook_start, tasks: [{name, path, role, start, end}], end} as
JSON to the file named by BENCH_TASK_TIMES. Times are seconds since the epoch (time.time()), so
the caller can set them against its own clock. Tasks run one after another (linear strategy), so
a task ends when the next one starts or the play ends; ran says whether it ran on any host (not
skipped everywhere). The results of the tasks whose action is
listed in BENCH_KEEP_RESULTS (comma-separated) are kept too, under results: [{task, host, result}].
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: task_times
type: aggregate
short_description: write each task's start and end to a JSON file (benchmarks only)
description:
  - Writes the start and end of every task to the file named by the environment variable BENCH_TASK_TIMES.
"""


class CallbackModule(CallbackBase):
    """Records task boundaries; writes them when the playbook ends."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.started = time.time()
        self.tasks = []
        self.results = []
        self.keep = set(filter(None, os.environ.get("BENCH_KEEP_RESULTS", "").split(",")))

    def _close_last(self, now):
        if self.tasks and self.tasks[-1]["end"] is None:
            self.tasks[-1]["end"] = now

    def _start(self, task):
        now = time.time()
        self._close_last(now)
        role = task._role.get_name() if getattr(task, "_role", None) else None  # pylint: disable=protected-access
        self.tasks.append({"name": task.get_name(), "path": task.get_path(), "role": role, "start": now, "end": None,
                           "action": task.action, "ran": False})

    def v2_playbook_on_start(self, playbook):
        self.started = time.time()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._start(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._start(task)

    def _ran(self):
        if self.tasks:
            self.tasks[-1]["ran"] = True

    def _keep(self, result):
        self._ran()
        if result._task.action in self.keep:  # pylint: disable=protected-access
            self.results.append({"task": result._task.get_name(), "host": result._host.get_name(),  # pylint: disable=protected-access
                                 "result": result._result})  # pylint: disable=protected-access

    def v2_runner_on_ok(self, result):
        self._keep(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._keep(result)

    def v2_playbook_on_stats(self, stats):
        now = time.time()
        self._close_last(now)
        path = os.environ.get("BENCH_TASK_TIMES")
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump({"playbook_start": self.started, "tasks": self.tasks, "end": now, "results": self.results},
                          handle, default=str)
