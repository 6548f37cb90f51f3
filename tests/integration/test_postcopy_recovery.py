"""A migration whose link breaks during post-copy is driven to the destination, never lost."""
import json
import os
import signal
import subprocess
import tempfile
import time

import libvirt
import pytest

from labfixture import (NET, ROOT, STATE, assert_runs_only_on, evacuate, fleet_snapshot, heartbeat, lab, placement, playbook, uri,
                        wait_heartbeat_after)

pytestmark = pytest.mark.usefixtures("lab_up")


@pytest.fixture(scope="module")
def guest():
    assert lab("guest", "pc1", "--host", "hv1", "--memory", "192", "--dirty-mb", "16", "--wait",
               check=False).returncode == 0
    return "pc1"


def start_migration(args, out):
    cmd = ["ansible-playbook", os.path.join(ROOT, "tests/integration/playbooks/migrate_module.yml"),
           "-e", json.dumps({"target": args.pop("host"), "module_args": args, "result_file": out})]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def force_postcopy_early(src, name, timeout=120):
    """Like `virsh migrate-postcopy` once 20 MiB crossed: most memory is still on the source."""
    conn = libvirt.open(uri(src))
    try:
        dom = conn.lookupByName(name)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if dom.jobStats().get("data_processed", 0) > 20 << 20:
                dom.migrateStartPostCopy(0)
                break
            time.sleep(0.2)
        while time.time() < deadline:
            if tuple(dom.state()) == (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_POSTCOPY):
                return
            time.sleep(0.2)
    finally:
        conn.close()
    raise AssertionError("%s never entered post-copy" % name)


def cut_link(host, seconds):
    lab("exec", host, "--", "ip", "link", "set", "eth0", "down")
    try:
        time.sleep(seconds)
    finally:
        lab("exec", host, "--", "ip", "link", "set", "eth0", "up")


def start_slow_postcopy_move(src, dst, name, out, postcopy_mib_s, recovery_wait):
    """migrate under balanced, capped at 10 MiB/s, never switching to post-copy on its own (the test does),
    then `postcopy_mib_s` in post-copy; writes the module's result to `out`."""
    return start_migration({"host": src, "name": name, "dest": dst, "bandwidth": 10, "convergence": "balanced",
                            "convergence_knobs": {"stall_window": 600, "min_timeout": 600,
                                                  "postcopy_bandwidth": postcopy_mib_s},
                            "postcopy_recovery_wait": recovery_wait}, out)


def migrate_with_outage(src, dst, name, outage):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        proc = start_slow_postcopy_move(src, dst, name, out, 5, 240)
        try:
            force_postcopy_early(src, name)
            time.sleep(1)
            cut_link(dst, outage)
            proc.wait(timeout=400)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert os.path.exists(out), proc.stdout.read()
        with open(out) as f:
            return json.load(f)


def test_link_cut_longer_than_keepalive_is_recovered(guest):
    """libvirt gives up after ~6 s (lab keepalive); QEMU's stream survives; the module finishes the job."""
    before = heartbeat("hv1", guest)
    result = migrate_with_outage("hv1", "hv2", guest, outage=15)
    assert not result.get("failed"), result
    assert result["postcopy_recovery"]["landed"] is True, result["postcopy_recovery"]
    assert result["postcopy_recovery"]["first_error"]
    assert result["metrics"]["postcopy"] is True
    assert_runs_only_on(guest, "hv2")
    wait_heartbeat_after("hv2", guest, before, timeout=60)


def test_stream_failed_in_qemu_is_resumed(guest):
    """With TCP giving up quickly, QEMU itself fails (postcopy-paused) and must be resumed."""
    for host in ("hv2", "hv3"):
        lab("exec", host, "--", "sysctl", "-q", "-w", "net.ipv4.tcp_retries2=4")
    before = heartbeat("hv2", guest)
    try:
        result = migrate_with_outage("hv2", "hv3", guest, outage=40)
    finally:
        for host in ("hv2", "hv3"):
            lab("exec", host, "--", "sysctl", "-q", "-w", "net.ipv4.tcp_retries2=8")  # the lab's own value
    assert not result.get("failed"), result
    steps = result["postcopy_recovery"]["steps"]
    assert result["postcopy_recovery"]["landed"] is True, steps
    assert any(step.startswith(("QEMU migrate resume", "libvirt POSTCOPY_RESUME")) for step in steps), steps
    assert not [step for step in steps if "failed" in step or "cannot" in step], steps
    print("recovery steps: %s" % steps)
    assert_runs_only_on(guest, "hv3")
    wait_heartbeat_after("hv3", guest, before, timeout=60)


