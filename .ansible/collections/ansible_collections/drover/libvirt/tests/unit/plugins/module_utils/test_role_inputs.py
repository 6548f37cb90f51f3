# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Role variables typed by their argument spec, from text as -e and AWX text surveys give them."""

from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._role_inputs import role_inputs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


def spec_of(role):
    with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")) as f:
        return yaml.safe_load(f)["argument_specs"]["main"]["options"]


SPEC = {"x_count": {"type": "int"}, "x_ratio": {"type": "float"}, "x_on": {"type": "bool"},
        "x_hosts": {"type": "list", "elements": "str"}, "x_ports": {"type": "list", "elements": "int"},
        "x_map": {"type": "dict"}, "x_mode": {"type": "str", "choices": ["a", "b"]}, "x_dir": {"type": "path"}}


def test_text_becomes_what_the_spec_says():
    typed = role_inputs({"x_count": "3", "x_ratio": "2.5", "x_on": "false", "x_hosts": "hv1,hv2", "x_ports": "1,2",
                         "x_map": '{"web": ["a", "b"]}', "x_mode": "b", "x_dir": "/tmp/r"}, SPEC, "x_")
    assert typed == {"count": 3, "ratio": 2.5, "on": False, "hosts": ["hv1", "hv2"], "ports": [1, 2],
                     "map": {"web": ["a", "b"]}, "mode": "b", "dir": "/tmp/r"}


def test_typed_values_stay_as_they_are():
    values = {"x_count": 3, "x_ratio": 2, "x_on": True, "x_hosts": ["hv1"], "x_map": {}, "x_mode": "a"}
    assert role_inputs(values, SPEC, "x_") == {"count": 3, "ratio": 2.0, "on": True, "hosts": ["hv1"], "map": {},
                                               "mode": "a"}


def test_empty_survey_fields_are_empty_lists_and_mappings():
    assert role_inputs({"x_hosts": "", "x_map": " "}, SPEC, "x_") == {"hosts": [], "map": {}}


@pytest.mark.parametrize("name, value, message", [
    ("x_count", "3x", "x_count: cannot read '3x' as a whole number"),
    ("x_count", 2.5, "x_count: cannot read 2.5 as a whole number"),
    ("x_ratio", "nan", "x_ratio: cannot read 'nan' as a number"),
    ("x_ratio", "inf", "x_ratio: cannot read 'inf' as a number"),
    ("x_on", "maybe", "x_on: cannot read 'maybe' as true or false"),
    ("x_ports", "1,two", r"x_ports\[1\]: cannot read 'two' as a whole number"),
    ("x_mode", "c", "x_mode: 'c' is not one of a, b"),
])
def test_a_value_that_cannot_be_read_is_named(name, value, message):
    with pytest.raises(DroverError, match=message):
        role_inputs({name: value}, SPEC, "x_")


@pytest.mark.parametrize("role", ["evacuate", "preflight", "verify"])
def test_every_default_of_each_role_reads_as_its_type(role):
    """The defaults as text (what a survey showing them would send) read back to the defaults."""
    spec = spec_of(role)
    with open(os.path.join(ROOT, "roles", role, "defaults", "main.yml")) as f:
        defaults = yaml.safe_load(f)
    plain = {k: v for k, v in defaults.items() if not (isinstance(v, str) and "{{" in v)}
    as_text = {k: (",".join(v) if isinstance(v, list) else "" if v == {} else str(v).lower()
                   if isinstance(v, bool) else str(v)) for k, v in plain.items()}
    typed = role_inputs(as_text, spec, role + "_")
    assert typed == {k[len(role) + 1:]: v for k, v in plain.items()}
