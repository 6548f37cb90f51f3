"""No shell command is ever built from user input.

The plugins talk to hosts through libvirt-python only: no subprocess, os.system, os.popen, os.exec*,
os.spawn*, pty, AnsibleModule.run_command or shell=True anywhere in plugins/. The roles and playbooks
use no shell, raw, script or expect task; the one command task runs the operator's own probe command
(verify_probe_command) whole, without a shell, and hands it the domain and host in its environment,
never inside the command line.
"""

from __future__ import annotations

import ast
import glob
import os

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROCESS_MODULES = {"subprocess", "pty", "commands", "popen2", "asyncio.subprocess"}
OS_PROCESS_CALLS = {"system", "popen", "execl", "execle", "execlp", "execlpe", "execv", "execve", "execvp",
                    "execvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp",
                    "spawnvpe", "posix_spawn", "posix_spawnp", "fork", "forkpty"}
SHELL_MODULES = {"shell", "raw", "script", "expect"}


def _python_files():
    return sorted(glob.glob(os.path.join(ROOT, "plugins", "**", "*.py"), recursive=True))


def process_calls(source, path):
    """Every way `source` could start a process or a shell, as 'path:line: what'."""
    found = []
    for node in ast.walk(ast.parse(source, path)):
        where = "%s:%d" % (os.path.relpath(path, ROOT), getattr(node, "lineno", 0))
        if isinstance(node, ast.Import):
            found += ["%s: import %s" % (where, a.name) for a in node.names if a.name in PROCESS_MODULES]
        elif isinstance(node, ast.ImportFrom):
            if node.module in PROCESS_MODULES:
                found.append("%s: from %s import" % (where, node.module))
            if node.module == "os":
                found += ["%s: from os import %s" % (where, a.name) for a in node.names if a.name in OS_PROCESS_CALLS]
        elif isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id == "os" and node.attr in OS_PROCESS_CALLS:
                found.append("%s: os.%s" % (where, node.attr))
            if node.attr == "run_command":
                found.append("%s: .run_command" % where)
        elif isinstance(node, ast.keyword) and node.arg == "shell":
            found.append("%s: shell=" % where)
    return found


def test_the_scan_finds_what_it_looks_for():
    source = ("import subprocess\nfrom os import system\nimport os\nos.popen('x')\n"
              "module.run_command('virsh ' + name, use_unsafe_shell=True)\nsubprocess.run(cmd, shell=True)\n")
    found = [line.split(": ", 1)[1] for line in process_calls(source, os.path.join(ROOT, "x.py"))]
    assert sorted(found) == sorted(["import subprocess", "from os import system", "os.popen", ".run_command", "shell="])


def test_no_plugin_starts_a_process_or_a_shell():
    files = _python_files()
    assert len(files) > 40  # the scan sees the plugins
    found = []
    for path in files:
        with open(path, encoding="utf-8") as handle:
            found += process_calls(handle.read(), path)
    assert found == []


def _tasks(items):
    for item in items or []:
        if not isinstance(item, dict):
            continue
        yield item
        for key in ("block", "rescue", "always", "tasks", "pre_tasks", "post_tasks", "handlers"):
            yield from _tasks(item.get(key))


def _task_files():
    patterns = ("roles/*/tasks/*.yml", "roles/*/handlers/*.yml", "playbooks/*.yml")
    return sorted(path for pattern in patterns for path in glob.glob(os.path.join(ROOT, pattern)))


def test_roles_and_playbooks_use_no_shell_and_one_command_that_takes_names_from_its_environment():
    commands = []
    for path in _task_files():
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
        for task in _tasks(document):
            modules = {key.rsplit(".", 1)[-1] for key in task if key.startswith(("ansible.builtin.", "ansible.legacy."))
                       or key in SHELL_MODULES or key == "command"}
            assert not modules & SHELL_MODULES, "%s: %s" % (path, task.get("name"))
            if "command" in modules:
                commands.append((os.path.relpath(path, ROOT), task))
    assert [(path, task["name"]) for path, task in commands] == [
        ("roles/verify/tasks/alive.yml", "Probe running domains without a guest agent")]
    probe = commands[0][1]
    # The operator's command, whole: no domain or host name is templated into it.
    assert probe["ansible.builtin.command"] == {"cmd": "{{ _verify_in.probe_command }}"}
    assert probe["environment"] == {"DROVER_DOMAIN": "{{ item.name }}", "DROVER_HOST": "{{ item.running_on[0] }}"}
    assert probe["delegate_to"] == "localhost"
