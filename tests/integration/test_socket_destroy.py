"""migration_stream's socket destroy, on this machine's kernel over loopback: it closes exactly the
connections asked for, and never the listener on the same port - even for a connection gone meanwhile,
which a destroy request without the socket's cookie would let the kernel match to the listener; and on a
dual-stack listener (libvirt's default for QEMU's incoming migration, [::]) it finds and closes IPv4 and
IPv6 streams alike."""
import os
import socket
import struct
import time

from ansible_collections.drover.libvirt.plugins.module_utils._stale_stream import destroy, incoming_streams


def stream_of(accepted, client):
    return {"local": "127.0.0.1:%d" % accepted.getsockname()[1], "peer": "127.0.0.1:%d" % client.getsockname()[1],
            "inode": os.fstat(accepted.fileno()).st_ino}


def test_destroy_closes_the_streams_asked_for_and_keeps_the_listener():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    clients, streams, accepted = [], [], []
    for _attempt in range(2):
        client = socket.create_connection(("127.0.0.1", port))
        conn, _addr = listener.accept()
        clients.append(client)
        accepted.append(conn)
        streams.append(stream_of(conn, client))
    try:
        # The first connection goes away on its own (reset) before the destroy reaches it.
        clients[0].setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        clients[0].close()
        accepted[0].close()
        time.sleep(0.2)
        assert destroy(streams) == {}
        # The second is closed: its peer reads a reset or the end of the stream.
        clients[1].settimeout(5)
        try:
            assert clients[1].recv(1) == b""
        except ConnectionResetError:
            pass
        # The listener still takes connections.
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        for s in clients + accepted + [listener]:
            s.close()


def closed_by_peer(client):
    client.settimeout(5)
    try:
        return client.recv(1) == b""
    except ConnectionResetError:
        return True


def test_streams_of_a_dual_stack_listener_are_found_and_closed():
    listener = socket.socket(socket.AF_INET6)
    listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    listener.bind(("::", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    clients, accepted = [], []
    try:
        for address in ("127.0.0.1", "::1"):
            clients.append(socket.create_connection((address, port), timeout=5))
            accepted.append(listener.accept()[0])
        ports, streams = incoming_streams(os.getpid(), (port, port))
        assert ports == [port]
        assert sorted((s["local"], s["family"]) for s in streams) == [
            ("127.0.0.1:%d" % port, 6), ("[::1]:%d" % port, 6)]
        assert destroy(streams) == {}
        # Gone from the kernel's table at once (what migration_stream reads again to be sure).
        assert incoming_streams(os.getpid(), (port, port))[1] == []
        assert all(closed_by_peer(client) for client in clients)
        for address in ("127.0.0.1", "::1"):
            socket.create_connection((address, port), timeout=5).close()
    finally:
        for s in clients + accepted + [listener]:
            s.close()
