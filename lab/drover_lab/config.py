"""Settings of the lab (from the environment), the names of its hosts, and how commands run.

Every other module of the lab imports this one; nothing here talks to libvirt.
"""
import os
import subprocess
import sys

LAB_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATE = os.environ.get("DROVER_LAB_STATE", os.path.join(LAB_DIR, ".state"))
CACHE = os.environ.get("DROVER_LAB_CACHE", os.path.join(LAB_DIR, ".cache"))
NET = os.environ.get("DROVER_LAB_NET", "10.251.0")
# A second lab can run beside the first with another name, net and state directory.
LAB_NAME = os.environ.get("DROVER_LAB_NAME", "drover")
BRIDGE_NS = LAB_NAME + "-lab"
HOST_NS_PREFIX = LAB_NAME + "-"
ROOT_VETH = LAB_NAME + "-ctl"
SHARED_MNT = "/srv/drover/shared"
LOCAL_MNT = "/srv/drover/local"
MIGRATION_PORTS = (49152, 49215)  # QEMU's incoming migration ports on every host (qemu.conf)
FIREWALL_CHAIN = LAB_NAME + "-block-migration"  # the only iptables chain the lab adds (in a host)


class LabError(Exception):
    """A lab command that cannot do what it was asked; the CLI prints it and exits 1."""


def check_lab_name():
    """The veth name (LAB_NAME-ctl) must fit the kernel's 15 characters."""
    if len(ROOT_VETH) > 15 or not LAB_NAME.replace("-", "").isalnum():
        sys.exit("lab: DROVER_LAB_NAME must be at most 11 letters, digits or dashes")


def log(msg):
    print("[lab] %s" % msg, file=sys.stderr, flush=True)


def run(cmd, check=True, capture=False, quiet=False, **kw):
    res = subprocess.run(cmd, check=False, text=True, stdout=subprocess.PIPE if capture or quiet else None,
                         stderr=subprocess.PIPE if capture or quiet else None, **kw)
    if check and res.returncode != 0:
        err = (res.stderr or "").strip() if (capture or quiet) else ""
        raise LabError("command failed (%d): %s %s" % (res.returncode, " ".join(cmd), err))
    return res


def out(cmd):
    return run(cmd, capture=True, check=False).stdout


def write(path, text, mode=0o644):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, mode)


def pid_alive(pid_file):
    try:
        with open(pid_file, encoding="ascii") as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


# ------------------------------------------------------------------ naming
def host_name(n):
    return "hv%d" % n


def host_ns(n):
    return HOST_NS_PREFIX + host_name(n)


def host_ip(n):
    return "%s.%d" % (NET, n)


def host_dir(n):
    return os.path.join(STATE, host_name(n))


def ns_file(n, kind):
    return os.path.join(STATE, "ns", "%s.%s" % (host_name(n), kind))


def host_uuid(n):
    # SMBIOS is not readable here and every namespace would report the same
    # UUID, which libvirt refuses as "migration to the same host".
    return "d7a0e5c0-0000-4000-8000-%012x" % n


def parse_host(name):
    if name.startswith("hv") and name[2:].isdigit() and int(name[2:]) > 0:
        return int(name[2:])
    raise LabError("unknown lab host %r (expected hv1, hv2, ...)" % name)


def present_hosts():
    names = out(["ip", "netns", "list"]).split()
    found = [n[len(HOST_NS_PREFIX) + 2:] for n in names if n.startswith(HOST_NS_PREFIX + "hv")]
    return sorted(int(x) for x in found if x.isdigit())


def up_host(name):
    n = parse_host(name)
    if n not in present_hosts():
        raise LabError("%s is not up" % name)
    return n


def in_host(n, cmd):
    """CMD run inside host n: its network, mount and UTS namespaces."""
    return ["nsenter", "--net=/run/netns/%s" % host_ns(n), "--mount=%s" % ns_file(n, "mnt"),
            "--uts=%s" % ns_file(n, "uts"), "--"] + cmd
