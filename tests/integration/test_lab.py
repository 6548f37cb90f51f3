"""The lab itself: guests whose names need care show up as they are."""
import json

import pytest

from labfixture import heartbeat, lab, placement

pytestmark = pytest.mark.usefixtures("lab_up")

NAMES = ["web 01", "ünï \"q\" it's"]


def test_names_with_spaces_quotes_and_unicode():
    assert lab("guest", NAMES[0], "--host", "hv2", "--wait", check=False).returncode == 0
    assert lab("guest", NAMES[1], "--host", "hv2", "--no-start", check=False).returncode == 0
    line = [ln for ln in lab("status").stdout.splitlines() if ln.startswith("hv2 ")][0]
    assert line.endswith(" web 01(running) ünï \"q\" it's(shut off)"), line
    hv2 = [h for h in json.loads(lab("status", "--json").stdout)["hosts"] if h["host"] == "hv2"][0]
    assert hv2["domains"] == {NAMES[0]: "running", NAMES[1]: "shut off"}
    assert placement(NAMES[0])["hv2"]["active"] is True
    assert json.loads(lab("heartbeat", "hv2", NAMES[0]).stdout)["boot_id"] == heartbeat("hv2", NAMES[0])["boot_id"]
