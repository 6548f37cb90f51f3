"""Hostile and wrong input, table by table: every case fails with a message that names the bad value,
never with a traceback, and (for modules) before any libvirt connection is opened.

Modules run in-process through their own main(), with their real argument specs, with a libvirt
stand-in that records which URIs would be opened: the local daemon answers as an empty host, any
other URI is refused, so a case that reaches a remote host shows up in `opened`. Role variables go
through the role_inputs filter with each role's real argument spec and the ranges its inputs.yml
passes; the planner's constraints through the evacuation_plan filter's own reader.
"""

from __future__ import annotations

import importlib
import json
import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible.module_utils.testing import patch_module_args

from ansible_collections.drover.libvirt.plugins.filter.evacuation_plan import evacuation_plan
from ansible_collections.drover.libvirt.plugins.filter.role_inputs import role_inputs
from ansible_collections.drover.libvirt.plugins.module_utils import _libvirt_module
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._migration_rules import check_domain_name
from ansible_collections.drover.libvirt.plugins.module_utils._planner_inputs import read_constraints, read_drain

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PACKAGE = "ansible_collections.drover.libvirt.plugins.modules"
LONG = "h" * 300
SECRET = "s3cret-pw"


class FakeLibvirtError(Exception):
    def __init__(self, msg, code=None):
        super().__init__(msg)
        self.code = code

    def get_error_code(self):
        return self.code

    def get_error_message(self):
        return str(self)


class EmptyHost:
    """The local daemon as an empty hypervisor named hv1."""

    def getHostname(self):
        return "hv1"

    def getURI(self):
        return "qemu:///system"

    def lookupByName(self, name):
        raise FakeLibvirtError("Domain not found: no domain with matching name '%s'" % name, 42)

    def isAlive(self):
        return True

    def close(self):
        pass


class FakeLibvirt:
    libvirtError = FakeLibvirtError
    VIR_ERR_NO_DOMAIN = 42

    def __init__(self):
        self.opened = []

    @staticmethod
    def registerErrorHandler(_handler, _ctx):
        pass

    def open(self, uri):
        self.opened.append(uri)
        if uri == "qemu:///system":
            return EmptyHost()
        raise FakeLibvirtError("no remote hypervisor in a unit test", 38)


def run_module(name, params, monkeypatch, capsys):
    """(the module's result, URIs it opened) for one run of plugins/modules/NAME with `params`."""
    fake = FakeLibvirt()
    monkeypatch.setattr(_libvirt_module, "libvirt", fake)
    monkeypatch.setattr(_libvirt_module, "libvirt_qemu", None)
    monkeypatch.setattr(_libvirt_module.start_event_loop, "started", True, raising=False)
    module = importlib.import_module("%s.%s" % (PACKAGE, name))
    with patch_module_args(params):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out), fake.opened


MIGRATE = {"name": "vm1", "dest": "hv2"}
MOVES = {"moves": [{"domain": "vm1", "destination": "hv2"}]}
PREFLIGHT = {"destinations": ["hv2"]}
FLEET = {"hosts": ["hv2"]}
JOB = {"name": "vm1", "state": "aborted"}
STREAM = {"name": "vm1", "source": "hv1"}

