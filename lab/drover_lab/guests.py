"""The lab's guests: their boot image, their definitions on the hosts, and the preflight fixtures.

A guest boots a Debian kernel plus a busybox initramfs whose init is lab/guest-init.sh; it dirties
RAM and prints a heartbeat (drover_lab.heartbeat) on its serial log. `lab network` makes an
isolated libvirt network on one host, a condition migration preflight must notice.
"""
import fcntl
import os
import shutil
import subprocess
import time

import libvirt

from drover_lab.config import (CACHE, LAB_DIR, LOCAL_MNT, SHARED_MNT, STATE, LabError, host_dir, host_name, log,
                               out, run, write)
from drover_lab.definitions import check_guest_name, guest_xml, network_link, network_xml
from drover_lab.heartbeat import read_heartbeat
from drover_lab.virt import connect, find_domain, find_network, is_running

GUEST_MODULES = ["virtio_ring", "virtio", "virtio_pci_legacy_dev",
                 "virtio_pci_modern_dev", "virtio_pci", "virtio_blk"]


# ------------------------------------------------------------------ guest image
def build_image():
    """Kernel from Debian's package + busybox initramfs with lab/guest-init.sh."""
    kdir = os.path.join(CACHE, "kernel")
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # labs coming up at once share the cache: one fetches, the others wait
        if not os.path.exists(os.path.join(kdir, "modules", "virtio_blk.ko")):
            fetch_kernel(kdir)
    root = os.path.join(STATE, "initrd-root")
    shutil.rmtree(root, ignore_errors=True)
    for sub in ("bin", "proc", "sys", "dev", "mnt", "lib/modules"):
        os.makedirs(os.path.join(root, sub))
    shutil.copy(shutil.which("busybox"), os.path.join(root, "bin", "busybox"))
    os.symlink("busybox", os.path.join(root, "bin", "sh"))  # the interpreter of /init
    for m in GUEST_MODULES:
        shutil.copy(os.path.join(kdir, "modules", m + ".ko"), os.path.join(root, "lib", "modules"))
    shutil.copy(os.path.join(LAB_DIR, "guest-init.sh"), os.path.join(root, "init"))
    os.chmod(os.path.join(root, "init"), 0o755)
    guest = os.path.join(STATE, "shared", "guest")
    os.makedirs(guest, exist_ok=True)
    run(["sh", "-c", "find . | cpio -o -H newc --quiet | gzip -9 > '%s/initrd.gz'" % guest],
        cwd=root)
    shutil.copy(os.path.join(kdir, "vmlinuz"), os.path.join(guest, "vmlinuz"))
    shutil.rmtree(root)


def fetch_kernel(kdir):
    """The kernel and the virtio modules of Debian's linux-image-amd64, into KDIR (the cache)."""
    dl = os.path.join(CACHE, "download")
    shutil.rmtree(dl, ignore_errors=True)
    os.makedirs(os.path.join(dl, "x"))
    os.makedirs(os.path.join(kdir, "modules"), exist_ok=True)
    pkg = kernel_package()
    log("downloading guest kernel %s from the Debian archive" % pkg)
    run(["apt-get", "download", pkg], cwd=dl, quiet=True)
    deb = [f for f in os.listdir(dl) if f.endswith(".deb")][0]
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", os.path.join(dl, deb)], stdout=subprocess.PIPE) as tar:
        run(["tar", "-x", "-C", os.path.join(dl, "x"), "--wildcards", "./boot/vmlinuz-*"]
            + ["*/%s.ko" % m for m in GUEST_MODULES], stdin=tar.stdout)
    for root, _dirs, files in os.walk(os.path.join(dl, "x")):
        for f in files:
            src = os.path.join(root, f)
            if f.startswith("vmlinuz-"):
                shutil.copy(src, os.path.join(kdir, "vmlinuz"))
            elif f.endswith(".ko"):
                shutil.copy(src, os.path.join(kdir, "modules", f))
    shutil.rmtree(dl)


def kernel_package():
    for attempt in range(2):
        deps = out(["apt-cache", "depends", "linux-image-amd64"])
        for line in deps.splitlines():
            word = line.split(":", 1)[-1].strip()
            if line.strip().startswith("Depends:") and word.startswith("linux-image-6"):
                return word
        if attempt == 0:
            run(["apt-get", "update", "-qq"], quiet=True)
    raise LabError("cannot resolve linux-image-amd64 from the Debian archive")


