# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""When the destination's half of a dead post-copy stream is closed, and which connections are."""

from __future__ import annotations

import ipaddress
import os
import socket
import struct

import pytest

from ansible_collections.drover.libvirt.plugins.module_utils._stale_stream import (
    decide_close, destroy_request, dump_request, incoming_streams, parse_dump, split_moves)

# QEMU 42 listens on 10.251.0.2:49152 (C000) and holds two streams on it from 10.251.0.1; it also
# listens for a VNC console on 5900 (170C), with a client connected; a connection of another process
# uses the migration port too.
TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0200FB0A:C000 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1000 1
   1: 0200FB0A:C000 0100FB0A:A22C 01 00000000:00000000 00:00000000 00000000     0        0 1001 1
   2: 0200FB0A:C000 0100FB0A:A22A 01 00000000:00000000 00:00000000 00000000     0        0 1002 1
   3: 0200FB0A:170C 0100FB0A:D000 01 00000000:00000000 00:00000000 00000000     0        0 1003 1
   4: 0200FB0A:C000 0300FB0A:A000 01 00000000:00000000 00:00000000 00000000     0        0 9999 1
   5: 0200FB0A:C000 0300FB0A:A001 06 00000000:00000000 00:00000000 00000000     0        0 1004 1
   6: 0200FB0A:170C 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1005 1
"""


def fake_proc(tmp_path, pid=42):
    fd = tmp_path / str(pid) / "fd"
    fd.mkdir(parents=True)
    (tmp_path / str(pid) / "net").mkdir()
    (tmp_path / str(pid) / "net" / "tcp").write_text(TCP)
    for i, inode in enumerate(("1000", "1001", "1002", "1003", "1004", "1005")):
        os.symlink("socket:[%s]" % inode, str(fd / str(i)))
    return str(tmp_path)


# QEMU 43 listens on [::]:49153 (libvirt's default, dual stack): an IPv4 source's stream is an IPv6 socket with
# a mapped address; another stream comes over IPv6 from fd00:1::1.
TCP6 = """  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:C001 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2000 1
   1: 0000000000000000FFFF00000200FB0A:C001 0000000000000000FFFF00000100FB0A:A22C 01 00000000:00000000 00:00000000 00000000     0        0 2001 1
   2: 010000FD000000000000000002000000:C001 010000FD000000000000000001000000:A22D 01 00000000:00000000 00:00000000 00000000     0        0 2002 1
