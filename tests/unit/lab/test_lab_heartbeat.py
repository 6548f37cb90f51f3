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


def test_a_new_boot_id_after_a_reboot():
    text = "drover-heartbeat seq=40 boot_id=old uptime=40\ndrover-heartbeat seq=1 boot_id=new uptime=1\n"
    assert parse_heartbeat(text) == {"seq": 1, "boot_id": "new"}


def test_read_from_a_host_state_directory(tmp_path):
    path = serial_log(str(tmp_path), "web 01")
    assert path == str(tmp_path / "log" / "qemu" / "web 01.serial.log")
    assert read_heartbeat(str(tmp_path), "web 01") is None  # no log yet
    (tmp_path / "log" / "qemu").mkdir(parents=True)
    (tmp_path / "log" / "qemu" / "web 01.serial.log").write_bytes(
        b"\xff\xfe garbage\ndrover-heartbeat seq=7 boot_id=%s uptime=7.5\n" % BOOT.encode())
    assert read_heartbeat(str(tmp_path), "web 01") == {"seq": 7, "boot_id": BOOT}
