# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The watcher of move_progress against a scripted host: what it prints, what it returns, when it gives up."""

from __future__ import annotations

from unittest import mock

import pytest
from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure

from ansible_collections.drover.libvirt.plugins.action.move_progress import ASYNC_STATUS, READER, ActionModule, JobWatch

RESULT = {"changed": True, "failed": True, "msg": "1 of 2 moves failed: vm2 (refused)", "source": "hv1",
          "results": [{"name": "vm1", "status": "migrated"}, {"name": "vm2", "status": "failed"}],
          "wall_ms": 30000, "peak": {"parallel": 2}}


class Host:
    """A job that writes `script[i]` (lines) before look i and ends after the last; `down` are looks that fail."""

    def __init__(self, script, down=(), result=None):
        self.script = list(script)
        self.down = set(down)
        self.result = dict(result or RESULT)
        self.file = []
        self.looks = 0
        self.calls = []

    def execute(self, module, args):
        self.calls.append((module, dict(args)))
        if module == READER:
            self.looks += 1
            if self.looks in self.down:
                raise AnsibleConnectionFailure("ssh: connect to host hv1 port 22: No route to host")
            if self.script:
                self.file += self.script.pop(0)
            lines = self.file[args["offset"]:]
            return {"lines": lines, "offset": len(self.file), "at_end": True, "changed": bool(args["remove"])}
        assert module == ASYNC_STATUS
        if args.get("mode") == "cleanup":
            return {"erased": "~/.ansible_async/j1"}
        if self.script:
            return {"started": 1, "finished": 0, "ansible_job_id": "j1", "results_file": "/root/.ansible_async/j1"}
        return dict(self.result, started=1, finished=1, ansible_job_id="j1", results_file="/root/.ansible_async/j1")


class Clock:
    def __init__(self):
        self.now = 0.0

    def sleep(self, seconds):
        self.now += seconds

    def __call__(self):
        return self.now


def watch(host, shown, interval=10, reconnect_timeout=60):
    clock = Clock()
    return JobWatch(host.execute, shown.append, interval, reconnect_timeout, sleep=clock.sleep, clock=clock)


def progress(domain, percent):
    return {"domain": domain, "destination": "hv2", "event": "progress", "phase": "precopy", "percent": percent,
            "rate_mib_s": 100.0, "remaining_mib": 100.0, "eta_s": 1}


def test_each_look_prints_new_events_and_the_newest_progress_then_returns_the_jobs_result():
    host = Host([
        [{"domain": "vm1", "destination": "hv2", "event": "start"}, progress("vm1", 10.0), progress("vm1", 20.0)],
        [progress("vm1", 60.0)],
        [{"domain": "vm1", "destination": "hv2", "event": "migrated", "wall_ms": 24100, "downtime_ms": 120}],
    ])
    shown = []
    result = watch(host, shown).wait("j1", "/root/.ansible_async", "~/.ansible_async/p")
    assert shown == [
        "vm1 -> hv2: started",
        "vm1 -> hv2: pre-copy 20.0%, 100.0 MiB/s, 100.0 MiB left, ETA 1 s",
        "vm1 -> hv2: pre-copy 60.0%, 100.0 MiB/s, 100.0 MiB left, ETA 1 s",
        "vm1 -> hv2: migrated in 24.1 s, downtime 120 ms",
    ]
    assert result == RESULT  # exactly move_domains' result: no job bookkeeping
    reads = [args for module, args in host.calls if module == READER]
    assert reads[-1]["remove"] is True and all(not args["remove"] for args in reads[:-1])
    assert host.calls[-1] == (ASYNC_STATUS, {"jid": "j1", "mode": "cleanup", "_async_dir": "/root/.ansible_async"})


def test_a_host_unreachable_for_a_while_is_asked_again_and_the_job_result_still_comes_back():
    host = Host([[], [], [], []], down={2, 3})
    shown = []
    result = watch(host, shown, interval=10, reconnect_timeout=60).wait("j1", "/root/.ansible_async", "p")
    assert result == RESULT
    assert [line.split(",")[0] for line in shown] == ["cannot reach the host for 10 s", "reached the host again after 30 s"]


def test_a_long_outage_is_said_every_30_seconds_not_at_every_look():
    host = Host([[]] * 12, down=set(range(2, 10)))
    shown = []
    watch(host, shown, interval=5, reconnect_timeout=300).wait("j1", "/root/.ansible_async", "p")
    assert [line.split(",")[0] for line in shown] == [
        "cannot reach the host for 5 s", "cannot reach the host for 35 s", "reached the host again after 45 s"]


def test_a_host_unreachable_longer_than_reconnect_timeout_ends_the_task_unreachable():
    host = Host([[]] * 20, down=set(range(2, 30)))
    with pytest.raises(AnsibleConnectionFailure):
        watch(host, [], interval=10, reconnect_timeout=30).wait("j1", "/root/.ansible_async", "p")
    reads = [module for module, _args in host.calls if module == READER]
    assert len(reads) == 4  # one that answered, then 10, 20 and 30 s without an answer


