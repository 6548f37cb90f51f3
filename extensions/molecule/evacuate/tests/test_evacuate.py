"""Checked on the real hypervisors after converge: hv1 is empty and in maintenance; every guest lives once."""
import json
import re

VIRSH = "virsh -q -c qemu:///system"
MARK = "/var/lib/libvirt/drover/maintenance.json"


def domains(host):
    """{name: (state, persistent)} of every domain the host knows."""
    found = {}
    for name in host.check_output("%s list --all --name" % VIRSH).split():
        info = host.check_output("%s dominfo %s" % (VIRSH, name))
        state = re.search(r"^State:\s+(.+)$", info, re.M).group(1).strip()
        persistent = re.search(r"^Persistent:\s+(\w+)", info, re.M).group(1) == "yes"
        found[name] = (state, persistent)
    return found


def fleet(host):
    others = {}
    for name in ("hv1", "hv2", "hv3"):
        peer = host.get_host("ansible://%s?force_ansible=True" % name, ansible_inventory=host.backend.ansible_inventory)
        others[name] = domains(peer)
    return others


def test_hv1_is_empty_and_marked_in_maintenance(host):
    if host.check_output("hostname") != "hv1":
        return
    assert domains(host) == {}
    mark = json.loads(host.file(MARK).content_string)
    assert mark["state"] == "maintenance"


def test_every_guest_runs_or_is_defined_on_exactly_one_host(host):
    if host.check_output("hostname") != "hv1":
        return
    seen = fleet(host)
    for name, want in (("vm1", "running"), ("vm2", "running"), ("vm3", "shut off")):
        places = [(h, doms[name]) for h, doms in seen.items() if name in doms]
        assert len(places) == 1, "%s is known on %s" % (name, [h for h, _d in places])
        where, (state, persistent) = places[0]
        assert where != "hv1" and state == want and persistent, (name, where, state, persistent)


def test_no_destination_is_marked(host):
    if host.check_output("hostname") in ("hv2", "hv3"):
        assert not host.file(MARK).exists
