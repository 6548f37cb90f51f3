# -*- coding: utf-8 -*-
# Copyright: drover.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the lab benchmarks share: the lab, the link's shaping, guests, playbook runs, results.json.

The benchmarks (bench/evacuation.py, convergence.py, downtime.py) run against the lab of
DROVER_LAB_NAME / DROVER_LAB_NET / DROVER_LAB_STATE. Every host's outbound link is capped with tc
(`lab shape`) at LINK_RATE so that the link, not this machine's CPUs, bounds a migration; the
same cap holds for both sides of every comparison. Guests and libvirt are reached through each
host's unix socket, which the cap does not touch.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB = os.path.join(ROOT, "lab", "lab")
RESULTS = os.path.join(ROOT, "bench", "results.json")
CALLBACKS = os.path.join(ROOT, "bench", "callback_plugins")
sys.path.insert(0, os.path.join(ROOT, "lab"))

import libvirt  # noqa: E402  pylint: disable=wrong-import-position

from drover_lab.config import HOST_NS_PREFIX, host_dir, host_ip, present_hosts  # noqa: E402  pylint: disable=wrong-import-position
from drover_lab.heartbeat import PREFIX, read_heartbeat, serial_log  # noqa: E402  pylint: disable=wrong-import-position
from drover_lab.virt import connect, tcp_uri  # noqa: E402  pylint: disable=wrong-import-position

# The cap on every host's outbound link, in tc's words and in bits per second.
LINK_RATE = "100mbit"
LINK_BPS = 100 * 1000 * 1000
GUEST_MEMORY_MIB = 128


def lab(*args):
    """Run lab/lab; its output, or SystemExit with its error."""
    proc = subprocess.run([LAB] + [str(a) for a in args], text=True, capture_output=True, check=False)
    if proc.returncode != 0:
        raise SystemExit("lab %s failed:\n%s" % (" ".join(str(a) for a in args), proc.stderr[-2000:]))
    return proc.stdout


@contextlib.contextmanager
def lab_up(hosts=3):
    """The lab, brought up if it is not (and then down again afterwards), every host's link capped.

    Refuses a lab whose hosts hold domains already: an evacuation of hv1 would move them too.
    """
    was_up = bool(present_hosts())
    if not was_up:
        lab("up", "--hosts", hosts, "--guests", 0)
    held = {}
    for n in present_hosts():
        with connect(n) as conn:
            names = [dom.name() for dom in conn.listAllDomains()]
        if names:
            held["hv%d" % n] = names
    if held:
        raise SystemExit("the lab's hosts hold domains already (%s): the benchmarks bring their own guests; "
                         "remove those, or run `lab/lab down` first" % held)
    try:
        shape_links()
        yield
    finally:
        if not was_up:
            lab("down")


def shape_links(rate=LINK_RATE):
    for n in present_hosts():
        lab("shape", "hv%d" % n, "--rate", rate)


def other_labs():
    """Names of the other labs whose hosts run on this machine now (they share its CPUs)."""
    names = subprocess.run(["ip", "netns", "list"], text=True, capture_output=True, check=False).stdout.split()
    return sorted({n.rsplit("-hv", 1)[0] for n in names if "-hv" in n and not n.startswith(HOST_NS_PREFIX + "hv")})


def machine():
    return "%s, %d CPUs, Python %s" % (platform.machine(), os.cpu_count(), platform.python_version())


def conditions():
    """What the machine was doing while a benchmark ran: load and the other labs sharing it."""
    return {"load_1min": round(os.getloadavg()[0], 2), "other_labs": other_labs()}


# --- guests -----------------------------------------------------------------------------------

