import os

from ansible_collections.drover.libvirt.plugins.module_utils._postcopy import (
    PostcopyRecovery, StreamDrain, host_addresses, migration_port, qemu_peers, qemu_uri, queued_bytes, stream_address)

TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100FB0A:C350 0200FB0A:C000 01 00000000:00000000 00:00000000 00000000     0        0 1111 1
   1: 0100FB0A:C351 0200FB0A:C000 01 00000000:00000000 00:00000000 00000000     0        0 2222 1
   2: 0100FB0A:C352 0200FB0A:C001 01 00000000:00000000 00:00000000 00000000     0        0 3333 1
   3: 0100FB0A:C353 0300FB0A:C000 01 00000000:00000000 00:00000000 00000000     0        0 4444 1
   4: 0100FB0A:C354 0200FB0A:C005 0A 00000000:00000000 00:00000000 00000000     0        0 5555 1
   5: 0100FB0A:C355 0200FB0A:C006 01 00000000:00000000 00:00000000 00000000     0        0 9999 1
"""


def fake_proc(tmp_path, pid=42):
    fd = tmp_path / str(pid) / "fd"
    fd.mkdir(parents=True)
    (tmp_path / str(pid) / "net").mkdir()
    (tmp_path / str(pid) / "net" / "tcp").write_text(TCP)
    for i, inode in enumerate(("1111", "2222", "3333", "4444", "5555")):
        os.symlink("socket:[%s]" % inode, str(fd / str(i)))
    os.symlink("/dev/null", str(fd / "9"))
    return str(tmp_path)


def test_peers_are_the_established_connections_of_the_process(tmp_path):
    peers = qemu_peers(42, proc=fake_proc(tmp_path))
    # 5555 is listening (0A), 9999 belongs to another process
    assert sorted(peers) == [("10.251.0.2", 49152), ("10.251.0.2", 49152), ("10.251.0.2", 49153),
                             ("10.251.0.3", 49152)]


def test_peers_over_ipv6_are_read_too(tmp_path):
    proc = fake_proc(tmp_path)
    (tmp_path / "42" / "net" / "tcp6").write_text(
        TCP.splitlines()[0] + "\n"
        "   0: 0000000000000000FFFF00000100FB0A:C356 0000000000000000FFFF00000200FB0A:C000 01 00000000:00000000 "
        "00:00000000 00000000     0        0 6666 1\n"
        "   1: 010000FD000000000000000001000000:C357 010000FD000000000000000002000000:C000 01 00000000:00000000 "
        "00:00000000 00000000     0        0 7777 1\n")
    os.symlink("socket:[6666]", str(tmp_path / "42" / "fd" / "10"))
    os.symlink("socket:[7777]", str(tmp_path / "42" / "fd" / "11"))
    peers = qemu_peers(42, proc=proc)
    assert ("fd00:1::2", 49152) in peers
    assert migration_port(peers, "10.251.0.2") == 49152 and peers.count(("10.251.0.2", 49152)) == 3


def test_the_port_most_streams_go_to_is_the_migration_port(tmp_path):
    peers = qemu_peers(42, proc=fake_proc(tmp_path))
    assert migration_port(peers, "10.251.0.2") == 49152
    assert migration_port(peers, "10.251.0.9") is None


class _Error(Exception):
    def get_error_code(self):
        return 38  # VIR_ERR_SYSTEM_ERROR: the daemon did not answer


class _Libvirt:
    libvirtError = _Error
    VIR_ERR_NO_DOMAIN = 42
    VIR_ERR_SYSTEM_ERROR = 38


class _Dom:
    def __init__(self, state):
        self._state = state

    def state(self):
        return list(self._state)


class _Conn:
    def __init__(self, dom):
        self.dom = dom

    def lookupByName(self, _name):
        return self.dom

    def getLibVersion(self):
        return 11003000  # its POSTCOPY_RESUME crashes the destination: QEMU's own resume is used


class _Qemu:
    """The source QEMU's monitor: paused until a resume, then waiting for the destination's handshake."""

    def __init__(self):
        self.status, self.commands = "postcopy-paused", []

    def qemuMonitorCommand(self, _dom, command, _flags):
        self.commands.append(command)
        if '"migrate"' in command:
            self.status = "postcopy-recover"
        return '{"return": {"status": "%s"}}' % self.status


def test_a_resume_the_destination_never_takes_is_said_so():
    now = [0.0]
    qemu = _Qemu()
    recovery = PostcopyRecovery(_Dom((3, 12)), _Conn(_Dom((1, 11))), "c1", _Libvirt, qemu,
                                sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0])
    assert recovery.run(30, lambda: None, ("10.251.0.1", 49152)) is False
    assert recovery.steps[0] == "QEMU migrate resume to 10.251.0.1:49152"
    # No second resume while the first still waits for its handshake.
    assert sum('"migrate"' in c for c in qemu.commands) == 1
    assert recovery.steps[-1] == ("not landed after 30s: the source's QEMU is still in postcopy-recover, waiting for "
                                  "the destination's QEMU to take the resumed stream")


def test_a_resume_that_lands_is_reported_landed():
    now = [0.0]
    dest = _Dom((1, 11))
    qemu = _Qemu()
    source = _Dom((3, 12))

    def sleep(seconds):
        now[0] += seconds
        if qemu.status == "postcopy-recover":
            source._state, dest._state = (5, 2), (1, 1)  # the source shut off, the destination runs on its own

    recovery = PostcopyRecovery(source, _Conn(dest), "c1", _Libvirt, qemu, sleep=sleep, clock=lambda: now[0])
    assert recovery.run(30, lambda: None, ("10.251.0.1", 49152)) is True
    assert recovery.steps[-1].startswith("landed on the destination after")


def test_a_source_gone_while_the_destination_waits_in_postcopy_is_lost_within_seconds():
    """The source's QEMU crashed (shut off) while the destination still waits for pages: nothing can resume the move,
    so the recovery stops after a few seconds instead of polling for its whole wait."""
    now = [0.0]
    qemu = _Qemu()
    qemu.status = "failed"
    recovery = PostcopyRecovery(_Dom((5, 3)), _Conn(_Dom((1, 11))), "c1", _Libvirt, qemu,
                                sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0])
    assert recovery.run(300, lambda: None, ("10.251.0.1", 49152)) is False
    assert now[0] < 20
    assert "the memory that had not crossed is lost" in recovery.steps[-1]
    assert not [c for c in qemu.commands if '"migrate"' in c]


def test_a_destination_that_notes_the_finish_late_is_not_taken_for_lost():
    """libvirt may report the destination in post-copy for a moment after the source finished: that is a landing."""
    now = [0.0]
    dest = _Dom((1, 10))

    def sleep(seconds):
        now[0] += seconds
        if now[0] >= 4:
            dest._state = (1, 2)  # running, migrated

    recovery = PostcopyRecovery(_Dom((5, 4)), _Conn(dest), "c1", _Libvirt, None, sleep=sleep, clock=lambda: now[0])
    assert recovery.run(300, lambda: None, (None, None)) is True


def test_a_stream_over_ipv6_is_found_and_resumed_with_a_bracketed_uri(tmp_path):
    """A migration network on IPv6 addresses: the stream's end is matched among every address of the destination
    (IPv4 first), and QEMU's resume is aimed at [address]:port."""
    proc = fake_proc(tmp_path)
    (tmp_path / "42" / "net" / "tcp6").write_text(
        TCP.splitlines()[0] + "\n"
        "   1: 010000FD000000000000000001000000:C357 010000FD000000000000000002000000:C000 01 00000000:00000000 "
        "00:00000000 00000000     0        0 7777 1\n")
    os.symlink("socket:[7777]", str(tmp_path / "42" / "fd" / "11"))
    peers = qemu_peers(42, proc=proc)
    assert stream_address(peers, ["fd00:1::2"]) == ("fd00:1::2", 49152)
    assert stream_address(peers, ["10.251.0.9"]) == (None, None)
    assert qemu_uri("fd00:1::2", 49152) == "tcp:[fd00:1::2]:49152"
    assert qemu_uri("10.251.0.2", 49152) == "tcp:10.251.0.2:49152"
    assert host_addresses("127.0.0.1") == ["127.0.0.1"] and host_addresses("::1") == ["::1"]

    now = [0.0]
    qemu = _Qemu()
    recovery = PostcopyRecovery(_Dom((3, 12)), _Conn(_Dom((1, 11))), "c1", _Libvirt, qemu,
                                sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0])
    recovery.run(5, lambda: None, ("fd00:1::2", 49152))
    assert recovery.steps[0] == "QEMU migrate resume to [fd00:1::2]:49152"
    assert '"uri": "tcp:[fd00:1::2]:49152"' in [c for c in qemu.commands if '"migrate"' in c][0]


