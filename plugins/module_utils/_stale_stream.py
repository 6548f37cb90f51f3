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

import errno
import ipaddress
import os
import socket
import struct

from ansible_collections.drover.libvirt.plugins.module_utils._libvirt_enums import (
    DOMAIN_PAUSED, DOMAIN_RUNNING, PAUSED_MIGRATION, PAUSED_POSTCOPY, PAUSED_POSTCOPY_FAILED, RUNNING_POSTCOPY,
    RUNNING_POSTCOPY_FAILED)
from ansible_collections.drover.libvirt.plugins.module_utils._postcopy import qemu_sockets

ESTABLISHED, LISTEN = "01", "0A"
# The destination still runs the incoming post-copy migration as if its stream were alive.
WAITING = {(DOMAIN_RUNNING, RUNNING_POSTCOPY), (DOMAIN_PAUSED, PAUSED_POSTCOPY)}
# The destination has noticed: its migration is paused, ready for the source to resume it.
NOTICED = {(DOMAIN_RUNNING, RUNNING_POSTCOPY_FAILED), (DOMAIN_PAUSED, PAUSED_POSTCOPY_FAILED)}


def _endpoint(address):
    """('ip', port) as 'ip:port', an IPv6 address in brackets."""
    ip, port = address
    return ("[%s]:%d" if ":" in ip else "%s:%d") % (ip, port)


def incoming_streams(pid, port_range, proc="/proc"):
    """(ports of `port_range` (low, high) QEMU `pid` listens on, its established connections on them as
    [{local, peer, inode, family}], 'ip:port' (an IPv6 address in brackets), family 4 or 6: the kernel's table
    the socket is in). Only the migration port range counts: the same QEMU may listen for a VNC or SPICE
    console, whose clients are not to be touched."""
    low, high = port_range
    sockets = qemu_sockets(pid, proc)
    ports = sorted({local[1] for state, local, _peer, _inode, _family in sockets
                    if state == LISTEN and low <= local[1] <= high})
    return ports, [{"local": _endpoint(local), "peer": _endpoint(peer), "inode": inode, "family": family}
                   for state, local, peer, inode, family in sockets if state == ESTABLISHED and local[1] in ports]


# The source QEMU's own migration status once its stream has failed: it waits to be resumed.
SOURCE_PAUSED = "postcopy-paused"


def decide_close(dest_state, source_state, source_qemu=SOURCE_PAUSED):
    """(close, why) from the (state, reason) pairs of the destination's and the source's domain, and the
    source QEMU's own migration status (query-migrate; None when it could not be asked).

    libvirt marks the source "post-copy failed" as soon as its own connection to the destination is lost
    (keepalive), while its QEMU may still be sending on the stream, or be in the middle of the switch to
    post-copy. Closing the destination's end then breaks a stream the source still uses: its QEMU may
    take the move for failed and try to run the guest where it no longer is. So only a source QEMU that
    says it has paused the migration lets the destination's end be closed."""
    dest_state, source_state = tuple(dest_state), tuple(source_state) if source_state else None
    if dest_state in NOTICED:
        return False, "the destination has already paused the failed post-copy migration; it can be resumed"
    if dest_state not in WAITING:
        return False, "the domain is not the destination of a post-copy migration here"
    if source_state is None:
        return False, "the source holds no such domain: there is nothing to resume from"
    if source_state != (DOMAIN_PAUSED, PAUSED_POSTCOPY_FAILED):
        return False, "the source still runs the post-copy migration; its stream is alive"
    if source_qemu != SOURCE_PAUSED:
        return False, ("libvirt gave the move up on the source, but its QEMU has not given the stream up (%s); it "
                       "does when its kernel stops retransmitting (net.ipv4.tcp_retries2): run this again then"
                       % ("status %s" % source_qemu if source_qemu
                          else "its monitor did not answer, or libvirt_qemu is missing"))
    return True, "the source gave the stream up; the destination still waits on it"


# Netlink: the kernel's socket-diagnostics family, its dump and its "destroy this socket" request.
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY, SOCK_DESTROY = 20, 21
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
TCP_ESTABLISHED = 1
NO_COOKIE = (0xFFFFFFFF, 0xFFFFFFFF)
_HEADER = struct.Struct("=IHHII")
_REQUEST = struct.Struct("=BBBBI")
_SOCKID = struct.Struct(">HH16s16s")
_SOCKID_TAIL = struct.Struct("=III")  # interface, cookie (two words)
_DIAG_MSG = struct.Struct("=BBBB")
_DIAG_MSG_TAIL = struct.Struct("=IIIII")  # expires, rqueue, wqueue, uid, inode


def _address(text, family):
    """'ip:port' (IPv6: '[ip]:port') -> (the address packed for inet_diag's 16 bytes, port); anything else,
    or an address of the other family, is refused. An IPv4 address of an IPv6 socket is mapped (::ffff:a.b.c.d)."""
    ip, port = text.rsplit(":", 1)
    port = int(port)
    if not 0 < port < 65536:
        raise ValueError("port out of range: %r" % text)
    if ip.startswith("[") and ip.endswith("]"):
        if family != 6:
            raise ValueError("an IPv6 address for an IPv4 socket: %r" % text)
        return ipaddress.IPv6Address(ip[1:-1]).packed, port
    packed = ipaddress.IPv4Address(ip).packed
    return (b"\0" * 10 + b"\xff\xff" + packed if family == 6 else packed), port


def _family(stream):
    family = stream.get("family", 4)
    if family not in (4, 6):
        raise ValueError("family must be 4 or 6: %r" % (family,))
    return family


def _request(kind, flags, sockid, seq, family):
    body = _REQUEST.pack(family, socket.IPPROTO_TCP, 0, 0, 1 << TCP_ESTABLISHED) + sockid
    return _HEADER.pack(_HEADER.size + len(body), kind, flags, seq, 0) + body