def add_guests(names, dirty_mb, host=1, memory=GUEST_MEMORY_MIB):
    """Define and start guests on hvHOST, then wait for every first heartbeat (they boot at once).

    A host keeps a guest's serial log across guests of the same name: a heartbeat counts once it
    comes from another boot than the last one logged before.
    """
    before = {name: read_heartbeat(host_dir(host), name) for name in names}
    for name in names:
        lab("guest", name, "--host", "hv%d" % host, "--memory", memory, "--dirty-mb", dirty_mb)
    deadline = time.monotonic() + 300
    for name in names:
        while True:
            beat = read_heartbeat(host_dir(host), name)
            if beat and (before[name] is None or beat["boot_id"] != before[name]["boot_id"]):
                break
            if time.monotonic() > deadline:
                raise SystemExit("guest %s printed no heartbeat within 300 s" % name)
            time.sleep(0.5)


def dirty_rate(name, dirty_mb, host=1, seconds=10):
    """MiB/s guest NAME really rewrites: dirty_mb per turn of its loop, turns counted from its heartbeats.

    (libvirt's own dirty-rate figure during a migration cannot exceed the bandwidth: it counts
    what one pre-copy round finds dirty, over that round's length.)
    """
    first, started = read_heartbeat(host_dir(host), name), time.monotonic()
    time.sleep(seconds)
    last, ended = read_heartbeat(host_dir(host), name), time.monotonic()
    return round(dirty_mb * (last["seq"] - first["seq"]) / (ended - started), 1)


def heartbeat(name):
    """The guest's last heartbeat {seq, boot_id} on the host it runs on (None if it runs nowhere)."""
    hosts = running_on(name)
    return read_heartbeat(host_dir(hosts[0]), name) if hosts else None


def turns(name, since):
    """Seconds of guest time each turn of its loop took from heartbeat `since` on: {longest_s, median_s}.

    Read from every host's serial log of NAME (its boot only). A guest that auto-converge throttles
    takes longer turns; the time it is paused does not count (its clock stops too).
    """
    uptimes = {}
    for n in present_hosts():
        try:
            with open(serial_log(host_dir(n), name), "rb") as f:
                lines = f.read().decode("utf-8", "replace").split("\n")[:-1]
        except OSError:
            continue
        for line in lines:
            if line.startswith(PREFIX) and since["boot_id"] in line:
                fields = dict(p.split("=", 1) for p in line.split()[1:] if "=" in p)
                if fields.get("seq", "").isdigit() and int(fields["seq"]) >= since["seq"]:
                    uptimes[int(fields["seq"])] = float(fields["uptime"])
    ordered = [uptimes[seq] for seq in sorted(uptimes)]
    steps = [b - a for a, b in zip(ordered, ordered[1:])]
    if not steps:
        return {"longest_s": None, "median_s": None}
    return {"longest_s": round(max(steps), 1), "median_s": round(statistics.median(steps), 1)}


def running_on(name):
    """Numbers of the hosts where domain NAME runs."""
    found = []
    for n in present_hosts():
        with connect(n) as conn:
            try:
                dom = conn.lookupByName(name)
            except libvirt.libvirtError:
                continue
            if dom.isActive():
                found.append(n)
    return found


def alive(name):
    """The guest runs on exactly one host and its heartbeat moves on within 10 s (same boot as before)."""
    hosts = running_on(name)
    if len(hosts) != 1:
        return False
    first = read_heartbeat(host_dir(hosts[0]), name)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = read_heartbeat(host_dir(hosts[0]), name)
        if first and now and now["boot_id"] == first["boot_id"] and now["seq"] > first["seq"]:
            return True
        first = first or now
    return False


def remove_guests(names):
    """Destroy and undefine the guests wherever they are defined."""
    for n in present_hosts():
        with connect(n) as conn:
            for name in names:
                try:
                    dom = conn.lookupByName(name)
                except libvirt.libvirtError:
                    continue
                if dom.isActive():
                    dom.destroy()
                dom.undefine()


