"""Secure defaults: insecure transport off everywhere unless switched on, never the UNSAFE migration
flag, and no option that could carry a secret without no_log."""

from __future__ import annotations

import glob
import importlib
import itertools
import os
import re
from unittest import mock

import pytest
import yaml

from ansible_collections.drover.libvirt.plugins.module_utils import _libvirt_module
from ansible_collections.drover.libvirt.plugins.module_utils._convergence import PRESETS, resolve_knobs
from ansible_collections.drover.libvirt.plugins.module_utils._migration_rules import migration_flags

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
PACKAGE = "ansible_collections.drover.libvirt.plugins.modules"
MODULES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py")))
SECRET_NAME = re.compile(r"pass|secret|token|credential|private|api_?key", re.IGNORECASE)
# The roles of this collection whose tasks open libvirt connections to other hosts.
ROLES = ("evacuate", "preflight", "verify")


class Captured(Exception):
    pass


def module_spec(name):
    """The full argument spec a module builds (LibvirtModule's connection options included)."""
    seen = {}

    def capture(self, argument_spec, **kwargs):
        seen["spec"] = argument_spec
        raise Captured()
    module = importlib.import_module("%s.%s" % (PACKAGE, name))
    with mock.patch.object(_libvirt_module.AnsibleModule, "__init__", capture):
        with pytest.raises(Captured):
            module.main()
    return seen["spec"]


def _options(spec, prefix=""):
    for name, option in spec.items():
        yield prefix + name, option
        yield from _options(option.get("options") or {}, "%s%s." % (prefix, name))


@pytest.mark.parametrize("name", MODULES)
def test_every_option_that_could_carry_a_secret_has_no_log(name):
    for option_name, option in _options(module_spec(name)):
        if SECRET_NAME.search(option_name) and option_name != "allow_insecure_transport":
            assert option.get("no_log") is True, "%s: %s" % (name, option_name)


# host_maintenance, release_claims and report_files open no connection; move_progress runs move_domains
# with the options it is given, and move_domains refuses plain TCP itself.
@pytest.mark.parametrize("name", [m for m in MODULES
                                  if m not in ("host_maintenance", "move_progress", "release_claims", "report_files")])
def test_every_libvirt_module_refuses_insecure_transport_by_default(name):
    spec = module_spec(name)
    assert spec["allow_insecure_transport"] == {"type": "bool", "default": False}
    if "transport" in spec:
        assert spec["transport"]["default"] == "ssh"


@pytest.mark.parametrize("role", ROLES)
def test_every_role_refuses_insecure_transport_by_default_and_passes_the_switch_on(role):
    with open(os.path.join(ROOT, "roles", role, "defaults", "main.yml"), encoding="utf-8") as handle:
        defaults = yaml.safe_load(handle)
    assert defaults["%s_allow_insecure_transport" % role] is False
    assert defaults["%s_transport" % role] == "ssh"
    # Wherever a task hands a transport on, it hands the switch on with it.
    for path in glob.glob(os.path.join(ROOT, "roles", role, "tasks", "*.yml")):
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        for indent, prefix in re.findall(r"^(\s*)(\w*)transport: ", text, re.MULTILINE):
            if not prefix.endswith("allow_insecure_"):
                assert "%s%sallow_insecure_transport: " % (indent, prefix) in text, path


def test_the_migrate_playbook_passes_the_switch_and_tls_on():
    with open(os.path.join(ROOT, "playbooks", "migrate.yml"), encoding="utf-8") as handle:
        text = handle.read()
    assert "allow_insecure_transport: \"{{ _drover_in.allow_insecure_transport" in text
    assert "tls: \"{{ _drover_in.tls" in text


def test_no_combination_of_options_sets_the_unsafe_migration_flag():
    for preset, persist, undefine, tls in itertools.product(PRESETS, *([(True, False)] * 3)):
        flags = migration_flags(persist, undefine, resolve_knobs(preset), tls)
        assert "UNSAFE" not in flags and ("TLS" in flags) is tls
    everything = resolve_knobs("balanced", {"parallel_connections": 4, "compression": ["zstd"]})
    assert set(migration_flags(True, True, everything, True)) == {
        "LIVE", "PEER2PEER", "ABORT_ON_ERROR", "PERSIST_DEST", "UNDEFINE_SOURCE", "AUTO_CONVERGE", "POSTCOPY",
        "PARALLEL", "COMPRESSED", "TLS"}


def test_no_plugin_names_the_unsafe_flag():
    for path in glob.glob(os.path.join(ROOT, "plugins", "**", "*.py"), recursive=True):
        with open(path, encoding="utf-8") as handle:
            assert "VIR_MIGRATE_UNSAFE" not in handle.read(), path