def test_split_guest_is_reported_then_recovered_with_migration_job(guest):
    """migrate gives up quickly and says the guest is split; migration_job state=recovered finishes it."""
    src = [h for h, p in placement(guest).items() if p["active"]][0]
    dst = {"hv1": "hv2", "hv2": "hv3", "hv3": "hv2"}[src]
    before = heartbeat(src, guest)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        proc = start_slow_postcopy_move(src, dst, guest, out, 5, 5)
        try:
            force_postcopy_early(src, guest)
            time.sleep(1)
            lab("exec", dst, "--", "ip", "link", "set", "eth0", "down")
            proc.wait(timeout=300)
        finally:
            lab("exec", dst, "--", "ip", "link", "set", "eth0", "up")
            if proc.poll() is None:
                proc.kill()
        with open(out) as f:
            failed = json.load(f)
    assert failed.get("failed"), failed
    assert "FAILED IN POST-COPY" in failed["msg"] and "do not destroy either side" in failed["msg"]
    assert failed["vm_location"] == "both"
    stream = failed["postcopy_recovery"]["stream"]
    assert stream and stream.startswith("%s.%s:" % (NET, dst[2:])), failed["postcopy_recovery"]
    # Neither side was destroyed: the source still holds the guest's memory.
    conn = libvirt.open(uri(src))
    try:
        assert conn.lookupByName(guest).isActive()
    finally:
        conn.close()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "job.json")
        proc = playbook("tests/integration/playbooks/job_module.yml",
                        {"target": src, "result_file": out,
                         "job_args": {"name": guest, "state": "recovered", "dest": dst, "wait": 240,
                                      "migration_port": int(stream.split(":")[1])}})
        assert os.path.exists(out), proc.stdout + proc.stderr
        with open(out) as f:
            result = json.load(f)
    assert not result.get("failed"), result
    assert result.get("action") == "recover" and result["changed"] is True, result
    assert "undefine_source" in result["cleanup"] or not result["cleanup"]
    print("recovered with migration_job: %s" % result["steps"])
    assert_runs_only_on(guest, dst)
    wait_heartbeat_after(dst, guest, before, timeout=60)


def domain_state(host, name):
    conn = libvirt.open(uri(host))
    try:
        return tuple(conn.lookupByName(name).state())
    finally:
        conn.close()


def stream_peers(host, port=49152):
    """(ip, port) of the source's end of each connection established to `host`'s migration port."""
    text = lab("exec", host, "--", "ss", "-H", "-t", "-n", "state", "established", "( sport = :%d )" % port).stdout
    peers = []
    for line in text.splitlines():
        ip, peer_port = line.split()[-1].rsplit(":", 1)
        peers.append((ip, int(peer_port)))
    return peers


def lose_replies(host, peers, add=True, port=49152):
    """Drop what `host` sends on these connections: like a destination with nothing in flight, it never
    hears that the source closed them."""
    for ip, peer_port in peers:
        lab("exec", host, "--", "iptables", "-w", "5", "-I" if add else "-D", "OUTPUT", "-p", "tcp", "--sport", str(port),
            "-d", ip, "--dport", str(peer_port), "-j", "DROP", check=add)


