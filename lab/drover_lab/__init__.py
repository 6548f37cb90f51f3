"""drover lab: a fleet of real libvirt/QEMU hypervisors on one Linux machine.

Each hypervisor hvN is a network namespace plus a persistent mount and UTS
namespace with its own libvirtd (own host UUID), sshd, /etc/libvirt,
/run/libvirt and /var/lib/libvirt. The hosts share a bridge (in the namespace
"drover-lab") on NET.1..NET.N; the machine reaches them over one veth with
NET.254. Every host sees the same shared storage at /srv/drover/shared and
its own local-only storage at /srv/drover/local.

Run as root. See `lab --help` and docs/lab.md.
"""
