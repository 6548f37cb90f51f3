"""Fault injection on the lab: real moves, real faults at random (seeded) points, an outside audit.

For each fault: a move is started with the collection's own playbooks (one VM migrated, a host
evacuated, two hosts evacuated by two runs at once, or a rolling maintenance), the fault is
injected when the move reaches its phase (plus a seeded delay), the lab is repaired (links up,
dead daemons started again, as hosts coming back would), the fleet is audited from outside the
collection (chaos/audit.py), and the same playbook is run again, which must complete. The table
and chaos/results.json say, per fault: kind, phase, outcome of the faulted run, VMs lost,
duplicated, split in post-copy (one guest in two halves: a link cut for good), leftovers, and
whether the re-run completed.

    python chaos/campaign.py --faults 54 --seed 7          # the full campaign (make chaos)
    python chaos/campaign.py --faults 3 --seed 7 --out /tmp/r.json   # a short one
Replay a campaign with the same seed; --only KIND[/OPERATION],... runs those faults only.
"""
import argparse
import datetime
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "lab"))

import libvirt  # noqa: E402

from drover_lab.config import STATE  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from audit import HOSTS, audit, frozen_on_missing_page, local_volumes, read_host, settle, uri  # noqa: E402

LAB = os.path.join(ROOT, "lab", "lab")
VMS = ["c1", "c2", "c3", "c4"]
LINK = "60mbit"  # every host's outbound link: a 96 MiB guest takes over 10 s to move

# (kind, operation, phase): the phase is when the fault strikes.
FAULTS = [
    ("dest_libvirtd_killed", "migrate", "precopy"),
    ("dest_libvirtd_restarted", "migrate", "precopy"),
    ("source_libvirtd_restarted", "migrate", "precopy"),
    ("dest_qemu_killed", "migrate", "precopy"),
    ("link_cut_3s", "migrate", "precopy"),
    ("link_cut_30s", "migrate", "precopy"),
    ("link_cut_for_good", "migrate", "precopy"),
    ("link_cut_3s", "migrate", "postcopy"),
    ("link_cut_30s", "migrate", "postcopy"),
    ("link_cut_for_good", "migrate", "postcopy"),
    ("controller_killed", "migrate", "precopy"),
    ("controller_killed", "evacuate", "moving"),
    ("dest_libvirtd_killed", "evacuate", "moving"),
    ("dest_qemu_killed", "evacuate", "moving"),
    ("host_unreachable", "evacuate", "planned"),
    ("controller_killed", "concurrent", "moving"),
    ("dest_libvirtd_restarted", "concurrent", "moving"),
    ("controller_killed", "rolling", "draining"),
    ("dest_storage_full", "copy", "copying"),
]
# The copy scenario: a guest on host-local storage, evacuated with its disk copied onto the other hosts'
# local pools, made small (a tmpfs) so that filling them during the copy is possible.
LOCAL_VM = "cl"
LOCAL_DIR = "/srv/drover/local"
LOCAL_POOL_MIB = 160
FILLER = LOCAL_DIR + "/.chaos-filler"


def lab(*args, check=True):
    return subprocess.run([LAB] + list(args), check=check, text=True, capture_output=True)


