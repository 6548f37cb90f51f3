"""The heartbeat parser shared by the lab and the integration tests' fixture."""
from drover_lab.heartbeat import parse_heartbeat, read_heartbeat, serial_log

BOOT = "6b04f9e3-3f7e-46f8-aabd-0781e70ef556"


def test_last_heartbeat_line_wins():
    text = ("drover-ready boot_id=%s dirty_mb=4 disk=vda\n"
            "drover-heartbeat seq=1 boot_id=%s uptime=1.02\n"
            "drover-heartbeat seq=2 boot_id=%s uptime=2.03\n"
            "some kernel noise\n") % (BOOT, BOOT, BOOT)
    assert parse_heartbeat(text) == {"seq": 2, "boot_id": BOOT}


def test_no_heartbeat_yet():
    assert parse_heartbeat("") is None
    assert parse_heartbeat("drover-ready boot_id=%s dirty_mb=4 disk=vda\n" % BOOT) is None


OTHER = "0d7c1e2a-9b1f-4c55-8e0e-2b3f9a6c7d10"


def test_a_new_boot_id_after_a_reboot():
    text = "drover-heartbeat seq=40 boot_id=%s uptime=40\ndrover-heartbeat seq=1 boot_id=%s uptime=1\n" % (BOOT, OTHER)
    assert parse_heartbeat(text) == {"seq": 1, "boot_id": OTHER}


def test_a_line_still_being_written_is_not_read_as_another_boot():
    done = "drover-heartbeat seq=54 boot_id=%s uptime=54\n" % BOOT
    assert parse_heartbeat(done + "drover-heartbeat seq=55 boot_id=%s" % BOOT[:27]) == {"seq": 54, "boot_id": BOOT}
    assert parse_heartbeat(done + "drover-heartbeat seq=55 boot_id=%s\n" % BOOT[:27]) == {"seq": 54, "boot_id": BOOT}


def test_read_from_a_host_state_directory(tmp_path):
    path = serial_log(str(tmp_path), "web 01")
    assert path == str(tmp_path / "log" / "qemu" / "web 01.serial.log")
    assert read_heartbeat(str(tmp_path), "web 01") is None  # no log yet
    (tmp_path / "log" / "qemu").mkdir(parents=True)
    (tmp_path / "log" / "qemu" / "web 01.serial.log").write_bytes(
        b"\xff\xfe garbage\ndrover-heartbeat seq=7 boot_id=%s uptime=7.5\n" % BOOT.encode())
    assert read_heartbeat(str(tmp_path), "web 01") == {"seq": 7, "boot_id": BOOT}
