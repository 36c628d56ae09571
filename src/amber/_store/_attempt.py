"""The recorder of one checkpoint attempt, whoever makes it: a manager's checkpoint or a
plain ``store.save()``. It keeps the phases and their deadlines, the service's pause and
the participants' calls, and builds the events that tell listeners about it
(``CheckpointStarted``, ``PhaseFinished``, ``ServiceResumed``, ``CheckpointCommitted``,
``CheckpointAborted``): one class, so a new event field is added in one place.

It decides nothing: its caller says when a phase begins, when the pause ends, and how the
attempt ended. Its collaborators come in as plain values and callables (each phase's time
limit, where events go, whom to tell of a new phase), so it stands on its own.

A manager's attempt holds its events until it ends (listeners must lengthen neither the
pause nor any phase) and pauses the cyclic GC for the service's pause. A direct save is
its caller's pause from start to end: ``whole_pause``, events delivered as they happen.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import time
from collections.abc import Callable

import msgspec

from ..errors import CheckpointAbortedError, CheckpointTimeoutError
from ..events import (
    CheckpointAborted,
    CheckpointCommitted,
    CheckpointSkipped,
    CheckpointStarted,
    Event,
    ParticipantCall,
    PhaseFinished,
    ServiceResumed,
)
from ._capture import gc_paused
from ._info import CheckpointInfo


def reason(error: BaseException) -> str:
    """Why a manager's attempt failed, as its events and its abort say it."""
    if shutting_down(error):
        return f"the service is shutting down ({_exit_cause(error)})"
    return error.reason if isinstance(error, CheckpointAbortedError) else f"{type(error).__name__}: {error}"


def shutting_down(error: BaseException) -> bool:
    """Whether ``error`` ends the process rather than reports a failure: SystemExit (a SIGTERM
    under ``with manager:``), KeyboardInterrupt, a cancelled task. Code raises Exceptions."""
    return not isinstance(error, Exception)


def _exit_cause(error: BaseException) -> str:
    """The exception, and the signal a ``SystemExit(128 + signum)`` stands for."""
    code = error.code if isinstance(error, SystemExit) else None
    if isinstance(code, int) and code > 128:
        with contextlib.suppress(ValueError):
            return f"{type(error).__name__} {code}: {signal.Signals(code - 128).name}"
    return type(error).__name__ if code is None else f"{type(error).__name__} {code}"


def plain_reason(error: BaseException) -> str:
    """Why a direct save failed: the error's own words (its type is in the event's ``error``)."""
    return str(error) or type(error).__name__


