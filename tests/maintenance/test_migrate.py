"""Migrating a store offline, the migration log, rollback, and crashes in the middle."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import amber
from amber import commands
from amber._cli import _render as render
from tests.support import migration_app
from tests.support.helpers import tree_digest
from tests.support.sample import bank, registry

APP = "tests.support.migration_app:registry"
ROOT = Path(__file__).parents[2]


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    amber.open_store(tmp_path, registry=registry).save(bank(customers=3, accounts=10), meta={"release": "1"})
    return tmp_path


def test_migrate_writes_a_new_checkpoint_and_keeps_the_source(store_dir: Path) -> None:
    result = commands.migrate(str(store_dir), APP)
    assert (result["source"], result["target"], result["changed"]) == ("000000000001", "000000000002", True)
    assert {t["name"]: t["how"] for t in result["types"]}["bank.Account"] == "step 1->2"
    new = amber.open_store(store_dir, registry=migration_app.registry)
    assert new.info().meta == {"release": "1", "migrated_from": "000000000001", "amber.log_run": "000000000001"}
    assert [t.describe() for t in new.plan().types][1] == "bank.Account v2: as written"
    assert new.load()["accounts"][3].balance_cents == 30000
    assert amber.open_store(store_dir, registry=registry).load(1)["accounts"][3].balance == 300, "the source stays"


def test_the_log_records_every_migration_with_its_undo(store_dir: Path) -> None:
    commands.migrate(str(store_dir), APP)
    entries = commands.log(str(store_dir))
    assert [(e["action"], e["outcome"]) for e in entries] == [("migrate", "started"), ("migrate", "committed")]
    done = entries[1]
    assert done["run"] == entries[0]["run"]
    assert (done["source"], done["target"], done["records"]) == ("000000000001", "000000000002", 17)
    account = next(t for t in done["types"] if t["name"] == "bank.Account")
    assert (account["from_version"], account["to_version"], account["records"]) == (1, 2, 10)
    assert account["from_fingerprint"] != account["to_fingerprint"]
    assert done["undo"] == f"amber rollback {store_dir.as_uri()} --to 000000000001"


def test_a_dry_run_checks_everything_and_writes_nothing(store_dir: Path) -> None:
    before = tree_digest(store_dir)
    result = commands.migrate(str(store_dir), APP, dry_run=True)
    assert (result["dry_run"], result["target"], result["records"]) == (True, None, 17)
    assert tree_digest(store_dir) == before


def test_nothing_to_migrate(store_dir: Path) -> None:
    commands.migrate(str(store_dir), APP)
    again = commands.migrate(str(store_dir), APP)
    assert (again["changed"], again["target"]) == (False, None)


def test_rollback_makes_the_source_newest_again_and_deletes_nothing(store_dir: Path) -> None:
    commands.migrate(str(store_dir), APP)
    files = set(tree_digest(store_dir))
    result = commands.rollback(str(store_dir))
    assert result == {
        "from": "000000000002",
        "restored": "000000000001",
        "target": "000000000003",
        "superseded": ["000000000002"],
        "undo": f"amber rollback {store_dir.as_uri()} --to 000000000002",
    }
    assert files <= set(tree_digest(store_dir)), "nothing deleted"
    old = amber.open_store(store_dir, registry=registry)
    assert old.load()["accounts"][3].balance == 300, "old code reads the newest checkpoint again"
    assert old.info().meta["rollback_of"] == "000000000002"
    assert [e["action"] for e in commands.log(str(store_dir))][-2:] == ["rollback", "rollback"]
    with pytest.raises(amber.CheckpointNotFoundError, match="made by a migration"):
        commands.rollback(str(store_dir))
    assert commands.rollback(str(store_dir), to="2")["restored"] == "000000000002", "a rollback can be undone"


def test_a_failing_step_fails_the_migration_and_is_logged(store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(fields: dict[str, object]) -> dict[str, object]:
        raise ValueError("bad data")

    monkeypatch.setitem(migration_app.registry._upgrades, ("bank.Account", 1), broken)
    before = {k: v for k, v in tree_digest(store_dir).items() if k.startswith(("checkpoints", "data"))}
    with pytest.raises(amber.MigrationError, match="bad data"):
        commands.migrate(str(store_dir), APP)
    after = {k: v for k, v in tree_digest(store_dir).items() if k.startswith(("checkpoints", "data"))}
    assert after == before
    assert [e["outcome"] for e in commands.log(str(store_dir))] == ["started", "failed"]


def amber_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "amber", *args],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_the_cli_migrates_logs_and_rolls_back(store_dir: Path) -> None:
    dry = amber_cli("migrate", str(store_dir), "--app", APP, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run: 000000000001 would migrate" in dry.stdout and "step 1->2" in dry.stdout
    done = json.loads(amber_cli("migrate", str(store_dir), "--app", APP, "--json").stdout)
    assert done["target"] == "000000000002"
    log = amber_cli("log", str(store_dir)).stdout
    assert "migrate  committed  000000000001 -> 000000000002" in log and "undo: amber rollback" in log
    assert amber_cli("rollback", str(store_dir)).stdout.startswith("rolled back: 000000000003 restores 000000000001")
    missing = amber_cli("migrate", str(store_dir), "--app", "no_such_module")
    assert missing.returncode != 0


def test_a_migration_killed_at_any_moment_leaves_the_store_unambiguous(tmp_path: Path) -> None:
    """SIGKILL a real `amber migrate` at many moments: the store then holds either just the
    source or the finished migration, never anything in between, and a rerun completes. Two
    kills are placed (before the commit, after it), whatever the machine's speed."""
    rng = random.Random(7)
    for attempt in range(10):
        store_dir = tmp_path / f"s{attempt}"
        child = start_migration(store_dir, slow=0.005)
        time.sleep(rng.uniform(0.05, 0.9))
        ids = kill_and_list(child, store_dir)
        assert ids in (["000000000001"], ["000000000001", "000000000002"])
        check_and_rerun(store_dir, migrated=len(ids) == 2)
    before = tmp_path / "before"
    child = start_migration(before, slow=0.2)  # 40 records: eight seconds of steps, and the commit after
    wait_for(lambda: any((before / "log").glob("*.json")), child)  # its "started" entry: loading, not committed
    assert kill_and_list(child, before) == ["000000000001"]
    check_and_rerun(before, migrated=False)
    after = tmp_path / "after"
    child = start_migration(after, slow=0.0)
    wait_for((after / "checkpoints" / "000000000002.manifest").exists, child)
    assert kill_and_list(child, after) == ["000000000001", "000000000002"]
    check_and_rerun(after, migrated=True)


