"""Hostile review of sharded pools (``amber.open_pool``, ``amber.Pool``, ``amber.PoolShard``,
and the in-process behaviour of the ``amber.ray.sharded`` wrapper).

The promise under attack (docs/ray.md "Sharded pools", docs/architecture.md "Pools"): every
key exactly once across any sequence of rescales and moves, nothing acknowledged lost, a
paused giver fenced, racing operators leave one generation, forged or damaged assignments
refused with a typed amber error, nothing silent.

Each test is a reproducer on real files (or moto's S3, or a real child process). A test
that fails shows a defect; the few that pass are kept because the defence they show is
worth pinning down. Nothing here is xfail.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, cast

import msgspec
import pytest

import amber
from amber._store._checkpoint import CheckpointStore
from tests.fleet.test_pool import GROUPS, Accounts, close, deposit, every_key, pool_at, run

Running = dict[str, tuple[Accounts, amber.Manager]]
KEY = b"pool-review-signing-key-32-bytes!"


def keys_of(pool: amber.Pool, shard: str, n: int = 200) -> list[str]:
    return [f"k{i}" for i in range(n) if pool.shard_for(f"k{i}") == shard]


def fill(pool: amber.Pool, names: list[str], n: int = 120) -> dict[str, int]:
    """Start ``names``, give every key k0..k<n> the value i+1, stop them (a final checkpoint each)."""
    running = {name: run(pool, name) for name in names}
    expected = {f"k{i}": i + 1 for i in range(n)}
    for key, value in expected.items():
        deposit(running, pool, key, value)
    close(running)
    return expected


def restarted(pool: amber.Pool, names: list[str] | None = None) -> Running:
    """Every shard of the newest generation (or ``names``) started; those started before a
    failure are closed again (without a final checkpoint) before it propagates."""
    current = pool.assignment()
    assert current is not None
    running: Running = {}
    try:
        for name in names or current.shards:
            running[name] = run(pool, name)
    except BaseException:
        for _, manager in running.values():
            manager.close(final=False)
        raise
    return running


def exact_or_refused(pool: amber.Pool, expected: dict[str, int]) -> None:
    """The pool restarted either holds exactly ``expected`` or is refused with an amber error:
    anything else is a silent loss (or duplication)."""
    try:
        running = restarted(pool)
    except amber.AmberError:
        return  # refused, loudly: acceptable
    try:
        assert every_key(running) == expected
    finally:
        close(running)


# --- silent loss: the pool's bookkeeping trusts what it cannot check -------------------------


def test_a_shard_manager_without_meta_is_refused_by_a_rescale_not_dropped_silently(tmp_path: Path) -> None:
    """A user who builds a shard's manager without ``meta=shard.meta`` (an easy slip: the
    shard restores and checkpoints perfectly well without it) loses every key of every group
    that the next rescale moves, with no error anywhere: the rescale takes "no pool meta in
    the giver's newest checkpoint" to mean "the giver never wrote the group" and hands it over
    as empty, though the giver's checkpoint holds the group's keys (its state even says which
    groups it holds). Cause: ``Pool._reassign.holds`` returns None for a checkpoint without
    ``amber.pool`` meta instead of refusing it."""
    pool = pool_at(tmp_path / "pool")
    pool.assign(["a", "b"])
    expected = {f"k{i}": i + 1 for i in range(120)}
    running: Running = {}
    for name in ("a", "b"):
        shard = pool.shard(name)
        accounts = Accounts(shard)
        manager = amber.Manager(pool.shard_store(name), [accounts], handle_sigterm=False)  # no meta=
        if manager.restore().checkpoint is None:
            accounts.restore(None)
        running[name] = (accounts, manager)
    for key, value in expected.items():
        deposit(running, pool, key, value)
    close(running)

    before = pool.assignment()
    with pytest.raises(amber.CorruptCheckpointError, match="meta=shard.meta"):  # refused, not handed over empty
        pool.rescale(["a", "b", "c"])
    assert pool.assignment() == before


def test_a_lost_newest_generation_rolls_the_pool_back_silently(tmp_path: Path) -> None:
    """If the newest ``assignments/<n>.json`` disappears (an S3 lifecycle rule, a restore of
    the pool's prefix from a backup, an operator deleting "the bad generation"), the pool
    silently runs on the previous generation: the group moved in it goes back to its old
    owner, which restores its stale copy, while the new owner drops the group with the
    deposits it acknowledged since. Nothing is refused although the new owner's own
    checkpoint says, in its meta and its state, that it was written under a generation newer
    than any the pool has. Cause: ``PoolShard.restore`` never compares its checkpoint's
    generation with the assignment's."""
    pool = pool_at(tmp_path / "pool")
    pool.assign(["a", "b"])
    expected = fill(pool, ["a", "b"])
    group = min(pool.assignment().groups_of("a"))  # type: ignore[union-attr]
    pool.move([group], to="b")
    running = restarted(pool, ["b"])  # b takes the group from a's checkpoint
    moved = [k for k in expected if amber.key_group(k, GROUPS) == group]
    assert moved
    for key in moved:
        deposit(running, pool, key, 1000)  # acknowledged by b's final checkpoint below
        expected[key] += 1000
    close(running)

    (tmp_path / "pool" / "assignments" / "000000000002.json").unlink()
    exact_or_refused(pool, expected)


def test_a_well_formed_forged_generation_empties_groups_even_in_a_signed_pool(tmp_path: Path) -> None:
    """Someone able to write the pool's folder or bucket (or a buggy operator script) plants
    the next generation: the same owners, but every group "new since generation 2" with no
    source. It passes every check (``assignment_problem`` checks each file alone), and every
    shard restarts empty: all the pool's data is silently gone. The pool was opened with a
    signing key, so its checkpoints cannot be forged, yet the assignment that decides which
    checkpoint data is read is neither signed nor checked against the generation before it
    (a group that keeps its owner must keep its ``since`` and source; a moved group's source
    must be its previous owner's). docs/security.md does not list assignments among the
    unsigned advisory files."""
    pool = pool_at(tmp_path / "pool", signing_key=KEY)
    first = pool.assign(["a", "b"])
    expected = fill(pool, ["a", "b"])
    forged = amber.Assignment(
        "amber.pool.assignment", 2, GROUPS, first.created, first.owners, (2,) * GROUPS, (None,) * GROUPS
    )
    pool.storage.put("assignments/000000000002.json", [msgspec.json.encode(forged)], create_only=True)
    exact_or_refused(pool, expected)


def test_retention_on_a_restarted_giver_deletes_the_checkpoint_its_moved_group_lives_in(tmp_path: Path) -> None:
    """A group moves from a dead shard ``a`` to ``b`` while ``b`` is stopped (or has not
    adopted yet). ``a`` is restarted (Ray restarts actors; the shard still owns its other
    groups), with a retention policy, as any long-running service has. Its next checkpoints
    hold only its remaining groups, and retention deletes the checkpoint the generation names
    as the moved group's source. When ``b`` starts, the group's keys exist nowhere: every
    deposit ``a`` acknowledged for them is lost for good. docs/ray.md only says retention may
    not run on a *stopped* shard's store; nothing keeps a source checkpoint from a running
    giver's own retention."""
    pool = pool_at(tmp_path / "pool")
    pool.assign(["a", "b"])
    expected = fill(pool, ["a", "b"])
    group = min(pool.assignment().groups_of("a"))  # type: ignore[union-attr]
    pool.move([group], to="b")

    shard = pool.shard("a")
    accounts = Accounts(shard)
    manager = amber.Manager(
        pool.shard_store("a"),
        [accounts],
        meta=shard.meta,
        keep=shard.kept,  # as docs/ray.md says a shard's manager is built
        handle_sigterm=False,
        retention=amber.Retention(keep_last=1),
    )
    manager.restore()
    manager.checkpoint(full=True)
    manager.checkpoint(full=True)
    manager.close()

    try:
        running = restarted(pool, ["a", "b"])
    except amber.AmberError as e:
        pytest.fail(f"group {group}'s keys are gone: {type(e).__name__}: {e}")
    try:
        assert every_key(running) == expected
    finally:
        close(running)


def test_an_operator_paused_past_the_givers_lease_still_writes_its_generation(
    s3_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On S3 the operator fences a giver by taking its lease, reads the giver's newest
    checkpoint, then writes the generation. If the operator itself is paused (GC, SIGSTOP,
    a slow network) past that lease (30 s, shortened to 1 s here), the giver restarts
    meanwhile, takes its lease, restores under the old generation (it still owns the group),
    and commits a deposit it acknowledges. The operator wakes up and writes the generation
    anyway, naming the giver's older checkpoint: the acknowledged deposit is lost, and until
    the giver restarts it serves the group beside its new owner (two writers for one key).
    Cause: ``Pool._reassign`` never checks that the lease it took is still its own before
    (or after) the create-only write."""
    pool = amber.open_pool(s3_url, key_groups=GROUPS, fsync=False)
    pool.assign(["a", "b"])
    expected = fill(pool, ["a", "b"], n=40)
    key = keys_of(pool, "a", 40)[0]
    group = amber.key_group(key, GROUPS)

    acquire = CheckpointStore.acquire_lease

    def short_fence(self: CheckpointStore, **kwargs: Any) -> Any:
        if kwargs.get("keep") is False:  # the operator's fence, not a manager's tenure
            kwargs["seconds"] = 1.0
        return acquire(self, **kwargs)

    monkeypatch.setattr(CheckpointStore, "acquire_lease", short_fence)
    write = amber.Pool._write

    def paused_then_write(self: amber.Pool, assignment: amber.Assignment) -> None:
        if assignment.generation == 2:
            time.sleep(1.5)  # the operator is paused past the lease it holds on a
            running = restarted(pool, ["a"])  # a restarts: generation 1, it owns the group
            deposit(running, pool, key, 100)
            running["a"][1].checkpoint()  # acknowledged under a's own, valid lease
            expected[key] += 100
            close(running)
        write(self, assignment)

    monkeypatch.setattr(amber.Pool, "_write", paused_then_write)
    with contextlib.suppress(amber.AmberError):  # refusing the move would be the defence
        pool.move([group], to="b")
    monkeypatch.undo()
    exact_or_refused(pool, expected)


def test_a_group_moved_from_a_shard_that_fell_back_resurrects_the_quarantined_checkpoint(tmp_path: Path) -> None:
    """Shard ``a``'s newest checkpoint is refused by its own restore (a new release's
    invariant: no balance above 1000) and quarantined; ``a`` restores the older one, serves
    from it, and dies before its next commit. Its group is then moved to ``b``: the generation
    names ``a``'s newest checkpoint, the quarantined one, as the source (``store.info()``
    ignores quarantine), and ``b`` silently loads the very state ``a``'s restore refused
    (5000 rather than the 5 ``a`` served), without running any invariant on it. Had that
    checkpoint been corrupt instead, ``b`` could never start, although ``a``'s older
    checkpoint was sound."""

    class Capped(Accounts):
        def invariants(self) -> list[str]:
            return [f"{k} holds {v} > 1000" for k, v in self.balances.items() if v > 1000]

    def run_capped(pool: amber.Pool, name: str) -> tuple[Capped, amber.Manager]:
        shard = pool.shard(name)
        accounts = Capped(shard)
        manager = amber.Manager(pool.shard_store(name), [accounts], meta=shard.meta, handle_sigterm=False)
        if manager.restore().checkpoint is None:
            accounts.restore(None)
        return accounts, manager

    pool = pool_at(tmp_path / "pool")
    pool.assign(["a", "b"])
    key = keys_of(pool, "a")[0]
    accounts, manager = run(pool, "a")
    accounts.balances[key] = 5
    manager.checkpoint()
    accounts.balances[key] = 5000
    manager.close()  # the newest checkpoint: 5000

    accounts, manager = run_capped(pool, "a")  # the new release: 5000 is refused, 5 restored
    assert accounts.balances[key] == 5 and pool.shard_store("a").quarantined()
    manager.close(final=False)  # a dies before its next commit

    pool.move([amber.key_group(key, GROUPS)], to="b")
    taker, manager = run_capped(pool, "b")  # b's store is empty: no invariant runs
    try:
        assert taker.balances[key] == 5, "b took the state a's own restore quarantined"
    finally:
        manager.close(final=False)


def test_a_bad_source_gets_the_takers_own_sound_checkpoint_quarantined(tmp_path: Path) -> None:
    """The same fallback on ``a`` as above, but ``b`` already has a checkpoint of its own.
    ``b``'s restore takes the moved group from ``a``'s quarantined checkpoint, ``b``'s
    invariants fail on what came from ``a``, and the manager quarantines ``b``'s *own*,
    sound checkpoint for it and refuses to start. Moving the group elsewhere does not help
    ``b``: its own checkpoint stays quarantined, every later start of ``b`` is refused ("no
    checkpoint could be restored"), and its other groups are unreachable until an operator
    lifts the quarantine by hand. The source's fault is blamed on the taker's data."""

    class Capped(Accounts):
        def invariants(self) -> list[str]:
            return [f"{k} holds {v} > 1000" for k, v in self.balances.items() if v > 1000]

    def run_capped(pool: amber.Pool, name: str) -> tuple[Capped, amber.Manager]:
        shard = pool.shard(name)
        accounts = Capped(shard)
        manager = amber.Manager(pool.shard_store(name), [accounts], meta=shard.meta, handle_sigterm=False)
        if manager.restore().checkpoint is None:
            accounts.restore(None)
        return accounts, manager

    pool = pool_at(tmp_path / "pool")
    pool.assign(["a", "b"])
    fill(pool, ["a", "b"], n=40)
    key = keys_of(pool, "a", 40)[0]
    accounts, manager = run(pool, "a")
    accounts.balances[key] = 5000
    manager.close()  # a's newest checkpoint: refused by the new release's invariant
    accounts, manager = run_capped(pool, "a")
    manager.close(final=False)  # a fell back, quarantined it, and died
    pool.move([amber.key_group(key, GROUPS)], to="b")
    with contextlib.suppress(amber.AmberError):
        run_capped(pool, "b")[1].close(final=False)
    assert pool.shard_store("b").quarantined() == {}, "b's own sound checkpoint was quarantined"


# --- loud but wrong: the pool bricks itself or rescales behind the user's back ---------------


def test_starting_a_pool_again_with_the_same_shards_after_a_move_rescales_it(tmp_path: Path) -> None:
    """``ShardedPool(Accounts, ["a", "b", "c"])`` (``Pool.assign``) is documented to keep the
    current generation when the pool already has these shards. After a move of group 0 to
    ``c`` the shards are the same three, yet ``assign`` compares them *in order of first
    appearance* (c, a, b) and rescales: a new generation undoes the move, and since every
    shard is then a giver, starting the pool again fails with ``StoreLockedError`` whenever
    any of its actors is still running."""
    pool = pool_at(tmp_path / "pool")
    pool.assign(["a", "b", "c"])
    moved = pool.move([0], to="c")
    again = pool.assign(["a", "b", "c"])
    assert again.generation == moved.generation and again.owners[0] == "c"


def test_rescaling_is_quadratic_in_key_groups_while_it_holds_every_givers_fence(tmp_path: Path) -> None:
    """Rescaling 2 -> 2 other shards takes 0.4 s at 4096 groups, 5.5 s at 16384 and ~85 s at
    65536 (the documented maximum): ``_reassign.holds`` rebuilds the giver's whole set of
    groups from its checkpoint meta (``holding(info.meta)``) once per moved group. All that
    time the operator holds every giver's lock or lease; on S3 that lease (30 s, taken with
    ``keep=False``, never renewed) runs out in the middle, and the generation is written
    anyway (see the paused-operator test): a restarted giver can commit meanwhile."""
    groups = 1 << 14
    pool = amber.open_pool(tmp_path / "pool", key_groups=groups, fsync=False)
    pool.assign(["a", "b"])
    for name in ("a", "b"):
        shard = pool.shard(name)
        accounts = Accounts(shard)
        manager = amber.Manager(pool.shard_store(name), [accounts], meta=shard.meta, handle_sigterm=False)
        manager.restore()
        accounts.restore(None)
        manager.checkpoint()
        manager.close()
    began = time.perf_counter()
    pool.rescale(["c", "d"])
    assert time.perf_counter() - began < 1.0


@pytest.mark.slow
def test_a_large_pool_writes_a_generation_it_cannot_read_back(tmp_path: Path) -> None:
    """A pool of 65536 key groups (the documented maximum) with shard names of 64 characters
    (the documented maximum) rescaled once after its shards wrote a checkpoint: the new
    generation (an owner, a since and a source per group, ~10 MiB of JSON) is written without
    a size check, but read with ``MAX_ASSIGNMENT`` = 8 MiB, truncated, and refused as
    corrupt. The pool is bricked: every shard's start and every ``shard_for`` fails, and the
    only way out is deleting the newest generation by hand (which rolls the pool back)."""
    groups = 1 << 16
    pool = amber.open_pool(tmp_path / "pool", key_groups=groups, fsync=False)
    old = ["a" * 64, "b" * 64]
    pool.assign(old)
    for name in old:
        shard = pool.shard(name)
        accounts = Accounts(shard)
        manager = amber.Manager(pool.shard_store(name), [accounts], meta=shard.meta, handle_sigterm=False)
        manager.restore()
        accounts.restore(None)
        manager.checkpoint()
        manager.close()
    written = pool.rescale(["c" * 64, "d" * 64])
    assert pool.assignment() == written


# --- defences that hold (kept as regression tests) -------------------------------------------


def test_a_taker_that_crashed_before_its_first_commit_still_finds_the_group_where_it_was(tmp_path: Path) -> None:
    """b takes a moved group from a's checkpoint and crashes before committing (the plain API
    commits nothing at restore); the group is then moved on to c, and back to a. Every key
    must still be found exactly once: the sources must follow the data, not the owners."""
    pool = pool_at(tmp_path / "pool")
    pool.assign(["a", "b", "c"])
    expected = fill(pool, ["a", "b", "c"])
    group = min(pool.assignment().groups_of("a"))  # type: ignore[union-attr]
    pool.move([group], to="b")
    taker, manager = run(pool, "b")
    assert any(amber.key_group(k, GROUPS) == group for k in taker.balances)
    manager.close(final=False)  # crashed before its first commit
    pool.move([group], to="c")
    pool.move([group], to="a")
    pool.move([group], to="b")
    exact_or_refused(pool, expected)
    running = restarted(pool)
    assert every_key(running) == expected
    close(running)


def test_moves_while_shards_are_dead_and_restarted_in_between_keep_every_key(tmp_path: Path) -> None:
    """A group bounces a -> b -> a -> c with shards restarted between the moves (each
    restart committing a checkpoint without the group), values changed by each owner."""
    pool = pool_at(tmp_path / "pool")
    pool.assign(["a", "b", "c"])
    expected = fill(pool, ["a", "b", "c"])
    group = min(pool.assignment().groups_of("a"))  # type: ignore[union-attr]
    moved = [k for k in expected if amber.key_group(k, GROUPS) == group]
    for to in ("b", "a", "c", "b"):
        running = restarted(pool)  # everyone restarts, the group's owner writes it
        for key in moved:
            deposit(running, pool, key, 1)
            expected[key] += 1
        close(running)
        pool.move([group], to=to)
    running = restarted(pool)
    assert every_key(running) == expected
    close(running)


def test_two_operators_racing_on_s3_leave_one_generation(s3_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two operators move different groups from different stopped shards at the same moment,
    both having read generation 1: one generation 2 stands, the other gets ConflictError."""
    pool = amber.open_pool(s3_url, key_groups=GROUPS, fsync=False)
    pool.assign(["a", "b", "c"])
    fill(pool, ["a", "b", "c"], n=30)
    both_read = threading.Barrier(2, timeout=60)
    write = amber.Pool._write

    def together(self: amber.Pool, assignment: amber.Assignment) -> None:
        both_read.wait()
        write(self, assignment)

    monkeypatch.setattr(amber.Pool, "_write", together)
    outcomes: list[Any] = []

    def operate(groups: list[int], to: str) -> None:
        other = amber.open_pool(s3_url, key_groups=GROUPS, fsync=False)
        try:
            outcomes.append(other.move(groups, to=to))
        except amber.ConflictError as e:
            outcomes.append(e)

    threads = [
        threading.Thread(target=operate, args=([0], "c")),
        threading.Thread(target=operate, args=([GROUPS - 1], "a")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    monkeypatch.undo()
    assert sum(isinstance(o, amber.ConflictError) for o in outcomes) == 1
    assert pool.generations() == [1, 2]


def test_a_pool_opened_with_other_key_groups_is_refused_even_through_ray_sharded(tmp_path: Path) -> None:
    """A pool created with 16 groups and an actor class declaring the default 128: the
    actor's start must be refused, never run with other key groups."""
    pytest.importorskip("ray")
    import amber.ray

    pool = pool_at(tmp_path / "pool")
    pool.assign(["a"])

    @amber.ray.sharded(str(tmp_path / "pool"), tables=("balances",), interval=None)
    class Wrong:
        def __init__(self) -> None:
            self.balances: amber.Table[str, int] = amber.Table()

    with pytest.raises(ValueError, match="never change"):
        cast(Any, Wrong)(amber_shard="a")


def test_an_operator_moving_a_group_while_its_shard_restores_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window "a shard restarted with a stale assignment while a move happens": the
    operator moves a group of ``a`` while ``a`` is inside its restore, after the manager took
    its lock and before (or while) it reads the assignment. The move must be refused (the
    lock is taken before the assignment is read), never leave ``a`` owning a group that the
    newest generation gives to ``b``."""
    pool = pool_at(tmp_path / "pool")
    pool.assign(["a", "b"])
    expected = fill(pool, ["a", "b"])
    group = min(pool.assignment().groups_of("a"))  # type: ignore[union-attr]
    restore = amber.PoolShard.restore
    refused: list[BaseException] = []

    def racing(self: amber.PoolShard, state: Any) -> Any:
        if self.name == "a" and not refused:
            operator = pool_at(tmp_path / "pool")
            try:
                operator.move([group], to="b")
            except amber.AmberError as e:
                refused.append(e)
        return restore(self, state)

    monkeypatch.setattr(amber.PoolShard, "restore", racing)
    running = restarted(pool, ["a", "b"])
    monkeypatch.undo()
    assert refused and isinstance(refused[0], amber.StoreLockedError)
    assert every_key(running) == expected
    close(running)


# --- a fenced giver keeps serving -----------------------------------------------------------


@pytest.mark.xfail(strict=True, reason="a fenced giver checks keys against its groups in memory (acks fail)")
def test_a_fenced_giver_still_accepts_keys_of_the_groups_it_lost(s3_url: str) -> None:
    """docs/ray.md: a key of a group the shard does not own raises ``NotOwnedError``, "so a
    caller routing with an old assignment never writes a key into the wrong shard". A paused
    giver on S3 whose groups were moved while it slept wakes up, and ``check`` still passes
    for those keys (it looks only at the groups in memory, and looks again only on a miss):
    it takes the write (lost: its commits are fenced; an unacknowledged method's caller is
    told nothing) and answers reads from its stale copy. The fence stops its commits, not its
    answers."""
    pool = amber.open_pool(s3_url, key_groups=GROUPS)
    pool.assign(["a", "b"])
    shard = pool.shard("a")
    accounts = Accounts(shard)
    store = pool.shard_store("a")
    store.acquire_lease(seconds=1.0, keep=False)  # a lease nobody renews: a paused process's
    paused = amber.Manager(store, [accounts], meta=shard.meta, handle_sigterm=False)
    paused.restore()
    accounts.restore(None)
    key = keys_of(pool, "a", 100)[0]
    accounts.balances[key] = 1
    paused.checkpoint()
    pool.move(sorted(shard.groups), to="b", wait=10.0)  # a is fenced
    with pytest.raises(amber.NotOwnedError):
        accounts.shard.check(key)  # routed with generation 1: should be sent to b


# --- the Ray wrapper, in this process (the wrapper is plain Python; Ray only calls it) --------


def _sharded_class(pool_url: str, **options: Any) -> type:
    pytest.importorskip("ray")
    import amber.ray

    @amber.ray.sharded(pool_url, tables=("balances",), key_groups=GROUPS, interval=None, **options)
    class Ledger:
        def __init__(self) -> None:
            self.balances: amber.Table[str, int] = amber.Table()

        @amber.ray.acknowledged
        def deposit(self, key: str, amount: int) -> int:
            self.balances[key] = self.balances.get(key, 0) + amount
            return self.balances[key]

        def transfer(self, key: str, to: str, amount: int) -> None:
            self.deposit(key, -amount)
            self.deposit(to, amount)

        def resume(self, key: str) -> None:  # "resume a frozen account": a keyed write
            self.balances[key] = self.balances.get(key, 0)

        def balance(self, key: str = "") -> int:
            return int(self.balances.get(key, 0))

    return Ledger


def test_an_acknowledged_method_called_by_another_method_stalls_and_fails_half_done(tmp_path: Path) -> None:
    """A public method calling an ``@acknowledged`` one (``transfer`` calling ``deposit``
    twice, the obvious way to write it) holds the actor's lock while the inner acknowledgement
    checkpoints; the checkpoint's ``prepare()`` runs on the manager's lane thread and waits
    for that lock, so every such call stalls for the whole ``preparing`` timeout (10 s by
    default; 1 s here) and then raises ``CheckpointTimeoutError`` from inside ``transfer``
    after the withdrawal was applied and before the deposit: the caller is told it failed,
    and the next checkpoint commits the half-transfer."""
    pool = pool_at(tmp_path / "pool")
    pool.assign(["a", "b"])
    Ledger = _sharded_class(str(tmp_path / "pool"), timeouts=amber.Timeouts(preparing=1.0))
    actor = Ledger(amber_shard="a")
    source, target = keys_of(pool, "a")[:2]
    try:
        actor.deposit(source, 10)
        actor.transfer(source, target, 3)
        assert (actor.balance(source), actor.balance(target)) == (7, 3)
    finally:
        time.sleep(1.5)  # the overrun prepare() returns once the lock is free
        actor.amber_close()


def test_a_keyed_method_named_like_a_participant_method_is_never_checked(tmp_path: Path) -> None:
    """``_serialize_methods`` skips the names of the manager's participant protocol
    (snapshot, restore, prepare, resume, invariants, name) on a *sharded* class too, although
    there the participant is the internal ``_Shard`` and those are the actor's own public
    methods. A method ``resume(self, key)`` (resume a subscription, an account) is neither
    key-checked nor serialized against checkpoints: a caller routing with an old assignment
    writes a key of another shard's group into this one, where the next rescale or move
    silently drops it (and until then two shards hold it)."""
    pool = pool_at(tmp_path / "pool")
    pool.assign(["a", "b"])
    Ledger = _sharded_class(str(tmp_path / "pool"))
    actor = Ledger(amber_shard="a")
    foreign = keys_of(pool, "b")[0]
    try:
        with pytest.raises(amber.NotOwnedError):
            actor.resume(foreign)
    finally:
        actor.amber_close()


def test_a_key_parameter_with_a_default_breaks_the_method_when_the_key_is_left_out(tmp_path: Path) -> None:
    """``balance(self, key="")`` called without a key: the wrapper binds the call without
    applying defaults and looks ``key`` up, so the method fails with a bare ``KeyError: 'key'``
    (not an amber error, nothing about routing) instead of checking the default key."""
    pool = pool_at(tmp_path / "pool")
    pool.assign(["a"])
    Ledger = _sharded_class(str(tmp_path / "pool"))
    actor = Ledger(amber_shard="a")
    try:
        assert actor.balance() == 0
    finally:
        actor.amber_close()


def test_a_sharded_actor_that_exits_gracefully_loses_what_it_did_since_its_last_checkpoint(tmp_path: Path) -> None:
    """docs/ray.md and ray.py promise a final checkpoint "when the actor process exits" (an
    ``atexit`` hook, for ``ray.actor.exit_actor`` and ``ray.shutdown``). The hook runs after
    Python's ``concurrent.futures`` has shut down (``threading._register_atexit`` hooks run
    before ``atexit``'s), and the commit pipeline submits to a ``ThreadPoolExecutor``: the
    final checkpoint always fails with "cannot schedule new futures after interpreter
    shutdown" (printed as an ignored exception), and everything the actor did since its
    last checkpoint is lost. Shown with a real child process exiting normally."""
    pytest.importorskip("ray")
    script = tmp_path / "shard.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            import amber, amber.ray

            @amber.ray.sharded({str(tmp_path / "pool")!r}, tables=("balances",), key_groups=16, interval=None)
            class Ledger:
                def __init__(self):
                    self.balances = amber.Table()

                def put(self, key, value):
                    self.balances[key] = value

            pool = amber.open_pool({str(tmp_path / "pool")!r}, key_groups=16)
            pool.assign(["a"])
            actor = Ledger(amber_shard="a")
            print(sorted(actor.balances.items()))
            if len(sys.argv) > 1:
                actor.put(sys.argv[1], 1)
            """
        )
    )
    first = subprocess.run(
        [sys.executable, str(script), "k1"], capture_output=True, text=True, timeout=120, check=False
    )
    assert first.returncode == 0, first.stderr
    second = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "[('k1', 1)]", first.stderr[-600:]
