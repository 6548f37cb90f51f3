# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read many hypervisors' facts at once from one place, each within a deadline (fleet_info).

Every remote host is read over its own libvirt connection, opened and closed in a worker thread,
so a slow or dead host costs its own deadline once, not once per host after it. A host that has
not answered `timeout` seconds after its worker started it is reported unreachable and its worker
is left behind (libvirt's connect cannot be interrupted); a new worker takes its place.
Workers are daemon threads: one stuck in libvirt never keeps the module from exiting.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import threading
import time

from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._fleet_sample import read_sampled
from ansible_collections.drover.libvirt.plugins.module_utils._host_facts import gather
from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_module import (
    KEEPALIVE_COUNT, KEEPALIVE_INTERVAL, describe)
from ansible_collections.drover.libvirt.plugins.module_utils._uri import destination_uri, parse_uri

CONCURRENCY_RANGE = (1, 256)


def remote_hosts(hosts, names, transport, local_name, allow_insecure=False):
    """[{name, uri}] of the hosts to read remotely, in order; the host named `local_name` is left out.

    hosts: libvirt URIs or addresses; names: their names in the result (default `hosts` itself).
    An insecure URI (plain TCP, ...) is refused unless allow_insecure.
    """
    names = names or hosts
    if len(names) != len(hosts):
        raise DroverError("host_names must name each of the %d hosts" % len(hosts))
    if len(set(names)) != len(names):
        raise DroverError("hosts are listed twice: %s" % ", ".join(sorted({n for n in names if names.count(n) > 1})))
    out = []
    for name, host in zip(names, hosts):
        if name == local_name:
            continue  # this hypervisor itself: read locally
        try:
            if "://" in host and not parse_uri(host)["host"]:
                raise DroverError("%r is a local URI; this hypervisor is read locally (see local_name)" % host)
            uri = destination_uri(host, transport, allow_insecure=allow_insecure)
        except DroverError as exc:
            raise DroverError("hosts: %s: %s" % (name, exc.msg))
        out.append({"name": name, "uri": uri})
    return out


def run_with_deadline(items, work, concurrency, timeout):
    """Call work(item) for every item on at most `concurrency` threads; [outcome] in item order.

    An outcome is ("ok", value), ("error", exception) or ("timeout", None) when the call had not
    returned `timeout` seconds after it started; that call is abandoned (its thread finishes on
    its own and its result is dropped) and a new thread takes over the items not yet started.
    """
    cond = threading.Condition()
    waiting = list(range(len(items)))  # item indexes not started yet, next first
    started, outcomes, abandoned = {}, {}, set()

    def worker():
        while True:
            with cond:
                if not waiting:
                    return
                index = waiting.pop(0)
                started[index] = time.monotonic()
                cond.notify_all()  # its deadline starts now
            try:
                outcome = ("ok", work(items[index]))
            except Exception as exc:  # pylint: disable=broad-except  # any failure is this item's own
                outcome = ("error", exc)
            with cond:
                if index in abandoned:
                    return  # reported as timed out; another thread took this one's place
                outcomes[index] = outcome
                cond.notify_all()

    def spawn():
        threading.Thread(target=worker, name="drover-fleet-read", daemon=True).start()

    with cond:
        for _count in range(min(concurrency, len(items))):
            spawn()
        while len(outcomes) < len(items):
            now, next_deadline = time.monotonic(), None
            for index, began in list(started.items()):
                if index in outcomes:
                    continue
                if now - began >= timeout:
                    outcomes[index] = ("timeout", None)
                    abandoned.add(index)
                    if waiting:
                        spawn()
                else:
                    deadline = began + timeout
                    next_deadline = deadline if next_deadline is None else min(next_deadline, deadline)
            if len(outcomes) < len(items):
                cond.wait(None if next_deadline is None else max(next_deadline - now, 0.01))
    return [outcomes[index] for index in range(len(items))]


def assemble(hosts, outcomes, timeout, explain):
    """{fleet: {name: facts}, unreachable: [{host, reason}]} from the outcomes of reading `hosts`.

    Pure. The shape is the fleet_facts filter's, so plays read either the same way.
    explain(exception, host) -> one line saying why the host could not be read.
    """
    fleet, unreachable = {}, []
    for host, (status, value) in zip(hosts, outcomes):
        if status == "ok":
            fleet[host["name"]] = value
        elif status == "timeout":
            unreachable.append({"host": host["name"], "reason": "%s did not answer within %g s"
                                % (host["uri"], timeout)})
        else:
            unreachable.append({"host": host["name"], "reason": " ".join(explain(value, host).split())})
    return {"fleet": fleet, "unreachable": unreachable}


def explain_failure(libvirt):
    """explain() for assemble: DroverError's message, libvirt's error described, else the exception."""
    def explain(exc, host):
        if isinstance(exc, DroverError):
            return exc.msg
        if isinstance(exc, libvirt.libvirtError):
            return describe(exc, "cannot read %s at %s" % (host["name"], host["uri"]))
        return "cannot read %s at %s: %s: %s" % (host["name"], host["uri"], type(exc).__name__, exc)
    return explain


def read_remote(libvirt, host, libvirt_qemu=None, names=None):
    """{hypervisor, domains} of one remote host, as hypervisor_info returns them, on a connection of its own.

    names: only these domains; libvirt_qemu: ping the guest agents (None: no ping).
    """
    conn = libvirt.open(host["uri"])
    try:
        # A link that dies mid-read fails the calls within seconds instead of hanging on TCP.
        try:
            conn.setKeepAlive(KEEPALIVE_INTERVAL, KEEPALIVE_COUNT)
        except libvirt.libvirtError:
            pass  # a daemon without keepalive: the deadline still bounds the wait
        hypervisor, domains = gather(conn, libvirt, libvirt_qemu, False, ping_agents=libvirt_qemu is not None,
                                     names=names)
        return {"hypervisor": hypervisor, "domains": domains}
    finally:
        try:
            conn.close()
        except libvirt.libvirtError:
            pass


def read_fleet(libvirt, hosts, concurrency, timeout, local_name, read_local, read_one=read_remote, sample=None):
    """The fleet: remote hosts read in parallel while read_local() reads this one (`local_name`).

    A remote host that fails or does not answer in time is unreachable, not fatal; this host's
    own read failing is (the task runs here). sample: checked settings (_fleet_sample) to read
    only enough hosts, or None to read them all; the hosts left unread are in "not_read".
    """
    low, high = CONCURRENCY_RANGE
    if not low <= concurrency <= high:
        raise DroverError("concurrency must be between %d and %d, got %d" % (low, high, concurrency))
    if not timeout > 0:
        raise DroverError("timeout must be more than 0 seconds, got %r" % (timeout,))
    by_name = {host["name"]: host for host in hosts}
    local = {}

    def read_local_now():
        local["facts"] = read_local()

    def local_facts():
        thread.join()
        if "facts" not in local:
            raise local.get("error") or DroverError("this hypervisor's facts could not be read")
        return local["facts"]

    def read_batch(names):
        return run_with_deadline([by_name[n] for n in names], lambda host: read_one(libvirt, host),
                                 concurrency, timeout)

    thread = threading.Thread(target=_keep_error(read_local_now, local), name="drover-local", daemon=True)
    thread.start()
    if sample is None:
        outcomes, not_read = dict(zip(by_name, read_batch(list(by_name)))), []
    else:
        outcomes, not_read = read_sampled(list(by_name), read_batch, sample, (local_name, local_facts))
    facts = local_facts()
    read = [host for host in hosts if host["name"] in outcomes]
    result = assemble(read, [outcomes[host["name"]] for host in read], timeout, explain_failure(libvirt))
    result["fleet"] = dict({local_name: facts}, **result["fleet"])
    result["not_read"] = not_read
    return result


def _keep_error(work, holder):
    """work() that keeps its exception in holder["error"], to raise it in the caller's thread."""
    def run():
        try:
            work()
        except Exception as exc:  # pylint: disable=broad-except  # re-raised by the caller
            holder["error"] = exc
    return run
