import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.drover.libvirt.plugins.filter import evacuation_plan as plugin
from ansible_collections.drover.libvirt.plugins.module_utils import _plan_select
from ansible_collections.drover.libvirt.plugins.module_utils._planner_inputs import CONSTRAINT_DEFAULTS


def fleet():
    def hv(total_kib):
        return {"memory": {"total_kib": total_kib, "committed_kib": 0}, "vcpus": {"physical": 4, "allocated": 0}, "maintenance": None}

    return {
        "hv1": {"hypervisor": hv(8388608), "domains": [
            {"name": "db1", "uuid": "u1", "state": "running", "active": True, "persistent": True, "memory_kib": 1048576,
             "vcpus": 1, "tags": {"labels": {"tier": "db"}}},
            {"name": "web1", "uuid": "u2", "state": "running", "active": True, "persistent": True, "memory_kib": 1048576,
             "vcpus": 1, "tags": {"labels": {"tier": "web"}}}]},
        "hv2": {"hypervisor": hv(8388608), "domains": []},
    }


def test_the_filter_is_exposed_and_plans():
    evacuation_plan = plugin.FilterModule().filters()["evacuation_plan"]
    plan = evacuation_plan(fleet(), ["hv1"], constraints={"select": "[?tags.labels.tier=='db']"})
    assert [(m["domain"], m["destination"]) for m in plan["moves"]] == [("db1", "hv2")]
    assert plan["skipped"][0]["domain"] == "web1"


def test_errors_are_filter_errors_with_the_planners_message():
    with pytest.raises(AnsibleFilterError, match=r"drain names unknown host\(s\) hv7"):
        plugin.evacuation_plan(fleet(), ["hv7"])
    with pytest.raises(AnsibleFilterError, match=r"unknown constraint\(s\) colds"):
        plugin.evacuation_plan(fleet(), ["hv1"], constraints={"colds": True})
    with pytest.raises(AnsibleFilterError, match="is not a JMESPath expression"):
        plugin.evacuation_plan(fleet(), ["hv1"], constraints={"select": "[?"})


def test_missing_jmespath_is_named(monkeypatch):
    monkeypatch.setattr(_plan_select, "jmespath", None)
    with pytest.raises(AnsibleFilterError, match="jmespath is required"):
        plugin.evacuation_plan(fleet(), ["hv1"], constraints={"select": "[*]"})


def test_tagged_values_from_templating_work_with_jmespath_functions():
    tags = pytest.importorskip("ansible._internal._datatag._tags")
    origin = tags.Origin(path="/inventory/group_vars/all.yml")
    data = fleet()
    for dom in data["hv1"]["domains"]:
        dom["name"] = origin.tag(dom["name"])
        dom["tags"]["labels"]["tier"] = origin.tag(dom["tags"]["labels"]["tier"])
    plan = plugin.evacuation_plan(data, [origin.tag("hv1")], constraints={"select": origin.tag("[?starts_with(tags.labels.tier, 'w')]")})
    assert [m["domain"] for m in plan["moves"]] == ["web1"]
    assert type(plan["moves"][0]["domain"]) is str  # pylint: disable=unidiomatic-typecheck


def test_documentation_is_yaml_with_every_option():
    doc = yaml.safe_load(plugin.DOCUMENTATION)
    assert doc["name"] == "evacuation_plan"
    assert set(doc["options"]) == {"_input", "drain", "verdicts", "constraints"}
    assert set(doc["options"]["constraints"]["suboptions"]) == set(CONSTRAINT_DEFAULTS)
    returned = yaml.safe_load(plugin.RETURN)["_value"]["contains"]
    assert set(returned) == set(plugin.evacuation_plan(fleet(), ["hv1"]))
    yaml.safe_load(plugin.EXAMPLES)