def pid_of(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def daemon_pid(host):
    return pid_of(os.path.join(STATE, host, "run", "libvirtd.pid"))


def link(host, up):
    lab("exec", host, "--", "ip", "link", "set", "eth0", "up" if up else "down", check=False)


def repair():
    """Hosts come back: links up, daemons that died started again, space freed."""
    for host in HOSTS:
        link(host, True)
    lab("up", "--guests", "0", check=False)
    for host in HOSTS:
        lab("exec", host, "--", "rm", "-f", FILLER, check=False)


def remove_guest(name):
    """The guest destroyed and undefined on every host that can be read; the hosts it was found on, each with
    the libvirt state and reason it had (numbers, as virDomainGetState gives them)."""
    found = []
    for host in HOSTS:
        try:
            conn = libvirt.open(uri(host))
        except libvirt.libvirtError:
            continue
        try:
            dom = conn.lookupByName(name)
            # What it was, for the record, before it goes: (state, reason) and whether it was persistent.
            state, reason = dom.state()
            found.append("%s (state %d/%d%s)" % (host, state, reason, ", persistent" if dom.isPersistent() else ""))
            if dom.isActive():
                dom.destroy()  # libvirt kills QEMU before it waits for a job that holds the domain
            if dom.isPersistent():
                dom.undefine()
        except libvirt.libvirtError:
            pass
        finally:
            conn.close()
    return found


def reset_guests(names):
    """Each named guest destroyed and undefined wherever it is, then started afresh on its first host, so that
    the next fault starts from a clean fleet and is judged on its own. For the record, not the verdict: the
    fault that left the guest so has already failed."""
    done = []
    for name in names:
        found = remove_guest(name)
        home = HOSTS[VMS.index(name) % 2]
        started = lab("guest", name, "--host", home, "--memory", "96", "--dirty-mb", "2", "--wait", check=False)
        done.append("%s destroyed on %s, started afresh on %s%s" % (
            name, ", ".join(found) or "no host", home, "" if started.returncode == 0 else " (FAILED)"))
    return done


def refresh_local_pool(host):
    try:
        conn = libvirt.open(uri(host))
    except libvirt.libvirtError:
        return  # the host is down: its pool is read afresh when its daemon starts
    try:
        conn.storagePoolLookupByName("local").refresh(0)
    except libvirt.libvirtError:
        pass
    finally:
        conn.close()


def prepare_copy(source, dests):
    """LOCAL_VM running on `source` with 48 MiB of data on its local disk; small local pools on `dests`."""
    for host in dests:
        lab("exec", host, "--", "mount", "-t", "tmpfs", "-o", "size=%dm" % LOCAL_POOL_MIB, "chaos-local", LOCAL_DIR)
        refresh_local_pool(host)
    lab("guest", LOCAL_VM, "--host", source, "--storage", "local", "--no-start")
    image = os.path.join(STATE, source, "local", LOCAL_VM + ".qcow2")
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 48M", image], check=True, capture_output=True)
    lab("guest", LOCAL_VM, "--host", source, "--storage", "local", "--memory", "96", "--dirty-mb", "2", "--wait")


def remove_copy(source, dests):
    """LOCAL_VM gone from every host, its images removed, the small pools unmounted (not part of the verdict)."""
    remove_guest(LOCAL_VM)
    for host in dests:
        lab("exec", host, "--", "umount", LOCAL_DIR, check=False)
    for host in HOSTS:
        image = os.path.join(STATE, host, "local", LOCAL_VM + ".qcow2")
        if os.path.exists(image):
            os.unlink(image)
        refresh_local_pool(host)


def playbook_cmd(name, extra, limit=None):
    cmd = ["ansible-playbook", os.path.join(ROOT, "playbooks", name), "-e", json.dumps(extra)]
    return cmd + (["-l", limit] if limit else [])


class Run:
    """One ansible-playbook process, in its own process group (a killed controller takes its workers)."""

    def __init__(self, cmd):
        self.log = tempfile.NamedTemporaryFile("w+", prefix="chaos-", suffix=".log", delete=False)
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_SSH_ARGS="-o ControlMaster=no")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)

    def close(self):
        os.unlink(self.log.name)

    def output(self):
        with open(self.log.name) as f:
            return f.read()

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def wait(self, timeout=900):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.proc.wait()


def where_now():
    found = {}
    for host in HOSTS:
        for name, d in ((read_host(host) or {"domains": {}})["domains"]).items():
            if d["active"]:
                found.setdefault(name, []).append(host)
    return found


def outgoing(host):
    """Domains on `host` with a migration job running, and the job's state."""
    try:
        conn = libvirt.open(uri(host))
    except libvirt.libvirtError:
        return {}
    try:
        jobs = {}
        for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
            try:
                if dom.jobInfo()[0] != libvirt.VIR_DOMAIN_JOB_NONE:
                    jobs[dom.name()] = tuple(dom.state())
            except libvirt.libvirtError:
                continue
        return jobs
    finally:
        conn.close()


