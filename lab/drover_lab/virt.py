"""Connections to the lab hosts' libvirt daemons, and the few lookups the lab needs.

The lab talks to a host's libvirtd through its unix socket (a file under the state directory,
reachable from this machine's mount namespace), so that `lab shape` or `lab firewall` on a host
never slow the lab's own calls. The TCP listener (qemu+tcp://NET.N/system) is what clients use.
"""
import contextlib
import os
import urllib.parse

import libvirt

from drover_lab.config import host_dir, host_ip

# libvirt prints every error on stderr by default; the lab reports the ones that matter itself.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

# The words `virsh domstate` prints, which `lab status` has always shown.
STATE_NAMES = {
    libvirt.VIR_DOMAIN_NOSTATE: "no state",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "idle",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "in shutdown",
    libvirt.VIR_DOMAIN_SHUTOFF: "shut off",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "pmsuspended",
}


def socket_uri(n):
    """qemu:///system of host n as seen from this machine: its libvirtd's unix socket."""
    sock = os.path.join(host_dir(n), "run", "libvirt-sock")
    return "qemu+unix:///system?socket=%s" % urllib.parse.quote(sock, safe="/")


def tcp_uri(n):
    return "qemu+tcp://%s/system" % host_ip(n)


@contextlib.contextmanager
def connect(n):
    """An open connection to host n's libvirtd, closed afterwards; libvirt.libvirtError if it is down."""
    conn = libvirt.open(socket_uri(n))
    try:
        yield conn
    finally:
        conn.close()


def answers(uri):
    """Whether a libvirt daemon accepts a connection on URI."""
    try:
        libvirt.open(uri).close()
    except libvirt.libvirtError:
        return False
    return True


def _lookup(lookup, name, missing_code):
    try:
        return lookup(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == missing_code:
            return None
        raise


def find_domain(conn, name):
    """The domain NAME (active or defined) on this connection, or None."""
    return _lookup(conn.lookupByName, name, libvirt.VIR_ERR_NO_DOMAIN)


def find_network(conn, name):
    """The libvirt network NAME on this connection, or None."""
    return _lookup(conn.networkLookupByName, name, libvirt.VIR_ERR_NO_NETWORK)


def find_pool(conn, name):
    """The storage pool NAME on this connection, or None."""
    return _lookup(conn.storagePoolLookupByName, name, libvirt.VIR_ERR_NO_STORAGE_POOL)


def is_running(dom):
    return dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING


def state_name(dom):
    return STATE_NAMES.get(dom.state()[0], "no state")
