"""drover lab: a fleet of real libvirt/QEMU hypervisors on one Linux machine.

Each hypervisor hvN is a network namespace plus a persistent mount and UTS
namespace with its own libvirtd (own host UUID), sshd, /etc/libvirt,
/run/libvirt and /var/lib/libvirt. The hosts share a bridge (in the namespace
"drover-lab") on NET.1..NET.N; the machine reaches them over one veth with
NET.254. Every host sees the same shared storage at /srv/drover/shared and
its own local-only storage at /srv/drover/local.

Run as root. See `lab --help` and docs/lab.md.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

import lab_guests

LAB_DIR = os.path.dirname(os.path.abspath(__file__))
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
# Directories each host gets a private copy of (mount point -> state subdir).
PRIVATE_DIRS = {
    "/etc/libvirt": "etc",
    "/run/libvirt": "run",
    "/var/lib/libvirt": "lib",
    "/var/log/libvirt": "log",
    "/var/cache/libvirt": "cache",
    "/etc/pki": "pki",
    LOCAL_MNT: "local",
}
GUEST_MODULES = ["virtio_ring", "virtio", "virtio_pci_legacy_dev",
                 "virtio_pci_modern_dev", "virtio_pci", "virtio_blk"]
REQUIRED_TOOLS = ["ip", "nsenter", "unshare", "mountpoint", "ssh-keygen", "virsh",
                  "qemu-img", "qemu-system-x86_64", "/usr/sbin/libvirtd",
                  "/usr/sbin/sshd", "busybox", "cpio", "tc"]


def log(msg):
    print("[lab] %s" % msg, file=sys.stderr, flush=True)


class LabError(Exception):
    pass


def run(cmd, check=True, capture=False, quiet=False, **kw):
    res = subprocess.run(cmd, check=False, text=True, stdout=subprocess.PIPE if capture or quiet else None,
                         stderr=subprocess.PIPE if capture or quiet else None, **kw)
    if check and res.returncode != 0:
        err = (res.stderr or "").strip() if (capture or quiet) else ""
        raise LabError("command failed (%d): %s %s" % (res.returncode, " ".join(cmd), err))
    return res


def out(cmd):
    return run(cmd, capture=True, check=False).stdout


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


def in_host(n, cmd):
    return ["nsenter", "--net=/run/netns/%s" % host_ns(n), "--mount=%s" % ns_file(n, "mnt"),
            "--uts=%s" % ns_file(n, "uts"), "--"] + cmd


def virsh(n, *args, check=True, quiet=True):
    return run(in_host(n, ["virsh", "-q", "-c", "qemu:///system"] + list(args)),
               check=check, quiet=quiet)


def pid_alive(pid_file):
    try:
        pid = int(open(pid_file).read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


# ------------------------------------------------------------------ network
def ensure_bridge():
    if BRIDGE_NS not in out(["ip", "netns", "list"]).split():
        conflict = out(["ip", "-4", "-o", "route", "show", "to", "match", host_ip(1)])
        for line in conflict.splitlines():
            if not line.startswith("default") and ROOT_VETH not in line:
                raise LabError("%s.0/24 is already routed on this machine (%s); set "
                               "DROVER_LAB_NET to a free prefix" % (NET, line.strip()))
        run(["ip", "netns", "add", BRIDGE_NS])
    ns = ["ip", "-n", BRIDGE_NS]
    run(ns + ["link", "set", "lo", "up"])
    if run(ns + ["link", "show", "br0"], check=False, quiet=True).returncode != 0:
        run(ns + ["link", "add", "br0", "type", "bridge"])
    run(ns + ["link", "set", "br0", "up"])
    if run(["ip", "link", "show", ROOT_VETH], check=False, quiet=True).returncode != 0:
        run(["ip", "link", "add", ROOT_VETH, "type", "veth", "peer", "name", "ctl0",
             "netns", BRIDGE_NS])
        run(["ip", "addr", "add", "%s.254/24" % NET, "dev", ROOT_VETH])
    run(["ip", "link", "set", ROOT_VETH, "up"])
    run(ns + ["link", "set", "ctl0", "master", "br0", "up"])


def ensure_host_net(n):
    if host_ns(n) not in out(["ip", "netns", "list"]).split():
        run(["ip", "netns", "add", host_ns(n)])
    hn = ["ip", "-n", host_ns(n)]
    run(hn + ["link", "set", "lo", "up"])
    if run(hn + ["link", "show", "eth0"], check=False, quiet=True).returncode != 0:
        run(["ip", "-n", BRIDGE_NS, "link", "del", "port%d" % n], check=False, quiet=True)
        run(["ip", "link", "add", "port%d" % n, "netns", BRIDGE_NS, "type", "veth",
             "peer", "name", "eth0", "netns", host_ns(n)])
        run(hn + ["addr", "add", "%s/24" % host_ip(n), "dev", "eth0"])
    run(["ip", "-n", BRIDGE_NS, "link", "set", "port%d" % n, "master", "br0", "up"])
    run(hn + ["link", "set", "eth0", "up"])


# ------------------------------------------------------------------ host config
LIBVIRTD_CONF = """# lab host {name}
listen_tls = 1
auth_tls = "none"
listen_tcp = 1
listen_addr = "{ip}"
auth_tcp = "none"
auth_unix_ro = "none"
auth_unix_rw = "none"
unix_sock_group = "root"
unix_sock_rw_perms = "0770"
host_uuid = "{uuid}"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
"""

# No cgroups, namespaces or security driver in this sandbox; migration_host is
# required because every namespace answers to the same host name for QEMU.
QEMU_CONF = """# lab host {name}
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
migration_host = "{ip}"
migration_address = "{ip}"
migration_port_min = {port_min}
migration_port_max = {port_max}
# Notice a dead peer within ~6 s (default ~30 s), so post-copy failure tests stay short.
keepalive_interval = 2
keepalive_count = 2
shared_filesystems = [ "{shared}" ]
# Native TLS of the migration stream (VIR_MIGRATE_TLS); certificates from the lab's CA.
migrate_tls_x509_cert_dir = "/etc/pki/qemu"
migrate_tls_x509_verify = 1
"""

SSHD_CONF = """ListenAddress {ip}
HostKey {dir}/ssh/host_ed25519
PidFile {dir}/ssh/sshd.pid
AuthorizedKeysFile {state}/ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
"""

SSH_CLIENT_CONF = """# Used inside the lab hosts (host-to-host qemu+ssh) and by `lab ssh`.
Host hv* {net}.*
    User root
    IdentityFile {state}/ssh/id_ed25519
    UserKnownHostsFile /dev/null
    StrictHostKeyChecking no
    ConnectTimeout 5
    LogLevel ERROR