# (module, base arguments, changes, fragments the message must hold, what was opened)
# Fragments name the bad value as the message shows it (repr, or cut after 100 characters).
NONE = []
LOCAL = ["qemu:///system"]
MODULE_CASES = [
    # domain names libvirt could not hold
    ("migrate", MIGRATE, {"name": "vm\n1"}, ["domain name 'vm\\n1' is not a valid libvirt domain name"], NONE),
    ("migrate", MIGRATE, {"name": ""}, ["domain name '' is not a valid"], NONE),
    ("migrate", MIGRATE, {"name": "a/b"}, ["domain name 'a/b'"], NONE),
    ("migrate", MIGRATE, {"name": "v" * 300}, ["domain name 'vvvv", "(300 characters) is longer than 255 bytes"], NONE),
    ("migration_job_info", {}, {"name": "vm\t1"}, ["domain name 'vm\\t1'"], LOCAL),
    ("migration_job", JOB, {"name": "../vm1"}, ["domain name '../vm1'"], LOCAL),
    ("migration_stream", STREAM, {"name": "a/b"}, ["domain name 'a/b'"], LOCAL),
    ("migration_stream", STREAM, {"source": "hv1; reboot"}, ["source 'hv1; reboot' is neither a libvirt URI"], NONE),
    ("migration_stream", STREAM, {"source": "qemu+tcp://hv1/system"}, ["source", "qemu+tcp://hv1/system"], NONE),
    ("migration_stream", STREAM, {"uri": "qemu+ssh://hv2/system"},
     ["run it on the destination with the default uri, not qemu+ssh://hv2/system"], NONE),
    ("migration_stream", STREAM, {"wait": -5}, ["wait must be from 0 to 3600, got -5"], NONE),
    ("migration_stream", STREAM, {"migration_ports": "5900-$(reboot)"},
     ["migration_ports '5900-$(reboot)' is not a port range"], NONE),
    # destinations: shell characters, quotes, spaces, unicode, length, malformed URIs
    ("migrate", MIGRATE, {"dest": "hv2; reboot"}, ["destination 'hv2; reboot' is neither a libvirt URI"], NONE),
    ("migrate", MIGRATE, {"dest": "$(reboot)"}, ["destination '$(reboot)'"], NONE),
    ("migrate", MIGRATE, {"dest": "`reboot`"}, ["destination '`reboot`'"], NONE),
    ("migrate", MIGRATE, {"dest": "hv 2"}, ["destination 'hv 2'"], NONE),
    ("migrate", MIGRATE, {"dest": "hv'2"}, ["destination \"hv'2\""], NONE),
    ("migrate", MIGRATE, {"dest": 'hv"2'}, ["destination 'hv\"2'"], NONE),
    ("migrate", MIGRATE, {"dest": "hv\u00e9"}, ["destination 'hv\u00e9'"], NONE),
    # A right-to-left override is shown escaped, so the message cannot be made to read otherwise.
    ("migrate", MIGRATE, {"dest": "hv\u202e2"}, ["destination 'hv\\u202e2'"], NONE),
    ("migrate", MIGRATE, {"dest": LONG}, ["destination 'hhhh", "(300 characters) is neither"], NONE),
    ("migrate", MIGRATE, {"dest": "qemu+ssh://hv2"}, ["'qemu+ssh://hv2': path must be one of"], NONE),
    ("migrate", MIGRATE, {"dest": "qemu+ssh://hv2:99999/system"}, ["'qemu+ssh://hv2:99999/system' is malformed"], NONE),
    ("migrate", MIGRATE, {"dest": "qemu+ssh://hv2/system?x=$(reboot)"}, ["'qemu+ssh://hv2/system?x=$(reboot)' contains"], NONE),
    ("migrate", MIGRATE, {"dest": "qemu:///system"}, ["destination 'qemu:///system' is a local URI"], NONE),
    ("migrate", MIGRATE, {"dest": "xen+ssh://hv2/system"}, ["'xen+ssh://hv2/system': scheme must be qemu"], NONE),
    ("migrate", MIGRATE, {"dest_user": "root;reboot"}, ["destination user 'root;reboot'"], NONE),
    ("migrate", MIGRATE, {"migration_uri": "tcp://hv2;reboot"}, ["migration_uri 'tcp://hv2;reboot'"], NONE),
    ("migrate", MIGRATE, {"migration_uri": "tcp://hv2:0"}, ["migration_uri 'tcp://hv2:0' must look like"], NONE),
    ("migrate", MIGRATE, {"uri": "qemu+ssh://hv1/system|reboot"}, ["'qemu+ssh://hv1/system|reboot' contains"], NONE),
    # insecure transports and URIs
    ("migrate", MIGRATE, {"transport": "tcp"}, ["destination 'qemu+tcp://hv2/system' is refused: transport tcp"], NONE),
    ("migrate", MIGRATE, {"dest": "qemu+tcp://hv2/system"}, ["'qemu+tcp://hv2/system' is refused"], NONE),
    ("migrate", MIGRATE, {"uri": "qemu+tcp://hv1/system"}, ["source URI 'qemu+tcp://hv1/system' is refused"], NONE),
    ("migrate", MIGRATE, {"dest": "qemu+ssh://hv2/system?command=/tmp/x"}, ["command=/tmp/x names a program"], NONE),
    ("migrate", MIGRATE, {"dest": "qemu+tls://hv2/system?no_verify=1"}, ["no_verify=1 turns off"], NONE),
    ("migrate", MIGRATE, {"transport": "telnet"}, ["transport", "telnet"], NONE),
    ("move_domains", MOVES, {"transport": "tcp"}, ["'qemu+tcp://hv2/system' is refused"], NONE),
    ("move_domains", {"moves": [{"domain": "vm1", "destination": "hv2", "alternates": ["qemu+tcp://hv3/system"]}]}, {},
     ["'qemu+tcp://hv3/system' is refused"], NONE),
    ("preflight_info", PREFLIGHT, {"destinations": ["qemu+tcp://hv2/system"]}, ["'qemu+tcp://hv2/system' is refused"], NONE),
    ("fleet_info", FLEET, {"transport": "tcp"}, ["hosts: hv2: destination 'qemu+tcp://hv2/system' is refused"], LOCAL),
    ("hypervisor_info", {}, {"uri": "qemu+tcp://hv1/system"}, ["hypervisor URI 'qemu+tcp://hv1/system' is refused"], NONE),
    # numbers: negative, zero, NaN, infinite, absurd
    ("migrate", MIGRATE, {"timeout": -1}, ["timeout must be from 1 to 604800, got -1"], NONE),
    ("migrate", MIGRATE, {"timeout": 0}, ["timeout must be from 1 to 604800, got 0"], NONE),
    ("migrate", MIGRATE, {"timeout": "nan"}, ["timeout", "'nan'"], NONE),
    ("migrate", MIGRATE, {"timeout": "1e400"}, ["timeout must be from 1 to 604800, got a 401-digit number"], NONE),
    ("migrate", MIGRATE, {"bandwidth": 10 ** 12}, ["bandwidth must be from 0 to 1048576, got 1000000000000"], NONE),
    ("migrate", MIGRATE, {"poll_interval": "nan"}, ["poll_interval must be from 0.05 to 10, got nan"], NONE),
    ("migrate", MIGRATE, {"poll_interval": "inf"}, ["poll_interval must be from 0.05 to 10, got inf"], NONE),
    ("migrate", MIGRATE, {"postcopy_recovery_wait": -5}, ["postcopy_recovery_wait must be from 0 to 86400, got -5"], NONE),
    ("migrate", MIGRATE, {"claims": {"ttl": 0}}, ["claims.ttl must be from 1 to 604800, got 0"], NONE),
    ("migrate", MIGRATE, {"claims": {"memory_headroom_pct": "nan"}}, ["claims.memory_headroom_pct must be from 0 to 99, got nan"],
     NONE),
    ("migrate", MIGRATE, {"claims": {"vcpu_ratio": "-inf"}}, ["claims.vcpu_ratio must be from 0.01 to 1000, got -inf"], NONE),
    ("migrate", MIGRATE, {"claims": {"run_id": "run; rm -rf /"}}, ["run_id must be 1-40 letters", "'run; rm -rf /'"], NONE),
    ("migrate", MIGRATE, {"convergence_knobs": {"max_downtime_ms": "1e400"}}, ["max_downtime_ms must be a number, got '1e400'"],
     NONE),
    ("migrate", MIGRATE, {"convergence_knobs": {"postcopy_bandwidth": -1}}, ["postcopy_bandwidth must be from 0 to 1048576, got -1"],
     NONE),
    ("move_domains", MOVES, {"max_parallel": 0}, ["max_parallel must be from 1 to 1000, got 0"], NONE),
    ("move_domains", MOVES, {"max_per_destination": 10 ** 9}, ["max_per_destination must be from 1 to 1000, got 1000000000"], NONE),
    ("move_domains", MOVES, {"retries": -1}, ["retries must be from 0 to 100, got -1"], NONE),
    ("move_domains", MOVES, {"wait_for_capacity": "nan"}, ["wait_for_capacity", "'nan'"], NONE),
    ("move_domains", MOVES, {"shutdown_timeout": 10 ** 7}, ["shutdown_timeout must be from 0 to 86400, got 10000000"], NONE),
    ("preflight_info", PREFLIGHT, {"vcpu_ratio": "nan"}, ["vcpu_ratio must be from 0.01 to 1000, got nan"], NONE),
    ("preflight_info", PREFLIGHT, {"reserved_memory_mib": -1}, ["reserved_memory_mib must be from 0 to 1073741824, got -1"], NONE),
    ("preflight_info", PREFLIGHT, {"port_timeout": 0}, ["port_timeout must be from 0.1 to 60, got 0.0"], NONE),
    ("preflight_info", PREFLIGHT, {"bandwidth": "1e400"}, ["bandwidth must be from 1 to 1048576, got a 401-digit number"], NONE),
    ("preflight_info", PREFLIGHT, {"migration_ports": "1-99999"}, ["migration_ports: port range 1-99999 is not LOW-HIGH"], NONE),
    ("preflight_info", PREFLIGHT, {"migration_ports": "$(reboot)"}, ["migration_ports:", "'$(reboot)'"], NONE),
    ("fleet_info", FLEET, {"timeout": "nan"}, ["timeout must be from 0.1 to 86400, got nan"], NONE),
    ("fleet_info", FLEET, {"timeout": "inf"}, ["timeout must be from 0.1 to 86400, got inf"], NONE),
    ("fleet_info", FLEET, {"concurrency": 0}, ["concurrency must be from 1 to 256, got 0"], NONE),
    ("fleet_info", FLEET, {"sample": {"margin": "nan"}}, ["sample.margin must be from 1 to 1000, got nan"], NONE),
    ("hypervisor_info", {}, {"dirty_rate_seconds": 3600}, ["dirty_rate_seconds must be from 0 to 60, got 3600"], NONE),
    ("migration_job", JOB, {"wait": -1}, ["wait must be from 0 to 86400, got -1"], NONE),
    ("migration_job", JOB, {"migration_port": 70000}, ["migration_port must be from 1 to 65535, got 70000"], NONE),
    # contradictory options and malformed lists
    ("migrate", MIGRATE, {"convergence": "minimal_downtime", "convergence_knobs": {"on_stall": "postcopy"}},
     ["a post-copy action is set but postcopy is not allowed"], NONE),
    ("migrate", MIGRATE, {"convergence_knobs": {"initial_downtime_ms": 900, "max_downtime_ms": 100}},
     ["initial_downtime_ms (900) is above max_downtime_ms (100)"], NONE),
    ("migration_job", JOB, {"state": "recovered"}, ["state is recovered but all of the following are missing: dest"], NONE),
    ("move_domains", {"moves": [{"domain": "vm1", "destination": "hv2"}, {"domain": "vm1", "destination": "hv3"}]}, {},
     ["moves[1]: domain vm1 is listed twice"], NONE),
    ("move_domains", {"moves": [{"domain": "vm1", "destination": "hv2; reboot"}]}, {}, ["destination 'hv2; reboot'"], NONE),
    ("move_domains", {"moves": [{"destination": "hv2"}]}, {}, ["moves[0] needs a domain name"], NONE),
    ("move_domains", {"moves": [{"domain": "vm1", "method": "teleport", "destination": "hv2"}]}, {},
     ["moves[0]: method 'teleport' is not one of"], NONE),
    ("preflight_info", {"destinations": ["hv2", "hv3"], "destination_names": ["hv2"]}, {},
     ["destination_names must name each of the 2 destinations"], NONE),
    ("preflight_info", PREFLIGHT, {"destinations": ["hv2; reboot"]}, ["destination 'hv2; reboot'"], NONE),
    ("fleet_info", {"hosts": ["hv2", "hv3"], "host_names": ["hv2"]}, {}, ["host_names must name each of the 2 hosts"], LOCAL),
    ("fleet_info", FLEET, {"hosts": ["hv 2"]}, ["hosts: hv 2: destination 'hv 2' is neither"], LOCAL),
    ("migrate", MIGRATE, {"bogus": 1}, ["bogus"], NONE),
    ("host_maintenance", {}, {"reason": "x" * 2000}, ["reason 'xxxx", "(2000 characters) must be at most 1024"], NONE),
    ("host_maintenance", {}, {"by": "ops\nrm -rf /"}, ["by 'ops\\nrm -rf /' must be at most 1024 characters without control"],
     NONE),
    ("host_maintenance", {}, {"mark": "bogus"}, ["mark", "bogus"], NONE),
]