def test_a_move_whose_destination_never_got_the_device_state_is_stuck_not_resumed():
    """Source paused "post-copy failed" with its QEMU postcopy-paused, destination paused as an incoming migration
    that never started: no resume is tried (it needs a destination in post-copy) and the recovery says so at once."""
    now = [0.0]
    qemu = _Qemu()
    recovery = PostcopyRecovery(_Dom((3, 13)), _Conn(_Dom((3, 2))), "c1", _Libvirt, qemu,
                                sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0])
    assert recovery.run(300, lambda: None, ("10.251.0.2", 49152)) is False
    assert recovery.stuck and now[0] < 5
    assert "stuck in the switch-over to post-copy" in recovery.steps[-1]
    assert not [c for c in qemu.commands if '"migrate"' in c]


def test_a_source_still_sending_is_not_taken_for_stuck():
    """libvirt gave up (keepalive) but the source's QEMU still sends: the device state may yet arrive."""
    now = [0.0]
    qemu = _Qemu()
    qemu.status = "postcopy-active"
    recovery = PostcopyRecovery(_Dom((3, 13)), _Conn(_Dom((3, 2))), "c1", _Libvirt, qemu,
                                sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0])
    assert recovery.run(20, lambda: None, ("10.251.0.2", 49152)) is False
    assert not recovery.stuck and recovery.steps[-1].startswith("not landed after 20s")


