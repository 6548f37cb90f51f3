"""The heartbeat lab guests print on their serial console (lab/guest-init.sh).

Used by the lab (`lab heartbeat`, `lab guest --wait`) and by the integration tests' fixture, so
both read a guest's liveness the same way. Pure apart from reading the log file.
"""
import os

PREFIX = "drover-heartbeat seq="


def serial_log(host_dir, name):
    """Where host HOST_DIR (hvN's state directory) keeps the serial console of guest NAME."""
    return os.path.join(host_dir, "log", "qemu", "%s.serial.log" % name)


def parse_heartbeat(text):
    """Last heartbeat line of a serial log's text as {seq, boot_id}, or None."""
    for line in reversed(text.splitlines()):
        if line.startswith(PREFIX):
            fields = dict(p.split("=", 1) for p in line.split()[1:] if "=" in p)
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