def leave_split(name, src, dst):
    """A move of `name` from src to dst cut for good in post-copy: the source's QEMU failed the stream, the
    destination waits on it for good (its kernel never hears of the close). Returns the stream's peers."""
    # The source's kernel gives the stream up in seconds; the destination's, a quarter of an hour later.
    lab("exec", src, "--", "sysctl", "-q", "-w", "net.ipv4.tcp_retries2=4")
    lab("exec", dst, "--", "sysctl", "-q", "-w", "net.ipv4.tcp_retries2=15")
    peers = []
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        proc = start_slow_postcopy_move(src, dst, name, out, 2, 5)
        try:
            force_postcopy_early(src, name)
            peers = stream_peers(dst)
            assert peers, "no migration stream to %s" % dst
            lose_replies(dst, peers)
            lab("exec", dst, "--", "ip", "link", "set", "eth0", "down")
            proc.wait(timeout=300)
            # The link stays down until the source's QEMU has failed the stream.
            deadline = time.time() + 120
            while domain_state(src, name) != (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_POSTCOPY_FAILED):
                assert time.time() < deadline, "the source never failed the stream: %s" % (domain_state(src, name),)
                time.sleep(1)
        finally:
            lab("exec", dst, "--", "ip", "link", "set", "eth0", "up")
            if proc.poll() is None:
                proc.kill()
        with open(out) as f:
            failed = json.load(f)
    assert failed.get("failed") and "FAILED IN POST-COPY" in failed["msg"], failed
    assert "playbooks/migrate.yml again" in failed["msg"]
    # Split, and stuck: the destination still runs the post-copy as if its stream were alive.
    time.sleep(10)
    assert domain_state(dst, name) == (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_POSTCOPY)
    assert set(stream_peers(dst)) & set(peers), "no stream of the migration is left open on %s" % dst
    print("%d stream(s) of the migration open on %s" % (len(stream_peers(dst)), dst))
    return peers


def undo_split_conditions(src, dst, peers):
    lose_replies(dst, peers, add=False)
    for host in (src, dst):
        lab("exec", host, "--", "sysctl", "-q", "-w", "net.ipv4.tcp_retries2=8")  # the lab's own value


def test_split_left_by_a_link_cut_for_good_is_finished_by_running_the_playbook_again():
    """The same playbook, run again, lets the destination give the dead stream up, resumes the migration
    from the source and leaves the guest running and defined on the destination only; a run that cannot
    resume it says the guest is still split and leaves both halves."""
    name = "pc2"
    assert lab("guest", name, "--host", "hv1", "--memory", "192", "--dirty-mb", "4", "--wait",
               check=False).returncode == 0
    before = heartbeat("hv1", name)
    peers = []
    try:
        peers = leave_split(name, "hv1", "hv2")
        # First with the destination refusing the resumed stream: the run fails saying the guest is still
        # split, publishes that for AWX, and destroys nothing.
        refuse = ["INPUT", "-p", "tcp", "--syn", "--dport", "49152:49215", "-j", "REJECT", "--reject-with", "tcp-reset"]
        lab("exec", "hv2", "--", "iptables", "-w", "5", "-I", *refuse)
        try:
            run = playbook("playbooks/migrate.yml", {"drover_vm": name, "drover_to": "hv2", "drover_recovery_wait": "20"})
        finally:
            lab("exec", "hv2", "--", "iptables", "-w", "5", "-D", *refuse)
        assert run.returncode != 0, run.stdout[-3000:]
        section = run.stdout.split("Let the destination give up the stream its source dropped")[1].split("TASK")[0]
        assert "changed: [" in section and "-> hv2" in section, section
        assert "Publish that the earlier move could not be finished" in run.stdout, run.stdout[-3000:]
        assert "is still split: paused on hv1 (post-copy failed) and running on hv2" in run.stdout, run.stdout[-3000:]
        where = placement(name)
        assert sorted(where) == ["hv1", "hv2"] and all(p["active"] for p in where.values()), where
        assert where["hv1"]["state"] == libvirt.VIR_DOMAIN_PAUSED, where
        run = playbook("playbooks/migrate.yml", {"drover_vm": name, "drover_to": "hv2"})
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        assert "finished, forward, the move to hv2 that failed in post-copy" in run.stdout, run.stdout[-3000:]
        assert_runs_only_on(name, "hv2")
        wait_heartbeat_after("hv2", name, before, timeout=60)
    finally:
        undo_split_conditions("hv1", "hv2", peers)


def test_an_evacuation_finishes_a_split_move_of_its_host_first():
    """Draining the host a split move left its guest paused on: the move is finished forward (the guest
    stays where it runs), then the host is drained as usual."""
    name = "pc3"
    assert lab("guest", name, "--host", "hv3", "--memory", "192", "--dirty-mb", "4", "--wait",
               check=False).returncode == 0
    before = heartbeat("hv3", name)
    peers = []
    try:
        peers = leave_split(name, "hv3", "hv2")
        proc, report, _preflight = evacuate("hv3", evacuate_verify=True)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        assert "pc3 failed in post-copy in an earlier run" in proc.stdout, proc.stdout[-3000:]
        section = proc.stdout.split("Let each destination give up the stream its source dropped")[1].split("TASK")[0]
        assert "changed: [" in section, section
        assert_runs_only_on(name, "hv2")
        wait_heartbeat_after("hv2", name, before, timeout=60)
        assert report["ok"] and report["summary"]["ok"], report
        assert not [n for n, places in fleet_snapshot().items() for host, active, _p in places
                    if host == "hv3" and active], "hv3 is drained"
    finally:
        undo_split_conditions("hv3", "hv2", peers)
        playbook("playbooks/return_to_service.yml", limit="hv3")