def test_queued_bytes_sums_what_the_peer_has_not_acknowledged(tmp_path):
    proc = fake_proc(tmp_path)
    table = (tmp_path / "42" / "net" / "tcp").read_text().replace(
        "0200FB0A:C000 01 00000000:00000000", "0200FB0A:C000 01 00100000:00000000", 1)
    (tmp_path / "42" / "net" / "tcp").write_text(table)
    # 1 MiB queued on the first stream to .2, nothing on the others; the listener and .3 do not count.
    assert queued_bytes(42, ["10.251.0.2"], proc=proc) == 1 << 20
    assert queued_bytes(42, ["10.251.0.9"], proc=proc) == 0
    assert queued_bytes(41, ["10.251.0.2"], proc=proc) is None


class _SlowDom:
    """A source domain whose speed limit the drain sets and puts back."""

    def __init__(self):
        self.speeds = []

    def migrateGetMaxSpeed(self, _flags):
        return 8796093022207

    def migrateSetMaxSpeed(self, speed, _flags):
        self.speeds.append(speed)


def test_the_switch_waits_for_the_socket_buffer_to_empty_at_a_low_speed(tmp_path):
    queue = [4 << 20, 3 << 20, 1 << 20, 100 << 10]
    now = [0.0]
    drain = StreamDrain(_SlowDom(), "c1", "10.251.0.2", _Libvirt, sleep=lambda s: now.__setitem__(0, now[0] + s),
                        clock=lambda: now[0])
    drain._queued = lambda: queue.pop(0)
    done = drain()
    assert done == {"queued_before": 4 << 20, "queued_after": 100 << 10, "waited_ms": 150}
    assert drain.dom.speeds == [1]
    drain.restore()  # the switch failed: pre-copy gets its speed back
    assert drain.dom.speeds == [1, 8796093022207]


