import os

from ansible_collections.drover.libvirt.plugins.module_utils._postcopy import migration_port, qemu_peers

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


def test_the_port_most_streams_go_to_is_the_migration_port(tmp_path):
    peers = qemu_peers(42, proc=fake_proc(tmp_path))
    assert migration_port(peers, "10.251.0.2") == 49152
    assert migration_port(peers, "10.251.0.9") is None