def test_draining_the_destination_of_a_split_move_finishes_it_then_moves_the_guest_on():
    """The host to drain holds the running half, which libvirt's incoming job holds: the preflight judges it
    busy instead of failing the host, the move is finished forward, and the guest then leaves the host."""
    name = "pc4"
    assert lab("guest", name, "--host", "hv1", "--memory", "192", "--dirty-mb", "4", "--wait",
               check=False).returncode == 0
    before = heartbeat("hv1", name)
    peers = []
    try:
        peers = leave_split(name, "hv1", "hv3")
        proc, report, _preflight = evacuate("hv3", evacuate_verify=True)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        assert "pc4 failed in post-copy in an earlier run" in proc.stdout, proc.stdout[-3000:]
        [moved] = [r for r in report["results"] if r["name"] == name]
        assert moved["status"] == "migrated", moved
        [where] = [h for h, p in placement(name).items() if p["active"]]
        assert where != "hv3"
        assert_runs_only_on(name, where)
        wait_heartbeat_after(where, name, before, timeout=60)
    finally:
        undo_split_conditions("hv1", "hv3", peers)
        playbook("playbooks/return_to_service.yml", limit="hv3")


def remove_everywhere(name, hosts):
    """Destroy and undefine the test's guest wherever it is left."""
    for host in hosts:
        conn = libvirt.open(uri(host))
        try:
            dom = conn.lookupByName(name)
            if dom.isActive():
                dom.destroy()
            dom.undefine()
        except libvirt.libvirtError:
            pass
        finally:
            conn.close()


def wait_new_boot(host, name, before, timeout=120):
    """Wait until the guest ticks on `host` with a boot id other than `before`'s: it was started again."""
    deadline = time.time() + timeout
    while (heartbeat(host, name) or {}).get("boot_id") in (None, (before or {}).get("boot_id")):
        assert time.time() < deadline, "%s did not boot again on %s: %s" % (name, host, heartbeat(host, name))
        time.sleep(1)


def wait_source_qemu_paused(src, name, timeout=120, or_finished=False):
    """The source's QEMU gives a dead stream up (postcopy-paused) once its kernel stops retransmitting; returns
    "paused" - or, with `or_finished`, "finished" when the move was through before the link died (the source's
    QEMU gone)."""
    deadline = time.time() + timeout
    while True:
        if '"postcopy-paused"' in lab("exec", src, "--", "virsh", "qemu-monitor-command", name,
                                      '{"execute": "query-migrate"}', check=False).stdout:
            return "paused"
        if or_finished and "running" not in lab("exec", src, "--", "virsh", "domstate", name, check=False).stdout \
                and "paused" not in lab("exec", src, "--", "virsh", "domstate", name, check=False).stdout:
            return "finished"
        assert time.time() < deadline, "the source's QEMU never paused the move"
        time.sleep(2)


def guest_behind_a_slow_link(name, src, dirty_mb):
    """A 96 MiB guest on `src`, whose link is capped at 60 Mbit/s (its socket buffer then holds half a second of
    RAM) and whose kernel gives a dead stream up within seconds; returns the guest's first heartbeat."""
    assert lab("guest", name, "--host", src, "--memory", "96", "--dirty-mb", str(dirty_mb), "--wait",
               check=False).returncode == 0
    first = heartbeat(src, name)
    lab("shape", src, "--rate", "60mbit")
    lab("exec", src, "--", "sysctl", "-q", "-w", "net.ipv4.tcp_retries2=4")
    return first


def undo_slow_link(src):
    lab("shape", src, "--clear", check=False)
    lab("exec", src, "--", "sysctl", "-q", "-w", "net.ipv4.tcp_retries2=8", check=False)  # the lab's own value