"""


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def prepare_common(count):
    missing = [t for t in REQUIRED_TOOLS if not shutil.which(t)]
    if missing:
        raise LabError("missing tools: %s (run lab/install-deps)" % ", ".join(missing))
    for d in ("ns", "ssh", "shared"):
        os.makedirs(os.path.join(STATE, d), exist_ok=True)
    # Mount points in this machine's file system: remember the ones the lab creates, so that
    # `down` removes those and nothing else.
    created = os.path.join(STATE, "created-dirs")
    for mp in list(PRIVATE_DIRS) + [SHARED_MNT, "/run/sshd"]:
        missing = []
        d = mp
        while not os.path.exists(d):
            missing.append(d)
            d = os.path.dirname(d)
        os.makedirs(mp, exist_ok=True)
        with open(created, "a") as f:
            f.writelines(m + "\n" for m in missing)
    # libvirt's QEMU driver looks up its built-in user even with user = "root".
    if run(["getent", "passwd", "libvirt-qemu"], check=False, quiet=True).returncode != 0:
        run(["useradd", "--system", "--no-create-home", "--home-dir", "/var/lib/libvirt",
             "--shell", "/usr/sbin/nologin", "--user-group", "libvirt-qemu"])
    nsdir = os.path.join(STATE, "ns")
    if run(["mountpoint", "-q", nsdir], check=False).returncode != 0:
        run(["mount", "--bind", nsdir, nsdir])
        run(["mount", "--make-private", nsdir])
    key = os.path.join(STATE, "ssh", "id_ed25519")
    if not os.path.exists(key):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "drover-lab", "-f", key])
    shutil.copy(key + ".pub", os.path.join(STATE, "ssh", "authorized_keys"))
    write(os.path.join(STATE, "ssh", "ssh_config"), SSH_CLIENT_CONF.format(net=NET, state=STATE))
    hosts = "127.0.0.1 localhost\n%s.254 labctl\n" % NET
    hosts += "".join("%s %s\n" % (host_ip(n), host_name(n)) for n in range(1, count + 1))
    write(os.path.join(STATE, "hosts"), hosts)


def openssl(*args):
    run(["openssl"] + list(args), quiet=True)


def ensure_ca():
    ca = os.path.join(STATE, "pki")
    os.makedirs(ca, exist_ok=True)
    if not os.path.exists(os.path.join(ca, "ca.pem")):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", os.path.join(ca, "ca.key"), "-out", os.path.join(ca, "ca.pem"),
                "-days", "30", "-subj", "/O=drover lab/CN=drover lab CA")
    return ca


def issue_cert(ca, name, sans, out_dir):
    """A key and a certificate valid as TLS server and client, signed by the lab CA."""
    key, csr, cert = (os.path.join(out_dir, name + ext) for ext in (".key", ".csr", ".pem"))
    if os.path.exists(cert):
        return key, cert
    ext = os.path.join(out_dir, name + ".ext")
    write(ext, "subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n" % ",".join(sans))
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
            "-out", csr, "-subj", "/O=drover lab/CN=%s" % name)
    openssl("x509", "-req", "-in", csr, "-CA", os.path.join(ca, "ca.pem"), "-CAkey", os.path.join(ca, "ca.key"),
            "-CAcreateserial", "-days", "30", "-extfile", ext, "-out", cert)
    return key, cert


def ensure_host_pki(n):
    """libvirt's and QEMU's standard certificate paths inside the host (its private /etc/pki)."""
    ca = ensure_ca()
    pki = os.path.join(host_dir(n), "pki")
    for sub in ("CA", "libvirt/private", "qemu", "issued"):
        os.makedirs(os.path.join(pki, sub), exist_ok=True)
    key, cert = issue_cert(ca, host_name(n), ["DNS:%s" % host_name(n), "IP:%s" % host_ip(n)],
                           os.path.join(pki, "issued"))
    places = {"CA/cacert.pem": os.path.join(ca, "ca.pem"), "qemu/ca-cert.pem": os.path.join(ca, "ca.pem")}
    for role in ("server", "client"):
        places["libvirt/%scert.pem" % role] = cert
        places["libvirt/private/%skey.pem" % role] = key
        places["qemu/%s-cert.pem" % role] = cert
        places["qemu/%s-key.pem" % role] = key
    for rel, src in places.items():
        shutil.copy(src, os.path.join(pki, rel))


def ensure_controller_pki():
    """Client certificates for this machine: qemu+tls://HOST/system?pkipath=<STATE>/pki/client."""
    ca = ensure_ca()
    client = os.path.join(ca, "client")
    os.makedirs(client, exist_ok=True)
    key, cert = issue_cert(ca, "labctl", ["DNS:labctl", "IP:%s.254" % NET], client)
    shutil.copy(os.path.join(ca, "ca.pem"), os.path.join(client, "cacert.pem"))
    shutil.copy(cert, os.path.join(client, "clientcert.pem"))
    shutil.copy(key, os.path.join(client, "clientkey.pem"))


