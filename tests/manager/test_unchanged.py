"""A checkpoint with nothing new to write writes nothing: no empty delta after an on-demand
checkpoint, and none every interval while the service is idle. "Nothing new" is exact: a
change outside the tables, a record replaced by an equal copy, or an entry changed in place
without ``touch()`` (once the touch check runs) is written."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import prometheus_client
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import amber
from amber.events import CheckpointSkipped, Recorder
from amber.otel import TracingListener
from amber.prometheus import PrometheusListener
from tests.support.bank_service import Bank, Ledger, registry

CAPTURES = ["inline", "fork"]


def serve(tmp_path: Path, capture: str = "inline", **options: Any) -> tuple[Bank, amber.Manager, Recorder]:
    bank, recorder = Bank(), Recorder()
    # A small state's delta weighs much of its base: with the default ratio the next checkpoint
    # would compact the chain (a full one, written even unchanged); that is not what this tests.
    options.setdefault("max_delta_ratio", 10.0)
    store = amber.open_store(tmp_path / "store", registry=registry)
    manager = amber.Manager(store, bank.participants, capture=capture, listeners=[recorder], **options)  # type: ignore[arg-type]
    manager.restore()
    bank.open_accounts(3, 10)
    return bank, manager, recorder


def restored_bank(tmp_path: Path) -> Bank:
    bank = Bank()
    store = amber.open_store(tmp_path / "store", registry=registry)
    amber.Manager(store, bank.participants, exclusive=False).restore()  # beside the live manager
    return bank


@pytest.mark.parametrize("capture", CAPTURES)
def test_periodic_checkpoints_after_an_on_demand_one_write_nothing_while_nothing_changes(
    tmp_path: Path, capture: str
) -> None:
    bank, manager, recorder = serve(tmp_path, capture, interval=0.05)
    manager.checkpoint()
    bank.deposit(1, 5)
    on_demand = manager.checkpoint()  # a delta
    manager.start()
    time.sleep(0.4)  # several periodic checkpoints, none with anything new
    manager.close()  # and the final one
    assert manager.store.ids() == [manager.store.ids()[0], on_demand.info.id], "no empty delta after it"
    skipped = recorder.of(CheckpointSkipped)
    assert len(skipped) >= 3 and {e.checkpoint for e in skipped} == {on_demand.info.id}
    assert manager.last_result is not None and manager.last_result.skipped
    assert manager.last_result.info.id == on_demand.info.id, "the result names the checkpoint holding the state"
    assert manager.health.ok and manager.health.last_checkpoint == on_demand.info.id
    assert restored_bank(tmp_path).balances() == bank.balances()


@pytest.mark.parametrize("capture", CAPTURES)
def test_a_change_outside_the_tables_is_written(tmp_path: Path, capture: str) -> None:
    bank, manager, _ = serve(tmp_path, capture)
    manager.checkpoint()
    bank.ledger.transfers += 1  # a record outside any table: no table sees it change
    result = manager.checkpoint()
    assert not result.skipped and result.kind == "delta"
    assert restored_bank(tmp_path).ledger.transfers == 1


def test_a_record_replaced_by_an_equal_copy_is_written(tmp_path: Path) -> None:
    """Identity is part of the state a delta keeps: an equal copy is another object."""
    bank, manager, _ = serve(tmp_path)
    manager.checkpoint()
    bank.ledger = Ledger(bank.ledger.total, bank.ledger.transfers)
    assert not manager.checkpoint().skipped


@pytest.mark.parametrize("capture", CAPTURES)
def test_an_entry_changed_without_touch_is_written_when_the_check_runs(
    tmp_path: Path, capture: str, caplog: pytest.LogCaptureFixture
) -> None:
    bank, manager, _ = serve(tmp_path, capture, verify_every=1)
    manager.checkpoint()
    bank.customers[2].name = "renamed"  # changed in place, touch() forgotten: nothing else changed
    with caplog.at_level(logging.WARNING, logger="amber.manager"):
        result = manager.checkpoint()
    assert not result.skipped, "a forgotten touch() is a change"
    assert restored_bank(tmp_path).customers[2].name == "renamed"


def test_a_forgotten_touch_is_found_by_the_check_skipped_checkpoints_count_towards(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Skipped until the touch check is due (an empty delta would not have held the change
    either), then written: idle checkpoints still bring the check round."""
    bank, manager, _ = serve(tmp_path, verify_every=3)
    manager.checkpoint()
    bank.customers[2].name = "renamed"
    with caplog.at_level(logging.WARNING, logger="amber.manager"):
        outcomes = [manager.checkpoint() for _ in range(3)]
    # The first full checkpoint counted as one unchecked: the check is due at the second after it.
    assert [r.skipped for r in outcomes] == [True, False, True], "skipped, found and written, then nothing new"
    assert "without touch()" in caplog.text
    assert restored_bank(tmp_path).customers[2].name == "renamed"


def test_a_full_checkpoint_asked_for_is_written_even_unchanged(tmp_path: Path) -> None:
    bank, manager, _ = serve(tmp_path, compact_on_close=True)
    manager.checkpoint()
    bank.deposit(1, 5)
    manager.checkpoint()
    assert not manager.checkpoint(full=True).skipped
    final = manager.close()
    assert final is not None and not final.skipped and final.kind == "full", "compact_on_close compacts"