def restart_daemon(host):
    """Restart `host`'s libvirt daemon (the lab's repair starts it again); running guests are not touched."""
    with open(os.path.join(STATE, host, "run", "libvirtd.pid")) as f:
        daemon = int(f.read().strip())
    os.kill(daemon, signal.SIGTERM)
    deadline = time.time() + 30
    while os.path.exists("/proc/%d" % daemon) and time.time() < deadline:
        time.sleep(0.5)
    assert lab("up", "--guests", "0", check=False).returncode == 0


def test_a_guest_whose_source_dies_in_postcopy_is_reported_lost_and_its_definitions_are_kept():
    """The source's QEMU dies in post-copy (as it does when QEMU restarts the guest itself after a failed switch-over
    and crashes): the destination's half can never get the rest of its memory. The move is reported lost - not
    landed, not split - and the source's definition is kept; the playbook run again says so and changes nothing;
    restarting the guest from its disks on the destination, as docs/troubleshooting.md says, brings it back."""
    name, src, dst = "pc5", "hv2", "hv1"
    assert lab("guest", name, "--host", src, "--memory", "192", "--dirty-mb", "4", "--wait",
               check=False).returncode == 0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "result.json")
            proc = start_slow_postcopy_move(src, dst, name, out, 2, 120)
            try:
                force_postcopy_early(src, name)
                with open(os.path.join(STATE, src, "run", "qemu", "%s.pid" % name)) as f:
                    os.kill(int(f.read().strip()), signal.SIGKILL)
                started = time.time()
                proc.wait(timeout=300)
            finally:
                if proc.poll() is None:
                    proc.kill()
            with open(out) as f:
                failed = json.load(f)
        assert failed.get("failed") and "LOST IN POST-COPY" in failed["msg"], failed
        assert failed["vm_location"] == "lost", failed
        assert "source: shut off" in failed["msg"], failed["msg"]
        # Taken for lost within seconds, not after the whole recovery wait (120 s).
        assert time.time() - started < 100, time.time() - started
        where = placement(name)
        assert sorted(where) == [dst, src], where
        assert where[src]["persistent"] and not where[src]["active"], where
        assert where[dst]["active"], where
        assert domain_state(dst, name) in {(libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_POSTCOPY),
                                           (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_POSTCOPY_FAILED)}

        run = playbook("playbooks/migrate.yml", {"drover_vm": name, "drover_to": dst})
        assert run.returncode != 0, run.stdout[-3000:]
        assert "LOST IN POST-COPY" in run.stdout, run.stdout[-3000:]
        assert placement(name) == where, "the re-run changed the definitions"

        # The recovery of docs/troubleshooting.md: restart it on the destination, then drop the source's definition.
        old = heartbeat(dst, name) or heartbeat(src, name)
        restart_from_disks(name, on=dst, other=src, source=src)
        wait_new_boot(dst, name, old)
    finally:
        remove_everywhere(name, (src, dst))


def test_a_move_cut_in_its_switch_over_to_postcopy_is_reported_stuck_and_left_untouched():
    """The link dies right after the switch to post-copy, with the device state still in the source's socket
    buffer (a slow link): the source's QEMU pauses the move, the destination never received the device state and
    stays an incoming migration that never started. QEMU before 10.2 can neither resume nor undo that; the
    playbook run again says so and changes nothing, and the guest comes back from its disks on the source."""
    name, src, dst = "pc6", "hv3", "hv2"
    first = guest_behind_a_slow_link(name, src, dirty_mb=1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "result.json")
            # Pre-copy that never completes by itself (a 1 ms pause limit) nor switches on its own.
            proc = start_migration({"host": src, "name": name, "dest": dst, "convergence": "balanced",
                                    "convergence_knobs": {"stall_window": 600, "min_timeout": 600,
                                                          "initial_downtime_ms": 1, "max_downtime_ms": 1,
                                                          "auto_converge": False, "calibrate_switchover": False},
                                    "postcopy_recovery_wait": 5}, out)
            try:
                conn = libvirt.open(uri(src))
                try:
                    dom = conn.lookupByName(name)
                    deadline = time.time() + 240
                    while not (dom.jobStats().get("memory_iteration", 0) >= 1
                               and dom.jobStats().get("memory_remaining", 1 << 40) < 3 << 20):
                        assert time.time() < deadline, "pre-copy never got down to 3 MiB"
                        time.sleep(0.05)
                    dom.migrateStartPostCopy(0)
                    lab("exec", dst, "--", "ip", "link", "set", "eth0", "down")
                    proc.wait(timeout=300)
                    wait_source_qemu_paused(src, name)
                finally:
                    conn.close()
            finally:
                lab("exec", dst, "--", "ip", "link", "set", "eth0", "up")
                if proc.poll() is None:
                    proc.kill()
        assert domain_state(src, name) == (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_POSTCOPY_FAILED)
        assert domain_state(dst, name) == (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_MIGRATION)
        where = placement(name)

        run = playbook("playbooks/migrate.yml", {"drover_vm": name, "drover_to": dst})
        assert run.returncode != 0, run.stdout[-3000:]
        assert "is STUCK IN THE SWITCH-OVER TO POST-COPY: paused on %s (post-copy failed) and on %s" % (src, dst) \
            in " ".join(run.stdout.split()), run.stdout[-3000:]
        assert placement(name) == where, "the re-run changed something"
        # migration_stream must not close the destination's stream here: it would end its QEMU.
        assert domain_state(dst, name) == (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_MIGRATION)

        # The recovery of docs/migrate.md: both halves destroyed, the destination's definition (libvirt may have
        # made one) removed, the guest started on the source.
        restart_from_disks(name, on=src, other=dst, source=src)
        wait_new_boot(src, name, first)
    finally:
        undo_slow_link(src)
        remove_everywhere(name, (src, dst))


