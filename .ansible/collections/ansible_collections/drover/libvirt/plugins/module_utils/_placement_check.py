# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet placement check: does every VM live in exactly one place?

Pure functions over the output of hypervisor_info (read by _facts_schema); the verify role uses
it through the filter placement_check. Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._facts_schema import read_domains
from ansible_collections.drover.libvirt.plugins.module_utils._values import NotNames, name_list, type_name


def _names(value, what):
    if value is None:
        return []
    try:
        names = name_list(value)
    except NotNames as exc:
        if exc.has_item:
            raise DroverError("%s must be a list of VM names, got item %r" % (what, exc.item)) from None
        raise DroverError("%s must be a list of VM names, got %s" % (what, type_name(value))) from None
    for item in names:
        if not item:
            raise DroverError("%s must be a list of VM names, got item %r" % (what, item))
    return names


def _join(hosts):
    """hv1 / hv1 and hv2 / hv1, hv2 and hv3."""
    hosts = list(hosts)
    if len(hosts) < 2:
        return "".join(hosts)
    return ", ".join(hosts[:-1]) + " and " + hosts[-1]


def _fleet_domains(fleet):
    """{name: {host: domain}} from {host: hypervisor_info result}, read by the facts reader."""
    if not isinstance(fleet, Mapping):
        raise DroverError("expected a dict of inventory host -> hypervisor_info result, got %s" % type_name(fleet))
    by_name = {}
    for host in sorted(fleet, key=str):
        for domain in read_domains(str(host), fleet[host]):
            by_name.setdefault(domain["name"], {})[str(host)] = domain
    return by_name


def _states(hosts, seen):
    states = {str(seen[host].get("state")) for host in hosts}
    if len(states) == 1:
        return "%s, state %s" % (_join(hosts), states.pop())
    return _join("%s (%s)" % (host, seen[host].get("state")) for host in hosts)


def _check_one(name, seen, expected):
    """The placement result of one VM; seen = {host: domain entry} for the hosts that know it."""
    running_on = sorted(host for host, domain in seen.items() if domain.get("active"))
    defined_on = sorted(host for host, domain in seen.items() if domain.get("persistent"))
    uuids = {host: domain.get("uuid") for host, domain in seen.items()}
    distinct = {uuid for uuid in uuids.values() if uuid}
    result = {
        "name": name,
        "uuid": distinct.pop() if len(distinct) == 1 else None,
        "expected": expected,
        "running_on": running_on,
        "defined_on": defined_on,
        "state": None,
        "ok": False,
        "reason": "",
    }
    if len(running_on) == 1:
        result["state"] = seen[running_on[0]].get("state")
    elif not running_on and len(seen) == 1:
        # A shut-off VM has no running host; its one definition's state is what a person wants.
        result["state"] = next(iter(seen.values())).get("state")

    if not seen:
        result["reason"] = "not found on any host"
        return result
    if len(set(uuids.values())) > 1:
        # The same name on two hosts must be one domain; otherwise moving one would clobber the other.
        count = len(set(uuids.values()))
        result["reason"] = "%s different domains named %s: %s" % (
            "two" if count == 2 else count, name, ", ".join("%s uuid %s" % (host, uuids[host]) for host in sorted(uuids)))
        return result

    if expected == "shutoff":
        problems = []
        if running_on:
            problems.append("expected shut off but running on %s" % _join(running_on))
        if not defined_on:
            problems.append("not defined on any host")
        elif len(defined_on) > 1:
            problems.append("defined on %s (expected on exactly one host)" % _join(defined_on))
        if problems:
            result["reason"] = "; ".join(problems)
        else:
            result["ok"] = True
            result["reason"] = "shut off, defined on %s" % defined_on[0]
        return result

    if len(running_on) > 1:
        result["reason"] = "running on %s" % _join(running_on)
        return result
    if not running_on:
        result["reason"] = "not running on any host (%s)" % (
            ("defined on " + _states(defined_on, seen)) if defined_on else "not defined anywhere")
        return result

    host = running_on[0]
    problems = []
    if not defined_on:
        problems.append("runs on %s but is not persistent anywhere" % host)
    elif host not in defined_on:
        problems.append("runs on %s but is persistent on %s" % (host, _join(defined_on)))
    elif len(defined_on) > 1:
        # A definition left on another host could be started there too: two copies on one disk.
        others = [other for other in defined_on if other != host]
        problems.append("runs on %s but is also persistent on %s" % (host, _join(others)))
    if result["state"] != "running":
        problems.append("%s on %s" % (result["state"], host))
    if problems:
        result["reason"] = "; ".join(problems)
    else:
        result["ok"] = True
        result["reason"] = "running on %s" % host
    return result


def placement_check(fleet, names=None, shutoff=None, unreachable=None):
    """Check that every VM lives in exactly one place, sorted by name.

    fleet is {inventory host: hypervisor_info result}. A VM is matched across hosts by name. It is
    ok when it is active on exactly one host, persistent on that host only and running there; or,
    for names in shutoff (definitions moved while shut off), when it is inactive everywhere and
    persistent on exactly one host. names defaults to every name in the fleet; names in shutoff
    are always checked. Hosts in unreachable could not be read: each result lists them in
    unread_hosts, and a VM found on none of the hosts read is `unknown`, not lost.
    """
    by_name = _fleet_domains(fleet)
    wanted = _names(names, "names") if names is not None else sorted(by_name)
    off = set(_names(shutoff, "shutoff"))
    unread = sorted(set(_names(unreachable, "unreachable")))
    checked = sorted(set(wanted) | off)
    results = [_check_one(name, by_name.get(name, {}), "shutoff" if name in off else "running") for name in checked]
    if unread:
        for result in results:
            _unconfirmed(result, unread)
    return results


def _unconfirmed(result, unread):
    """What a check cannot confirm while some hosts could not be read (marked, never guessed)."""
    result["unread_hosts"] = unread
    note = "%s could not be read" % _join(unread)
    if result["ok"]:
        # Running (or defined) where expected; a host that did not answer cannot hold it running
        # too (libvirt hands a guest over, it never copies it), but its definitions are not seen.
        result["reason"] = "%s (%s)" % (result["reason"], note)
    elif not result["running_on"] and not result["defined_on"]:
        result["unknown"] = True
        result["reason"] = "not found on the hosts that answered; %s" % note