def test_metrics_and_traces_count_a_skipped_checkpoint_as_the_state_saved(tmp_path: Path) -> None:
    metrics = prometheus_client.CollectorRegistry()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _, manager, _ = serve(tmp_path)
    manager.listeners += [PrometheusListener(metrics), TracingListener(provider)]
    manager.checkpoint()
    manager.checkpoint()
    labels = {"store": "", "kind": "delta", "outcome": "skipped"}
    assert metrics.get_sample_value("amber_checkpoints_total", labels) == 1
    assert metrics.get_sample_value("amber_checkpoint_consecutive_failures", {"store": ""}) == 0
    spans = [s for s in exporter.get_finished_spans() if s.name == "amber.checkpoint"]
    outcomes = [(s.attributes or {}).get("amber.outcome") for s in spans]
    assert outcomes == ["committed", "skipped"], "the skipped attempt's span is ended, not left open"


shop = amber.Registry()


@shop.record("shop.Customer", version=1)
class Customer(amber.Record):
    id: int
    name: str


@shop.record("shop.Order", version=1)
class Order(amber.Record):
    id: int
    customer: Customer


class Shop:
    """Orders pointing at customers, both in tables; no invariant ties them."""

    name = "shop"

    def __init__(self) -> None:
        self.customers: amber.Table[int, Customer] = amber.Table({i: Customer(i, f"c{i}") for i in range(3)})
        self.orders: amber.Table[int, Order] = amber.Table({i: Order(i, self.customers[i % 3]) for i in range(6)})

    def snapshot(self) -> dict[str, Any]:
        return {"customers": self.customers, "orders": self.orders}

    def restore(self, state: dict[str, Any]) -> None:
        self.customers, self.orders = state["customers"], state["orders"]


def shop_manager(tmp_path: Path, capture: str) -> tuple[Shop, amber.Manager]:
    service = Shop()
    store = amber.open_store(tmp_path / "shop", registry=shop)
    manager = amber.Manager(store, [service], capture=capture, verify_every=1, max_delta_ratio=10.0)  # type: ignore[arg-type]
    return service, manager


@pytest.mark.parametrize("capture", CAPTURES)
def test_replacing_an_entry_others_point_at_is_no_forgotten_touch(
    tmp_path: Path, capture: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A newcomer's case: a customer re-registers (a new object at its key) while orders still
    point at the old one. Nothing changed in place: no warning, and the next idle checkpoint
    writes nothing (the check used to flag every such order, and write it again)."""
    service, manager = shop_manager(tmp_path, capture)
    with manager:
        manager.checkpoint()
        service.customers[0] = Customer(0, "re-registered")
        assert not manager.checkpoint().skipped
        assert manager.checkpoint().skipped
    assert "without touch()" not in caplog.text


@pytest.mark.parametrize("capture", CAPTURES)
def test_a_let_go_record_changed_in_place_is_still_a_forgotten_touch(
    tmp_path: Path, capture: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The excuse above holds only while the let-go record is as it was: changed in place
    afterwards (through the orders still pointing at it), it is found and written."""
    service, manager = shop_manager(tmp_path, capture)
    with manager:
        manager.checkpoint()
        old = service.customers[0]
        service.customers[0] = Customer(0, "re-registered")
        old.name = "changed in place"  # still the customer of orders 0 and 3: neither touched
        assert not manager.checkpoint().skipped
    assert "without touch()" in caplog.text
    restored = amber.open_store(tmp_path / "shop", registry=shop).load()
    assert restored["shop"]["orders"][3].customer.name == "changed in place"


@pytest.mark.parametrize("capture", CAPTURES)
def test_a_let_go_record_changed_to_look_like_another_is_not_excused(
    tmp_path: Path, capture: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A reviewer's case: two customers replaced, then the first old one changed in place to
    equal the second's old content. It is compared with its own old content, not any."""
    service, manager = shop_manager(tmp_path, capture)
    with manager:
        manager.checkpoint()
        first = service.customers[0]
        service.customers[0] = Customer(0, "new 0")
        service.customers[1] = Customer(1, "new 1")
        first.id, first.name = 1, "c1"  # now what customer 1 was: still changed in place
        assert not manager.checkpoint().skipped
    assert "without touch()" in caplog.text
    restored = amber.open_store(tmp_path / "shop", registry=shop).load()
    assert restored["shop"]["orders"][3].customer.name == "c1"


def test_the_state_hash_of_a_delta_does_not_walk_every_table_entry(tmp_path: Path) -> None:
    """Whether a delta holds anything new is found in the pause: the entries of the tables
    are not walked for it (a pass over a million of them cost 0.4 s of each delta), unless a
    record outside them points into a record (an identity the tables' ids settle)."""
    from amber._manager._verify import StateHasher

    bank, manager, _ = serve(tmp_path)
    manager.checkpoint()
    state = {p.name: p.snapshot() for p in bank.participants}
    tables: list[amber.Table[Any, Any]] = [bank.accounts, bank.customers]
    hasher = StateHasher(registry, tables)
    hasher.state(state)
    assert hasher._held is None, "the tables' entries were listed for a state that needs no identity of them"
    assert hasher.state(state) == StateHasher(registry, tables).state(state)
    extra = {**state, "favourite": bank.accounts[1]}  # a record outside, pointing at a customer entry
    before = StateHasher(registry, tables).state(extra)
    bank.customers[1].name = "renamed"  # that entry's content: its own hash's business, not the state's
    nested = StateHasher(registry, tables)
    assert nested.state(extra) == before and nested._held is not None
    manager.close()
