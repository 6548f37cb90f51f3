"""Guest, network and pool XML of the lab, built and read with ElementTree."""
import xml.etree.ElementTree as ET

import pytest

from drover_lab.definitions import (PLACEMENT_NS, SpecError, check_guest_name, check_name, guest_xml, network_link,
                                    network_xml, parse_tag, pool_xml)

SHARED = "/srv/drover/shared"


def guest(name="vm1", **kw):
    return ET.fromstring(guest_xml(name, 128, 4, "%s/%s.qcow2" % (SHARED, name), SHARED, **kw))


def test_plain_guest():
    root = guest()
    assert root.tag == "domain" and root.get("type") == "qemu"
    assert root.findtext("name") == "vm1"
    assert root.find("memory").get("unit") == "MiB" and root.findtext("memory") == "128"
    assert root.findtext("vcpu") == "1"
    assert root.findtext("os/kernel") == SHARED + "/guest/vmlinuz"
    assert root.findtext("os/initrd") == SHARED + "/guest/initrd.gz"
    assert root.findtext("os/cmdline") == "console=ttyS0 quiet drover.dirty_mb=4"
    assert root.findtext("cpu/model") == "qemu64" and root.find("cpu").get("check") == "none"
    assert root.find("devices/disk/source").get("file") == SHARED + "/vm1.qcow2"
    assert root.find("devices/serial/source").get("path") == "/var/log/libvirt/qemu/vm1.serial.log"
    assert root.find("metadata") is None
    assert root.findall("devices/interface") == [] and root.find("devices/shmem") is None


def test_name_with_space_quotes_and_markup_is_text_not_xml():
    name = "web 01 \"it's\" <b>&"
    root = guest(name)
    assert root.findtext("name") == name
    assert root.find("devices/disk/source").get("file") == "%s/%s.qcow2" % (SHARED, name)
    assert root.find("devices/serial/source").get("path") == "/var/log/libvirt/qemu/%s.serial.log" % name


def test_devices_options():
    root = guest(vcpus=2, cpu="Skylake-Server", networks=["prod", "back"], shmem=True)
    assert root.findtext("vcpu") == "2"
    assert root.findtext("cpu/model") == "Skylake-Server"
    assert [i.find("source").get("network") for i in root.findall("devices/interface")] == ["prod", "back"]
    assert root.find("devices/shmem").get("name") == "vm1-shm"
    assert root.find("devices/shmem/model").get("type") == "ivshmem-plain"


def test_placement_tags_in_order_in_their_namespace():
    tags = [parse_tag(t) for t in ("anti-affinity=web", "pin", "label:tier=a&<b>", "affinity=db")]
    placement = guest(tags=tags).find("metadata/{%s}placement" % PLACEMENT_NS)
    assert [(el.tag.split("}")[1], el.get("name"), el.text) for el in placement] == [
        ("anti-affinity", None, "web"), ("pin", None, None), ("label", "tier", "a&<b>"), ("affinity", None, "db")]


@pytest.mark.parametrize("kw", [dict(vcpus=0), dict(cpu="bad model"), dict(networks=["bad/net"])])
def test_bad_options_are_refused(kw):
    with pytest.raises(SpecError):
        guest(**kw)


def test_too_little_memory_is_refused():
    with pytest.raises(SpecError, match="--memory"):
        guest_xml("vm1", 8, 0, "/d.qcow2", SHARED)


@pytest.mark.parametrize("name", ["web 01", "ünïcødé", "it's \"q\"", "a<b>&c", "vm_1.2-x"])
def test_guest_names_libvirt_accepts(name):
    assert check_guest_name(name) == name


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "a\nb", "tab\there"])
def test_guest_names_that_cannot_be_file_names(name):
    with pytest.raises(SpecError, match="guest name"):
        check_guest_name(name)


def test_check_name():
    assert check_name("network", "prod-1.a_b+c") == "prod-1.a_b+c"
    for bad in ("", "-x", "a b", "x" * 65):
        with pytest.raises(SpecError):
            check_name("network", bad)


@pytest.mark.parametrize("text,tag", [("pin", ("pin",)), ("anti-affinity=web", ("anti-affinity", "web")),
                                      ("affinity=db", ("affinity", "db")), ("label:k=v=w", ("label", "k", "v=w"))])
def test_parse_tag(text, tag):
    assert parse_tag(text) == tag


@pytest.mark.parametrize("text", ["pinned", "affinity=", "anti-affinity= ", "label:=v", "label:k", "zone=a"])
def test_parse_tag_refuses(text):
    with pytest.raises(SpecError):
        parse_tag(text)


def test_isolated_network():
    root = ET.fromstring(network_xml("prod"))
    assert root.tag == "network" and [el.tag for el in root] == ["name"] and root.findtext("name") == "prod"
    root = ET.fromstring(network_xml("prod", 9000, "brp", uuid="9e00fcd0-df3b-4043-ac92-698cd3db8db5"))
    assert [el.tag for el in root] == ["name", "uuid", "bridge", "mtu"]
    assert root.findtext("uuid") == "9e00fcd0-df3b-4043-ac92-698cd3db8db5"
    assert root.find("bridge").get("name") == "brp" and root.find("mtu").get("size") == "9000"
    assert root.find("forward") is None and root.find("ip") is None


@pytest.mark.parametrize("kw", [dict(mtu=67), dict(mtu=65536), dict(bridge="x" * 16), dict(bridge="br 0")])
def test_network_options_refused(kw):
    with pytest.raises(SpecError):
        network_xml("prod", **kw)


def test_network_link_of_a_live_network():
    live = ("<network>\n  <name>prod</name>\n  <uuid>9e00fcd0-df3b-4043-ac92-698cd3db8db5</uuid>\n"
            "  <bridge name='brp' stp='on' delay='0'/>\n  <mtu size='1400'/>\n"
            "  <mac address='52:54:00:9f:9b:54'/>\n</network>\n")
    assert network_link(live) == (1400, "brp")
    assert network_link("<network><name>n</name></network>") == (None, None)


def test_directory_pool():
    root = ET.fromstring(pool_xml("shared", SHARED))
    assert root.get("type") == "dir" and root.findtext("name") == "shared"
    assert root.findtext("target/path") == SHARED
