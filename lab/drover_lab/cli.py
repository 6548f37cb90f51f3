"""The `lab` command: its arguments and one handler per subcommand."""
import argparse
import json
import os
import sys
import time

import libvirt

import drover_lab
from drover_lab import guests, hosts, net, pki
from drover_lab.config import LabError, check_lab_name, in_host, log, parse_host, up_host
from drover_lab.definitions import DEFAULT_CPU, TAG_HELP, SpecError, parse_tag
from drover_lab.status import host_status, status_json, status_lines


def cmd_up(args):
    t0 = time.time()
    if args.hosts < 2:
        raise LabError("--hosts must be at least 2")
    numbers = range(1, args.hosts + 1)
    hosts.prepare_common(args.hosts)
    guests.build_image()
    net.ensure_bridge()
    pki.ensure_controller_pki()
    for n in numbers:
        hosts.write_host_config(n)
        pki.ensure_host_pki(n)
        net.ensure_host_net(n)
        hosts.ensure_host_ns(n)
        hosts.start_daemons(n)
    for n in numbers:
        hosts.wait_libvirtd(n)
        hosts.ensure_pools(n)
    names = ["vm%d" % i for i in range(1, args.guests + 1)]
    for name in names:
        if not guests.is_defined_anywhere(name, numbers):
            guests.add_guest(name, 1, args.memory, args.dirty_mb, "shared")
    if args.wait:
        for name in names:
            for h in guests.running_on(name, numbers):
                guests.wait_heartbeat(h, name)
    log("lab up: %d hosts, %d guests in %.1fs" % (args.hosts, len(names), time.time() - t0))
    cmd_status(argparse.Namespace(json=False))


def cmd_down(args):
    hosts.remove_lab(args.purge)
    log("lab down")


def cmd_status(args):
    found = [host_status(n) for n in hosts.present_hosts()]
    if args.json:
        print(status_json(found))
    else:
        print("\n".join(status_lines(found)))


def cmd_exec(args):
    n = up_host(args.host)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        raise LabError("exec needs a command after --")
    os.execvp("nsenter", in_host(n, cmd))


def cmd_guest(args):
    n = up_host(args.host)
    if args.define_copy_from:
        extra = [opt for opt, given in (("--network", args.network), ("--tag", args.tag), ("--shmem", args.shmem),
                                        ("--cpu", args.cpu != DEFAULT_CPU),
                                        ("--vcpus", args.vcpus != 1), ("--wait", args.wait)) if given]
        if extra:
            raise LabError("--define-copy-from copies the definition as it is; drop %s" % ", ".join(extra))
        guests.define_copy(args.name, up_host(args.define_copy_from), n)
        return
    guests.add_guest(args.name, n, args.memory, args.dirty_mb, args.storage, start=not args.no_start,
                     wait=args.wait, vcpus=args.vcpus, cpu=args.cpu, networks=args.network, shmem=args.shmem,
                     tags=[parse_tag(t) for t in args.tag])


def cmd_network(args):
    """Define/start (or stop, or remove) an isolated libvirt network on a host (idempotent)."""
    n = up_host(args.host)
    if args.remove:
        if args.mtu is not None or args.bridge or args.inactive:
            raise LabError("--remove takes no other option")
        guests.remove_network(n, args.name)
        return
    guests.apply_network(n, args.name, args.mtu, args.bridge, args.inactive)


def cmd_firewall(args):
    """DROP incoming TCP to QEMU's migration ports inside one host (its own netns), or undo that."""
    n = up_host(args.host)
    if args.clear:
        net.clear_firewall(n)
    else:
        net.block_migration(n)


def cmd_heartbeat(args):
    print(json.dumps(guests.last_heartbeat(parse_host(args.host), args.name)))


def cmd_shape(args):
    """Cap a host's outbound link (its migration link when it is the source)."""
    n = parse_host(args.host)
    if args.clear:
        net.clear_shape(n)
        return
    if not args.rate:
        raise LabError("shape needs --rate (e.g. 1gbit) or --clear")
    net.shape(n, args.rate, args.delay)


