"""The log line of every event kind, in one table keyed by the event's class.

A line is a logger under ``amber.``, a level, a short title and the fields written after it
as logfmt (``_dispatch`` formats them). Adding an event kind means adding its row here
(``tests/observability/test_observability.py`` fails for a kind without one), then a handler in each
adapter that cares about it: the tracing and metrics listeners, the history journal and the
report dispatch on the event's class, so a kind they ignore needs nothing there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from . import (
    CheckpointAborted,
    CheckpointCommitted,
    CheckpointRefused,
    CheckpointSkipped,
    CheckpointStarted,
    Event,
    FollowerCaughtUp,
    GarbageCollected,
    MigrationFinished,
    MigrationStarted,
    MigrationStep,
    PhaseFinished,
    Quarantined,
    RestoreFailed,
    RestoreFinished,
    RestoreStarted,
    RolledBack,
    ServiceResumed,
)

E = TypeVar("E", bound=Event)
Fields = dict[str, Any]

DEBUG, INFO, WARNING, ERROR = logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR


@dataclass(frozen=True)
class LogLine(Generic[E]):
    """How one event kind is logged: ``level`` is a number, or a function of the event for
    the kinds whose severity depends on what happened."""

    logger: str  # under "amber."
    level: int | Callable[[E], int]
    title: str
    fields: Callable[[E], Fields]


def _row(
    kind: type[E], logger: str, level: int | Callable[[E], int], title: str, fields: Callable[[E], Fields]
) -> tuple[type[E], LogLine[E]]:
    """One row of the table; typed so that a row's functions take the event of its key."""
    return kind, LogLine(logger, level, title, fields)


# --- fields of each kind ----------------------------------------------------------------------


def _started(e: CheckpointStarted) -> Fields:
    return {"attempt": e.attempt, "kind": e.kind, "capture": e.capture}


def _phase(e: PhaseFinished) -> Fields:
    outcome = "failed" if e.error else "ok"
    return {"attempt": e.attempt, "phase": e.phase, "duration": e.seconds, "bytes": e.bytes, "outcome": outcome}


def _resumed(e: ServiceResumed) -> Fields:
    return {"attempt": e.attempt, "pause": e.pause_seconds}


def _committed(e: CheckpointCommitted) -> Fields:
    return {
        "checkpoint": e.checkpoint,
        "kind": e.kind,
        "outcome": "committed",
        "bytes": e.bytes,
        "records": e.records,
        "duration": e.seconds,
        "pause": e.pause_seconds,
        "depth": e.depth,
    }


def _skipped(e: CheckpointSkipped) -> Fields:
    return {
        "attempt": e.attempt,
        "checkpoint": e.checkpoint,
        "outcome": "skipped",
        "duration": e.seconds,
        "pause": e.pause_seconds,
    }


def _caught_up(e: FollowerCaughtUp) -> Fields:
    return {
        "checkpoint": e.checkpoint,
        "applied": e.applied,
        "whole": e.whole,
        "lag": e.lag_seconds,
        "duration": e.seconds,
    }


def _aborted(e: CheckpointAborted) -> Fields:
    return {
        "attempt": e.attempt,
        "phase": e.phase,
        "participant": e.participant or "",
        "outcome": "aborted",
        "error": e.error,
        "reason": e.reason,
        "duration": e.seconds,
        "pause": e.pause_seconds,
    }


def _restore_started(e: RestoreStarted) -> Fields:
    return {"candidates": e.candidates}


def _refused(e: CheckpointRefused) -> Fields:
    return {"checkpoint": e.checkpoint, "action": e.action, "reason": e.reason}


def _quarantined(e: Quarantined) -> Fields:
    return {"checkpoint": e.checkpoint, "reason": e.reason}


def _restored(e: RestoreFinished) -> Fields:
    return {
        "checkpoint": e.checkpoint or "",
        "outcome": "restored" if e.checkpoint else "fresh",
        "chain": len(e.chain),
        "fallbacks": len(e.fallbacks),
        "records": e.records,
        "bytes": e.bytes,
        "duration": e.seconds,
    }


def _restore_failed(e: RestoreFailed) -> Fields:
    failures = "; ".join(f"{c}: {r}" for c, r in e.failures)
    return {"outcome": "failed", "reason": e.reason, "failures": failures, "duration": e.seconds}