def write_host_config(n):
    d = host_dir(n)
    for sub in list(PRIVATE_DIRS.values()) + ["etc/qemu", "log/qemu", "lib/images", "ssh"]:
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    fmt = dict(name=host_name(n), ip=host_ip(n), uuid=host_uuid(n), dir=d, state=STATE,
               shared=SHARED_MNT, port_min=MIGRATION_PORTS[0], port_max=MIGRATION_PORTS[1])
    write(os.path.join(d, "etc", "libvirtd.conf"), LIBVIRTD_CONF.format(**fmt))
    write(os.path.join(d, "etc", "qemu.conf"), QEMU_CONF.format(**fmt))
    # Isolated networks (`lab network`) need a firewall backend; no nft binary is installed.
    write(os.path.join(d, "etc", "network.conf"), '# lab host %s\nfirewall_backend = "iptables"\n' % host_name(n))
    write(os.path.join(d, "ssh", "sshd_config"), SSHD_CONF.format(**fmt))
    if not os.path.exists(os.path.join(d, "ssh", "host_ed25519")):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host_name(n),
             "-f", os.path.join(d, "ssh", "host_ed25519")])


def ensure_host_ns(n):
    mnt = ns_file(n, "mnt")
    if os.path.exists(mnt) and run(["nsenter", "--mount=" + mnt, "true"], check=False,
                                   quiet=True).returncode == 0:
        return
    for kind in ("mnt", "uts"):
        open(ns_file(n, kind), "w").close()
    binds = [(os.path.join(host_dir(n), sub), mp) for mp, sub in PRIVATE_DIRS.items()]
    binds += [(os.path.join(STATE, "shared"), SHARED_MNT),
              (os.path.join(STATE, "ssh", "ssh_config"), "/etc/ssh/ssh_config"),
              (os.path.join(STATE, "hosts"), "/etc/hosts")]
    # A private /dev/shm (ivshmem backing files of `lab guest --shmem`) that dies with the host.
    script = "set -e; hostname %s; mount -t tmpfs -o size=64m,mode=1777 lab-shm /dev/shm; " % host_name(n)
    script += "; ".join("mount --bind '%s' '%s'" % b for b in binds)
    run(["unshare", "--mount=" + mnt, "--uts=" + ns_file(n, "uts"), "--propagation",
         "private", "sh", "-c", script])