def test_a_link_cut_right_after_drover_switches_to_postcopy_leaves_a_split_the_rerun_finishes():
    """Before its own switch to post-copy drover lets the source's socket buffer empty (a slow link holds half a
    second of RAM there), so the device state crosses at once: a link cut right after the switch leaves the usual
    split - which the playbook run again finishes - or a move already through, never one stuck in its switch-over."""
    name, src, dst = "pc7", "hv1", "hv3"
    before = guest_behind_a_slow_link(name, src, dirty_mb=4)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "result.json")
            # Switch after the first pass, never completing in pre-copy (a 1 ms pause limit).
            proc = start_migration({"host": src, "name": name, "dest": dst, "convergence": "postcopy",
                                    "convergence_knobs": {"initial_downtime_ms": 1, "max_downtime_ms": 1,
                                                          "calibrate_switchover": False},
                                    "postcopy_recovery_wait": 5}, out)
            try:
                deadline = time.time() + 240
                while domain_state(src, name) != (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_POSTCOPY):
                    assert time.time() < deadline and proc.poll() is None, "drover never switched to post-copy"
                    time.sleep(0.05)
                lab("exec", dst, "--", "ip", "link", "set", "eth0", "down")
                proc.wait(timeout=300)
                # The few MiB left after the drained switch may all be through before the cut lands.
                outcome = wait_source_qemu_paused(src, name, or_finished=True)
            finally:
                lab("exec", dst, "--", "ip", "link", "set", "eth0", "up")
                if proc.poll() is None:
                    proc.kill()
            with open(out) as f:
                result = json.load(f)
        [switch] = [d for d in result["decisions"] if d["action"] == "postcopy"]
        where = {h: domain_state(h, name) for h in placement(name)}
        print("drained before the switch: %s; then %s; states %s" % (switch.get("drained"), outcome, where))
        assert switch["drained"]["queued_after"] <= 256 << 10, switch
        assert where.get(dst) != (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_MIGRATION), \
            "stuck in the switch-over although drover drained first"
        if where.get(src) == (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_CRASHED):
            # QEMU before 10.2 (docs/migrate.md, 'Lost in post-copy'): the cut met the source waiting for the
            # destination's last word with every page queued; it failed the move, started the guest again on disks
            # the destination holds, and crashed. Nothing can finish the move: it must be named lost, changing nothing.
            assert "BDRV_O_INACTIVE" in qemu_log(src, name) or "Failed to get write lock" in qemu_log(src, name)
            ticks = [heartbeat(dst, name)]
            time.sleep(5)
            ticks.append(heartbeat(dst, name))
            print("the source's QEMU restarted the guest after the failed move and crashed (QEMU before 10.2); the "
                  "guest's heartbeats on the destination 5 s apart: %s" % ticks)
            run = playbook("playbooks/migrate.yml", {"drover_vm": name, "drover_to": dst})
            said = " ".join(run.stdout.split())
            assert run.returncode != 0 and "LOST IN POST-COPY" in said and "source: shut off (crashed)" in said, \
                run.stdout[-3000:]
            assert {h: domain_state(h, name) for h in placement(name)} == where, "the re-run changed something"
            restart_from_disks(name, on=dst, other=src, source=src)
            wait_new_boot(dst, name, before)
            return
        if outcome == "paused":
            assert result.get("failed") and "FAILED IN POST-COPY" in result["msg"], result

        run = playbook("playbooks/migrate.yml", {"drover_vm": name, "drover_to": dst, "drover_recovery_wait": 120})
        said = " ".join(run.stdout.replace("''", "'").split())
        if run.returncode != 0 and "is still in postcopy-recover" in said and main_loop_blocked_by_a_fault(dst, name):
            # TCG only (docs/troubleshooting.md): the cut came before the destination had the pages a vCPU needs to
            # take an interrupt, and that vCPU waits for them holding QEMU's global lock, which the main loop needs
            # to take the resumed stream. The run must say the guest is still split and leave both halves.
            print("the destination's QEMU is blocked by a vCPU waiting for a page under the global lock (TCG)")
            assert "is still split: paused on %s (post-copy failed) and running on %s" % (src, dst) in said, \
                run.stdout[-3000:]
            assert all(p["active"] for p in placement(name).values()) and len(placement(name)) == 2
            restart_from_disks(name, on=dst, other=src, source=src)
            wait_new_boot(dst, name, before)
            return
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        if outcome == "paused":
            assert "finished, forward, the move to %s that failed in post-copy" % dst in run.stdout, run.stdout[-3000:]
        assert_runs_only_on(name, dst)
        wait_heartbeat_after(dst, name, before, timeout=60)
    finally:
        undo_slow_link(src)


