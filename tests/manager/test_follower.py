"""``amber.Follower``: a warm replica that applies each committed delta to its state in place,
and a manager promoted from it without reading the chain again."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import pytest

import amber
from amber import commands
from amber._store._manifests import Manifests
from tests.support.bank_service import Bank, registry


def writer(tmp_path: Path) -> tuple[Bank, amber.Manager]:
    bank = Bank()
    store = amber.open_store(tmp_path / "store", registry=registry)
    manager = amber.Manager(store, bank.participants, max_delta_ratio=100.0)
    manager.restore()
    bank.open_accounts(5, 50)
    return bank, manager


def follower(tmp_path: Path) -> tuple[Bank, amber.Follower]:
    bank = Bank()
    store = amber.open_store(tmp_path / "store", registry=registry)
    return bank, amber.Follower(store, bank.participants)


def balances(bank: Bank) -> dict[int, int]:
    return {k: a.balance for k, a in bank.accounts.items()}


def test_a_follower_applies_each_delta_in_place_and_holds_the_writers_state(tmp_path: Path) -> None:
    live, manager = writer(tmp_path)
    manager.checkpoint()
    replica, follow = follower(tmp_path)
    assert follow.catch_up() == 1 and balances(replica) == balances(live)
    accounts = replica.accounts
    for i in range(3):
        live.transfer(i, i + 10, 7)
        assert manager.checkpoint().kind == "delta"
    assert follow.lag().checkpoints == 3
    assert follow.catch_up() == 3
    assert follow.lag() == amber.Lag(0, 0.0)
    assert replica.accounts is accounts  # the deltas were applied to the table it held, not reloaded
    assert balances(replica) == balances(live) and replica.ledger.total == live.ledger.total
    assert follow.checkpoint == manager.store.ids()[-1]
    manager.close()


def test_a_full_checkpoint_or_a_rollback_is_loaded_whole(tmp_path: Path) -> None:
    live, manager = writer(tmp_path)
    manager.checkpoint()
    replica, follow = follower(tmp_path)
    follow.catch_up()
    live.transfer(1, 2, 5)
    manager.checkpoint(full=True)
    follow.catch_up()
    assert balances(replica) == balances(live)
    manager.close()
    first = manager.store.ids()[0]
    commands.rollback(manager.store, first)
    follow.catch_up()
    assert balances(replica) == balances(amber_bank(manager.store.load(first)))


def amber_bank(state: dict[str, object]) -> Bank:
    bank = Bank()
    for participant in bank.participants:
        participant.restore(state[participant.name])
    return bank


def test_a_follower_in_its_thread_keeps_up_and_reads_under_its_lock(tmp_path: Path) -> None:
    live, manager = writer(tmp_path)
    manager.checkpoint()
    replica, follow = follower(tmp_path)
    follow.start(interval=0.01)
    try:
        live.transfer(3, 4, 9)
        committed = manager.checkpoint().info.id
        for _ in range(500):
            if follow.checkpoint == committed:
                break
            follow._stop.wait(0.01)
        with follow.reading():
            assert follow.checkpoint == committed and balances(replica) == balances(live)
    finally:
        follow.close()
        manager.close()


def test_a_promoted_follower_writes_its_first_delta_on_the_state_it_held(tmp_path: Path) -> None:
    live, manager = writer(tmp_path)
    manager.checkpoint()
    replica, follow = follower(tmp_path)
    follow.start(interval=0.01)
    live.transfer(5, 6, 11)
    manager.checkpoint()
    manager.close(final=False)  # the old writer stops (a crash leaves its lock to the OS: the same)
    expected = balances(live)
    successor = amber.Manager(follow.store, replica.participants, max_delta_ratio=100.0)
    report = successor.restore(warm=follow)
    assert report.checkpoint == follow.checkpoint == manager.store.ids()[-1]
    assert balances(replica) == expected
    replica.transfer(7, 8, 3)
    result = successor.checkpoint()
    assert result.kind == "delta" and result.info.parent == report.checkpoint
    successor.close()
    assert balances(amber_bank(follow.store.load())) == balances(replica)


def test_a_follower_promoted_after_its_writer_is_killed_under_load_loses_nothing_acknowledged(
    tmp_path: Path,
) -> None:
    """A real process writes deltas without pause and is SIGKILLed; the follower, kept
    current in its thread meanwhile, is promoted: it holds the last acknowledged state."""
    store_dir = tmp_path / "store"
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.support.follower_writer", str(store_dir)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent.parent,
    )
    acknowledged: list[tuple[str, dict[str, int]]] = []

    def heard(line: str) -> None:
        _, checkpoint, balances_json = line.split(maxsplit=2)
        acknowledged.append((checkpoint, json.loads(balances_json)))

    with child:
        assert child.stdout is not None
        heard(child.stdout.readline())  # the first acknowledged checkpoint: the store exists
        replica, follow = follower(tmp_path)
        follow.start(interval=0.005)
        while len(acknowledged) < 25:
            heard(child.stdout.readline())
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        for line in child.stdout:  # acknowledged before the kill, not read yet
            if line.startswith("ACK"):
                heard(line)
    successor = amber.Manager(follow.store, replica.participants, max_delta_ratio=100.0)
    report = successor.restore(warm=follow)
    last_id, last_balances = acknowledged[-1]
    assert report.checkpoint is not None and report.checkpoint >= last_id  # nothing acknowledged is lost
    if report.checkpoint == last_id:
        assert {str(k): v for k, v in balances(replica).items()} == last_balances
    assert balances(replica) == balances(amber_bank(follow.store.load(report.checkpoint)))
    successor.close()


release_1 = amber.Registry()


@release_1.record("shop.Item", version=1)
class ItemV1(amber.Record):
    sku: str
    qty: int


release_2 = amber.Registry()


@release_2.record("shop.Item", version=1)
class ItemV1Kept(amber.Record):  # the old version's declaration, kept for its steps and rules
    sku: str
    qty: int


@release_2.record("shop.Item", version=2)
class ItemV2(amber.Record):
    sku: str
    stock: Annotated[int, amber.field(aliases=["qty"])]  # renamed
    price_cents: int = 0


@release_2.upgrade("shop.Item", 1)
def priced(fields: dict[str, object]) -> dict[str, object]:
    fields["price_cents"] = 100
    return fields


class Shop:
    name = "shop"

    def __init__(self) -> None:
        self.items: amber.Table[str, object] = amber.Table()

    def snapshot(self) -> dict[str, object]:
        return {"items": self.items}

    def restore(self, state: dict[str, object]) -> None:
        self.items = state["items"]  # type: ignore[assignment]


def test_the_next_release_follows_the_current_one_through_its_steps_and_takes_over(tmp_path: Path) -> None:
    """Zero-downtime upgrade: release 2 (a renamed field, an upgrade step) follows release 1's
    checkpoints and deltas, each read through the evolution rules and steps, and is promoted
    when caught up: its state is release 2's shape, and its first checkpoint writes it."""
    old = Shop()
    old.items.update({f"s{i}": ItemV1(f"s{i}", i) for i in range(20)})
    writer_1 = amber.Manager(amber.open_store(tmp_path / "shop", registry=release_1), [old], max_delta_ratio=100.0)
    writer_1.restore()
    writer_1.checkpoint()
    new = Shop()
    follow = amber.Follower(amber.open_store(tmp_path / "shop", registry=release_2), [new])
    follow.catch_up()
    items = new.items
    old.items["s3"].qty = 300  # type: ignore[attr-defined]
    old.items.touch("s3")
    writer_1.checkpoint()
    follow.catch_up()
    assert new.items is items  # the release 1 delta applied in place, through the step
    assert new.items["s3"] == ItemV2("s3", 300, 100) and new.items["s4"] == ItemV2("s4", 4, 100)
    writer_1.close(final=False)  # release 1 stops taking writes
    writer_2 = amber.Manager(follow.store, [new], max_delta_ratio=100.0)
    writer_2.restore(warm=follow)
    new.items["s5"] = ItemV2("s5", 55, 250)
    writer_2.checkpoint()
    writer_2.close(final=False)
    loaded = amber.open_store(tmp_path / "shop", registry=release_2).load()["shop"]["items"]
    assert loaded["s5"] == ItemV2("s5", 55, 250) and loaded["s3"] == ItemV2("s3", 300, 100)
    assert amber.open_store(tmp_path / "shop", registry=release_2).info().types["shop.Item"] == 2