def start_daemons(n):
    d = host_dir(n)
    if not pid_alive(os.path.join(d, "run", "libvirtd.pid")):
        run(in_host(n, ["/usr/sbin/libvirtd", "--daemon", "--listen",
                        "--pid-file", "/run/libvirt/libvirtd.pid"]))
    if not pid_alive(os.path.join(d, "ssh", "sshd.pid")):
        run(in_host(n, ["/usr/sbin/sshd", "-f", os.path.join(d, "ssh", "sshd_config")]))


def wait_libvirtd(n, timeout=60):
    deadline = time.time() + timeout
    uri = "qemu+tcp://%s/system" % host_ip(n)
    while time.time() < deadline:
        if run(["virsh", "-c", uri, "uri"], check=False, quiet=True).returncode == 0:
            return
        time.sleep(0.25)
    raise LabError("libvirtd on %s did not answer on %s; see %s/log/libvirtd.log"
                   % (host_name(n), uri, host_dir(n)))


def ensure_pools(n):
    for pool, path in (("shared", SHARED_MNT), ("local", LOCAL_MNT)):
        if virsh(n, "pool-info", pool, check=False).returncode != 0:
            virsh(n, "pool-define-as", pool, "dir", "--target", path)
            virsh(n, "pool-autostart", pool)
        virsh(n, "pool-start", pool, check=False)


# ------------------------------------------------------------------ guest image
def build_image():
    """Kernel from Debian's package + busybox initramfs with lab/guest-init.sh."""
    kdir = os.path.join(CACHE, "kernel")
    if not os.path.exists(os.path.join(kdir, "modules", "virtio_blk.ko")):
        dl = os.path.join(CACHE, "download")
        shutil.rmtree(dl, ignore_errors=True)
        os.makedirs(os.path.join(dl, "x"))
        os.makedirs(os.path.join(kdir, "modules"), exist_ok=True)
        pkg = kernel_package()
        log("downloading guest kernel %s from the Debian archive" % pkg)
        run(["apt-get", "download", pkg], cwd=dl, quiet=True)
        deb = [f for f in os.listdir(dl) if f.endswith(".deb")][0]
        tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", os.path.join(dl, deb)],
                               stdout=subprocess.PIPE)
        run(["tar", "-x", "-C", os.path.join(dl, "x"), "--wildcards", "./boot/vmlinuz-*"]
            + ["*/%s.ko" % m for m in GUEST_MODULES], stdin=tar.stdout)
        tar.wait()
        for root, _dirs, files in os.walk(os.path.join(dl, "x")):
            for f in files:
                src = os.path.join(root, f)
                if f.startswith("vmlinuz-"):
                    shutil.copy(src, os.path.join(kdir, "vmlinuz"))
                elif f.endswith(".ko"):
                    shutil.copy(src, os.path.join(kdir, "modules", f))
        shutil.rmtree(dl)
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
def serial_log(n, name):
    return os.path.join(host_dir(n), "log", "qemu", "%s.serial.log" % name)


