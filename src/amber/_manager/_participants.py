"""Participants: the service's subsystems, as the manager sees them.

A participant is any object with a ``name``, ``snapshot()`` and ``restore(state)``;
optionally ``prepare()``, ``resume()``, ``depends_on`` and ``invariants()``. Their
callbacks run on a helper thread so that a callback which hangs can be given up on when
its phase times out (the thread is left behind; the checkpoint is aborted).
"""

from __future__ import annotations

import graphlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

from ..errors import CheckpointAbortedError, CheckpointTimeoutError, Violation

log = logging.getLogger("amber.manager")


@runtime_checkable
class Participant(Protocol):
    """What the manager needs from a subsystem. Optional members: ``prepare()`` (the
    service's pause starts: fence writes), ``resume()`` (the pause ends), ``depends_on``
    (names restored first) and ``invariants()`` (an iterable of ``amber.Violation`` or
    strings; empty when the state is sound)."""

    name: str

    def snapshot(self) -> Any: ...

    def restore(self, state: Any) -> None: ...


def ordered(participants: Sequence[Participant]) -> list[Participant]:
    """Participants with dependencies first (stable otherwise); checks names and links."""
    by_name: dict[str, Participant] = {}
    for p in participants:
        name = getattr(p, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"participant {p!r} needs a non-empty str name")
        if not (callable(getattr(p, "snapshot", None)) and callable(getattr(p, "restore", None))):
            raise TypeError(f"participant {name!r} needs snapshot() and restore(state)")
        if name in by_name:
            raise ValueError(f"two participants are named {name!r}")
        by_name[name] = p
    graph: dict[str, list[str]] = {}
    for name, p in by_name.items():
        deps = list(getattr(p, "depends_on", ()) or ())
        unknown = [d for d in deps if d not in by_name]
        if unknown:
            raise ValueError(f"participant {name!r} depends on unknown participant(s) {unknown}")
        graph[name] = deps
    sorter = graphlib.TopologicalSorter(graph)
    try:
        sorter.prepare()
    except graphlib.CycleError as e:
        raise ValueError(f"participants depend on each other in a cycle: {e.args[1]}") from None
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=list(by_name).index)  # declaration order among peers
        order.extend(ready)
        sorter.done(*ready)
    return [by_name[n] for n in order]


class Job:
    """One callback run on a lane; ``is_alive()`` while it runs (or waits its turn)."""

    def __init__(self, run: Callable[[], None]) -> None:
        self.run = run
        self.done = threading.Event()

    def is_alive(self) -> bool:
        return not self.done.is_set()

    def join(self, timeout: float | None = None) -> None:
        self.done.wait(timeout)


class Lane:
    """The one thread that runs a participant's ``prepare()`` and ``resume()``, in order, so
    that a fence taken in one is released in the other by the same thread: a
    ``threading.RLock`` (which only its owner may release) works, and an overran
    ``prepare()`` is followed by its ``resume()``, never overtaken by it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, run: Callable[[], None]) -> Job:
        job = Job(run)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name=f"amber-{self.name}", daemon=True)
                self._thread.start()
            self._jobs.put(job)
        return job

    def close(self) -> None:
        self._jobs.put(None)

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job.run()
            finally:
                job.done.set()


def call(
    participant: Participant, method: str, phase: str, timeout: float, *args: Any, lane: Lane | None = None
) -> tuple[Any, float]:
    """Run ``participant.method(*args)`` within ``timeout`` seconds (on ``lane`` if given, else
    on a thread of its own); return (result, seconds).

    Missing optional methods return (None, 0). A raise or an overrun becomes a
    ``CheckpointAbortedError`` naming the participant and the phase.
    """
    fn = getattr(participant, method, None)
    if fn is None:
        return None, 0.0
    box: list[Any] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result = fn(*args)
            if method == "invariants":  # a generator's body runs here, bounded and attributed
                result = violations(result)
            box.append(result)
        except BaseException as e:  # reported to the caller, whatever it is
            failure.append(e)

    start = time.perf_counter()
    worker: Job | threading.Thread
    if lane is not None:
        worker = lane.submit(run)
    else:
        worker = threading.Thread(target=run, name=f"amber-{participant.name}-{method}", daemon=True)
        worker.start()
    worker.join(max(timeout, 0.0))
    seconds = time.perf_counter() - start
    if worker.is_alive():
        overran = CheckpointTimeoutError(phase, participant.name, f"{method}() did not return within {timeout:g} s")
        overran.still_running = (worker, failure)
        raise overran
    if failure:
        error = failure[0]
        reason = f"{method}() raised {type(error).__name__}: {error}"
        raise CheckpointAbortedError(phase, participant.name, reason) from error
    return box[0], seconds


def resume_when_done(participant: Participant, lane: Lane) -> None:
    """A ``prepare()`` that overran is still running: never resume while it runs (it would
    undo a fence not yet taken); resume once it returns (as after any prepare()), on its
    lane, after it."""

    def late_resume() -> None:
        try:
            getattr(participant, "resume", lambda: None)()
        except Exception:
            log.exception("participant %r: resume() after a late prepare() failed", participant.name)

    lane.submit(late_resume)


def violations(result: Any) -> list[Violation]:
    """What ``invariants()`` returned, as ``Violation`` records."""
    if result is None:
        return []
    items: Iterable[Any] = [result] if isinstance(result, str | Violation) else result
    return [v if isinstance(v, Violation) else Violation("invariant", str(v)) for v in items]