@pytest.mark.parametrize("module, base, changes, fragments, opened", MODULE_CASES,
                         ids=["%s-%s" % (c[0], "-".join(sorted(c[2])) or "base") for c in MODULE_CASES])
def test_a_module_refuses_hostile_input_naming_it_before_reaching_any_host(
        module, base, changes, fragments, opened, monkeypatch, capsys):
    result, connected = run_module(module, dict(base, **changes), monkeypatch, capsys)
    assert result.get("failed") is True, result
    for fragment in fragments:
        assert fragment in result["msg"], result["msg"]
    assert "exception" not in result and "Traceback" not in json.dumps(result)
    assert connected == opened


def test_a_password_in_a_uri_is_refused_and_appears_nowhere_in_the_result(monkeypatch, capsys):
    dest = "qemu+ssh://root:%s@hv2/system" % SECRET
    result, connected = run_module("migrate", dict(MIGRATE, dest=dest), monkeypatch, capsys)
    assert result["failed"] is True and connected == []
    assert "destination 'qemu+ssh://root:********@hv2/system' carries a password" in result["msg"]
    assert SECRET not in json.dumps(result)  # nor in the invocation Ansible shows with -v


def test_hostile_domain_names_are_looked_up_as_they_are_and_named_when_absent(monkeypatch, capsys):
    # Spaces, quotes, shell characters and unicode are valid in libvirt names; they never reach a shell.
    for name in ("vm 1", "vm'1", "vm;1", "$(reboot)", "`reboot`", "vm\u00e9"):
        result, connected = run_module("migration_job_info", {"name": name}, monkeypatch, capsys)
        assert result["msg"].startswith("domain %r was not found on qemu:///system" % name), result["msg"]
        assert connected == LOCAL