def last_heartbeat(n, name):
    """Last heartbeat line of a guest as seen on host n: {seq, boot_id} or None."""
    try:
        with open(serial_log(n, name), "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if line.startswith("drover-heartbeat seq="):
            fields = dict(p.split("=", 1) for p in line.split()[1:] if "=" in p)
            return {"seq": int(fields["seq"]), "boot_id": fields["boot_id"]}
    return None


def add_guest(name, n, memory, dirty_mb, storage, start=True, wait=False, **devices):
    """Define NAME on host n unless it is defined there (an existing definition is kept), then start it.

    devices: vcpus, cpu, networks, shmem, tags of lab_guests.guest_xml.
    """
    if not name or any(c in name for c in "/'\"<>&\\ ") or name.startswith("."):
        raise LabError("guest name %r: use letters, digits, - and _" % name)
    if storage == "shared":
        disk_dir, disk = os.path.join(STATE, "shared"), "%s/%s.qcow2" % (SHARED_MNT, name)
    else:
        disk_dir, disk = os.path.join(host_dir(n), "local"), "%s/%s.qcow2" % (LOCAL_MNT, name)
    xml = lab_guests.guest_xml(name, memory, dirty_mb, disk, SHARED_MNT, **devices)
    img = os.path.join(disk_dir, name + ".qcow2")
    if not os.path.exists(img):
        run(["qemu-img", "create", "-q", "-f", "qcow2", img, "64M"])
    xml_path = os.path.join(host_dir(n), "%s.xml" % name)
    if virsh(n, "dominfo", name, check=False).returncode != 0:
        write(xml_path, xml)
        virsh(n, "define", xml_path)
    elif os.path.exists(xml_path) and open(xml_path).read() != xml:
        log("%s is already defined on %s: definition kept (undefine it to apply other options)"
            % (name, host_name(n)))
    if start and "running" not in virsh(n, "domstate", name).stdout:
        virsh(n, "start", name)
    if wait:
        wait_heartbeat(n, name)


def define_copy(name, src, dst):
    """Define on dst the persistent definition NAME has on src (same name and UUID); never start it."""
    if src == dst:
        raise LabError("--define-copy-from must name another host than --host")
    dumped = virsh(src, "dumpxml", "--inactive", "--security-info", name, check=False)
    if dumped.returncode != 0:
        raise LabError("guest %s is not defined on %s" % (name, host_name(src)))
    uuid = virsh(src, "domuuid", name).stdout.strip()
    have = virsh(dst, "domuuid", name, check=False)
    if have.returncode == 0:
        if have.stdout.strip() == uuid:
            log("%s (%s) is already defined on %s" % (name, uuid, host_name(dst)))
            return
        raise LabError("%s already has a domain %s with another UUID (%s, not %s)"
                       % (host_name(dst), name, have.stdout.strip(), uuid))
    path = os.path.join(host_dir(dst), "%s.copy.xml" % name)
    write(path, dumped.stdout)
    virsh(dst, "define", path)
    log("defined %s (%s) on %s from %s, not started" % (name, uuid, host_name(dst), host_name(src)))


def wait_heartbeat(n, name, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if last_heartbeat(n, name):
            return
        time.sleep(0.5)
    raise LabError("guest %s on %s printed no heartbeat within %ds" % (name, host_name(n), timeout))


# ------------------------------------------------------------------ commands
def cmd_up(args):
    t0 = time.time()
    if args.hosts < 2:
        raise LabError("--hosts must be at least 2")
    prepare_common(args.hosts)
    build_image()
    ensure_bridge()
    ensure_controller_pki()
    for n in range(1, args.hosts + 1):
        write_host_config(n)
        ensure_host_pki(n)
        ensure_host_net(n)
        ensure_host_ns(n)
        start_daemons(n)
    for n in range(1, args.hosts + 1):
        wait_libvirtd(n)
        ensure_pools(n)
    names = ["vm%d" % i for i in range(1, args.guests + 1)]
    for name in names:
        if not any(virsh(h, "dominfo", name, check=False).returncode == 0
                   for h in range(1, args.hosts + 1)):
            add_guest(name, 1, args.memory, args.dirty_mb, "shared")
    if args.wait:
        for name in names:
            for h in range(1, args.hosts + 1):
                if "running" in virsh(h, "domstate", name, check=False).stdout:
                    wait_heartbeat(h, name)
    log("lab up: %d hosts, %d guests in %.1fs" % (args.hosts, len(names), time.time() - t0))
    cmd_status(argparse.Namespace(json=False))


def stop_host(n):
    d = host_dir(n)
    if os.path.exists(ns_file(n, "mnt")) and pid_alive(os.path.join(d, "run", "libvirtd.pid")):
        for name in virsh(n, "list", "--name", check=False).stdout.split():
            virsh(n, "destroy", name, check=False)
    # Everything left in the host's network namespace was started by the lab
    # (libvirtd, sshd, QEMU, ssh sessions): stop those PIDs, then the namespace.
    for sig, wait in ((15, 5.0), (9, 2.0)):
        pids = out(["ip", "netns", "pids", host_ns(n)]).split()
        for pid in pids:
            try:
                os.kill(int(pid), sig)
            except (OSError, ValueError):
                pass
        deadline = time.time() + wait
        while pids and time.time() < deadline:
            time.sleep(0.1)
            pids = out(["ip", "netns", "pids", host_ns(n)]).split()
        if not pids:
            break
    run(["ip", "netns", "del", host_ns(n)], check=False, quiet=True)


def cmd_down(args):
    for n in present_hosts():
        stop_host(n)
    nsdir = os.path.join(STATE, "ns")
    if os.path.isdir(nsdir):
        for f in os.listdir(nsdir):
            run(["umount", os.path.join(nsdir, f)], check=False, quiet=True)
        run(["umount", nsdir], check=False, quiet=True)
    run(["ip", "link", "del", ROOT_VETH], check=False, quiet=True)
    if BRIDGE_NS in out(["ip", "netns", "list"]).split():
        run(["ip", "netns", "del", BRIDGE_NS])
    mounts = out(["findmnt", "-rn", "-o", "TARGET"]).split()
    busy = [m for m in mounts if m == STATE or m.startswith(STATE + "/")]
    if busy:
        raise LabError("still mounted, not removing %s: %s" % (STATE, ", ".join(busy)))
    try:
        with open(os.path.join(STATE, "created-dirs")) as f:
            created = [line.strip() for line in f if line.strip()]
    except OSError:
        created = []
    shutil.rmtree(STATE, ignore_errors=True)
    if [ns for ns in out(["ip", "netns", "list"]).split() if ns.endswith("-lab")]:
        # Another lab still mounts over these directories in its namespaces; removing them
        # here would detach its mounts.
        created = []
    for mp in sorted(set(created), key=len, reverse=True):  # deepest first
        try:
            os.rmdir(mp)
        except OSError:
            pass  # not empty: something else uses it now
    if args.purge:
        shutil.rmtree(CACHE, ignore_errors=True)
    log("lab down")


def host_status(n):
    d = host_dir(n)
    domains = {}
    res = virsh(n, "list", "--all", "--name", check=False)
    for name in res.stdout.split():
        domains[name] = virsh(n, "domstate", name, check=False).stdout.strip()
    networks = {}
    for line in virsh(n, "net-list", "--all", check=False).stdout.splitlines():
        if len(line.split()) >= 2:
            networks[line.split()[0]] = line.split()[1]
    return {"host": host_name(n), "address": host_ip(n),
            "libvirtd": pid_alive(os.path.join(d, "run", "libvirtd.pid")),
            "sshd": pid_alive(os.path.join(d, "ssh", "sshd.pid")), "domains": domains, "networks": networks}


def cmd_status(args):
    hosts = [host_status(n) for n in present_hosts()]
    if args.json:
        print(json.dumps({"hosts": hosts, "state": STATE}, indent=2))
        return
    if not hosts:
        print("lab is down")
    for h in hosts:
        doms = " ".join("%s(%s)" % kv for kv in sorted(h["domains"].items())) or "-"
        print("%-4s %-13s libvirtd=%-7s sshd=%-7s %s" % (h["host"], h["address"],
              h["libvirtd"] or "down", h["sshd"] or "down", doms))


def cmd_exec(args):
    n = up_host(args.host)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        raise LabError("exec needs a command after --")
    os.execvp("nsenter", in_host(n, cmd))


def up_host(name):
    n = parse_host(name)
    if n not in present_hosts():
        raise LabError("%s is not up" % name)
    return n


def cmd_guest(args):
    n = up_host(args.host)
    if args.define_copy_from:
        extra = [opt for opt, given in (("--network", args.network), ("--tag", args.tag), ("--shmem", args.shmem),
                                        ("--cpu", args.cpu != lab_guests.DEFAULT_CPU),
                                        ("--vcpus", args.vcpus != 1), ("--wait", args.wait)) if given]
        if extra:
            raise LabError("--define-copy-from copies the definition as it is; drop %s" % ", ".join(extra))
        define_copy(args.name, up_host(args.define_copy_from), n)
        return
    add_guest(args.name, n, args.memory, args.dirty_mb, args.storage, start=not args.no_start,
              wait=args.wait, vcpus=args.vcpus, cpu=args.cpu, networks=args.network, shmem=args.shmem,
              tags=[lab_guests.parse_tag(t) for t in args.tag])


def net_state(n, name):
    """(defined, active) of libvirt network NAME on host n."""
    res = virsh(n, "net-info", name, check=False)
    if res.returncode != 0:
        return False, False
    fields = dict(line.split(":", 1) for line in res.stdout.splitlines() if ":" in line)
    return True, fields.get("Active", "").strip() == "yes"


def cmd_network(args):
    """Define/start (or stop, or remove) an isolated libvirt network on a host (idempotent)."""
    n = up_host(args.host)
    defined, active = net_state(n, args.name)
    if args.remove:
        if args.mtu is not None or args.bridge or args.inactive:
            raise LabError("--remove takes no other option")
        if active:
            virsh(n, "net-destroy", args.name)
        if defined:
            virsh(n, "net-undefine", args.name)
        return
    xml = lab_guests.network_xml(args.name, args.mtu, args.bridge)
    if defined:  # redefine with its UUID, so a changed --mtu/--bridge applies
        uuid = virsh(n, "net-uuid", args.name).stdout.strip()
        xml = xml.replace("</name>\n", "</name>\n  <uuid>%s</uuid>\n" % uuid, 1)
    path = os.path.join(host_dir(n), "net-%s.xml" % args.name)
    write(path, xml)
    virsh(n, "net-define", path)
    if active and not args.inactive:
        live = virsh(n, "net-dumpxml", args.name).stdout
        mtu = re.search(r"<mtu size='(\d+)'", live)
        bridge = re.search(r"<bridge name='([^']+)'", live)
        if (int(mtu.group(1)) if mtu else None) != args.mtu or (args.bridge and bridge.group(1) != args.bridge):
            log("restarting network %s on %s for the new definition" % (args.name, host_name(n)))
            virsh(n, "net-destroy", args.name)
            active = False
    if args.inactive and active:
        virsh(n, "net-destroy", args.name)
    elif not args.inactive and not active:
        virsh(n, "net-start", args.name)


def cmd_firewall(args):
    """DROP incoming TCP to QEMU's migration ports inside one host (its own netns), or undo that."""
    n = up_host(args.host)
    ipt = in_host(n, ["iptables", "-w", "5"])
    chain = FIREWALL_CHAIN
    if args.clear:
        while run(ipt + ["-D", "INPUT", "-j", chain], check=False, quiet=True).returncode == 0:
            pass
        if run(ipt + ["-n", "-L", chain], check=False, quiet=True).returncode == 0:
            run(ipt + ["-F", chain], quiet=True)
            run(ipt + ["-X", chain], quiet=True)
        return
    if run(ipt + ["-n", "-L", chain], check=False, quiet=True).returncode != 0:
        run(ipt + ["-N", chain], quiet=True)
    run(ipt + ["-F", chain], quiet=True)
    run(ipt + ["-A", chain, "-p", "tcp", "--dport", "%d:%d" % MIGRATION_PORTS, "-j", "DROP"], quiet=True)
    if run(ipt + ["-C", "INPUT", "-j", chain], check=False, quiet=True).returncode != 0:
        run(ipt + ["-I", "INPUT", "1", "-j", chain], quiet=True)


def cmd_heartbeat(args):
    print(json.dumps(last_heartbeat(parse_host(args.host), args.name)))


def cmd_shape(args):
    """Cap a host's outbound link (its migration link when it is the source)."""
    n = parse_host(args.host)
    tc = in_host(n, ["tc", "qdisc"])
    if args.clear:
        run(tc + ["del", "dev", "eth0", "root"], check=False, quiet=True)
        return
    if not args.rate:
        raise LabError("shape needs --rate (e.g. 1gbit) or --clear")
    netem = tc + ["replace", "dev", "eth0", "root", "netem", "rate", args.rate]
    if args.delay:
        netem += ["delay", args.delay]
    if run(netem, check=False, quiet=True).returncode != 0:
        # Kernels without sch_netem still have the token bucket filter.
        run(tc + ["replace", "dev", "eth0", "root", "tbf", "rate", args.rate,
                  "burst", "256kb", "latency", "50ms"])


def main():
    if len(ROOT_VETH) > 15 or not LAB_NAME.replace("-", "").isalnum():
        sys.exit("lab: DROVER_LAB_NAME must be at most 11 letters, digits or dashes")
    p = argparse.ArgumentParser(prog="lab/lab", description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="create or repair the lab (idempotent)")
    up.add_argument("--hosts", type=int, default=int(os.environ.get("DROVER_LAB_HOSTS", 3)))
    up.add_argument("--guests", type=int, default=int(os.environ.get("DROVER_LAB_GUESTS", 4)),
                    help="running guests vm1..vmN on hv1 (default 4)")
    up.add_argument("--memory", type=int, default=128, help="guest RAM in MiB")
    up.add_argument("--dirty-mb", type=int, default=4, help="MiB each guest rewrites per second")
    up.add_argument("--no-wait", dest="wait", action="store_false",
                    help="do not wait for the guests' first heartbeat")
    down = sub.add_parser("down", help="remove everything the lab created (idempotent)")
    down.add_argument("--purge", action="store_true", help="also drop the guest kernel cache")
    st = sub.add_parser("status", help="hosts, daemons and domains")
    st.add_argument("--json", action="store_true")
    ex = sub.add_parser("exec", help="run a command inside a host: exec hv1 -- CMD...")
    ex.add_argument("host")
    ex.add_argument("cmd", nargs=argparse.REMAINDER)
    g = sub.add_parser("guest", help="define (and start) one more guest; a defined one is kept as it is")
    g.add_argument("name")
    g.add_argument("--host", default="hv1", metavar="hvN", help="where to define it (default hv1)")
    g.add_argument("--memory", type=int, default=128, metavar="MIB", help="RAM in MiB (default 128)")
    g.add_argument("--dirty-mb", type=int, default=4, metavar="MIB", help="MiB rewritten per second (default 4)")
    g.add_argument("--storage", choices=["shared", "local"], default="shared", help="pool of its disk")
    g.add_argument("--no-start", action="store_true", help="define it only")
    g.add_argument("--wait", action="store_true", help="wait for the first heartbeat")
    lab_guests.add_guest_arguments(g)
    lab_guests.add_fixture_parsers(sub)
    hb = sub.add_parser("heartbeat", help="last heartbeat of a guest on a host, as JSON")
    hb.add_argument("host")
    hb.add_argument("name")
    sh = sub.add_parser("shape", help="cap a host's outbound link with tc")
    sh.add_argument("host")
    sh.add_argument("--rate", help="e.g. 1gbit, 200mbit")
    sh.add_argument("--delay", help="added latency, e.g. 1ms")
    sh.add_argument("--clear", action="store_true")
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("lab: must run as root")
    handlers = {"up": cmd_up, "down": cmd_down, "status": cmd_status, "exec": cmd_exec,
                "guest": cmd_guest, "heartbeat": cmd_heartbeat, "shape": cmd_shape,
                "network": cmd_network, "firewall": cmd_firewall}
    try:
        handlers[args.command](args)
    except (LabError, lab_guests.SpecError) as exc:
        sys.exit("lab: error: %s" % exc)


if __name__ == "__main__":
    main()
