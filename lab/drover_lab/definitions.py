"""Guest, network and storage pool definitions of the drover lab, as libvirt XML.

Builds the domain XML of a lab guest with what migration preflight tests need: networks, a CPU
model, an ivshmem device (which QEMU refuses to migrate), more vCPUs and drover placement tags
(docs/facts.md, "Placement tags"); the XML of an isolated libvirt network and of a directory pool;
and reads back what the lab compares of a live network. Pure functions: nothing here runs a
command or talks to libvirt.
"""
import re
import xml.etree.ElementTree as ET

PLACEMENT_NS = "urn:drover-libvirt:placement:1"
DEFAULT_CPU = "qemu64"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
TAG_HELP = ("placement tag, repeatable: anti-affinity=GROUP, affinity=GROUP, pin, label:KEY=VALUE "
            "(written to <metadata> in namespace %s)" % PLACEMENT_NS)

ET.register_namespace("drover", PLACEMENT_NS)


class SpecError(Exception):
    """A guest or network option the lab cannot turn into a definition."""


def check_name(kind, value, max_len=64):
    if not value or len(value) > max_len or not NAME_RE.match(value):
        raise SpecError("%s %r: use letters, digits, '.', '_', '+' and '-' (at most %d, not "
                        "starting with a sign)" % (kind, value, max_len))
    return value


def check_guest_name(name):
    """A guest name becomes file names (its disk, its serial log): no '/', no leading '.'.

    Spaces, quotes and any other printable character are fine, as they are for libvirt.
    """
    if not name or name.startswith(".") or "/" in name or any(not c.isprintable() for c in name):
        raise SpecError("guest name %r: must not be empty, start with '.' or contain '/' or "
                        "control characters" % name)
    return name


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


def _sub(parent, tag, text=None, **attrs):
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def _text(root):
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def placement_element(tags):
    """<metadata> with one drover:placement element, tags in the order given (docs/facts.md); None without tags."""
    if not tags:
        return None
    metadata = ET.Element("metadata")
    placement = _sub(metadata, "{%s}placement" % PLACEMENT_NS)
    for tag in tags:
        if tag[0] == "pin":
            _sub(placement, "{%s}pin" % PLACEMENT_NS)
        elif tag[0] == "label":
            _sub(placement, "{%s}label" % PLACEMENT_NS, tag[2], name=tag[1])
        else:
            _sub(placement, "{%s}%s" % (PLACEMENT_NS, tag[0]), tag[1])
    return metadata


def guest_xml(name, memory, dirty_mb, disk, shared, vcpus=1, cpu=DEFAULT_CPU, networks=(), shmem=False,
              tags=()):
    """Domain XML of a lab guest: kernel + initramfs from SHARED, one qcow2 disk, serial log file."""
    if vcpus < 1:
        raise SpecError("--vcpus must be at least 1")
    if memory < 16:
        raise SpecError("--memory must be at least 16 (MiB)")
    check_name("CPU model", cpu)
    for net in networks:
        check_name("network", net)
    domain = ET.Element("domain", type="qemu")
    _sub(domain, "name", name)
    metadata = placement_element(tags)
    if metadata is not None:
        domain.append(metadata)
    _sub(domain, "memory", str(int(memory)), unit="MiB")
    _sub(domain, "vcpu", str(int(vcpus)))
    os_el = _sub(domain, "os")
    _sub(os_el, "type", "hvm", arch="x86_64", machine="pc")
    _sub(os_el, "kernel", "%s/guest/vmlinuz" % shared)
    _sub(os_el, "initrd", "%s/guest/initrd.gz" % shared)
    _sub(os_el, "cmdline", "console=ttyS0 quiet drover.dirty_mb=%d" % int(dirty_mb))
    cpu_el = _sub(domain, "cpu", mode="custom", match="exact", check="none")
    _sub(cpu_el, "model", cpu, fallback="forbid")
    for event, action in (("on_poweroff", "destroy"), ("on_reboot", "restart"), ("on_crash", "destroy")):
        _sub(domain, event, action)
    devices = _sub(domain, "devices")
    _sub(devices, "emulator", "/usr/bin/qemu-system-x86_64")
    disk_el = _sub(devices, "disk", type="file", device="disk")
    _sub(disk_el, "driver", name="qemu", type="qcow2", cache="none")
    _sub(disk_el, "source", file=disk)
    _sub(disk_el, "target", dev="vda", bus="virtio")
    for net in networks:
        iface = _sub(devices, "interface", type="network")
        _sub(iface, "source", network=net)
        _sub(iface, "model", type="virtio")
    if shmem:
        # QEMU maps /dev/shm/NAME-shm; /dev/shm is private to each lab host.
        shm = _sub(devices, "shmem", name="%s-shm" % name)
        _sub(shm, "model", type="ivshmem-plain")
        _sub(shm, "size", "4", unit="M")
    serial = _sub(devices, "serial", type="file")
    _sub(serial, "source", path="/var/log/libvirt/qemu/%s.serial.log" % name, append="on")
    _sub(serial, "target", port="0")
    _sub(devices, "memballoon", model="none")
    return _text(domain)


def network_xml(name, mtu=None, bridge=None, uuid=None):
    """An isolated network: no <forward>, no <ip>, so libvirt runs no dnsmasq and adds no NAT.

    uuid: that of the network when it is redefined, so libvirt updates it instead of refusing.
    """
    check_name("network", name)
    network = ET.Element("network")
    _sub(network, "name", name)
    if uuid:
        _sub(network, "uuid", uuid)
    if bridge:
        check_name("bridge", bridge, max_len=15)
        _sub(network, "bridge", name=bridge)
    if mtu is not None:
        if not 68 <= mtu <= 65535:
            raise SpecError("--mtu %d: expected 68..65535" % mtu)
        _sub(network, "mtu", size=str(mtu))
    return _text(network)


def network_link(xml_text):
    """(MTU or None, bridge name or None) of a network's XML."""
    root = ET.fromstring(xml_text)
    mtu, bridge = root.find("mtu"), root.find("bridge")
    return (int(mtu.get("size")) if mtu is not None and mtu.get("size") else None,
            bridge.get("name") if bridge is not None else None)


def pool_xml(name, path):
    """A directory storage pool NAME at PATH (what `virsh pool-define-as NAME dir --target PATH` defines)."""
    pool = ET.Element("pool", type="dir")
    _sub(pool, "name", name)
    _sub(_sub(pool, "target"), "path", path)
    return _text(pool)