def test_a_name_that_is_not_text_is_refused():
    with pytest.raises(DroverError, match="not valid UTF-8 text"):
        check_domain_name("vm\udc80")


# ----------------------------------------------------------------------- role and playbook variables
def _role(role):
    with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)["argument_specs"]["main"]["options"]
    with open(os.path.join(ROOT, "roles", role, "tasks", "inputs.yml"), encoding="utf-8") as handle:
        ranges = yaml.safe_load(handle)[0]["vars"]["_%s_ranges" % role]
    return spec, ranges


def _playbook_spec(path, task_name):
    with open(os.path.join(ROOT, path), encoding="utf-8") as handle:
        play = yaml.safe_load(handle)[0]
    [task] = [t for t in play["tasks"] if t["name"] == task_name]
    return task["vars"]["_drover_spec"], task["vars"]["_drover_ranges"]


ROLE_CASES = [
    ("evacuate", "evacuate_max_parallel", "0", "evacuate_max_parallel must be from 1 to 1000, got 0"),
    ("evacuate", "evacuate_max_parallel", "-1", "evacuate_max_parallel must be from 1 to 1000, got -1"),
    ("evacuate", "evacuate_max_parallel", "nan", "evacuate_max_parallel: cannot read 'nan' as a whole number"),
    ("evacuate", "evacuate_max_parallel", "1e400", "evacuate_max_parallel: cannot read '1e400' as a whole number"),
    ("evacuate", "evacuate_max_parallel", "2.5", "evacuate_max_parallel: cannot read '2.5' as a whole number"),
    ("evacuate", "evacuate_reserved_memory_mib", 10 ** 20, "evacuate_reserved_memory_mib: cannot read 100000000000000000000"),
    ("evacuate", "evacuate_vcpu_ratio", "inf", "evacuate_vcpu_ratio: cannot read 'inf' as a number"),
    ("evacuate", "evacuate_vcpu_ratio", "0", "evacuate_vcpu_ratio must be from 0.01 to 1000, got 0.0"),
    ("evacuate", "evacuate_memory_headroom_pct", "100", "evacuate_memory_headroom_pct must be from 0 to 99, got 100"),
    ("evacuate", "evacuate_candidate_margin", "0.5", "evacuate_candidate_margin must be from 1 to 1000, got 0.5"),
    ("evacuate", "evacuate_claim_ttl", "0", "evacuate_claim_ttl must be from 1 to 604800, got 0"),
    ("evacuate", "evacuate_timeout", "-5", "evacuate_timeout must be from 0 to 604800, got -5"),
    ("evacuate", "evacuate_wait_for_capacity", "99999999", "evacuate_wait_for_capacity must be from 0 to 86400, got 99999999"),
    ("evacuate", "evacuate_transport", "tcp; reboot", "evacuate_transport: 'tcp; reboot' is not one of ssh, tcp, tls"),
    ("evacuate", "evacuate_unmigratable", "explode", "evacuate_unmigratable: 'explode' is not one of fail, skip"),
    ("evacuate", "evacuate_copy_storage", "maybe", "evacuate_copy_storage: cannot read 'maybe' as true or false"),
    ("evacuate", "evacuate_allow_insecure_transport", "perhaps",
     "evacuate_allow_insecure_transport: cannot read 'perhaps' as true or false"),
    ("evacuate", "evacuate_anti_affinity", "not a dict", "evacuate_anti_affinity: cannot read 'not a dict' as a mapping"),
    ("preflight", "preflight_bandwidth", "0", "preflight_bandwidth must be from 1 to 1048576, got 0"),
    ("preflight", "preflight_vcpu_ratio", "NaN", "preflight_vcpu_ratio: cannot read 'NaN' as a number"),
    ("preflight", "preflight_facts_timeout", "0", "preflight_facts_timeout must be from 1 to 86400, got 0"),
    ("verify", "verify_concurrency", "0", "verify_concurrency must be from 1 to 256, got 0"),
    ("verify", "verify_timeout", "1e9", "verify_timeout must be from 1 to 86400, got 1000000000"),
    ("verify", "verify_probe_timeout", "0", "verify_probe_timeout must be from 1 to 3600, got 0"),
    ("evacuate", "evacuate_verify_probe_timeout", "nan", "evacuate_verify_probe_timeout: cannot read 'nan' as a whole number"),
    ("rolling", "rolling_batch_size", "0", "rolling_batch_size must be from 1 to 1000, got 0"),
    ("rolling", "rolling_resume_hours", "-1", "rolling_resume_hours must be from 0 to 8760, got -1.0"),
    ("rolling", "rolling_resume", "sometimes", "rolling_resume: cannot read 'sometimes' as true or false"),
    ("restore", "restore_max_parallel", "nan", "restore_max_parallel: cannot read 'nan' as a whole number"),
    ("restore", "restore_claim_ttl", "5", "restore_claim_ttl must be from 60 to 604800, got 5"),
    ("restore", "restore_transport", "rsh", "restore_transport: 'rsh' is not one of ssh, tcp, tls"),
    ("restore", "restore_moved_by_hand", "perhaps", "restore_moved_by_hand: cannot read 'perhaps' as true or false"),
]