def dump_request(seq=1, family=socket.AF_INET):
    """The netlink message that lists every established TCP socket of `family` in this network namespace."""
    sockid = _SOCKID.pack(0, 0, b"", b"") + _SOCKID_TAIL.pack(0, *NO_COOKIE)
    return _request(SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, sockid, seq, family)


def destroy_request(stream, cookie, seq=1, interface=0):
    """The netlink message that destroys the one socket {local, peer, family} whose cookie is `cookie` (bound to
    `interface`, as the kernel's dump gave it).

    The cookie makes the kernel refuse any other socket: without it, a connection gone meanwhile would
    let the lookup fall back to the listener on the same port, and destroy that."""
    family = _family(stream)
    src, sport = _address(stream["local"], family)
    dst, dport = _address(stream["peer"], family)
    sockid = _SOCKID.pack(sport, dport, src, dst) + _SOCKID_TAIL.pack(interface, *cookie)
    return _request(SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, sockid, seq,
                    socket.AF_INET6 if family == 6 else socket.AF_INET)


def parse_dump(data):
    """{inode: (interface, cookie)} of the sockets in one netlink reply; (…, True) once the dump is done."""
    cookies, done, offset = {}, False, 0
    while offset + _HEADER.size <= len(data):
        length, kind = _HEADER.unpack_from(data, offset)[:2]
        if length < _HEADER.size:
            break
        if kind == NLMSG_DONE:
            done = True
        elif kind == NLMSG_ERROR:
            error = struct.unpack_from("=i", data, offset + _HEADER.size)[0]
            if error:
                raise OSError(-error, os.strerror(-error))
            done = True
        elif kind == SOCK_DIAG_BY_FAMILY:
            at = offset + _HEADER.size + _DIAG_MSG.size
            # The interface too: a link-local IPv6 socket is found only with the interface it is bound to.
            interface, *cookie = _SOCKID_TAIL.unpack_from(data, at + _SOCKID.size)
            inode = _DIAG_MSG_TAIL.unpack_from(data, at + _SOCKID.size + _SOCKID_TAIL.size)[4]
            cookies[inode] = (interface, tuple(cookie))
        offset += (length + 3) & ~3
    return cookies, done


def _netlink():
    nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
    nl.settimeout(5)
    return nl


def socket_cookies():
    """{inode: (interface, cookie)} of every established TCP socket of this network namespace, IPv4 and IPv6."""
    cookies = {}
    with _netlink() as nl:
        for seq, family in enumerate((socket.AF_INET, socket.AF_INET6), 1):
            nl.send(dump_request(seq, family))
            done = False
            while not done:
                # A kernel without IPv6 answers its dump empty; any error fails the whole read, so a stream
                # is never taken for gone (and counted closed) because its family could not be listed.
                found, done = parse_dump(nl.recv(65536))
                cookies.update(found)
    return cookies


def destroy(streams):
    """Close these established connections ({local, peer, inode, family}) of this network namespace, as `ss -K` does.

    Returns {'local-peer': why} for those the kernel refused (EOPNOTSUPP without CONFIG_INET_DIAG_DESTROY);
    one gone already counts as closed."""
    cookies = socket_cookies()
    refused = {}
    with _netlink() as nl:
        for seq, stream in enumerate(streams, 1):
            found = cookies.get(stream["inode"])
            if found is None:
                continue  # not established any more: closed as asked (the caller reads /proc again to be sure)
            interface, cookie = found
            nl.send(destroy_request(stream, cookie, seq, interface))
            reply = nl.recv(4096)
            if _HEADER.unpack_from(reply)[1] == NLMSG_ERROR:
                error = -struct.unpack_from("=i", reply, _HEADER.size)[0]
                if error and error != errno.ENOENT:
                    refused["%s-%s" % (stream["local"], stream["peer"])] = os.strerror(error)
    return refused


def _split_role(dom):
    """'out' for the source of a move that failed in post-copy, 'in' for its destination, else None."""
    state, reason = dom.get("state"), dom.get("state_reason")
    if state == "paused" and reason == PAUSED_POSTCOPY_FAILED:
        return "out"
    if state == "running" and reason in (RUNNING_POSTCOPY, RUNNING_POSTCOPY_FAILED):
        return "in"
    return None


def _stuck_role(dom):
    """'out' for the source of a move stuck in its switch-over to post-copy, 'in' for its destination, else None."""
    state, reason = dom.get("state"), dom.get("state_reason")
    if state == "paused" and reason == PAUSED_POSTCOPY_FAILED:
        return "out"
    if state == "paused" and reason == PAUSED_MIGRATION:
        return "in"
    return None


def split_moves(fleet, hosts=None, stuck=False):
    """Moves that failed in post-copy, to finish forward: [{domain, uuid, source, destination}], by domain.

    fleet: {host: hypervisor_info result}. A move is split when a domain is paused on one host with reason
    "post-copy failed" and the same UUID runs on exactly one other host with reason "post-copy" or "post-copy
    failed". With `hosts`, only moves whose source or destination is one of them.

    With `stuck`, the moves stuck in their switch-over to post-copy instead: the same source, and the same UUID
    paused on exactly one other host as an incoming migration that never started (reason "migration") - the
    destination never received the guest's device state (see _migration_rules.stuck_text).
    """
    role_of = _stuck_role if stuck else _split_role
    found = {}
    for host in sorted(fleet):
        doms = fleet[host].get("domains") if isinstance(fleet[host], dict) else None
        for dom in doms if isinstance(doms, list) else []:
            role = role_of(dom) if isinstance(dom, dict) and isinstance(dom.get("uuid"), str) else None
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