def bring_home(names, home=1):
    """Migrate the guests back to hvHOME, one source host per thread (set-up, not measured)."""
    by_source = {}
    for name in names:
        for n in running_on(name):
            if n != home:
                by_source.setdefault(n, []).append(name)

    def move(source, domains):
        for name in domains:
            migrate(name, source, home)

    threads = [threading.Thread(target=move, args=item) for item in by_source.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stray = [name for name in names if running_on(name) != [home]]
    if stray:
        raise SystemExit("could not bring %s back to hv%d" % (", ".join(stray), home))


def migrate(name, source, dest, live=False):
    """Migrate NAME from hvSOURCE to hvDEST with libvirt directly (set-up, not measured).

    Unless live, the guest is paused for the move and resumed on hvDEST: a guest that dirties
    memory faster than the capped link would never finish a plain live migration.
    """
    flags = (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER | libvirt.VIR_MIGRATE_PERSIST_DEST
             | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE)
    with connect(source) as conn:
        dom = conn.lookupByName(name)
        if not live:
            dom.suspend()
        dom.migrateToURI3(tcp_uri(dest), {}, flags)
    if not live:
        with connect(dest) as conn:
            conn.lookupByName(name).resume()


def completed_job(name, host):
    """The completed migration job's statistics of domain NAME as host hvHOST keeps them ({} if none)."""
    with connect(host) as conn:
        try:
            return conn.lookupByName(name).jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
        except libvirt.libvirtError:
            return {}


class GuestWatch(threading.Thread):
    """Watches a guest while it migrates away from hvSOURCE, through each host's unix socket.

    Every `every` seconds: on which host the guest runs (none while pre-copy's stop-and-copy or a
    suspended migration has it paused) and whether another host than the source holds it (the
    incoming side, from the migration's prepare step on). Every second: the source's job
    statistics (dirty rate, bandwidth). summary() turns the samples into figures.
    """

    def __init__(self, name, source, every=0.025):
        super().__init__(daemon=True)
        self.name, self.source, self.every = name, source, every
        self.stop_event = threading.Event()
        self.states = []  # (t, host it runs on or None, held by another host than the source)
        self.jobs = []    # source's job statistics while a job runs

    def _state(self, conns):
        running, elsewhere = None, False
        for n, conn in conns.items():
            try:
                dom = conn.lookupByName(self.name)
            except libvirt.libvirtError:
                continue
            if n != self.source:
                elsewhere = True
            try:
                if dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING:
                    running = n
            except libvirt.libvirtError:
                continue
        return running, elsewhere

    def _job(self, conn):
        try:
            stats = conn.lookupByName(self.name).jobStats()
        except libvirt.libvirtError:
            return
        if stats.get("type", 0) != libvirt.VIR_DOMAIN_JOB_NONE:
            self.jobs.append(stats)

    def run(self):
        with contextlib.ExitStack() as stack:
            conns = {n: stack.enter_context(connect(n)) for n in present_hosts()}
            next_job = 0.0
            while not self.stop_event.is_set():
                now = time.monotonic()
                state = self._state(conns)
                if not self.states or self.states[-1][1:] != state:
                    self.states.append((now,) + state)
                if now >= next_job:
                    self._job(conns[self.source])
                    next_job = now + 1.0
                time.sleep(self.every)

    def stop(self):
        self.stop_event.set()
        self.join()
        return self.summary()

    def pauses_ms(self):
        """Length of every interval in which the guest ran on no host."""
        out, since = [], None
        for t, running, _elsewhere in self.states:
            if running is None and since is None:
                since = t
            elif running is not None and since is not None:
                out.append(round((t - since) * 1000))
                since = None
        return out

    def summary(self):
        """{time_s (prepare on the destination to the last change), pauses_ms, the highest auto-converge
        throttle, the medians of the dirty rate and bandwidth libvirt reported}."""
        started = [t for t, _r, elsewhere in self.states if elsewhere]
        time_s = round(self.states[-1][0] - started[0], 2) if started else None
        dirty = [j["memory_dirty_rate"] * j.get("memory_page_size", 4096) / 1048576.0 for j in self.jobs
                 if j.get("memory_dirty_rate")]
        bandwidth = [j["memory_bps"] / 1048576.0 for j in self.jobs if j.get("memory_bps")]
        return {"time_s": time_s, "pauses_ms": self.pauses_ms(),
                "throttle_pct_max": max([j.get("auto_converge_throttle", 0) for j in self.jobs] or [0]),
                "dirty_mib_s": round(statistics.median(dirty), 1) if dirty else None,
                "bandwidth_mib_s": round(statistics.median(bandwidth), 1) if bandwidth else None}


# --- Ansible --------------------------------------------------------------------------------------

def ansible_env(times_file=None, keep=()):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    if times_file:
        env.update(ANSIBLE_CALLBACK_PLUGINS=CALLBACKS, ANSIBLE_CALLBACKS_ENABLED="task_times",
                   BENCH_TASK_TIMES=times_file, BENCH_KEEP_RESULTS=",".join(keep))
    return env


def playbook(path, limit, extra, keep=()):
    """Run a playbook; (seconds, its start as time.time(), what the task_times callback wrote).

    keep: actions whose results the callback keeps (under "results").
    """
    with tempfile.NamedTemporaryFile(suffix=".json") as times:
        cmd = ["ansible-playbook", path, "-l", limit, "-e", json.dumps(extra)]
        started_wall, started = time.time(), time.monotonic()
        proc = subprocess.run(cmd, cwd=ROOT, env=ansible_env(times.name, keep), text=True, capture_output=True,
                              check=False)
        seconds = time.monotonic() - started
        if proc.returncode != 0:
            raise SystemExit("%s failed:\n%s" % (" ".join(cmd), proc.stdout[-4000:]))
        with open(times.name, encoding="utf-8") as f:
            task_times = json.load(f)
    return round(seconds, 2), started_wall, task_times


def adhoc(pattern, module, args):
    """One ad-hoc module run on the hosts of PATTERN; {host: result}, failed or not."""
    with tempfile.TemporaryDirectory() as tree:
        proc = subprocess.run(["ansible", pattern, "-m", module, "-a", json.dumps(args), "--tree", tree], cwd=ROOT,
                              env=ansible_env(), text=True, capture_output=True, check=False)
        results = {}
        for host in os.listdir(tree):
            with open(os.path.join(tree, host), encoding="utf-8") as f:
                results[host] = json.load(f)
    if not results:
        raise SystemExit("ansible %s -m %s gave no result:\n%s%s"
                         % (pattern, module, proc.stdout[-2000:], proc.stderr[-2000:]))
    return results


def clear_marks():
    """Take every host out of maintenance (an evacuation marks the host it drained)."""
    for host, result in adhoc("hypervisors", "drover.libvirt.host_maintenance", {"state": "absent"}).items():
        if result.get("failed"):
            raise SystemExit("could not clear the mark of %s: %s" % (host, result.get("msg")))


# --- figures --------------------------------------------------------------------------------------

def percentile(values, pct):
    """Nearest-rank percentile (the value below which pct % of the values lie)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def table(headers, rows):
    """A plain text table, columns as wide as their widest cell."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_section(key, value):
    """Set one key of bench/results.json, keeping the others."""
    try:
        with open(RESULTS, encoding="utf-8") as f:
            results = json.load(f)
    except FileNotFoundError:
        results = {}
    results["machine"] = machine()
    results["link_rate_mbit"] = LINK_BPS // 1000000
    results["link_shaping"] = "tc on every lab host's outbound link (lab shape hvN --rate %s)" % LINK_RATE
    if isinstance(value, dict):
        value = dict(value, measured_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    results[key] = value
    with open(RESULTS, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write("\n")
    print("written: %s (%s)" % (os.path.relpath(RESULTS, ROOT), key))


def host_ips():
    return {"hv%d" % n: host_ip(n) for n in present_hosts()}