def wait_for_phase(run, phase, sources, timeout=300):
    """True once the run reaches `phase` on one of `sources`; False if it ended first."""
    deadline = time.time() + timeout
    while time.time() < deadline and run.proc.poll() is None:
        if phase == "planned":
            if "Move this host's domains within the caps" in run.output():
                return True
        elif phase == "draining":
            if any(os.path.exists(os.path.join(STATE, h, "lib", "drover", "maintenance.json")) for h in sources) \
                    and any(outgoing(h) for h in sources):
                return True
        elif phase == "copying":
            if any(LOCAL_VM in outgoing(h) for h in sources):
                return True
        else:
            for host in sources:
                for state in outgoing(host).values():
                    postcopy = state == (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_POSTCOPY)
                    if phase != "postcopy" or postcopy:
                        return True
        time.sleep(0.3)
    return False


def incoming_qemu_pid(dest, vms):
    for name in vms:
        pid = pid_of(os.path.join(STATE, dest, "run", "qemu", "%s.pid" % name))
        if pid:
            return pid
    return None


def inject(kind, run, source, dests, vms, rng):
    """Strike; return what was done, and a thread to join (a link restored later) or None."""
    dest = rng.choice(dests)
    if kind == "controller_killed":
        run.kill()
        return "ansible-playbook killed (SIGKILL to its process group)", None
    if kind in ("dest_libvirtd_killed", "dest_libvirtd_restarted", "source_libvirtd_restarted"):
        host = source if kind.startswith("source") else dest
        pid = daemon_pid(host)
        if pid:
            os.kill(pid, signal.SIGKILL)
        if kind.endswith("restarted"):
            lab("up", "--guests", "0", check=False)
        return "libvirtd of %s killed%s" % (host, ", started again" if kind.endswith("restarted") else ""), None
    if kind == "dest_qemu_killed":
        # The moving VMs live on the sources: a QEMU of theirs on a destination is an incoming one.
        for host in dests:
            pid = incoming_qemu_pid(host, vms)
            if pid:
                os.kill(pid, signal.SIGKILL)
                return "incoming QEMU on %s killed (pid %d)" % (host, pid), None
        return "no incoming QEMU found", None
    if kind == "dest_storage_full":
        for host in dests:
            lab("exec", host, "--", "dd", "if=/dev/zero", "of=" + FILLER, "bs=1M", check=False)
        return "the local pools of %s filled up" % ", ".join(dests), None
    if kind.startswith("link_cut") or kind == "host_unreachable":
        host = dest
        link(host, False)
        seconds = {"link_cut_3s": 3, "link_cut_30s": 30}.get(kind)
        if seconds is None:
            return "%s's link cut until the run ended" % host, None
        timer = threading.Timer(seconds, link, args=(host, True))
        timer.start()
        return "%s's link cut for %d s" % (host, seconds), timer
    raise ValueError(kind)


