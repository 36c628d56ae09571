"""The persistence manager: lifecycle, aborts, timeouts, threads, deltas, verified restore."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import amber
from amber import commands
from amber.events import CheckpointAborted, CheckpointCommitted, PhaseFinished, Quarantined, Recorder
from tests.support.bank_service import Account, Bank, Customer, Ledger, registry
from tests.support.helpers import tree_digest

CAPTURES = ["inline", "fork"]


def make(
    tmp_path: Path, capture: str = "inline", *, audit: bool = False, **options: Any
) -> tuple[Bank, amber.Manager, Recorder]:
    store = amber.open_store(tmp_path / "store", registry=registry)
    bank = Bank(tmp_path / "audit.log" if audit else None)
    recorder = Recorder()
    # Not exclusive: the tests restart the service in this process while this manager lives on
    # (a process that died, in real life); tests/store/test_writer_lock.py tests the lock.
    options.setdefault("exclusive", False)
    manager = amber.Manager(store, bank.participants, capture=capture, listeners=[recorder], **options)  # type: ignore[arg-type]
    manager.restore()
    return bank, manager, recorder


def restored(tmp_path: Path, *, audit: bool = False, **options: Any) -> tuple[Bank, amber.RestoreReport]:
    store = amber.open_store(tmp_path / "store", registry=registry)
    bank = Bank(tmp_path / "audit.log" if audit else None)
    report = amber.Manager(store, bank.participants, **options).restore()
    return bank, report


@pytest.mark.parametrize("capture", CAPTURES)
def test_full_and_delta_checkpoints_restore_the_last_committed_state(tmp_path: Path, capture: str) -> None:
    bank, manager, recorder = make(tmp_path, capture, max_delta_ratio=5.0)
    bank.open_accounts(20, 2000)
    kinds = [manager.checkpoint().kind]
    rng = random.Random(7)
    for _ in range(4):
        bank.random_work(rng, 30)
        kinds.append(manager.checkpoint().kind)
    expected, transfers = bank.balances(), bank.ledger.transfers
    bank.random_work(rng, 10)  # not checkpointed: lost on restore, as it should be
    again, report = restored(tmp_path)
    assert kinds == ["full", "delta", "delta", "delta", "delta"]
    assert manager.last_result is not None and manager.last_result.info == manager.last
    assert again.balances() == expected and again.ledger.transfers == transfers
    assert report.chain == manager.store.ids() and len(report.chain) == 5
    assert all(a.owner is again.customers[a.owner.id] for a in again.accounts.values()), "no duplicated customers"
    committed = recorder.of(CheckpointCommitted)
    assert [e.kind for e in committed] == kinds and all(e.pause_seconds > 0 for e in committed)
    assert {e.phase for e in recorder.of(PhaseFinished)} == {"preparing", "capturing", "validating", "committing"}


def test_a_delta_holds_only_the_changed_accounts(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path)
    bank.open_accounts(10, 5000)
    full = manager.checkpoint().info
    bank.transfer(1, 2, 5)
    delta = manager.checkpoint().info
    assert delta.parent == full.id and delta.counts["bank.Account"] == 2
    assert delta.size < full.size / 5


def test_chains_are_compacted_past_the_length_limit(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path, max_chain=2, max_delta_ratio=100.0)
    bank.open_accounts(5, 100)
    kinds = []
    for i in range(7):
        bank.deposit(i, 1)
        kinds.append(manager.checkpoint().kind)
    assert kinds == ["full", "delta", "delta", "full", "delta", "delta", "full"]
    assert max(info.depth for info in manager.store.list()) == 2


def test_a_rollback_between_checkpoints_makes_the_next_one_full(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path)
    bank.open_accounts(5, 100)
    first = manager.checkpoint().info
    bank.deposit(1, 10)
    manager.checkpoint()
    commands.rollback(manager.store, first.id)
    bank.deposit(3, 10)
    assert manager.checkpoint().kind == "full"


@pytest.mark.parametrize("capture", CAPTURES)
@pytest.mark.parametrize("method", ["prepare", "snapshot", "invariants", "resume"])
def test_a_participant_that_raises_aborts_cleanly(tmp_path: Path, capture: str, method: str) -> None:
    bank, manager, recorder = make(tmp_path, capture)
    bank.open_accounts(5, 50)
    good = manager.checkpoint().info
    bank.deposit(1, 7)
    books = bank.participants[1]

    def broken(*args: Any) -> Any:
        raise RuntimeError("disk on fire")

    setattr(books, method, broken)
    with pytest.raises(amber.CheckpointAbortedError) as caught:
        manager.checkpoint()
    delattr(books, method)
    assert caught.value.participant == "ledger" and "disk on fire" in str(caught.value)
    assert caught.value.phase == {"prepare": "preparing", "snapshot": "capturing"}.get(method, caught.value.phase)
    assert manager.store.ids() == [good.id], "nothing became visible"
    assert not bank.gate.locked(), "every participant was resumed"
    assert manager.phase == "online"
    assert recorder.of(CheckpointAborted)[-1].participant == "ledger"
    # The changes of the failed attempt are not lost: the next checkpoint carries them.
    manager.checkpoint()
    again, _ = restored(tmp_path)
    assert again.balances() == bank.balances()


def test_a_checkpoint_whose_invariants_fail_is_never_committed(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path)
    bank.open_accounts(5, 50)
    good = manager.checkpoint().info
    bank.accounts[3].balance += 1_000  # money from nowhere: the ledger disagrees
    bank.accounts.touch(3)
    with pytest.raises(amber.CheckpointAbortedError, match="balances sum to the ledger total") as caught:
        manager.checkpoint()
    assert caught.value.phase == "validating" and caught.value.participant == "ledger"
    assert manager.store.ids() == [good.id]


def test_a_prepare_that_hangs_times_out_and_everyone_is_resumed(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path, timeouts=amber.Timeouts(preparing=0.2))
    bank.open_accounts(5, 50)
    release = threading.Event()
    books = bank.participants[1]
    books.prepare = lambda: release.wait(5)  # type: ignore[attr-defined]
    started = time.monotonic()
    with pytest.raises(amber.CheckpointTimeoutError) as caught:
        manager.checkpoint()
    release.set()
    assert time.monotonic() - started < 2
    assert caught.value.phase == "preparing" and caught.value.participant == "ledger"
    assert not bank.gate.locked() and manager.store.ids() == []


def test_a_prepare_that_takes_the_fence_late_is_resumed_when_it_returns(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path, timeouts=amber.Timeouts(preparing=0.1))
    bank.open_accounts(5, 50)
    accounts = bank.participants[0]

    def slow_prepare() -> None:
        time.sleep(0.4)
        bank.gate.acquire()

    accounts.prepare = slow_prepare  # type: ignore[attr-defined]
    with pytest.raises(amber.CheckpointTimeoutError):
        manager.checkpoint()
    assert bank.gate.acquire(timeout=3), "the late prepare() was resumed: the service can take its lock"
    bank.gate.release()


def test_a_forked_child_that_hangs_is_killed_and_leaves_nothing(tmp_path: Path) -> None:
    bank, manager, recorder = make(tmp_path, "fork", timeouts=amber.Timeouts(validating=0.5))
    bank.open_accounts(5, 50)
    good = manager.checkpoint().info
    before = tree_digest(tmp_path / "store", history=False)
    books = bank.participants[1]
    books.invariants = lambda: time.sleep(60)  # type: ignore[attr-defined]  # runs in the child
    bank.deposit(1, 5)  # something to write: an unchanged state is not checkpointed again
    with pytest.raises(amber.CheckpointTimeoutError, match="child ran over"):
        manager.checkpoint()
    assert manager.store.ids() == [good.id]
    assert tree_digest(tmp_path / "store", history=False) == before, "no data file left behind"
    assert recorder.of(CheckpointAborted)[-1].phase == "validating"


def test_a_forked_child_that_dies_is_reaped_and_reported(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path, "fork")
    bank.open_accounts(5, 50)
    manager.checkpoint()
    books = bank.participants[1]
    books.invariants = lambda: os._exit(3)  # type: ignore[attr-defined]
    bank.deposit(1, 5)  # something to write: an unchanged state is not checkpointed again
    with pytest.raises(amber.CheckpointAbortedError, match="died without reporting"):
        manager.checkpoint()
    assert len(manager.store.ids()) == 1


def test_the_phase_is_visible_while_a_checkpoint_runs(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path)
    bank.open_accounts(5, 50)
    seen: list[str] = []
    entered = threading.Event()
    books = bank.participants[1]

    def slow_snapshot() -> Any:
        entered.set()
        time.sleep(0.3)
        return bank.ledger

    books.snapshot = slow_snapshot  # type: ignore[method-assign]
    worker = threading.Thread(target=manager.checkpoint)
    worker.start()
    entered.wait(5)
    seen.append(manager.phase)
    worker.join()
    seen.append(manager.phase)
    assert seen == ["capturing", "online"]


@pytest.mark.parametrize("capture", CAPTURES)
def test_concurrent_requests_while_the_service_runs_are_serialised(tmp_path: Path, capture: str) -> None:
    bank, manager, _ = make(tmp_path, capture)
    bank.open_accounts(10, 500)
    stop = threading.Event()

    def serve(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            bank.random_work(rng, 5)

    def request() -> None:
        for _ in range(3):
            manager.checkpoint()

    servers = [threading.Thread(target=serve, args=(i,)) for i in range(2)]
    requests = [threading.Thread(target=request) for _ in range(4)]
    for t in servers + requests:
        t.start()
    for t in requests:
        t.join()
    stop.set()
    for t in servers:
        t.join()
    manager.checkpoint()
    assert len(manager.store.ids()) == 13
    again, report = restored(tmp_path)
    assert again.balances() == bank.balances() and report.checkpoint == manager.store.ids()[-1]


def test_with_manager_restores_checkpoints_periodically_and_on_exit(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path / "store", registry=registry)
    bank = Bank()
    with amber.Manager(store, bank.participants, interval=0.05) as manager:
        assert manager.phase == "online"
        bank.open_accounts(3, 30)
        time.sleep(0.4)
        bank.deposit(2, 5)
    assert manager.phase == "closed"
    assert len(store.ids()) >= 2, "the periodic ones while nothing changed wrote nothing"
    again = Bank()
    with amber.Manager(store, again.participants):
        assert again.balances() == bank.balances()


@pytest.mark.parametrize("compact", [False, True])
def test_compact_on_close_makes_the_final_checkpoint_a_full_one(tmp_path: Path, compact: bool) -> None:
    bank, manager, _ = make(tmp_path, compact_on_close=compact)
    bank.open_accounts(3, 30)
    assert manager.checkpoint().kind == "full"
    bank.deposit(2, 5)
    final = manager.close()
    assert final is not None and final.kind == ("full" if compact else "delta")
    again, report = restored(tmp_path)
    assert report.chain == ([final.info.id] if compact else [report.chain[0], final.info.id])
    assert again.balances() == bank.balances()


def test_close_waits_for_a_checkpoint_under_way_before_letting_the_store_go(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path, exclusive=True)
    bank.open_accounts(3, 30)
    slow = threading.Event()
    manager.listeners.append(lambda event: slow.wait(0.5) if isinstance(event, CheckpointCommitted) else None)
    accounts, captured = bank.participants[0], threading.Event()
    snapshot = accounts.snapshot

    def snapshot_and_say() -> Any:
        taken = snapshot()
        captured.set()
        return taken

    accounts.snapshot = snapshot_and_say  # type: ignore[method-assign]
    under_way = threading.Thread(target=manager.checkpoint)
    under_way.start()
    assert captured.wait(10)
    bank.deposit(1, 5)  # after that checkpoint's capture (the fence holds it till then): the final one must hold it
    final = manager.close()  # from another thread, as a SIGTERM during a handover does
    assert not under_way.is_alive()  # it finished before close() returned and let the lock go
    under_way.join()
    assert manager.phase == "closed" and final is not None and len(manager.store.ids()) == 2
    again, _ = restored(tmp_path)
    assert again.balances() == bank.balances()


def test_a_listener_may_close_the_manager(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path, exclusive=True)
    bank.open_accounts(3, 30)
    manager.listeners.append(lambda e: manager.close(final=False) if isinstance(e, CheckpointCommitted) else None)
    done = threading.Thread(target=manager.checkpoint, daemon=True)
    done.start()
    done.join(10)
    assert not done.is_alive() and manager.phase == "closed"  # no deadlock, and it stays closed
    amber.Manager(manager.store, Bank().participants).restore()  # the store's lock was let go


def test_an_exception_leaving_with_takes_no_final_checkpoint(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path / "store", registry=registry)
    bank = Bank()

    def crash() -> None:
        with amber.Manager(store, bank.participants):
            bank.open_accounts(3, 30)
            _ = 1 / 0

    with pytest.raises(ZeroDivisionError):
        crash()
    assert store.ids() == []


def test_async_services_checkpoint_without_blocking_the_loop(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path / "store", registry=registry)
    bank = Bank()

    async def main() -> list[str]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        async with amber.Manager(store, bank.participants) as manager:
            task = asyncio.create_task(ticker())
            bank.open_accounts(3, 30)
            result = await manager.acheckpoint()
            task.cancel()
        assert ticks > 0
        return [result.kind]

    assert asyncio.run(main()) == ["full"]
    assert len(store.ids()) == 1  # the explicit one; the final one had nothing new to write


def test_comprehensive_checkpoints_carry_diagnostics(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path, level="comprehensive", app_version="bank 1.2")
    bank.open_accounts(3, 30)
    result = manager.checkpoint()
    meta = result.info.meta["amber"]
    diagnostics = meta["diagnostics"]
    assert diagnostics["app_version"] == "bank 1.2" and diagnostics["amber"] == amber.__version__
    assert set(diagnostics["participants"]) == {"accounts", "ledger"}
    assert "capturing_seconds" in diagnostics["participants"]["accounts"]
    assert meta["types"]["bank.Account"]["records"] == 30 and meta["types"]["bank.Account"]["stored_bytes"] > 0
    assert diagnostics["flags"]["capture"] == "inline"
    bank.deposit(1, 5)
    minimal = manager.checkpoint(level="minimal")
    assert "diagnostics" not in minimal.info.meta["amber"]


def test_an_open_log_file_is_reopened_at_its_checkpoint_offset(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path, audit=True)
    bank.open_accounts(3, 30)
    bank.transfer(0, 1, 5)
    manager.checkpoint()
    bank.transfer(1, 2, 5)  # logged, but never checkpointed
    bank.audit.close()
    assert (tmp_path / "audit.log").read_text().count("\n") == 2
    again, _ = restored(tmp_path, audit=True)
    again.transfer(2, 0, 1)
    again.audit.close()
    assert (tmp_path / "audit.log").read_text().splitlines() == ["0->1:5", "2->0:1"]


def test_reopening_refuses_paths_outside_an_allowed_folder(tmp_path: Path) -> None:
    hostile = amber.OpenFile("/etc/passwd", "a", 0)
    with pytest.raises(ValueError, match="outside"):
        hostile.reopen(truncate=True, within=tmp_path)
    with pytest.raises(ValueError, match="mode"):
        amber.OpenFile(str(tmp_path / "x"), "x", 0).reopen()


def test_participants_restore_dependencies_first(tmp_path: Path) -> None:
    order: list[str] = []

    class P:
        def __init__(self, name: str, depends_on: tuple[str, ...] = ()) -> None:
            self.name, self.depends_on = name, depends_on

        def snapshot(self) -> Any:
            return self.name

        def restore(self, state: Any) -> None:
            order.append(state)

    store = amber.open_store(tmp_path / "s", registry=registry)
    participants = [P("c", ("b",)), P("b", ("a",)), P("a")]
    amber.Manager(store, participants).checkpoint()
    amber.Manager(store, participants).restore()
    assert order == ["a", "b", "c"]
    with pytest.raises(ValueError, match="cycle"):
        amber.Manager(store, [P("x", ("y",)), P("y", ("x",))])
    with pytest.raises(ValueError, match="unknown"):
        amber.Manager(store, [P("x", ("nope",))])


# --- verified restore -------------------------------------------------------------------


def corrupt_data_of(store: amber.CheckpointStore, checkpoint_id: str, root: Path) -> None:
    data = root / store.manifest(checkpoint_id).data
    blob = bytearray(data.read_bytes())
    blob[-5] ^= 0xFF
    data.write_bytes(bytes(blob))


def test_a_corrupt_newest_checkpoint_falls_back_and_is_quarantined(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path)
    bank.open_accounts(5, 50)
    good = manager.checkpoint(full=True).info
    expected = bank.balances()
    bank.deposit(1, 99)
    bad = manager.checkpoint(full=True).info
    corrupt_data_of(manager.store, bad.id, tmp_path / "store")
    recorder = Recorder()
    store = amber.open_store(tmp_path / "store", registry=registry)
    again = Bank()
    restart = amber.Manager(store, again.participants, listeners=[recorder], exclusive=False)
    report = restart.restore()
    assert report.checkpoint == good.id and again.balances() == expected
    assert report.fallbacks[0][0] == bad.id and "digest" in report.fallbacks[0][1]
    assert store.quarantined().keys() == {bad.id} and bad.id in store.ids(), "quarantined, not deleted"
    assert recorder.of(Quarantined)[0].checkpoint == bad.id
    # The next checkpoint becomes the newest; the quarantined one stays for inspection.
    after = amber.Manager(store, again.participants)
    after.restore()
    assert after.checkpoint().info.id > bad.id


def test_the_refuse_policy_stops_at_the_first_bad_checkpoint(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path)
    bank.open_accounts(5, 50)
    manager.checkpoint()
    bad = manager.checkpoint(full=True).info
    corrupt_data_of(manager.store, bad.id, tmp_path / "store")
    before = tree_digest(tmp_path / "store", history=False)
    with pytest.raises(amber.RestoreError, match=bad.id) as caught:
        restored(tmp_path, on_invalid="refuse")
    assert isinstance(caught.value.__cause__, amber.CorruptCheckpointError)
    assert tree_digest(tmp_path / "store", history=False) == before, "refusing changes nothing"


def test_a_state_that_breaks_an_invariant_is_refused_with_its_keys(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path)
    bank.open_accounts(5, 50)
    good = manager.checkpoint().info
    # A checkpoint written behind the manager's back, where account 7 lost its shared owner.
    state = manager.store.load()
    state["accounts"]["accounts"][7] = Account(7, state["accounts"]["customers"][2].__copy__(), 100)
    manager.store.save(state)
    store = amber.open_store(tmp_path / "store", registry=registry)
    with pytest.raises(amber.RestoreError) as caught:
        amber.Manager(store, Bank().participants, on_invalid="refuse").restore()
    error = caught.value.__cause__
    assert isinstance(error, amber.InvariantError)
    assert error.checkpoint == "000000000002" and error.participant == "ledger"
    assert error.violations[0].invariant == "every owner is a customer of the bank" and error.violations[0].keys == (7,)
    report = amber.Manager(store, Bank().participants).restore()
    assert report.checkpoint == good.id and "every owner" in report.fallbacks[0][1]


def test_deltas_on_a_quarantined_checkpoint_are_skipped(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path, max_delta_ratio=100.0)
    bank.open_accounts(5, 50)
    manager.checkpoint()
    expected = bank.balances()
    bank.deposit(1, 1)
    middle = manager.checkpoint().info
    bank.deposit(2, 1)
    manager.checkpoint()
    manager.store.quarantine(middle.id, "operator says so")
    again, report = restored(tmp_path)
    assert report.checkpoint == "000000000001" and again.balances() == expected
    assert "builds on quarantined" in report.fallbacks[0][1]


def test_when_every_checkpoint_is_bad_the_service_does_not_start_empty(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path)
    bank.open_accounts(5, 50)
    only = manager.checkpoint().info
    corrupt_data_of(manager.store, only.id, tmp_path / "store")
    with pytest.raises(amber.RestoreError, match="no checkpoint of 1 could be restored"):
        restored(tmp_path)
    with pytest.raises(amber.RestoreError, match="quarantined: 000000000001"):
        restored(tmp_path)  # the next start too: quarantined is not the same as empty


def test_a_participant_whose_restore_raises_stops_the_restore_and_quarantines_nothing(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path)
    bank.open_accounts(5, 50)
    manager.checkpoint()
    again = Bank()
    books = again.participants[1]
    books.restore = lambda state: 1 / 0  # type: ignore[method-assign,assignment]
    with pytest.raises(amber.RestoreError, match="ZeroDivisionError"):
        amber.Manager(manager.store, again.participants).restore()
    assert manager.store.quarantined() == {}


def test_checkpointing_before_restoring_a_store_that_has_checkpoints_is_refused(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path)
    bank.open_accounts(5, 50)
    manager.checkpoint()
    fresh = amber.Manager(manager.store, Bank().participants)
    with pytest.raises(amber.ManagerError, match="restore"):
        fresh.checkpoint()
    assert len(manager.store.ids()) == 1


def test_a_schema_the_code_cannot_read_is_not_quarantined(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path)
    bank.open_accounts(5, 50)
    manager.checkpoint()
    store = amber.open_store(tmp_path / "store", registry=amber.Registry())
    with pytest.raises(amber.UnknownTypeError):
        amber.Manager(store, Bank().participants).restore()
    assert store.quarantined() == {}


def test_a_commit_that_runs_over_leaves_no_data_file(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path)
    bank.open_accounts(5, 50)
    good = manager.checkpoint().info
    before = tree_digest(tmp_path / "store", history=False)
    manager.timeouts = amber.Timeouts(committing=0.0)
    bank.deposit(1, 5)
    with pytest.raises(amber.CheckpointTimeoutError) as caught:
        manager.checkpoint()
    assert caught.value.phase == "committing"
    assert manager.store.ids() == [good.id] and tree_digest(tmp_path / "store", history=False) == before


def test_the_write_rate_limit_slows_checkpoint_io(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path, write_rate=20_000.0)
    bank.open_accounts(50, 3000)
    result = manager.checkpoint()
    assert result.info.size > 10_000
    assert result.phases["committing"] >= 0.5 * result.info.size / 20_000  # a floor, not a speed target


def test_migrating_a_delta_upgrades_its_whole_chain(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path, max_delta_ratio=100.0)
    bank.open_accounts(5, 50)
    manager.checkpoint()
    bank.transfer(1, 2, 3)
    assert manager.checkpoint().kind == "delta"
    v2 = amber.Registry()
    for cls, name in ((Customer, "bank.Customer"), (Account, "bank.Account"), (Ledger, "bank.Ledger")):
        v2.register(cls, name, version=1)

    @v2.record("bank.Account", version=2)
    class AccountV2(amber.Record):
        id: int
        owner: Customer
        balance: int
        note: str = ""

    store = amber.open_store(tmp_path / "store", registry=v2)
    # The new code restores the chain and adds a delta written at v2 on top of v1 data.
    again = Bank()
    newer = amber.Manager(store, again.participants, max_delta_ratio=100.0)
    newer.restore()
    again.accounts[7] = AccountV2(7, again.customers[2], again.accounts[7].balance, "moved")  # type: ignore[assignment]
    assert newer.checkpoint().kind == "delta" and store.info().types["bank.Account"] == 2
    newer.close(final=False)  # a migration runs with the service stopped
    report = commands.migrate(store, None)
    account = next(t for t in report["types"] if t["name"] == "bank.Account")
    assert report["changed"] and (account["from_version"], account["records"]) == (1, 53)
    state = store.load()
    accounts = state["accounts"]["accounts"]
    assert type(accounts[2]) is AccountV2 and accounts[2].balance == 103 and not store.info().parent
    assert all(a.owner is state["accounts"]["customers"][a.owner.id] for a in accounts.values())


def test_a_forked_child_killed_while_writing_leaves_no_half_written_file(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path, "fork", write_rate=2_000.0, timeouts=amber.Timeouts(committing=0.5))
    bank.open_accounts(50, 3000)
    manager.write_rate = None
    good = manager.checkpoint().info
    manager.write_rate = 2_000.0  # the next one writes ~14 KB at 2 KB/s: killed on the way
    before = tree_digest(tmp_path / "store", history=False)
    bank.deposit(1, 1)
    with pytest.raises(amber.CheckpointTimeoutError, match="committing"):
        manager.checkpoint(full=True)
    assert manager.store.ids() == [good.id]
    assert tree_digest(tmp_path / "store", history=False) == before, "neither the data file nor its temporary is left"


def test_a_corrupt_base_is_quarantined_not_the_deltas_built_on_it(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path, max_delta_ratio=100.0)
    bank.open_accounts(5, 50)
    manager.checkpoint()
    bank.deposit(1, 1)
    manager.checkpoint()
    corrupt_data_of(manager.store, "000000000001", tmp_path / "store")
    with pytest.raises(amber.RestoreError):
        restored(tmp_path)
    assert set(manager.store.quarantined()) == {"000000000001"}, "the deltas are fine once their base is"


def test_a_checkpoint_refuses_while_an_earlier_prepare_still_runs(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path, timeouts=amber.Timeouts(preparing=0.05))
    bank.open_accounts(5, 50)
    release = threading.Event()
    books = bank.participants[1]
    books.prepare = lambda: release.wait(5)  # type: ignore[attr-defined]
    with pytest.raises(amber.CheckpointTimeoutError):
        manager.checkpoint()
    with pytest.raises(amber.CheckpointAbortedError, match="previous prepare"):
        manager.checkpoint()
    release.set()
    time.sleep(0.2)
    del books.prepare  # type: ignore[attr-defined]
    assert manager.checkpoint().kind == "full"


def test_a_fork_attempt_failing_early_never_touches_an_earlier_checkpoints_data(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path, "fork")
    bank.open_accounts(5, 50)
    good = manager.checkpoint().info  # its child announced its data file
    books = bank.participants[1]

    def broken_resume() -> None:
        raise RuntimeError("resume failed")

    books.resume = broken_resume  # type: ignore[attr-defined]  # fails before the next child reports
    with pytest.raises(amber.CheckpointAbortedError):
        manager.checkpoint()
    del books.resume  # type: ignore[attr-defined]
    assert manager.store.verify(good.id).records > 0, "the committed data file is still there"


def test_generator_invariants_are_bounded_by_the_validating_timeout_and_attributed(tmp_path: Path) -> None:
    bank, manager, _ = make(tmp_path, timeouts=amber.Timeouts(validating=0.2))
    bank.open_accounts(5, 50)
    books = bank.participants[1]

    def slow() -> Any:
        time.sleep(1)
        yield from ()

    def broken() -> Any:
        raise RuntimeError("boom")
        yield

    books.invariants = slow  # type: ignore[attr-defined]
    with pytest.raises(amber.CheckpointTimeoutError) as caught:
        manager.checkpoint()
    assert caught.value.participant == "ledger" and caught.value.phase == "validating"
    time.sleep(1)
    books.invariants = broken  # type: ignore[attr-defined]
    with pytest.raises(amber.CheckpointAbortedError, match="invariants\\(\\) raised RuntimeError") as failed:
        manager.checkpoint()
    assert failed.value.participant == "ledger"


def test_a_forked_child_commits_only_once_the_service_resumed_cleanly(tmp_path: Path) -> None:
    """A resume() that fails after the child could have finished: the child waits for the
    parent's go-ahead before its commit, so nothing becomes visible."""
    bank, manager, _ = make(tmp_path, "fork")
    bank.open_accounts(5, 20)
    good = manager.checkpoint().info
    bank.deposit(1, 7)
    accounts = bank.participants[0]

    def slow_broken_resume() -> None:
        bank.gate.release()
        time.sleep(0.5)  # long enough for the child to encode, write and reach its commit
        raise RuntimeError("resume failed late")

    accounts.resume = slow_broken_resume  # type: ignore[attr-defined]
    before = tree_digest(tmp_path / "store", history=False)
    with pytest.raises(amber.CheckpointAbortedError, match="resume failed late"):
        manager.checkpoint()
    assert manager.store.ids() == [good.id], "the child did not commit without the go-ahead"
    assert tree_digest(tmp_path / "store", history=False) == before, "nor left its data file behind"


