#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: migration_stream
short_description: Close the incoming stream of a failed post-copy migration that the destination still waits on
version_added: 0.1.0
description:
  - Runs on the destination of a post-copy migration whose link died. The source's QEMU fails the stream when its
    kernel stops retransmitting, but the destination's QEMU only reads from it; with nothing of its own in flight,
    its connection stays open for good, it ignores the source's attempts to resume, and libvirt's incoming
    migration job holds the domain (even libvirt's abort waits on it). The guest then stays split between the
    hosts.
  - This module closes that connection on the destination, so its QEMU pauses the migration and the source can
    resume it (M(drover.libvirt.migration_job) with O(drover.libvirt.migration_job#module:state=recovered)). Neither
    side's guest is touched.
  - It acts only when the domain here is the destination of a post-copy migration that has not noticed the failure,
    the domain on O(source) is read as failed in post-copy, and the source's QEMU itself says it has paused the
    migration (C(postcopy-paused)); otherwise it changes nothing and says why. libvirt marks the source failed as
    soon as its own connection is lost, while its QEMU may still use the stream, and closing it then could make that
    QEMU take the move for failed and try to run the guest where it no longer is.
  - Only established connections of the domain's own QEMU on a port that QEMU listens on (its incoming migration
    port) are closed, with the kernel's socket destroy (what C(ss -K) does, asked over netlink), IPv4 and IPv6 alike
    (libvirt's default listener on C([::]) takes IPv4 connections as IPv6 sockets). It reads
    C(/proc), so it runs on the destination itself, with the default O(uri).
author:
  - drover.libvirt maintainers (!UNKNOWN)
extends_documentation_fragment:
  - drover.libvirt.connection
attributes:
  check_mode:
    support: full
    description: Reads both sides and lists the connections that would be closed.
  diff_mode:
    support: none
    description: Not supported; RV(closed) lists what goes.
options:
  name:
    description: Name of the domain.
    type: str
    required: true
    aliases: [domain]
  source:
    description:
      - The source of the failed migration, as a libvirt URI or a host name (see O(transport)).
      - The action plugin replaces an inventory host name by that host's C(drover_libvirt_uri) (used as the
        URI), else its C(drover_libvirt_address) or C(ansible_host).
    type: str
    required: true
  transport:
    description: Transport to O(source) when it is not a URI.
    type: str
    choices: [ssh, tcp, tls]
    default: ssh
  wait:
    description:
      - Seconds to wait for the source's QEMU to say it has paused the migration (its own stream failed), before
        anything is closed; then, after closing, for the destination's QEMU to pause the migration.
      - The source's QEMU notices a dead stream when its kernel stops retransmitting (C(net.ipv4.tcp_retries2);
        about 100 s at 8, see the hypervisor guide), often later than libvirt, which marks the move failed as soon
        as its own connection is lost.
    type: int
    default: 30
  migration_ports:
    description:
      - The destination's QEMU migration port range (qemu.conf C(migration_port_min)-C(migration_port_max)).
      - Only connections on a port of this range that the domain's QEMU listens on are closed; a console client
        (VNC, SPICE) of the same QEMU is left alone.
    type: str
    default: 49152-49215
requirements:
  - A destination kernel that can destroy sockets (C(CONFIG_INET_DIAG_DESTROY), as distribution kernels have)
seealso:
  - module: drover.libvirt.migration_job
  - module: drover.libvirt.migrate
"""

EXAMPLES = r"""
- name: Let the destination give up the stream the source already dropped
  drover.libvirt.migration_stream:
    name: db1
    source: hv1
  delegate_to: hv2
  register: stream

- name: Resume the migration from the source
  drover.libvirt.migration_job:
    name: db1
    state: recovered
    dest: hv2
    migration_port: "{{ stream.port }}"
  delegate_to: hv1
"""

RETURN = r"""
closed:
  description: The connections closed (in check mode, that would be), as local and peer C(ip:port) (an IPv6
    address in brackets; an IPv4 client of a dual-stack listener as its IPv4 address).
  returned: always
  type: list
  elements: dict
  sample: [{local: "10.0.0.2:49152", peer: "10.0.0.1:41516"}]
port:
  description: The port the domain's QEMU listens on for the migration, for O(drover.libvirt.migration_job#module:migration_port); null when none.
  returned: always
  type: int
  sample: 49152
reason:
  description: Why the connections were closed, or why nothing was.
  returned: always
  type: str
  sample: the source gave the stream up; the destination still waits on it
destination_state:
  description: The domain's state here afterwards, as C([state, reason]) numbers of libvirt.
  returned: always
  type: list
  elements: int
  sample: [1, 11]
source_state:
  description: The domain's state on O(source), as C([state, reason]) numbers of libvirt; null when it is not there.
  returned: always
  type: list
  elements: int
  sample: [3, 13]
source_qemu_status:
  description:
    - The source QEMU's own migration status (C(query-migrate)) while libvirt reads the move failed in post-copy;
      only C(postcopy-paused) lets the destination's end be closed. Null when it was not asked or did not answer.
  returned: always
  type: str
  sample: postcopy-paused
"""

import json
import time

from ansible_collections.drover.libvirt.plugins.module_utils._argspec import DOMAIN_NAME, TRANSPORT
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_enums import DOMAIN_PAUSED, PAUSED_POSTCOPY_FAILED
from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_module import LibvirtModule
from ansible_collections.drover.libvirt.plugins.module_utils._preflight_probes import parse_port_range
from ansible_collections.drover.libvirt.plugins.module_utils._stale_stream import (
    NOTICED, SOURCE_PAUSED, decide_close, destroy, incoming_streams)
from ansible_collections.drover.libvirt.plugins.module_utils._uri import destination_uri, parse_uri

PID_FILE = "/run/libvirt/qemu/%s.pid"


def qemu_pid(name):
    try:
        with open(PID_FILE % name) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        raise DroverError("the QEMU process of %r is not found here (%s)" % (name, PID_FILE % name))


def source_state(module, uri, name, uuid, wait):
    """([state, reason], QEMU migration status) of the same domain (name and UUID) on the source; (None, None)
    when it holds no such domain. While libvirt says the move failed in post-copy, the source's QEMU is asked,
    for up to `wait` seconds, until it says it has paused the migration (its own stream failed)."""
    conn = module.connect(uri, "source")
    try:
        dom = conn.lookupByName(name)
        if dom.UUIDString() != uuid:
            return None, None
        state = list(dom.state())
    except module.libvirt.libvirtError as exc:
        if exc.get_error_code() == module.libvirt.VIR_ERR_NO_DOMAIN:
            return None, None
        raise
    status = None
    if tuple(state) == (DOMAIN_PAUSED, PAUSED_POSTCOPY_FAILED) and module.libvirt_qemu is not None:
        deadline = time.monotonic() + wait
        while True:
            status = qemu_migration_status(module, dom)
            if status == SOURCE_PAUSED or time.monotonic() >= deadline:
                break
            time.sleep(2)
    return state, status


def qemu_migration_status(module, dom):
    """The QEMU's own migration status (query-migrate), or None when its monitor cannot be asked (a libvirt job
    holding it, or a QEMU whose main loop is blocked)."""
    try:
        reply = module.libvirt_qemu.qemuMonitorCommand(dom, '{"execute": "query-migrate"}', 0)
        return json.loads(reply).get("return", {}).get("status")
    except (module.libvirt.libvirtError, ValueError, AttributeError):
        return None


def main():
    module = LibvirtModule(
        argument_spec=dict(
            name=DOMAIN_NAME,
            source=dict(type="str", required=True),
            transport=TRANSPORT,
            wait=dict(type="int", default=30),
            migration_ports=dict(type="str", default="49152-49215"),
        ),
        ranges=dict(wait=(0, 3600)),
        supports_check_mode=True,
    )

    def work():
        p = module.params
        if parse_uri(p["uri"])["host"]:
            raise DroverError("migration_stream reads the destination's own processes: run it on the destination "
                              "with the default uri, not %s" % p["uri"])
        source_uri = destination_uri(p["source"], p["transport"], allow_insecure=p["allow_insecure_transport"],
                                     role="source")
        try:
            port_range = parse_port_range(p["migration_ports"])
        except ValueError:
            raise DroverError("migration_ports %r is not a port range LOW-HIGH within 1-65535" % p["migration_ports"])
        conn = module.connect(p["uri"], "hypervisor")
        dom = module.lookup(conn, p["name"])
        dest_state = list(dom.state())
        source, source_qemu = source_state(module, source_uri, p["name"], dom.UUIDString(), p["wait"])
        close, reason = decide_close(dest_state, source, source_qemu)
        try:
            pid = qemu_pid(p["name"])
        except DroverError:
            if close:
                raise
            pid = None  # not running here: nothing to close, no port to tell
        ports, streams = incoming_streams(pid, port_range) if pid else ([], [])
        result = {"changed": False, "closed": [], "reason": reason, "port": ports[0] if ports else None,
                  "destination_state": dest_state, "source_state": source, "source_qemu_status": source_qemu}
        if not close or not streams:
            if close:
                result["reason"] = reason + ", but no open stream was found"
            return result
        result.update(changed=True, closed=[{"local": s["local"], "peer": s["peer"]} for s in streams])
        if module.check_mode:
            return result
        try:
            refused = destroy(streams)
        except OSError as exc:
            raise DroverError("cannot ask the kernel to close the stream: %s; no guest was touched" % exc.strerror)
        # What the kernel closed leaves its table at once: a stream of ours still there was not closed.
        still = {s["inode"] for s in incoming_streams(pid, port_range)[1]}
        refused.update({"%s-%s" % (s["local"], s["peer"]): "still established after the destroy"
                        for s in streams if s["inode"] in still})
        if refused:
            raise DroverError("the kernel did not close %s (socket destroy needs CONFIG_INET_DIAG_DESTROY); no guest "
                              "was touched" % ", ".join("%s (%s)" % item for item in sorted(refused.items())),
                              closed=[c for c in result["closed"] if "%s-%s" % (c["local"], c["peer"]) not in refused])
        deadline = time.monotonic() + p["wait"]
        while tuple(dom.state()) not in NOTICED and time.monotonic() < deadline:
            time.sleep(0.5)
        result["destination_state"] = list(dom.state())
        if result["port"] and result["port"] not in incoming_streams(pid, port_range)[0]:
            module.warn("the destination's QEMU no longer listens on port %d: the source cannot resume the stream "
                        "there with QEMU's own command" % result["port"])
        if tuple(result["destination_state"]) not in NOTICED:
            module.warn("%s was closed but the destination has not paused the migration within %ss"
                        % (", ".join(s["local"] for s in streams), p["wait"]))
        return result

    module.run(work)


if __name__ == "__main__":
    main()
