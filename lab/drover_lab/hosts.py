"""The lab's hosts: their files, their mount and UTS namespaces, their daemons, and removing them all.

Each host hvN keeps its private directories under STATE/hvN and sees them at the standard paths
through bind mounts in its own persistent mount namespace (a file under STATE/ns).
"""
import os
import shutil
import time

import libvirt

from drover_lab import net, templates
from drover_lab.config import (CACHE, LOCAL_MNT, MIGRATION_PORTS, NET, SHARED_MNT, STATE, LabError, host_dir,
                               host_ip, host_name, host_ns, host_uuid, in_host, log, ns_file, out, pid_alive,
                               present_hosts, run, write)
from drover_lab.definitions import pool_xml
from drover_lab.virt import answers, connect, find_pool, tcp_uri

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
ROOT_BASHRC = "/root/.bashrc"
REQUIRED_TOOLS = ["ip", "nsenter", "unshare", "mountpoint", "ssh-keygen", "virsh",
                  "qemu-img", "qemu-system-x86_64", "/usr/sbin/libvirtd",
                  "/usr/sbin/sshd", "busybox", "cpio", "tc"]


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
        with open(created, "a", encoding="utf-8") as f:
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
    write(os.path.join(STATE, "ssh", "bashrc"), "# root's ~/.bashrc inside the lab's hosts (see ensure_host_ns)\n")
    write(os.path.join(STATE, "ssh", "ssh_config"), templates.SSH_CLIENT_CONF.format(net=NET, state=STATE))
    hosts = "127.0.0.1 localhost\n%s.254 labctl\n" % NET
    hosts += "".join("%s %s\n" % (host_ip(n), host_name(n)) for n in range(1, count + 1))
    write(os.path.join(STATE, "hosts"), hosts)


def write_host_config(n):
    d = host_dir(n)
    for sub in list(PRIVATE_DIRS.values()) + ["etc/qemu", "log/qemu", "lib/images", "ssh"]:
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    fmt = dict(name=host_name(n), ip=host_ip(n), uuid=host_uuid(n), dir=d, state=STATE,
               shared=SHARED_MNT, port_min=MIGRATION_PORTS[0], port_max=MIGRATION_PORTS[1])
    write(os.path.join(d, "etc", "libvirtd.conf"), templates.LIBVIRTD_CONF.format(**fmt))
    write(os.path.join(d, "etc", "qemu.conf"), templates.QEMU_CONF.format(**fmt))
    write(os.path.join(d, "etc", "network.conf"), templates.NETWORK_CONF.format(**fmt))
    write(os.path.join(d, "ssh", "sshd_config"), templates.SSHD_CONF.format(**fmt))
    if not os.path.exists(os.path.join(d, "ssh", "host_ed25519")):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host_name(n),
             "-f", os.path.join(d, "ssh", "host_ed25519")])


def ensure_host_ns(n):
    mnt = ns_file(n, "mnt")
    if os.path.exists(mnt) and run(["nsenter", "--mount=" + mnt, "true"], check=False,
                                   quiet=True).returncode == 0:
        return
    for kind in ("mnt", "uts"):
        open(ns_file(n, kind), "w", encoding="ascii").close()
    binds = [(os.path.join(host_dir(n), sub), mp) for mp, sub in PRIVATE_DIRS.items()]
    binds += [(os.path.join(STATE, "shared"), SHARED_MNT),
              (os.path.join(STATE, "ssh", "ssh_config"), "/etc/ssh/ssh_config"),
              (os.path.join(STATE, "hosts"), "/etc/hosts")]
    # Bash sources root's ~/.bashrc for every command sshd runs (each Ansible task, each qemu+ssh
    # connection). This machine's may set up tools a hypervisor has not (e.g. `pyenv init`, whose
    # rehash lock, left behind by a session killed mid-rehash, makes every later login wait 60 s):
    # a lab host's root starts from an empty one.
    if os.path.isfile(ROOT_BASHRC):
        binds.append((os.path.join(STATE, "ssh", "bashrc"), ROOT_BASHRC))
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
    uri = tcp_uri(n)
    while time.time() < deadline:
        if answers(uri):
            return
        time.sleep(0.25)
    raise LabError("libvirtd on %s did not answer on %s; see %s/log/libvirtd.log"
                   % (host_name(n), uri, host_dir(n)))


def ensure_pools(n):
    with connect(n) as conn:
        for name, path in (("shared", SHARED_MNT), ("local", LOCAL_MNT)):
            pool = find_pool(conn, name)
            if pool is None:
                pool = conn.storagePoolDefineXML(pool_xml(name, path), 0)
                pool.setAutostart(1)
            if not pool.isActive():
                try:
                    pool.create(0)
                except libvirt.libvirtError as exc:  # the host still runs guests without it
                    log("pool %s on %s did not start: %s" % (name, host_name(n), exc))


def stop_host(n):
    d = host_dir(n)
    if os.path.exists(ns_file(n, "mnt")) and pid_alive(os.path.join(d, "run", "libvirtd.pid")):
        try:
            with connect(n) as conn:
                for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
                    try:
                        dom.destroy()
                    except libvirt.libvirtError:
                        pass  # gone already, or QEMU is killed with the namespace below
        except libvirt.libvirtError:
            pass  # libvirtd does not answer: its QEMUs are killed with the namespace below
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


def remove_lab(purge):
    """Stop every host, remove the network, the state directory and the mount points the lab created."""
    for n in present_hosts():
        stop_host(n)
    nsdir = os.path.join(STATE, "ns")
    if os.path.isdir(nsdir):
        for f in os.listdir(nsdir):
            run(["umount", os.path.join(nsdir, f)], check=False, quiet=True)
        run(["umount", nsdir], check=False, quiet=True)
    net.remove_network()
    mounts = out(["findmnt", "-rn", "-o", "TARGET"]).split()
    busy = [m for m in mounts if m == STATE or m.startswith(STATE + "/")]
    if busy:
        raise LabError("still mounted, not removing %s: %s" % (STATE, ", ".join(busy)))
    try:
        with open(os.path.join(STATE, "created-dirs"), encoding="utf-8") as f:
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
    if purge:
        shutil.rmtree(CACHE, ignore_errors=True)