# ------------------------------------------------------------------ guests
def last_heartbeat(n, name):
    """Last heartbeat line of a guest as seen on host n: {seq, boot_id} or None."""
    return read_heartbeat(host_dir(n), name)


def wait_heartbeat(n, name, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if last_heartbeat(n, name):
            return
        time.sleep(0.5)
    raise LabError("guest %s on %s printed no heartbeat within %ds" % (name, host_name(n), timeout))


def add_guest(name, n, memory, dirty_mb, storage, start=True, wait=False, **devices):
    """Define NAME on host n unless it is defined there (an existing definition is kept), then start it.

    devices: vcpus, cpu, networks, shmem, tags of definitions.guest_xml.
    """
    check_guest_name(name)
    if storage == "shared":
        disk_dir, disk = os.path.join(STATE, "shared"), "%s/%s.qcow2" % (SHARED_MNT, name)
    else:
        disk_dir, disk = os.path.join(host_dir(n), "local"), "%s/%s.qcow2" % (LOCAL_MNT, name)
    xml = guest_xml(name, memory, dirty_mb, disk, SHARED_MNT, **devices)
    img = os.path.join(disk_dir, name + ".qcow2")
    if not os.path.exists(img):
        run(["qemu-img", "create", "-q", "-f", "qcow2", img, "64M"])
    xml_path = os.path.join(host_dir(n), "%s.xml" % name)
    with connect(n) as conn:
        dom = find_domain(conn, name)
        if dom is None:
            write(xml_path, xml)
            dom = conn.defineXML(xml)
        elif os.path.exists(xml_path) and _read(xml_path) != xml:
            log("%s is already defined on %s: definition kept (undefine it to apply other options)"
                % (name, host_name(n)))
        if start and not is_running(dom):
            dom.create()
    if wait:
        wait_heartbeat(n, name)


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def is_defined_anywhere(name, hosts):
    """Whether any of HOSTS has a domain NAME."""
    for n in hosts:
        with connect(n) as conn:
            if find_domain(conn, name) is not None:
                return True
    return False


def running_on(name, hosts):
    """The hosts among HOSTS where the domain NAME runs."""
    found = []
    for n in hosts:
        with connect(n) as conn:
            dom = find_domain(conn, name)
            if dom is not None and is_running(dom):
                found.append(n)
    return found


def define_copy(name, src, dst):
    """Define on dst the persistent definition NAME has on src (same name and UUID); never start it."""
    if src == dst:
        raise LabError("--define-copy-from must name another host than --host")
    with connect(src) as sconn:
        dom = find_domain(sconn, name)
        if dom is None:
            raise LabError("guest %s is not defined on %s" % (name, host_name(src)))
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
        uuid = dom.UUIDString()
    with connect(dst) as dconn:
        have = find_domain(dconn, name)
        if have is not None:
            if have.UUIDString() == uuid:
                log("%s (%s) is already defined on %s" % (name, uuid, host_name(dst)))
                return
            raise LabError("%s already has a domain %s with another UUID (%s, not %s)"
                           % (host_name(dst), name, have.UUIDString(), uuid))
        dconn.defineXML(xml)
    log("defined %s (%s) on %s from %s, not started" % (name, uuid, host_name(dst), host_name(src)))


# ------------------------------------------------------------------ networks
def remove_network(n, name):
    """Destroy and undefine libvirt network NAME on host n (idempotent)."""
    with connect(n) as conn:
        network = find_network(conn, name)
        if network is None:
            return
        if network.isActive():
            network.destroy()
        network.undefine()


def apply_network(n, name, mtu=None, bridge=None, inactive=False):
    """Define (or redefine) the isolated network NAME on host n and start or stop it (idempotent)."""
    with connect(n) as conn:
        network = find_network(conn, name)
        active = bool(network and network.isActive())
        # Redefined with its UUID, so a changed --mtu/--bridge applies.
        xml = network_xml(name, mtu, bridge, uuid=network.UUIDString() if network else None)
        network = conn.networkDefineXML(xml)
        if active and not inactive:
            live_mtu, live_bridge = network_link(network.XMLDesc(0))
            if live_mtu != mtu or (bridge and live_bridge != bridge):
                log("restarting network %s on %s for the new definition" % (name, host_name(n)))
                network.destroy()
                active = False
        if inactive and active:
            network.destroy()
        elif not inactive and not active:
            network.create()