def scenario(kind, operation, phase, rng):
    """Start the operation, strike, repair, audit, run it again, audit; the fault's entry."""
    now = where_now()
    homes = {n: (now.get(n) or [None])[0] for n in VMS}
    vms = list(VMS)  # the VMs the audit accounts for
    load = {h: sum(1 for n in VMS if homes[n] == h) for h in HOSTS}
    extra_common = {"evacuate_verify": False, "evacuate_copy_storage": False, "evacuate_claim_ttl": 120}
    if operation == "migrate":
        vm = rng.choice([n for n in VMS if homes[n]])
        source = homes[vm]
        dest = rng.choice([h for h in HOSTS if h != source])
        extra = {"drover_vm": vm, "drover_to": dest, "drover_convergence": "postcopy" if phase == "postcopy" else "balanced"}
        cmds = [playbook_cmd("migrate.yml", extra)]
        sources, dests, moving = [source], [dest], [vm]

        def done():
            return where_now().get(vm) == [dest]
    elif operation == "copy":
        source = rng.choice(HOSTS)
        dests = [h for h in HOSTS if h != source]
        prepare_copy(source, dests)
        vms.append(LOCAL_VM)
        cmds = [playbook_cmd("evacuate.yml", dict(extra_common, evacuate_copy_storage=True,
                                                  evacuate_report_dir=tempfile.mkdtemp()), limit=source)]
        sources, moving = [source], [n for n in VMS if homes[n] == source] + [LOCAL_VM]

        def done():
            return not any(source in where_now().get(n, []) for n in vms)
    elif operation in ("evacuate", "concurrent"):
        order = sorted(HOSTS, key=lambda h: (-load[h], h))
        sources = order[:2] if operation == "concurrent" else order[:1]
        cmds = [playbook_cmd("evacuate.yml", dict(extra_common, evacuate_report_dir=tempfile.mkdtemp()), limit=h)
                for h in sources]
        dests = [h for h in HOSTS if h not in sources]
        moving = [n for n in VMS if homes[n] in sources]

        def done():
            return not any(h in sources for n in VMS for h in where_now().get(n, []))
    else:  # rolling
        hook = os.path.join(ROOT, "tests", "integration", "tasks", "rolling_hook_restart.yml")
        extra = dict(extra_common, rolling_maintenance_tasks=hook, lab_state=STATE, lab_cmd=LAB,
                     rolling_report_dir=tempfile.mkdtemp(), rolling_run_id="chaos-%d" % rng.randrange(10 ** 6))
        cmds = [playbook_cmd("rolling_maintenance.yml", extra)]
        sources, dests, moving = list(HOSTS), list(HOSTS), list(VMS)

        def done():
            return not any(os.path.exists(os.path.join(STATE, h, "lib", "drover", "maintenance.json")) for h in HOSTS)
    try:
        return _strike_and_audit(kind, operation, phase, rng, cmds, sources, dests, moving, vms, done)
    finally:
        if operation == "copy":  # the copy guest and the small pools go, whatever happened (not part of the verdict)
            remove_copy(sources[0], dests)


def _strike_and_audit(kind, operation, phase, rng, cmds, sources, dests, moving, vms, done):
    started = time.time()
    volumes = local_volumes()
    runs = [Run(cmd) for cmd in cmds]
    reached = wait_for_phase(runs[0], phase, sources)
    what, timer = ("the run ended before %s" % phase, None)
    if reached:
        time.sleep(rng.uniform(0, 0.5 if phase == "postcopy" else 2.0))
        what, timer = inject(kind, runs[0], sources[0], dests, moving, rng)
    codes = [r.wait() for r in runs]
    if timer:
        timer.join()
    repair()
    busy = settle()
    after = audit(vms, volumes_before=volumes, stuck_is_lost=False)
    if after["unread"]:
        repair()
        after = audit(vms, volumes_before=volumes, stuck_is_lost=False)
    # The same playbook again, as an operator would; marks it leaves on evacuated hosts are its goal.
    rerun = [Run(cmd) for cmd in cmds]
    rerun_codes = [r.wait() for r in rerun]
    final = audit(vms, volumes_before=volumes)
    if final["unread"]:
        repair()
        final = audit(vms, volumes_before=volumes)
    completed = (all(c == 0 for c in rerun_codes) and done() and not final["unread"] and not final["unaccounted"]
                 and not final["lost"] and not final["duplicated"] and not final["postcopy_split"]
                 and not final["frozen"])
    # An evacuated host stays marked: that is the goal. Anything else left is a leftover.
    goal = ["mark on %s" % h for h in sources] if operation in ("evacuate", "concurrent", "copy") else []
    leftovers = [x for x in final["leftovers"] if not x.endswith("(expired)") and x not in goal]
    # Put every host back in service for the next fault (not part of the verdict).
    if any(x.startswith("mark on") for x in final["leftovers"]):
        back = Run(playbook_cmd("return_to_service.yml", {}))
        back.wait()
        back.close()
    # Why a guest is still in two halves (the destination's QEMU cannot take the resumed stream), then a fresh
    # start for every guest the re-run left unclean, so later faults do not inherit it.
    diagnosis = [why for n, (_src, dst) in sorted(final["halves"].items()) for why in [frozen_on_missing_page(dst, n)]
                 if why] + sorted(set(after["lost_in_postcopy"] + final["lost_in_postcopy"]))
    reset = reset_guests([n for n in final["unclean"] if n in VMS])
    tail = rerun[0].output()[-1500:] if not completed else ""
    # Why the faulted run failed, in its own words (its error lines).
    errors = [line.strip()[:300] for run in runs for line in run.output().splitlines() if "[ERROR]" in line]
    for run in runs + rerun:
        run.close()
    return {
        "kind": kind, "phase": phase, "operation": operation, "injected": what, "reached_phase": reached,
        "struck": reached and not what.startswith("no "),
        "outcome": "ok" if all(c == 0 for c in codes) else "failed (rc %s)" % ",".join(str(c) for c in codes),
        "lost": len(after["lost"]) + len(final["lost"]), "duplicated": len(after["duplicated"]) + len(final["duplicated"]),
        "split": after["split"] + final["split"], "unsettled_jobs": busy,
        # A post-copy cut for good leaves one guest in two halves until the link is back: not a duplicate,
        # but listed; the re-run must finish it (a half left after the re-run fails it).
        "postcopy_split": after["postcopy_split"] + final["postcopy_split"],
        # Running on one host, yet its guest makes no progress after the re-run: counted apart from lost, and
        # failing the fault (right after the fault, for the record: a guest may be left paused until the re-run).
        "frozen": final["frozen"], "frozen_after_fault": after["frozen"],
        "unread": sorted(set(after["unread"] + final["unread"])),
        "unaccounted": sorted(set(after["unaccounted"] + final["unaccounted"])),
        "left_by_fault": after["leftovers"], "leftovers": leftovers, "rerun_completed": completed,
        "rerun_rc": rerun_codes, "seconds": round(time.time() - started, 1),
        "diagnosis": diagnosis, "reset_after": reset,
        "log_tail": tail, "faulted_run_errors": errors[-3:],
    }