def add_guest_parser(sub):
    g = sub.add_parser("guest", help="define (and start) one more guest; a defined one is kept as it is")
    g.add_argument("name")
    g.add_argument("--host", default="hv1", metavar="hvN", help="where to define it (default hv1)")
    g.add_argument("--memory", type=int, default=128, metavar="MIB", help="RAM in MiB (default 128)")
    g.add_argument("--dirty-mb", type=int, default=4, metavar="MIB", help="MiB rewritten per second (default 4)")
    g.add_argument("--storage", choices=["shared", "local"], default="shared", help="pool of its disk")
    g.add_argument("--no-start", action="store_true", help="define it only")
    g.add_argument("--wait", action="store_true", help="wait for the first heartbeat")
    g.add_argument("--vcpus", type=int, default=1, help="number of vCPUs (default 1)")
    g.add_argument("--cpu", default=DEFAULT_CPU, metavar="MODEL",
                   help="custom CPU model, check='none' (default qemu64); e.g. Skylake-Server starts "
                        "under TCG but is incompatible with every lab host's CPU")
    g.add_argument("--network", action="append", default=[], metavar="NET",
                   help="add a virtio interface on libvirt network NET (repeatable; see `lab network`)")
    g.add_argument("--shmem", action="store_true",
                   help="add an ivshmem-plain device (4 MiB): the guest runs, QEMU refuses to migrate it")
    g.add_argument("--tag", action="append", default=[], metavar="TAG", help=TAG_HELP)
    g.add_argument("--define-copy-from", metavar="hvN",
                   help="define on --host the persistent XML (same name and UUID) the guest has on hvN, "
                        "without starting it; no other definition option applies")


def add_fixture_parsers(sub):
    """`lab network` and `lab firewall`: conditions a migration preflight must notice."""
    nw = sub.add_parser("network", help="define and start an isolated libvirt network on a host (idempotent)",
                        description="Define an isolated libvirt network (no <ip>, no <forward>: no dnsmasq) "
                                    "on hvN and start it. Run again with other options to change it.")
    nw.add_argument("host", metavar="hvN")
    nw.add_argument("name", metavar="NAME")
    nw.add_argument("--mtu", type=int, help="MTU of the network's bridge (default: libvirt's, 1500)")
    nw.add_argument("--bridge", metavar="BRNAME", help="bridge device name (default: libvirt picks virbrN)")
    nw.add_argument("--inactive", action="store_true", help="define it but leave it (or make it) inactive")
    nw.add_argument("--remove", action="store_true", help="destroy and undefine the network")
    fw = sub.add_parser("firewall", help="drop incoming TCP to a host's migration ports (its netns only)",
                        description="Inside hvN's network namespace only, DROP incoming TCP to QEMU's migration "
                                    "ports 49152:49215 through an iptables chain named after the lab, or remove "
                                    "that chain. libvirtd (16509/16514) and sshd stay reachable.")
    fw.add_argument("host", metavar="hvN")
    what = fw.add_mutually_exclusive_group(required=True)
    what.add_argument("--block-migration", action="store_true", help="add the DROP rule (idempotent)")
    what.add_argument("--clear", action="store_true", help="remove what --block-migration added (idempotent)")


def parser():
    p = argparse.ArgumentParser(prog="lab/lab", description=drover_lab.__doc__.split("\n\n", maxsplit=1)[0])
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="create or repair the lab (idempotent)")
    up.add_argument("--hosts", type=int, default=int(os.environ.get("DROVER_LAB_HOSTS", 3)))
    up.add_argument("--guests", type=int, default=int(os.environ.get("DROVER_LAB_GUESTS", 4)),
                    help="running guests vm1..vmN on hv1 (default 4)")
    up.add_argument("--memory", type=int, default=128, help="guest RAM in MiB")
    up.add_argument("--dirty-mb", type=int, default=4, help="MiB each guest rewrites per second")
    up.add_argument("--no-wait", dest="wait", action="store_false",
                    help="do not wait for the guests' first heartbeat")
    down = sub.add_parser("down", help="remove everything the lab created (idempotent)")
    down.add_argument("--purge", action="store_true", help="also drop the guest kernel cache")
    st = sub.add_parser("status", help="hosts, daemons and domains")
    st.add_argument("--json", action="store_true")
    ex = sub.add_parser("exec", help="run a command inside a host: exec hv1 -- CMD...")
    ex.add_argument("host")
    ex.add_argument("cmd", nargs=argparse.REMAINDER)
    add_guest_parser(sub)
    add_fixture_parsers(sub)
    hb = sub.add_parser("heartbeat", help="last heartbeat of a guest on a host, as JSON")
    hb.add_argument("host")
    hb.add_argument("name")
    sh = sub.add_parser("shape", help="cap a host's outbound link with tc")
    sh.add_argument("host")
    sh.add_argument("--rate", help="e.g. 1gbit, 200mbit")
    sh.add_argument("--delay", help="added latency, e.g. 1ms")
    sh.add_argument("--clear", action="store_true")
    return p


HANDLERS = {"up": cmd_up, "down": cmd_down, "status": cmd_status, "exec": cmd_exec,
            "guest": cmd_guest, "heartbeat": cmd_heartbeat, "shape": cmd_shape,
            "network": cmd_network, "firewall": cmd_firewall}


def main():
    check_lab_name()
    args = parser().parse_args()
    if os.geteuid() != 0:
        sys.exit("lab: must run as root")
    try:
        HANDLERS[args.command](args)
    except (LabError, SpecError, libvirt.libvirtError) as exc:
        sys.exit("lab: error: %s" % exc)
