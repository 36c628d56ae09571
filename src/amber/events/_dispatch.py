"""Delivering events: one log line each under ``amber.*``, then every listener.

Log lines read as ``checkpoint committed checkpoint=000012 kind=delta bytes=40213 ...``
(logfmt after a short title) and carry the same fields, structured, on the record's
``amber`` attribute, for JSON formatters. The happy path logs at INFO and below (silent
under Python's default WARNING level); aborts, fallbacks and quarantines at WARNING;
failed restores and migrations at ERROR.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import msgspec

from . import (
    CheckpointAborted,
    CheckpointCommitted,
    CheckpointRefused,
    CheckpointStarted,
    Event,
    GarbageCollected,
    Listener,
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

_listener_log = logging.getLogger("amber.listener")
_MAX_VALUE = 1000  # characters of one field in a log line
_LOGGERS = {
    name: logging.getLogger(f"amber.{name}") for name in ("checkpoint", "restore", "migration", "gc", "rollback")
}


def dispatch(event: Event, *listener_lists: Iterable[Listener]) -> None:
    """Log ``event``, then call each distinct listener once (a listener registered both on
    a manager and on its store is called once); a listener that raises is logged and skipped."""
    try:
        _log(event)
    except Exception:  # a log line must never fail what it reports (a handler's bug, an odd value)
        _listener_log.exception("logging %s failed; ignored", type(event).__name__)
    seen: set[int] = set()
    for listeners in listener_lists:
        for listener in listeners:
            if id(listener) in seen:
                continue
            seen.add(id(listener))
            try:
                listener(event)
            except Exception:
                _listener_log.exception("amber listener %r failed on %s; ignored", listener, type(event).__name__)


def _log(event: Event) -> None:
    logger_name, level, title, fields = describe(event)
    logger = _LOGGERS[logger_name]
    if not logger.isEnabledFor(level):
        return  # the common case in production: nothing is formatted
    text = " ".join(f"{k}={_value(v)}" for k, v in fields.items())
    structured = {"event": type(event).__name__, **fields, "details": msgspec.to_builtins(event)}
    logger.log(level, "%s %s", title, text, extra={"amber": structured})


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".") or "0"
    text = str(value).encode("utf-8", "backslashreplace").decode()  # lone surrogates from OS errors
    if len(text) > _MAX_VALUE:  # a line stays a line; the structured record has it all
        text = f"{text[:_MAX_VALUE]}...({len(text) - _MAX_VALUE} more)"
    if not text or any(c in text for c in ' "=\n'):
        return msgspec.json.encode(text).decode()  # quoted and escaped, as logfmt readers expect
    return text


def describe(event: Event) -> tuple[str, int, str, dict[str, Any]]:
    """(logger, level, title, fields) of an event's log line."""
    if isinstance(event, CheckpointCommitted):
        return (
            "checkpoint",
            logging.INFO,
            "checkpoint committed",
            {
                "checkpoint": event.checkpoint,
                "kind": event.kind,
                "outcome": "committed",
                "bytes": event.bytes,
                "records": event.records,
                "duration": event.seconds,
                "pause": event.pause_seconds,
                "depth": event.depth,
            },
        )
    if isinstance(event, CheckpointAborted):
        return (
            "checkpoint",
            logging.WARNING,
            "checkpoint aborted",
            {
                "attempt": event.attempt,
                "phase": event.phase,
                "participant": event.participant or "",
                "outcome": "aborted",
                "error": event.error,
                "reason": event.reason,
                "duration": event.seconds,
                "pause": event.pause_seconds,
            },
        )
    if isinstance(event, CheckpointStarted):
        return (
            "checkpoint",
            logging.DEBUG,
            "checkpoint started",
            {
                "attempt": event.attempt,
                "kind": event.kind,
                "capture": event.capture,
            },
        )
    if isinstance(event, PhaseFinished):
        return (
            "checkpoint",
            logging.DEBUG,
            "checkpoint phase",
            {
                "attempt": event.attempt,
                "phase": event.phase,
                "duration": event.seconds,
                "bytes": event.bytes,
                "outcome": "failed" if event.error else "ok",
            },
        )
    if isinstance(event, ServiceResumed):
        return "checkpoint", logging.DEBUG, "service resumed", {"attempt": event.attempt, "pause": event.pause_seconds}
    return _describe_other(event)


def _describe_other(event: Event) -> tuple[str, int, str, dict[str, Any]]:
    if isinstance(event, RestoreFinished):
        level = logging.WARNING if event.fallbacks else logging.INFO
        return (
            "restore",
            level,
            "restore finished",
            {
                "checkpoint": event.checkpoint or "",
                "outcome": "restored" if event.checkpoint else "fresh",
                "chain": len(event.chain),
                "fallbacks": len(event.fallbacks),
                "records": event.records,
                "bytes": event.bytes,
                "duration": event.seconds,
            },
        )
    if isinstance(event, RestoreFailed):
        return (
            "restore",
            logging.ERROR,
            "restore failed",
            {
                "outcome": "failed",
                "reason": event.reason,
                "failures": "; ".join(f"{c}: {r}" for c, r in event.failures),
                "duration": event.seconds,
            },
        )
    if isinstance(event, RestoreStarted):
        return "restore", logging.DEBUG, "restore started", {"candidates": event.candidates}
    if isinstance(event, CheckpointRefused):
        return (
            "restore",
            logging.WARNING,
            "checkpoint refused",
            {
                "checkpoint": event.checkpoint,
                "action": event.action,
                "reason": event.reason,
            },
        )
    if isinstance(event, Quarantined):
        return (
            "restore",
            logging.WARNING,
            "checkpoint quarantined",
            {
                "checkpoint": event.checkpoint,
                "reason": event.reason,
            },
        )
    return _describe_maintenance(event)


def _describe_maintenance(event: Event) -> tuple[str, int, str, dict[str, Any]]:
    if isinstance(event, MigrationStarted):
        return (
            "migration",
            logging.INFO,
            "migration started",
            {
                "run": event.run,
                "checkpoint": event.source,
                "dry_run": event.dry_run,
                "types": "; ".join(f"{k} {v}" for k, v in event.types.items()),
            },
        )
    if isinstance(event, MigrationStep):
        return (
            "migration",
            logging.INFO,
            "migration step",
            {
                "run": event.run,
                "checkpoint": event.checkpoint,
                "type": event.type,
                "from_version": event.from_version,
                "to_version": event.to_version,
                "how": event.how,
                "records": event.records,
                "duration": event.seconds,
            },
        )
    if isinstance(event, MigrationFinished):
        level = logging.ERROR if event.outcome == "failed" else logging.INFO
        return (
            "migration",
            level,
            "migration finished",
            {
                "run": event.run,
                "checkpoint": event.target or event.source,
                "outcome": event.outcome,
                "records": event.records,
                "duration": event.seconds,
                "error": event.error,
            },
        )
    if isinstance(event, RolledBack):
        return (
            "rollback",
            logging.WARNING,
            "rolled back",
            {
                "checkpoint": event.target,
                "restored": event.restored,
                "replaced": event.replaced,
                "outcome": "committed",
            },
        )
    if isinstance(event, GarbageCollected):
        level = logging.INFO if event.deleted_checkpoints or event.deleted_files else logging.DEBUG
        return (
            "gc",
            level,
            "garbage collected",
            {
                "deleted_checkpoints": len(event.deleted_checkpoints),
                "deleted_files": len(event.deleted_files),
                "kept": len(event.kept),
                "dry_run": event.dry_run,
                "duration": event.seconds,
            },
        )
    return "checkpoint", logging.DEBUG, type(event).__name__, {}
