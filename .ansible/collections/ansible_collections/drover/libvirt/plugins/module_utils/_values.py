# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Numbers and lists of names from what playbooks pass: extra vars arrive as strings, lists as subclasses.

Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError, quoted


def finite_number(value):
    """An int as is, a finite float, or a numeric string as a float; None for anything else.

    bool is an int to Python, but true as a count is a mistake upstream; NaN and infinity would
    make JSON invalid.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        number = value
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def bounded_number(what, value, minimum=0.0, integer=False, below=None):
    """A number (int, float or numeric string) within bounds; raises DroverError naming `what`."""
    kind = "an integer" if integer else "a number"
    number = finite_number(value)
    if number is None:
        raise DroverError("%s must be %s, got %r" % (what, kind, value))
    number = float(number)
    if integer and number != int(number):
        raise DroverError("%s must be %s, got %r" % (what, kind, value))
    if number < minimum or (below is not None and number >= below):
        bounds = "at least %g" % minimum if below is None else "from %g to below %g" % (minimum, below)
        raise DroverError("%s must be %s, got %r" % (what, bounds, value))
    return int(number) if integer or number == int(number) else number


class NotNames(ValueError):
    """A value that is not a list of names; `item` is the first item that is not a string, if any."""

    def __init__(self, value, item=None, has_item=False):
        super().__init__("not a list of names")
        self.value, self.item, self.has_item = value, item, has_item


def name_list(value):
    """A list of plain str from a list or tuple of strings; one string alone is a list of one.

    Raises NotNames otherwise. Order and repeats are kept; callers sort or check further.
    """
    if isinstance(value, str):
        return [str(value)]
    if not isinstance(value, (list, tuple)):
        raise NotNames(value)
    for item in value:
        if not isinstance(item, str):
            raise NotNames(value, item, True)
    return [str(item) for item in value]


def is_list(value):
    # Lists arrive as list subclasses from the templar; a string is never a list of results.
    return isinstance(value, (list, tuple))


def type_name(value):
    """A type as a playbook author knows it, not as the templar wraps it (_AnsibleLazyTemplateDict)."""
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a dict"
    if is_list(value):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return type(value).__name__


def check_ranges(params, ranges, prefix=""):
    """Raise DroverError naming the first option of `ranges` whose value in `params` is out of its range.

    ranges: option name -> (lowest, highest), both included, or -> a dict of ranges for the
    options of a sub-dict. An option that is None (not set) passes; NaN, infinity and a boolean
    never do. Bounds keep absurd values (1e400 seconds) from reaching arithmetic that would fail
    far from the option that caused it.
    """
    for name, bounds in ranges.items():
        value = (params or {}).get(name)
        if value is None:
            continue
        if isinstance(bounds, Mapping):
            if isinstance(value, Mapping):
                check_ranges(value, bounds, "%s%s." % (prefix, name))
            continue
        low, high = bounds
        number = finite_number(value) if not isinstance(value, str) else None
        if number is None or not low <= number <= high:
            raise DroverError("%s%s must be from %s to %s, got %s; nothing was changed"
                              % (prefix, name, low, high, quoted(value)))