def setup():
    lab("down", check=False)
    lab("up", "--guests", "0")
    for i, name in enumerate(VMS):
        lab("guest", name, "--host", HOSTS[i % 2], "--memory", "96", "--dirty-mb", "2", "--wait")
    for host in HOSTS:
        lab("shape", host, "--rate", LINK)


def print_table(faults):
    head = "%-3s %-26s %-9s %-10s %-22s %4s %6s %4s %8s %9s %6s" % (
        "#", "fault", "phase", "operation", "outcome", "lost", "frozen", "dup", "pc-split", "leftovers", "rerun")
    print(head)
    print("-" * len(head))
    for i, f in enumerate(faults, 1):
        print("%-3d %-26s %-9s %-10s %-22s %4d %6d %4d %8d %9d %6s" % (
            i, f["kind"], f["phase"], f["operation"], f["outcome"][:22], f["lost"], len(f.get("frozen", [])),
            f["duplicated"],
            len(f.get("postcopy_split", [])), len(f["leftovers"]), "yes" if f["rerun_completed"] else "NO"))


def summarize(faults):
    """The table, the counts and the notes of these faults; 1 when any failed."""
    print_table(faults)
    bad = [f for f in faults if f["lost"] or f.get("frozen") or f["duplicated"] or f["split"] or f["leftovers"]
           or f["unread"] or f["unaccounted"] or not f["rerun_completed"]]
    counts = (len(faults), sum(f["lost"] for f in faults), sum(len(f.get("frozen", [])) for f in faults),
              sum(f["duplicated"] for f in faults),
              sum(1 for f in faults if f.get("postcopy_split")), sum(1 for f in faults if f["split"]),
              sum(1 for f in faults if f["leftovers"]), sum(1 for f in faults if not f["rerun_completed"]))
    print("%d faults: %d VMs lost, %d frozen, %d duplicated, %d split in post-copy by the fault, %d left split, "
          "%d with leftovers, "
          "%d re-runs did not complete" % counts)
    for i, f in enumerate(faults, 1):
        for line in f.get("diagnosis", []) + f.get("reset_after", []):
            print("fault %d: %s" % (f.get("index", i), line))
    return 1 if bad else 0


