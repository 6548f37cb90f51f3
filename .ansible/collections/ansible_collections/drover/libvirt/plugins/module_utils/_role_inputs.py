# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A role's variables, typed as its argument spec says, whatever form they arrived in.

`-e key=value` and AWX text surveys give every variable as text; YAML, JSON and AWX integer
surveys give it typed. Role argument validation checks that "3" could be an int but leaves it a
string, and Jinja then compares a string with a number. This converts each variable once, with
the conversions AnsibleModule applies to module options, and names the variable it cannot read.
Numbers must be finite and sensible (no NaN, no 1e400), and within the role's ranges when given.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import math

from ansible.module_utils.common.validation import (
    check_type_bool, check_type_dict, check_type_float, check_type_int, check_type_list, check_type_str)

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError, quoted
from ansible_collections.drover.libvirt.plugins.module_utils._values import check_ranges

_CONVERT = {
    "int": check_type_int, "float": check_type_float, "bool": check_type_bool, "list": check_type_list,
    "dict": check_type_dict, "str": check_type_str, "path": check_type_str, "raw": lambda value: value,
}
_NAMES = {"int": "a whole number", "float": "a number", "bool": "true or false", "list": "a list",
          "dict": "a mapping", "str": "text", "path": "a path", "raw": "a value"}
# Beyond this no count, size or time of this collection makes sense, and floats stop being exact.
_LARGEST = 2 ** 53


def _convert(name, value, option):
    kind = option.get("type", "str")
    if value is None:
        return None
    if kind in ("list", "dict") and isinstance(value, str) and not value.strip():
        return [] if kind == "list" else {}  # an empty survey field
    try:
        if kind == "int" and isinstance(value, float) and not value.is_integer():
            raise TypeError("not a whole number")
        converted = _CONVERT[kind](value)
        if kind == "float" and not math.isfinite(converted):
            raise ValueError("not finite")
        if kind in ("int", "float") and abs(converted) > _LARGEST:
            raise ValueError("larger than %d" % _LARGEST)
        if kind == "list" and option.get("elements") in _CONVERT:
            converted = [_convert("%s[%d]" % (name, i), item, {"type": option["elements"]})
                         for i, item in enumerate(converted)]
    except (TypeError, ValueError) as exc:
        raise DroverError("%s: cannot read %s as %s (%s); nothing was changed" % (name, quoted(value), _NAMES[kind], exc))
    if option.get("choices") and converted not in option["choices"]:
        raise DroverError("%s: %s is not one of %s; nothing was changed"
                          % (name, quoted(converted), ", ".join(str(c) for c in option["choices"])))
    return converted


def role_inputs(values, spec, prefix, ranges=None):
    """{name without prefix: value typed as the spec's option says} for every option of `spec`.

    values: variable name -> value as Ansible templated it; spec: the options of a role's
    argument spec (meta/argument_specs.yml, argument_specs.main.options). An option missing from
    `values` is left out (it has no default and was not given). ranges: variable name ->
    [lowest, highest] of a number, checked once typed.
    """
    typed, by_variable = {}, {}
    for name, option in spec.items():
        if name in values:
            by_variable[name] = _convert(name, values[name], option or {})
            typed[name[len(prefix):] if name.startswith(prefix) else name] = by_variable[name]
    check_ranges(by_variable, {name: tuple(bounds) for name, bounds in (ranges or {}).items()})
    return typed
