"""Prometheus metrics from Amber's events (``pip install 'amber-state[prometheus]'``)::

    from amber.prometheus import PrometheusListener
    manager = amber.Manager(store, participants, listeners=[PrometheusListener()])

Metric names follow Prometheus conventions (base units, ``_total`` counters); the list,
with example alerts and a Grafana dashboard, is in ``docs/observability.md`` and
``contrib/``. Listeners on one registry share its metrics: two managers in one process
add up, as the counters of one service should.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from .errors import MissingExtraError
from .events import (
    CheckpointAborted,
    CheckpointCommitted,
    CheckpointRefused,
    Event,
    GarbageCollected,
    MigrationFinished,
    MigrationStep,
    PhaseFinished,
    Quarantined,
    RestoreFailed,
    RestoreFinished,
    RolledBack,
)

try:
    import prometheus_client as prom
except ImportError:  # pragma: no cover - exercised in a subprocess by the tests
    raise MissingExtraError("amber.prometheus", "prometheus", "prometheus_client") from None

__all__ = ["PrometheusListener"]

# From a millisecond to ten minutes: a delta of a small service to a full one of a big one.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
# The service's pause: from a tenth of a millisecond (a forked delta) to seconds.
PAUSE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class _Metrics:
    """Every metric, registered once per registry."""

    def __init__(self, registry: prom.CollectorRegistry) -> None:
        def histogram(name: str, doc: str, labels: tuple[str, ...], buckets: tuple[float, ...]) -> Any:
            return prom.Histogram(name, doc, labels, registry=registry, buckets=buckets)

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Any:
            return prom.Counter(name, doc, labels, registry=registry)

        def gauge(name: str, doc: str) -> Any:
            return prom.Gauge(name, doc, registry=registry)

        self.checkpoint_seconds = histogram(
            "amber_checkpoint_duration_seconds",
            "Committed checkpoints: first prepare() to commit.",
            ("kind",),
            DURATION_BUCKETS,
        )
        self.phase_seconds = histogram(
            "amber_checkpoint_phase_duration_seconds",
            "Checkpoint phases (preparing, capturing, validating, committing), committed or not.",
            ("phase",),
            DURATION_BUCKETS,
        )
        self.pause_seconds = histogram(
            "amber_checkpoint_pause_seconds",
            "How long the service was held per checkpoint: first prepare() to last resume().",
            ("capture",),
            PAUSE_BUCKETS,
        )
        self.written_bytes = counter(
            "amber_checkpoint_written_bytes", "Bytes stored by committed checkpoints.", ("kind",)
        )
        self.checkpoints = counter("amber_checkpoints", "Checkpoints by kind and outcome.", ("kind", "outcome"))
        self.aborts = counter("amber_checkpoint_aborts", "Aborted checkpoints by the phase that failed.", ("phase",))
        self.last_success = gauge(
            "amber_last_successful_checkpoint_timestamp_seconds", "When the last checkpoint was committed (Unix time)."
        )
        self.last_size = gauge("amber_last_checkpoint_size_bytes", "Bytes stored by the last committed checkpoint.")
        self.chain = gauge(
            "amber_delta_chain_length", "Deltas between the last committed checkpoint and its full base."
        )
        self.restore_seconds = histogram(
            "amber_restore_duration_seconds",
            "Restores, from start to online or failure.",
            ("outcome",),
            DURATION_BUCKETS,
        )
        self.restores = counter("amber_restores", "Restores by outcome: restored, fresh or failed.", ("outcome",))
        self.fallbacks = counter(
            "amber_restore_fallbacks", "Checkpoints a restore passed over, by action taken.", ("action",)
        )
        self.quarantined = counter("amber_quarantined_checkpoints", "Checkpoints set aside as unsound.")
        self.migration_records = counter(
            "amber_migration_records", "Records upgraded by committed migrations, by type.", ("type",)
        )
        self.step_seconds = histogram(
            "amber_migration_step_duration_seconds",
            "Upgrading one type in one checkpoint.",
            ("type",),
            DURATION_BUCKETS,
        )
        self.migrations = counter("amber_migrations", "Migrations by outcome.", ("outcome",))
        self.rollbacks = counter("amber_rollbacks", "Rollbacks to an earlier checkpoint.")
        self.gc_checkpoints = counter("amber_gc_deleted_checkpoints", "Checkpoints deleted by retention.")
        self.gc_files = counter("amber_gc_deleted_files", "Data files and leftovers deleted by retention.")


_registries: weakref.WeakKeyDictionary[prom.CollectorRegistry, _Metrics] = weakref.WeakKeyDictionary()
_registries_lock = threading.Lock()


def _metrics_for(registry: prom.CollectorRegistry) -> _Metrics:
    with _registries_lock:
        metrics = _registries.get(registry)
        if metrics is None:
            metrics = _registries[registry] = _Metrics(registry)
        return metrics


class PrometheusListener:
    """Updates Prometheus metrics from Amber's events, in ``registry`` (default: the
    ``prometheus_client`` global one, which ``start_http_server`` exposes)."""

    def __init__(self, registry: prom.CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else prom.REGISTRY
        self.metrics = _metrics_for(self.registry)

    def __call__(self, event: Event) -> None:
        m = self.metrics
        if isinstance(event, PhaseFinished):
            m.phase_seconds.labels(event.phase).observe(event.seconds)
        elif isinstance(event, CheckpointCommitted):
            self._committed(event)
        elif isinstance(event, CheckpointAborted):
            m.checkpoints.labels(event.kind, "aborted").inc()
            m.aborts.labels(event.phase).inc()
            m.pause_seconds.labels(event.capture).observe(event.pause_seconds)
        else:
            self._other(event)

    def _committed(self, event: CheckpointCommitted) -> None:
        m = self.metrics
        m.checkpoint_seconds.labels(event.kind).observe(event.seconds)
        m.pause_seconds.labels(event.capture).observe(event.pause_seconds)
        m.written_bytes.labels(event.kind).inc(event.bytes)
        m.checkpoints.labels(event.kind, "committed").inc()
        m.last_success.set(event.time)
        m.last_size.set(event.bytes)
        m.chain.set(event.depth)

    def _other(self, event: Event) -> None:
        m = self.metrics
        if isinstance(event, RestoreFinished):
            outcome = "restored" if event.checkpoint else "fresh"
            m.restore_seconds.labels(outcome).observe(event.seconds)
            m.restores.labels(outcome).inc()
        elif isinstance(event, RestoreFailed):
            m.restore_seconds.labels("failed").observe(event.seconds)
            m.restores.labels("failed").inc()
        elif isinstance(event, CheckpointRefused):
            m.fallbacks.labels(event.action).inc()
        elif isinstance(event, Quarantined):
            m.quarantined.inc()
        elif isinstance(event, MigrationStep) and not event.dry_run:
            m.migration_records.labels(event.type).inc(event.records)
            m.step_seconds.labels(event.type).observe(event.seconds)
        elif isinstance(event, MigrationFinished):
            m.migrations.labels(event.outcome).inc()
        elif isinstance(event, RolledBack):
            m.rollbacks.inc()
        elif isinstance(event, GarbageCollected) and not event.dry_run:
            m.gc_checkpoints.inc(len(event.deleted_checkpoints))
            m.gc_files.inc(len(event.deleted_files))