@pytest.mark.parametrize("role, name, value, message", ROLE_CASES, ids=["%s=%s" % (c[1], c[2]) for c in ROLE_CASES])
def test_a_role_variable_that_is_wrong_is_refused_naming_it(role, name, value, message):
    spec, ranges = _role(role)
    with pytest.raises(AnsibleFilterError) as err:
        role_inputs({name: value}, spec, "%s_" % role, ranges)
    assert message in str(err.value)


def test_every_number_of_a_role_has_a_range():
    for role in ("evacuate", "preflight", "verify", "rolling", "restore"):
        spec, ranges = _role(role)
        numbers = {name for name, option in spec.items() if option.get("type") in ("int", "float")}
        assert numbers == set(ranges), role


# Every variable of the roles added for rolling maintenance, as an AWX text survey or -e key=value sends it.
TEXT = {
    "restore": {"restore_group": "hypervisors", "restore_hosts": "hv1,hv2", "restore_moved_by_hand": "true",
                "restore_max_parallel": "3", "restore_max_per_destination": "2", "restore_transport": "tls",
                "restore_allow_insecure_transport": "false", "restore_convergence": "postcopy",
                "restore_wait_for_capacity": "30", "restore_memory_headroom_pct": "5", "restore_reserved_memory_mib": "512",
                "restore_vcpu_ratio": "2.5", "restore_claim_ttl": "300", "restore_run_id": "back-1",
                "restore_fail_on_failed_moves": "false", "restore_report_dir": "/tmp/restore reports"},
    "rolling": {"rolling_resume": "false", "rolling_resume_hours": "12.5", "rolling_run_id": "night-1"},
}


