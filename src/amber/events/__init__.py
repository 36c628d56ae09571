"""Typed events: what the manager, the store and the migrator report to listeners.

A listener is any callable taking one event. Listeners run synchronously on the thread
that did the work; one that raises is logged and skipped, never allowed to fail a
checkpoint. Every event is also logged under ``amber.*`` (see ``docs/observability.md``).

Times: ``time`` is when the event was emitted, ``start`` when the step began (both Unix
seconds, wall clock); ``seconds`` durations are measured with a monotonic clock. Events are
msgspec Structs tagged by class name, so ``msgspec.json.encode(event)`` gives a JSON object
whose ``"event"`` field names its kind.

``Recorder`` (or ``recording(manager_or_store)``) collects events for tests.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

import msgspec

__all__ = [
    "CheckpointAborted",
    "CheckpointCommitted",
    "CheckpointRefused",
    "CheckpointSkipped",
    "CheckpointStarted",
    "Event",
    "FollowerCaughtUp",
    "GarbageCollected",
    "JsonFormatter",
    "Listener",
    "MigrationFinished",
    "MigrationStarted",
    "MigrationStep",
    "ParticipantCall",
    "PhaseFinished",
    "Quarantined",
    "Recorder",
    "RestoreFailed",
    "RestoreFinished",
    "RestoreStarted",
    "RolledBack",
    "ServiceResumed",
    "recording",
]


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="event", tag=True):
    """Base of every event: ``time`` is the wall-clock time it was emitted (Unix seconds)."""

    time: float


class ParticipantCall(msgspec.Struct, frozen=True, kw_only=True):
    """One call of a participant's callback: when it began, how long it took, how it failed."""

    participant: str
    method: str  # prepare, snapshot, invariants, resume, restore
    start: float
    seconds: float
    error: str = ""  # "" when it returned normally


# --- checkpoints ----------------------------------------------------------------------------


class CheckpointStarted(Event, frozen=True, kw_only=True):
    attempt: str  # a token naming this attempt (the checkpoint id is known only at commit)
    kind: str  # "full" or "delta" (as planned; a delta may turn into a full checkpoint)
    capture: str  # "inline" or "fork" (a manager), "direct" (``store.save``)
    level: str  # "minimal" or "comprehensive"
    start: float


class PhaseFinished(Event, frozen=True, kw_only=True):
    attempt: str
    phase: str  # preparing, capturing, validating, committing
    start: float
    seconds: float
    calls: tuple[ParticipantCall, ...] = ()  # the participants' callbacks run in this phase
    bytes: int = 0  # stored bytes written in this phase (committing: data file plus manifest)
    error: str = ""  # why the checkpoint was aborted in this phase; "" when it completed


class ServiceResumed(Event, frozen=True, kw_only=True):
    """The service's pause ended: every participant was resumed."""

    attempt: str
    start: float  # when the pause began (the first prepare())
    pause_seconds: float


class CheckpointCommitted(Event, frozen=True, kw_only=True):
    attempt: str
    checkpoint: str
    kind: str
    capture: str
    parent: str  # "" for a full checkpoint
    depth: int
    bytes: int  # stored: data file plus manifest
    records: int
    start: float
    seconds: float  # from prepare to commit
    pause_seconds: float  # how long the service was held (prepare to resume)
    phases: dict[str, float]


class CheckpointSkipped(Event, frozen=True, kw_only=True):
    """Nothing changed since the last checkpoint, which holds the service's state already:
    none was written (an empty delta would have been)."""

    attempt: str
    checkpoint: str  # the last checkpoint, which holds this state
    capture: str
    start: float
    seconds: float
    pause_seconds: float


class FollowerCaughtUp(Event, frozen=True, kw_only=True):
    """A follower applied the checkpoints committed since the one it held (``amber.Follower``)."""

    checkpoint: str  # the one it holds now
    applied: int  # checkpoints applied
    whole: int  # of them, loaded whole (a full checkpoint, a rollback, a delta it could not apply)
    lag_seconds: float  # from the commit of the first one applied to now: how stale its state was
    start: float
    seconds: float


class CheckpointAborted(Event, frozen=True, kw_only=True):
    attempt: str
    kind: str
    capture: str
    phase: str
    participant: str | None
    reason: str
    error: str  # the exception's class name, e.g. "CheckpointTimeoutError"
    start: float
    seconds: float
    pause_seconds: float
    phases: dict[str, float] = {}  # the phases completed or cut short, with their durations
    # Cut short because the service is shutting down (SIGTERM, Ctrl-C, its task cancelled), not
    # because anything failed. Absent from entries journaled before it existed: see ``by_shutdown``.
    shutdown: bool = False


SHUTDOWN_ERRORS = ("SystemExit", "KeyboardInterrupt", "CancelledError")


def by_shutdown(event: CheckpointAborted) -> bool:
    """Whether the attempt was cut short by the service shutting down, also for an event
    journaled before ``shutdown`` existed (its ``error`` names the exception)."""
    return event.shutdown or event.error in SHUTDOWN_ERRORS


# --- restore --------------------------------------------------------------------------------


