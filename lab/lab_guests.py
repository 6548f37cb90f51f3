"""Guest and network definitions of the drover lab (imported by lab.py).

Builds the domain XML of a lab guest with what migration preflight tests need: networks, a CPU
model, an ivshmem device (which QEMU refuses to migrate), more vCPUs and drover placement tags
(docs/facts.md, "Placement tags"); and the XML of an isolated libvirt network. Pure functions:
nothing here runs a command.
"""
import re
import xml.sax.saxutils

PLACEMENT_NS = "urn:drover-libvirt:placement:1"
DEFAULT_CPU = "qemu64"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
TAG_HELP = ("placement tag, repeatable: anti-affinity=GROUP, affinity=GROUP, pin, label:KEY=VALUE "
            "(written to <metadata> in namespace %s)" % PLACEMENT_NS)


class SpecError(Exception):
    """A guest or network option the lab cannot turn into a definition."""


def check_name(kind, value, max_len=64):
    if not value or len(value) > max_len or not NAME_RE.match(value):
        raise SpecError("%s %r: use letters, digits, '.', '_', '+' and '-' (at most %d, not "
                        "starting with a sign)" % (kind, value, max_len))
    return value


def parse_tag(text):
    """'anti-affinity=web' -> ('anti-affinity', 'web'); 'pin' -> ('pin',); 'label:k=v' -> ('label', 'k', 'v')."""
    if text == "pin":
        return ("pin",)
    for kind in ("anti-affinity", "affinity"):
        if text.startswith(kind + "="):
            group = text[len(kind) + 1:]
            if not group.strip():
                raise SpecError("tag %r: the group is empty" % text)
            return (kind, group)
    if text.startswith("label:") and "=" in text:
        key, value = text[len("label:"):].split("=", 1)
        if not key.strip():
            raise SpecError("tag %r: the label key is empty" % text)
        return ("label", key, value)
    raise SpecError("tag %r: expected anti-affinity=GROUP, affinity=GROUP, pin or label:KEY=VALUE" % text)


def placement_xml(tags):
    """<metadata> with one drover:placement element, tags in the order given (docs/facts.md)."""
    if not tags:
        return ""
    e = xml.sax.saxutils.escape
    lines = []
    for tag in tags:
        if tag[0] == "pin":
            lines.append("<drover:pin/>")
        elif tag[0] == "label":
            lines.append("<drover:label name=%s>%s</drover:label>" % (xml.sax.saxutils.quoteattr(tag[1]), e(tag[2])))
        else:
            lines.append("<drover:{0}>{1}</drover:{0}>".format(tag[0], e(tag[1])))
    return ("  <metadata>\n    <drover:placement xmlns:drover=\"%s\">\n%s    </drover:placement>\n  </metadata>\n"
            % (PLACEMENT_NS, "".join("      %s\n" % line for line in lines)))


def guest_xml(name, memory, dirty_mb, disk, shared, vcpus=1, cpu=DEFAULT_CPU, networks=(), shmem=False,
              tags=()):
    """Domain XML of a lab guest: kernel + initramfs from SHARED, one qcow2 disk, serial log file."""
    e = xml.sax.saxutils.escape
    if vcpus < 1:
        raise SpecError("--vcpus must be at least 1")
    if memory < 16:
        raise SpecError("--memory must be at least 16 (MiB)")
    check_name("CPU model", cpu)
    devices = ""
    for net in networks:
        check_name("network", net)
        devices += ("    <interface type='network'><source network='%s'/><model type='virtio'/></interface>\n"
                    % e(net))
    if shmem:
        # QEMU maps /dev/shm/NAME-shm; /dev/shm is private to each lab host.
        devices += ("    <shmem name='%s-shm'><model type='ivshmem-plain'/><size unit='M'>4</size></shmem>\n"
                    % e(name))
    return """<domain type='qemu'>
  <name>{name}</name>
{metadata}  <memory unit='MiB'>{mem}</memory>
  <vcpu>{vcpus}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{shared}/guest/vmlinuz</kernel>
    <initrd>{shared}/guest/initrd.gz</initrd>
    <cmdline>console=ttyS0 quiet drover.dirty_mb={dirty}</cmdline>
  </os>
  <cpu mode='custom' match='exact' check='none'><model fallback='forbid'>{cpu}</model></cpu>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
{devices}    <serial type='file'>
      <source path='/var/log/libvirt/qemu/{name}.serial.log' append='on'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
""".format(name=e(name), metadata=placement_xml(tags), mem=int(memory), vcpus=int(vcpus), dirty=int(dirty_mb),
           shared=shared, disk=e(disk), cpu=e(cpu), devices=devices)


def network_xml(name, mtu=None, bridge=None):
    """An isolated network: no <forward>, no <ip>, so libvirt runs no dnsmasq and adds no NAT."""
    check_name("network", name)
    parts = ["<network>", "  <name>%s</name>" % name]
    if bridge:
        check_name("bridge", bridge, max_len=15)
        parts.append("  <bridge name='%s'/>" % bridge)
    if mtu is not None:
        if not 68 <= mtu <= 65535:
            raise SpecError("--mtu %d: expected 68..65535" % mtu)
        parts.append("  <mtu size='%d'/>" % mtu)
    return "\n".join(parts + ["</network>", ""])


def add_guest_arguments(g):
    """The options of `lab guest` that shape the definition (beyond --host/--memory/--storage)."""
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
    net = sub.add_parser("network", help="define and start an isolated libvirt network on a host (idempotent)",
                         description="Define an isolated libvirt network (no <ip>, no <forward>: no dnsmasq) "
                                     "on hvN and start it. Run again with other options to change it.")
    net.add_argument("host", metavar="hvN")
    net.add_argument("name", metavar="NAME")
    net.add_argument("--mtu", type=int, help="MTU of the network's bridge (default: libvirt's, 1500)")
    net.add_argument("--bridge", metavar="BRNAME", help="bridge device name (default: libvirt picks virbrN)")
    net.add_argument("--inactive", action="store_true", help="define it but leave it (or make it) inactive")
    net.add_argument("--remove", action="store_true", help="destroy and undefine the network")
    fw = sub.add_parser("firewall", help="drop incoming TCP to a host's migration ports (its netns only)",
                        description="Inside hvN's network namespace only, DROP incoming TCP to QEMU's migration "
                                    "ports 49152:49215 through an iptables chain named after the lab, or remove "
                                    "that chain. libvirtd (16509/16514) and sshd stay reachable.")
    fw.add_argument("host", metavar="hvN")
    what = fw.add_mutually_exclusive_group(required=True)
    what.add_argument("--block-migration", action="store_true", help="add the DROP rule (idempotent)")
    what.add_argument("--clear", action="store_true", help="remove what --block-migration added (idempotent)")
