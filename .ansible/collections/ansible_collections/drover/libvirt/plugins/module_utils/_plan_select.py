# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The planner's select constraint: a JMESPath expression over the drained hosts' domains.

Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError

JMESPATH_IMPORT_ERROR = None
try:
    import jmespath
except ImportError:
    jmespath = None
    JMESPATH_IMPORT_ERROR = traceback.format_exc()


def _plain(value):
    """A copy in plain Python types: JMESPath's functions reject the tagged subclasses templating hands out."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, bool):
        return value
    for kind in (int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return str(value)


def select_domains(expression, candidates):
    """The (name, host) pairs `expression` picks from the candidates; host is None when it returned names."""
    if jmespath is None:
        raise DroverError("jmespath is required for the select constraint; install it on the controller (pip install jmespath)",
                          traceback=JMESPATH_IMPORT_ERROR)
    data = []
    for dom in candidates:
        item = _plain(dom.raw)
        item["host"] = dom.source
        data.append(item)
    try:
        result = jmespath.search(expression, data)
    except jmespath.exceptions.JMESPathError as exc:
        raise DroverError("constraint select %r is not a JMESPath expression that works on the list of domains: %s"
                          % (expression, exc)) from None
    if not isinstance(result, list):
        raise DroverError("constraint select %r must return a list of domains or domain names, got %r" % (expression, result))
    chosen = set()
    for item in result:
        if isinstance(item, str):
            chosen.add((item, None))
        elif isinstance(item, Mapping) and isinstance(item.get("name"), str):
            host = item.get("host")
            chosen.add((item["name"], host if isinstance(host, str) else None))
        else:
            raise DroverError("constraint select %r returned %r; each item must be a domain (with its name) or a name"
                              % (expression, item))
    return chosen
