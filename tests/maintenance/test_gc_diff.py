"""Retention and garbage collection (amber gc), and amber diff."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

import amber
from amber import commands
from tests.support.bank_service import Bank, Customer, registry
from tests.support.helpers import amber_cli, tree_digest


def chain(tmp_path: Path, kinds: str) -> tuple[Bank, amber.Manager]:
    """Checkpoints of the given kinds ("F" full, "D" delta), each after a small change."""
    store = amber.open_store(tmp_path / "s", registry=registry)
    bank = Bank()
    manager = amber.Manager(store, bank.participants, max_delta_ratio=100.0, exclusive=False)
    bank.open_accounts(5, 40)
    for i, kind in enumerate(kinds):
        bank.deposit(i, 1)
        assert manager.checkpoint(full=kind == "F").kind == {"F": "full", "D": "delta"}[kind]
    return bank, manager


def data_files(root: Path) -> set[str]:
    return {f"data/{p.name}" for p in (root / "data").iterdir() if not p.name.startswith(".")}


def test_retention_keeps_every_checkpoint_a_kept_delta_needs(tmp_path: Path) -> None:
    _, manager = chain(tmp_path, "FDD")
    report = commands.gc(manager.store, keep_last=1)
    assert report["kept"] == ["000000000001", "000000000002", "000000000003"]
    assert report["needed"] == {"000000000001": ["000000000003"], "000000000002": ["000000000003"]}
    assert report["deleted_checkpoints"] == [] and report["deleted_files"] == []


def test_gc_removes_old_chains_children_first_with_their_data(tmp_path: Path) -> None:
    bank, manager = chain(tmp_path, "FDFD")
    store, root = manager.store, tmp_path / "s"
    doomed = {store.manifest(i).data for i in ("000000000001", "000000000002")}
    dry = commands.gc(store, keep_last=2, dry_run=True)
    assert dry["deleted_checkpoints"] == ["000000000002", "000000000001"], "children first"
    assert set(dry["deleted_files"]) == doomed and store.ids() == [
        "000000000001",
        "000000000002",
        "000000000003",
        "000000000004",
    ]
    before = tree_digest(root)
    commands.gc(store, keep_last=2, dry_run=True)
    assert tree_digest(root) == before, "a dry run deletes nothing"
    report = commands.gc(store, keep_last=2)
    assert report["deleted_checkpoints"] == dry["deleted_checkpoints"]
    assert store.ids() == ["000000000003", "000000000004"] and not (doomed & data_files(root))
    again = Bank()
    amber.Manager(store, again.participants).restore()
    assert again.balances() == bank.balances()


def test_a_data_file_shared_by_a_rollback_stays_while_a_manifest_names_it(tmp_path: Path) -> None:
    _, manager = chain(tmp_path, "FF")
    store = manager.store
    commands.rollback(store, "000000000001")  # 3 names the data file of 1
    shared = store.manifest("000000000001").data
    report = commands.gc(store, keep_last=1)
    assert report["deleted_checkpoints"] == ["000000000002", "000000000001"]
    assert shared not in report["deleted_files"] and store.manifest("000000000003").data == shared
    assert store.verify("000000000003").records > 0


def test_quarantined_checkpoints_and_unreadable_manifests_are_kept(tmp_path: Path) -> None:
    _, manager = chain(tmp_path, "FFF")
    store = manager.store
    store.quarantine("000000000001", "inspect me")
    (tmp_path / "s" / "checkpoints" / "000000000002.manifest").write_bytes(b"garbage")
    report = commands.gc(store, keep_last=1)
    assert report["kept"] == ["000000000001", "000000000002", "000000000003"]
    assert report["unreadable"] == ["000000000002"]


def test_leftovers_and_orphans_go_only_after_the_grace_period(tmp_path: Path) -> None:
    _, manager = chain(tmp_path, "F")
    root = tmp_path / "s"
    old, young = time.time() - 7200, time.time()
    files = {
        "data/.0123456789abcdef0123456789abcdef.seg.00112233aabbccdd.tmp": old,
        "checkpoints/.000000000009.manifest.00112233aabbccdd.tmp": old,
        "data/.fedcba9876543210fedcba9876543210.seg.aabbccdd00112233.tmp": young,
        "data/00000000000000000000000000000000.seg": old,  # a save that died before its manifest
        "data/11111111111111111111111111111111.seg": young,  # maybe a save in progress
    }
    for name, when in files.items():
        (root / name).write_bytes(b"x")
        os.utime(root / name, (when, when))
    report = commands.gc(manager.store, keep_last=1)
    gone = {n for n, when in files.items() if when == old}
    assert set(report["deleted_files"]) == gone
    assert all((root / n).exists() == (n not in gone) for n in files)
    assert manager.store.verify().records > 0


def test_the_manager_applies_retention_after_each_checkpoint(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path / "s", registry=registry)
    bank = Bank()
    manager = amber.Manager(store, bank.participants, retention=amber.Retention(keep_last=2), max_chain=2)
    bank.open_accounts(5, 40)
    for i in range(7):
        bank.deposit(i, 1)
        manager.checkpoint()
    infos = store.list()
    assert len(infos) <= 3 and all(not i.parent or i.parent in {j.id for j in infos} for i in infos)


def test_the_manager_keeps_what_its_keep_names_from_its_retention(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path / "s", registry=registry)
    bank = Bank()
    kept: set[str] = set()
    manager = amber.Manager(store, bank.participants, retention=amber.Retention(keep_last=1), keep=lambda: kept)
    bank.open_accounts(5, 40)
    kept.add(manager.checkpoint(full=True).info.id)
    for i in range(4):
        bank.deposit(i, 1)
        manager.checkpoint(full=True)
    assert {i.id for i in store.list()} == kept | {manager.last.id}  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="keep must be a function"):
        amber.Manager(store, bank.participants, keep=["000000000001"])  # type: ignore[arg-type]


def test_gc_on_the_command_line(tmp_path: Path) -> None:
    chain(tmp_path, "FF")
    result = amber_cli("gc", str(tmp_path / "s"), "--keep-last", "1", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "would delete 1 checkpoint(s)" in result.stdout and "dry run" in result.stdout
    report = json.loads(amber_cli("gc", str(tmp_path / "s"), "--keep-within", "1d", "--json").stdout)
    assert report["deleted_checkpoints"] == []
    assert amber_cli("gc", str(tmp_path / "s")).returncode == 2
    assert amber_cli("gc", str(tmp_path / "s"), "--keep-within", "soon").returncode == 2


def test_retention_needs_a_policy() -> None:
    with pytest.raises(ValueError, match="keep_last"):
        amber.Retention()


# --- diff ---------------------------------------------------------------------------------


def test_diff_reports_added_changed_and_deleted_keys_per_type(tmp_path: Path) -> None:
    bank, manager = chain(tmp_path, "F")
    bank.transfer(1, 2, 5)
    bank.ledger.total -= bank.accounts.pop(3).balance
    bank.customers[99] = Customer(99, "new")
    bank.customers[0].name = "renamed"  # in place: accounts keep pointing at this customer
    bank.customers.touch(0)
    bank.accounts[3] = bank.accounts.pop(4)  # key 4 deleted, key 3 now holds another account
    manager.checkpoint()
    found = commands.diff(manager.store, "000000000001", "000000000002")
    accounts, customers = found["types"]["bank.Account"], found["types"]["bank.Customer"]
    assert (accounts["added"], accounts["changed"], accounts["deleted"]) == (0, 3, 1)
    assert accounts["keys"] == {"changed": [1, 2, 3], "deleted": [4]}
    assert (customers["added"], customers["changed"], customers["deleted"]) == (1, 1, 0)
    # Accounts of the renamed customer did not change: they point at the same table entry.
    assert found["schemas"] == [] and found["b"] == "000000000002"


def test_diff_of_equal_states_is_empty_and_shows_schema_changes(tmp_path: Path) -> None:
    _, manager = chain(tmp_path, "FD")
    assert commands.diff(manager.store, "000000000002", "000000000002")["types"] == {}
    other = amber.Registry()

    @other.record("bank.Customer", version=2)
    class CustomerV2(amber.Record):
        id: int
        name: str
        email: str = ""

    store = amber.open_store(tmp_path / "s", registry=other)
    store.save({"customers": amber.Table({1: CustomerV2(1, "a")})})
    found = commands.diff(store, "000000000002", "000000000003")
    changes = {s["type"]: s["change"] for s in found["schemas"]}
    assert changes == {"bank.Customer": "changed", "bank.Account": "removed", "bank.Ledger": "removed"}


def test_diff_on_the_command_line(tmp_path: Path) -> None:
    bank, manager = chain(tmp_path, "F")
    bank.transfer(0, 1, 1)
    manager.checkpoint()
    result = amber_cli("diff", str(tmp_path / "s"), "1", "2")
    assert result.returncode == 0, result.stderr
    assert "bank.Account: 0 added, 2 changed, 0 deleted" in result.stdout
    assert json.loads(amber_cli("diff", str(tmp_path / "s"), "1", "2", "--json").stdout)["a"] == "000000000001"
    assert amber_cli("diff", str(tmp_path / "s"), "1", "9").returncode == 1


def test_gc_keeps_the_newest_sound_checkpoint_when_the_newest_is_quarantined(tmp_path: Path) -> None:
    _, manager = chain(tmp_path, "FDFD")
    store = manager.store
    store.quarantine("000000000004", "inspect me")
    report = commands.gc(store, keep_last=1)
    assert report["kept"] == ["000000000003", "000000000004"]


def test_diff_between_a_full_checkpoint_and_a_delta_sees_the_whole_chains_types(tmp_path: Path) -> None:
    bank, manager = chain(tmp_path, "FD")
    bank.ledger.transfers += 1  # only the ledger changes: the delta holds no bank types besides
    manager.checkpoint()
    found = commands.diff(manager.store, "1", "3")
    assert found["schemas"] == []
