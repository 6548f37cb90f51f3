"""The fleet as it is, read from outside the collection: every lab host's libvirt directly, its
files and its processes. Nothing here imports drover.libvirt.

audit() answers what an operator checks after a fault: is every VM running on exactly one host and
persistently defined exactly there; what is left over (QEMU processes no domain owns, copied
volumes no definition uses, capacity claims, maintenance marks).
"""
import os
import time
import xml.etree.ElementTree as ET

import libvirt

from drover_lab.config import NET, STATE
from drover_lab.heartbeat import read_heartbeat

HOSTS = ["hv1", "hv2", "hv3"]
LOCAL_POOL = "local"  # each lab host's pool on storage no other host sees
STATE_FILES = ("maintenance.json", "last-maintenance.json")

libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


def uri(host):
    return "qemu+tcp://%s.%s/system" % (NET, host[2:])


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_host(host):
    """{domains: {name: {active, persistent, state, job}}} or None when the host cannot be read whole.

    A domain that vanishes between the listing and its reading has left (a migration finished); any
    other error leaves the host unread rather than missing a domain that may well be there.
    """
    try:
        conn = libvirt.open(uri(host))
    except libvirt.libvirtError:
        return None
    try:
        domains = {}
        for dom in conn.listAllDomains(0):
            try:
                active = bool(dom.isActive())
                state, reason = dom.state()
                domains[dom.name()] = {"active": active, "persistent": bool(dom.isPersistent()),
                                       "state": state, "reason": reason, "uuid": dom.UUIDString(), "job": None}
            except libvirt.libvirtError as err:
                if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                    continue
                return None
            if active:
                try:
                    domains[dom.name()]["job"] = dom.jobInfo()[0]
                except libvirt.libvirtError:
                    domains[dom.name()]["job"] = "unknown"  # a job holds the domain (a daemon reconnecting)
            try:
                domains[dom.name()]["disks"] = _disk_paths(dom.XMLDesc(0))
                if domains[dom.name()]["persistent"] and active:
                    domains[dom.name()]["disks"] |= _disk_paths(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
            except libvirt.libvirtError:
                domains[dom.name()]["disks"] = set()
        return {"domains": domains, "local_volumes": _local_volumes(conn)}
    except libvirt.libvirtError:
        return None
    finally:
        conn.close()


def _disk_paths(xml):
    return {src.get("file") for src in ET.fromstring(xml).findall("./devices/disk/source") if src.get("file")}


def _local_volumes(conn):
    """Paths of the volumes in the host's local pool (where copied disks land)."""
    try:
        pool = conn.storagePoolLookupByName(LOCAL_POOL)
        pool.refresh(0)
        return {vol.path() for vol in pool.listAllVolumes(0)}
    except libvirt.libvirtError:
        return set()


def read_fleet(wait=90):
    """Every host's read; a host that cannot be read (its daemon starting) is read again for up to `wait` s."""
    deadline = time.time() + wait
    facts = {h: read_host(h) for h in HOSTS}
    while any(f is None for f in facts.values()) and time.time() < deadline:
        time.sleep(2)
        facts.update({h: read_host(h) for h, f in facts.items() if f is None})
    return facts


def settle(timeout=180):
    """Wait until no domain has a libvirt job running (a migration a killed run left in flight)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        busy = []
        for host in HOSTS:
            facts = read_host(host) or {"domains": {}}
            busy += ["%s@%s" % (n, host) for n, d in facts["domains"].items() if d["job"] not in (None, 0)]
        if not busy:
            return []
        time.sleep(2)
    return busy


def _stray_qemu(host, facts):
    """QEMU processes on `host` (its own pid files) for domains not active there."""
    qemu_dir = os.path.join(STATE, host, "run", "qemu")
    stray = []
    for name in sorted(os.listdir(qemu_dir)) if os.path.isdir(qemu_dir) else []:
        if not name.endswith(".pid") or name == "driver.pid":  # driver.pid: libvirtd's own QEMU driver lock
            continue
        try:
            with open(os.path.join(qemu_dir, name)) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            continue
        domain = name[:-4]
        if _alive(pid) and not (facts and facts["domains"].get(domain, {}).get("active")):
            stray.append("qemu of %s on %s (pid %d)" % (domain, host, pid))
    return stray


def qemu_threads(host, name):
    """[(thread name, kernel wait channel)] of the domain's QEMU on `host` (its pid file), [] when none runs."""
    pid = None
    try:
        with open(os.path.join(STATE, host, "run", "qemu", name + ".pid")) as f:
            pid = int(f.read().strip())
        threads = []
        for tid in sorted(os.listdir("/proc/%d/task" % pid), key=int):
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                comm = f.read().strip()
            with open("/proc/%d/task/%s/wchan" % (pid, tid)) as f:
                threads.append(("main" if int(tid) == pid else comm, f.read().strip()))
        return threads
    except (OSError, ValueError):
        return []


def frozen_on_missing_page(host, name):
    """Why the domain's QEMU on `host` cannot take a resumed post-copy stream, or None.

    Under TCG a vCPU delivers an interrupt holding QEMU's global lock and reads guest memory doing so (the
    IDT, the kernel stack, page tables): if that page is still on the source when the stream dies, the
    vCPU sleeps in the kernel's userfault handler with the lock held, the main loop waits for the lock for
    good, and the listener that would take the resumed stream is never polled again. (Under KVM the
    kernel delivers interrupts and a vCPU waits on a missing page without that lock.)"""
    threads = qemu_threads(host, name)
    vcpus = [t for t, wchan in threads if t.startswith("CPU ") and wchan == "handle_userfault"]
    main = [wchan for t, wchan in threads if t == "main"]
    if vcpus and main and main[0].startswith("futex"):
        return ("QEMU on %s frozen: %s waits in the kernel for a page still on the source, the main loop waits for "
                "the global lock (TCG)" % (host, ", ".join(vcpus)))
    return None


def local_volumes():
    """{host: paths of its local pool's volumes} now: what a later audit does not count as copied."""
    return {h: (f or {}).get("local_volumes", set()) for h, f in read_fleet().items()}


def _unused_volumes(host, facts, before):
    """Volumes of the host's local pool, new since `before`, that no domain defined there uses (a copy left behind)."""
    used = set()
    for domain in facts["domains"].values():
        used |= domain.get("disks", set())
    return ["volume %s on %s" % (path, host) for path in sorted(facts.get("local_volumes", set()) - used - before)
            if not os.path.basename(path).startswith(".")]


def _state_files(host, now):
    """Claims (live ones) and marks in the host's collection state directory."""
    path = os.path.join(STATE, host, "lib", "drover")
    found = []
    for name in sorted(os.listdir(path)) if os.path.isdir(path) else []:
        if name.startswith("drover-claim_") and name.endswith(".json"):
            parts = name[len("drover-claim_"):-len(".json")].split("_")
            live = parts[0].isdigit() and int(parts[0]) > now
            found.append("claim on %s by run %s (%s)" % (host, parts[3] if len(parts) > 3 else "?",
                                                         "live" if live else "expired"))
        elif name == "maintenance.json":
            found.append("mark on %s" % host)
    return found


# (state, reason) of the two halves of a post-copy migration whose stream failed: the source paused
# "post-copy failed" (it cannot run again, only resume the migration forward), the destination running
# the guest (or paused in post-copy).
SOURCE_HALF = {(libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_POSTCOPY_FAILED)}
DESTINATION_HALF = {(libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_POSTCOPY),
                    (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_POSTCOPY_FAILED),
                    (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_POSTCOPY)}


# A move stuck in its switch-over to post-copy: the source as above, the destination an incoming migration that
# never started (it never received the device state; QEMU before 10.2 can neither resume nor undo such a move).
STUCK_DESTINATION = {(libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_MIGRATION)}


def postcopy_halves(places, persistent=(), destination_half=None):
    """(source, destination) when the two active places (host, (state, reason), uuid) of a VM are the halves of
    one post-copy migration - one guest whose memory is on both hosts, not two copies: the same UUID, and no
    persistent definition anywhere else - else None. `destination_half` (STUCK_DESTINATION) finds a move stuck
    in its switch-over instead."""
    if len(places) != 2 or places[0][2] != places[1][2] or not set(persistent) <= {places[0][0], places[1][0]}:
        return None
    for src, dst in (places, places[::-1]):
        if src[1] in SOURCE_HALF and dst[1] in (destination_half or DESTINATION_HALF):
            return src[0], dst[0]
    return None


def source_crash(name, dst):
    """Why the source half of `name` (moved to `dst`) is gone, from its QEMU log on the other hosts, or None.

    QEMU before 10.2 takes a stream error in the post-copy switch-over for a failed migration: it restarts the
    guest on the source, cannot take its disks back from a destination that already runs it, and crashes on the
    guest's first write."""
    for host in HOSTS:
        if host == dst:
            continue
        try:
            with open(os.path.join(STATE, host, "log", "qemu", "%s.log" % name), errors="replace") as f:
                text = f.read()[-200000:]
        except OSError:
            continue
        last = text.rsplit("starting up", 1)[-1]  # libvirt's line at each start of the domain's QEMU
        if "BDRV_O_INACTIVE" in last or "Failed to get write lock" in last:
            return ("QEMU on %s restarted the guest after a failed post-copy switch-over and crashed: %s held its "
                    "disks" % (host, dst))
    return None


def frozen_guests(running_on, wait=20):
    """The VMs of {name: [host]} running on exactly one host whose guest prints no new heartbeat on its serial
    console within `wait` seconds: defined and "running", yet a guest nobody can use (a vCPU waiting for good
    for a page that is nowhere any more counts here)."""
    watch = {n: hosts[0] for n, hosts in running_on.items() if len(hosts) == 1}
    first = {n: read_heartbeat(os.path.join(STATE, h), n) for n, h in watch.items()}
    pending, deadline = set(watch), time.time() + wait
    while pending and time.time() < deadline:
        time.sleep(0.5)
        for name in sorted(pending):
            beat = read_heartbeat(os.path.join(STATE, watch[name]), name)
            if beat and (first[name] is None or beat != first[name]):
                pending.discard(name)
    return sorted(pending)


def audit(vms, wait=90, volumes_before=None, stuck_is_lost=True):
    """{lost, lost_in_postcopy, unaccounted, duplicated, postcopy_split, split, frozen, unread, leftovers, where}
    for the VMs of `vms`.

    A VM counts as lost only when every host was read: one that cannot be read is listed in `unread`
    and its VMs are neither lost nor found. A VM active on two hosts as the two halves of a post-copy
    migration whose stream failed is one guest, not two: it is listed in `postcopy_split` (only moving it
    forward finishes it), not in `duplicated`; one running on one host as the destination half of such a
    migration with no source half left is lost (`lost_in_postcopy` says so), and so is one stuck in its
    switch-over to post-copy (with `stuck_is_lost`; else it is listed in `postcopy_split`, as it may still
    complete right after a fault). A VM running on one host whose guest makes no progress (no new
    heartbeat) is `frozen`. Volumes of `volumes_before` (local_volumes()) are not leftovers.
    """
    facts = read_fleet(wait)
    where, states = {}, {}
    for host, f in facts.items():
        for name, d in (f or {"domains": {}})["domains"].items():
            where.setdefault(name, []).append((host, d["active"], d["persistent"]))
            if d["active"]:
                states.setdefault(name, []).append((host, (d["state"], d.get("reason")), d.get("uuid")))
    unread = [h for h in HOSTS if facts[h] is None]
    lost, unaccounted, duplicated, postcopy_split, split, lost_in_postcopy = [], [], [], [], [], []
    for name in vms:
        active = [h for h, a, _p in where.get(name, []) if a]
        persistent = [h for h, _a, p in where.get(name, []) if p]
        halves = postcopy_halves(states.get(name, []), persistent)
        places = states.get(name, [])
        if not active and not persistent:
            (unaccounted if unread else lost).append(name)
        elif len(places) == 1 and places[0][1] in DESTINATION_HALF | SOURCE_HALF and not unread:
            # One half of a post-copy move with no other half anywhere: the memory that half lacks is gone.
            lost.append(name)
            why = source_crash(name, places[0][0])
            lost_in_postcopy.append("%s on %s in post-copy (state %s/%s), no other half left%s" % (
                name, places[0][0], places[0][1][0], places[0][1][1], ": " + why if why else ""))
        elif postcopy_halves(places, persistent, STUCK_DESTINATION):
            # Down: its memory is only in a source QEMU that can neither finish the move nor run it again - once
            # that QEMU has given the stream up; right after a fault it may still deliver the device state.
            stuck = ("%s stuck in the switch-over to post-copy: paused on %s (post-copy failed), never started on %s"
                     % ((name,) + postcopy_halves(places, persistent, STUCK_DESTINATION)))
            if stuck_is_lost:
                lost.append(name)
                lost_in_postcopy.append(stuck)
            else:
                postcopy_split.append(stuck)
        elif halves:
            postcopy_split.append("%s paused on %s (post-copy failed), running on %s" % ((name,) + halves))
        elif len(active) > 1 or len(persistent) > 1:
            duplicated.append(name)
        elif persistent != active:
            split.append("%s active on %s, persistent on %s" % (name, active or "none", persistent or "none"))
    now = time.time()
    leftovers = []
    for host in HOSTS:
        if facts[host] is not None:  # an unread host's QEMUs and volumes cannot be told stray or not
            leftovers += _stray_qemu(host, facts[host])
            leftovers += _unused_volumes(host, facts[host], (volumes_before or {}).get(host, set()))
        leftovers += _state_files(host, now)
    halves = {n: postcopy_halves(states.get(n, []), [h for h, _a, p in where.get(n, []) if p]) for n in vms}
    running_on = {n: sorted(h for h, a, _p in where.get(n, []) if a) for n in vms}
    frozen = frozen_guests({n: hosts for n, hosts in running_on.items() if n not in duplicated + lost})
    return {"lost": lost, "lost_in_postcopy": lost_in_postcopy, "unaccounted": unaccounted, "duplicated": duplicated, "postcopy_split": postcopy_split,
            "split": split, "halves": {n: h for n, h in halves.items() if h}, "frozen": frozen,
            "unclean": sorted(set(lost + duplicated + frozen) | {n for n in vms for entry in postcopy_split + split
                                                                 if entry.startswith(n + " ")}),
            "unread": unread, "leftovers": leftovers,
            "where": running_on}