@pytest.mark.parametrize("role", sorted(TEXT))
def test_role_variables_given_as_text_are_typed(role):
    spec, ranges = _role(role)
    typed = role_inputs(TEXT[role], spec, "%s_" % role, ranges)
    if role == "restore":
        assert set(TEXT[role]) == set(spec)
        assert typed["hosts"] == ["hv1", "hv2"] and typed["moved_by_hand"] is True and typed["max_parallel"] == 3
        assert typed["vcpu_ratio"] == 2.5 and typed["fail_on_failed_moves"] is False
        assert typed["report_dir"] == "/tmp/restore reports"
    else:
        assert typed["resume"] is False and typed["resume_hours"] == 12.5 and typed["run_id"] == "night-1"


@pytest.mark.parametrize("name, value, message", [
    ("drover_timeout", "nan", "drover_timeout: cannot read 'nan' as a whole number"),
    ("drover_timeout", "0", "drover_timeout must be from 1 to 604800, got 0"),
    ("drover_bandwidth", "-1", "drover_bandwidth must be from 0 to 1048576, got -1"),
    ("drover_transport", "rsh", "drover_transport: 'rsh' is not one of ssh, tcp, tls"),
    ("drover_tls", "sometimes", "drover_tls: cannot read 'sometimes' as true or false"),
    ("drover_recovery_wait", "-1", "drover_recovery_wait must be from 0 to 86400, got -1"),
    ("drover_recovery_wait", "soon", "drover_recovery_wait: cannot read 'soon' as a whole number"),
])
def test_a_migrate_playbook_variable_that_is_wrong_is_refused_naming_it(name, value, message):
    spec, ranges = _playbook_spec("playbooks/migrate.yml", "Read the request's variables, typed")
    with pytest.raises(AnsibleFilterError) as err:
        role_inputs({name: value}, spec, "drover_", ranges)
    assert message in str(err.value)


