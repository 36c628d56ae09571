"""How ``amber.ray`` wraps an actor's methods, checked in this process (the decorated class is
a plain class until ``ray.remote`` takes it): acknowledged methods reply after the commit,
inherited ones too; methods run one at a time against checkpoints."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ray")

import amber
import amber.ray


class Base:
    def __init__(self) -> None:
        self.counts: amber.Table[str, int] = amber.Table()

    def snapshot(self) -> dict[str, Any]:
        return {"counts": self.counts}

    def restore(self, state: dict[str, Any]) -> None:
        self.counts = state["counts"]

    @amber.ray.acknowledged
    def add(self, key: str, n: int) -> int:
        self.counts[key] = self.counts.get(key, 0) + n
        return self.counts[key]


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