class Attempt:
    """Book-keeping of one checkpoint attempt: phases, deadlines, the pause, its events."""

    def __init__(
        self,
        kind: str,
        capture: str,
        *,
        emit: Callable[[Event], None],
        limit: Callable[[str], float] | None = None,
        on_phase: Callable[[str], None] | None = None,
        hold_events: bool = True,
        whole_pause: bool = False,
        describe: Callable[[BaseException], str] = reason,
    ) -> None:
        self.token = secrets.token_hex(8)
        self.kind = kind
        self.capture = capture
        self._emit = emit
        self._limit = limit  # a phase's time limit in seconds; None: no deadlines
        self._on_phase = on_phase
        self._describe = describe
        self.whole_pause = whole_pause  # the caller is paused from the start to the end
        self.start = time.perf_counter()
        self.wall = time.time()
        self.phase = "idle"
        self.phase_start = self.start
        self.phase_wall = self.wall
        self.deadline = 0.0  # monotonic
        self.phases: dict[str, float] = {}
        self.timings: dict[str, dict[str, float]] = {}  # phase -> participant -> seconds
        self.calls: dict[str, list[ParticipantCall]] = {}  # phase -> the participants' calls in it
        self.pause_start: float | None = self.start if whole_pause else None  # the first prepare()
        self.pause_wall = self.wall
        self.pause_end: float | None = None
        # Held events are delivered when the attempt ends (each with its own times), in order.
        self.held: list[Event] = []
        self.live = not hold_events  # events go straight to listeners (after deliver())
        # A manager's attempt keeps the cyclic GC off from the first prepare() to the last
        # resume(): a collection there would lengthen the service's pause (tens of ms with a
        # million objects). A direct save pauses it where it walks the state (``capture``).
        self._gc = contextlib.ExitStack()
        if hold_events:
            self._gc.enter_context(gc_paused())

    # --- events ---------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        if self.live:
            self._emit(event)
        else:
            self.held.append(event)

    def deliver(self) -> None:
        """Send the held events, all of them even if a listener raises SystemExit or
        KeyboardInterrupt (re-raised after); later events go straight out."""
        self.live = True
        interrupted: BaseException | None = None
        while self.held:
            event = self.held.pop(0)
            try:
                self._emit(event)
            except BaseException as e:  # listeners' Exceptions are caught by dispatch
                interrupted = interrupted or e
        if interrupted is not None:
            raise interrupted

    def started(self, level: str) -> None:
        self.emit(
            CheckpointStarted(
                time=time.time(), attempt=self.token, kind=self.kind, capture=self.capture, level=level, start=self.wall
            )
        )

    def committed(self, info: CheckpointInfo, seconds: float, phases: dict[str, float]) -> None:
        """The attempt committed ``info``, ``seconds`` after its start (measured by the caller)."""
        self.emit(
            CheckpointCommitted(
                time=time.time(),
                attempt=self.token,
                checkpoint=info.id,
                kind=self.kind,
                capture=self.capture,
                parent=info.parent,
                depth=info.depth,
                bytes=info.size,
                records=sum(info.counts.values()),
                start=self.wall,
                seconds=seconds,
                pause_seconds=seconds if self.whole_pause else self.pause,
                phases=phases,
            )
        )

    def skipped(self, last: CheckpointInfo, seconds: float) -> None:
        """Nothing changed since ``last``: the attempt wrote nothing."""
        self.emit(
            CheckpointSkipped(
                time=time.time(),
                attempt=self.token,
                checkpoint=last.id,
                capture=self.capture,
                start=self.wall,
                seconds=seconds,
                pause_seconds=self.pause,
            )
        )

    def aborted(self, error: BaseException, phase: str) -> None:
        """The attempt failed in ``phase`` with ``error``. A manager's attempt takes the phase
        and the participant from a ``CheckpointAbortedError``; a direct save has no
        participants, and its phase is its own."""
        own_phase = None if self.whole_pause else getattr(error, "phase", None)
        by = error.participant if isinstance(error, CheckpointAbortedError) and not self.whole_pause else None
        seconds = self.elapsed()  # before listeners run: their time is not the checkpoint's
        self.emit(
            CheckpointAborted(
                time=time.time(),
                attempt=self.token,
                kind=self.kind,
                capture=self.capture,
                phase=own_phase or phase,
                participant=by,
                reason=self._describe(error),
                error=type(error).__name__,
                start=self.wall,
                seconds=seconds,
                pause_seconds=seconds if self.whole_pause else self.pause,
                phases=dict(self.phases),
                shutdown=shutting_down(error),
            )
        )

    # --- the pause ------------------------------------------------------------------------

    def start_pause(self) -> None:
        self.pause_start, self.pause_wall = time.perf_counter(), time.time()

    def end_pause(self) -> None:
        self._gc.close()  # the GC as it was (closing again does nothing)
        if self.pause_end is None:
            self.pause_end = time.perf_counter()
            if self.pause_start is not None:
                resumed = ServiceResumed(
                    time=time.time(), attempt=self.token, start=self.pause_wall, pause_seconds=self.pause
                )
                self.emit(resumed)

    @property
    def pause(self) -> float:
        """First prepare() to last resume() (0 when no prepare() was reached)."""
        end = self.pause_end if self.pause_end is not None else time.perf_counter()
        return end - self.pause_start if self.pause_start is not None else 0.0

    # --- phases and their deadlines -------------------------------------------------------

    def enter(self, phase: str) -> None:
        self.finish_phase()
        self.phase = phase
        self.phase_start = time.perf_counter()
        self.phase_wall = time.time()
        self.deadline = time.monotonic() + self._limit(phase) if self._limit is not None else float("inf")
        if self._on_phase is not None:
            self._on_phase(phase)

    def finish_phase(self, *, error: str = "", size: int = 0) -> None:
        if self.phase in ("idle", "done"):
            return
        seconds = time.perf_counter() - self.phase_start
        self.phases[self.phase] = seconds
        self.emit(
            PhaseFinished(
                time=time.time(),
                attempt=self.token,
                phase=self.phase,
                start=self.phase_wall,
                seconds=seconds,
                calls=tuple(self.calls.get(self.phase, ())),
                bytes=size,
                error=error,
            )
        )
        self.phase = "done"

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def check(self, phase: str | None = None) -> None:
        """Abort when the phase ran over (called between steps of our own work)."""
        if time.monotonic() > self.deadline and self._limit is not None:
            name = phase or self.phase
            raise CheckpointTimeoutError(self.phase, None, f"{name} ran over {self._limit(self.phase):g} s")

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    # --- the participants' calls ----------------------------------------------------------

    def record(self, name: str, method: str, start: float, seconds: float, error: str = "") -> None:
        self.timings.setdefault(self.phase, {})[name] = seconds
        made = ParticipantCall(participant=name, method=method, start=start, seconds=seconds, error=error)
        self.calls.setdefault(self.phase, []).append(made)

    def failed_call(self, error: str) -> None:
        """The last call returned what fails the checkpoint (broken invariants)."""
        calls = self.calls.get(self.phase)
        if calls:
            calls[-1] = msgspec.structs.replace(calls[-1], error=error)
