"""OpenTelemetry traces from Amber's events (``pip install 'amber-state[otel]'``, which
needs only ``opentelemetry-api``; the application configures the SDK and exporter)::

    from amber.otel import TracingListener
    manager = amber.Manager(store, participants, listeners=[TracingListener()])

Spans (times are the steps' own, not when the events arrived):

- ``amber.checkpoint``, with a child per phase (``amber.checkpoint.preparing`` ...), under
  it one per participant callback (``amber.participant.prepare`` ...), and
  ``amber.checkpoint.pause`` for the service's pause;
- ``amber.restore``, with a child per participant callback, fallbacks and quarantines as
  span events;
- ``amber.migration``, with a child ``amber.migration.step`` per type upgraded;
- ``amber.rollback`` and ``amber.gc``.

A step that fails sets its span's status to ERROR with the cause, as do its parents.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from ._version import __version__
from .errors import MissingExtraError
from .events import (
    CheckpointAborted,
    CheckpointCommitted,
    CheckpointRefused,
    CheckpointSkipped,
    CheckpointStarted,
    Event,
    GarbageCollected,
    MigrationFinished,
    MigrationStarted,
    MigrationStep,
    ParticipantCall,
    PhaseFinished,
    Quarantined,
    RestoreFailed,
    RestoreFinished,
    RestoreStarted,
    RolledBack,
    ServiceResumed,
)

try:
    from opentelemetry import trace
except ImportError:  # pragma: no cover - exercised in a subprocess by the tests
    raise MissingExtraError("amber.otel", "otel", "opentelemetry-api") from None

__all__ = ["TracingListener"]


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


class TracingListener:
    """Makes spans from Amber's events with a tracer of ``tracer_provider`` (default: the
    global one, ``opentelemetry.trace.get_tracer_provider()``)."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        self.tracer = trace.get_tracer("amber", __version__, tracer_provider=tracer_provider)
        self._open: dict[str, trace.Span] = {}  # attempt, restore or migration run -> its root span
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        self._on(event)

    @functools.singledispatchmethod
    def _on(self, event: Event) -> None:
        """A kind without a span of its own (the handlers below, by the event's class)."""

    # --- bookkeeping ----------------------------------------------------------------------

    def _begin(self, key: str, name: str, start: float, attributes: dict[str, Any]) -> trace.Span:
        span = self.tracer.start_span(name, start_time=_ns(start), attributes=attributes)
        with self._lock:
            self._open[key] = span
        return span

    def _root(self, key: str) -> trace.Span | None:
        with self._lock:
            return self._open.get(key)

    def _end(
        self,
        key: str,
        name: str,
        start: float,
        seconds: float,
        attributes: dict[str, Any],
        *,
        ok: bool = False,
        error: tuple[str, str] | None = None,
    ) -> None:
        """End the root span of ``key`` with ``attributes`` (made now if it was never begun:
        a listener added midway); ``ok`` sets its status to OK, ``error`` (type, message) to ERROR."""
        with self._lock:
            span = self._open.pop(key, None)
        if span is None:
            span = self.tracer.start_span(name, start_time=_ns(start))
        span.set_attributes(attributes)
        if ok:
            span.set_status(trace.Status(trace.StatusCode.OK))
        if error is not None:
            span.set_status(trace.Status(trace.StatusCode.ERROR, error[1]))
            span.add_event("exception", {"exception.type": error[0], "exception.message": error[1]})
        span.end(end_time=_ns(start + seconds))

    def _child(self, parent: trace.Span | None, name: str, start: float, seconds: float, **options: Any) -> trace.Span:
        """An ended child span of ``parent``; ``options``: ``attributes``, and ``error`` (the status)."""
        attributes: dict[str, Any] = options.get("attributes", {})
        error: str = options.get("error", "")
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = self.tracer.start_span(name, context=context, start_time=_ns(start), attributes=attributes)
        if error:
            span.set_status(trace.Status(trace.StatusCode.ERROR, error))
        span.end(end_time=_ns(start + seconds))
        return span

    def _calls(self, parent: trace.Span | None, calls: tuple[ParticipantCall, ...]) -> None:
        for call in calls:
            attributes = {"amber.participant": call.participant, "amber.method": call.method}
            name = f"amber.participant.{call.method}"
            self._child(parent, name, call.start, call.seconds, attributes=attributes, error=call.error)

    # --- checkpoints ----------------------------------------------------------------------

    @_on.register
    def _started(self, event: CheckpointStarted) -> None:
        attributes = {"amber.attempt": event.attempt, "amber.kind": event.kind, "amber.capture": event.capture}
        self._begin(event.attempt, "amber.checkpoint", event.start, attributes)

    @_on.register
    def _phase(self, event: PhaseFinished) -> None:
        attributes: dict[str, Any] = {"amber.phase": event.phase, "amber.bytes": event.bytes}
        name = f"amber.checkpoint.{event.phase}"
        parent = self._root(event.attempt)
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = self.tracer.start_span(name, context=context, start_time=_ns(event.start), attributes=attributes)
        self._calls(span, event.calls)
        if event.error:
            span.set_status(trace.Status(trace.StatusCode.ERROR, event.error))
        span.end(end_time=_ns(event.start + event.seconds))

    @_on.register
    def _resumed(self, event: ServiceResumed) -> None:
        pause = {"amber.pause_seconds": event.pause_seconds}
        parent = self._root(event.attempt)
        self._child(parent, "amber.checkpoint.pause", event.start, event.pause_seconds, attributes=pause)

    @_on.register
    def _committed(self, event: CheckpointCommitted) -> None:
        attributes: dict[str, Any] = {
            "amber.checkpoint": event.checkpoint,
            "amber.kind": event.kind,
            "amber.parent": event.parent,
            "amber.depth": event.depth,
            "amber.bytes": event.bytes,
            "amber.records": event.records,
            "amber.pause_seconds": event.pause_seconds,
            "amber.outcome": "committed",
        }
        self._end(event.attempt, "amber.checkpoint", event.start, event.seconds, attributes, ok=True)

    @_on.register
    def _skipped(self, event: CheckpointSkipped) -> None:
        attributes: dict[str, Any] = {
            "amber.checkpoint": event.checkpoint,  # the last one, which holds the state already
            "amber.pause_seconds": event.pause_seconds,
            "amber.outcome": "skipped",
        }
        self._end(event.attempt, "amber.checkpoint", event.start, event.seconds, attributes, ok=True)

    @_on.register
    def _aborted(self, event: CheckpointAborted) -> None:
        attributes: dict[str, Any] = {
            "amber.outcome": "aborted",
            "amber.phase": event.phase,
            "amber.participant": event.participant or "",
            "amber.pause_seconds": event.pause_seconds,
            "error.type": event.error,
        }
        error = (event.error, event.reason)
        self._end(event.attempt, "amber.checkpoint", event.start, event.seconds, attributes, error=error)

    # --- restore --------------------------------------------------------------------------

    @_on.register
    def _restore_started(self, event: RestoreStarted) -> None:
        self._begin(event.restore, "amber.restore", event.start, {"amber.candidates": event.candidates})

    @_on.register
    def _refused(self, event: CheckpointRefused) -> None:
        span = self._root(event.restore)
        if span is not None:
            refused = {"amber.checkpoint": event.checkpoint, "amber.action": event.action}
            span.add_event("checkpoint refused", {**refused, "amber.reason": event.reason})

    @_on.register
    def _quarantined(self, event: Quarantined) -> None:
        span = self._root(event.restore)
        if span is not None:
            span.add_event("checkpoint quarantined", {"amber.checkpoint": event.checkpoint})

    @_on.register
    def _restored(self, event: RestoreFinished) -> None:
        self._calls(self._root(event.restore), event.calls)
        attributes: dict[str, Any] = {
            "amber.checkpoint": event.checkpoint or "",
            "amber.outcome": "restored" if event.checkpoint else "fresh",
            "amber.chain": list(event.chain),
            "amber.fallbacks": len(event.fallbacks),
            "amber.records": event.records,
            "amber.bytes": event.bytes,
            **{f"amber.{phase}_seconds": s for phase, s in event.phases.items()},
        }
        self._end(event.restore, "amber.restore", event.start, event.seconds, attributes)

    @_on.register
    def _restore_failed(self, event: RestoreFailed) -> None:
        failed = {"amber.outcome": "failed"}
        error = ("RestoreError", event.reason)
        self._end(event.restore, "amber.restore", event.start, event.seconds, failed, error=error)

    # --- migrations, rollbacks, collections ------------------------------------------------

    @_on.register
    def _migration_started(self, event: MigrationStarted) -> None:
        attributes = {"amber.source": event.source, "amber.dry_run": event.dry_run, "amber.run": event.run}
        self._begin(f"migration:{event.run}", "amber.migration", event.start, attributes)

    @_on.register
    def _step(self, event: MigrationStep) -> None:
        attributes: dict[str, Any] = {
            "amber.type": event.type,
            "amber.checkpoint": event.checkpoint,
            "amber.from_version": event.from_version,
            "amber.to_version": event.to_version,
            "amber.how": event.how,
            "amber.records": event.records,
        }
        parent = self._root(f"migration:{event.run}")
        self._child(parent, "amber.migration.step", event.start, event.seconds, attributes=attributes)

    @_on.register
    def _migrated(self, event: MigrationFinished) -> None:
        key = f"migration:{event.run}"
        attributes: dict[str, Any] = {
            "amber.outcome": event.outcome,
            "amber.target": event.target,
            "amber.records": event.records,
            "amber.source": event.source,
        }
        if event.outcome == "unchanged":
            return  # nothing ran: no span
        error = (event.error.partition(":")[0], event.error) if event.outcome.endswith("failed") else None
        self._end(key, "amber.migration", event.start, event.seconds, attributes, error=error)

    @_on.register
    def _rolled_back(self, event: RolledBack) -> None:
        attributes = {"amber.replaced": event.replaced, "amber.restored": event.restored, "amber.target": event.target}
        self._child(None, "amber.rollback", event.start, event.seconds, attributes=attributes)

    @_on.register
    def _collected(self, event: GarbageCollected) -> None:
        attributes = {
            "amber.deleted_checkpoints": len(event.deleted_checkpoints),
            "amber.deleted_files": len(event.deleted_files),
            "amber.kept": len(event.kept),
            "amber.dry_run": event.dry_run,
        }
        self._child(None, "amber.gc", event.start, event.seconds, attributes=attributes)