class RestoreStarted(Event, frozen=True, kw_only=True):
    restore: str  # a token naming this restore
    candidates: int  # committed checkpoints in the store
    start: float


class CheckpointRefused(Event, frozen=True, kw_only=True):
    """A restore did not use a checkpoint and fell back to an older one."""

    restore: str
    checkpoint: str
    reason: str
    action: str  # "quarantined", "skipped" (through no fault of its own) or "refused" (not quarantined)


class Quarantined(Event, frozen=True, kw_only=True):
    checkpoint: str
    reason: str
    restore: str = ""  # the restore that set it aside


class RestoreFinished(Event, frozen=True, kw_only=True):
    restore: str
    checkpoint: str | None  # None: the store was empty, participants start fresh
    chain: list[str]  # the full base and the deltas applied, in order
    checks: list[str]
    fallbacks: list[tuple[str, str]]  # checkpoints refused on the way, newest first, with why
    start: float
    seconds: float
    phases: dict[str, float] = {}  # loading (and verifying), restoring, validating
    calls: tuple[ParticipantCall, ...] = ()
    records: int = 0
    bytes: int = 0  # stored bytes of the chain read
    committed: float = 0.0  # when the restored checkpoint was committed (Unix seconds; 0: none)


class RestoreFailed(Event, frozen=True, kw_only=True):
    restore: str
    reason: str
    failures: list[tuple[str, str]]
    start: float
    seconds: float


# --- migrations, rollbacks, garbage collection ----------------------------------------------


class MigrationStarted(Event, frozen=True, kw_only=True):
    run: str  # the migration log's run id (a dry run, which is not logged: "dry-run-<token>")
    source: str
    dry_run: bool
    types: dict[str, str]  # type name -> "v1 -> v3 (how)" for every type that changes
    start: float


class MigrationStep(Event, frozen=True, kw_only=True):
    """One type brought to the running code's version in one checkpoint of the chain (or one
    stage of checkpoint steps, under ``type="(checkpoint steps)"``)."""

    run: str
    dry_run: bool
    checkpoint: str
    type: str
    from_version: int
    to_version: int
    how: str  # "rules only", "step 1->2, step 2->3", or the stage's description
    records: int
    start: float
    seconds: float


class MigrationFinished(Event, frozen=True, kw_only=True):
    run: str
    source: str
    target: str  # the committed checkpoint ("" unless committed)
    outcome: str  # "committed", "failed", "dry-run", "dry-run-failed" or "unchanged"
    records: int
    start: float
    seconds: float
    error: str = ""
    dry_run: bool = False


class RolledBack(Event, frozen=True, kw_only=True):
    run: str
    replaced: str  # the newest checkpoint before the rollback
    restored: str  # the checkpoint whose content is the newest again
    target: str  # the new checkpoint committed with that content
    start: float
    seconds: float


class GarbageCollected(Event, frozen=True, kw_only=True):
    deleted_checkpoints: list[str]
    deleted_files: list[str]
    kept: list[str]
    dry_run: bool
    start: float = 0.0
    seconds: float = 0.0


Listener = Callable[[Event], Any]
E = TypeVar("E", bound=Event)

# Every event kind, for decoding a stored or logged event: msgspec.json.decode(raw, type=AnyEvent).
AnyEvent = (
    CheckpointStarted
    | PhaseFinished
    | ServiceResumed
    | CheckpointCommitted
    | CheckpointSkipped
    | FollowerCaughtUp
    | CheckpointAborted
    | RestoreStarted
    | CheckpointRefused
    | Quarantined
    | RestoreFinished
    | RestoreFailed
    | MigrationStarted
    | MigrationStep
    | MigrationFinished
    | RolledBack
    | GarbageCollected
)


class Recorder:
    """A listener that keeps every event, for tests: ``recorder.of(CheckpointCommitted)``."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: type[E]) -> list[E]:
        """The events of one kind (and its subclasses), oldest first."""
        with self._lock:
            return [e for e in self.events if isinstance(e, kind)]

    def kinds(self) -> list[str]:
        """The class names of the events, in order: handy in assertions."""
        with self._lock:
            return [type(e).__name__ for e in self.events]

    def clear(self) -> None:
        with self._lock:
            self.events.clear()


class _HasListeners(Protocol):
    listeners: list[Listener]


@contextmanager
def recording(source: _HasListeners) -> Iterator[Recorder]:
    """Record the events of a manager or store inside a ``with`` block::

    with amber.events.recording(manager) as recorder:
        manager.checkpoint()
    assert recorder.kinds()[-1] == "CheckpointCommitted"
    """
    recorder = Recorder()
    source.listeners.append(recorder)
    try:
        yield recorder
    finally:
        source.listeners.remove(recorder)


class JsonFormatter(logging.Formatter):
    """A logging formatter: one JSON object a line with time, level, logger and message,
    plus the structured fields Amber puts on its records (``record.amber``)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": record.created,
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "amber", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        try:
            return msgspec.json.encode(line, enc_hook=str).decode()
        except (UnicodeEncodeError, TypeError, ValueError):  # e.g. a lone surrogate from an OS error
            return json.dumps(line, default=str)
