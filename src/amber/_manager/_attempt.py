"""The recorder of one checkpoint attempt: its phases and their deadlines, the service's
pause, the participants' calls, and the events that tell listeners about it.

It decides nothing: the coordination (``_coordinate.py``) says when a phase begins, when
the pause ends, and how the attempt ended; this records it and builds the events
(``CheckpointStarted``, ``PhaseFinished``, ``ServiceResumed``, ``CheckpointCommitted``,
``CheckpointAborted``). Its collaborators come in as plain values and callables (the
timeouts, where events go, whom to tell of a new phase), so it stands on its own.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable

import msgspec

from .._store._capture import gc_paused
from .._store._info import CheckpointInfo
from ..errors import CheckpointAbortedError, CheckpointTimeoutError
from ..events import (
    CheckpointAborted,
    CheckpointCommitted,
    CheckpointStarted,
    Event,
    ParticipantCall,
    PhaseFinished,
    ServiceResumed,
)
from ._options import Timeouts
from ._verify import Digest


class _Attempt:
    """Book-keeping of one checkpoint attempt: phases, deadlines, the pause, its events.

    ``emit`` delivers an event to the listeners; ``on_phase`` is told each phase entered."""

    def __init__(
        self,
        kind: str,
        capture: str,
        *,
        timeouts: Timeouts,
        emit: Callable[[Event], None],
        on_phase: Callable[[str], None],
    ) -> None:
        self.token = secrets.token_hex(8)
        self.kind = kind
        self.capture = capture
        self.timeouts = timeouts
        self._emit = emit
        self._on_phase = on_phase
        self.start = time.perf_counter()
        self.wall = time.time()
        self.phase = "idle"
        self.phase_start = self.start
        self.phase_wall = self.wall
        self.deadline = 0.0  # monotonic
        self.phases: dict[str, float] = {}
        self.timings: dict[str, dict[str, float]] = {}  # phase -> participant -> seconds
        self.calls: dict[str, list[ParticipantCall]] = {}  # phase -> the participants' calls in it
        self.pause_start: float | None = None  # the first prepare()
        self.pause_wall = self.wall
        self.pause_end: float | None = None
        # Events are delivered when the attempt ends (each with its own times), in order:
        # listeners must lengthen neither the pause nor any phase's measured duration.
        self.held: list[Event] = []
        self.live = False  # events go straight to listeners (after deliver())
        # The cyclic GC is off from the first prepare() to the last resume(): a collection
        # there would lengthen the service's pause (tens of ms with a million objects).
        self._gc = contextlib.ExitStack()
        self._gc.enter_context(gc_paused())
        self.verify = False  # this checkpoint checks its tables (deltas check themselves)
        self.digests: dict[int, Digest] | None = None  # the tables as it wrote them

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
                time=time.time(),
                attempt=self.token,
                kind=self.kind,
                capture=self.capture,
                level=level,
                start=self.wall,
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
                pause_seconds=self.pause,
                phases=phases,
            )
        )

    def aborted(self, error: BaseException, phase: str) -> None:
        """The attempt failed in ``phase`` (unless ``error`` names its own) with ``error``."""
        seconds = self.elapsed()  # before listeners run: their time is not the checkpoint's
        self.emit(
            CheckpointAborted(
                time=time.time(),
                attempt=self.token,
                kind=self.kind,
                capture=self.capture,
                phase=getattr(error, "phase", None) or phase,
                participant=error.participant if isinstance(error, CheckpointAbortedError) else None,
                reason=reason(error),
                error=type(error).__name__,
                start=self.wall,
                seconds=seconds,
                pause_seconds=self.pause,
                phases=dict(self.phases),
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
        self.deadline = time.monotonic() + self.timeouts.of(phase)
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
        if time.monotonic() > self.deadline:
            name = phase or self.phase
            raise CheckpointTimeoutError(self.phase, None, f"{name} ran over {self.timeouts.of(self.phase):g} s")

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


def reason(error: BaseException) -> str:
    """Why an attempt failed, as its events and its abort say it."""
    return error.reason if isinstance(error, CheckpointAbortedError) else f"{type(error).__name__}: {error}"
