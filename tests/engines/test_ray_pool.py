"""``amber.ray.ShardedPool``: durable actors sharing a pool's key groups, on a real local Ray
cluster (started here): rescaled 2 -> 3 -> 2 with every key exactly once, a group moved from a
killed actor to a live one while the others serve, a killed shard restarted by Ray."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

import amber  # noqa: E402 - after the extra is known to be here
import amber.ray  # noqa: E402
from tests.support.ray_pool_actors import KEY_GROUPS, accounts_class  # noqa: E402


def _everything(pool: amber.ray.ShardedPool) -> dict[str, int]:
    """Every actor's keys merged, asserting no key is held by two."""
    merged: dict[str, int] = {}
    for part in ray.get([actor.everything.remote() for actor in pool.actors.values()], timeout=120):
        assert not set(part) & set(merged), "a key held by two shards"
        merged.update(part)
    return merged


@pytest.mark.usefixtures("ray_cluster")
def test_a_pool_of_two_actors_rescaled_to_three_and_back_keeps_every_key_exactly_once(tmp_path: Path) -> None:
    Accounts = ray.remote(max_restarts=0)(accounts_class(str(tmp_path / "pool")))
    keys = {f"acct-{i}": i + 1 for i in range(60)}

    two = amber.ray.ShardedPool(Accounts, 2)
    for key, n in keys.items():
        assert ray.get(two.actor_for(key).deposit.remote(key, n), timeout=120) == n  # acknowledged
    two.stop()

    three = amber.ray.ShardedPool(Accounts, 3)  # a new pool: each restores exactly its groups
    assert three.assignment.generation == 2
    assert sorted(g for a in three.actors.values() for g in ray.get(a.amber_groups.remote())) == list(range(KEY_GROUPS))
    assert _everything(three) == keys
    for key in keys:
        ray.get(three.actor_for(key).deposit.remote(key, 1), timeout=120)
    three.stop()

    back = amber.ray.ShardedPool(Accounts, 2)
    assert _everything(back) == {k: n + 1 for k, n in keys.items()}
    back.stop()


@pytest.mark.usefixtures("ray_cluster")
def test_a_group_moves_from_a_killed_actor_to_a_live_one_while_the_others_keep_serving(tmp_path: Path) -> None:
    Accounts = ray.remote(max_restarts=0, max_task_retries=0)(accounts_class(str(tmp_path / "pool")))
    pool = amber.ray.ShardedPool(Accounts, ["a", "b", "c"])
    keys = {f"acct-{i}": 5 for i in range(90)}
    for key, n in keys.items():
        ray.get(pool.actor_for(key).deposit.remote(key, n), timeout=120)

    serving, stop, failures = [0], threading.Event(), []
    c_keys = [k for k in keys if pool.pool.shard_for(k, pool.assignment) == "c"]

    def keep_serving() -> None:  # c answers throughout the move
        while not stop.is_set():
            try:
                key = c_keys[serving[0] % len(c_keys)]
                ray.get(pool.actors["c"].deposit.remote(key, 1), timeout=120)
                keys[key] += 1
                serving[0] += 1
            except Exception as e:
                failures.append(e)
                return

    server = threading.Thread(target=keep_serving)
    server.start()
    os.kill(ray.get(pool.actors["a"].amber_pid.remote()), signal.SIGKILL)  # a dies for good
    deadline = time.monotonic() + 60
    while True:  # wait until Ray knows it is dead (its lock is free once the process is gone)
        try:
            ray.get(pool.actors["a"].amber_pid.remote(), timeout=5)
        except ray.exceptions.RayActorError:
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    group = min(pool.assignment.groups_of("a"))
    during = serving[0]
    pool.move([group], to="b", wait=30.0)
    stop.set()
    server.join()
    assert not failures and serving[0] > during >= 0
    moved = [k for k in keys if amber.key_group(k, KEY_GROUPS) == group]
    assert moved
    for key in moved:  # b serves the group now, with everything a acknowledged
        assert ray.get(pool.actor_for(key).balance.remote(key), timeout=120) == keys[key]
    for key in c_keys:
        assert ray.get(pool.actors["c"].balance.remote(key), timeout=120) == keys[key]
    for name in ("b", "c"):
        ray.get(pool.actors[name].amber_close.remote(), timeout=120)


@pytest.mark.usefixtures("ray_cluster")
def test_a_killed_shard_is_restarted_by_ray_with_its_groups_and_refuses_keys_of_others(tmp_path: Path) -> None:
    Accounts = ray.remote(max_restarts=-1, max_task_retries=0)(accounts_class(str(tmp_path / "pool")))
    pool = amber.ray.ShardedPool(Accounts, 2)
    keys = {f"acct-{i}": i for i in range(40)}
    for key, n in keys.items():
        ray.get(pool.actor_for(key).deposit.remote(key, n), timeout=120)
    victim = pool.actors["shard-0"]
    pid = ray.get(victim.amber_pid.remote())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        try:
            part = ray.get(victim.everything.remote(), timeout=30)
            break
        except ray.exceptions.RayActorError:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert part == {k: n for k, n in keys.items() if pool.pool.shard_for(k) == "shard-0"}
    foreign = next(k for k in keys if pool.pool.shard_for(k) == "shard-1")
    with pytest.raises(amber.NotOwnedError) as caught:
        ray.get(victim.deposit.remote(foreign, 1), timeout=120)
    assert caught.value.owner == "shard-1"
    pool.stop()