def test_a_follower_says_how_far_behind_it_was_as_an_event_and_a_metric(tmp_path: Path) -> None:
    import prometheus_client

    from amber.events import FollowerCaughtUp, Recorder
    from amber.prometheus import PrometheusListener

    live, manager = writer(tmp_path)
    manager.checkpoint()
    metrics, recorder = prometheus_client.CollectorRegistry(), Recorder()
    store = amber.open_store(tmp_path / "store", registry=registry, listeners=[recorder])
    store.listeners.append(PrometheusListener(registry=metrics))
    replica = Bank()
    follow = amber.Follower(store, replica.participants)
    follow.catch_up()
    live.transfer(1, 2, 3)
    manager.checkpoint()
    manager.checkpoint(full=True)
    follow.catch_up()
    manager.close()
    first, second = recorder.of(FollowerCaughtUp)
    assert (first.applied, first.whole) == (1, 1) and (second.applied, second.whole) == (2, 1)
    assert second.lag_seconds >= 0 and second.checkpoint == follow.checkpoint
    delta = metrics.get_sample_value("amber_follower_applied_total", {"store": "", "how": "delta"})
    whole = metrics.get_sample_value("amber_follower_applied_total", {"store": "", "how": "whole"})
    assert (delta, whole) == (1, 2)
    assert metrics.get_sample_value("amber_follower_lag_seconds", {"store": ""}) == second.lag_seconds


