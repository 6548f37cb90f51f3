# -*- coding: utf-8 -*-
"""The batch scheduler when destinations have no room: try every alternate, retries or not; wait if asked."""

from __future__ import annotations

import pytest

from ansible_collections.drover.libvirt.plugins.module_utils import _batch
from ansible_collections.drover.libvirt.plugins.module_utils._errors import DroverError
from test_batch import ScriptedMover, _Module, _moves


class FullMover(ScriptedMover):
    """Destinations in `full` refuse every claim until `room_after` attempts were made."""

    def __init__(self, module, full, room_after=None):
        super().__init__(module)
        self.full, self.room_after, self.attempts = set(full), room_after, 0

    def _attempt(self, task):
        self.attempts += 1
        attempt = super()._attempt(task)
        dest = attempt["destination"]
        if dest in self.full and (self.room_after is None or self.attempts <= self.room_after):
            attempt.update(status="failed", error="no room for %s on %s: needs 1 vCPUs, 0 left" % (task["name"], dest),
                           location="source", no_room=True)
        return attempt


def test_no_room_passes_to_every_alternate_without_spending_retries():
    mover = FullMover(_Module(_moves(1, dests=("hv2", "hv3", "hv4")), retries=0), full={"hv2", "hv3"})
    [result] = mover.run(False)["results"]
    assert result["status"] == "migrated" and result["to"] == "hv4"
    assert [(t["destination"], t["no_room"]) for t in result["tries"]] == [("hv2", True), ("hv3", True), ("hv4", False)]


def test_no_destination_with_room_leaves_the_domain_on_its_source_with_the_reason():
    mover = FullMover(_Module(_moves(1, dests=("hv2", "hv3")), retries=5), full={"hv2", "hv3"})
    [result] = mover.run(False)["results"]
    assert result["status"] == "failed" and result["location"] == "source" and result["to"] is None
    assert result["error"].startswith("no destination had room: no room for vm00 on hv2") and "on hv3" in result["error"]
    assert result["attempts"] == 2


def test_waiting_for_capacity_asks_again_until_room_appears(monkeypatch):
    monkeypatch.setattr(_batch, "_ROOM_POLL_S", 0.05)
    mover = FullMover(_Module(_moves(1, dests=("hv2", "hv3")), wait_for_capacity=30), full={"hv2", "hv3"}, room_after=5)
    [result] = mover.run(False)["results"]
    assert result["status"] == "migrated" and result["attempts"] == 6
    assert all(t["no_room"] for t in result["tries"][:5])


def test_waiting_has_an_end(monkeypatch):
    monkeypatch.setattr(_batch, "_ROOM_POLL_S", 0.05)
    mover = FullMover(_Module(_moves(1, dests=("hv2",)), wait_for_capacity=0.2), full={"hv2"})
    [result] = mover.run(False)["results"]
    assert result["status"] == "failed" and 2 <= result["attempts"] <= 6


def test_a_negative_wait_is_refused_by_name():
    with pytest.raises(DroverError, match="wait_for_capacity"):
        ScriptedMover(_Module(_moves(1), wait_for_capacity=-1))


@pytest.mark.parametrize("claims, message", [({"run_id": "a b"}, "run_id"), ({"ttl": 0}, "claims.ttl"),
                                             ({"max_inbound": 0}, "claims.max_inbound"),
                                             ({"memory_headroom_pct": 100}, "memory_headroom_pct")])
def test_bad_claim_settings_are_refused_before_any_move(claims, message):
    with pytest.raises(DroverError, match=message):
        ScriptedMover(_Module(_moves(1), claims=dict({"enabled": True}, **claims)))
