"""Pools: shards owning any set of key groups, each committing on its own, rescaled N -> M and
regrouped one group at a time, every key exactly once; fenced givers, racing operators and
forged assignments refused."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import amber

GROUPS = 16


class Accounts:
    """A shard's participant, as docs/ray.md shows it for a process of one's own."""

    name = "shard"

    def __init__(self, shard: amber.PoolShard) -> None:
        self.shard = shard
        self.balances: amber.Table[str, int] = amber.Table()

    def snapshot(self) -> dict[str, Any]:
        return self.shard.snapshot({"balances": self.balances})

    def restore(self, state: Any) -> None:
        self.balances = self.shard.restore(state).get("balances") or amber.Table()


def run(pool: amber.Pool, name: str) -> tuple[Accounts, amber.Manager]:
    shard = pool.shard(name)
    accounts = Accounts(shard)
    manager = amber.Manager(pool.shard_store(name), [accounts], meta=shard.meta, keep=shard.kept, handle_sigterm=False)
    if manager.restore().checkpoint is None:
        accounts.restore(None)  # an empty store: the groups may still come from other shards
    return accounts, manager


def pool_at(where: Path | str, **options: Any) -> amber.Pool:
    return amber.open_pool(where, key_groups=GROUPS, fsync=False, **options)


def deposit(running: dict[str, tuple[Accounts, amber.Manager]], pool: amber.Pool, key: str, n: int) -> None:
    accounts, _ = running[pool.shard_for(key)]
    accounts.shard.check(key)
    accounts.balances[key] = accounts.balances.get(key, 0) + n


def every_key(running: dict[str, tuple[Accounts, amber.Manager]]) -> dict[str, int]:
    """Every shard's keys merged, asserting no key is held twice."""
    seen: dict[str, int] = {}
    for accounts, _ in running.values():
        for key, value in accounts.balances.items():
            assert key not in seen, f"{key} held by two shards"
            assert accounts.shard.owns(key)
            seen[key] = value
    return seen


def close(running: dict[str, tuple[Accounts, amber.Manager]]) -> None:
    for _, manager in running.values():
        manager.close()


def test_a_pool_rescaled_2_to_3_and_back_keeps_every_key_exactly_once(tmp_path: Path) -> None:
    pool = pool_at(tmp_path / "pool")
    pool.assign(["a", "b"])
    running = {name: run(pool, name) for name in ("a", "b")}
    expected = {f"k{i}": i for i in range(300)}
    for key, n in expected.items():
        deposit(running, pool, key, n)
    close(running)  # a final checkpoint each

    three = pool.rescale(["a", "b", "c"])
    assert three.generation == 2 and sorted(three.shards) == ["a", "b", "c"]
    running = {name: run(pool, name) for name in three.shards}
    assert every_key(running) == expected
    for key in expected:
        deposit(running, pool, key, 1)
    close(running)

    pool.rescale(["x", "a"])  # new names and old: each restores exactly its groups
    running = {name: run(pool, name) for name in ("x", "a")}
    assert every_key(running) == {k: v + 1 for k, v in expected.items()}
    assert {len(accounts.shard.groups) for accounts, _ in running.values()} == {GROUPS // 2}
    close(running)


def test_one_group_moves_from_a_stopped_shard_to_a_live_one_while_the_others_keep_serving(tmp_path: Path) -> None:
    pool = pool_at(tmp_path / "pool")
    pool.assign(["a", "b", "c"])
    running = {name: run(pool, name) for name in ("a", "b", "c")}
    expected = {f"k{i}": i for i in range(200)}
    for key, n in expected.items():
        deposit(running, pool, key, n)
    for _, manager in running.values():
        manager.checkpoint()
    dead, manager = running.pop("a")
    manager.close()  # a stopped (or dead) shard: its lock is free
    group = min(dead.shard.groups)
    pool.move([group], to="b")
    live, _ = running["b"]
    assert live.shard.adopt({"balances": live.balances})  # b takes the group, c is untouched
    moved = {k for k in expected if amber.key_group(k, GROUPS) == group}
    assert moved and moved <= set(live.balances)
    for key in moved:
        deposit(running, pool, key, 10)  # routed to b now, which owns it

    # a restarts with the groups it still owns, without the one it gave away
    running["a"] = run(pool, "a")
    assert group not in running["a"][0].shard.groups
    assert every_key(running) == {k: v + (10 if k in moved else 0) for k, v in expected.items()}
    close(running)


def test_a_key_sent_to_the_wrong_shard_is_refused_naming_its_owner(tmp_path: Path) -> None:
    pool = pool_at(tmp_path / "pool")
    pool.assign(["a", "b"])
    accounts, manager = run(pool, "a")
    foreign = next(f"k{i}" for i in range(100) if pool.shard_for(f"k{i}") == "b")
    with pytest.raises(amber.NotOwnedError, match="which shard b owns") as caught:
        accounts.shard.check(foreign)
    assert caught.value.owner == "b" and caught.value.shard == "a"
    manager.close()


def test_a_group_moved_twice_before_its_new_owner_wrote_it_comes_from_where_it_was_last_written(
    tmp_path: Path,
) -> None:
    pool = pool_at(tmp_path / "pool")
    pool.assign(["a", "b", "c"])
    running = {name: run(pool, name) for name in ("a", "b", "c")}
    keys = {f"k{i}": i for i in range(120)}
    for key, n in keys.items():
        deposit(running, pool, key, n)
    close(running)
    group = min(pool.assignment().groups_of("a"))  # type: ignore[union-attr]
    pool.move([group], to="b")  # b is stopped: it never writes the group
    pool.move([group], to="c")  # so the group's data is still a's checkpoint
    source = pool.assignment().sources[group]  # type: ignore[union-attr]
    assert source is not None and source.shard == "a"
    running = {name: run(pool, name) for name in ("a", "b", "c")}
    assert every_key(running) == keys
    close(running)


def test_moving_from_a_running_shard_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    pool = pool_at(tmp_path / "pool")
    pool.assign(["a", "b"])
    running = {name: run(pool, name) for name in ("a", "b")}
    before = pool.assignment()
    with pytest.raises(amber.StoreLockedError):
        pool.move([0], to="b")  # group 0 is a's, and a holds its store
    assert pool.assignment() == before
    close(running)


def test_two_operators_reassigning_at_once_leave_one_generation(tmp_path: Path, monkeypatch: Any) -> None:
    pool = pool_at(tmp_path / "pool")
    pool.assign(["a", "b"])
    other = pool_at(tmp_path / "pool")
    stale = pool.assignment()
    other.move([0], to="b")  # the other operator writes generation 2 first
    monkeypatch.setattr(pool, "assignment", lambda generation=None: stale)  # this one read before it
    with pytest.raises(amber.ConflictError, match="another operator wrote generation 2"):
        pool.move([1], to="b")
    monkeypatch.undo()
    assert pool.assignment().owners[:2] == ("b", "a")  # type: ignore[union-attr]


def test_a_forged_or_damaged_newest_generation_is_refused_not_skipped(tmp_path: Path) -> None:
    pool = pool_at(tmp_path / "pool")
    first = pool.assign(["a", "b"])
    forged = amber.Assignment(
        "amber.pool.assignment", 2, GROUPS, first.created, ("a",) * (GROUPS - 1), first.since, first.sources
    )
    pool.storage.put("assignments/000000000002.json", [msgspec.json.encode(forged)])
    with pytest.raises(amber.CorruptCheckpointError, match="000000000002.json") as caught:
        pool.assignment()
    assert caught.value.part == "assignments/000000000002.json"
    pool.storage.put("assignments/000000000002.json", [b"{not json"])
    with pytest.raises(amber.CorruptCheckpointError, match="assignment"):
        pool.shard("a").restore(None)  # older generations would give a group to two shards


def test_a_shard_rescaled_away_cannot_restart(tmp_path: Path) -> None:
    pool = pool_at(tmp_path / "pool")
    pool.assign(["a", "b"])
    close({n: run(pool, n) for n in ("a", "b")})
    pool.rescale(["a"])
    with pytest.raises(amber.RestoreError, match="shard b owns no key group in generation 2") as caught:
        run(pool, "b")
    assert isinstance(caught.value.__cause__, amber.NotOwnedError)


def test_the_pool_refuses_bad_names_and_a_changed_number_of_groups(tmp_path: Path) -> None:
    pool = pool_at(tmp_path / "pool")
    with pytest.raises(ValueError, match="shard's name"):
        pool.assign(["a", "../b"])
    with pytest.raises(ValueError, match="names must differ"):
        pool.assign(["a", "a"])
    with pytest.raises(ValueError, match="never change"):
        amber.open_pool(tmp_path / "pool", key_groups=GROUPS * 2)
    with pytest.raises(ValueError, match="memory"):
        amber.open_pool("memory://")


def test_a_planted_link_cannot_lead_a_shard_store_out_of_the_pool(tmp_path: Path) -> None:
    pool = pool_at(tmp_path / "pool")
    pool.assign(["a"])
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "pool" / "shards").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(amber.PlantedLinkError):
        pool.shard_store("a")