def test_a_progress_file_the_user_named_is_read_to_its_end_and_kept():
    host = Host([[{"domain": "vm1", "destination": "hv2", "event": "start"}]])
    watch(host, []).wait("j1", "/root/.ansible_async", "/var/tmp/drain.progress", remove=False)
    reads = [args for module, args in host.calls if module == READER]
    assert reads[-1]["progress_file"] == "/var/tmp/drain.progress" and not any(args["remove"] for args in reads)


def test_a_job_stopped_at_its_time_limit_says_so():
    host = Host([[]], result={"failed": True, "msg": "Timeout exceeded", "child_pid": 42})
    result = watch(host, []).wait("j1", "/root/.ansible_async", "p")
    assert result["failed"] and "time limit" in result["msg"] and "not known" in result["msg"]


def test_files_left_on_a_host_lost_after_the_end_are_named_in_a_warning():
    host = Host([[]])
    original = host.execute

    def lost_at_cleanup(module, args):
        if args.get("mode") == "cleanup":
            raise AnsibleConnectionFailure("gone")
        return original(module, args)

    result = JobWatch(lost_at_cleanup, [].append, 1, 60, sleep=lambda s: None).wait("j1", "/root/.ansible_async", "p")
    assert result["results"] == RESULT["results"]
    assert "/root/.ansible_async/j1" in result["warnings"][0]


def _action(args, check_mode=False, async_val=0):
    task = mock.MagicMock(args=args, check_mode=check_mode, async_val=async_val, delegate_to=None, no_log=False,
                          action="drover.libvirt.move_progress")
    connection = mock.MagicMock()
    connection._shell.tmpdir = None
    action = ActionModule(task, connection, mock.MagicMock(), None, mock.MagicMock(), None)
    action._execute_module = mock.MagicMock(return_value={"changed": False, "results": []})
    action._remove_tmp_path = mock.MagicMock()
    return action


VARS = {"inventory_hostname": "hv1", "hostvars": {}}


@pytest.mark.parametrize("args, check_mode", [({"interval": 0}, False), ({"interval": 10}, True)])
def test_interval_0_and_check_mode_run_move_domains_in_the_foreground(args, check_mode):
    action = _action(dict(args, move_domains={"moves": [{"domain": "vm1", "destination": "10.0.0.2"}]}), check_mode)
    result = action.run(task_vars=VARS)
    assert result["results"] == []
    [call] = action._execute_module.call_args_list
    assert call.kwargs["module_name"] == "drover.libvirt.move_domains" and not call.kwargs.get("wrap_async")
    assert call.kwargs["module_args"]["source_name"] == "hv1"
    assert "progress_file" not in call.kwargs["module_args"]


def test_the_job_gets_a_progress_file_of_its_own_and_the_time_limit(monkeypatch):
    action = _action({"interval": 5, "timeout": 7200, "move_domains": {"moves": []}})
    action.get_shell_option = mock.MagicMock(return_value="~/.ansible_async")
    started = {}

    def execute(module_name, module_args, task_vars, wrap_async=False):
        started.update(module=module_name, args=module_args, wrap_async=wrap_async, limit=action._task.async_val)
        return {"failed": True, "msg": "could not create directory"}  # the job did not start

    action._execute_module = execute
    result = action.run(task_vars=VARS)
    assert result["failed"] and result["msg"] == "could not create directory"
    assert started["wrap_async"] and started["limit"] == 7200 and action._task.async_val == 0
    assert started["args"]["progress_file"].startswith("~/.ansible_async/drover-moves-")


@pytest.mark.parametrize("args", [{"progress_file": "/var/tmp/drain.progress", "move_domains": {"moves": []}},
                                  {"move_domains": {"moves": [], "progress_file": "/var/tmp/drain.progress"}}])
def test_a_progress_file_given_is_the_one_the_job_writes(args):
    action = _action(dict(args, interval=5))
    action._execute_module = mock.MagicMock(return_value={"failed": True, "msg": "no job"})
    action.run(task_vars=VARS)
    assert action._execute_module.call_args.kwargs["module_args"]["progress_file"] == "/var/tmp/drain.progress"


def test_without_move_domains_it_reads_the_file_once():
    action = _action({"progress_file": "~/p", "offset": 10})
    action.run(task_vars=VARS)
    [call] = action._execute_module.call_args_list
    assert call.kwargs["module_name"] == READER
    assert call.kwargs["module_args"]["progress_file"] == "~/p"  # expanded on the host, not here
    assert call.kwargs["module_args"]["offset"] == 10


@pytest.mark.parametrize("args, message", [
    ({"interval": -1, "move_domains": {}}, "interval must be 0 or more"),
    ({"timeout": 0, "move_domains": {}}, "timeout must be 1 or more"),
    ({}, "one of the following is required"),
])
def test_bad_options_are_refused_before_anything_runs(args, message):
    action = _action(args)
    with pytest.raises(AnsibleActionFail) as err:
        action.run(task_vars=VARS)
    assert message in str(err.value)
    action._execute_module.assert_not_called()


def test_with_a_first_look_the_looks_come_sooner_then_every_interval():
    slept = []
    host = Host(script=[[], [], [], [], []])
    JobWatch(host.execute, [].append, 10, 60, sleep=slept.append, clock=Clock(), first_look=2).wait(
        "j1", "/root/.ansible_async", "p")
    assert slept[:5] == [2, 4, 8, 10, 10]
