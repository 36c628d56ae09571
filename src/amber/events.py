"""Typed events: what the manager and the store report to listeners.

A listener is any callable taking one event. Listeners run synchronously on the thread
that did the work; one that raises is logged and skipped, never allowed to fail a
checkpoint. ``amber.events.Recorder`` collects events for tests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

__all__ = [
    "CheckpointAborted",
    "CheckpointCommitted",
    "CheckpointStarted",
    "Event",
    "GarbageCollected",
    "Listener",
    "PhaseFinished",
    "Quarantined",
    "Recorder",
    "RestoreFailed",
    "RestoreFinished",
]


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every event: ``time`` is the wall-clock time it was emitted (Unix seconds)."""

    time: float


class CheckpointStarted(Event, frozen=True, kw_only=True):
    attempt: str  # a token naming this attempt (the checkpoint id is known only at commit)
    kind: str  # "full" or "delta"
    capture: str  # "inline" or "fork"
    level: str  # "minimal" or "comprehensive"


class PhaseFinished(Event, frozen=True, kw_only=True):
    attempt: str
    phase: str  # preparing, capturing, validating, committing
    seconds: float
    participants: dict[str, float] = {}  # seconds spent in each participant's callback


class CheckpointCommitted(Event, frozen=True, kw_only=True):
    attempt: str
    checkpoint: str
    kind: str
    parent: str  # "" for a full checkpoint
    depth: int
    bytes: int  # stored: data file plus manifest
    records: int
    seconds: float  # from prepare to commit
    pause_seconds: float  # how long the service was held (prepare to resume)
    phases: dict[str, float]


class CheckpointAborted(Event, frozen=True, kw_only=True):
    attempt: str
    phase: str
    participant: str | None
    reason: str
    seconds: float
    pause_seconds: float


class RestoreFinished(Event, frozen=True, kw_only=True):
    checkpoint: str | None  # None: the store was empty, participants start fresh
    chain: list[str]  # the full base and the deltas applied, in order
    checks: list[str]
    fallbacks: list[tuple[str, str]]  # checkpoints refused on the way, newest first, with why
    seconds: float


class RestoreFailed(Event, frozen=True, kw_only=True):
    reason: str
    failures: list[tuple[str, str]]


class Quarantined(Event, frozen=True, kw_only=True):
    checkpoint: str
    reason: str


class GarbageCollected(Event, frozen=True, kw_only=True):
    deleted_checkpoints: list[str]
    deleted_files: list[str]
    kept: list[str]
    dry_run: bool


Listener = Callable[[Event], Any]
E = TypeVar("E", bound=Event)


class Recorder:
    """A listener that keeps every event, for tests: ``recorder.of(CheckpointCommitted)``."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: type[E]) -> list[E]:
        with self._lock:
            return [e for e in self.events if isinstance(e, kind)]
