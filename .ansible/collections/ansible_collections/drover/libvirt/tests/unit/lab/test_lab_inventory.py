"""The lab's inventory lists the hosts the lab has, at its network's addresses."""

from drover_lab import inventory


def test_hosts_follow_the_lab(monkeypatch):
    monkeypatch.setattr(inventory, "present_hosts", lambda: [1, 2, 3, 4, 5])
    monkeypatch.setattr(inventory, "host_ip", lambda n: "10.9.9.%d" % n)
    out = inventory.inventory()
    assert out["hypervisors"]["hosts"] == ["hv1", "hv2", "hv3", "hv4", "hv5"]
    assert out["_meta"]["hostvars"]["hv5"] == {"ansible_host": "10.9.9.5"}


def test_a_lab_that_is_down_lists_the_default_three(monkeypatch):
    monkeypatch.setattr(inventory, "present_hosts", lambda: [])
    assert inventory.inventory()["hypervisors"]["hosts"] == ["hv1", "hv2", "hv3"]