"""


def fake_proc6(tmp_path, pid=43):
    fd = tmp_path / str(pid) / "fd"
    fd.mkdir(parents=True)
    (tmp_path / str(pid) / "net").mkdir()
    (tmp_path / str(pid) / "net" / "tcp").write_text(TCP.splitlines()[0] + "\n")
    (tmp_path / str(pid) / "net" / "tcp6").write_text(TCP6)
    for i, inode in enumerate(("2000", "2001", "2002")):
        os.symlink("socket:[%s]" % inode, str(fd / str(i)))
    return str(tmp_path)


def test_streams_of_a_dual_stack_listener_are_found_as_ipv6_sockets(tmp_path):
    ports, streams = incoming_streams(43, (49152, 49215), proc=fake_proc6(tmp_path))
    assert ports == [49153]
    assert sorted((s["local"], s["peer"], s["inode"], s["family"]) for s in streams) == [
        ("10.251.0.2:49153", "10.251.0.1:41516", 2001, 6), ("[fd00:1::2]:49153", "[fd00:1::1]:41517", 2002, 6)]


def test_only_established_streams_of_the_process_on_its_listening_migration_port(tmp_path):
    # The VNC client on 5900 is left alone, and 5900 is not given as the migration port.
    ports, streams = incoming_streams(42, (49152, 49215), proc=fake_proc(tmp_path))
    assert ports == [49152]
    assert sorted((s["peer"], s["inode"]) for s in streams) == [("10.251.0.1:41514", 1002), ("10.251.0.1:41516", 1001)]
    assert all(s["local"] == "10.251.0.2:49152" and s["family"] == 4 for s in streams)


RUNNING_POSTCOPY, RUNNING_POSTCOPY_FAILED = (1, 10), (1, 11)
PAUSED_POSTCOPY, PAUSED_POSTCOPY_FAILED = (3, 12), (3, 13)


@pytest.mark.parametrize("dest, source, close, why", [
    (RUNNING_POSTCOPY, PAUSED_POSTCOPY_FAILED, True, "gave the stream up"),
    (PAUSED_POSTCOPY, PAUSED_POSTCOPY_FAILED, True, "gave the stream up"),
    # The source still sends: a healthy post-copy, never cut.
    (RUNNING_POSTCOPY, PAUSED_POSTCOPY, False, "still runs"),
    (RUNNING_POSTCOPY, (1, 1), False, "still runs"),
    (RUNNING_POSTCOPY, None, False, "nothing to resume from"),
    # The destination noticed already: it can be resumed as it is.
    (RUNNING_POSTCOPY_FAILED, PAUSED_POSTCOPY_FAILED, False, "already paused"),
    (PAUSED_POSTCOPY_FAILED, PAUSED_POSTCOPY_FAILED, False, "already paused"),
    # Not an incoming post-copy migration at all.
    ((1, 1), PAUSED_POSTCOPY_FAILED, False, "not the destination"),
    ((5, 1), PAUSED_POSTCOPY_FAILED, False, "not the destination"),
])
def test_closing_only_when_the_source_failed_and_the_destination_still_waits(dest, source, close, why):
    decided, reason = decide_close(list(dest), list(source) if source else None)
    assert decided is close and why in reason


@pytest.mark.parametrize("source_qemu, why", [
    # libvirt lost its connection (keepalive) and says failed, but QEMU still sends, or is still switching over:
    # closing the destination's end could make it run the guest on the source again.
    ("postcopy-active", "status postcopy-active"),
    ("device", "status device"),
    (None, "its monitor did not answer"),
])
def test_never_closing_while_the_source_qemu_still_holds_the_stream(source_qemu, why):
    decided, reason = decide_close(list(RUNNING_POSTCOPY), list(PAUSED_POSTCOPY_FAILED), source_qemu)
    assert decided is False and why in reason and "has not given the stream up" in reason
    assert decide_close(list(RUNNING_POSTCOPY), list(PAUSED_POSTCOPY_FAILED), "postcopy-paused")[0] is True


def test_the_destroy_request_names_exactly_one_connection_and_its_cookie():
    message = destroy_request({"local": "10.251.0.2:49152", "peer": "10.251.0.1:41516"}, (0x1234, 0x5678), seq=7)
    length, kind, flags, seq, _pid = struct.unpack_from("=IHHII", message)
    assert (length, kind, flags, seq) == (len(message), 21, 0x5, 7)  # SOCK_DESTROY, request + ack
    family, protocol, _ext, _pad, states = struct.unpack_from("=BBBBI", message, 16)
    assert (family, protocol, states) == (socket.AF_INET, socket.IPPROTO_TCP, 1 << 1)
    sport, dport = struct.unpack_from(">HH", message, 24)
    assert (sport, dport) == (49152, 41516)
    assert message[28:32] == socket.inet_aton("10.251.0.2") and message[44:48] == socket.inet_aton("10.251.0.1")
    # The socket's own cookie, so the kernel never falls back to the listener on the same port.
    assert struct.unpack_from("=III", message, 60) == (0, 0x1234, 0x5678)
    assert len(message) == 72


@pytest.mark.parametrize("stream, local, peer", [
    ({"local": "10.251.0.2:49153", "peer": "10.251.0.1:41516", "family": 6},
     ipaddress.IPv6Address("::ffff:10.251.0.2").packed, ipaddress.IPv6Address("::ffff:10.251.0.1").packed),
    ({"local": "[fd00:1::2]:49153", "peer": "[fd00:1::1]:41516", "family": 6},
     ipaddress.IPv6Address("fd00:1::2").packed, ipaddress.IPv6Address("fd00:1::1").packed),
])
def test_an_ipv6_socket_is_named_with_its_16_byte_addresses(stream, local, peer):
    message = destroy_request(stream, (0x1234, 0x5678))
    family, protocol = struct.unpack_from("=BB", message, 16)
    assert (family, protocol) == (socket.AF_INET6, socket.IPPROTO_TCP)
    assert struct.unpack_from(">HH", message, 24) == (49153, 41516)
    assert message[28:44] == local and message[44:60] == peer
    assert struct.unpack_from("=III", message, 60) == (0, 0x1234, 0x5678)
    # A link-local stream is named with the interface the kernel's dump gave it.
    message = destroy_request(dict(stream, local="[fe80::2]:49153", peer="[fe80::1]:41516"), (1, 2), interface=3)
    assert struct.unpack_from("=III", message, 60) == (3, 1, 2)


def _diag_reply(entries, done=True):
    """A netlink reply as the kernel writes it: one SOCK_DIAG_BY_FAMILY message per (inode, cookie)."""
    data = b""
    for inode, cookie in entries:
        body = struct.pack("=BBBB", socket.AF_INET, 1, 0, 0) + struct.pack(">HH16s16s", 49152, 41516, b"", b"")
        body += struct.pack("=III", 3, *cookie) + struct.pack("=IIIII", 0, 0, 0, 0, inode)  # bound to interface 3
        data += struct.pack("=IHHII", 16 + len(body), 20, 2, 1, 0) + body
    if done:
        data += struct.pack("=IHHII", 20, 3, 2, 1, 0) + struct.pack("=i", 0)
    return data


def test_the_dump_gives_each_socket_cookie_by_inode():
    cookies, done = parse_dump(_diag_reply([(1001, (7, 0)), (1002, (8, 1))], done=False))
    assert cookies == {1001: (3, (7, 0)), 1002: (3, (8, 1))} and done is False
    assert parse_dump(_diag_reply([]))[1] is True
    with pytest.raises(OSError):
        parse_dump(struct.pack("=IHHII", 20, 2, 0, 1, 0) + struct.pack("=i", -95))  # EOPNOTSUPP


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
def test_the_dump_request_lists_established_tcp_sockets_of_a_family(family):
    message = dump_request(family=family)
    length, kind, flags = struct.unpack_from("=IHH", message)
    assert (length, kind, flags) == (len(message), 20, 0x301)
    assert struct.unpack_from("=BBBBI", message, 16) == (family, socket.IPPROTO_TCP, 0, 0, 1 << 1)


@pytest.mark.parametrize("bad", [
    {"local": "10.251.0.2;reboot:49152", "peer": "10.251.0.1:1"},
    {"local": "10.251.0.2:49152", "peer": "10.251.0.1:$(id)"},
    {"local": "10.251.0.2:0", "peer": "10.251.0.1:1"},
    {"local": "10.251.0.2:49152", "peer": "::1:1"},
    {"local": "[::1]:49152", "peer": "[::1]:1"},  # an IPv6 address for an IPv4 socket
    {"local": "[::1;id]:49152", "peer": "[::1]:1", "family": 6},
    {"local": "[::1]:49152", "peer": "10.0.0.1:1", "family": 5},
])
def test_anything_but_an_address_of_the_socket_family_and_port_is_refused(bad):
    with pytest.raises(ValueError):
        destroy_request(bad, (1, 2))


def _dom(name, uuid, state, reason):
    return {"name": name, "uuid": uuid, "state": state, "state_reason": reason, "active": state != "shutoff"}


def test_a_move_split_between_two_hosts_is_found_with_its_source_and_destination():
    fleet = {
        "hv1": {"domains": [_dom("db1", "u1", "paused", 13), _dom("web1", "u2", "running", 1)]},
        "hv2": {"domains": [_dom("db1", "u1", "running", 10)]},
        "hv3": {"domains": [_dom("app1", "u3", "running", 11), _dom("web2", "u4", "paused", 12)]},
    }
    assert split_moves(fleet) == [{"domain": "db1", "uuid": "u1", "source": "hv1", "destination": "hv2"}]
    assert split_moves(fleet, hosts=["hv2"]) == split_moves(fleet)
    assert split_moves(fleet, hosts=["hv3"]) == []


def test_half_a_split_or_more_than_one_is_left_for_a_person():
    one_half = {"hv1": {"domains": [_dom("db1", "u1", "paused", 13)]}, "hv2": None}
    assert split_moves(one_half) == []
    two_destinations = {"hv1": {"domains": [_dom("db1", "u1", "paused", 13)]},
                        "hv2": {"domains": [_dom("db1", "u1", "running", 10)]},
                        "hv3": {"domains": [_dom("db1", "u1", "running", 11)]}}
    assert split_moves(two_destinations) == []
    # A healthy post-copy (source paused with reason "post-copy") is not split.
    healthy = {"hv1": {"domains": [_dom("db1", "u1", "paused", 12)]},
               "hv2": {"domains": [_dom("db1", "u1", "running", 10)]}}
    assert split_moves(healthy) == []


def test_a_move_stuck_in_its_switch_over_is_found_apart_from_the_split_ones():
    """The source paused "post-copy failed", the destination paused as an incoming migration that never started:
    not a split to finish (the destination has no device state), listed with stuck=True only."""
    fleet = {"hv1": {"domains": [_dom("db1", "u1", "paused", 13), _dom("web1", "u2", "paused", 13)]},
             "hv2": {"domains": [_dom("db1", "u1", "paused", 2), _dom("web1", "u2", "running", 11)]}}
    assert split_moves(fleet, stuck=True) == [{"domain": "db1", "uuid": "u1", "source": "hv1", "destination": "hv2"}]
    assert split_moves(fleet) == [{"domain": "web1", "uuid": "u2", "source": "hv1", "destination": "hv2"}]
    # An incoming pre-copy (destination paused "migration", source running) is neither.
    moving = {"hv1": {"domains": [_dom("db1", "u1", "running", 1)]}, "hv2": {"domains": [_dom("db1", "u1", "paused", 2)]}}
    assert split_moves(moving, stuck=True) == [] and split_moves(moving) == []
