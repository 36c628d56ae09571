"""Fences that cannot deadlock silently: an RLock fence works (prepare() and resume() run on
one thread per participant), a prepare() that cannot get its lock aborts naming the
participant, and an asyncio service checkpoints under load through ``amber.LoopFence`` with
inline and fork capture, its invariants intact."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from examples import asyncio_ledger

import amber


class Counter:
    """State changed by service threads under an RLock, which prepare() takes and resume() gives back."""

    name = "counter"

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.a = self.b = 0

    def bump(self) -> None:
        with self.lock:
            self.a += 1
            self.b += 1

    def prepare(self) -> None:
        self.lock.acquire()

    def resume(self) -> None:
        self.lock.release()  # an RLock: only the thread that took it may

    def snapshot(self) -> Any:
        return {"a": self.a, "b": self.b}

    def restore(self, state: Any) -> None:
        self.a, self.b = state["a"], state["b"]

    def invariants(self) -> list[str]:
        return [] if self.a == self.b else [f"a={self.a} b={self.b}"]


def test_an_rlock_fence_works_and_never_hangs_the_service(tmp_path: Path) -> None:
    counter = Counter()
    manager = amber.Manager(amber.open_store(tmp_path), [counter], timeouts=amber.Timeouts(preparing=5))
    manager.restore()
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            counter.bump()

    workers = [threading.Thread(target=serve) for _ in range(4)]
    for w in workers:
        w.start()
    try:
        for _ in range(20):
            manager.checkpoint()
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=30)
    assert not any(w.is_alive() for w in workers), "a service thread hung on the fence"
    saved = amber.open_store(tmp_path).load()["counter"]
    assert saved["a"] == saved["b"] > 0
    manager.close(final=False)


def test_a_prepare_that_cannot_take_its_lock_aborts_naming_the_participant(tmp_path: Path) -> None:
    counter = Counter()
    manager = amber.Manager(amber.open_store(tmp_path), [counter], timeouts=amber.Timeouts(preparing=0.5))
    manager.restore()
    held = threading.Event()
    release = threading.Event()

    def stuck() -> None:
        with counter.lock:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=stuck)
    holder.start()
    held.wait(10)
    try:
        with pytest.raises(amber.CheckpointTimeoutError, match="participant 'counter': prepare\\(\\) did not return"):
            manager.checkpoint()
    finally:
        release.set()
        holder.join(10)
    late = manager._overrunning["counter"]  # the late prepare() takes the lock, then its resume() gives it back
    late.join(30)
    manager._lanes["counter"].submit(lambda: None).join(30)  # its resume() ran: the lane is past it
    assert manager.checkpoint().kind == "full"
    manager.close(final=False)


@pytest.mark.parametrize("capture", ["inline", "fork"])
def test_an_asyncio_service_checkpoints_under_load_without_an_abort(tmp_path: Path, capture: str) -> None:
    outcome = asyncio.run(asyncio_ledger.serve(str(tmp_path / "store"), capture, seconds=1.5))
    assert outcome["aborted"] == 0 and outcome["committed"] >= 5 and outcome["transfers"] > 0, outcome
    ledger = amber.open_store(tmp_path / "store", registry=asyncio_ledger.registry).load()["ledger"]
    assert sum(a.cents for a in ledger["accounts"].values()) == asyncio_ledger.TOTAL
    assert ledger["transfers"] == outcome["transfers"], "the final checkpoint holds every transfer"


def test_a_loop_fence_on_a_blocked_loop_aborts_instead_of_hanging(tmp_path: Path) -> None:
    async def main() -> None:
        fence = amber.LoopFence(timeout=0.2)

        class Blocked(amber.LoopFence):
            name = "blocked"

            def snapshot(self) -> Any:
                return 1

            def restore(self, state: Any) -> None:
                pass

        participant = Blocked(timeout=0.2)
        manager = amber.Manager(amber.open_store(tmp_path), [participant])
        await manager.arestore()
        worker = asyncio.get_running_loop().run_in_executor(None, manager.checkpoint)
        time.sleep(1)  # a coroutine blocking the loop (the bug the fence must survive)
        with pytest.raises(amber.CheckpointAbortedError, match="participant 'blocked'.*step boundary"):
            await worker
        del fence
        manager.close(final=False)

    asyncio.run(main())


def test_a_loop_fence_made_on_the_loop_passes_a_checkpoint_taken_on_it_at_once(tmp_path: Path) -> None:
    async def main() -> str:
        class Quick(amber.LoopFence):
            name = "quick"

            def snapshot(self) -> Any:
                return 1

            def restore(self, state: Any) -> None:
                pass

        manager = amber.Manager(amber.open_store(tmp_path), [Quick(timeout=5)])
        manager.restore()
        started = time.monotonic()
        kind = manager.checkpoint().kind  # before the loop ever ran again: no wait for the fence
        assert time.monotonic() - started < 4
        manager.close(final=False)
        return kind

    assert asyncio.run(main()) == "full"