def test_a_damaged_delta_is_said_and_refused_not_applied_in_part(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    live, manager = writer(tmp_path)
    manager.checkpoint()
    _replica, follow = follower(tmp_path)
    follow.catch_up()
    live.transfer(1, 2, 3)
    delta = manager.checkpoint().info
    manager.close(final=False)
    data = tmp_path / "store" / manager.store.manifest(delta.id).data
    raw = data.read_bytes()
    data.write_bytes(raw[:-40] + bytes(40))  # its last segment's bytes zeroed: its digest fails
    with pytest.raises(amber.CheckpointError):
        follow.catch_up()
    assert f"checkpoint {delta.id} not applied in place" in caplog.text


def test_a_promotion_reads_none_of_the_chain_the_follower_applied_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The follower read and checked each checkpoint of its chain as it applied it: promoting
    it reads no manifest of that chain again (a chain of deltas cost one read per manifest,
    twice, in the handover's gap), and reports the chain as a restore would."""
    live, manager = writer(tmp_path)
    manager.checkpoint()
    replica, follow = follower(tmp_path)
    follow.catch_up()
    for i in range(6):
        live.transfer(i, i + 1, 2)
        manager.checkpoint()
    follow.catch_up()
    manager.close(final=False)
    successor = amber.Manager(follow.store, replica.participants, max_delta_ratio=100.0)
    reads: list[object] = []
    read = Manifests.read

    def counted(self: Manifests, checkpoint_id: str | int | None, **options: Any) -> Any:
        reads.append(checkpoint_id)
        return read(self, checkpoint_id, **options)

    monkeypatch.setattr(Manifests, "read", counted)
    report = successor.restore(warm=follow)
    monkeypatch.undo()
    cold = amber.Manager(amber.open_store(tmp_path / "store", registry=registry), [], exclusive=False).restore()
    assert report.chain == cold.chain and len(report.chain) == 7
    assert (report.base_bytes, report.delta_bytes, report.records) == (cold.base_bytes, cold.delta_bytes, cold.records)
    assert len(reads) <= 1, f"manifests read again: {reads}"  # the manager's own note of its last checkpoint
    successor.close(final=False)


def test_a_delta_on_another_checkpoint_under_the_held_ones_id_is_not_applied_in_place(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The checkpoint a follower holds is gone and another was committed under its id (its
    manifest lost, the sequence number taken again): a delta on that one names it by digest,
    so it is loaded whole, never applied to the state of the one it replaced."""
    live, manager = writer(tmp_path)
    manager.checkpoint()
    live.transfer(1, 2, 5)
    held = manager.checkpoint().info
    replica, follow = follower(tmp_path)
    follow.catch_up()
    assert follow.checkpoint == held.id
    manager.close(final=False)
    (tmp_path / "store" / "checkpoints" / f"{held.id}.manifest").unlink()  # lost
    live.transfer(3, 4, 7)  # then another writer commits under that id, and a delta on it
    again = amber.Manager(amber.open_store(tmp_path / "store", registry=registry), live.participants)
    again.restore()
    live.transfer(5, 6, 9)
    assert again.checkpoint(full=True).info.id == held.id
    live.transfer(7, 8, 11)
    assert again.checkpoint().info.parent == held.id
    again.close(final=False)
    with caplog.at_level(logging.WARNING, logger="amber.follower"):
        follow.catch_up()
    assert "was replaced: loading anew" in caplog.text  # found before the delta on it is even read
    assert balances(replica) == balances(live)
