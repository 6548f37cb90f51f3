"""The heartbeat lab guests print on their serial console (lab/guest-init.sh).

Used by the lab (`lab heartbeat`, `lab guest --wait`) and by the integration tests' fixture, so
both read a guest's liveness the same way. Pure apart from reading the log file.
"""
import os

PREFIX = "drover-heartbeat seq="


def serial_log(host_dir, name):
    """Where host HOST_DIR (hvN's state directory) keeps the serial console of guest NAME."""
    return os.path.join(host_dir, "log", "qemu", "%s.serial.log" % name)


BOOT_ID_LENGTH = 36  # a UUID, as /proc/sys/kernel/random/boot_id gives it


def parse_heartbeat(text):
    """Last complete heartbeat line of a serial log's text as {seq, boot_id}, or None.

    The guest may be writing its next line while the log is read: a last line without its newline
    (or a boot id cut short) is ignored rather than read as a different boot.
    """
    lines = text.split("\n")[:-1]  # what follows the last newline is still being written
    for line in reversed(lines):
        line = line.rstrip("\r")
        if line.startswith(PREFIX):
            fields = dict(p.split("=", 1) for p in line.split()[1:] if "=" in p)
            if len(fields.get("boot_id", "")) == BOOT_ID_LENGTH and fields.get("seq", "").isdigit():
                return {"seq": int(fields["seq"]), "boot_id": fields["boot_id"]}
    return None


def read_heartbeat(host_dir, name):
    """Last heartbeat {seq, boot_id} guest NAME printed on the host whose state is HOST_DIR, or None."""
    try:
        with open(serial_log(host_dir, name), "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    return parse_heartbeat(text)