def merge(paths, out):
    """The shards of one campaign (same seed, --shard K/N) as one result, faults in the plan's order."""
    parts = []
    for path in paths:
        with open(path) as f:
            parts.append(json.load(f))
    seeds = {p["seed"] for p in parts}
    if len(seeds) != 1:
        sys.exit("merge: the shards are of different seeds: %s" % sorted(seeds))
    faults = sorted((f for p in parts for f in p["faults"]), key=lambda f: f["index"])
    planned = sum(p.get("planned", len(p["faults"])) for p in parts)
    with open(out, "w") as f:
        json.dump({"seed": seeds.pop(), "machine": parts[0]["machine"], "link": parts[0]["link"],
                   "measured_at": max(p["measured_at"] for p in parts), "shards": [p.get("shard") for p in parts],
                   "planned": planned, "complete": all(p["complete"] for p in parts) and len(faults) == planned,
                   "faults": faults}, f, indent=1, sort_keys=True)
    return summarize(faults)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--faults", type=int, default=len(FAULTS) * 3)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--only", help="these faults only, comma-separated KIND or KIND/OPERATION "
                                       "(e.g. controller_killed/evacuate,dest_qemu_killed)")
    parser.add_argument("--shard", default="1/1", help="K/N: the faults of the plan at positions K, K+N, K+2N, ... "
                                                       "(N labs at once, each with its DROVER_LAB_* settings)")
    parser.add_argument("--merge", nargs="+", metavar="RESULTS", help="write the shards' results as one to --out")
    parser.add_argument("--out", default=os.path.join(ROOT, "chaos", "results.json"))
    parser.add_argument("--keep-lab", action="store_true")
    args = parser.parse_args()
    if args.merge:
        return merge(args.merge, args.out)
    try:
        shard, shards = (int(x) for x in args.shard.split("/"))
        assert 1 <= shard <= shards
    except (ValueError, AssertionError):
        parser.error("--shard must be K/N with 1 <= K <= N, not %r" % args.shard)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10 ** 6)
    rng = random.Random(seed)
    print("chaos: seed %d (replay with --seed %d), %d faults, links %s" % (seed, seed, args.faults, LINK), flush=True)
    wanted = [w for w in (args.only or "").split(",") if w]
    pool = [f for f in FAULTS if not wanted or f[0] in wanted or "%s/%s" % f[:2] in wanted]
    if not pool:
        parser.error("--only %s matches no fault; kinds: %s" % (args.only, ", ".join(sorted({f[0] for f in FAULTS}))))
    # Every kind in turn, in an order the seed shuffles, until the count is reached.
    plan = []
    while len(plan) < args.faults:
        batch = list(pool)
        rng.shuffle(batch)
        plan += batch
    plan = [(i, fault) for i, fault in enumerate(plan[:args.faults], 1) if (i - 1) % shards == shard - 1]
    faults = []
    setup()
    try:
        for i, (kind, operation, phase) in plan:
            entry = dict(scenario(kind, operation, phase, rng), index=i)
            faults.append(entry)
            print("[%d/%d] %s/%s/%s: %s; lost %d, frozen %d, duplicated %d, leftovers %d, re-run %s (%.0f s)" % (
                i, args.faults, kind, operation, phase, entry["injected"], entry["lost"], len(entry["frozen"]),
                entry["duplicated"],
                len(entry["leftovers"]), "completed" if entry["rerun_completed"] else "DID NOT COMPLETE",
                entry["seconds"]), flush=True)
            for line in entry["diagnosis"] + entry["reset_after"]:
                print("    %s" % line, flush=True)
            with open(args.out, "w") as f:
                json.dump({"seed": seed, "machine": "%s, %d CPUs" % (platform.machine(), os.cpu_count()),
                           "link": LINK, "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
                               timespec="seconds"), "shard": args.shard, "planned": len(plan),
                           "complete": len(faults) == len(plan), "faults": faults},
                          f, indent=1, sort_keys=True)
    finally:
        if not args.keep_lab:
            lab("down", check=False)
    return summarize(faults)


if __name__ == "__main__":
    sys.exit(main())
