# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A domain's origin: the host it left for maintenance, kept in the domain's own metadata.

The record travels with the domain (its live and persistent definitions), so where a domain
belongs is known from the fleet itself, with no state on the controller: a rolling run killed
half way, or an operator a week later, finds it there. It reads
<origin xmlns="urn:drover-libvirt:origin:1" host="hv1" to="hv2" run="..." since="..."/>:
`host` the home the domain left, `to` where this collection put it (a domain found elsewhere was
moved by hand since), `run` the run that moved it, `since` when it first left home.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError

ORIGIN_NS = "urn:drover-libvirt:origin:1"
ORIGIN_KEY = "drover-origin"
_FIELDS = ("host", "to", "run", "since")


def origin_from_root(root):
    """The origin recorded in a parsed domain definition, or None."""
    node = root.find("metadata/{%s}origin" % ORIGIN_NS)
    if node is None or not node.get("host"):
        return None
    return {field: node.get(field) or None for field in _FIELDS}


def next_origin(before, source, destination, run, now):
    """The origin after a move from `source` to `destination` (pure).

    The first move away from home records home; later moves keep it and say where the domain is
    now; a move that brings the domain home clears it (None).
    """
    home = (before or {}).get("host") or source
    if destination == home:
        return None
    return {"host": home, "to": destination, "run": run or None, "since": (before or {}).get("since") or now}


def origin_element(origin):
    """The metadata element for `origin`, as libvirt's setMetadata wants it (text)."""
    node = ET.Element("origin")
    for field in _FIELDS:
        if origin.get(field):
            node.set(field, str(origin[field]))
    return ET.tostring(node, encoding="unicode")


def _flags(dom, libvirt):
    flags = 0
    if dom.isActive():
        flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
    if dom.isPersistent():
        flags |= libvirt.VIR_DOMAIN_AFFECT_CONFIG
    return flags


def read_origin(dom, libvirt):
    """The origin recorded on `dom` (live definition when it runs), or None."""
    try:
        text = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, ORIGIN_NS, 0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA:
            return None
        raise DroverError("cannot read the origin of %s: %s" % (dom.name(), exc.get_error_message()))
    root = ET.Element("domain")
    metadata = ET.SubElement(root, "metadata")
    node = ET.fromstring(text)
    node.tag = "{%s}origin" % ORIGIN_NS
    metadata.append(node)
    return origin_from_root(root)


def write_origin(dom, libvirt, origin):
    """Record `origin` on `dom` (live and persistent definitions); None removes the record."""
    try:
        if origin is None:
            dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, None, None, ORIGIN_NS, _flags(dom, libvirt))
        else:
            dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, origin_element(origin), ORIGIN_KEY, ORIGIN_NS,
                            _flags(dom, libvirt))
    except libvirt.libvirtError as exc:
        raise DroverError("cannot record the origin of %s: %s" % (dom.name(), exc.get_error_message()))