# ----------------------------------------------------------------------- evacuation constraints
HOSTS = ["hv1", "hv2", "hv3"]


@pytest.mark.parametrize("constraints, message", [
    ({"vcpu_ratio": float("nan")}, "constraint vcpu_ratio must be a number, got nan"),
    ({"vcpu_ratio": "inf"}, "constraint vcpu_ratio must be a number, got 'inf'"),
    ({"memory_headroom_pct": 100}, "constraint memory_headroom_pct must be from 0 to below 100, got 100"),
    ({"max_parallel": 0}, "constraint max_parallel must be at least 1, got 0"),
    ({"max_per_destination": -3}, "constraint max_per_destination must be at least 1, got -3"),
    ({"reserved_memory_mib": "$(reboot)"}, "constraint reserved_memory_mib must be a number, got '$(reboot)'"),
    ({"exclude_hosts": ["hv9"]}, "constraint exclude_hosts names unknown host(s) hv9"),
    ({"bogus": 1}, "unknown constraint(s) bogus"),
    ({"select": 5}, "constraint select must be a JMESPath expression (a string), got 5"),
    ({"anti_affinity": "web"}, "constraint anti_affinity must be a dict of group name to a list of VM names, got 'web'"),
    ({"include_shutoff": "sometimes"}, "constraint include_shutoff must be true or false, got 'sometimes'"),
])
def test_evacuation_constraints_name_the_bad_value(constraints, message):
    with pytest.raises(DroverError) as err:
        read_constraints(constraints, HOSTS)
    assert message in err.value.msg


@pytest.mark.parametrize("drain, message", [
    (["hv9"], "drain names unknown host(s) hv9"),
    (["hv1; reboot"], "drain names unknown host(s) hv1; reboot"),
    ([], "drain names no host"),
    ([5], "drain must be a list of names, got [5]"),
])
def test_a_host_to_drain_missing_from_the_fleet_is_named(drain, message):
    with pytest.raises(DroverError) as err:
        read_drain(drain, HOSTS)
    assert message in err.value.msg


def test_the_plan_filter_reports_bad_input_as_a_filter_error_not_a_traceback():
    fleet = {host: {"hypervisor": {"hostname": host}, "domains": []} for host in HOSTS}
    with pytest.raises(AnsibleFilterError, match="hv9"):
        evacuation_plan(fleet, ["hv9"])
    with pytest.raises(AnsibleFilterError, match="constraint vcpu_ratio must be a number, got nan"):
        evacuation_plan(fleet, ["hv1"], constraints={"vcpu_ratio": float("nan")})