def test_no_drain_without_the_qemu_sockets_or_with_little_queued():
    for queued in (None, 10 << 10):
        drain = StreamDrain(_SlowDom(), "c1", "10.251.0.2", _Libvirt)
        drain._queued = lambda q=queued: q
        assert drain()["waited_ms"] == 0 and drain.dom.speeds == []


def test_a_buffer_that_does_not_empty_is_waited_for_at_most_wait_seconds():
    now = [0.0]
    drain = StreamDrain(_SlowDom(), "c1", "10.251.0.2", _Libvirt, wait=3.0,
                        sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0])
    drain._queued = lambda: 4 << 20
    assert 3000 <= drain()["waited_ms"] <= 3050


def test_without_a_destination_every_connection_of_the_qemu_counts(tmp_path):
    proc = fake_proc(tmp_path)
    table = (tmp_path / "42" / "net" / "tcp").read_text().replace(
        "0300FB0A:C000 01 00000000:00000000", "0300FB0A:C000 01 00000400:00000000", 1)
    (tmp_path / "42" / "net" / "tcp").write_text(table)
    assert queued_bytes(42, None, proc=proc) == 1024
    assert queued_bytes(42, ["10.251.0.2"], proc=proc) == 0


class _Unreachable:
    """A source domain whose daemon does not answer (restarting, connection lost)."""

    def state(self):
        raise _Error("cannot reach the libvirt daemon")


def test_a_source_that_cannot_be_asked_is_not_taken_for_gone():
    now = [0.0]
    recovery = PostcopyRecovery(_Unreachable(), _Conn(_Dom((1, 11))), "c1", _Libvirt, None,
                                sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0])
    assert recovery.run(60, lambda: None, (None, None)) is False
    assert now[0] >= 60 and not recovery.source_gone
    assert recovery.steps[-1].startswith("not landed after 60s")


def test_a_source_shut_off_as_migrated_finished_the_move():
    now = [0.0]
    dest = _Dom((1, 10))

    def sleep(seconds):
        now[0] += seconds
        if now[0] >= 30:
            dest._state = (1, 2)

    recovery = PostcopyRecovery(_Dom((5, 4)), _Conn(dest), "c1", _Libvirt, None, sleep=sleep, clock=lambda: now[0])
    assert recovery.run(300, lambda: None, (None, None)) is True  # not lost after 10 s: it waited for the landing


class _Undefined:
    """A source domain that a finished move undefined."""

    def state(self):
        error = _Error("no such domain")
        error.get_error_code = lambda: 42
        raise error


def test_a_source_undefined_while_the_destination_still_says_postcopy_is_not_lost_by_the_same_rule():
    """As _migration_rules.lost_in_postcopy: an absent source is gone only when the destination noticed its stream
    failed; else the move finished and the destination is slow to say so."""
    now = [0.0]
    recovery = PostcopyRecovery(_Undefined(), _Conn(_Dom((1, 10))), "c1", _Libvirt, None,
                                sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0])
    assert recovery.run(60, lambda: None, (None, None)) is False
    assert now[0] >= 60 and not recovery.source_gone
    now[0] = 0.0
    recovery = PostcopyRecovery(_Undefined(), _Conn(_Dom((1, 11))), "c1", _Libvirt, None,
                                sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0])
    assert recovery.run(60, lambda: None, (None, None)) is False
    assert recovery.source_gone and now[0] < 20


def test_a_drain_that_fails_unexpectedly_still_lets_the_switch_happen():
    drain = StreamDrain(_SlowDom(), "c1", "10.251.0.2", _Libvirt)

    def broken():
        raise RuntimeError("odd /proc")

    drain._queued = broken
    assert drain() == {"queued_before": None, "queued_after": None, "waited_ms": 0, "error": "odd /proc"}