def qemu_log(host, name):
    with open(os.path.join(STATE, host, "log", "qemu", "%s.log" % name), errors="replace") as f:
        return f.read()[-200000:]


def restart_from_disks(name, on, other, source):
    """What docs/migrate.md has an operator do with a move that cannot go on: both halves destroyed, the move's
    source's libvirt daemon restarted (its migration job outlives the QEMU it was for and refuses an undefine), the
    definition on `other` removed, the guest booted again from its disks on `on` - and the invariant holds."""
    for host in (on, other):
        conn = libvirt.open(uri(host))
        try:
            dom = conn.lookupByName(name)
            if host == on:
                assert dom.isPersistent(), "%s is not defined on %s to be started there" % (name, on)
            if dom.isActive():
                dom.destroy()
        except libvirt.libvirtError as exc:
            assert host == other and exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN, exc
        finally:
            conn.close()
    restart_daemon(source)
    conn = libvirt.open(uri(other))
    try:
        dom = conn.lookupByName(name)
        if dom.isPersistent():
            dom.undefine()
    except libvirt.libvirtError as exc:
        assert exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN, exc
    finally:
        conn.close()
    conn = libvirt.open(uri(on))
    try:
        conn.lookupByName(name).create()
    finally:
        conn.close()
    assert_runs_only_on(name, on)


def qemu_threads(host, name):
    """{thread id: (name, system call number or -1 for a fault, or 'running')} of the guest's QEMU on `host`."""
    with open(os.path.join(STATE, host, "run", "qemu", name + ".pid")) as f:
        pid = int(f.read().strip())
    threads = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
            comm = f.read().strip()
        with open("/proc/%d/task/%s/syscall" % (pid, tid)) as f:
            threads[int(tid)] = (comm, f.read().split()[0])
    return pid, threads


def main_loop_blocked_by_a_fault(host, name, samples=3):
    """QEMU's main thread waiting on a lock (futex), or in a fault itself, while one of its threads sleeps in a
    page fault (a userfault on a page still on the source), in every one of a few samples a second apart."""
    for _sample in range(samples):
        pid, threads = qemu_threads(host, name)
        print("QEMU %d on %s: %s" % (pid, host, sorted(threads.values())))
        calls = {tid: call for tid, (_comm, call) in threads.items()}
        # 202: futex on x86_64; -1: blocked in the kernel outside a system call (a page fault).
        if calls.get(pid) not in ("202", "-1") or "-1" not in calls.values():
            return False
        time.sleep(1)
    return True