def start_migration(store_dir: Path, *, slow: float) -> subprocess.Popen[bytes]:
    amber.open_store(store_dir, registry=registry).save(bank(customers=3, accounts=40))
    return subprocess.Popen(
        [sys.executable, "-m", "amber", "migrate", str(store_dir), "--app", APP],
        cwd=ROOT,
        env={**os.environ, "AMBER_TEST_SLOW_STEP": str(slow)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for(condition: Callable[[], bool], child: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        assert (time.monotonic() < deadline and child.poll() is None) or condition(), "the migration never got there"
        time.sleep(0.01)


def kill_and_list(child: subprocess.Popen[bytes], store_dir: Path) -> list[str]:
    child.send_signal(signal.SIGKILL)
    child.wait()
    return amber.open_store(store_dir, registry=registry).ids()


def check_and_rerun(store_dir: Path, *, migrated: bool) -> None:
    if migrated:
        balance = amber.open_store(store_dir, registry=migration_app.registry).load()["accounts"][3].balance_cents
        assert balance == 30000
    rerun = amber_cli("migrate", str(store_dir), "--app", APP)
    assert rerun.returncode == 0, rerun.stderr
    final = amber.open_store(store_dir, registry=migration_app.registry)
    assert final.plan().types[1].direct and final.load()["accounts"][3].balance_cents == 30000


def vip_release() -> amber.Registry:
    """The bank service's next release: customers gain a ``vip`` flag set by a checkpoint step."""
    from tests.support import bank_service

    reg = amber.Registry()

    @reg.record("bank.Customer", version=2)
    class Customer(amber.Record):
        id: int
        name: str
        vip: bool = False

    @reg.record("bank.Account", version=1)
    class Account(amber.Record):
        id: int
        owner: Customer
        balance: int

    reg.register(bank_service.Ledger, "bank.Ledger", version=1)

    @reg.checkpoint_upgrade(requires={"bank.Customer": 1}, produces={"bank.Customer": 2})
    def mark_vips(tables: amber.Tables) -> None:
        for customer in tables["bank.Customer"]:
            customer["vip"] = customer["id"] == 0

    return reg


@pytest.mark.parametrize("compact", [False, True])
def test_checkpoint_steps_migrate_what_a_compacting_service_left(tmp_path: Path, compact: bool) -> None:
    from tests.support.bank_service import Bank
    from tests.support.bank_service import registry as bank_registry

    bank = Bank()
    store = amber.open_store(tmp_path, registry=bank_registry)
    with amber.Manager(store, bank.participants, compact_on_close=compact) as manager:
        bank.open_accounts(3, 30)
        manager.checkpoint()
        bank.deposit(1, 5)  # the final checkpoint holds this: a delta, unless compacted
    store = amber.open_store(tmp_path, registry=vip_release())
    if not compact:  # the final checkpoint is a delta: the error says how to leave a full one
        with pytest.raises(amber.MigrationError, match="compact_on_close"):
            commands.migrate(store)
        return
    done = commands.migrate(store)
    customers = store.load()["accounts"]["customers"]
    assert done["target"] and customers[0].vip and not customers[1].vip


def address_releases() -> tuple[amber.Registry, amber.Registry]:
    """A service's release 1, whose customers hold their address, and release 2, where a
    checkpoint step moves each into records of a new type: two per customer (home, work)."""
    old, new = amber.Registry(), amber.Registry()

    @old.record("crm.Customer", version=1)
    class CustomerV1(amber.Record):
        id: int
        street: str

    @new.record("crm.Address", version=1)
    class Address(amber.Record):
        street: str

    @new.record("crm.Customer", version=2)
    class Customer(amber.Record):
        id: int
        home: Address | None = None
        work: Address | None = None

    @new.checkpoint_upgrade(requires={"crm.Customer": 1}, produces={"crm.Customer": 2, "crm.Address": 1})
    def split_addresses(tables: amber.Tables) -> None:
        for customer in tables["crm.Customer"]:
            street = customer.pop("street")
            customer["home"] = tables.add("crm.Address", {"street": street})
            customer["work"] = tables.add("crm.Address", {"street": f"office of {street}"})

    return old, new


@pytest.mark.parametrize("dry_run", [True, False])
def test_the_plan_counts_the_records_a_checkpoint_step_creates(tmp_path: Path, dry_run: bool) -> None:
    """The plan is made before any data is read, so it cannot know how many records a step
    makes; the run, in memory for a dry run, does: the report counts them (not "0 records")."""
    old, new = address_releases()
    customer = old.lookup("crm.Customer", 1)
    assert customer is not None
    amber.open_store(tmp_path, registry=old).save([customer.cls(i, f"{i} Main St") for i in range(30)])
    result = commands.migrate(amber.open_store(tmp_path, registry=new), dry_run=dry_run)
    records = {t["name"]: (t["from_version"], t["to_version"], t["records"]) for t in result["types"]}
    assert records == {"crm.Customer": (1, 2, 30), "crm.Address": (0, 1, 60)}
    assert result["records"] == 90
    assert "  crm.Address              new v1               60 records  checkpoint step" in render.migrate(result)
    if not dry_run:
        assert amber.open_store(tmp_path).info().counts["crm.Address"] == 60
        logged = commands.log(str(tmp_path))[-1]
        assert {t["name"]: t["records"] for t in logged["types"]} == {"crm.Customer": 30, "crm.Address": 60}


def test_migrating_with_an_older_release_s_app_is_refused_not_a_silent_downgrade(tmp_path: Path) -> None:
    newer = amber.Registry()

    @newer.record("shop.Item", version=2)
    class Item(amber.Record):
        sku: str
        price: float
        note: str = ""
        x: int = 0

    store = amber.open_store(tmp_path, registry=newer)
    store.save([Item("a", 1.5, "keep me", 3)])
    result = subprocess.run(
        [sys.executable, "-m", "amber", "migrate", str(tmp_path), "--app", "tests.support.lock_apps:v1"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "v2 is newer than v1" in result.stderr
    assert store.ids() == ["000000000001"]


def test_a_migration_leaves_the_store_s_own_reading_of_newer_versions_alone(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path, registry=registry)
    store.save(bank(accounts=3))
    commands.migrate(store, dry_run=True)
    assert store.read_newer  # the refusal applies to the migration only, not to the caller's store
