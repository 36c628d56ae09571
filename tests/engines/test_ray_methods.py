"""How ``amber.ray`` wraps an actor's methods, checked in this process (the decorated class is
a plain class until ``ray.remote`` takes it): acknowledged methods reply after the commit,
inherited ones too; methods run one at a time against checkpoints."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, cast

import pytest

pytest.importorskip("ray")

import amber
import amber.ray
from tests.support.ray_actors import Counts as Base


def test_an_acknowledged_method_inherited_from_a_base_class_replies_after_the_commit(tmp_path: Path) -> None:
    @amber.ray.durable(str(tmp_path / "store"), name="counter", interval=None)
    class Counter(Base):
        pass

    counter: Any = Counter()
    assert counter.add("a", 3) == 3
    assert amber.open_store(tmp_path / "store").load()["counter"]["counts"] == {"a": 3}  # committed before the reply
    counter._amber_manager.close()


def test_a_checkpoint_waits_for_the_method_running(tmp_path: Path) -> None:
    entered, release = threading.Event(), threading.Event()

    @amber.ray.durable(str(tmp_path / "store"), name="counter", interval=None)
    class Counter(Base):
        def slow_pair(self) -> None:  # two changes that must be in a checkpoint together or not at all
            self.counts["x"] = 1
            entered.set()
            release.wait(30)
            self.counts["y"] = 1

    counter: Any = Counter()
    worker = threading.Thread(target=counter.slow_pair)
    worker.start()
    entered.wait(30)
    ids: list[str] = []
    checkpointing = threading.Thread(target=lambda: ids.append(counter.amber_checkpoint()))
    checkpointing.start()
    checkpointing.join(0.3)
    release.set()
    worker.join()
    checkpointing.join()
    counts = amber.open_store(tmp_path / "store").load(ids[0])["counter"]["counts"]
    assert counts == {"x": 1, "y": 1}  # never {"x": 1} alone
    counter._amber_manager.close()


def test_acknowledged_refuses_an_async_method() -> None:
    with pytest.raises(TypeError, match="synchronous"):

        @amber.ray.acknowledged
        async def add(self: Any) -> None:
            pass


@amber.record("tests.ray.Bucket", version=1)
class Bucket(amber.Record):
    granted: int = 0


def test_an_acknowledged_change_in_place_without_touch_is_still_committed_before_the_reply(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A newcomer's finding: the reply waited for a checkpoint that found nothing to write."""

    @amber.ray.durable(str(tmp_path / "store"), name="limits", interval=None)
    class Limits:
        def __init__(self) -> None:
            self.buckets: amber.Table[str, Bucket] = amber.Table({"c1": Bucket()})

        def snapshot(self) -> dict[str, Any]:
            return {"buckets": self.buckets}

        def restore(self, state: dict[str, Any]) -> None:
            self.buckets = state["buckets"]

        @amber.ray.acknowledged
        def take(self, key: str) -> int:
            self.buckets[key].granted += 1  # in place, no touch()
            return int(self.buckets[key].granted)

    limits: Any = Limits()
    limits.amber_checkpoint()
    assert [limits.take("c1") for _ in range(3)] == [1, 2, 3]
    assert amber.open_store(tmp_path / "store").load()["limits"]["buckets"]["c1"].granted == 3
    assert "touch" in caplog.text  # and said so
    limits._amber_manager.close()


def test_a_sharded_actor_refuses_a_misspelt_table_its_own_snapshot_and_keys_of_other_shards(tmp_path: Path) -> None:
    pool = amber.open_pool(tmp_path / "pool", key_groups=16)
    pool.assign(["a", "b"])

    with pytest.raises(TypeError, match="snapshot"):

        @amber.ray.sharded(str(tmp_path / "pool"), tables=("balances",), key_groups=16)
        class WithSnapshot:
            def snapshot(self) -> None:
                pass

    @amber.ray.sharded(str(tmp_path / "pool"), tables=("balance",), key_groups=16, interval=None)
    class Misspelt:
        def __init__(self) -> None:
            self.balances: amber.Table[str, int] = amber.Table()

    with pytest.raises(TypeError, match=r"Misspelt.balance must be an amber.Table"):
        cast(Any, Misspelt)(amber_shard="a")

    @amber.ray.sharded(str(tmp_path / "pool"), tables=("balances",), key_groups=16, interval=None)
    class Accounts:
        def __init__(self) -> None:
            self.balances: amber.Table[str, int] = amber.Table()

        @amber.ray.acknowledged
        def import_many(self, grants: dict[str, int]) -> int:  # no `key` parameter: not checked per call
            self.balances.update(grants)
            return len(grants)

    shard: Any = cast(Any, Accounts)(amber_shard="a")
    foreign = next(f"k{i}" for i in range(100) if pool.shard_for(f"k{i}") == "b")
    with pytest.raises(amber.CheckpointAbortedError) as caught:  # refused, not acknowledged then dropped
        shard.import_many({foreign: 1})
    assert isinstance(caught.value.__cause__, amber.NotOwnedError)
    del shard.balances[foreign]
    shard._amber_manager.close()


def test_the_decorators_refuse_the_wrong_order_and_a_class_without_its_state() -> None:
    ray = pytest.importorskip("ray")
    with pytest.raises(TypeError, match="under @ray.remote"):
        amber.ray.durable("./never")(ray.remote(Base))
    with pytest.raises(TypeError, match="needs snapshot"):

        @amber.ray.durable("./never")
        class Stateless:
            pass