def test_a_paused_shard_on_s3_is_fenced_when_its_groups_move(s3_url: str) -> None:
    pool = amber.open_pool(s3_url, key_groups=GROUPS)
    pool.assign(["a", "b"])
    shard = pool.shard("a")
    accounts = Accounts(shard)
    store = pool.shard_store("a")
    store.acquire_lease(seconds=1.0, keep=False)  # a lease nobody renews: a paused process's
    paused = amber.Manager(store, [accounts], meta=shard.meta, handle_sigterm=False)
    paused.restore()
    accounts.restore(None)
    key = next(f"k{i}" for i in range(100) if pool.shard_for(f"k{i}") == "a")
    accounts.balances[key] = 1
    paused.checkpoint()
    pool.move(sorted(shard.groups), to="b", wait=10.0)  # waits for the lease to expire, then fences a
    accounts.balances[key] = 999  # the paused process wakes up and writes on
    with pytest.raises(amber.CheckpointAbortedError) as caught:
        paused.checkpoint()
    assert isinstance(caught.value.__cause__, amber.FencedError)
    taker, manager = run(pool, "b")
    assert taker.balances[key] == 1  # what the fenced writer wrote exists for no reader
    manager.close()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(0, 3)), min_size=1, max_size=5), st.randoms())
def test_any_sequence_of_rescales_and_moves_keeps_every_key_exactly_once(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[int, int]], rng: random.Random
) -> None:
    pool = pool_at(tmp_path_factory.mktemp("pool"))
    names = ["s0", "s1"]
    pool.assign(names)
    expected: dict[str, int] = {}
    for shards, moves in steps:
        running = {n: run(pool, n) for n in names}
        for _ in range(30):
            key = f"k{rng.randrange(80)}"
            deposit(running, pool, key, 1)
            expected[key] = expected.get(key, 0) + 1
        close(running)
        names = [f"s{i}" for i in rng.sample(range(6), shards)]
        pool.rescale(names)
        for _ in range(moves):
            pool.move([rng.randrange(GROUPS)], to=rng.choice(names))
        names = pool.assignment().shards  # type: ignore[union-attr]
    running = {n: run(pool, n) for n in names}
    assert every_key(running) == expected
    close(running)
