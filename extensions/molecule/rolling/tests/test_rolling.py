"""Checked on the real hypervisors after converge: every host was maintained while it was empty,
is back in service, and runs its own guest again, defined there and nowhere else."""
VIRSH = "virsh -q -c qemu:///system"
MARK = "/var/lib/libvirt/drover/maintenance.json"
NOTE = "/var/lib/libvirt/drover-maintained"
HOME = {"hv1": "vm1", "hv2": "vm2", "hv3": "vm3"}


def names(host, which):
    return set(host.check_output("%s list %s --name" % (VIRSH, which)).split())


def test_the_host_was_maintained_and_is_back_in_service(host):
    assert host.file(NOTE).exists
    assert not host.file(MARK).exists


def test_the_host_runs_its_own_guest_again_and_defines_no_other(host):
    me = host.check_output("hostname")
    assert names(host, "--state-running") == {HOME[me]}
    assert names(host, "--all --persistent") == {HOME[me]}
    assert names(host, "--transient") == set()
