# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a domain is on one host, and fixing its definitions after a move: host I/O through libvirt.

presence() reads what the pure rules of _migration_rules (decide, where_after_failure) take;
finish_definitions() carries out the clean-up steps decide() asks for.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_enums import (
    DOMAIN_PAUSED, DOMAIN_SHUTOFF, PAUSED_USER, POSTCOPY_FAILED_STATES, POSTCOPY_STATES, SHUTOFF_REASON_NAMES,
    STATE_NAMES)
from ansible_collections.drover.libvirt.plugins.module_utils._migration_rules import ABSENT


def presence(conn, name, libvirt):
    """Where a domain stands on one host: a dict like ABSENT, filled in."""
    try:
        dom = conn.lookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return dict(ABSENT)
        raise
    state, reason = dom.state()
    active = bool(dom.isActive())
    return {
        "exists": True,
        "active": active,
        "persistent": bool(dom.isPersistent()),
        "state": STATE_NAMES.get(state, str(state)),
        "migratable": active and (state != DOMAIN_PAUSED or reason == PAUSED_USER)
        and (state, reason) not in POSTCOPY_STATES,
        "uuid": dom.UUIDString(),
        # Either half of a post-copy migration that has not finished (see _migration_rules.lost_in_postcopy),
        # and whether that half has noticed its stream failed.
        "postcopy": active and (state, reason) in POSTCOPY_STATES,
        "postcopy_failed": active and (state, reason) in POSTCOPY_FAILED_STATES,
        "reason": SHUTOFF_REASON_NAMES.get(reason, str(reason)) if state == DOMAIN_SHUTOFF else None,
    }


def finish_definitions(sconn, dconn, name, libvirt, steps):
    """Carry out decide()'s cleanup steps: undefine a left-over source, define a transient destination."""
    if "undefine_source" in steps:
        sconn.lookupByName(name).undefine()
    if "define_destination" in steps:
        ddom = dconn.lookupByName(name)
        dconn.defineXML(ddom.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE | libvirt.VIR_DOMAIN_XML_MIGRATABLE))
