"""The origin record: what a move writes, keeps and clears, and how it is read back from XML."""

import xml.etree.ElementTree as ET

from ansible_collections.drover.libvirt.plugins.module_utils._domain_facts import parse_domain_xml
from ansible_collections.drover.libvirt.plugins.module_utils._origin import next_origin, origin_element, origin_from_root

NOW = "2026-11-30T10:00:00+00:00"


def test_first_move_records_home_and_destination():
    assert next_origin(None, "hv1", "hv2", "run-1", NOW) == {"host": "hv1", "to": "hv2", "run": "run-1", "since": NOW}


def test_a_later_move_keeps_home_and_first_departure():
    before = {"host": "hv1", "to": "hv2", "run": "run-1", "since": "2026-11-29T08:00:00+00:00"}
    after = next_origin(before, "hv2", "hv3", "run-2", NOW)
    assert after == {"host": "hv1", "to": "hv3", "run": "run-2", "since": "2026-11-29T08:00:00+00:00"}


def test_coming_home_clears_the_record():
    before = {"host": "hv1", "to": "hv2", "run": "run-1", "since": NOW}
    assert next_origin(before, "hv2", "hv1", "run-3", NOW) is None


def test_record_round_trips_through_domain_xml():
    origin = {"host": "hv1", "to": "hv2", "run": "run-1", "since": NOW}
    element = ET.fromstring(origin_element(origin))
    element.tag = "{urn:drover-libvirt:origin:1}origin"
    root = ET.Element("domain")
    ET.SubElement(root, "name").text = "vm1"
    ET.SubElement(root, "metadata").append(element)
    assert origin_from_root(root) == origin
    assert parse_domain_xml(ET.tostring(root, encoding="unicode"))["origin"] == origin


def test_no_record_or_no_home_reads_as_none():
    assert parse_domain_xml("<domain><name>vm1</name></domain>")["origin"] is None
    text = ('<domain><name>vm1</name><metadata><o:origin xmlns:o="urn:drover-libvirt:origin:1" to="hv2"/>'
            '</metadata></domain>')
    assert parse_domain_xml(text)["origin"] is None
