"""``amber.LoopFence``: the fence for state an asyncio event loop changes.

An asyncio service changes its state between ``await`` points, on the loop's thread. A
checkpoint snapshots from another thread (the periodic one, or ``acheckpoint()``'s), so it
must stop the loop from running anything while it takes the state: ``prepare()`` parks the
loop (it schedules a call that waits until ``resume()``), and every coroutine stays
between two steps. A ``threading.Lock`` would not do: the loop would block on it in the
middle of a step, and a coroutine holding it across an ``await`` would deadlock the loop.

When ``manager.checkpoint()`` is called synchronously on the loop's own thread, the loop is
already parked (it is running that call): the fence sees it and passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator

_waiting: set[int] = set()  # threads blocked in a manager's synchronous call
_guard = threading.Lock()


@contextlib.contextmanager
def waiting_here() -> Iterator[None]:
    """Mark this thread as blocked in a checkpoint until it returns."""
    me = threading.get_ident()
    with _guard:
        nested = me in _waiting
        _waiting.add(me)
    try:
        yield
    finally:
        if not nested:
            with _guard:
                _waiting.discard(me)


class LoopFence:
    """Parks an asyncio event loop from ``prepare()`` to ``resume()`` (one manager per loop).

    Give a participant one and call it from its ``prepare()`` and ``resume()`` (or subclass
    it), and take checkpoints off the loop: ``await manager.acheckpoint()``, ``async with
    manager:`` (periodic ones), or a plain ``manager.checkpoint()`` from the loop itself.
    ``timeout``: how long ``prepare()`` waits for the loop to reach a step boundary; a loop
    busy that long (a coroutine blocking it) aborts the checkpoint, naming the participant.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, *, timeout: float = 10.0) -> None:
        self.loop = loop if loop is not None else asyncio.get_running_loop()
        self.timeout = timeout
        self._release: threading.Event | None = None
        self._loop_thread: int | None = None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self._loop_thread = threading.get_ident()  # made on the loop: this is its thread
        else:
            self.loop.call_soon_threadsafe(self._note_thread)

    def _note_thread(self) -> None:
        self._loop_thread = threading.get_ident()

    def prepare(self) -> None:
        if self.loop.is_closed() or not self.loop.is_running():
            return  # nothing runs on it: nothing to fence
        if self._loop_thread is not None and self._loop_thread in _waiting:
            return  # the loop is running this checkpoint itself: parked already
        parked, release = threading.Event(), threading.Event()
        self._release = release

        def park() -> None:
            parked.set()
            release.wait()

        self.loop.call_soon_threadsafe(park)
        deadline = time.monotonic() + self.timeout
        while not parked.wait(0.01):
            if self._loop_thread in _waiting:  # it entered a manager call meanwhile: parked there
                release.set()
                self._release = None
                return
            if time.monotonic() >= deadline:
                break
        else:
            return
        release.set()  # never park later, when no resume() would come
        self._release = None
        raise TimeoutError(
            f"the event loop did not reach a step boundary within {self.timeout:g} s "
            "(a coroutine blocking it, or checkpoint() called on it from another manager call)"
        )

    def resume(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release.set()
