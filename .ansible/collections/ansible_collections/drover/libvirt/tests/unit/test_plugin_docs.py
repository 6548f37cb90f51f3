"""`ansible-doc` documents every module, filter and role of the installed collection.

Ansible finds the collection the way it finds an installed one: through a collections path holding
ansible_collections/drover/libvirt (build/, made by `make collection` or tests/conftest.py). Each
plugin found in plugins/ and each role with an argument spec is shown with the command a person runs
(`ansible-doc -t module drover.libvirt.migrate`, several names per call to save time), and read as
JSON (`ansible-doc --json`); its documented options must be the ones the code takes: a module's
argument spec, a filter's keyword arguments, a role's argument spec and defaults.
"""
import glob
import importlib
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from unittest import mock

import pytest
import yaml
from ansible.module_utils import basic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS_PATH = os.path.join(ROOT, "build")
PACKAGE = "ansible_collections.drover.libvirt.plugins"


def _stems(directory):
    return sorted(os.path.basename(path)[:-3] for path in glob.glob(os.path.join(ROOT, directory, "*.py"))
                  if not os.path.basename(path).startswith("_"))


MODULES = _stems("plugins/modules")


def _filter_functions():
    """Filter name -> function, from every filter plugin file's FilterModule."""
    found = {}
    for stem in _stems("plugins/filter"):
        plugin = importlib.import_module("%s.filter.%s" % (PACKAGE, stem))
        found.update(plugin.FilterModule().filters())
    return found


FILTERS = _filter_functions()
ROLES = sorted(os.path.basename(os.path.dirname(os.path.dirname(path)))
               for path in glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")))


def _ansible_doc(*args):
    """Run ansible-doc as a user of the installed collection would: no ansible.cfg of the checkout, no colours."""
    beside_python = os.path.join(os.path.dirname(sys.executable), "ansible-doc")
    command = beside_python if os.path.exists(beside_python) else shutil.which("ansible-doc")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH, ANSIBLE_NOCOLOR="1")
    return subprocess.run([command, *args], capture_output=True, text=True, env=env, cwd=COLLECTIONS_PATH,
                          check=False)


@pytest.fixture(scope="module")
def docs():
    """ansible-doc --json of every plugin, one call per type: {(type, name): entry}."""
    assert os.path.isdir(os.path.join(COLLECTIONS_PATH, "ansible_collections", "drover", "libvirt", "plugins"))
    found = {}
    for kind, names in (("module", MODULES), ("filter", sorted(FILTERS)), ("role", ROLES)):
        run = _ansible_doc("--json", "-t", kind, *("drover.libvirt." + name for name in names))
        assert run.returncode == 0, run.stderr
        for fqcn, entry in json.loads(run.stdout).items():
            found[(kind, fqcn.split(".")[-1])] = entry
    return found


def _option_tree(options, sub_key):
    """{name: (type, {suboption tree})} of documented options or of an argument spec."""
    tree = {}
    for name, spec in (options or {}).items():
        tree[name] = (spec.get("type") or "str", _option_tree(spec.get(sub_key), sub_key))
    return tree


def _argument_spec(module_name):
    """The argument spec a module hands to AnsibleModule, taken without running the module."""

    class Captured(Exception):
        def __init__(self, argument_spec):
            super().__init__(module_name)
            self.argument_spec = argument_spec

    def capture(self, argument_spec, **kwargs):
        raise Captured(argument_spec)

    module = importlib.import_module("%s.modules.%s" % (PACKAGE, module_name))
    with mock.patch.object(basic.AnsibleModule, "__init__", capture):
        with pytest.raises(Captured) as caught:
            module.main()
    return caught.value.argument_spec


TITLES = {"module": "MODULE", "filter": "FILTER", "role": "ROLE:"}


@pytest.fixture(scope="module")
def pages():
    """The pages `ansible-doc -t KIND drover.libvirt.NAME ...` shows, one call per type: {(type, name): text}."""
    found = {}
    for kind, names in (("module", MODULES), ("filter", sorted(FILTERS)), ("role", ROLES)):
        run = _ansible_doc("-t", kind, *("drover.libvirt." + name for name in names))
        assert run.returncode == 0, run.stderr
        assert "[WARNING]" not in run.stderr and "[ERROR]" not in run.stderr, run.stderr
        for page in re.split(r"^(?=> %s )" % re.escape(TITLES[kind]), run.stdout, flags=re.M)[1:]:
            name = re.match(r"> %s \*?drover\.libvirt\.(\w+)\*? " % re.escape(TITLES[kind]), page).group(1)
            found[(kind, name)] = page
    return found


def _options_shown(page):
    """Top-level options of a page: the lines "- name" (optional) or "= name" (required) under the
    options heading, up to the next heading (ATTRIBUTES:, NOTES:, AUTHOR:, EXAMPLES: ...)."""
    section = re.split(r"^(?:OPTIONS|Options) .*$", page, maxsplit=1, flags=re.M)[1]
    section = re.split(r"^[A-Z][A-Z ]+:", section, maxsplit=1, flags=re.M)[0]
    return set(re.findall(r"^[-=] (\S+)", section, flags=re.M))


def test_every_kind_of_plugin_is_found():
    assert "migrate" in MODULES and "evacuation_plan" in FILTERS and "evacuate" in ROLES


@pytest.mark.parametrize("name", MODULES)
def test_module_documents_exactly_its_options(docs, name):
    doc = docs[("module", name)]
    assert doc["doc"]["short_description"] and doc["doc"]["description"]
    assert doc["doc"]["version_added"]
    assert doc["examples"].strip() and doc["return"]
    documented = _option_tree(doc["doc"]["options"], "suboptions")
    assert documented == _option_tree(_argument_spec(name), "options")


@pytest.mark.parametrize("name", MODULES)
def test_module_page_shows_its_options(pages, name):
    assert _options_shown(pages[("module", name)]) == set(_argument_spec(name))


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_filter_documents_exactly_its_arguments(docs, name):
    doc = docs[("filter", name)]
    assert doc["doc"]["name"] == name
    assert doc["doc"]["short_description"] and doc["doc"]["description"] and doc["doc"]["version_added"]
    assert doc["examples"].strip() and doc["return"]
    options = doc["doc"]["options"]
    assert "_input" in options
    arguments = list(inspect.signature(FILTERS[name]).parameters)[1:]
    assert sorted(set(options) - {"_input"}) == sorted(arguments)


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_filter_page_shows_its_arguments(pages, name):
    assert _options_shown(pages[("filter", name)]) == {"_input", *list(inspect.signature(FILTERS[name]).parameters)[1:]}


def _role_file(role, *parts):
    with open(os.path.join(ROOT, "roles", role, *parts), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.mark.parametrize("name", ROLES)
def test_role_documents_its_argument_spec_and_defaults(docs, name):
    main = docs[("role", name)]["entry_points"]["main"]
    assert main["short_description"] and main["description"]
    spec = _role_file(name, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert _option_tree(main["options"], "options") == _option_tree(spec, "options")
    # Every variable a user may set has a default and a description, and nothing else is a default.
    assert sorted(_role_file(name, "defaults", "main.yml")) == sorted(main["options"])
    assert all(option.get("description") for option in main["options"].values())


@pytest.mark.parametrize("name", ROLES)
def test_role_page_shows_its_options(pages, name):
    assert _options_shown(pages[("role", name)]) == set(_role_file(name, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"])
