"""Hostile review of ``amber.ray.ShardedPool`` on a real local Ray cluster (started here, once
for the module): what a pool's actors do when they exit gracefully, and what a pool that
fails to start leaves behind. Slow (Ray); the wrapper's in-process defects are in
test_pools_hostile.py."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, cast

import pytest

ray = pytest.importorskip("ray")

import amber  # noqa: E402 - after the extra is known to be here
import amber.ray  # noqa: E402

GROUPS = 16


def ledger_class(pool: str, **options: Any) -> type:
    """A sharded actor class defined in a function, so that Ray ships it by value."""

    @amber.ray.sharded(pool, tables=("balances",), key_groups=GROUPS, interval=None, **options)
    class Ledger:
        def __init__(self) -> None:
            self.balances: amber.Table[str, int] = amber.Table()

        def put(self, key: str, value: int) -> None:
            self.balances[key] = value

        def get(self, key: str) -> int | None:
            return cast("int | None", self.balances.get(key))

        def leave(self) -> None:
            ray.actor.exit_actor()  # a graceful exit: docs/ray.md promises a final checkpoint

    return Ledger


@pytest.mark.usefixtures("ray_cluster")
def test_a_pool_actor_leaving_with_exit_actor_loses_its_writes_since_the_last_checkpoint(tmp_path: Path) -> None:
    """docs/ray.md: the actor checkpoints "when the actor process exits" (an atexit hook "for
    ray.actor.exit_actor, ray.shutdown"). An actor that writes and then leaves with
    ``ray.actor.exit_actor()`` is restarted with nothing of what it wrote: the hook's final
    checkpoint runs after ``concurrent.futures`` has shut down and cannot commit."""
    url = str(tmp_path / "pool")
    Ledger = ray.remote(max_restarts=0, max_task_retries=0)(ledger_class(url, lock_wait=60.0))
    pool = amber.ray.ShardedPool(Ledger, ["a"])
    actor = pool.actors["a"]
    ray.get(actor.put.remote("k1", 7), timeout=120)
    with contextlib.suppress(ray.exceptions.RayActorError):
        ray.get(actor.leave.remote(), timeout=120)
    again = amber.ray.ShardedPool(Ledger, ["a"])  # waits for the old process's lock
    try:
        assert ray.get(again.actors["a"].get.remote("k1"), timeout=120) == 7
    finally:
        again.stop()


@pytest.mark.usefixtures("ray_cluster")
def test_a_pool_that_fails_to_start_leaves_its_other_actors_holding_their_stores(tmp_path: Path) -> None:
    """One actor of a pool cannot start (here a planted link in its shard's folder; in life a
    bad node, a constructor error, a full disk): ``ShardedPool`` raises, but the actors it
    started for the other shards keep running, each holding its store, and no handle to them
    is returned, so nothing can stop them. Fixing the cause and starting the pool again (in
    the ``except`` block that caught the error, which keeps it alive) fails: the new actor of
    a healthy shard finds its store locked by the orphan."""
    url = str(tmp_path / "pool")
    Ledger = ray.remote(max_restarts=0, max_task_retries=0)(ledger_class(url))
    pool = amber.open_pool(url, key_groups=GROUPS)
    pool.assign(["a", "b"])
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "pool" / "shards").mkdir(exist_ok=True)
    planted = tmp_path / "pool" / "shards" / "b"
    planted.symlink_to(tmp_path / "elsewhere")
    failure: BaseException | None = None
    try:
        amber.ray.ShardedPool(Ledger, ["a", "b"])
    except Exception as e:  # whatever Ray wraps it in
        failure = e
        planted.unlink()  # the cause is fixed
        try:
            retried = amber.ray.ShardedPool(Ledger, ["a", "b"])
        except Exception as again:
            pytest.fail(f"the pool cannot start again: {type(again).__name__}: {str(again)[:300]}")
        retried.stop()
    assert failure is not None, "the planted link should have stopped shard b"
