"""The lab's network: the bridge namespace, one veth per host, and what tests do to a host's link.

Nothing but a /24 route on ROOT_VETH is added to this machine's network namespace; a host's
firewall chain and traffic shaping live in that host's own namespace.
"""
from drover_lab.config import (BRIDGE_NS, FIREWALL_CHAIN, MIGRATION_PORTS, NET, ROOT_VETH, LabError, host_ip,
                               host_ns, in_host, out, run)


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
    # As docs/hypervisors.md advises: a peer that vanished mid-migration is given up in ~100 s, not ~15 min
    # (per network namespace: this machine's own setting is untouched).
    run(["ip", "netns", "exec", host_ns(n), "sysctl", "-qw", "net.ipv4.tcp_retries2=8"])


def remove_network():
    """The veth and the bridge namespace (the hosts' namespaces are gone by then)."""
    run(["ip", "link", "del", ROOT_VETH], check=False, quiet=True)
    if BRIDGE_NS in out(["ip", "netns", "list"]).split():
        run(["ip", "netns", "del", BRIDGE_NS])


def block_migration(n):
    """DROP incoming TCP to QEMU's migration ports inside host n (its own netns); idempotent."""
    ipt = in_host(n, ["iptables", "-w", "5"])
    chain = FIREWALL_CHAIN
    if run(ipt + ["-n", "-L", chain], check=False, quiet=True).returncode != 0:
        run(ipt + ["-N", chain], quiet=True)
    run(ipt + ["-F", chain], quiet=True)
    run(ipt + ["-A", chain, "-p", "tcp", "--dport", "%d:%d" % MIGRATION_PORTS, "-j", "DROP"], quiet=True)
    if run(ipt + ["-C", "INPUT", "-j", chain], check=False, quiet=True).returncode != 0:
        run(ipt + ["-I", "INPUT", "1", "-j", chain], quiet=True)


def clear_firewall(n):
    """Remove what block_migration added in host n; idempotent."""
    ipt = in_host(n, ["iptables", "-w", "5"])
    chain = FIREWALL_CHAIN
    while run(ipt + ["-D", "INPUT", "-j", chain], check=False, quiet=True).returncode == 0:
        pass
    if run(ipt + ["-n", "-L", chain], check=False, quiet=True).returncode == 0:
        run(ipt + ["-F", chain], quiet=True)
        run(ipt + ["-X", chain], quiet=True)


def shape(n, rate, delay=None):
    """Cap host n's outbound link (its migration link when it is the source)."""
    tc = in_host(n, ["tc", "qdisc"])
    netem = tc + ["replace", "dev", "eth0", "root", "netem", "rate", rate]
    if delay:
        netem += ["delay", delay]
    if run(netem, check=False, quiet=True).returncode != 0:
        # Kernels without sch_netem still have the token bucket filter.
        run(tc + ["replace", "dev", "eth0", "root", "tbf", "rate", rate,
                  "burst", "256kb", "latency", "50ms"])


def clear_shape(n):
    run(in_host(n, ["tc", "qdisc", "del", "dev", "eth0", "root"]), check=False, quiet=True)