@pytest.mark.parametrize("where", ["memory", "s3"])
def test_fork_capture_stages_in_a_spool_where_the_child_cannot_commit(
    where: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A forked child cannot use an S3 client (its threads do not survive fork) nor the
    parent's memory: it writes a local spool; the parent uploads and commits."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    spools: list[str] = []
    real = tempfile.TemporaryDirectory

    def watched(*args: Any, **kwargs: Any) -> Any:
        made = real(*args, **kwargs)
        spools.append(made.name)
        return made

    monkeypatch.setattr(tempfile, "TemporaryDirectory", watched)
    url = request.getfixturevalue("s3_url") if where == "s3" else "memory://"
    store = amber.open_store(url, registry=registry)
    bank = Bank()
    bank.open_accounts(5, 200)
    manager = amber.Manager(store, bank.participants, capture="fork", max_delta_ratio=5.0)
    manager.restore()
    assert manager.checkpoint().kind == "full"
    bank.transfer(1, 2, 5)
    assert manager.checkpoint().kind == "delta"
    bank.ledger.total += 1  # the child's invariants fail: nothing is uploaded or committed
    with pytest.raises(amber.CheckpointAbortedError, match="ledger total"):
        manager.checkpoint()
    bank.ledger.total -= 1
    assert len(store.ids()) == 2 and len(store.storage.list("data/")) == 2
    manager.close(final=False)  # one manager per store: the next one restores
    again = Bank()
    amber.Manager(store, again.participants).restore()
    assert again.balances() == bank.balances()
    assert len(spools) == 3 and all(name.startswith(str(tmp_path)) for name in spools), "one spool per attempt"
    assert not list(tmp_path.glob("amber-spool-*")), "each removed"


def test_a_spool_upload_keeps_to_the_write_rate_and_the_committing_timeout(s3_url: str) -> None:
    store = amber.open_store(s3_url, registry=registry)
    bank = Bank()
    bank.open_accounts(50, 20_000)
    manager = amber.Manager(store, bank.participants, capture="fork", write_rate=100_000.0)
    manager.restore()
    manager.timeouts = amber.Timeouts(committing=0.5)
    started = time.monotonic()
    with pytest.raises(amber.CheckpointTimeoutError, match="upload ran over"):
        manager.checkpoint()
    assert time.monotonic() - started < 5, "stopped mid-upload, not after it"
    assert store.ids() == [] and store.storage.list("data/") == [], "nothing uploaded is left"


def test_spools_of_services_that_died_are_swept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen(["true"])  # a pid that has exited
    gone.wait()
    stale = tmp_path / f"amber-spool-{gone.pid}-abc"
    live = tmp_path / f"amber-spool-{os.getpid()}-def"
    for folder in (stale, live):
        folder.mkdir()
        (folder / "data").write_bytes(b"x" * 100)
    store = amber.open_store("memory://", registry=registry)
    bank = Bank()
    bank.open_accounts(2, 4)
    manager = amber.Manager(store, bank.participants, capture="fork")
    manager.restore()
    manager.checkpoint()
    assert not stale.exists() and live.exists()


def test_the_capture_mode_follows_manager_capture_changed_between_checkpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mode is chosen per attempt, from the attribute as it is then (a hostile review
    found it fixed at construction while the meta and the events said "fork")."""
    bank, manager, recorder = make(tmp_path)
    pids: list[int] = []

    def invariants() -> list[str]:
        pids.append(os.getpid())
        return []

    books = next(p for p in bank.participants if p.name == "ledger")
    monkeypatch.setattr(books, "invariants", invariants)
    manager.checkpoint()
    manager.capture = "fork"
    bank.open_accounts(1, 2)  # something to write: an unchanged state is not checkpointed again
    info = manager.checkpoint().info
    assert pids == [os.getpid()], "inline: in this process; fork: in a child (its append is not seen here)"
    assert info.meta["amber"]["capture"] == "fork"
    assert [e.capture for e in recorder.of(CheckpointCommitted)] == ["inline", "fork"]
