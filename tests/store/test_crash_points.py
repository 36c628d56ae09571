"""Crash consistency, exhaustively: every disk call of save, delta, migrate, gc and rollback.

For each operation, a clean run counts its disk calls (create, write, fsync, rename, link,
unlink, mkdir, folder fsync). Then, for every call, the operation runs again on a fresh copy
of the store and crashes just before that call:

- by SIGKILL: a real child process runs it on ``amber.testing.faulty_store`` and is killed
  (everything it wrote stays, as in the page cache);
- by a simulated power loss: the same in this process, then ``amber.testing.power_loss``
  drops every write not fsynced, and either every rename or link whose folder was not
  fsynced, or none (a file system may persist a name before the data it names); and once
  more after the operation returned, which must then be durable.

After each crash the store must hold exactly the committed checkpoints: those before, plus
the operation's, all or nothing (for gc: some of what it deletes), each one loading and
verifying, and a collection must find nothing worse than leftovers to remove.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import amber
from amber._maintenance import _migrate
from amber._maintenance._retention import collect
from amber.testing import Crash, Faults, faulty_store, power_loss, run_in_child
from tests.support import migration_app
from tests.support.sample import Customer, bank, registry

COVERED: dict[str, int] = {}  # scenario -> crash points run (printed in docs/reliability.md)


@dataclass
class Scenario:
    name: str
    prepare: Callable[[Path], None]
    run: Callable[[amber.CheckpointStore], Any]
    registry: amber.Registry = registry  # the code running the operation
    reader: amber.Registry = registry  # the code reading afterwards


def tables(n: int = 10) -> dict[str, Any]:
    return {"people": amber.Table({i: Customer(i, f"customer {i}") for i in range(3)}), "counter": n}


def full(root: Path) -> None:
    amber.open_store(root, registry=registry, history=False).save(bank(customers=3, accounts=10))


def two(root: Path) -> None:
    store = amber.open_store(root, registry=registry, history=False)
    store.save(bank(customers=3, accounts=10))
    store.save(bank(customers=3, accounts=12))


def with_table(root: Path) -> None:
    amber.open_store(root, registry=registry, history=False).save(tables())


def delta(store: amber.CheckpointStore) -> Any:
    state = store.load()
    state["people"][7] = state["people"][0]
    del state["people"][1]
    state["counter"] = 11
    return store.save(state, parent=store.ids()[-1])


def migrate(store: amber.CheckpointStore) -> Any:
    return _migrate.migrate(store)


def gc(store: amber.CheckpointStore) -> Any:
    return collect(store, amber.Retention(keep_last=1, grace=dt.timedelta(0)))


def rollback(store: amber.CheckpointStore) -> Any:
    return _migrate.rollback(store, to="1")


SCENARIOS = [
    Scenario("save", full, lambda s: s.save(bank(customers=4, accounts=20))),
    Scenario("delta", with_table, delta),
    Scenario("migrate", full, migrate, registry=migration_app.registry, reader=migration_app.registry),
    Scenario("gc", two, gc),
    Scenario("rollback", two, rollback),
]


def ids(root: Path, reader: amber.Registry) -> list[str]:
    return amber.open_store(root, registry=reader, create=False, history=False).ids()


def check(root: Path, scenario: Scenario, before: list[str], after: list[str], *, done: bool = False) -> None:
    """The store holds exactly committed checkpoints, all sound, and leftovers only."""
    store = amber.open_store(root, registry=scenario.reader, create=False, history=False)
    found = store.ids()
    kept, possible = set(before) & set(after), set(before) | set(after)
    assert kept <= set(found) <= possible, (
        f"{scenario.name}: {found} is not between {sorted(kept)} and {sorted(possible)}"
    )
    new = set(after) - set(before)
    assert not new or new <= set(found) or not new & set(found), "a partial commit"
    if done:
        assert found == after, f"{scenario.name}: returned, then lost to a power cut: {found} != {after}"
    for cid in found:
        store.verify(cid)
        store.load(cid)
    report = collect(store, amber.Retention(keep_last=10**6, grace=dt.timedelta(0)))
    assert report.deleted_checkpoints == [] and report.unreadable == []
    for prefix in ("", "data/", "checkpoints/", "log/"):
        assert store.storage.temporaries(prefix) == []


def copy(base: Path, target: Path) -> Path:
    shutil.copytree(base, target)
    return target


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_a_crash_at_any_disk_call_leaves_exactly_the_committed_checkpoints(tmp_path: Path, scenario: Scenario) -> None:
    base = tmp_path / "base"
    scenario.prepare(base)
    before = ids(base, registry)
    clean = Faults()
    scenario.run(faulty_store(copy(base, tmp_path / "clean"), clean, registry=scenario.registry))
    after, calls = ids(tmp_path / "clean", scenario.reader), len(clean.calls)
    assert calls >= 4, clean.calls
    for at in range(1, calls + 1):
        root = copy(base, tmp_path / f"kill-{at}")
        killed = faulty_store(root, Faults().kill(at=at), registry=scenario.registry)
        outcome = run_in_child(lambda store=killed: scenario.run(store))  # type: ignore[misc]
        assert outcome.killed, outcome.error
        check(root, scenario, before, after)
    for at in range(1, calls + 2):  # the last: a power cut just after the operation returned
        for keep_names in (False, True):  # names lost with their folders' syncs, or all kept
            root = copy(base, tmp_path / f"power-{at}-{keep_names}")
            store = faulty_store(root, Faults().crash(at=at), registry=scenario.registry)
            returned = False
            try:
                scenario.run(store)
                returned = True
            except Crash:
                pass
            power_loss(store, keep_names=keep_names)
            check(root, scenario, before, after, done=returned)
    COVERED[scenario.name] = calls + 2 * (calls + 1)
