# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The destination's half of a post-copy stream whose source has already given it up.

When the link dies during post-copy, the source's QEMU fails the stream (postcopy-paused) once its
kernel stops retransmitting. The destination's QEMU only reads from that stream: if it has nothing
unacknowledged in flight, its kernel never notices, the connection stays ESTABLISHED for good, and
QEMU keeps waiting on it - it ignores the source's resume ("extra incoming migration connection"),
and libvirt's incoming migration job holds the domain, so libvirt cannot pause it either. Closing
that connection on the destination (the kernel's socket destroy, as ``ss -K`` does) is what makes
the destination's QEMU pause the migration so the source can resume it. Nothing else is touched:
only ESTABLISHED connections of the domain's own QEMU on a port that QEMU listens on (the incoming
migration port), and only once the source's domain is read as failed in post-copy.
Private to drover.libvirt; no compatibility promise.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct

from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_enums import (
    DOMAIN_PAUSED, DOMAIN_RUNNING, PAUSED_POSTCOPY, PAUSED_POSTCOPY_FAILED, RUNNING_POSTCOPY, RUNNING_POSTCOPY_FAILED)
from ansible_collections.drover.libvirt.plugins.module_utils._postcopy import qemu_sockets

ESTABLISHED, LISTEN = "01", "0A"
# The destination still runs the incoming post-copy migration as if its stream were alive.
WAITING = {(DOMAIN_RUNNING, RUNNING_POSTCOPY), (DOMAIN_PAUSED, PAUSED_POSTCOPY)}
# The destination has noticed: its migration is paused, ready for the source to resume it.
NOTICED = {(DOMAIN_RUNNING, RUNNING_POSTCOPY_FAILED), (DOMAIN_PAUSED, PAUSED_POSTCOPY_FAILED)}


def incoming_streams(pid, proc="/proc"):
    """(ports QEMU `pid` listens on, its established connections on them as [{local, peer}] of 'ip:port')."""
    sockets = qemu_sockets(pid, proc)
    ports = sorted({local[1] for state, local, _peer in sockets if state == LISTEN})
    return ports, [{"local": "%s:%d" % local, "peer": "%s:%d" % peer}
                   for state, local, peer in sockets if state == ESTABLISHED and local[1] in ports]


def decide_close(dest_state, source_state):
    """(close, why) from the (state, reason) pairs of the destination's and the source's domain."""
    dest_state, source_state = tuple(dest_state), tuple(source_state) if source_state else None
    if dest_state in NOTICED:
        return False, "the destination has already paused the failed post-copy migration; it can be resumed"
    if dest_state not in WAITING:
        return False, "the domain is not the destination of a post-copy migration here"
    if source_state is None:
        return False, "the source holds no such domain: there is nothing to resume from"
    if source_state != (DOMAIN_PAUSED, PAUSED_POSTCOPY_FAILED):
        return False, "the source still runs the post-copy migration; its stream is alive"
    return True, "the source gave the stream up; the destination still waits on it"


# Netlink: the kernel's socket-diagnostics family and its "destroy this socket" request.
NETLINK_SOCK_DIAG = 4
SOCK_DESTROY = 21
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NLMSG_ERROR = 2
TCP_ESTABLISHED = 1
NO_COOKIE = 0xFFFFFFFF


def _address(text):
    """'ip:port' -> (packed IPv4 address, port); anything else is refused."""
    ip, port = text.rsplit(":", 1)
    port = int(port)
    if not 0 < port < 65536:
        raise ValueError("port out of range: %r" % text)
    return ipaddress.IPv4Address(ip).packed, port


def destroy_request(stream, seq=1):
    """The netlink message (SOCK_DESTROY of one established TCP connection) for {local, peer} 'ip:port'."""
    src, sport = _address(stream["local"])
    dst, dport = _address(stream["peer"])
    sockid = struct.pack(">HH", sport, dport) + src.ljust(16, b"\0") + dst.ljust(16, b"\0")
    sockid += struct.pack("=III", 0, NO_COOKIE, NO_COOKIE)
    body = struct.pack("=BBBBI", socket.AF_INET, socket.IPPROTO_TCP, 0, 0, 1 << TCP_ESTABLISHED) + sockid
    return struct.pack("=IHHII", 16 + len(body), SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, seq, 0) + body


def destroy(stream):
    """Close one established TCP connection of this network namespace, as `ss -K` does; OSError when the
    kernel refuses (EOPNOTSUPP without CONFIG_INET_DIAG_DESTROY, ENOENT when it is gone already)."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG) as nl:
        nl.settimeout(5)
        nl.send(destroy_request(stream))
        reply = nl.recv(4096)
    kind = struct.unpack_from("=H", reply, 4)[0]
    if kind == NLMSG_ERROR:
        error = struct.unpack_from("=i", reply, 16)[0]
        if error:
            raise OSError(-error, os.strerror(-error))


def _split_role(dom):
    """'out' for the source of a move that failed in post-copy, 'in' for its destination, else None."""
    state, reason = dom.get("state"), dom.get("state_reason")
    if state == "paused" and reason == PAUSED_POSTCOPY_FAILED:
        return "out"
    if state == "running" and reason in (RUNNING_POSTCOPY, RUNNING_POSTCOPY_FAILED):
        return "in"
    return None


def split_moves(fleet, hosts=None):
    """Moves that failed in post-copy, to finish forward: [{domain, uuid, source, destination}], by domain.

    fleet: {host: hypervisor_info result}. A move is split when a domain is paused on one host with reason
    "post-copy failed" and the same UUID runs on exactly one other host with reason "post-copy" or "post-copy
    failed". With `hosts`, only moves whose source or destination is one of them.
    """
    found = {}
    for host in sorted(fleet):
        doms = fleet[host].get("domains") if isinstance(fleet[host], dict) else None
        for dom in doms if isinstance(doms, list) else []:
            role = _split_role(dom) if isinstance(dom, dict) and isinstance(dom.get("uuid"), str) else None
            if role:
                found.setdefault(dom["uuid"], {"name": dom.get("name"), "out": [], "in": []})[role].append(host)
    moves = []
    for uuid, seen in found.items():
        if len(seen["out"]) != 1 or len(seen["in"]) != 1:
            continue  # half of it is not seen (a host not read), or it is not one move: left for a person
        source, destination = seen["out"][0], seen["in"][0]
        if hosts is None or source in hosts or destination in hosts:
            moves.append({"domain": seen["name"], "uuid": uuid, "source": source, "destination": destination})
    return sorted(moves, key=lambda m: (m["domain"] or "", m["uuid"]))
