"""The bank demo's zero-downtime upgrade, with real processes: release 2 follows release 1
(a service under load from the demo's clients) through its own record types, is promoted
when release 1 hands over, and serves. Nothing release 1 acknowledged is lost, and every
record release 2 holds is in its shape, as a follower and once it serves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from examples.bank import v2 as release_2
from examples.bank.demo import Demo

import amber


@pytest.mark.slow
def test_release_2_follows_release_1_under_load_then_takes_over_losing_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = Demo(tmp_path, accounts=2_000, seconds=2.0)
    try:
        v1 = demo.start("v1")
        v1.wait_for("come online", lambda s: s["role"] == "primary")
        demo.client.point_at("v1", v1.port)
        demo.client.start()
        v2 = demo.zero_downtime_upgrade(v1)  # checks its own claims: DemoFailed if one is false
        tally = demo.client.tally
        assert tally.by_release["v1"] > 0 and tally.by_release["v2"] > 0
        assert tally.first_ack["v2"] > tally.last_ack["v1"], "the two releases never acknowledged at once"
        stats = v2.get("/stats")
        assert stats["role"] == "primary" and stats["following"]["applied"] > 0
        assert stats["promotion"]["checkpoint"] == stats["restored"]["checkpoint"]
        assert v1.get("/stats")["role"] == "drained"
        refused = v1.post("/transfers", {"source": 1, "target": 2, "amount_cents": 1})
        assert refused["error"] == "this instance is drained", "release 1 takes no transfer after the handover"
        demo.client.point_at(None)
        acknowledged = demo.client.acknowledged()
        assert v2.post("/transfers/check", {"transfers": acknowledged})["missing"] == []
        assert v2.get("/shape")["bank.Account"] == {"2": 2_000}
        v2.stop()  # a final checkpoint
    finally:
        demo.cleanup()
    out = capsys.readouterr().out
    assert re.search(r"handover gap: \d+ ms from the last transfer release 1 acknowledged", out)
    assert "no acknowledged transfer lost" in out
    bank = release_2.Bank()  # the store it left, read with release 2's code: every transfer acknowledged
    store = amber.open_store(tmp_path / "state", registry=release_2.registry, history=False)
    amber.Manager(store, bank.participants, exclusive=False).restore()
    assert bank.missing_transfers(acknowledged) == []
    assert bank.shape()["bank.Account"] == {"2": 2_000}
