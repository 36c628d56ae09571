"""amber.testing, the kit for our users' tests, tried the way they would use it."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

import amber
from amber.testing import (
    Faults,
    assert_roundtrip,
    check_migrations,
    faulty_store,
    freeze_fixture,
    records,
    run_in_child,
)
from tests.support import migration_app
from tests.support.sample import Account, Branch, Everything, bank, registry


@settings(max_examples=40, deadline=None)
@given(records(Everything, registry=registry))
def test_any_record_drawn_for_a_type_round_trips(value: Everything) -> None:
    assert_roundtrip({"one": value}, registry=registry)


@settings(max_examples=20, deadline=None)
@given(records(Account, registry=registry), records(Branch, registry=registry))
def test_records_pointing_at_records_round_trip(account: Account, branch: Branch) -> None:
    loaded = assert_roundtrip([account, account, branch], registry=registry)
    assert loaded[0] is loaded[1], "a record held twice comes back once"


def test_the_round_trip_assertion_can_fail() -> None:
    with pytest.raises(AssertionError, match="differs"):
        assert_roundtrip({"x": math.nan})  # stored, but never equal to itself
    with pytest.raises(TypeError, match="not a persisted record type"):
        records(int)


def test_frozen_fixtures_make_a_migration_matrix(tmp_path: Path) -> None:
    fixtures = tmp_path / "fixtures"
    freeze_fixture(bank(customers=2, accounts=5), fixtures, "1.0", registry=registry)
    with pytest.raises(FileExistsError, match="never rewritten"):
        freeze_fixture(bank(), fixtures, "1.0", registry=registry)

    def balances_are_whole_cents(state: Any) -> list[str]:
        return [f"account {a.id}" for a in state["accounts"].values() if not isinstance(a.balance_cents, int)]

    results = check_migrations(fixtures, registry=migration_app.registry, invariants=balances_are_whole_cents)
    assert [(r.release, r.versions["bank.Account"]) for r in results] == [("1.0", (1, 2))]
    with pytest.raises(AssertionError, match=r"1 fixture problem\(s\):\n  1.0 \(000000000001\): broken"):
        check_migrations(fixtures, registry=migration_app.registry, invariants=lambda state: ["broken"])
    with pytest.raises(AssertionError, match="UnknownTypeError"):
        check_migrations(fixtures, registry=amber.Registry())  # code that forgot the types


@pytest.mark.parametrize("operation", ["write", "fsync"])
def test_a_full_disk_at_any_point_of_a_save_keeps_the_last_checkpoint_and_no_leftovers(
    tmp_path: Path, operation: str
) -> None:
    counted = Faults()
    faulty_store(tmp_path / "count", counted, registry=registry).save(bank())
    total = counted.counts[operation]  # type: ignore[index]
    assert total >= 2
    for at in range(1, total + 1):
        root = tmp_path / f"{operation}-{at}"
        amber.open_store(root, registry=registry).save(bank(customers=1, accounts=1))
        store = faulty_store(root, Faults().enospc(operation, at=at), registry=registry)  # type: ignore[arg-type]
        with pytest.raises(amber.StoreError, match="the disk is full"):
            store.save(bank())
        assert store.ids() == ["000000000001"] and len(store.load()["accounts"]) == 1
        leftovers = [n for _, _, files in os.walk(root) for n in files if n.endswith(".tmp")]
        assert leftovers == [], "temporary files are removed"
        assert len(os.listdir(root / "data")) == 1


def test_a_torn_write_and_a_failed_fsync_are_clear_errors_that_lose_nothing(tmp_path: Path) -> None:
    amber.open_store(tmp_path, registry=registry).save(bank(customers=1, accounts=1))
    for faults in (Faults().tear("write", at=2), Faults().fail("fsync", at=1), Faults().fail("link", at=1)):
        store = faulty_store(tmp_path, faults, registry=registry)
        with pytest.raises(amber.StoreError, match="injected"):
            store.save(bank())
        assert store.ids() == ["000000000001"]


def test_slow_io_is_slow(tmp_path: Path) -> None:
    store = faulty_store(tmp_path, Faults().slow("fsync", 0.05), registry=registry)
    began = time.monotonic()
    store.save(bank())
    assert time.monotonic() - began >= 0.1  # the data file, the manifest, their folders


def test_run_in_child_reports_a_sigkill_an_error_or_a_return(tmp_path: Path) -> None:
    store = faulty_store(tmp_path, Faults().kill("link", at=1), registry=registry)
    killed = run_in_child(lambda: store.save(bank()))
    assert killed.killed and not killed.returned
    assert amber.open_store(tmp_path, registry=registry).ids() == []
    failed = run_in_child(lambda: 1 / 0)
    assert not failed.killed and failed.exit_code == 1 and "ZeroDivisionError" in failed.error
    assert run_in_child(lambda: None).returned


def test_the_pytest_plugin_gives_stores(amber_store: amber.CheckpointStore, amber_faulty_store: Any) -> None:
    amber_store.save({"n": 1})
    assert amber_store.load() == {"n": 1}
    amber_faulty_store.save({"n": 2})
    assert amber_faulty_store.storage.fs.faults.counts["fsync"] >= 2


def test_a_slow_rule_does_not_hide_a_failure_due_on_the_same_call(tmp_path: Path) -> None:
    store = faulty_store(tmp_path, Faults().slow("write", 0.001).enospc("write", at=2), registry=registry)
    with pytest.raises(amber.StoreError, match="the disk is full"):
        store.save(bank())


def test_a_release_without_a_checkpoint_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "fixtures" / "2.0").mkdir(parents=True)
    with pytest.raises(AssertionError, match="2.0 .*no checkpoint"):
        check_migrations(tmp_path / "fixtures", registry=registry)


def test_a_failure_after_the_manifest_is_linked_says_the_checkpoint_exists(tmp_path: Path) -> None:
    amber.open_store(tmp_path, registry=registry).save(bank(customers=1, accounts=1))
    store = faulty_store(tmp_path, Faults().fail("fsync_dir", at=2), registry=registry)  # the manifest's folder
    with pytest.raises(amber.CommitUncertainError, match="000000000002 was committed, but it may not survive") as e:
        store.save(bank())
    assert e.value.checkpoint == "000000000002" and store.ids() == ["000000000001", "000000000002"]
    assert len(store.load()["accounts"]) == 20, "the data file it names was kept"