def _migration_started(e: MigrationStarted) -> Fields:
    types = "; ".join(f"{k} {v}" for k, v in e.types.items())
    return {"run": e.run, "checkpoint": e.source, "dry_run": e.dry_run, "types": types}


def _step(e: MigrationStep) -> Fields:
    return {
        "run": e.run,
        "checkpoint": e.checkpoint,
        "type": e.type,
        "from_version": e.from_version,
        "to_version": e.to_version,
        "how": e.how,
        "records": e.records,
        "duration": e.seconds,
    }


def _migrated(e: MigrationFinished) -> Fields:
    return {
        "run": e.run,
        "checkpoint": e.target or e.source,
        "outcome": e.outcome,
        "records": e.records,
        "duration": e.seconds,
        "error": e.error,
    }


def _rolled_back(e: RolledBack) -> Fields:
    return {"checkpoint": e.target, "restored": e.restored, "replaced": e.replaced, "outcome": "committed"}


def _collected(e: GarbageCollected) -> Fields:
    return {
        "deleted_checkpoints": len(e.deleted_checkpoints),
        "deleted_files": len(e.deleted_files),
        "kept": len(e.kept),
        "dry_run": e.dry_run,
        "duration": e.seconds,
    }


# --- levels that depend on what happened ------------------------------------------------------


def _restored_level(e: RestoreFinished) -> int:
    return WARNING if e.fallbacks else INFO  # a fallback means a newer checkpoint was unusable


def _migrated_level(e: MigrationFinished) -> int:
    return ERROR if e.outcome == "failed" else INFO


def _collected_level(e: GarbageCollected) -> int:
    return INFO if e.deleted_checkpoints or e.deleted_files else DEBUG  # a collection of nothing is noise


# The happy path logs at INFO and below (silent under Python's default WARNING level); aborts,
# fallbacks and quarantines at WARNING; failed restores and migrations at ERROR. A rollback is
# an operator's deliberate, successful command (it prints what it superseded and its undo):
# INFO, so that `amber rollback` prints no warning when nothing went wrong.
_ROWS: list[tuple[type[Event], LogLine[Any]]] = [
    _row(CheckpointStarted, "checkpoint", DEBUG, "checkpoint started", _started),
    _row(PhaseFinished, "checkpoint", DEBUG, "checkpoint phase", _phase),
    _row(ServiceResumed, "checkpoint", DEBUG, "service resumed", _resumed),
    _row(CheckpointCommitted, "checkpoint", INFO, "checkpoint committed", _committed),
    # INFO like a commit: an idle service still says, once per checkpoint, that its state is saved.
    _row(CheckpointSkipped, "checkpoint", INFO, "checkpoint skipped, nothing changed", _skipped),
    _row(CheckpointAborted, "checkpoint", WARNING, "checkpoint aborted", _aborted),
    _row(FollowerCaughtUp, "follower", DEBUG, "follower caught up", _caught_up),
    _row(RestoreStarted, "restore", DEBUG, "restore started", _restore_started),
    _row(CheckpointRefused, "restore", WARNING, "checkpoint refused", _refused),
    _row(Quarantined, "restore", WARNING, "checkpoint quarantined", _quarantined),
    _row(RestoreFinished, "restore", _restored_level, "restore finished", _restored),
    _row(RestoreFailed, "restore", ERROR, "restore failed", _restore_failed),
    _row(MigrationStarted, "migration", INFO, "migration started", _migration_started),
    _row(MigrationStep, "migration", INFO, "migration step", _step),
    _row(MigrationFinished, "migration", _migrated_level, "migration finished", _migrated),
    _row(RolledBack, "rollback", INFO, "rolled back", _rolled_back),
    _row(GarbageCollected, "gc", _collected_level, "garbage collected", _collected),
]
LOG_LINES: Mapping[type[Event], LogLine[Any]] = dict(_ROWS)


def describe(event: Event) -> tuple[str, int, str, Fields]:
    """(logger, level, title, fields) of an event's log line; a kind without a row (a
    subclass takes its base's) is logged at DEBUG under its class name."""
    line = next((LOG_LINES[cls] for cls in type(event).__mro__ if cls in LOG_LINES), None)
    if line is None:
        return "checkpoint", DEBUG, type(event).__name__, {}
    level = line.level if isinstance(line.level, int) else line.level(event)
    return line.logger, level, line.title, line.fields(event)
