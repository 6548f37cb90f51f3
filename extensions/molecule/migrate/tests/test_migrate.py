"""Checked on the real hypervisors after converge: vm1 lives on hv2 only, and kept running."""
import re

VIRSH = "virsh -q -c qemu:///system"
SERIAL = "/var/log/libvirt/qemu/vm1.serial.log"


def boot_ids(host):
    log = host.file(SERIAL)
    if not log.exists:
        return []
    return re.findall(r"^drover-heartbeat seq=\d+ boot_id=(\S+)", log.content_string, re.M)


def test_vm1_runs_and_is_persistent_only_on_hv2(host):
    name = host.check_output("hostname")
    state = host.run("%s domstate vm1" % VIRSH)
    if name == "hv2":
        assert state.stdout.strip() == "running"
        assert re.search(r"^Persistent:\s+yes", host.check_output("%s dominfo vm1" % VIRSH), re.M)
    else:
        assert state.rc != 0, "vm1 is still known on %s: %s" % (name, state.stdout)


def test_vm1_kept_its_boot_across_the_move(host):
    if host.check_output("hostname") != "hv2":
        return
    ids = boot_ids(host)
    assert ids, "no heartbeat from vm1 on hv2"
    assert len(set(ids)) == 1, "vm1 rebooted on hv2: %s" % sorted(set(ids))


def test_vm1_heartbeat_continues_the_one_from_hv1(host):
    ids = boot_ids(host)
    if host.check_output("hostname") == "hv1":
        assert ids, "hv1 never saw vm1's heartbeat"
        hv2 = host.get_host("ansible://hv2?force_ansible=True", ansible_inventory=host.backend.ansible_inventory)
        assert boot_ids(hv2)[-1] == ids[-1]
